/*
 * memory.c — the in-memory store front (include/mailroom/memory.h).
 * Owns what must be identical on every backend: argument checks, key
 * namespaces (the stored key layout), lock owner tokens, the error prefix
 * `store "<id>" (<type>): `, and the one-by-one fallback for pipelines.
 * Backends (local.c, redis.c, datastore.c) only store bytes atomically.
 */
#include "memory/backend.h"

#include "mailroom/data.h"

struct mr_memory_ns {
	mr_memory *m;
	char *name; /* NULL for the root namespace */
	size_t nlen;
};

struct mr_memory {
	mr_memory_inst *in;
	char *id;
	char type[32]; /* the configured type (e.g. "rocksdb" for the datastore backend) */
	mr_memory_ns root;
};

struct mr_memory_pipe {
	mr_memory_ns *ns;
	mr_memory_op *ops;
	mr_buf *keys; /* owned copies of each op's key and value */
	mr_memory_pipe_res *res;
	size_t n, cap, inited; /* ops[0..inited) hold buffers kept across resets */
	bool done;
};

#define KEYBUF_MAX (64 + 1 + MR_MEMORY_MAX_KEY)

static int fail(const mr_memory *m, int rc)
{
	return mr_error_prefix("store \"%s\" (%s)", m->id, m->type), rc;
}

/* Returns a backend op's result, prefixing any error with the store. */
#define CALL(m, expr)                                              \
	do {                                                       \
		int call__rc = (expr);                             \
		return call__rc < 0 ? fail(m, call__rc) : call__rc; \
	} while (0)

/* The stored key: root keys are 0x00 <key>; namespaced keys are <name> 0x00 <key>,
 * and a name never holds 0x00 or starts the key with it, so spaces never collide. */
static int build_key(const mr_memory_ns *ns, mr_slice key, uint8_t *buf, mr_slice *out)
{
	if (!key.ptr && key.len)
		return mr_error_set(MR_EINVALID, "key: NULL pointer with length %zu", key.len);
	if (key.len == 0)
		return mr_error_set(MR_EINVALID, "key: empty");
	if (key.len > MR_MEMORY_MAX_KEY)
		return mr_error_set(MR_ELIMIT, "key: %zu bytes, the maximum is %u", key.len, MR_MEMORY_MAX_KEY);
	size_t off = 0;
	if (ns->name) {
		memcpy(buf, ns->name, ns->nlen);
		off = ns->nlen;
	}
	buf[off++] = 0;
	memcpy(buf + off, key.ptr, key.len);
	*out = mr_slice_of(buf, off + key.len);
	return 0;
}

static int check_value(mr_slice v)
{
	if (!v.ptr && v.len)
		return mr_error_set(MR_EINVALID, "value: NULL pointer with length %zu", v.len);
	if (v.len > MR_MEMORY_MAX_VALUE)
		return mr_error_set(MR_ELIMIT, "value: %zu bytes, the maximum is %u", v.len, MR_MEMORY_MAX_VALUE);
	return 0;
}

static int check_rate(int64_t limit, uint64_t period_ms)
{
	if (limit < 1 || limit > MR_MEMORY_MAX_RATE_LIMIT)
		return mr_error_set(MR_EINVALID, "rate limit: expected 1-%d, got %lld", MR_MEMORY_MAX_RATE_LIMIT,
				    (long long)limit);
	if (period_ms == 0 || period_ms > (uint64_t)INT64_MAX / 4)
		return mr_error_set(MR_EINVALID, "rate period: expected > 0 ms, got %llu", (unsigned long long)period_ms);
	return 0;
}

int mr_memory__wrap(mr_memory **out, mr_memory_inst *in, const char *store_id)
{
	*out = NULL;
	mr_memory *m = mr_calloc(1, sizeof(*m));
	if (!m)
		return MR_ENOMEM;
	m->id = mr_strdup(store_id);
	if (!m->id) {
		mr_free(m);
		return MR_ENOMEM;
	}
	m->in = in;
	snprintf(m->type, sizeof(m->type), "%s", in->backend->name);
	m->root.m = m;
	*out = m;
	return 0;
}

