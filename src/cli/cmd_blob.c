/*
 * cmd_blob.c — `mailroom blob hash FILE`: the BLAKE3 id of a file, printed
 * exactly as `b3sum --no-names FILE` prints it; `blob put FILE` and
 * `blob get ID [-o FILE]` straight on the configured blob backend (the
 * front with links, quota and compression is not built yet, so these skip
 * it: put stores under the id unless already present, get verifies the
 * hash).  `stat` and `upload` need the front and fail with a usage error.
 */
#include "cli/cli.h"

#include "blob/backend.h"
#include "blob/hash.h"
#include "core/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct blob_file_src {
	FILE *f;
} blob_file_src;

static int blob_file_read(void *buf, size_t cap, size_t *got, void *payload)
{
	blob_file_src *s = payload;
	*got = fread(buf, 1, cap, s->f);
	if (*got == 0 && ferror(s->f))
		return mr_error_set_errno(MR_EIO, errno, "read");
	return 0;
}

static int blob_open_backend(const mr_cli *cli, mr_config **cfg, mr_blob_inst **b)
{
	int exit_code = 0;
	if (mr_cli_load_config(cli, cfg, &exit_code) != 0)
		return exit_code;
	const char *id = mr_config_role(*cfg, "blob");
	const mr_store_config *sc = id ? mr_config_store(*cfg, id) : NULL;
	if (!sc) {
		mr_error_set(MR_EINVALID, "storage.blob: no blob store configured");
		return mr_cli_fail("blob");
	}
	if (mr_blob__backend_open(b, sc) != 0)
		return mr_cli_fail("blob");
	return 0;
}

static int blob_put(mr_cli *cli, const char *path)
{
	mr_config *cfg = NULL;
	mr_blob_inst *b = NULL;
	FILE *f = NULL;
	mr_blob_id id;
	uint64_t size = 0, have = 0;
	char text[MR_BLOB_ID_TEXT_LEN + 1];
	int rc = blob_open_backend(cli, &cfg, &b);
	if (rc != 0)
		goto done;
	if (mr_blob_hash_file(path, &id, &size) != 0) {
		rc = mr_cli_fail("blob put");
		goto done;
	}
	mr_blob_id_format(&id, text);
	bool existed = b->backend->stat(b, &id, &have) == 0;
	if (!existed) {
		f = fopen(path, "rb");
		blob_file_src s = {f};
		if (!f) {
			mr_error_set_errno(MR_EIO, errno, "open \"%s\"", path);
			rc = mr_cli_fail("blob put");
			goto done;
		}
		if (b->backend->put(b, &id, blob_file_read, &s) != 0) {
			rc = mr_cli_fail("blob put");
			goto done;
		}
	}
	if (cli->json)
		printf("{\"id\":\"%s\",\"size\":%llu,\"existed\":%s}\n", text, (unsigned long long)size,
		       existed ? "true" : "false");
	else
		printf("%s\n", text);
done:
	if (f)
		fclose(f);
	if (b)
		b->backend->close(b);
	mr_config_free(cfg);
	return rc;
}

static int blob_get(mr_cli *cli, const char *idtext, const char *out_path)
{
	mr_config *cfg = NULL;
	mr_blob_inst *b = NULL;
	FILE *out = NULL;
	mr_blob_id id, check;
	uint8_t *buf = NULL;
	if (mr_blob_id_parse(idtext, &id) != 0)
		return mr_cli_fail("blob get");
	int rc = blob_open_backend(cli, &cfg, &b);
	if (rc != 0)
		goto done;
	out = out_path ? fopen(out_path, "wb") : stdout;
	if (!out) {
		mr_error_set_errno(MR_EIO, errno, "open \"%s\"", out_path);
		rc = mr_cli_fail("blob get");
		goto done;
	}
	buf = malloc(1 << 20);
	mr_blob_hasher h;
	mr_blob_hasher_init(&h);
	uint64_t off = 0;
	for (;;) {
		size_t got = 0;
		if (!buf || b->backend->get_range(b, &id, off, buf, 1 << 20, &got) != 0) {
			rc = mr_cli_fail("blob get");
			goto done;
		}
		if (got == 0)
			break;
		mr_blob_hasher_update(&h, buf, got);
		if (fwrite(buf, 1, got, out) != got) {
			mr_error_set_errno(MR_EIO, errno, "write");
			rc = mr_cli_fail("blob get");
			goto done;
		}
		off += got;
	}
	mr_blob_hasher_final(&h, &check);
	if (!mr_blob_id_equal(&id, &check)) {
		mr_error_set(MR_ECORRUPT, "blob %s: stored bytes do not hash to the id", idtext);
		rc = mr_cli_fail("blob get");
	}
done:
	free(buf);
	if (out && out != stdout) {
		fclose(out);
		if (rc != 0)
			unlink(out_path); /* never leave wrong or partial bytes behind */
	}
	if (b)
		b->backend->close(b);
	mr_config_free(cfg);
	return rc;
}

int mr_cmd_blob(mr_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return mr_cli_usage("usage: mailroom blob hash|put FILE, mailroom blob get ID [-o FILE]");
	if (strcmp(argv[1], "put") == 0 && argc == 3)
		return blob_put(cli, argv[2]);
	if (strcmp(argv[1], "get") == 0 && (argc == 3 || (argc == 5 && strcmp(argv[3], "-o") == 0)))
		return blob_get(cli, argv[2], argc == 5 ? argv[4] : NULL);
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
