/*
 * mysql.c — the MySQL/MariaDB data-store backend (libmariadb, InnoDB),
 * type "mysql".
 *
 * Implements the vtable of backend.h over mr_kv (VARBINARY(1024) keys,
 * LONGBLOB values), mr_counters (VARBINARY(1024) keys, BIGINT values) and
 * mr_meta (schema version), created on first open under a named lock
 * (GET_LOCK) so concurrent first opens are safe.  VARBINARY compares all
 * bytes with memcmp and then length (no pad characters), which is the
 * contract's byte-wise order.
 *
 * Connections come from a bounded pool (pool.max-connections); callers
 * wait up to `timeout` for a free one.  Statements are prepared per
 * connection on first use.  A batch is one InnoDB transaction at
 * REPEATABLE READ: assertions read their rows with SELECT ... FOR UPDATE,
 * which locks the row or, for an absent key, the gap where it would be, so
 * no concurrent writer can slip in between the check and the write;
 * deadlocks (1213) and lock wait timeouts (1205) are retried a bounded
 * number of times, then MR_ECONFLICT.  Auto-reconnect stays off: a
 * connection found dead is replaced on the next call, a batch whose
 * connection died before COMMIT is retried on a new one, and one lost
 * during COMMIT is MR_EUNCERTAIN.  Values larger than the server's
 * max_allowed_packet are refused with MR_ELIMIT, never truncated.
 *
 * Argument checks, error prefixes naming the store and the key codec are
 * the front's (data.c).  See docs/data-sql.md.
 */
#include "data/backend.h"
#include "data/pool.h"
#include "core/dynlib.h"

#include <errno.h>
#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

/* libmariadb, loaded on first open (core/dynlib.h): every call goes through maria. */
#define MR_MY_FUNCS(X) \
	X(mysql_close) \
	X(mysql_errno) \
	X(mysql_error) \
	X(mysql_fetch_row) \
	X(mysql_free_result) \
	X(mysql_get_socket) \
	X(mysql_init) \
	X(mysql_server_init) \
	X(mysql_optionsv) \
	X(mysql_real_connect) \
	X(mysql_real_query) \
	X(mysql_stmt_bind_param) \
	X(mysql_stmt_bind_result) \
	X(mysql_stmt_close) \
	X(mysql_stmt_errno) \
	X(mysql_stmt_error) \
	X(mysql_stmt_execute) \
	X(mysql_stmt_fetch) \
	X(mysql_stmt_fetch_column) \
	X(mysql_stmt_free_result) \
	X(mysql_stmt_init) \
	X(mysql_stmt_prepare) \
	X(mysql_store_result)
static MR_DYNLIB_TABLE(MR_MY_FUNCS) maria;
MR_DYNLIB_DEFINE(my_lib, MR_MY_FUNCS, maria, MR_SONAME_MYSQL, "the mysql data backend");

#define MY_SCHEMA_VERSION 1
#define MY_MAX_ATTEMPTS 8
#define MY_PACKET_OVERHEAD 4096u /* statement header, key, parameter framing */
#define MY_NSCAN 72

extern const mr_data_backend mr_data_backend_mysql;

enum {
	MY_GET,
	MY_GET_COUNTER,
	MY_SET,
	MY_CLEAR_KV,
	MY_CLEAR_COUNTER,
	MY_ADD,
	MY_READ_COUNTER_LOCKED,
	MY_ASSERT,
	MY_NSTMT,
};

static const char *const my_sql[MY_NSTMT] = {
	[MY_GET] = "SELECT v FROM mr_kv WHERE k = ?",
	[MY_GET_COUNTER] = "SELECT v FROM mr_counters WHERE k = ?",
	[MY_SET] = "INSERT INTO mr_kv (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)",
	[MY_CLEAR_KV] = "DELETE FROM mr_kv WHERE k = ?",
	[MY_CLEAR_COUNTER] = "DELETE FROM mr_counters WHERE k = ?",
	[MY_ADD] = "INSERT INTO mr_counters (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = v + VALUES(v)",
	[MY_READ_COUNTER_LOCKED] = "SELECT v FROM mr_counters WHERE k = ? FOR UPDATE",
	/* compares in the server (value first, then key): the asserted value,
	 * up to 16 MiB, never comes back */
	[MY_ASSERT] = "SELECT v = ? FROM mr_kv WHERE k = ? FOR UPDATE",
};

typedef struct my_conn {
	MYSQL *m;
	MYSQL_STMT *stmts[MY_NSTMT];
	MYSQL_STMT *scans[MY_NSCAN];
	bool broken;
} my_conn;

typedef struct my_inst {
	mr_data_inst base;
	char *host, *user, *password, *database;
	unsigned port;
	bool tls;
	char address[300];
	int64_t timeout_ms;
	unsigned long max_packet; /* the server's max_allowed_packet */
	mr_conn_pool pool;
} my_inst;

static my_inst *my_of(mr_data_inst *inst) { return mr_container_of(inst, my_inst, base); }

static pthread_once_t my_lib_once = PTHREAD_ONCE_INIT;
static int my_lib_rc;
static void my_lib_init(void) { my_lib_rc = maria.mysql_server_init(0, NULL, NULL); }

static void my_key_hex(char *out, size_t cap, mr_slice key)
{
	size_t n = key.len;
	if (n * 2 + 4 > cap)
		n = (cap - 4) / 2;
	mr_hex_encode(out, key.ptr, n);
	if (n < key.len)
		strcat(out, "...");
}

