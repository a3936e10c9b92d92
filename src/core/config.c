/*
 * config.c — the configuration model on top of the TOML parser:
 * [storage] roles naming stores, [store."<id>"] tables checked against the
 * store-type table (store_types.c), secrets resolved from the environment
 * or files, unknown keys collected as warnings, and the typed accessors
 * backends use (src/core/config.h).  Every error names file:line and key.
 */
#include "core/config.h"
#include "core/cron.h"
#include "core/store_types.h"
#include "core/toml.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>

#define F_SECRET (1u << 8) /* value came from %{env}/%{file} or is a secret key */

struct mr_store_config {
	mr_config *cfg;
	char *id;
	const mr_store_type *type;
	mr_toml_value *table;
};

struct mr_config {
	char *path;
	mr_toml_value *root;
	mr_store_config *stores;
	size_t nstores;
	const char *roles[4]; /* data, blob, fts, lookup: store ids (borrowed from stores) */
	char **warnings;
	size_t nwarnings;
};

static const char *const role_keys[4] = {"data", "blob", "fts", "lookup"};

/* ---- helpers ---- */

static int warn(mr_config *cfg, const char *fmt, ...) MR_PRINTF(2, 3);

static int warn(mr_config *cfg, const char *fmt, ...)
{
	char **w = mr_realloc(cfg->warnings, (cfg->nwarnings + 1) * sizeof(*w));
	if (!w)
		return MR_ENOMEM;
	cfg->warnings = w;
	va_list ap;
	va_start(ap, fmt);
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!(w[cfg->nwarnings] = mr_strdup(buf)))
		return MR_ENOMEM;
	cfg->nwarnings++;
	return 0;
}

/* Finds a dotted key ("pool.max-connections") below a table. */
static mr_toml_value *lookup_dotted(const mr_toml_value *t, const char *key)
{
	char part[256];
	const char *s = key;
	for (;;) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, s, n);
		part[n] = '\0';
		mr_toml_value *v = mr_toml_get(t, part);
		if (!v || !dot)
			return v;
		t = v;
		s = dot + 1;
	}
}

static _Thread_local char where_buf[1024];

const char *mr_store_config_where(const mr_store_config *sc, const char *key)
{
	const mr_toml_value *v = key ? lookup_dotted(sc->table, key) : NULL;
	snprintf(where_buf, sizeof(where_buf), "%s:%d", sc->cfg->path, v ? v->line : sc->table->line);
	return where_buf;
}

static int bad(const mr_store_config *sc, const char *key, const char *fmt, ...) MR_PRINTF(3, 4);

static int bad(const mr_store_config *sc, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const mr_toml_value *v = key ? lookup_dotted(sc->table, key) : NULL;
	return mr_error_set(MR_EINVALID, "%s:%d: store.%s.%s: %s", sc->cfg->path, v ? v->line : sc->table->line,
			    sc->id, key ? key : "", msg);
}

/* ---- secrets ---- */

static int read_secret_file(const char *path, mr_buf *out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return mr_error_set_errno(MR_EINVALID, errno, "cannot read secret file %s", path);
	char buf[4096];
	size_t n;
	int rc = 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if ((rc = mr_buf_put(out, buf, n)))
			break;
	if (!rc && ferror(f))
		rc = mr_error_set_errno(MR_EINVALID, errno, "cannot read secret file %s", path);
	fclose(f);
	while (!rc && out->len && (out->ptr[out->len - 1] == '\n' || out->ptr[out->len - 1] == '\r'))
		out->ptr[--out->len] = '\0';
	return rc;
}