int mr_memory_open(mr_memory **out, const mr_config *cfg, const char *store_id)
{
	*out = NULL;
	if (!cfg || !store_id)
		return mr_error_set(MR_EINVALID, "mr_memory_open: NULL configuration or store id");
	const mr_store_config *sc = mr_config_store(cfg, store_id);
	if (!sc)
		return mr_error_set(MR_ENOTFOUND, "store \"%s\": no [store.\"%s\"] table in %s", store_id, store_id,
				    mr_config_path(cfg));
	const char *type = mr_store_config_type(sc);
	const mr_memory_backend *be = mr_memory__backend_find(type ? type : "");
	if (!be)
		return mr_error_prefix("store \"%s\"", store_id);
	if (be->version < 1 || be->version > MR_MEMORY_BACKEND_VERSION)
		return mr_error_set(MR_ENOTSUPPORTED, "store \"%s\": backend \"%s\" has vtable version %d (supported 1-%d)",
				    store_id, be->name, be->version, MR_MEMORY_BACKEND_VERSION);
	mr_memory_inst *in = NULL;
	int rc = be->open(&in, cfg, sc);
	if (rc < 0)
		return mr_error_prefix("store \"%s\" (%s)", store_id, type), rc;
	in->backend = be;
	rc = mr_memory__wrap(out, in, store_id);
	if (rc < 0)
		be->close(in);
	else
		snprintf((*out)->type, sizeof((*out)->type), "%s", type);
	return rc;
}

int mr_memory_open_data(mr_memory **out, mr_data *d)
{
	*out = NULL;
	if (!d)
		return mr_error_set(MR_EINVALID, "mr_memory_open_data: NULL data store");
	mr_memory_inst *in = NULL;
	int rc = mr_memory__datastore_borrow(&in, d);
	if (rc < 0)
		return rc;
	rc = mr_memory__wrap(out, in, mr_data_store_id(d));
	if (rc < 0)
		in->backend->close(in);
	else
		snprintf((*out)->type, sizeof((*out)->type), "%s", mr_data_backend_name(d));
	return rc;
}

void mr_memory_close(mr_memory *m)
{
	if (!m)
		return;
	m->in->backend->close(m->in);
	mr_free(m->id);
	mr_free(m);
}

const char *mr_memory_backend_name(const mr_memory *m) { return m->in->backend->name; }
const char *mr_memory_store_id(const mr_memory *m) { return m->id; }
uint32_t mr_memory_caps(const mr_memory *m) { return m->in->backend->caps; }

int mr_memory_set_clock(mr_memory *m, mr_memory_clock_fn fn, void *payload)
{
	if (!(m->in->backend->caps & MR_MEMORY_CAP_CLOCK))
		return fail(m, mr_error_set(MR_ENOTSUPPORTED, "an injected clock is not supported (the server's clock is used)"));
	m->in->clock = fn;
	m->in->clock_payload = payload;
	return 0;
}

int mr_memory_ns_new(mr_memory_ns **out, mr_memory *m, const char *name)
{
	*out = NULL;
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 64)
		return fail(m, mr_error_set(MR_EINVALID, "namespace name: expected 1-64 bytes, got %zu", n));
	mr_memory_ns *ns = mr_calloc(1, sizeof(*ns));
	if (!ns)
		return MR_ENOMEM;
	ns->name = mr_strdup(name);
	if (!ns->name) {
		mr_free(ns);
		return MR_ENOMEM;
	}
	ns->nlen = n;
	ns->m = m;
	*out = ns;
	return 0;
}

void mr_memory_ns_free(mr_memory_ns *ns)
{
	if (!ns || !ns->name)
		return;
	mr_free(ns->name);
	mr_free(ns);
}

mr_memory_ns *mr_memory_root(mr_memory *m) { return &m->root; }

#define PREP(ns, key)                                                                                        \
	uint8_t kb__[KEYBUF_MAX];                                                                            \
	mr_slice k;                                                                                          \
	do {                                                                                                 \
		int prep__rc = build_key(ns, key, kb__, &k);                                                  \
		if (prep__rc < 0)                                                                            \
			return fail(ns->m, prep__rc);                                                       \
	} while (0)

int mr_memory_get(mr_memory_ns *ns, mr_slice key, mr_buf *value)
{
	PREP(ns, key);
	mr_buf_clear(value);
	CALL(ns->m, ns->m->in->backend->get(ns->m->in, k, value));
}

static int do_set(mr_memory_ns *ns, mr_slice key, mr_slice value, uint64_t ttl_ms, unsigned flags)
{
	PREP(ns, key);
	int rc = check_value(value);
	if (rc < 0)
		return fail(ns->m, rc);
	CALL(ns->m, ns->m->in->backend->set(ns->m->in, k, value, ttl_ms, flags));
}

int mr_memory_set(mr_memory_ns *ns, mr_slice key, mr_slice value, uint64_t ttl_ms)
{
	return do_set(ns, key, value, ttl_ms, 0);
}

int mr_memory_set_if_absent(mr_memory_ns *ns, mr_slice key, mr_slice value, uint64_t ttl_ms)
{
	return do_set(ns, key, value, ttl_ms, MR_MEMORY_SET_NX);
}

int mr_memory_delete(mr_memory_ns *ns, mr_slice key)
{
	PREP(ns, key);
	CALL(ns->m, ns->m->in->backend->del(ns->m->in, k));
}

