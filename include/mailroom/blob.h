/*
 * blob.h — the blob store front: content-addressed blobs (id = BLAKE3-256 of
 * the uncompressed bytes), links from documents, temporary uploads
 * (reservations with an expiry), per-account quota, compression, inline
 * small blobs, and purge.  One front for every backend (fs, s3, a data
 * store); the bytes live in the backend, everything else (links,
 * reservations, quota, blob records, inline blobs) in the metadata data
 * store passed to mr_blob_open — normally the `storage.data` store.
 *
 * Invariants the front keeps on every backend:
 *  - a link is only ever written for a blob whose bytes are stored
 *    (mr_blob_link asserts the blob record in the caller's batch);
 *  - purge deletes a blob only when it has no link, no unexpired
 *    reservation, and its record is older than the grace period, and it
 *    re-checks those conditions with batch assertions, so a concurrent
 *    link or upload wins;
 *  - quota: an account is charged a blob's size once however many of its
 *    documents link it, and while a reservation of it is unexpired.
 *
 * Errors: MR_EINVALID (bad argument or id), MR_ENOTFOUND (no such blob),
 * MR_ECORRUPT (a verified read found bytes whose hash is not the id),
 * MR_ELIMIT (quota or size), MR_EUNAVAILABLE / MR_EAUTH (backend), MR_EIO.
 * Messages start with `blob store "<id>" (<backend>): `.
 *
 * Thread rules: an mr_blob handle may be used by several threads at once.
 */
#ifndef MAILROOM_BLOB_H
#define MAILROOM_BLOB_H

#include "mailroom/config.h"
#include "mailroom/data.h"
#include "mailroom/mailroom.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MR_BLOB_ID_LEN 32
#define MR_BLOB_ID_TEXT_LEN 64

/* A blob id: the 32-byte BLAKE3 hash; text form is 64 lowercase hex digits
 * (exactly what `b3sum --no-names` prints). */
typedef struct mr_blob_id {
	uint8_t bytes[MR_BLOB_ID_LEN];
} mr_blob_id;

/* Writes the 64-digit text form plus NUL into out (65 bytes). */
void mr_blob_id_format(const mr_blob_id *id, char out[MR_BLOB_ID_TEXT_LEN + 1]);
/* Parses a text id; MR_EINVALID `blob id "xyz": expected 64 hex digits`. */
int mr_blob_id_parse(const char *text, mr_blob_id *out);
int mr_blob_id_equal(const mr_blob_id *a, const mr_blob_id *b);

typedef struct mr_blob mr_blob;

/*
 * Opens the blob store [store."<store_id>"] of cfg (type fs, s3, or a data
 * store type for the data-store backend) with its metadata kept in `meta`
 * (borrowed; must outlive the handle).  Reads the store's keys
 * `compression` ("zstd" | "lz4" | "none", default "none"),
 * `inline-threshold` (size, default 0 = never inline), `purge.grace`
 * (duration, default 1 h).
 */
int mr_blob_open(mr_blob **out, const mr_config *cfg, const char *store_id, mr_data *meta);
void mr_blob_close(mr_blob *bs);
const char *mr_blob_store_id(const mr_blob *bs);
const char *mr_blob_backend_name(const mr_blob *bs);

/* TEST ONLY: the clock (unix milliseconds) for reservations, grace and
 * purge; NULL restores the wall clock. */
typedef int64_t (*mr_blob_clock_fn)(void *payload);
void mr_blob_set_clock(mr_blob *bs, mr_blob_clock_fn fn, void *payload);

/*
 * Stores bytes and returns their id.  When the id is already stored the
 * backend write is skipped (dedup) and *stored_new is false.  Whatever the
 * outcome, a fresh blob record makes the blob safe from purge for the grace
 * period, so put-then-link needs no lock.  size_out/stored_new may be NULL.
 */
int mr_blob_put(mr_blob *bs, const void *data, size_t len, mr_blob_id *id_out, bool *stored_new);
/*
 * Bulk puts (import) whose durability is settled once per batch instead of
 * once per blob.  mr_blob_put_deferred stores like mr_blob_put, but a blob
 * it writes to a backend that can defer (fs) is left PENDING and not yet
 * durable: t->pending is set, and nothing can read or link it until
 * mr_blob_complete(bs, b, t) has added its LIVE record to the caller's
 * batch b (so a link to it in b may follow) and b has committed.  Call
 * mr_blob_flush(bs) after the last deferred put a batch completes and
 * before committing it: it makes the bytes of every deferred put so far
 * durable (fs: one syncfs).  A ticket that is not pending (dedup, inline,
 * a backend that cannot defer) needs neither; mr_blob_complete ignores it.
 * mr_blob_complete reads the record and fails with MR_ECONFLICT when it
 * is no longer the ticket's PENDING (a purge with a grace shorter than the
 * batch took it): that blob must be put again.  A ticket never completed
 * leaves a PENDING record and bytes that purge removes after the grace.
 */
typedef struct mr_blob_ticket {
	mr_blob_id id;
	bool pending;
	uint8_t priv[96]; /* the PENDING and LIVE records */
} mr_blob_ticket;
int mr_blob_put_deferred(mr_blob *bs, const void *data, size_t len, mr_blob_ticket *t, bool *stored_new);
int mr_blob_flush(mr_blob *bs);
int mr_blob_complete(mr_blob *bs, mr_batch *b, const mr_blob_ticket *t);
/* Same, streaming from a file (hashed in one pass, uploaded in a second;
 * never loaded whole).  *size_out gets its length. */