/* Replaces every %{env:NAME}% and %{file:/path}% in a string value. */
static int resolve_secrets(mr_config *cfg, const char *keyname, mr_toml_value *v)
{
	if (v->type == MR_TOML_ARRAY) {
		for (size_t i = 0; i < v->u.arr.n; i++) {
			int rc = resolve_secrets(cfg, keyname, v->u.arr.items[i]);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (v->type != MR_TOML_STRING || !strstr(v->u.s.ptr, "%{"))
		return 0;
	mr_buf out = MR_BUF_INIT;
	const char *s = v->u.s.ptr;
	int rc = 0;
	while (*s) {
		const char *open = strstr(s, "%{");
		if (!open) {
			rc = mr_buf_puts(&out, s);
			break;
		}
		if ((rc = mr_buf_put(&out, s, (size_t)(open - s))))
			break;
		const char *close = strstr(open, "}%");
		if (!close) {
			rc = mr_error_set(MR_EINVALID, "%s:%d: %s: unterminated %%{...}%% (expected %%{env:NAME}%% or %%{file:/path}%%)",
					  cfg->path, v->line, keyname);
			break;
		}
		char spec[1024];
		size_t n = (size_t)(close - open - 2);
		if (n >= sizeof(spec)) {
			rc = mr_error_set(MR_EINVALID, "%s:%d: %s: secret reference too long", cfg->path, v->line, keyname);
			break;
		}
		memcpy(spec, open + 2, n);
		spec[n] = '\0';
		if (strncmp(spec, "env:", 4) == 0) {
			const char *val = getenv(spec + 4);
			if (!val) {
				rc = mr_error_set(MR_EINVALID, "%s:%d: %s: environment variable %s is not set", cfg->path,
						  v->line, keyname, spec + 4);
				break;
			}
			rc = mr_buf_puts(&out, val);
		} else if (strncmp(spec, "file:", 5) == 0) {
			mr_buf fb = MR_BUF_INIT;
			rc = read_secret_file(spec + 5, &fb);
			if (!rc)
				rc = mr_buf_put(&out, fb.ptr, fb.len);
			else
				mr_error_prefix("%s:%d: %s", cfg->path, v->line, keyname);
			mr_buf_dispose(&fb);
		} else {
			rc = mr_error_set(MR_EINVALID, "%s:%d: %s: unknown reference %%{%s}%% (expected env: or file:)",
					  cfg->path, v->line, keyname, spec);
		}
		if (rc)
			break;
		s = close + 2;
	}
	if (rc) {
		mr_buf_dispose(&out);
		return rc;
	}
	if (!out.ptr && (rc = mr_buf_put(&out, "", 0)))
		return rc;
	mr_free(v->u.s.ptr);
	v->u.s.ptr = (char *)out.ptr;
	v->u.s.len = out.len;
	v->flags |= F_SECRET;
	return 0;
}

/* ---- value parsing shared by validation and accessors ---- */

int mr_config__parse_duration(const char *s, int64_t *out_ms)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (end == s || errno || n < 0)
		return MR_EINVALID;
	int64_t mul;
	if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "s") == 0 || strcmp(end, "") == 0)
		mul = 1000;
	else if (strcmp(end, "m") == 0)
		mul = 60000;
	else if (strcmp(end, "h") == 0)
		mul = 3600000;
	else if (strcmp(end, "d") == 0)
		mul = 86400000;
	else
		return MR_EINVALID;
	if (n > INT64_MAX / mul)
		return MR_EINVALID;
	*out_ms = n * mul;
	return 0;
}

int mr_config__parse_size(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (end == s || errno || n < 0)
		return MR_EINVALID;
	while (*end == ' ')
		end++;
	static const struct {
		const char *suffix;
		int64_t mul;
	} units[] = {{"", 1},
		     {"B", 1},
		     {"K", 1024},
		     {"KiB", 1024},
		     {"KB", 1000},
		     {"M", 1024 * 1024},
		     {"MiB", 1024 * 1024},
		     {"MB", 1000 * 1000},
		     {"G", 1024LL * 1024 * 1024},
		     {"GiB", 1024LL * 1024 * 1024},
		     {"GB", 1000LL * 1000 * 1000}};
	for (size_t i = 0; i < MR_ARRAY_LEN(units); i++)
		if (strcmp(end, units[i].suffix) == 0) {
			if (n > INT64_MAX / units[i].mul)
				return MR_EINVALID;
			*out = n * units[i].mul;
			return 0;
		}
	return MR_EINVALID;
}

