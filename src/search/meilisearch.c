/*
 * meilisearch.c — the search store on Meilisearch over HTTP (type
 * "meilisearch"), sharing http.c with the Elasticsearch backend.
 *
 * One index (key `index`, default "mailroom") holds every account; a
 * document is one email with primary key `key` = "<account>-<doc id>" and
 * the filterable attribute `account`.  On first use the index is created
 * and its settings sent: searchable attributes (the text fields and the
 * nested `headers` object, one sub-attribute per header name), filterable
 * (account date size flags mailboxes has_attachment), sortable (date id),
 * typo tolerance off, ranking rules ending in date:desc and id:desc, and
 * pagination.maxTotalHits (key `max-hits`).  Every write is an
 * asynchronous task: the backend polls GET /tasks/<uid> until the task
 * succeeded, so a search after a write sees it.
 *
 * Translation (docs/search.md): everything that is not text (dates,
 * sizes, flags, mailboxes, has:attachment) becomes a filter expression,
 * under any AND/OR/NOT.  Text goes into `q`, where Meilisearch only ANDs
 * words and negates single words or phrases (-"word"): words and phrases
 * are quoted (exact, no prefix), one prefix* is the last, unquoted word.
 * Everything else (OR and NOT over words, several fields, several
 * prefixes) is put in disjunctive normal form and run as the several
 * searches of one /multi-search request, whose id sets are combined here.
 * Meilisearch does not stem.
 */
#include "search/backend.h"
#include "search/http.h"
#include "search/script.h"

#include <inttypes.h>
#include <utf8proc.h>

static const char *const ms_text_fields[] = {"from", "to", "cc", "bcc", "subject", "body", "attachment"};

typedef struct ms_inst {
	mr_search_inst base;
	mr_search_http http;
	char *index;
	int64_t max_hits;
} ms_inst;

static ms_inst *ms_of(mr_search_inst *i) { return mr_container_of(i, ms_inst, base); }

static const char *const ms_flag_names[MR_FLAG_COUNT_] = {"seen",    "flagged",   "answered", "draft",
							  "deleted", "forwarded", "junk"};

/* Waits for an enqueued task (a 202 response carrying taskUid) to finish. */
static int ms_wait(ms_inst *ms, const mr_search_http_resp *accepted, const char *what)
{
	json_t *uid = json_object_get(accepted->json, "taskUid");
	if (!json_is_integer(uid))
		return mr_error_set(MR_ERROR, "%s: no taskUid in the answer (HTTP %ld)", what, accepted->status);
	char path[64];
	snprintf(path, sizeof(path), "/tasks/%" JSON_INTEGER_FORMAT, json_integer_value(uid));
	uint64_t deadline = mr_now_monotonic_ms() + (uint64_t)ms->http.timeout_ms * 4;
	for (unsigned attempt = 0;; attempt++) {
		mr_search_http_resp r;
		int rc = mr_search__http_call(&ms->http, "GET", path, NULL, 0, NULL, &r);
		if (rc < 0)
			return rc;
		const char *status = json_string_value(json_object_get(r.json, "status"));
		if (r.status != 200 || !status) {
			rc = mr_search__http_error(MR_ERROR, "GET", path, &r);
		} else if (strcmp(status, "succeeded") == 0) {
			rc = 1;
		} else if (strcmp(status, "failed") == 0 || strcmp(status, "canceled") == 0) {
			json_t *err = json_object_get(r.json, "error");
			const char *code = json_string_value(json_object_get(err, "code"));
			rc = mr_error_set(code && strcmp(code, "index_already_exists") == 0 ? MR_EEXISTS : MR_ERROR,
					  "%s: task %s: %s: %s", what, status, code ? code : "?",
					  json_string_value(json_object_get(err, "message"))
						  ? json_string_value(json_object_get(err, "message"))
						  : "no message");
		}
		mr_search__http_resp_dispose(&r);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		if (mr_now_monotonic_ms() > deadline)
			return mr_error_set(MR_EUNCERTAIN, "%s: task %s still not finished after %ld ms", what, path + 7,
					    ms->http.timeout_ms * 4);
		mr_sleep_ms(attempt < 5 ? 5u << attempt : 200);
	}
}

/* Sends a request that Meilisearch answers with 202 + a task, and waits for the task. */
static int ms_task(ms_inst *ms, const char *method, const char *path, const json_t *body, const char *what)
{
	mr_search_http_resp r;
	int rc = mr_search__http_json(&ms->http, method, path, body, &r);
	if (rc < 0)
		return rc;
	if (r.status != 202 && r.status != 200)
		rc = mr_search__http_error(r.status == 400 ? MR_EINVALID : MR_ERROR, method, path, &r);
	else
		rc = ms_wait(ms, &r, what);
	mr_search__http_resp_dispose(&r);
	return rc;
}

/* Creates the index unless it exists and sends its settings (ms_ensure_index). */
static int ms_create_index(void *payload)
{
	ms_inst *ms = payload;
	char path[300];
	snprintf(path, sizeof(path), "/indexes/%s", ms->index);
	bool found = false;
	int rc = mr_search__http_exists(&ms->http, "GET", path, MR_ERROR, &found);
	if (rc < 0)
		return rc;
	if (!found) {
		json_t *body = json_pack("{s:s, s:s}", "uid", ms->index, "primaryKey", "key");
		rc = body ? ms_task(ms, "POST", "/indexes", body, "creating the index") : mr_error_oom();
		json_decref(body);
		if (rc == MR_EEXISTS)
			rc = 0; /* another process won the race */
		if (rc < 0)
			return rc;
	}
	json_t *settings = json_pack(
		"{s:[s,s,s,s,s,s,s,s], s:[s,s,s,s,s,s], s:[s,s], s:{s:b}, s:[s,s,s,s,s,s,s,s], s:{s:I}, s:[]}",
		"searchableAttributes", "subject", "from", "to", "cc", "bcc", "body", "attachment", "headers",
		"filterableAttributes", "account", "date", "size", "flags", "mailboxes", "has_attachment",
		"sortableAttributes", "date", "id", "typoTolerance", "enabled", 0, "rankingRules", "sort", "words",
		"typo", "proximity", "attribute", "exactness", "date:desc", "id:desc", "pagination", "maxTotalHits",
		(json_int_t)ms->max_hits, "stopWords");
	char spath[320];
	snprintf(spath, sizeof(spath), "/indexes/%s/settings", ms->index);
	rc = settings ? ms_task(ms, "PATCH", spath, settings, "index settings") : mr_error_oom();
	json_decref(settings);
	return rc;
}

