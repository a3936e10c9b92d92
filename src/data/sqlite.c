/*
 * sqlite.c — the SQLite data-store backend: one file, WAL journal, usable
 * by several threads and several processes at once.
 *
 * Connections come from a small pool (one per concurrently running call);
 * each keeps its prepared statements.  A commit is one BEGIN IMMEDIATE
 * transaction, so assertions are checked under the database's write lock
 * and cannot race another writer; SQLITE_BUSY past `timeout` is
 * MR_EUNAVAILABLE.  synchronous=FULL unless `sync = false`.
 * Tables: kv(k, v) and counters(k, v), both WITHOUT ROWID with BLOB keys
 * (memcmp order), and meta(name, value) holding the schema version.
 */
#include "data/backend.h"

#include <pthread.h>
#include <sqlite3.h>

#define SCHEMA_VERSION 1
#define POOL_MAX 16

enum { ST_GET, ST_GET_COUNTER, ST_SET, ST_DEL, ST_DEL_COUNTER, ST_ADD, ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_COUNT };

static const char *const stmt_sql[ST_COUNT] = {
	[ST_GET] = "SELECT v FROM kv WHERE k = ?1",
	[ST_GET_COUNTER] = "SELECT v FROM counters WHERE k = ?1",
	[ST_SET] = "INSERT INTO kv(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
	[ST_DEL] = "DELETE FROM kv WHERE k = ?1",
	[ST_DEL_COUNTER] = "DELETE FROM counters WHERE k = ?1",
	[ST_ADD] = "INSERT INTO counters(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = v + excluded.v RETURNING v",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

typedef struct conn {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
} conn;

typedef struct sqlite_inst {
	mr_data_inst base;
	char *path;
	int64_t timeout_ms;
	bool sync;
	pthread_mutex_t lock;
	conn *free[POOL_MAX];
	size_t nfree;
} sqlite_inst;

static sqlite_inst *downcast(mr_data_inst *i) { return mr_container_of(i, sqlite_inst, base); }

static int serr(sqlite3 *db, int src, const char *what)
{
	int ext = db ? sqlite3_extended_errcode(db) : src;
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(src);
	int code;
	switch (src & 0xFF) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED: code = MR_EUNAVAILABLE; break;
	case SQLITE_FULL: code = MR_ELIMIT; break;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY: code = MR_EIO; break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: code = MR_ECORRUPT; break;
	case SQLITE_TOOBIG: code = MR_ELIMIT; break;
	case SQLITE_NOMEM: return mr_error_oom();
	default: code = MR_ERROR;
	}
	return mr_error_set(code, "%s: %s (sqlite error %d)", what, msg, ext);
}

static void conn_free(conn *c)
{
	if (!c)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close_v2(c->db);
	mr_free(c);
}

static int exec(conn *c, const char *sql)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : serr(c->db, rc, sql);
}

