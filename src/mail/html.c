/*
 * html.c — a small HTML-to-text reducer for indexing and previews of
 * text/html parts.  It is not an HTML parser: it scans tags (respecting
 * quoted attribute values), drops the contents of script/style/template,
 * drops comments and declarations, turns block elements into line breaks,
 * decodes character references, and collapses white space as a browser
 * would (except inside <pre>).  Malformed input is reduced as far as it
 * goes; it never fails except for out of memory.  Layout (tables, lists)
 * is flattened; that is enough for search and previews, which is all the
 * model asks of it.
 */
#include "core/common.h"
#include "mail/message.h"

#include <ctype.h>
#include <strings.h>

typedef struct html_entity {
	const char *name;
	uint32_t cp;
} html_entity;

/* The Latin-1 set plus the typographic references common in mail. Sorted by name (strcmp). */
static const html_entity html_entities[] = {
	{"AElig", 198}, {"Aacute", 193}, {"Acirc", 194}, {"Agrave", 192}, {"Alpha", 913}, {"Aring", 197},
	{"Atilde", 195}, {"Auml", 196}, {"Beta", 914}, {"Ccedil", 199}, {"Dagger", 8225}, {"Delta", 916},
	{"ETH", 208}, {"Eacute", 201}, {"Ecirc", 202}, {"Egrave", 200}, {"Euml", 203}, {"Gamma", 915},
	{"Iacute", 205}, {"Icirc", 206}, {"Igrave", 204}, {"Iuml", 207}, {"Lambda", 923}, {"Ntilde", 209},
	{"OElig", 338}, {"Oacute", 211}, {"Ocirc", 212}, {"Ograve", 210}, {"Omega", 937}, {"Oslash", 216},
	{"Otilde", 213}, {"Ouml", 214}, {"Pi", 928}, {"Scaron", 352}, {"Sigma", 931}, {"THORN", 222},
	{"Uacute", 218}, {"Ucirc", 219}, {"Ugrave", 217}, {"Uuml", 220}, {"Yacute", 221}, {"Yuml", 376},
	{"aacute", 225}, {"acirc", 226}, {"acute", 180}, {"aelig", 230}, {"agrave", 224}, {"alpha", 945},
	{"amp", 38}, {"apos", 39}, {"aring", 229}, {"atilde", 227}, {"auml", 228}, {"bdquo", 8222},
	{"beta", 946}, {"brvbar", 166}, {"bull", 8226}, {"ccedil", 231}, {"cedil", 184}, {"cent", 162},
	{"circ", 710}, {"copy", 169}, {"curren", 164}, {"dagger", 8224}, {"deg", 176}, {"delta", 948},
	{"divide", 247}, {"eacute", 233}, {"ecirc", 234}, {"egrave", 232}, {"emsp", 8195}, {"ensp", 8194},
	{"eth", 240}, {"euml", 235}, {"euro", 8364}, {"frac12", 189}, {"frac14", 188}, {"frac34", 190},
	{"gamma", 947}, {"ge", 8805}, {"gt", 62}, {"hellip", 8230}, {"iacute", 237}, {"icirc", 238},
	{"iexcl", 161}, {"igrave", 236}, {"iquest", 191}, {"iuml", 239}, {"lambda", 955}, {"laquo", 171},
	{"larr", 8592}, {"ldquo", 8220}, {"le", 8804}, {"lsaquo", 8249}, {"lsquo", 8216}, {"lt", 60},
	{"macr", 175}, {"mdash", 8212}, {"micro", 181}, {"middot", 183}, {"minus", 8722}, {"mu", 956},
	{"nbsp", 160}, {"ndash", 8211}, {"ne", 8800}, {"not", 172}, {"ntilde", 241}, {"oacute", 243},
	{"ocirc", 244}, {"oelig", 339}, {"ograve", 242}, {"omega", 969}, {"ordf", 170}, {"ordm", 186},
	{"oslash", 248}, {"otilde", 245}, {"ouml", 246}, {"para", 182}, {"permil", 8240}, {"pi", 960},
	{"plusmn", 177}, {"pound", 163}, {"prime", 8242}, {"quot", 34}, {"raquo", 187}, {"rarr", 8594},
	{"rdquo", 8221}, {"reg", 174}, {"rsaquo", 8250}, {"rsquo", 8217}, {"sbquo", 8218}, {"scaron", 353},
	{"sect", 167}, {"shy", 173}, {"sigma", 963}, {"sup1", 185}, {"sup2", 178}, {"sup3", 179},
	{"szlig", 223}, {"thinsp", 8201}, {"thorn", 254}, {"tilde", 732}, {"times", 215}, {"trade", 8482},
	{"uacute", 250}, {"ucirc", 251}, {"ugrave", 249}, {"uml", 168}, {"uuml", 252}, {"yacute", 253},
	{"yen", 165}, {"yuml", 255}, {"zwj", 8205}, {"zwnj", 8204},
};

