/*
 * local.c — the in-process in-memory backend (type "local"), one node only.
 * Implements src/memory/backend.h with sharded chained hash tables, one
 * mutex per shard (a key's shard is picked by its hash).
 *
 * Expiry: lazy (an expired entry is removed when touched) plus an
 * amortized sweep: every write also examines the next 4 buckets of its
 * shard and drops expired entries there, so idle expired keys are reclaimed
 * as long as the shard sees writes.  No background thread.
 *
 * Bound: `max-memory` (bytes, default 64 MiB, counting entry header, key
 * and value) and `max-keys` (default unlimited) are split evenly across the
 * shards.  Before an insert that would exceed a shard's share, entries are
 * evicted: sample 16 entries from random buckets; evict an expired one if
 * sampled, else the one with the nearest expiry among those having a TTL,
 * else the least recently used of the sample (approximate LRU).  Repeat
 * until the new entry fits; an entry larger than a shard's share is
 * MR_ELIMIT.  Memory accounted never exceeds the bound.
 */
#include "memory/backend.h"

#include <errno.h>
#include <pthread.h>

enum { KIND_BYTES = 0, KIND_INT = 1, KIND_GCRA = 2 };

typedef struct entry {
	struct entry *next;
	uint64_t hash;
	int64_t expire_at; /* unix ms; 0 = none */
	uint64_t last_use; /* shard tick */
	uint32_t klen, vlen;
	uint8_t kind;
	int64_t num, frac; /* KIND_INT: num; KIND_GCRA: tat_ms=num, frac */
	uint8_t data[];    /* key, then value (KIND_BYTES) */
} entry;

typedef struct shard {
	pthread_mutex_t mu;
	entry **buckets;
	size_t nbuckets, count, sweep;
	uint64_t used, tick, rng;
} shard;

typedef struct local {
	mr_memory_inst base;
	shard *shards;
	unsigned nshards;
	uint64_t max_mem, max_keys; /* per shard */
} local;

