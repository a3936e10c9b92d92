/*
 * script.h (private to src/search/) — which East Asian script a code point
 * belongs to, for the three places that treat CJK text apart: the built-in
 * analyzer (bigrams, language detection), the Elasticsearch translation
 * (CJK words become phrases of bigrams) and the Meilisearch translation
 * (Han and kana queries searched with both Japanese and Chinese readings).
 */
#ifndef MR_SEARCH_SCRIPT_H
#define MR_SEARCH_SCRIPT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum mr_cjk_script {
	MR_SCRIPT_NOT_CJK = 0,
	MR_SCRIPT_KANA,	  /* Hiragana, Katakana (also halfwidth) */
	MR_SCRIPT_HANGUL, /* syllables and Jamo */
	MR_SCRIPT_HAN,	  /* ideographs, radicals, 々 〆 〇 */
} mr_cjk_script;

static inline mr_cjk_script mr_search__cjk_script(int32_t c)
{
	if ((c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) || (c >= 0xFF66 && c <= 0xFF9F))
		return MR_SCRIPT_KANA;
	if ((c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F))
		return MR_SCRIPT_HANGUL;
	if ((c >= 0x2E80 && c <= 0x2FDF) || (c >= 0x3005 && c <= 0x3007) || (c >= 0x3400 && c <= 0x4DBF) ||
	    (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x3FFFF))
		return MR_SCRIPT_HAN;
	return MR_SCRIPT_NOT_CJK;
}

static inline bool mr_search__is_cjk(int32_t c) { return mr_search__cjk_script(c) != MR_SCRIPT_NOT_CJK; }

#endif
