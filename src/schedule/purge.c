/*
 * purge.c — one purge of one store, run at most once per slot across every
 * node sharing the in-memory store (docs/scheduling.md):
 *
 *   1. acquire lock/<store> (owner token, TTL); held → BUSY
 *   2. scheduled slot: done/<store>/<slot> present → release, DONE
 *   3. a thread renews the lock every TTL/3; if renewal fails the run's stop
 *      flag is raised so the running task checkpoints and returns
 *   4. resume at ckpt/<store> ("<task> <cursor>") if an earlier run stopped;
 *      after every unit of work the checkpoint moves on
 *   5. complete: write done/<store>/<slot>, delete the checkpoint; release
 *
 * A node killed mid-run leaves the lock to expire (TTL) and the checkpoint
 * in place; the next slot's run, on whichever node wins the lock, resumes
 * there.  Every task is idempotent, so redoing the unit of work that was in
 * flight at the kill is harmless.
 *
 * The tasks of a store follow from the roles it serves ([storage]): blob
 * purge for the blob store; expired keys for the in-memory store (real
 * work on the data-store backend); change-log retention and backend
 * maintenance for data stores; index optimisation for the search store.
 */
#include "schedule/schedule.h"

#include "core/config.h"
#include "core/cron.h"
#include "core/store_types.h"
#include "mailroom/blob.h"
#include "mailroom/memory.h"
#include "mailroom/search.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define NS_NAME "mailroom-schedule"
#define DEFAULT_LOCK_TTL_MS 60000u
#define DONE_TTL_VIRTUAL_MS (8LL * 24 * 3600 * 1000) /* longer than the longest period (a week) */
#define CKPT_TTL_MS (30ULL * 24 * 3600 * 1000)
#define MAX_EXTRA 8

typedef struct opened_data {
	char *id;
	mr_data *d;
} opened_data;

struct mr_purge {
	const mr_config *cfg;
	mr_purge_opts o;
	mr_sched_clock wall;
	char *node;
	uint64_t lock_ttl_ms;
	uint64_t pause_ms; /* test mode: sleep after each unit of work */
	const char *data_id, *blob_id, *fts_id, *lookup_id;
	mr_data *data;
	opened_data extra[MAX_EXTRA];
	size_t nextra;
	mr_memory *mem;
	mr_memory_ns *ns;
	mr_search *search;
	mr_blob *blob;
	mr_purge_changes_fn changes;
	void *changes_payload;

	/* the current run */
	volatile int run_stop;
	atomic_bool quit, lost;
	uint8_t token[MR_MEMORY_TOKEN_LEN];
	char lock_key[MR_MEMORY_MAX_KEY];
	const char *store;
	int64_t slot;
};

/* ---- helpers ---- */

static void emit(mr_purge *p, mr_purge_event ev)
{
	ev.node = p->node;
	if (!ev.store)
		ev.store = p->store;
	if (!ev.slot)
		ev.slot = p->slot;
	if (p->o.on_event)
		p->o.on_event(&ev, p->o.payload);
}

static bool is_data_type(const mr_config *cfg, const char *id)
{
	const mr_store_config *sc = mr_config_store(cfg, id);
	const mr_store_type *t = sc ? mr_store_type_find(mr_store_config_type(sc)) : NULL;
	return t && (t->roles & MR_ROLE_DATA);
}

static bool same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* An open data store for id (the main one or a cached extra). */
static int get_data(mr_purge *p, const char *id, mr_data **out)
{
	*out = NULL;
	if (same(id, p->data_id)) {
		*out = p->data;
		return 0;
	}
	for (size_t i = 0; i < p->nextra; i++)
		if (same(p->extra[i].id, id)) {
			*out = p->extra[i].d;
			return 0;
		}
	if (p->nextra == MAX_EXTRA)
		return mr_error_set(MR_ELIMIT, "purge: more than %d data stores", MAX_EXTRA);
	mr_data *d;
	int rc = mr_data_open(&d, p->cfg, id);
	if (rc < 0)
		return rc;
	p->extra[p->nextra].id = mr_strdup(id);
	if (!p->extra[p->nextra].id) {
		mr_data_close(d);
		return MR_ENOMEM;
	}
	p->extra[p->nextra++].d = d;
	*out = d;
	return 0;
}