int mr_blob_put_file(mr_blob *bs, const char *path, mr_blob_id *id_out, uint64_t *size_out,
		     bool *stored_new);

/* Hash the stored bytes while reading; MR_ECORRUPT on a mismatch.  A ranged
 * read with it reads (and hashes) the whole blob and returns the range. */
#define MR_BLOB_VERIFY 1u

/* Reads len bytes at off (len = UINT64_MAX: to the end) into out (appended).
 * Reading past the end returns the bytes that exist; off > size is
 * MR_EINVALID.  A ranged read of a compressed blob decompresses from the
 * start (the prefix is read and dropped).  On any error out keeps its
 * previous length: no wrong or partial bytes are handed back.
 * MR_ENOTFOUND: no such blob (or it is being purged); MR_ECORRUPT: hash,
 * length or frame check failed, or the backend lost an object its record
 * names. */
int mr_blob_get(mr_blob *bs, const mr_blob_id *id, uint64_t off, uint64_t len, unsigned flags,
		mr_buf *out);
/* Writes the whole blob to fd, streaming, verifying when flags has
 * MR_BLOB_VERIFY (on MR_ECORRUPT the bytes already written stay in fd: the
 * caller discards them, as `mailroom blob get -o` does). */
int mr_blob_get_fd(mr_blob *bs, const mr_blob_id *id, int fd, unsigned flags);

/* A document that holds a blob: (account, collection, document). */
typedef struct mr_blob_owner {
	uint32_t account;
	uint8_t collection; /* MR_BLOB_COLL_* */
	uint64_t document;
} mr_blob_owner;

enum {
	MR_BLOB_COLL_EMAIL = 1,
	MR_BLOB_COLL_SIEVE = 2,
	MR_BLOB_COLL_CALENDAR = 3,
	MR_BLOB_COLL_CONTACT = 4,
	MR_BLOB_COLL_FILE = 5,
};

/*
 * Adds to the caller's batch (of the meta store) a link from owner to id,
 * with its quota charge, and an assertion that the blob is stored.  The
 * caller commits (and retries on MR_ECONFLICT by redoing its whole
 * transaction).  Linking an already-linked (owner, id) is a no-op.
 * MR_ENOTFOUND if the blob is not stored.  Several links/unlinks in one
 * batch see each other (mr_batch_lookup).  The link asserts the blob's
 * record as read: a purge that tombstones it first, or a put refreshing
 * it, makes the commit return MR_ECONFLICT (redo the transaction).
 */
int mr_blob_link(mr_blob *bs, mr_batch *b, const mr_blob_id *id, const mr_blob_owner *owner);
int mr_blob_unlink(mr_blob *bs, mr_batch *b, const mr_blob_id *id, const mr_blob_owner *owner);

/* A temporary upload for account that expires at expires_ms (unix ms);
 * charged to the account's quota until it expires or is released.
 * Reserving again moves the expiry. */
int mr_blob_reserve(mr_blob *bs, const mr_blob_id *id, uint32_t account, int64_t expires_ms);
int mr_blob_release(mr_blob *bs, const mr_blob_id *id, uint32_t account);

typedef struct mr_blob_info {
	uint64_t size;        /* uncompressed bytes */
	uint64_t stored_size; /* bytes in the backend (after compression; 0 if inline) */
	bool inline_stored;   /* kept in the meta store */
	const char *compression; /* "none", "zstd", "lz4" (static string) */
	uint64_t links;       /* documents linking it, all accounts */
	uint64_t reservations; /* unexpired reservations */
	int64_t created_ms;   /* record time (grace starts here) */
} mr_blob_info;
int mr_blob_stat(mr_blob *bs, const mr_blob_id *id, mr_blob_info *out);

/* Bytes charged to account (linked blobs once each + unexpired reservations). */
int mr_blob_quota_used(mr_blob *bs, uint32_t account, uint64_t *bytes);

typedef struct mr_blob_purge_opts {
	int64_t grace_ms;            /* < 0: the store's purge.grace */
	volatile const int *stop;    /* non-NULL and non-zero: stop at the next checkpoint */
	uint64_t max_blobs;          /* 0 = no limit (a run may be resumed later) */
} mr_blob_purge_opts;

typedef struct mr_blob_purge_stats {
	uint64_t reservations_expired;
	uint64_t blobs_deleted;
	uint64_t bytes_deleted;
	uint64_t orphans_deleted;    /* backend objects with no record (a crashed put) past grace */
	uint64_t partials_deleted;   /* half-written objects of killed puts (fs temp files), unmodified
	                                for max(grace, 15 min) */
	bool complete;               /* false if stopped early; the next run resumes */
} mr_blob_purge_stats;

/* Deletes expired reservations, then unreferenced blobs past grace, then
 * backend objects no record knows (if the backend lists).  Idempotent and
 * resumable (a checkpoint in the meta store). */
int mr_blob_purge(mr_blob *bs, const mr_blob_purge_opts *opts, mr_blob_purge_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
