/*
 * analyzer.c — text analysis of the built-in search engine (analyzer.h):
 * utf8proc normalization and case folding, segmentation with CJK bigrams,
 * libexttextcat language detection restricted to Snowball languages, and
 * libstemmer stemming.  It knows nothing of keys or postings (index.c).
 */
#include "search/builtin/analyzer.h"
#include "search/script.h"

#include <libstemmer.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <textcat.h>
#include <limits.h>
#include <stdatomic.h>
#include <unistd.h>
#include <utf8proc.h>

#ifndef MR_TEXTCAT_DIR
#define MR_TEXTCAT_DIR "/usr/share/libexttextcat"
#endif

/* Languages with both a textcat model (file) and a Snowball stemmer (code). */
static const struct {
	const char *model; /* <model>.lm in the textcat directory */
	const char *code;  /* what detection returns and the stemmer name */
} languages[] = {
	{"en", "en"}, {"de", "de"}, {"fr", "fr"}, {"es", "es"}, {"it", "it"}, {"nl", "nl"}, {"pt", "pt"},
	{"ru", "ru"}, {"sv", "sv"}, {"nb", "no"}, {"da", "da"}, {"fi", "fi"}, {"hu", "hu"}, {"ro", "ro"},
	{"tr", "tr"}, {"el", "el"}, {"ca", "ca"}, {"eu", "eu"}, {"ga", "ga"}, {"id", "id"}, {"lt", "lt"},
	{"ne", "ne"}, {"ta", "ta"}, {"ar", "ar"}, {"hi", "hi"}, {"hy", "hy"}, {"yi", "yi"},
};
#define NLANG (sizeof(languages) / sizeof(languages[0]))

/*
 * textcat and Snowball handles keep per-call state, so each is used by one
 * thread at a time.  An analyzer holds NSLOT independent sets of them, each
 * under its own mutex; a thread starts at its own slot and takes the first
 * free one, so indexing threads do not queue on one lock for every word.
 */
#define NSLOT 4
typedef struct slot {
	pthread_mutex_t lock;
	void *textcat;                   /* NULL: script fallback only */
	bool textcat_tried;              /* loaded on the first detection (queries rarely need it) */
	struct sb_stemmer *stemmers[NLANG];
	bool stemmer_tried[NLANG];
} slot;

struct mr_analyzer {
	slot slots[NSLOT];
};

static atomic_uint next_home;
static _Thread_local unsigned home = UINT_MAX;

static slot *slot_acquire(mr_analyzer *a)
{
	if (home == UINT_MAX)
		home = atomic_fetch_add(&next_home, 1u) % NSLOT;
	for (unsigned k = 0; k < NSLOT; k++) {
		slot *s = &a->slots[(home + k) % NSLOT];
		if (pthread_mutex_trylock(&s->lock) == 0)
			return s;
	}
	slot *s = &a->slots[home];
	pthread_mutex_lock(&s->lock);
	return s;
}

static void slot_release(slot *s) { pthread_mutex_unlock(&s->lock); }

static void *load_textcat(void)
{
	const char *dir = getenv("MR_TEXTCAT_DIR");
	if (!dir || !*dir)
		dir = MR_TEXTCAT_DIR;
	char conf[] = "/tmp/mailroom-textcat-XXXXXX";
	int fd = mkstemp(conf);
	if (fd < 0) {
		mr_log(MR_LOG_WARN, "search analyzer: cannot create a temporary file for language models; "
				    "language detection falls back to scripts");
		return NULL;
	}
	FILE *f = fdopen(fd, "w");
	size_t n = 0;
	if (f) {
		for (size_t i = 0; i < NLANG; i++) {
			char path[4096];
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s.lm", dir, languages[i].model);
			if (stat(path, &st) == 0) {
				fprintf(f, "%s.lm %s\n", languages[i].model, languages[i].code);
				n++;
			}
		}
		fclose(f);
	} else {
		close(fd);
	}
	void *tc = NULL;
	if (n > 0) {
		char prefix[4096];
		snprintf(prefix, sizeof(prefix), "%s/", dir);
		tc = special_textcat_Init(conf, prefix);
	}
	unlink(conf);
	if (!tc)
		mr_log(MR_LOG_WARN, "search analyzer: no language models loaded from %s; language detection falls "
				    "back to scripts",
		       dir);
	return tc;
}

int mr_analyzer_new(mr_analyzer **out)
{
	*out = NULL;
	mr_analyzer *a = mr_calloc(1, sizeof(*a));
	if (!a)
		return MR_ENOMEM;
	for (unsigned k = 0; k < NSLOT; k++)
		pthread_mutex_init(&a->slots[k].lock, NULL);
	*out = a;
	return 0;
}

