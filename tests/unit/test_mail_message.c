/*
 * Unit tests of src/mail/message.c and html.c: header decoding (RFC 2047 in
 * several charsets, addresses, dates, ids), RFC 2231 file names, body text
 * and HTML reduction, attachments, broken input (warnings, never failure),
 * subjects and thread keys, concurrent parsing.  Fixtures: tests/data/mail/eml.
 */
#include "core/common.h"
#include "harness.h"
#include "mail/message.h"

#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <unistd.h>

static char data_dir[4096];

static void find_data_dir(void) { mr_test_data_dir(data_dir, sizeof data_dir, __FILE__, "mail"); }

static int read_fixture(mr_buf *out, const char *rel)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", data_dir, rel);
	FILE *f = fopen(path, "rb");
	if (!f)
		return mr_error_set(MR_ENOTFOUND, "fixture %s not found", path);
	char chunk[4096];
	size_t n;
	int rc = 0;
	mr_buf_clear(out);
	while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = mr_buf_put(out, chunk, n);
	fclose(f);
	return rc;
}

static mr_message *parse_str(const char *s)
{
	mr_message *m = NULL;
	if (mr_message_parse(&m, s, strlen(s)) != 0)
		return NULL;
	return m;
}

static bool has_warning(const mr_message *m, const char *needle)
{
	for (size_t i = 0; i < m->warning_count; i++)
		if (strstr(m->warnings[i], needle))
			return true;
	return false;
}

static void test_mail_message__rfc2047_subjects(void)
{
	static const struct {
		const char *header, *want;
	} cases[] = {
		{"=?ISO-8859-1?Q?Caf=E9_cr=E8me?=", "Café crème"},
		{"=?UTF-8?B?0J/RgNC40LLQtdGCLCDQvNC40YA=?=", "Привет, мир"},
		{"=?KOI8-R?Q?=F0=D2=C9=D7=C5=D4?=", "Привет"},
		{"=?ISO-2022-JP?B?GyRCRnxLXDhsJE4lRiU5JUgbKEI=?=", "日本語のテスト"},
		{"=?GB2312?B?1tDOxNPKvP4=?=", "中文邮件"},
		{"=?Shift_JIS?B?grGC8YLJgr+CzQ==?=", "こんにちは"},
		{"=?big5?B?wWPF6aSkpOU=?=", "繁體中文"},
		{"=?EUC-KR?B?x9Gxub7u?=", "한국어"},
		{"=?windows-1252?Q?=805=20=96=20=93quoted=94?=", "€5 – “quoted”"},
		/* adjacent encoded words join; white space between them goes */
		{"=?UTF-8?Q?Gr=C3=BC?= =?UTF-8?Q?=C3=9Fe?= aus Berlin", "Grüße aus Berlin"},
		{"plain ASCII subject", "plain ASCII subject"},
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(cases); i++) {
		char msg[512];
		snprintf(msg, sizeof(msg), "From: a@b.example\r\nSubject: %s\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\nx\r\n",
			 cases[i].header);
		mr_message *m = parse_str(msg);
		MR_CHECK(m != NULL);
		MR_CHECK_EQ_STR(m->subject, cases[i].want);
		mr_message_free(m);
	}
	/* raw 8-bit header text: UTF-8 when valid, Windows-1252 otherwise */
	mr_message *m = parse_str("Subject: \xe9t\xe9 \x80\r\n\r\nx");
	MR_CHECK(m != NULL);
	MR_CHECK_EQ_STR(m->subject, "été €");
	mr_message_free(m);
	m = parse_str("Subject: d\xc3\xa9j\xc3\xa0 vu\r\n\r\nx");
	MR_CHECK(m != NULL);
	MR_CHECK_EQ_STR(m->subject, "déjà vu");
	mr_message_free(m);
}

