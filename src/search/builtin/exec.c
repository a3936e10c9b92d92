/*
 * exec.c — the query side of the built-in index: evaluates the AST into
 * roaring bitmaps (posting bitmaps plus their not-yet-merged deltas),
 * checks phrases against token streams, applies metadata filters, and
 * orders by date or BM25.  Layout in fts.h; writes in index.c.
 */
#include "search/builtin/fts.h"

#include <math.h>

static bool meta_in_mailbox(const meta *m, const char *name)
{
	size_t n = strlen(name), at = 0;
	bool inbox = strcasecmp(name, "INBOX") == 0;
	for (uint16_t i = 0; i < m->nmbx; i++) {
		if (at + 2 > m->mbxlen)
			return false;
		size_t l = (size_t)get_be(m->mbx + at, 2);
		at += 2;
		if (at + l > m->mbxlen)
			return false;
		const char *s = (const char *)m->mbx + at;
		if (l == n && (inbox ? strncasecmp(s, name, n) == 0 : memcmp(s, name, n) == 0))
			return true;
		at += l;
	}
	return false;
}

/* ---- query evaluation ---- */

typedef struct qstate {
	builtin *b;
	uint64_t account;
	/* account metadata, loaded on first need, sorted by id */
	meta *metas;
	size_t nmetas;
	mr_buf metabytes; /* values the metas point into */
	bool metas_loaded;
	roaring_bitmap_t *universe;
	char (*langs)[8];
	size_t nlangs;
} qstate;

static int load_metas(qstate *q)
{
	if (q->metas_loaded)
		return 0;
	/* drop a partial set from load_metas_of */
	mr_free(q->metas);
	q->metas = NULL;
	q->nmetas = 0;
	mr_buf_clear(&q->metabytes);
	mr_key k;
	key_account(&k, q->account, 'D');
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(&k), end, sizeof(end));
	mr_iter *it = NULL;
	int rc = mr_data_scan(q->b->data, &r, &it);
	if (rc < 0)
		return rc;
	mr_slice key, val;
	size_t cap = 0;
	size_t *offs = NULL, *lens = NULL;
	uint32_t *ids = NULL;
	size_t n = 0;
	while ((rc = mr_iter_next(it, &key, &val)) == 1) {
		if (key.len < 4) {
			rc = MR_ECORRUPT;
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			size_t *o = mr_realloc(offs, cap * sizeof(*o));
			size_t *l = o ? mr_realloc(lens, cap * sizeof(*l)) : NULL;
			uint32_t *d = l ? mr_realloc(ids, cap * sizeof(*d)) : NULL;
			if (o)
				offs = o;
			if (l)
				lens = l;
			if (d)
				ids = d;
			if (!o || !l || !d) {
				rc = MR_ENOMEM;
				break;
			}
		}
		offs[n] = q->metabytes.len;
		lens[n] = val.len;
		ids[n] = (uint32_t)get_be(key.ptr + key.len - 4, 4);
		n++;
		if ((rc = mr_buf_put(&q->metabytes, val.ptr, val.len)) < 0)
			break;
	}
	mr_iter_free(it);
	if (rc == 0) {
		q->universe = roaring_bitmap_create();
		q->metas = mr_calloc(n ? n : 1, sizeof(*q->metas));
		if (!q->universe || !q->metas)
			rc = MR_ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = parse_meta(mr_slice_of(q->metabytes.ptr + offs[i], lens[i]), ids[i], &q->metas[i]);
		roaring_bitmap_add(q->universe, ids[i]);
	}
	q->nmetas = n;
	mr_free(offs);
	mr_free(lens);
	mr_free(ids);
	if (rc == 0)
		q->metas_loaded = true;
	return rc;
}

/*
 * Metadata of just the documents in r, by point reads: cheaper than
 * load_metas' scan of the whole account when the result is small.
 */
