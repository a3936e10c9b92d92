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
 * words: words and phrases are quoted (exact, no prefix), NOT word / -word
 * become Meilisearch's -"word", one prefix* is the last, unquoted word.
 * What `q` cannot say is MR_ENOTSUPPORTED naming the construct: text under
 * OR or under a NOT of a group, two prefixes, text scoped to two different
 * fields.  Meilisearch does not stem.
 */
#include "search/backend.h"
#include "search/http.h"

#include <inttypes.h>

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
		"sortableAttributes", "date", "id", "typoTolerance", "enabled", 0, "rankingRules", "words", "typo",
		"proximity", "attribute", "sort", "exactness", "date:desc", "id:desc", "pagination", "maxTotalHits",
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

static int set_text(json_t *o, const char *k, const char *v)
{
	if (!v)
		return 0;
	json_t *s = mr_search__json_text(v);
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
		json_t *s = rc == 0 ? mr_search__json_text(mr_buf_cstr(&b)) : NULL;
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

typedef struct ms_query {
	mr_buf q;      /* the words */
	mr_buf prefix; /* the one prefix word, appended last */
	const mr_query_node *scope; /* the first text leaf: every other must have its field */
	bool has_prefix;
} ms_query;

static bool has_text(const mr_query_node *n)
{
	if (n->kind == MR_Q_TERM || n->kind == MR_Q_PHRASE || n->kind == MR_Q_PREFIX)
		return true;
	for (size_t i = 0; i < n->nchildren; i++)
		if (has_text(n->children[i]))
			return true;
	return false;
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

/* A text leaf of the top-level conjunction, possibly negated. */
static int text_leaf(ms_query *mq, const mr_query_node *n, bool negated)
{
	if (mq->scope && !same_scope(mq->scope, n))
		return mr_error_set(MR_ENOTSUPPORTED,
				    "column %u: Meilisearch searches one set of fields per query; words scoped to "
				    "different fields (%s and %s) cannot be combined",
				    n->column, mr_search_field_name(mq->scope->field), mr_search_field_name(n->field));
	if (!mq->scope)
		mq->scope = n;
	if (n->kind == MR_Q_PREFIX) {
		if (negated || mq->has_prefix)
			return mr_error_set(MR_ENOTSUPPORTED,
					    "column %u: Meilisearch matches one prefix per query, as its last word, and "
					    "no negated prefix",
					    n->column);
		for (const char *p = n->text; *p; p++)
			if (strchr(" \t\"-'.,;:!?@/\\()[]{}<>", *p))
				return mr_error_set(MR_ENOTSUPPORTED,
						    "column %u: prefix \"%s*\" spans several words; a prefix matches the "
						    "start of one word",
						    n->column, n->text);
		mq->has_prefix = true;
		return mr_buf_puts(&mq->prefix, n->text);
	}
	int rc = mq->q.len ? mr_buf_puts(&mq->q, " ") : 0;
	if (rc == 0 && negated)
		rc = mr_buf_puts(&mq->q, "-");
	return rc ? rc : put_quoted(&mq->q, n->text);
}

static int ms_translate(ms_query *mq, mr_buf *filter, const mr_query_node *root)
{
	const mr_query_node *const *kids = &root;
	size_t nkids = 1;
	if (root->kind == MR_Q_AND) {
		kids = (const mr_query_node *const *)root->children;
		nkids = root->nchildren;
	}
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < nkids; i++) {
		const mr_query_node *c = kids[i];
		if (!has_text(c)) {
			if (c->kind == MR_Q_ALL)
				continue;
			if (filter->len)
				rc = mr_buf_puts(filter, " AND ");
			if (rc == 0)
				rc = filter_of(filter, c);
		} else if (c->kind == MR_Q_TERM || c->kind == MR_Q_PHRASE || c->kind == MR_Q_PREFIX) {
			rc = text_leaf(mq, c, false);
		} else if (c->kind == MR_Q_NOT && (c->children[0]->kind == MR_Q_TERM || c->children[0]->kind == MR_Q_PHRASE ||
						   c->children[0]->kind == MR_Q_PREFIX)) {
			rc = text_leaf(mq, c->children[0], true);
		} else {
			rc = mr_error_set(MR_ENOTSUPPORTED,
					  "column %u: Meilisearch ANDs the words of a query; words under %s cannot be "
					  "expressed",
					  c->column, c->kind == MR_Q_OR ? "OR" : c->kind == MR_Q_NOT ? "NOT (...)" : "a group");
		}
	}
	if (rc == 0 && mq->has_prefix)
		rc = mq->q.len ? mr_buf_printf(&mq->q, " %s", mr_buf_cstr(&mq->prefix))
			       : mr_buf_puts(&mq->q, mr_buf_cstr(&mq->prefix));
	return rc;
}

static int ms_query_run(mr_search_inst *inst, uint64_t account, const mr_query_node *root, const mr_search_opts *opts,
			mr_search_result *out)
{
	ms_inst *ms = ms_of(inst);
	int rc = ms_ensure_index(ms);
	if (rc < 0)
		return rc;
	ms_query mq = {MR_BUF_INIT, MR_BUF_INIT, NULL, false};
	mr_buf filter = MR_BUF_INIT;
	json_t *body = NULL;
	if ((rc = mr_buf_printf(&filter, "account = \"%" PRIu64 "\"", account)) < 0 ||
	    (rc = ms_translate(&mq, &filter, root)) < 0)
		goto done;
	size_t want = opts->limit ? opts->offset + opts->limit : (size_t)ms->max_hits;
	if (want > (size_t)ms->max_hits)
		want = (size_t)ms->max_hits;
	bool relevance = opts->order == MR_SEARCH_ORDER_RELEVANCE;
	body = json_pack("{s:s, s:s, s:i, s:I, s:[s], s:s, s:b}", "q", mr_buf_cstr(&mq.q), "filter",
			 mr_buf_cstr(&filter), "page", 1, "hitsPerPage", (json_int_t)(want ? want : 1),
			 "attributesToRetrieve", "id", "matchingStrategy", "all", "showRankingScore", relevance);
	if (!body) {
		rc = mr_error_oom();
		goto done;
	}
	if (!relevance && json_object_set_new(body, "sort", json_pack("[s,s]", "date:desc", "id:desc")) < 0) {
		rc = mr_error_oom();
		goto done;
	}
	if (mq.scope && mq.scope->field != MR_FIELD_ANY) {
		char attr[160];
		if (mq.scope->field == MR_FIELD_HEADER) {
			snprintf(attr, sizeof(attr), "headers.%s", mq.scope->header);
			for (char *p = attr + 8; *p; p++)
				if (*p == '.')
					*p = '_';
		} else {
			snprintf(attr, sizeof(attr), "%s", mr_search_field_name(mq.scope->field));
		}
		if (json_object_set_new(body, "attributesToSearchOn", json_pack("[s]", attr)) < 0) {
			rc = mr_error_oom();
			goto done;
		}
	}
	char path[320];
	snprintf(path, sizeof(path), "/indexes/%s/search", ms->index);
	mr_search_http_resp r;
	if ((rc = mr_search__http_json(&ms->http, "POST", path, body, &r)) < 0)
		goto done;
	if (r.status != 200) {
		/* searching a header never seen is an unknown attribute: no match */
		const char *code = json_string_value(json_object_get(r.json, "code"));
		if (code && strcmp(code, "invalid_search_attributes_to_search_on") == 0 &&
		    mq.scope->field == MR_FIELD_HEADER) {
			mr_search__http_resp_dispose(&r);
			goto done;
		}
		rc = mr_search__http_error(r.status == 400 ? MR_EINVALID : MR_ERROR, "POST", path, &r);
		mr_search__http_resp_dispose(&r);
		goto done;
	}
	json_t *hits = json_object_get(r.json, "hits");
	out->total = (uint64_t)json_integer_value(json_object_get(r.json, "totalHits"));
	size_t nh = json_array_size(hits);
	size_t n = nh > opts->offset ? nh - opts->offset : 0;
	if (opts->limit && n > opts->limit)
		n = opts->limit;
	if (n && !(out->ids = mr_calloc(n, sizeof(uint32_t))))
		rc = MR_ENOMEM;
	if (rc == 0 && relevance && !(out->scores = mr_calloc(n ? n : 1, sizeof(double))))
		rc = MR_ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		json_t *h = json_array_get(hits, opts->offset + i);
		out->ids[i] = (uint32_t)json_integer_value(json_object_get(h, "id"));
		if (relevance)
			out->scores[i] = json_number_value(json_object_get(h, "_rankingScore"));
	}
	if (rc == 0)
		out->count = n;
	mr_search__http_resp_dispose(&r);
done:
	json_decref(body);
	mr_buf_dispose(&mq.q);
	mr_buf_dispose(&mq.prefix);
	mr_buf_dispose(&filter);
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
};
