/*
 * req.c - fota-server's request helpers (req.h): decoding and checking what a client sends,
 * formatting what the server writes. Pure functions: no I/O, no heap.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mbedtls/sha256.h>

#include "req.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t fota_srv_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t len, i;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		v = c & 0x1Fu;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		v = c & 0x0Fu;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		v = c & 0x07u;
		min = 0x10000;
	} else {
		return 0; /* a continuation byte, C0/C1 (overlong ASCII) or F5-FF */
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3Fu);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

/* Checks decoded text: valid UTF-8, no control character, no NUL. */
static bool clean_text(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;

	while (i < len) {
		k = fota_srv_utf8_next(u + i, len - i, &cp);
		if (!k || is_control(cp))
			return false;
		i += k;
	}
	return true;
}

int fota_srv_text_check(const char *s, size_t len, size_t max_chars)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k, chars = 0;
	uint32_t cp;

	if (!s || len == 0)
		return FOTA_ERR_INVAL;
	while (i < len) {
		k = fota_srv_utf8_next(u + i, len - i, &cp);
		if (!k || is_control(cp))
			return FOTA_ERR_INVAL;
		i += k;
		chars++;
	}
	return chars > max_chars ? FOTA_ERR_TOOLONG : FOTA_OK;
}

/* Percent-decodes len bytes at s into out (at least len bytes free); '+' stays '+'.
 * Returns the decoded length, or -1 for a bad escape. */
static long pct_decode(const char *s, size_t len, char *out)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= len)
			return -1;
		hi = hexval((unsigned char)s[i + 1]);
		lo = hexval((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (long)o;
}

int fota_srv_query_parse(struct fota_srv_query *out, const char *q, size_t len)
{
	size_t pos = 0, used = 0;

	out->n = 0;
	if (len > FOTA_SRV_QUERY_MAX)
		return FOTA_ERR_TOOLONG;
	while (pos < len) {
		const char *pair = q + pos, *amp = memchr(pair, '&', len - pos), *eq;
		size_t plen = amp ? (size_t)(amp - pair) : len - pos, nlen, vlen;
		long dn, dv;
		char *name, *value;

		pos += plen + 1;
		if (plen == 0)
			continue;
		if (out->n == FOTA_SRV_PARAMS_MAX)
			return FOTA_ERR_NOMEM;
		eq = memchr(pair, '=', plen);
		nlen = eq ? (size_t)(eq - pair) : plen;
		vlen = eq ? plen - nlen - 1 : 0;
		/* Decoded text is never longer than the raw; each pair costs its own bytes plus
		 * at most two NULs, where its '=' and '&' were: it fits buf. */
		name = out->buf + used;
		dn = pct_decode(pair, nlen, name);
		if (dn < 0)
			return FOTA_ERR_BADMSG;
		name[dn] = '\0';
		value = name + dn + 1;
		dv = eq ? pct_decode(eq + 1, vlen, value) : 0;
		if (dv < 0)
			return FOTA_ERR_BADMSG;
		value[dv] = '\0';
		if (!clean_text(name, (size_t)dn) || !clean_text(value, (size_t)dv))
			return FOTA_ERR_INVAL;
		used += (size_t)dn + (size_t)dv + 2;
		out->p[out->n].name = name;
		out->p[out->n].value = value;
		out->n++;
	}
	return FOTA_OK;
}

const char *fota_srv_query_get(const struct fota_srv_query *q, const char *name)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->p[i].name, name))
			return q->p[i].value;
	return NULL;
}

int fota_srv_path_split(struct fota_srv_path *out, const char *p, size_t len)
{
	size_t pos = 1, used = 0;

	out->n = 0;
	if (len > FOTA_SRV_PATH_MAX)
		return FOTA_ERR_TOOLONG;
	if (len == 0 || p[0] != '/')
		return FOTA_ERR_BADMSG;
	while (pos < len) {
		const char *s = p + pos, *slash = memchr(s, '/', len - pos);
		size_t slen = slash ? (size_t)(slash - s) : len - pos;
		char *seg = out->buf + used;
		long d;

		pos += slen + 1;
		if (slen == 0 && pos >= len)
			break; /* the trailing '/' */
		if (out->n == FOTA_SRV_SEGMENTS_MAX)
			return FOTA_ERR_NOMEM;
		d = pct_decode(s, slen, seg);
		if (d < 0)
			return FOTA_ERR_BADMSG;
		seg[d] = '\0';
		if (memchr(seg, '/', (size_t)d) || !clean_text(seg, (size_t)d) ||
		    !strcmp(seg, ".") || !strcmp(seg, ".."))
			return FOTA_ERR_INVAL;
		out->seg[out->n++] = seg;
		used += (size_t)d + 1;
	}
	return FOTA_OK;
}