#define POINT_READ_MAX 512
static int load_metas_of(qstate *q, const roaring_bitmap_t *r)
{
	size_t n = (size_t)roaring_bitmap_get_cardinality(r);
	uint32_t *ids = mr_malloc((n ? n : 1) * sizeof(*ids));
	size_t *offs = mr_malloc((n ? n : 1) * sizeof(*offs));
	size_t *lens = mr_malloc((n ? n : 1) * sizeof(*lens));
	q->metas = mr_calloc(n ? n : 1, sizeof(*q->metas));
	mr_buf v = MR_BUF_INIT;
	int rc = ids && offs && lens && q->metas ? 0 : MR_ENOMEM;
	if (rc == 0)
		roaring_bitmap_to_uint32_array(r, ids);
	size_t m = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		mr_key k;
		key_doc(&k, q->account, 'D', ids[i]);
		rc = mr_data_get(q->b->data, mr_key_slice(&k), &v);
		if (rc == MR_ENOTFOUND) { /* removed since the postings were read */
			mr_error_clear();
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		ids[m] = ids[i];
		offs[m] = q->metabytes.len;
		lens[m] = v.len;
		m++;
		rc = mr_buf_put(&q->metabytes, v.ptr, v.len);
	}
	for (size_t i = 0; rc == 0 && i < m; i++)
		rc = parse_meta(mr_slice_of(q->metabytes.ptr + offs[i], lens[i]), ids[i], &q->metas[i]);
	q->nmetas = rc == 0 ? m : 0;
	mr_buf_dispose(&v);
	mr_free(ids);
	mr_free(offs);
	mr_free(lens);
	return rc;
}

static const meta *find_meta(const qstate *q, uint32_t id)
{
	size_t lo = 0, hi = q->nmetas;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (q->metas[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < q->nmetas && q->metas[lo].id == id ? &q->metas[lo] : NULL;
}

static int load_langs(qstate *q)
{
	mr_key k;
	key_account(&k, q->account, 'L');
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(&k), end, sizeof(end));
	r.flags = MR_SCAN_KEYS_ONLY;
	mr_iter *it = NULL;
	int rc = mr_data_scan(q->b->data, &r, &it);
	if (rc < 0)
		return rc;
	mr_slice key, val;
	mr_buf lang = MR_BUF_INIT;
	while ((rc = mr_iter_next(it, &key, &val)) == 1) {
		mr_key_reader kr;
		mr_key_reader_init(&kr, mr_slice_of(key.ptr + k.len, key.len - k.len));
		if ((rc = mr_key_read_bytes(&kr, &lang)) < 0)
			break;
		if (lang.len >= 8)
			continue;
		char(*v)[8] = mr_realloc(q->langs, (q->nlangs + 1) * sizeof(*v));
		if (!v) {
			rc = MR_ENOMEM;
			break;
		}
		q->langs = v;
		memcpy(q->langs[q->nlangs], lang.ptr, lang.len);
		q->langs[q->nlangs][lang.len] = '\0';
		q->nlangs++;
	}
	mr_buf_dispose(&lang);
	mr_iter_free(it);
	return rc < 0 ? rc : 0;
}

/* ORs the doc ids of the deltas (tag 'P', keys and group values) starting with prefix k into acc. */
static int or_deltas(qstate *q, const mr_key *k, roaring_bitmap_t *acc)
{
	if (k->err)
		return 0;
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(k), end, sizeof(end));
	mr_iter *it = NULL;
	int rc = mr_data_scan(q->b->data, &r, &it);
	if (rc < 0)
		return rc;
	mr_slice key, val;
	while ((rc = mr_iter_next(it, &key, &val)) == 1) {
		if (key.len < k->len + 4)
			continue;
		delta_iter di;
		delta_iter_init(&di, key, val);
		uint32_t doc = 0;
		while ((rc = delta_next(&di, &doc)) == 1)
			roaring_bitmap_add(acc, doc);
		if (rc < 0)
			break;
	}
	mr_iter_free(it);
	return rc < 0 ? rc : 0;
}

/* ORs the postings of term key k (its bitmap and its deltas) into acc. */
static int or_posting(qstate *q, const mr_key *k, roaring_bitmap_t *acc)
{
	if (k->err)
		return 0;
	mr_buf v = MR_BUF_INIT;
	int rc = mr_data_get(q->b->data, mr_key_slice(k), &v);
	if (rc == MR_ENOTFOUND) {
		mr_error_clear();
		rc = 0;
	} else if (rc == 0) {
		roaring_bitmap_t *bm = decode_bitmap(mr_buf_slice(&v));
		if (!bm) {
			rc = MR_ECORRUPT;
		} else {
			roaring_bitmap_or_inplace(acc, bm);
			roaring_bitmap_free(bm);
		}
	}
	mr_buf_dispose(&v);
	if (rc == 0) {
		mr_key dk;
		key_delta_prefix(&dk, mr_key_slice(k));
		rc = or_deltas(q, &dk, acc);
	}
	return rc;
}

