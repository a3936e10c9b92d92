/*
 * test_data_readonly.c — mr_data_open_readonly on RocksDB: a reader opens
 * the store while a writer holds its LOCK, sees what was committed before
 * its open (including what is still only in the WAL), refuses every write
 * with MR_EINVALID, writes no file into the directory, and fails cleanly on
 * a store that does not exist.  On SQLite (no read-only op) it opens as
 * mr_data_open does but still refuses writes.
 */
#include "core/common.h"
#include "harness.h"

#include "mailroom/config.h"
#include "mailroom/data.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[] = "/tmp/mr-test-readonly-XXXXXX";
static mr_config *cfg;

#define S(str) ((mr_slice){(const uint8_t *)(str), sizeof(str) - 1})

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void setup(void)
{
	MR_CHECK(mkdtemp(root) != NULL);
	char text[1024];
	snprintf(text, sizeof(text),
		 "[storage]\ndata = \"db\"\n\n[store.\"db\"]\ntype = \"rocksdb\"\npath = \"%s/db\"\n\n"
		 "[store.\"missing\"]\ntype = \"rocksdb\"\npath = \"%s/none\"\n\n"
		 "[store.\"lite\"]\ntype = \"sqlite\"\npath = \"%s/lite.db\"\n",
		 root, root, root);
	MR_CHECK_OK(mr_config_parse(&cfg, text, strlen(text), "test.toml"));
}

static void test_reader_beside_writer(void)
{
	mr_data *w = NULL, *r = NULL;
	MR_CHECK_OK(mr_data_open(&w, cfg, "db"));
	mr_batch *b = NULL;
	MR_CHECK_OK(mr_batch_new(&b, w));
	MR_CHECK_OK(mr_batch_set(b, S("k1"), S("v1")));
	MR_CHECK_OK(mr_batch_add(b, S("c1"), 5));
	MR_CHECK_OK(mr_batch_commit(b));
	mr_batch_free(b);

	/* a second writer is refused (the LOCK), a reader is not */
	mr_data *w2 = NULL;
	MR_CHECK(mr_data_open(&w2, cfg, "db") != 0);
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/db", root);
	size_t files = count_files(dir);
	MR_CHECK_OK(mr_data_open_readonly(&r, cfg, "db"));
	mr_buf v = {0};
	MR_CHECK_OK(mr_data_get(r, S("k1"), &v));
	MR_CHECK(v.len == 2 && memcmp(v.ptr, "v1", 2) == 0);
	int64_t c = 0;
	MR_CHECK_OK(mr_data_get_counter(r, S("c1"), &c));
	MR_CHECK_EQ_INT(c, 5);

	/* every write is refused, naming the store */
	MR_CHECK_OK(mr_batch_new(&b, r));
	MR_CHECK_OK(mr_batch_set(b, S("k2"), S("v2")));
	MR_CHECK_RC(mr_batch_commit(b), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "read-only") != NULL);
	mr_batch_free(b);
	MR_CHECK_RC(mr_data_add_and_get(r, S("c1"), 1, &c), MR_EINVALID);
	MR_CHECK_RC(mr_data_maintain(r), MR_EINVALID);
	MR_CHECK_RC(mr_data_get(r, S("k2"), &v), MR_ENOTFOUND);
	mr_data_close(r);
	MR_CHECK_EQ_INT(count_files(dir), files); /* the reader wrote nothing */

	/* the writer still works and its data is intact */
	MR_CHECK_OK(mr_data_get_counter(w, S("c1"), &c));
	MR_CHECK_EQ_INT(c, 5);
	mr_data_close(w);
	mr_buf_dispose(&v);
}

static void test_missing_store(void)
{
	mr_data *r = NULL;
	MR_CHECK(mr_data_open_readonly(&r, cfg, "missing") != 0);
	MR_CHECK(r == NULL);
	MR_CHECK(strstr(mr_error_last()->message, "missing") != NULL);
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/none", root);
	MR_CHECK(access(dir, F_OK) != 0); /* not created */
}

static void test_sqlite_falls_back(void)
{
	mr_data *r = NULL;
	MR_CHECK_OK(mr_data_open_readonly(&r, cfg, "lite"));
	mr_buf v = {0};
	MR_CHECK_RC(mr_data_get(r, S("k"), &v), MR_ENOTFOUND);
	mr_batch *b = NULL;
	MR_CHECK_OK(mr_batch_new(&b, r));
	MR_CHECK_OK(mr_batch_set(b, S("k"), S("v")));
	MR_CHECK_RC(mr_batch_commit(b), MR_EINVALID);
	mr_batch_free(b);
	mr_data_close(r);
	mr_buf_dispose(&v);
}

int main(void)
{
	MR_TEST_RUN(setup);
	if (!cfg)
		return 1;
	MR_TEST_RUN(test_reader_beside_writer);
	MR_TEST_RUN(test_missing_store);
	MR_TEST_RUN(test_sqlite_falls_back);
	mr_config_free(cfg);
	(void)mr_test_remove_tree(root);
	MR_TEST_DONE();
}
