/* settings.c - AT+UPGRADE settings and their NV record (see fota/settings.h). */
#include <string.h>

#include "fota/settings.h"
#include "fota/url.h"

/* NV record, little-endian, byte by byte:
 *   0 format (1) | 1 auto | 2..5 period | 6 key length | key | url length (2) | url */
#define REC_FORMAT 1
#define REC_MAX (6 + 1 + FOTA_KEY_MAX + 2 + FOTA_URL_MAX)

FOTA_STATIC_ASSERT(REC_MAX <= FOTA_NV_RECORD_MAX, settings_record_fits_nv);

/* The names in enum fota_tag's order, then "?" for any other. */
static const char tag_names[] = "KEY\0AUTO\0PERIOD\0URL\0?";

const char *fota_tag_name(enum fota_tag tag)
{
	const char *p = tag_names;
	unsigned t;

	for (t = 0; t < tag && t < FOTA_TAG_COUNT; t++)
		p += strlen(p) + 1;
	return p;
}

void fota_settings_default(struct fota_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->autoup = 1;
	s->period = FOTA_PERIOD_DEFAULT;
}

static int check_key(const char *k, size_t len)
{
	if (len > FOTA_KEY_MAX)
		return FOTA_ERR_TOOLONG;
	for (size_t i = 0; i < len; i++)
		if (k[i] < ' ' || k[i] > '~' || k[i] == '"')
			return FOTA_ERR_BADMSG;
	return FOTA_OK;
}

static int check_url(const char *u, size_t len)
{
	struct fota_url url;

	if (len == 0)
		return FOTA_OK;
	return fota_url_parse(u, len, &url);
}

int fota_settings_check(enum fota_tag tag, const struct fota_setting_value *v)
{
	bool is_str = tag == FOTA_TAG_KEY || tag == FOTA_TAG_URL;

	if (tag >= FOTA_TAG_COUNT || is_str != (v->str != NULL))
		return FOTA_ERR_INVAL;
	switch (tag) {
	case FOTA_TAG_KEY: return check_key(v->str, v->len);
	case FOTA_TAG_URL: return check_url(v->str, v->len);
	case FOTA_TAG_AUTO: return v->num <= 1 ? FOTA_OK : FOTA_ERR_RANGE;
	default: return v->num >= FOTA_PERIOD_MIN ? FOTA_OK : FOTA_ERR_RANGE;
	}
}

static void apply(struct fota_settings *s, enum fota_tag tag, const struct fota_setting_value *v)
{
	char *d = tag == FOTA_TAG_KEY ? s->key : s->url;

	if (tag == FOTA_TAG_KEY || tag == FOTA_TAG_URL) {
		memcpy(d, v->str, v->len);
		d[v->len] = '\0';
	} else if (tag == FOTA_TAG_AUTO) {
		s->autoup = (uint8_t)v->num;
	} else {
		s->period = v->num;
	}
}

void fota_settings_get(const struct fota_settings *s, enum fota_tag tag,
		       struct fota_setting_value *v)
{
	v->str = tag == FOTA_TAG_KEY ? s->key : tag == FOTA_TAG_URL ? s->url : NULL;
	v->len = v->str ? strlen(v->str) : 0;
	v->num = tag == FOTA_TAG_AUTO ? s->autoup : s->period;
}

/* Encodes s, with tag replaced by v, into b (REC_MAX bytes); returns the length. Out of
 * line: its values are on the stack only while it runs, not under fota_nv_write. */
FOTA_NOINLINE static size_t encode(const struct fota_settings *s, enum fota_tag tag,
				   const struct fota_setting_value *v, uint8_t *b)
{
	struct fota_setting_value f[FOTA_TAG_COUNT];
	size_t kl, ul;
	unsigned t;

	for (t = 0; t < FOTA_TAG_COUNT; t++)
		fota_settings_get(s, (enum fota_tag)t, &f[t]);
	f[tag] = *v;
	kl = f[FOTA_TAG_KEY].len;
	ul = f[FOTA_TAG_URL].len;
	b[0] = REC_FORMAT;
	b[1] = (uint8_t)f[FOTA_TAG_AUTO].num;
	fota_put_le32(b + 2, f[FOTA_TAG_PERIOD].num);
	b[6] = (uint8_t)kl;
	memcpy(b + 7, f[FOTA_TAG_KEY].str, kl);
	fota_put_le16(b + 7 + kl, (uint16_t)ul);
	memcpy(b + 9 + kl, f[FOTA_TAG_URL].str, ul);
	return 9 + kl + ul;
}

/* Decodes and re-checks every field: a record that passed its CRC but holds values the
 * contract forbids (an older firmware's bug, a bit flip) is refused as a whole. */
static int decode(struct fota_settings *s, const uint8_t *b, size_t len)
{
	struct fota_setting_value v[FOTA_TAG_COUNT];
	size_t kl, ul;
	int tag;

	if (len < 9 || b[0] != REC_FORMAT)
		return FOTA_ERR_CORRUPT;
	kl = b[6];
	if (7 + kl + 2 > len)
		return FOTA_ERR_CORRUPT;
	ul = fota_get_le16(b + 7 + kl);
	if (7 + kl + 2 + ul != len)
		return FOTA_ERR_CORRUPT;
	/* (check and apply read str of every value, len of a string, num of a number) */
	v[FOTA_TAG_AUTO].str = NULL;
	v[FOTA_TAG_PERIOD].str = NULL;
	v[FOTA_TAG_KEY].str = (const char *)b + 7;
	v[FOTA_TAG_KEY].len = kl;
	v[FOTA_TAG_AUTO].num = b[1];
	v[FOTA_TAG_PERIOD].num = fota_get_le32(b + 2);
	v[FOTA_TAG_URL].str = (const char *)b + 7 + kl + 2;
	v[FOTA_TAG_URL].len = ul;
	fota_settings_default(s);
	for (tag = 0; tag < FOTA_TAG_COUNT; tag++) {
		if (fota_settings_check((enum fota_tag)tag, &v[tag]))
			return FOTA_ERR_CORRUPT;
		apply(s, (enum fota_tag)tag, &v[tag]);
	}
	return FOTA_OK;
}

int fota_settings_load(struct fota_settings_store *st, struct fota_nv *nv)
{
	uint8_t rec[REC_MAX];
	size_t len;
	int err;

	err = fota_nv_read(nv, FOTA_NV_SETTINGS, rec, sizeof(rec), &len);
	if (err == FOTA_ERR_NOMEM)
		err = FOTA_ERR_CORRUPT;
	if (!err)
		err = decode(&st->saved, rec, len);
	if (err)
		fota_settings_default(&st->saved);
	st->now = st->saved;
	return err;
}

int fota_settings_set(struct fota_settings_store *st, struct fota_nv *nv, enum fota_tag tag,
		      const struct fota_setting_value *v, bool save)
{
	uint8_t rec[REC_MAX];
	int err;

	err = fota_settings_check(tag, v);
	if (err)
		return err;
	if (save) {
		err = fota_nv_write(nv, FOTA_NV_SETTINGS, rec, encode(&st->saved, tag, v, rec));
		if (err)
			return err;
		apply(&st->saved, tag, v);
	}
	apply(&st->now, tag, v);
	return FOTA_OK;
}
