/*
 * cron.h (internal) — the simple cron schedules of Stalwart:
 * "<minute> <hour> <day-of-week>" in the server's local time (TZ).
 *   minute       0-59
 *   hour         0-23, or * (every hour)
 *   day-of-week  1 (Monday) - 7 (Sunday), or * (every day)
 * Syntax: exactly three fields separated by one or more blanks (spaces or
 * tabs); blanks before the first and after the last field are ignored.
 * A number is one or two ASCII digits (so "05" is 5); no sign, lists,
 * ranges, steps or names.  Anything else is MR_EINVALID with a message
 * naming the field and its allowed range, e.g.
 *   cron "61 5 *": minute: 61 is out of range 0-59
 *
 * DST rules (docs/scheduling.md):
 * - a wall time that occurs twice (the hour repeated when clocks go back)
 *   fires once, at its first occurrence;
 * - a wall time that does not exist (the hour skipped when clocks go
 *   forward) fires at the same offset after the gap: it is read with the
 *   UTC offset in force before the gap (02:30 skipped in Berlin fires at
 *   03:30 summer time), so the slot still fires exactly once that day;
 * - `*` hours fire once per wall-clock hour under the two rules above: on
 *   the 25-hour day the repeated hour fires once (at its first
 *   occurrence), on the 23-hour day the skipped hour's slot coincides with
 *   the next hour's and fires once (23 fires that day).
 * The rules use the zone's UTC offsets only (never tm_isdst), so zones
 * with negative DST (Europe/Dublin) or offset changes that are not DST
 * follow them too.
 */
#ifndef MR_CORE_CRON_H
#define MR_CORE_CRON_H

#include "core/common.h"

typedef struct mr_cron {
	int minute; /* 0-59 */
	int hour;   /* 0-23, or -1 for every hour */
	int wday;   /* 1-7 (Monday-Sunday), or 0 for every day */
} mr_cron;

/* Parses `text` into *out.  0, or MR_EINVALID naming the field and its
 * allowed range (*out untouched). */
int mr_cron_parse(mr_cron *out, const char *text);

/*
 * The first fire time strictly after `after` (unix seconds) in the local
 * time zone (TZ, as last read by tzset()), by the rules above.  Costs a few
 * hundred localtime_r() calls at most (it visits at most ten days, never
 * minutes).  0, or MR_EINVALID when `after` lies outside years 1900-9999.
 */
int mr_cron_next(const mr_cron *c, int64_t after, int64_t *next);

/* Canonical text form into buf ("30 5 *"). */
void mr_cron_format(const mr_cron *c, char *buf, size_t len);

/*
 * Unix time of a civil date and time (month 1-12).  local = false: UTC.
 * local = true: the local wall time read by the same rules as fire times
 * (repeated → first occurrence; skipped → same offset after the gap).
 * 0, or MR_EINVALID for a field out of range (Feb 30, hour 24, year
 * outside 1900-9999, ...).
 */
int mr_cron_time_from_civil(int year, int month, int day, int hour, int minute, int second, bool local,
			    int64_t *out);

#endif
