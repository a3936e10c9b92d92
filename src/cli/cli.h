/*
 * cli.h — shared pieces of the `mailroom` command: global options, error
 * printing and exit codes.  One file per subcommand (cmd_<name>.c), listed
 * in commands.def.
 *
 * Exit codes: 0 success; 1 a runtime failure (backend down, I/O, corrupt
 * data); 2 usage or configuration errors.
 */
#ifndef MR_CLI_H
#define MR_CLI_H

#include "mailroom/config.h"
#include "mailroom/mailroom.h"

#include <stdbool.h>
#include <stdio.h>

#define MR_EXIT_OK 0
#define MR_EXIT_FAIL 1
#define MR_EXIT_USAGE 2

typedef struct mr_cli {
	const char *config_path; /* -c FILE, or NULL */
	bool json;               /* --json */
	mr_log_level log_level;
	const char *prog;
} mr_cli;

/*
 * Strips the global options (-c/--config FILE, --json, -v/--verbose,
 * -q/--quiet, --log-level L) wherever they appear in argv, compacting it.
 * Returns 0 or MR_EINVALID.
 */
int mr_cli_parse_globals(mr_cli *cli, int *argc, char **argv);

/* Prints "mailroom: <context>: <last error message>" to stderr and returns
 * the exit code for the last error (2 for MR_EINVALID, else 1). */
int mr_cli_fail(const char *context);
/* Prints a usage error to stderr and returns MR_EXIT_USAGE. */
int mr_cli_usage(const char *fmt, ...) MR_PRINTF(1, 2);

/* Loads the configuration found by -c, $MAILROOM_CONFIG, ./mailroom.toml,
 * printing its warnings to stderr.  Returns 0 or an error already printed
 * (*exit_code set). */
int mr_cli_load_config(const mr_cli *cli, mr_config **out, int *exit_code);

/* JSON string escaping to a stream. */
void mr_cli_json_string(FILE *f, const char *s);

/* The stores of the mail commands, opened from the configuration's [storage] roles. */
struct mr_data;
struct mr_blob;
struct mr_search;
typedef struct mr_cli_stores {
	mr_config *cfg;
	struct mr_data *data;
	struct mr_blob *blob;     /* NULL unless asked for */
	struct mr_search *search; /* NULL unless asked for */
} mr_cli_stores;
#define MR_CLI_OPEN_BLOB 1u
#define MR_CLI_OPEN_SEARCH 2u
/* The command only reads: the data store is opened with mr_data_open_readonly
 * (on RocksDB: no lock, so it runs beside the daemon; nothing written). */
#define MR_CLI_OPEN_READONLY 4u
/* Loads the configuration and opens the data store (and the blob / search
 * stores per flags).  Returns 0, or the exit code after printing the error. */
int mr_cli_open_stores(const mr_cli *cli, unsigned flags, mr_cli_stores *st, const char *context);
void mr_cli_close_stores(mr_cli_stores *st);

/* Purge/daemon events, one line each on stdout (cmd_purge.c); payload: the mr_cli. */
struct mr_purge_event;
void mr_cli_purge_event(const struct mr_purge_event *ev, void *payload);
/* Installs SIGTERM/SIGINT handlers raising *flag (cmd_purge.c). */
void mr_cli_stop_on_signals(volatile int **flag);

typedef int (*mr_cli_cmd_fn)(mr_cli *cli, int argc, char **argv);

#define MR_CLI_COMMAND(name, fn, summary) int fn(mr_cli *cli, int argc, char **argv);
#include "cli/commands.def"
#undef MR_CLI_COMMAND

#endif
