/*
 * registry.c — maps a data-store type name to its compiled-in backend.  The
 * only file of src/data/ that reads mr_features.h.
 */
#include "data/backend.h"
#include "mr_features.h"

#if MR_HAVE_ROCKSDB
extern const mr_data_backend mr_data_backend_rocksdb;
#endif
#if MR_HAVE_SQLITE
extern const mr_data_backend mr_data_backend_sqlite;
#endif
#if MR_HAVE_POSTGRES && MR_HAVE_POSTGRES_FILE
extern const mr_data_backend mr_data_backend_postgresql;
#endif
#if MR_HAVE_MYSQL && MR_HAVE_MYSQL_FILE
extern const mr_data_backend mr_data_backend_mysql;
#endif

static const struct {
	const char *name;
	const mr_data_backend *backend;
	const char *missing; /* library whose absence left it out */
} known[] = {
#if MR_HAVE_ROCKSDB
	{"rocksdb", &mr_data_backend_rocksdb, NULL},
#else
	{"rocksdb", NULL, "librocksdb"},
#endif
#if MR_HAVE_SQLITE
	{"sqlite", &mr_data_backend_sqlite, NULL},
#else
	{"sqlite", NULL, "libsqlite3"},
#endif
#if MR_HAVE_POSTGRES && MR_HAVE_POSTGRES_FILE
	{"postgresql", &mr_data_backend_postgresql, NULL},
#else
	{"postgresql", NULL, "libpq"},
#endif
#if MR_HAVE_MYSQL && MR_HAVE_MYSQL_FILE
	{"mysql", &mr_data_backend_mysql, NULL},
#else
	{"mysql", NULL, "libmariadb"},
#endif
};

const mr_data_backend *mr_data__backend_find(const char *type)
{
	for (size_t i = 0; i < MR_ARRAY_LEN(known); i++) {
		if (strcmp(known[i].name, type) != 0)
			continue;
		if (known[i].backend)
			return known[i].backend;
		mr_error_set(MR_ENOTSUPPORTED, "backend \"%s\" is not compiled into this build (%s was not found at configure time)",
			     type, known[i].missing);
		return NULL;
	}
	mr_error_set(MR_EINVALID, "\"%s\" is not a data-store type (rocksdb, sqlite, postgresql, mysql)", type);
	return NULL;
}

const char *mr_data__backend_names(void)
{
	return ""
#if MR_HAVE_ROCKSDB
	       "rocksdb "
#endif
#if MR_HAVE_SQLITE
	       "sqlite "
#endif
#if MR_HAVE_POSTGRES && MR_HAVE_POSTGRES_FILE
	       "postgresql "
#endif
#if MR_HAVE_MYSQL && MR_HAVE_MYSQL_FILE
	       "mysql "
#endif
		;
}
