/*
 * Unit tests of the HTTP/1.1 client: request writer, query encoder, response parser and
 * the JSON "code" scanner.
 *
 * Every response goes through parse_all_ways(): fed whole, byte by byte, in every split
 * in two (short messages), and in random chunkings, each piece in its own heap buffer
 * (so ASan catches a parser that keeps a pointer to an old piece). The header, the
 * body, the result, the bytes used and the eof() answer must be the same every time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fota/http.h"
#include "fota/url.h"

#define MSG(s) (const uint8_t *)(s), sizeof(s) - 1

/* What a parse produced. */
struct rec {
	int headers;                 /* on_header calls */
	struct fota_http_resp resp;  /* what on_header got */
	uint8_t body[20000];
	size_t body_len;
	size_t pieces;               /* on_body calls */
	int result;                  /* of the last feed */
	size_t used;                 /* bytes of the input that were the response */
	int eof;                     /* fota_http_eof() after everything was fed */
	/* set by the test */
	int header_err;              /* on_header returns this */
	int body_err;                /* on_body returns this at body_err_at bytes */
	size_t body_err_at;
	/* during a feed: the piece fed, to check on_body points into it */
	const uint8_t *lo, *hi;
};

static unsigned long chunkings; /* how many feeds of a whole message were compared */

static int on_header(void *ctx, const struct fota_http_resp *r)
{
	struct rec *rc = ctx;

	rc->headers++;
	rc->resp = *r;
	return rc->header_err;
}

static int on_body(void *ctx, const uint8_t *d, size_t n)
{
	struct rec *rc = ctx;

	assert_true(n > 0);
	assert_true(d >= rc->lo && d + n <= rc->hi); /* straight from the fed bytes */
	assert_true(rc->body_len + n <= sizeof(rc->body));
	memcpy(rc->body + rc->body_len, d, n);
	rc->body_len += n;
	rc->pieces++;
	if (rc->body_err && rc->body_len >= rc->body_err_at)
		return rc->body_err;
	return FOTA_OK;
}

static uint32_t rnd_state;

static uint32_t rnd(void)
{
	/* xorshift32: reproducible chunkings */
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

enum { WHOLE, BYTES, SPLIT, RANDOM };

/* Feeds m (len bytes) to a new parser in pieces chosen by how (arg: split point or
 * largest random piece) and records what happened in rc. */
static void feed(struct rec *rc, const uint8_t *m, size_t len, bool head, int how, size_t arg)
{
	struct fota_http_parser p;
	size_t off = 0, n, used;
	int r = FOTA_ERR_AGAIN, herr = rc->header_err, berr = rc->body_err;
	size_t bat = rc->body_err_at;

	memset(rc, 0, sizeof(*rc));
	rc->header_err = herr;
	rc->body_err = berr;
	rc->body_err_at = bat;
	fota_http_parser_init(&p, head, on_header, on_body, rc);
	while (off < len) {
		uint8_t *piece;

		n = len - off;
		if (how == BYTES)
			n = 1;
		else if (how == SPLIT && off < arg)
			n = arg - off;
		else if (how == RANDOM && n > 1)
			n = 1 + rnd() % (arg < n ? arg : n);
		piece = malloc(n);
		assert_non_null(piece);
		memcpy(piece, m + off, n);
		rc->lo = piece;
		rc->hi = piece + n;
		used = (size_t)-1;
		r = fota_http_feed(&p, piece, n, &used);
		free(piece);
		assert_true(used <= n);
		if (r != FOTA_ERR_AGAIN) {
			off += used;
			break;
		}
		assert_int_equal(used, n);
		off += n;
	}
	rc->result = r;
	rc->used = off;
	rc->eof = fota_http_eof(&p);
	if (r != FOTA_ERR_AGAIN)
		assert_int_equal(rc->eof, r);
	/* The outcome sticks: later feeds take nothing and say the same. */
	used = 1;
	assert_int_equal(fota_http_feed(&p, m, len, &used), rc->eof);
	assert_int_equal(used, 0);
	assert_int_equal(fota_http_eof(&p), rc->eof);
	chunkings++;
}

static void same(const struct rec *a, const struct rec *b)
{
	assert_int_equal(a->result, b->result);
	assert_int_equal(a->used, b->used);
	assert_int_equal(a->eof, b->eof);
	assert_int_equal(a->headers, b->headers);
	assert_int_equal(a->body_len, b->body_len);
	assert_memory_equal(a->body, b->body, a->body_len);
	if (!a->headers)
		return;
	assert_int_equal(a->resp.status, b->resp.status);
	assert_int_equal(a->resp.has_length, b->resp.has_length);
	assert_int_equal(a->resp.chunked, b->resp.chunked);
	assert_int_equal(a->resp.close, b->resp.close);
	assert_int_equal(a->resp.length, b->resp.length);
	assert_int_equal(a->resp.has_range, b->resp.has_range);
	assert_int_equal(a->resp.range_first, b->resp.range_first);
	assert_int_equal(a->resp.range_last, b->resp.range_last);
	assert_int_equal(a->resp.range_total, b->resp.range_total);
	assert_string_equal(a->resp.etag, b->resp.etag);
	assert_string_equal(a->resp.last_modified, b->resp.last_modified);
	assert_string_equal(a->resp.location, b->resp.location);
}

/* Parses m whole into *want, then in every other chunking, which must agree. */
static void parse_all_ways(const uint8_t *m, size_t len, bool head, struct rec *want)
{
	static struct rec got;
	size_t k;
	int i;

	got.header_err = want->header_err;
	feed(want, m, len, head, WHOLE, 0);
	feed(&got, m, len, head, BYTES, 0);
	same(want, &got);
	if (len <= 1024)
		for (k = 1; k < len; k++) {
			feed(&got, m, len, head, SPLIT, k);
			same(want, &got);
		}
	rnd_state = 0x2545F491u;
	for (i = 0; i < 60; i++) {
		static const size_t max[] = { 3, 8, 40, 300, 5000 };

		feed(&got, m, len, head, RANDOM, max[i % 5]);
		same(want, &got);
	}
}

static struct rec R; /* large: kept out of the stack */

static void parse(const uint8_t *m, size_t len, bool head)
{
	memset(&R, 0, sizeof(R));
	parse_all_ways(m, len, head, &R);
}

#define assert_body(s) do { \
		assert_int_equal(R.body_len, strlen(s)); \
		assert_memory_equal(R.body, s, strlen(s)); \
	} while (0)

