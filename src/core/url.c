/* url.c - http(s) URL parser (see fota/url.h). */
#include <string.h>

#include "fota/url.h"

/* A byte of a host name (letters, digits, - . _ ~ %) or, in brackets, of an IPv6
 * address (hex digits, ':' and '.'). */
FOTA_NOINLINE static bool is_host_char(char c, bool v6)
{
	if (v6)
		return (uint8_t)(c - '0') < 10 || (uint8_t)((c | 0x20) - 'a') < 6 || c == ':' ||
		       c == '.';
	return fota_is_unreserved(c) || c == '%';
}

int fota_url_parse(const char *s, size_t len, struct fota_url *url)
{
	const char *p, *h, *end = s + len;
	uint32_t port;
	bool v6;

	if (len > FOTA_URL_MAX)
		return FOTA_ERR_TOOLONG;
	memset(url, 0, sizeof(*url));
	url->https = len >= 8 && fota_strcaseeq(s, 8, "https://");
	if (!url->https && !(len >= 7 && fota_strcaseeq(s, 7, "http://")))
		return FOTA_ERR_INVAL;
	url->port = url->https ? 443 : 80;
	p = s + 7 + url->https;

	/* The host: a name, or an IPv6 address in brackets (kept without them). */
	v6 = p < end && *p == '[';
	h = p += v6;
	while (p < end && is_host_char(*p, v6))
		p++;
	url->host = h;
	url->host_len = (uint16_t)(p - h);
	if (p == h || (v6 && (p == end || *p++ != ']')))
		return FOTA_ERR_INVAL;

	if (p < end && *p == ':') {
		p++;
		if (fota_scan_u32(&p, end, 10, &port) || port == 0 || port > 65535)
			return FOTA_ERR_INVAL;
		url->port = (uint16_t)port;
	}

	if (p < end && *p != '/' && *p != '?' && *p != '#')
		return FOTA_ERR_INVAL; /* '@' of user info, a space, or another stray byte */
	/* The path and query, then the fragment (never sent, but still clean text). */
	for (h = p; p < end; p++)
		if (*p <= ' ' || *p > '~')
			return FOTA_ERR_INVAL;
	p = memchr(h, '#', (size_t)(end - h));
	if (!p)
		p = end;
	url->path = p > h ? h : "/";
	url->path_len = p > h ? (uint16_t)(p - h) : 1;
	return FOTA_OK;
}
