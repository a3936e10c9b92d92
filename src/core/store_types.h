/*
 * store_types.h (internal) — the store types the configuration knows:
 * which roles each can serve, its keys and their kinds, which keys are
 * required, and whether this build contains it.  The single table lives in
 * store_types.c; backends read their keys through src/core/config.h.
 */
#ifndef MR_CORE_STORE_TYPES_H
#define MR_CORE_STORE_TYPES_H

#include "core/common.h"

enum {
	MR_ROLE_DATA = 1u << 0,
	MR_ROLE_BLOB = 1u << 1,
	MR_ROLE_FTS = 1u << 2,
	MR_ROLE_LOOKUP = 1u << 3,
	MR_ROLE_ALL = 0xF,
};

typedef enum mr_key_kind {
	MR_KEY_STRING = 1,
	MR_KEY_INT,
	MR_KEY_PORT,
	MR_KEY_BOOL,
	MR_KEY_DURATION,
	MR_KEY_SIZE,
	MR_KEY_STRINGS,
	MR_KEY_CRON,
	MR_KEY_SECRET, /* a string, redacted when printed */
} mr_key_kind;

typedef struct mr_key_spec {
	const char *name; /* dotted: "purge.frequency" */
	mr_key_kind kind;
} mr_key_spec;

typedef struct mr_store_type {
	const char *name;
	unsigned roles;
	bool compiled;
	const char *missing_lib;    /* why it is not compiled in */
	const char *required;       /* "path", "bucket", "url|host" (one of), or NULL */
	const mr_key_spec *keys;    /* terminated by {NULL, 0} */
} mr_store_type;

const mr_store_type *mr_store_type_find(const char *name);
const mr_key_spec *mr_store_type_key(const mr_store_type *t, const char *key);
const char *mr_role_name(unsigned role);

#endif
