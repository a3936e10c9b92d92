/*
 * conformance_blob.c — the blob store conformance suite, written against
 * include/mailroom/blob.h and data.h only, run unchanged per backend
 * (argv[1]):
 *   fs                       file system (metadata in a private RocksDB or SQLite)
 *   data_rocksdb data_sqlite data_postgresql data_mysql
 *                            the data-store backend; the metadata store is the
 *                            same store (variants with compression/inline use
 *                            their own store of that type)
 *   s3_minio s3_moto         S3 (MR_TEST_MINIO_* / MR_TEST_MOTO_*)
 * A backend whose server is not configured or not compiled in prints
 * SKIPPED and exits 77.  Time (reservations, grace, purge) comes from an
 * injected clock starting in the year 2000 (so records written by other
 * runs on a shared server, stamped with the real time, are never old
 * enough for this run's purge).
 *
 * Cases that need to damage stored bytes (bit flip, orphan objects) know
 * the documented layouts (docs/blob-store.md) of fs, the data-store
 * backend and S3 (key-prefix + hex id, written with the curl command line
 * signed with --aws-sigv4).
 */
#include "harness.h"
#include "mailroom/blob.h"
#include "mailroom/data.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *backend;
static char tmpdir[] = "/tmp/mr-blob-conf.XXXXXX";
static char cfg_text[8192];
static mr_config *CFG;
static mr_data *META;
static mr_blob *B, *BZ, *BL, *BI; /* plain, zstd, lz4, inline (threshold 4 KiB) */
static bool is_fs, is_data, is_s3;
static int skipped_cases;
static int64_t fake_now;
static time_t start_time;
static const uint32_t ACCT_BASE = 1000;
static uint32_t acct_off; /* per-run offset so shared servers see fresh accounts */

#define HOUR (3600LL * 1000)

static int64_t clock_fn(void *payload)
{
	(void)payload;
	return fake_now;
}

static void fill_random(uint8_t *p, size_t n)
{
	static uint64_t s;
	if (!s)
		s = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20) ^ 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		p[i] = (uint8_t)s;
	}
}

static uint32_t acc(uint32_t n) { return ACCT_BASE + acct_off + n; }

/* Commits one link/unlink in its own batch. */
static int link1(mr_blob *bs, const mr_blob_id *id, uint32_t account, uint64_t doc, bool unlink)
{
	mr_batch *b = NULL;
	mr_blob_owner o = {account, MR_BLOB_COLL_EMAIL, doc};
	int rc = mr_batch_new(&b, META);
	if (rc == 0)
		rc = unlink ? mr_blob_unlink(bs, b, id, &o) : mr_blob_link(bs, b, id, &o);
	if (rc == 0)
		rc = mr_batch_commit(b);
	mr_batch_free(b);
	return rc;
}

static int purge(int64_t grace, mr_blob_purge_stats *st)
{
	mr_blob_purge_opts o = {.grace_ms = grace};
	return mr_blob_purge(B, &o, st);
}

