/*
 * memory.c — the in-memory store front (include/mailroom/memory.h): builds
 * full keys (namespace, 0x00, key), checks sizes, keeps the clock, makes
 * lock tokens and the GCRA parameters, and prefixes errors with the store.
 * Backends (backend.h) store bytes with expiry times.
 */
#include "memory/backend.h"

struct mr_memory {
	const mr_memory_backend *backend;
	mr_memory_inst *inst;
	char *id;
	mr_memory_clock_fn clock;
	void *clock_payload;
};

static int64_t wall_clock(void *payload)
{
	(void)payload;
	return mr_now_unix_ms();
}

static int prefix_err(const mr_memory *m, int rc)
{
	if (rc && rc != MR_ENOTFOUND && rc != MR_EEXISTS)
		mr_error_prefix("store \"%s\" (%s)", m->id, m->backend->name);
	return rc;
}

int mr_memory_open(mr_memory **out, const mr_config *cfg, const char *store_id)
{
	*out = NULL;
	const mr_store_config *sc = mr_config_store(cfg, store_id);
	if (!sc)
		return mr_error_set(MR_ENOTFOUND, "store \"%s\" is not defined in %s", store_id, mr_config_path(cfg));
	const mr_memory_backend *b = mr_memory__backend_find(mr_store_config_type(sc));
	if (!b)
		return mr_error_prefix("store \"%s\"", store_id);
	if (b->version < 1 || b->version > MR_MEMORY_BACKEND_VERSION)
		return mr_error_set(MR_ENOTSUPPORTED, "store \"%s\": backend \"%s\" has vtable version %d", store_id, b->name,
				    b->version);
	mr_memory *m = mr_calloc(1, sizeof(*m));
	if (!m)
		return MR_ENOMEM;
	m->backend = b;
	m->clock = wall_clock;
	if (!(m->id = mr_strdup(store_id))) {
		mr_free(m);
		return MR_ENOMEM;
	}
	int rc = b->open(&m->inst, cfg, sc);
	if (rc) {
		prefix_err(m, rc);
		mr_free(m->id);
		mr_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void mr_memory_close(mr_memory *m)
{
	if (!m)
		return;
	m->backend->close(m->inst);
	mr_free(m->id);
	mr_free(m);
}

const char *mr_memory_backend_name(const mr_memory *m) { return m->backend->name; }

void mr_memory_set_clock(mr_memory *m, mr_memory_clock_fn fn, void *payload)
{
	m->clock = fn ? fn : wall_clock;
	m->clock_payload = payload;
}

typedef struct {
	uint8_t buf[MR_MEMORY_MAX_KEY];
	size_t len;
} fullkey;

static int make_key(const mr_memory *m, fullkey *k, const char *ns, mr_slice key)
{
	size_t nl = strlen(ns);
	if (nl == 0)
		return mr_error_set(MR_EINVALID, "store \"%s\": empty namespace", m->id);
	if (key.len == 0)
		return mr_error_set(MR_EINVALID, "store \"%s\": empty key in namespace \"%s\"", m->id, ns);
	if (nl + 1 + key.len > MR_MEMORY_MAX_KEY)
		return mr_error_set(MR_ELIMIT, "store \"%s\": key of %zu bytes in namespace \"%s\" exceeds %u bytes", m->id,
				    key.len, ns, MR_MEMORY_MAX_KEY);
	memcpy(k->buf, ns, nl);
	k->buf[nl] = 0;
	memcpy(k->buf + nl + 1, key.ptr, key.len);
	k->len = nl + 1 + key.len;
	return 0;
}

static int64_t expiry(const mr_memory *m, int64_t now, uint64_t ttl_ms)
{
	(void)m;
	return ttl_ms ? now + (int64_t)ttl_ms : 0;
}

#define NOW(m) ((m)->clock((m)->clock_payload))
#define KS(k) ((mr_slice){(k).buf, (k).len})

int mr_memory_get(mr_memory *m, const char *ns, mr_slice key, mr_buf *value)
{
	fullkey k;
	mr_buf_clear(value);
	int rc = make_key(m, &k, ns, key);
	if (rc)
		return rc;
	return prefix_err(m, m->backend->get(m->inst, KS(k), value, NOW(m)));
}

static int set_mode(mr_memory *m, const char *ns, mr_slice key, mr_slice value, uint64_t ttl_ms, int mode, bool *stored)
{
	fullkey k;
	int rc = make_key(m, &k, ns, key);
	if (rc)
		return rc;
	if (value.len > MR_MEMORY_MAX_VALUE)
		return mr_error_set(MR_ELIMIT, "store \"%s\": value of %zu bytes exceeds %u bytes", m->id, value.len,
				    MR_MEMORY_MAX_VALUE);
	int64_t now = NOW(m);
	bool ok = true;
	rc = m->backend->set(m->inst, KS(k), value, expiry(m, now, ttl_ms), mode, &ok, now);
	if (stored)
		*stored = ok;
	return prefix_err(m, rc);
}

int mr_memory_set(mr_memory *m, const char *ns, mr_slice key, mr_slice value, uint64_t ttl_ms)
{
	return set_mode(m, ns, key, value, ttl_ms, MR_MEM_SET_ALWAYS, NULL);
}

int mr_memory_set_if_absent(mr_memory *m, const char *ns, mr_slice key, mr_slice value, uint64_t ttl_ms, bool *stored)
{
	return set_mode(m, ns, key, value, ttl_ms, MR_MEM_SET_IF_ABSENT, stored);
}

int mr_memory_delete(mr_memory *m, const char *ns, mr_slice key, bool *deleted)
{
	fullkey k;
	bool d = false;
	int rc = make_key(m, &k, ns, key);
	if (!rc)
		rc = prefix_err(m, m->backend->del(m->inst, KS(k), NULL, &d, NOW(m)));
	if (deleted)
		*deleted = d;
	return rc;
}

int mr_memory_incr(mr_memory *m, const char *ns, mr_slice key, int64_t delta, uint64_t ttl_ms, int64_t *out)
{
	fullkey k;
	int rc = make_key(m, &k, ns, key);
	if (rc)
		return rc;
	int64_t now = NOW(m);
	return prefix_err(m, m->backend->incr(m->inst, KS(k), delta, expiry(m, now, ttl_ms), out, now));
}

int mr_memory_expire(mr_memory *m, const char *ns, mr_slice key, uint64_t ttl_ms)
{
	fullkey k;
	int rc = make_key(m, &k, ns, key);
	if (rc)
		return rc;
	int64_t now = NOW(m);
	return prefix_err(m, m->backend->expire(m->inst, KS(k), NULL, expiry(m, now, ttl_ms), now));
}

int mr_memory_lock_acquire(mr_memory *m, const char *name, uint64_t ttl_ms, mr_lock_token *token)
{
	if (ttl_ms == 0)
		return mr_error_set(MR_EINVALID, "store \"%s\": lock \"%s\": a lock needs a TTL", m->id, name);
	int rc = mr_random_bytes(token->bytes, sizeof(token->bytes));
	if (rc)
		return rc;
	bool stored = false;
	rc = set_mode(m, "lock", mr_slice_str(name), mr_slice_of(token->bytes, sizeof(token->bytes)), ttl_ms,
		      MR_MEM_SET_IF_ABSENT, &stored);
	if (rc)
		return rc;
	return stored ? 0 : MR_EEXISTS;
}

int mr_memory_lock_renew(mr_memory *m, const char *name, const mr_lock_token *token, uint64_t ttl_ms)
{
	fullkey k;
	int rc = make_key(m, &k, "lock", mr_slice_str(name));
	if (rc)
		return rc;
	mr_slice want = mr_slice_of(token->bytes, sizeof(token->bytes));
	int64_t now = NOW(m);
	rc = m->backend->expire(m->inst, KS(k), &want, expiry(m, now, ttl_ms), now);
	if (rc == MR_ENOTFOUND)
		return mr_error_set(MR_ENOTFOUND, "store \"%s\": lock \"%s\" is no longer held by this owner", m->id, name);
	return prefix_err(m, rc);
}

int mr_memory_lock_release(mr_memory *m, const char *name, const mr_lock_token *token)
{
	fullkey k;
	int rc = make_key(m, &k, "lock", mr_slice_str(name));
	if (rc)
		return rc;
	mr_slice want = mr_slice_of(token->bytes, sizeof(token->bytes));
	bool deleted = false;
	rc = m->backend->del(m->inst, KS(k), &want, &deleted, NOW(m));
	if (rc)
		return prefix_err(m, rc);
	if (!deleted)
		return mr_error_set(MR_ENOTFOUND, "store \"%s\": lock \"%s\" is no longer held by this owner", m->id, name);
	return 0;
}

int mr_memory_rate_check(mr_memory *m, const char *ns, mr_slice key, uint32_t limit, uint64_t period_ms, bool *allowed,
			 uint64_t *retry_after_ms)
{
	if (limit == 0 || period_ms == 0)
		return mr_error_set(MR_EINVALID, "store \"%s\": rate limit needs limit > 0 and period > 0", m->id);
	fullkey k;
	int rc = make_key(m, &k, ns, key);
	if (rc)
		return rc;
	/* T = period / limit rounded up, and the burst window limit * T, so that
	 * exactly `limit` pass at one instant and the sustained rate never
	 * exceeds limit per period */
	uint64_t emission = (period_ms + limit - 1) / limit;
	uint64_t retry = 0;
	rc = m->backend->gcra(m->inst, KS(k), emission, emission * limit, NOW(m), allowed, &retry);
	if (retry_after_ms)
		*retry_after_ms = retry;
	return prefix_err(m, rc);
}

int mr_memory_purge(mr_memory *m, size_t *removed)
{
	size_t r = 0;
	int rc = 0;
	if (m->backend->purge)
		rc = prefix_err(m, m->backend->purge(m->inst, NOW(m), &r));
	if (removed)
		*removed = r;
	return rc;
}
