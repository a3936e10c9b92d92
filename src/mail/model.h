/*
 * model.h — the mail model in the data store: accounts, mailboxes, emails,
 * memberships, threads, the per-account change log, and the collections of
 * calendars, contacts and sieve scripts.  Every key is built with the key
 * codec (include/mailroom/data.h); the layout is in docs/mail-model.md.
 *
 * Ids: accounts, mailboxes, emails and threads have 32-bit ids allocated
 * from counters (never reused).  An email is one stored message (one blob)
 * in one account; it may be a member of several mailboxes, each membership
 * with its own UID (per-mailbox counter) and MODSEQ (the account's change
 * sequence at the change).  The state string of an account (JMAP) is the
 * decimal value of its change sequence.
 *
 * Writes of an email go in the caller's batch (mr_model_email_add), so the
 * import can put many messages and their blob links in one commit.  Reads
 * are plain gets and scans.  Thread rules: like mr_data (a handle may be
 * shared; a batch belongs to one thread).
 */
#ifndef MR_MAIL_MODEL_H
#define MR_MAIL_MODEL_H

#include "mailroom/blob.h"
#include "mailroom/data.h"
#include "mailroom/mailroom.h"

#include <stdbool.h>
#include <stdint.h>

/* Special-use roles (RFC 6154 / JMAP). */
typedef enum mr_mailbox_role {
	MR_ROLE_NONE = 0,
	MR_ROLE_INBOX,
	MR_ROLE_SENT,
	MR_ROLE_DRAFTS,
	MR_ROLE_TRASH,
	MR_ROLE_JUNK,
	MR_ROLE_ARCHIVE,
} mr_mailbox_role;

/* The role a mailbox name suggests (last level, case-insensitive): "Sent",
 * "Sent Items", "Drafts", "Trash", "Deleted Items", "Junk", "Spam", "Archive"... */
mr_mailbox_role mr_mailbox_role_guess(const char *name);
const char *mr_mailbox_role_name(mr_mailbox_role role); /* "inbox", "sent", ...; "" for none */

/* Change log: which kind of object changed, and how. */
typedef enum mr_change_type { MR_CHANGE_EMAIL = 1, MR_CHANGE_MAILBOX = 2, MR_CHANGE_THREAD = 3 } mr_change_type;
typedef enum mr_change_op { MR_CHANGE_CREATED = 1, MR_CHANGE_UPDATED = 2, MR_CHANGE_DESTROYED = 3 } mr_change_op;

/* ---- accounts ---- */
/* The id of account `name`; with create, makes it on first use (*created set). MR_ENOTFOUND otherwise. */
int mr_model_account(mr_data *d, const char *name, bool create, uint32_t *id, bool *created);
/* Calls fn for every account in name order. */
typedef int (*mr_model_account_fn)(const char *name, uint32_t id, void *payload);
int mr_model_accounts(mr_data *d, mr_model_account_fn fn, void *payload);

/* ---- mailboxes ---- */
typedef struct mr_mailbox_info {
	uint32_t id;
	uint32_t parent;      /* 0: top level */
	char name[512];       /* full name, '/'-separated, UTF-8 */
	mr_mailbox_role role;
	uint32_t uidvalidity;
	uint32_t uidnext;     /* the next UID to be given */
	int64_t messages;     /* memberships */
	int64_t created_ms;
} mr_mailbox_info;

/*
 * The id of mailbox `name` of account; with create, makes it (and its
 * parents: "a/b" makes "a") on first use, with a role guessed from the name
 * and a fresh UIDVALIDITY.  Each creation is its own commit (and a change).
 */
int mr_model_mailbox(mr_data *d, uint32_t account, const char *name, bool create, uint32_t *id);
int mr_model_mailbox_get(mr_data *d, uint32_t account, uint32_t id, mr_mailbox_info *out);
typedef int (*mr_model_mailbox_fn)(const mr_mailbox_info *mb, void *payload);
/* Every mailbox of account, in name order. */
int mr_model_mailboxes(mr_data *d, uint32_t account, mr_model_mailbox_fn fn, void *payload);
/* Reserves n UIDs of a mailbox; the first is *first (gaps after a failed commit are allowed by IMAP). */
int mr_model_reserve_uids(mr_data *d, uint32_t account, uint32_t mailbox, uint32_t n, uint32_t *first);

/* ---- emails ---- */
typedef struct mr_email {
	uint32_t id;
	uint32_t thread;
	mr_blob_id blob;
	uint64_t size;
	int64_t received_at; /* unix seconds */
	int64_t sent_at;     /* Date header, unix seconds; 0 when missing or invalid */
	unsigned flags;      /* mr_mail_flag bits (reader.h) */
	char keywords[64];   /* other Maildir keyword letters */
	uint32_t warnings;   /* parse warnings recorded (text: mr_model_email_warnings) */
	const char *from;    /* "Name <addr>" of the first From; borrowed from the record buffer */
	const char *subject;
	const char *message_id;
	const char *in_reply_to;
} mr_email;

/* What the importer hands over for a new email. */
typedef struct mr_email_new {
	mr_blob_id blob;
	uint64_t size;
	int64_t received_at;
	int64_t sent_at;
	unsigned flags;
	const char *keywords;
	const char *from, *subject, *message_id, *in_reply_to; /* may be NULL */
	const char *thread_ids[64]; /* ids tying it to a thread (mr_message_thread_ids) */
	size_t nthread_ids;
	const char *thread_subject; /* normalized, case-folded subject for the fallback */
	const char *const *warnings;
	size_t nwarnings;
} mr_email_new;

