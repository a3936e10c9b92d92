/*
 * test_blob_fs.c — the fs blob backend: put/stat/ranged get/list/remove at
 * depth 0 and 2, file and directory modes, no temp files left behind, a
 * failing reader leaves no blob.
 */
#include "blob/backend.h"
#include "core/config.h"
#include "harness.h"
#include "mailroom/config.h"

#include "mailroom/blob.h"
#include "mailroom/data.h"

#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct src {
	const uint8_t *data;
	size_t len, off;
	int fail_at_end;
} src;

static int src_read(void *buf, size_t cap, size_t *got, void *payload)
{
	src *s = payload;
	size_t n = s->len - s->off < cap ? s->len - s->off : cap;
	if (n == 0 && s->fail_at_end)
		return mr_error_set(MR_EIO, "test reader fails");
	memcpy(buf, s->data + s->off, n);
	s->off += n;
	*got = n;
	return 0;
}

static int count_cb(const mr_blob_id *id, uint64_t size, void *payload)
{
	(void)id;
	(void)size;
	(*(int *)payload)++;
	return 0;
}

static int count_tmp(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "find %s -name '.tmp-*' | wc -l", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void run_depth(int depth)
{
	char root[] = "/tmp/mr-blob-fs-XXXXXX";
	MR_CHECK(mkdtemp(root) != NULL);
	char store[300];
	snprintf(store, sizeof store, "%s/blobs", root);
	mr_blob_inst *b = NULL;
	MR_CHECK_OK(mr_blob__fs_open(&b, store, depth));
	size_t n = 200000;
	uint8_t *data = malloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7);
	mr_blob_id id, empty;
	mr_blob_hash_bytes(data, n, &id);
	mr_blob_hash_bytes("", 0, &empty);
	src s = {data, n, 0, 0};
	MR_CHECK_OK(b->backend->put(b, &id, src_read, &s));
	src e = {data, 0, 0, 0};
	MR_CHECK_OK(b->backend->put(b, &empty, src_read, &e));
	uint64_t size = 0;
	MR_CHECK_OK(b->backend->stat(b, &id, &size));
	MR_CHECK_EQ_INT(size, n);
	MR_CHECK_OK(b->backend->stat(b, &empty, &size));
	MR_CHECK_EQ_INT(size, 0);
	uint8_t buf[100];
	size_t got = 0;
	MR_CHECK_OK(b->backend->get_range(b, &id, 0, buf, 10, &got));
	MR_CHECK_EQ_INT(got, 10);
	MR_CHECK(memcmp(buf, data, 10) == 0);
	MR_CHECK_OK(b->backend->get_range(b, &id, n - 5, buf, 100, &got));
	MR_CHECK_EQ_INT(got, 5);
	MR_CHECK(memcmp(buf, data + n - 5, 5) == 0);
	MR_CHECK_OK(b->backend->get_range(b, &id, n, buf, 100, &got));
	MR_CHECK_EQ_INT(got, 0);
	char path[600], text[65];
	mr_blob_id_format(&id, text);
	if (depth == 2)
		snprintf(path, sizeof path, "%s/%.2s/%.2s/%s", store, text, text + 2, text);
	else
		snprintf(path, sizeof path, "%s/%s", store, text);
	struct stat st;
	MR_CHECK(stat(path, &st) == 0);
	MR_CHECK_EQ_INT(st.st_mode & 0777, 0600);
	if (depth == 2) {
		snprintf(path, sizeof path, "%s/%.2s", store, text);
		MR_CHECK(stat(path, &st) == 0);
		MR_CHECK_EQ_INT(st.st_mode & 0777, 0700);
	}
	/* a failing source leaves nothing under the id and no temp file */
	mr_blob_id other;
	mr_blob_hash_bytes("other", 5, &other);
	src f = {data, 1000, 0, 1};
	MR_CHECK_RC(b->backend->put(b, &other, src_read, &f), MR_EIO);
	MR_CHECK_RC(b->backend->stat(b, &other, &size), MR_ENOTFOUND);
	MR_CHECK_EQ_INT(count_tmp(store), 0);
	int count = 0;
	MR_CHECK_OK(b->backend->list(b, count_cb, &count));
	MR_CHECK_EQ_INT(count, 2);
	MR_CHECK_OK(b->backend->remove(b, &id));
	MR_CHECK_OK(b->backend->remove(b, &id)); /* idempotent */
	MR_CHECK_RC(b->backend->stat(b, &id, &size), MR_ENOTFOUND);
	MR_CHECK_RC(b->backend->get_range(b, &id, 0, buf, 1, &got), MR_ENOTFOUND);
	b->backend->close(b);
	free(data);
	MR_CHECK(mr_test_remove_tree(root) == 0);
}

static void test_depth0(void) { run_depth(0); }
static void test_depth2(void) { run_depth(2); }

static void test_bad_depth(void)
{
	mr_blob_inst *b = NULL;
	MR_CHECK_RC(mr_blob__fs_open(&b, "/tmp/x", 9), MR_EINVALID);
}

