/*
 * test_search_conformance.c — one search suite, run unchanged against the
 * search store a configuration names: argv[1] picks the data backend the
 * built-in index lives in (rocksdb, sqlite, postgresql, mysql), or an
 * external engine (elasticsearch: MR_TEST_OPENSEARCH_URL or
 * MR_TEST_ELASTICSEARCH_URL; meilisearch: MR_TEST_MEILISEARCH_URL).  Server backends read their URL variable
 * and print SKIPPED when unset.  Written against public headers only.
 *
 * Covers field scoping, phrases, prefixes, boolean logic, dates, sizes,
 * flags and mailboxes, German/French/Russian/Japanese/Chinese text,
 * stemming equivalences, relevance order, deletes, re-indexing,
 * batches (grouped postings), concurrent indexers, and that the suite leaves no document behind.
 */
#include "harness.h"
#include "mailroom/config.h"
#include "mailroom/data.h"
#include "mailroom/search.h"

#include <pthread.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static mr_search *srch;
static uint64_t g_acct;  /* this run's account (unique, so shared servers need no cleanup between runs) */
static uint64_t g_acct2; /* a second account: isolation */

/* 2024-01-10 00:00 UTC and friends */
#define DAY(y, m, d) day_unix(y, m, d)
static int64_t day_unix(int y, int m, int d)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
	return (int64_t)timegm(&tm);
}

static const char *inbox_only[] = {"INBOX"};
static const char *inbox_archive[] = {"INBOX", "Archive"};
static const char *sent[] = {"Sent"};

/* Runs query, compares ids (in order) with the expected list terminated by 0. */
static int expect_ids(uint64_t account, const char *query, mr_search_order order, ...)
{
	uint32_t want[64];
	size_t nwant = 0;
	va_list ap;
	va_start(ap, order);
	for (int v; (v = va_arg(ap, int)) != 0 && nwant < 64;)
		want[nwant++] = (uint32_t)v;
	va_end(ap);
	mr_query *q = NULL;
	if (mr_query_parse(&q, query, strlen(query)) < 0) {
		fprintf(stderr, "  query %s: parse: %s\n", query, mr_error_last()->message);
		return 0;
	}
	mr_search_opts o = {.order = order};
	mr_search_result r;
	int rc = mr_search_query(srch, account, q, &o, &r);
	mr_query_free(q);
	if (rc < 0) {
		fprintf(stderr, "  query %s: %s\n", query, mr_error_last()->message);
		return 0;
	}
	bool ok = r.count == nwant && r.total == nwant;
	for (size_t i = 0; ok && i < nwant; i++)
		ok = r.ids[i] == want[i];
	if (!ok) {
		fprintf(stderr, "  query %s: got [", query);
		for (size_t i = 0; i < r.count; i++)
			fprintf(stderr, "%s%u", i ? " " : "", r.ids[i]);
		fprintf(stderr, "] want [");
		for (size_t i = 0; i < nwant; i++)
			fprintf(stderr, "%s%u", i ? " " : "", want[i]);
		fprintf(stderr, "]\n");
	}
	mr_search_result_dispose(&r);
	return ok;
}

#define EXPECT(q, ...) MR_CHECK(expect_ids(g_acct, q, MR_SEARCH_ORDER_DATE, __VA_ARGS__, 0))
#define EXPECT_NONE(q) MR_CHECK(expect_ids(g_acct, q, MR_SEARCH_ORDER_DATE, 0))

static int index_doc(uint32_t id, const char *from, const char *to, const char *cc, const char *bcc,
		     const char *subject, const char *body, const char *attachment, int64_t date, int64_t size,
		     uint32_t flags, const char **mbx, size_t nmbx)
{
	mr_search_doc d = {.from = from,
			   .to = to,
			   .cc = cc,
			   .bcc = bcc,
			   .subject = subject,
			   .body = body,
			   .attachment = attachment,
			   .date = date,
			   .size = size,
			   .flags = flags,
			   .has_attachment = attachment != NULL,
			   .mailboxes = mbx,
			   .nmailboxes = nmbx};
	return mr_search_index(srch, g_acct, id, &d);
}

