/*
 * bench_fs.c — put and get throughput of the blob store on the fs backend
 * against the raw disk baseline in the same run (issue 4: fs put/get >= 0.9
 * of the raw baseline at 64 KiB and above).
 *
 *   bench_fs [--dir DIR] [--runs R] [--sizes 4096,65536,...] [--meta-nosync]
 *
 * For each size, each run writes N distinct blobs (random bytes, so every
 * put is a new blob) and reads them back whole, three ways:
 *   front   mr_blob_put / mr_blob_get through the front (hashing, the blob
 *           record in a RocksDB metadata store, the fs backend: temp file,
 *           fsync, rename, directory fsync); gets with and without
 *           MR_BLOB_VERIFY
 *   raw     the same bytes as files in the same layout (DIR/raw/ab/cd/<hex
 *           id>): open a temp file, write, fsync, rename, fsync the
 *           directory; reads: open, read whole, close
 * Front and raw take turns about every 512 KiB (every blob from 512 KiB
 * up), the first of each turn alternating, and their times are summed over the run.  The metadata store
 * runs as configured by default (`sync = true`; --meta-nosync: false).  A
 * put syncs only the blob's bytes either way: its records are committed
 * MR_DURABLE_NONE / MR_DURABLE_LAZY and made durable by the link or
 * reservation that later names the blob (docs/blob-store.md, "put").
 * Reads come from the page cache for both (the host caches
 * the disk anyway: BENCHMARKING.md).
 * Prints one JSON line per size and op: median MB/s with min-max over the
 * runs, and the ratio front / raw: the median (min-max) over the runs of
 * each run's own ratio, front and raw having shared that run's disk.
 */
#include "mailroom/blob.h"
#include "mailroom/config.h"
#include "mailroom/data.h"
#include "mailroom/mailroom.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 15
#define TURN_BYTES (512u * 1024u) /* front and raw take turns about every 512 KiB (at least one blob) */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	const mr_error *e = mr_error_last();
	fprintf(stderr, "bench_fs: %s: %s (%s)\n", what, e->message, errno ? strerror(errno) : "");
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void summarize(double *v, int n, double *med, double *lo, double *hi)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	*lo = v[0];
	*hi = v[n - 1];
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* splitmix64's finalizer: a bijection, so distinct stamps give distinct names */
static uint64_t mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static void fill_random(uint8_t *p, size_t n, uint64_t *state)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = (*state += 0x9E3779B97F4A7C15ull);
		x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
		x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
		x ^= x >> 31;
		memcpy(p + i, &x, n - i < 8 ? n - i : 8);
	}
}

static void mkdir_p(const char *path)
{
	char tmp[8192];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0700);
			*p = '/';
		}
	}
	mkdir(tmp, 0700);
}

/* raw: write-fsync-rename-fsync(dir) into raw/<h0h1>/<h2h3>/<hex> */
static void raw_put(const char *root, const char *hex, const uint8_t *data, size_t len)
{
	char dir[8192], tmp[8400], path[8400];
	snprintf(dir, sizeof dir, "%s/%.2s/%.2s", root, hex, hex + 2);
	snprintf(path, sizeof path, "%s/%s", dir, hex);
	snprintf(tmp, sizeof tmp, "%s/.tmp.%s", dir, hex);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		mkdir_p(dir);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		die("raw open");
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0)
			die("raw write");
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0)
		die("raw fsync/rename");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		die("raw dir fsync");
	close(dfd);
}

