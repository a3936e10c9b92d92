/*
 * index.c — the write side of the built-in full-text index (the "builtin"
 * search backend): analyzes documents, writes and removes their postings,
 * token streams and metadata in the data store (layout in fts.h), merges
 * posting deltas into roaring bitmaps, and exports the backend vtable.
 * Queries are exec.c's; what a term is, analyzer.c's.
 *
 * Concurrency: indexing a document (or a batch of them) is one data-store
 * batch.  New postings are blind writes of delta keys, one per term for
 * the documents of the batch that gained it, so concurrent indexers never
 * conflict on common words.  Removing a posting (re-index, delete) and
 * compaction (deltas -> bitmap) read, then assert what they read: a
 * conflict returns MR_ECONFLICT and mr_data_retry re-runs the step.  The
 * document's metadata is asserted too, so two writers of one document
 * serialize.  No posting is lost; a document is never half indexed.
 *
 * Invariant that makes the blind write safe: each (term, doc) posting is
 * in exactly one place, the term's bitmap or one delta, and a delta keyed
 * by d (P(term, d)) always contains d and only docs > d.  A batch writes
 * P(term, d) only for the smallest d of the docs gaining the term, which
 * did not have it (their old token streams, read under their asserted
 * metadata, lack it), so no delta keyed by d exists and none is
 * overwritten.  Removal keeps it: a doc leaves the one delta holding it
 * (scanned among the term's deltas keyed <= doc, asserted as read), which
 * is kept under its key while its key doc stays (still the smallest),
 * re-keyed under the smallest doc left when the key doc leaves (that key
 * does not exist, as its doc's posting is in this group; asserted absent),
 * or cleared when empty; else the doc leaves the bitmap.  Compaction moves
 * a whole delta (value asserted) into the bitmap in one batch.  A batch
 * takes out all its docs that lose one term in one step, so two removals
 * of one batch never rewrite the same group or bitmap from stale reads.
 */
#include "search/builtin/fts.h"

/* ---- a sorted set of byte strings (term keys) ---- */

typedef struct strset {
	mr_buf bytes;
	size_t *off, *len;
	size_t n, cap;
	uint32_t *slots; /* strset_add_unique's hash table: index + 1, 0 = empty */
	size_t nslots;	 /* a power of two, or 0 */
} strset;

static int strset_add(strset *s, const void *p, size_t n)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		size_t *o = mr_realloc(s->off, cap * sizeof(*o));
		if (!o)
			return MR_ENOMEM;
		s->off = o;
		size_t *l = mr_realloc(s->len, cap * sizeof(*l));
		if (!l)
			return MR_ENOMEM;
		s->len = l;
		s->cap = cap;
	}
	s->off[s->n] = s->bytes.len;
	s->len[s->n] = n;
	s->n++;
	return mr_buf_put(&s->bytes, p, n);
}

static mr_slice strset_at(const strset *s, size_t i) { return mr_slice_of(s->bytes.ptr + s->off[i], s->len[i]); }

static uint64_t strset_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

/* Adds p unless the set (built only with this function) holds it already:
 * 1 added, 0 present, < 0 an error.  A document repeats most of its words,
 * so this keeps the set (and the stemming of new words) to distinct ones. */
static int strset_add_unique(strset *s, const void *p, size_t n)
{
	if ((s->n + 1) * 2 > s->nslots) {
		size_t ns = s->nslots ? s->nslots * 2 : 256;
		uint32_t *v = mr_calloc(ns, sizeof(*v));
		if (!v)
			return MR_ENOMEM;
		for (size_t i = 0; i < s->n; i++) {
			size_t h = (size_t)strset_hash(s->bytes.ptr + s->off[i], s->len[i]) & (ns - 1);
			while (v[h])
				h = (h + 1) & (ns - 1);
			v[h] = (uint32_t)i + 1;
		}
		mr_free(s->slots);
		s->slots = v;
		s->nslots = ns;
	}
	size_t h = (size_t)strset_hash(p, n) & (s->nslots - 1);
	for (; s->slots[h]; h = (h + 1) & (s->nslots - 1)) {
		size_t i = s->slots[h] - 1;
		if (s->len[i] == n && memcmp(s->bytes.ptr + s->off[i], p, n) == 0)
			return 0;
	}
	int rc = strset_add(s, p, n);
	if (rc == 0)
		s->slots[h] = (uint32_t)s->n;
	return rc < 0 ? rc : 1;
}

static int strset_cmp(const void *a, const void *b, void *ctx)
{
	const strset *s = ctx;
	return mr_slice_cmp(strset_at(s, *(const size_t *)a), strset_at(s, *(const size_t *)b));
}

/* Sorts and removes duplicates (rebuilding off/len in order). */
static int strset_sort(strset *s)
{
	if (s->n == 0)
		return 0;
	size_t *idx = mr_malloc(s->n * sizeof(*idx));
	size_t *o = mr_malloc(s->n * sizeof(*o));
	size_t *l = mr_malloc(s->n * sizeof(*l));
	if (!idx || !o || !l) {
		mr_free(idx);
		mr_free(o);
		mr_free(l);
		return MR_ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++)
		idx[i] = i;
	qsort_r(idx, s->n, sizeof(*idx), strset_cmp, s);
	size_t m = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (m && mr_slice_eq(mr_slice_of(s->bytes.ptr + o[m - 1], l[m - 1]), strset_at(s, idx[i])))
			continue;
		o[m] = s->off[idx[i]];
		l[m] = s->len[idx[i]];
		m++;
	}
	mr_free(s->off);
	mr_free(s->len);
	mr_free(idx);
	mr_free(s->slots); /* positions changed */
	s->slots = NULL;
	s->nslots = 0;
	s->off = o;
	s->len = l;
	s->n = m;
	return 0;
}

static void strset_dispose(strset *s)
{
	mr_free(s->slots);
	mr_buf_dispose(&s->bytes);
	mr_free(s->off);
	mr_free(s->len);
	memset(s, 0, sizeof(*s));
}

