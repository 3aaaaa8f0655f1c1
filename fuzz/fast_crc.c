/*
 * fast_crc.c - a table-driven fota_crc32 for the fuzz build only.
 *
 * The core's CRC-32 (src/core/common.c) is bitwise: 8 shifts per byte, small for a MCU
 * and slow under ASan; it was 40% of fuzz_nv's time (every NV read and mount checks the
 * CRC of every record) and a large part of fuzz_at's and fuzz_boot's. fuzz/Makefile
 * renames the core's function in its fuzz object to fota_crc32_bitwise, so every call of
 * fota_crc32 lands here: the same function (same results, checked against the core's at
 * start-up on every length 0..300 and on chained calls), several times faster. The code
 * under test is unchanged; tests/unit checks the bitwise one against known vectors.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

uint32_t fota_crc32(uint32_t crc, const void *data, size_t len);
uint32_t fota_crc32_bitwise(uint32_t crc, const void *data, size_t len);

static uint32_t tab[4][256];

static void make_tables(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
		tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 4; t++)
			tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xFF];
}

uint32_t fota_crc32(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	crc = ~crc;
	while (len >= 4) {
		crc ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		       (uint32_t)p[3] << 24;
		crc = tab[3][crc & 0xFF] ^ tab[2][(crc >> 8) & 0xFF] ^ tab[1][(crc >> 16) & 0xFF] ^
		      tab[0][crc >> 24];
		p += 4;
		len -= 4;
	}
	while (len--)
		crc = tab[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

/* Before main: the tables, and the proof that this is the core's function. */
__attribute__((constructor)) static void fast_crc_init(void)
{
	uint8_t buf[300];
	uint32_t x = 0x12345678u;

	make_tables();
	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)(i < 40 ? (i & 1 ? 0xFF : 0x00) : x >> 11);
	}
	for (size_t len = 0; len <= sizeof(buf); len++)
		for (size_t off = 0; off < 4 && off <= sizeof(buf) - len; off++) {
			uint32_t seed = (uint32_t)(len * 0x9E3779B9u);

			if (fota_crc32(seed, buf + off, len) != fota_crc32_bitwise(seed, buf + off, len) ||
			    fota_crc32(fota_crc32(0, buf, len / 3), buf + len / 3, len - len / 3) !=
				    fota_crc32_bitwise(0, buf, len)) {
				fprintf(stderr, "fast_crc.c: differs from the core's fota_crc32 (len %zu)\n",
					len);
				abort();
			}
		}
}