static void test_search_conformance__index(void)
{
	const uint32_t SEEN = MR_SEARCH_FLAG(MR_FLAG_SEEN), FLAGGED = MR_SEARCH_FLAG(MR_FLAG_FLAGGED),
		       ANSWERED = MR_SEARCH_FLAG(MR_FLAG_ANSWERED);
	MR_CHECK_OK(index_doc(1, "Alice Example <alice@example.org>", "Bob <bob@example.org>", NULL, NULL,
			      "Annual report 2023",
			      "The annual report is attached. We were running late with the numbers this year.",
			      "report.pdf quarterly figures", DAY(2024, 1, 10), 5000, SEEN, inbox_only, 1));
	mr_search_header hdr[] = {{"X-Mailer", "Mutt/2.2.9"}, {"List-Id", "Lunch club <lunch.example.org>"}};
	mr_search_doc d2 = {.from = "Bob <bob@example.org>",
			    .to = "Alice <alice@example.org>",
			    .cc = "Carol <carol@example.org>",
			    .subject = "Re: lunch",
			    .body = "Let's meet for lunch. I run every morning.",
			    .headers = hdr,
			    .nheaders = 2,
			    .date = DAY(2024, 2, 1) + 10 * 3600,
			    .size = 1200,
			    .flags = FLAGGED,
			    .mailboxes = inbox_archive,
			    .nmailboxes = 2};
	MR_CHECK_OK(mr_search_index(srch, g_acct, 2, &d2));
	MR_CHECK_OK(index_doc(3, "Jürgen Groß <juergen@example.de>", "team@example.de", NULL, NULL,
			      "Besprechung morgen",
			      "Die Besprechung findet morgen im großen Saal statt. Bitte bringen Sie die Unterlagen "
			      "für die Häuser mit.",
			      NULL, DAY(2023, 12, 24), 30000, 0, NULL, 0));
	MR_CHECK_OK(index_doc(4, "Chloé <chloe@example.fr>", NULL, NULL, NULL, "Réunion",
			      "La réunion aura lieu demain dans la grande salle, merci d'apporter tous les documents.",
			      NULL, DAY(2024, 3, 5), 4000, 0, NULL, 0));
	MR_CHECK_OK(index_doc(5, "Иван <ivan@example.ru>", NULL, NULL, NULL, "Совещание",
			      "Совещание состоится завтра в большом зале, пожалуйста, принесите все документы с собой.",
			      NULL, DAY(2024, 3, 6), 4100, 0, NULL, 0));
	MR_CHECK_OK(index_doc(6, "田中 <tanaka@example.jp>", NULL, NULL, NULL, "会議のお知らせ",
			      "明日の会議は東京都の大きな部屋で行われます。資料を持ってきてください。", NULL,
			      DAY(2024, 3, 7), 4200, 0, NULL, 0));
	MR_CHECK_OK(index_doc(7, "王伟 <wang@example.cn>", NULL, NULL, NULL, "会议通知",
			      "明天的会议将在北京大会议室举行，请带上所有文件。", NULL, DAY(2024, 3, 8), 4300, 0, NULL,
			      0));
	MR_CHECK_OK(index_doc(8, "Carol <carol@example.org>", "Alice <alice@example.org>", NULL,
			      "Dave <dave@example.org>", "Pipeline",
			      "He runs the reporting pipeline. Annual budget report next week.", NULL,
			      DAY(2024, 2, 1) + 18 * 3600, 2 * 1024 * 1024 + 1, SEEN | ANSWERED, sent, 1));
	/* another account holds the same words: never visible from g_acct */
	mr_search_doc other = {.from = "alice@example.org", .subject = "annual report", .body = "lunch pipeline runs",
			       .date = DAY(2024, 1, 1), .size = 10};
	MR_CHECK_OK(mr_search_index(srch, g_acct2, 1, &other));
}

/* Date order of the corpus: 7 6 5 4 8 2 1 3 */

static void test_search_conformance__fields(void)
{
	EXPECT("from:alice", 1);
	EXPECT("to:alice", 8, 2);
	EXPECT("cc:carol", 2);
	EXPECT("bcc:dave", 8);
	EXPECT("subject:report", 1);
	EXPECT("body:pipeline", 8);
	EXPECT("attachment:quarterly", 1);
	EXPECT("subject:pipeline from:carol", 8);
	EXPECT("from:example.org", 8, 2, 1);
	EXPECT("header:x-mailer:mutt", 2);
	EXPECT("header:List-Id:\"lunch club\"", 2);
	EXPECT_NONE("header:x-mailer:alice");
	EXPECT("carol", 8, 2);
	EXPECT_NONE("subject:alice");
}

