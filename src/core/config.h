/*
 * config.h (internal) — what backends and fronts read of their
 * [store."<id>"] table.  Every accessor validates type and range and, on
 * failure, sets an MR_EINVALID error naming "file:line: store.<id>.<key>"
 * and what was expected.  Secrets written as %{env:NAME}% or
 * %{file:/path}% are already resolved in the strings returned here.
 * Returned strings are borrowed for the lifetime of the mr_config.
 */
#ifndef MR_CORE_CONFIG_H
#define MR_CORE_CONFIG_H

#include "mailroom/config.h"

typedef struct mr_store_config mr_store_config;

/* The [store."<id>"] table, or NULL when there is none. */
const mr_store_config *mr_config_store(const mr_config *cfg, const char *id);
size_t mr_config_store_count(const mr_config *cfg);
const mr_store_config *mr_config_store_at(const mr_config *cfg, size_t i);

const char *mr_store_config_id(const mr_store_config *sc);
const char *mr_store_config_type(const mr_store_config *sc);
/* "file:line" where `key` is defined (or where the store table starts if absent). */
const char *mr_store_config_where(const mr_store_config *sc, const char *key);
bool mr_store_config_has(const mr_store_config *sc, const char *key);

/*
 * Typed getters.  `key` may be dotted ("purge.frequency", "pool.max-connections").
 * Missing key: *out = def and 0.  Wrong type / out of range: MR_EINVALID.
 * The *_required variants fail with MR_EINVALID "missing required key" instead.
 */
int mr_store_config_string(const mr_store_config *sc, const char *key, const char *def, const char **out);
int mr_store_config_string_required(const mr_store_config *sc, const char *key, const char **out);
int mr_store_config_int(const mr_store_config *sc, const char *key, int64_t def, int64_t min, int64_t max,
			int64_t *out);
int mr_store_config_bool(const mr_store_config *sc, const char *key, bool def, bool *out);
/* Durations: an integer of milliseconds or a string "250ms", "30s", "5m", "1h", "7d". */
int mr_store_config_duration_ms(const mr_store_config *sc, const char *key, int64_t def_ms, int64_t *out);
/* Sizes: an integer of bytes or "64KiB", "16MiB", "1GiB", "10MB". */
int mr_store_config_size(const mr_store_config *sc, const char *key, int64_t def, int64_t *out);
/* An array of strings (or one string, taken as an array of one).  The strings
 * live as long as the mr_config; the array *out itself is valid until the next
 * mr_store_config_strings call on this thread (copy what you keep). */
int mr_store_config_strings(const mr_store_config *sc, const char *key, const char *const **out, size_t *n);

/* For `config check`: whether a value is a secret (resolved from %{env}/%{file}
 * or a password-like key), to redact it when printing. */
bool mr_store_config__is_secret(const mr_store_config *sc, const char *key);
/* The store's TOML table (a const mr_toml_value *), for printing. */
const struct mr_toml_value *mr_store_config__toml(const mr_store_config *sc);
/* Duration / size text parsing shared with validation: 0 or MR_EINVALID (no message). */
int mr_config__parse_duration(const char *s, int64_t *out_ms);
int mr_config__parse_size(const char *s, int64_t *out);

#endif
