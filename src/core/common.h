/*
 * common.h — internal helpers shared by every module of libmailroom:
 * allocation wrappers that set MR_ENOMEM, overflow checks, container_of,
 * assertions for programmer errors.  Not installed.
 */
#ifndef MR_CORE_COMMON_H
#define MR_CORE_COMMON_H

#include "mailroom/mailroom.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define mr_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define MR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MR_UNUSED(x) ((void)(x))

/* Programmer errors only: never for input or backend failures. */
#define MR_ASSERT(cond)                                                                      \
	do {                                                                                 \
		if (!(cond))                                                                 \
			mr__assert_fail(#cond, __FILE__, __LINE__);                          \
	} while (0)
_Noreturn void mr__assert_fail(const char *expr, const char *file, int line);

static inline bool mr_add_overflow(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out); }
static inline bool mr_mul_overflow(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out); }

/* Allocation: on failure these set the static out-of-memory error and return NULL. */
void *mr_malloc(size_t n);
void *mr_calloc(size_t nmemb, size_t size);
void *mr_realloc(void *p, size_t n);
char *mr_strdup(const char *s);
char *mr_strndup(const char *s, size_t n);
void mr_free(void *p);
/* Sets MR_ENOMEM (allocating nothing) and returns MR_ENOMEM. */
int mr_error_oom(void);

/* Monotonic and wall clocks in milliseconds. */
uint64_t mr_now_monotonic_ms(void);
int64_t mr_now_unix_ms(void);
int64_t mr_now_fast_unix_ms(void); /* the same clock, cheaper per call (util.c) */
/* Sleeps for ms milliseconds (restarts on EINTR). */
void mr_sleep_ms(uint64_t ms);

/* Capped exponential backoff with full jitter: attempt 0,1,2...; returns ms to wait. */
uint64_t mr_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms);

/* Fills buf with cryptographically random bytes (getrandom). */
int mr_random_bytes(void *buf, size_t n);

/* Value of one hex digit (either case), or -1. */
int mr_hex_digit(int c);
/* Hex encoding (lowercase). out must hold 2*n+1 bytes. */
void mr_hex_encode(char *out, const uint8_t *in, size_t n);

#endif
