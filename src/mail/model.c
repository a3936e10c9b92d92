/*
 * model.c — the mail model in the data store (model.h).  Key layout
 * (every key through the codec; `str` = escaped string, counters marked):
 *
 *   ACCOUNT    0x00                          counter: last account id
 *              0x01 str name                 -> u32 id
 *              0x02 u32 id                   -> name
 *              0x03 u8 what                  counter: totals (1 accounts, 2 emails, 3 memberships, 4 bytes)
 *   MAILBOX    u32 acct 0x00                 counter: last mailbox id
 *              u32 acct 0x01 str name        -> u32 id
 *              u32 acct 0x02 u32 id          -> record (parent, role, uidvalidity, created, name)
 *              u32 acct 0x03 u32 id          counter: last UID given
 *              u32 acct 0x04 u32 id          counter: memberships
 *   EMAIL      u32 acct 0x00                 counter: last email id
 *              u32 acct 0x01 u32 id          -> record (see put_record)
 *              u32 acct 0x02 tail blob-id    -> u32 email id (dedup within the account)
 *              u32 acct 0x03 u32 id          -> parse warnings, one per line
 *   MEMBERSHIP u32 acct 0x01 u32 mbox u32 uid -> u32 email, u64 modseq
 *              u32 acct 0x02 u32 email u32 mbox -> u32 uid, u64 modseq
 *   THREAD     u32 acct 0x00                 counter: last thread id
 *              u32 acct 0x01 str key         -> u32 thread ("id:<message-id>", "subject:<base subject>")
 *              u32 acct 0x02 u32 thread u32 email -> ""
 *   CHANGELOG  u32 acct 0x00                 counter: the change sequence (the state)
 *              u32 acct 0x01 u8 type u64 seq u32 id -> u8 op
 *              u32 acct 0x02 u64 first seq   -> i64 unix ms (the time of the commit writing that seq on)
 *              u32 acct 0x03                 -> u64 oldest state still answerable (after a retention purge)
 *   COLLECTION u32 acct u8 kind str name     -> value
 */
#include "mail/model.h"

#include "core/common.h"
#include "mail/reader.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RECORD_VERSION 1
#define MAX_FIELD 2048

/* ---- small helpers ---- */

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int get_u32(mr_data *d, const mr_key *k, uint32_t *out)
{
	mr_buf v = {0};
	int rc = mr_data_get(d, mr_key_slice(k), &v);
	if (rc == 0 && v.len < 4)
		rc = mr_error_set(MR_ECORRUPT, "mail model: short id value");
	if (rc == 0)
		*out = rd32(v.ptr);
	mr_buf_dispose(&v);
	return rc;
}

static mr_key acct_key(uint8_t sub, uint32_t account, uint8_t tag)
{
	mr_key k;
	mr_key_init(&k, sub);
	mr_key_u32(&k, account);
	mr_key_u8(&k, tag);
	return k;
}

/* Length of s capped at max bytes without cutting a UTF-8 sequence. */
static size_t capped_len(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/*
 * A scan of the keys under a prefix: scan_open (or scan_init, adjust s->r,
 * mr_data_scan), scan_next until it returns <= 0 (1: s->k is the key past
 * the prefix, s->v the value) or the caller breaks, then scan_close (it
 * returns rc if an error, else 0).
 */
typedef struct prefix_scan {
	mr_key prefix;
	uint8_t end[MR_DATA_MAX_KEY];
	mr_range r;
	mr_iter *it;
	mr_slice k, v;
} prefix_scan;

static void scan_init(prefix_scan *s, const mr_key *prefix)
{
	s->prefix = *prefix;
	s->r = mr_range_prefix(mr_key_slice(&s->prefix), s->end, sizeof(s->end));
	s->it = NULL;
}

static int scan_open(prefix_scan *s, mr_data *d, const mr_key *prefix, unsigned flags)
{
	scan_init(s, prefix);
	s->r.flags = flags;
	return mr_data_scan(d, &s->r, &s->it);
}

static int scan_next(prefix_scan *s)
{
	int rc = mr_iter_next(s->it, &s->k, &s->v);
	if (rc == 1)
		s->k = (mr_slice){s->k.ptr + s->prefix.len, s->k.len - s->prefix.len};
	return rc;
}

static int scan_close(prefix_scan *s, int rc)
{
	mr_iter_free(s->it);
	return rc < 0 ? rc : 0;
}

/* ---- a small hash map: bytes -> u32, with pending entries that a failed commit drops ---- */

typedef struct hent {
	char *key;
	size_t len;
	uint32_t val;
	bool pending;
	bool used;
} hent;

typedef struct hmap {
	hent *t;
	size_t cap, n;
} hmap;

static uint64_t hhash(const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ULL;
	return h;
}

static hent *hmap_find(hmap *m, const void *key, size_t len)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hhash(key, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		hent *e = &m->t[i];
		if (!e->used)
			return NULL;
		if (e->len == len && memcmp(e->key, key, len) == 0)
			return e;
	}
}

static int hmap_put(hmap *m, const void *key, size_t len, uint32_t val, bool pending);

static int hmap_grow(hmap *m)
{
	hmap old = *m;
	size_t cap = old.cap ? old.cap * 2 : 1024;
	m->t = mr_calloc(cap, sizeof(hent));
	if (!m->t) {
		*m = old;
		return MR_ENOMEM;
	}
	m->cap = cap;
	m->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.t[i].used) {
			size_t j = hhash(old.t[i].key, old.t[i].len) & (cap - 1);
			while (m->t[j].used)
				j = (j + 1) & (cap - 1);
			m->t[j] = old.t[i];
			m->n++;
		}
	mr_free(old.t);
	return 0;
}

static int hmap_put(hmap *m, const void *key, size_t len, uint32_t val, bool pending)
{
	hent *e = hmap_find(m, key, len);
	if (e) {
		e->val = val;
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap && hmap_grow(m))
		return MR_ENOMEM;
	size_t i = hhash(key, len) & (m->cap - 1);
	while (m->t[i].used)
		i = (i + 1) & (m->cap - 1);
	e = &m->t[i];
	e->key = mr_malloc(len ? len : 1);
	if (!e->key)
		return MR_ENOMEM;
	memcpy(e->key, key, len);
	e->len = len;
	e->val = val;
	e->pending = pending;
	e->used = true;
	m->n++;
	return 0;
}

/* Commit: pending entries become permanent.  Abort: they go (the table is rebuilt). */
static void hmap_settle(hmap *m, bool keep)
{
	if (keep) {
		for (size_t i = 0; i < m->cap; i++)
			m->t[i].pending = false;
		return;
	}
	hmap old = *m;
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < old.cap; i++) {
		if (!old.t[i].used)
			continue;
		if (!old.t[i].pending && hmap_put(m, old.t[i].key, old.t[i].len, old.t[i].val, false) != 0) {
			/* out of memory: the cache is only a cache; drop it */
		}
		mr_free(old.t[i].key);
	}
	mr_free(old.t);
}

