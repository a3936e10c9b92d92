/*
 * common.c — helpers shared by the subcommands: global options, error
 * reporting with exit codes, configuration loading, JSON strings.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int mr_cli_parse_globals(mr_cli *cli, int *argc, char **argv)
{
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			for (; i < *argc; i++)
				argv[out++] = argv[i];
			break;
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= *argc)
				return mr_error_set(MR_EINVALID, "%s needs a file name", a);
			cli->config_path = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			cli->config_path = a + 9;
		} else if (strcmp(a, "--json") == 0) {
			cli->json = true;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			cli->log_level = cli->log_level < MR_LOG_DEBUG ? cli->log_level + 1 : MR_LOG_DEBUG;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			cli->log_level = MR_LOG_ERROR;
		} else if (strcmp(a, "--log-level") == 0) {
			if (i + 1 >= *argc)
				return mr_error_set(MR_EINVALID, "--log-level needs one of error, warn, info, debug");
			int rc = mr_log_level_parse(&cli->log_level, argv[++i]);
			if (rc)
				return rc;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

int mr_cli_fail(const char *context)
{
	const mr_error *e = mr_error_last();
	if (context && *context)
		fprintf(stderr, "mailroom: %s: %s\n", context, e->message[0] ? e->message : mr_error_code_name(e->code));
	else
		fprintf(stderr, "mailroom: %s\n", e->message[0] ? e->message : mr_error_code_name(e->code));
	return e->code == MR_EINVALID ? MR_EXIT_USAGE : MR_EXIT_FAIL;
}

int mr_cli_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("mailroom: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return MR_EXIT_USAGE;
}

int mr_cli_load_config(const mr_cli *cli, mr_config **out, int *exit_code)
{
	const char *path = mr_config_default_path(cli->config_path);
	int rc = mr_config_load(out, path);
	if (rc) {
		/* a missing or invalid configuration is the operator's to fix: exit 2 */
		const mr_error *e = mr_error_last();
		fprintf(stderr, "mailroom: %s\n", e->message);
		*exit_code = MR_EXIT_USAGE;
		return rc;
	}
	for (size_t i = 0; i < mr_config_warning_count(*out); i++)
		fprintf(stderr, "mailroom: warning: %s\n", mr_config_warning(*out, i));
	*exit_code = MR_EXIT_OK;
	return 0;
}

void mr_cli_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}
