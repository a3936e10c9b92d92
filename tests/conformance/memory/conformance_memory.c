/*
 * conformance_memory.c — the in-memory store contract, run unchanged against
 * every backend: `conformance_memory local|datastore_<data backend>`.
 * Public headers only.  Time is driven by an injected clock, so TTL and
 * rate-limit cases are exact and take no real time.
 */
#include "harness.h"
#include "mailroom/memory.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <unistd.h>

static char g_cfg[4096], g_dir[256];
static mr_config *g_config;
static mr_memory *g_m;
static _Atomic int64_t g_now = 1700000000000;
static char g_ns[32]; /* a fresh namespace per run: server stores are shared */
static bool g_local;

static int64_t test_clock(void *p)
{
	(void)p;
	return atomic_load(&g_now);
}

static mr_slice S(const char *s) { return mr_slice_str(s); }

static void test_memory__get_set_delete(void)
{
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_RC(mr_memory_get(g_m, g_ns, S("k1"), &v), MR_ENOTFOUND);
	MR_CHECK_OK(mr_memory_set(g_m, g_ns, S("k1"), S("hello"), 0));
	MR_CHECK_OK(mr_memory_get(g_m, g_ns, S("k1"), &v));
	MR_CHECK_EQ_STR(mr_buf_cstr(&v), "hello");
	MR_CHECK_OK(mr_memory_set(g_m, g_ns, S("k1"), S("a longer replacement value"), 0));
	MR_CHECK_OK(mr_memory_get(g_m, g_ns, S("k1"), &v));
	MR_CHECK_EQ_STR(mr_buf_cstr(&v), "a longer replacement value");
	MR_CHECK_OK(mr_memory_set(g_m, g_ns, S("empty"), MR_SLICE_EMPTY, 0));
	MR_CHECK_OK(mr_memory_get(g_m, g_ns, S("empty"), &v));
	MR_CHECK_EQ_INT(v.len, 0);
	bool d;
	MR_CHECK_OK(mr_memory_delete(g_m, g_ns, S("k1"), &d));
	MR_CHECK(d);
	MR_CHECK_OK(mr_memory_delete(g_m, g_ns, S("k1"), &d));
	MR_CHECK(!d);
	MR_CHECK_OK(mr_memory_delete(g_m, g_ns, S("empty"), &d));
	MR_CHECK_RC(mr_memory_get(g_m, g_ns, S("k1"), &v), MR_ENOTFOUND);
	MR_CHECK_RC(mr_memory_set(g_m, g_ns, MR_SLICE_EMPTY, S("x"), 0), MR_EINVALID);
	mr_buf_dispose(&v);
}

static void test_memory__namespaces_isolated(void)
{
	char other[40];
	snprintf(other, sizeof(other), "%s-other", g_ns);
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_memory_set(g_m, g_ns, S("shared"), S("one"), 0));
	MR_CHECK_OK(mr_memory_set(g_m, other, S("shared"), S("two"), 0));
	MR_CHECK_OK(mr_memory_get(g_m, g_ns, S("shared"), &v));
	MR_CHECK_EQ_STR(mr_buf_cstr(&v), "one");
	MR_CHECK_OK(mr_memory_get(g_m, other, S("shared"), &v));
	MR_CHECK_EQ_STR(mr_buf_cstr(&v), "two");
	bool d;
	MR_CHECK_OK(mr_memory_delete(g_m, other, S("shared"), &d));
	MR_CHECK_OK(mr_memory_get(g_m, g_ns, S("shared"), &v));
	MR_CHECK_OK(mr_memory_delete(g_m, g_ns, S("shared"), &d));
	mr_buf_dispose(&v);
}

