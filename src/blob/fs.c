/*
 * fs.c — file-system blob backend (contract in backend.h).  A blob lives
 * at <path>/<aa>/<bb>/.../<64-hex-id> with `depth` directory levels named
 * by successive id bytes.  put writes a temp file in the blob's final
 * directory, fsyncs it, renames it into place and fsyncs the directory, so
 * a crash or ENOSPC never leaves a partial blob under its id.  Files are
 * 0600, directories 0700.  Ids, links, quota and purge are the front's.
 */
#include "blob/backend.h"

#include "core/common.h"
#include "mailroom/mailroom.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct fs_inst {
	mr_blob_inst base;
	char *root;
	int depth;
} fs_inst;

static const mr_blob_backend fs_backend;

/* <root>/<aa>/.../<id>; dir_len gets the length of the directory part. */
static void fs_path(const fs_inst *fs, const mr_blob_id *id, char *out, size_t cap, size_t *dir_len)
{
	char text[MR_BLOB_ID_TEXT_LEN + 1];
	mr_blob_id_format(id, text);
	size_t n = (size_t)snprintf(out, cap, "%s", fs->root);
	for (int i = 0; i < fs->depth; i++)
		n += (size_t)snprintf(out + n, cap - n, "/%.2s", text + 2 * i);
	if (dir_len)
		*dir_len = n;
	snprintf(out + n, cap - n, "/%s", text);
}

static int fs_mkdirs(char *path, size_t root_len)
{
	for (char *p = path + root_len + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			int r = mkdir(path, 0700);
			int e = errno;
			*p = c;
			if (r != 0 && e != EEXIST)
				return mr_error_set_errno(e == ENOSPC ? MR_ELIMIT : MR_EIO, e, "blob fs: mkdir \"%s\"", path);
			if (c == '\0')
				break;
		}
	}
	return 0;
}

static int fs_io_err(int e, const char *what, const char *path)
{
	if (e == ENOSPC || e == EDQUOT)
		return mr_error_set_errno(MR_ELIMIT, e, "blob fs: %s \"%s\": file system full", what, path);
	return mr_error_set_errno(MR_EIO, e, "blob fs: %s \"%s\"", what, path);
}

static int write_all(int fd, const uint8_t *p, size_t n, const char *tmp)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, p + off, n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return fs_io_err(errno, "write", tmp);
		}
		off += (size_t)w;
	}
	return 0;
}

/* Renames the fsynced temp file tmp to final (making the fan-out directory
 * dir first if it is missing) and fsyncs dir; tmp[0] becomes '\0' once
 * the rename is done (nothing left to unlink). */
static int fs_publish(fs_inst *fs, char *tmp, const char *final, char *dir)
{
	if (rename(tmp, final) != 0) {
		if (errno != ENOENT || fs->depth == 0)
			return fs_io_err(errno, "rename", final);
		int rc = fs_mkdirs(dir, strlen(fs->root));
		if (rc != 0)
			return rc;
		if (rename(tmp, final) != 0)
			return fs_io_err(errno, "rename", final);
	}
	tmp[0] = '\0';
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = dfd < 0 || fsync(dfd) != 0 ? fs_io_err(errno, "fsync directory", dir) : 0;
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* The bytes come from mem (mem_len of them) or, when mem is NULL, from fn.
 * deferred: no fsync of the file or its directory (fs_sync does it). */
static int put_common(fs_inst *fs, const mr_blob_id *id, mr_blob_read_fn fn, void *payload, const uint8_t *mem,
		      size_t mem_len, bool deferred)
{
	char final[4096], tmp[4200];
	size_t dir_len;
	int rc = 0, fd = -1;
	uint8_t *buf = NULL;
	fs_path(fs, id, final, sizeof final, &dir_len);
	char dir[4096];
	memcpy(dir, final, dir_len);
	dir[dir_len] = '\0';
	snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
	fd = mkstemp(tmp);
	if (fd < 0 && errno == ENOENT && fs->depth > 0) {
		/* the fan-out directory does not exist yet (made on first use,
		 * not checked on every put: two mkdir calls cost 8 % of a put) */
		if ((rc = fs_mkdirs(dir, strlen(fs->root))) != 0) {
			tmp[0] = '\0';
			goto done;
		}
		snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
		fd = mkstemp(tmp);
	}
	if (fd < 0) {
		rc = fs_io_err(errno, "create", tmp);
		tmp[0] = '\0';
		goto done;
	}
	if (mem) {
		if ((rc = write_all(fd, mem, mem_len, tmp)) != 0)
			goto done;
	} else {
		if (!(buf = mr_malloc(64 * 1024))) {
			rc = MR_ENOMEM;
			goto done;
		}
		for (;;) {
			size_t got = 0;
			if ((rc = fn(buf, 64 * 1024, &got, payload)) != 0)
				goto done;
			if (got == 0)
				break;
			if ((rc = write_all(fd, buf, got, tmp)) != 0)
				goto done;
		}
	}
	if (deferred) {
		close(fd);
		fd = -1;
		if (rename(tmp, final) != 0)
			rc = fs_io_err(errno, "rename", final);
		else
			tmp[0] = '\0';
		goto done;
	}
	if (fsync(fd) != 0) {
		rc = fs_io_err(errno, "fsync", tmp);
		goto done;
	}
	close(fd);
	fd = -1;
	rc = fs_publish(fs, tmp, final, dir);
done:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && tmp[0] != '\0')
		unlink(tmp);
	mr_free(buf);
	return rc;
}

