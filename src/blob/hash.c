/*
 * hash.c — BLAKE3 blob ids (contract in hash.h).  Uses the official BLAKE3
 * C implementation (target mr_blake3, built from Debian's
 * librust-blake3-dev sources with its SIMD dispatch); this file only wraps
 * it and owns the text form.  Storage of blobs is left to the backends.
 */
#include "blob/hash.h"

#include "core/common.h"
#include "mailroom/mailroom.h"

#include "blake3.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(blake3_hasher) <= sizeof(((mr_blob_hasher *)0)->state),
	       "mr_blob_hasher too small for blake3_hasher");
_Static_assert(MR_BLOB_ID_LEN == BLAKE3_OUT_LEN, "blob id is BLAKE3's default output");

void mr_blob_hasher_init(mr_blob_hasher *h)
{
	blake3_hasher_init((blake3_hasher *)(void *)h->state);
}

void mr_blob_hasher_update(mr_blob_hasher *h, const void *data, size_t len)
{
	if (len > 0)
		blake3_hasher_update((blake3_hasher *)(void *)h->state, data, len);
}

void mr_blob_hasher_final(const mr_blob_hasher *h, mr_blob_id *out)
{
	blake3_hasher_finalize((const blake3_hasher *)(const void *)h->state, out->bytes,
			       MR_BLOB_ID_LEN);
}

void mr_blob_hash_bytes(const void *data, size_t len, mr_blob_id *out)
{
	mr_blob_hasher h;
	mr_blob_hasher_init(&h);
	mr_blob_hasher_update(&h, data, len);
	mr_blob_hasher_final(&h, out);
}

/*
 * A regular file is hashed through read-only mappings of 64 MiB windows
 * (no copy into a buffer: the hash reads the page cache directly, as b3sum
 * does); anything else, or a file whose mapping fails, through read() in
 * 64 KiB pieces.  Either way memory use is bounded, whatever the size.
 */
enum { MAP_WINDOW = 64 << 20, READ_BUF = 64 * 1024 };

static int hash_mapped(int fd, uint64_t len, mr_blob_hasher *h)
{
	for (uint64_t off = 0; off < len; off += MAP_WINDOW) {
		size_t n = len - off < MAP_WINDOW ? (size_t)(len - off) : MAP_WINDOW;
		void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, (off_t)off);
		if (p == MAP_FAILED)
			return off == 0 ? 1 : mr_error_set_errno(MR_EIO, errno, "mmap"); /* 1: use read() */
		(void)madvise(p, n, MADV_SEQUENTIAL);
		mr_blob_hasher_update(h, p, n);
		munmap(p, n);
	}
	return 0;
}

int mr_blob_hash_file(const char *path, mr_blob_id *out, uint64_t *size)
{
	int rc = 0;
	uint64_t total = 0;
	uint8_t *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return mr_error_set_errno(errno == ENOENT ? MR_ENOTFOUND : MR_EIO, errno,
					  "open \"%s\"", path);
	}
	mr_blob_hasher h;
	mr_blob_hasher_init(&h);
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		rc = hash_mapped(fd, (uint64_t)st.st_size, &h);
		if (rc < 0) {
			mr_error_prefix("read \"%s\"", path);
			goto done;
		}
		if (rc == 0) {
			total = (uint64_t)st.st_size;
			/* bytes appended since fstat are read, not skipped */
			if (lseek(fd, (off_t)total, SEEK_SET) < 0) {
				rc = mr_error_set_errno(MR_EIO, errno, "seek \"%s\"", path);
				goto done;
			}
		} else {
			mr_blob_hasher_init(&h);
			rc = 0;
		}
	}
	buf = mr_malloc(READ_BUF);
	if (!buf) {
		rc = MR_ENOMEM;
		goto done;
	}
	for (;;) {
		ssize_t n = read(fd, buf, READ_BUF);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = mr_error_set_errno(MR_EIO, errno, "read \"%s\"", path);
			goto done;
		}
		if (n == 0)
			break;
		mr_blob_hasher_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	mr_blob_hasher_final(&h, out);
	if (size)
		*size = total;
done:
	mr_free(buf);
	close(fd);
	return rc;
}

void mr_blob_id_format(const mr_blob_id *id, char out[MR_BLOB_ID_TEXT_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < MR_BLOB_ID_LEN; i++) {
		out[2 * i] = hex[id->bytes[i] >> 4];
		out[2 * i + 1] = hex[id->bytes[i] & 0xf];
	}
	out[MR_BLOB_ID_TEXT_LEN] = '\0';
}

int mr_blob_id_parse(const char *text, mr_blob_id *out)
{
	size_t len = text ? strlen(text) : 0;
	if (len != MR_BLOB_ID_TEXT_LEN)
		goto bad;
	for (size_t i = 0; i < MR_BLOB_ID_LEN; i++) {
		int hi = mr_hex_digit(text[2 * i]), lo = mr_hex_digit(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			goto bad;
		out->bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
bad:
	return mr_error_set(MR_EINVALID, "blob id \"%.80s%s\": expected 64 hex digits", text ? text : "",
			    len > 80 ? "..." : "");
}

int mr_blob_id_equal(const mr_blob_id *a, const mr_blob_id *b)
{
	return memcmp(a->bytes, b->bytes, MR_BLOB_ID_LEN) == 0;
}
