/*
 * bench_s3.c — put and get throughput of the s3 blob backend against plain
 * libcurl on the same server in the same run (issue 4: s3 >= 0.9 of plain
 * libcurl).
 *
 *   bench_s3 [--server MINIO|MOTO] [--stream] [--runs R] [--sizes 4096,65536,...]
 *
 * The server comes from MR_TEST_<SERVER>_{ENDPOINT,ACCESS_KEY,SECRET_KEY,
 * BUCKET} (scripts/servers/minio, moto).  For each size, each run puts N
 * distinct objects and reads them back whole, once through the backend's
 * put_mem (as the front stores a blob it holds in memory; --stream: put
 * with a pull callback, as it streams a file) and get_range, once as plain
 * libcurl requests (one reused easy handle, SigV4 signed by libcurl,
 * PUT from memory / GET into memory); the order of the two alternates
 * between runs.  The baseline uses the same transport settings as the
 * backend (no wait for 100-continue, 256 KiB buffers), so the ratio shows
 * what the backend adds, not what a tuning knob buys.  The backend runs
 * with its defaults (multipart-threshold 32 MiB: a 32 MiB object is one
 * PUT).  Prints one JSON line per size and op: median MB/s with min-max
 * over the runs and the ratio of medians; 1 client, no pipelining.
 */
#include "blob/backend.h"
#include "core/config.h"
#include "mailroom/blob.h"
#include "mailroom/config.h"
#include "mailroom/mailroom.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char endpoint[256], access_key[128], secret_key[128], bucket[128], prefix[96];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct src {
	const uint8_t *data;
	size_t len, off;
} src;

static int src_read(void *buf, size_t cap, size_t *got, void *payload)
{
	src *s = payload;
	size_t n = s->len - s->off < cap ? s->len - s->off : cap;
	memcpy(buf, s->data + s->off, n);
	s->off += n;
	*got = n;
	return 0;
}

/* ---- plain libcurl ---- */

typedef struct xfer {
	const uint8_t *up;
	size_t up_len, up_off;
	uint8_t *down;
	size_t down_cap, down_len;
} xfer;

static size_t raw_read(char *p, size_t sz, size_t n, void *payload)
{
	xfer *x = payload;
	size_t k = x->up_len - x->up_off < sz * n ? x->up_len - x->up_off : sz * n;
	memcpy(p, x->up + x->up_off, k);
	x->up_off += k;
	return k;
}

static size_t raw_write(char *p, size_t sz, size_t n, void *payload)
{
	xfer *x = payload;
	size_t k = sz * n;
	if (x->down_len + k > x->down_cap)
		return 0;
	memcpy(x->down + x->down_len, p, k);
	x->down_len += k;
	return k;
}

static int raw_request(CURL *h, const char *method, const char *key, xfer *x)
{
	char url[600], user[300];
	snprintf(url, sizeof url, "%s/%s/%s", endpoint, bucket, key);
	snprintf(user, sizeof user, "%s:%s", access_key, secret_key);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
	curl_easy_setopt(h, CURLOPT_USERPWD, user);
	curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (strcmp(method, "PUT") == 0) {
		x->up_off = 0;
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, raw_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->up_len);
	} else if (strcmp(method, "DELETE") == 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	x->down_len = 0;
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, raw_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK || status < 200 || status > 299) {
		fprintf(stderr, "bench_s3: plain %s %s: %s, HTTP %ld\n", method, key, curl_easy_strerror(cc), status);
		return -1;
	}
	return 0;
}

/* ---- one run of one size ---- */

typedef struct result {
	double put_mbs, get_mbs;
} result;

static bool stream; /* --stream: put through the pull callback (a file's path) instead of put_mem */

