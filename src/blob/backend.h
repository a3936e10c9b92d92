/*
 * backend.h — the blob backend contract (STYLE.md §2).  A backend moves
 * bytes addressed by a blob id; ids, links, quotas and purge live in the
 * front.  Fields are only appended; each addition bumps
 * MR_BLOB_BACKEND_VERSION and the front calls an op added in version N only
 * if backend->version >= N.
 */
#ifndef MR_BLOB_BACKEND_H
#define MR_BLOB_BACKEND_H

#include "blob/hash.h"
#include "mailroom/data.h"

#include <stddef.h>
#include <stdint.h>

#define MR_BLOB_BACKEND_VERSION 3

/* n-byte big-endian integers, as the records and markers kept in a data store are packed. */
static inline void mr_blob__put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t mr_blob__get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Appends a blob id to a key as four u64 fields: the layout of every blob key. */
static inline void mr_blob__key_id(mr_key *k, const mr_blob_id *id)
{
	for (int i = 0; i < 4; i++)
		mr_key_u64(k, mr_blob__get_be(id->bytes + 8 * i, 8));
}

typedef struct mr_blob_backend mr_blob_backend;

/* Base handle; an instance embeds it first. */
typedef struct mr_blob_inst {
	const mr_blob_backend *backend;
} mr_blob_inst;

/* Pull callback for streaming puts: fills buf with up to cap bytes, sets
 * *got (0 = end).  Returns 0 or an error (already set). */
typedef int (*mr_blob_read_fn)(void *buf, size_t cap, size_t *got, void *payload);
/* Listing callback; return non-zero to stop. */
typedef int (*mr_blob_list_fn)(const mr_blob_id *id, uint64_t size, void *payload);

struct mr_blob_backend {
	int version;
	const char *name;
	unsigned caps;
	/* required: store the bytes read from fn under id atomically (no partial blob visible). */
	int (*put)(mr_blob_inst *b, const mr_blob_id *id, mr_blob_read_fn fn, void *payload);
	/* optional: put from bytes in memory (the caller's: no bounce copy),
	 * with put's guarantees; absent, the front streams them through put. */
	int (*put_mem)(mr_blob_inst *b, const mr_blob_id *id, const void *data, size_t len);
	/* required: read len bytes at off into buf; *got = bytes read (short at end). */
	int (*get_range)(mr_blob_inst *b, const mr_blob_id *id, uint64_t off, void *buf, size_t len,
			 size_t *got);
	/* required: 0 and *size if present, MR_ENOTFOUND if not. */
	int (*stat)(mr_blob_inst *b, const mr_blob_id *id, uint64_t *size);
	/* required: delete; absent is success (idempotent). */
	int (*remove)(mr_blob_inst *b, const mr_blob_id *id);
	/* optional: removes what interrupted puts left that no id names (the
	 * fs backend's temp files) last modified more than older_than_s seconds
	 * ago; *removed counts them. */
	int (*sweep_partial)(mr_blob_inst *b, int64_t older_than_s, uint64_t *removed);
	/* optional: every stored id (for GC). */
	int (*list)(mr_blob_inst *b, mr_blob_list_fn fn, void *payload);
	void (*close)(mr_blob_inst *b);

	/* ---- version 2 ---- */
	/*
	 * Optional, all three or none: write in-memory bytes before their id
	 * is known, so the device writes them while the front hashes.
	 * stage_mem starts the write (nothing visible under any id; what a
	 * crash leaves is for sweep_partial); put_staged makes the staged
	 * bytes the object of id with put's guarantees and consumes the
	 * handle, also on error; discard_staged drops an unused one.
	 */
	int (*stage_mem)(mr_blob_inst *b, const void *data, size_t len, void **staged);
	int (*put_staged)(mr_blob_inst *b, void *staged, const mr_blob_id *id);
	void (*discard_staged)(mr_blob_inst *b, void *staged);
	/* ---- version 3 ---- */
	/*
	 * Optional, both or none: deferred durability for bulk writers.
	 * put_mem_deferred stores the bytes under id like put_mem (atomically:
	 * a reader of id sees all or nothing) but need not make them durable;
	 * after a crash the object may be missing or hold other bytes (the
	 * front never serves it: its record stays PENDING until sync, and an
	 * object it finds without a record is re-hashed before it is adopted).
	 * sync makes every deferred put made before it durable.
	 */
	int (*put_mem_deferred)(mr_blob_inst *b, const mr_blob_id *id, const void *data, size_t len);
	int (*sync)(mr_blob_inst *b);
};

/* fs backend: root directory (created 0700), fan-out depth 0-4. */
int mr_blob__fs_open(mr_blob_inst **out, const char *path, int depth);

/* s3 backend (s3.c, built when libcurl is found): opens from the store's
 * keys (endpoint, region, bucket, key-prefix, access-key, secret-key,
 * session-token, path-style, timeout, max-retries, multipart-threshold,
 * part-size); no network I/O until the first operation. */
struct mr_store_config;
int mr_blob__s3_open(mr_blob_inst **out, const struct mr_store_config *sc);
/* TEST ONLY: ListObjectsV2 page size (1-1000), to exercise pagination. */
void mr_blob__s3_set_list_page(mr_blob_inst *b, unsigned max_keys);
/* TEST ONLY: how many puts went up as multipart uploads. */
uint64_t mr_blob__s3_multipart_puts(mr_blob_inst *b);

/* Opens the backend a store config names (registry.c): "fs" (path, depth
 * default 2), "s3".  MR_EINVALID naming the store for a bad type or key. */
int mr_blob__backend_open(mr_blob_inst **out, const struct mr_store_config *sc);

/*
 * The data-store backend (datastore.c): chunks in MR_SUBSPACE_BLOB_DATA of
 * the data store [store."<id>"] itself.  `shared` (may be NULL) is an open
 * handle of that same store to reuse (the front's meta store when the blob
 * store and the data store are one: RocksDB cannot be opened twice); else
 * the backend opens its own.  Key `chunk-size` (default 512 KiB).
 */
int mr_blob__datastore_open(mr_blob_inst **out, const mr_config *cfg, const struct mr_store_config *sc,
			    mr_data *shared);
/* Like mr_blob__backend_open, and also the data-store types (rocksdb,
 * sqlite, postgresql, mysql) through mr_blob__datastore_open. */
int mr_blob__backend_open_cfg(mr_blob_inst **out, const mr_config *cfg, const struct mr_store_config *sc,
			      mr_data *meta);

#endif
