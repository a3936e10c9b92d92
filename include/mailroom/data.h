/*
 * data.h — the data store: an ordered, transactional key-value store.
 *
 * Keys are byte strings built with the key codec below (subspace byte,
 * then order-preserving fields); they compare byte-wise (memcmp, shorter
 * prefix first) on every backend.  Values are opaque bytes.  Counters are
 * signed 64-bit integers kept in a key space of their own: a key used with
 * mr_batch_add is read with mr_data_get_counter, never with mr_data_get.
 *
 * Writes go through batches that commit atomically or not at all.  A batch
 * may carry assertions (compare-and-set); when one no longer holds, or a
 * concurrent writer won, commit returns MR_ECONFLICT and nothing applies.
 *
 * Thread rules: an mr_data handle may be used from several threads at
 * once; a batch or iterator belongs to one thread at a time.
 */
#ifndef MAILROOM_DATA_H
#define MAILROOM_DATA_H

#include "mailroom/config.h"
#include "mailroom/mailroom.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits every backend accepts; larger is MR_ELIMIT, never truncation. */
#define MR_DATA_MAX_KEY 1024u                    /* bytes */
#define MR_DATA_MAX_VALUE (16u * 1024u * 1024u)  /* 16 MiB */
#define MR_DATA_MAX_BATCH (64u * 1024u * 1024u)  /* total bytes of keys and values in one batch */

/* Capability bits (mr_data_caps). */
#define MR_DATA_CAP_MULTI_PROCESS (1u << 0) /* several processes may open the same store at once */
#define MR_DATA_CAP_SHARED (1u << 1)        /* a network server shared by several nodes */

typedef struct mr_data mr_data;
typedef struct mr_batch mr_batch;
typedef struct mr_iter mr_iter;

/*
 * Opens the data store [store."<store_id>"] of cfg (creating its schema on
 * first open).  Errors: MR_ENOTFOUND (no such store), MR_EINVALID (bad
 * keys; message names file:line), MR_ENOTSUPPORTED (type not compiled in),
 * MR_EUNAVAILABLE (server unreachable within the timeout), MR_EAUTH.
 * The message names the store and backend: `store "pg" (postgresql): ...`.
 */
int mr_data_open(mr_data **out, const mr_config *cfg, const char *store_id);
/*
 * Opens an existing store for reading only: commits (batches, adds) fail
 * with MR_EINVALID.  On RocksDB it opens the directory without its lock
 * (so a reader runs beside the daemon or an import holding it), writes no
 * file, and sees the store as of the open.  Backends without a cheaper
 * read-only mode open as mr_data_open does (schema creation included).
 */
int mr_data_open_readonly(mr_data **out, const mr_config *cfg, const char *store_id);
void mr_data_close(mr_data *d);
const char *mr_data_backend_name(const mr_data *d);
const char *mr_data_store_id(const mr_data *d);
uint32_t mr_data_caps(const mr_data *d);

/*
 * Reads one value into *value (replacing its contents).
 * MR_ENOTFOUND when the key is absent (value cleared).
 */
int mr_data_get(mr_data *d, mr_slice key, mr_buf *value);
/* Reads a counter; an absent counter reads as 0 (not an error). */
int mr_data_get_counter(mr_data *d, mr_slice key, int64_t *out);
/* Atomically adds delta to a counter and returns the new value in *out. */
int mr_data_add_and_get(mr_data *d, mr_slice key, int64_t delta, int64_t *out);

/* ---- batches ---- */
int mr_batch_new(mr_batch **out, mr_data *d);
void mr_batch_free(mr_batch *b);
/*
 * Operations apply in order at commit.  They copy key and value.  Each
 * returns 0 or MR_EINVALID (empty key) / MR_ELIMIT (too large) / MR_ENOMEM;
 * the first such error is also kept and returned by commit, so callers may
 * check once at commit.
 */