static void test_memory__ttl_expiry(void)
{
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_memory_set(g_m, g_ns, S("t"), S("x"), 1000));
	atomic_fetch_add(&g_now, 999);
	MR_CHECK_OK(mr_memory_get(g_m, g_ns, S("t"), &v));
	atomic_fetch_add(&g_now, 1);
	MR_CHECK_RC(mr_memory_get(g_m, g_ns, S("t"), &v), MR_ENOTFOUND);
	/* set_if_absent sees an expired key as absent */
	bool stored;
	MR_CHECK_OK(mr_memory_set_if_absent(g_m, g_ns, S("t"), S("y"), 500, &stored));
	MR_CHECK(stored);
	MR_CHECK_OK(mr_memory_set_if_absent(g_m, g_ns, S("t"), S("z"), 500, &stored));
	MR_CHECK(!stored);
	MR_CHECK_OK(mr_memory_get(g_m, g_ns, S("t"), &v));
	MR_CHECK_EQ_STR(mr_buf_cstr(&v), "y");
	/* expire extends; on an absent key it is ENOTFOUND */
	MR_CHECK_OK(mr_memory_expire(g_m, g_ns, S("t"), 2000));
	atomic_fetch_add(&g_now, 1500);
	MR_CHECK_OK(mr_memory_get(g_m, g_ns, S("t"), &v));
	atomic_fetch_add(&g_now, 500);
	MR_CHECK_RC(mr_memory_get(g_m, g_ns, S("t"), &v), MR_ENOTFOUND);
	MR_CHECK_RC(mr_memory_expire(g_m, g_ns, S("t"), 100), MR_ENOTFOUND);
	/* no TTL: never expires */
	MR_CHECK_OK(mr_memory_set(g_m, g_ns, S("forever"), S("x"), 0));
	atomic_fetch_add(&g_now, 86400000LL * 365);
	MR_CHECK_OK(mr_memory_get(g_m, g_ns, S("forever"), &v));
	bool d;
	MR_CHECK_OK(mr_memory_delete(g_m, g_ns, S("forever"), &d));
	/* purge removes what expired */
	MR_CHECK_OK(mr_memory_set(g_m, g_ns, S("p1"), S("x"), 10));
	MR_CHECK_OK(mr_memory_set(g_m, g_ns, S("p2"), S("x"), 10));
	atomic_fetch_add(&g_now, 11);
	size_t removed = 0;
	MR_CHECK_OK(mr_memory_purge(g_m, &removed));
	MR_CHECK(removed >= 2);
	mr_buf_dispose(&v);
}

static void test_memory__incr(void)
{
	int64_t n;
	MR_CHECK_OK(mr_memory_incr(g_m, g_ns, S("c"), 5, 1000, &n));
	MR_CHECK_EQ_INT(n, 5);
	atomic_fetch_add(&g_now, 600);
	MR_CHECK_OK(mr_memory_incr(g_m, g_ns, S("c"), -2, 1000, &n)); /* TTL not reset */
	MR_CHECK_EQ_INT(n, 3);
	atomic_fetch_add(&g_now, 400);
	MR_CHECK_OK(mr_memory_incr(g_m, g_ns, S("c"), 1, 0, &n)); /* expired: starts again */
	MR_CHECK_EQ_INT(n, 1);
	MR_CHECK_OK(mr_memory_set(g_m, g_ns, S("notnum"), S("abc"), 0));
	MR_CHECK_RC(mr_memory_incr(g_m, g_ns, S("notnum"), 1, 0, &n), MR_EINVALID);
	bool d;
	MR_CHECK_OK(mr_memory_delete(g_m, g_ns, S("notnum"), &d));
	MR_CHECK_OK(mr_memory_delete(g_m, g_ns, S("c"), &d));
}

#define THREADS 4
#define INCRS 2000

static void *incr_thread(void *p)
{
	(void)p;
	for (int i = 0; i < INCRS; i++) {
		int64_t n;
		if (mr_memory_incr(g_m, g_ns, S("cc"), 1, 0, &n))
			return (void *)1;
	}
	return NULL;
}

