/*
 * req.h - fota-server's request helpers: pure functions on the bytes of a request, no I/O,
 * no MHD, no heap. Query strings and path segments are percent-decoded and checked here
 * (bad escapes, invalid UTF-8, control characters, path tricks), ids and Range headers are
 * parsed here, and the few text formats the server writes (RFC 3339, HTTP dates, ASCII-only
 * JSON strings, log fields) are made here. tests/server/test_server_req.c covers them.
 *
 * Every function that can fail returns an enum fota_err (include/fota/fota.h); predicates
 * return bool. Buffers are the caller's unless said otherwise.
 */
#ifndef FOTA_SRV_REQ_H
#define FOTA_SRV_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fota/fota.h"

#define FOTA_SRV_QUERY_MAX 2048   /* bytes of a raw query string (after '?') */
#define FOTA_SRV_PARAMS_MAX 32    /* parameters in one query string */
#define FOTA_SRV_SEGMENTS_MAX 12  /* segments of a path */
#define FOTA_SRV_PATH_MAX 1024    /* bytes of a raw path (before '?') */
#define FOTA_SRV_ID_MAX 64        /* a device id: 1-64 of [0-9A-Za-z:_-] */
#define FOTA_SRV_KEY_LEN 32       /* a project key: 32 lowercase hex digits */

/* One decoded query parameter; both strings point into the owning struct's buffer. */
struct fota_srv_param {
	const char *name;
	const char *value; /* "" for "name" or "name=" */
};

/* A decoded query string. It holds its own copy of the bytes (no pointer to the input), so
 * it lives as long as the caller keeps it; about 2.6 KiB, meant for the stack. */
struct fota_srv_query {
	struct fota_srv_param p[FOTA_SRV_PARAMS_MAX];
	size_t n;
	char buf[FOTA_SRV_QUERY_MAX + 2];
};

/* fota_srv_query_parse: decodes the raw query string q (len bytes after the '?', owned by
 * the caller, not NUL-terminated) into *out: pairs split on '&', name and value split on
 * the first '=', %XX escapes decoded ('+' stays a '+'), empty pairs skipped. Every decoded
 * name and value must be valid UTF-8 without control characters (C0, DEL, C1) or NUL.
 * Returns FOTA_OK; FOTA_ERR_TOOLONG when len > FOTA_SRV_QUERY_MAX; FOTA_ERR_BADMSG for a '%'
 * not followed by two hex digits; FOTA_ERR_INVAL for invalid UTF-8 or a control byte;
 * FOTA_ERR_NOMEM for more than FOTA_SRV_PARAMS_MAX parameters. *out is unspecified after an
 * error. */
int fota_srv_query_parse(struct fota_srv_query *out, const char *q, size_t len);

/* fota_srv_query_get: the value of the first parameter called name (NUL-terminated), or
 * NULL when there is none. The string belongs to q. */
const char *fota_srv_query_get(const struct fota_srv_query *q, const char *name);

/* A decoded path: its segments, each NUL-terminated in buf (owned by the struct). */
struct fota_srv_path {
	const char *seg[FOTA_SRV_SEGMENTS_MAX];
	size_t n;
	char buf[FOTA_SRV_PATH_MAX + 1];
};

/* fota_srv_path_split: splits the raw path p (len bytes, from the leading '/' to before any
 * '?', owned by the caller) into percent-decoded segments. A trailing '/' is ignored ("/"
 * has no segment). Each decoded segment must be valid UTF-8 without control bytes, NUL or
 * '/' (an escaped %2F), and must not be "." or "..".
 * Returns FOTA_OK; FOTA_ERR_TOOLONG when len > FOTA_SRV_PATH_MAX; FOTA_ERR_BADMSG for a path
 * without the leading '/' or a bad escape; FOTA_ERR_INVAL for a forbidden byte or segment;
 * FOTA_ERR_NOMEM for more than FOTA_SRV_SEGMENTS_MAX segments. */
int fota_srv_path_split(struct fota_srv_path *out, const char *p, size_t len);

/* fota_srv_id_valid: true when s (NUL-terminated, may be NULL) is a device id: 1 to
 * FOTA_SRV_ID_MAX characters of [0-9A-Za-z:_-] (an IMEI, a MAC, a UID). */
bool fota_srv_id_valid(const char *s);

/* fota_srv_key_valid: true when s (NUL-terminated, may be NULL) is a project key: exactly
 * FOTA_SRV_KEY_LEN lowercase hex digits. */
bool fota_srv_key_valid(const char *s);

/* fota_srv_parse_id: reads s (NUL-terminated) as a row id: decimal digits only, 1 to
 * INT64_MAX, no sign, space or leading zero. Returns FOTA_OK with *id set, or
 * FOTA_ERR_INVAL. */
int fota_srv_parse_id(const char *s, int64_t *id);

/* fota_srv_utf8_next: decodes the UTF-8 sequence at s (n > 0 bytes available, the
 * caller's) into *cp. Refuses overlong forms, surrogates and values above U+10FFFF.
 * Returns the sequence's length (1-4), or 0 when it is not valid UTF-8. */