/* ---- errors ---- */

static bool my_errno_lost(unsigned e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
	       e == CR_CONN_HOST_ERROR || e == 2055 /* CR_SERVER_LOST_EXTENDED */ || e == 1927 /* ER_CONNECTION_KILLED */
	       || e == ER_SERVER_SHUTDOWN || e == CR_COMMANDS_OUT_OF_SYNC;
}

/* Maps a server or client error number.  *retry is set for deadlocks and
 * lock wait timeouts; the connection is marked broken when it is gone. */
static int my_fail_code(my_inst *mi, my_conn *mc, unsigned e, const char *msg, const char *what, bool *retry)
{
	if (retry)
		*retry = false;
	if (e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT) {
		if (retry)
			*retry = true;
		return mr_error_set(MR_ECONFLICT, "mysql at %s: %s: %s (error %u)", mi->address, what, msg, e);
	}
	if (e == ER_NET_PACKET_TOO_LARGE || e == CR_NET_PACKET_TOO_LARGE || e == 1301 /* ER_WARN_ALLOWED_PACKET_OVERFLOWED */) {
		mc->broken = true; /* the server closes the connection after this */
		return mr_error_set(MR_ELIMIT,
				    "mysql at %s: %s: larger than the server's max_allowed_packet (%lu bytes); raise "
				    "max_allowed_packet: %s (error %u)",
				    mi->address, what, mi->max_packet, msg, e);
	}
	if (my_errno_lost(e) || e == 0) {
		mc->broken = true;
		return mr_error_set(MR_EUNAVAILABLE, "mysql at %s: %s: connection lost: %s (error %u)", mi->address, what,
				    msg, e);
	}
	if (e == ER_ACCESS_DENIED_ERROR || e == ER_DBACCESS_DENIED_ERROR || e == 1698 /* ER_ACCESS_DENIED_NO_PASSWORD */)
		return mr_error_set(MR_EAUTH, "mysql at %s: %s: %s (error %u)", mi->address, what, msg, e);
	if (e == 1969 /* ER_STATEMENT_TIMEOUT */ || e == ER_QUERY_INTERRUPTED)
		return mr_error_set(MR_EUNAVAILABLE, "mysql at %s: %s: timed out after %lld ms: %s (error %u)",
				    mi->address, what, (long long)mi->timeout_ms, msg, e);
	if (e == ER_WARN_DATA_OUT_OF_RANGE || e == ER_DATA_TOO_LONG || e == 1690 /* ER_DATA_OUT_OF_RANGE */)
		return mr_error_set(MR_ELIMIT, "mysql at %s: %s: %s (error %u)", mi->address, what, msg, e);
	return mr_error_set(MR_ERROR, "mysql at %s: %s: %s (error %u)", mi->address, what, msg, e);
}

static int my_fail(my_inst *mi, my_conn *mc, const char *what, bool *retry)
{
	return my_fail_code(mi, mc, maria.mysql_errno(mc->m), maria.mysql_error(mc->m), what, retry);
}

static int my_fail_stmt(my_inst *mi, my_conn *mc, MYSQL_STMT *s, const char *what, bool *retry)
{
	return my_fail_code(mi, mc, maria.mysql_stmt_errno(s), maria.mysql_stmt_error(s), what, retry);
}

/* ---- connections ---- */

static void my_conn_free(my_conn *mc)
{
	if (!mc)
		return;
	for (size_t i = 0; i < MY_NSTMT; i++)
		if (mc->stmts[i])
			maria.mysql_stmt_close(mc->stmts[i]);
	for (size_t i = 0; i < MY_NSCAN; i++)
		if (mc->scans[i])
			maria.mysql_stmt_close(mc->scans[i]);
	if (mc->m)
		maria.mysql_close(mc->m);
	mr_free(mc);
}

static int my_query(my_inst *mi, my_conn *mc, const char *sql, bool *retry)
{
	if (maria.mysql_real_query(mc->m, sql, (unsigned long)strlen(sql)) != 0)
		return my_fail(mi, mc, sql, retry);
	MYSQL_RES *r = maria.mysql_store_result(mc->m);
	if (r)
		maria.mysql_free_result(r);
	else if (maria.mysql_errno(mc->m))
		return my_fail(mi, mc, sql, retry);
	return 0;
}

