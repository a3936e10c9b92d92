/*
 * bench_data.c — data-store throughput, one JSON object per line:
 *   random puts in batches of 100, random gets, 1,000-key range scans,
 *   counter adds — for each backend named, and in the same run the same
 *   workload through the RocksDB C API directly (the "raw" anchor),
 *   reported as the ratio mailroom/raw.  Each figure is the median of
 *   --runs runs (min and max beside it).
 *
 * usage: bench_data [--backends rocksdb,sqlite,postgresql,mysql] [--keys N]
 *                   [--runs R] [--sync]
 * postgresql/mysql read MR_TEST_PG_URL / MR_TEST_MYSQL_URL.
 * Both sides use the same durability: no fsync per commit unless --sync.
 */
#include "mailroom/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if BENCH_RAW_ROCKSDB
#include <rocksdb/c.h>
#endif

#define KEYLEN 16
#define VALLEN 100
#define BATCH 100
#define SCAN_LEN 1000

static size_t g_keys = 100000;
static int g_runs = 3;
static bool g_sync;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* key i: subspace byte, then 15 bytes derived from i (spread over the key space) */
static void make_key(uint8_t *k, uint64_t i)
{
	uint64_t h = i * 0x9E3779B97F4A7C15ULL;
	k[0] = MR_SUBSPACE_TEST;
	for (int j = 0; j < 8; j++)
		k[1 + j] = (uint8_t)(h >> (56 - 8 * j));
	for (int j = 0; j < 7; j++)
		k[9 + j] = (uint8_t)(i >> (48 - 8 * j));
}

static uint8_t g_val[VALLEN];

typedef struct {
	double put, get, scan, add;
} rates;

/* ---- mailroom ---- */

static int mr_side(mr_data *d, rates *r)
{
	uint8_t k[KEYLEN];
	mr_batch *b;
	if (mr_batch_new(&b, d))
		return -1;
	double t0 = now_s();
	for (size_t i = 0; i < g_keys; i += BATCH) {
		mr_batch_reset(b);
		for (size_t j = i; j < i + BATCH && j < g_keys; j++) {
			make_key(k, j);
			mr_batch_set(b, mr_slice_of(k, KEYLEN), mr_slice_of(g_val, VALLEN));
		}
		if (mr_batch_commit(b)) {
			mr_batch_free(b);
			return -1;
		}
	}
	r->put = (double)g_keys / (now_s() - t0);
	mr_batch_free(b);

	mr_buf v = MR_BUF_INIT;
	size_t gets = g_keys;
	t0 = now_s();
	for (size_t i = 0; i < gets; i++) {
		make_key(k, rnd() % g_keys);
		if (mr_data_get(d, mr_slice_of(k, KEYLEN), &v) || v.len != VALLEN)
			return -1;
	}
	r->get = (double)gets / (now_s() - t0);
	mr_buf_dispose(&v);

	size_t scans = g_keys / 1000 < 20 ? 20 : g_keys / 1000;
	t0 = now_s();
	for (size_t i = 0; i < scans; i++) {
		make_key(k, rnd() % g_keys);
		mr_range rg = {.begin = mr_slice_of(k, KEYLEN), .limit = SCAN_LEN};
		mr_iter *it;
		if (mr_data_scan(d, &rg, &it))
			return -1;
		mr_slice kk, vv;
		size_t n = 0, bytes = 0;
		while (mr_iter_next(it, &kk, &vv) == 1) {
			n++;
			bytes += vv.len;
		}
		mr_iter_free(it);
		if (n == 0 || bytes == 0)
			return -1;
	}
	r->scan = (double)scans / (now_s() - t0);

	size_t adds = g_keys / 10;
	t0 = now_s();
	for (size_t i = 0; i < adds; i++) {
		make_key(k, rnd() % 1000);
		int64_t out;
		if (mr_data_add_and_get(d, mr_slice_of(k, KEYLEN), 1, &out))
			return -1;
	}
	r->add = (double)adds / (now_s() - t0);
	return 0;
}

#if BENCH_RAW_ROCKSDB
/* ---- raw RocksDB: same options as src/data/rocksdb.c (64 MiB LRU cache,
 * 64 MiB write buffer, parallelism 2, same sync), plain DB ---- */
