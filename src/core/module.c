/* module.c - the module's command table and AT+UPGRADE (see fota/module.h). */
#include <string.h>

#include "fota/module.h"

/* Static RAM budget: the AT engine with the settings, beyond the line buffer. */
FOTA_STATIC_ASSERT(sizeof(struct fota_module) - FOTA_AT_LINE_MAX <= 1024, module_ram_budget);
/* The line buffer holds the longest legal line: AT+UPGRADE="URL","<255>",1 */
FOTA_STATIC_ASSERT(FOTA_AT_LINE_MAX >= sizeof("AT+UPGRADE=\"URL\",\"\",1") - 1 + FOTA_URL_MAX,
		   line_holds_longest_url);

#define MOD(user) ((struct fota_module *)(user))

/* ---- AT+UPGRADE ------------------------------------------------------------------- */

/* The start of an answer line about a setting: +UPGRADE: "<TAG>", */
static void print_tag(struct fota_at *at, enum fota_tag tag)
{
	const char *name = fota_tag_name(tag);

	fota_at_print(at, "+UPGRADE: ");
	fota_at_print_quoted(at, name, strlen(name));
	fota_at_print(at, ",");
}

static void print_tag_value(struct fota_at *at, const struct fota_settings *s, enum fota_tag tag)
{
	struct fota_setting_value v;

	print_tag(at, tag);
	fota_settings_get(s, tag, &v);
	if (v.str)
		fota_at_print_quoted(at, v.str, v.len);
	else
		fota_at_print_u32(at, v.num);
	fota_at_endl(at);
}

/* The test form's answer, one line per setting (in enum fota_tag's order), 27.007 style:
 * a string's maximum length or a number's range, then savetoNV's. */
static void print_test(struct fota_at *at)
{
	static const char *const range[FOTA_TAG_COUNT] = { "64", "(0,1)", "(60-4294967295)",
							   "255" };
	unsigned tag;

	for (tag = 0; tag < FOTA_TAG_COUNT; tag++) {
		print_tag(at, (enum fota_tag)tag);
		fota_at_print(at, range[tag]);
		fota_at_print(at, ",(0,1)");
		fota_at_endl(at);
	}
}

/* ",<v>" of an answer line. */
static void field(struct fota_at *at, int32_t v)
{
	fota_at_print(at, ",");
	fota_at_print_i32(at, v);
}

static void print_status(struct fota_at *at, const struct fota_status *st)
{
	fota_at_print(at, "+UPGRADE: ");
	fota_at_print_u32(at, st->state);
	if (st->state == 1) {
		field(at, st->percent);
	} else if (st->state == 2) {
		field(at, st->code);
		field(at, st->http);
		field(at, st->cause);
	}
	fota_at_endl(at);
}

static int upgrade_set(struct fota_module *m, const char *args, size_t len)
{
	struct fota_at_arg a[3];
	struct fota_setting_value v = { 0 };
	enum fota_tag tag;
	uint32_t save = 0;
	unsigned n;
	int err;

	err = fota_at_split_args(args, len, a, 3, &n);
	if (err)
		return err;
	if (n == 0 || !a[0].quoted)
		return FOTA_ERR_INVAL;
	for (tag = FOTA_TAG_KEY; tag < FOTA_TAG_COUNT; tag++)
		if (fota_strcaseeq(a[0].p, a[0].len, fota_tag_name(tag)))
			break;
	if (tag == FOTA_TAG_COUNT)
		return FOTA_ERR_INVAL;
	if (n == 1) {
		print_tag_value(&m->at, &m->settings.now, tag);
		return FOTA_OK;
	}
	if (tag == FOTA_TAG_KEY || tag == FOTA_TAG_URL) {
		if (!a[1].quoted)
			return FOTA_ERR_INVAL;
		v.str = a[1].p;
		v.len = a[1].len;
	} else {
		err = fota_at_arg_u32(&a[1], 0, UINT32_MAX, &v.num);
		if (err)
			return err;
	}
	if (n == 3) {
		err = fota_at_arg_u32(&a[2], 0, 1, &save);
		if (err)
			return err;
	}
	/* savetoNV: 0 (the default) saves to NV, 1 keeps the value until the next reboot. */
	return fota_settings_set(&m->settings, &m->nv, tag, &v, save == 0);
}

static int cmd_upgrade(struct fota_at *at, void *user, enum fota_at_kind kind, const char *args,
		       size_t len)
{
	struct fota_module *m = MOD(user);

	switch (kind) {
	case FOTA_AT_EXEC:
		return m->upgrade ? m->upgrade(m, m->upgrade_ctx) : FOTA_ERR_NOTSUP;
	case FOTA_AT_READ:
		print_status(at, &m->status);
		return FOTA_OK;
	case FOTA_AT_TEST:
		print_test(at);
		return FOTA_OK;
	default:
		return upgrade_set(m, args, len);
	}
}