/* ---- validation ---- */

static int check_key(mr_store_config *sc, const char *key, const mr_key_spec *spec, const mr_toml_value *v)
{
	int64_t tmp;
	switch (spec->kind) {
	case MR_KEY_STRING:
	case MR_KEY_SECRET:
		if (v->type != MR_TOML_STRING)
			return bad(sc, key, "expected a string, got %s", mr_toml_type_name(v->type));
		return 0;
	case MR_KEY_INT:
		if (v->type != MR_TOML_INTEGER)
			return bad(sc, key, "expected an integer, got %s", mr_toml_type_name(v->type));
		if (v->u.i < 0)
			return bad(sc, key, "expected a non-negative integer, got %lld", (long long)v->u.i);
		return 0;
	case MR_KEY_PORT:
		if (v->type != MR_TOML_INTEGER)
			return bad(sc, key, "expected a port number 1-65535, got %s", mr_toml_type_name(v->type));
		if (v->u.i < 1 || v->u.i > 65535)
			return bad(sc, key, "port %lld is out of range 1-65535", (long long)v->u.i);
		return 0;
	case MR_KEY_BOOL:
		if (v->type != MR_TOML_BOOL)
			return bad(sc, key, "expected true or false, got %s", mr_toml_type_name(v->type));
		return 0;
	case MR_KEY_DURATION:
		if (v->type == MR_TOML_INTEGER && v->u.i >= 0)
			return 0;
		if (v->type != MR_TOML_STRING || mr_config__parse_duration(v->u.s.ptr, &tmp))
			return bad(sc, key, "expected a duration such as \"250ms\", \"30s\", \"5m\", \"1h\", \"7d\" or milliseconds");
		return 0;
	case MR_KEY_SIZE:
		if (v->type == MR_TOML_INTEGER && v->u.i >= 0)
			return 0;
		if (v->type != MR_TOML_STRING || mr_config__parse_size(v->u.s.ptr, &tmp))
			return bad(sc, key, "expected a size such as 65536, \"64KiB\", \"16MiB\", \"1GiB\"");
		return 0;
	case MR_KEY_STRINGS:
		if (v->type == MR_TOML_STRING)
			return 0;
		if (v->type != MR_TOML_ARRAY)
			return bad(sc, key, "expected a string or an array of strings, got %s", mr_toml_type_name(v->type));
		for (size_t i = 0; i < v->u.arr.n; i++)
			if (v->u.arr.items[i]->type != MR_TOML_STRING)
				return bad(sc, key, "element %zu: expected a string, got %s", i + 1,
					   mr_toml_type_name(v->u.arr.items[i]->type));
		return 0;
	case MR_KEY_CRON: {
		if (v->type != MR_TOML_STRING)
			return bad(sc, key, "expected a schedule string \"MINUTE HOUR DAY-OF-WEEK\", got %s",
				   mr_toml_type_name(v->type));
		mr_cron c;
		if (mr_cron_parse(&c, v->u.s.ptr) != 0) {
			char msg[512];
			snprintf(msg, sizeof(msg), "%s", mr_error_last()->message);
			return bad(sc, key, "%s", msg);
		}
		return 0;
	}
	}
	return 0;
}

