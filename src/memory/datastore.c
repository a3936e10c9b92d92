/*
 * datastore.c — the in-memory store kept in a data store (any data-store
 * type), for installs that want no extra server.  Keys live in subspace
 * MR_SUBSPACE_MEMORY (codec: subspace byte, then the front's full key as
 * the tail); a value is 8 bytes of expiry time (big-endian ms, 0 = never)
 * followed by the payload.  Read-modify-write operations (set-if-absent,
 * incr, lock renew/release, GCRA) read, then commit with an assertion that
 * the value they read is still there, retrying on conflict, so they are
 * atomic across the nodes sharing the data store.  Expired keys are
 * invisible at once and removed by mr_memory_purge.
 */
#include "memory/backend.h"
#include "mailroom/data.h"

#include <errno.h>

#define MAX_ATTEMPTS 200

typedef struct ds_inst {
	mr_memory_inst base;
	mr_data *d;
} ds_inst;

static ds_inst *downcast(mr_memory_inst *i) { return mr_container_of(i, ds_inst, base); }

static void ds_key(mr_key *k, mr_slice key)
{
	mr_key_init(k, MR_SUBSPACE_MEMORY);
	mr_key_tail(k, key.ptr, key.len);
}

static int64_t get_exp(const mr_buf *v)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | v->ptr[i];
	return (int64_t)u;
}

static int encode(mr_buf *out, int64_t expires, mr_slice payload)
{
	uint8_t e[8];
	for (int i = 0; i < 8; i++)
		e[i] = (uint8_t)((uint64_t)expires >> (56 - 8 * i));
	int rc = mr_buf_set(out, e, 8);
	return rc ? rc : mr_buf_put(out, payload.ptr, payload.len);
}

