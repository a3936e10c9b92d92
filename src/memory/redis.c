/*
 * redis.c — the Redis/Valkey in-memory backend (type "redis"), over hiredis.
 * Implements src/memory/backend.h for `redis-type = "single"` (one server)
 * and `"cluster"` (CRC16 slot hashing with {hash tags}, topology from
 * CLUSTER SLOTS, MOVED/ASK redirects, re-discovery after a failover).
 *
 * Atomic compound ops run as Lua scripts (EVALSHA, falling back to EVAL
 * on NOSCRIPT): incr-with-TTL-on-creation, expire, lock compare-and-act,
 * and the GCRA rate check, which reads the server clock (TIME) so every
 * node of a cluster of mailroom processes agrees.  Every command carries
 * the configured timeout; a command whose reply is lost is reported
 * MR_EUNCERTAIN when it writes non-idempotently (incr, rate), else retried
 * until the timeout, then MR_EUNAVAILABLE.  One mutex serializes a handle's
 * connections; pipelines send all ops per node before reading replies.
 * Connections (plain TCP or TLS, `tls = true` or rediss://) are
 * redis_conn.h's: this file only builds commands and reads replies.
 */
#include "memory/backend.h"
#include "memory/redis_conn.h"

#include <pthread.h>
#include <strings.h>

#define MAX_NODES 64
#define NSLOTS 16384
#define NO_NODE 0xFFFF

typedef struct node {
	char host[256];
	int port;
	mr_redis_conn *c;
} node;

typedef struct rd {
	mr_memory_inst base;
	pthread_mutex_t mu;
	bool cluster;
	int timeout_ms;
	char *user, *password;
	mr_redis_tls *tls; /* NULL: plain TCP */
	node nodes[MAX_NODES];
	int nnodes;
	uint16_t slots[NSLOTS];
	char sha[4][41];
} rd;

static rd *RD(mr_memory_inst *in) { return mr_container_of(in, rd, base); }

/* ---- Lua scripts: one GCRA arithmetic, as in backend.h ---- */
enum { S_INCR, S_EXPIRE, S_CAS, S_RATE };
static const char *const scripts[4] = {
	[S_INCR] = "local e = redis.call('EXISTS', KEYS[1])\n"
		   "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
		   "if e == 0 and tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
		   "return v\n",
	[S_EXPIRE] = "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
		     "if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
		     "else redis.call('PERSIST', KEYS[1]) end\n"
		     "return 1\n",
	[S_CAS] = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
		  "if ARGV[2] == 'd' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
		  "return 1\n",
	[S_RATE] = "local t = redis.call('TIME')\n"
		   "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
		   "local limit = tonumber(ARGV[1])\n"
		   "local period = tonumber(ARGV[2])\n"
		   "local ms, frac = now, 0\n"
		   "local s = redis.call('GET', KEYS[1])\n"
		   "if s then\n"
		   "  local a, b = string.match(s, '^(%d+):(%d+)$')\n"
		   "  if not a then return redis.error_reply('ERR the key holds a value that is not rate state') end\n"
		   "  a = tonumber(a) b = tonumber(b)\n"
		   "  if a > now or (a == now and b > 0) then ms = a frac = b end\n"
		   "end\n"
		   "ms = ms + math.floor(period / limit)\n"
		   "frac = frac + (period % limit)\n"
		   "if frac >= limit then frac = frac - limit ms = ms + 1 end\n"
		   "local ahead = ms - now\n"
		   "if ahead > period or (ahead == period and frac > 0) then\n"
		   "  local r = ahead - period\n"
		   "  if frac > 0 then r = r + 1 end\n"
		   "  return {0, r}\n"
		   "end\n"
		   "local ttl = ahead\n"
		   "if frac > 0 then ttl = ttl + 1 end\n"
		   "redis.call('SET', KEYS[1], string.format('%d:%d', ms, frac), 'PX', ttl)\n"
		   "return {1, 0}\n",
};

/* ---- CRC16 (XMODEM), as Redis Cluster specifies, with hash tags ---- */
static uint16_t crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

