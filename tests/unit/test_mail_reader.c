/*
 * Unit tests of src/mail/reader.c: Maildir flags, a nested Maildir tree with
 * Maildir++ folders, a directory of several Maildirs plus mbox and loose
 * files, mboxrd / mboxo unescaping against fixtures and in generated round
 * trips, From_ line dates and splitting rules, errors that name the file
 * and let iteration continue.  Fixtures: tests/data/mail/{maildir-tree,multi,mbox}.
 */
#include "core/common.h"
#include "harness.h"
#include "mail/reader.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static char data_dir[4096];

static void find_data_dir(void) { mr_test_data_dir(data_dir, sizeof data_dir, __FILE__, "mail"); }

static const char *fixture(const char *rel)
{
	static char path[4200];
	snprintf(path, sizeof(path), "%s/%s", data_dir, rel);
	return path;
}

static int slurp(mr_buf *out, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return mr_error_set(MR_ENOTFOUND, "%s not found", path);
	char chunk[4096];
	size_t n;
	int rc = 0;
	mr_buf_clear(out);
	while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = mr_buf_put(out, chunk, n);
	fclose(f);
	return rc;
}

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return mr_error_set(MR_EIO, "cannot write %s", path);
	size_t w = n ? fwrite(p, 1, n, f) : 0;
	fclose(f);
	return w == n ? 0 : mr_error_set(MR_EIO, "short write %s", path);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static void test_mail_reader__maildir_flags(void)
{
	static const struct {
		const char *name;
		unsigned flags;
		const char *keywords;
	} cases[] = {
		{"1234.M1.host:2,S", MR_MAIL_FLAG_SEEN, ""},
		{"1234.M1.host:2,DFPRST",
		 MR_MAIL_FLAG_DRAFT | MR_MAIL_FLAG_FLAGGED | MR_MAIL_FLAG_PASSED | MR_MAIL_FLAG_REPLIED |
			 MR_MAIL_FLAG_SEEN | MR_MAIL_FLAG_TRASHED,
		 ""},
		{"1234.M1.host:2,", 0, ""},
		{"1234.M1.host", 0, ""},
		{"1234.M1.host:2,Fab", MR_MAIL_FLAG_FLAGGED, "ab"},
		{"1234.M1.host:1,S", 0, ""},               /* experimental info: no flags */
		{"1234.M1.host,S=4242:2,RS", MR_MAIL_FLAG_REPLIED | MR_MAIL_FLAG_SEEN, ""}, /* size field kept out */
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(cases); i++) {
		unsigned flags = 99;
		char kw[16];
		mr_mail_maildir_flags(cases[i].name, &flags, kw, sizeof(kw));
		MR_CHECK_EQ_INT(flags, cases[i].flags);
		MR_CHECK_EQ_STR(kw, cases[i].keywords);
	}
}

typedef struct expect {
	const char *mailbox, *file;
	unsigned flags;
	const char *keywords;
	bool recent;
} expect;

