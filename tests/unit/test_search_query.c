/*
 * test_search_query.c — the query language: every construct, precedence,
 * and every error with its column, through the canonical printer.
 */
#include "harness.h"
#include "mailroom/search.h"

#include <string.h>

static char printed[4096];

/* Parses q and returns its canonical form, or "ERR <code>: <message>". */
static const char *parse(const char *q)
{
	mr_query *query = NULL;
	int rc = mr_query_parse(&query, q, strlen(q));
	if (rc < 0) {
		snprintf(printed, sizeof(printed), "ERR %s: %s", mr_error_code_name(rc), mr_error_last()->message);
		return printed;
	}
	mr_buf b = MR_BUF_INIT;
	if (mr_query_print(mr_query_root(query), &b) < 0)
		snprintf(printed, sizeof(printed), "PRINT FAILED");
	else
		snprintf(printed, sizeof(printed), "%s", mr_buf_cstr(&b));
	mr_buf_dispose(&b);
	mr_query_free(query);
	return printed;
}

#define P(q, want) MR_CHECK_EQ_STR(parse(q), want)

static void test_search_query__words(void)
{
	P("", "(all)");
	P("   ", "(all)");
	P("hello", "(term any \"hello\")");
	P("  hello  ", "(term any \"hello\")");
	P("Grüße", "(term any \"Grüße\")");
	P("東京都", "(term any \"東京都\")");
	P("e-mail", "(term any \"e-mail\")");
	P("and or not", "(and (term any \"and\") (term any \"or\") (term any \"not\"))");
	P("10:30", "(term any \"10:30\")");
	P("http://example.org/x", "(term any \"http://example.org/x\")");
	P("a\u3000b", "(and (term any \"a\") (term any \"b\"))");
}

static void test_search_query__fields(void)
{
	P("from:alice", "(term from \"alice\")");
	P("FROM:alice", "(term from \"alice\")");
	P("to:bob cc:carol bcc:dave", "(and (term to \"bob\") (term cc \"carol\") (term bcc \"dave\"))");
	P("subject:report body:budget attachment:pdf",
	  "(and (term subject \"report\") (term body \"budget\") (term attachment \"pdf\"))");
	P("header:X-Mailer:mutt", "(term header:x-mailer \"mutt\")");
	P("header:List-Id:\"dev list\"", "(phrase header:list-id \"dev list\")");
	P("from:alice@example.org", "(term from \"alice@example.org\")");
	P("from:(alice OR bob) x", "(and (or (term from \"alice\") (term from \"bob\")) (term any \"x\"))");
	P("subject:(a to:b)", "(and (term subject \"a\") (term to \"b\"))");
}

static void test_search_query__phrases_prefixes(void)
{
	P("\"annual report\"", "(phrase any \"annual report\")");
	P("subject:\"annual report\"", "(phrase subject \"annual report\")");
	P("\"say \\\"hi\\\" \\\\ now\"", "(phrase any \"say \\\"hi\\\" \\\\ now\")");
	P("rep*", "(prefix any \"rep\")");
	P("from:ali*", "(prefix from \"ali\")");
	P("\"a\"b", "(and (phrase any \"a\") (term any \"b\"))");
}

static void test_search_query__boolean_and_precedence(void)
{
	P("a b", "(and (term any \"a\") (term any \"b\"))");
	P("a AND b", "(and (term any \"a\") (term any \"b\"))");
	P("a OR b", "(or (term any \"a\") (term any \"b\"))");
	P("a OR b c", "(or (term any \"a\") (and (term any \"b\") (term any \"c\")))");
	P("a b OR c", "(or (and (term any \"a\") (term any \"b\")) (term any \"c\"))");
	P("a AND b OR c AND d",
	  "(or (and (term any \"a\") (term any \"b\")) (and (term any \"c\") (term any \"d\")))");
	P("NOT a b", "(and (not (term any \"a\")) (term any \"b\"))");
	P("NOT a OR b", "(or (not (term any \"a\")) (term any \"b\"))");
	P("NOT (a OR b)", "(not (or (term any \"a\") (term any \"b\")))");
	P("a -b", "(and (term any \"a\") (not (term any \"b\")))");
	P("-from:x", "(not (term from \"x\"))");
	P("-\"a b\"", "(not (phrase any \"a b\"))");
	P("-(a b)", "(not (and (term any \"a\") (term any \"b\")))");
	P("NOT NOT a", "(not (not (term any \"a\")))");
	P("(a OR b) (c OR d)",
	  "(and (or (term any \"a\") (term any \"b\")) (or (term any \"c\") (term any \"d\")))");
	P("a (b c) d", "(and (term any \"a\") (term any \"b\") (term any \"c\") (term any \"d\"))");
	P("a OR (b OR c)", "(or (term any \"a\") (term any \"b\") (term any \"c\"))");
	P("((a))", "(term any \"a\")");
	P("a AND(b)", "(and (term any \"a\") (term any \"b\"))");
	P("NOT(a)", "(not (term any \"a\"))");
}