static int key_of(char *buf, size_t len, const char *kind, const char *store, int64_t slot, mr_slice *out)
{
	int n = slot ? snprintf(buf, len, "%s/%s/%" PRId64, kind, store, slot) : snprintf(buf, len, "%s/%s", kind, store);
	if (n < 0 || (size_t)n >= len)
		return mr_error_set(MR_ELIMIT, "purge: store id \"%s\" too long for a key", store);
	*out = mr_slice_of(buf, (size_t)n);
	return 0;
}

static void pause_unit(mr_purge *p)
{
	for (uint64_t left = p->pause_ms; left > 0 && !p->run_stop;) {
		uint64_t step = left < 20 ? left : 20;
		mr_sleep_ms(step);
		left -= step;
	}
}

/* ---- open / close ---- */

int mr_purge_open(mr_purge **out, const mr_config *cfg, const mr_purge_opts *opts)
{
	*out = NULL;
	mr_purge *p = mr_calloc(1, sizeof(*p));
	if (!p)
		return MR_ENOMEM;
	p->cfg = cfg;
	if (opts)
		p->o = *opts;
	p->wall.scale = 1;
	char host[256] = "node";
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	char def[300];
	snprintf(def, sizeof(def), "%s:%ld", host, (long)getpid());
	int rc = MR_ENOMEM;
	if (!(p->node = mr_strdup(p->o.node ? p->o.node : def)))
		goto fail;
	p->lock_ttl_ms = p->o.lock_ttl_ms ? p->o.lock_ttl_ms : DEFAULT_LOCK_TTL_MS;
	const char *s = getenv("MAILROOM_TEST_LOCK_TTL_MS");
	if (!p->o.lock_ttl_ms && s && *s)
		p->lock_ttl_ms = strtoull(s, NULL, 10) ? strtoull(s, NULL, 10) : DEFAULT_LOCK_TTL_MS;
	if ((s = getenv("MAILROOM_TEST_PURGE_PAUSE_MS")) && *s)
		p->pause_ms = strtoull(s, NULL, 10);
	p->data_id = mr_config_role(cfg, "data");
	p->blob_id = mr_config_role(cfg, "blob");
	p->fts_id = mr_config_role(cfg, "fts");
	p->lookup_id = mr_config_role(cfg, "lookup");
	if (!p->data_id) {
		rc = mr_error_set(MR_EINVALID, "purge: [storage] names no data store");
		goto fail;
	}
	if ((rc = mr_data_open(&p->data, cfg, p->data_id)) < 0)
		goto fail;
	if (same(p->lookup_id, p->data_id))
		rc = mr_memory_open_data(&p->mem, p->data);
	else if (is_data_type(cfg, p->lookup_id)) {
		mr_data *d;
		rc = get_data(p, p->lookup_id, &d);
		if (rc == 0)
			rc = mr_memory_open_data(&p->mem, d);
	} else
		rc = mr_memory_open(&p->mem, cfg, p->lookup_id);
	if (rc < 0)
		goto fail;
	if ((rc = mr_memory_ns_new(&p->ns, p->mem, NS_NAME)) < 0)
		goto fail;
	*out = p;
	return 0;
fail:
	mr_purge_close(p);
	return rc;
}

void mr_purge_close(mr_purge *p)
{
	if (!p)
		return;
	mr_search_close(p->search);
	mr_blob_close(p->blob);
	mr_memory_ns_free(p->ns);
	mr_memory_close(p->mem);
	for (size_t i = 0; i < p->nextra; i++) {
		mr_data_close(p->extra[i].d);
		mr_free(p->extra[i].id);
	}
	mr_data_close(p->data);
	mr_free(p->node);
	mr_free(p);
}

void mr_purge_set_changes_hook(mr_purge *p, mr_purge_changes_fn fn, void *payload)
{
	p->changes = fn;
	p->changes_payload = payload;
}

/* ---- tasks ---- */

typedef struct task_run {
	mr_purge *p;
	const char *store;
	uint64_t cursor;   /* in: where to resume; out: where it stopped */
	bool complete;     /* out */
	char detail[512];  /* out: what it did */
} task_run;

typedef struct task {
	const char *name;
	bool (*applies)(mr_purge *p, const char *store);
	int (*run)(task_run *t);
} task;

