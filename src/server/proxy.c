/*
 * proxy.c - addresses, CIDR ranges and the X-Forwarded-For walk (proxy.h). Pure functions.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int fota_srv_ip_parse(const char *s, size_t len, struct fota_srv_ip *out)
{
	char buf[FOTA_SRV_IP_TEXT];
	uint8_t bin[16];

	if (!s || len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
		return FOTA_ERR_INVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (strchr(buf, ':') == NULL) {
		if (inet_pton(AF_INET, buf, bin) != 1)
			return FOTA_ERR_INVAL;
		out->family = 4;
		memcpy(out->a, bin, 4);
		return FOTA_OK;
	}
	if (inet_pton(AF_INET6, buf, bin) != 1)
		return FOTA_ERR_INVAL;
	if (!memcmp(bin, v4_mapped, sizeof(v4_mapped))) {
		out->family = 4;
		memcpy(out->a, bin + 12, 4);
		return FOTA_OK;
	}
	out->family = 6;
	memcpy(out->a, bin, 16);
	return FOTA_OK;
}

char *fota_srv_ip_text(const struct fota_srv_ip *ip, char *out, size_t cap)
{
	if (!cap)
		return out;
	if (ip->family == 4 && inet_ntop(AF_INET, ip->a, out, (socklen_t)cap))
		return out;
	if (ip->family == 6 && inet_ntop(AF_INET6, ip->a, out, (socklen_t)cap))
		return out;
	snprintf(out, cap, "-");
	return out;
}

/* Clears the bits of ip past the first bits. */
static void mask(struct fota_srv_ip *ip, unsigned bits)
{
	for (unsigned i = 0; i < 16; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		ip->a[i] &= (uint8_t)(0xFF00u >> bits);
		bits = 0;
	}
}

int fota_srv_cidr_parse(const char *s, size_t len, struct fota_srv_cidr *out)
{
	const char *slash = s ? memchr(s, '/', len) : NULL;
	size_t alen = slash ? (size_t)(slash - s) : len;
	struct fota_srv_ip ip;
	unsigned bits = 0, max;
	bool mapped = false;

	if (!s || fota_srv_ip_parse(s, alen, &ip))
		return FOTA_ERR_INVAL;
	/* An IPv4-mapped address written as IPv6 counts its bits as IPv6 does. */
	if (ip.family == 4 && memchr(s, ':', alen))
		mapped = true;
	max = ip.family == 4 && !mapped ? 32 : 128;
	if (slash) {
		const char *d = slash + 1;
		size_t n = len - alen - 1;

		if (n == 0 || n > 3 || (n > 1 && d[0] == '0'))
			return FOTA_ERR_INVAL;
		for (size_t i = 0; i < n; i++) {
			if (d[i] < '0' || d[i] > '9')
				return FOTA_ERR_INVAL;
			bits = bits * 10 + (unsigned)(d[i] - '0');
		}
		if (bits > max)
			return FOTA_ERR_INVAL;
	} else {
		bits = max;
	}
	if (mapped) {
		if (bits < 96)
			return FOTA_ERR_INVAL; /* a range wider than the mapped block: say what you mean */
		bits -= 96;
	}
	mask(&ip, bits);
	out->ip = ip;
	out->bits = (uint8_t)bits;
	return FOTA_OK;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

int fota_srv_cidr_list_parse(const char *s, struct fota_srv_cidr *v, size_t cap, size_t *n,
			     size_t *bad)
{
	size_t k = *n, pos = 0, len = s ? strlen(s) : 0;
	struct fota_srv_cidr c;

	if (!s)
		return FOTA_ERR_INVAL;
	for (;;) {
		size_t end = pos, a, b;

		while (end < len && s[end] != ',')
			end++;
		a = pos;
		b = end;
		while (a < b && blank(s[a]))
			a++;
		while (b > a && blank(s[b - 1]))
			b--;
		if (fota_srv_cidr_parse(s + a, b - a, &c)) {
			if (bad)
				*bad = a;
			return FOTA_ERR_INVAL;
		}
		if (k == cap)
			return FOTA_ERR_NOMEM;
		v[k++] = c;
		if (end == len)
			break;
		pos = end + 1;
	}
	*n = k;
	return FOTA_OK;
}

bool fota_srv_cidr_contains(const struct fota_srv_cidr *c, const struct fota_srv_ip *ip)
{
	unsigned bits = c->bits, i;

	if (c->ip.family != ip->family || ip->family == 0)
		return false;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (c->ip.a[i] != ip->a[i])
			return false;
	return bits == 0 || ((c->ip.a[i] ^ ip->a[i]) & (uint8_t)(0xFF00u >> bits)) == 0;
}

bool fota_srv_cidr_match(const struct fota_srv_cidr *v, size_t n, const struct fota_srv_ip *ip)
{
	for (size_t i = 0; i < n; i++)
		if (fota_srv_cidr_contains(&v[i], ip))
			return true;
	return false;
}

int fota_srv_forwarded_client(const char *xff, const struct fota_srv_cidr *trust, size_t n,
			      struct fota_srv_ip *client)
{
	size_t end, a, b;
	struct fota_srv_ip ip;

	if (!xff)
		return FOTA_ERR_NOENT;
	end = strlen(xff);
	/* Nothing but blanks and commas: no entry at all. */
	if (strspn(xff, " \t,") == end)
		return FOTA_ERR_NOENT;
	for (;;) {
		size_t start = end;

		while (start > 0 && xff[start - 1] != ',')
			start--;
		a = start;
		b = end;
		while (a < b && blank(xff[a]))
			a++;
		while (b > a && blank(xff[b - 1]))
			b--;
		if (fota_srv_ip_parse(xff + a, b - a, &ip))
			return FOTA_ERR_INVAL;
		if (!fota_srv_cidr_match(trust, n, &ip) || start == 0)
			break; /* the client; or every hop a trusted proxy: the left-most */
		end = start - 1; /* before the comma */
	}
	*client = ip;
	return FOTA_OK;
}
