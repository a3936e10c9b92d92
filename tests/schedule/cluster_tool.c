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
 *   cluster_tool consistency CONFIG
 *                                 after imports and purges (issue 8 item 5):
 *                                 every email's blob reads back verified;
 *                                 every blob link names a stored blob and an
 *                                 existing email; links = emails; each
 *                                 account's quota = its distinct linked blobs'
 *                                 sizes; each mailbox's message counter = its
 *                                 members; totals = sums; the search index
 *                                 holds exactly each account's emails
 * Contents are derived from the index, so check recomputes the ids.
 * Exit 0 when done/intact, 1 with a message otherwise.
 */
#include "blob/hash.h"
#include "mail/model.h"
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

/* ---- consistency ---- */
typedef struct acct_state {
	mr_data *d;
	mr_blob *bs;
	uint32_t account;
	uint32_t *emails;
	size_t nemails, cap;
	mr_blob_id *blobs; /* per email, same order */
	long errors;
	int64_t memberships;
} acct_state;

static int collect_blob(const mr_blob_id *id, uint32_t email, void *payload)
{
	acct_state *a = payload;
	if (a->nemails == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->emails = realloc(a->emails, a->cap * sizeof(*a->emails));
		a->blobs = realloc(a->blobs, a->cap * sizeof(*a->blobs));
		if (!a->emails || !a->blobs)
			return MR_ENOMEM;
	}
	a->emails[a->nemails] = email;
	a->blobs[a->nemails++] = *id;
	return 0;
}

static int count_member(uint32_t uid, uint32_t email, uint64_t modseq, void *payload)
{
	(void)uid, (void)email, (void)modseq;
	(*(int64_t *)payload)++;
	return 0;
}

static int check_mailbox(const mr_mailbox_info *mb, void *payload)
{
	acct_state *a = payload;
	int64_t n = 0;
	int rc = mr_model_mailbox_members(a->d, a->account, mb->id, count_member, &n);
	if (rc < 0)
		return rc;
	if (n != mb->messages) {
		fprintf(stderr, "account %u mailbox %s: counter %lld, members %lld\n", a->account, mb->name,
			(long long)mb->messages, (long long)n);
		a->errors++;
	}
	a->memberships += n;
	return 0;
}

static int cmp_id(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(mr_blob_id));
}
static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

typedef struct totals {
	mr_data *d;
	mr_blob *bs;
	mr_search *s;
	int64_t emails, memberships;
	long errors, accounts;
} totals;

static int check_account(const char *name, uint32_t id, void *payload)
{
	totals *t = payload;
	acct_state a = {.d = t->d, .bs = t->bs, .account = id};
	mr_buf out = MR_BUF_INIT;
	mr_query *q = NULL;
	mr_search_result r = {0};
	int rc = mr_model_account_blobs(t->d, id, collect_blob, &a);
	/* every email's blob is stored and reads back with its hash verified */
	for (size_t i = 0; rc == 0 && i < a.nemails; i++) {
		mr_buf_clear(&out);
		if (mr_blob_get(t->bs, &a.blobs[i], 0, UINT64_MAX, MR_BLOB_VERIFY, &out) < 0) {
			fprintf(stderr, "account %s email %u: blob: %s\n", name, a.emails[i], mr_error_last()->message);
			a.errors++;
		}
	}
	/* quota: each distinct blob of the account once */
	uint64_t want = 0, used = 0;
	if (rc == 0) {
		mr_blob_id *ids = malloc((a.nemails ? a.nemails : 1) * sizeof(*ids));
		if (!ids)
			rc = MR_ENOMEM;
		else {
			memcpy(ids, a.blobs, a.nemails * sizeof(*ids));
			qsort(ids, a.nemails, sizeof(*ids), cmp_id);
			for (size_t i = 0; rc == 0 && i < a.nemails; i++) {
				if (i && cmp_id(&ids[i - 1], &ids[i]) == 0)
					continue;
				mr_blob_info info;
				if (mr_blob_stat(t->bs, &ids[i], &info) == 0)
					want += info.size;
			}
			free(ids);
		}
	}
	if (rc == 0 && (rc = mr_blob_quota_used(t->bs, id, &used)) == 0 && used != want) {
		fprintf(stderr, "account %s: quota used %llu, linked blobs %llu\n", name, (unsigned long long)used,
			(unsigned long long)want);
		a.errors++;
	}
	/* mailbox counters */
	if (rc == 0)
		rc = mr_model_mailboxes(t->d, id, check_mailbox, &a);
	/* the search index holds exactly the account's emails */
	if (rc == 0 && (rc = mr_query_parse(&q, "", 0)) == 0 && (rc = mr_search_query(t->s, id, q, NULL, &r)) == 0) {
		qsort(a.emails, a.nemails, sizeof(uint32_t), cmp_u32);
		qsort(r.ids, r.count, sizeof(uint32_t), cmp_u32);
		if (r.count != a.nemails || (a.nemails && memcmp(r.ids, a.emails, a.nemails * sizeof(uint32_t)) != 0)) {
			fprintf(stderr, "account %s: index has %zu documents, data store %zu emails\n", name, r.count,
				a.nemails);
			a.errors++;
		}
	}
	printf("account %s: emails=%zu memberships=%lld quota=%llu errors=%ld\n", name, a.nemails,
	       (long long)a.memberships, (unsigned long long)used, a.errors);
	t->emails += (int64_t)a.nemails;
	t->memberships += a.memberships;
	t->errors += a.errors;
	t->accounts++;
	mr_search_result_dispose(&r);
	mr_query_free(q);
	mr_buf_dispose(&out);
	free(a.emails);
	free(a.blobs);
	return rc;
}