static uint16_t key_slot(mr_slice k)
{
	for (size_t s = 0; s < k.len; s++) {
		if (k.ptr[s] != '{')
			continue;
		for (size_t e = s + 1; e < k.len; e++)
			if (k.ptr[e] == '}') {
				if (e > s + 1)
					return crc16(k.ptr + s + 1, e - s - 1) & (NSLOTS - 1);
				break;
			}
		break;
	}
	return crc16(k.ptr, k.len) & (NSLOTS - 1);
}

/* ---- commands ---- */

typedef struct cmd {
	int argc;
	const char *argv[8];
	size_t lens[8];
	char nums[4][24];
	mr_slice key;
	int script; /* -1 or S_* (argv[1] is the sha; retried with the body on NOSCRIPT) */
	bool idempotent;
	redisReply *reply;
	int rc;
} cmd;

static void arg(cmd *c, const void *p, size_t n)
{
	c->argv[c->argc] = p;
	c->lens[c->argc++] = n;
}
static void arg_s(cmd *c, const char *s) { arg(c, s, strlen(s)); }
static void arg_num(cmd *c, int slot, long long v)
{
	snprintf(c->nums[slot], sizeof(c->nums[slot]), "%lld", v);
	arg_s(c, c->nums[slot]);
}

static void cmd_script(rd *r, cmd *c, int s, mr_slice key)
{
	memset(c, 0, sizeof(*c));
	arg_s(c, "EVALSHA");
	arg_s(c, r->sha[s]);
	arg_s(c, "1");
	arg(c, key.ptr, key.len);
	c->key = key;
	c->script = s;
}

static void cmd_plain(cmd *c, const char *name, mr_slice key)
{
	memset(c, 0, sizeof(*c));
	arg_s(c, name);
	arg(c, key.ptr, key.len);
	c->key = key;
	c->script = -1;
	c->idempotent = true;
}

static void node_drop(node *n)
{
	mr_redis__conn_close(n->c);
	n->c = NULL;
}

/* Runs one command on a fresh connection during setup; reply NULL on failure
 * with *code set (MR_EUNAVAILABLE, or MR_EAUTH when TLS refused us). */
static redisReply *setup_call(mr_redis_conn *c, int argc, const char *const *argv, int *code)
{
	size_t lens[4];
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	redisReply *rep = NULL;
	int rc = mr_redis__conn_call(c, &rep, argc, argv, lens);
	*code = rc < 0 ? rc : MR_EUNAVAILABLE;
	return rep;
}

/* The code for a failed setup command: a server error naming auth is MR_EAUTH. */
static int setup_code(const redisReply *rep, int code)
{
	if (!rep)
		return code;
	if (rep->type == REDIS_REPLY_ERROR &&
	    (!strncmp(rep->str, "NOAUTH", 6) || !strncmp(rep->str, "NOPERM", 6) || !strncmp(rep->str, "WRONGPASS", 9)))
		return MR_EAUTH;
	return MR_EUNAVAILABLE;
}

static int node_connect(rd *r, node *n)
{
	if (n->c)
		return 0;
	const char *via = r->tls ? " (TLS)" : "";
	mr_redis_conn *c = NULL;
	int rc = mr_redis__conn_open(&c, n->host, n->port, r->tls, r->timeout_ms);
	if (rc < 0) {
		char why[512];
		snprintf(why, sizeof(why), "%s", mr_error_last()->message);
		return mr_error_set(rc, "connect %s:%d%s: %s (timeout %d ms)", n->host, n->port, via, why, r->timeout_ms);
	}
	redisReply *rep = NULL;
	int code;
	if (r->password) {
		const char *auth[3] = {"AUTH", r->user ? r->user : r->password, r->password};
		rep = setup_call(c, r->user ? 3 : 2, auth, &code);
		if (!rep || rep->type == REDIS_REPLY_ERROR) {
			rc = mr_error_set(rep ? MR_EAUTH : code, "AUTH at %s:%d%s: %s", n->host, n->port, via,
					  rep ? rep->str : c->errstr);
			if (rep)
				freeReplyObject(rep);
			mr_redis__conn_close(c);
			return rc;
		}
		freeReplyObject(rep);
	}
	for (int s = 0; s < 4; s++) {
		const char *load[3] = {"SCRIPT", "LOAD", scripts[s]};
		rep = setup_call(c, 3, load, &code);
		if (!rep || rep->type != REDIS_REPLY_STRING || rep->len != 40) {
			rc = mr_error_set(setup_code(rep, code), "SCRIPT LOAD at %s:%d%s: %s (timeout %d ms)", n->host, n->port, via,
					  rep && rep->type == REDIS_REPLY_ERROR ? rep->str : c->errstr, r->timeout_ms);
			if (rep)
				freeReplyObject(rep);
			mr_redis__conn_close(c);
			return rc;
		}
		memcpy(r->sha[s], rep->str, 40);
		r->sha[s][40] = 0;
		freeReplyObject(rep);
	}
	n->c = c;
	return 0;
}