static int ms_ensure_index(ms_inst *ms) { return mr_search__http_bootstrap(&ms->http, ms_create_index, ms); }

static int ms_open(mr_search_inst **out, const mr_store_config *sc, mr_data *data)
{
	MR_UNUSED(data);
	*out = NULL;
	ms_inst *ms = mr_calloc(1, sizeof(*ms));
	if (!ms)
		return MR_ENOMEM;
	const char *index = NULL;
	int rc;
	if ((rc = mr_search__http_configure(&ms->http, "meilisearch", sc, MR_SEARCH_HTTP_API_KEY)) < 0 ||
	    (rc = mr_store_config_string(sc, "index", "mailroom", &index)) < 0 ||
	    (rc = mr_store_config_int(sc, "max-hits", 100000, 1, INT32_MAX, &ms->max_hits)) < 0)
		goto fail;
	bool ok = *index && strlen(index) < 400;
	for (const char *p = index; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		     *p == '_';
	if (!ok) {
		rc = mr_error_set(MR_EINVALID, "%s: index \"%s\": an index uid is letters, digits, - and _",
				  mr_store_config_where(sc, "index"), index);
		goto fail;
	}
	if (!(ms->index = mr_strdup(index))) {
		rc = MR_ENOMEM;
		goto fail;
	}
	*out = &ms->base;
	return 0;
fail:
	mr_search__http_dispose(&ms->http);
	mr_free(ms);
	return rc;
}

static void ms_close(mr_search_inst *inst)
{
	ms_inst *ms = ms_of(inst);
	mr_search__http_dispose(&ms->http);
	mr_free(ms->index);
	mr_free(ms);
}

/*
 * ASCII symbols Meilisearch's tokenizer (charabia) keeps inside words but
 * the built-in analyzer splits on: "org>" of "<alice@example.org>" would be
 * one word there.  Text sent to it, documents and query words alike, has
 * them replaced by spaces, so both sides split the same way.
 */
static const char ms_joiners[] = "$+<=>^`|~";

static json_t *ms_text(const char *v)
{
	if (!strpbrk(v, ms_joiners))
		return mr_search__json_text(v);
	char *c = mr_strdup(v);
	if (!c)
		return NULL;
	for (char *p = c; (p = strpbrk(p, ms_joiners)) != NULL;)
		*p = ' ';
	json_t *s = mr_search__json_text(c);
	mr_free(c);
	return s;
}

static int set_text(json_t *o, const char *k, const char *v)
{
	if (!v)
		return 0;
	json_t *s = ms_text(v);
	return s && json_object_set_new(o, k, s) == 0 ? 0 : mr_error_oom();
}

static json_t *ms_doc(uint64_t account, uint32_t id, const mr_search_doc *d)
{
	char key[48], acct[24];
	snprintf(key, sizeof(key), "%" PRIu64 "-%u", account, id);
	snprintf(acct, sizeof(acct), "%" PRIu64, account);
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:b}", "key", key, "account", acct, "id", (json_int_t)id,
			      "date", (json_int_t)d->date, "size", (json_int_t)d->size, "has_attachment",
			      d->has_attachment);
	json_t *flags = json_array(), *mbx = json_array(), *hdrs = json_object();
	int rc = o && flags && mbx && hdrs ? 0 : mr_error_oom();
	const char *texts[] = {d->from, d->to, d->cc, d->bcc, d->subject, d->body, d->attachment};
	for (size_t f = 0; rc == 0 && f < MR_ARRAY_LEN(texts); f++)
		rc = set_text(o, ms_text_fields[f], texts[f]);
	for (int f = 0; rc == 0 && f < MR_FLAG_COUNT_; f++)
		if ((d->flags & MR_SEARCH_FLAG(f)) && json_array_append_new(flags, json_string(ms_flag_names[f])) < 0)
			rc = mr_error_oom();
	for (size_t i = 0; rc == 0 && i < d->nmailboxes; i++) {
		const char *m = d->mailboxes[i] ? d->mailboxes[i] : "";
		json_t *v = strcasecmp(m, "INBOX") == 0 ? json_string("INBOX") : mr_search__json_text(m);
		if (!v || json_array_append_new(mbx, v) < 0)
			rc = mr_error_oom();
	}
	for (size_t i = 0; rc == 0 && i < d->nheaders; i++) {
		char name[128];
		const char *n = d->headers[i].name ? d->headers[i].name : "";
		size_t k = 0;
		/* lower case; '.' would nest one level deeper in Meilisearch's attribute paths */
		for (; n[k] && k + 1 < sizeof(name); k++)
			name[k] = n[k] == '.' ? '_' : (n[k] >= 'A' && n[k] <= 'Z') ? (char)(n[k] + 32) : n[k];
		name[k] = '\0';
		const char *v = d->headers[i].value ? d->headers[i].value : "";
		json_t *prev = json_object_get(hdrs, name);
		mr_buf b = MR_BUF_INIT;
		if (prev)
			rc = mr_buf_printf(&b, "%s\n", json_string_value(prev));
		if (rc == 0)
			rc = mr_buf_puts(&b, v);
		json_t *s = rc == 0 ? ms_text(mr_buf_cstr(&b)) : NULL;
		mr_buf_dispose(&b);
		if (!s || json_object_set_new(hdrs, name, s) < 0)
			rc = mr_error_oom();
	}
	if (rc == 0 && (json_object_set(o, "flags", flags) < 0 || json_object_set(o, "mailboxes", mbx) < 0 ||
			json_object_set(o, "headers", hdrs) < 0))
		rc = mr_error_oom();
	json_decref(flags);
	json_decref(mbx);
	json_decref(hdrs);
	if (rc < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int ms_index(mr_search_inst *inst, uint64_t account, uint32_t doc_id, const mr_search_doc *doc)
{
	ms_inst *ms = ms_of(inst);
	int rc = ms_ensure_index(ms);
	if (rc < 0)
		return rc;
	json_t *d = ms_doc(account, doc_id, doc);
	json_t *batch = d ? json_pack("[o]", d) : NULL;
	if (!batch)
		return mr_error_oom();
	char path[320];
	/* POST replaces the whole document with the same key */
	snprintf(path, sizeof(path), "/indexes/%s/documents", ms->index);
	rc = ms_task(ms, "POST", path, batch, "index");
	json_decref(batch);
	return rc;
}

/* Documents per request of a batch: one task each. */
#define MS_BATCH_DOCS 500

static int ms_index_batch(mr_search_inst *inst, uint64_t account, const uint32_t *ids, const mr_search_doc *docs,
			  size_t n)
{
	ms_inst *ms = ms_of(inst);
	int rc = ms_ensure_index(ms);
	char path[320];
	snprintf(path, sizeof(path), "/indexes/%s/documents", ms->index);
	for (size_t at = 0; rc == 0 && at < n; at += MS_BATCH_DOCS) {
		json_t *batch = json_array();
		if (!batch)
			return mr_error_oom();
		for (size_t i = at; rc == 0 && i < n && i < at + MS_BATCH_DOCS; i++) {
			json_t *d = ms_doc(account, ids[i], &docs[i]);
			if (!d || json_array_append_new(batch, d) < 0)
				rc = mr_error_oom();
		}
		if (rc == 0)
			rc = ms_task(ms, "POST", path, batch, "index batch");
		json_decref(batch);
	}
	return rc;
}

static int ms_remove(mr_search_inst *inst, uint64_t account, uint32_t doc_id)
{
	ms_inst *ms = ms_of(inst);
	int rc = ms_ensure_index(ms);
	if (rc < 0)
		return rc;
	char path[400];
	snprintf(path, sizeof(path), "/indexes/%s/documents/%" PRIu64 "-%u", ms->index, account, doc_id);
	mr_search_http_resp r;
	if ((rc = mr_search__http_call(&ms->http, "GET", path, NULL, 0, NULL, &r)) < 0)
		return rc;
	long st = r.status;
	if (st != 200 && st != 404)
		rc = mr_search__http_error(MR_ERROR, "GET", path, &r);
	mr_search__http_resp_dispose(&r);
	if (rc < 0)
		return rc;
	if (st == 404)
		return mr_error_set(MR_ENOTFOUND, "document %u of account %" PRIu64 " is not indexed", doc_id, account);
	return ms_task(ms, "DELETE", path, NULL, "remove");
}

/* ---- translation ---- */

/*
 * A query is first put in disjunctive normal form: an OR of conjunctions,
 * each an AND of items — text leaves and subtrees without text (filters),
 * each possibly negated.  A conjunction becomes one or more Meilisearch
 * searches ("parts"): its positive words grouped by field scope (a part
 * holds at most one prefix, as its last word), its negated words added to
 * a part of the same scope as -"word", and anything else negated (a
 * prefix, a word of a scope no positive part has) a part whose matches are
 * subtracted.  A conjunction without positive words searches everything
 * its filter lets through.  A query that is one part is one search, sorted
 * and paged by Meilisearch; any other is one /multi-search request whose
 * id sets are intersected, subtracted and united here.
 */
typedef struct ms_item {
	const mr_query_node *n;
	bool neg;
} ms_item;

typedef struct ms_conj {
	ms_item *it;
	size_t n;
} ms_conj;

typedef struct ms_dnf {
	ms_conj *c;
	size_t n;
} ms_dnf;

#define MS_MAX_CONJ 32	 /* conjunctions a query may expand to */
#define MS_MAX_ITEMS 128 /* items of one conjunction */
/* Positive words and phrases of one search: Meilisearch ignores a query's terms after the 10th. */
#define MS_MAX_TERMS 10

static bool has_text(const mr_query_node *n)
{
	if (n->kind == MR_Q_TERM || n->kind == MR_Q_PHRASE || n->kind == MR_Q_PREFIX)
		return true;
	for (size_t i = 0; i < n->nchildren; i++)
		if (has_text(n->children[i]))
			return true;
	return false;
}

static bool is_text(const mr_query_node *n)
{
	return n->kind == MR_Q_TERM || n->kind == MR_Q_PHRASE || n->kind == MR_Q_PREFIX;
}

static void dnf_dispose(ms_dnf *d)
{
	for (size_t i = 0; i < d->n; i++)
		mr_free(d->c[i].it);
	mr_free(d->c);
	*d = (ms_dnf){0};
}

/* One conjunction holding n (negated when neg), or an empty one when n is NULL. */
static int dnf_single(ms_dnf *out, const mr_query_node *n, bool neg)
{
	if (!(out->c = mr_calloc(1, sizeof(ms_conj))))
		return MR_ENOMEM;
	out->n = 1;
	if (n) {
		if (!(out->c[0].it = mr_malloc(sizeof(ms_item))))
			return MR_ENOMEM;
		out->c[0].it[0] = (ms_item){n, neg};
		out->c[0].n = 1;
	}
	return 0;
}

static int too_many(const mr_query_node *n)
{
	return mr_error_set(MR_ENOTSUPPORTED,
			    "column %u: the query expands to more than %d Meilisearch searches (its words under OR "
			    "and NOT multiply out); simplify it",
			    n->column, MS_MAX_CONJ);
}

/* out = out AND d: every conjunction of out joined with every one of d. */
static int dnf_and(ms_dnf *out, const ms_dnf *d, const mr_query_node *at)
{
	if (out->n * d->n > MS_MAX_CONJ)
		return too_many(at);
	size_t total = out->n * d->n;
	ms_dnf r = {mr_calloc(total ? total : 1, sizeof(ms_conj)), 0};
	if (!r.c)
		return MR_ENOMEM;
	for (size_t i = 0; i < out->n; i++)
		for (size_t j = 0; j < d->n; j++) {
			const ms_conj *a = &out->c[i], *b = &d->c[j];
			ms_conj *c = &r.c[r.n++];
			if (a->n + b->n > MS_MAX_ITEMS) {
				dnf_dispose(&r);
				return too_many(at);
			}
			if (a->n + b->n && !(c->it = mr_malloc((a->n + b->n) * sizeof(ms_item)))) {
				dnf_dispose(&r);
				return MR_ENOMEM;
			}
			if (a->n)
				memcpy(c->it, a->it, a->n * sizeof(ms_item));
			if (b->n)
				memcpy(c->it + a->n, b->it, b->n * sizeof(ms_item));
			c->n = a->n + b->n;
		}
	dnf_dispose(out);
	*out = r;
	return 0;
}

/* out = out OR d; d's conjunctions move to out. */
static int dnf_or(ms_dnf *out, ms_dnf *d, const mr_query_node *at)
{
	if (out->n + d->n > MS_MAX_CONJ)
		return too_many(at);
	ms_conj *c = mr_realloc(out->c, (out->n + d->n) * sizeof(ms_conj));
	if (!c)
		return MR_ENOMEM;
	memcpy(c + out->n, d->c, d->n * sizeof(ms_conj));
	out->c = c;
	out->n += d->n;
	mr_free(d->c);
	*d = (ms_dnf){0};
	return 0;
}

/* The disjunctive normal form of n (of NOT n when neg); NOTs are pushed down to the leaves. */
static int dnf_of(const mr_query_node *n, bool neg, ms_dnf *out)
{
	*out = (ms_dnf){0};
	if (!has_text(n) || is_text(n))
		return dnf_single(out, n, neg);
	if (n->kind == MR_Q_NOT)
		return dnf_of(n->children[0], !neg, out);
	if (n->kind != MR_Q_AND && n->kind != MR_Q_OR)
		return mr_error_set(MR_ERROR, "column %u: unexpected query node", n->column);
	bool conjunction = (n->kind == MR_Q_AND) != neg; /* De Morgan under NOT */
	int rc = conjunction ? dnf_single(out, NULL, false) : 0;
	for (size_t i = 0; rc == 0 && i < n->nchildren; i++) {
		ms_dnf d;
		rc = dnf_of(n->children[i], neg, &d);
		if (rc == 0)
			rc = conjunction ? dnf_and(out, &d, n) : dnf_or(out, &d, n);
		dnf_dispose(&d);
	}
	if (rc < 0)
		dnf_dispose(out);
	return rc;
}

/* One Meilisearch search. */
typedef struct ms_part {
	mr_buf q;		    /* quoted words, -"negated" words */
	mr_buf prefix;		    /* the one prefix word, appended last */
	const mr_query_node *scope; /* the field of its words; NULL: everything */
	unsigned nterms;	    /* positive words and phrases (MS_MAX_TERMS) */
	bool has_prefix;
	bool subtract; /* its matches are removed from its conjunction */
	bool cjk;      /* has Han or kana: searched as Japanese and as Chinese (ms_query_many) */
	size_t conj;
} ms_part;

typedef struct ms_plan {
	ms_part *parts;
	size_t nparts;
	mr_buf *filters; /* per conjunction: account, and its filter items */
	size_t nconj;
} ms_plan;

static void plan_dispose(ms_plan *p)
{
	for (size_t i = 0; i < p->nparts; i++) {
		mr_buf_dispose(&p->parts[i].q);
		mr_buf_dispose(&p->parts[i].prefix);
	}
	for (size_t i = 0; i < p->nconj; i++)
		mr_buf_dispose(&p->filters[i]);
	mr_free(p->parts);
	mr_free(p->filters);
	*p = (ms_plan){0};
}

static int put_quoted(mr_buf *b, const char *s)
{
	int rc = mr_buf_puts(b, "\"");
	for (; rc == 0 && *s; s++)
		rc = (*s == '"' || *s == '\\') ? mr_buf_printf(b, "\\%c", *s) : mr_buf_put(b, s, 1);
	return rc == 0 ? mr_buf_puts(b, "\"") : rc;
}

static int filter_of(mr_buf *f, const mr_query_node *n)
{
	switch (n->kind) {
	case MR_Q_ALL:
		return mr_buf_puts(f, "account EXISTS");
	case MR_Q_DATE:
		if (n->cmp == MR_CMP_BEFORE)
			return mr_buf_printf(f, "date < %" PRId64, n->value);
		if (n->cmp == MR_CMP_AFTER)
			return mr_buf_printf(f, "date >= %" PRId64, n->value);
		return mr_buf_printf(f, "(date >= %" PRId64 " AND date < %" PRId64 ")", n->value, n->value + 86400);
	case MR_Q_SIZE:
		return mr_buf_printf(f, "size %s %" PRId64, n->cmp == MR_CMP_LARGER ? ">" : "<", n->value);
	case MR_Q_HAS_ATTACHMENT:
		return mr_buf_puts(f, "has_attachment = true");
	case MR_Q_IN: {
		int rc = mr_buf_puts(f, "mailboxes = ");
		return rc ? rc : put_quoted(f, strcasecmp(n->text, "INBOX") == 0 ? "INBOX" : n->text);
	}
	case MR_Q_IS:
		return mr_buf_printf(f, "flags = \"%s\"", ms_flag_names[n->flag]);
	case MR_Q_NOT: {
		int rc = mr_buf_puts(f, "NOT (");
		rc = rc ? rc : filter_of(f, n->children[0]);
		return rc ? rc : mr_buf_puts(f, ")");
	}
	case MR_Q_AND:
	case MR_Q_OR: {
		int rc = mr_buf_puts(f, "(");
		for (size_t i = 0; rc == 0 && i < n->nchildren; i++) {
			if (i)
				rc = mr_buf_puts(f, n->kind == MR_Q_AND ? " AND " : " OR ");
			if (rc == 0)
				rc = filter_of(f, n->children[i]);
		}
		return rc ? rc : mr_buf_puts(f, ")");
	}
	default:
		return mr_error_set(MR_ENOTSUPPORTED, "column %u: text inside a filter", n->column);
	}
}

static bool same_scope(const mr_query_node *a, const mr_query_node *b)
{
	return a->field == b->field && (a->field != MR_FIELD_HEADER || strcmp(a->header, b->header) == 0);
}

static ms_part *plan_add(ms_plan *p, size_t conj, const mr_query_node *scope, bool subtract)
{
	ms_part *parts = mr_realloc(p->parts, (p->nparts + 1) * sizeof(ms_part));
	if (!parts)
		return NULL;
	p->parts = parts;
	ms_part *x = &parts[p->nparts++];
	*x = (ms_part){MR_BUF_INIT, MR_BUF_INIT, scope, 0, false, subtract, false, conj};
	return x;
}

/* The positive part of conjunction conj searching scope's field that can take leaf, or NULL. */
static ms_part *plan_find(ms_plan *p, size_t conj, const mr_query_node *leaf)
{
	for (size_t i = 0; i < p->nparts; i++) {
		ms_part *x = &p->parts[i];
		if (x->conj == conj && !x->subtract && x->scope && same_scope(x->scope, leaf) &&
		    x->nterms < MS_MAX_TERMS && !(leaf->kind == MR_Q_PREFIX && x->has_prefix))
			return x;
	}
	return NULL;
}

/* Adds a text leaf to a part: a quoted word or phrase (-"..." when negated), or the prefix. */
static int part_add(ms_part *x, const mr_query_node *n, bool negated)
{
	if (!negated)
		x->nterms++;
	if (n->kind == MR_Q_PREFIX) {
		for (const char *c = n->text; *c; c++)
			if (strchr(" \t\"-'.,;:!?@/\\()[]{}<>", *c))
				return mr_error_set(MR_ENOTSUPPORTED,
						    "column %u: prefix \"%s*\" spans several words; a prefix matches the "
						    "start of one word",
						    n->column, n->text);
		x->has_prefix = true;
		return mr_buf_puts(&x->prefix, n->text);
	}
	int rc = x->q.len ? mr_buf_puts(&x->q, " ") : 0;
	size_t start = x->q.len;
	if (rc == 0 && negated)
		rc = mr_buf_puts(&x->q, "-");
	rc = rc ? rc : put_quoted(&x->q, n->text);
	/* the same split as the documents' text (ms_text) */
	for (char *c = rc == 0 ? (char *)mr_buf_cstr(&x->q) + start : NULL; c && (c = strpbrk(c, ms_joiners)) != NULL;)
		*c = ' ';
	return rc;
}

static int plan_conj(ms_plan *p, size_t ci, const ms_conj *c, uint64_t account)
{
	mr_buf *f = &p->filters[ci];
	int rc = mr_buf_printf(f, "account = \"%" PRIu64 "\"", account);
	for (size_t i = 0; rc == 0 && i < c->n; i++) {
		const ms_item *it = &c->it[i];
		if (is_text(it->n) || (it->n->kind == MR_Q_ALL && !it->neg))
			continue;
		rc = mr_buf_puts(f, it->neg ? " AND NOT (" : " AND ");
		rc = rc ? rc : filter_of(f, it->n);
		if (rc == 0 && it->neg)
			rc = mr_buf_puts(f, ")");
	}
	bool positive = false;
	for (size_t i = 0; rc == 0 && i < c->n; i++) {
		const ms_item *it = &c->it[i];
		if (!is_text(it->n) || it->neg)
			continue;
		ms_part *x = plan_find(p, ci, it->n);
		if (!x && !(x = plan_add(p, ci, it->n, false)))
			return MR_ENOMEM;
		rc = part_add(x, it->n, false);
		positive = true;
	}
	/* no positive words: the first negated word's field is searched with only negated words */
	for (size_t i = 0; rc == 0 && !positive && i < c->n; i++) {
		const ms_item *it = &c->it[i];
		if (is_text(it->n) && it->neg && it->n->kind != MR_Q_PREFIX) {
			if (!plan_add(p, ci, it->n, false))
				return MR_ENOMEM;
			positive = true;
		}
	}
	for (size_t i = 0; rc == 0 && i < c->n; i++) {
		const ms_item *it = &c->it[i];
		if (!is_text(it->n) || !it->neg)
			continue;
		ms_part *x = it->n->kind == MR_Q_PREFIX ? NULL : plan_find(p, ci, it->n);
		bool subtract = x == NULL;
		if (!x && !(x = plan_add(p, ci, it->n, true)))
			return MR_ENOMEM;
		rc = part_add(x, it->n, !subtract);
	}
	if (rc == 0 && !positive && !plan_add(p, ci, NULL, false))
		return MR_ENOMEM;
	return rc;
}

/* Whether s has a Han ideograph or kana. */
static bool has_cjk(const char *s)
{
	const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t c;
	for (utf8proc_ssize_t n; *u && (n = utf8proc_iterate(u, -1, &c)) > 0; u += n) {
		mr_cjk_script sc = mr_search__cjk_script(c);
		if (sc == MR_SCRIPT_HAN || sc == MR_SCRIPT_KANA)
			return true;
	}
	return false;
}

static int plan_of(ms_plan *p, const mr_query_node *root, uint64_t account)
{
	ms_dnf d;
	int rc = dnf_of(root, false, &d);
	if (rc < 0)
		return rc;
	if (!(p->filters = mr_calloc(d.n ? d.n : 1, sizeof(mr_buf)))) {
		dnf_dispose(&d);
		return MR_ENOMEM;
	}
	p->nconj = d.n;
	for (size_t i = 0; i < d.n; i++)
		p->filters[i] = MR_BUF_INIT;
	for (size_t i = 0; rc == 0 && i < d.n; i++)
		rc = plan_conj(p, i, &d.c[i], account);
	for (size_t i = 0; rc == 0 && i < p->nparts; i++) {
		ms_part *x = &p->parts[i];
		if (x->has_prefix)
			rc = x->q.len ? mr_buf_printf(&x->q, " %s", mr_buf_cstr(&x->prefix))
				      : mr_buf_puts(&x->q, mr_buf_cstr(&x->prefix));
		x->cjk = has_cjk(mr_buf_cstr(&x->q));
	}
	dnf_dispose(&d);
	return rc;
}

/* The search request of one part. */
static json_t *part_body(const ms_plan *p, const ms_part *x, size_t per_page, bool relevance,
			 bool sorted, const char *locale)
{
	json_t *body = json_pack("{s:s, s:s, s:i, s:I, s:[s,s], s:s, s:b}", "q", mr_buf_cstr(&x->q), "filter",
				 mr_buf_cstr(&p->filters[x->conj]), "page", 1, "hitsPerPage",
				 (json_int_t)(per_page ? per_page : 1), "attributesToRetrieve", "id", "date",
				 "matchingStrategy", "all", "showRankingScore", relevance);
	if (!body)
		return NULL;
	if (sorted && json_object_set_new(body, "sort", json_pack("[s,s]", "date:desc", "id:desc")) < 0)
		goto oom;
	if (locale && json_object_set_new(body, "locales", json_pack("[s]", locale)) < 0)
		goto oom;
	if (x->scope && x->scope->field != MR_FIELD_ANY) {
		char attr[160];
		if (x->scope->field == MR_FIELD_HEADER) {
			snprintf(attr, sizeof(attr), "headers.%s", x->scope->header);
			for (char *c = attr + 8; *c; c++)
				if (*c == '.')
					*c = '_';
		} else {
			snprintf(attr, sizeof(attr), "%s", mr_search_field_name(x->scope->field));
		}
		if (json_object_set_new(body, "attributesToSearchOn", json_pack("[s]", attr)) < 0)
			goto oom;
	}
	return body;
oom:
	json_decref(body);
	return NULL;
}

/* One hit of a part. */
typedef struct ms_hit {
	uint32_t id;
	int64_t date;
	double score;
} ms_hit;

typedef struct ms_hits {
	ms_hit *h;
	size_t n;
} ms_hits;

static int hit_by_id(const void *a, const void *b)
{
	uint32_t x = ((const ms_hit *)a)->id, y = ((const ms_hit *)b)->id;
	return x < y ? -1 : x > y;
}

static int hit_by_date(const void *a, const void *b)
{
	const ms_hit *x = a, *y = b;
	if (x->date != y->date)
		return x->date > y->date ? -1 : 1;
	return x->id > y->id ? -1 : x->id < y->id;
}

static int hit_by_score(const void *a, const void *b)
{
	const ms_hit *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return hit_by_date(a, b);
}

enum { MS_AND, MS_OR, MS_MINUS };

/* *a = *a op b, both sorted by id; a hit in both keeps the better score. */
static int hits_merge(ms_hits *a, const ms_hits *b, int op)
{
	size_t cap = op == MS_OR ? a->n + b->n : a->n;
	ms_hit *r = mr_malloc((cap ? cap : 1) * sizeof(ms_hit));
	if (!r)
		return MR_ENOMEM;
	size_t i = 0, j = 0, n = 0;
	while (i < a->n || j < b->n) {
		if (j == b->n || (i < a->n && a->h[i].id < b->h[j].id)) {
			if (op != MS_AND)
				r[n++] = a->h[i];
			i++;
		} else if (i == a->n || b->h[j].id < a->h[i].id) {
			if (op == MS_OR)
				r[n++] = b->h[j];
			j++;
		} else {
			if (op != MS_MINUS) {
				r[n] = a->h[i];
				if (b->h[j].score > r[n].score)
					r[n].score = b->h[j].score;
				n++;
			}
			i++;
			j++;
		}
	}
	mr_free(a->h);
	a->h = r;
	a->n = n;
	return 0;
}

/* Reads one search's hits, sorted by id; more matches than it returned (max-hits) is MR_ELIMIT. */
static int hits_of(ms_inst *ms, const json_t *res, size_t part, ms_hits *out)
{
	json_t *hits = json_object_get(res, "hits");
	size_t n = json_array_size(hits);
	json_int_t total = json_integer_value(json_object_get(res, "totalHits"));
	if (total > (json_int_t)n)
		return mr_error_set(MR_ELIMIT,
				    "part %zu of the query matches %" JSON_INTEGER_FORMAT
				    " documents, more than max-hits (%" PRId64
				    "); the parts of a query with OR, NOT or several fields are combined here, "
				    "so each must fit: raise max-hits or narrow the query",
				    part + 1, total, ms->max_hits);
	if (!(out->h = mr_malloc((n ? n : 1) * sizeof(ms_hit))))
		return MR_ENOMEM;
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		json_t *h = json_array_get(hits, i);
		out->h[i] = (ms_hit){(uint32_t)json_integer_value(json_object_get(h, "id")),
				     (int64_t)json_integer_value(json_object_get(h, "date")),
				     json_number_value(json_object_get(h, "_rankingScore"))};
	}
	qsort(out->h, n, sizeof(ms_hit), hit_by_id);
	return 0;
}