static uint64_t hash_key(mr_slice k)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ k.len;
	size_t i = 0;
	for (; i + 8 <= k.len; i += 8) {
		uint64_t w;
		memcpy(&w, k.ptr + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	uint64_t w = 0;
	memcpy(&w, k.ptr + i, k.len - i);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

static size_t entry_size(size_t klen, size_t vlen) { return sizeof(entry) + klen + vlen; }

static local *L(mr_memory_inst *in) { return mr_container_of(in, local, base); }

static shard *shard_of(local *l, uint64_t h) { return &l->shards[(h >> 48) % l->nshards]; }

static void unlink_entry(shard *s, entry **pp)
{
	entry *e = *pp;
	*pp = e->next;
	s->used -= entry_size(e->klen, e->vlen);
	s->count--;
	mr_free(e);
}

static bool expired(const entry *e, int64_t now) { return e->expire_at && e->expire_at <= now; }

/* Finds key; drops it if expired.  Returns the link pointing at it, or NULL. */
static entry **find(shard *s, uint64_t h, mr_slice k, int64_t now)
{
	entry **pp = &s->buckets[h & (s->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next) {
		entry *e = *pp;
		if (e->hash == h && e->klen == k.len && memcmp(e->data, k.ptr, k.len) == 0) {
			if (expired(e, now)) {
				unlink_entry(s, pp);
				return NULL;
			}
			e->last_use = ++s->tick;
			return pp;
		}
	}
	return NULL;
}

static void sweep(shard *s, int64_t now)
{
	for (int i = 0; i < 4; i++) {
		s->sweep = (s->sweep + 1) & (s->nbuckets - 1);
		entry **pp = &s->buckets[s->sweep];
		while (*pp) {
			if (expired(*pp, now))
				unlink_entry(s, pp);
			else
				pp = &(*pp)->next;
		}
	}
}

static void grow(shard *s)
{
	size_t nb = s->nbuckets * 2;
	entry **b = mr_calloc(nb, sizeof(*b)); /* failure: keep the old, longer chains */
	if (!b)
		return;
	for (size_t i = 0; i < s->nbuckets; i++) {
		for (entry *e = s->buckets[i], *next; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	mr_free(s->buckets);
	s->buckets = b;
	s->nbuckets = nb;
	s->sweep = 0;
}

static uint64_t rng_next(shard *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

/* Evicts one entry by the documented rule; false when the shard is empty. */
static bool evict_one(shard *s, int64_t now)
{
	if (s->count == 0)
		return false;
	entry **best = NULL;
	int best_rank = 3; /* 0 expired, 1 has TTL (nearest expiry), 2 LRU */
	int samples = 0;
	for (int tries = 0; samples < 16 && tries < 256; tries++) {
		size_t bi = rng_next(s) & (s->nbuckets - 1);
		for (entry **pp = &s->buckets[bi]; *pp; pp = &(*pp)->next) {
			entry *e = *pp;
			samples++;
			int rank = expired(e, now) ? 0 : e->expire_at ? 1 : 2;
			if (!best || rank < best_rank ||
			    (rank == best_rank && rank == 1 && e->expire_at < (*best)->expire_at) ||
			    (rank == best_rank && rank == 2 && e->last_use < (*best)->last_use)) {
				best = pp;
				best_rank = rank;
			}
		}
	}
	if (!best) { /* sampling found nothing (very sparse table): scan */
		for (size_t i = 0; i < s->nbuckets && !best; i++)
			if (s->buckets[i])
				best = &s->buckets[i];
	}
	unlink_entry(s, best);
	return true;
}

/* Makes room for an entry of `size` bytes (replacing `old_size` bytes, 0 if new). */
static int make_room(local *l, shard *s, size_t size, size_t old_size, bool new_key, int64_t now)
{
	if (size > l->max_mem)
		return mr_error_set(MR_ELIMIT, "an entry of %zu bytes exceeds the per-shard memory bound of %llu bytes",
				    size, (unsigned long long)l->max_mem);
	while (s->used - old_size + size > l->max_mem || (new_key && s->count + 1 > l->max_keys)) {
		if (!evict_one(s, now))
			return mr_error_set(MR_ELIMIT, "memory bound reached and nothing left to evict");
		if (old_size) /* the entry being replaced may have been evicted: caller re-looks it up */
			return 1;
	}
	return 0;
}

static entry *new_entry(uint64_t h, mr_slice k, size_t vlen)
{
	entry *e = mr_malloc(entry_size(k.len, vlen));
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->hash = h;
	e->klen = (uint32_t)k.len;
	e->vlen = (uint32_t)vlen;
	memcpy(e->data, k.ptr, k.len);
	return e;
}

static void insert(shard *s, entry *e)
{
	entry **b = &s->buckets[e->hash & (s->nbuckets - 1)];
	e->next = *b;
	*b = e;
	e->last_use = ++s->tick;
	s->count++;
	s->used += entry_size(e->klen, e->vlen);
	if (s->count > s->nbuckets)
		grow(s);
}

/* Replaces (or creates) the entry for k with a fresh one of vlen value bytes. Lock held. */
static int put_entry(local *l, shard *s, uint64_t h, mr_slice k, size_t vlen, int64_t now, entry **out)
{
	entry **pp;
	size_t size = entry_size(k.len, vlen);
	for (;;) {
		pp = find(s, h, k, now);
		size_t old = pp ? entry_size((*pp)->klen, (*pp)->vlen) : 0;
		int rc = make_room(l, s, size, old, pp == NULL, now);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
	}
	entry *e = new_entry(h, k, vlen);
	if (!e)
		return MR_ENOMEM;
	if (pp)
		unlink_entry(s, pp);
	insert(s, e);
	*out = e;
	return 0;
}

#define LOCKED(in, key)                                \
	local *l = L(in);                              \
	uint64_t h = hash_key(key);                    \
	shard *s = shard_of(l, h);                     \
	int64_t now = mr_memory__now(in);              \
	pthread_mutex_lock(&s->mu)

#define UNLOCK_RETURN(rc)                    \
	do {                                 \
		int u__rc = (rc);            \
		pthread_mutex_unlock(&s->mu); \
		return u__rc;                \
	} while (0)

static int64_t deadline(int64_t now, uint64_t ttl_ms) { return ttl_ms ? now + (int64_t)ttl_ms : 0; }

static int local_get(mr_memory_inst *in, mr_slice key, mr_buf *value)
{
	LOCKED(in, key);
	entry **pp = find(s, h, key, now);
	if (!pp)
		UNLOCK_RETURN(mr_error_set(MR_ENOTFOUND, "get: key not found"));
	entry *e = *pp;
	int rc;
	if (e->kind == KIND_BYTES)
		rc = mr_buf_set(value, e->data + e->klen, e->vlen);
	else if (e->kind == KIND_INT)
		rc = mr_buf_printf(value, "%lld", (long long)e->num);
	else
		rc = mr_buf_printf(value, "%lld:%lld", (long long)e->num, (long long)e->frac);
	UNLOCK_RETURN(rc);
}

static int local_set(mr_memory_inst *in, mr_slice key, mr_slice value, uint64_t ttl_ms, unsigned flags)
{
	LOCKED(in, key);
	sweep(s, now);
	if ((flags & MR_MEMORY_SET_NX) && find(s, h, key, now))
		UNLOCK_RETURN(mr_error_set(MR_EEXISTS, "set if absent: key exists"));
	entry *e;
	int rc = put_entry(l, s, h, key, value.len, now, &e);
	if (rc < 0)
		UNLOCK_RETURN(rc);
	e->kind = KIND_BYTES;
	if (value.len)
		memcpy(e->data + e->klen, value.ptr, value.len);
	e->expire_at = deadline(now, ttl_ms);
	UNLOCK_RETURN(0);
}

static int local_del(mr_memory_inst *in, mr_slice key)
{
	LOCKED(in, key);
	entry **pp = find(s, h, key, now);
	if (!pp)
		UNLOCK_RETURN(mr_error_set(MR_ENOTFOUND, "delete: key not found"));
	unlink_entry(s, pp);
	UNLOCK_RETURN(0);
}

static bool parse_i64(const uint8_t *p, size_t n, int64_t *out)
{
	char tmp[24];
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, p, n);
	tmp[n] = 0;
	char *end;
	errno = 0;
	long long v = strtoll(tmp, &end, 10);
	if (errno || *end || end == tmp)
		return false;
	*out = v;
	return true;
}

static int local_incr(mr_memory_inst *in, mr_slice key, int64_t delta, uint64_t ttl_ms, int64_t *out)
{
	LOCKED(in, key);
	sweep(s, now);
	entry **pp = find(s, h, key, now);
	entry *e = pp ? *pp : NULL;
	int64_t cur = 0, res;
	if (e && e->kind == KIND_INT)
		cur = e->num;
	else if (e && (e->kind != KIND_BYTES || !parse_i64(e->data + e->klen, e->vlen, &cur)))
		UNLOCK_RETURN(mr_error_set(MR_EINVALID, "incr: the key holds a value that is not an integer"));
	if (__builtin_add_overflow(cur, delta, &res))
		UNLOCK_RETURN(mr_error_set(MR_ELIMIT, "incr: %lld + %lld overflows 64 bits", (long long)cur,
					   (long long)delta));
	if (e && e->kind == KIND_INT) {
		e->num = res;
	} else {
		int64_t keep = e ? e->expire_at : deadline(now, ttl_ms);
		int rc = put_entry(l, s, h, key, 0, now, &e);
		if (rc < 0)
			UNLOCK_RETURN(rc);
		e->kind = KIND_INT;
		e->num = res;
		e->expire_at = keep;
	}
	*out = res;
	UNLOCK_RETURN(0);
}

static int local_expire(mr_memory_inst *in, mr_slice key, uint64_t ttl_ms)
{
	LOCKED(in, key);
	entry **pp = find(s, h, key, now);
	if (!pp)
		UNLOCK_RETURN(mr_error_set(MR_ENOTFOUND, "expire: key not found"));
	(*pp)->expire_at = deadline(now, ttl_ms);
	UNLOCK_RETURN(0);
}

static int local_cas(mr_memory_inst *in, mr_slice key, mr_slice expect, int action, uint64_t ttl_ms)
{
	LOCKED(in, key);
	entry **pp = find(s, h, key, now);
	if (!pp || (*pp)->kind != KIND_BYTES || (*pp)->vlen != expect.len ||
	    memcmp((*pp)->data + (*pp)->klen, expect.ptr, expect.len) != 0)
		UNLOCK_RETURN(mr_error_set(MR_ENOTFOUND, "lock: not held by this owner (expired or taken)"));
	if (action == MR_MEMORY_CAS_DELETE)
		unlink_entry(s, pp);
	else
		(*pp)->expire_at = deadline(now, ttl_ms);
	UNLOCK_RETURN(0);
}

static int local_rate(mr_memory_inst *in, mr_slice key, int64_t limit, uint64_t period_ms, mr_rate_result *out)
{
	LOCKED(in, key);
	entry **pp = find(s, h, key, now);
	entry *e = pp ? *pp : NULL;
	if (e && e->kind != KIND_GCRA)
		UNLOCK_RETURN(mr_error_set(MR_EINVALID, "rate check: the key holds a value that is not rate state"));
	mr_gcra_state st = {e ? e->num : 0, e ? e->frac : 0};
	int64_t ttl;
	mr_gcra_step(&st, e != NULL, now, limit, (int64_t)period_ms, out, &ttl);
	if (!out->allowed)
		UNLOCK_RETURN(0);
	if (!e) {
		sweep(s, now);
		int rc = put_entry(l, s, h, key, 0, now, &e);
		if (rc < 0)
			UNLOCK_RETURN(rc);
		e->kind = KIND_GCRA;
	}
	e->num = st.tat_ms;
	e->frac = st.frac;
	e->expire_at = now + ttl;
	UNLOCK_RETURN(0);
}

static void local_close(mr_memory_inst *in)
{
	local *l = L(in);
	for (unsigned i = 0; i < l->nshards; i++) {
		shard *s = &l->shards[i];
		for (size_t b = 0; b < s->nbuckets; b++)
			for (entry *e = s->buckets[b], *next; e; e = next) {
				next = e->next;
				mr_free(e);
			}
		mr_free(s->buckets);
		pthread_mutex_destroy(&s->mu);
	}
	mr_free(l->shards);
	mr_free(l);
}

int mr_memory__local_new(mr_memory_inst **out, uint64_t max_memory, uint64_t max_keys, unsigned shards)
{
	*out = NULL;
	if (shards == 0 || shards > 1024)
		return mr_error_set(MR_EINVALID, "shards: expected 1-1024, got %u", shards);
	local *l = mr_calloc(1, sizeof(*l));
	if (!l)
		return MR_ENOMEM;
	l->shards = mr_calloc(shards, sizeof(*l->shards));
	if (!l->shards) {
		mr_free(l);
		return MR_ENOMEM;
	}
	l->nshards = shards;
	l->max_mem = max_memory / shards;
	l->max_keys = max_keys ? (max_keys + shards - 1) / shards : UINT64_MAX;
	for (unsigned i = 0; i < shards; i++) {
		shard *s = &l->shards[i];
		pthread_mutex_init(&s->mu, NULL);
		s->nbuckets = 64;
		s->rng = 0x2545F4914F6CDD1Dull + i;
		s->buckets = mr_calloc(s->nbuckets, sizeof(*s->buckets));
		if (!s->buckets) {
			l->nshards = i + 1;
			local_close(&l->base);
			return MR_ENOMEM;
		}
	}
	extern const mr_memory_backend mr_memory_backend_local;
	l->base.backend = &mr_memory_backend_local;
	*out = &l->base;
	return 0;
}

uint64_t mr_memory__local_used(mr_memory_inst *in)
{
	local *l = L(in);
	uint64_t total = 0;
	for (unsigned i = 0; i < l->nshards; i++) {
		pthread_mutex_lock(&l->shards[i].mu);
		total += l->shards[i].used;
		pthread_mutex_unlock(&l->shards[i].mu);
	}
	return total;
}

static int local_open(mr_memory_inst **out, const mr_config *cfg, const mr_store_config *sc)
{
	int64_t max_mem, max_keys, shards;
	int rc = mr_store_config_size(sc, "max-memory", 64ll * 1024 * 1024, &max_mem);
	if (rc == 0)
		rc = mr_store_config_int(sc, "max-keys", 0, 0, INT64_MAX, &max_keys);
	if (rc == 0)
		rc = mr_store_config_int(sc, "shards", 16, 1, 1024, &shards);
	if (rc < 0)
		return rc;
	if (max_mem < 4096)
		return mr_error_set(MR_EINVALID, "%s: max-memory: expected at least 4096 bytes, got %lld",
				    mr_store_config_where(sc, "max-memory"), (long long)max_mem);
	return mr_memory__local_new(out, (uint64_t)max_mem, (uint64_t)max_keys, (unsigned)shards);
}

const mr_memory_backend mr_memory_backend_local = {
	.version = MR_MEMORY_BACKEND_VERSION,
	.name = "local",
	.caps = MR_MEMORY_CAP_CLOCK,
	.open = local_open,
	.close = local_close,
	.get = local_get,
	.set = local_set,
	.del = local_del,
	.incr = local_incr,
	.expire = local_expire,
	.cas = local_cas,
	.rate = local_rate,
};
