/*
 * export.h — writes every message of an account back to disk, byte-exact,
 * one Maildir (flags as ":2," suffixes, internal date as mtime) or one mbox
 * file (mboxrd escaping) per mailbox.  Reading the result with
 * mr_mail_reader gives back the same mailboxes and the same bytes.
 */
#ifndef MR_MAIL_EXPORT_H
#define MR_MAIL_EXPORT_H

#include "mailroom/blob.h"
#include "mailroom/data.h"

#include <stdint.h>

typedef enum mr_export_format { MR_EXPORT_MAILDIR = 0, MR_EXPORT_MBOX = 1 } mr_export_format;

typedef struct mr_export_result {
	uint64_t mailboxes;
	uint64_t messages;
	uint64_t bytes;
	uint64_t not_exact; /* mbox only: messages without a final line end (mbox adds one) */
} mr_export_result;

/*
 * Exports account into dir, which must not exist or be empty (nothing is
 * overwritten).  Maildir: dir/<mailbox>/{cur,new,tmp}, nested mailboxes as
 * nested directories.  mbox: dir/<mailbox>.mbox, children of "a" in
 * dir/a.sbd/.  Errors name the file.
 */
int mr_export_run(mr_data *d, mr_blob *blobs, const char *account, const char *dir, mr_export_format format,
		  mr_export_result *res);

#endif