static void test_mail_reader__nested_maildir_tree(void)
{
	static const expect want[] = {
		{"INBOX", "1000000001.M1P1.host:2,S", MR_MAIL_FLAG_SEEN, "", false},
		{"INBOX", "1000000002.M2P1.host:2,FPRST",
		 MR_MAIL_FLAG_FLAGGED | MR_MAIL_FLAG_PASSED | MR_MAIL_FLAG_REPLIED | MR_MAIL_FLAG_SEEN | MR_MAIL_FLAG_TRASHED,
		 "", false},
		{"INBOX", "1000000003.M3P1.host:2,Dab", MR_MAIL_FLAG_DRAFT, "ab", false},
		{"INBOX", "1000000004.M4P1.host", 0, "", false},
		{"INBOX", "1000000005.M5P1.host", 0, "", true},
		{"Ärger", "1000000008.M8P1.host:2,", 0, "", false},
		{"Lists/linux", "1000000007.M7P1.host:2,R", MR_MAIL_FLAG_REPLIED, "", false},
		{"Sent", "1000000006.M6P1.host:2,S", MR_MAIL_FLAG_SEEN, "", false},
		{"archive", "1000000009.M9P1.host:2,S", MR_MAIL_FLAG_SEEN, "", false},
		{"archive/2003", "1000000010.M10P1.host:2,S", MR_MAIL_FLAG_SEEN, "", false},
	};
	mr_mail_reader *r = NULL;
	MR_CHECK_OK(mr_mail_reader_open(&r, fixture("maildir-tree"), NULL));
	size_t n = 0;
	mr_buf raw = MR_BUF_INIT;
	for (;;) {
		const mr_mail_item *it = NULL;
		MR_CHECK_OK(mr_mail_reader_next(r, &it));
		if (!it)
			break;
		MR_CHECK(n < MR_ARRAY_LEN(want));
		MR_CHECK_EQ_STR(it->mailbox, want[n].mailbox);
		MR_CHECK_EQ_STR(base(it->path), want[n].file);
		MR_CHECK_EQ_INT(it->flags, want[n].flags);
		MR_CHECK_EQ_STR(it->keywords, want[n].keywords);
		MR_CHECK_EQ_INT(it->recent, want[n].recent);
		MR_CHECK_EQ_INT(it->kind, MR_MAIL_SOURCE_MAILDIR);
		MR_CHECK(it->has_internal_date && it->internal_date > 0);
		MR_CHECK(it->mbox_from == NULL);
		/* byte-exact */
		MR_CHECK_OK(slurp(&raw, it->path));
		MR_CHECK(raw.len == it->bytes.len && memcmp(raw.ptr, it->bytes.ptr, raw.len) == 0);
		n++;
	}
	MR_CHECK_EQ_INT(n, MR_ARRAY_LEN(want));
	MR_CHECK_EQ_INT(mr_mail_reader_skipped(r), 0);
	mr_mail_reader_free(r);

	/* a root mailbox name given: sub-folders go below it */
	mr_mail_reader_options o = {.mailbox = "Old"};
	MR_CHECK_OK(mr_mail_reader_open(&r, fixture("maildir-tree"), &o));
	const char *last = NULL;
	const mr_mail_item *it = NULL;
	n = 0;
	while (mr_mail_reader_next(r, &it) == 0 && it) {
		if (n == 0)
			MR_CHECK_EQ_STR(it->mailbox, "Old");
		if (n == 6)
			MR_CHECK_EQ_STR(it->mailbox, "Old/Lists/linux");
		last = it->mailbox;
		n++;
	}
	MR_CHECK_EQ_INT(n, MR_ARRAY_LEN(want));
	MR_CHECK_EQ_STR(last, "Old/archive/2003");
	mr_mail_reader_free(r);
	mr_buf_dispose(&raw);
}

static void test_mail_reader__several_maildirs_and_files(void)
{
	static const struct {
		const char *mailbox, *subject;
		mr_mail_source_kind kind;
	} want[] = {
		{"Folders/Work", "thunderbird child", MR_MAIL_SOURCE_MBOX},
		{"alpha", "alpha one", MR_MAIL_SOURCE_MAILDIR},
		{"alpha", "alpha two", MR_MAIL_SOURCE_MAILDIR},
		{"beta", "beta new", MR_MAIL_SOURCE_MAILDIR},
		{"INBOX", "loose eml", MR_MAIL_SOURCE_FILE},
		{"old", "mbox one", MR_MAIL_SOURCE_MBOX},
		{"old", "mbox two", MR_MAIL_SOURCE_MBOX},
	};
	mr_mail_reader *r = NULL;
	MR_CHECK_OK(mr_mail_reader_open(&r, fixture("multi"), NULL));
	size_t n = 0;
	const mr_mail_item *it = NULL;
	while (mr_mail_reader_next(r, &it) == 0 && it) {
		MR_CHECK(n < MR_ARRAY_LEN(want));
		MR_CHECK_EQ_STR(it->mailbox, want[n].mailbox);
		MR_CHECK_EQ_INT(it->kind, want[n].kind);
		char subject[128];
		snprintf(subject, sizeof(subject), "Subject: %s\n", want[n].subject);
		MR_CHECK(memmem(it->bytes.ptr, it->bytes.len, subject, strlen(subject)) != NULL);
		if (it->kind == MR_MAIL_SOURCE_MBOX) {
			MR_CHECK(it->mbox_from != NULL);
			MR_CHECK(it->has_internal_date);
			/* the blank separator line is not part of the message */
			MR_CHECK(it->bytes.len >= 2 && memcmp(it->bytes.ptr + it->bytes.len - 2, "\n\n", 2) != 0);
		}
		n++;
	}
	MR_CHECK_EQ_INT(n, MR_ARRAY_LEN(want));
	MR_CHECK_EQ_INT(mr_mail_reader_skipped(r), 1); /* README.txt */
	mr_mail_reader_free(r);

	/* all_files: README.txt is read as a message too */
	mr_mail_reader_options o = {.all_files = true};
	MR_CHECK_OK(mr_mail_reader_open(&r, fixture("multi"), &o));
	n = 0;
	while (mr_mail_reader_next(r, &it) == 0 && it)
		n++;
	MR_CHECK_EQ_INT(n, MR_ARRAY_LEN(want) + 1);
	MR_CHECK_EQ_INT(mr_mail_reader_skipped(r), 0);
	mr_mail_reader_free(r);
}