static void test_search_conformance__phrases(void)
{
	EXPECT("\"annual report\"", 1);
	EXPECT("subject:\"annual report\"", 1);
	EXPECT_NONE("\"report annual\"");
	EXPECT("\"budget report\"", 8);
	EXPECT("\"annual budget report\"", 8);
	EXPECT_NONE("\"annual report next\"");
	/* a quoted single word is exact: no stemming */
	EXPECT("\"running\"", 1);
	/* a word the analyzer splits is a phrase */
	EXPECT("alice@example.org", 8, 2, 1);
}

static void test_search_conformance__prefixes(void)
{
	EXPECT("repo*", 8, 1);
	EXPECT("pipe*", 8);
	EXPECT("subject:pipe*", 8);
	EXPECT("from:ali*", 1);
	EXPECT_NONE("zzz*");
}

static void test_search_conformance__boolean(void)
{
	EXPECT("lunch OR pipeline", 8, 2);
	EXPECT("report -pipeline", 1);
	EXPECT("report NOT pipeline", 1);
	EXPECT("NOT report", 7, 6, 5, 4, 2, 3);
	EXPECT("(lunch OR pipeline) AND (morning OR week)", 8, 2);
	EXPECT("annual AND (lunch OR pipeline)", 8);
	EXPECT("annual lunch OR budget", 8);
	EXPECT_NONE("annual lunch");
	EXPECT("", 7, 6, 5, 4, 8, 2, 1, 3);
	/* NOT over groups, negated prefixes, several prefixes, several fields under OR and NOT */
	EXPECT("NOT (lunch OR pipeline)", 7, 6, 5, 4, 1, 3);
	EXPECT("NOT (annual report)", 7, 6, 5, 4, 2, 3);
	EXPECT("report -pipe*", 1);
	EXPECT("repo* pipe*", 8);
	EXPECT("from:alice OR subject:lunch", 2, 1);
	EXPECT("-from:alice report", 8);
	EXPECT("(from:bob OR from:carol) -subject:pipeline", 2);
	EXPECT("NOT from:bob", 7, 6, 5, 4, 8, 1, 3);
	EXPECT("-from:bob -body:pipeline", 7, 6, 5, 4, 1, 3);
}

static void test_search_conformance__stemming(void)
{
	if (!mr_search_stems(srch)) {
		/* the backend says it matches words as written: each form finds only itself */
		EXPECT("running", 1);
		EXPECT("runs", 8);
		EXPECT("run", 2);
		EXPECT_NONE("reports");
		EXPECT_NONE("Besprechungen");
		EXPECT("häuser", 3);
		EXPECT_NONE("häusern");
		EXPECT_NONE("réunions");
		EXPECT("documents", 4);
		EXPECT("документы", 5);
		EXPECT_NONE("документов");
		return;
	}
	EXPECT("running", 8, 2, 1);
	EXPECT("runs", 8, 2, 1);
	EXPECT("run", 8, 2, 1);
	EXPECT("reports", 8, 1);
	EXPECT("Besprechungen", 3);
	EXPECT("häusern", 3);
	EXPECT("réunions", 4);
	EXPECT("документов", 5);
	EXPECT("документ", 5);
}

static void test_search_conformance__non_ascii(void)
{
	EXPECT("besprechung", 3);
	EXPECT("BESPRECHUNG", 3);
	EXPECT("groß", 3);
	EXPECT("from:jürgen", 3);
	EXPECT("réunion", 4);
	EXPECT("from:chloé", 4);
	EXPECT("совещание", 5);
	EXPECT("subject:СОВЕЩАНИЕ", 5);
	EXPECT("東京", 6);
	EXPECT("東京都", 6);
	EXPECT("会議", 6);
	EXPECT("会议", 7);
	EXPECT("北京", 7);
	EXPECT("subject:会议通知", 7);
	EXPECT("\"明天的会议\"", 7);
	EXPECT_NONE("東京 北京");
}

static void test_search_conformance__filters(void)
{
	EXPECT("before:2024-01-01", 3);
	EXPECT("after:2024-03-06", 7, 6, 5);
	EXPECT("on:2024-02-01", 8, 2);
	EXPECT("after:2024-01-10 before:2024-02-02", 8, 2, 1);
	EXPECT("larger:1M", 8);
	EXPECT("smaller:2k", 2);
	EXPECT("larger:29k smaller:1M", 3);
	EXPECT("has:attachment", 1);
	EXPECT("-has:attachment report", 8);
	EXPECT("in:Archive", 2);
	EXPECT("in:inbox", 2, 1);
	EXPECT("in:Sent", 8);
	EXPECT("is:flagged", 2);
	EXPECT("is:answered", 8);
	EXPECT("is:seen", 8, 1);
	EXPECT("is:unread", 7, 6, 5, 4, 2, 3);
	EXPECT("is:unread after:2024-03-07", 7, 6);
}

