/* Unit tests of src/core/config.c: the model, accessors, secrets, errors. */
#include "core/config.h"
#include "harness.h"

static const char good[] = "[storage]\ndata = \"db\"\nblob = \"files\"\n\n"
			   "[store.\"db\"]\ntype = \"sqlite\"\npath = \"/tmp/x.db\"\ntimeout = \"5s\"\n"
			   "pool.max-connections = 7\ncache-size = \"64MiB\"\npassword = \"%{env:MR_TEST_SECRET}%\"\n"
			   "purge.frequency = \"30 5 *\"\nbogus = 1\n\n"
			   "[store.\"files\"]\ntype = \"fs\"\npath = \"/tmp/blobs\"\ndepth = 2\n";

static void test_core_config__model_and_accessors(void)
{
	setenv("MR_TEST_SECRET", "hunter2", 1);
	mr_config *cfg = NULL;
	MR_CHECK_OK(mr_config_parse(&cfg, good, strlen(good), "m.toml"));
	MR_CHECK_EQ_STR(mr_config_role(cfg, "data"), "db");
	MR_CHECK_EQ_STR(mr_config_role(cfg, "blob"), "files");
	MR_CHECK_EQ_STR(mr_config_role(cfg, "fts"), "db");
	MR_CHECK_EQ_STR(mr_config_role(cfg, "lookup"), "db");
	bool unknown_warned = false;
	for (size_t w = 0; w < mr_config_warning_count(cfg); w++)
		unknown_warned |= strstr(mr_config_warning(cfg, w), "m.toml:13: store.db.bogus: unknown key") != NULL;
	if (!unknown_warned)
		mr_config_free(cfg);
	MR_CHECK(unknown_warned);
	const mr_store_config *sc = mr_config_store(cfg, "db");
	MR_CHECK(sc != NULL);
	MR_CHECK_EQ_STR(mr_store_config_type(sc), "sqlite");
	const char *s;
	int64_t i;
	MR_CHECK_OK(mr_store_config_string(sc, "password", NULL, &s));
	MR_CHECK_EQ_STR(s, "hunter2");
	MR_CHECK(mr_store_config__is_secret(sc, "password"));
	MR_CHECK_OK(mr_store_config_duration_ms(sc, "timeout", 0, &i));
	MR_CHECK_EQ_INT(i, 5000);
	MR_CHECK_OK(mr_store_config_size(sc, "cache-size", 0, &i));
	MR_CHECK_EQ_INT(i, 64 * 1024 * 1024);
	MR_CHECK_OK(mr_store_config_int(sc, "pool.max-connections", 1, 1, 100, &i));
	MR_CHECK_EQ_INT(i, 7);
	MR_CHECK_OK(mr_store_config_int(sc, "absent", 42, 0, 100, &i));
	MR_CHECK_EQ_INT(i, 42);
	MR_CHECK_RC(mr_store_config_int(sc, "pool.max-connections", 1, 10, 100, &i), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "m.toml:9: store.db.pool.max-connections: 7 is out of range") != NULL);
	MR_CHECK_RC(mr_store_config_int(sc, "path", 1, 0, 100, &i), MR_EINVALID);
	MR_CHECK_RC(mr_store_config_string_required(sc, "nothere", &s), MR_EINVALID);
	mr_config_free(cfg);
}

static void expect_error(const char *text, int code, const char *frag)
{
	mr_config *cfg = NULL;
	int rc = mr_config_parse(&cfg, text, strlen(text), "e.toml");
	if (rc != code || cfg || !strstr(mr_error_last()->message, frag)) {
		fprintf(stderr, "  config error case failed: rc=%d message=%s (wanted %s)\n", rc, mr_error_last()->message, frag);
		mr_test_failures++;
	}
	mr_config_free(cfg);
}

static void test_core_config__errors(void)
{
	int before = mr_test_failures;
	expect_error("[storage]\ndata = \"x\"\n", MR_EINVALID, "e.toml:2: storage.data: names store \"x\", which is not defined");
	expect_error("[store.a]\npath = \"/x\"\n[storage]\ndata = \"a\"\n", MR_EINVALID, "store.a.type: missing required key");
	expect_error("[store.a]\ntype = \"nosuch\"\n[storage]\ndata = \"a\"\n", MR_EINVALID, "e.toml:2: store.a.type: unknown store type");
	expect_error("[store.a]\ntype = \"rocksdb\"\n[storage]\ndata = \"a\"\n", MR_EINVALID, "store.a.path: missing required key");
	expect_error("[store.a]\ntype = \"fs\"\npath = \"/x\"\n[storage]\ndata = \"a\"\n", MR_EINVALID, "cannot serve as the data store");
	expect_error("[store.a]\ntype = \"rocksdb\"\npath = 5\n[storage]\ndata = \"a\"\n", MR_EINVALID, "e.toml:3: store.a.path: expected a string, got integer");
	expect_error("[store.a]\ntype = \"rocksdb\"\npath = \"/x\"\npurge.frequency = \"61 5 *\"\n[storage]\ndata = \"a\"\n",
		     MR_EINVALID, "e.toml:4: store.a.purge.frequency: cron \"61 5 *\": minute: 61 is out of range 0-59");
	expect_error("[store.a]\ntype = \"postgresql\"\nhost = \"h\"\nport = 70000\n[storage]\ndata = \"a\"\n", MR_EINVALID, "e.toml:4: store.a.port: port 70000 is out of range");
	expect_error("[store.a]\ntype = \"rocksdb\"\npath = \"%{env:MR_TEST_NOT_SET_ANYWHERE}%\"\n[storage]\ndata = \"a\"\n",
		     MR_EINVALID, "e.toml:3: store.a.path: environment variable MR_TEST_NOT_SET_ANYWHERE is not set");
	expect_error("[store.a]\ntype = \"rocksdb\"\npath = \"/x\"\n", MR_EINVALID, "storage: missing required table");
	expect_error("[store.a]\ntype = \"rocksdb\"\npath = \"/x\"\ntimeout = \"5 parsecs\"\n[storage]\ndata = \"a\"\n", MR_EINVALID, "e.toml:4: store.a.timeout: expected a duration");
	MR_CHECK(before == mr_test_failures);
}

int main(void)
{
	MR_TEST_RUN(test_core_config__model_and_accessors);
	MR_TEST_RUN(test_core_config__errors);
	MR_TEST_DONE();
}
