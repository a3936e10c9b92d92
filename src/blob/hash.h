/*
 * hash.h — blob ids: BLAKE3-256 of a blob's uncompressed bytes, hashed
 * streaming (update per chunk as bytes are read or written), and the id's
 * text form.
 *
 * Text form: 64 lowercase hexadecimal digits, exactly what `b3sum
 * --no-names` prints.  Fixed length, URL- and file-name-safe.  Parsing
 * accepts only that (uppercase is rejected so one id has one spelling).
 */
#ifndef MR_BLOB_HASH_H
#define MR_BLOB_HASH_H

#include <stddef.h>
#include <stdint.h>

#define MR_BLOB_ID_LEN 32
#define MR_BLOB_ID_TEXT_LEN 64

typedef struct mr_blob_id {
	uint8_t bytes[MR_BLOB_ID_LEN];
} mr_blob_id;

/* Streaming hasher; opaque storage sized for blake3_hasher. */
typedef struct mr_blob_hasher {
	_Alignas(16) uint8_t state[1920];
} mr_blob_hasher;

void mr_blob_hasher_init(mr_blob_hasher *h);
void mr_blob_hasher_update(mr_blob_hasher *h, const void *data, size_t len);
void mr_blob_hasher_final(const mr_blob_hasher *h, mr_blob_id *out);

/* One-shot hash of a buffer already in memory. */
void mr_blob_hash_bytes(const void *data, size_t len, mr_blob_id *out);
/* Hashes a file streaming (64 KiB reads).  *size gets the byte count if
 * size is non-NULL.  Returns 0, MR_ENOTFOUND or MR_EIO naming the path. */
int mr_blob_hash_file(const char *path, mr_blob_id *out, uint64_t *size);

/* Writes the 64-digit text form plus NUL into out (65 bytes). */
void mr_blob_id_format(const mr_blob_id *id, char out[MR_BLOB_ID_TEXT_LEN + 1]);
/* Parses a text id; MR_EINVALID `blob id "xyz": expected 64 hex digits`. */
int mr_blob_id_parse(const char *text, mr_blob_id *out);
int mr_blob_id_equal(const mr_blob_id *a, const mr_blob_id *b);

#endif
