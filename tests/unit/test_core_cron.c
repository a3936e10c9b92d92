/*
 * test_core_cron.c — simple cron: parsing (every accepted form, every kind
 * of rejection with the field named), next fire times in UTC (hours,
 * week-days, month/year/leap-day rollover, checked against a minute-by-
 * minute reference) and across DST changes in Europe/Berlin, Europe/Dublin
 * (negative DST) and Pacific/Apia (a skipped calendar day).
 */
#include "core/cron.h"

#include "harness.h"

#include <time.h>

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static int64_t utc(int y, int mo, int d, int h, int mi)
{
	int64_t t = 0;
	if (mr_cron_time_from_civil(y, mo, d, h, mi, 0, false, &t) != 0)
		abort();
	return t;
}

static int64_t local(int y, int mo, int d, int h, int mi)
{
	int64_t t = 0;
	if (mr_cron_time_from_civil(y, mo, d, h, mi, 0, true, &t) != 0)
		abort();
	return t;
}

static int64_t next_of(const char *expr, int64_t after)
{
	mr_cron c;
	int64_t t = -1;
	if (mr_cron_parse(&c, expr) != 0 || mr_cron_next(&c, after, &t) != 0)
		return -1;
	return t;
}

static struct tm local_tm(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	return tm;
}

static void test_core_cron__parse_valid(void)
{
	mr_cron c;
	MR_CHECK_OK(mr_cron_parse(&c, "30 5 *"));
	MR_CHECK(c.minute == 30 && c.hour == 5 && c.wday == 0);
	MR_CHECK_OK(mr_cron_parse(&c, "0 * *"));
	MR_CHECK(c.minute == 0 && c.hour == -1 && c.wday == 0);
	MR_CHECK_OK(mr_cron_parse(&c, "59 23 7"));
	MR_CHECK(c.minute == 59 && c.hour == 23 && c.wday == 7);
	MR_CHECK_OK(mr_cron_parse(&c, "0 0 1"));
	MR_CHECK(c.minute == 0 && c.hour == 0 && c.wday == 1);
	MR_CHECK_OK(mr_cron_parse(&c, "05 09 3"));
	MR_CHECK(c.minute == 5 && c.hour == 9 && c.wday == 3);
	/* blanks: runs of spaces and tabs separate; leading/trailing ignored */
	MR_CHECK_OK(mr_cron_parse(&c, "  15\t*   6\t "));
	MR_CHECK(c.minute == 15 && c.hour == -1 && c.wday == 6);
	char buf[32];
	mr_cron_format(&c, buf, sizeof(buf));
	MR_CHECK_EQ_STR(buf, "15 * 6");
	MR_CHECK_OK(mr_cron_parse(&c, "30 5 *"));
	mr_cron_format(&c, buf, sizeof(buf));
	MR_CHECK_EQ_STR(buf, "30 5 *");
}

static void expect_bad(const char *expr, const char *needle)
{
	mr_cron c = {.minute = 7, .hour = 7, .wday = 7};
	int rc = mr_cron_parse(&c, expr);
	if (rc != MR_EINVALID || !strstr(mr_error_last()->message, needle) || c.minute != 7) {
		fprintf(stderr, "FAIL %s: \"%s\": rc %d, message \"%s\", expected to contain \"%s\"\n", mr_test_current,
			expr, rc, mr_error_last()->message, needle);
		mr_test_failures++;
	}
}

static void test_core_cron__parse_invalid(void)
{
	int before = mr_test_failures;
	expect_bad("61 5 *", "cron \"61 5 *\": minute: 61 is out of range 0-59");
	expect_bad("60 5 *", "minute: 60 is out of range 0-59");
	expect_bad("* 5 *", "minute: * is not allowed; expected 0-59");
	expect_bad("-1 5 *", "minute: \"-1\" is not valid; expected 0-59");
	expect_bad("+1 5 *", "minute: \"+1\" is not valid");
	expect_bad("100 5 *", "minute: \"100\" is not valid");
	expect_bad("a 5 *", "minute: \"a\" is not valid");
	expect_bad("5,10 5 *", "minute: \"5,10\" is not valid");
	expect_bad("*/5 * *", "minute: \"*/5\" is not valid");
	expect_bad("5 24 *", "hour: 24 is out of range 0-23 or *");
	expect_bad("5 1x *", "hour: \"1x\" is not valid; expected 0-23 or *");
	expect_bad("5 1-5 *", "hour: \"1-5\" is not valid");
	expect_bad("5 ** *", "hour: \"**\" is not valid");
	expect_bad("5 5 0", "day-of-week: 0 is out of range 1-7 (Monday-Sunday) or *");
	expect_bad("5 5 8", "day-of-week: 8 is out of range 1-7");
	expect_bad("5 5 Mon", "day-of-week: \"Mon\" is not valid; expected 1-7 (Monday-Sunday) or *");
	expect_bad("5 5 1-5", "day-of-week: \"1-5\" is not valid");
	expect_bad("", "expected 3 fields \"MINUTE HOUR DAY-OF-WEEK\" (e.g. \"30 5 *\"), found 0");
	expect_bad("   \t ", "found 0");
	expect_bad("5 5", "found 2");
	expect_bad("5 5 * *", "found 4");
	expect_bad("0 0 0 0 0 0 0", "found 7");
	expect_bad("5\n5 *", "found 2");  /* a newline is not a blank */
	expect_bad("5 5 *\n", "day-of-week: \"*\n\" is not valid");
	MR_CHECK(mr_test_failures == before);
}

