/*
 * conformance_memory.c — the in-memory store conformance suite, written
 * against include/mailroom/memory.h only, run unchanged per backend:
 *   local | redis | redis_cluster | redis_tls | valkey | datastore_*   (argv[1])
 *   down         a Redis URL on a closed port: errors within the timeout.
 *   tls_failure  wrong CA, missing client certificate, TLS against a
 *                plaintext port and plaintext against the TLS port: clear
 *                errors naming the store and address, within the timeout.
 * Concurrency uses 4 threads for local (it is in-process by design) and 4
 * forked processes, each opening its own handle, for server backends.
 * TTL checks use the injected clock where the backend has
 * MR_MEMORY_CAP_CLOCK, else short real TTLs with bounded polling.
 */
#include "harness.h"
#include "mailroom/memory.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The configuration needs a data store; this one is never opened. */
#define PRELUDE "[storage]\ndata = \"d\"\nlookup = \"mem\"\n[store.\"d\"]\ntype = \"rocksdb\"\npath = \"/nonexistent/mailroom-test\"\n"

static const char *backend;
static char cfg_text[2048];
static mr_memory *M;
static mr_memory_ns *R;
static _Atomic int64_t fake_now = 1700000000000;
static bool use_clock;

static int64_t clock_fn(void *payload)
{
	(void)payload;
	return atomic_load(&fake_now);
}

static void advance(uint64_t ms)
{
	if (use_clock)
		atomic_fetch_add(&fake_now, (int64_t)ms);
	else
		usleep((useconds_t)ms * 1000);
}

static int open_store(mr_memory **out)
{
	mr_config *cfg = NULL;
	int rc = mr_config_parse(&cfg, cfg_text, strlen(cfg_text), "conformance.toml");
	if (rc < 0)
		return rc;
	rc = mr_memory_open(out, cfg, "mem");
	mr_config_free(cfg);
	if (rc == 0 && (mr_memory_caps(*out) & MR_MEMORY_CAP_CLOCK))
		rc = mr_memory_set_clock(*out, clock_fn, NULL);
	return rc;
}

/* A unique prefix per run so server backends never see old keys. */
static char run_id[32];
static mr_slice K(const char *name)
{
	static _Thread_local char buf[8][128];
	static _Thread_local int i;
	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s:%s", run_id, name);
	return mr_slice_str(buf[i]);
}

static void test_basic(void)
{
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_RC(mr_memory_get(R, K("a"), &v), MR_ENOTFOUND);
	MR_CHECK_OK(mr_memory_set(R, K("a"), mr_slice_of("v\0x", 3), 0));
	MR_CHECK_OK(mr_memory_get(R, K("a"), &v));
	MR_CHECK(v.len == 3 && memcmp(v.ptr, "v\0x", 3) == 0);
	MR_CHECK_RC(mr_memory_set_if_absent(R, K("a"), mr_slice_str("w"), 0), MR_EEXISTS);
	MR_CHECK_OK(mr_memory_set_if_absent(R, K("b"), mr_slice_str(""), 0));
	MR_CHECK_OK(mr_memory_get(R, K("b"), &v));
	MR_CHECK_EQ_INT(v.len, 0);
	MR_CHECK_OK(mr_memory_delete(R, K("a")));
	MR_CHECK_RC(mr_memory_delete(R, K("a")), MR_ENOTFOUND);
	MR_CHECK_RC(mr_memory_expire(R, K("a"), 100), MR_ENOTFOUND);
	MR_CHECK_OK(mr_memory_delete(R, K("b")));
	MR_CHECK_RC(mr_memory_get(R, mr_slice_str(""), &v), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "store \"mem\"") != NULL);
	int64_t n;
	MR_CHECK_OK(mr_memory_set(R, K("s"), mr_slice_str("text"), 0));
	MR_CHECK_RC(mr_memory_incr(R, K("s"), 1, 0, &n), MR_EINVALID);
	MR_CHECK_OK(mr_memory_delete(R, K("s")));
	mr_buf_dispose(&v);
}

/* Waits (bounded) until key is gone; true if it went. */
static bool wait_gone(mr_slice key, int max_ms)
{
	mr_buf v = MR_BUF_INIT;
	bool gone = false;
	for (int t = 0; t <= max_ms; t += 20) {
		if (mr_memory_get(R, key, &v) == MR_ENOTFOUND) {
			gone = true;
			break;
		}
		usleep(20000);
	}
	mr_buf_dispose(&v);
	return gone;
}

