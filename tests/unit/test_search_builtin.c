/*
 * test_search_builtin.c — the built-in index's grouped posting deltas at
 * the key level (layout in src/search/builtin/fts.h), over a local RocksDB
 * store: a batch writes one delta per term; deltas in the single-document
 * format (value "") written before groups are still read, removed and
 * compacted; compaction of mixed groups and single deltas across pages
 * (16384 keys) and chunks (8192 keys) keeps every posting; the automatic
 * compaction merges frequent terms only.
 */
#include "harness.h"
#include "mailroom/config.h"
#include "mailroom/data.h"
#include "mailroom/search.h"
#include "search/builtin/fts.h"

#include <unistd.h>

static mr_data *data;
static mr_search *srch;
static const uint64_t ACCT = 7;

static uint64_t count(const char *query)
{
	mr_query *q = NULL;
	if (mr_query_parse(&q, query, strlen(query)) < 0)
		return UINT64_MAX;
	mr_search_result r;
	int rc = mr_search_query(srch, ACCT, q, NULL, &r);
	mr_query_free(q);
	if (rc < 0) {
		fprintf(stderr, "  query %s: %s\n", query, mr_error_last()->message);
		return UINT64_MAX;
	}
	uint64_t t = r.total;
	mr_search_result_dispose(&r);
	return t;
}

typedef struct pstats {
	size_t keys, single, grouped, postings, max_group;
} pstats;

/* Counts the account's delta keys and the postings they carry. */
static int delta_stats(pstats *s)
{
	memset(s, 0, sizeof(*s));
	mr_key k;
	key_account(&k, ACCT, 'P');
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(&k), end, sizeof(end));
	mr_iter *it = NULL;
	int rc = mr_data_scan(data, &r, &it);
	if (rc < 0)
		return rc;
	mr_slice key, val;
	while ((rc = mr_iter_next(it, &key, &val)) == 1) {
		delta_iter di;
		delta_iter_init(&di, key, val);
		uint32_t doc = 0;
		size_t n = 0;
		while ((rc = delta_next(&di, &doc)) == 1)
			n++;
		if (rc < 0)
			break;
		s->keys++;
		s->postings += n;
		if (n == 1)
			s->single++;
		else
			s->grouped++;
		if (n > s->max_group)
			s->max_group = n;
	}
	mr_iter_free(it);
	return rc < 0 ? rc : 0;
}

/* Rewrites every other (or every) group delta as single-document deltas (value ""), the format before groups. */
static int explode_groups(bool every)
{
	mr_key k;
	key_account(&k, ACCT, 'P');
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(&k), end, sizeof(end));
	mr_iter *it = NULL;
	mr_batch *b = NULL;
	int rc = mr_data_scan(data, &r, &it);
	if (rc == 0)
		rc = mr_batch_new(&b, data);
	mr_slice key, val;
	size_t nth = 0;
	while (rc == 0 && (rc = mr_iter_next(it, &key, &val)) == 1) {
		rc = 0;
		if (val.len == 0 || (!every && nth++ % 2))
			continue;
		delta_iter di;
		delta_iter_init(&di, key, val);
		uint32_t doc = 0;
		mr_slice tkey = mr_slice_of(key.ptr, key.len - 4);
		while (rc == 0 && (rc = delta_next(&di, &doc)) == 1) {
			mr_key dk;
			key_delta(&dk, tkey, doc); /* tag byte stays 'P' */
			rc = mr_batch_set(b, mr_key_slice(&dk), MR_SLICE_EMPTY);
		}
	}
	if (rc == 0)
		rc = mr_batch_commit(b);
	mr_batch_free(b);
	mr_iter_free(it);
	return rc;
}

static const char *pool[] = {"apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel", "iris",
			     "juniper", "kiwi", "lemon", "mango", "nectar", "olive", "peach", "quince", "rowan"};

/* Fills doc id's body (cap bytes at body) and document. */
typedef void (*fill_fn)(uint32_t id, char *body, size_t cap, mr_search_doc *d);

