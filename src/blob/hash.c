/*
 * hash.c — blob ids: BLAKE3-256 over the exact bytes, with the official C
 * implementation (built from Debian's librust-blake3-dev sources with its
 * SIMD paths, see cmake/Dependencies.cmake), streaming so a blob is never
 * held whole in memory; and the id's 64-hex-digit text form.
 */
#include "core/common.h"
#include "mailroom/blob.h"

#include "blake3.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

struct mr_blob_hasher {
	blake3_hasher h;
};

int mr_blob_hasher_new(mr_blob_hasher **out)
{
	*out = mr_malloc(sizeof(**out));
	if (!*out)
		return MR_ENOMEM;
	blake3_hasher_init(&(*out)->h);
	return 0;
}

void mr_blob_hasher_update(mr_blob_hasher *h, const void *p, size_t n) { blake3_hasher_update(&h->h, p, n); }
void mr_blob_hasher_finish(mr_blob_hasher *h, mr_blob_id *id) { blake3_hasher_finalize(&h->h, id->bytes, MR_BLOB_ID_LEN); }
void mr_blob_hasher_free(mr_blob_hasher *h) { mr_free(h); }

void mr_blob_id_of(mr_blob_id *id, const void *p, size_t n)
{
	blake3_hasher h;
	blake3_hasher_init(&h);
	blake3_hasher_update(&h, p, n);
	blake3_hasher_finalize(&h, id->bytes, MR_BLOB_ID_LEN);
}

int mr_blob_id_of_file(mr_blob_id *id, const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mr_error_set_errno(errno == ENOENT ? MR_ENOTFOUND : MR_EIO, errno, "open %s", path);
	blake3_hasher h;
	blake3_hasher_init(&h);
	static _Thread_local uint8_t buf[65536];
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return mr_error_set_errno(MR_EIO, e, "read %s", path);
		}
		if (n == 0)
			break;
		blake3_hasher_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	close(fd);
	blake3_hasher_finalize(&h, id->bytes, MR_BLOB_ID_LEN);
	if (size)
		*size = total;
	return 0;
}

void mr_blob_id_format(const mr_blob_id *id, char *out) { mr_hex_encode(out, id->bytes, MR_BLOB_ID_LEN); }

int mr_blob_id_parse(mr_blob_id *id, const char *text)
{
	size_t n = strlen(text);
	if (n != MR_BLOB_ID_TEXT_LEN)
		goto bad;
	for (size_t i = 0; i < MR_BLOB_ID_LEN; i++) {
		int hi = mr_hex_digit(text[2 * i]), lo = mr_hex_digit(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			goto bad;
		id->bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
bad:
	return mr_error_set(MR_EINVALID, "blob id \"%.80s%s\": expected %d hex digits", text, n > 80 ? "..." : "",
			    MR_BLOB_ID_TEXT_LEN);
}
