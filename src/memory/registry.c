/*
 * registry.c — maps an in-memory store type to its compiled-in backend.
 * The only file of src/memory/ that reads mr_features.h.  Data-store types
 * (rocksdb, sqlite, postgresql, mysql) map to the datastore backend when
 * it is built.
 */
#include "memory/backend.h"
#include "mr_features.h"

extern const mr_memory_backend mr_memory_backend_local;
extern const mr_memory_backend mr_memory_backend_datastore;
#if MR_HAVE_REDIS && MR_MEMORY_REDIS_FILE
extern const mr_memory_backend mr_memory_backend_redis;
#endif

const mr_memory_backend *mr_memory__backend_find(const char *type)
{
	if (strcmp(type, "local") == 0)
		return &mr_memory_backend_local;
	if (strcmp(type, "redis") == 0) {
#if MR_HAVE_REDIS && MR_MEMORY_REDIS_FILE
		return &mr_memory_backend_redis;
#else
		mr_error_set(MR_ENOTSUPPORTED,
			     "backend \"redis\" is not compiled into this build (libhiredis was not found at configure time)");
		return NULL;
#endif
	}
	if (!strcmp(type, "rocksdb") || !strcmp(type, "sqlite") || !strcmp(type, "postgresql") || !strcmp(type, "mysql")) {
		return &mr_memory_backend_datastore; /* mr_data_open reports a type not compiled in */
	}
	mr_error_set(MR_EINVALID, "\"%s\" is not an in-memory store type (local, redis, rocksdb, sqlite, postgresql, mysql)",
		     type);
	return NULL;
}
