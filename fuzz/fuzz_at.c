/*
 * fuzz_at.c - the AT engine and the module's commands (AT+UPGRADE, settings in NV) fed
 * the host's bytes in chunks.
 *
 * Input: 4 bytes of setup, then the bytes the host sends.
 *   [0] bits 0-1: flash program size 1, 4, 8 or 16
 *       bit 2: cut the power before flash operation [1] (bit 3: torn, else clean)
 *       bit 4: AT+UPGRADE (execute) has a hook; bit 5: the hook records a result in NV
 *       (fota_module_upgrade_done) and says a URC; bit 6: a URC between chunks
 *   [1] the flash operation the power cut comes before (1-based)
 *   [2] chunking: 0 byte by byte, 1..254 random lengths up to it, 255 up to all
 *   [3] seed of the chunk lengths
 * Invariants, after each chunk: the output so far is bounded by a fixed number of bytes
 * per input byte; the engine's line length <= FOTA_AT_LINE_MAX, its URC queue within
 * its buffer; both copies of the settings pass fota_settings_check. At the end, power
 * comes back and the module boots again on the same flash: it must load exactly the
 * settings and the result it had committed to NV (the NV store's power-cut promise).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fota/module.h"
#include "fota/simflash.h"
#include "fuzz_util.h"

#define SECTOR 4096u
#define NV_SIZE (2u * SECTOR)

/* Output bound: ATI answers 53 bytes for its one input byte; nothing costs more. */
#define OUT_PER_BYTE 64u
#define OUT_CONST 1024u

static const struct fota_module_info info = {
	.manufacturer = "AirM2M",
	.model = "Air780E",
	.version = "AirM2M_780E_V1121_LTE_AT",
	.imei = "864000000000008",
};

static const uint32_t prog_sizes[4] = { 1, 4, 8, 16 };
static uint8_t mem[4][NV_SIZE];
static struct fota_simflash sf[4];
static bool sf_ready;

struct run {
	size_t out;            /* bytes written to the host */
	size_t in;             /* bytes fed */
	unsigned hook_calls;
	bool hook_status;      /* the hook records a result */
	bool have_committed;   /* a result was committed to NV */
	struct fota_status committed;
};

static struct run run;

static void writer(void *ctx, const char *data, size_t len)
{
	(void)ctx;
	CHECK(data != NULL);
	/* Touch every byte: ASan sees a writer given bytes that are not there. */
	for (size_t i = 0; i < len; i++)
		(void)*(volatile const char *)(data + i);
	run.out += len;
}

static const int results[] = {
	FOTA_OK, FOTA_ERR_VERIFY, FOTA_ERR_IO, FOTA_ERR_TIMEDOUT, FOTA_ERR_CONNRESET,
	FOTA_ERR_CANCELED, FOTA_ERR_BUSY,
};

static int hook(struct fota_module *m, void *ctx)
{
	int err;

	(void)ctx;
	run.hook_calls++;
	err = fota_at_urc(&m->at, "+UPGRADEIND: 0");
	CHECK(err == FOTA_OK || err == FOTA_ERR_NOMEM);
	if (run.hook_status) {
		int r = results[run.hook_calls % FOTA_ARRAY_SIZE(results)];

		m->status.http = (uint16_t)(200 + run.hook_calls);
		if (fota_module_upgrade_done(m, r, run.hook_calls & 1) == FOTA_OK) {
			run.committed = m->status;
			run.have_committed = true;
		}
	}
	return run.hook_calls % 3 == 2 ? FOTA_ERR_BUSY : FOTA_OK;
}

static void check_settings(const struct fota_settings *s)
{
	struct fota_setting_value v = { 0 };
	size_t kl = fuzz_strnlen(s->key, sizeof(s->key)), ul = fuzz_strnlen(s->url, sizeof(s->url));

	CHECK(kl < sizeof(s->key));
	CHECK(ul < sizeof(s->url));
	v.str = s->key;
	v.len = kl;
	CHECK_EQ(fota_settings_check(FOTA_TAG_KEY, &v), FOTA_OK);
	v.str = s->url;
	v.len = ul;
	CHECK_EQ(fota_settings_check(FOTA_TAG_URL, &v), FOTA_OK);
	v.str = NULL;
	v.len = 0;
	v.num = s->autoup;
	CHECK_EQ(fota_settings_check(FOTA_TAG_AUTO, &v), FOTA_OK);
	v.num = s->period;
	CHECK_EQ(fota_settings_check(FOTA_TAG_PERIOD, &v), FOTA_OK);
}

