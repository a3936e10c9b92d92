/*
 * search.c — the search store front (search.h): opens the backend a store
 * names, checks arguments, prefixes errors with the store and backend, and
 * hands parsed queries to the backend.  The query language is query.c's;
 * indexing and execution are the backends' (builtin/index.c, ...).
 */
#include "search/backend.h"

struct mr_search {
	mr_search_inst *inst;
	const mr_search_backend *backend;
	mr_data *owned_data; /* opened by us (closed on close), or NULL */
	char *store_id;
};

static int check_version(const mr_search_backend *b)
{
	if (b->version < 1 || b->version > MR_SEARCH_BACKEND_VERSION)
		return mr_error_set(MR_EINVALID, "search backend \"%s\": vtable version %d not supported (1..%d)",
				    b->name, b->version, MR_SEARCH_BACKEND_VERSION);
	return 0;
}

static int open_with(mr_search **out, const mr_search_backend *b, const mr_store_config *sc, mr_data *data,
		     mr_data *owned, const char *id)
{
	int rc = check_version(b);
	mr_search *s = NULL;
	if (rc < 0)
		goto fail;
	if (!(s = mr_calloc(1, sizeof(*s)))) {
		rc = MR_ENOMEM;
		goto fail;
	}
	s->backend = b;
	s->owned_data = owned;
	if (!(s->store_id = mr_strdup(id ? id : b->name))) {
		rc = MR_ENOMEM;
		goto fail;
	}
	if ((rc = b->open(&s->inst, sc, data)) < 0) {
		mr_error_prefix("search store \"%s\" (%s)", s->store_id, b->name);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s) {
		mr_free(s->store_id);
		mr_free(s);
	}
	if (owned)
		mr_data_close(owned);
	return rc;
}

int mr_search_open_builtin(mr_search **out, mr_data *data)
{
	*out = NULL;
	if (!data)
		return mr_error_set(MR_EINVALID, "search: the built-in index needs an open data store");
	return open_with(out, &mr_search__builtin, NULL, data, NULL, mr_data_store_id(data));
}

int mr_search_open(mr_search **out, const mr_config *cfg, const char *store_id, mr_data *data)
{
	*out = NULL;
	if (!store_id)
		store_id = mr_config_role(cfg, "fts");
	if (!store_id)
		return mr_error_set(MR_ENOTFOUND, "search: [storage] fts names no store");
	const mr_store_config *sc = mr_config_store(cfg, store_id);
	if (!sc)
		return mr_error_set(MR_ENOTFOUND, "search: no store \"%s\" ([store.\"%s\"] is missing)", store_id,
				    store_id);
	const mr_search_backend *b = mr_search__backend_find(mr_store_config_type(sc));
	if (!b)
		return mr_error_prefix("search store \"%s\"", store_id);
	mr_data *owned = NULL;
	if (b == &mr_search__builtin && (!data || strcmp(mr_data_store_id(data), store_id) != 0)) {
		int rc = mr_data_open(&owned, cfg, store_id);
		if (rc < 0)
			return mr_error_prefix("search store \"%s\"", store_id);
		data = owned;
	}
	return open_with(out, b, sc, data, owned, store_id);
}

void mr_search_close(mr_search *s)
{
	if (!s)
		return;
	s->backend->close(s->inst);
	if (s->owned_data)
		mr_data_close(s->owned_data);
	mr_free(s->store_id);
	mr_free(s);
}

const char *mr_search_backend_name(const mr_search *s) { return s->backend->name; }

bool mr_search_stems(const mr_search *s) { return (s->backend->caps & MR_SEARCH_CAP_STEMMING) != 0; }