int mr_batch_set(mr_batch *b, mr_slice key, mr_slice value);
int mr_batch_clear(mr_batch *b, mr_slice key);          /* value and counter of that key */
int mr_batch_add(mr_batch *b, mr_slice key, int64_t delta);
/* Commit applies only if, at commit time, `key` holds exactly `expected`. */
int mr_batch_assert_value(mr_batch *b, mr_slice key, mr_slice expected);
/* Commit applies only if, at commit time, `key` has no value. */
int mr_batch_assert_absent(mr_batch *b, mr_slice key);
size_t mr_batch_count(const mr_batch *b);
/*
 * What the batch itself will have written to `key` when it commits: 1 with
 * *value set (borrowed until the next operation on the batch) if its last
 * set of key is pending, 2 if its last write of key is a clear, 0 if the
 * batch does not write key.  For fronts that add read-modify-write steps to
 * a caller's batch and must see their own earlier steps (two blob links of
 * one account in one batch).
 */
int mr_batch_lookup(const mr_batch *b, mr_slice key, mr_slice *value);
/*
 * Commits all operations atomically.  Returns 0; MR_ECONFLICT (an assertion
 * failed or a concurrent writer won: nothing applied, retry); MR_ELIMIT
 * (too large); MR_EUNCERTAIN (connection lost during commit: outcome
 * unknown); MR_EUNAVAILABLE; other errors.  The batch may be reused after
 * mr_batch_reset.
 */
int mr_batch_commit(mr_batch *b);
/*
 * How durable a commit is when it returns (mr_batch_commit_durability):
 *   MR_DURABLE_SYNC  as the store is configured (RocksDB `sync`, default
 *                    true: on disk when commit returns) — mr_batch_commit.
 *   MR_DURABLE_LAZY  logged but not flushed: durable with the next SYNC
 *                    commit of this store (whichever thread makes it) or
 *                    at close; a crash before that loses it whole, and
 *                    only together with every commit after it.  For state
 *                    a later synced commit depends on, e.g. the blob
 *                    record a link asserts: a durable link implies a
 *                    durable record.
 *   MR_DURABLE_NONE  need not be logged: a crash may lose it whole even
 *                    after later commits were made durable.  For state
 *                    whose loss is harmless (the blob store's PENDING
 *                    records).
 * Never partial.  RocksDB: LAZY is a WAL write without sync, NONE skips the
 * WAL (durable at the next memtable flush or close).  The other backends
 * commit every batch as configured (a stronger durability is always
 * correct).
 */
typedef enum mr_durability {
	MR_DURABLE_SYNC = 0,
	MR_DURABLE_LAZY = 1,
	MR_DURABLE_NONE = 2,
} mr_durability;
int mr_batch_commit_durability(mr_batch *b, mr_durability durability);
void mr_batch_reset(mr_batch *b);

/*
 * Retry helper: calls fn(d, payload) until it returns something other than
 * MR_ECONFLICT, at most max_attempts times, sleeping with capped exponential
 * backoff and full jitter (base_ms doubling up to cap_ms) between attempts.
 * fn typically reads, builds a batch with assertions, and commits.
 */
typedef int (*mr_data_txn_fn)(mr_data *d, void *payload);
int mr_data_retry(mr_data *d, mr_data_txn_fn fn, unsigned max_attempts, uint64_t base_ms, uint64_t cap_ms,
		  void *payload);

/* ---- range iteration ---- */
#define MR_SCAN_REVERSE (1u << 0)   /* from the end of the range towards its start */
#define MR_SCAN_KEYS_ONLY (1u << 1) /* values come back empty */
#define MR_SCAN_COUNTERS (1u << 2)  /* iterate the counter key space; value = 8-byte big-endian int64 */

typedef struct mr_range {
	mr_slice begin;       /* empty: from the first key */
	bool begin_exclusive; /* begin itself excluded */
	mr_slice end;         /* empty: to the last key */
	bool end_inclusive;   /* end itself included */
	unsigned flags;       /* MR_SCAN_* */
	size_t limit;         /* 0: no limit */
} mr_range;

/* A range covering every key that starts with prefix. */
mr_range mr_range_prefix(mr_slice prefix, uint8_t *end_storage, size_t end_storage_len);

/*
 * Starts iterating a range.  The iterator reads in pages; each page is
 * consistent, pages are not one snapshot (a concurrent writer's keys may
 * appear from the next page on).  Free it before closing the store.
 */
