/*
 * http.h (private to src/search/) — the small HTTP/JSON client the
 * external search engines (elasticsearch.c, meilisearch.c) share: libcurl
 * easy handles kept in a pool (connections are reused across calls and
 * threads), JSON bodies with jansson, retries with capped exponential
 * backoff on transport errors and HTTP 429/502/503/504, failover to the
 * next base URL on transport errors, and errors that name the method,
 * the path and the cause (never a password).
 */
#ifndef MR_SEARCH_HTTP_H
#define MR_SEARCH_HTTP_H

#include "core/common.h"

#include <jansson.h>
#include <pthread.h>

#define MR_SEARCH_HTTP_POOL 8

typedef struct mr_search_http {
	char **bases;       /* base URLs without trailing '/' */
	char **shown;       /* the same with user:password@ removed, for messages */
	size_t nbases;
	size_t current;     /* index of the base in use (moves on transport errors) */
	char *userpwd;      /* "user:password" for basic auth, or NULL */
	char *auth_header;  /* a whole "Authorization: ..." line, or NULL */
	long timeout_ms;
	unsigned max_retries;
	const char *engine; /* "elasticsearch", "meilisearch": for messages */
	pthread_mutex_t mu;
	void *pool[MR_SEARCH_HTTP_POOL];
	size_t npool;
} mr_search_http;

/* One response: the status and the parsed JSON body (NULL when empty or not JSON). */
typedef struct mr_search_http_resp {
	long status;
	json_t *json;
	char *raw; /* the body as received (NUL-terminated), for messages */
} mr_search_http_resp;

/*
 * Sets up h for the given base URLs (each "http[s]://host:port[/prefix]";
 * without a scheme, https:// when tls else http://).  Errors: MR_EINVALID
 * (bad URL), MR_ENOMEM.
 */
int mr_search__http_init(mr_search_http *h, const char *engine, const char *const *urls, size_t nurls, bool tls,
			 long timeout_ms);
void mr_search__http_dispose(mr_search_http *h);

/*
 * Sends method path (appended to the base URL; it may carry a query
 * string) with body (JSON unless content_type says otherwise; NULL: no
 * body).  Transport failures and HTTP 429/502/503/504 are retried; what is
 * left after the retries is MR_EUNAVAILABLE.  HTTP 401/403 is MR_EAUTH.
 * Every other status is returned in *resp for the caller to judge
 * (mr_search__http_resp_dispose after).
 */
int mr_search__http_call(mr_search_http *h, const char *method, const char *path, const char *body, size_t body_len,
			 const char *content_type, mr_search_http_resp *resp);
/* Like mr_search__http_call with a JSON document as the body. */
int mr_search__http_json(mr_search_http *h, const char *method, const char *path, const json_t *body,
			 mr_search_http_resp *resp);
void mr_search__http_resp_dispose(mr_search_http_resp *resp);

/*
 * Sets an error for an unexpected response: "<method> <path>: HTTP <status>:
 * <the engine's reason>" with the reason found in the usual places of an
 * Elasticsearch/OpenSearch/Meilisearch error body.  Returns code.
 */
int mr_search__http_error(int code, const char *method, const char *path, const mr_search_http_resp *resp);

/*
 * A JSON string for UTF-8 text; invalid bytes become U+FFFD (jansson
 * refuses invalid UTF-8; documents must never be rejected for it).
 * NULL on out of memory (error set).
 */
json_t *mr_search__json_text(const char *s);

#endif
