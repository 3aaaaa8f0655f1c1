/* http.c - sans-I/O HTTP/1.1 client: request writer and response parser (see fota/http.h). */
#include <stddef.h>
#include <string.h>

#include "fota/http.h"

/* Where in the message the parser is. The line states come first; of them, the ones
 * before S_CHUNK count towards FOTA_HTTP_HEADER_MAX. States from S_BODY on take bytes
 * in bulk. */
enum {
	S_STATUS,    /* status line */
	S_HEADER,    /* header lines */
	S_SKIP,      /* rest of a header line too long to keep and not needed */
	S_TRAILER,   /* trailer lines after the last chunk */
	S_CHUNK,     /* chunk size line */
	S_CHUNK_END, /* the CRLF after a chunk's data */
	S_BODY,      /* body or chunk data: left bytes to come */
	S_UNTIL_EOF, /* body delimited by the close */
};

#define F_CR     0x01 /* a CR was seen: LF must follow */
#define F_HTTP10 0x02 /* status line said HTTP/1.0 */
#define F_KEEP   0x04 /* Connection: keep-alive */

/* The status line must fit, and so must "Location: " with the longest URL kept. */
FOTA_STATIC_ASSERT(FOTA_HTTP_LINE_MAX >= FOTA_URL_MAX + 16 && FOTA_HTTP_LINE_MAX <= 0xFFFF,
		   http_line_max);
FOTA_STATIC_ASSERT(FOTA_HTTP_HEADER_MAX >= FOTA_HTTP_LINE_MAX, http_header_max);

/* Headers understood, by name. Those from H_ETAG on are dropped when too long. */
enum { H_LENGTH, H_TE, H_CONN, H_RANGE, H_LOCATION, H_ETAG, H_DATE, H_OTHER };

static const char header_names[] = "content-length\0transfer-encoding\0connection\0"
				   "content-range\0location\0etag\0last-modified";

/* ---- request ------------------------------------------------------------------ */

struct out {
	char *buf;
	size_t cap, len; /* len may pass cap: then nothing more is written (NOMEM) */
	bool bad;        /* the caller gave text that would break the request */
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len <= o->cap && n <= o->cap - o->len)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* Puts the caller's text, which must be all in min..'~' (no controls, DEL or 8-bit
 * bytes), so that nothing it gives can break the request's lines. */
static void put_text(struct out *o, const char *s, size_t n, char min)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < min || s[i] > '~')
			o->bad = true;
	put(o, s, n);
}

/* put_text of the NUL-terminated s. */
static void put_str(struct out *o, const char *s, char min)
{
	put_text(o, s, strlen(s), min);
}

/* Puts the string literal s (its length known at compile time, no strlen). */
#define put_lit(o, s) put(o, s, sizeof(s) - 1)

/* Puts the byte c, then v in decimal. */
FOTA_NOINLINE static void put_u32(struct out *o, char c, uint32_t v)
{
	char b[11], *p = fota_fmt_u32(b + sizeof(b), v);

	*--p = c;
	put(o, p, (size_t)(b + sizeof(b) - p));
}

/* A header of the caller's value v, when v is given and not empty. */
static void put_header(struct out *o, const char *name, const char *v)
{
	if (!v || !*v)
		return;
	put(o, name, strlen(name));
	put_str(o, v, ' ');
	put(o, "\r\n", 2);
}

