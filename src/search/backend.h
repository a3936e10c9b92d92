/*
 * backend.h (private to src/search/) — the vtable a search backend
 * implements, and the base handle its instances embed first.
 *
 * Every backend executes the same AST (search.h); the parser is the
 * front's.  Where a backend cannot express a query it returns
 * MR_ENOTSUPPORTED naming the construct, never a different answer.
 * Argument checks and error prefixes ("search store "x" (builtin): ")
 * live in the front (search.c).
 *
 * Versioning: fields are only appended; each addition bumps
 * MR_SEARCH_BACKEND_VERSION; the front calls an op added in version N only
 * if backend->version >= N.
 */
#ifndef MR_SEARCH_BACKEND_H
#define MR_SEARCH_BACKEND_H

#include "core/common.h"
#include "core/config.h"
#include "mailroom/search.h"

/* 1: open..optimize; 2: index_batch; 3: next_account. */
#define MR_SEARCH_BACKEND_VERSION 3

/* Capability bits. */
#define MR_SEARCH_CAP_RELEVANCE (1u << 0) /* MR_SEARCH_ORDER_RELEVANCE */
#define MR_SEARCH_CAP_PHRASE (1u << 1)    /* exact phrase queries */
#define MR_SEARCH_CAP_STEMMING (1u << 2)  /* a word also finds its inflected forms (mr_search_stems) */

typedef struct mr_search_backend mr_search_backend;

/* Base of every backend instance; embed first, downcast with mr_container_of. */
typedef struct mr_search_inst {
	const mr_search_backend *backend;
} mr_search_inst;

struct mr_search_backend {
	int version;      /* MR_SEARCH_BACKEND_VERSION when written */
	const char *name; /* "builtin", "elasticsearch", "meilisearch" */
	uint32_t caps;    /* MR_SEARCH_CAP_* */

	/*
	 * Required.  Opens an instance for the store table sc.  `data` is an
	 * open data store the instance may borrow (the built-in backend keeps
	 * its index there; external engines ignore it).  Errors: MR_EINVALID
	 * (config), MR_EUNAVAILABLE, MR_EAUTH.
	 */
	int (*open)(mr_search_inst **out, const mr_store_config *sc, mr_data *data);
	/* Required.  Releases everything; never fails. */
	void (*close)(mr_search_inst *inst);
	/*
	 * Required.  Indexes (or re-indexes) one document atomically; durable
	 * on return.  Safe under concurrent callers, including on the same
	 * account.
	 */
	int (*index)(mr_search_inst *inst, uint64_t account, uint32_t doc_id, const mr_search_doc *doc);
	/* Required.  Removes a document; MR_ENOTFOUND when absent. */
	int (*remove)(mr_search_inst *inst, uint64_t account, uint32_t doc_id);
	/*
	 * Required.  Runs the AST; fills *out (ids allocated with mr_malloc).
	 * opts is never NULL.  MR_ENOTSUPPORTED with a message naming the
	 * construct it cannot express.
	 */
	int (*query)(mr_search_inst *inst, uint64_t account, const mr_query_node *root, const mr_search_opts *opts,
		     mr_search_result *out);
	/* Optional.  Index size in bytes and document count; NULL: MR_ENOTSUPPORTED. */
	int (*stats)(mr_search_inst *inst, uint64_t *bytes, uint64_t *docs);
	/*
	 * Optional.  Background maintenance of one account's index (the
	 * built-in backend merges posting deltas into bitmaps).  Idempotent,
	 * safe beside concurrent indexing.  NULL: nothing to do.
	 */
	int (*optimize)(mr_search_inst *inst, uint64_t account);

	/* ---- version 2 ---- */
	/*
	 * Optional.  Indexes n documents of one account in few round trips;
	 * each document atomically, the batch not.  NULL: the front calls
	 * index for each.
	 */
	int (*index_batch)(mr_search_inst *inst, uint64_t account, const uint32_t *ids, const mr_search_doc *docs,
			   size_t n);

	/*
	 * Optional (version 3).  The smallest account >= from that has
	 * anything indexed, into *out; MR_ENOTFOUND when there is none.  NULL:
	 * the front answers MR_ENOTSUPPORTED (purge tasks then have no
	 * accounts to optimize).
	 */
	int (*next_account)(mr_search_inst *inst, uint64_t from, uint64_t *out);
};

/* Registry: the backend serving a store type ("rocksdb" -> builtin,
 * "elasticsearch" -> ...), or NULL with an error (unknown / not compiled). */
const mr_search_backend *mr_search__backend_find(const char *type);
/* The built-in backend (always compiled). */
extern const mr_search_backend mr_search__builtin;
/* Elasticsearch/OpenSearch over HTTP (compiled with libcurl). */
extern const mr_search_backend mr_search__elasticsearch;
/* Meilisearch over HTTP (compiled with libcurl). */
extern const mr_search_backend mr_search__meilisearch;

#endif
