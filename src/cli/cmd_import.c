/*
 * cmd_import.c — `mailroom import ACCOUNT PATH... [--mailbox NAME]
 * [--no-index] [--no-maintain | --maintain-after N] [--workers N] [--batch N]`:
 * imports Maildirs, mbox files, .eml files and directories of them into an
 * account (src/mail/import.c); after N (default 2,000) or more stored
 * messages it maintains (compacts) the data store unless --no-maintain.
 * A progress bar on a terminal, a line every 5 s otherwise; a summary at
 * the end; exit 1 when a message failed.
 */
#include "cli/cli.h"

#include "mail/import.h"
#include "mail/message.h"
#include "mailroom/blob.h"
#include "mailroom/data.h"
#include "mailroom/search.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct progress_state {
	bool tty;
	bool json;
	bool printed;
} progress_state;

static void fmt_eta(char *out, size_t cap, double s)
{
	if (s < 0 || s > 360000)
		snprintf(out, cap, "--:--");
	else if (s >= 3600)
		snprintf(out, cap, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
	else
		snprintf(out, cap, "%02d:%02d", (int)s / 60, (int)s % 60);
}

static void on_progress(const mr_import_progress *p, void *payload)
{
	progress_state *ps = payload;
	double mb = (double)p->bytes / 1e6;
	double rate = p->elapsed > 0 ? (double)p->messages / p->elapsed : 0;
	double mbs = p->elapsed > 0 ? mb / p->elapsed : 0;
	double frac = p->total_bytes ? (double)p->bytes / (double)p->total_bytes : 0;
	if (frac > 1)
		frac = 1;
	char eta[32];
	fmt_eta(eta, sizeof(eta), p->done ? 0 : (mbs > 0 && p->total_bytes ? ((double)p->total_bytes / 1e6 - mb) / mbs : -1));
	if (ps->tty) {
		char bar[31];
		int fill = (int)(frac * 30);
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = 0;
		fprintf(stdout, "\r[%s] %3d%% %8llu msgs %8.1f MB %7.0f msg/s %6.1f MB/s ETA %s ", bar, (int)(frac * 100),
			(unsigned long long)p->messages, mb, rate, mbs, eta);
		if (p->done)
			fputc('\n', stdout);
		fflush(stdout);
		ps->printed = true;
	} else if (!ps->json && !p->done) {
		static double last = -10;
		if (p->elapsed - last < 5)
			return;
		last = p->elapsed;
		fprintf(stdout, "progress: %llu messages, %.1f MB, %.0f msg/s, %.1f MB/s, %d%%, ETA %s\n",
			(unsigned long long)p->messages, mb, rate, mbs, (int)(frac * 100), eta);
		fflush(stdout);
	}
}

int mr_cmd_import(mr_cli *cli, int argc, char **argv)
{
	mr_import_options opts = {0};
	const char *account = NULL;
	const char **paths = calloc((size_t)argc, sizeof(*paths));
	size_t npaths = 0;
	if (!paths)
		return mr_cli_usage("out of memory");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mailbox") == 0 && i + 1 < argc) {
			opts.mailbox = argv[++i];
		} else if (strcmp(argv[i], "--no-index") == 0) {
			opts.no_index = true;
		} else if (strcmp(argv[i], "--no-maintain") == 0) {
			opts.no_maintain = true;
		} else if (strcmp(argv[i], "--maintain-after") == 0 && i + 1 < argc) {
			char *end = NULL;
			const char *v = argv[++i];
			unsigned long long n = strtoull(v, &end, 10);
			if (!*v || *end || n == 0 || v[0] == '-') {
				free(paths);
				return mr_cli_usage("import: --maintain-after: expected a number of messages >= 1, got \"%s\"", v);
			}
			opts.maintain_after = n;
		} else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
			opts.workers = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
			opts.batch_messages = strtoul(argv[++i], NULL, 10);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			free(paths);
			return mr_cli_usage("import: unknown option %s (usage: mailroom import ACCOUNT PATH... [--mailbox NAME] [--no-index] [--no-maintain | --maintain-after N] [--workers N] [--batch N])",
					    argv[i]);
		} else if (!account) {
			account = argv[i];
		} else {
			paths[npaths++] = argv[i];
		}
	}
	if (!account || npaths == 0) {
		free(paths);
		return mr_cli_usage("usage: mailroom import ACCOUNT PATH... [--mailbox NAME] [--no-index] [--no-maintain | --maintain-after N] [--workers N] [--batch N]");
	}
	/* Check the paths before opening anything: a typo writes nothing. */
	uint64_t total = 0;
	if (mr_import_check(paths, npaths, &total) != 0) {
		free(paths);
		return mr_cli_fail("import");
	}
	mr_cli_stores st;
	int rc = mr_cli_open_stores(cli, MR_CLI_OPEN_BLOB | (opts.no_index ? 0 : MR_CLI_OPEN_SEARCH), &st, "import");
	if (rc) {
		free(paths);
		return rc;
	}
	progress_state ps = {.tty = isatty(STDOUT_FILENO) && !cli->json, .json = cli->json};
	opts.progress = on_progress;
	opts.progress_payload = &ps;
	opts.progress_interval = ps.tty ? 0.25 : 1.0;
	mr_import_result res;
	rc = mr_import_run(st.data, st.blob, st.search, account, paths, npaths, &opts, &res);
	int exit_code = MR_EXIT_OK;
	if (rc) {
		exit_code = mr_cli_fail("import");
	}
	double secs = res.seconds > 0 ? res.seconds : 1e-9;
	if (cli->json) {
		printf("{\"account\":");
		mr_cli_json_string(stdout, account);
		printf(",\"read\":%llu,\"imported\":%llu,\"added_to_mailbox\":%llu,\"duplicates\":%llu,\"with_warnings\":%llu,"
		       "\"failed\":%llu,\"new_blobs\":%llu,\"indexed\":%llu,\"bytes\":%llu,\"skipped_files\":%llu,"
		       "\"seconds\":%.3f,\"maintain_seconds\":%.3f,\"messages_per_second\":%.1f,\"mb_per_second\":%.2f,"
		       "\"failures\":[",
		       (unsigned long long)res.read, (unsigned long long)res.imported, (unsigned long long)res.added,
		       (unsigned long long)res.duplicates, (unsigned long long)res.with_warnings,
		       (unsigned long long)res.failed, (unsigned long long)res.new_blobs,
		       (unsigned long long)res.indexed, (unsigned long long)res.bytes,
		       (unsigned long long)res.skipped_files, res.seconds, res.maintain_seconds, (double)res.read / secs,
		       (double)res.bytes / 1e6 / secs);
		for (size_t i = 0; i < res.nfailures; i++) {
			printf("%s{\"source\":", i ? "," : "");
			mr_cli_json_string(stdout, res.failures[i].what);
			printf(",\"error\":");
			mr_cli_json_string(stdout, res.failures[i].why);
			printf("}");
		}
		printf("]}\n");
	} else {
		printf("imported %llu messages (%llu added to another mailbox), %llu duplicates, %llu with warnings, "
		       "%llu failed; %llu new blobs; %llu indexed; %.1f MB in %.1f s (%.0f msg/s, %.1f MB/s)\n",
		       (unsigned long long)res.imported, (unsigned long long)res.added,
		       (unsigned long long)res.duplicates, (unsigned long long)res.with_warnings,
		       (unsigned long long)res.failed, (unsigned long long)res.new_blobs,
		       (unsigned long long)res.indexed, (double)res.bytes / 1e6, res.seconds,
		       (double)res.read / secs, (double)res.bytes / 1e6 / secs);
		if (res.skipped_files)
			printf("skipped %llu files that do not look like mail\n", (unsigned long long)res.skipped_files);
		if (res.maintain_seconds > 0)
			printf("maintained (compacted) the data store in %.1f s of that\n", res.maintain_seconds);
	}
	for (size_t i = 0; i < res.nfailures; i++)
		fprintf(stderr, "mailroom: import: failed: %s: %s\n", res.failures[i].what, res.failures[i].why);
	if (res.failed > res.nfailures)
		fprintf(stderr, "mailroom: import: ... and %llu more failures\n",
			(unsigned long long)(res.failed - res.nfailures));
	if (exit_code == MR_EXIT_OK && res.failed)
		exit_code = MR_EXIT_FAIL;
	mr_import_result_dispose(&res);
	mr_cli_close_stores(&st);
	mr_mail_shutdown();
	free(paths);
	return exit_code;
}
