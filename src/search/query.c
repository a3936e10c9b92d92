/*
 * query.c — the one parser of the search query language (search.h) into an
 * AST, and its canonical S-expression printer.
 *
 * Recursive descent over the bytes of the query: or_expr > and_expr >
 * unary > primary, so NOT binds tighter than AND, and AND tighter than OR.
 * Terms keep the text as typed; analysis (folding, stemming, CJK bigrams)
 * is the backend's business, so every backend sees the same tree.  Nodes
 * live in an arena owned by the mr_query and freed at once.  Every error
 * names the 1-based character column; recursion is bounded by
 * MR_QUERY_MAX_DEPTH so no input exhausts the stack.
 */
#include "core/common.h"
#include "mailroom/search.h"

#include <stdarg.h>

/* ---- arena ---- */

typedef struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
} arena_block;

struct mr_query {
	arena_block *blocks;
	mr_query_node *root;
};

static void *arena_alloc(mr_query *q, size_t n)
{
	n = (n + 15u) & ~(size_t)15u;
	arena_block *b = q->blocks;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > 4096 ? n : 4096;
		b = mr_malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->next = q->blocks;
		b->used = 0;
		b->cap = cap;
		q->blocks = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

static char *arena_strndup(mr_query *q, const char *s, size_t n)
{
	char *p = arena_alloc(q, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

void mr_query_free(mr_query *q)
{
	if (!q)
		return;
	arena_block *b = q->blocks;
	while (b) {
		arena_block *next = b->next;
		mr_free(b);
		b = next;
	}
	mr_free(q);
}

const mr_query_node *mr_query_root(const mr_query *q) { return q->root; }

/* ---- names ---- */

static const char *const field_names[MR_FIELD_COUNT_] = {
	[MR_FIELD_ANY] = "any",         [MR_FIELD_FROM] = "from",       [MR_FIELD_TO] = "to",
	[MR_FIELD_CC] = "cc",           [MR_FIELD_BCC] = "bcc",         [MR_FIELD_SUBJECT] = "subject",
	[MR_FIELD_BODY] = "body",       [MR_FIELD_ATTACHMENT] = "attachment", [MR_FIELD_HEADER] = "header",
};

const char *mr_search_field_name(mr_search_field f)
{
	return (unsigned)f < MR_FIELD_COUNT_ ? field_names[f] : "?";
}

static const char *const flag_names[MR_FLAG_COUNT_] = {
	[MR_FLAG_SEEN] = "seen",   [MR_FLAG_FLAGGED] = "flagged",     [MR_FLAG_ANSWERED] = "answered",
	[MR_FLAG_DRAFT] = "draft", [MR_FLAG_DELETED] = "deleted",     [MR_FLAG_FORWARDED] = "forwarded",
	[MR_FLAG_JUNK] = "junk",
};

const char *mr_query_flag_name(mr_query_flag f) { return (unsigned)f < MR_FLAG_COUNT_ ? flag_names[f] : "?"; }

/* is: values: name, flag, negated. */
static const struct {
	const char *name;
	mr_query_flag flag;
	bool negated;
} is_values[] = {
	{"seen", MR_FLAG_SEEN, false},           {"read", MR_FLAG_SEEN, false},
	{"unseen", MR_FLAG_SEEN, true},          {"unread", MR_FLAG_SEEN, true},
	{"flagged", MR_FLAG_FLAGGED, false},     {"starred", MR_FLAG_FLAGGED, false},
	{"unflagged", MR_FLAG_FLAGGED, true},    {"unstarred", MR_FLAG_FLAGGED, true},
	{"answered", MR_FLAG_ANSWERED, false},   {"replied", MR_FLAG_ANSWERED, false},
	{"unanswered", MR_FLAG_ANSWERED, true},  {"draft", MR_FLAG_DRAFT, false},
	{"undraft", MR_FLAG_DRAFT, true},        {"deleted", MR_FLAG_DELETED, false},
	{"undeleted", MR_FLAG_DELETED, true},    {"forwarded", MR_FLAG_FORWARDED, false},
	{"junk", MR_FLAG_JUNK, false},           {"spam", MR_FLAG_JUNK, false},
	{"notjunk", MR_FLAG_JUNK, true},
};

/* ---- parser state ---- */

typedef struct qp {
	const char *s;
	size_t len, pos;
	mr_query *q;
	unsigned depth;
	size_t nodes;
} qp;

/* Field context inherited by a parenthesized group after `field:`. */
typedef struct qctx {
	mr_search_field field;
	const char *header;
} qctx;

static unsigned qp_column(const qp *p, size_t at)
{
	unsigned col = 1;
	for (size_t i = 0; i < at && i < p->len; i++)
		if (((unsigned char)p->s[i] & 0xC0u) != 0x80u)
			col++;
	return col;
}

static int qp_fail(const qp *p, size_t at, int code, const char *fmt, ...) MR_PRINTF(4, 5);
static int qp_fail(const qp *p, size_t at, int code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mr_error_set(code, "query: column %u: %s", qp_column(p, at), msg);
}

/* Whitespace: ASCII blanks and controls, U+00A0, U+3000. Returns its byte length or 0. */
static size_t ws_len(const qp *p, size_t at)
{
	if (at >= p->len)
		return 0;
	unsigned char c = (unsigned char)p->s[at];
	if (c == ' ' || (c >= 0x01 && c < 0x20) || c == 0x7f)
		return 1;
	if (c == 0xC2 && at + 1 < p->len && (unsigned char)p->s[at + 1] == 0xA0)
		return 2;
	if (c == 0xE3 && at + 2 < p->len && (unsigned char)p->s[at + 1] == 0x80 && (unsigned char)p->s[at + 2] == 0x80)
		return 3;
	return 0;
}

static void skip_ws(qp *p)
{
	size_t n;
	while ((n = ws_len(p, p->pos)) > 0)
		p->pos += n;
}

static bool at_end(const qp *p) { return p->pos >= p->len; }

/* A delimiter ends a word: end, whitespace, parentheses, quote. */
static bool is_delim(const qp *p, size_t at)
{
	if (at >= p->len)
		return true;
	char c = p->s[at];
	return c == '(' || c == ')' || c == '"' || ws_len(p, at) > 0;
}

/* Is the keyword kw (AND, OR, NOT) at pos, standing alone? */
static bool at_keyword(const qp *p, const char *kw)
{
	size_t n = strlen(kw);
	return p->len - p->pos >= n && memcmp(p->s + p->pos, kw, n) == 0 && is_delim(p, p->pos + n);
}

static mr_query_node *new_node(qp *p, mr_query_kind kind, size_t at)
{
	if (++p->nodes > MR_QUERY_MAX_NODES) {
		qp_fail(p, at, MR_ELIMIT, "too many terms and operators (max %u)", (unsigned)MR_QUERY_MAX_NODES);
		return NULL;
	}
	mr_query_node *n = arena_alloc(p->q, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	n->column = qp_column(p, at);
	return n;
}

/* Collects the children of an AND/OR, flattening nested nodes of the same kind. */
typedef struct nodelist {
	mr_query_node **v;
	size_t n, cap;
} nodelist;

static int nodelist_push(nodelist *l, mr_query_node *n, mr_query_kind kind)
{
	if (n->kind == kind) {
		for (size_t i = 0; i < n->nchildren; i++)
			if (nodelist_push(l, n->children[i], kind) < 0)
				return MR_ENOMEM;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		mr_query_node **v = mr_realloc(l->v, cap * sizeof(*v));
		if (!v)
			return MR_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = n;
	return 0;
}

/* Turns a list into one node: the single child, or an AND/OR over all. */
static mr_query_node *nodelist_finish(qp *p, nodelist *l, mr_query_kind kind, size_t at)
{
	mr_query_node *r = NULL;
	if (l->n == 1) {
		r = l->v[0];
	} else {
		r = new_node(p, kind, at);
		if (r) {
			r->children = arena_alloc(p->q, l->n * sizeof(*r->children));
			if (!r->children) {
				r = NULL;
			} else {
				memcpy(r->children, l->v, l->n * sizeof(*r->children));
				r->nchildren = l->n;
			}
		}
	}
	mr_free(l->v);
	l->v = NULL;
	return r;
}

static mr_query_node *wrap_not(qp *p, mr_query_node *child, size_t at)
{
	mr_query_node *n = new_node(p, MR_Q_NOT, at);
	if (!n)
		return NULL;
	n->children = arena_alloc(p->q, sizeof(*n->children));
	if (!n->children)
		return NULL;
	n->children[0] = child;
	n->nchildren = 1;
	return n;
}

static mr_query_node *parse_or(qp *p, const qctx *ctx);

/* Reads a quoted string at p->pos (which holds '"'); unescapes \" and \\. */
static int read_quoted(qp *p, char **out, size_t *outlen)
{
	size_t open = p->pos++;
	mr_buf b = MR_BUF_INIT;
	int rc = 0;
	for (;;) {
		if (at_end(p)) {
			rc = qp_fail(p, open, MR_EINVALID, "unclosed quote '\"'");
			goto done;
		}
		char c = p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c == '\\' && p->pos + 1 < p->len) {
			p->pos++;
			c = p->s[p->pos];
		}
		if ((rc = mr_buf_put(&b, &c, 1)) < 0)
			goto done;
		p->pos++;
	}
	*out = arena_strndup(p->q, mr_buf_cstr(&b), b.len);
	*outlen = b.len;
	if (!*out)
		rc = MR_ENOMEM;
done:
	mr_buf_dispose(&b);
	return rc;
}

static bool blank_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

static mr_query_node *parse_phrase(qp *p, const qctx *ctx)
{
	size_t open = p->pos;
	char *text = NULL;
	size_t n = 0;
	if (read_quoted(p, &text, &n) < 0)
		return NULL;
	if (blank_text(text, n)) {
		qp_fail(p, open, MR_EINVALID, "empty phrase");
		return NULL;
	}
	mr_query_node *node = new_node(p, MR_Q_PHRASE, open);
	if (!node)
		return NULL;
	node->field = ctx->field;
	node->header = ctx->header;
	node->text = text;
	return node;
}

/* A bare word (already known not to be a field) as TERM or PREFIX. */
static mr_query_node *parse_word(qp *p, const qctx *ctx)
{
	size_t start = p->pos;
	while (!is_delim(p, p->pos))
		p->pos++;
	size_t n = p->pos - start;
	const char *w = p->s + start;
	mr_query_kind kind = MR_Q_TERM;
	for (size_t i = 0; i < n; i++) {
		if (w[i] != '*')
			continue;
		if (i + 1 != n) {
			qp_fail(p, start + i, MR_EINVALID, "'*' is allowed only at the end of a word");
			return NULL;
		}
		if (i == 0) {
			qp_fail(p, start + i, MR_EINVALID, "'*' needs a prefix before it");
			return NULL;
		}
		kind = MR_Q_PREFIX;
		n--;
	}
	mr_query_node *node = new_node(p, kind, start);
	if (!node)
		return NULL;
	node->field = ctx->field;
	node->header = ctx->header;
	node->text = arena_strndup(p->q, w, n);
	return node->text ? node : NULL;
}

/* ---- filters ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool parse_date(const char *s, size_t n, int64_t *out)
{
	if (n != 10 || s[4] != '-' || s[7] != '-')
		return false;
	unsigned v[10];
	for (size_t i = 0; i < 10; i++) {
		if (i == 4 || i == 7)
			continue;
		if (s[i] < '0' || s[i] > '9')
			return false;
		v[i] = (unsigned)(s[i] - '0');
	}
	unsigned y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
	unsigned m = v[5] * 10 + v[6], d = v[8] * 10 + v[9];
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (m == 2 && d == 29 && !leap)
		return false;
	*out = days_from_civil(y, m, d) * 86400;
	return true;
}

static bool parse_size(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		i++;
	}
	if (i == 0)
		return false;
	uint64_t mul = 1;
	if (i < n) {
		switch (s[i]) {
		case 'k': case 'K': mul = 1024; i++; break;
		case 'm': case 'M': mul = 1024 * 1024; i++; break;
		case 'g': case 'G': mul = 1024 * 1024 * 1024; i++; break;
		default: break;
		}
		if (i < n && (s[i] == 'b' || s[i] == 'B'))
			i++;
	}
	if (i != n || v > (uint64_t)INT64_MAX / mul)
		return false;
	*out = (int64_t)(v * mul);
	return true;
}

enum {
	F_NONE = 0,
	F_TEXT, /* from to cc bcc subject body attachment */
	F_HEADER,
	F_BEFORE,
	F_AFTER,
	F_ON,
	F_LARGER,
	F_SMALLER,
	F_HAS,
	F_IN,
	F_IS,
};

static const struct {
	const char *name;
	int kind;
	mr_search_field field;
} field_table[] = {
	{"from", F_TEXT, MR_FIELD_FROM},       {"to", F_TEXT, MR_FIELD_TO},
	{"cc", F_TEXT, MR_FIELD_CC},           {"bcc", F_TEXT, MR_FIELD_BCC},
	{"subject", F_TEXT, MR_FIELD_SUBJECT}, {"body", F_TEXT, MR_FIELD_BODY},
	{"attachment", F_TEXT, MR_FIELD_ATTACHMENT}, {"header", F_HEADER, MR_FIELD_HEADER},
	{"before", F_BEFORE, MR_FIELD_ANY},    {"after", F_AFTER, MR_FIELD_ANY},
	{"on", F_ON, MR_FIELD_ANY},            {"larger", F_LARGER, MR_FIELD_ANY},
	{"smaller", F_SMALLER, MR_FIELD_ANY},  {"has", F_HAS, MR_FIELD_ANY},
	{"in", F_IN, MR_FIELD_ANY},            {"is", F_IS, MR_FIELD_ANY},
};

static bool ascii_ieq(const char *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = a[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != b[i])
			return false;
	}
	return true;
}

/* Reads a filter value: a quoted string or a word.  Empty is an error. */
static int read_value(qp *p, const char *fname, size_t fstart, char **out, size_t *n)
{
	if (is_delim(p, p->pos) && (at_end(p) || p->s[p->pos] != '"'))
		return qp_fail(p, fstart, MR_EINVALID, "\"%s:\" expects a value", fname);
	if (p->s[p->pos] == '"') {
		size_t open = p->pos;
		int rc = read_quoted(p, out, n);
		if (rc == 0 && *n == 0)
			rc = qp_fail(p, open, MR_EINVALID, "\"%s:\" expects a value", fname);
		return rc;
	}
	size_t start = p->pos;
	while (!is_delim(p, p->pos))
		p->pos++;
	*n = p->pos - start;
	*out = arena_strndup(p->q, p->s + start, *n);
	return *out ? 0 : MR_ENOMEM;
}

static mr_query_node *parse_filter(qp *p, int kind, const char *fname, size_t fstart)
{
	size_t vstart = p->pos;
	char *v = NULL;
	size_t n = 0;
	if (read_value(p, fname, fstart, &v, &n) < 0)
		return NULL;
	mr_query_node *node = NULL;
	switch (kind) {
	case F_BEFORE:
	case F_AFTER:
	case F_ON: {
		int64_t t;
		if (!parse_date(v, n, &t)) {
			qp_fail(p, vstart, MR_EINVALID, "%s: expected a date YYYY-MM-DD, got \"%s\"", fname, v);
			return NULL;
		}
		if (!(node = new_node(p, MR_Q_DATE, fstart)))
			return NULL;
		node->cmp = kind == F_BEFORE ? MR_CMP_BEFORE : kind == F_AFTER ? MR_CMP_AFTER : MR_CMP_ON;
		node->value = t;
		return node;
	}
	case F_LARGER:
	case F_SMALLER: {
		int64_t sz;
		if (!parse_size(v, n, &sz)) {
			qp_fail(p, vstart, MR_EINVALID, "%s: expected a size (bytes, or with k, M, G), got \"%s\"", fname, v);
			return NULL;
		}
		if (!(node = new_node(p, MR_Q_SIZE, fstart)))
			return NULL;
		node->cmp = kind == F_LARGER ? MR_CMP_LARGER : MR_CMP_SMALLER;
		node->value = sz;
		return node;
	}
	case F_HAS:
		if (!ascii_ieq(v, n, "attachment")) {
			qp_fail(p, vstart, MR_EINVALID, "has: expected \"attachment\", got \"%s\"", v);
			return NULL;
		}
		return new_node(p, MR_Q_HAS_ATTACHMENT, fstart);
	case F_IN:
		if (!(node = new_node(p, MR_Q_IN, fstart)))
			return NULL;
		node->text = v;
		return node;
	case F_IS:
		for (size_t i = 0; i < MR_ARRAY_LEN(is_values); i++) {
			if (!ascii_ieq(v, n, is_values[i].name))
				continue;
			if (!(node = new_node(p, MR_Q_IS, fstart)))
				return NULL;
			node->flag = is_values[i].flag;
			return is_values[i].negated ? wrap_not(p, node, fstart) : node;
		}
		qp_fail(p, vstart, MR_EINVALID,
			"is: unknown flag \"%s\" (expected seen, unseen, read, unread, flagged, unflagged, answered, "
			"unanswered, draft, deleted, forwarded, junk, notjunk)",
			v);
		return NULL;
	default:
		break;
	}
	MR_ASSERT(0);
	return NULL;
}

/* After `field:` of a text field: a phrase, a group or a word scoped to it. */
static mr_query_node *parse_field_value(qp *p, const qctx *inner, const char *fname, size_t fstart)
{
	if (at_end(p) || ws_len(p, p->pos) > 0 || p->s[p->pos] == ')') {
		qp_fail(p, fstart, MR_EINVALID, "\"%s:\" expects a value", fname);
		return NULL;
	}
	if (p->s[p->pos] == '"') {
		mr_query_node *n = parse_phrase(p, inner);
		if (n)
			n->column = qp_column(p, fstart);
		return n;
	}
	if (p->s[p->pos] == '(') {
		size_t open = p->pos++;
		if (++p->depth > MR_QUERY_MAX_DEPTH) {
			qp_fail(p, open, MR_ELIMIT, "nested too deeply (max %u)", (unsigned)MR_QUERY_MAX_DEPTH);
			return NULL;
		}
		skip_ws(p);
		if (at_end(p)) {
			qp_fail(p, open, MR_EINVALID, "unclosed \"(\"");
			return NULL;
		}
		if (p->s[p->pos] == ')') {
			qp_fail(p, open, MR_EINVALID, "empty parentheses");
			return NULL;
		}
		mr_query_node *n = parse_or(p, inner);
		if (!n)
			return NULL;
		skip_ws(p);
		if (at_end(p)) {
			qp_fail(p, open, MR_EINVALID, "unclosed \"(\"");
			return NULL;
		}
		p->pos++; /* ')' */
		p->depth--;
		return n;
	}
	mr_query_node *n = parse_word(p, inner);
	if (n)
		n->column = qp_column(p, fstart);
	return n;
}

/* A word or a field:value at p->pos. */
static mr_query_node *parse_term(qp *p, const qctx *ctx)
{
	size_t start = p->pos;
	size_t i = start;
	while (i < p->len && ((p->s[i] >= 'a' && p->s[i] <= 'z') || (p->s[i] >= 'A' && p->s[i] <= 'Z')))
		i++;
	bool url = i + 2 < p->len && p->s[i + 1] == '/' && p->s[i + 2] == '/';
	if (i == start || i >= p->len || p->s[i] != ':' || url)
		return parse_word(p, ctx);

	const char *name = p->s + start;
	size_t nlen = i - start;
	int kind = F_NONE;
	mr_search_field field = MR_FIELD_ANY;
	const char *canon = NULL;
	for (size_t k = 0; k < MR_ARRAY_LEN(field_table); k++) {
		if (ascii_ieq(name, nlen, field_table[k].name)) {
			kind = field_table[k].kind;
			field = field_table[k].field;
			canon = field_table[k].name;
			break;
		}
	}
	if (kind == F_NONE) {
		qp_fail(p, start, MR_EINVALID,
			"unknown field \"%.*s:\" (expected from, to, cc, bcc, subject, body, attachment, "
			"header:NAME, before, after, on, larger, smaller, has, in, is)",
			(int)(nlen > 40 ? 40 : nlen), name);
		return NULL;
	}
	p->pos = i + 1;
	if (kind == F_TEXT) {
		qctx inner = {field, NULL};
		return parse_field_value(p, &inner, canon, start);
	}
	if (kind == F_HEADER) {
		size_t hstart = p->pos;
		while (p->pos < p->len && (unsigned char)p->s[p->pos] > 32 && (unsigned char)p->s[p->pos] < 127 &&
		       p->s[p->pos] != ':' && p->s[p->pos] != '(' && p->s[p->pos] != ')' && p->s[p->pos] != '"')
			p->pos++;
		size_t hlen = p->pos - hstart;
		if (hlen == 0 || at_end(p) || p->s[p->pos] != ':') {
			qp_fail(p, hlen ? p->pos : hstart, MR_EINVALID,
				"\"header:\" expects header:NAME:value (NAME printable ASCII without ':')");
			return NULL;
		}
		char *h = arena_strndup(p->q, p->s + hstart, hlen);
		if (!h)
			return NULL;
		for (char *c = h; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		p->pos++;
		qctx inner = {MR_FIELD_HEADER, h};
		return parse_field_value(p, &inner, "header", start);
	}
	return parse_filter(p, kind, canon, start);
}

static bool at_binary_keyword(const qp *p) { return at_keyword(p, "AND") || at_keyword(p, "OR"); }

/* Checks that a term follows the operator at op (after skipping blanks). */
static bool expect_operand(qp *p, size_t op, const char *kw)
{
	skip_ws(p);
	if (at_end(p) || p->s[p->pos] == ')' || at_binary_keyword(p)) {
		qp_fail(p, op, MR_EINVALID, "expected a term after \"%s\"", kw);
		return false;
	}
	return true;
}

static mr_query_node *parse_unary(qp *p, const qctx *ctx)
{
	size_t start = p->pos;
	if (++p->depth > MR_QUERY_MAX_DEPTH) {
		qp_fail(p, start, MR_ELIMIT, "nested too deeply (max %u)", (unsigned)MR_QUERY_MAX_DEPTH);
		return NULL;
	}
	mr_query_node *r = NULL;
	if (at_end(p)) {
		qp_fail(p, start, MR_EINVALID, "expected a term");
		return NULL;
	}
	if (at_keyword(p, "NOT")) {
		p->pos += 3;
		if (!expect_operand(p, start, "NOT"))
			return NULL;
		mr_query_node *c = parse_unary(p, ctx);
		r = c ? wrap_not(p, c, start) : NULL;
	} else if (at_binary_keyword(p)) {
		qp_fail(p, start, MR_EINVALID, "\"%s\" needs a term before it", p->s[p->pos] == 'A' ? "AND" : "OR");
	} else if (p->s[p->pos] == '-') {
		if (is_delim(p, p->pos + 1) && (p->pos + 1 >= p->len || (p->s[p->pos + 1] != '(' && p->s[p->pos + 1] != '"'))) {
			qp_fail(p, start, MR_EINVALID, "'-' must be followed by a term");
			return NULL;
		}
		p->pos++;
		mr_query_node *c = parse_unary(p, ctx);
		r = c ? wrap_not(p, c, start) : NULL;
	} else if (p->s[p->pos] == '(') {
		p->pos++;
		skip_ws(p);
		if (at_end(p)) {
			qp_fail(p, start, MR_EINVALID, "unclosed \"(\"");
			return NULL;
		}
		if (p->s[p->pos] == ')') {
			qp_fail(p, start, MR_EINVALID, "empty parentheses");
			return NULL;
		}
		r = parse_or(p, ctx);
		if (r) {
			skip_ws(p);
			if (at_end(p)) {
				qp_fail(p, start, MR_EINVALID, "unclosed \"(\"");
				return NULL;
			}
			p->pos++; /* ')' */
		}
	} else if (p->s[p->pos] == ')') {
		qp_fail(p, start, MR_EINVALID, "unexpected \")\"");
	} else if (p->s[p->pos] == '"') {
		r = parse_phrase(p, ctx);
	} else {
		r = parse_term(p, ctx);
	}
	p->depth--;
	return r;
}

static mr_query_node *parse_and(qp *p, const qctx *ctx)
{
	size_t start = p->pos;
	nodelist l = {0};
	mr_query_node *n = parse_unary(p, ctx);
	if (!n || nodelist_push(&l, n, MR_Q_AND) < 0)
		goto fail;
	for (;;) {
		skip_ws(p);
		if (at_end(p) || p->s[p->pos] == ')' || at_keyword(p, "OR"))
			break;
		if (at_keyword(p, "AND")) {
			size_t op = p->pos;
			p->pos += 3;
			if (!expect_operand(p, op, "AND"))
				goto fail;
		}
		n = parse_unary(p, ctx);
		if (!n || nodelist_push(&l, n, MR_Q_AND) < 0)
			goto fail;
	}
	return nodelist_finish(p, &l, MR_Q_AND, start);
fail:
	mr_free(l.v);
	return NULL;
}

static mr_query_node *parse_or(qp *p, const qctx *ctx)
{
	size_t start = p->pos;
	nodelist l = {0};
	mr_query_node *n = parse_and(p, ctx);
	if (!n || nodelist_push(&l, n, MR_Q_OR) < 0)
		goto fail;
	for (;;) {
		skip_ws(p);
		if (!at_keyword(p, "OR"))
			break;
		size_t op = p->pos;
		p->pos += 2;
		if (!expect_operand(p, op, "OR"))
			goto fail;
		n = parse_and(p, ctx);
		if (!n || nodelist_push(&l, n, MR_Q_OR) < 0)
			goto fail;
	}
	return nodelist_finish(p, &l, MR_Q_OR, start);
fail:
	mr_free(l.v);
	return NULL;
}

/* Returns the byte offset of the first invalid UTF-8 sequence or NUL, or len. */
static size_t utf8_check(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c == 0)
			return i;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 2;
			cp = c & 0x1Fu;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 3;
			cp = c & 0x0Fu;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 4;
			cp = c & 0x07u;
		} else {
			return i;
		}
		if (len - i < n)
			return i;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0u) != 0x80u)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3Fu);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return i;
		i += n;
	}
	return len;
}