static void hmap_dispose(hmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->t[i].used)
			mr_free(m->t[i].key);
	mr_free(m->t);
	memset(m, 0, sizeof(*m));
}

/* ---- roles ---- */

mr_mailbox_role mr_mailbox_role_guess(const char *name)
{
	if (strcasecmp(name, "INBOX") == 0)
		return MR_ROLE_INBOX;
	const char *leaf = strrchr(name, '/');
	leaf = leaf ? leaf + 1 : name;
	static const struct {
		const char *name;
		mr_mailbox_role role;
	} names[] = {
		{"sent", MR_ROLE_SENT},          {"sent items", MR_ROLE_SENT},       {"sent messages", MR_ROLE_SENT},
		{"sent mail", MR_ROLE_SENT},     {"gesendet", MR_ROLE_SENT},         {"drafts", MR_ROLE_DRAFTS},
		{"draft", MR_ROLE_DRAFTS},       {"entwürfe", MR_ROLE_DRAFTS},       {"trash", MR_ROLE_TRASH},
		{"deleted items", MR_ROLE_TRASH}, {"deleted messages", MR_ROLE_TRASH}, {"bin", MR_ROLE_TRASH},
		{"papierkorb", MR_ROLE_TRASH},   {"junk", MR_ROLE_JUNK},             {"spam", MR_ROLE_JUNK},
		{"junk e-mail", MR_ROLE_JUNK},   {"junk email", MR_ROLE_JUNK},       {"archive", MR_ROLE_ARCHIVE},
		{"archives", MR_ROLE_ARCHIVE},   {"archiv", MR_ROLE_ARCHIVE},
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(names); i++)
		if (strcasecmp(leaf, names[i].name) == 0)
			return names[i].role;
	return MR_ROLE_NONE;
}

const char *mr_mailbox_role_name(mr_mailbox_role role)
{
	static const char *const n[] = {"", "inbox", "sent", "drafts", "trash", "junk", "archive"};
	return (unsigned)role < MR_ARRAY_LEN(n) ? n[role] : "";
}

/* ---- accounts ---- */

static mr_key account_name_key(const char *name)
{
	mr_key k;
	mr_key_init(&k, MR_SUBSPACE_ACCOUNT);
	mr_key_u8(&k, 0x01);
	mr_key_str(&k, name);
	return k;
}

static mr_key total_key(uint8_t what)
{
	mr_key k;
	mr_key_init(&k, MR_SUBSPACE_ACCOUNT);
	mr_key_u8(&k, 0x03);
	mr_key_u8(&k, what);
	return k;
}

int mr_model_account(mr_data *d, const char *name, bool create, uint32_t *id, bool *created)
{
	if (created)
		*created = false;
	if (!name || !*name || strlen(name) > 255)
		return mr_error_set(MR_EINVALID, "account name must be 1 to 255 bytes");
	mr_key nk = account_name_key(name);
	for (int attempt = 0; attempt < 5; attempt++) {
		int rc = get_u32(d, &nk, id);
		if (rc != MR_ENOTFOUND)
			return rc;
		if (!create)
			return mr_error_set(MR_ENOTFOUND, "no account \"%s\"", name);
		mr_key ck;
		mr_key_init(&ck, MR_SUBSPACE_ACCOUNT);
		mr_key_u8(&ck, 0x00);
		int64_t next = 0;
		if ((rc = mr_data_add_and_get(d, mr_key_slice(&ck), 1, &next)) != 0)
			return rc;
		if (next <= 0 || next > UINT32_MAX)
			return mr_error_set(MR_ELIMIT, "no account id left");
		mr_batch *b = NULL;
		if ((rc = mr_batch_new(&b, d)) != 0)
			return rc;
		uint8_t v[4];
		be32(v, (uint32_t)next);
		mr_key ik;
		mr_key_init(&ik, MR_SUBSPACE_ACCOUNT);
		mr_key_u8(&ik, 0x02);
		mr_key_u32(&ik, (uint32_t)next);
		mr_key tk = total_key(1);
		mr_batch_assert_absent(b, mr_key_slice(&nk));
		mr_batch_set(b, mr_key_slice(&nk), mr_slice_of(v, 4));
		mr_batch_set(b, mr_key_slice(&ik), mr_slice_str(name));
		mr_batch_add(b, mr_key_slice(&tk), 1);
		rc = mr_batch_commit(b);
		mr_batch_free(b);
		if (rc == 0) {
			*id = (uint32_t)next;
			if (created)
				*created = true;
			return 0;
		}
		if (rc != MR_ECONFLICT)
			return rc;
		/* someone else created it: read theirs */
	}
	return mr_error_set(MR_ECONFLICT, "account \"%s\": could not create it (concurrent writers)", name);
}

int mr_model_accounts(mr_data *d, mr_model_account_fn fn, void *payload)
{
	mr_key p;
	mr_key_init(&p, MR_SUBSPACE_ACCOUNT);
	mr_key_u8(&p, 0x01);
	prefix_scan s;
	int rc = scan_open(&s, d, &p, 0);
	if (rc)
		return rc;
	mr_buf name = {0};
	while ((rc = scan_next(&s)) == 1) {
		mr_key_reader kr;
		mr_key_reader_init(&kr, s.k);
		if (mr_key_read_bytes(&kr, &name) || s.v.len < 4) {
			rc = mr_error_set(MR_ECORRUPT, "mail model: bad account key");
			break;
		}
		if (mr_buf_put(&name, "", 1)) {
			rc = MR_ENOMEM;
			break;
		}
		if ((rc = fn((const char *)name.ptr, rd32(s.v.ptr), payload)) != 0)
			break;
	}
	mr_buf_dispose(&name);
	return scan_close(&s, rc);
}

/* ---- change sequence ---- */

static int reserve_seq(mr_data *d, uint32_t account, uint32_t n, uint64_t *first)
{
	mr_key k = acct_key(MR_SUBSPACE_CHANGELOG, account, 0x00);
	int64_t last = 0;
	int rc = mr_data_add_and_get(d, mr_key_slice(&k), n, &last);
	if (rc == 0)
		*first = (uint64_t)last - n + 1;
	return rc;
}

