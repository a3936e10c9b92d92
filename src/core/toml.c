/*
 * toml.c — a TOML 1.0 parser (https://toml.io/en/v1.0.0) written for
 * mailroom's configuration: no C TOML library is packaged in Debian.
 *
 * One pass over the text with a cursor; values form a tree of
 * mr_toml_value.  The rules on redefinition (a table defined twice, a
 * dotted key reaching into a table defined by a header, extending an
 * inline table or a static array) are enforced with per-value flags.
 * Errors name file:line:col.  Validated against the toml-test suite
 * (scripts/toml-test).
 */
#include "core/toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>

enum {
	F_EXPLICIT = 1u << 0, /* table defined by a [header] */
	F_IMPLICIT = 1u << 1, /* table created as a parent of a [header] */
	F_DOTTED = 1u << 2,   /* table created by a dotted key */
	F_SEALED = 1u << 3,   /* inline table or static array: closed */
	F_AOT = 1u << 4,      /* array created by [[header]] */
};

#define MR_TOML_MAX_DEPTH 128

typedef struct {
	const char *p, *end, *start;
	const char *line_start;
	int line;
	const char *file;
	int depth;
} parser;

static int perr(parser *ps, const char *at, const char *fmt, ...) MR_PRINTF(3, 4);

static int perr(parser *ps, const char *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* recompute line/col of `at` (errors are rare: a scan is fine) */
	int line = 1;
	const char *ls = ps->start;
	for (const char *q = ps->start; q < at && q < ps->end; q++)
		if (*q == '\n') {
			line++;
			ls = q + 1;
		}
	int col = 1;
	for (const char *q = ls; q < at && q < ps->end; q++)
		if (((unsigned char)*q & 0xC0) != 0x80)
			col++;
	return mr_error_set(MR_EINVALID, "%s:%d:%d: %s", ps->file, line, col, msg);
}

static int col_of(parser *ps, const char *at)
{
	int col = 1;
	for (const char *q = ps->line_start; q < at; q++)
		if (((unsigned char)*q & 0xC0) != 0x80)
			col++;
	return col;
}

/* ---- values ---- */

static mr_toml_value *val_new(parser *ps, mr_toml_type t, const char *at)
{
	mr_toml_value *v = mr_calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->type = t;
	v->line = ps ? ps->line : 0;
	v->col = ps ? col_of(ps, at) : 0;
	return v;
}

void mr_toml_free(mr_toml_value *v)
{
	if (!v)
		return;
	switch (v->type) {
	case MR_TOML_ARRAY:
		for (size_t i = 0; i < v->u.arr.n; i++)
			mr_toml_free(v->u.arr.items[i]);
		mr_free(v->u.arr.items);
		break;
	case MR_TOML_TABLE:
		for (size_t i = 0; i < v->u.tab.n; i++) {
			mr_free(v->u.tab.keys[i]);
			mr_toml_free(v->u.tab.vals[i]);
		}
		mr_free(v->u.tab.keys);
		mr_free(v->u.tab.klens);
		mr_free(v->u.tab.vals);
		break;
	case MR_TOML_STRING:
	case MR_TOML_DATETIME:
	case MR_TOML_DATETIME_LOCAL:
	case MR_TOML_DATE_LOCAL:
	case MR_TOML_TIME_LOCAL:
		mr_free(v->u.s.ptr);
		break;
	default:
		break;
	}
	mr_free(v);
}

mr_toml_value *mr_toml_get(const mr_toml_value *t, const char *key)
{
	if (!t || t->type != MR_TOML_TABLE)
		return NULL;
	size_t n = strlen(key);
	for (size_t i = 0; i < t->u.tab.n; i++)
		if (t->u.tab.klens[i] == n && memcmp(t->u.tab.keys[i], key, n) == 0)
			return t->u.tab.vals[i];
	return NULL;
}

static mr_toml_value *tab_find(const mr_toml_value *t, const mr_buf *key)
{
	for (size_t i = 0; i < t->u.tab.n; i++)
		if (t->u.tab.klens[i] == key->len && (key->len == 0 || memcmp(t->u.tab.keys[i], key->ptr, key->len) == 0))
			return t->u.tab.vals[i];
	return NULL;
}

static int tab_add(mr_toml_value *t, const mr_buf *key, mr_toml_value *v)
{
	if (t->u.tab.n == t->u.tab.cap) {
		size_t cap = t->u.tab.cap ? t->u.tab.cap * 2 : 8;
		char **k = mr_realloc(t->u.tab.keys, cap * sizeof(*k));
		if (!k)
			return MR_ENOMEM;
		t->u.tab.keys = k;
		mr_toml_value **vv = mr_realloc(t->u.tab.vals, cap * sizeof(*vv));
		if (!vv)
			return MR_ENOMEM;
		t->u.tab.vals = vv;
		size_t *kl = mr_realloc(t->u.tab.klens, cap * sizeof(*kl));
		if (!kl)
			return MR_ENOMEM;
		t->u.tab.klens = kl;
		t->u.tab.cap = cap;
	}
	char *k = mr_strndup(key->len ? (const char *)key->ptr : "", key->len);
	if (!k)
		return MR_ENOMEM;
	t->u.tab.keys[t->u.tab.n] = k;
	t->u.tab.klens[t->u.tab.n] = key->len;
	t->u.tab.vals[t->u.tab.n] = v;
	t->u.tab.n++;
	return 0;
}