/* Reads the raw record; *live tells whether it exists and has not expired. */
static int read_rec(ds_inst *s, mr_slice k, mr_buf *raw, bool *present, bool *live, int64_t now)
{
	int rc = mr_data_get(s->d, k, raw);
	*present = *live = false;
	if (rc == MR_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (raw->len < 8)
		return mr_error_set(MR_ECORRUPT, "in-memory record of %zu bytes (expected at least 8)", raw->len);
	*present = true;
	int64_t exp = get_exp(raw);
	*live = exp == 0 || exp > now;
	return 0;
}

/* Commits `set` (or a clear when newval is NULL) if the record is still `raw`/absent. */
static int commit_if_same(ds_inst *s, mr_slice k, bool present, const mr_buf *raw, const mr_buf *newval)
{
	mr_batch *b;
	int rc = mr_batch_new(&b, s->d);
	if (rc)
		return rc;
	if (present)
		rc = mr_batch_assert_value(b, k, mr_buf_slice(raw));
	else
		rc = mr_batch_assert_absent(b, k);
	if (!rc)
		rc = newval ? mr_batch_set(b, k, mr_buf_slice(newval)) : mr_batch_clear(b, k);
	if (!rc)
		rc = mr_batch_commit(b);
	mr_batch_free(b);
	return rc;
}

static int ds_open(mr_memory_inst **out, const mr_config *cfg, const mr_store_config *sc)
{
	ds_inst *s = mr_calloc(1, sizeof(*s));
	if (!s)
		return MR_ENOMEM;
	int rc = mr_data_open(&s->d, cfg, mr_store_config_id(sc));
	if (rc) {
		mr_free(s);
		return rc;
	}
	*out = &s->base;
	return 0;
}

static void ds_close(mr_memory_inst *inst)
{
	ds_inst *s = downcast(inst);
	mr_data_close(s->d);
	mr_free(s);
}

static int ds_get(mr_memory_inst *inst, mr_slice key, mr_buf *value, int64_t now)
{
	ds_inst *s = downcast(inst);
	mr_key k;
	ds_key(&k, key);
	bool present, live;
	int rc = read_rec(s, mr_key_slice(&k), value, &present, &live, now);
	if (rc)
		return rc;
	if (!live) {
		mr_buf_clear(value);
		return MR_ENOTFOUND;
	}
	memmove(value->ptr, value->ptr + 8, value->len - 8);
	value->len -= 8;
	value->ptr[value->len] = 0;
	return 0;
}

/*
 * The shared read-modify-write loop: fn decides from the current record what
 * to write (*write = false: nothing) and fills newval (or sets *clear).
 */
typedef int (*rmw_fn)(const mr_buf *raw, bool live, mr_buf *newval, bool *write, bool *clear, void *arg);

static int rmw(ds_inst *s, mr_slice key, int64_t now, rmw_fn fn, void *arg)
{
	mr_key k;
	ds_key(&k, key);
	mr_buf raw = MR_BUF_INIT, nv = MR_BUF_INIT;
	int rc = MR_ECONFLICT;
	for (unsigned attempt = 0; attempt < MAX_ATTEMPTS && rc == MR_ECONFLICT; attempt++) {
		if (attempt)
			mr_sleep_ms(mr_backoff_ms(attempt - 1, 1, 50));
		bool present, live, write = false, clear = false;
		if ((rc = read_rec(s, mr_key_slice(&k), &raw, &present, &live, now)))
			break;
		if ((rc = fn(&raw, live, &nv, &write, &clear, arg)) || !write)
			break;
		rc = commit_if_same(s, mr_key_slice(&k), present, &raw, clear ? NULL : &nv);
	}
	mr_buf_dispose(&raw);
	mr_buf_dispose(&nv);
	return rc;
}

typedef struct {
	mr_slice value;
	int64_t expires;
	int mode;
	bool *stored;
} set_arg;

static int set_fn(const mr_buf *raw, bool live, mr_buf *nv, bool *write, bool *clear, void *p)
{
	(void)raw;
	(void)clear;
	set_arg *a = p;
	*a->stored = !(live && a->mode == MR_MEM_SET_IF_ABSENT);
	*write = *a->stored;
	return *write ? encode(nv, a->expires, a->value) : 0;
}

static int ds_set(mr_memory_inst *inst, mr_slice key, mr_slice value, int64_t expires, int mode, bool *stored, int64_t now)
{
	ds_inst *s = downcast(inst);
	if (mode == MR_MEM_SET_ALWAYS) {
		/* a blind write needs no read */
		mr_key k;
		ds_key(&k, key);
		mr_buf nv = MR_BUF_INIT;
		mr_batch *b = NULL;
		int rc = encode(&nv, expires, value);
		if (!rc)
			rc = mr_batch_new(&b, s->d);
		if (!rc)
			rc = mr_batch_set(b, mr_key_slice(&k), mr_buf_slice(&nv));
		if (!rc)
			rc = mr_batch_commit(b);
		mr_batch_free(b);
		mr_buf_dispose(&nv);
		*stored = rc == 0;
		return rc;
	}
	set_arg a = {value, expires, mode, stored};
	return rmw(s, key, now, set_fn, &a);
}

typedef struct {
	const mr_slice *expected;
	bool *done;
	int64_t expires; /* expire only */
	bool is_expire;
} match_arg;

static int match_fn(const mr_buf *raw, bool live, mr_buf *nv, bool *write, bool *clear, void *p)
{
	match_arg *a = p;
	*a->done = false;
	if (!live)
		return 0;
	mr_slice payload = {raw->ptr + 8, raw->len - 8};
	if (a->expected && !mr_slice_eq(*a->expected, payload))
		return 0;
	*write = *a->done = true;
	if (!a->is_expire) {
		*clear = true;
		return 0;
	}
	return encode(nv, a->expires, payload);
}

static int ds_del(mr_memory_inst *inst, mr_slice key, const mr_slice *expected, bool *deleted, int64_t now)
{
	match_arg a = {expected, deleted, 0, false};
	return rmw(downcast(inst), key, now, match_fn, &a);
}

static int ds_expire(mr_memory_inst *inst, mr_slice key, const mr_slice *expected, int64_t expires, int64_t now)
{
	bool done = false;
	match_arg a = {expected, &done, expires, true};
	int rc = rmw(downcast(inst), key, now, match_fn, &a);
	return rc ? rc : done ? 0 : MR_ENOTFOUND;
}

static int parse_i64(const uint8_t *p, size_t n, int64_t *out)
{
	char buf[32];
	if (n == 0 || n >= sizeof(buf))
		return MR_EINVALID;
	memcpy(buf, p, n);
	buf[n] = 0;
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (*end || errno)
		return MR_EINVALID;
	*out = v;
	return 0;
}

typedef struct {
	int64_t delta, expires, result;
} incr_arg;

static int incr_fn(const mr_buf *raw, bool live, mr_buf *nv, bool *write, bool *clear, void *p)
{
	(void)clear;
	incr_arg *a = p;
	int64_t cur = 0, exp = a->expires;
	if (live) {
		if (parse_i64(raw->ptr + 8, raw->len - 8, &cur))
			return mr_error_set(MR_EINVALID, "incr: the key holds a value that is not a decimal integer");
		exp = get_exp(raw);
	}
	if (__builtin_add_overflow(cur, a->delta, &cur))
		return mr_error_set(MR_ELIMIT, "incr: counter overflows a signed 64-bit integer");
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", (long long)cur);
	a->result = cur;
	*write = true;
	return encode(nv, exp, mr_slice_of(num, (size_t)n));
}

static int ds_incr(mr_memory_inst *inst, mr_slice key, int64_t delta, int64_t expires, int64_t *out, int64_t now)
{
	incr_arg a = {delta, expires, 0};
	int rc = rmw(downcast(inst), key, now, incr_fn, &a);
	if (!rc)
		*out = a.result;
	return rc;
}

typedef struct {
	uint64_t emission, period;
	int64_t now;
	bool *allowed;
	uint64_t *retry;
} gcra_arg;

static int gcra_fn(const mr_buf *raw, bool live, mr_buf *nv, bool *write, bool *clear, void *p)
{
	(void)clear;
	gcra_arg *a = p;
	int64_t tat = 0, ntat;
	if (live && parse_i64(raw->ptr + 8, raw->len - 8, &tat))
		return mr_error_set(MR_EINVALID, "rate check: the key holds a value that is not a rate state");
	mr_memory__gcra_step(tat, a->emission, a->period, a->now, a->allowed, a->retry, &ntat);
	if (!*a->allowed)
		return 0;
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", (long long)ntat);
	*write = true;
	return encode(nv, ntat, mr_slice_of(num, (size_t)n));
}

static int ds_gcra(mr_memory_inst *inst, mr_slice key, uint64_t emission, uint64_t period, int64_t now, bool *allowed,
		   uint64_t *retry)
{
	gcra_arg a = {emission, period, now, allowed, retry};
	return rmw(downcast(inst), key, now, gcra_fn, &a);
}

static int ds_purge(mr_memory_inst *inst, int64_t now, size_t *removed)
{
	ds_inst *s = downcast(inst);
	uint8_t sub = MR_SUBSPACE_MEMORY, end = MR_SUBSPACE_MEMORY + 1;
	mr_range r = {.begin = mr_slice_of(&sub, 1), .end = mr_slice_of(&end, 1)};
	mr_iter *it;
	*removed = 0;
	int rc = mr_data_scan(s->d, &r, &it);
	if (rc)
		return rc;
	mr_slice k, v;
	while ((rc = mr_iter_next(it, &k, &v)) == 1) {
		if (v.len < 8)
			continue;
		uint64_t u = 0;
		for (int i = 0; i < 8; i++)
			u = u << 8 | v.ptr[i];
		int64_t exp = (int64_t)u;
		if (!exp || exp > now)
			continue;
		/* delete only if unchanged since read: a concurrent set wins */
		mr_batch *b;
		if ((rc = mr_batch_new(&b, s->d)))
			break;
		mr_batch_assert_value(b, k, v);
		mr_batch_clear(b, k);
		rc = mr_batch_commit(b);
		mr_batch_free(b);
		if (rc == 0)
			(*removed)++;
		else if (rc != MR_ECONFLICT)
			break;
		rc = 0;
	}
	mr_iter_free(it);
	return rc < 0 ? rc : 0;
}

const mr_memory_backend mr_memory_backend_datastore = {
	.version = MR_MEMORY_BACKEND_VERSION,
	.name = "datastore",
	.caps = 0,
	.open = ds_open,
	.close = ds_close,
	.get = ds_get,
	.set = ds_set,
	.del = ds_del,
	.incr = ds_incr,
	.expire = ds_expire,
	.gcra = ds_gcra,
	.purge = ds_purge,
};
