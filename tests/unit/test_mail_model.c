/*
 * test_mail_model.c — the mail model on RocksDB + fs blobs: accounts,
 * mailboxes (parents, roles, UIDs), emails with dedup outcomes, blob links in
 * the same batch, threads, the change log, collections.
 */
#include "core/common.h"
#include "harness.h"

#include "mail/model.h"
#include "mail/reader.h"
#include "mailroom/blob.h"
#include "mailroom/config.h"
#include "mailroom/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[] = "/tmp/mr-test-model-XXXXXX";
static mr_config *cfg;
static mr_data *d;
static mr_blob *bs;

static void setup(void)
{
	MR_CHECK(mkdtemp(root) != NULL);
	char text[1024];
	snprintf(text, sizeof(text),
		 "[storage]\ndata = \"db\"\nblob = \"fs\"\n\n[store.\"db\"]\ntype = \"rocksdb\"\npath = \"%s/db\"\n\n"
		 "[store.\"fs\"]\ntype = \"fs\"\npath = \"%s/blobs\"\n",
		 root, root);
	MR_CHECK_OK(mr_config_parse(&cfg, text, strlen(text), "test.toml"));
	MR_CHECK_OK(mr_data_open(&d, cfg, "db"));
	MR_CHECK_OK(mr_blob_open(&bs, cfg, "fs", d));
}

static void test_accounts_and_mailboxes(void)
{
	uint32_t a = 0, a2 = 0, b = 0;
	bool created = false;
	MR_CHECK_RC(mr_model_account(d, "alice", false, &a, NULL), MR_ENOTFOUND);
	MR_CHECK_OK(mr_model_account(d, "alice", true, &a, &created));
	MR_CHECK(created);
	MR_CHECK_OK(mr_model_account(d, "alice", true, &a2, &created));
	MR_CHECK(!created);
	MR_CHECK_EQ_INT(a, a2);
	MR_CHECK_OK(mr_model_account(d, "bob", true, &b, NULL));
	MR_CHECK(a != b);

	uint32_t sent = 0, parent = 0, inbox = 0;
	MR_CHECK_OK(mr_model_mailbox(d, a, "Archive/2020/Sent Items", true, &sent));
	MR_CHECK_OK(mr_model_mailbox(d, a, "Archive/2020", false, &parent));
	MR_CHECK_OK(mr_model_mailbox(d, a, "INBOX", true, &inbox));
	mr_mailbox_info mb;
	MR_CHECK_OK(mr_model_mailbox_get(d, a, sent, &mb));
	MR_CHECK_EQ_STR(mb.name, "Archive/2020/Sent Items");
	MR_CHECK_EQ_INT(mb.parent, parent);
	MR_CHECK_EQ_INT(mb.role, MR_ROLE_SENT);
	MR_CHECK(mb.uidvalidity != 0);
	MR_CHECK_EQ_INT(mb.uidnext, 1);
	MR_CHECK_OK(mr_model_mailbox_get(d, a, parent, &mb));
	MR_CHECK_EQ_INT(mb.role, MR_ROLE_NONE);
	uint32_t arch = 0;
	MR_CHECK_OK(mr_model_mailbox(d, a, "Archive", false, &arch));
	MR_CHECK_OK(mr_model_mailbox_get(d, a, arch, &mb));
	MR_CHECK_EQ_INT(mb.role, MR_ROLE_ARCHIVE);
	MR_CHECK_EQ_INT(mr_mailbox_role_guess("Junk E-mail"), MR_ROLE_JUNK);
	MR_CHECK_EQ_INT(mr_mailbox_role_guess("work/Drafts"), MR_ROLE_DRAFTS);
	MR_CHECK_EQ_INT(mr_mailbox_role_guess("inbox"), MR_ROLE_INBOX);
	/* another account's names are its own */
	MR_CHECK_RC(mr_model_mailbox(d, b, "INBOX", false, &inbox), MR_ENOTFOUND);
	MR_CHECK_RC(mr_model_mailbox(d, a, "", true, &inbox), MR_EINVALID);
}

typedef struct change_list {
	mr_change_op op[64];
	uint32_t id[64];
	size_t n;
} change_list;

static int on_change(mr_change_op op, uint32_t id, uint64_t seq, void *payload)
{
	(void)seq;
	change_list *l = payload;
	if (l->n < 64) {
		l->op[l->n] = op;
		l->id[l->n] = id;
	}
	l->n++;
	return 0;
}

