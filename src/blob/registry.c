/*
 * registry.c — maps a blob store's config `type` to its backend and opens
 * it from the store's `[store."<id>"]` keys: "fs", and a data-store type
 * (rocksdb, sqlite, postgresql, mysql) for the data-store backend.
 */
#include "blob/backend.h"

#include "core/config.h"
#include "mailroom/mailroom.h"

#include <string.h>


int mr_blob__backend_open(mr_blob_inst **out, const mr_store_config *sc)
{
	const char *type = mr_store_config_type(sc);
	const char *id = mr_store_config_id(sc);
	*out = NULL;
	if (type && strcmp(type, "fs") == 0) {
		const char *path = NULL;
		int64_t depth = 0;
		int rc = mr_store_config_string_required(sc, "path", &path);
		if (rc == 0)
			rc = mr_store_config_int(sc, "depth", 2, 0, 4, &depth);
		if (rc != 0)
			return rc;
		return mr_blob__fs_open(out, path, (int)depth);
	}
	if (type && (strcmp(type, "s3") == 0 || strcmp(type, "data") == 0))
		return mr_error_set(MR_ENOTSUPPORTED, "store \"%s\": blob backend \"%s\" is not built yet on this branch", id, type);
	return mr_error_set(MR_EINVALID, "store \"%s\": \"%s\" is not a blob backend (expected fs)", id, type ? type : "");
}

/* Data-store types are the data-store blob backend; everything else goes
 * to mr_blob__backend_open (fs, s3). */
int mr_blob__backend_open_cfg(mr_blob_inst **out, const mr_config *cfg, const mr_store_config *sc, mr_data *meta)
{
	const char *type = mr_store_config_type(sc);
	*out = NULL;
	if (type && (!strcmp(type, "rocksdb") || !strcmp(type, "sqlite") || !strcmp(type, "postgresql") ||
		     !strcmp(type, "mysql"))) {
		mr_data *shared = meta && strcmp(mr_data_store_id(meta), mr_store_config_id(sc)) == 0 ? meta : NULL;
		return mr_blob__datastore_open(out, cfg, sc, shared); /* mr_data_open reports a type not compiled in */
	}
	return mr_blob__backend_open(out, sc);
}
