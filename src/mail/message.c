/*
 * message.c — parses one message with GMime 3 into the model of message.h:
 * addresses, subject, date, ids, body text, attachments and warnings, all
 * UTF-8, all in one arena.  Implements the contract of message.h: parsing
 * never fails on bad input (what is wrong becomes a warning), the input
 * bytes are read only, and one mr_message_free() releases everything.
 *
 * Charset policy (one place, so every caller sees the same text): a part's
 * declared charset is converted with iconv through GMime's alias table;
 * invalid sequences become U+FFFD; an unknown charset, or no charset, or
 * UTF-8/US-ASCII that is not valid UTF-8, is read as UTF-8 when valid and
 * as Windows-1252 otherwise (a superset of Latin-1, what senders of
 * undeclared 8-bit text nearly always meant).  Raw 8-bit header text goes
 * through GMime's fallback charsets UTF-8, then Windows-1252.
 *
 * Left to others: storing the bytes (blob store), the thread table (the
 * importer uses mr_message_thread_ids / _thread_key), indexing (search).
 */
#include "core/common.h"
#include "mail/message.h"
#include "core/dynlib.h"

#include <errno.h>
#define G_DISABLE_CAST_CHECKS 1
#include <gmime/gmime.h>
#include <iconv.h>
#include <pthread.h>
#include <unistd.h>

/*
 * GMime (and the GLib functions used with it), loaded on first parse
 * (core/dynlib.h) rather than at the start of every program: most commands
 * (search, mailboxes, purge, ...) never parse a message.  Every call goes
 * through gm; casts are plain C casts (G_DISABLE_CAST_CHECKS) and type
 * checks go through is_a, so no GObject macro reaches a symbol directly.
 */
#define MR_GM_FUNCS(X) \
	X(g_ascii_strcasecmp) \
	X(g_ascii_strdown) \
	X(g_ascii_strncasecmp) \
	X(g_date_time_get_utc_offset) \
	X(g_date_time_to_unix) \
	X(g_date_time_unref) \
	X(g_free) \
	X(g_hostname_is_ascii_encoded) \
	X(g_hostname_to_unicode) \
	X(g_mime_content_type_get_media_subtype) \
	X(g_mime_content_type_get_media_type) \
	X(g_mime_content_type_is_type) \
	X(g_mime_data_wrapper_write_to_stream) \
	X(g_mime_iconv_close) \
	X(g_mime_iconv_open) \
	X(g_mime_init) \
	X(g_mime_message_get_bcc) \
	X(g_mime_message_get_cc) \
	X(g_mime_message_get_date) \
	X(g_mime_message_get_from) \
	X(g_mime_message_get_message_id) \
	X(g_mime_message_get_mime_part) \
	X(g_mime_message_get_reply_to) \
	X(g_mime_message_get_sender) \
	X(g_mime_message_get_subject) \
	X(g_mime_message_get_to) \
	X(g_mime_message_part_get_message) \
	X(g_mime_multipart_get_count) \
	X(g_mime_multipart_get_part) \
	X(g_mime_object_get_content_disposition_parameter) \
	X(g_mime_object_get_content_id) \
	X(g_mime_object_get_content_type) \
	X(g_mime_object_get_content_type_parameter) \
	X(g_mime_object_get_disposition) \
	X(g_mime_object_get_header) \
	X(g_mime_object_write_to_stream) \
	X(g_mime_parser_construct_message) \
	X(g_mime_parser_get_headers_end) \
	X(g_mime_parser_new_with_stream) \
	X(g_mime_parser_options_free) \
	X(g_mime_parser_options_new) \
	X(g_mime_parser_options_set_address_compliance_mode) \
	X(g_mime_parser_options_set_allow_addresses_without_domain) \
	X(g_mime_parser_options_set_fallback_charsets) \
	X(g_mime_parser_options_set_parameter_compliance_mode) \
	X(g_mime_parser_options_set_rfc2047_compliance_mode) \
	X(g_mime_parser_options_set_warning_callback) \
	X(g_mime_parser_set_format) \
	X(g_mime_parser_set_respect_content_length) \
	X(g_mime_part_get_content) \
	X(g_mime_part_get_filename) \
	X(g_mime_references_free) \
	X(g_mime_references_get_message_id) \
	X(g_mime_references_length) \
	X(g_mime_references_parse) \
	X(g_mime_shutdown) \
	X(g_mime_stream_mem_get_byte_array) \
	X(g_mime_stream_mem_new) \
	X(g_mime_stream_mem_new_with_buffer) \
	X(g_mime_stream_null_new) \
	X(g_mime_utils_header_decode_date) \
	X(g_object_unref) \
	X(g_strdup_printf) \
	X(g_utf8_casefold) \
	X(internet_address_get_name) \
	X(internet_address_group_get_members) \
	X(internet_address_list_get_address) \
	X(internet_address_list_length) \
	X(internet_address_mailbox_get_addr) \
	X(g_type_check_instance_is_a) \
	X(g_mime_part_get_type) \
	X(g_mime_multipart_get_type) \
	X(g_mime_message_part_get_type) \
	X(internet_address_group_get_type) \
	X(internet_address_mailbox_get_type)
static MR_DYNLIB_TABLE(MR_GM_FUNCS) gm;
MR_DYNLIB_DEFINE(gm_lib, MR_GM_FUNCS, gm, MR_SONAME_GMIME, "parsing mail");

static bool is_a(const void *obj, GType type)
{
	return obj && gm.g_type_check_instance_is_a((GTypeInstance *)(uintptr_t)obj, type);
}
static bool ascii_isdigit(char c) { return c >= '0' && c <= '9'; }
static bool ascii_isalnum(char c) { return ascii_isdigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static char ascii_tolower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Bounds that keep hostile input from costing more than linear work. */
#define MAIL_MAX_DEPTH 32         /* MIME nesting walked */
#define MAIL_MAX_WARNINGS 32      /* distinct warnings kept; the rest are counted */
#define MAIL_MAX_IDS 1024         /* ids kept per References / In-Reply-To */
#define MAIL_MAX_PARSE ((size_t)1 << 31) /* GMime's memory streams count in guint */

/* ---------------------------------------------------------------- arena */

typedef struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
} arena_chunk;

struct mr_mail_arena {
	arena_chunk *head;
};