static void test_core_cron__next_utc(void)
{
	set_tz("UTC");
	int64_t from = utc(2026, 11, 23, 6, 0); /* a Monday */
	MR_CHECK_EQ_INT(next_of("30 5 *", from), utc(2026, 11, 24, 5, 30));
	MR_CHECK_EQ_INT(next_of("30 6 *", from), utc(2026, 11, 23, 6, 30));
	MR_CHECK_EQ_INT(next_of("0 6 *", from), utc(2026, 11, 24, 6, 0)); /* strictly after */
	MR_CHECK_EQ_INT(next_of("0 6 *", from - 1), from);
	MR_CHECK_EQ_INT(next_of("15 * *", from), utc(2026, 11, 23, 6, 15));
	MR_CHECK_EQ_INT(next_of("0 * *", from), utc(2026, 11, 23, 7, 0));
	MR_CHECK_EQ_INT(next_of("0 * *", from + 59), utc(2026, 11, 23, 7, 0));
	MR_CHECK_EQ_INT(next_of("59 * *", utc(2026, 11, 23, 23, 59)), utc(2026, 11, 24, 0, 59));
	MR_CHECK_EQ_INT(next_of("0 0 *", utc(2026, 11, 23, 23, 59)), utc(2026, 11, 24, 0, 0));
}

static void test_core_cron__week_days(void)
{
	set_tz("UTC");
	int64_t monday = utc(2026, 11, 23, 0, 0);
	static const char *exprs[7] = {"0 3 1", "0 3 2", "0 3 3", "0 3 4", "0 3 5", "0 3 6", "0 3 7"};
	for (int wd = 1; wd <= 7; wd++) {
		int64_t t = next_of(exprs[wd - 1], monday);
		MR_CHECK_EQ_INT(t, utc(2026, 11, 23 + wd - 1, 3, 0));
		struct tm tm = local_tm(t);
		MR_CHECK_EQ_INT(tm.tm_wday, wd % 7); /* tm_wday: 0 = Sunday */
	}
	/* the same week-day later that day, then a week on */
	MR_CHECK_EQ_INT(next_of("0 3 1", utc(2026, 11, 23, 3, 0)), utc(2026, 11, 30, 3, 0));
	MR_CHECK_EQ_INT(next_of("0 * 1", utc(2026, 11, 23, 23, 0)), utc(2026, 11, 30, 0, 0));
	MR_CHECK_EQ_INT(next_of("30 * 7", monday), utc(2026, 11, 29, 0, 30));
	MR_CHECK_EQ_INT(next_of("30 * 7", utc(2026, 11, 29, 23, 30)), utc(2026, 12, 6, 0, 30));
}