/* Walks a store table: known keys are type-checked, unknown ones warned about. */
static int check_table(mr_store_config *sc, const mr_toml_value *t, const char *prefix)
{
	for (size_t i = 0; i < t->u.tab.n; i++) {
		char key[512];
		snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", t->u.tab.keys[i]);
		const mr_toml_value *v = t->u.tab.vals[i];
		if (strcmp(key, "type") == 0)
			continue;
		const mr_key_spec *spec = mr_store_type_key(sc->type, key);
		if (spec) {
			int rc = check_key(sc, key, spec, v);
			if (rc)
				return rc;
			if (spec->kind == MR_KEY_SECRET)
				((mr_toml_value *)v)->flags |= F_SECRET;
			continue;
		}
		if (v->type == MR_TOML_TABLE) {
			int rc = check_table(sc, v, key);
			if (rc)
				return rc;
			continue;
		}
		int rc = warn(sc->cfg, "%s:%d: store.%s.%s: unknown key for a store of type \"%s\" (ignored)", sc->cfg->path,
			      v->line, sc->id, key, sc->type->name);
		if (rc)
			return rc;
	}
	return 0;
}

static int resolve_table_secrets(mr_store_config *sc, mr_toml_value *t, const char *prefix)
{
	for (size_t i = 0; i < t->u.tab.n; i++) {
		char key[512];
		snprintf(key, sizeof(key), "store.%s.%s%s%s", sc->id, prefix, *prefix ? "." : "", t->u.tab.keys[i]);
		mr_toml_value *v = t->u.tab.vals[i];
		int rc;
		if (v->type == MR_TOML_TABLE) {
			char sub[512];
			snprintf(sub, sizeof(sub), "%s%s%s", prefix, *prefix ? "." : "", t->u.tab.keys[i]);
			rc = resolve_table_secrets(sc, v, sub);
		} else
			rc = resolve_secrets(sc->cfg, key, v);
		if (rc)
			return rc;
	}
	return 0;
}

static int load_store(mr_config *cfg, const char *id, mr_toml_value *t, mr_store_config *sc)
{
	sc->cfg = cfg;
	sc->table = t;
	if (!(sc->id = mr_strdup(id)))
		return MR_ENOMEM;
	if (t->type != MR_TOML_TABLE)
		return mr_error_set(MR_EINVALID, "%s:%d: store.%s: expected a table [store.\"%s\"], got %s", cfg->path,
				    t->line, id, id, mr_toml_type_name(t->type));
	mr_toml_value *type = mr_toml_get(t, "type");
	if (!type)
		return mr_error_set(MR_EINVALID, "%s:%d: store.%s.type: missing required key (e.g. type = \"rocksdb\")",
				    cfg->path, t->line, id);
	if (type->type != MR_TOML_STRING)
		return mr_error_set(MR_EINVALID, "%s:%d: store.%s.type: expected a string, got %s", cfg->path, type->line,
				    id, mr_toml_type_name(type->type));
	sc->type = mr_store_type_find(type->u.s.ptr);
	if (!sc->type)
		return mr_error_set(MR_EINVALID,
				    "%s:%d: store.%s.type: unknown store type \"%s\" (known: rocksdb, sqlite, postgresql, "
				    "mysql, fs, s3, redis, local, elasticsearch, meilisearch)",
				    cfg->path, type->line, id, type->u.s.ptr);
	if (!sc->type->compiled)
		return mr_error_set(MR_ENOTSUPPORTED,
				    "%s:%d: store.%s.type: store \"%s\": backend \"%s\" is not compiled into this build (%s "
				    "was not found at configure time)",
				    cfg->path, type->line, id, id, sc->type->name, sc->type->missing_lib);
	int rc = resolve_table_secrets(sc, t, "");
	if (rc)
		return rc;
	if ((rc = check_table(sc, t, "")))
		return rc;
	if (sc->type->required) {
		char req[128];
		snprintf(req, sizeof(req), "%s", sc->type->required);
		bool found = false;
		for (char *save = NULL, *k = strtok_r(req, "|", &save); k; k = strtok_r(NULL, "|", &save))
			if (lookup_dotted(t, k))
				found = true;
		if (!found) {
			snprintf(req, sizeof(req), "%s", sc->type->required);
			for (char *p = req; *p; p++)
				if (*p == '|')
					*p = '/';
			return mr_error_set(MR_EINVALID, "%s:%d: store.%s.%s: missing required key for a store of type \"%s\"",
					    cfg->path, t->line, id, req, sc->type->name);
		}
	}
	return 0;
}

