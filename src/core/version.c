/* version.c - version strings ordered with numbers inside (see version.h). */
#include <string.h>

#include "fota/version.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Compares the digit runs at *pa and *pb as numbers and moves both past their run.
 * Returns <0, 0 or >0. */
static int cmp_number(const char **pa, const char **pb)
{
	const char *a = *pa, *b = *pb;
	size_t la = 0, lb = 0;
	int first_diff = 0;

	while (*a == '0')
		a++;
	while (*b == '0')
		b++;
	/* Walk both runs together: the first differing digit decides between runs of the
	 * same length; a longer run (without its leading zeros) is the larger number. */
	while (is_digit(a[la]) && is_digit(b[lb])) {
		if (!first_diff && a[la] != b[lb])
			first_diff = a[la] < b[lb] ? -1 : 1;
		la++;
		lb++;
	}
	while (is_digit(a[la]))
		la++;
	while (is_digit(b[lb]))
		lb++;
	*pa = a + la;
	*pb = b + lb;
	if (la != lb)
		return la < lb ? -1 : 1;
	return first_diff;
}

int fota_version_cmp(const char *a, const char *b)
{
	if (!a)
		a = "";
	if (!b)
		b = "";
	while (*a && *b) {
		if (is_digit(*a) && is_digit(*b)) {
			int r = cmp_number(&a, &b);

			if (r)
				return r;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	if (*a == *b)
		return 0;
	return *a ? 1 : -1;
}