static int change_entry(mr_batch *b, uint32_t account, mr_change_type type, uint64_t seq, uint32_t id,
			mr_change_op op)
{
	mr_key k = acct_key(MR_SUBSPACE_CHANGELOG, account, 0x01);
	mr_key_u8(&k, (uint8_t)type);
	mr_key_u64(&k, seq);
	mr_key_u32(&k, id);
	uint8_t v = (uint8_t)op;
	return mr_batch_set(b, mr_key_slice(&k), mr_slice_of(&v, 1));
}

/* Time marker of a commit's first change sequence, for retention. */
static int change_marker(mr_batch *b, uint32_t account, uint64_t first_seq)
{
	mr_key k = acct_key(MR_SUBSPACE_CHANGELOG, account, 0x02);
	mr_key_u64(&k, first_seq);
	uint8_t v[8];
	be64(v, (uint64_t)mr_now_unix_ms());
	return mr_batch_set(b, mr_key_slice(&k), mr_slice_of(v, 8));
}

int mr_model_state(mr_data *d, uint32_t account, char out[24])
{
	mr_key k = acct_key(MR_SUBSPACE_CHANGELOG, account, 0x00);
	int64_t v = 0;
	int rc = mr_data_get_counter(d, mr_key_slice(&k), &v);
	if (rc == 0)
		snprintf(out, 24, "%lld", (long long)v);
	return rc;
}

int mr_model_changes(mr_data *d, uint32_t account, mr_change_type type, const char *since, size_t limit,
		     mr_model_change_fn fn, void *payload, bool *more)
{
	char *end = NULL;
	unsigned long long s = strtoull(since ? since : "0", &end, 10);
	if (!since || !*since || *end)
		return mr_error_set(MR_EINVALID, "state \"%s\" is not a state of this account", since ? since : "");
	*more = false;
	mr_key ok = acct_key(MR_SUBSPACE_CHANGELOG, account, 0x03);
	mr_buf ov = MR_BUF_INIT;
	int orc = mr_data_get(d, mr_key_slice(&ok), &ov);
	if (orc == 0 && ov.len == 8 && (uint64_t)s < rd64(ov.ptr)) {
		unsigned long long oldest = (unsigned long long)rd64(ov.ptr);
		mr_buf_dispose(&ov);
		return mr_error_set(MR_ENOTFOUND,
				    "cannot calculate changes: state %llu is older than the change log keeps (oldest %llu)",
				    s, oldest);
	}
	mr_buf_dispose(&ov);
	if (orc != 0 && orc != MR_ENOTFOUND)
		return orc;
	mr_key p = acct_key(MR_SUBSPACE_CHANGELOG, account, 0x01);
	mr_key_u8(&p, (uint8_t)type);
	prefix_scan sc;
	scan_init(&sc, &p);
	mr_key b = p;
	mr_key_u64(&b, (uint64_t)s + 1);
	sc.r.begin = mr_key_slice(&b);
	if (limit)
		sc.r.limit = limit + 1;
	int rc = mr_data_scan(d, &sc.r, &sc.it);
	if (rc)
		return rc;
	size_t n = 0;
	while ((rc = scan_next(&sc)) == 1) {
		if (limit && n == limit) {
			*more = true;
			break;
		}
		if (sc.k.len != 12 || sc.v.len != 1) {
			rc = mr_error_set(MR_ECORRUPT, "mail model: bad change-log entry");
			break;
		}
		if ((rc = fn((mr_change_op)sc.v.ptr[0], rd32(sc.k.ptr + 8), rd64(sc.k.ptr), payload)) != 0)
			break;
		n++;
	}
	return scan_close(&sc, rc);
}

/* ---- mailboxes ---- */

static mr_key mailbox_name_key(uint32_t account, const char *name)
{
	mr_key k = acct_key(MR_SUBSPACE_MAILBOX, account, 0x01);
	mr_key_str(&k, name);
	return k;
}

static mr_key mailbox_rec_key(uint32_t account, uint32_t id)
{
	mr_key k = acct_key(MR_SUBSPACE_MAILBOX, account, 0x02);
	mr_key_u32(&k, id);
	return k;
}

static mr_key mailbox_counter_key(uint32_t account, uint8_t tag, uint32_t id)
{
	mr_key k = acct_key(MR_SUBSPACE_MAILBOX, account, tag);
	mr_key_u32(&k, id);
	return k;
}

int mr_model_mailbox(mr_data *d, uint32_t account, const char *name, bool create, uint32_t *id)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len >= sizeof(((mr_mailbox_info *)0)->name))
		return mr_error_set(MR_EINVALID, "mailbox name must be 1 to %zu bytes",
				    sizeof(((mr_mailbox_info *)0)->name) - 1);
	mr_key nk = mailbox_name_key(account, name);
	for (int attempt = 0; attempt < 5; attempt++) {
		int rc = get_u32(d, &nk, id);
		if (rc != MR_ENOTFOUND)
			return rc;
		if (!create)
			return mr_error_set(MR_ENOTFOUND, "no mailbox \"%s\"", name);
		uint32_t parent = 0;
		const char *slash = strrchr(name, '/');
		if (slash && slash != name) {
			char pname[512];
			memcpy(pname, name, (size_t)(slash - name));
			pname[slash - name] = 0;
			if ((rc = mr_model_mailbox(d, account, pname, true, &parent)) != 0)
				return rc;
		}
		mr_key ck = acct_key(MR_SUBSPACE_MAILBOX, account, 0x00);
		int64_t next = 0;
		if ((rc = mr_data_add_and_get(d, mr_key_slice(&ck), 1, &next)) != 0)
			return rc;
		if (next <= 0 || next > UINT32_MAX)
			return mr_error_set(MR_ELIMIT, "no mailbox id left");
		uint64_t seq = 0;
		if ((rc = reserve_seq(d, account, 1, &seq)) != 0)
			return rc;
		uint32_t uidvalidity = (uint32_t)time(NULL);
		if (uidvalidity == 0)
			uidvalidity = 1;
		mr_buf rec = {0};
		uint8_t hdr[4 + 1 + 4 + 8];
		be32(hdr, parent);
		hdr[4] = (uint8_t)mr_mailbox_role_guess(name);
		be32(hdr + 5, uidvalidity);
		be64(hdr + 9, (uint64_t)mr_now_unix_ms());
		if (mr_buf_put(&rec, hdr, sizeof(hdr)) || mr_buf_put(&rec, name, len))
			return MR_ENOMEM;
		mr_batch *b = NULL;
		if ((rc = mr_batch_new(&b, d)) != 0) {
			mr_buf_dispose(&rec);
			return rc;
		}
		uint8_t v[4];
		be32(v, (uint32_t)next);
		mr_key rk = mailbox_rec_key(account, (uint32_t)next);
		mr_batch_assert_absent(b, mr_key_slice(&nk));
		mr_batch_set(b, mr_key_slice(&nk), mr_slice_of(v, 4));
		mr_batch_set(b, mr_key_slice(&rk), mr_buf_slice(&rec));
		change_entry(b, account, MR_CHANGE_MAILBOX, seq, (uint32_t)next, MR_CHANGE_CREATED);
		change_marker(b, account, seq);
		rc = mr_batch_commit(b);
		mr_batch_free(b);
		mr_buf_dispose(&rec);
		if (rc == 0) {
			*id = (uint32_t)next;
			return 0;
		}
		if (rc != MR_ECONFLICT)
			return rc;
	}
	return mr_error_set(MR_ECONFLICT, "mailbox \"%s\": could not create it (concurrent writers)", name);
}

