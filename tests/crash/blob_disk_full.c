/*
 * blob_disk_full.c — fs blob backend on a full file system: a 2 MiB tmpfs
 * (needs root to mount; SKIPPED with the reason otherwise).  Putting a
 * 3 MiB blob must fail with MR_ELIMIT naming the file, leave nothing under
 * the id and no temp file; a small blob still fits afterwards.  The same
 * for a staged write (stage_mem / put_staged / discard_staged).
 */
#include "blob/backend.h"
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

static char mnt[] = "/tmp/mr-blob-full-XXXXXX";

typedef struct src {
	size_t left;
} src;

static int src_read(void *buf, size_t cap, size_t *got, void *payload)
{
	src *s = payload;
	size_t n = s->left < cap ? s->left : cap;
	memset(buf, 0x5a, n);
	s->left -= n;
	*got = n;
	return 0;
}

static int count_tmp_files(void)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "find %s -name '.tmp-*' | wc -l", mnt);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void test_disk_full(void)
{
	char store[300];
	snprintf(store, sizeof store, "%s/blobs", mnt);
	mr_blob_inst *b = NULL;
	MR_CHECK_OK(mr_blob__fs_open(&b, store, 1));
	mr_blob_id big, small;
	mr_blob_hash_bytes("big", 3, &big); /* the id's value is irrelevant to the backend */
	mr_blob_hash_bytes("small", 5, &small);
	src s = {3 * 1024 * 1024};
	int rc = b->backend->put(b, &big, src_read, &s);
	MR_CHECK_RC(rc, MR_ELIMIT);
	MR_CHECK(strstr(mr_error_last()->message, "file system full") != NULL);
	uint64_t size;
	MR_CHECK_RC(b->backend->stat(b, &big, &size), MR_ENOTFOUND);
	MR_CHECK_EQ_INT(count_tmp_files(), 0);
	src t = {1000};
	MR_CHECK_OK(b->backend->put(b, &small, src_read, &t));
	MR_CHECK_OK(b->backend->stat(b, &small, &size));
	MR_CHECK_EQ_INT(size, 1000);
	/* staged writes (stage_mem, what the front uses for in-memory blobs
	 * of 16 KiB and more) fail the same way and leave no temp file */
	void *st = NULL;
	uint8_t *mem = malloc(3 * 1024 * 1024);
	MR_CHECK(mem != NULL);
	if (mem) {
		memset(mem, 0x33, 3 * 1024 * 1024);
		MR_CHECK_RC(b->backend->stage_mem(b, mem, 3 * 1024 * 1024, &st), MR_ELIMIT);
		MR_CHECK(st == NULL);
		MR_CHECK_EQ_INT(count_tmp_files(), 0);
		/* and a staged blob that fits becomes the object of its id */
		MR_CHECK_OK(b->backend->stage_mem(b, mem, 100 * 1024, &st));
		MR_CHECK(st != NULL);
		MR_CHECK_EQ_INT(count_tmp_files(), 1);
		MR_CHECK_OK(b->backend->put_staged(b, st, &big));
		MR_CHECK_OK(b->backend->stat(b, &big, &size));
		MR_CHECK_EQ_INT(size, 100 * 1024);
		MR_CHECK_EQ_INT(count_tmp_files(), 0);
		/* a discarded one leaves nothing */
		MR_CHECK_OK(b->backend->stage_mem(b, mem, 50 * 1024, &st));
		b->backend->discard_staged(b, st);
		MR_CHECK_EQ_INT(count_tmp_files(), 0);
		free(mem);
	}
	b->backend->close(b);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("SKIPPED: mounting a 2 MiB tmpfs needs root\n");
		return 77;
	}
	if (!mkdtemp(mnt))
		return 1;
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m,mode=0700") != 0) {
		printf("SKIPPED: mount -t tmpfs not permitted here: %s\n", strerror(errno));
		rmdir(mnt);
		return 77;
	}
	MR_TEST_RUN(test_disk_full);
	umount(mnt);
	rmdir(mnt);
	MR_TEST_DONE();
}