static int node_find_or_add(rd *r, const char *host, int port)
{
	for (int i = 0; i < r->nnodes; i++)
		if (r->nodes[i].port == port && strcmp(r->nodes[i].host, host) == 0)
			return i;
	if (r->nnodes == MAX_NODES)
		return -1;
	node *n = &r->nodes[r->nnodes];
	memset(n, 0, sizeof(*n));
	snprintf(n->host, sizeof(n->host), "%s", host);
	n->port = port;
	return r->nnodes++;
}

/* Reads the slot map with CLUSTER SLOTS from the first node that answers. */
static int discover(rd *r)
{
	int last = MR_EUNAVAILABLE;
	for (int i = 0; i < r->nnodes; i++) {
		node *n = &r->nodes[i];
		if ((last = node_connect(r, n)) < 0)
			continue;
		const char *slots[2] = {"CLUSTER", "SLOTS"};
		int code;
		redisReply *rep = setup_call(n->c, 2, slots, &code);
		if (!rep || rep->type != REDIS_REPLY_ARRAY) {
			last = mr_error_set(setup_code(rep, code), "CLUSTER SLOTS at %s:%d: %s", n->host, n->port,
					    rep && rep->type == REDIS_REPLY_ERROR ? rep->str : n->c->errstr);
			if (rep)
				freeReplyObject(rep);
			else
				node_drop(n);
			continue;
		}
		for (int s = 0; s < NSLOTS; s++)
			r->slots[s] = NO_NODE;
		for (size_t e = 0; e < rep->elements; e++) {
			redisReply *ent = rep->element[e];
			if (ent->type != REDIS_REPLY_ARRAY || ent->elements < 3)
				continue;
			redisReply *master = ent->element[2];
			if (master->type != REDIS_REPLY_ARRAY || master->elements < 2)
				continue;
			const char *host = master->element[0]->str && *master->element[0]->str ? master->element[0]->str
												 : n->host;
			int idx = node_find_or_add(r, host, (int)master->element[1]->integer);
			if (idx < 0)
				continue;
			for (long long s = ent->element[0]->integer; s <= ent->element[1]->integer && s < NSLOTS; s++)
				r->slots[s] = (uint16_t)idx;
		}
		freeReplyObject(rep);
		return 0;
	}
	return mr_error_prefix("cluster topology (no seed node answered)"), last;
}

static int node_for(rd *r, mr_slice key)
{
	if (!r->cluster)
		return 0;
	uint16_t s = r->slots[key_slot(key)];
	return s == NO_NODE ? -1 : s;
}

/* Classifies a reply: 0 done; 1 retry (MOVED, TRYAGAIN, CLUSTERDOWN, LOADING), 2 ask */
static int classify(redisReply *rep)
{
	if (rep->type != REDIS_REPLY_ERROR)
		return 0;
	if (!strncmp(rep->str, "MOVED ", 6) || !strncmp(rep->str, "TRYAGAIN", 8) || !strncmp(rep->str, "CLUSTERDOWN", 11) ||
	    !strncmp(rep->str, "LOADING", 7) || !strncmp(rep->str, "MASTERDOWN", 10) || !strncmp(rep->str, "READONLY", 8))
		return 1;
	if (!strncmp(rep->str, "ASK ", 4))
		return 2;
	return 0;
}

static int parse_hostport(const char *s, char *host, size_t hsz, int *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= hsz)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	*port = atoi(colon + 1);
	return 0;
}