static void test_core_cron__rollover(void)
{
	set_tz("UTC");
	MR_CHECK_EQ_INT(next_of("30 23 *", utc(2026, 12, 31, 23, 30)), utc(2027, 1, 1, 23, 30));
	MR_CHECK_EQ_INT(next_of("0 0 *", utc(2026, 12, 31, 12, 0)), utc(2027, 1, 1, 0, 0));
	MR_CHECK_EQ_INT(next_of("0 * *", utc(2026, 12, 31, 23, 0)), utc(2027, 1, 1, 0, 0));
	MR_CHECK_EQ_INT(next_of("0 12 *", utc(2026, 1, 31, 13, 0)), utc(2026, 2, 1, 12, 0));
	MR_CHECK_EQ_INT(next_of("0 12 *", utc(2026, 4, 30, 13, 0)), utc(2026, 5, 1, 12, 0));
	/* leap day exists in 2028 and 2000, not in 2026 or 2100 */
	MR_CHECK_EQ_INT(next_of("0 12 *", utc(2028, 2, 28, 13, 0)), utc(2028, 2, 29, 12, 0));
	MR_CHECK_EQ_INT(next_of("0 12 *", utc(2028, 2, 29, 13, 0)), utc(2028, 3, 1, 12, 0));
	MR_CHECK_EQ_INT(next_of("0 12 *", utc(2026, 2, 28, 13, 0)), utc(2026, 3, 1, 12, 0));
	MR_CHECK_EQ_INT(next_of("0 12 *", utc(2000, 2, 28, 13, 0)), utc(2000, 2, 29, 12, 0));
	MR_CHECK_EQ_INT(next_of("0 12 *", utc(2100, 2, 28, 13, 0)), utc(2100, 3, 1, 12, 0));
	/* 2028-02-29 is a Tuesday; a Wednesday schedule crosses into March */
	MR_CHECK_EQ_INT(next_of("0 1 3", utc(2028, 2, 28, 0, 0)), utc(2028, 3, 1, 1, 0));
	/* week-day across a year end: 2026-12-31 is a Thursday; next Monday */
	MR_CHECK_EQ_INT(next_of("0 9 1", utc(2026, 12, 31, 0, 0)), utc(2027, 1, 4, 9, 0));
}

/* Reference: the first whole minute after `after` matching the fields (UTC). */
static int64_t reference_utc(const mr_cron *c, int64_t after)
{
	for (int64_t t = (after / 60 + 1) * 60;; t += 60) {
		time_t tt = (time_t)t;
		struct tm tm;
		gmtime_r(&tt, &tm);
		int wd = tm.tm_wday == 0 ? 7 : tm.tm_wday;
		if (tm.tm_min == c->minute && (c->hour < 0 || tm.tm_hour == c->hour) && (!c->wday || wd == c->wday))
			return t;
	}
}

static void test_core_cron__against_reference_utc(void)
{
	set_tz("UTC");
	static const int minutes[] = {0, 17, 59}, hours[] = {-1, 0, 13, 23}, wdays[] = {0, 1, 4, 7};
	const int64_t starts[] = {utc(2026, 11, 23, 6, 0) + 17, utc(2028, 2, 27, 23, 59), utc(2026, 12, 31, 23, 0)};
	int compared = 0;
	for (size_t m = 0; m < 3; m++)
		for (size_t h = 0; h < 4; h++)
			for (size_t w = 0; w < 4; w++)
				for (size_t s = 0; s < 3; s++) {
					mr_cron c = {.minute = minutes[m], .hour = hours[h], .wday = wdays[w]};
					int64_t t = 0;
					MR_CHECK_OK(mr_cron_next(&c, starts[s], &t));
					MR_CHECK_EQ_INT(t, reference_utc(&c, starts[s]));
					compared++;
				}
	MR_CHECK_EQ_INT(compared, 144);
}

static void test_core_cron__berlin_spring_gap(void)
{
	set_tz("Europe/Berlin");
	/* 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC) */
	int64_t t = next_of("30 2 *", local(2026, 3, 28, 12, 0));
	MR_CHECK_EQ_INT(t, utc(2026, 3, 29, 1, 30)); /* 03:30 CEST: same offset after the gap */
	struct tm tm = local_tm(t);
	MR_CHECK(tm.tm_mday == 29 && tm.tm_hour == 3 && tm.tm_min == 30 && tm.tm_gmtoff == 7200);
	int64_t t2 = next_of("30 2 *", t);
	MR_CHECK_EQ_INT(t2, utc(2026, 3, 30, 0, 30)); /* 02:30 CEST next day: fired once on the 29th */
	MR_CHECK_EQ_INT(next_of("30 2 *", utc(2026, 3, 29, 0, 59)), t);
	/* the day before and after are unaffected */
	MR_CHECK_EQ_INT(next_of("30 2 *", local(2026, 3, 27, 12, 0)), utc(2026, 3, 28, 1, 30));
	/* a weekly slot on the change day (a Sunday) */
	MR_CHECK_EQ_INT(next_of("30 2 7", local(2026, 3, 23, 0, 0)), utc(2026, 3, 29, 1, 30));
	MR_CHECK_EQ_INT(next_of("0 2 7", local(2026, 3, 23, 0, 0)), utc(2026, 3, 29, 1, 0)); /* 03:00 CEST */
	/* hourly: 01:30 CET, then the skipped 02:30 and 03:30 are one fire */
	int64_t h = local(2026, 3, 29, 0, 45);
	h = next_of("30 * *", h);
	MR_CHECK_EQ_INT(h, utc(2026, 3, 29, 0, 30));
	h = next_of("30 * *", h);
	MR_CHECK_EQ_INT(h, utc(2026, 3, 29, 1, 30));
	h = next_of("30 * *", h);
	MR_CHECK_EQ_INT(h, utc(2026, 3, 29, 2, 30));
	/* the local reading of a skipped time (--from) lies after the gap */
	MR_CHECK_EQ_INT(local(2026, 3, 29, 2, 30), utc(2026, 3, 29, 1, 30));
}