/* Answers a search error: a header never seen is an unknown attribute to search on, so no match. */
static bool unknown_header(const mr_search_http_resp *r, const ms_plan *p)
{
	const char *code = json_string_value(json_object_get(r->json, "code"));
	if (!code || strcmp(code, "invalid_search_attributes_to_search_on") != 0)
		return false;
	for (size_t i = 0; i < p->nparts; i++)
		if (p->parts[i].scope && p->parts[i].scope->field == MR_FIELD_HEADER)
			return true;
	return false;
}

/* Fills out with the page opts asks for of the nh hits h, in their order. */
static int hits_page(mr_search_result *out, const ms_hit *h, size_t nh, const mr_search_opts *opts, bool relevance)
{
	size_t n = nh > opts->offset ? nh - opts->offset : 0;
	if (opts->limit && n > opts->limit)
		n = opts->limit;
	if (n && !(out->ids = mr_calloc(n, sizeof(uint32_t))))
		return MR_ENOMEM;
	if (relevance && !(out->scores = mr_calloc(n ? n : 1, sizeof(double))))
		return MR_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		out->ids[i] = h[opts->offset + i].id;
		if (relevance)
			out->scores[i] = h[opts->offset + i].score;
	}
	out->count = n;
	return 0;
}

/* A one-part query: Meilisearch sorts, pages and counts. */
static int ms_query_one(ms_inst *ms, const ms_plan *p, const mr_search_opts *opts, mr_search_result *out)
{
	size_t want = opts->limit ? opts->offset + opts->limit : (size_t)ms->max_hits;
	if (want > (size_t)ms->max_hits)
		return mr_error_set(MR_ELIMIT,
				    "Meilisearch: results %zu to %zu asked, past max-hits (%" PRId64
				    "), the deepest Meilisearch pages; raise max-hits",
				    opts->offset + 1, want, ms->max_hits);
	bool relevance = opts->order == MR_SEARCH_ORDER_RELEVANCE;
	json_t *body = part_body(p, &p->parts[0], want, relevance, !relevance, NULL);
	if (!body)
		return mr_error_oom();
	char path[320];
	snprintf(path, sizeof(path), "/indexes/%s/search", ms->index);
	mr_search_http_resp r;
	int rc = mr_search__http_json(&ms->http, "POST", path, body, &r);
	json_decref(body);
	if (rc < 0)
		return rc;
	if (r.status != 200) {
		if (!unknown_header(&r, p))
			rc = mr_search__http_error(r.status == 400 ? MR_EINVALID : MR_ERROR, "POST", path, &r);
		mr_search__http_resp_dispose(&r);
		return rc;
	}
	json_t *hits = json_object_get(r.json, "hits");
	out->total = (uint64_t)json_integer_value(json_object_get(r.json, "totalHits"));
	if (!opts->limit && out->total > (uint64_t)ms->max_hits) {
		mr_search__http_resp_dispose(&r);
		out->total = 0;
		return mr_error_set(MR_ELIMIT,
				    "the query matches more than max-hits (%" PRId64
				    ") documents, all of which were asked for; raise max-hits or ask for a page",
				    ms->max_hits);
	}
	size_t nh = json_array_size(hits);
	ms_hit *h = mr_malloc((nh ? nh : 1) * sizeof(ms_hit));
	if (!h)
		rc = MR_ENOMEM;
	for (size_t i = 0; rc == 0 && i < nh; i++) {
		json_t *o = json_array_get(hits, i);
		h[i] = (ms_hit){(uint32_t)json_integer_value(json_object_get(o, "id")), 0,
				json_number_value(json_object_get(o, "_rankingScore"))};
	}
	if (rc == 0)
		rc = hits_page(out, h, nh, opts, relevance);
	mr_free(h);
	mr_search__http_resp_dispose(&r);
	return rc;
}