/*
 * Runs n commands: each is sent (pipelined per node), its reply read, and
 * redirects/temporary cluster errors retried until the timeout.  Each cmd
 * ends with reply set, or rc < 0 with the message of the last failure.
 */
static int run(rd *r, cmd *cs, size_t n)
{
	uint64_t deadline = mr_now_monotonic_ms() + (uint64_t)r->timeout_ms;
	int *ask = mr_calloc(n ? 2 * n : 1, sizeof(int)); /* ask[i]: ASK target or -1; sent[i]: node or -1 */
	if (!ask)
		return MR_ENOMEM;
	int *sent = ask + n;
	int pending = (int)n;
	for (size_t i = 0; i < n; i++) {
		cs[i].reply = NULL;
		cs[i].rc = 1; /* 1 = pending */
		ask[i] = -1;
	}
	bool refresh = false;
	for (unsigned attempt = 0; pending > 0; attempt++) {
		if (attempt > 0) {
			if (mr_now_monotonic_ms() >= deadline)
				break;
			if (refresh && r->cluster)
				discover(r);
			refresh = false;
			uint64_t wait = mr_backoff_ms(attempt - 1, 10, 200);
			uint64_t now = mr_now_monotonic_ms();
			uint64_t left = deadline > now ? deadline - now : 0;
			mr_sleep_ms(wait < left ? wait : left);
		}
		/* send everything pending, pipelined per node */
		for (size_t i = 0; i < n; i++) {
			sent[i] = -1;
			if (cs[i].rc != 1)
				continue;
			int ni = ask[i] >= 0 ? ask[i] : node_for(r, cs[i].key);
			if (ni < 0) {
				mr_error_set(MR_EUNAVAILABLE, "no cluster node serves slot %u", key_slot(cs[i].key));
				refresh = true;
				continue;
			}
			node *nd = &r->nodes[ni];
			if (node_connect(r, nd) < 0) {
				refresh = true;
				continue;
			}
			static const char *const asking[1] = {"ASKING"};
			static const size_t asking_len[1] = {6};
			if ((ask[i] >= 0 && mr_redis__conn_append(nd->c, 1, asking, asking_len) < 0) ||
			    mr_redis__conn_append(nd->c, cs[i].argc, cs[i].argv, cs[i].lens) < 0) {
				cs[i].rc = mr_error_last()->code; /* out of memory: this op fails, the others go on */
				pending--;
				continue;
			}
			sent[i] = ni;
		}
		/* every node's commands on the wire before any reply is awaited: the
		 * round trips overlap (a failed send shows again at its first reply) */
		if (r->cluster)
			for (size_t i = 0; i < n; i++)
				if (sent[i] >= 0 && r->nodes[sent[i]].c && r->nodes[sent[i]].c->out_off < r->nodes[sent[i]].c->out.len)
					(void)mr_redis__conn_flush(r->nodes[sent[i]].c);
		/* read replies in send order */
		for (size_t i = 0; i < n; i++) {
			if (sent[i] < 0)
				continue;
			node *nd = &r->nodes[sent[i]];
			bool asked = ask[i] >= 0;
			ask[i] = -1;
			if (!nd->c)
				continue; /* lost earlier in this round */
			redisReply *rep = NULL;
			int ok = 0;
			if (asked) {
				ok = mr_redis__conn_get_reply(nd->c, &rep);
				if (rep)
					freeReplyObject(rep);
				rep = NULL;
			}
			if (ok == 0)
				ok = mr_redis__conn_get_reply(nd->c, &rep);
			if (ok < 0 || !rep) {
				int ni = sent[i];
				mr_error_set(ok < 0 ? ok : MR_EUNAVAILABLE, "%s:%d: %s (timeout %d ms)", nd->host, nd->port,
					     nd->c->errstr[0] ? nd->c->errstr : "connection lost", r->timeout_ms);
				node_drop(nd);
				refresh = true;
				/* every op sent to this node and not yet read lost its reply */
				for (size_t j = i; j < n; j++) {
					if (sent[j] != ni)
						continue;
					sent[j] = -1;
					if (!cs[j].idempotent) {
						cs[j].rc = mr_error_set(MR_EUNCERTAIN,
									"%s:%d: connection lost after sending; the write may have applied",
									nd->host, nd->port);
						pending--;
					}
				}
				continue;
			}
			int cl = classify(rep);
			if (cl == 0 && rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOSCRIPT", 8) && cs[i].script >= 0) {
				/* scripts flushed (e.g. a promoted replica): they are loaded again on reconnect */
				mr_error_set(MR_EUNAVAILABLE, "%s:%d: %s", nd->host, nd->port, rep->str);
				freeReplyObject(rep);
				for (size_t j = i + 1; j < n; j++) /* drain what this node still owes */
					if (sent[j] == sent[i]) {
						redisReply *x = NULL;
						if (mr_redis__conn_get_reply(nd->c, &x) == 0 && x) {
							if (sent[j] >= 0 && classify(x) == 0 && !(x->type == REDIS_REPLY_ERROR && !strncmp(x->str, "NOSCRIPT", 8))) {
								cs[j].reply = x;
								cs[j].rc = 0;
								pending--;
							} else {
								freeReplyObject(x);
							}
						}
						sent[j] = -1;
					}
				node_drop(nd);
				continue;
			}
			if (cl == 1) {
				if (!strncmp(rep->str, "MOVED ", 6))
					refresh = true;
				mr_error_set(MR_EUNAVAILABLE, "%s:%d: %s", nd->host, nd->port, rep->str);
				freeReplyObject(rep);
				continue;
			}
			if (cl == 2) {
				char host[256];
				int port;
				const char *sp = strchr(rep->str + 4, ' ');
				if (sp && parse_hostport(sp + 1, host, sizeof(host), &port) == 0)
					ask[i] = node_find_or_add(r, host, port);
				freeReplyObject(rep);
				continue;
			}
			cs[i].reply = rep;
			cs[i].rc = 0;
			pending--;
		}
	}
	int last = mr_error_last()->code;
	for (size_t i = 0; i < n; i++)
		if (cs[i].rc == 1)
			cs[i].rc = (mr_error_prefix("gave up after %d ms", r->timeout_ms), last < 0 ? last : MR_EUNAVAILABLE);
	mr_free(ask);
	return 0;
}