int mr_query_parse(mr_query **out, const char *text, size_t len)
{
	*out = NULL;
	qp p = {.s = text ? text : "", .len = text ? len : 0};
	if (p.len > MR_QUERY_MAX_LEN)
		return mr_error_set(MR_ELIMIT, "query: column %u: query longer than %u bytes",
				    (unsigned)MR_QUERY_MAX_LEN + 1, (unsigned)MR_QUERY_MAX_LEN);
	size_t bad = utf8_check((const unsigned char *)p.s, p.len);
	if (bad < p.len)
		return qp_fail(&p, bad, MR_EINVALID, p.s[bad] ? "invalid UTF-8" : "NUL character");
	p.q = mr_calloc(1, sizeof(*p.q));
	if (!p.q)
		return MR_ENOMEM;
	const qctx top = {MR_FIELD_ANY, NULL};
	int rc = 0;
	skip_ws(&p);
	if (at_end(&p)) {
		p.q->root = new_node(&p, MR_Q_ALL, 0);
	} else {
		p.q->root = parse_or(&p, &top);
		if (p.q->root) {
			skip_ws(&p);
			if (!at_end(&p)) {
				/* parse_or stops only at the end or at a ')' it did not open. */
				rc = qp_fail(&p, p.pos, MR_EINVALID, "unexpected \")\"");
				goto done;
			}
		}
	}
	if (!p.q->root) {
		rc = mr_error_last()->code ? mr_error_last()->code : MR_ERROR;
		goto done;
	}
	*out = p.q;
	p.q = NULL;
done:
	mr_query_free(p.q);
	return rc;
}