static void test_mail_reader__mbox_fixtures(void)
{
	mr_buf e1 = MR_BUF_INIT, e2 = MR_BUF_INIT;
	MR_CHECK_OK(slurp(&e1, fixture("mbox/expected-1.eml")));
	MR_CHECK_OK(slurp(&e2, fixture("mbox/expected-2.eml")));

	mr_mail_reader *r = NULL;
	MR_CHECK_OK(mr_mail_reader_open(&r, fixture("mbox/mboxrd.mbox"), NULL));
	const mr_mail_item *it = NULL;
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it != NULL);
	MR_CHECK_EQ_STR(it->mailbox, "mboxrd");
	MR_CHECK_EQ_INT(it->mbox_number, 1);
	MR_CHECK_EQ_INT(it->mbox_offset, 0);
	MR_CHECK_EQ_STR(it->mbox_from, "From a@example.org Mon Feb  2 10:00:00 2004");
	MR_CHECK(it->has_internal_date);
	MR_CHECK_EQ_INT(it->internal_date, 1075716000);
	MR_CHECK(it->bytes.len == e1.len && memcmp(it->bytes.ptr, e1.ptr, e1.len) == 0);
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it != NULL);
	MR_CHECK_EQ_INT(it->mbox_number, 2);
	MR_CHECK_EQ_INT(it->internal_date, 1075716001);
	MR_CHECK(it->bytes.len == e2.len && memcmp(it->bytes.ptr, e2.ptr, e2.len) == 0);
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it == NULL);
	mr_mail_reader_free(r);

	/* mboxo: ">From " cannot be told from an escaped "From ", so it comes back unescaped */
	mr_mail_reader_options o = {.mbox_format = MR_MBOX_MBOXO};
	MR_CHECK_OK(mr_mail_reader_open(&r, fixture("mbox/mboxo.mbox"), &o));
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it != NULL);
	static const char want1[] = "From: a@example.org\nSubject: one\nMessage-ID: <m1@example.org>\n\n"
				    "From the start.\nFrom quoted once.\n>>From quoted twice.\nend\n";
	MR_CHECK(it->bytes.len == strlen(want1) && memcmp(it->bytes.ptr, want1, it->bytes.len) == 0);
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it->bytes.len == e2.len && memcmp(it->bytes.ptr, e2.ptr, e2.len) == 0);
	mr_mail_reader_free(r);

	/* raw: nothing unescaped */
	o.mbox_format = MR_MBOX_RAW;
	MR_CHECK_OK(mr_mail_reader_open(&r, fixture("mbox/mboxrd.mbox"), &o));
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(memmem(it->bytes.ptr, it->bytes.len, "\n>>>From quoted twice.\n", 23) != NULL);
	mr_mail_reader_free(r);
	mr_buf_dispose(&e1);
	mr_buf_dispose(&e2);
}