static void raw_get(const char *root, const char *hex, uint8_t *buf, size_t len)
{
	char path[8400];
	snprintf(path, sizeof path, "%s/%.2s/%.2s/%s", root, hex, hex + 2, hex);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("raw open for read");
	size_t off = 0;
	for (;;) {
		ssize_t r = read(fd, buf + off, len - off);
		if (r < 0)
			die("raw read");
		if (r == 0)
			break;
		off += (size_t)r;
		if (off == len) {
			uint8_t extra;
			if (read(fd, &extra, 1) != 0)
				die("raw file longer than expected");
			break;
		}
	}
	close(fd);
	if (off != len)
		die("raw short read");
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	int runs = 3;
	bool sync_meta = true;
	size_t sizes[8] = {4096, 65536, 1048576, 33554432};
	int nsizes = 4;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--meta-nosync") == 0)
			sync_meta = false;
		else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
			nsizes = 0;
			for (char *s = argv[++i], *end; *s && nsizes < 8; s = *end ? end + 1 : end) {
				sizes[nsizes++] = strtoull(s, &end, 10);
				if (end == s)
					break;
			}
		} else {
			fprintf(stderr, "usage: bench_fs [--dir DIR] [--runs R] [--sizes 4096,65536,...] [--meta-nosync]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "bench_fs: --runs must be 1-%d\n", MAX_RUNS);
		return 2;
	}
	char tmpl[] = "/var/tmp/mailroom-bench-fs.XXXXXX";
	if (!dir) {
		if (!mkdtemp(tmpl))
			die("mkdtemp");
		dir = tmpl;
	}
	mkdir_p(dir);
	char cfg_text[2048];
	snprintf(cfg_text, sizeof cfg_text,
		 "[storage]\ndata = \"meta\"\nblob = \"fs\"\n"
		 "[store.meta]\ntype = \"rocksdb\"\npath = \"%s/meta\"\nsync = %s\n"
		 "[store.fs]\ntype = \"fs\"\npath = \"%s/blobs\"\ndepth = 2\n",
		 dir, sync_meta ? "true" : "false", dir);
	mr_config *cfg = NULL;
	mr_data *meta = NULL;
	mr_blob *bs = NULL;
	if (mr_config_parse(&cfg, cfg_text, strlen(cfg_text), "bench_fs.toml") != 0 ||
	    mr_data_open(&meta, cfg, "meta") != 0 || mr_blob_open(&bs, cfg, "fs", meta) != 0)
		die("open");
	char rawroot[4096];
	snprintf(rawroot, sizeof rawroot, "%s/raw", dir);
	mkdir_p(rawroot);

	uint64_t seed = 42;
	printf("{\"bench\":\"blob_fs\",\"dir\":\"%s\",\"runs\":%d,\"meta_sync\":%s}\n", dir, runs,
	       sync_meta ? "true" : "false");
	for (int si = 0; si < nsizes; si++) {
		size_t size = sizes[si];
		/* about 64 MiB (at least 8 blobs) a run and op */
		size_t n = (64u << 20) / size;
		if (n < 8)
			n = 8;
		if (n > 4000)
			n = 4000;
		uint8_t *data = malloc(size * 2 + 8);
		uint8_t *buf = malloc(size + 8);
		mr_blob_id *ids = calloc(n, sizeof *ids);
		char (*hex)[MR_BLOB_ID_TEXT_LEN + 1] = calloc(n, sizeof *hex);
		if (!data || !buf || !ids || !hex)
			die("out of memory");
		size_t chunk = size >= TURN_BYTES ? 1 : TURN_BYTES / size;
		double put_f[MAX_RUNS], put_r[MAX_RUNS], get_f[MAX_RUNS], get_v[MAX_RUNS], get_r[MAX_RUNS];
		mr_buf out = {0};
		for (int r = 0; r < runs; r++) {
			/* fresh random bytes per run; blob i starts at data + i % 64 and carries its own stamp */
			fill_random(data, size * 2 + 8, &seed);
			/* Front and raw take turns every `chunk` blobs (which goes first
			 * alternates), so both meet the same disk and cache weather:
			 * a virtual disk's fsync latency drifts by 2-3x within seconds. */
			double put_t[2] = {0, 0}, get_t[3] = {0, 0, 0};
			for (size_t c0 = 0; c0 < n; c0 += chunk) {
				size_t c1 = c0 + chunk < n ? c0 + chunk : n;
				for (int pass = 0; pass < 2; pass++) {
					bool front = (pass == 0) == ((c0 / chunk + (size_t)r) % 2 == 0);
					double t0 = now_s();
					for (size_t i = c0; i < c1; i++) {
						/* distinct contents: stamp the blob number and run into the first bytes */
						uint8_t *p = data + (i % 64);
						uint64_t stamp = ((uint64_t)r << 40) | ((uint64_t)si << 32) | i;
						memcpy(p, &stamp, size < 8 ? size : 8);
						if (front) {
							bool fresh = false;
							if (mr_blob_put(bs, p, size, &ids[i], &fresh) != 0)
								die("mr_blob_put");
							if (!fresh)
								die("put was not a new blob");
						} else {
							/* a 64-hex name spread over the two-level
							 * fan-out as uniformly as the front's hash
							 * ids are (the first four hex digits pick
							 * the directories) */
							char name[MR_BLOB_ID_TEXT_LEN + 16];
							snprintf(name, sizeof name, "%016llx%016llx%032d", (unsigned long long)mix64(stamp),
								 (unsigned long long)stamp, 0);
							raw_put(rawroot, name, p, size);
							memcpy(hex[i], name, MR_BLOB_ID_TEXT_LEN);
							hex[i][MR_BLOB_ID_TEXT_LEN] = '\0';
						}
					}
					put_t[front ? 0 : 1] += now_s() - t0;
				}
			}
			put_f[r] = (double)(n * size) / put_t[0] / 1e6;
			put_r[r] = (double)(n * size) / put_t[1] / 1e6;
			for (size_t c0 = 0; c0 < n; c0 += chunk) {
				size_t c1 = c0 + chunk < n ? c0 + chunk : n;
				for (int pass = 0; pass < 3; pass++) {
					int which = (pass + (int)(c0 / chunk) + r) % 3; /* 0 front, 1 front verified, 2 raw */
					double t0 = now_s();
					for (size_t i = c0; i < c1; i++) {
						if (which < 2) {
							out.len = 0;
							if (mr_blob_get(bs, &ids[i], 0, UINT64_MAX, which == 1 ? MR_BLOB_VERIFY : 0,
									&out) != 0)
								die("mr_blob_get");
							if (out.len != size)
								die("front read the wrong length");
						} else {
							raw_get(rawroot, hex[i], buf, size);
						}
					}
					get_t[which] += now_s() - t0;
				}
			}
			get_f[r] = (double)(n * size) / get_t[0] / 1e6;
			get_v[r] = (double)(n * size) / get_t[1] / 1e6;
			get_r[r] = (double)(n * size) / get_t[2] / 1e6;
		}
		mr_buf_dispose(&out);
		const char *ops[] = {"put", "get", "get_verified"};
		double *fr[] = {put_f, get_f, get_v}, *rw[] = {put_r, get_r, get_r};
		for (int o = 0; o < 3; o++) {
			double fm, fl, fh, rm, rl, rh, pm, pl, ph;
			double rcopy[MAX_RUNS], paired[MAX_RUNS];
			memcpy(rcopy, rw[o], sizeof rcopy);
			for (int r = 0; r < runs; r++)
				paired[r] = fr[o][r] / rw[o][r]; /* before summarize sorts them */
			summarize(fr[o], runs, &fm, &fl, &fh);
			summarize(rcopy, runs, &rm, &rl, &rh);
			summarize(paired, runs, &pm, &pl, &ph);
			printf("{\"bench\":\"blob_fs\",\"op\":\"%s\",\"size\":%zu,\"blobs_per_run\":%zu,"
			       "\"mailroom_mb_s\":%.1f,\"mailroom_min\":%.1f,\"mailroom_max\":%.1f,"
			       "\"raw_mb_s\":%.1f,\"raw_min\":%.1f,\"raw_max\":%.1f,\"ratio\":%.3f,\"ratio_min\":%.3f,"
			       "\"ratio_max\":%.3f}\n",
			       ops[o], size, n, fm, fl, fh, rm, rl, rh, pm, pl, ph);
			fflush(stdout);
		}
		free(data);
		free(buf);
		free(ids);
		free(hex);
	}
	mr_blob_close(bs);
	mr_data_close(meta);
	mr_config_free(cfg);
	if (dir == tmpl) {
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_fs: could not remove %s\n", dir);
	}
	return 0;
}
