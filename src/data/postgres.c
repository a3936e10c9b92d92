/*
 * postgres.c — the PostgreSQL data-store backend (libpq), type "postgresql".
 *
 * Implements the vtable of backend.h over three tables: mr_kv (bytea keys
 * and values), mr_counters (bytea keys, bigint values) and mr_meta (the
 * schema version), created on first open under a transaction-level
 * advisory lock so several processes may open a fresh database at once.
 * bytea compares with memcmp then length, which is exactly the contract's
 * byte-wise order, so ranges map to plain comparisons on the primary key.
 *
 * Connections come from a bounded pool (pool.max-connections); a caller
 * waits up to `timeout` for a free one.  Statements are prepared lazily per
 * connection.  A batch runs in one transaction: READ COMMITTED when it has
 * no assertions (blind writes and counter upserts cannot lose updates
 * there), SERIALIZABLE when it has, with asserted rows read FOR UPDATE, so
 * a concurrent writer makes this one fail with 40001 and retry; after a
 * bounded number of serialization failures or deadlocks commit returns
 * MR_ECONFLICT.  A connection found dead (PQstatus, or an EOF waiting on
 * its socket) is replaced; a batch whose connection died before COMMIT was
 * sent is retried on a new one, one lost during COMMIT is MR_EUNCERTAIN.
 *
 * Argument checks, error prefixes naming the store and the key codec are
 * the front's (data.c); this file moves bytes.  See docs/data-sql.md.
 */
#include "data/backend.h"
#include "data/pool.h"
#include "core/dynlib.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

/* libpq, loaded on first open (core/dynlib.h): every call goes through pq. */
#define MR_PQ_FUNCS(X) \
	X(PQclear) \
	X(PQconnectPoll) \
	X(PQconnectStartParams) \
	X(PQconninfoFree) \
	X(PQconninfoParse) \
	X(PQenterPipelineMode) \
	X(PQerrorMessage) \
	X(PQexec) \
	X(PQexecPrepared) \
	X(PQexitPipelineMode) \
	X(PQfinish) \
	X(PQgetResult) \
	X(PQgetlength) \
	X(PQgetvalue) \
	X(PQhost) \
	X(PQntuples) \
	X(PQpipelineSync) \
	X(PQport) \
	X(PQprepare) \
	X(PQresultErrorField) \
	X(PQresultErrorMessage) \
	X(PQresultStatus) \
	X(PQsendQueryParams) \
	X(PQsendQueryPrepared) \
	X(PQsetNoticeProcessor) \
	X(PQsocket) \
	X(PQstatus) \
	X(PQtransactionStatus)
static MR_DYNLIB_TABLE(MR_PQ_FUNCS) pq;
MR_DYNLIB_DEFINE(pq_lib, MR_PQ_FUNCS, pq, MR_SONAME_POSTGRES, "the postgresql data backend");

#define PG_SCHEMA_VERSION 1
#define PG_ADVISORY_LOCK_KEY 0x6d61696c726f6f6dLL /* "mailroom" */
#define PG_MAX_ATTEMPTS 24  /* serialization failures / deadlocks before MR_ECONFLICT (transient: SSI pivots under concurrent importers and indexers) */
#define PG_PIPELINE_MAX 10000 /* larger batches go statement by statement */
#define PG_BYTEA_OID 17
#define PG_INT8_OID 20

extern const mr_data_backend mr_data_backend_postgresql;

enum {
	PG_GET,
	PG_GET_COUNTER,
	PG_SET,
	PG_CLEAR,
	PG_ADD,
	PG_ASSERT,
	PG_NSTMT,
};

static const struct {
	const char *sql;
	int nparams;
	Oid types[2];
} pg_stmts[PG_NSTMT] = {
	[PG_GET] = {"SELECT v FROM mr_kv WHERE k = $1", 1, {PG_BYTEA_OID}},
	[PG_GET_COUNTER] = {"SELECT v FROM mr_counters WHERE k = $1", 1, {PG_BYTEA_OID}},
	[PG_SET] = {"INSERT INTO mr_kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", 2,
		    {PG_BYTEA_OID, PG_BYTEA_OID}},
	[PG_CLEAR] = {"WITH d AS (DELETE FROM mr_kv WHERE k = $1) DELETE FROM mr_counters WHERE k = $1", 1,
		      {PG_BYTEA_OID}},
	[PG_ADD] = {"INSERT INTO mr_counters (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE "
		    "SET v = mr_counters.v + EXCLUDED.v RETURNING v",
		    2, {PG_BYTEA_OID, PG_INT8_OID}},
	/* compares in the server: the value itself (up to 16 MiB) never comes back */
	[PG_ASSERT] = {"SELECT v = $2 FROM mr_kv WHERE k = $1 FOR UPDATE", 2, {PG_BYTEA_OID, PG_BYTEA_OID}},
};

/* Scan statements: one per combination of direction, bounds, table and
 * columns, prepared on first use.  Index bits: reverse(1) keys_only(2)
 * counters(4), then begin kind (0 none, 1 >=, 2 >) * 8, end kind
 * (0 none, 1 <, 2 <=) * 24. */
#define PG_NSCAN 72

typedef struct pg_conn {
	PGconn *conn;
	uint32_t prepared;                  /* bit per PG_* statement */
	uint8_t scan_prepared[PG_NSCAN / 8 + 1];
	bool broken;                        /* lost or unusable: close, never reuse */
} pg_conn;

typedef struct pg_inst {
	mr_data_inst base;
	const char *keywords[16];
	const char *values[16];
	char *owned[16]; /* copies of every string in values[]: the config may be freed after open */
	size_t nowned;
	char address[256]; /* host:port for messages */
	int64_t timeout_ms;
	mr_conn_pool pool;
} pg_inst;

static pg_inst *pg_of(mr_data_inst *inst) { return mr_container_of(inst, pg_inst, base); }