static const struct fota_at_cmd commands[] = {
	{ "+UPGRADE", cmd_upgrade },
};

/* ---- upgrade results ------------------------------------------------------------------ */

/* The <error code> of each error an attempt ends with: -(1000 + code) for -err; any
 * other error is -1006. */
static const uint8_t upgrade_codes[][2] = {
	{ -FOTA_ERR_VERIFY, 3 }, { -FOTA_ERR_ROLLBACK, 3 }, { -FOTA_ERR_CORRUPT, 3 },
	{ -FOTA_ERR_BADMSG, 3 }, { -FOTA_ERR_NOTSUP, 3 },
	{ -FOTA_ERR_FBIG, 5 }, { -FOTA_ERR_NOSPC, 5 }, { -FOTA_ERR_IO, 5 },
	{ -FOTA_ERR_FLASH_RULE, 5 }, { -FOTA_ERR_POWER, 5 },
	{ -FOTA_ERR_NETDOWN, 1 }, { -FOTA_ERR_DNS, 1 }, { -FOTA_ERR_TIMEDOUT, 1 },
	{ -FOTA_ERR_CONNREFUSED, 2 }, { -FOTA_ERR_TLS, 2 }, { -FOTA_ERR_CONNRESET, 2 },
};

int fota_upgrade_code(int err)
{
	unsigned e = 0u - (unsigned)err;
	int code = 6;

	if (!err)
		return 0;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(upgrade_codes); i++)
		if (upgrade_codes[i][0] == e)
			code = upgrade_codes[i][1];
	return -1000 - code;
}

/* Status NV record: state, code (le16, two's complement), http (le16), cause (le16). */
#define STATUS_REC 7

static void load_status(struct fota_module *m)
{
	uint8_t b[STATUS_REC];
	size_t len;

	if (fota_nv_read(&m->nv, FOTA_NV_STATUS, b, sizeof(b), &len) || len != STATUS_REC ||
	    b[0] != 2)
		return; /* none, or not a result: "no FOTA has run" */
	m->status.state = 2;
	m->status.code = (int16_t)fota_get_le16(b + 1);
	m->status.http = fota_get_le16(b + 3);
	m->status.cause = fota_get_le16(b + 5);
}

int fota_module_set_status(struct fota_module *m, const struct fota_status *st)
{
	uint8_t b[STATUS_REC];

	m->status = *st;
	if (st->state != 2)
		return FOTA_OK;
	b[0] = 2;
	fota_put_le16(b + 1, (uint16_t)st->code);
	fota_put_le16(b + 3, st->http);
	fota_put_le16(b + 5, st->cause);
	return fota_nv_write(&m->nv, FOTA_NV_STATUS, b, sizeof(b));
}

int fota_module_upgrade_done(struct fota_module *m, int result, bool new_boot)
{
	struct fota_status st = { .state = 2, .http = m->status.http };
	const char *v = m->info->version;

	st.code = (int16_t)fota_upgrade_code(result);
	if (new_boot) {
		char line[sizeof("+UPGRADEVER: \"\"") + FOTA_VERSION_MAX];
		size_t n = strlen(v);

		if (n > FOTA_VERSION_MAX)
			n = FOTA_VERSION_MAX;

		memcpy(line, "+UPGRADEVER: \"", 14);
		memcpy(line + 14, v, n);
		line[14 + n] = '"';
		line[15 + n] = '\0';
		fota_at_urc(&m->at, line);
	}
	return fota_module_set_status(m, &st);
}

int fota_module_init(struct fota_module *m, const struct fota_module_config *cfg)
{
	int err;

	memset(m, 0, sizeof(*m));
	if (!cfg->info || !cfg->write)
		return FOTA_ERR_INVAL;
	m->info = cfg->info;
	m->upgrade = cfg->upgrade;
	m->upgrade_ctx = cfg->upgrade_ctx;
	m->radio_on = true;
	fota_at_init(&m->at, commands, FOTA_ARRAY_SIZE(commands), m, cfg->write, cfg->write_ctx);
	m->at.more = cfg->cmds;
	m->at.nmore = cfg->cmds ? cfg->ncmds : 0;
	fota_settings_default(&m->settings.now);
	fota_settings_default(&m->settings.saved);
	err = fota_nv_mount(&m->nv, cfg->flash, cfg->nv_base, cfg->nv_size);
	if (err)
		return err;
	load_status(m);
	err = fota_settings_load(&m->settings, &m->nv);
	/* No record yet, or a damaged one: the defaults stand, as on a new module. */
	return err == FOTA_ERR_NOENT || err == FOTA_ERR_CORRUPT ? FOTA_OK : err;
}

void fota_module_ready(struct fota_module *m)
{
	fota_at_urc(&m->at, "RDY");
}

void fota_module_input(struct fota_module *m, const char *data, size_t len)
{
	fota_at_input(&m->at, data, len);
}
