/*
 * backend.h (internal) — the in-memory store's backend vtable and the code
 * every backend shares: the GCRA step (one arithmetic for local and the
 * datastore backend; redis.c carries the same formulas in Lua) and the
 * pipeline op record.  Keys reaching a backend are already namespaced by
 * the front (src/memory/memory.c); backends never build key layouts.
 */
#ifndef MR_MEMORY_BACKEND_H
#define MR_MEMORY_BACKEND_H

#include "core/common.h"
#include "core/config.h"
#include "mailroom/memory.h"

/* Version 1: every op below.  Append only; bump on each addition. */
#define MR_MEMORY_BACKEND_VERSION 1

typedef struct mr_memory_backend mr_memory_backend;

/* The base every backend instance embeds first (downcast with mr_container_of). */
typedef struct mr_memory_inst {
	const mr_memory_backend *backend;
	mr_memory_clock_fn clock; /* NULL: wall clock (only honoured with MR_MEMORY_CAP_CLOCK) */
	void *clock_payload;
} mr_memory_inst;

static inline int64_t mr_memory__now(const mr_memory_inst *in)
{
	return in->clock ? in->clock(in->clock_payload) : mr_now_fast_unix_ms();
}

enum mr_memory_op_kind {
	MR_MEMORY_OP_GET = 1,
	MR_MEMORY_OP_SET,
	MR_MEMORY_OP_DELETE,
	MR_MEMORY_OP_INCR,
	MR_MEMORY_OP_RATE,
};

/* One queued pipeline op with its result slots. */
typedef struct mr_memory_op {
	int kind;
	mr_slice key, value; /* borrowed from the pipeline's arena */
	uint64_t ttl_ms, period_ms;
	int64_t delta, limit;
	/* results */
	int rc;
	mr_buf out;
	int64_t number;
	mr_rate_result rate;
} mr_memory_op;

/* set flags */
#define MR_MEMORY_SET_NX (1u << 0)

/* cas actions: compare the value with `expect`, then act. */
enum { MR_MEMORY_CAS_EXPIRE = 1, MR_MEMORY_CAS_DELETE = 2 };

/*
 * Every op returns 0 or a negative mr_error_code with a message (the front
 * prefixes the store).  All are required unless marked optional.
 *   open    reads its keys from sc (cfg for the datastore backend); on
 *           failure *out is NULL.
 *   get     MR_ENOTFOUND when absent/expired.
 *   set     flags MR_MEMORY_SET_NX: MR_EEXISTS when present.
 *   del     MR_ENOTFOUND when absent.
 *   incr    ttl on creation only; MR_EINVALID on a non-integer value.
 *   expire  ttl 0 removes the TTL; MR_ENOTFOUND when absent.
 *   cas     if the value equals expect: EXPIRE sets ttl, DELETE deletes;
 *           else MR_ENOTFOUND.  Atomic.
 *   rate    one GCRA step, atomic.
 *   exec    optional: runs n ops, filling each op's result; NULL makes the
 *           front run them one by one.
 *   purge   optional: removes expired keys; NULL = nothing to do.
 */
struct mr_memory_backend {
	int version;
	const char *name;
	uint32_t caps;
	int (*open)(mr_memory_inst **out, const mr_config *cfg, const mr_store_config *sc);
	void (*close)(mr_memory_inst *in);
	int (*get)(mr_memory_inst *in, mr_slice key, mr_buf *value);
	int (*set)(mr_memory_inst *in, mr_slice key, mr_slice value, uint64_t ttl_ms, unsigned flags);
	int (*del)(mr_memory_inst *in, mr_slice key);
	int (*incr)(mr_memory_inst *in, mr_slice key, int64_t delta, uint64_t ttl_ms, int64_t *out);
	int (*expire)(mr_memory_inst *in, mr_slice key, uint64_t ttl_ms);
	int (*cas)(mr_memory_inst *in, mr_slice key, mr_slice expect, int action, uint64_t ttl_ms);
	int (*rate)(mr_memory_inst *in, mr_slice key, int64_t limit, uint64_t period_ms, mr_rate_result *out);
	int (*exec)(mr_memory_inst *in, mr_memory_op *ops, size_t n);
	int (*purge)(mr_memory_inst *in, uint64_t *removed);
};

const mr_memory_backend *mr_memory__backend_find(const char *type);

/* Internal constructor of the local backend (tests and the front). */
int mr_memory__local_new(mr_memory_inst **out, uint64_t max_memory, uint64_t max_keys, unsigned shards);
/* Bytes the local backend accounts for right now (tests). */
uint64_t mr_memory__local_used(mr_memory_inst *in);
/* The datastore backend over an open data store it borrows (mr_memory_open_data). */
int mr_memory__datastore_borrow(mr_memory_inst **out, mr_data *d);
extern const mr_memory_backend mr_memory_backend_datastore;
/* Wraps an instance into a handle (tests use it with mr_memory__local_new). */
int mr_memory__wrap(mr_memory **out, mr_memory_inst *in, const char *store_id);

/*
 * GCRA with exact integer arithmetic.  The theoretical arrival time TAT is
 * kept as tat_ms + frac/limit milliseconds (0 <= frac < limit), so the
 * emission interval T = period/limit is added exactly:
 *   tat    = max(TAT, now)
 *   new    = tat + T
 *   allow  iff new - now <= period
 *   allowed: TAT := new, key TTL = ceil(new - now)
 *   denied : retry_after = ceil(new - period - now)
 * A fresh key admits exactly `limit` calls at once, then one per T.
 */
typedef struct mr_gcra_state {
	int64_t tat_ms, frac;
} mr_gcra_state;

/* st: in = stored state (exists false: absent); out = state to store when allowed. ttl_out: key TTL. */
static inline void mr_gcra_step(mr_gcra_state *st, bool exists, int64_t now, int64_t limit, int64_t period,
				mr_rate_result *res, int64_t *ttl_out)
{
	int64_t ms = now, frac = 0;
	if (exists && (st->tat_ms > now || (st->tat_ms == now && st->frac > 0))) {
		ms = st->tat_ms;
		frac = st->frac;
	}
	ms += period / limit;
	frac += period % limit;
	if (frac >= limit) {
		frac -= limit;
		ms += 1;
	}
	int64_t ahead = ms - now; /* new - now, plus frac/limit */
	if (ahead > period || (ahead == period && frac > 0)) {
		res->allowed = false;
		res->retry_after_ms = (uint64_t)(ahead - period + (frac > 0 ? 1 : 0));
		*ttl_out = 0;
		return;
	}
	res->allowed = true;
	res->retry_after_ms = 0;
	st->tat_ms = ms;
	st->frac = frac;
	*ttl_out = ahead + (frac > 0 ? 1 : 0);
}

#endif
