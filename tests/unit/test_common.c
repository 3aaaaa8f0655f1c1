/* Unit tests of the shared helpers: CRC-32, little-endian fields, numbers, error names,
 * case-insensitive compare, the flash geometry check, the emulated flash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fota/simflash.h"

static void crc32_matches_the_zlib_check_value(void **state)
{
	(void)state;
	assert_int_equal(fota_crc32(0, "123456789", 9), 0xCBF43926u);
	/* Continuing a CRC over two pieces equals the CRC of the whole. */
	assert_int_equal(fota_crc32(fota_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
	assert_int_equal(fota_crc32(0, "", 0), 0);
}

static void le_fields_round_trip_byte_by_byte(void **state)
{
	uint8_t b[4];

	(void)state;
	fota_put_le32(b, 0x11223344u);
	assert_int_equal(b[0], 0x44);
	assert_int_equal(b[3], 0x11);
	assert_int_equal(fota_get_le32(b), 0x11223344u);
	fota_put_le16(b, 0xBEEF);
	assert_int_equal(fota_get_le16(b), 0xBEEF);
}

static uint8_t mem[4 * 4096];

static void simflash_obeys_nor_rules(void **state)
{
	struct fota_simflash sf;
	uint8_t v = 0x0F, r;

	(void)state;
	assert_int_equal(fota_simflash_init_mem(&sf, mem, sizeof(mem), 4096, 1), FOTA_OK);
	fota_simflash_format(&sf);
	assert_int_equal(fota_flash_is_erased(&sf.flash, 0, sizeof(mem)), 1);
	assert_int_equal(sf.flash.prog(sf.flash.ctx, 10, &v, 1), FOTA_OK);
	v = 0x07; /* clears one more bit: allowed */
	assert_int_equal(sf.flash.prog(sf.flash.ctx, 10, &v, 1), FOTA_OK);
	v = 0xF7; /* sets bits back: refused and counted, the cell keeps its value */
	assert_int_equal(sf.flash.prog(sf.flash.ctx, 10, &v, 1), FOTA_ERR_FLASH_RULE);
	assert_int_equal(sf.stats.rule_violations, 1);
	sf.flash.read(sf.flash.ctx, 10, &r, 1);
	assert_int_equal(r, 0x07);
	assert_int_equal(sf.flash.erase(sf.flash.ctx, 100), FOTA_ERR_INVAL); /* unaligned */
	assert_int_equal(sf.flash.erase(sf.flash.ctx, 0), FOTA_OK);
	assert_int_equal(sf.stats.erase_count[0], 1);
	assert_int_equal(fota_flash_is_erased(&sf.flash, 0, 4096), 1);
	fota_simflash_close(&sf);
}

static void simflash_cuts_power_before_operation_n(void **state)
{
	struct fota_simflash sf;
	uint8_t data[8] = { 0 }, r[8];

	(void)state;
	assert_int_equal(fota_simflash_init_mem(&sf, mem, sizeof(mem), 4096, 1), FOTA_OK);
	fota_simflash_format(&sf);
	fota_simflash_cut_power(&sf, 2, FOTA_CUT_CLEAN);
	assert_int_equal(sf.flash.prog(sf.flash.ctx, 0, data, 8), FOTA_OK);
	assert_int_equal(sf.flash.prog(sf.flash.ctx, 8, data, 8), FOTA_ERR_POWER);
	assert_int_equal(sf.flash.read(sf.flash.ctx, 0, r, 8), FOTA_ERR_POWER);
	fota_simflash_power_on(&sf);
	assert_int_equal(fota_flash_is_erased(&sf.flash, 8, 8), 1); /* clean cut: nothing written */

	/* A torn program writes half of its bytes. */
	fota_simflash_cut_power(&sf, 1, FOTA_CUT_TORN);
	assert_int_equal(sf.flash.prog(sf.flash.ctx, 16, data, 8), FOTA_ERR_POWER);
	fota_simflash_power_on(&sf);
	assert_int_equal(fota_flash_is_erased(&sf.flash, 16, 4), 0);
	assert_int_equal(fota_flash_is_erased(&sf.flash, 20, 4), 1);

	/* A torn erase leaves the sector neither old nor erased. */
	fota_simflash_cut_power(&sf, 1, FOTA_CUT_TORN);
	assert_int_equal(sf.flash.erase(sf.flash.ctx, 0), FOTA_ERR_POWER);
	fota_simflash_power_on(&sf);
	assert_int_equal(fota_flash_is_erased(&sf.flash, 0, 4096), 0);
	assert_int_equal(fota_flash_is_erased(&sf.flash, 0, 64), 1);
	fota_simflash_close(&sf);
}

static void numbers_scan_and_format(void **state)
{
	const char *s, *t;
	uint32_t v = 7;
	char b[10], *p;

	(void)state;
	s = "4294967295x";
	assert_int_equal(fota_scan_u32(&s, s + 11, 10, &v), FOTA_OK);
	assert_int_equal(v, 4294967295u);
	assert_string_equal(s, "x");
	s = t = "4294967296";
	assert_int_equal(fota_scan_u32(&s, s + 10, 10, &v), FOTA_ERR_RANGE);
	assert_ptr_equal(s, t);
	assert_int_equal(v, 4294967295u);
	s = "ffFFffFF;";
	assert_int_equal(fota_scan_u32(&s, s + 9, 16, &v), FOTA_OK);
	assert_int_equal(v, 0xFFFFFFFFu);
	s = "1ff"; /* base 10 stops at the first non-digit */
	assert_int_equal(fota_scan_u32(&s, s + 3, 10, &v), FOTA_OK);
	assert_int_equal(v, 1);
	s = t = "g1";
	assert_int_equal(fota_scan_u32(&s, s + 2, 16, &v), FOTA_ERR_BADMSG);
	assert_ptr_equal(s, t);
	s = "12"; /* only up to end */
	assert_int_equal(fota_scan_u32(&s, s + 1, 10, &v), FOTA_OK);
	assert_int_equal(v, 1);
	s = t = "";
	assert_int_equal(fota_scan_u32(&s, s, 10, &v), FOTA_ERR_BADMSG);

	p = fota_fmt_u32(b + sizeof(b), 0);
	assert_memory_equal(p, "0", 1);
	assert_int_equal(b + sizeof(b) - p, 1);
	p = fota_fmt_u32(b + sizeof(b), 4294967295u);
	assert_memory_equal(p, "4294967295", 10);
	assert_ptr_equal(p, b);

	for (int c = -128; c < 128; c++) {
		bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';

		assert_int_equal(fota_is_unreserved((char)c), want);
	}
}

static void strcaseeq_folds_letters_only(void **state)
{
	(void)state;
	assert_true(fota_strcaseeq("Content-LENGTH", 14, "content-length"));
	assert_true(fota_strcaseeq("azAZ09-", 7, "AZaz09-"));
	assert_true(fota_strcaseeq("", 0, ""));
	assert_true(fota_strcaseeq("closed", 5, "close")); /* only len bytes count */
	assert_false(fota_strcaseeq("clos", 4, "close"));   /* b longer */
	assert_false(fota_strcaseeq("close", 5, "clos"));   /* b shorter */
	assert_false(fota_strcaseeq("cl\0se", 5, "close"));
	/* Pairs that differ only in bit 5 but are not letters are not equal. */
	assert_false(fota_strcaseeq("@", 1, "`"));
	assert_false(fota_strcaseeq("[", 1, "{"));
	assert_false(fota_strcaseeq("^", 1, "~"));
	assert_false(fota_strcaseeq("\x01", 1, "!"));
	assert_false(fota_strcaseeq(" ", 1, "\0"));
	assert_false(fota_strcaseeq("\xC1", 1, "\xE1"));
	assert_true(fota_strcaseeq("\xC1", 1, "\xC1"));
}

static void flash_valid_checks_the_geometry(void **state)
{
	struct fota_simflash sf;
	struct fota_flash f;

	(void)state;
	assert_int_equal(fota_simflash_init_mem(&sf, mem, sizeof(mem), 4096, 4), FOTA_OK);
	f = sf.flash;
	assert_true(fota_flash_valid(&f));
	assert_false(fota_flash_valid(NULL));
	f.size = 3 * 4096 + 2048; /* not a whole number of sectors */
	assert_false(fota_flash_valid(&f));
	f.size = 0;
	assert_false(fota_flash_valid(&f));
	f = sf.flash;
	f.sector_size = 3000; /* not a power of two */
	assert_false(fota_flash_valid(&f));
	f = sf.flash;
	f.prog_size = 8192; /* larger than a sector (and than FOTA_FLASH_PROG_MAX) */
	assert_false(fota_flash_valid(&f));
	f = sf.flash;
	f.erase = NULL;
	assert_false(fota_flash_valid(&f));
	fota_simflash_close(&sf);
}

static void error_names(void **state)
{
	(void)state;
	assert_string_equal(fota_strerror(FOTA_OK), "OK");
	assert_string_equal(fota_strerror(FOTA_ERR_NOENT), "NOENT");
	assert_string_equal(fota_strerror(FOTA_ERR_TOOLONG), "TOOLONG");
	assert_string_equal(fota_strerror(FOTA_ERR_CONNREFUSED), "CONNREFUSED");
	assert_string_equal(fota_strerror(FOTA_ERR_ROLLBACK), "ROLLBACK");
	assert_string_equal(fota_strerror(-1), "?");
	assert_string_equal(fota_strerror(5), "?");
	assert_string_equal(fota_strerror(-255), "?");
	assert_string_equal(fota_strerror(-256), "?");
	assert_string_equal(fota_strerror(INT32_MIN), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc32_matches_the_zlib_check_value),
		cmocka_unit_test(le_fields_round_trip_byte_by_byte),
		cmocka_unit_test(simflash_obeys_nor_rules),
		cmocka_unit_test(simflash_cuts_power_before_operation_n),
		cmocka_unit_test(numbers_scan_and_format),
		cmocka_unit_test(strcaseeq_folds_letters_only),
		cmocka_unit_test(flash_valid_checks_the_geometry),
		cmocka_unit_test(error_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
