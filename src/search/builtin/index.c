/*
 * index.c — the built-in full-text index, kept in the data store (subspace
 * MR_SUBSPACE_FTS) through its key codec; the "builtin" search backend.
 *
 * Layout, all keys starting [FTS][account u64]:
 *   'T' field u8, kind u8, [header name], [lang], term   -> posting list:
 *        a CRoaring bitmap of doc ids, portable serialization.  kind 0 is
 *        the exact folded token, kind 1 its Snowball stem (then the
 *        document's language comes before the term).  Headers: exact only.
 *   'S' doc u32, field u8, [header name]  -> the field's token stream
 *        (varint position delta, varint length, bytes; in order): used
 *        for phrase checks, BM25 term frequencies, and to re-derive the
 *        exact postings a document owns when it is removed or re-indexed.
 *   'D' doc u32                           -> metadata (date, size, flags,
 *        has-attachment, language, token count, mailbox names).
 *   'L' lang                              -> "" (languages present: the
 *        query stems its words for each of them)
 *   counters 'C' u8: 0 documents, 1 tokens; account UINT64_MAX holds the
 *        store-wide 2 bytes, 3 documents (for `mailroom stats`).
 *
 * Concurrency: a document is (re)indexed in one data-store batch that
 * rewrites each touched posting list and asserts its previous value (or
 * absence), and asserts the document's previous metadata.  A concurrent
 * indexer touching the same posting list makes the commit fail with
 * MR_ECONFLICT; mr_data_retry re-reads and re-applies, so no posting is
 * lost and a document is never half indexed.
 *
 * Queries evaluate the AST into roaring bitmaps; filters, NOT and the
 * empty query read the account's metadata once.  Ordering is by date
 * (newest first) or BM25.  The analyzer (analyzer.c) decides what a term is.
 */
#include "mailroom/data.h"
#include "search/backend.h"
#include "search/builtin/analyzer.h"

#include <math.h>
#include <roaring/roaring.h>

#define KIND_EXACT 0
#define KIND_STEM 1
#define META_VERSION 1
#define GLOBAL_ACCOUNT UINT64_MAX
#define CNT_DOCS 0
#define CNT_TOKENS 1
#define CNT_BYTES 2
#define CNT_ALLDOCS 3
#define RETRY_ATTEMPTS 64
/* Fields a bare word searches (and that are stemmed). */
static const mr_search_field main_fields[] = {MR_FIELD_FROM,    MR_FIELD_TO,   MR_FIELD_CC,        MR_FIELD_BCC,
					      MR_FIELD_SUBJECT, MR_FIELD_BODY, MR_FIELD_ATTACHMENT};
#define NMAIN (sizeof(main_fields) / sizeof(main_fields[0]))

typedef struct builtin {
	mr_search_inst base;
	mr_data *data;
	mr_analyzer *an;
} builtin;

/* ---- small encoders ---- */

static int put_varint(mr_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		tmp[n] = (uint8_t)(v & 0x7F);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	return mr_buf_put(b, tmp, n);
}

static bool get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*pos >= len)
			return false;
		uint8_t c = p[(*pos)++];
		v |= (uint64_t)(c & 0x7F) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