static int decode_mailbox(mr_data *d, uint32_t account, uint32_t id, mr_slice v, mr_mailbox_info *out)
{
	if (v.len < 17 || v.len - 17 >= sizeof(out->name))
		return mr_error_set(MR_ECORRUPT, "mail model: bad mailbox record %u", id);
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->parent = rd32(v.ptr);
	out->role = (mr_mailbox_role)v.ptr[4];
	out->uidvalidity = rd32(v.ptr + 5);
	out->created_ms = (int64_t)rd64(v.ptr + 9);
	memcpy(out->name, v.ptr + 17, v.len - 17);
	int64_t last = 0;
	mr_key uk = mailbox_counter_key(account, 0x03, id);
	int rc = mr_data_get_counter(d, mr_key_slice(&uk), &last);
	out->uidnext = (uint32_t)last + 1;
	mr_key mk = mailbox_counter_key(account, 0x04, id);
	if (rc == 0)
		rc = mr_data_get_counter(d, mr_key_slice(&mk), &out->messages);
	return rc;
}

int mr_model_mailbox_get(mr_data *d, uint32_t account, uint32_t id, mr_mailbox_info *out)
{
	mr_key k = mailbox_rec_key(account, id);
	mr_buf v = {0};
	int rc = mr_data_get(d, mr_key_slice(&k), &v);
	if (rc == MR_ENOTFOUND)
		rc = mr_error_set(MR_ENOTFOUND, "no mailbox %u", id);
	if (rc == 0)
		rc = decode_mailbox(d, account, id, mr_buf_slice(&v), out);
	mr_buf_dispose(&v);
	return rc;
}

int mr_model_mailboxes(mr_data *d, uint32_t account, mr_model_mailbox_fn fn, void *payload)
{
	mr_key p = acct_key(MR_SUBSPACE_MAILBOX, account, 0x01);
	prefix_scan s;
	int rc = scan_open(&s, d, &p, 0);
	if (rc)
		return rc;
	while ((rc = scan_next(&s)) == 1) {
		if (s.v.len < 4) {
			rc = mr_error_set(MR_ECORRUPT, "mail model: bad mailbox name entry");
			break;
		}
		mr_mailbox_info mb;
		if ((rc = mr_model_mailbox_get(d, account, rd32(s.v.ptr), &mb)) != 0)
			break;
		if ((rc = fn(&mb, payload)) != 0)
			break;
	}
	return scan_close(&s, rc);
}

int mr_model_reserve_uids(mr_data *d, uint32_t account, uint32_t mailbox, uint32_t n, uint32_t *first)
{
	mr_key k = mailbox_counter_key(account, 0x03, mailbox);
	int64_t last = 0;
	int rc = mr_data_add_and_get(d, mr_key_slice(&k), n, &last);
	if (rc)
		return rc;
	if (last > UINT32_MAX)
		return mr_error_set(MR_ELIMIT, "mailbox %u: no UID left (UIDVALIDITY must change)", mailbox);
	*first = (uint32_t)(last - n + 1);
	return 0;
}

/* ---- emails ---- */

typedef struct pending_member {
	uint32_t email, mailbox, uid;
	bool created; /* the email is new (else: updated) */
} pending_member;

typedef struct pending_thread {
	uint32_t thread;
	bool created;
} pending_thread;

typedef struct uid_range {
	uint32_t mailbox, next, limit; /* next < limit: reserved and unused */
} uid_range;

struct mr_model_writer {
	mr_data *d;
	mr_blob *blobs;
	uint32_t account;
	hmap blobs_seen;   /* blob id -> email id (pending: this batch) */
	hmap members;      /* (email, mailbox) -> 1 (pending: this batch) */
	hmap threads;      /* thread key -> thread id */
	pending_member *pm;
	size_t npm, cappm;
	pending_thread *pt;
	size_t npt, cappt;
	uint32_t email_next, email_limit;
	uint32_t thread_next, thread_limit;
	uid_range *uids;
	size_t nuids;
	mr_buf rec, tkey;
};

int mr_model_writer_new(mr_model_writer **out, mr_data *d, mr_blob *blobs, uint32_t account)
{
	mr_model_writer *w = mr_calloc(1, sizeof(*w));
	if (!w)
		return MR_ENOMEM;
	w->d = d;
	w->blobs = blobs;
	w->account = account;
	*out = w;
	return 0;
}

void mr_model_writer_free(mr_model_writer *w)
{
	if (!w)
		return;
	hmap_dispose(&w->blobs_seen);
	hmap_dispose(&w->members);
	hmap_dispose(&w->threads);
	mr_free(w->pm);
	mr_free(w->pt);
	mr_free(w->uids);
	mr_buf_dispose(&w->rec);
	mr_buf_dispose(&w->tkey);
	mr_free(w);
}

/* Ids from a counter, reserved 64 at a time (unused ones are gaps). */
static int next_id(mr_model_writer *w, uint8_t sub, uint32_t *next, uint32_t *limit, uint32_t *out)
{
	if (*next >= *limit) {
		mr_key k = acct_key(sub, w->account, 0x00);
		int64_t last = 0;
		int rc = mr_data_add_and_get(w->d, mr_key_slice(&k), 64, &last);
		if (rc)
			return rc;
		if (last > UINT32_MAX - 1)
			return mr_error_set(MR_ELIMIT, "account %u: no id left", w->account);
		*next = (uint32_t)(last - 63);
		*limit = (uint32_t)last + 1;
	}
	*out = (*next)++;
	return 0;
}

static int next_uid(mr_model_writer *w, uint32_t mailbox, uint32_t *uid)
{
	uid_range *r = NULL;
	for (size_t i = 0; i < w->nuids; i++)
		if (w->uids[i].mailbox == mailbox)
			r = &w->uids[i];
	if (!r) {
		uid_range *v = mr_realloc(w->uids, (w->nuids + 1) * sizeof(*v));
		if (!v)
			return MR_ENOMEM;
		w->uids = v;
		r = &w->uids[w->nuids++];
		*r = (uid_range){.mailbox = mailbox};
	}
	if (r->next >= r->limit) {
		uint32_t first = 0;
		int rc = mr_model_reserve_uids(w->d, w->account, mailbox, 64, &first);
		if (rc)
			return rc;
		r->next = first;
		r->limit = first + 64;
	}
	*uid = r->next++;
	return 0;
}

