/*
 * cmd_blob.c — `mailroom blob hash|put|get|stat|upload`.  `hash` prints a
 * file's id exactly as `b3sum --no-names FILE` does; the others go through
 * the blob front (include/mailroom/blob.h) on the `storage.blob` store with
 * its metadata in the `storage.data` store, so dedup, blob records,
 * reservations and verified reads are the library's.
 */
#include "cli/cli.h"

#include "blob/hash.h"
#include "mailroom/blob.h"
#include "mailroom/data.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct blob_ctx {
	mr_config *cfg;
	mr_data *meta;
	mr_blob *bs;
} blob_ctx;

static void blob_ctx_close(blob_ctx *c)
{
	mr_blob_close(c->bs);
	mr_data_close(c->meta);
	mr_config_free(c->cfg);
}

/* Opens storage.data and storage.blob.  Returns 0 or the exit code (printed). */
static int blob_ctx_open(const mr_cli *cli, blob_ctx *c, const char *what)
{
	int exit_code = 0;
	memset(c, 0, sizeof(*c));
	if (mr_cli_load_config(cli, &c->cfg, &exit_code) != 0)
		return exit_code;
	const char *data = mr_config_role(c->cfg, "data");
	const char *blob = mr_config_role(c->cfg, "blob");
	if (!blob) {
		mr_error_set(MR_EINVALID, "%s: storage.blob: no blob store configured", mr_config_path(c->cfg));
		return mr_cli_fail(what);
	}
	if (!data) {
		mr_error_set(MR_EINVALID, "%s: storage.data: no data store configured (the blob store keeps its records there)",
			     mr_config_path(c->cfg));
		return mr_cli_fail(what);
	}
	if (mr_data_open(&c->meta, c->cfg, data) != 0 || mr_blob_open(&c->bs, c->cfg, blob, c->meta) != 0)
		return mr_cli_fail(what);
	return 0;
}

static int blob_put(mr_cli *cli, const char *path, const char *account, int64_t ttl)
{
	blob_ctx c;
	mr_blob_id id;
	uint64_t size = 0;
	bool stored_new = false;
	const char *what = account ? "blob upload" : "blob put";
	char *end = NULL;
	unsigned long acct = 0;
	if (account) {
		errno = 0;
		acct = strtoul(account, &end, 10);
		if (errno || !*account || *end || acct > UINT32_MAX)
			return mr_cli_usage("blob upload: ACCOUNT \"%s\": expected an account number (0-4294967295)", account);
	}
	int rc = blob_ctx_open(cli, &c, what);
	if (rc != 0)
		goto done;
	if (mr_blob_put_file(c.bs, path, &id, &size, &stored_new) != 0) {
		rc = mr_cli_fail(what);
		goto done;
	}
	int64_t expires = 0;
	if (account) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		expires = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ttl * 1000;
		if (mr_blob_reserve(c.bs, &id, (uint32_t)acct, expires) != 0) {
			rc = mr_cli_fail(what);
			goto done;
		}
	}
	char text[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_format(&id, text);
	if (cli->json) {
		printf("{\"id\":\"%s\",\"size\":%" PRIu64 ",\"existed\":%s", text, size, stored_new ? "false" : "true");
		if (account)
			printf(",\"account\":%lu,\"expires_ms\":%" PRId64, acct, expires);
		printf("}\n");
	} else {
		printf("%s\n", text);
	}
done:
	blob_ctx_close(&c);
	return rc;
}

static int blob_get(mr_cli *cli, const char *idtext, const char *out_path)
{
	blob_ctx c;
	mr_blob_id id;
	int fd = -1;
	if (mr_blob_id_parse(idtext, &id) != 0)
		return mr_cli_fail("blob get");
	int rc = blob_ctx_open(cli, &c, "blob get");
	if (rc != 0)
		goto done;
	fd = out_path ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : STDOUT_FILENO;
	if (fd < 0) {
		mr_error_set_errno(MR_EIO, errno, "open \"%s\"", out_path);
		rc = mr_cli_fail("blob get");
		goto done;
	}
	if (mr_blob_get_fd(c.bs, &id, fd, MR_BLOB_VERIFY) != 0)
		rc = mr_cli_fail("blob get");
	else if (out_path && fsync(fd) != 0) {
		mr_error_set_errno(MR_EIO, errno, "fsync \"%s\"", out_path);
		rc = mr_cli_fail("blob get");
	}
done:
	if (out_path && fd >= 0) {
		close(fd);
		if (rc != 0)
			unlink(out_path); /* never leave wrong or partial bytes behind */
	}
	blob_ctx_close(&c);
	return rc;
}