static void test_search_conformance__order_and_paging(void)
{
	mr_query *q = NULL;
	MR_CHECK_OK(mr_query_parse(&q, "after:2000-01-01", 16));
	mr_search_opts o = {.order = MR_SEARCH_ORDER_DATE, .offset = 2, .limit = 3};
	mr_search_result r;
	MR_CHECK_OK(mr_search_query(srch, g_acct, q, &o, &r));
	MR_CHECK_EQ_INT(r.total, 8);
	MR_CHECK_EQ_INT(r.count, 3);
	MR_CHECK_EQ_INT(r.ids[0], 5);
	MR_CHECK_EQ_INT(r.ids[1], 4);
	MR_CHECK_EQ_INT(r.ids[2], 8);
	mr_search_result_dispose(&r);
	mr_query_free(q);

	/* relevance: the same set, scores positive and non-increasing (exact ranks are backend-specific) */
	MR_CHECK_OK(mr_query_parse(&q, "report OR lunch", 15));
	o = (mr_search_opts){.order = MR_SEARCH_ORDER_RELEVANCE};
	MR_CHECK_OK(mr_search_query(srch, g_acct, q, &o, &r));
	mr_query_free(q);
	MR_CHECK_EQ_INT(r.count, 3);
	MR_CHECK(r.scores != NULL);
	bool ok = true;
	uint32_t seen = 0;
	for (size_t i = 0; i < r.count; i++) {
		ok = ok && r.scores[i] > 0;
		if (i)
			ok = ok && r.scores[i] <= r.scores[i - 1];
		if (r.ids[i] == 1 || r.ids[i] == 2 || r.ids[i] == 8)
			seen |= 1u << r.ids[i];
	}
	mr_search_result_dispose(&r);
	MR_CHECK(ok);
	MR_CHECK_EQ_INT(seen, (1u << 1) | (1u << 2) | (1u << 8));
}

static void test_search_conformance__isolation(void)
{
	MR_CHECK(expect_ids(g_acct2, "annual report", MR_SEARCH_ORDER_DATE, 1, 0));
	MR_CHECK(expect_ids(g_acct2, "from:alice", MR_SEARCH_ORDER_DATE, 1, 0));
	MR_CHECK(expect_ids(g_acct2, "besprechung", MR_SEARCH_ORDER_DATE, 0));
}

static void test_search_conformance__optimize(void)
{
	/* merging posting deltas into bitmaps changes no answer */
	MR_CHECK_OK(mr_search_optimize(srch, g_acct));
	MR_CHECK_OK(mr_search_optimize(srch, g_acct)); /* idempotent */
	if (mr_search_stems(srch))
		EXPECT("running", 8, 2, 1);
	else
		EXPECT("running", 1);
	EXPECT("repo*", 8, 1);
	EXPECT("\"annual report\"", 1);
	EXPECT("東京都", 6);
	EXPECT("header:x-mailer:mutt", 2);
	EXPECT("NOT report", 7, 6, 5, 4, 2, 3);
}

static void test_search_conformance__delete_and_reindex(void)
{
	MR_CHECK_OK(mr_search_remove(srch, g_acct, 8));
	MR_CHECK_RC(mr_search_remove(srch, g_acct, 8), MR_ENOTFOUND);
	MR_CHECK_RC(mr_search_remove(srch, g_acct, 999), MR_ENOTFOUND);
	EXPECT_NONE("pipeline");
	if (mr_search_stems(srch))
		EXPECT("runs", 2, 1);
	else
		EXPECT_NONE("runs");
	EXPECT("report", 1);
	EXPECT_NONE("larger:1M");
	EXPECT("", 7, 6, 5, 4, 2, 1, 3);

	/* re-index doc 2 with new text: the old words are gone, the new ones found */
	mr_search_doc d2 = {.from = "Bob <bob@example.org>",
			    .subject = "Dinner plans",
			    .body = "See you at dinner.",
			    .date = DAY(2024, 2, 1) + 10 * 3600,
			    .size = 900,
			    .flags = MR_SEARCH_FLAG(MR_FLAG_SEEN),
			    .mailboxes = sent,
			    .nmailboxes = 1};
	MR_CHECK_OK(mr_search_index(srch, g_acct, 2, &d2));
	EXPECT_NONE("lunch");
	EXPECT_NONE("header:x-mailer:mutt");
	EXPECT("dinner", 2);
	if (mr_search_stems(srch))
		EXPECT("run", 1);
	else
		EXPECT_NONE("run");
	EXPECT("is:seen", 2, 1);
	EXPECT_NONE("in:Archive");
	EXPECT("in:Sent", 2);
	/* indexing the same document again changes nothing */
	MR_CHECK_OK(mr_search_index(srch, g_acct, 2, &d2));
	EXPECT("dinner", 2);
	EXPECT("", 7, 6, 5, 4, 2, 1, 3);
}