/* ORs the postings of every term starting with the raw prefix key k. */
static int or_prefix(qstate *q, const mr_key *k, roaring_bitmap_t *acc)
{
	if (k->err)
		return 0;
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(k), end, sizeof(end));
	mr_iter *it = NULL;
	int rc = mr_data_scan(q->b->data, &r, &it);
	if (rc < 0)
		return rc;
	mr_slice key, val;
	while ((rc = mr_iter_next(it, &key, &val)) == 1) {
		roaring_bitmap_t *bm = decode_bitmap(val);
		if (!bm) {
			rc = MR_ECORRUPT;
			break;
		}
		roaring_bitmap_or_inplace(acc, bm);
		roaring_bitmap_free(bm);
	}
	mr_iter_free(it);
	if (rc < 0)
		return rc;
	mr_key dk;
	key_delta_prefix(&dk, mr_key_slice(k));
	return or_deltas(q, &dk, acc);
}

/* The fields a node searches. */
static size_t node_fields(const mr_query_node *n, mr_search_field *out)
{
	if (n->field == MR_FIELD_ANY) {
		memcpy(out, main_fields, sizeof(main_fields));
		return NMAIN;
	}
	out[0] = n->field;
	return 1;
}

typedef struct qtokens {
	mr_buf text; /* NUL-separated tokens */
	size_t *off;
	uint32_t *pos;
	bool *cjk;
	size_t n, cap;
} qtokens;

static int qtok_add(const mr_token *t, void *payload)
{
	qtokens *qt = payload;
	if (qt->n == qt->cap) {
		size_t cap = qt->cap ? qt->cap * 2 : 8;
		size_t *o = mr_realloc(qt->off, cap * sizeof(*o));
		if (!o)
			return MR_ENOMEM;
		qt->off = o;
		uint32_t *p = mr_realloc(qt->pos, cap * sizeof(*p));
		if (!p)
			return MR_ENOMEM;
		qt->pos = p;
		bool *c = mr_realloc(qt->cjk, cap * sizeof(*c));
		if (!c)
			return MR_ENOMEM;
		qt->cjk = c;
		qt->cap = cap;
	}
	qt->off[qt->n] = qt->text.len;
	qt->pos[qt->n] = t->pos;
	qt->cjk[qt->n] = t->cjk;
	qt->n++;
	int rc = mr_buf_put(&qt->text, t->text, t->len);
	return rc ? rc : mr_buf_put(&qt->text, "", 1);
}

static const char *qtok_at(const qtokens *qt, size_t i) { return (const char *)qt->text.ptr + qt->off[i]; }

static void qtok_dispose(qtokens *qt)
{
	mr_buf_dispose(&qt->text);
	mr_free(qt->off);
	mr_free(qt->pos);
	mr_free(qt->cjk);
}

static int tokenize_query(qstate *q, const char *text, qtokens *qt)
{
	memset(qt, 0, sizeof(*qt));
	uint32_t pos = 0;
	return mr_analyzer_tokenize(q->b->an, text, strlen(text), &pos, qtok_add, qt);
}

/* A single CJK character also matches the bigrams it starts. */
static bool single_cjk(const qtokens *qt, size_t i)
{
	if (!qt->cjk[i])
		return false;
	const unsigned char *s = (const unsigned char *)qtok_at(qt, i);
	size_t len = strlen((const char *)s), k = 1;
	while (k < len && (s[k] & 0xC0) == 0x80)
		k++;
	return k == len;
}

