/* Unit tests of src/core/cron.c: parsing and next-fire across DST. */
#include "core/cron.h"
#include "harness.h"

#include <time.h>

static int64_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
	return (int64_t)timegm(&tm);
}

static void zone(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void test_core_cron__parse(void)
{
	mr_cron c;
	MR_CHECK_OK(mr_cron_parse(&c, "30 5 *"));
	MR_CHECK(c.minute == 30 && c.hour == 5 && c.wday == 0);
	MR_CHECK_OK(mr_cron_parse(&c, " 0\t* 7 "));
	MR_CHECK(c.minute == 0 && c.hour == -1 && c.wday == 7);
	struct {
		const char *text, *frag;
	} bad[] = {{"60 5 *", "minute: 60 is out of range 0-59"},
		   {"5 24 *", "hour: 24 is out of range 0-23 or *"},
		   {"5 5 0", "day-of-week: 0 is out of range 1-7"},
		   {"5 5 8", "day-of-week: 8 is out of range"},
		   {"* 5 *", "minute: * is not allowed"},
		   {"5 5", "expected 3 fields"},
		   {"5 5 * *", "expected 3 fields"},
		   {"x 5 *", "minute: \"x\" is not valid"},
		   {"5 -1 *", "hour: \"-1\" is not valid"},
		   {"", "expected 3 fields"},
		   {"005 5 *", "minute: \"005\" is not valid"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		MR_CHECK_RC(mr_cron_parse(&c, bad[i].text), MR_EINVALID);
		if (!strstr(mr_error_last()->message, bad[i].frag))
			fprintf(stderr, "  \"%s\": %s\n", bad[i].text, mr_error_last()->message);
		MR_CHECK(strstr(mr_error_last()->message, bad[i].frag) != NULL);
	}
}

static void test_core_cron__utc(void)
{
	zone("UTC");
	mr_cron c;
	int64_t t;
	MR_CHECK_OK(mr_cron_parse(&c, "30 5 *"));
	MR_CHECK_OK(mr_cron_next(&c, utc(2026, 11, 23, 5, 29), &t));
	MR_CHECK_EQ_INT(t, utc(2026, 11, 23, 5, 30));
	MR_CHECK_OK(mr_cron_next(&c, t, &t)); /* strictly after */
	MR_CHECK_EQ_INT(t, utc(2026, 11, 24, 5, 30));
	MR_CHECK_OK(mr_cron_parse(&c, "0 0 1")); /* Mondays at midnight */
	MR_CHECK_OK(mr_cron_next(&c, utc(2026, 12, 31, 12, 0), &t));
	MR_CHECK_EQ_INT(t, utc(2027, 1, 4, 0, 0));
	MR_CHECK_OK(mr_cron_parse(&c, "59 23 7")); /* Sundays, across a leap day */
	MR_CHECK_OK(mr_cron_next(&c, utc(2028, 2, 28, 0, 0), &t));
	MR_CHECK_EQ_INT(t, utc(2028, 3, 5, 23, 59));
	MR_CHECK_OK(mr_cron_parse(&c, "15 * *"));
	MR_CHECK_OK(mr_cron_next(&c, utc(2026, 12, 31, 23, 15), &t));
	MR_CHECK_EQ_INT(t, utc(2027, 1, 1, 0, 15));
}

static void test_core_cron__berlin_dst(void)
{
	zone("Europe/Berlin");
	mr_cron c;
	int64_t t;
	/* spring: 02:30 does not exist on 2026-03-29; fires once, at 03:30 CEST (01:30Z) */
	MR_CHECK_OK(mr_cron_parse(&c, "30 2 *"));
	MR_CHECK_OK(mr_cron_next(&c, utc(2026, 3, 28, 12, 0), &t));
	MR_CHECK_EQ_INT(t, utc(2026, 3, 29, 1, 30));
	MR_CHECK_OK(mr_cron_next(&c, t, &t));
	MR_CHECK_EQ_INT(t, utc(2026, 3, 30, 0, 30)); /* 02:30 CEST */
	/* autumn: 02:30 happens twice on 2026-10-25; fires at the first (00:30Z) only */
	MR_CHECK_OK(mr_cron_next(&c, utc(2026, 10, 24, 12, 0), &t));
	MR_CHECK_EQ_INT(t, utc(2026, 10, 25, 0, 30));
	MR_CHECK_OK(mr_cron_next(&c, t, &t));
	MR_CHECK_EQ_INT(t, utc(2026, 10, 26, 1, 30)); /* next day, 02:30 CET */
	/* every hour through the autumn change: 01:00 CEST, 02:00 CEST, 03:00 CET */
	MR_CHECK_OK(mr_cron_parse(&c, "0 * *"));
	int64_t want[] = {utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 2, 0), utc(2026, 10, 25, 3, 0)};
	t = utc(2026, 10, 24, 22, 30);
	for (int i = 0; i < 4; i++) {
		MR_CHECK_OK(mr_cron_next(&c, t, &t));
		MR_CHECK_EQ_INT(t, want[i]);
	}
	/* every hour through the spring change: no double fire at 03:00 CEST */
	int64_t want2[] = {utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0)};
	t = utc(2026, 3, 28, 23, 30);
	for (int i = 0; i < 3; i++) {
		MR_CHECK_OK(mr_cron_next(&c, t, &t));
		MR_CHECK_EQ_INT(t, want2[i]);
	}
	zone("UTC");
}

int main(void)
{
	MR_TEST_RUN(test_core_cron__parse);
	MR_TEST_RUN(test_core_cron__utc);
	MR_TEST_RUN(test_core_cron__berlin_dst);
	MR_TEST_DONE();
}