/* Writes the checkpoint "<task> <cursor>". */
static int save_ckpt(mr_purge *p, const char *store, size_t task_i, uint64_t cursor)
{
	char kb[MR_MEMORY_MAX_KEY], vb[64];
	mr_slice k;
	int rc = key_of(kb, sizeof(kb), "ckpt", store, 0, &k);
	if (rc < 0)
		return rc;
	int n = snprintf(vb, sizeof(vb), "%zu %" PRIu64, task_i, cursor);
	return mr_memory_set(p->ns, k, mr_slice_of(vb, (size_t)n), CKPT_TTL_MS);
}

/* blob: expired reservations, then unreferenced blobs past grace. */
static bool blob_applies(mr_purge *p, const char *store) { return same(store, p->blob_id); }
static int blob_run(task_run *t)
{
	mr_purge *p = t->p;
	int rc;
	if (!p->blob && (rc = mr_blob_open(&p->blob, p->cfg, p->blob_id, p->data)) < 0)
		return rc;
	/* One call: the front checkpoints in the meta store by itself and a
	 * stopped or killed pass resumes there (max_blobs stays 0: each call
	 * is a whole pass from its checkpoint round to it again). */
	mr_blob_purge_opts o = {.grace_ms = p->o.grace_ms, .stop = &p->run_stop, .max_blobs = 0};
	mr_blob_purge_stats st = {0};
	rc = mr_blob_purge(p->blob, &o, &st);
	t->complete = rc == 0 && st.complete;
	snprintf(t->detail, sizeof(t->detail),
		 "backend=%s reservations_expired=%" PRIu64 " blobs_deleted=%" PRIu64 " bytes_deleted=%" PRIu64
		 " orphans_deleted=%" PRIu64 " partials_deleted=%" PRIu64,
		 mr_blob_backend_name(p->blob), st.reservations_expired, st.blobs_deleted, st.bytes_deleted,
		 st.orphans_deleted, st.partials_deleted);
	return rc;
}

/* memory: expired keys of the in-memory store (work only on the data-store backend). */
static bool memory_applies(mr_purge *p, const char *store) { return same(store, p->lookup_id); }
static int memory_run(task_run *t)
{
	uint64_t removed = 0;
	int rc = mr_memory_purge(t->p->mem, &removed);
	t->complete = rc == 0;
	snprintf(t->detail, sizeof(t->detail), "backend=%s expired_keys_removed=%" PRIu64, mr_memory_backend_name(t->p->mem),
		 removed);
	return rc;
}

/* changes: change-log entries older than the data store's retention.changes. */
static bool changes_applies(mr_purge *p, const char *store) { return same(store, p->data_id); }
static int changes_run(task_run *t)
{
	mr_purge *p = t->p;
	const mr_store_config *sc = mr_config_store(p->cfg, t->store);
	int64_t retention = 0;
	int rc = mr_store_config_duration_ms(sc, "retention.changes", 0, &retention);
	if (rc < 0)
		return rc;
	t->complete = true;
	if (retention <= 0) {
		snprintf(t->detail, sizeof(t->detail), "skipped=\"no retention.changes\"");
		return 0;
	}
	if (!p->changes) {
		snprintf(t->detail, sizeof(t->detail), "skipped=\"change log not built (mail model)\"");
		return 0;
	}
	int64_t now = mr_sched_clock_now_ms(p->o.clock ? p->o.clock : &p->wall);
	uint64_t deleted = 0;
	rc = p->changes(p->data, now - retention, &p->run_stop, &deleted, &t->complete, p->changes_payload);
	snprintf(t->detail, sizeof(t->detail), "changes_deleted=%" PRIu64, deleted);
	return rc;
}

/* search: merge every account's posting deltas, account by account (the cursor). */
static bool search_applies(mr_purge *p, const char *store) { return same(store, p->fts_id); }
static int search_run(task_run *t)
{
	mr_purge *p = t->p;
	int rc;
	if (!p->search) { /* opened on first use; retried by the next run after a failure */
		mr_data *d = NULL;
		if ((is_data_type(p->cfg, p->fts_id) && (rc = get_data(p, p->fts_id, &d)) < 0) ||
		    (rc = mr_search_open(&p->search, p->cfg, p->fts_id, d)) < 0)
			return rc;
	}
	uint64_t accounts = 0, acc = t->cursor;
	rc = 0;
	t->complete = false;
	while (!p->run_stop) {
		rc = mr_search_next_account(p->search, acc, &acc);
		if (rc == MR_ENOTFOUND || rc == MR_ENOTSUPPORTED) {
			mr_error_clear();
			rc = 0;
			t->complete = true;
			break;
		}
		if (rc < 0 || (rc = mr_search_optimize(p->search, acc)) < 0)
			break;
		accounts++;
		t->cursor = ++acc; /* next time: the account after this one */
		if (acc == 0 || acc == UINT64_MAX) {
			t->complete = true;
			break;
		}
		pause_unit(p);
	}
	snprintf(t->detail, sizeof(t->detail), "accounts_optimized=%" PRIu64 " cursor=%" PRIu64, accounts, t->cursor);
	return rc;
}