/* An mbox writer for the round trip: From_ line, escaped content, a line end if missing, an empty line. */
static int mbox_write(mr_buf *out, const char *const *msgs, size_t n, mr_mbox_format fmt)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = mr_buf_printf(out, "From sender%zu@example.org Thu Mar  4 05:06:%02zu 2010\n", i, i % 60);
		const char *p = msgs[i];
		while (*p && !rc) {
			const char *eol = strchr(p, '\n');
			size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);
			size_t k = 0;
			while (k < len && p[k] == '>')
				k++;
			bool from = len - k >= 5 && memcmp(p + k, "From ", 5) == 0;
			if (from && (fmt == MR_MBOX_MBOXRD || k == 0))
				rc = mr_buf_put(out, ">", 1);
			if (!rc)
				rc = mr_buf_put(out, p, len);
			p += len;
		}
		if (!rc && (msgs[i][0] == '\0' || msgs[i][strlen(msgs[i]) - 1] != '\n'))
			rc = mr_buf_put(out, "\n", 1);
		if (!rc)
			rc = mr_buf_put(out, "\n", 1);
	}
	return rc;
}

static void test_mail_reader__mbox_round_trip(void)
{
	static const char *const rd_msgs[] = {
		"Subject: a\n\nFrom here on.\n>From once\n>>From twice\n>>>>From four\n>not from\n",
		"Subject: b\n\nends with an empty line\n\n",
		"Subject: c\r\n\r\nCRLF body\r\nFrom CRLF line\r\n",
		"Subject: d\n\nFrom MAILER-DAEMON Mon Jan  1 00:00:00 2001\nlooks like a From_ line, escaped\n",
		"Subject: e\n\n",
		"Subject: f\n\nFrom \nFrom\n>From\n",
	};
	static const char *const o_msgs[] = {
		"Subject: a\n\nFrom here on.\n>>From twice stays\n",
		"Subject: b\n\nFrom MAILER-DAEMON Mon Jan  1 00:00:00 2001\n\nFrom x\n",
	};
	char dir[] = "/tmp/mr-test-mbox-XXXXXX";
	MR_CHECK(mkdtemp(dir) != NULL);
	char path[256];
	for (int fmt = 0; fmt < 2; fmt++) {
		const char *const *msgs = fmt == 0 ? rd_msgs : o_msgs;
		size_t n = fmt == 0 ? MR_ARRAY_LEN(rd_msgs) : MR_ARRAY_LEN(o_msgs);
		mr_mail_reader_options o = {.mbox_format = fmt == 0 ? MR_MBOX_MBOXRD : MR_MBOX_MBOXO};
		mr_buf file = MR_BUF_INIT;
		MR_CHECK_OK(mbox_write(&file, msgs, n, o.mbox_format));
		snprintf(path, sizeof(path), "%s/rt%d.mbox", dir, fmt);
		MR_CHECK_OK(write_file(path, file.ptr, file.len));
		mr_buf_dispose(&file);
		mr_mail_reader *r = NULL;
		MR_CHECK_OK(mr_mail_reader_open(&r, path, &o));
		size_t got = 0;
		const mr_mail_item *it = NULL;
		while (mr_mail_reader_next(r, &it) == 0 && it) {
			MR_CHECK(got < n);
			if (it->bytes.len != strlen(msgs[got]) || memcmp(it->bytes.ptr, msgs[got], it->bytes.len) != 0)
				fprintf(stderr, "format %d message %zu: got \"%.*s\"\n", fmt, got, (int)it->bytes.len,
					(const char *)it->bytes.ptr);
			MR_CHECK(it->bytes.len == strlen(msgs[got]) && memcmp(it->bytes.ptr, msgs[got], it->bytes.len) == 0);
			MR_CHECK_EQ_INT(it->mbox_number, got + 1);
			got++;
		}
		MR_CHECK_EQ_INT(got, n);
		mr_mail_reader_free(r);
	}

	/* streaming a larger mbox: every message comes out whole, one at a time */
	mr_buf big = MR_BUF_INIT;
	for (int i = 0; i < 3000; i++)
		MR_CHECK_OK(mr_buf_printf(&big, "From x@y Thu Mar  4 05:06:07 2010\nSubject: %d\n\n%0900d\n\n", i, i));
	snprintf(path, sizeof(path), "%s/big.mbox", dir);
	MR_CHECK_OK(write_file(path, big.ptr, big.len));
	mr_buf_dispose(&big);
	mr_mail_reader *r = NULL;
	MR_CHECK_OK(mr_mail_reader_open(&r, path, NULL));
	const mr_mail_item *it = NULL;
	int count = 0;
	uint64_t last_off = 0;
	while (mr_mail_reader_next(r, &it) == 0 && it) {
		char want[32];
		int wn = snprintf(want, sizeof(want), "Subject: %d\n", count);
		MR_CHECK(it->bytes.len > (size_t)wn && memcmp(it->bytes.ptr, want, (size_t)wn) == 0);
		MR_CHECK(count == 0 || it->mbox_offset > last_off);
		last_off = it->mbox_offset;
		count++;
	}
	MR_CHECK_EQ_INT(count, 3000);
	mr_mail_reader_free(r);
	rm_tree(dir);
}