static int my_connect(my_inst *mi, my_conn **out)
{
	*out = NULL;
	int rc = 0;
	my_conn *mc = mr_calloc(1, sizeof *mc);
	if (!mc)
		return MR_ENOMEM;
	mc->m = maria.mysql_init(NULL);
	if (!mc->m) {
		mr_free(mc);
		return mr_error_oom();
	}
	unsigned secs = (unsigned)((mi->timeout_ms + 999) / 1000);
	/* reads may legitimately wait for a lock up to the timeout; give the
	 * network a margin beyond that before calling the server gone */
	unsigned rw_secs = secs * 2 + 5;
	my_bool off = 0, on = 1;
	unsigned long packet = 1024ul * 1024ul * 1024ul;
	maria.mysql_optionsv(mc->m, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
	maria.mysql_optionsv(mc->m, MYSQL_OPT_READ_TIMEOUT, &rw_secs);
	maria.mysql_optionsv(mc->m, MYSQL_OPT_WRITE_TIMEOUT, &rw_secs);
	maria.mysql_optionsv(mc->m, MYSQL_OPT_RECONNECT, &off);
	maria.mysql_optionsv(mc->m, MYSQL_OPT_MAX_ALLOWED_PACKET, &packet);
	maria.mysql_optionsv(mc->m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (mi->tls)
		maria.mysql_optionsv(mc->m, MYSQL_OPT_SSL_ENFORCE, &on);
	if (!maria.mysql_real_connect(mc->m, mi->host, mi->user, mi->password, mi->database, mi->port, NULL,
				CLIENT_FOUND_ROWS)) {
		unsigned e = maria.mysql_errno(mc->m);
		const char *msg = maria.mysql_error(mc->m);
		if (e == ER_ACCESS_DENIED_ERROR || e == ER_DBACCESS_DENIED_ERROR || e == 1698)
			rc = mr_error_set(MR_EAUTH, "mysql at %s: authentication refused: %s (error %u)", mi->address,
					  msg, e);
		else
			rc = mr_error_set(MR_EUNAVAILABLE, "mysql at %s: connect: %s (error %u)", mi->address, msg, e);
		goto done;
	}
	char sql[300];
	snprintf(sql, sizeof sql,
		 "SET SESSION innodb_lock_wait_timeout = %u, "
		 "sql_mode = CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'STRICT_ALL_TABLES')",
		 secs);
	if ((rc = my_query(mi, mc, sql, NULL)) < 0 ||
	    (rc = my_query(mi, mc, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", NULL)) < 0)
		goto done;
	/* MariaDB only (MySQL has no such variable): a server-side bound on
	 * every statement; ignored where unknown */
	snprintf(sql, sizeof sql, "SET SESSION max_statement_time = %u", secs * 2);
	if (my_query(mi, mc, sql, NULL) < 0) {
		if (mc->broken) {
			rc = mr_error_last()->code;
			goto done;
		}
		mr_error_clear();
	}
	*out = mc;
	mc = NULL;
done:
	my_conn_free(mc);
	return rc;
}

/* An idle connection whose server side went away (KILL, restart) has an
 * error packet or EOF waiting on its socket. */
static bool my_conn_alive(my_conn *mc)
{
	if (mc->broken)
		return false;
	struct pollfd pfd = {.fd = (int)maria.mysql_get_socket(mc->m), .events = POLLIN};
	if (pfd.fd < 0)
		return false;
	int n = poll(&pfd, 1, 0);
	return n == 0;
}

static int pool_connect(void *owner, void **out) { return my_connect(owner, (my_conn **)out); }
static bool pool_alive(void *conn) { return my_conn_alive(conn); }
static bool pool_reusable(void *conn) { return !((my_conn *)conn)->broken; }
static void pool_free(void *conn) { my_conn_free(conn); }

static const mr_conn_pool_ops my_pool_ops = {pool_connect, pool_alive, pool_reusable, pool_free};

static int my_acquire(my_inst *mi, my_conn **out)
{
	void *conn = NULL;
	int rc = mr_conn_pool_acquire(&mi->pool, &conn);
	*out = conn;
	return rc;
}

static void my_release(my_inst *mi, my_conn *mc) { mr_conn_pool_release(&mi->pool, mc); }

/* ---- statements ---- */

static int my_prepare(my_inst *mi, my_conn *mc, MYSQL_STMT **slot, const char *sql, MYSQL_STMT **out)
{
	if (!*slot) {
		MYSQL_STMT *s = maria.mysql_stmt_init(mc->m);
		if (!s)
			return my_fail(mi, mc, "prepare", NULL);
		if (maria.mysql_stmt_prepare(s, sql, (unsigned long)strlen(sql)) != 0) {
			int rc = my_fail_stmt(mi, mc, s, "prepare", NULL);
			maria.mysql_stmt_close(s);
			return rc;
		}
		*slot = s;
	}
	*out = *slot;
	return 0;
}

static void my_bind_bytes(MYSQL_BIND *b, mr_slice s, unsigned long *len)
{
	static char empty[1];
	memset(b, 0, sizeof *b);
	*len = (unsigned long)s.len;
	b->buffer_type = MYSQL_TYPE_BLOB;
	b->buffer = s.len ? (void *)(uintptr_t)s.ptr : empty;
	b->buffer_length = *len;
	b->length = len;
}

static void my_bind_i64(MYSQL_BIND *b, int64_t *v)
{
	memset(b, 0, sizeof *b);
	b->buffer_type = MYSQL_TYPE_LONGLONG;
	b->buffer = v;
}

/* Prepares (once) and executes statement id with key [, value | number]. */
static int my_exec(my_inst *mi, my_conn *mc, int id, mr_slice key, const mr_slice *value, int64_t *num,
		   const char *what, MYSQL_STMT **out, bool *retry)
{
	MYSQL_STMT *s = NULL;
	int rc = my_prepare(mi, mc, &mc->stmts[id], my_sql[id], &s);
	if (rc < 0)
		return rc;
	MYSQL_BIND p[2];
	unsigned long lens[2];
	my_bind_bytes(&p[0], key, &lens[0]);
	if (value)
		my_bind_bytes(&p[1], *value, &lens[1]);
	else if (num)
		my_bind_i64(&p[1], num);
	if (maria.mysql_stmt_bind_param(s, p) != 0 || maria.mysql_stmt_execute(s) != 0)
		return my_fail_stmt(mi, mc, s, what, retry);
	*out = s;
	return 0;
}

/* Fetches column `col` of the current row into *buf (growing it), after a
 * fetch that bound `b` with buffer_length cap. */
static int my_fetch_rest(my_inst *mi, my_conn *mc, MYSQL_STMT *s, unsigned col, MYSQL_BIND *b, unsigned long len,
			 mr_buf *buf, size_t base)
{
	size_t have = b->buffer_length;
	if (mr_buf_grow(buf, base + len) < 0)
		return MR_ENOMEM;
	if (len > have) {
		MYSQL_BIND rest = *b;
		rest.buffer = buf->ptr + base + have;
		rest.buffer_length = len - have;
		if (maria.mysql_stmt_fetch_column(s, &rest, col, have) != 0)
			return my_fail_stmt(mi, mc, s, "fetch", NULL);
	}
	return 0;
}

/* Reads the first row's single column as bytes.  *found false when no row. */
static int my_fetch_bytes(my_inst *mi, my_conn *mc, MYSQL_STMT *s, mr_buf *out, bool *found)
{
	int rc = 0;
	*found = false;
	/* fetch into whatever room the buffer has (maybe none): nothing is
	 * allocated for an absent key, the rest comes after the length is known */
	static uint8_t none[1];
	unsigned long len = 0;
	my_bool isnull = 0, err = 0;
	MYSQL_BIND b;
	memset(&b, 0, sizeof b);
	b.buffer_type = MYSQL_TYPE_BLOB;
	b.buffer = out->cap > 1 ? out->ptr : none;
	b.buffer_length = out->cap > 1 ? (unsigned long)(out->cap - 1) : 0;
	b.length = &len;
	b.is_null = &isnull;
	b.error = &err;
	if (maria.mysql_stmt_bind_result(s, &b) != 0)
		return my_fail_stmt(mi, mc, s, "bind result", NULL);
	int f = maria.mysql_stmt_fetch(s);
	if (f == 1) {
		rc = my_fail_stmt(mi, mc, s, "fetch", NULL);
		goto done;
	}
	if (f == MYSQL_NO_DATA)
		goto done;
	*found = true;
	if (f == MYSQL_DATA_TRUNCATED) {
		/* the first buffer_length bytes are in place; growing keeps them */
		if ((rc = my_fetch_rest(mi, mc, s, 0, &b, len, out, 0)) < 0)
			goto done;
	} else if ((rc = mr_buf_grow(out, len)) < 0) {
		goto done;
	}
	out->len = len;
	out->ptr[len] = 0;
done:
	maria.mysql_stmt_free_result(s);
	return rc;
}

static int my_fetch_i64(my_inst *mi, my_conn *mc, MYSQL_STMT *s, int64_t *v, bool *found)
{
	int rc = 0;
	my_bool isnull = 0;
	MYSQL_BIND b;
	memset(&b, 0, sizeof b);
	b.buffer_type = MYSQL_TYPE_LONGLONG;
	b.buffer = v;
	b.is_null = &isnull;
	*found = false;
	if (maria.mysql_stmt_bind_result(s, &b) != 0)
		return my_fail_stmt(mi, mc, s, "bind result", NULL);
	int f = maria.mysql_stmt_fetch(s);
	if (f == 1)
		rc = my_fail_stmt(mi, mc, s, "fetch", NULL);
	else if (f == 0)
		*found = true;
	maria.mysql_stmt_free_result(s);
	return rc;
}

/* ---- reads ---- */

static int my_get(mr_data_inst *inst, mr_slice key, mr_buf *value)
{
	my_inst *mi = my_of(inst);
	int rc = 0;
	mr_buf_clear(value);
	for (int attempt = 0; attempt < 2; attempt++) {
		my_conn *mc = NULL;
		MYSQL_STMT *s = NULL;
		bool found = false;
		if ((rc = my_acquire(mi, &mc)) < 0)
			return rc;
		rc = my_exec(mi, mc, MY_GET, key, NULL, NULL, "get", &s, NULL);
		if (rc == 0)
			rc = my_fetch_bytes(mi, mc, s, value, &found);
		bool lost = mc->broken;
		my_release(mi, mc);
		if (rc == 0 && !found) {
			char hex[80];
			my_key_hex(hex, sizeof hex, key);
			return mr_error_set(MR_ENOTFOUND, "key %s not found", hex);
		}
		if (rc == 0 || !lost)
			return rc;
	}
	return rc;
}

static int my_get_counter(mr_data_inst *inst, mr_slice key, int64_t *out)
{
	my_inst *mi = my_of(inst);
	int rc = 0;
	*out = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		my_conn *mc = NULL;
		MYSQL_STMT *s = NULL;
		bool found = false;
		int64_t v = 0;
		if ((rc = my_acquire(mi, &mc)) < 0)
			return rc;
		rc = my_exec(mi, mc, MY_GET_COUNTER, key, NULL, NULL, "get counter", &s, NULL);
		if (rc == 0)
			rc = my_fetch_i64(mi, mc, s, &v, &found);
		bool lost = mc->broken;
		my_release(mi, mc);
		if (rc == 0) {
			*out = found ? v : 0;
			return 0;
		}
		if (!lost)
			return rc;
	}
	return rc;
}

static int my_scan_once(my_inst *mi, my_conn *mc, const mr_range *range, size_t limit, mr_kvpage *page)
{
	unsigned flags = range->flags & (MR_SCAN_REVERSE | MR_SCAN_KEYS_ONLY | MR_SCAN_COUNTERS);
	bool keys_only = flags & MR_SCAN_KEYS_ONLY, counters = flags & MR_SCAN_COUNTERS;
	int bkind = range->begin.len ? (range->begin_exclusive ? 2 : 1) : 0;
	int ekind = range->end.len ? (range->end_inclusive ? 2 : 1) : 0;
	int idx = (int)flags + bkind * 8 + ekind * 24;
	char sql[300];
	int n = snprintf(sql, sizeof sql, "SELECT k%s FROM %s", keys_only ? "" : ", v",
			 counters ? "mr_counters" : "mr_kv");
	if (bkind)
		n += snprintf(sql + n, sizeof sql - (size_t)n, " WHERE k %s ?", bkind == 1 ? ">=" : ">");
	if (ekind)
		n += snprintf(sql + n, sizeof sql - (size_t)n, " %s k %s ?", bkind ? "AND" : "WHERE",
			      ekind == 1 ? "<" : "<=");
	snprintf(sql + n, sizeof sql - (size_t)n, " ORDER BY k%s LIMIT ?", (flags & MR_SCAN_REVERSE) ? " DESC" : "");
	MYSQL_STMT *s = NULL;
	int rc = my_prepare(mi, mc, &mc->scans[idx], sql, &s);
	if (rc < 0)
		return rc;

	MYSQL_BIND p[3];
	unsigned long plens[3];
	int np = 0;
	if (bkind)
		my_bind_bytes(&p[np], range->begin, &plens[np]), np++;
	if (ekind)
		my_bind_bytes(&p[np], range->end, &plens[np]), np++;
	/* one more than asked, to know whether more entries follow */
	unsigned long long lim = limit ? (unsigned long long)limit + 1 : ~0ull;
	memset(&p[np], 0, sizeof p[np]);
	p[np].buffer_type = MYSQL_TYPE_LONGLONG;
	p[np].buffer = &lim;
	p[np].is_unsigned = 1;
	if (maria.mysql_stmt_bind_param(s, p) != 0 || maria.mysql_stmt_execute(s) != 0)
		return my_fail_stmt(mi, mc, s, "scan", NULL);

	uint8_t kbuf[MR_DATA_MAX_KEY + 1];
	mr_buf vbuf = MR_BUF_INIT;
	unsigned long klen = 0, vlen = 0;
	my_bool knull = 0, vnull = 0;
	int64_t cval = 0;
	MYSQL_BIND r[2];
	memset(r, 0, sizeof r);
	r[0].buffer_type = MYSQL_TYPE_BLOB;
	r[0].buffer = kbuf;
	r[0].buffer_length = sizeof kbuf;
	r[0].length = &klen;
	r[0].is_null = &knull;
	if ((rc = mr_buf_grow(&vbuf, 4096)) < 0)
		goto done;
	if (counters) {
		r[1].buffer_type = MYSQL_TYPE_LONGLONG;
		r[1].buffer = &cval;
	} else {
		r[1].buffer_type = MYSQL_TYPE_BLOB;
		r[1].buffer = vbuf.ptr;
		r[1].buffer_length = (unsigned long)(vbuf.cap - 1);
		r[1].length = &vlen;
	}
	r[1].is_null = &vnull;
	if (maria.mysql_stmt_bind_result(s, r) != 0) {
		rc = my_fail_stmt(mi, mc, s, "scan", NULL);
		goto done;
	}
	for (size_t i = 0;; i++) {
		int f = maria.mysql_stmt_fetch(s);
		if (f == MYSQL_NO_DATA)
			break;
		if (f == 1) {
			rc = my_fail_stmt(mi, mc, s, "scan", NULL);
			goto done;
		}
		if (limit && i == limit) {
			page->more = true;
			break;
		}
		mr_slice v = MR_SLICE_EMPTY;
		uint8_t be[8];
		if (counters && !keys_only) {
			uint64_t u = (uint64_t)cval;
			for (int j = 7; j >= 0; j--, u >>= 8)
				be[j] = (uint8_t)u;
			v = mr_slice_of(be, 8);
		} else if (!keys_only) {
			if (f == MYSQL_DATA_TRUNCATED && vlen > r[1].buffer_length) {
				/* the first buffer_length bytes are in place; growing keeps
				 * them; later rows go to the grown buffer */
				if ((rc = my_fetch_rest(mi, mc, s, 1, &r[1], vlen, &vbuf, 0)) < 0)
					goto done;
				r[1].buffer = vbuf.ptr;
				r[1].buffer_length = (unsigned long)(vbuf.cap - 1);
				if (maria.mysql_stmt_bind_result(s, r) != 0) {
					rc = my_fail_stmt(mi, mc, s, "scan", NULL);
					goto done;
				}
			}
			v = mr_slice_of(vbuf.ptr, vlen);
		}
		if ((rc = mr_kvpage_push(page, mr_slice_of(kbuf, klen), v)) < 0)
			goto done;
	}
done:
	maria.mysql_stmt_free_result(s);
	mr_buf_dispose(&vbuf);
	return rc;
}

static int my_scan(mr_data_inst *inst, const mr_range *range, size_t limit, mr_kvpage *page)
{
	my_inst *mi = my_of(inst);
	int rc = 0;
	size_t start = page->count;
	for (int attempt = 0; attempt < 2; attempt++) {
		my_conn *mc = NULL;
		if ((rc = my_acquire(mi, &mc)) < 0)
			return rc;
		rc = my_scan_once(mi, mc, range, limit, page);
		bool lost = mc->broken;
		my_release(mi, mc);
		if (rc == 0 || !lost || page->count != start)
			return rc;
	}
	return rc;
}

/* ---- commit ---- */

typedef enum my_outcome {
	MY_DONE,
	MY_RETRY,
	MY_RECONNECT,
} my_outcome;

static my_outcome my_commit_once(my_inst *mi, my_conn *mc, const mr_batch_op *ops, size_t nops, bool need_txn,
				 int64_t *add_result, int *rc_out)
{
	bool retry = false, in_txn = false;
	MYSQL_STMT *s = NULL;
	int rc = 0;
	if (need_txn) {
		if ((rc = my_query(mi, mc, "START TRANSACTION", &retry)) < 0)
			goto fail;
		in_txn = true;
	}
	for (size_t i = 0; i < nops; i++) {
		const mr_batch_op *op = &ops[i];
		int64_t delta = op->delta;
		bool found = false;
		switch (op->kind) {
		case MR_OP_SET:
			rc = my_exec(mi, mc, MY_SET, op->key, &op->value, NULL, "commit: set", &s, &retry);
			break;
		case MR_OP_CLEAR:
			rc = my_exec(mi, mc, MY_CLEAR_KV, op->key, NULL, NULL, "commit: clear", &s, &retry);
			if (rc == 0)
				rc = my_exec(mi, mc, MY_CLEAR_COUNTER, op->key, NULL, NULL, "commit: clear", &s, &retry);
			break;
		case MR_OP_ADD:
			rc = my_exec(mi, mc, MY_ADD, op->key, NULL, &delta, "commit: add", &s, &retry);
			if (rc == 0 && add_result) {
				/* our upsert holds the row lock: this reads our own new value */
				rc = my_exec(mi, mc, MY_READ_COUNTER_LOCKED, op->key, NULL, NULL, "commit: add", &s,
					     &retry);
				if (rc == 0)
					rc = my_fetch_i64(mi, mc, s, add_result, &found);
			}
			break;
		case MR_OP_ASSERT_VALUE:
		case MR_OP_ASSERT_ABSENT: {
			int64_t equal = 0;
			rc = my_exec(mi, mc, MY_ASSERT, op->value, &op->key, NULL, "commit: assert", &s, &retry);
			if (rc == 0)
				rc = my_fetch_i64(mi, mc, s, &equal, &found);
			if (rc == 0) {
				bool holds = op->kind == MR_OP_ASSERT_ABSENT ? !found : found && equal == 1;
				if (!holds) {
					char hex[80];
					my_key_hex(hex, sizeof hex, op->key);
					rc = mr_error_set(MR_ECONFLICT, "assertion failed on key %s: %s", hex,
							  op->kind == MR_OP_ASSERT_ABSENT ? "key is present"
							  : found			       ? "value differs"
											       : "key is absent");
				}
			}
			break;
		}
		}
		if (rc < 0)
			goto fail;
	}
	if (in_txn) {
		if (maria.mysql_real_query(mc->m, "COMMIT", 6) != 0) {
			rc = my_fail(mi, mc, "commit", &retry);
			if (mc->broken) {
				*rc_out = mr_error_set(MR_EUNCERTAIN,
						       "mysql at %s: connection lost during COMMIT; the batch may or may "
						       "not have been applied: %s",
						       mi->address, mr_error_last()->message);
				return MY_DONE;
			}
			goto fail;
		}
	}
	*rc_out = 0;
	return MY_DONE;
fail:
	if (mc->broken) {
		if (!need_txn) {
			*rc_out = mr_error_set(MR_EUNCERTAIN,
					       "mysql at %s: connection lost during a single-statement commit; it may "
					       "or may not have been applied: %s",
					       mi->address, mr_error_last()->message);
			return MY_DONE;
		}
		*rc_out = rc;
		return MY_RECONNECT;
	}
	if (in_txn) {
		char saved[512];
		snprintf(saved, sizeof saved, "%s", mr_error_last()->message);
		if (my_query(mi, mc, "ROLLBACK", NULL) < 0)
			mc->broken = true;
		rc = mr_error_set(rc, "%s", saved);
	}
	*rc_out = rc;
	return retry ? MY_RETRY : MY_DONE;
}

static int my_commit(mr_data_inst *inst, const mr_batch_op *ops, size_t nops, int64_t *add_result)
{
	my_inst *mi = my_of(inst);
	if (nops == 0)
		return 0;
	for (size_t i = 0; i < nops; i++) {
		size_t need = ops[i].key.len + ops[i].value.len + MY_PACKET_OVERHEAD;
		if ((ops[i].kind == MR_OP_SET || ops[i].kind == MR_OP_ASSERT_VALUE) && mi->max_packet &&
		    need > mi->max_packet) {
			char hex[80];
			my_key_hex(hex, sizeof hex, ops[i].key);
			return mr_error_set(MR_ELIMIT,
					    "mysql at %s: %s %s: value of %zu bytes does not fit the server's "
					    "max_allowed_packet (%lu bytes); raise max_allowed_packet on the server",
					    mi->address, ops[i].kind == MR_OP_SET ? "set" : "assert", hex, ops[i].value.len,
					    mi->max_packet);
		}
	}
	/* a single set, or a single add whose value nobody reads back, is
	 * atomic as one autocommit statement */
	bool need_txn = !(nops == 1 && (ops[0].kind == MR_OP_SET || (ops[0].kind == MR_OP_ADD && !add_result)));
	int rc = 0;
	bool reconnected = false;
	for (unsigned attempt = 0; attempt < MY_MAX_ATTEMPTS; attempt++) {
		my_conn *mc = NULL;
		if ((rc = my_acquire(mi, &mc)) < 0)
			return rc;
		my_outcome o = my_commit_once(mi, mc, ops, nops, need_txn, add_result, &rc);
		my_release(mi, mc);
		if (o == MY_DONE)
			return rc;
		if (o == MY_RECONNECT) {
			if (reconnected)
				return rc;
			reconnected = true;
			continue;
		}
		mr_sleep_ms(mr_backoff_ms(attempt, 2, 100));
	}
	return mr_error_set(MR_ECONFLICT, "mysql at %s: commit: %u attempts ended in deadlock or lock wait timeout; "
				     "last: %s",
			    mi->address, MY_MAX_ATTEMPTS, mr_error_last()->message);
}

/* ---- schema ---- */

static int my_schema(my_inst *mi, my_conn *mc)
{
	static const char *const ddl[] = {
		"CREATE TABLE IF NOT EXISTS mr_meta (name VARCHAR(64) NOT NULL PRIMARY KEY, value VARCHAR(255) NOT "
		"NULL) ENGINE=InnoDB",
		"CREATE TABLE IF NOT EXISTS mr_kv (k VARBINARY(1024) NOT NULL PRIMARY KEY, v LONGBLOB NOT NULL) "
		"ENGINE=InnoDB ROW_FORMAT=DYNAMIC",
		"CREATE TABLE IF NOT EXISTS mr_counters (k VARBINARY(1024) NOT NULL PRIMARY KEY, v BIGINT NOT NULL) "
		"ENGINE=InnoDB ROW_FORMAT=DYNAMIC",
		"INSERT IGNORE INTO mr_meta (name, value) VALUES ('schema_version', '1')",
	};
	char sql[160];
	/* DDL commits implicitly in MySQL, so a session-level named lock
	 * serializes concurrent first opens instead of a transaction */
	snprintf(sql, sizeof sql, "SELECT GET_LOCK('mailroom.schema', %lld)", (long long)(mi->timeout_ms + 999) / 1000);
	if (maria.mysql_real_query(mc->m, sql, (unsigned long)strlen(sql)) != 0)
		return my_fail(mi, mc, "schema lock", NULL);
	MYSQL_RES *res = maria.mysql_store_result(mc->m);
	MYSQL_ROW row = res ? maria.mysql_fetch_row(res) : NULL;
	bool locked = row && row[0] && strcmp(row[0], "1") == 0;
	if (res)
		maria.mysql_free_result(res);
	if (!locked)
		return mr_error_set(MR_EUNAVAILABLE, "mysql at %s: could not take the schema lock within %lld ms",
				    mi->address, (long long)mi->timeout_ms);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < MR_ARRAY_LEN(ddl); i++)
		rc = my_query(mi, mc, ddl[i], NULL);
	if (rc == 0) {
		const char *q = "SELECT value, @@max_allowed_packet FROM mr_meta WHERE name = 'schema_version'";
		if (maria.mysql_real_query(mc->m, q, (unsigned long)strlen(q)) != 0) {
			rc = my_fail(mi, mc, "read schema version", NULL);
		} else {
			res = maria.mysql_store_result(mc->m);
			row = res ? maria.mysql_fetch_row(res) : NULL;
			if (!row || !row[0] || !row[1]) {
				rc = mr_error_set(MR_ECORRUPT, "mysql at %s: mr_meta has no schema_version", mi->address);
			} else {
				long v = strtol(row[0], NULL, 10);
				mi->max_packet = strtoul(row[1], NULL, 10);
				if (v != MY_SCHEMA_VERSION)
					rc = mr_error_set(MR_ENOTSUPPORTED,
							  "mysql at %s: schema version %ld in mr_meta, this build "
							  "understands version %d (created by a newer release?)",
							  mi->address, v, MY_SCHEMA_VERSION);
			}
			if (res)
				maria.mysql_free_result(res);
		}
	}
	if (!mc->broken) {
		int r2 = my_query(mi, mc, "DO RELEASE_LOCK('mailroom.schema')", NULL);
		if (rc == 0)
			rc = r2;
	}
	return rc;
}

/* ---- open / close ---- */

static void my_close(mr_data_inst *inst)
{
	if (!inst)
		return;
	my_inst *mi = my_of(inst);
	mr_conn_pool_destroy(&mi->pool);
	mr_free(mi->host);
	mr_free(mi->user);
	mr_free(mi->password);
	mr_free(mi->database);
	mr_free(mi);
}

static int my_hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s[0..n) into a new string. */
static char *my_decode(const char *s, size_t n)
{
	char *out = mr_malloc(n + 1);
	if (!out)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && my_hexval(s[i + 1]) >= 0 && my_hexval(s[i + 2]) >= 0) {
			out[j++] = (char)(my_hexval(s[i + 1]) * 16 + my_hexval(s[i + 2]));
			i += 2;
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	return out;
}

/* mysql://[user[:password]@]host[:port][/database] */
static int my_parse_url(my_inst *mi, const mr_store_config *sc, const char *url)
{
	const char *p = url;
	if (strncmp(p, "mysql://", 8) == 0)
		p += 8;
	else if (strncmp(p, "mariadb://", 10) == 0)
		p += 10;
	else
		return mr_error_set(MR_EINVALID, "%s: store.%s.url: expected mysql://user:password@host:port/database",
				    mr_store_config_where(sc, "url"), mr_store_config_id(sc));
	const char *end = p + strcspn(p, "/?");
	const char *at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (!(mi->user = my_decode(p, (size_t)((colon ? colon : at) - p))))
			return MR_ENOMEM;
		if (colon && !(mi->password = my_decode(colon + 1, (size_t)(at - colon - 1))))
			return MR_ENOMEM;
		p = at + 1;
	}
	const char *colon = memchr(p, ':', (size_t)(end - p));
	if (!(mi->host = my_decode(p, (size_t)((colon ? colon : end) - p))))
		return MR_ENOMEM;
	if (colon) {
		char *e = NULL;
		long port = strtol(colon + 1, &e, 10);
		if (e != end || port < 1 || port > 65535)
			return mr_error_set(MR_EINVALID, "%s: store.%s.url: bad port", mr_store_config_where(sc, "url"),
					    mr_store_config_id(sc));
		mi->port = (unsigned)port;
	}
	if (*end == '/') {
		const char *db = end + 1;
		if (!(mi->database = my_decode(db, strcspn(db, "?"))))
			return MR_ENOMEM;
	}
	return 0;
}

static int my_set_str(char **dst, const char *v)
{
	if (!v)
		return 0;
	mr_free(*dst);
	*dst = mr_strdup(v);
	return *dst ? 0 : MR_ENOMEM;
}

static int my_open(mr_data_inst **out, const mr_store_config *sc)
{
	*out = NULL;
	int rc = 0;
	my_conn *mc = NULL;
	if ((rc = mr_dynlib_load(&my_lib)) < 0)
		return rc;
	pthread_once(&my_lib_once, my_lib_init);
	if (my_lib_rc != 0)
		return mr_error_set(MR_ERROR, "mysql: client library initialisation failed");
	my_inst *mi = mr_calloc(1, sizeof *mi);
	if (!mi)
		return MR_ENOMEM;
	mi->base.backend = &mr_data_backend_mysql;
	mi->port = 3306;

	const char *url = NULL, *host = NULL, *database = NULL, *user = NULL, *password = NULL;
	int64_t port = 0, pool = 0;
	if ((rc = mr_store_config_string(sc, "url", NULL, &url)) < 0 ||
	    (rc = mr_store_config_string(sc, "host", NULL, &host)) < 0 ||
	    (rc = mr_store_config_int(sc, "port", 3306, 1, 65535, &port)) < 0 ||
	    (rc = mr_store_config_string(sc, "database", NULL, &database)) < 0 ||
	    (rc = mr_store_config_string(sc, "user", NULL, &user)) < 0 ||
	    (rc = mr_store_config_string(sc, "password", NULL, &password)) < 0 ||
	    (rc = mr_store_config_bool(sc, "tls", false, &mi->tls)) < 0 ||
	    (rc = mr_store_config_duration_ms(sc, "timeout", 15000, &mi->timeout_ms)) < 0 ||
	    (rc = mr_store_config_int(sc, "pool.max-connections", 10, 1, 1000, &pool)) < 0)
		goto done;
	if (mi->timeout_ms <= 0) {
		rc = mr_error_set(MR_EINVALID, "%s: store.%s.timeout: expected a positive duration",
				  mr_store_config_where(sc, "timeout"), mr_store_config_id(sc));
		goto done;
	}
	if (!url && !host) {
		rc = mr_error_set(MR_EINVALID, "%s: store.%s: needs `url` or `host`", mr_store_config_where(sc, "url"),
				  mr_store_config_id(sc));
		goto done;
	}
	if (url && (rc = my_parse_url(mi, sc, url)) < 0)
		goto done;
	/* explicit keys override what the URL says */
	if ((rc = my_set_str(&mi->host, host)) < 0 || (rc = my_set_str(&mi->user, user)) < 0 ||
	    (rc = my_set_str(&mi->password, password)) < 0 || (rc = my_set_str(&mi->database, database)) < 0)
		goto done;
	if (!url || mr_store_config_has(sc, "port"))
		mi->port = (unsigned)port;
	snprintf(mi->address, sizeof mi->address, "%s:%u", mi->host, mi->port);
	void *first = NULL;
	if ((rc = mr_conn_pool_init(&mi->pool, &my_pool_ops, mi, (size_t)pool, mi->timeout_ms, "mysql",
				    mi->address)) < 0 ||
	    (rc = mr_conn_pool_first(&mi->pool, &first)) < 0)
		goto done;
	mc = first;
	if ((rc = my_schema(mi, mc)) < 0)
		goto done;
	my_release(mi, mc);
	mc = NULL;
	*out = &mi->base;
	mi = NULL;
done:
	my_conn_free(mc);
	if (mi)
		my_close(&mi->base);
	return rc;
}

static int my_maintain(mr_data_inst *inst)
{
	my_inst *mi = my_of(inst);
	my_conn *mc = NULL;
	int rc = my_acquire(mi, &mc);
	if (rc < 0)
		return rc;
	rc = my_query(mi, mc, "ANALYZE TABLE mr_kv, mr_counters", NULL);
	my_release(mi, mc);
	return rc;
}

const mr_data_backend mr_data_backend_mysql = {
	.version = MR_DATA_BACKEND_VERSION,
	.name = "mysql",
	.caps = MR_DATA_CAP_MULTI_PROCESS | MR_DATA_CAP_SHARED,
	.open = my_open,
	.close = my_close,
	.get = my_get,
	.get_counter = my_get_counter,
	.commit = my_commit,
	.scan = my_scan,
	.maintain = my_maintain,
};
