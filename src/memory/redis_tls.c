/*
 * redis_tls.c — the TLS transport of src/memory/redis_conn.h, over OpenSSL
 * (compiled when pkg-config finds `openssl`; redis_tls_none.c otherwise).
 *
 * One SSL_CTX per store: TLS 1.2 or newer, peer verification against
 * tls-ca-file (or the system's CA store) unless tls-insecure-skip-verify,
 * an optional client certificate.  Per connection: SNI with the host name
 * (not with an IP literal, which RFC 6066 forbids), the certificate checked
 * against the host name or IP address, a non-blocking handshake bounded by
 * the connection's deadline.  The socket is driven through our own BIO so
 * writes use MSG_NOSIGNAL: a server that went away is an error, not a
 * SIGPIPE killing the process.
 */
#include "memory/redis_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

struct mr_redis_tls {
	SSL_CTX *ctx;
	BIO_METHOD *bio;
	char verify_desc[300]; /* how peers are verified, for messages */
};

/* ---- a socket BIO on the connection's fd ---- */

static int bio_write(BIO *b, const char *buf, int len)
{
	mr_redis_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t n = send(c->fd, buf, (size_t)len, MSG_NOSIGNAL);
		if (n >= 0)
			return (int)n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return -1;
	}
}

static int bio_read(BIO *b, char *buf, int len)
{
	mr_redis_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t n = recv(c->fd, buf, (size_t)len, 0);
		if (n >= 0)
			return (int)n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		return -1;
	}
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* ---- error text ---- */

/* The newest OpenSSL error of this thread, or the errno text, or what. */
static void ssl_errstr(char *out, size_t n, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	if (e) {
		char s[256];
		ERR_error_string_n(e, s, sizeof(s));
		snprintf(out, n, "%s: %s", what, s);
	} else if (errno) {
		snprintf(out, n, "%s: %s", what, strerror(errno));
	} else {
		snprintf(out, n, "%s: connection closed by the server", what);
	}
	ERR_clear_error();
}

/* ---- the transport ---- */

/*
 * In TLS 1.3 the client's handshake ends before the server checks the
 * client certificate, so a server requiring one (Redis' default
 * tls-auth-clients yes) answers our first command with an alert or a
 * reset.  When the server asked for a certificate and we have none, a
 * failure before the first reply is reported as that.
 */
static int client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	(void)x509, (void)pkey;
	mr_redis_conn *c = SSL_get_app_data(ssl);
	if (c)
		c->tls_cert_requested = true;
	return 0; /* no certificate */
}

static bool refused_without_cert(mr_redis_conn *c)
{
	if (!c->tls_cert_requested || c->first_byte_seen)
		return false;
	c->fail_code = MR_EAUTH;
	char cause[160];
	snprintf(cause, sizeof(cause), "%.150s", c->errstr[0] ? c->errstr : "connection closed by the server");
	snprintf(c->errstr, sizeof(c->errstr),
		 "the server asked for a client certificate and none is configured (tls-cert-file, tls-key-file): %s", cause);
	return true;
}

static ssize_t tls_io(mr_redis_conn *c, void *rbuf, const void *wbuf, size_t len, short *want)
{
	SSL *ssl = c->tls;
	int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
	ERR_clear_error();
	errno = 0;
	int n = rbuf ? SSL_read(ssl, rbuf, chunk) : SSL_write(ssl, wbuf, chunk);
	if (n > 0)
		return n;
	switch (SSL_get_error(ssl, n)) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		return -1;
	case SSL_ERROR_ZERO_RETURN: /* close_notify, or an EOF (SSL_OP_IGNORE_UNEXPECTED_EOF) */
		c->errstr[0] = 0;
		if (refused_without_cert(c))
			return -1;
		return 0;
	default: {
		/* TLS 1.3 clients learn only now that the server refused their certificate */
		int reason = ERR_GET_REASON(ERR_peek_last_error());
		if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED || reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
		    reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA || reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN ||
		    reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED || reason == SSL_R_TLSV1_ALERT_ACCESS_DENIED)
			c->fail_code = MR_EAUTH;
		ssl_errstr(c->errstr, sizeof(c->errstr), rbuf ? "TLS read" : "TLS write");
		if (refused_without_cert(c))
			return -1;
		if (c->fail_code == MR_EAUTH)
			snprintf(c->errstr + strlen(c->errstr), sizeof(c->errstr) - strlen(c->errstr),
				 " (the server refused our client certificate: check tls-cert-file and tls-key-file)");
		return -1;
	}
	}
}

