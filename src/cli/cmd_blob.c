/*
 * cmd_blob.c — `mailroom blob hash FILE [--json]`: the BLAKE3 id of a
 * file, printed exactly as `b3sum --no-names FILE` prints it.  The other
 * blob subcommands (put/get/stat/upload) need the blob store front, which
 * is not built yet; they fail with a usage error saying so.
 */
#include "cli/cli.h"

#include "blob/hash.h"

#include <string.h>

int mr_cmd_blob(mr_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return mr_cli_usage("usage: mailroom blob hash FILE [--json]");
	if (strcmp(argv[1], "hash") != 0)
		return mr_cli_usage("mailroom blob %s: not implemented yet (only `blob hash FILE`)", argv[1]);
	if (argc != 3)
		return mr_cli_usage("usage: mailroom blob hash FILE [--json]");
	mr_blob_id id;
	uint64_t size = 0;
	if (mr_blob_hash_file(argv[2], &id, &size) != 0)
		return mr_cli_fail("blob hash");
	char text[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_format(&id, text);
	if (cli->json) {
		printf("{\"file\":");
		mr_cli_json_string(stdout, argv[2]);
		printf(",\"id\":\"%s\",\"size\":%llu}\n", text, (unsigned long long)size);
	} else {
		printf("%s\n", text);
	}
	return MR_EXIT_OK;
}
