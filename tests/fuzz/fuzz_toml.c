/*
 * fuzz_toml.c — libFuzzer target for the TOML parser and the configuration
 * model: any bytes either parse or fail with MR_EINVALID and a message.
 */
#include "core/config.h"
#include "core/toml.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mr_toml_value *v = NULL;
	int rc = mr_toml_parse(&v, (const char *)data, size, "fuzz.toml");
	if ((rc == 0) != (v != NULL))
		abort();
	if (rc != 0 && rc != MR_EINVALID && rc != MR_ENOMEM)
		abort();
	mr_toml_free(v);
	mr_config *cfg = NULL;
	rc = mr_config_parse(&cfg, (const char *)data, size, "fuzz.toml");
	if ((rc == 0) != (cfg != NULL))
		abort();
	mr_config_free(cfg);
	return 0;
}
