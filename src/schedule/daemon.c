/*
 * daemon.c — the scheduler loop of `mailroom daemon`: one thread sleeping
 * until the earliest next slot of every store's purge.frequency, then
 * running the due slots one after the other through mr_purge_run (which
 * makes each slot run once across the cluster).  Slots that passed while
 * this node was busy are coalesced: only the latest one is attempted.
 */
#include "schedule/schedule.h"

#include "core/config.h"
#include "core/cron.h"

#include <inttypes.h>

typedef struct entry {
	const char *store;
	mr_cron cron;
	int64_t next; /* scheduler-time unix seconds */
} entry;

static int64_t now_s(const mr_purge_opts *v) { return mr_sched_clock_now_ms(v->clock) / 1000; }

int mr_daemon_run(mr_purge *p, const mr_config *cfg)
{
	const mr_purge_opts *o = mr_purge__opts(p);
	size_t n = mr_config_store_count(cfg), count = 0;
	entry *e = mr_calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return MR_ENOMEM;
	int rc = 0;
	int64_t t = now_s(o);
	for (size_t i = 0; i < n; i++) {
		const mr_store_config *sc = mr_config_store_at(cfg, i);
		const char *freq = NULL;
		if ((rc = mr_store_config_string(sc, "purge.frequency", NULL, &freq)) < 0)
			goto done;
		if (!freq)
			continue;
		if ((rc = mr_cron_parse(&e[count].cron, freq)) < 0) {
			mr_error_prefix("%s: store.%s.purge.frequency", mr_store_config_where(sc, "purge.frequency"),
					mr_store_config_id(sc));
			goto done;
		}
		e[count].store = mr_store_config_id(sc);
		if ((rc = mr_cron_next(&e[count].cron, t, &e[count].next)) < 0)
			goto done;
		count++;
	}
	if (!count) {
		rc = mr_error_set(MR_EINVALID, "%s: no store has a purge.frequency: nothing to schedule",
				  mr_config_path(cfg));
		goto done;
	}
	while (!(o->stop && *o->stop)) {
		t = now_s(o);
		size_t due = count;
		for (size_t i = 0; i < count; i++)
			if (e[i].next <= t && (due == count || e[i].next < e[due].next))
				due = i;
		if (due == count) {
			int64_t soonest = e[0].next;
			for (size_t i = 1; i < count; i++)
				if (e[i].next < soonest)
					soonest = e[i].next;
			uint64_t wait = mr_sched_clock_real_ms(o->clock, (soonest - t) * 1000 - mr_sched_clock_now_ms(o->clock) % 1000);
			mr_sleep_ms(wait == 0 ? 1 : wait < 100 ? wait : 100);
			continue;
		}
		entry *d = &e[due];
		int64_t slot = d->next, nx;
		uint64_t missed = 0;
		while ((rc = mr_cron_next(&d->cron, slot, &nx)) == 0 && nx <= t) {
			slot = nx;
			missed++;
		}
		if (rc < 0)
			goto done;
		if (missed && o->on_event) {
			char text[96];
			snprintf(text, sizeof(text), "missed=%" PRIu64 " (passed while busy; running the latest)", missed);
			mr_purge_event ev = {.kind = MR_PURGE_EV_MISSED, .store = d->store, .slot = slot, .detail = text};
			o->on_event(&ev, o->payload);
		}
		mr_purge_outcome out;
		rc = mr_purge_run(p, d->store, slot, MR_PURGE_SLOT, &out);
		if (rc < 0) {
			/* The in-memory store failed: log, and try again at the next slot. */
			if (o->on_event) {
				char text[600];
				snprintf(text, sizeof(text), "reason=error error=\"%s\"", mr_error_last()->message);
				mr_purge_event ev = {.kind = MR_PURGE_EV_SKIP, .store = d->store, .slot = slot, .detail = text, .rc = rc};
				o->on_event(&ev, o->payload);
			}
			mr_error_clear();
			rc = 0;
		}
		if ((rc = mr_cron_next(&d->cron, slot, &d->next)) < 0)
			goto done;
	}
done:
	mr_free(e);
	return rc;
}