static void test_ttl(void)
{
	mr_buf v = MR_BUF_INIT;
	uint64_t ttl = use_clock ? 1000 : 300;
	MR_CHECK_OK(mr_memory_set(R, K("t"), mr_slice_str("x"), ttl));
	MR_CHECK_OK(mr_memory_get(R, K("t"), &v));
	int64_t n;
	MR_CHECK_OK(mr_memory_incr(R, K("c"), 5, ttl, &n));
	MR_CHECK_OK(mr_memory_incr(R, K("c"), 5, 0, &n));
	MR_CHECK_EQ_INT(n, 10);
	MR_CHECK_OK(mr_memory_set(R, K("p"), mr_slice_str("x"), ttl));
	MR_CHECK_OK(mr_memory_expire(R, K("p"), 0)); /* persistent now */
	if (use_clock) {
		advance(999);
		MR_CHECK_OK(mr_memory_get(R, K("t"), &v));
		MR_CHECK_OK(mr_memory_get(R, K("c"), &v));
		advance(1);
		MR_CHECK_RC(mr_memory_get(R, K("t"), &v), MR_ENOTFOUND);
		MR_CHECK_RC(mr_memory_get(R, K("c"), &v), MR_ENOTFOUND);
	} else {
		MR_CHECK(wait_gone(K("t"), 5000));
		MR_CHECK(wait_gone(K("c"), 5000));
	}
	MR_CHECK_OK(mr_memory_get(R, K("p"), &v));
	MR_CHECK_OK(mr_memory_delete(R, K("p")));
	mr_buf_dispose(&v);
}

static void test_namespaces(void)
{
	mr_memory_ns *a, *b;
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_memory_ns_new(&a, M, "alpha"));
	MR_CHECK_OK(mr_memory_ns_new(&b, M, "beta"));
	MR_CHECK_OK(mr_memory_set(a, K("k"), mr_slice_str("A"), 0));
	MR_CHECK_OK(mr_memory_set(b, K("k"), mr_slice_str("B"), 0));
	MR_CHECK_RC(mr_memory_get(R, K("k"), &v), MR_ENOTFOUND);
	MR_CHECK_OK(mr_memory_get(a, K("k"), &v));
	MR_CHECK(v.len == 1 && v.ptr[0] == 'A');
	MR_CHECK_OK(mr_memory_get(b, K("k"), &v));
	MR_CHECK(v.len == 1 && v.ptr[0] == 'B');
	MR_CHECK_OK(mr_memory_delete(a, K("k")));
	MR_CHECK_OK(mr_memory_get(b, K("k"), &v));
	MR_CHECK_OK(mr_memory_delete(b, K("k")));
	mr_memory_ns_free(a);
	mr_memory_ns_free(b);
	mr_buf_dispose(&v);
}

static void test_pipeline(void)
{
	mr_memory_pipe *p;
	MR_CHECK_OK(mr_memory_pipe_new(&p, R));
	char name[16];
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "pl%d", i);
		MR_CHECK(mr_memory_pipe_set(p, K(name), mr_slice_str(name), 60000) == i);
	}
	MR_CHECK_OK(mr_memory_pipe_exec(p));
	for (int i = 0; i < 16; i++)
		MR_CHECK_OK(mr_memory_pipe_result(p, (size_t)i)->rc);
	mr_memory_pipe_reset(p);
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "pl%d", i);
		mr_memory_pipe_get(p, K(name));
	}
	mr_memory_pipe_get(p, K("pl-missing"));
	mr_memory_pipe_incr(p, K("plc"), 3, 60000);
	mr_memory_pipe_incr(p, K("plc"), 4, 60000);
	mr_memory_pipe_rate_check(p, K("plr"), 1, 60000);
	mr_memory_pipe_rate_check(p, K("plr"), 1, 60000);
	MR_CHECK_OK(mr_memory_pipe_exec(p));
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "pl%d", i);
		const mr_memory_pipe_res *r = mr_memory_pipe_result(p, (size_t)i);
		MR_CHECK_OK(r->rc);
		MR_CHECK(r->value.len == strlen(name) && memcmp(r->value.ptr, name, r->value.len) == 0);
	}
	MR_CHECK_RC(mr_memory_pipe_result(p, 16)->rc, MR_ENOTFOUND);
	MR_CHECK_EQ_INT(mr_memory_pipe_result(p, 18)->number, 7);
	MR_CHECK(mr_memory_pipe_result(p, 19)->rate.allowed);
	MR_CHECK(!mr_memory_pipe_result(p, 20)->rate.allowed);
	MR_CHECK(mr_memory_pipe_result(p, 20)->rate.retry_after_ms > 0);
	mr_memory_pipe_reset(p);
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "pl%d", i);
		mr_memory_pipe_delete(p, K(name));
	}
	MR_CHECK_OK(mr_memory_pipe_exec(p));
	MR_CHECK_OK(mr_memory_pipe_result(p, 15)->rc);
	mr_memory_pipe_free(p);
	mr_memory_delete(R, K("plc"));
	mr_memory_delete(R, K("plr"));
}