static void test_core_cron__berlin_autumn_repeat(void)
{
	set_tz("Europe/Berlin");
	/* 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00 UTC) */
	int64_t t = next_of("30 2 *", local(2026, 10, 24, 12, 0));
	MR_CHECK_EQ_INT(t, utc(2026, 10, 25, 0, 30)); /* the first 02:30 (CEST) */
	MR_CHECK_EQ_INT(local_tm(t).tm_gmtoff, 7200);
	int64_t t2 = next_of("30 2 *", t);
	MR_CHECK_EQ_INT(t2, utc(2026, 10, 26, 1, 30)); /* not the second 02:30 (CET, 01:30 UTC) */
	/* even when asked from inside the repeated hour, between the two 02:30s */
	MR_CHECK_EQ_INT(next_of("30 2 *", utc(2026, 10, 25, 1, 0)), utc(2026, 10, 26, 1, 30));
	MR_CHECK_EQ_INT(local(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30));
	/* hourly: once per wall-clock hour; the second 02:00 (CET) is skipped */
	int64_t h = next_of("0 * *", local(2026, 10, 25, 0, 30));
	MR_CHECK_EQ_INT(h, utc(2026, 10, 24, 23, 0)); /* 01:00 CEST */
	h = next_of("0 * *", h);
	MR_CHECK_EQ_INT(h, utc(2026, 10, 25, 0, 0)); /* 02:00 CEST */
	h = next_of("0 * *", h);
	MR_CHECK_EQ_INT(h, utc(2026, 10, 25, 2, 0)); /* 03:00 CET; 01:00 UTC (02:00 CET) not fired */
}

/* Fires of `expr` on each local day of 2026 in the current zone. */
static void count_year(const char *expr, int per_day[367], int *total, int64_t *max_gap)
{
	memset(per_day, 0, 367 * sizeof(int));
	*total = 0;
	*max_gap = 0;
	int64_t end = local(2027, 1, 1, 0, 0), prev = local(2026, 1, 1, 0, 0) - 1;
	int64_t t = prev;
	while ((t = next_of(expr, t)) > 0 && t < end) {
		per_day[local_tm(t).tm_yday]++;
		(*total)++;
		if (*total > 1 && t - prev > *max_gap)
			*max_gap = t - prev;
		prev = t;
	}
}

static void test_core_cron__berlin_whole_year(void)
{
	set_tz("Europe/Berlin");
	static int per_day[367];
	int total;
	int64_t gap;
	count_year("30 2 *", per_day, &total, &gap);
	MR_CHECK_EQ_INT(total, 365);
	for (int d = 0; d < 365; d++)
		MR_CHECK_EQ_INT(per_day[d], 1);
	count_year("0 * *", per_day, &total, &gap);
	MR_CHECK_EQ_INT(total, 365 * 24 - 1);
	MR_CHECK_EQ_INT(per_day[87], 23); /* 2026-03-29 */
	MR_CHECK_EQ_INT(per_day[297], 24); /* 2026-10-25: 25 real hours, 24 wall hours */
	MR_CHECK_EQ_INT(gap, 7200);
	count_year("30 2 7", per_day, &total, &gap);
	MR_CHECK_EQ_INT(total, 52);
	MR_CHECK_EQ_INT(per_day[87], 1);
	MR_CHECK_EQ_INT(per_day[297], 1);
}

static void test_core_cron__dublin_negative_dst(void)
{
	/* Dublin's tzdata marks winter (GMT) as the DST period: the rules must
	 * not depend on tm_isdst.  Changes at 01:00 UTC on the last Sundays. */
	set_tz("Europe/Dublin");
	int64_t t = next_of("30 1 *", local(2026, 3, 28, 12, 0));
	MR_CHECK_EQ_INT(t, utc(2026, 3, 29, 1, 30)); /* 01:30 skipped → 02:30 IST */
	MR_CHECK_EQ_INT(next_of("30 1 *", t), utc(2026, 3, 30, 0, 30));
	t = next_of("30 1 *", local(2026, 10, 24, 12, 0));
	MR_CHECK_EQ_INT(t, utc(2026, 10, 25, 0, 30)); /* first 01:30 (IST) */
	MR_CHECK_EQ_INT(next_of("30 1 *", t), utc(2026, 10, 26, 1, 30));
}

