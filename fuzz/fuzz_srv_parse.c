/*
 * fuzz_srv_parse.c - fota-server's pure request helpers (src/server/req.c, proxy.c), each
 * against a reference written from its contract in req.h / proxy.h, or against a round
 * trip.
 *
 * Input: 2 bytes of parameters a, b, then the text T (n bytes; where a function takes a C
 * string, T up to its first NUL). Every function runs on every input:
 *   fota_srv_utf8_next at every offset = a decoder written from Unicode's table of
 *     well-formed sequences (Table 3-7);
 *   fota_srv_text_check(T, max = a) = the reference (empty, bad byte, count);
 *   fota_srv_query_parse = a reference decoder (pairs, '=', escapes, UTF-8, controls,
 *     32 parameters; the same error for the same input), every name and value equal;
 *     fota_srv_query_get gives the first value of a name;
 *   fota_srv_path_split = a reference splitter, every segment equal;
 *   fota_srv_id_valid, _key_valid, _parse_id, _name_safe, _media_json = references;
 *   fota_srv_range_parse(T, size from a, b) = a reference, and first <= last < size;
 *   fota_srv_if_range_match, fota_srv_bearer (token inside T, trimmed) = references;
 *   fota_srv_json_ascii(cap from a): printable ASCII, fits cap, jansson reads it back as
 *     T; FOTA_ERR_INVAL exactly for invalid UTF-8, FOTA_ERR_NOMEM exactly when the whole
 *     text does not fit;
 *   fota_srv_log_field(cap 5 + a): printable ASCII, no bare '"' or '\\', fits cap; it
 *     unescapes to T when T's escaped form fits (with 4 bytes to spare), else to a
 *     prefix of T followed by "...";
 *   fota_srv_log_target(cap): the same, unescaping to T with the value of every
 *     credential parameter replaced by REDACTED (reference redactor);
 *   fota_srv_parse_listen(cap from a): host fits, and "[host]:port" / "host:port" (the
 *     form it came in) parses back to the same;
 *   fota_srv_rfc3339, _http_date(t = le64 of T): the text reads back as t (years
 *     1970-9999);
 *   fota_srv_ip_parse: the text fota_srv_ip_text writes parses back to the same address;
 *     fota_srv_cidr_parse: bits in range, host bits clear, contains its own address;
 *     fota_srv_cidr_list_parse: all or nothing (*n kept on an error, the ranges before it
 *     never touched); fota_srv_forwarded_client(T) = a
 *     reference walk over trusted ranges 10.0.0.0/8, 192.168.1.0/24, 2001:db8::/32.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "proxy.h"
#include "req.h"
#include "fuzz_util.h"

#define NO_COV __attribute__((no_sanitize("coverage")))

/* ---- UTF-8, from Unicode's Table 3-7 -------------------------------------------------- */

NO_COV static size_t ref_utf8(const uint8_t *s, size_t n, uint32_t *cp)
{
	static const struct {
		uint8_t lo0, hi0, lo1, hi1;
		size_t len;
	} t[] = {
		{ 0x00, 0x7F, 0, 0, 1 },       { 0xC2, 0xDF, 0x80, 0xBF, 2 },
		{ 0xE0, 0xE0, 0xA0, 0xBF, 3 }, { 0xE1, 0xEC, 0x80, 0xBF, 3 },
		{ 0xED, 0xED, 0x80, 0x9F, 3 }, { 0xEE, 0xEF, 0x80, 0xBF, 3 },
		{ 0xF0, 0xF0, 0x90, 0xBF, 4 }, { 0xF1, 0xF3, 0x80, 0xBF, 4 },
		{ 0xF4, 0xF4, 0x80, 0x8F, 4 },
	};

	for (size_t i = 0; i < FOTA_ARRAY_SIZE(t); i++) {
		size_t len = t[i].len, k;
		uint32_t v;

		if (s[0] < t[i].lo0 || s[0] > t[i].hi0)
			continue;
		if (len == 1) {
			*cp = s[0];
			return 1;
		}
		if (n < len || s[1] < t[i].lo1 || s[1] > t[i].hi1)
			return 0;
		for (k = 2; k < len; k++)
			if (s[k] < 0x80 || s[k] > 0xBF)
				return 0;
		v = s[0] & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
		for (k = 1; k < len; k++)
			v = v << 6 | (s[k] & 0x3F);
		*cp = v;
		return len;
	}
	return 0;
}

