/*
 * blob_crash.c — writers SIGKILLed in put/link loops leave no link to a
 * missing blob, and a later purge deletes only garbage.
 *
 * argv[1]: fs (metadata in SQLite) | data_sqlite | data_rocksdb.
 * Each round forks a writer that loops: put a blob (random sizes, some
 * contents repeated so dedup happens, compression zstd, small ones inline,
 * half of them deferred puts completed in the link's batch),
 * link it to a new document in a committed batch, sometimes unlink an older
 * document in the same batch.  With a multi-process metadata store a second
 * child purges with grace 0 in every other round (the race the tombstone protocol
 * is for: a blob purged between put and link makes the link fail with
 * MR_ENOTFOUND, and the writer puts it again).  Both are SIGKILLed at a
 * random moment.  Afterwards: every link names a blob whose bytes read back
 * verified; a purge with grace 0 deletes the rest, then nothing more; every
 * link still verifies; records and backend objects number exactly the
 * linked blobs.  Uses the documented key layouts (docs/blob-store.md) to
 * list links and records.
 */
#include "harness.h"
#include "mailroom/blob.h"
#include "mailroom/data.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 6
static const char *mode;
static char dir[] = "/tmp/mr-blob-crash.XXXXXX";
static char cfg_text[2048];

typedef struct shared {
	volatile uint64_t puts, links, unlinks, relinks, purges;
} shared;
static shared *SH;

static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int open_all(mr_config **cfg, mr_data **meta, mr_blob **bs)
{
	int rc = mr_config_parse(cfg, cfg_text, strlen(cfg_text), "crash.toml");
	if (rc == 0)
		rc = mr_data_open(meta, *cfg, mr_config_role(*cfg, "data"));
	if (rc == 0)
		rc = mr_blob_open(bs, *cfg, "b", *meta);
	return rc;
}

static void die(const char *what)
{
	fprintf(stderr, "child %s: %s\n", what, mr_error_last()->message);
	_exit(3);
}

static void writer(unsigned round)
{
	mr_config *cfg = NULL;
	mr_data *meta = NULL;
	mr_blob *bs = NULL;
	if (open_all(&cfg, &meta, &bs) != 0)
		die("open");
	rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull + round;
	uint8_t *buf = malloc(2 << 20);
	uint64_t docs[64];
	mr_blob_id ids[64];
	size_t ndocs = 0;
	for (uint64_t i = 0;; i++) {
		size_t size = rnd() % 10 < 3 ? rnd() % 200 : rnd() % 10 == 0 ? rnd() % (2 << 20) : rnd() % 100000;
		uint64_t seed = rnd() % 10 < 3 ? rnd() % 8 + 1 : rnd();
		uint64_t s = seed;
		for (size_t j = 0; j < size; j++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			buf[j] = (j % 64 < 40) ? (uint8_t)'a' + (uint8_t)(j % 7) : (uint8_t)(s >> 56); /* half compressible */
		}
		mr_blob_id id;
		uint64_t doc = (uint64_t)round * 1000000 + i;
		for (int attempt = 0;; attempt++) {
			/* half the puts deferred (as import makes them): completed
			 * in the link's batch, flushed before its commit */
			mr_blob_ticket t = {0};
			bool deferred = rnd() % 2 == 0;
			int rc = deferred ? mr_blob_put_deferred(bs, buf, size, &t, NULL) : mr_blob_put(bs, buf, size, &id, NULL);
			if (deferred)
				id = t.id;
			if (rc == MR_EUNAVAILABLE || rc == MR_ECONFLICT)
				continue;
			if (rc != 0)
				die("put");
			SH->puts++;
			mr_batch *b = NULL;
			mr_blob_owner o = {1, MR_BLOB_COLL_EMAIL, doc};
			if (mr_batch_new(&b, meta) != 0)
				die("batch");
			rc = mr_blob_complete(bs, b, &t);
			if (rc == 0)
				rc = mr_blob_link(bs, b, &id, &o);
			bool unlinked = false;
			if (rc == 0 && ndocs > 2 && rnd() % 3 == 0) {
				size_t k = rnd() % ndocs;
				mr_blob_owner u = {1, MR_BLOB_COLL_EMAIL, docs[k]};
				rc = mr_blob_unlink(bs, b, &ids[k], &u);
				if (rc == 0) {
					docs[k] = docs[--ndocs];
					ids[k] = ids[ndocs];
					unlinked = true;
				}
			}
			if (rc == 0 && deferred)
				rc = mr_blob_flush(bs);
			if (rc == 0)
				rc = mr_batch_commit(b);
			mr_batch_free(b);
			if (rc == MR_ENOTFOUND || rc == MR_ECONFLICT) {
				SH->relinks++; /* purged between put and link, or raced: put again */
				if (unlinked)
					ndocs++; /* not committed: keep it */
				continue;
			}
			if (rc != 0)
				die("link");
			SH->links++;
			if (unlinked)
				SH->unlinks++;
			break;
		}
		if (ndocs < 64) {
			docs[ndocs] = doc;
			ids[ndocs++] = id;
		}
	}
}