/* Indexes ids [first, first+n) in batches of 16 documents as fill makes them. */
static int index_batched(uint32_t first, uint32_t n, fill_fn fill)
{
	mr_search_doc d[16];
	uint32_t ids[16];
	char body[16][160];
	for (uint32_t at = 0; at < n;) {
		size_t m = 0;
		for (; m < 16 && at < n; m++, at++) {
			ids[m] = first + at;
			fill(first + at, body[m], sizeof(body[m]), &d[m]);
		}
		int rc = mr_search_index_batch(srch, ACCT, ids, d, m);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* "shared", three pool words, "uniqN" */
static void fill_pool(uint32_t id, char *body, size_t cap, mr_search_doc *d)
{
	snprintf(body, cap, "shared %s %s %s uniq%u", pool[id % 18], pool[(id / 3) % 18], pool[(id * 7 + 1) % 18], id);
	*d = (mr_search_doc){.subject = "fruit", .body = body, .language = "en", .size = 10};
}

static int index_range(uint32_t first, uint32_t n) { return index_batched(first, n, fill_pool); }

/* Postings of pool word w among docs [first, first+n) as index_range wrote them. */
static uint64_t want_word(uint32_t first, uint32_t n, size_t w)
{
	uint64_t c = 0;
	for (uint32_t id = first; id < first + n; id++)
		c += id % 18 == w || (id / 3) % 18 == w || (id * 7 + 1) % 18 == w;
	return c;
}

static void check_words(uint32_t first, uint32_t n)
{
	MR_CHECK_EQ_INT(count("shared"), n);
	for (size_t w = 0; w < 18; w += 5)
		MR_CHECK_EQ_INT(count(pool[w]), want_word(first, n, w));
	MR_CHECK_EQ_INT(count("uniq*"), n);
}

static void test_search_builtin__batch_writes_groups(void)
{
	MR_CHECK_OK(index_range(1, 16));
	pstats s;
	MR_CHECK_OK(delta_stats(&s));
	/* "shared" and "fruit" (exact and stem, two fields) are one delta each for all 16 */
	MR_CHECK(s.max_group == 16);
	MR_CHECK(s.keys < s.postings);
	check_words(1, 16);
	size_t keys_before = s.keys, postings_before = s.postings;
	/* the key doc of every group (1) leaves: the groups are re-keyed under 2 */
	MR_CHECK_OK(mr_search_remove(srch, ACCT, 1));
	MR_CHECK_OK(delta_stats(&s));
	MR_CHECK_EQ_INT(s.max_group, 15);
	MR_CHECK(s.postings < postings_before);
	MR_CHECK(s.keys < keys_before); /* doc 1's own words went */
	mr_key tk, dk;
	key_term(&tk, ACCT, MR_FIELD_BODY, NULL, KIND_EXACT, NULL, "shared", 6, false);
	key_delta(&dk, mr_key_slice(&tk), 2);
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_data_get(data, mr_key_slice(&dk), &v));
	MR_CHECK_EQ_INT(v.len, 14); /* 3..16: fourteen gaps of 1 */
	key_delta(&dk, mr_key_slice(&tk), 1);
	MR_CHECK_RC(mr_data_get(data, mr_key_slice(&dk), &v), MR_ENOTFOUND);
	mr_error_clear();
	/* a doc inside the group (5) leaves: same key, one doc fewer */
	MR_CHECK_OK(mr_search_remove(srch, ACCT, 5));
	key_delta(&dk, mr_key_slice(&tk), 2);
	MR_CHECK_OK(mr_data_get(data, mr_key_slice(&dk), &v));
	MR_CHECK_EQ_INT(v.len, 13);
	mr_buf_dispose(&v);
	MR_CHECK_EQ_INT(count("shared"), 14);
	MR_CHECK_EQ_INT(count("uniq1"), 0);
	MR_CHECK_EQ_INT(count("uniq5"), 0);
	MR_CHECK_EQ_INT(count("uniq6"), 1);
	/* back again: 1 and 5 gain the words as a new group keyed by 1 */
	uint32_t back[] = {1, 5};
	mr_search_doc d[2] = {{.subject = "fruit", .body = "shared", .language = "en"},
			      {.subject = "fruit", .body = "shared", .language = "en"}};
	MR_CHECK_OK(mr_search_index_batch(srch, ACCT, back, d, 2));
	MR_CHECK_EQ_INT(count("shared"), 16);
	MR_CHECK_EQ_INT(count("fruit"), 16);
	for (uint32_t id = 1; id <= 16; id++)
		MR_CHECK_OK(mr_search_remove(srch, ACCT, id));
	MR_CHECK_OK(delta_stats(&s));
	MR_CHECK_EQ_INT(s.keys, 0);
	MR_CHECK_EQ_INT(count("shared"), 0);
}

static void test_search_builtin__old_format_and_compaction_edges(void)
{
	/* 1500 docs: over 16384 deltas once exploded.  A fresh handle per 900 documents keeps
	 * the automatic compaction (every 1000 a handle indexes) from merging them first. */
	const uint32_t first = 100, n = 1500;
	MR_CHECK_OK(index_range(first, 900));
	mr_search_close(srch);
	MR_CHECK_OK(mr_search_open_builtin(&srch, data));
	MR_CHECK_OK(index_range(first + 900, n - 900));
	check_words(first, n);
	/* half the groups as single-document deltas: a mix of both formats */
	MR_CHECK_OK(explode_groups(false));
	pstats s;
	MR_CHECK_OK(delta_stats(&s));
	MR_CHECK(s.single > 0 && s.grouped > 0);
	check_words(first, n);
	/* then all of them: each posting one old-format key */
	MR_CHECK_OK(explode_groups(true));
	MR_CHECK_OK(delta_stats(&s));
	MR_CHECK_EQ_INT(s.grouped, 0);
	MR_CHECK(s.keys > 16384); /* more than a page (16384 keys) of two chunks (8192) */
	check_words(first, n);
	/* remove and re-index docs whose postings are old-format deltas */
	MR_CHECK_OK(mr_search_remove(srch, ACCT, first));
	MR_CHECK_EQ_INT(count("shared"), n - 1);
	MR_CHECK_EQ_INT(count("uniq100"), 0);
	mr_search_doc d = {.subject = "fruit", .body = "shared only", .language = "en"};
	MR_CHECK_OK(mr_search_index(srch, ACCT, first + 1, &d));
	MR_CHECK_EQ_INT(count("uniq101"), 0);
	MR_CHECK_EQ_INT(count("shared"), n - 1);
	/* a new batch group on top, then compaction across pages and chunks */
	MR_CHECK_OK(index_range(first, 1));
	MR_CHECK_OK(mr_search_optimize(srch, ACCT));
	MR_CHECK_OK(delta_stats(&s));
	MR_CHECK_EQ_INT(s.keys, 0);
	MR_CHECK_EQ_INT(count("shared"), n);
	MR_CHECK_EQ_INT(count("uniq100"), 1);
	MR_CHECK_EQ_INT(count("uniq101"), 0);
	MR_CHECK_EQ_INT(count("uniq1599"), 1);
	MR_CHECK_EQ_INT(count("fruit"), n);
	/* bitmaps only: remove from them */
	MR_CHECK_OK(mr_search_remove(srch, ACCT, first + 2));
	MR_CHECK_EQ_INT(count("shared"), n - 1);
	MR_CHECK_EQ_INT(count("uniq102"), 0);
}

/* Delta keys of one exact body term. */
static size_t term_deltas(const char *term)
{
	mr_key tk, dk;
	key_term(&tk, ACCT, MR_FIELD_BODY, NULL, KIND_EXACT, NULL, term, strlen(term), false);
	key_delta(&dk, mr_key_slice(&tk), 0);
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_slice_of(dk.buf, dk.len - 4), end, sizeof(end));
	mr_iter *it = NULL;
	size_t n = 0;
	if (mr_data_scan(data, &r, &it) < 0)
		return SIZE_MAX;
	mr_slice key, val;
	while (mr_iter_next(it, &key, &val) == 1)
		n++;
	mr_iter_free(it);
	return n;
}