static int raw_side(const char *path, rates *r)
{
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(o, 1);
	rocksdb_options_increase_parallelism(o, 2);
	rocksdb_options_set_write_buffer_size(o, 64 << 20);
	rocksdb_block_based_table_options_t *bb = rocksdb_block_based_options_create();
	rocksdb_cache_t *cache = rocksdb_cache_create_lru(64 << 20);
	rocksdb_block_based_options_set_block_cache(bb, cache);
	rocksdb_options_set_block_based_table_factory(o, bb);
	char *err = NULL;
	rocksdb_t *db = rocksdb_open(o, path, &err);
	if (err)
		return -1;
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(wo, g_sync);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	uint8_t k[KEYLEN];
	double t0 = now_s();
	for (size_t i = 0; i < g_keys; i += BATCH) {
		rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
		for (size_t j = i; j < i + BATCH && j < g_keys; j++) {
			make_key(k, j);
			rocksdb_writebatch_put(wb, (const char *)k, KEYLEN, (const char *)g_val, VALLEN);
		}
		rocksdb_write(db, wo, wb, &err);
		rocksdb_writebatch_destroy(wb);
		if (err)
			return -1;
	}
	r->put = (double)g_keys / (now_s() - t0);
	t0 = now_s();
	for (size_t i = 0; i < g_keys; i++) {
		make_key(k, rnd() % g_keys);
		rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(db, ro, (const char *)k, KEYLEN, &err);
		size_t len = 0;
		if (!ps || (rocksdb_pinnableslice_value(ps, &len), len != VALLEN))
			return -1;
		/* the caller gets its own copy, as mailroom's get gives one */
		char copy[VALLEN];
		memcpy(copy, rocksdb_pinnableslice_value(ps, &len), len);
		__asm__ volatile("" : : "r"(copy) : "memory");
		rocksdb_pinnableslice_destroy(ps);
	}
	r->get = (double)g_keys / (now_s() - t0);
	size_t scans = g_keys / 1000 < 20 ? 20 : g_keys / 1000;
	t0 = now_s();
	for (size_t i = 0; i < scans; i++) {
		make_key(k, rnd() % g_keys);
		rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
		size_t n = 0, bytes = 0;
		for (rocksdb_iter_seek(it, (const char *)k, KEYLEN); rocksdb_iter_valid(it) && n < SCAN_LEN; rocksdb_iter_next(it)) {
			size_t kl, vl;
			rocksdb_iter_key(it, &kl);
			rocksdb_iter_value(it, &vl);
			bytes += vl;
			n++;
		}
		rocksdb_iter_destroy(it);
		if (!n || !bytes)
			return -1;
	}
	r->scan = (double)scans / (now_s() - t0);
	/* counter add: read-modify-write of an 8-byte value (single writer, so
	 * the raw side needs no transaction; mailroom's is atomic) */
	size_t adds = g_keys / 10;
	t0 = now_s();
	for (size_t i = 0; i < adds; i++) {
		make_key(k, rnd() % 1000);
		k[0] = 0x7f;
		size_t len = 0;
		char *v = rocksdb_get(db, ro, (const char *)k, KEYLEN, &len, &err);
		int64_t cur = 0;
		if (v && len == 8)
			memcpy(&cur, v, 8);
		rocksdb_free(v);
		cur++;
		rocksdb_put(db, wo, (const char *)k, KEYLEN, (const char *)&cur, 8, &err);
		if (err)
			return -1;
	}
	r->add = (double)adds / (now_s() - t0);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_readoptions_destroy(ro);
	rocksdb_close(db);
	rocksdb_options_destroy(o);
	rocksdb_block_based_options_destroy(bb);
	rocksdb_cache_destroy(cache);
	return 0;
}
#endif

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void stats(double *v, int n, double *med, double *mn, double *mx)
{
	qsort(v, (size_t)n, sizeof(double), cmp_d);
	*mn = v[0];
	*mx = v[n - 1];
	*med = v[n / 2];
}

static int rm_rf(const char *p)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
	return system(cmd);
}

