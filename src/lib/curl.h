/*
 * lib/curl.h — libcurl, loaded on first use (core/dynlib.h) by the backends
 * that speak HTTP (blob/s3.c, search/http.c): they call through mr_curl
 * after mr_curl_load() succeeded.  curl's type-checking macros are off, as
 * they would expand the names the table members share.
 */
#ifndef MR_LIB_CURL_H
#define MR_LIB_CURL_H

#define CURL_DISABLE_TYPECHECK 1
#include "core/dynlib.h"

#include <curl/curl.h>

#define MR_CURL_FUNCS(X) \
	X(curl_easy_cleanup) \
	X(curl_easy_escape) \
	X(curl_easy_getinfo) \
	X(curl_easy_init) \
	X(curl_easy_perform) \
	X(curl_easy_reset) \
	X(curl_easy_setopt) \
	X(curl_easy_strerror) \
	X(curl_free) \
	X(curl_global_init) \
	X(curl_slist_append) \
	X(curl_slist_free_all)

typedef MR_DYNLIB_TABLE(MR_CURL_FUNCS) mr_curl_fns;

extern mr_curl_fns mr_curl;

/* Loads libcurl once per process; MR_ENOTSUPPORTED naming `what` when it cannot. */
int mr_curl_load(const char *what);

#endif
