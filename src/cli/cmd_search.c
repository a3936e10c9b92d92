/*
 * cmd_search.c — reading an account's mail:
 *   `mailroom search ACCOUNT QUERY [--limit N] [--count] [--relevance]`
 *   `mailroom show ACCOUNT EMAIL-ID [--raw]`
 *   `mailroom mailboxes ACCOUNT`
 */
#include "cli/cli.h"

#include "mail/message.h"
#include "mail/model.h"
#include "mail/reader.h"
#include "mailroom/blob.h"
#include "mailroom/data.h"
#include "mailroom/search.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void fmt_date(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, cap, "?");
}

static int account_id(mr_data *d, const char *name, uint32_t *id)
{
	return mr_model_account(d, name, false, id, NULL);
}

int mr_cmd_search(mr_cli *cli, int argc, char **argv)
{
	const char *account = NULL, *query = NULL;
	size_t limit = 50;
	bool count = false, relevance = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
			limit = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--count") == 0)
			count = true;
		else if (strcmp(argv[i], "--relevance") == 0)
			relevance = true;
		else if (!account)
			account = argv[i];
		else if (!query)
			query = argv[i];
		else
			return mr_cli_usage("usage: mailroom search ACCOUNT QUERY [--json] [--limit N] [--count] [--relevance] (quote the query)");
	}
	if (!account || !query)
		return mr_cli_usage("usage: mailroom search ACCOUNT QUERY [--json] [--limit N] [--count] [--relevance]");
	mr_query *q = NULL;
	if (mr_query_parse(&q, query, strlen(query)) != 0)
		return mr_cli_fail("search");
	mr_cli_stores st;
	int rc = mr_cli_open_stores(cli, MR_CLI_OPEN_SEARCH | MR_CLI_OPEN_READONLY, &st, "search");
	if (rc) {
		mr_query_free(q);
		return rc;
	}
	uint32_t acct = 0;
	mr_search_result r = {0};
	mr_search_opts so = {.order = relevance ? MR_SEARCH_ORDER_RELEVANCE : MR_SEARCH_ORDER_DATE,
			     .limit = count ? 1 : limit};
	if (account_id(st.data, account, &acct) != 0 || mr_search_query(st.search, acct, q, &so, &r) != 0) {
		rc = mr_cli_fail("search");
		goto done;
	}
	if (count) {
		if (cli->json)
			printf("{\"count\":%llu}\n", (unsigned long long)r.total);
		else
			printf("%llu\n", (unsigned long long)r.total);
		goto done;
	}
	mr_buf buf = {0};
	if (cli->json)
		printf("{\"total\":%llu,\"results\":[", (unsigned long long)r.total);
	for (size_t i = 0; i < r.count; i++) {
		mr_email e;
		if (mr_model_email_get(st.data, acct, r.ids[i], &e, &buf) != 0) {
			rc = mr_cli_fail("search");
			break;
		}
		char date[32];
		fmt_date(e.received_at, date, sizeof(date));
		if (cli->json) {
			printf("%s{\"id\":%u,\"thread\":%u,\"date\":\"%s\",\"size\":%llu,\"from\":", i ? "," : "", e.id,
			       e.thread, date, (unsigned long long)e.size);
			mr_cli_json_string(stdout, e.from);
			printf(",\"subject\":");
			mr_cli_json_string(stdout, e.subject);
			char blob[MR_BLOB_ID_TEXT_LEN + 1];
			mr_blob_id_format(&e.blob, blob);
			printf(",\"message_id\":");
			mr_cli_json_string(stdout, e.message_id);
			printf(",\"blob\":\"%s\"", blob);
			if (r.scores)
				printf(",\"score\":%.4f", r.scores[i]);
			printf("}");
		} else {
			printf("%-7u %s  %-30.30s  %s\n", e.id, date, e.from, e.subject);
		}
	}
	if (cli->json)
		printf("]}\n");
	else if (r.total > r.count)
		printf("(%llu of %llu shown; --limit N for more)\n", (unsigned long long)r.count,
		       (unsigned long long)r.total);
	mr_buf_dispose(&buf);
done:
	mr_search_result_dispose(&r);
	mr_query_free(q);
	mr_cli_close_stores(&st);
	return rc;
}

