/*
 * lib/curl.h — libcurl, loaded on first use (core/dynlib.h) by the backends
 * that speak HTTP (blob/s3.c, search/http.c): they call through mr_curl
 * after mr_curl_load() succeeded.  curl's type-checking macros are off, as
 * they would expand the names the table members share.
 */
#ifndef MR_LIB_CURL_H
#define MR_LIB_CURL_H

#define CURL_DISABLE_TYPECHECK 1
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

#define MR_X_MEMBER(f) __typeof__(f) *f;
typedef struct mr_curl_fns {
	MR_CURL_FUNCS(MR_X_MEMBER)
} mr_curl_fns;
#undef MR_X_MEMBER

extern mr_curl_fns mr_curl;

/* Loads libcurl once per process; MR_ENOTSUPPORTED naming `what` when it cannot. */
int mr_curl_load(const char *what);

#endif
