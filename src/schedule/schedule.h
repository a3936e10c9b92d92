/*
 * schedule.h (internal) — purge tasks, the once-per-slot protocol across
 * nodes, and the daemon loop behind `mailroom daemon` and `mailroom purge`
 * (docs/scheduling.md).
 *
 *   clock.c   the scheduler's clock: the wall clock, or in test mode a
 *             scaled clock (MAILROOM_TEST_CLOCK_SCALE) so an hour passes in
 *             seconds
 *   purge.c   the purge context (handles opened once), the task table, the
 *             store lock with its renewer thread, done markers, checkpoints
 *   daemon.c  the loop: sleep until the next slot, run it, coalesce missed
 *             slots, stop on a flag
 *
 * Coordination lives in the in-memory store [storage] lookup, namespace
 * "mailroom-schedule":
 *   lock/<store>          the store's purge lock (owner token, TTL, renewed)
 *   done/<store>/<slot>   the slot has completed (value: node name)
 *   ckpt/<store>          "<task> <cursor>": where an unfinished run stopped
 */
#ifndef MR_SCHEDULE_H
#define MR_SCHEDULE_H

#include "core/common.h"
#include "mailroom/config.h"
#include "mailroom/data.h"

/* ---- clock ---- */
typedef struct mr_sched_clock {
	int64_t epoch_ms; /* real instant where virtual = real */
	int64_t scale;    /* 1: the wall clock; N: N virtual ms per real ms (test mode) */
} mr_sched_clock;

/*
 * The wall clock, unless MAILROOM_TEST_CLOCK_SCALE=N (1..1000000) is set:
 * then virtual time = epoch + (real - epoch) * N, with epoch =
 * MAILROOM_TEST_CLOCK_EPOCH (unix ms; processes that must agree on slots
 * share it) or the time of this call.  MR_EINVALID on a bad value.
 */
int mr_sched_clock_init(mr_sched_clock *c);
int64_t mr_sched_clock_now_ms(const mr_sched_clock *c);
/* Real milliseconds that `virtual_ms` of scheduler time last (at least 1 when > 0). */
uint64_t mr_sched_clock_real_ms(const mr_sched_clock *c, int64_t virtual_ms);
static inline bool mr_sched_clock_is_test(const mr_sched_clock *c) { return c->scale != 1; }

/* ---- purge ---- */
typedef struct mr_purge mr_purge;

/* What a run reports, one event at a time (the command prints them). */
typedef enum mr_purge_event_kind {
	MR_PURGE_EV_START = 1, /* took the lock; detail: "resume task=… cursor=…" when resuming */
	MR_PURGE_EV_TASK,      /* one task finished or stopped; detail: what it deleted */
	MR_PURGE_EV_END,       /* the run ended; rc, complete */
	MR_PURGE_EV_SKIP,      /* not run; detail: why (busy: lock held; done: slot already ran) */
	MR_PURGE_EV_MISSED,    /* daemon: slots that passed while busy, coalesced; count in detail */
	MR_PURGE_EV_LOST,      /* the lock was lost (renewal failed); the run checkpoints and stops */
} mr_purge_event_kind;

typedef struct mr_purge_event {
	mr_purge_event_kind kind;
	const char *store;
	int64_t slot;         /* unix seconds of the slot (scheduler time); 0 for an immediate run */
	const char *node;
	const char *task;     /* MR_PURGE_EV_TASK */
	const char *detail;   /* free text, key=value pairs */
	uint64_t duration_ms; /* TASK, END: real milliseconds */
	int rc;               /* TASK, END: 0 or the error code (message in detail) */
	bool complete;        /* TASK, END: false when stopped at a checkpoint */
} mr_purge_event;

typedef void (*mr_purge_event_fn)(const mr_purge_event *ev, void *payload);

