/*
 * fuzz_cron.c — libFuzzer target for simple cron parsing and next-fire.
 * Input: the expression up to the first newline; the bytes after it (if
 * any) pick a start time (8 bytes, little-endian, folded into 1970-2100)
 * and a time zone.  Checks: any text parses or fails with MR_EINVALID
 * naming a field; a parsed schedule prints back to an equal schedule; its
 * next fire time is later than the start, within 8 days, is again the
 * next fire time when asked from one second earlier, and reads as the
 * requested local minute/hour/week-day except next to an offset change;
 * in UTC no earlier whole minute matches.
 */
#include "core/cron.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = {"UTC",		   "Europe/Berlin",	  "Europe/Dublin", "America/New_York",
				    "Australia/Lord_Howe", "Pacific/Apia",	  "Asia/Kolkata",  "America/Santiago",
				    "Pacific/Chatham",	   "America/St_Johns"};
static const char *current_zone;

static void use_zone(const char *z)
{
	if (current_zone == z)
		return;
	setenv("TZ", z, 1);
	tzset();
	current_zone = z;
}

static bool matches(const mr_cron *c, const struct tm *tm)
{
	int wd = tm->tm_wday == 0 ? 7 : tm->tm_wday;
	return tm->tm_min == c->minute && tm->tm_sec == 0 && (c->hour < 0 || tm->tm_hour == c->hour) &&
	       (!c->wday || wd == c->wday);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[128];
	size_t n = 0;
	while (n < size && data[n] != '\n')
		n++;
	size_t tlen = n < sizeof(text) ? n : sizeof(text) - 1;
	memcpy(text, data, tlen);
	text[tlen] = '\0';

	int64_t from = 1700000000;
	const char *zone = zones[0];
	if (n + 1 < size) {
		uint64_t r = 0;
		for (size_t i = n + 1, k = 0; i < size && k < 8; i++, k++)
			r |= (uint64_t)data[i] << (8 * k);
		from = (int64_t)(r % 4102444800ULL); /* 1970-01-01 .. 2100-01-01 */
		zone = zones[(r >> 40) % (sizeof(zones) / sizeof(zones[0]))];
	}
	use_zone(zone);

	mr_cron c;
	int rc = mr_cron_parse(&c, text);
	if (rc != 0) {
		const char *m = mr_error_last()->message;
		if (rc != MR_EINVALID || strncmp(m, "cron \"", 6) != 0 ||
		    (!strstr(m, "minute:") && !strstr(m, "hour:") && !strstr(m, "day-of-week:") &&
		     !strstr(m, "expected 3 fields")))
			abort();
		return 0;
	}
	if (c.minute < 0 || c.minute > 59 || c.hour < -1 || c.hour > 23 || c.wday < 0 || c.wday > 7)
		abort();
	char buf[32];
	mr_cron_format(&c, buf, sizeof(buf));
	mr_cron back;
	if (mr_cron_parse(&back, buf) != 0 || back.minute != c.minute || back.hour != c.hour || back.wday != c.wday)
		abort();

	int64_t next, again, after_next;
	if (mr_cron_next(&c, from, &next) != 0 || next <= from || next > from + 8 * 86400 + 7200)
		abort();
	if (mr_cron_next(&c, next - 1, &again) != 0 || again != next)
		abort();
	if (mr_cron_next(&c, next, &after_next) != 0 || after_next <= next)
		abort();
	time_t tt = (time_t)next, day_before = (time_t)(next - 86400);
	struct tm tm, tb;
	if (!localtime_r(&tt, &tm) || !localtime_r(&day_before, &tb))
		abort();
	if (!matches(&c, &tm) && tm.tm_gmtoff == tb.tm_gmtoff)
		abort(); /* only a skipped wall time may fire at another reading */
	if (zone == zones[0]) {
		for (int64_t t = (from / 60 + 1) * 60; t < next; t += 60) {
			time_t x = (time_t)t;
			gmtime_r(&x, &tm);
			if (matches(&c, &tm))
				abort();
		}
	}
	return 0;
}
