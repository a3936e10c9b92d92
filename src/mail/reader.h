/*
 * reader.h — iterates the messages of a mail archive on disk: a Maildir
 * (with Maildir++ sub-folders), a directory holding several Maildirs or a
 * nested tree of them, an mbox file (mboxrd or mboxo), a single message
 * file, or a plain directory of message files and mbox files.
 *
 * Mailbox names ('/' separates levels):
 *   - the root (the path given) is the mailbox `options.mailbox`, or "INBOX";
 *     an mbox file given as the root is named after the file ("inbox.mbox" →
 *     "inbox"; any case of "inbox" → "INBOX") unless options.mailbox is set;
 *   - a sub-directory (a Maildir, or a plain directory) is named after its
 *     path below the root ("work/2020"), prefixed by options.mailbox when set;
 *     Thunderbird's "<name>.sbd" directories lose their ".sbd";
 *   - a Maildir++ folder ".Sub.Folder" of a Maildir is "Sub/Folder" below
 *     that Maildir's prefix (modified UTF-7, as IMAP servers write it, is
 *     decoded to UTF-8);
 *   - an mbox file inside a directory is a mailbox named after the file
 *     without its extension (.mbox, .mbx); message files in a directory belong to
 *     the directory's mailbox.
 *
 * What is a message: in a Maildir, every file of cur/ and new/ whose name
 * does not start with '.' (byte-exact, never sniffed); in a plain
 * directory, files named *.eml / *.msg, files starting with an mbox "From "
 * line (read as mbox), and files whose first line looks like a header
 * field; other files (README, licence texts, indexes) are skipped and
 * counted (options.all_files reads them too).  Names starting with '.'
 * are ignored in plain directories.  Entries are visited in byte order of
 * their names, depth first, so the order is stable.
 *
 * mbox: a message starts at a line beginning with "From " that carries a
 * date ("From sender Mon Jan  1 00:00:00 2001"), or at the first line of the
 * file.  Content-Length headers are not trusted.  The empty line that
 * separates a message from the next From_ line (or that ends the file)
 * belongs to the format and is removed.  Escaping is undone as the format
 * says: mboxrd (the default) removes one '>' from lines matching
 * /^>+From /; mboxo removes the '>' of lines matching /^>From / only; raw
 * leaves lines alone.  mboxrd unescaping is right for files written by both
 * mboxrd and mboxo writers, except that an original ">From " line in an
 * mboxo file comes back as "From " (mboxo cannot tell them apart).  The file
 * is read line by line: memory holds one message, whatever the mbox size.
 *
 * Threads: a reader is used by one thread at a time.
 */
#ifndef MR_MAIL_READER_H
#define MR_MAIL_READER_H

#include "mailroom/mailroom.h"

#include <stdbool.h>
#include <stdint.h>

/* Maildir info flags (the letters after ":2,"), as IMAP system flags. */
typedef enum mr_mail_flag {
	MR_MAIL_FLAG_DRAFT = 1u << 0,   /* D: \Draft */
	MR_MAIL_FLAG_FLAGGED = 1u << 1, /* F: \Flagged */
	MR_MAIL_FLAG_PASSED = 1u << 2,  /* P: passed, i.e. forwarded ($Forwarded) */
	MR_MAIL_FLAG_REPLIED = 1u << 3, /* R: \Answered */
	MR_MAIL_FLAG_SEEN = 1u << 4,    /* S: \Seen */
	MR_MAIL_FLAG_TRASHED = 1u << 5, /* T: \Deleted */
} mr_mail_flag;

typedef enum mr_mail_source_kind {
	MR_MAIL_SOURCE_MAILDIR = 0, /* a file of a Maildir's cur/ or new/ */
	MR_MAIL_SOURCE_MBOX = 1,    /* a message of an mbox file */
	MR_MAIL_SOURCE_FILE = 2,    /* a single-message file outside a Maildir */
} mr_mail_source_kind;

typedef enum mr_mbox_format {
	MR_MBOX_MBOXRD = 0, /* default: /^>+From / loses one '>' */
	MR_MBOX_MBOXO = 1,  /* /^>From / loses its '>' */
	MR_MBOX_RAW = 2,    /* no unescaping */
} mr_mbox_format;

typedef struct mr_mail_reader_options {
	const char *mailbox;        /* the root's mailbox name; NULL: see above */
	mr_mbox_format mbox_format;
	bool all_files;             /* in plain directories read every file, even ones that do not look like mail */
	bool mbox;                  /* a file given as the root is an mbox even without a From_ first line */
} mr_mail_reader_options;

typedef struct mr_mail_item {
	const char *mailbox;     /* UTF-8, '/'-separated */
	unsigned flags;          /* mr_mail_flag bits */
	const char *keywords;    /* other Maildir info letters in order (e.g. Dovecot keyword letters "ab"), or "" */
	bool recent;             /* the file was in new/ */
	mr_mail_source_kind kind;
	const char *path;        /* the message file, or the mbox file */
	uint64_t mbox_number;    /* 1-based number of the message in its mbox; 0 otherwise */
	uint64_t mbox_offset;    /* byte offset of its From_ line (or of its first line) in the mbox */
	const char *mbox_from;   /* the From_ line without its line end; NULL when there was none or not mbox */
	mr_slice bytes;          /* the message as read (mbox: after the From_ line, unescaped) */
	bool has_internal_date;
	int64_t internal_date;   /* unix seconds: Maildir/file mtime, or the From_ line's date (UTC unless it names a zone) */
} mr_mail_item;

typedef struct mr_mail_reader mr_mail_reader;

/*
 * Opens path for reading.  Returns 0, MR_ENOTFOUND (path does not exist),
 * MR_EIO, MR_EINVALID (not a file or directory), MR_ENOMEM.
 */
int mr_mail_reader_open(mr_mail_reader **out, const char *path, const mr_mail_reader_options *options);

/*
 * The next message: returns 0 with *out pointing at it, or 0 with *out NULL
 * at the end.  The item and its bytes are valid until the next call.
 * On an error (MR_EIO: a file or directory that cannot be read, naming it
 * and, for mbox, the message number and offset; MR_ENOMEM) *out is NULL and
 * the reader has moved past what failed: calling again continues with
 * the next file (an mbox that fails mid-way is abandoned after the error).
 */
int mr_mail_reader_next(mr_mail_reader *reader, const mr_mail_item **out);

/* Files skipped so far because they do not look like mail (plain directories only). */
uint64_t mr_mail_reader_skipped(const mr_mail_reader *reader);

void mr_mail_reader_free(mr_mail_reader *reader);

/* Parses the info part of a Maildir file name ("...:2,FRS"): flags into *flags, other letters into keywords (cap bytes, NUL-terminated). */
void mr_mail_maildir_flags(const char *name, unsigned *flags, char *keywords, size_t cap);

/* The date of an mbox From_ line ("From a@b Tue Jan  1 00:00:00 2002"); false when it carries none. */
bool mr_mail_mbox_from_date(const char *line, size_t len, int64_t *out);

#endif
