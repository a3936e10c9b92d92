/*
 * export.c — the export of an account (export.h).
 */
#include "mail/export.h"

#include "core/common.h"
#include "mail/model.h"
#include "mail/reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct ex {
	mr_data *d;
	mr_blob *blobs;
	uint32_t account;
	const char *dir;
	mr_export_format format;
	mr_export_result *res;
	/* current mailbox */
	char path[4096]; /* Maildir directory, or the mbox file */
	int mbox_fd;
	mr_buf rec, body, out;
	char tmpname[4200];
} ex;

static int mkdirs(const char *path)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return mr_error_set_errno(MR_EIO, errno, "mkdir %s", p);
		*s = '/';
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		return mr_error_set_errno(MR_EIO, errno, "mkdir %s", p);
	return 0;
}

/* A mailbox name as a relative path: every level must be a plain name. */
static int mailbox_path(const char *name, mr_export_format format, char *out, size_t cap)
{
	size_t o = 0;
	const char *p = name;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || p[0] == '.' || (format == MR_EXPORT_MAILDIR && ((n == 3 && (!memcmp(p, "cur", 3) ||
			!memcmp(p, "new", 3) || !memcmp(p, "tmp", 3))))))
			return mr_error_set(MR_EINVALID, "mailbox \"%s\" cannot be written as a path (level \"%.*s\")", name,
					    (int)n, p);
		const char *suffix = format == MR_EXPORT_MBOX && slash ? ".sbd/" : (slash ? "/" : "");
		int w = snprintf(out + o, cap - o, "%.*s%s", (int)n, p, suffix);
		if (w < 0 || (size_t)w >= cap - o)
			return mr_error_set(MR_ELIMIT, "mailbox \"%s\": path too long", name);
		o += (size_t)w;
		if (!slash)
			break;
		p = slash + 1;
	}
	if (format == MR_EXPORT_MBOX) {
		int w = snprintf(out + o, cap - o, ".mbox");
		if (w < 0 || (size_t)w >= cap - o)
			return mr_error_set(MR_ELIMIT, "mailbox \"%s\": path too long", name);
	}
	return 0;
}

static void flag_letters(unsigned f, const char *kw, char *out, size_t cap)
{
	size_t o = 0;
	static const struct {
		unsigned bit;
		char c;
	} l[] = {{MR_MAIL_FLAG_DRAFT, 'D'},   {MR_MAIL_FLAG_FLAGGED, 'F'}, {MR_MAIL_FLAG_PASSED, 'P'},
		 {MR_MAIL_FLAG_REPLIED, 'R'}, {MR_MAIL_FLAG_SEEN, 'S'},    {MR_MAIL_FLAG_TRASHED, 'T'}};
	for (size_t i = 0; i < MR_ARRAY_LEN(l) && o + 1 < cap; i++)
		if (f & l[i].bit)
			out[o++] = l[i].c;
	for (; kw && *kw && o + 1 < cap; kw++)
		out[o++] = *kw;
	out[o] = 0;
}

static int write_all(int fd, const uint8_t *p, size_t n, const char *what)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return mr_error_set_errno(errno == ENOSPC ? MR_ELIMIT : MR_EIO, errno, "write %s", what);
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int export_maildir_msg(ex *x, const mr_email *e, uint32_t uid)
{
	char flags[80], final[4300];
	flag_letters(e->flags, e->keywords, flags, sizeof(flags));
	snprintf(x->tmpname, sizeof(x->tmpname), "%s/tmp/%lld.M%uU%u.mailroom", x->path, (long long)e->received_at,
		 e->id, uid);
	snprintf(final, sizeof(final), "%s/cur/%lld.M%uU%u.mailroom:2,%s", x->path, (long long)e->received_at, e->id,
		 uid, flags);
	int fd = open(x->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return mr_error_set_errno(MR_EIO, errno, "create %s", x->tmpname);
	int rc = mr_blob_get_fd(x->blobs, &e->blob, fd, MR_BLOB_VERIFY);
	if (rc == 0) {
		struct timespec ts[2] = {{e->received_at, 0}, {e->received_at, 0}};
		if (futimens(fd, ts) != 0)
			rc = mr_error_set_errno(MR_EIO, errno, "set the time of %s", x->tmpname);
	}
	if (close(fd) != 0 && rc == 0)
		rc = mr_error_set_errno(MR_EIO, errno, "close %s", x->tmpname);
	if (rc == 0 && rename(x->tmpname, final) != 0)
		rc = mr_error_set_errno(MR_EIO, errno, "rename %s", x->tmpname);
	if (rc) {
		unlink(x->tmpname);
		mr_error_prefix("email %u: ", e->id);
	}
	return rc;
}

/* mboxrd: every line matching ^>*From  gets one more '>'. */
static int mboxrd_escape(mr_buf *out, const uint8_t *p, size_t n, bool *exact)
{
	size_t i = 0;
	int rc = 0;
	while (i < n && rc == 0) {
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - p) + 1 : n;
		size_t j = i;
		while (j < end && p[j] == '>')
			j++;
		if (end - j >= 5 && memcmp(p + j, "From ", 5) == 0)
			rc = mr_buf_put(out, ">", 1);
		if (rc == 0)
			rc = mr_buf_put(out, p + i, end - i);
		i = end;
	}
	*exact = n > 0 && p[n - 1] == '\n';
	if (rc == 0 && !*exact)
		rc = mr_buf_put(out, "\n", 1);
	return rc ? rc : mr_buf_put(out, "\n", 1); /* the empty line before the next From_ line */
}