/* maintain: the data store's own maintenance (RocksDB compaction, VACUUM hints). */
static bool maintain_applies(mr_purge *p, const char *store) { return is_data_type(p->cfg, store); }
static int maintain_run(task_run *t)
{
	mr_data *d;
	int rc = get_data(t->p, t->store, &d);
	if (rc == 0)
		rc = mr_data_maintain(d);
	t->complete = rc == 0;
	snprintf(t->detail, sizeof(t->detail), "backend=%s", d ? mr_data_backend_name(d) : "?");
	return rc;
}

/* The order is part of the checkpoint format: append only. */
static const task tasks[] = {
	{"blob", blob_applies, blob_run},
	{"memory", memory_applies, memory_run},
	{"changes", changes_applies, changes_run},
	{"search", search_applies, search_run},
	{"maintain", maintain_applies, maintain_run},
};

void mr_purge_describe_config(const mr_config *cfg, const char *store_id, char *buf, size_t len)
{
	mr_purge p = {.cfg = cfg,
		      .data_id = mr_config_role(cfg, "data"),
		      .blob_id = mr_config_role(cfg, "blob"),
		      .fts_id = mr_config_role(cfg, "fts"),
		      .lookup_id = mr_config_role(cfg, "lookup")};
	mr_purge_describe(&p, store_id, buf, len);
}

void mr_purge_describe(mr_purge *p, const char *store_id, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < MR_ARRAY_LEN(tasks); i++)
		if (tasks[i].applies(p, store_id)) {
			int n = snprintf(buf + at, len - at, "%s%s", at ? "," : "", tasks[i].name);
			if (n < 0 || (size_t)n >= len - at)
				return;
			at += (size_t)n;
		}
}

/* ---- the lock renewer ---- */

static void *renewer_main(void *arg)
{
	mr_purge *p = arg;
	mr_slice k = mr_slice_of(p->lock_key, strlen(p->lock_key));
	uint64_t every = p->lock_ttl_ms / 3 ? p->lock_ttl_ms / 3 : 1;
	uint64_t last_ok = mr_now_monotonic_ms(), last_try = last_ok;
	while (!atomic_load(&p->quit)) {
		mr_sleep_ms(every < 20 ? every : 20);
		if (p->o.stop && *p->o.stop)
			p->run_stop = 1;
		uint64_t now = mr_now_monotonic_ms();
		if (now - last_try < every)
			continue;
		last_try = now;
		int rc = mr_memory_lock_renew(p->ns, k, p->token, p->lock_ttl_ms);
		if (rc == 0)
			last_ok = now;
		else if (rc == MR_ENOTFOUND || now - last_ok >= p->lock_ttl_ms) {
			/* Expired or taken over (or unreachable for a whole TTL): another
			 * node may run now.  Stop at the next checkpoint. */
			atomic_store(&p->lost, true);
			p->run_stop = 1;
			mr_error_clear();
			break;
		}
	}
	return NULL;
}

/* ---- a run ---- */

static int read_ckpt(mr_purge *p, const char *store, size_t *task_i, uint64_t *cursor, bool *found)
{
	char kb[MR_MEMORY_MAX_KEY];
	mr_slice k;
	mr_buf v = MR_BUF_INIT;
	*found = false;
	int rc = key_of(kb, sizeof(kb), "ckpt", store, 0, &k);
	if (rc == 0)
		rc = mr_memory_get(p->ns, k, &v);
	if (rc == MR_ENOTFOUND) {
		mr_error_clear();
		rc = 0;
	} else if (rc == 0) {
		unsigned long long ti, cu;
		if (sscanf(mr_buf_cstr(&v), "%llu %llu", &ti, &cu) == 2 && ti < MR_ARRAY_LEN(tasks)) {
			*task_i = (size_t)ti;
			*cursor = cu;
			*found = true;
		}
	}
	mr_buf_dispose(&v);
	return rc;
}

