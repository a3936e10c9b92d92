/*
 * redis_conn.h (internal) — one connection to a Redis/Valkey server for
 * src/memory/redis.c, the same over plain TCP and over TLS.
 *
 * hiredis 0.14 (Debian bookworm) has no TLS and no hook to put one under a
 * redisContext, so the connection does its own I/O: a non-blocking socket
 * with poll() deadlines, commands encoded as RESP into one output buffer,
 * replies parsed by hiredis' redisReader.  A transport moves the bytes:
 * plain read()/write() here, or OpenSSL (redis_tls.c, compiled when
 * OpenSSL was found; redis_tls_none.c refuses TLS otherwise).  Plain and
 * TLS thus share every line above the transport, and the conformance runs
 * over plain connections test the code TLS connections use.
 *
 * Errors: functions return 0 or a negative mr_error_code and fill
 * c->errstr with a diagnostic that does not name the address (the caller
 * does).  After an error the connection is unusable: close it.
 * Not thread-safe: redis.c serializes a handle's connections.
 */
#ifndef MR_MEMORY_REDIS_CONN_H
#define MR_MEMORY_REDIS_CONN_H

#include "core/common.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/types.h>

typedef struct mr_redis_conn mr_redis_conn;
typedef struct mr_redis_tls mr_redis_tls;

/* TLS settings of a store (the store keys tls-*); paths may be NULL. */
typedef struct mr_redis_tls_opts {
	const char *ca_file;   /* NULL: the system's default CA store */
	const char *cert_file; /* client certificate chain (PEM), with key_file */
	const char *key_file;
	bool insecure_skip_verify; /* no certificate or name checks: testing only */
} mr_redis_tls_opts;

/* What moves bytes.  read/write return the count, 0 (read: EOF), or -1 with
 * *want = POLLIN/POLLOUT when the call would block, or -1 with *want = 0 and
 * c->errstr set on an error. */
typedef struct mr_redis_transport {
	const char *name;
	ssize_t (*read)(mr_redis_conn *c, void *buf, size_t len, short *want);
	ssize_t (*write)(mr_redis_conn *c, const void *buf, size_t len, short *want);
	void (*free)(mr_redis_conn *c); /* releases transport state; the fd is closed by the caller */
	bool (*pending)(mr_redis_conn *c); /* bytes already read from the socket, not yet returned */
} mr_redis_transport;

struct mr_redis_conn {
	int fd;
	int timeout_ms;
	const mr_redis_transport *t;
	void *tls; /* transport state (an SSL *) */
	redisReader *reader;
	mr_buf out;     /* encoded commands not yet written */
	size_t out_off; /* bytes of out already written */
	bool sent;      /* the last get_reply sent commands: wait before reading */
	bool first_byte_seen;
	int fail_code; /* set by a transport whose failure is not MR_EUNAVAILABLE (MR_EAUTH) */
	bool tls_cert_requested; /* the TLS server asked for a client certificate we do not have */
	char errstr[384];
};

/*
 * Creates the TLS client settings every connection of a store shares:
 * loads the CA file (or the system defaults), the client certificate and
 * key.  MR_ENOTSUPPORTED when this build has no OpenSSL; MR_EINVALID naming
 * the file when one cannot be loaded.  Free with mr_redis__tls_free.
 */
int mr_redis__tls_new(mr_redis_tls **out, const mr_redis_tls_opts *opts);
void mr_redis__tls_free(mr_redis_tls *tls);
/* Runs the TLS handshake on c (connected) until deadline (monotonic ms):
 * SNI and the name check use host.  MR_EAUTH when the server's certificate
 * fails verification, MR_EUNAVAILABLE on other failures. */
int mr_redis__tls_start(mr_redis_conn *c, mr_redis_tls *tls, const char *host, uint64_t deadline);
/* "OpenSSL 3.0.x" or NULL when this build has no TLS. */
const char *mr_redis__tls_version(void);

/*
 * Connects to host:port within timeout_ms (resolution, TCP connect and,
 * with tls non-NULL, the TLS handshake), with TCP_NODELAY.  On failure *out
 * is NULL and the error (MR_EUNAVAILABLE, MR_EAUTH, MR_ENOMEM) is set with
 * a message that does not name the address.
 */
int mr_redis__conn_open(mr_redis_conn **out, const char *host, int port, mr_redis_tls *tls, int timeout_ms);
void mr_redis__conn_close(mr_redis_conn *c);
/* Queues one command (RESP array of bulk strings); nothing is sent yet. */
int mr_redis__conn_append(mr_redis_conn *c, int argc, const char *const *argv, const size_t *lens);
/* Sends what is queued, within the timeout (get_reply does it too: this
 * lets a caller start every node of a pipeline before waiting on one). */
int mr_redis__conn_flush(mr_redis_conn *c);
/* Sends what is queued, then reads the next reply, each step within the
 * timeout.  MR_EUNAVAILABLE (timeout, closed, protocol error) or MR_EAUTH
 * (the TLS peer refused our certificate) with errstr set.  The caller owns *reply (freeReplyObject). */
int mr_redis__conn_get_reply(mr_redis_conn *c, redisReply **reply);
/* append + get_reply for one command. */
int mr_redis__conn_call(mr_redis_conn *c, redisReply **reply, int argc, const char *const *argv, const size_t *lens);

/* Waits until fd is ready for events or deadline passes; sets errstr on timeout/error. */
int mr_redis__conn_wait(mr_redis_conn *c, short events, uint64_t deadline, const char *what);

#endif
