/* common.c - error names, CRC-32 and flash helpers shared by the core's modules. */
#include <string.h>

#include "fota/flash.h"

/* Each name preceded by the byte -err; the byte 0xFF ends the list. */
static const char err_names[] =
	"\0OK\0\2NOENT\0\5IO\0\13AGAIN\0\14NOMEM\0\20BUSY\0\21EXIST\0\26INVAL\0"
	"\33FBIG\0\34NOSPC\0\42RANGE\0\44TOOLONG\0\107PROTO\0\112BADMSG\0\124CORRUPT\0"
	"\137NOTSUP\0\144NETDOWN\0\150CONNRESET\0\156TIMEDOUT\0\157CONNREFUSED\0\310DNS\0"
	"\311POWER\0\312FLASH_RULE\0\313VERIFY\0\314CANCELED\0\315TLS\0\316ROLLBACK\0\377";

const char *fota_strerror(int err)
{
	unsigned e = 0u - (unsigned)err;
	const char *p;

	for (p = err_names; (uint8_t)*p != 0xFF; p += strlen(p + 1) + 2)
		if ((uint8_t)*p == e)
			return p + 1;
	return "?";
}

bool fota_strcaseeq(const char *a, size_t len, const char *b)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = (char)(a[i] | 0x20);

		/* b ends early, or the bytes differ other than in a letter's case (setting
		 * bit 5 lowers a letter, and only A-Z and a-z lower to a-z). */
		if (!b[i] || (a[i] != b[i] && (c != (b[i] | 0x20) || c < 'a' || c > 'z')))
			return false;
	}
	return b[i] == '\0';
}

/* RFC 3986 unreserved bytes (ALPHA DIGIT - . _ ~), a bit per ASCII value. */
static const uint8_t unreserved[16] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x60, 0xff, 0x03,
	0xfe, 0xff, 0xff, 0x87, 0xfe, 0xff, 0xff, 0x47,
};

bool fota_is_unreserved(char c)
{
	uint8_t u = (uint8_t)c;

	return u < 0x80 && (unreserved[u >> 3] >> (u & 7)) & 1;
}

int fota_scan_u32(const char **s, const char *end, unsigned base, uint32_t *v)
{
	const char *p = *s;
	uint32_t x = 0, d;

	for (; p < end; p++) {
		d = (uint32_t)(*p - '0');
		if (d > 9) {
			d = (uint32_t)((*p | 0x20) - 'a') + 10;
			if (base != 16 || d < 10 || d > 15)
				break;
		}
		if (x > (UINT32_MAX - d) / base)
			return FOTA_ERR_RANGE;
		x = x * base + d;
	}
	if (p == *s)
		return FOTA_ERR_BADMSG;
	*s = p;
	*v = x;
	return FOTA_OK;
}

char *fota_fmt_u32(char *end, uint32_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

/* Bitwise CRC-32, reflected polynomial 0xEDB88320: slower than a table but it costs
 * neither the 1 KiB table nor RAM, and the core only checks short records with it. */
uint32_t fota_crc32(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

int fota_flash_is_erased(const struct fota_flash *f, uint32_t addr, uint32_t len)
{
	uint8_t buf[FOTA_COPY_BUF];

	while (len) {
		uint32_t n = len < sizeof(buf) ? len : (uint32_t)sizeof(buf);
		int err = f->read(f->ctx, addr, buf, n);

		if (err)
			return err;
		for (uint32_t i = 0; i < n; i++)
			if (buf[i] != f->erased)
				return 0;
		addr += n;
		len -= n;
	}
	return 1;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

bool fota_flash_valid(const struct fota_flash *f)
{
	return f && f->read && f->prog && f->erase && is_pow2(f->sector_size) &&
	       is_pow2(f->prog_size) && f->prog_size <= FOTA_FLASH_PROG_MAX &&
	       f->prog_size <= f->sector_size && f->size &&
	       !(f->size & (f->sector_size - 1)); /* a whole number of sectors */
}
