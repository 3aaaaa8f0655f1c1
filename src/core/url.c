/* url.c - http(s) URL parser (see fota/url.h). */
#include <string.h>

#include "fota/url.h"

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
}

int fota_url_parse(const char *s, size_t len, struct fota_url *url)
{
	size_t i, h;
	uint32_t port = 0;

	if (len > FOTA_URL_MAX)
		return FOTA_ERR_TOOLONG;
	memset(url, 0, sizeof(*url));
	if (len >= 7 && fota_strcaseeq(s, 7, "http://")) {
		i = 7;
		url->port = 80;
	} else if (len >= 8 && fota_strcaseeq(s, 8, "https://")) {
		i = 8;
		url->https = true;
		url->port = 443;
	} else {
		return FOTA_ERR_INVAL;
	}

	if (i < len && s[i] == '[') {
		/* IPv6 literal: hex digits, ':' and '.', in brackets. */
		h = ++i;
		while (i < len && s[i] != ']') {
			char c = s[i];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
				return FOTA_ERR_INVAL;
			i++;
		}
		if (i == len || i == h)
			return FOTA_ERR_INVAL;
		url->host = s + h;
		url->host_len = (uint16_t)(i - h);
		i++;
	} else {
		h = i;
		while (i < len && is_host_char(s[i]))
			i++;
		if (i == h)
			return FOTA_ERR_INVAL;
		url->host = s + h;
		url->host_len = (uint16_t)(i - h);
	}

	if (i < len && s[i] == ':') {
		size_t p = ++i;

		while (i < len && s[i] >= '0' && s[i] <= '9' && port <= 65535)
			port = port * 10 + (uint32_t)(s[i++] - '0');
		if (i == p || port == 0 || port > 65535)
			return FOTA_ERR_INVAL;
		url->port = (uint16_t)port;
	}

	if (i < len && s[i] != '/' && s[i] != '?' && s[i] != '#')
		return FOTA_ERR_INVAL; /* '@' of user info, a space, or another stray byte */
	h = i;
	for (; i < len && s[i] != '#'; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return FOTA_ERR_INVAL;
	url->path = i > h ? s + h : "/";
	url->path_len = i > h ? (uint16_t)(i - h) : 1;
	for (; i < len; i++) /* the fragment is never sent, but must still be clean text */
		if (s[i] <= ' ' || s[i] > '~')
			return FOTA_ERR_INVAL;
	return FOTA_OK;
}