/* ---- concurrency: 4 workers (threads for local, processes otherwise) ---- */

typedef struct shared {
	_Atomic int holders, max_holders, admitted, errors;
} shared;
static shared *SH;
typedef void (*work_fn)(mr_memory_ns *ns, int id);

typedef struct thr_arg {
	work_fn fn;
	int id;
} thr_arg;

static void *thr_main(void *p)
{
	thr_arg *a = p;
	a->fn(R, a->id);
	return NULL;
}

static int run_workers(work_fn fn)
{
	if (!(mr_memory_caps(M) & MR_MEMORY_CAP_SHARED)) {
		pthread_t t[4];
		thr_arg a[4];
		for (int i = 0; i < 4; i++) {
			a[i] = (thr_arg){fn, i};
			pthread_create(&t[i], NULL, thr_main, &a[i]);
		}
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		return 0;
	}
	pid_t pids[4];
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			mr_memory *m;
			if (open_store(&m) < 0) {
				fprintf(stderr, "worker open: %s\n", mr_error_last()->message);
				_exit(1);
			}
			fn(mr_memory_root(m), i);
			mr_memory_close(m);
			_exit(0);
		}
	}
	int bad = 0;
	for (int i = 0; i < 4; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	return bad;
}

static int incr_n;
static void w_incr(mr_memory_ns *ns, int id)
{
	(void)id;
	for (int i = 0; i < incr_n; i++)
		if (mr_memory_incr(ns, K("ctr"), 1, 0, NULL) < 0)
			atomic_fetch_add(&SH->errors, 1);
}

static void test_counters_concurrent(void)
{
	memset(SH, 0, sizeof(*SH));
	incr_n = strcmp(backend, "local") == 0 ? 10000 : 2000;
	MR_CHECK_EQ_INT(run_workers(w_incr), 0);
	MR_CHECK_EQ_INT(SH->errors, 0);
	int64_t n;
	MR_CHECK_OK(mr_memory_incr(R, K("ctr"), 0, 0, &n));
	MR_CHECK_EQ_INT(n, 4 * incr_n);
	MR_CHECK_OK(mr_memory_delete(R, K("ctr")));
}

static void w_lock(mr_memory_ns *ns, int id)
{
	(void)id;
	for (int round = 0; round < 25; round++) {
		uint8_t tok[MR_MEMORY_TOKEN_LEN];
		int rc;
		int spins = 0;
		while ((rc = mr_memory_lock_acquire(ns, K("lock"), 10000, tok)) == MR_EEXISTS && spins++ < 100000)
			sched_yield();
		if (rc < 0) {
			atomic_fetch_add(&SH->errors, 1);
			return;
		}
		int h = atomic_fetch_add(&SH->holders, 1) + 1;
		int mx = atomic_load(&SH->max_holders);
		while (h > mx && !atomic_compare_exchange_weak(&SH->max_holders, &mx, h))
			;
		if (mr_memory_lock_renew(ns, K("lock"), tok, 10000) < 0)
			atomic_fetch_add(&SH->errors, 1);
		atomic_fetch_sub(&SH->holders, 1);
		if (mr_memory_lock_release(ns, K("lock"), tok) < 0)
			atomic_fetch_add(&SH->errors, 1);
	}
}