static int arr_add(mr_toml_value *a, mr_toml_value *v)
{
	if (a->u.arr.n == a->u.arr.cap) {
		size_t cap = a->u.arr.cap ? a->u.arr.cap * 2 : 8;
		mr_toml_value **it = mr_realloc(a->u.arr.items, cap * sizeof(*it));
		if (!it)
			return MR_ENOMEM;
		a->u.arr.items = it;
		a->u.arr.cap = cap;
	}
	a->u.arr.items[a->u.arr.n++] = v;
	return 0;
}

/* ---- lexing helpers ---- */

static bool at_end(parser *ps) { return ps->p >= ps->end; }
static int peek(parser *ps, size_t off) { return ps->p + off < ps->end ? (unsigned char)ps->p[off] : -1; }

static void skip_ws(parser *ps)
{
	while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

static bool is_bad_control(int c) { return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f; }

/* A comment runs to the end of the line; control characters are not allowed in it. */
static int skip_comment(parser *ps)
{
	if (peek(ps, 0) != '#')
		return 0;
	while (!at_end(ps) && *ps->p != '\n') {
		int c = (unsigned char)*ps->p;
		if (c == '\r' && peek(ps, 1) == '\n')
			break;
		if (is_bad_control(c))
			return perr(ps, ps->p, "control character U+%04X in a comment", c);
		ps->p++;
	}
	return 0;
}

static bool at_newline(parser *ps) { return peek(ps, 0) == '\n' || (peek(ps, 0) == '\r' && peek(ps, 1) == '\n'); }

static void eat_newline(parser *ps)
{
	if (peek(ps, 0) == '\r')
		ps->p++;
	ps->p++;
	ps->line++;
	ps->line_start = ps->p;
}

/* After a value or a header: optional whitespace, optional comment, then newline or EOF. */
static int expect_eol(parser *ps)
{
	skip_ws(ps);
	int rc = skip_comment(ps);
	if (rc)
		return rc;
	if (at_end(ps))
		return 0;
	if (at_newline(ps)) {
		eat_newline(ps);
		return 0;
	}
	if (peek(ps, 0) == '\r')
		return perr(ps, ps->p, "a carriage return must be followed by a newline");
	return perr(ps, ps->p, "expected the end of the line, found '%c'", *ps->p);
}

/* Whitespace, newlines and comments inside arrays. */
static int skip_ws_nl_comments(parser *ps)
{
	for (;;) {
		skip_ws(ps);
		int rc = skip_comment(ps);
		if (rc)
			return rc;
		if (at_newline(ps))
			eat_newline(ps);
		else if (peek(ps, 0) == '\r')
			return perr(ps, ps->p, "a carriage return must be followed by a newline");
		else
			return 0;
	}
}

static int put_utf8(mr_buf *b, uint32_t cp)
{
	uint8_t u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xC0 | (cp >> 6));
		u[1] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xE0 | (cp >> 12));
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xF0 | (cp >> 18));
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return mr_buf_put(b, u, n);
}

/* Validates UTF-8 of the whole document up front. */
static int check_utf8(parser *ps)
{
	const unsigned char *s = (const unsigned char *)ps->start, *e = (const unsigned char *)ps->end;
	while (s < e) {
		unsigned c = *s;
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			s++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 2;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 3;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 4;
			cp = c & 0x07;
		} else
			return perr(ps, (const char *)s, "invalid UTF-8 byte 0x%02X", c);
		if ((size_t)(e - s) < n)
			return perr(ps, (const char *)s, "truncated UTF-8 sequence");
		for (size_t i = 1; i < n; i++) {
			if ((s[i] & 0xC0) != 0x80)
				return perr(ps, (const char *)s, "invalid UTF-8 sequence");
			cp = (cp << 6) | (s[i] & 0x3F);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return perr(ps, (const char *)s, "invalid UTF-8 (overlong, surrogate or out of range)");
		s += n;
	}
	return 0;
}

/* ---- strings ---- */

