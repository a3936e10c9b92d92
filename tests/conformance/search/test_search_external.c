/*
 * test_search_external.c — what the conformance suite does not reach in
 * the HTTP search backends: configuration errors, a server that is down
 * (always run: a closed port on 127.0.0.1), and, against the real
 * OpenSearch/Elasticsearch named by MR_TEST_OPENSEARCH_URL or
 * MR_TEST_ELASTICSEARCH_URL, batch indexing over several _bulk requests,
 * paging past one page and past the 10000-hit window of from/size, and an
 * index created with other languages being refused; against the real
 * Meilisearch named by MR_TEST_MEILISEARCH_URL, a batch over several
 * document requests, paging, and what max-hits bounds (a one-search query
 * is paged by Meilisearch; a query of several searches, combined here,
 * needs each to fit).  Public headers only.
 */
#include "harness.h"
#include "mailroom/config.h"
#include "mailroom/search.h"

#include <time.h>
#include <unistd.h>

static mr_config *cfg;

static int open_store(mr_search **out, const char *toml_store)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "[storage]\ndata = \"d\"\nfts = \"s\"\n[store.\"d\"]\ntype = \"sqlite\"\npath = \"/nonexistent/unused.sqlite\"\n"
		 "[store.\"s\"]\n%s",
		 toml_store);
	mr_config_free(cfg);
	cfg = NULL;
	int rc = mr_config_parse(&cfg, text, strlen(text), "search-external.toml");
	if (rc < 0)
		return rc;
	return mr_search_open(out, cfg, "s", NULL);
}

static const char *es_url(void)
{
	const char *u = getenv("MR_TEST_OPENSEARCH_URL");
	if (!u || !*u)
		u = getenv("MR_TEST_ELASTICSEARCH_URL");
	return u && *u ? u : NULL;
}

static void test_search_external__bad_config(void)
{
	mr_search *s = NULL;
	MR_CHECK_RC(open_store(&s, "type = \"elasticsearch\"\nurl = \"http://127.0.0.1:1\"\nindex = \"Bad/Name\"\n"),
		    MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "index") != NULL);
	MR_CHECK_RC(open_store(&s, "type = \"elasticsearch\"\nurl = \"http://127.0.0.1:1\"\nrefresh = \"sometimes\"\n"),
		    MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "refresh") != NULL);
	MR_CHECK_RC(open_store(&s, "type = \"elasticsearch\"\nurl = \"http://127.0.0.1:1\"\nlanguages = [\"en\", \"xx\"]\n"),
		    MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "\"xx\"") != NULL);
	MR_CHECK_RC(open_store(&s, "type = \"elasticsearch\"\nurl = \"ftp://127.0.0.1:1\"\n"), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "scheme") != NULL);
	MR_CHECK_RC(open_store(&s, "type = \"meilisearch\"\nurl = \"http://127.0.0.1:1\"\nindex = \"bad/name\"\n"),
		    MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "index") != NULL);
	MR_CHECK_RC(open_store(&s, "type = \"meilisearch\"\nurl = \"http://127.0.0.1:1\"\nmax-hits = 0\n"), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "max-hits") != NULL);
	MR_CHECK(s == NULL);
}

static void test_search_external__server_down(void)
{
	/* port 1 on loopback: nothing listens, connections are refused at once */
	const char *stores[] = {"type = \"elasticsearch\"\nurl = \"http://mr:secret@127.0.0.1:1\"\ntimeout = \"2s\"\n",
				"type = \"meilisearch\"\nurl = \"http://127.0.0.1:1\"\napi-key = \"k\"\ntimeout = \"2s\"\n"};
	for (size_t i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		mr_search *s = NULL;
		MR_CHECK_OK(open_store(&s, stores[i]));
		mr_search_doc d = {.subject = "hello", .date = 1, .size = 1};
		MR_CHECK_RC(mr_search_index(s, 1, 1, &d), MR_EUNAVAILABLE);
		const char *msg = mr_error_last()->message;
		MR_CHECK(strstr(msg, "127.0.0.1:1") != NULL);
		MR_CHECK(strstr(msg, "attempts") != NULL);
		MR_CHECK(strstr(msg, "secret") == NULL); /* never a password in a message */
		mr_query *q = NULL;
		MR_CHECK_OK(mr_query_parse(&q, "hello", 5));
		mr_search_result r;
		MR_CHECK_RC(mr_search_query(s, 1, q, NULL, &r), MR_EUNAVAILABLE);
		mr_query_free(q);
		mr_search_close(s);
	}
}

#define NBATCH 10050u

