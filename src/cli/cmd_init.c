/*
 * cmd_init.c — `mailroom init [DIR]`: writes a working single-node
 * configuration on the embedded defaults (RocksDB data, file-system blobs,
 * the built-in search index in the data store, the local in-memory store)
 * and creates its directories with mode 0700.  Never overwrites.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno == EEXIST) {
		struct stat st;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		return mr_error_set(MR_EEXISTS, "%s exists and is not a directory", path);
	}
	return mr_error_set_errno(MR_EIO, errno, "mkdir %s", path);
}

int mr_cmd_init(mr_cli *cli, int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
		return mr_cli_usage("usage: mailroom init [DIR]");
	const char *dir = argc == 2 ? argv[1] : ".";
	if (make_dir(dir))
		return mr_cli_fail("init");
	char abs[PATH_MAX];
	if (!realpath(dir, abs)) {
		mr_error_set_errno(MR_EIO, errno, "realpath %s", dir);
		return mr_cli_fail("init");
	}
	char path[PATH_MAX + 32], data[PATH_MAX + 32], blobs[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/mailroom.toml", abs);
	snprintf(data, sizeof(data), "%s/data", abs);
	snprintf(blobs, sizeof(blobs), "%s/blobs", abs);
	if (strpbrk(abs, "\"\\\n")) {
		mr_error_set(MR_EINVALID, "directory name %s contains a quote, backslash or newline", abs);
		return mr_cli_fail("init");
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		if (errno == EEXIST) {
			fprintf(stderr, "mailroom: init: %s already exists; not overwriting it (check it with `mailroom config check -c %s`)\n",
				path, path);
			return MR_EXIT_USAGE;
		}
		mr_error_set_errno(MR_EIO, errno, "create %s", path);
		return mr_cli_fail("init");
	}
	if (make_dir(data) || make_dir(blobs)) {
		close(fd);
		unlink(path);
		return mr_cli_fail("init");
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return mr_cli_fail("init");
	}
	fprintf(f,
		"# mailroom configuration: one node on the embedded defaults.\n"
		"# Every key is described in docs/configuration.md.\n\n"
		"[storage]\n"
		"data = \"rocksdb\"     # accounts, mailboxes, email metadata, links\n"
		"blob = \"fs\"          # raw messages and uploads\n"
		"fts = \"rocksdb\"      # built-in full-text index, kept in the data store\n"
		"lookup = \"memory\"    # rate limits, sessions, locks\n\n"
		"[store.\"rocksdb\"]\n"
		"type = \"rocksdb\"\n"
		"path = \"%s\"\n"
		"purge.frequency = \"0 3 *\"\n\n"
		"[store.\"fs\"]\n"
		"type = \"fs\"\n"
		"path = \"%s\"\n"
		"depth = 2\n"
		"purge.frequency = \"30 3 *\"\n\n"
		"[store.\"memory\"]\n"
		"type = \"local\"\n"
		"max-memory = \"256MiB\"\n"
		"purge.frequency = \"0 * *\"\n",
		data, blobs);
	if (fflush(f) != 0 || fsync(fd) != 0) {
		mr_error_set_errno(MR_EIO, errno, "write %s", path);
		fclose(f);
		unlink(path);
		return mr_cli_fail("init");
	}
	fclose(f);
	if (cli->json) {
		printf("{\"config\":");
		mr_cli_json_string(stdout, path);
		printf("}\n");
	} else
		printf("wrote %s\ncreated %s and %s (mode 0700)\nnext: mailroom config check -c %s\n", path, data, blobs, path);
	return MR_EXIT_OK;
}