static int parse_escape(parser *ps, mr_buf *out)
{
	const char *at = ps->p; /* at the backslash */
	ps->p++;
	int c = peek(ps, 0);
	switch (c) {
	case 'b': ps->p++; return mr_buf_put(out, "\b", 1);
	case 't': ps->p++; return mr_buf_put(out, "\t", 1);
	case 'n': ps->p++; return mr_buf_put(out, "\n", 1);
	case 'f': ps->p++; return mr_buf_put(out, "\f", 1);
	case 'r': ps->p++; return mr_buf_put(out, "\r", 1);
	case '"': ps->p++; return mr_buf_put(out, "\"", 1);
	case '\\': ps->p++; return mr_buf_put(out, "\\", 1);
	case 'u':
	case 'U': {
		int n = c == 'u' ? 4 : 8;
		ps->p++;
		uint32_t cp = 0;
		for (int i = 0; i < n; i++) {
			int h = mr_hex_digit(peek(ps, 0));
			if (h < 0)
				return perr(ps, at, "\\%c escape needs %d hex digits", c, n);
			cp = cp * 16 + (uint32_t)h;
			ps->p++;
		}
		if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return perr(ps, at, "\\%c%0*X is not a Unicode scalar value", c, n, cp);
		return put_utf8(out, cp);
	}
	default:
		if (c < 0)
			return perr(ps, at, "unterminated escape");
		return perr(ps, at, "invalid escape \\%c", c);
	}
}

static int parse_basic_string(parser *ps, mr_buf *out)
{
	const char *open = ps->p;
	ps->p++;
	for (;;) {
		int c = peek(ps, 0);
		if (c < 0 || c == '\n' || (c == '\r' && peek(ps, 1) == '\n'))
			return perr(ps, open, "unterminated string");
		if (c == '"') {
			ps->p++;
			return 0;
		}
		if (c == '\\') {
			int rc = parse_escape(ps, out);
			if (rc)
				return rc;
			continue;
		}
		if (is_bad_control(c))
			return perr(ps, ps->p, "control character U+%04X in a string", c);
		int rc = mr_buf_put(out, ps->p, 1);
		if (rc)
			return rc;
		ps->p++;
	}
}

static int parse_literal_string(parser *ps, mr_buf *out)
{
	const char *open = ps->p;
	ps->p++;
	for (;;) {
		int c = peek(ps, 0);
		if (c < 0 || c == '\n' || (c == '\r' && peek(ps, 1) == '\n'))
			return perr(ps, open, "unterminated literal string");
		if (c == '\'') {
			ps->p++;
			return 0;
		}
		if (is_bad_control(c))
			return perr(ps, ps->p, "control character U+%04X in a string", c);
		int rc = mr_buf_put(out, ps->p, 1);
		if (rc)
			return rc;
		ps->p++;
	}
}

static int parse_ml_string(parser *ps, mr_buf *out, char q)
{
	const char *open = ps->p;
	ps->p += 3;
	if (at_newline(ps))
		eat_newline(ps);
	for (;;) {
		int c = peek(ps, 0);
		if (c < 0)
			return perr(ps, open, "unterminated multi-line string");
		if (c == q && peek(ps, 1) == q && peek(ps, 2) == q) {
			/* up to two more quotes belong to the content */
			size_t extra = 0;
			while (extra < 2 && peek(ps, 3 + extra) == q)
				extra++;
			int rc = mr_buf_put(out, ps->p, extra);
			if (rc)
				return rc;
			ps->p += 3 + extra;
			return 0;
		}
		if (at_newline(ps)) {
			int rc = mr_buf_put(out, "\n", 1);
			if (rc)
				return rc;
			eat_newline(ps);
			continue;
		}
		if (q == '"' && c == '\\') {
			/* line-ending backslash: trims whitespace and newlines that follow */
			const char *s = ps->p + 1;
			while (s < ps->end && (*s == ' ' || *s == '\t'))
				s++;
			if (s < ps->end && (*s == '\n' || (*s == '\r' && s + 1 < ps->end && s[1] == '\n'))) {
				ps->p = s;
				for (;;) {
					if (at_newline(ps))
						eat_newline(ps);
					else if (peek(ps, 0) == ' ' || peek(ps, 0) == '\t')
						ps->p++;
					else
						break;
				}
				continue;
			}
			int rc = parse_escape(ps, out);
			if (rc)
				return rc;
			continue;
		}
		if (is_bad_control(c))
			return perr(ps, ps->p, "control character U+%04X in a string", c);
		int rc = mr_buf_put(out, ps->p, 1);
		if (rc)
			return rc;
		ps->p++;
	}
}

/* ---- keys ---- */