static void flag_names(unsigned f, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s%s%s%s%s", f & MR_MAIL_FLAG_SEEN ? "\\Seen " : "",
		 f & MR_MAIL_FLAG_FLAGGED ? "\\Flagged " : "", f & MR_MAIL_FLAG_REPLIED ? "\\Answered " : "",
		 f & MR_MAIL_FLAG_DRAFT ? "\\Draft " : "", f & MR_MAIL_FLAG_TRASHED ? "\\Deleted " : "",
		 f & MR_MAIL_FLAG_PASSED ? "$Forwarded " : "");
}

int mr_cmd_show(mr_cli *cli, int argc, char **argv)
{
	bool raw = false;
	const char *account = NULL, *idtext = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--raw") == 0)
			raw = true;
		else if (!account)
			account = argv[i];
		else if (!idtext)
			idtext = argv[i];
		else
			return mr_cli_usage("usage: mailroom show ACCOUNT EMAIL-ID [--raw]");
	}
	char *end = NULL;
	unsigned long id = idtext ? strtoul(idtext, &end, 10) : 0;
	if (!account || !idtext || !*idtext || *end || id == 0 || id > UINT32_MAX)
		return mr_cli_usage("usage: mailroom show ACCOUNT EMAIL-ID [--raw] (EMAIL-ID: the number `search` prints)");
	mr_cli_stores st;
	int rc = mr_cli_open_stores(cli, MR_CLI_OPEN_BLOB | MR_CLI_OPEN_READONLY, &st, "show");
	if (rc)
		return rc;
	uint32_t acct = 0;
	mr_email e;
	mr_buf rec = {0}, bytes = {0}, warn = {0};
	mr_message *msg = NULL;
	if (account_id(st.data, account, &acct) != 0 || mr_model_email_get(st.data, acct, (uint32_t)id, &e, &rec) != 0) {
		rc = mr_cli_fail("show");
		goto done;
	}
	if (raw) {
		fflush(stdout);
		if (mr_blob_get_fd(st.blob, &e.blob, STDOUT_FILENO, MR_BLOB_VERIFY) != 0)
			rc = mr_cli_fail("show");
		goto done;
	}
	if (mr_blob_get(st.blob, &e.blob, 0, UINT64_MAX, MR_BLOB_VERIFY, &bytes) != 0 ||
	    mr_message_parse(&msg, bytes.ptr, bytes.len) != 0 ||
	    mr_model_email_warnings(st.data, acct, e.id, &warn) != 0) {
		rc = mr_cli_fail("show");
		goto done;
	}
	mr_membership ms[32];
	size_t nms = 0;
	if (mr_model_email_mailboxes(st.data, acct, e.id, ms, 32, &nms) != 0) {
		rc = mr_cli_fail("show");
		goto done;
	}
	char blob[MR_BLOB_ID_TEXT_LEN + 1], date[32], flags[128];
	mr_blob_id_format(&e.blob, blob);
	fmt_date(e.received_at, date, sizeof(date));
	flag_names(e.flags, flags, sizeof(flags));
	if (cli->json) {
		printf("{\"id\":%u,\"thread\":%u,\"blob\":\"%s\",\"size\":%llu,\"received_at\":%lld,\"sent_at\":%lld,"
		       "\"flags\":",
		       e.id, e.thread, blob, (unsigned long long)e.size, (long long)e.received_at, (long long)e.sent_at);
		mr_cli_json_string(stdout, flags);
		printf(",\"from\":");
		mr_cli_json_string(stdout, e.from);
		printf(",\"subject\":");
		mr_cli_json_string(stdout, e.subject);
		printf(",\"message_id\":");
		mr_cli_json_string(stdout, e.message_id);
		printf(",\"mailboxes\":[");
	} else {
		printf("Email:      %u (thread %u)\nFrom:       %s\nSubject:    %s\nMessage-ID: %s\nReceived:   %s UTC\n"
		       "Size:       %llu bytes\nBlob:       %s\nFlags:      %s\nMailboxes: ",
		       e.id, e.thread, e.from, e.subject, e.message_id, date, (unsigned long long)e.size, blob, flags);
	}
	for (size_t i = 0; i < nms && i < 32; i++) {
		mr_mailbox_info mb;
		if (mr_model_mailbox_get(st.data, acct, ms[i].mailbox, &mb) != 0) {
			rc = mr_cli_fail("show");
			goto done;
		}
		if (cli->json) {
			printf("%s{\"name\":", i ? "," : "");
			mr_cli_json_string(stdout, mb.name);
			printf(",\"uid\":%u,\"modseq\":%llu}", ms[i].uid, (unsigned long long)ms[i].modseq);
		} else {
			printf(" %s (UID %u)", mb.name, ms[i].uid);
		}
	}
	if (cli->json) {
		printf("],\"warnings\":");
		mr_cli_json_string(stdout, mr_buf_cstr(&warn));
		printf(",\"attachments\":[");
		for (size_t i = 0; i < msg->attachment_count; i++) {
			printf("%s{\"name\":", i ? "," : "");
			mr_cli_json_string(stdout, msg->attachments[i].name);
			printf(",\"type\":");
			mr_cli_json_string(stdout, msg->attachments[i].content_type);
			printf(",\"size\":%llu}", (unsigned long long)msg->attachments[i].size);
		}
		printf("],\"text\":");
		mr_buf t = {0};
		for (size_t i = 0; i < msg->text_count; i++)
			if (mr_buf_put(&t, msg->texts[i].text, msg->texts[i].len) || mr_buf_puts(&t, "\n"))
				break;
		if (mr_buf_put(&t, "", 1) == 0)
			mr_cli_json_string(stdout, mr_buf_cstr(&t));
		mr_buf_dispose(&t);
		printf("}\n");
		goto done;
	}
	printf("\n");
	if (warn.len)
		printf("Warnings:\n  %.*s", (int)warn.len, (const char *)warn.ptr);
	for (size_t i = 0; i < msg->attachment_count; i++)
		printf("Attachment: %s (%s, %llu bytes)\n", msg->attachments[i].name[0] ? msg->attachments[i].name : "-",
		       msg->attachments[i].content_type, (unsigned long long)msg->attachments[i].size);
	printf("\n");
	for (size_t i = 0; i < msg->text_count; i++)
		printf("%s%s", msg->texts[i].text, msg->texts[i].len && msg->texts[i].text[msg->texts[i].len - 1] == '\n' ? "" : "\n");
