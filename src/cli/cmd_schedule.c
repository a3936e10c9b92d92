/*
 * cmd_schedule.c — `mailroom schedule next "MIN HOUR DOW" [--from TIME]
 * [--count N] [--utc]` prints the next fire times of a simple cron
 * expression (ISO-8601, local time with its offset, or UTC);
 * `mailroom schedule list [-c FILE]` shows each store's purge schedule, its
 * next run and the purge tasks that run then.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/cron.h"
#include "schedule/schedule.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int two(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }
static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM|-HH:MM] (a space may stand for the T);
 * no offset = local time, read by the cron rules (a repeated wall time is
 * its first occurrence, a skipped one lies after the gap). */
static int parse_iso(const char *s, int64_t *out)
{
	size_t n = strlen(s);
	if (n < 16 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2))
		goto bad;
	int year = two(s) * 100 + two(s + 2), month = two(s + 5), day = two(s + 8), hour = two(s + 11),
	    minute = two(s + 14), second = 0;
	const char *p = s + 16;
	if (*p == ':') {
		if (!digits(p + 1, 2))
			goto bad;
		second = two(p + 1);
		p += 3;
	}
	bool local = *p == '\0';
	int offset = 0;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) && two(p + 1) <= 23 &&
		 two(p + 4) <= 59) {
		offset = (two(p + 1) * 60 + two(p + 4)) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else if (!local)
		goto bad;
	if (*p)
		goto bad;
	if (mr_cron_time_from_civil(year, month, day, hour, minute, second, local, out))
		return mr_error_prefix("--from \"%s\"", s);
	*out -= offset;
	return 0;
bad:
	return mr_error_set(MR_EINVALID, "--from \"%s\": expected YYYY-MM-DDTHH:MM[:SS] with optional Z or +HH:MM", s);
}

static void format_time(char *buf, size_t len, int64_t t, bool utc)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (utc) {
		gmtime_r(&tt, &tm);
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
		return;
	}
	localtime_r(&tt, &tm);
	long off = tm.tm_gmtoff;
	char base[40];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s%c%02ld:%02ld", base, off < 0 ? '-' : '+', labs(off) / 3600, (labs(off) % 3600) / 60);
}

static int schedule_next(mr_cli *cli, int argc, char **argv)
{
	const char *expr = NULL, *from = NULL;
	long count = 1;
	bool utc = false;
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--from") == 0 || strcmp(argv[i], "--count") == 0) && i + 1 >= argc)
			return mr_cli_usage("%s: missing value", argv[i]);
		if (strcmp(argv[i], "--from") == 0)
			from = argv[++i];
		else if (strcmp(argv[i], "--count") == 0) {
			char *end;
			count = strtol(argv[++i], &end, 10);
			if (*end || count < 1 || count > 10000)
				return mr_cli_usage("--count \"%s\": expected a number from 1 to 10000", argv[i]);
		} else if (strcmp(argv[i], "--utc") == 0)
			utc = true;
		else if (argv[i][0] == '-' && argv[i][1] == '-')
			return mr_cli_usage("schedule next: unknown option %s", argv[i]);
		else if (!expr)
			expr = argv[i];
		else
			return mr_cli_usage("usage: mailroom schedule next \"MINUTE HOUR DAY-OF-WEEK\" [--from ISO-8601] [--count N] [--utc] [--json]");
	}
	if (!expr)
		return mr_cli_usage("usage: mailroom schedule next \"MINUTE HOUR DAY-OF-WEEK\" [--from ISO-8601] [--count N] [--utc] [--json]");
	mr_cron c;
	if (mr_cron_parse(&c, expr))
		return mr_cli_fail("schedule");
	int64_t t = time(NULL);
	if (from && parse_iso(from, &t))
		return mr_cli_fail("schedule");
	if (cli->json)
		printf("[");
	for (long i = 0; i < count; i++) {
		if (mr_cron_next(&c, t, &t))
			return mr_cli_fail("schedule");
		char buf[64];
		format_time(buf, sizeof(buf), t, utc);
		if (cli->json)
			printf("%s\"%s\"", i ? "," : "", buf);
		else
			printf("%s\n", buf);
	}
	if (cli->json)
		printf("]\n");
	return MR_EXIT_OK;
}

static int schedule_list(mr_cli *cli, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return mr_cli_usage("usage: mailroom schedule list [-c FILE] [--json]");
	mr_config *cfg;
	int exit_code;
	if (mr_cli_load_config(cli, &cfg, &exit_code))
		return exit_code;
	if (cli->json)
		printf("[");
	bool first = true;
	for (size_t i = 0; i < mr_config_store_count(cfg); i++) {
		const mr_store_config *sc = mr_config_store_at(cfg, i);
		const char *freq = NULL;
		char next[64] = "-";
		mr_cron c;
		int64_t t;
		if (mr_store_config_string(sc, "purge.frequency", NULL, &freq) == 0 && freq && mr_cron_parse(&c, freq) == 0 &&
		    mr_cron_next(&c, time(NULL), &t) == 0)
			format_time(next, sizeof(next), t, false);
		char tasks[128];
		mr_purge_describe_config(cfg, mr_store_config_id(sc), tasks, sizeof(tasks));
		if (cli->json) {
			printf("%s{\"store\":", first ? "" : ",");
			mr_cli_json_string(stdout, mr_store_config_id(sc));
			printf(",\"type\":");
			mr_cli_json_string(stdout, mr_store_config_type(sc));
			printf(",\"purge_frequency\":");
			if (freq)
				mr_cli_json_string(stdout, freq);
			else
				printf("null");
			printf(",\"next\":");
			if (freq)
				mr_cli_json_string(stdout, next);
			else
				printf("null");
			printf(",\"tasks\":");
			mr_cli_json_string(stdout, tasks);
			printf("}");
		} else
			printf("%-16s %-12s %-12s %-26s %s\n", mr_store_config_id(sc), mr_store_config_type(sc),
			       freq ? freq : "(none)", freq ? next : "no purge scheduled", *tasks ? tasks : "-");
		first = false;
	}
	if (cli->json)
		printf("]\n");
	mr_config_free(cfg);
	return MR_EXIT_OK;
}

int mr_cmd_schedule(mr_cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "next") == 0)
		return schedule_next(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return schedule_list(cli, argc - 1, argv + 1);
	return mr_cli_usage("usage: mailroom schedule next \"MINUTE HOUR DAY-OF-WEEK\" [--from ISO-8601] [--count N] [--utc] [--json]\n"
			    "       mailroom schedule list [-c FILE] [--json]");
}