static ssize_t tls_read(mr_redis_conn *c, void *buf, size_t len, short *want) { return tls_io(c, buf, NULL, len, want); }

static ssize_t tls_write(mr_redis_conn *c, const void *buf, size_t len, short *want)
{
	return tls_io(c, NULL, buf, len, want);
}

static void tls_free(mr_redis_conn *c)
{
	SSL *ssl = c->tls;
	if (!ssl)
		return;
	if (SSL_is_init_finished(ssl))
		SSL_shutdown(ssl); /* best effort close_notify; never waits */
	SSL_free(ssl);         /* frees the BIO */
	ERR_clear_error();
	c->tls = NULL;
}

/* Records OpenSSL read from the socket but has not returned yet: polling
 * the socket for them would wait for nothing. */
static bool tls_pending(mr_redis_conn *c) { return c->tls && SSL_has_pending(c->tls); }

static const mr_redis_transport tls_transport = {
	.name = "tls",
	.read = tls_read,
	.write = tls_write,
	.free = tls_free,
	.pending = tls_pending,
};

/* ---- settings ---- */

static int load_error(const char *key, const char *path)
{
	if (access(path, R_OK) != 0) { /* OpenSSL would only say "system lib" */
		ERR_clear_error();
		return mr_error_set_errno(MR_EINVALID, errno, "%s \"%s\"", key, path);
	}
	char s[256] = "";
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, s, sizeof(s));
	ERR_clear_error();
	return mr_error_set(MR_EINVALID, "%s \"%s\": cannot load: %s", key, path, e ? s : "unknown OpenSSL error");
}

int mr_redis__tls_new(mr_redis_tls **out, const mr_redis_tls_opts *o)
{
	*out = NULL;
	if (!o->cert_file != !o->key_file)
		return mr_error_set(MR_EINVALID, "tls-cert-file and tls-key-file must be given together");
	mr_redis_tls *t = mr_calloc(1, sizeof(*t));
	if (!t)
		return MR_ENOMEM;
	int rc = 0;
	ERR_clear_error();
	t->ctx = SSL_CTX_new(TLS_client_method());
	t->bio = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mailroom redis socket");
	if (!t->ctx || !t->bio) {
		rc = mr_error_oom();
		goto fail;
	}
	BIO_meth_set_write(t->bio, bio_write);
	BIO_meth_set_read(t->bio, bio_read);
	BIO_meth_set_ctrl(t->bio, bio_ctrl);
	BIO_meth_set_create(t->bio, bio_create);
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	/* RESP frames itself, so an EOF without close_notify cannot truncate a
	 * reply unnoticed: treat it as a plain close. */
	SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (o->insecure_skip_verify) {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
		snprintf(t->verify_desc, sizeof(t->verify_desc), "not verified: tls-insecure-skip-verify");
	} else {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
		if (o->ca_file) {
			if (SSL_CTX_load_verify_locations(t->ctx, o->ca_file, NULL) != 1) {
				rc = load_error("tls-ca-file", o->ca_file);
				goto fail;
			}
			snprintf(t->verify_desc, sizeof(t->verify_desc), "verified against tls-ca-file %s", o->ca_file);
		} else {
			if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
				rc = load_error("the system CA store", X509_get_default_cert_file());
				goto fail;
			}
			snprintf(t->verify_desc, sizeof(t->verify_desc), "verified against the system CA store");
		}
	}
	if (!o->cert_file)
		SSL_CTX_set_client_cert_cb(t->ctx, client_cert_cb);
	if (o->cert_file) {
		if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert_file) != 1) {
			rc = load_error("tls-cert-file", o->cert_file);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(t->ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
			rc = load_error("tls-key-file", o->key_file);
			goto fail;
		}
		if (SSL_CTX_check_private_key(t->ctx) != 1) {
			ERR_clear_error();
			rc = mr_error_set(MR_EINVALID, "tls-key-file \"%s\" does not match tls-cert-file \"%s\"", o->key_file,
					  o->cert_file);
			goto fail;
		}
	}
	*out = t;
	return 0;
