/*
 * fuzz_key.c — libFuzzer target for the key codec's decoder: arbitrary bytes
 * are read as a key of every field kind without reading out of bounds, and
 * a string that decodes re-encodes to the same bytes.
 */
#include "mailroom/data.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mr_key_reader r;
	mr_key_reader_init(&r, mr_slice_of(data, size));
	mr_buf b = MR_BUF_INIT;
	uint8_t u8;
	uint32_t u32;
	int64_t i64;
	size_t start = r.pos;
	if (mr_key_read_bytes(&r, &b) == 0) {
		mr_key k;
		mr_key_init(&k, 0);
		mr_key_bytes(&k, b.ptr, b.len);
		if (!k.err && (k.len - 1 != r.pos - start || memcmp(k.buf + 1, data + start, k.len - 1) != 0))
			abort();
	}
	while (!mr_key_reader_done(&r)) {
		if (mr_key_read_u8(&r, &u8) || mr_key_read_u32(&r, &u32) || mr_key_read_i64(&r, &i64))
			break;
	}
	mr_slice tail;
	mr_key_read_tail(&r, &tail);
	mr_buf_dispose(&b);
	return 0;
}
