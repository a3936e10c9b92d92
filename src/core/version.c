/*
 * version.c — the library version and the backends compiled into this
 * build, as each store's registry reports them.
 */
#include "core/common.h"
#include "mr_features.h"

const char *mr_data__backend_names(void);

const char *mr_version(void) { return MR_VERSION_STRING; }

const char *mr_backends_compiled(void)
{
	static char list[512];
	if (!list[0])
		snprintf(list, sizeof(list), "data: %s| in-memory: local, data store%s | search: built-in (in the data store) | "
					     "blake3: %s",
			 mr_data__backend_names(), MR_HAVE_REDIS ? (MR_HAVE_REDIS_TLS ? ", redis (with TLS)" : ", redis (no TLS)") : "", MR_BLAKE3_SIMD);
	return list;
}