static void test_mail_message__headers_and_attachments(void)
{
	mr_buf raw = MR_BUF_INIT;
	MR_CHECK_OK(read_fixture(&raw, "eml/attachments.eml"));
	mr_buf copy = MR_BUF_INIT;
	MR_CHECK_OK(mr_buf_set(&copy, raw.ptr, raw.len));
	mr_message *m = NULL;
	MR_CHECK_OK(mr_message_parse(&m, raw.ptr, raw.len));
	MR_CHECK(raw.len == copy.len && memcmp(raw.ptr, copy.ptr, raw.len) == 0); /* input untouched */
	MR_CHECK_EQ_INT(m->raw_size, raw.len);

	MR_CHECK_EQ_INT(m->from.count, 1);
	MR_CHECK_EQ_STR(m->from.items[0].name, "Jürgen Müller");
	MR_CHECK_EQ_STR(m->from.items[0].addr, "jm@example.de");
	/* a group is flattened, a quoted comma stays in the name, IDN decoded */
	MR_CHECK_EQ_INT(m->to.count, 3);
	MR_CHECK_EQ_STR(m->to.items[0].addr, "a@example.org");
	MR_CHECK_EQ_STR(m->to.items[1].name, "B, C");
	MR_CHECK_EQ_STR(m->to.items[2].addr, "d@bücher.example");
	MR_CHECK_EQ_INT(m->cc.count, 0);
	MR_CHECK_EQ_STR(m->subject, "Rechnungen für Juli");
	MR_CHECK_EQ_INT(m->date_state, MR_MAIL_DATE_OK);
	MR_CHECK_EQ_INT(m->date, 1057049557);
	MR_CHECK_EQ_INT(m->date_offset, 120);
	MR_CHECK_EQ_STR(m->message_id, "att-1@example.de");
	MR_CHECK_EQ_INT(m->header_size, 315); /* up to and including the empty line */

	/* one body text: the plain alternative, QP decoded */
	MR_CHECK_EQ_INT(m->text_count, 1);
	MR_CHECK_EQ_STR(m->texts[0].content_type, "text/plain");
	MR_CHECK_EQ_STR(m->texts[0].text, "Hallo, anbei die Rechnungen für Juli.");
	MR_CHECK(!m->texts[0].from_html);

	MR_CHECK_EQ_INT(m->attachment_count, 3);
	MR_CHECK(m->has_attachment);
	const mr_mail_attachment *pdf = &m->attachments[0];
	MR_CHECK_EQ_STR(pdf->name, "€ rates.pdf"); /* RFC 2231 with charset */
	MR_CHECK_EQ_STR(pdf->content_type, "application/pdf");
	MR_CHECK_EQ_STR(pdf->disposition, "attachment");
	MR_CHECK_EQ_INT(pdf->size, 1024);
	MR_CHECK(pdf->text == NULL);
	const mr_mail_attachment *txt = &m->attachments[1];
	MR_CHECK_EQ_STR(txt->name, "Grüße.txt"); /* RFC 2231 continuation */
	MR_CHECK_EQ_STR(txt->content_type, "text/plain");
	MR_CHECK_EQ_INT(txt->size, 15);           /* Latin-1 bytes, decoded from base64 */
	MR_CHECK_EQ_STR(txt->text, "Grüße aus Köln\n"); /* converted to UTF-8 */
	const mr_mail_attachment *doc = &m->attachments[2];
	MR_CHECK_EQ_STR(doc->name, "résumé.doc"); /* encoded word in a parameter */
	MR_CHECK_EQ_STR(doc->disposition, "");
	MR_CHECK_EQ_INT(doc->size, 13);
	MR_CHECK_EQ_INT(m->warning_count, 0);
	mr_message_free(m);
	mr_buf_dispose(&raw);
	mr_buf_dispose(&copy);
}

static void test_mail_message__signed_and_ids(void)
{
	mr_buf raw = MR_BUF_INIT;
	MR_CHECK_OK(read_fixture(&raw, "eml/signed.eml"));
	mr_message *m = NULL;
	MR_CHECK_OK(mr_message_parse(&m, raw.ptr, raw.len));
	MR_CHECK_EQ_INT(m->text_count, 1);
	MR_CHECK_EQ_STR(m->texts[0].text, "Signed body."); /* the line end before a boundary belongs to it */
	MR_CHECK_EQ_INT(m->attachment_count, 1);
	MR_CHECK(m->attachments[0].is_signature);
	MR_CHECK(!m->has_attachment); /* a signature alone is not an attachment for the flag */
	MR_CHECK_EQ_INT(m->date_offset, 0);
	MR_CHECK_EQ_INT(m->in_reply_to.count, 1);
	MR_CHECK_EQ_STR(m->in_reply_to.items[0], "s-1@example.org");
	MR_CHECK_EQ_INT(m->references.count, 2);
	MR_CHECK_EQ_STR(m->references.items[0], "root@example.org");
	MR_CHECK_EQ_STR(m->references.items[1], "s-1@example.org");
	MR_CHECK_EQ_STR(m->subject_normalized, "patch");

	mr_buf key = MR_BUF_INIT;
	MR_CHECK_OK(mr_message_thread_key(&key, m));
	MR_CHECK_EQ_STR(mr_buf_cstr(&key), "id:root@example.org");
	const char *ids[8];
	size_t total = 0;
	size_t n = mr_message_thread_ids(ids, 8, &total, m);
	MR_CHECK_EQ_INT(n, 3);
	MR_CHECK_EQ_INT(total, 3);
	MR_CHECK_EQ_STR(ids[0], "root@example.org");
	MR_CHECK_EQ_STR(ids[1], "s-1@example.org");
	MR_CHECK_EQ_STR(ids[2], "s-2@example.org");
	n = mr_message_thread_ids(ids, 2, &total, m);
	MR_CHECK_EQ_INT(n, 2);
	MR_CHECK_EQ_INT(total, 3);
	mr_buf_dispose(&key);
	mr_message_free(m);
	mr_buf_dispose(&raw);
}