static int export_mbox_msg(ex *x, const mr_email *e)
{
	mr_buf_clear(&x->body);
	int rc = mr_blob_get(x->blobs, &e->blob, 0, UINT64_MAX, MR_BLOB_VERIFY, &x->body);
	if (rc)
		return mr_error_prefix("email %u: ", e->id), rc;
	time_t t = (time_t)e->received_at;
	struct tm tm;
	char date[64];
	if (!gmtime_r(&t, &tm) || strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		snprintf(date, sizeof(date), "Thu Jan  1 00:00:00 1970");
	mr_buf_clear(&x->out);
	bool exact = true;
	if ((rc = mr_buf_printf(&x->out, "From MAILER-DAEMON %s\n", date)) == 0)
		rc = mboxrd_escape(&x->out, x->body.ptr, x->body.len, &exact);
	if (rc == 0)
		rc = write_all(x->mbox_fd, x->out.ptr, x->out.len, x->path);
	if (!exact)
		x->res->not_exact++;
	return rc;
}

static int member(uint32_t uid, uint32_t email, uint64_t modseq, void *payload)
{
	(void)modseq;
	ex *x = payload;
	mr_email e;
	int rc = mr_model_email_get(x->d, x->account, email, &e, &x->rec);
	if (rc == 0)
		rc = x->format == MR_EXPORT_MAILDIR ? export_maildir_msg(x, &e, uid) : export_mbox_msg(x, &e);
	if (rc == 0) {
		x->res->messages++;
		x->res->bytes += e.size;
	}
	return rc;
}

static int mailbox(const mr_mailbox_info *mb, void *payload)
{
	ex *x = payload;
	char rel[2048];
	int rc = mailbox_path(mb->name, x->format, rel, sizeof(rel));
	if (rc)
		return rc;
	int n = snprintf(x->path, sizeof(x->path), "%s/%s", x->dir, rel);
	if (n < 0 || (size_t)n >= sizeof(x->path))
		return mr_error_set(MR_ELIMIT, "path too long for mailbox \"%s\"", mb->name);
	if (x->format == MR_EXPORT_MAILDIR) {
		char sub[4200];
		for (int i = 0; i < 3 && rc == 0; i++) {
			snprintf(sub, sizeof(sub), "%s/%s", x->path, i == 0 ? "cur" : i == 1 ? "new" : "tmp");
			rc = mkdirs(sub);
		}
		if (rc)
			return rc;
		rc = mr_model_mailbox_members(x->d, x->account, mb->id, member, x);
	} else {
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s", x->path);
		char *slash = strrchr(parent, '/');
		if (slash) {
			*slash = 0;
			if ((rc = mkdirs(parent)) != 0)
				return rc;
		}
		x->mbox_fd = open(x->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (x->mbox_fd < 0)
			return mr_error_set_errno(MR_EIO, errno, "create %s", x->path);
		rc = mr_model_mailbox_members(x->d, x->account, mb->id, member, x);
		if (close(x->mbox_fd) != 0 && rc == 0)
			rc = mr_error_set_errno(MR_EIO, errno, "close %s", x->path);
		x->mbox_fd = -1;
	}
	if (rc == 0)
		x->res->mailboxes++;
	return rc;
}

int mr_export_run(mr_data *d, mr_blob *blobs, const char *account, const char *dir, mr_export_format format,
		  mr_export_result *res)
{
	memset(res, 0, sizeof(*res));
	uint32_t acct = 0;
	int rc = mr_model_account(d, account, false, &acct, NULL);
	if (rc)
		return rc;
	DIR *dd = opendir(dir);
	if (dd) {
		struct dirent *de;
		bool empty = true;
		while ((de = readdir(dd)) != NULL)
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				empty = false;
		closedir(dd);
		if (!empty)
			return mr_error_set(MR_EEXISTS, "%s is not empty; export writes into a new or empty directory", dir);
	} else if (errno != ENOENT) {
		return mr_error_set_errno(MR_EIO, errno, "%s", dir);
	} else if ((rc = mkdirs(dir)) != 0) {
		return rc;
	}
	ex x = {.d = d, .blobs = blobs, .account = acct, .dir = dir, .format = format, .res = res, .mbox_fd = -1};
	rc = mr_model_mailboxes(d, acct, mailbox, &x);
	mr_buf_dispose(&x.rec);
	mr_buf_dispose(&x.body);
	mr_buf_dispose(&x.out);
	return rc;
}
