/*
 * datastore.c — the data-store blob backend (contract in backend.h): a
 * blob store whose `type` is a data-store type keeps its bytes in that
 * data store, for installs that want a single dependency.
 *
 * Layout (key codec of data.h, subspace MR_SUBSPACE_BLOB_DATA):
 *   0x01 | id (32 bytes) | chunk index (u32)  -> up to chunk-size bytes
 *   0x02 | id                                 -> marker: version 1,
 *            size u64, chunk size u32, chunk count u32 (big-endian)
 * (tag 0x00 is the front's inline blobs).  A blob exists exactly when its
 * marker does; stat/get/list only look at markers.
 *
 * put writes the chunks in batches of at most 8 MiB, then the marker in a
 * batch of its own, last: a crash or an error part-way leaves chunks with
 * no marker, which no reader ever sees (and which the next put of that id
 * overwrites or clears).  remove clears the marker first, then the chunks,
 * so a blob vanishes atomically; chunks a crash left behind are cleared by
 * the next put or remove of that id.  Chunk size: `chunk-size` (default
 * 512 KiB, 4 KiB to 8 MiB) — well under the 16 MiB value limit of every
 * data backend, small enough that a ranged read fetches little beyond what
 * it needs, large enough that a 64 MiB blob is 128 rows.
 */
#include "blob/backend.h"

#include "core/common.h"
#include "core/config.h"

#define DS_DEFAULT_CHUNK (512u * 1024u)
#define DS_BATCH_BYTES (8u * 1024u * 1024u)
#define TAG_CHUNK 0x01
#define TAG_MARKER 0x02
#define MARKER_LEN 17

typedef struct ds_inst {
	mr_blob_inst base;
	mr_data *d;
	bool owned;
	uint32_t chunk;
} ds_inst;

static ds_inst *DS(mr_blob_inst *b) { return mr_container_of(b, ds_inst, base); }


static void chunk_key(mr_key *k, const mr_blob_id *id, uint32_t idx)
{
	mr_key_init(k, MR_SUBSPACE_BLOB_DATA);
	mr_key_u8(k, TAG_CHUNK);
	mr_blob__key_id(k, id);
	mr_key_u32(k, idx);
}

static void marker_key(mr_key *k, const mr_blob_id *id)
{
	mr_key_init(k, MR_SUBSPACE_BLOB_DATA);
	mr_key_u8(k, TAG_MARKER);
	mr_blob__key_id(k, id);
}

typedef struct marker {
	uint64_t size;
	uint32_t chunk, count;
} marker;

static int read_marker(ds_inst *s, const mr_blob_id *id, marker *m)
{
	mr_key k;
	marker_key(&k, id);
	mr_buf v = MR_BUF_INIT;
	int rc = mr_data_get(s->d, mr_key_slice(&k), &v);
	if (rc == 0) {
		if (v.len != MARKER_LEN || v.ptr[0] != 1) {
			char text[MR_BLOB_ID_TEXT_LEN + 1];
			mr_blob_id_format(id, text);
			rc = mr_error_set(MR_ECORRUPT, "blob %s: bad chunk marker (%zu bytes)", text, v.len);
		} else {
			m->size = mr_blob__get_be(v.ptr + 1, 8);
			m->chunk = (uint32_t)mr_blob__get_be(v.ptr + 9, 4);
			m->count = (uint32_t)mr_blob__get_be(v.ptr + 13, 4);
		}
	}
	mr_buf_dispose(&v);
	return rc;
}

/* Clears every chunk of id with index >= from (keys-only scan, batches of 512). */
static int clear_chunks(ds_inst *s, const mr_blob_id *id, uint32_t from)
{
	mr_key begin, prefix;
	chunk_key(&begin, id, from);
	mr_key_init(&prefix, MR_SUBSPACE_BLOB_DATA);
	mr_key_u8(&prefix, TAG_CHUNK);
	mr_blob__key_id(&prefix, id);
	uint8_t end_storage[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(&prefix), end_storage, sizeof end_storage);
	r.begin = mr_key_slice(&begin);
	r.flags = MR_SCAN_KEYS_ONLY;
	for (;;) {
		mr_iter *it = NULL;
		mr_batch *b = NULL;
		r.limit = 512;
		int rc = mr_data_scan(s->d, &r, &it);
		if (rc == 0)
			rc = mr_batch_new(&b, s->d);
		mr_slice key, val;
		int n;
		while (rc == 0 && (n = mr_iter_next(it, &key, &val)) > 0)
			rc = mr_batch_clear(b, key);
		if (rc == 0 && n < 0)
			rc = n;
		size_t count = b ? mr_batch_count(b) : 0;
		if (rc == 0 && count)
			rc = mr_batch_commit(b);
		mr_batch_free(b);
		mr_iter_free(it);
		if (rc != 0 || count < 512)
			return rc;
	}
}