/* Any other query: all parts in one /multi-search, combined here. */
static int ms_query_many(ms_inst *ms, const ms_plan *p, const mr_search_opts *opts, mr_search_result *out)
{
	bool relevance = opts->order == MR_SEARCH_ORDER_RELEVANCE;
	json_t *queries = json_array();
	json_t *body = queries ? json_pack("{s:o}", "queries", queries) : NULL;
	if (!body)
		return mr_error_oom();
	/*
	 * Han text is ambiguous: Meilisearch reads a query of ideographs alone
	 * as Chinese (segmented by jieba, variants folded: 東京 becomes 东京)
	 * while it segmented Japanese documents with lindera, so 東京 would not
	 * find them.  A part with Han or kana is searched with each locale and
	 * the answers united.
	 */
	static const char *const cjk_locales[] = {"jpn", "cmn"};
	size_t nqueries = 0;
	for (size_t i = 0; i < p->nparts; i++)
		for (size_t v = 0; v < (p->parts[i].cjk ? 2u : 1u); v++, nqueries++) {
			json_t *b = part_body(p, &p->parts[i], (size_t)ms->max_hits, relevance, false,
					      p->parts[i].cjk ? cjk_locales[v] : NULL);
			if (!b || json_object_set_new(b, "indexUid", json_string(ms->index)) < 0 ||
			    json_array_append_new(queries, b) < 0) {
				json_decref(body);
				return mr_error_oom();
			}
		}
	mr_search_http_resp r;
	int rc = mr_search__http_json(&ms->http, "POST", "/multi-search", body, &r);
	json_decref(body);
	if (rc < 0)
		return rc;
	if (r.status != 200) {
		if (!unknown_header(&r, p))
			rc = mr_search__http_error(r.status == 400 ? MR_EINVALID : MR_ERROR, "POST", "/multi-search",
						   &r);
		else if (p->nparts > 1)
			rc = mr_error_set(MR_ENOTSUPPORTED,
					  "Meilisearch refused a header it has never indexed in a query of several "
					  "parts; search that header alone");
		mr_search__http_resp_dispose(&r);
		return rc;
	}
	json_t *results = json_object_get(r.json, "results");
	if (json_array_size(results) != nqueries) {
		rc = mr_error_set(MR_ERROR, "POST /multi-search: %zu results for %zu queries", json_array_size(results),
				  nqueries);
		mr_search__http_resp_dispose(&r);
		return rc;
	}
	/* each part's hits, its locale variants united */
	ms_hits *ph = mr_calloc(p->nparts ? p->nparts : 1, sizeof(ms_hits));
	if (!ph) {
		mr_search__http_resp_dispose(&r);
		return MR_ENOMEM;
	}
	for (size_t i = 0, at = 0; rc == 0 && i < p->nparts; i++)
		for (size_t v = 0; rc == 0 && v < (p->parts[i].cjk ? 2u : 1u); v++, at++) {
			ms_hits h = {NULL, 0};
			rc = hits_of(ms, json_array_get(results, at), i, &h);
			if (rc == 0 && v == 0)
				ph[i] = h;
			else if (rc == 0)
				rc = hits_merge(&ph[i], &h, MS_OR);
			if (v)
				mr_free(h.h);
		}
	ms_hits all = {NULL, 0};
	for (size_t c = 0; rc == 0 && c < p->nconj; c++) {
		ms_hits acc = {NULL, 0};
		bool started = false;
		for (int subtract = 0; subtract < 2 && rc == 0; subtract++)
			for (size_t i = 0; rc == 0 && i < p->nparts; i++) {
				if (p->parts[i].conj != c || p->parts[i].subtract != (subtract != 0))
					continue;
				if (!started) {
					acc = ph[i];
					ph[i] = (ms_hits){NULL, 0};
					started = true;
				} else {
					rc = hits_merge(&acc, &ph[i], subtract ? MS_MINUS : MS_AND);
				}
			}
		if (rc == 0)
			rc = hits_merge(&all, &acc, MS_OR);
		mr_free(acc.h);
	}
	for (size_t i = 0; i < p->nparts; i++)
		mr_free(ph[i].h);
	mr_free(ph);
	mr_search__http_resp_dispose(&r);
	if (rc == 0) {
		qsort(all.h, all.n, sizeof(ms_hit), relevance ? hit_by_score : hit_by_date);
		out->total = all.n;
		rc = hits_page(out, all.h, all.n, opts, relevance);
	}
	mr_free(all.h);
	return rc;
}