static void cmd_free(cmd *c)
{
	if (c->reply)
		freeReplyObject(c->reply);
	c->reply = NULL;
}

/* Maps a command's reply (or failure) to the op result. */
static int reply_error(const cmd *c)
{
	if (c->rc < 0)
		return c->rc;
	if (c->reply->type != REDIS_REPLY_ERROR)
		return 0;
	const char *s = c->reply->str;
	if (strstr(s, "not an integer") || strstr(s, "not rate state") || strstr(s, "WRONGTYPE"))
		return mr_error_set(MR_EINVALID, "the key holds a value of another kind: %s", s);
	if (strstr(s, "overflow"))
		return mr_error_set(MR_ELIMIT, "%s", s);
	if (!strncmp(s, "NOAUTH", 6) || !strncmp(s, "WRONGPASS", 9) || !strncmp(s, "NOPERM", 6))
		return mr_error_set(MR_EAUTH, "%s", s);
	return mr_error_set(MR_ERROR, "server error: %s", s);
}

/* ---- building and finishing each op ---- */

static void build_op(rd *r, cmd *c, mr_memory_op *op, unsigned flags)
{
	switch (op->kind) {
	case MR_MEMORY_OP_GET:
		cmd_plain(c, "GET", op->key);
		break;
	case MR_MEMORY_OP_SET:
		cmd_plain(c, "SET", op->key);
		arg(c, op->value.ptr ? (const void *)op->value.ptr : "", op->value.len);
		if (op->ttl_ms) {
			arg_s(c, "PX");
			arg_num(c, 0, (long long)op->ttl_ms);
		}
		if (flags & MR_MEMORY_SET_NX)
			arg_s(c, "NX");
		break;
	case MR_MEMORY_OP_DELETE:
		cmd_plain(c, "DEL", op->key);
		break;
	case MR_MEMORY_OP_INCR:
		if (op->ttl_ms == 0) { /* no TTL to set on creation: a plain INCRBY */
			cmd_plain(c, "INCRBY", op->key);
			c->idempotent = false;
			arg_num(c, 0, (long long)op->delta);
			break;
		}
		cmd_script(r, c, S_INCR, op->key);
		arg_num(c, 0, (long long)op->delta);
		arg_num(c, 1, (long long)op->ttl_ms);
		break;
	case MR_MEMORY_OP_RATE:
		cmd_script(r, c, S_RATE, op->key);
		arg_num(c, 0, (long long)op->limit);
		arg_num(c, 1, (long long)op->period_ms);
		break;
	}
}