#define ARENA_CHUNK 16384

static void *arena_alloc(mr_mail_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	arena_chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
		size_t total;
		if (mr_add_overflow(sizeof(arena_chunk), cap, &total)) {
			mr_error_oom();
			return NULL;
		}
		arena_chunk *nc = mr_malloc(total);
		if (!nc)
			return NULL;
		nc->cap = cap;
		nc->used = 0;
		if (c && n > ARENA_CHUNK / 4) {
			/* a large block gets its own chunk behind the current one, which stays open */
			nc->next = c->next;
			c->next = nc;
		} else {
			nc->next = c;
			a->head = nc;
		}
		c = nc;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

static void arena_free(mr_mail_arena *a)
{
	arena_chunk *c = a->head;
	while (c) {
		arena_chunk *next = c->next;
		mr_free(c);
		c = next;
	}
	a->head = NULL;
}

/* ---------------------------------------------------------------- UTF-8 helpers */

/* Length of the valid UTF-8 sequence at p (NUL allowed), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t len)
{
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return len >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (len < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && p[1] < 0xA0)
			return 0; /* overlong */
		if (c == 0xED && p[1] >= 0xA0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (len < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && p[1] < 0x90)
			return 0;
		if (c == 0xF4 && p[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

static bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = utf8_seq(p + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

static const uint16_t cp1252_high[32] = {
	0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
	0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
	0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};

static int put_cp(mr_buf *out, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	}
	return mr_buf_put(out, u, n);
}

static int cp1252_to_utf8(mr_buf *out, const char *s, size_t len)
{
	int rc = mr_buf_grow(out, out->len + len * 2);
	for (size_t i = 0; i < len && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80)
			rc = mr_buf_put(out, &s[i], 1);
		else
			rc = put_cp(out, c < 0xA0 ? cp1252_high[c - 0x80] : c);
	}
	return rc;
}

/* Copies s as UTF-8, each invalid byte replaced by U+FFFD. */
static int utf8_sanitize(mr_buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	int rc = 0;
	size_t i = 0;
	while (i < len && !rc) {
		size_t run = i;
		while (run < len) {
			size_t n = p[run] < 0x80 ? 1 : utf8_seq(p + run, len - run);
			if (!n)
				break;
			run += n;
		}
		rc = mr_buf_put(out, s + i, run - i);
		i = run;
		if (i < len && !rc) {
			rc = put_cp(out, 0xFFFD);
			i++;
		}
	}
	return rc;
}

/* ---------------------------------------------------------------- builder */

typedef struct mail_build {
	mr_mail_arena arena;
	mr_message *msg;
	GMimeParserOptions *options;
	mr_mail_text *texts;
	size_t text_cap;
	mr_mail_attachment *atts;
	size_t att_cap;
	const char **warnings;
	size_t warning_cap;
	size_t warnings_dropped;
	mr_buf scratch;
	int rc; /* sticky: MR_ENOMEM once an allocation failed */
} mail_build;

static void *build_alloc(mail_build *b, size_t n)
{
	if (b->rc)
		return NULL;
	void *p = arena_alloc(&b->arena, n);
	if (!p)
		b->rc = MR_ENOMEM;
	return p;
}

/* Grows an arena array to hold count+1 elements; old storage stays in the arena (at most 2x waste). */
static bool build_reserve(mail_build *b, void **arr, size_t *cap, size_t count, size_t elem)
{
	if (count < *cap)
		return true;
	size_t ncap = *cap ? *cap * 2 : 8, bytes;
	if (mr_mul_overflow(ncap, elem, &bytes)) {
		b->rc = mr_error_oom();
		return false;
	}
	void *p = build_alloc(b, bytes);
	if (!p)
		return false;
	if (count)
		memcpy(p, *arr, count * elem);
	*arr = p;
	*cap = ncap;
	return true;
}

/* A NUL-terminated UTF-8 copy of len bytes at s in the arena (invalid bytes → U+FFFD). */
static const char *build_strn(mail_build *b, const char *s, size_t len)
{
	if (b->rc)
		return NULL;
	if (!s)
		s = "";
	char *p;
	if (utf8_valid(s, len) && !memchr(s, '\0', len)) {
		p = build_alloc(b, len + 1);
		if (p) {
			memcpy(p, s, len);
			p[len] = '\0';
		}
		return p;
	}
	/* NULs are dropped so the C string keeps all the text */
	mr_buf tmp = MR_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < len && !rc;) {
		const char *z = memchr(s + i, '\0', len - i);
		size_t n = z ? (size_t)(z - (s + i)) : len - i;
		rc = utf8_sanitize(&tmp, s + i, n);
		i += n + (z ? 1 : 0);
	}
	if (rc) {
		b->rc = rc;
		mr_buf_dispose(&tmp);
		return NULL;
	}
	p = build_alloc(b, tmp.len + 1);
	if (p) {
		if (tmp.len)
			memcpy(p, tmp.ptr, tmp.len);
		p[tmp.len] = '\0';
	}
	mr_buf_dispose(&tmp);
	return p;
}

static const char *build_str(mail_build *b, const char *s) { return build_strn(b, s ? s : "", s ? strlen(s) : 0); }

static void build_warn(mail_build *b, const char *fmt, ...) MR_PRINTF(2, 3);

static void build_warn(mail_build *b, const char *fmt, ...)
{
	char line[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	mr_message *m = b->msg;
	for (size_t i = 0; i < m->warning_count; i++)
		if (strcmp(m->warnings[i], line) == 0)
			return;
	if (m->warning_count >= MAIL_MAX_WARNINGS) {
		b->warnings_dropped++;
		return;
	}
	const char *s = build_str(b, line); /* sanitizes a cut-off UTF-8 sequence too */
	if (!s || !build_reserve(b, (void **)&b->warnings, &b->warning_cap, m->warning_count, sizeof(char *)))
		return;
	b->warnings[m->warning_count++] = s;
	m->warnings = b->warnings;
}

/* A short printable excerpt of untrusted text for a warning. */
static void excerpt(char *out, size_t cap, const char *s)
{
	size_t j = 0;
	if (!s)
		s = "";
	for (size_t i = 0; s[i] && j + 4 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		out[j++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
		if (i >= 60) {
			out[j++] = '.';
			out[j++] = '.';
			out[j++] = '.';
			break;
		}
	}
	out[j] = '\0';
}

static void parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer user_data)
{
	mail_build *b = user_data;
	char it[80];
	excerpt(it, sizeof(it), item);
	const char *what;
	switch (code) {
	case GMIME_WARN_DUPLICATED_HEADER: what = "duplicated header"; break;
	case GMIME_WARN_DUPLICATED_PARAMETER: what = "duplicated parameter"; break;
	case GMIME_WARN_UNENCODED_8BIT_HEADER: what = "unencoded 8-bit text in header"; break;
	case GMIME_WARN_INVALID_CONTENT_TYPE: what = "invalid Content-Type (read as application/octet-stream)"; break;
	case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE: what = "invalid RFC 2047 encoded word in header"; break;
	case GMIME_WARN_MALFORMED_MULTIPART: what = "malformed multipart (no child parts)"; break;
	case GMIME_WARN_TRUNCATED_MESSAGE: what = "truncated message (missing closing boundary or content)"; break;
	case GMIME_WARN_MALFORMED_MESSAGE: what = "malformed message"; break;
	case GMIME_CRIT_INVALID_HEADER_NAME: what = "invalid header name"; break;
	case GMIME_CRIT_CONFLICTING_HEADER: what = "conflicting header"; break;
	case GMIME_CRIT_CONFLICTING_PARAMETER: what = "conflicting parameter"; break;
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY: what = "multipart without boundary parameter"; break;
	case GMIME_WARN_INVALID_PARAMETER: what = "invalid parameter"; break;
	case GMIME_WARN_INVALID_ADDRESS_LIST: what = "invalid address list"; break;
	case GMIME_CRIT_NESTING_OVERFLOW: what = "MIME nesting too deep"; break;
	case GMIME_WARN_PART_WITHOUT_CONTENT: what = "part headers ended by a boundary (no content)"; break;
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT: what = "part without headers or content"; break;
	default: what = "parser warning"; break;
	}
	/* the same warning at another offset adds nothing: keep the first */
	char prefix[200];
	int pn = it[0] ? snprintf(prefix, sizeof(prefix), "%s: %s (offset ", what, it)
		       : snprintf(prefix, sizeof(prefix), "%s (offset ", what);
	if (pn > 0 && (size_t)pn < sizeof(prefix))
		for (size_t i = 0; i < b->msg->warning_count; i++)
			if (strncmp(b->msg->warnings[i], prefix, (size_t)pn) == 0)
				return;
	build_warn(b, "%s%lld)", prefix, (long long)offset);
}

/* ---------------------------------------------------------------- charset conversion */

static bool charset_is(const char *cs, const char *name) { return gm.g_ascii_strcasecmp(cs, name) == 0; }

static bool charset_is_utf8ish(const char *cs)
{
	return charset_is(cs, "utf-8") || charset_is(cs, "utf8") || charset_is(cs, "us-ascii") ||
	       charset_is(cs, "ascii") || charset_is(cs, "ansi_x3.4-1968");
}

/* iconv of the whole input into out; each invalid or incomplete sequence becomes U+FFFD. */
static int iconv_all(mr_buf *out, iconv_t cd, const char *in, size_t len, size_t *bad)
{
	char tmp[4096];
	char *ip = (char *)in; /* iconv's prototype; the input is only read */
	size_t ileft = len;
	int rc = 0;
	iconv(cd, NULL, NULL, NULL, NULL);
	for (;;) {
		char *op = tmp;
		size_t oleft = sizeof(tmp);
		size_t r = ileft ? iconv(cd, &ip, &ileft, &op, &oleft) : iconv(cd, NULL, NULL, &op, &oleft);
		int err = errno;
		if ((rc = mr_buf_put(out, tmp, (size_t)(op - tmp))) != 0)
			return rc;
		if (r != (size_t)-1) {
			if (op == tmp)
				break; /* input done and the shift state flushed */
			continue; /* all input converted: flush the shift state next */
		}
		if (err == E2BIG)
			continue;
		(*bad)++;
		if ((rc = put_cp(out, 0xFFFD)) != 0)
			return rc;
		if (err == EILSEQ && ileft > 0) {
			ip++;
			ileft--;
			continue;
		}
		break; /* EINVAL: incomplete sequence at the end */
	}
	return 0;
}

/* Replaces each byte of u that starts no valid UTF-8 sequence by U+FFFD,
 * counting them in *bad.  A converter's output is not trusted blindly: one
 * opened for a charset name of junk bytes around "utf-8" returned invalid
 * UTF-8 (found by fuzzing, tests/fuzz/regressions/mime/). */
static int utf8_repair(mr_buf *u, size_t *bad)
{
	if (utf8_valid((const char *)u->ptr, u->len))
		return 0;
	mr_buf out = MR_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < u->len;) {
		size_t n = u->ptr[i] < 0x80 ? 1 : utf8_seq(u->ptr + i, u->len - i);
		if (n) {
			rc = mr_buf_put(&out, u->ptr + i, n);
			i += n;
		} else {
			(*bad)++;
			rc = put_cp(&out, 0xFFFD);
			i++;
		}
	}
	if (rc == 0) {
		mr_buf_dispose(u);
		*u = out;
	} else {
		mr_buf_dispose(&out);
	}
	return rc;
}

/*
 * Converts len bytes in charset to UTF-8 into the arena, CRLF and bare CR
 * become LF, NULs are dropped.  `where` names the part for warnings.
 */
static const char *build_text(mail_build *b, const char *data, size_t len, const char *charset, const char *where,
			      size_t *out_len)
{
	mr_buf u = MR_BUF_INIT;
	int rc = 0;
	const char *cs = charset && *charset ? charset : NULL;
	if (cs && gm.g_ascii_strncasecmp(cs, "unicode-1-1-", 12) == 0)
		cs += 12; /* Microsoft's old names for UTF-7 / UTF-8 */
	if (cs && !charset_is_utf8ish(cs)) {
		iconv_t cd = gm.g_mime_iconv_open("UTF-8", cs);
		if (cd == (iconv_t)-1) {
			char ex[80];
			excerpt(ex, sizeof(ex), cs);
			build_warn(b, "unknown charset \"%s\" in %s part (read as %s)", ex, where,
				   utf8_valid(data, len) ? "UTF-8" : "Windows-1252");
			cs = NULL;
		} else {
			size_t bad = 0;
			rc = iconv_all(&u, cd, data, len, &bad);
			gm.g_mime_iconv_close(cd);
			if (rc == 0)
				rc = utf8_repair(&u, &bad);
			if (bad) {
				char ex[80];
				excerpt(ex, sizeof(ex), charset);
				build_warn(b, "%zu invalid byte sequence%s for charset \"%s\" in %s part", bad,
					   bad == 1 ? "" : "s", ex, where);
			}
		}
	}
	if (!rc && (!cs || charset_is_utf8ish(cs))) {
		mr_buf_clear(&u);
		if (utf8_valid(data, len)) {
			rc = mr_buf_put(&u, data, len);
		} else {
			if (cs)
				build_warn(b, "%s part declared %s is not valid UTF-8 (read as Windows-1252)", where, cs);
			rc = cp1252_to_utf8(&u, data, len);
		}
	}
	if (rc) {
		mr_buf_dispose(&u);
		b->rc = rc;
		return NULL;
	}
	/* line ends and NULs, in place */
	size_t j = 0;
	for (size_t i = 0; i < u.len; i++) {
		char c = (char)u.ptr[i];
		if (c == '\0')
			continue;
		if (c == '\r') {
			if (i + 1 < u.len && u.ptr[i + 1] == '\n')
				continue;
			c = '\n';
		}
		u.ptr[j++] = (uint8_t)c;
	}
	u.len = j;
	char *p = build_alloc(b, u.len + 1);
	if (p) {
		if (u.len)
			memcpy(p, u.ptr, u.len);
		p[u.len] = '\0';
		*out_len = u.len;
	}
	mr_buf_dispose(&u);
	return p;
}

/* ---------------------------------------------------------------- headers */

static void build_addresses(mail_build *b, mr_mail_address_list *out, InternetAddressList *list);

static void add_address_list(mail_build *b, mr_mail_address **items, size_t *count, size_t *cap,
			     InternetAddressList *list, int depth)
{
	int n = list ? gm.internet_address_list_length(list) : 0;
	for (int i = 0; i < n && !b->rc; i++) {
		InternetAddress *ia = gm.internet_address_list_get_address(list, i);
		if (is_a(ia, gm.internet_address_group_get_type())) {
			if (depth < 4)
				add_address_list(b, items, count, cap,
						 gm.internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), depth + 1);
			continue;
		}
		if (!is_a(ia, gm.internet_address_mailbox_get_type()))
			continue;
		if (!build_reserve(b, (void **)items, cap, *count, sizeof(mr_mail_address)))
			return;
		const char *addr = gm.internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
		const char *at = addr ? strrchr(addr, '@') : NULL;
		char *domain = NULL, *full = NULL;
		if (at && gm.g_hostname_is_ascii_encoded(at + 1)) {
			/* an IDN domain in its ASCII (punycode) form: shown and searched as Unicode */
			domain = gm.g_hostname_to_unicode(at + 1);
			if (domain)
				full = gm.g_strdup_printf("%.*s@%s", (int)(at - addr), addr, domain);
		}
		(*items)[*count].name = build_str(b, gm.internet_address_get_name(ia));
		(*items)[*count].addr = build_str(b, full ? full : addr);
		gm.g_free(domain);
		gm.g_free(full);
		(*count)++;
	}
}

static void build_addresses(mail_build *b, mr_mail_address_list *out, InternetAddressList *list)
{
	mr_mail_address *items = NULL;
	size_t count = 0, cap = 0;
	add_address_list(b, &items, &count, &cap, list, 0);
	out->items = items;
	out->count = count;
}

static void build_ids(mail_build *b, mr_mail_id_list *out, const char *value)
{
	out->items = NULL;
	out->count = 0;
	if (!value)
		return;
	GMimeReferences *refs = gm.g_mime_references_parse(b->options, value);
	if (!refs)
		return;
	int n = gm.g_mime_references_length(refs);
	const char **items = NULL;
	size_t count = 0, cap = 0;
	for (int i = 0; i < n && count < MAIL_MAX_IDS && !b->rc; i++) {
		const char *id = gm.g_mime_references_get_message_id(refs, i);
		if (!id || !*id)
			continue;
		if (!build_reserve(b, (void **)&items, &cap, count, sizeof(char *)))
			break;
		items[count++] = build_str(b, id);
	}
	if (n > MAIL_MAX_IDS)
		build_warn(b, "%d message ids in one header, only the first %d kept", n, MAIL_MAX_IDS);
	gm.g_mime_references_free(refs);
	out->items = items;
	out->count = count;
}

/*
 * Dates written by clients with a Y2K bug ("Wed, 01 May 0102 10:00:00"; 102 =
 * years since 1900): RFC 5322 reads a three-digit year as 1900 + year.  The
 * year token (3 or 4 digits, below 1000) is rewritten and the date parsed
 * again; NULL when that does not help.
 */
static GDateTime *date_obsolete_year(const char *date)
{
	size_t len = strlen(date);
	if (len > 200)
		return NULL;
	char buf[256];
	for (size_t i = 0; i < len; i++) {
		if (!ascii_isdigit(date[i]) || (i > 0 && ascii_isalnum(date[i - 1])))
			continue;
		size_t j = i;
		while (j < len && ascii_isdigit(date[j]))
			j++;
		size_t n = j - i;
		if ((n == 3 || n == 4) && (j == len || date[j] == ' ')) {
			int year = atoi(date + i);
			if (year >= 100 && year < 1000) {
				snprintf(buf, sizeof(buf), "%.*s%d%s", (int)i, date, 1900 + year, date + j);
				return gm.g_mime_utils_header_decode_date(buf);
			}
		}
		i = j;
	}
	return NULL;
}

static void build_headers(mail_build *b, GMimeMessage *message)
{
	mr_message *m = b->msg;
	GMimeObject *obj = GMIME_OBJECT(message);
	build_addresses(b, &m->from, gm.g_mime_message_get_from(message));
	build_addresses(b, &m->sender, gm.g_mime_message_get_sender(message));
	build_addresses(b, &m->reply_to, gm.g_mime_message_get_reply_to(message));
	build_addresses(b, &m->to, gm.g_mime_message_get_to(message));
	build_addresses(b, &m->cc, gm.g_mime_message_get_cc(message));
	build_addresses(b, &m->bcc, gm.g_mime_message_get_bcc(message));
	if (!gm.g_mime_object_get_header(obj, "From"))
		build_warn(b, "no From header");

	const char *subject = gm.g_mime_message_get_subject(message);
	if (subject) {
		m->subject = build_str(b, subject);
		if (m->subject && !b->rc) {
			mr_buf_clear(&b->scratch);
			int rc = mr_message_normalize_subject(&b->scratch, m->subject);
			if (rc)
				b->rc = rc;
			else
				m->subject_normalized = build_strn(b, mr_buf_cstr(&b->scratch), b->scratch.len);
		}
	}
	if (!m->subject_normalized)
		m->subject_normalized = build_str(b, "");

	const char *date = gm.g_mime_object_get_header(obj, "Date");
	GDateTime *dt = gm.g_mime_message_get_date(message);
	GDateTime *fixed = NULL;
	if (date && !dt && (fixed = date_obsolete_year(date)) != NULL) {
		dt = fixed;
		char ex[80];
		excerpt(ex, sizeof(ex), date);
		build_warn(b, "Date header \"%s\" has a year below 1000, read as 1900 + year (RFC 5322 obs-year)", ex);
	}
	if (!date) {
		m->date_state = MR_MAIL_DATE_MISSING;
		build_warn(b, "no Date header");
	} else if (!dt) {
		char ex[80];
		excerpt(ex, sizeof(ex), date);
		m->date_state = MR_MAIL_DATE_INVALID;
		build_warn(b, "invalid Date header \"%s\"", ex);
	} else {
		m->date_state = MR_MAIL_DATE_OK;
		m->date = (int64_t)gm.g_date_time_to_unix(dt);
		m->date_offset = (int32_t)(gm.g_date_time_get_utc_offset(dt) / G_TIME_SPAN_MINUTE);
	}
	if (fixed)
		gm.g_date_time_unref(fixed);

	const char *mid = gm.g_mime_message_get_message_id(message);
	if (mid && *mid)
		m->message_id = build_str(b, mid);
	else if (gm.g_mime_object_get_header(obj, "Message-ID"))
		build_warn(b, "invalid Message-ID header");
	else
		build_warn(b, "no Message-ID header");
	build_ids(b, &m->in_reply_to, gm.g_mime_object_get_header(obj, "In-Reply-To"));
	build_ids(b, &m->references, gm.g_mime_object_get_header(obj, "References"));
}

/* ---------------------------------------------------------------- MIME structure */

/* "type/subtype" in lower case, in the arena. */
static const char *build_mime_type(mail_build *b, GMimeObject *obj)
{
	GMimeContentType *ct = gm.g_mime_object_get_content_type(obj);
	const char *type = ct ? gm.g_mime_content_type_get_media_type(ct) : NULL;
	const char *sub = ct ? gm.g_mime_content_type_get_media_subtype(ct) : NULL;
	mr_buf_clear(&b->scratch);
	if (mr_buf_printf(&b->scratch, "%s/%s", type && *type ? type : "text", sub && *sub ? sub : "plain") != 0) {
		b->rc = MR_ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < b->scratch.len; i++)
		b->scratch.ptr[i] = (uint8_t)ascii_tolower((gchar)b->scratch.ptr[i]);
	return build_strn(b, mr_buf_cstr(&b->scratch), b->scratch.len);
}

static bool type_is_text_like(const char *t)
{
	static const char *const app[] = {
		"application/json", "application/xml", "application/javascript", "application/x-javascript",
		"application/ecmascript", "application/x-sh", "application/x-shellscript", "application/x-patch",
		"application/x-diff", "application/pgp-keys", "application/x-tex", "application/x-perl",
		"application/x-python", "application/sql", "application/rtf", "application/ics"};
	if (strncmp(t, "text/", 5) == 0 || strncmp(t, "message/", 8) == 0)
		return true;
	for (size_t i = 0; i < MR_ARRAY_LEN(app); i++)
		if (strcmp(t, app[i]) == 0)
			return true;
	size_t n = strlen(t);
	return (n > 4 && strcmp(t + n - 4, "+xml") == 0) || (n > 5 && strcmp(t + n - 5, "+json") == 0);
}

static bool type_is_signature(const char *t)
{
	return strcmp(t, "application/pgp-signature") == 0 || strcmp(t, "application/pkcs7-signature") == 0 ||
	       strcmp(t, "application/x-pkcs7-signature") == 0;
}

/* Decoded content (transfer encoding undone) into a GByteArray owned by the returned stream, or size only. */
static GMimeStream *part_decoded(GMimePart *part, bool keep, uint64_t *size)
{
	GMimeDataWrapper *w = gm.g_mime_part_get_content(part);
	GMimeStream *s = keep ? gm.g_mime_stream_mem_new() : gm.g_mime_stream_null_new();
	if (w)
		gm.g_mime_data_wrapper_write_to_stream(w, s);
	if (keep) {
		GByteArray *ba = gm.g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
		*size = ba ? ba->len : 0;
	} else {
		*size = GMIME_STREAM_NULL(s)->written;
	}
	return s;
}

/* How a part is walked: as a candidate body, as an unchosen alternative (its body-type text is
 * dropped, other parts still count as attachments), or as content that is never body. */
typedef enum walk_mode { WALK_BODY, WALK_ALT_SKIP, WALK_NO_BODY } walk_mode;

static void walk(mail_build *b, GMimeObject *obj, walk_mode mode, mr_buf *sink, int depth);

static void append_sink(mail_build *b, mr_buf *sink, const char *text, size_t len)
{
	if (!sink || !text || !len || b->rc)
		return;
	if (sink->len && mr_buf_put(sink, "\n", 1) != 0)
		b->rc = MR_ENOMEM;
	else if (mr_buf_put(sink, text, len) != 0)
		b->rc = MR_ENOMEM;
}

/* Text of a decoded part: charset conversion, then HTML reduction for text/html. */
static const char *part_text(mail_build *b, GMimeObject *obj, const char *type, GByteArray *ba, size_t *len)
{
	const char *charset = gm.g_mime_object_get_content_type_parameter(obj, "charset");
	const char *text = build_text(b, ba ? (const char *)ba->data : "", ba ? ba->len : 0, charset, type, len);
	if (!text || strcmp(type, "text/html") != 0)
		return text;
	mr_buf plain = MR_BUF_INIT;
	int rc = mr_mail_html_to_text(&plain, text, *len);
	const char *out = NULL;
	if (rc)
		b->rc = rc;
	else
		out = build_strn(b, mr_buf_cstr(&plain), plain.len);
	if (out)
		*len = strlen(out);
	mr_buf_dispose(&plain);
	return out;
}

static void walk_message_part(mail_build *b, GMimeObject *obj, mr_buf *sink, int depth)
{
	GMimeMessage *inner = gm.g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
	const char *type = build_mime_type(b, obj);
	if (!type)
		return;
	mr_buf text = MR_BUF_INIT;
	uint64_t size = 0;
	if (inner) {
		GMimeStream *null = gm.g_mime_stream_null_new();
		gm.g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, null);
		size = GMIME_STREAM_NULL(null)->written;
		gm.g_object_unref(null);
		/* the forwarded message's subject and body as the attachment's text */
		const char *subject = gm.g_mime_message_get_subject(inner);
		if (subject && mr_buf_puts(&text, subject) != 0)
			b->rc = MR_ENOMEM;
		GMimeObject *body = gm.g_mime_message_get_mime_part(inner);
		if (body)
			walk(b, body, WALK_BODY, &text, depth + 1);
	}
	if (sink) {
		append_sink(b, sink, mr_buf_cstr(&text), text.len);
		mr_buf_dispose(&text);
		return;
	}
	mr_message *m = b->msg;
	if (build_reserve(b, (void **)&b->atts, &b->att_cap, m->attachment_count, sizeof(mr_mail_attachment))) {
		const char *name = gm.g_mime_object_get_content_disposition_parameter(obj, "filename");
		if (!name)
			name = gm.g_mime_object_get_content_type_parameter(obj, "name");
		const char *disp = gm.g_mime_object_get_disposition(obj);
		char *disp_lc = disp ? gm.g_ascii_strdown(disp, -1) : NULL;
		const char *cid = gm.g_mime_object_get_content_id(obj);
		mr_mail_attachment *a = &b->atts[m->attachment_count];
		*a = (mr_mail_attachment){
			.name = build_str(b, name),
			.content_type = type,
			.disposition = build_str(b, disp_lc),
			.content_id = build_str(b, cid),
			.size = size,
			.text = build_strn(b, mr_buf_cstr(&text), text.len),
		};
		gm.g_free(disp_lc);
		a->text_len = a->text ? strlen(a->text) : 0;
		if (!b->rc) {
			m->attachment_count++;
			m->attachments = b->atts;
			m->has_attachment = true;
		}
	}
	mr_buf_dispose(&text);
}

