/*
 * cron.c — parsing and next-fire computation of simple cron schedules
 * (cron.h), correct across daylight-saving changes: candidates are wall
 * times of successive local days, each resolved to an instant with both
 * DST readings and checked by converting back (see the rules in cron.h).
 */
#include "core/cron.h"

#include <time.h>

static int parse_field(const char *expr, const char *name, const char *s, size_t n, int lo, int hi, bool star,
		       int star_value, int *out)
{
	const char *range = star ? (lo == 1 ? "1-7 (Monday-Sunday) or *" : "0-23 or *") : "0-59";
	if (n == 1 && s[0] == '*') {
		if (!star)
			return mr_error_set(MR_EINVALID, "cron \"%s\": %s: * is not allowed; expected %s", expr, name, range);
		*out = star_value;
		return 0;
	}
	int v = 0;
	if (n == 0 || n > 2)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return mr_error_set(MR_EINVALID, "cron \"%s\": %s: %d is out of range %s", expr, name, v, range);
	*out = v;
	return 0;
bad:
	return mr_error_set(MR_EINVALID, "cron \"%s\": %s: \"%.*s\" is not valid; expected %s", expr, name, (int)n, s, range);
}

int mr_cron_parse(mr_cron *out, const char *text)
{
	static const char *names[3] = {"minute", "hour", "day-of-week"};
	const char *f[4];
	size_t len[4];
	size_t nf = 0;
	const char *p = text;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (nf < 4) {
			f[nf] = s;
			len[nf] = (size_t)(p - s);
		}
		nf++;
	}
	if (nf != 3)
		return mr_error_set(MR_EINVALID,
				    "cron \"%s\": expected 3 fields \"MINUTE HOUR DAY-OF-WEEK\" (e.g. \"30 5 *\"), found %zu",
				    text, nf);
	mr_cron c;
	int rc;
	if ((rc = parse_field(text, names[0], f[0], len[0], 0, 59, false, 0, &c.minute)) ||
	    (rc = parse_field(text, names[1], f[1], len[1], 0, 23, true, -1, &c.hour)) ||
	    (rc = parse_field(text, names[2], f[2], len[2], 1, 7, true, 0, &c.wday)))
		return rc;
	*out = c;
	return 0;
}

void mr_cron_format(const mr_cron *c, char *buf, size_t len)
{
	char h[12], w[12];
	if (c->hour < 0)
		snprintf(h, sizeof(h), "*");
	else
		snprintf(h, sizeof(h), "%d", c->hour);
	if (c->wday == 0)
		snprintf(w, sizeof(w), "*");
	else
		snprintf(w, sizeof(w), "%d", c->wday);
	snprintf(buf, len, "%d %s %s", c->minute, h, w);
}

/* One DST reading of a wall time; true when it round-trips exactly. */
static bool resolve_one(int y, int mo, int d, int h, int mi, int isdst, time_t *out)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_isdst = isdst};
	time_t t = mktime(&tm);
	if (t == (time_t)-1)
		return false;
	struct tm back;
	if (!localtime_r(&t, &back))
		return false;
	*out = t;
	return back.tm_year == y - 1900 && back.tm_mon == mo && back.tm_mday == d && back.tm_hour == h &&
	       back.tm_min == mi && (isdst < 0 || (back.tm_isdst > 0) == (isdst > 0));
}

/* The instant a wall time fires at (rules in cron.h). */
static time_t resolve_wall(int y, int mo, int d, int h, int mi)
{
	time_t t0 = 0, t1 = 0;
	bool v0 = resolve_one(y, mo, d, h, mi, 0, &t0);
	bool v1 = resolve_one(y, mo, d, h, mi, 1, &t1);
	if (v0 && v1)
		return t0 < t1 ? t0 : t1; /* repeated hour: the first occurrence */
	if (v0)
		return t0;
	if (v1)
		return t1;
	/* skipped wall time: the standard-time reading lands after the gap */
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_isdst = 0};
	return mktime(&tm);
}

int mr_cron_next(const mr_cron *c, int64_t after, int64_t *next)
{
	time_t a = (time_t)after;
	struct tm lt;
	if (!localtime_r(&a, &lt))
		return mr_error_set(MR_EINVALID, "cron: time %lld cannot be converted to local time", (long long)after);
	/* day 0 may be the previous day too: a skipped-hour slot of yesterday never
	 * lands later than today, so starting at today's date is enough. */
	for (int dd = 0; dd <= 8; dd++) {
		/* normalise the calendar day via noon (never inside a DST change) */
		struct tm day = {.tm_year = lt.tm_year, .tm_mon = lt.tm_mon, .tm_mday = lt.tm_mday + dd, .tm_hour = 12,
				 .tm_isdst = -1};
		if (mktime(&day) == (time_t)-1)
			return mr_error_set(MR_ERROR, "cron: date out of range");
		int wday = day.tm_wday == 0 ? 7 : day.tm_wday;
		if (c->wday && c->wday != wday)
			continue;
		int y = day.tm_year + 1900, mo = day.tm_mon, d = day.tm_mday;
		bool found = false;
		time_t best = 0;
		for (int h = c->hour < 0 ? 0 : c->hour; h <= (c->hour < 0 ? 23 : c->hour); h++) {
			time_t t = resolve_wall(y, mo, d, h, c->minute);
			if (t > a && (!found || t < best)) {
				best = t;
				found = true;
			}
		}
		if (found) {
			*next = (int64_t)best;
			return 0;
		}
	}
	return mr_error_set(MR_ERROR, "cron: no fire time found within 9 days (bug)");
}