static void test_lock_exclusion(void)
{
	memset(SH, 0, sizeof(*SH));
	MR_CHECK_EQ_INT(run_workers(w_lock), 0);
	MR_CHECK_EQ_INT(SH->errors, 0);
	MR_CHECK_EQ_INT(SH->max_holders, 1);
}

static void test_lock_owner_and_crash(void)
{
	uint8_t t1[MR_MEMORY_TOKEN_LEN], t2[MR_MEMORY_TOKEN_LEN];
	uint64_t ttl = use_clock ? 5000 : 400;
	if (!use_clock) {
		/* a crashed holder: a child takes the lock and is SIGKILLed */
		pid_t pid = fork();
		if (pid == 0) {
			mr_memory *m;
			if (open_store(&m) < 0 || mr_memory_lock_acquire(mr_memory_root(m), K("cl"), ttl, t1) < 0)
				_exit(1);
			raise(SIGKILL);
		}
		int st;
		waitpid(pid, &st, 0);
		MR_CHECK(WIFSIGNALED(st));
	} else {
		MR_CHECK_OK(mr_memory_lock_acquire(R, K("cl"), ttl, t1));
	}
	MR_CHECK_RC(mr_memory_lock_acquire(R, K("cl"), ttl, t2), MR_EEXISTS);
	memset(t2, 0xAB, sizeof(t2));
	MR_CHECK_RC(mr_memory_lock_release(R, K("cl"), t2), MR_ENOTFOUND);
	MR_CHECK_RC(mr_memory_lock_renew(R, K("cl"), t2, ttl), MR_ENOTFOUND);
	if (use_clock) {
		advance(ttl - 1);
		MR_CHECK_RC(mr_memory_lock_acquire(R, K("cl"), ttl, t2), MR_EEXISTS);
		advance(1);
		MR_CHECK_OK(mr_memory_lock_acquire(R, K("cl"), ttl, t2));
	} else {
		int rc = MR_EEXISTS;
		for (int i = 0; i < 250 && rc == MR_EEXISTS; i++) {
			rc = mr_memory_lock_acquire(R, K("cl"), ttl, t2);
			if (rc == MR_EEXISTS)
				usleep(20000);
		}
		MR_CHECK_OK(rc);
	}
	MR_CHECK_OK(mr_memory_lock_release(R, K("cl"), t2));
	MR_CHECK_RC(mr_memory_lock_release(R, K("cl"), t2), MR_ENOTFOUND);
}

static void w_rate(mr_memory_ns *ns, int id)
{
	(void)id;
	for (int i = 0; i < 30; i++) {
		mr_rate_result r;
		if (mr_memory_rate_check(ns, K("rl"), 20, 3600000, &r) < 0)
			atomic_fetch_add(&SH->errors, 1);
		else if (r.allowed)
			atomic_fetch_add(&SH->admitted, 1);
		else if (r.retry_after_ms == 0)
			atomic_fetch_add(&SH->errors, 1);
	}
}

static void test_rate_concurrent(void)
{
	memset(SH, 0, sizeof(*SH));
	/* period 1 h, limit 20: one new allowance every 180 s, so exactly 20 pass */
	MR_CHECK_EQ_INT(run_workers(w_rate), 0);
	MR_CHECK_EQ_INT(SH->errors, 0);
	MR_CHECK_EQ_INT(SH->admitted, 20);
	mr_rate_result r;
	MR_CHECK_OK(mr_memory_rate_check(R, K("rl"), 20, 3600000, &r));
	MR_CHECK(!r.allowed);
	MR_CHECK(r.retry_after_ms > 170000 && r.retry_after_ms <= 180000);
	if (use_clock) {
		advance(r.retry_after_ms - 1);
		MR_CHECK_OK(mr_memory_rate_check(R, K("rl"), 20, 3600000, &r));
		MR_CHECK(!r.allowed);
		MR_CHECK_EQ_INT(r.retry_after_ms, 1);
		advance(1);
		MR_CHECK_OK(mr_memory_rate_check(R, K("rl"), 20, 3600000, &r));
		MR_CHECK(r.allowed);
		MR_CHECK_OK(mr_memory_rate_check(R, K("rl"), 20, 3600000, &r));
		MR_CHECK(!r.allowed);
		/* a full idle period refills all 20 */
		advance(3600000);
		int ok = 0;
		for (int i = 0; i < 25; i++) {
			MR_CHECK_OK(mr_memory_rate_check(R, K("rl"), 20, 3600000, &r));
			ok += r.allowed;
		}
		MR_CHECK_EQ_INT(ok, 20);
	}
	mr_memory_delete(R, K("rl"));
	/* uneven division: limit 3 per 1000 ms, exactly 3 at once */
	int ok = 0;
	for (int i = 0; i < 5; i++) {
		MR_CHECK_OK(mr_memory_rate_check(R, K("rl3"), 3, 100000, &r));
		ok += r.allowed;
	}
	MR_CHECK_EQ_INT(ok, 3);
	MR_CHECK_RC(mr_memory_rate_check(R, K("rl3"), 0, 1000, &r), MR_EINVALID);
	mr_memory_delete(R, K("rl3"));
}