int mr_memory_incr(mr_memory_ns *ns, mr_slice key, int64_t delta, uint64_t ttl_ms, int64_t *out)
{
	PREP(ns, key);
	int64_t v = 0;
	int rc = ns->m->in->backend->incr(ns->m->in, k, delta, ttl_ms, &v);
	if (rc < 0)
		return fail(ns->m, rc);
	if (out)
		*out = v;
	return 0;
}

int mr_memory_expire(mr_memory_ns *ns, mr_slice key, uint64_t ttl_ms)
{
	PREP(ns, key);
	CALL(ns->m, ns->m->in->backend->expire(ns->m->in, k, ttl_ms));
}

int mr_memory_lock_acquire(mr_memory_ns *ns, mr_slice key, uint64_t ttl_ms, uint8_t token_out[MR_MEMORY_TOKEN_LEN])
{
	if (ttl_ms == 0)
		return fail(ns->m, mr_error_set(MR_EINVALID, "lock: a TTL is required (got 0)"));
	int rc = mr_random_bytes(token_out, MR_MEMORY_TOKEN_LEN);
	if (rc < 0)
		return fail(ns->m, rc);
	PREP(ns, key);
	CALL(ns->m, ns->m->in->backend->set(ns->m->in, k, mr_slice_of(token_out, MR_MEMORY_TOKEN_LEN), ttl_ms,
					    MR_MEMORY_SET_NX));
}

int mr_memory_lock_renew(mr_memory_ns *ns, mr_slice key, const uint8_t token[MR_MEMORY_TOKEN_LEN], uint64_t ttl_ms)
{
	if (ttl_ms == 0)
		return fail(ns->m, mr_error_set(MR_EINVALID, "lock renew: a TTL is required (got 0)"));
	PREP(ns, key);
	CALL(ns->m, ns->m->in->backend->cas(ns->m->in, k, mr_slice_of(token, MR_MEMORY_TOKEN_LEN),
					    MR_MEMORY_CAS_EXPIRE, ttl_ms));
}

int mr_memory_lock_release(mr_memory_ns *ns, mr_slice key, const uint8_t token[MR_MEMORY_TOKEN_LEN])
{
	PREP(ns, key);
	CALL(ns->m, ns->m->in->backend->cas(ns->m->in, k, mr_slice_of(token, MR_MEMORY_TOKEN_LEN),
					    MR_MEMORY_CAS_DELETE, 0));
}

int mr_memory_rate_check(mr_memory_ns *ns, mr_slice key, int64_t limit, uint64_t period_ms, mr_rate_result *out)
{
	int rc = check_rate(limit, period_ms);
	if (rc < 0)
		return fail(ns->m, rc);
	PREP(ns, key);
	rc = ns->m->in->backend->rate(ns->m->in, k, limit, period_ms, out);
	return rc < 0 ? fail(ns->m, rc) : 0;
}

int mr_memory_purge(mr_memory *m, uint64_t *removed)
{
	uint64_t dummy = 0;
	if (!removed)
		removed = &dummy;
	*removed = 0;
	if (!m->in->backend->purge)
		return 0;
	int rc = m->in->backend->purge(m->in, removed);
	return rc < 0 ? fail(m, rc) : 0;
}

/* ---- pipelines ---- */

int mr_memory_pipe_new(mr_memory_pipe **out, mr_memory_ns *ns)
{
	*out = mr_calloc(1, sizeof(**out));
	if (!*out)
		return MR_ENOMEM;
	(*out)->ns = ns;
	return 0;
}

/* Keeps each op's buffers for reuse: a reused pipeline allocates nothing. */
void mr_memory_pipe_reset(mr_memory_pipe *p)
{
	p->n = 0;
	p->done = false;
}

void mr_memory_pipe_free(mr_memory_pipe *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->inited; i++) {
		mr_buf_dispose(&p->ops[i].out);
		mr_buf_dispose(&p->keys[i]);
	}
	mr_free(p->ops);
	mr_free(p->keys);
	mr_free(p->res);
	mr_free(p);
}

