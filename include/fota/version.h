/*
 * version.h - comparison of firmware version strings.
 *
 * The module upgrades only to a greater version. Versions come in two shapes on the Luat
 * platform: LuatOS's "x.y.z" and the AT firmware's "AirM2M_780E_V1121_LTE_AT" (the number
 * after "_V" is the build). One rule orders both: runs of digits compare as numbers, every
 * other byte compares as itself. See docs/version-compare.md for the table of cases.
 */
#ifndef FOTA_VERSION_H
#define FOTA_VERSION_H

#include "fota/fota.h"

#ifdef __cplusplus
extern "C" {
#endif

/* fota_version_cmp: orders two NUL-terminated version strings (owned by the caller, only
 * read). Both are walked from the left: where both hold a run of digits, the runs compare
 * as unsigned numbers of any length (leading zeros ignored, so "007" equals "7", and no
 * number is too long: nothing overflows); elsewhere the bytes compare as unsigned values
 * (so the comparison is case-sensitive and '.' < '0'-'9' < 'A'-'Z' < '_' < 'a'-'z').
 * When one string ends first, it is the smaller. Examples: "V1121" < "V1147",
 * "1.9.0" < "1.10.0", "1.2" < "1.2.0". A NULL pointer counts as "".
 * Returns a negative value if a < b, 0 if they are equal under this rule, positive if
 * a > b (only the sign is meaningful). */
int fota_version_cmp(const char *a, const char *b);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_VERSION_H */
