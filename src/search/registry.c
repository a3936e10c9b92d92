/*
 * registry.c — maps a search store's `type` to the compiled-in backend.
 * A data-store type (rocksdb, sqlite, postgresql, mysql, foundationdb)
 * means the built-in index kept in that data store; elasticsearch and
 * meilisearch are external engines over HTTP (libcurl).  The only file of the
 * search store that reads mr_features.h.
 */
#include "search/backend.h"

#include "mr_features.h"

static const char *const data_types[] = {"rocksdb", "sqlite", "postgresql", "mysql", "foundationdb"};
static const char *const external_types[] = {"elasticsearch", "opensearch", "meilisearch"};

const mr_search_backend *mr_search__backend_find(const char *type)
{
	if (!type)
		return mr_error_set(MR_EINVALID, "search store: missing type"), NULL;
	for (size_t i = 0; i < MR_ARRAY_LEN(data_types); i++)
		if (strcmp(type, data_types[i]) == 0)
			return &mr_search__builtin;
	if (strcmp(type, "builtin") == 0)
		return &mr_search__builtin;
#if MR_HAVE_CURL
	if (strcmp(type, "elasticsearch") == 0 || strcmp(type, "opensearch") == 0)
		return &mr_search__elasticsearch;
	if (strcmp(type, "meilisearch") == 0)
		return &mr_search__meilisearch;
#endif
	for (size_t i = 0; i < MR_ARRAY_LEN(external_types); i++)
		if (strcmp(type, external_types[i]) == 0)
			return mr_error_set(MR_ENOTSUPPORTED,
					    "search backend \"%s\" is not compiled into this build (libcurl was not found at "
					    "configure time)",
					    type),
			       NULL;
	mr_error_set(MR_EINVALID, "unknown search store type \"%s\" (expected a data store type for the built-in "
				  "index, or elasticsearch, opensearch, meilisearch)",
		     type);
	return NULL;
}