static void test_from_config(void)
{
	char root[] = "/tmp/mr-blob-cfg-XXXXXX";
	MR_CHECK(mkdtemp(root) != NULL);
	char text[600];
	snprintf(text, sizeof text,
		 "[storage]\nblob = \"b\"\ndata = \"d\"\n[store.\"d\"]\ntype = \"rocksdb\"\npath = \"%s/db\"\n[store.\"b\"]\ntype = \"fs\"\npath = \"%s/blobs\"\ndepth = 1\n", root, root);
	mr_config *cfg = NULL;
	MR_CHECK_OK(mr_config_parse(&cfg, text, strlen(text), "test.toml"));
	mr_blob_inst *b = NULL;
	MR_CHECK_OK(mr_blob__backend_open(&b, mr_config_store(cfg, "b")));
	mr_blob_id id;
	mr_blob_hash_bytes("x", 1, &id);
	src s = {(const uint8_t *)"x", 1, 0, 0};
	MR_CHECK_OK(b->backend->put(b, &id, src_read, &s));
	uint64_t size = 0;
	MR_CHECK_OK(b->backend->stat(b, &id, &size));
	MR_CHECK_EQ_INT(size, 1);
	b->backend->close(b);
	mr_config_free(cfg);
	MR_CHECK(mr_test_remove_tree(root) == 0);
}

/* Purge removes temp files a killed put left once they are 15 min (or the
 * grace period, if longer) unmodified, and keeps younger ones and blobs. */
static void test_purge_sweeps_partial(void)
{
	char root[] = "/tmp/mr-blob-sweep-XXXXXX";
	MR_CHECK(mkdtemp(root) != NULL);
	char text[700];
	snprintf(text, sizeof text,
		 "[storage]\nblob = \"b\"\ndata = \"d\"\n[store.\"d\"]\ntype = \"rocksdb\"\npath = \"%s/db\"\n"
		 "[store.\"b\"]\ntype = \"fs\"\npath = \"%s/blobs\"\ndepth = 2\n",
		 root, root);
	mr_config *cfg = NULL;
	mr_data *meta = NULL;
	mr_blob *bs = NULL;
	MR_CHECK_OK(mr_config_parse(&cfg, text, strlen(text), "test.toml"));
	MR_CHECK_OK(mr_data_open(&meta, cfg, "d"));
	MR_CHECK_OK(mr_blob_open(&bs, cfg, "b", meta));
	mr_blob_id id;
	MR_CHECK_OK(mr_blob_put(bs, "kept", 4, &id, NULL));
	/* two leftovers in a leaf directory: one 2 h old, one just written;
	 * a 2 h old one in the root (where staged puts write); and a 2 h old
	 * ".tmp-" name one level below the root, where puts never write */
	char hex[MR_BLOB_ID_TEXT_LEN + 1], old_tmp[400], new_tmp[400], staged_tmp[400], odd[400];
	mr_blob_id_format(&id, hex);
	snprintf(old_tmp, sizeof old_tmp, "%s/blobs/%.2s/%.2s/.tmp-old123", root, hex, hex + 2);
	snprintf(new_tmp, sizeof new_tmp, "%s/blobs/%.2s/%.2s/.tmp-new456", root, hex, hex + 2);
	snprintf(staged_tmp, sizeof staged_tmp, "%s/blobs/.tmp-staged789", root);
	snprintf(odd, sizeof odd, "%s/blobs/%.2s/.tmp-notleaf", root, hex);
	const char *paths[] = {old_tmp, new_tmp, staged_tmp, odd};
	for (int i = 0; i < 4; i++) {
		FILE *f = fopen(paths[i], "w");
		MR_CHECK(f != NULL);
		if (f) {
			fputs("half a message", f);
			fclose(f);
		}
	}
	struct timespec two_hours_ago[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
	MR_CHECK(utimensat(AT_FDCWD, old_tmp, two_hours_ago, 0) == 0);
	MR_CHECK(utimensat(AT_FDCWD, odd, two_hours_ago, 0) == 0);
	MR_CHECK(utimensat(AT_FDCWD, staged_tmp, two_hours_ago, 0) == 0);
	mr_blob_purge_opts o = {.grace_ms = -1}; /* the store's: 1 h */
	mr_blob_purge_stats st;
	MR_CHECK_OK(mr_blob_purge(bs, &o, &st));
	MR_CHECK_EQ_INT(st.partials_deleted, 2);
	MR_CHECK(access(old_tmp, F_OK) != 0);
	MR_CHECK(access(staged_tmp, F_OK) != 0);
	MR_CHECK(access(new_tmp, F_OK) == 0);
	MR_CHECK(access(odd, F_OK) == 0);
	/* the blob itself stays (unlinked, but within the grace period) */
	mr_blob_info bst;
	MR_CHECK_OK(mr_blob_stat(bs, &id, &bst));
	mr_blob_close(bs);
	mr_data_close(meta);
	mr_config_free(cfg);
	MR_CHECK(mr_test_remove_tree(root) == 0);
}

int main(void)
{
	MR_TEST_RUN(test_from_config);
	MR_TEST_RUN(test_depth0);
	MR_TEST_RUN(test_depth2);
	MR_TEST_RUN(test_bad_depth);
	MR_TEST_RUN(test_purge_sweeps_partial);
	MR_TEST_DONE();
}
