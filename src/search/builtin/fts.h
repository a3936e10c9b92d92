/*
 * fts.h (private to src/search/builtin/) — what the write side (index.c)
 * and the query side (exec.c) of the built-in index share: the key
 * layout, the token-stream and metadata encodings.
 *
 * Layout, all keys starting [FTS][account u64] (docs/search.md):
 *   'T' field u8, kind u8, [header name], [lang], term   -> posting list:
 *        a CRoaring bitmap of doc ids, portable serialization.  kind 0 is
 *        the exact folded token, kind 1 its Snowball stem (the document's
 *        language comes before the term).  Headers: exact only.
 *   'P' <same as 'T'> doc u32                            -> a delta: postings
 *        not yet merged into the bitmap, of doc and of the documents the
 *        value lists.  "" is doc alone (the only form before groups); else
 *        the value is the other docs of the group, ascending, as varint
 *        gaps: d1 - doc, d2 - d1, ... (each >= 1, so doc is the group's
 *        smallest; a value starting with byte 0 is reserved).  A batch of
 *        documents writes one delta per term, keyed by the smallest
 *        document that gained it.  Indexing only writes these (no read, no
 *        conflict); compaction moves them into the bitmap.  A term's
 *        postings are the bitmap plus its deltas' documents; each (term,
 *        doc) posting is in exactly one of them.
 *   'S' doc u32, field u8, [header name]  -> the field's token stream
 *        (varint position delta, varint length, bytes; in order).
 *   'D' doc u32                           -> metadata (date, size, flags,
 *        has-attachment, token count, language, mailbox names).
 *   'L' lang                              -> "" (languages present)
 *   counters 'C' u8: 0 documents, 1 tokens; account UINT64_MAX holds the
 *        store-wide 2 bytes, 3 documents.
 */
#ifndef MR_SEARCH_FTS_H
#define MR_SEARCH_FTS_H

#include "mailroom/data.h"
#include "search/backend.h"
#include "search/builtin/analyzer.h"

#include <pthread.h>
#include <roaring/roaring.h>

#define KIND_EXACT 0
#define KIND_STEM 1
#define TAG_OFFSET 9 /* subspace byte + account u64 */
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
	unsigned indexed_since_compact; /* guarded by compact_lock */
	pthread_mutex_t compact_lock;
} builtin;

/* ---- small encoders ---- */

static inline int put_varint(mr_buf *b, uint64_t v)
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

static inline bool get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
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

static inline int put_be(mr_buf *b, uint64_t v, unsigned bytes)
{
	uint8_t tmp[8];
	for (unsigned i = 0; i < bytes; i++)
		tmp[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	return mr_buf_put(b, tmp, bytes);
}

static inline uint64_t get_be(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

/* ---- keys ---- */

static inline void key_account(mr_key *k, uint64_t account, uint8_t tag)
{
	mr_key_init(k, MR_SUBSPACE_FTS);
	mr_key_u64(k, account);
	mr_key_u8(k, tag);
}

/* Posting-list key; lang only for KIND_STEM, hname only for headers.  term may be a raw prefix (tail). */
static inline void key_term(mr_key *k, uint64_t account, mr_search_field f, const char *hname, uint8_t kind,
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

/* The delta key ('P') of posting key tkey ('T', exact term or raw prefix) for doc. */
static inline void key_delta(mr_key *k, mr_slice tkey, uint32_t doc)
{
	k->len = 0;
	k->err = tkey.len > TAG_OFFSET && tkey.len + 4 <= MR_DATA_MAX_KEY ? 0 : MR_ELIMIT;
	if (k->err)
		return;
	memcpy(k->buf, tkey.ptr, tkey.len);
	k->buf[TAG_OFFSET] = 'P';
	k->len = tkey.len;
	mr_key_u32(k, doc);
}

/* The prefix of every delta key of tkey (no doc id). */
static inline void key_delta_prefix(mr_key *k, mr_slice tkey)
{
	k->len = 0;
	k->err = tkey.len > TAG_OFFSET ? 0 : MR_ELIMIT;
	if (k->err)
		return;
	memcpy(k->buf, tkey.ptr, tkey.len);
	k->buf[TAG_OFFSET] = 'P';
	k->len = tkey.len;
}

/* Iterates the documents of a delta: the key's doc, then the value's gaps. */
typedef struct delta_iter {
	mr_slice val;
	size_t at;
	uint32_t doc;
	bool started;
} delta_iter;

/* key is a whole 'P' key (its last 4 bytes are the doc). */
static inline void delta_iter_init(delta_iter *it, mr_slice key, mr_slice val)
{
	it->val = val;
	it->at = 0;
	it->doc = key.len >= 4 ? (uint32_t)get_be(key.ptr + key.len - 4, 4) : 0;
	it->started = false;
}

/* Returns 1 with *doc (ascending), 0 at the end, MR_ECORRUPT on a bad value. */
static inline int delta_next(delta_iter *it, uint32_t *doc)
{
	if (!it->started) {
		it->started = true;
		*doc = it->doc;
		return 1;
	}
	if (it->at >= it->val.len)
		return 0;
	uint64_t gap;
	if (!get_varint(it->val.ptr, it->val.len, &it->at, &gap) || gap == 0 || gap > UINT32_MAX - it->doc)
		return mr_error_set(MR_ECORRUPT, "search index: posting delta of doc %u: bad value (%zu bytes)",
				    it->doc, it->val.len);
	it->doc += (uint32_t)gap;
	*doc = it->doc;
	return 1;
}

/* The value of a delta of docs[0..n) (ascending, distinct; docs[0] is the key's doc). */
static inline int put_delta_value(mr_buf *b, const uint32_t *docs, size_t n)
{
	int rc = 0;
	for (size_t i = 1; rc == 0 && i < n; i++)
		rc = put_varint(b, docs[i] - docs[i - 1]);
	return rc;
}

static inline void key_doc(mr_key *k, uint64_t account, uint8_t tag, uint32_t doc)
{
	key_account(k, account, tag);
	mr_key_u32(k, doc);
}

static inline void key_counter(mr_key *k, uint64_t account, uint8_t which)
{
	key_account(k, account, 'C');
	mr_key_u8(k, which);
}

/* Iterates a token stream: returns 1 with token/pos, 0 at end, MR_ECORRUPT on bad bytes. */
typedef struct stream_iter {
	const uint8_t *p;
	size_t len, at;
	uint32_t pos;
	bool first;
} stream_iter;

static inline int stream_next(stream_iter *it, mr_slice *tok, uint32_t *pos)
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

static inline int parse_meta(mr_slice v, uint32_t id, meta *m)
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

static inline roaring_bitmap_t *decode_bitmap(mr_slice v)
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


/* Runs a query (exec.c). */
int mr_fts__query(builtin *b, uint64_t account, const mr_query_node *root, const mr_search_opts *opts,
		  mr_search_result *out);
int mr_fts__stats(builtin *b, uint64_t *bytes, uint64_t *docs);

#endif
