/*
 * reader.c — walks a mail archive on disk and yields its messages one at a
 * time: Maildir (cur/ and new/, flags from the ":2," suffix, Maildir++
 * folders), trees of Maildirs, mbox files (mboxrd / mboxo / raw, streamed
 * line by line), single message files and plain directories of them.
 * Implements reader.h; the naming and splitting rules are documented there.
 * It reads and names things; parsing (message.c) and storing (import) are
 * left to its callers.
 */
#include "core/common.h"
#include "mail/reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READER_MAX_DEPTH 64 /* directory levels followed (guards symlink loops) */

typedef enum task_kind {
	TASK_DIR,     /* expand: a Maildir or a plain directory */
	TASK_MAILDIR, /* list cur/ and new/ of one Maildir */
	TASK_MBOX,    /* open and split an mbox */
	TASK_FILE,    /* one message file */
} task_kind;

typedef struct reader_task {
	task_kind kind;
	char *path;
	char *mailbox; /* the mailbox of messages found directly here */
	char *prefix;  /* what names of mailboxes below start with ("" at the top) */
	int depth;
} reader_task;

struct mr_mail_reader {
	mr_mail_reader_options options;
	reader_task *stack;
	size_t count, cap;
	bool root_is_maildir;

	/* the Maildir being listed */
	char **files; /* "cur/name" or "new/name" */
	size_t nfiles, next_file;
	char *md_path, *md_mailbox;

	/* the mbox being split */
	FILE *mbox;
	char *mbox_path, *mbox_mailbox;
	uint64_t mbox_number; /* messages yielded */
	uint64_t pos;         /* file offset of the next unread line */
	char *line;           /* getline buffer */
	size_t line_cap;
	mr_buf pushback;      /* one line read ahead and given back */
	bool has_pushback;
	uint64_t pushback_pos;
	bool pending_from;    /* `from` holds the From_ line of the next message */
	uint64_t pending_pos;
	bool mbox_started;
	mr_buf from, item_from;

	/* the current item */
	mr_mail_item item;
	mr_buf bytes, path, mailbox, keywords;
	uint64_t skipped;
};

/* ---------------------------------------------------------------- small helpers */

static char *path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = mr_malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	size_t n = a;
	if (n == 0 || p[n - 1] != '/')
		p[n++] = '/';
	memcpy(p + n, name, b + 1);
	return p;
}

static char *name_join(const char *prefix, const char *name)
{
	if (!prefix || !*prefix)
		return mr_strdup(name);
	return path_join(prefix, name);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_maildir(const char *path)
{
	char *cur = path_join(path, "cur"), *nw = path_join(path, "new");
	bool yes = cur && nw && (is_dir(cur) || is_dir(nw));
	mr_free(cur);
	mr_free(nw);
	return yes;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted entry names of a directory, without "." and ".."; *n gets the count. */
static int list_dir(char ***out, size_t *n, const char *path)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(path);
	if (!d)
		return mr_error_set_errno(errno == ENOENT ? MR_ENOTFOUND : MR_EIO, errno, "open directory %s", path);
	char **names = NULL;
	size_t count = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **nn = mr_realloc(names, ncap * sizeof(*names));
			if (!nn) {
				rc = MR_ENOMEM;
				break;
			}
			names = nn;
			cap = ncap;
		}
		if (!(names[count] = mr_strdup(e->d_name))) {
			rc = MR_ENOMEM;
			break;
		}
		count++;
		errno = 0;
	}
	if (!rc && errno)
		rc = mr_error_set_errno(MR_EIO, errno, "read directory %s", path);
	closedir(d);
	if (rc) {
		for (size_t i = 0; i < count; i++)
			mr_free(names[i]);
		mr_free(names);
		return rc;
	}
	if (count)
		qsort(names, count, sizeof(*names), cmp_names);
	*out = names;
	*n = count;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mr_free(names[i]);
	mr_free(names);
}

