/*
 * rocksdb.c — the embedded default data-store backend, over RocksDB's C API.
 *
 * Values live in the default column family, counters (8-byte big-endian)
 * in "counters".  A batch of only sets and clears is one atomic WriteBatch
 * on the base database (no transaction overhead).  A batch with assertions
 * or counter adds is checked and written under an in-process writer lock
 * (commit_checked: assertions and counter reads see the database and the
 * batch's earlier writes, tracked for the keys read only; MR_ECONFLICT when
 * an assertion does not hold).
 * The database is opened as a plain DB: earlier builds opened it as an
 * OptimisticTransactionDB, which stores nothing of its own in the directory
 * (the same files open either way) but allocates 2^20 lock buckets on every
 * open (~150 ms of a CLI search) for transactions this backend never runs.
 * Every commit syncs the WAL unless `sync = false`.
 * One process only (RocksDB holds a lock on the directory).
 */
#include "data/backend.h"

#include <pthread.h>
#include <rocksdb/c.h>

#define SCHEMA_VERSION 1

typedef struct rocksdb_inst {
	mr_data_inst base;
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_column_family_handle_t *cf[2]; /* default, counters */
	rocksdb_writeoptions_t *wopts;
	rocksdb_writeoptions_t *wopts_lazy; /* MR_DURABLE_LAZY: WAL, no sync */
	rocksdb_writeoptions_t *wopts_none; /* MR_DURABLE_NONE: no WAL */
	rocksdb_readoptions_t *ropts;
	rocksdb_cache_t *cache;
	rocksdb_block_based_table_options_t *bbto;
	char *path;
	bool readonly;
	pthread_rwlock_t commit_lock; /* shared: plain batches; exclusive: checked batches */
} rocksdb_inst;

static rocksdb_inst *downcast(mr_data_inst *i) { return mr_container_of(i, rocksdb_inst, base); }

static bool is_busy(const char *err)
{
	return strstr(err, "Resource busy") || strstr(err, "Operation timed out") || strstr(err, "Try again");
}

static int rerr(const char *what, char *err)
{
	int code = is_busy(err) ? MR_ECONFLICT : strstr(err, "IO error") ? MR_EIO : strstr(err, "Corruption") ? MR_ECORRUPT : MR_ERROR;
	mr_error_set(code, "%s: %s", what, err);
	rocksdb_free(err);
	return code;
}

static void rocksdb_close_inst(mr_data_inst *inst)
{
	rocksdb_inst *r = downcast(inst);
	if (r->db && !r->readonly) {
		/* Leave nothing only in the WAL: a read-only open (mailroom search)
		 * replays the whole WAL into memory on every open (an import's
		 * ~6 MB WAL made each CLI search of the sample take seconds).
		 * Nothing to do, and no file written, when the memtables are empty. */
		rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
		rocksdb_flushoptions_set_wait(fo, 1);
		for (int i = 0; i < 2; i++) {
			char *err = NULL;
			if (r->cf[i])
				rocksdb_flush_cf(r->db, fo, r->cf[i], &err);
			if (err) {
				mr_log(MR_LOG_WARN, "rocksdb %s: flush on close: %s", r->path, err);
				rocksdb_free(err);
			}
		}
		rocksdb_flushoptions_destroy(fo);
	}
	for (int i = 0; i < 2; i++)
		if (r->cf[i])
			rocksdb_column_family_handle_destroy(r->cf[i]);
	if (r->db)
		rocksdb_close(r->db);
	if (r->wopts)
		rocksdb_writeoptions_destroy(r->wopts);
	if (r->wopts_lazy)
		rocksdb_writeoptions_destroy(r->wopts_lazy);
	if (r->wopts_none)
		rocksdb_writeoptions_destroy(r->wopts_none);
	if (r->ropts)
		rocksdb_readoptions_destroy(r->ropts);
	if (r->opts)
		rocksdb_options_destroy(r->opts);
	if (r->bbto)
		rocksdb_block_based_options_destroy(r->bbto);
	if (r->cache)
		rocksdb_cache_destroy(r->cache);
	mr_free(r->path);
	pthread_rwlock_destroy(&r->commit_lock);
	mr_free(r);
}

