/*
 * toml.h (internal) — a TOML 1.0 parser producing a tree of values, each
 * remembering the line and column where it was defined.  Used by the
 * configuration model (config.c) and the toml-test decoder.
 */
#ifndef MR_CORE_TOML_H
#define MR_CORE_TOML_H

#include "core/common.h"

typedef enum mr_toml_type {
	MR_TOML_STRING = 1,
	MR_TOML_INTEGER,
	MR_TOML_FLOAT,
	MR_TOML_BOOL,
	MR_TOML_DATETIME,       /* offset date-time, text kept as written (normalised 'T') */
	MR_TOML_DATETIME_LOCAL, /* local date-time */
	MR_TOML_DATE_LOCAL,
	MR_TOML_TIME_LOCAL,
	MR_TOML_ARRAY,
	MR_TOML_TABLE,
} mr_toml_type;

typedef struct mr_toml_value mr_toml_value;

struct mr_toml_value {
	mr_toml_type type;
	int line, col;
	union {
		struct {
			char *ptr; /* NUL-terminated; may contain NUL (len is authoritative) */
			size_t len;
		} s;               /* STRING and all date/time kinds */
		int64_t i;
		double f;
		bool b;
		struct {
			mr_toml_value **items;
			size_t n, cap;
		} arr;
		struct {
			char **keys;      /* NUL-terminated; a key may contain NUL (see klens) */
			size_t *klens;
			mr_toml_value **vals;
			size_t n, cap;
		} tab;
	} u;
	/* parser bookkeeping for TOML's redefinition rules */
	unsigned flags;
};

/* Parses text (need not be NUL-terminated). On error: MR_EINVALID with
 * "<filename>:<line>:<col>: <what>", *out NULL. */
int mr_toml_parse(mr_toml_value **out, const char *text, size_t len, const char *filename);
void mr_toml_free(mr_toml_value *v);

/* Lookup of a direct child in a table; NULL when absent or v is not a table. */
mr_toml_value *mr_toml_get(const mr_toml_value *table, const char *key);
const char *mr_toml_type_name(mr_toml_type t);

#endif
