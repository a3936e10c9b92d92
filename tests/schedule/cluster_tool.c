/*
 * cluster_tool.c — helper of test_cluster.sh (not a test by itself):
 *   cluster_tool seed CONFIG N    indexes one document in each of accounts 1..N
 *                                 of the configuration's search store
 *   cluster_tool unseed CONFIG N  removes those documents again
 *   cluster_tool check CONFIG N   every account 1..N still finds its document,
 *                                 and the index lists exactly those accounts
 * Exit 0 when done/intact, 1 with a message otherwise.
 */
#include "mailroom/config.h"
#include "mailroom/data.h"
#include "mailroom/search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what)
{
	fprintf(stderr, "cluster_tool: %s: %s\n", what, mr_error_last()->message);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[1], "seed") && strcmp(argv[1], "unseed") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: cluster_tool seed|unseed|check CONFIG N\n");
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
