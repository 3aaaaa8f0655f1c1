/*
 * settings.h - the AT+UPGRADE settings (KEY, AUTO, PERIOD, URL): validation, defaults,
 * and their NV record.
 *
 * Two copies are kept: the values in force (what AT+UPGRADE="TAG" answers and the agent
 * uses) and the values saved in NV (what the next boot starts with). A set with
 * savetoNV 0 writes NV first and changes both only when the record is committed; a set
 * with savetoNV 1 changes only the values in force.
 */
#ifndef FOTA_SETTINGS_H
#define FOTA_SETTINGS_H

#include "fota/nv.h"

#ifdef __cplusplus
extern "C" {
#endif

enum fota_tag { FOTA_TAG_KEY, FOTA_TAG_AUTO, FOTA_TAG_PERIOD, FOTA_TAG_URL, FOTA_TAG_COUNT };

struct fota_settings {
	uint32_t period;            /* seconds between automatic checks, >= 60 */
	uint8_t autoup;             /* 1: periodic checks on */
	char key[FOTA_KEY_MAX + 1]; /* ProductKey, NUL-terminated, may be empty */
	char url[FOTA_URL_MAX + 1]; /* firmware URL, NUL-terminated; empty: KEY mode */
};

struct fota_settings_store {
	struct fota_settings now;   /* in force */
	struct fota_settings saved; /* as in NV */
};

/* The value of one setting: a string (key, url) or a number (auto, period). */
struct fota_setting_value {
	const char *str; /* the caller's bytes, not terminated; NULL for numbers */
	size_t len;
	uint32_t num;
};

/* fota_settings_default: KEY "", AUTO 1, PERIOD 86400, URL "". */
void fota_settings_default(struct fota_settings *s);

/* fota_tag_name: "KEY", "AUTO", "PERIOD" or "URL". */
const char *fota_tag_name(enum fota_tag tag);

/* fota_settings_get: the value of tag in s as *v: the string (s's, NUL-terminated) and
 * its length for KEY and URL, the number (str NULL) for AUTO and PERIOD. */
void fota_settings_get(const struct fota_settings *s, enum fota_tag tag,
		       struct fota_setting_value *v);

/* fota_settings_check: checks v against the contract's rules for tag: KEY 0-64 printable
 * characters without '"'; AUTO 0 or 1; PERIOD 60-4294967295; URL empty or a parseable
 * http:// or https:// URL of at most 255 bytes. Returns FOTA_OK, FOTA_ERR_INVAL (wrong
 * type or form), FOTA_ERR_RANGE, FOTA_ERR_TOOLONG or FOTA_ERR_BADMSG (bad characters). */
int fota_settings_check(enum fota_tag tag, const struct fota_setting_value *v);

/* fota_settings_load: reads the saved settings from nv into both copies of st; defaults
 * when there is no record or it is damaged (then returns FOTA_ERR_NOENT or
 * FOTA_ERR_CORRUPT, and st holds the defaults); FOTA_OK when loaded. */
int fota_settings_load(struct fota_settings_store *st, struct fota_nv *nv);

/* fota_settings_set: checks and sets tag to v; with save, writes NV first (a record
 * built on a 328-byte stack buffer). On any error nothing changes. Returns FOTA_OK, an
 * error of fota_settings_check, or the NV store's error. */
int fota_settings_set(struct fota_settings_store *st, struct fota_nv *nv, enum fota_tag tag,
		      const struct fota_setting_value *v, bool save);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_SETTINGS_H */