/* libpq messages span lines ("...\n\tIs the server running...?\n"):
 * one line, without the trailing newline, reads better in an error. */
static const char *pg_trim(const char *msg, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", msg && *msg ? msg : "unknown error");
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	return buf;
}

static uint64_t pg_be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void pg_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static bool pg_is_auth_message(const char *msg)
{
	return msg && (strstr(msg, "password authentication failed") || strstr(msg, "authentication failed") ||
		       strstr(msg, "no password supplied") || strstr(msg, "no pg_hba.conf entry") ||
		       strstr(msg, "SCRAM"));
}

/* ---- connections ---- */

static void pg_conn_free(pg_conn *pc)
{
	if (!pc)
		return;
	if (pc->conn)
		pq.PQfinish(pc->conn);
	mr_free(pc);
}

static void pg_note_address(pg_inst *pi, PGconn *c)
{
	const char *h = pq.PQhost(c), *p = pq.PQport(c);
	if (h && *h)
		snprintf(pi->address, sizeof pi->address, "%s:%s", h, p && *p ? p : "5432");
}

static int pg_connect_error(pg_inst *pi, PGconn *c, const char *why)
{
	char msg[512];
	pg_note_address(pi, c);
	pg_trim(pq.PQerrorMessage(c), msg, sizeof msg);
	if (why)
		return mr_error_set(MR_EUNAVAILABLE, "postgresql at %s: connect: %s", pi->address, why);
	if (pg_is_auth_message(msg))
		return mr_error_set(MR_EAUTH, "postgresql at %s: authentication refused: %s", pi->address, msg);
	return mr_error_set(MR_EUNAVAILABLE, "postgresql at %s: connect: %s", pi->address, msg);
}

static void pg_notice(void *payload, const char *message)
{
	char msg[512];
	mr_log(MR_LOG_DEBUG, "postgresql: %s", pg_trim(message, msg, sizeof msg));
}

/* Opens one connection, never waiting longer than the configured timeout
 * (libpq's own connect_timeout has whole-second granularity). */
static int pg_connect(pg_inst *pi, pg_conn **out)
{
	*out = NULL;
	int rc = 0;
	PGconn *c = pq.PQconnectStartParams(pi->keywords, pi->values, 1);
	if (!c)
		return mr_error_oom();
	if (pq.PQstatus(c) == CONNECTION_BAD) {
		rc = pg_connect_error(pi, c, NULL);
		goto done;
	}
	uint64_t deadline = mr_now_monotonic_ms() + (uint64_t)pi->timeout_ms;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			rc = pg_connect_error(pi, c, NULL);
			goto done;
		}
		uint64_t now = mr_now_monotonic_ms();
		if (now >= deadline) {
			char why[96];
			snprintf(why, sizeof why, "no answer within %lld ms (timeout)", (long long)pi->timeout_ms);
			rc = pg_connect_error(pi, c, why);
			goto done;
		}
		struct pollfd pfd = {.fd = pq.PQsocket(c), .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
		int n = poll(&pfd, 1, (int)(deadline - now));
		if (n < 0 && errno != EINTR) {
			rc = mr_error_set_errno(MR_EUNAVAILABLE, errno, "postgresql at %s: connect: poll", pi->address);
			goto done;
		}
		if (n > 0)
			st = pq.PQconnectPoll(c);
	}
	pg_note_address(pi, c);
	/* libpq prints notices (and the FATAL of a terminated session) on
	 * stderr by default; the library never prints */
	pq.PQsetNoticeProcessor(c, pg_notice, NULL);
	pg_conn *pc = mr_calloc(1, sizeof *pc);
	if (!pc) {
		rc = MR_ENOMEM;
		goto done;
	}
	pc->conn = c;
	c = NULL;
	*out = pc;
done:
	if (c)
		pq.PQfinish(c);
	return rc;
}

/* True when an idle pooled connection is still usable: the server closes
 * terminated sessions with a FATAL message and EOF, which show up as
 * readable data on the socket. */
static bool pg_conn_alive(pg_conn *pc)
{
	if (pc->broken || pq.PQstatus(pc->conn) != CONNECTION_OK)
		return false;
	struct pollfd pfd = {.fd = pq.PQsocket(pc->conn), .events = POLLIN};
	/* we never LISTEN, so an idle session has nothing to say unless the
	 * server is ending it; whatever it sent, do not trust it further */
	if (poll(&pfd, 1, 0) != 0)
		return false;
	return pq.PQtransactionStatus(pc->conn) == PQTRANS_IDLE;
}

static bool pg_conn_reusable(pg_conn *pc)
{
	return !pc->broken && pq.PQstatus(pc->conn) == CONNECTION_OK && pq.PQtransactionStatus(pc->conn) == PQTRANS_IDLE;
}

static int pool_connect(void *owner, void **out) { return pg_connect(owner, (pg_conn **)out); }
static bool pool_alive(void *conn) { return pg_conn_alive(conn); }
static bool pool_reusable(void *conn) { return pg_conn_reusable(conn); }
static void pool_free(void *conn) { pg_conn_free(conn); }

static const mr_conn_pool_ops pg_pool_ops = {pool_connect, pool_alive, pool_reusable, pool_free};

static int pg_acquire(pg_inst *pi, pg_conn **out)
{
	void *conn = NULL;
	int rc = mr_conn_pool_acquire(&pi->pool, &conn);
	*out = conn;
	return rc;
}

static void pg_release(pg_inst *pi, pg_conn *pc) { mr_conn_pool_release(&pi->pool, pc); }

/* ---- errors ---- */

/* Classifies a failed result (res may be NULL).  Marks the connection
 * broken when it is gone.  *retry is set for serialization failures and
 * deadlocks. */
