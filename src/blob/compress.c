/*
 * compress.c — zstd (level 3) and LZ4 frame compression for the blob front
 * (contract in compress.h).  Uses Debian's libzstd and liblz4; nothing
 * here knows about blob ids or backends.
 */
#include "blob/compress.h"

#include <lz4frame.h>
#include <zstd.h>

#define ZSTD_LEVEL 3
#define OUT_CHUNK (128u * 1024u)

const char *mr_blob__comp_name(int comp)
{
	switch (comp) {
	case MR_BLOB_COMP_ZSTD: return "zstd";
	case MR_BLOB_COMP_LZ4: return "lz4";
	default: return "none";
	}
}

int mr_blob__comp_parse(const char *s, int *out)
{
	if (strcmp(s, "none") == 0)
		*out = MR_BLOB_COMP_NONE;
	else if (strcmp(s, "zstd") == 0)
		*out = MR_BLOB_COMP_ZSTD;
	else if (strcmp(s, "lz4") == 0)
		*out = MR_BLOB_COMP_LZ4;
	else
		return MR_EINVALID;
	return 0;
}

struct mr_blob_zc {
	int comp;
	ZSTD_CCtx *zs;
	LZ4F_cctx *lz;
	bool lz_started;
};

int mr_blob__zc_new(mr_blob_zc **out, int comp)
{
	mr_blob_zc *z = mr_calloc(1, sizeof(*z));
	if (!z)
		return MR_ENOMEM;
	z->comp = comp;
	if (comp == MR_BLOB_COMP_ZSTD) {
		z->zs = ZSTD_createCCtx();
		if (!z->zs || ZSTD_isError(ZSTD_CCtx_setParameter(z->zs, ZSTD_c_compressionLevel, ZSTD_LEVEL))) {
			mr_blob__zc_free(z);
			return mr_error_set(MR_ENOMEM, "zstd: cannot create a compression context");
		}
	} else if (comp == MR_BLOB_COMP_LZ4) {
		if (LZ4F_isError(LZ4F_createCompressionContext(&z->lz, LZ4F_VERSION))) {
			mr_blob__zc_free(z);
			return mr_error_set(MR_ENOMEM, "lz4: cannot create a compression context");
		}
	}
	*out = z;
	return 0;
}

void mr_blob__zc_free(mr_blob_zc *z)
{
	if (!z)
		return;
	if (z->zs)
		ZSTD_freeCCtx(z->zs);
	if (z->lz)
		LZ4F_freeCompressionContext(z->lz);
	mr_free(z);
}

static int zstd_run(mr_blob_zc *z, const void *in, size_t len, ZSTD_EndDirective mode, mr_buf *out)
{
	ZSTD_inBuffer ib = {in, len, 0};
	for (;;) {
		if (mr_buf_grow(out, out->len + OUT_CHUNK) != 0)
			return MR_ENOMEM;
		ZSTD_outBuffer ob = {out->ptr + out->len, OUT_CHUNK, 0};
		size_t r = ZSTD_compressStream2(z->zs, &ob, &ib, mode);
		if (ZSTD_isError(r))
			return mr_error_set(MR_ERROR, "zstd compress: %s", ZSTD_getErrorName(r));
		out->len += ob.pos;
		if (mode == ZSTD_e_continue ? ib.pos == ib.size : r == 0)
			break;
	}
	if (out->ptr)
		out->ptr[out->len] = 0;
	return 0;
}

static const LZ4F_preferences_t lz4_prefs = {
	.frameInfo = {.blockSizeID = LZ4F_max256KB, .contentChecksumFlag = LZ4F_noContentChecksum},
};

int mr_blob__zc_update(mr_blob_zc *z, const void *in, size_t len, mr_buf *out)
{
	if (z->comp == MR_BLOB_COMP_ZSTD)
		return zstd_run(z, in, len, ZSTD_e_continue, out);
	if (z->comp != MR_BLOB_COMP_LZ4)
		return mr_buf_put(out, in, len);
	if (!z->lz_started) {
		if (mr_buf_grow(out, out->len + LZ4F_HEADER_SIZE_MAX + 1) != 0)
			return MR_ENOMEM;
		size_t r = LZ4F_compressBegin(z->lz, out->ptr + out->len, LZ4F_HEADER_SIZE_MAX, &lz4_prefs);
		if (LZ4F_isError(r))
			return mr_error_set(MR_ERROR, "lz4 compress: %s", LZ4F_getErrorName(r));
		out->len += r;
		z->lz_started = true;
	}
	const uint8_t *p = in;
	while (len > 0) {
		size_t n = len > OUT_CHUNK ? OUT_CHUNK : len;
		size_t bound = LZ4F_compressBound(n, &lz4_prefs);
		if (mr_buf_grow(out, out->len + bound + 1) != 0)
			return MR_ENOMEM;
		size_t r = LZ4F_compressUpdate(z->lz, out->ptr + out->len, bound, p, n, NULL);
		if (LZ4F_isError(r))
			return mr_error_set(MR_ERROR, "lz4 compress: %s", LZ4F_getErrorName(r));
		out->len += r;
		p += n;
		len -= n;
	}
	out->ptr[out->len] = 0;
	return 0;
}