static int conn_open(sqlite_inst *s, conn **out)
{
	conn *c = mr_calloc(1, sizeof(*c));
	if (!c)
		return MR_ENOMEM;
	int rc = sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = serr(c->db, rc, s->path);
		conn_free(c);
		return rc;
	}
	sqlite3_busy_timeout(c->db, (int)s->timeout_ms);
	if ((rc = exec(c, "PRAGMA journal_mode=WAL")) ||
	    (rc = exec(c, s->sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"))) {
		conn_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static int conn_prepare(conn *c)
{
	for (int i = 0; i < ST_COUNT; i++) {
		int rc = sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL);
		if (rc != SQLITE_OK)
			return serr(c->db, rc, stmt_sql[i]);
	}
	return 0;
}

static int conn_get(sqlite_inst *s, conn **out)
{
	pthread_mutex_lock(&s->lock);
	conn *c = s->nfree ? s->free[--s->nfree] : NULL;
	pthread_mutex_unlock(&s->lock);
	if (c) {
		*out = c;
		return 0;
	}
	int rc = conn_open(s, &c);
	if (!rc && (rc = conn_prepare(c))) {
		conn_free(c);
		c = NULL;
	}
	if (rc)
		return rc;
	*out = c;
	return 0;
}

static void conn_put(sqlite_inst *s, conn *c)
{
	pthread_mutex_lock(&s->lock);
	if (s->nfree < POOL_MAX) {
		s->free[s->nfree++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	conn_free(c);
}

static void sqlite_close_inst(mr_data_inst *inst)
{
	sqlite_inst *s = downcast(inst);
	for (size_t i = 0; i < s->nfree; i++)
		conn_free(s->free[i]);
	pthread_mutex_destroy(&s->lock);
	mr_free(s->path);
	mr_free(s);
}

static int create_schema(sqlite_inst *s, conn *c)
{
	int rc = exec(c, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	if ((rc = exec(c, "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
			  "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;"
			  "CREATE TABLE IF NOT EXISTS counters(k BLOB PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;"
			  "INSERT OR IGNORE INTO meta(name, value) VALUES('schema_version', 1);"))) {
		exec(c, "ROLLBACK");
		return rc;
	}
	sqlite3_stmt *st = NULL;
	int64_t version = -1;
	if (sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE name = 'schema_version'", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if ((rc = exec(c, "COMMIT")))
		return rc;
	if (version != SCHEMA_VERSION)
		return mr_error_set(MR_ENOTSUPPORTED, "%s: schema version %lld, this build reads version %d", s->path,
				    (long long)version, SCHEMA_VERSION);
	return 0;
}

static int sqlite_open_inst(mr_data_inst **out, const mr_store_config *sc)
{
	const char *path;
	int64_t timeout;
	bool sync;
	int rc;
	if ((rc = mr_store_config_string_required(sc, "path", &path)) ||
	    (rc = mr_store_config_duration_ms(sc, "timeout", 30000, &timeout)) ||
	    (rc = mr_store_config_bool(sc, "sync", true, &sync)))
		return rc;
	if (timeout > INT32_MAX)
		timeout = INT32_MAX;
	sqlite_inst *s = mr_calloc(1, sizeof(*s));
	if (!s)
		return MR_ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->timeout_ms = timeout;
	s->sync = sync;
	if (!(s->path = mr_strdup(path))) {
		sqlite_close_inst(&s->base);
		return MR_ENOMEM;
	}
	conn *c = NULL;
	if ((rc = conn_open(s, &c)) || (rc = create_schema(s, c)) || (rc = conn_prepare(c))) {
		conn_free(c);
		sqlite_close_inst(&s->base);
		return rc;
	}
	conn_put(s, c);
	*out = &s->base;
	return 0;
}

static int step_done(conn *c, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : serr(c->db, rc, what);
}

static void bind_blob(sqlite3_stmt *st, int i, mr_slice s)
{
	/* a zero-length blob must still be a blob, not NULL */
	if (s.len == 0)
		sqlite3_bind_zeroblob(st, i, 0);
	else
		sqlite3_bind_blob(st, i, s.ptr, (int)s.len, SQLITE_STATIC);
}

static int sqlite_get_value(mr_data_inst *inst, mr_slice key, mr_buf *value)
{
	sqlite_inst *s = downcast(inst);
	conn *c;
	int rc = conn_get(s, &c);
	if (rc)
		return rc;
	sqlite3_stmt *st = c->st[ST_GET];
	bind_blob(st, 1, key);
	int src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = mr_buf_set(value, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	else if (src == SQLITE_DONE)
		rc = MR_ENOTFOUND;
	else
		rc = serr(c->db, src, "get");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	conn_put(s, c);
	return rc;
}

static int sqlite_get_counter(mr_data_inst *inst, mr_slice key, int64_t *out)
{
	sqlite_inst *s = downcast(inst);
	conn *c;
	int rc = conn_get(s, &c);
	if (rc)
		return rc;
	sqlite3_stmt *st = c->st[ST_GET_COUNTER];
	bind_blob(st, 1, key);
	int src = sqlite3_step(st);
	*out = 0;
	if (src == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (src != SQLITE_DONE)
		rc = serr(c->db, src, "get counter");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	conn_put(s, c);
	return rc;
}

static int apply(conn *c, const mr_batch_op *o, int64_t *add_result)
{
	sqlite3_stmt *st;
	switch (o->kind) {
	case MR_OP_ASSERT_VALUE:
	case MR_OP_ASSERT_ABSENT: {
		st = c->st[ST_GET];
		bind_blob(st, 1, o->key);
		int src = sqlite3_step(st);
		bool holds;
		if (src == SQLITE_ROW)
			holds = o->kind == MR_OP_ASSERT_VALUE && (size_t)sqlite3_column_bytes(st, 0) == o->value.len &&
				(o->value.len == 0 || memcmp(sqlite3_column_blob(st, 0), o->value.ptr, o->value.len) == 0);
		else if (src == SQLITE_DONE)
			holds = o->kind == MR_OP_ASSERT_ABSENT;
		else {
			int rc = serr(c->db, src, "assert");
			sqlite3_reset(st);
			return rc;
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return holds ? 0 : mr_error_set(MR_ECONFLICT, "assertion on a key no longer holds");
	}
	case MR_OP_SET:
		st = c->st[ST_SET];
		bind_blob(st, 1, o->key);
		bind_blob(st, 2, o->value);
		return step_done(c, st, "set");
	case MR_OP_CLEAR: {
		bind_blob(c->st[ST_DEL], 1, o->key);
		int rc = step_done(c, c->st[ST_DEL], "clear");
		if (rc)
			return rc;
		bind_blob(c->st[ST_DEL_COUNTER], 1, o->key);
		return step_done(c, c->st[ST_DEL_COUNTER], "clear");
	}
	case MR_OP_ADD: {
		st = c->st[ST_ADD];
		bind_blob(st, 1, o->key);
		sqlite3_bind_int64(st, 2, o->delta);
		int src = sqlite3_step(st);
		if (src == SQLITE_ROW && add_result)
			*add_result = sqlite3_column_int64(st, 0);
		/* drain RETURNING so the statement completes */
		while (src == SQLITE_ROW)
			src = sqlite3_step(st);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return src == SQLITE_DONE ? 0 : serr(c->db, src, "add");
	}
	}
	return mr_error_set(MR_EINVALID, "unknown batch operation %d", (int)o->kind);
}

static int sqlite_commit(mr_data_inst *inst, const mr_batch_op *ops, size_t n, int64_t *add_result)
{
	sqlite_inst *s = downcast(inst);
	conn *c;
	int rc = conn_get(s, &c);
	if (rc)
		return rc;
	if ((rc = step_done(c, c->st[ST_BEGIN], "begin"))) {
		conn_put(s, c);
		return rc;
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = apply(c, &ops[i], add_result);
	if (!rc) {
		rc = step_done(c, c->st[ST_COMMIT], "commit");
		if (rc && sqlite3_get_autocommit(c->db) == 0)
			step_done(c, c->st[ST_ROLLBACK], "rollback");
	} else {
		int keep = rc;
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", mr_error_last()->message);
		step_done(c, c->st[ST_ROLLBACK], "rollback");
		rc = mr_error_set(keep, "%s", msg);
	}
	conn_put(s, c);
	return rc;
}

static int sqlite_scan(mr_data_inst *inst, const mr_range *range, size_t limit, mr_kvpage *page)
{
	sqlite_inst *s = downcast(inst);
	bool reverse = range->flags & MR_SCAN_REVERSE, keys_only = range->flags & MR_SCAN_KEYS_ONLY;
	const char *table = (range->flags & MR_SCAN_COUNTERS) ? "counters" : "kv";
	char sql[256];
	int off = snprintf(sql, sizeof(sql), "SELECT k, %s FROM %s WHERE 1", keys_only ? "NULL" : "v", table);
	if (range->begin.len)
		off += snprintf(sql + off, sizeof(sql) - (size_t)off, " AND k %s ?1", range->begin_exclusive ? ">" : ">=");
	if (range->end.len)
		off += snprintf(sql + off, sizeof(sql) - (size_t)off, " AND k %s ?2", range->end_inclusive ? "<=" : "<");
	snprintf(sql + off, sizeof(sql) - (size_t)off, " ORDER BY k %s LIMIT ?3", reverse ? "DESC" : "ASC");
	conn *c;
	int rc = conn_get(s, &c);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int src = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	if (src != SQLITE_OK) {
		rc = serr(c->db, src, "scan");
		conn_put(s, c);
		return rc;
	}
	if (range->begin.len)
		bind_blob(st, 1, range->begin);
	if (range->end.len)
		bind_blob(st, 2, range->end);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit + 1);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (page->count >= limit) {
			page->more = true;
			break;
		}
		mr_slice k = {sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)};
		uint8_t enc[8];
		mr_slice v = MR_SLICE_EMPTY;
		if (!keys_only) {
			if (range->flags & MR_SCAN_COUNTERS) {
				uint64_t u = (uint64_t)sqlite3_column_int64(st, 1);
				for (int i = 0; i < 8; i++)
					enc[i] = (uint8_t)(u >> (56 - 8 * i));
				v = (mr_slice){enc, 8};
			} else
				v = (mr_slice){sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1)};
		}
		if ((rc = mr_kvpage_push(page, k, v)))
			break;
	}
	if (!rc && src != SQLITE_ROW && src != SQLITE_DONE)
		rc = serr(c->db, src, "scan");
	sqlite3_finalize(st);
	conn_put(s, c);
	return rc;
}

static int sqlite_maintain(mr_data_inst *inst)
{
	sqlite_inst *s = downcast(inst);
	conn *c;
	int rc = conn_get(s, &c);
	if (rc)
		return rc;
	rc = exec(c, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;");
	conn_put(s, c);
	return rc;
}

const mr_data_backend mr_data_backend_sqlite = {
	.version = MR_DATA_BACKEND_VERSION,
	.name = "sqlite",
	.caps = MR_DATA_CAP_MULTI_PROCESS,
	.open = sqlite_open_inst,
	.close = sqlite_close_inst,
	.get = sqlite_get_value,
	.get_counter = sqlite_get_counter,
	.commit = sqlite_commit,
	.scan = sqlite_scan,
	.maintain = sqlite_maintain,
};