bool fota_srv_id_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz:_-");
	return n >= 1 && n <= FOTA_SRV_ID_MAX && s[n] == '\0';
}

bool fota_srv_key_valid(const char *s)
{
	return s && strlen(s) == FOTA_SRV_KEY_LEN && strspn(s, "0123456789abcdef") == FOTA_SRV_KEY_LEN;
}

int fota_srv_parse_id(const char *s, int64_t *id)
{
	uint64_t v = 0;
	size_t i;

	if (!s || s[0] < '1' || s[0] > '9')
		return FOTA_ERR_INVAL;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 19)
			return FOTA_ERR_INVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return FOTA_ERR_INVAL;
	*id = (int64_t)v;
	return FOTA_OK;
}

bool fota_srv_name_safe(const char *s)
{
	return !strchr(s, '/') && !strchr(s, '\\') && !strstr(s, "..");
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Reads a run of digits (at least one) as a number that saturates at UINT64_MAX. */
static const char *read_u64(const char *s, uint64_t *v)
{
	const char *start = s;

	*v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		*v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
	}
	return s == start ? NULL : s;
}

int fota_srv_range_parse(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	uint64_t a, b;
	bool suffix;

	if (!h || size == 0)
		return FOTA_SRV_RANGE_NONE;
	h = skip_ws(h);
	if (strlen(h) < 5 || !fota_strcaseeq(h, 5, "bytes"))
		return FOTA_SRV_RANGE_NONE;
	h = skip_ws(h + 5);
	if (*h++ != '=')
		return FOTA_SRV_RANGE_NONE;
	h = skip_ws(h);
	suffix = *h == '-';
	if (suffix) {
		h = read_u64(h + 1, &b);
		if (!h || *skip_ws(h))
			return FOTA_SRV_RANGE_NONE; /* malformed, or several ranges */
		if (b == 0)
			return FOTA_SRV_RANGE_UNSAT;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return FOTA_SRV_RANGE_PART;
	}
	h = read_u64(h, &a);
	if (!h || *h++ != '-')
		return FOTA_SRV_RANGE_NONE;
	b = UINT64_MAX;
	if (*h >= '0' && *h <= '9') {
		h = read_u64(h, &b);
		if (b < a)
			return FOTA_SRV_RANGE_NONE;
	}
	if (*skip_ws(h))
		return FOTA_SRV_RANGE_NONE;
	if (a >= size)
		return FOTA_SRV_RANGE_UNSAT;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return FOTA_SRV_RANGE_PART;
}

bool fota_srv_if_range_match(const char *h, const char *etag, const char *last_modified)
{
	if (!h)
		return true;
	h = skip_ws(h);
	if (h[0] == '"' || (h[0] == 'W' && h[1] == '/'))
		return !strcmp(h, etag);
	return !strcmp(h, last_modified);
}

const char *fota_srv_bearer(const char *h, size_t *len)
{
	size_t n;

	if (!h)
		return NULL;
	h = skip_ws(h);
	if (strlen(h) < 7 || !fota_strcaseeq(h, 6, "bearer") || (h[6] != ' ' && h[6] != '\t'))
		return NULL;
	h = skip_ws(h + 7);
	n = strlen(h);
	while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (!n)
		return NULL;
	*len = n;
	return h;
}

bool fota_srv_token_equal(const char *given, size_t len, const uint8_t want[32])
{
	uint8_t got[32];
	unsigned diff = 0;

	if (mbedtls_sha256_ret((const unsigned char *)given, len, got, 0) != 0)
		return false;
	for (size_t i = 0; i < sizeof(got); i++)
		diff |= (unsigned)(got[i] ^ want[i]);
	return diff == 0;
}

bool fota_srv_media_json(const char *h)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;

	if (!h)
		return false;
	h = skip_ws(h);
	if (strlen(h) < n || !fota_strcaseeq(h, n, json))
		return false;
	h = skip_ws(h + n);
	return *h == '\0' || *h == ';';
}