int mr_search_index(mr_search *s, uint64_t account, uint32_t doc_id, const mr_search_doc *doc)
{
	if (!doc)
		return mr_error_set(MR_EINVALID, "search index: account %llu doc %u: no document",
				    (unsigned long long)account, doc_id);
	int rc = s->backend->index(s->inst, account, doc_id, doc);
	if (rc < 0)
		mr_error_prefix("search store \"%s\" (%s): index account %llu doc %u", s->store_id, s->backend->name,
				(unsigned long long)account, doc_id);
	return rc;
}

int mr_search_index_batch(mr_search *s, uint64_t account, const uint32_t *ids, const mr_search_doc *docs, size_t n)
{
	if (n > 0 && (!ids || !docs))
		return mr_error_set(MR_EINVALID, "search index batch: account %llu: no documents",
				    (unsigned long long)account);
	if (n == 0)
		return 0;
	if (s->backend->version >= 2 && s->backend->index_batch) {
		int rc = s->backend->index_batch(s->inst, account, ids, docs, n);
		if (rc < 0)
			mr_error_prefix("search store \"%s\" (%s): index batch of %zu, account %llu", s->store_id,
					s->backend->name, n, (unsigned long long)account);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = mr_search_index(s, account, ids[i], &docs[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int mr_search_remove(mr_search *s, uint64_t account, uint32_t doc_id)
{
	int rc = s->backend->remove(s->inst, account, doc_id);
	if (rc < 0)
		mr_error_prefix("search store \"%s\" (%s): remove account %llu doc %u", s->store_id, s->backend->name,
				(unsigned long long)account, doc_id);
	return rc;
}

int mr_search_query(mr_search *s, uint64_t account, const mr_query *q, const mr_search_opts *opts,
		    mr_search_result *out)
{
	memset(out, 0, sizeof(*out));
	mr_search_opts def = {0};
	if (!opts)
		opts = &def;
	if (opts->order == MR_SEARCH_ORDER_RELEVANCE && !(s->backend->caps & MR_SEARCH_CAP_RELEVANCE))
		return mr_error_set(MR_ENOTSUPPORTED, "search store \"%s\" (%s): relevance order not supported",
				    s->store_id, s->backend->name);
	int rc = s->backend->query(s->inst, account, mr_query_root(q), opts, out);
	if (rc < 0) {
		mr_search_result_dispose(out);
		mr_error_prefix("search store \"%s\" (%s): query", s->store_id, s->backend->name);
	}
	return rc;
}

void mr_search_result_dispose(mr_search_result *r)
{
	if (!r)
		return;
	mr_free(r->ids);
	mr_free(r->scores);
	memset(r, 0, sizeof(*r));
}

int mr_search_stats(mr_search *s, uint64_t *bytes, uint64_t *docs)
{
	*bytes = 0;
	*docs = 0;
	if (!s->backend->stats)
		return mr_error_set(MR_ENOTSUPPORTED, "search store \"%s\" (%s): no statistics", s->store_id,
				    s->backend->name);
	int rc = s->backend->stats(s->inst, bytes, docs);
	if (rc < 0)
		mr_error_prefix("search store \"%s\" (%s): stats", s->store_id, s->backend->name);
	return rc;
}

int mr_search_next_account(mr_search *s, uint64_t from, uint64_t *out)
{
	if (s->backend->version < 3 || !s->backend->next_account)
		return mr_error_set(MR_ENOTSUPPORTED, "search store \"%s\" (%s): cannot list accounts", s->store_id,
				    s->backend->name);
	int rc = s->backend->next_account(s->inst, from, out);
	if (rc < 0 && rc != MR_ENOTFOUND)
		mr_error_prefix("search store \"%s\" (%s): list accounts", s->store_id, s->backend->name);
	return rc;
}

int mr_search_optimize(mr_search *s, uint64_t account)
{
	if (!s->backend->optimize)
		return 0;
	int rc = s->backend->optimize(s->inst, account);
	if (rc < 0)
		mr_error_prefix("search store \"%s\" (%s): optimize account %llu", s->store_id, s->backend->name,
				(unsigned long long)account);
	return rc;
}
