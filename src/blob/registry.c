/*
 * registry.c — maps a blob store's config `type` to its backend and opens
 * it from the store's `[store."<id>"]` keys: "fs" always, "s3" when
 * libcurl was found at configure time; "data" is named but not built yet
 * and fails clearly.
 */
#include "blob/backend.h"

#include "core/config.h"
#include "mailroom/mailroom.h"
#include "mr_features.h"

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
	if (type && strcmp(type, "s3") == 0) {
#if MR_HAVE_CURL
		return mr_blob__s3_open(out, sc);
#else
		return mr_error_set(MR_ENOTSUPPORTED, "store \"%s\": backend \"s3\" is not compiled into this build (libcurl was not found at configure time)", id);
#endif
	}
	if (type && strcmp(type, "data") == 0)
		return mr_error_set(MR_ENOTSUPPORTED, "store \"%s\": blob backend \"%s\" is not built yet on this branch", id, type);
	return mr_error_set(MR_EINVALID, "store \"%s\": \"%s\" is not a blob backend (expected fs or s3)", id, type ? type : "");
}