/* Does the token stream hold the query tokens at the same relative positions? */
static int stream_has_phrase(mr_slice stream, const qtokens *qt)
{
	/* Decode the stream once into (pos, token) pairs. */
	stream_iter it = {.p = stream.ptr, .len = stream.len, .first = true};
	mr_slice tok = MR_SLICE_EMPTY;
	uint32_t pos = 0;
	int rc;
	size_t n = 0, cap = 0;
	mr_slice *toks = NULL;
	uint32_t *poss = NULL;
	while ((rc = stream_next(&it, &tok, &pos)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			mr_slice *t2 = mr_realloc(toks, cap * sizeof(*t2));
			uint32_t *p2 = t2 ? mr_realloc(poss, cap * sizeof(*p2)) : NULL;
			if (t2)
				toks = t2;
			if (!p2) {
				rc = MR_ENOMEM;
				break;
			}
			poss = p2;
		}
		toks[n] = tok;
		poss[n] = pos;
		n++;
	}
	int found = 0;
	if (rc == 0) {
		for (size_t s = 0; s < n && !found; s++) {
			if (!mr_slice_eq(toks[s], mr_slice_str(qtok_at(qt, 0))))
				continue;
			/* positions are increasing: walk forward for each following token */
			size_t at = s;
			bool ok = true;
			for (size_t k = 1; k < qt->n && ok; k++) {
				uint32_t want = poss[s] + (qt->pos[k] - qt->pos[0]);
				while (at < n && poss[at] < want)
					at++;
				ok = at < n && poss[at] == want && mr_slice_eq(toks[at], mr_slice_str(qtok_at(qt, k)));
			}
			found = ok;
		}
	}
	mr_free(toks);
	mr_free(poss);
	return rc < 0 ? rc : found;
}

static int eval_phrase_tokens(qstate *q, const mr_query_node *n, const qtokens *qt, roaring_bitmap_t *out)
{
	mr_search_field fields[NMAIN];
	size_t nf = node_fields(n, fields);
	int rc = 0;
	mr_key k;
	for (size_t fi = 0; rc == 0 && fi < nf; fi++) {
		roaring_bitmap_t *cand = NULL;
		for (size_t i = 0; rc == 0 && i < qt->n; i++) {
			roaring_bitmap_t *bm = roaring_bitmap_create();
			if (!bm)
				return mr_error_oom();
			key_term(&k, q->account, fields[fi], n->header, KIND_EXACT, NULL, qtok_at(qt, i),
				 strlen(qtok_at(qt, i)), false);
			rc = or_posting(q, &k, bm);
			if (rc == 0 && qt->n == 1 && single_cjk(qt, i)) {
				key_term(&k, q->account, fields[fi], n->header, KIND_EXACT, NULL, qtok_at(qt, i),
					 strlen(qtok_at(qt, i)), true);
				rc = or_prefix(q, &k, bm);
			}
			if (!cand) {
				cand = bm;
			} else {
				roaring_bitmap_and_inplace(cand, bm);
				roaring_bitmap_free(bm);
			}
		}
		if (rc == 0 && cand && qt->n > 1 && !roaring_bitmap_is_empty(cand)) {
			/* verify adjacency in each candidate's stream of this field */
			uint32_t *ids = mr_malloc(roaring_bitmap_get_cardinality(cand) * sizeof(*ids) + 1);
			if (!ids)
				rc = MR_ENOMEM;
			size_t nc = ids ? (size_t)roaring_bitmap_get_cardinality(cand) : 0;
			if (ids)
				roaring_bitmap_to_uint32_array(cand, ids);
			mr_buf v = MR_BUF_INIT;
			for (size_t c = 0; rc == 0 && c < nc; c++) {
				mr_key sk;
				key_doc(&sk, q->account, 'S', ids[c]);
				mr_key_u8(&sk, (uint8_t)fields[fi]);
				if (fields[fi] == MR_FIELD_HEADER)
					mr_key_str(&sk, n->header);
				rc = mr_data_get(q->b->data, mr_key_slice(&sk), &v);
				if (rc == MR_ENOTFOUND) {
					mr_error_clear();
					rc = 0;
					roaring_bitmap_remove(cand, ids[c]);
					continue;
				}
				if (rc < 0)
					break;
				rc = stream_has_phrase(mr_buf_slice(&v), qt);
				if (rc == 0)
					roaring_bitmap_remove(cand, ids[c]);
				if (rc > 0)
					rc = 0;
			}
			mr_buf_dispose(&v);
			mr_free(ids);
		}
		if (rc == 0 && cand)
			roaring_bitmap_or_inplace(out, cand);
		if (cand)
			roaring_bitmap_free(cand);
	}
	return rc;
}