int mr_blob__zc_finish(mr_blob_zc *z, mr_buf *out)
{
	if (z->comp == MR_BLOB_COMP_ZSTD)
		return zstd_run(z, NULL, 0, ZSTD_e_end, out);
	if (z->comp != MR_BLOB_COMP_LZ4)
		return 0;
	int rc = 0;
	if (!z->lz_started && (rc = mr_blob__zc_update(z, NULL, 0, out)) != 0)
		return rc;
	size_t bound = LZ4F_compressBound(0, &lz4_prefs);
	if (mr_buf_grow(out, out->len + bound + 1) != 0)
		return MR_ENOMEM;
	size_t r = LZ4F_compressEnd(z->lz, out->ptr + out->len, bound, NULL);
	if (LZ4F_isError(r))
		return mr_error_set(MR_ERROR, "lz4 compress: %s", LZ4F_getErrorName(r));
	out->len += r;
	out->ptr[out->len] = 0;
	return 0;
}

int mr_blob__compress(int comp, const void *in, size_t len, mr_buf *out)
{
	mr_buf_clear(out);
	mr_blob_zc *z = NULL;
	int rc = mr_blob__zc_new(&z, comp);
	if (rc == 0)
		rc = mr_blob__zc_update(z, in, len, out);
	if (rc == 0)
		rc = mr_blob__zc_finish(z, out);
	mr_blob__zc_free(z);
	return rc;
}

struct mr_blob_zd {
	int comp;
	ZSTD_DCtx *zs;
	LZ4F_dctx *lz;
	bool frame_done; /* the last call ended exactly at a frame end */
	uint8_t *buf;
};

int mr_blob__zd_new(mr_blob_zd **out, int comp)
{
	mr_blob_zd *z = mr_calloc(1, sizeof(*z));
	if (!z)
		return MR_ENOMEM;
	z->comp = comp;
	z->buf = mr_malloc(OUT_CHUNK);
	if (!z->buf) {
		mr_free(z);
		return MR_ENOMEM;
	}
	if (comp == MR_BLOB_COMP_ZSTD)
		z->zs = ZSTD_createDCtx();
	else if (comp == MR_BLOB_COMP_LZ4 && LZ4F_isError(LZ4F_createDecompressionContext(&z->lz, LZ4F_VERSION)))
		z->lz = NULL;
	if ((comp == MR_BLOB_COMP_ZSTD && !z->zs) || (comp == MR_BLOB_COMP_LZ4 && !z->lz)) {
		mr_blob__zd_free(z);
		return mr_error_set(MR_ENOMEM, "%s: cannot create a decompression context", mr_blob__comp_name(comp));
	}
	*out = z;
	return 0;
}

void mr_blob__zd_free(mr_blob_zd *z)
{
	if (!z)
		return;
	if (z->zs)
		ZSTD_freeDCtx(z->zs);
	if (z->lz)
		LZ4F_freeDecompressionContext(z->lz);
	mr_free(z->buf);
	mr_free(z);
}

int mr_blob__zd_update(mr_blob_zd *z, const void *in, size_t len, mr_blob_sink_fn sink, void *payload)
{
	const uint8_t *p = in;
	size_t pos = 0;
	if (z->comp == MR_BLOB_COMP_NONE)
		return len ? sink(in, len, payload) : 0;
	while (pos < len) {
		size_t produced = 0;
		if (z->comp == MR_BLOB_COMP_ZSTD) {
			if (z->frame_done)
				return mr_error_set(MR_ECORRUPT, "zstd: data after the end of the frame");
			ZSTD_inBuffer ib = {p, len, pos};
			ZSTD_outBuffer ob = {z->buf, OUT_CHUNK, 0};
			size_t r = ZSTD_decompressStream(z->zs, &ob, &ib);
			if (ZSTD_isError(r))
				return mr_error_set(MR_ECORRUPT, "zstd: %s", ZSTD_getErrorName(r));
			pos = ib.pos;
			produced = ob.pos;
			if (r == 0)
				z->frame_done = true;
			if (produced == 0 && ib.pos == ib.size)
				break;
		} else {
			if (z->frame_done)
				return mr_error_set(MR_ECORRUPT, "lz4: data after the end of the frame");
			size_t src = len - pos, dst = OUT_CHUNK;
			size_t r = LZ4F_decompress(z->lz, z->buf, &dst, p + pos, &src, NULL);
			if (LZ4F_isError(r))
				return mr_error_set(MR_ECORRUPT, "lz4: %s", LZ4F_getErrorName(r));
			pos += src;
			produced = dst;
			if (r == 0)
				z->frame_done = true;
			if (produced == 0 && src == 0)
				break;
		}
		if (produced) {
			int rc = sink(z->buf, produced, payload);
			if (rc != 0)
				return rc;
		}
	}
	/* zstd may still hold output after consuming all input */
	if (z->comp == MR_BLOB_COMP_ZSTD && !z->frame_done) {
		for (;;) {
			ZSTD_inBuffer ib = {NULL, 0, 0};
			ZSTD_outBuffer ob = {z->buf, OUT_CHUNK, 0};
			size_t r = ZSTD_decompressStream(z->zs, &ob, &ib);
			if (ZSTD_isError(r))
				return mr_error_set(MR_ECORRUPT, "zstd: %s", ZSTD_getErrorName(r));
			if (r == 0)
				z->frame_done = true;
			if (ob.pos) {
				int rc = sink(z->buf, ob.pos, payload);
				if (rc != 0)
					return rc;
			}
			if (ob.pos < OUT_CHUNK)
				break;
		}
	}
	return 0;
}

int mr_blob__zd_finish(mr_blob_zd *z)
{
	if (z->comp != MR_BLOB_COMP_NONE && !z->frame_done)
		return mr_error_set(MR_ECORRUPT, "%s: stored frame is truncated", mr_blob__comp_name(z->comp));
	return 0;
}