static void test_mail_message__html_only(void)
{
	mr_buf raw = MR_BUF_INIT;
	MR_CHECK_OK(read_fixture(&raw, "eml/html-only.eml"));
	mr_message *m = NULL;
	MR_CHECK_OK(mr_message_parse(&m, raw.ptr, raw.len));
	MR_CHECK_EQ_INT(m->text_count, 1);
	MR_CHECK(m->texts[0].from_html);
	MR_CHECK_EQ_STR(m->texts[0].content_type, "text/html");
	MR_CHECK_EQ_STR(m->texts[0].charset, "windows-1252");
	MR_CHECK_EQ_STR(m->texts[0].text, "Café & Bar\n\nPrice: 5 € – ☺\nnext line\n\none\ntwo\nlink &unknown; <tag>");
	MR_CHECK(!strstr(m->texts[0].text, "not text"));
	MR_CHECK(!strstr(m->texts[0].text, "color"));
	MR_CHECK(!strstr(m->texts[0].text, "Ignored title"));
	MR_CHECK_EQ_STR(m->subject, "Weekly &amp; news"); /* headers are not HTML */
	MR_CHECK(!m->has_attachment);
	mr_message_free(m);
	mr_buf_dispose(&raw);
}

static void test_mail_message__html_reducer(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"", ""},
		{"plain   text\n\nwith  spaces", "plain text with spaces"},
		{"a<br>b<br/>c", "a\nb\nc"},
		{"<div>x</div><div>y</div>", "x\ny"},
		{"<p>one</p><p>two</p>", "one\n\ntwo"},
		{"<pre>line 1\nline 2</pre>", "line 1\nline 2"},
		{"<table><tr><td>a</td><td>b</td></tr></table>", "a b"},
		{"<SCRIPT type=x>alert('<b>')</SCRIPT>after", "after"},
		{"<style>unclosed style", ""},
		{"5 < 6 and 7 > 3", "5 < 6 and 7 > 3"},
		{"&amp;&lt;&gt;&quot;&apos;&#65;&#x42;&#0;&#1114112;", "&<>\"'AB\xef\xbf\xbd\xef\xbf\xbd"},
		{"&#150;&#x80;", "–€"}, /* C1 references mean Windows-1252 */
		{"<img alt=\"a > b\" src='x'>text", "text"},
		{"<!-- <p>hidden</p> -->shown<!-- unterminated", "shown"},
		{"<!DOCTYPE html><?xml version='1.0'?>doc", "doc"},
		{"<b>bold</b><i>it</i>", "boldit"},
		{"trailing <", "trailing <"},
		{"&copy&nbsp;2003", "© 2003"},
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(cases); i++) {
		mr_buf out = MR_BUF_INIT;
		MR_CHECK_OK(mr_mail_html_to_text(&out, cases[i].in, strlen(cases[i].in)));
		if (strcmp(mr_buf_cstr(&out), cases[i].want) != 0)
			fprintf(stderr, "case %zu: \"%s\"\n", i, cases[i].in);
		MR_CHECK_EQ_STR(mr_buf_cstr(&out), cases[i].want);
		mr_buf_dispose(&out);
	}
}

static void test_mail_message__html_reducer_is_linear(void)
{
	/* 100,000 unclosed <head> tags: each must not rescan the rest of the input */
	mr_buf in = MR_BUF_INIT, out = MR_BUF_INIT;
	for (int i = 0; i < 100000; i++)
		MR_CHECK_OK(mr_buf_puts(&in, "<head>x"));
	MR_CHECK_OK(mr_mail_html_to_text(&out, (const char *)in.ptr, in.len));
	MR_CHECK_EQ_INT(out.len, 100000);
	mr_buf_dispose(&in);
	mr_buf_dispose(&out);
}