/* ---- good responses ------------------------------------------------------------- */

static void ok_with_content_length_gives_header_body_and_leaves_what_follows(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\r\n"
				"Server: test\r\n"
				"Content-Length: 5\r\n"
				"ETag: \"v1-abc\"\r\n"
				"Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
				"\r\n"
				"hello"
				"HTTP/1.1 200 OK\r\n\r\n";

	(void)state;
	parse(MSG(m), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.used, sizeof(m) - 1 - strlen("HTTP/1.1 200 OK\r\n\r\n"));
	assert_int_equal(R.eof, FOTA_OK);
	assert_int_equal(R.headers, 1);
	assert_int_equal(R.resp.status, 200);
	assert_true(R.resp.has_length);
	assert_int_equal(R.resp.length, 5);
	assert_false(R.resp.chunked);
	assert_false(R.resp.close);
	assert_false(R.resp.has_range);
	assert_string_equal(R.resp.etag, "\"v1-abc\"");
	assert_string_equal(R.resp.last_modified, "Wed, 21 Oct 2015 07:28:00 GMT");
	assert_string_equal(R.resp.location, "");
	assert_body("hello");
}

static void chunked_body_skips_extensions_and_trailers(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\r\n"
				"Transfer-Encoding: chunked\r\n"
				"Content-Length: 99\r\n" /* chunked wins */
				"\r\n"
				"5;name=value\r\nhello\r\n"
				"6 ; x ; y=\"q\"\r\n world\r\n"
				"00a\r\n0123456789\r\n"
				"1F\r\nABCDEFGHIJKLMNOPQRSTUVWXYZabcde\r\n"
				"0;last\r\n"
				"X-Checksum: abc\r\n"
				"X-Other: d\r\n"
				"\r\n"
				"NEXT";

	(void)state;
	parse(MSG(m), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.used, sizeof(m) - 1 - 4);
	assert_int_equal(R.eof, FOTA_OK);
	assert_true(R.resp.chunked);
	assert_false(R.resp.has_length);
	assert_body("hello world0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcde");
}

static void chunked_body_without_trailers_ends_at_the_empty_line(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\r\ntransfer-encoding:  Chunked \r\n\r\n"
				"3\r\nabc\r\n0\r\n\r\n";

	(void)state;
	parse(MSG(m), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.used, sizeof(m) - 1);
	assert_body("abc");
}

static void body_without_length_ends_at_the_close(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome body bytes";

	(void)state;
	parse(MSG(m), false);
	assert_int_equal(R.result, FOTA_ERR_AGAIN);
	assert_int_equal(R.eof, FOTA_OK);
	assert_true(R.resp.close);
	assert_false(R.resp.has_length);
	assert_body("some body bytes");
}

static void partial_content_gives_its_content_range(void **state)
{
	static const char m[] = "HTTP/1.1 206 Partial Content\r\n"
				"Content-Range: bytes 100-104/1000\r\n"
				"Content-Length: 5\r\n\r\nabcde";
	static const char star[] = "HTTP/1.1 206 Partial Content\r\n"
				   "Content-Range: BYTES 0-4/*\r\n"
				   "Content-Length: 5\r\n\r\nabcde";
	static const char unsat[] = "HTTP/1.1 416 Range Not Satisfiable\r\n"
				    "Content-Range: bytes */1000\r\n"
				    "Content-Length: 0\r\n\r\n";

	(void)state;
	parse(MSG(m), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.resp.status, 206);
	assert_true(R.resp.has_range);
	assert_int_equal(R.resp.range_first, 100);
	assert_int_equal(R.resp.range_last, 104);
	assert_int_equal(R.resp.range_total, 1000);
	assert_body("abcde");

	parse(MSG(star), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_true(R.resp.has_range);
	assert_int_equal(R.resp.range_first, 0);
	assert_int_equal(R.resp.range_last, 4);
	assert_int_equal(R.resp.range_total, 0);

	parse(MSG(unsat), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.resp.status, 416);
	assert_false(R.resp.has_range);
	assert_int_equal(R.resp.range_total, 1000);
}

static void not_modified_and_no_content_have_no_body(void **state)
{
	static const char m304[] = "HTTP/1.1 304 Not Modified\r\n"
				   "ETag: W/\"abc\"\r\n"
				   "Content-Length: 1234\r\n\r\n"
				   "HTTP/1.1";
	static const char m204[] = "HTTP/1.1 204 No Content\r\n\r\nX";

	(void)state;
	parse(MSG(m304), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.used, sizeof(m304) - 1 - 8);
	assert_int_equal(R.resp.status, 304);
	assert_string_equal(R.resp.etag, "W/\"abc\"");
	assert_int_equal(R.body_len, 0);
	assert_int_equal(R.eof, FOTA_OK);

	parse(MSG(m204), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.used, sizeof(m204) - 2);
	assert_int_equal(R.body_len, 0);
}

static void redirect_keeps_its_location(void **state)
{
	static const char m[] = "HTTP/1.1 302 Found\r\n"
				"Location:   http://cdn.example.com/fw.bin?sig=1   \r\n"
				"Content-Length: 0\r\n\r\n";
	char big[600];
	int n;

	(void)state;
	parse(MSG(m), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.resp.status, 302);
	assert_string_equal(R.resp.location, "http://cdn.example.com/fw.bin?sig=1");
	assert_int_equal(R.body_len, 0);

	/* The longest Location kept is FOTA_URL_MAX bytes; one more is refused. */
	n = snprintf(big, sizeof(big), "HTTP/1.1 302 Found\r\nLocation: http://h/%0*d\r\n\r\n",
		     FOTA_URL_MAX - 9, 0);
	parse((const uint8_t *)big, (size_t)n, true);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(strlen(R.resp.location), FOTA_URL_MAX);
	n = snprintf(big, sizeof(big), "HTTP/1.1 302 Found\r\nLocation: http://h/%0*d\r\n\r\n",
		     FOTA_URL_MAX - 8, 0);
	parse((const uint8_t *)big, (size_t)n, true);
	assert_int_equal(R.result, FOTA_ERR_TOOLONG);
	assert_int_equal(R.headers, 0);
}

static void not_found_with_the_vendors_json_body_gives_its_code(void **state)
{
	static const char m[] = "HTTP/1.1 404 Not Found\r\n"
				"Content-Type: application/json; charset=utf-8\r\n"
				"Content-Length: 59\r\n\r\n"
				"{\"code\": 27, \"msg\": \"\\u5df2\\u662f\\u6700\\u65b0\\u7248\\u672c\"}";
	int32_t code = 0;

	(void)state;
	parse(MSG(m), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.resp.status, 404);
	assert_int_equal(R.body_len, 59);
	assert_int_equal(fota_json_code((const char *)R.body, R.body_len, &code), FOTA_OK);
	assert_int_equal(code, 27);
}

static void head_response_has_no_body_but_gives_the_length(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
	static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

	(void)state;
	parse(MSG(m), true);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.used, sizeof(m) - 1);
	assert_int_equal(R.resp.length, 1000);
	assert_int_equal(R.body_len, 0);
	assert_int_equal(R.eof, FOTA_OK);

	parse(MSG(chunked), true);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.body_len, 0);
}