/* ---- document analysis ---- */

typedef struct fieldstream {
	mr_search_field field;
	const char *hname; /* lower-cased header name (owned by the analyzed doc) */
	mr_buf stream;
	uint32_t ntok;
	uint32_t last_pos;
} fieldstream;

typedef struct analyzed {
	fieldstream *fields;
	size_t nfields;
	char lang[8];
	char **hnames;
	size_t nhnames;
	uint32_t ntok;
	mr_buf meta;
} analyzed;

static void analyzed_dispose(analyzed *a)
{
	for (size_t i = 0; i < a->nfields; i++)
		mr_buf_dispose(&a->fields[i].stream);
	mr_free(a->fields);
	for (size_t i = 0; i < a->nhnames; i++)
		mr_free(a->hnames[i]);
	mr_free(a->hnames);
	mr_buf_dispose(&a->meta);
	memset(a, 0, sizeof(*a));
}

static int stream_token(const mr_token *t, void *payload)
{
	fieldstream *fs = payload;
	uint32_t delta = fs->ntok ? t->pos - fs->last_pos : t->pos;
	int rc = put_varint(&fs->stream, delta);
	if (rc == 0)
		rc = put_varint(&fs->stream, t->len);
	if (rc == 0)
		rc = mr_buf_put(&fs->stream, t->text, t->len);
	fs->last_pos = t->pos;
	fs->ntok++;
	return rc;
}

static int analyze_field(builtin *b, analyzed *a, mr_search_field f, const char *hname, const char *text)
{
	if (!text || !*text)
		return 0;
	fieldstream *fs = NULL;
	for (size_t i = 0; i < a->nfields; i++)
		if (a->fields[i].field == f && (f != MR_FIELD_HEADER || strcmp(a->fields[i].hname, hname) == 0))
			fs = &a->fields[i];
	if (!fs) {
		fieldstream *v = mr_realloc(a->fields, (a->nfields + 1) * sizeof(*v));
		if (!v)
			return MR_ENOMEM;
		a->fields = v;
		fs = &a->fields[a->nfields++];
		memset(fs, 0, sizeof(*fs));
		fs->field = f;
		fs->hname = hname;
	}
	/* Values of one field are separated by a position gap so phrases do not span them. */
	uint32_t pos = fs->ntok ? fs->last_pos + 100 : 0;
	uint32_t before = fs->ntok;
	int rc = mr_analyzer_tokenize(b->an, text, strlen(text), &pos, stream_token, fs);
	a->ntok += fs->ntok - before;
	return rc;
}

static int build_meta(analyzed *a, const mr_search_doc *doc)
{
	mr_buf *m = &a->meta;
	int rc = mr_buf_put(m, (uint8_t[]){META_VERSION}, 1);
	if (rc == 0)
		rc = put_be(m, (uint64_t)doc->date, 8);
	if (rc == 0)
		rc = put_be(m, (uint64_t)doc->size, 8);
	if (rc == 0)
		rc = put_be(m, doc->flags, 4);
	if (rc == 0)
		rc = mr_buf_put(m, (uint8_t[]){doc->has_attachment ? 1 : 0}, 1);
	if (rc == 0)
		rc = put_be(m, a->ntok, 4);
	size_t ll = strlen(a->lang);
	if (rc == 0)
		rc = mr_buf_put(m, (uint8_t[]){(uint8_t)ll}, 1);
	if (rc == 0)
		rc = mr_buf_put(m, a->lang, ll);
	size_t nm = doc->nmailboxes > 0xFFFF ? 0xFFFF : doc->nmailboxes;
	if (rc == 0)
		rc = put_be(m, nm, 2);
	for (size_t i = 0; rc == 0 && i < nm; i++) {
		const char *name = doc->mailboxes[i] ? doc->mailboxes[i] : "";
		size_t n = strlen(name);
		if (n > 0xFFFF)
			n = 0xFFFF;
		rc = put_be(m, n, 2);
		if (rc == 0)
			rc = mr_buf_put(m, name, n);
	}
	return rc;
}

static int analyze_doc(builtin *b, const mr_search_doc *doc, analyzed *a)
{
	memset(a, 0, sizeof(*a));
	const char *lang = doc->language;
	if (!lang || !*lang) {
		const char *sample = doc->body && *doc->body ? doc->body : doc->subject ? doc->subject : "";
		lang = mr_analyzer_detect(b->an, sample, strlen(sample));
	}
	snprintf(a->lang, sizeof(a->lang), "%s", lang);
	const char *texts[NMAIN] = {doc->from, doc->to, doc->cc, doc->bcc, doc->subject, doc->body, doc->attachment};
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < NMAIN; i++)
		rc = analyze_field(b, a, main_fields[i], NULL, texts[i]);
	if (rc == 0 && doc->nheaders) {
		a->hnames = mr_calloc(doc->nheaders, sizeof(*a->hnames));
		if (!a->hnames)
			rc = MR_ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < doc->nheaders; i++) {
		const char *name = doc->headers[i].name ? doc->headers[i].name : "";
		char *h = mr_strdup(name);
		if (!h) {
			rc = MR_ENOMEM;
			break;
		}
		for (char *c = h; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		a->hnames[a->nhnames++] = h;
		if (*h)
			rc = analyze_field(b, a, MR_FIELD_HEADER, h, doc->headers[i].value);
	}
	if (rc == 0)
		rc = build_meta(a, doc);
	if (rc < 0)
		analyzed_dispose(a);
	return rc;
}

