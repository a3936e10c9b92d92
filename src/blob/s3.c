/*
 * s3.c — S3 blob backend (contract in backend.h) over libcurl, signed with
 * libcurl's built-in AWS SigV4 (CURLOPT_AWS_SIGV4 "aws:amz:<region>:s3").
 *
 * Object key = key-prefix + 64-hex id, no fan-out (S3 partitions by key
 * itself; a flat prefix keeps ListObjectsV2 a single prefix scan).
 *
 * put: the pull callback is read into memory up to multipart-threshold; if
 * the blob ends there it is one PUT, else a multipart upload of part-size
 * parts, aborted on any failure so no partial object is ever visible (S3
 * shows an object only after CompleteMultipartUpload).  Holding each
 * request's body in memory is what lets every request be retried.
 *
 * Every request is retried on connection errors, timeouts, HTTP 5xx and
 * 429, with capped exponential backoff and full jitter (mr_backoff_ms), at
 * most max-retries times.  Connection reuse: a small pool of curl easy
 * handles (each keeps its own live connections), so the backend is
 * thread-safe and a sequential caller always reuses one warm connection.
 *
 * The few S3 XML documents read here (ListObjectsV2, InitiateMultipartUpload,
 * Error) are flat elements of plain text written by the server, so they are
 * read with a small tag scanner plus entity decoding instead of an XML
 * library.  Ids, links, quota and purge are the front's.
 */
#include "blob/backend.h"

#include "core/common.h"
#include "core/config.h"
#include "mailroom/mailroom.h"

#include "lib/curl.h"
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#define S3_POOL_MAX 16
#define S3_MIN_PART (5u * 1024 * 1024)
#define S3_MAX_PART (5ull * 1024 * 1024 * 1024)
#define S3_ERRBODY_MAX 16384

typedef struct s3_inst {
	mr_blob_inst base;
	char *store_id;
	char *endpoint; /* as configured, for messages */
	char *base_url; /* scheme://host[:port][/bucket], no trailing slash */
	char *bucket;
	char *prefix;
	char *access_key, *secret_key;
	char *sigv4;       /* "aws:amz:<region>:s3" */
	char *token_header; /* "x-amz-security-token: ..." or NULL */
	int64_t timeout_ms;
	int max_retries;
	uint64_t mp_threshold, part_size;
	unsigned list_page; /* max-keys per ListObjectsV2 page */
	atomic_int bucket_ok; /* a request on the bucket succeeded once */
	atomic_uint_fast64_t multipart_puts; /* completed multipart uploads (tests) */
	pthread_mutex_t lock;
	CURL *pool[S3_POOL_MAX];
	int npool;
} s3_inst;

/* One HTTP exchange: what to send, where the response goes, what came back. */
typedef struct s3_req {
	const char *method; /* GET HEAD PUT POST DELETE */
	const char *key;    /* full object key, or NULL for the bucket itself */
	const char *query;  /* already encoded, or NULL */
	const char *range;  /* "bytes=a-b" or NULL */
	const uint8_t *body;
	size_t body_len, body_off;
	/* 2xx body sinks: a fixed buffer (ranged get) or a growable one */
	uint8_t *out;
	size_t out_cap, out_len;
	mr_buf *resp;
	/* results */
	long status;
	char etag[160];
	curl_off_t length;
	mr_buf err; /* non-2xx body (S3 <Error> document) */
	CURLcode cc;
	char cerr[CURL_ERROR_SIZE];
} s3_req;

static const mr_blob_backend s3_backend;