static int fs_put(mr_blob_inst *b, const mr_blob_id *id, mr_blob_read_fn fn, void *payload)
{
	return put_common((fs_inst *)b, id, fn, payload, NULL, 0, false);
}

static int fs_put_mem(mr_blob_inst *b, const mr_blob_id *id, const void *data, size_t len)
{
	return put_common((fs_inst *)b, id, NULL, NULL, data ? data : "", len, false);
}

static int fs_put_mem_deferred(mr_blob_inst *b, const mr_blob_id *id, const void *data, size_t len)
{
	return put_common((fs_inst *)b, id, NULL, NULL, data ? data : "", len, true);
}

/* Every deferred put durable: one syncfs of the root's file system writes
 * back the files, their inodes and directories and flushes the device
 * once (instead of two fsyncs and flushes per blob). */
static int fs_sync(mr_blob_inst *b)
{
	fs_inst *fs = (fs_inst *)b;
	int dfd = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fs_io_err(errno, "open", fs->root);
	int rc = syncfs(dfd) != 0 ? fs_io_err(errno, "syncfs", fs->root) : 0;
	close(dfd);
	return rc;
}

/* A staged put: a temp file in the root, its writeback started. */
typedef struct fs_staged {
	int fd;
	char tmp[4200];
} fs_staged;