/* Decodes IMAP modified UTF-7 ("&AOQ-" → "ä", "&-" → "&"); false when malformed. */
static bool mutf7_decode(mr_buf *out, const char *s)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
	mr_buf_clear(out);
	for (size_t i = 0; s[i];) {
		if (s[i] != '&') {
			if (mr_buf_put(out, &s[i], 1))
				return false;
			i++;
			continue;
		}
		i++;
		if (s[i] == '-') {
			if (mr_buf_put(out, "&", 1))
				return false;
			i++;
			continue;
		}
		uint32_t bits = 0, hi = 0;
		int nbits = 0;
		while (s[i] && s[i] != '-') {
			const char *q = strchr(b64, s[i]);
			if (!q)
				return false;
			bits = (bits << 6) | (uint32_t)(q - b64);
			nbits += 6;
			if (nbits >= 16) {
				nbits -= 16;
				uint32_t u = (bits >> nbits) & 0xFFFF;
				if (u >= 0xD800 && u <= 0xDBFF) {
					if (hi)
						return false;
					hi = u;
					continue;
				}
				uint32_t cp = u;
				if (u >= 0xDC00 && u <= 0xDFFF) {
					if (!hi)
						return false;
					cp = 0x10000 + ((hi - 0xD800) << 10) + (u - 0xDC00);
					hi = 0;
				} else if (hi) {
					return false;
				}
				char enc[4];
				size_t n;
				if (cp < 0x80) {
					enc[0] = (char)cp;
					n = 1;
				} else if (cp < 0x800) {
					enc[0] = (char)(0xC0 | (cp >> 6));
					enc[1] = (char)(0x80 | (cp & 0x3F));
					n = 2;
				} else if (cp < 0x10000) {
					enc[0] = (char)(0xE0 | (cp >> 12));
					enc[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
					enc[2] = (char)(0x80 | (cp & 0x3F));
					n = 3;
				} else {
					enc[0] = (char)(0xF0 | (cp >> 18));
					enc[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
					enc[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
					enc[3] = (char)(0x80 | (cp & 0x3F));
					n = 4;
				}
				if (mr_buf_put(out, enc, n))
					return false;
			}
			i++;
		}
		if (s[i] != '-' || hi)
			return false;
		i++;
	}
	return mr_buf_put(out, "", 0) == 0;
}

/* ---------------------------------------------------------------- the task stack */

static int push_task(mr_mail_reader *r, task_kind kind, const char *path, const char *mailbox, const char *prefix,
		     int depth)
{
	if (r->count == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		reader_task *ns = mr_realloc(r->stack, ncap * sizeof(*ns));
		if (!ns)
			return MR_ENOMEM;
		r->stack = ns;
		r->cap = ncap;
	}
	reader_task *t = &r->stack[r->count];
	*t = (reader_task){.kind = kind, .depth = depth};
	t->path = mr_strdup(path);
	t->mailbox = mr_strdup(mailbox);
	t->prefix = mr_strdup(prefix ? prefix : "");
	if (!t->path || !t->mailbox || !t->prefix) {
		mr_free(t->path);
		mr_free(t->mailbox);
		mr_free(t->prefix);
		return MR_ENOMEM;
	}
	r->count++;
	return 0;
}

static void task_dispose(reader_task *t)
{
	mr_free(t->path);
	mr_free(t->mailbox);
	mr_free(t->prefix);
}

/* ---------------------------------------------------------------- classification */

/* True when the first line looks like a header field or an mbox From_ line. */
static bool looks_like_mail(const char *head, size_t n)
{
	if (n >= 5 && memcmp(head, "From ", 5) == 0)
		return true;
	size_t i = 0;
	while (i < n && head[i] > 32 && head[i] < 127 && head[i] != ':')
		i++;
	if (i == 0)
		return false;
	while (i < n && (head[i] == ' ' || head[i] == '\t'))
		i++;
	return i < n && head[i] == ':';
}

typedef enum file_class { FILE_SKIP, FILE_MESSAGE, FILE_MBOX } file_class;

static file_class classify_file(const char *path, const char *name, bool explicit_file, bool all_files)
{
	if (has_suffix(name, ".mbox") || has_suffix(name, ".mbx"))
		return FILE_MBOX;
	char head[512];
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t got;
		while (n < sizeof(head) && (got = read(fd, head + n, sizeof(head) - n)) != 0) {
			if (got < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			n += (size_t)got;
		}
		close(fd);
	}
	if (n >= 5 && memcmp(head, "From ", 5) == 0)
		return FILE_MBOX;
	if (explicit_file || all_files || has_suffix(name, ".eml") || has_suffix(name, ".msg"))
		return FILE_MESSAGE;
	return looks_like_mail(head, n) ? FILE_MESSAGE : FILE_SKIP;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The mailbox name of an mbox file: its name without .mbox/.mbx; "inbox" in any case → "INBOX". */
static char *mbox_mailbox_name(const char *prefix, const char *name)
{
	size_t n = strlen(name);
	if (has_suffix(name, ".mbox"))
		n -= 5;
	else if (has_suffix(name, ".mbx"))
		n -= 4;
	char *stem = mr_strndup(name, n ? n : strlen(name));
	if (!stem)
		return NULL;
	if ((!prefix || !*prefix) && strcasecmp(stem, "inbox") == 0)
		memcpy(stem, "INBOX", 5);
	char *full = name_join(prefix, stem);
	mr_free(stem);
	return full;
}

/* Expands a directory task into tasks for its Maildir, sub-folders, sub-directories and files. */
static int expand_dir(mr_mail_reader *r, const reader_task *t)
{
	if (t->depth >= READER_MAX_DEPTH)
		return mr_error_set(MR_EINVALID, "directory %s: more than %d levels deep (a symlink loop?)", t->path,
				    READER_MAX_DEPTH);
	char **names = NULL;
	size_t n = 0;
	int rc = list_dir(&names, &n, t->path);
	if (rc)
		return rc;
	bool maildir = is_maildir(t->path);
	size_t first = r->count;
	mr_buf decoded = MR_BUF_INIT;
	/* pushed in reverse so the stack pops them in name order; the Maildir itself goes first */
	for (size_t k = n; k-- > 0 && !rc;) {
		const char *name = names[k];
		char *child = path_join(t->path, name);
		if (!child) {
			rc = MR_ENOMEM;
			break;
		}
		struct stat st;
		if (stat(child, &st) != 0) {
			mr_free(child); /* a dangling symlink or a file gone meanwhile */
			continue;
		}
		if (maildir) {
			if (!S_ISDIR(st.st_mode) || strcmp(name, "cur") == 0 || strcmp(name, "new") == 0 ||
			    strcmp(name, "tmp") == 0) {
				mr_free(child); /* files beside cur/new/tmp are the MUA's metadata */
				continue;
			}
			if (name[0] == '.') {
				/* Maildir++ folder ".A.B" → "A/B" */
				if (name[1] && is_maildir(child)) {
					const char *folder = name + 1;
					if (mutf7_decode(&decoded, folder))
						folder = mr_buf_cstr(&decoded);
					char *f = mr_strdup(folder);
					char *mb = NULL;
					if (f) {
						for (char *p = f; *p; p++)
							if (*p == '.')
								*p = '/';
						mb = name_join(t->prefix, f);
					}
					rc = mb ? push_task(r, TASK_MAILDIR, child, mb, mb, t->depth + 1) : MR_ENOMEM;
					mr_free(f);
					mr_free(mb);
				}
				mr_free(child);
				continue;
			}
		} else if (name[0] == '.') {
			mr_free(child);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			size_t len = strlen(name);
			char *stem = has_suffix(name, ".sbd") && len > 4 ? mr_strndup(name, len - 4) : mr_strdup(name);
			char *mb = stem ? name_join(t->prefix, stem) : NULL;
			rc = mb ? push_task(r, TASK_DIR, child, mb, mb, t->depth + 1) : MR_ENOMEM;
			mr_free(stem);
			mr_free(mb);
		} else if (S_ISREG(st.st_mode)) {
			file_class c = classify_file(child, name, false, r->options.all_files);
			if (c == FILE_MBOX) {
				char *mb = mbox_mailbox_name(t->prefix, name);
				rc = mb ? push_task(r, TASK_MBOX, child, mb, mb, t->depth + 1) : MR_ENOMEM;
				mr_free(mb);
			} else if (c == FILE_MESSAGE) {
				rc = push_task(r, TASK_FILE, child, t->mailbox, t->prefix, t->depth + 1);
			} else {
				r->skipped++;
				mr_log(MR_LOG_INFO, "skipping %s: does not look like a message", child);
			}
		}
		mr_free(child);
	}
	if (!rc && maildir)
		rc = push_task(r, TASK_MAILDIR, t->path, t->mailbox, t->prefix, t->depth);
	mr_buf_dispose(&decoded);
	free_names(names, n);
	if (rc) {
		while (r->count > first)
			task_dispose(&r->stack[--r->count]);
	}
	return rc;
}

/* ---------------------------------------------------------------- Maildir */

void mr_mail_maildir_flags(const char *name, unsigned *flags, char *keywords, size_t cap)
{
	*flags = 0;
	size_t k = 0;
	const char *info = strrchr(name, ':');
	if (info && info[1] == '2' && info[2] == ',') {
		for (const char *p = info + 3; *p; p++) {
			switch (*p) {
			case 'D': *flags |= MR_MAIL_FLAG_DRAFT; break;
			case 'F': *flags |= MR_MAIL_FLAG_FLAGGED; break;
			case 'P': *flags |= MR_MAIL_FLAG_PASSED; break;
			case 'R': *flags |= MR_MAIL_FLAG_REPLIED; break;
			case 'S': *flags |= MR_MAIL_FLAG_SEEN; break;
			case 'T': *flags |= MR_MAIL_FLAG_TRASHED; break;
			default:
				if (k + 1 < cap && (unsigned char)*p > 32 && (unsigned char)*p < 127 && *p != ',')
					keywords[k++] = *p;
				break;
			}
		}
	}
	if (cap)
		keywords[k] = '\0';
}

static int list_maildir(mr_mail_reader *r, const reader_task *t)
{
	static const char *const subs[] = {"cur", "new"};
	char **all = NULL;
	size_t count = 0, cap = 0;
	int rc = 0;
	for (size_t s = 0; s < 2 && !rc; s++) {
		char *dir = path_join(t->path, subs[s]);
		if (!dir) {
			rc = MR_ENOMEM;
			break;
		}
		char **names = NULL;
		size_t n = 0;
		if (!is_dir(dir)) {
			mr_free(dir);
			continue;
		}
		rc = list_dir(&names, &n, dir);
		for (size_t i = 0; i < n && !rc; i++) {
			if (names[i][0] == '.')
				continue;
			if (count == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				char **na = mr_realloc(all, ncap * sizeof(*all));
				if (!na) {
					rc = MR_ENOMEM;
					break;
				}
				all = na;
				cap = ncap;
			}
			if (!(all[count] = path_join(subs[s], names[i])))
				rc = MR_ENOMEM;
			else
				count++;
		}
		free_names(names, n);
		mr_free(dir);
	}
	if (rc) {
		free_names(all, count);
		return rc;
	}
	r->files = all;
	r->nfiles = count;
	r->next_file = 0;
	r->md_path = mr_strdup(t->path);
	r->md_mailbox = mr_strdup(t->mailbox);
	if (!r->md_path || !r->md_mailbox)
		return MR_ENOMEM;
	return 0;
}

static void close_maildir(mr_mail_reader *r)
{
	free_names(r->files, r->nfiles);
	r->files = NULL;
	r->nfiles = r->next_file = 0;
	mr_free(r->md_path);
	mr_free(r->md_mailbox);
	r->md_path = r->md_mailbox = NULL;
}

/* Reads a whole file into r->bytes and fills the item's path, mailbox and date. */
static int read_file_item(mr_mail_reader *r, const char *path, const char *mailbox, mr_mail_source_kind kind)
{
	int rc = 0;
	mr_buf_clear(&r->bytes);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mr_error_set_errno(errno == ENOENT ? MR_ENOTFOUND : MR_EIO, errno, "open message file %s", path);
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = mr_error_set_errno(MR_EIO, errno, "stat message file %s", path);
		goto done;
	}
	if (st.st_size > 0 && (rc = mr_buf_grow(&r->bytes, (size_t)st.st_size)) != 0)
		goto done;
	for (;;) {
		if (r->bytes.cap - r->bytes.len < 2 && (rc = mr_buf_grow(&r->bytes, r->bytes.len + 65536)) != 0)
			goto done;
		ssize_t got = read(fd, r->bytes.ptr + r->bytes.len, r->bytes.cap - r->bytes.len - 1);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = mr_error_set_errno(MR_EIO, errno, "read message file %s", path);
			goto done;
		}
		if (got == 0)
			break;
		r->bytes.len += (size_t)got;
	}
	if (r->bytes.ptr)
		r->bytes.ptr[r->bytes.len] = '\0';
	if ((rc = mr_buf_set(&r->path, path, strlen(path))) != 0 ||
	    (rc = mr_buf_set(&r->mailbox, mailbox, strlen(mailbox))) != 0)
		goto done;
	r->item = (mr_mail_item){
		.mailbox = mr_buf_cstr(&r->mailbox),
		.keywords = "",
		.kind = kind,
		.path = mr_buf_cstr(&r->path),
		.bytes = mr_buf_slice(&r->bytes),
		.has_internal_date = true,
		.internal_date = (int64_t)st.st_mtim.tv_sec,
	};
done:
	close(fd);
	return rc;
}

static int next_maildir_file(mr_mail_reader *r)
{
	const char *rel = r->files[r->next_file++];
	char *path = path_join(r->md_path, rel);
	if (!path)
		return MR_ENOMEM;
	int rc = read_file_item(r, path, r->md_mailbox, MR_MAIL_SOURCE_MAILDIR);
	mr_free(path);
	if (rc)
		return rc;
	char kw[64];
	mr_mail_maildir_flags(base_name(rel), &r->item.flags, kw, sizeof(kw));
	if ((rc = mr_buf_set(&r->keywords, kw, strlen(kw))) != 0)
		return rc;
	r->item.keywords = mr_buf_cstr(&r->keywords);
	r->item.recent = strncmp(rel, "new/", 4) == 0;
	return 0;
}

/* ---------------------------------------------------------------- mbox */

static int month_index(const char *s, size_t n)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	if (n != 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, months + 3 * i, 3) == 0)
			return i;
	return -1;
}

