/*
 * backend.h (private to src/memory/) — the vtable an in-memory backend
 * implements.  The front (memory.c) builds the full key (namespace, 0x00,
 * key), checks sizes, owns lock tokens, the clock and the GCRA parameters;
 * backends store bytes with expiry times and do each operation atomically.
 * `now_ms` is the front's clock; a backend with its own server clock may
 * ignore it.  Fields are only appended; each addition bumps the version.
 */
#ifndef MR_MEMORY_BACKEND_H
#define MR_MEMORY_BACKEND_H

#include "core/common.h"
#include "core/config.h"
#include "mailroom/memory.h"

#define MR_MEMORY_BACKEND_VERSION 1

typedef struct mr_memory_backend mr_memory_backend;
typedef struct mr_memory_inst {
	const mr_memory_backend *backend;
} mr_memory_inst;

enum { MR_MEM_SET_ALWAYS = 0, MR_MEM_SET_IF_ABSENT = 1 };

struct mr_memory_backend {
	int version;
	const char *name;
	uint32_t caps;
	/* Required. */
	int (*open)(mr_memory_inst **out, const mr_config *cfg, const mr_store_config *sc);
	void (*close)(mr_memory_inst *inst);
	/* Required. MR_ENOTFOUND when absent or expired at now_ms. */
	int (*get)(mr_memory_inst *inst, mr_slice key, mr_buf *value, int64_t now_ms);
	/* Required. expires_ms: absolute time, 0 = never.  *stored false only for IF_ABSENT on a live key. */
	int (*set)(mr_memory_inst *inst, mr_slice key, mr_slice value, int64_t expires_ms, int mode, bool *stored,
		   int64_t now_ms);
	/* Required. Deletes when `expected` is NULL or equals the live value. */
	int (*del)(mr_memory_inst *inst, mr_slice key, const mr_slice *expected, bool *deleted, int64_t now_ms);
	/* Required. Decimal counter; expires_ms applies only on creation. */
	int (*incr)(mr_memory_inst *inst, mr_slice key, int64_t delta, int64_t expires_ms, int64_t *out, int64_t now_ms);
	/* Required. New expiry for a live key (only when `expected` is NULL or equals its value);
	 * MR_ENOTFOUND otherwise. */
	int (*expire)(mr_memory_inst *inst, mr_slice key, const mr_slice *expected, int64_t expires_ms, int64_t now_ms);
	/* Required. One GCRA step, atomically (see memory.h). */
	int (*gcra)(mr_memory_inst *inst, mr_slice key, uint64_t emission_ms, uint64_t period_ms, int64_t now_ms,
		    bool *allowed, uint64_t *retry_after_ms);
	/* Optional. Removes expired keys. */
	int (*purge)(mr_memory_inst *inst, int64_t now_ms, size_t *removed);
};

/* One GCRA step on a stored TAT (0 = none): the arithmetic every backend shares. */
static inline void mr_memory__gcra_step(int64_t tat, uint64_t emission_ms, uint64_t period_ms, int64_t now_ms,
					bool *allowed, uint64_t *retry_after_ms, int64_t *new_tat)
{
	int64_t t = tat > now_ms ? tat : now_ms;
	int64_t next = t + (int64_t)emission_ms;
	if (next - now_ms > (int64_t)period_ms) {
		*allowed = false;
		*retry_after_ms = (uint64_t)(next - (int64_t)period_ms - now_ms);
		*new_tat = tat;
	} else {
		*allowed = true;
		*retry_after_ms = 0;
		*new_tat = next;
	}
}

const mr_memory_backend *mr_memory__backend_find(const char *type);

#endif