static void test_mail_reader__from_lines(void)
{
	int64_t t = 0;
	MR_CHECK(mr_mail_mbox_from_date("From - Mon Jun  3 12:50:27 1996", 31, &t));
	MR_CHECK_EQ_INT(t, 833806227);
	const char *l = "From MAILER-DAEMON Mon 1 Jan 2015 00:00:00 +0900";
	MR_CHECK(mr_mail_mbox_from_date(l, strlen(l), &t));
	MR_CHECK_EQ_INT(t, 1420038000);
	l = "From a@b Sat Jan  3 01:05:34 2004\r\n";
	MR_CHECK(mr_mail_mbox_from_date(l, strlen(l), &t));
	MR_CHECK_EQ_INT(t, 1073091934);
	MR_CHECK(!mr_mail_mbox_from_date("From - ", 7, &t));
	l = "From 1844347792267117879@xxx";
	MR_CHECK(!mr_mail_mbox_from_date(l, strlen(l), &t));
	l = "From the desk of the president";
	MR_CHECK(!mr_mail_mbox_from_date(l, strlen(l), &t));

	/* splitting: a From_ line without a blank line before it splits only when it carries a
	 * date or a header field follows it */
	char dir[] = "/tmp/mr-test-from-XXXXXX";
	MR_CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/split", dir);
	static const char content[] = "From - \nSubject: one\n\nbody\nFrom the desk of someone\nstill one\n"
				      "From - \nSubject: two\n\nFrom x Mon Jun  3 12:50:27 1996\nthree\n";
	MR_CHECK_OK(write_file(path, content, sizeof(content) - 1));
	mr_mail_reader *r = NULL;
	MR_CHECK_OK(mr_mail_reader_open(&r, path, NULL));
	const mr_mail_item *it = NULL;
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	static const char one[] = "Subject: one\n\nbody\nFrom the desk of someone\nstill one\n";
	MR_CHECK(it && it->bytes.len == sizeof(one) - 1 && memcmp(it->bytes.ptr, one, it->bytes.len) == 0);
	MR_CHECK_EQ_STR(it->mailbox, "split");
	MR_CHECK(!it->has_internal_date);
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	static const char two[] = "Subject: two\n";
	MR_CHECK(it && it->bytes.len == sizeof(two) - 1 && memcmp(it->bytes.ptr, two, it->bytes.len) == 0);
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it && it->bytes.len == 6 && memcmp(it->bytes.ptr, "three\n", 6) == 0);
	MR_CHECK_EQ_INT(it->mbox_number, 3);
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it == NULL);
	mr_mail_reader_free(r);

	/* a file that does not start with a From_ line: its first message has none */
	snprintf(path, sizeof(path), "%s/inbox.mbox", dir);
	static const char nofrom[] = "Subject: no From_\n\nx\n\nFrom a Mon Jun  3 12:50:27 1996\nSubject: b\n\ny\n";
	MR_CHECK_OK(write_file(path, nofrom, sizeof(nofrom) - 1));
	MR_CHECK_OK(mr_mail_reader_open(&r, path, NULL));
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it && it->mbox_from == NULL && it->bytes.len == 21);
	MR_CHECK_EQ_STR(it->mailbox, "INBOX");
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it && it->mbox_from != NULL && it->mbox_number == 2);
	mr_mail_reader_free(r);

	/* options.mbox: a file without a From_ line or extension is still an mbox */
	snprintf(path, sizeof(path), "%s/plain", dir);
	MR_CHECK_OK(write_file(path, "Subject: p\n\nbody\n", 17));
	mr_mail_reader_options forced = {.mbox = true};
	MR_CHECK_OK(mr_mail_reader_open(&r, path, &forced));
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it && it->kind == MR_MAIL_SOURCE_MBOX && it->mbox_number == 1 && it->bytes.len == 17);
	MR_CHECK_EQ_STR(it->mailbox, "plain");
	mr_mail_reader_free(r);
	MR_CHECK_OK(mr_mail_reader_open(&r, path, NULL));
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it && it->kind == MR_MAIL_SOURCE_FILE);
	mr_mail_reader_free(r);

	/* an empty mbox has no messages */
	snprintf(path, sizeof(path), "%s/empty.mbox", dir);
	MR_CHECK_OK(write_file(path, "", 0));
	MR_CHECK_OK(mr_mail_reader_open(&r, path, NULL));
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it == NULL);
	mr_mail_reader_free(r);
	rm_tree(dir);
}

