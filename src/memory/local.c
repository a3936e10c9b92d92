/*
 * local.c — the in-process in-memory backend (type "local"; one node only).
 *
 * Keys hash (FNV-1a) to one of `shards` shards (default 64), each a chained
 * hash table under its own mutex, with its entries also on an
 * insertion-order list.  Expiry is lazy (an expired entry found by a lookup
 * is removed) plus a bounded sweep of the oldest 8 entries on every insert,
 * plus mr_memory_purge.
 *
 * Memory is bounded: each shard may hold max-memory/shards bytes (entry
 * header + key + value; default max-memory 256 MiB) and max-keys/shards
 * entries (default unlimited).  When an insert would pass the bound, the
 * shard first drops every expired entry, then evicts the oldest-inserted
 * entries until the new one fits; an entry larger than a shard's share is
 * refused with MR_ELIMIT.  The store therefore never grows past its bound.
 */
#include "memory/backend.h"

#include <errno.h>
#include <pthread.h>

typedef struct entry {
	struct entry *hnext;
	struct entry *older, *newer; /* insertion order */
	uint64_t hash;
	int64_t expires; /* 0: never */
	uint8_t *value;
	size_t vlen, vcap;
	size_t klen;
	uint8_t key[];
} entry;

typedef struct shard {
	pthread_mutex_t lock;
	entry **buckets;
	size_t nbuckets, count, bytes;
	entry *oldest, *newest;
} shard;

typedef struct local_inst {
	mr_memory_inst base;
	shard *shards;
	size_t nshards;
	size_t max_bytes, max_keys; /* per shard; max_keys 0 = unlimited */
} local_inst;

static local_inst *downcast(mr_memory_inst *i) { return mr_container_of(i, local_inst, base); }

static uint64_t fnv1a(mr_slice k)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < k.len; i++)
		h = (h ^ k.ptr[i]) * 0x100000001b3ULL;
	return h;
}

static size_t entry_cost(const entry *e) { return sizeof(*e) + e->klen + e->vcap; }

