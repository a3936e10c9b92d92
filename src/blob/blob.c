/*
 * blob.c — the blob store front (include/mailroom/blob.h), the same for
 * every backend: ids, blob records, dedup, links, reservations, quota,
 * compression, inline blobs and purge.  Backends (backend.h) only move
 * bytes; everything else lives in the metadata data store `meta`.
 *
 * Keys in meta (docs/blob-store.md has the full table and the protocol):
 *   BLOB        0x00 | id                      record (state, how stored, sizes, created)
 *   BLOB        0x01                           purge checkpoint
 *   BLOB_LINK   id | account | collection | doc  ""   (a link)
 *   QUOTA       account | 0x00                 counter: linked bytes (each blob once)
 *   QUOTA       account | 0x01 | id            links of id in account (u64) + size (u64)
 *   BLOB_RESERVE 0x00 | id | account           expiry (i64)          (by blob)
 *   BLOB_RESERVE 0x01 | account | id           expiry (i64) + size   (by account)
 *   BLOB_DATA   0x00 | id                      inline bytes
 * An id in a key is its 32 bytes raw (as four big-endian u64 fields).
 *
 * Record states: PENDING (a put is writing the bytes), LIVE (bytes durable;
 * links and reservations may name it), TOMBSTONE (a purge is deleting it).
 * Only a LIVE record can be linked or reserved (the link/reserve batch
 * asserts the record's exact value); purge turns LIVE into TOMBSTONE with an
 * assertion, re-checks links and reservations, and only then removes bytes.
 */
#include "mailroom/blob.h"

#include "blob/backend.h"
#include "blob/compress.h"
#include "blob/hash.h"
#include "core/common.h"
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define REC_VERSION 1
#define REC_LEN 44
enum { ST_PENDING = 1, ST_LIVE = 2, ST_TOMBSTONE = 3 };
enum { STORE_BACKEND = 0, STORE_INLINE = 1 };
enum { BR_BY_BLOB = 0x00, BR_BY_ACCOUNT = 0x01 };
enum { Q_USED = 0x00, Q_REF = 0x01 };

#define IO_CHUNK (1024u * 1024u)
/* A PENDING or TOMBSTONE record older than this is taken as left by a
 * crashed writer or purge and may be taken over. */
#define STALE_MS (10LL * 60 * 1000)
/* How long a put waits for another writer's PENDING or a purge's
 * TOMBSTONE to resolve before giving up with MR_EUNAVAILABLE. */
#define WAIT_MS 30000
#define MAX_INLINE (1024u * 1024u)

struct mr_blob {
	char *id;
	char *type;
	mr_blob_inst *be;
	mr_data *meta;
	int comp;
	uint64_t inline_threshold;
	int64_t grace_ms;
	mr_blob_clock_fn clock;
	void *clock_payload;
};

typedef struct rec {
	int state, storage, comp;
	uint64_t size, stored;
	int64_t created_ms;
	uint8_t token[8];
} rec;

/* ---- small helpers ---- */

static int64_t now_ms(const mr_blob *bs) { return bs->clock ? bs->clock(bs->clock_payload) : mr_now_unix_ms(); }


/* subspace, then a tag byte unless tag < 0, then the blob id */
static mr_slice id_key(mr_key *k, uint8_t subspace, int tag, const mr_blob_id *id)
{
	mr_key_init(k, subspace);
	if (tag >= 0)
		mr_key_u8(k, (uint8_t)tag);
	mr_blob__key_id(k, id);
	return mr_key_slice(k);
}

static mr_slice rec_key(mr_key *k, const mr_blob_id *id) { return id_key(k, MR_SUBSPACE_BLOB, 0x00, id); }
static mr_slice inline_key(mr_key *k, const mr_blob_id *id) { return id_key(k, MR_SUBSPACE_BLOB_DATA, 0x00, id); }
static mr_slice link_prefix(mr_key *k, const mr_blob_id *id) { return id_key(k, MR_SUBSPACE_BLOB_LINK, -1, id); }
static mr_slice res_blob_prefix(mr_key *k, const mr_blob_id *id)
{
	return id_key(k, MR_SUBSPACE_BLOB_RESERVE, BR_BY_BLOB, id);
}

static mr_slice link_key(mr_key *k, const mr_blob_id *id, const mr_blob_owner *o)
{
	link_prefix(k, id);
	mr_key_u32(k, o->account);
	mr_key_u8(k, o->collection);
	mr_key_u64(k, o->document);
	return mr_key_slice(k);
}

/* account, Q_USED: its counter of bytes used; account, Q_REF, id: its link count and size of that blob */
static mr_slice quota_key(mr_key *k, uint32_t account, uint8_t what, const mr_blob_id *id)
{
	mr_key_init(k, MR_SUBSPACE_QUOTA);
	mr_key_u32(k, account);
	mr_key_u8(k, what);
	if (id)
		mr_blob__key_id(k, id);
	return mr_key_slice(k);
}

static mr_slice used_key(mr_key *k, uint32_t account) { return quota_key(k, account, Q_USED, NULL); }
static mr_slice ref_key(mr_key *k, uint32_t account, const mr_blob_id *id) { return quota_key(k, account, Q_REF, id); }

static mr_slice res_blob_key(mr_key *k, const mr_blob_id *id, uint32_t account)
{
	res_blob_prefix(k, id);
	mr_key_u32(k, account);
	return mr_key_slice(k);
}

static mr_slice res_acct_key(mr_key *k, uint32_t account, const mr_blob_id *id)
{
	mr_key_init(k, MR_SUBSPACE_BLOB_RESERVE);
	mr_key_u8(k, BR_BY_ACCOUNT);
	mr_key_u32(k, account);
	mr_blob__key_id(k, id);
	return mr_key_slice(k);
}

static mr_slice checkpoint_key(mr_key *k)
{
	mr_key_init(k, MR_SUBSPACE_BLOB);
	mr_key_u8(k, 0x01);
	return mr_key_slice(k);
}

static void id_from_key(const uint8_t *p, mr_blob_id *id) { memcpy(id->bytes, p, MR_BLOB_ID_LEN); }

static void rec_encode(const rec *r, uint8_t out[REC_LEN])
{
	out[0] = REC_VERSION;
	out[1] = (uint8_t)r->state;
	out[2] = (uint8_t)r->storage;
	out[3] = (uint8_t)r->comp;
	mr_blob__put_be(out + 4, r->size, 8);
	mr_blob__put_be(out + 12, r->stored, 8);
	mr_blob__put_be(out + 20, (uint64_t)r->created_ms, 8);
	memcpy(out + 28, r->token, 8);
	memset(out + 36, 0, 8); /* reserved */
}

static bool rec_decode(mr_slice v, rec *r)
{
	if (v.len != REC_LEN || v.ptr[0] != REC_VERSION || v.ptr[1] < ST_PENDING || v.ptr[1] > ST_TOMBSTONE ||
	    v.ptr[2] > STORE_INLINE || v.ptr[3] > MR_BLOB_COMP_LZ4)
		return false;
	r->state = v.ptr[1];
	r->storage = v.ptr[2];
	r->comp = v.ptr[3];
	r->size = mr_blob__get_be(v.ptr + 4, 8);
	r->stored = mr_blob__get_be(v.ptr + 12, 8);
	r->created_ms = (int64_t)mr_blob__get_be(v.ptr + 20, 8);
	memcpy(r->token, v.ptr + 28, 8);
	return true;
}

static int err(const mr_blob *bs, int rc)
{
	if (rc && rc != MR_ECONFLICT)
		mr_error_prefix("blob store \"%s\" (%s)", bs->id, bs->type);
	return rc;
}

