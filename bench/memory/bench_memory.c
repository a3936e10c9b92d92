/*
 * bench_memory.c — in-memory store throughput, one JSON object per line:
 * rate checks, gets, sets, incrs per second through mailroom, single ops
 * and pipelined (depth 16), one client thread.  For a Redis/Valkey URL it
 * also runs `redis-benchmark -t get,set,incr -c 1 -P <depth>` against the
 * same server in the same run and prints mailroom/redis-benchmark ratios.
 *   bench_memory local [N]
 *   bench_memory rocksdb DIR [N]    (the data-store backend on a RocksDB in DIR)
 *   bench_memory redis URL [N]      (URL redis://host:port or rediss://host:port)
 *   bench_memory redis-cluster URL,URL,... [N]  (redis-benchmark --cluster beside it)
 * For rediss:// (TLS) the CA, client certificate and key come from
 * MR_TEST_REDIS_TLS_CA, _CERT and _KEY (scripts/servers/redis-tls sets
 * them) and go to both mailroom and `redis-benchmark --tls`.
 * Each figure: median of 3 runs, with min and max; with a server, mailroom
 * and redis-benchmark alternate run by run and "ratio" is the median (with
 * min and max) of the three per-pair ratios.  MR_BENCH_OPS=rate_check,get
 * runs only the named ops.
 */
#include "mailroom/memory.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static mr_memory_ns *R;
static long N;
static char tls_args[1536]; /* redis-benchmark's TLS options (or --cluster), "" for plain */
enum { OP_RATE, OP_GET, OP_SET, OP_INCR };
static const char *const op_names[] = {"rate_check", "get", "set", "incr"};

/* Rate checks as a server makes them: 1,000,000 per hour per key, so every
 * check in the run is allowed and each key's state stays live (a limit
 * near the op rate would make every key expire and be re-created between
 * visits, which measures malloc rather than the limiter). */
#define RATE_LIMIT 1000000
#define RATE_PERIOD_MS 3600000

/* The 1024 keys of each op, formatted before any timing (as redis-benchmark
 * does with -r): the loops measure the store, not snprintf. */
enum { NKEYS = 1024 };
static char keys[4][NKEYS][24];
static size_t key_lens[4][NKEYS];

/* For a cluster the keys share one hash tag, as redis-benchmark --cluster's
 * do (each of its clients works one master): a pipeline goes to one node. */
static void make_keys(bool cluster)
{
	for (int op = 0; op < 4; op++)
		for (int i = 0; i < NKEYS; i++)
			key_lens[op][i] = (size_t)snprintf(keys[op][i], sizeof(keys[op][i]),
							   cluster ? "{bench}:%d:%d" : "bench:%d:%d",
							   op == OP_GET ? OP_SET : op, i);
}

static mr_slice key_of(int op, long i)
{
	return mr_slice_of(keys[op][i & (NKEYS - 1)], key_lens[op][i & (NKEYS - 1)]);
}

static double run_single(int op)
{
	mr_buf v = MR_BUF_INIT;
	mr_rate_result rr;
	double t0 = now_s();
	for (long i = 0; i < N; i++) {
		mr_slice k = key_of(op, i);
		int rc = 0;
		switch (op) {
		case OP_RATE: rc = mr_memory_rate_check(R, k, RATE_LIMIT, RATE_PERIOD_MS, &rr); break;
		case OP_GET: rc = mr_memory_get(R, k, &v); break;
		case OP_SET: rc = mr_memory_set(R, k, mr_slice_of("xxx", 3), 0); break;
		case OP_INCR: rc = mr_memory_incr(R, k, 1, 0, NULL); break;
		}
		if (rc < 0 && rc != MR_ENOTFOUND) {
			fprintf(stderr, "%s: %s\n", op_names[op], mr_error_last()->message);
			exit(1);
		}
	}
	double t = now_s() - t0;
	mr_buf_dispose(&v);
	return (double)N / t;
}