static int clear_ckpt(mr_purge *p, const char *store)
{
	char kb[MR_MEMORY_MAX_KEY];
	mr_slice k;
	int rc = key_of(kb, sizeof(kb), "ckpt", store, 0, &k);
	if (rc == 0)
		rc = mr_memory_delete(p->ns, k);
	if (rc == MR_ENOTFOUND) {
		mr_error_clear();
		rc = 0;
	}
	return rc;
}

/* Runs the tasks from the checkpoint on; *outcome COMPLETE, STOPPED or FAILED. */
static int run_tasks(mr_purge *p, const char *store, mr_purge_outcome *outcome)
{
	size_t first = 0;
	uint64_t cursor = 0;
	bool resumed;
	int rc = read_ckpt(p, store, &first, &cursor, &resumed);
	if (rc < 0)
		return rc;
	char detail[128] = "";
	if (resumed)
		snprintf(detail, sizeof(detail), "resume task=%s cursor=%" PRIu64, tasks[first].name, cursor);
	char list[128];
	mr_purge_describe(p, store, list, sizeof(list));
	char d2[300];
	snprintf(d2, sizeof(d2), "tasks=%s%s%s", *list ? list : "(none)", *detail ? " " : "", detail);
	emit(p, (mr_purge_event){.kind = MR_PURGE_EV_START, .detail = d2});
	*outcome = MR_PURGE_COMPLETE;
	for (size_t i = first; i < MR_ARRAY_LEN(tasks); i++) {
		if (!tasks[i].applies(p, store))
			continue;
		if (p->run_stop) {
			*outcome = MR_PURGE_STOPPED;
			break;
		}
		task_run t = {.p = p, .store = store, .cursor = i == first ? cursor : 0};
		/* "in task i": a node killed during it leaves this for the next run */
		if ((rc = save_ckpt(p, store, i, t.cursor)) < 0)
			break;
		uint64_t t0 = mr_now_monotonic_ms();
		int trc = tasks[i].run(&t);
		uint64_t ms = mr_now_monotonic_ms() - t0;
		char text[1024];
		if (trc < 0)
			snprintf(text, sizeof(text), "%s error=\"%s\"", t.detail, mr_error_last()->message);
		else
			snprintf(text, sizeof(text), "%s", t.detail);
		emit(p, (mr_purge_event){.kind = MR_PURGE_EV_TASK, .task = tasks[i].name, .detail = text, .duration_ms = ms,
					 .rc = trc, .complete = trc == 0 && t.complete});
		if (trc < 0 || !t.complete) {
			/* Resume this task at its cursor next time. */
			rc = save_ckpt(p, store, i, t.cursor);
			*outcome = trc < 0 ? MR_PURGE_FAILED : MR_PURGE_STOPPED;
			break;
		}
		/* Done with task i: the next run starts after it. */
		if ((rc = save_ckpt(p, store, i + 1, 0)) < 0)
			break;
	}
	return rc;
}