/* Adds the posting keys of one field stream (exact, and stems for main fields) to set. */
static int add_stream_terms(builtin *b, strset *set, uint64_t account, mr_search_field f, const char *hname,
			    const char *lang, mr_slice stream)
{
	stream_iter it = {.p = stream.ptr, .len = stream.len, .first = true};
	mr_slice tok = MR_SLICE_EMPTY;
	uint32_t pos = 0;
	int rc;
	mr_buf st = MR_BUF_INIT, word = MR_BUF_INIT;
	bool stem = f != MR_FIELD_HEADER && lang && *lang && mr_analyzer_has_stemmer(b->an, lang);
	mr_key k;
	while ((rc = stream_next(&it, &tok, &pos)) == 1) {
		key_term(&k, account, f, hname, KIND_EXACT, NULL, (const char *)tok.ptr, tok.len, false);
		if (k.err) {
			rc = 0;
			continue; /* too long for a key: not indexed */
		}
		if ((rc = strset_add_unique(set, k.buf, k.len)) < 0)
			break;
		if (!stem || rc == 0)
			continue; /* a word seen before in this field: its stem is in too */
		if ((rc = mr_buf_set(&word, tok.ptr, tok.len)) < 0 ||
		    (rc = mr_analyzer_stem(b->an, lang, mr_buf_cstr(&word), word.len, &st)) < 0)
			break;
		key_term(&k, account, f, hname, KIND_STEM, lang, mr_buf_cstr(&st), st.len, false);
		if (!k.err && (rc = strset_add_unique(set, k.buf, k.len)) < 0)
			break;
	}
	mr_buf_dispose(&st);
	mr_buf_dispose(&word);
	return rc < 0 ? rc : 0;
}

/* ---- indexing transaction ---- */

typedef struct txn {
	builtin *b;
	uint64_t account;
	uint32_t doc;
	const analyzed *next; /* NULL: remove */
	int64_t old_stream_bytes;
} txn;

/* Gathers the old document: its metadata value, S keys and posting keys. */
static int load_old(txn *t, mr_buf *old_meta, bool *found, strset *old_terms, strset *old_skeys)
{
	mr_key k;
	key_doc(&k, t->account, 'D', t->doc);
	int rc = mr_data_get(t->b->data, mr_key_slice(&k), old_meta);
	if (rc == MR_ENOTFOUND) {
		*found = false;
		mr_error_clear();
		return 0;
	}
	if (rc < 0)
		return rc;
	*found = true;
	meta m;
	if ((rc = parse_meta(mr_buf_slice(old_meta), t->doc, &m)) < 0)
		return rc;
	key_doc(&k, t->account, 'S', t->doc);
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(&k), end, sizeof(end));
	mr_iter *it = NULL;
	if ((rc = mr_data_scan(t->b->data, &r, &it)) < 0)
		return rc;
	mr_slice key, val;
	mr_buf hname = MR_BUF_INIT;
	while ((rc = mr_iter_next(it, &key, &val)) == 1) {
		mr_key_reader kr;
		mr_key_reader_init(&kr, key);
		uint8_t sub, tag, f;
		uint64_t acct;
		uint32_t doc;
		if (mr_key_read_u8(&kr, &sub) < 0 || mr_key_read_u64(&kr, &acct) < 0 || mr_key_read_u8(&kr, &tag) < 0 ||
		    mr_key_read_u32(&kr, &doc) < 0 || mr_key_read_u8(&kr, &f) < 0) {
			rc = MR_ECORRUPT;
			break;
		}
		mr_buf_clear(&hname);
		if (f == MR_FIELD_HEADER && (rc = mr_key_read_bytes(&kr, &hname)) < 0)
			break;
		if ((rc = strset_add(old_skeys, key.ptr, key.len)) < 0)
			break;
		t->old_stream_bytes += (int64_t)(key.len + val.len);
		if ((rc = add_stream_terms(t->b, old_terms, t->account, (mr_search_field)f, mr_buf_cstr(&hname), m.lang,
					   val)) < 0)
			break;
	}
	mr_buf_dispose(&hname);
	mr_iter_free(it);
	if (rc < 0)
		return rc;
	return strset_sort(old_terms);
}

/* ---- posting changes of a batch, grouped by term ---- */

typedef struct change {
	size_t off, len; /* the term key ('T') in changes.bytes */
	uint32_t doc;
	bool add;
} change;

typedef struct changes {
	mr_buf bytes;
	change *v;
	size_t n, cap;
} changes;

static int changes_add(changes *c, mr_slice tkey, uint32_t doc, bool add)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		change *v = mr_realloc(c->v, cap * sizeof(*v));
		if (!v)
			return MR_ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = (change){.off = c->bytes.len, .len = tkey.len, .doc = doc, .add = add};
	return mr_buf_put(&c->bytes, tkey.ptr, tkey.len);
}

static mr_slice change_term(const changes *c, size_t i) { return mr_slice_of(c->bytes.ptr + c->v[i].off, c->v[i].len); }

/* Term, then removals before additions, then doc. */
static int change_cmp(const void *a, const void *b, void *ctx)
{
	const changes *c = ctx;
	const change *x = a, *y = b;
	int r = mr_slice_cmp(mr_slice_of(c->bytes.ptr + x->off, x->len), mr_slice_of(c->bytes.ptr + y->off, y->len));
	if (r)
		return r;
	if (x->add != y->add)
		return x->add ? 1 : -1;
	return x->doc < y->doc ? -1 : x->doc > y->doc;
}

static void changes_dispose(changes *c)
{
	mr_buf_dispose(&c->bytes);
	mr_free(c->v);
	memset(c, 0, sizeof(*c));
}

typedef struct u32vec {
	uint32_t *v;
	size_t n, cap;
} u32vec;

static int u32vec_push(u32vec *a, uint32_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		uint32_t *v = mr_realloc(a->v, cap * sizeof(*v));
		if (!v)
			return MR_ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

/* The index of x in the ascending v[0..n), or n. */
static size_t u32_find(const uint32_t *v, size_t n, uint32_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo] == x ? lo : n;
}

/*
 * Takes the documents rm[0..nrm) (ascending) out of the postings of tkey.
 * Each is in one delta keyed by a doc <= itself or in the bitmap.  A delta
 * holding some of them is asserted as read and rewritten without them:
 * kept under its key while its key doc stays, re-keyed under the smallest
 * doc left when its key doc goes (that key cannot exist: its doc's posting
 * is in this group; asserted absent all the same), cleared when empty.
 * The rest come out of the bitmap (rewritten with its old value asserted).
 * The assertions make a concurrent compaction or remover conflict.
 */
