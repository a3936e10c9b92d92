/*
 * bench_memory.c — in-memory store throughput, one JSON object per line:
 * rate checks, gets, sets and incrs per second on one thread (so the
 * figures are per core), for the local backend and the data-store backend
 * over RocksDB.  Median of --runs runs, min and max beside it.
 * The Redis anchor (redis-benchmark) joins when the Redis backend exists.
 *   bench_memory [--ops N] [--runs R]
 */
#include "mailroom/memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

enum { OP_RATE, OP_GET, OP_SET, OP_INCR, NOPS };
static const char *op_names[NOPS] = {"rate_check", "get", "set", "incr"};

static int run(mr_memory *m, int op, size_t n, size_t keys, double *rate)
{
	char key[32];
	mr_buf v = MR_BUF_INIT;
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(key, sizeof(key), "key:%zu", (i * 7919) % keys);
		mr_slice k = mr_slice_of(key, (size_t)len);
		int rc;
		bool ok;
		uint64_t retry;
		int64_t out;
		switch (op) {
		case OP_RATE: rc = mr_memory_rate_check(m, "bench-rate", k, 1000000, 1000, &ok, &retry); break;
		case OP_GET: rc = mr_memory_get(m, "bench", k, &v); break;
		case OP_SET: rc = mr_memory_set(m, "bench", k, mr_slice_of("value-of-16bytes", 16), 60000); break;
		default: rc = mr_memory_incr(m, "bench-incr", k, 1, 60000, &out); break;
		}
		if (rc && !(op == OP_GET && rc == MR_ENOTFOUND)) {
			mr_buf_dispose(&v);
			return rc;
		}
	}
	*rate = (double)n / (now_s() - t0);
	mr_buf_dispose(&v);
	return 0;
}

int main(int argc, char **argv)
{
	size_t ops = 2000000;
	int runs = 3;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ops") && i + 1 < argc)
			ops = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_memory [--ops N] [--runs R]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 50 || ops < 1000)
		return 2;
	char dir[] = "/tmp/mr-bench-memory-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	static const struct {
		const char *name, *type;
		size_t divisor; /* the data-store backend gets fewer ops */
	} backends[] = {{"local", "local", 1}, {"datastore_rocksdb", "rocksdb", 50}};
	for (size_t b = 0; b < 2; b++) {
		char cfg[1024];
		if (!strcmp(backends[b].type, "local"))
			snprintf(cfg, sizeof(cfg), "[storage]\ndata = \"d\"\nlookup = \"m\"\n[store.d]\ntype = \"sqlite\"\npath = \"%s/unused\"\n"
						   "[store.m]\ntype = \"local\"\n", dir);
		else
			snprintf(cfg, sizeof(cfg), "[storage]\ndata = \"m\"\n[store.m]\ntype = \"rocksdb\"\npath = \"%s/rocksdb\"\nsync = false\n", dir);
		mr_config *c;
		mr_memory *m;
		if (mr_config_parse(&c, cfg, strlen(cfg), "bench.toml") || mr_memory_open(&m, c, "m")) {
			fprintf(stderr, "bench_memory: %s\n", mr_error_last()->message);
			return 1;
		}
		size_t n = ops / backends[b].divisor;
		for (int op = 0; op < NOPS; op++) {
			double r[50], warm;
			if (run(m, op, n / 10, 10000, &warm)) {
				fprintf(stderr, "bench_memory: %s\n", mr_error_last()->message);
				return 1;
			}
			for (int i = 0; i < runs; i++)
				if (run(m, op, n, 10000, &r[i])) {
					fprintf(stderr, "bench_memory: %s\n", mr_error_last()->message);
					return 1;
				}
			qsort(r, (size_t)runs, sizeof(double), cmp_d);
			printf("{\"bench\":\"memory\",\"backend\":\"%s\",\"op\":\"%s\",\"threads\":1,\"pipeline\":1,\"ops_per_s\":%.0f,"
			       "\"min\":%.0f,\"max\":%.0f,\"runs\":%d,\"ops\":%zu}\n",
			       backends[b].name, op_names[op], r[runs / 2], r[0], r[runs - 1], runs, n);
		}
		mr_memory_close(m);
		mr_config_free(c);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
