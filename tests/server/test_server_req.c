/* Unit tests of fota-server's request helpers (src/server/req.c): query strings in any
 * order, path segments and their tricks, ids, Range and If-Range, the bearer token, the
 * vendor's ASCII-only JSON, dates, log fields and --listen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <mbedtls/sha256.h>

#include "req.h"

static int parse(struct fota_srv_query *q, const char *s)
{
	return fota_srv_query_parse(q, s, strlen(s));
}

static void query_parameters_are_found_in_any_order(void **state)
{
	static const char *const orders[] = {
		"project_key=k&imei=864000000000008&firmware_name=F&version=V",
		"version=V&firmware_name=F&imei=864000000000008&project_key=k",
		"imei=864000000000008&version=V&project_key=k&firmware_name=F&dfota=1&need_oss_url=0",
	};
	struct fota_srv_query q;

	(void)state;
	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		assert_int_equal(parse(&q, orders[i]), FOTA_OK);
		assert_string_equal(fota_srv_query_get(&q, "project_key"), "k");
		assert_string_equal(fota_srv_query_get(&q, "imei"), "864000000000008");
		assert_string_equal(fota_srv_query_get(&q, "firmware_name"), "F");
		assert_string_equal(fota_srv_query_get(&q, "version"), "V");
		assert_null(fota_srv_query_get(&q, "mac"));
	}
}

static void query_decoding_rules(void **state)
{
	struct fota_srv_query q;

	(void)state;
	assert_int_equal(parse(&q, "a=1&a=2&&b&c=&=x&d=%41%7e+%2B&e=%E4%B8%AD"), FOTA_OK);
	assert_string_equal(fota_srv_query_get(&q, "a"), "1"); /* the first one counts */
	assert_string_equal(fota_srv_query_get(&q, "b"), "");
	assert_string_equal(fota_srv_query_get(&q, "c"), "");
	assert_string_equal(fota_srv_query_get(&q, ""), "x");
	assert_string_equal(fota_srv_query_get(&q, "d"), "A~++"); /* '+' stays a '+' */
	assert_string_equal(fota_srv_query_get(&q, "e"), "\xE4\xB8\xAD");
	assert_int_equal(parse(&q, ""), FOTA_OK);
	assert_int_equal(q.n, 0);
	assert_int_equal(parse(&q, "v=a=b"), FOTA_OK);
	assert_string_equal(fota_srv_query_get(&q, "v"), "a=b");
}

static void query_refuses_bad_bytes(void **state)
{
	static const struct {
		const char *q;
		int err;
	} bad[] = {
		{ "a=%", FOTA_ERR_BADMSG },
		{ "a=%4", FOTA_ERR_BADMSG },
		{ "a=%zz", FOTA_ERR_BADMSG },
		{ "%g0=1", FOTA_ERR_BADMSG },
		{ "a=%00", FOTA_ERR_INVAL },         /* NUL */
		{ "a=%0A", FOTA_ERR_INVAL },         /* a newline: log injection */
		{ "a=x%0D%0AX-Evil:1", FOTA_ERR_INVAL },
		{ "a=%7F", FOTA_ERR_INVAL },         /* DEL */
		{ "a=%C2%85", FOTA_ERR_INVAL },      /* C1 control NEL */
		{ "a=%C3%28", FOTA_ERR_INVAL },      /* invalid UTF-8 */
		{ "a=%C0%AF", FOTA_ERR_INVAL },      /* overlong '/' */
		{ "a=%ED%A0%80", FOTA_ERR_INVAL },   /* a surrogate */
		{ "a=%F4%90%80%80", FOTA_ERR_INVAL },/* above U+10FFFF */
		{ "a=%E4%B8", FOTA_ERR_INVAL },      /* cut short */
		{ "a=\xff", FOTA_ERR_INVAL },        /* a raw 8-bit byte */
		{ "a\x01=1", FOTA_ERR_INVAL },
	};
	struct fota_srv_query q;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(&q, bad[i].q) != bad[i].err)
			fail_msg("query '%s' should give %d", bad[i].q, bad[i].err);
}

