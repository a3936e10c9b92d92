/*
 * test_schedule_purge.c — the once-per-slot protocol of src/schedule/purge.c
 * on one SQLite file shared by several purge contexts (each its own "node",
 * as several processes would be): a slot runs once, a held lock means busy,
 * a stopped run resumes from its checkpoint on another node, a dead node's
 * lock expires and the next slot resumes its work, the renewer keeps a long
 * run's lock; plus the test clock and the current-slot helper.
 */
#include "harness.h"
#include "mailroom/memory.h"
#include "mailroom/search.h"
#include "schedule/schedule.h"

#include <pthread.h>
#include <unistd.h>

#define NACCOUNTS 8
#define SLOT 1795435200 /* a whole hour (2026-11-23T08:00Z) */

static char dir[256];
static mr_config *cfg;

typedef struct events {
	int start, task, end, skip, lost;
	int search_complete; /* last search task: 1 complete, 0 stopped, -1 none */
	char start_detail[512];
} events;

static void on_event(const mr_purge_event *ev, void *payload)
{
	events *e = payload;
	switch (ev->kind) {
	case MR_PURGE_EV_START:
		e->start++;
		snprintf(e->start_detail, sizeof(e->start_detail), "%s", ev->detail ? ev->detail : "");
		break;
	case MR_PURGE_EV_TASK:
		e->task++;
		if (strcmp(ev->task, "search") == 0)
			e->search_complete = ev->complete;
		break;
	case MR_PURGE_EV_END: e->end++; break;
	case MR_PURGE_EV_SKIP: e->skip++; break;
	case MR_PURGE_EV_LOST: e->lost++; break;
	case MR_PURGE_EV_MISSED: break;
	}
}

static int open_node(mr_purge **p, const char *node, events *ev, volatile int *stop, uint64_t ttl)
{
	memset(ev, 0, sizeof(*ev));
	ev->search_complete = -1;
	mr_purge_opts o = {.node = node, .grace_ms = -1, .stop = stop, .lock_ttl_ms = ttl, .on_event = on_event, .payload = ev};
	return mr_purge_open(p, cfg, &o);
}

/* A handle on the coordination namespace, as another node sees it. */
typedef struct coord {
	mr_memory *m;
	mr_memory_ns *ns;
} coord;
static int coord_open(coord *c)
{
	int rc = mr_memory_open(&c->m, cfg, "db");
	return rc < 0 ? rc : mr_memory_ns_new(&c->ns, c->m, "mailroom-schedule");
}
static void coord_close(coord *c)
{
	mr_memory_ns_free(c->ns);
	mr_memory_close(c->m);
}
#define KEY(s) mr_slice_of(s, strlen(s))