NO_COV static bool ref_utf8_all(const char *s)
{
	size_t n = strlen(s), i = 0, k;
	uint32_t cp;

	while (i < n) {
		k = ref_utf8((const uint8_t *)s + i, n - i, &cp);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

static bool ref_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

/* Valid UTF-8 without controls or NUL; *chars gets the count. */
NO_COV static bool ref_clean(const char *s, size_t n, size_t *chars)
{
	size_t i = 0, c = 0, k;
	uint32_t cp;

	while (i < n) {
		k = ref_utf8((const uint8_t *)s + i, n - i, &cp);
		if (!k || ref_control(cp))
			return false;
		i += k;
		c++;
	}
	if (chars)
		*chars = c;
	return true;
}

static int hexv(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes n bytes; -1 for a bad escape. */
NO_COV static long ref_pct(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (n - i < 3 || hexv((unsigned char)s[i + 1]) < 0 || hexv((unsigned char)s[i + 2]) < 0)
			return -1;
		out[o++] = (char)(hexv((unsigned char)s[i + 1]) << 4 | hexv((unsigned char)s[i + 2]));
		i += 2;
	}
	return (long)o;
}

/* ---- query and path -------------------------------------------------------------------- */

static char scratch[2][FOTA_SRV_QUERY_MAX + 8];

NO_COV static void check_query(const char *t, size_t n)
{
	static struct fota_srv_query q;
	int err = fota_srv_query_parse(&q, t, n), want = FOTA_OK;
	size_t pos = 0, np = 0;

	if (n > FOTA_SRV_QUERY_MAX) {
		CHECK_EQ(err, FOTA_ERR_TOOLONG);
		return;
	}
	while (pos < n && want == FOTA_OK) {
		const char *pair = t + pos, *amp = memchr(pair, '&', n - pos), *eq;
		size_t plen = amp ? (size_t)(amp - pair) : n - pos, nl;
		long dn, dv = 0;

		pos += plen + 1;
		if (!plen)
			continue;
		if (np == FOTA_SRV_PARAMS_MAX) {
			want = FOTA_ERR_NOMEM;
			break;
		}
		eq = memchr(pair, '=', plen);
		nl = eq ? (size_t)(eq - pair) : plen;
		dn = ref_pct(pair, nl, scratch[0]);
		if (dn >= 0 && eq)
			dv = ref_pct(eq + 1, plen - nl - 1, scratch[1]);
		if (dn < 0 || dv < 0) {
			want = FOTA_ERR_BADMSG;
			break;
		}
		if (!ref_clean(scratch[0], (size_t)dn, NULL) || !ref_clean(scratch[1], (size_t)dv, NULL)) {
			want = FOTA_ERR_INVAL;
			break;
		}
		if (err == FOTA_OK) {
			CHECK(np < q.n);
			CHECK_EQ(strlen(q.p[np].name), dn);
			CHECK(!memcmp(q.p[np].name, scratch[0], (size_t)dn));
			CHECK_EQ(strlen(q.p[np].value), dv);
			CHECK(!memcmp(q.p[np].value, scratch[1], (size_t)dv));
			CHECK(q.p[np].name >= q.buf && q.p[np].value + dv < q.buf + sizeof(q.buf));
		}
		np++;
	}
	CHECK_EQ(err, want);
	if (err)
		return;
	CHECK_EQ(q.n, np);
	for (size_t i = 0; i < q.n; i++) {
		size_t first = 0;

		while (strcmp(q.p[first].name, q.p[i].name))
			first++;
		CHECK(fota_srv_query_get(&q, q.p[i].name) == q.p[first].value);
	}
	CHECK(fota_srv_query_get(&q, "\x01 never a name") == NULL);
}

NO_COV static void check_path(const char *t, size_t n)
{
	static struct fota_srv_path p;
	int err = fota_srv_path_split(&p, t, n), want = FOTA_OK;
	size_t pos = 1, ns = 0;

	if (n > FOTA_SRV_PATH_MAX) {
		CHECK_EQ(err, FOTA_ERR_TOOLONG);
		return;
	}
	if (n == 0 || t[0] != '/') {
		CHECK_EQ(err, FOTA_ERR_BADMSG);
		return;
	}
	while (pos < n) {
		const char *s = t + pos, *slash = memchr(s, '/', n - pos);
		size_t sl = slash ? (size_t)(slash - s) : n - pos;
		long d;

		pos += sl + 1;
		if (sl == 0 && pos >= n)
			break; /* the trailing '/' */
		if (ns == FOTA_SRV_SEGMENTS_MAX) {
			want = FOTA_ERR_NOMEM;
			break;
		}
		d = ref_pct(s, sl, scratch[0]);
		if (d < 0) {
			want = FOTA_ERR_BADMSG;
			break;
		}
		if (memchr(scratch[0], '/', (size_t)d) || !ref_clean(scratch[0], (size_t)d, NULL) ||
		    (d == 1 && scratch[0][0] == '.') || (d == 2 && !memcmp(scratch[0], "..", 2))) {
			want = FOTA_ERR_INVAL;
			break;
		}
		if (err == FOTA_OK) {
			CHECK(ns < p.n);
			CHECK_EQ(strlen(p.seg[ns]), d);
			CHECK(!memcmp(p.seg[ns], scratch[0], (size_t)d));
		}
		ns++;
	}
	CHECK_EQ(err, want);
	if (!err)
		CHECK_EQ(p.n, ns);
}

/* ---- small predicates -------------------------------------------------------------------- */

NO_COV static void check_ids(const char *s)
{
	size_t n = strlen(s), i;
	bool id = n >= 1 && n <= FOTA_SRV_ID_MAX, key = n == FOTA_SRV_KEY_LEN, num = n >= 1 && n <= 19;
	uint64_t v = 0;
	int64_t got = -1;
	int err;

	for (i = 0; i < n; i++) {
		char c = s[i];

		id = id && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    c == ':' || c == '_' || c == '-');
		key = key && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
		num = num && c >= '0' && c <= '9';
		if (num)
			v = v * 10 + (uint64_t)(c - '0');
	}
	num = num && s[0] != '0' && v <= (uint64_t)INT64_MAX;
	CHECK_EQ(fota_srv_id_valid(s), id);
	CHECK_EQ(fota_srv_key_valid(s), key);
	err = fota_srv_parse_id(s, &got);
	CHECK_EQ(err, num ? FOTA_OK : FOTA_ERR_INVAL);
	if (num)
		CHECK_EQ(got, (int64_t)v);
	CHECK_EQ(fota_srv_name_safe(s), !strchr(s, '/') && !strchr(s, '\\') && !strstr(s, ".."));
}

NO_COV static const char *ws(const char *s)
{
	return s + strspn(s, " \t");
}

NO_COV static void check_headers(const char *s)
{
	const char *h = ws(s), *tok;
	size_t len = 0, n;
	bool media, bearer;

	/* Content-Type */
	media = !strncasecmp(h, "application/json", 16) && (*ws(h + 16) == '\0' || *ws(h + 16) == ';');
	CHECK_EQ(fota_srv_media_json(s), media);
	CHECK(!fota_srv_media_json(NULL));

	/* Authorization */
	tok = fota_srv_bearer(s, &len);
	bearer = !strncasecmp(h, "bearer", 6) && (h[6] == ' ' || h[6] == '\t');
	if (bearer) {
		const char *b = ws(h + 7);

		n = strlen(b);
		while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
			n--;
		bearer = n > 0;
		if (bearer) {
			CHECK(tok == b);
			CHECK_EQ(len, n);
		}
	}
	if (!bearer)
		CHECK(tok == NULL);
	CHECK(fota_srv_bearer(NULL, &len) == NULL);

	/* If-Range */
	{
		static const char etag[] = "\"0123456789abcdef0123456789abcdef\"";
		static const char lm[] = "Sun, 06 Nov 1994 08:49:37 GMT";
		bool want = (h[0] == '"' || (h[0] == 'W' && h[1] == '/')) ? !strcmp(h, etag) :
			    !strcmp(h, lm);

		CHECK_EQ(fota_srv_if_range_match(s, etag, lm), want);
		CHECK(fota_srv_if_range_match(NULL, etag, lm));
		CHECK(fota_srv_if_range_match(etag, etag, lm));
		CHECK(fota_srv_if_range_match(lm, etag, lm));
	}
}

/* ---- Range --------------------------------------------------------------------------------- */

NO_COV static const char *ref_num(const char *s, uint64_t *v)
{
	const char *b = s;

	*v = 0;
	for (; *s >= '0' && *s <= '9'; s++)
		*v = *v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10 ? UINT64_MAX :
		     *v * 10 + (uint64_t)(*s - '0');
	return s == b ? NULL : s;
}

NO_COV static int ref_range(const char *h, uint64_t size, uint64_t *f, uint64_t *l)
{
	uint64_t a, b = UINT64_MAX;
	const char *p;

	h = ws(h);
	if (strncasecmp(h, "bytes", 5))
		return FOTA_SRV_RANGE_NONE;
	h = ws(h + 5);
	if (*h != '=')
		return FOTA_SRV_RANGE_NONE;
	h = ws(h + 1);
	if (*h == '-') {
		p = ref_num(h + 1, &b);
		if (!p || *ws(p))
			return FOTA_SRV_RANGE_NONE;
		if (b == 0)
			return FOTA_SRV_RANGE_UNSAT;
		*f = b >= size ? 0 : size - b;
		*l = size - 1;
		return FOTA_SRV_RANGE_PART;
	}
	p = ref_num(h, &a);
	if (!p || *p != '-')
		return FOTA_SRV_RANGE_NONE;
	p++;
	if (*p >= '0' && *p <= '9') {
		p = ref_num(p, &b);
		if (b < a)
			return FOTA_SRV_RANGE_NONE;
	}
	if (*ws(p))
		return FOTA_SRV_RANGE_NONE;
	if (a >= size)
		return FOTA_SRV_RANGE_UNSAT;
	*f = a;
	*l = b >= size ? size - 1 : b;
	return FOTA_SRV_RANGE_PART;
}

NO_COV static void check_range(const char *s, uint8_t a, uint8_t b)
{
	static const uint64_t sizes[8] = { 1, 2, 100, 1000, 4294967296u, (uint64_t)INT64_MAX,
					   UINT64_MAX, 0 };
	uint64_t size = sizes[a & 7] ? sizes[a & 7] : (uint64_t)b * 257 + 1;
	uint64_t f = 7, l = 7, rf = 9, rl = 9;
	int kind = fota_srv_range_parse(s, size, &f, &l), want = ref_range(s, size, &rf, &rl);

	CHECK_EQ(kind, want);
	if (kind == FOTA_SRV_RANGE_PART) {
		CHECK(f <= l && l < size);
		CHECK(f == rf && l == rl);
	} else {
		CHECK(f == 7 && l == 7); /* untouched */
	}
	CHECK_EQ(fota_srv_range_parse(NULL, size, &f, &l), FOTA_SRV_RANGE_NONE);
}

/* ---- writers --------------------------------------------------------------------------- */

NO_COV static void check_json_ascii(const char *s, uint8_t a)
{
	static char out[8 * 4096 + 8], small[300];
	size_t cap = a == 255 ? sizeof(out) : a;
	int full = fota_srv_json_ascii(out, sizeof(out), s), r;
	json_error_t e;
	json_t *j;

	if (!ref_utf8_all(s)) {
		CHECK_EQ(full, FOTA_ERR_INVAL);
		CHECK_EQ(fota_srv_json_ascii(small, cap < sizeof(small) ? cap : sizeof(small), s) < 0, 1);
		return;
	}
	CHECK(full > 0);
	CHECK_EQ(strlen(out), full);
	CHECK(out[0] == '"' && out[full - 1] == '"');
	for (int i = 0; i < full; i++)
		CHECK(out[i] >= 0x20 && out[i] < 0x7F);
	j = json_loadb(out, (size_t)full, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	CHECK(j && json_is_string(j));
	CHECK_EQ(json_string_length(j), strlen(s));
	CHECK(!memcmp(json_string_value(j), s, strlen(s)));
	json_decref(j);
	if (cap > sizeof(small))
		cap = sizeof(small);
	r = fota_srv_json_ascii(small, cap, s);
	if ((size_t)full + 1 <= cap) {
		CHECK_EQ(r, full);
		CHECK(!strcmp(small, out));
	} else {
		CHECK_EQ(r, FOTA_ERR_NOMEM);
	}
}

/* Unescapes a log field: plain bytes and \xHH. Returns the bytes, or -1 if malformed. */
NO_COV static long unescape_log(const char *o, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)o[i];

		CHECK(c > 0x20 && c < 0x7F && c != '"');
		if (c != '\\') {
			out[k++] = (char)c;
			continue;
		}
		if (n - i < 4 || o[i + 1] != 'x' || hexv((unsigned char)o[i + 2]) < 0 ||
		    hexv((unsigned char)o[i + 3]) < 0)
			return -1;
		out[k++] = (char)(hexv((unsigned char)o[i + 2]) << 4 | hexv((unsigned char)o[i + 3]));
		i += 3;
	}
	return (long)k;
}

