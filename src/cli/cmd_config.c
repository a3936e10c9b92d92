/*
 * cmd_config.c — `mailroom config check [-c FILE] [--json]`: validates the
 * configuration and prints how roles are wired to stores and backends,
 * with every store's keys (secrets redacted).
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/toml.h"

#include <string.h>

/* Prints the scalar keys of a store table, dotted, redacting secrets. */
static void print_keys(const mr_store_config *sc, const mr_toml_value *t, const char *prefix, bool json, bool *first)
{
	for (size_t i = 0; i < t->u.tab.n; i++) {
		char key[512];
		snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", t->u.tab.keys[i]);
		const mr_toml_value *v = t->u.tab.vals[i];
		if (v->type == MR_TOML_TABLE) {
			print_keys(sc, v, key, json, first);
			continue;
		}
		if (strcmp(key, "type") == 0)
			continue;
		char val[1024];
		bool secret = mr_store_config__is_secret(sc, key);
		bool quoted = false;
		switch (v->type) {
		case MR_TOML_STRING:
			snprintf(val, sizeof(val), "%s", secret ? "<redacted>" : v->u.s.ptr);
			quoted = true;
			break;
		case MR_TOML_INTEGER: snprintf(val, sizeof(val), "%lld", (long long)v->u.i); break;
		case MR_TOML_BOOL: snprintf(val, sizeof(val), "%s", v->u.b ? "true" : "false"); break;
		case MR_TOML_FLOAT: snprintf(val, sizeof(val), "%g", v->u.f); break;
		case MR_TOML_ARRAY: {
			size_t off = (size_t)snprintf(val, sizeof(val), "[");
			for (size_t j = 0; j < v->u.arr.n && off < sizeof(val); j++) {
				const mr_toml_value *e = v->u.arr.items[j];
				off += (size_t)snprintf(val + off, sizeof(val) - off, "%s%s", j ? ", " : "",
							e->type == MR_TOML_STRING ? (secret ? "<redacted>" : e->u.s.ptr) : "?");
			}
			if (off < sizeof(val))
				snprintf(val + off, sizeof(val) - off, "]");
			break;
		}
		default: snprintf(val, sizeof(val), "%s", v->type == MR_TOML_STRING ? "" : "(date/time)"); break;
		}
		if (json) {
			printf("%s", *first ? "" : ",");
			mr_cli_json_string(stdout, key);
			printf(":");
			if (quoted || v->type == MR_TOML_ARRAY)
				mr_cli_json_string(stdout, val);
			else
				printf("%s", val);
		} else
			printf("    %s = %s%s%s\n", key, quoted ? "\"" : "", val, quoted ? "\"" : "");
		*first = false;
	}
}

int mr_cmd_config(mr_cli *cli, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "check") != 0)
		return mr_cli_usage("usage: mailroom config check [-c FILE] [--json]");
	mr_config *cfg;
	int exit_code;
	if (mr_cli_load_config(cli, &cfg, &exit_code))
		return exit_code;
	static const char *const roles[] = {"data", "blob", "fts", "lookup"};
	if (cli->json) {
		printf("{\"config\":");
		mr_cli_json_string(stdout, mr_config_path(cfg));
		printf(",\"roles\":{");
		for (int r = 0; r < 4; r++) {
			const char *id = mr_config_role(cfg, roles[r]);
			printf("%s\"%s\":{\"store\":", r ? "," : "", roles[r]);
			mr_cli_json_string(stdout, id);
			printf(",\"type\":");
			mr_cli_json_string(stdout, mr_store_config_type(mr_config_store(cfg, id)));
			printf("}");
		}
		printf("},\"stores\":{");
		for (size_t i = 0; i < mr_config_store_count(cfg); i++) {
			const mr_store_config *sc = mr_config_store_at(cfg, i);
			printf("%s", i ? "," : "");
			mr_cli_json_string(stdout, mr_store_config_id(sc));
			printf(":{\"type\":");
			mr_cli_json_string(stdout, mr_store_config_type(sc));
			bool first = false;
			print_keys(sc, mr_store_config__toml(sc), "", true, &first);
			printf("}");
		}
		printf("},\"warnings\":%zu}\n", mr_config_warning_count(cfg));
	} else {
		printf("%s: ok (%zu warning%s)\n", mr_config_path(cfg), mr_config_warning_count(cfg),
		       mr_config_warning_count(cfg) == 1 ? "" : "s");
		printf("roles:\n");
		for (int r = 0; r < 4; r++) {
			const char *id = mr_config_role(cfg, roles[r]);
			printf("  %-7s -> store \"%s\" (%s)\n", roles[r], id, mr_store_config_type(mr_config_store(cfg, id)));
		}
		printf("stores:\n");
		for (size_t i = 0; i < mr_config_store_count(cfg); i++) {
			const mr_store_config *sc = mr_config_store_at(cfg, i);
			printf("  %s (%s)\n", mr_store_config_id(sc), mr_store_config_type(sc));
			bool first = true;
			print_keys(sc, mr_store_config__toml(sc), "", false, &first);
		}
	}
	mr_config_free(cfg);
	return MR_EXIT_OK;
}