static void test_mail_message__broken_truncated(void)
{
	mr_buf raw = MR_BUF_INIT;
	MR_CHECK_OK(read_fixture(&raw, "eml/broken-truncated.eml"));
	mr_message *m = NULL;
	MR_CHECK_OK(mr_message_parse(&m, raw.ptr, raw.len));
	MR_CHECK_EQ_INT(m->date_state, MR_MAIL_DATE_MISSING);
	MR_CHECK(has_warning(m, "no Date header"));
	MR_CHECK(has_warning(m, "no Message-ID header"));
	MR_CHECK(has_warning(m, "unknown charset \"x-foo\""));
	MR_CHECK(has_warning(m, "truncated"));
	MR_CHECK_EQ_INT(m->text_count, 1);
	MR_CHECK_EQ_STR(m->texts[0].text, "first part, charset nobody knows");
	MR_CHECK_EQ_INT(m->attachment_count, 1);
	MR_CHECK_EQ_STR(m->attachments[0].content_type, "application/octet-stream");
	MR_CHECK(m->attachments[0].size >= 9); /* what base64 there is decodes */
	mr_message_free(m);
	mr_buf_dispose(&raw);
}

static void test_mail_message__broken_headers(void)
{
	mr_buf raw = MR_BUF_INIT;
	MR_CHECK_OK(read_fixture(&raw, "eml/broken-headers.eml"));
	mr_message *m = NULL;
	MR_CHECK_OK(mr_message_parse(&m, raw.ptr, raw.len));
	MR_CHECK_EQ_INT(m->date_state, MR_MAIL_DATE_INVALID);
	MR_CHECK_EQ_INT(m->date, 0);
	MR_CHECK(has_warning(m, "invalid Date header \"sometime last week\""));
	MR_CHECK_EQ_STR(m->subject, "bad date and 8bit été");
	MR_CHECK(m->text_count <= 1);
	for (size_t i = 0; i < m->text_count; i++)
		MR_CHECK(g_utf8_validate(m->texts[i].text, -1, NULL));
	MR_CHECK(m->warning_count >= 2);
	for (size_t i = 0; i < m->warning_count; i++)
		MR_CHECK(g_utf8_validate(m->warnings[i], -1, NULL));
	mr_message_free(m);
	mr_buf_dispose(&raw);
}

static void test_mail_message__garbage_never_fails(void)
{
	static const char *const inputs[] = {
		"",
		"\n",
		"\r\n\r\n",
		"no colon at all",
		"Subject: only a header",
		"Content-Type: multipart/mixed\r\n\r\n--x\r\n",
		"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a\r\n--a--",
		"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body",
		"Content-Type: text/plain; charset=\"\"\r\n\r\nx",
		"Content-Type: text/plain; charset=utf-16\r\n\r\n\xff\xfeh\0i\0",
		"Content-Transfer-Encoding: base64\r\n\r\n!!!!====",
		"From: \"unterminated <a@b\r\nTo: ,,,;;;<>\r\nDate: 99 Foo 99999 99:99:99\r\n\r\n",
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(inputs); i++) {
		mr_message *m = NULL;
		size_t len = i == 9 ? strlen(inputs[i]) + 4 : strlen(inputs[i]);
		MR_CHECK_OK(mr_message_parse(&m, inputs[i], len));
		MR_CHECK(m != NULL);
		MR_CHECK(m->subject_normalized != NULL);
		for (size_t t = 0; t < m->text_count; t++)
			MR_CHECK(g_utf8_validate(m->texts[t].text, (gssize)m->texts[t].len, NULL));
		mr_message_free(m);
	}
	mr_message *m = NULL;
	MR_CHECK_OK(mr_message_parse(&m, "", 0));
	MR_CHECK(has_warning(m, "empty message"));
	mr_message_free(m);
	/* NUL bytes */
	static const char nul[] = "Subject: a\0b\r\n\r\nbody\0more";
	MR_CHECK_OK(mr_message_parse(&m, nul, sizeof(nul) - 1));
	MR_CHECK(has_warning(m, "NUL"));
	mr_message_free(m);
	/* forwarded message: attachment with the inner text */
	m = parse_str("Subject: fwd\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
		      "Content-Type: text/plain\r\n\r\nsee below\r\n--z\r\nContent-Type: message/rfc822\r\n\r\n"
		      "Subject: inner subject\r\n\r\ninner body\r\n--z--\r\n");
	MR_CHECK(m != NULL);
	MR_CHECK_EQ_INT(m->attachment_count, 1);
	MR_CHECK_EQ_STR(m->attachments[0].content_type, "message/rfc822");
	MR_CHECK(strstr(m->attachments[0].text, "inner subject") != NULL);
	MR_CHECK(strstr(m->attachments[0].text, "inner body") != NULL);
	MR_CHECK(m->has_attachment);
	mr_message_free(m);
	mr_message_free(NULL);
}