static int pg_fail(pg_inst *pi, pg_conn *pc, PGresult *res, const char *what, bool *retry)
{
	char msg[512];
	const char *state = res ? pq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	pg_trim(res ? pq.PQresultErrorMessage(res) : pq.PQerrorMessage(pc->conn), msg, sizeof msg);
	if (retry)
		*retry = false;
	if (pq.PQstatus(pc->conn) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0) {
		pc->broken = true;
		if (!state || pq.PQstatus(pc->conn) != CONNECTION_OK)
			pg_trim(pq.PQerrorMessage(pc->conn), msg, sizeof msg);
		return mr_error_set(MR_EUNAVAILABLE, "postgresql at %s: %s: connection lost: %s", pi->address, what,
				    msg);
	}
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
		if (retry)
			*retry = true;
		return mr_error_set(MR_ECONFLICT, "postgresql at %s: %s: %s (SQLSTATE %s)", pi->address, what, msg,
				    state);
	}
	if (strcmp(state, "28P01") == 0 || strcmp(state, "28000") == 0)
		return mr_error_set(MR_EAUTH, "postgresql at %s: %s: %s", pi->address, what, msg);
	if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0)
		return mr_error_set(MR_EUNAVAILABLE, "postgresql at %s: %s: timed out after %lld ms: %s", pi->address,
				    what, (long long)pi->timeout_ms, msg);
	if (strcmp(state, "22003") == 0 || strcmp(state, "54000") == 0 || strcmp(state, "53100") == 0)
		return mr_error_set(MR_ELIMIT, "postgresql at %s: %s: %s (SQLSTATE %s)", pi->address, what, msg,
				    state);
	return mr_error_set(MR_ERROR, "postgresql at %s: %s: %s (SQLSTATE %s)", pi->address, what, msg, state);
}

/* Runs a plain command (BEGIN, COMMIT, DDL). */
static int pg_command(pg_inst *pi, pg_conn *pc, const char *sql, bool *retry)
{
	PGresult *res = pq.PQexec(pc->conn, sql);
	int rc = 0;
	ExecStatusType st = res ? pq.PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = pg_fail(pi, pc, res, sql, retry);
	pq.PQclear(res);
	return rc;
}

static int pg_prepare(pg_inst *pi, pg_conn *pc, const char *name, const char *sql, int nparams, const Oid *types)
{
	PGresult *res = pq.PQprepare(pc->conn, name, sql, nparams, types);
	int rc = 0;
	if (!res || pq.PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = pg_fail(pi, pc, res, "prepare", NULL);
	pq.PQclear(res);
	return rc;
}

static int pg_ensure_prepared(pg_inst *pi, pg_conn *pc, int id)
{
	if (pc->prepared & (1u << id))
		return 0;
	char name[16];
	snprintf(name, sizeof name, "mr%d", id);
	int rc = pg_prepare(pi, pc, name, pg_stmts[id].sql, pg_stmts[id].nparams, pg_stmts[id].types);
	if (rc == 0)
		pc->prepared |= 1u << id;
	return rc;
}

/* Binary parameters of statement id: key, then value or number. */
typedef struct pg_params {
	const char *vals[2];
	int lens[2], fmts[2];
	uint8_t num[8];
} pg_params;

static void pg_params_fill(pg_params *p, const mr_slice *key, const mr_slice *value, const int64_t *num)
{
	static const char empty[1] = {0};
	p->vals[0] = key->len ? (const char *)key->ptr : empty;
	p->lens[0] = (int)key->len;
	p->vals[1] = NULL;
	p->lens[1] = 0;
	p->fmts[0] = p->fmts[1] = 1;
	if (value) {
		p->vals[1] = value->len ? (const char *)value->ptr : empty;
		p->lens[1] = (int)value->len;
	} else if (num) {
		pg_be64_put(p->num, (uint64_t)*num);
		p->vals[1] = (const char *)p->num;
		p->lens[1] = 8;
	}
}

/* Executes a prepared statement with binary parameters and results.
 * *res is set on success (caller clears it). */
static int pg_exec(pg_inst *pi, pg_conn *pc, int id, const mr_slice *key, const mr_slice *value, const int64_t *num,
		   const char *what, PGresult **res, bool *retry)
{
	*res = NULL;
	char name[16];
	snprintf(name, sizeof name, "mr%d", id);
	int rc = pg_ensure_prepared(pi, pc, id);
	if (rc < 0)
		return rc;
	pg_params p;
	pg_params_fill(&p, key, value, num);
	PGresult *r = pq.PQexecPrepared(pc->conn, name, pg_stmts[id].nparams, p.vals, p.lens, p.fmts, 1);
	ExecStatusType st = r ? pq.PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = pg_fail(pi, pc, r, what, retry);
		pq.PQclear(r);
		return rc;
	}
	*res = r;
	return 0;
}

static void pg_key_hex(char *out, size_t cap, mr_slice key)
{
	size_t n = key.len;
	if (n * 2 + 4 > cap)
		n = (cap - 4) / 2;
	mr_hex_encode(out, key.ptr, n);
	if (n < key.len)
		strcat(out, "...");
}

/* ---- reads ---- */

/* Runs fn-like single-statement reads, retrying once on a fresh connection
 * when the pooled one turns out to be dead (reads are idempotent). */
static int pg_read_one(pg_inst *pi, int id, mr_slice key, const char *what, PGresult **res)
{
	int rc = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		pg_conn *pc = NULL;
		rc = pg_acquire(pi, &pc);
		if (rc < 0)
			return rc;
		rc = pg_exec(pi, pc, id, &key, NULL, NULL, what, res, NULL);
		bool lost = pc->broken;
		pg_release(pi, pc);
		if (rc == 0 || !lost)
			return rc;
	}
	return rc;
}