static void test_core_cron__apia_skipped_day(void)
{
	/* Samoa skipped Friday 2011-12-30 entirely (UTC-10 → UTC+14). */
	set_tz("Pacific/Apia");
	int64_t t = next_of("0 12 *", local(2011, 12, 29, 12, 0));
	struct tm tm = local_tm(t);
	MR_CHECK(tm.tm_year == 111 && tm.tm_mon == 11 && tm.tm_mday == 31 && tm.tm_hour == 12 && tm.tm_min == 0);
	int64_t t2 = next_of("0 12 *", t);
	MR_CHECK_EQ_INT(t2 - t, 86400);
	/* the Friday slot of that week falls after the gap, once */
	t = next_of("0 12 5", local(2011, 12, 26, 0, 0));
	tm = local_tm(t);
	MR_CHECK(tm.tm_mday == 31 && tm.tm_hour == 12);
	tm = local_tm(next_of("0 12 5", t));
	MR_CHECK(tm.tm_year == 112 && tm.tm_mon == 0 && tm.tm_mday == 6);
}

static void test_core_cron__civil_and_range(void)
{
	set_tz("UTC");
	int64_t t;
	MR_CHECK_OK(mr_cron_time_from_civil(1970, 1, 1, 0, 0, 0, false, &t));
	MR_CHECK_EQ_INT(t, 0);
	MR_CHECK_OK(mr_cron_time_from_civil(2026, 11, 23, 6, 42, 36, false, &t));
	MR_CHECK_EQ_INT(t, 1795416156LL); /* date -u -d "2026-11-23 06:42:36" +%s */
	MR_CHECK_OK(mr_cron_time_from_civil(1900, 1, 1, 0, 0, 0, false, &t));
	MR_CHECK_EQ_INT(t, -2208988800LL);
	MR_CHECK_RC(mr_cron_time_from_civil(2026, 2, 29, 0, 0, 0, false, &t), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "day 29 is out of range 1-28"));
	MR_CHECK_RC(mr_cron_time_from_civil(2026, 13, 1, 0, 0, 0, false, &t), MR_EINVALID);
	MR_CHECK_RC(mr_cron_time_from_civil(2026, 4, 31, 0, 0, 0, false, &t), MR_EINVALID);
	MR_CHECK_RC(mr_cron_time_from_civil(2026, 1, 1, 24, 0, 0, false, &t), MR_EINVALID);
	MR_CHECK_RC(mr_cron_time_from_civil(2026, 1, 1, 0, 60, 0, false, &t), MR_EINVALID);
	MR_CHECK_RC(mr_cron_time_from_civil(2026, 1, 1, 0, 0, 60, false, &t), MR_EINVALID);
	MR_CHECK_RC(mr_cron_time_from_civil(1899, 12, 31, 0, 0, 0, false, &t), MR_EINVALID);
	MR_CHECK_OK(mr_cron_time_from_civil(2028, 2, 29, 0, 0, 0, false, &t));
	mr_cron c = {.minute = 0, .hour = -1, .wday = 0};
	MR_CHECK_RC(mr_cron_next(&c, INT64_MAX, &t), MR_EINVALID);
	MR_CHECK(strstr(mr_error_last()->message, "outside the supported years"));
	MR_CHECK_RC(mr_cron_next(&c, INT64_MIN, &t), MR_EINVALID);
	MR_CHECK_OK(mr_cron_next(&c, utc(9999, 12, 1, 0, 0), &t));
}

int main(void)
{
	MR_TEST_RUN(test_core_cron__parse_valid);
	MR_TEST_RUN(test_core_cron__parse_invalid);
	MR_TEST_RUN(test_core_cron__next_utc);
	MR_TEST_RUN(test_core_cron__week_days);
	MR_TEST_RUN(test_core_cron__rollover);
	MR_TEST_RUN(test_core_cron__against_reference_utc);
	MR_TEST_RUN(test_core_cron__berlin_spring_gap);
	MR_TEST_RUN(test_core_cron__berlin_autumn_repeat);
	MR_TEST_RUN(test_core_cron__berlin_whole_year);
	MR_TEST_RUN(test_core_cron__dublin_negative_dst);
	MR_TEST_RUN(test_core_cron__apia_skipped_day);
	MR_TEST_RUN(test_core_cron__civil_and_range);
	MR_TEST_DONE();
}
