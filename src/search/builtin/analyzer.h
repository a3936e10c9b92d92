/*
 * analyzer.h (private to the search store) — turns text into index terms,
 * the same way for documents and for query words, so they meet.
 *
 *  1. Normalization: invalid UTF-8 becomes U+FFFD; NFKC with full Unicode
 *     case folding, default-ignorable code points (soft hyphen, ZWJ...)
 *     dropped (utf8proc).  Accents are kept ("müller" != "muller").
 *  2. Segmentation by Unicode category: letters, marks and numbers make
 *     words; everything else separates.  Runs of CJK code points (Han,
 *     Hiragana, Katakana, Hangul) become overlapping bigrams ("東京都" ->
 *     "東京" "京都" at consecutive positions); a run of one CJK character
 *     is kept as that character.  Each token takes the next position.
 *     Tokens longer than MR_ANALYZER_MAX_TOKEN bytes are dropped (base64,
 *     long URLs) but still take a position.
 *  3. Language detection (libexttextcat, restricted to languages that have
 *     a Snowball stemmer) on the first KiB; short or undecided texts
 *     fall back by script: Latin -> "en", Cyrillic -> "ru", Greek -> "el",
 *     kana -> "ja", Hangul -> "ko", Han -> "zh", anything else -> "".
 *  4. Stemming (libstemmer) of a folded word for a language.  CJK tokens
 *     and languages without a stemmer are not stemmed.
 *
 * Thread rules: one analyzer may be shared by threads; detection and
 * stemming take one of its four handle sets, each under its own mutex
 * (textcat and Snowball keep per-handle state), so threads rarely wait.
 */
#ifndef MR_SEARCH_ANALYZER_H
#define MR_SEARCH_ANALYZER_H

#include "core/common.h"

#define MR_ANALYZER_MAX_TOKEN 120u  /* bytes of a folded token */
#define MR_ANALYZER_DETECT_BYTES 1024u

typedef struct mr_analyzer mr_analyzer;

typedef struct mr_token {
	const char *text; /* folded UTF-8, NUL-terminated; borrowed during the callback */
	size_t len;
	uint32_t pos;     /* position within the analyzed field */
	bool cjk;         /* a CJK bigram or single character (never stemmed) */
} mr_token;

/* Called per token; a negative return stops tokenizing and is returned. */
typedef int (*mr_token_fn)(const mr_token *tok, void *payload);

/*
 * Creates an analyzer.  Language models are loaded from MR_TEXTCAT_DIR (or
 * $MR_TEXTCAT_DIR); when they cannot be loaded detection uses the script
 * fallback only (logged at warn level) — not an error.  Errors: MR_ENOMEM.
 */
int mr_analyzer_new(mr_analyzer **out);
void mr_analyzer_free(mr_analyzer *a);

/*
 * Normalizes and segments len bytes of text, calling fn for each token.
 * Positions start at *pos, which is advanced past the last token (callers
 * indexing several values of one field add a gap between them).
 * Errors: MR_ENOMEM, or what fn returned.
 */
int mr_analyzer_tokenize(mr_analyzer *a, const char *text, size_t len, uint32_t *pos, mr_token_fn fn,
			 void *payload);

/* Normalizes (NFKC + case fold) text into out, without segmenting. */
int mr_analyzer_fold(mr_analyzer *a, const char *text, size_t len, mr_buf *out);

/*
 * Detects the language of text: a two-letter code ("en", "de", ...), or
 * "" when unknown.  The returned string is static.
 */
const char *mr_analyzer_detect(mr_analyzer *a, const char *text, size_t len);

/*
 * Stems one folded word for lang into out (replacing its contents).
 * Returns 1 when stemmed, 0 when lang has no stemmer (out = the word),
 * or MR_ENOMEM.
 */
int mr_analyzer_stem(mr_analyzer *a, const char *lang, const char *word, size_t len, mr_buf *out);

/* True when lang has a Snowball stemmer. */
bool mr_analyzer_has_stemmer(mr_analyzer *a, const char *lang);

#endif
