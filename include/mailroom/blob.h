/*
 * blob.h — blob ids: the BLAKE3-256 hash of a blob's exact bytes, and its
 * text form.  (The blob store itself — backends, links, reservations,
 * purge — is not built yet; this header grows with it.)
 */
#ifndef MAILROOM_BLOB_H
#define MAILROOM_BLOB_H

#include "mailroom/mailroom.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MR_BLOB_ID_LEN 32
#define MR_BLOB_ID_TEXT_LEN 64 /* lowercase hex, the form b3sum prints */

typedef struct mr_blob_id {
	uint8_t bytes[MR_BLOB_ID_LEN];
} mr_blob_id;

/* Streaming hasher: feed bytes as they are read or written. */
typedef struct mr_blob_hasher mr_blob_hasher;
int mr_blob_hasher_new(mr_blob_hasher **out);
void mr_blob_hasher_update(mr_blob_hasher *h, const void *p, size_t n);
void mr_blob_hasher_finish(mr_blob_hasher *h, mr_blob_id *id);
void mr_blob_hasher_free(mr_blob_hasher *h);

/* The id of a buffer. */
void mr_blob_id_of(mr_blob_id *id, const void *p, size_t n);
/* The id of a file, read in 64 KiB pieces (never loaded whole).
 * MR_ENOTFOUND / MR_EIO with the path and errno text. */
int mr_blob_id_of_file(mr_blob_id *id, const char *path, uint64_t *size);

/* Text form into out (MR_BLOB_ID_TEXT_LEN + 1 bytes). */
void mr_blob_id_format(const mr_blob_id *id, char *out);
/* Parses exactly 64 hex digits (either case); anything else is
 * MR_EINVALID: `blob id "xyz": expected 64 hex digits`. */
int mr_blob_id_parse(mr_blob_id *id, const char *text);

#ifdef __cplusplus
}
#endif
#endif
