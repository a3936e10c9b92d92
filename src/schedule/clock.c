/*
 * clock.c — the scheduler's clock.  Production uses the wall clock; test
 * mode (MAILROOM_TEST_CLOCK_SCALE) runs a scaled clock so that slots an
 * hour apart come seconds apart, with the real cron rules unchanged.
 */
#include "schedule/schedule.h"

#include <errno.h>
#include <stdlib.h>

static int env_int(const char *name, int64_t min, int64_t max, int64_t *out)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return MR_ENOTFOUND;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return mr_error_set(MR_EINVALID, "%s=\"%s\": expected an integer from %lld to %lld", name, s,
				    (long long)min, (long long)max);
	*out = v;
	return 0;
}

int mr_sched_clock_init(mr_sched_clock *c)
{
	c->epoch_ms = mr_now_unix_ms();
	c->scale = 1;
	int64_t v;
	int rc = env_int("MAILROOM_TEST_CLOCK_SCALE", 1, 1000000, &v);
	if (rc == MR_EINVALID)
		return rc;
	if (rc == 0)
		c->scale = v;
	rc = env_int("MAILROOM_TEST_CLOCK_EPOCH", 0, INT64_MAX / 2, &v);
	if (rc == MR_EINVALID)
		return rc;
	if (rc == 0)
		c->epoch_ms = v;
	mr_error_clear();
	return 0;
}

int64_t mr_sched_clock_now_ms(const mr_sched_clock *c)
{
	int64_t real = mr_now_unix_ms();
	if (!c || c->scale == 1)
		return real;
	return c->epoch_ms + (real - c->epoch_ms) * c->scale;
}

uint64_t mr_sched_clock_real_ms(const mr_sched_clock *c, int64_t virtual_ms)
{
	if (virtual_ms <= 0)
		return 0;
	if (!c || c->scale == 1)
		return (uint64_t)virtual_ms;
	uint64_t r = (uint64_t)virtual_ms / (uint64_t)c->scale;
	return r ? r : 1;
}
