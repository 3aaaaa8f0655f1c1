/*
 * module.h - the module's AT side: AT+UPGRADE (with the engine's AT, ATE, AT+CMEE), its
 * settings in NV and the state AT+UPGRADE? reports; the firmware adds its own commands.
 * The basic commands of a Luat-style module as the emulated module answers them (ATI,
 * AT+CGMR, AT+CGSN, AT+CFUN, AT+CSQ, AT+CREG) are a table a firmware may add
 * (fota_module_basic_cmds; fotad does); a real module's firmware has its own.
 *
 * One struct fota_module holds everything; the firmware (or fotad) gives it a flash, an
 * NV area, the identity strings and a writer to the host, feeds it the host's bytes and
 * calls fota_module_ready() when it accepts commands.
 */
#ifndef FOTA_MODULE_H
#define FOTA_MODULE_H

#include "fota/at.h"
#include "fota/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What ATI, AT+CGMR and AT+CGSN answer. Strings are the caller's, NUL-terminated, and
 * must outlive the module. */
struct fota_module_info {
	const char *manufacturer; /* "AirM2M" */
	const char *model;        /* "Air780E" */
	const char *version;      /* the running firmware's version */
	const char *imei;         /* 15 digits */
};

/* AT+UPGRADE? : state 0 nothing ran; 1 downloading (percent); 2 result of the last
 * attempt (code: 0 or -1000..-1006; http: status or 0; cause: the server's code or 0). */
struct fota_status {
	uint8_t state;
	uint8_t percent;
	int16_t code;
	uint16_t http;
	uint16_t cause;
};

struct fota_module;

/* The execute form AT+UPGRADE: start a check and download now. Returns FOTA_OK (the
 * module answers OK and the upgrade runs in the background) or an enum fota_err such as
 * FOTA_ERR_BUSY while one runs. */
typedef int (*fota_upgrade_fn)(struct fota_module *m, void *ctx);

struct fota_module_config {
	const struct fota_flash *flash;       /* borrowed for the module's life */
	uint32_t nv_base, nv_size;            /* the NV area in that flash */
	const struct fota_module_info *info;  /* borrowed */
	fota_at_write_fn write;               /* bytes to the host */
	void *write_ctx;
	fota_upgrade_fn upgrade;              /* NULL: AT+UPGRADE answers +CME ERROR: 4 */
	void *upgrade_ctx;
	const struct fota_at_cmd *cmds;       /* the firmware's commands (ncmds entries,
					       * borrowed; NULL: none), answered after
					       * AT+UPGRADE; their handlers get the module
					       * as user */
	size_t ncmds;
};

struct fota_module {
	/* (the fields used most come first: on Cortex-M their loads and stores are shorter) */
	struct fota_nv nv;
	bool radio_on; /* the radio is on (AT+CFUN): true after boot; the firmware's
			* commands set it, the agent fails at once (-1001) while it is off */
	struct fota_status status;
	const struct fota_module_info *info;
	fota_upgrade_fn upgrade;
	void *upgrade_ctx;
	struct fota_settings_store settings;
	struct fota_at at;
};

/* The basic commands as the emulated module answers them (docs/at-commands.md 8-9):
 * ATI, AT+CGMR, AT+CGSN (from the module's info), AT+CFUN (sets radio_on), AT+CSQ and
 * AT+CREG (a good cell while the radio is on). For fota_module_config.cmds. */
#define FOTA_MODULE_BASIC_CMDS 6
extern const struct fota_at_cmd fota_module_basic_cmds[FOTA_MODULE_BASIC_CMDS];

/* fota_module_init: a module after power-on: mounts NV and loads the settings (defaults
 * when NV holds none, or a damaged record). cfg and what it points to are borrowed.
 * Returns FOTA_OK, FOTA_ERR_INVAL for a bad config, or the flash's error while mounting
 * NV (the module still answers AT then, with default settings). */
int fota_module_init(struct fota_module *m, const struct fota_module_config *cfg);

/* fota_module_ready: says RDY to the host: the module accepts commands. */
void fota_module_ready(struct fota_module *m);

/* fota_module_input: the host's bytes (len at data, the caller's); see fota_at_input. */
void fota_module_input(struct fota_module *m, const char *data, size_t len);

/* fota_upgrade_code: the <error code> of AT+UPGRADE? (0, -1000..-1006) for an enum
 * fota_err of an upgrade attempt: VERIFY, ROLLBACK, CORRUPT, BADMSG, NOTSUP -> -1003
 * (invalid firmware); FBIG, NOSPC, IO, FLASH_RULE, POWER -> -1005 (firmware store);
 * NETDOWN, DNS, TIMEDOUT -> -1001 (network); CONNREFUSED, TLS, CONNRESET -> -1002
 * (connection); PROTO, BADMSG of HTTP are told apart by the download itself; anything
 * else -> -1006. */
int fota_upgrade_code(int err);

/* fota_module_set_status: makes st (the caller's) what AT+UPGRADE? answers. A result
 * (state 2) is also written to NV, so it survives the upgrade's reboots and power cuts;
 * the transient state 1 is not. Returns FOTA_OK or the NV store's error (the answer in
 * RAM is changed anyway). */
int fota_module_set_status(struct fota_module *m, const struct fota_status *st);

/* fota_module_upgrade_done: called once after fota_module_ready() when the boot code
 * ended an upgrade attempt on this power-on. result: FOTA_OK when the new firmware runs
 * and confirmed itself, else why it failed (the staged image did not verify, or the new
 * firmware never confirmed and was reverted). new_boot: a firmware other than the one
 * that downloaded booted (installed or reverted to): the host is told the version now
 * running with +UPGRADEVER: "<version>" (the agent then says +UPGRADEVER: <reported>).
 * Records state 2 with the result, keeping the HTTP status of the download. Returns
 * what fota_module_set_status returns. */
int fota_module_upgrade_done(struct fota_module *m, int result, bool new_boot);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_MODULE_H */
