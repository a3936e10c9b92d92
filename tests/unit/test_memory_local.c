/*
 * test_memory_local.c — the local in-memory backend's bound and eviction
 * rule, through the internal constructor (src/memory/backend.h).
 */
#include "harness.h"
#include "memory/backend.h"

static int64_t now_ms = 1000000;
static int64_t clk(void *p)
{
	(void)p;
	return now_ms;
}

static void test_memory_local__never_grows_past_bound(void)
{
	mr_memory_inst *in;
	mr_memory *m;
	const uint64_t bound = 64 * 1024;
	MR_CHECK_OK(mr_memory__local_new(&in, bound, 0, 4));
	MR_CHECK_OK(mr_memory__wrap(&m, in, "bounded"));
	uint8_t val[200];
	memset(val, 'v', sizeof(val));
	char key[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		MR_CHECK_OK(mr_memory_set(mr_memory_root(m), mr_slice_str(key), mr_slice_of(val, sizeof(val)),
					  i % 3 ? 0 : 60000));
		MR_CHECK(mr_memory__local_used(in) <= bound);
	}
	MR_CHECK(mr_memory__local_used(in) > bound / 2); /* it did fill up */
	/* the most recent key survives; an entry larger than a shard's share is refused */
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_memory_get(mr_memory_root(m), mr_slice_str("key-19999"), &v));
	uint8_t *big = calloc(1, 20000);
	MR_CHECK_RC(mr_memory_set(mr_memory_root(m), mr_slice_str("big"), mr_slice_of(big, 20000), 0), MR_ELIMIT);
	free(big);
	mr_buf_dispose(&v);
	mr_memory_close(m);
}

static void test_memory_local__evicts_nearest_expiry_first(void)
{
	mr_memory_inst *in;
	mr_memory *m;
	MR_CHECK_OK(mr_memory__local_new(&in, 1u << 20, 8, 1)); /* 8 keys max, one shard */
	MR_CHECK_OK(mr_memory__wrap(&m, in, "keys"));
	MR_CHECK_OK(mr_memory_set_clock(m, clk, NULL));
	mr_memory_ns *r = mr_memory_root(m);
	char key[16];
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "p%d", i);
		/* p3 has a TTL, all others none */
		MR_CHECK_OK(mr_memory_set(r, mr_slice_str(key), mr_slice_str("x"), i == 3 ? 100000 : 0));
	}
	MR_CHECK_OK(mr_memory_set(r, mr_slice_str("new"), mr_slice_str("x"), 0));
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_RC(mr_memory_get(r, mr_slice_str("p3"), &v), MR_ENOTFOUND);
	MR_CHECK_OK(mr_memory_get(r, mr_slice_str("p0"), &v));
	MR_CHECK_OK(mr_memory_get(r, mr_slice_str("new"), &v));
	mr_buf_dispose(&v);
	mr_memory_close(m);
}

static void test_memory_local__gcra_exact(void)
{
	mr_gcra_state st = {0, 0};
	mr_rate_result r;
	int64_t ttl;
	int ok = 0;
	for (int i = 0; i < 10; i++) {
		mr_gcra_step(&st, i > 0, 5000, 7, 1000, &r, &ttl);
		ok += r.allowed;
	}
	MR_CHECK_EQ_INT(ok, 7);
	MR_CHECK_EQ_INT(r.retry_after_ms, 143); /* ceil(1000/7) */
}

int main(void)
{
	MR_TEST_RUN(test_memory_local__never_grows_past_bound);
	MR_TEST_RUN(test_memory_local__evicts_nearest_expiry_first);
	MR_TEST_RUN(test_memory_local__gcra_exact);
	MR_TEST_DONE();
}
