/*
 * cmd_purge.c — `mailroom purge --store ID [--now] [--grace DURATION]
 * [--node NAME]`: one purge of one store through the same code path as the
 * daemon (src/schedule/purge.c).  Without --now it runs the store's latest
 * scheduled slot unless some node already did (same lock and done marker
 * as `mailroom daemon`, e.g. for driving purges from system cron); with
 * --now it runs at once (still under the store's lock, so never beside
 * another run of that store) and marks no slot.  Also the event printer
 * shared with cmd_daemon.c.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "mail/model.h"
#include "schedule/schedule.h"

#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static const char *event_name(mr_purge_event_kind k)
{
	switch (k) {
	case MR_PURGE_EV_START: return "start";
	case MR_PURGE_EV_TASK: return "task";
	case MR_PURGE_EV_END: return "end";
	case MR_PURGE_EV_SKIP: return "skip";
	case MR_PURGE_EV_MISSED: return "missed";
	case MR_PURGE_EV_LOST: return "lost";
	}
	return "?";
}

static void utc_text(char *buf, size_t len, int64_t unix_s)
{
	time_t tt = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One line per event on stdout, flushed: a log an operator (or a test) can grep. */
void mr_cli_purge_event(const mr_purge_event *ev, void *payload)
{
	const mr_cli *cli = payload;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char now[32], slot[32] = "now";
	utc_text(now, sizeof(now), ts.tv_sec);
	if (ev->slot)
		utc_text(slot, sizeof(slot), ev->slot);
	if (cli && cli->json) {
		printf("{\"time\":\"%.19s.%03ldZ\",\"node\":", now, ts.tv_nsec / 1000000);
		mr_cli_json_string(stdout, ev->node);
		printf(",\"store\":");
		mr_cli_json_string(stdout, ev->store);
		printf(",\"slot\":\"%s\",\"event\":\"%s\"", slot, event_name(ev->kind));
		if (ev->task) {
			printf(",\"task\":");
			mr_cli_json_string(stdout, ev->task);
		}
		if (ev->kind == MR_PURGE_EV_TASK || ev->kind == MR_PURGE_EV_END)
			printf(",\"ms\":%" PRIu64 ",\"rc\":%d,\"complete\":%s", ev->duration_ms, ev->rc,
			       ev->complete ? "true" : "false");
		printf(",\"detail\":");
		mr_cli_json_string(stdout, ev->detail ? ev->detail : "");
		printf("}\n");
	} else {
		printf("%.19s.%03ldZ node=%s store=%s slot=%s event=%s", now, ts.tv_nsec / 1000000, ev->node, ev->store, slot,
		       event_name(ev->kind));
		if (ev->task)
			printf(" task=%s", ev->task);
		if (ev->kind == MR_PURGE_EV_TASK || ev->kind == MR_PURGE_EV_END)
			printf(" ms=%" PRIu64 " %s", ev->duration_ms, ev->rc < 0 ? "failed" : ev->complete ? "complete" : "stopped");
		if (ev->detail && *ev->detail)
			printf(" %s", ev->detail);
		printf("\n");
	}
	fflush(stdout);
}

static volatile int g_stop;
static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

void mr_cli_stop_on_signals(volatile int **flag)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	*flag = &g_stop;
}

static const char usage_text[] = "usage: mailroom purge --store ID [--now] [--grace DURATION] [--node NAME] [-c FILE] [--json]";

int mr_cmd_purge(mr_cli *cli, int argc, char **argv)
{
	const char *store = NULL, *node = NULL;
	bool now = false;
	int64_t grace = -1;
	for (int i = 1; i < argc; i++) {
		bool has_value = i + 1 < argc;
		if (strcmp(argv[i], "--store") == 0 && has_value)
			store = argv[++i];
		else if (strcmp(argv[i], "--node") == 0 && has_value)
			node = argv[++i];
		else if (strcmp(argv[i], "--grace") == 0 && has_value) {
			if (mr_config__parse_duration(argv[++i], &grace) < 0)
				return mr_cli_usage("--grace \"%s\": expected a duration (e.g. 0, 30s, 1h)", argv[i]);
		} else if (strcmp(argv[i], "--now") == 0)
			now = true;
		else if (strcmp(argv[i], "--store") == 0 || strcmp(argv[i], "--node") == 0 || strcmp(argv[i], "--grace") == 0)
			return mr_cli_usage("%s: missing value\n%s", argv[i], usage_text);
		else
			return mr_cli_usage("purge: unexpected argument \"%s\"\n%s", argv[i], usage_text);
	}
	if (!store)
		return mr_cli_usage("purge: --store is required\n%s", usage_text);
	mr_config *cfg;
	int exit_code;
	if (mr_cli_load_config(cli, &cfg, &exit_code))
		return exit_code;
	mr_sched_clock clock;
	mr_purge *p = NULL;
	int64_t slot = 0;
	exit_code = MR_EXIT_FAIL;
	if (mr_sched_clock_init(&clock) < 0) {
		exit_code = mr_cli_fail("purge");
		goto done;
	}
	if (!mr_config_store(cfg, store)) {
		fprintf(stderr, "mailroom: purge: no store \"%s\" in %s\n", store, mr_config_path(cfg));
		exit_code = MR_EXIT_USAGE;
		goto done;
	}
	if (!now && mr_purge_current_slot(cfg, store, mr_sched_clock_now_ms(&clock) / 1000, &slot) < 0) {
		fprintf(stderr, "mailroom: purge: %s (use --now to purge at once)\n", mr_error_last()->message);
		exit_code = MR_EXIT_USAGE;
		goto done;
	}
	volatile int *stop;
	mr_cli_stop_on_signals(&stop);
	mr_purge_opts o = {.node = node, .grace_ms = grace, .stop = stop, .clock = &clock, .on_event = mr_cli_purge_event,
			   .payload = cli};
	if (mr_purge_open(&p, cfg, &o) < 0) {
		exit_code = mr_cli_fail("purge");
		goto done;
	}
	mr_purge_set_changes_hook(p, mr_model_changes_purge, NULL);
	mr_purge_outcome out;
	if (mr_purge_run(p, store, slot, now ? MR_PURGE_NOW : MR_PURGE_SLOT, &out) < 0) {
		exit_code = mr_cli_fail("purge");
		goto done;
	}
	switch (out) {
	case MR_PURGE_COMPLETE:
	case MR_PURGE_DONE:
		exit_code = MR_EXIT_OK;
		break;
	case MR_PURGE_BUSY:
		fprintf(stderr, "mailroom: purge: store \"%s\": another run holds its lock; nothing done\n", store);
		break;
	case MR_PURGE_STOPPED:
		fprintf(stderr, "mailroom: purge: store \"%s\": stopped at a checkpoint; the next run resumes\n", store);
		break;
	case MR_PURGE_FAILED:
		fprintf(stderr, "mailroom: purge: store \"%s\": a task failed (see its event); the next run resumes at it\n",
			store);
		break;
	}
done:
	mr_purge_close(p);
	mr_config_free(cfg);
	return exit_code;
}
