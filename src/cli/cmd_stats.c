/*
 * cmd_stats.c — `mailroom stats [--json]`: accounts, messages, blobs,
 * stored bytes, dedup ratio, index size, and the backend of each store.
 * Blobs are counted as the distinct blob ids the emails of every account
 * hold; their sizes come from the blob store (mr_blob_stat).
 */
#include "cli/cli.h"

#include "mail/model.h"
#include "mailroom/blob.h"
#include "mailroom/data.h"
#include "mailroom/search.h"

#include <stdlib.h>
#include <string.h>

typedef struct blobset {
	mr_blob_id *ids;
	size_t n, cap;
} blobset;

static int collect(const mr_blob_id *id, uint32_t email, void *payload)
{
	(void)email;
	blobset *s = payload;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		mr_blob_id *v = realloc(s->ids, cap * sizeof(*v));
		if (!v)
			return mr_error_set(MR_ENOMEM, "out of memory");
		s->ids = v;
		s->cap = cap;
	}
	s->ids[s->n++] = *id;
	return 0;
}

typedef struct acct_walk {
	mr_data *d;
	blobset *set;
} acct_walk;

static int each_account(const char *name, uint32_t id, void *payload)
{
	(void)name;
	acct_walk *w = payload;
	return mr_model_account_blobs(w->d, id, collect, w->set);
}

static int cmp_id(const void *a, const void *b) { return memcmp(a, b, sizeof(mr_blob_id)); }

int mr_cmd_stats(mr_cli *cli, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return mr_cli_usage("usage: mailroom stats [--json]");
	mr_cli_stores st;
	int rc = mr_cli_open_stores(cli, MR_CLI_OPEN_BLOB | MR_CLI_OPEN_SEARCH, &st, "stats");
	if (rc)
		return rc;
	mr_model_totals t;
	blobset set = {0};
	acct_walk w = {st.data, &set};
	uint64_t index_bytes = 0, index_docs = 0, blob_bytes = 0, stored_bytes = 0, blobs = 0;
	if (mr_model_totals_get(st.data, &t) != 0 || mr_model_accounts(st.data, each_account, &w) != 0 ||
	    mr_search_stats(st.search, &index_bytes, &index_docs) != 0) {
		rc = mr_cli_fail("stats");
		goto done;
	}
	if (set.n)
		qsort(set.ids, set.n, sizeof(mr_blob_id), cmp_id);
	for (size_t i = 0; i < set.n; i++) {
		if (i && memcmp(&set.ids[i], &set.ids[i - 1], sizeof(mr_blob_id)) == 0)
			continue;
		mr_blob_info info;
		if (mr_blob_stat(st.blob, &set.ids[i], &info) != 0) {
			rc = mr_cli_fail("stats");
			goto done;
		}
		blobs++;
		blob_bytes += info.size;
		stored_bytes += info.inline_stored ? info.size : info.stored_size;
	}
	double dedup = stored_bytes ? (double)t.bytes / (double)stored_bytes : 1.0;
	if (cli->json) {
		printf("{\"accounts\":%lld,\"messages\":%lld,\"memberships\":%lld,\"message_bytes\":%lld,\"blobs\":%llu,"
		       "\"blob_bytes\":%llu,\"stored_bytes\":%llu,\"dedup_ratio\":%.3f,\"index_bytes\":%llu,"
		       "\"index_documents\":%llu,\"stores\":{\"data\":\"%s\",\"blob\":\"%s\",\"fts\":\"%s\"}}\n",
		       (long long)t.accounts, (long long)t.emails, (long long)t.memberships, (long long)t.bytes,
		       (unsigned long long)blobs, (unsigned long long)blob_bytes, (unsigned long long)stored_bytes, dedup,
		       (unsigned long long)index_bytes, (unsigned long long)index_docs, mr_data_backend_name(st.data),
		       mr_blob_backend_name(st.blob), mr_search_backend_name(st.search));
	} else {
		printf("accounts:      %lld\nmessages:      %lld (in %lld mailbox memberships), %.1f MB\n"
		       "blobs:         %llu, %.1f MB, %.1f MB stored\ndedup ratio:   %.2f (message bytes / stored bytes)\n"
		       "index:         %llu documents, %.1f MB\n"
		       "stores:        data %s (%s), blob %s (%s), fts %s\n",
		       (long long)t.accounts, (long long)t.emails, (long long)t.memberships, (double)t.bytes / 1e6,
		       (unsigned long long)blobs, (double)blob_bytes / 1e6, (double)stored_bytes / 1e6, dedup,
		       (unsigned long long)index_docs, (double)index_bytes / 1e6, mr_data_store_id(st.data),
		       mr_data_backend_name(st.data), mr_blob_store_id(st.blob), mr_blob_backend_name(st.blob),
		       mr_search_backend_name(st.search));
	}
done:
	free(set.ids);
	mr_cli_close_stores(&st);
	return rc;
}