static void walk_leaf(mail_build *b, GMimePart *part, walk_mode mode, mr_buf *sink)
{
	GMimeObject *obj = GMIME_OBJECT(part);
	const char *type = build_mime_type(b, obj);
	if (!type)
		return;
	const char *disp = gm.g_mime_object_get_disposition(obj);
	const char *filename = gm.g_mime_part_get_filename(part);
	bool attachment_disp = disp && gm.g_ascii_strcasecmp(disp, "attachment") == 0;
	bool body_type = (strcmp(type, "text/plain") == 0 || strcmp(type, "text/html") == 0 ||
			  strcmp(type, "text/enriched") == 0) &&
			 !attachment_disp && !(filename && *filename);
	if (body_type && mode == WALK_ALT_SKIP)
		return;
	bool body = body_type && mode == WALK_BODY;
	bool text_like = type_is_text_like(type);
	uint64_t size = 0;
	GMimeStream *s = part_decoded(part, body || text_like, &size);
	GByteArray *ba = (body || text_like) ? gm.g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s)) : NULL;
	size_t len = 0;
	const char *text = (body || text_like) ? part_text(b, obj, type, ba, &len) : NULL;
	gm.g_object_unref(s);
	if (b->rc)
		return;
	if (sink) {
		if (body || text_like)
			append_sink(b, sink, text, len);
		return;
	}
	mr_message *m = b->msg;
	if (body) {
		if (!build_reserve(b, (void **)&b->texts, &b->text_cap, m->text_count, sizeof(mr_mail_text)))
			return;
		const char *charset = gm.g_mime_object_get_content_type_parameter(obj, "charset");
		b->texts[m->text_count] = (mr_mail_text){
			.content_type = type,
			.charset = build_str(b, charset),
			.text = text,
			.len = len,
			.from_html = strcmp(type, "text/html") == 0,
		};
		if (!b->rc) {
			m->text_count++;
			m->texts = b->texts;
		}
		return;
	}
	if (!build_reserve(b, (void **)&b->atts, &b->att_cap, m->attachment_count, sizeof(mr_mail_attachment)))
		return;
	char *disp_lc = disp ? gm.g_ascii_strdown(disp, -1) : NULL;
	bool sig = type_is_signature(type);
	b->atts[m->attachment_count] = (mr_mail_attachment){
		.name = build_str(b, filename),
		.content_type = type,
		.disposition = build_str(b, disp_lc),
		.content_id = build_str(b, gm.g_mime_object_get_content_id(obj)),
		.size = size,
		.text = text,
		.text_len = text ? len : 0,
		.is_signature = sig,
	};
	gm.g_free(disp_lc);
	if (!b->rc) {
		m->attachment_count++;
		m->attachments = b->atts;
		if (!sig)
			m->has_attachment = true;
	}
}

