/*
 * memory.h — the in-memory store: ephemeral keys with a millisecond TTL,
 * counters, locks and rate limits, shared by every node of a cluster.
 *
 * Backends (the [store."<id>"] `type`):
 *   local     in-process, one node only (keys `max-memory`, `max-keys`, `shards`)
 *   redis     Redis or Valkey, `redis-type = "single" | "cluster"`, keys `url`
 *             or `urls`, `timeout`, `tls`, `user`, `password`
 *   rocksdb, sqlite, postgresql, mysql
 *             the data store of that id, keys in subspace MR_SUBSPACE_MEMORY;
 *             expired keys are removed by mr_memory_purge()
 *
 * Keys and values are binary-safe bytes (keys up to MR_MEMORY_MAX_KEY,
 * values up to MR_MEMORY_MAX_VALUE; larger is MR_ELIMIT).  A TTL of 0 means
 * "no expiry".  An expired key is absent for every operation, whether or
 * not its memory was reclaimed yet.
 *
 * Errors common to every operation: MR_EINVALID (bad argument),
 * MR_ELIMIT (key/value too large, or the local store is full and nothing
 * can be evicted), MR_EUNAVAILABLE (server unreachable or timed out,
 * temporary: the message names the store and address), MR_EUNCERTAIN (a
 * write was sent but its reply was lost: it may or may not have applied),
 * MR_ENOMEM.  Messages start with `store "<id>" (<type>): `.
 *
 * Thread rules: an mr_memory handle may be used by several threads at
 * once.  A namespace borrows its parent and is freed before it; it is as
 * thread-safe as the parent.  A pipeline belongs to one thread at a time.
 *
 * Rate limiting uses GCRA (the generic cell rate algorithm), identically on
 * every backend; see docs/memory-store.md for the formulas.
 */
#ifndef MAILROOM_MEMORY_H
#define MAILROOM_MEMORY_H

#include "mailroom/config.h"
#include "mailroom/mailroom.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MR_MEMORY_MAX_KEY 1024u
#define MR_MEMORY_MAX_VALUE (1u * 1024u * 1024u)
#define MR_MEMORY_MAX_RATE_LIMIT 1000000
/* Lock owner tokens: 128 random bits. */
#define MR_MEMORY_TOKEN_LEN 16

/* Capability bits (mr_memory_caps). */
#define MR_MEMORY_CAP_SHARED (1u << 0) /* shared by several processes/nodes */
#define MR_MEMORY_CAP_CLOCK (1u << 1)  /* mr_memory_set_clock is honoured */
#define MR_MEMORY_CAP_PURGE (1u << 2)  /* mr_memory_purge does work */

typedef struct mr_memory mr_memory;
typedef struct mr_memory_ns mr_memory_ns;
typedef struct mr_memory_pipe mr_memory_pipe;
typedef struct mr_data mr_data; /* include/mailroom/data.h */

/*
 * Opens the in-memory store [store."<store_id>"] of cfg.
 * Errors: MR_ENOTFOUND (no such store), MR_EINVALID (bad key, names
 * file:line), MR_ENOTSUPPORTED (type not compiled in, or not an in-memory
 * capable type; TLS asked of a build without hiredis_ssl), MR_EUNAVAILABLE
 * (server unreachable within `timeout`), MR_EAUTH.
 * On success *out is owned by the caller (mr_memory_close); else NULL.
 */
int mr_memory_open(mr_memory **out, const mr_config *cfg, const char *store_id);
/*
 * The datastore backend over a data store the caller already has open
 * (borrowed: it must outlive the handle).  For processes that use one
 * embedded store (RocksDB allows one opener) as data and in-memory store.
 */
int mr_memory_open_data(mr_memory **out, mr_data *d);
/* Closes the store (NULL-safe).  Every namespace and pipeline must be freed first. */
void mr_memory_close(mr_memory *m);
const char *mr_memory_backend_name(const mr_memory *m);
const char *mr_memory_store_id(const mr_memory *m);
uint32_t mr_memory_caps(const mr_memory *m);

/*
 * TEST ONLY: replaces the clock (unix milliseconds) used by backends with
 * MR_MEMORY_CAP_CLOCK (local, datastore) for TTLs and rate limits; NULL
 * restores the wall clock.  Redis always uses the server's clock.
 * Not thread-safe against concurrent operations: set it before use.
 * MR_ENOTSUPPORTED when the backend lacks the capability.
 */
typedef int64_t (*mr_memory_clock_fn)(void *payload);
int mr_memory_set_clock(mr_memory *m, mr_memory_clock_fn fn, void *payload);

/*
 * Namespaces: every key of ns is stored as "<name>" 0x00 <key>, so keys of
 * two namespaces (names without a NUL byte) never collide, and collide with
 * no key used directly on the handle (direct keys are stored behind a 0x01
 * byte).  name: 1-64 bytes, no NUL, copied.  Free with mr_memory_ns_free
 * before closing the store.  Operations below take an mr_memory_ns; use
 * mr_memory_root(m) for the un-namespaced space.
 */
int mr_memory_ns_new(mr_memory_ns **out, mr_memory *m, const char *name);
void mr_memory_ns_free(mr_memory_ns *ns);
/* The root namespace of m (borrowed, lives as long as m). */
mr_memory_ns *mr_memory_root(mr_memory *m);