bool mr_mail_mbox_from_date(const char *line, size_t len, int64_t *out)
{
	/* tokens after "From <sender>": find month, day, hh:mm[:ss], year (in any order asctime or
	 * RFC 5322 style puts them), and an optional numeric zone */
	int mon = -1, day = -1, year = -1, hh = -1, mi = -1, ss = 0, zone = 0;
	bool has_zone = false;
	size_t i = 0;
	if (len >= 5 && memcmp(line, "From ", 5) == 0)
		i = 5;
	while (i < len && line[i] == ' ')
		i++;
	while (i < len && line[i] != ' ' && line[i] != '\t') /* the envelope sender */
		i++;
	while (i < len) {
		while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == ','))
			i++;
		size_t s = i;
		while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != ',' && line[i] != '\r' &&
		       line[i] != '\n')
			i++;
		size_t n = i - s;
		if (n == 0) {
			if (i < len)
				i++;
			continue;
		}
		const char *tok = line + s;
		int m = month_index(tok, n);
		if (m >= 0 && mon < 0) {
			mon = m;
			continue;
		}
		bool digits = true;
		for (size_t k = 0; k < n; k++)
			if (tok[k] < '0' || tok[k] > '9')
				digits = false;
		if (digits && n <= 2 && day < 0) {
			day = atoi(tok);
			continue;
		}
		if (digits && n == 4 && year < 0) {
			year = atoi(tok);
			continue;
		}
		if (hh < 0 && n >= 4 && n <= 8 && memchr(tok, ':', n)) {
			int a = -1, b = -1, c = 0;
			char tmp[9];
			memcpy(tmp, tok, n);
			tmp[n] = '\0';
			if (sscanf(tmp, "%2d:%2d:%2d", &a, &b, &c) >= 2) {
				hh = a;
				mi = b;
				ss = c;
			}
			continue;
		}
		if (!has_zone && n == 5 && (tok[0] == '+' || tok[0] == '-')) {
			bool ok = true;
			for (size_t k = 1; k < 5; k++)
				if (tok[k] < '0' || tok[k] > '9')
					ok = false;
			if (ok) {
				int v = atoi(tok + 1);
				zone = (v / 100) * 60 + v % 100;
				if (tok[0] == '-')
					zone = -zone;
				has_zone = true;
			}
		}
	}
	if (mon < 0 || day < 1 || day > 31 || year < 1900 || year > 9999 || hh < 0 || hh > 23 || mi < 0 || mi > 59 ||
	    ss < 0 || ss > 60)
		return false;
	struct tm tm = {.tm_year = year - 1900, .tm_mon = mon, .tm_mday = day, .tm_hour = hh, .tm_min = mi, .tm_sec = ss};
	time_t t = timegm(&tm);
	*out = (int64_t)t - (int64_t)zone * 60;
	return true;
}

