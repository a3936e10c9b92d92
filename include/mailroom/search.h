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

#include "mailroom/data.h"
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

/* ---- the search store ----
 *
 * A search store indexes documents (emails) per account and answers
 * parsed queries with document ids.  Document ids are 32-bit, unique per
 * account (the mail model's email id).  The store named by [storage] fts
 * is either a data store (then the built-in index lives in it, subspace
 * MR_SUBSPACE_FTS) or an external engine (elasticsearch, meilisearch).
 *
 * Thread rules: an mr_search handle may be used from several threads.
 */
typedef struct mr_search mr_search;

/* Flag bits of mr_search_doc.flags: 1u << mr_query_flag. */
#define MR_SEARCH_FLAG(f) (1u << (f))

typedef struct mr_search_header {
	const char *name;  /* any case; matched case-insensitively */
	const char *value; /* decoded UTF-8 */
} mr_search_header;

/*
 * One document to index.  Every string is UTF-8 (invalid bytes are
 * replaced, never rejected) and may be NULL.  Several addresses or
 * attachment texts go in one string separated by newlines.  The caller
 * keeps ownership; nothing is retained after mr_search_index returns.
 */
typedef struct mr_search_doc {
	const char *from, *to, *cc, *bcc; /* display names and addresses */
	const char *subject;
	const char *body;                 /* text of the text parts (HTML reduced to text) */
	const char *attachment;           /* attachment names and extracted text */
	const mr_search_header *headers;  /* other headers searchable with header:NAME: */
	size_t nheaders;
	int64_t date;                     /* received-at, unix seconds */
	int64_t size;                     /* bytes of the raw message */
	uint32_t flags;                   /* MR_SEARCH_FLAG(MR_FLAG_SEEN) | ... */
	bool has_attachment;
	const char *const *mailboxes;     /* names of the mailboxes holding it (for in:) */
	size_t nmailboxes;
	const char *language;             /* ISO 639-1 code, or NULL to detect */
} mr_search_doc;

typedef enum mr_search_order {
	MR_SEARCH_ORDER_DATE = 0,      /* newest first (ties: higher id first) */
	MR_SEARCH_ORDER_RELEVANCE = 1, /* BM25, best first (ties: newest first) */
} mr_search_order;

typedef struct mr_search_opts {
	mr_search_order order;
	size_t offset; /* results to skip */
	size_t limit;  /* 0: all */
} mr_search_opts;

typedef struct mr_search_result {
	uint32_t *ids;   /* count ids in the requested order */
	double *scores;  /* MR_SEARCH_ORDER_RELEVANCE only, else NULL */
	size_t count;
	uint64_t total;  /* matching documents before offset/limit */
} mr_search_result;

/*
 * Opens the search store store_id of cfg (NULL: the one [storage] fts
 * names).  When that store is a data store and `data` is already open on
 * it, the index uses `data` (borrowed: close the search store first);
 * otherwise the search store opens what it needs.  Errors: MR_ENOTFOUND
 * (no such store), MR_ENOTSUPPORTED (type not compiled in), MR_EINVALID,
 * and the data store's errors.
 */
int mr_search_open(mr_search **out, const mr_config *cfg, const char *store_id, mr_data *data);
/* The built-in index over an open data store (borrowed). */
int mr_search_open_builtin(mr_search **out, mr_data *data);
void mr_search_close(mr_search *s);
const char *mr_search_backend_name(const mr_search *s);
/*
 * Whether a bare word also finds the word's inflected forms (stemming:
 * `running` finds `runs`).  The built-in index and Elasticsearch stem;
 * Meilisearch matches words as written (after its normalization).
 */
bool mr_search_stems(const mr_search *s);

/*
 * Indexes doc as doc_id of account, replacing whatever was indexed under
 * that id before (re-indexing removes exactly the old postings).  Atomic:
 * after an error the old document is still indexed as it was.  Safe under
 * concurrent indexers.  Errors: MR_EINVALID, data store errors.
 */
int mr_search_index(mr_search *s, uint64_t account, uint32_t doc_id, const mr_search_doc *doc);
/*
 * Indexes n documents of one account (ids[i] <- docs[i]) in as few round
 * trips as the backend allows (Elasticsearch: one _bulk request per 500
 * documents; the built-in index: one data-store commit for the whole batch,
 * all or none; other backends: one mr_search_index each).  Each document is
 * replaced atomically, but the batch is not: after an error, some of its
 * documents may be indexed (indexing them again is harmless).
 */
int mr_search_index_batch(mr_search *s, uint64_t account, const uint32_t *ids, const mr_search_doc *docs, size_t n);
/* Removes a document; MR_ENOTFOUND when it was not indexed. */
int mr_search_remove(mr_search *s, uint64_t account, uint32_t doc_id);
/*
 * Runs a parsed query for account.  opts may be NULL (date order, all).
 * *out is filled (mr_search_result_dispose).  MR_ENOTSUPPORTED (with the
 * construct named) where a backend cannot express the query.
 */
int mr_search_query(mr_search *s, uint64_t account, const mr_query *q, const mr_search_opts *opts,
		    mr_search_result *out);
void mr_search_result_dispose(mr_search_result *r);
/*
 * Maintenance of one account's index (the built-in index merges posting
 * deltas into bitmaps; it also does so by itself every 1000 documents a
 * handle indexes).  Idempotent; safe beside indexing.  For purge tasks.
 */
int mr_search_optimize(mr_search *s, uint64_t account);
/*
 * The smallest account id >= from with anything indexed, into *out, so
 * purge tasks can walk every account (and resume from a cursor).
 * MR_ENOTFOUND when there is none; MR_ENOTSUPPORTED when the backend
 * cannot enumerate accounts.
 */
int mr_search_next_account(mr_search *s, uint64_t from, uint64_t *out);
/* Bytes the index occupies (keys + values) and documents indexed, over all accounts. */
int mr_search_stats(mr_search *s, uint64_t *bytes, uint64_t *docs);

#ifdef __cplusplus
}
#endif
#endif
