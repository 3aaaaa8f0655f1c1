/* fake_server.c - a scripted in-memory HTTP server behind a fake network port (tests). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"

static struct fake_server *srv_of(void *ctx)
{
	return ctx;
}

static bool fault_none(const struct fake_fault *f)
{
	static const struct fake_fault zero;

	return memcmp(f, &zero, sizeof(zero)) == 0;
}

static bool caseeq(const char *a, size_t n, const char *b)
{
	for (size_t i = 0; i < n; i++) {
		char x = a[i], y = b[i];

		if (!y)
			return false;
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return b[n] == '\0';
}

static const char *copy_out(const char *s, size_t n, char *buf, size_t cap)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

const char *fake_req_line(const struct fake_conn *c, char *buf, size_t cap)
{
	const char *e = strstr(c->req, "\r\n");

	return copy_out(c->req, e ? (size_t)(e - c->req) : c->req_len, buf, cap);
}

const char *fake_req_target(const struct fake_conn *c, char *buf, size_t cap)
{
	const char *s = strchr(c->req, ' '), *e;

	if (!s)
		return copy_out("", 0, buf, cap);
	s++;
	e = strchr(s, ' ');
	return copy_out(s, e ? (size_t)(e - s) : strlen(s), buf, cap);
}

const char *fake_req_header(const struct fake_conn *c, const char *name, char *buf, size_t cap)
{
	const char *p = strstr(c->req, "\r\n"), *end = strstr(c->req, "\r\n\r\n");

	while (p && end && p < end) {
		const char *line = p + 2, *eol = strstr(line, "\r\n"), *colon;

		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon && caseeq(line, (size_t)(colon - line), name)) {
			const char *v = colon + 1, *ve = eol;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			return copy_out(v, (size_t)(ve - v), buf, cap);
		}
		p = eol;
	}
	return NULL;
}

/* ---- answers ------------------------------------------------------------------------ */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void addf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		abort();
	add(b, tmp, (size_t)n);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 409: return "Conflict";
	case 416: return "Range Not Satisfiable";
	default: return "Whatever";
	}
}

/* Ends the header block of the answer in b, whose body follows. */
static void end_header(struct fake_conn *c, struct buf *b)
{
	add(b, "\r\n", 2);
	c->hdr_len = b->len;
}

static void serve_file(struct fake_conn *c, const struct fake_route *r, struct buf *b)
{
	char inm[128], ims[128], range[64], ifr[128];
	bool has_inm = fake_req_header(c, "If-None-Match", inm, sizeof(inm)) != NULL;
	bool has_ims = fake_req_header(c, "If-Modified-Since", ims, sizeof(ims)) != NULL;
	bool has_range = fake_req_header(c, "Range", range, sizeof(range)) != NULL;
	bool has_ifr = fake_req_header(c, "If-Range", ifr, sizeof(ifr)) != NULL;
	size_t from = 0, n;
	int status = 200;

	if ((has_inm && r->etag && strcmp(inm, r->etag) == 0) ||
	    (!has_inm && has_ims && r->last_modified && strcmp(ims, r->last_modified) == 0)) {
		c->status = 304;
		addf(b, "HTTP/1.1 304 Not Modified\r\n");
		if (r->etag)
			addf(b, "ETag: %s\r\n", r->etag);
		addf(b, "Connection: close\r\n");
		end_header(c, b);
		return;
	}
	if (has_range && !r->ignore_range &&
	    (!has_ifr || (r->etag && strcmp(ifr, r->etag) == 0) ||
	     (r->last_modified && strcmp(ifr, r->last_modified) == 0))) {
		unsigned long v = 0;

		if (sscanf(range, "bytes=%lu-", &v) != 1)
			abort(); /* the agent only asks for open ranges */
		if (v >= r->len) {
			c->status = 416;
			addf(b, "HTTP/1.1 416 %s\r\nContent-Range: bytes */%zu\r\n"
				"Content-Length: 0\r\nConnection: close\r\n", reason(416), r->len);
			end_header(c, b);
			return;
		}
		from = v + r->range_skew;
		if (from >= r->len)
			from = r->len - 1;
		status = 206;
	}
	n = r->len - from;
	c->status = status;
	addf(b, "HTTP/1.1 %d %s\r\nServer: fake\r\n", status, reason(status));
	if (status == 206)
		addf(b, "Content-Range: bytes %zu-%zu/%zu\r\n", from, r->len - 1, r->len);
	if (r->etag)
		addf(b, "ETag: %s\r\n", r->etag);
	if (r->last_modified)
		addf(b, "Last-Modified: %s\r\n", r->last_modified);
	if (r->chunked)
		addf(b, "Transfer-Encoding: chunked\r\n");
	else if (!r->no_length)
		addf(b, "Content-Length: %zu\r\n", n + r->length_extra);
	addf(b, "Content-Type: application/octet-stream\r\nConnection: close\r\n");
	end_header(c, b);
	if (!r->chunked) {
		add(b, r->body + from, n);
		return;
	}
	for (size_t off = from, k = 0; off < r->len; k++) {
		size_t piece = 700 + (k % 5) * 311; /* uneven chunks */

		if (piece > r->len - off)
			piece = r->len - off;
		addf(b, "%zx%s\r\n", piece, k % 2 ? ";ext=1" : "");
		add(b, r->body + off, piece);
		add(b, "\r\n", 2);
		off += piece;
	}
	addf(b, "0\r\n\r\n");
}