/* Elements whose start or end tag breaks the line. */
static const char *const html_block_tags[] = {
	"address", "article", "aside", "blockquote", "br", "center", "dd", "div", "dl", "dt", "fieldset",
	"figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
	"li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "tfoot", "thead", "title",
	"tr", "ul",
};

typedef struct html_out {
	mr_buf *buf;
	bool pending_space; /* white space seen since the last character written */
	int pending_nl;     /* line breaks owed (0..2) */
	bool at_start;      /* nothing written yet */
	int rc;
} html_out;

static void out_bytes(html_out *o, const char *p, size_t n)
{
	if (o->rc || n == 0)
		return;
	if (!o->at_start) {
		if (o->pending_nl) {
			o->rc = mr_buf_put(o->buf, "\n\n", (size_t)o->pending_nl);
		} else if (o->pending_space) {
			o->rc = mr_buf_put(o->buf, " ", 1);
		}
	}
	o->pending_nl = 0;
	o->pending_space = false;
	o->at_start = false;
	if (!o->rc)
		o->rc = mr_buf_put(o->buf, p, n);
}

static void out_break(html_out *o, int n)
{
	if (o->pending_nl < n)
		o->pending_nl = n;
}

static void out_codepoint(html_out *o, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp == 160 || cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') {
		/* &nbsp; and encoded white space collapse like spaces */
		o->pending_space = true;
		return;
	}
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	out_bytes(o, u, n);
}

static int entity_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const html_entity *)elem)->name);
}

/* Decodes a character reference at p[0] == '&'; returns the bytes consumed (0: not a reference). */
static size_t decode_entity(const char *p, size_t len, uint32_t *cp)
{
	size_t i = 1;
	if (len < 3)
		return 0;
	if (p[1] == '#') {
		uint64_t v = 0;
		bool hex = (len > 2 && (p[2] == 'x' || p[2] == 'X'));
		size_t start = hex ? 3 : 2, digits = 0;
		for (i = start; i < len && digits < 10; i++, digits++) {
			int c = (unsigned char)p[i];
			if (hex && isxdigit(c))
				v = v * 16 + (uint64_t)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
			else if (!hex && isdigit(c))
				v = v * 10 + (uint64_t)(c - '0');
			else
				break;
		}
		if (digits == 0)
			return 0;
		if (i < len && p[i] == ';')
			i++;
		*cp = v > 0x10FFFF ? 0xFFFD : (uint32_t)v;
		/* Windows-1252 code points written as numeric references, as browsers map them */
		if (*cp >= 0x80 && *cp <= 0x9F) {
			static const uint16_t w1252[32] = {
				0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
				0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
				0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};
			*cp = w1252[*cp - 0x80];
		}
		return i;
	}
	char name[16];
	size_t n = 0;
	for (i = 1; i < len && n < sizeof(name) - 1 && isalnum((unsigned char)p[i]); i++)
		name[n++] = p[i];
	if (n == 0)
		return 0;
	name[n] = '\0';
	const html_entity *e =
		bsearch(name, html_entities, MR_ARRAY_LEN(html_entities), sizeof(html_entities[0]), entity_cmp);
	if (!e)
		return 0;
	*cp = e->cp;
	if (i < len && p[i] == ';')
		i++;
	return i;
}

static bool is_block_tag(const char *name)
{
	for (size_t i = 0; i < MR_ARRAY_LEN(html_block_tags); i++)
		if (strcmp(name, html_block_tags[i]) == 0)
			return true;
	return false;
}