static bool is_bare(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

/* One key part into *out. */
static int parse_simple_key(parser *ps, mr_buf *out)
{
	mr_buf_clear(out);
	int c = peek(ps, 0);
	if (c == '"') {
		if (peek(ps, 1) == '"' && peek(ps, 2) == '"')
			return perr(ps, ps->p, "a multi-line string cannot be a key");
		return parse_basic_string(ps, out);
	}
	if (c == '\'') {
		if (peek(ps, 1) == '\'' && peek(ps, 2) == '\'')
			return perr(ps, ps->p, "a multi-line string cannot be a key");
		return parse_literal_string(ps, out);
	}
	const char *s = ps->p;
	while (!at_end(ps) && is_bare((unsigned char)*ps->p))
		ps->p++;
	if (ps->p == s) {
		if (c < 0 || c == '\n' || c == '\r')
			return perr(ps, ps->p, "expected a key");
		return perr(ps, ps->p, "invalid character '%c' in a key", c);
	}
	return mr_buf_put(out, s, (size_t)(ps->p - s));
}

typedef struct {
	mr_buf parts[MR_TOML_MAX_DEPTH];
	size_t n;
} keypath;

static void keypath_dispose(keypath *k)
{
	for (size_t i = 0; i < MR_TOML_MAX_DEPTH; i++)
		mr_buf_dispose(&k->parts[i]);
}

static int parse_key(parser *ps, keypath *k)
{
	k->n = 0;
	for (;;) {
		if (k->n == MR_TOML_MAX_DEPTH)
			return perr(ps, ps->p, "key has too many parts");
		int rc = parse_simple_key(ps, &k->parts[k->n]);
		if (rc)
			return rc;
		k->n++;
		skip_ws(ps);
		if (peek(ps, 0) != '.')
			return 0;
		ps->p++;
		skip_ws(ps);
	}
}

/* ---- numbers and dates ---- */

static bool isdig(int c) { return c >= '0' && c <= '9'; }

static bool base_digit(int c, int base)
{
	int v = mr_hex_digit(c);
	return v >= 0 && v < base;
}

/* Copies digits of the given base, checking underscores sit between digits. */
static int take_digits(parser *ps, const char *at, mr_buf *out, int base, bool *had)
{
	bool prev_digit = false;
	*had = false;
	for (;;) {
		int c = peek(ps, 0);
		bool dig = base_digit(c, base);
		if (dig) {
			int rc = mr_buf_put(out, ps->p, 1);
			if (rc)
				return rc;
			prev_digit = true;
			*had = true;
			ps->p++;
		} else if (c == '_') {
			if (!prev_digit || !base_digit(peek(ps, 1), base))
				return perr(ps, at, "an underscore in a number must sit between digits");
			prev_digit = false;
			ps->p++;
		} else
			return 0;
	}
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int get2(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static bool digits_at(parser *ps, size_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdig(peek(ps, off + i)))
			return false;
	return true;
}

/* HH:MM:SS[.frac] at ps->p; appends to out. */
static int parse_time_part(parser *ps, const char *at, mr_buf *out)
{
	if (!digits_at(ps, 0, 2) || peek(ps, 2) != ':' || !digits_at(ps, 3, 2))
		return perr(ps, at, "invalid time (expected HH:MM:SS)");
	int hh = get2(ps->p), mm = get2(ps->p + 3);
	if (peek(ps, 5) != ':' || !digits_at(ps, 6, 2))
		return perr(ps, at, "invalid time: seconds are required in TOML 1.0");
	int ss = get2(ps->p + 6);
	if (hh > 23 || mm > 59 || ss > 60)
		return perr(ps, at, "invalid time %02d:%02d:%02d", hh, mm, ss);
	int rc = mr_buf_put(out, ps->p, 8);
	if (rc)
		return rc;
	ps->p += 8;
	if (peek(ps, 0) == '.') {
		if (!isdig(peek(ps, 1)))
			return perr(ps, at, "invalid time: fraction needs digits");
		size_t n = 1;
		while (isdig(peek(ps, n)))
			n++;
		rc = mr_buf_put(out, ps->p, n);
		if (rc)
			return rc;
		ps->p += n;
	}
	return 0;
}

static int parse_datetime(parser *ps, mr_toml_value **out)
{
	const char *at = ps->p;
	mr_buf b = MR_BUF_INIT;
	int rc = 0;
	mr_toml_type type = MR_TOML_DATE_LOCAL;
	if (digits_at(ps, 0, 2) && peek(ps, 2) == ':') {
		rc = parse_time_part(ps, at, &b);
		type = MR_TOML_TIME_LOCAL;
		goto done;
	}
	if (!digits_at(ps, 0, 4) || peek(ps, 4) != '-' || !digits_at(ps, 5, 2) || peek(ps, 7) != '-' ||
	    !digits_at(ps, 8, 2)) {
		rc = perr(ps, at, "invalid date (expected YYYY-MM-DD)");
		goto done;
	}
	int y = (ps->p[0] - '0') * 1000 + (ps->p[1] - '0') * 100 + get2(ps->p + 2);
	int m = get2(ps->p + 5), d = get2(ps->p + 8);
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap(y))) {
		rc = perr(ps, at, "invalid date %.10s", ps->p);
		goto done;
	}
	if ((rc = mr_buf_put(&b, ps->p, 10)))
		goto done;
	ps->p += 10;
	type = MR_TOML_DATE_LOCAL;
	int sep = peek(ps, 0);
	if ((sep == 'T' || sep == 't' || sep == ' ') && digits_at(ps, 1, 2) && peek(ps, 3) == ':') {
		ps->p++;
		if ((rc = mr_buf_put(&b, "T", 1)) || (rc = parse_time_part(ps, at, &b)))
			goto done;
		type = MR_TOML_DATETIME_LOCAL;
		int z = peek(ps, 0);
		if (z == 'Z' || z == 'z') {
			ps->p++;
			rc = mr_buf_put(&b, "Z", 1);
			type = MR_TOML_DATETIME;
		} else if (z == '+' || z == '-') {
			if (!digits_at(ps, 1, 2) || peek(ps, 3) != ':' || !digits_at(ps, 4, 2) || get2(ps->p + 1) > 23 ||
			    get2(ps->p + 4) > 59) {
				rc = perr(ps, at, "invalid time zone offset");
				goto done;
			}
			rc = mr_buf_put(&b, ps->p, 6);
			ps->p += 6;
			type = MR_TOML_DATETIME;
		}
	} else if (sep == 'T' || sep == 't') {
		rc = perr(ps, at, "invalid date-time");
	}
done:
	if (rc) {
		mr_buf_dispose(&b);
		return rc;
	}
	mr_toml_value *v = val_new(ps, type, at);
	if (!v) {
		mr_buf_dispose(&b);
		return MR_ENOMEM;
	}
	v->u.s.len = b.len;
	v->u.s.ptr = b.ptr ? (char *)b.ptr : mr_strdup("");
	*out = v;
	return 0;
}

