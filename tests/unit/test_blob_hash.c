/*
 * test_blob_hash.c — blob ids: BLAKE3 known answers, streaming equals
 * one-shot across chunk boundaries, text form round trip and rejection,
 * and agreement with Debian's `b3sum --no-names` on empty, small,
 * 1 MiB+1 and multi-chunk files (that case is skipped with a note only
 * when b3sum is not installed).
 */
#include "blob/hash.h"
#include "harness.h"

#include <unistd.h>

static void test_known_answers(void)
{
	mr_blob_id id;
	char text[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_hash_bytes("", 0, &id);
	mr_blob_id_format(&id, text);
	MR_CHECK_EQ_STR(text, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
	mr_blob_hash_bytes("abc", 3, &id);
	mr_blob_id_format(&id, text);
	MR_CHECK_EQ_STR(text, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
}

static void test_streaming_equals_oneshot(void)
{
	size_t n = 3 * 1024 * 1024 + 17;
	uint8_t *buf = malloc(n);
	MR_CHECK(buf != NULL);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	mr_blob_id a, b;
	mr_blob_hash_bytes(buf, n, &a);
	mr_blob_hasher h;
	mr_blob_hasher_init(&h);
	size_t steps[] = {1, 63, 64, 1023, 1024, 1025, 4096, 65537};
	size_t off = 0, k = 0;
	while (off < n) {
		size_t len = steps[k++ % 8];
		if (len > n - off)
			len = n - off;
		mr_blob_hasher_update(&h, buf + off, len);
		off += len;
	}
	mr_blob_hasher_final(&h, &b);
	free(buf);
	MR_CHECK(mr_blob_id_equal(&a, &b));
}

static void test_text_form(void)
{
	mr_blob_id id, back;
	char text[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_hash_bytes("mailroom", 8, &id);
	mr_blob_id_format(&id, text);
	MR_CHECK_EQ_INT(strlen(text), 64);
	MR_CHECK_OK(mr_blob_id_parse(text, &back));
	MR_CHECK(mr_blob_id_equal(&id, &back));
	MR_CHECK_RC(mr_blob_id_parse("xyz", &back), MR_EINVALID);
	MR_CHECK_EQ_STR(mr_error_last()->message, "blob id \"xyz\": expected 64 hex digits");
	text[10] = 'G';
	MR_CHECK_RC(mr_blob_id_parse(text, &back), MR_EINVALID);
	mr_blob_id_format(&id, text);
	text[0] = text[0] >= 'a' ? (char)(text[0] - 32) : text[0]; /* uppercase: one spelling only */
	if (text[0] >= 'A' && text[0] <= 'F')
		MR_CHECK_RC(mr_blob_id_parse(text, &back), MR_EINVALID);
	char longer[70];
	mr_blob_id_format(&id, longer);
	strcat(longer, "0");
	MR_CHECK_RC(mr_blob_id_parse(longer, &back), MR_EINVALID);
	MR_CHECK_RC(mr_blob_id_parse("", &back), MR_EINVALID);
	MR_CHECK_RC(mr_blob_hash_file("/nonexistent/mailroom-blob", &id, NULL), MR_ENOTFOUND);
}

static void test_against_b3sum(void)
{
	if (access("/usr/bin/b3sum", X_OK) != 0) {
		printf("note: /usr/bin/b3sum not installed; b3sum comparison not run\n");
		return;
	}
	size_t sizes[] = {0, 5, 1024, 1025, 1024 * 1024 + 1, 5 * 1024 * 1024 + 3};
	char path[] = "/tmp/mr-blob-hash-XXXXXX";
	int fd = mkstemp(path);
	MR_CHECK(fd >= 0);
	close(fd);
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		FILE *f = fopen(path, "wb");
		MR_CHECK(f != NULL);
		for (size_t i = 0; i < sizes[s]; i++)
			fputc((int)((i * 31 + s) & 0xff), f);
		fclose(f);
		mr_blob_id id;
		uint64_t size = 0;
		MR_CHECK_OK(mr_blob_hash_file(path, &id, &size));
		MR_CHECK_EQ_INT(size, sizes[s]);
		char mine[MR_BLOB_ID_TEXT_LEN + 1], theirs[128] = {0}, cmd[128];
		mr_blob_id_format(&id, mine);
		snprintf(cmd, sizeof cmd, "b3sum --no-names %s", path);
		FILE *p = popen(cmd, "r");
		MR_CHECK(p != NULL);
		char *got = fgets(theirs, sizeof theirs, p);
		pclose(p);
		MR_CHECK(got != NULL);
		theirs[strcspn(theirs, "\n")] = '\0';
		MR_CHECK_EQ_STR(mine, theirs);
	}
	unlink(path);
}

int main(void)
{
	MR_TEST_RUN(test_known_answers);
	MR_TEST_RUN(test_streaming_equals_oneshot);
	MR_TEST_RUN(test_text_form);
	MR_TEST_RUN(test_against_b3sum);
	MR_TEST_DONE();
}
