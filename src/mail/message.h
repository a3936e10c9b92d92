/*
 * message.h — the parsed model of one RFC 5322 / MIME message (internal for
 * now; the import command and the search indexer are its users).
 *
 * Parsing never rejects a message: whatever the input (empty, truncated,
 * binary, wrongly declared charsets), mr_message_parse() yields a model, and
 * what did not parse cleanly is listed in `warnings`.  Only out-of-memory and
 * I/O errors on a file descriptor fail.  The raw bytes are never modified.
 *
 * Every string in the model is valid UTF-8 and NUL-terminated, and lives in
 * the message's arena: one mr_message_free() releases the whole model.
 *
 * Threads: parsing is safe from several threads at once (GMime is
 * initialised once, on first use, through pthread_once); a parsed model is
 * read-only and may be shared between threads.
 */
#ifndef MR_MAIL_MESSAGE_H
#define MR_MAIL_MESSAGE_H

#include "mailroom/mailroom.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One mailbox of an address header; groups are flattened into their members. */
typedef struct mr_mail_address {
	const char *name; /* display name, decoded; "" when none */
	const char *addr; /* addr-spec ("user@example.org"), IDN domains decoded; "" when none */
} mr_mail_address;

typedef struct mr_mail_address_list {
	const mr_mail_address *items;
	size_t count;
} mr_mail_address_list;

/* Message-IDs without their angle brackets. */
typedef struct mr_mail_id_list {
	const char *const *items;
	size_t count;
} mr_mail_id_list;

typedef enum mr_mail_date_state {
	MR_MAIL_DATE_OK = 0,
	MR_MAIL_DATE_MISSING = 1, /* no Date header */
	MR_MAIL_DATE_INVALID = 2, /* a Date header that could not be parsed */
} mr_mail_date_state;

/* A body text part: text/plain as is, text/html reduced to text. */
typedef struct mr_mail_text {
	const char *content_type; /* "text/plain", "text/html", ... (lower case) */
	const char *charset;      /* as declared ("" when none) */
	const char *text;         /* UTF-8 */
	size_t len;               /* strlen(text) */
	bool from_html;           /* text was reduced from HTML */
} mr_mail_text;

/* A part that is not body text: a file, an image, a signature, a forwarded message. */
typedef struct mr_mail_attachment {
	const char *name;         /* file name (RFC 2231 / RFC 2047 decoded); "" when none */
	const char *content_type; /* lower case "type/subtype" */
	const char *disposition;  /* "attachment", "inline" or "" when absent */
	const char *content_id;   /* without brackets; "" when none */
	uint64_t size;            /* decoded size in bytes (after base64/QP) */
	const char *text;         /* UTF-8 text when the type is text-like, else NULL */
	size_t text_len;
	bool is_signature;        /* application/pgp-signature, application/pkcs7-signature, ... */
} mr_mail_attachment;

typedef struct mr_mail_arena mr_mail_arena;

typedef struct mr_message {
	mr_mail_address_list from, sender, reply_to, to, cc, bcc;
	const char *subject;            /* decoded; NULL when there is no Subject header */
	const char *subject_normalized; /* for threading and sorting: see mr_message_normalize_subject */
	mr_mail_date_state date_state;
	int64_t date;          /* seconds since the epoch (UTC); 0 unless date_state is OK */
	int32_t date_offset;   /* the header's zone offset in minutes east of UTC (+0100 → 60) */
	const char *message_id; /* without brackets; NULL when absent */
	mr_mail_id_list in_reply_to, references;
	const mr_mail_text *texts;
	size_t text_count;
	const mr_mail_attachment *attachments;
	size_t attachment_count;
	bool has_attachment;   /* an attachment other than a signature */
	const char *const *warnings;
	size_t warning_count;
	uint64_t raw_size;     /* bytes parsed */
	uint64_t header_size;  /* bytes of the top-level header block, separator included when found */
	mr_mail_arena *arena;  /* private */
} mr_message;

/*
 * Parses len bytes at data (not modified, not retained) into *out.
 * Returns 0 (with a model, possibly with warnings) or MR_ENOMEM; on failure
 * *out is NULL.
 */
int mr_message_parse(mr_message **out, const void *data, size_t len);

/*
 * Parses the message read from fd (from its current position to EOF; the fd
 * is neither closed nor needed after the call).  Returns 0, MR_ENOMEM, or
 * MR_EIO when reading fails; `what` names the source in error messages.
 */
int mr_message_parse_fd(mr_message **out, int fd, const char *what);

/* Releases the model and everything it points to.  NULL is allowed. */
void mr_message_free(mr_message *msg);

/*
 * The base subject used for threading: leading reply/forward markers
 * ("Re:", "RE[2]:", "Fwd:", "Fw:", "AW:", "WG:", "SV:", "VS:", "Antw:",
 * "Réf:", "TR:", "Odp:", "R:", "RIF:", "Enc:", "Res:"), leading "[list]"
 * tags and a trailing "(fwd)" are removed repeatedly; runs of white space
 * become one space; leading and trailing white space go.  Case is kept.
 * Writes a NUL-terminated UTF-8 string into out (cleared first).
 */
int mr_message_normalize_subject(mr_buf *out, const char *subject);

/*
 * Thread key of a message: "id:<root>" where root is the first id of
 * References, else the first In-Reply-To, else the message's own
 * Message-ID; "subject:<casefolded normalized subject>" when it has none of
 * them; "none:" when it also lacks a subject.  Messages with the same key
 * belong to one thread; an importer that links threads through every id
 * (mr_message_thread_ids) groups more precisely, this key is the fallback.
 */
int mr_message_thread_key(mr_buf *out, const mr_message *msg);

/*
 * Every id that ties msg to a thread, in order: References, then
 * In-Reply-To ids not already listed, then the own Message-ID.  Returns the
 * number of ids written to ids (at most cap); *total gets the full count.
 */
size_t mr_message_thread_ids(const char **ids, size_t cap, size_t *total, const mr_message *msg);

/*
 * Reduces HTML to plain text: tags removed, script/style/template
 * contents dropped, comments dropped, block elements become line breaks,
 * character references decoded (numeric and the common named ones),
 * white space collapsed as a browser would.  Input need not be valid;
 * output is UTF-8 when the input is.  Appends to out.
 */
int mr_mail_html_to_text(mr_buf *out, const char *html, size_t len);

/* Releases GMime's global state.  Only at process exit (tests, fuzzers): parsing cannot resume after it. */
void mr_mail_shutdown(void);

#endif
