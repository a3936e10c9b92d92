/*
 * import.c — the import pipeline (import.h).
 *
 *   reader (calling thread) --jobs--> workers: parse + blob put --ring by seq--> committer:
 *   model writes, many messages per batch --index queue--> workers: mr_search_index
 *
 * Workers take a full group of index work (INDEX_GROUP = 256 documents) before
 * parse work, a partial one only when there is no parse work: fuller groups
 * mean fewer posting keys (the built-in index writes one delta key per term
 * per group).  Memory stays bounded: the reader stops when MAX_INFLIGHT
 * messages (or MAX_INFLIGHT_BYTES) are in the pipeline, index queue included,
 * and then the parse work runs out.  The committer consumes the ring in read
 * order, so UIDs follow the order of the archive.
 */
#include "mail/import.h"

#include "core/common.h"
#include "mail/message.h"
#include "mail/model.h"
#include "mail/reader.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RING 1024
#define MAX_INFLIGHT 512
#define MAX_INFLIGHT_BYTES (256u << 20)
#define MAX_FAILURES 100
#define MAINTAIN_MIN 2000 /* default of mr_import_options.maintain_after */

typedef struct job {
	uint64_t seq;
	char *mailbox;
	unsigned flags;
	char keywords[64];
	bool has_idate;
	int64_t idate;
	char *what;
	uint8_t *bytes;
	size_t len;
	/* worker */
	int err;
	char *errmsg;
	mr_message *msg;
	mr_blob_id blob;
	mr_blob_ticket ticket; /* completed in the committer's batch */
	bool stored_new;
	char *from;
	char *thread_subject;
	/* committer */
	uint32_t email;
	int64_t received_at;
	mr_email_outcome outcome;
	struct job *next;
} job;

typedef struct ctx {
	mr_data *d;
	mr_blob *blobs;
	mr_search *search;
	uint32_t account;
	const mr_import_options *opts;
	mr_import_result *res;
	pthread_mutex_t mu;
	pthread_cond_t work, ready, space;
	job *parse_head, *parse_tail, *index_head, *index_tail;
	size_t index_n; /* jobs in the index queue */
	job *ring[RING];
	size_t inflight;
	size_t inflight_bytes;
	uint64_t total_read;
	bool reader_done, stop;
	int fatal; /* a store error that stops the import */
	char fatal_msg[512];
	uint64_t processed, processed_bytes, total_bytes;
	uint64_t t0;
	uint64_t last_progress;
} ctx;

static void job_free(job *j)
{
	if (!j)
		return;
	mr_free(j->mailbox);
	mr_free(j->what);
	mr_free(j->bytes);
	mr_free(j->errmsg);
	mr_message_free(j->msg);
	mr_free(j->from);
	mr_free(j->thread_subject);
	mr_free(j);
}

/* Under c->mu. */
static void add_failure(ctx *c, const char *what, const char *why)
{
	mr_import_result *r = c->res;
	r->failed++;
	if (r->nfailures >= MAX_FAILURES)
		return;
	if (!r->failures) {
		r->failures = mr_calloc(MAX_FAILURES, sizeof(*r->failures));
		if (!r->failures)
			return;
	}
	r->failures[r->nfailures].what = mr_strdup(what ? what : "?");
	r->failures[r->nfailures].why = mr_strdup(why ? why : "?");
	r->nfailures++;
}

static void push(job **head, job **tail, job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static job *pop(job **head, job **tail)
{
	job *j = *head;
	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
	}
	return j;
}

/* Releases a job that leaves the pipeline; under c->mu. */
static void retire(ctx *c, job *j)
{
	c->inflight--;
	c->inflight_bytes -= j->len;
	c->processed++;
	c->processed_bytes += j->len;
	job_free(j);
	pthread_cond_broadcast(&c->space);
}