static void test_search_external__batch_and_paging(void)
{
	const char *url = es_url();
	if (!url) {
		printf("  (skipped: no OpenSearch/Elasticsearch URL)\n");
		return;
	}
	char store[512];
	snprintf(store, sizeof(store), "type = \"elasticsearch\"\nurl = \"%s\"\nindex = \"mailroom-external-test\"\n", url);
	mr_search *s = NULL;
	MR_CHECK_OK(open_store(&s, store));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t acct = ((uint64_t)ts.tv_sec << 20 ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 40) & INT64_MAX;
	uint32_t *ids = calloc(NBATCH, sizeof(*ids));
	mr_search_doc *docs = calloc(NBATCH, sizeof(*docs));
	MR_CHECK(ids && docs);
	for (uint32_t i = 0; i < NBATCH; i++) {
		ids[i] = i + 1;
		docs[i] = (mr_search_doc){.subject = i % 2 ? "odd batch" : "even batch", .date = 1700000000 + i, .size = 10};
	}
	int rc = mr_search_index_batch(s, acct, ids, docs, NBATCH);
	free(ids);
	free(docs);
	MR_CHECK_OK(rc);
	mr_query *q = NULL;
	MR_CHECK_OK(mr_query_parse(&q, "batch", 5));
	mr_search_result r;
	/* all: pages of 1000 continued with search_after */
	MR_CHECK_OK(mr_search_query(s, acct, q, NULL, &r));
	MR_CHECK_EQ_INT(r.total, NBATCH);
	MR_CHECK_EQ_INT(r.count, NBATCH);
	bool ordered = true;
	for (size_t i = 0; i < r.count; i++)
		ordered = ordered && r.ids[i] == NBATCH - i; /* newest (highest date) first */
	mr_search_result_dispose(&r);
	MR_CHECK(ordered);
	/* an offset past the 10000-hit window of from/size */
	mr_search_opts o = {.offset = 10020, .limit = 20};
	MR_CHECK_OK(mr_search_query(s, acct, q, &o, &r));
	MR_CHECK_EQ_INT(r.total, NBATCH);
	MR_CHECK_EQ_INT(r.count, 20);
	MR_CHECK_EQ_INT(r.ids[0], NBATCH - 10020);
	MR_CHECK_EQ_INT(r.ids[19], NBATCH - 10039);
	mr_search_result_dispose(&r);
	mr_query_free(q);
	MR_CHECK_OK(mr_query_parse(&q, "subject:odd", 11));
	o = (mr_search_opts){.offset = 3, .limit = 2};
	MR_CHECK_OK(mr_search_query(s, acct, q, &o, &r));
	mr_query_free(q);
	MR_CHECK_EQ_INT(r.total, NBATCH / 2);
	MR_CHECK_EQ_INT(r.count, 2);
	/* "odd" went to odd i, ids i + 1 even: 10050 10048 10046 [10044 10042] */
	MR_CHECK_EQ_INT(r.ids[0], NBATCH - 6);
	MR_CHECK_EQ_INT(r.ids[1], NBATCH - 8);
	mr_search_result_dispose(&r);
	mr_search_close(s);
}

#define MS_N 1203u

static int ms_expect(mr_search *s, uint64_t acct, const char *query, const mr_search_opts *o, int want_rc,
		     uint64_t want_total, size_t want_count, uint32_t want_first)
{
	mr_query *q = NULL;
	if (mr_query_parse(&q, query, strlen(query)) < 0)
		return 0;
	mr_search_result r;
	int rc = mr_search_query(s, acct, q, o, &r);
	mr_query_free(q);
	if (rc != want_rc) {
		fprintf(stderr, "  %s: rc %d (%s), want %d\n", query, rc, mr_error_last()->message, want_rc);
		return 0;
	}
	if (rc < 0)
		return 1;
	int ok = r.total == want_total && r.count == want_count && (!want_count || r.ids[0] == want_first);
	if (!ok)
		fprintf(stderr, "  %s: total %llu count %zu first %u, want %llu %zu %u\n", query,
			(unsigned long long)r.total, r.count, r.count ? r.ids[0] : 0, (unsigned long long)want_total,
			want_count, want_first);
	mr_search_result_dispose(&r);
	return ok;
}