static void test_mail_message__obsolete_year(void)
{
	/* Y2K-bug clients wrote 102 for 2002 (seen in the SpamAssassin corpus) */
	mr_message *m = parse_str("Date: Wed, 01 May 0102 10:00:00 +0000\r\n\r\nx");
	MR_CHECK(m != NULL);
	MR_CHECK_EQ_INT(m->date_state, MR_MAIL_DATE_OK);
	MR_CHECK_EQ_INT(m->date, 1020247200);
	MR_CHECK(has_warning(m, "obs-year"));
	mr_message_free(m);
	/* a warning repeated at several offsets is kept once */
	m = parse_str("Cc: a@b\r\nCc: c@d\r\nCc: e@f\r\nCc: g@h\r\n\r\nx");
	MR_CHECK(m != NULL);
	size_t conflicts = 0;
	for (size_t i = 0; i < m->warning_count; i++)
		if (strstr(m->warnings[i], "header: Cc"))
			conflicts++;
	MR_CHECK_EQ_INT(conflicts, 1);
	mr_message_free(m);
}

static void test_mail_message__charsets_in_bodies(void)
{
	/* UTF-7 under its old Microsoft name */
	mr_message *u7 = parse_str("Content-Type: text/plain; charset=unicode-1-1-utf-7\r\n\r\nHi Mom -+Jjo--!");
	MR_CHECK(u7 != NULL);
	MR_CHECK_EQ_STR(u7->texts[0].text, "Hi Mom -☺-!");
	MR_CHECK(!has_warning(u7, "unknown charset"));
	mr_message_free(u7);

	mr_message *m = parse_str("Content-Type: text/plain; charset=iso-8859-15\r\n\r\n\xa4 \xe9t\xe9\r\n");
	MR_CHECK(m != NULL);
	MR_CHECK_EQ_STR(m->texts[0].text, "€ été\n");
	mr_message_free(m);
	/* undeclared 8-bit → Windows-1252; declared UTF-8 that is not → warning + Windows-1252 */
	m = parse_str("Subject: x\r\n\r\nna\xefve\r\n");
	MR_CHECK_EQ_STR(m->texts[0].text, "naïve\n");
	mr_message_free(m);
	m = parse_str("Content-Type: text/plain; charset=utf-8\r\n\r\nna\xefve");
	MR_CHECK_EQ_STR(m->texts[0].text, "naïve");
	MR_CHECK(has_warning(m, "not valid UTF-8"));
	mr_message_free(m);
	/* invalid sequences in a declared charset become U+FFFD, counted */
	m = parse_str("Content-Type: text/plain; charset=shift_jis\r\n\r\n\x82\xb1\x82");
	MR_CHECK(m != NULL);
	MR_CHECK(strncmp(m->texts[0].text, "こ", 3) == 0);
	MR_CHECK(strstr(m->texts[0].text, "\xef\xbf\xbd") != NULL);
	MR_CHECK(has_warning(m, "invalid byte sequence"));
	mr_message_free(m);
}