static void test_slot_runs_once(void)
{
	mr_purge *a = NULL, *b = NULL;
	events ea, eb;
	mr_purge_outcome out;
	MR_CHECK_OK(open_node(&a, "a", &ea, NULL, 0));
	MR_CHECK_OK(open_node(&b, "b", &eb, NULL, 0));
	MR_CHECK_OK(mr_purge_run(a, "db", SLOT, MR_PURGE_SLOT, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_COMPLETE);
	MR_CHECK_OK(mr_purge_run(b, "db", SLOT, MR_PURGE_SLOT, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_DONE);
	MR_CHECK_OK(mr_purge_run(a, "db", SLOT, MR_PURGE_SLOT, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_DONE);
	MR_CHECK_EQ_INT(ea.start + eb.start, 1);
	/* --now ignores done markers; the next slot is a new slot. */
	MR_CHECK_OK(mr_purge_run(b, "db", 0, MR_PURGE_NOW, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_COMPLETE);
	MR_CHECK_OK(mr_purge_run(b, "db", SLOT + 3600, MR_PURGE_SLOT, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_COMPLETE);
	MR_CHECK_EQ_INT(eb.start, 2);
	MR_CHECK_EQ_INT(eb.skip, 1);
	/* an unknown store is an error naming it */
	MR_CHECK_RC(mr_purge_run(b, "nope", SLOT, MR_PURGE_SLOT, &out), MR_ENOTFOUND);
	MR_CHECK(strstr(mr_error_last()->message, "nope") != NULL);
	mr_purge_close(a);
	mr_purge_close(b);
}

static void test_busy_while_locked(void)
{
	coord c = {0};
	mr_purge *a = NULL;
	events ea;
	mr_purge_outcome out;
	uint8_t tok[MR_MEMORY_TOKEN_LEN];
	MR_CHECK_OK(coord_open(&c));
	MR_CHECK_OK(open_node(&a, "a", &ea, NULL, 0));
	MR_CHECK_OK(mr_memory_lock_acquire(c.ns, KEY("lock/db"), 10000, tok));
	MR_CHECK_OK(mr_purge_run(a, "db", SLOT + 7200, MR_PURGE_SLOT, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_BUSY);
	MR_CHECK_OK(mr_purge_run(a, "db", 0, MR_PURGE_NOW, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_BUSY);
	MR_CHECK_EQ_INT(ea.start, 0);
	MR_CHECK_OK(mr_memory_lock_release(c.ns, KEY("lock/db"), tok));
	MR_CHECK_OK(mr_purge_run(a, "db", SLOT + 7200, MR_PURGE_SLOT, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_COMPLETE);
	/* the run released the lock */
	MR_CHECK_OK(mr_memory_lock_acquire(c.ns, KEY("lock/db"), 10000, tok));
	MR_CHECK_OK(mr_memory_lock_release(c.ns, KEY("lock/db"), tok));
	mr_purge_close(a);
	coord_close(&c);
}

static void index_accounts(void)
{
	mr_data *d = NULL;
	mr_search *s = NULL;
	MR_CHECK_OK(mr_data_open(&d, cfg, "db"));
	MR_CHECK_OK(mr_search_open_builtin(&s, d));
	for (uint64_t acc = 1; acc <= NACCOUNTS; acc++) {
		mr_search_doc doc = {.subject = "quarterly report", .body = "the purge must keep this", .date = 1700000000};
		MR_CHECK_OK(mr_search_index(s, acc * 10, 1, &doc));
	}
	mr_search_close(s);
	mr_data_close(d);
}

static void check_index_intact(void)
{
	mr_data *d = NULL;
	mr_search *s = NULL;
	mr_query *q = NULL;
	MR_CHECK_OK(mr_data_open(&d, cfg, "db"));
	MR_CHECK_OK(mr_search_open_builtin(&s, d));
	MR_CHECK_OK(mr_query_parse(&q, "quarterly keep", 14));
	uint64_t acc = 0, n = 0;
	while (mr_search_next_account(s, acc, &acc) == 0) {
		mr_search_result r = {0};
		MR_CHECK_OK(mr_search_query(s, acc, q, NULL, &r));
		MR_CHECK_EQ_INT(r.count, 1);
		mr_search_result_dispose(&r);
		n++;
		acc++;
	}
	MR_CHECK_EQ_INT(n, NACCOUNTS);
	mr_query_free(q);
	mr_search_close(s);
	mr_data_close(d);
}

typedef struct stopper {
	volatile int *flag;
	unsigned ms;
} stopper;
static void *stop_later(void *arg)
{
	stopper *s = arg;
	usleep(s->ms * 1000);
	*s->flag = 1;
	return NULL;
}

static void test_stop_then_resume_elsewhere(void)
{
	mr_purge *a = NULL, *b = NULL;
	events ea, eb;
	mr_purge_outcome out;
	volatile int stop = 0;
	coord c = {0};
	mr_buf v = MR_BUF_INIT;
	index_accounts();
	setenv("MAILROOM_TEST_PURGE_PAUSE_MS", "60", 1);
	MR_CHECK_OK(open_node(&a, "a", &ea, &stop, 0));
	MR_CHECK_OK(open_node(&b, "b", &eb, NULL, 0));
	unsetenv("MAILROOM_TEST_PURGE_PAUSE_MS");
	pthread_t th;
	stopper st = {&stop, 200};
	MR_CHECK(pthread_create(&th, NULL, stop_later, &st) == 0);
	MR_CHECK_OK(mr_purge_run(a, "db", SLOT + 3 * 3600, MR_PURGE_SLOT, &out));
	pthread_join(th, NULL);
	MR_CHECK_EQ_INT(out, MR_PURGE_STOPPED);
	MR_CHECK_EQ_INT(ea.search_complete, 0);
	/* the checkpoint names the search task and a cursor past the first account */
	MR_CHECK_OK(coord_open(&c));
	MR_CHECK_OK(mr_memory_get(c.ns, KEY("ckpt/db"), &v));
	unsigned task;
	unsigned long long cursor;
	MR_CHECK(sscanf(mr_buf_cstr(&v), "%u %llu", &task, &cursor) == 2);
	MR_CHECK(cursor > 10 && cursor <= NACCOUNTS * 10);
	/* the stopped slot is not done: another node may still take it; the
	 * daemon would take the next one.  Either resumes. */
	MR_CHECK_OK(mr_purge_run(b, "db", SLOT + 4 * 3600, MR_PURGE_SLOT, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_COMPLETE);
	MR_CHECK(strstr(eb.start_detail, "resume task=search") != NULL);
	MR_CHECK_RC(mr_memory_get(c.ns, KEY("ckpt/db"), &v), MR_ENOTFOUND);
	check_index_intact();
	mr_buf_dispose(&v);
	coord_close(&c);
	mr_purge_close(a);
	mr_purge_close(b);
}

static void test_dead_node_lock_expires(void)
{
	coord c = {0};
	mr_purge *b = NULL;
	events eb;
	mr_purge_outcome out;
	uint8_t tok[MR_MEMORY_TOKEN_LEN];
	MR_CHECK_OK(coord_open(&c));
	MR_CHECK_OK(open_node(&b, "b", &eb, NULL, 0));
	/* a node took slot S, checkpointed in the search task at account 50, died */
	MR_CHECK_OK(mr_memory_lock_acquire(c.ns, KEY("lock/db"), 300, tok));
	MR_CHECK_OK(mr_memory_set(c.ns, KEY("ckpt/db"), KEY("3 50"), 0));
	MR_CHECK_OK(mr_purge_run(b, "db", SLOT + 5 * 3600, MR_PURGE_SLOT, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_BUSY);
	usleep(400 * 1000);
	MR_CHECK_OK(mr_purge_run(b, "db", SLOT + 6 * 3600, MR_PURGE_SLOT, &out));
	MR_CHECK_EQ_INT(out, MR_PURGE_COMPLETE);
	MR_CHECK(strstr(eb.start_detail, "resume task=search cursor=50") != NULL);
	/* the dead node's token no longer owns anything */
	MR_CHECK_RC(mr_memory_lock_release(c.ns, KEY("lock/db"), tok), MR_ENOTFOUND);
	check_index_intact();
	mr_purge_close(b);
	coord_close(&c);
}

typedef struct runner {
	mr_purge *p;
	int64_t slot;
	mr_purge_outcome out;
	int rc;
} runner;
static void *run_thread(void *arg)
{
	runner *r = arg;
	r->rc = mr_purge_run(r->p, "db", r->slot, MR_PURGE_SLOT, &r->out);
	return NULL;
}

static void test_renewal_keeps_the_lock(void)
{
	coord c = {0};
	mr_purge *a = NULL;
	events ea;
	uint8_t tok[MR_MEMORY_TOKEN_LEN];
	MR_CHECK_OK(coord_open(&c));
	setenv("MAILROOM_TEST_PURGE_PAUSE_MS", "100", 1);
	MR_CHECK_OK(open_node(&a, "a", &ea, NULL, 240));
	unsetenv("MAILROOM_TEST_PURGE_PAUSE_MS");
	runner r = {.p = a, .slot = SLOT + 7 * 3600};
	pthread_t th;
	MR_CHECK(pthread_create(&th, NULL, run_thread, &r) == 0);
	/* well past the 240 ms TTL, the lock is still held (renewed) */
	usleep(500 * 1000);
	int held = mr_memory_lock_acquire(c.ns, KEY("lock/db"), 1000, tok);
	pthread_join(th, NULL);
	MR_CHECK_RC(held, MR_EEXISTS);
	MR_CHECK_OK(r.rc);
	MR_CHECK_EQ_INT(r.out, MR_PURGE_COMPLETE);
	MR_CHECK_EQ_INT(ea.lost, 0);
	MR_CHECK_OK(mr_memory_lock_acquire(c.ns, KEY("lock/db"), 1000, tok));
	MR_CHECK_OK(mr_memory_lock_release(c.ns, KEY("lock/db"), tok));
	mr_purge_close(a);
	coord_close(&c);
}

static void test_clock_and_current_slot(void)
{
	mr_sched_clock clk;
	setenv("MAILROOM_TEST_CLOCK_SCALE", "3600", 1);
	char epoch[32];
	int64_t real = mr_now_unix_ms();
	snprintf(epoch, sizeof(epoch), "%lld", (long long)(real - 1000));
	setenv("MAILROOM_TEST_CLOCK_EPOCH", epoch, 1);
	MR_CHECK_OK(mr_sched_clock_init(&clk));
	MR_CHECK(mr_sched_clock_is_test(&clk));
	MR_CHECK_EQ_INT(mr_sched_clock_real_ms(&clk, 3600 * 1000), 1000);
	/* a second of real time since the epoch is an hour of scheduler time */
	MR_CHECK(mr_sched_clock_now_ms(&clk) >= real - 1000 + 3600 * 1000);
	setenv("MAILROOM_TEST_CLOCK_SCALE", "fast", 1);
	MR_CHECK_RC(mr_sched_clock_init(&clk), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "MAILROOM_TEST_CLOCK_SCALE") != NULL);
	unsetenv("MAILROOM_TEST_CLOCK_SCALE");
	unsetenv("MAILROOM_TEST_CLOCK_EPOCH");
	MR_CHECK_OK(mr_sched_clock_init(&clk));
	MR_CHECK(!mr_sched_clock_is_test(&clk));
	int64_t slot;
	setenv("TZ", "UTC", 1);
	tzset();
	MR_CHECK_OK(mr_purge_current_slot(cfg, "db", SLOT + 1800, &slot));
	MR_CHECK_EQ_INT(slot, SLOT);
	MR_CHECK_OK(mr_purge_current_slot(cfg, "db", SLOT, &slot));
	MR_CHECK_EQ_INT(slot, SLOT);
	MR_CHECK_RC(mr_purge_current_slot(cfg, "plain", SLOT, &slot), MR_ENOTFOUND);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/mr-test-sched-%ld", (long)getpid());
	char text[1024];
	snprintf(text, sizeof(text),
		 "[storage]\ndata = \"db\"\n\n[store.\"db\"]\ntype = \"sqlite\"\npath = \"%s.sqlite\"\n"
		 "purge.frequency = \"0 * *\"\n\n[store.\"plain\"]\ntype = \"sqlite\"\npath = \"%s-2.sqlite\"\n",
		 dir, dir);
	if (mr_config_parse(&cfg, text, strlen(text), "test.toml") < 0) {
		fprintf(stderr, "config: %s\n", mr_error_last()->message);
		return 1;
	}
	MR_TEST_RUN(test_slot_runs_once);
	MR_TEST_RUN(test_busy_while_locked);
	MR_TEST_RUN(test_stop_then_resume_elsewhere);
	MR_TEST_RUN(test_dead_node_lock_expires);
	MR_TEST_RUN(test_renewal_keeps_the_lock);
	MR_TEST_RUN(test_clock_and_current_slot);
	mr_config_free(cfg);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -f %s.sqlite* %s-2.sqlite*", dir, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed: %s\n", cmd);
	MR_TEST_DONE();
}