static roaring_bitmap_t *universe_copy(qstate *q)
{
	if (load_metas(q) < 0)
		return NULL;
	roaring_bitmap_t *r = roaring_bitmap_copy(q->universe);
	if (!r)
		mr_error_oom();
	return r;
}

static roaring_bitmap_t *eval(qstate *q, const mr_query_node *n);

static roaring_bitmap_t *eval_text(qstate *q, const mr_query_node *n)
{
	qtokens qt;
	int rc = tokenize_query(q, n->text, &qt);
	roaring_bitmap_t *out = NULL;
	if (rc < 0)
		goto done;
	if (qt.n == 0) {
		/* nothing indexable in the term (punctuation only): it constrains nothing */
		out = universe_copy(q);
		goto done;
	}
	if (!(out = roaring_bitmap_create())) {
		rc = mr_error_oom();
		goto done;
	}
	if (n->kind == MR_Q_PREFIX) {
		if (qt.n > 1) {
			rc = mr_error_set(MR_ENOTSUPPORTED,
					  "column %u: prefix \"%s*\" spans several words; the built-in index "
					  "matches a prefix of one word",
					  n->column, n->text);
			goto done;
		}
		mr_search_field fields[NMAIN];
		size_t nf = node_fields(n, fields);
		for (size_t fi = 0; rc == 0 && fi < nf; fi++) {
			mr_key k;
			key_term(&k, q->account, fields[fi], n->header, KIND_EXACT, NULL, qtok_at(&qt, 0),
				 strlen(qtok_at(&qt, 0)), true);
			rc = or_prefix(q, &k, out);
		}
		goto done;
	}
	if (n->kind == MR_Q_PHRASE || qt.n > 1) {
		rc = eval_phrase_tokens(q, n, &qt, out);
		goto done;
	}
	/* one word: exact form, and its stem in every language of the account */
	rc = eval_phrase_tokens(q, n, &qt, out);
	if (rc == 0 && n->field != MR_FIELD_HEADER && !qt.cjk[0]) {
		mr_search_field fields[NMAIN];
		size_t nf = node_fields(n, fields);
		mr_buf st = MR_BUF_INIT;
		for (size_t l = 0; rc == 0 && l < q->nlangs; l++) {
			int s = mr_analyzer_stem(q->b->an, q->langs[l], qtok_at(&qt, 0), strlen(qtok_at(&qt, 0)), &st);
			if (s < 0) {
				rc = s;
				break;
			}
			if (s == 0)
				continue;
			for (size_t fi = 0; rc == 0 && fi < nf; fi++) {
				mr_key k;
				key_term(&k, q->account, fields[fi], NULL, KIND_STEM, q->langs[l], mr_buf_cstr(&st), st.len,
					 false);
				rc = or_posting(q, &k, out);
			}
		}
		mr_buf_dispose(&st);
	}
done:
	qtok_dispose(&qt);
	if (rc < 0 && out) {
		roaring_bitmap_free(out);
		out = NULL;
	}
	return out;
}

static bool meta_matches(const mr_query_node *n, const meta *m)
{
	switch (n->kind) {
	case MR_Q_DATE:
		return n->cmp == MR_CMP_BEFORE  ? m->date < n->value
		       : n->cmp == MR_CMP_AFTER ? m->date >= n->value
						: m->date >= n->value && m->date < n->value + 86400;
	case MR_Q_SIZE:
		return n->cmp == MR_CMP_LARGER ? m->size > n->value : m->size < n->value;
	case MR_Q_HAS_ATTACHMENT:
		return m->att;
	case MR_Q_IN:
		return meta_in_mailbox(m, n->text);
	case MR_Q_IS:
		return (m->flags & MR_SEARCH_FLAG(n->flag)) != 0;
	default:
		return false;
	}
}