static void interim_responses_are_skipped(void **state)
{
	static const char m[] = "HTTP/1.1 100 Continue\r\n\r\n"
				"HTTP/1.1 103 Early Hints\r\n"
				"Link: </style.css>; rel=preload\r\n"
				"Location: http://wrong/\r\n"
				"Content-Length: 7\r\n\r\n"
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	(void)state;
	parse(MSG(m), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.headers, 1);
	assert_int_equal(R.resp.status, 200);
	assert_string_equal(R.resp.location, ""); /* the 103's headers are dropped */
	assert_int_equal(R.resp.length, 2);
	assert_body("ok");
}

static void http_1_0_implies_close_unless_keep_alive(void **state)
{
	static const char plain[] = "HTTP/1.0 200 OK\r\n\r\nbody";
	static const char keep[] = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
				   "Content-Length: 2\r\n\r\nok";
	static const char listed[] = "HTTP/1.1 200 OK\r\nConnection: foo, , CLOSE\r\n"
				     "Content-Length: 0\r\n\r\n";
	static const char minor9[] = "HTTP/1.9 200 OK\r\nContent-Length: 0\r\n\r\n";

	(void)state;
	parse(MSG(plain), false);
	assert_int_equal(R.result, FOTA_ERR_AGAIN);
	assert_true(R.resp.close);
	assert_int_equal(R.eof, FOTA_OK);
	assert_body("body");

	parse(MSG(keep), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_false(R.resp.close);

	parse(MSG(listed), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_true(R.resp.close);

	parse(MSG(minor9), false); /* a later 1.x reads as 1.1 */
	assert_int_equal(R.result, FOTA_OK);
	assert_false(R.resp.close);
}

static void names_ignore_case_and_values_their_surrounding_whitespace(void **state)
{
	static const char m[] = "HTTP/1.1 200 \r\n"
				"content-LENGTH: \t 3 \t\r\n"
				"ETAG:\"x\"\r\n"
				"X-Empty:\r\n"
				"Content-Length: 3\r\n" /* repeated with the same value: fine */
				"\r\nabc";
	static const char noreason[] = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";

	(void)state;
	parse(MSG(m), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.resp.length, 3);
	assert_string_equal(R.resp.etag, "\"x\"");
	assert_body("abc");

	parse(MSG(noreason), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.resp.status, 200);
}

static void bare_lf_line_endings_are_accepted(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\nContent-Length: 2\n\nok";
	static const char chunked[] = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
				      "2\nok\n1\r\n!\n0\nX-T: 1\n\n";

	(void)state;
	parse(MSG(m), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_body("ok");
	parse(MSG(chunked), false);
	assert_int_equal(R.result, FOTA_OK);
	assert_int_equal(R.used, sizeof(chunked) - 1);
	assert_body("ok!");
}

static void long_etag_and_date_are_dropped_and_long_unknown_headers_skipped(void **state)
{
	char m[4000];
	int n;

	(void)state;
	/* Over the kept size, under the line limit. */
	n = snprintf(m, sizeof(m), "HTTP/1.1 200 OK\r\nETag: \"%0*d\"\r\n"
		     "Last-Modified: %0*d\r\nContent-Length: 1\r\n\r\nx",
		     FOTA_HTTP_ETAG_MAX - 2, 0, FOTA_HTTP_DATE_MAX, 0);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_OK);
	assert_string_equal(R.resp.etag, "");
	assert_string_equal(R.resp.last_modified, "");
	/* The longest ETag that is kept. */
	n = snprintf(m, sizeof(m), "HTTP/1.1 200 OK\r\nETag: \"%0*d\"\r\n\r\n",
		     FOTA_HTTP_ETAG_MAX - 3, 0);
	parse((const uint8_t *)m, (size_t)n, true);
	assert_int_equal(strlen(R.resp.etag), FOTA_HTTP_ETAG_MAX - 1);
	/* Over the line limit: an ETag after a good one drops both, an unknown header is
	 * skipped unread. */
	n = snprintf(m, sizeof(m), "HTTP/1.1 200 OK\r\nETag: \"a\"\r\nEtag: \"%0*d\"\r\n"
		     "X-Pad: %0*d\r\nContent-Length: 1\r\n\r\nx",
		     FOTA_HTTP_LINE_MAX, 0, 3 * FOTA_HTTP_LINE_MAX, 0);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_OK);
	assert_string_equal(R.resp.etag, "");
	assert_body("x");
}

static void parser_works_without_callbacks(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcX";
	struct fota_http_parser p;
	size_t used;

	(void)state;
	fota_http_parser_init(&p, false, NULL, NULL, NULL);
	assert_int_equal(fota_http_feed(&p, MSG(m), &used), FOTA_OK);
	assert_int_equal(used, sizeof(m) - 2);
	fota_http_parser_init(&p, false, NULL, NULL, NULL);
	assert_int_equal(fota_http_feed(&p, MSG(m), NULL), FOTA_OK);
}

/* ---- malformed responses -------------------------------------------------------- */

struct bad {
	const char *what;
	const char *m;
	size_t len; /* 0: strlen(m) */
	int err;
};

#define H "HTTP/1.1 200 OK\r\n"
#define CH H "Transfer-Encoding: chunked\r\n\r\n"

static const struct bad bad_cases[] = {
	{ "garbage", "hello world\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "tls answer", "\x16\x03\x01\x00\x02", 0, FOTA_ERR_BADMSG },
	{ "lower-case name", "http/1.1 200 OK\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "http/2", "HTTP/2 200 OK\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "empty status line", "\r\nHTTP/1.1 200 OK\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "truncated status line", "HTTP/1.1 20\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "status line without code", "HTTP/1.1\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "status line without minor", "HTTP/1. 200 OK\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "two spaces before code", "HTTP/1.1  200 OK\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "letter in code", "HTTP/1.1 2x0 OK\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "code 600", "HTTP/1.1 600 Odd\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "code 099", "HTTP/1.1 099 Odd\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "four-digit code", "HTTP/1.1 2000 OK\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "tab after code", "HTTP/1.1 200\tOK\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "header without colon", H "Content-Length 5\r\n\r\nhello", 0, FOTA_ERR_BADMSG },
	{ "space before colon", H "Content-Length : 5\r\n\r\nhello", 0, FOTA_ERR_BADMSG },
	{ "empty name", H ": 5\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "delimiter in name", H "X(y): 5\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "8-bit byte in name", H "X\xc3\xa4: 5\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "negative length", H "Content-Length: -1\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "signed length", H "Content-Length: +1\r\n\r\nx", 0, FOTA_ERR_BADMSG },
	{ "empty length", H "Content-Length:\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "length with letters", H "Content-Length: 12abc\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "length with inner space", H "Content-Length: 1 2\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "length list", H "Content-Length: 5, 5\r\n\r\nhello", 0, FOTA_ERR_BADMSG },
	{ "length 2^32", H "Content-Length: 4294967296\r\n\r\n", 0, FOTA_ERR_RANGE },
	{ "length of 20 digits", H "Content-Length: 99999999999999999999\r\n\r\n", 0,
	  FOTA_ERR_RANGE },
	{ "two different lengths", H "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 0,
	  FOTA_ERR_BADMSG },
	{ "NUL in header", H "X-A: a\0b\r\n\r\n", sizeof(H "X-A: a\0b\r\n\r\n") - 1,
	  FOTA_ERR_BADMSG },
	{ "NUL in status line", "HTTP/1.1 200 O\0K\r\n\r\n", 20, FOTA_ERR_BADMSG },
	{ "control in value", H "X-A: a\x01" "b\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "DEL in value", H "X-A: a\x7f\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "bare CR in value", H "X-A: a\rb\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "CR CR LF", H "X-A: a\r\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "obs-fold with space", H "X-A: a\r\n b\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "obs-fold with tab", H "X-A: a\r\n\tb\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "gzip", H "Transfer-Encoding: gzip\r\n\r\n", 0, FOTA_ERR_NOTSUP },
	{ "gzip then chunked", H "Transfer-Encoding: gzip, chunked\r\n\r\n", 0, FOTA_ERR_NOTSUP },
	{ "chunked then gzip", H "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
	  0, FOTA_ERR_NOTSUP },
	{ "identity", H "Transfer-Encoding: identity\r\n\r\n", 0, FOTA_ERR_NOTSUP },
	{ "chunked twice", H "Transfer-Encoding: chunked, chunked\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "bad chunk size", CH "zz\r\n", 0, FOTA_ERR_BADMSG },
	{ "empty chunk size", CH "\r\nabc\r\n", 0, FOTA_ERR_BADMSG },
	{ "space before chunk size", CH " 5\r\nhello\r\n0\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "negative chunk size", CH "-5\r\n", 0, FOTA_ERR_BADMSG },
	{ "junk after chunk size", CH "5x\r\nhello\r\n", 0, FOTA_ERR_BADMSG },
	{ "chunk size overflow", CH "100000000\r\n", 0, FOTA_ERR_RANGE },
	{ "missing CRLF after chunk", CH "5\r\nhelloX\r\n0\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "next size right after chunk", CH "5\r\nhello0\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "bare CR after chunk", CH "5\r\nhello\r0\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "NUL in trailer", CH "0\r\nX: \0\r\n\r\n", sizeof(CH "0\r\nX: \0\r\n\r\n") - 1,
	  FOTA_ERR_BADMSG },
	{ "range reversed", H "Content-Range: bytes 5-4/10\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "range past total", H "Content-Range: bytes 0-10/10\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "range of items", H "Content-Range: items 0-1/2\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "range without total", H "Content-Range: bytes 0-1\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "range with junk", H "Content-Range: bytes 0-1/2x\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "range without dash", H "Content-Range: bytes 01/2\r\n\r\n", 0, FOTA_ERR_BADMSG },
	{ "range over 32 bits", H "Content-Range: bytes 0-4294967296/*\r\n\r\n", 0,
	  FOTA_ERR_RANGE },
};

static void malformed_responses_give_their_error_in_any_chunking(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad *b = &bad_cases[i];
		size_t len = b->len ? b->len : strlen(b->m);

		parse((const uint8_t *)b->m, len, false);
		if (R.result != b->err)
			fail_msg("%s: got %s, want %s", b->what, fota_strerror(R.result),
				 fota_strerror(b->err));
		assert_int_equal(R.eof, b->err);
	}
}

/* A status line and headers of size bytes in all, with short lines. */
static int header_block(char *m, size_t cap, int size)
{
	int n = snprintf(m, cap, H);

	while (n + 200 < size)
		n += snprintf(m + n, cap - (size_t)n, "X-Pad: %0180d\r\n", 0);
	n += snprintf(m + n, cap - (size_t)n, "X: %0*d\r\n\r\n", size - n - 7, 0);
	assert_int_equal(n, size);
	return n;
}

static void lines_and_header_blocks_over_the_limits_are_refused(void **state)
{
	static char m[FOTA_HTTP_HEADER_MAX + 1000];
	int n, k;

	(void)state;
	/* A status line over the line limit. */
	n = snprintf(m, sizeof(m), "HTTP/1.1 200 %0*d\r\n\r\n", FOTA_HTTP_LINE_MAX, 0);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_TOOLONG);
	/* A status line exactly at the limit. */
	n = snprintf(m, sizeof(m), "HTTP/1.1 200 %0*d\r\n\r\n", FOTA_HTTP_LINE_MAX - 13, 0);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_AGAIN);
	assert_int_equal(R.eof, FOTA_OK);
	/* A header that must be read, over the line limit. */
	n = snprintf(m, sizeof(m), H "Content-Length: %0*d\r\n\r\n", FOTA_HTTP_LINE_MAX, 0);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_TOOLONG);
	n = snprintf(m, sizeof(m), H "Content-Range: bytes %0*d-1/2\r\n\r\n", FOTA_HTTP_LINE_MAX, 0);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_TOOLONG);
	/* A name with no colon within the line limit. */
	n = snprintf(m, sizeof(m), H "X%0*d: 1\r\n\r\n", FOTA_HTTP_LINE_MAX, 0);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_TOOLONG);
	/* A long line whose name is no token: malformed, whatever its length. */
	n = snprintf(m, sizeof(m), H "X Y: %0*d\r\n\r\n", FOTA_HTTP_LINE_MAX, 0);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_BADMSG);
	/* A chunk size line (with extensions) over the line limit. */
	n = snprintf(m, sizeof(m), CH "5;x=%0*d\r\nhello\r\n0\r\n\r\n", FOTA_HTTP_LINE_MAX, 0);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_TOOLONG);
	/* Short lines, but the block over its limit. */
	n = snprintf(m, sizeof(m), H);
	for (k = 0; n < FOTA_HTTP_HEADER_MAX; k++)
		n += snprintf(m + n, sizeof(m) - (size_t)n, "X-Pad-%03d: %0200d\r\n", k, 0);
	n += snprintf(m + n, sizeof(m) - (size_t)n, "\r\n");
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_TOOLONG);
	assert_int_equal(R.headers, 0);
	/* A block of exactly the limit passes; one byte more is refused. */
	n = header_block(m, sizeof(m), FOTA_HTTP_HEADER_MAX);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_AGAIN);
	assert_int_equal(R.headers, 1);
	n = header_block(m, sizeof(m), FOTA_HTTP_HEADER_MAX + 1);
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_TOOLONG);
	assert_int_equal(R.headers, 0);
	/* Trailers have the same limit. */
	n = snprintf(m, sizeof(m), CH "0\r\n");
	while (n < FOTA_HTTP_HEADER_MAX + 100)
		n += snprintf(m + n, sizeof(m) - (size_t)n, "X-T: %0200d\r\n", 0);
	n += snprintf(m + n, sizeof(m) - (size_t)n, "\r\n");
	parse((const uint8_t *)m, (size_t)n, false);
	assert_int_equal(R.result, FOTA_ERR_TOOLONG);
}

