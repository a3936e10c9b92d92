/*
 * codec.c — the order-preserving key codec of data.h.  Every caller builds
 * keys with it; backends only ever see the encoded bytes.
 */
#include "core/common.h"
#include "mailroom/data.h"

static void put(mr_key *k, const void *p, size_t n)
{
	if (k->err)
		return;
	if (n > MR_DATA_MAX_KEY - k->len) {
		k->err = mr_error_set(MR_ELIMIT, "key longer than %u bytes", MR_DATA_MAX_KEY);
		return;
	}
	memcpy(k->buf + k->len, p, n);
	k->len += n;
}

void mr_key_init(mr_key *k, uint8_t subspace)
{
	k->len = 0;
	k->err = 0;
	put(k, &subspace, 1);
}

void mr_key_u8(mr_key *k, uint8_t v) { put(k, &v, 1); }

void mr_key_u32(mr_key *k, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	put(k, b, 4);
}

void mr_key_u64(mr_key *k, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	put(k, b, 8);
}

void mr_key_i64(mr_key *k, int64_t v) { mr_key_u64(k, (uint64_t)v ^ (1ULL << 63)); }

void mr_key_bytes(mr_key *k, const void *p, size_t n)
{
	const uint8_t *s = p;
	static const uint8_t esc[2] = {0x00, 0xFF};
	for (size_t i = 0; i < n; i++) {
		if (s[i] == 0x00)
			put(k, esc, 2);
		else
			put(k, &s[i], 1);
	}
	/* terminator 0x00 0x01: sorts below an escaped 0x00 (0x00 0xFF) and
	 * cannot be confused with it whatever byte the next field starts with */
	static const uint8_t term[2] = {0x00, 0x01};
	put(k, term, 2);
}

void mr_key_str(mr_key *k, const char *s) { mr_key_bytes(k, s, strlen(s)); }
void mr_key_tail(mr_key *k, const void *p, size_t n) { put(k, p, n); }

void mr_key_reader_init(mr_key_reader *r, mr_slice key)
{
	r->p = key.ptr;
	r->len = key.len;
	r->pos = 0;
}

static int short_key(const mr_key_reader *r, const char *what)
{
	return mr_error_set(MR_EINVALID, "key decode: %s truncated at offset %zu (key is %zu bytes)", what, r->pos, r->len);
}

int mr_key_read_u8(mr_key_reader *r, uint8_t *out)
{
	if (r->len - r->pos < 1)
		return short_key(r, "u8");
	*out = r->p[r->pos++];
	return 0;
}

int mr_key_read_u32(mr_key_reader *r, uint32_t *out)
{
	if (r->len - r->pos < 4)
		return short_key(r, "u32");
	const uint8_t *b = r->p + r->pos;
	*out = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	r->pos += 4;
	return 0;
}

int mr_key_read_u64(mr_key_reader *r, uint64_t *out)
{
	if (r->len - r->pos < 8)
		return short_key(r, "u64");
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | r->p[r->pos + (size_t)i];
	r->pos += 8;
	*out = v;
	return 0;
}

int mr_key_read_i64(mr_key_reader *r, int64_t *out)
{
	uint64_t u = 0;
	int rc = mr_key_read_u64(r, &u);
	if (rc)
		return rc;
	*out = (int64_t)(u ^ (1ULL << 63));
	return 0;
}

int mr_key_read_bytes(mr_key_reader *r, mr_buf *out)
{
	mr_buf_clear(out);
	size_t start = r->pos;
	while (r->pos < r->len) {
		uint8_t c = r->p[r->pos++];
		if (c != 0x00) {
			int rc = mr_buf_put(out, &c, 1);
			if (rc)
				return rc;
			continue;
		}
		if (r->pos < r->len && r->p[r->pos] == 0xFF) {
			r->pos++;
			int rc = mr_buf_put(out, "", 1);
			if (rc)
				return rc;
			continue;
		}
		if (r->pos < r->len && r->p[r->pos] == 0x01) {
			r->pos++;
			if (!out->ptr)
				return mr_buf_put(out, "", 0);
			return 0;
		}
		size_t bad = r->pos - 1;
		r->pos = start;
		return mr_error_set(MR_EINVALID, "key decode: byte string at offset %zu: 0x00 at offset %zu is followed by neither 0xFF nor 0x01",
				    start, bad);
	}
	r->pos = start;
	return mr_error_set(MR_EINVALID, "key decode: byte string at offset %zu has no terminator", start);
}

int mr_key_read_tail(mr_key_reader *r, mr_slice *out)
{
	*out = (mr_slice){r->p + r->pos, r->len - r->pos};
	r->pos = r->len;
	return 0;
}

bool mr_key_reader_done(const mr_key_reader *r) { return r->pos >= r->len; }
