/*
 * config.h — loading and validating the TOML configuration.
 *
 * A configuration names stores under [store."<id>"] (each with a `type`
 * and per-backend keys) and wires the four roles under [storage]:
 * data, blob, fts, lookup.  See docs/configuration.md for every key.
 */
#ifndef MAILROOM_CONFIG_H
#define MAILROOM_CONFIG_H

#include "mailroom/mailroom.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mr_config mr_config;

/*
 * Reads, parses and validates a configuration file.
 * Errors: MR_ENOTFOUND (no such file), MR_EIO, MR_EINVALID (syntax or
 * validation; the message names file:line and the key).  Unknown keys are
 * not errors: they are collected as warnings (mr_config_warning).
 * On success *out is owned by the caller (mr_config_free); on failure NULL.
 */
int mr_config_load(mr_config **out, const char *path);
/* Same, from text in memory; `filename` is used in messages only. */
int mr_config_parse(mr_config **out, const char *text, size_t len, const char *filename);
void mr_config_free(mr_config *cfg);

/*
 * Picks the configuration path: `cli_path` if non-NULL, else
 * $MAILROOM_CONFIG, else "./mailroom.toml".  Returns a pointer to one of
 * those strings (borrowed; never NULL).
 */
const char *mr_config_default_path(const char *cli_path);

/* Warnings (unknown keys, deprecated forms), each "file:line: key: text". */
size_t mr_config_warning_count(const mr_config *cfg);
const char *mr_config_warning(const mr_config *cfg, size_t i);

/* The store id that [storage].<role> names ("data", "blob", "fts", "lookup"), or NULL. */
const char *mr_config_role(const mr_config *cfg, const char *role);
/* The file the configuration was read from (or the name given to mr_config_parse). */
const char *mr_config_path(const mr_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