/* ---- eof ------------------------------------------------------------------------ */

static void eof_before_the_end_is_a_reset_and_after_it_is_fine(void **state)
{
	static const struct {
		const char *m;
		int eof;
	} cases[] = {
		{ "", FOTA_ERR_CONNRESET },
		{ "HTTP/1.1 200", FOTA_ERR_CONNRESET },
		{ "HTTP/1.1 200 OK\r\nContent-Len", FOTA_ERR_CONNRESET },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", FOTA_ERR_CONNRESET },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r", FOTA_ERR_CONNRESET },
		{ "HTTP/1.1 100 Continue\r\n\r\n", FOTA_ERR_CONNRESET },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", FOTA_ERR_CONNRESET },
		{ CH "5\r\nhel", FOTA_ERR_CONNRESET },
		{ CH "5\r\nhello", FOTA_ERR_CONNRESET },
		{ CH "5\r\nhello\r\n", FOTA_ERR_CONNRESET },
		{ CH "5\r\nhello\r\n0\r\n", FOTA_ERR_CONNRESET },
		{ CH "5\r\nhello\r\n0\r\nX-T: 1\r\n", FOTA_ERR_CONNRESET },
		{ CH "5\r\nhello\r\n0\r\n\r\n", FOTA_OK },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", FOTA_OK },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", FOTA_OK },
		{ "HTTP/1.1 200 OK\r\n\r\n", FOTA_OK },
		{ "HTTP/1.1 200 OK\r\n\r\nabc", FOTA_OK },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse((const uint8_t *)cases[i].m, strlen(cases[i].m), false);
		if (R.eof != cases[i].eof)
			fail_msg("<%s>: eof gave %s", cases[i].m, fota_strerror(R.eof));
	}
}

