/* Unit tests of fota-server's client addresses behind reverse proxies (src/server/proxy.c):
 * addresses and CIDR ranges parsed strictly (bad entries refused, never a crash), range
 * matching for IPv4, IPv6 and IPv4-mapped addresses, --trust-proxy lists, and the
 * X-Forwarded-For walk that finds the client: the right-most address not in a trusted
 * range, what a client writes left of it never believed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxy.h"

static int ip(const char *s, struct fota_srv_ip *out)
{
	return fota_srv_ip_parse(s, strlen(s), out);
}

static int cidr(const char *s, struct fota_srv_cidr *out)
{
	return fota_srv_cidr_parse(s, strlen(s), out);
}

static const char *text(const struct fota_srv_ip *a)
{
	static char buf[FOTA_SRV_IP_TEXT];

	return fota_srv_ip_text(a, buf, sizeof(buf));
}

static void addresses_are_parsed_strictly(void **state)
{
	static const char *const bad[] = {
		"", " ", "1.2.3", "1.2.3.4.5", "1.2.3.256", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4",
		"1.2.3.4:80", "[::1]", "::1%lo", "fe80::1%eth0", ":::", "1::2::3", "g::1",
		"1.2.3.-4", "0x1.2.3.4", "localhost", "1.2.3.4/32", "12345::",
		"1111:2222:3333:4444:5555:6666:7777:8888:9999",
		"0000000000000000000000000000000000000000000001", /* longer than any address */
	};
	struct fota_srv_ip a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ip(bad[i], &a), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_ip_parse("1.2.3.4\0junk", 12, &a), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_ip_parse(NULL, 0, &a), FOTA_ERR_INVAL);

	assert_int_equal(ip("192.0.2.1", &a), FOTA_OK);
	assert_int_equal(a.family, 4);
	assert_string_equal(text(&a), "192.0.2.1");
	assert_int_equal(ip("2001:DB8::1", &a), FOTA_OK);
	assert_int_equal(a.family, 6);
	assert_string_equal(text(&a), "2001:db8::1");
	/* An IPv4-mapped IPv6 address is the IPv4 address. */
	assert_int_equal(ip("::ffff:198.51.100.7", &a), FOTA_OK);
	assert_int_equal(a.family, 4);
	assert_string_equal(text(&a), "198.51.100.7");
	/* Parsing looks at len bytes only. */
	assert_int_equal(fota_srv_ip_parse("10.0.0.1,10.0.0.2", 8, &a), FOTA_OK);
	assert_string_equal(text(&a), "10.0.0.1");
	a.family = 0;
	assert_string_equal(text(&a), "-");
}

static void ranges_are_parsed_strictly(void **state)
{
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08",
		"10.0.0.0/8/8", "10.0.0.0/8 ", "10.0.0.0 /8", "10.0.0.0/1000", "::/129", "::1/0x10",
		"10.0.0.0/a", "::ffff:10.0.0.0/95", "10.0.0.0\\8", "10.0.0.0/ 8",
	};
	struct fota_srv_cidr c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cidr(bad[i], &c), FOTA_ERR_INVAL);
	}
	assert_int_equal(cidr("10.1.2.3/8", &c), FOTA_OK); /* host bits cleared */
	assert_string_equal(text(&c.ip), "10.0.0.0");
	assert_int_equal(c.bits, 8);
	assert_int_equal(cidr("127.0.0.1", &c), FOTA_OK); /* a bare address: itself */
	assert_int_equal(c.bits, 32);
	assert_int_equal(cidr("::1", &c), FOTA_OK);
	assert_int_equal(c.bits, 128);
	assert_int_equal(cidr("2001:db8:abcd:12ff::/56", &c), FOTA_OK);
	assert_string_equal(text(&c.ip), "2001:db8:abcd:1200::");
	assert_int_equal(cidr("0.0.0.0/0", &c), FOTA_OK);
	assert_int_equal(c.bits, 0);
	assert_int_equal(cidr("::ffff:10.0.0.0/104", &c), FOTA_OK); /* = 10.0.0.0/8 */
	assert_int_equal(c.ip.family, 4);
	assert_int_equal(c.bits, 8);
	assert_int_equal(cidr("10.0.0.0/0", &c), FOTA_OK);
	assert_string_equal(text(&c.ip), "0.0.0.0");
}

static bool in(const char *range, const char *addr)
{
	struct fota_srv_cidr c;
	struct fota_srv_ip a;

	assert_int_equal(cidr(range, &c), FOTA_OK);
	assert_int_equal(ip(addr, &a), FOTA_OK);
	return fota_srv_cidr_contains(&c, &a);
}

