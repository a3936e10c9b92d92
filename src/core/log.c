/*
 * log.c — process-wide log hook.  The library only formats and forwards;
 * the command installs a handler that writes to stderr.
 */
#include "core/common.h"

#include <stdarg.h>

static mr_log_handler g_handler;
static mr_log_level g_max = MR_LOG_WARN;
static void *g_payload;

void mr_log_set_handler(mr_log_handler handler, mr_log_level max_level, void *payload)
{
	g_handler = handler;
	g_max = max_level;
	g_payload = payload;
}

void mr_log(mr_log_level level, const char *fmt, ...)
{
	if (!g_handler || level > g_max)
		return;
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g_handler(level, msg, g_payload);
}

const char *mr_log_level_name(mr_log_level level)
{
	switch (level) {
	case MR_LOG_ERROR: return "error";
	case MR_LOG_WARN: return "warn";
	case MR_LOG_INFO: return "info";
	case MR_LOG_DEBUG: return "debug";
	}
	return "?";
}

int mr_log_level_parse(mr_log_level *out, const char *name)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0) {
			*out = (mr_log_level)i;
			return 0;
		}
	return mr_error_set(MR_EINVALID, "unknown log level \"%s\" (allowed: error, warn, info, debug)", name);
}