static bool line_is_blank(const char *l, size_t n) { return (n == 1 && l[0] == '\n') || (n == 2 && l[0] == '\r' && l[1] == '\n'); }

static bool line_is_header(const char *l, size_t n) { return looks_like_mail(l, n) && !(n >= 5 && memcmp(l, "From ", 5) == 0); }

/* Reads the next line (the pushback first); returns its length, 0 at EOF, -1 on error. */
static ssize_t mbox_read_line(mr_mail_reader *r, const char **line, uint64_t *pos)
{
	if (r->has_pushback) {
		r->has_pushback = false;
		*line = (const char *)r->pushback.ptr;
		*pos = r->pushback_pos;
		return (ssize_t)r->pushback.len;
	}
	errno = 0;
	ssize_t n = getline(&r->line, &r->line_cap, r->mbox);
	if (n < 0)
		return ferror(r->mbox) ? -1 : 0;
	*line = r->line;
	*pos = r->pos;
	r->pos += (uint64_t)n;
	return n;
}

static int mbox_unread(mr_mail_reader *r, const char *line, size_t n, uint64_t pos)
{
	MR_ASSERT(!r->has_pushback);
	int rc = mr_buf_set(&r->pushback, line, n);
	if (rc)
		return rc;
	r->has_pushback = true;
	r->pushback_pos = pos;
	return 0;
}