static int put_str(mr_buf *b, const char *s)
{
	size_t n = capped_len(s, MAX_FIELD);
	uint8_t l[2] = {(uint8_t)(n >> 8), (uint8_t)n};
	int rc = mr_buf_put(b, l, 2);
	return rc ? rc : mr_buf_put(b, s ? s : "", n);
}

static int thread_lookup(mr_model_writer *w, const char *key, uint32_t *thread)
{
	size_t n = strlen(key);
	hent *e = hmap_find(&w->threads, key, n);
	if (e) {
		*thread = e->val;
		return 0;
	}
	mr_key k = acct_key(MR_SUBSPACE_THREAD, w->account, 0x01);
	mr_key_str(&k, key);
	if (k.err)
		return MR_ENOTFOUND; /* too long to be a key: treat as unknown */
	int rc = get_u32(w->d, &k, thread);
	if (rc == 0)
		rc = hmap_put(&w->threads, key, n, *thread, false);
	return rc;
}

static int thread_bind(mr_model_writer *w, mr_batch *b, const char *key, uint32_t thread)
{
	mr_key k = acct_key(MR_SUBSPACE_THREAD, w->account, 0x01);
	mr_key_str(&k, key);
	if (k.err)
		return 0; /* an id too long for a key is not linked */
	uint8_t v[4];
	be32(v, thread);
	int rc = mr_batch_set(b, mr_key_slice(&k), mr_slice_of(v, 4));
	return rc ? rc : hmap_put(&w->threads, key, strlen(key), thread, true);
}

static int assign_thread(mr_model_writer *w, mr_batch *b, const mr_email_new *e, uint32_t email, uint32_t *out)
{
	mr_buf *key = &w->tkey;
	uint32_t thread = 0;
	bool found = false;
	int rc = 0;
	for (size_t i = 0; i < e->nthread_ids && !found; i++) {
		mr_buf_clear(key);
		if ((rc = mr_buf_printf(key, "id:%s", e->thread_ids[i])) != 0)
			return rc;
		rc = thread_lookup(w, mr_buf_cstr(key), &thread);
		if (rc == 0)
			found = true;
		else if (rc != MR_ENOTFOUND)
			return rc;
	}
	/* A reply without References/In-Reply-To joins the thread of its base subject. */
	bool reply_by_subject = e->nthread_ids <= 1 && e->thread_subject && *e->thread_subject;
	if (!found && reply_by_subject) {
		mr_buf_clear(key);
		if ((rc = mr_buf_printf(key, "subject:%s", e->thread_subject)) != 0)
			return rc;
		rc = thread_lookup(w, mr_buf_cstr(key), &thread);
		if (rc == 0)
			found = true;
		else if (rc != MR_ENOTFOUND)
			return rc;
	}
	bool created = !found;
	if (created && (rc = next_id(w, MR_SUBSPACE_THREAD, &w->thread_next, &w->thread_limit, &thread)) != 0)
		return rc;
	for (size_t i = 0; i < e->nthread_ids; i++) {
		mr_buf_clear(key);
		if ((rc = mr_buf_printf(key, "id:%s", e->thread_ids[i])) != 0)
			return rc;
		uint32_t t = 0;
		int lr = thread_lookup(w, mr_buf_cstr(key), &t);
		if (lr == MR_ENOTFOUND)
			rc = thread_bind(w, b, mr_buf_cstr(key), thread);
		else
			rc = lr;
		if (rc)
			return rc;
	}
	if (created && e->thread_subject && *e->thread_subject) {
		mr_buf_clear(key);
		if ((rc = mr_buf_printf(key, "subject:%s", e->thread_subject)) != 0)
			return rc;
		uint32_t t = 0;
		int lr = thread_lookup(w, mr_buf_cstr(key), &t);
		if (lr == MR_ENOTFOUND)
			rc = thread_bind(w, b, mr_buf_cstr(key), thread);
		else
			rc = lr;
		if (rc)
			return rc;
	}
	mr_key tk = acct_key(MR_SUBSPACE_THREAD, w->account, 0x02);
	mr_key_u32(&tk, thread);
	mr_key_u32(&tk, email);
	if ((rc = mr_batch_set(b, mr_key_slice(&tk), MR_SLICE_EMPTY)) != 0)
		return rc;
	if (w->npt == w->cappt) {
		size_t cap = w->cappt ? w->cappt * 2 : 64;
		pending_thread *v = mr_realloc(w->pt, cap * sizeof(*v));
		if (!v)
			return MR_ENOMEM;
		w->pt = v;
		w->cappt = cap;
	}
	w->pt[w->npt++] = (pending_thread){thread, created};
	*out = thread;
	return 0;
}

static int member_exists(mr_model_writer *w, uint32_t email, uint32_t mailbox, bool *exists)
{
	uint8_t mk[8];
	be32(mk, email);
	be32(mk + 4, mailbox);
	if (hmap_find(&w->members, mk, 8)) {
		*exists = true;
		return 0;
	}
	mr_key k = acct_key(MR_SUBSPACE_MEMBERSHIP, w->account, 0x02);
	mr_key_u32(&k, email);
	mr_key_u32(&k, mailbox);
	mr_buf v = {0};
	int rc = mr_data_get(w->d, mr_key_slice(&k), &v);
	mr_buf_dispose(&v);
	if (rc == 0) {
		*exists = true;
		return hmap_put(&w->members, mk, 8, 1, false);
	}
	if (rc == MR_ENOTFOUND) {
		*exists = false;
		return 0;
	}
	return rc;
}

static int add_pending_member(mr_model_writer *w, uint32_t email, uint32_t mailbox, bool created)
{
	if (w->npm == w->cappm) {
		size_t cap = w->cappm ? w->cappm * 2 : 256;
		pending_member *v = mr_realloc(w->pm, cap * sizeof(*v));
		if (!v)
			return MR_ENOMEM;
		w->pm = v;
		w->cappm = cap;
	}
	uint32_t uid = 0;
	int rc = next_uid(w, mailbox, &uid);
	if (rc)
		return rc;
	w->pm[w->npm++] = (pending_member){email, mailbox, uid, created};
	uint8_t mk[8];
	be32(mk, email);
	be32(mk + 4, mailbox);
	return hmap_put(&w->members, mk, 8, 1, true);
}

