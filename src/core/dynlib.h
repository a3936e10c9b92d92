/*
 * dynlib.h — a shared library loaded on first use (dlopen) instead of at
 * program start.
 *
 * Linking libpq, libmariadb and libcurl into the `mailroom` executable made
 * every process pay for loading and relocating them and their dependencies
 * (Kerberos, LDAP, GnuTLS, ...): ~20 ms of each `mailroom search`, which
 * needs none of them.  A backend over such a library keeps a table of typed
 * function pointers, filled here by its open function; it calls through the
 * table (`pq.PQexec(...)`).
 *
 * The library is named by its SONAME, which the build reads from the
 * library pkg-config found (cmake/Dependencies.cmake: mr_soname), so the
 * loaded library is the one the headers were compiled against.
 */
#ifndef MR_DYNLIB_H
#define MR_DYNLIB_H

#include "core/common.h"

#include <pthread.h>

typedef struct mr_dynlib {
	const char *soname;       /* "libpq.so.5" */
	const char *what;         /* for errors: "the postgresql data backend" */
	const char *const *names; /* the functions, in the order of the table's members */
	size_t count;
	void *table;              /* a struct of `count` function pointers and nothing else */
	size_t table_size;        /* sizeof the struct, checked against count */
	pthread_mutex_t lock;     /* PTHREAD_MUTEX_INITIALIZER */
	void *handle;             /* set once every function is resolved */
} mr_dynlib;

/*
 * With FUNCS an X-macro list of the library's functions (X(PQexec) ...):
 * MR_DYNLIB_TABLE(FUNCS) is the struct type of their pointers (members
 * named as the functions), and MR_DYNLIB_DEFINE(var, FUNCS, table, soname,
 * what) defines `static mr_dynlib var` filling that table.
 */
#define MR_DYNLIB_MEMBER_(f) __typeof__(f) *f;
#define MR_DYNLIB_NAME_(f) #f,
#define MR_DYNLIB_TABLE(FUNCS) struct { FUNCS(MR_DYNLIB_MEMBER_) }
#define MR_DYNLIB_DEFINE(var, FUNCS, table_, soname_, what_)                                          \
	static const char *const var##_names[] = {FUNCS(MR_DYNLIB_NAME_)};                             \
	static mr_dynlib var = {.soname = (soname_),                                                  \
				.what = (what_),                                                      \
				.names = var##_names,                                                 \
				.count = MR_ARRAY_LEN(var##_names),                                   \
				.table = &(table_),                                                   \
				.table_size = sizeof(table_),                                         \
				.lock = PTHREAD_MUTEX_INITIALIZER}

/* Loads the library and fills the table, once per process (thread-safe);
 * later calls return 0 at once.  MR_ENOTSUPPORTED naming the library and
 * dlerror()'s reason when it cannot be loaded or lacks a function. */
int mr_dynlib_load(mr_dynlib *lib);

#endif