static int set_err(const mr_blob *bs, int code, const mr_blob_id *id, const char *what)
{
	char text[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_format(id, text);
	return mr_error_set(code, "blob store \"%s\" (%s): blob %s: %s", bs->id, bs->type, text, what);
}

/* Prefixes the current message with the store and blob id, keeping the code. */
static int relabel(const mr_blob *bs, const mr_blob_id *id, int rc)
{
	char text[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_format(id, text);
	mr_error_prefix("blob store \"%s\" (%s): blob %s", bs->id, bs->type, text);
	return rc;
}

/* Reads the record: 0 with *r and raw (its exact bytes, for assertions),
 * MR_ENOTFOUND, MR_ECORRUPT or an error. */
static int rec_read(mr_blob *bs, const mr_blob_id *id, rec *r, mr_buf *raw)
{
	mr_key k;
	int rc = mr_data_get(bs->meta, rec_key(&k, id), raw);
	if (rc == 0 && !rec_decode(mr_buf_slice(raw), r))
		return set_err(bs, MR_ECORRUPT, id, "unreadable blob record");
	return rc;
}

/* One-batch transaction helper: commits b, frees nothing. */
static int commit(mr_batch *b)
{
	int rc = mr_batch_commit(b);
	mr_batch_reset(b);
	return rc;
}

static int commit_as(mr_batch *b, mr_durability durability)
{
	int rc = mr_batch_commit_durability(b, durability);
	mr_batch_reset(b);
	return rc;
}

/* ---- open / close ---- */

int mr_blob_open(mr_blob **out, const mr_config *cfg, const char *store_id, mr_data *meta)
{
	*out = NULL;
	if (!meta)
		return mr_error_set(MR_EINVALID, "blob store \"%s\": no metadata data store given", store_id);
	const mr_store_config *sc = mr_config_store(cfg, store_id);
	if (!sc)
		return mr_error_set(MR_ENOTFOUND, "blob store \"%s\": no [store.\"%s\"] in the configuration", store_id,
				    store_id);
	const char *compression = NULL;
	int64_t threshold = 0, grace = 0;
	int comp = 0;
	int rc = mr_store_config_string(sc, "compression", "none", &compression);
	if (rc == 0 && mr_blob__comp_parse(compression, &comp) != 0)
		rc = mr_error_set(MR_EINVALID, "%s: store.%s.compression: expected \"zstd\", \"lz4\" or \"none\", got \"%s\"",
				  mr_store_config_where(sc, "compression"), store_id, compression);
	if (rc == 0)
		rc = mr_store_config_size(sc, "inline-threshold", 0, &threshold);
	if (rc == 0 && (threshold < 0 || threshold > MAX_INLINE))
		rc = mr_error_set(MR_EINVALID, "%s: store.%s.inline-threshold: expected 0 to 1MiB, got %lld",
				  mr_store_config_where(sc, "inline-threshold"), store_id, (long long)threshold);
	if (rc == 0)
		rc = mr_store_config_duration_ms(sc, "purge.grace", 3600 * 1000, &grace);
	if (rc == 0 && grace < 0)
		rc = mr_error_set(MR_EINVALID, "%s: store.%s.purge.grace: must not be negative",
				  mr_store_config_where(sc, "purge.grace"), store_id);
	if (rc != 0)
		return rc;
	mr_blob *bs = mr_calloc(1, sizeof(*bs));
	if (!bs)
		return MR_ENOMEM;
	bs->id = mr_strdup(store_id);
	bs->type = mr_strdup(mr_store_config_type(sc) ? mr_store_config_type(sc) : "");
	bs->meta = meta;
	bs->comp = comp;
	bs->inline_threshold = (uint64_t)threshold;
	bs->grace_ms = grace;
	if (!bs->id || !bs->type) {
		mr_blob_close(bs);
		return MR_ENOMEM;
	}
	if ((rc = mr_blob__backend_open_cfg(&bs->be, cfg, sc, meta)) != 0) {
		mr_blob_close(bs);
		return mr_error_prefix("blob store \"%s\"", store_id);
	}
	*out = bs;
	return 0;
}

void mr_blob_close(mr_blob *bs)
{
	if (!bs)
		return;
	if (bs->be)
		bs->be->backend->close(bs->be);
	mr_free(bs->id);
	mr_free(bs->type);
	mr_free(bs);
}

const char *mr_blob_store_id(const mr_blob *bs) { return bs->id; }
const char *mr_blob_backend_name(const mr_blob *bs) { return bs->be->backend->name; }

void mr_blob_set_clock(mr_blob *bs, mr_blob_clock_fn fn, void *payload)
{
	bs->clock = fn;
	bs->clock_payload = payload;
}

/* ---- put ---- */

/* Where the bytes of a put come from. */
typedef struct source {
	const uint8_t *mem; /* whole blob in memory, or NULL */
	const char *path;   /* else a file, streamed */
	uint64_t size;
	mr_blob_id id;
	void **staged;      /* mem already written by the backend's stage_mem, or NULL / *staged NULL */
	mr_blob_ticket *ticket; /* a deferred put (mr_blob_put_deferred), or NULL */
} source;

/* Pull state for a streamed (file) put: reads, re-hashes (the file must not
 * change between hashing and storing), compresses on the fly. */
typedef struct pull {
	const source *src;
	int fd;
	const uint8_t *mem;
	size_t mem_len, mem_pos;
	mr_blob_hasher h;
	uint64_t read;
	mr_blob_zc *zc;
	mr_buf out;
	size_t out_pos;
	bool eof;
	uint64_t stored;
	uint8_t *inbuf;
} pull;

static int pull_fill(pull *p)
{
	mr_buf_clear(&p->out);
	p->out_pos = 0;
	ssize_t n;
	do
		n = read(p->fd, p->inbuf, IO_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return mr_error_set_errno(MR_EIO, errno, "read \"%s\"", p->src->path);
	if (n == 0) {
		p->eof = true;
		mr_blob_id check;
		mr_blob_hasher_final(&p->h, &check);
		if (p->read != p->src->size || !mr_blob_id_equal(&check, &p->src->id))
			return mr_error_set(MR_EINVALID, "\"%s\" changed while it was being stored", p->src->path);
		return p->zc ? mr_blob__zc_finish(p->zc, &p->out) : 0;
	}
	mr_blob_hasher_update(&p->h, p->inbuf, (size_t)n);
	p->read += (uint64_t)n;
	if (p->zc)
		return mr_blob__zc_update(p->zc, p->inbuf, (size_t)n, &p->out);
	return mr_buf_set(&p->out, p->inbuf, (size_t)n);
}

static int pull_read(void *buf, size_t cap, size_t *got, void *payload)
{
	pull *p = payload;
	*got = 0;
	if (p->mem) {
		size_t n = p->mem_len - p->mem_pos < cap ? p->mem_len - p->mem_pos : cap;
		memcpy(buf, p->mem + p->mem_pos, n);
		p->mem_pos += n;
		*got = n;
		p->stored += n;
		return 0;
	}
	while (p->out_pos == p->out.len) {
		if (p->eof)
			return 0;
		int rc = pull_fill(p);
		if (rc != 0)
			return rc;
	}
	size_t n = p->out.len - p->out_pos < cap ? p->out.len - p->out_pos : cap;
	memcpy(buf, p->out.ptr + p->out_pos, n);
	p->out_pos += n;
	p->stored += n;
	*got = n;
	return 0;
}

/* Reads a small file whole (inline candidates), checking it still hashes to id. */
static int read_small(const source *s, mr_buf *out)
{
	int fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mr_error_set_errno(errno == ENOENT ? MR_ENOTFOUND : MR_EIO, errno, "open \"%s\"", s->path);
	int rc = mr_buf_grow(out, (size_t)s->size + 1);
	mr_buf_clear(out);
	while (rc == 0) {
		uint8_t tmp[65536];
		ssize_t n = read(fd, tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = mr_error_set_errno(MR_EIO, errno, "read \"%s\"", s->path);
		if (n <= 0)
			break;
		rc = mr_buf_put(out, tmp, (size_t)n);
	}
	close(fd);
	mr_blob_id check;
	mr_blob_hash_bytes(out->ptr, out->len, &check);
	if (rc == 0 && (out->len != s->size || !mr_blob_id_equal(&check, &s->id)))
		rc = mr_error_set(MR_EINVALID, "\"%s\" changed while it was being stored", s->path);
	return rc;
}

/* Whether the backend object of id (size bytes) hashes to id: an object
 * found without a record (a crashed put's, possibly a deferred one that
 * never became durable) is adopted only then. */
static bool object_hashes_to(mr_blob *bs, const mr_blob_id *id, uint64_t size)
{
	uint8_t *buf = mr_malloc(IO_CHUNK);
	if (!buf)
		return false;
	mr_blob_hasher h;
	mr_blob_hasher_init(&h);
	uint64_t off = 0;
	bool ok = true;
	while (ok && off < size) {
		size_t want = size - off < IO_CHUNK ? (size_t)(size - off) : IO_CHUNK, got = 0;
		ok = bs->be->backend->get_range(bs->be, id, off, buf, want, &got) == 0 && got == want;
		if (ok)
			mr_blob_hasher_update(&h, buf, got);
		off += got;
	}
	mr_free(buf);
	mr_blob_id check;
	mr_blob_hasher_final(&h, &check);
	return ok && mr_blob_id_equal(&check, id);
}

/* Writes the bytes to the backend.  Fills r->comp, r->stored. */
static int write_backend(mr_blob *bs, const source *s, rec *r)
{
	int rc = 0;
	uint64_t have = 0;
	/* Bytes a crashed put left under the id: an object exactly as long as the
	 * blob is its raw bytes (a compressed object is always shorter: we only
	 * keep compressed forms that are, see below). */
	if (bs->comp == MR_BLOB_COMP_NONE && bs->be->backend->stat(bs->be, &s->id, &have) == 0 && have == s->size &&
	    object_hashes_to(bs, &s->id, have)) {
		r->comp = MR_BLOB_COMP_NONE;
		r->stored = have;
		/* it may be a deferred put's that never became durable */
		if (bs->be->backend->version >= 3 && bs->be->backend->sync) {
			if (s->ticket)
				s->ticket->pending = true; /* synced by mr_blob_flush */
			else
				return bs->be->backend->sync(bs->be);
		}
		return 0;
	}
	mr_error_clear();
	pull p = {.src = s, .fd = -1};
	mr_buf z = MR_BUF_INIT;
	r->comp = MR_BLOB_COMP_NONE;
	if (s->mem) {
		p.mem = s->mem;
		p.mem_len = (size_t)s->size;
		if (bs->comp != MR_BLOB_COMP_NONE && s->size > 0) {
			if ((rc = mr_blob__compress(bs->comp, s->mem, (size_t)s->size, &z)) != 0)
				goto done;
			if (z.len < s->size) { /* keep the compressed form only when it is smaller */
				p.mem = z.ptr;
				p.mem_len = z.len;
				r->comp = bs->comp;
			}
		}
	} else {
		p.fd = open(s->path, O_RDONLY | O_CLOEXEC);
		if (p.fd < 0) {
			rc = mr_error_set_errno(errno == ENOENT ? MR_ENOTFOUND : MR_EIO, errno, "open \"%s\"", s->path);
			goto done;
		}
		p.inbuf = mr_malloc(IO_CHUNK);
		if (!p.inbuf) {
			rc = MR_ENOMEM;
			goto done;
		}
		mr_blob_hasher_init(&p.h);
		if (bs->comp != MR_BLOB_COMP_NONE && s->size > 0) {
			if ((rc = mr_blob__zc_new(&p.zc, bs->comp)) != 0)
				goto done;
			r->comp = bs->comp; /* streamed: kept compressed whatever the ratio */
		}
	}
	if (s->staged && *s->staged && r->comp == MR_BLOB_COMP_NONE) {
		void *st = *s->staged;
		*s->staged = NULL; /* consumed, also on error */
		rc = bs->be->backend->put_staged(bs->be, st, &s->id);
		r->stored = s->size;
		goto done;
	}
	if (p.mem && s->ticket && bs->be->backend->version >= 3 && bs->be->backend->put_mem_deferred) {
		rc = bs->be->backend->put_mem_deferred(bs->be, &s->id, p.mem, p.mem_len);
		r->stored = p.mem_len;
		s->ticket->pending = rc == 0;
		goto done;
	}
	if (p.mem && bs->be->backend->put_mem) {
		rc = bs->be->backend->put_mem(bs->be, &s->id, p.mem, p.mem_len);
		r->stored = p.mem_len;
		goto done;
	}
	rc = bs->be->backend->put(bs->be, &s->id, pull_read, &p);
	r->stored = p.stored;
	/* A streamed compressed object that came out no shorter than the blob
	 * would defeat the raw-length rule above: such an object is only ever
	 * looked at through its record, never adopted by the rule, because the
	 * rule only runs with compression "none" — and then it is rewritten
	 * raw.  (Raw and compressed objects of one id never coexist with a LIVE
	 * record saying otherwise: a put writes only under its own PENDING.) */
done:
	if (p.fd >= 0)
		close(p.fd);
	mr_free(p.inbuf);
	mr_blob__zc_free(p.zc);
	mr_buf_dispose(&p.out);
	mr_buf_dispose(&z);
	return rc;
}

static void new_token(uint8_t token[8])
{
	if (mr_random_bytes(token, 8) != 0) {
		uint64_t t = mr_now_monotonic_ms() ^ ((uint64_t)getpid() << 32);
		mr_blob__put_be(token, t, 8);
	}
}

/* The put state machine (docs/blob-store.md, "put"). */
static int put_common(mr_blob *bs, const source *s, bool *stored_new)
{
	mr_buf raw = MR_BUF_INIT, small = MR_BUF_INIT;
	mr_batch *b = NULL;
	mr_key k, ik;
	rec r;
	bool wrote = false;
	uint64_t waited = 0;
	unsigned attempt = 0;
	int rc = mr_batch_new(&b, bs->meta);
	bool want_inline = s->size < bs->inline_threshold;
	if (rc == 0 && want_inline && !s->mem) {
		rc = read_small(s, &small);
	}
	const uint8_t *bytes = s->mem ? s->mem : small.ptr;
	while (rc == 0) {
		if (attempt++ > 1000) {
			rc = set_err(bs, MR_ECONFLICT, &s->id, "put still conflicting after 1000 attempts");
			break;
		}
		rc = rec_read(bs, &s->id, &r, &raw);
		if (rc != 0 && rc != MR_ENOTFOUND)
			break;
		bool absent = rc == MR_ENOTFOUND;
		rc = 0;
		int64_t now = now_ms(bs);
		if (!absent && r.state == ST_LIVE) {
			/* Dedup.  Refresh the record so the caller has at least half
			 * the grace period to link it. */
			if (now - r.created_ms <= bs->grace_ms / 2)
				break;
			rec fresh = r;
			fresh.created_ms = now;
			uint8_t v[REC_LEN];
			rec_encode(&fresh, v);
			mr_batch_assert_value(b, rec_key(&k, &s->id), mr_buf_slice(&raw));
			mr_batch_set(b, rec_key(&k, &s->id), mr_slice_of(v, REC_LEN));
			rc = commit_as(b, MR_DURABLE_LAZY); /* as LIVE below */
			if (rc == MR_ECONFLICT) {
				rc = 0;
				continue;
			}
			break;
		}
		bool takeover = absent;
		if (!absent) {
			bool stale = now - r.created_ms >= STALE_MS;
			/* Another put's PENDING or a purge's TOMBSTONE: wait for it to
			 * resolve, unless it is stale (its writer crashed). */
			if (!stale) {
				if (waited >= WAIT_MS) {
					rc = set_err(bs, MR_EUNAVAILABLE, &s->id,
						     r.state == ST_PENDING ? "another writer has been storing it for too long; retry later"
									   : "it is being purged; retry later");
					break;
				}
				uint64_t ms = mr_backoff_ms(attempt < 10 ? attempt : 10, 2, 500) + 1;
				mr_sleep_ms(ms);
				waited += ms;
				continue;
			}
			takeover = true;
		}
		MR_ASSERT(takeover);
		rec mine = {.state = ST_PENDING, .created_ms = now, .size = s->size};
		new_token(mine.token);
		uint8_t v[REC_LEN];
		if (want_inline) {
			/* Inline: bytes and a LIVE record in one batch. */
			mr_buf z = MR_BUF_INIT;
			mr_slice data = mr_slice_of(bytes, (size_t)s->size);
			mine.state = ST_LIVE;
			mine.storage = STORE_INLINE;
			if (bs->comp != MR_BLOB_COMP_NONE && s->size > 0 &&
			    mr_blob__compress(bs->comp, bytes, (size_t)s->size, &z) == 0 && z.len < s->size) {
				data = mr_buf_slice(&z);
				mine.comp = bs->comp;
			}
			mine.stored = 0;
			rec_encode(&mine, v);
			if (absent)
				mr_batch_assert_absent(b, rec_key(&k, &s->id));
			else
				mr_batch_assert_value(b, rec_key(&k, &s->id), mr_buf_slice(&raw));
			mr_batch_set(b, rec_key(&k, &s->id), mr_slice_of(v, REC_LEN));
			mr_batch_set(b, inline_key(&ik, &s->id), data);
			rc = commit_as(b, MR_DURABLE_LAZY); /* as LIVE below */
			mr_buf_dispose(&z);
			if (rc == MR_ECONFLICT) {
				rc = 0;
				continue;
			}
			if (rc == 0)
				wrote = true;
			/* bytes of an earlier backend copy (a stale PENDING) are left
			 * to purge's orphan pass */
			break;
		}
		/* 1. PENDING, asserting what we read.  Not logged
		 * (MR_DURABLE_NONE): it only has to be seen by the purges and
		 * puts running meanwhile; lost in a crash, it leaves what it
		 * replaced (absent or a stale record) and the bytes an orphan,
		 * which purge removes. */
		rec_encode(&mine, v);
		if (absent)
			mr_batch_assert_absent(b, rec_key(&k, &s->id));
		else
			mr_batch_assert_value(b, rec_key(&k, &s->id), mr_buf_slice(&raw));
		mr_batch_set(b, rec_key(&k, &s->id), mr_slice_of(v, REC_LEN));
		rc = commit_as(b, MR_DURABLE_NONE);
		if (rc == MR_ECONFLICT) {
			rc = 0;
			continue;
		}
		if (rc != 0)
			break;
		uint8_t pending[REC_LEN];
		memcpy(pending, v, REC_LEN);
		/* 2. the bytes, durable in the backend */
		rec live = mine;
		if ((rc = write_backend(bs, s, &live)) != 0) {
			/* leave no PENDING behind when we can help it */
			mr_batch_assert_value(b, rec_key(&k, &s->id), mr_slice_of(pending, REC_LEN));
			mr_batch_clear(b, rec_key(&k, &s->id));
			int saved = rc;
			char msg[1024];
			snprintf(msg, sizeof msg, "%s", mr_error_last()->message);
			(void)commit(b);
			mr_error_set(saved, "%s", msg);
			rc = saved;
			break;
		}
		if (s->ticket && s->ticket->pending) {
			/* deferred: LIVE goes into the caller's batch (mr_blob_complete) */
			live.state = ST_LIVE;
			live.storage = STORE_BACKEND;
			memcpy(s->ticket->priv, pending, REC_LEN);
			rec_encode(&live, s->ticket->priv + REC_LEN);
			wrote = true;
			break;
		}
		/* 3. LIVE, asserting our PENDING (a purge that tombstoned it
		 * meanwhile wins).  Lazy (logged, not flushed): every link or
		 * reservation of the blob is a later synced commit of this store,
		 * which makes the record durable first; a crash before any leaves
		 * an unreferenced blob, which is garbage anyway (purge removes the
		 * orphan bytes).  So a put costs the bytes' fsyncs only. */
		live.state = ST_LIVE;
		live.storage = STORE_BACKEND;
		live.created_ms = now_ms(bs);
		rec_encode(&live, v);
		mr_batch_assert_value(b, rec_key(&k, &s->id), mr_slice_of(pending, REC_LEN));
		mr_batch_set(b, rec_key(&k, &s->id), mr_slice_of(v, REC_LEN));
		rc = commit_as(b, MR_DURABLE_LAZY);
		if (rc == MR_ECONFLICT) {
			rc = 0;
			continue;
		}
		if (rc == 0)
			wrote = true;
		break;
	}
	if (stored_new)
		*stored_new = wrote;
	mr_batch_free(b);
	mr_buf_dispose(&raw);
	mr_buf_dispose(&small);
	return err(bs, rc);
}

/* Blobs at least this large, stored raw in a backend that can stage, are
 * written before they are hashed, so the device writes while the CPU
 * hashes (at 64 KiB hashing is ~12 % of a synced put on this VM's disk). */
#define STAGE_MIN (16u * 1024u)

int mr_blob_put(mr_blob *bs, const void *data, size_t len, mr_blob_id *id_out, bool *stored_new)
{
	if (!data && len)
		return mr_error_set(MR_EINVALID, "blob store \"%s\": put: NULL data", bs->id);
	source s = {.mem = data ? data : (const uint8_t *)"", .size = len};
	void *staged = NULL;
	const mr_blob_backend *be = bs->be->backend;
	if (len >= STAGE_MIN && len >= bs->inline_threshold && bs->comp == MR_BLOB_COMP_NONE && be->version >= 2 &&
	    be->stage_mem && be->put_staged && be->discard_staged) {
		if (be->stage_mem(bs->be, s.mem, len, &staged) != 0) {
			staged = NULL; /* the plain put below reports any real problem */
			mr_error_clear();
		}
		s.staged = &staged;
	}
	mr_blob_hash_bytes(s.mem, len, &s.id);
	if (id_out)
		*id_out = s.id;
	int rc = put_common(bs, &s, stored_new);
	if (staged) /* not used: a dedup, an adopted object, or an error before the write */
		be->discard_staged(bs->be, staged);
	return rc;
}

int mr_blob_put_deferred(mr_blob *bs, const void *data, size_t len, mr_blob_ticket *t, bool *stored_new)
{
	memset(t, 0, sizeof *t);
	const mr_blob_backend *be = bs->be->backend;
	if (be->version < 3 || !be->put_mem_deferred || !be->sync)
		return mr_blob_put(bs, data, len, &t->id, stored_new);
	if (!data && len)
		return mr_error_set(MR_EINVALID, "blob store \"%s\": put: NULL data", bs->id);
	source s = {.mem = data ? data : (const uint8_t *)"", .size = len, .ticket = t};
	mr_blob_hash_bytes(s.mem, len, &s.id);
	t->id = s.id;
	int rc = put_common(bs, &s, stored_new);
	if (rc != 0)
		t->pending = false;
	return rc;
}

int mr_blob_flush(mr_blob *bs)
{
	const mr_blob_backend *be = bs->be->backend;
	if (be->version < 3 || !be->sync)
		return 0;
	int rc = be->sync(bs->be);
	return rc == 0 ? 0 : err(bs, rc);
}

int mr_blob_complete(mr_blob *bs, mr_batch *b, const mr_blob_ticket *t)
{
	if (!t->pending)
		return 0;
	mr_key k;
	mr_buf cur = MR_BUF_INIT;
	mr_slice pending = mr_slice_of(t->priv, REC_LEN);
	int rc = mr_data_get(bs->meta, rec_key(&k, &t->id), &cur);
	if (rc == 0 && !mr_slice_eq(mr_buf_slice(&cur), pending))
		rc = MR_ENOTFOUND;
	mr_buf_dispose(&cur);
	if (rc == MR_ENOTFOUND) {
		rc = set_err(bs, MR_ECONFLICT, &t->id, "deferred put no longer pending (purged meanwhile); put it again");
	} else if (rc == 0) {
		rec live;
		if (!rec_decode(mr_slice_of(t->priv + REC_LEN, REC_LEN), &live))
			return set_err(bs, MR_EINVALID, &t->id, "not a ticket of mr_blob_put_deferred");
		live.created_ms = now_ms(bs);
		uint8_t v[REC_LEN];
		rec_encode(&live, v);
		if ((rc = mr_batch_assert_value(b, rec_key(&k, &t->id), pending)) == 0)
			rc = mr_batch_set(b, rec_key(&k, &t->id), mr_slice_of(v, REC_LEN));
	}
	return err(bs, rc);
}

int mr_blob_put_file(mr_blob *bs, const char *path, mr_blob_id *id_out, uint64_t *size_out, bool *stored_new)
{
	source s = {.path = path};
	int rc = mr_blob_hash_file(path, &s.id, &s.size);
	if (rc != 0)
		return err(bs, rc);
	if (id_out)
		*id_out = s.id;
	if (size_out)
		*size_out = s.size;
	return put_common(bs, &s, stored_new);
}

/* ---- get ---- */

typedef struct sink {
	uint64_t off, end;  /* the wanted range of the blob */
	uint64_t pos;       /* blob bytes seen so far */
	bool verify;
	mr_blob_hasher h;
	mr_buf *out;        /* append here, or */
	int fd;             /* write here */
	bool whole;         /* keep reading to the end (verify) */
} sink;

static int sink_write(const void *p, size_t n, void *payload)
{
	sink *s = payload;
	const uint8_t *b = p;
	if (s->verify)
		mr_blob_hasher_update(&s->h, b, n);
	uint64_t lo = s->pos, hi = s->pos + n;
	s->pos = hi;
	uint64_t a = lo > s->off ? lo : s->off, z = hi < s->end ? hi : s->end;
	if (a < z) {
		const uint8_t *from = b + (a - lo);
		size_t len = (size_t)(z - a);
		if (s->out) {
			if (mr_buf_put(s->out, from, len) != 0)
				return MR_ENOMEM;
		} else {
			while (len > 0) {
				ssize_t w = write(s->fd, from, len);
				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0)
					return mr_error_set_errno(MR_EIO, errno, "write");
				from += w;
				len -= (size_t)w;
			}
		}
	}
	if (!s->whole && s->pos >= s->end)
		return 1; /* enough */
	return 0;
}

/* Streams the stored blob (decompressing) into the sink.  Stops early when
 * the sink has what it needs.  Checks the full length when read to the end. */
static int read_stream(mr_blob *bs, const mr_blob_id *id, const rec *r, sink *sk)
{
	int rc = 0;
	mr_blob_zd *zd = NULL;
	mr_buf tmp = MR_BUF_INIT;
	if ((rc = mr_blob__zd_new(&zd, r->comp)) != 0)
		return rc;
	bool stopped = false;
	if (r->storage == STORE_INLINE) {
		mr_key k;
		rc = mr_data_get(bs->meta, inline_key(&k, id), &tmp);
		if (rc == MR_ENOTFOUND)
			rc = set_err(bs, MR_ECORRUPT, id, "inline bytes missing");
		else if (rc != 0)
			rc = err(bs, rc);
		if (rc == 0) {
			rc = mr_blob__zd_update(zd, tmp.ptr, tmp.len, sink_write, sk);
			if (rc == 1) {
				stopped = true;
				rc = 0;
			} else if (rc != 0) {
				rc = relabel(bs, id, rc);
			}
		}
	} else {
		if ((rc = mr_buf_grow(&tmp, IO_CHUNK)) != 0)
			goto done;
		/* An uncompressed blob read without verification starts at off. */
		uint64_t off = (r->comp == MR_BLOB_COMP_NONE && !sk->whole) ? sk->off : 0;
		sk->pos = off;
		for (;;) {
			size_t got = 0;
			size_t want = IO_CHUNK;
			if (r->comp == MR_BLOB_COMP_NONE && !sk->whole && sk->end - off < want)
				want = (size_t)(sk->end - off);
			if (want == 0)
				break;
			rc = bs->be->backend->get_range(bs->be, id, off, tmp.ptr, want, &got);
			if (rc == MR_ENOTFOUND)
				rc = set_err(bs, MR_ECORRUPT, id, "the record says stored but the backend has no such object");
			else if (rc != 0)
				rc = err(bs, rc);
			if (rc != 0)
				goto done;
			if (got == 0)
				break;
			off += got;
			rc = mr_blob__zd_update(zd, tmp.ptr, got, sink_write, sk);
			if (rc == 1) {
				stopped = true;
				rc = 0;
				break;
			}
			if (rc != 0) {
				rc = relabel(bs, id, rc);
				goto done;
			}
			if (got < want)
				break;
		}
	}
	if (rc == 0 && !stopped) {
		if ((rc = mr_blob__zd_finish(zd)) != 0)
			rc = relabel(bs, id, rc);
		else if ((sk->whole || sk->end >= r->size) && sk->pos != r->size)
			rc = set_err(bs, MR_ECORRUPT, id, "stored length differs from the recorded size");
	}
done:
	mr_blob__zd_free(zd);
	mr_buf_dispose(&tmp);
	return rc;
}

/* Counts keys under prefix (values checked by fn when non-NULL). */
static int count_prefix(mr_blob *bs, mr_slice prefix, bool (*keep)(mr_slice v, void *p), void *p, uint64_t *out,
			size_t limit)
{
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(prefix, end, sizeof end);
	r.limit = limit;
	if (!keep)
		r.flags = MR_SCAN_KEYS_ONLY;
	mr_iter *it = NULL;
	int rc = mr_data_scan(bs->meta, &r, &it), n = 0;
	mr_slice key, val;
	*out = 0;
	while (rc == 0 && (n = mr_iter_next(it, &key, &val)) > 0)
		if (!keep || keep(val, p))
			(*out)++;
	if (rc == 0 && n < 0)
		rc = n;
	mr_iter_free(it);
	return rc;
}

static bool unexpired(mr_slice v, void *p)
{
	return v.len >= 8 && (int64_t)mr_blob__get_be(v.ptr, 8) > *(const int64_t *)p;
}

/* Whether a link or an unexpired (at now) reservation holds id. */
static int blob_held(mr_blob *bs, const mr_blob_id *id, int64_t now, bool *out)
{
	mr_key k;
	uint64_t n = 0;
	int rc = count_prefix(bs, link_prefix(&k, id), NULL, NULL, &n, 1);
	if (rc == 0 && n == 0)
		rc = count_prefix(bs, res_blob_prefix(&k, id), unexpired, &now, &n, 0);
	*out = n > 0;
	return rc;
}

/* The record of a readable blob: LIVE, or a TOMBSTONE that something still
 * holds.  A purge tombstones a blob, then re-checks its links and
 * reservations and puts the record back if one exists (a link committed
 * just before the tombstone); until it does — or forever, if that purge
 * was killed in between, until the next purge run — the record says
 * TOMBSTONE while the blob is linked.  Its bytes are safe: no purge removes
 * the bytes of a blob it finds held after its tombstone, and no link can
 * be added after it.  So a held TOMBSTONE reads like LIVE (the purge copied
 * storage, compression and sizes into it). */
static int get_live(mr_blob *bs, const mr_blob_id *id, rec *r)
{
	mr_buf raw = MR_BUF_INIT;
	int rc = rec_read(bs, id, r, &raw);
	mr_buf_dispose(&raw);
	if (rc == 0 && r->state == ST_TOMBSTONE) {
		bool h = false;
		if ((rc = blob_held(bs, id, now_ms(bs), &h)) != 0)
			return err(bs, rc);
		if (h)
			return 0;
	}
	if (rc == MR_ENOTFOUND || (rc == 0 && r->state != ST_LIVE))
		return set_err(bs, MR_ENOTFOUND, id, "no such blob");
	return rc == 0 ? 0 : err(bs, rc);
}

static int get_once(mr_blob *bs, const mr_blob_id *id, uint64_t off, uint64_t len, unsigned flags, mr_buf *out,
		    int fd, bool *tombstoned)
{
	rec r;
	int rc = get_live(bs, id, &r);
	if (rc != 0)
		return rc;
	*tombstoned = r.state == ST_TOMBSTONE;
	if (off > r.size)
		return set_err(bs, MR_EINVALID, id, "read offset past the end");
	uint64_t end = len > r.size - off ? r.size : off + len;
	size_t before = out ? out->len : 0;
	sink sk = {.off = off, .end = end, .verify = (flags & MR_BLOB_VERIFY) != 0, .out = out, .fd = fd};
	sk.whole = sk.verify;
	if (sk.verify)
		mr_blob_hasher_init(&sk.h);
	if (end == off && !sk.verify)
		return 0;
	if (out && mr_buf_grow(out, out->len + (size_t)(end - off) + 1) != 0)
		return MR_ENOMEM;
	if (out && r.storage == STORE_BACKEND && r.comp == MR_BLOB_COMP_NONE && (!sk.verify || (off == 0 && end == r.size))) {
		/* Direct read: the stored bytes are the blob; one backend read
		 * straight into the caller's buffer (hashed there when verifying),
		 * one byte more than the record says to catch a longer object. */
		size_t want = (size_t)(end - off) + (end == r.size ? 1 : 0), got = 0;
		rc = bs->be->backend->get_range(bs->be, id, off, out->ptr + out->len, want, &got);
		if (rc == MR_ENOTFOUND)
			rc = set_err(bs, MR_ECORRUPT, id, "the record says stored but the backend has no such object");
		else if (rc != 0)
			rc = err(bs, rc);
		else if (end == r.size ? got != want - 1 : got != want)
			rc = set_err(bs, MR_ECORRUPT, id, "stored length differs from the recorded size");
		if (rc == 0 && sk.verify) {
			mr_blob_id check;
			mr_blob_hasher_update(&sk.h, out->ptr + out->len, got);
			mr_blob_hasher_final(&sk.h, &check);
			if (!mr_blob_id_equal(&check, id))
				rc = set_err(bs, MR_ECORRUPT, id, "stored bytes do not hash to the id");
		}
		if (rc == 0)
			out->len += got;
		out->ptr[out->len] = 0;
		return rc;
	}
	rc = read_stream(bs, id, &r, &sk);
	if (rc == 0 && sk.verify) {
		mr_blob_id check;
		mr_blob_hasher_final(&sk.h, &check);
		if (!mr_blob_id_equal(&check, id))
			rc = set_err(bs, MR_ECORRUPT, id, "stored bytes do not hash to the id");
	}
	if (rc != 0 && out) {
		out->len = before; /* never hand back wrong bytes */
		if (out->ptr)
			out->ptr[before] = 0;
	}
	return rc;
}

static int get_common(mr_blob *bs, const mr_blob_id *id, uint64_t off, uint64_t len, unsigned flags, mr_buf *out,
		      int fd)
{
	bool tombstoned = false;
	int rc = get_once(bs, id, off, len, flags, out, fd, &tombstoned);
	if (rc == MR_ECORRUPT && tombstoned) {
		/* bytes gone under a tombstone: unlinked and purged while we
		 * read, not damage */
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", mr_error_last()->message);
		rec r;
		if (get_live(bs, id, &r) == MR_ENOTFOUND)
			return MR_ENOTFOUND;
		mr_error_set(MR_ECORRUPT, "%s", msg);
	}
	return rc;
}

int mr_blob_get(mr_blob *bs, const mr_blob_id *id, uint64_t off, uint64_t len, unsigned flags, mr_buf *out)
{
	return get_common(bs, id, off, len, flags, out, -1);
}

int mr_blob_get_fd(mr_blob *bs, const mr_blob_id *id, int fd, unsigned flags)
{
	return get_common(bs, id, 0, UINT64_MAX, flags, NULL, fd);
}

/* ---- links ---- */

/* Current value of key as the batch will see it: pending write in b, else the store. */
static int read_through(mr_blob *bs, mr_batch *b, mr_slice key, mr_buf *v, bool *absent, bool *from_batch)
{
	mr_slice pv;
	int p = mr_batch_lookup(b, key, &pv);
	*from_batch = p != 0;
	if (p == 1) {
		*absent = false;
		return mr_buf_set(v, pv.ptr, pv.len);
	}
	if (p == 2) {
		*absent = true;
		mr_buf_clear(v);
		return 0;
	}
	int rc = mr_data_get(bs->meta, key, v);
	*absent = rc == MR_ENOTFOUND;
	return rc == MR_ENOTFOUND ? 0 : rc;
}

static int link_common(mr_blob *bs, mr_batch *b, const mr_blob_id *id, const mr_blob_owner *o, int dir)
{
	mr_key lk, rk, qk, uk;
	mr_buf v = MR_BUF_INIT, rv = MR_BUF_INIT;
	bool absent, fb, ref_absent, ref_fb;
	rec r;
	int rc = read_through(bs, b, link_key(&lk, id, o), &v, &absent, &fb);
	if (rc != 0)
		goto done;
	if ((dir > 0 && !absent) || (dir < 0 && absent)) {
		/* already linked / not linked: a no-op, but one that conflicts
		 * with a concurrent change of the same link */
		if (!fb)
			rc = absent ? mr_batch_assert_absent(b, mr_key_slice(&lk))
				    : mr_batch_assert_value(b, mr_key_slice(&lk), mr_buf_slice(&v));
		goto done;
	}
	uint64_t size = 0, count = 0;
	if ((rc = read_through(bs, b, ref_key(&qk, o->account, id), &rv, &ref_absent, &ref_fb)) != 0)
		goto done;
	if (!ref_absent) {
		if (rv.len != 16) {
			rc = set_err(bs, MR_ECORRUPT, id, "bad per-account link count");
			goto done;
		}
		count = mr_blob__get_be(rv.ptr, 8);
		size = mr_blob__get_be(rv.ptr + 8, 8);
	}
	bool link_fb = fb;
	if (dir > 0) {
		/* the blob must be LIVE; assert its record so a purge that
		 * tombstones it first makes this batch conflict */
		bool rec_absent, rec_fb;
		if ((rc = read_through(bs, b, rec_key(&rk, id), &v, &rec_absent, &rec_fb)) != 0)
			goto done;
		if (rec_absent || !rec_decode(mr_buf_slice(&v), &r) || r.state != ST_LIVE) {
			rc = set_err(bs, MR_ENOTFOUND, id, "cannot link: no such blob");
			goto done;
		}
		if (!rec_fb)
			rc = mr_batch_assert_value(b, mr_key_slice(&rk), mr_buf_slice(&v));
		size = r.size;
		if (rc == 0 && !link_fb)
			rc = mr_batch_assert_absent(b, mr_key_slice(&lk));
		if (rc == 0)
			rc = mr_batch_set(b, mr_key_slice(&lk), MR_SLICE_EMPTY);
	} else {
		if (ref_absent || count == 0) {
			rc = set_err(bs, MR_ECORRUPT, id, "link without a per-account link count");
			goto done;
		}
		if (!link_fb)
			rc = mr_batch_assert_value(b, mr_key_slice(&lk), mr_buf_slice(&v));
		if (rc == 0)
			rc = mr_batch_clear(b, mr_key_slice(&lk));
	}
	if (rc != 0)
		goto done;
	/* per-(account, blob) count, asserted unless this batch already wrote it */
	if (!ref_fb) {
		rc = ref_absent ? mr_batch_assert_absent(b, mr_key_slice(&qk))
				: mr_batch_assert_value(b, mr_key_slice(&qk), mr_buf_slice(&rv));
		if (rc != 0)
			goto done;
	}
	count = dir > 0 ? count + 1 : count - 1;
	if (count == 0) {
		rc = mr_batch_clear(b, mr_key_slice(&qk));
		if (rc == 0)
			rc = mr_batch_add(b, used_key(&uk, o->account), -(int64_t)size);
	} else {
		uint8_t cv[16];
		mr_blob__put_be(cv, count, 8);
		mr_blob__put_be(cv + 8, size, 8);
		rc = mr_batch_set(b, mr_key_slice(&qk), mr_slice_of(cv, 16));
		if (rc == 0 && count == 1 && dir > 0)
			rc = mr_batch_add(b, used_key(&uk, o->account), (int64_t)size);
	}
done:
	mr_buf_dispose(&v);
	mr_buf_dispose(&rv);
	return err(bs, rc);
}

int mr_blob_link(mr_blob *bs, mr_batch *b, const mr_blob_id *id, const mr_blob_owner *owner)
{
	return link_common(bs, b, id, owner, +1);
}

int mr_blob_unlink(mr_blob *bs, mr_batch *b, const mr_blob_id *id, const mr_blob_owner *owner)
{
	return link_common(bs, b, id, owner, -1);
}

/* ---- reservations ---- */

typedef struct res_txn {
	mr_blob *bs;
	const mr_blob_id *id;
	uint32_t account;
	int64_t expires;
	bool release;
} res_txn;

static int reserve_txn(mr_data *d, void *payload)
{
	res_txn *t = payload;
	mr_blob *bs = t->bs;
	mr_buf raw = MR_BUF_INIT, old = MR_BUF_INIT;
	mr_batch *b = NULL;
	mr_key rk, ak, bk;
	rec r;
	int rc = mr_batch_new(&b, d);
	if (rc == 0)
		rc = mr_data_get(d, res_acct_key(&ak, t->account, t->id), &old);
	bool had = rc == 0;
	if (rc == MR_ENOTFOUND)
		rc = 0;
	if (rc != 0)
		goto done;
	if (t->release) {
		if (!had)
			goto done; /* nothing to release */
		mr_batch_assert_value(b, mr_key_slice(&ak), mr_buf_slice(&old));
		mr_batch_clear(b, mr_key_slice(&ak));
		mr_batch_clear(b, res_blob_key(&bk, t->id, t->account));
		rc = mr_batch_commit(b);
		goto done;
	}
	rc = rec_read(bs, t->id, &r, &raw);
	if (rc == MR_ENOTFOUND || (rc == 0 && r.state != ST_LIVE)) {
		rc = set_err(bs, MR_ENOTFOUND, t->id, "cannot reserve: no such blob");
		goto done;
	}
	if (rc != 0)
		goto done;
	uint8_t av[16], bv[8];
	mr_blob__put_be(av, (uint64_t)t->expires, 8);
	mr_blob__put_be(av + 8, r.size, 8);
	mr_blob__put_be(bv, (uint64_t)t->expires, 8);
	mr_batch_assert_value(b, rec_key(&rk, t->id), mr_buf_slice(&raw));
	if (had)
		mr_batch_assert_value(b, mr_key_slice(&ak), mr_buf_slice(&old));
	else
		mr_batch_assert_absent(b, mr_key_slice(&ak));
	mr_batch_set(b, mr_key_slice(&ak), mr_slice_of(av, 16));
	mr_batch_set(b, res_blob_key(&bk, t->id, t->account), mr_slice_of(bv, 8));
	rc = mr_batch_commit(b);
done:
	mr_batch_free(b);
	mr_buf_dispose(&raw);
	mr_buf_dispose(&old);
	return rc;
}

int mr_blob_reserve(mr_blob *bs, const mr_blob_id *id, uint32_t account, int64_t expires_ms)
{
	res_txn t = {bs, id, account, expires_ms, false};
	return err(bs, mr_data_retry(bs->meta, reserve_txn, 20, 5, 500, &t));
}

int mr_blob_release(mr_blob *bs, const mr_blob_id *id, uint32_t account)
{
	res_txn t = {bs, id, account, 0, true};
	return err(bs, mr_data_retry(bs->meta, reserve_txn, 20, 5, 500, &t));
}

/* ---- stat and quota ---- */

int mr_blob_stat(mr_blob *bs, const mr_blob_id *id, mr_blob_info *out)
{
	rec r;
	int rc = get_live(bs, id, &r);
	if (rc != 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->size = r.size;
	out->stored_size = r.storage == STORE_INLINE ? 0 : r.stored;
	out->inline_stored = r.storage == STORE_INLINE;
	out->compression = mr_blob__comp_name(r.comp);
	out->created_ms = r.created_ms;
	mr_key k;
	int64_t now = now_ms(bs);
	rc = count_prefix(bs, link_prefix(&k, id), NULL, NULL, &out->links, 0);
	if (rc == 0)
		rc = count_prefix(bs, res_blob_prefix(&k, id), unexpired, &now, &out->reservations, 0);
	return err(bs, rc);
}

int mr_blob_quota_used(mr_blob *bs, uint32_t account, uint64_t *bytes)
{
	mr_key k;
	int64_t linked = 0;
	*bytes = 0;
	int rc = mr_data_get_counter(bs->meta, used_key(&k, account), &linked);
	if (rc != 0)
		return err(bs, rc);
	uint64_t total = linked > 0 ? (uint64_t)linked : 0;
	/* unexpired reservations of blobs the account has not linked */
	mr_key_init(&k, MR_SUBSPACE_BLOB_RESERVE);
	mr_key_u8(&k, BR_BY_ACCOUNT);
	mr_key_u32(&k, account);
	size_t plen = k.len;
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(&k), end, sizeof end);
	mr_iter *it = NULL;
	int64_t now = now_ms(bs);
	mr_buf tmp = MR_BUF_INIT;
	rc = mr_data_scan(bs->meta, &r, &it);
	int n = 0;
	mr_slice key, val;
	while (rc == 0 && (n = mr_iter_next(it, &key, &val)) > 0) {
		if (key.len != plen + MR_BLOB_ID_LEN || val.len != 16 || (int64_t)mr_blob__get_be(val.ptr, 8) <= now)
			continue;
		mr_blob_id id;
		id_from_key(key.ptr + plen, &id);
		mr_key qk;
		int g = mr_data_get(bs->meta, ref_key(&qk, account, &id), &tmp);
		if (g == MR_ENOTFOUND)
			total += mr_blob__get_be(val.ptr + 8, 8);
		else if (g != 0)
			rc = g;
	}
	if (rc == 0 && n < 0)
		rc = n;
	mr_iter_free(it);
	mr_buf_dispose(&tmp);
	if (rc == 0)
		*bytes = total;
	return err(bs, rc);
}

/* ---- purge ---- */

typedef struct purge_ctx {
	mr_blob *bs;
	const mr_blob_purge_opts *opts;
	mr_blob_purge_stats *st;
	int64_t grace, now;
	uint64_t handled;
} purge_ctx;

static bool should_stop(purge_ctx *c)
{
	if (c->opts && c->opts->stop && *c->opts->stop)
		return true;
	return c->opts && c->opts->max_blobs && c->handled >= c->opts->max_blobs;
}

enum { PH_RECORDS = 2 }; /* checkpoint value: phase byte + last record id */

static int save_checkpoint(mr_blob *bs, int phase, const mr_blob_id *last)
{
	mr_key k;
	uint8_t v[1 + MR_BLOB_ID_LEN];
	v[0] = (uint8_t)phase;
	if (last)
		memcpy(v + 1, last->bytes, MR_BLOB_ID_LEN);
	else
		memset(v + 1, 0, MR_BLOB_ID_LEN);
	mr_batch *b = NULL;
	int rc = mr_batch_new(&b, bs->meta);
	if (rc == 0)
		rc = phase ? mr_batch_set(b, checkpoint_key(&k), mr_slice_of(v, sizeof v))
			   : mr_batch_clear(b, checkpoint_key(&k));
	if (rc == 0)
		rc = mr_batch_commit(b);
	mr_batch_free(b);
	return rc;
}

/* Phase 1: expired reservations (by-account index drives; both keys go). */
static int purge_reservations(purge_ctx *c)
{
	mr_blob *bs = c->bs;
	mr_key k;
	mr_key_init(&k, MR_SUBSPACE_BLOB_RESERVE);
	mr_key_u8(&k, BR_BY_ACCOUNT);
	size_t plen = k.len;
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(&k), end, sizeof end);
	mr_iter *it = NULL;
	mr_batch *b = NULL;
	int rc = mr_data_scan(bs->meta, &r, &it), n = 0;
	if (rc == 0)
		rc = mr_batch_new(&b, bs->meta);
	mr_slice key, val;
	while (rc == 0 && (n = mr_iter_next(it, &key, &val)) > 0) {
		if (key.len != plen + 4 + MR_BLOB_ID_LEN || val.len != 16 ||
		    (int64_t)mr_blob__get_be(val.ptr, 8) > c->now)
			continue;
		uint32_t account = (uint32_t)mr_blob__get_be(key.ptr + plen, 4);
		mr_blob_id id;
		id_from_key(key.ptr + plen + 4, &id);
		mr_key bk;
		mr_batch_assert_value(b, key, val); /* a concurrent re-reserve wins */
		mr_batch_clear(b, key);
		mr_batch_clear(b, res_blob_key(&bk, &id, account));
		int cr = commit(b);
		if (cr == 0)
			c->st->reservations_expired++;
		else if (cr != MR_ECONFLICT)
			rc = cr;
		if (rc == 0 && should_stop(c))
			break;
	}
	if (rc == 0 && n < 0)
		rc = n;
	mr_iter_free(it);
	mr_batch_free(b);
	return rc;
}


/* Clears every reservation key (both indexes) of a blob being deleted. */
static int clear_reservations(purge_ctx *c, mr_batch *b, const mr_blob_id *id)
{
	mr_key k;
	mr_slice prefix = res_blob_prefix(&k, id);
	size_t plen = prefix.len;
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(prefix, end, sizeof end);
	r.flags = MR_SCAN_KEYS_ONLY;
	mr_iter *it = NULL;
	int rc = mr_data_scan(c->bs->meta, &r, &it), n = 0;
	mr_slice key, val;
	while (rc == 0 && (n = mr_iter_next(it, &key, &val)) > 0) {
		if (key.len != plen + 4)
			continue;
		mr_key ak;
		rc = mr_batch_clear(b, key);
		if (rc == 0)
			rc = mr_batch_clear(b, res_acct_key(&ak, (uint32_t)mr_blob__get_be(key.ptr + plen, 4), id));
	}
	if (rc == 0 && n < 0)
		rc = n;
	mr_iter_free(it);
	return rc;
}

/*
 * Deletes one blob whose record read as `raw` (or absent when raw is NULL:
 * an orphan backend object).  Protocol: TOMBSTONE asserting what was read;
 * re-check links and reservations (a link committed before the tombstone
 * is seen now; one after it conflicted); restore if held; else remove the
 * bytes, then clear the record asserting our TOMBSTONE.
 * Returns 0 (deleted or skipped; *deleted says which) or an error.
 */
static int purge_one(purge_ctx *c, const mr_blob_id *id, const mr_buf *raw, const rec *r, bool *deleted)
{
	mr_blob *bs = c->bs;
	mr_key k, ik;
	mr_batch *b = NULL;
	*deleted = false;
	int rc = mr_batch_new(&b, bs->meta);
	if (rc != 0)
		return rc;
	rec t = {.state = ST_TOMBSTONE, .created_ms = c->now};
	if (r) {
		t.storage = r->storage;
		t.comp = r->comp;
		t.size = r->size;
		t.stored = r->stored;
	}
	new_token(t.token);
	uint8_t tv[REC_LEN];
	rec_encode(&t, tv);
	if (raw)
		mr_batch_assert_value(b, rec_key(&k, id), mr_buf_slice(raw));
	else
		mr_batch_assert_absent(b, rec_key(&k, id));
	mr_batch_set(b, rec_key(&k, id), mr_slice_of(tv, REC_LEN));
	rc = commit(b);
	if (rc == MR_ECONFLICT) {
		rc = 0; /* someone linked, uploaded or purged it meanwhile */
		goto done;
	}
	if (rc != 0)
		goto done;
	bool h = false;
	if (r && r->state != ST_PENDING && (rc = blob_held(c->bs, id, c->now, &h)) != 0)
		goto done;
	if (h) {
		/* a link or reservation committed before our tombstone: put the
		 * record back as it was (a crashed purge's TOMBSTONE becomes LIVE
		 * again: it never removed bytes of a held blob) */
		uint8_t lv[REC_LEN];
		rec back = *r;
		if (back.state == ST_TOMBSTONE) {
			back.state = ST_LIVE;
			back.created_ms = c->now;
		}
		rec_encode(&back, lv);
		mr_batch_assert_value(b, rec_key(&k, id), mr_slice_of(tv, REC_LEN));
		mr_batch_set(b, rec_key(&k, id), r->state == ST_LIVE ? mr_buf_slice(raw) : mr_slice_of(lv, REC_LEN));
		rc = commit(b);
		if (rc == MR_ECONFLICT)
			rc = 0;
		goto done;
	}
	/* bytes first (idempotent), record last */
	if (!r || r->storage == STORE_BACKEND || r->state != ST_LIVE) {
		rc = bs->be->backend->remove(bs->be, id);
		if (rc != 0)
			goto done; /* the TOMBSTONE stays; a later run finishes */
	}
	mr_batch_assert_value(b, rec_key(&k, id), mr_slice_of(tv, REC_LEN));
	mr_batch_clear(b, rec_key(&k, id));
	mr_batch_clear(b, inline_key(&ik, id));
	if ((rc = clear_reservations(c, b, id)) != 0)
		goto done;
	rc = commit(b);
	if (rc == MR_ECONFLICT)
		rc = 0;
	else if (rc == 0)
		*deleted = true;
done:
	mr_batch_free(b);
	return rc;
}

/* One pass over the records after `after` (exclusive) up to `upto`
 * (inclusive); NULL = from the start / to the end.  Sets *stopped. */
static int purge_records_range(purge_ctx *c, const mr_blob_id *after, const mr_blob_id *upto, bool *stopped)
{
	mr_blob *bs = c->bs;
	mr_key pk, bk, ek;
	mr_key_init(&pk, MR_SUBSPACE_BLOB);
	mr_key_u8(&pk, 0x00);
	size_t plen = pk.len;
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r = mr_range_prefix(mr_key_slice(&pk), end, sizeof end);
	if (after) {
		r.begin = rec_key(&bk, after);
		r.begin_exclusive = true;
	}
	if (upto) {
		r.end = rec_key(&ek, upto);
		r.end_inclusive = true;
	}
	*stopped = false;
	mr_iter *it = NULL;
	mr_buf raw = MR_BUF_INIT;
	int rc = mr_data_scan(bs->meta, &r, &it), n = 0;
	mr_slice key, val;
	uint64_t since_save = 0;
	while (rc == 0 && (n = mr_iter_next(it, &key, &val)) > 0) {
		if (key.len != plen + MR_BLOB_ID_LEN)
			continue;
		mr_blob_id id;
		id_from_key(key.ptr + plen, &id);
		rec rr;
		if (!rec_decode(val, &rr))
			continue; /* unreadable records are left for a person to look at */
		int64_t age = c->now - rr.created_ms;
		bool candidate = rr.state == ST_TOMBSTONE ? age >= STALE_MS || age >= c->grace : age >= c->grace;
		/* a TOMBSTONE goes to purge_one even when held: it restores it */
		if (candidate && rr.state == ST_LIVE) {
			bool h = false;
			if ((rc = blob_held(c->bs, &id, c->now, &h)) != 0)
				break;
			candidate = !h;
		}
		if (candidate) {
			bool deleted = false;
			if ((rc = mr_buf_set(&raw, val.ptr, val.len)) != 0 ||
			    (rc = purge_one(c, &id, &raw, &rr, &deleted)) != 0)
				break;
			if (deleted && rr.state == ST_LIVE) {
				c->st->blobs_deleted++;
				c->st->bytes_deleted += rr.size;
			} else if (deleted) {
				c->st->orphans_deleted++; /* a crashed put's or purge's leftovers */
			}
		}
		c->handled++;
		if (++since_save >= 256 || should_stop(c)) {
			since_save = 0;
			if ((rc = save_checkpoint(bs, PH_RECORDS, &id)) != 0)
				break;
			if (should_stop(c)) {
				*stopped = true;
				break;
			}
		}
	}
	if (rc == 0 && n < 0)
		rc = n;
	mr_iter_free(it);
	mr_buf_dispose(&raw);
	return rc;
}

/* Every record once: from where an interrupted run stopped to the end,
 * then from the start round to that point, so a run that completes has
 * looked at every record with its own clock (which keeps purge
 * idempotent: a second run right after deletes nothing). */
static int purge_records(purge_ctx *c, const mr_blob_id *resume, bool *stopped)
{
	int rc = purge_records_range(c, resume, NULL, stopped);
	if (rc == 0 && !*stopped && resume)
		rc = purge_records_range(c, NULL, resume, stopped);
	return rc;
}

/* Orphans: backend objects no record names.  Listed first (the callback
 * only collects), then each goes through purge_one with "absent". */
typedef struct orphan_list {
	mr_blob_id *ids;
	size_t n, cap;
	int err;
} orphan_list;

static int collect(const mr_blob_id *id, uint64_t size, void *payload)
{
	(void)size;
	orphan_list *l = payload;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		mr_blob_id *ids = mr_realloc(l->ids, cap * sizeof(*ids));
		if (!ids) {
			l->err = MR_ENOMEM;
			return 1;
		}
		l->ids = ids;
		l->cap = cap;
	}
	l->ids[l->n++] = *id;
	return 0;
}

#define PARTIAL_MIN_AGE_MS (15 * 60 * 1000)

static int purge_orphans(purge_ctx *c)
{
	mr_blob *bs = c->bs;
	if (!bs->be->backend->list)
		return 0;
	orphan_list l = {0};
	int rc = bs->be->backend->list(bs->be, collect, &l);
	if (rc == 0)
		rc = l.err;
	mr_buf raw = MR_BUF_INIT;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		rec r;
		int g = rec_read(bs, &l.ids[i], &r, &raw);
		bool deleted = false;
		if (g == MR_ENOTFOUND) {
			if ((rc = purge_one(c, &l.ids[i], NULL, NULL, &deleted)) == 0 && deleted)
				c->st->orphans_deleted++;
		} else if (g == 0 && r.state == ST_LIVE && r.storage == STORE_INLINE) {
			/* an inline blob whose earlier backend copy was left behind:
			 * not referenced by its record; safe to remove only under the
			 * record's protection, so leave it (harmless, rare). */
		} else if (g != 0 && g != MR_ECORRUPT) {
			rc = g;
		}
		if (should_stop(c))
			break;
	}
	mr_free(l.ids);
	mr_buf_dispose(&raw);
	return rc;
}