static int check_schema(rocksdb_inst *r, bool readonly)
{
	static const char key[] = "\x02schema-version";
	char *err = NULL;
	size_t len = 0;
	char *v = rocksdb_get(r->db, r->ropts, key, sizeof(key) - 1, &len, &err);
	if (err)
		return rerr("read schema version", err);
	if (!v && readonly)
		return 0; /* never written: an empty store */
	if (!v) {
		char ver[4] = {0, 0, 0, SCHEMA_VERSION};
		rocksdb_put(r->db, r->wopts, key, sizeof(key) - 1, ver, 4, &err);
		return err ? rerr("write schema version", err) : 0;
	}
	int version = len == 4 ? ((unsigned char)v[2] << 8 | (unsigned char)v[3]) : -1;
	rocksdb_free(v);
	if (version != SCHEMA_VERSION)
		return mr_error_set(MR_ENOTSUPPORTED, "%s: schema version %d, this build reads version %d", r->path, version,
				    SCHEMA_VERSION);
	return 0;
}

static int open_inst(mr_data_inst **out, const mr_store_config *sc, bool readonly)
{
	const char *path;
	int64_t cache_size, wbuf;
	bool sync;
	int rc;
	if ((rc = mr_store_config_string_required(sc, "path", &path)) ||
	    (rc = mr_store_config_size(sc, "cache-size", 64LL << 20, &cache_size)) ||
	    (rc = mr_store_config_size(sc, "write-buffer-size", 64LL << 20, &wbuf)) ||
	    (rc = mr_store_config_bool(sc, "sync", true, &sync)))
		return rc;
	rocksdb_inst *r = mr_calloc(1, sizeof(*r));
	if (!r)
		return MR_ENOMEM;
	pthread_rwlock_init(&r->commit_lock, NULL);
	r->base.backend = NULL;
	if (!(r->path = mr_strdup(path))) {
		mr_free(r);
		return MR_ENOMEM;
	}
	r->readonly = readonly;
	r->opts = rocksdb_options_create();
	if (!readonly) {
		rocksdb_options_set_create_if_missing(r->opts, 1);
		rocksdb_options_set_create_missing_column_families(r->opts, 1);
		/* starts the background flush and compaction threads */
		rocksdb_options_increase_parallelism(r->opts, 2);
	} else {
		/* A reader opens its table files on the calling thread: the default
		 * starts up to 16 threads per column family for it (~30 thread
		 * creations for a one-shot CLI search of a small store), and skips
		 * reading table properties for compaction statistics it never uses. */
		rocksdb_options_set_max_file_opening_threads(r->opts, 1);
		rocksdb_options_set_skip_stats_update_on_db_open(r->opts, 1);
		/* open table files when a read first needs them, not all at open */
		rocksdb_options_set_max_open_files(r->opts, 1000);
	}
	rocksdb_options_set_write_buffer_size(r->opts, (size_t)wbuf);
	r->bbto = rocksdb_block_based_options_create();
	r->cache = rocksdb_cache_create_lru((size_t)cache_size);
	rocksdb_block_based_options_set_block_cache(r->bbto, r->cache);
	/* Whole-key Bloom filters (10 bits a key, ~1 % false positives): a read
	 * of an absent key — a term with no bitmap yet, a stem of a word in a
	 * language and field that never had it, a document's first metadata —
	 * skips the table files instead of reading an index and a data block
	 * from each.  Filters and indexes are partitioned (4 KiB) and loaded
	 * through the block cache when a read needs them, with only their top
	 * level pinned: a one-shot reader (`mailroom search`) reads the few
	 * partitions its keys fall in, not every table's whole filter at open. */
	rocksdb_block_based_options_set_filter_policy(r->bbto, rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_index_type(r->bbto, rocksdb_block_based_table_index_type_two_level_index_search);
	rocksdb_block_based_options_set_partition_filters(r->bbto, 1);
	rocksdb_block_based_options_set_metadata_block_size(r->bbto, 4096);
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(r->bbto, 1);
	rocksdb_block_based_options_set_pin_top_level_index_and_filter(r->bbto, 1);
	rocksdb_options_set_block_based_table_factory(r->opts, r->bbto);
	r->wopts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(r->wopts, sync);
	r->wopts_lazy = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(r->wopts_lazy, 0);
	r->wopts_none = rocksdb_writeoptions_create();
	rocksdb_writeoptions_disable_WAL(r->wopts_none, 1);
	r->ropts = rocksdb_readoptions_create();

	const char *names[2] = {"default", "counters"};
	const rocksdb_options_t *cfopts[2] = {r->opts, r->opts};
	char *err = NULL;
	if (readonly) /* no LOCK, no new WAL, MANIFEST or OPTIONS file; the WAL is replayed in memory */
		r->db = rocksdb_open_for_read_only_column_families(r->opts, path, 2, names, cfopts, r->cf, 0, &err);
	else
		r->db = rocksdb_open_column_families(r->opts, path, 2, names, cfopts, r->cf, &err);
	if (err) {
		char what[512];
		snprintf(what, sizeof(what), "open %s", path);
		rc = rerr(what, err);
		if (strstr(mr_error_last()->message, "lock"))
			rc = mr_error_set(MR_EUNAVAILABLE, "%s (is another mailroom process using this RocksDB store?)",
					  mr_error_last()->message);
		rocksdb_close_inst(&r->base);
		return rc;
	}
	if ((rc = check_schema(r, readonly))) {
		rocksdb_close_inst(&r->base);
		return rc;
	}
	*out = &r->base;
	return 0;
}

static int rocksdb_open_rw(mr_data_inst **out, const mr_store_config *sc) { return open_inst(out, sc, false); }

/*
 * Read-only (mr_data_open_readonly): a reader beside the process holding the
 * directory's lock sees the state as of its open (SST files that writer
 * deletes later stay readable through the descriptors opened here, as
 * max_open_files is unlimited).
 */
static int rocksdb_open_ro(mr_data_inst **out, const mr_store_config *sc) { return open_inst(out, sc, true); }

static int rocksdb_get_value(mr_data_inst *inst, mr_slice key, mr_buf *value)
{
	rocksdb_inst *r = downcast(inst);
	char *err = NULL;
	rocksdb_pinnableslice_t *ps =
		rocksdb_get_pinned_cf(r->db, r->ropts, r->cf[0], (const char *)key.ptr, key.len, &err);
	if (err)
		return rerr("get", err);
	if (!ps)
		return MR_ENOTFOUND;
	size_t len;
	const char *v = rocksdb_pinnableslice_value(ps, &len);
	int rc = mr_buf_set(value, v, len);
	rocksdb_pinnableslice_destroy(ps);
	return rc;
}

static int64_t decode_i64(const char *v)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | (unsigned char)v[i];
	return (int64_t)u;
}