static int parse_number(parser *ps, mr_toml_value **out)
{
	const char *at = ps->p;
	mr_buf b = MR_BUF_INIT;
	int rc = 0;
	bool had;
	mr_toml_value *v = NULL;
	int sign = 0;
	if (peek(ps, 0) == '+' || peek(ps, 0) == '-') {
		sign = peek(ps, 0);
		if ((rc = mr_buf_put(&b, ps->p, 1)))
			goto done;
		ps->p++;
	}
	/* inf / nan */
	if ((peek(ps, 0) == 'i' && peek(ps, 1) == 'n' && peek(ps, 2) == 'f') ||
	    (peek(ps, 0) == 'n' && peek(ps, 1) == 'a' && peek(ps, 2) == 'n')) {
		bool inf = peek(ps, 0) == 'i';
		ps->p += 3;
		if (!(v = val_new(ps, MR_TOML_FLOAT, at))) {
			rc = MR_ENOMEM;
			goto done;
		}
		v->u.f = inf ? (sign == '-' ? -INFINITY : INFINITY) : (sign == '-' ? -NAN : NAN);
		goto done;
	}
	if (peek(ps, 0) == '0' && (peek(ps, 1) == 'x' || peek(ps, 1) == 'o' || peek(ps, 1) == 'b')) {
		if (sign) {
			rc = perr(ps, at, "a sign is not allowed on hex, octal or binary integers");
			goto done;
		}
		int base = peek(ps, 1) == 'x' ? 16 : peek(ps, 1) == 'o' ? 8 : 2;
		ps->p += 2;
		if ((rc = take_digits(ps, at, &b, base, &had)))
			goto done;
		if (!had) {
			rc = perr(ps, at, "integer prefix without digits");
			goto done;
		}
		errno = 0;
		unsigned long long u = strtoull((const char *)b.ptr, NULL, base);
		if (errno == ERANGE || u > (unsigned long long)INT64_MAX) {
			rc = perr(ps, at, "integer out of the 64-bit range");
			goto done;
		}
		if (!(v = val_new(ps, MR_TOML_INTEGER, at))) {
			rc = MR_ENOMEM;
			goto done;
		}
		v->u.i = (int64_t)u;
		goto done;
	}
	const char *int_start = ps->p;
	if ((rc = take_digits(ps, at, &b, 10, &had)))
		goto done;
	if (!had) {
		rc = perr(ps, at, "invalid value");
		goto done;
	}
	if (int_start[0] == '0' && ps->p - int_start > 1) {
		rc = perr(ps, at, "leading zeros are not allowed");
		goto done;
	}
	bool is_float = false;
	if (peek(ps, 0) == '.') {
		is_float = true;
		ps->p++;
		if ((rc = mr_buf_put(&b, ".", 1)) || (rc = take_digits(ps, at, &b, 10, &had)))
			goto done;
		if (!had) {
			rc = perr(ps, at, "a decimal point must be followed by digits");
			goto done;
		}
	}
	if (peek(ps, 0) == 'e' || peek(ps, 0) == 'E') {
		is_float = true;
		ps->p++;
		if ((rc = mr_buf_put(&b, "e", 1)))
			goto done;
		if (peek(ps, 0) == '+' || peek(ps, 0) == '-') {
			if ((rc = mr_buf_put(&b, ps->p, 1)))
				goto done;
			ps->p++;
		}
		if ((rc = take_digits(ps, at, &b, 10, &had)))
			goto done;
		if (!had) {
			rc = perr(ps, at, "an exponent needs digits");
			goto done;
		}
	}
	if (is_float) {
		if (!(v = val_new(ps, MR_TOML_FLOAT, at))) {
			rc = MR_ENOMEM;
			goto done;
		}
		v->u.f = strtod((const char *)b.ptr, NULL);
	} else {
		errno = 0;
		long long ll = strtoll((const char *)b.ptr, NULL, 10);
		if (errno == ERANGE) {
			rc = perr(ps, at, "integer out of the 64-bit range");
			goto done;
		}
		if (!(v = val_new(ps, MR_TOML_INTEGER, at))) {
			rc = MR_ENOMEM;
			goto done;
		}
		v->u.i = ll;
	}
done:
	mr_buf_dispose(&b);
	if (rc) {
		mr_toml_free(v);
		return rc;
	}
	/* a number must end at a delimiter */
	int c = peek(ps, 0);
	if (!(c < 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ']' || c == '}' || c == '#')) {
		mr_toml_free(v);
		return perr(ps, at, "invalid value");
	}
	*out = v;
	return 0;
}

