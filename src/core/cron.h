/*
 * cron.h (internal) — the simple cron schedules of Stalwart:
 * "<minute> <hour> <day-of-week>" in the server's local time.
 *   minute       0-59
 *   hour         0-23, or * (every hour)
 *   day-of-week  1 (Monday) - 7 (Sunday), or * (every day)
 * Fields are separated by one or more spaces or tabs; nothing else is
 * accepted (no lists, ranges or steps).
 *
 * DST rules (docs/scheduling.md): a wall time that does not exist (the
 * hour skipped in spring) fires at the same offset after the gap, at the
 * instant the standard-time reading names (02:30 skipped → 03:30 summer
 * time), so the slot still fires once that day; a wall time that occurs
 * twice (the hour repeated in autumn) fires once, at its first
 * occurrence.  `*` hours fire once per wall-clock hour under these rules.
 */
#ifndef MR_CORE_CRON_H
#define MR_CORE_CRON_H

#include "core/common.h"

typedef struct mr_cron {
	int minute; /* 0-59 */
	int hour;   /* 0-23, or -1 for every hour */
	int wday;   /* 1-7 (Monday-Sunday), or 0 for every day */
} mr_cron;

/* MR_EINVALID naming the field and its allowed range. */
int mr_cron_parse(mr_cron *out, const char *text);
/* First fire time strictly after `after` (unix seconds), in local time (TZ). */
int mr_cron_next(const mr_cron *c, int64_t after, int64_t *next);
/* Canonical text form into buf ("30 5 *"). */
void mr_cron_format(const mr_cron *c, char *buf, size_t len);

#endif
