/*
 * fuzz_cron.c — libFuzzer target for simple cron parsing and next-fire:
 * any text parses or fails with MR_EINVALID; a parsed schedule always has a
 * next fire time strictly later than the start, within 8 days.
 */
#include "core/cron.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[64];
	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	mr_cron c;
	int rc = mr_cron_parse(&c, text);
	if (rc != 0) {
		if (rc != MR_EINVALID)
			abort();
		return 0;
	}
	int64_t from = 1700000000 + (int64_t)(size * 7919) % 31536000, next;
	if (mr_cron_next(&c, from, &next) != 0 || next <= from || next > from + 8 * 86400 + 3600)
		abort();
	return 0;
}
