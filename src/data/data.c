/*
 * data.c — the data-store front (include/mailroom/data.h).  Owns what must
 * be identical whatever the backend: argument and size checks, batch
 * buffers, paged iteration, the retry helper and error prefixes
 * (`store "db" (rocksdb): ...`).  Backends (backend.h) only move bytes.
 */
#include "data/backend.h"

struct mr_data {
	const mr_data_backend *backend;
	mr_data_inst *inst;
	char *id;
	bool readonly;
};

typedef struct {
	mr_batch_op_kind kind;
	size_t koff, klen, voff, vlen;
	int64_t delta;
} batch_entry;

struct mr_batch {
	mr_data *d;
	mr_buf arena;
	batch_entry *ops;
	size_t n, cap;
	size_t bytes;
	int err;
};

struct mr_iter {
	mr_data *d;
	mr_range range;
	mr_buf begin, end; /* owned copies of the current bounds */
	mr_kvpage page;
	size_t pos;
	size_t remaining; /* SIZE_MAX when unlimited */
	bool done;
};

#define PAGE_SIZE 512

static int prefix_err(const mr_data *d, int rc)
{
	if (rc && rc != MR_ENOTFOUND && rc != MR_ECONFLICT)
		mr_error_prefix("store \"%s\" (%s)", d->id, d->backend->name);
	return rc;
}

/* ---- kvpage ---- */

int mr_kvpage_push(mr_kvpage *p, mr_slice key, mr_slice value)
{
	if (p->count == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		mr_kv *it = mr_realloc(p->items, cap * sizeof(*it));
		if (!it)
			return MR_ENOMEM;
		p->items = it;
		p->cap = cap;
	}
	size_t koff = p->data.len;
	int rc = mr_buf_put(&p->data, key.ptr, key.len);
	if (rc)
		return rc;
	size_t voff = p->data.len;
	if ((rc = mr_buf_put(&p->data, value.ptr, value.len)))
		return rc;
	/* offsets are kept in the pointer fields until mr_kvpage_finish */
	p->items[p->count].key = (mr_slice){(const uint8_t *)(uintptr_t)koff, key.len};
	p->items[p->count].value = (mr_slice){(const uint8_t *)(uintptr_t)voff, value.len};
	p->count++;
	return 0;
}

void mr_kvpage_finish(mr_kvpage *p)
{
	for (size_t i = 0; i < p->count; i++) {
		p->items[i].key.ptr = p->data.ptr + (uintptr_t)p->items[i].key.ptr;
		p->items[i].value.ptr = p->data.ptr + (uintptr_t)p->items[i].value.ptr;
	}
}

void mr_kvpage_reset(mr_kvpage *p)
{
	mr_buf_clear(&p->data);
	p->count = 0;
	p->more = false;
}

void mr_kvpage_dispose(mr_kvpage *p)
{
	mr_buf_dispose(&p->data);
	mr_free(p->items);
	memset(p, 0, sizeof(*p));
}

/* ---- open/close ---- */