static int pg_get(mr_data_inst *inst, mr_slice key, mr_buf *value)
{
	pg_inst *pi = pg_of(inst);
	PGresult *res = NULL;
	mr_buf_clear(value);
	int rc = pg_read_one(pi, PG_GET, key, "get", &res);
	if (rc < 0)
		return rc;
	if (pq.PQntuples(res) == 0) {
		char hex[80];
		pg_key_hex(hex, sizeof hex, key);
		rc = mr_error_set(MR_ENOTFOUND, "key %s not found", hex);
	} else {
		rc = mr_buf_set(value, pq.PQgetvalue(res, 0, 0), (size_t)pq.PQgetlength(res, 0, 0));
	}
	pq.PQclear(res);
	return rc;
}

static int pg_get_counter(mr_data_inst *inst, mr_slice key, int64_t *out)
{
	pg_inst *pi = pg_of(inst);
	PGresult *res = NULL;
	*out = 0;
	int rc = pg_read_one(pi, PG_GET_COUNTER, key, "get counter", &res);
	if (rc < 0)
		return rc;
	if (pq.PQntuples(res) > 0 && pq.PQgetlength(res, 0, 0) == 8)
		*out = (int64_t)pg_be64_get((const uint8_t *)pq.PQgetvalue(res, 0, 0));
	pq.PQclear(res);
	return 0;
}

static int pg_scan_prepare(pg_inst *pi, pg_conn *pc, int idx, int bkind, int ekind, unsigned flags)
{
	if (pc->scan_prepared[idx / 8] & (1u << (idx % 8)))
		return 0;
	char sql[320], name[16];
	bool counters = flags & MR_SCAN_COUNTERS;
	int n = snprintf(sql, sizeof sql, "SELECT k%s FROM %s", (flags & MR_SCAN_KEYS_ONLY) ? "" : ", v",
			 counters ? "mr_counters" : "mr_kv");
	int param = 1;
	if (bkind)
		n += snprintf(sql + n, sizeof sql - (size_t)n, " WHERE k %s $%d", bkind == 1 ? ">=" : ">", param++);
	if (ekind)
		n += snprintf(sql + n, sizeof sql - (size_t)n, " %s k %s $%d", bkind ? "AND" : "WHERE",
			      ekind == 1 ? "<" : "<=", param++);
	snprintf(sql + n, sizeof sql - (size_t)n, " ORDER BY k%s LIMIT $%d", (flags & MR_SCAN_REVERSE) ? " DESC" : "",
		 param);
	Oid ordered[3];
	int np = 0;
	if (bkind)
		ordered[np++] = PG_BYTEA_OID;
	if (ekind)
		ordered[np++] = PG_BYTEA_OID;
	ordered[np++] = PG_INT8_OID;
	snprintf(name, sizeof name, "mrscan%d", idx);
	int rc = pg_prepare(pi, pc, name, sql, np, ordered);
	if (rc == 0)
		pc->scan_prepared[idx / 8] |= (uint8_t)(1u << (idx % 8));
	return rc;
}

static int pg_scan_once(pg_inst *pi, pg_conn *pc, const mr_range *range, size_t limit, mr_kvpage *page)
{
	unsigned flags = range->flags & (MR_SCAN_REVERSE | MR_SCAN_KEYS_ONLY | MR_SCAN_COUNTERS);
	int bkind = range->begin.len ? (range->begin_exclusive ? 2 : 1) : 0;
	int ekind = range->end.len ? (range->end_inclusive ? 2 : 1) : 0;
	int idx = (int)flags + bkind * 8 + ekind * 24;
	int rc = pg_scan_prepare(pi, pc, idx, bkind, ekind, flags);
	if (rc < 0)
		return rc;
	const char *vals[3];
	int lens[3], fmts[3] = {1, 1, 1}, np = 0;
	uint8_t limbuf[8];
	if (bkind) {
		vals[np] = (const char *)range->begin.ptr;
		lens[np++] = (int)range->begin.len;
	}
	if (ekind) {
		vals[np] = (const char *)range->end.ptr;
		lens[np++] = (int)range->end.len;
	}
	/* one more than asked, to know whether more entries follow */
	if (limit) {
		pg_be64_put(limbuf, (uint64_t)limit + 1);
		vals[np] = (const char *)limbuf;
		lens[np++] = 8;
	} else {
		vals[np] = NULL; /* LIMIT NULL: no limit */
		lens[np++] = 0;
	}
	char name[16];
	snprintf(name, sizeof name, "mrscan%d", idx);
	PGresult *res = pq.PQexecPrepared(pc->conn, name, np, vals, lens, fmts, 1);
	if (!res || pq.PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pg_fail(pi, pc, res, "scan", NULL);
		pq.PQclear(res);
		return rc;
	}
	size_t rows = (size_t)pq.PQntuples(res);
	bool keys_only = flags & MR_SCAN_KEYS_ONLY;
	for (size_t i = 0; i < rows && rc == 0; i++) {
		if (limit && i == limit) {
			page->more = true;
			break;
		}
		mr_slice k = mr_slice_of(pq.PQgetvalue(res, (int)i, 0), (size_t)pq.PQgetlength(res, (int)i, 0));
		mr_slice v = keys_only ? MR_SLICE_EMPTY
				       : mr_slice_of(pq.PQgetvalue(res, (int)i, 1), (size_t)pq.PQgetlength(res, (int)i, 1));
		rc = mr_kvpage_push(page, k, v);
	}
	pq.PQclear(res);
	return rc;
}

static int pg_scan(mr_data_inst *inst, const mr_range *range, size_t limit, mr_kvpage *page)
{
	pg_inst *pi = pg_of(inst);
	int rc = 0;
	size_t start = page->count;
	for (int attempt = 0; attempt < 2; attempt++) {
		pg_conn *pc = NULL;
		rc = pg_acquire(pi, &pc);
		if (rc < 0)
			return rc;
		rc = pg_scan_once(pi, pc, range, limit, page);
		bool lost = pc->broken;
		pg_release(pi, pc);
		if (rc == 0 || !lost || page->count != start)
			return rc;
	}
	return rc;
}

/* ---- commit ---- */