typedef struct worker {
	int n;
	int rc;
	char err[256];
} worker;

static void *index_worker(void *arg)
{
	worker *w = arg;
	for (int i = 0; i < 25; i++) {
		char body[128];
		snprintf(body, sizeof(body), "shared common words and unique%dx%d", w->n, i);
		mr_search_doc d = {.subject = "concurrent", .body = body, .date = DAY(2025, 1, 1) + i, .size = 100};
		int rc = mr_search_index(srch, g_acct, (uint32_t)(1000 + w->n * 100 + i), &d);
		if (rc < 0) {
			w->rc = rc;
			snprintf(w->err, sizeof(w->err), "%s", mr_error_last()->message);
			break;
		}
	}
	return NULL;
}

static uint64_t count(uint64_t account, const char *query)
{
	mr_query *q = NULL;
	if (mr_query_parse(&q, query, strlen(query)) < 0)
		return UINT64_MAX;
	mr_search_result r;
	int rc = mr_search_query(srch, account, q, NULL, &r);
	mr_query_free(q);
	if (rc < 0)
		return UINT64_MAX;
	uint64_t t = r.total;
	mr_search_result_dispose(&r);
	return t;
}

static volatile int indexing_done;

/* Compacts over and over while the indexers run: merges race with new postings. */
static void *optimize_worker(void *arg)
{
	worker *w = arg;
	while (!indexing_done) {
		int rc = mr_search_optimize(srch, g_acct);
		if (rc < 0) {
			w->rc = rc;
			snprintf(w->err, sizeof(w->err), "%s", mr_error_last()->message);
			break;
		}
	}
	return NULL;
}

