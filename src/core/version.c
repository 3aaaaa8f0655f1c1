/* version.c - version strings ordered with numbers inside (see version.h). */
#include <string.h>

#include "fota/version.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int fota_version_cmp(const char *a, const char *b)
{
	size_t la, lb;

	if (!a)
		a = "";
	if (!b)
		b = "";
	for (;;) {
		if (is_digit(*a) && is_digit(*b)) {
			/* Two runs of digits: without their leading zeros, the longer run is the
			 * larger number; runs of the same length compare digit by digit, so walk
			 * them while they agree (past both runs when they are equal). */
			while (*a == '0')
				a++;
			while (*b == '0')
				b++;
			for (la = 0; is_digit(a[la]); la++)
				;
			for (lb = 0; is_digit(b[lb]); lb++)
				;
			if (la != lb)
				return la < lb ? -1 : 1;
			for (; la && *a == *b; la--) {
				a++;
				b++;
			}
		}
		/* Any other byte (or the differing digit) compares as an unsigned value; the
		 * string that ends first is the smaller. */
		if (*a != *b || !*a)
			return (uint8_t)*a - (uint8_t)*b;
		a++;
		b++;
	}
}
