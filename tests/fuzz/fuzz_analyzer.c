/*
 * fuzz_analyzer.c — libFuzzer target for the built-in search analyzer:
 * arbitrary bytes (mail text is untrusted) through normalization,
 * segmentation, language detection and stemming; never a crash or leak,
 * every token non-empty, valid length and increasing positions.
 * Seeds: tests/fuzz/corpus/analyzer/.
 */
#include "search/builtin/analyzer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mr_analyzer *an;

typedef struct state {
	int64_t last;
	mr_buf stem;
	const char *lang;
} state;

static int check(const mr_token *t, void *payload)
{
	state *s = payload;
	if (t->len == 0 || t->len > MR_ANALYZER_MAX_TOKEN || strlen(t->text) != t->len || (int64_t)t->pos <= s->last)
		abort();
	s->last = t->pos;
	if (mr_analyzer_stem(an, s->lang, t->text, t->len, &s->stem) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!an && mr_analyzer_new(&an) < 0)
		abort();
	state s = {.last = -1, .stem = MR_BUF_INIT};
	s.lang = mr_analyzer_detect(an, (const char *)data, size);
	uint32_t pos = 0;
	if (mr_analyzer_tokenize(an, (const char *)data, size, &pos, check, &s) < 0)
		abort();
	mr_buf_dispose(&s.stem);
	return 0;
}