static roaring_bitmap_t *eval(qstate *q, const mr_query_node *n)
{
	roaring_bitmap_t *r = NULL;
	switch (n->kind) {
	case MR_Q_ALL:
		return universe_copy(q);
	case MR_Q_TERM:
	case MR_Q_PHRASE:
	case MR_Q_PREFIX:
		return eval_text(q, n);
	case MR_Q_NOT: {
		roaring_bitmap_t *c = eval(q, n->children[0]);
		if (!c)
			return NULL;
		r = universe_copy(q);
		if (r)
			roaring_bitmap_andnot_inplace(r, c);
		roaring_bitmap_free(c);
		return r;
	}
	case MR_Q_AND: {
		/* positive children intersect; NOT children subtract without building the complement */
		for (size_t i = 0; i < n->nchildren; i++) {
			const mr_query_node *c = n->children[i];
			if (c->kind == MR_Q_NOT)
				continue;
			roaring_bitmap_t *x = eval(q, c);
			if (!x)
				goto fail;
			if (!r) {
				r = x;
			} else {
				roaring_bitmap_and_inplace(r, x);
				roaring_bitmap_free(x);
			}
		}
		if (!r && !(r = universe_copy(q)))
			return NULL;
		for (size_t i = 0; i < n->nchildren; i++) {
			const mr_query_node *c = n->children[i];
			if (c->kind != MR_Q_NOT)
				continue;
			roaring_bitmap_t *x = eval(q, c->children[0]);
			if (!x)
				goto fail;
			roaring_bitmap_andnot_inplace(r, x);
			roaring_bitmap_free(x);
		}
		return r;
	}
	case MR_Q_OR:
		if (!(r = roaring_bitmap_create()))
			return mr_error_oom(), NULL;
		for (size_t i = 0; i < n->nchildren; i++) {
			roaring_bitmap_t *x = eval(q, n->children[i]);
			if (!x)
				goto fail;
			roaring_bitmap_or_inplace(r, x);
			roaring_bitmap_free(x);
		}
		return r;
	case MR_Q_DATE:
	case MR_Q_SIZE:
	case MR_Q_HAS_ATTACHMENT:
	case MR_Q_IN:
	case MR_Q_IS:
		if (load_metas(q) < 0)
			return NULL;
		if (!(r = roaring_bitmap_create()))
			return mr_error_oom(), NULL;
		for (size_t i = 0; i < q->nmetas; i++)
			if (meta_matches(n, &q->metas[i]))
				roaring_bitmap_add(r, q->metas[i].id);
		return r;
	}
	mr_error_set(MR_EINVALID, "column %u: unknown query node kind %d", n->column, (int)n->kind);
	return NULL;
fail:
	if (r)
		roaring_bitmap_free(r);
	return NULL;
}

/* ---- ordering ---- */

typedef struct scored {
	uint32_t id;
	int64_t date;
	double score;
} scored;

static int cmp_date(const void *a, const void *b)
{
	const scored *x = a, *y = b;
	if (x->date != y->date)
		return x->date > y->date ? -1 : 1;
	return x->id > y->id ? -1 : x->id < y->id ? 1 : 0;
}

static int cmp_score(const void *a, const void *b)
{
	const scored *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return cmp_date(a, b);
}

/* Positive text leaves (not under NOT) for BM25, with their document frequency. */
typedef struct leaf {
	const mr_query_node *node;
	qtokens qt;
	double idf;
	char (*stems)[MR_ANALYZER_MAX_TOKEN + 1]; /* per account language */
} leaf;

