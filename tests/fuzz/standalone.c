/*
 * standalone.c — replays fuzz inputs through a libFuzzer target without
 * libFuzzer: every file of the directories (or files) named on the command
 * line is fed to LLVMFuzzerTestOneInput once.  ctest runs it over each
 * target's seed corpus and regressions under the sanitizers.  Fails when a
 * named directory is missing or when no input at all was found.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
		}
	}
	fclose(f);
	if (!buf)
		return -1;
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	long inputs = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			/* regressions/ may legitimately not exist yet: only the corpus is required */
			if (strstr(argv[i], "/regressions/"))
				continue;
			fprintf(stderr, "missing %s\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) != 0)
				return 1;
			inputs++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d)
			return 1;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (run_file(path) != 0) {
					closedir(d);
					return 1;
				}
				inputs++;
			}
		}
		closedir(d);
	}
	printf("replayed %ld inputs\n", inputs);
	if (inputs == 0) {
		fprintf(stderr, "no inputs found\n");
		return 1;
	}
	printf("%ld passed, 0 failed\n", inputs);
	return 0;
}