static int blob_stat(mr_cli *cli, const char *idtext)
{
	blob_ctx c;
	mr_blob_id id;
	mr_blob_info info;
	if (mr_blob_id_parse(idtext, &id) != 0)
		return mr_cli_fail("blob stat");
	int rc = blob_ctx_open(cli, &c, "blob stat");
	if (rc == 0 && mr_blob_stat(c.bs, &id, &info) != 0)
		rc = mr_cli_fail("blob stat");
	if (rc == 0 && cli->json) {
		printf("{\"id\":\"%s\",\"size\":%" PRIu64 ",\"stored_size\":%" PRIu64
		       ",\"compression\":\"%s\",\"inline\":%s,\"links\":%" PRIu64 ",\"reservations\":%" PRIu64
		       ",\"created_ms\":%" PRId64 "}\n",
		       idtext, info.size, info.stored_size, info.compression, info.inline_stored ? "true" : "false",
		       info.links, info.reservations, info.created_ms);
	} else if (rc == 0) {
		printf("id: %s\nsize: %" PRIu64 "\nstored size: %" PRIu64 "\ncompression: %s\ninline: %s\nlinks: %" PRIu64
		       "\nreservations: %" PRIu64 "\ncreated ms: %" PRId64 "\n",
		       idtext, info.size, info.stored_size, info.compression, info.inline_stored ? "yes" : "no", info.links,
		       info.reservations, info.created_ms);
	}
	blob_ctx_close(&c);
	return rc;
}

static int blob_hash(mr_cli *cli, const char *path)
{
	mr_blob_id id;
	uint64_t size = 0;
	if (mr_blob_hash_file(path, &id, &size) != 0)
		return mr_cli_fail("blob hash");
	char text[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_format(&id, text);
	if (cli->json) {
		printf("{\"file\":");
		mr_cli_json_string(stdout, path);
		printf(",\"id\":\"%s\",\"size\":%" PRIu64 "}\n", text, size);
	} else {
		printf("%s\n", text);
	}
	return MR_EXIT_OK;
}

#define BLOB_USAGE                                                                                                     \
	"usage: mailroom blob hash FILE | put FILE | get ID [-o FILE] | stat ID | upload ACCOUNT FILE --ttl SECONDS"

int mr_cmd_blob(mr_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return mr_cli_usage(BLOB_USAGE);
	const char *sub = argv[1];
	if (strcmp(sub, "hash") == 0 && argc == 3)
		return blob_hash(cli, argv[2]);
	if (strcmp(sub, "put") == 0 && argc == 3)
		return blob_put(cli, argv[2], NULL, 0);
	if (strcmp(sub, "get") == 0 && (argc == 3 || (argc == 5 && strcmp(argv[3], "-o") == 0)))
		return blob_get(cli, argv[2], argc == 5 ? argv[4] : NULL);
	if (strcmp(sub, "stat") == 0 && argc == 3)
		return blob_stat(cli, argv[2]);
	if (strcmp(sub, "upload") == 0 && argc == 6 && strcmp(argv[4], "--ttl") == 0) {
		char *end = NULL;
		errno = 0;
		long long ttl = strtoll(argv[5], &end, 10);
		if (errno || !*argv[5] || *end || ttl <= 0 || ttl > 365LL * 24 * 3600)
			return mr_cli_usage("blob upload: --ttl \"%s\": expected seconds (1 to 31536000)", argv[5]);
		return blob_put(cli, argv[3], argv[2], ttl);
	}
	return mr_cli_usage(BLOB_USAGE);
}