size_t fota_srv_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* fota_srv_text_check: checks len bytes at s (the caller's) as a text field of 1 to
 * max_chars characters (code points): valid UTF-8, no NUL, no control character (C0, DEL,
 * C1). Returns FOTA_OK, FOTA_ERR_INVAL (empty, a bad byte) or FOTA_ERR_TOOLONG. */
int fota_srv_text_check(const char *s, size_t len, size_t max_chars);

/* fota_srv_name_safe: true when the NUL-terminated s holds none of the path tricks that a
 * name must not carry: '/', '\\' or "..". (Control bytes are fota_srv_text_check's job.) */
bool fota_srv_name_safe(const char *s);

/* The answer to a Range header for a file of a known size. */
enum fota_srv_range {
	FOTA_SRV_RANGE_NONE = 0, /* no usable Range: send the whole file (200) */
	FOTA_SRV_RANGE_PART,     /* send [*first, *last] (206) */
	FOTA_SRV_RANGE_UNSAT,    /* not satisfiable (416, Content-Range: bytes * / size) */
};

/* fota_srv_range_parse: reads the Range header h (NUL-terminated; NULL means none) for a
 * file of size bytes (> 0): "bytes=N-", "bytes=N-M" (M past the end is clamped) or
 * "bytes=-N" (the last N bytes), the unit without case, spaces around the spec allowed. A
 * malformed header, another unit, M < N or several ranges are ignored (RFC 9110 14.2:
 * the whole file is sent). Returns an enum fota_srv_range; *first and *last are set for
 * FOTA_SRV_RANGE_PART only. */
int fota_srv_range_parse(const char *h, uint64_t size, uint64_t *first, uint64_t *last);

/* fota_srv_if_range_match: true when the If-Range value h (NUL-terminated; NULL means no
 * If-Range, which matches) names this file: the strong ETag etag exactly (a weak "W/"
 * one never matches), or, for a date, exactly the string last_modified. */
bool fota_srv_if_range_match(const char *h, const char *etag, const char *last_modified);

/* fota_srv_bearer: finds the token in an Authorization header value h ("Bearer TOKEN", the
 * scheme without case). Returns a pointer into h (the caller's) and sets *len, or NULL when
 * h is NULL, another scheme or has no token. */
const char *fota_srv_bearer(const char *h, size_t *len);

/* fota_srv_token_equal: compares the len bytes at given (the caller's) with the token whose
 * SHA-256 is want, in a time that depends on neither's content: both sides are hashed and
 * the digests compared without an early exit. Returns true when they are equal. */
bool fota_srv_token_equal(const char *given, size_t len, const uint8_t want[32]);

/* fota_srv_media_json: true when the Content-Type value h (NUL-terminated, may be NULL) is
 * application/json (without case; parameters such as "; charset=utf-8" allowed). */
bool fota_srv_media_json(const char *h);

/* fota_srv_json_ascii: writes the valid UTF-8 NUL-terminated s as a JSON string, quotes
 * included, into out (cap bytes, NUL-terminated): '"', '\\' and control characters
 * escaped, every non-ASCII character as \uXXXX in lowercase hex (a surrogate pair above
 * U+FFFF), as the vendor's server writes its messages. Returns the length written (without
 * the NUL), or FOTA_ERR_NOMEM if it does not fit, FOTA_ERR_INVAL for invalid UTF-8. */
int fota_srv_json_ascii(char *out, size_t cap, const char *s);

/* fota_srv_rfc3339: formats the Unix time t as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into out. */
void fota_srv_rfc3339(int64_t t, char out[32]);

/* fota_srv_http_date: formats the Unix time t as an HTTP date, "Sun, 06 Nov 1994 08:49:37
 * GMT" (RFC 9110 5.6.7), into out. */
void fota_srv_http_date(int64_t t, char out[32]);

/* fota_srv_log_field: copies len bytes at s (the caller's) into out (cap > 4 bytes, always
 * NUL-terminated) for a log line: bytes outside printable ASCII, '"' and '\\' become \xHH,
 * and the copy ends with "..." when it is cut. Returns out. */
char *fota_srv_log_field(char *out, size_t cap, const char *s, size_t len);

/* fota_srv_log_target: fota_srv_log_field for a request target (path and query, len
 * bytes at uri, the caller's), with the value of every query parameter that names a
 * credential (token, access_token, admin_token, auth, authorization, bearer, password,
 * passwd, secret, api_key, apikey; without case, percent escapes decoded) written
 * REDACTED: a token put in a URL by mistake never reaches the log. Returns out. */
char *fota_srv_log_target(char *out, size_t cap, const char *uri, size_t len);

/* fota_srv_parse_listen: reads a --listen value "[HOST:]PORT" (HOST a name, an IPv4
 * address, or an IPv6 address in brackets: "[::1]:8080") into host (cap bytes; the
 * brackets removed; default "127.0.0.1") and *port (0-65535). Returns FOTA_OK,
 * FOTA_ERR_INVAL (malformed) or FOTA_ERR_TOOLONG (the host does not fit). */
int fota_srv_parse_listen(const char *s, char *host, size_t cap, uint16_t *port);

#endif /* FOTA_SRV_REQ_H */
