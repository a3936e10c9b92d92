/*
 * stores.c — opens the stores the mail commands need from the
 * configuration's [storage] roles: data (always), blob, fts.
 */
#include "cli/cli.h"

#include "mailroom/blob.h"
#include "mailroom/data.h"
#include "mailroom/search.h"

#include <string.h>

int mr_cli_open_stores(const mr_cli *cli, unsigned flags, mr_cli_stores *st, const char *context)
{
	memset(st, 0, sizeof(*st));
	int exit_code = 0;
	if (mr_cli_load_config(cli, &st->cfg, &exit_code) != 0)
		return exit_code;
	const char *data_id = mr_config_role(st->cfg, "data");
	if (!data_id) {
		mr_error_set(MR_EINVALID, "storage.data: no data store configured");
		goto fail;
	}
	if ((flags & MR_CLI_OPEN_READONLY ? mr_data_open_readonly(&st->data, st->cfg, data_id)
					  : mr_data_open(&st->data, st->cfg, data_id)) != 0)
		goto fail;
	if (flags & MR_CLI_OPEN_BLOB) {
		const char *blob_id = mr_config_role(st->cfg, "blob");
		if (!blob_id) {
			mr_error_set(MR_EINVALID, "storage.blob: no blob store configured");
			goto fail;
		}
		if (mr_blob_open(&st->blob, st->cfg, blob_id, st->data) != 0)
			goto fail;
	}
	if ((flags & MR_CLI_OPEN_SEARCH) && mr_search_open(&st->search, st->cfg, NULL, st->data) != 0)
		goto fail;
	return 0;
fail:;
	int rc = mr_cli_fail(context);
	mr_cli_close_stores(st);
	return rc;
}

void mr_cli_close_stores(mr_cli_stores *st)
{
	if (st->search)
		mr_search_close(st->search);
	if (st->blob)
		mr_blob_close(st->blob);
	if (st->data)
		mr_data_close(st->data);
	mr_config_free(st->cfg);
	memset(st, 0, sizeof(*st));
}
