/*
 * test_search_analyzer.c — the built-in engine's analyzer: folding,
 * segmentation, CJK bigrams, language detection and stemming equivalences.
 */
#include "harness.h"
#include "search/builtin/analyzer.h"

#include <string.h>

static mr_analyzer *an;

typedef struct toks {
	char joined[4096]; /* tokens separated by '|' */
	uint32_t last_pos;
	size_t n;
} toks;

static int collect(const mr_token *t, void *payload)
{
	toks *o = payload;
	size_t l = strlen(o->joined);
	snprintf(o->joined + l, sizeof(o->joined) - l, "%s%s", l ? "|" : "", t->text);
	o->last_pos = t->pos;
	o->n++;
	return 0;
}

static const char *tokenize(const char *text, toks *o)
{
	memset(o, 0, sizeof(*o));
	uint32_t pos = 0;
	if (mr_analyzer_tokenize(an, text, strlen(text), &pos, collect, o) < 0)
		return "ERROR";
	return o->joined;
}

static const char *stem(const char *lang, const char *word)
{
	static char out[256];
	mr_buf b = MR_BUF_INIT;
	if (mr_analyzer_stem(an, lang, word, strlen(word), &b) < 0)
		snprintf(out, sizeof(out), "ERROR");
	else
		snprintf(out, sizeof(out), "%s", mr_buf_cstr(&b));
	mr_buf_dispose(&b);
	return out;
}

static void test_search_analyzer__folding(void)
{
	toks o;
	MR_CHECK_EQ_STR(tokenize("Hello, WORLD!", &o), "hello|world");
	/* German sharp s folds to ss; accents kept */
	MR_CHECK_EQ_STR(tokenize("Straße GRÜSSE Müller", &o), "strasse|grüsse|müller");
	/* NFKC: ligature, full-width letters, decomposed é composes */
	MR_CHECK_EQ_STR(tokenize("ﬁle ＡＢＣ cafe\xCC\x81", &o), "file|abc|café");
	/* Cyrillic and Greek upper case */
	MR_CHECK_EQ_STR(tokenize("ПРИВЕТ Мир ΣΟΦΊΑ", &o), "привет|мир|σοφία");
	/* soft hyphen ignored, digits kept, punctuation splits */
	MR_CHECK_EQ_STR(tokenize("co\xC2\xADoperate 2024-01-31 e-mail", &o), "cooperate|2024|01|31|e|mail");
	/* invalid UTF-8 is replaced, never fatal */
	MR_CHECK_EQ_STR(tokenize("ab\xFF" "cd", &o), "ab|cd");
	MR_CHECK_EQ_STR(tokenize("", &o), "");
	MR_CHECK_EQ_INT(o.n, 0);
	mr_buf b = MR_BUF_INIT;
	MR_CHECK_OK(mr_analyzer_fold(an, "ÀÉÎ Ǆ", strlen("ÀÉÎ Ǆ"), &b));
	MR_CHECK_EQ_STR(mr_buf_cstr(&b), "àéî dž");
	mr_buf_dispose(&b);
}

static void test_search_analyzer__positions(void)
{
	toks o;
	tokenize("one two three", &o);
	MR_CHECK_EQ_INT(o.n, 3);
	MR_CHECK_EQ_INT(o.last_pos, 2);
	/* an over-long token is dropped but keeps its position */
	char text[400];
	memset(text, 'x', 300);
	memcpy(text + 300, " tail", 6);
	tokenize(text, &o);
	MR_CHECK_EQ_STR(o.joined, "tail");
	MR_CHECK_EQ_INT(o.last_pos, 1);
}

static void test_search_analyzer__cjk(void)
{
	toks o;
	/* Japanese: kanji + kana run becomes bigrams */
	MR_CHECK_EQ_STR(tokenize("東京都に住む", &o), "東京|京都|都に|に住|住む");
	MR_CHECK_EQ_INT(o.last_pos, 4);
	/* Chinese with punctuation: runs split at 。 and ， */
	MR_CHECK_EQ_STR(tokenize("我爱北京。你好，天", &o), "我爱|爱北|北京|你好|天");
	/* Korean */
	MR_CHECK_EQ_STR(tokenize("한국어 검색", &o), "한국|국어|검색");
	/* mixed scripts split at the boundary; halfwidth katakana normalized */
	MR_CHECK_EQ_STR(tokenize("mailroomの検索", &o), "mailroom|の検|検索");
	MR_CHECK_EQ_STR(tokenize("ｶﾀｶﾅ", &o), "カタ|タカ|カナ");
}

