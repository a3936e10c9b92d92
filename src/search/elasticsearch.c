/*
 * elasticsearch.c — the search store on Elasticsearch or OpenSearch over
 * HTTP (types "elasticsearch" and "opensearch"; both speak the same REST
 * API and the response shapes of both are read).
 *
 * One index (key `index`, default "mailroom") holds every account; a
 * document is one email, _id "<account>:<doc id>", routed by account (so
 * an account's documents share a shard) and filtered by the keyword field
 * `account` in every query.  The index, its analyzers and its mapping are
 * created on first use; an index created by another mapping version or
 * language list is refused with a message rather than queried wrongly.
 *
 * Text fields (from to cc bcc subject body attachment) are analyzed by
 * mr_exact: the standard tokenizer, cjk_width, lowercase, cjk_bigram
 * (CJK runs become overlapping bigrams, like the built-in index) and a
 * word_delimiter_graph that splits on every non-alphanumeric character
 * ("alice@example.org" -> alice example org).  Each text field has one
 * sub-field per configured language (`languages`, default en de fr es it
 * pt nl ru) analyzed the same way plus that language's Snowball stemmer.
 * Headers are nested {name, value} documents, so header:NAME: needs no
 * field per header name.
 *
 * Query translation (docs/search.md has the table): a word is a phrase
 * match on the exact fields OR a match on every stemmed sub-field (only
 * for a single non-CJK word: a term the analyzer splits is an exact
 * phrase); a quoted phrase matches the exact fields only; prefix* is a
 * prefix query on the lower-cased exact terms (one word only, else
 * MR_ENOTSUPPORTED as in the built-in index); dates, sizes, flags,
 * mailboxes and has:attachment are range/term filters; AND/OR/NOT are
 * bool queries.  Sort: date desc then id desc, or _score first.
 *
 * Consistency: writes (index, remove) pass refresh=true by default, so a
 * search right after a write sees it (key `refresh`: "true", "wait_for"
 * (waits for the next periodic refresh: up to refresh_interval per write)
 * or "false" (searches may miss writes of the last second)).
 */
#include "search/backend.h"
#include "search/http.h"
#include "search/script.h"

#include <inttypes.h>
#include <pthread.h>
#include <utf8proc.h>

#define ES_MAPPING_VERSION 1
#define ES_PAGE 1000u
#define ES_WINDOW 10000u /* index.max_result_window default: from + size beyond it is refused */

static const char *const text_fields[] = {"from", "to", "cc", "bcc", "subject", "body", "attachment"};
#define NTEXT (sizeof(text_fields) / sizeof(text_fields[0]))

/* ISO 639-1 code -> the Snowball stemmer's name in the analysis-common module. */
static const struct {
	const char *code, *snowball;
} es_langs[] = {
	{"en", "English"}, {"de", "German"},   {"fr", "French"},    {"es", "Spanish"},   {"it", "Italian"},
	{"pt", "Portuguese"}, {"nl", "Dutch"},  {"ru", "Russian"},  {"sv", "Swedish"},   {"no", "Norwegian"},
	{"da", "Danish"},  {"fi", "Finnish"},  {"hu", "Hungarian"}, {"ro", "Romanian"},  {"tr", "Turkish"},
	{"ca", "Catalan"}, {"eu", "Basque"},   {"lt", "Lithuanian"}, {"et", "Estonian"}, {"ga", "Irish"},
	{"hy", "Armenian"},
};
static const char *const default_langs[] = {"en", "de", "fr", "es", "it", "pt", "nl", "ru"};
#define MAX_LANGS (sizeof(es_langs) / sizeof(es_langs[0]))

typedef enum es_refresh { ES_REFRESH_TRUE, ES_REFRESH_WAIT, ES_REFRESH_FALSE } es_refresh;

typedef struct es_inst {
	mr_search_inst base;
	mr_search_http http;
	char *index;
	const char *langs[MAX_LANGS]; /* static strings (es_langs codes) */
	size_t nlangs;
	int64_t shards, replicas;
	es_refresh refresh;
} es_inst;

static es_inst *es_of(mr_search_inst *i) { return mr_container_of(i, es_inst, base); }

static const char *refresh_param(const es_inst *es)
{
	return es->refresh == ES_REFRESH_TRUE ? "true" : es->refresh == ES_REFRESH_WAIT ? "wait_for" : "false";
}

/* ---- JSON building: every helper steals its json_t arguments and returns NULL on OOM ---- */

static json_t *obj1(const char *k, json_t *v)
{
	json_t *o = json_object();
	if (!o || !v || json_object_set_new(o, k, v) < 0) {
		json_decref(o);
		json_decref(v);
		return NULL;
	}
	return o;
}

static json_t *obj2(const char *k1, json_t *v1, const char *k2, json_t *v2)
{
	json_t *o = obj1(k1, v1);
	if (!o || !v2 || json_object_set_new(o, k2, v2) < 0) {
		json_decref(o);
		json_decref(v2);
		return NULL;
	}
	return o;
}

static int arr_add(json_t *a, json_t *v) { return v && json_array_append_new(a, v) == 0 ? 0 : mr_error_oom(); }

