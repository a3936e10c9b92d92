/*
 * cmd_daemon.c — `mailroom daemon [-c FILE] [--node NAME]`: runs every
 * store's purge schedule until SIGTERM or SIGINT (the running task
 * checkpoints and the lock is released).  One line per event on stdout.
 */
#include "cli/cli.h"
#include "mail/model.h"
#include "schedule/schedule.h"

#include <string.h>

int mr_cmd_daemon(mr_cli *cli, int argc, char **argv)
{
	const char *node = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--node") == 0 && i + 1 < argc)
			node = argv[++i];
		else
			return mr_cli_usage("daemon: unexpected argument \"%s\"\nusage: mailroom daemon [-c FILE] [--node NAME] [--json]",
					    argv[i]);
	}
	mr_config *cfg;
	int exit_code;
	if (mr_cli_load_config(cli, &cfg, &exit_code))
		return exit_code;
	mr_sched_clock clock;
	mr_purge *p = NULL;
	exit_code = MR_EXIT_OK;
	if (mr_sched_clock_init(&clock) < 0) {
		exit_code = mr_cli_fail("daemon");
		goto done;
	}
	if (mr_sched_clock_is_test(&clock))
		fprintf(stderr, "mailroom: warning: TEST CLOCK: one real second is %lld scheduler seconds "
				"(MAILROOM_TEST_CLOCK_SCALE); never in production\n", (long long)clock.scale);
	volatile int *stop;
	mr_cli_stop_on_signals(&stop);
	mr_purge_opts o = {.node = node, .grace_ms = -1, .stop = stop, .clock = &clock, .on_event = mr_cli_purge_event,
			   .payload = cli};
	if (mr_purge_open(&p, cfg, &o) == 0)
		mr_purge_set_changes_hook(p, mr_model_changes_purge, NULL);
	if (!p || mr_daemon_run(p, cfg) < 0)
		exit_code = mr_cli_fail("daemon");
	else
		fprintf(stderr, "mailroom: daemon: stopped\n");
done:
	mr_purge_close(p);
	mr_config_free(cfg);
	return exit_code;
}
