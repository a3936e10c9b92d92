/*
 * memory.h — the in-memory store: short-lived state shared by the nodes of
 * a cluster (rate limits, sessions, locks, delivery state).
 *
 * Every key lives in a namespace (a short NUL-free string such as
 * "rate", "session"): the same key in two namespaces names two values.
 * TTLs are in milliseconds; 0 means no expiry.  An expired key behaves
 * exactly like an absent one.
 *
 * Backends: `local` (in-process; one node only), and any data-store type
 * (rocksdb, sqlite, postgresql, mysql: keys in the data store, expired ones
 * removed by mr_memory_purge).  `redis` is a known type not built yet.
 *
 * Thread rules: an mr_memory handle may be used from several threads.
 */
#ifndef MAILROOM_MEMORY_H
#define MAILROOM_MEMORY_H

#include "mailroom/config.h"
#include "mailroom/mailroom.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MR_MEMORY_MAX_KEY 512u                 /* namespace + key bytes */
#define MR_MEMORY_MAX_VALUE (1024u * 1024u)    /* 1 MiB */

typedef struct mr_memory mr_memory;

/*
 * Opens the in-memory store [store."<store_id>"].  Errors: MR_ENOTFOUND (no
 * such store), MR_EINVALID (bad keys, file:line in the message),
 * MR_ENOTSUPPORTED (type not built), and the data store's errors.
 */
int mr_memory_open(mr_memory **out, const mr_config *cfg, const char *store_id);
void mr_memory_close(mr_memory *m);
const char *mr_memory_backend_name(const mr_memory *m);

/* Test-only: replaces the wall clock (milliseconds since the epoch) used for
 * TTLs and rate limits by the local and data-store backends. */
typedef int64_t (*mr_memory_clock_fn)(void *payload);
void mr_memory_set_clock(mr_memory *m, mr_memory_clock_fn fn, void *payload);

/* Value of key into *value; MR_ENOTFOUND when absent or expired. */
int mr_memory_get(mr_memory *m, const char *ns, mr_slice key, mr_buf *value);
/* Stores value with a TTL (0: none), replacing any value and TTL. */
int mr_memory_set(mr_memory *m, const char *ns, mr_slice key, mr_slice value, uint64_t ttl_ms);
/* Stores only when absent (or expired): 0 and *stored = true/false. */
int mr_memory_set_if_absent(mr_memory *m, const char *ns, mr_slice key, mr_slice value, uint64_t ttl_ms,
			    bool *stored);
/* Removes key; *deleted tells whether it existed. */
int mr_memory_delete(mr_memory *m, const char *ns, mr_slice key, bool *deleted);
/*
 * Adds delta to a counter (created at 0) and returns the new value.  The TTL
 * is set only when the counter is created (0: none).  A key holding a value
 * that is not a decimal integer: MR_EINVALID.
 */
int mr_memory_incr(mr_memory *m, const char *ns, mr_slice key, int64_t delta, uint64_t ttl_ms, int64_t *out);
/* Sets a new TTL on an existing key; MR_ENOTFOUND when absent. */
int mr_memory_expire(mr_memory *m, const char *ns, mr_slice key, uint64_t ttl_ms);

/* ---- locks ----
 * A lock is a key in the namespace "lock" holding a random 128-bit owner
 * token.  Only the holder of the token renews or releases it; a holder that
 * dies loses the lock when its TTL runs out. */
typedef struct mr_lock_token {
	uint8_t bytes[16];
} mr_lock_token;

/* 0 with *token filled when acquired; MR_EEXISTS when another owner holds it. */
int mr_memory_lock_acquire(mr_memory *m, const char *name, uint64_t ttl_ms, mr_lock_token *token);
/* Extends the TTL; MR_ENOTFOUND when the lock expired or belongs to another owner. */
int mr_memory_lock_renew(mr_memory *m, const char *name, const mr_lock_token *token, uint64_t ttl_ms);
/* Releases; MR_ENOTFOUND when the lock expired or belongs to another owner. */
int mr_memory_lock_release(mr_memory *m, const char *name, const mr_lock_token *token);

/* ---- rate limiting ----
 * GCRA (generic cell rate algorithm), the same arithmetic on every backend:
 * emission interval T = period/limit; the stored state is the theoretical
 * arrival time TAT.  At time now: tat = max(TAT, now); new = tat + T.
 * If new - now > period the request is denied and *retry_after_ms =
 * new - period - now; otherwise it is allowed and TAT = new (kept for
 * new - now ms).  So at most `limit` requests pass at one instant, and
 * afterwards one per T: a sustained rate of limit per period. */
int mr_memory_rate_check(mr_memory *m, const char *ns, mr_slice key, uint32_t limit, uint64_t period_ms, bool *allowed,
			 uint64_t *retry_after_ms);

/* Removes expired keys (the data-store backend keeps them until then; the
 * local backend also expires lazily).  *removed may be NULL. */
int mr_memory_purge(mr_memory *m, size_t *removed);

#ifdef __cplusplus
}
#endif
#endif