static void test_search_conformance__concurrent_indexers(void)
{
	pthread_t th[4], opt;
	worker w[4] = {{0}}, wo = {0};
	indexing_done = 0;
	MR_CHECK(pthread_create(&opt, NULL, optimize_worker, &wo) == 0);
	for (int i = 0; i < 4; i++) {
		w[i].n = i;
		MR_CHECK(pthread_create(&th[i], NULL, index_worker, &w[i]) == 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	indexing_done = 1;
	pthread_join(opt, NULL);
	if (wo.rc < 0)
		fprintf(stderr, "  optimizer: %s\n", wo.err);
	MR_CHECK_EQ_INT(wo.rc, 0);
	for (int i = 0; i < 4; i++) {
		if (w[i].rc < 0)
			fprintf(stderr, "  worker %d: %s\n", i, w[i].err);
		MR_CHECK_EQ_INT(w[i].rc, 0);
	}
	/* every posting kept: no lost update on the shared posting lists */
	MR_CHECK_EQ_INT(count(g_acct, "shared"), 100);
	MR_CHECK_EQ_INT(count(g_acct, "subject:concurrent"), 100);
	MR_CHECK_EQ_INT(count(g_acct, "unique2x7"), 1);
	MR_CHECK_EQ_INT(count(g_acct, "\"common words\""), 100);
	/* remove half while postings sit partly in bitmaps, partly in deltas, then merge and remove the rest */
	for (int n = 0; n < 4; n++)
		for (int i = 0; i < 25; i += 2)
			MR_CHECK_OK(mr_search_remove(srch, g_acct, (uint32_t)(1000 + n * 100 + i)));
	MR_CHECK_EQ_INT(count(g_acct, "shared"), 48);
	MR_CHECK_EQ_INT(count(g_acct, "unique2x7"), 1);
	MR_CHECK_EQ_INT(count(g_acct, "unique2x8"), 0);
	MR_CHECK_OK(mr_search_optimize(srch, g_acct));
	MR_CHECK_EQ_INT(count(g_acct, "shared"), 48);
	for (int n = 0; n < 4; n++)
		for (int i = 1; i < 25; i += 2)
			MR_CHECK_OK(mr_search_remove(srch, g_acct, (uint32_t)(1000 + n * 100 + i)));
	MR_CHECK_EQ_INT(count(g_acct, "shared"), 0);
	MR_CHECK_EQ_INT(count(g_acct, "concurrent"), 0);
}

/* Indexes ids[0..n) as one batch: "grouped common" everywhere, "grpodd"/"grpeven" by parity, "grpN" each. */
static int index_group(const uint32_t *ids, size_t n, const char *extra)
{
	mr_search_doc d[32];
	char body[32][128];
	for (size_t i = 0; i < n && i < 32; i++) {
		snprintf(body[i], sizeof(body[i]), "grouped common %s grp%u %s", ids[i] % 2 ? "grpodd" : "grpeven",
			 ids[i], extra ? extra : "");
		d[i] = (mr_search_doc){.subject = "batch", .body = body[i], .date = DAY(2025, 2, 1) + ids[i], .size = 10};
	}
	return mr_search_index_batch(srch, g_acct, ids, d, n);
}

static void test_search_conformance__batch_groups(void)
{
	/* one batch: the built-in index writes one delta per term for the whole group */
	uint32_t ids[16];
	for (int i = 0; i < 16; i++)
		ids[i] = (uint32_t)(3001 + i);
	MR_CHECK_OK(index_group(ids, 16, NULL));
	MR_CHECK_EQ_INT(count(g_acct, "grouped"), 16);
	MR_CHECK_EQ_INT(count(g_acct, "grpodd"), 8);
	MR_CHECK_EQ_INT(count(g_acct, "grp3007"), 1);
	MR_CHECK_EQ_INT(count(g_acct, "\"grouped common\""), 16);
	MR_CHECK_EQ_INT(count(g_acct, "grp30*"), 16);
	/* delete the key doc of the groups (the smallest), then one inside them */
	MR_CHECK_OK(mr_search_remove(srch, g_acct, 3001));
	MR_CHECK_OK(mr_search_remove(srch, g_acct, 3006));
	MR_CHECK_RC(mr_search_remove(srch, g_acct, 3001), MR_ENOTFOUND);
	MR_CHECK_EQ_INT(count(g_acct, "grouped"), 14);
	MR_CHECK_EQ_INT(count(g_acct, "grpodd"), 7);
	MR_CHECK_EQ_INT(count(g_acct, "grpeven"), 7);
	MR_CHECK_EQ_INT(count(g_acct, "grp3001"), 0);
	MR_CHECK_EQ_INT(count(g_acct, "grp3006"), 0);
	/* the new key doc (3002) and the one after: re-indexed without the shared words */
	mr_search_doc other = {.subject = "batch", .body = "regrouped words only", .date = DAY(2025, 2, 1), .size = 10};
	MR_CHECK_OK(mr_search_index(srch, g_acct, 3002, &other));
	MR_CHECK_OK(mr_search_index(srch, g_acct, 3009, &other));
	MR_CHECK_EQ_INT(count(g_acct, "grouped"), 12);
	MR_CHECK_EQ_INT(count(g_acct, "regrouped"), 2);
	MR_CHECK_EQ_INT(count(g_acct, "grpodd"), 6);
	MR_CHECK_EQ_INT(count(g_acct, "grpeven"), 6);
	/* one batch re-indexing several docs of one group: some lose a term together, some gain it */
	uint32_t re[] = {3002, 3003, 3004, 3005, 3016};
	MR_CHECK_OK(index_group(re, 5, "regrouped"));
	MR_CHECK_EQ_INT(count(g_acct, "grouped"), 13);
	MR_CHECK_EQ_INT(count(g_acct, "regrouped"), 6);
	uint32_t drop[] = {3003, 3004, 3005, 3007};
	mr_search_doc dd[4];
	for (int i = 0; i < 4; i++)
		dd[i] = (mr_search_doc){.subject = "batch", .body = "dropped", .date = DAY(2025, 2, 1), .size = 10};
	MR_CHECK_OK(mr_search_index_batch(srch, g_acct, drop, dd, 4));
	MR_CHECK_EQ_INT(count(g_acct, "grouped"), 9);
	MR_CHECK_EQ_INT(count(g_acct, "grpodd"), 3);
	MR_CHECK_EQ_INT(count(g_acct, "regrouped"), 3);
	MR_CHECK_EQ_INT(count(g_acct, "dropped"), 4);
	/* merged into bitmaps: the same answers, and removal from the bitmap */
	MR_CHECK_OK(mr_search_optimize(srch, g_acct));
	MR_CHECK_EQ_INT(count(g_acct, "grouped"), 9);
	MR_CHECK_EQ_INT(count(g_acct, "regrouped"), 3);
	MR_CHECK_EQ_INT(count(g_acct, "\"grouped common\""), 9);
	MR_CHECK_OK(mr_search_remove(srch, g_acct, 3016));
	MR_CHECK_EQ_INT(count(g_acct, "grouped"), 8);
	/* a new group beside the bitmap */
	uint32_t more[] = {3020, 3021, 3022};
	MR_CHECK_OK(index_group(more, 3, NULL));
	MR_CHECK_EQ_INT(count(g_acct, "grouped"), 11);
	MR_CHECK_EQ_INT(count(g_acct, "batch"), 16);
	for (int i = 0; i < 16; i++)
		if (ids[i] != 3001 && ids[i] != 3006 && ids[i] != 3016)
			MR_CHECK_OK(mr_search_remove(srch, g_acct, ids[i]));
	for (int i = 0; i < 3; i++)
		MR_CHECK_OK(mr_search_remove(srch, g_acct, more[i]));
	MR_CHECK_EQ_INT(count(g_acct, "batch"), 0);
	MR_CHECK_EQ_INT(count(g_acct, "grouped"), 0);
	MR_CHECK_OK(mr_search_optimize(srch, g_acct));
	MR_CHECK_EQ_INT(count(g_acct, "grouped"), 0);
}

static uint64_t docs_before;

static void test_search_conformance__stats_and_cleanup(void)
{
	uint64_t bytes = 0, docs = 0;
	MR_CHECK_OK(mr_search_stats(srch, &bytes, &docs));
	MR_CHECK(bytes > 0);
	MR_CHECK_EQ_INT(docs, docs_before + 8); /* 7 left in g_acct, 1 in g_acct2 */
	uint32_t left[] = {1, 2, 3, 4, 5, 6, 7};
	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++)
		MR_CHECK_OK(mr_search_remove(srch, g_acct, left[i]));
	MR_CHECK_OK(mr_search_remove(srch, g_acct2, 1));
	EXPECT_NONE("");
	MR_CHECK(expect_ids(g_acct2, "", MR_SEARCH_ORDER_DATE, 0));
	uint64_t bytes2 = 0;
	MR_CHECK_OK(mr_search_stats(srch, &bytes2, &docs));
	MR_CHECK_EQ_INT(docs, docs_before);
	MR_CHECK(bytes2 < bytes);
}

static void test_search_conformance__unsupported(void)
{
	mr_query *q = NULL;
	MR_CHECK_OK(mr_query_parse(&q, "e-ma*", 5));
	mr_search_result r;
	int rc = mr_search_query(srch, g_acct, q, NULL, &r);
	mr_query_free(q);
	MR_CHECK_RC(rc, MR_ENOTSUPPORTED);
	MR_CHECK(strstr(mr_error_last()->message, "prefix") != NULL);
}

int main(int argc, char **argv)
{
	const char *backend = argc > 1 ? argv[1] : "rocksdb";
	char dir[] = "/tmp/mr-search-conf-XXXXXX";
	char cfgtext[2048];
	bool tmp = false;
	if (strcmp(backend, "elasticsearch") == 0) {
		/* the engine holds the index; a rocksdb data store stands beside it */
		const char *url = getenv("MR_TEST_OPENSEARCH_URL");
		if (!url || !*url)
			url = getenv("MR_TEST_ELASTICSEARCH_URL");
		if (!url || !*url)
			MR_TEST_SKIP("search conformance over elasticsearch: neither MR_TEST_OPENSEARCH_URL nor "
				     "MR_TEST_ELASTICSEARCH_URL is set (start the server with scripts/servers/opensearch, "
				     "or run scripts/test-all)");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
		tmp = true;
		snprintf(cfgtext, sizeof(cfgtext),
			 "[storage]\ndata = \"db\"\nfts = \"es\"\n[store.\"db\"]\ntype = \"rocksdb\"\npath = \"%s/data\"\n"
			 "[store.\"es\"]\ntype = \"elasticsearch\"\nurl = \"%s\"\nindex = \"mailroom-conformance\"\n",
			 dir, url);
	} else if (strcmp(backend, "meilisearch") == 0) {
		const char *url = getenv("MR_TEST_MEILISEARCH_URL");
		if (!url || !*url)
			MR_TEST_SKIP("search conformance over meilisearch: MR_TEST_MEILISEARCH_URL is not set (no "
				     "Meilisearch server could be had: scripts/servers/meilisearch says why)");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
		tmp = true;
		const char *key = getenv("MR_TEST_MEILISEARCH_KEY");
		snprintf(cfgtext, sizeof(cfgtext),
			 "[storage]\ndata = \"db\"\nfts = \"ms\"\n[store.\"db\"]\ntype = \"rocksdb\"\npath = \"%s/data\"\n"
			 "[store.\"ms\"]\ntype = \"meilisearch\"\nurl = \"%s\"\nindex = \"mailroom-conformance\"\n%s%s%s",
			 dir, url, key && *key ? "api-key = \"" : "", key && *key ? key : "", key && *key ? "\"\n" : "");
	} else if (strcmp(backend, "postgresql") == 0 || strcmp(backend, "mysql") == 0) {
		const char *env = strcmp(backend, "postgresql") == 0 ? "MR_TEST_PG_URL" : "MR_TEST_MYSQL_URL";
		const char *url = getenv(env);
		if (!url || !*url)
			MR_TEST_SKIP("search conformance over %s: %s is not set (start the server with "
				     "scripts/servers/*, or run scripts/test-all)",
				     backend, env);
		snprintf(cfgtext, sizeof(cfgtext),
			 "[storage]\ndata = \"db\"\nfts = \"db\"\n[store.\"db\"]\ntype = \"%s\"\nurl = \"%s\"\n", backend,
			 url);
	} else {
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
		tmp = true;
		snprintf(cfgtext, sizeof(cfgtext),
			 "[storage]\ndata = \"db\"\nfts = \"db\"\n[store.\"db\"]\ntype = \"%s\"\npath = \"%s/%s\"\n",
			 backend, dir, strcmp(backend, "sqlite") == 0 ? "data.sqlite" : "data");
	}
	mr_config *cfg = NULL;
	mr_data *data = NULL;
	int rc = mr_config_parse(&cfg, cfgtext, strlen(cfgtext), "search-conformance.toml");
	if (rc < 0) {
		fprintf(stderr, "config: %s\n", mr_error_last()->message);
		return 1;
	}
	rc = mr_data_open(&data, cfg, "db");
	if (rc == MR_ENOTSUPPORTED) {
		mr_config_free(cfg);
		MR_TEST_SKIP("search conformance over %s: %s", backend, mr_error_last()->message);
	}
	if (rc < 0) {
		fprintf(stderr, "open %s: %s\n", backend, mr_error_last()->message);
		mr_config_free(cfg);
		return 1;
	}
	rc = mr_search_open(&srch, cfg, NULL, data);
	if (rc < 0) {
		fprintf(stderr, "search open: %s\n", mr_error_last()->message);
		mr_data_close(data);
		mr_config_free(cfg);
		return 1;
	}
	printf("search backend %s over data backend %s\n", mr_search_backend_name(srch), mr_data_backend_name(data));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	g_acct = (((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 40)) & 0x7fffffffffffffffull;
	g_acct2 = g_acct + 1;
	uint64_t bytes0 = 0;
	if (mr_search_stats(srch, &bytes0, &docs_before) < 0) {
		fprintf(stderr, "stats: %s\n", mr_error_last()->message);
		return 1;
	}

	MR_TEST_RUN(test_search_conformance__index);
	MR_TEST_RUN(test_search_conformance__fields);
	MR_TEST_RUN(test_search_conformance__phrases);
	MR_TEST_RUN(test_search_conformance__prefixes);
	MR_TEST_RUN(test_search_conformance__boolean);
	MR_TEST_RUN(test_search_conformance__stemming);
	MR_TEST_RUN(test_search_conformance__non_ascii);
	MR_TEST_RUN(test_search_conformance__filters);
	MR_TEST_RUN(test_search_conformance__order_and_paging);
	MR_TEST_RUN(test_search_conformance__isolation);
	MR_TEST_RUN(test_search_conformance__unsupported);
	MR_TEST_RUN(test_search_conformance__optimize);
	MR_TEST_RUN(test_search_conformance__delete_and_reindex);
	MR_TEST_RUN(test_search_conformance__concurrent_indexers);
	MR_TEST_RUN(test_search_conformance__batch_groups);
	MR_TEST_RUN(test_search_conformance__stats_and_cleanup);

	mr_search_close(srch);
	mr_data_close(data);
	mr_config_free(cfg);
	if (tmp) {
		(void)mr_test_remove_tree(dir);
	}
	MR_TEST_DONE();
}