static int remove_postings(builtin *b, mr_batch *batch, mr_slice tkey, const uint32_t *rm, size_t nrm,
			   int64_t *bytes_delta)
{
	mr_buf old = MR_BUF_INIT, nv = MR_BUF_INIT;
	roaring_bitmap_t *bm = NULL;
	char *ser = NULL;
	mr_iter *it = NULL;
	u32vec g = {0}, keep = {0};
	bool *found = mr_calloc(nrm, sizeof(*found));
	size_t nfound = 0;
	int rc = found ? 0 : MR_ENOMEM;
	mr_key pk, ek;
	key_delta_prefix(&pk, tkey);
	key_delta(&ek, tkey, rm[nrm - 1]);
	if (rc == 0 && !pk.err && !ek.err) {
		/* the deltas that can hold them: keyed by a doc <= the largest */
		mr_range r = {.begin = mr_key_slice(&pk), .end = mr_key_slice(&ek), .end_inclusive = true};
		rc = mr_data_scan(b->data, &r, &it);
		mr_slice key, val;
		while (rc == 0 && nfound < nrm && (rc = mr_iter_next(it, &key, &val)) == 1) {
			rc = 0;
			if (key.len != pk.len + 4)
				continue; /* another term's key */
			delta_iter di;
			delta_iter_init(&di, key, val);
			g.n = keep.n = 0;
			uint32_t doc = 0;
			bool hit = false;
			while (rc == 0 && (rc = delta_next(&di, &doc)) == 1) {
				rc = u32vec_push(&g, doc);
				size_t lo = u32_find(rm, nrm, doc);
				if (lo < nrm) {
					hit = true;
					if (!found[lo]) {
						found[lo] = true;
						nfound++;
					}
				} else if (rc == 0) {
					rc = u32vec_push(&keep, doc);
				}
			}
			if (rc < 0 || !hit)
				continue;
			rc = mr_batch_assert_value(batch, key, val);
			if (rc == 0 && (keep.n == 0 || keep.v[0] != g.v[0]))
				rc = mr_batch_clear(batch, key);
			if (rc < 0 || keep.n == 0) {
				*bytes_delta -= (int64_t)(key.len + val.len);
				continue;
			}
			mr_buf_clear(&nv);
			if ((rc = put_delta_value(&nv, keep.v, keep.n)) < 0)
				continue;
			mr_key nk;
			key_delta(&nk, tkey, keep.v[0]);
			if (keep.v[0] != g.v[0])
				rc = mr_batch_assert_absent(batch, mr_key_slice(&nk));
			if (rc == 0)
				rc = mr_batch_set(batch, mr_key_slice(&nk), mr_buf_slice(&nv));
			*bytes_delta += (int64_t)nv.len - (int64_t)val.len;
		}
		mr_iter_free(it);
	}
	if (rc < 0 || nfound == nrm)
		goto done;
	mr_error_clear();
	rc = mr_data_get(b->data, tkey, &old);
	if (rc == MR_ENOTFOUND) { /* nowhere: nothing to take out */
		mr_error_clear();
		rc = 0;
		goto done;
	}
	if (rc < 0)
		goto done;
	if (!(bm = decode_bitmap(mr_buf_slice(&old)))) {
		rc = MR_ECORRUPT;
		goto done;
	}
	bool changed = false;
	for (size_t i = 0; i < nrm; i++)
		if (!found[i] && roaring_bitmap_contains(bm, rm[i])) {
			roaring_bitmap_remove(bm, rm[i]);
			changed = true;
		}
	if (!changed)
		goto done;
	if ((rc = mr_batch_assert_value(batch, tkey, mr_buf_slice(&old))) < 0)
		goto done;
	if (roaring_bitmap_is_empty(bm)) {
		rc = mr_batch_clear(batch, tkey);
		*bytes_delta -= (int64_t)(old.len + tkey.len);
		goto done;
	}
	roaring_bitmap_run_optimize(bm);
	size_t n = roaring_bitmap_portable_size_in_bytes(bm);
	if (!(ser = mr_malloc(n))) {
		rc = MR_ENOMEM;
		goto done;
	}
	roaring_bitmap_portable_serialize(bm, ser);
	rc = mr_batch_set(batch, tkey, mr_slice_of(ser, n));
	*bytes_delta += (int64_t)n - (int64_t)old.len;
done:
	mr_free(ser);
	mr_free(found);
	mr_free(g.v);
	mr_free(keep.v);
	if (bm)
		roaring_bitmap_free(bm);
	mr_buf_dispose(&old);
	mr_buf_dispose(&nv);
	return rc;
}

/*
 * Writes a batch's posting changes: per term, the removals (remove_postings)
 * and one blind delta for the documents that gained it, keyed by the
 * smallest.
 */
static int apply_changes(builtin *b, mr_batch *batch, changes *ch, int64_t *bytes_delta)
{
	if (ch->n == 0)
		return 0;
	qsort_r(ch->v, ch->n, sizeof(*ch->v), change_cmp, ch);
	u32vec rm = {0}, ad = {0};
	mr_buf val = MR_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < ch->n;) {
		mr_slice term = change_term(ch, i);
		size_t j = i;
		rm.n = ad.n = 0;
		for (; rc == 0 && j < ch->n && mr_slice_eq(change_term(ch, j), term); j++)
			rc = u32vec_push(ch->v[j].add ? &ad : &rm, ch->v[j].doc);
		i = j;
		if (rc == 0 && rm.n)
			rc = remove_postings(b, batch, term, rm.v, rm.n, bytes_delta);
		if (rc < 0 || !ad.n)
			continue;
		/* a blind write: no doc of ad had the term, so no delta is keyed by ad.v[0] */
		mr_key pk;
		key_delta(&pk, term, ad.v[0]);
		if (pk.err)
			continue;
		mr_buf_clear(&val);
		rc = put_delta_value(&val, ad.v, ad.n);
		if (rc == 0)
			rc = mr_batch_set(batch, mr_key_slice(&pk), mr_buf_slice(&val));
		*bytes_delta += (int64_t)(pk.len + val.len);
	}
	mr_free(rm.v);
	mr_free(ad.v);
	mr_buf_dispose(&val);
	return rc;
}