static int ds_put(mr_blob_inst *bi, const mr_blob_id *id, mr_blob_read_fn fn, void *payload)
{
	ds_inst *s = DS(bi);
	mr_key k;
	marker_key(&k, id);
	mr_batch *b = NULL;
	uint8_t *buf = mr_malloc(s->chunk);
	if (!buf)
		return MR_ENOMEM;
	/* A marker already there is dropped first: from now on the old chunks
	 * are invisible and may be overwritten. */
	int rc = mr_batch_new(&b, s->d);
	if (rc == 0 && (rc = mr_batch_clear(b, mr_key_slice(&k))) == 0)
		rc = mr_batch_commit(b);
	uint64_t size = 0;
	uint32_t idx = 0;
	size_t batch_bytes = 0;
	bool eof = false;
	while (rc == 0 && !eof) {
		size_t fill = 0;
		while (fill < s->chunk) {
			size_t got = 0;
			if ((rc = fn(buf + fill, s->chunk - fill, &got, payload)) != 0)
				break;
			if (got == 0) {
				eof = true;
				break;
			}
			fill += got;
		}
		if (rc != 0 || fill == 0)
			break;
		if (idx == UINT32_MAX) {
			rc = mr_error_set(MR_ELIMIT, "blob too large for the data store");
			break;
		}
		mr_key ck;
		chunk_key(&ck, id, idx++);
		rc = mr_batch_set(b, mr_key_slice(&ck), mr_slice_of(buf, fill));
		size += fill;
		batch_bytes += fill;
		if (rc == 0 && batch_bytes >= DS_BATCH_BYTES) {
			rc = mr_batch_commit(b);
			mr_batch_reset(b);
			batch_bytes = 0;
		}
	}
	if (rc == 0 && mr_batch_count(b) > 0) {
		rc = mr_batch_commit(b);
		mr_batch_reset(b);
	}
	if (rc == 0) {
		uint8_t m[MARKER_LEN];
		m[0] = 1;
		mr_blob__put_be(m + 1, size, 8);
		mr_blob__put_be(m + 9, s->chunk, 4);
		mr_blob__put_be(m + 13, idx, 4);
		rc = mr_batch_set(b, mr_key_slice(&k), mr_slice_of(m, sizeof m));
		if (rc == 0)
			rc = mr_batch_commit(b);
	}
	/* Chunks beyond the end (an earlier, longer attempt) or of a failed put. */
	if (rc == 0)
		rc = clear_chunks(s, id, idx);
	else
		(void)clear_chunks(s, id, 0);
	mr_batch_free(b);
	mr_free(buf);
	return rc;
}

static int ds_get_range(mr_blob_inst *bi, const mr_blob_id *id, uint64_t off, void *out, size_t len, size_t *got)
{
	ds_inst *s = DS(bi);
	marker m;
	*got = 0;
	int rc = read_marker(s, id, &m);
	if (rc != 0)
		return rc;
	if (off >= m.size || len == 0)
		return 0;
	if (len > m.size - off)
		len = (size_t)(m.size - off);
	mr_buf v = MR_BUF_INIT;
	size_t n = 0;
	while (n < len) {
		uint64_t pos = off + n;
		uint32_t idx = (uint32_t)(pos / m.chunk);
		size_t in = (size_t)(pos % m.chunk);
		mr_key ck;
		chunk_key(&ck, id, idx);
		rc = mr_data_get(s->d, mr_key_slice(&ck), &v);
		uint64_t want = idx + 1 < m.count ? m.chunk : m.size - (uint64_t)idx * m.chunk;
		if (rc == MR_ENOTFOUND || (rc == 0 && v.len != want)) {
			char text[MR_BLOB_ID_TEXT_LEN + 1];
			mr_blob_id_format(id, text);
			rc = mr_error_set(MR_ECORRUPT, "blob %s: chunk %u is %s", text, idx,
					  rc == MR_ENOTFOUND ? "missing" : "of the wrong length");
		}
		if (rc != 0)
			break;
		size_t take = v.len - in < len - n ? v.len - in : len - n;
		memcpy((uint8_t *)out + n, v.ptr + in, take);
		n += take;
	}
	mr_buf_dispose(&v);
	*got = n;
	return rc;
}