static void ranges_match_their_addresses_only(void **state)
{
	struct fota_srv_ip none = { 0 };
	struct fota_srv_cidr c;

	(void)state;
	assert_true(in("127.0.0.1/32", "127.0.0.1"));
	assert_false(in("127.0.0.1/32", "127.0.0.2"));
	assert_true(in("10.0.0.0/8", "10.255.255.255"));
	assert_false(in("10.0.0.0/8", "11.0.0.0"));
	assert_false(in("10.0.0.0/8", "9.255.255.255"));
	assert_true(in("192.168.4.0/23", "192.168.5.200"));
	assert_false(in("192.168.4.0/23", "192.168.6.1"));
	assert_true(in("172.16.0.0/12", "172.31.1.1"));
	assert_false(in("172.16.0.0/12", "172.32.0.1"));
	assert_true(in("0.0.0.0/0", "203.0.113.9"));
	assert_false(in("0.0.0.0/0", "2001:db8::1")); /* families never mix */
	assert_false(in("::/0", "203.0.113.9"));
	assert_true(in("::/0", "2001:db8::1"));
	assert_true(in("::1", "::1"));
	assert_false(in("::1", "::2"));
	assert_true(in("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(in("2001:db8::/33", "2001:db8:8000::1"));
	assert_true(in("fe80::/10", "febf::1"));
	assert_false(in("fe80::/10", "fec0::1"));
	/* An IPv4-mapped peer (a dual-stack socket) is matched as IPv4. */
	assert_true(in("127.0.0.0/8", "::ffff:127.0.0.5"));
	assert_true(in("::ffff:127.0.0.1", "127.0.0.1"));
	assert_int_equal(cidr("0.0.0.0/0", &c), FOTA_OK);
	assert_false(fota_srv_cidr_contains(&c, &none));
	assert_false(fota_srv_cidr_match(NULL, 0, &none));
}

static void trust_lists_are_all_or_nothing(void **state)
{
	struct fota_srv_cidr v[4];
	struct fota_srv_ip a;
	size_t n = 0, bad = 99;

	(void)state;
	assert_int_equal(fota_srv_cidr_list_parse("127.0.0.1/32, ::1/128", v, 4, &n, &bad), FOTA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(fota_srv_cidr_list_parse("10.0.0.0/8,\t192.168.0.0/16 ,bogus", v, 4, &n,
						  &bad), FOTA_ERR_INVAL);
	assert_int_equal(n, 2); /* nothing of the bad list was kept */
	assert_int_equal(bad, 28);
	assert_int_equal(fota_srv_cidr_list_parse("10.0.0.0/8,,11.0.0.0/8", v, 4, &n, &bad),
			 FOTA_ERR_INVAL);
	assert_int_equal(bad, 11);
	assert_int_equal(fota_srv_cidr_list_parse("10.0.0.0/8,", v, 4, &n, NULL), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_cidr_list_parse("", v, 4, &n, NULL), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_cidr_list_parse(NULL, v, 4, &n, NULL), FOTA_ERR_INVAL);
	assert_int_equal(fota_srv_cidr_list_parse("1.0.0.0/8,2.0.0.0/8,3.0.0.0/8", v, 4, &n, NULL),
			 FOTA_ERR_NOMEM);
	assert_int_equal(n, 2);
	assert_int_equal(fota_srv_cidr_list_parse("10.0.0.0/8,2001:db8::/32", v, 4, &n, NULL),
			 FOTA_OK);
	assert_int_equal(n, 4);
	assert_int_equal(ip("::1", &a), FOTA_OK);
	assert_true(fota_srv_cidr_match(v, n, &a));
	assert_int_equal(ip("10.9.9.9", &a), FOTA_OK);
	assert_true(fota_srv_cidr_match(v, n, &a));
	assert_int_equal(ip("2001:db9::1", &a), FOTA_OK);
	assert_false(fota_srv_cidr_match(v, n, &a));
}

/* The client that the walk finds for xff with the trusted ranges list, as text; or
 * "NOENT" / "INVAL". */
static const char *walk(const char *list, const char *xff)
{
	static char out[FOTA_SRV_IP_TEXT];
	struct fota_srv_cidr v[8];
	struct fota_srv_ip a;
	size_t n = 0;
	int err;

	assert_int_equal(fota_srv_cidr_list_parse(list, v, 8, &n, NULL), FOTA_OK);
	memset(&a, 0xAB, sizeof(a));
	err = fota_srv_forwarded_client(xff, v, n, &a);
	if (err == FOTA_ERR_NOENT)
		return "NOENT";
	if (err == FOTA_ERR_INVAL)
		return "INVAL";
	assert_int_equal(err, FOTA_OK);
	return fota_srv_ip_text(&a, out, sizeof(out));
}

static void the_forwarded_walk_finds_the_client(void **state)
{
	const char *lo = "127.0.0.1/32", *lan = "127.0.0.1/32,10.0.0.0/8";

	(void)state;
	/* One proxy: the address it appended. */
	assert_string_equal(walk(lo, "203.0.113.7"), "203.0.113.7");
	/* What the client wrote itself, left of what the proxy appended, is not believed. */
	assert_string_equal(walk(lo, "1.1.1.1, 203.0.113.7"), "203.0.113.7");
	assert_string_equal(walk(lo, "127.0.0.1, 203.0.113.7"), "203.0.113.7");
	/* Nor is garbage the client wrote there: it is never read. */
	assert_string_equal(walk(lo, "not-an-address, 203.0.113.7"), "203.0.113.7");
	assert_string_equal(walk(lo, ",,,203.0.113.7"), "203.0.113.7");
	/* Chained proxies: trusted hops are skipped from the right. */
	assert_string_equal(walk(lan, "198.51.100.4, 10.1.1.1, 10.2.2.2"), "198.51.100.4");
	assert_string_equal(walk(lan, "6.6.6.6,198.51.100.4,10.1.1.1"), "198.51.100.4");
	/* Only proxies: the left-most. */
	assert_string_equal(walk(lan, "10.3.3.3, 10.1.1.1"), "10.3.3.3");
	/* Blanks and IPv6; mapped addresses come out as IPv4. */
	assert_string_equal(walk(lo, " \t2001:db8::5 \t"), "2001:db8::5");
	assert_string_equal(walk(lo, "::ffff:192.0.2.9"), "192.0.2.9");
	/* Nothing to read. */
	assert_string_equal(walk(lo, ""), "NOENT");
	assert_string_equal(walk(lo, " , ,"), "NOENT");
	assert_int_equal(fota_srv_forwarded_client(NULL, NULL, 0, NULL), FOTA_ERR_NOENT);
	/* A malformed hop where the client should be: the caller keeps the peer. */
	assert_string_equal(walk(lo, "203.0.113.7, unknown"), "INVAL");
	assert_string_equal(walk(lo, "203.0.113.7,"), "INVAL");
	assert_string_equal(walk(lo, "203.0.113.7:4711"), "INVAL");
	assert_string_equal(walk(lo, "[2001:db8::5]"), "INVAL");
	assert_string_equal(walk(lan, "203.0.113.7, 10.0.0.1,, 10.0.0.2"), "INVAL");
	assert_string_equal(walk(lo, "203.0.113.7 198.51.100.1"), "INVAL");
}

static void long_and_hostile_headers_do_not_crash(void **state)
{
	static char xff[9000];
	struct fota_srv_cidr v[1];
	struct fota_srv_ip a;
	size_t n = 0, o = 0;

	(void)state;
	assert_int_equal(fota_srv_cidr_list_parse("10.0.0.0/8", v, 1, &n, NULL), FOTA_OK);
	/* 500 trusted hops: the left-most comes out. */
	for (int i = 0; i < 500; i++)
		o += (size_t)snprintf(xff + o, sizeof(xff) - o, "%s10.0.%d.%d", i ? "," : "",
				      i / 250, i % 250);
	assert_int_equal(fota_srv_forwarded_client(xff, v, n, &a), FOTA_OK);
	assert_string_equal(text(&a), "10.0.0.0");
	/* A very long entry, commas only, bytes of every value. */
	memset(xff, 'a', sizeof(xff) - 1);
	xff[sizeof(xff) - 1] = '\0';
	assert_int_equal(fota_srv_forwarded_client(xff, v, n, &a), FOTA_ERR_INVAL);
	memset(xff, ',', sizeof(xff) - 1);
	assert_int_equal(fota_srv_forwarded_client(xff, v, n, &a), FOTA_ERR_NOENT);
	for (int i = 0; i < 255; i++)
		xff[i] = (char)(i + 1);
	xff[255] = '\0';
	assert_int_equal(fota_srv_forwarded_client(xff, v, n, &a), FOTA_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(addresses_are_parsed_strictly),
		cmocka_unit_test(ranges_are_parsed_strictly),
		cmocka_unit_test(ranges_match_their_addresses_only),
		cmocka_unit_test(trust_lists_are_all_or_nothing),
		cmocka_unit_test(the_forwarded_walk_finds_the_client),
		cmocka_unit_test(long_and_hostile_headers_do_not_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
