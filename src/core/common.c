/* common.c - error names, CRC-32 and flash helpers shared by the core's modules. */
#include <string.h>

#include "fota/flash.h"

const char *fota_strerror(int err)
{
	switch (err) {
	case FOTA_OK: return "OK";
	case FOTA_ERR_NOENT: return "NOENT";
	case FOTA_ERR_IO: return "IO";
	case FOTA_ERR_AGAIN: return "AGAIN";
	case FOTA_ERR_NOMEM: return "NOMEM";
	case FOTA_ERR_BUSY: return "BUSY";
	case FOTA_ERR_EXIST: return "EXIST";
	case FOTA_ERR_INVAL: return "INVAL";
	case FOTA_ERR_FBIG: return "FBIG";
	case FOTA_ERR_NOSPC: return "NOSPC";
	case FOTA_ERR_RANGE: return "RANGE";
	case FOTA_ERR_TOOLONG: return "TOOLONG";
	case FOTA_ERR_PROTO: return "PROTO";
	case FOTA_ERR_BADMSG: return "BADMSG";
	case FOTA_ERR_CORRUPT: return "CORRUPT";
	case FOTA_ERR_NOTSUP: return "NOTSUP";
	case FOTA_ERR_NETDOWN: return "NETDOWN";
	case FOTA_ERR_CONNRESET: return "CONNRESET";
	case FOTA_ERR_TIMEDOUT: return "TIMEDOUT";
	case FOTA_ERR_CONNREFUSED: return "CONNREFUSED";
	case FOTA_ERR_DNS: return "DNS";
	case FOTA_ERR_POWER: return "POWER";
	case FOTA_ERR_FLASH_RULE: return "FLASH_RULE";
	case FOTA_ERR_VERIFY: return "VERIFY";
	case FOTA_ERR_CANCELED: return "CANCELED";
	case FOTA_ERR_TLS: return "TLS";
	case FOTA_ERR_ROLLBACK: return "ROLLBACK";
	default: return "?";
	}
}

static char upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

bool fota_strcaseeq(const char *a, size_t len, const char *b)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!b[i] || upper(a[i]) != upper(b[i]))
			return false;
	return b[i] == '\0';
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
	       f->prog_size <= f->sector_size && f->size && f->size % f->sector_size == 0;
}
