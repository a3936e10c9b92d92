/*
 * cmd_export.c — `mailroom export ACCOUNT DIR [--format maildir|mbox]`:
 * every message of an account back to disk, byte-exact (src/mail/export.c).
 */
#include "cli/cli.h"

#include "mail/export.h"

#include <string.h>

int mr_cmd_export(mr_cli *cli, int argc, char **argv)
{
	const char *account = NULL, *dir = NULL;
	mr_export_format format = MR_EXPORT_MAILDIR;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "maildir") == 0)
				format = MR_EXPORT_MAILDIR;
			else if (strcmp(argv[i], "mbox") == 0)
				format = MR_EXPORT_MBOX;
			else
				return mr_cli_usage("export: --format must be maildir or mbox, not \"%s\"", argv[i]);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return mr_cli_usage("export: unknown option %s", argv[i]);
		} else if (!account) {
			account = argv[i];
		} else if (!dir) {
			dir = argv[i];
		} else {
			return mr_cli_usage("usage: mailroom export ACCOUNT DIR [--format maildir|mbox]");
		}
	}
	if (!account || !dir)
		return mr_cli_usage("usage: mailroom export ACCOUNT DIR [--format maildir|mbox]");
	mr_cli_stores st;
	int rc = mr_cli_open_stores(cli, MR_CLI_OPEN_BLOB | MR_CLI_OPEN_READONLY, &st, "export");
	if (rc)
		return rc;
	mr_export_result res;
	if (mr_export_run(st.data, st.blob, account, dir, format, &res) != 0) {
		rc = mr_cli_fail("export");
	} else if (cli->json) {
		printf("{\"mailboxes\":%llu,\"messages\":%llu,\"bytes\":%llu,\"not_exact\":%llu}\n",
		       (unsigned long long)res.mailboxes, (unsigned long long)res.messages,
		       (unsigned long long)res.bytes, (unsigned long long)res.not_exact);
	} else {
		printf("exported %llu messages (%.1f MB) in %llu mailboxes to %s\n", (unsigned long long)res.messages,
		       (double)res.bytes / 1e6, (unsigned long long)res.mailboxes, dir);
		if (res.not_exact)
			printf("note: %llu messages do not end with a line end; mbox adds one (maildir export is exact)\n",
			       (unsigned long long)res.not_exact);
	}
	mr_cli_close_stores(&st);
	return rc;
}