static void query_limits(void **state)
{
	char s[FOTA_SRV_QUERY_MAX + 2];
	struct fota_srv_query q;
	size_t n = 0;

	(void)state;
	memset(s, 'a', sizeof(s));
	s[0] = 'x';
	s[1] = '=';
	assert_int_equal(fota_srv_query_parse(&q, s, FOTA_SRV_QUERY_MAX), FOTA_OK);
	assert_int_equal(strlen(fota_srv_query_get(&q, "x")), FOTA_SRV_QUERY_MAX - 2);
	assert_int_equal(fota_srv_query_parse(&q, s, FOTA_SRV_QUERY_MAX + 1), FOTA_ERR_TOOLONG);
	/* The most pairs that fit: each "a=" with '&', into the buffer with their NULs. */
	for (int i = 0; i < FOTA_SRV_PARAMS_MAX; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%sp%d=", i ? "&" : "", i);
	assert_int_equal(fota_srv_query_parse(&q, s, n), FOTA_OK);
	assert_int_equal(q.n, FOTA_SRV_PARAMS_MAX);
	n += (size_t)snprintf(s + n, sizeof(s) - n, "&one=more");
	assert_int_equal(fota_srv_query_parse(&q, s, n), FOTA_ERR_NOMEM);
	/* Short pairs only: 1024 of them in 2 KiB, refused (too many), never overflowing. */
	for (n = 0; n + 2 <= FOTA_SRV_QUERY_MAX; n += 2)
		memcpy(s + n, "a&", 2);
	assert_int_equal(fota_srv_query_parse(&q, s, n), FOTA_ERR_NOMEM);
}

static int split(struct fota_srv_path *p, const char *s)
{
	return fota_srv_path_split(p, s, strlen(s));
}

static void path_segments_are_decoded(void **state)
{
	struct fota_srv_path p;

	(void)state;
	assert_int_equal(split(&p, "/api/v1/projects/"), FOTA_OK);
	assert_int_equal(p.n, 3);
	assert_string_equal(p.seg[2], "projects");
	assert_int_equal(split(&p, "/"), FOTA_OK);
	assert_int_equal(p.n, 0);
	assert_int_equal(split(&p, "/a%20b/%E4%B8%AD//c"), FOTA_OK);
	assert_int_equal(p.n, 4);
	assert_string_equal(p.seg[0], "a b");
	assert_string_equal(p.seg[1], "\xE4\xB8\xAD");
	assert_string_equal(p.seg[2], "");
	assert_string_equal(p.seg[3], "c");
}

static void path_tricks_are_refused(void **state)
{
	static const struct {
		const char *p;
		int err;
	} bad[] = {
		{ "/api/../etc", FOTA_ERR_INVAL },
		{ "/api/./x", FOTA_ERR_INVAL },
		{ "/api/%2e%2e/x", FOTA_ERR_INVAL },
		{ "/api/a%2Fb", FOTA_ERR_INVAL },
		{ "/api/a%00b", FOTA_ERR_INVAL },
		{ "/api/a%0d%0a", FOTA_ERR_INVAL },
		{ "/api/%ff", FOTA_ERR_INVAL },
		{ "/api/%", FOTA_ERR_BADMSG },
		{ "api/v1", FOTA_ERR_BADMSG },
		{ "", FOTA_ERR_BADMSG },
		{ "/1/2/3/4/5/6/7/8/9/10/11/12/13", FOTA_ERR_NOMEM },
	};
	struct fota_srv_path p;
	char longp[FOTA_SRV_PATH_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (split(&p, bad[i].p) != bad[i].err)
			fail_msg("path '%s' should give %d", bad[i].p, bad[i].err);
	memset(longp, 'a', sizeof(longp));
	longp[0] = '/';
	assert_int_equal(fota_srv_path_split(&p, longp, FOTA_SRV_PATH_MAX + 1), FOTA_ERR_TOOLONG);
	assert_int_equal(fota_srv_path_split(&p, longp, FOTA_SRV_PATH_MAX), FOTA_OK);
}

static void device_ids_keys_and_row_ids(void **state)
{
	char id64[65], id65[66];
	int64_t v = 0;

	(void)state;
	memset(id64, '7', 64);
	id64[64] = '\0';
	memset(id65, '7', 65);
	id65[65] = '\0';
	assert_true(fota_srv_id_valid("864000000000008"));
	assert_true(fota_srv_id_valid("AA:BB:cc:00:11:22"));
	assert_true(fota_srv_id_valid("uid_1-x"));
	assert_true(fota_srv_id_valid(id64));
	assert_false(fota_srv_id_valid(id65));
	assert_false(fota_srv_id_valid(""));
	assert_false(fota_srv_id_valid(NULL));
	assert_false(fota_srv_id_valid("../etc/passwd"));
	assert_false(fota_srv_id_valid("a/b"));
	assert_false(fota_srv_id_valid("a b"));
	assert_false(fota_srv_id_valid("86400'--"));
	assert_false(fota_srv_id_valid("\xE4\xB8\xAD"));

	assert_true(fota_srv_key_valid("0123456789abcdef0123456789abcdef"));
	assert_false(fota_srv_key_valid("0123456789ABCDEF0123456789abcdef"));
	assert_false(fota_srv_key_valid("0123456789abcdef0123456789abcde"));
	assert_false(fota_srv_key_valid("0123456789abcdef0123456789abcdef0"));
	assert_false(fota_srv_key_valid("' OR '1'='1"));

	assert_int_equal(fota_srv_parse_id("42", &v), FOTA_OK);
	assert_int_equal(v, 42);
	assert_int_equal(fota_srv_parse_id("9223372036854775807", &v), FOTA_OK);
	assert_int_equal(v, INT64_MAX);
	assert_int_equal(fota_srv_parse_id("9223372036854775808", &v), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_id("0", &v), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_id("007", &v), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_id("-1", &v), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_id("1 ", &v), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_id("1e3", &v), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_id("", &v), FOTA_ERR_INVAL);
}

static void text_and_names(void **state)
{
	char s129[130];

	(void)state;
	memset(s129, 'n', sizeof(s129));
	s129[129] = '\0';
	assert_int_equal(fota_srv_text_check("demo", 4, 128), FOTA_OK);
	assert_int_equal(fota_srv_text_check("\xE8\xBD\xA6\xE9\x98\x9F", 6, 2), FOTA_OK); /* 2 chars */
	assert_int_equal(fota_srv_text_check("\xE8\xBD\xA6\xE9\x98\x9F", 6, 1), FOTA_ERR_TOOLONG);
	assert_int_equal(fota_srv_text_check(s129, 128, 128), FOTA_OK);
	assert_int_equal(fota_srv_text_check(s129, 129, 128), FOTA_ERR_TOOLONG);
	assert_int_equal(fota_srv_text_check("", 0, 128), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_text_check("a\tb", 3, 128), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_text_check("a\0b", 3, 128), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_text_check("\xC3", 1, 128), FOTA_ERR_INVAL);
	assert_true(fota_srv_name_safe("AirM2M_780E_LTE_AT"));
	assert_true(fota_srv_name_safe("v1.2.3"));
	assert_false(fota_srv_name_safe("../x"));
	assert_false(fota_srv_name_safe("a/b"));
	assert_false(fota_srv_name_safe("a\\b"));
	assert_false(fota_srv_name_safe("1..2"));
}

static void range_headers(void **state)
{
	static const struct {
		const char *h;
		uint64_t size;
		int kind;
		uint64_t first, last;
	} rows[] = {
		{ NULL, 100, FOTA_SRV_RANGE_NONE, 0, 0 },
		{ "bytes=0-", 100, FOTA_SRV_RANGE_PART, 0, 99 },
		{ "bytes=10-", 100, FOTA_SRV_RANGE_PART, 10, 99 },
		{ "bytes=10-19", 100, FOTA_SRV_RANGE_PART, 10, 19 },
		{ "bytes=10-1000", 100, FOTA_SRV_RANGE_PART, 10, 99 },
		{ "bytes=99-99", 100, FOTA_SRV_RANGE_PART, 99, 99 },
		{ "bytes=-10", 100, FOTA_SRV_RANGE_PART, 90, 99 },
		{ "bytes=-1000", 100, FOTA_SRV_RANGE_PART, 0, 99 },
		{ "Bytes = 5-6 ", 100, FOTA_SRV_RANGE_PART, 5, 6 },
		{ "bytes=100-", 100, FOTA_SRV_RANGE_UNSAT, 0, 0 },
		{ "bytes=100-200", 100, FOTA_SRV_RANGE_UNSAT, 0, 0 },
		{ "bytes=99999999999999999999999-", 100, FOTA_SRV_RANGE_UNSAT, 0, 0 },
		{ "bytes=-0", 100, FOTA_SRV_RANGE_UNSAT, 0, 0 },
		{ "bytes=20-10", 100, FOTA_SRV_RANGE_NONE, 0, 0 },
		{ "bytes=0-1,5-6", 100, FOTA_SRV_RANGE_NONE, 0, 0 },
		{ "bytes=a-", 100, FOTA_SRV_RANGE_NONE, 0, 0 },
		{ "bytes=-", 100, FOTA_SRV_RANGE_NONE, 0, 0 },
		{ "bytes=5", 100, FOTA_SRV_RANGE_NONE, 0, 0 },
		{ "items=0-1", 100, FOTA_SRV_RANGE_NONE, 0, 0 },
		{ "bytes", 100, FOTA_SRV_RANGE_NONE, 0, 0 },
		{ "", 100, FOTA_SRV_RANGE_NONE, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t first = 0, last = 0;
		int kind = fota_srv_range_parse(rows[i].h, rows[i].size, &first, &last);

		if (kind != rows[i].kind)
			fail_msg("row %zu '%s': kind %d, not %d", i, rows[i].h, kind, rows[i].kind);
		if (kind == FOTA_SRV_RANGE_PART && (first != rows[i].first || last != rows[i].last))
			fail_msg("row %zu '%s': %llu-%llu", i, rows[i].h, (unsigned long long)first,
				 (unsigned long long)last);
	}
}

static void if_range_matches_the_strong_etag_or_the_date(void **state)
{
	const char *etag = "\"0123456789abcdef0123456789abcdef\"";
	const char *date = "Sun, 06 Nov 1994 08:49:37 GMT";

	(void)state;
	assert_true(fota_srv_if_range_match(NULL, etag, date));
	assert_true(fota_srv_if_range_match(etag, etag, date));
	assert_false(fota_srv_if_range_match("\"other\"", etag, date));
	assert_false(fota_srv_if_range_match("W/\"0123456789abcdef0123456789abcdef\"", etag, date));
	assert_true(fota_srv_if_range_match(date, etag, date));
	assert_false(fota_srv_if_range_match("Mon, 07 Nov 1994 08:49:37 GMT", etag, date));
}

static void bearer_tokens(void **state)
{
	uint8_t want[32];
	const char *t;
	size_t n = 0;

	(void)state;
	assert_int_equal(mbedtls_sha256_ret((const unsigned char *)"s3cret", 6, want, 0), 0);
	t = fota_srv_bearer("Bearer s3cret", &n);
	assert_non_null(t);
	assert_true(fota_srv_token_equal(t, n, want));
	t = fota_srv_bearer("  bearer \ts3cret  ", &n);
	assert_non_null(t);
	assert_int_equal(n, 6);
	assert_true(fota_srv_token_equal(t, n, want));
	t = fota_srv_bearer("Bearer s3cre", &n);
	assert_false(fota_srv_token_equal(t, n, want));
	t = fota_srv_bearer("Bearer s3cret2", &n);
	assert_false(fota_srv_token_equal(t, n, want));
	assert_null(fota_srv_bearer("Basic czNjcmV0", &n));
	assert_null(fota_srv_bearer("Bearer", &n));
	assert_null(fota_srv_bearer("Bearer   ", &n));
	assert_null(fota_srv_bearer("Bearers3cret", &n));
	assert_null(fota_srv_bearer(NULL, &n));
}

static void media_types(void **state)
{
	(void)state;
	assert_true(fota_srv_media_json("application/json"));
	assert_true(fota_srv_media_json("Application/JSON; charset=utf-8"));
	assert_false(fota_srv_media_json("application/jsonx"));
	assert_false(fota_srv_media_json("application/x-www-form-urlencoded"));
	assert_false(fota_srv_media_json("text/plain"));
	assert_false(fota_srv_media_json(NULL));
}

static void vendor_messages_are_ascii_json(void **state)
{
	char out[128];

	(void)state;
	/* The vendor's own text, as in its answers (luat-platform-notes.md). */
	assert_int_equal(fota_srv_json_ascii(out, sizeof(out), "已是最新版本"), 38);
	assert_string_equal(out, "\"\\u5df2\\u662f\\u6700\\u65b0\\u7248\\u672c\"");
	fota_srv_json_ascii(out, sizeof(out), "无效的设备");
	assert_string_equal(out, "\"\\u65e0\\u6548\\u7684\\u8bbe\\u5907\"");
	fota_srv_json_ascii(out, sizeof(out), "升级请求过于频繁");
	assert_string_equal(out, "\"\\u5347\\u7ea7\\u8bf7\\u6c42\\u8fc7\\u4e8e\\u9891\\u7e41\"");
	fota_srv_json_ascii(out, sizeof(out), "a\"b\\c\n\xF0\x9F\x98\x80");
	assert_string_equal(out, "\"a\\\"b\\\\c\\u000a\\ud83d\\ude00\"");
	assert_int_equal(fota_srv_json_ascii(out, sizeof(out), "\xC3"), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_json_ascii(out, 8, "已是最新版本"), FOTA_ERR_NOMEM);
	assert_int_equal(fota_srv_json_ascii(out, 3, ""), 2);
	assert_string_equal(out, "\"\"");
}

static void dates(void **state)
{
	char s[32];

	(void)state;
	fota_srv_rfc3339(0, s);
	assert_string_equal(s, "1970-01-01T00:00:00Z");
	fota_srv_rfc3339(1700000000, s);
	assert_string_equal(s, "2023-11-14T22:13:20Z");
	fota_srv_http_date(784111777, s);
	assert_string_equal(s, "Sun, 06 Nov 1994 08:49:37 GMT");
	fota_srv_http_date(1700000000, s);
	assert_string_equal(s, "Tue, 14 Nov 2023 22:13:20 GMT");
}

static void log_fields_are_escaped_and_cut(void **state)
{
	char out[24];

	(void)state;
	fota_srv_log_field(out, sizeof(out), "/a?b=1", 6);
	assert_string_equal(out, "/a?b=1");
	fota_srv_log_field(out, sizeof(out), "a\"\n\\ b", 6);
	assert_string_equal(out, "a\\x22\\x0a\\x5c\\x20b");
	fota_srv_log_field(out, sizeof(out), "0123456789012345678901234567890", 31);
	assert_string_equal(out, "01234567890123456789...");
	assert_true(strlen(out) < sizeof(out));
}

static const char *target(const char *uri)
{
	static char out[160];

	return fota_srv_log_target(out, sizeof(out), uri, strlen(uri));
}

static void credentials_in_a_query_are_redacted(void **state)
{
	char out[24];

	(void)state;
	assert_string_equal(target("/api/v1/projects"), "/api/v1/projects");
	assert_string_equal(target("/api/v1/projects?token=s3cret"), "/api/v1/projects?token=REDACTED");
	assert_string_equal(target("/x?a=1&Access_Token=s3cret&b=2&admin_token=&password=p"),
			    "/x?a=1&Access_Token=REDACTED&b=2&admin_token=REDACTED&password=REDACTED");
	assert_string_equal(target("/x?%74oken=s3cret"), "/x?%74oken=REDACTED"); /* escaped name */
	assert_string_equal(target("/x?token"), "/x?token"); /* no value */
	assert_string_equal(target("/x?tokens=1&my_token=2&project_key=k&imei=8"),
			    "/x?tokens=1&my_token=2&project_key=k&imei=8");
	assert_string_equal(target("/api/site/firmware_upgrade?project_key=k&device_key=d"),
			    "/api/site/firmware_upgrade?project_key=k&device_key=REDACTED");
	assert_string_equal(target("/x?auth=a\"b&&secret=\n"), "/x?auth=REDACTED&&secret=REDACTED");
	assert_string_equal(target("/x?q=a\"b"), "/x?q=a\\x22b"); /* escaped as log fields are */
	assert_string_equal(target("/x?a=1&"), "/x?a=1&");
	assert_string_equal(target("?"), "?");
	/* Cut like a log field. */
	fota_srv_log_target(out, sizeof(out), "/api/v1/x?token=0123456789", 26);
	assert_string_equal(out, "/api/v1/x?token=REDA...");
	assert_true(strlen(out) < sizeof(out));
}

static void listen_addresses(void **state)
{
	char host[64];
	uint16_t port = 0;

	(void)state;
	assert_int_equal(fota_srv_parse_listen("8080", host, sizeof(host), &port), FOTA_OK);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8080);
	assert_int_equal(fota_srv_parse_listen("127.0.0.2:18181", host, sizeof(host), &port), FOTA_OK);
	assert_string_equal(host, "127.0.0.2");
	assert_int_equal(port, 18181);
	assert_int_equal(fota_srv_parse_listen("[::1]:0", host, sizeof(host), &port), FOTA_OK);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(fota_srv_parse_listen("localhost:65535", host, sizeof(host), &port), FOTA_OK);
	assert_int_equal(fota_srv_parse_listen("::1:80", host, sizeof(host), &port), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_listen("65536", host, sizeof(host), &port), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_listen(":80", host, sizeof(host), &port), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_listen("h:", host, sizeof(host), &port), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_listen("[::1]", host, sizeof(host), &port), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_listen("8o", host, sizeof(host), &port), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_listen("", host, sizeof(host), &port), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_parse_listen("averyveryverylonghostname:1", host, 8, &port),
			 FOTA_ERR_TOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(query_parameters_are_found_in_any_order),
		cmocka_unit_test(query_decoding_rules),
		cmocka_unit_test(query_refuses_bad_bytes),
		cmocka_unit_test(query_limits),
		cmocka_unit_test(path_segments_are_decoded),
		cmocka_unit_test(path_tricks_are_refused),
		cmocka_unit_test(device_ids_keys_and_row_ids),
		cmocka_unit_test(text_and_names),
		cmocka_unit_test(range_headers),
		cmocka_unit_test(if_range_matches_the_strong_etag_or_the_date),
		cmocka_unit_test(bearer_tokens),
		cmocka_unit_test(media_types),
		cmocka_unit_test(vendor_messages_are_ascii_json),
		cmocka_unit_test(dates),
		cmocka_unit_test(log_fields_are_escaped_and_cut),
		cmocka_unit_test(credentials_in_a_query_are_redacted),
		cmocka_unit_test(listen_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