/* Finds the end of a tag starting at p[0] == '<': index just past '>', or len. */
static size_t tag_end(const char *p, size_t len)
{
	char quote = 0;
	for (size_t i = 1; i < len; i++) {
		char c = p[i];
		if (quote) {
			if (c == quote)
				quote = 0;
		} else if (c == '"' || c == '\'') {
			/* only an attribute value opens a quote: after '=' (spaces allowed) */
			size_t j = i;
			while (j > 1 && (p[j - 1] == ' ' || p[j - 1] == '\t' || p[j - 1] == '\n' || p[j - 1] == '\r'))
				j--;
			if (p[j - 1] == '=')
				quote = c;
		} else if (c == '>') {
			return i + 1;
		}
	}
	return len;
}

/* Finds "</name" (case-insensitive) from p; returns its index or len. */
static size_t find_close(const char *p, size_t len, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i + 2 + nl <= len; i++) {
		if (p[i] == '<' && p[i + 1] == '/' && strncasecmp(p + i + 2, name, nl) == 0) {
			char c = i + 2 + nl < len ? p[i + 2 + nl] : '>';
			if (c == '>' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/')
				return i;
		}
	}
	return len;
}

int mr_mail_html_to_text(mr_buf *out, const char *html, size_t len)
{
	html_out o = {.buf = out, .at_start = true};
	int pre = 0;
	bool no_head_end = false; /* </head> was looked for and is absent: never scan for it again */
	size_t i = 0;
	while (i < len && !o.rc) {
		char c = html[i];
		if (c == '<') {
			if (i + 1 < len && (html[i + 1] == '!' || html[i + 1] == '?')) {
				if (i + 3 < len && html[i + 2] == '-' && html[i + 3] == '-') {
					const char *end = memmem(html + i + 4, len - i - 4, "-->", 3);
					i = end ? (size_t)(end - html) + 3 : len;
				} else {
					i += tag_end(html + i, len - i);
				}
				continue;
			}
			size_t j = i + 1;
			bool closing = false;
			if (j < len && html[j] == '/') {
				closing = true;
				j++;
			}
			if (j >= len || !isalpha((unsigned char)html[j])) {
				/* a lone '<' is text */
				out_bytes(&o, "<", 1);
				i++;
				continue;
			}
			char name[16];
			size_t n = 0;
			while (j < len && n < sizeof(name) - 1 && isalnum((unsigned char)html[j]))
				name[n++] = (char)tolower((unsigned char)html[j++]);
			name[n] = '\0';
			i += tag_end(html + i, len - i);
			if (!closing && (strcmp(name, "script") == 0 || strcmp(name, "style") == 0 ||
					 strcmp(name, "template") == 0 || strcmp(name, "head") == 0 ||
					 strcmp(name, "title") == 0)) {
				/* <head> only to the end of head, which holds <title>, <style>, <meta> */
				bool head = strcmp(name, "head") == 0;
				if (head && no_head_end)
					continue;
				size_t end = find_close(html + i, len - i, name);
				if (head && end == len - i) {
					/* no </head>: keep going as body text (but drop the head's elements) */
					no_head_end = true;
					continue;
				}
				i += end;
				if (i < len)
					i += tag_end(html + i, len - i);
				out_break(&o, 1);
				continue;
			}
			if (strcmp(name, "pre") == 0)
				pre += closing ? (pre > 0 ? -1 : 0) : 1;
			if (is_block_tag(name)) {
				bool para = strcmp(name, "p") == 0 || (name[0] == 'h' && name[1] >= '1' && name[1] <= '6') ||
					    strcmp(name, "blockquote") == 0 || strcmp(name, "table") == 0;
				out_break(&o, para ? 2 : 1);
			} else if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0) {
				o.pending_space = true;
			}
			continue;
		}
		if (c == '&') {
			uint32_t cp = 0;
			size_t used = decode_entity(html + i, len - i, &cp);
			if (used) {
				out_codepoint(&o, cp);
				i += used;
				continue;
			}
			out_bytes(&o, "&", 1);
			i++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
			if (pre && c == '\n')
				out_break(&o, o.pending_nl ? 2 : 1);
			else
				o.pending_space = true;
			i++;
			continue;
		}
		if (c == '\0') {
			i++;
			continue;
		}
		/* a run of ordinary text */
		size_t j = i + 1;
		while (j < len && html[j] != '<' && html[j] != '&' && html[j] != ' ' && html[j] != '\t' &&
		       html[j] != '\n' && html[j] != '\r' && html[j] != '\f' && html[j] != '\0')
			j++;
		out_bytes(&o, html + i, j - i);
		i = j;
	}
	return o.rc;
}