/*
 * Adds to batch what (re)indexing or removing t->doc needs but its
 * postings, which go to ch (apply_changes writes them for the whole batch),
 * and adds its counter deltas to *cnt (docs, tokens, bytes) for the caller
 * to write once.
 */
static int index_build(txn *t, mr_batch *batch, changes *ch, int64_t cnt[3])
{
	builtin *b = t->b;
	mr_buf old_meta = MR_BUF_INIT;
	strset old_terms = {0}, old_skeys = {0}, new_terms = {0};
	bool found = false;
	int64_t bytes = 0, docs = 0, toks = 0;
	mr_key k;
	t->old_stream_bytes = 0;
	int rc = load_old(t, &old_meta, &found, &old_terms, &old_skeys);
	if (rc < 0)
		goto done;
	if (!t->next && !found) {
		rc = mr_error_set(MR_ENOTFOUND, "doc %u of account %llu is not indexed", t->doc,
				  (unsigned long long)t->account);
		goto done;
	}
	if (t->next) {
		for (size_t i = 0; i < t->next->nfields; i++) {
			const fieldstream *fs = &t->next->fields[i];
			if ((rc = add_stream_terms(b, &new_terms, t->account, fs->field, fs->hname, t->next->lang,
						   mr_buf_slice(&fs->stream))) < 0)
				goto done;
		}
		if ((rc = strset_sort(&new_terms)) < 0)
			goto done;
	}
	/* Merge-walk: postings only in the old set lose the doc, only in the new set gain it, common ones stay. */
	size_t i = 0, j = 0;
	while (rc == 0 && (i < old_terms.n || j < new_terms.n)) {
		int c = i >= old_terms.n ? 1 : j >= new_terms.n ? -1 : mr_slice_cmp(strset_at(&old_terms, i), strset_at(&new_terms, j));
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			rc = changes_add(ch, strset_at(&old_terms, i++), t->doc, false);
		} else {
			rc = changes_add(ch, strset_at(&new_terms, j++), t->doc, true);
		}
	}
	if (rc < 0)
		goto done;
	for (i = 0; rc == 0 && i < old_skeys.n; i++)
		rc = mr_batch_clear(batch, strset_at(&old_skeys, i));
	key_doc(&k, t->account, 'D', t->doc);
	if (rc == 0)
		rc = found ? mr_batch_assert_value(batch, mr_key_slice(&k), mr_buf_slice(&old_meta))
			   : mr_batch_assert_absent(batch, mr_key_slice(&k));
	if (found) {
		meta m;
		if (rc == 0 && (rc = parse_meta(mr_buf_slice(&old_meta), t->doc, &m)) == 0) {
			docs--;
			toks -= m.ntok;
			bytes -= (int64_t)(old_meta.len + k.len);
		}
		if (rc == 0 && !t->next)
			rc = mr_batch_clear(batch, mr_key_slice(&k));
	}
	if (rc == 0 && t->next) {
		rc = mr_batch_set(batch, mr_key_slice(&k), mr_buf_slice(&t->next->meta));
		docs++;
		toks += t->next->ntok;
		bytes += (int64_t)(t->next->meta.len + k.len);
		for (i = 0; rc == 0 && i < t->next->nfields; i++) {
			const fieldstream *fs = &t->next->fields[i];
			mr_key sk;
			key_doc(&sk, t->account, 'S', t->doc);
			mr_key_u8(&sk, (uint8_t)fs->field);
			if (fs->field == MR_FIELD_HEADER)
				mr_key_str(&sk, fs->hname);
			if (sk.err)
				continue;
			rc = mr_batch_set(batch, mr_key_slice(&sk), mr_buf_slice(&fs->stream));
			bytes += (int64_t)(fs->stream.len + sk.len);
		}
		if (rc == 0 && t->next->lang[0]) {
			mr_key lk;
			key_account(&lk, t->account, 'L');
			mr_key_str(&lk, t->next->lang);
			rc = mr_batch_set(batch, mr_key_slice(&lk), MR_SLICE_EMPTY);
		}
	}
	bytes -= t->old_stream_bytes;
	cnt[0] += docs;
	cnt[1] += toks;
	cnt[2] += bytes;
done:
	mr_buf_dispose(&old_meta);
	strset_dispose(&old_terms);
	strset_dispose(&old_skeys);
	strset_dispose(&new_terms);
	return rc;
}


/* Writes the summed counter deltas of a batch: docs, tokens, bytes. */
static int add_counters(mr_batch *batch, uint64_t account, const int64_t cnt[3])
{
	mr_key ck;
	int rc = 0;
	if (cnt[0]) {
		key_counter(&ck, account, CNT_DOCS);
		rc = mr_batch_add(batch, mr_key_slice(&ck), cnt[0]);
		key_counter(&ck, GLOBAL_ACCOUNT, CNT_ALLDOCS);
		if (rc == 0)
			rc = mr_batch_add(batch, mr_key_slice(&ck), cnt[0]);
	}
	if (rc == 0 && cnt[1]) {
		key_counter(&ck, account, CNT_TOKENS);
		rc = mr_batch_add(batch, mr_key_slice(&ck), cnt[1]);
	}
	if (rc == 0 && cnt[2]) {
		key_counter(&ck, GLOBAL_ACCOUNT, CNT_BYTES);
		rc = mr_batch_add(batch, mr_key_slice(&ck), cnt[2]);
	}
	return rc;
}

/* Several documents of one account (distinct ids) in one batch: one commit, one WAL sync. */
typedef struct many_txn {
	txn *t;
	size_t n;
} many_txn;

