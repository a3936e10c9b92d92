/*
 * store_types.c — the one table of store types known to the configuration:
 * roles, keys (Stalwart's names where they exist) and whether this build
 * contains each.  Like a registry, it is allowed to read mr_features.h.
 */
#include "core/store_types.h"
#include "mr_features.h"

#define COMMON_KEYS {"purge.frequency", MR_KEY_CRON}, {"compression", MR_KEY_STRING}

static const mr_key_spec data_keys[] = {
	{"path", MR_KEY_STRING},
	{"url", MR_KEY_SECRET},
	{"host", MR_KEY_STRING},
	{"port", MR_KEY_PORT},
	{"database", MR_KEY_STRING},
	{"user", MR_KEY_STRING},
	{"password", MR_KEY_SECRET},
	{"timeout", MR_KEY_DURATION},
	{"pool.max-connections", MR_KEY_INT},
	{"tls", MR_KEY_BOOL},
	{"sslmode", MR_KEY_STRING},
	{"cache-size", MR_KEY_SIZE},
	{"write-buffer-size", MR_KEY_SIZE},
	{"sync", MR_KEY_BOOL},
	{"inline-threshold", MR_KEY_SIZE},
	{"chunk-size", MR_KEY_SIZE},
	{"purge.grace", MR_KEY_DURATION},
	{"retention.changes", MR_KEY_DURATION},
	COMMON_KEYS,
	{NULL, 0},
};

static const mr_key_spec fs_keys[] = {
	{"path", MR_KEY_STRING},
	{"depth", MR_KEY_INT},
	{"inline-threshold", MR_KEY_SIZE},
	{"purge.grace", MR_KEY_DURATION},
	{"sync", MR_KEY_BOOL},
	COMMON_KEYS,
	{NULL, 0},
};

static const mr_key_spec s3_keys[] = {
	{"endpoint", MR_KEY_STRING},
	{"region", MR_KEY_STRING},
	{"bucket", MR_KEY_STRING},
	{"key-prefix", MR_KEY_STRING},
	{"access-key", MR_KEY_SECRET},
	{"secret-key", MR_KEY_SECRET},
	{"session-token", MR_KEY_SECRET},
	{"path-style", MR_KEY_BOOL},
	{"timeout", MR_KEY_DURATION},
	{"max-retries", MR_KEY_INT},
	{"multipart-threshold", MR_KEY_SIZE},
	{"part-size", MR_KEY_SIZE},
	{"inline-threshold", MR_KEY_SIZE},
	{"purge.grace", MR_KEY_DURATION},
	COMMON_KEYS,
	{NULL, 0},
};

static const mr_key_spec redis_keys[] = {
	{"url", MR_KEY_SECRET},
	{"urls", MR_KEY_STRINGS},
	{"redis-type", MR_KEY_STRING},
	{"user", MR_KEY_STRING},
	{"password", MR_KEY_SECRET},
	{"timeout", MR_KEY_DURATION},
	{"tls", MR_KEY_BOOL},
	{"tls-ca-file", MR_KEY_STRING},
	{"tls-cert-file", MR_KEY_STRING},
	{"tls-key-file", MR_KEY_STRING},
	{"tls-insecure-skip-verify", MR_KEY_BOOL},
	{"purge.frequency", MR_KEY_CRON},
	{NULL, 0},
};

static const mr_key_spec local_keys[] = {
	{"max-memory", MR_KEY_SIZE},
	{"max-keys", MR_KEY_INT},
	{"shards", MR_KEY_INT},
	{"purge.frequency", MR_KEY_CRON},
	{NULL, 0},
};

static const mr_key_spec elastic_keys[] = {
	{"url", MR_KEY_SECRET},
	{"urls", MR_KEY_STRINGS},
	{"index", MR_KEY_STRING},
	{"user", MR_KEY_STRING},
	{"password", MR_KEY_SECRET},
	{"timeout", MR_KEY_DURATION},
	{"tls", MR_KEY_BOOL},
	{"refresh", MR_KEY_STRING},
	{"languages", MR_KEY_STRINGS},
	{"shards", MR_KEY_INT},
	{"replicas", MR_KEY_INT},
	{"purge.frequency", MR_KEY_CRON},
	{NULL, 0},
};

static const mr_key_spec meili_keys[] = {
	{"url", MR_KEY_SECRET},
	{"api-key", MR_KEY_SECRET},
	{"index", MR_KEY_STRING},
	{"timeout", MR_KEY_DURATION},
	{"max-hits", MR_KEY_INT},
	{"purge.frequency", MR_KEY_CRON},
	{NULL, 0},
};

static const mr_store_type types[] = {
	{"rocksdb", MR_ROLE_ALL, MR_HAVE_ROCKSDB, "librocksdb", "path", data_keys},
	{"sqlite", MR_ROLE_ALL, MR_HAVE_SQLITE, "libsqlite3", "path", data_keys},
	{"postgresql", MR_ROLE_ALL, MR_HAVE_POSTGRES, "libpq", "url|host", data_keys},
	{"mysql", MR_ROLE_ALL, MR_HAVE_MYSQL, "libmariadb", "url|host", data_keys},
	{"fs", MR_ROLE_BLOB, true, NULL, "path", fs_keys},
	{"s3", MR_ROLE_BLOB, MR_HAVE_CURL, "libcurl", "bucket", s3_keys},
	{"redis", MR_ROLE_LOOKUP, MR_HAVE_REDIS, "libhiredis", "url|urls", redis_keys},
	{"local", MR_ROLE_LOOKUP, true, NULL, NULL, local_keys},
	{"elasticsearch", MR_ROLE_FTS, MR_HAVE_CURL, "libcurl", "url|urls", elastic_keys},
	{"opensearch", MR_ROLE_FTS, MR_HAVE_CURL, "libcurl", "url|urls", elastic_keys}, /* same backend */
	{"meilisearch", MR_ROLE_FTS, MR_HAVE_CURL, "libcurl", "url", meili_keys},
};

const mr_store_type *mr_store_type_find(const char *name)
{
	for (size_t i = 0; i < MR_ARRAY_LEN(types); i++)
		if (strcmp(types[i].name, name) == 0)
			return &types[i];
	return NULL;
}

const mr_key_spec *mr_store_type_key(const mr_store_type *t, const char *key)
{
	for (const mr_key_spec *k = t->keys; k->name; k++)
		if (strcmp(k->name, key) == 0)
			return k;
	return NULL;
}

const char *mr_role_name(unsigned role)
{
	switch (role) {
	case MR_ROLE_DATA: return "data";
	case MR_ROLE_BLOB: return "blob";
	case MR_ROLE_FTS: return "fts";
	case MR_ROLE_LOOKUP: return "lookup";
	}
	return "?";
}
