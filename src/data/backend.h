/*
 * backend.h (private to src/data/) — the vtable a data-store backend
 * implements, and the base handle its instances embed first.
 *
 * Backends move bytes: they never build keys, never retry conflicts on the
 * caller's behalf beyond what the op documents, and never call another
 * backend.  Argument checks (key/value sizes, empty keys), counting and
 * error prefixes ("store "x" (rocksdb): ") live in the front (data.c).
 *
 * Versioning: fields are only appended; each addition bumps
 * MR_DATA_BACKEND_VERSION; the front calls an op added in version N only
 * if backend->version >= N.
 */
#ifndef MR_DATA_BACKEND_H
#define MR_DATA_BACKEND_H

#include "core/common.h"
#include "core/config.h"
#include "mailroom/data.h"

#define MR_DATA_BACKEND_VERSION 3

typedef struct mr_data_backend mr_data_backend;

/* Base of every backend instance; embed first, downcast with mr_container_of. */
typedef struct mr_data_inst {
	const mr_data_backend *backend;
} mr_data_inst;

/* One operation of a batch as the front hands it to the backend. */
typedef enum mr_batch_op_kind {
	MR_OP_SET = 1,
	MR_OP_CLEAR = 2,
	MR_OP_ADD = 3,
	MR_OP_ASSERT_VALUE = 4,
	MR_OP_ASSERT_ABSENT = 5,
} mr_batch_op_kind;

typedef struct mr_batch_op {
	mr_batch_op_kind kind;
	mr_slice key;
	mr_slice value; /* SET, ASSERT_VALUE */
	int64_t delta;  /* ADD */
} mr_batch_op;

/* A page of scan results: entries point into `data`. */
typedef struct mr_kv {
	mr_slice key, value;
} mr_kv;

typedef struct mr_kvpage {
	mr_buf data;   /* bytes of keys and values */
	mr_kv *items;  /* item slices hold offsets while filling; mr_kvpage_finish fixes pointers */
	size_t count, cap;
	bool more;     /* the backend stopped at the limit; more entries may follow */
} mr_kvpage;

/* Appends an entry to a page (copies). */
int mr_kvpage_push(mr_kvpage *p, mr_slice key, mr_slice value);
void mr_kvpage_reset(mr_kvpage *p);
/* Called by the front after the backend filled the page: turns the offsets
 * kept while filling into pointers into p->data. */
void mr_kvpage_finish(mr_kvpage *p);
void mr_kvpage_dispose(mr_kvpage *p);

struct mr_data_backend {
	int version;      /* MR_DATA_BACKEND_VERSION when written */
	const char *name; /* the config `type` */
	uint32_t caps;    /* MR_DATA_CAP_* */

	/*
	 * Required. Opens an instance from its store table, creating the schema
	 * on first use (versioned in the backend's own metadata).  Errors:
	 * MR_EINVALID (config), MR_EUNAVAILABLE (unreachable within timeout;
	 * message names the address), MR_EAUTH, MR_EIO.
	 */
	int (*open)(mr_data_inst **out, const mr_store_config *sc);
	/* Required. Releases everything; never fails. */
	void (*close)(mr_data_inst *inst);

	/* Required. Value into *value; MR_ENOTFOUND when absent. */
	int (*get)(mr_data_inst *inst, mr_slice key, mr_buf *value);
	/* Required. Counter value; absent reads 0. */
	int (*get_counter)(mr_data_inst *inst, mr_slice key, int64_t *out);
	/*
	 * Required. Applies ops atomically: all or none.  Assertions are checked
	 * inside the same transaction.  Returns 0, MR_ECONFLICT (assertion
	 * failed, or serialization failure / deadlock that persisted after the
	 * backend's own bounded retries), MR_EUNCERTAIN, MR_EUNAVAILABLE, ...
	 * If add_result is non-NULL and ops contain exactly one ADD, its new
	 * value is stored there (used by mr_data_add_and_get).
	 */
	int (*commit)(mr_data_inst *inst, const mr_batch_op *ops, size_t nops, int64_t *add_result);
	/*
	 * Required. Appends up to `limit` entries of the range (bounds already
	 * resolved: range->begin/end never both empty-unbounded ambiguity; an
	 * empty slice means unbounded) in range order to *page, and sets
	 * page->more when it stopped because of the limit.  flags as MR_SCAN_*.
	 */
	int (*scan)(mr_data_inst *inst, const mr_range *range, size_t limit, mr_kvpage *page);
	/* Optional. Maintenance (compaction, vacuum). NULL: nothing to do. */
	int (*maintain)(mr_data_inst *inst);

	/* ---- version 2 ---- */
	/*
	 * Optional. Opens an existing store for reading only (the front refuses
	 * commits on it): no schema creation, no files written, and no
	 * exclusive lock held where the backend has one, so a reader may open a
	 * store another process is writing.  NULL: the front uses open.
	 */
	int (*open_readonly)(mr_data_inst **out, const mr_store_config *sc);

	/* ---- version 3 ---- */
	/*
	 * Optional. As commit (atomic, assertions checked, visible to every
	 * later read and commit), with a weaker durability (MR_DURABLE_LAZY or
	 * MR_DURABLE_NONE, include/mailroom/data.h).  A backend that cannot
	 * relax one commit leaves it NULL, or calls its commit: a stronger
	 * durability is always correct.
	 */
	int (*commit_relaxed)(mr_data_inst *inst, const mr_batch_op *ops, size_t nops, int64_t *add_result,
			      mr_durability durability);
};

/* Registry: the compiled-in table for a type name, or NULL with an error
 * saying whether the type is unknown or known but not compiled in. */
const mr_data_backend *mr_data__backend_find(const char *type);
/* Space-separated names of the compiled-in backends (for `mailroom version`). */
const char *mr_data__backend_names(void);

#endif