static int index_many_txn(mr_data *d, void *payload)
{
	many_txn *m = payload;
	mr_batch *batch = NULL;
	changes ch = {0};
	int64_t cnt[3] = {0, 0, 0};
	int rc = mr_batch_new(&batch, d);
	for (size_t i = 0; rc == 0 && i < m->n; i++)
		rc = index_build(&m->t[i], batch, &ch, cnt);
	if (rc == 0)
		rc = apply_changes(m->n ? m->t[0].b : NULL, batch, &ch, &cnt[2]);
	if (rc == 0 && m->n)
		rc = add_counters(batch, m->t[0].account, cnt);
	if (rc == 0)
		rc = mr_batch_commit(batch);
	changes_dispose(&ch);
	mr_batch_free(batch);
	return rc;
}

static int index_txn(mr_data *d, void *payload)
{
	many_txn m = {payload, 1};
	return index_many_txn(d, &m);
}

/* ---- compaction: deltas into bitmaps ---- */

#ifndef COMPACT_EVERY /* overridable to test page and chunk edges */
#define COMPACT_EVERY 1000u
#endif
/* Automatic compaction merges only terms with at least this many deltas in
 * a page: most delta keys belong to rare terms, whose one or few deltas cost
 * a query no more than a bitmap would (mr_search_optimize merges all). */
#ifndef AUTO_MIN_DELTAS
#define AUTO_MIN_DELTAS 8u
#endif
#ifndef COMPACT_PAGE
#define COMPACT_PAGE 16384u
#endif
#ifndef COMPACT_CHUNK_KEYS
#define COMPACT_CHUNK_KEYS 8192u
#endif

typedef struct compact_txn {
	builtin *b;
	const strset *deltas; /* delta keys, sorted: grouped by term */
	const strset *vals;   /* their values as scanned (vals[i] of deltas[i]) */
	size_t from, to;      /* the range of deltas this transaction merges */
	size_t merged;
	unsigned attempt;
} compact_txn;

/* Merges the deltas [from, to) (whole terms) into their bitmaps in one batch. */
static int compact_chunk(mr_data *d, void *payload)
{
	compact_txn *c = payload;
	mr_batch *batch = NULL;
	mr_buf v = MR_BUF_INIT;
	roaring_bitmap_t *bm = NULL;
	char *ser = NULL;
	int64_t bytes = 0;
	c->merged = 0;
	/* first attempt trusts the scan (the assertions catch a delta taken since); a retry re-reads */
	bool reread = c->attempt++ > 0;
	int rc = mr_batch_new(&batch, d);
	size_t i = c->from;
	while (rc == 0 && i < c->to) {
		mr_slice first = strset_at(c->deltas, i);
		mr_slice term = mr_slice_of(first.ptr, first.len - 4);
		size_t j = i;
		while (j < c->to && strset_at(c->deltas, j).len == first.len &&
		       memcmp(strset_at(c->deltas, j).ptr, term.ptr, term.len) == 0)
			j++;
		mr_key tk;
		memcpy(tk.buf, term.ptr, term.len);
		tk.buf[TAG_OFFSET] = 'T';
		tk.len = term.len;
		rc = mr_data_get(c->b->data, mr_key_slice(&tk), &v);
		bool existed = rc == 0;
		if (rc == MR_ENOTFOUND) {
			mr_error_clear();
			rc = 0;
		}
		if (rc < 0)
			break;
		bm = existed ? decode_bitmap(mr_buf_slice(&v)) : roaring_bitmap_create();
		if (!bm) {
			rc = existed ? MR_ECORRUPT : mr_error_oom();
			break;
		}
		size_t added = 0;
		mr_buf dv = MR_BUF_INIT;
		for (size_t k = i; rc == 0 && k < j; k++) {
			mr_slice dk = strset_at(c->deltas, k), val = strset_at(c->vals, k);
			/* only deltas still present, as they are now: a remover may have taken or shrunk one since the scan */
			rc = reread ? mr_data_get(c->b->data, dk, &dv) : 0;
			if (rc == MR_ENOTFOUND) {
				mr_error_clear();
				rc = 0;
				continue;
			}
			if (reread)
				val = mr_buf_slice(&dv);
			if (rc == 0)
				rc = mr_batch_assert_value(batch, dk, val);
			if (rc == 0)
				rc = mr_batch_clear(batch, dk);
			delta_iter di;
			delta_iter_init(&di, dk, val);
			uint32_t doc = 0;
			while (rc == 0 && (rc = delta_next(&di, &doc)) == 1) {
				roaring_bitmap_add(bm, doc);
				rc = 0;
			}
			bytes -= (int64_t)(dk.len + val.len);
			added++;
		}
		mr_buf_dispose(&dv);
		if (rc == 0 && added) {
			rc = existed ? mr_batch_assert_value(batch, mr_key_slice(&tk), mr_buf_slice(&v))
				     : mr_batch_assert_absent(batch, mr_key_slice(&tk));
			roaring_bitmap_run_optimize(bm);
			size_t n = roaring_bitmap_portable_size_in_bytes(bm);
			if (rc == 0 && !(ser = mr_malloc(n)))
				rc = MR_ENOMEM;
			if (rc == 0) {
				roaring_bitmap_portable_serialize(bm, ser);
				rc = mr_batch_set(batch, mr_key_slice(&tk), mr_slice_of(ser, n));
				bytes += (int64_t)n - (int64_t)v.len + (existed ? 0 : (int64_t)tk.len);
			}
			mr_free(ser);
			ser = NULL;
			c->merged += added;
		}
		roaring_bitmap_free(bm);
		bm = NULL;
		i = j;
	}
	if (rc == 0 && bytes) {
		mr_key ck;
		key_counter(&ck, GLOBAL_ACCOUNT, CNT_BYTES);
		rc = mr_batch_add(batch, mr_key_slice(&ck), bytes);
	}
	if (rc == 0 && c->merged)
		rc = mr_batch_commit(batch);
	if (bm)
		roaring_bitmap_free(bm);
	mr_buf_dispose(&v);
	mr_batch_free(batch);
	return rc;
}