/* Checks the result of PG_ASSERT for op: 0 or MR_ECONFLICT. */
static int pg_assert_check(const mr_batch_op *op, const PGresult *res)
{
	bool present = pq.PQntuples(res) > 0;
	bool equal = present && pq.PQgetlength(res, 0, 0) == 1 && pq.PQgetvalue(res, 0, 0)[0] == 1;
	bool holds = op->kind == MR_OP_ASSERT_ABSENT ? !present : equal;
	if (holds)
		return 0;
	char hex[80];
	pg_key_hex(hex, sizeof hex, op->key);
	return mr_error_set(MR_ECONFLICT, "assertion failed on key %s: %s", hex,
			    op->kind == MR_OP_ASSERT_ABSENT ? "key is present"
			    : present			     ? "value differs"
							     : "key is absent");
}

typedef enum pg_outcome {
	PG_DONE,      /* rc says how it ended; the transaction is over */
	PG_RETRY,     /* serialization failure or deadlock: retry the batch */
	PG_RECONNECT, /* connection lost before COMMIT was sent: nothing applied */
} pg_outcome;

static pg_outcome pg_commit_serial(pg_inst *pi, pg_conn *pc, const mr_batch_op *ops, size_t nops, bool has_assert,
				 int64_t *add_result, int *rc_out)
{
	bool retry = false, in_txn = false;
	PGresult *res = NULL;
	int rc = 0;
	/* A single blind write needs no explicit transaction: the statement is
	 * atomic on its own, and losing the connection while it runs leaves
	 * the outcome unknown, as with COMMIT. */
	bool autocommit = nops == 1 && !has_assert;
	if (!autocommit) {
		rc = pg_command(pi, pc, has_assert ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN", &retry);
		if (rc < 0)
			goto fail;
		in_txn = true;
	}
	for (size_t i = 0; i < nops; i++) {
		const mr_batch_op *op = &ops[i];
		switch (op->kind) {
		case MR_OP_SET:
			rc = pg_exec(pi, pc, PG_SET, &op->key, &op->value, NULL, "commit: set", &res, &retry);
			break;
		case MR_OP_CLEAR:
			rc = pg_exec(pi, pc, PG_CLEAR, &op->key, NULL, NULL, "commit: clear", &res, &retry);
			break;
		case MR_OP_ADD:
			rc = pg_exec(pi, pc, PG_ADD, &op->key, NULL, &op->delta, "commit: add", &res, &retry);
			if (rc == 0 && add_result && pq.PQntuples(res) == 1 && pq.PQgetlength(res, 0, 0) == 8)
				*add_result = (int64_t)pg_be64_get((const uint8_t *)pq.PQgetvalue(res, 0, 0));
			break;
		case MR_OP_ASSERT_VALUE:
		case MR_OP_ASSERT_ABSENT:
			rc = pg_exec(pi, pc, PG_ASSERT, &op->key, &op->value, NULL, "commit: assert", &res, &retry);
			if (rc == 0)
				rc = pg_assert_check(op, res);
			break;
		}
		pq.PQclear(res);
		res = NULL;
		if (rc < 0)
			goto fail;
	}
	if (in_txn) {
		/* From here a lost connection means we cannot know whether the
		 * server committed. */
		PGresult *c = pq.PQexec(pc->conn, "COMMIT");
		ExecStatusType st = c ? pq.PQresultStatus(c) : PGRES_FATAL_ERROR;
		if (st != PGRES_COMMAND_OK) {
			rc = pg_fail(pi, pc, c, "commit", &retry);
			pq.PQclear(c);
			if (pc->broken) {
				*rc_out = mr_error_set(MR_EUNCERTAIN,
						       "postgresql at %s: connection lost during COMMIT; the batch "
						       "may or may not have been applied: %s",
						       pi->address, mr_error_last()->message);
				return PG_DONE;
			}
			*rc_out = rc;
			return retry ? PG_RETRY : PG_DONE;
		}
		pq.PQclear(c);
	}
	*rc_out = 0;
	return PG_DONE;
fail:
	if (pc->broken) {
		if (autocommit) {
			*rc_out = mr_error_set(MR_EUNCERTAIN,
					       "postgresql at %s: connection lost during a single-statement commit; "
					       "it may or may not have been applied: %s",
					       pi->address, mr_error_last()->message);
			return PG_DONE;
		}
		*rc_out = rc;
		return PG_RECONNECT;
	}
	if (in_txn) {
		int keep = rc;
		mr_error last = *mr_error_last();
		char saved[512];
		snprintf(saved, sizeof saved, "%s", last.message);
		if (pg_command(pi, pc, "ROLLBACK", NULL) < 0)
			pc->broken = true;
		rc = mr_error_set(keep, "%s", saved);
	}
	*rc_out = rc;
	return retry ? PG_RETRY : PG_DONE;
}

/*
 * The same transaction in pipeline mode: BEGIN, every operation and (when
 * there is no assertion to look at first) COMMIT go out together and their
 * results come back together, one round trip instead of one per operation.
 * With assertions, COMMIT follows once their results are checked.  A lost
 * connection is uncertain once COMMIT was in the pipeline.
 */
static pg_outcome pg_commit_pipelined(pg_inst *pi, pg_conn *pc, const mr_batch_op *ops, size_t nops,
				      bool has_assert, int64_t *add_result, int *rc_out)
{
	static const int ids[] = {[MR_OP_SET] = PG_SET,
				  [MR_OP_CLEAR] = PG_CLEAR,
				  [MR_OP_ADD] = PG_ADD,
				  [MR_OP_ASSERT_VALUE] = PG_ASSERT,
				  [MR_OP_ASSERT_ABSENT] = PG_ASSERT};
	PGconn *c = pc->conn;
	int rc = 0;
	bool retry = false, sent_commit = !has_assert, failed = false;
	for (size_t i = 0; i < nops; i++)
		if ((rc = pg_ensure_prepared(pi, pc, ids[ops[i].kind])) < 0)
			goto lost_or_fail;
	if (!pq.PQenterPipelineMode(c)) {
		rc = pg_fail(pi, pc, NULL, "commit: pipeline", NULL);
		goto lost_or_fail;
	}
	bool sent = pq.PQsendQueryParams(c, has_assert ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN", 0, NULL, NULL,
				      NULL, NULL, 1) == 1;
	for (size_t i = 0; sent && i < nops; i++) {
		char name[16];
		pg_params p;
		int id = ids[ops[i].kind];
		snprintf(name, sizeof name, "mr%d", id);
		pg_params_fill(&p, &ops[i].key,
			       ops[i].kind == MR_OP_SET || ops[i].kind == MR_OP_ASSERT_VALUE ||
					       ops[i].kind == MR_OP_ASSERT_ABSENT
				       ? &ops[i].value
				       : NULL,
			       ops[i].kind == MR_OP_ADD ? &ops[i].delta : NULL);
		sent = pq.PQsendQueryPrepared(c, name, pg_stmts[id].nparams, p.vals, p.lens, p.fmts, 1) == 1;
	}
	if (sent && !has_assert)
		sent = pq.PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 1) == 1;
	if (sent)
		sent = pq.PQpipelineSync(c) == 1;
	if (!sent) {
		pc->broken = true;
		rc = pg_fail(pi, pc, NULL, "commit: send", NULL);
		goto lost_or_fail;
	}
	/* results: BEGIN, each op, [COMMIT], each followed by NULL; then SYNC */
	size_t expected = 1 + nops + (has_assert ? 0 : 1);
	for (size_t i = 0; i < expected; i++) {
		PGresult *r = pq.PQgetResult(c);
		if (!r) {
			pc->broken = true;
			if (!failed)
				rc = pg_fail(pi, pc, NULL, "commit", NULL);
			goto lost_or_fail;
		}
		ExecStatusType st = pq.PQresultStatus(r);
		if (st == PGRES_FATAL_ERROR) {
			if (!failed)
				rc = pg_fail(pi, pc, r, i == 0 ? "commit: begin" : i > nops ? "commit" : "commit: write",
					     &retry);
			failed = true;
		} else if (st != PGRES_PIPELINE_ABORTED && !failed && i >= 1 && i <= nops) {
			const mr_batch_op *op = &ops[i - 1];
			if (op->kind == MR_OP_ADD && add_result && pq.PQntuples(r) == 1 && pq.PQgetlength(r, 0, 0) == 8)
				*add_result = (int64_t)pg_be64_get((const uint8_t *)pq.PQgetvalue(r, 0, 0));
			if ((op->kind == MR_OP_ASSERT_VALUE || op->kind == MR_OP_ASSERT_ABSENT) &&
			    (rc = pg_assert_check(op, r)) < 0)
				failed = true;
		}
		pq.PQclear(r);
		if (pc->broken || pq.PQstatus(c) != CONNECTION_OK) {
			pc->broken = true;
			goto lost_or_fail;
		}
		r = pq.PQgetResult(c); /* the NULL that ends this query's results */
		pq.PQclear(r);
	}
	PGresult *sync = pq.PQgetResult(c);
	bool synced = sync && pq.PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
	pq.PQclear(sync);
	if (!synced || !pq.PQexitPipelineMode(c)) {
		pc->broken = true;
		if (!failed)
			rc = mr_error_set(MR_EUNAVAILABLE, "postgresql at %s: commit: pipeline out of step: %s",
					  pi->address, pq.PQerrorMessage(c));
		goto lost_or_fail;
	}
	if (failed) {
		if (pq.PQtransactionStatus(c) != PQTRANS_IDLE) {
			char saved[512];
			snprintf(saved, sizeof saved, "%s", mr_error_last()->message);
			if (pg_command(pi, pc, "ROLLBACK", NULL) < 0)
				pc->broken = true;
			rc = mr_error_set(rc, "%s", saved);
		}
		*rc_out = rc;
		return retry ? PG_RETRY : PG_DONE;
	}
	if (has_assert) {
		sent_commit = true;
		PGresult *r = pq.PQexec(c, "COMMIT");
		if (!r || pq.PQresultStatus(r) != PGRES_COMMAND_OK) {
			rc = pg_fail(pi, pc, r, "commit", &retry);
			pq.PQclear(r);
			if (pc->broken)
				goto lost_or_fail;
			*rc_out = rc;
			return retry ? PG_RETRY : PG_DONE;
		}
		pq.PQclear(r);
	}
	*rc_out = 0;
	return PG_DONE;
lost_or_fail:
	if (!pc->broken) {
		*rc_out = rc;
		return PG_DONE;
	}
	if (sent_commit) {
		*rc_out = mr_error_set(MR_EUNCERTAIN,
				       "postgresql at %s: connection lost while committing; the batch may or may "
				       "not have been applied: %s",
				       pi->address, mr_error_last()->message);
		return PG_DONE;
	}
	*rc_out = rc;
	return PG_RECONNECT;
}