static void purger(void)
{
	mr_config *cfg = NULL;
	mr_data *meta = NULL;
	mr_blob *bs = NULL;
	if (open_all(&cfg, &meta, &bs) != 0)
		die("open");
	for (;;) {
		mr_blob_purge_opts o = {.grace_ms = 0};
		mr_blob_purge_stats st;
		if (mr_blob_purge(bs, &o, &st) != 0)
			die("purge");
		SH->purges++;
		usleep(20000);
	}
}

/* Distinct blob ids that have a link (BLOB_LINK: id, account, collection, document). */
static size_t linked_ids(mr_data *meta, mr_blob_id *out, size_t cap, size_t *nlinks)
{
	uint8_t p = MR_SUBSPACE_BLOB_LINK, end[8];
	mr_range r = mr_range_prefix(mr_slice_of(&p, 1), end, sizeof end);
	r.flags = MR_SCAN_KEYS_ONLY;
	mr_iter *it = NULL;
	size_t n = 0;
	*nlinks = 0;
	if (mr_data_scan(meta, &r, &it) != 0)
		return 0;
	mr_slice k, v;
	while (mr_iter_next(it, &k, &v) > 0) {
		if (k.len != 1 + 32 + 4 + 1 + 8)
			continue;
		(*nlinks)++;
		if (n > 0 && memcmp(out[n - 1].bytes, k.ptr + 1, 32) == 0)
			continue; /* keys are ordered by id */
		if (n < cap)
			memcpy(out[n++].bytes, k.ptr + 1, 32);
	}
	mr_iter_free(it);
	return n;
}

static size_t count_prefix(mr_data *meta, const uint8_t *prefix, size_t len)
{
	uint8_t end[8];
	mr_range r = mr_range_prefix(mr_slice_of(prefix, len), end, sizeof end);
	r.flags = MR_SCAN_KEYS_ONLY;
	mr_iter *it = NULL;
	size_t n = 0;
	if (mr_data_scan(meta, &r, &it) != 0)
		return (size_t)-1;
	mr_slice k, v;
	while (mr_iter_next(it, &k, &v) > 0)
		n++;
	mr_iter_free(it);
	return n;
}

static mr_config *CFG;
static mr_data *META;
static mr_blob *BS;
static mr_blob_id *IDS;
static size_t NIDS, NLINKS;

static void check_links(void)
{
	NIDS = linked_ids(META, IDS, 200000, &NLINKS);
	MR_CHECK(NLINKS > 0);
	mr_buf out = MR_BUF_INIT;
	for (size_t i = 0; i < NIDS; i++) {
		mr_buf_clear(&out);
		MR_CHECK_OK(mr_blob_get(BS, &IDS[i], 0, UINT64_MAX, MR_BLOB_VERIFY, &out));
	}
	mr_buf_dispose(&out);
}

static void check_purge(void)
{
	mr_blob_purge_opts o = {.grace_ms = 0};
	mr_blob_purge_stats st, st2;
	MR_CHECK_OK(mr_blob_purge(BS, &o, &st));
	MR_CHECK(st.complete);
	printf("purge after the crashes: %llu blobs deleted, %llu orphans (crashed puts) deleted, %llu reservations\n",
	       (unsigned long long)st.blobs_deleted, (unsigned long long)st.orphans_deleted,
	       (unsigned long long)st.reservations_expired);
	MR_CHECK_OK(mr_blob_purge(BS, &o, &st2));
	MR_CHECK_EQ_INT(st2.blobs_deleted + st2.orphans_deleted, 0);
	check_links();
	/* exactly the linked blobs remain: records, and backend objects for the non-inline ones */
	uint8_t rp[2] = {MR_SUBSPACE_BLOB, 0x00};
	MR_CHECK_EQ_INT(count_prefix(META, rp, 2), NIDS);
	size_t backend_objects = 0;
	for (size_t i = 0; i < NIDS; i++) {
		mr_blob_info info;
		MR_CHECK_OK(mr_blob_stat(BS, &IDS[i], &info));
		MR_CHECK(info.links >= 1);
		if (!info.inline_stored)
			backend_objects++;
	}
	size_t have;
	if (strcmp(mode, "fs") == 0) {
		char cmd[256];
		/* a put killed mid-write leaves its .tmp-XXXXXX file (never under a
		 * blob's name); those are not blobs and are counted apart */
		snprintf(cmd, sizeof cmd, "find '%s/blobs' -type f ! -name '.tmp-*' | wc -l", dir);
		FILE *p = popen(cmd, "r");
		MR_CHECK(p && fscanf(p, "%zu", &have) == 1);
		pclose(p);
	} else {
		uint8_t mp[2] = {MR_SUBSPACE_BLOB_DATA, 0x02};
		have = count_prefix(META, mp, 2);
	}
	MR_CHECK_EQ_INT(have, backend_objects);
	printf("after purge: %zu linked blobs (%zu links), %zu backend objects, all verified\n", NIDS, NLINKS, have);
}

