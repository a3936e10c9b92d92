/*
 * compress.h (internal) — the blob front's compression: zstd and LZ4 frame
 * format, whole-buffer and streaming, both directions.  The id is always
 * the hash of the uncompressed bytes; these only change how bytes are
 * stored.  Decompression checks that the frame is complete (MR_ECORRUPT
 * otherwise) so a truncated object never reads as a shorter blob.
 */
#ifndef MR_BLOB_COMPRESS_H
#define MR_BLOB_COMPRESS_H

#include "core/common.h"

enum { MR_BLOB_COMP_NONE = 0, MR_BLOB_COMP_ZSTD = 1, MR_BLOB_COMP_LZ4 = 2 };

const char *mr_blob__comp_name(int comp);
/* "zstd" | "lz4" | "none"; MR_EINVALID (no message) otherwise. */
int mr_blob__comp_parse(const char *s, int *out);

/* Compresses a whole buffer into out (replaced). */
int mr_blob__compress(int comp, const void *in, size_t len, mr_buf *out);

/* Receives decompressed bytes; returns 0, an error, or 1 to stop early. */
typedef int (*mr_blob_sink_fn)(const void *p, size_t n, void *payload);

typedef struct mr_blob_zc mr_blob_zc; /* streaming compressor */
int mr_blob__zc_new(mr_blob_zc **out, int comp);
/* Appends compressed output for in to out. */
int mr_blob__zc_update(mr_blob_zc *z, const void *in, size_t len, mr_buf *out);
/* Appends the end of the frame. */
int mr_blob__zc_finish(mr_blob_zc *z, mr_buf *out);
void mr_blob__zc_free(mr_blob_zc *z);

typedef struct mr_blob_zd mr_blob_zd; /* streaming decompressor */
int mr_blob__zd_new(mr_blob_zd **out, int comp);
/* Feeds compressed bytes; decompressed bytes go to sink.  Returns 0, 1 if the
 * sink asked to stop, or an error (MR_ECORRUPT for a bad frame). */
int mr_blob__zd_update(mr_blob_zd *z, const void *in, size_t len, mr_blob_sink_fn sink, void *payload);
/* After the last input: MR_ECORRUPT if the frame is incomplete. */
int mr_blob__zd_finish(mr_blob_zd *z);
void mr_blob__zd_free(mr_blob_zd *z);

#endif
