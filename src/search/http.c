/*
 * http.c — the HTTP/JSON client of the external search engines (http.h).
 */
#include "search/http.h"

#include "lib/curl.h"
#include <utf8proc.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init(void) { curl_init_rc = mr_curl.curl_global_init(CURL_GLOBAL_DEFAULT); }

/* "http://user:pw@host/x" -> "http://host/x" for messages. */
static char *redact(const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : url;
	const char *slash = strchr(host, '/');
	const char *at = strchr(host, '@');
	if (!at || (slash && at > slash))
		return mr_strdup(url);
	size_t pre = (size_t)(host - url);
	size_t rest = strlen(at + 1);
	char *out = mr_malloc(pre + rest + 1);
	if (!out)
		return NULL;
	memcpy(out, url, pre);
	memcpy(out + pre, at + 1, rest + 1);
	return out;
}

int mr_search__http_init(mr_search_http *h, const char *engine, const char *const *urls, size_t nurls, bool tls,
			 long timeout_ms)
{
	memset(h, 0, sizeof(*h));
	h->engine = engine;
	h->timeout_ms = timeout_ms;
	h->max_retries = 5;
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_init(&h->ready_mu, NULL);
	if (mr_curl_load(engine) < 0)
		return mr_error_last()->code;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return mr_error_set(MR_ERROR, "%s: curl_global_init failed: %s", engine,
				    mr_curl.curl_easy_strerror(curl_init_rc));
	if (nurls == 0)
		return mr_error_set(MR_EINVALID, "%s: no url", engine);
	h->bases = mr_calloc(nurls, sizeof(char *));
	h->shown = mr_calloc(nurls, sizeof(char *));
	if (!h->bases || !h->shown)
		return MR_ENOMEM;
	h->nbases = nurls;
	for (size_t i = 0; i < nurls; i++) {
		const char *u = urls[i];
		if (!u || !*u)
			return mr_error_set(MR_EINVALID, "%s: empty url", engine);
		bool has_scheme = strstr(u, "://") != NULL;
		if (has_scheme && strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
			return mr_error_set(MR_EINVALID, "%s: url \"%.64s\": the scheme must be http:// or https://",
					    engine, u);
		mr_buf b = MR_BUF_INIT;
		int rc = has_scheme ? mr_buf_puts(&b, u) : mr_buf_printf(&b, "%s://%s", tls ? "https" : "http", u);
		while (rc == 0 && b.len > 0 && b.ptr[b.len - 1] == '/')
			b.ptr[--b.len] = '\0';
		if (rc < 0) {
			mr_buf_dispose(&b);
			return rc;
		}
		h->bases[i] = (char *)b.ptr;
		if (!h->bases[i])
			return mr_error_set(MR_EINVALID, "%s: empty url", engine);
		if (!(h->shown[i] = redact(h->bases[i])))
			return MR_ENOMEM;
	}
	return 0;
}

void mr_search__http_dispose(mr_search_http *h)
{
	for (size_t i = 0; i < h->npool; i++)
		mr_curl.curl_easy_cleanup(h->pool[i]);
	for (size_t i = 0; i < h->nbases; i++) {
		mr_free(h->bases ? h->bases[i] : NULL);
		mr_free(h->shown ? h->shown[i] : NULL);
	}
	mr_free(h->bases);
	mr_free(h->shown);
	mr_free(h->userpwd);
	mr_free(h->auth_header);
	pthread_mutex_destroy(&h->mu);
	pthread_mutex_destroy(&h->ready_mu);
	memset(h, 0, sizeof(*h));
}

int mr_search__http_configure(mr_search_http *h, const char *engine, const mr_store_config *sc, unsigned flags)
{
	const char *url = NULL, *user = NULL, *password = NULL, *key = NULL;
	const char *const *urls = &url;
	size_t nurls = 1;
	int64_t timeout = 0;
	bool tls = false;
	int rc;
	if (flags & MR_SEARCH_HTTP_URLS) {
		if ((rc = mr_store_config_string(sc, "url", NULL, &url)) < 0 ||
		    (rc = mr_store_config_bool(sc, "tls", false, &tls)) < 0)
			return rc;
		if (!url && (rc = mr_store_config_strings(sc, "urls", &urls, &nurls)) < 0)
			return rc;
		if (nurls == 0)
			return mr_error_set(MR_EINVALID, "%s: missing required key url (or urls)",
					    mr_store_config_where(sc, "url"));
	} else if ((rc = mr_store_config_string_required(sc, "url", &url)) < 0) {
		return rc;
	}
	if (((flags & MR_SEARCH_HTTP_BASIC_AUTH) && ((rc = mr_store_config_string(sc, "user", NULL, &user)) < 0 ||
						     (rc = mr_store_config_string(sc, "password", NULL, &password)) < 0)) ||
	    ((flags & MR_SEARCH_HTTP_API_KEY) && (rc = mr_store_config_string(sc, "api-key", NULL, &key)) < 0) ||
	    (rc = mr_store_config_duration_ms(sc, "timeout", 30000, &timeout)) < 0)
		return rc;
	if (timeout <= 0)
		return mr_error_set(MR_EINVALID, "%s: timeout must be positive", mr_store_config_where(sc, "timeout"));
	if ((rc = mr_search__http_init(h, engine, urls, nurls, tls, (long)timeout)) < 0)
		return rc;
	mr_buf b = MR_BUF_INIT;
	if (user || password) {
		if ((rc = mr_buf_printf(&b, "%s:%s", user ? user : "", password ? password : "")) < 0)
			return rc;
		h->userpwd = (char *)b.ptr;
	} else if (key) {
		if ((rc = mr_buf_printf(&b, "Authorization: Bearer %s", key)) < 0)
			return rc;
		h->auth_header = (char *)b.ptr;
	}
	return 0;
}

int mr_search__http_exists(mr_search_http *h, const char *method, const char *path, int code, bool *found)
{
	mr_search_http_resp r;
	int rc = mr_search__http_call(h, method, path, NULL, 0, NULL, &r);
	if (rc < 0)
		return rc;
	if (r.status == 200 || r.status == 404)
		*found = r.status == 200;
	else
		rc = mr_search__http_error(code, method, path, &r);
	mr_search__http_resp_dispose(&r);
	return rc;
}

int mr_search__http_bootstrap(mr_search_http *h, int (*create)(void *payload), void *payload)
{
	pthread_mutex_lock(&h->ready_mu);
	int rc = h->ready ? 0 : create(payload);
	if (rc == 0)
		h->ready = true;
	pthread_mutex_unlock(&h->ready_mu);
	return rc;
}

static CURL *take_handle(mr_search_http *h)
{
	CURL *c = NULL;
	pthread_mutex_lock(&h->mu);
	if (h->npool > 0)
		c = h->pool[--h->npool];
	pthread_mutex_unlock(&h->mu);
	if (c)
		mr_curl.curl_easy_reset(c);
	else
		c = mr_curl.curl_easy_init();
	return c;
}

static void give_handle(mr_search_http *h, CURL *c)
{
	pthread_mutex_lock(&h->mu);
	if (h->npool < MR_SEARCH_HTTP_POOL) {
		h->pool[h->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->mu);
	if (c)
		mr_curl.curl_easy_cleanup(c);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *payload)
{
	mr_buf *b = payload;
	size_t n = size * nmemb;
	return mr_buf_put(b, ptr, n) < 0 ? 0 : n;
}

static bool retryable_status(long s) { return s == 429 || s == 502 || s == 503 || s == 504; }

int mr_search__http_call(mr_search_http *h, const char *method, const char *path, const char *body, size_t body_len,
			 const char *content_type, mr_search_http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	CURL *c = take_handle(h);
	if (!c)
		return mr_error_set(MR_ENOMEM, "%s: curl_easy_init failed", h->engine);
	mr_buf url = MR_BUF_INIT, out = MR_BUF_INIT;
	struct curl_slist *hdrs = NULL;
	char ctype[128];
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type ? content_type : "application/json");
	struct curl_slist *t = mr_curl.curl_slist_append(NULL, ctype);
	if (t)
		hdrs = t;
	if (t && h->auth_header && (t = mr_curl.curl_slist_append(hdrs, h->auth_header)))
		hdrs = t;
	if (!t || !(t = mr_curl.curl_slist_append(hdrs, "Expect:"))) {
		mr_curl.curl_slist_free_all(hdrs);
		give_handle(h, c);
		return mr_error_oom();
	}
	hdrs = t;
	int rc = 0;
	long status = 0;
	char errbuf[CURL_ERROR_SIZE];
	size_t base = h->current;
	for (unsigned attempt = 0;; attempt++) {
		mr_buf_clear(&url);
		mr_buf_clear(&out);
		if ((rc = mr_buf_printf(&url, "%s%s", h->bases[base % h->nbases], path)) < 0)
			break;
		errbuf[0] = '\0';
		mr_curl.curl_easy_setopt(c, CURLOPT_URL, mr_buf_cstr(&url));
		mr_curl.curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		mr_curl.curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		mr_curl.curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		mr_curl.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		mr_curl.curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
		mr_curl.curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms < 10000 ? h->timeout_ms : 10000L);
		mr_curl.curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		mr_curl.curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
		mr_curl.curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
		if (strcmp(method, "HEAD") == 0)
			mr_curl.curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		if (body) {
			mr_curl.curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			mr_curl.curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			mr_curl.curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
			mr_curl.curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		}
		if (h->userpwd) {
			mr_curl.curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			mr_curl.curl_easy_setopt(c, CURLOPT_USERPWD, h->userpwd);
		}
		CURLcode cc = mr_curl.curl_easy_perform(c);
		status = 0;
		if (cc == CURLE_OK)
			mr_curl.curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		bool retry = cc != CURLE_OK || retryable_status(status);
		if (!retry)
			break;
		if (cc == CURLE_OUT_OF_MEMORY) {
			rc = mr_error_oom();
			break;
		}
		if (attempt >= h->max_retries) {
			if (cc != CURLE_OK)
				rc = mr_error_set(MR_EUNAVAILABLE, "%s %s%s: %s (after %u attempts)", method,
						  h->shown[base % h->nbases], path, errbuf[0] ? errbuf : mr_curl.curl_easy_strerror(cc),
						  attempt + 1);
			else {
				resp->status = status;
				resp->raw = (char *)out.ptr;
				out = MR_BUF_INIT;
				rc = mr_search__http_error(MR_EUNAVAILABLE, method, path, resp);
				mr_error_prefix("%s (after %u attempts)", h->shown[base % h->nbases], attempt + 1);
				mr_free(resp->raw);
				resp->raw = NULL;
			}
			break;
		}
		/* transport errors move on to the next URL; overload waits on the same one */
		if (cc != CURLE_OK && h->nbases > 1) {
			base++;
			pthread_mutex_lock(&h->mu);
			h->current = base % h->nbases;
			pthread_mutex_unlock(&h->mu);
		}
		mr_sleep_ms(mr_backoff_ms(attempt, 100, 2000));
	}
	mr_curl.curl_slist_free_all(hdrs);
	give_handle(h, c);
	if (rc == 0) {
		resp->status = status;
		if (out.len > 0) {
			resp->json = json_loadb((const char *)out.ptr, out.len, JSON_DECODE_ANY, NULL);
			resp->raw = (char *)out.ptr;
			out = MR_BUF_INIT;
		}
		if (status == 401 || status == 403)
			rc = mr_search__http_error(MR_EAUTH, method, path, resp),
			mr_error_prefix("%s: authentication refused (check user/password or api-key)",
					h->shown[base % h->nbases]);
	}
	mr_buf_dispose(&url);
	mr_buf_dispose(&out);
	if (rc < 0)
		mr_search__http_resp_dispose(resp);
	return rc;
}