/* Adds one message to mailbox in its own batch; returns the outcome. */
static int add(mr_model_writer *w, uint32_t mailbox, const char *bytes, const char *msgid, const char *irt,
	       const char *subject, mr_email_outcome *outcome, uint32_t *id)
{
	mr_email_new e = {.size = strlen(bytes), .received_at = 1000, .flags = MR_MAIL_FLAG_SEEN,
			  .keywords = "", .from = "a@example.org", .subject = subject, .message_id = msgid,
			  .in_reply_to = irt, .thread_subject = subject};
	if (irt)
		e.thread_ids[e.nthread_ids++] = irt;
	if (msgid)
		e.thread_ids[e.nthread_ids++] = msgid;
	int rc = mr_blob_put(bs, bytes, strlen(bytes), &e.blob, NULL);
	if (rc)
		return rc;
	mr_batch *b = NULL;
	if ((rc = mr_batch_new(&b, d)) != 0)
		return rc;
	rc = mr_model_email_add(w, b, mailbox, &e, outcome, id);
	if (rc == 0)
		rc = mr_model_writer_seal(w, b);
	if (rc == 0)
		rc = mr_batch_commit(b);
	if (rc == 0)
		mr_model_writer_committed(w);
	else
		mr_model_writer_abort(w);
	mr_batch_free(b);
	return rc;
}

static void test_emails_threads_changes(void)
{
	uint32_t a = 0, inbox = 0, sent = 0;
	MR_CHECK_OK(mr_model_account(d, "carol", true, &a, NULL));
	MR_CHECK_OK(mr_model_mailbox(d, a, "INBOX", true, &inbox));
	MR_CHECK_OK(mr_model_mailbox(d, a, "Sent", true, &sent));
	char state0[24];
	MR_CHECK_OK(mr_model_state(d, a, state0));
	mr_model_writer *w = NULL;
	MR_CHECK_OK(mr_model_writer_new(&w, d, bs, a));
	mr_email_outcome o;
	uint32_t e1 = 0, e2 = 0, e3 = 0, e4 = 0, again = 0;
	const char *m1 = "Message-ID: <1@x>\nSubject: hello\n\nbody one\n";
	const char *m2 = "Message-ID: <2@x>\nIn-Reply-To: <1@x>\nSubject: Re: hello\n\nbody two\n";
	MR_CHECK_OK(add(w, inbox, m1, "1@x", NULL, "hello", &o, &e1));
	MR_CHECK_EQ_INT(o, MR_EMAIL_CREATED);
	MR_CHECK_OK(add(w, inbox, m2, "2@x", "1@x", "hello", &o, &e2));
	MR_CHECK_EQ_INT(o, MR_EMAIL_CREATED);
	/* the same bytes in the same mailbox: a duplicate; in another mailbox: a new membership */
	MR_CHECK_OK(add(w, inbox, m1, "1@x", NULL, "hello", &o, &again));
	MR_CHECK_EQ_INT(o, MR_EMAIL_DUPLICATE);
	MR_CHECK_EQ_INT(again, e1);
	MR_CHECK_OK(add(w, sent, m1, "1@x", NULL, "hello", &o, &again));
	MR_CHECK_EQ_INT(o, MR_EMAIL_ADDED);
	MR_CHECK_EQ_INT(again, e1);
	/* no ids at all: the thread of the same base subject */
	MR_CHECK_OK(add(w, inbox, "Subject: Re: hello\n\nthree\n", NULL, NULL, "hello", &o, &e3));
	/* unrelated */
	MR_CHECK_OK(add(w, inbox, "Message-ID: <4@x>\nSubject: other\n\nfour\n", "4@x", NULL, "other", &o, &e4));
	mr_model_writer_free(w);

	mr_email r1, r2, r3, r4;
	mr_buf buf = MR_BUF_INIT;
	MR_CHECK_OK(mr_model_email_get(d, a, e1, &r1, &buf));
	MR_CHECK_EQ_STR(r1.message_id, "1@x");
	MR_CHECK_EQ_INT(r1.size, strlen(m1));
	MR_CHECK_EQ_INT(r1.flags, MR_MAIL_FLAG_SEEN);
	MR_CHECK_OK(mr_model_email_get(d, a, e2, &r2, &buf));
	MR_CHECK_OK(mr_model_email_get(d, a, e3, &r3, &buf));
	MR_CHECK_OK(mr_model_email_get(d, a, e4, &r4, &buf));
	mr_buf_dispose(&buf);
	MR_CHECK_EQ_INT(r2.thread, r1.thread);
	MR_CHECK_EQ_INT(r3.thread, r1.thread);
	MR_CHECK(r4.thread != r1.thread);
	uint32_t members[8];
	size_t n = 0;
	MR_CHECK_OK(mr_model_thread_emails(d, a, r1.thread, members, 8, &n));
	MR_CHECK_EQ_INT(n, 3);

	/* memberships: e1 in INBOX (UID 1) and Sent (UID 1) with distinct MODSEQs */
	mr_membership ms[4];
	MR_CHECK_OK(mr_model_email_mailboxes(d, a, e1, ms, 4, &n));
	MR_CHECK_EQ_INT(n, 2);
	MR_CHECK_EQ_INT(ms[0].uid, 1);
	MR_CHECK(ms[0].modseq != ms[1].modseq);
	mr_mailbox_info mb;
	MR_CHECK_OK(mr_model_mailbox_get(d, a, inbox, &mb));
	MR_CHECK_EQ_INT(mb.messages, 4);
	MR_CHECK(mb.uidnext > 4);

	/* the blob is linked from the email, in the same batch */
	mr_blob_info info;
	MR_CHECK_OK(mr_blob_stat(bs, &r1.blob, &info));
	MR_CHECK(info.links >= 1);

	/* change log since the state before: 4 created + 1 updated email */
	change_list cl = {0};
	bool more = false;
	MR_CHECK_OK(mr_model_changes(d, a, MR_CHANGE_EMAIL, state0, 0, on_change, &cl, &more));
	MR_CHECK_EQ_INT(cl.n, 5);
	MR_CHECK_EQ_INT(cl.op[0], MR_CHANGE_CREATED);
	MR_CHECK_EQ_INT(cl.id[0], e1);
	MR_CHECK_EQ_INT(cl.op[2], MR_CHANGE_UPDATED);
	MR_CHECK_EQ_INT(cl.id[2], e1);
	change_list two = {0};
	MR_CHECK_OK(mr_model_changes(d, a, MR_CHANGE_EMAIL, state0, 2, on_change, &two, &more));
	MR_CHECK_EQ_INT(two.n, 2);
	MR_CHECK(more);
	char state1[24];
	MR_CHECK_OK(mr_model_state(d, a, state1));
	change_list none = {0};
	MR_CHECK_OK(mr_model_changes(d, a, MR_CHANGE_EMAIL, state1, 0, on_change, &none, &more));
	MR_CHECK_EQ_INT(none.n, 0);
	MR_CHECK_RC(mr_model_changes(d, a, MR_CHANGE_EMAIL, "x1", 0, on_change, &none, &more), MR_EINVALID);

	/* retention: a cutoff before every commit deletes nothing */
	uint64_t deleted = 99;
	bool complete = false;
	MR_CHECK_OK(mr_model_changes_purge(d, 0, NULL, &deleted, &complete, NULL));
	MR_CHECK_EQ_INT(deleted, 0);
	MR_CHECK(complete);
	change_list kept = {0};
	MR_CHECK_OK(mr_model_changes(d, a, MR_CHANGE_EMAIL, state0, 0, on_change, &kept, &more));
	MR_CHECK_EQ_INT(kept.n, 5);
	/* a cutoff after every commit: the old entries go, an old state cannot be answered, the current one can */
	MR_CHECK_OK(mr_model_changes_purge(d, mr_now_unix_ms() + 60000, NULL, &deleted, &complete, NULL));
	MR_CHECK(deleted >= 5);
	MR_CHECK(complete);
	MR_CHECK_RC(mr_model_changes(d, a, MR_CHANGE_EMAIL, state0, 0, on_change, &none, &more), MR_ENOTFOUND);
	MR_CHECK_OK(mr_model_changes(d, a, MR_CHANGE_EMAIL, state1, 0, on_change, &none, &more));
	MR_CHECK_EQ_INT(none.n, 0);
	/* idempotent */
	MR_CHECK_OK(mr_model_changes_purge(d, mr_now_unix_ms() + 60000, NULL, &deleted, &complete, NULL));
	MR_CHECK_EQ_INT(deleted, 0);
}