static void fill_tier(uint32_t id, char *body, size_t cap, mr_search_doc *d)
{
	snprintf(body, cap, "tier tieruniq%u", id);
	*d = (mr_search_doc){.body = body, .language = "en", .size = 10};
}

static void test_search_builtin__automatic_compaction_is_tiered(void)
{
	/* A fresh handle; 1008 docs in groups of 16 pass the automatic
	 * compaction's 1000: "tier" (63 deltas) goes into its bitmap, each
	 * "tieruniqN" (one delta) stays a delta, and every count holds. */
	mr_search_close(srch);
	MR_CHECK_OK(mr_search_open_builtin(&srch, data));
	const uint32_t first = 20000, n = 1008;
	MR_CHECK_OK(index_batched(first, n, fill_tier));
	MR_CHECK_EQ_INT(term_deltas("tier"), 0);
	MR_CHECK_EQ_INT(term_deltas("tieruniq20000"), 1);
	MR_CHECK_EQ_INT(term_deltas("tieruniq21007"), 1);
	MR_CHECK_EQ_INT(count("tier"), n);
	MR_CHECK_EQ_INT(count("tieruniq20000"), 1);
	MR_CHECK_EQ_INT(count("tieruniq21007"), 1);
	MR_CHECK_EQ_INT(count("tieruniq*"), n);
	/* mr_search_optimize merges every delta */
	MR_CHECK_OK(mr_search_optimize(srch, ACCT));
	MR_CHECK_EQ_INT(term_deltas("tieruniq20000"), 0);
	MR_CHECK_EQ_INT(count("tieruniq20000"), 1);
	MR_CHECK_EQ_INT(count("tieruniq*"), n);
}

int main(void)
{
	char dir[] = "/tmp/mr-search-builtin-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char cfgtext[512];
	snprintf(cfgtext, sizeof(cfgtext), "[storage]\ndata = \"db\"\n[store.\"db\"]\ntype = \"rocksdb\"\npath = \"%s/data\"\n",
		 dir);
	mr_config *cfg = NULL;
	if (mr_config_parse(&cfg, cfgtext, strlen(cfgtext), "test.toml") < 0) {
		fprintf(stderr, "config: %s\n", mr_error_last()->message);
		return 1;
	}
	int rc = mr_data_open(&data, cfg, "db");
	if (rc == MR_ENOTSUPPORTED) {
		mr_config_free(cfg);
		MR_TEST_SKIP("built-in index keys: %s", mr_error_last()->message);
	}
	if (rc < 0 || mr_search_open_builtin(&srch, data) < 0) {
		fprintf(stderr, "open: %s\n", mr_error_last()->message);
		return 1;
	}
	MR_TEST_RUN(test_search_builtin__batch_writes_groups);
	MR_TEST_RUN(test_search_builtin__old_format_and_compaction_edges);
	MR_TEST_RUN(test_search_builtin__automatic_compaction_is_tiered);
	mr_search_close(srch);
	mr_data_close(data);
	mr_config_free(cfg);
	(void)mr_test_remove_tree(dir);
	MR_TEST_DONE();
}
