/*
 * main.c — entry point of the `mailroom` command: global options, the
 * stderr log handler, dispatch to one function per subcommand.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *name;
	mr_cli_cmd_fn fn;
	const char *summary;
} command;

static const command commands[] = {
#define MR_CLI_COMMAND(name, fn, summary) {name, fn, summary},
#include "cli/commands.def"
#undef MR_CLI_COMMAND
};

static void log_to_stderr(mr_log_level level, const char *msg, void *payload)
{
	(void)payload;
	fprintf(stderr, "mailroom: %s: %s\n", mr_log_level_name(level), msg);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mailroom [-c FILE] [--json] [-v|-q] <command> [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nThe configuration is read from -c FILE, else $MAILROOM_CONFIG, else ./mailroom.toml.\n");
}

int main(int argc, char **argv)
{
	mr_cli cli = {.log_level = MR_LOG_WARN, .prog = "mailroom"};
	if (mr_cli_parse_globals(&cli, &argc, argv) != 0)
		return mr_cli_fail("options");
	mr_log_set_handler(log_to_stderr, cli.log_level, NULL);
	if (argc < 2) {
		usage(stderr);
		return MR_EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return MR_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(&cli, argc - 1, argv + 1);
	fprintf(stderr, "mailroom: unknown command \"%s\" (try: mailroom help)\n", argv[1]);
	return MR_EXIT_USAGE;
}