static void test_search_external__meilisearch(void)
{
	const char *url = getenv("MR_TEST_MEILISEARCH_URL"), *key = getenv("MR_TEST_MEILISEARCH_KEY");
	if (!url || !*url) {
		printf("  (skipped: MR_TEST_MEILISEARCH_URL is not set)\n");
		return;
	}
	char store[1024];
	/* a wrong key: refused with the reason, nothing indexed */
	snprintf(store, sizeof(store),
		 "type = \"meilisearch\"\nurl = \"%s\"\nindex = \"mailroom-external-test\"\napi-key = \"wrong\"\n",
		 url);
	mr_search *s = NULL;
	MR_CHECK_OK(open_store(&s, store));
	mr_search_doc d1 = {.subject = "never", .date = 1, .size = 1};
	int rc = mr_search_index(s, 1, 1, &d1);
	MR_CHECK(rc < 0);
	MR_CHECK(strstr(mr_error_last()->message, "403") != NULL || strstr(mr_error_last()->message, "401") != NULL);
	mr_search_close(s);

	snprintf(store, sizeof(store),
		 "type = \"meilisearch\"\nurl = \"%s\"\nindex = \"mailroom-external-test\"\nmax-hits = 1000\n%s%s%s", url,
		 key && *key ? "api-key = \"" : "", key && *key ? key : "", key && *key ? "\"\n" : "");
	MR_CHECK_OK(open_store(&s, store));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t acct = ((uint64_t)ts.tv_sec << 20 ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 40) & INT64_MAX;
	uint32_t *ids = calloc(MS_N, sizeof(*ids));
	mr_search_doc *docs = calloc(MS_N, sizeof(*docs));
	MR_CHECK(ids && docs);
	for (uint32_t i = 0; i < MS_N; i++) {
		ids[i] = i + 1;
		docs[i] = (mr_search_doc){.subject = i % 2 ? "odd batch" : "even batch", .date = 1700000000 + i, .size = 10};
	}
	rc = mr_search_index_batch(s, acct, ids, docs, MS_N); /* three requests of at most 500 */
	free(ids);
	free(docs);
	MR_CHECK_OK(rc);
	mr_search_opts page = {.offset = 5, .limit = 10};
	/* one search: Meilisearch pages and counts exactly, past max-hits too */
	MR_CHECK(ms_expect(s, acct, "batch", &page, 0, MS_N, 10, MS_N - 5));
	/* all of them asked for: more than max-hits is an error, never a silent cut */
	MR_CHECK(ms_expect(s, acct, "batch", NULL, MR_ELIMIT, 0, 0, 0));
	mr_search_opts deep = {.offset = 995, .limit = 10};
	MR_CHECK(ms_expect(s, acct, "batch", &deep, MR_ELIMIT, 0, 0, 0));
	MR_CHECK(ms_expect(s, acct, "batch -odd", NULL, 0, 602, 602, MS_N));
	/* two searches combined here, each within max-hits: the union may exceed it */
	MR_CHECK(ms_expect(s, acct, "odd OR even", &page, 0, MS_N, 10, MS_N - 5));
	MR_CHECK(ms_expect(s, acct, "subject:odd OR from:nobody", NULL, 0, 601, 601, MS_N - 1));
	/* a part past max-hits cannot be combined */
	MR_CHECK(ms_expect(s, acct, "subject:odd OR subject:batch", &page, MR_ELIMIT, 0, 0, 0));
	MR_CHECK(strstr(mr_error_last()->message, "max-hits") != NULL);
	mr_search_close(s);
}

static void test_search_external__foreign_languages(void)
{
	const char *url = es_url();
	if (!url) {
		printf("  (skipped: no OpenSearch/Elasticsearch URL)\n");
		return;
	}
	char store[512];
	snprintf(store, sizeof(store),
		 "type = \"elasticsearch\"\nurl = \"%s\"\nindex = \"mailroom-external-en\"\nlanguages = [\"en\"]\n", url);
	mr_search *s = NULL;
	MR_CHECK_OK(open_store(&s, store));
	mr_search_doc d = {.subject = "languages", .date = 1, .size = 1};
	MR_CHECK_OK(mr_search_index(s, 1, 1, &d));
	mr_search_close(s);
	/* the same index opened with the default languages: refused, not queried with the wrong analyzers */
	snprintf(store, sizeof(store), "type = \"elasticsearch\"\nurl = \"%s\"\nindex = \"mailroom-external-en\"\n", url);
	MR_CHECK_OK(open_store(&s, store));
	MR_CHECK_RC(mr_search_index(s, 1, 1, &d), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "languages") != NULL);
	mr_search_close(s);
}

int main(void)
{
	mr_search *probe = NULL;
	if (open_store(&probe, "type = \"elasticsearch\"\nurl = \"http://127.0.0.1:1\"\n") == MR_ENOTSUPPORTED)
		MR_TEST_SKIP("HTTP search backends: %s", mr_error_last()->message);
	mr_search_close(probe);
	MR_TEST_RUN(test_search_external__bad_config);
	MR_TEST_RUN(test_search_external__server_down);
	MR_TEST_RUN(test_search_external__batch_and_paging);
	MR_TEST_RUN(test_search_external__foreign_languages);
	MR_TEST_RUN(test_search_external__meilisearch);
	mr_config_free(cfg);
	MR_TEST_DONE();
}
