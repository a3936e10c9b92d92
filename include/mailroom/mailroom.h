/*
 * mailroom.h — the public entry point of libmailroom: error codes, the
 * thread-local last error, logging hooks, and the byte slice / buffer types
 * every store API uses.  Per-store APIs live in data.h, blob.h, memory.h,
 * search.h; configuration in config.h.
 */
#ifndef MAILROOM_MAILROOM_H
#define MAILROOM_MAILROOM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MR_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define MR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MR_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define MR_PRINTF(f, a)
#define MR_WARN_UNUSED
#endif

/* Every fallible function returns 0 or one of these (negative). */
typedef enum mr_error_code {
	MR_OK = 0,
	MR_ERROR = -1,           /* anything not listed below */
	MR_ENOTFOUND = -2,       /* key, blob, store, file does not exist */
	MR_EEXISTS = -3,         /* refuses to overwrite */
	MR_ECONFLICT = -4,       /* batch assertion failed or a concurrent writer won: retry */
	MR_EUNCERTAIN = -5,      /* commit outcome unknown (timeout during commit) */
	MR_EUNAVAILABLE = -6,    /* backend unreachable or timed out: temporary */
	MR_ELIMIT = -7,          /* a size or quota limit */
	MR_EINVALID = -8,        /* bad argument, bad input, bad configuration */
	MR_ENOTSUPPORTED = -9,   /* the backend lacks this operation */
	MR_ENOMEM = -10,         /* out of memory */
	MR_EAUTH = -11,          /* authentication refused by a backend */
	MR_ECORRUPT = -12,       /* stored data fails its check (hash mismatch, bad record) */
	MR_EIO = -13,            /* local I/O error (errno in the message) */
} mr_error_code;

typedef struct mr_error {
	int code;            /* an mr_error_code */
	const char *message; /* never NULL; valid until the next mr_error_* call on this thread */
} mr_error;

/* The last error set on this thread (code MR_OK and "" when none). */
const mr_error *mr_error_last(void);
/* Sets the thread's error and returns code, so `return mr_error_set(...)` reads well. */
int mr_error_set(int code, const char *fmt, ...) MR_PRINTF(2, 3);
/* Like mr_error_set with errno's text appended (": <strerror>"). Returns code. */
int mr_error_set_errno(int code, int errnum, const char *fmt, ...) MR_PRINTF(3, 4);
/* Prepends "<fmt>: " to the current message, keeps the code, returns it. */
int mr_error_prefix(const char *fmt, ...) MR_PRINTF(1, 2);
void mr_error_clear(void);
/* "ENOTFOUND", ... ; never NULL. */
const char *mr_error_code_name(int code);

/* ---- logging: the library never prints; a handler decides ---- */
typedef enum mr_log_level {
	MR_LOG_ERROR = 0,
	MR_LOG_WARN = 1,
	MR_LOG_INFO = 2,
	MR_LOG_DEBUG = 3,
} mr_log_level;

typedef void (*mr_log_handler)(mr_log_level level, const char *msg, void *payload);
/* Installs the process-wide handler (NULL: discard) and the most verbose level passed on. */
void mr_log_set_handler(mr_log_handler handler, mr_log_level max_level, void *payload);
void mr_log(mr_log_level level, const char *fmt, ...) MR_PRINTF(2, 3);
const char *mr_log_level_name(mr_log_level level);
/* Parses "error", "warn", "info", "debug"; MR_EINVALID otherwise. */
int mr_log_level_parse(mr_log_level *out, const char *name);

/* ---- bytes ---- */

/* Borrowed, binary-safe bytes; never assumed NUL-terminated. */
typedef struct mr_slice {
	const uint8_t *ptr;
	size_t len;
} mr_slice;

#define MR_SLICE_EMPTY ((mr_slice){NULL, 0})
static inline mr_slice mr_slice_of(const void *p, size_t n) { return (mr_slice){(const uint8_t *)p, n}; }
mr_slice mr_slice_str(const char *s);
/* memcmp order, shorter prefix first. */
int mr_slice_cmp(mr_slice a, mr_slice b);
bool mr_slice_eq(mr_slice a, mr_slice b);

/* Owned growable bytes, kept NUL-terminated after len. Start as MR_BUF_INIT. */
typedef struct mr_buf {
	uint8_t *ptr;
	size_t len, cap;
} mr_buf;

#define MR_BUF_INIT ((mr_buf){NULL, 0, 0})
int mr_buf_grow(mr_buf *b, size_t need_total) MR_WARN_UNUSED;
int mr_buf_put(mr_buf *b, const void *p, size_t n) MR_WARN_UNUSED;
int mr_buf_puts(mr_buf *b, const char *s) MR_WARN_UNUSED;
int mr_buf_printf(mr_buf *b, const char *fmt, ...) MR_PRINTF(2, 3) MR_WARN_UNUSED;
int mr_buf_set(mr_buf *b, const void *p, size_t n) MR_WARN_UNUSED;
void mr_buf_clear(mr_buf *b); /* len = 0, keeps memory */
void mr_buf_dispose(mr_buf *b);
static inline mr_slice mr_buf_slice(const mr_buf *b) { return (mr_slice){b->ptr, b->len}; }
static inline const char *mr_buf_cstr(const mr_buf *b) { return b->ptr ? (const char *)b->ptr : ""; }

/* Version of the library and the list of compiled-in backends ("data:rocksdb data:sqlite ..."). */
const char *mr_version(void);
const char *mr_backends_compiled(void);

#ifdef __cplusplus
}
#endif
#endif