static void test_mail_reader__errors_name_the_file(void)
{
	mr_mail_reader *r = NULL;
	MR_CHECK_RC(mr_mail_reader_open(&r, "/nonexistent/mailroom/archive", NULL), MR_ENOTFOUND);
	MR_CHECK(r == NULL);
	MR_CHECK(strstr(mr_error_last()->message, "/nonexistent/mailroom/archive") != NULL);

	/* a Maildir entry that cannot be read: an error naming it, then iteration goes on */
	char dir[] = "/tmp/mr-test-maildir-XXXXXX";
	MR_CHECK(mkdtemp(dir) != NULL);
	char path[512];
	snprintf(path, sizeof(path), "%s/cur", dir);
	MR_CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/cur/1.a:2,S", dir);
	MR_CHECK_OK(write_file(path, "Subject: 1\n\n1\n", 14));
	snprintf(path, sizeof(path), "%s/cur/2.broken:2,S", dir);
	MR_CHECK(symlink("/nonexistent/target", path) == 0);
	snprintf(path, sizeof(path), "%s/cur/3.c:2,", dir);
	MR_CHECK_OK(write_file(path, "Subject: 3\n\n3\n", 14));
	MR_CHECK_OK(mr_mail_reader_open(&r, dir, NULL));
	const mr_mail_item *it = NULL;
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it && strcmp(base(it->path), "1.a:2,S") == 0);
	int rc = mr_mail_reader_next(r, &it);
	MR_CHECK(rc == MR_ENOTFOUND || rc == MR_EIO);
	MR_CHECK(it == NULL);
	MR_CHECK(strstr(mr_error_last()->message, "2.broken:2,S") != NULL);
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it && strcmp(base(it->path), "3.c:2,") == 0);
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it == NULL);
	mr_mail_reader_free(r);

	/* a single message file as the root */
	MR_CHECK_OK(mr_mail_reader_open(&r, path, NULL));
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it && it->kind == MR_MAIL_SOURCE_FILE && it->bytes.len == 14);
	MR_CHECK_EQ_STR(it->mailbox, "INBOX");
	MR_CHECK_OK(mr_mail_reader_next(r, &it));
	MR_CHECK(it == NULL);
	mr_mail_reader_free(r);
	rm_tree(dir);
}

int main(void)
{
	find_data_dir();
	MR_TEST_RUN(test_mail_reader__maildir_flags);
	MR_TEST_RUN(test_mail_reader__nested_maildir_tree);
	MR_TEST_RUN(test_mail_reader__several_maildirs_and_files);
	MR_TEST_RUN(test_mail_reader__mbox_fixtures);
	MR_TEST_RUN(test_mail_reader__mbox_round_trip);
	MR_TEST_RUN(test_mail_reader__from_lines);
	MR_TEST_RUN(test_mail_reader__errors_name_the_file);
	MR_TEST_DONE();
}