static int ds_stat(mr_blob_inst *bi, const mr_blob_id *id, uint64_t *size)
{
	marker m;
	int rc = read_marker(DS(bi), id, &m);
	if (rc == 0 && size)
		*size = m.size;
	return rc;
}

static int ds_remove(mr_blob_inst *bi, const mr_blob_id *id)
{
	ds_inst *s = DS(bi);
	mr_key k;
	marker_key(&k, id);
	mr_batch *b = NULL;
	int rc = mr_batch_new(&b, s->d);
	if (rc == 0 && (rc = mr_batch_clear(b, mr_key_slice(&k))) == 0)
		rc = mr_batch_commit(b);
	mr_batch_free(b);
	if (rc == 0)
		rc = clear_chunks(s, id, 0);
	return rc;
}

static int ds_list(mr_blob_inst *bi, mr_blob_list_fn fn, void *payload)
{
	ds_inst *s = DS(bi);
	mr_key prefix;
	mr_key_init(&prefix, MR_SUBSPACE_BLOB_DATA);
	mr_key_u8(&prefix, TAG_MARKER);
	uint8_t end_storage[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(&prefix), end_storage, sizeof end_storage);
	mr_iter *it = NULL;
	int rc = mr_data_scan(s->d, &r, &it), n;
	mr_slice key, val;
	while (rc == 0 && (n = mr_iter_next(it, &key, &val)) > 0) {
		if (key.len != prefix.len + MR_BLOB_ID_LEN || val.len != MARKER_LEN)
			continue;
		mr_blob_id id;
		memcpy(id.bytes, key.ptr + prefix.len, MR_BLOB_ID_LEN);
		if (fn(&id, mr_blob__get_be(val.ptr + 1, 8), payload) != 0)
			break;
	}
	if (rc == 0 && n < 0)
		rc = n;
	mr_iter_free(it);
	return rc;
}

static void ds_close(mr_blob_inst *bi)
{
	ds_inst *s = DS(bi);
	if (s->owned)
		mr_data_close(s->d);
	mr_free(s);
}

static const mr_blob_backend ds_backend = {
	.version = MR_BLOB_BACKEND_VERSION,
	.name = "datastore",
	.caps = 0,
	.put = ds_put,
	.get_range = ds_get_range,
	.stat = ds_stat,
	.remove = ds_remove,
	.list = ds_list,
	.close = ds_close,
};

int mr_blob__datastore_open(mr_blob_inst **out, const mr_config *cfg, const mr_store_config *sc, mr_data *shared)
{
	int64_t chunk = 0;
	*out = NULL;
	int rc = mr_store_config_size(sc, "chunk-size", DS_DEFAULT_CHUNK, &chunk);
	if (rc != 0)
		return rc;
	if (chunk < 4096 || chunk > 8 * 1024 * 1024)
		return mr_error_set(MR_EINVALID, "%s: store.%s.chunk-size: expected 4KiB to 8MiB, got %lld",
				    mr_store_config_where(sc, "chunk-size"), mr_store_config_id(sc), (long long)chunk);
	ds_inst *s = mr_calloc(1, sizeof(*s));
	if (!s)
		return MR_ENOMEM;
	s->base.backend = &ds_backend;
	s->chunk = (uint32_t)chunk;
	if (shared) {
		s->d = shared;
	} else {
		if ((rc = mr_data_open(&s->d, cfg, mr_store_config_id(sc))) != 0) {
			mr_free(s);
			return rc;
		}
		s->owned = true;
	}
	*out = &s->base;
	return 0;
}
