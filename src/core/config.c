/* config.c — placeholder until the TOML configuration lands (issue 2). */
#include "core/config.h"
#include "core/common.h"

int mr_config_load(mr_config **out, const char *path)
{
	*out = NULL;
	return mr_error_set(MR_ENOTSUPPORTED, "%s: configuration loading is not implemented yet", path);
}
int mr_config_parse(mr_config **out, const char *text, size_t len, const char *filename)
{
	(void)text;
	(void)len;
	*out = NULL;
	return mr_error_set(MR_ENOTSUPPORTED, "%s: configuration parsing is not implemented yet", filename);
}
void mr_config_free(mr_config *cfg) { (void)cfg; }
const char *mr_config_default_path(const char *cli_path) { return cli_path ? cli_path : "mailroom.toml"; }
size_t mr_config_warning_count(const mr_config *cfg) { (void)cfg; return 0; }
const char *mr_config_warning(const mr_config *cfg, size_t i) { (void)cfg; (void)i; return ""; }
