/*
 * conformance_data.c — the data-store contract, run unchanged against every
 * backend: `conformance_data <backend>`.  Only public headers are used.
 * Keys live under MR_SUBSPACE_TEST with a random per-run prefix; the suite
 * ends by checking it left nothing behind.
 */
#include "mailroom/data.h"
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#define MR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static char g_cfg[4096];
static char g_dir[256];
static mr_config *g_config;
static mr_data *g_d;
static uint8_t g_prefix[8];

static int open_store(mr_data **out) { return mr_data_open(out, g_config, "db"); }

/* key = TEST subspace, the run prefix, then the given bytes */
static mr_slice K(mr_key *k, const void *p, size_t n)
{
	mr_key_init(k, MR_SUBSPACE_TEST);
	mr_key_tail(k, g_prefix, sizeof(g_prefix));
	mr_key_tail(k, p, n);
	return mr_key_slice(k);
}

static mr_slice KS(mr_key *k, const char *s) { return K(k, s, strlen(s)); }

static int put(mr_data *d, mr_slice key, mr_slice value)
{
	mr_batch *b;
	int rc = mr_batch_new(&b, d);
	if (rc)
		return rc;
	rc = mr_batch_set(b, key, value);
	if (!rc)
		rc = mr_batch_commit(b);
	mr_batch_free(b);
	return rc;
}

/* Number of entries under the run prefix + sub. */
static int count_under(mr_data *d, const char *sub, unsigned flags, size_t *n)
{
	mr_key k;
	mr_slice p = KS(&k, sub);
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(p, end, sizeof(end));
	r.flags = flags;
	mr_iter *it;
	int rc = mr_data_scan(d, &r, &it);
	if (rc)
		return rc;
	mr_slice key, val;
	*n = 0;
	while ((rc = mr_iter_next(it, &key, &val)) == 1)
		(*n)++;
	mr_iter_free(it);
	return rc < 0 ? rc : 0;
}