static void walk(mail_build *b, GMimeObject *obj, walk_mode mode, mr_buf *sink, int depth)
{
	if (b->rc || !obj)
		return;
	if (depth > MAIL_MAX_DEPTH) {
		build_warn(b, "MIME nesting deeper than %d levels: inner parts ignored", MAIL_MAX_DEPTH);
		return;
	}
	if (is_a(obj, gm.g_mime_multipart_get_type())) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = gm.g_mime_multipart_get_count(mp);
		GMimeContentType *ct = gm.g_mime_object_get_content_type(obj);
		const char *sub = ct ? gm.g_mime_content_type_get_media_subtype(ct) : NULL;
		int chosen = -1;
		if (sub && gm.g_ascii_strcasecmp(sub, "alternative") == 0 && n > 0) {
			/* one alternative is the body: plain text if offered, else the last (richest) */
			chosen = n - 1;
			for (int i = 0; i < n; i++) {
				GMimeObject *c = gm.g_mime_multipart_get_part(mp, i);
				GMimeContentType *cct = gm.g_mime_object_get_content_type(c);
				if (is_a(c, gm.g_mime_part_get_type()) && cct && gm.g_mime_content_type_is_type(cct, "text", "plain")) {
					chosen = i;
					break;
				}
			}
		}
		for (int i = 0; i < n && !b->rc; i++) {
			walk_mode cm = mode;
			if (chosen >= 0 && i != chosen)
				cm = mode == WALK_NO_BODY ? WALK_NO_BODY : WALK_ALT_SKIP;
			walk(b, gm.g_mime_multipart_get_part(mp, i), cm, sink, depth + 1);
		}
		return;
	}
	if (is_a(obj, gm.g_mime_message_part_get_type())) {
		walk_message_part(b, obj, sink, depth);
		return;
	}
	if (is_a(obj, gm.g_mime_part_get_type()))
		walk_leaf(b, GMIME_PART(obj), mode, sink);
}