static int open_mbox(mr_mail_reader *r, const reader_task *t)
{
	r->mbox = fopen(t->path, "rbe");
	if (!r->mbox)
		return mr_error_set_errno(errno == ENOENT ? MR_ENOTFOUND : MR_EIO, errno, "open mbox %s", t->path);
	r->mbox_path = mr_strdup(t->path);
	r->mbox_mailbox = mr_strdup(t->mailbox);
	r->mbox_number = 0;
	r->pos = 0;
	r->has_pushback = false;
	r->pending_from = false;
	r->mbox_started = false;
	if (!r->mbox_path || !r->mbox_mailbox)
		return MR_ENOMEM;
	return 0;
}

static void close_mbox(mr_mail_reader *r)
{
	if (r->mbox)
		fclose(r->mbox);
	r->mbox = NULL;
	mr_free(r->mbox_path);
	mr_free(r->mbox_mailbox);
	r->mbox_path = r->mbox_mailbox = NULL;
}

/* Appends one content line, undoing the From_ escaping of the format. */
static int mbox_put_line(mr_mail_reader *r, const char *l, size_t n)
{
	if (n >= 6 && l[0] == '>') {
		size_t k = 0;
		while (k < n && l[k] == '>')
			k++;
		bool from = n - k >= 5 && memcmp(l + k, "From ", 5) == 0;
		if (from && (r->options.mbox_format == MR_MBOX_MBOXRD || (r->options.mbox_format == MR_MBOX_MBOXO && k == 1))) {
			l++;
			n--;
		}
	}
	return mr_buf_put(&r->bytes, l, n);
}