int fota_http_write_request(const struct fota_http_req *req, char *buf, size_t cap, size_t *len)
{
	const struct fota_url *u = req->url;
	struct out o = { buf, cap, 0, false };
	const char *path, *q = req->query;
	size_t plen;
	bool v6;

	if (!req->method || !*req->method || !u || !u->host || !u->host_len)
		return FOTA_ERR_INVAL;
	path = u->path_len ? u->path : "/";
	plen = u->path_len ? u->path_len : 1;

	put_str(&o, req->method, '!');
	put(&o, " /", path[0] == '?' ? 2 : 1);
	put_text(&o, path, plen, '!');
	if (q && *q) {
		/* Join the extra query to the path's own: '?' starts one, '&' adds to one. */
		const char *sep = memchr(path, '?', plen) ? "&" : "?";

		if (*sep == '?' || (path[plen - 1] != '?' && path[plen - 1] != '&'))
			put(&o, sep, 1);
		put_str(&o, q, '!');
	}
	put_lit(&o, " HTTP/1.1\r\nHost: ");
	v6 = memchr(u->host, ':', u->host_len) != NULL; /* an IPv6 address: in brackets */
	put(&o, "[", v6);
	put_text(&o, u->host, u->host_len, '!');
	put(&o, "]", v6);
	if (u->port != (u->https ? 443 : 80))
		put_u32(&o, ':', u->port);
	put_lit(&o, "\r\nUser-Agent: openfota/0.1\r\nConnection: close\r\n");
	if (req->range) {
		put_lit(&o, "Range: bytes");
		put_u32(&o, '=', req->range_from); /* "=<range_from>" */
		put(&o, "-\r\n", 3);
		/* If-Range means nothing without Range (RFC 9110 13.1.5). */
		put_header(&o, "If-Range: ", req->if_range);
	}
	put_header(&o, "If-None-Match: ", req->if_none_match);
	put_header(&o, "If-Modified-Since: ", req->if_modified_since);
	put(&o, "\r\n", 2);
	if (o.bad)
		return FOTA_ERR_INVAL;
	if (o.len > cap)
		return FOTA_ERR_NOMEM;
	*len = o.len;
	return FOTA_OK;
}

/* Percent-encodes the n bytes at s into d (NULL: only counts); returns the length. */
static size_t pct(char *d, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0;

	while (n--) {
		uint8_t c = (uint8_t)*s++;

		if (fota_is_unreserved((char)c)) {
			if (d)
				d[k] = (char)c;
			k++;
			continue;
		}
		if (d) {
			d[k] = '%';
			d[k + 1] = hex[c >> 4];
			d[k + 2] = hex[c & 15];
		}
		k += 3;
	}
	return k;
}

int fota_http_query_add(char *buf, size_t cap, const char *name, const char *value, size_t len)
{
	const char *z = memchr(buf, 0, cap);
	size_t at, nlen = strlen(name);

	if (!z)
		return FOTA_ERR_NOMEM; /* no terminator within cap: full */
	at = (size_t)(z - buf);
	/* Count first, so that a query that does not fit leaves buf as it was. */
	if ((at ? 1 : 0) + pct(NULL, name, nlen) + 1 + pct(NULL, value, len) >= cap - at)
		return FOTA_ERR_NOMEM;
	if (at)
		buf[at++] = '&';
	at += pct(buf + at, name, nlen);
	buf[at++] = '=';
	at += pct(buf + at, value, len);
	buf[at] = '\0';
	return FOTA_OK;
}

/* ---- response ----------------------------------------------------------------- */

void fota_http_parser_init(struct fota_http_parser *p, bool head, fota_http_on_header on_header,
			   fota_http_on_body on_body, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->on_header = on_header;
	p->on_body = on_body;
	p->ctx = ctx;
	p->head = head;
	p->result = FOTA_ERR_AGAIN;
}

/* A callback's error stops the parser; FOTA_ERR_AGAIN would read as "going on", so it
 * becomes FOTA_ERR_CANCELED. */