static int collect_leaves(qstate *q, const mr_query_node *n, leaf **v, size_t *nv, double ndocs)
{
	if (n->kind == MR_Q_NOT)
		return 0;
	if (n->kind == MR_Q_AND || n->kind == MR_Q_OR) {
		for (size_t i = 0; i < n->nchildren; i++) {
			int rc = collect_leaves(q, n->children[i], v, nv, ndocs);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (n->kind != MR_Q_TERM && n->kind != MR_Q_PHRASE && n->kind != MR_Q_PREFIX)
		return 0;
	leaf *nvp = mr_realloc(*v, (*nv + 1) * sizeof(**v));
	if (!nvp)
		return MR_ENOMEM;
	*v = nvp;
	leaf *l = &(*v)[*nv];
	memset(l, 0, sizeof(*l));
	l->node = n;
	(*nv)++;
	int rc = tokenize_query(q, n->text, &l->qt);
	if (rc < 0)
		return rc;
	roaring_bitmap_t *bm = eval_text(q, n);
	if (!bm)
		return mr_error_last()->code;
	double df = (double)roaring_bitmap_get_cardinality(bm);
	roaring_bitmap_free(bm);
	l->idf = log(1.0 + (ndocs - df + 0.5) / (df + 0.5));
	if (l->qt.n && n->kind == MR_Q_TERM && q->nlangs) {
		l->stems = mr_calloc(q->nlangs, sizeof(*l->stems));
		if (!l->stems)
			return MR_ENOMEM;
		mr_buf st = MR_BUF_INIT;
		for (size_t i = 0; rc == 0 && i < q->nlangs; i++) {
			rc = mr_analyzer_stem(q->b->an, q->langs[i], qtok_at(&l->qt, 0), strlen(qtok_at(&l->qt, 0)), &st);
			if (rc >= 0 && st.len <= MR_ANALYZER_MAX_TOKEN)
				memcpy(l->stems[i], mr_buf_cstr(&st), st.len + 1);
			rc = rc < 0 ? rc : 0;
		}
		mr_buf_dispose(&st);
	}
	return rc;
}

/* Term frequency of a leaf in one document (all the leaf's fields). */
static int leaf_tf(qstate *q, const leaf *l, uint32_t doc, const char *lang, double *tf)
{
	*tf = 0;
	if (l->qt.n == 0)
		return 0;
	mr_search_field fields[NMAIN];
	size_t nf = node_fields(l->node, fields);
	const char *first = qtok_at(&l->qt, 0);
	size_t flen = strlen(first);
	const char *stem = NULL;
	for (size_t i = 0; l->stems && i < q->nlangs; i++)
		if (strcmp(q->langs[i], lang) == 0)
			stem = l->stems[i];
	mr_buf v = MR_BUF_INIT, st = MR_BUF_INIT;
	int rc = 0;
	for (size_t fi = 0; rc == 0 && fi < nf; fi++) {
		mr_key sk;
		key_doc(&sk, q->account, 'S', doc);
		mr_key_u8(&sk, (uint8_t)fields[fi]);
		if (fields[fi] == MR_FIELD_HEADER)
			mr_key_str(&sk, l->node->header);
		rc = mr_data_get(q->b->data, mr_key_slice(&sk), &v);
		if (rc == MR_ENOTFOUND) {
			mr_error_clear();
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		stream_iter it = {.p = v.ptr, .len = v.len, .first = true};
		mr_slice tok = MR_SLICE_EMPTY;
		uint32_t pos = 0;
		while ((rc = stream_next(&it, &tok, &pos)) == 1) {
			bool hit;
			if (l->node->kind == MR_Q_PREFIX)
				hit = tok.len >= flen && memcmp(tok.ptr, first, flen) == 0;
			else
				hit = tok.len == flen && memcmp(tok.ptr, first, flen) == 0;
			if (!hit && stem && *stem) {
				char w[MR_ANALYZER_MAX_TOKEN + 1];
				size_t wl = tok.len < MR_ANALYZER_MAX_TOKEN ? tok.len : MR_ANALYZER_MAX_TOKEN;
				memcpy(w, tok.ptr, wl);
				w[wl] = '\0';
				if ((rc = mr_analyzer_stem(q->b->an, lang, w, wl, &st)) < 0)
					break;
				hit = strcmp(mr_buf_cstr(&st), stem) == 0;
			}
			if (hit)
				*tf += 1;
		}
		rc = rc < 0 ? rc : 0;
	}
	mr_buf_dispose(&v);
	mr_buf_dispose(&st);
	return rc;
}

static int get_counter(qstate *q, uint64_t account, uint8_t which, int64_t *out)
{
	mr_key k;
	key_counter(&k, account, which);
	return mr_data_get_counter(q->b->data, mr_key_slice(&k), out);
}

static int score_bm25(qstate *q, const mr_query_node *root, scored *v, size_t n)
{
	int64_t ndocs = 0, ntoks = 0;
	int rc = get_counter(q, q->account, CNT_DOCS, &ndocs);
	if (rc == 0)
		rc = get_counter(q, q->account, CNT_TOKENS, &ntoks);
	if (rc < 0)
		return rc;
	double N = ndocs > 0 ? (double)ndocs : 1.0;
	double avgdl = ntoks > 0 ? (double)ntoks / N : 1.0;
	leaf *leaves = NULL;
	size_t nl = 0;
	rc = collect_leaves(q, root, &leaves, &nl, N);
	const double k1 = 1.2, bb = 0.75;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const meta *m = find_meta(q, v[i].id);
		double dl = m ? (double)m->ntok : avgdl;
		double s = 0;
		for (size_t j = 0; rc == 0 && j < nl; j++) {
			double tf;
			rc = leaf_tf(q, &leaves[j], v[i].id, m ? m->lang : "", &tf);
			if (tf > 0)
				s += leaves[j].idf * tf * (k1 + 1) / (tf + k1 * (1 - bb + bb * dl / avgdl));
		}
		v[i].score = s;
	}
	for (size_t j = 0; j < nl; j++) {
		qtok_dispose(&leaves[j].qt);
		mr_free(leaves[j].stems);
	}
	mr_free(leaves);
	return rc;
}

int mr_fts__query(builtin *b, uint64_t account, const mr_query_node *root, const mr_search_opts *opts,
		  mr_search_result *out)
{
	qstate q = {.b = b, .account = account};
	roaring_bitmap_t *r = NULL;
	scored *v = NULL;
	int rc = load_langs(&q);
	if (rc < 0)
		goto done;
	if (!(r = eval(&q, root))) {
		rc = mr_error_last()->code ? mr_error_last()->code : MR_ERROR;
		goto done;
	}
	uint64_t total = roaring_bitmap_get_cardinality(r);
	out->total = total;
	if (!q.metas_loaded && total <= POINT_READ_MAX)
		rc = load_metas_of(&q, r);
	else
		rc = load_metas(&q);
	if (rc < 0)
		goto done;
	v = mr_calloc(total ? total : 1, sizeof(*v));
	if (!v) {
		rc = MR_ENOMEM;
		goto done;
	}
	roaring_uint32_iterator_t *it = roaring_create_iterator(r);
	size_t n = 0;
	for (; it && it->has_value && n < total; roaring_advance_uint32_iterator(it)) {
		const meta *m = find_meta(&q, it->current_value);
		v[n].id = it->current_value;
		v[n].date = m ? m->date : 0;
		n++;
	}
	if (it)
		roaring_free_uint32_iterator(it);
	if (opts->order == MR_SEARCH_ORDER_RELEVANCE) {
		if ((rc = score_bm25(&q, root, v, n)) < 0)
			goto done;
		qsort(v, n, sizeof(*v), cmp_score);
	} else {
		qsort(v, n, sizeof(*v), cmp_date);
	}
	size_t start = opts->offset < n ? opts->offset : n;
	size_t count = n - start;
	if (opts->limit && count > opts->limit)
		count = opts->limit;
	out->ids = mr_malloc((count ? count : 1) * sizeof(*out->ids));
	if (!out->ids) {
		rc = MR_ENOMEM;
		goto done;
	}
	if (opts->order == MR_SEARCH_ORDER_RELEVANCE) {
		out->scores = mr_malloc((count ? count : 1) * sizeof(*out->scores));
		if (!out->scores) {
			rc = MR_ENOMEM;
			goto done;
		}
	}
	for (size_t i = 0; i < count; i++) {
		out->ids[i] = v[start + i].id;
		if (out->scores)
			out->scores[i] = v[start + i].score;
	}
	out->count = count;
done:
	if (r)
		roaring_bitmap_free(r);
	if (q.universe)
		roaring_bitmap_free(q.universe);
	mr_free(q.metas);
	mr_buf_dispose(&q.metabytes);
	mr_free(q.langs);
	mr_free(v);
	return rc;
}

int mr_fts__stats(builtin *b, uint64_t *bytes, uint64_t *docs)
{
	qstate q = {.b = b};
	int64_t by = 0, dc = 0;
	int rc = get_counter(&q, GLOBAL_ACCOUNT, CNT_BYTES, &by);
	if (rc == 0)
		rc = get_counter(&q, GLOBAL_ACCOUNT, CNT_ALLDOCS, &dc);
	*bytes = by > 0 ? (uint64_t)by : 0;
	*docs = dc > 0 ? (uint64_t)dc : 0;
	return rc;
}