void mr_analyzer_free(mr_analyzer *a)
{
	if (!a)
		return;
	for (unsigned k = 0; k < NSLOT; k++) {
		slot *s = &a->slots[k];
		if (s->textcat)
			textcat_Done(s->textcat);
		for (size_t i = 0; i < NLANG; i++)
			if (s->stemmers[i])
				sb_stemmer_delete(s->stemmers[i]);
		pthread_mutex_destroy(&s->lock);
	}
	mr_free(a);
}

/* ---- normalization ---- */

/* Copies text to out replacing invalid UTF-8 with U+FFFD. */
static int sanitize_utf8(const char *text, size_t len, mr_buf *out)
{
	const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
	size_t i = 0;
	int rc = mr_buf_grow(out, len + 1);
	while (rc == 0 && i < len) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
		if (n <= 0) {
			rc = mr_buf_put(out, "\xEF\xBF\xBD", 3);
			i++;
		} else {
			rc = mr_buf_put(out, s + i, (size_t)n);
			i += (size_t)n;
		}
	}
	return rc;
}

#define NORM_OPTIONS (UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE)

/* Normalized code points of text into *cps (mr_malloc'd), count into *n. */
static int normalize(const char *text, size_t len, utf8proc_int32_t **cps, size_t *n)
{
	*cps = NULL;
	*n = 0;
	mr_buf clean = MR_BUF_INIT;
	int rc = sanitize_utf8(text, len, &clean);
	if (rc < 0)
		goto done;
	size_t cap = clean.len + 16;
	for (;;) {
		utf8proc_int32_t *buf = mr_realloc(*cps, cap * sizeof(*buf));
		if (!buf) {
			rc = MR_ENOMEM;
			goto done;
		}
		*cps = buf;
		utf8proc_ssize_t r = utf8proc_decompose(clean.ptr ? clean.ptr : (const utf8proc_uint8_t *)"",
							(utf8proc_ssize_t)clean.len, buf, (utf8proc_ssize_t)cap,
							NORM_OPTIONS);
		if (r < 0) {
			rc = mr_error_set(MR_EINVALID, "search analyzer: normalization failed: %s",
					  utf8proc_errmsg(r));
			goto done;
		}
		if ((size_t)r <= cap) {
			r = utf8proc_normalize_utf32(buf, r, NORM_OPTIONS);
			if (r < 0) {
				rc = mr_error_set(MR_EINVALID, "search analyzer: normalization failed: %s",
						  utf8proc_errmsg(r));
				goto done;
			}
			*n = (size_t)r;
			break;
		}
		cap = (size_t)r;
	}
done:
	mr_buf_dispose(&clean);
	if (rc < 0) {
		mr_free(*cps);
		*cps = NULL;
	}
	return rc;
}

int mr_analyzer_fold(mr_analyzer *a, const char *text, size_t len, mr_buf *out)
{
	utf8proc_int32_t *cps = NULL;
	size_t n = 0;
	mr_buf_clear(out);
	int rc = normalize(text, len, &cps, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		utf8proc_uint8_t enc[4];
		utf8proc_ssize_t k = utf8proc_encode_char(cps[i], enc);
		rc = mr_buf_put(out, enc, (size_t)k);
	}
	mr_free(cps);
	if (rc == 0 && !out->ptr)
		rc = mr_buf_put(out, "", 0);
	return rc;
}

/* ---- segmentation ---- */


static bool is_word(utf8proc_int32_t c)
{
	utf8proc_category_t cat = utf8proc_category(c);
	return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO);
}

typedef struct seg {
	mr_buf tok;
	uint32_t *pos;
	mr_token_fn fn;
	void *payload;
} seg;

static int emit(seg *s, mr_buf *text, bool cjk)
{
	if (text->len == 0)
		return 0;
	uint32_t pos = (*s->pos)++;
	if (text->len > MR_ANALYZER_MAX_TOKEN)
		return 0;
	mr_token t = {.text = mr_buf_cstr(text), .len = text->len, .pos = pos, .cjk = cjk};
	return s->fn(&t, s->payload);
}

static int put_cp(mr_buf *b, utf8proc_int32_t c)
{
	utf8proc_uint8_t enc[4];
	utf8proc_ssize_t k = utf8proc_encode_char(c, enc);
	return mr_buf_put(b, enc, (size_t)k);
}

/* A run of n CJK code points: bigrams, or the single character. */
static int emit_cjk_run(seg *s, const utf8proc_int32_t *run, size_t n)
{
	int rc = 0;
	if (n == 1) {
		mr_buf_clear(&s->tok);
		if ((rc = put_cp(&s->tok, run[0])) == 0)
			rc = emit(s, &s->tok, true);
		return rc;
	}
	for (size_t i = 0; rc == 0 && i + 1 < n; i++) {
		mr_buf_clear(&s->tok);
		if ((rc = put_cp(&s->tok, run[i])) == 0 && (rc = put_cp(&s->tok, run[i + 1])) == 0)
			rc = emit(s, &s->tok, true);
	}
	return rc;
}