static bool log_plain(unsigned char c)
{
	return c > 0x20 && c < 0x7F && c != '"' && c != '\\';
}

/* out (written with cap) holds want (wn bytes) escaped, or a prefix of it and "...". */
NO_COV static void check_log_out(const char *out, size_t cap, const char *want, size_t wn)
{
	static char dec[4 * 4096 + 8];
	size_t on = strlen(out), esc = 0;
	long d;

	CHECK(on < cap);
	for (size_t i = 0; i < wn; i++)
		esc += log_plain((unsigned char)want[i]) ? 1 : 4;
	if (esc + 4 <= cap) {
		d = unescape_log(out, on, dec);
		CHECK_EQ(d, wn);
		CHECK(!memcmp(dec, want, wn));
	} else {
		CHECK(on >= 3 && !memcmp(out + on - 3, "...", 3));
		d = unescape_log(out, on - 3, dec);
		CHECK(d >= 0 && (size_t)d < wn);
		CHECK(!memcmp(dec, want, (size_t)d));
	}
}

NO_COV static void check_log(const char *t, size_t n, uint8_t a)
{
	static char out[4 * 4096 + 16];
	size_t cap = 5 + (size_t)a;

	CHECK(fota_srv_log_field(out, cap, t, n) == out);
	check_log_out(out, cap, t, n);
	CHECK(fota_srv_log_field(out, sizeof(out), t, n) == out);
	check_log_out(out, sizeof(out), t, n);
}