/* Clears every value and counter under the run prefix + sub. */
static int clear_under(mr_data *d, const char *sub)
{
	for (int pass = 0; pass < 2; pass++) {
		mr_key k;
		mr_slice p = KS(&k, sub);
		uint8_t end[MR_DATA_MAX_KEY];
		mr_range r = mr_range_prefix(p, end, sizeof(end));
		r.flags = MR_SCAN_KEYS_ONLY | (pass ? MR_SCAN_COUNTERS : 0);
		mr_iter *it;
		int rc = mr_data_scan(d, &r, &it);
		if (rc)
			return rc;
		mr_batch *b;
		if ((rc = mr_batch_new(&b, d))) {
			mr_iter_free(it);
			return rc;
		}
		mr_slice key, val;
		while ((rc = mr_iter_next(it, &key, &val)) == 1) {
			if ((rc = mr_batch_clear(b, key)))
				break;
			if (mr_batch_count(b) >= 500) {
				if ((rc = mr_batch_commit(b)))
					break;
				mr_batch_reset(b);
			}
		}
		if (rc == 0)
			rc = mr_batch_commit(b);
		mr_batch_free(b);
		mr_iter_free(it);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- cases ---- */

static const struct {
	const char *p;
	size_t n;
} order_keys[] = {{"o", 1},     {"o\x00", 2}, {"o\x00\x00", 3}, {"o\x00\x01", 3}, {"o\x01", 2}, {"oa", 2},
		  {"oa\x00", 3}, {"oab", 3},  {"ob", 2},         {"o\x7f", 2},     {"o\x80", 2}, {"o\xfe", 2},
		  {"o\xff", 2},  {"o\xff\x00", 3}, {"o\xff\xff", 3}};

static void test_data__bytewise_order(void)
{
	/* insert in a scrambled order */
	size_t n = MR_ARRAY_LEN(order_keys);
	for (size_t i = 0; i < n; i++) {
		size_t j = (i * 7) % n;
		mr_key k;
		MR_CHECK_OK(put(g_d, K(&k, order_keys[j].p, order_keys[j].n), mr_slice_of(&j, sizeof(j))));
	}
	for (int rev = 0; rev < 2; rev++) {
		mr_key k;
		mr_slice p = KS(&k, "o");
		uint8_t end[MR_DATA_MAX_KEY];
		mr_range r = mr_range_prefix(p, end, sizeof(end));
		r.flags = rev ? MR_SCAN_REVERSE : 0;
		mr_iter *it;
		MR_CHECK_OK(mr_data_scan(g_d, &r, &it));
		mr_slice key, val;
		size_t i = 0;
		int rc;
		mr_slice prev = MR_SLICE_EMPTY;
		while ((rc = mr_iter_next(it, &key, &val)) == 1) {
			size_t want = rev ? n - 1 - i : i;
			mr_key w;
			bool ok = i < n && mr_slice_eq(key, K(&w, order_keys[want].p, order_keys[want].n));
			bool ordered = i == 0 || (rev ? mr_slice_cmp(key, prev) < 0 : mr_slice_cmp(key, prev) > 0);
			prev = key;
			i++;
			if (!ok || !ordered) {
				mr_iter_free(it);
				MR_CHECK(ok && ordered);
			}
		}
		mr_iter_free(it);
		MR_CHECK_EQ_INT(rc, 0);
		MR_CHECK_EQ_INT(i, n);
	}
	MR_CHECK_OK(clear_under(g_d, "o"));
}

static void test_data__values_empty_and_large(void)
{
	mr_key k;
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_RC(mr_data_get(g_d, KS(&k, "v-absent"), &v), MR_ENOTFOUND);
	MR_CHECK_OK(put(g_d, KS(&k, "v-empty"), MR_SLICE_EMPTY));
	MR_CHECK_OK(mr_data_get(g_d, KS(&k, "v-empty"), &v));
	MR_CHECK_EQ_INT(v.len, 0);

	size_t big = MR_DATA_MAX_VALUE;
	uint8_t *data = malloc(big + 1);
	MR_CHECK(data != NULL);
	for (size_t i = 0; i < big + 1; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	int rc = put(g_d, KS(&k, "v-big"), mr_slice_of(data, big));
	if (rc == 0)
		rc = mr_data_get(g_d, KS(&k, "v-big"), &v);
	bool same = rc == 0 && v.len == big && memcmp(v.ptr, data, big) == 0;
	mr_batch *b = NULL;
	int too_big = MR_ERROR;
	if (mr_batch_new(&b, g_d) == 0) {
		too_big = mr_batch_set(b, KS(&k, "v-too-big"), mr_slice_of(data, big + 1));
		if (too_big == MR_ELIMIT && (strstr(mr_error_last()->message, "exceeds the limit") == NULL))
			too_big = MR_ERROR;
		/* the sticky error is returned by commit too, and nothing is written */
		if (mr_batch_commit(b) != MR_ELIMIT)
			too_big = MR_ERROR;
	}
	mr_batch_free(b);
	free(data);
	mr_buf_dispose(&v);
	MR_CHECK_OK(rc);
	MR_CHECK(same);
	MR_CHECK_EQ_INT(too_big, MR_ELIMIT);
	MR_CHECK_RC(mr_data_get(g_d, KS(&k, "v-too-big"), &v), MR_ENOTFOUND);
	mr_buf_dispose(&v);
	/* an empty key and an oversized key are refused */
	MR_CHECK_RC(put(g_d, MR_SLICE_EMPTY, MR_SLICE_EMPTY), MR_EINVALID);
	uint8_t longkey[MR_DATA_MAX_KEY + 1];
	memset(longkey, 'k', sizeof(longkey));
	MR_CHECK_RC(put(g_d, mr_slice_of(longkey, sizeof(longkey)), MR_SLICE_EMPTY), MR_ELIMIT);
	MR_CHECK_OK(clear_under(g_d, "v-"));
}

static void test_data__batch_atomicity(void)
{
	mr_key ka, kb, kc;
	mr_buf v = MR_BUF_INIT;
	mr_batch *b;
	MR_CHECK_OK(mr_batch_new(&b, g_d));
	/* c is absent, so asserting it holds "x" fails: nothing applies */
	MR_CHECK_OK(mr_batch_set(b, KS(&ka, "a-a"), mr_slice_str("1")));
	MR_CHECK_OK(mr_batch_add(b, KS(&kb, "a-n"), 5));
	MR_CHECK_OK(mr_batch_assert_value(b, KS(&kc, "a-c"), mr_slice_str("x")));
	MR_CHECK_OK(mr_batch_set(b, KS(&kb, "a-b"), mr_slice_str("2")));
	int rc = mr_batch_commit(b);
	mr_batch_free(b);
	MR_CHECK_EQ_INT(rc, MR_ECONFLICT);
	MR_CHECK_RC(mr_data_get(g_d, KS(&ka, "a-a"), &v), MR_ENOTFOUND);
	MR_CHECK_RC(mr_data_get(g_d, KS(&kb, "a-b"), &v), MR_ENOTFOUND);
	int64_t n;
	MR_CHECK_OK(mr_data_get_counter(g_d, KS(&kb, "a-n"), &n));
	MR_CHECK_EQ_INT(n, 0);

	/* assert_absent holds → applies; then the same assertion fails */
	for (int round = 0; round < 2; round++) {
		MR_CHECK_OK(mr_batch_new(&b, g_d));
		MR_CHECK_OK(mr_batch_assert_absent(b, KS(&kc, "a-c")));
		MR_CHECK_OK(mr_batch_set(b, KS(&kc, "a-c"), mr_slice_str("x")));
		MR_CHECK_OK(mr_batch_add(b, KS(&kb, "a-n"), 5));
		rc = mr_batch_commit(b);
		mr_batch_free(b);
		MR_CHECK_EQ_INT(rc, round == 0 ? 0 : MR_ECONFLICT);
	}
	MR_CHECK_OK(mr_data_get_counter(g_d, KS(&kb, "a-n"), &n));
	MR_CHECK_EQ_INT(n, 5);
	/* assert_value with the right value applies; with an empty expected value
	 * it must not match a missing key */
	MR_CHECK_OK(mr_batch_new(&b, g_d));
	MR_CHECK_OK(mr_batch_assert_value(b, KS(&kc, "a-c"), mr_slice_str("x")));
	MR_CHECK_OK(mr_batch_set(b, KS(&kc, "a-c"), mr_slice_str("y")));
	rc = mr_batch_commit(b);
	mr_batch_free(b);
	MR_CHECK_OK(rc);
	MR_CHECK_OK(mr_batch_new(&b, g_d));
	MR_CHECK_OK(mr_batch_assert_value(b, KS(&kc, "a-missing"), MR_SLICE_EMPTY));
	MR_CHECK_OK(mr_batch_set(b, KS(&kc, "a-c"), mr_slice_str("z")));
	rc = mr_batch_commit(b);
	mr_batch_free(b);
	MR_CHECK_EQ_INT(rc, MR_ECONFLICT);
	MR_CHECK_OK(mr_data_get(g_d, KS(&kc, "a-c"), &v));
	MR_CHECK_EQ_STR(mr_buf_cstr(&v), "y");
	/* clear removes value and counter; counters add negative deltas exactly */
	MR_CHECK_OK(mr_data_add_and_get(g_d, KS(&kb, "a-n"), -7, &n));
	MR_CHECK_EQ_INT(n, -2);
	MR_CHECK_OK(mr_data_add_and_get(g_d, KS(&kb, "a-big"), INT64_MAX - 1, &n));
	MR_CHECK_OK(mr_data_add_and_get(g_d, KS(&kb, "a-big"), 1, &n));
	MR_CHECK_EQ_INT(n, INT64_MAX);
	mr_buf_dispose(&v);
	MR_CHECK_OK(clear_under(g_d, "a-"));
	size_t left;
	MR_CHECK_OK(count_under(g_d, "a-", MR_SCAN_COUNTERS, &left));
	MR_CHECK_EQ_INT(left, 0);
}

static void test_data__scans(void)
{
	/* 1300 keys: crosses the front's 512-entry pages */
	mr_batch *b;
	MR_CHECK_OK(mr_batch_new(&b, g_d));
	for (uint32_t i = 0; i < 1300; i++) {
		mr_key k;
		uint8_t be[5] = {'s', (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
		char val[16];
		snprintf(val, sizeof(val), "%u", i);
		MR_CHECK_OK(mr_batch_set(b, K(&k, be, 5), mr_slice_str(val)));
	}
	MR_CHECK_OK(mr_batch_commit(b));
	mr_batch_free(b);
	size_t n;
	MR_CHECK_OK(count_under(g_d, "s", 0, &n));
	MR_CHECK_EQ_INT(n, 1300);
	MR_CHECK_OK(count_under(g_d, "s", MR_SCAN_REVERSE | MR_SCAN_KEYS_ONLY, &n));
	MR_CHECK_EQ_INT(n, 1300);

	/* bounded: [100, 200) / (100, 200] / limits, both directions */
	struct {
		bool bex, einc;
		unsigned flags;
		size_t limit;
		uint32_t first, count;
	} cases[] = {
		{false, false, 0, 0, 100, 100},
		{true, false, 0, 0, 101, 99},
		{false, true, 0, 0, 100, 101},
		{true, true, 0, 0, 101, 100},
		{false, false, MR_SCAN_REVERSE, 0, 199, 100},
		{true, true, MR_SCAN_REVERSE, 0, 200, 100},
		{false, false, 0, 7, 100, 7},
		{false, true, MR_SCAN_REVERSE, 7, 200, 7},
		{false, false, MR_SCAN_KEYS_ONLY, 0, 100, 100},
	};
	for (size_t c = 0; c < MR_ARRAY_LEN(cases); c++) {
		mr_key kb, ke;
		uint8_t b1[5] = {'s', 0, 0, 0, 100}, b2[5] = {'s', 0, 0, 0, 200};
		mr_range r = {.begin = K(&kb, b1, 5),
			      .begin_exclusive = cases[c].bex,
			      .end = K(&ke, b2, 5),
			      .end_inclusive = cases[c].einc,
			      .flags = cases[c].flags,
			      .limit = cases[c].limit};
		mr_iter *it;
		MR_CHECK_OK(mr_data_scan(g_d, &r, &it));
		mr_slice key, val;
		uint32_t seen = 0, expect = cases[c].first;
		int rc;
		bool ok = true;
		while ((rc = mr_iter_next(it, &key, &val)) == 1) {
			uint32_t got = key.ptr[key.len - 1] | (uint32_t)key.ptr[key.len - 2] << 8;
			char want[16];
			snprintf(want, sizeof(want), "%u", got);
			if (got != expect)
				ok = false;
			if ((cases[c].flags & MR_SCAN_KEYS_ONLY) ? val.len != 0 : !mr_slice_eq(val, mr_slice_str(want)))
				ok = false;
			expect = (cases[c].flags & MR_SCAN_REVERSE) ? expect - 1 : expect + 1;
			seen++;
		}
		mr_iter_free(it);
		if (!ok || rc != 0 || seen != cases[c].count)
			fprintf(stderr, "  scan case %zu: ok=%d rc=%d seen=%u want=%u\n", c, ok, rc, seen, cases[c].count);
		MR_CHECK(ok && rc == 0 && seen == cases[c].count);
	}
	/* a page-crossing scan with a limit above the page size */
	mr_key kb;
	mr_range r = {.begin = KS(&kb, "s"), .limit = 1000};
	mr_iter *it;
	MR_CHECK_OK(mr_data_scan(g_d, &r, &it));
	mr_slice key, val;
	size_t seen = 0;
	while (mr_iter_next(it, &key, &val) == 1)
		seen++;
	mr_iter_free(it);
	MR_CHECK_EQ_INT(seen, 1000);
	MR_CHECK_OK(clear_under(g_d, "s"));
	MR_CHECK_OK(count_under(g_d, "s", 0, &n));
	MR_CHECK_EQ_INT(n, 0);
}

static void test_data__counter_scan(void)
{
	mr_key k;
	int64_t n;
	MR_CHECK_OK(mr_data_add_and_get(g_d, KS(&k, "c-1"), 10, &n));
	MR_CHECK_OK(mr_data_add_and_get(g_d, KS(&k, "c-2"), -3, &n));
	mr_slice p = KS(&k, "c-");
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(p, end, sizeof(end));
	r.flags = MR_SCAN_COUNTERS;
	mr_iter *it;
	MR_CHECK_OK(mr_data_scan(g_d, &r, &it));
	mr_slice key, val;
	int64_t sum = 0;
	size_t cnt = 0;
	while (mr_iter_next(it, &key, &val) == 1) {
		uint64_t u = 0;
		for (size_t i = 0; i < val.len && i < 8; i++)
			u = u << 8 | val.ptr[i];
		if (val.len == 8)
			sum += (int64_t)u;
		cnt++;
	}
	mr_iter_free(it);
	MR_CHECK_EQ_INT(cnt, 2);
	MR_CHECK_EQ_INT(sum, 7);
	size_t values;
	MR_CHECK_OK(count_under(g_d, "c-", 0, &values));
	MR_CHECK_EQ_INT(values, 0); /* counters are not values */
	MR_CHECK_OK(clear_under(g_d, "c-"));
}

/* ---- concurrency ---- */

#define INCREMENTS 10000
#define WORKERS 4

static void *incr_thread(void *arg)
{
	mr_data *d = arg;
	mr_key k;
	for (int i = 0; i < INCREMENTS; i++) {
		int64_t n;
		if (mr_data_add_and_get(d, KS(&k, "cnt"), 1, &n) != 0)
			return (void *)1;
	}
	return NULL;
}

typedef struct {
	mr_data *d;
	int commits;
	int failed;
} cas_arg;

static int cas_once(mr_data *d, void *payload)
{
	(void)payload;
	mr_key k;
	mr_buf v = MR_BUF_INIT;
	int rc = mr_data_get(d, KS(&k, "cas"), &v);
	if (rc) {
		mr_buf_dispose(&v);
		return rc;
	}
	long cur = strtol(mr_buf_cstr(&v), NULL, 10);
	char next[32];
	snprintf(next, sizeof(next), "%ld", cur + 1);
	mr_batch *b;
	if ((rc = mr_batch_new(&b, d)) == 0) {
		mr_batch_assert_value(b, KS(&k, "cas"), mr_buf_slice(&v));
		mr_batch_set(b, KS(&k, "cas"), mr_slice_str(next));
		rc = mr_batch_commit(b);
		mr_batch_free(b);
	}
	mr_buf_dispose(&v);
	return rc;
}

#define CAS_ROUNDS 150

static void *cas_thread(void *arg)
{
	cas_arg *a = arg;
	for (int i = 0; i < CAS_ROUNDS; i++) {
		int rc = mr_data_retry(a->d, cas_once, 1000, 1, 50, NULL);
		if (rc == 0)
			a->commits++;
		else
			a->failed++;
	}
	return NULL;
}

/* Runs fn in WORKERS processes (own handles) or threads (shared handle). */
static int run_workers(bool processes, void *(*fn)(void *), int *commits)
{
	*commits = 0;
	if (!processes) {
		pthread_t t[WORKERS];
		cas_arg args[WORKERS];
		int bad = 0;
		for (int i = 0; i < WORKERS; i++) {
			args[i] = (cas_arg){.d = g_d};
			pthread_create(&t[i], NULL, fn, fn == cas_thread ? (void *)&args[i] : (void *)g_d);
		}
		for (int i = 0; i < WORKERS; i++) {
			void *r;
			pthread_join(t[i], &r);
			bad += r != NULL || args[i].failed;
			*commits += args[i].commits;
		}
		return bad;
	}
	int pipes[WORKERS][2];
	pid_t pids[WORKERS];
	fflush(NULL);
	for (int i = 0; i < WORKERS; i++) {
		if (pipe(pipes[i]) != 0)
			return 1;
		pids[i] = fork();
		if (pids[i] == 0) {
			/* the parent's handle is not touched here: a fresh one per process */
			mr_data *d;
			int status = 1, c = 0;
			if (open_store(&d) == 0) {
				cas_arg a = {.d = d};
				void *r = fn(fn == cas_thread ? (void *)&a : (void *)d);
				status = r != NULL || a.failed;
				c = a.commits;
				mr_data_close(d);
			}
			if (write(pipes[i][1], &c, sizeof(c)) != sizeof(c))
				status = 1;
			_exit(status);
		}
		close(pipes[i][1]);
	}
	int bad = 0;
	for (int i = 0; i < WORKERS; i++) {
		int st, c = 0;
		if (read(pipes[i][0], &c, sizeof(c)) == sizeof(c))
			*commits += c;
		close(pipes[i][0]);
		waitpid(pids[i], &st, 0);
		bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	return bad;
}

static void test_data__concurrent_counters(void)
{
	bool procs = mr_data_caps(g_d) & MR_DATA_CAP_MULTI_PROCESS;
	printf("  counters: %d %s x %d increments\n", WORKERS, procs ? "processes" : "threads (backend is single-process)",
	       INCREMENTS);
	int commits;
	MR_CHECK_EQ_INT(run_workers(procs, incr_thread, &commits), 0);
	mr_key k;
	int64_t n;
	MR_CHECK_OK(mr_data_get_counter(g_d, KS(&k, "cnt"), &n));
	MR_CHECK_EQ_INT(n, WORKERS * INCREMENTS);
	MR_CHECK_OK(clear_under(g_d, "cnt"));
}

static void test_data__compare_and_set(void)
{
	bool procs = mr_data_caps(g_d) & MR_DATA_CAP_MULTI_PROCESS;
	mr_key k;
	MR_CHECK_OK(put(g_d, KS(&k, "cas"), mr_slice_str("0")));
	int commits;
	MR_CHECK_EQ_INT(run_workers(procs, cas_thread, &commits), 0);
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_data_get(g_d, KS(&k, "cas"), &v));
	long final = strtol(mr_buf_cstr(&v), NULL, 10);
	mr_buf_dispose(&v);
	printf("  compare-and-set: %d %s, %d commits, final value %ld\n", WORKERS, procs ? "processes" : "threads", commits,
	       final);
	/* every successful commit is visible, and no update was lost */
	MR_CHECK_EQ_INT(commits, WORKERS * CAS_ROUNDS);
	MR_CHECK_EQ_INT(final, commits);
	MR_CHECK_OK(clear_under(g_d, "cas"));
}

/* ---- durability ---- */

static void test_data__persistence(void)
{
	mr_key k;
	MR_CHECK_OK(put(g_d, KS(&k, "p-key"), mr_slice_str("survives")));
	int64_t n;
	MR_CHECK_OK(mr_data_add_and_get(g_d, KS(&k, "p-cnt"), 42, &n));
	mr_data_close(g_d);
	g_d = NULL;
	MR_CHECK_OK(open_store(&g_d));
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_data_get(g_d, KS(&k, "p-key"), &v));
	MR_CHECK_EQ_STR(mr_buf_cstr(&v), "survives");
	mr_buf_dispose(&v);
	MR_CHECK_OK(mr_data_get_counter(g_d, KS(&k, "p-cnt"), &n));
	MR_CHECK_EQ_INT(n, 42);
	MR_CHECK_OK(clear_under(g_d, "p-"));
}

/* MR_DURABLE_LAZY / MR_DURABLE_NONE relax durability only: atomic, their
 * assertions checked, visible at once to reads and to later assertions,
 * and kept across a clean close. */
static void test_data__relaxed_durability(void)
{
	static const mr_durability modes[] = {MR_DURABLE_LAZY, MR_DURABLE_NONE, MR_DURABLE_SYNC};
	mr_key k, k2;
	mr_buf v = MR_BUF_INIT;
	for (size_t i = 0; i < MR_ARRAY_LEN(modes); i++) {
		char a[16], bkey[16];
		snprintf(a, sizeof a, "rd-a%zu", i);
		snprintf(bkey, sizeof bkey, "rd-b%zu", i);
		mr_batch *b;
		MR_CHECK_OK(mr_batch_new(&b, g_d));
		/* absent -> set both keys atomically */
		MR_CHECK_OK(mr_batch_assert_absent(b, KS(&k, a)));
		MR_CHECK_OK(mr_batch_set(b, KS(&k, a), mr_slice_str("one")));
		MR_CHECK_OK(mr_batch_set(b, KS(&k2, bkey), mr_slice_str("two")));
		MR_CHECK_OK(mr_batch_commit_durability(b, modes[i]));
		mr_batch_reset(b);
		MR_CHECK_OK(mr_data_get(g_d, KS(&k, a), &v));
		MR_CHECK_EQ_STR(mr_buf_cstr(&v), "one");
		/* a later assertion sees it: absent fails, nothing applied */
		MR_CHECK_OK(mr_batch_assert_absent(b, KS(&k, a)));
		MR_CHECK_OK(mr_batch_set(b, KS(&k2, bkey), mr_slice_str("lost")));
		MR_CHECK_EQ_INT(mr_batch_commit_durability(b, modes[i]), MR_ECONFLICT);
		mr_batch_reset(b);
		MR_CHECK_OK(mr_data_get(g_d, KS(&k2, bkey), &v));
		MR_CHECK_EQ_STR(mr_buf_cstr(&v), "two");
		/* compare-and-set on the relaxed value */
		MR_CHECK_OK(mr_batch_assert_value(b, KS(&k, a), mr_slice_str("one")));
		MR_CHECK_OK(mr_batch_set(b, KS(&k, a), mr_slice_str("three")));
		MR_CHECK_OK(mr_batch_commit_durability(b, modes[i]));
		mr_batch_free(b);
	}
	{
		mr_batch *b;
		MR_CHECK_OK(mr_batch_new(&b, g_d));
		MR_CHECK_OK(mr_batch_set(b, KS(&k, "rd-x"), mr_slice_str("x")));
		MR_CHECK_EQ_INT(mr_batch_commit_durability(b, (mr_durability)7), MR_EINVALID);
		mr_batch_free(b);
		MR_CHECK_EQ_INT(mr_data_get(g_d, KS(&k, "rd-x"), &v), MR_ENOTFOUND);
	}
	/* a clean close keeps every mode's writes */
	mr_data_close(g_d);
	g_d = NULL;
	MR_CHECK_OK(open_store(&g_d));
	for (size_t i = 0; i < MR_ARRAY_LEN(modes); i++) {
		char a[16];
		snprintf(a, sizeof a, "rd-a%zu", i);
		MR_CHECK_OK(mr_data_get(g_d, KS(&k, a), &v));
		MR_CHECK_EQ_STR(mr_buf_cstr(&v), "three");
	}
	mr_buf_dispose(&v);
	MR_CHECK_OK(clear_under(g_d, "rd-"));
}

#define KILL_BATCH 50

static void test_data__sigkill_mid_batch(void)
{
	/* the store is closed here so that single-process backends can be
	 * opened by the child */
	mr_data_close(g_d);
	g_d = NULL;
	int ready[2];
	MR_CHECK(pipe(ready) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		mr_data *d;
		close(ready[0]);
		if (open_store(&d) != 0)
			_exit(3);
		for (uint32_t bn = 0;; bn++) {
			mr_batch *b;
			if (mr_batch_new(&b, d) != 0)
				_exit(4);
			for (uint32_t i = 0; i < KILL_BATCH; i++) {
				mr_key k;
				uint8_t kk[9] = {'k', (uint8_t)(bn >> 24), (uint8_t)(bn >> 16), (uint8_t)(bn >> 8), (uint8_t)bn,
						 0, 0, 0, (uint8_t)i};
				mr_batch_set(b, K(&k, kk, 9), mr_slice_str("payload-payload-payload"));
			}
			if (mr_batch_commit(b) != 0)
				_exit(5);
			mr_batch_free(b);
			if (bn == 3 && write(ready[1], "r", 1) != 1)
				_exit(6);
		}
	}
	close(ready[1]);
	char c;
	ssize_t got = read(ready[0], &c, 1); /* a few batches are in */
	close(ready[0]);
	usleep(150000 + (useconds_t)(time(NULL) % 4) * 50000);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	MR_CHECK(got == 1);
	MR_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	MR_CHECK_OK(open_store(&g_d));
	/* every batch number has 0 or KILL_BATCH keys */
	mr_key k;
	mr_slice p = KS(&k, "k");
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(p, end, sizeof(end));
	r.flags = MR_SCAN_KEYS_ONLY;
	mr_iter *it;
	MR_CHECK_OK(mr_data_scan(g_d, &r, &it));
	mr_slice key, val;
	uint32_t cur = UINT32_MAX, cnt = 0, batches = 0, torn = 0;
	while (mr_iter_next(it, &key, &val) == 1) {
		const uint8_t *q = key.ptr + key.len - 8;
		uint32_t bn = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
		if (bn != cur) {
			if (cur != UINT32_MAX) {
				batches++;
				torn += cnt != KILL_BATCH;
			}
			cur = bn;
			cnt = 0;
		}
		cnt++;
	}
	if (cur != UINT32_MAX) {
		batches++;
		torn += cnt != KILL_BATCH;
	}
	mr_iter_free(it);
	printf("  sigkill: %u whole batches found after the kill, %u torn\n", batches, torn);
	MR_CHECK(batches >= 4);
	MR_CHECK_EQ_INT(torn, 0);
	MR_CHECK_OK(clear_under(g_d, "k"));
}

static void test_data__nothing_left_behind(void)
{
	size_t n;
	MR_CHECK_OK(count_under(g_d, "", 0, &n));
	MR_CHECK_EQ_INT(n, 0);
	MR_CHECK_OK(count_under(g_d, "", MR_SCAN_COUNTERS, &n));
	MR_CHECK_EQ_INT(n, 0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: conformance_data rocksdb|sqlite|postgresql|mysql\n");
		return 2;
	}
	const char *backend = argv[1];
	int off = snprintf(g_cfg, sizeof(g_cfg), "[storage]\ndata = \"db\"\n\n[store.db]\ntype = \"%s\"\n", backend);
	if (strcmp(backend, "rocksdb") == 0 || strcmp(backend, "sqlite") == 0) {
		snprintf(g_dir, sizeof(g_dir), "/tmp/mr-conformance-data-XXXXXX");
		if (!mkdtemp(g_dir))
			return 1;
		/* sync = false: the suite checks semantics; a killed process loses
		 * nothing the OS already has, which is what the SIGKILL case checks */
		snprintf(g_cfg + off, sizeof(g_cfg) - (size_t)off, "path = \"%s/%s\"\nsync = false\n", g_dir,
			 strcmp(backend, "sqlite") == 0 ? "data.sqlite" : "rocksdb");
	} else {
		const char *var = strcmp(backend, "postgresql") == 0 ? "MR_TEST_PG_URL" : "MR_TEST_MYSQL_URL";
		const char *url = getenv(var);
		if (!url || !*url)
			MR_TEST_SKIP("%s not set (scripts/servers/%s start sets it)", var,
				     strcmp(backend, "postgresql") == 0 ? "postgres" : "mariadb");
		snprintf(g_cfg + off, sizeof(g_cfg) - (size_t)off, "url = \"%s\"\ntimeout = \"10s\"\n", url);
	}
	if (mr_config_parse(&g_config, g_cfg, strlen(g_cfg), "conformance.toml") != 0) {
		fprintf(stderr, "config: %s\n", mr_error_last()->message);
		return 1;
	}
	if (open_store(&g_d) != 0) {
		fprintf(stderr, "FAIL open %s: %s\n", backend, mr_error_last()->message);
		mr_config_free(g_config);
		return 1;
	}
	if (getrandom(g_prefix, sizeof(g_prefix), 0) != (ssize_t)sizeof(g_prefix))
		return 1;
	printf("data store conformance: backend %s\n", backend);
	MR_TEST_RUN(test_data__bytewise_order);
	MR_TEST_RUN(test_data__values_empty_and_large);
	MR_TEST_RUN(test_data__batch_atomicity);
	MR_TEST_RUN(test_data__scans);
	MR_TEST_RUN(test_data__counter_scan);
	MR_TEST_RUN(test_data__concurrent_counters);
	MR_TEST_RUN(test_data__compare_and_set);
	MR_TEST_RUN(test_data__persistence);
	MR_TEST_RUN(test_data__relaxed_durability);
	if (g_d)
		MR_TEST_RUN(test_data__sigkill_mid_batch);
	if (g_d)
		MR_TEST_RUN(test_data__nothing_left_behind);
	mr_data_close(g_d);
	mr_config_free(g_config);
	if (g_dir[0]) {
		(void)mr_test_remove_tree(g_dir);
	}
	printf("backend %s: ", backend);
	MR_TEST_DONE();
}