int mr_model_email_add(mr_model_writer *w, mr_batch *b, uint32_t mailbox, const mr_email_new *e,
		       mr_email_outcome *outcome, uint32_t *email_id)
{
	int rc;
	/* same blob already an email of this account? */
	uint32_t existing = 0;
	hent *he = hmap_find(&w->blobs_seen, e->blob.bytes, MR_BLOB_ID_LEN);
	mr_key bk = acct_key(MR_SUBSPACE_EMAIL, w->account, 0x02);
	mr_key_tail(&bk, e->blob.bytes, MR_BLOB_ID_LEN);
	if (he) {
		existing = he->val;
		rc = 0;
	} else {
		rc = get_u32(w->d, &bk, &existing);
		if (rc == 0)
			rc = hmap_put(&w->blobs_seen, e->blob.bytes, MR_BLOB_ID_LEN, existing, false);
		else if (rc != MR_ENOTFOUND)
			return rc;
	}
	if (rc == 0) {
		bool exists = false;
		if ((rc = member_exists(w, existing, mailbox, &exists)) != 0)
			return rc;
		*email_id = existing;
		if (exists) {
			*outcome = MR_EMAIL_DUPLICATE;
			return 0;
		}
		*outcome = MR_EMAIL_ADDED;
		return add_pending_member(w, existing, mailbox, false);
	}

	/* a new email */
	uint32_t id = 0, thread = 0;
	if ((rc = next_id(w, MR_SUBSPACE_EMAIL, &w->email_next, &w->email_limit, &id)) != 0)
		return rc;
	if ((rc = assign_thread(w, b, e, id, &thread)) != 0)
		return rc;
	mr_buf *r = &w->rec;
	mr_buf_clear(r);
	uint8_t hdr[1 + 4 + MR_BLOB_ID_LEN + 8 + 8 + 8 + 4 + 4];
	uint8_t *p = hdr;
	*p++ = RECORD_VERSION;
	be32(p, thread), p += 4;
	memcpy(p, e->blob.bytes, MR_BLOB_ID_LEN), p += MR_BLOB_ID_LEN;
	be64(p, e->size), p += 8;
	be64(p, (uint64_t)e->received_at), p += 8;
	be64(p, (uint64_t)e->sent_at), p += 8;
	be32(p, e->flags), p += 4;
	be32(p, (uint32_t)e->nwarnings);
	if ((rc = mr_buf_put(r, hdr, sizeof(hdr))) || (rc = put_str(r, e->keywords)) || (rc = put_str(r, e->from)) ||
	    (rc = put_str(r, e->subject)) || (rc = put_str(r, e->message_id)) || (rc = put_str(r, e->in_reply_to)))
		return rc;
	mr_key ek = acct_key(MR_SUBSPACE_EMAIL, w->account, 0x01);
	mr_key_u32(&ek, id);
	uint8_t idv[4];
	be32(idv, id);
	if ((rc = mr_batch_set(b, mr_key_slice(&ek), mr_buf_slice(r))) ||
	    (rc = mr_batch_set(b, mr_key_slice(&bk), mr_slice_of(idv, 4))))
		return rc;
	if (e->nwarnings) {
		mr_buf_clear(r);
		for (size_t i = 0; i < e->nwarnings && rc == 0; i++)
			rc = mr_buf_printf(r, "%s\n", e->warnings[i]);
		mr_key wk = acct_key(MR_SUBSPACE_EMAIL, w->account, 0x03);
		mr_key_u32(&wk, id);
		if (rc || (rc = mr_batch_set(b, mr_key_slice(&wk), mr_buf_slice(r))))
			return rc;
	}
	mr_blob_owner owner = {.account = w->account, .collection = MR_BLOB_COLL_EMAIL, .document = id};
	if ((rc = mr_blob_link(w->blobs, b, &e->blob, &owner)) != 0)
		return rc;
	mr_key t2 = total_key(2), t4 = total_key(4);
	if ((rc = mr_batch_add(b, mr_key_slice(&t2), 1)) || (rc = mr_batch_add(b, mr_key_slice(&t4), (int64_t)e->size)))
		return rc;
	if ((rc = hmap_put(&w->blobs_seen, e->blob.bytes, MR_BLOB_ID_LEN, id, true)) != 0)
		return rc;
	*email_id = id;
	*outcome = MR_EMAIL_CREATED;
	return add_pending_member(w, id, mailbox, true);
}

int mr_model_writer_seal(mr_model_writer *w, mr_batch *b)
{
	size_t n = w->npm + w->npt;
	if (n == 0)
		return 0;
	uint64_t seq = 0;
	int rc = reserve_seq(w->d, w->account, (uint32_t)n, &seq);
	if (rc)
		return rc;
	mr_key t3 = total_key(3);
	rc = change_marker(b, w->account, seq);
	for (size_t i = 0; i < w->npm && rc == 0; i++, seq++) {
		const pending_member *m = &w->pm[i];
		uint8_t v[12];
		mr_key k1 = acct_key(MR_SUBSPACE_MEMBERSHIP, w->account, 0x01);
		mr_key_u32(&k1, m->mailbox);
		mr_key_u32(&k1, m->uid);
		be32(v, m->email);
		be64(v + 4, seq);
		rc = mr_batch_set(b, mr_key_slice(&k1), mr_slice_of(v, 12));
		mr_key k2 = acct_key(MR_SUBSPACE_MEMBERSHIP, w->account, 0x02);
		mr_key_u32(&k2, m->email);
		mr_key_u32(&k2, m->mailbox);
		be32(v, m->uid);
		if (rc == 0)
			rc = mr_batch_set(b, mr_key_slice(&k2), mr_slice_of(v, 12));
		mr_key ck = mailbox_counter_key(w->account, 0x04, m->mailbox);
		if (rc == 0)
			rc = mr_batch_add(b, mr_key_slice(&ck), 1);
		if (rc == 0)
			rc = mr_batch_add(b, mr_key_slice(&t3), 1);
		if (rc == 0)
			rc = change_entry(b, w->account, MR_CHANGE_EMAIL, seq, m->email,
					  m->created ? MR_CHANGE_CREATED : MR_CHANGE_UPDATED);
	}
	for (size_t i = 0; i < w->npt && rc == 0; i++, seq++)
		rc = change_entry(b, w->account, MR_CHANGE_THREAD, seq, w->pt[i].thread,
				  w->pt[i].created ? MR_CHANGE_CREATED : MR_CHANGE_UPDATED);
	return rc;
}

void mr_model_writer_committed(mr_model_writer *w)
{
	hmap_settle(&w->blobs_seen, true);
	hmap_settle(&w->members, true);
	hmap_settle(&w->threads, true);
	w->npm = w->npt = 0;
}