/* The redaction of log_target, from req.h: the value of every query parameter whose name
 * (percent-decoded, without case) is a credential's. */
NO_COV static size_t ref_redact(const char *u, size_t n, char *out)
{
	static const char *const secret[] = { "token", "access_token", "admin_token", "auth",
					      "authorization", "bearer", "password", "passwd",
					      "secret", "api_key", "apikey", "device_key" };
	const char *q = memchr(u, '?', n), *end = u + n;
	size_t o;

	q = q ? q + 1 : end;
	o = (size_t)(q - u);
	memcpy(out, u, o);
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *e = amp ? amp : end, *eq = memchr(q, '=', (size_t)(e - q));
		bool hide = false;

		if (eq) {
			char name[4096];
			long d = ref_pct(q, (size_t)(eq - q), name);

			for (size_t i = 0; d >= 0 && i < FOTA_ARRAY_SIZE(secret); i++)
				hide = hide || ((size_t)d == strlen(secret[i]) &&
						!strncasecmp(name, secret[i], (size_t)d));
		}
		if (hide) {
			memcpy(out + o, q, (size_t)(eq - q) + 1);
			o += (size_t)(eq - q) + 1;
			memcpy(out + o, "REDACTED", 8);
			o += 8;
		} else {
			memcpy(out + o, q, (size_t)(e - q));
			o += (size_t)(e - q);
		}
		if (!amp)
			break;
		out[o++] = '&';
		q = amp + 1;
	}
	return o;
}