int mr_search__http_json(mr_search_http *h, const char *method, const char *path, const json_t *body,
			 mr_search_http_resp *resp)
{
	char *text = NULL;
	if (body && !(text = json_dumps(body, JSON_COMPACT))) {
		memset(resp, 0, sizeof(*resp));
		return mr_error_oom();
	}
	int rc = mr_search__http_call(h, method, path, text, text ? strlen(text) : 0, NULL, resp);
	free(text);
	return rc;
}

void mr_search__http_resp_dispose(mr_search_http_resp *resp)
{
	if (!resp)
		return;
	json_decref(resp->json);
	mr_free(resp->raw);
	memset(resp, 0, sizeof(*resp));
}

int mr_search__http_error(int code, const char *method, const char *path, const mr_search_http_resp *resp)
{
	const char *type = NULL, *reason = NULL;
	json_t *err = resp->json ? json_object_get(resp->json, "error") : NULL;
	if (json_is_string(err)) {
		reason = json_string_value(err);
	} else if (json_is_object(err)) {
		type = json_string_value(json_object_get(err, "type"));
		reason = json_string_value(json_object_get(err, "reason"));
		json_t *rc0 = json_array_get(json_object_get(err, "root_cause"), 0);
		if (!reason && rc0)
			reason = json_string_value(json_object_get(rc0, "reason"));
	} else if (resp->json) {
		/* Meilisearch: {"message": ..., "code": ..., "type": ...} */
		reason = json_string_value(json_object_get(resp->json, "message"));
		type = json_string_value(json_object_get(resp->json, "code"));
	}
	if (!reason && resp->raw)
		reason = resp->raw;
	return mr_error_set(code, "%s %s: HTTP %ld%s%s%s%.300s", method, path, resp->status, type ? ": " : "",
			    type ? type : "", reason ? ": " : "", reason ? reason : "");
}

json_t *mr_search__json_text(const char *s)
{
	size_t n = strlen(s);
	json_t *j = json_stringn_nocheck(s, n);
	if (!j)
		return mr_error_oom(), NULL;
	/* fast path: valid UTF-8 */
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	size_t at = 0;
	bool valid = true;
	while (at < n) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t l = utf8proc_iterate(p + at, (utf8proc_ssize_t)(n - at), &cp);
		if (l <= 0) {
			valid = false;
			break;
		}
		at += (size_t)l;
	}
	if (valid)
		return j;
	json_decref(j);
	mr_buf b = MR_BUF_INIT;
	at = 0;
	int rc = 0;
	while (rc == 0 && at < n) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t l = utf8proc_iterate(p + at, (utf8proc_ssize_t)(n - at), &cp);
		if (l <= 0) {
			rc = mr_buf_put(&b, "\xEF\xBF\xBD", 3);
			at++;
		} else {
			rc = mr_buf_put(&b, p + at, (size_t)l);
			at += (size_t)l;
		}
	}
	j = rc < 0 ? NULL : json_stringn_nocheck(mr_buf_cstr(&b), b.len);
	mr_buf_dispose(&b);
	if (!j)
		mr_error_oom();
	return j;
}