static void serve(struct fake_server *s, struct fake_conn *c)
{
	char target[FAKE_REQ_MAX];
	struct buf b = { 0 };
	const struct fake_route *r;
	char *q;

	fake_req_target(c, target, sizeof(target));
	q = strchr(target, '?');
	if (q)
		*q = '\0';
	r = fake_server_find(s, target);
	switch (r ? r->kind : FAKE_NOT_FOUND) {
	case FAKE_FILE:
		serve_file(c, r, &b);
		break;
	case FAKE_REFUSE: {
		char body[160];
		int n;

		if (r->no_json)
			n = snprintf(body, sizeof(body), "upgrade refused\n");
		else
			n = snprintf(body, sizeof(body),
				     "{\"code\":%d,\"msg\":\"\\u5df2\\u662f\\u6700\\u65b0"
				     "\\u7248\\u672c\"}", r->code);
		c->status = r->status;
		addf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
			 "Connection: close\r\n", r->status, reason(r->status),
		     r->no_json ? "text/plain" : "application/json", n);
		end_header(c, &b);
		add(&b, body, (size_t)n);
		break;
	}
	case FAKE_REDIRECT:
		c->status = r->status ? r->status : 302;
		addf(&b, "HTTP/1.1 %d %s\r\nLocation: %s\r\nContent-Length: 0\r\n"
			 "Connection: close\r\n", c->status, reason(c->status), r->location);
		end_header(c, &b);
		break;
	case FAKE_GARBAGE: {
		static const char junk[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";

		add(&b, junk, sizeof(junk) - 1);
		c->hdr_len = b.len; /* no body to count */
		break;
	}
	case FAKE_RAW: {
		const char *e = strstr(r->raw, "\r\n\r\n");

		add(&b, r->raw, strlen(r->raw));
		c->hdr_len = e ? (size_t)(e - r->raw) + 4 : b.len;
		c->status = b.len >= 12 ? atoi(r->raw + 9) : 0;
		break;
	}
	default:
		c->status = 404;
		addf(&b, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n");
		end_header(c, &b);
		break;
	}
	c->resp = b.p;
	c->resp_len = b.len;
	c->off = 0;
}

/* ---- the port ----------------------------------------------------------------------- */

static struct fake_conn *conn(struct fake_server *s, int h)
{
	if (h < 0 || (size_t)h >= s->nconns || s->conns[h].closed)
		return NULL;
	return &s->conns[h];
}

static int fake_open(void *ctx, const char *host, size_t host_len, uint16_t port, bool tls)
{
	struct fake_server *s = srv_of(ctx);
	const struct fake_fault *f;
	struct fake_conn *c;

	if (s->nconns == FAKE_MAX_CONNS) {
		s->too_many = true;
		return FOTA_ERR_NOMEM;
	}
	f = fault_none(&s->faults[s->nconns]) ? &s->every : &s->faults[s->nconns];
	c = &s->conns[s->nconns];
	memset(c, 0, sizeof(*c));
	copy_out(host, host_len, c->host, sizeof(c->host));
	c->port = port;
	c->tls = tls;
	c->fault = *f;
	c->opened_at = s->now;
	s->nconns++;
	if (c->fault.open_err) {
		c->closed = true;
		c->closed_at = s->now;
		return c->fault.open_err;
	}
	return (int)(s->nconns - 1);
}

static int fake_ready(void *ctx, int h)
{
	struct fake_conn *c = conn(srv_of(ctx), h);

	if (!c)
		return FOTA_ERR_INVAL;
	c->ready_calls++;
	if (c->fault.ready_hang || c->ready_calls <= c->fault.ready_wait)
		return FOTA_ERR_AGAIN;
	return c->fault.ready_err;
}

static int fake_send(void *ctx, int h, const void *data, size_t len)
{
	struct fake_server *s = srv_of(ctx);
	struct fake_conn *c = conn(s, h);
	size_t n = len;

	if (!c || c->ready_calls == 0 || c->fault.ready_err || c->fault.ready_hang)
		return FOTA_ERR_INVAL; /* not connected */
	if (c->fault.send_err)
		return c->fault.send_err;
	if (c->fault.send_hang)
		return 0;
	if (s->send_chunk && n > s->send_chunk)
		n = s->send_chunk;
	if (c->req_len + n > FAKE_REQ_MAX) {
		c->req_overflow = true;
		return FOTA_ERR_CONNRESET;
	}
	memcpy(c->req + c->req_len, data, n);
	c->req_len += n;
	c->req[c->req_len] = '\0';
	return (int)n;
}

static int fake_recv(void *ctx, int h, void *buf, size_t cap)
{
	struct fake_server *s = srv_of(ctx);
	struct fake_conn *c = conn(s, h);
	size_t n, limit;

	if (!c || c->ready_calls == 0)
		return FOTA_ERR_INVAL;
	if (!c->resp) {
		if (!strstr(c->req, "\r\n\r\n"))
			return FOTA_ERR_AGAIN; /* the request is not whole yet */
		serve(s, c);
	}
	limit = c->resp_len;
	if (c->fault.act != FAKE_ACT_NONE && c->hdr_len + c->fault.at < limit)
		limit = c->hdr_len + c->fault.at;
	if (c->off >= limit) {
		switch (c->fault.act) {
		case FAKE_ACT_CUT:
			return FOTA_ERR_CONNRESET;
		case FAKE_ACT_STALL:
			return FOTA_ERR_AGAIN;
		default:
			return 0; /* the answer is out (or cut short): the server closes */
		}
	}
	n = limit - c->off;
	if (n > cap)
		n = cap;
	if (s->chunk && n > s->chunk)
		n = s->chunk;
	memcpy(buf, c->resp + c->off, n);
	if (c->off + n > c->hdr_len) {
		size_t body = c->off + n - (c->off > c->hdr_len ? c->off : c->hdr_len);

		c->body_sent += body;
		s->body_delivered += body;
	}
	c->off += n;
	return (int)n;
}

static void fake_close(void *ctx, int h)
{
	struct fake_server *s = srv_of(ctx);
	struct fake_conn *c = conn(s, h);

	if (!c)
		abort(); /* a close of a handle that is not open */
	c->closed = true;
	c->closed_at = s->now;
	free(c->resp);
	c->resp = NULL;
}

/* ---- the public side ---------------------------------------------------------------- */

void fake_server_init(struct fake_server *s)
{
	memset(s, 0, sizeof(*s));
	s->port.ctx = s;
	s->port.open = fake_open;
	s->port.ready = fake_ready;
	s->port.send = fake_send;
	s->port.recv = fake_recv;
	s->port.close = fake_close;
	s->chunk = 512;
}

void fake_server_free(struct fake_server *s)
{
	for (size_t i = 0; i < s->nconns; i++) {
		free(s->conns[i].resp);
		s->conns[i].resp = NULL;
	}
}

struct fake_route *fake_server_route(struct fake_server *s, const char *path,
				     enum fake_handler kind)
{
	struct fake_route *r;

	if (s->nroutes == FAKE_MAX_ROUTES)
		abort();
	r = &s->routes[s->nroutes++];
	memset(r, 0, sizeof(*r));
	r->path = path;
	r->kind = kind;
	return r;
}

struct fake_route *fake_server_find(struct fake_server *s, const char *path)
{
	for (size_t i = 0; i < s->nroutes; i++)
		if (!s->routes[i].path || strcmp(s->routes[i].path, path) == 0)
			return &s->routes[i];
	return NULL;
}

size_t fake_server_open_conns(const struct fake_server *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nconns; i++)
		n += !s->conns[i].closed;
	return n;
}