static void test_memory__concurrent_counters(void)
{
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, incr_thread, NULL);
	int bad = 0;
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	MR_CHECK_EQ_INT(bad, 0);
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_memory_get(g_m, g_ns, S("cc"), &v));
	printf("  counters: %d threads x %d increments -> %s\n", THREADS, INCRS, mr_buf_cstr(&v));
	MR_CHECK_EQ_INT(strtoll(mr_buf_cstr(&v), NULL, 10), THREADS * INCRS);
	mr_buf_dispose(&v);
	bool d;
	MR_CHECK_OK(mr_memory_delete(g_m, g_ns, S("cc"), &d));
}

static void test_memory__locks(void)
{
	char name[64];
	snprintf(name, sizeof(name), "%s-lock", g_ns);
	mr_lock_token a, b;
	MR_CHECK_OK(mr_memory_lock_acquire(g_m, name, 1000, &a));
	MR_CHECK_RC(mr_memory_lock_acquire(g_m, name, 1000, &b), MR_EEXISTS);
	/* only the owner renews or releases */
	MR_CHECK_RC(mr_memory_lock_renew(g_m, name, &b, 1000), MR_ENOTFOUND);
	MR_CHECK_RC(mr_memory_lock_release(g_m, name, &b), MR_ENOTFOUND);
	atomic_fetch_add(&g_now, 900);
	MR_CHECK_OK(mr_memory_lock_renew(g_m, name, &a, 1000));
	atomic_fetch_add(&g_now, 900); /* alive thanks to the renewal */
	MR_CHECK_RC(mr_memory_lock_acquire(g_m, name, 1000, &b), MR_EEXISTS);
	MR_CHECK_OK(mr_memory_lock_release(g_m, name, &a));
	MR_CHECK_OK(mr_memory_lock_acquire(g_m, name, 1000, &b));
	/* a crashed holder: never released, frees at its TTL */
	atomic_fetch_add(&g_now, 1000);
	MR_CHECK_OK(mr_memory_lock_acquire(g_m, name, 1000, &a));
	MR_CHECK_RC(mr_memory_lock_release(g_m, name, &b), MR_ENOTFOUND); /* the old owner lost it */
	MR_CHECK_OK(mr_memory_lock_release(g_m, name, &a));
}

static atomic_int g_holders, g_max_holders, g_acquired;

static void *lock_thread(void *p)
{
	const char *name = p;
	for (int i = 0; i < 150; i++) {
		mr_lock_token t;
		int rc = mr_memory_lock_acquire(g_m, name, 60000, &t);
		if (rc == MR_EEXISTS)
			continue;
		if (rc)
			return (void *)1;
		int h = atomic_fetch_add(&g_holders, 1) + 1;
		int m = atomic_load(&g_max_holders);
		while (h > m && !atomic_compare_exchange_weak(&g_max_holders, &m, h))
			;
		atomic_fetch_add(&g_acquired, 1);
		usleep(50);
		atomic_fetch_sub(&g_holders, 1);
		if (mr_memory_lock_release(g_m, name, &t))
			return (void *)1;
	}
	return NULL;
}

static void test_memory__lock_mutual_exclusion(void)
{
	char name[64];
	snprintf(name, sizeof(name), "%s-mutex", g_ns);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, lock_thread, name);
	int bad = 0;
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	printf("  locks: %d acquisitions under contention, at most %d holder(s) at once\n", atomic_load(&g_acquired),
	       atomic_load(&g_max_holders));
	MR_CHECK_EQ_INT(bad, 0);
	MR_CHECK(atomic_load(&g_acquired) > 0);
	MR_CHECK_EQ_INT(atomic_load(&g_max_holders), 1);
}

static atomic_int g_allowed;

