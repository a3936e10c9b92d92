/*
 * redis_conn.c — the connection under src/memory/redis.c (see
 * redis_conn.h): name resolution and a non-blocking TCP connect bounded by
 * the timeout, RESP encoding into one output buffer, replies parsed by
 * hiredis' redisReader, every wait a poll() against a deadline, and the
 * plain transport (send/recv with MSG_NOSIGNAL, so a server that went away
 * is an error, never a SIGPIPE).  TLS is a transport set by
 * mr_redis__tls_start (redis_tls.c); nothing here knows OpenSSL.
 */
#include "memory/redis_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t plain_read(mr_redis_conn *c, void *buf, size_t len, short *want)
{
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*want = POLLIN;
			return -1;
		}
		snprintf(c->errstr, sizeof(c->errstr), "read: %s", strerror(errno));
		return -1;
	}
}

static ssize_t plain_write(mr_redis_conn *c, const void *buf, size_t len, short *want)
{
	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*want = POLLOUT;
			return -1;
		}
		snprintf(c->errstr, sizeof(c->errstr), "write: %s", strerror(errno));
		return -1;
	}
}

static void plain_free(mr_redis_conn *c) { (void)c; }
static bool plain_pending(mr_redis_conn *c) { (void)c; return false; }

static const mr_redis_transport plain_transport = {
	.name = "tcp",
	.read = plain_read,
	.write = plain_write,
	.free = plain_free,
	.pending = plain_pending,
};

int mr_redis__conn_wait(mr_redis_conn *c, short events, uint64_t deadline, const char *what)
{
	for (;;) {
		uint64_t now = mr_now_monotonic_ms();
		if (now >= deadline) {
			snprintf(c->errstr, sizeof(c->errstr), "%s: timed out", what);
			return MR_EUNAVAILABLE;
		}
		uint64_t left = deadline - now;
		struct pollfd p = {.fd = c->fd, .events = events};
		int r = poll(&p, 1, left > 600000 ? 600000 : (int)left);
		if (r > 0)
			return 0; /* readable, writable, or POLLERR/POLLHUP: the next call reports which */
		if (r < 0 && errno != EINTR) {
			snprintf(c->errstr, sizeof(c->errstr), "%s: poll: %s", what, strerror(errno));
			return MR_EUNAVAILABLE;
		}
	}
}

/* Non-blocking connect to one address, bounded by deadline. */
static int connect_one(mr_redis_conn *c, const struct addrinfo *ai, uint64_t deadline)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		snprintf(c->errstr, sizeof(c->errstr), "socket: %s", strerror(errno));
		return MR_EUNAVAILABLE;
	}
	c->fd = fd;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			snprintf(c->errstr, sizeof(c->errstr), "%s", strerror(errno));
			goto fail;
		}
		if (mr_redis__conn_wait(c, POLLOUT, deadline, "TCP connect") < 0)
			goto fail;
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			snprintf(c->errstr, sizeof(c->errstr), "%s", strerror(err));
			goto fail;
		}
	}
	int one = 1; /* requests are small and latency-bound */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
fail:
	close(fd);
	c->fd = -1;
	return MR_EUNAVAILABLE;
}