static int run_backend(mr_blob_inst *b, uint8_t *data, size_t size, int n, uint8_t *back, result *out)
{
	mr_blob_id *ids = calloc((size_t)n, sizeof *ids);
	int rc = 0;
	for (int i = 0; i < n; i++) {
		/* distinct objects: the first 8 bytes carry the index */
		memcpy(data, &i, sizeof i);
		mr_blob_hash_bytes(data, size, &ids[i]);
	}
	double t0 = now_s();
	for (int i = 0; i < n && rc == 0; i++) {
		memcpy(data, &i, sizeof i);
		src s = {data, size, 0};
		rc = stream ? b->backend->put(b, &ids[i], src_read, &s) : b->backend->put_mem(b, &ids[i], data, size);
	}
	double t1 = now_s();
	for (int i = 0; i < n && rc == 0; i++) {
		size_t got = 0;
		rc = b->backend->get_range(b, &ids[i], 0, back, size, &got);
		if (rc == 0 && got != size) {
			fprintf(stderr, "bench_s3: short read %zu of %zu\n", got, size);
			rc = -1;
		}
	}
	double t2 = now_s();
	for (int i = 0; i < n; i++)
		(void)b->backend->remove(b, &ids[i]);
	free(ids);
	if (rc != 0) {
		fprintf(stderr, "bench_s3: backend: %s\n", mr_error_last()->message);
		return rc;
	}
	double mb = (double)size * n / 1e6;
	out->put_mbs = mb / (t1 - t0);
	out->get_mbs = mb / (t2 - t1);
	return 0;
}