static int pg_commit(mr_data_inst *inst, const mr_batch_op *ops, size_t nops, int64_t *add_result)
{
	pg_inst *pi = pg_of(inst);
	if (nops == 0)
		return 0;
	bool has_assert = false;
	for (size_t i = 0; i < nops; i++)
		has_assert |= ops[i].kind == MR_OP_ASSERT_VALUE || ops[i].kind == MR_OP_ASSERT_ABSENT;
	int rc = 0;
	bool reconnected = false;
	for (unsigned attempt = 0; attempt < PG_MAX_ATTEMPTS; attempt++) {
		pg_conn *pc = NULL;
		rc = pg_acquire(pi, &pc);
		if (rc < 0)
			return rc;
		pg_outcome o = nops == 1 || nops > PG_PIPELINE_MAX
				       ? pg_commit_serial(pi, pc, ops, nops, has_assert, add_result, &rc)
				       : pg_commit_pipelined(pi, pc, ops, nops, has_assert, add_result, &rc);
		pg_release(pi, pc);
		if (o == PG_DONE)
			return rc;
		if (o == PG_RECONNECT) {
			/* nothing was committed; one fresh connection, then give up */
			if (reconnected)
				return rc;
			reconnected = true;
			continue;
		}
		mr_sleep_ms(mr_backoff_ms(attempt, 2, 250));
	}
	return mr_error_set(MR_ECONFLICT, "postgresql at %s: commit: %u attempts ended in serialization failure or "
				     "deadlock; last: %s",
			    pi->address, PG_MAX_ATTEMPTS, mr_error_last()->message);
}