NO_COV static void check_log_target(const char *t, size_t n, uint8_t a)
{
	static char out[4 * 8192 + 16], want[8192 * 2];
	size_t cap = 5 + (size_t)a * 3, wn;

	if (n > 4096)
		return;
	wn = ref_redact(t, n, want);
	CHECK(fota_srv_log_target(out, cap, t, n) == out);
	check_log_out(out, cap, want, wn);
	CHECK(fota_srv_log_target(out, sizeof(out), t, n) == out);
	check_log_out(out, sizeof(out), want, wn);
}

NO_COV static void check_listen(const char *s, uint8_t a)
{
	static char host[8200], host2[8200], again[8300];
	size_t cap = 1 + (size_t)a;
	uint16_t port = 1, port2 = 2;
	int err = fota_srv_parse_listen(s, host, cap, &port);

	if (err == FOTA_ERR_TOOLONG)
		CHECK(fota_srv_parse_listen(s, host, sizeof(host), &port) == FOTA_OK);
	if (err)
		return;
	CHECK(strlen(host) < cap);
	/* The form it came in: the brackets take any text but ']' (not only an IPv6 address:
	 * "[a b]:1" gives the host "a b", which getaddrinfo refuses later). */
	snprintf(again, sizeof(again), s[0] == '[' || strchr(host, ':') ? "[%s]:%u" : "%s:%u",
		 host, port);
	CHECK_EQ(fota_srv_parse_listen(again, host2, sizeof(host2), &port2), FOTA_OK);
	CHECK(!strcmp(host, host2));
	CHECK_EQ(port, port2);
}