/* ---- printer ---- */

static int print_str(mr_buf *out, const char *s)
{
	int rc = mr_buf_put(out, "\"", 1);
	for (; rc == 0 && *s; s++) {
		if (*s == '"' || *s == '\\')
			rc = mr_buf_put(out, "\\", 1);
		if (rc == 0)
			rc = mr_buf_put(out, s, 1);
	}
	return rc ? rc : mr_buf_put(out, "\"", 1);
}

static int print_field(mr_buf *out, const mr_query_node *n)
{
	if (n->field == MR_FIELD_HEADER)
		return mr_buf_printf(out, "header:%s", n->header ? n->header : "");
	return mr_buf_puts(out, mr_search_field_name(n->field));
}

static int print_date(mr_buf *out, int64_t t)
{
	/* civil_from_days */
	int64_t z = t / 86400 + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	return mr_buf_printf(out, "%04lld-%02u-%02u", (long long)y, m, d);
}

int mr_query_print(const mr_query_node *n, mr_buf *out)
{
	int rc = 0;
	switch (n->kind) {
	case MR_Q_ALL:
		return mr_buf_puts(out, "(all)");
	case MR_Q_AND:
	case MR_Q_OR:
	case MR_Q_NOT:
		rc = mr_buf_puts(out, n->kind == MR_Q_AND ? "(and" : n->kind == MR_Q_OR ? "(or" : "(not");
		for (size_t i = 0; rc == 0 && i < n->nchildren; i++) {
			rc = mr_buf_put(out, " ", 1);
			if (rc == 0)
				rc = mr_query_print(n->children[i], out);
		}
		return rc ? rc : mr_buf_put(out, ")", 1);
	case MR_Q_TERM:
	case MR_Q_PHRASE:
	case MR_Q_PREFIX:
		rc = mr_buf_puts(out, n->kind == MR_Q_TERM ? "(term " : n->kind == MR_Q_PHRASE ? "(phrase " : "(prefix ");
		if (rc == 0)
			rc = print_field(out, n);
		if (rc == 0)
			rc = mr_buf_put(out, " ", 1);
		if (rc == 0)
			rc = print_str(out, n->text);
		return rc ? rc : mr_buf_put(out, ")", 1);
	case MR_Q_DATE:
		rc = mr_buf_printf(out, "(date %s ",
				   n->cmp == MR_CMP_BEFORE ? "before" : n->cmp == MR_CMP_AFTER ? "after" : "on");
		if (rc == 0)
			rc = print_date(out, n->value);
		return rc ? rc : mr_buf_put(out, ")", 1);
	case MR_Q_SIZE:
		return mr_buf_printf(out, "(size %s %lld)", n->cmp == MR_CMP_LARGER ? "larger" : "smaller",
				     (long long)n->value);
	case MR_Q_HAS_ATTACHMENT:
		return mr_buf_puts(out, "(has attachment)");
	case MR_Q_IN:
		rc = mr_buf_puts(out, "(in ");
		if (rc == 0)
			rc = print_str(out, n->text);
		return rc ? rc : mr_buf_put(out, ")", 1);
	case MR_Q_IS:
		return mr_buf_printf(out, "(is %s)", mr_query_flag_name(n->flag));
	}
	return mr_error_set(MR_EINVALID, "query print: unknown node kind %d", (int)n->kind);
}
