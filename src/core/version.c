/*
 * version.c — the library version and the list of backends compiled in
 * (from the generated mr_features.h).
 */
#include "core/common.h"
#include "mr_features.h"

const char *mr_version(void) { return MR_VERSION_STRING; }

const char *mr_backends_compiled(void)
{
	/* Each store's line is appended here as that store lands. */
	static const char list[] = "blake3:" MR_BLAKE3_SIMD
				   " memory:local"
#if MR_HAVE_REDIS
				   " memory:redis"
#endif
		;
	return list;
}