static void test_search_query__filters(void)
{
	P("before:2024-01-31", "(date before 2024-01-31)");
	P("after:2000-02-29", "(date after 2000-02-29)");
	P("on:1999-12-31", "(date on 1999-12-31)");
	P("larger:10k", "(size larger 10240)");
	P("smaller:2M", "(size smaller 2097152)");
	P("larger:1G", "(size larger 1073741824)");
	P("larger:123", "(size larger 123)");
	P("larger:5kb", "(size larger 5120)");
	P("has:attachment", "(has attachment)");
	P("has:Attachment", "(has attachment)");
	P("in:INBOX", "(in \"INBOX\")");
	P("in:\"Sent Items\"", "(in \"Sent Items\")");
	P("is:seen", "(is seen)");
	P("is:read", "(is seen)");
	P("is:unread", "(not (is seen))");
	P("is:flagged is:answered is:draft is:deleted",
	  "(and (is flagged) (is answered) (is draft) (is deleted))");
	P("is:unflagged", "(not (is flagged))");
	P("from:a after:2020-01-01 -is:seen",
	  "(and (term from \"a\") (date after 2020-01-01) (not (is seen)))");
}

static void test_search_query__node_columns(void)
{
	mr_query *q = NULL;
	const char *text = "ä from:x";
	MR_CHECK_OK(mr_query_parse(&q, text, strlen(text)));
	const mr_query_node *r = mr_query_root(q);
	MR_CHECK_EQ_INT(r->kind, MR_Q_AND);
	MR_CHECK_EQ_INT(r->nchildren, 2);
	MR_CHECK_EQ_INT(r->children[0]->column, 1);
	MR_CHECK_EQ_INT(r->children[1]->column, 3);
	MR_CHECK_EQ_INT(r->children[1]->field, MR_FIELD_FROM);
	mr_query_free(q);
}

/* Every error, with the column it must name. */
static void test_search_query__errors(void)
{
	P("(a", "ERR EINVALID: query: column 1: unclosed \"(\"");
	P("x AND (a OR b", "ERR EINVALID: query: column 7: unclosed \"(\"");
	P("a)", "ERR EINVALID: query: column 2: unexpected \")\"");
	P(")", "ERR EINVALID: query: column 1: unexpected \")\"");
	P("(a(", "ERR EINVALID: query: column 3: unclosed \"(\"");
	P("from:( ", "ERR EINVALID: query: column 6: unclosed \"(\"");
	P("()", "ERR EINVALID: query: column 1: empty parentheses");
	P("\"abc", "ERR EINVALID: query: column 1: unclosed quote '\"'");
	P("subject:\"abc", "ERR EINVALID: query: column 9: unclosed quote '\"'");
	P("a \"\"", "ERR EINVALID: query: column 3: empty phrase");
	P("AND a", "ERR EINVALID: query: column 1: \"AND\" needs a term before it");
	P("(OR a)", "ERR EINVALID: query: column 2: \"OR\" needs a term before it");
	P("a OR", "ERR EINVALID: query: column 3: expected a term after \"OR\"");
	P("a AND", "ERR EINVALID: query: column 3: expected a term after \"AND\"");
	P("a OR OR b", "ERR EINVALID: query: column 3: expected a term after \"OR\"");
	P("NOT", "ERR EINVALID: query: column 1: expected a term after \"NOT\"");
	P("(a NOT)", "ERR EINVALID: query: column 4: expected a term after \"NOT\"");
	P("a - b", "ERR EINVALID: query: column 3: '-' must be followed by a term");
	P("*", "ERR EINVALID: query: column 1: '*' needs a prefix before it");
	P("a*b", "ERR EINVALID: query: column 2: '*' is allowed only at the end of a word");
	P("from:", "ERR EINVALID: query: column 1: \"from:\" expects a value");
	P("x from: y", "ERR EINVALID: query: column 3: \"from:\" expects a value");
	P("from:()", "ERR EINVALID: query: column 6: empty parentheses");
	P("from:(a", "ERR EINVALID: query: column 6: unclosed \"(\"");
	P("form:alice",
	  "ERR EINVALID: query: column 1: unknown field \"form:\" (expected from, to, cc, bcc, subject, body, "
	  "attachment, header:NAME, before, after, on, larger, smaller, has, in, is)");
	P("header:x", "ERR EINVALID: query: column 9: \"header:\" expects header:NAME:value (NAME printable ASCII "
		      "without ':')");
	P("header::v", "ERR EINVALID: query: column 8: \"header:\" expects header:NAME:value (NAME printable ASCII "
		       "without ':')");
	P("before:2024-13-01", "ERR EINVALID: query: column 8: before: expected a date YYYY-MM-DD, got \"2024-13-01\"");
	P("on:2023-02-29", "ERR EINVALID: query: column 4: on: expected a date YYYY-MM-DD, got \"2023-02-29\"");
	P("after:yesterday", "ERR EINVALID: query: column 7: after: expected a date YYYY-MM-DD, got \"yesterday\"");
	P("before:", "ERR EINVALID: query: column 1: \"before:\" expects a value");
	P("larger:big", "ERR EINVALID: query: column 8: larger: expected a size (bytes, or with k, M, G), got \"big\"");
	P("smaller:10x", "ERR EINVALID: query: column 9: smaller: expected a size (bytes, or with k, M, G), got \"10x\"");
	P("larger:99999999999999999999",
	  "ERR EINVALID: query: column 8: larger: expected a size (bytes, or with k, M, G), got "
	  "\"99999999999999999999\"");
	P("has:pdf", "ERR EINVALID: query: column 5: has: expected \"attachment\", got \"pdf\"");
	P("is:important",
	  "ERR EINVALID: query: column 4: is: unknown flag \"important\" (expected seen, unseen, read, unread, "
	  "flagged, unflagged, answered, unanswered, draft, deleted, forwarded, junk, notjunk)");
	P("in:\"\"", "ERR EINVALID: query: column 4: \"in:\" expects a value");
	/* columns count characters, not bytes */
	P("ä ö (x", "ERR EINVALID: query: column 5: unclosed \"(\"");
}