/* Backends that cannot expire by themselves: purge removes expired rows only. */
static void test_purge(void)
{
	uint64_t removed = 0;
	MR_CHECK_OK(mr_memory_purge(M, &removed)); /* leftovers of earlier cases */
	MR_CHECK_OK(mr_memory_set(R, K("pg1"), mr_slice_str("x"), 1000));
	MR_CHECK_OK(mr_memory_set(R, K("pg2"), mr_slice_str("x"), 1000));
	MR_CHECK_OK(mr_memory_set(R, K("pg3"), mr_slice_str("x"), 0));
	MR_CHECK_OK(mr_memory_purge(M, &removed));
	MR_CHECK_EQ_INT(removed, 0);
	advance(1000);
	MR_CHECK_OK(mr_memory_purge(M, &removed));
	MR_CHECK_EQ_INT(removed, 2);
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_memory_get(R, K("pg3"), &v));
	MR_CHECK_OK(mr_memory_delete(R, K("pg3")));
	mr_buf_dispose(&v);
}

static void test_down(void)
{
	snprintf(cfg_text, sizeof(cfg_text),
		 PRELUDE "[store.\"mem\"]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:1\"\ntimeout = \"500ms\"\n");
	mr_memory *m = NULL;
	uint64_t t0 = (uint64_t)time(NULL);
	int rc = open_store(&m);
	if (rc == MR_ENOTSUPPORTED)
		MR_TEST_SKIP("redis backend not compiled: %s", mr_error_last()->message);
	if (rc == 0) {
		mr_buf v = MR_BUF_INIT;
		rc = mr_memory_get(mr_memory_root(m), mr_slice_str("k"), &v);
		mr_buf_dispose(&v);
		mr_memory_close(m);
	}
	MR_CHECK_RC(rc, MR_EUNAVAILABLE);
	MR_CHECK(strstr(mr_error_last()->message, "127.0.0.1:1") != NULL);
	MR_CHECK((uint64_t)time(NULL) - t0 < 5);
	/* a server that accepts connections but never answers: the timeout, not a hang */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	MR_CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 8) == 0);
	MR_CHECK(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(cfg_text, sizeof(cfg_text),
		 PRELUDE "[store.\"mem\"]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:%d\"\ntimeout = \"500ms\"\n",
		 ntohs(sa.sin_port));
	t0 = (uint64_t)time(NULL);
	rc = open_store(&m);
	if (rc == 0)
		mr_memory_close(m);
	close(lfd);
	MR_CHECK_RC(rc, MR_EUNAVAILABLE);
	printf("silent server: %s\n", mr_error_last()->message);
	MR_CHECK(strstr(mr_error_last()->message, "127.0.0.1:") != NULL);
	MR_CHECK((uint64_t)time(NULL) - t0 < 5);
	/* TLS settings without TLS: a configuration error naming the key, at open */
	snprintf(cfg_text, sizeof(cfg_text),
		 PRELUDE "[store.\"mem\"]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:1\"\ntls-ca-file = \"/x/ca.crt\"\n");
	MR_CHECK_RC(open_store(&m), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "tls-ca-file is set but TLS is off") != NULL);
}

/* ---- TLS failures (scripts/servers/redis-tls) ---- */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Opens a redis store from url and extra lines, then one get; returns the
 * first failure's code (0 if both worked); *ms = time taken. */