static void *rate_thread(void *p)
{
	(void)p;
	for (int i = 0; i < 50; i++) {
		bool ok;
		uint64_t retry;
		if (mr_memory_rate_check(g_m, g_ns, S("rate"), 37, 60000, &ok, &retry))
			return (void *)1;
		if (ok)
			atomic_fetch_add(&g_allowed, 1);
		else if (retry == 0)
			return (void *)2;
	}
	return NULL;
}

static void test_memory__rate_limit(void)
{
	/* at one instant, exactly `limit` of 200 concurrent checks pass */
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, rate_thread, NULL);
	int bad = 0;
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	printf("  rate: %d of %d checks allowed at one instant (limit 37)\n", atomic_load(&g_allowed), THREADS * 50);
	MR_CHECK_EQ_INT(bad, 0);
	MR_CHECK_EQ_INT(atomic_load(&g_allowed), 37);
	/* then one more per emission interval (60000/37 rounded up = 1622 ms) */
	bool ok;
	uint64_t retry;
	MR_CHECK_OK(mr_memory_rate_check(g_m, g_ns, S("rate"), 37, 60000, &ok, &retry));
	MR_CHECK(!ok);
	MR_CHECK_EQ_INT(retry, 1622);
	atomic_fetch_add(&g_now, (int64_t)retry);
	MR_CHECK_OK(mr_memory_rate_check(g_m, g_ns, S("rate"), 37, 60000, &ok, &retry));
	MR_CHECK(ok);
	MR_CHECK_OK(mr_memory_rate_check(g_m, g_ns, S("rate"), 37, 60000, &ok, &retry));
	MR_CHECK(!ok);
	/* a full idle period restores the whole burst */
	atomic_fetch_add(&g_now, 60000 + 1622);
	int n = 0;
	for (int i = 0; i < 100; i++) {
		MR_CHECK_OK(mr_memory_rate_check(g_m, g_ns, S("rate"), 37, 60000, &ok, &retry));
		n += ok;
	}
	MR_CHECK_EQ_INT(n, 37);
	bool d;
	MR_CHECK_OK(mr_memory_delete(g_m, g_ns, S("rate"), &d));
}