static void test_search_query__bad_bytes(void)
{
	const char bad[] = {'a', ' ', (char)0xC3, 'b', 0};
	P(bad, "ERR EINVALID: query: column 3: invalid UTF-8");
	mr_query *q = NULL;
	MR_CHECK_RC(mr_query_parse(&q, "a\0b", 3), MR_EINVALID);
	MR_CHECK_EQ_STR(mr_error_last()->message, "query: column 2: NUL character");
	MR_CHECK(q == NULL);
	const char overlong[] = {(char)0xE0, (char)0x80, (char)0xAF, 0};
	P(overlong, "ERR EINVALID: query: column 1: invalid UTF-8");
}

static void test_search_query__limits(void)
{
	char deep[1024];
	size_t n = 0;
	for (int i = 0; i < 200; i++)
		deep[n++] = '(';
	deep[n++] = 'a';
	for (int i = 0; i < 200; i++)
		deep[n++] = ')';
	deep[n] = 0;
	MR_CHECK(strstr(parse(deep), "ERR ELIMIT: query: column 65: nested too deeply (max 64)") != NULL);
	memset(deep, '-', 300);
	deep[300] = 'a';
	deep[301] = 0;
	MR_CHECK(strncmp(parse(deep), "ERR ELIMIT:", 11) == 0);
	/* 64 nested levels are fine */
	n = 0;
	for (int i = 0; i < 63; i++)
		deep[n++] = '(';
	deep[n++] = 'a';
	for (int i = 0; i < 63; i++)
		deep[n++] = ')';
	deep[n] = 0;
	P(deep, "(term any \"a\")");

	size_t big = MR_QUERY_MAX_LEN + 1;
	char *long_q = malloc(big + 1);
	MR_CHECK(long_q != NULL);
	memset(long_q, 'a', big);
	long_q[big] = 0;
	mr_query *q = NULL;
	int rc = mr_query_parse(&q, long_q, big);
	free(long_q);
	MR_CHECK_RC(rc, MR_ELIMIT);

	/* too many terms */
	char *many = malloc(3 * (MR_QUERY_MAX_NODES + 10) + 1);
	MR_CHECK(many != NULL);
	size_t m = 0;
	for (int i = 0; i < MR_QUERY_MAX_NODES + 10; i++) {
		many[m++] = 'a';
		many[m++] = ' ';
	}
	many[m] = 0;
	rc = mr_query_parse(&q, many, m);
	free(many);
	MR_CHECK_RC(rc, MR_ELIMIT);
	MR_CHECK(strstr(mr_error_last()->message, "too many terms") != NULL);
}

int main(void)
{
	MR_TEST_RUN(test_search_query__words);
	MR_TEST_RUN(test_search_query__fields);
	MR_TEST_RUN(test_search_query__phrases_prefixes);
	MR_TEST_RUN(test_search_query__boolean_and_precedence);
	MR_TEST_RUN(test_search_query__filters);
	MR_TEST_RUN(test_search_query__node_columns);
	MR_TEST_RUN(test_search_query__errors);
	MR_TEST_RUN(test_search_query__bad_bytes);
	MR_TEST_RUN(test_search_query__limits);
	MR_TEST_DONE();
}
