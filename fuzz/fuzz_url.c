/*
 * fuzz_url.c - fota_url_parse on any bytes (the whole input is the URL).
 *
 * When it accepts: host and path point inside the input (or path is the literal "/"),
 * their lengths stay inside it, the host is not empty and holds only host bytes, the
 * port is 1..65535 and the scheme's default when none is given, the path is printable
 * without spaces; parsing the same bytes at another address gives the same result at the
 * same offsets; AT+UPGRADE's check of a URL agrees; and the HTTP request written for it
 * has exactly its six CR LF (nothing in the URL can add a header line).
 * When it refuses: FOTA_ERR_INVAL, or FOTA_ERR_TOOLONG exactly when over FOTA_URL_MAX.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fota/http.h"
#include "fota/settings.h"
#include "fota/url.h"
#include "fuzz_util.h"

static bool inside(const char *p, size_t n, const char *s, size_t len)
{
	return p >= s && p <= s + len && n <= (size_t)(s + len - p);
}

static bool host_byte(char c, bool v6)
{
	if (v6)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		       c == ':' || c == '.';
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct fota_url u, u2;
	struct fota_setting_value v = { 0 };
	char *copy;
	int err, err2;

	memset(&u, 0xA5, sizeof(u));
	err = fota_url_parse(s, size, &u);
	if (size > FOTA_URL_MAX) {
		CHECK_EQ(err, FOTA_ERR_TOOLONG);
		return 0;
	}
	CHECK(err == FOTA_OK || err == FOTA_ERR_INVAL);

	/* Same bytes elsewhere: same result, same offsets. */
	copy = malloc(size ? size : 1);
	CHECK(copy != NULL);
	memcpy(copy, s, size);
	err2 = fota_url_parse(copy, size, &u2);
	CHECK_EQ(err, err2);

	v.str = s;
	v.len = size;
	CHECK_EQ(fota_settings_check(FOTA_TAG_URL, &v), size == 0 ? FOTA_OK : err);

	if (err == FOTA_OK) {
		bool v6;
		size_t i;

		CHECK(size >= 8);
		CHECK_EQ(u.https, fota_strcaseeq(s, 8, "https://"));
		CHECK(u.host != NULL && u.host_len > 0);
		CHECK(inside(u.host, u.host_len, s, size));
		v6 = u.host > s && u.host[-1] == '[';
		for (i = 0; i < u.host_len; i++)
			CHECK(host_byte(u.host[i], v6));
		if (v6)
			CHECK(inside(u.host, u.host_len + 1u, s, size) && u.host[u.host_len] == ']');
		CHECK(u.port != 0);
		CHECK(u.path != NULL && u.path_len > 0);
		if (inside(u.path, u.path_len, s, size)) {
			CHECK(u.path[0] == '/' || u.path[0] == '?');
			CHECK(u.path >= u.host + u.host_len);
		} else {
			CHECK(u.path_len == 1 && u.path[0] == '/'); /* none given: "/" */
		}
		for (i = 0; i < u.path_len; i++)
			CHECK(u.path[i] > ' ' && u.path[i] <= '~' && u.path[i] != '#');

		CHECK_EQ(u2.https, u.https);
		CHECK_EQ(u2.port, u.port);
		CHECK_EQ(u2.host - copy, u.host - s);
		CHECK_EQ(u2.host_len, u.host_len);
		CHECK_EQ(u2.path_len, u.path_len);
		CHECK(!memcmp(u2.path, u.path, u.path_len));

		/* The request for it: request line, Host, User-Agent, Connection, end. */
		{
			static char buf[1024];
			struct fota_http_req req = { .method = "GET", .url = &u, .query = "a=1" };
			size_t len = 0, crlf = 0;

			err = fota_http_write_request(&req, buf, sizeof(buf), &len);
			CHECK_EQ(err, FOTA_OK);
			CHECK(len <= sizeof(buf));
			for (i = 0; i + 1 < len; i++)
				if (buf[i] == '\r' && buf[i + 1] == '\n')
					crlf++;
			CHECK_EQ(crlf, 5);
			CHECK(len >= 4 && !memcmp(buf + len - 4, "\r\n\r\n", 4));
			CHECK(!memchr(buf, '\0', len));
		}
	}
	free(copy);
	return 0;
}