/* The settings as last checked: checked again only when their bytes changed (the check is
 * a pure function of them; it was a third of the time, run after every byte). */
static struct fota_settings checked[2];
static bool have_checked[2];

static void check_settings_changed(const struct fota_settings *s, int k)
{
	if (have_checked[k] && !memcmp(&checked[k], s, sizeof(*s)))
		return;
	check_settings(s);
	memcpy(&checked[k], s, sizeof(*s));
	have_checked[k] = true;
}

static void check_engine(const struct fota_module *m)
{
	CHECK(m->at.len <= FOTA_AT_LINE_MAX);
	CHECK(m->at.urc_len <= FOTA_AT_URC_BUF);
	CHECK(m->at.cmee <= 2);
	CHECK(run.out <= OUT_PER_BYTE * run.in + OUT_CONST);
	check_settings_changed(&m->settings.now, 0);
	check_settings_changed(&m->settings.saved, 1);
}

static bool same_settings(const struct fota_settings *a, const struct fota_settings *b)
{
	return !strcmp(a->key, b->key) && !strcmp(a->url, b->url) && a->period == b->period &&
	       a->autoup == b->autoup;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fota_module m, m2;
	struct fota_module_config cfg = { 0 };
	struct fota_settings saved;
	struct fota_simflash *f;
	struct fuzz_rng rng;
	size_t i;
	uint8_t flags;

	if (!sf_ready) {
		for (i = 0; i < 4; i++)
			CHECK_EQ(fota_simflash_init_mem(&sf[i], mem[i], NV_SIZE, SECTOR, prog_sizes[i]),
				 FOTA_OK);
		sf_ready = true;
	}
	if (size < 4)
		return 0;
	flags = data[0];
	f = &sf[flags & 3];
	fota_simflash_format(f);
	fota_simflash_power_on(f);
	memset(&run, 0, sizeof(run));
	have_checked[0] = have_checked[1] = false;
	run.hook_status = flags & 0x20;

	cfg.flash = &f->flash;
	cfg.nv_base = 0;
	cfg.nv_size = NV_SIZE;
	cfg.info = &info;
	cfg.write = writer;
	cfg.upgrade = (flags & 0x10) ? hook : NULL;
	cfg.cmds = fota_module_basic_cmds; /* ATI, +CGMR, +CFUN...: fotad's, fuzzed too */
	cfg.ncmds = FOTA_MODULE_BASIC_CMDS;
	CHECK_EQ(fota_module_init(&m, &cfg), FOTA_OK);
	if (flags & 4)
		fota_simflash_cut_power(f, data[1] ? data[1] : 1, (flags & 8) ? FOTA_CUT_TORN : FOTA_CUT_CLEAN);
	fota_module_ready(&m);
	check_engine(&m);

	fuzz_rng_init(&rng, (uint32_t)data[3] * 0x01000193u + data[2]);
	for (i = 4; i < size;) {
		size_t n = fuzz_chunk(&rng, data[2], size - i);

		fota_module_input(&m, (const char *)data + i, n);
		run.in += n;
		i += n;
		if ((flags & 0x40) && (fuzz_rng_next(&rng) & 7) == 0)
			(void)fota_at_urc(&m.at, "+UPGRADEIND: 50");
		check_engine(&m);
	}

	/* Power comes back; the module boots again on the same flash. */
	saved = m.settings.saved;
	fota_simflash_power_on(f);
	CHECK_EQ(fota_module_init(&m2, &cfg), FOTA_OK);
	CHECK(same_settings(&m2.settings.saved, &saved));
	CHECK(same_settings(&m2.settings.now, &saved));
	if (run.have_committed) {
		CHECK_EQ(m2.status.state, 2);
		CHECK_EQ(m2.status.code, run.committed.code);
		CHECK_EQ(m2.status.http, run.committed.http);
		CHECK_EQ(m2.status.cause, run.committed.cause);
	} else {
		CHECK_EQ(m2.status.state, 0);
	}
	return 0;
}