/* Path of a blob's file in the fs layout (depth 2) under dir. */
static void fs_file(const char *dir, const mr_blob_id *id, char *out, size_t cap)
{
	char t[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_format(id, t);
	snprintf(out, cap, "%s/%.2s/%.2s/%s", dir, t, t + 2, t);
}

/* S3: runs the curl command line on the object of id in store "b" (key =
 * key-prefix + hex id), signed like the backend; returns the HTTP status
 * or -1.  `args` goes before the URL (e.g. "-X PUT -T file"). */
static int s3_object(const mr_blob_id *id, const char *args, const char *out_file)
{
	const char *p = strstr(backend, "minio") ? "MR_TEST_MINIO_" : "MR_TEST_MOTO_";
	const char *keys[] = {"ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"};
	const char *vals[4];
	for (int i = 0; i < 4; i++) {
		char var[64];
		snprintf(var, sizeof var, "%s%s", p, keys[i]);
		vals[i] = getenv(var);
	}
	char text[MR_BLOB_ID_TEXT_LEN + 1], cmd[2048];
	mr_blob_id_format(id, text);
	snprintf(cmd, sizeof cmd,
		 "curl -sS --max-time 30 -o '%s' -w '%%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 --user '%s:%s' %s "
		 "'%s/%s/conf-%d-%ld/%s'",
		 out_file ? out_file : "/dev/null", vals[1], vals[2], args, vals[0], vals[3], (int)getpid(),
		 (long)start_time, text);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	int status = -1;
	if (fscanf(f, "%d", &status) != 1)
		status = -1;
	pclose(f);
	return status;
}

static int count_files(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "find '%s' -type f 2>/dev/null | wc -l", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

/* Key of a data-store chunk / marker (docs/blob-store.md). */
static void ds_key(mr_key *k, uint8_t tag, const mr_blob_id *id, bool with_idx, uint32_t idx)
{
	mr_key_init(k, MR_SUBSPACE_BLOB_DATA);
	mr_key_u8(k, tag);
	for (int i = 0; i < 4; i++) {
		uint64_t v = 0;
		for (int j = 0; j < 8; j++)
			v = v << 8 | id->bytes[8 * i + j];
		mr_key_u64(k, v);
	}
	if (with_idx)
		mr_key_u32(k, idx);
}

/* ---- cases ---- */

static void test_dedup(void)
{
	uint8_t data[10000];
	fill_random(data, sizeof data);
	mr_blob_id a, b2, c;
	bool fresh = false;
	char blobdir[300];
	snprintf(blobdir, sizeof blobdir, "%s/blobs", tmpdir);
	int files_before = is_fs ? count_files(blobdir) : 0;
	MR_CHECK_OK(mr_blob_put(B, data, sizeof data, &a, &fresh));
	MR_CHECK(fresh);
	MR_CHECK_OK(mr_blob_put(B, data, sizeof data, &b2, &fresh));
	MR_CHECK(!fresh);
	MR_CHECK(mr_blob_id_equal(&a, &b2));
	char path[256];
	snprintf(path, sizeof path, "%s/dedup.bin", tmpdir);
	FILE *f = fopen(path, "wb");
	MR_CHECK(f && fwrite(data, 1, sizeof data, f) == sizeof data);
	fclose(f);
	uint64_t size = 0;
	MR_CHECK_OK(mr_blob_put_file(B, path, &c, &size, &fresh));
	MR_CHECK(!fresh);
	MR_CHECK(mr_blob_id_equal(&a, &c));
	MR_CHECK_EQ_INT(size, sizeof data);
	unlink(path);
	if (is_fs)
		MR_CHECK_EQ_INT(count_files(blobdir), files_before + 1); /* stored once */
	mr_blob_info info;
	MR_CHECK_OK(mr_blob_stat(B, &a, &info));
	MR_CHECK_EQ_INT(info.size, sizeof data);
	MR_CHECK_EQ_INT(info.stored_size, sizeof data);
	MR_CHECK_EQ_STR(info.compression, "none");
	MR_CHECK(!info.inline_stored);
	MR_CHECK_EQ_INT(info.links, 0);
	mr_buf out = MR_BUF_INIT;
	MR_CHECK_OK(mr_blob_get(B, &a, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK(out.len == sizeof data && memcmp(out.ptr, data, sizeof data) == 0);
	mr_buf_dispose(&out);
	/* an id nobody stored */
	mr_blob_id none;
	memset(&none, 0x5a, sizeof none);
	MR_CHECK_RC(mr_blob_get(B, &none, 0, UINT64_MAX, 0, &out), MR_ENOTFOUND);
	MR_CHECK(strstr(mr_error_last()->message, "blob store \"b\"") != NULL);
	MR_CHECK_RC(mr_blob_stat(B, &none, &info), MR_ENOTFOUND);
	mr_buf_dispose(&out);
}

static void test_empty(void)
{
	mr_blob_id id;
	bool fresh;
	MR_CHECK_OK(mr_blob_put(B, "", 0, &id, &fresh));
	char t[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_format(&id, t);
	MR_CHECK_EQ_STR(t, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
	mr_buf out = MR_BUF_INIT;
	MR_CHECK_OK(mr_blob_get(B, &id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK_EQ_INT(out.len, 0);
	MR_CHECK_OK(mr_blob_get(B, &id, 0, 10, 0, &out));
	MR_CHECK_EQ_INT(out.len, 0);
	MR_CHECK_RC(mr_blob_get(B, &id, 1, 1, 0, &out), MR_EINVALID);
	mr_blob_info info;
	MR_CHECK_OK(mr_blob_stat(B, &id, &info));
	MR_CHECK_EQ_INT(info.size, 0);
	mr_buf_dispose(&out);
}

/* Ranged reads at the edges of a blob of `size` bytes on bs. */
static void check_ranges(mr_blob *bs, const uint8_t *data, size_t size, const mr_blob_id *id)
{
	mr_buf out = MR_BUF_INIT;
	const uint64_t cases[][2] = {
		{0, 1}, {0, 0}, {size - 1, 1}, {size - 1, 100}, {size, 1}, {size, UINT64_MAX},
		{524287, 2}, {524288, 1}, {1048575, 524290}, {size / 3, size / 3}, {1, UINT64_MAX},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t off = cases[i][0], len = cases[i][1];
		if (off > size)
			continue;
		mr_buf_clear(&out);
		MR_CHECK_OK(mr_blob_get(bs, id, off, len, 0, &out));
		uint64_t want = len > size - off ? size - off : len;
		MR_CHECK_EQ_INT(out.len, want);
		MR_CHECK(want == 0 || memcmp(out.ptr, data + off, (size_t)want) == 0);
		/* the same range, verified */
		mr_buf_clear(&out);
		MR_CHECK_OK(mr_blob_get(bs, id, off, len, MR_BLOB_VERIFY, &out));
		MR_CHECK_EQ_INT(out.len, want);
		MR_CHECK(want == 0 || memcmp(out.ptr, data + off, (size_t)want) == 0);
	}
	MR_CHECK_RC(mr_blob_get(bs, id, (uint64_t)size + 1, 1, 0, &out), MR_EINVALID);
	/* appends to what out holds */
	MR_CHECK_OK(mr_buf_set(&out, "xy", 2));
	MR_CHECK_OK(mr_blob_get(bs, id, 0, 3, 0, &out));
	MR_CHECK(out.len == 5 && memcmp(out.ptr, "xy", 2) == 0 && memcmp(out.ptr + 2, data, 3) == 0);
	mr_buf_dispose(&out);
}

static void test_ranges(void)
{
	size_t size = 3 * 1024 * 1024 + 17;
	uint8_t *data = malloc(size);
	MR_CHECK(data);
	fill_random(data, size);
	mr_blob_id id;
	MR_CHECK_OK(mr_blob_put(B, data, size, &id, NULL));
	check_ranges(B, data, size, &id);
	free(data);
}

static void test_big_file(void)
{
	const size_t size = 64u * 1024 * 1024;
	char path[256], back[256];
	snprintf(path, sizeof path, "%s/big.bin", tmpdir);
	snprintf(back, sizeof back, "%s/big.out", tmpdir);
	uint8_t *chunk = malloc(1 << 20);
	MR_CHECK(chunk);
	FILE *f = fopen(path, "wb");
	MR_CHECK(f);
	for (size_t i = 0; i < size >> 20; i++) {
		fill_random(chunk, 1 << 20);
		MR_CHECK(fwrite(chunk, 1, 1 << 20, f) == 1 << 20);
	}
	fclose(f);
	mr_blob_id id;
	uint64_t got = 0;
	bool fresh = false;
	MR_CHECK_OK(mr_blob_put_file(B, path, &id, &got, &fresh));
	MR_CHECK(fresh);
	MR_CHECK_EQ_INT(got, size);
	int fd = open(back, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	MR_CHECK(fd >= 0);
	MR_CHECK_OK(mr_blob_get_fd(B, &id, fd, MR_BLOB_VERIFY));
	close(fd);
	/* compare the two files */
	FILE *a = fopen(path, "rb"), *b = fopen(back, "rb");
	MR_CHECK(a && b);
	uint8_t *c2 = malloc(1 << 20);
	bool same = true;
	for (;;) {
		size_t n1 = fread(chunk, 1, 1 << 20, a), n2 = fread(c2, 1, 1 << 20, b);
		if (n1 != n2 || memcmp(chunk, c2, n1) != 0) {
			same = false;
			break;
		}
		if (n1 == 0)
			break;
	}
	fclose(a);
	fclose(b);
	free(c2);
	MR_CHECK(same);
	/* edges of the big one */
	mr_buf out = MR_BUF_INIT;
	MR_CHECK_OK(mr_blob_get(B, &id, size - 1, 10, 0, &out));
	MR_CHECK_EQ_INT(out.len, 1);
	MR_CHECK_EQ_INT(out.ptr[0], chunk[(1 << 20) - 1]);
	mr_buf_clear(&out);
	MR_CHECK_OK(mr_blob_get(B, &id, size, 10, 0, &out));
	MR_CHECK_EQ_INT(out.len, 0);
	MR_CHECK_RC(mr_blob_get(B, &id, size + 1, 10, 0, &out), MR_EINVALID);
	mr_blob_info info;
	MR_CHECK_OK(mr_blob_stat(B, &id, &info));
	MR_CHECK_EQ_INT(info.size, size);
	mr_buf_dispose(&out);
	free(chunk);
	unlink(path);
	unlink(back);
}

static void test_corruption(void)
{
	uint8_t data[200000];
	fill_random(data, sizeof data);
	mr_blob_id id;
	MR_CHECK_OK(mr_blob_put(B, data, sizeof data, &id, NULL));
	if (is_s3) {
		/* fetch the object, flip a bit, store it back under the same key */
		char obj[300], args[400];
		snprintf(obj, sizeof obj, "%s/object", tmpdir);
		MR_CHECK_EQ_INT(s3_object(&id, "", obj), 200);
		int fd = open(obj, O_RDWR);
		MR_CHECK(fd >= 0);
		uint8_t c;
		MR_CHECK(pread(fd, &c, 1, 12345) == 1);
		c ^= 0x10;
		MR_CHECK(pwrite(fd, &c, 1, 12345) == 1);
		close(fd);
		snprintf(args, sizeof args, "-X PUT -T '%s'", obj);
		MR_CHECK_EQ_INT(s3_object(&id, args, NULL), 200);
		unlink(obj);
	} else if (is_fs) {
		char path[512];
		char dir[300];
		snprintf(dir, sizeof dir, "%s/blobs", tmpdir);
		fs_file(dir, &id, path, sizeof path);
		int fd = open(path, O_RDWR);
		MR_CHECK(fd >= 0);
		uint8_t c;
		MR_CHECK(pread(fd, &c, 1, 12345) == 1);
		c ^= 0x10;
		MR_CHECK(pwrite(fd, &c, 1, 12345) == 1);
		close(fd);
	} else {
		mr_key k;
		mr_buf v = MR_BUF_INIT;
		ds_key(&k, 0x01, &id, true, 0);
		MR_CHECK_OK(mr_data_get(META, mr_key_slice(&k), &v));
		v.ptr[777] ^= 0x01;
		mr_batch *b = NULL;
		MR_CHECK_OK(mr_batch_new(&b, META));
		MR_CHECK_OK(mr_batch_set(b, mr_key_slice(&k), mr_buf_slice(&v)));
		MR_CHECK_OK(mr_batch_commit(b));
		mr_batch_free(b);
		mr_buf_dispose(&v);
	}
	mr_buf out = MR_BUF_INIT;
	MR_CHECK_OK(mr_buf_set(&out, "keep", 4));
	MR_CHECK_RC(mr_blob_get(B, &id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out), MR_ECORRUPT);
	MR_CHECK(strstr(mr_error_last()->message, "do not hash to the id") != NULL);
	MR_CHECK(out.len == 4 && memcmp(out.ptr, "keep", 4) == 0); /* no wrong bytes handed back */
	MR_CHECK_RC(mr_blob_get(B, &id, 100, 10, MR_BLOB_VERIFY, &out), MR_ECORRUPT);
	char back[256];
	snprintf(back, sizeof back, "%s/corrupt.out", tmpdir);
	int fd = open(back, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	MR_CHECK(fd >= 0);
	MR_CHECK_RC(mr_blob_get_fd(B, &id, fd, MR_BLOB_VERIFY), MR_ECORRUPT);
	close(fd);
	unlink(back);
	/* a compressed blob with a damaged stored frame: an error, never bytes */
	mr_buf_dispose(&out);
}

static void test_reservations(void)
{
	uint8_t data[5000];
	fill_random(data, sizeof data);
	mr_blob_id id;
	mr_blob_purge_stats st;
	MR_CHECK_OK(mr_blob_put(B, data, sizeof data, &id, NULL));
	uint64_t used = 0;
	MR_CHECK_OK(mr_blob_reserve(B, &id, acc(1), fake_now + 1000));
	MR_CHECK_OK(mr_blob_quota_used(B, acc(1), &used));
	MR_CHECK_EQ_INT(used, sizeof data);
	mr_blob_info info;
	MR_CHECK_OK(mr_blob_stat(B, &id, &info));
	MR_CHECK_EQ_INT(info.reservations, 1);
	/* reserving again moves the expiry */
	MR_CHECK_OK(mr_blob_reserve(B, &id, acc(1), fake_now + 2000));
	fake_now += 1999;
	MR_CHECK_OK(purge(0, &st));
	MR_CHECK_OK(mr_blob_stat(B, &id, &info)); /* still reserved: not purged */
	MR_CHECK_EQ_INT(info.reservations, 1);
	MR_CHECK_OK(mr_blob_quota_used(B, acc(1), &used));
	MR_CHECK_EQ_INT(used, sizeof data);
	fake_now += 1; /* now == expiry: expired */
	MR_CHECK_OK(mr_blob_quota_used(B, acc(1), &used));
	MR_CHECK_EQ_INT(used, 0);
	MR_CHECK_OK(mr_blob_stat(B, &id, &info));
	MR_CHECK_EQ_INT(info.reservations, 0);
	MR_CHECK_OK(purge(0, &st));
	MR_CHECK(st.reservations_expired >= 1);
	MR_CHECK(st.blobs_deleted >= 1);
	MR_CHECK(st.complete);
	mr_buf out = MR_BUF_INIT;
	MR_CHECK_RC(mr_blob_get(B, &id, 0, UINT64_MAX, 0, &out), MR_ENOTFOUND);
	/* release */
	MR_CHECK_OK(mr_blob_put(B, data, sizeof data, &id, NULL));
	MR_CHECK_OK(mr_blob_reserve(B, &id, acc(2), fake_now + HOUR));
	MR_CHECK_OK(mr_blob_release(B, &id, acc(2)));
	MR_CHECK_OK(mr_blob_quota_used(B, acc(2), &used));
	MR_CHECK_EQ_INT(used, 0);
	MR_CHECK_OK(mr_blob_release(B, &id, acc(2))); /* nothing to release: fine */
	mr_blob_id none;
	memset(&none, 0x33, sizeof none);
	MR_CHECK_RC(mr_blob_reserve(B, &none, acc(2), fake_now + HOUR), MR_ENOTFOUND);
	mr_buf_dispose(&out);
}

static void test_quota(void)
{
	uint8_t a[1000], b[3000];
	fill_random(a, sizeof a);
	fill_random(b, sizeof b);
	mr_blob_id ia, ib;
	uint64_t used = 0;
	MR_CHECK_OK(mr_blob_put(B, a, sizeof a, &ia, NULL));
	MR_CHECK_OK(mr_blob_put(B, b, sizeof b, &ib, NULL));
	/* two documents of one account in ONE batch: charged once */
	mr_batch *bt = NULL;
	MR_CHECK_OK(mr_batch_new(&bt, META));
	mr_blob_owner o1 = {acc(10), MR_BLOB_COLL_EMAIL, 1}, o2 = {acc(10), MR_BLOB_COLL_EMAIL, 2};
	MR_CHECK_OK(mr_blob_link(B, bt, &ia, &o1));
	MR_CHECK_OK(mr_blob_link(B, bt, &ia, &o2));
	MR_CHECK_OK(mr_blob_link(B, bt, &ia, &o2)); /* again: no-op */
	MR_CHECK_OK(mr_batch_commit(bt));
	mr_batch_free(bt);
	MR_CHECK_OK(mr_blob_quota_used(B, acc(10), &used));
	MR_CHECK_EQ_INT(used, 1000);
	/* another account is charged too */
	MR_CHECK_OK(link1(B, &ia, acc(11), 1, false));
	MR_CHECK_OK(mr_blob_quota_used(B, acc(11), &used));
	MR_CHECK_EQ_INT(used, 1000);
	MR_CHECK_OK(link1(B, &ib, acc(10), 3, false));
	MR_CHECK_OK(link1(B, &ib, acc(10), 3, false)); /* linked already: no-op */
	MR_CHECK_OK(mr_blob_quota_used(B, acc(10), &used));
	MR_CHECK_EQ_INT(used, 4000);
	mr_blob_info info;
	MR_CHECK_OK(mr_blob_stat(B, &ia, &info));
	MR_CHECK_EQ_INT(info.links, 3);
	/* a reservation of a blob the account links is not charged twice */
	MR_CHECK_OK(mr_blob_reserve(B, &ia, acc(10), fake_now + HOUR));
	MR_CHECK_OK(mr_blob_quota_used(B, acc(10), &used));
	MR_CHECK_EQ_INT(used, 4000);
	MR_CHECK_OK(link1(B, &ia, acc(10), 1, true));
	MR_CHECK_OK(mr_blob_quota_used(B, acc(10), &used));
	MR_CHECK_EQ_INT(used, 4000);
	MR_CHECK_OK(link1(B, &ia, acc(10), 2, true));
	MR_CHECK_OK(mr_blob_quota_used(B, acc(10), &used)); /* only the reservation charges a now */
	MR_CHECK_EQ_INT(used, 4000);
	MR_CHECK_OK(mr_blob_release(B, &ia, acc(10)));
	MR_CHECK_OK(mr_blob_quota_used(B, acc(10), &used));
	MR_CHECK_EQ_INT(used, 3000);
	MR_CHECK_OK(link1(B, &ia, acc(10), 2, true)); /* not linked: no-op */
	/* link + unlink of the same document in one batch */
	MR_CHECK_OK(mr_batch_new(&bt, META));
	mr_blob_owner o5 = {acc(12), MR_BLOB_COLL_FILE, 5};
	MR_CHECK_OK(mr_blob_link(B, bt, &ib, &o5));
	MR_CHECK_OK(mr_blob_unlink(B, bt, &ib, &o5));
	MR_CHECK_OK(mr_batch_commit(bt));
	mr_batch_free(bt);
	MR_CHECK_OK(mr_blob_quota_used(B, acc(12), &used));
	MR_CHECK_EQ_INT(used, 0);
	/* concurrent batches built on the same state: the second conflicts */
	mr_batch *b1 = NULL, *b2 = NULL;
	mr_blob_owner c1 = {acc(13), MR_BLOB_COLL_EMAIL, 1}, c2 = {acc(13), MR_BLOB_COLL_EMAIL, 2};
	MR_CHECK_OK(mr_batch_new(&b1, META));
	MR_CHECK_OK(mr_batch_new(&b2, META));
	MR_CHECK_OK(mr_blob_link(B, b1, &ib, &c1));
	MR_CHECK_OK(mr_blob_link(B, b2, &ib, &c2));
	MR_CHECK_OK(mr_batch_commit(b1));
	MR_CHECK_RC(mr_batch_commit(b2), MR_ECONFLICT);
	mr_batch_free(b1);
	mr_batch_free(b2);
	MR_CHECK_OK(mr_blob_quota_used(B, acc(13), &used));
	MR_CHECK_EQ_INT(used, 3000);
	/* linking a blob that is not stored */
	mr_blob_id none;
	memset(&none, 0x44, sizeof none);
	MR_CHECK_RC(link1(B, &none, acc(13), 9, false), MR_ENOTFOUND);
	/* clean up */
	MR_CHECK_OK(link1(B, &ia, acc(11), 1, true));
	MR_CHECK_OK(link1(B, &ib, acc(10), 3, true));
	MR_CHECK_OK(link1(B, &ib, acc(13), 1, true));
	MR_CHECK_OK(mr_blob_quota_used(B, acc(10), &used));
	MR_CHECK_EQ_INT(used, 0);
	MR_CHECK_OK(mr_blob_quota_used(B, acc(11), &used));
	MR_CHECK_EQ_INT(used, 0);
}

static void test_purge_keeps_held(void)
{
	uint8_t l[700], r[800], g[900];
	fill_random(l, sizeof l);
	fill_random(r, sizeof r);
	fill_random(g, sizeof g);
	mr_blob_id il, ir, ig;
	mr_blob_purge_stats st;
	MR_CHECK_OK(mr_blob_put(B, l, sizeof l, &il, NULL));
	MR_CHECK_OK(mr_blob_put(B, r, sizeof r, &ir, NULL));
	MR_CHECK_OK(mr_blob_put(B, g, sizeof g, &ig, NULL));
	MR_CHECK_OK(link1(B, &il, acc(20), 1, false));
	MR_CHECK_OK(mr_blob_reserve(B, &ir, acc(20), fake_now + 10 * HOUR));
	fake_now += 3 * HOUR; /* past the default grace of 1 h */
	MR_CHECK_OK(purge(-1, &st));
	MR_CHECK(st.blobs_deleted >= 1);
	mr_buf out = MR_BUF_INIT;
	MR_CHECK_OK(mr_blob_get(B, &il, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK_EQ_INT(out.len, sizeof l);
	mr_buf_clear(&out);
	MR_CHECK_OK(mr_blob_get(B, &ir, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK_EQ_INT(out.len, sizeof r);
	MR_CHECK_RC(mr_blob_get(B, &ig, 0, UINT64_MAX, 0, &out), MR_ENOTFOUND);
	/* and once more with grace 0: still kept */
	MR_CHECK_OK(purge(0, &st));
	MR_CHECK_OK(mr_blob_stat(B, &il, &(mr_blob_info){0}));
	MR_CHECK_OK(mr_blob_stat(B, &ir, &(mr_blob_info){0}));
	/* unlinked and released: gone on the next purge */
	MR_CHECK_OK(link1(B, &il, acc(20), 1, true));
	MR_CHECK_OK(mr_blob_release(B, &ir, acc(20)));
	MR_CHECK_OK(purge(0, &st));
	MR_CHECK(st.blobs_deleted >= 2);
	MR_CHECK_RC(mr_blob_stat(B, &il, &(mr_blob_info){0}), MR_ENOTFOUND);
	MR_CHECK_RC(mr_blob_stat(B, &ir, &(mr_blob_info){0}), MR_ENOTFOUND);
	if (is_fs) {
		char path[512], dir[300];
		snprintf(dir, sizeof dir, "%s/blobs", tmpdir);
		fs_file(dir, &il, path, sizeof path);
		MR_CHECK(access(path, F_OK) != 0); /* bytes removed too */
	}
	/* linking a purged blob fails */
	MR_CHECK_RC(link1(B, &il, acc(20), 1, false), MR_ENOTFOUND);
	mr_buf_dispose(&out);
}

/* Key of a blob's record (docs/blob-store.md: BLOB 0x20, 0x00, id). */
static void rec_key(mr_key *k, const mr_blob_id *id)
{
	ds_key(k, 0x00, id, false, 0);
	k->buf[0] = MR_SUBSPACE_BLOB;
}

/* Sets the state byte of a blob's record as a purge killed between its
 * TOMBSTONE commit and its held re-check would have left it. */
static void force_tombstone(const mr_blob_id *id)
{
	mr_key k;
	rec_key(&k, id);
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_data_get(META, mr_key_slice(&k), &v));
	MR_CHECK_EQ_INT(v.len, 44);
	MR_CHECK_EQ_INT(v.ptr[1], 2); /* LIVE */
	v.ptr[1] = 3;			   /* TOMBSTONE */
	mr_batch *b = NULL;
	MR_CHECK_OK(mr_batch_new(&b, META));
	MR_CHECK_OK(mr_batch_set(b, mr_key_slice(&k), mr_buf_slice(&v)));
	MR_CHECK_OK(mr_batch_commit(b));
	mr_batch_free(b);
	mr_buf_dispose(&v);
}

/* A purge killed right after tombstoning a blob that a link committed just
 * before (its own re-check would have restored it): the linked blob stays
 * readable meanwhile, the next purge makes it LIVE again and keeps the
 * bytes; an unlinked one under such a tombstone reads as absent and goes. */
static void test_purge_killed_after_tombstone(void)
{
	uint8_t l[3000], u[70000];
	fill_random(l, sizeof l);
	fill_random(u, sizeof u);
	mr_blob_id il, iu;
	mr_blob_purge_stats st;
	mr_buf out = MR_BUF_INIT;
	MR_CHECK_OK(mr_blob_put(B, l, sizeof l, &il, NULL));
	MR_CHECK_OK(mr_blob_put(B, u, sizeof u, &iu, NULL));
	MR_CHECK_OK(link1(B, &il, acc(21), 1, false));
	force_tombstone(&il);
	force_tombstone(&iu);
	MR_CHECK_OK(mr_blob_get(B, &il, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK_EQ_INT(out.len, sizeof l);
	MR_CHECK(memcmp(out.ptr, l, sizeof l) == 0);
	mr_buf_clear(&out);
	MR_CHECK_OK(mr_blob_get(B, &il, 100, 50, 0, &out));
	MR_CHECK(out.len == 50 && memcmp(out.ptr, l + 100, 50) == 0);
	mr_blob_info info;
	MR_CHECK_OK(mr_blob_stat(B, &il, &info));
	MR_CHECK_EQ_INT(info.links, 1);
	MR_CHECK_RC(mr_blob_get(B, &iu, 0, UINT64_MAX, 0, &out), MR_ENOTFOUND);
	MR_CHECK_RC(link1(B, &il, acc(21), 2, false), MR_ENOTFOUND); /* no new link under a tombstone */
	fake_now += 11 * 60 * 1000; /* a tombstone this old is a crashed purge's */
	MR_CHECK_OK(purge(HOUR, &st));
	MR_CHECK_OK(mr_blob_stat(B, &il, &info));
	MR_CHECK_OK(link1(B, &il, acc(21), 2, false)); /* LIVE again */
	mr_buf_clear(&out);
	MR_CHECK_OK(mr_blob_get(B, &il, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK_EQ_INT(out.len, sizeof l);
	MR_CHECK_RC(mr_blob_stat(B, &iu, &info), MR_ENOTFOUND);
	MR_CHECK_RC(mr_blob_get(B, &iu, 0, UINT64_MAX, 0, &out), MR_ENOTFOUND);
	if (is_fs) {
		char path[512], dir[300];
		snprintf(dir, sizeof dir, "%s/blobs", tmpdir);
		fs_file(dir, &iu, path, sizeof path);
		MR_CHECK(access(path, F_OK) != 0); /* the unheld one's bytes went */
		fs_file(dir, &il, path, sizeof path);
		MR_CHECK(access(path, F_OK) == 0);
	}
	MR_CHECK_OK(link1(B, &il, acc(21), 1, true));
	MR_CHECK_OK(link1(B, &il, acc(21), 2, true));
	mr_buf_dispose(&out);
}

static void test_purge_grace(void)
{
	uint8_t g[1234];
	fill_random(g, sizeof g);
	mr_blob_id id;
	mr_blob_purge_stats st;
	mr_blob_info info;
	MR_CHECK_OK(purge(0, &st)); /* start from a clean slate */
	MR_CHECK_OK(mr_blob_put(B, g, sizeof g, &id, NULL));
	fake_now += HOUR - 1;
	MR_CHECK_OK(purge(-1, &st));
	MR_CHECK_OK(mr_blob_stat(B, &id, &info)); /* inside the grace period */
	/* a second put after half the grace refreshes the record */
	MR_CHECK_OK(mr_blob_put(B, g, sizeof g, &id, NULL));
	fake_now += HOUR - 1;
	MR_CHECK_OK(purge(-1, &st));
	MR_CHECK_OK(mr_blob_stat(B, &id, &info));
	fake_now += 1;
	MR_CHECK_OK(purge(-1, &st));
	MR_CHECK_EQ_INT(st.blobs_deleted, 1);
	MR_CHECK_EQ_INT(st.bytes_deleted, sizeof g);
	MR_CHECK_RC(mr_blob_stat(B, &id, &info), MR_ENOTFOUND);
}

static void roundtrip(mr_blob *bs, const char *comp)
{
	/* compressible text, random bytes, a streamed file */
	size_t n = 1024 * 1024 + 3;
	uint8_t *text = malloc(n);
	MR_CHECK(text);
	uint8_t salt[16];
	fill_random(salt, sizeof salt);
	for (size_t i = 0; i < n; i++)
		text[i] = (uint8_t)("The quick brown fox jumps over the lazy dog. "[i % 45] ^ (i < 16 ? salt[i] : 0));
	mr_blob_id id;
	mr_blob_info info;
	mr_buf out = MR_BUF_INIT;
	MR_CHECK_OK(mr_blob_put(bs, text, n, &id, NULL));
	MR_CHECK_OK(mr_blob_stat(bs, &id, &info));
	MR_CHECK_EQ_STR(info.compression, comp);
	MR_CHECK(info.stored_size < n / 10);
	MR_CHECK_EQ_INT(info.size, n);
	MR_CHECK_OK(mr_blob_get(bs, &id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK(out.len == n && memcmp(out.ptr, text, n) == 0);
	check_ranges(bs, text, n, &id);
	/* the plain handle reads it too where they share the bytes: how a blob
	 * is stored is in its record, not in the reader's configuration */
	if (strcmp(backend, "data_rocksdb") != 0) {
		mr_buf_clear(&out);
		MR_CHECK_OK(mr_blob_get(B, &id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
		MR_CHECK(out.len == n && memcmp(out.ptr, text, n) == 0);
	}
	/* incompressible: stored as is */
	uint8_t rnd[50000];
	fill_random(rnd, sizeof rnd);
	MR_CHECK_OK(mr_blob_put(bs, rnd, sizeof rnd, &id, NULL));
	MR_CHECK_OK(mr_blob_stat(bs, &id, &info));
	MR_CHECK_EQ_STR(info.compression, "none");
	mr_buf_clear(&out);
	MR_CHECK_OK(mr_blob_get(bs, &id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK(out.len == sizeof rnd && memcmp(out.ptr, rnd, sizeof rnd) == 0);
	/* streamed from a file: compressed on the fly */
	char path[256];
	snprintf(path, sizeof path, "%s/comp.txt", tmpdir);
	text[20] ^= 0x55; /* another id */
	FILE *f = fopen(path, "wb");
	MR_CHECK(f && fwrite(text, 1, n, f) == n);
	fclose(f);
	uint64_t size = 0;
	MR_CHECK_OK(mr_blob_put_file(bs, path, &id, &size, NULL));
	unlink(path);
	MR_CHECK_OK(mr_blob_stat(bs, &id, &info));
	MR_CHECK_EQ_STR(info.compression, comp);
	MR_CHECK(info.stored_size < n / 10);
	mr_buf_clear(&out);
	MR_CHECK_OK(mr_blob_get(bs, &id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK(out.len == n && memcmp(out.ptr, text, n) == 0);
	mr_buf_clear(&out);
	MR_CHECK_OK(mr_blob_get(bs, &id, n - 5, 100, 0, &out));
	MR_CHECK(out.len == 5 && memcmp(out.ptr, text + n - 5, 5) == 0);
	/* empty blob through a compressing store (data_rocksdb: the variants keep
	 * their bytes in databases of their own while the records are shared,
	 * so a blob another handle stored is not readable here) */
	uint8_t e[1];
	fill_random(e, 1);
	MR_CHECK_OK(mr_blob_put(bs, e, strcmp(backend, "data_rocksdb") == 0 ? 1 : 0, &id, NULL));
	mr_buf_clear(&out);
	MR_CHECK_OK(mr_blob_get(bs, &id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK(out.len <= 1);
	free(text);
	mr_buf_dispose(&out);
}

static void test_compression_zstd(void) { roundtrip(BZ, "zstd"); }
static void test_compression_lz4(void) { roundtrip(BL, "lz4"); }

static void test_inline(void)
{
	uint8_t small[100], edge[4096], big[5000];
	fill_random(small, sizeof small);
	fill_random(edge, sizeof edge);
	fill_random(big, sizeof big);
	mr_blob_id is, ie, ib;
	mr_blob_info info;
	mr_buf out = MR_BUF_INIT;
	MR_CHECK_OK(mr_blob_put(BI, small, sizeof small, &is, NULL));
	MR_CHECK_OK(mr_blob_stat(BI, &is, &info));
	MR_CHECK(info.inline_stored);
	MR_CHECK_EQ_INT(info.stored_size, 0);
	MR_CHECK_OK(mr_blob_get(BI, &is, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK(out.len == sizeof small && memcmp(out.ptr, small, sizeof small) == 0);
	mr_buf_clear(&out);
	MR_CHECK_OK(mr_blob_get(BI, &is, 10, 5, 0, &out));
	MR_CHECK(out.len == 5 && memcmp(out.ptr, small + 10, 5) == 0);
	MR_CHECK_OK(mr_blob_put(BI, edge, sizeof edge, &ie, NULL)); /* at the threshold: not inline */
	MR_CHECK_OK(mr_blob_stat(BI, &ie, &info));
	MR_CHECK(!info.inline_stored);
	MR_CHECK_OK(mr_blob_put(BI, big, sizeof big, &ib, NULL));
	MR_CHECK_OK(mr_blob_stat(BI, &ib, &info));
	MR_CHECK(!info.inline_stored);
	if (is_fs) {
		char path[512], dir[300];
		snprintf(dir, sizeof dir, "%s/blobs", tmpdir);
		fs_file(dir, &is, path, sizeof path);
		MR_CHECK(access(path, F_OK) != 0); /* no backend object for an inline blob */
		fs_file(dir, &ib, path, sizeof path);
		MR_CHECK(access(path, F_OK) == 0);
	}
	/* inline blobs link, count and purge like the others */
	uint64_t used;
	MR_CHECK_OK(link1(BI, &is, acc(30), 1, false));
	MR_CHECK_OK(mr_blob_quota_used(BI, acc(30), &used));
	MR_CHECK_EQ_INT(used, sizeof small);
	MR_CHECK_OK(link1(BI, &is, acc(30), 1, true));
	mr_blob_purge_stats st;
	mr_blob_purge_opts o = {.grace_ms = 0};
	MR_CHECK_OK(mr_blob_purge(BI, &o, &st));
	MR_CHECK_RC(mr_blob_stat(BI, &is, &info), MR_ENOTFOUND);
	mr_buf_dispose(&out);
}

/* Links (account 22, document doc) after completing t in the same batch. */
static int complete_and_link(const mr_blob_ticket *t, uint64_t doc)
{
	mr_batch *b = NULL;
	mr_blob_owner o = {acc(22), MR_BLOB_COLL_EMAIL, doc};
	int rc = mr_batch_new(&b, META);
	if (rc == 0)
		rc = mr_blob_complete(B, b, t);
	if (rc == 0)
		rc = mr_blob_link(B, b, &t->id, &o);
	if (rc == 0)
		rc = mr_blob_flush(B);
	if (rc == 0)
		rc = mr_batch_commit(b);
	mr_batch_free(b);
	return rc;
}

/* Deferred puts: on a backend that defers (fs) the blob is PENDING, not
 * readable or linkable, until its ticket is completed in a committed batch
 * (which may link it too); an uncompleted one is garbage after the grace;
 * one a purge took meanwhile fails to complete.  Elsewhere a deferred put
 * is a plain put.  Same id and dedup as mr_blob_put either way. */
static void test_deferred(void)
{
	uint8_t d[5000], e[6000], f[7000];
	fill_random(d, sizeof d);
	fill_random(e, sizeof e);
	fill_random(f, sizeof f);
	mr_blob_ticket t, te, tf, again;
	mr_blob_id plain;
	bool fresh = false;
	mr_buf out = MR_BUF_INIT;
	mr_blob_purge_stats st;
	MR_CHECK_OK(mr_blob_put_deferred(B, d, sizeof d, &t, &fresh));
	MR_CHECK(fresh);
	MR_CHECK_EQ_INT(t.pending, is_fs);
	if (t.pending) {
		MR_CHECK_RC(mr_blob_get(B, &t.id, 0, UINT64_MAX, 0, &out), MR_ENOTFOUND);
		MR_CHECK_RC(link1(B, &t.id, acc(22), 1, false), MR_ENOTFOUND);
		MR_CHECK_OK(complete_and_link(&t, 1));
	} else {
		MR_CHECK_OK(link1(B, &t.id, acc(22), 1, false));
	}
	MR_CHECK_OK(mr_blob_get(B, &t.id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK(out.len == sizeof d && memcmp(out.ptr, d, sizeof d) == 0);
	MR_CHECK_OK(mr_blob_put(B, d, sizeof d, &plain, &fresh));
	MR_CHECK(!fresh && mr_blob_id_equal(&plain, &t.id));
	MR_CHECK_OK(mr_blob_put_deferred(B, d, sizeof d, &again, &fresh)); /* dedup: nothing pending */
	MR_CHECK(!fresh && !again.pending && mr_blob_id_equal(&again.id, &t.id));
	MR_CHECK_OK(complete_and_link(&again, 2)); /* completing a non-pending ticket is a no-op */
	/* never completed: the PENDING and the bytes go after the grace */
	MR_CHECK_OK(mr_blob_put_deferred(B, e, sizeof e, &te, &fresh));
	/* taken by a purge with a grace shorter than the batch: completing fails */
	MR_CHECK_OK(mr_blob_put_deferred(B, f, sizeof f, &tf, &fresh));
	fake_now += 2 * HOUR;
	MR_CHECK_OK(purge(-1, &st));
	MR_CHECK_RC(mr_blob_stat(B, &te.id, &(mr_blob_info){0}), MR_ENOTFOUND);
	if (tf.pending) {
		MR_CHECK(st.orphans_deleted >= 2);
		MR_CHECK_RC(complete_and_link(&tf, 3), MR_ECONFLICT);
		MR_CHECK_RC(mr_blob_get(B, &tf.id, 0, UINT64_MAX, 0, &out), MR_ENOTFOUND);
	}
	if (is_fs) {
		char path[512], dir[300];
		snprintf(dir, sizeof dir, "%s/blobs", tmpdir);
		fs_file(dir, &te.id, path, sizeof path);
		MR_CHECK(access(path, F_OK) != 0);
	}
	/* the completed one is kept */
	mr_buf_clear(&out);
	MR_CHECK_OK(mr_blob_get(B, &t.id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK_OK(link1(B, &t.id, acc(22), 1, true));
	MR_CHECK_OK(link1(B, &t.id, acc(22), 2, true));
	mr_buf_dispose(&out);
}

/* fs: bytes found under an id with no record are adopted only if they hash
 * to it (a deferred put's file may survive a crash with its length but not
 * its bytes): a same-length impostor is rewritten. */
static void test_adopt_verifies(void)
{
	if (!is_fs) {
		skipped_cases++;
		return;
	}
	uint8_t d[4000];
	fill_random(d, sizeof d);
	mr_blob_id id;
	mr_blob_purge_stats st;
	MR_CHECK_OK(mr_blob_put(B, d, sizeof d, &id, NULL)); /* its id; purged again at once */
	fake_now += 2 * HOUR;
	MR_CHECK_OK(purge(0, &st));
	MR_CHECK_RC(mr_blob_stat(B, &id, &(mr_blob_info){0}), MR_ENOTFOUND);
	char path[512], dir[300], cmd[1200];
	snprintf(dir, sizeof dir, "%s/blobs", tmpdir);
	fs_file(dir, &id, path, sizeof path);
	snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\" && head -c 4000 /dev/zero > '%s'", path, path);
	MR_CHECK(system(cmd) == 0);
	bool fresh = false;
	mr_blob_id got;
	MR_CHECK_OK(mr_blob_put(B, d, sizeof d, &got, &fresh));
	mr_buf out = MR_BUF_INIT;
	MR_CHECK_OK(mr_blob_get(B, &id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	MR_CHECK(out.len == sizeof d && memcmp(out.ptr, d, sizeof d) == 0);
	mr_buf_dispose(&out);
}

static void test_orphans(void)
{
	mr_blob_id id;
	uint8_t bytes[300];
	fill_random(bytes, sizeof bytes);
	/* an object under an id nobody recorded (what a crash could leave) */
	memcpy(id.bytes, bytes, sizeof id.bytes);
	if (is_s3) {
		char obj[300], args[400];
		snprintf(obj, sizeof obj, "%s/orphan", tmpdir);
		FILE *f = fopen(obj, "wb");
		MR_CHECK(f != NULL);
		MR_CHECK(fwrite(bytes, 1, sizeof bytes, f) == sizeof bytes);
		fclose(f);
		snprintf(args, sizeof args, "-X PUT -T '%s'", obj);
		MR_CHECK_EQ_INT(s3_object(&id, args, NULL), 200);
		MR_CHECK_EQ_INT(s3_object(&id, "-I", NULL), 200);
		unlink(obj);
	} else if (is_fs) {
		char path[512], dir[300], cmd[1200];
		snprintf(dir, sizeof dir, "%s/blobs", tmpdir);
		fs_file(dir, &id, path, sizeof path);
		snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\" && head -c 300 /dev/urandom > '%s'", path, path);
		MR_CHECK(system(cmd) == 0);
	} else {
		mr_key k;
		mr_batch *b = NULL;
		uint8_t marker[17] = {1};
		marker[1 + 7] = 10;                       /* size 10 */
		marker[9 + 1] = 0x08;                     /* chunk 512 KiB = 0x00080000 */
		marker[13 + 3] = 1;                       /* one chunk */
		MR_CHECK_OK(mr_batch_new(&b, META));
		ds_key(&k, 0x01, &id, true, 0);
		MR_CHECK_OK(mr_batch_set(b, mr_key_slice(&k), mr_slice_of(bytes, 10)));
		ds_key(&k, 0x02, &id, false, 0);
		MR_CHECK_OK(mr_batch_set(b, mr_key_slice(&k), mr_slice_of(marker, sizeof marker)));
		MR_CHECK_OK(mr_batch_commit(b));
		mr_batch_free(b);
	}
	mr_blob_purge_stats st;
	MR_CHECK_OK(purge(0, &st));
	MR_CHECK(st.orphans_deleted >= 1);
	if (is_s3) {
		MR_CHECK_EQ_INT(s3_object(&id, "-I", NULL), 404);
	} else if (is_fs) {
		char path[512], dir[300];
		snprintf(dir, sizeof dir, "%s/blobs", tmpdir);
		fs_file(dir, &id, path, sizeof path);
		MR_CHECK(access(path, F_OK) != 0);
	} else {
		mr_key k;
		mr_buf v = MR_BUF_INIT;
		ds_key(&k, 0x02, &id, false, 0);
		MR_CHECK_RC(mr_data_get(META, mr_key_slice(&k), &v), MR_ENOTFOUND);
		ds_key(&k, 0x01, &id, true, 0);
		MR_CHECK_RC(mr_data_get(META, mr_key_slice(&k), &v), MR_ENOTFOUND);
		mr_buf_dispose(&v);
	}
}

static void test_purge_idempotent_resumable(void)
{
	mr_blob_purge_stats st;
	mr_blob_id ids[5];
	for (int i = 0; i < 5; i++) {
		uint8_t d[100];
		fill_random(d, sizeof d);
		MR_CHECK_OK(mr_blob_put(B, d, sizeof d, &ids[i], NULL));
	}
	/* stopped after 2 records: incomplete; the next run finishes */
	mr_blob_purge_opts o = {.grace_ms = 0, .max_blobs = 2};
	MR_CHECK_OK(mr_blob_purge(B, &o, &st));
	MR_CHECK(!st.complete);
	volatile int stop = 1;
	mr_blob_purge_opts s = {.grace_ms = 0, .stop = &stop};
	MR_CHECK_OK(mr_blob_purge(B, &s, &st));
	MR_CHECK(!st.complete);
	MR_CHECK_OK(purge(0, &st));
	MR_CHECK(st.complete);
	for (int i = 0; i < 5; i++)
		MR_CHECK_RC(mr_blob_stat(B, &ids[i], &(mr_blob_info){0}), MR_ENOTFOUND);
	MR_CHECK_OK(purge(0, &st));
	MR_CHECK(st.complete);
	MR_CHECK_EQ_INT(st.blobs_deleted, 0);
	MR_CHECK_EQ_INT(st.reservations_expired, 0);
	MR_CHECK_EQ_INT(st.orphans_deleted, 0);
}

static void test_bad_config(void)
{
	static const char *bad[] = {"compression = \"gzip\"\n", "inline-threshold = \"2MiB\"\n"};
	for (size_t i = 0; i < 2; i++) {
		char text[1024];
		snprintf(text, sizeof text,
			 "[storage]\ndata = \"m\"\nblob = \"x\"\n[store.\"m\"]\ntype = \"sqlite\"\npath = \"%s/unused.sqlite\"\n"
			 "[store.\"x\"]\ntype = \"fs\"\npath = \"%s/x\"\n%s",
			 tmpdir, tmpdir, bad[i]);
		mr_config *cfg = NULL;
		mr_blob *bs = NULL;
		MR_CHECK_OK(mr_config_parse(&cfg, text, strlen(text), "bad.toml"));
		MR_CHECK_RC(mr_blob_open(&bs, cfg, "x", META), MR_EINVALID);
		MR_CHECK(strstr(mr_error_last()->message, "bad.toml:") != NULL);
		mr_config_free(cfg);
	}
}

/* ---- setup ---- */

static void appendf(const char *fmt, ...) MR_PRINTF(1, 2);
static void appendf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = strlen(cfg_text);
	vsnprintf(cfg_text + n, sizeof cfg_text - n, fmt, ap);
	va_end(ap);
}

/* The [store."<id>"] body of the backend under test, plus extra keys. */
static void store(const char *id, const char *variant, const char *extra)
{
	appendf("[store.\"%s\"]\n", id);
	if (is_fs) {
		appendf("type = \"fs\"\npath = \"%s/blobs\"\ndepth = 2\n", tmpdir); /* one directory for every variant */
	} else if (is_data) {
		const char *t = backend + 5;
		if (!strcmp(t, "rocksdb"))
			appendf("type = \"rocksdb\"\npath = \"%s/db%s\"\n", tmpdir, variant);
		else if (!strcmp(t, "sqlite"))
			appendf("type = \"sqlite\"\npath = \"%s/db.sqlite\"\n", tmpdir);
		else
			appendf("type = \"%s\"\nurl = \"%s\"\n", t,
				getenv(!strcmp(t, "postgresql") ? "MR_TEST_PG_URL" : "MR_TEST_MYSQL_URL"));
	} else {
		const char *p = strstr(backend, "minio") ? "MR_TEST_MINIO_" : "MR_TEST_MOTO_";
		char var[64];
		const char *keys[] = {"ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"};
		const char *vals[4];
		for (int i = 0; i < 4; i++) {
			snprintf(var, sizeof var, "%s%s", p, keys[i]);
			vals[i] = getenv(var);
		}
		appendf("type = \"s3\"\nendpoint = \"%s\"\nregion = \"us-east-1\"\nbucket = \"%s\"\naccess-key = \"%s\"\n"
			"secret-key = \"%s\"\npath-style = true\nkey-prefix = \"conf-%d-%ld/\"\n",
			vals[0], vals[3], vals[1], vals[2], (int)getpid(), (long)start_time);
	}
	appendf("%s", extra);
}

static int setup(void)
{
	is_fs = !strcmp(backend, "fs");
	is_data = !strncmp(backend, "data_", 5);
	is_s3 = !strncmp(backend, "s3_", 3);
	if (!is_fs && !is_data && !is_s3) {
		fprintf(stderr, "unknown backend \"%s\"\n", backend);
		return 1;
	}
	if (!strcmp(backend, "data_postgresql") && !getenv("MR_TEST_PG_URL"))
		MR_TEST_SKIP("MR_TEST_PG_URL is not set (scripts/servers/postgres start sets it)");
	if (!strcmp(backend, "data_mysql") && !getenv("MR_TEST_MYSQL_URL"))
		MR_TEST_SKIP("MR_TEST_MYSQL_URL is not set (scripts/servers/mariadb start sets it)");
	if (is_s3) {
		const char *p = strstr(backend, "minio") ? "MINIO" : "MOTO";
		const char *keys[] = {"ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"};
		for (int i = 0; i < 4; i++) {
			char var[64];
			snprintf(var, sizeof var, "MR_TEST_%s_%s", p, keys[i]);
			if (!getenv(var) || !*getenv(var))
				MR_TEST_SKIP("%s is not set (scripts/servers/%s start sets it)", var,
					     strcmp(p, "MINIO") == 0 ? "minio" : "moto");
		}
	}
	start_time = time(NULL);
	if (!mkdtemp(tmpdir))
		return 1;
	const char *meta_id = is_data ? "b" : "meta";
	appendf("[storage]\ndata = \"%s\"\nblob = \"b\"\n", meta_id);
	if (!is_data)
		appendf("[store.\"meta\"]\ntype = \"%s\"\npath = \"%s/meta%s\"\n",
			mr_backends_compiled() && strstr(mr_backends_compiled(), "rocksdb") ? "rocksdb" : "sqlite", tmpdir,
			strstr(mr_backends_compiled(), "rocksdb") ? "" : ".sqlite");
	store("b", "", "");
	store("bz", "-zstd", "compression = \"zstd\"\n");
	store("bl", "-lz4", "compression = \"lz4\"\n");
	store("bi", "-inline", "inline-threshold = 4096\n");
	if (mr_config_parse(&CFG, cfg_text, strlen(cfg_text), "conformance.toml") != 0) {
		fprintf(stderr, "config: %s\n%s", mr_error_last()->message, cfg_text);
		return 1;
	}
	int rc = mr_data_open(&META, CFG, meta_id);
	if (rc == 0)
		rc = mr_blob_open(&B, CFG, "b", META);
	if (rc == 0)
		rc = mr_blob_open(&BZ, CFG, "bz", META);
	if (rc == 0)
		rc = mr_blob_open(&BL, CFG, "bl", META);
	if (rc == 0)
		rc = mr_blob_open(&BI, CFG, "bi", META);
	if (rc != 0) {
		if (rc == MR_ENOTSUPPORTED)
			MR_TEST_SKIP("%s", mr_error_last()->message);
		fprintf(stderr, "open: %s\n", mr_error_last()->message);
		return 1;
	}
	/* the year 2000 plus a per-run offset (see the header comment) */
	fake_now = 946684800000LL + (int64_t)(getpid() % 100000) * 1000;
	acct_off = (uint32_t)(((uint64_t)time(NULL) * 1000 + (uint64_t)getpid()) % 1000000) * 100;
	mr_blob_set_clock(B, clock_fn, NULL);
	mr_blob_set_clock(BZ, clock_fn, NULL);
	mr_blob_set_clock(BL, clock_fn, NULL);
	mr_blob_set_clock(BI, clock_fn, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	backend = argc > 1 ? argv[1] : "fs";
	if (setup() != 0)
		return 1;
	printf("blob conformance on %s (blob backend \"%s\", metadata in %s)\n", backend, mr_blob_backend_name(B),
	       mr_data_backend_name(META));
	MR_TEST_RUN(test_dedup);
	MR_TEST_RUN(test_empty);
	MR_TEST_RUN(test_ranges);
	MR_TEST_RUN(test_big_file);
	MR_TEST_RUN(test_corruption);
	MR_TEST_RUN(test_reservations);
	MR_TEST_RUN(test_quota);
	MR_TEST_RUN(test_purge_keeps_held);
	MR_TEST_RUN(test_purge_killed_after_tombstone);
	MR_TEST_RUN(test_purge_grace);
	MR_TEST_RUN(test_compression_zstd);
	MR_TEST_RUN(test_compression_lz4);
	MR_TEST_RUN(test_inline);
	MR_TEST_RUN(test_deferred);
	MR_TEST_RUN(test_adopt_verifies);
	MR_TEST_RUN(test_orphans);
	MR_TEST_RUN(test_purge_idempotent_resumable);
	MR_TEST_RUN(test_bad_config);
	/* leave nothing of ours behind on shared servers */
	mr_blob_purge_stats st;
	fake_now += 10 * HOUR;
	if (purge(0, &st) != 0)
		fprintf(stderr, "final purge: %s\n", mr_error_last()->message);
	mr_blob_close(B);
	mr_blob_close(BZ);
	mr_blob_close(BL);
	mr_blob_close(BI);
	mr_data_close(META);
	mr_config_free(CFG);
	(void)mr_test_remove_tree(tmpdir);
	printf("blob conformance %s: %d passed, %d failed, %d case(s) not applicable\n", backend,
	       mr_test_cases - mr_test_failures, mr_test_failures, skipped_cases);
	MR_TEST_DONE();
}
