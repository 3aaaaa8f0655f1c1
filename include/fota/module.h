/*
 * module.h - the module's AT side: the command table a Luat-style module answers
 * (AT, ATE, ATI, AT+CGMR, AT+CGSN, AT+CMEE, AT+CFUN, AT+CSQ, AT+CREG, AT+UPGRADE), its
 * settings in NV and the state AT+UPGRADE? reports.
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
};

struct fota_module {
	struct fota_at at;
	struct fota_settings_store settings;
	struct fota_nv nv;
	struct fota_status status;
	const struct fota_module_info *info;
	fota_upgrade_fn upgrade;
	void *upgrade_ctx;
	bool radio_on; /* AT+CFUN: 1 after boot */
};

/* fota_module_init: a module after power-on: mounts NV and loads the settings (defaults
 * when NV holds none, or a damaged record). cfg and what it points to are borrowed.
 * Returns FOTA_OK, FOTA_ERR_INVAL for a bad config, or the flash's error while mounting
 * NV (the module still answers AT then, with default settings). */
int fota_module_init(struct fota_module *m, const struct fota_module_config *cfg);

/* fota_module_ready: says RDY to the host: the module accepts commands. */
void fota_module_ready(struct fota_module *m);

/* fota_module_input: the host's bytes (len at data, the caller's); see fota_at_input. */
void fota_module_input(struct fota_module *m, const char *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_MODULE_H */
