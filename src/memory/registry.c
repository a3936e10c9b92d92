/*
 * registry.c — maps an in-memory store's type to its backend: `local`, or a
 * data-store type (the data-store backend over that store).
 */
#include "memory/backend.h"

extern const mr_memory_backend mr_memory_backend_local;
extern const mr_memory_backend mr_memory_backend_datastore;

const mr_memory_backend *mr_memory__backend_find(const char *type)
{
	static const char *const data_types[] = {"rocksdb", "sqlite", "postgresql", "mysql"};
	if (strcmp(type, "local") == 0)
		return &mr_memory_backend_local;
	for (size_t i = 0; i < MR_ARRAY_LEN(data_types); i++)
		if (strcmp(type, data_types[i]) == 0)
			return &mr_memory_backend_datastore;
	if (strcmp(type, "redis") == 0) {
		mr_error_set(MR_ENOTSUPPORTED, "backend \"redis\" is not implemented in this version yet");
		return NULL;
	}
	mr_error_set(MR_EINVALID, "\"%s\" is not an in-memory store type (local, redis, or a data-store type)", type);
	return NULL;
}