/* ---- callbacks ------------------------------------------------------------------ */

static void header_callback_error_stops_the_parser(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";

	(void)state;
	memset(&R, 0, sizeof(R));
	R.header_err = FOTA_ERR_FBIG;
	parse_all_ways(MSG(m), false, &R);
	assert_int_equal(R.result, FOTA_ERR_FBIG);
	assert_int_equal(R.eof, FOTA_ERR_FBIG);
	assert_int_equal(R.headers, 1);
	assert_int_equal(R.body_len, 0);
	assert_int_equal(R.used, sizeof(m) - 4);

	/* FOTA_ERR_AGAIN from a callback would read as "going on": it stops as CANCELED. */
	memset(&R, 0, sizeof(R));
	R.header_err = FOTA_ERR_AGAIN;
	parse_all_ways(MSG(m), false, &R);
	assert_int_equal(R.result, FOTA_ERR_CANCELED);
}

static void body_callback_error_stops_the_parser(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
	static struct rec r;
	int how;

	(void)state;
	/* The piece that fails depends on the chunking, so only the outcome is compared. */
	for (how = WHOLE; how <= BYTES; how++) {
		memset(&r, 0, sizeof(r));
		r.body_err = FOTA_ERR_NOSPC;
		r.body_err_at = 4;
		feed(&r, MSG(m), false, how, 0);
		assert_int_equal(r.result, FOTA_ERR_NOSPC);
		assert_int_equal(r.eof, FOTA_ERR_NOSPC);
		assert_int_equal(r.body_len, how == WHOLE ? 10 : 4);
		assert_int_equal(r.pieces, how == WHOLE ? 1 : 4);
	}
}