uint32_t mr_import_search_flags(unsigned f)
{
	uint32_t s = 0;
	if (f & MR_MAIL_FLAG_SEEN)
		s |= MR_SEARCH_FLAG(MR_FLAG_SEEN);
	if (f & MR_MAIL_FLAG_FLAGGED)
		s |= MR_SEARCH_FLAG(MR_FLAG_FLAGGED);
	if (f & MR_MAIL_FLAG_REPLIED)
		s |= MR_SEARCH_FLAG(MR_FLAG_ANSWERED);
	if (f & MR_MAIL_FLAG_DRAFT)
		s |= MR_SEARCH_FLAG(MR_FLAG_DRAFT);
	if (f & MR_MAIL_FLAG_TRASHED)
		s |= MR_SEARCH_FLAG(MR_FLAG_DELETED);
	if (f & MR_MAIL_FLAG_PASSED)
		s |= MR_SEARCH_FLAG(MR_FLAG_FORWARDED);
	return s;
}

/* ---- worker: parse + blob put ---- */

static int format_addr(mr_buf *b, const mr_mail_address *a)
{
	if (a->name[0] && a->addr[0])
		return mr_buf_printf(b, "%s <%s>", a->name, a->addr);
	return mr_buf_puts(b, a->name[0] ? a->name : a->addr);
}

static void prepare(ctx *c, job *j)
{
	int rc = mr_message_parse(&j->msg, j->bytes, j->len);
	if (rc == 0)
		rc = mr_blob_put_deferred(c->blobs, j->bytes, j->len, &j->ticket, &j->stored_new);
	j->blob = j->ticket.id;
	if (rc == 0) {
		mr_buf b = {0};
		if (j->msg->from.count)
			rc = format_addr(&b, &j->msg->from.items[0]);
		if (rc == 0 && (rc = mr_buf_put(&b, "", 1)) == 0) {
			j->from = (char *)b.ptr;
			b.ptr = NULL;
		}
		mr_buf_dispose(&b);
		const char *s = j->msg->subject_normalized;
		if (rc == 0 && s && *s) {
			j->thread_subject = mr_strdup(s);
			if (!j->thread_subject)
				rc = MR_ENOMEM;
			else
				for (char *p = j->thread_subject; *p; p++)
					*p = (char)tolower((unsigned char)*p);
		}
	}
	if (rc) {
		j->err = rc;
		j->errmsg = mr_strdup(mr_error_last()->message);
	}
	/* the bytes are in the blob store now; keep only the parsed model */
	mr_free(j->bytes);
	j->bytes = NULL;
}

static int append_list(mr_buf *b, const mr_mail_address_list *l)
{
	int rc = 0;
	for (size_t i = 0; i < l->count && rc == 0; i++) {
		if (i)
			rc = mr_buf_puts(b, "\n");
		if (rc == 0)
			rc = format_addr(b, &l->items[i]);
	}
	return rc ? rc : mr_buf_put(b, "", 1);
}

typedef struct docbuf {
	mr_buf from, to, cc, bcc, body, att;
	char **names;
	size_t nnames;
	mr_search_header hdrs[2];
	mr_search_doc doc;
} docbuf;

static void docbuf_dispose(docbuf *db)
{
	for (size_t i = 0; i < db->nnames; i++)
		mr_free(db->names[i]);
	mr_free(db->names);
	mr_buf_dispose(&db->from);
	mr_buf_dispose(&db->to);
	mr_buf_dispose(&db->cc);
	mr_buf_dispose(&db->bcc);
	mr_buf_dispose(&db->body);
	mr_buf_dispose(&db->att);
	memset(db, 0, sizeof(*db));
}