static int fs_stage_mem(mr_blob_inst *b, const void *data, size_t len, void **staged)
{
	fs_inst *fs = (fs_inst *)b;
	*staged = NULL;
	fs_staged *st = mr_malloc(sizeof *st);
	if (!st)
		return MR_ENOMEM;
	snprintf(st->tmp, sizeof st->tmp, "%s/.tmp-XXXXXX", fs->root);
	st->fd = mkstemp(st->tmp);
	if (st->fd < 0) {
		int rc = fs_io_err(errno, "create", st->tmp);
		mr_free(st);
		return rc;
	}
	int rc = write_all(st->fd, data ? data : "", len, st->tmp);
	if (rc != 0) {
		close(st->fd);
		unlink(st->tmp);
		mr_free(st);
		return rc;
	}
#ifdef SYNC_FILE_RANGE_WRITE
	/* start the writeback now; put_staged's fsync waits for what is left */
	(void)sync_file_range(st->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
	*staged = st;
	return 0;
}

static void fs_discard_staged(mr_blob_inst *b, void *staged)
{
	(void)b;
	fs_staged *st = staged;
	if (!st)
		return;
	close(st->fd);
	unlink(st->tmp);
	mr_free(st);
}

static int fs_put_staged(mr_blob_inst *b, void *staged, const mr_blob_id *id)
{
	fs_inst *fs = (fs_inst *)b;
	fs_staged *st = staged;
	char final[4096], dir[4096];
	size_t dir_len;
	int rc = 0;
	fs_path(fs, id, final, sizeof final, &dir_len);
	memcpy(dir, final, dir_len);
	dir[dir_len] = '\0';
	if (fsync(st->fd) != 0) {
		rc = fs_io_err(errno, "fsync", st->tmp);
		goto done;
	}
	rc = fs_publish(fs, st->tmp, final, dir);
done:
	close(st->fd);
	if (st->tmp[0])
		unlink(st->tmp);
	mr_free(st);
	return rc;
}

static int fs_get_range(mr_blob_inst *b, const mr_blob_id *id, uint64_t off, void *buf, size_t len,
			size_t *got)
{
	char path[4096];
	fs_path((fs_inst *)b, id, path, sizeof path, NULL);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? mr_error_set(MR_ENOTFOUND, "blob fs: \"%s\": not found", path)
				       : fs_io_err(errno, "open", path);
	size_t n = 0;
	int rc = 0;
	while (n < len) {
		ssize_t r = pread(fd, (uint8_t *)buf + n, len - n, (off_t)(off + n));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = fs_io_err(errno, "read", path);
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*got = n;
	return rc;
}

static int fs_stat(mr_blob_inst *b, const mr_blob_id *id, uint64_t *size)
{
	char path[4096];
	struct stat st;
	fs_path((fs_inst *)b, id, path, sizeof path, NULL);
	if (stat(path, &st) != 0)
		return errno == ENOENT ? MR_ENOTFOUND : fs_io_err(errno, "stat", path);
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

static int fs_remove(mr_blob_inst *b, const mr_blob_id *id)
{
	char path[4096];
	fs_path((fs_inst *)b, id, path, sizeof path, NULL);
	if (unlink(path) != 0 && errno != ENOENT)
		return fs_io_err(errno, "unlink", path);
	return 0;
}

static int fs_list_dir(const char *dir, int level, mr_blob_list_fn fn, void *payload)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : fs_io_err(errno, "opendir", dir);
	int rc = 0;
	struct dirent *e;
	char sub[4096];
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
		mr_blob_id id;
		if (level > 0) {
			rc = fs_list_dir(sub, level - 1, fn, payload);
		} else if (strlen(e->d_name) == MR_BLOB_ID_TEXT_LEN && mr_blob_id_parse(e->d_name, &id) == 0) {
			struct stat st;
			if (stat(sub, &st) == 0)
				rc = fn(&id, (uint64_t)st.st_size, payload);
		}
	}
	closedir(d);
	return rc < 0 ? rc : 0;
}

/* Temp files (".tmp-*") of puts killed before their rename, in the leaf
 * directories, older than cutoff (unix seconds). */
/* Temp files are looked for in the leaves (put) and the root (stage_mem). */
static int fs_sweep_dir(const char *dir, int level, bool root, time_t cutoff, uint64_t *removed)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : fs_io_err(errno, "opendir", dir);
	int rc = 0;
	struct dirent *e;
	char sub[4096];
	while (rc == 0 && (e = readdir(d)) != NULL) {
		bool tmp = strncmp(e->d_name, ".tmp-", 5) == 0;
		if ((e->d_name[0] == '.' && !tmp) || (tmp && level > 0 && !root))
			continue;
		snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
		struct stat st;
		if (level > 0 && !tmp) {
			rc = fs_sweep_dir(sub, level - 1, false, cutoff, removed);
		} else if (tmp && lstat(sub, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < cutoff) {
			if (unlink(sub) == 0)
				(*removed)++;
			else if (errno != ENOENT)
				rc = fs_io_err(errno, "unlink", sub);
		}
	}
	closedir(d);
	return rc;
}

static int fs_sweep_partial(mr_blob_inst *b, int64_t older_than_s, uint64_t *removed)
{
	fs_inst *fs = (fs_inst *)b;
	*removed = 0;
	return fs_sweep_dir(fs->root, fs->depth, true, time(NULL) - (time_t)older_than_s, removed);
}

static int fs_list(mr_blob_inst *b, mr_blob_list_fn fn, void *payload)
{
	fs_inst *fs = (fs_inst *)b;
	return fs_list_dir(fs->root, fs->depth, fn, payload);
}

static void fs_close(mr_blob_inst *b)
{
	fs_inst *fs = (fs_inst *)b;
	mr_free(fs->root);
	mr_free(fs);
}

static const mr_blob_backend fs_backend = {
	.version = MR_BLOB_BACKEND_VERSION,
	.name = "fs",
	.caps = 0,
	.put = fs_put,
	.put_mem = fs_put_mem,
	.get_range = fs_get_range,
	.stat = fs_stat,
	.remove = fs_remove,
	.list = fs_list,
	.sweep_partial = fs_sweep_partial,
	.close = fs_close,
	.stage_mem = fs_stage_mem,
	.put_staged = fs_put_staged,
	.discard_staged = fs_discard_staged,
	.put_mem_deferred = fs_put_mem_deferred,
	.sync = fs_sync,
};

int mr_blob__fs_open(mr_blob_inst **out, const char *path, int depth)
{
	if (depth < 0 || depth > 4)
		return mr_error_set(MR_EINVALID, "blob fs \"%s\": depth: expected 0-4, got %d", path, depth);
	if (strlen(path) > 3000)
		return mr_error_set(MR_EINVALID, "blob fs: path too long");
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return fs_io_err(errno, "mkdir", path);
	fs_inst *fs = mr_malloc(sizeof *fs);
	fs->base.backend = &fs_backend;
	fs->root = mr_malloc(strlen(path) + 1);
	memcpy(fs->root, path, strlen(path) + 1);
	fs->depth = depth;
	*out = &fs->base;
	return 0;
}