/* ---- robustness ----------------------------------------------------------------- */

static void mutated_responses_agree_in_any_chunking(void **state)
{
	static const char *const seeds[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"a\"\r\n\r\nhello",
		CH "5;x=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 206 P\r\nContent-Range: bytes 1-2/3\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 100 C\r\n\r\nHTTP/1.0 302 F\r\nLocation: http://x/\r\n\r\n",
	};
	static const char alphabet[] = "\r\n :;,-/*0123456789aAfFxX\"\t\0\x7f\xff";
	uint8_t m[200];
	uint32_t st = 12345;
	int i, k;

	(void)state;
	for (i = 0; i < 400; i++) {
		const char *s = seeds[i % 4];
		size_t len = strlen(s);

		memcpy(m, s, len);
		for (k = 0; k < 1 + i % 4; k++) {
			st = st * 1103515245u + 12345u;
			m[(st >> 8) % len] = (uint8_t)alphabet[(st >> 20) % (sizeof(alphabet) - 1)];
		}
		parse(m, len, false);
		assert_true(R.result == FOTA_OK || R.result == FOTA_ERR_AGAIN ||
			    R.result == FOTA_ERR_BADMSG || R.result == FOTA_ERR_RANGE ||
			    R.result == FOTA_ERR_NOTSUP || R.result == FOTA_ERR_TOOLONG);
	}
}

/* ---- request writer ------------------------------------------------------------- */

static struct fota_url url(const char *s)
{
	struct fota_url u;

	assert_int_equal(fota_url_parse(s, strlen(s), &u), FOTA_OK);
	return u;
}

static void expect_request(const struct fota_http_req *req, const char *want)
{
	char buf[1024];
	size_t len = 0, n = strlen(want), cap;

	assert_int_equal(fota_http_write_request(req, buf, sizeof(buf), &len), FOTA_OK);
	if (len != n || memcmp(buf, want, n))
		fail_msg("got <%.*s>\nwant <%s>", (int)len, buf, want);
	/* Exactly the length fits; every smaller buffer gets NOMEM. */
	assert_int_equal(fota_http_write_request(req, buf, n, &len), FOTA_OK);
	assert_int_equal(len, n);
	for (cap = 0; cap < n; cap++)
		assert_int_equal(fota_http_write_request(req, buf, cap, &len), FOTA_ERR_NOMEM);
}

#define TAIL "User-Agent: openfota/0.1\r\nConnection: close\r\n"

static void request_writer_writes_exact_bytes(void **state)
{
	struct fota_url u;
	struct fota_http_req req;

	(void)state;
	u = url("http://iot.openluat.com/api/site/firmware_upgrade");
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = &u;
	req.query = "project_key=K&imei=864000000000008";
	expect_request(&req, "GET /api/site/firmware_upgrade?project_key=K&imei=864000000000008 "
		       "HTTP/1.1\r\nHost: iot.openluat.com\r\n" TAIL "\r\n");

	/* Port in Host; the query joins the path's own with '&'. */
	u = url("http://example.com:8080/fw.bin?x=1");
	req.query = "a=b";
	expect_request(&req, "GET /fw.bin?x=1&a=b HTTP/1.1\r\nHost: example.com:8080\r\n" TAIL
		       "\r\n");

	/* A path that is only a query gets its "/"; an empty extra query adds nothing. */
	u = url("http://h?q=1");
	req.query = "";
	expect_request(&req, "GET /?q=1 HTTP/1.1\r\nHost: h\r\n" TAIL "\r\n");
	req.query = "a=b";
	expect_request(&req, "GET /?q=1&a=b HTTP/1.1\r\nHost: h\r\n" TAIL "\r\n");
	u = url("http://h/p?");
	expect_request(&req, "GET /p?a=b HTTP/1.1\r\nHost: h\r\n" TAIL "\r\n");
	req.query = NULL;

	/* IPv6 hosts in brackets, with and without port; https's default is 443. */
	u = url("http://[2001:db8::1]:8080/fw");
	expect_request(&req, "GET /fw HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n" TAIL "\r\n");
	u = url("http://[::1]");
	expect_request(&req, "GET / HTTP/1.1\r\nHost: [::1]\r\n" TAIL "\r\n");
	u = url("https://secure.example/fw");
	expect_request(&req, "GET /fw HTTP/1.1\r\nHost: secure.example\r\n" TAIL "\r\n");
	u = url("https://secure.example:80/fw");
	expect_request(&req, "GET /fw HTTP/1.1\r\nHost: secure.example:80\r\n" TAIL "\r\n");

	/* Range with If-Range, and the conditionals. */
	u = url("http://h/fw.bin");
	req.range = true;
	req.range_from = 4294967295u;
	req.if_range = "\"v1\"";
	expect_request(&req, "GET /fw.bin HTTP/1.1\r\nHost: h\r\n" TAIL
		       "Range: bytes=4294967295-\r\nIf-Range: \"v1\"\r\n\r\n");
	req.range_from = 0;
	req.if_range = "Wed, 21 Oct 2015 07:28:00 GMT";
	req.if_none_match = "\"v2\"";
	req.if_modified_since = "Thu, 22 Oct 2015 07:28:00 GMT";
	expect_request(&req, "GET /fw.bin HTTP/1.1\r\nHost: h\r\n" TAIL
		       "Range: bytes=0-\r\nIf-Range: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
		       "If-None-Match: \"v2\"\r\n"
		       "If-Modified-Since: Thu, 22 Oct 2015 07:28:00 GMT\r\n\r\n");
	/* If-Range only goes with Range; empty conditionals are not sent. */
	req.range = false;
	req.if_none_match = "";
	req.method = "HEAD";
	expect_request(&req, "HEAD /fw.bin HTTP/1.1\r\nHost: h\r\n" TAIL
		       "If-Modified-Since: Thu, 22 Oct 2015 07:28:00 GMT\r\n\r\n");
}