/* ---- schema ---- */

static int pg_schema(pg_inst *pi, pg_conn *pc)
{
	static const char *const ddl[] = {
		"CREATE TABLE IF NOT EXISTS mr_meta (name text PRIMARY KEY, value text NOT NULL)",
		"CREATE TABLE IF NOT EXISTS mr_kv (k bytea PRIMARY KEY, v bytea NOT NULL)",
		"CREATE TABLE IF NOT EXISTS mr_counters (k bytea PRIMARY KEY, v bigint NOT NULL)",
		"INSERT INTO mr_meta (name, value) VALUES ('schema_version', '1') ON CONFLICT (name) DO NOTHING",
	};
	char lock[96];
	snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", (long long)PG_ADVISORY_LOCK_KEY);
	int rc = pg_command(pi, pc, "BEGIN", NULL);
	if (rc < 0)
		return rc;
	rc = pg_command(pi, pc, lock, NULL);
	for (size_t i = 0; rc == 0 && i < MR_ARRAY_LEN(ddl); i++)
		rc = pg_command(pi, pc, ddl[i], NULL);
	PGresult *res = NULL;
	if (rc == 0) {
		res = pq.PQexec(pc->conn, "SELECT value FROM mr_meta WHERE name = 'schema_version'");
		if (!res || pq.PQresultStatus(res) != PGRES_TUPLES_OK || pq.PQntuples(res) != 1) {
			rc = pg_fail(pi, pc, res, "read schema version", NULL);
		} else {
			long v = strtol(pq.PQgetvalue(res, 0, 0), NULL, 10);
			if (v != PG_SCHEMA_VERSION)
				rc = mr_error_set(MR_ENOTSUPPORTED,
						  "postgresql at %s: schema version %ld in mr_meta, this build "
						  "understands version %d (created by a newer release?)",
						  pi->address, v, PG_SCHEMA_VERSION);
		}
		pq.PQclear(res);
	}
	if (rc == 0)
		return pg_command(pi, pc, "COMMIT", NULL);
	if (!pc->broken)
		(void)pg_command(pi, pc, "ROLLBACK", NULL);
	return rc;
}

/* ---- open / close ---- */

static void pg_close(mr_data_inst *inst)
{
	if (!inst)
		return;
	pg_inst *pi = pg_of(inst);
	mr_conn_pool_destroy(&pi->pool);
	for (size_t i = 0; i < pi->nowned; i++)
		mr_free(pi->owned[i]);
	mr_free(pi);
}

static void pg_param(pg_inst *pi, size_t *n, const char *kw, const char *value)
{
	if (!value)
		return;
	MR_ASSERT(*n + 1 < MR_ARRAY_LEN(pi->keywords));
	pi->keywords[*n] = kw;
	pi->values[*n] = value;
	(*n)++;
}

/* Replaces *s (borrowed from the configuration) with a copy the instance owns. */
static int pg_own(pg_inst *pi, const char **s)
{
	if (!*s)
		return 0;
	MR_ASSERT(pi->nowned < MR_ARRAY_LEN(pi->owned));
	char *c = mr_strdup(*s);
	if (!c)
		return MR_ENOMEM;
	pi->owned[pi->nowned++] = c;
	*s = c;
	return 0;
}

/* A parameter "<prefix><v>" built here and owned by the instance. */
static int pg_param_owned(pg_inst *pi, size_t *n, const char *kw, const char *prefix, long long v)
{
	MR_ASSERT(pi->nowned < MR_ARRAY_LEN(pi->owned));
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s%lld", prefix, v);
	char *s = mr_strdup(tmp);
	if (!s)
		return MR_ENOMEM;
	pi->owned[pi->nowned++] = s;
	pg_param(pi, n, kw, s);
	return 0;
}