static int load_model(mr_config *cfg)
{
	mr_toml_value *root = cfg->root;
	int rc;
	for (size_t i = 0; i < root->u.tab.n; i++) {
		const char *k = root->u.tab.keys[i];
		if (strcmp(k, "storage") && strcmp(k, "store") && strcmp(k, "server") && strcmp(k, "log") &&
		    (rc = warn(cfg, "%s:%d: %s: unknown top-level key (ignored)", cfg->path, root->u.tab.vals[i]->line, k)))
			return rc;
	}
	mr_toml_value *log = mr_toml_get(root, "log");
	if (log) {
		mr_toml_value *level = mr_toml_get(log, "level");
		mr_log_level lv;
		if (level && (level->type != MR_TOML_STRING || mr_log_level_parse(&lv, level->u.s.ptr)))
			return mr_error_set(MR_EINVALID, "%s:%d: log.level: expected one of \"error\", \"warn\", \"info\", \"debug\"",
					    cfg->path, level->line);
	}
	mr_toml_value *stores = mr_toml_get(root, "store");
	if (stores) {
		if (stores->type != MR_TOML_TABLE)
			return mr_error_set(MR_EINVALID, "%s:%d: store: expected tables [store.\"<id>\"], got %s", cfg->path,
					    stores->line, mr_toml_type_name(stores->type));
		cfg->stores = mr_calloc(stores->u.tab.n, sizeof(*cfg->stores));
		if (!cfg->stores)
			return MR_ENOMEM;
		for (size_t i = 0; i < stores->u.tab.n; i++) {
			cfg->nstores++;
			if ((rc = load_store(cfg, stores->u.tab.keys[i], stores->u.tab.vals[i], &cfg->stores[i])))
				return rc;
		}
	}
	mr_toml_value *storage = mr_toml_get(root, "storage");
	if (!storage)
		return mr_error_set(MR_EINVALID, "%s:1: storage: missing required table [storage] (data = \"<store id>\")",
				    cfg->path);
	if (storage->type != MR_TOML_TABLE)
		return mr_error_set(MR_EINVALID, "%s:%d: storage: expected a table, got %s", cfg->path, storage->line,
				    mr_toml_type_name(storage->type));
	for (size_t i = 0; i < storage->u.tab.n; i++) {
		const char *k = storage->u.tab.keys[i];
		mr_toml_value *v = storage->u.tab.vals[i];
		int role = -1;
		for (int r = 0; r < 4; r++)
			if (strcmp(k, role_keys[r]) == 0)
				role = r;
		if (role < 0) {
			if ((rc = warn(cfg, "%s:%d: storage.%s: unknown key (roles are data, blob, fts, lookup; ignored)",
				       cfg->path, v->line, k)))
				return rc;
			continue;
		}
		if (v->type != MR_TOML_STRING)
			return mr_error_set(MR_EINVALID, "%s:%d: storage.%s: expected a store id (string), got %s", cfg->path,
					    v->line, k, mr_toml_type_name(v->type));
		const mr_store_config *sc = mr_config_store(cfg, v->u.s.ptr);
		if (!sc)
			return mr_error_set(MR_EINVALID, "%s:%d: storage.%s: names store \"%s\", which is not defined (add [store.\"%s\"])",
					    cfg->path, v->line, k, v->u.s.ptr, v->u.s.ptr);
		if (!(sc->type->roles & (1u << role)))
			return mr_error_set(MR_EINVALID, "%s:%d: storage.%s: store \"%s\" has type \"%s\", which cannot serve as the %s store",
					    cfg->path, v->line, k, sc->id, sc->type->name, role_keys[role]);
		cfg->roles[role] = sc->id;
	}
	if (!cfg->roles[0])
		return mr_error_set(MR_EINVALID, "%s:%d: storage.data: missing required key (the data store's id)", cfg->path,
				    storage->line);
	/* blob, fts and lookup default to the data store */
	for (int r = 1; r < 4; r++)
		if (!cfg->roles[r])
			cfg->roles[r] = cfg->roles[0];
	return 0;
}

