/*
 * http.h - the HTTP/1.1 client of the core, sans-I/O: it writes requests into the
 * caller's buffer and parses responses from bytes fed in any chunking; the agent moves
 * the bytes through the network port.
 *
 * What it understands of a response: the status line (1xx interim responses skipped);
 * Content-Length; chunked transfer coding (chunk extensions and trailers skipped); a body
 * delimited by the connection's close; Content-Range (parsed; the agent checks a 206's
 * against the range it asked for); ETag and Last-Modified (kept, for resume and
 * conditional requests); Location (kept, for redirects); Connection: close. Header lines
 * are bounded by FOTA_HTTP_LINE_MAX and the header block by FOTA_HTTP_HEADER_MAX; a
 * response that breaks a limit or the grammar is refused with an error, never read past
 * its buffer. Lines may end in CR LF or, leniently, a bare LF; a bare CR is refused.
 * docs/http-client.md lists every malformed input and its error.
 */
#ifndef FOTA_HTTP_H
#define FOTA_HTTP_H

#include "fota/url.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest header line kept for parsing (bytes, CR LF excluded); also bounds the status
 * line and a chunk size line with its extensions. Longer lines are refused
 * (FOTA_ERR_TOOLONG), except that unknown headers of any length are skipped unread, and
 * a longer ETag or Last-Modified is dropped. It must hold "Location: " and a URL of
 * FOTA_URL_MAX bytes (checked at compile time). */
#ifndef FOTA_HTTP_LINE_MAX
#define FOTA_HTTP_LINE_MAX 320
#endif

/* Largest header block (status line and all headers, CR LF included) accepted, in
 * bytes; the trailers of a chunked body have the same limit. */
#ifndef FOTA_HTTP_HEADER_MAX
#define FOTA_HTTP_HEADER_MAX 8192
#endif

/* Largest ETag and Last-Modified kept (with the NUL); longer ones are dropped (not kept),
 * which only costs the resume its check. */
#define FOTA_HTTP_ETAG_MAX 72
#define FOTA_HTTP_DATE_MAX 32

/* A request. Strings are the caller's, NUL-terminated unless a length is given. */
struct fota_http_req {
	const char *method;            /* "GET" or "HEAD" */
	const struct fota_url *url;    /* host, port, path (with query) */
	const char *query;             /* optional: appended to the path's query ("a=1&b=2"),
					* already percent-encoded; NULL for none */
	bool range;                    /* send Range: bytes=<range_from>- */
	uint32_t range_from;
	const char *if_range;          /* optional: If-Range with this ETag or date; sent
					* only with range */
	const char *if_none_match;     /* optional: If-None-Match with this ETag */
	const char *if_modified_since; /* optional: If-Modified-Since with this date */
	/* (optional strings that are NULL or "" are not sent) */
};

/* fota_http_write_request: writes req as an HTTP/1.1 request (Host with the port when
 * not the scheme's default, IPv6 addresses in brackets, User-Agent openfota, Connection:
 * close, the conditional and range headers asked for) into buf (cap bytes, owned by the
 * caller; not NUL-terminated) and stores its length in *len. Returns FOTA_OK,
 * FOTA_ERR_NOMEM when it does not fit, FOTA_ERR_INVAL for a bad request (no method or
 * host; a control, space or 8-bit byte in the method, host, path or query; a control
 * or 8-bit byte in a header value). */
int fota_http_write_request(const struct fota_http_req *req, char *buf, size_t cap, size_t *len);

/* fota_http_query_add: appends "&name=value" (no '&' when buf is empty) to the
 * NUL-terminated query in buf (cap bytes, owned by the caller), percent-encoding name
 * (NUL-terminated) and value (len bytes, the caller's; may hold NUL) as RFC 3986
 * requires: every byte but A-Z a-z 0-9 - . _ ~ becomes %XX. Returns FOTA_OK or
 * FOTA_ERR_NOMEM (buf unchanged; also when buf has no NUL within cap). */
int fota_http_query_add(char *buf, size_t cap, const char *name, const char *value, size_t len);

