/* Unit tests of src/blob/hash.c: known vectors, streaming, id text form. */
#include "harness.h"
#include "mailroom/blob.h"

static void test_blob_hash__vectors_and_streaming(void)
{
	mr_blob_id a, b;
	char t[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_of(&a, "", 0);
	mr_blob_id_format(&a, t);
	MR_CHECK_EQ_STR(t, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
	/* streaming in uneven pieces equals one shot */
	static uint8_t data[300000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i % 251);
	mr_blob_id_of(&a, data, sizeof(data));
	mr_blob_hasher *h;
	MR_CHECK_OK(mr_blob_hasher_new(&h));
	for (size_t off = 0, step = 1; off < sizeof(data); off += step, step = step * 3 + 7) {
		size_t n = off + step > sizeof(data) ? sizeof(data) - off : step;
		mr_blob_hasher_update(h, data + off, n);
	}
	mr_blob_hasher_finish(h, &b);
	mr_blob_hasher_free(h);
	MR_CHECK(memcmp(a.bytes, b.bytes, MR_BLOB_ID_LEN) == 0);
}

static void test_blob_hash__id_text(void)
{
	mr_blob_id a, b;
	mr_blob_id_of(&a, "mail", 4);
	char t[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_format(&a, t);
	MR_CHECK_OK(mr_blob_id_parse(&b, t));
	MR_CHECK(memcmp(a.bytes, b.bytes, MR_BLOB_ID_LEN) == 0);
	MR_CHECK_RC(mr_blob_id_parse(&b, "xyz"), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "blob id \"xyz\": expected 64 hex digits") != NULL);
	t[10] = 'g';
	MR_CHECK_RC(mr_blob_id_parse(&b, t), MR_EINVALID);
	char longer[70];
	memset(longer, 'a', 65);
	longer[65] = 0;
	MR_CHECK_RC(mr_blob_id_parse(&b, longer), MR_EINVALID);
	MR_CHECK_RC(mr_blob_id_parse(&b, ""), MR_EINVALID);
}

int main(void)
{
	MR_TEST_RUN(test_blob_hash__vectors_and_streaming);
	MR_TEST_RUN(test_blob_hash__id_text);
	MR_TEST_DONE();
}