done:
	mr_message_free(msg);
	mr_buf_dispose(&rec);
	mr_buf_dispose(&bytes);
	mr_buf_dispose(&warn);
	mr_cli_close_stores(&st);
	mr_mail_shutdown();
	return rc;
}

typedef struct mb_print {
	bool json;
	size_t n;
} mb_print;

static int print_mailbox(const mr_mailbox_info *mb, void *payload)
{
	mb_print *p = payload;
	if (p->json) {
		printf("%s{\"id\":%u,\"name\":", p->n ? "," : "", mb->id);
		mr_cli_json_string(stdout, mb->name);
		printf(",\"parent\":%u,\"role\":\"%s\",\"messages\":%lld,\"uidvalidity\":%u,\"uidnext\":%u}", mb->parent,
		       mr_mailbox_role_name(mb->role), (long long)mb->messages, mb->uidvalidity, mb->uidnext);
	} else {
		printf("%-40s %-8s %8lld  uidvalidity %u uidnext %u\n", mb->name, mr_mailbox_role_name(mb->role),
		       (long long)mb->messages, mb->uidvalidity, mb->uidnext);
	}
	p->n++;
	return 0;
}

int mr_cmd_mailboxes(mr_cli *cli, int argc, char **argv)
{
	if (argc != 2)
		return mr_cli_usage("usage: mailroom mailboxes ACCOUNT [--json]");
	mr_cli_stores st;
	int rc = mr_cli_open_stores(cli, MR_CLI_OPEN_READONLY, &st, "mailboxes");
	if (rc)
		return rc;
	uint32_t acct = 0;
	mb_print p = {.json = cli->json};
	if (cli->json)
		printf("[");
	if (account_id(st.data, argv[1], &acct) != 0 || mr_model_mailboxes(st.data, acct, print_mailbox, &p) != 0)
		rc = mr_cli_fail("mailboxes");
	if (cli->json && rc == 0)
		printf("]\n");
	mr_cli_close_stores(&st);
	return rc;
}
