/*
 * url.h - parses the http:// and https:// URLs the module is given (AT+UPGRADE="URL")
 * and the server address it checks with.
 */
#ifndef FOTA_URL_H
#define FOTA_URL_H

#include "fota/fota.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fota_url {
	bool https;       /* scheme https (else http) */
	const char *host; /* host name or address, without brackets for IPv6; not terminated */
	uint16_t host_len;
	uint16_t port;    /* the given port, or 80 / 443 */
	const char *path; /* "/..." or "?query" (send "/" first), "/" when none; no fragment */
	uint16_t path_len;
};

/* fota_url_parse: parses len bytes at s (owned by the caller; the result points into
 * them). Accepts http:// or https:// (any case), a host name (letters, digits, - . _ ~ %)
 * or a bracketed IPv6 address, an optional :port (1-65535), then a path of printable
 * ASCII without spaces. Refuses user:password@ parts and anything else. Returns FOTA_OK,
 * FOTA_ERR_INVAL for a malformed URL, FOTA_ERR_TOOLONG for one over FOTA_URL_MAX bytes. */
int fota_url_parse(const char *s, size_t len, struct fota_url *url);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_URL_H */