int mr_config_parse(mr_config **out, const char *text, size_t len, const char *filename)
{
	*out = NULL;
	mr_config *cfg = mr_calloc(1, sizeof(*cfg));
	if (!cfg)
		return MR_ENOMEM;
	int rc;
	if (!(cfg->path = mr_strdup(filename ? filename : "<config>"))) {
		rc = MR_ENOMEM;
		goto fail;
	}
	if ((rc = mr_toml_parse(&cfg->root, text, len, cfg->path)))
		goto fail;
	if ((rc = load_model(cfg)))
		goto fail;
	*out = cfg;
	return 0;
fail:
	mr_config_free(cfg);
	return rc;
}

int mr_config_load(mr_config **out, const char *path)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return mr_error_set_errno(errno == ENOENT ? MR_ENOTFOUND : MR_EIO, errno,
					  "configuration %s (create one with `mailroom init`)", path);
	mr_buf b = MR_BUF_INIT;
	char chunk[8192];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((rc = mr_buf_put(&b, chunk, n)))
			break;
	if (!rc && ferror(f))
		rc = mr_error_set_errno(MR_EIO, errno, "read %s", path);
	fclose(f);
	if (!rc)
		rc = mr_config_parse(out, b.ptr ? (const char *)b.ptr : "", b.len, path);
	mr_buf_dispose(&b);
	return rc;
}

void mr_config_free(mr_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nstores; i++)
		mr_free(cfg->stores[i].id);
	mr_free(cfg->stores);
	for (size_t i = 0; i < cfg->nwarnings; i++)
		mr_free(cfg->warnings[i]);
	mr_free(cfg->warnings);
	mr_toml_free(cfg->root);
	mr_free(cfg->path);
	mr_free(cfg);
}

const char *mr_config_default_path(const char *cli_path)
{
	if (cli_path)
		return cli_path;
	const char *env = getenv("MAILROOM_CONFIG");
	if (env && *env)
		return env;
	return "mailroom.toml";
}

size_t mr_config_warning_count(const mr_config *cfg) { return cfg ? cfg->nwarnings : 0; }
const char *mr_config_warning(const mr_config *cfg, size_t i) { return i < cfg->nwarnings ? cfg->warnings[i] : ""; }
const char *mr_config_path(const mr_config *cfg) { return cfg->path; }

const char *mr_config_role(const mr_config *cfg, const char *role)
{
	for (int r = 0; r < 4; r++)
		if (strcmp(role, role_keys[r]) == 0)
			return cfg->roles[r];
	return NULL;
}

const mr_store_config *mr_config_store(const mr_config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->nstores; i++)
		if (strcmp(cfg->stores[i].id, id) == 0)
			return &cfg->stores[i];
	return NULL;
}

size_t mr_config_store_count(const mr_config *cfg) { return cfg->nstores; }
const mr_store_config *mr_config_store_at(const mr_config *cfg, size_t i) { return i < cfg->nstores ? &cfg->stores[i] : NULL; }

/* ---- accessors ---- */

const char *mr_store_config_id(const mr_store_config *sc) { return sc->id; }
const struct mr_toml_value *mr_store_config__toml(const mr_store_config *sc) { return sc->table; }
const char *mr_store_config_type(const mr_store_config *sc) { return sc->type->name; }
bool mr_store_config_has(const mr_store_config *sc, const char *key) { return lookup_dotted(sc->table, key) != NULL; }

bool mr_store_config__is_secret(const mr_store_config *sc, const char *key)
{
	const mr_toml_value *v = lookup_dotted(sc->table, key);
	return v && (v->flags & F_SECRET);
}

