/*
 * datastore.c — the in-memory store kept in the data store (types rocksdb,
 * sqlite, postgresql, mysql: the [store."<id>"] table is opened with
 * mr_data_open).  Implements src/memory/backend.h.
 *
 * Layout (through the data store's key codec): key = MR_SUBSPACE_MEMORY,
 * then the front's namespaced key raw (mr_key_tail); value = 8-byte
 * big-endian expiry (unix ms, 0 = none), 1 kind byte (0 bytes, 1 integer,
 * 2 GCRA state), payload (bytes; int64 BE; tat_ms and frac as int64 BE).
 * Every op is a compare-and-set transaction: read, compute, commit a batch
 * asserting the old raw value (or absence), retry on MR_ECONFLICT.  An
 * expired key reads as absent; its row stays until it is overwritten or
 * mr_memory_purge() removes it (the data store cannot expire by itself).
 * Keys longer than the codec allows (MR_DATA_MAX_KEY - 1 bytes after
 * namespacing) are MR_ELIMIT.
 */
#include "memory/backend.h"

#include "mailroom/data.h"

#include <errno.h>

enum { KIND_BYTES = 0, KIND_INT = 1, KIND_GCRA = 2 };
#define HDR 9

typedef struct ds {
	mr_memory_inst base;
	mr_data *d;
	bool borrowed; /* d belongs to the caller (mr_memory_open_data) */
} ds;

static ds *DS(mr_memory_inst *in) { return mr_container_of(in, ds, base); }

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}
static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The current record of a key, decoded. */
typedef struct rec {
	bool present; /* a live (unexpired) record */
	int64_t expire_at;
	int kind;
	mr_slice payload;
} rec;

/* What a step decides. */
typedef struct step_out {
	enum { W_NONE, W_SET, W_DELETE } write;
	int64_t expire_at;
	int kind;
	mr_buf payload;
	int rc; /* result code returned to the caller after a successful commit */
} step_out;

typedef void (*step_fn)(const rec *r, int64_t now, step_out *o, void *ctx);

static int txn(mr_memory_inst *in, mr_slice key, step_fn fn, void *ctx, step_out *o)
{
	ds *s = DS(in);
	mr_key k;
	mr_key_init(&k, MR_SUBSPACE_MEMORY);
	mr_key_tail(&k, key.ptr, key.len);
	if (k.err)
		return mr_error_set(MR_ELIMIT, "key of %zu bytes is too long for the data store", key.len);
	mr_slice dk = mr_key_slice(&k);
	mr_buf raw = MR_BUF_INIT, val = MR_BUF_INIT;
	mr_batch *b = NULL;
	int rc = mr_batch_new(&b, s->d);
	for (unsigned attempt = 0; rc == 0; attempt++) {
		rc = mr_data_get(s->d, dk, &raw);
		bool exists = rc == 0;
		if (rc < 0 && rc != MR_ENOTFOUND)
			break;
		int64_t now = mr_memory__now(in);
		rec r = {0};
		if (exists && raw.len >= HDR) {
			r.expire_at = (int64_t)get64(raw.ptr);
			r.kind = raw.ptr[8];
			r.payload = mr_slice_of(raw.ptr + HDR, raw.len - HDR);
			r.present = !(r.expire_at && r.expire_at <= now);
		}
		mr_buf_clear(&o->payload);
		o->write = W_NONE;
		o->rc = 0;
		fn(&r, now, o, ctx);
		if (o->write == W_NONE) {
			rc = o->rc;
			break;
		}
		mr_batch_reset(b);
		if (exists)
			mr_batch_assert_value(b, dk, mr_buf_slice(&raw));
		else
			mr_batch_assert_absent(b, dk);
		if (o->write == W_DELETE) {
			mr_batch_clear(b, dk);
		} else {
			uint8_t hdr[HDR];
			put64(hdr, (uint64_t)o->expire_at);
			hdr[8] = (uint8_t)o->kind;
			mr_buf_clear(&val);
			if ((rc = mr_buf_put(&val, hdr, HDR)) < 0 ||
			    (rc = mr_buf_put(&val, o->payload.ptr, o->payload.len)) < 0)
				break;
			mr_batch_set(b, dk, mr_buf_slice(&val));
		}
		rc = mr_batch_commit(b);
		if (rc == 0) {
			rc = o->rc;
			break;
		}
		if (rc != MR_ECONFLICT || attempt >= 200)
			break;
		mr_sleep_ms(mr_backoff_ms(attempt < 6 ? attempt : 6, 1, 50));
		rc = 0;
	}
	mr_batch_free(b);
	mr_buf_dispose(&raw);
	mr_buf_dispose(&val);
	if (o->rc < 0 && rc == o->rc && rc != MR_ENOMEM)
		mr_error_set(rc, "%s", rc == MR_ENOTFOUND ? "key not found" : rc == MR_EEXISTS ? "key exists"
				       : rc == MR_ELIMIT ? "incr overflows 64 bits" : "the key holds a value of another kind");
	return rc;
}