int mr_analyzer_tokenize(mr_analyzer *a, const char *text, size_t len, uint32_t *pos, mr_token_fn fn,
			 void *payload)
{
	MR_UNUSED(a);
	utf8proc_int32_t *cps = NULL;
	size_t n = 0;
	seg s = {.tok = MR_BUF_INIT, .pos = pos, .fn = fn, .payload = payload};
	mr_buf word = MR_BUF_INIT;
	int rc = normalize(text, len, &cps, &n);
	size_t run_start = 0, run_len = 0; /* current CJK run in cps */
	for (size_t i = 0; rc == 0 && i <= n; i++) {
		utf8proc_int32_t c = i < n ? cps[i] : 0;
		bool cjk = i < n && mr_search__is_cjk(c);
		bool w = i < n && !cjk && is_word(c);
		if (cjk) {
			if (word.len) {
				rc = emit(&s, &word, false);
				mr_buf_clear(&word);
			}
			if (run_len == 0)
				run_start = i;
			run_len++;
			continue;
		}
		if (run_len && !(w && utf8proc_category(c) >= UTF8PROC_CATEGORY_MN &&
				 utf8proc_category(c) <= UTF8PROC_CATEGORY_ME)) {
			rc = emit_cjk_run(&s, cps + run_start, run_len);
			run_len = 0;
			if (rc < 0)
				break;
		}
		if (w) {
			if (run_len)
				continue; /* a combining mark inside a CJK run */
			rc = put_cp(&word, c);
		} else if (word.len) {
			rc = emit(&s, &word, false);
			mr_buf_clear(&word);
		}
	}
	mr_free(cps);
	mr_buf_dispose(&word);
	mr_buf_dispose(&s.tok);
	return rc;
}

/* ---- language detection ---- */

static const char *lang_code(const char *code)
{
	for (size_t i = 0; i < NLANG; i++)
		if (strcmp(languages[i].code, code) == 0)
			return languages[i].code;
	return NULL;
}

/* Function words: frequent English ones that are not words of the other
 * Latin-script languages detected here, and frequent ones of those that
 * are not English words.  Sorted (bsearch). */
static const char *const english_words[] = {
	"about", "also", "and", "are", "be", "because", "been", "but", "can", "could", "for", "from",
	"has", "have", "if", "is", "it", "not", "of", "on", "or", "our", "should", "than", "that", "the",
	"their", "then", "there", "these", "they", "this", "to", "was", "were", "what", "when", "where",
	"which", "will", "with", "would", "you", "your",
};
static const char *const other_words[] = {
	"att", "auf", "az", "bir", "bu", "che", "con", "da", "dan", "dans", "das", "dat", "den", "dengan",
	"der", "des", "det", "di", "die", "du", "een", "ei", "ein", "eine", "el", "en", "er", "es", "est",
	"et", "het", "hogy", "ich", "ikke", "il", "ile", "ist", "itu", "ja", "la", "las", "le", "les",
	"los", "mit", "nem", "nicht", "niet", "non", "nu", "och", "og", "para", "pas", "per", "por",
	"pour", "que", "qui", "se", "sie", "som", "una", "und", "une", "van", "ve", "y", "yang", "zu",
};

static int word_cmp(const void *k, const void *e) { return strcmp(k, *(const char *const *)e); }

/*
 * English by its function words, without textcat: at least 20 ASCII words,
 * at least 12 % of them English function words and other languages'
 * function words fewer than a fifth of those.  textcat costs ~1 ms per
 * document (most of the indexing CPU after GMime and the index writes) and
 * on mail it misreads English more often than this does: on 6,000 messages
 * of the corpus this decided 79 %, agreeing with textcat on all but 20, and
 * those 20 were English (upper-case spam read as German, man-page patches
 * as Danish or Catalan).
 */
static bool english_by_function_words(const char *text, size_t len)
{
	char w[16];
	size_t k = 0, words = 0, en = 0, other = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)text[i] : ' ';
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			if (k < sizeof w - 1)
				w[k] = (char)(c | 0x20);
			k++;
			continue;
		}
		if (c >= 0x80) {
			k = sizeof w; /* a word with non-ASCII letters: not counted */
			continue;
		}
		if (k > 0 && k < sizeof w) {
			w[k] = '\0';
			words++;
			if (bsearch(w, english_words, MR_ARRAY_LEN(english_words), sizeof(char *), word_cmp))
				en++;
			else if (bsearch(w, other_words, MR_ARRAY_LEN(other_words), sizeof(char *), word_cmp))
				other++;
		}
		k = 0;
	}
	return words >= 20 && en * 100 >= words * 12 && other * 5 <= en;
}