static int tls_try(const char *url, const char *extra, uint64_t *ms)
{
	snprintf(cfg_text, sizeof(cfg_text), PRELUDE "[store.\"mem\"]\ntype = \"redis\"\nurl = \"%s\"\ntimeout = \"1s\"\n%s",
		 url, extra);
	uint64_t t0 = mono_ms();
	mr_memory *m = NULL;
	int rc = open_store(&m);
	if (rc == 0) {
		mr_buf v = MR_BUF_INIT;
		rc = mr_memory_get(mr_memory_root(m), K("tls-probe"), &v);
		if (rc == MR_ENOTFOUND)
			rc = 0;
		mr_buf_dispose(&v);
		mr_memory_close(m);
	}
	*ms = mono_ms() - t0;
	printf("  %s -> %s: %s (%llu ms)\n", url, mr_error_code_name(rc), rc ? mr_error_last()->message : "ok",
	       (unsigned long long)*ms);
	return rc;
}

static bool msg_has(const char *s) { return strstr(mr_error_last()->message, s) != NULL; }

static void test_tls_failures(void)
{
	const char *url = getenv("MR_TEST_REDIS_TLS_URL"), *ca = getenv("MR_TEST_REDIS_TLS_CA");
	const char *cert = getenv("MR_TEST_REDIS_TLS_CERT"), *key = getenv("MR_TEST_REDIS_TLS_KEY");
	const char *wrong_ca = getenv("MR_TEST_REDIS_TLS_WRONG_CA"), *plain = getenv("MR_TEST_REDIS_URL");
	if (!url || !ca || !cert || !key || !wrong_ca)
		MR_TEST_SKIP("MR_TEST_REDIS_TLS_URL/_CA/_CERT/_KEY/_WRONG_CA are not set (scripts/servers/redis-tls start sets them)");
	const char *addr = strstr(url, "://") + 3; /* host:port */
	char extra[1024], plain_url[512];
	uint64_t ms;
	/* the right settings work (the control case the failures differ from) */
	snprintf(extra, sizeof(extra), "tls-ca-file = \"%s\"\ntls-cert-file = \"%s\"\ntls-key-file = \"%s\"\n", ca, cert,
		 key);
	if (tls_try(url, extra, &ms) == MR_ENOTSUPPORTED)
		MR_TEST_SKIP("this build has no TLS: %s", mr_error_last()->message);
	MR_CHECK_OK(tls_try(url, extra, &ms));
	/* wrong CA: certificate verification fails, naming store and address, within the timeout */
	snprintf(extra, sizeof(extra), "tls-ca-file = \"%s\"\ntls-cert-file = \"%s\"\ntls-key-file = \"%s\"\n",
		 wrong_ca, cert, key);
	MR_CHECK_RC(tls_try(url, extra, &ms), MR_EAUTH);
	MR_CHECK(msg_has("store \"mem\"") && msg_has(addr) && msg_has("certificate verification failed") &&
		 msg_has(wrong_ca));
	MR_CHECK(ms < 2000);
	/* wrong CA with verification off: connects (tests only) */
	snprintf(extra, sizeof(extra),
		 "tls-ca-file = \"%s\"\ntls-insecure-skip-verify = true\ntls-cert-file = \"%s\"\ntls-key-file = \"%s\"\n",
		 wrong_ca, cert, key);
	MR_CHECK_OK(tls_try(url, extra, &ms));
	/* no CA file: the system store does not know our test CA */
	snprintf(extra, sizeof(extra), "tls-cert-file = \"%s\"\ntls-key-file = \"%s\"\n", cert, key);
	MR_CHECK_RC(tls_try(url, extra, &ms), MR_EAUTH);
	MR_CHECK(msg_has("system CA store"));
	/* the server requires a client certificate: we present none */
	snprintf(extra, sizeof(extra), "tls-ca-file = \"%s\"\n", ca);
	MR_CHECK_RC(tls_try(url, extra, &ms), MR_EAUTH);
	MR_CHECK(msg_has(addr) && msg_has("client certificate"));
	MR_CHECK(ms < 2000);
	/* a host name instead of the IP: SNI and the DNS name in the certificate */
	char by_name[512];
	snprintf(by_name, sizeof(by_name), "rediss://localhost:%s", strrchr(addr, ':') + 1);
	snprintf(extra, sizeof(extra), "tls-ca-file = \"%s\"\ntls-cert-file = \"%s\"\ntls-key-file = \"%s\"\n", ca, cert,
		 key);
	MR_CHECK_OK(tls_try(by_name, extra, &ms));
	/* plaintext client to the TLS port: an error, no hang */
	snprintf(plain_url, sizeof(plain_url), "redis://%s", addr);
	MR_CHECK_RC(tls_try(plain_url, "", &ms), MR_EUNAVAILABLE);
	MR_CHECK(msg_has("store \"mem\"") && msg_has(addr) && msg_has("expects TLS"));
	MR_CHECK(ms < 2000);
	/* bad files: configuration errors naming the key and the path */
	snprintf(extra, sizeof(extra), "tls-ca-file = \"/nonexistent/ca.crt\"\n");
	MR_CHECK_RC(tls_try(url, extra, &ms), MR_EINVALID);
	MR_CHECK(msg_has("tls-ca-file") && msg_has("/nonexistent/ca.crt") && msg_has("No such file"));
	snprintf(extra, sizeof(extra), "tls-ca-file = \"%s\"\ntls-cert-file = \"%s\"\n", ca, cert);
	MR_CHECK_RC(tls_try(url, extra, &ms), MR_EINVALID);
	MR_CHECK(msg_has("tls-cert-file and tls-key-file"));
	snprintf(extra, sizeof(extra), "tls-ca-file = \"%s\"\ntls-cert-file = \"%s\"\ntls-key-file = \"%s\"\n", ca, ca,
		 key);
	MR_CHECK_RC(tls_try(url, extra, &ms), MR_EINVALID);
	MR_CHECK(msg_has("tls-key-file") && msg_has("mismatch"));
	/* TLS client to a plaintext port: an error, no hang */
	if (plain && *plain) {
		snprintf(plain_url, sizeof(plain_url), "rediss://%s", strstr(plain, "://") + 3);
		snprintf(extra, sizeof(extra), "tls-ca-file = \"%s\"\n", ca);
		MR_CHECK_RC(tls_try(plain_url, extra, &ms), MR_EUNAVAILABLE);
		MR_CHECK(msg_has("store \"mem\"") && msg_has(strstr(plain, "://") + 3) && msg_has("speaking TLS"));
		MR_CHECK(ms < 2000);
	} else {
		printf("  (MR_TEST_REDIS_URL unset: TLS against a plaintext port not checked)\n");
	}
	/* a server that accepts and never answers: the handshake times out */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	MR_CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 8) == 0);
	MR_CHECK(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(plain_url, sizeof(plain_url), "rediss://127.0.0.1:%d", ntohs(sa.sin_port));
	snprintf(extra, sizeof(extra), "tls-ca-file = \"%s\"\n", ca);
	MR_CHECK_RC(tls_try(plain_url, extra, &ms), MR_EUNAVAILABLE);
	MR_CHECK(msg_has("TLS handshake") && msg_has("timed out"));
	MR_CHECK(ms < 2000);
	close(lfd);
}

