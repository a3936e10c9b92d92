/*
 * cluster_tool.c — helper of test_cluster.sh (not a test by itself):
 *   cluster_tool seed CONFIG N    indexes one document in each of accounts 1..N
 *                                 of the configuration's search store
 *   cluster_tool unseed CONFIG N  removes those documents again
 *   cluster_tool check CONFIG N   every account 1..N still finds its document,
 *                                 and the index lists exactly those accounts
 *   cluster_tool blobs CONFIG L G puts L blobs linked to emails of account
 *                                 1000 and G unlinked (garbage) blobs, 4 KiB each
 *   cluster_tool checkblobs CONFIG L G
 *                                 every linked blob reads back verified, every
 *                                 garbage blob is gone
 * Contents are derived from the index, so check recomputes the ids.
 * Exit 0 when done/intact, 1 with a message otherwise.
 */
#include "blob/hash.h"
#include "mailroom/blob.h"
#include "mailroom/config.h"
#include "mailroom/data.h"
#include "mailroom/search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "cluster_tool: %s: %s\n", what, mr_error_last()->message);
	return 1;
}

static void content(uint8_t *buf, size_t len, const char *kind, long i)
{
	for (size_t off = 0; off < len;) {
		int n = snprintf((char *)buf + off, len - off, "%s blob %ld of the cluster purge test; ", kind, i);
		if (n <= 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

static int blobs(mr_config *cfg, mr_data *d, bool check, long linked, long garbage)
{
	mr_blob *bs = NULL;
	mr_batch *b = NULL;
	mr_buf out = MR_BUF_INIT;
	uint8_t buf[4096];
	long ok = 0, gone = 0;
	int rc = mr_blob_open(&bs, cfg, mr_config_role(cfg, "blob"), d);
	if (rc < 0)
		return fail("blob open");
	for (long i = 0; i < linked + garbage && rc == 0; i++) {
		bool is_linked = i < linked;
		memset(buf, 0, sizeof(buf));
		content(buf, sizeof(buf), is_linked ? "linked" : "garbage", i);
		mr_blob_id id;
		if (!check) {
			if ((rc = mr_blob_put(bs, buf, sizeof(buf), &id, NULL)) < 0)
				break;
			if (!is_linked)
				continue;
			mr_blob_owner owner = {.account = 1000, .collection = MR_BLOB_COLL_EMAIL, .document = (uint64_t)i};
			if ((rc = mr_batch_new(&b, d)) < 0 || (rc = mr_blob_link(bs, b, &id, &owner)) < 0 ||
			    (rc = mr_batch_commit(b)) < 0)
				break;
			mr_batch_free(b);
			b = NULL;
			continue;
		}
		mr_blob_hash_bytes(buf, sizeof(buf), &id); /* the id, without storing */
		mr_buf_clear(&out);
		int g = mr_blob_get(bs, &id, 0, UINT64_MAX, MR_BLOB_VERIFY, &out);
		if (is_linked) {
			if (g == 0 && out.len == sizeof(buf) && memcmp(out.ptr, buf, sizeof(buf)) == 0)
				ok++;
			else
				fprintf(stderr, "cluster_tool: linked blob %ld: %s\n", i,
					g ? mr_error_last()->message : "wrong bytes");
		} else if (g == MR_ENOTFOUND) {
			gone++;
		} else {
			fprintf(stderr, "cluster_tool: garbage blob %ld still readable (%d)\n", i, g);
		}
	}
	if (rc < 0)
		fail(check ? "check blobs" : "put blobs");
	else if (check)
		printf("linked=%ld intact=%ld garbage=%ld gone=%ld\n", linked, ok, garbage, gone);
	mr_batch_free(b);
	mr_buf_dispose(&out);
	mr_blob_close(bs);
	if (rc < 0)
		return 1;
	return check && (ok != linked || gone != garbage) ? 1 : 0;
}

int main(int argc, char **argv)
{
	bool blob_cmd = argc == 5 && (strcmp(argv[1], "blobs") == 0 || strcmp(argv[1], "checkblobs") == 0);
	if (!blob_cmd && (argc != 4 || (strcmp(argv[1], "seed") && strcmp(argv[1], "unseed") && strcmp(argv[1], "check")))) {
		fprintf(stderr, "usage: cluster_tool seed|unseed|check CONFIG N\n"
				"       cluster_tool blobs|checkblobs CONFIG LINKED GARBAGE\n");
		return 2;
	}
	long n = strtol(argv[3], NULL, 10);
	mr_config *cfg = NULL;
	mr_data *d = NULL;
	mr_search *s = NULL;
	mr_query *q = NULL;
	int rc = 1;
	if (mr_config_load(&cfg, argv[2]) < 0)
		return fail("config");
	if (blob_cmd) {
		if (mr_data_open(&d, cfg, mr_config_role(cfg, "data")) < 0)
			rc = fail("open");
		else
			rc = blobs(cfg, d, argv[1][0] == 'c', n, strtol(argv[4], NULL, 10));
		goto done;
	}
	if (mr_data_open(&d, cfg, mr_config_role(cfg, "data")) < 0 || mr_search_open(&s, cfg, NULL, d) < 0) {
		rc = fail("open");
		goto done;
	}
	if (strcmp(argv[1], "seed") == 0) {
		for (long a = 1; a <= n; a++) {
			char body[128];
			snprintf(body, sizeof(body), "cluster purge witness account %ld", a);
			mr_search_doc doc = {.subject = "witness", .body = body, .date = 1700000000};
			if (mr_search_index(s, (uint64_t)a, 7, &doc) < 0) {
				rc = fail("index");
				goto done;
			}
		}
		rc = 0;
		goto done;
	}
	if (strcmp(argv[1], "unseed") == 0) {
		for (long a = 1; a <= n; a++)
			if (mr_search_remove(s, (uint64_t)a, 7) < 0 && mr_error_last()->code != MR_ENOTFOUND) {
				rc = fail("remove");
				goto done;
			}
		rc = 0;
		goto done;
	}
	if (mr_query_parse(&q, "witness cluster", 15) < 0) {
		rc = fail("query");
		goto done;
	}
	long found = 0, accounts = 0;
	uint64_t acc = 0;
	int nrc;
	while ((nrc = mr_search_next_account(s, acc, &acc)) == 0) {
		mr_search_result r = {0};
		if (mr_search_query(s, acc, q, NULL, &r) < 0) {
			rc = fail("search");
			goto done;
		}
		if (r.count == 1 && r.ids[0] == 7)
			found++;
		else
			fprintf(stderr, "cluster_tool: account %llu: %zu results\n", (unsigned long long)acc, r.count);
		mr_search_result_dispose(&r);
		accounts++;
		acc++;
	}
	if (nrc != MR_ENOTFOUND) {
		rc = fail("list accounts");
		goto done;
	}
	printf("accounts=%ld found=%ld expected=%ld\n", accounts, found, n);
	rc = accounts == n && found == n ? 0 : 1;
done:
	mr_query_free(q);
	mr_search_close(s);
	mr_data_close(d);
	mr_config_free(cfg);
	return rc;
}
