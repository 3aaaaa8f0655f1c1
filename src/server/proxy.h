/*
 * proxy.h - the client's address behind reverse proxies: IP addresses, CIDR ranges
 * (--trust-proxy), and the walk of X-Forwarded-For that finds the client. Pure functions:
 * no I/O, no heap, no MHD. tests/server/test_server_proxy.c covers them.
 *
 * The rule (docs/server.md, "Behind a reverse proxy"): the headers a proxy adds are
 * believed only when the TCP peer lies in a trusted range; the client is then the
 * right-most address of X-Forwarded-For that is not in a trusted range (each trusted
 * proxy appends the address it got the request from, so everything left of the first
 * untrusted address was written by the client and proves nothing). IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) are IPv4 addresses here, everywhere.
 */
#ifndef FOTA_SRV_PROXY_H
#define FOTA_SRV_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fota/fota.h"

#define FOTA_SRV_IP_TEXT 46 /* an address as text, with its NUL (INET6_ADDRSTRLEN) */

/* An IPv4 or IPv6 address. */
struct fota_srv_ip {
	uint8_t family; /* 4 or 6; 0: none */
	uint8_t a[16];  /* the address, network order; IPv4 in a[0..3], the rest 0 */
};

/* A range: the addresses whose first bits bits equal those of ip (its other bits are 0). */
struct fota_srv_cidr {
	struct fota_srv_ip ip;
	uint8_t bits; /* 0-32 for IPv4, 0-128 for IPv6 */
};

/* fota_srv_ip_parse: reads the len bytes at s (the caller's, not NUL-terminated) as one
 * address: a dotted IPv4 address (four decimal parts, no leading zeros) or an IPv6 address
 * in the text forms of RFC 4291 (no brackets, port or zone). ::ffff:a.b.c.d becomes the
 * IPv4 address. Returns FOTA_OK with *out set, or FOTA_ERR_INVAL. */
int fota_srv_ip_parse(const char *s, size_t len, struct fota_srv_ip *out);

/* fota_srv_ip_text: writes ip as text (inet_ntop's form) into out (cap bytes,
 * FOTA_SRV_IP_TEXT is enough; "-" for family 0). Returns out. */
char *fota_srv_ip_text(const struct fota_srv_ip *ip, char *out, size_t cap);

/* fota_srv_cidr_parse: reads the len bytes at s (the caller's) as "ADDR" or "ADDR/BITS"
 * (BITS decimal without sign or leading zero, at most 32 for IPv4 and 128 for IPv6; a bare
 * ADDR is the one address, /32 or /128). Bits of ADDR past the prefix are cleared
 * (10.1.2.3/8 is 10.0.0.0/8). ::ffff:a.b.c.d/BITS with BITS >= 96 is the IPv4 range
 * a.b.c.d/(BITS - 96). Returns FOTA_OK with *out set, or FOTA_ERR_INVAL. */
int fota_srv_cidr_parse(const char *s, size_t len, struct fota_srv_cidr *out);

/* fota_srv_cidr_list_parse: reads the NUL-terminated s, "CIDR[,CIDR...]" (spaces and tabs
 * around each entry allowed), and appends the ranges to v (cap entries; *n of them in
 * use). All or nothing: on an error *n is as it was (entries past it may have changed). Returns FOTA_OK;
 * FOTA_ERR_INVAL for an entry that is not a range (empty entries too), its offset in s
 * into *bad (may be NULL); FOTA_ERR_NOMEM when the ranges would pass cap. */
int fota_srv_cidr_list_parse(const char *s, struct fota_srv_cidr *v, size_t cap, size_t *n,
			     size_t *bad);

/* fota_srv_cidr_contains: whether ip lies in the range c (an IPv4 address never lies in an
 * IPv6 range, nor the reverse). */
bool fota_srv_cidr_contains(const struct fota_srv_cidr *c, const struct fota_srv_ip *ip);

/* fota_srv_cidr_match: whether ip lies in one of the n ranges at v. */
bool fota_srv_cidr_match(const struct fota_srv_cidr *v, size_t n, const struct fota_srv_ip *ip);

/* fota_srv_forwarded_client: the client's address from the X-Forwarded-For value xff
 * (NUL-terminated; several headers joined with ","), for a request whose TCP peer is in
 * one of the n trusted ranges at trust: the right-most entry that is not in a trusted
 * range, or the left-most entry when all are. Entries are split on ',', spaces and tabs
 * around them ignored. Returns FOTA_OK with *client set; FOTA_ERR_NOENT when xff is NULL
 * or holds no entry; FOTA_ERR_INVAL when the walk meets an entry that is not an address
 * (empty ones included) before it found the client: the caller then keeps the peer's
 * address, as nginx's realip module does. Entries left of the client are never read. */
int fota_srv_forwarded_client(const char *xff, const struct fota_srv_cidr *trust, size_t n,
			      struct fota_srv_ip *client);

#endif /* FOTA_SRV_PROXY_H */
