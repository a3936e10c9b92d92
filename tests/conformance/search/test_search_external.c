/*
 * test_search_external.c — what the conformance suite does not reach in
 * the HTTP search backends: configuration errors, a server that is down
 * (always run: a closed port on 127.0.0.1), and, against the real
 * OpenSearch/Elasticsearch named by MR_TEST_OPENSEARCH_URL or
 * MR_TEST_ELASTICSEARCH_URL, batch indexing over several _bulk requests,
 * paging past one page and past the 10000-hit window of from/size, and an
 * index created with other languages being refused.  Public headers only.
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
	mr_config_free(cfg);
	MR_TEST_DONE();
}