int mr_redis__conn_open(mr_redis_conn **out, const char *host, int port, mr_redis_tls *tls, int timeout_ms)
{
	*out = NULL;
	uint64_t deadline = mr_now_monotonic_ms() + (uint64_t)timeout_ms;
	mr_redis_conn *c = mr_calloc(1, sizeof(*c));
	if (!c)
		return MR_ENOMEM;
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	c->t = &plain_transport;
	c->reader = redisReaderCreate();
	if (!c->reader) {
		mr_free(c);
		return mr_error_oom();
	}
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	int g = getaddrinfo(host, portstr, &hints, &res);
	int rc;
	if (g != 0) {
		rc = mr_error_set(MR_EUNAVAILABLE, "resolve: %s", g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
		goto fail;
	}
	rc = MR_EUNAVAILABLE;
	for (const struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next)
		rc = connect_one(c, ai, deadline);
	freeaddrinfo(res);
	if (rc < 0) {
		rc = mr_error_set(rc, "%s", c->errstr);
		goto fail;
	}
	if (tls && (rc = mr_redis__tls_start(c, tls, host, deadline)) < 0) {
		rc = mr_error_set(rc, "%s", c->errstr);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	mr_redis__conn_close(c);
	return rc;
}

void mr_redis__conn_close(mr_redis_conn *c)
{
	if (!c)
		return;
	c->t->free(c);
	if (c->fd >= 0)
		close(c->fd);
	if (c->reader)
		redisReaderFree(c->reader);
	mr_buf_dispose(&c->out);
	mr_free(c);
}

int mr_redis__conn_append(mr_redis_conn *c, int argc, const char *const *argv, const size_t *lens)
{
	size_t need = c->out.len + 16;
	for (int i = 0; i < argc; i++)
		if (mr_add_overflow(need, lens[i], &need) || mr_add_overflow(need, 24, &need))
			return mr_error_set(MR_ELIMIT, "command too large");
	if (mr_buf_grow(&c->out, need) < 0)
		return MR_ENOMEM;
	char *p = (char *)c->out.ptr + c->out.len;
	p += sprintf(p, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++) {
		p += sprintf(p, "$%zu\r\n", lens[i]);
		if (lens[i])
			memcpy(p, argv[i], lens[i]);
		p += lens[i];
		*p++ = '\r';
		*p++ = '\n';
	}
	*p = 0;
	c->out.len = (size_t)(p - (char *)c->out.ptr);
	return 0;
}

static int flush(mr_redis_conn *c, uint64_t deadline)
{
	if (c->out_off < c->out.len)
		c->sent = true; /* cleared by the first wait for a reply */
	while (c->out_off < c->out.len) {
		short want = 0;
		ssize_t n = c->t->write(c, c->out.ptr + c->out_off, c->out.len - c->out_off, &want);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && want) {
			int rc = mr_redis__conn_wait(c, want, deadline, "sending");
			if (rc < 0)
				return rc;
			continue;
		}
		if (n == 0)
			snprintf(c->errstr, sizeof(c->errstr), "write: connection closed");
		return c->fail_code ? c->fail_code : MR_EUNAVAILABLE;
	}
	mr_buf_clear(&c->out);
	c->out_off = 0;
	return 0;
}

int mr_redis__conn_flush(mr_redis_conn *c)
{
	return flush(c, mr_now_monotonic_ms() + (uint64_t)c->timeout_ms);
}

int mr_redis__conn_get_reply(mr_redis_conn *c, redisReply **reply)
{
	*reply = NULL;
	uint64_t deadline = mr_now_monotonic_ms() + (uint64_t)c->timeout_ms;
	int rc = flush(c, deadline);
	if (rc < 0)
		return rc;
	for (;;) {
		void *r = NULL;
		if (redisReaderGetReply(c->reader, &r) != REDIS_OK) {
			snprintf(c->errstr, sizeof(c->errstr), "protocol error: %s%s", c->reader->errstr,
				 !c->first_byte_seen && c->t == &plain_transport
					 ? " (if the server expects TLS, set tls = true or use rediss://)"
					 : "");
			return MR_EUNAVAILABLE;
		}
		if (r) {
			*reply = r;
			c->first_byte_seen = true;
			return 0;
		}
		/* right after sending, the answer cannot be there yet: wait first
		 * and spare a read that would only say EAGAIN */
		if (c->sent && !c->t->pending(c) && (rc = mr_redis__conn_wait(c, POLLIN, deadline, "waiting for a reply")) < 0)
			return rc;
		c->sent = false;
		char buf[16384];
		short want = 0;
		ssize_t n = c->t->read(c, buf, sizeof(buf), &want);
		if (n > 0) {
			if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
				snprintf(c->errstr, sizeof(c->errstr), "protocol error: %s", c->reader->errstr);
				return MR_EUNAVAILABLE;
			}
			continue;
		}
		if (n < 0 && want) {
			if ((rc = mr_redis__conn_wait(c, want, deadline, "waiting for a reply")) < 0)
				return rc;
			continue;
		}
		if (n == 0)
			snprintf(c->errstr, sizeof(c->errstr), "connection closed by the server");
		if (!c->first_byte_seen && c->t == &plain_transport) /* a TLS server drops what is not TLS */
			snprintf(c->errstr + strlen(c->errstr), sizeof(c->errstr) - strlen(c->errstr),
				 " before any reply (if the server expects TLS, set tls = true or use rediss://)");
		return c->fail_code ? c->fail_code : MR_EUNAVAILABLE;
	}
}

int mr_redis__conn_call(mr_redis_conn *c, redisReply **reply, int argc, const char *const *argv, const size_t *lens)
{
	*reply = NULL;
	int rc = mr_redis__conn_append(c, argc, argv, lens);
	if (rc < 0) {
		snprintf(c->errstr, sizeof(c->errstr), "%s", mr_error_last()->message);
		return rc;
	}
	return mr_redis__conn_get_reply(c, reply);
}