/* ---- values ---- */

static int parse_value(parser *ps, mr_toml_value **out);
static int parse_inline_table(parser *ps, mr_toml_value **out);

static int parse_array(parser *ps, mr_toml_value **out)
{
	const char *at = ps->p;
	mr_toml_value *a = val_new(ps, MR_TOML_ARRAY, at);
	if (!a)
		return MR_ENOMEM;
	a->flags = F_SEALED;
	ps->p++;
	int rc;
	for (;;) {
		if ((rc = skip_ws_nl_comments(ps)))
			goto fail;
		if (peek(ps, 0) == ']') {
			ps->p++;
			break;
		}
		mr_toml_value *v = NULL;
		if ((rc = parse_value(ps, &v)))
			goto fail;
		if ((rc = arr_add(a, v))) {
			mr_toml_free(v);
			goto fail;
		}
		if ((rc = skip_ws_nl_comments(ps)))
			goto fail;
		if (peek(ps, 0) == ',') {
			ps->p++;
			continue;
		}
		if (peek(ps, 0) == ']') {
			ps->p++;
			break;
		}
		rc = perr(ps, at_end(ps) ? at : ps->p, at_end(ps) ? "unterminated array" : "expected ',' or ']' in an array");
		goto fail;
	}
	*out = a;
	return 0;
fail:
	mr_toml_free(a);
	return rc;
}

static int parse_value(parser *ps, mr_toml_value **out)
{
	if (++ps->depth > MR_TOML_MAX_DEPTH) {
		ps->depth--;
		return perr(ps, ps->p, "values nested too deeply");
	}
	int rc = 0;
	const char *at = ps->p;
	int c = peek(ps, 0);
	if (c == '"' || c == '\'') {
		mr_buf b = MR_BUF_INIT;
		if (peek(ps, 1) == c && peek(ps, 2) == c)
			rc = parse_ml_string(ps, &b, (char)c);
		else
			rc = c == '"' ? parse_basic_string(ps, &b) : parse_literal_string(ps, &b);
		if (!rc) {
			mr_toml_value *v = val_new(ps, MR_TOML_STRING, at);
			if (!v)
				rc = MR_ENOMEM;
			else {
				v->u.s.len = b.len;
				v->u.s.ptr = b.ptr ? (char *)b.ptr : mr_strdup("");
				b = MR_BUF_INIT;
				if (!v->u.s.ptr)
					rc = MR_ENOMEM;
				*out = v;
			}
		}
		mr_buf_dispose(&b);
	} else if (c == '[') {
		rc = parse_array(ps, out);
	} else if (c == '{') {
		rc = parse_inline_table(ps, out);
	} else if (c == 't' && ps->end - ps->p >= 4 && memcmp(ps->p, "true", 4) == 0 && !is_bare(peek(ps, 4))) {
		ps->p += 4;
		if (!(*out = val_new(ps, MR_TOML_BOOL, at)))
			rc = MR_ENOMEM;
		else
			(*out)->u.b = true;
	} else if (c == 'f' && ps->end - ps->p >= 5 && memcmp(ps->p, "false", 5) == 0 && !is_bare(peek(ps, 5))) {
		ps->p += 5;
		if (!(*out = val_new(ps, MR_TOML_BOOL, at)))
			rc = MR_ENOMEM;
		else
			(*out)->u.b = false;
	} else if ((digits_at(ps, 0, 4) && peek(ps, 4) == '-') || (digits_at(ps, 0, 2) && peek(ps, 2) == ':')) {
		rc = parse_datetime(ps, out);
	} else if (isdig(c) || c == '+' || c == '-' || c == 'i' || c == 'n') {
		rc = parse_number(ps, out);
	} else if (c < 0 || c == '\n' || c == '\r') {
		rc = perr(ps, at, "expected a value");
	} else {
		rc = perr(ps, at, "invalid value starting with '%c'", c);
	}
	ps->depth--;
	return rc;
}

/* Walks/creates the tables of a dotted key inside `t` (all parts but the last)
 * for a key/value pair; returns the table to insert into. */
