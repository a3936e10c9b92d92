/*
 * redis_tls_none.c — the TLS transport of src/memory/redis_conn.h in a
 * build without OpenSSL: asking for TLS fails clearly at open.
 */
#include "memory/redis_conn.h"

int mr_redis__tls_new(mr_redis_tls **out, const mr_redis_tls_opts *opts)
{
	(void)opts;
	*out = NULL;
	return mr_error_set(MR_ENOTSUPPORTED,
			    "TLS not supported by this build (OpenSSL was not found at configure time; install libssl-dev)");
}

void mr_redis__tls_free(mr_redis_tls *tls) { (void)tls; }

int mr_redis__tls_start(mr_redis_conn *c, mr_redis_tls *tls, const char *host, uint64_t deadline)
{
	(void)tls, (void)host, (void)deadline;
	snprintf(c->errstr, sizeof(c->errstr), "TLS not supported by this build");
	return MR_ENOTSUPPORTED;
}

const char *mr_redis__tls_version(void) { return NULL; }
