/*
 * error.c — the thread-local last error ({code, message}).  Messages name
 * the object and the underlying cause; layers add context with
 * mr_error_prefix().  Out of memory uses a static message and allocates
 * nothing.
 */
#include "core/common.h"

#include <errno.h>
#include <stdarg.h>

#define MR_ERROR_MAX 2048

static _Thread_local int tl_code;
static _Thread_local char tl_msg[MR_ERROR_MAX];
static _Thread_local mr_error tl_err;

const mr_error *mr_error_last(void)
{
	tl_err.code = tl_code;
	tl_err.message = tl_msg;
	return &tl_err;
}

static void set_v(int code, const char *fmt, va_list ap)
{
	tl_code = code;
	vsnprintf(tl_msg, sizeof(tl_msg), fmt, ap);
}

int mr_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_v(code, fmt, ap);
	va_end(ap);
	return code;
}

int mr_error_set_errno(int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_v(code, fmt, ap);
	va_end(ap);
	size_t len = strlen(tl_msg);
	char eb[256];
	/* strerror_r: GNU variant returns a pointer */
	const char *es = strerror_r(errnum, eb, sizeof(eb));
	snprintf(tl_msg + len, sizeof(tl_msg) - len, ": %s", es);
	return code;
}

int mr_error_prefix(const char *fmt, ...)
{
	char old[MR_ERROR_MAX];
	memcpy(old, tl_msg, sizeof(old));
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tl_msg, sizeof(tl_msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	size_t len = (size_t)n < sizeof(tl_msg) ? (size_t)n : sizeof(tl_msg) - 1;
	size_t room = sizeof(tl_msg) - len;
	snprintf(tl_msg + len, room, ": %.*s", (int)(room > 3 ? room - 3 : 0), old);
	if (tl_code == MR_OK)
		tl_code = MR_ERROR;
	return tl_code;
}

void mr_error_clear(void)
{
	tl_code = MR_OK;
	tl_msg[0] = '\0';
}

int mr_error_oom(void)
{
	tl_code = MR_ENOMEM;
	static const char oom[] = "out of memory";
	memcpy(tl_msg, oom, sizeof(oom));
	return MR_ENOMEM;
}

const char *mr_error_code_name(int code)
{
	switch (code) {
	case MR_OK: return "OK";
	case MR_ERROR: return "ERROR";
	case MR_ENOTFOUND: return "ENOTFOUND";
	case MR_EEXISTS: return "EEXISTS";
	case MR_ECONFLICT: return "ECONFLICT";
	case MR_EUNCERTAIN: return "EUNCERTAIN";
	case MR_EUNAVAILABLE: return "EUNAVAILABLE";
	case MR_ELIMIT: return "ELIMIT";
	case MR_EINVALID: return "EINVALID";
	case MR_ENOTSUPPORTED: return "ENOTSUPPORTED";
	case MR_ENOMEM: return "ENOMEM";
	case MR_EAUTH: return "EAUTH";
	case MR_ECORRUPT: return "ECORRUPT";
	case MR_EIO: return "EIO";
	default: return "EUNKNOWN";
	}
}

_Noreturn void mr__assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "mailroom: internal assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}
