/*
 * pool.c — the connection pool of the server backends (pool.h).
 */
#include "data/pool.h"

#include "core/common.h"
#include "mailroom/mailroom.h"

#include <errno.h>
#include <time.h>

int mr_conn_pool_init(mr_conn_pool *p, const mr_conn_pool_ops *ops, void *owner, size_t max,
		      int64_t timeout_ms, const char *backend, const char *address)
{
	*p = (mr_conn_pool){.ops = ops, .owner = owner, .backend = backend, .address = address,
			    .timeout_ms = timeout_ms, .max = max ? max : 1};
	if (!(p->idle = mr_calloc(p->max, sizeof *p->idle)))
		return MR_ENOMEM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	return 0;
}

void mr_conn_pool_destroy(mr_conn_pool *p)
{
	if (!p->idle)
		return;
	for (size_t i = 0; i < p->nidle; i++)
		p->ops->free(p->idle[i]);
	mr_free(p->idle);
	p->idle = NULL;
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
}

/* Opens a connection for a slot already counted in nopen; gives the slot
 * back when that fails. */
static int open_in_slot(mr_conn_pool *p, void **out)
{
	int rc = p->ops->connect(p->owner, out);
	if (rc < 0) {
		*out = NULL;
		pthread_mutex_lock(&p->mu);
		p->nopen--;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return rc;
}

int mr_conn_pool_acquire(mr_conn_pool *p, void **out)
{
	*out = NULL;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += p->timeout_ms / 1000;
	until.tv_nsec += (p->timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (p->nidle > 0) {
			void *conn = p->idle[--p->nidle];
			pthread_mutex_unlock(&p->mu);
			if (p->ops->alive(conn)) {
				*out = conn;
				return 0;
			}
			/* dropped while idle: replace it within the same slot */
			p->ops->free(conn);
			return open_in_slot(p, out);
		}
		if (p->nopen < p->max) {
			p->nopen++;
			pthread_mutex_unlock(&p->mu);
			return open_in_slot(p, out);
		}
		if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT && p->nidle == 0 &&
		    p->nopen >= p->max) {
			pthread_mutex_unlock(&p->mu);
			return mr_error_set(MR_EUNAVAILABLE,
					    "%s at %s: no free connection within %lld ms (pool.max-connections = %zu)",
					    p->backend, p->address, (long long)p->timeout_ms, p->max);
		}
	}
}

void mr_conn_pool_release(mr_conn_pool *p, void *conn)
{
	if (!conn)
		return;
	bool keep = p->ops->reusable(conn);
	pthread_mutex_lock(&p->mu);
	if (keep)
		p->idle[p->nidle++] = conn;
	else
		p->nopen--;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (!keep)
		p->ops->free(conn);
}

int mr_conn_pool_first(mr_conn_pool *p, void **out)
{
	pthread_mutex_lock(&p->mu);
	p->nopen++;
	pthread_mutex_unlock(&p->mu);
	return open_in_slot(p, out);
}