/* The search document of a stored message (db must be zeroed). */
static int build_doc(ctx *c, job *j, docbuf *db)
{
	const mr_message *m = j->msg;
	int rc = append_list(&db->from, &m->from);
	if (rc == 0)
		rc = append_list(&db->to, &m->to);
	if (rc == 0)
		rc = append_list(&db->cc, &m->cc);
	if (rc == 0)
		rc = append_list(&db->bcc, &m->bcc);
	for (size_t i = 0; rc == 0 && i < m->text_count; i++) {
		if (i)
			rc = mr_buf_puts(&db->body, "\n");
		if (rc == 0)
			rc = mr_buf_put(&db->body, m->texts[i].text, m->texts[i].len);
	}
	if (rc == 0)
		rc = mr_buf_put(&db->body, "", 1);
	for (size_t i = 0; rc == 0 && i < m->attachment_count; i++) {
		const mr_mail_attachment *a = &m->attachments[i];
		if (a->name[0])
			rc = mr_buf_printf(&db->att, "%s\n", a->name);
		if (rc == 0 && a->text)
			rc = mr_buf_put(&db->att, a->text, a->text_len);
		if (rc == 0)
			rc = mr_buf_puts(&db->att, "\n");
	}
	if (rc == 0)
		rc = mr_buf_put(&db->att, "", 1);
	/* the mailboxes holding it (for in:) */
	if (rc == 0 && j->outcome == MR_EMAIL_CREATED) {
		db->names = mr_calloc(1, sizeof(*db->names));
		if (!db->names || !(db->names[0] = mr_strdup(j->mailbox)))
			rc = MR_ENOMEM;
		else
			db->nnames = 1;
	} else if (rc == 0) {
		mr_membership ms[64];
		size_t n = 0;
		rc = mr_model_email_mailboxes(c->d, c->account, j->email, ms, 64, &n);
		if (n > 64)
			n = 64;
		if (rc == 0 && n && !(db->names = mr_calloc(n, sizeof(*db->names))))
			rc = MR_ENOMEM;
		for (size_t i = 0; rc == 0 && i < n; i++) {
			mr_mailbox_info mb;
			if ((rc = mr_model_mailbox_get(c->d, c->account, ms[i].mailbox, &mb)) == 0 &&
			    !(db->names[db->nnames++] = mr_strdup(mb.name)))
				rc = MR_ENOMEM;
		}
	}
	size_t nh = 0;
	if (m->message_id)
		db->hdrs[nh++] = (mr_search_header){"message-id", m->message_id};
	if (m->in_reply_to.count)
		db->hdrs[nh++] = (mr_search_header){"in-reply-to", m->in_reply_to.items[0]};
	db->doc = (mr_search_doc){
		.from = mr_buf_cstr(&db->from),
		.to = mr_buf_cstr(&db->to),
		.cc = mr_buf_cstr(&db->cc),
		.bcc = mr_buf_cstr(&db->bcc),
		.subject = m->subject,
		.body = mr_buf_cstr(&db->body),
		.attachment = mr_buf_cstr(&db->att),
		.headers = db->hdrs,
		.nheaders = nh,
		.date = j->received_at,
		.size = (int64_t)m->raw_size,
		.flags = mr_import_search_flags(j->flags),
		.has_attachment = m->has_attachment,
		.mailboxes = (const char *const *)db->names,
		.nmailboxes = db->nnames,
	};
	return rc;
}

#define INDEX_GROUP 256

/* Indexes a group of stored messages in one search-store call. */
static void index_group(ctx *c, job **jobs, size_t n)
{
	docbuf db[INDEX_GROUP];
	mr_search_doc docs[INDEX_GROUP];
	uint32_t ids[INDEX_GROUP];
	memset(db, 0, sizeof(db));
	memset(docs, 0, sizeof(docs));
	memset(ids, 0, sizeof(ids));
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = build_doc(c, jobs[i], &db[i]);
		docs[i] = db[i].doc;
		ids[i] = jobs[i]->email;
	}
	int each[INDEX_GROUP];
	char why[INDEX_GROUP][400];
	for (size_t i = 0; i < n; i++) {
		each[i] = rc;
		if (rc)
			snprintf(why[i], sizeof(why[i]), "stored but not indexed: %s", mr_error_last()->message);
	}
	if (rc == 0 && mr_search_index_batch(c->search, c->account, ids, docs, n) != 0) {
		/* The group failed as a whole (e.g. a statement timeout on a slow
		 * server): index its documents one by one, so one bad document or
		 * an oversized commit costs only what it must. */
		mr_log(MR_LOG_INFO, "import: indexing %zu documents together failed (%s); indexing them one by one", n,
		       mr_error_last()->message);
		for (size_t i = 0; i < n; i++)
			if ((each[i] = mr_search_index(c->search, c->account, ids[i], &docs[i])) != 0)
				snprintf(why[i], sizeof(why[i]), "stored but not indexed: %s", mr_error_last()->message);
	}
	for (size_t i = 0; i < n; i++)
		docbuf_dispose(&db[i]);
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		if (each[i])
			add_failure(c, jobs[i]->what, why[i]);
		else
			c->res->indexed++;
		retire(c, jobs[i]);
	}
	pthread_mutex_unlock(&c->mu);
}