static int finish_op(cmd *c, mr_memory_op *op, unsigned flags)
{
	int rc = reply_error(c);
	if (rc < 0)
		return rc;
	redisReply *rep = c->reply;
	switch (op->kind) {
	case MR_MEMORY_OP_GET:
		if (rep->type == REDIS_REPLY_NIL)
			return mr_error_set(MR_ENOTFOUND, "get: key not found");
		return mr_buf_set(&op->out, rep->str, rep->len);
	case MR_MEMORY_OP_SET:
		if (rep->type == REDIS_REPLY_NIL && (flags & MR_MEMORY_SET_NX))
			return mr_error_set(MR_EEXISTS, "set if absent: key exists");
		return 0;
	case MR_MEMORY_OP_DELETE:
		return rep->integer == 0 ? mr_error_set(MR_ENOTFOUND, "delete: key not found") : 0;
	case MR_MEMORY_OP_INCR:
		op->number = rep->integer;
		return 0;
	case MR_MEMORY_OP_RATE:
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
			return mr_error_set(MR_ERROR, "rate check: unexpected reply type %d", rep->type);
		op->rate.allowed = rep->element[0]->integer == 1;
		op->rate.retry_after_ms = (uint64_t)rep->element[1]->integer;
		return 0;
	}
	return MR_EINVALID;
}

static int one(mr_memory_inst *in, mr_memory_op *op, unsigned flags)
{
	rd *r = RD(in);
	cmd c;
	pthread_mutex_lock(&r->mu);
	build_op(r, &c, op, flags);
	int rc = run(r, &c, 1);
	pthread_mutex_unlock(&r->mu);
	if (rc == 0)
		rc = finish_op(&c, op, flags);
	cmd_free(&c);
	return rc;
}

static int redis_get(mr_memory_inst *in, mr_slice key, mr_buf *value)
{
	mr_memory_op op = {.kind = MR_MEMORY_OP_GET, .key = key, .out = *value};
	int rc = one(in, &op, 0);
	*value = op.out;
	return rc;
}

static int redis_set(mr_memory_inst *in, mr_slice key, mr_slice value, uint64_t ttl_ms, unsigned flags)
{
	mr_memory_op op = {.kind = MR_MEMORY_OP_SET, .key = key, .value = value, .ttl_ms = ttl_ms};
	return one(in, &op, flags);
}

static int redis_del(mr_memory_inst *in, mr_slice key)
{
	mr_memory_op op = {.kind = MR_MEMORY_OP_DELETE, .key = key};
	return one(in, &op, 0);
}

static int redis_incr(mr_memory_inst *in, mr_slice key, int64_t delta, uint64_t ttl_ms, int64_t *out)
{
	mr_memory_op op = {.kind = MR_MEMORY_OP_INCR, .key = key, .delta = delta, .ttl_ms = ttl_ms};
	int rc = one(in, &op, 0);
	*out = op.number;
	return rc;
}

static int redis_rate(mr_memory_inst *in, mr_slice key, int64_t limit, uint64_t period_ms, mr_rate_result *out)
{
	mr_memory_op op = {.kind = MR_MEMORY_OP_RATE, .key = key, .limit = limit, .period_ms = period_ms};
	int rc = one(in, &op, 0);
	*out = op.rate;
	return rc;
}

static int script_int(mr_memory_inst *in, cmd *c, long long *out)
{
	rd *r = RD(in);
	pthread_mutex_lock(&r->mu);
	int rc = run(r, c, 1);
	pthread_mutex_unlock(&r->mu);
	if (rc == 0)
		rc = reply_error(c);
	if (rc == 0)
		*out = c->reply->integer;
	cmd_free(c);
	return rc;
}

