/*
 * harness.h — a tiny assertion harness for plain test executables run by
 * ctest.  Each test binary calls MR_TEST_RUN(fn) per case; a failed check
 * prints file:line and the last mailroom error, and the binary exits 1.
 * MR_TEST_SKIP(reason) exits 77, which ctest reports as skipped
 * (SKIP_RETURN_CODE 77) with the reason on stdout.
 */
#ifndef MR_TEST_HARNESS_H
#define MR_TEST_HARNESS_H

#include "mailroom/mailroom.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mr_test_failures;
static int mr_test_cases;
static const char *mr_test_current;

#define MR_CHECK(cond)                                                                                 \
	do {                                                                                           \
		if (!(cond)) {                                                                         \
			fprintf(stderr, "FAIL %s: %s:%d: %s (last error: %s: %s)\n", mr_test_current,    \
				__FILE__, __LINE__, #cond, mr_error_code_name(mr_error_last()->code),    \
				mr_error_last()->message);                                               \
			mr_test_failures++;                                                            \
			return;                                                                        \
		}                                                                                      \
	} while (0)

#define MR_CHECK_RC(expr, want)                                                                         \
	do {                                                                                            \
		int mr__rc = (expr);                                                                    \
		if (mr__rc != (want)) {                                                                 \
			fprintf(stderr, "FAIL %s: %s:%d: %s returned %s, expected %s (last error: %s)\n", \
				mr_test_current, __FILE__, __LINE__, #expr, mr_error_code_name(mr__rc),   \
				mr_error_code_name(want), mr_error_last()->message);                      \
			mr_test_failures++;                                                             \
			return;                                                                         \
		}                                                                                       \
	} while (0)

#define MR_CHECK_OK(expr) MR_CHECK_RC(expr, 0)

#define MR_CHECK_EQ_INT(a, b)                                                                         \
	do {                                                                                          \
		long long mr__a = (long long)(a), mr__b = (long long)(b);                             \
		if (mr__a != mr__b) {                                                                 \
			fprintf(stderr, "FAIL %s: %s:%d: %s == %s (%lld != %lld)\n", mr_test_current,  \
				__FILE__, __LINE__, #a, #b, mr__a, mr__b);                            \
			mr_test_failures++;                                                           \
			return;                                                                       \
		}                                                                                     \
	} while (0)

#define MR_CHECK_EQ_STR(a, b)                                                                        \
	do {                                                                                         \
		const char *mr__a = (a), *mr__b = (b);                                               \
		if (!mr__a || !mr__b || strcmp(mr__a, mr__b) != 0) {                                 \
			fprintf(stderr, "FAIL %s: %s:%d: %s == %s (\"%s\" != \"%s\")\n", mr_test_current, \
				__FILE__, __LINE__, #a, #b, mr__a ? mr__a : "(null)",                \
				mr__b ? mr__b : "(null)");                                           \
			mr_test_failures++;                                                          \
			return;                                                                      \
		}                                                                                    \
	} while (0)

#define MR_TEST_RUN(fn)                                                 \
	do {                                                            \
		int mr__before = mr_test_failures;                      \
		mr_test_current = #fn;                                  \
		mr_test_cases++;                                        \
		mr_error_clear();                                       \
		fn();                                                   \
		printf("%s %s\n", mr__before == mr_test_failures ? "ok  " : "FAIL", #fn); \
	} while (0)

#define MR_TEST_SKIP(...)                              \
	do {                                           \
		printf("SKIPPED: ");                   \
		printf(__VA_ARGS__);                   \
		printf("\n");                          \
		fflush(stdout);                        \
		exit(77);                              \
	} while (0)

#define MR_TEST_DONE()                                                                             \
	do {                                                                                       \
		printf("%d passed, %d failed\n", mr_test_cases - mr_test_failures, mr_test_failures); \
		return mr_test_failures ? 1 : 0;                                                   \
	} while (0)


/*
 * Fills out with the test data directory tests/data/<sub>: $MR_TEST_DATA_DIR/<sub>
 * when set, else found from the path of the calling source file (CMake
 * compiles with absolute paths: tests/<dir>/x.c → tests/data).  Pass
 * __FILE__ as src.
 */
static inline void mr_test_data_dir(char *out, size_t cap, const char *src, const char *sub)
{
	const char *env = getenv("MR_TEST_DATA_DIR");
	if (env) {
		snprintf(out, cap, "%s/%s", env, sub);
		return;
	}
	snprintf(out, cap, "%s", src);
	for (int up = 0; up < 2; up++) {
		char *s = strrchr(out, '/');
		if (s)
			*s = '\0';
	}
	size_t n = strlen(out);
	snprintf(out + n, cap - n, "/data/%s", sub);
}

static inline int mr_test__remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes the directory tree at path (no shell); 0, or -1 after printing
 * what could not be removed. */
static inline int mr_test_remove_tree(const char *path)
{
	if (nftw(path, mr_test__remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
		fprintf(stderr, "could not remove %s\n", path);
		return -1;
	}
	return 0;
}

#endif
