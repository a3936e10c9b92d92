/*
 * cron.c — parsing and next-fire computation of simple cron schedules
 * (cron.h).  Fire times are computed per candidate local day: each wall
 * time "day + hour:minute" is turned into the instants whose local reading
 * it is, using only the zone's UTC offsets around it (tm_gmtoff of
 * localtime_r), never tm_isdst; calendar arithmetic is done on civil day
 * numbers, so no mktime() normalisation is involved.  The time zone itself
 * (TZ, tzset) is left to the process.
 */
#include "core/cron.h"

#include <time.h>

/* Years 1900-9999, with a few days of margin for the day scan. */
#define CRON_MIN_UNIX (-2208988800LL + 20 * 86400LL)
#define CRON_MAX_UNIX (253402300799LL - 20 * 86400LL)

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
	return mr_error_set(MR_EINVALID, "cron \"%s\": %s: \"%.*s\" is not valid; expected %s", expr, name,
			    (int)(n > 32 ? 32 : n), s, range);
}

int mr_cron_parse(mr_cron *out, const char *text)
{
	static const char *names[3] = {"minute", "hour", "day-of-week"};
	const char *f[3] = {0};
	size_t len[3] = {0};
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
		if (nf < 3) {
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

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ISO day of week, 1 (Monday) - 7 (Sunday); day 0 was a Thursday. */
static int iso_wday(int64_t day)
{
	int64_t r = (day % 7 + 7) % 7; /* 0 = Thursday */
	return (int)((r + 3) % 7) + 1;
}

static bool utc_offset(int64_t t, long *off)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return false;
	*off = tm.tm_gmtoff;
	return true;
}

/*
 * The instant a local wall time w (seconds since 1970 as if local time
 * were UTC) stands for: the earliest instant whose local reading is w, or,
 * when w was skipped, w read with the offset in force before the gap.
 * The offsets a day either side bound every offset that can apply at w
 * (a zone's offset is within ±15 h); the offsets at the instants they
 * give catch a second change in between.
 */
static int64_t wall_instant(int64_t w)
{
	long before = 0, after = 0;
	if (!utc_offset(w - 86400, &before) || !utc_offset(w + 86400, &after))
		return w; /* unreachable within the supported range */
	long cand[4] = {before, after, before, after};
	long o;
	if (utc_offset(w - before, &o))
		cand[2] = o;
	if (utc_offset(w - after, &o))
		cand[3] = o;
	bool found = false;
	int64_t best = 0;
	for (int i = 0; i < 4; i++) {
		int64_t t = w - cand[i];
		if (utc_offset(t, &o) && o == cand[i] && (!found || t < best)) {
			best = t;
			found = true;
		}
	}
	return found ? best : w - before;
}

int mr_cron_next(const mr_cron *c, int64_t after, int64_t *next)
{
	if (after < CRON_MIN_UNIX || after > CRON_MAX_UNIX)
		return mr_error_set(MR_EINVALID, "cron: start time %lld is outside the supported years 1900-9999",
				    (long long)after);
	long off;
	if (!utc_offset(after, &off))
		return mr_error_set(MR_EINVALID, "cron: time %lld cannot be converted to local time", (long long)after);
	int64_t today = floor_div(after + off, 86400);
	int hlo = c->hour < 0 ? 0 : c->hour, hhi = c->hour < 0 ? 23 : c->hour;
	bool found = false;
	int64_t best = 0;
	/* Yesterday too: its skipped slots may land today.  Once a day yields a
	 * fire time, the next day is still checked, so a zone jumping a whole
	 * day (Pacific/Apia, 2011) cannot hide an earlier one. */
	for (int64_t day = today - 1, last = today + 9; day <= last; day++) {
		if (c->wday && iso_wday(day) != c->wday)
			continue;
		for (int h = hlo; h <= hhi; h++) {
			int64_t t = wall_instant(day * 86400 + h * 3600 + c->minute * 60);
			if (t > after && (!found || t < best)) {
				best = t;
				if (!found)
					last = day + 1;
				found = true;
			}
		}
	}
	if (!found)
		return mr_error_set(MR_ERROR, "cron: no fire time within 10 days of %lld (bug)", (long long)after);
	*next = best;
	return 0;
}

int mr_cron_time_from_civil(int year, int month, int day, int hour, int minute, int second, bool local,
			    int64_t *out)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (year < 1900 || year > 9999)
		return mr_error_set(MR_EINVALID, "year %d is out of range 1900-9999", year);
	if (month < 1 || month > 12)
		return mr_error_set(MR_EINVALID, "month %d is out of range 1-12", month);
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	int dim = mdays[month - 1] + (month == 2 && leap);
	if (day < 1 || day > dim)
		return mr_error_set(MR_EINVALID, "day %d is out of range 1-%d for %04d-%02d", day, dim, year, month);
	if (hour < 0 || hour > 23)
		return mr_error_set(MR_EINVALID, "hour %d is out of range 0-23", hour);
	if (minute < 0 || minute > 59)
		return mr_error_set(MR_EINVALID, "minute %d is out of range 0-59", minute);
	if (second < 0 || second > 59)
		return mr_error_set(MR_EINVALID, "second %d is out of range 0-59", second);
	int64_t w = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
	*out = local ? wall_instant(w) : w;
	return 0;
}