void mr_model_writer_abort(mr_model_writer *w)
{
	hmap_settle(&w->blobs_seen, false);
	hmap_settle(&w->members, false);
	hmap_settle(&w->threads, false);
	w->npm = w->npt = 0;
}

static int get_str(const uint8_t **p, const uint8_t *end, mr_buf *out, size_t *off)
{
	if (end - *p < 2)
		return MR_ECORRUPT;
	size_t n = (size_t)(*p)[0] << 8 | (*p)[1];
	*p += 2;
	if ((size_t)(end - *p) < n)
		return MR_ECORRUPT;
	*off = out->len;
	int rc = mr_buf_put(out, *p, n);
	if (rc == 0)
		rc = mr_buf_put(out, "", 1);
	*p += n;
	return rc;
}

int mr_model_email_get(mr_data *d, uint32_t account, uint32_t id, mr_email *out, mr_buf *buf)
{
	mr_key k = acct_key(MR_SUBSPACE_EMAIL, account, 0x01);
	mr_key_u32(&k, id);
	mr_buf v = {0};
	int rc = mr_data_get(d, mr_key_slice(&k), &v);
	if (rc == MR_ENOTFOUND)
		rc = mr_error_set(MR_ENOTFOUND, "no email %u", id);
	if (rc) {
		mr_buf_dispose(&v);
		return rc;
	}
	memset(out, 0, sizeof(*out));
	const size_t hl = 1 + 4 + MR_BLOB_ID_LEN + 8 + 8 + 8 + 4 + 4;
	const uint8_t *p = v.ptr, *end = v.ptr + v.len;
	if (v.len < hl || p[0] != RECORD_VERSION) {
		mr_buf_dispose(&v);
		return mr_error_set(MR_ECORRUPT, "mail model: bad record of email %u", id);
	}
	out->id = id;
	out->thread = rd32(p + 1);
	memcpy(out->blob.bytes, p + 5, MR_BLOB_ID_LEN);
	p += 5 + MR_BLOB_ID_LEN;
	out->size = rd64(p), p += 8;
	out->received_at = (int64_t)rd64(p), p += 8;
	out->sent_at = (int64_t)rd64(p), p += 8;
	out->flags = rd32(p), p += 4;
	out->warnings = rd32(p), p += 4;
	mr_buf_clear(buf);
	size_t off[5];
	for (int i = 0; i < 5; i++)
		if ((rc = get_str(&p, end, buf, &off[i])) != 0) {
			mr_buf_dispose(&v);
			return rc == MR_ENOMEM ? rc : mr_error_set(MR_ECORRUPT, "mail model: bad record of email %u", id);
		}
	mr_buf_dispose(&v);
	const char *s = (const char *)buf->ptr;
	snprintf(out->keywords, sizeof(out->keywords), "%s", s + off[0]);
	out->from = s + off[1];
	out->subject = s + off[2];
	out->message_id = s + off[3];
	out->in_reply_to = s + off[4];
	return 0;
}

int mr_model_email_warnings(mr_data *d, uint32_t account, uint32_t id, mr_buf *out)
{
	mr_key k = acct_key(MR_SUBSPACE_EMAIL, account, 0x03);
	mr_key_u32(&k, id);
	int rc = mr_data_get(d, mr_key_slice(&k), out);
	return rc == MR_ENOTFOUND ? 0 : rc;
}

int mr_model_email_mailboxes(mr_data *d, uint32_t account, uint32_t id, mr_membership *out, size_t cap,
			     size_t *n)
{
	mr_key p = acct_key(MR_SUBSPACE_MEMBERSHIP, account, 0x02);
	mr_key_u32(&p, id);
	prefix_scan s;
	int rc = scan_open(&s, d, &p, 0);
	if (rc)
		return rc;
	*n = 0;
	while ((rc = scan_next(&s)) == 1) {
		if (s.k.len != 4 || s.v.len != 12) {
			rc = mr_error_set(MR_ECORRUPT, "mail model: bad membership entry");
			break;
		}
		if (*n < cap)
			out[*n] = (mr_membership){rd32(s.k.ptr), rd32(s.v.ptr), rd64(s.v.ptr + 4)};
		(*n)++;
	}
	return scan_close(&s, rc);
}

int mr_model_mailbox_members(mr_data *d, uint32_t account, uint32_t mailbox, mr_model_member_fn fn, void *payload)
{
	mr_key p = acct_key(MR_SUBSPACE_MEMBERSHIP, account, 0x01);
	mr_key_u32(&p, mailbox);
	prefix_scan s;
	int rc = scan_open(&s, d, &p, 0);
	if (rc)
		return rc;
	while ((rc = scan_next(&s)) == 1) {
		if (s.k.len != 4 || s.v.len != 12) {
			rc = mr_error_set(MR_ECORRUPT, "mail model: bad membership entry");
			break;
		}
		if ((rc = fn(rd32(s.k.ptr), rd32(s.v.ptr), rd64(s.v.ptr + 4), payload)) != 0)
			break;
	}
	return scan_close(&s, rc);
}

int mr_model_thread_emails(mr_data *d, uint32_t account, uint32_t thread, uint32_t *out, size_t cap, size_t *n)
{
	mr_key p = acct_key(MR_SUBSPACE_THREAD, account, 0x02);
	mr_key_u32(&p, thread);
	prefix_scan s;
	int rc = scan_open(&s, d, &p, MR_SCAN_KEYS_ONLY);
	if (rc)
		return rc;
	*n = 0;
	while ((rc = scan_next(&s)) == 1) {
		if (s.k.len != 4) {
			rc = mr_error_set(MR_ECORRUPT, "mail model: bad thread entry");
			break;
		}
		if (*n < cap)
			out[*n] = rd32(s.k.ptr);
		(*n)++;
	}
	return scan_close(&s, rc);
}