int main(int argc, char **argv)
{
	backend = argc > 1 ? argv[1] : "local";
	snprintf(run_id, sizeof(run_id), "t%d-%ld", (int)getpid(), (long)time(NULL));
	if (strcmp(backend, "down") == 0) {
		MR_TEST_RUN(test_down);
		MR_TEST_DONE();
	}
	if (strcmp(backend, "tls_failure") == 0) {
		MR_TEST_RUN(test_tls_failures);
		MR_TEST_DONE();
	}
	char tmpdir[] = "/tmp/mr-memory-ds.XXXXXX";
	bool rm_tmp = false;
	if (strcmp(backend, "local") == 0) {
		snprintf(cfg_text, sizeof(cfg_text), PRELUDE "[store.\"mem\"]\ntype = \"local\"\nshards = 8\n");
	} else if (strcmp(backend, "datastore_rocksdb") == 0) {
		if (!mkdtemp(tmpdir))
			return 1;
		rm_tmp = true;
		snprintf(cfg_text, sizeof(cfg_text), PRELUDE "[store.\"mem\"]\ntype = \"rocksdb\"\npath = \"%s/db\"\n", tmpdir);
	} else if (strcmp(backend, "datastore_sqlite") == 0) {
		if (!mkdtemp(tmpdir))
			return 1;
		rm_tmp = true;
		snprintf(cfg_text, sizeof(cfg_text), PRELUDE "[store.\"mem\"]\ntype = \"sqlite\"\npath = \"%s/mem.sqlite\"\n", tmpdir);
	} else if (strcmp(backend, "datastore_postgresql") == 0) {
		const char *url = getenv("MR_TEST_PG_URL");
		if (!url || !*url)
			MR_TEST_SKIP("MR_TEST_PG_URL is not set (scripts/servers/postgres start sets it)");
		snprintf(cfg_text, sizeof(cfg_text), PRELUDE "[store.\"mem\"]\ntype = \"postgresql\"\nurl = \"%s\"\n", url);
	} else {
		const char *var = strcmp(backend, "redis") == 0       ? "MR_TEST_REDIS_URL"
				  : strcmp(backend, "valkey") == 0    ? "MR_TEST_VALKEY_URL"
				  : strcmp(backend, "redis_tls") == 0 ? "MR_TEST_REDIS_TLS_URL"
								      : "MR_TEST_REDIS_CLUSTER_URLS";
		const char *url = getenv(var);
		if (!url || !*url)
			MR_TEST_SKIP("%s is not set (scripts/servers/%s start sets it)", var,
				     strcmp(backend, "valkey") == 0	 ? "valkey"
				     : strcmp(backend, "redis_tls") == 0 ? "redis-tls"
									 : "redis");
		if (strcmp(backend, "redis_cluster") == 0) {
			char list[1024] = "";
			char *dup = strdup(url), *save = NULL;
			for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"", *list ? ", " : "", t);
			free(dup);
			snprintf(cfg_text, sizeof(cfg_text),
				 PRELUDE "[store.\"mem\"]\ntype = \"redis\"\nredis-type = \"cluster\"\nurls = [%s]\ntimeout = \"2s\"\n",
				 list);
		} else {
			snprintf(cfg_text, sizeof(cfg_text), PRELUDE "[store.\"mem\"]\ntype = \"redis\"\nurl = \"%s\"\ntimeout = \"2s\"\n",
				 url);
		}
		/* TLS: the test CA and client certificate (the server requires one) */
		const char *tls_vars[3][2] = {{"tls-ca-file", "MR_TEST_REDIS_TLS_CA"},
					      {"tls-cert-file", "MR_TEST_REDIS_TLS_CERT"},
					      {"tls-key-file", "MR_TEST_REDIS_TLS_KEY"}};
		for (int i = 0; i < 3 && strcmp(backend, "redis_tls") == 0; i++) {
			const char *path = getenv(tls_vars[i][1]);
			if (!path || !*path)
				MR_TEST_SKIP("%s is not set (scripts/servers/redis-tls start sets it)", tls_vars[i][1]);
			snprintf(cfg_text + strlen(cfg_text), sizeof(cfg_text) - strlen(cfg_text), "%s = \"%s\"\n", tls_vars[i][0],
				 path);
		}
	}
	if (open_store(&M) < 0) {
		if (mr_error_last()->code == MR_ENOTSUPPORTED)
			MR_TEST_SKIP("%s", mr_error_last()->message);
		fprintf(stderr, "open: %s\n", mr_error_last()->message);
		return 1;
	}
	R = mr_memory_root(M);
	use_clock = (mr_memory_caps(M) & MR_MEMORY_CAP_CLOCK) != 0;
	if (use_clock)
		mr_memory_set_clock(M, clock_fn, NULL);
	SH = mmap(NULL, sizeof(*SH), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	MR_TEST_RUN(test_basic);
	MR_TEST_RUN(test_ttl);
	MR_TEST_RUN(test_namespaces);
	MR_TEST_RUN(test_pipeline);
	MR_TEST_RUN(test_counters_concurrent);
	MR_TEST_RUN(test_lock_exclusion);
	MR_TEST_RUN(test_lock_owner_and_crash);
	MR_TEST_RUN(test_rate_concurrent);
	if (mr_memory_caps(M) & MR_MEMORY_CAP_PURGE)
		MR_TEST_RUN(test_purge);
	munmap(SH, sizeof(*SH));
	mr_memory_close(M);
	if (rm_tmp) {
		(void)mr_test_remove_tree(tmpdir);
	}
	MR_TEST_DONE();
}