static void test_memory__local_bound(void)
{
	if (!g_local)
		return;
	/* a separate small store: 64 KiB over 1 shard, at most 100 keys */
	const char *text = "[storage]\ndata = \"d\"\nlookup = \"m\"\n[store.d]\ntype = \"sqlite\"\npath = \"/nonexistent/unused\"\n"
			   "[store.m]\ntype = \"local\"\nmax-memory = \"64KiB\"\nmax-keys = 100\nshards = 1\n";
	mr_config *c;
	mr_memory *m;
	MR_CHECK_OK(mr_config_parse(&c, text, strlen(text), "bound.toml") == 0 ? 0 : mr_error_last()->code);
	int rc = mr_memory_open(&m, c, "m");
	if (rc)
		mr_config_free(c);
	MR_CHECK_OK(rc);
	char key[32], val[600];
	memset(val, 'v', sizeof(val));
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		rc = mr_memory_set(m, "b", S(key), mr_slice_of(val, sizeof(val)), 0);
		if (rc)
			break;
	}
	/* the newest key is there, the oldest were evicted, at most 100 remain */
	mr_buf v = MR_BUF_INIT;
	int present = 0;
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		present += mr_memory_get(m, "b", S(key), &v) == 0;
	}
	int last = mr_memory_get(m, "b", S("k999"), &v);
	int first = mr_memory_get(m, "b", S("k0"), &v);
	/* one value larger than the whole bound is refused */
	static char huge[70000];
	int too_big = mr_memory_set(m, "b", S("huge"), mr_slice_of(huge, sizeof(huge)), 0);
	mr_buf_dispose(&v);
	mr_memory_close(m);
	mr_config_free(c);
	printf("  bound: %d of 1000 keys kept (max-keys 100, max-memory 64KiB)\n", present);
	MR_CHECK_OK(rc);
	MR_CHECK(present > 0 && present <= 100);
	MR_CHECK_OK(last);
	MR_CHECK_EQ_INT(first, MR_ENOTFOUND);
	MR_CHECK_EQ_INT(too_big, MR_ELIMIT);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: conformance_memory local|datastore_<rocksdb|sqlite|postgresql|mysql>\n");
		return 2;
	}
	const char *b = argv[1];
	int off = snprintf(g_cfg, sizeof(g_cfg), "[storage]\ndata = \"m\"\nlookup = \"m\"\n[store.m]\n");
	snprintf(g_dir, sizeof(g_dir), "/tmp/mr-conformance-memory-XXXXXX");
	if (!mkdtemp(g_dir))
		return 1;
	if (strcmp(b, "local") == 0) {
		g_local = true;
		/* the data role must name a data store; it is never opened here */
		snprintf(g_cfg, sizeof(g_cfg), "[storage]\ndata = \"d\"\nlookup = \"m\"\n[store.d]\ntype = \"sqlite\"\n"
			 "path = \"%s/unused.sqlite\"\n[store.m]\ntype = \"local\"\n", g_dir);
	} else if (strcmp(b, "datastore_rocksdb") == 0 || strcmp(b, "datastore_sqlite") == 0) {
		bool r = strcmp(b, "datastore_rocksdb") == 0;
		snprintf(g_cfg + off, sizeof(g_cfg) - (size_t)off, "type = \"%s\"\npath = \"%s/%s\"\nsync = false\n",
			 r ? "rocksdb" : "sqlite", g_dir, r ? "rocksdb" : "db.sqlite");
	} else if (strcmp(b, "datastore_postgresql") == 0 || strcmp(b, "datastore_mysql") == 0) {
		bool pg = strcmp(b, "datastore_postgresql") == 0;
		const char *url = getenv(pg ? "MR_TEST_PG_URL" : "MR_TEST_MYSQL_URL");
		rmdir(g_dir);
		if (!url || !*url)
			MR_TEST_SKIP("%s not set (scripts/servers/%s start sets it)", pg ? "MR_TEST_PG_URL" : "MR_TEST_MYSQL_URL",
				     pg ? "postgres" : "mariadb");
		g_dir[0] = 0;
		snprintf(g_cfg + off, sizeof(g_cfg) - (size_t)off, "type = \"%s\"\nurl = \"%s\"\n", pg ? "postgresql" : "mysql", url);
	} else {
		fprintf(stderr, "unknown backend %s\n", b);
		return 2;
	}
	uint32_t r;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		return 1;
	snprintf(g_ns, sizeof(g_ns), "t%08x", r);
	if (mr_config_parse(&g_config, g_cfg, strlen(g_cfg), "conformance.toml") || mr_memory_open(&g_m, g_config, "m")) {
		fprintf(stderr, "FAIL open %s: %s\n", b, mr_error_last()->message);
		return 1;
	}
	mr_memory_set_clock(g_m, test_clock, NULL);
	printf("in-memory store conformance: backend %s (%s)\n", b, mr_memory_backend_name(g_m));
	MR_TEST_RUN(test_memory__get_set_delete);
	MR_TEST_RUN(test_memory__namespaces_isolated);
	MR_TEST_RUN(test_memory__ttl_expiry);
	MR_TEST_RUN(test_memory__incr);
	MR_TEST_RUN(test_memory__concurrent_counters);
	MR_TEST_RUN(test_memory__locks);
	MR_TEST_RUN(test_memory__lock_mutual_exclusion);
	MR_TEST_RUN(test_memory__rate_limit);
	MR_TEST_RUN(test_memory__local_bound);
	size_t removed;
	mr_memory_purge(g_m, &removed);
	mr_memory_close(g_m);
	mr_config_free(g_config);
	if (g_dir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", g_dir);
	}
	printf("backend %s: ", b);
	MR_TEST_DONE();
}