static int pg_open(mr_data_inst **out, const mr_store_config *sc)
{
	*out = NULL;
	int rc = 0;
	pg_conn *pc = NULL;
	if ((rc = mr_dynlib_load(&pq_lib)) < 0)
		return rc;
	pg_inst *pi = mr_calloc(1, sizeof *pi);
	if (!pi)
		return MR_ENOMEM;
	pi->base.backend = &mr_data_backend_postgresql;

	const char *url = NULL, *host = NULL, *database = NULL, *user = NULL, *password = NULL, *sslmode = NULL;
	int64_t port = 0, pool = 0;
	bool tls = false;
	if ((rc = mr_store_config_string(sc, "url", NULL, &url)) < 0 ||
	    (rc = mr_store_config_string(sc, "host", NULL, &host)) < 0 ||
	    (rc = mr_store_config_int(sc, "port", 5432, 1, 65535, &port)) < 0 ||
	    (rc = mr_store_config_string(sc, "database", NULL, &database)) < 0 ||
	    (rc = mr_store_config_string(sc, "user", NULL, &user)) < 0 ||
	    (rc = mr_store_config_string(sc, "password", NULL, &password)) < 0 ||
	    (rc = mr_store_config_bool(sc, "tls", false, &tls)) < 0 ||
	    (rc = mr_store_config_string(sc, "sslmode", NULL, &sslmode)) < 0 ||
	    (rc = mr_store_config_duration_ms(sc, "timeout", 15000, &pi->timeout_ms)) < 0 ||
	    (rc = mr_store_config_int(sc, "pool.max-connections", 10, 1, 1000, &pool)) < 0)
		goto done;
	if ((rc = pg_own(pi, &url)) < 0 || (rc = pg_own(pi, &host)) < 0 || (rc = pg_own(pi, &database)) < 0 ||
	    (rc = pg_own(pi, &user)) < 0 || (rc = pg_own(pi, &password)) < 0 || (rc = pg_own(pi, &sslmode)) < 0)
		goto done;
	if (pi->timeout_ms <= 0) {
		rc = mr_error_set(MR_EINVALID, "%s: store.%s.timeout: expected a positive duration",
				  mr_store_config_where(sc, "timeout"), mr_store_config_id(sc));
		goto done;
	}
	if (!url && !host) {
		rc = mr_error_set(MR_EINVALID, "%s: store.%s: needs `url` or `host`", mr_store_config_where(sc, "url"),
				  mr_store_config_id(sc));
		goto done;
	}
	if ((rc = mr_conn_pool_init(&pi->pool, &pg_pool_ops, pi, (size_t)pool, pi->timeout_ms, "postgresql",
				    pi->address)) < 0)
		goto done;

	/* With expand_dbname, a URI in "dbname" is expanded in place: keywords
	 * after it override what it says, keywords before it are defaults. */
	size_t n = 0;
	/* defaults a URL may override (it is expanded where "dbname" stands) */
	pg_param(pi, &n, "application_name", "mailroom");
	pg_param(pi, &n, "keepalives", "1");
	if (url) {
		pg_param(pi, &n, "dbname", url);
		/* never print the password of a URL: keep only what follows '@' */
		const char *at = strrchr(url, '@');
		const char *start = at ? at + 1 : strstr(url, "://") ? strstr(url, "://") + 3 : url;
		size_t len = strcspn(start, "/?");
		snprintf(pi->address, sizeof pi->address, "%.*s", (int)len, start);
	} else {
		pg_param(pi, &n, "host", host);
		if ((rc = pg_param_owned(pi, &n, "port", "", (long long)port)) < 0)
			goto done;
		pg_param(pi, &n, "dbname", database);
		snprintf(pi->address, sizeof pi->address, "%s:%lld", host, (long long)port);
	}
	if (host && url)
		pg_param(pi, &n, "host", host);
	if (url && mr_store_config_has(sc, "port") &&
	    (rc = pg_param_owned(pi, &n, "port", "", (long long)port)) < 0)
		goto done;
	pg_param(pi, &n, "user", user);
	pg_param(pi, &n, "password", password);
	if (sslmode)
		pg_param(pi, &n, "sslmode", sslmode);
	else if (tls)
		pg_param(pi, &n, "sslmode", "require");
	long long secs = (pi->timeout_ms + 999) / 1000;
	/* "options" set here replaces the URL's: keep what the URL asks for
	 * (e.g. -c search_path=...) in front of the statement timeout. */
	char opt_prefix[120] = "-c statement_timeout=";
	if (url) {
		PQconninfoOption *opts = pq.PQconninfoParse(url, NULL);
		for (PQconninfoOption *o = opts; o && o->keyword; o++)
			if (strcmp(o->keyword, "options") == 0 && o->val && *o->val) {
				if (strlen(o->val) + 24 > sizeof opt_prefix) {
					pq.PQconninfoFree(opts);
					rc = mr_error_set(MR_EINVALID, "%s: store.%s.url: options longer than %zu bytes",
							  mr_store_config_where(sc, "url"), mr_store_config_id(sc),
							  sizeof opt_prefix - 24);
					goto done;
				}
				snprintf(opt_prefix, sizeof opt_prefix, "%s -c statement_timeout=", o->val);
			}
		pq.PQconninfoFree(opts);
	}
	if ((rc = pg_param_owned(pi, &n, "connect_timeout", "", secs < 2 ? 2 : secs)) < 0 ||
	    (rc = pg_param_owned(pi, &n, "options", opt_prefix, (long long)pi->timeout_ms)) < 0 ||
	    (rc = pg_param_owned(pi, &n, "tcp_user_timeout", "", (long long)pi->timeout_ms)) < 0)
		goto done;
	pi->keywords[n] = NULL;
	pi->values[n] = NULL;

	/* The first connection proves the server answers and the credentials
	 * work, and creates the schema; it stays in the pool. */
	void *first = NULL;
	if ((rc = mr_conn_pool_first(&pi->pool, &first)) < 0)
		goto done;
	pc = first;
	if ((rc = pg_schema(pi, pc)) < 0)
		goto done;
	pg_release(pi, pc);
	pc = NULL;
	*out = &pi->base;
	pi = NULL;
done:
	pg_conn_free(pc);
	if (pi)
		pg_close(&pi->base);
	return rc;
}

static int pg_maintain(mr_data_inst *inst)
{
	pg_inst *pi = pg_of(inst);
	pg_conn *pc = NULL;
	int rc = pg_acquire(pi, &pc);
	if (rc < 0)
		return rc;
	rc = pg_command(pi, pc, "VACUUM (ANALYZE) mr_kv", NULL);
	if (rc == 0)
		rc = pg_command(pi, pc, "VACUUM (ANALYZE) mr_counters", NULL);
	pg_release(pi, pc);
	return rc;
}

const mr_data_backend mr_data_backend_postgresql = {
	.version = MR_DATA_BACKEND_VERSION,
	.name = "postgresql",
	.caps = MR_DATA_CAP_MULTI_PROCESS | MR_DATA_CAP_SHARED,
	.open = pg_open,
	.close = pg_close,
	.get = pg_get,
	.get_counter = pg_get_counter,
	.commit = pg_commit,
	.scan = pg_scan,
	.maintain = pg_maintain,
};