const char *mr_analyzer_detect(mr_analyzer *a, const char *text, size_t len)
{
	if (len > MR_ANALYZER_DETECT_BYTES) {
		len = MR_ANALYZER_DETECT_BYTES;
		while (len > 0 && ((unsigned char)text[len] & 0xC0u) == 0x80u)
			len--;
	}
	/* Script census of the letters. */
	size_t latin = 0, cyr = 0, greek = 0, kana = 0, hangul = 0, han = 0, letters = 0;
	const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
	for (size_t i = 0; i < len;) {
		utf8proc_int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
		if (k <= 0) {
			i++;
			continue;
		}
		i += (size_t)k;
		utf8proc_category_t cat = utf8proc_category(c);
		if (cat < UTF8PROC_CATEGORY_LU || cat > UTF8PROC_CATEGORY_LO)
			continue;
		letters++;
		if (c < 0x250 || (c >= 0x1E00 && c <= 0x1EFF))
			latin++;
		else if (c >= 0x400 && c <= 0x52F)
			cyr++;
		else if (c >= 0x370 && c <= 0x3FF)
			greek++;
		else
			switch (mr_search__cjk_script(c)) {
			case MR_SCRIPT_KANA:
				kana++;
				break;
			case MR_SCRIPT_HANGUL:
				hangul++;
				break;
			case MR_SCRIPT_HAN:
				han++;
				break;
			case MR_SCRIPT_NOT_CJK:
				break;
			}
	}
	if (letters == 0)
		return "";
	size_t cjk = kana + hangul + han;
	if (cjk * 10 >= letters * 3) {
		if (kana)
			return "ja";
		if (hangul * 2 >= cjk)
			return "ko";
		return "zh";
	}
	if (latin * 2 > letters && english_by_function_words(text, len))
		return "en";
	mr_buf clean = MR_BUF_INIT;
	/* libexttextcat reads past the end of invalid UTF-8 (found by fuzzing): give it clean text only */
	if (letters >= 40 && sanitize_utf8(text, len, &clean) == 0 && clean.len) {
		slot *sl = slot_acquire(a);
		if (!sl->textcat_tried) {
			sl->textcat = load_textcat();
			sl->textcat_tried = true;
		}
		const char *r = sl->textcat ? textcat_Classify(sl->textcat, (const char *)clean.ptr, clean.len) : NULL;
		const char *found = NULL;
		if (r && r[0] == '[') {
			char code[16];
			size_t k = 0;
			for (const char *p = r + 1; *p && *p != ']' && k + 1 < sizeof(code); p++)
				code[k++] = *p;
			code[k] = '\0';
			found = lang_code(code);
		}
		slot_release(sl);
		if (found) {
			mr_buf_dispose(&clean);
			return found;
		}
	}
	mr_buf_dispose(&clean);
	if (cyr * 2 > letters)
		return "ru";
	if (greek * 2 > letters)
		return "el";
	if (latin * 2 > letters)
		return "en";
	return "";
}

/* ---- stemming ---- */

static int lang_index(const char *lang)
{
	for (size_t i = 0; lang && i < NLANG; i++)
		if (strcmp(languages[i].code, lang) == 0)
			return (int)i;
	return -1;
}

/* The stemmer for language index i in slot s (held). */
static struct sb_stemmer *stemmer_at(slot *s, int i)
{
	if (!s->stemmer_tried[i]) {
		s->stemmer_tried[i] = true;
		s->stemmers[i] = sb_stemmer_new(languages[i].code, "UTF_8");
	}
	return s->stemmers[i];
}

bool mr_analyzer_has_stemmer(mr_analyzer *a, const char *lang)
{
	int i = lang_index(lang);
	if (i < 0)
		return false;
	slot *s = slot_acquire(a);
	bool ok = stemmer_at(s, i) != NULL;
	slot_release(s);
	return ok;
}

int mr_analyzer_stem(mr_analyzer *a, const char *lang, const char *word, size_t len, mr_buf *out)
{
	int i = lang_index(lang);
	int rc = 0;
	if (i >= 0) {
		slot *s = slot_acquire(a);
		struct sb_stemmer *st = stemmer_at(s, i);
		if (st) {
			const sb_symbol *r = sb_stemmer_stem(st, (const sb_symbol *)word, (int)len);
			if (!r)
				rc = mr_error_oom();
			else
				rc = mr_buf_set(out, r, (size_t)sb_stemmer_length(st));
			slot_release(s);
			return rc < 0 ? rc : 1;
		}
		slot_release(s);
	}
	rc = mr_buf_set(out, word, len);
	return rc < 0 ? rc : 0;
}