static void *worker(void *arg)
{
	ctx *c = arg;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (c->index_head && (c->index_n >= INDEX_GROUP || !c->parse_head)) {
			job *group[INDEX_GROUP];
			size_t n = 0;
			while (n < INDEX_GROUP && c->index_head)
				group[n++] = pop(&c->index_head, &c->index_tail);
			c->index_n -= n;
			pthread_mutex_unlock(&c->mu);
			index_group(c, group, n);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		job *j = pop(&c->parse_head, &c->parse_tail);
		if (!j) {
			if (c->stop)
				break;
			pthread_cond_wait(&c->work, &c->mu);
			continue;
		}
		pthread_mutex_unlock(&c->mu);
		prepare(c, j);
		pthread_mutex_lock(&c->mu);
		c->ring[j->seq % RING] = j;
		pthread_cond_broadcast(&c->ready);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- committer ---- */

typedef struct mbcache {
	char **names;
	uint32_t *ids;
	size_t n;
} mbcache;

static int mailbox_id(ctx *c, mbcache *mc, const char *name, uint32_t *id)
{
	for (size_t i = 0; i < mc->n; i++)
		if (strcmp(mc->names[i], name) == 0) {
			*id = mc->ids[i];
			return 0;
		}
	int rc = mr_model_mailbox(c->d, c->account, name, true, id);
	if (rc)
		return rc;
	char **nn = mr_realloc(mc->names, (mc->n + 1) * sizeof(*nn));
	if (!nn)
		return MR_ENOMEM;
	mc->names = nn;
	uint32_t *ni = mr_realloc(mc->ids, (mc->n + 1) * sizeof(*ni));
	if (!ni)
		return MR_ENOMEM;
	mc->ids = ni;
	if (!(mc->names[mc->n] = mr_strdup(name)))
		return MR_ENOMEM;
	mc->ids[mc->n++] = *id;
	return 0;
}

typedef struct committer {
	ctx *c;
	mr_model_writer *w;
	mr_batch *b;
	mbcache mc;
	job **batch;
	size_t n, cap;
} committer;

static void fail_job(committer *cm, job *j, const char *why)
{
	ctx *c = cm->c;
	pthread_mutex_lock(&c->mu);
	add_failure(c, j->what, why);
	retire(c, j);
	pthread_mutex_unlock(&c->mu);
}

static int add_one(committer *cm, job *j)
{
	uint32_t mb = 0;
	int rc = mailbox_id(cm->c, &cm->mc, j->mailbox, &mb);
	if (rc == 0)
		rc = mr_blob_complete(cm->c->blobs, cm->b, &j->ticket); /* its LIVE record, before the link */
	if (rc)
		return rc;
	const mr_message *m = j->msg;
	mr_email_new e = {
		.blob = j->blob,
		.size = m->raw_size,
		.sent_at = m->date_state == MR_MAIL_DATE_OK ? m->date : 0,
		.flags = j->flags,
		.keywords = j->keywords,
		.from = j->from,
		.subject = m->subject,
		.message_id = m->message_id,
		.in_reply_to = m->in_reply_to.count ? m->in_reply_to.items[0] : NULL,
		.thread_subject = j->thread_subject,
		.warnings = m->warnings,
		.nwarnings = m->warning_count,
	};
	e.received_at = j->has_idate ? j->idate : (e.sent_at ? e.sent_at : mr_now_unix_ms() / 1000);
	j->received_at = e.received_at;
	size_t total = 0;
	e.nthread_ids = mr_message_thread_ids(e.thread_ids, MR_ARRAY_LEN(e.thread_ids), &total, m);
	return mr_model_email_add(cm->w, cm->b, mb, &e, &j->outcome, &j->email);
}

/* Re-adds every job of the batch after an abort; a job that fails again leaves it. */
static int rebuild(committer *cm)
{
	for (;;) {
		mr_model_writer_abort(cm->w);
		mr_batch_reset(cm->b);
		size_t i = 0;
		int rc = 0;
		for (; i < cm->n; i++)
			if ((rc = add_one(cm, cm->batch[i])) != 0)
				break;
		if (i == cm->n)
			return 0;
		if (rc == MR_EUNAVAILABLE || rc == MR_ENOMEM)
			return rc;
		job *bad = cm->batch[i];
		memmove(&cm->batch[i], &cm->batch[i + 1], (cm->n - i - 1) * sizeof(job *));
		cm->n--;
		fail_job(cm, bad, mr_error_last()->message);
	}
}

static int commit_batch(committer *cm)
{
	ctx *c = cm->c;
	if (cm->n == 0)
		return 0;
	int rc = 0;
	for (int attempt = 0;; attempt++) {
		rc = mr_model_writer_seal(cm->w, cm->b);
		if (rc == 0)
			rc = mr_blob_flush(c->blobs); /* the batch's blobs durable before their records */
		if (rc == 0)
			rc = mr_batch_commit(cm->b);
		if (rc == 0)
			break;
		if (rc != MR_ECONFLICT || attempt >= 5) {
			char why[600];
			snprintf(why, sizeof(why), "commit failed: %s", mr_error_last()->message);
			mr_model_writer_abort(cm->w);
			mr_batch_reset(cm->b);
			for (size_t i = 0; i < cm->n; i++)
				fail_job(cm, cm->batch[i], why);
			cm->n = 0;
			return rc == MR_EUNAVAILABLE ? rc : 0;
		}
		int rr = rebuild(cm);
		if (rr)
			return rr;
	}
	mr_model_writer_committed(cm->w);
	mr_batch_reset(cm->b);
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < cm->n; i++) {
		job *j = cm->batch[i];
		if (j->outcome == MR_EMAIL_CREATED) {
			c->res->imported++;
			if (j->msg->warning_count)
				c->res->with_warnings++;
		} else {
			c->res->added++;
		}
		if (c->search) {
			push(&c->index_head, &c->index_tail, j);
			c->index_n++;
			pthread_cond_broadcast(&c->work);
		} else {
			retire(c, j);
		}
	}
	pthread_mutex_unlock(&c->mu);
	cm->n = 0;
	return 0;
}

static void report_progress(ctx *c, bool done)
{
	if (!c->opts->progress)
		return;
	uint64_t now = mr_now_monotonic_ms();
	double interval = c->opts->progress_interval > 0 ? c->opts->progress_interval : 0.5;
	if (!done && now - c->last_progress < (uint64_t)(interval * 1000))
		return;
	c->last_progress = now;
	pthread_mutex_lock(&c->mu);
	mr_import_progress p = {c->processed, c->processed_bytes, c->total_bytes, (double)(now - c->t0) / 1000.0,
				done};
	pthread_mutex_unlock(&c->mu);
	c->opts->progress(&p, c->opts->progress_payload);
}

static void *commit_thread(void *arg)
{
	committer *cm = arg;
	ctx *c = cm->c;
	size_t limit = c->opts->batch_messages ? c->opts->batch_messages : 256;
	uint64_t next = 0;
	int rc = 0;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		job *j = NULL;
		for (;;) {
			j = c->ring[next % RING];
			if (j || (c->reader_done && next == c->total_read))
				break;
			/* nothing ready: wait a little, then commit what we have rather than wait on */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (cm->n ? 20 : 200) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			int wr = pthread_cond_timedwait(&c->ready, &c->mu, &ts);
			j = c->ring[next % RING];
			if (j || (c->reader_done && next == c->total_read))
				break;
			if (wr != 0 && cm->n)
				break;
			pthread_mutex_unlock(&c->mu);
			report_progress(c, false);
			pthread_mutex_lock(&c->mu);
		}
		if (j) {
			c->ring[next % RING] = NULL;
			next++;
		}
		bool end = !j && c->reader_done && next == c->total_read;
		pthread_mutex_unlock(&c->mu);
		if (!j) {
			if ((rc = commit_batch(cm)) != 0)
				break;
			report_progress(c, false);
			if (end)
				break;
			continue;
		}
		if (j->err) {
			fail_job(cm, j, j->errmsg ? j->errmsg : "failed");
			continue;
		}
		if (j->stored_new) {
			pthread_mutex_lock(&c->mu);
			c->res->new_blobs++;
			pthread_mutex_unlock(&c->mu);
		}
		if (cm->n == cm->cap) {
			size_t cap = cm->cap ? cm->cap * 2 : 256;
			job **v = mr_realloc(cm->batch, cap * sizeof(*v));
			if (!v) {
				rc = MR_ENOMEM;
				fail_job(cm, j, "out of memory");
				break;
			}
			cm->batch = v;
			cm->cap = cap;
		}
		cm->batch[cm->n++] = j;
		rc = add_one(cm, j);
		if (rc == 0 && j->outcome == MR_EMAIL_DUPLICATE) {
			cm->n--;
			pthread_mutex_lock(&c->mu);
			c->res->duplicates++;
			retire(c, j);
			pthread_mutex_unlock(&c->mu);
		} else if (rc) {
			if (rc == MR_EUNAVAILABLE || rc == MR_ENOMEM)
				break;
			cm->n--;
			fail_job(cm, j, mr_error_last()->message);
			if ((rc = rebuild(cm)) != 0)
				break;
		}
		if (cm->n >= limit && (rc = commit_batch(cm)) != 0)
			break;
		report_progress(c, false);
	}
	if (rc) {
		pthread_mutex_lock(&c->mu);
		if (!c->fatal) {
			c->fatal = rc;
			snprintf(c->fatal_msg, sizeof(c->fatal_msg), "%s", mr_error_last()->message);
		}
		pthread_cond_broadcast(&c->space);
		pthread_mutex_unlock(&c->mu);
		/* drain: everything still in the pipeline fails */
		for (size_t i = 0; i < cm->n; i++)
			fail_job(cm, cm->batch[i], "not stored: the import stopped");
		cm->n = 0;
		for (;;) {
			pthread_mutex_lock(&c->mu);
			job *j = c->ring[next % RING];
			bool end = c->reader_done && next == c->total_read;
			if (j) {
				c->ring[next % RING] = NULL;
				next++;
			} else if (!end) {
				pthread_cond_wait(&c->ready, &c->mu);
			}
			pthread_mutex_unlock(&c->mu);
			if (j)
				fail_job(cm, j, "not stored: the import stopped");
			else if (end)
				break;
		}
	}
	return NULL;
}

