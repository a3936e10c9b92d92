/*
 * lib/curl.c — the libcurl function table (lib/curl.h).
 */
#include "lib/curl.h"

#include "core/dynlib.h"

mr_curl_fns mr_curl;

#define MR_X_NAME(f) #f,
static const char *const names[] = {MR_CURL_FUNCS(MR_X_NAME)};
#undef MR_X_NAME
static mr_dynlib lib = {.soname = MR_SONAME_CURL,
			.what = "the HTTP backends (s3, elasticsearch, meilisearch)",
			.names = names,
			.count = MR_ARRAY_LEN(names),
			.table = &mr_curl,
			.table_size = sizeof(mr_curl),
			.lock = PTHREAD_MUTEX_INITIALIZER};

int mr_curl_load(const char *what)
{
	int rc = mr_dynlib_load(&lib);
	if (rc < 0 && what)
		mr_error_prefix("%s", what);
	return rc;
}
