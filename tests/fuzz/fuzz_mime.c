/*
 * fuzz_mime.c — libFuzzer target for the message parser (src/mail/message.c):
 * any bytes must yield a model (never a failure other than out of memory),
 * leave the input untouched, and give valid UTF-8 everywhere; the subject
 * normalizer, the thread key and the HTML reducer run on the result.
 * Seeds: tests/fuzz/corpus/mime/; crashes kept in tests/fuzz/regressions/mime/.
 */
#include "mail/message.h"

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_utf8(const char *s)
{
	if (s && !g_utf8_validate(s, -1, NULL))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = calloc(1, size ? size : 1);
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	mr_message *m = NULL;
	int rc = mr_message_parse(&m, copy, size);
	if (rc != 0) {
		if (rc != MR_ENOMEM || m != NULL)
			abort();
		free(copy);
		return 0;
	}
	if (size && memcmp(copy, data, size) != 0)
		abort(); /* the input is read only */
	if (m->raw_size != size || m->header_size > size)
		abort();
	check_utf8(m->subject);
	check_utf8(m->subject_normalized);
	check_utf8(m->message_id);
	for (size_t i = 0; i < m->from.count; i++) {
		check_utf8(m->from.items[i].name);
		check_utf8(m->from.items[i].addr);
	}
	for (size_t i = 0; i < m->text_count; i++) {
		check_utf8(m->texts[i].text);
		if (strlen(m->texts[i].text) != m->texts[i].len)
			abort();
	}
	for (size_t i = 0; i < m->attachment_count; i++) {
		check_utf8(m->attachments[i].name);
		check_utf8(m->attachments[i].text);
	}
	for (size_t i = 0; i < m->warning_count; i++)
		check_utf8(m->warnings[i]);
	mr_buf b = MR_BUF_INIT;
	if (mr_message_thread_key(&b, m) != 0 || b.len == 0)
		abort();
	const char *ids[4];
	size_t total = 0;
	mr_message_thread_ids(ids, 4, &total, m);
	/* the HTML reducer on the raw bytes too: it must take anything */
	mr_buf_clear(&b);
	if (mr_mail_html_to_text(&b, (const char *)data, size) != 0 || b.len > size * 4 + 16)
		abort();
	mr_buf_dispose(&b);
	mr_message_free(m);
	free(copy);
	return 0;
}