int mr_model_totals_get(mr_data *d, mr_model_totals *out)
{
	memset(out, 0, sizeof(*out));
	int64_t *dst[] = {&out->accounts, &out->emails, &out->memberships, &out->bytes};
	for (uint8_t i = 0; i < 4; i++) {
		mr_key k = total_key((uint8_t)(i + 1));
		int rc = mr_data_get_counter(d, mr_key_slice(&k), dst[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int mr_model_account_blobs(mr_data *d, uint32_t account, mr_model_blob_fn fn, void *payload)
{
	mr_key p = acct_key(MR_SUBSPACE_EMAIL, account, 0x02);
	prefix_scan s;
	int rc = scan_open(&s, d, &p, 0);
	if (rc)
		return rc;
	while ((rc = scan_next(&s)) == 1) {
		if (s.k.len != MR_BLOB_ID_LEN || s.v.len < 4) {
			rc = mr_error_set(MR_ECORRUPT, "mail model: bad blob entry");
			break;
		}
		mr_blob_id id;
		memcpy(id.bytes, s.k.ptr, MR_BLOB_ID_LEN);
		if ((rc = fn(&id, rd32(s.v.ptr), payload)) != 0)
			break;
	}
	return scan_close(&s, rc);
}

/* ---- collections ---- */

static mr_key collection_key(uint32_t account, mr_collection_kind kind, const char *name)
{
	mr_key k;
	mr_key_init(&k, MR_SUBSPACE_COLLECTION);
	mr_key_u32(&k, account);
	mr_key_u8(&k, (uint8_t)kind);
	mr_key_str(&k, name);
	return k;
}

int mr_model_collection_put(mr_data *d, uint32_t account, mr_collection_kind kind, const char *name,
			    mr_slice value)
{
	mr_key k = collection_key(account, kind, name);
	if (k.err)
		return k.err;
	mr_batch *b = NULL;
	int rc = mr_batch_new(&b, d);
	if (rc)
		return rc;
	mr_batch_set(b, mr_key_slice(&k), value);
	rc = mr_batch_commit(b);
	mr_batch_free(b);
	return rc;
}

int mr_model_collection_get(mr_data *d, uint32_t account, mr_collection_kind kind, const char *name,
			    mr_buf *value)
{
	mr_key k = collection_key(account, kind, name);
	if (k.err)
		return k.err;
	int rc = mr_data_get(d, mr_key_slice(&k), value);
	if (rc == MR_ENOTFOUND)
		return mr_error_set(MR_ENOTFOUND, "no collection \"%s\" of kind %d", name, (int)kind);
	return rc;
}

int mr_model_collection_delete(mr_data *d, uint32_t account, mr_collection_kind kind, const char *name)
{
	mr_key k = collection_key(account, kind, name);
	if (k.err)
		return k.err;
	mr_batch *b = NULL;
	int rc = mr_batch_new(&b, d);
	if (rc)
		return rc;
	mr_batch_clear(b, mr_key_slice(&k));
	rc = mr_batch_commit(b);
	mr_batch_free(b);
	return rc;
}

/* ---- change-log retention ---- */

typedef struct retention {
	mr_data *d;
	int64_t older_than_ms;
	volatile const int *stop;
	uint64_t deleted;
	bool stopped;
} retention;

/* Deletes the keys of range r in batches of 512; counts them. */
static int delete_range(retention *rt, mr_range *r, uint64_t *count)
{
	for (;;) {
		mr_iter *it = NULL;
		int rc = mr_data_scan(rt->d, r, &it);
		if (rc)
			return rc;
		mr_batch *b = NULL;
		if ((rc = mr_batch_new(&b, rt->d)) != 0) {
			mr_iter_free(it);
			return rc;
		}
		mr_slice k, v;
		size_t n = 0;
		while (n < 512 && (rc = mr_iter_next(it, &k, &v)) == 1) {
			if ((rc = mr_batch_clear(b, k)) != 0)
				break;
			n++;
		}
		mr_iter_free(it);
		if (rc >= 0 && n > 0)
			rc = mr_batch_commit(b);
		mr_batch_free(b);
		if (rc < 0)
			return rc;
		*count += n;
		if (n < 512)
			return 0;
	}
}

static int retain_account(const char *name, uint32_t account, void *payload)
{
	(void)name;
	retention *rt = payload;
	if (rt->stop && *rt->stop) {
		rt->stopped = true;
		return 1;
	}
	/* the newest commit older than the cutoff: every change before the next commit's first seq goes */
	mr_key mp = acct_key(MR_SUBSPACE_CHANGELOG, account, 0x02);
	prefix_scan s;
	int rc = scan_open(&s, rt->d, &mp, 0);
	if (rc)
		return rc;
	uint64_t cut = 0; /* first seq kept */
	bool any_old = false;
	while ((rc = scan_next(&s)) == 1) {
		if (s.k.len != 8 || s.v.len != 8) {
			rc = mr_error_set(MR_ECORRUPT, "mail model: bad change-log time marker");
			break;
		}
		uint64_t seq = rd64(s.k.ptr);
		if ((int64_t)rd64(s.v.ptr) >= rt->older_than_ms) {
			cut = seq;
			break;
		}
		any_old = true;
	}
	if ((rc = scan_close(&s, rc)) != 0)
		return rc;
	if (!any_old)
		return 0;
	if (cut == 0) {
		/* every commit is old: keep nothing before the next sequence */
		mr_key ck = acct_key(MR_SUBSPACE_CHANGELOG, account, 0x00);
		int64_t last = 0;
		if ((rc = mr_data_get_counter(rt->d, mr_key_slice(&ck), &last)) != 0)
			return rc;
		cut = (uint64_t)last + 1;
	}
	/* first the oldest answerable state, so no reader is told "no changes" for a gap */
	mr_key ok = acct_key(MR_SUBSPACE_CHANGELOG, account, 0x03);
	uint8_t ov[8];
	be64(ov, cut - 1);
	mr_batch *b = NULL;
	if ((rc = mr_batch_new(&b, rt->d)) != 0)
		return rc;
	rc = mr_batch_set(b, mr_key_slice(&ok), mr_slice_of(ov, 8));
	if (rc == 0)
		rc = mr_batch_commit(b);
	mr_batch_free(b);
	if (rc)
		return rc;
	for (int type = MR_CHANGE_EMAIL; type <= MR_CHANGE_THREAD && rc == 0; type++) {
		mr_key tp = acct_key(MR_SUBSPACE_CHANGELOG, account, 0x01);
		mr_key_u8(&tp, (uint8_t)type);
		uint8_t tend[MR_DATA_MAX_KEY];
		mr_range tr = mr_range_prefix(mr_key_slice(&tp), tend, sizeof(tend));
		mr_key te = tp;
		mr_key_u64(&te, cut);
		tr.end = mr_key_slice(&te);
		rc = delete_range(rt, &tr, &rt->deleted);
	}
	if (rc == 0) {
		uint64_t markers = 0;
		mr_key me = mp;
		mr_key_u64(&me, cut);
		s.r.end = mr_key_slice(&me);
		rc = delete_range(rt, &s.r, &markers);
	}
	return rc;
}

int mr_model_changes_purge(mr_data *d, int64_t older_than_ms, volatile const int *stop, uint64_t *deleted,
			   bool *complete, void *payload)
{
	(void)payload;
	retention rt = {.d = d, .older_than_ms = older_than_ms, .stop = stop};
	int rc = mr_model_accounts(d, retain_account, &rt);
	*deleted = rt.deleted;
	*complete = !rt.stopped;
	return rc < 0 ? rc : 0;
}