static int open_store(mr_data **out, const mr_config *cfg, const char *store_id, bool readonly)
{
	*out = NULL;
	const mr_store_config *sc = mr_config_store(cfg, store_id);
	if (!sc)
		return mr_error_set(MR_ENOTFOUND, "store \"%s\" is not defined in %s", store_id, mr_config_path(cfg));
	const mr_data_backend *b = mr_data__backend_find(mr_store_config_type(sc));
	if (!b)
		return mr_error_prefix("store \"%s\"", store_id);
	if (b->version < 1 || b->version > MR_DATA_BACKEND_VERSION)
		return mr_error_set(MR_ENOTSUPPORTED, "store \"%s\": backend \"%s\" has vtable version %d (this build supports 1-%d)",
				    store_id, b->name, b->version, MR_DATA_BACKEND_VERSION);
	mr_data *d = mr_calloc(1, sizeof(*d));
	if (!d)
		return MR_ENOMEM;
	d->backend = b;
	if (!(d->id = mr_strdup(store_id))) {
		mr_free(d);
		return MR_ENOMEM;
	}
	d->readonly = readonly;
	int rc = readonly && b->version >= 2 && b->open_readonly ? b->open_readonly(&d->inst, sc) : b->open(&d->inst, sc);
	if (rc) {
		prefix_err(d, rc);
		mr_free(d->id);
		mr_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int mr_data_open(mr_data **out, const mr_config *cfg, const char *store_id)
{
	return open_store(out, cfg, store_id, false);
}

int mr_data_open_readonly(mr_data **out, const mr_config *cfg, const char *store_id)
{
	return open_store(out, cfg, store_id, true);
}

static int check_writable(const mr_data *d)
{
	if (d->readonly)
		return mr_error_set(MR_EINVALID, "store \"%s\" (%s): opened read-only, cannot write", d->id,
				    d->backend->name);
	return 0;
}

void mr_data_close(mr_data *d)
{
	if (!d)
		return;
	d->backend->close(d->inst);
	mr_free(d->id);
	mr_free(d);
}

const char *mr_data_backend_name(const mr_data *d) { return d->backend->name; }
const char *mr_data_store_id(const mr_data *d) { return d->id; }
uint32_t mr_data_caps(const mr_data *d) { return d->backend->caps; }

static int check_key(const mr_data *d, mr_slice key)
{
	if (key.len == 0)
		return mr_error_set(MR_EINVALID, "store \"%s\": empty key", d->id);
	if (key.len > MR_DATA_MAX_KEY)
		return mr_error_set(MR_ELIMIT, "store \"%s\": key of %zu bytes exceeds the limit of %u bytes", d->id, key.len,
				    MR_DATA_MAX_KEY);
	return 0;
}

int mr_data_get(mr_data *d, mr_slice key, mr_buf *value)
{
	mr_buf_clear(value);
	int rc = check_key(d, key);
	if (rc)
		return rc;
	rc = d->backend->get(d->inst, key, value);
	if (rc)
		mr_buf_clear(value);
	return prefix_err(d, rc);
}

int mr_data_get_counter(mr_data *d, mr_slice key, int64_t *out)
{
	*out = 0;
	int rc = check_key(d, key);
	if (rc)
		return rc;
	return prefix_err(d, d->backend->get_counter(d->inst, key, out));
}

int mr_data_add_and_get(mr_data *d, mr_slice key, int64_t delta, int64_t *out)
{
	int rc = check_key(d, key);
	if (!rc)
		rc = check_writable(d);
	if (rc)
		return rc;
	mr_batch_op op = {.kind = MR_OP_ADD, .key = key, .delta = delta};
	return prefix_err(d, d->backend->commit(d->inst, &op, 1, out));
}

int mr_data_maintain(mr_data *d)
{
	if (!d->backend->maintain)
		return 0;
	int rc = check_writable(d);
	if (rc)
		return rc;
	return prefix_err(d, d->backend->maintain(d->inst));
}

/* ---- batches ---- */

int mr_batch_new(mr_batch **out, mr_data *d)
{
	*out = mr_calloc(1, sizeof(**out));
	if (!*out)
		return MR_ENOMEM;
	(*out)->d = d;
	return 0;
}

void mr_batch_free(mr_batch *b)
{
	if (!b)
		return;
	mr_buf_dispose(&b->arena);
	mr_free(b->ops);
	mr_free(b);
}

void mr_batch_reset(mr_batch *b)
{
	mr_buf_clear(&b->arena);
	b->n = 0;
	b->bytes = 0;
	b->err = 0;
}

size_t mr_batch_count(const mr_batch *b) { return b->n; }

int mr_batch_lookup(const mr_batch *b, mr_slice key, mr_slice *value)
{
	for (size_t i = b->n; i-- > 0;) {
		const batch_entry *e = &b->ops[i];
		if (e->kind != MR_OP_SET && e->kind != MR_OP_CLEAR)
			continue;
		if (e->klen != key.len || memcmp(b->arena.ptr + e->koff, key.ptr, key.len) != 0)
			continue;
		if (e->kind == MR_OP_CLEAR)
			return 2;
		if (value)
			*value = (mr_slice){b->arena.ptr + e->voff, e->vlen};
		return 1;
	}
	return 0;
}

static int push(mr_batch *b, mr_batch_op_kind kind, mr_slice key, mr_slice value, int64_t delta)
{
	if (b->err)
		return b->err;
	int rc = check_key(b->d, key);
	if (!rc && value.len > MR_DATA_MAX_VALUE)
		rc = mr_error_set(MR_ELIMIT, "store \"%s\": value of %zu bytes exceeds the limit of %u bytes", b->d->id,
				  value.len, MR_DATA_MAX_VALUE);
	if (!rc && b->bytes + key.len + value.len > MR_DATA_MAX_BATCH)
		rc = mr_error_set(MR_ELIMIT, "store \"%s\": batch of more than %u bytes is too large (split it into several "
					     "transactions yourself)", b->d->id, MR_DATA_MAX_BATCH);
	if (!rc && b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		batch_entry *ops = mr_realloc(b->ops, cap * sizeof(*ops));
		if (!ops)
			rc = MR_ENOMEM;
		else {
			b->ops = ops;
			b->cap = cap;
		}
	}
	batch_entry e = {.kind = kind, .koff = b->arena.len, .klen = key.len, .delta = delta};
	if (!rc)
		rc = mr_buf_put(&b->arena, key.ptr, key.len);
	e.voff = b->arena.len;
	e.vlen = value.len;
	if (!rc)
		rc = mr_buf_put(&b->arena, value.ptr, value.len);
	if (rc) {
		b->err = rc;
		return rc;
	}
	b->ops[b->n++] = e;
	b->bytes += key.len + value.len;
	return 0;
}

int mr_batch_set(mr_batch *b, mr_slice key, mr_slice value) { return push(b, MR_OP_SET, key, value, 0); }
int mr_batch_clear(mr_batch *b, mr_slice key) { return push(b, MR_OP_CLEAR, key, MR_SLICE_EMPTY, 0); }
int mr_batch_add(mr_batch *b, mr_slice key, int64_t delta) { return push(b, MR_OP_ADD, key, MR_SLICE_EMPTY, delta); }
int mr_batch_assert_value(mr_batch *b, mr_slice key, mr_slice expected)
{
	return push(b, MR_OP_ASSERT_VALUE, key, expected, 0);
}
int mr_batch_assert_absent(mr_batch *b, mr_slice key) { return push(b, MR_OP_ASSERT_ABSENT, key, MR_SLICE_EMPTY, 0); }

static int batch_commit(mr_batch *b, mr_durability durability)
{
	if (b->err)
		return b->err;
	if (b->n == 0)
		return 0;
	int wrc = check_writable(b->d);
	if (wrc)
		return wrc;
	mr_batch_op stack[32];
	mr_batch_op *ops = b->n <= MR_ARRAY_LEN(stack) ? stack : mr_malloc(b->n * sizeof(*ops));
	if (!ops)
		return MR_ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		const batch_entry *e = &b->ops[i];
		ops[i] = (mr_batch_op){.kind = e->kind,
				       .key = {b->arena.ptr + e->koff, e->klen},
				       .value = {b->arena.ptr + e->voff, e->vlen},
				       .delta = e->delta};
	}
	const mr_data_backend *be = b->d->backend;
	int rc = durability != MR_DURABLE_SYNC && be->version >= 3 && be->commit_relaxed
			 ? be->commit_relaxed(b->d->inst, ops, b->n, NULL, durability)
			 : be->commit(b->d->inst, ops, b->n, NULL);
	if (ops != stack)
		mr_free(ops);
	return prefix_err(b->d, rc);
}

int mr_batch_commit(mr_batch *b) { return batch_commit(b, MR_DURABLE_SYNC); }

int mr_batch_commit_durability(mr_batch *b, mr_durability durability)
{
	if (durability != MR_DURABLE_SYNC && durability != MR_DURABLE_LAZY && durability != MR_DURABLE_NONE)
		return mr_error_set(MR_EINVALID, "commit: unknown durability %d", (int)durability);
	return batch_commit(b, durability);
}

int mr_data_retry(mr_data *d, mr_data_txn_fn fn, unsigned max_attempts, uint64_t base_ms, uint64_t cap_ms, void *payload)
{
	int rc = MR_ECONFLICT;
	for (unsigned attempt = 0; attempt < (max_attempts ? max_attempts : 1); attempt++) {
		if (attempt)
			mr_sleep_ms(mr_backoff_ms(attempt - 1, base_ms, cap_ms));
		rc = fn(d, payload);
		if (rc != MR_ECONFLICT)
			return rc;
	}
	return mr_error_set(MR_ECONFLICT, "store \"%s\": transaction still conflicting after %u attempts", d->id,
			    max_attempts);
}

/* ---- iteration ---- */

mr_range mr_range_prefix(mr_slice prefix, uint8_t *end_storage, size_t end_storage_len)
{
	mr_range r = {.begin = prefix};
	/* end = the prefix with its last non-0xFF byte incremented (exclusive) */
	size_t n = prefix.len < end_storage_len ? prefix.len : end_storage_len;
	memcpy(end_storage, prefix.ptr, n);
	while (n > 0 && end_storage[n - 1] == 0xFF)
		n--;
	if (n > 0) {
		end_storage[n - 1]++;
		r.end = (mr_slice){end_storage, n};
	}
	return r;
}

int mr_data_scan(mr_data *d, const mr_range *range, mr_iter **out)
{
	*out = NULL;
	if (range->begin.len > MR_DATA_MAX_KEY + 1 || range->end.len > MR_DATA_MAX_KEY + 1)
		return mr_error_set(MR_ELIMIT, "store \"%s\": scan bound longer than a key can be", d->id);
	mr_iter *it = mr_calloc(1, sizeof(*it));
	if (!it)
		return MR_ENOMEM;
	it->d = d;
	it->range = *range;
	it->remaining = range->limit ? range->limit : SIZE_MAX;
	if (mr_buf_set(&it->begin, range->begin.ptr, range->begin.len) ||
	    mr_buf_set(&it->end, range->end.ptr, range->end.len)) {
		mr_iter_free(it);
		return MR_ENOMEM;
	}
	it->range.begin = (mr_slice){it->begin.ptr, it->begin.len};
	it->range.end = (mr_slice){it->end.ptr, it->end.len};
	it->page.more = true; /* nothing fetched yet */
	it->pos = 0;
	*out = it;
	return 0;
}

static int fetch_page(mr_iter *it)
{
	/* continue after the last key of the previous page */
	if (it->page.count > 0) {
		mr_slice last = it->page.items[it->page.count - 1].key;
		mr_buf *bound = (it->range.flags & MR_SCAN_REVERSE) ? &it->end : &it->begin;
		int rc = mr_buf_set(bound, last.ptr, last.len);
		if (rc)
			return rc;
		if (it->range.flags & MR_SCAN_REVERSE) {
			it->range.end = (mr_slice){it->end.ptr, it->end.len};
			it->range.end_inclusive = false;
		} else {
			it->range.begin = (mr_slice){it->begin.ptr, it->begin.len};
			it->range.begin_exclusive = true;
		}
	}
	mr_kvpage_reset(&it->page);
	it->pos = 0;
	size_t limit = it->remaining < PAGE_SIZE ? it->remaining : PAGE_SIZE;
	int rc = it->d->backend->scan(it->d->inst, &it->range, limit, &it->page);
	if (rc)
		return prefix_err(it->d, rc);
	mr_kvpage_finish(&it->page);
	if (it->page.count < limit)
		it->page.more = false;
	return 0;
}

int mr_iter_next(mr_iter *it, mr_slice *key, mr_slice *value)
{
	if (it->done || it->remaining == 0)
		return 0;
	if (it->pos >= it->page.count) {
		if (!it->page.more) {
			it->done = true;
			return 0;
		}
		int rc = fetch_page(it);
		if (rc)
			return rc;
		if (it->page.count == 0) {
			it->done = true;
			return 0;
		}
	}
	*key = it->page.items[it->pos].key;
	*value = it->page.items[it->pos].value;
	it->pos++;
	if (it->remaining != SIZE_MAX)
		it->remaining--;
	return 1;
}

void mr_iter_free(mr_iter *it)
{
	if (!it)
		return;
	mr_kvpage_dispose(&it->page);
	mr_buf_dispose(&it->begin);
	mr_buf_dispose(&it->end);
	mr_free(it);
}