static void test_mail_message__normalize_subject(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"Re: hello", "hello"},
		{"RE: Re: re:  hello   world ", "hello world"},
		{"Fwd: Re: [linux-man] [PATCH v2] fix", "fix"}, /* every leading [blob], as RFC 5256 does */
		{"AW: WG: SV: VS: Antw: Termin", "Termin"},
		{"Re[2]: Re(3): x", "x"},
		{"Réf : TR: Objet", "Objet"},
		{"回复：会议", "会议"},
		{"[list] Re: [list] topic (fwd)", "topic"},
		{"[only a tag]", "[only a tag]"},
		{"Regarding nothing", "Regarding nothing"},
		{"Re:", ""},
		{"\t\r\n", ""},
		{"Recipe: cake", "Recipe: cake"},
	};
	mr_buf out = MR_BUF_INIT;
	for (size_t i = 0; i < MR_ARRAY_LEN(cases); i++) {
		MR_CHECK_OK(mr_message_normalize_subject(&out, cases[i].in));
		MR_CHECK_EQ_STR(mr_buf_cstr(&out), cases[i].want);
	}
	mr_buf_dispose(&out);

	/* thread key fallbacks */
	mr_buf key = MR_BUF_INIT;
	mr_message *m = parse_str("Subject: Re: Hello World\r\n\r\nx");
	MR_CHECK_OK(mr_message_thread_key(&key, m));
	MR_CHECK_EQ_STR(mr_buf_cstr(&key), "subject:hello world");
	mr_message_free(m);
	m = parse_str("Message-ID: <own@x>\r\nIn-Reply-To: <parent@x>\r\n\r\nx");
	MR_CHECK_OK(mr_message_thread_key(&key, m));
	MR_CHECK_EQ_STR(mr_buf_cstr(&key), "id:parent@x");
	mr_message_free(m);
	m = parse_str("Message-ID: <own@x>\r\n\r\nx");
	MR_CHECK_OK(mr_message_thread_key(&key, m));
	MR_CHECK_EQ_STR(mr_buf_cstr(&key), "id:own@x");
	mr_message_free(m);
	m = parse_str("X: y\r\n\r\nx");
	MR_CHECK_OK(mr_message_thread_key(&key, m));
	MR_CHECK_EQ_STR(mr_buf_cstr(&key), "none:");
	mr_message_free(m);
	mr_buf_dispose(&key);
}

static void test_mail_message__parse_fd(void)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/eml/signed.eml", data_dir);
	int fd = open(path, O_RDONLY);
	MR_CHECK(fd >= 0);
	mr_message *m = NULL;
	int rc = mr_message_parse_fd(&m, fd, path);
	close(fd);
	MR_CHECK_OK(rc);
	MR_CHECK_EQ_STR(m->message_id, "s-2@example.org");
	mr_message_free(m);
	MR_CHECK_RC(mr_message_parse_fd(&m, -1, "bad fd"), MR_EIO);
	MR_CHECK(m == NULL);
	MR_CHECK(strstr(mr_error_last()->message, "bad fd") != NULL);
}

typedef struct thread_arg {
	const mr_buf *raw;
	int failures;
} thread_arg;

static void *parse_many(void *p)
{
	thread_arg *a = p;
	for (int i = 0; i < 50; i++) {
		mr_message *m = NULL;
		if (mr_message_parse(&m, a->raw->ptr, a->raw->len) != 0 || m->attachment_count != 3 ||
		    strcmp(m->attachments[1].text, "Grüße aus Köln\n") != 0 || strcmp(m->from.items[0].name, "Jürgen Müller") != 0)
			a->failures++;
		mr_message_free(m);
	}
	return NULL;
}

static void test_mail_message__threads(void)
{
	mr_buf raw = MR_BUF_INIT;
	MR_CHECK_OK(read_fixture(&raw, "eml/attachments.eml"));
	pthread_t t[4];
	thread_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (thread_arg){.raw = &raw};
		MR_CHECK(pthread_create(&t[i], NULL, parse_many, &args[i]) == 0);
	}
	int failures = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		failures += args[i].failures;
	}
	MR_CHECK_EQ_INT(failures, 0);
	mr_buf_dispose(&raw);
}

int main(void)
{
	find_data_dir();
	MR_TEST_RUN(test_mail_message__rfc2047_subjects);
	MR_TEST_RUN(test_mail_message__headers_and_attachments);
	MR_TEST_RUN(test_mail_message__signed_and_ids);
	MR_TEST_RUN(test_mail_message__html_only);
	MR_TEST_RUN(test_mail_message__html_reducer);
	MR_TEST_RUN(test_mail_message__html_reducer_is_linear);
	MR_TEST_RUN(test_mail_message__broken_truncated);
	MR_TEST_RUN(test_mail_message__broken_headers);
	MR_TEST_RUN(test_mail_message__garbage_never_fails);
	MR_TEST_RUN(test_mail_message__obsolete_year);
	MR_TEST_RUN(test_mail_message__charsets_in_bodies);
	MR_TEST_RUN(test_mail_message__normalize_subject);
	MR_TEST_RUN(test_mail_message__parse_fd);
	MR_TEST_RUN(test_mail_message__threads);
	mr_mail_shutdown();
	MR_TEST_DONE();
}
