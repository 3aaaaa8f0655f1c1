/*
 * basic.c - the basic commands of a Luat-style module (ATI, AT+CGMR, AT+CGSN, AT+CFUN,
 * AT+CSQ, AT+CREG) as the emulated module answers them (see fota/module.h). A firmware
 * gives them to fota_module_init as its extra commands; a real module's firmware answers
 * them itself, and does not link them.
 */
#include "fota/module.h"

#define MOD(user) ((struct fota_module *)(user))

static void info_line(struct fota_at *at, const char *a, const char *b)
{
	fota_at_print(at, a);
	fota_at_print(at, b);
	fota_at_endl(at);
}

static int cmd_ati(struct fota_at *at, void *user, enum fota_at_kind kind, const char *args,
		   size_t len)
{
	const struct fota_module_info *info = MOD(user)->info;

	if (kind == FOTA_AT_SET && !(len == 1 && args[0] == '0'))
		return FOTA_ERR_INVAL;
	info_line(at, info->manufacturer, "");
	info_line(at, info->model, "");
	info_line(at, "Revision: ", info->version);
	return FOTA_OK;
}

/* AT+CGMR and AT+CGSN: one line on execute, OK on test, ERROR otherwise. */
static int one_line(struct fota_at *at, enum fota_at_kind kind, const char *text)
{
	if (kind == FOTA_AT_TEST)
		return FOTA_OK;
	if (kind != FOTA_AT_EXEC)
		return FOTA_ERR_INVAL;
	info_line(at, text, "");
	return FOTA_OK;
}

static int cmd_cgmr(struct fota_at *at, void *user, enum fota_at_kind kind, const char *args,
		    size_t len)
{
	(void)args;
	(void)len;
	return one_line(at, kind, MOD(user)->info->version);
}

static int cmd_cgsn(struct fota_at *at, void *user, enum fota_at_kind kind, const char *args,
		    size_t len)
{
	(void)args;
	(void)len;
	return one_line(at, kind, MOD(user)->info->imei);
}

static int cmd_cfun(struct fota_at *at, void *user, enum fota_at_kind kind, const char *args,
		    size_t len)
{
	struct fota_module *m = MOD(user);
	uint32_t v;
	int err;

	switch (kind) {
	case FOTA_AT_READ:
		fota_at_print(at, "+CFUN: ");
		fota_at_print_u32(at, m->radio_on);
		fota_at_endl(at);
		return FOTA_OK;
	case FOTA_AT_TEST:
		info_line(at, "+CFUN: (0,1)", "");
		return FOTA_OK;
	case FOTA_AT_SET:
		err = fota_at_one_u32(args, len, 1, &v);
		if (!err)
			m->radio_on = v == 1;
		return err;
	default:
		return FOTA_ERR_INVAL;
	}
}

static int cmd_csq(struct fota_at *at, void *user, enum fota_at_kind kind, const char *args,
		   size_t len)
{
	(void)args;
	(void)len;
	if (kind == FOTA_AT_TEST) {
		info_line(at, "+CSQ: (0-31,99),(99)", "");
		return FOTA_OK;
	}
	if (kind != FOTA_AT_EXEC)
		return FOTA_ERR_INVAL;
	/* The emulated cell is a good one: RSSI 26 (-61 dBm); 99 = unknown with the radio off. */
	info_line(at, "+CSQ: ", MOD(user)->radio_on ? "26,99" : "99,99");
	return FOTA_OK;
}

static int cmd_creg(struct fota_at *at, void *user, enum fota_at_kind kind, const char *args,
		    size_t len)
{
	uint32_t v;

	switch (kind) {
	case FOTA_AT_READ:
		/* n = 0 (no URCs); stat 1 registered (home) while the radio is on, 0 otherwise. */
		info_line(at, "+CREG: 0,", MOD(user)->radio_on ? "1" : "0");
		return FOTA_OK;
	case FOTA_AT_TEST:
		info_line(at, "+CREG: (0)", "");
		return FOTA_OK;
	case FOTA_AT_SET:
		return fota_at_one_u32(args, len, 0, &v);
	default:
		return FOTA_ERR_INVAL;
	}
}

const struct fota_at_cmd fota_module_basic_cmds[FOTA_MODULE_BASIC_CMDS] = {
	{ "I", cmd_ati },
	{ "+CGMR", cmd_cgmr },
	{ "+CGSN", cmd_cgsn },
	{ "+CFUN", cmd_cfun },
	{ "+CSQ", cmd_csq },
	{ "+CREG", cmd_creg },
};
