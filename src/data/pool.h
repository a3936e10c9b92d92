/*
 * pool.h — a bounded pool of connections for the server backends
 * (PostgreSQL, MySQL/MariaDB).  The pool knows nothing of the protocol: the
 * backend gives it callbacks to connect, to test an idle connection, to
 * decide whether a released one may be reused, and to free one.
 *
 * acquire() hands out an idle connection that is still alive (a dead one is
 * replaced in the same slot), opens a new one while fewer than `max` are
 * open, else waits up to the timeout and fails with MR_EUNAVAILABLE naming
 * the backend and address.  Thread-safe.
 */
#ifndef MR_DATA_POOL_H
#define MR_DATA_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mr_conn_pool_ops {
	int (*connect)(void *owner, void **out); /* 0 or an error (already set) */
	bool (*alive)(void *conn);               /* an idle connection is still usable */
	bool (*reusable)(void *conn);            /* a released connection may go back to the pool */
	void (*free)(void *conn);                /* NULL is a no-op */
} mr_conn_pool_ops;

typedef struct mr_conn_pool {
	const mr_conn_pool_ops *ops;
	void *owner;
	const char *backend, *address; /* for messages; borrowed from the owner */
	int64_t timeout_ms;
	size_t max, nidle, nopen;
	void **idle;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} mr_conn_pool;

/* address is read at error time, so the owner may fill it in after init. */
int mr_conn_pool_init(mr_conn_pool *p, const mr_conn_pool_ops *ops, void *owner, size_t max,
		      int64_t timeout_ms, const char *backend, const char *address);
/* Frees the idle connections; every acquired one must be released first. */
void mr_conn_pool_destroy(mr_conn_pool *p);
int mr_conn_pool_acquire(mr_conn_pool *p, void **out);
/* Returns conn to the pool, or frees it when it is not reusable; NULL is a no-op. */
void mr_conn_pool_release(mr_conn_pool *p, void *conn);
/* Opens the first connection (proving the server answers) and returns it
 * acquired: release it to put it in the pool. */
int mr_conn_pool_first(mr_conn_pool *p, void **out);

#endif