static pthread_once_t s3_once = PTHREAD_ONCE_INIT;
static CURLcode s3_global_rc;
static void s3_global_init(void) { s3_global_rc = mr_curl.curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- small helpers ---- */

static int s3_where(const s3_inst *s, mr_buf *b)
{
	mr_buf_clear(b);
	return mr_buf_printf(b, "s3 store \"%s\" (%s, bucket \"%s\")", s->store_id, s->endpoint, s->bucket);
}

/* Finds <tag>text</tag> in [p, end); returns the text span or NULL. */
static const char *xml_find(const char *p, const char *end, const char *tag, size_t *len)
{
	char open[64], close[64];
	int no = snprintf(open, sizeof open, "<%s>", tag);
	int nc = snprintf(close, sizeof close, "</%s>", tag);
	size_t lo = (size_t)no, lc = (size_t)nc;
	for (const char *q = p; q + lo <= end; q++) {
		if (memcmp(q, open, lo) != 0)
			continue;
		const char *t = q + lo;
		for (const char *e = t; e + lc <= end; e++)
			if (memcmp(e, close, lc) == 0) {
				*len = (size_t)(e - t);
				return t;
			}
		return NULL;
	}
	return NULL;
}

/* Decodes the five XML entities and numeric references into out. */
static int xml_text(const char *p, size_t n, mr_buf *out)
{
	static const struct { const char *ent; char c; } ents[] = {
		{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
	};
	mr_buf_clear(out);
	for (size_t i = 0; i < n;) {
		char c = p[i];
		size_t adv = 1;
		if (c == '&') {
			bool done = false;
			for (size_t k = 0; k < MR_ARRAY_LEN(ents) && !done; k++) {
				size_t l = strlen(ents[k].ent);
				if (i + l <= n && memcmp(p + i, ents[k].ent, l) == 0) {
					c = ents[k].c;
					adv = l;
					done = true;
				}
			}
			if (!done && i + 3 < n && p[i + 1] == '#') {
				const char *semi = memchr(p + i, ';', n - i);
				if (semi) {
					unsigned long v = p[i + 2] == 'x' ? strtoul(p + i + 3, NULL, 16)
									 : strtoul(p + i + 2, NULL, 10);
					if (v < 128) {
						c = (char)v;
						adv = (size_t)(semi - (p + i)) + 1;
					}
				}
			}
		}
		if (mr_buf_put(out, &c, 1) != 0)
			return MR_ENOMEM;
		i += adv;
	}
	return 0;
}

/* "<Code>: <Message>" of an S3 error document, or "" */
static void s3_error_text(const mr_buf *body, char *code, size_t code_cap, char *msg, size_t msg_cap)
{
	code[0] = msg[0] = '\0';
	if (!body->len)
		return;
	const char *p = (const char *)body->ptr, *end = p + body->len;
	size_t n;
	mr_buf t = MR_BUF_INIT;
	const char *c = xml_find(p, end, "Code", &n);
	if (c && xml_text(c, n, &t) == 0)
		snprintf(code, code_cap, "%s", mr_buf_cstr(&t));
	const char *m = xml_find(p, end, "Message", &n);
	if (m && xml_text(m, n, &t) == 0)
		snprintf(msg, msg_cap, "%s", mr_buf_cstr(&t));
	mr_buf_dispose(&t);
}

/* ---- handle pool ---- */

static CURL *s3_handle_take(s3_inst *s)
{
	CURL *h = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->npool > 0)
		h = s->pool[--s->npool];
	pthread_mutex_unlock(&s->lock);
	if (h)
		mr_curl.curl_easy_reset(h); /* keeps live connections */
	else
		h = mr_curl.curl_easy_init();
	return h;
}

static void s3_handle_give(s3_inst *s, CURL *h)
{
	pthread_mutex_lock(&s->lock);
	if (s->npool < S3_POOL_MAX) {
		s->pool[s->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (h)
		mr_curl.curl_easy_cleanup(h);
}

/* ---- curl callbacks ---- */

static size_t s3_on_header(char *p, size_t size, size_t n, void *payload)
{
	s3_req *r = payload;
	size_t len = size * n;
	if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', len);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->etag[0] = '\0';
	} else if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
		size_t i = 5, e = len;
		while (i < e && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (e > i && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' '))
			e--;
		if (e - i < sizeof r->etag) {
			memcpy(r->etag, p + i, e - i);
			r->etag[e - i] = '\0';
		}
	}
	return len;
}

static size_t s3_on_body(char *p, size_t size, size_t n, void *payload)
{
	s3_req *r = payload;
	size_t len = size * n;
	if (r->status < 200 || r->status > 299) {
		size_t room = r->err.len < S3_ERRBODY_MAX ? S3_ERRBODY_MAX - r->err.len : 0;
		if (room && mr_buf_put(&r->err, p, len < room ? len : room) != 0)
			return 0;
		return len;
	}
	if (r->out) {
		/* a server that ignores Range sends more: keep what fits, drop the rest */
		size_t room = r->out_cap - r->out_len;
		size_t k = len < room ? len : room;
		memcpy(r->out + r->out_len, p, k);
		r->out_len += k;
		return len;
	}
	if (r->resp && mr_buf_put(r->resp, p, len) != 0)
		return 0;
	return len;
}

static size_t s3_on_read(char *p, size_t size, size_t n, void *payload)
{
	s3_req *r = payload;
	size_t room = size * n, left = r->body_len - r->body_off;
	size_t k = left < room ? left : room;
	if (k)
		memcpy(p, r->body + r->body_off, k);
	r->body_off += k;
	return k;
}

static int s3_on_seek(void *payload, curl_off_t off, int origin)
{
	s3_req *r = payload;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_FAIL;
	r->body_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* ---- one request, with retries ---- */

static bool s3_retryable_cc(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static int s3_url(const s3_inst *s, const s3_req *r, mr_buf *url)
{
	mr_buf_clear(url);
	int rc = mr_buf_printf(url, "%s/%s", s->base_url, r->key ? r->key : "");
	if (rc == 0 && r->query)
		rc = mr_buf_printf(url, "?%s", r->query);
	return rc;
}

static CURLcode s3_perform_once(s3_inst *s, CURL *h, s3_req *r, const char *url)
{
	struct curl_slist *hdrs = NULL, *t;
	char range[96];
	bool oom = false;
#define S3_HDR(x)                                 \
	do {                                      \
		t = mr_curl.curl_slist_append(hdrs, (x)); \
		if (!t)                           \
			oom = true;               \
		else                              \
			hdrs = t;                 \
	} while (0)
	if (s->token_header)
		S3_HDR(s->token_header);
	if (r->range) {
		snprintf(range, sizeof range, "Range: %s", r->range);
		S3_HDR(range);
	}
	/* bodies are not hashed into the signature (the id is the content's
	 * hash already); libcurl 7.88 would hash a POST body yet not send the
	 * header, which MinIO rejects */
	if (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0)
		S3_HDR("x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (strcmp(r->method, "POST") == 0)
		S3_HDR("Content-Type: application/xml");
#undef S3_HDR
	if (oom) {
		mr_curl.curl_slist_free_all(hdrs);
		return CURLE_OUT_OF_MEMORY;
	}
	long low_speed_s = (long)((s->timeout_ms + 999) / 1000);
	mr_curl.curl_easy_setopt(h, CURLOPT_URL, url);
	mr_curl.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	mr_curl.curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->cerr);
	mr_curl.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
	mr_curl.curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	mr_curl.curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, low_speed_s < 1 ? 1L : low_speed_s);
	mr_curl.curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* send the body at once rather than waiting for "100 Continue" (an
	 * "Expect:" header would remove it too, but libcurl 7.88 then signs a
	 * header it does not send) */
	mr_curl.curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
	mr_curl.curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
	mr_curl.curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
	mr_curl.curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	mr_curl.curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s3_on_header);
	mr_curl.curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	mr_curl.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s3_on_body);
	mr_curl.curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (s->access_key) {
		mr_curl.curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
		mr_curl.curl_easy_setopt(h, CURLOPT_USERNAME, s->access_key);
		mr_curl.curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret_key ? s->secret_key : "");
	}
	if (strcmp(r->method, "HEAD") == 0) {
		mr_curl.curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "PUT") == 0) {
		mr_curl.curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		mr_curl.curl_easy_setopt(h, CURLOPT_READFUNCTION, s3_on_read);
		mr_curl.curl_easy_setopt(h, CURLOPT_READDATA, r);
		mr_curl.curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, s3_on_seek);
		mr_curl.curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
		mr_curl.curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "POST") == 0) {
		mr_curl.curl_easy_setopt(h, CURLOPT_POST, 1L);
		mr_curl.curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
		mr_curl.curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "DELETE") == 0) {
		mr_curl.curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	r->cerr[0] = '\0';
	CURLcode cc = mr_curl.curl_easy_perform(h);
	curl_off_t cl = -1;
	if (cc == CURLE_OK && mr_curl.curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
		r->length = cl;
	mr_curl.curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	mr_curl.curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	mr_curl.curl_slist_free_all(hdrs);
	return cc;
}

/*
 * Runs r, retrying transport failures, 5xx and 429.  Returns 0 when an HTTP
 * answer is in r->status (any code, judged by the caller), MR_EUNAVAILABLE
 * when the server could not be reached or timed out on every attempt.
 */
static int s3_perform(s3_inst *s, s3_req *r, const char *what)
{
	mr_buf url = MR_BUF_INIT, where = MR_BUF_INIT;
	int rc = s3_url(s, r, &url);
	if (rc != 0)
		return rc;
	CURL *h = s3_handle_take(s);
	if (!h) {
		mr_buf_dispose(&url);
		return mr_error_set(MR_ENOMEM, "s3: curl_easy_init failed");
	}
	int attempts = 0;
	for (int attempt = 0;; attempt++) {
		attempts = attempt + 1;
		r->status = 0;
		r->etag[0] = '\0';
		r->length = -1;
		r->body_off = 0;
		r->out_len = 0;
		if (r->resp)
			mr_buf_clear(r->resp);
		mr_buf_clear(&r->err);
		r->cc = s3_perform_once(s, h, r, mr_buf_cstr(&url));
		bool retry = r->cc == CURLE_OK ? (r->status >= 500 || r->status == 429) : s3_retryable_cc(r->cc);
		if (!retry || attempt >= s->max_retries)
			break;
		mr_sleep_ms(mr_backoff_ms((unsigned)attempt, 100, 5000));
	}
	s3_handle_give(s, h);
	if (r->cc != CURLE_OK) {
		(void)s3_where(s, &where);
		const char *detail = r->cerr[0] ? r->cerr : mr_curl.curl_easy_strerror(r->cc);
		if (r->cc == CURLE_OUT_OF_MEMORY)
			rc = mr_error_oom();
		else if (s3_retryable_cc(r->cc))
			rc = mr_error_set(MR_EUNAVAILABLE, "%s: %s %s: server unreachable or timed out after %d attempt%s: %s",
					  mr_buf_cstr(&where), r->method, what, attempts, attempts == 1 ? "" : "s",
					  detail);
		else if (r->cc == CURLE_WRITE_ERROR)
			rc = mr_error_oom();
		else
			rc = mr_error_set(MR_ERROR, "%s: %s %s: %s", mr_buf_cstr(&where), r->method, what, detail);
	}
	mr_buf_dispose(&url);
	mr_buf_dispose(&where);
	return rc;
}

/* The error for a non-success HTTP answer; what names the request's object. */
static int s3_http_error(s3_inst *s, const s3_req *r, const char *what)
{
	char code[128], msg[512];
	mr_buf where = MR_BUF_INIT;
	(void)s3_where(s, &where);
	s3_error_text(&r->err, code, sizeof code, msg, sizeof msg);
	int rc;
	if (strcmp(code, "NoSuchBucket") == 0)
		rc = mr_error_set(MR_EINVALID, "%s: bucket \"%s\" does not exist (create it, or fix store.%s.bucket)",
				  mr_buf_cstr(&where), s->bucket, s->store_id);
	else if (r->status == 403 || r->status == 401)
		rc = mr_error_set(MR_EAUTH,
				  "%s: %s %s: access refused (HTTP %ld%s%s%s%s): check access-key, secret-key and session-token",
				  mr_buf_cstr(&where), r->method, what, r->status, code[0] ? " " : "", code,
				  msg[0] ? ": " : "", msg);
	else if (r->status == 404)
		rc = mr_error_set(MR_ENOTFOUND, "%s: %s %s: not found", mr_buf_cstr(&where), r->method, what);
	else if (r->status >= 500 || r->status == 429)
		rc = mr_error_set(MR_EUNAVAILABLE, "%s: %s %s: HTTP %ld%s%s%s%s after %d retries", mr_buf_cstr(&where),
				  r->method, what, r->status, code[0] ? " " : "", code, msg[0] ? ": " : "", msg,
				  s->max_retries);
	else
		rc = mr_error_set(MR_ERROR, "%s: %s %s: HTTP %ld%s%s%s%s", mr_buf_cstr(&where), r->method, what,
				  r->status, code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
	mr_buf_dispose(&where);
	return rc;
}

/* After a body-less 404 (HEAD): does the bucket exist?  0 if so. */
static int s3_check_bucket(s3_inst *s)
{
	if (atomic_load(&s->bucket_ok))
		return 0;
	s3_req r = {.method = "HEAD"};
	int rc = s3_perform(s, &r, "bucket");
	if (rc == 0) {
		if (r.status >= 200 && r.status <= 299) {
			atomic_store(&s->bucket_ok, 1);
		} else if (r.status == 404) {
			mr_buf where = MR_BUF_INIT;
			(void)s3_where(s, &where);
			rc = mr_error_set(MR_EINVALID, "%s: bucket \"%s\" does not exist (create it, or fix store.%s.bucket)",
					  mr_buf_cstr(&where), s->bucket, s->store_id);
			mr_buf_dispose(&where);
		} else {
			rc = s3_http_error(s, &r, "bucket");
		}
	}
	mr_buf_dispose(&r.err);
	return rc;
}

static void s3_key(const s3_inst *s, const mr_blob_id *id, char *out, size_t cap)
{
	char text[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_format(id, text);
	snprintf(out, cap, "%s%s", s->prefix, text);
}

/* ---- operations ---- */

static int s3_put_single(s3_inst *s, const char *key, const uint8_t *data, size_t len)
{
	s3_req r = {.method = "PUT", .key = key, .body = data, .body_len = len};
	int rc = s3_perform(s, &r, key);
	if (rc == 0 && (r.status < 200 || r.status > 299))
		rc = s3_http_error(s, &r, key);
	if (rc == 0)
		atomic_store(&s->bucket_ok, 1);
	mr_buf_dispose(&r.err);
	return rc;
}

typedef struct s3_upload {
	char *upload_id; /* url-encoded */
	mr_buf parts;    /* CompleteMultipartUpload body */
	int nparts;
} s3_upload;

static int s3_mp_create(s3_inst *s, const char *key, s3_upload *u)
{
	mr_buf resp = MR_BUF_INIT, text = MR_BUF_INIT;
	s3_req r = {.method = "POST", .key = key, .query = "uploads=", .resp = &resp};
	int rc = s3_perform(s, &r, key);
	if (rc == 0 && (r.status < 200 || r.status > 299))
		rc = s3_http_error(s, &r, key);
	size_t n = 0;
	const char *id = rc == 0 ? xml_find((const char *)resp.ptr, (const char *)resp.ptr + resp.len, "UploadId", &n) : NULL;
	if (rc == 0 && !id)
		rc = mr_error_set(MR_ERROR, "s3 store \"%s\": CreateMultipartUpload %s: no UploadId in the answer",
				  s->store_id, key);
	if (rc == 0 && (rc = xml_text(id, n, &text)) == 0) {
		char *e = mr_curl.curl_easy_escape(NULL, mr_buf_cstr(&text), (int)text.len);
		if (!e || !(u->upload_id = mr_strdup(e)))
			rc = mr_error_oom();
		mr_curl.curl_free(e);
	}
	if (rc == 0)
		rc = mr_buf_puts(&u->parts, "<CompleteMultipartUpload>");
	mr_buf_dispose(&resp);
	mr_buf_dispose(&text);
	mr_buf_dispose(&r.err);
	return rc;
}

static int s3_mp_part(s3_inst *s, const char *key, s3_upload *u, const uint8_t *data, size_t len)
{
	char query[1024], what[1300];
	int num = u->nparts + 1;
	if (num > 10000)
		return mr_error_set(MR_ELIMIT, "s3 store \"%s\": put %s: more than 10000 parts; raise part-size",
				    s->store_id, key);
	snprintf(query, sizeof query, "partNumber=%d&uploadId=%s", num, u->upload_id);
	snprintf(what, sizeof what, "%s part %d", key, num);
	s3_req r = {.method = "PUT", .key = key, .query = query, .body = data, .body_len = len};
	int rc = s3_perform(s, &r, what);
	if (rc == 0 && (r.status < 200 || r.status > 299))
		rc = s3_http_error(s, &r, what);
	if (rc == 0 && !r.etag[0])
		rc = mr_error_set(MR_ERROR, "s3 store \"%s\": put %s: no ETag in the answer", s->store_id, what);
	if (rc == 0) {
		rc = mr_buf_printf(&u->parts, "<Part><PartNumber>%d</PartNumber><ETag>", num);
		/* the ETag is quoted text; escape what XML needs */
		for (const char *c = r.etag; rc == 0 && *c; c++)
			rc = *c == '"' ? mr_buf_puts(&u->parts, "&quot;")
			     : *c == '&' ? mr_buf_puts(&u->parts, "&amp;")
			     : *c == '<' ? mr_buf_puts(&u->parts, "&lt;")
					 : mr_buf_put(&u->parts, c, 1);
		if (rc == 0)
			rc = mr_buf_puts(&u->parts, "</ETag></Part>");
		u->nparts = num;
	}
	mr_buf_dispose(&r.err);
	return rc;
}

static int s3_mp_complete(s3_inst *s, const char *key, s3_upload *u)
{
	char query[1024];
	mr_buf resp = MR_BUF_INIT;
	int rc = mr_buf_puts(&u->parts, "</CompleteMultipartUpload>");
	if (rc != 0)
		return rc;
	snprintf(query, sizeof query, "uploadId=%s", u->upload_id);
	s3_req r = {.method = "POST", .key = key, .query = query, .body = u->parts.ptr, .body_len = u->parts.len,
		    .resp = &resp};
	rc = s3_perform(s, &r, key);
	if (rc == 0 && (r.status < 200 || r.status > 299))
		rc = s3_http_error(s, &r, key);
	/* S3 may answer 200 and put an <Error> in the body */
	size_t n = 0;
	if (rc == 0 && resp.len && xml_find((const char *)resp.ptr, (const char *)resp.ptr + resp.len, "Code", &n) &&
	    memmem(resp.ptr, resp.len, "<Error>", 7)) {
		mr_buf_dispose(&r.err);
		r.err = resp;
		resp = MR_BUF_INIT;
		r.status = 500;
		rc = s3_http_error(s, &r, key);
	}
	mr_buf_dispose(&resp);
	mr_buf_dispose(&r.err);
	return rc;
}

static void s3_mp_abort(s3_inst *s, const char *key, s3_upload *u)
{
	char query[1024];
	snprintf(query, sizeof query, "uploadId=%s", u->upload_id);
	s3_req r = {.method = "DELETE", .key = key, .query = query};
	(void)s3_perform(s, &r, key);
	if (r.cc != CURLE_OK || r.status < 200 || r.status > 299)
		mr_log(MR_LOG_WARN, "s3 store \"%s\": abort of multipart upload of %s failed (HTTP %ld); "
				    "the bucket's lifecycle rule for incomplete uploads will reclaim it",
		       s->store_id, key, r.status);
	mr_buf_dispose(&r.err);
}

/* Completes the upload when rc is 0, else aborts it (keeping rc's error),
 * and frees u. */
static int s3_mp_finish(s3_inst *s, const char *key, s3_upload *u, int rc, bool created)
{
	if (rc == 0)
		rc = s3_mp_complete(s, key, u);
	if (rc != 0 && created) {
		/* keep the first error, not the abort's */
		int code = mr_error_last()->code;
		char *msg = mr_strdup(mr_error_last()->message);
		s3_mp_abort(s, key, u);
		if (msg) {
			mr_error_set(code, "%s", msg);
			mr_free(msg);
		}
	}
	if (rc == 0) {
		atomic_store(&s->bucket_ok, 1);
		atomic_fetch_add(&s->multipart_puts, 1);
	}
	mr_free(u->upload_id);
	u->upload_id = NULL;
	mr_buf_dispose(&u->parts);
	return rc;
}

/* The put buffer: grows by doubling up to what the blob needs, so a small
 * blob never costs a threshold-sized allocation. */
typedef struct s3_putbuf {
	uint8_t *ptr;
	size_t len, cap;
} s3_putbuf;

/* Reads from fn until buf holds `want` bytes or the source ends. */
static int s3_fill(mr_blob_read_fn fn, void *payload, s3_putbuf *b, size_t want, bool *eof)
{
	while (b->len < want) {
		if (b->len == b->cap) {
			size_t ncap = b->cap ? b->cap * 2 : 256 * 1024;
			if (ncap > want)
				ncap = want;
			uint8_t *p = mr_realloc(b->ptr, ncap);
			if (!p)
				return MR_ENOMEM;
			b->ptr = p;
			b->cap = ncap;
		}
		size_t got = 0;
		int rc = fn(b->ptr + b->len, b->cap - b->len, &got, payload);
		if (rc != 0)
			return rc;
		if (got == 0) {
			*eof = true;
			return 0;
		}
		b->len += got;
	}
	return 0;
}

static int s3_put(mr_blob_inst *b, const mr_blob_id *id, mr_blob_read_fn fn, void *payload)
{
	s3_inst *s = (s3_inst *)b;
	char key[1200];
	s3_key(s, id, key, sizeof key);
	s3_putbuf buf = {NULL, 0, 0};
	bool eof = false;
	/* +1: one byte past the threshold tells "single PUT" from "multipart" */
	int rc = s3_fill(fn, payload, &buf, (size_t)s->mp_threshold + 1, &eof);
	if (rc == 0 && eof) {
		rc = s3_put_single(s, key, buf.ptr, buf.len);
		mr_free(buf.ptr);
		return rc;
	}
	s3_upload u = {NULL, MR_BUF_INIT, 0};
	if (rc == 0)
		rc = s3_mp_create(s, key, &u);
	bool created = rc == 0;
	while (rc == 0) {
		/* upload every full part held; keep the tail for the next read */
		size_t off = 0;
		while (rc == 0 && buf.len - off >= s->part_size) {
			rc = s3_mp_part(s, key, &u, buf.ptr + off, (size_t)s->part_size);
			off += (size_t)s->part_size;
		}
		if (rc != 0)
			break;
		memmove(buf.ptr, buf.ptr + off, buf.len - off);
		buf.len -= off;
		if (eof) {
			if (buf.len > 0 || u.nparts == 0)
				rc = s3_mp_part(s, key, &u, buf.ptr, buf.len);
			break;
		}
		rc = s3_fill(fn, payload, &buf, (size_t)s->part_size, &eof);
	}
	rc = s3_mp_finish(s, key, &u, rc, created);
	mr_free(buf.ptr);
	return rc;
}

/* Bytes already in memory: a single PUT or the parts straight from them. */
static int s3_put_mem(mr_blob_inst *b, const mr_blob_id *id, const void *data, size_t len)
{
	s3_inst *s = (s3_inst *)b;
	char key[1200];
	s3_key(s, id, key, sizeof key);
	const uint8_t *p = data ? data : (const uint8_t *)"";
	if (len <= (size_t)s->mp_threshold)
		return s3_put_single(s, key, p, len);
	s3_upload u = {NULL, MR_BUF_INIT, 0};
	int rc = s3_mp_create(s, key, &u);
	bool created = rc == 0;
	for (size_t off = 0; rc == 0 && off < len; off += (size_t)s->part_size)
		rc = s3_mp_part(s, key, &u, p + off, len - off < (size_t)s->part_size ? len - off : (size_t)s->part_size);
	return s3_mp_finish(s, key, &u, rc, created);
}

static int s3_stat(mr_blob_inst *b, const mr_blob_id *id, uint64_t *size)
{
	s3_inst *s = (s3_inst *)b;
	char key[1200];
	s3_key(s, id, key, sizeof key);
	s3_req r = {.method = "HEAD", .key = key};
	int rc = s3_perform(s, &r, key);
	if (rc == 0) {
		if (r.status >= 200 && r.status <= 299) {
			atomic_store(&s->bucket_ok, 1);
			if (size)
				*size = r.length >= 0 ? (uint64_t)r.length : 0;
		} else if (r.status == 404) {
			rc = s3_check_bucket(s);
			if (rc == 0)
				rc = MR_ENOTFOUND;
		} else {
			rc = s3_http_error(s, &r, key);
		}
	}
	mr_buf_dispose(&r.err);
	return rc;
}

static int s3_get_range(mr_blob_inst *b, const mr_blob_id *id, uint64_t off, void *buf, size_t len, size_t *got)
{
	s3_inst *s = (s3_inst *)b;
	*got = 0;
	if (len == 0)
		return s3_stat(b, id, NULL);
	char key[1200], range[96];
	s3_key(s, id, key, sizeof key);
	snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, off, off + (uint64_t)len - 1);
	s3_req r = {.method = "GET", .key = key, .range = range, .out = buf, .out_cap = len};
	int rc = s3_perform(s, &r, key);
	if (rc == 0) {
		if (r.status == 206) {
			*got = r.out_len;
		} else if (r.status == 200) {
			/* whole object despite the Range: only valid from offset 0 */
			if (off != 0)
				rc = mr_error_set(MR_ERROR, "s3 store \"%s\": GET %s: server ignored the Range header",
						  s->store_id, key);
			else
				*got = r.out_len;
		} else if (r.status == 416) {
			*got = 0; /* at or past the end */
		} else {
			rc = s3_http_error(s, &r, key);
		}
		if (rc == 0)
			atomic_store(&s->bucket_ok, 1);
	}
	mr_buf_dispose(&r.err);
	return rc;
}

static int s3_remove(mr_blob_inst *b, const mr_blob_id *id)
{
	s3_inst *s = (s3_inst *)b;
	char key[1200];
	s3_key(s, id, key, sizeof key);
	s3_req r = {.method = "DELETE", .key = key};
	int rc = s3_perform(s, &r, key);
	if (rc == 0 && !(r.status >= 200 && r.status <= 299)) {
		char code[128], msg[16];
		s3_error_text(&r.err, code, sizeof code, msg, sizeof msg);
		if (r.status != 404 || strcmp(code, "NoSuchBucket") == 0)
			rc = s3_http_error(s, &r, key);
	}
	mr_buf_dispose(&r.err);
	return rc;
}

static int s3_list(mr_blob_inst *b, mr_blob_list_fn fn, void *payload)
{
	s3_inst *s = (s3_inst *)b;
	mr_buf resp = MR_BUF_INIT, query = MR_BUF_INIT, token = MR_BUF_INIT, text = MR_BUF_INIT;
	char *eprefix = mr_curl.curl_easy_escape(NULL, s->prefix, 0);
	size_t plen = strlen(s->prefix);
	int rc = eprefix ? 0 : mr_error_oom();
	bool more = true;
	while (rc == 0 && more) {
		/* parameters in canonical (sorted) order */
		mr_buf_clear(&query);
		if (token.len) {
			char *et = mr_curl.curl_easy_escape(NULL, mr_buf_cstr(&token), (int)token.len);
			rc = et ? mr_buf_printf(&query, "continuation-token=%s&", et) : mr_error_oom();
			mr_curl.curl_free(et);
		}
		if (rc == 0)
			rc = mr_buf_printf(&query, "list-type=2&max-keys=%u&prefix=%s", s->list_page, eprefix);
		if (rc != 0)
			break;
		s3_req r = {.method = "GET", .query = mr_buf_cstr(&query), .resp = &resp};
		rc = s3_perform(s, &r, "list");
		if (rc == 0 && (r.status < 200 || r.status > 299))
			rc = s3_http_error(s, &r, "list");
		mr_buf_dispose(&r.err);
		if (rc != 0)
			break;
		atomic_store(&s->bucket_ok, 1);
		const char *p = (const char *)resp.ptr, *end = p + resp.len;
		size_t n;
		for (;;) {
			const char *c = xml_find(p, end, "Contents", &n);
			if (!c)
				break;
			const char *ce = c + n;
			size_t kn = 0, sn = 0;
			const char *k = xml_find(c, ce, "Key", &kn);
			const char *sz = xml_find(c, ce, "Size", &sn);
			p = ce;
			if (!k || (rc = xml_text(k, kn, &text)) != 0)
				continue;
			mr_blob_id id;
			const char *name = mr_buf_cstr(&text);
			if (text.len != plen + MR_BLOB_ID_TEXT_LEN || memcmp(name, s->prefix, plen) != 0 ||
			    mr_blob_id_parse(name + plen, &id) != 0) {
				mr_error_clear();
				continue; /* not one of ours */
			}
			uint64_t size = sz ? strtoull(sz, NULL, 10) : 0;
			int cb = fn(&id, size, payload);
			if (cb != 0) {
				rc = cb < 0 ? cb : 0;
				more = false;
				break;
			}
		}
		if (rc != 0 || !more)
			break;
		const char *tr = xml_find((const char *)resp.ptr, end, "IsTruncated", &n);
		more = tr && n == 4 && memcmp(tr, "true", 4) == 0;
		if (more) {
			const char *t = xml_find((const char *)resp.ptr, end, "NextContinuationToken", &n);
			if (!t) {
				rc = mr_error_set(MR_ERROR, "s3 store \"%s\": list: truncated answer without NextContinuationToken",
						  s->store_id);
				break;
			}
			rc = xml_text(t, n, &token);
		}
	}
	mr_curl.curl_free(eprefix);
	mr_buf_dispose(&resp);
	mr_buf_dispose(&query);
	mr_buf_dispose(&token);
	mr_buf_dispose(&text);
	return rc;
}

static void s3_close(mr_blob_inst *b)
{
	s3_inst *s = (s3_inst *)b;
	if (!s)
		return;
	for (int i = 0; i < s->npool; i++)
		mr_curl.curl_easy_cleanup(s->pool[i]);
	pthread_mutex_destroy(&s->lock);
	mr_free(s->store_id);
	mr_free(s->endpoint);
	mr_free(s->base_url);
	mr_free(s->bucket);
	mr_free(s->prefix);
	mr_free(s->access_key);
	mr_free(s->secret_key);
	mr_free(s->sigv4);
	mr_free(s->token_header);
	mr_free(s);
}

static const mr_blob_backend s3_backend = {
	.version = MR_BLOB_BACKEND_VERSION,
	.name = "s3",
	.caps = 0,
	.put = s3_put,
	.put_mem = s3_put_mem,
	.get_range = s3_get_range,
	.stat = s3_stat,
	.remove = s3_remove,
	.list = s3_list,
	.close = s3_close,
};

/* ---- open ---- */

static char *s3_printf_dup(const char *fmt, ...) MR_PRINTF(1, 2);
static char *s3_printf_dup(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *p = mr_malloc((size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

static bool s3_valid_bucket(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63)
		return false;
	for (const char *c = b; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
			return false;
	return true;
}

static bool s3_valid_prefix(const char *p)
{
	if (strlen(p) > 512)
		return false;
	for (const char *c = p; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '_' || *c == '.' || *c == '/'))
			return false;
	return true;
}

int mr_blob__s3_open(mr_blob_inst **out, const mr_store_config *sc)
{
	*out = NULL;
	const char *id = mr_store_config_id(sc);
	if (mr_curl_load(NULL) < 0)
		return mr_error_prefix("store \"%s\"", id);
	pthread_once(&s3_once, s3_global_init);
	if (s3_global_rc != CURLE_OK)
		return mr_error_set(MR_ERROR, "store \"%s\": curl_global_init failed: %s", id,
				    mr_curl.curl_easy_strerror(s3_global_rc));
	const char *endpoint = NULL, *region = NULL, *bucket = NULL, *prefix = NULL, *access = NULL, *secret = NULL,
		   *token = NULL;
	bool path_style = true;
	int64_t timeout_ms = 0, retries = 0, threshold = 0, part = 0;
	int rc = mr_store_config_string_required(sc, "bucket", &bucket);
	if (rc == 0)
		rc = mr_store_config_string(sc, "region", "us-east-1", &region);
	if (rc == 0)
		rc = mr_store_config_string(sc, "endpoint", NULL, &endpoint);
	if (rc == 0)
		rc = mr_store_config_string(sc, "key-prefix", "", &prefix);
	if (rc == 0)
		rc = mr_store_config_string(sc, "access-key", NULL, &access);
	if (rc == 0)
		rc = mr_store_config_string(sc, "secret-key", NULL, &secret);
	if (rc == 0)
		rc = mr_store_config_string(sc, "session-token", NULL, &token);
	/* custom endpoints (MinIO, Ceph, Garage) usually want path-style; AWS virtual-hosted */
	if (rc == 0)
		rc = mr_store_config_bool(sc, "path-style", endpoint != NULL, &path_style);
	if (rc == 0)
		rc = mr_store_config_duration_ms(sc, "timeout", 30000, &timeout_ms);
	if (rc == 0)
		rc = mr_store_config_int(sc, "max-retries", 3, 0, 20, &retries);
	if (rc == 0)
		rc = mr_store_config_size(sc, "multipart-threshold", 32ll * 1024 * 1024, &threshold);
	if (rc == 0)
		rc = mr_store_config_size(sc, "part-size", 16ll * 1024 * 1024, &part);
	if (rc != 0)
		return rc;
	if (!s3_valid_bucket(bucket))
		return mr_error_set(MR_EINVALID, "%s: store.%s.bucket: \"%s\" is not a valid bucket name (3-63 of a-z 0-9 . -)",
				    mr_store_config_where(sc, "bucket"), id, bucket);
	if (!s3_valid_prefix(prefix))
		return mr_error_set(MR_EINVALID, "%s: store.%s.key-prefix: \"%s\": only A-Z a-z 0-9 - _ . / are allowed",
				    mr_store_config_where(sc, "key-prefix"), id, prefix);
	if (timeout_ms < 100)
		return mr_error_set(MR_EINVALID, "%s: store.%s.timeout: at least 100ms", mr_store_config_where(sc, "timeout"),
				    id);
	if (part < (int64_t)S3_MIN_PART || (uint64_t)part > S3_MAX_PART)
		return mr_error_set(MR_EINVALID, "%s: store.%s.part-size: expected 5MiB to 5GiB (S3's limits), got %" PRId64,
				    mr_store_config_where(sc, "part-size"), id, part);
	if (threshold < 0 || (uint64_t)threshold > S3_MAX_PART)
		return mr_error_set(MR_EINVALID, "%s: store.%s.multipart-threshold: expected 0 to 5GiB, got %" PRId64,
				    mr_store_config_where(sc, "multipart-threshold"), id, threshold);
	if ((access == NULL) != (secret == NULL))
		return mr_error_set(MR_EINVALID, "store.%s: access-key and secret-key go together (set both, or neither for an anonymous bucket)",
				    id);

	/* endpoint -> scheme, host[:port], optional path */
	char *ep = endpoint ? mr_strdup(endpoint) : s3_printf_dup("https://s3.%s.amazonaws.com", region);
	if (!ep)
		return MR_ENOMEM;
	size_t el = strlen(ep);
	while (el > 0 && ep[el - 1] == '/')
		ep[--el] = '\0';
	const char *sep = strstr(ep, "://");
	if (!sep || (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) || sep[3] == '\0') {
		rc = mr_error_set(MR_EINVALID, "%s: store.%s.endpoint: \"%s\": expected http://host[:port] or https://host[:port]",
				  mr_store_config_where(sc, "endpoint"), id, ep);
		mr_free(ep);
		return rc;
	}
	s3_inst *s = mr_calloc(1, sizeof *s);
	if (!s) {
		mr_free(ep);
		return MR_ENOMEM;
	}
	s->base.backend = &s3_backend;
	pthread_mutex_init(&s->lock, NULL);
	s->endpoint = ep;
	s->store_id = mr_strdup(id);
	s->bucket = mr_strdup(bucket);
	s->prefix = mr_strdup(prefix);
	s->access_key = access ? mr_strdup(access) : NULL;
	s->secret_key = secret ? mr_strdup(secret) : NULL;
	s->sigv4 = s3_printf_dup("aws:amz:%s:s3", region);
	s->token_header = token && *token ? s3_printf_dup("x-amz-security-token: %s", token) : NULL;
	if (path_style)
		s->base_url = s3_printf_dup("%s/%s", ep, bucket);
	else
		s->base_url = s3_printf_dup("%.*s%s.%s", (int)(sep + 3 - ep), ep, bucket, sep + 3);
	s->timeout_ms = timeout_ms;
	s->max_retries = (int)retries;
	s->mp_threshold = (uint64_t)threshold;
	s->part_size = (uint64_t)part;
	s->list_page = 1000;
	atomic_init(&s->bucket_ok, 0);
	atomic_init(&s->multipart_puts, 0);
	if (!s->store_id || !s->bucket || !s->prefix || (access && !s->access_key) || (secret && !s->secret_key) ||
	    !s->sigv4 || (token && *token && !s->token_header) || !s->base_url) {
		s3_close(&s->base);
		return MR_ENOMEM;
	}
	*out = &s->base;
	return 0;
}

void mr_blob__s3_set_list_page(mr_blob_inst *b, unsigned max_keys)
{
	MR_ASSERT(b && b->backend == &s3_backend && max_keys >= 1 && max_keys <= 1000);
	((s3_inst *)b)->list_page = max_keys;
}

uint64_t mr_blob__s3_multipart_puts(mr_blob_inst *b)
{
	MR_ASSERT(b && b->backend == &s3_backend);
	return (uint64_t)atomic_load(&((s3_inst *)b)->multipart_puts);
}