static void request_writer_refuses_what_would_break_the_request(void **state)
{
	struct fota_url u = url("http://h/fw.bin");
	struct fota_http_req req;
	char buf[512];
	size_t len;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.url = &u;
	assert_int_equal(fota_http_write_request(&req, buf, sizeof(buf), &len), FOTA_ERR_INVAL);
	req.method = "G T";
	assert_int_equal(fota_http_write_request(&req, buf, sizeof(buf), &len), FOTA_ERR_INVAL);
	req.method = "GET";
	req.query = "a=b c";
	assert_int_equal(fota_http_write_request(&req, buf, sizeof(buf), &len), FOTA_ERR_INVAL);
	req.query = "a=\xe4";
	assert_int_equal(fota_http_write_request(&req, buf, sizeof(buf), &len), FOTA_ERR_INVAL);
	req.query = NULL;
	req.if_none_match = "\"a\"\r\nX-Evil: 1";
	assert_int_equal(fota_http_write_request(&req, buf, sizeof(buf), &len), FOTA_ERR_INVAL);
	req.if_none_match = NULL;
	req.url = NULL;
	assert_int_equal(fota_http_write_request(&req, buf, sizeof(buf), &len), FOTA_ERR_INVAL);
}

/* ---- query encoder -------------------------------------------------------------- */

static void query_add_percent_encodes_values(void **state)
{
	static const char zh[] = "\xe5\x9b\xba\xe4\xbb\xb6 v1&x=y"; /* "固件 v1&x=y" */
	char q[200] = "";

	(void)state;
	assert_int_equal(fota_http_query_add(q, sizeof(q), "project_key", "AbC-1._~", 8), FOTA_OK);
	assert_string_equal(q, "project_key=AbC-1._~");
	assert_int_equal(fota_http_query_add(q, sizeof(q), "firmware_name", zh, sizeof(zh) - 1),
			 FOTA_OK);
	assert_string_equal(q, "project_key=AbC-1._~&firmware_name="
			    "%E5%9B%BA%E4%BB%B6%20v1%26x%3Dy");
	q[0] = '\0';
	assert_int_equal(fota_http_query_add(q, sizeof(q), "v", "+/?#%\0", 6), FOTA_OK);
	assert_string_equal(q, "v=%2B%2F%3F%23%25%00");
	q[0] = '\0';
	assert_int_equal(fota_http_query_add(q, sizeof(q), "e", "", 0), FOTA_OK);
	assert_string_equal(q, "e=");
}

static void query_add_refuses_what_does_not_fit_and_leaves_the_buffer(void **state)
{
	char q[32], copy[32];

	(void)state;
	/* "a=1" then "&b=%20" (6 more) and the NUL: 10 bytes. */
	memset(q, 'Z', sizeof(q));
	strcpy(q, "a=1");
	memcpy(copy, q, sizeof(q));
	assert_int_equal(fota_http_query_add(q, 9, "b", " ", 1), FOTA_ERR_NOMEM);
	assert_memory_equal(q, copy, sizeof(q));
	assert_int_equal(fota_http_query_add(q, 10, "b", " ", 1), FOTA_OK);
	assert_string_equal(q, "a=1&b=%20");
	/* No terminator within cap: full. */
	memset(q, 'x', sizeof(q));
	assert_int_equal(fota_http_query_add(q, sizeof(q), "b", "1", 1), FOTA_ERR_NOMEM);
	assert_int_equal(fota_http_query_add(q, 0, "b", "1", 1), FOTA_ERR_NOMEM);
}

/* ---- JSON code ------------------------------------------------------------------ */

static int json(const char *s, int32_t *code)
{
	*code = -99999;
	return fota_json_code(s, strlen(s), code);
}

static void json_code_finds_the_top_level_integer_code(void **state)
{
	static const struct {
		const char *s;
		int32_t code;
	} ok[] = {
		{ "{\"code\": 27, \"msg\": \"\\u5df2\\u662f\\u6700\\u65b0\\u7248\\u672c\"}", 27 },
		{ "{\"data\":{\"code\":1},\"code\":3}", 3 },
		{ "{\"code\":3,\"data\":{\"code\":1}}", 3 },
		{ " \r\n\t{ \"code\" :\n-5 } \n", -5 },
		{ "{\"code\":0}", 0 },
		{ "{\"code\":-0}", 0 },
		{ "{\"code\":2147483647}", 2147483647 },
		{ "{\"code\":-2147483648}", INT32_MIN },
		{ "{\"code\":1,\"code\":2}", 2 },
		{ "{\"msg\":\"\\\"code\\\": 5, \\\\\",\"code\":44,\"x\":[1,{\"code\":9},[]],"
		  "\"t\":true,\"f\":false,\"n\":null,\"e\":1.5e-3,\"u\":\"\xe5\xb7\xb2\"}", 44 },
		{ "{\"a\":[[[[{\"b\":{}}]]]],\"code\":7}", 7 },
	};
	static const char *const noent[] = {
		"{}", "{\"msg\":\"ok\"}", "{\"data\":{\"code\":1}}", "{\"a\":[{\"code\":1}]}",
		"{\"code\":1.0}", "{\"code\":1e2}", "{\"code\":\"27\"}", "{\"code\":null}",
		"{\"code\":{\"code\":1}}", "{\"code\":[1]}", "{\"code\":2147483648}",
		"{\"code\":-2147483649}", "{\"code\":99999999999999999999}",
		"{\"code\":1,\"code\":\"x\"}", "{\"Code\":1}", "{\"\\u0063ode\":1}",
		"{\"msg\":\"\\\"code\\\":1\"}",
	};
	int32_t code;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (json(ok[i].s, &code) != FOTA_OK)
			fail_msg("<%s> refused", ok[i].s);
		assert_int_equal(code, ok[i].code);
	}
	for (size_t i = 0; i < sizeof(noent) / sizeof(noent[0]); i++) {
		if (json(noent[i], &code) != FOTA_ERR_NOENT)
			fail_msg("<%s>: not NOENT", noent[i]);
		assert_int_equal(code, -99999); /* untouched */
	}
}

