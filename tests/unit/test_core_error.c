/* Unit tests of src/core: the last-error slot and buffers. */
#include "core/common.h"
#include "harness.h"

static void test_core_error__set_and_prefix(void)
{
	MR_CHECK_EQ_INT(mr_error_set(MR_ENOTFOUND, "key %s", "abc"), MR_ENOTFOUND);
	MR_CHECK_EQ_STR(mr_error_last()->message, "key abc");
	MR_CHECK_EQ_INT(mr_error_prefix("store \"%s\"", "x"), MR_ENOTFOUND);
	MR_CHECK_EQ_STR(mr_error_last()->message, "store \"x\": key abc");
	mr_error_clear();
	MR_CHECK_EQ_INT(mr_error_last()->code, MR_OK);
	MR_CHECK_EQ_STR(mr_error_last()->message, "");
}

static void test_core_error__errno(void)
{
	mr_error_set_errno(MR_EIO, 2, "open %s", "/x");
	MR_CHECK_EQ_STR(mr_error_last()->message, "open /x: No such file or directory");
	MR_CHECK_EQ_STR(mr_error_code_name(MR_EIO), "EIO");
}

static void test_core_buf__grow_and_printf(void)
{
	mr_buf b = MR_BUF_INIT;
	for (int i = 0; i < 1000; i++)
		MR_CHECK_OK(mr_buf_printf(&b, "%d,", i));
	MR_CHECK(b.len > 3000);
	MR_CHECK(b.ptr[b.len] == '\0');
	MR_CHECK(strncmp((char *)b.ptr, "0,1,2,", 6) == 0);
	MR_CHECK_OK(mr_buf_set(&b, "xy", 2));
	MR_CHECK_EQ_STR(mr_buf_cstr(&b), "xy");
	mr_buf_dispose(&b);
	MR_CHECK(b.ptr == NULL);
}

static void test_core_slice__order(void)
{
	MR_CHECK(mr_slice_cmp(mr_slice_of("a", 1), mr_slice_of("ab", 2)) < 0);
	MR_CHECK(mr_slice_cmp(mr_slice_of("\xff", 1), mr_slice_of("\x00", 1)) > 0);
	MR_CHECK(mr_slice_cmp(MR_SLICE_EMPTY, mr_slice_of("\x00", 1)) < 0);
	MR_CHECK(mr_slice_eq(mr_slice_str("abc"), mr_slice_of("abc", 3)));
}

static void test_core_backoff__capped(void)
{
	for (unsigned a = 0; a < 40; a++)
		MR_CHECK(mr_backoff_ms(a, 10, 1000) <= 1000);
	MR_CHECK(mr_backoff_ms(0, 10, 1000) <= 10);
}

/* The TSC-extrapolated clock stays within a millisecond of CLOCK_REALTIME
 * read just before and just after it, across many re-anchorings. */
static void test_core_clock__fast_matches_realtime(void)
{
	int64_t end = mr_now_unix_ms() + 400, bad = 0, n = 0;
	for (int64_t before = 0; before < end; n++) {
		before = mr_now_unix_ms();
		int64_t fast = mr_now_fast_unix_ms();
		int64_t after = mr_now_unix_ms();
		if (fast < before - 1 || fast > after + 1) {
			if (!bad++)
				fprintf(stderr, "fast clock %lld outside [%lld, %lld] after %lld reads\n", (long long)fast,
					(long long)before, (long long)after, (long long)n);
		}
	}
	MR_CHECK(n > 1000);
	MR_CHECK_EQ_INT(bad, 0);
}

int main(void)
{
	MR_TEST_RUN(test_core_error__set_and_prefix);
	MR_TEST_RUN(test_core_error__errno);
	MR_TEST_RUN(test_core_buf__grow_and_printf);
	MR_TEST_RUN(test_core_slice__order);
	MR_TEST_RUN(test_core_backoff__capped);
	MR_TEST_RUN(test_core_clock__fast_matches_realtime);
	MR_TEST_DONE();
}