/*
 * Moves an account's delta keys into their bitmaps, a page at a time, each
 * chunk of whole terms in one asserted batch (retried on conflict).  Safe
 * beside indexers, removers and other compactions.
 */
static int compact_account(builtin *b, uint64_t account, size_t min_deltas)
{
	int rc = 0;
	mr_buf last = MR_BUF_INIT; /* pages continue after the last key seen: never rescan tombstones */
	mr_key k;
	key_account(&k, account, 'P');
	uint8_t end[MR_DATA_MAX_KEY];
	for (;;) {
		strset deltas = {0}, vals = {0};
		mr_range r = mr_range_prefix(mr_key_slice(&k), end, sizeof(end));
		if (last.len) {
			r.begin = mr_buf_slice(&last);
			r.begin_exclusive = true;
		}
		r.limit = COMPACT_PAGE;
		mr_iter *it = NULL;
		if ((rc = mr_data_scan(b->data, &r, &it)) < 0)
			break;
		mr_slice key, val;
		while ((rc = mr_iter_next(it, &key, &val)) == 1)
			if (key.len > TAG_OFFSET + 4 && ((rc = strset_add(&deltas, key.ptr, key.len)) < 0 ||
							  (rc = strset_add(&vals, val.ptr, val.len)) < 0))
				break;
		mr_iter_free(it);
		size_t total = deltas.n;
		/* a page may end inside a term: leave that term's deltas for the next page */
		size_t usable = deltas.n;
		if (rc >= 0 && total == COMPACT_PAGE) {
			mr_slice z = strset_at(&deltas, total - 1);
			while (usable > 0) {
				mr_slice a = strset_at(&deltas, usable - 1);
				if (a.len != z.len || memcmp(a.ptr, z.ptr, a.len - 4) != 0)
					break;
				usable--;
			}
			if (usable == 0) /* one term fills the page: merge it anyway */
				usable = total;
		}
		/* only the terms with at least min_deltas deltas in the page */
		strset sd = {0}, sv = {0};
		const strset *md = &deltas, *mv = &vals;
		size_t mn = usable;
		if (min_deltas > 1) {
			for (size_t t0 = 0, t1; rc >= 0 && t0 < usable; t0 = t1) {
				mr_slice a = strset_at(&deltas, t0);
				for (t1 = t0 + 1; t1 < usable; t1++) {
					mr_slice z = strset_at(&deltas, t1);
					if (a.len != z.len || memcmp(a.ptr, z.ptr, a.len - 4) != 0)
						break;
				}
				if (t1 - t0 < min_deltas)
					continue;
				for (size_t i = t0; rc >= 0 && i < t1; i++) {
					mr_slice dk = strset_at(&deltas, i), dv = strset_at(&vals, i);
					if ((rc = strset_add(&sd, dk.ptr, dk.len)) >= 0)
						rc = strset_add(&sv, dv.ptr, dv.len);
				}
			}
			md = &sd;
			mv = &sv;
			mn = sd.n;
		}
		/* chunks end on a term boundary so a term is merged by one transaction */
		for (size_t from = 0; rc >= 0 && from < mn;) {
			size_t to = from + COMPACT_CHUNK_KEYS < mn ? from + COMPACT_CHUNK_KEYS : mn;
			while (to < mn && to > from) {
				mr_slice a = strset_at(md, to - 1), z = strset_at(md, to);
				if (a.len != z.len || memcmp(a.ptr, z.ptr, a.len - 4) != 0)
					break;
				to++;
			}
			compact_txn c = {.b = b, .deltas = md, .vals = mv, .from = from, .to = to};
			rc = mr_data_retry(b->data, compact_chunk, RETRY_ATTEMPTS, 2, 250, &c);
			from = to;
		}
		strset_dispose(&sd);
		strset_dispose(&sv);
		if (rc >= 0 && usable > 0) {
			mr_slice lk = strset_at(&deltas, usable - 1);
			rc = mr_buf_set(&last, lk.ptr, lk.len);
		}
		strset_dispose(&deltas);
		strset_dispose(&vals);
		if (rc < 0 || total < COMPACT_PAGE)
			break;
	}
	mr_buf_dispose(&last);
	return rc < 0 ? rc : 0;
}

static int builtin_optimize(mr_search_inst *inst, uint64_t account)
{
	builtin *b = mr_container_of(inst, builtin, base);
	return compact_account(b, account, 1);
}

static int builtin_index(mr_search_inst *inst, uint64_t account, uint32_t doc_id, const mr_search_doc *doc)
{
	builtin *b = mr_container_of(inst, builtin, base);
	if (account == GLOBAL_ACCOUNT)
		return mr_error_set(MR_EINVALID, "account id %llu is reserved", (unsigned long long)account);
	analyzed a;
	int rc = analyze_doc(b, doc, &a);
	if (rc < 0)
		return rc;
	txn t = {.b = b, .account = account, .doc = doc_id, .next = &a};
	rc = mr_data_retry(b->data, index_txn, RETRY_ATTEMPTS, 2, 250, &t);
	analyzed_dispose(&a);
	if (rc < 0)
		return rc;
	/* Every COMPACT_EVERY documents this handle merges the account's deltas. */
	pthread_mutex_lock(&b->compact_lock);
	bool due = ++b->indexed_since_compact >= COMPACT_EVERY;
	if (due)
		b->indexed_since_compact = 0;
	pthread_mutex_unlock(&b->compact_lock);
	if (due && compact_account(b, account, AUTO_MIN_DELTAS) < 0) {
		mr_log(MR_LOG_WARN, "search index: compaction of account %llu failed (postings stay as deltas): %s",
		       (unsigned long long)account, mr_error_last()->message);
		mr_error_clear();
	}
	return 0;
}

