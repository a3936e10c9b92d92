/*
 * cmd_version.c — `mailroom version [--json]`: the version and the
 * backends compiled into this build.
 */
#include "cli/cli.h"

int mr_cmd_version(mr_cli *cli, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return mr_cli_usage("usage: mailroom version [--json]");
	if (cli->json) {
		printf("{\"version\":");
		mr_cli_json_string(stdout, mr_version());
		printf(",\"backends\":");
		mr_cli_json_string(stdout, mr_backends_compiled());
		printf("}\n");
	} else {
		printf("mailroom %s\nbackends: %s\n", mr_version(), mr_backends_compiled());
	}
	return MR_EXIT_OK;
}