static size_t strip_eol(const char *l, size_t n)
{
	if (n && l[n - 1] == '\n')
		n--;
	if (n && l[n - 1] == '\r')
		n--;
	return n;
}

/* The next message of the open mbox into r->item; *got false at the end of the file. */
static int mbox_next(mr_mail_reader *r, bool *got)
{
	*got = false;
	const char *l;
	uint64_t lpos;
	ssize_t n;
	int rc = 0;
	mr_buf_clear(&r->bytes);
	bool has_from = false;
	uint64_t start = r->pos;
	if (r->pending_from) {
		r->pending_from = false;
		has_from = true;
		start = r->pending_pos;
		if ((rc = mr_buf_set(&r->item_from, r->from.ptr, r->from.len)) != 0)
			return rc;
	} else if (!r->mbox_started) {
		r->mbox_started = true;
		n = mbox_read_line(r, &l, &lpos);
		if (n < 0)
			goto read_error;
		if (n == 0)
			return 0; /* empty file */
		start = lpos;
		if (n >= 5 && memcmp(l, "From ", 5) == 0) {
			has_from = true;
			if ((rc = mr_buf_set(&r->item_from, l, strip_eol(l, (size_t)n))) != 0)
				return rc;
		} else if ((rc = mbox_put_line(r, l, (size_t)n)) != 0) {
			return rc;
		}
	} else {
		return 0; /* the previous message ended at EOF */
	}
	r->mbox_started = true;
	uint64_t number = r->mbox_number + 1;
	bool prev_blank = false;
	size_t last_line = 0; /* offset in bytes of the last line appended */
	for (;;) {
		n = mbox_read_line(r, &l, &lpos);
		if (n < 0)
			goto read_error;
		if (n == 0)
			break;
		size_t len = (size_t)n;
		if (len >= 5 && memcmp(l, "From ", 5) == 0) {
			int64_t when;
			bool sep = prev_blank || mr_mail_mbox_from_date(l, len, &when);
			if (!sep) {
				/* look one line ahead: a From_ line is followed by a header field */
				if ((rc = mr_buf_set(&r->from, l, len)) != 0)
					return rc;
				const char *nl;
				uint64_t npos;
				ssize_t nn = mbox_read_line(r, &nl, &npos);
				if (nn < 0)
					goto read_error;
				sep = nn > 0 && line_is_header(nl, (size_t)nn);
				if (nn > 0 && (rc = mbox_unread(r, nl, (size_t)nn, npos)) != 0)
					return rc;
				l = (const char *)r->from.ptr;
			}
			if (sep) {
				if (l == (const char *)r->from.ptr) {
					r->from.len = strip_eol(l, len); /* already there (looked ahead) */
					r->from.ptr[r->from.len] = '\0';
				} else if ((rc = mr_buf_set(&r->from, l, strip_eol(l, len))) != 0) {
					return rc;
				}
				r->pending_from = true;
				r->pending_pos = lpos;
				break;
			}
			/* not a separator: ordinary content (copied out of r->from before the buffer is reused) */
			mr_buf tmp = MR_BUF_INIT;
			if ((rc = mr_buf_set(&tmp, l, len)) == 0) {
				last_line = r->bytes.len;
				rc = mbox_put_line(r, (const char *)tmp.ptr, tmp.len);
			}
			mr_buf_dispose(&tmp);
			if (rc)
				return rc;
			prev_blank = false;
			continue;
		}
		last_line = r->bytes.len;
		if ((rc = mbox_put_line(r, l, len)) != 0)
			return rc;
		prev_blank = line_is_blank(l, len);
	}
	/* the blank line before the next From_ line (or at the end) belongs to the format */
	if (prev_blank) {
		r->bytes.len = last_line;
		if (r->bytes.ptr)
			r->bytes.ptr[r->bytes.len] = '\0';
	}
	r->mbox_number = number;
	if ((rc = mr_buf_set(&r->path, r->mbox_path, strlen(r->mbox_path))) != 0 ||
	    (rc = mr_buf_set(&r->mailbox, r->mbox_mailbox, strlen(r->mbox_mailbox))) != 0)
		return rc;
	r->item = (mr_mail_item){
		.mailbox = mr_buf_cstr(&r->mailbox),
		.keywords = "",
		.kind = MR_MAIL_SOURCE_MBOX,
		.path = mr_buf_cstr(&r->path),
		.mbox_number = number,
		.mbox_offset = start,
		.mbox_from = has_from ? mr_buf_cstr(&r->item_from) : NULL,
		.bytes = mr_buf_slice(&r->bytes),
	};
	if (has_from)
		r->item.has_internal_date =
			mr_mail_mbox_from_date((const char *)r->item_from.ptr, r->item_from.len, &r->item.internal_date);
	*got = true;
	return 0;
read_error:
	return mr_error_set_errno(MR_EIO, errno, "mbox %s: message %llu (offset %llu): read", r->mbox_path,
				  (unsigned long long)(r->mbox_number + 1), (unsigned long long)r->pos);
}