static void encode_i64(char *out, int64_t v)
{
	uint64_t u = (uint64_t)v;
	for (int i = 0; i < 8; i++)
		out[i] = (char)(u >> (56 - 8 * i));
}

static int rocksdb_get_counter(mr_data_inst *inst, mr_slice key, int64_t *out)
{
	rocksdb_inst *r = downcast(inst);
	char *err = NULL;
	size_t len = 0;
	char *v = rocksdb_get_cf(r->db, r->ropts, r->cf[1], (const char *)key.ptr, key.len, &len, &err);
	if (err)
		return rerr("get counter", err);
	*out = 0;
	if (v) {
		if (len == 8)
			*out = decode_i64(v);
		rocksdb_free(v);
		if (len != 8)
			return mr_error_set(MR_ECORRUPT, "counter value of %zu bytes (expected 8)", len);
	}
	return 0;
}

/* Plain batch: one WriteBatch, atomic and durable. */
static int commit_plain(rocksdb_inst *r, const rocksdb_writeoptions_t *wo, const mr_batch_op *ops, size_t n)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	for (size_t i = 0; i < n; i++) {
		const mr_batch_op *o = &ops[i];
		if (o->kind == MR_OP_SET)
			rocksdb_writebatch_put_cf(wb, r->cf[0], (const char *)o->key.ptr, o->key.len,
						  (const char *)o->value.ptr, o->value.len);
		else {
			rocksdb_writebatch_delete_cf(wb, r->cf[0], (const char *)o->key.ptr, o->key.len);
			rocksdb_writebatch_delete_cf(wb, r->cf[1], (const char *)o->key.ptr, o->key.len);
		}
	}
	char *err = NULL;
	rocksdb_write(r->db, wo, wb, &err);
	rocksdb_writebatch_destroy(wb);
	return err ? rerr("commit", err) : 0;
}