/* {"a":[[...{}...]]}: an object, arrays levels deep, an object inside. */
static size_t deep_json(char *d, size_t arrays)
{
	size_t n = 0;

	memcpy(d, "{\"a\":", 5);
	n += 5;
	memset(d + n, '[', arrays);
	n += arrays;
	memcpy(d + n, "{}", 2);
	n += 2;
	memset(d + n, ']', arrays);
	n += arrays;
	d[n++] = '}';
	return n;
}

static void json_code_refuses_what_is_not_a_json_object(void **state)
{
	static const char *const bad[] = {
		"", " ", "<html>", "code", "27", "[1]", "\"code\"", "null", "{", "}",
		"{\"code\":1}x", "{\"code\":1}{}", "{\"a\":\"unterminated}", "{\"a\":[1}",
		"{\"a\":\"\\\"}", "{\"code\":1", "{\"a\":{}",
	};
	/* Malformed inside the object: the grammar is not checked (the code only feeds
	 * the informational cause), so these give a code or NOENT, never more. */
	static const char *const loose[] = {
		"{]", "{\"a\":[}]", "{\"a\":{]}", "{code:1}", "{\"code\"1}", "{\"code\":}",
		"{\"code\":1,}", "{,}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\" \"b\"}",
		"{\"a\":1 \"b\":2}", "{\"code\":01}", "{\"code\":-}", "{\"code\":+1}",
		"{\"code\":1.}", "{\"code\":.5}", "{\"code\":1e}", "{\"code\":0x10}",
		"{\"a\":tru}", "{\"a\":nul}", "{\"a\":True}", "{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12G4\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"tab\there\"}",
	};
	static const char whole[] = "{\"code\": 27, \"msg\": \"\\u5df2\\u662f\\u6700\\u65b0\\u7248"
				    "\\u672c\", \"d\": [1, {\"x\": null}]}";
	char deep[80];
	int32_t code;
	size_t n;
	int err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (json(bad[i], &code) != FOTA_ERR_BADMSG)
			fail_msg("<%s>: not BADMSG", bad[i]);
	for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		err = json(loose[i], &code);
		if (err != FOTA_OK && err != FOTA_ERR_NOENT)
			fail_msg("<%s>: %d", loose[i], err);
		if (err == FOTA_OK)
			assert_int_equal(code, 1); /* {"code":1,} and {"code":01} */
	}
	/* Every cut of a good object is refused, even one after the code. */
	for (n = 0; n < sizeof(whole) - 1; n++)
		assert_int_equal(fota_json_code(whole, n, &code), FOTA_ERR_BADMSG);
	assert_int_equal(fota_json_code(whole, sizeof(whole) - 1, &code), FOTA_OK);
	assert_int_equal(code, 27);
	/* A value followed by a NUL is not an integer. */
	code = -99999;
	assert_int_equal(fota_json_code("{\"code\":1\0}", 11, &code), FOTA_ERR_NOENT);
	assert_int_equal(code, -99999);

	/* Nesting: 32 levels are fine, 33 refused. */
	assert_int_equal(fota_json_code(deep, deep_json(deep, 30), &code), FOTA_ERR_NOENT);
	assert_int_equal(fota_json_code(deep, deep_json(deep, 31), &code), FOTA_ERR_BADMSG);
}

static void report_chunkings(void **state)
{
	(void)state;
	print_message("%lu chunkings compared\n", chunkings);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ok_with_content_length_gives_header_body_and_leaves_what_follows),
		cmocka_unit_test(chunked_body_skips_extensions_and_trailers),
		cmocka_unit_test(chunked_body_without_trailers_ends_at_the_empty_line),
		cmocka_unit_test(body_without_length_ends_at_the_close),
		cmocka_unit_test(partial_content_gives_its_content_range),
		cmocka_unit_test(not_modified_and_no_content_have_no_body),
		cmocka_unit_test(redirect_keeps_its_location),
		cmocka_unit_test(not_found_with_the_vendors_json_body_gives_its_code),
		cmocka_unit_test(head_response_has_no_body_but_gives_the_length),
		cmocka_unit_test(interim_responses_are_skipped),
		cmocka_unit_test(http_1_0_implies_close_unless_keep_alive),
		cmocka_unit_test(names_ignore_case_and_values_their_surrounding_whitespace),
		cmocka_unit_test(bare_lf_line_endings_are_accepted),
		cmocka_unit_test(long_etag_and_date_are_dropped_and_long_unknown_headers_skipped),
		cmocka_unit_test(parser_works_without_callbacks),
		cmocka_unit_test(malformed_responses_give_their_error_in_any_chunking),
		cmocka_unit_test(lines_and_header_blocks_over_the_limits_are_refused),
		cmocka_unit_test(eof_before_the_end_is_a_reset_and_after_it_is_fine),
		cmocka_unit_test(header_callback_error_stops_the_parser),
		cmocka_unit_test(body_callback_error_stops_the_parser),
		cmocka_unit_test(mutated_responses_agree_in_any_chunking),
		cmocka_unit_test(request_writer_writes_exact_bytes),
		cmocka_unit_test(request_writer_refuses_what_would_break_the_request),
		cmocka_unit_test(query_add_percent_encodes_values),
		cmocka_unit_test(query_add_refuses_what_does_not_fit_and_leaves_the_buffer),
		cmocka_unit_test(json_code_finds_the_top_level_integer_code),
		cmocka_unit_test(json_code_refuses_what_is_not_a_json_object),
		cmocka_unit_test(report_chunkings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
