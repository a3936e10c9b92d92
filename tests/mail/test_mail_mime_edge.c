/*
 * test_mail_mime_edge — parses every message under the mime-edge corpus
 * (argv[1], or $MR_MIME_EDGE_DIR) through the readers and the parser:
 * single files as messages, mbox-like files (a From_ first line, *.mbox)
 * through the mbox reader; sisimai's mailbox/size-{0,1,2} (0-2 bytes, no
 * From_ line) are read as (empty) messages.  Under ASan this
 * shows no crash and no leak; the test fails if any file cannot be read, a
 * parse fails, or a model is not valid UTF-8.  Prints counts: files,
 * messages, with warnings.  SKIPPED when the corpus directory is absent.
 */
#include "core/common.h"
#include "harness.h"
#include "mail/message.h"
#include "mail/reader.h"

#include <ftw.h>
#include <glib.h>
#include <sys/stat.h>

static uint64_t n_files, n_mbox_files, n_messages, n_warned, n_failed, n_texts, n_atts;

static bool valid(const char *s) { return s && g_utf8_validate(s, -1, NULL); }

static bool model_ok(const mr_message *m)
{
	const mr_mail_address_list *lists[] = {&m->from, &m->sender, &m->reply_to, &m->to, &m->cc, &m->bcc};
	for (size_t l = 0; l < MR_ARRAY_LEN(lists); l++)
		for (size_t i = 0; i < lists[l]->count; i++)
			if (!valid(lists[l]->items[i].name) || !valid(lists[l]->items[i].addr))
				return false;
	if ((m->subject && !valid(m->subject)) || !valid(m->subject_normalized))
		return false;
	for (size_t i = 0; i < m->text_count; i++)
		if (!valid(m->texts[i].text) || strlen(m->texts[i].text) != m->texts[i].len)
			return false;
	for (size_t i = 0; i < m->attachment_count; i++)
		if (!valid(m->attachments[i].name) || (m->attachments[i].text && !valid(m->attachments[i].text)))
			return false;
	for (size_t i = 0; i < m->warning_count; i++)
		if (!valid(m->warnings[i]))
			return false;
	return true;
}

static void parse_item(const mr_mail_item *it)
{
	mr_message *m = NULL;
	int rc = mr_message_parse(&m, it->bytes.ptr, it->bytes.len);
	if (rc) {
		fprintf(stderr, "FAIL %s #%llu: %s\n", it->path, (unsigned long long)it->mbox_number, mr_error_last()->message);
		n_failed++;
		return;
	}
	n_messages++;
	if (m->warning_count)
		n_warned++;
	n_texts += m->text_count;
	n_atts += m->attachment_count;
	mr_buf key = MR_BUF_INIT;
	if (!model_ok(m) || mr_message_thread_key(&key, m) != 0) {
		fprintf(stderr, "FAIL %s #%llu: model is not valid UTF-8\n", it->path, (unsigned long long)it->mbox_number);
		n_failed++;
	}
	mr_buf_dispose(&key);
	mr_message_free(m);
}

static bool mbox_like(const char *path)
{
	size_t n = strlen(path);
	return (n > 5 && strcmp(path + n - 5, ".mbox") == 0) || (n > 9 && strcmp(path + n - 9, ".mbox.txt") == 0) ||
	       strstr(path, "/mailbox/") != NULL;
}

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag != FTW_F || strstr(path, "/LICENSES/") || strcmp(path + strlen(path) - 12, "MANIFEST.tsv") == 0)
		return 0;
	n_files++;
	/* an mbox-like file goes through the mbox reader (the reader also takes a
	 * From_ first line as mbox); every other file is one message */
	mr_mail_reader *r = NULL;
	int rc = mr_mail_reader_open(&r, path, NULL);
	if (rc) {
		fprintf(stderr, "FAIL open %s: %s\n", path, mr_error_last()->message);
		n_failed++;
		return 0;
	}
	const mr_mail_item *it = NULL;
	bool counted = false;
	uint64_t in_file = 0;
	while ((rc = mr_mail_reader_next(r, &it)) == 0 && it) {
		if (it->kind == MR_MAIL_SOURCE_MBOX && !counted) {
			n_mbox_files++;
			counted = true;
		}
		parse_item(it);
		in_file++;
	}
	if (rc) {
		fprintf(stderr, "FAIL read %s: %s\n", path, mr_error_last()->message);
		n_failed++;
	}
	if (mbox_like(path) && !counted && in_file > 1) {
		fprintf(stderr, "FAIL %s: an mbox file was not read as mbox\n", path);
		n_failed++;
	}
	mr_mail_reader_free(r);
	return 0;
}

static const char *corpus;

static void test_mail_mime_edge__every_file(void)
{
	MR_CHECK(nftw(corpus, visit, 32, FTW_PHYS) == 0);
	printf("mime-edge: %llu files (%llu read as mbox), %llu messages, %llu with warnings, "
	       "%llu text parts, %llu attachments, %llu failures\n",
	       (unsigned long long)n_files, (unsigned long long)n_mbox_files, (unsigned long long)n_messages,
	       (unsigned long long)n_warned, (unsigned long long)n_texts, (unsigned long long)n_atts,
	       (unsigned long long)n_failed);
	MR_CHECK(n_files > 0);
	MR_CHECK(n_messages >= n_files - n_mbox_files);
	MR_CHECK_EQ_INT(n_failed, 0);
}

int main(int argc, char **argv)
{
	corpus = getenv("MR_MIME_EDGE_DIR");
	if (!corpus && argc > 1)
		corpus = argv[1];
	struct stat st;
	if (!corpus || stat(corpus, &st) != 0 || !S_ISDIR(st.st_mode))
		MR_TEST_SKIP("mime-edge corpus not found at %s (set MR_MIME_EDGE_DIR or -DMR_CORPUS_DIR)",
			     corpus ? corpus : "(no path given)");
	MR_TEST_RUN(test_mail_mime_edge__every_file);
	mr_mail_shutdown();
	MR_TEST_DONE();
}