static int64_t deadline(int64_t now, uint64_t ttl) { return ttl ? now + (int64_t)ttl : 0; }

/* ---- get ---- */
typedef struct get_ctx {
	mr_buf *out;
} get_ctx;
static void step_get(const rec *r, int64_t now, step_out *o, void *c)
{
	(void)now;
	get_ctx *g = c;
	if (!r->present) {
		o->rc = MR_ENOTFOUND;
		return;
	}
	if (r->kind == KIND_BYTES)
		o->rc = mr_buf_set(g->out, r->payload.ptr, r->payload.len);
	else if (r->kind == KIND_INT)
		o->rc = mr_buf_printf(g->out, "%lld", (long long)get64(r->payload.ptr));
	else
		o->rc = mr_buf_printf(g->out, "%lld:%lld", (long long)get64(r->payload.ptr),
				      (long long)get64(r->payload.ptr + 8));
}
static int ds_get(mr_memory_inst *in, mr_slice key, mr_buf *value)
{
	get_ctx g = {value};
	step_out o = {0};
	int rc = txn(in, key, step_get, &g, &o);
	mr_buf_dispose(&o.payload);
	return rc;
}

/* ---- set ---- */
typedef struct set_ctx {
	mr_slice v;
	uint64_t ttl;
	unsigned flags;
} set_ctx;
static void step_set(const rec *r, int64_t now, step_out *o, void *c)
{
	set_ctx *s = c;
	if ((s->flags & MR_MEMORY_SET_NX) && r->present) {
		o->rc = MR_EEXISTS;
		return;
	}
	o->write = W_SET;
	o->kind = KIND_BYTES;
	o->expire_at = deadline(now, s->ttl);
	if (mr_buf_set(&o->payload, s->v.ptr, s->v.len) < 0) {
		o->write = W_NONE;
		o->rc = MR_ENOMEM;
	}
}
static int ds_set(mr_memory_inst *in, mr_slice key, mr_slice value, uint64_t ttl_ms, unsigned flags)
{
	set_ctx s = {value, ttl_ms, flags};
	step_out o = {0};
	int rc = txn(in, key, step_set, &s, &o);
	mr_buf_dispose(&o.payload);
	return rc;
}

/* ---- delete ---- */
static void step_del(const rec *r, int64_t now, step_out *o, void *c)
{
	(void)now, (void)c;
	o->write = r->expire_at || r->present ? W_DELETE : W_NONE; /* drop an expired row too */
	o->rc = r->present ? 0 : MR_ENOTFOUND;
}
static int ds_del(mr_memory_inst *in, mr_slice key)
{
	step_out o = {0};
	int rc = txn(in, key, step_del, NULL, &o);
	mr_buf_dispose(&o.payload);
	return rc;
}