/* ---------------------------------------------------------------- entry points */

static pthread_once_t mail_once = PTHREAD_ONCE_INIT;
static bool mail_initialized;
static int mail_load_rc; /* mr_dynlib_load's result, its message in mail_load_err */
static char mail_load_err[256];
static bool mail_shutdown_first; /* mr_mail_shutdown before any parse: do not load GMime for it */

static void mail_init(void)
{
	if (mail_shutdown_first)
		return;
	if ((mail_load_rc = mr_dynlib_load(&gm_lib)) < 0) {
		snprintf(mail_load_err, sizeof(mail_load_err), "%s", mr_error_last()->message);
		return;
	}
	gm.g_mime_init();
	mail_initialized = true;
}

void mr_mail_shutdown(void)
{
	mail_shutdown_first = true; /* read by mail_init only if this call runs it */
	pthread_once(&mail_once, mail_init);
	if (mail_initialized) {
		gm.g_mime_shutdown();
		mail_initialized = false;
	}
}

static GMimeParserOptions *new_options(mail_build *b)
{
	static const char *fallback[] = {"UTF-8", "windows-1252", NULL};
	GMimeParserOptions *o = gm.g_mime_parser_options_new();
	gm.g_mime_parser_options_set_address_compliance_mode(o, GMIME_RFC_COMPLIANCE_LOOSE);
	gm.g_mime_parser_options_set_parameter_compliance_mode(o, GMIME_RFC_COMPLIANCE_LOOSE);
	gm.g_mime_parser_options_set_rfc2047_compliance_mode(o, GMIME_RFC_COMPLIANCE_LOOSE);
	gm.g_mime_parser_options_set_allow_addresses_without_domain(o, TRUE);
	gm.g_mime_parser_options_set_fallback_charsets(o, fallback);
	gm.g_mime_parser_options_set_warning_callback(o, parser_warning, b);
	return o;
}