static double run_pipe(int op, int depth)
{
	mr_memory_pipe *p;
	if (mr_memory_pipe_new(&p, R) < 0)
		exit(1);
	double t0 = now_s();
	for (long i = 0; i < N; i += depth) {
		for (int j = 0; j < depth; j++) {
			mr_slice k = key_of(op, i + j);
			switch (op) {
			case OP_RATE: mr_memory_pipe_rate_check(p, k, RATE_LIMIT, RATE_PERIOD_MS); break;
			case OP_GET: mr_memory_pipe_get(p, k); break;
			case OP_SET: mr_memory_pipe_set(p, k, mr_slice_of("xxx", 3), 0); break;
			case OP_INCR: mr_memory_pipe_incr(p, k, 1, 0); break;
			}
		}
		if (mr_memory_pipe_exec(p) < 0) {
			fprintf(stderr, "pipe: %s\n", mr_error_last()->message);
			exit(1);
		}
		mr_memory_pipe_reset(p);
	}
	double t = now_s() - t0;
	mr_memory_pipe_free(p);
	return (double)N / t;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One redis-benchmark run: its rate for GET/SET/INCR (index op) at depth, 0 if none. */
static double redis_bench_once(const char *host, int port, int op, int depth)
{
	const char *t = op == OP_GET ? "get" : op == OP_SET ? "set" : "incr";
	char cmd[2048], line[512];
	snprintf(cmd, sizeof(cmd), "redis-benchmark -h %s -p %d%s -t %s -c 1 -P %d -n %ld -r 1024 --csv 2>/dev/null", host,
		 port, tls_args, t, depth, N);
	FILE *f = popen(cmd, "r");
	double out = 0;
	while (f && fgets(line, sizeof(line), f)) {
		char name[32];
		double rps;
		if (sscanf(line, "\"%31[^\"]\",\"%lf\"", name, &rps) == 2 && strcasecmp(name, t) == 0)
			out = rps;
	}
	if (f)
		pclose(f);
	return out;
}

int main(int argc, char **argv)
{
	const char *which = argc > 1 ? argv[1] : "local";
	const char *url = NULL;
	char cfg_text[4096];
	if (strcmp(which, "redis-cluster") == 0) {
		const char *urls = argc > 2 ? argv[2] : NULL;
		if (!urls) {
			fprintf(stderr, "usage: bench_memory redis-cluster URL,URL,... [N]\n");
			return 2;
		}
		N = argc > 3 ? atol(argv[3]) : 50000;
		size_t len = (size_t)snprintf(cfg_text, sizeof(cfg_text),
					      "[storage]\ndata = \"d\"\n[store.\"d\"]\ntype = \"rocksdb\"\npath = \"/nonexistent\"\n"
					      "[store.\"mem\"]\ntype = \"redis\"\nredis-type = \"cluster\"\nurls = [");
		char *dup = strdup(urls), *save = NULL;
		for (char *u = strtok_r(dup, ",", &save); u && len < sizeof(cfg_text) - 64; u = strtok_r(NULL, ",", &save))
			len += (size_t)snprintf(cfg_text + len, sizeof(cfg_text) - len, "%s\"%s\"", len && cfg_text[len - 1] == '[' ? "" : ", ", u);
		snprintf(cfg_text + len, sizeof(cfg_text) - len, "]\n");
		snprintf(tls_args, sizeof(tls_args), " --cluster");
		static char first[256];
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(urls, ","), urls);
		url = first;
		free(dup);
	} else if (strcmp(which, "rocksdb") == 0) {
		if (argc < 3) {
			fprintf(stderr, "usage: bench_memory rocksdb DIR [N]\n");
			return 2;
		}
		N = argc > 3 ? atol(argv[3]) : 200000;
		snprintf(cfg_text, sizeof(cfg_text),
			 "[storage]\ndata = \"d\"\n[store.\"d\"]\ntype = \"rocksdb\"\npath = \"/nonexistent\"\n"
			 "[store.\"mem\"]\ntype = \"rocksdb\"\npath = \"%s\"\n", argv[2]);
	} else if (strcmp(which, "redis") == 0) {
		url = argc > 2 ? argv[2] : getenv("MR_TEST_REDIS_URL");
		if (!url) {
			fprintf(stderr, "usage: bench_memory redis URL [N]\n");
			return 2;
		}
		N = argc > 3 ? atol(argv[3]) : 50000;
		snprintf(cfg_text, sizeof(cfg_text),
			 "[storage]\ndata = \"d\"\n[store.\"d\"]\ntype = \"rocksdb\"\npath = \"/nonexistent\"\n"
			 "[store.\"mem\"]\ntype = \"redis\"\nurl = \"%s\"\n", url);
		if (strncmp(url, "rediss://", 9) == 0) {
			const char *ca = getenv("MR_TEST_REDIS_TLS_CA"), *cert = getenv("MR_TEST_REDIS_TLS_CERT"),
				   *key = getenv("MR_TEST_REDIS_TLS_KEY");
			size_t len = strlen(cfg_text);
			int t = snprintf(tls_args, sizeof(tls_args), " --tls");
			if (ca && *ca) {
				len += (size_t)snprintf(cfg_text + len, sizeof(cfg_text) - len, "tls-ca-file = \"%s\"\n", ca);
				t += snprintf(tls_args + t, sizeof(tls_args) - (size_t)t, " --cacert '%s'", ca);
			}
			if (cert && *cert && key && *key) {
				snprintf(cfg_text + len, sizeof(cfg_text) - len, "tls-cert-file = \"%s\"\ntls-key-file = \"%s\"\n",
					 cert, key);
				snprintf(tls_args + t, sizeof(tls_args) - (size_t)t, " --cert '%s' --key '%s'", cert, key);
			}
		}
	} else {
		N = argc > 2 ? atol(argv[2]) : 5000000;
		snprintf(cfg_text, sizeof(cfg_text),
			 "[storage]\ndata = \"d\"\n[store.\"d\"]\ntype = \"rocksdb\"\npath = \"/nonexistent\"\n"
			 "[store.\"mem\"]\ntype = \"local\"\n");
	}
	mr_config *cfg;
	mr_memory *m;
	if (mr_config_parse(&cfg, cfg_text, strlen(cfg_text), "bench.toml") < 0 || mr_memory_open(&m, cfg, "mem") < 0) {
		fprintf(stderr, "open: %s\n", mr_error_last()->message);
		return 1;
	}
	mr_config_free(cfg);
	R = mr_memory_root(m);
	char host[256] = "127.0.0.1";
	int port = 6379;
	if (url) {
		const char *h = strstr(url, "://");
		h = h ? h + 3 : url;
		const char *c = strrchr(h, ':');
		if (c) {
			snprintf(host, sizeof(host), "%.*s", (int)(c - h), h);
			port = atoi(c + 1);
		}
	}
	make_keys(strcmp(which, "redis-cluster") == 0);
	run_single(OP_SET); /* warm-up */
	const char *only = getenv("MR_BENCH_OPS"); /* e.g. "rate_check,get": a subset, for profiling */
	for (int op = 0; op < 4; op++) {
		if (only && !strstr(only, op_names[op]))
			continue;
		for (int depth = 1; depth <= 16; depth += 15) {
			/* with a server, mailroom and redis-benchmark take turns, so each
			 * pair meets the same machine; the ratio is the median of the
			 * per-pair ratios (a VM's speed drifts by 2-3x within minutes) */
			bool peer = url && op != OP_RATE;
			double r[3], b[3] = {0, 0, 0}, q[3] = {0, 0, 0};
			for (int i = 0; i < 3; i++) {
				r[i] = depth == 1 ? run_single(op) : run_pipe(op, depth);
				if (peer) {
					b[i] = redis_bench_once(host, port, op, depth);
					q[i] = b[i] > 0 ? r[i] / b[i] : 0;
				}
			}
			qsort(r, 3, sizeof(double), cmp_d);
			printf("{\"bench\":\"memory\",\"backend\":\"%s\",\"tls\":%s,\"op\":\"%s\",\"pipeline\":%d,\"clients\":1,"
			       "\"n\":%ld,\"ops_per_s\":%.0f,\"min\":%.0f,\"max\":%.0f",
			       which, strstr(tls_args, "--tls") ? "true" : "false", op_names[op], depth, N, r[1], r[0], r[2]);
			if (peer) {
				qsort(b, 3, sizeof(double), cmp_d);
				qsort(q, 3, sizeof(double), cmp_d);
				printf(",\"redis_benchmark_ops_per_s\":%.0f,\"redis_benchmark_min\":%.0f,\"redis_benchmark_max\":%.0f,"
				       "\"ratio\":%.3f,\"ratio_min\":%.3f,\"ratio_max\":%.3f",
				       b[1], b[0], b[2], q[1], q[0], q[2]);
			}
			printf("}\n");
			fflush(stdout);
		}
	}
	mr_memory_close(m);
	return 0;
}