static int run_backend(const char *backend, rates *out)
{
	char dir[] = "/tmp/mr-bench-data-XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	char cfg[2048];
	int off = snprintf(cfg, sizeof(cfg), "[storage]\ndata = \"db\"\n[store.db]\ntype = \"%s\"\n", backend);
	if (!strcmp(backend, "rocksdb") || !strcmp(backend, "sqlite"))
		snprintf(cfg + off, sizeof(cfg) - (size_t)off, "path = \"%s/db\"\nsync = %s\n", dir, g_sync ? "true" : "false");
	else {
		const char *url = getenv(!strcmp(backend, "postgresql") ? "MR_TEST_PG_URL" : "MR_TEST_MYSQL_URL");
		if (!url) {
			rm_rf(dir);
			return 1;
		}
		snprintf(cfg + off, sizeof(cfg) - (size_t)off, "url = \"%s\"\n", url);
	}
	mr_config *c;
	mr_data *d;
	if (mr_config_parse(&c, cfg, strlen(cfg), "bench.toml") || mr_data_open(&d, c, "db")) {
		fprintf(stderr, "bench_data: %s: %s\n", backend, mr_error_last()->message);
		rm_rf(dir);
		return -1;
	}
	int rc = mr_side(d, out);
	if (rc)
		fprintf(stderr, "bench_data: %s: %s\n", backend, mr_error_last()->message);
	/* leave server databases clean */
	mr_batch *b;
	if (!rc && strcmp(backend, "rocksdb") && strcmp(backend, "sqlite") && mr_batch_new(&b, d) == 0) {
		uint8_t k[KEYLEN];
		for (size_t i = 0; i < g_keys; i++) {
			make_key(k, i);
			mr_batch_clear(b, mr_slice_of(k, KEYLEN));
			if (mr_batch_count(b) == 1000) {
				mr_batch_commit(b);
				mr_batch_reset(b);
			}
		}
		for (uint64_t i = 0; i < 1000; i++) {
			make_key(k, i);
			mr_batch_clear(b, mr_slice_of(k, KEYLEN));
		}
		mr_batch_commit(b);
		mr_batch_free(b);
	}
	mr_data_close(d);
	mr_config_free(c);
	rm_rf(dir);
	return rc;
}

int main(int argc, char **argv)
{
	char backends[256] = "rocksdb,sqlite";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--backends") && i + 1 < argc)
			snprintf(backends, sizeof(backends), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--keys") && i + 1 < argc)
			g_keys = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			g_runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sync"))
			g_sync = true;
		else {
			fprintf(stderr, "usage: bench_data [--backends a,b] [--keys N] [--runs R] [--sync]\n");
			return 2;
		}
	}
	if (g_runs < 1 || g_runs > 50 || g_keys < 1000)
		return 2;
	memset(g_val, 'v', sizeof(g_val));
	static const char *ops[4] = {"put_batch100", "get", "scan1000", "counter_add"};
	double raw[4][50];
	bool have_raw = false;
#if BENCH_RAW_ROCKSDB
	/* warm-up (fresh memory is slow on this VM), then the anchor runs */
	for (int run = -1; run < g_runs; run++) {
		char dir[] = "/tmp/mr-bench-raw-XXXXXX";
		if (!mkdtemp(dir))
			return 1;
		rates r;
		if (raw_side(dir, &r)) {
			fprintf(stderr, "bench_data: raw rocksdb failed\n");
			return 1;
		}
		rm_rf(dir);
		if (run >= 0) {
			raw[0][run] = r.put;
			raw[1][run] = r.get;
			raw[2][run] = r.scan;
			raw[3][run] = r.add;
		}
	}
	have_raw = true;
	double rawmed[4];
	for (int o = 0; o < 4; o++) {
		double mn, mx;
		stats(raw[o], g_runs, &rawmed[o], &mn, &mx);
		printf("{\"bench\":\"data\",\"backend\":\"raw-rocksdb\",\"op\":\"%s\",\"ops_per_s\":%.0f,\"min\":%.0f,\"max\":%.0f,"
		       "\"runs\":%d,\"keys\":%zu,\"sync\":%s}\n",
		       ops[o], rawmed[o], mn, mx, g_runs, g_keys, g_sync ? "true" : "false");
	}
#endif
	for (char *save = NULL, *b = strtok_r(backends, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
		double v[4][50];
		int ok = 0;
		for (int run = -1; run < g_runs; run++) {
			rates r;
			int rc = run_backend(b, &r);
			if (rc == 1) {
				printf("{\"bench\":\"data\",\"backend\":\"%s\",\"skipped\":\"server URL not set\"}\n", b);
				break;
			}
			if (rc)
				return 1;
			if (run >= 0) {
				v[0][run] = r.put;
				v[1][run] = r.get;
				v[2][run] = r.scan;
				v[3][run] = r.add;
				ok++;
			}
		}
		if (ok < g_runs)
			continue;
		for (int o = 0; o < 4; o++) {
			double med, mn, mx;
			stats(v[o], g_runs, &med, &mn, &mx);
			printf("{\"bench\":\"data\",\"backend\":\"%s\",\"op\":\"%s\",\"ops_per_s\":%.0f,\"min\":%.0f,\"max\":%.0f,\"runs\":%d,"
			       "\"keys\":%zu,\"sync\":%s",
			       b, ops[o], med, mn, mx, g_runs, g_keys, g_sync ? "true" : "false");
#if BENCH_RAW_ROCKSDB
			if (have_raw)
				printf(",\"ratio_vs_raw_rocksdb\":%.3f", med / rawmed[o]);
#endif
			printf("}\n");
		}
	}
	(void)have_raw;
	(void)raw;
	return 0;
}