static void test_search_analyzer__detect(void)
{
	const char *en = "The quarterly report was sent to the board yesterday and everyone agreed with the budget.";
	const char *de = "Die Besprechung findet morgen im großen Saal statt, bitte bringen Sie die Unterlagen mit.";
	const char *fr = "La réunion aura lieu demain dans la grande salle, merci d'apporter tous les documents.";
	const char *ru = "Совещание состоится завтра в большом зале, пожалуйста, принесите все документы с собой.";
	const char *ja = "明日の会議は大きな部屋で行われます。資料を持ってきてください。";
	const char *zh = "明天的会议将在大会议室举行，请带上所有文件。";
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, en, strlen(en)), "en");
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, de, strlen(de)), "de");
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, fr, strlen(fr)), "fr");
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, ru, strlen(ru)), "ru");
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, ja, strlen(ja)), "ja");
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, zh, strlen(zh)), "zh");
	/* English decided by its function words (no textcat): upper-case spam
	 * (from sa-spam-2/00423 of the corpus, whose whole body textcat reads
	 * as German) */
	const char *spam = "THESE INVITATIONS WERE ONLY BEING SENT OUT... TO A VERY SELECT GROUP OF INDIVIDUALS LIKE "
			   "YOURSELF... WHO WERE CONFIRMED AND QUALIFIED TO RECEIVE THIS SPECTACULAR OFFER!!! PLEASE "
			   "CLICK ON THE LINK BELOW TO REGISTER AND RECEIVE YOUR COMPLIMENTARY THREE NIGHT STAY IN YOUR "
			   "CHOICE OF THREE (3) OF THESE NINE (9) FUN FILLED LOCATIONS!!! - MAGICAL ORLANDO - LAS VEGAS... "
			   "CITY OF LIGHTS - PALM BEACH, FL.... FLORIDA'S BEST KEPT SECRET - FABULOUS FT, LAUDERDALE";
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, spam, strlen(spam)), "en");
	/* ... but not German or French that quotes some English */
	const char *de_en = "Hallo zusammen, ich habe die Änderung getestet und sie funktioniert bei mir nicht: der "
			    "Build bricht mit \"error: the value of this is not a constant\" ab. Könnt ihr das bitte "
			    "prüfen? Die Konfiguration ist die gleiche wie in der letzten Woche und das Problem tritt nur "
			    "auf dem neuen Server auf.";
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, de_en, strlen(de_en)), "de");
	const char *fr_en = "Bonjour, le correctif ne compile pas chez moi : le message est \"the file is not found\" "
			    "et la compilation s'arrête. Est-ce que quelqu'un a une idée pour que cela fonctionne avec "
			    "la nouvelle version? Merci pour votre aide et pour le travail sur les paquets.";
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, fr_en, strlen(fr_en)), "fr");
	/* short texts fall back by script */
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, "hello", 5), "en");
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, "привет", strlen("привет")), "ru");
	MR_CHECK_EQ_STR(mr_analyzer_detect(an, "12345 !!", 8), "");
	/* invalid UTF-8 never reaches libexttextcat (it read out of bounds on such input) */
	char bad[256];
	size_t n = 0;
	while (n + 8 < sizeof(bad)) {
		memcpy(bad + n, "abc\xe6\x9d\xb1\xff\xa5", 8);
		n += 8;
	}
	const char *lang = mr_analyzer_detect(an, bad, n);
	MR_CHECK(lang != NULL);
}

static void test_search_analyzer__stemming(void)
{
	/* English: running / runs / run meet */
	MR_CHECK_EQ_STR(stem("en", "running"), "run");
	MR_CHECK_EQ_STR(stem("en", "runs"), "run");
	MR_CHECK_EQ_STR(stem("en", "run"), "run");
	MR_CHECK_EQ_STR(stem("en", "reports"), stem("en", "report"));
	/* German */
	char a[64];
	snprintf(a, sizeof(a), "%s", stem("de", "häuser"));
	MR_CHECK_EQ_STR(stem("de", "häusern"), a);
	snprintf(a, sizeof(a), "%s", stem("de", "besprechungen"));
	MR_CHECK_EQ_STR(stem("de", "besprechung"), a);
	/* French */
	snprintf(a, sizeof(a), "%s", stem("fr", "documents"));
	MR_CHECK_EQ_STR(stem("fr", "document"), a);
	snprintf(a, sizeof(a), "%s", stem("fr", "réunions"));
	MR_CHECK_EQ_STR(stem("fr", "réunion"), a);
	/* Russian */
	snprintf(a, sizeof(a), "%s", stem("ru", "документы"));
	MR_CHECK_EQ_STR(stem("ru", "документов"), a);
	MR_CHECK_EQ_STR(stem("ru", "документ"), a);
	/* no stemmer: the word unchanged, return 0 */
	mr_buf b = MR_BUF_INIT;
	MR_CHECK_EQ_INT(mr_analyzer_stem(an, "ja", "東京", strlen("東京"), &b), 0);
	MR_CHECK_EQ_STR(mr_buf_cstr(&b), "東京");
	MR_CHECK_EQ_INT(mr_analyzer_stem(an, "", "runs", 4, &b), 0);
	MR_CHECK_EQ_STR(mr_buf_cstr(&b), "runs");
	mr_buf_dispose(&b);
	MR_CHECK(mr_analyzer_has_stemmer(an, "de"));
	MR_CHECK(!mr_analyzer_has_stemmer(an, "zh"));
}

int main(void)
{
	if (mr_analyzer_new(&an) < 0) {
		fprintf(stderr, "mr_analyzer_new: %s\n", mr_error_last()->message);
		return 1;
	}
	MR_TEST_RUN(test_search_analyzer__folding);
	MR_TEST_RUN(test_search_analyzer__positions);
	MR_TEST_RUN(test_search_analyzer__cjk);
	MR_TEST_RUN(test_search_analyzer__detect);
	MR_TEST_RUN(test_search_analyzer__stemming);
	mr_analyzer_free(an);
	MR_TEST_DONE();
}