static int pipe_add(mr_memory_pipe *p, int kind, mr_slice key, mr_slice value)
{
	uint8_t kb[KEYBUF_MAX];
	mr_slice k;
	int rc = build_key(p->ns, key, kb, &k);
	if (rc == 0)
		rc = check_value(value);
	if (rc < 0)
		return fail(p->ns->m, rc);
	if (p->done)
		mr_memory_pipe_reset(p);
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 16;
		mr_memory_op *o = mr_realloc(p->ops, nc * sizeof(*o));
		if (!o)
			return MR_ENOMEM;
		p->ops = o;
		mr_buf *b = mr_realloc(p->keys, nc * sizeof(*b));
		if (!b)
			return MR_ENOMEM;
		p->keys = b;
		mr_memory_pipe_res *r = mr_realloc(p->res, nc * sizeof(*r));
		if (!r)
			return MR_ENOMEM;
		p->res = r;
		p->cap = nc;
	}
	mr_buf *store = &p->keys[p->n];
	mr_memory_op *op = &p->ops[p->n];
	if (p->n == p->inited) {
		*store = MR_BUF_INIT;
		op->out = MR_BUF_INIT;
		p->inited++;
	}
	mr_buf_clear(store);
	if (mr_buf_put(store, k.ptr, k.len) < 0 || mr_buf_put(store, value.ptr, value.len) < 0)
		return MR_ENOMEM;
	mr_buf out = op->out;
	mr_buf_clear(&out);
	memset(op, 0, sizeof(*op));
	op->out = out;
	op->kind = kind;
	op->key = mr_slice_of(store->ptr, k.len);
	op->value = mr_slice_of(store->ptr + k.len, value.len);
	return (int)p->n++;
}

int mr_memory_pipe_get(mr_memory_pipe *p, mr_slice key) { return pipe_add(p, MR_MEMORY_OP_GET, key, MR_SLICE_EMPTY); }

int mr_memory_pipe_set(mr_memory_pipe *p, mr_slice key, mr_slice value, uint64_t ttl_ms)
{
	int i = pipe_add(p, MR_MEMORY_OP_SET, key, value);
	if (i >= 0)
		p->ops[i].ttl_ms = ttl_ms;
	return i;
}

int mr_memory_pipe_delete(mr_memory_pipe *p, mr_slice key)
{
	return pipe_add(p, MR_MEMORY_OP_DELETE, key, MR_SLICE_EMPTY);
}

int mr_memory_pipe_incr(mr_memory_pipe *p, mr_slice key, int64_t delta, uint64_t ttl_ms)
{
	int i = pipe_add(p, MR_MEMORY_OP_INCR, key, MR_SLICE_EMPTY);
	if (i >= 0) {
		p->ops[i].delta = delta;
		p->ops[i].ttl_ms = ttl_ms;
	}
	return i;
}

int mr_memory_pipe_rate_check(mr_memory_pipe *p, mr_slice key, int64_t limit, uint64_t period_ms)
{
	int rc = check_rate(limit, period_ms);
	if (rc < 0)
		return fail(p->ns->m, rc);
	int i = pipe_add(p, MR_MEMORY_OP_RATE, key, MR_SLICE_EMPTY);
	if (i >= 0) {
		p->ops[i].limit = limit;
		p->ops[i].period_ms = period_ms;
	}
	return i;
}

/* Runs one op through the single-op entry points (the fallback, and what exec means). */
static void run_one(mr_memory_inst *in, mr_memory_op *op)
{
	const mr_memory_backend *be = in->backend;
	switch (op->kind) {
	case MR_MEMORY_OP_GET:
		op->rc = be->get(in, op->key, &op->out);
		break;
	case MR_MEMORY_OP_SET:
		op->rc = be->set(in, op->key, op->value, op->ttl_ms, 0);
		break;
	case MR_MEMORY_OP_DELETE:
		op->rc = be->del(in, op->key);
		break;
	case MR_MEMORY_OP_INCR:
		op->rc = be->incr(in, op->key, op->delta, op->ttl_ms, &op->number);
		break;
	case MR_MEMORY_OP_RATE:
		op->rc = be->rate(in, op->key, op->limit, op->period_ms, &op->rate);
		break;
	default:
		op->rc = MR_EINVALID;
	}
}

int mr_memory_pipe_exec(mr_memory_pipe *p)
{
	mr_memory_inst *in = p->ns->m->in;
	for (size_t i = 0; i < p->n; i++) {
		mr_buf_clear(&p->ops[i].out);
		p->ops[i].rc = 0;
	}
	if (in->backend->exec) {
		int rc = in->backend->exec(in, p->ops, p->n);
		if (rc < 0)
			return fail(p->ns->m, rc);
	} else {
		for (size_t i = 0; i < p->n; i++)
			run_one(in, &p->ops[i]);
	}
	for (size_t i = 0; i < p->n; i++) {
		mr_memory_op *op = &p->ops[i];
		p->res[i] = (mr_memory_pipe_res){
			.rc = op->rc, .value = mr_buf_slice(&op->out), .number = op->number, .rate = op->rate};
	}
	p->done = true;
	return 0;
}

const mr_memory_pipe_res *mr_memory_pipe_result(const mr_memory_pipe *p, size_t i)
{
	return p->done && i < p->n ? &p->res[i] : NULL;
}

size_t mr_memory_pipe_count(const mr_memory_pipe *p) { return p->n; }