int main(int argc, char **argv)
{
	mode = argc > 1 ? argv[1] : "fs";
	if (!mkdtemp(dir))
		return 1;
	bool concurrent_purge = strcmp(mode, "data_rocksdb") != 0; /* RocksDB: one process at a time */
	if (strcmp(mode, "fs") == 0)
		snprintf(cfg_text, sizeof cfg_text,
			 "[storage]\ndata = \"m\"\nblob = \"b\"\n[store.\"m\"]\ntype = \"sqlite\"\npath = \"%s/meta.sqlite\"\n"
			 "[store.\"b\"]\ntype = \"fs\"\npath = \"%s/blobs\"\ncompression = \"zstd\"\ninline-threshold = 1024\n",
			 dir, dir);
	else if (strcmp(mode, "data_sqlite") == 0 || strcmp(mode, "data_rocksdb") == 0)
		snprintf(cfg_text, sizeof cfg_text,
			 "[storage]\ndata = \"b\"\nblob = \"b\"\n[store.\"b\"]\ntype = \"%s\"\npath = \"%s/db%s\"\n"
			 "compression = \"zstd\"\ninline-threshold = 1024\nchunk-size = \"64KiB\"\n",
			 mode + 5, dir, strcmp(mode, "data_sqlite") == 0 ? ".sqlite" : "");
	else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 1;
	}
	{
		mr_config *c = NULL;
		mr_data *d = NULL;
		if (mr_config_parse(&c, cfg_text, strlen(cfg_text), "crash.toml") != 0 ||
		    mr_data_open(&d, c, mr_config_role(c, "data")) != 0) {
			if (mr_error_last()->code == MR_ENOTSUPPORTED)
				MR_TEST_SKIP("%s", mr_error_last()->message);
			fprintf(stderr, "open: %s\n", mr_error_last()->message);
			return 1;
		}
		mr_data_close(d);
		mr_config_free(c);
	}
	SH = mmap(NULL, sizeof(*SH), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	rng = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	for (unsigned round = 0; round < ROUNDS; round++) {
		uint64_t links_before = SH->links;
		pid_t w = fork();
		if (w == 0)
			writer(round);
		pid_t pu = -1;
		if (concurrent_purge && round % 2 == 0 && (pu = fork()) == 0)
			purger();
		/* run at least until the writer committed a few links, then a random while more */
		for (int t = 0; t < 3000 && SH->links < links_before + 3; t++)
			usleep(10000);
		usleep((useconds_t)(100000 + rnd() % 700000));
		kill(w, SIGKILL);
		if (pu > 0)
			kill(pu, SIGKILL);
		int status;
		waitpid(w, &status, 0);
		if (!WIFSIGNALED(status)) {
			fprintf(stderr, "writer exited by itself (status %d)\n", status);
			return 1;
		}
		if (pu > 0) {
			waitpid(pu, &status, 0);
			if (!WIFSIGNALED(status)) {
				fprintf(stderr, "purger exited by itself (status %d)\n", status);
				return 1;
			}
		}
	}
	printf("%s: %d rounds killed; %llu puts, %llu links, %llu unlinks, %llu re-puts after a purge or conflict, %llu "
	       "concurrent purges\n",
	       mode, ROUNDS, (unsigned long long)SH->puts, (unsigned long long)SH->links, (unsigned long long)SH->unlinks,
	       (unsigned long long)SH->relinks, (unsigned long long)SH->purges);
	if (mr_config_parse(&CFG, cfg_text, strlen(cfg_text), "crash.toml") != 0 ||
	    mr_data_open(&META, CFG, mr_config_role(CFG, "data")) != 0 || mr_blob_open(&BS, CFG, "b", META) != 0) {
		fprintf(stderr, "reopen: %s\n", mr_error_last()->message);
		return 1;
	}
	IDS = calloc(200000, sizeof(*IDS));
	MR_TEST_RUN(check_links);
	MR_TEST_RUN(check_purge);
	free(IDS);
	mr_blob_close(BS);
	mr_data_close(META);
	mr_config_free(CFG);
	(void)mr_test_remove_tree(dir);
	MR_TEST_DONE();
}