/*
 * A writer of emails: keeps the in-memory state the import needs between
 * batches (the change sequence reservations, thread ids seen).  One per
 * committing thread.
 */
typedef struct mr_model_writer mr_model_writer;
int mr_model_writer_new(mr_model_writer **out, mr_data *d, mr_blob *blobs, uint32_t account);
void mr_model_writer_free(mr_model_writer *w);

typedef enum mr_email_outcome {
	MR_EMAIL_CREATED = 1,   /* a new email (and membership) */
	MR_EMAIL_ADDED = 2,     /* the blob was already an email of the account: a new membership */
	MR_EMAIL_DUPLICATE = 3, /* already in that mailbox: nothing written */
} mr_email_outcome;

/*
 * Adds to batch b what storing the message needs: the email record (or a
 * new membership of the existing one), its membership with uid, the blob
 * link (mr_blob_link, in the same batch), thread entries, change-log
 * entries and counters.  The blob must be stored already.  Nothing is
 * visible before b commits; mr_model_writer_committed must follow a
 * successful commit, mr_model_writer_abort a failed one.
 */
int mr_model_email_add(mr_model_writer *w, mr_batch *b, uint32_t mailbox, const mr_email_new *e,
		       mr_email_outcome *outcome, uint32_t *email_id);
/* Before committing b: reserves the change sequence numbers of what b holds and writes its change entries. */
int mr_model_writer_seal(mr_model_writer *w, mr_batch *b);
void mr_model_writer_committed(mr_model_writer *w);
void mr_model_writer_abort(mr_model_writer *w);

/* Reads an email; the strings in out point into buf. */
int mr_model_email_get(mr_data *d, uint32_t account, uint32_t id, mr_email *out, mr_buf *buf);
/* The parse warnings recorded for an email, one per line (empty when none). */
int mr_model_email_warnings(mr_data *d, uint32_t account, uint32_t id, mr_buf *out);
/* The mailboxes an email is in (ids and UIDs). */
typedef struct mr_membership {
	uint32_t mailbox, uid;
	uint64_t modseq;
} mr_membership;
int mr_model_email_mailboxes(mr_data *d, uint32_t account, uint32_t id, mr_membership *out, size_t cap,
			     size_t *n);
/* Every membership of a mailbox in UID order: fn(uid, email id, modseq). */
typedef int (*mr_model_member_fn)(uint32_t uid, uint32_t email, uint64_t modseq, void *payload);
int mr_model_mailbox_members(mr_data *d, uint32_t account, uint32_t mailbox, mr_model_member_fn fn, void *payload);
/* The emails of a thread in id order. */
int mr_model_thread_emails(mr_data *d, uint32_t account, uint32_t thread, uint32_t *out, size_t cap, size_t *n);

/* ---- change log ---- */
/* The current state string of account (decimal; "0" before any change). */
int mr_model_state(mr_data *d, uint32_t account, char out[24]);
/* Changes of one type after state `since`: fn(op, id, seq) in order; *more when limit was hit. */
typedef int (*mr_model_change_fn)(mr_change_op op, uint32_t id, uint64_t seq, void *payload);
int mr_model_changes(mr_data *d, uint32_t account, mr_change_type type, const char *since, size_t limit,
		     mr_model_change_fn fn, void *payload, bool *more);
/*
 * Retention (`retention.changes`, run by the data store's purge): deletes
 * the change-log entries of commits made before older_than_ms, account by
 * account.  A state older than what is kept then gets MR_ENOTFOUND
 * "cannot calculate changes" (JMAP's cannotCalculateChanges) instead of a
 * partial answer.  Stops between accounts when *stop is set (*complete
 * false); idempotent.  Matches mr_purge_changes_fn (payload unused).
 */
int mr_model_changes_purge(mr_data *d, int64_t older_than_ms, volatile const int *stop, uint64_t *deleted,
			   bool *complete, void *payload);

/* ---- totals (for stats) ---- */
typedef struct mr_model_totals {
	int64_t accounts;
	int64_t emails;       /* stored messages over all accounts */
	int64_t memberships;
	int64_t bytes;        /* sum of email sizes over all accounts (logical) */
} mr_model_totals;
int mr_model_totals_get(mr_data *d, mr_model_totals *out);

/* Every blob id the emails of account hold: fn(id, email). */
typedef int (*mr_model_blob_fn)(const mr_blob_id *id, uint32_t email, void *payload);
int mr_model_account_blobs(mr_data *d, uint32_t account, mr_model_blob_fn fn, void *payload);

/* ---- collections: calendars, contacts, sieve scripts (stored and fetched only) ---- */
typedef enum mr_collection_kind {
	MR_COLLECTION_CALENDAR = 1,
	MR_COLLECTION_CONTACTS = 2,
	MR_COLLECTION_SIEVE = 3,
} mr_collection_kind;
int mr_model_collection_put(mr_data *d, uint32_t account, mr_collection_kind kind, const char *name,
			    mr_slice value);
int mr_model_collection_get(mr_data *d, uint32_t account, mr_collection_kind kind, const char *name,
			    mr_buf *value);
int mr_model_collection_delete(mr_data *d, uint32_t account, mr_collection_kind kind, const char *name);

#endif