/*
 * The keys a checked batch reads (its assertions' and counter adds' keys),
 * with what the batch itself has written to them so far: an open-addressing
 * table over slices of the ops array (valid for the commit).  Only these
 * keys are tracked, so a batch of thousands of index writes with a few
 * assertions costs a hash probe per op, not an indexed write batch.
 */
enum { OV_UNSEEN = 0, OV_VALUE, OV_ABSENT };
typedef struct ov_entry {
	const uint8_t *key;
	size_t klen;
	uint8_t cf;     /* 0 values, 1 counters */
	uint8_t state;  /* OV_*: what the batch wrote last (OV_UNSEEN: nothing yet) */
	mr_slice value; /* OV_VALUE, cf 0 */
	int64_t counter; /* OV_VALUE, cf 1 */
} ov_entry;

typedef struct overlay {
	ov_entry *slot;
	size_t mask;
} overlay;

static uint64_t ov_hash(const uint8_t *p, size_t n, uint8_t cf)
{
	uint64_t h = 0xcbf29ce484222325ull ^ cf;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

/* The entry of (cf, key); with add, inserted if missing; NULL if missing (or no table). */
static ov_entry *ov_find(overlay *o, uint8_t cf, mr_slice key, bool add)
{
	if (!o->slot)
		return NULL;
	for (size_t i = ov_hash(key.ptr, key.len, cf) & o->mask;; i = (i + 1) & o->mask) {
		ov_entry *e = &o->slot[i];
		if (!e->key) {
			if (!add)
				return NULL;
			e->key = key.ptr ? key.ptr : (const uint8_t *)"";
			e->klen = key.len;
			e->cf = cf;
			return e;
		}
		if (e->cf == cf && e->klen == key.len && memcmp(e->key, key.ptr, key.len) == 0)
			return e;
	}
}

/*
 * A batch with assertions or counter adds, validated under the exclusive
 * side of commit_lock: nothing else commits while its assertions and
 * counters are read (from the database, or from the batch's own earlier
 * writes through the overlay) and the batch is written as one plain
 * WriteBatch.  Plain batches take the shared side, so they still commit
 * concurrently (and share WAL syncs) with each other.  This is exact
 * because one process owns the database (RocksDB's LOCK file), and much
 * cheaper than an optimistic transaction, which tracks and re-validates
 * every key it writes: an index batch writes thousands.
 */
static int commit_checked(rocksdb_inst *r, const rocksdb_writeoptions_t *wo, const mr_batch_op *ops, size_t n,
			  int64_t *add_result)
{
	size_t watched = 0;
	for (size_t i = 0; i < n; i++)
		watched += ops[i].kind != MR_OP_SET && ops[i].kind != MR_OP_CLEAR;
	overlay ov = {0};
	size_t cap = 16;
	while (cap < watched * 2 + 2)
		cap *= 2;
	if (!(ov.slot = mr_calloc(cap, sizeof(*ov.slot))))
		return mr_error_oom();
	ov.mask = cap - 1;
	for (size_t i = 0; i < n; i++)
		if (ops[i].kind == MR_OP_ADD)
			(void)ov_find(&ov, 1, ops[i].key, true);
		else if (ops[i].kind == MR_OP_ASSERT_VALUE || ops[i].kind == MR_OP_ASSERT_ABSENT)
			(void)ov_find(&ov, 0, ops[i].key, true);

	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	char *err = NULL;
	int rc = 0;
	pthread_rwlock_wrlock(&r->commit_lock);
	for (size_t i = 0; i < n && !rc; i++) {
		const mr_batch_op *o = &ops[i];
		const char *k = (const char *)o->key.ptr;
		switch (o->kind) {
		case MR_OP_ASSERT_VALUE:
		case MR_OP_ASSERT_ABSENT: {
			ov_entry *e = ov_find(&ov, 0, o->key, false);
			bool holds;
			if (e && e->state != OV_UNSEEN) {
				holds = o->kind == MR_OP_ASSERT_ABSENT
						? e->state == OV_ABSENT
						: e->state == OV_VALUE && mr_slice_eq(e->value, o->value);
			} else {
				size_t len = 0;
				char *v = rocksdb_get_cf(r->db, r->ropts, r->cf[0], k, o->key.len, &len, &err);
				if (err)
					break;
				holds = o->kind == MR_OP_ASSERT_ABSENT ? v == NULL
								   : (v && len == o->value.len && memcmp(v, o->value.ptr, len) == 0);
				rocksdb_free(v);
			}
			if (!holds)
				rc = mr_error_set(MR_ECONFLICT, "assertion on a key no longer holds");
			break;
		}
		case MR_OP_SET: {
			rocksdb_writebatch_put_cf(wb, r->cf[0], k, o->key.len, (const char *)o->value.ptr, o->value.len);
			ov_entry *e = ov_find(&ov, 0, o->key, false);
			if (e) {
				e->state = OV_VALUE;
				e->value = o->value;
			}
			break;
		}
		case MR_OP_CLEAR: {
			rocksdb_writebatch_delete_cf(wb, r->cf[0], k, o->key.len);
			rocksdb_writebatch_delete_cf(wb, r->cf[1], k, o->key.len);
			ov_entry *e = ov_find(&ov, 0, o->key, false);
			if (e)
				e->state = OV_ABSENT;
			if ((e = ov_find(&ov, 1, o->key, false)))
				e->state = OV_ABSENT;
			break;
		}
		case MR_OP_ADD: {
			ov_entry *e = ov_find(&ov, 1, o->key, false);
			MR_ASSERT(e);
			int64_t cur = 0;
			if (e->state == OV_VALUE) {
				cur = e->counter;
			} else if (e->state == OV_UNSEEN) {
				size_t len = 0;
				char *v = rocksdb_get_cf(r->db, r->ropts, r->cf[1], k, o->key.len, &len, &err);
				if (err)
					break;
				cur = v && len == 8 ? decode_i64(v) : 0;
				rocksdb_free(v);
			}
			int64_t nv = (int64_t)((uint64_t)cur + (uint64_t)o->delta); /* wraps like two's complement */
			char enc[8];
			encode_i64(enc, nv);
			rocksdb_writebatch_put_cf(wb, r->cf[1], k, o->key.len, enc, 8);
			e->state = OV_VALUE;
			e->counter = nv;
			if (add_result)
				*add_result = nv;
			break;
		}
		}
		if (err) {
			rc = rerr("commit", err);
			err = NULL;
		}
	}
	if (!rc) {
		rocksdb_write(r->db, wo, wb, &err);
		if (err)
			rc = rerr("commit", err);
	}
	pthread_rwlock_unlock(&r->commit_lock);
	rocksdb_writebatch_destroy(wb);
	mr_free(ov.slot);
	return rc;
}

static int commit_with(mr_data_inst *inst, const rocksdb_writeoptions_t *wo, const mr_batch_op *ops, size_t n,
		       int64_t *add_result)
{
	rocksdb_inst *r = downcast(inst);
	bool plain = true;
	for (size_t i = 0; i < n; i++)
		if (ops[i].kind != MR_OP_SET && ops[i].kind != MR_OP_CLEAR)
			plain = false;
	if (!plain)
		return commit_checked(r, wo, ops, n, add_result);
	pthread_rwlock_rdlock(&r->commit_lock);
	int rc = commit_plain(r, wo, ops, n);
	pthread_rwlock_unlock(&r->commit_lock);
	return rc;
}

static int rocksdb_commit(mr_data_inst *inst, const mr_batch_op *ops, size_t n, int64_t *add_result)
{
	return commit_with(inst, downcast(inst)->wopts, ops, n, add_result);
}

/* LAZY: in the WAL, synced by the next synced write (RocksDB syncs the
 * WAL up to that write); NONE: memtable only, durable at the next flush
 * (or the flush on close). */
static int rocksdb_commit_relaxed(mr_data_inst *inst, const mr_batch_op *ops, size_t n, int64_t *add_result,
				  mr_durability durability)
{
	rocksdb_inst *r = downcast(inst);
	return commit_with(inst, durability == MR_DURABLE_NONE ? r->wopts_none : r->wopts_lazy, ops, n, add_result);
}

static int rocksdb_scan(mr_data_inst *inst, const mr_range *range, size_t limit, mr_kvpage *page)
{
	rocksdb_inst *r = downcast(inst);
	bool reverse = range->flags & MR_SCAN_REVERSE, keys_only = range->flags & MR_SCAN_KEYS_ONLY;
	rocksdb_column_family_handle_t *cf = (range->flags & MR_SCAN_COUNTERS) ? r->cf[1] : r->cf[0];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_fill_cache(ro, 1);
	/* Normalise the bounds to [lo, hi): the key just after k is k || 0x00. */
	uint8_t lo[MR_DATA_MAX_KEY + 2], hi[MR_DATA_MAX_KEY + 2];
	size_t lolen = range->begin.len, hilen = range->end.len;
	if (lolen)
		memcpy(lo, range->begin.ptr, lolen);
	if (lolen && range->begin_exclusive)
		lo[lolen++] = 0;
	if (hilen)
		memcpy(hi, range->end.ptr, hilen);
	if (hilen && range->end_inclusive)
		hi[hilen++] = 0;
	if (hilen)
		rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, hilen);
	if (lolen)
		rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)lo, lolen);
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(r->db, ro, cf);
	if (reverse) {
		if (hilen)
			rocksdb_iter_seek_for_prev(it, (const char *)hi, hilen);
		else
			rocksdb_iter_seek_to_last(it);
	} else {
		if (lolen)
			rocksdb_iter_seek(it, (const char *)lo, lolen);
		else
			rocksdb_iter_seek_to_first(it);
	}
	int rc = 0;
	while (rocksdb_iter_valid(it)) {
		size_t klen, vlen = 0;
		const char *k = rocksdb_iter_key(it, &klen);
		mr_slice ks = {(const uint8_t *)k, klen};
		if (hilen && mr_slice_cmp(ks, (mr_slice){hi, hilen}) >= 0) {
			if (!reverse)
				break;
			rocksdb_iter_prev(it);
			continue;
		}
		if (lolen && mr_slice_cmp(ks, (mr_slice){lo, lolen}) < 0)
			break;
		if (page->count >= limit) {
			page->more = true;
			break;
		}
		const char *v = keys_only ? "" : rocksdb_iter_value(it, &vlen);
		if ((rc = mr_kvpage_push(page, ks, (mr_slice){(const uint8_t *)v, vlen})))
			break;
		if (reverse)
			rocksdb_iter_prev(it);
		else
			rocksdb_iter_next(it);
	}
	char *err = NULL;
	if (!rc) {
		rocksdb_iter_get_error(it, &err);
		if (err)
			rc = rerr("scan", err);
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

static int rocksdb_maintain(mr_data_inst *inst)
{
	rocksdb_inst *r = downcast(inst);
	rocksdb_compact_range_cf(r->db, r->cf[0], NULL, 0, NULL, 0);
	rocksdb_compact_range_cf(r->db, r->cf[1], NULL, 0, NULL, 0);
	return 0;
}

const mr_data_backend mr_data_backend_rocksdb = {
	.version = MR_DATA_BACKEND_VERSION,
	.name = "rocksdb",
	.caps = 0,
	.open = rocksdb_open_rw,
	.close = rocksdb_close_inst,
	.get = rocksdb_get_value,
	.get_counter = rocksdb_get_counter,
	.commit = rocksdb_commit,
	.scan = rocksdb_scan,
	.maintain = rocksdb_maintain,
	.open_readonly = rocksdb_open_ro,
	.commit_relaxed = rocksdb_commit_relaxed,
};