/* ---------------------------------------------------------------- the reader */

int mr_mail_reader_open(mr_mail_reader **out, const char *path, const mr_mail_reader_options *options)
{
	*out = NULL;
	struct stat st;
	if (stat(path, &st) != 0)
		return mr_error_set_errno(errno == ENOENT ? MR_ENOTFOUND : MR_EIO, errno, "mail archive %s", path);
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return mr_error_set(MR_EINVALID, "mail archive %s: neither a directory nor a regular file", path);
	mr_mail_reader *r = mr_calloc(1, sizeof(*r));
	if (!r)
		return MR_ENOMEM;
	if (options)
		r->options = *options;
	const char *root_mb = options && options->mailbox ? options->mailbox : NULL;
	const char *prefix = root_mb ? root_mb : "";
	int rc;
	if (S_ISDIR(st.st_mode)) {
		rc = push_task(r, TASK_DIR, path, root_mb ? root_mb : "INBOX", prefix, 0);
	} else if ((options && options->mbox) || classify_file(path, base_name(path), true, true) == FILE_MBOX) {
		char *mb = root_mb ? mr_strdup(root_mb) : mbox_mailbox_name("", base_name(path));
		rc = mb ? push_task(r, TASK_MBOX, path, mb, prefix, 0) : MR_ENOMEM;
		mr_free(mb);
	} else {
		rc = push_task(r, TASK_FILE, path, root_mb ? root_mb : "INBOX", prefix, 0);
	}
	if (rc) {
		mr_mail_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int mr_mail_reader_next(mr_mail_reader *r, const mr_mail_item **out)
{
	*out = NULL;
	for (;;) {
		if (r->mbox) {
			bool got = false;
			int rc = mbox_next(r, &got);
			if (rc) {
				close_mbox(r);
				return rc;
			}
			if (got) {
				*out = &r->item;
				return 0;
			}
			close_mbox(r);
			continue;
		}
		if (r->files) {
			if (r->next_file < r->nfiles) {
				int rc = next_maildir_file(r);
				if (rc)
					return rc;
				*out = &r->item;
				return 0;
			}
			close_maildir(r);
			continue;
		}
		if (r->count == 0)
			return 0;
		reader_task t = r->stack[--r->count];
		int rc = 0;
		switch (t.kind) {
		case TASK_DIR: rc = expand_dir(r, &t); break;
		case TASK_MAILDIR:
			rc = list_maildir(r, &t);
			if (rc)
				close_maildir(r);
			break;
		case TASK_MBOX:
			rc = open_mbox(r, &t);
			if (rc)
				close_mbox(r);
			break;
		case TASK_FILE:
			rc = read_file_item(r, t.path, t.mailbox, MR_MAIL_SOURCE_FILE);
			if (!rc) {
				task_dispose(&t);
				*out = &r->item;
				return 0;
			}
			break;
		}
		task_dispose(&t);
		if (rc)
			return rc;
	}
}

uint64_t mr_mail_reader_skipped(const mr_mail_reader *r) { return r->skipped; }

void mr_mail_reader_free(mr_mail_reader *r)
{
	if (!r)
		return;
	while (r->count)
		task_dispose(&r->stack[--r->count]);
	mr_free(r->stack);
	close_maildir(r);
	close_mbox(r);
	free(r->line); /* allocated by getline */
	mr_buf_dispose(&r->pushback);
	mr_buf_dispose(&r->from);
	mr_buf_dispose(&r->item_from);
	mr_buf_dispose(&r->bytes);
	mr_buf_dispose(&r->path);
	mr_buf_dispose(&r->mailbox);
	mr_buf_dispose(&r->keywords);
	mr_free(r);
}