static int put_be(mr_buf *b, uint64_t v, unsigned bytes)
{
	uint8_t tmp[8];
	for (unsigned i = 0; i < bytes; i++)
		tmp[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	return mr_buf_put(b, tmp, bytes);
}

static uint64_t get_be(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

/* ---- keys ---- */

static void key_account(mr_key *k, uint64_t account, uint8_t tag)
{
	mr_key_init(k, MR_SUBSPACE_FTS);
	mr_key_u64(k, account);
	mr_key_u8(k, tag);
}

/* Posting-list key; lang only for KIND_STEM, hname only for headers.  term may be a raw prefix (tail). */
static void key_term(mr_key *k, uint64_t account, mr_search_field f, const char *hname, uint8_t kind,
		     const char *lang, const char *term, size_t tlen, bool as_prefix)
{
	key_account(k, account, 'T');
	mr_key_u8(k, (uint8_t)f);
	mr_key_u8(k, kind);
	if (f == MR_FIELD_HEADER)
		mr_key_str(k, hname ? hname : "");
	if (kind == KIND_STEM)
		mr_key_str(k, lang);
	if (as_prefix)
		mr_key_tail(k, term, tlen);
	else
		mr_key_bytes(k, term, tlen);
}

static void key_doc(mr_key *k, uint64_t account, uint8_t tag, uint32_t doc)
{
	key_account(k, account, tag);
	mr_key_u32(k, doc);
}

static void key_counter(mr_key *k, uint64_t account, uint8_t which)
{
	key_account(k, account, 'C');
	mr_key_u8(k, which);
}

/* ---- a sorted set of byte strings (term keys) ---- */

typedef struct strset {
	mr_buf bytes;
	size_t *off, *len;
	size_t n, cap;
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
	s->off = o;
	s->len = l;
	s->n = m;
	return 0;
}

static void strset_dispose(strset *s)
{
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

/* Iterates a token stream: returns 1 with token/pos, 0 at end, MR_ECORRUPT on bad bytes. */
typedef struct stream_iter {
	const uint8_t *p;
	size_t len, at;
	uint32_t pos;
	bool first;
} stream_iter;

static int stream_next(stream_iter *it, mr_slice *tok, uint32_t *pos)
{
	if (it->at >= it->len)
		return 0;
	uint64_t delta, n;
	if (!get_varint(it->p, it->len, &it->at, &delta) || !get_varint(it->p, it->len, &it->at, &n) ||
	    n > it->len - it->at)
		return mr_error_set(MR_ECORRUPT, "search index: malformed token stream");
	it->pos = it->first ? (uint32_t)delta : it->pos + (uint32_t)delta;
	it->first = false;
	*tok = mr_slice_of(it->p + it->at, (size_t)n);
	it->at += (size_t)n;
	*pos = it->pos;
	return 1;
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
	mr_slice tok;
	uint32_t pos;
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
		if ((rc = strset_add(set, k.buf, k.len)) < 0)
			break;
		if (!stem)
			continue;
		if ((rc = mr_buf_set(&word, tok.ptr, tok.len)) < 0 ||
		    (rc = mr_analyzer_stem(b->an, lang, mr_buf_cstr(&word), word.len, &st)) < 0)
			break;
		key_term(&k, account, f, hname, KIND_STEM, lang, mr_buf_cstr(&st), st.len, false);
		if (!k.err && (rc = strset_add(set, k.buf, k.len)) < 0)
			break;
	}
	mr_buf_dispose(&st);
	mr_buf_dispose(&word);
	return rc < 0 ? rc : 0;
}

/* ---- metadata ---- */

typedef struct meta {
	uint32_t id;
	int64_t date, size;
	uint32_t flags;
	bool att;
	uint32_t ntok;
	char lang[8];
	const uint8_t *mbx; /* nmbx x (u16 len, bytes) */
	size_t mbxlen;
	uint16_t nmbx;
} meta;

static int parse_meta(mr_slice v, uint32_t id, meta *m)
{
	const uint8_t *p = v.ptr;
	if (v.len < 27 || p[0] != META_VERSION)
		return mr_error_set(MR_ECORRUPT, "search index: doc %u: bad metadata record", id);
	m->id = id;
	m->date = (int64_t)get_be(p + 1, 8);
	m->size = (int64_t)get_be(p + 9, 8);
	m->flags = (uint32_t)get_be(p + 17, 4);
	m->att = p[21] != 0;
	m->ntok = (uint32_t)get_be(p + 22, 4);
	size_t ll = p[26];
	if (v.len < 27 + ll + 2 || ll >= sizeof(m->lang))
		return mr_error_set(MR_ECORRUPT, "search index: doc %u: bad metadata record", id);
	memcpy(m->lang, p + 27, ll);
	m->lang[ll] = '\0';
	m->nmbx = (uint16_t)get_be(p + 27 + ll, 2);
	m->mbx = p + 29 + ll;
	m->mbxlen = v.len - 29 - ll;
	return 0;
}

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

/* Adds (add=true) or removes doc in the posting list at key, asserting its old value. */
static int update_posting(txn *t, mr_batch *batch, mr_slice key, bool add, int64_t *bytes_delta)
{
	mr_buf old = MR_BUF_INIT;
	roaring_bitmap_t *bm = NULL;
	char *ser = NULL;
	int rc = mr_data_get(t->b->data, key, &old);
	bool existed = rc == 0;
	if (rc == MR_ENOTFOUND) {
		mr_error_clear();
		rc = 0;
	}
	if (rc < 0)
		goto done;
	if (existed) {
		bm = roaring_bitmap_portable_deserialize_safe((const char *)old.ptr, old.len);
		if (!bm || roaring_bitmap_portable_size_in_bytes(bm) != old.len) {
			rc = mr_error_set(MR_ECORRUPT, "search index: posting list of %zu bytes does not decode",
					  old.len);
			goto done;
		}
	} else {
		bm = roaring_bitmap_create();
	}
	if (!bm) {
		rc = mr_error_oom();
		goto done;
	}
	if (add)
		roaring_bitmap_add(bm, t->doc);
	else
		roaring_bitmap_remove(bm, t->doc);
	rc = existed ? mr_batch_assert_value(batch, key, mr_buf_slice(&old)) : mr_batch_assert_absent(batch, key);
	if (rc < 0)
		goto done;
	if (roaring_bitmap_is_empty(bm)) {
		if (existed) {
			rc = mr_batch_clear(batch, key);
			*bytes_delta -= (int64_t)(old.len + key.len);
		}
		goto done;
	}
	roaring_bitmap_run_optimize(bm);
	size_t n = roaring_bitmap_portable_size_in_bytes(bm);
	if (!(ser = mr_malloc(n))) {
		rc = MR_ENOMEM;
		goto done;
	}
	roaring_bitmap_portable_serialize(bm, ser);
	rc = mr_batch_set(batch, key, mr_slice_of(ser, n));
	*bytes_delta += (int64_t)n - (int64_t)old.len + (existed ? 0 : (int64_t)key.len);
done:
	mr_free(ser);
	if (bm)
		roaring_bitmap_free(bm);
	mr_buf_dispose(&old);
	return rc;
}

static int index_txn(mr_data *d, void *payload)
{
	txn *t = payload;
	builtin *b = t->b;
	mr_buf old_meta = MR_BUF_INIT;
	strset old_terms = {0}, old_skeys = {0}, new_terms = {0};
	mr_batch *batch = NULL;
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
	if ((rc = mr_batch_new(&batch, d)) < 0)
		goto done;
	/* Merge-walk: postings only in the old set lose the doc, only in the new set gain it. */
	size_t i = 0, j = 0;
	while (rc == 0 && (i < old_terms.n || j < new_terms.n)) {
		int c = i >= old_terms.n ? 1 : j >= new_terms.n ? -1 : mr_slice_cmp(strset_at(&old_terms, i), strset_at(&new_terms, j));
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			rc = update_posting(t, batch, strset_at(&old_terms, i++), false, &bytes);
		} else {
			rc = update_posting(t, batch, strset_at(&new_terms, j++), true, &bytes);
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
	mr_key ck;
	if (rc == 0 && docs) {
		key_counter(&ck, t->account, CNT_DOCS);
		rc = mr_batch_add(batch, mr_key_slice(&ck), docs);
		key_counter(&ck, GLOBAL_ACCOUNT, CNT_ALLDOCS);
		if (rc == 0)
			rc = mr_batch_add(batch, mr_key_slice(&ck), docs);
	}
	if (rc == 0 && toks) {
		key_counter(&ck, t->account, CNT_TOKENS);
		rc = mr_batch_add(batch, mr_key_slice(&ck), toks);
	}
	if (rc == 0 && bytes) {
		key_counter(&ck, GLOBAL_ACCOUNT, CNT_BYTES);
		rc = mr_batch_add(batch, mr_key_slice(&ck), bytes);
	}
	if (rc == 0)
		rc = mr_batch_commit(batch);
done:
	mr_batch_free(batch);
	mr_buf_dispose(&old_meta);
	strset_dispose(&old_terms);
	strset_dispose(&old_skeys);
	strset_dispose(&new_terms);
	return rc;
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
	return rc;
}

static int builtin_remove(mr_search_inst *inst, uint64_t account, uint32_t doc_id)
{
	builtin *b = mr_container_of(inst, builtin, base);
	txn t = {.b = b, .account = account, .doc = doc_id, .next = NULL};
	return mr_data_retry(b->data, index_txn, RETRY_ATTEMPTS, 2, 250, &t);
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

static roaring_bitmap_t *decode_bitmap(mr_slice v)
{
	roaring_bitmap_t *bm = roaring_bitmap_portable_deserialize_safe((const char *)v.ptr, v.len);
	if (!bm || roaring_bitmap_portable_size_in_bytes(bm) != v.len) {
		if (bm)
			roaring_bitmap_free(bm);
		mr_error_set(MR_ECORRUPT, "search index: posting list of %zu bytes does not decode", v.len);
		return NULL;
	}
	return bm;
}

/* ORs the posting list at key into acc (absent: nothing). */
static int or_posting(qstate *q, const mr_key *k, roaring_bitmap_t *acc)
{
	if (k->err)
		return 0;
	mr_buf v = MR_BUF_INIT;
	int rc = mr_data_get(q->b->data, mr_key_slice(k), &v);
	if (rc == MR_ENOTFOUND) {
		mr_error_clear();
		mr_buf_dispose(&v);
		return 0;
	}
	if (rc == 0) {
		roaring_bitmap_t *bm = decode_bitmap(mr_buf_slice(&v));
		if (!bm)
			rc = MR_ECORRUPT;
		else {
			roaring_bitmap_or_inplace(acc, bm);
			roaring_bitmap_free(bm);
		}
	}
	mr_buf_dispose(&v);
	return rc;
}

/* ORs every posting list whose key starts with prefix k into acc. */
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
	return rc < 0 ? rc : 0;
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
	mr_slice tok;
	uint32_t pos;
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
		mr_slice tok;
		uint32_t pos;
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

static int builtin_query(mr_search_inst *inst, uint64_t account, const mr_query_node *root,
			 const mr_search_opts *opts, mr_search_result *out)
{
	builtin *b = mr_container_of(inst, builtin, base);
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

static int builtin_stats(mr_search_inst *inst, uint64_t *bytes, uint64_t *docs)
{
	builtin *b = mr_container_of(inst, builtin, base);
	qstate q = {.b = b};
	int64_t by = 0, dc = 0;
	int rc = get_counter(&q, GLOBAL_ACCOUNT, CNT_BYTES, &by);
	if (rc == 0)
		rc = get_counter(&q, GLOBAL_ACCOUNT, CNT_ALLDOCS, &dc);
	*bytes = by > 0 ? (uint64_t)by : 0;
	*docs = dc > 0 ? (uint64_t)dc : 0;
	return rc;
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
	int rc = mr_analyzer_new(&b->an);
	if (rc < 0) {
		mr_free(b);
		return rc;
	}
	*out = &b->base;
	return 0;
}

static void builtin_close(mr_search_inst *inst)
{
	if (!inst)
		return;
	builtin *b = mr_container_of(inst, builtin, base);
	mr_analyzer_free(b->an);
	mr_free(b);
}

const mr_search_backend mr_search__builtin = {
	.version = MR_SEARCH_BACKEND_VERSION,
	.name = "builtin",
	.caps = MR_SEARCH_CAP_RELEVANCE | MR_SEARCH_CAP_PHRASE,
	.open = builtin_open,
	.close = builtin_close,
	.index = builtin_index,
	.remove = builtin_remove,
	.query = builtin_query,
	.stats = builtin_stats,
};