int mr_message_parse(mr_message **out, const void *data, size_t len)
{
	*out = NULL;
	pthread_once(&mail_once, mail_init);
	if (mail_load_rc < 0)
		return mr_error_set(mail_load_rc, "parse message: %s", mail_load_err);
	if (!mail_initialized)
		return mr_error_set(MR_ERROR, "parse message: GMime was shut down (mr_mail_shutdown) in this process");
	mail_build b = {0};
	mr_message *m = arena_alloc(&b.arena, sizeof(*m));
	if (!m)
		return MR_ENOMEM;
	memset(m, 0, sizeof(*m));
	b.msg = m;
	m->raw_size = len;
	if (!data)
		data = "";
	size_t plen = len;
	if (plen > MAIL_MAX_PARSE) {
		plen = MAIL_MAX_PARSE;
		build_warn(&b, "message of %zu bytes: only the first %zu parsed", len, plen);
	}
	if (len == 0)
		build_warn(&b, "empty message");
	else if (memchr(data, '\0', plen))
		build_warn(&b, "message contains NUL bytes");

	b.options = new_options(&b);
	GMimeStream *stream = gm.g_mime_stream_mem_new_with_buffer(data, plen);
	GMimeParser *parser = gm.g_mime_parser_new_with_stream(stream);
	gm.g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	gm.g_mime_parser_set_respect_content_length(parser, FALSE);
	GMimeMessage *message = len ? gm.g_mime_parser_construct_message(parser, b.options) : NULL;
	if (message) {
		gint64 hend = gm.g_mime_parser_get_headers_end(parser);
		size_t h = hend > 0 && (uint64_t)hend <= plen ? (size_t)hend : 0;
		const char *d = data;
		if (h < plen && d[h] == '\n')
			h++; /* the empty line that ends the header */
		else if (h + 1 < plen && d[h] == '\r' && d[h + 1] == '\n')
			h += 2;
		m->header_size = h;
		build_headers(&b, message);
		GMimeObject *body = gm.g_mime_message_get_mime_part(message);
		if (body)
			walk(&b, body, WALK_BODY, NULL, 0);
		else
			build_warn(&b, "no body");
		gm.g_object_unref(message);
	} else {
		if (len)
			build_warn(&b, "no message could be parsed");
		m->date_state = MR_MAIL_DATE_MISSING;
		m->subject_normalized = build_str(&b, "");
	}
	gm.g_object_unref(parser);
	gm.g_object_unref(stream);
	if (b.warnings_dropped && !b.rc) {
		size_t dropped = b.warnings_dropped;
		m->warning_count--; /* make room for the summary line */
		b.warnings_dropped = 0;
		build_warn(&b, "... and %zu more warnings", dropped + 1);
	}
	gm.g_mime_parser_options_free(b.options);
	mr_buf_dispose(&b.scratch);
	if (b.rc) {
		arena_free(&b.arena);
		return b.rc == MR_ENOMEM ? mr_error_oom() : b.rc;
	}
	/* the arena descriptor moves into the model it allocated */
	mr_mail_arena *arena = arena_alloc(&b.arena, sizeof(*arena));
	if (!arena) {
		arena_free(&b.arena);
		return MR_ENOMEM;
	}
	*arena = b.arena;
	m->arena = arena;
	*out = m;
	return 0;
}

