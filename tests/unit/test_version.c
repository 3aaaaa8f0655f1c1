/* Unit tests of fota_version_cmp: the table of docs/version-compare.md, row by row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fota/version.h"

struct row {
	const char *a, *b;
	int want; /* -1: a < b, 0: equal, 1: a > b */
};

/* Keep in step with the table in docs/version-compare.md. */
static const struct row table[] = {
	{ "V1121", "V1147", -1 },
	{ "1.9.0", "1.10.0", -1 },
	{ "AirM2M_780E_V1121_LTE_AT", "AirM2M_780E_V1147_LTE_AT", -1 },
	{ "AirM2M_780E_V999_LTE_AT", "AirM2M_780E_V1121_LTE_AT", -1 },
	{ "1.2.3", "1.2.3", 0 },
	{ "1.0.10", "1.0.9", 1 },
	{ "2.0", "10.0", -1 },
	{ "1.2", "1.2.0", -1 },
	{ "1.0.0", "1.0.0.0", -1 },
	{ "1.02", "1.2", 0 },
	{ "007", "7", 0 },
	{ "0", "", 1 },
	{ "", "", 0 },
	{ "99999999999999999999999", "100000000000000000000000", -1 },
	{ "18446744073709551616", "18446744073709551615", 1 },
	{ "1.0a", "1.0b", -1 },
	{ "1.0", "1.0a", -1 },
	{ "V1121", "v1121", -1 },
	{ "1.0", "1_0", -1 },
	{ "1a", "12", -1 },
	{ "a1", "1a", 1 },
	{ "1.2.3-rc1", "1.2.3", 1 },
};

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static void each_row_of_the_table_compares_as_documented(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct row *r = &table[i];

		if (sign(fota_version_cmp(r->a, r->b)) != r->want)
			fail_msg("row %zu: cmp(\"%s\", \"%s\") should be %d", i, r->a, r->b, r->want);
	}
}

static void swapping_the_arguments_reverses_the_sign(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct row *r = &table[i];

		if (sign(fota_version_cmp(r->b, r->a)) != -r->want)
			fail_msg("row %zu swapped: cmp(\"%s\", \"%s\") should be %d", i, r->b, r->a,
				 -r->want);
	}
}

static void null_counts_as_the_empty_string(void **state)
{
	(void)state;
	assert_int_equal(fota_version_cmp(NULL, ""), 0);
	assert_int_equal(fota_version_cmp(NULL, NULL), 0);
	assert_true(fota_version_cmp(NULL, "1") < 0);
	assert_true(fota_version_cmp("1", NULL) > 0);
}

static void build_numbers_order_a_run_of_releases(void **state)
{
	static const char *const seq[] = {
		"AirM2M_780E_V9_LTE_AT", "AirM2M_780E_V10_LTE_AT", "AirM2M_780E_V99_LTE_AT",
		"AirM2M_780E_V100_LTE_AT", "AirM2M_780E_V1121_LTE_AT", "AirM2M_780E_V1147_LTE_AT",
	};

	(void)state;
	for (size_t i = 0; i + 1 < sizeof(seq) / sizeof(seq[0]); i++)
		for (size_t j = i + 1; j < sizeof(seq) / sizeof(seq[0]); j++)
			assert_true(fota_version_cmp(seq[i], seq[j]) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_row_of_the_table_compares_as_documented),
		cmocka_unit_test(swapping_the_arguments_reverses_the_sign),
		cmocka_unit_test(null_counts_as_the_empty_string),
		cmocka_unit_test(build_numbers_order_a_run_of_releases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