FOTA_NOINLINE static int stop(int err)
{
	return err == FOTA_ERR_AGAIN ? FOTA_ERR_CANCELED : err;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

#define num fota_scan_u32 /* base 10 or 16; FOTA_ERR_BADMSG without a digit, RANGE */

/* Moves *s past c if it is there. */
static bool expect(const char **s, const char *end, char c)
{
	if (*s == end || **s != c)
		return false;
	(*s)++;
	return true;
}

/* Next element of the comma-separated list at *s, OWS trimmed (empty ones skipped);
 * NULL when the list ends. */
static const char *list_next(const char **s, const char *end, size_t *n)
{
	const char *t, *e;

	while (*s < end && (is_ows(**s) || **s == ','))
		(*s)++;
	if (*s == end)
		return NULL;
	t = *s;
	while (*s < end && **s != ',')
		(*s)++;
	for (e = *s; is_ows(e[-1]); e--) /* stops at t at the latest: *t is not OWS */
		;
	*n = (size_t)(e - t);
	return t;
}

/* Content-Range: "bytes first-last/total", total '*' when unknown; or, in a 416, range
 * '*' (then only range_total is kept and has_range stays false). */
static int content_range(struct fota_http_resp *r, const char *s, const char *end)
{
	uint32_t v[3] = { 0, 0, 0 }; /* first, last, total */
	unsigned k, star = 0;        /* bit k: v[k] was given as '*' */
	int err;

	if (end - s < 6 || !fota_strcaseeq(s, 5, "bytes") || s[5] != ' ')
		return FOTA_ERR_BADMSG;
	s += 6;
	for (k = 0; k < 3; k++) {
		if (k != 1 && expect(&s, end, '*')) {
			star |= 1u << k;
			k |= k == 0; /* '*' for the range stands for first-last */
		} else {
			err = num(&s, end, 10, &v[k]);
			if (err)
				return err;
		}
		if (k < 2 && !expect(&s, end, k ? '/' : '-'))
			return FOTA_ERR_BADMSG;
	}
	/* first <= last < total (RFC 9110 14.4) */
	if (s != end || v[0] > v[1] || (!star && v[1] >= v[2]))
		return FOTA_ERR_BADMSG;
	r->has_range = !(star & 1);
	r->range_first = v[0];
	r->range_last = v[1];
	r->range_total = v[2];
	return FOTA_OK;
}

/* Where Location, ETag and Last-Modified are kept in struct fota_http_resp, and their
 * sizes. */
static const uint16_t kept_at[3] = {
	offsetof(struct fota_http_resp, location), offsetof(struct fota_http_resp, etag),
	offsetof(struct fota_http_resp, last_modified),
};
static const uint16_t kept_cap[3] = { FOTA_URL_MAX + 1, FOTA_HTTP_ETAG_MAX, FOTA_HTTP_DATE_MAX };

/* Keeps the n bytes at s as the string of header id; too long: none kept. */
static void keep(struct fota_http_resp *r, int id, const char *s, size_t n)
{
	char *dst = (char *)r + kept_at[id - H_LOCATION];

	if (n >= kept_cap[id - H_LOCATION])
		n = 0;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Which header the line in p names (H_*), with *colon the index of its ':' (line_len
 * when there is none yet). Returns FOTA_ERR_BADMSG for a name that is not a token. */
static int header_id(const struct fota_http_parser *p, size_t *colon)
{
	const char *h;
	size_t i;
	int id;

	for (i = 0; i < p->line_len && p->line[i] != ':'; i++) {
		char c = p->line[i];

		/* tchar: visible ASCII but the delimiters; the byte loop has refused
		 * controls, and a leading SP/HTAB (obs-fold) never gets here. */
		if (c <= ' ' || c > '~' || memchr("\"(),/;<=>?@[\\]{}", c, 16))
			return FOTA_ERR_BADMSG;
	}
	*colon = i;
	if (i == 0)
		return FOTA_ERR_BADMSG;
	for (id = 0, h = header_names; id < H_OTHER; id++, h += strlen(h) + 1)
		if (fota_strcaseeq(p->line, i, h))
			break;
	return id;
}

static int header_line(struct fota_http_parser *p)
{
	struct fota_http_resp *r = &p->resp;
	const char *s, *end = p->line + p->line_len, *t;
	size_t colon, n;
	uint32_t v;
	int id = header_id(p, &colon), err;

	if (id < 0)
		return id;
	if (colon == p->line_len)
		return FOTA_ERR_BADMSG; /* no colon */
	for (s = p->line + colon + 1; s < end && is_ows(*s); s++)
		;
	while (end > s && is_ows(end[-1]))
		end--;
	n = (size_t)(end - s);

	switch (id) {
	case H_LENGTH:
		t = s;
		err = num(&t, end, 10, &v);
		if (err)
			return err;
		if (t != end || (r->has_length && v != r->length))
			return FOTA_ERR_BADMSG;
		r->has_length = true;
		r->length = v;
		break;
	case H_TE:
	case H_CONN:
		while ((t = list_next(&s, end, &n)) != NULL) {
			if (id == H_CONN) {
				if (fota_strcaseeq(t, n, "close"))
					r->close = true;
				else if (fota_strcaseeq(t, n, "keep-alive"))
					p->flags |= F_KEEP;
			} else if (!fota_strcaseeq(t, n, "chunked")) {
				return FOTA_ERR_NOTSUP; /* only chunked is supported */
			} else if (r->chunked) {
				return FOTA_ERR_BADMSG; /* and only once (RFC 9112 7) */
			} else {
				r->chunked = true;
			}
		}
		break;
	case H_RANGE:
		err = content_range(r, s, end);
		if (err)
			return err;
		break;
	default: /* Location, ETag, Last-Modified: kept as strings */
		if (id == H_LOCATION && n > FOTA_URL_MAX)
			return FOTA_ERR_TOOLONG;
		if (id < H_OTHER)
			keep(r, id, s, n);
		break;
	}
	return FOTA_ERR_AGAIN;
}

/* A header line that fills the line buffer: skipped unread when nothing of it is needed
 * (unknown name, or an ETag/Last-Modified that would be dropped), else refused. */
static int header_too_long(struct fota_http_parser *p)
{
	size_t colon;
	int id = header_id(p, &colon);

	if (id < 0)
		return id;
	if (colon == p->line_len || id < H_ETAG)
		return FOTA_ERR_TOOLONG;
	if (id < H_OTHER)
		keep(&p->resp, id, "", 0);
	p->state = S_SKIP;
	return FOTA_ERR_AGAIN;
}

static int status_line(struct fota_http_parser *p)
{
	const char *l = p->line;
	uint16_t status = 0;
	int i;

	/* "HTTP/1." was checked as it came; then "x NNN" and " reason" or nothing. */
	if (p->line_len < 12 || l[7] < '0' || l[7] > '9' || l[8] != ' ' ||
	    (p->line_len > 12 && l[12] != ' '))
		return FOTA_ERR_BADMSG;
	for (i = 9; i < 12; i++) {
		if (l[i] < '0' || l[i] > '9')
			return FOTA_ERR_BADMSG;
		status = (uint16_t)(status * 10 + (l[i] - '0'));
	}
	if (status < 100 || status > 599)
		return FOTA_ERR_BADMSG;
	memset(&p->resp, 0, sizeof(p->resp));
	p->resp.status = status;
	p->flags = l[7] == '0' ? F_HTTP10 : 0;
	p->state = S_HEADER;
	return FOTA_ERR_AGAIN;
}

/* The empty line after the headers: hands the header over and sets up the body. */
static int header_end(struct fota_http_parser *p)
{
	struct fota_http_resp *r = &p->resp;
	int err;

	if (r->status < 200) {
		/* Interim (100 Continue...): its headers are dropped, the real one follows. */
		p->state = S_STATUS;
		p->header_bytes = 0;
		return FOTA_ERR_AGAIN;
	}
	if (r->chunked) {
		/* chunked wins over Content-Length (RFC 9112 6.3). */
		r->has_length = false;
		r->length = 0;
	}
	if ((p->flags & F_HTTP10) && !(p->flags & F_KEEP))
		r->close = true;
	if (p->on_header) {
		err = p->on_header(p->ctx, r);
		if (err)
			return stop(err);
	}
	if (p->head || r->status == 204 || r->status == 304)
		return FOTA_OK;
	if (r->chunked) {
		p->state = S_CHUNK;
	} else if (r->has_length) {
		if (!r->length)
			return FOTA_OK;
		p->state = S_BODY;
		p->left = r->length;
	} else {
		p->state = S_UNTIL_EOF;
	}
	return FOTA_ERR_AGAIN;
}

/* Chunk size line: hex size, optional BWS, then extensions (ignored) or nothing. */
static int chunk_line(struct fota_http_parser *p)
{
	const char *s = p->line, *end = s + p->line_len;
	uint32_t v;
	int err = num(&s, end, 16, &v);

	if (err)
		return err;
	while (s < end && is_ows(*s))
		s++;
	if (s != end && *s != ';')
		return FOTA_ERR_BADMSG;
	if (!v) {
		p->state = S_TRAILER;
		p->header_bytes = 0;
	} else {
		p->state = S_BODY;
		p->left = v;
	}
	return FOTA_ERR_AGAIN;
}

FOTA_NOINLINE static int line_end(struct fota_http_parser *p)
{
	switch (p->state) {
	case S_STATUS:
		return status_line(p);
	case S_HEADER:
		return p->line_len ? header_line(p) : header_end(p);
	case S_SKIP:
		p->state = S_HEADER;
		break;
	case S_TRAILER:
		if (!p->line_len)
			return FOTA_OK;
		break;
	case S_CHUNK:
		return chunk_line(p);
	default: /* S_CHUNK_END: the line was empty, as it must be */
		p->state = S_CHUNK;
		break;
	}
	return FOTA_ERR_AGAIN;
}

/* One byte of a line state. Returns FOTA_ERR_AGAIN to go on, FOTA_OK at the end of the
 * response, or the error. */
static int line_byte(struct fota_http_parser *p, uint8_t c)
{
	int err;

	if (p->state < S_CHUNK && ++p->header_bytes > FOTA_HTTP_HEADER_MAX)
		return FOTA_ERR_TOOLONG;
	if (p->flags & F_CR) {
		if (c != '\n')
			return FOTA_ERR_BADMSG; /* bare CR */
		p->flags = (uint8_t)(p->flags & ~F_CR);
	}
	if (c == '\n') {
		/* CR LF or, leniently, a bare LF ends the line. */
		err = line_end(p);
		p->line_len = 0;
		return err;
	}
	if (c == '\r') {
		p->flags |= F_CR;
		return FOTA_ERR_AGAIN;
	}
	if ((c < ' ' && c != '\t') || c == 0x7F)
		return FOTA_ERR_BADMSG; /* NUL and other controls */
	switch (p->state) {
	case S_STATUS:
		if (p->line_len < 7 && c != (uint8_t)"HTTP/1."[p->line_len])
			return FOTA_ERR_BADMSG; /* not HTTP/1.x: refuse early, not after a long line */
		break;
	case S_HEADER:
		if (!p->line_len && is_ows((char)c))
			return FOTA_ERR_BADMSG; /* obs-fold, refused (RFC 9112 5.2) */
		break;
	case S_CHUNK_END:
		return FOTA_ERR_BADMSG; /* chunk data longer than its size */
	default:
		break;
	}
	if (p->line_len < FOTA_HTTP_LINE_MAX) {
		p->line[p->line_len++] = (char)c;
	} else if (p->state == S_HEADER) {
		return header_too_long(p);
	} else if (p->state != S_SKIP && p->state != S_TRAILER) {
		return FOTA_ERR_TOOLONG; /* status or chunk size line */
	}
	return FOTA_ERR_AGAIN;
}

/* n bytes of body at data. */
static int body(struct fota_http_parser *p, const uint8_t *data, size_t n)
{
	int err;

	if (p->on_body) {
		err = p->on_body(p->ctx, data, n);
		if (err)
			return stop(err);
	}
	if (p->state == S_UNTIL_EOF)
		return FOTA_ERR_AGAIN;
	p->left -= (uint32_t)n;
	if (p->left)
		return FOTA_ERR_AGAIN;
	if (!p->resp.chunked)
		return FOTA_OK;
	p->state = S_CHUNK_END;
	return FOTA_ERR_AGAIN;
}

int fota_http_feed(struct fota_http_parser *p, const uint8_t *data, size_t len, size_t *used)
{
	size_t i = 0, n;
	int err = p->result;

	while (err == FOTA_ERR_AGAIN && i < len) {
		if (p->state >= S_BODY) {
			n = len - i;
			if (p->state == S_BODY && n > p->left)
				n = p->left;
			err = body(p, data + i, n);
			i += n;
		} else {
			err = line_byte(p, data[i++]);
		}
	}
	p->result = (int16_t)err;
	if (used)
		*used = i;
	return err;
}

int fota_http_eof(struct fota_http_parser *p)
{
	if (p->result == FOTA_ERR_AGAIN)
		p->result = p->state == S_UNTIL_EOF ? FOTA_OK : FOTA_ERR_CONNRESET;
	return p->result;
}
