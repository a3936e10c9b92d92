/*
 * standalone.c — replays fuzz inputs through a libFuzzer target without
 * libFuzzer: every regular file of the directories (or the files) named on
 * the command line is fed to LLVMFuzzerTestOneInput once, in name order,
 * its path printed first so a sanitizer report can be traced to its input.
 * ctest runs it over each target's seed corpus and regressions under the
 * sanitizers (tests/fuzz/CMakeLists.txt).  Fails when a named path other
 * than a regressions/ directory is missing, a file cannot be read, or no
 * input at all was found.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	printf("replay %s\n", path);
	fflush(stdout);
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb)
				free(buf);
			buf = nb;
			cap *= 2;
		}
	}
	bool failed = ferror(f) != 0;
	fclose(f);
	if (!buf || failed) {
		fprintf(stderr, "cannot read %s\n", path);
		free(buf);
		return -1;
	}
	/* a copy of exactly len bytes, so ASan catches reads past the input */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int only_visible(const struct dirent *e)
{
	return e->d_name[0] != '.';
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
		struct dirent **names;
		int n = scandir(argv[i], &names, only_visible, alphasort);
		if (n < 0) {
			fprintf(stderr, "cannot list %s\n", argv[i]);
			return 1;
		}
		int rc = 0;
		for (int k = 0; k < n; k++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name);
			if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (run_file(path) != 0)
					rc = 1;
				else
					inputs++;
			}
			free(names[k]);
		}
		free(names);
		if (rc)
			return rc;
	}
	printf("replayed %ld inputs\n", inputs);
	if (inputs == 0) {
		fprintf(stderr, "no inputs found\n");
		return 1;
	}
	printf("%ld passed, 0 failed\n", inputs);
	return 0;
}