int mr_data_scan(mr_data *d, const mr_range *range, mr_iter **out);
/*
 * Next entry: returns 1 with *key and *value set (borrowed until the next call
 * on this iterator), 0 at the end, or a negative error.
 */
int mr_iter_next(mr_iter *it, mr_slice *key, mr_slice *value);
void mr_iter_free(mr_iter *it);

/* Store-specific maintenance (RocksDB compaction, VACUUM/ANALYZE hints...). */
int mr_data_maintain(mr_data *d);

/* ---- key codec ----
 * Keys are built as: subspace byte, then fields.  Integers are big-endian
 * (signed integers with the sign bit flipped), so byte order = numeric order.
 * Byte strings are escaped (0x00 -> 0x00 0xFF) and terminated by 0x00 0x01,
 * so "a" < "a\0" < "ab" holds field-wise, no encoded string is a prefix of
 * another, and the end of a string is unambiguous whatever follows it.  A string that ends the key
 * may instead be written raw with mr_key_tail (it must be last).
 */
typedef struct mr_key {
	uint8_t buf[MR_DATA_MAX_KEY];
	size_t len;
	int err; /* first error (MR_ELIMIT when the key grew past MR_DATA_MAX_KEY) */
} mr_key;

void mr_key_init(mr_key *k, uint8_t subspace);
void mr_key_u8(mr_key *k, uint8_t v);
void mr_key_u32(mr_key *k, uint32_t v);
void mr_key_u64(mr_key *k, uint64_t v);
void mr_key_i64(mr_key *k, int64_t v);
void mr_key_bytes(mr_key *k, const void *p, size_t n); /* escaped + terminated */
void mr_key_str(mr_key *k, const char *s);
void mr_key_tail(mr_key *k, const void *p, size_t n);  /* raw, must be the last field */
static inline mr_slice mr_key_slice(const mr_key *k) { return (mr_slice){k->buf, k->len}; }

/* Decoding: a cursor over an encoded key.  Each getter returns 0 or
 * MR_EINVALID ("key decode: ... at offset N") on malformed input. */
typedef struct mr_key_reader {
	const uint8_t *p;
	size_t len, pos;
} mr_key_reader;

void mr_key_reader_init(mr_key_reader *r, mr_slice key);
int mr_key_read_u8(mr_key_reader *r, uint8_t *out);
int mr_key_read_u32(mr_key_reader *r, uint32_t *out);
int mr_key_read_u64(mr_key_reader *r, uint64_t *out);
int mr_key_read_i64(mr_key_reader *r, int64_t *out);
int mr_key_read_bytes(mr_key_reader *r, mr_buf *out);
int mr_key_read_tail(mr_key_reader *r, mr_slice *out);
bool mr_key_reader_done(const mr_key_reader *r);

/* Subspaces (first key byte) used by mailroom.  Documented in docs/architecture.md. */
enum {
	MR_SUBSPACE_TEST = 0x01,        /* conformance tests only */
	MR_SUBSPACE_META = 0x02,        /* schema version, store metadata */
	MR_SUBSPACE_ACCOUNT = 0x10,
	MR_SUBSPACE_MAILBOX = 0x11,
	MR_SUBSPACE_EMAIL = 0x12,
	MR_SUBSPACE_MEMBERSHIP = 0x13,
	MR_SUBSPACE_THREAD = 0x14,
	MR_SUBSPACE_CHANGELOG = 0x15,
	MR_SUBSPACE_COLLECTION = 0x16,  /* calendars, contacts, sieve scripts */
	MR_SUBSPACE_BLOB = 0x20,        /* blob records (size, state) */
	MR_SUBSPACE_BLOB_LINK = 0x21,
	MR_SUBSPACE_BLOB_RESERVE = 0x22,
	MR_SUBSPACE_BLOB_DATA = 0x23,   /* chunks of the data-store blob backend and inline blobs */
	MR_SUBSPACE_QUOTA = 0x24,
	MR_SUBSPACE_FTS = 0x30,
	MR_SUBSPACE_MEMORY = 0x40,      /* in-memory store over the data store */
	MR_SUBSPACE_SCHEDULE = 0x50,
};

#ifdef __cplusplus
}
#endif
#endif