NO_COV static void check_dates(const uint8_t *t, size_t n)
{
	static const char *const mon[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	uint64_t u = 0;
	int64_t v;
	char a[32], b[32], wd[4], mo[4];
	struct tm tm = { 0 };
	int y, m, d, hh, mm, ss;

	for (size_t i = 0; i < 8 && i < n; i++)
		u |= (uint64_t)t[i] << (8 * i);
	v = (int64_t)u;
	if (n > 8 && (t[8] & 1))
		v %= 253402300800; /* to 9999-12-31 */
	memset(a, 0x55, sizeof(a));
	memset(b, 0x55, sizeof(b));
	fota_srv_rfc3339(v, a);
	fota_srv_http_date(v, b);
	CHECK(memchr(a, '\0', sizeof(a)) && memchr(b, '\0', sizeof(b)));
	if (v < 0 || v >= 253402300800)
		return;
	CHECK_EQ(sscanf(a, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &m, &d, &hh, &mm, &ss), 6);
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	CHECK_EQ(timegm(&tm), v);
	CHECK_EQ(sscanf(b, "%3s, %2d %3s %4d %2d:%2d:%2d GMT", wd, &d, mo, &y, &hh, &mm, &ss), 7);
	CHECK(!strcmp(mo, mon[m - 1]) && d == tm.tm_mday && y - 1900 == tm.tm_year);
	CHECK_EQ(strlen(b), 29);
}

/* ---- proxy.h ----------------------------------------------------------------------------- */

static struct fota_srv_cidr trust[3];

NO_COV static bool trusted(const struct fota_srv_ip *ip)
{
	return fota_srv_cidr_match(trust, FOTA_ARRAY_SIZE(trust), ip);
}

/* The walk of proxy.h ("no entry": nothing but blanks and commas). */
NO_COV static int ref_forwarded(const char *x, struct fota_srv_ip *client)
{
	const char *ent[4200];
	size_t len[4200], k = 0;
	struct fota_srv_ip ip;

	if (strspn(x, " \t,") == strlen(x))
		return FOTA_ERR_NOENT;
	for (const char *p = x;; p++) {
		const char *c = strchr(p, ','), *e = c ? c : p + strlen(p);
		size_t n;

		p = ws(p);
		if (p > e)
			p = e;
		n = (size_t)(e - p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		CHECK(k < FOTA_ARRAY_SIZE(ent));
		ent[k] = p;
		len[k++] = n;
		if (!c)
			break;
		p = c;
	}
	for (size_t i = k; i-- > 0;) {
		if (fota_srv_ip_parse(ent[i], len[i], &ip))
			return FOTA_ERR_INVAL;
		if (!trusted(&ip) || i == 0) {
			*client = ip;
			return FOTA_OK;
		}
	}
	return FOTA_ERR_NOENT;
}

NO_COV static void check_proxy(const char *t, size_t n, const char *s, uint8_t a)
{
	struct fota_srv_ip ip, ip2, got, want;
	struct fota_srv_cidr c, v[8], before[8];
	char text[FOTA_SRV_IP_TEXT];
	size_t nv, nv0, bad = 99;
	int err, rerr;

	if (fota_srv_ip_parse(t, n, &ip) == FOTA_OK) {
		CHECK(ip.family == 4 || ip.family == 6);
		fota_srv_ip_text(&ip, text, sizeof(text));
		CHECK_EQ(fota_srv_ip_parse(text, strlen(text), &ip2), FOTA_OK);
		CHECK(ip2.family == ip.family && !memcmp(ip2.a, ip.a, 16));
	}
	if (fota_srv_cidr_parse(t, n, &c) == FOTA_OK) {
		unsigned max = c.ip.family == 4 ? 32 : 128;

		CHECK(c.ip.family == 4 || c.ip.family == 6);
		CHECK(c.bits <= max);
		for (unsigned bit = c.bits; bit < 128; bit++)
			CHECK(!(c.ip.a[bit / 8] & (0x80 >> (bit % 8))));
		CHECK(fota_srv_cidr_contains(&c, &c.ip));
	}
	memset(v, 0x5A, sizeof(v));
	nv0 = nv = (size_t)(a % 3) < 1 + (size_t)a % 8 ? (size_t)a % 3 : 1 + (size_t)a % 8;
	memcpy(before, v, sizeof(v));
	err = fota_srv_cidr_list_parse(s, v, 1 + a % 8, &nv, &bad);
	CHECK(!memcmp(before, v, nv0 * sizeof(v[0]))); /* the ranges there stay */
	if (err) {
		CHECK_EQ(nv, nv0);
		CHECK(err == FOTA_ERR_INVAL || err == FOTA_ERR_NOMEM);
		if (err == FOTA_ERR_INVAL)
			CHECK(bad <= strlen(s));
	} else {
		CHECK(nv >= nv0 && nv <= 1 + (size_t)a % 8);
	}
	memset(&got, 0x77, sizeof(got));
	err = fota_srv_forwarded_client(s, trust, FOTA_ARRAY_SIZE(trust), &got);
	rerr = ref_forwarded(s, &want);
	if (err != rerr)
		fprintf(stderr, "forwarded_client(\"%s\"): %d, reference %d\n", s, err, rerr);
	CHECK_EQ(err, rerr);
	if (!err)
		CHECK(got.family == want.family && !memcmp(got.a, want.a, 16));
	CHECK_EQ(fota_srv_forwarded_client(NULL, trust, 3, &got), FOTA_ERR_NOENT);
}

/* ---- the input ------------------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const t[3] = { "10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32" };

	(void)argc;
	(void)argv;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(fota_srv_cidr_parse(t[i], strlen(t[i]), &trust[i]), FOTA_OK);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char t[8192 + 1];
	const char *s;
	uint8_t a, b;
	size_t n, chars = 0;
	uint32_t cp, rcp;
	int err, want;

	if (size < 2 || size - 2 > sizeof(t) - 1)
		return 0;
	a = data[0];
	b = data[1];
	n = size - 2;
	memcpy(t, data + 2, n);
	t[n] = '\0';
	s = t; /* as a C string: up to the first NUL */

	for (size_t i = 0; i < n; i++) {
		size_t k = fota_srv_utf8_next((const unsigned char *)t + i, n - i, &cp);
		size_t rk = ref_utf8((const uint8_t *)t + i, n - i, &rcp);

		CHECK_EQ(k, rk);
		if (k)
			CHECK_EQ(cp, rcp);
	}
	err = fota_srv_text_check(t, n, a);
	want = n == 0 || !ref_clean(t, n, &chars) ? FOTA_ERR_INVAL :
	       chars > a ? FOTA_ERR_TOOLONG : FOTA_OK;
	CHECK_EQ(err, want);

	check_query(t, n);
	check_path(t, n);
	check_ids(s);
	check_headers(s);
	check_range(s, a, b);
	check_json_ascii(s, a);
	check_log(t, n, a);
	check_log_target(t, n, a);
	check_listen(s, a);
	check_dates(data + 2, n);
	check_proxy(t, n, s, a);
	return 0;
}