/* What the parsed header said. */
struct fota_http_resp {
	uint16_t status;               /* 100-599 */
	bool has_length;               /* Content-Length was given (and no chunked) */
	bool chunked;                  /* Transfer-Encoding: chunked */
	bool close;                    /* Connection: close, or HTTP/1.0 without keep-alive */
	uint32_t length;               /* Content-Length */
	bool has_range;                /* Content-Range: bytes first-last/total was given */
	uint32_t range_first, range_last, range_total; /* total 0 when given as '*'; a 416's
					* range of '*' sets only range_total */
	char etag[FOTA_HTTP_ETAG_MAX];           /* "" when none (or too long) */
	char last_modified[FOTA_HTTP_DATE_MAX];  /* "" when none (or too long) */
	char location[FOTA_URL_MAX + 1];         /* "" when none; FOTA_ERR_TOOLONG if longer */
};

/* Called once when the header block of the final (not 1xx) response is complete (resp
 * owned by the parser). Return FOTA_OK to read the body, or an enum fota_err to stop
 * (fota_http_feed returns it; FOTA_ERR_AGAIN stops as FOTA_ERR_CANCELED). */
typedef int (*fota_http_on_header)(void *ctx, const struct fota_http_resp *resp);
/* Called for each piece of the body (len > 0), in order, straight from the bytes fed
 * (data owned by the feeder, valid during the call; chunk framing removed). Return
 * FOTA_OK to go on or an enum fota_err to stop (as for on_header). */
typedef int (*fota_http_on_body)(void *ctx, const uint8_t *data, size_t len);

/* The response parser. Its fields are private. */
struct fota_http_parser {
	/* (the fields used most come first: on Cortex-M their loads and stores are shorter) */
	uint8_t state;          /* where in the message the parser is */
	uint8_t flags;
	uint16_t line_len;      /* bytes in line */
	uint32_t header_bytes;  /* bytes of the header block so far */
	uint32_t left;          /* body (or current chunk) bytes still to come */
	int16_t result;         /* FOTA_ERR_AGAIN while going on, then the outcome */
	bool head;              /* the request was HEAD: no body follows */
	fota_http_on_header on_header;
	fota_http_on_body on_body;
	void *ctx;
	struct fota_http_resp resp;
	char line[FOTA_HTTP_LINE_MAX];
};

/* fota_http_parser_init: readies p for a response to a request that was HEAD (head true)
 * or not. on_header, on_body (either may be NULL) and ctx are borrowed. */
void fota_http_parser_init(struct fota_http_parser *p, bool head, fota_http_on_header on_header,
			   fota_http_on_body on_body, void *ctx);

/* fota_http_feed: the next len bytes from the connection (owned by the caller). *used
 * (may be NULL) gets how many were part of this response. Returns FOTA_ERR_AGAIN while
 * the response goes on, FOTA_OK when it is complete (bytes after it are left unused),
 * a callback's error, or: FOTA_ERR_BADMSG for a malformed status line, header, chunk
 * size or Content-Range; FOTA_ERR_TOOLONG for a line or header block over the limits;
 * FOTA_ERR_RANGE for numbers that do not fit 32 bits; FOTA_ERR_NOTSUP for a transfer
 * coding other than chunked. Once it returned something other than FOTA_ERR_AGAIN it
 * returns the same again. */
int fota_http_feed(struct fota_http_parser *p, const uint8_t *data, size_t len, size_t *used);

/* fota_http_eof: the peer closed the connection. Returns FOTA_OK when that ends the
 * response (a body delimited by the close, or a response already complete), or
 * FOTA_ERR_CONNRESET when the response was cut short (no complete header, fewer body
 * bytes than Content-Length, an unfinished chunked body). A parser that had already
 * stopped with an error returns that error. Later feeds return the same outcome. */
int fota_http_eof(struct fota_http_parser *p);

/* fota_json_code: finds the top-level member "code" with an integer value in the JSON
 * object of len bytes at s (the caller's), e.g. {"code": 27, "msg": "\u5df2..."}, and
 * stores it in *code. It skips strings (with their escapes) and tracks the nesting depth,
 * but does not check the rest of the grammar: the code only feeds the informational cause
 * of a refusal. Returns FOTA_OK; FOTA_ERR_NOENT when there is no such member or its value
 * is not an integer that fits int32_t (a float, string, object...; with "code" twice, the
 * last counts); FOTA_ERR_BADMSG when s does not start with '{' (after whitespace), is cut
 * short (an unclosed string or bracket: s must hold the whole body), has text after the
 * object, or nests deeper than 32 levels. A text malformed inside the object (a missing
 * comma, "{]", 01, a bad escape) may give a code or FOTA_ERR_NOENT rather than
 * FOTA_ERR_BADMSG. Keys are compared as written ("\u0063ode" is not "code"). */
int fota_json_code(const char *s, size_t len, int32_t *code);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_HTTP_H */