static int redis_expire(mr_memory_inst *in, mr_slice key, uint64_t ttl_ms)
{
	cmd c;
	long long v = 0;
	cmd_script(RD(in), &c, S_EXPIRE, key);
	c.idempotent = true;
	arg_num(&c, 0, (long long)ttl_ms);
	int rc = script_int(in, &c, &v);
	if (rc == 0 && v == 0)
		rc = mr_error_set(MR_ENOTFOUND, "expire: key not found");
	return rc;
}

static int redis_cas(mr_memory_inst *in, mr_slice key, mr_slice expect, int action, uint64_t ttl_ms)
{
	cmd c;
	long long v = 0;
	cmd_script(RD(in), &c, S_CAS, key);
	c.idempotent = true;
	arg(&c, expect.ptr, expect.len);
	arg_s(&c, action == MR_MEMORY_CAS_DELETE ? "d" : "e");
	arg_num(&c, 0, (long long)ttl_ms);
	int rc = script_int(in, &c, &v);
	if (rc == 0 && v == 0)
		rc = mr_error_set(MR_ENOTFOUND, "lock: not held by this owner (expired or taken)");
	return rc;
}

static int redis_exec(mr_memory_inst *in, mr_memory_op *ops, size_t n)
{
	rd *r = RD(in);
	cmd *cs = mr_calloc(n ? n : 1, sizeof(*cs));
	if (!cs)
		return MR_ENOMEM;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < n; i++)
		build_op(r, &cs[i], &ops[i], 0);
	int rc = run(r, cs, n);
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < n; i++) {
		ops[i].rc = rc < 0 ? rc : finish_op(&cs[i], &ops[i], 0);
		cmd_free(&cs[i]);
	}
	mr_free(cs);
	return 0;
}

static void redis_close(mr_memory_inst *in)
{
	rd *r = RD(in);
	for (int i = 0; i < r->nnodes; i++)
		node_drop(&r->nodes[i]);
	pthread_mutex_destroy(&r->mu);
	mr_redis__tls_free(r->tls);
	mr_free(r->user);
	mr_free(r->password);
	mr_free(r);
}

/* redis://[user:password@]host[:port][/db] or rediss://... (TLS) */
static int add_url(rd *r, const char *url, bool *tls, const char *where)
{
	const char *p = url;
	if (!strncmp(p, "redis://", 8))
		p += 8;
	else if (!strncmp(p, "rediss://", 9)) {
		p += 9;
		*tls = true;
	} else if (!strncmp(p, "valkey://", 9))
		p += 9;
	else
		return mr_error_set(MR_EINVALID, "%s: url \"%s\": expected redis://host:port", where, url);
	const char *at = strchr(p, '@');
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			if (colon > p && !r->user)
				r->user = mr_strndup(p, (size_t)(colon - p));
			if (!r->password)
				r->password = mr_strndup(colon + 1, (size_t)(at - colon - 1));
		}
		p = at + 1;
	}
	char host[256] = "127.0.0.1";
	int port = 6379;
	size_t hl = strcspn(p, ":/");
	if (hl >= sizeof(host))
		return mr_error_set(MR_EINVALID, "%s: url \"%s\": host too long", where, url);
	if (hl) {
		memcpy(host, p, hl);
		host[hl] = 0;
	}
	if (p[hl] == ':') {
		port = atoi(p + hl + 1);
		if (port < 1 || port > 65535)
			return mr_error_set(MR_EINVALID, "%s: url \"%s\": port: expected 1-65535", where, url);
	}
	if (node_find_or_add(r, host, port) < 0)
		return mr_error_set(MR_ELIMIT, "%s: more than %d nodes", where, MAX_NODES);
	return 0;
}