/* Every link: (blob id, account, collection, document) names a stored blob and an existing email. */
static int check_links(totals *t, int64_t *nlinks)
{
	uint8_t lo[1] = {MR_SUBSPACE_BLOB_LINK}, hi[1] = {MR_SUBSPACE_BLOB_LINK + 1};
	mr_range r = {.begin = mr_slice_of(lo, 1), .end = mr_slice_of(hi, 1), .flags = MR_SCAN_KEYS_ONLY};
	mr_iter *it = NULL;
	mr_buf buf = MR_BUF_INIT;
	int rc = mr_data_scan(t->d, &r, &it), n;
	mr_slice k, v;
	while (rc == 0 && (n = mr_iter_next(it, &k, &v)) == 1) {
		mr_key_reader kr;
		uint8_t sub, coll;
		uint64_t part, doc;
		uint32_t account;
		mr_blob_id id;
		mr_key_reader_init(&kr, k);
		rc = mr_key_read_u8(&kr, &sub);
		for (int i = 0; rc == 0 && i < 4; i++) {
			rc = mr_key_read_u64(&kr, &part);
			for (int j = 0; j < 8; j++)
				id.bytes[8 * i + j] = (uint8_t)(part >> (56 - 8 * j));
		}
		if (rc == 0)
			rc = mr_key_read_u32(&kr, &account);
		if (rc == 0)
			rc = mr_key_read_u8(&kr, &coll);
		if (rc == 0)
			rc = mr_key_read_u64(&kr, &doc);
		if (rc < 0)
			break;
		(*nlinks)++;
		mr_blob_info info;
		if (mr_blob_stat(t->bs, &id, &info) < 0) {
			fprintf(stderr, "link account %u doc %llu: blob missing: %s\n", account, (unsigned long long)doc,
				mr_error_last()->message);
			t->errors++;
		}
		mr_email e;
		if (coll == MR_BLOB_COLL_EMAIL && (mr_model_email_get(t->d, account, (uint32_t)doc, &e, &buf) < 0 ||
						   !mr_blob_id_equal(&e.blob, &id))) {
			fprintf(stderr, "link account %u doc %llu: no such email with that blob\n", account,
				(unsigned long long)doc);
			t->errors++;
		}
	}
	if (rc == 0 && n < 0)
		rc = n;
	mr_iter_free(it);
	mr_buf_dispose(&buf);
	return rc;
}

static int consistency(mr_config *cfg, mr_data *d)
{
	totals t = {.d = d};
	mr_model_totals mt;
	int64_t nlinks = 0;
	int rc = mr_blob_open(&t.bs, cfg, mr_config_role(cfg, "blob"), d);
	if (rc == 0)
		rc = mr_search_open(&t.s, cfg, NULL, d);
	if (rc == 0)
		rc = mr_model_accounts(d, check_account, &t);
	if (rc == 0)
		rc = check_links(&t, &nlinks);
	if (rc == 0)
		rc = mr_model_totals_get(d, &mt);
	if (rc == 0) {
		if (mt.emails != t.emails || mt.memberships != t.memberships || mt.accounts != t.accounts) {
			fprintf(stderr, "totals: %lld accounts %lld emails %lld memberships; counted %ld / %lld / %lld\n",
				(long long)mt.accounts, (long long)mt.emails, (long long)mt.memberships, t.accounts,
				(long long)t.emails, (long long)t.memberships);
			t.errors++;
		}
		if (nlinks != t.emails) {
			fprintf(stderr, "links %lld != emails %lld\n", (long long)nlinks, (long long)t.emails);
			t.errors++;
		}
		printf("accounts=%ld emails=%lld memberships=%lld links=%lld errors=%ld\n", t.accounts,
		       (long long)t.emails, (long long)t.memberships, (long long)nlinks, t.errors);
	}
	if (rc < 0)
		fail("consistency");
	mr_search_close(t.s);
	mr_blob_close(t.bs);
	return rc < 0 || t.errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "consistency") == 0) {
		mr_config *c = NULL;
		mr_data *dd = NULL;
		int r = 1;
		if (mr_config_load(&c, argv[2]) < 0 || mr_data_open(&dd, c, mr_config_role(c, "data")) < 0)
			r = fail("open");
		else
			r = consistency(c, dd);
		mr_data_close(dd);
		mr_config_free(c);
		return r;
	}
	bool blob_cmd = argc == 5 && (strcmp(argv[1], "blobs") == 0 || strcmp(argv[1], "checkblobs") == 0);
	if (!blob_cmd && (argc != 4 || (strcmp(argv[1], "seed") && strcmp(argv[1], "unseed") && strcmp(argv[1], "check")))) {
		fprintf(stderr, "usage: cluster_tool seed|unseed|check CONFIG N\n"
				"       cluster_tool blobs|checkblobs CONFIG LINKED GARBAGE\n"
				"       cluster_tool consistency CONFIG\n");
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