int mr_purge_run(mr_purge *p, const char *store, int64_t slot, mr_purge_mode mode, mr_purge_outcome *outcome)
{
	*outcome = MR_PURGE_FAILED;
	if (!mr_config_store(p->cfg, store))
		return mr_error_set(MR_ENOTFOUND, "purge: no store \"%s\" ([store.\"%s\"] is missing in %s)", store, store,
				    mr_config_path(p->cfg));
	p->store = store;
	p->slot = mode == MR_PURGE_SLOT ? slot : 0;
	p->run_stop = p->o.stop && *p->o.stop;
	atomic_store(&p->quit, false);
	atomic_store(&p->lost, false);
	mr_slice lk, dk;
	char dkb[MR_MEMORY_MAX_KEY];
	int rc = key_of(p->lock_key, sizeof(p->lock_key), "lock", store, 0, &lk);
	if (rc == 0 && mode == MR_PURGE_SLOT)
		rc = key_of(dkb, sizeof(dkb), "done", store, slot, &dk);
	if (rc < 0)
		return rc;
	rc = mr_memory_lock_acquire(p->ns, lk, p->lock_ttl_ms, p->token);
	if (rc == MR_EEXISTS) {
		mr_error_clear();
		*outcome = MR_PURGE_BUSY;
		emit(p, (mr_purge_event){.kind = MR_PURGE_EV_SKIP, .detail = "reason=busy (another run holds the lock)"});
		return 0;
	}
	if (rc < 0)
		return rc;
	mr_buf who = MR_BUF_INIT;
	if (mode == MR_PURGE_SLOT) {
		rc = mr_memory_get(p->ns, dk, &who);
		if (rc == 0) {
			char text[300];
			snprintf(text, sizeof(text), "reason=done (completed by %s)", mr_buf_cstr(&who));
			*outcome = MR_PURGE_DONE;
			emit(p, (mr_purge_event){.kind = MR_PURGE_EV_SKIP, .detail = text});
		} else if (rc == MR_ENOTFOUND) {
			mr_error_clear();
			rc = 0;
		}
	}
	mr_buf_dispose(&who);
	if (rc < 0 || *outcome == MR_PURGE_DONE)
		goto release;

	pthread_t th;
	bool have_thread = pthread_create(&th, NULL, renewer_main, p) == 0;
	if (!have_thread) {
		rc = mr_error_set(MR_ERROR, "purge: cannot start the lock renewer thread");
		goto release;
	}
	uint64_t t0 = mr_now_monotonic_ms();
	rc = run_tasks(p, store, outcome);
	atomic_store(&p->quit, true);
	pthread_join(th, NULL);
	bool lost = atomic_load(&p->lost);
	if (lost)
		emit(p, (mr_purge_event){.kind = MR_PURGE_EV_LOST, .detail = "lock renewal failed: stopped at a checkpoint"});
	if (rc == 0 && *outcome == MR_PURGE_COMPLETE) {
		if (mode == MR_PURGE_SLOT) {
			int64_t ttl = (int64_t)mr_sched_clock_real_ms(p->o.clock, DONE_TTL_VIRTUAL_MS);
			rc = mr_memory_set(p->ns, dk, mr_slice_of(p->node, strlen(p->node)),
					   (uint64_t)(ttl < 60000 ? 60000 : ttl));
		}
		if (rc == 0)
			rc = clear_ckpt(p, store);
	}
	char text[256];
	snprintf(text, sizeof(text), "outcome=%s%s",
		 *outcome == MR_PURGE_COMPLETE ? "complete" : *outcome == MR_PURGE_STOPPED ? "stopped" : "failed",
		 rc < 0 ? " error=\"in-memory store\"" : "");
	emit(p, (mr_purge_event){.kind = MR_PURGE_EV_END, .detail = text, .duration_ms = mr_now_monotonic_ms() - t0,
				 .rc = rc, .complete = *outcome == MR_PURGE_COMPLETE});
	if (lost)
		return rc; /* not ours any more: never release another node's lock */
release:;
	int rrc = mr_memory_lock_release(p->ns, lk, p->token);
	if (rrc < 0 && rrc != MR_ENOTFOUND && rc == 0)
		rc = rrc;
	if (rrc == MR_ENOTFOUND)
		mr_error_clear();
	return rc;
}

int mr_purge_current_slot(const mr_config *cfg, const char *store_id, int64_t now_s, int64_t *slot)
{
	const mr_store_config *sc = mr_config_store(cfg, store_id);
	if (!sc)
		return mr_error_set(MR_ENOTFOUND, "purge: no store \"%s\"", store_id);
	const char *freq = NULL;
	int rc = mr_store_config_string(sc, "purge.frequency", NULL, &freq);
	if (rc < 0)
		return rc;
	if (!freq)
		return mr_error_set(MR_ENOTFOUND, "store \"%s\" has no purge.frequency", store_id);
	mr_cron c;
	if ((rc = mr_cron_parse(&c, freq)) < 0)
		return rc;
	/* Walk forward from eight days back (a week is the longest period). */
	int64_t t = now_s - 8 * 24 * 3600, last = 0, next;
	while ((rc = mr_cron_next(&c, t, &next)) == 0 && next <= now_s) {
		last = next;
		t = next;
	}
	if (rc < 0)
		return rc;
	if (!last)
		return mr_error_set(MR_ENOTFOUND, "store \"%s\": no slot of \"%s\" in the last eight days", store_id, freq);
	*slot = last;
	return 0;
}

const mr_purge_opts *mr_purge__opts(const mr_purge *p) { return &p->o; }