fail:
	mr_redis__tls_free(t);
	return rc;
}

void mr_redis__tls_free(mr_redis_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	if (t->bio)
		BIO_meth_free(t->bio);
	mr_free(t);
}

const char *mr_redis__tls_version(void) { return OpenSSL_version(OPENSSL_VERSION); }

int mr_redis__tls_start(mr_redis_conn *c, mr_redis_tls *t, const char *host, uint64_t deadline)
{
	ERR_clear_error();
	SSL *ssl = SSL_new(t->ctx);
	BIO *bio = ssl ? BIO_new(t->bio) : NULL;
	if (!bio) {
		SSL_free(ssl);
		snprintf(c->errstr, sizeof(c->errstr), "TLS: out of memory");
		return MR_ENOMEM;
	}
	BIO_set_data(bio, c);
	SSL_set_bio(ssl, bio, bio);
	SSL_set_app_data(ssl, c);
	c->tls = ssl;
	c->t = &tls_transport;
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	if (!is_ip)
		SSL_set_tlsext_host_name(ssl, host);
	if (SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE) {
		int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) : SSL_set1_host(ssl, host);
		if (ok != 1) {
			ssl_errstr(c->errstr, sizeof(c->errstr), "TLS: cannot set the name to verify");
			return MR_ERROR;
		}
	}
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int r = SSL_connect(ssl);
		if (r == 1)
			return 0;
		int e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			int rc = mr_redis__conn_wait(c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, "TLS handshake");
			if (rc < 0) {
				/* a plaintext Redis reads our hello as an unfinished command and waits */
				snprintf(c->errstr + strlen(c->errstr), sizeof(c->errstr) - strlen(c->errstr),
					 " (no TLS answer: is the server speaking TLS on this port?)");
				return rc;
			}
			continue;
		}
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK) {
			ERR_clear_error();
			snprintf(c->errstr, sizeof(c->errstr), "TLS handshake: server certificate verification failed: %s (%s)",
				 X509_verify_cert_error_string(v), t->verify_desc);
			return MR_EAUTH;
		}
		/* garbage or silence where a ServerHello belongs: likely a plaintext port */
		unsigned long err = ERR_peek_last_error();
		int reason = ERR_GET_REASON(err);
		if (reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE || reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
		    reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE || reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA) {
			char s[200];
			ssl_errstr(s, sizeof(s), "TLS handshake");
			snprintf(c->errstr, sizeof(c->errstr), "%s (the server refused the handshake; does it require a "
							       "client certificate? see tls-cert-file)", s);
			return MR_EAUTH;
		}
		bool not_tls = !err || ERR_GET_REASON(err) == SSL_R_WRONG_VERSION_NUMBER ||
			       ERR_GET_REASON(err) == SSL_R_PACKET_LENGTH_TOO_LONG;
		char s[300];
		ssl_errstr(s, sizeof(s), "TLS handshake");
		snprintf(c->errstr, sizeof(c->errstr), "%s%s", s,
			 not_tls ? " (is the server speaking TLS on this port?)" : "");
		return MR_EUNAVAILABLE;
	}
}