static int descend_dotted(parser *ps, const char *at, mr_toml_value *t, keypath *k, bool in_inline, mr_toml_value **out)
{
	for (size_t i = 0; i + 1 < k->n; i++) {
		mr_toml_value *c = tab_find(t, &k->parts[i]);
		if (!c) {
			c = val_new(ps, MR_TOML_TABLE, at);
			if (!c)
				return MR_ENOMEM;
			c->flags = F_DOTTED;
			int rc = tab_add(t, &k->parts[i], c);
			if (rc) {
				mr_toml_free(c);
				return rc;
			}
		} else if (c->type != MR_TOML_TABLE || (c->flags & (F_EXPLICIT | F_IMPLICIT)) ||
			   ((c->flags & F_SEALED) && !in_inline) || !(c->flags & F_DOTTED)) {
			return perr(ps, at, "key \"%s\" is already defined and cannot be extended with a dotted key",
				    mr_buf_cstr(&k->parts[i]));
		}
		t = c;
	}
	*out = t;
	return 0;
}

static int set_kv(parser *ps, const char *at, mr_toml_value *t, keypath *k, mr_toml_value *v, bool in_inline)
{
	mr_toml_value *dst = NULL;
	int rc = descend_dotted(ps, at, t, k, in_inline, &dst);
	if (rc)
		return rc;
	if (tab_find(dst, &k->parts[k->n - 1]))
		return perr(ps, at, "key \"%s\" is defined twice", mr_buf_cstr(&k->parts[k->n - 1]));
	return tab_add(dst, &k->parts[k->n - 1], v);
}

static void seal(mr_toml_value *v)
{
	if (v->type == MR_TOML_TABLE) {
		v->flags |= F_SEALED;
		for (size_t i = 0; i < v->u.tab.n; i++)
			seal(v->u.tab.vals[i]);
	} else if (v->type == MR_TOML_ARRAY) {
		v->flags |= F_SEALED;
		for (size_t i = 0; i < v->u.arr.n; i++)
			seal(v->u.arr.items[i]);
	}
}

static int parse_inline_table(parser *ps, mr_toml_value **out)
{
	const char *at = ps->p;
	mr_toml_value *t = val_new(ps, MR_TOML_TABLE, at);
	if (!t)
		return MR_ENOMEM;
	keypath *k = mr_calloc(1, sizeof(*k));
	if (!k) {
		mr_toml_free(t);
		return MR_ENOMEM;
	}
	int rc = 0;
	ps->p++;
	skip_ws(ps);
	if (peek(ps, 0) == '}') {
		ps->p++;
		goto ok;
	}
	for (;;) {
		skip_ws(ps);
		const char *kat = ps->p;
		if ((rc = parse_key(ps, k)))
			goto fail;
		skip_ws(ps);
		if (peek(ps, 0) != '=') {
			rc = perr(ps, ps->p, "expected '=' after a key");
			goto fail;
		}
		ps->p++;
		skip_ws(ps);
		mr_toml_value *v = NULL;
		if ((rc = parse_value(ps, &v)))
			goto fail;
		if ((rc = set_kv(ps, kat, t, k, v, true))) {
			mr_toml_free(v);
			goto fail;
		}
		skip_ws(ps);
		if (peek(ps, 0) == ',') {
			ps->p++;
			skip_ws(ps);
			if (peek(ps, 0) == '}') {
				rc = perr(ps, ps->p, "trailing comma in an inline table");
				goto fail;
			}
			continue;
		}
		if (peek(ps, 0) == '}') {
			ps->p++;
			break;
		}
		rc = perr(ps, ps->p, at_newline(ps) || at_end(ps) ? "an inline table must end on the same line" : "expected ',' or '}' in an inline table");
		goto fail;
	}
ok:
	seal(t);
	keypath_dispose(k);
	mr_free(k);
	*out = t;
	return 0;
fail:
	keypath_dispose(k);
	mr_free(k);
	mr_toml_free(t);
	return rc;
}

