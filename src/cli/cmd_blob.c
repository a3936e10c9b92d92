/*
 * cmd_blob.c — `mailroom blob hash FILE...`: prints each file's blob id
 * (BLAKE3-256, the same hex digest `b3sum --no-names` prints).  The other
 * blob subcommands arrive with the blob store.
 */
#include "cli/cli.h"
#include "mailroom/blob.h"

#include <string.h>

int mr_cmd_blob(mr_cli *cli, int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[1], "hash") != 0)
		return mr_cli_usage("usage: mailroom blob hash FILE... [--json]");
	if (cli->json)
		printf("[");
	int status = MR_EXIT_OK;
	for (int i = 2; i < argc; i++) {
		mr_blob_id id;
		uint64_t size;
		if (mr_blob_id_of_file(&id, argv[i], &size)) {
			status = mr_cli_fail("blob hash");
			continue;
		}
		char text[MR_BLOB_ID_TEXT_LEN + 1];
		mr_blob_id_format(&id, text);
		if (cli->json) {
			printf("%s{\"file\":", i > 2 ? "," : "");
			mr_cli_json_string(stdout, argv[i]);
			printf(",\"id\":\"%s\",\"size\":%llu}", text, (unsigned long long)size);
		} else if (argc > 3)
			printf("%s  %s\n", text, argv[i]);
		else
			printf("%s\n", text);
	}
	if (cli->json)
		printf("]\n");
	return status;
}
