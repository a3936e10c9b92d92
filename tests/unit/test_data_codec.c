/* Unit tests of src/data/codec.c: order preservation and round trips. */
#include "harness.h"
#include "mailroom/data.h"

#include <stdlib.h>

static uint64_t rng = 0x243F6A8885A308D3ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int cmp_u(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }
static int cmp_i(int64_t a, int64_t b) { return a < b ? -1 : a > b; }
static int sign(int x) { return x < 0 ? -1 : x > 0; }

static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	return mr_slice_cmp(mr_slice_of(a, an), mr_slice_of(b, bn));
}

static void test_data_codec__integer_order(void)
{
	for (int i = 0; i < 20000; i++) {
		uint64_t a = rnd() >> (rnd() % 64), b = rnd() >> (rnd() % 64);
		mr_key ka, kb;
		mr_key_init(&ka, 1);
		mr_key_u64(&ka, a);
		mr_key_init(&kb, 1);
		mr_key_u64(&kb, b);
		MR_CHECK_EQ_INT(sign(mr_slice_cmp(mr_key_slice(&ka), mr_key_slice(&kb))), cmp_u(a, b));
		int64_t x = (int64_t)rnd() >> (rnd() % 64), y = (int64_t)rnd() >> (rnd() % 64);
		mr_key_init(&ka, 1);
		mr_key_i64(&ka, x);
		mr_key_init(&kb, 1);
		mr_key_i64(&kb, y);
		MR_CHECK_EQ_INT(sign(mr_slice_cmp(mr_key_slice(&ka), mr_key_slice(&kb))), cmp_i(x, y));
		mr_key_reader r;
		int64_t back;
		mr_key_reader_init(&r, mr_key_slice(&ka));
		uint8_t sub;
		MR_CHECK_OK(mr_key_read_u8(&r, &sub));
		MR_CHECK_OK(mr_key_read_i64(&r, &back));
		MR_CHECK_EQ_INT(back, x);
		MR_CHECK(mr_key_reader_done(&r));
	}
}

static void test_data_codec__string_order_and_round_trip(void)
{
	/* random short strings over {0x00, 0x01, 'a', 0xFF} followed by a u32:
	 * field-wise order must equal key order */
	static const uint8_t alphabet[] = {0x00, 0x01, 'a', 0xFF};
	mr_buf out = MR_BUF_INIT;
	for (int i = 0; i < 20000; i++) {
		uint8_t a[6], b[6];
		size_t an = rnd() % 6, bn = rnd() % 6;
		for (size_t j = 0; j < an; j++)
			a[j] = alphabet[rnd() % 4];
		for (size_t j = 0; j < bn; j++)
			b[j] = alphabet[rnd() % 4];
		uint32_t ta = (uint32_t)rnd(), tb = (uint32_t)rnd();
		mr_key ka, kb;
		mr_key_init(&ka, 7);
		mr_key_bytes(&ka, a, an);
		mr_key_u32(&ka, ta);
		mr_key_init(&kb, 7);
		mr_key_bytes(&kb, b, bn);
		mr_key_u32(&kb, tb);
		int want = cmp_bytes(a, an, b, bn);
		if (want == 0)
			want = cmp_u(ta, tb);
		MR_CHECK_EQ_INT(sign(mr_slice_cmp(mr_key_slice(&ka), mr_key_slice(&kb))), sign(want));
		mr_key_reader r;
		mr_key_reader_init(&r, mr_key_slice(&ka));
		uint8_t sub;
		uint32_t t;
		MR_CHECK_OK(mr_key_read_u8(&r, &sub));
		MR_CHECK_OK(mr_key_read_bytes(&r, &out));
		MR_CHECK_OK(mr_key_read_u32(&r, &t));
		MR_CHECK_EQ_INT(out.len, an);
		MR_CHECK(an == 0 || memcmp(out.ptr, a, an) == 0);
		MR_CHECK_EQ_INT(t, ta);
	}
	mr_buf_dispose(&out);
}

static void test_data_codec__malformed_and_limits(void)
{
	mr_buf out = MR_BUF_INIT;
	mr_key_reader r;
	static const uint8_t unterminated[] = {'a', 'b', 0x00, 0xFF};
	mr_key_reader_init(&r, mr_slice_of(unterminated, sizeof(unterminated)));
	MR_CHECK_RC(mr_key_read_bytes(&r, &out), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "no terminator") != NULL);
	uint32_t v;
	mr_key_reader_init(&r, mr_slice_of("abc", 3));
	MR_CHECK_RC(mr_key_read_u32(&r, &v), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "truncated at offset 0") != NULL);
	mr_key k;
	mr_key_init(&k, 1);
	uint8_t big[MR_DATA_MAX_KEY];
	memset(big, 'x', sizeof(big));
	mr_key_tail(&k, big, sizeof(big));
	MR_CHECK_EQ_INT(k.err, MR_ELIMIT);
	MR_CHECK_EQ_INT(k.len, 1);
	mr_buf_dispose(&out);
}

static void test_data_codec__prefix_range(void)
{
	uint8_t end[8];
	mr_range r = mr_range_prefix(mr_slice_of("a\xff\xff", 3), end, sizeof(end));
	MR_CHECK_EQ_INT(r.end.len, 1);
	MR_CHECK_EQ_INT(r.end.ptr[0], 'b');
	r = mr_range_prefix(mr_slice_of("\xff", 1), end, sizeof(end));
	MR_CHECK_EQ_INT(r.end.len, 0); /* unbounded */
}

int main(void)
{
	MR_TEST_RUN(test_data_codec__integer_order);
	MR_TEST_RUN(test_data_codec__string_order_and_round_trip);
	MR_TEST_RUN(test_data_codec__malformed_and_limits);
	MR_TEST_RUN(test_data_codec__prefix_range);
	MR_TEST_DONE();
}