static int run_plain(CURL *h, uint8_t *data, size_t size, int n, uint8_t *back, int run, result *out)
{
	char key[200];
	xfer x = {data, size, 0, back, size, 0};
	int rc = 0;
	double t0 = now_s();
	for (int i = 0; i < n && rc == 0; i++) {
		snprintf(key, sizeof key, "%splain-%d-%zu-%d", prefix, run, size, i);
		memcpy(data, &i, sizeof i);
		rc = raw_request(h, "PUT", key, &x);
	}
	double t1 = now_s();
	for (int i = 0; i < n && rc == 0; i++) {
		snprintf(key, sizeof key, "%splain-%d-%zu-%d", prefix, run, size, i);
		rc = raw_request(h, "GET", key, &x);
		if (rc == 0 && x.down_len != size)
			rc = -1;
	}
	double t2 = now_s();
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof key, "%splain-%d-%zu-%d", prefix, run, size, i);
		(void)raw_request(h, "DELETE", key, &x);
	}
	if (rc != 0)
		return rc;
	double mb = (double)size * n / 1e6;
	out->put_mbs = mb / (t1 - t0);
	out->get_mbs = mb / (t2 - t1);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double minv(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static double maxv(const double *v, int n)
{
	double m = v[0];
	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

int main(int argc, char **argv)
{
	const char *server = "MINIO";
	int runs = 5;
	size_t sizes[16] = {4096, 65536, 1048576, 33554432};
	int nsizes = 4;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
			server = argv[++i];
		} else if (strcmp(argv[i], "--stream") == 0) {
			stream = true;
		} else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			runs = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
			nsizes = 0;
			for (char *t = strtok(argv[++i], ","); t && nsizes < 16; t = strtok(NULL, ","))
				sizes[nsizes++] = strtoull(t, NULL, 10);
		} else {
			fprintf(stderr, "usage: bench_s3 [--server MINIO|MOTO] [--stream] [--runs R] [--sizes 4096,65536,...]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 64)
		runs = 5;
	const char *vars[] = {"ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"};
	char *dst[] = {endpoint, access_key, secret_key, bucket};
	size_t cap[] = {sizeof endpoint, sizeof access_key, sizeof secret_key, sizeof bucket};
	for (int i = 0; i < 4; i++) {
		char var[64];
		snprintf(var, sizeof var, "MR_TEST_%s_%s", server, vars[i]);
		const char *v = getenv(var);
		if (!v || !*v) {
			printf("{\"bench\":\"blob-s3\",\"server\":\"%s\",\"skipped\":\"%s is not set\"}\n", server, var);
			return 0;
		}
		snprintf(dst[i], cap[i], "%s", v);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(prefix, sizeof prefix, "bench-%ld/", (long)getpid());
	char text[2048];
	snprintf(text, sizeof text,
		 "[storage]\ndata = \"d\"\nblob = \"b\"\n[store.\"d\"]\ntype = \"sqlite\"\npath = \"/nonexistent/d.db\"\n"
		 "[store.\"b\"]\ntype = \"s3\"\nendpoint = \"%s\"\nbucket = \"%s\"\naccess-key = \"%s\"\nsecret-key = \"%s\"\n"
		 "key-prefix = \"%s\"\n",
		 endpoint, bucket, access_key, secret_key, prefix);
	mr_config *cfg = NULL;
	mr_blob_inst *b = NULL;
	if (mr_config_parse(&cfg, text, strlen(text), "bench-s3.toml") != 0 ||
	    mr_blob__backend_open(&b, mr_config_store(cfg, "b")) != 0) {
		fprintf(stderr, "bench_s3: %s\n", mr_error_last()->message);
		return 1;
	}
	CURL *h = curl_easy_init();
	int status = 0;
	for (int si = 0; si < nsizes && status == 0; si++) {
		size_t size = sizes[si];
		/* about 64 MiB moved per run and op, at least 4 and at most 400 objects */
		int n = (int)((64u << 20) / size);
		n = n < 4 ? 4 : n > 400 ? 400 : n;
		uint8_t *data = malloc(size), *back = malloc(size);
		for (size_t i = 0; i < size; i++)
			data[i] = (uint8_t)(i * 131 + 7);
		memset(back, 0, size); /* fault the pages in before timing */
		/* warm-up: one round each, untimed */
		result warm;
		if (run_backend(b, data, size, n < 8 ? n : 8, back, &warm) != 0 ||
		    run_plain(h, data, size, n < 8 ? n : 8, back, 999, &warm) != 0) {
			status = 1;
			break;
		}
		double bput[64], bget[64], pput[64], pget[64];
		for (int r = 0; r < runs && status == 0; r++) {
			result rb, rp;
			int rc = r % 2 == 0 ? run_backend(b, data, size, n, back, &rb) : run_plain(h, data, size, n, back, r, &rp);
			if (rc == 0)
				rc = r % 2 == 0 ? run_plain(h, data, size, n, back, r, &rp) : run_backend(b, data, size, n, back, &rb);
			if (rc != 0) {
				status = 1;
				break;
			}
			bput[r] = rb.put_mbs;
			bget[r] = rb.get_mbs;
			pput[r] = rp.put_mbs;
			pget[r] = rp.get_mbs;
		}
		if (status == 0) {
			const char *ops[] = {"put", "get"};
			double *bv[] = {bput, bget}, *pv[] = {pput, pget};
			for (int o = 0; o < 2; o++) {
				double bmin = minv(bv[o], runs), bmax = maxv(bv[o], runs);
				double pmin = minv(pv[o], runs), pmax = maxv(pv[o], runs);
				double bmed = median(bv[o], runs), pmed = median(pv[o], runs);
				printf("{\"bench\":\"blob-s3\",\"server\":\"%s\",\"op\":\"%s\",\"size\":%zu,\"objects\":%d,\"runs\":%d,"
				       "\"s3_mb_s\":%.1f,\"s3_min\":%.1f,\"s3_max\":%.1f,"
				       "\"plain_curl_mb_s\":%.1f,\"plain_min\":%.1f,\"plain_max\":%.1f,\"ratio\":%.3f}\n",
				       server, ops[o], size, n, runs, bmed, bmin, bmax, pmed, pmin, pmax, bmed / pmed);
				fflush(stdout);
			}
		}
		free(data);
		free(back);
	}
	curl_easy_cleanup(h);
	b->backend->close(b);
	mr_config_free(cfg);
	curl_global_cleanup();
	return status;
}