/* [a.b.c] or [[a.b.c]]: returns the table that following pairs go into. */
static int open_table(parser *ps, const char *at, mr_toml_value *root, keypath *k, bool aot, mr_toml_value **cur)
{
	mr_toml_value *t = root;
	for (size_t i = 0; i + 1 < k->n; i++) {
		mr_toml_value *c = tab_find(t, &k->parts[i]);
		if (!c) {
			c = val_new(ps, MR_TOML_TABLE, at);
			if (!c)
				return MR_ENOMEM;
			c->flags = F_IMPLICIT;
			int rc = tab_add(t, &k->parts[i], c);
			if (rc) {
				mr_toml_free(c);
				return rc;
			}
		} else if (c->type == MR_TOML_ARRAY && (c->flags & F_AOT)) {
			c = c->u.arr.items[c->u.arr.n - 1];
		} else if (c->type != MR_TOML_TABLE || (c->flags & F_SEALED)) {
			return perr(ps, at, "\"%s\" is not a table that can be extended", mr_buf_cstr(&k->parts[i]));
		}
		t = c;
	}
	mr_buf *last = &k->parts[k->n - 1];
	mr_toml_value *c = tab_find(t, last);
	if (aot) {
		if (!c) {
			c = val_new(ps, MR_TOML_ARRAY, at);
			if (!c)
				return MR_ENOMEM;
			c->flags = F_AOT;
			int rc = tab_add(t, last, c);
			if (rc) {
				mr_toml_free(c);
				return rc;
			}
		} else if (c->type != MR_TOML_ARRAY || !(c->flags & F_AOT)) {
			return perr(ps, at, "\"%s\" is already defined and is not an array of tables", mr_buf_cstr(last));
		}
		mr_toml_value *nt = val_new(ps, MR_TOML_TABLE, at);
		if (!nt)
			return MR_ENOMEM;
		nt->flags = F_EXPLICIT;
		int rc = arr_add(c, nt);
		if (rc) {
			mr_toml_free(nt);
			return rc;
		}
		*cur = nt;
		return 0;
	}
	if (!c) {
		c = val_new(ps, MR_TOML_TABLE, at);
		if (!c)
			return MR_ENOMEM;
		c->flags = F_EXPLICIT;
		int rc = tab_add(t, last, c);
		if (rc) {
			mr_toml_free(c);
			return rc;
		}
	} else if (c->type == MR_TOML_TABLE && (c->flags & F_IMPLICIT) && !(c->flags & (F_EXPLICIT | F_SEALED))) {
		c->flags = (c->flags & ~F_IMPLICIT) | F_EXPLICIT;
	} else {
		return perr(ps, at, "table [%s] is defined twice", mr_buf_cstr(last));
	}
	*cur = c;
	return 0;
}

int mr_toml_parse(mr_toml_value **out, const char *text, size_t len, const char *filename)
{
	*out = NULL;
	parser ps = {.p = text, .end = text + len, .start = text, .line_start = text, .line = 1,
		     .file = filename ? filename : "<config>"};
	int rc = check_utf8(&ps);
	if (rc)
		return rc;
	mr_toml_value *root = val_new(&ps, MR_TOML_TABLE, text);
	if (!root)
		return MR_ENOMEM;
	root->flags = F_EXPLICIT;
	keypath *k = mr_calloc(1, sizeof(*k));
	if (!k) {
		mr_toml_free(root);
		return MR_ENOMEM;
	}
	mr_toml_value *cur = root;
	/* skip a UTF-8 byte order mark */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		ps.p += 3;
	while (!at_end(&ps)) {
		skip_ws(&ps);
		if ((rc = skip_comment(&ps)))
			goto fail;
		if (at_end(&ps))
			break;
		if (at_newline(&ps)) {
			eat_newline(&ps);
			continue;
		}
		const char *at = ps.p;
		if (peek(&ps, 0) == '[') {
			bool aot = peek(&ps, 1) == '[';
			ps.p += aot ? 2 : 1;
			skip_ws(&ps);
			if ((rc = parse_key(&ps, k)))
				goto fail;
			skip_ws(&ps);
			if (peek(&ps, 0) != ']' || (aot && peek(&ps, 1) != ']')) {
				rc = perr(&ps, ps.p, aot ? "expected ']]' to close the table header" : "expected ']' to close the table header");
				goto fail;
			}
			ps.p += aot ? 2 : 1;
			if ((rc = open_table(&ps, at, root, k, aot, &cur)))
				goto fail;
			if ((rc = expect_eol(&ps)))
				goto fail;
			continue;
		}
		if ((rc = parse_key(&ps, k)))
			goto fail;
		skip_ws(&ps);
		if (peek(&ps, 0) != '=') {
			rc = perr(&ps, ps.p, "expected '=' after key \"%s\"", mr_buf_cstr(&k->parts[k->n - 1]));
			goto fail;
		}
		ps.p++;
		skip_ws(&ps);
		mr_toml_value *v = NULL;
		if ((rc = parse_value(&ps, &v)))
			goto fail;
		if ((rc = set_kv(&ps, at, cur, k, v, false))) {
			mr_toml_free(v);
			goto fail;
		}
		if ((rc = expect_eol(&ps)))
			goto fail;
	}
	keypath_dispose(k);
	mr_free(k);
	*out = root;
	return 0;
fail:
	keypath_dispose(k);
	mr_free(k);
	mr_toml_free(root);
	return rc;
}

const char *mr_toml_type_name(mr_toml_type t)
{
	switch (t) {
	case MR_TOML_STRING: return "string";
	case MR_TOML_INTEGER: return "integer";
	case MR_TOML_FLOAT: return "float";
	case MR_TOML_BOOL: return "boolean";
	case MR_TOML_DATETIME: return "date-time";
	case MR_TOML_DATETIME_LOCAL: return "local date-time";
	case MR_TOML_DATE_LOCAL: return "local date";
	case MR_TOML_TIME_LOCAL: return "local time";
	case MR_TOML_ARRAY: return "array";
	case MR_TOML_TABLE: return "table";
	}
	return "?";
}