/* ---- checks before anything is written ---- */

static int check_tree(const char *path, uint64_t *total, int depth)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return mr_error_set_errno(errno == ENOENT ? MR_ENOTFOUND : MR_EIO, errno, "%s", path);
	if (S_ISREG(st.st_mode)) {
		if (access(path, R_OK) != 0)
			return mr_error_set_errno(MR_EIO, errno, "%s is not readable", path);
		*total += (uint64_t)st.st_size;
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return mr_error_set(MR_EINVALID, "%s is neither a file nor a directory", path);
	if (depth > 64)
		return 0;
	DIR *dir = opendir(path);
	if (!dir)
		return mr_error_set_errno(MR_EIO, errno, "%s is not readable", path);
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (strcmp(de->d_name, "tmp") == 0)
			continue; /* Maildir tmp/: never read */
		size_t n = strlen(path) + strlen(de->d_name) + 2;
		char *sub = mr_malloc(n);
		if (!sub) {
			rc = MR_ENOMEM;
			break;
		}
		snprintf(sub, n, "%s/%s", path, de->d_name);
		rc = check_tree(sub, total, depth + 1);
		mr_free(sub);
	}
	closedir(dir);
	return rc;
}

int mr_import_check(const char *const *paths, size_t npaths, uint64_t *total_bytes)
{
	*total_bytes = 0;
	for (size_t i = 0; i < npaths; i++) {
		int rc = check_tree(paths[i], total_bytes, 0);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- the run ---- */

static int read_paths(ctx *c, const char *const *paths, size_t npaths)
{
	mr_mail_reader_options ro = {.mailbox = c->opts->mailbox};
	for (size_t pi = 0; pi < npaths; pi++) {
		mr_mail_reader *r = NULL;
		int rc = mr_mail_reader_open(&r, paths[pi], &ro);
		if (rc) {
			pthread_mutex_lock(&c->mu);
			c->res->read++;
			add_failure(c, paths[pi], mr_error_last()->message);
			pthread_mutex_unlock(&c->mu);
			continue;
		}
		for (;;) {
			const mr_mail_item *it = NULL;
			rc = mr_mail_reader_next(r, &it);
			if (rc) {
				if (rc == MR_ENOMEM)
					break;
				pthread_mutex_lock(&c->mu);
				add_failure(c, paths[pi], mr_error_last()->message);
				pthread_mutex_unlock(&c->mu);
				continue;
			}
			if (!it)
				break;
			job *j = mr_calloc(1, sizeof(*j));
			if (!j)
				return MR_ENOMEM;
			j->mailbox = mr_strdup(it->mailbox);
			j->flags = it->flags;
			snprintf(j->keywords, sizeof(j->keywords), "%s", it->keywords ? it->keywords : "");
			j->has_idate = it->has_internal_date;
			j->idate = it->internal_date;
			if (it->kind == MR_MAIL_SOURCE_MBOX) {
				size_t n = strlen(it->path) + 64;
				j->what = mr_malloc(n);
				if (j->what)
					snprintf(j->what, n, "%s (message %llu at offset %llu)", it->path,
						 (unsigned long long)it->mbox_number, (unsigned long long)it->mbox_offset);
			} else {
				j->what = mr_strdup(it->path);
			}
			j->len = it->bytes.len;
			j->bytes = mr_malloc(j->len ? j->len : 1);
			if (!j->mailbox || !j->what || !j->bytes) {
				job_free(j);
				mr_mail_reader_free(r);
				return MR_ENOMEM;
			}
			memcpy(j->bytes, it->bytes.ptr, j->len);
			pthread_mutex_lock(&c->mu);
			while (!c->fatal && c->inflight > 0 &&
			       (c->inflight >= MAX_INFLIGHT || c->inflight_bytes + j->len > MAX_INFLIGHT_BYTES))
				pthread_cond_wait(&c->space, &c->mu);
			if (c->fatal) {
				pthread_mutex_unlock(&c->mu);
				job_free(j);
				mr_mail_reader_free(r);
				return c->fatal;
			}
			j->seq = c->total_read++;
			c->res->read++;
			c->res->bytes += j->len;
			c->inflight++;
			c->inflight_bytes += j->len;
			push(&c->parse_head, &c->parse_tail, j);
			pthread_cond_signal(&c->work);
			pthread_mutex_unlock(&c->mu);
		}
		pthread_mutex_lock(&c->mu);
		c->res->skipped_files += mr_mail_reader_skipped(r);
		pthread_mutex_unlock(&c->mu);
		mr_mail_reader_free(r);
	}
	return 0;
}

int mr_import_run(mr_data *d, mr_blob *blobs, mr_search *search, const char *account, const char *const *paths,
		  size_t npaths, const mr_import_options *opts, mr_import_result *res)
{
	static const mr_import_options defaults = {0};
	if (!opts)
		opts = &defaults;
	memset(res, 0, sizeof(*res));
	uint64_t total_bytes = 0;
	int rc = mr_import_check(paths, npaths, &total_bytes);
	if (rc)
		return rc;
	uint32_t acct = 0;
	if ((rc = mr_model_account(d, account, true, &acct, NULL)) != 0)
		return rc;
	ctx *c = mr_calloc(1, sizeof(*c));
	if (!c)
		return MR_ENOMEM;
	c->d = d;
	c->blobs = blobs;
	c->search = opts->no_index ? NULL : search;
	c->account = acct;
	c->opts = opts;
	c->res = res;
	c->total_bytes = total_bytes;
	c->t0 = c->last_progress = mr_now_monotonic_ms();
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_cond_init(&c->ready, NULL);
	pthread_cond_init(&c->space, NULL);

	committer cm = {.c = c};
	if ((rc = mr_model_writer_new(&cm.w, d, blobs, acct)) != 0 || (rc = mr_batch_new(&cm.b, d)) != 0) {
		mr_model_writer_free(cm.w);
		mr_free(c);
		return rc;
	}
	unsigned nw = opts->workers;
	if (nw == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nw = n > 0 ? (unsigned)n : 1;
	}
	if (nw > 64)
		nw = 64;
	pthread_t workers[64], committer_t;
	unsigned started = 0;
	for (; started < nw; started++)
		if (pthread_create(&workers[started], NULL, worker, c) != 0)
			break;
	bool committer_started = started > 0 && pthread_create(&committer_t, NULL, commit_thread, &cm) == 0;
	if (!committer_started) {
		rc = mr_error_set(MR_ERROR, "import: cannot start threads");
	} else {
		int rr = read_paths(c, paths, npaths);
		pthread_mutex_lock(&c->mu);
		c->reader_done = true;
		pthread_cond_broadcast(&c->ready);
		pthread_mutex_unlock(&c->mu);
		pthread_join(committer_t, NULL);
		if (rr && !c->fatal) {
			c->fatal = rr;
			snprintf(c->fatal_msg, sizeof(c->fatal_msg), "%s", mr_error_last()->message);
		}
	}
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(workers[i], NULL);
	uint64_t maintain_after = opts->maintain_after ? opts->maintain_after : MAINTAIN_MIN;
	if (committer_started && !c->fatal && !opts->no_maintain && res->imported + res->added >= maintain_after) {
		/* A bulk load leaves RocksDB a stack of overlapping level-0 tables:
		 * every read then probes each of them, and a reader that opens the
		 * store (every `mailroom search`) loads all their index and filter
		 * partitions.  One compaction now (the whole corpus, 166 MB of mail:
		 * ~5 s) halves the open and takes ~20 ms off each one-shot query.
		 * Other backends checkpoint and refresh their statistics. */
		int64_t m0 = mr_now_monotonic_ms();
		if (mr_data_maintain(c->d) != 0)
			mr_log(MR_LOG_WARN, "import: maintenance after the import failed (the import is complete): %s",
			       mr_error_last()->message);
		res->maintain_seconds = (double)(mr_now_monotonic_ms() - m0) / 1000.0;
	}
	report_progress(c, true);
	if (committer_started && c->fatal)
		rc = mr_error_set(c->fatal, "import stopped: %s", c->fatal_msg);
	res->seconds = (double)(mr_now_monotonic_ms() - c->t0) / 1000.0;
	for (size_t i = 0; i < cm.mc.n; i++)
		mr_free(cm.mc.names[i]);
	mr_free(cm.mc.names);
	mr_free(cm.mc.ids);
	mr_free(cm.batch);
	mr_batch_free(cm.b);
	mr_model_writer_free(cm.w);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->ready);
	pthread_cond_destroy(&c->space);
	mr_free(c);
	return rc;
}

void mr_import_result_dispose(mr_import_result *res)
{
	for (size_t i = 0; i < res->nfailures; i++) {
		mr_free(res->failures[i].what);
		mr_free(res->failures[i].why);
	}
	mr_free(res->failures);
	memset(res, 0, sizeof(*res));
}
