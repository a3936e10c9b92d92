/*
 * lib/curl.c — the libcurl function table (lib/curl.h).
 */
#include "lib/curl.h"

#include "core/dynlib.h"

mr_curl_fns mr_curl;

MR_DYNLIB_DEFINE(lib, MR_CURL_FUNCS, mr_curl, MR_SONAME_CURL, "the HTTP backends (s3, elasticsearch, meilisearch)");

int mr_curl_load(const char *what)
{
	int rc = mr_dynlib_load(&lib);
	if (rc < 0 && what)
		mr_error_prefix("%s", what);
	return rc;
}