int fota_srv_json_ascii(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0;
	char esc[13];

	while (i <= n) {
		size_t k = 0, e = 0;
		uint32_t cp = 0;

		if (i == n) {
			esc[e++] = '"';
		} else {
			k = fota_srv_utf8_next(u + i, n - i, &cp);
			if (!k)
				return FOTA_ERR_INVAL;
			if (cp == '"' || cp == '\\') {
				esc[e++] = '\\';
				esc[e++] = (char)cp;
			} else if (cp >= 0x20 && cp < 0x7F) {
				esc[e++] = (char)cp;
			} else {
				uint32_t units[2] = { cp, 0 };
				int nu = 1;

				if (cp > 0xFFFF) {
					cp -= 0x10000;
					units[0] = 0xD800 | (cp >> 10);
					units[1] = 0xDC00 | (cp & 0x3FF);
					nu = 2;
				}
				for (int j = 0; j < nu; j++) {
					esc[e++] = '\\';
					esc[e++] = 'u';
					for (int sh = 12; sh >= 0; sh -= 4)
						esc[e++] = hex[(units[j] >> sh) & 0xF];
				}
			}
		}
		if (o == 0) {
			if (cap < 2)
				return FOTA_ERR_NOMEM;
			out[o++] = '"';
		}
		if (o + e + 1 > cap)
			return FOTA_ERR_NOMEM;
		memcpy(out + o, esc, e);
		o += e;
		i += k ? k : 1;
	}
	out[o] = '\0';
	return (int)o;
}

void fota_srv_rfc3339(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

void fota_srv_http_date(int64_t t, char out[32])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		snprintf(out, 32, "Thu, 01 Jan 1970 00:00:00 GMT");
		return;
	}
	/* Not strftime: %a and %b follow the locale, the HTTP date does not. */
	snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* A log field being written: bytes escaped as fota_srv_log_field says, cut with "..."
 * when they do not fit. */
struct sink {
	char *out;
	size_t cap, o;
	bool cut;
};

static void put(struct sink *k, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len && !k->cut; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = c > 0x20 && c < 0x7F && c != '"' && c != '\\';
		size_t need = plain ? 1 : 4;

		if (k->o + need + 4 > k->cap) {
			k->cut = true;
			break;
		}
		if (plain) {
			k->out[k->o++] = (char)c;
		} else {
			k->out[k->o++] = '\\';
			k->out[k->o++] = 'x';
			k->out[k->o++] = hex[c >> 4];
			k->out[k->o++] = hex[c & 15];
		}
	}
}

static char *finish(struct sink *k)
{
	if (k->cut) {
		memcpy(k->out + k->o, "...", 3);
		k->o += 3;
	}
	k->out[k->o] = '\0';
	return k->out;
}

char *fota_srv_log_field(char *out, size_t cap, const char *s, size_t len)
{
	struct sink k = { out, cap, 0, false };

	put(&k, s, len);
	return finish(&k);
}

/* Whether the raw query parameter name (len bytes, percent escapes allowed) names a
 * credential. */
static bool secret_name(const char *s, size_t len)
{
	static const char *const names[] = {
		"token", "access_token", "admin_token", "auth", "authorization", "bearer",
		"password", "passwd", "secret", "api_key", "apikey",
		"device_key", /* the vendor's older clients: a per-device secret */
	};
	char name[24];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = hexval(s[i + 1]) << 4 | hexval(s[i + 2]);
			i += 2;
		}
		if (n + 1 >= sizeof(name))
			return false;
		name[n++] = (char)c;
	}
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(names); i++)
		if (fota_strcaseeq(name, n, names[i]))
			return true;
	return false;
}

char *fota_srv_log_target(char *out, size_t cap, const char *uri, size_t len)
{
	struct sink k = { out, cap, 0, false };
	const char *q = memchr(uri, '?', len), *end = uri + len;

	if (!q)
		q = end;
	else
		q++;
	put(&k, uri, (size_t)(q - uri));
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q)), *eq;
		const char *e = amp ? amp : end;

		eq = memchr(q, '=', (size_t)(e - q));
		if (eq && secret_name(q, (size_t)(eq - q))) {
			put(&k, q, (size_t)(eq - q) + 1);
			put(&k, "REDACTED", 8);
		} else {
			put(&k, q, (size_t)(e - q));
		}
		if (!amp)
			break;
		put(&k, "&", 1);
		q = amp + 1;
	}
	return finish(&k);
}

int fota_srv_parse_listen(const char *s, char *host, size_t cap, uint16_t *port)
{
	const char *p = s, *colon;
	size_t hlen = 0;
	unsigned long v = 0;
	const char *h = "127.0.0.1";

	if (!s || !*s)
		return FOTA_ERR_INVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':' || close == s + 1)
			return FOTA_ERR_INVAL;
		h = s + 1;
		hlen = (size_t)(close - h);
		p = close + 2;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		if (memchr(s, ':', (size_t)(colon - s)) || colon == s)
			return FOTA_ERR_INVAL; /* an IPv6 address needs its brackets */
		h = s;
		hlen = (size_t)(colon - s);
		p = colon + 1;
	} else {
		hlen = strlen(h);
	}
	if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5)
		return FOTA_ERR_INVAL;
	for (; *p; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	if (v > 65535)
		return FOTA_ERR_INVAL;
	if (hlen + 1 > cap)
		return FOTA_ERR_TOOLONG;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)v;
	return FOTA_OK;
}