int mr_blob_purge(mr_blob *bs, const mr_blob_purge_opts *opts, mr_blob_purge_stats *stats)
{
	mr_blob_purge_stats local;
	mr_blob_purge_stats *st = stats ? stats : &local;
	memset(st, 0, sizeof(*st));
	purge_ctx c = {.bs = bs, .opts = opts, .st = st, .now = now_ms(bs)};
	c.grace = opts && opts->grace_ms >= 0 ? opts->grace_ms : bs->grace_ms;
	/* where a stopped (or killed) run left the record pass */
	mr_key k;
	mr_buf cp = MR_BUF_INIT;
	mr_blob_id resume;
	bool have_resume = false, stopped = false;
	int rc = mr_data_get(bs->meta, checkpoint_key(&k), &cp);
	if (rc == 0 && cp.len == 1 + MR_BLOB_ID_LEN && cp.ptr[0] == PH_RECORDS) {
		memcpy(resume.bytes, cp.ptr + 1, MR_BLOB_ID_LEN);
		have_resume = true;
	}
	mr_buf_dispose(&cp);
	rc = rc == MR_ENOTFOUND ? 0 : rc;
	if (rc == 0)
		rc = purge_reservations(&c);
	if (rc == 0 && should_stop(&c))
		return 0; /* the checkpoint (if any) stays */
	if (rc == 0)
		rc = purge_records(&c, have_resume ? &resume : NULL, &stopped);
	if (rc != 0 || stopped)
		return err(bs, rc); /* checkpoint saved by purge_records */
	if ((rc = save_checkpoint(bs, 0, NULL)) == 0)
		rc = purge_orphans(&c);
	if (rc == 0 && !should_stop(&c) && bs->be->backend->sweep_partial) {
		/* a put writes its temp file continuously: 15 min unmodified is abandoned */
		int64_t age_ms = c.grace > PARTIAL_MIN_AGE_MS ? c.grace : PARTIAL_MIN_AGE_MS;
		rc = err(bs, bs->be->backend->sweep_partial(bs->be, age_ms / 1000, &st->partials_deleted));
	}
	if (rc == 0 && !should_stop(&c))
		st->complete = true;
	return err(bs, rc);
}
