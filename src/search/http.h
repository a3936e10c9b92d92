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
#include "core/config.h"

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
	pthread_mutex_t ready_mu; /* guards ready (mr_search__http_bootstrap) */
	bool ready;               /* the engine's index is set up */
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

/* What mr_search__http_configure reads besides url and timeout. */
#define MR_SEARCH_HTTP_URLS (1u << 0)       /* `urls` (a list) when `url` is absent, and `tls` */
#define MR_SEARCH_HTTP_BASIC_AUTH (1u << 1) /* `user` and `password`: HTTP basic authentication */
#define MR_SEARCH_HTTP_API_KEY (1u << 2)    /* `api-key`: an "Authorization: Bearer" header */

/*
 * Sets up h from a search store's configuration: `url` (required; with
 * MR_SEARCH_HTTP_URLS, `urls` may stand for it), `timeout` (a positive
 * duration, default 30 s) and the credentials that flags name.  Errors name
 * the key; on error h is left for mr_search__http_dispose.
 */
int mr_search__http_configure(mr_search_http *h, const char *engine, const mr_store_config *sc, unsigned flags);

/*
 * Whether path exists: *found is true on HTTP 200, false on 404; any other
 * status is the error code, with the engine's reason (mr_search__http_error).
 */
int mr_search__http_exists(mr_search_http *h, const char *method, const char *path, int code, bool *found);

/*
 * Runs create(payload) under h's lock unless an earlier call succeeded:
 * the index is made on first use, concurrent callers wait for it, and a
 * failed attempt is tried again by the next call.  Returns create's error.
 */
int mr_search__http_bootstrap(mr_search_http *h, int (*create)(void *payload), void *payload);

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