static void unlink_entry(shard *s, entry *e)
{
	entry **pp = &s->buckets[e->hash & (s->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older)
		e->older->newer = e->newer;
	else
		s->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		s->newest = e->older;
	s->count--;
	s->bytes -= entry_cost(e);
	mr_free(e->value);
	mr_free(e);
}

static bool expired(const entry *e, int64_t now) { return e->expires && e->expires <= now; }

/* Live entry for key, removing it if it expired. */
static entry *find(shard *s, mr_slice key, uint64_t h, int64_t now)
{
	for (entry *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == h && e->klen == key.len && memcmp(e->key, key.ptr, key.len) == 0) {
			if (expired(e, now)) {
				unlink_entry(s, e);
				return NULL;
			}
			return e;
		}
	return NULL;
}

static void sweep_oldest(shard *s, int64_t now, int n)
{
	entry *e = s->oldest;
	while (e && n-- > 0) {
		entry *next = e->newer;
		if (expired(e, now))
			unlink_entry(s, e);
		e = next;
	}
}

static size_t sweep_all(shard *s, int64_t now)
{
	size_t removed = 0;
	for (entry *e = s->oldest; e;) {
		entry *next = e->newer;
		if (expired(e, now)) {
			unlink_entry(s, e);
			removed++;
		}
		e = next;
	}
	return removed;
}

/* Makes room for `extra` more bytes and one more key (when new_key). */
static int make_room(local_inst *l, shard *s, size_t extra, bool new_key, int64_t now, const entry *keep)
{
	if (extra > l->max_bytes)
		return mr_error_set(MR_ELIMIT, "local store: an entry of %zu bytes exceeds a shard's share of max-memory (%zu bytes)",
				    extra, l->max_bytes);
	bool over_keys = new_key && l->max_keys && s->count + 1 > l->max_keys;
	if (s->bytes + extra <= l->max_bytes && !over_keys)
		return 0;
	sweep_all(s, now);
	while (s->bytes + extra > l->max_bytes || (new_key && l->max_keys && s->count + 1 > l->max_keys)) {
		entry *victim = s->oldest == keep ? (keep ? keep->newer : NULL) : s->oldest;
		if (!victim)
			break;
		unlink_entry(s, victim);
	}
	if (s->bytes + extra > l->max_bytes)
		return mr_error_set(MR_ELIMIT, "local store: no room for %zu bytes within max-memory", extra);
	return 0;
}

static int grow_buckets(shard *s)
{
	size_t n = s->nbuckets * 2;
	entry **nb = mr_calloc(n, sizeof(*nb));
	if (!nb)
		return MR_ENOMEM;
	for (size_t i = 0; i < s->nbuckets; i++)
		for (entry *e = s->buckets[i], *next; e; e = next) {
			next = e->hnext;
			e->hnext = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	mr_free(s->buckets);
	s->buckets = nb;
	s->nbuckets = n;
	return 0;
}

static int set_value(local_inst *l, shard *s, entry *e, mr_slice v, int64_t now)
{
	if (v.len > e->vcap || e->vcap > 2 * v.len + 64) {
		size_t cap = v.len ? v.len : 1;
		int rc = make_room(l, s, cap > e->vcap ? cap - e->vcap : 0, false, now, e);
		if (rc)
			return rc;
		uint8_t *nv = mr_realloc(e->value, cap);
		if (!nv)
			return MR_ENOMEM;
		s->bytes = s->bytes - e->vcap + cap;
		e->value = nv;
		e->vcap = cap;
	}
	if (v.len)
		memcpy(e->value, v.ptr, v.len);
	e->vlen = v.len;
	return 0;
}

static int insert(local_inst *l, shard *s, mr_slice key, uint64_t h, mr_slice v, int64_t expires, int64_t now, entry **out)
{
	sweep_oldest(s, now, 8);
	size_t cost = sizeof(entry) + key.len + (v.len ? v.len : 1);
	int rc = make_room(l, s, cost, true, now, NULL);
	if (rc)
		return rc;
	if (s->count + 1 > s->nbuckets && (rc = grow_buckets(s)))
		return rc;
	entry *e = mr_calloc(1, sizeof(*e) + key.len);
	if (!e)
		return MR_ENOMEM;
	e->value = mr_malloc(v.len ? v.len : 1);
	if (!e->value) {
		mr_free(e);
		return MR_ENOMEM;
	}
	e->vcap = v.len ? v.len : 1;
	if (v.len)
		memcpy(e->value, v.ptr, v.len);
	e->vlen = v.len;
	e->klen = key.len;
	memcpy(e->key, key.ptr, key.len);
	e->hash = h;
	e->expires = expires;
	size_t b = h & (s->nbuckets - 1);
	e->hnext = s->buckets[b];
	s->buckets[b] = e;
	e->older = s->newest;
	if (s->newest)
		s->newest->newer = e;
	else
		s->oldest = e;
	s->newest = e;
	s->count++;
	s->bytes += entry_cost(e);
	if (out)
		*out = e;
	return 0;
}

static shard *shard_of(local_inst *l, uint64_t h)
{
	return &l->shards[(h >> 32) % l->nshards];
}

static void local_close(mr_memory_inst *inst)
{
	local_inst *l = downcast(inst);
	for (size_t i = 0; i < l->nshards; i++) {
		shard *s = &l->shards[i];
		while (s->oldest)
			unlink_entry(s, s->oldest);
		mr_free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	mr_free(l->shards);
	mr_free(l);
}

static int local_open(mr_memory_inst **out, const mr_config *cfg, const mr_store_config *sc)
{
	(void)cfg;
	int64_t max_mem, max_keys, nshards;
	int rc;
	if ((rc = mr_store_config_size(sc, "max-memory", 256LL << 20, &max_mem)) ||
	    (rc = mr_store_config_int(sc, "max-keys", 0, 0, INT64_MAX, &max_keys)) ||
	    (rc = mr_store_config_int(sc, "shards", 64, 1, 4096, &nshards)))
		return rc;
	if (max_mem < 64 * 1024)
		return mr_error_set(MR_EINVALID, "%s: store.%s.max-memory: at least 64KiB", mr_store_config_where(sc, "max-memory"),
				    mr_store_config_id(sc));
	local_inst *l = mr_calloc(1, sizeof(*l));
	if (!l)
		return MR_ENOMEM;
	l->nshards = (size_t)nshards;
	l->max_bytes = (size_t)max_mem / l->nshards;
	l->max_keys = max_keys ? ((size_t)max_keys + l->nshards - 1) / l->nshards : 0;
	l->shards = mr_calloc(l->nshards, sizeof(*l->shards));
	if (!l->shards) {
		mr_free(l);
		return MR_ENOMEM;
	}
	for (size_t i = 0; i < l->nshards; i++) {
		pthread_mutex_init(&l->shards[i].lock, NULL);
		l->shards[i].nbuckets = 16;
		l->shards[i].buckets = mr_calloc(16, sizeof(entry *));
		if (!l->shards[i].buckets) {
			l->nshards = i + 1;
			local_close(&l->base);
			return MR_ENOMEM;
		}
	}
	*out = &l->base;
	return 0;
}

static int local_get(mr_memory_inst *inst, mr_slice key, mr_buf *value, int64_t now)
{
	local_inst *l = downcast(inst);
	uint64_t h = fnv1a(key);
	shard *s = shard_of(l, h);
	pthread_mutex_lock(&s->lock);
	entry *e = find(s, key, h, now);
	int rc = e ? mr_buf_set(value, e->value, e->vlen) : MR_ENOTFOUND;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int local_set(mr_memory_inst *inst, mr_slice key, mr_slice value, int64_t expires, int mode, bool *stored, int64_t now)
{
	local_inst *l = downcast(inst);
	uint64_t h = fnv1a(key);
	shard *s = shard_of(l, h);
	pthread_mutex_lock(&s->lock);
	entry *e = find(s, key, h, now);
	int rc = 0;
	*stored = true;
	if (e && mode == MR_MEM_SET_IF_ABSENT)
		*stored = false;
	else if (e) {
		rc = set_value(l, s, e, value, now);
		if (!rc)
			e->expires = expires;
	} else
		rc = insert(l, s, key, h, value, expires, now, NULL);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int local_del(mr_memory_inst *inst, mr_slice key, const mr_slice *expected, bool *deleted, int64_t now)
{
	local_inst *l = downcast(inst);
	uint64_t h = fnv1a(key);
	shard *s = shard_of(l, h);
	pthread_mutex_lock(&s->lock);
	entry *e = find(s, key, h, now);
	*deleted = false;
	if (e && (!expected || mr_slice_eq(*expected, (mr_slice){e->value, e->vlen}))) {
		unlink_entry(s, e);
		*deleted = true;
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
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

static int local_incr(mr_memory_inst *inst, mr_slice key, int64_t delta, int64_t expires, int64_t *out, int64_t now)
{
	local_inst *l = downcast(inst);
	uint64_t h = fnv1a(key);
	shard *s = shard_of(l, h);
	pthread_mutex_lock(&s->lock);
	entry *e = find(s, key, h, now);
	int64_t cur = 0;
	int rc = 0;
	if (e && parse_i64(e->value, e->vlen, &cur))
		rc = mr_error_set(MR_EINVALID, "incr: the key holds a value that is not a decimal integer");
	if (!rc && __builtin_add_overflow(cur, delta, &cur))
		rc = mr_error_set(MR_ELIMIT, "incr: counter overflows a signed 64-bit integer");
	if (!rc) {
		char num[24];
		int n = snprintf(num, sizeof(num), "%lld", (long long)cur);
		mr_slice v = mr_slice_of(num, (size_t)n);
		rc = e ? set_value(l, s, e, v, now) : insert(l, s, key, h, v, expires, now, NULL);
		if (!rc)
			*out = cur;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int local_expire(mr_memory_inst *inst, mr_slice key, const mr_slice *expected, int64_t expires, int64_t now)
{
	local_inst *l = downcast(inst);
	uint64_t h = fnv1a(key);
	shard *s = shard_of(l, h);
	pthread_mutex_lock(&s->lock);
	entry *e = find(s, key, h, now);
	int rc = MR_ENOTFOUND;
	if (e && (!expected || mr_slice_eq(*expected, (mr_slice){e->value, e->vlen}))) {
		e->expires = expires;
		rc = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int local_gcra(mr_memory_inst *inst, mr_slice key, uint64_t emission, uint64_t period, int64_t now, bool *allowed,
		      uint64_t *retry)
{
	local_inst *l = downcast(inst);
	uint64_t h = fnv1a(key);
	shard *s = shard_of(l, h);
	pthread_mutex_lock(&s->lock);
	entry *e = find(s, key, h, now);
	int64_t tat = 0, ntat;
	int rc = 0;
	if (e && parse_i64(e->value, e->vlen, &tat))
		rc = mr_error_set(MR_EINVALID, "rate check: the key holds a value that is not a rate state");
	if (!rc) {
		mr_memory__gcra_step(tat, emission, period, now, allowed, retry, &ntat);
		if (*allowed) {
			char num[24];
			int n = snprintf(num, sizeof(num), "%lld", (long long)ntat);
			mr_slice v = mr_slice_of(num, (size_t)n);
			if (e) {
				rc = set_value(l, s, e, v, now);
				e->expires = ntat;
			} else
				rc = insert(l, s, key, h, v, ntat, now, NULL);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int local_purge(mr_memory_inst *inst, int64_t now, size_t *removed)
{
	local_inst *l = downcast(inst);
	*removed = 0;
	for (size_t i = 0; i < l->nshards; i++) {
		pthread_mutex_lock(&l->shards[i].lock);
		*removed += sweep_all(&l->shards[i], now);
		pthread_mutex_unlock(&l->shards[i].lock);
	}
	return 0;
}

const mr_memory_backend mr_memory_backend_local = {
	.version = MR_MEMORY_BACKEND_VERSION,
	.name = "local",
	.caps = 0,
	.open = local_open,
	.close = local_close,
	.get = local_get,
	.set = local_set,
	.del = local_del,
	.incr = local_incr,
	.expire = local_expire,
	.gcra = local_gcra,
	.purge = local_purge,
};
