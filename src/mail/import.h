/*
 * import.h — imports mail archives (anything mr_mail_reader reads) into an
 * account: blobs in the blob store, the model in the data store, every
 * stored message indexed in the search store.
 *
 * Pipeline: the calling thread reads the archives (mr_mail_reader) and
 * queues copies of the messages; worker threads parse them (GMime), hash
 * and store their bytes (mr_blob_put) and, later, index them; one
 * committing thread writes the model in input order, many messages and
 * their blob links per data-store batch.  Idempotent: a message whose blob
 * is already in the mailbox is a duplicate and writes nothing.
 */
#ifndef MR_MAIL_IMPORT_H
#define MR_MAIL_IMPORT_H

#include "mailroom/blob.h"
#include "mailroom/data.h"
#include "mailroom/search.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct mr_import_progress {
	uint64_t messages;   /* read and processed (stored, duplicate or failed) */
	uint64_t bytes;      /* bytes of those messages */
	uint64_t total_bytes; /* estimate of all bytes to read (file sizes), 0 if unknown */
	double elapsed;      /* seconds */
	bool done;
} mr_import_progress;

typedef void (*mr_import_progress_fn)(const mr_import_progress *p, void *payload);

typedef struct mr_import_options {
	const char *mailbox;      /* root mailbox name, NULL: the reader's default */
	unsigned workers;         /* 0: one per online CPU */
	bool no_index;            /* do not index in the search store (measurements) */
	size_t batch_messages;    /* messages per data-store commit (0: 256) */
	bool no_maintain;         /* skip the data-store maintenance after a large import */
	uint64_t maintain_after;  /* messages stored by one import that make it maintain the data store (0: 2000) */
	mr_import_progress_fn progress;
	void *progress_payload;
	double progress_interval; /* seconds between progress calls (0: 0.5) */
} mr_import_options;

typedef struct mr_import_failure {
	char *what; /* file (and mbox message) */
	char *why;
} mr_import_failure;

typedef struct mr_import_result {
	uint64_t read;         /* messages read */
	uint64_t imported;     /* new emails */
	uint64_t added;        /* messages already stored in the account, added to another mailbox */
	uint64_t duplicates;   /* already in that mailbox: nothing written */
	uint64_t with_warnings; /* stored messages that did not parse cleanly (warnings recorded) */
	uint64_t failed;
	uint64_t new_blobs;    /* blobs whose bytes were written (not already in the blob store) */
	uint64_t bytes;        /* bytes read */
	uint64_t indexed;
	uint64_t skipped_files; /* files that do not look like mail */
	double seconds;
	double maintain_seconds; /* of seconds: mr_data_maintain after a large import (0: not run) */
	mr_import_failure *failures; /* the first 100 */
	size_t nfailures;
} mr_import_result;

/*
 * Checks that every path exists and that every file below it is readable
 * (nothing is written); fills *total_bytes.  MR_ENOTFOUND / MR_EIO naming
 * the path.
 */
int mr_import_check(const char *const *paths, size_t npaths, uint64_t *total_bytes);

/*
 * Imports paths into account (created on first use).  Returns 0 when the
 * import ran (failures of single messages are counted in *res), or an error
 * that stopped it (store down...).  search may be NULL (no indexing).
 */
int mr_import_run(mr_data *d, mr_blob *blobs, mr_search *search, const char *account, const char *const *paths,
		  size_t npaths, const mr_import_options *opts, mr_import_result *res);
void mr_import_result_dispose(mr_import_result *res);

/* Search-store flags of Maildir flags. */
uint32_t mr_import_search_flags(unsigned mail_flags);

#endif