static int redis_open(mr_memory_inst **out, const mr_config *cfg, const mr_store_config *sc)
{
	(void)cfg;
	*out = NULL;
	rd *r = mr_calloc(1, sizeof(*r));
	if (!r)
		return MR_ENOMEM;
	pthread_mutex_init(&r->mu, NULL);
	for (int s = 0; s < NSLOTS; s++)
		r->slots[s] = NO_NODE;
	const char *type, *url, *user, *password;
	const char *const *urls = NULL;
	size_t nurls = 0;
	int64_t timeout;
	bool tls = false, tls_cfg;
	mr_redis_tls_opts tls_opts = {0};
	int rc = mr_store_config_string(sc, "redis-type", "single", &type);
	if (rc == 0)
		rc = mr_store_config_duration_ms(sc, "timeout", 5000, &timeout);
	if (rc == 0)
		rc = mr_store_config_string(sc, "url", NULL, &url);
	if (rc == 0 && mr_store_config_has(sc, "urls"))
		rc = mr_store_config_strings(sc, "urls", &urls, &nurls);
	if (rc == 0)
		rc = mr_store_config_string(sc, "user", NULL, &user);
	if (rc == 0)
		rc = mr_store_config_string(sc, "password", NULL, &password);
	if (rc == 0)
		rc = mr_store_config_bool(sc, "tls", false, &tls_cfg);
	if (rc == 0)
		rc = mr_store_config_string(sc, "tls-ca-file", NULL, &tls_opts.ca_file);
	if (rc == 0)
		rc = mr_store_config_string(sc, "tls-cert-file", NULL, &tls_opts.cert_file);
	if (rc == 0)
		rc = mr_store_config_string(sc, "tls-key-file", NULL, &tls_opts.key_file);
	if (rc == 0)
		rc = mr_store_config_bool(sc, "tls-insecure-skip-verify", false, &tls_opts.insecure_skip_verify);
	if (rc < 0)
		goto fail;
	if (strcmp(type, "single") && strcmp(type, "cluster")) {
		rc = mr_error_set(MR_EINVALID, "%s: redis-type: expected \"single\" or \"cluster\", got \"%s\"",
				  mr_store_config_where(sc, "redis-type"), type);
		goto fail;
	}
	r->cluster = strcmp(type, "cluster") == 0;
	r->timeout_ms = timeout < 1 ? 1 : timeout > 600000 ? 600000 : (int)timeout;
	if (user)
		r->user = mr_strdup(user);
	if (password)
		r->password = mr_strdup(password);
	if (url && (rc = add_url(r, url, &tls, mr_store_config_where(sc, "url"))) < 0)
		goto fail;
	for (size_t i = 0; i < nurls; i++)
		if ((rc = add_url(r, urls[i], &tls, mr_store_config_where(sc, "urls"))) < 0)
			goto fail;
	if (r->nnodes == 0) {
		rc = mr_error_set(MR_EINVALID, "%s: url or urls is required", mr_store_config_where(sc, "url"));
		goto fail;
	}
	if (!r->cluster && r->nnodes > 1) {
		rc = mr_error_set(MR_EINVALID, "%s: redis-type \"single\" takes one url (got %d)",
				  mr_store_config_where(sc, "urls"), r->nnodes);
		goto fail;
	}
	if (tls || tls_cfg) {
		if ((rc = mr_redis__tls_new(&r->tls, &tls_opts)) < 0) {
			mr_error_prefix("%s", mr_store_config_where(sc, "tls"));
			goto fail;
		}
	} else {
		static const char *const tls_keys[] = {"tls-ca-file", "tls-cert-file", "tls-key-file",
						       "tls-insecure-skip-verify"};
		for (size_t i = 0; i < MR_ARRAY_LEN(tls_keys); i++)
			if (mr_store_config_has(sc, tls_keys[i])) {
				rc = mr_error_set(MR_EINVALID, "%s: %s is set but TLS is off (set tls = true or use rediss:// urls)",
						  mr_store_config_where(sc, tls_keys[i]), tls_keys[i]);
				goto fail;
			}
	}
	rc = r->cluster ? discover(r) : node_connect(r, &r->nodes[0]);
	if (rc < 0)
		goto fail;
	*out = &r->base;
	return 0;
fail:
	redis_close(&r->base);
	return rc;
}

const mr_memory_backend mr_memory_backend_redis = {
	.version = MR_MEMORY_BACKEND_VERSION,
	.name = "redis",
	.caps = MR_MEMORY_CAP_SHARED,
	.open = redis_open,
	.close = redis_close,
	.get = redis_get,
	.set = redis_set,
	.del = redis_del,
	.incr = redis_incr,
	.expire = redis_expire,
	.cas = redis_cas,
	.rate = redis_rate,
	.exec = redis_exec,
};
