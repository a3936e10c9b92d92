/* Unit tests of src/core/toml.c: values, tables, and errors with positions. */
#include "core/toml.h"
#include "harness.h"

#include <math.h>

static mr_toml_value *parse(const char *s)
{
	mr_toml_value *v = NULL;
	if (mr_toml_parse(&v, s, strlen(s), "t.toml") != 0)
		return NULL;
	return v;
}

static int parse_err(const char *s, const char *frag)
{
	mr_toml_value *v = NULL;
	int rc = mr_toml_parse(&v, s, strlen(s), "t.toml");
	if (rc != MR_EINVALID || v) {
		mr_toml_free(v);
		return 0;
	}
	return strstr(mr_error_last()->message, frag) != NULL;
}

static void test_core_toml__scalars(void)
{
	mr_toml_value *r = parse("a = 1_000\nb = -0x10\nc = 0xff\nd = 0o17\ne = 0b101\nf = 3.5e2\ng = inf\nh = true\n"
				 "i = \"x\\ty\\u00e9\"\nj = 'raw\\n'\nk = 1979-05-27T07:32:00Z\nl = 1979-05-27\nm = 07:32:00\n");
	MR_CHECK(r == NULL); /* -0x10: sign on hex is invalid */
	r = parse("a = 1_000\nc = 0xff\nd = 0o17\ne = 0b101\nf = 3.5e2\ng = -inf\nh = true\n"
		  "i = \"x\\ty\\u00e9\"\nj = 'raw\\n'\nk = 1979-05-27 07:32:00+01:00\nl = 1979-05-27\nm = 07:32:00.5\n");
	MR_CHECK(r != NULL);
	MR_CHECK_EQ_INT(mr_toml_get(r, "a")->u.i, 1000);
	MR_CHECK_EQ_INT(mr_toml_get(r, "c")->u.i, 255);
	MR_CHECK_EQ_INT(mr_toml_get(r, "d")->u.i, 15);
	MR_CHECK_EQ_INT(mr_toml_get(r, "e")->u.i, 5);
	MR_CHECK(mr_toml_get(r, "f")->u.f == 350.0);
	MR_CHECK(isinf(mr_toml_get(r, "g")->u.f) && mr_toml_get(r, "g")->u.f < 0);
	MR_CHECK(mr_toml_get(r, "h")->u.b);
	MR_CHECK_EQ_STR(mr_toml_get(r, "i")->u.s.ptr, "x\ty\xc3\xa9");
	MR_CHECK_EQ_STR(mr_toml_get(r, "j")->u.s.ptr, "raw\\n");
	MR_CHECK_EQ_STR(mr_toml_get(r, "k")->u.s.ptr, "1979-05-27T07:32:00+01:00");
	MR_CHECK_EQ_INT(mr_toml_get(r, "k")->type, MR_TOML_DATETIME);
	MR_CHECK_EQ_INT(mr_toml_get(r, "l")->type, MR_TOML_DATE_LOCAL);
	MR_CHECK_EQ_INT(mr_toml_get(r, "m")->type, MR_TOML_TIME_LOCAL);
	MR_CHECK_EQ_INT(mr_toml_get(r, "m")->line, 12);
	mr_toml_free(r);
}

static void test_core_toml__tables(void)
{
	mr_toml_value *r = parse("[store.\"my db\"]\ntype = \"rocksdb\"\npurge.frequency = \"0 3 *\"\n"
				 "[[srv]]\nx = 1\n[[srv]]\nx = 2\n[a.b]\nc = { d = [1, 2, [3]], e.f = 'g' }\n"
				 "s = \"\"\"\nline1\\\n   line2\"\"\"\n");
	MR_CHECK(r != NULL);
	mr_toml_value *st = mr_toml_get(mr_toml_get(r, "store"), "my db");
	MR_CHECK(st != NULL);
	MR_CHECK_EQ_STR(mr_toml_get(mr_toml_get(st, "purge"), "frequency")->u.s.ptr, "0 3 *");
	mr_toml_value *srv = mr_toml_get(r, "srv");
	MR_CHECK_EQ_INT(srv->u.arr.n, 2);
	MR_CHECK_EQ_INT(mr_toml_get(srv->u.arr.items[1], "x")->u.i, 2);
	mr_toml_value *ab = mr_toml_get(mr_toml_get(r, "a"), "b");
	MR_CHECK_EQ_STR(mr_toml_get(mr_toml_get(mr_toml_get(ab, "c"), "e"), "f")->u.s.ptr, "g");
	MR_CHECK_EQ_STR(mr_toml_get(ab, "s")->u.s.ptr, "line1line2");
	mr_toml_free(r);
}

static void test_core_toml__errors(void)
{
	MR_CHECK(parse_err("a = 1\na = 2\n", "t.toml:2:1: key \"a\" is defined twice"));
	MR_CHECK(parse_err("[x]\n[x]\n", "t.toml:2:1: table [x] is defined twice"));
	MR_CHECK(parse_err("a = \"open\n", "t.toml:1:5: unterminated string"));
	MR_CHECK(parse_err("a = 01\n", "leading zeros"));
	MR_CHECK(parse_err("a = 1__0\n", "underscore"));
	MR_CHECK(parse_err("a = { b = 1 }\na.c = 2\n", "cannot be extended"));
	MR_CHECK(parse_err("[a]\nb.c = 1\n[a.b]\n", "defined twice"));
	MR_CHECK(parse_err("a = [1,2\n", "unterminated array"));
	MR_CHECK(parse_err("a = \"\\q\"\n", "invalid escape"));
	MR_CHECK(parse_err("a = 1 b = 2\n", "expected the end of the line"));
	MR_CHECK(parse_err("a = 2019-02-30\n", "invalid date"));
	MR_CHECK(parse_err("a = 99999999999999999999\n", "64-bit"));
	MR_CHECK(parse_err("a = \"\xff\"\n", "UTF-8"));
	MR_CHECK(parse_err("= 1\n", "t.toml:1:1:"));
	MR_CHECK(parse_err("a = { b = 1, }\n", "trailing comma"));
	MR_CHECK(parse_err("a = [1]\n[[a]]\n", "not an array of tables"));
}

int main(void)
{
	MR_TEST_RUN(test_core_toml__scalars);
	MR_TEST_RUN(test_core_toml__tables);
	MR_TEST_RUN(test_core_toml__errors);
	MR_TEST_DONE();
}