/* Reads key into *value (replacing its contents).  MR_ENOTFOUND when absent or expired. */
int mr_memory_get(mr_memory_ns *ns, mr_slice key, mr_buf *value);
/* Sets key to value with a TTL in ms (0 = none), replacing any value and TTL. */
int mr_memory_set(mr_memory_ns *ns, mr_slice key, mr_slice value, uint64_t ttl_ms);
/* Like set, but only when the key is absent: MR_EEXISTS otherwise (nothing changed). */
int mr_memory_set_if_absent(mr_memory_ns *ns, mr_slice key, mr_slice value, uint64_t ttl_ms);
/* Deletes key.  MR_ENOTFOUND when it was absent. */
int mr_memory_delete(mr_memory_ns *ns, mr_slice key);
/*
 * Atomically adds delta to the signed 64-bit counter at key (absent = 0) and
 * returns the new value in *out (may be NULL).  ttl_ms applies only when
 * this call creates the key; an existing key keeps its TTL.  A key holding
 * a non-counter value: MR_EINVALID.  Overflow: MR_ELIMIT, nothing changed.
 */
int mr_memory_incr(mr_memory_ns *ns, mr_slice key, int64_t delta, uint64_t ttl_ms, int64_t *out);
/* Sets a new TTL (0 = remove the TTL).  MR_ENOTFOUND when the key is absent. */
int mr_memory_expire(mr_memory_ns *ns, mr_slice key, uint64_t ttl_ms);

/*
 * Locks.  acquire sets key to a fresh random 128-bit owner token with
 * ttl_ms (> 0) if nobody holds it; MR_EEXISTS when held by anyone
 * (including this caller).  The token is written to token_out.
 * renew resets the TTL if `token` still owns the lock; release deletes it
 * if `token` still owns it.  Both: MR_ENOTFOUND when the lock expired or
 * another owner holds it (nothing changed).  Renew and release are atomic
 * compare-and-act on every backend (a Lua script on Redis).
 */
int mr_memory_lock_acquire(mr_memory_ns *ns, mr_slice key, uint64_t ttl_ms,
			   uint8_t token_out[MR_MEMORY_TOKEN_LEN]);
int mr_memory_lock_renew(mr_memory_ns *ns, mr_slice key, const uint8_t token[MR_MEMORY_TOKEN_LEN], uint64_t ttl_ms);
int mr_memory_lock_release(mr_memory_ns *ns, mr_slice key, const uint8_t token[MR_MEMORY_TOKEN_LEN]);

/*
 * Rate limiting, GCRA: at most `limit` (1..MR_MEMORY_MAX_RATE_LIMIT) calls
 * in any `period_ms` (> 0) window, refilled smoothly at limit/period_ms.
 * *allowed is true when this call is admitted (and counted); when denied,
 * nothing is counted and *retry_after_ms is the wait until the next call
 * would be admitted (0 when allowed).  The key holds GCRA state; use it for
 * rate checks only, always with the same limit and period.
 */
typedef struct mr_rate_result {
	bool allowed;
	uint64_t retry_after_ms;
} mr_rate_result;
int mr_memory_rate_check(mr_memory_ns *ns, mr_slice key, int64_t limit, uint64_t period_ms, mr_rate_result *out);

/*
 * Removes expired keys the backend cannot expire by itself (the datastore
 * backend); a no-op returning 0 on others.  *removed (may be NULL) counts
 * keys deleted.
 */
int mr_memory_purge(mr_memory *m, uint64_t *removed);

/*
 * Pipelines: queue several operations (keys and values are copied) and
 * run them with mr_memory_pipe_exec in one round trip where the backend
 * can (Redis; per node in a cluster).  Operations are not a transaction:
 * each succeeds or fails on its own.  Each queue function returns the index
 * of the op (>= 0) or an error.  After exec, the per-op results are read
 * with mr_memory_pipe_result until mr_memory_pipe_reset or free.
 */
int mr_memory_pipe_new(mr_memory_pipe **out, mr_memory_ns *ns);
void mr_memory_pipe_free(mr_memory_pipe *p);
void mr_memory_pipe_reset(mr_memory_pipe *p);
int mr_memory_pipe_get(mr_memory_pipe *p, mr_slice key);
int mr_memory_pipe_set(mr_memory_pipe *p, mr_slice key, mr_slice value, uint64_t ttl_ms);
int mr_memory_pipe_delete(mr_memory_pipe *p, mr_slice key);
int mr_memory_pipe_incr(mr_memory_pipe *p, mr_slice key, int64_t delta, uint64_t ttl_ms);
int mr_memory_pipe_rate_check(mr_memory_pipe *p, mr_slice key, int64_t limit, uint64_t period_ms);
/* Runs every queued op.  Returns 0 when the ops ran (each has its own
 * result, which may be an error), or an error when none could be sent. */
int mr_memory_pipe_exec(mr_memory_pipe *p);

typedef struct mr_memory_pipe_res {
	int rc;             /* 0 or this op's error code (MR_ENOTFOUND for a missing get/delete) */
	mr_slice value;     /* get: the value, borrowed until reset/free */
	int64_t number;     /* incr: the new value */
	mr_rate_result rate; /* rate_check */
} mr_memory_pipe_res;
/* The result of op i (borrowed until reset/free); NULL when i is out of range or before exec. */
const mr_memory_pipe_res *mr_memory_pipe_result(const mr_memory_pipe *p, size_t i);
size_t mr_memory_pipe_count(const mr_memory_pipe *p);

#ifdef __cplusplus
}
#endif
#endif