/* ---- incr ---- */
typedef struct incr_ctx {
	int64_t delta, result;
	uint64_t ttl;
} incr_ctx;
static void step_incr(const rec *r, int64_t now, step_out *o, void *c)
{
	incr_ctx *x = c;
	int64_t cur = 0;
	if (r->present && r->kind == KIND_INT) {
		cur = (int64_t)get64(r->payload.ptr);
	} else if (r->present) {
		char tmp[24];
		char *end;
		if (r->kind != KIND_BYTES || r->payload.len == 0 || r->payload.len >= sizeof(tmp)) {
			o->rc = MR_EINVALID;
			return;
		}
		memcpy(tmp, r->payload.ptr, r->payload.len);
		tmp[r->payload.len] = 0;
		errno = 0;
		cur = strtoll(tmp, &end, 10);
		if (errno || *end) {
			o->rc = MR_EINVALID;
			return;
		}
	}
	if (__builtin_add_overflow(cur, x->delta, &x->result)) {
		o->rc = MR_ELIMIT;
		return;
	}
	uint8_t p[8];
	put64(p, (uint64_t)x->result);
	o->write = W_SET;
	o->kind = KIND_INT;
	o->expire_at = r->present ? r->expire_at : deadline(now, x->ttl);
	if (mr_buf_set(&o->payload, p, 8) < 0) {
		o->write = W_NONE;
		o->rc = MR_ENOMEM;
	}
}
static int ds_incr(mr_memory_inst *in, mr_slice key, int64_t delta, uint64_t ttl_ms, int64_t *out)
{
	incr_ctx x = {delta, 0, ttl_ms};
	step_out o = {0};
	int rc = txn(in, key, step_incr, &x, &o);
	mr_buf_dispose(&o.payload);
	*out = x.result;
	return rc;
}

/* ---- expire and cas ---- */
typedef struct cas_ctx {
	mr_slice expect;
	int action; /* 0: plain expire */
	uint64_t ttl;
} cas_ctx;
static void step_cas(const rec *r, int64_t now, step_out *o, void *c)
{
	cas_ctx *x = c;
	if (!r->present || (x->action && (r->kind != KIND_BYTES || !mr_slice_eq(r->payload, x->expect)))) {
		o->rc = MR_ENOTFOUND;
		return;
	}
	if (x->action == MR_MEMORY_CAS_DELETE) {
		o->write = W_DELETE;
		return;
	}
	o->write = W_SET;
	o->kind = r->kind;
	o->expire_at = deadline(now, x->ttl);
	if (mr_buf_set(&o->payload, r->payload.ptr, r->payload.len) < 0) {
		o->write = W_NONE;
		o->rc = MR_ENOMEM;
	}
}
static int ds_expire(mr_memory_inst *in, mr_slice key, uint64_t ttl_ms)
{
	cas_ctx x = {MR_SLICE_EMPTY, 0, ttl_ms};
	step_out o = {0};
	int rc = txn(in, key, step_cas, &x, &o);
	mr_buf_dispose(&o.payload);
	return rc;
}
static int ds_cas(mr_memory_inst *in, mr_slice key, mr_slice expect, int action, uint64_t ttl_ms)
{
	cas_ctx x = {expect, action, ttl_ms};
	step_out o = {0};
	int rc = txn(in, key, step_cas, &x, &o);
	mr_buf_dispose(&o.payload);
	if (rc == MR_ENOTFOUND)
		mr_error_set(MR_ENOTFOUND, "lock: not held by this owner (expired or taken)");
	return rc;
}

