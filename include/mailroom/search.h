/*
 * search.h — the search store: one query language for every backend, and
 * (below) the front that indexes documents and runs queries.
 *
 * The query language (docs/search.md has the full grammar):
 *
 *   word                 any text field contains the word
 *   "a phrase"           the words in this order, adjacent
 *   prefix*              a word starting with "prefix"
 *   from: to: cc: bcc: subject: body: attachment:   scope a word, phrase,
 *   header:NAME:         prefix or parenthesized group to one field
 *   before:YYYY-MM-DD    received strictly before that day (UTC)
 *   after:YYYY-MM-DD     received on or after that day (UTC; like IMAP SINCE)
 *   on:YYYY-MM-DD        received during that day (UTC)
 *   larger:N  smaller:N  size strictly above / below N bytes (N: 123, 10k, 2M, 1G)
 *   has:attachment       in:MAILBOX       is:seen|unseen|read|unread|flagged|
 *                        unflagged|answered|unanswered|draft|deleted|...
 *   a AND b, a b (implicit AND), a OR b, NOT a, -a, ( ... )
 *
 * Precedence, tightest first: NOT and '-' (unary), then AND (explicit or
 * implicit), then OR.  So `a OR b c` is `a OR (b AND c)` and `NOT a b` is
 * `(NOT a) AND b`.  Keywords AND/OR/NOT are upper case only; `and` is a word.
 *
 * Errors are MR_EINVALID with the 1-based column (in characters) of the
 * problem: `query: column 12: unclosed "("`.  Parsing never crashes on any
 * input; nesting deeper than MR_QUERY_MAX_DEPTH and queries longer than
 * MR_QUERY_MAX_LEN bytes are refused.
 */
#ifndef MAILROOM_SEARCH_H
#define MAILROOM_SEARCH_H

#include "mailroom/mailroom.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MR_QUERY_MAX_DEPTH 64      /* nested parentheses / NOT */
#define MR_QUERY_MAX_LEN 16384     /* bytes of query text */
#define MR_QUERY_MAX_NODES 4096    /* terms and operators */

/* Text fields a term can be scoped to. */
typedef enum mr_search_field {
	MR_FIELD_ANY = 0, /* every text field below, headers included */
	MR_FIELD_FROM,
	MR_FIELD_TO,
	MR_FIELD_CC,
	MR_FIELD_BCC,
	MR_FIELD_SUBJECT,
	MR_FIELD_BODY,
	MR_FIELD_ATTACHMENT, /* attachment names and their text */
	MR_FIELD_HEADER,     /* one header, named in node->header */
	MR_FIELD_COUNT_
} mr_search_field;

typedef enum mr_query_kind {
	MR_Q_ALL = 1,    /* the empty query: every document */
	MR_Q_AND,        /* children[0..n), n >= 2 */
	MR_Q_OR,         /* children[0..n), n >= 2 */
	MR_Q_NOT,        /* children[0] */
	MR_Q_TERM,       /* field, text: one word as typed (the backend analyzes it) */
	MR_Q_PHRASE,     /* field, text: the phrase as typed, unescaped */
	MR_Q_PREFIX,     /* field, text: the prefix as typed, without '*' */
	MR_Q_DATE,       /* cmp BEFORE/AFTER/ON, value: unix seconds of 00:00 UTC of the day */
	MR_Q_SIZE,       /* cmp LARGER/SMALLER, value: bytes */
	MR_Q_HAS_ATTACHMENT,
	MR_Q_IN,         /* text: mailbox name */
	MR_Q_IS,         /* flag */
} mr_query_kind;

typedef enum mr_query_cmp {
	MR_CMP_NONE = 0,
	MR_CMP_BEFORE,  /* date < value */
	MR_CMP_AFTER,   /* date >= value */
	MR_CMP_ON,      /* value <= date < value + 86400 */
	MR_CMP_LARGER,  /* size > value */
	MR_CMP_SMALLER, /* size < value */
} mr_query_cmp;

/* Flags for is:.  is:unseen/unread/unflagged/... parse as NOT of these. */
typedef enum mr_query_flag {
	MR_FLAG_SEEN = 0,
	MR_FLAG_FLAGGED,
	MR_FLAG_ANSWERED,
	MR_FLAG_DRAFT,
	MR_FLAG_DELETED,
	MR_FLAG_FORWARDED,
	MR_FLAG_JUNK,
	MR_FLAG_COUNT_
} mr_query_flag;

/* A node of the parsed query; read-only, owned by its mr_query. */
typedef struct mr_query_node {
	mr_query_kind kind;
	mr_search_field field;  /* TERM, PHRASE, PREFIX */
	const char *header;     /* MR_FIELD_HEADER: the header name, lower case */
	const char *text;       /* TERM, PHRASE, PREFIX, IN (UTF-8, NUL-terminated) */
	int64_t value;          /* DATE, SIZE */
	mr_query_cmp cmp;       /* DATE, SIZE */
	mr_query_flag flag;     /* IS */
	unsigned column;        /* 1-based column where the node starts in the query */
	struct mr_query_node **children;
	size_t nchildren;
} mr_query_node;

typedef struct mr_query mr_query;

/*
 * Parses `len` bytes of UTF-8 query text.  On success *out is owned by the
 * caller (mr_query_free).  Errors: MR_EINVALID (the message gives the
 * column and the cause), MR_ELIMIT (too long / too deep / too many terms,
 * also with a column), MR_ENOMEM.  On failure *out is NULL.
 */
int mr_query_parse(mr_query **out, const char *text, size_t len);
void mr_query_free(mr_query *q);
/* The root node (never NULL; MR_Q_ALL for an empty query). Borrowed from q. */
const mr_query_node *mr_query_root(const mr_query *q);
/*
 * Appends the canonical S-expression form of a node to out, e.g.
 * `(and (term from "alice") (or (phrase subject "annual report") (prefix any "rep")))`.
 * Two queries meaning the same after parsing print the same.
 */
int mr_query_print(const mr_query_node *n, mr_buf *out);
/* "any", "from", ..., "header"; never NULL. */
const char *mr_search_field_name(mr_search_field f);
/* "seen", "flagged", ...; never NULL. */
const char *mr_query_flag_name(mr_query_flag f);

#ifdef __cplusplus
}
#endif
#endif