/* ---- settings and mapping ---- */

static json_t *text_field_mapping(const es_inst *es)
{
	json_t *sub = json_object();
	for (size_t l = 0; sub && l < es->nlangs; l++) {
		char an[32];
		snprintf(an, sizeof(an), "mr_%s", es->langs[l]);
		if (json_object_set_new(sub, es->langs[l],
					obj2("type", json_string("text"), "analyzer", json_string(an))) < 0) {
			json_decref(sub);
			return NULL;
		}
	}
	json_t *m = obj2("type", json_string("text"), "analyzer", json_string("mr_exact"));
	if (m && es->nlangs && json_object_set_new(m, "fields", sub) < 0) {
		json_decref(m);
		return NULL;
	}
	if (!es->nlangs)
		json_decref(sub);
	return m;
}

static const char *snowball_name(const char *code)
{
	for (size_t i = 0; i < MAX_LANGS; i++)
		if (strcmp(es_langs[i].code, code) == 0)
			return es_langs[i].snowball;
	return NULL;
}

static json_t *langs_json(const es_inst *es)
{
	json_t *a = json_array();
	for (size_t l = 0; a && l < es->nlangs; l++)
		if (arr_add(a, json_string(es->langs[l])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *index_body(const es_inst *es)
{
	json_t *split = json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:b}", "type", "word_delimiter_graph",
				  "split_on_case_change", 0, "split_on_numerics", 0, "stem_english_possessive", 0,
				  "preserve_original", 0, "generate_word_parts", 1, "generate_number_parts", 1);
	json_t *filters = obj1("mr_split", split);
	json_t *analyzers = obj1("mr_exact", json_pack("{s:s, s:s, s:[s,s,s,s]}", "type", "custom", "tokenizer",
						       "standard", "filter", "cjk_width", "lowercase", "cjk_bigram",
						       "mr_split"));
	for (size_t l = 0; filters && analyzers && l < es->nlangs; l++) {
		char fname[32], aname[32];
		snprintf(fname, sizeof(fname), "mr_stem_%s", es->langs[l]);
		snprintf(aname, sizeof(aname), "mr_%s", es->langs[l]);
		if (json_object_set_new(filters, fname,
					json_pack("{s:s, s:s}", "type", "snowball", "language",
						  snowball_name(es->langs[l]))) < 0 ||
		    json_object_set_new(analyzers, aname,
					json_pack("{s:s, s:s, s:[s,s,s,s,s]}", "type", "custom", "tokenizer",
						  "standard", "filter", "cjk_width", "lowercase", "cjk_bigram",
						  "mr_split", fname)) < 0) {
			json_decref(filters);
			filters = NULL;
		}
	}
	json_t *settings = json_pack("{s:I, s:I, s:{s:o, s:o}}", "number_of_shards", (json_int_t)es->shards,
				     "number_of_replicas", (json_int_t)es->replicas, "analysis", "filter", filters,
				     "analyzer", analyzers);
	json_t *props = json_pack("{s:{s:s}, s:{s:s}, s:{s:s, s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, "
				  "s:{s:s, s:{s:{s:s}, s:{s:s, s:s}}}}",
				  "account", "type", "keyword", "id", "type", "long", "date", "type", "date", "format",
				  "epoch_second", "size", "type", "long", "flags", "type", "keyword", "has_attachment",
				  "type", "boolean", "mailboxes", "type", "keyword", "headers", "type", "nested",
				  "properties", "name", "type", "keyword", "value", "type", "text", "analyzer",
				  "mr_exact");
	for (size_t f = 0; props && f < NTEXT; f++)
		if (json_object_set_new(props, text_fields[f], text_field_mapping(es)) < 0) {
			json_decref(props);
			props = NULL;
		}
	json_t *meta = json_pack("{s:i, s:o}", "mailroom_mapping", ES_MAPPING_VERSION, "languages", langs_json(es));
	json_t *mappings = json_pack("{s:s, s:o, s:o}", "dynamic", "strict", "_meta", meta, "properties", props);
	json_t *body = json_pack("{s:o, s:o}", "settings", settings, "mappings", mappings);
	if (!body)
		return (void)mr_error_oom(), NULL;
	return body;
}

/* Checks an existing index's _meta against ours. */
static int check_mapping(es_inst *es)
{
	mr_search_http_resp r;
	char path[300];
	snprintf(path, sizeof(path), "/%s/_mapping", es->index);
	int rc = mr_search__http_call(&es->http, "GET", path, NULL, 0, NULL, &r);
	if (rc < 0)
		return rc;
	if (r.status != 200) {
		rc = mr_search__http_error(MR_EUNAVAILABLE, "GET", path, &r);
		mr_search__http_resp_dispose(&r);
		return rc;
	}
	/* {"<index or its alias target>": {"mappings": {"_meta": ...}}}; ES 6 nests one type level more */
	const char *key;
	json_t *v, *meta = NULL;
	json_object_foreach(r.json, key, v) {
		json_t *m = json_object_get(v, "mappings");
		meta = json_object_get(m, "_meta");
		if (!meta && json_object_size(m) == 1) {
			void *it = json_object_iter(m);
			meta = json_object_get(json_object_iter_value(it), "_meta");
		}
		break;
	}
	json_t *ver = json_object_get(meta, "mailroom_mapping");
	json_t *langs = json_object_get(meta, "languages");
	json_t *want = langs_json(es);
	if (!json_is_integer(ver) || json_integer_value(ver) != ES_MAPPING_VERSION)
		rc = mr_error_set(MR_EINVALID,
				  "index \"%s\" exists but was not created by mailroom's mapping version %d (its "
				  "_meta.mailroom_mapping is %s); use another `index` or reindex",
				  es->index, ES_MAPPING_VERSION, json_is_integer(ver) ? "different" : "missing");
	else if (!want)
		rc = mr_error_oom();
	else if (!json_equal(langs, want))
		rc = mr_error_set(MR_EINVALID,
				  "index \"%s\" was created for other stemming languages than `languages` names; "
				  "use another `index` or reindex",
				  es->index);
	json_decref(want);
	mr_search__http_resp_dispose(&r);
	return rc;
}

/* Creates the index with our settings and mapping unless it exists (es_ensure_index). */
static int es_create_index(void *payload)
{
	es_inst *es = payload;
	char path[300];
	snprintf(path, sizeof(path), "/%s", es->index);
	bool found = false;
	int rc = mr_search__http_exists(&es->http, "HEAD", path, MR_EUNAVAILABLE, &found);
	if (rc < 0 || found)
		return rc < 0 ? rc : check_mapping(es);
	json_t *body = index_body(es);
	if (!body)
		return MR_ENOMEM;
	mr_search_http_resp r;
	rc = mr_search__http_json(&es->http, "PUT", path, body, &r);
	json_decref(body);
	if (rc < 0)
		return rc;
	json_t *err = json_object_get(r.json, "error");
	const char *type = json_string_value(json_object_get(err, "type"));
	bool raced = r.status == 400 && type &&
		     (strcmp(type, "resource_already_exists_exception") == 0 ||
		      strcmp(type, "index_already_exists_exception") == 0);
	if (r.status != 200 && !raced)
		rc = mr_search__http_error(MR_ERROR, "PUT", path, &r),
		mr_error_prefix("creating index \"%s\"", es->index);
	mr_search__http_resp_dispose(&r);
	return rc < 0 || !raced ? rc : check_mapping(es);
}

static int es_ensure_index(es_inst *es) { return mr_search__http_bootstrap(&es->http, es_create_index, es); }

/* ---- open / close ---- */

static int es_open(mr_search_inst **out, const mr_store_config *sc, mr_data *data)
{
	MR_UNUSED(data);
	*out = NULL;
	es_inst *es = mr_calloc(1, sizeof(*es));
	if (!es)
		return MR_ENOMEM;
	int rc;
	const char *index = NULL, *refresh = NULL;
	if ((rc = mr_search__http_configure(&es->http, "elasticsearch", sc,
					    MR_SEARCH_HTTP_URLS | MR_SEARCH_HTTP_BASIC_AUTH)) < 0 ||
	    (rc = mr_store_config_string(sc, "index", "mailroom", &index)) < 0 ||
	    (rc = mr_store_config_string(sc, "refresh", "true", &refresh)) < 0 ||
	    (rc = mr_store_config_int(sc, "shards", 1, 1, 1024, &es->shards)) < 0 ||
	    (rc = mr_store_config_int(sc, "replicas", 0, 0, 16, &es->replicas)) < 0)
		goto fail;
	/* index names: lower case letters, digits, - _ . and no leading - _ . */
	bool ok = *index && strlen(index) < 200 && !strchr("-_+.", index[0]);
	for (const char *p = index; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.';
	if (!ok) {
		rc = mr_error_set(MR_EINVALID,
				  "%s: index \"%s\": an index name is 1-199 characters of a-z 0-9 - _ . not starting "
				  "with - _ or .",
				  mr_store_config_where(sc, "index"), index);
		goto fail;
	}
	if (strcmp(refresh, "true") == 0)
		es->refresh = ES_REFRESH_TRUE;
	else if (strcmp(refresh, "wait_for") == 0)
		es->refresh = ES_REFRESH_WAIT;
	else if (strcmp(refresh, "false") == 0)
		es->refresh = ES_REFRESH_FALSE;
	else {
		rc = mr_error_set(MR_EINVALID, "%s: refresh \"%s\": expected \"true\", \"wait_for\" or \"false\"",
				  mr_store_config_where(sc, "refresh"), refresh);
		goto fail;
	}
	if (mr_store_config_has(sc, "languages")) {
		const char *const *l;
		size_t nl;
		if ((rc = mr_store_config_strings(sc, "languages", &l, &nl)) < 0)
			goto fail;
		for (size_t i = 0; i < nl; i++) {
			size_t k = 0;
			while (k < MAX_LANGS && strcmp(es_langs[k].code, l[i]) != 0)
				k++;
			if (k == MAX_LANGS) {
				rc = mr_error_set(MR_EINVALID,
						  "%s: languages: \"%s\" has no Snowball stemmer here (known: en de fr "
						  "es it pt nl ru sv no da fi hu ro tr ca eu lt et ga hy)",
						  mr_store_config_where(sc, "languages"), l[i]);
				goto fail;
			}
			bool dup = false;
			for (size_t j = 0; j < es->nlangs; j++)
				dup = dup || es->langs[j] == es_langs[k].code;
			if (!dup)
				es->langs[es->nlangs++] = es_langs[k].code;
		}
	} else {
		for (size_t i = 0; i < MR_ARRAY_LEN(default_langs); i++)
			es->langs[es->nlangs++] = default_langs[i];
	}
	if (!(es->index = mr_strdup(index))) {
		rc = MR_ENOMEM;
		goto fail;
	}
	*out = &es->base;
	return 0;
fail:
	mr_search__http_dispose(&es->http);
	mr_free(es->index);
	mr_free(es);
	return rc;
}

static void es_close(mr_search_inst *inst)
{
	es_inst *es = es_of(inst);
	mr_search__http_dispose(&es->http);
	mr_free(es->index);
	mr_free(es);
}

/* ---- indexing ---- */

static const char *const flag_names[MR_FLAG_COUNT_] = {"seen",  "flagged", "answered", "draft",
						       "deleted", "forwarded", "junk"};

static int put_text(json_t *o, const char *key, const char *text)
{
	if (!text)
		return 0;
	json_t *s = mr_search__json_text(text);
	return s && json_object_set_new(o, key, s) == 0 ? 0 : mr_error_oom();
}

static json_t *doc_json(uint64_t account, uint32_t doc_id, const mr_search_doc *d)
{
	char acct[24];
	snprintf(acct, sizeof(acct), "%" PRIu64, account);
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:b}", "account", acct, "id", (json_int_t)doc_id, "date",
			      (json_int_t)d->date, "size", (json_int_t)d->size, "has_attachment", d->has_attachment);
	if (!o)
		return mr_error_oom(), NULL;
	const char *texts[NTEXT] = {d->from, d->to, d->cc, d->bcc, d->subject, d->body, d->attachment};
	int rc = 0;
	for (size_t f = 0; rc == 0 && f < NTEXT; f++)
		rc = put_text(o, text_fields[f], texts[f]);
	json_t *flags = json_array(), *mbx = json_array(), *hdrs = json_array();
	for (int f = 0; rc == 0 && flags && f < MR_FLAG_COUNT_; f++)
		if (d->flags & MR_SEARCH_FLAG(f))
			rc = arr_add(flags, json_string(flag_names[f]));
	for (size_t i = 0; rc == 0 && mbx && i < d->nmailboxes; i++) {
		const char *m = d->mailboxes[i] ? d->mailboxes[i] : "";
		/* INBOX is case-insensitive (RFC 3501); every other name is exact */
		rc = arr_add(mbx, strcasecmp(m, "INBOX") == 0 ? json_string("INBOX") : mr_search__json_text(m));
	}
	for (size_t i = 0; rc == 0 && hdrs && i < d->nheaders; i++) {
		const char *name = d->headers[i].name ? d->headers[i].name : "";
		char lower[256];
		size_t n = strlen(name);
		if (n >= sizeof(lower))
			n = sizeof(lower) - 1;
		for (size_t k = 0; k < n; k++)
			lower[k] = (char)((name[k] >= 'A' && name[k] <= 'Z') ? name[k] + 32 : name[k]);
		lower[n] = '\0';
		json_t *h = obj2("name", mr_search__json_text(lower), "value",
				 mr_search__json_text(d->headers[i].value ? d->headers[i].value : ""));
		rc = arr_add(hdrs, h);
	}
	if (rc == 0 && (!flags || !mbx || !hdrs))
		rc = mr_error_oom();
	if (rc == 0 && (json_object_set_new(o, "flags", flags) < 0 || json_object_set_new(o, "mailboxes", mbx) < 0 ||
			json_object_set_new(o, "headers", hdrs) < 0)) {
		flags = mbx = hdrs = NULL;
		rc = mr_error_oom();
	} else if (rc == 0) {
		flags = mbx = hdrs = NULL;
	}
	json_decref(flags);
	json_decref(mbx);
	json_decref(hdrs);
	if (rc < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Indexes n documents with one _bulk request; the whole request is retried on 429 items. */
static int es_bulk_index(es_inst *es, uint64_t account, size_t n, const uint32_t *ids, const mr_search_doc *docs)
{
	int rc = es_ensure_index(es);
	if (rc < 0)
		return rc;
	mr_buf body = MR_BUF_INIT;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		json_t *d = doc_json(account, ids[i], &docs[i]);
		char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
		json_decref(d);
		if (!text) {
			rc = mr_error_oom();
			break;
		}
		rc = mr_buf_printf(&body, "{\"index\":{\"_index\":\"%s\",\"_id\":\"%" PRIu64 ":%u\",\"routing\":\"%" PRIu64
					  "\"}}\n%s\n",
				   es->index, account, ids[i], account, text);
		free(text);
	}
	char path[64];
	snprintf(path, sizeof(path), "/_bulk?refresh=%s", refresh_param(es));
	for (unsigned attempt = 0; rc == 0; attempt++) {
		mr_search_http_resp r;
		if ((rc = mr_search__http_call(&es->http, "POST", path, (const char *)body.ptr, body.len,
					       "application/x-ndjson", &r)) < 0)
			break;
		if (r.status != 200) {
			rc = mr_search__http_error(r.status == 413 ? MR_ELIMIT : MR_ERROR, "POST", path, &r);
			mr_search__http_resp_dispose(&r);
			break;
		}
		bool retry = false;
		if (json_is_true(json_object_get(r.json, "errors"))) {
			size_t i;
			json_t *item;
			json_array_foreach(json_object_get(r.json, "items"), i, item) {
				json_t *res = json_object_get(item, "index");
				json_int_t st = json_integer_value(json_object_get(res, "status"));
				if (st >= 200 && st < 300)
					continue;
				if (st == 429 && attempt < es->http.max_retries) {
					retry = true;
					break;
				}
				json_t *err = json_object_get(res, "error");
				rc = mr_error_set(st == 429 ? MR_EUNAVAILABLE : st == 400 ? MR_EINVALID : MR_ERROR,
						  "bulk index of document %s: HTTP %d: %s: %s",
						  json_string_value(json_object_get(res, "_id")) ? json_string_value(json_object_get(res, "_id")) : "?",
						  (int)st, json_string_value(json_object_get(err, "type")) ? json_string_value(json_object_get(err, "type")) : "error",
						  json_string_value(json_object_get(err, "reason")) ? json_string_value(json_object_get(err, "reason")) : "no reason given");
				break;
			}
		}
		mr_search__http_resp_dispose(&r);
		if (!retry)
			break;
		mr_sleep_ms(mr_backoff_ms(attempt, 100, 2000));
	}
	mr_buf_dispose(&body);
	return rc;
}

static int es_index(mr_search_inst *inst, uint64_t account, uint32_t doc_id, const mr_search_doc *doc)
{
	return es_bulk_index(es_of(inst), account, 1, &doc_id, doc);
}

#define ES_BULK_DOCS 500

static int es_index_batch(mr_search_inst *inst, uint64_t account, const uint32_t *ids, const mr_search_doc *docs,
			  size_t n)
{
	for (size_t at = 0; at < n; at += ES_BULK_DOCS) {
		int rc = es_bulk_index(es_of(inst), account, n - at < ES_BULK_DOCS ? n - at : ES_BULK_DOCS, ids + at,
				       docs + at);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int es_remove(mr_search_inst *inst, uint64_t account, uint32_t doc_id)
{
	es_inst *es = es_of(inst);
	int rc = es_ensure_index(es);
	if (rc < 0)
		return rc;
	char path[400];
	snprintf(path, sizeof(path), "/%s/_doc/%" PRIu64 ":%u?routing=%" PRIu64 "&refresh=%s", es->index, account,
		 doc_id, account, refresh_param(es));
	mr_search_http_resp r;
	if ((rc = mr_search__http_call(&es->http, "DELETE", path, NULL, 0, NULL, &r)) < 0)
		return rc;
	if (r.status == 404)
		rc = mr_error_set(MR_ENOTFOUND, "document %u of account %" PRIu64 " is not indexed", doc_id, account);
	else if (r.status != 200)
		rc = mr_search__http_error(MR_ERROR, "DELETE", path, &r);
	mr_search__http_resp_dispose(&r);
	return rc;
}

/* ---- query translation ---- */

typedef struct word_info {
	bool one_word; /* only letters, marks and digits: the analyzer keeps it as one token */
	size_t cjk;    /* CJK code points */
	size_t chars;
} word_info;

static word_info inspect(const char *s)
{
	word_info w = {.one_word = *s != '\0'};
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	size_t n = strlen(s), at = 0;
	while (at < n) {
		utf8proc_int32_t c;
		utf8proc_ssize_t l = utf8proc_iterate(p + at, (utf8proc_ssize_t)(n - at), &c);
		if (l <= 0) {
			w.one_word = false;
			at++;
			continue;
		}
		at += (size_t)l;
		w.chars++;
		if (mr_search__is_cjk(c))
			w.cjk++;
		utf8proc_category_t cat = utf8proc_category(c);
		if (!(cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO))
			w.one_word = false;
	}
	return w;
}

/* Lower-cases like the lowercase filter (per code point; cjk_width is not needed for prefixes of words). */
static json_t *lower_json(const char *s)
{
	mr_buf b = MR_BUF_INIT;
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	size_t n = strlen(s), at = 0;
	int rc = 0;
	while (rc == 0 && at < n) {
		utf8proc_int32_t c;
		utf8proc_ssize_t l = utf8proc_iterate(p + at, (utf8proc_ssize_t)(n - at), &c);
		if (l <= 0) {
			c = 0xFFFD;
			l = 1;
		}
		at += (size_t)l;
		utf8proc_uint8_t enc[4];
		utf8proc_ssize_t el = utf8proc_encode_char(utf8proc_tolower(c), enc);
		rc = mr_buf_put(&b, enc, (size_t)el);
	}
	json_t *j = rc < 0 ? NULL : json_stringn_nocheck(mr_buf_cstr(&b), b.len);
	mr_buf_dispose(&b);
	if (!j)
		mr_error_oom();
	return j;
}

static json_t *field_list(const mr_query_node *n, const char *suffix)
{
	json_t *a = json_array();
	for (size_t f = 0; a && f < NTEXT; f++) {
		if (n->field != MR_FIELD_ANY && strcmp(mr_search_field_name(n->field), text_fields[f]) != 0)
			continue;
		char name[48];
		snprintf(name, sizeof(name), "%s%s%s", text_fields[f], suffix ? "." : "", suffix ? suffix : "");
		if (arr_add(a, json_string(name)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* A nested query on headers: `inner` on headers.value, within header `name` (or any header). */
static json_t *header_query(const char *name, json_t *inner)
{
	if (!inner)
		return NULL;
	json_t *b = json_pack("{s:[o]}", "must", inner);
	if (b && name && json_object_set_new(b, "filter", json_pack("{s:{s:s}}", "term", "headers.name", name)) < 0) {
		json_decref(b);
		b = NULL;
	}
	if (!b)
		return NULL;
	return json_pack("{s:{s:s, s:s, s:{s:o}}}", "nested", "path", "headers", "score_mode", "max", "query",
			 "bool", b);
}

static json_t *translate(const es_inst *es, const mr_query_node *n);

static json_t *bool_of(const char *occur, json_t *clauses)
{
	json_t *b = obj1(occur, clauses);
	if (b && strcmp(occur, "should") == 0 && json_object_set_new(b, "minimum_should_match", json_integer(1)) < 0) {
		json_decref(b);
		b = NULL;
	}
	return obj1("bool", b);
}

static json_t *translate_text(const es_inst *es, const mr_query_node *n)
{
	json_t *should = json_array();
	if (!should)
		return mr_error_oom(), NULL;
	int rc = 0;
	bool headers = n->field == MR_FIELD_ANY || n->field == MR_FIELD_HEADER;
	const char *hname = n->field == MR_FIELD_HEADER ? n->header : NULL;
	if (n->kind == MR_Q_PREFIX) {
		word_info w = inspect(n->text);
		if (!w.one_word || (w.cjk && w.chars > 2)) {
			json_decref(should);
			mr_error_set(MR_ENOTSUPPORTED,
				     "column %u: prefix \"%s*\" spans several words; a prefix matches the start of one "
				     "word",
				     n->column, n->text);
			return NULL;
		}
		if (n->field != MR_FIELD_HEADER) {
			json_t *fields = field_list(n, NULL);
			for (size_t i = 0; rc == 0 && fields && i < json_array_size(fields); i++)
				rc = arr_add(should, obj1("prefix", obj1(json_string_value(json_array_get(fields, i)),
									  obj1("value", lower_json(n->text)))));
			if (!fields)
				rc = mr_error_oom();
			json_decref(fields);
		}
		if (rc == 0 && headers)
			rc = arr_add(should, header_query(hname, obj1("prefix", obj1("headers.value",
										      obj1("value", lower_json(n->text))))));
	} else {
		if (n->field != MR_FIELD_HEADER) {
			rc = arr_add(should, obj1("multi_match", json_pack("{s:o, s:s, s:o}", "query",
									   mr_search__json_text(n->text), "type",
									   "phrase", "fields", field_list(n, NULL))));
			word_info w = inspect(n->text);
			/* a single word also matches by its stem in every configured language */
			for (size_t l = 0; rc == 0 && n->kind == MR_Q_TERM && w.one_word && !w.cjk && l < es->nlangs; l++)
				rc = arr_add(should,
					     obj1("multi_match",
						  json_pack("{s:o, s:s, s:s, s:o}", "query", mr_search__json_text(n->text),
							    "type", "best_fields", "operator", "and", "fields",
							    field_list(n, es->langs[l]))));
		}
		if (rc == 0 && headers)
			rc = arr_add(should,
				     header_query(hname, obj1("match_phrase", obj1("headers.value",
										   mr_search__json_text(n->text)))));
	}
	if (rc < 0) {
		json_decref(should);
		return NULL;
	}
	return bool_of("should", should);
}

static json_t *range(const char *field, const char *op1, int64_t v1, const char *op2, int64_t v2, bool date)
{
	json_t *r = json_object();
	if (r && json_object_set_new(r, op1, json_integer(v1)) < 0)
		goto oom;
	if (r && op2 && json_object_set_new(r, op2, json_integer(v2)) < 0)
		goto oom;
	if (r && date && json_object_set_new(r, "format", json_string("epoch_second")) < 0)
		goto oom;
	return obj1("range", obj1(field, r));
oom:
	json_decref(r);
	return mr_error_oom(), NULL;
}

static json_t *translate(const es_inst *es, const mr_query_node *n)
{
	json_t *r = NULL;
	switch (n->kind) {
	case MR_Q_ALL:
		r = obj1("match_all", json_object());
		break;
	case MR_Q_TERM:
	case MR_Q_PHRASE:
	case MR_Q_PREFIX:
		return translate_text(es, n);
	case MR_Q_DATE:
		r = n->cmp == MR_CMP_BEFORE  ? range("date", "lt", n->value, NULL, 0, true)
		    : n->cmp == MR_CMP_AFTER ? range("date", "gte", n->value, NULL, 0, true)
					     : range("date", "gte", n->value, "lt", n->value + 86400, true);
		return r;
	case MR_Q_SIZE:
		return n->cmp == MR_CMP_LARGER ? range("size", "gt", n->value, NULL, 0, false)
					       : range("size", "lt", n->value, NULL, 0, false);
	case MR_Q_HAS_ATTACHMENT:
		r = json_pack("{s:{s:b}}", "term", "has_attachment", 1);
		break;
	case MR_Q_IN:
		r = obj1("term", obj1("mailboxes", strcasecmp(n->text, "INBOX") == 0 ? json_string("INBOX")
										: mr_search__json_text(n->text)));
		break;
	case MR_Q_IS:
		r = json_pack("{s:{s:s}}", "term", "flags", flag_names[n->flag]);
		break;
	case MR_Q_NOT: {
		json_t *c = translate(es, n->children[0]);
		return c ? bool_of("must_not", json_pack("[o]", c)) : NULL;
	}
	case MR_Q_AND:
	case MR_Q_OR: {
		json_t *pos = json_array(), *neg = json_array();
		int rc = pos && neg ? 0 : mr_error_oom();
		for (size_t i = 0; rc == 0 && i < n->nchildren; i++) {
			const mr_query_node *c = n->children[i];
			bool negate = n->kind == MR_Q_AND && c->kind == MR_Q_NOT;
			json_t *t = translate(es, negate ? c->children[0] : c);
			rc = t ? arr_add(negate ? neg : pos, t) : mr_error_last()->code;
		}
		if (rc < 0) {
			json_decref(pos);
			json_decref(neg);
			return NULL;
		}
		json_t *b = json_object();
		if (b && json_array_size(pos))
			rc = json_object_set(b, n->kind == MR_Q_AND ? "must" : "should", pos);
		if (b && rc == 0 && json_array_size(neg))
			rc = json_object_set(b, "must_not", neg);
		if (b && rc == 0 && n->kind == MR_Q_OR)
			rc = json_object_set_new(b, "minimum_should_match", json_integer(1));
		json_decref(pos);
		json_decref(neg);
		if (!b || rc < 0) {
			json_decref(b);
			return mr_error_oom(), NULL;
		}
		return obj1("bool", b);
	}
	}
	if (!r)
		mr_error_oom();
	return r;
}

/* ---- search ---- */

static json_t *sort_spec(mr_search_order order)
{
	json_t *s = json_pack("[{s:s}, {s:s}]", "date", "desc", "id", "desc");
	if (s && order == MR_SEARCH_ORDER_RELEVANCE && json_array_insert_new(s, 0, json_string("_score")) < 0) {
		json_decref(s);
		s = NULL;
	}
	return s;
}

static uint64_t hits_total(json_t *hits)
{
	json_t *t = json_object_get(hits, "total");
	if (json_is_object(t)) /* ES 7+, OpenSearch: {"value": n, "relation": "eq"} */
		t = json_object_get(t, "value");
	return json_is_integer(t) ? (uint64_t)json_integer_value(t) : 0; /* ES 6: a number */
}

static int es_query(mr_search_inst *inst, uint64_t account, const mr_query_node *root, const mr_search_opts *opts,
		    mr_search_result *out)
{
	es_inst *es = es_of(inst);
	int rc = es_ensure_index(es);
	if (rc < 0)
		return rc;
	json_t *q = translate(es, root);
	if (!q)
		return mr_error_last()->code;
	char acct[24];
	snprintf(acct, sizeof(acct), "%" PRIu64, account);
	json_t *top = json_pack("{s:{s:{s:[{s:{s:s}}], s:[o]}}}", "query", "bool", "filter", "term", "account", acct,
				"must", q);
	if (!top)
		return mr_error_oom();
	bool relevance = opts->order == MR_SEARCH_ORDER_RELEVANCE;
	if (json_object_set_new(top, "sort", sort_spec(opts->order)) < 0 ||
	    json_object_set_new(top, "_source", json_false()) < 0 ||
	    json_object_set_new(top, "track_total_hits", json_true()) < 0 ||
	    (relevance && json_object_set_new(top, "track_scores", json_true()) < 0)) {
		json_decref(top);
		return mr_error_oom();
	}
	char path[300];
	snprintf(path, sizeof(path), "/%s/_search?routing=%" PRIu64, es->index, account);
	size_t want = opts->limit ? opts->limit : SIZE_MAX;
	size_t skip = opts->offset, cap = 0;
	bool first = true;
	json_t *after = NULL;
	while (rc == 0 && out->count < want) {
		size_t page = want - out->count < ES_PAGE ? want - out->count : ES_PAGE;
		json_object_del(top, "from");
		json_object_del(top, "search_after");
		if (first && skip + page <= ES_WINDOW) {
			/* the first page starts at the offset; later pages continue after the last hit */
			rc = json_object_set_new(top, "from", json_integer((json_int_t)skip));
			skip = 0;
		} else if (first && skip > 0) {
			page = ES_PAGE; /* a deep offset: page through it */
		}
		if (rc == 0 && after)
			rc = json_object_set(top, "search_after", after);
		if (rc == 0)
			rc = json_object_set_new(top, "size", json_integer((json_int_t)page));
		if (rc < 0) {
			rc = mr_error_oom();
			break;
		}
		mr_search_http_resp r;
		if ((rc = mr_search__http_json(&es->http, "POST", path, top, &r)) < 0)
			break;
		if (r.status != 200) {
			rc = mr_search__http_error(r.status == 400 ? MR_EINVALID : MR_ERROR, "POST", path, &r);
			mr_search__http_resp_dispose(&r);
			break;
		}
		json_t *hits = json_object_get(r.json, "hits");
		if (first)
			out->total = hits_total(hits);
		first = false;
		json_t *arr = json_object_get(hits, "hits");
		size_t nh = json_array_size(arr);
		for (size_t i = 0; rc == 0 && i < nh; i++) {
			json_t *h = json_array_get(arr, i);
			json_t *sortv = json_object_get(h, "sort");
			if (i + 1 == nh) {
				json_decref(after);
				after = json_incref(sortv);
			}
			if (skip > 0) {
				skip--;
				continue;
			}
			if (out->count >= want)
				break;
			json_t *idv = json_array_get(sortv, json_array_size(sortv) - 1);
			if (!json_is_integer(idv)) {
				rc = mr_error_set(MR_ECORRUPT, "POST %s: a hit without its id in \"sort\"", path);
				break;
			}
			if (out->count == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				uint32_t *ids = mr_realloc(out->ids, ncap * sizeof(*ids));
				if (!ids) {
					rc = MR_ENOMEM;
					break;
				}
				out->ids = ids;
				if (relevance) {
					double *sc = mr_realloc(out->scores, ncap * sizeof(*sc));
					if (!sc) {
						rc = MR_ENOMEM;
						break;
					}
					out->scores = sc;
				}
				cap = ncap;
			}
			out->ids[out->count] = (uint32_t)json_integer_value(idv);
			if (relevance)
				out->scores[out->count] = json_number_value(json_object_get(h, "_score"));
			out->count++;
		}
		mr_search__http_resp_dispose(&r);
		if (nh < page)
			break;
	}
	json_decref(after);
	json_decref(top);
	if (rc == 0 && relevance && !out->scores) {
		if (!(out->scores = mr_calloc(1, sizeof(double))))
			rc = MR_ENOMEM;
	}
	return rc;
}

/* ---- statistics ---- */

static int es_stats(mr_search_inst *inst, uint64_t *bytes, uint64_t *docs)
{
	es_inst *es = es_of(inst);
	int rc = es_ensure_index(es);
	if (rc < 0)
		return rc;
	char path[300];
	mr_search_http_resp r;
	/* _count counts top-level documents (nested header documents are not emails) */
	snprintf(path, sizeof(path), "/%s/_count", es->index);
	if ((rc = mr_search__http_call(&es->http, "GET", path, NULL, 0, NULL, &r)) < 0)
		return rc;
	if (r.status != 200) {
		rc = mr_search__http_error(MR_ERROR, "GET", path, &r);
		mr_search__http_resp_dispose(&r);
		return rc;
	}
	*docs = (uint64_t)json_integer_value(json_object_get(r.json, "count"));
	mr_search__http_resp_dispose(&r);
	snprintf(path, sizeof(path), "/%s/_stats/store,docs", es->index);
	if ((rc = mr_search__http_call(&es->http, "GET", path, NULL, 0, NULL, &r)) < 0)
		return rc;
	if (r.status != 200) {
		rc = mr_search__http_error(MR_ERROR, "GET", path, &r);
		mr_search__http_resp_dispose(&r);
		return rc;
	}
	/*
	 * Lucene keeps deleted documents in its segments until a merge drops
	 * them, so the store size alone does not shrink when mail is removed:
	 * report it scaled by the share of live (Lucene) documents.
	 */
	json_t *prim = json_object_get(json_object_get(r.json, "_all"), "primaries");
	double size = (double)json_integer_value(json_object_get(json_object_get(prim, "store"), "size_in_bytes"));
	double live = (double)json_integer_value(json_object_get(json_object_get(prim, "docs"), "count"));
	double dead = (double)json_integer_value(json_object_get(json_object_get(prim, "docs"), "deleted"));
	*bytes = (uint64_t)(live + dead > 0 ? size * live / (live + dead) : size);
	mr_search__http_resp_dispose(&r);
	return 0;
}

const mr_search_backend mr_search__elasticsearch = {
	.version = MR_SEARCH_BACKEND_VERSION,
	.name = "elasticsearch",
	.caps = MR_SEARCH_CAP_RELEVANCE | MR_SEARCH_CAP_PHRASE | MR_SEARCH_CAP_STEMMING,
	.open = es_open,
	.close = es_close,
	.index = es_index,
	.remove = es_remove,
	.query = es_query,
	.stats = es_stats,
	.index_batch = es_index_batch,
};