static void compact_if_due(builtin *b, uint64_t account, size_t n)
{
	pthread_mutex_lock(&b->compact_lock);
	b->indexed_since_compact += (unsigned)n;
	bool due = b->indexed_since_compact >= COMPACT_EVERY;
	if (due)
		b->indexed_since_compact = 0;
	pthread_mutex_unlock(&b->compact_lock);
	if (due && compact_account(b, account, AUTO_MIN_DELTAS) < 0) {
		mr_log(MR_LOG_WARN, "search index: compaction of account %llu failed (postings stay as deltas): %s",
		       (unsigned long long)account, mr_error_last()->message);
		mr_error_clear();
	}
}

/*
 * index_batch: the documents in one data-store commit (one WAL sync instead
 * of one per document), all or none.  An id given twice falls back to one
 * commit per document (a document's assertions would see its own write).
 */
static int builtin_index_batch(mr_search_inst *inst, uint64_t account, const uint32_t *doc_ids,
			       const mr_search_doc *docs, size_t n)
{
	builtin *b = mr_container_of(inst, builtin, base);
	if (account == GLOBAL_ACCOUNT)
		return mr_error_set(MR_EINVALID, "account id %llu is reserved", (unsigned long long)account);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (doc_ids[i] == doc_ids[j]) {
				for (size_t k = 0; k < n; k++) {
					int rc = builtin_index(inst, account, doc_ids[k], &docs[k]);
					if (rc < 0)
						return rc;
				}
				return 0;
			}
	analyzed *a = mr_calloc(n ? n : 1, sizeof(*a));
	txn *t = mr_calloc(n ? n : 1, sizeof(*t));
	int rc = a && t ? 0 : MR_ENOMEM;
	size_t done = 0;
	for (; rc == 0 && done < n; done++) {
		rc = analyze_doc(b, &docs[done], &a[done]);
		if (rc < 0)
			break;
		t[done] = (txn){.b = b, .account = account, .doc = doc_ids[done], .next = &a[done]};
	}
	if (rc == 0) {
		many_txn m = {t, n};
		rc = mr_data_retry(b->data, index_many_txn, RETRY_ATTEMPTS, 2, 250, &m);
	}
	for (size_t i = 0; a && i < done; i++)
		analyzed_dispose(&a[i]);
	mr_free(a);
	mr_free(t);
	if (rc < 0)
		return rc;
	compact_if_due(b, account, n);
	return 0;
}

static int builtin_remove(mr_search_inst *inst, uint64_t account, uint32_t doc_id)
{
	builtin *b = mr_container_of(inst, builtin, base);
	txn t = {.b = b, .account = account, .doc = doc_id, .next = NULL};
	return mr_data_retry(b->data, index_txn, RETRY_ATTEMPTS, 2, 250, &t);
}

static int builtin_query(mr_search_inst *inst, uint64_t account, const mr_query_node *root,
			 const mr_search_opts *opts, mr_search_result *out)
{
	return mr_fts__query(mr_container_of(inst, builtin, base), account, root, opts, out);
}

static int builtin_stats(mr_search_inst *inst, uint64_t *bytes, uint64_t *docs)
{
	return mr_fts__stats(mr_container_of(inst, builtin, base), bytes, docs);
}

static int builtin_open(mr_search_inst **out, const mr_store_config *sc, mr_data *data)
{
	MR_UNUSED(sc);
	*out = NULL;
	if (!data)
		return mr_error_set(MR_EINVALID, "builtin search: no data store");
	builtin *b = mr_calloc(1, sizeof(*b));
	if (!b)
		return MR_ENOMEM;
	b->base.backend = &mr_search__builtin;
	b->data = data;
	pthread_mutex_init(&b->compact_lock, NULL);
	int rc = mr_analyzer_new(&b->an);
	if (rc < 0) {
		pthread_mutex_destroy(&b->compact_lock);
		mr_free(b);
		return rc;
	}
	*out = &b->base;
	return 0;
}

/* The first key at or after (FTS, from) names the next account; the global
 * counters (GLOBAL_ACCOUNT) sort last and are no account. */
static int builtin_next_account(mr_search_inst *inst, uint64_t from, uint64_t *out)
{
	builtin *b = mr_container_of(inst, builtin, base);
	mr_key lo, hi;
	key_account(&lo, from, 0);
	lo.len--; /* (FTS, from) without the tag byte */
	mr_key_init(&hi, MR_SUBSPACE_FTS + 1);
	mr_range r = {.begin = mr_key_slice(&lo), .end = mr_key_slice(&hi), .flags = MR_SCAN_KEYS_ONLY, .limit = 1};
	mr_iter *it = NULL;
	int rc = mr_data_scan(b->data, &r, &it);
	if (rc < 0)
		return rc;
	mr_slice k, v;
	rc = mr_iter_next(it, &k, &v);
	uint64_t acc = GLOBAL_ACCOUNT;
	if (rc == 1) {
		mr_key_reader kr;
		uint8_t sub;
		mr_key_reader_init(&kr, k);
		rc = mr_key_read_u8(&kr, &sub);
		if (rc == 0)
			rc = mr_key_read_u64(&kr, &acc);
	}
	mr_iter_free(it);
	if (rc < 0)
		return rc;
	if (acc == GLOBAL_ACCOUNT)
		return MR_ENOTFOUND;
	*out = acc;
	return 0;
}

static void builtin_close(mr_search_inst *inst)
{
	if (!inst)
		return;
	builtin *b = mr_container_of(inst, builtin, base);
	mr_analyzer_free(b->an);
	pthread_mutex_destroy(&b->compact_lock);
	mr_free(b);
}

const mr_search_backend mr_search__builtin = {
	.version = MR_SEARCH_BACKEND_VERSION,
	.name = "builtin",
	.caps = MR_SEARCH_CAP_RELEVANCE | MR_SEARCH_CAP_PHRASE | MR_SEARCH_CAP_STEMMING,
	.open = builtin_open,
	.close = builtin_close,
	.index = builtin_index,
	.remove = builtin_remove,
	.query = builtin_query,
	.stats = builtin_stats,
	.optimize = builtin_optimize,
	.index_batch = builtin_index_batch,
	.next_account = builtin_next_account,
};
