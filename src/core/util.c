/*
 * util.c — allocation wrappers, buffers, slices, clocks, backoff, random
 * bytes and hex: the small utilities every module uses.
 */
#include "core/common.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/random.h>
#include <time.h>

void *mr_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		mr_error_oom();
	return p;
}

void *mr_calloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		mr_error_oom();
	return p;
}

void *mr_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		mr_error_oom();
	return q;
}

char *mr_strdup(const char *s) { return mr_strndup(s, strlen(s)); }

char *mr_strndup(const char *s, size_t n)
{
	char *p = mr_malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

void mr_free(void *p) { free(p); }

/* ---- slices ---- */
mr_slice mr_slice_str(const char *s) { return (mr_slice){(const uint8_t *)s, s ? strlen(s) : 0}; }

int mr_slice_cmp(mr_slice a, mr_slice b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
	if (c)
		return c < 0 ? -1 : 1;
	return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

bool mr_slice_eq(mr_slice a, mr_slice b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

/* ---- buffers ---- */
int mr_buf_grow(mr_buf *b, size_t need)
{
	size_t want;
	if (mr_add_overflow(need, 1, &want))
		return mr_error_set(MR_ENOMEM, "buffer size overflow");
	if (want <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < want) {
		if (mr_mul_overflow(cap, 2, &cap)) {
			cap = want;
			break;
		}
	}
	uint8_t *p = mr_realloc(b->ptr, cap);
	if (!p)
		return MR_ENOMEM;
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int mr_buf_put(mr_buf *b, const void *p, size_t n)
{
	size_t need;
	if (mr_add_overflow(b->len, n, &need))
		return mr_error_set(MR_ENOMEM, "buffer size overflow");
	int rc = mr_buf_grow(b, need);
	if (rc)
		return rc;
	if (n)
		memcpy(b->ptr + b->len, p, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

int mr_buf_puts(mr_buf *b, const char *s) { return mr_buf_put(b, s, strlen(s)); }

int mr_buf_set(mr_buf *b, const void *p, size_t n)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
	return mr_buf_put(b, p, n);
}

int mr_buf_printf(mr_buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return mr_error_set(MR_ERROR, "format error");
	}
	int rc = mr_buf_grow(b, b->len + (size_t)n);
	if (rc) {
		va_end(ap2);
		return rc;
	}
	vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
	return 0;
}

void mr_buf_clear(mr_buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

void mr_buf_dispose(mr_buf *b)
{
	free(b->ptr);
	*b = MR_BUF_INIT;
}

/* ---- clocks ---- */
uint64_t mr_now_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t mr_now_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * mr_now_fast_unix_ms: CLOCK_REALTIME in ms for hot paths (the in-memory
 * store reads the time on every op).  Where the CPU has an invariant TSC
 * (cpuid 0x80000007 EDX bit 8; Linux then uses it as clocksource too) each
 * thread anchors (TSC, CLOCK_REALTIME) pairs at most 50 ms of ticks apart,
 * measures the tick rate between consecutive anchors, and in between
 * extrapolates from the TSC: one rdtsc instead of a vDSO call, which costs
 * 40-100 ns on a virtual machine.  The error is the drift of the tick-rate
 * estimate over < 50 ms (well under a millisecond); a clock step shows at
 * the next anchor, and an anchor whose rate disagrees with the previous one
 * by more than 1 % is not trusted (plain clock_gettime until two agree).
 * Elsewhere, and until a thread has two anchors, it is mr_now_unix_ms().
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <stdatomic.h>
#include <x86intrin.h>

static _Atomic int invariant_tsc = -1; /* -1 unknown; every thread that looks computes the same */

static _Thread_local struct {
	uint64_t tsc, ns; /* last anchor: the TSC and CLOCK_REALTIME (ns) at one instant */
	uint64_t mult;    /* ns per tick << 32 between the last two anchors; 0 = none trusted */
	uint64_t limit;   /* ticks past the anchor that may be extrapolated */
} fast_clock;

static int64_t anchor_fast_clock(void)
{
	uint64_t t1 = __rdtsc();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t t2 = __rdtsc();
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	uint64_t t = t1 + (t2 - t1) / 2, mult = 0;
	/* a rate only from >= 10 ms between anchors each read within 1/2000 of
	 * that interval (a thread preempted between its two reads gives none),
	 * 0.1-100 GHz, and within 1 % of the previous rate when there is one */
	if (fast_clock.tsc && t > fast_clock.tsc && ns >= fast_clock.ns + 10000000u &&
	    t2 - t1 < (t - fast_clock.tsc) / 2000) {
		double m = (double)(ns - fast_clock.ns) / (double)(t - fast_clock.tsc) * 4294967296.0;
		if (m > 4294967296.0 / 100 && m < 4294967296.0 * 10 &&
		    (!fast_clock.mult || (m > (double)fast_clock.mult * 0.99 && m < (double)fast_clock.mult * 1.01)))
			mult = (uint64_t)m;
	}
	fast_clock.tsc = t;
	fast_clock.ns = ns;
	fast_clock.mult = mult;
	fast_clock.limit = mult ? (uint64_t)(50000000.0 * 4294967296.0 / (double)mult) : 0; /* 50 ms */
	return (int64_t)(ns / 1000000u);
}

int64_t mr_now_fast_unix_ms(void)
{
	int inv = atomic_load_explicit(&invariant_tsc, memory_order_relaxed);
	if (inv < 0) {
		unsigned a, b, c, d;
		inv = __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8));
		atomic_store_explicit(&invariant_tsc, inv, memory_order_relaxed);
	}
	if (!inv)
		return mr_now_unix_ms();
	uint64_t t = __rdtsc();
	uint64_t d = t - fast_clock.tsc;
	if (fast_clock.mult && t >= fast_clock.tsc && d < fast_clock.limit)
		return (int64_t)((fast_clock.ns + ((d * fast_clock.mult) >> 32)) / 1000000u);
	if (!fast_clock.mult && fast_clock.tsc && t >= fast_clock.tsc) {
		/* no rate yet: anchor again only once 10 ms have passed */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		if (ns < fast_clock.ns + 10000000u && ns >= fast_clock.ns)
			return (int64_t)(ns / 1000000u);
	}
	return anchor_fast_clock();
}
#else
int64_t mr_now_fast_unix_ms(void) { return mr_now_unix_ms(); }
#endif

void mr_sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int mr_random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return mr_error_set_errno(MR_ERROR, errno, "getrandom");
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

uint64_t mr_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms)
{
	uint64_t ceil = base_ms;
	for (unsigned i = 0; i < attempt && ceil < cap_ms; i++)
		ceil *= 2;
	if (ceil > cap_ms)
		ceil = cap_ms;
	uint64_t r = 0;
	if (mr_random_bytes(&r, sizeof(r)) != 0)
		r = (uint64_t)mr_now_monotonic_ms() * 6364136223846793005ULL;
	return ceil ? r % (ceil + 1) : 0;
}

int mr_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void mr_hex_encode(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}
