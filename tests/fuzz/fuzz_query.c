/*
 * fuzz_query.c — libFuzzer target for the search query parser: any bytes
 * must parse or fail with MR_EINVALID/MR_ELIMIT and a column, never crash
 * or leak; a parsed query must print, and its printed form must not be
 * empty.  Seeds: tests/fuzz/corpus/query/, crashes kept under
 * tests/fuzz/regressions/query/.
 */
#include "mailroom/search.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mr_query *q = NULL;
	int rc = mr_query_parse(&q, (const char *)data, size);
	if (rc < 0) {
		if (q != NULL || (rc != MR_EINVALID && rc != MR_ELIMIT && rc != MR_ENOMEM))
			abort();
		const char *msg = mr_error_last()->message;
		if (rc != MR_ENOMEM && strncmp(msg, "query: column ", 14) != 0)
			abort();
		return 0;
	}
	mr_buf b = MR_BUF_INIT;
	if (mr_query_print(mr_query_root(q), &b) < 0 || b.len == 0)
		abort();
	mr_buf_dispose(&b);
	mr_query_free(q);
	return 0;
}