/* ---- rate ---- */
typedef struct rate_ctx {
	int64_t limit, period;
	mr_rate_result res;
} rate_ctx;
static void step_rate(const rec *r, int64_t now, step_out *o, void *c)
{
	rate_ctx *x = c;
	if (r->present && r->kind != KIND_GCRA) {
		o->rc = MR_EINVALID;
		return;
	}
	mr_gcra_state st = {0, 0};
	if (r->present) {
		st.tat_ms = (int64_t)get64(r->payload.ptr);
		st.frac = (int64_t)get64(r->payload.ptr + 8);
	}
	int64_t ttl;
	mr_gcra_step(&st, r->present, now, x->limit, x->period, &x->res, &ttl);
	if (!x->res.allowed)
		return;
	uint8_t p[16];
	put64(p, (uint64_t)st.tat_ms);
	put64(p + 8, (uint64_t)st.frac);
	o->write = W_SET;
	o->kind = KIND_GCRA;
	o->expire_at = now + ttl;
	if (mr_buf_set(&o->payload, p, 16) < 0) {
		o->write = W_NONE;
		o->rc = MR_ENOMEM;
	}
}
static int ds_rate(mr_memory_inst *in, mr_slice key, int64_t limit, uint64_t period_ms, mr_rate_result *out)
{
	rate_ctx x = {limit, (int64_t)period_ms, {0}};
	step_out o = {0};
	int rc = txn(in, key, step_rate, &x, &o);
	mr_buf_dispose(&o.payload);
	*out = x.res;
	return rc;
}

/* ---- purge: delete expired rows, each re-checked in its own CAS batch ---- */
static int ds_purge(mr_memory_inst *in, uint64_t *removed)
{
	ds *s = DS(in);
	uint8_t pfx = MR_SUBSPACE_MEMORY, end[8];
	mr_range range = mr_range_prefix(mr_slice_of(&pfx, 1), end, sizeof(end));
	mr_iter *it = NULL;
	mr_batch *b = NULL;
	int rc = mr_data_scan(s->d, &range, &it);
	if (rc == 0)
		rc = mr_batch_new(&b, s->d);
	int64_t now = mr_memory__now(in);
	mr_slice k, v;
	while (rc == 0 && (rc = mr_iter_next(it, &k, &v)) == 1) {
		rc = 0;
		if (v.len < HDR)
			continue;
		int64_t exp = (int64_t)get64(v.ptr);
		if (!exp || exp > now)
			continue;
		mr_batch_reset(b);
		mr_batch_assert_value(b, k, v);
		mr_batch_clear(b, k);
		int c = mr_batch_commit(b);
		if (c == 0)
			(*removed)++;
		else if (c != MR_ECONFLICT) /* a concurrent write revived it: skip */
			rc = c;
	}
	mr_batch_free(b);
	mr_iter_free(it);
	return rc < 0 ? rc : 0;
}

static void ds_close(mr_memory_inst *in)
{
	ds *s = DS(in);
	if (!s->borrowed)
		mr_data_close(s->d);
	mr_free(s);
}

int mr_memory__datastore_borrow(mr_memory_inst **out, mr_data *d)
{
	*out = NULL;
	ds *s = mr_calloc(1, sizeof(*s));
	if (!s)
		return MR_ENOMEM;
	s->d = d;
	s->borrowed = true;
	s->base.backend = &mr_memory_backend_datastore;
	*out = &s->base;
	return 0;
}

static int ds_open(mr_memory_inst **out, const mr_config *cfg, const mr_store_config *sc)
{
	*out = NULL;
	ds *s = mr_calloc(1, sizeof(*s));
	if (!s)
		return MR_ENOMEM;
	int rc = mr_data_open(&s->d, cfg, mr_store_config_id(sc));
	if (rc < 0) {
		mr_free(s);
		return rc;
	}
	*out = &s->base;
	return 0;
}

const mr_memory_backend mr_memory_backend_datastore = {
	.version = MR_MEMORY_BACKEND_VERSION,
	.name = "datastore",
	.caps = MR_MEMORY_CAP_CLOCK | MR_MEMORY_CAP_PURGE,
	.open = ds_open,
	.close = ds_close,
	.get = ds_get,
	.set = ds_set,
	.del = ds_del,
	.incr = ds_incr,
	.expire = ds_expire,
	.cas = ds_cas,
	.rate = ds_rate,
	.purge = ds_purge,
};
