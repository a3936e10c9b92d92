/*
 * test_search_registry.c — which backend serves a search store type, and
 * the external engines (or the clear error when libcurl is missing), and
 * unknown types.
 */
#include "harness.h"
#include "search/backend.h"

static void test_search_registry__data_types_use_builtin(void)
{
	const char *types[] = {"rocksdb", "sqlite", "postgresql", "mysql", "foundationdb", "builtin"};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const mr_search_backend *b = mr_search__backend_find(types[i]);
		MR_CHECK(b == &mr_search__builtin);
		MR_CHECK_EQ_STR(b->name, "builtin");
		MR_CHECK(b->version >= 1 && b->version <= MR_SEARCH_BACKEND_VERSION);
		MR_CHECK(b->open && b->close && b->index && b->remove && b->query);
	}
}

/* External engines: served by their HTTP backends when libcurl was found, else a clear error. */
static void test_search_registry__external(void)
{
	const char *types[] = {"elasticsearch", "opensearch", "meilisearch"};
	const char *names[] = {"elasticsearch", "elasticsearch", "meilisearch"};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const mr_search_backend *b = mr_search__backend_find(types[i]);
		if (!b) {
			MR_CHECK_EQ_INT(mr_error_last()->code, MR_ENOTSUPPORTED);
			MR_CHECK(strstr(mr_error_last()->message, "is not compiled into this build (libcurl") != NULL);
			continue;
		}
		MR_CHECK(b != &mr_search__builtin);
		MR_CHECK_EQ_STR(b->name, names[i]);
		MR_CHECK(b->version >= 1 && b->version <= MR_SEARCH_BACKEND_VERSION);
		MR_CHECK(b->open && b->close && b->index && b->remove && b->query && b->stats);
	}
}

static void test_search_registry__unknown(void)
{
	MR_CHECK(mr_search__backend_find("solr") == NULL);
	MR_CHECK_EQ_INT(mr_error_last()->code, MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "unknown search store type \"solr\"") != NULL);
	MR_CHECK(mr_search__backend_find(NULL) == NULL);
	mr_search *s = NULL;
	MR_CHECK_RC(mr_search_open_builtin(&s, NULL), MR_EINVALID);
	MR_CHECK(s == NULL);
}

int main(void)
{
	MR_TEST_RUN(test_search_registry__data_types_use_builtin);
	MR_TEST_RUN(test_search_registry__external);
	MR_TEST_RUN(test_search_registry__unknown);
	MR_TEST_DONE();
}