int mr_store_config_string(const mr_store_config *sc, const char *key, const char *def, const char **out)
{
	const mr_toml_value *v = lookup_dotted(sc->table, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (v->type != MR_TOML_STRING)
		return bad(sc, key, "expected a string, got %s", mr_toml_type_name(v->type));
	*out = v->u.s.ptr;
	return 0;
}

int mr_store_config_string_required(const mr_store_config *sc, const char *key, const char **out)
{
	if (!lookup_dotted(sc->table, key)) {
		*out = NULL;
		return bad(sc, key, "missing required key");
	}
	return mr_store_config_string(sc, key, NULL, out);
}

int mr_store_config_int(const mr_store_config *sc, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out)
{
	const mr_toml_value *v = lookup_dotted(sc->table, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (v->type != MR_TOML_INTEGER)
		return bad(sc, key, "expected an integer, got %s", mr_toml_type_name(v->type));
	if (v->u.i < min || v->u.i > max)
		return bad(sc, key, "%lld is out of range %lld-%lld", (long long)v->u.i, (long long)min, (long long)max);
	*out = v->u.i;
	return 0;
}

int mr_store_config_bool(const mr_store_config *sc, const char *key, bool def, bool *out)
{
	const mr_toml_value *v = lookup_dotted(sc->table, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (v->type != MR_TOML_BOOL)
		return bad(sc, key, "expected true or false, got %s", mr_toml_type_name(v->type));
	*out = v->u.b;
	return 0;
}

int mr_store_config_duration_ms(const mr_store_config *sc, const char *key, int64_t def_ms, int64_t *out)
{
	const mr_toml_value *v = lookup_dotted(sc->table, key);
	if (!v) {
		*out = def_ms;
		return 0;
	}
	if (v->type == MR_TOML_INTEGER && v->u.i >= 0) {
		*out = v->u.i;
		return 0;
	}
	if (v->type != MR_TOML_STRING || mr_config__parse_duration(v->u.s.ptr, out))
		return bad(sc, key, "expected a duration such as \"250ms\", \"30s\", \"5m\", \"1h\", \"7d\" or milliseconds");
	return 0;
}

int mr_store_config_size(const mr_store_config *sc, const char *key, int64_t def, int64_t *out)
{
	const mr_toml_value *v = lookup_dotted(sc->table, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (v->type == MR_TOML_INTEGER && v->u.i >= 0) {
		*out = v->u.i;
		return 0;
	}
	if (v->type != MR_TOML_STRING || mr_config__parse_size(v->u.s.ptr, out))
		return bad(sc, key, "expected a size such as 65536, \"64KiB\", \"16MiB\", \"1GiB\"");
	return 0;
}

int mr_store_config_strings(const mr_store_config *sc, const char *key, const char *const **out, size_t *n)
{
	/* The array of pointers is built once per value and kept on the value's
	 * table entry; arrays are small (a few URLs). */
	mr_toml_value *v = lookup_dotted(sc->table, key);
	*out = NULL;
	*n = 0;
	if (!v)
		return 0;
	if (v->type == MR_TOML_STRING) {
		/* a single string: expose as an array of one */
		static _Thread_local const char *one[1];
		one[0] = v->u.s.ptr;
		*out = one;
		*n = 1;
		return 0;
	}
	if (v->type != MR_TOML_ARRAY)
		return bad(sc, key, "expected a string or an array of strings, got %s", mr_toml_type_name(v->type));
	for (size_t i = 0; i < v->u.arr.n; i++)
		if (v->u.arr.items[i]->type != MR_TOML_STRING)
			return bad(sc, key, "element %zu: expected a string", i + 1);
	/* strings are stored as the first field of each item; build a pointer view in a cache */
	static _Thread_local const char *view[64];
	if (v->u.arr.n > MR_ARRAY_LEN(view))
		return bad(sc, key, "at most %zu entries", MR_ARRAY_LEN(view));
	for (size_t i = 0; i < v->u.arr.n; i++)
		view[i] = v->u.arr.items[i]->u.s.ptr;
	*out = view;
	*n = v->u.arr.n;
	return 0;
}
