/*
 * toml_decoder.c — the decoder toml-test drives: TOML on stdin, toml-test's
 * tagged JSON on stdout ({"type": "...", "value": "..."} for every scalar),
 * exit 1 with the error on stderr when the input is not valid TOML 1.0.
 */
#include "core/toml.h"

#include <math.h>
#include <stdio.h>

static void json_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void emit(const mr_toml_value *v)
{
	switch (v->type) {
	case MR_TOML_TABLE:
		putchar('{');
		for (size_t i = 0; i < v->u.tab.n; i++) {
			if (i)
				putchar(',');
			json_str(v->u.tab.keys[i], v->u.tab.klens[i]);
			putchar(':');
			emit(v->u.tab.vals[i]);
		}
		putchar('}');
		return;
	case MR_TOML_ARRAY:
		putchar('[');
		for (size_t i = 0; i < v->u.arr.n; i++) {
			if (i)
				putchar(',');
			emit(v->u.arr.items[i]);
		}
		putchar(']');
		return;
	default:
		break;
	}
	const char *type = "";
	char num[64];
	const char *val = num;
	size_t len;
	switch (v->type) {
	case MR_TOML_STRING: type = "string"; val = v->u.s.ptr; break;
	case MR_TOML_INTEGER: type = "integer"; snprintf(num, sizeof(num), "%lld", (long long)v->u.i); break;
	case MR_TOML_FLOAT:
		type = "float";
		if (isnan(v->u.f))
			snprintf(num, sizeof(num), "nan");
		else if (isinf(v->u.f))
			snprintf(num, sizeof(num), "%sinf", v->u.f < 0 ? "-" : "+");
		else
			snprintf(num, sizeof(num), "%.17g", v->u.f);
		break;
	case MR_TOML_BOOL: type = "bool"; snprintf(num, sizeof(num), "%s", v->u.b ? "true" : "false"); break;
	case MR_TOML_DATETIME: type = "datetime"; val = v->u.s.ptr; break;
	case MR_TOML_DATETIME_LOCAL: type = "datetime-local"; val = v->u.s.ptr; break;
	case MR_TOML_DATE_LOCAL: type = "date-local"; val = v->u.s.ptr; break;
	case MR_TOML_TIME_LOCAL: type = "time-local"; val = v->u.s.ptr; break;
	default: break;
	}
	len = v->type == MR_TOML_STRING || v->type >= MR_TOML_DATETIME ? v->u.s.len : strlen(val);
	printf("{\"type\":\"%s\",\"value\":", type);
	json_str(val, len);
	putchar('}');
}

int main(void)
{
	mr_buf in = MR_BUF_INIT;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (mr_buf_put(&in, chunk, n))
			return 2;
	mr_toml_value *root;
	if (mr_toml_parse(&root, in.ptr ? (const char *)in.ptr : "", in.len, "stdin") != 0) {
		fprintf(stderr, "%s\n", mr_error_last()->message);
		mr_buf_dispose(&in);
		return 1;
	}
	emit(root);
	putchar('\n');
	mr_toml_free(root);
	mr_buf_dispose(&in);
	return 0;
}