int mr_message_parse_fd(mr_message **out, int fd, const char *what)
{
	*out = NULL;
	mr_buf buf = MR_BUF_INIT;
	int rc = 0;
	for (;;) {
		if ((rc = mr_buf_grow(&buf, buf.len + 65536)) != 0)
			goto done;
		ssize_t n = read(fd, buf.ptr + buf.len, buf.cap - buf.len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = mr_error_set_errno(MR_EIO, errno, "read message %s", what ? what : "(fd)");
			goto done;
		}
		if (n == 0)
			break;
		buf.len += (size_t)n;
	}
	rc = mr_message_parse(out, buf.ptr, buf.len);
done:
	mr_buf_dispose(&buf);
	return rc;
}

void mr_message_free(mr_message *msg)
{
	if (!msg)
		return;
	mr_mail_arena arena = *msg->arena; /* the descriptor lives in the arena it describes */
	arena_free(&arena);
}

/* ---------------------------------------------------------------- subjects and threads */

/* Reply/forward markers, lower case (ASCII letters compared case-insensitively). */
static const char *const subject_prefixes[] = {
	"re", "fw", "fwd", "aw", "wg", "sv", "vs", "antw", "tr", "ref", "r\xc3\xa9" "f", "r\xc3\x89" "f",
	"odp", "r", "rif", "enc", "res", "ynt", "atb", "vb", "\xe5\x9b\x9e\xe5\xa4\x8d", /* 回复 */
	"\xe8\xbd\xac\xe5\x8f\x91",                                                      /* 转发 */
	"\xe7\xad\x94\xe5\xa4\x8d",                                                      /* 答复 */
};

