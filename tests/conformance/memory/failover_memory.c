/*
 * failover_memory.c — Redis cluster failover through the in-memory store:
 * SIGKILL one master (pid file under $MR_TEST_REDIS_CLUSTER_DIR), then
 * keep operating on 100 keys spread over every slot range.  Errors while
 * the cluster fails over must be MR_EUNAVAILABLE/MR_EUNCERTAIN naming an
 * address; every key must work again within a bound (60 s); locks taken
 * before the kill are still held by their owner afterwards (a second owner
 * is refused).  Finally the killed node is restarted with
 * scripts/servers/redis start (argv[1]) and rejoins as a replica.
 */
#include "harness.h"
#include "mailroom/memory.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *script;
static mr_memory *M;
static char cfg_text[2048];

static void test_failover(void)
{
	const char *dir = getenv("MR_TEST_REDIS_CLUSTER_DIR");
	mr_memory_ns *r = mr_memory_root(M);
	char key[32];
	uint8_t tok[20][MR_MEMORY_TOKEN_LEN], other[MR_MEMORY_TOKEN_LEN];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "fo-%d", i);
		MR_CHECK_OK(mr_memory_set(r, mr_slice_str(key), mr_slice_str("v"), 600000));
	}
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "fo-lock-%d", i);
		mr_memory_lock_release(r, mr_slice_str(key), tok[i]); /* none yet: ENOTFOUND */
		MR_CHECK_OK(mr_memory_lock_acquire(r, mr_slice_str(key), 120000, tok[i]));
	}
	usleep(500000); /* let replicas catch up (replication is asynchronous) */
	/* the victim: the first node answering "master" to ROLE */
	int victim = 0;
	for (int port = 7101; port <= 7106 && !victim; port++) {
		char cmd[128], out[64] = "";
		snprintf(cmd, sizeof(cmd), "redis-cli -p %d role 2>/dev/null | head -1", port);
		FILE *f = popen(cmd, "r");
		if (f) {
			if (fgets(out, sizeof(out), f) && strncmp(out, "master", 6) == 0)
				victim = port;
			pclose(f);
		}
	}
	MR_CHECK(victim != 0);
	char path[1024];
	snprintf(path, sizeof(path), "%s/node%d/redis.pid", dir, victim);
	FILE *pf = fopen(path, "r");
	MR_CHECK(pf != NULL);
	int pid = 0;
	MR_CHECK(fscanf(pf, "%d", &pid) == 1);
	fclose(pf);
	printf("killing master on port %d (pid %d)\n", victim, pid);
	MR_CHECK(kill(pid, SIGKILL) == 0);

	time_t t0 = time(NULL);
	int errors = 0, bad_errors = 0;
	bool all_ok = false;
	while (!all_ok && time(NULL) - t0 < 60) {
		all_ok = true;
		for (int i = 0; i < 100; i++) {
			snprintf(key, sizeof(key), "fo-%d", i);
			mr_buf v = MR_BUF_INIT;
			int rc = mr_memory_get(r, mr_slice_str(key), &v);
			if (rc == 0)
				rc = mr_memory_incr(r, mr_slice_str("fo-ctr"), 1, 600000, NULL);
			mr_buf_dispose(&v);
			if (rc < 0) {
				all_ok = false;
				errors++;
				if ((rc != MR_EUNAVAILABLE && rc != MR_EUNCERTAIN) || !strstr(mr_error_last()->message, "127.0.0.1"))
					bad_errors++, fprintf(stderr, "unexpected: %s: %s\n", mr_error_code_name(rc), mr_error_last()->message);
				else if (errors == 1)
					printf("first error (expected while failing over): %s\n", mr_error_last()->message);
			}
		}
	}
	printf("operations resumed after %ld s, %d errors meanwhile\n", (long)(time(NULL) - t0), errors);
	MR_CHECK(all_ok);
	MR_CHECK_EQ_INT(bad_errors, 0);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "fo-lock-%d", i);
		MR_CHECK_RC(mr_memory_lock_acquire(r, mr_slice_str(key), 120000, other), MR_EEXISTS);
		MR_CHECK_OK(mr_memory_lock_renew(r, mr_slice_str(key), tok[i], 120000));
		MR_CHECK_OK(mr_memory_lock_release(r, mr_slice_str(key), tok[i]));
	}
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "fo-%d", i);
		MR_CHECK_OK(mr_memory_delete(r, mr_slice_str(key)));
	}
	mr_memory_delete(r, mr_slice_str("fo-ctr"));
}

static void restore(void)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "MR_RUN_DIR=\"$(dirname \"$MR_TEST_REDIS_CLUSTER_DIR\")\" %s start >/dev/null", script);
	int st = system(cmd);
	if (st != 0)
		fprintf(stderr, "restoring the cluster failed (%d); later cluster tests may fail\n", st);
}

int main(int argc, char **argv)
{
	script = argc > 1 ? argv[1] : "scripts/servers/redis";
	const char *urls = getenv("MR_TEST_REDIS_CLUSTER_URLS");
	if (!urls || !*urls || !getenv("MR_TEST_REDIS_CLUSTER_DIR"))
		MR_TEST_SKIP("MR_TEST_REDIS_CLUSTER_URLS / MR_TEST_REDIS_CLUSTER_DIR not set (scripts/servers/redis start sets them)");
	char list[1024] = "";
	char *dup = strdup(urls), *save = NULL;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"", *list ? ", " : "", t);
	free(dup);
	snprintf(cfg_text, sizeof(cfg_text),
		 "[storage]\ndata = \"d\"\n[store.\"d\"]\ntype = \"rocksdb\"\npath = \"/nonexistent\"\n"
		 "[store.\"mem\"]\ntype = \"redis\"\nredis-type = \"cluster\"\nurls = [%s]\ntimeout = \"2s\"\n",
		 list);
	mr_config *cfg;
	if (mr_config_parse(&cfg, cfg_text, strlen(cfg_text), "failover.toml") < 0 || mr_memory_open(&M, cfg, "mem") < 0) {
		if (mr_error_last()->code == MR_ENOTSUPPORTED)
			MR_TEST_SKIP("%s", mr_error_last()->message);
		fprintf(stderr, "open: %s\n", mr_error_last()->message);
		return 1;
	}
	mr_config_free(cfg);
	MR_TEST_RUN(test_failover);
	mr_memory_close(M);
	restore();
	MR_TEST_DONE();
}