typedef struct mr_purge_opts {
	const char *node;       /* this node's name (logs, done markers); NULL: hostname:pid */
	uint64_t lock_ttl_ms;   /* real ms; 0: 60 s (or MAILROOM_TEST_LOCK_TTL_MS) */
	int64_t grace_ms;       /* blob purge grace; < 0: the store's purge.grace */
	volatile int *stop;     /* set (e.g. by a signal handler): checkpoint and stop */
	const mr_sched_clock *clock; /* NULL: the wall clock */
	mr_purge_event_fn on_event;
	void *payload;
} mr_purge_opts;

/*
 * Opens what purging needs, once: the data store [storage] data, the
 * in-memory store [storage] lookup (borrowing the data store when it is the
 * same store), and lazily the blob and search stores.  opts is copied.
 */
/* The options the context was opened with (borrowed). */
const mr_purge_opts *mr_purge__opts(const mr_purge *p);
int mr_purge_open(mr_purge **out, const mr_config *cfg, const mr_purge_opts *opts);
void mr_purge_close(mr_purge *p);

/*
 * Hook for the mail model's change-log retention (`retention.changes` of
 * the data store): deletes change-log entries older than now - retention_ms,
 * stopping at a checkpoint when *stop is set; *deleted counts entries.
 * Without a hook the "changes" task reports that nothing is built.
 */
typedef int (*mr_purge_changes_fn)(mr_data *d, int64_t older_than_ms, volatile const int *stop, uint64_t *deleted,
				   bool *complete, void *payload);
void mr_purge_set_changes_hook(mr_purge *p, mr_purge_changes_fn fn, void *payload);

/* Names of the tasks a purge of store_id runs, comma-separated, into buf ("" when none). */
void mr_purge_describe(mr_purge *p, const char *store_id, char *buf, size_t len);
/* Same from the configuration alone (nothing opened), for `schedule list`. */
void mr_purge_describe_config(const mr_config *cfg, const char *store_id, char *buf, size_t len);

typedef enum mr_purge_mode {
	MR_PURGE_SLOT = 1, /* a scheduled slot: skipped if done; marks it done when complete */
	MR_PURGE_NOW,      /* at once: ignores done markers, marks nothing */
} mr_purge_mode;

typedef enum mr_purge_outcome {
	MR_PURGE_COMPLETE = 1, /* every task ran to the end */
	MR_PURGE_STOPPED,      /* stopped at a checkpoint (stop flag or lost lock); the next run resumes */
	MR_PURGE_FAILED,       /* a task failed (returned code); the next run resumes at it */
	MR_PURGE_BUSY,         /* another run of this store holds the lock */
	MR_PURGE_DONE,         /* the slot already completed (on some node) */
} mr_purge_outcome;

/*
 * Runs one purge of store_id: takes the store's lock (MR_PURGE_BUSY if
 * held), checks the slot's done marker (MR_PURGE_SLOT), resumes from the
 * checkpoint of an unfinished run, runs the tasks while a thread renews the
 * lock, then writes the done marker, clears the checkpoint and releases the
 * lock.  Returns 0 with *outcome set, or an error when the in-memory store
 * fails (task failures are outcome FAILED, reported through events).
 */
int mr_purge_run(mr_purge *p, const char *store_id, int64_t slot, mr_purge_mode mode, mr_purge_outcome *outcome);

/* ---- daemon ---- */
/*
 * Runs every store's purge.frequency until *stop (the one in the purge
 * options) is set: sleeps until the earliest next slot, runs due slots one
 * after the other, and when slots passed while it was busy runs only the
 * latest of them (MR_PURGE_EV_MISSED).  MR_EINVALID when no store has a
 * schedule.
 */
int mr_daemon_run(mr_purge *p, const mr_config *cfg);

/* The latest fire time <= now of a store's schedule (for `purge` without --now); MR_ENOTFOUND without one. */
int mr_purge_current_slot(const mr_config *cfg, const char *store_id, int64_t now_s, int64_t *slot);

#endif
