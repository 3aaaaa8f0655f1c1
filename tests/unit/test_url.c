/* Unit tests of the URL parser used for AT+UPGRADE="URL" and the server address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fota/url.h"

struct good {
	const char *in, *host, *path;
	uint16_t port;
	bool https;
};

static void good_urls_give_host_port_and_path(void **state)
{
	static const struct good cases[] = {
		{ "http://host/fw.bin", "host", "/fw.bin", 80, false },
		{ "HTTPS://Host.example.com", "Host.example.com", "/", 443, true },
		{ "http://10.0.0.1:8080/a/b.bin?x=1&y=2#frag", "10.0.0.1", "/a/b.bin?x=1&y=2", 8080, false },
		{ "http://[::1]:81/", "::1", "/", 81, false },
		{ "https://h:65535", "h", "/", 65535, true },
		{ "http://h?q=1", "h", "?q=1", 80, false },
		{ "http://my_host-1.x~y%41/", "my_host-1.x~y%41", "/", 80, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fota_url u;
		const struct good *c = &cases[i];

		assert_int_equal(fota_url_parse(c->in, strlen(c->in), &u), FOTA_OK);
		assert_int_equal(u.host_len, strlen(c->host));
		assert_memory_equal(u.host, c->host, u.host_len);
		assert_int_equal(u.path_len, strlen(c->path));
		assert_memory_equal(u.path, c->path, u.path_len);
		assert_int_equal(u.port, c->port);
		assert_int_equal(u.https, c->https);
	}
}

static void malformed_urls_are_refused(void **state)
{
	static const char *const bad[] = {
		"", "http:/", "http://", "ftp://h/", "h/fw.bin", "http//h/", "http://:80/",
		"http://h:/", "http://h:0/", "http://h:65536/", "http://h:99999999999/",
		"http://user:pw@h/", "http://h /x", "http://h/a b", "http://h/\x7f", "http://h/\xc3\xa4",
		"http://[::1/", "http://[]/", "http://[zz]/", "http://h\x01/", "http://h/#\x01",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fota_url u;

		if (fota_url_parse(bad[i], strlen(bad[i]), &u) != FOTA_ERR_INVAL)
			fail_msg("accepted <%s>", bad[i]);
	}
}

static void url_longer_than_255_bytes_is_too_long(void **state)
{
	char buf[300];
	struct fota_url u;

	(void)state;
	memcpy(buf, "http://h/", 9);
	memset(buf + 9, 'x', sizeof(buf) - 9);
	assert_int_equal(fota_url_parse(buf, 255, &u), FOTA_OK);
	assert_int_equal(fota_url_parse(buf, 256, &u), FOTA_ERR_TOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_urls_give_host_port_and_path),
		cmocka_unit_test(malformed_urls_are_refused),
		cmocka_unit_test(url_longer_than_255_bytes_is_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