static void test_collections(void)
{
	uint32_t a = 0;
	MR_CHECK_OK(mr_model_account(d, "dave", true, &a, NULL));
	const char *script = "require \"fileinto\";\nfileinto \"Junk\";\n";
	MR_CHECK_OK(mr_model_collection_put(d, a, MR_COLLECTION_SIEVE, "main", mr_slice_str(script)));
	mr_buf v = MR_BUF_INIT;
	MR_CHECK_OK(mr_model_collection_get(d, a, MR_COLLECTION_SIEVE, "main", &v));
	MR_CHECK(v.len == strlen(script) && memcmp(v.ptr, script, v.len) == 0);
	MR_CHECK_RC(mr_model_collection_get(d, a, MR_COLLECTION_CALENDAR, "main", &v), MR_ENOTFOUND);
	MR_CHECK_OK(mr_model_collection_delete(d, a, MR_COLLECTION_SIEVE, "main"));
	MR_CHECK_RC(mr_model_collection_get(d, a, MR_COLLECTION_SIEVE, "main", &v), MR_ENOTFOUND);
	mr_buf_dispose(&v);
}

int main(void)
{
	MR_TEST_RUN(setup);
	if (!d || !bs)
		return 1;
	MR_TEST_RUN(test_accounts_and_mailboxes);
	MR_TEST_RUN(test_emails_threads_changes);
	MR_TEST_RUN(test_collections);
	mr_blob_close(bs);
	mr_data_close(d);
	mr_config_free(cfg);
	(void)mr_test_remove_tree(root);
	MR_TEST_DONE();
}