/* Length of a reply/forward marker at s ("Re:", "RE[2]: ", "Fwd (3):"), or 0. */
static size_t subject_marker(const char *s)
{
	for (size_t k = 0; k < MR_ARRAY_LEN(subject_prefixes); k++) {
		const char *p = subject_prefixes[k];
		size_t n = strlen(p);
		if (gm.g_ascii_strncasecmp(s, p, n) != 0)
			continue;
		size_t i = n;
		while (s[i] == ' ')
			i++;
		if (s[i] == '[' || s[i] == '(') {
			char close = s[i] == '[' ? ']' : ')';
			size_t j = i + 1;
			while (ascii_isdigit(s[j]))
				j++;
			if (j == i + 1 || s[j] != close)
				continue;
			i = j + 1;
			while (s[i] == ' ')
				i++;
		}
		if (s[i] == ':')
			i++;
		else if ((unsigned char)s[i] == 0xEF && (unsigned char)s[i + 1] == 0xBC &&
			 (unsigned char)s[i + 2] == 0x9A)
			i += 3; /* full-width colon */
		else
			continue;
		return i;
	}
	return 0;
}

int mr_message_normalize_subject(mr_buf *out, const char *subject)
{
	mr_buf_clear(out);
	if (!subject)
		return mr_buf_put(out, "", 0);
	/* collapse white space first, so the markers below see single spaces */
	bool space = false;
	for (const char *p = subject; *p; p++) {
		char c = *p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
			space = true;
			continue;
		}
		if (space && out->len) {
			int rc = mr_buf_put(out, " ", 1);
			if (rc)
				return rc;
		}
		space = false;
		int rc = mr_buf_put(out, &c, 1);
		if (rc)
			return rc;
	}
	char *s = (char *)out->ptr;
	if (!s)
		return mr_buf_put(out, "", 0);
	size_t start = 0, end = out->len;
	for (bool changed = true; changed;) {
		changed = false;
		while (start < end && s[start] == ' ')
			start++;
		/* trailing "(fwd)" */
		if (end - start >= 5 && gm.g_ascii_strncasecmp(s + end - 5, "(fwd)", 5) == 0) {
			end -= 5;
			while (end > start && s[end - 1] == ' ')
				end--;
			changed = true;
		}
		char save = s[end];
		s[end] = '\0';
		size_t mk = subject_marker(s + start);
		if (mk) {
			start += mk;
			changed = true;
		} else if (s[start] == '[') {
			/* a list tag "[list-name] " when something follows it */
			const char *close = memchr(s + start, ']', end - start);
			if (close && (size_t)(close - (s + start)) <= 64 && !memchr(s + start + 1, '[', (size_t)(close - (s + start)) - 1)) {
				size_t after = (size_t)(close - s) + 1;
				while (after < end && s[after] == ' ')
					after++;
				if (after < end) {
					start = after;
					changed = true;
				}
			}
		}
		s[end] = save;
	}
	while (start < end && s[start] == ' ')
		start++;
	memmove(s, s + start, end - start);
	out->len = end - start;
	s[out->len] = '\0';
	return 0;
}

size_t mr_message_thread_ids(const char **ids, size_t cap, size_t *total, const mr_message *msg)
{
	size_t n = 0;
#define ADD_ID(id)                                                   \
	do {                                                         \
		bool dup = false;                                    \
		for (size_t k = 0; k < n && k < cap; k++)            \
			if (strcmp(ids[k], (id)) == 0)               \
				dup = true;                          \
		if (!dup) {                                          \
			if (n < cap)                                 \
				ids[n] = (id);                       \
			n++;                                         \
		}                                                    \
	} while (0)
	for (size_t i = 0; i < msg->references.count; i++)
		ADD_ID(msg->references.items[i]);
	for (size_t i = 0; i < msg->in_reply_to.count; i++)
		ADD_ID(msg->in_reply_to.items[i]);
	if (msg->message_id)
		ADD_ID(msg->message_id);
#undef ADD_ID
	if (total)
		*total = n;
	return n < cap ? n : cap;
}

int mr_message_thread_key(mr_buf *out, const mr_message *msg)
{
	mr_buf_clear(out);
	const char *root = NULL;
	if (msg->references.count)
		root = msg->references.items[0];
	else if (msg->in_reply_to.count)
		root = msg->in_reply_to.items[0];
	else if (msg->message_id)
		root = msg->message_id;
	if (root)
		return mr_buf_printf(out, "id:%s", root);
	if (msg->subject_normalized && *msg->subject_normalized) {
		char *folded = gm.g_utf8_casefold(msg->subject_normalized, -1);
		int rc = mr_buf_printf(out, "subject:%s", folded);
		gm.g_free(folded);
		return rc;
	}
	return mr_buf_puts(out, "none:");
}