static int ms_query_run(mr_search_inst *inst, uint64_t account, const mr_query_node *root, const mr_search_opts *opts,
			mr_search_result *out)
{
	ms_inst *ms = ms_of(inst);
	int rc = ms_ensure_index(ms);
	if (rc < 0)
		return rc;
	ms_plan p = {0};
	rc = plan_of(&p, root, account);
	if (rc == 0)
		rc = p.nparts == 1 && !p.parts[0].subtract && !p.parts[0].cjk ? ms_query_one(ms, &p, opts, out)
							    : ms_query_many(ms, &p, opts, out);
	plan_dispose(&p);
	return rc;
}

static int ms_stats(mr_search_inst *inst, uint64_t *bytes, uint64_t *docs)
{
	ms_inst *ms = ms_of(inst);
	int rc = ms_ensure_index(ms);
	if (rc < 0)
		return rc;
	char path[320];
	snprintf(path, sizeof(path), "/indexes/%s/stats", ms->index);
	mr_search_http_resp r;
	if ((rc = mr_search__http_call(&ms->http, "GET", path, NULL, 0, NULL, &r)) < 0)
		return rc;
	if (r.status != 200)
		rc = mr_search__http_error(MR_ERROR, "GET", path, &r);
	*docs = (uint64_t)json_integer_value(json_object_get(r.json, "numberOfDocuments"));
	*bytes = (uint64_t)json_integer_value(json_object_get(r.json, "rawDocumentDbSize"));
	mr_search__http_resp_dispose(&r);
	return rc;
}

const mr_search_backend mr_search__meilisearch = {
	.version = MR_SEARCH_BACKEND_VERSION,
	.name = "meilisearch",
	.caps = MR_SEARCH_CAP_RELEVANCE | MR_SEARCH_CAP_PHRASE,
	.open = ms_open,
	.close = ms_close,
	.index = ms_index,
	.remove = ms_remove,
	.query = ms_query_run,
	.stats = ms_stats,
	.index_batch = ms_index_batch,
};
