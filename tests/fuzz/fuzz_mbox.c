/*
 * fuzz_mbox.c — libFuzzer target for mbox splitting (src/mail/reader.c):
 * the input, minus its first byte, is written to a memory file and read as
 * an mbox; the first byte picks the format (mboxrd, mboxo, raw).  Never a
 * crash or leak; messages are numbered 1, 2, ... with increasing offsets
 * inside the file, none is larger than the file, and unescaping only ever
 * removes bytes.  Seeds: tests/fuzz/corpus/mbox/; crashes kept in
 * tests/fuzz/regressions/mbox/.
 */
#include "mail/reader.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (memfd < 0) {
		memfd = memfd_create("fuzz_mbox", MFD_CLOEXEC);
		if (memfd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	mr_mail_reader_options o = {.mbox = true, .mbox_format = (mr_mbox_format)(data[0] % 3)};
	data++;
	size--;
	if (ftruncate(memfd, 0) != 0 || (size && pwrite(memfd, data, size, 0) != (ssize_t)size))
		abort();
	mr_mail_reader *r = NULL;
	if (mr_mail_reader_open(&r, path, &o) != 0)
		abort();
	const mr_mail_item *it = NULL;
	uint64_t n = 0, total = 0, last_off = 0;
	int rc;
	while ((rc = mr_mail_reader_next(r, &it)) == 0 && it) {
		n++;
		if (it->mbox_number != n || it->kind != MR_MAIL_SOURCE_MBOX)
			abort();
		if (it->bytes.len > size || it->mbox_offset > size || (n > 1 && it->mbox_offset <= last_off))
			abort();
		last_off = it->mbox_offset;
		total += it->bytes.len;
		if (it->mbox_from && strncmp(it->mbox_from, "From ", 5) != 0)
			abort();
	}
	if (rc != 0 || total > size)
		abort();
	mr_mail_reader_free(r);
	return 0;
}
