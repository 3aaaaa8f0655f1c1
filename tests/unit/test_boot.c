/*
 * Unit tests of the boot-time install with revert (boot.c) on the emulated NOR flash:
 * whole installs and reverts, refused images, the journal's roll-over, erase counts, and
 * power cuts (clean and torn, single and double) at every flash operation.
 *
 * The images are a fake format private to this file: a 16-byte header (magic "FIMG",
 * body length, CRC-32 of the body, version) and a body of pseudo-random bytes. Its CRC is
 * table-driven here (the same CRC as fota_crc32, checked below) to keep the thousands of
 * boots of the power-cut sweeps fast.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fota/boot.h"
#include "fota/simflash.h"

#define KIB 1024u
#define IMG_MAGIC 0x474D4946u /* "FIMG" */
#define IMG_HDR 16u

/* --- the fake image format --------------------------------------------------------- */

static uint32_t crc_table[256];

static uint32_t crc_fast(uint32_t crc, const uint8_t *p, size_t len)
{
	if (!crc_table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
			crc_table[i] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

/* Fills buf with an image of size bytes in all (header included). */
static void make_image(uint8_t *buf, uint32_t size, uint32_t version)
{
	uint32_t x = version * 2654435761u + 1;

	for (uint32_t i = IMG_HDR; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
	fota_put_le32(buf, IMG_MAGIC);
	fota_put_le32(buf + 4, size - IMG_HDR);
	fota_put_le32(buf + 8, crc_fast(0, buf + IMG_HDR, size - IMG_HDR));
	fota_put_le32(buf + 12, version);
}

/* The verify hook: header, length within max_size, CRC of the body, read through f. */
static int fake_verify(void *ctx, const struct fota_flash *f, uint32_t addr, uint32_t max_size,
		       uint32_t *image_size, uint32_t *counter)
{
	uint8_t h[IMG_HDR], buf[1024];
	uint32_t len, crc = 0;
	int err;

	(void)ctx;
	err = f->read(f->ctx, addr, h, sizeof(h));
	if (err)
		return err;
	len = fota_get_le32(h + 4);
	if (fota_get_le32(h) != IMG_MAGIC || len > max_size - IMG_HDR)
		return FOTA_ERR_VERIFY;
	for (uint32_t off = 0; off < len;) {
		uint32_t n = len - off < sizeof(buf) ? len - off : (uint32_t)sizeof(buf);

		err = f->read(f->ctx, addr + IMG_HDR + off, buf, n);
		if (err)
			return err;
		crc = crc_fast(crc, buf, n);
		off += n;
	}
	if (crc != fota_get_le32(h + 8))
		return FOTA_ERR_VERIFY;
	*image_size = IMG_HDR + len;
	*counter = fota_get_le32(h + 12); /* the version doubles as the security counter */
	return FOTA_OK;
}

/* --- the rig: an emulated flash behind a tracing port, two images, a boot config ----- */

struct op {
	char kind; /* 'e' erase, 'p' program */
	uint32_t addr;
};

struct rig {
	struct fota_simflash sf;
	struct fota_flash port; /* what the core gets: sf.flash with every op logged */
	struct fota_boot_cfg cfg;
	struct fota_layout *l;
	uint32_t size, ss;
	uint8_t *mem, *pristine, *snap, *snap2;
	uint8_t *old_img, *new_img;
	uint32_t old_size, new_size;
	unsigned pct[128], npct; /* progress calls seen */
	bool trace;
	struct op *log;
	uint32_t nlog;
	uint32_t reads, fail_read; /* reads counted; the one to fail with FOTA_ERR_IO (0: none) */
	uint32_t confirm_from;     /* reads before the last power-up's confirm */
};

static struct rig rig;

static int port_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
	struct rig *r = ctx;

	if (++r->reads == r->fail_read)
		return FOTA_ERR_IO;
	return r->sf.flash.read(r->sf.flash.ctx, addr, buf, len);
}

static void log_op(struct rig *r, char kind, uint32_t addr)
{
	if (r->trace && r->nlog < (1u << 18))
		r->log[r->nlog++] = (struct op){ kind, addr };
}

static int port_prog(void *ctx, uint32_t addr, const void *buf, size_t len)
{
	struct rig *r = ctx;

	log_op(r, 'p', addr);
	return r->sf.flash.prog(r->sf.flash.ctx, addr, buf, len);
}

static int port_erase(void *ctx, uint32_t addr)
{
	struct rig *r = ctx;

	log_op(r, 'e', addr);
	return r->sf.flash.erase(r->sf.flash.ctx, addr);
}

static void on_progress(void *ctx, unsigned percent)
{
	struct rig *r = ctx;

	if (r->npct < FOTA_ARRAY_SIZE(r->pct))
		r->pct[r->npct] = percent;
	r->npct++;
}

/* A flash of size bytes with the default layout; boot area and NV hold a known pattern
 * (kept in pristine to check that nothing touched them); R holds an old image of
 * old_size bytes and S, one sector in, a new one of new_size bytes, marked staged. */
static struct rig *rig_open(uint32_t size, uint32_t ss, uint32_t prog, uint32_t old_size,
			    uint32_t new_size)
{
	struct rig *r = &rig;

	memset(r, 0, sizeof(*r));
	r->size = size;
	r->ss = ss;
	r->mem = malloc(size);
	r->pristine = malloc(size);
	r->snap = malloc(size);
	r->snap2 = malloc(size);
	r->old_img = malloc(size);
	r->new_img = malloc(size);
	r->log = malloc((1u << 18) * sizeof(*r->log));
	assert_non_null(r->log);
	assert_int_equal(fota_simflash_init_mem(&r->sf, r->mem, size, ss, prog), FOTA_OK);
	fota_simflash_format(&r->sf);
	r->port = r->sf.flash;
	r->port.ctx = r;
	r->port.read = port_read;
	r->port.prog = port_prog;
	r->port.erase = port_erase;
	r->cfg.flash = &r->port;
	r->cfg.ctx = r;
	r->cfg.verify = fake_verify;
	r->cfg.progress = on_progress;
	r->l = &r->cfg.layout;
	assert_int_equal(fota_layout_default(r->l, &r->port), FOTA_OK);
	assert_true(fota_layout_valid(r->l, &r->port));
	for (uint32_t i = 0; i < r->l->boot_size; i++)
		r->mem[i] = (uint8_t)(i * 31 + 7);
	for (uint32_t i = r->l->nv_addr; i < r->l->nv_addr + r->l->nv_size; i++)
		r->mem[i] = (uint8_t)(i * 17 + 3);
	memcpy(r->pristine, r->mem, size);
	r->old_size = old_size;
	r->new_size = new_size;
	if (old_size) {
		make_image(r->old_img, old_size, 1);
		memcpy(r->mem + r->l->run_addr, r->old_img, old_size);
	}
	make_image(r->new_img, new_size, 2);
	memcpy(r->mem + r->l->stage_addr + ss, r->new_img, new_size);
	assert_int_equal(fota_boot_mark_staged(&r->cfg, new_size), FOTA_OK);
	return r;
}

static void rig_close(struct rig *r)
{
	fota_simflash_close(&r->sf);
	free(r->mem);
	free(r->pristine);
	free(r->snap);
	free(r->snap2);
	free(r->old_img);
	free(r->new_img);
	free(r->log);
}

static uint32_t slot_bytes(const struct rig *r)
{
	return r->l->slot_sectors * r->ss;
}

/* One power-up of the device: boot, and boot again while the boot code asks for it, until
 * a firmware runs. A good new firmware confirms itself after its self-test, a bad one
 * never does. Returns the first error (FOTA_ERR_POWER when power is cut). */
static int power_up(struct rig *r, bool good)
{
	struct fota_boot_status st;

	for (int boots = 0; boots < 4; boots++) {
		int err = fota_boot_run(&r->cfg, &st);

		if (err)
			return err;
		if (st.reboot)
			continue;
		if (st.did == FOTA_BOOT_DID_TRIAL && good) {
			r->confirm_from = r->reads;
			return fota_boot_confirm(&r->cfg);
		}
		return FOTA_OK;
	}
	return FOTA_ERR_AGAIN; /* never settles: a bug */
}

/* Boot area and NV byte-identical to what they were at the start. */
static void check_untouched(const struct rig *r)
{
	assert_memory_equal(r->mem, r->pristine, r->l->boot_size);
	assert_memory_equal(r->mem + r->l->nv_addr, r->pristine + r->l->nv_addr, r->l->nv_size);
}

/* The device settled after an update: the journal is CONFIRMED with the new image whole in
 * R and the old one at S[0], or REVERTED with the old image whole in R and the new one back
 * at S[1]; R verifies; boot area and NV untouched; one more boot does no flash operation.
 * Returns the state. */
static enum fota_boot_state check_settled(struct rig *r)
{
	struct fota_boot_status st;
	uint32_t size = 0, counter = 0;

	assert_int_equal(fota_boot_status(&r->cfg, &st), FOTA_OK);
	assert_int_equal(fake_verify(NULL, &r->port, r->l->run_addr, slot_bytes(r), &size, &counter),
			 FOTA_OK);
	if (st.state == FOTA_BOOT_CONFIRMED) {
		assert_int_equal(st.result, FOTA_OK);
		assert_int_equal(size, r->new_size);
		assert_memory_equal(r->mem + r->l->run_addr, r->new_img, r->new_size);
		assert_memory_equal(r->mem + r->l->stage_addr, r->old_img, r->old_size);
	} else {
		assert_int_equal(st.state, FOTA_BOOT_REVERTED);
		assert_int_equal(st.result, FOTA_ERR_VERIFY);
		assert_int_equal(size, r->old_size);
		assert_memory_equal(r->mem + r->l->run_addr, r->old_img, r->old_size);
		assert_memory_equal(r->mem + r->l->stage_addr + r->ss, r->new_img, r->new_size);
	}
	assert_int_equal(st.image_size, r->new_size);
	assert_int_equal(st.old_size, r->old_size);
	/* The floor: the counter of the image that runs (the version doubles as the counter
	 * here, and each rig's versions only grow), whatever cut came before. */
	assert_int_equal(st.floor, fota_get_le32((st.state == FOTA_BOOT_CONFIRMED ? r->new_img :
						  r->old_img) + 12));
	check_untouched(r);
	fota_simflash_cut_power(&r->sf, 0, FOTA_CUT_CLEAN);
	assert_int_equal(power_up(r, true), FOTA_OK);
	assert_int_equal(r->sf.ops, 0);
	return st.state;
}

static void check_progress_once_each(const struct rig *r)
{
	assert_int_equal(r->npct, 101);
	for (unsigned i = 0; i <= 100; i++)
		assert_int_equal(r->pct[i], i);
}

/* --- whole updates ------------------------------------------------------------------- */

static void fake_image_crc_is_fota_crc32(void **state)
{
	uint8_t img[3000];

	(void)state;
	make_image(img, sizeof(img), 7);
	assert_int_equal(crc_fast(0, img + IMG_HDR, sizeof(img) - IMG_HDR),
			 fota_crc32(0, img + IMG_HDR, sizeof(img) - IMG_HDR));
}

static void default_layout_of_a_4mib_flash(void **state)
{
	struct fota_flash f = { .size = 4096 * KIB, .sector_size = 4 * KIB, .prog_size = 1,
				.erased = 0xFF, .read = port_read, .prog = port_prog,
				.erase = port_erase };
	struct fota_layout l, bad;

	(void)state;
	assert_int_equal(fota_layout_default(&l, &f), FOTA_OK);
	assert_int_equal(l.boot_size, 64 * KIB);
	assert_int_equal(l.run_addr, 64 * KIB);
	assert_int_equal(l.slot_sectors, 501);
	assert_int_equal(l.stage_addr, 64 * KIB + 501 * 4 * KIB);
	assert_int_equal(l.journal_addr, l.stage_addr + 502 * 4 * KIB);
	assert_int_equal(l.journal_half, 4 * KIB);
	assert_int_equal(l.nv_addr, 4096 * KIB - 8 * KIB);
	assert_int_equal(l.nv_size, 8 * KIB);
	assert_true(fota_layout_valid(&l, &f));
	/* One spare sector between journal and NV: 16 + 501 + 502 + 2 + 1 + 2 = 1024. */
	assert_int_equal(l.nv_addr - (l.journal_addr + 2 * l.journal_half), 4 * KIB);

	f.prog_size = 16; /* a bitmap unit per half-step is 16 bytes: a 5-sector half */
	assert_int_equal(fota_layout_default(&l, &f), FOTA_OK);
	assert_int_equal(l.slot_sectors, 497);
	assert_int_equal(l.journal_half, 5 * 4 * KIB);
	assert_true(fota_layout_valid(&l, &f));

	bad = l; /* S overlapping R */
	bad.stage_addr -= 4 * KIB;
	assert_false(fota_layout_valid(&bad, &f));
	bad = l; /* journal half too small for the bitmap */
	bad.journal_half = 4 * KIB;
	assert_false(fota_layout_valid(&bad, &f));
	bad = l; /* misaligned */
	bad.journal_addr += 512;
	assert_false(fota_layout_valid(&bad, &f));
	bad = l; /* NV inside the journal */
	bad.nv_addr = l.journal_addr;
	assert_false(fota_layout_valid(&bad, &f));

	f.size = 80 * KIB; /* boot area + NV leave no room */
	assert_int_equal(fota_layout_default(&l, &f), FOTA_ERR_NOSPC);
	/* 256-byte sectors: 5 left for R, S and the journal, but the journal of even a
	 * 2-sector slot needs more than one sector a half. */
	f.sector_size = 256;
	f.size = (FOTA_BOOT_AREA_SIZE / 256 + FOTA_BOOT_NV_SECTORS + 5) * 256;
	assert_int_equal(fota_layout_default(&l, &f), FOTA_ERR_NOSPC);
	/* No layout of a flash that is not one, nor of none. */
	f.sector_size = 0;
	assert_int_equal(fota_layout_default(&l, &f), FOTA_ERR_INVAL);
	assert_false(fota_layout_valid(&l, &f));
	assert_false(fota_layout_valid(NULL, &f));
	assert_int_equal(fota_layout_default(NULL, &f), FOTA_ERR_INVAL);
}

/* A whole update with a good new firmware: install (reboot), trial, confirm. */
static void whole_update(struct rig *r)
{
	struct fota_boot_status st;

	assert_int_equal(fota_boot_status(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.state, FOTA_BOOT_STAGED);
	assert_int_equal(st.image_size, r->new_size);

	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_INSTALL);
	assert_true(st.reboot);
	assert_int_equal(st.state, FOTA_BOOT_SWAPPED);
	check_progress_once_each(r);
	assert_memory_equal(r->mem + r->l->run_addr, r->new_img, r->new_size);
	assert_memory_equal(r->mem + r->l->stage_addr, r->old_img, r->old_size);

	r->npct = 0;
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_TRIAL);
	assert_false(st.reboot);
	assert_int_equal(st.state, FOTA_BOOT_TRIAL);
	assert_int_equal(r->npct, 0); /* no install: no +UPGRADEDL */

	assert_int_equal(fota_boot_confirm(&r->cfg), FOTA_OK);
	assert_int_equal(fota_boot_status(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.state, FOTA_BOOT_CONFIRMED);
	assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);

	/* Later boots: nothing to do; confirming again changes nothing. */
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_NOTHING);
	assert_false(st.reboot);
	assert_int_equal(fota_boot_confirm(&r->cfg), FOTA_OK);
	assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);
}

static void install_bigger_image_then_confirm(void **state)
{
	(void)state;
	whole_update(rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB + 1234, 12 * 4 * KIB + 345));
	rig_close(&rig);
}

static void install_smaller_image_then_confirm(void **state)
{
	(void)state;
	whole_update(rig_open(48 * 4 * KIB, 4 * KIB, 8, 12 * 4 * KIB + 345, 5 * 4 * KIB + 99));
	rig_close(&rig);
}

static void install_image_filling_the_slot_prog16(void **state)
{
	(void)state;
	/* 48 sectors, 16-byte program units: N = 13; the new image fills R exactly. */
	whole_update(rig_open(48 * 4 * KIB, 4 * KIB, 16, 3 * 4 * KIB, 13 * 4 * KIB));
	rig_close(&rig);
}

/* Four updates in a row, each image replacing the last: every install and every trial
 * finds a fresh bitmap, also where a journal half spans two sectors. */
static void updates_in_a_row(struct rig *r)
{
	for (uint32_t v = 3; v <= 6; v++) {
		uint8_t *t = r->old_img;

		assert_int_equal(power_up(r, true), FOTA_OK);
		check_progress_once_each(r);
		assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);
		/* The next download: version v replaces the one now running. */
		r->old_img = r->new_img;
		r->old_size = r->new_size;
		r->new_img = t;
		r->new_size = r->old_size + (v & 1 ? 3000 : -5000);
		make_image(r->new_img, r->new_size, v);
		memcpy(r->mem + r->l->stage_addr + r->ss, r->new_img, r->new_size);
		assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_OK);
		r->npct = 0;
	}
	rig_close(r);
}

static void updates_in_a_row_start_fresh_bitmaps(void **state)
{
	(void)state;
	updates_in_a_row(rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB + 1234, 10 * 4 * KIB));
	updates_in_a_row(rig_open(128 * KIB, KIB, 16, 17 * KIB + 100, 24 * KIB + 900));
}

static void never_confirmed_image_is_reverted_at_next_boot(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB + 1234, 12 * 4 * KIB + 345);
	struct fota_boot_status st;

	(void)state;
	assert_int_equal(power_up(r, false), FOTA_OK); /* installed, booted once, no confirm */
	assert_int_equal(fota_boot_status(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.state, FOTA_BOOT_TRIAL);
	assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_ERR_BUSY);

	r->npct = 0;
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_REVERT);
	assert_true(st.reboot);
	assert_int_equal(st.state, FOTA_BOOT_REVERTED);
	assert_int_equal(st.result, FOTA_ERR_VERIFY); /* AT+UPGRADE?: 2,-1003,... */
	assert_int_equal(r->npct, 0);                 /* a revert prints no +UPGRADEDL */
	assert_int_equal(check_settled(r), FOTA_BOOT_REVERTED);

	/* The reverted image is not installed again; a new download may be staged. */
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_NOTHING);
	assert_int_equal(st.state, FOTA_BOOT_REVERTED);
	assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_OK);
	rig_close(r);
}

static void image_broken_in_place_after_install_is_reverted(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB + 1234, 12 * 4 * KIB + 345);
	struct fota_boot_status st;
	uint8_t zero = 0;

	(void)state;
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.state, FOTA_BOOT_SWAPPED);
	/* A bit of the new image lost before its first boot: it must not run. */
	assert_int_equal(r->port.prog(r->port.ctx, r->l->run_addr + 5000, &zero, 1), FOTA_OK);
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_REVERT);
	assert_int_equal(st.state, FOTA_BOOT_REVERTED);
	assert_memory_equal(r->mem + r->l->run_addr, r->old_img, r->old_size);
	rig_close(r);
}

static void staged_image_failing_verification_is_never_installed(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 8, 9 * 4 * KIB + 1234, 12 * 4 * KIB + 345);
	uint32_t sectors = r->size / r->ss, *before = calloc(sectors, sizeof(*before));
	struct fota_boot_status st;

	(void)state;
	memcpy(before, r->sf.stats.erase_count, sectors * sizeof(*before));
	r->mem[r->l->stage_addr + r->ss + 20000] ^= 0x80; /* one bit flipped in the body */
	memcpy(r->snap, r->mem, r->size);

	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_REFUSE);
	assert_false(st.reboot);
	assert_int_equal(st.state, FOTA_BOOT_REFUSED);
	assert_int_equal(st.result, FOTA_ERR_VERIFY);
	assert_int_equal(r->npct, 0);
	/* R and S byte-identical, none of their sectors erased. */
	assert_memory_equal(r->mem + r->l->run_addr, r->snap + r->l->run_addr,
			    r->l->journal_addr - r->l->run_addr);
	for (uint32_t s = r->l->run_addr / r->ss; s < r->l->journal_addr / r->ss; s++)
		assert_int_equal(r->sf.stats.erase_count[s], before[s]);
	/* Refused stays refused. */
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_NOTHING);
	assert_int_equal(st.state, FOTA_BOOT_REFUSED);

	/* An image whose size is not the one marked is refused too. */
	assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size + 1), FOTA_OK);
	memcpy(r->mem + r->l->stage_addr + r->ss, r->new_img, r->new_size);
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_REFUSE);
	assert_memory_equal(r->mem + r->l->run_addr, r->old_img, r->old_size);
	free(before);
	rig_close(r);
}

static void mark_staged_checks_size_and_state(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB, 10 * 4 * KIB);
	uint32_t half;

	(void)state;
	assert_int_equal(fota_boot_mark_staged(&r->cfg, 0), FOTA_ERR_FBIG);
	assert_int_equal(fota_boot_mark_staged(&r->cfg, slot_bytes(r) + 1), FOTA_ERR_FBIG);
	assert_int_equal(fota_boot_mark_staged(&r->cfg, slot_bytes(r)), FOTA_OK);
	assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_OK); /* re-staged */
	assert_int_equal(fota_boot_run(&r->cfg, NULL), FOTA_OK);
	assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_ERR_BUSY); /* SWAPPED */
	assert_int_equal(fota_boot_confirm(&r->cfg), FOTA_OK); /* confirmed without a reboot */
	assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);
	assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_OK);
	/* The boot code refuses a layout that does not fit the flash (the downloader's
	 * calls take the layout the boot code accepted). */
	half = r->cfg.layout.journal_half;
	r->cfg.layout.journal_half = 0;
	assert_int_equal(fota_boot_run(&r->cfg, NULL), FOTA_ERR_INVAL);
	assert_int_equal(fota_boot_confirm(&r->cfg), FOTA_ERR_INVAL);
	r->cfg.layout.journal_half = half;
	assert_int_equal(fota_boot_run(&r->cfg, NULL), FOTA_OK);
	r->cfg.verify = NULL;
	assert_int_equal(fota_boot_run(&r->cfg, NULL), FOTA_ERR_INVAL);
	assert_int_equal(fota_boot_run(NULL, NULL), FOTA_ERR_INVAL);
	assert_int_equal(fota_boot_status(NULL, NULL), FOTA_ERR_INVAL);
	rig_close(r);
}

/* Writes a journal record in half 0, slot 0, as docs/flash-layout.md lays it out, with a
 * good CRC and commit unit: what a forged or foreign record looks like. */
static void forge_record(struct rig *r, uint8_t st, uint32_t n)
{
	uint8_t *b = r->mem + r->l->journal_addr;

	memset(b, 0xFF, 64);
	fota_put_le32(b, 0x4C4E4A46u); /* "FJNL" */
	fota_put_le32(b + 4, 1);       /* generation */
	b[8] = st;
	b[9] = 0;
	fota_put_le16(b + 10, 0);
	fota_put_le32(b + 12, 4096);   /* new size */
	fota_put_le32(b + 16, 4096);   /* old size */
	fota_put_le32(b + 20, n);
	fota_put_le32(b + 24, 0);      /* security floor */
	fota_put_le32(b + 28, 0);      /* new image's counter */
	fota_put_le32(b + 32, fota_crc32(0, b, 32));
	memset(b + 48, 0xC3, 16);      /* the commit unit */
}

static void journal_record_that_does_not_fit_the_layout_is_refused(void **state)
{
	static const struct { uint8_t state; int extra; } bad[] = {
		{ FOTA_BOOT_TRIAL, 1 }, { FOTA_BOOT_SWAPPED, 5 }, { FOTA_BOOT_REVERTING, 9 },
		{ FOTA_BOOT_TRIAL, -1 }, /* no sector count at all */
	};

	(void)state;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(bad); i++) {
		struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB, 10 * 4 * KIB);
		struct fota_boot_status st;
		uint32_t ops;

		forge_record(r, bad[i].state,
			     bad[i].extra < 0 ? 0 : r->l->slot_sectors + (uint32_t)bad[i].extra);
		memcpy(r->pristine, r->mem, r->size);
		ops = r->sf.stats.erases + r->sf.stats.progs;
		assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_ERR_CORRUPT);
		assert_int_equal(r->sf.stats.erases + r->sf.stats.progs, ops); /* nothing written */
		assert_memory_equal(r->mem, r->pristine, r->size);
		rig_close(r);
	}
}

static void blank_running_slot_is_installed_without_trial(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 1, 0, 7 * 4 * KIB + 5);
	struct fota_boot_status st;

	(void)state;
	/* Nothing valid to go back to: no trial, the install is final. */
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_INSTALL);
	assert_int_equal(st.state, FOTA_BOOT_CONFIRMED);
	assert_int_equal(st.old_size, 0);
	assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);
	rig_close(r);
}

static void journal_rolls_over_when_a_half_is_full(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 8, 9 * 4 * KIB, 10 * 4 * KIB);
	uint32_t j0 = r->l->journal_addr / r->ss, hs = r->l->journal_half / r->ss;
	uint32_t e0 = r->sf.stats.erase_count[j0], e1 = r->sf.stats.erase_count[j0 + hs];
	struct fota_boot_status st;

	(void)state;
	/* Twenty refused downloads: 40 records, far more than one half holds. */
	r->mem[r->l->stage_addr + r->ss + 100] ^= 1;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_OK);
		assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
		assert_int_equal(st.state, FOTA_BOOT_REFUSED);
	}
	assert_true(r->sf.stats.erase_count[j0] - e0 >= 2);
	assert_true(r->sf.stats.erase_count[j0 + hs] - e1 >= 2);
	/* The next good download installs as usual. */
	r->mem[r->l->stage_addr + r->ss + 100] ^= 1;
	assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_OK);
	assert_int_equal(power_up(r, true), FOTA_OK);
	assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);
	rig_close(r);
}

static void resumed_install_reports_each_percent_once(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB, 12 * 4 * KIB);
	struct fota_boot_status st;

	(void)state;
	fota_simflash_cut_power(&r->sf, 700, FOTA_CUT_TORN); /* halfway through the swap */
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_ERR_POWER);
	assert_true(r->npct > 1 && r->npct < 100);
	fota_simflash_power_on(&r->sf);
	r->npct = 0;
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_INSTALL);
	check_progress_once_each(r);
	assert_int_equal(power_up(r, true), FOTA_OK);
	assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);
	rig_close(r);
}

/* --- erase counts -------------------------------------------------------------------- */

static void print_erases(const struct rig *r, const uint32_t *before, const char *what,
			 uint32_t n)
{
	uint32_t ss = r->ss, *e = r->sf.stats.erase_count;
	uint32_t rs = r->l->run_addr / ss, s0 = r->l->stage_addr / ss, j = r->l->journal_addr / ss;
	uint32_t N = r->l->slot_sectors, jt = 0, other = 0;

	printf("    erases per sector, %s (n = %u of N = %u): R", what, (unsigned)n, (unsigned)N);
	for (uint32_t i = 0; i < N; i++) {
		assert_true(e[rs + i] - before[rs + i] <= 1); /* each R sector at most once */
		assert_int_equal(e[rs + i] - before[rs + i], i < n ? 1u : 0u);
		printf(" %u", (unsigned)(e[rs + i] - before[rs + i]));
	}
	printf(" | S");
	for (uint32_t i = 0; i <= N; i++) {
		assert_true(e[s0 + i] - before[s0 + i] <= 1);
		printf(" %u", (unsigned)(e[s0 + i] - before[s0 + i]));
	}
	for (uint32_t i = 0; i < 2 * r->l->journal_half / ss; i++)
		jt += e[j + i] - before[j + i];
	for (uint32_t i = 0; i < r->size / ss; i++)
		if (i < rs || i >= j + 2 * r->l->journal_half / ss)
			other += e[i] - before[i];
	printf(" | journal %u | boot, NV, spare %u\n", (unsigned)jt, (unsigned)other);
	assert_int_equal(jt, r->l->journal_half / ss); /* one half erased per direction */
	assert_int_equal(other, 0);
}

static void erases_per_sector_per_update(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB + 1234, 12 * 4 * KIB + 345);
	uint32_t sectors = r->size / r->ss, *before = calloc(sectors, sizeof(*before));
	uint32_t n = (r->new_size + r->ss - 1) / r->ss;

	(void)state;
	memcpy(before, r->sf.stats.erase_count, sectors * sizeof(*before));
	assert_int_equal(power_up(r, false), FOTA_OK); /* install; trial, no confirm */
	print_erases(r, before, "install", n);
	memcpy(before, r->sf.stats.erase_count, sectors * sizeof(*before));
	assert_int_equal(power_up(r, false), FOTA_OK); /* revert */
	print_erases(r, before, "revert", n);
	assert_int_equal(check_settled(r), FOTA_BOOT_REVERTED);
	free(before);
	rig_close(r);
}

/* --- power cuts ---------------------------------------------------------------------- */

/* Counts the flash operations of one power-up from the flash as it is (and logs them). */
static uint32_t count_ops(struct rig *r, bool good)
{
	r->nlog = 0;
	r->trace = true;
	fota_simflash_cut_power(&r->sf, 0, FOTA_CUT_CLEAN);
	assert_int_equal(power_up(r, good), FOTA_OK);
	r->trace = false;
	return r->sf.ops;
}

/* Restores the flash from `from`, cuts power before operation n of a power-up, then
 * brings power back. */
static void cut_at(struct rig *r, const uint8_t *from, uint32_t n, enum fota_simflash_cut kind,
		   bool good)
{
	memcpy(r->mem, from, r->size);
	fota_simflash_cut_power(&r->sf, n, kind);
	assert_int_equal(power_up(r, good), FOTA_ERR_POWER);
	fota_simflash_power_on(&r->sf);
}

/* Journal writes and erases: where a second cut is most likely to find a bug. */
static bool key_op(const struct rig *r, uint32_t i)
{
	const struct op *o = &r->log[i];

	return o->kind == 'e' || (o->addr >= r->l->journal_addr &&
				  o->addr < r->l->journal_addr + 2 * r->l->journal_half);
}

/* Every keystep-th key operation, and every stride-th operation. */
static bool sampled_op(const struct rig *r, uint32_t i, uint32_t stride, uint32_t keystep,
		       uint32_t *nkey)
{
	if (key_op(r, i) && (*nkey)++ % keystep == 0)
		return true;
	return (i + 1) % stride == 0;
}

/* From the flash as it is now, the power-up of a device whose new firmware is good (or
 * bad) is cut before each of its operations in turn, clean then torn; each time the
 * device is powered up again until it settles and the invariants are checked. Then
 * double cuts: a torn first cut at every keystep-th erase or journal write and at every
 * stride-th operation; for each, a second cut (torn or clean in turn) during the
 * recovery at its first three operations, every keystep-th erase or journal write and
 * every 2 * stride-th operation. */
static void sweep_power_cuts(struct rig *r, bool good, const char *name, uint32_t stride,
			     uint32_t keystep)
{
	uint32_t total, *first, nfirst = 0, reverted = 0, single = 0, dbl = 0, nkey = 0;

	memcpy(r->snap, r->mem, r->size);
	total = count_ops(r, good);
	check_settled(r);
	first = malloc(total * sizeof(*first));
	for (uint32_t n = 1; n <= total; n++)
		if (sampled_op(r, n - 1, stride, keystep, &nkey))
			first[nfirst++] = n;

	for (int kind = FOTA_CUT_CLEAN; kind <= FOTA_CUT_TORN; kind++) {
		for (uint32_t n = 1; n <= total; n++) {
			cut_at(r, r->snap, n, (enum fota_simflash_cut)kind, good);
			assert_int_equal(power_up(r, good), FOTA_OK);
			if (check_settled(r) == FOTA_BOOT_REVERTED && good) {
				/* Only a cut of the confirm itself sends a good one back. */
				assert_true(n >= total - 1);
				reverted++;
			}
			single++;
		}
	}
	for (uint32_t f = 0; f < nfirst; f++) {
		uint32_t t2;

		cut_at(r, r->snap, first[f], FOTA_CUT_TORN, good);
		memcpy(r->snap2, r->mem, r->size);
		t2 = count_ops(r, good);
		check_settled(r);
		nkey = 0;
		for (uint32_t m = 1; m <= t2; m++) {
			if (!(sampled_op(r, m - 1, stride * 2, keystep, &nkey) || m <= 3))
				continue;
			cut_at(r, r->snap2, m, m & 1 ? FOTA_CUT_TORN : FOTA_CUT_CLEAN, good);
			assert_int_equal(power_up(r, good), FOTA_OK);
			check_settled(r);
			dbl++;
		}
	}
	printf("    %s: %u operations; cut points: %u clean, %u torn (%u ended reverted), "
	       "%u double (%u first cuts)\n", name, (unsigned)total, (unsigned)total,
	       (unsigned)total, (unsigned)reverted, (unsigned)dbl, (unsigned)nfirst);
	assert_int_equal(single, 2 * total);
	free(first);
}

/* Cuts mark_staged at each of its operations, clean and torn: the journal keeps the old
 * state or says STAGED; marking again works; the next power-up installs. */
static uint32_t sweep_mark_staged(struct rig *r)
{
	struct fota_boot_status st;
	uint32_t total;

	memcpy(r->snap, r->mem, r->size);
	fota_simflash_cut_power(&r->sf, 0, FOTA_CUT_CLEAN);
	assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_OK);
	total = r->sf.ops;
	for (int kind = FOTA_CUT_CLEAN; kind <= FOTA_CUT_TORN; kind++) {
		for (uint32_t n = 1; n <= total; n++) {
			memcpy(r->mem, r->snap, r->size);
			fota_simflash_cut_power(&r->sf, n, (enum fota_simflash_cut)kind);
			assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_ERR_POWER);
			fota_simflash_power_on(&r->sf);
			assert_int_equal(power_up(r, true), FOTA_OK); /* the boot between */
			assert_int_equal(fota_boot_status(&r->cfg, &st), FOTA_OK);
			if (st.state != FOTA_BOOT_CONFIRMED) { /* not marked: nothing happened */
				assert_memory_equal(r->mem + r->l->run_addr, r->old_img, r->old_size);
				/* Another record than the cut one, then the right one: a slot a
				 * torn program left dirty is not used again. */
				assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size + 1), FOTA_OK);
				assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_OK);
				assert_int_equal(power_up(r, true), FOTA_OK);
			}
			assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);
		}
	}
	memcpy(r->mem, r->snap, r->size);
	return total;
}

/* A refused download: two more records in the journal. */
static void refuse_one(struct rig *r)
{
	r->mem[r->l->stage_addr + r->ss + 100] ^= 1;
	assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_OK);
	assert_int_equal(fota_boot_run(&r->cfg, NULL), FOTA_OK);
	r->mem[r->l->stage_addr + r->ss + 100] ^= 1;
}

static void mark_staged_survives_power_cuts(void **state)
{
	struct rig *r = rig_open(40 * 4 * KIB, 4 * KIB, 8, 6 * 4 * KIB + 1200, 8 * 4 * KIB + 2500);
	uint32_t blank, append, rollover;

	(void)state;
	memset(r->mem + r->l->journal_addr, 0xFF, 2 * r->l->journal_half); /* blank journal */
	blank = sweep_mark_staged(r);
	refuse_one(r); /* half 0: STAGED, REFUSED; the mark goes to slot 2 */
	append = sweep_mark_staged(r);
	for (int i = 0; i < 3; i++)
		refuse_one(r); /* half 0 full: the mark rolls over to half 1 */
	rollover = sweep_mark_staged(r);
	assert_int_equal(blank, 1 + 2);    /* erase a fresh half, body, commit */
	assert_int_equal(append, 2);
	assert_int_equal(rollover, 1 + 2);
	printf("    mark_staged: %u cut points from a blank journal, %u appending, %u at a "
	       "roll-over (each clean and torn)\n", (unsigned)blank, (unsigned)append,
	       (unsigned)rollover);
	rig_close(r);
}

static void install_survives_power_cuts_prog1(void **state)
{
	/* 40 sectors of 4 KiB: N = 9; old 6.3 sectors, new 8.6: n = 9. */
	struct rig *r = rig_open(40 * 4 * KIB, 4 * KIB, 1, 6 * 4 * KIB + 1200, 8 * 4 * KIB + 2500);

	(void)state;
	sweep_power_cuts(r, true, "install, prog 1", 61, 1);
	rig_close(r);
}

static void install_survives_power_cuts_prog8(void **state)
{
	struct rig *r = rig_open(40 * 4 * KIB, 4 * KIB, 8, 6 * 4 * KIB + 1200, 8 * 4 * KIB + 2500);

	(void)state;
	sweep_power_cuts(r, true, "install, prog 8", 61, 1);
	rig_close(r);
}

static void install_of_smaller_image_survives_power_cuts(void **state)
{
	struct rig *r = rig_open(40 * 4 * KIB, 4 * KIB, 16, 8 * 4 * KIB + 2500, 3 * 4 * KIB + 700);

	(void)state;
	sweep_power_cuts(r, true, "install smaller, prog 16", 61, 1);
	rig_close(r);
}

/* 1 KiB sectors and 16-byte program units: each journal half is 2 sectors. */
static void install_with_two_sector_journal_halves_survives_power_cuts(void **state)
{
	struct rig *r = rig_open(128 * KIB, KIB, 16, 17 * KIB + 100, 26 * KIB + 900);

	(void)state;
	assert_int_equal(r->l->journal_half, 2 * KIB);
	assert_int_equal(r->l->slot_sectors, 28);
	sweep_power_cuts(r, true, "install, 1 KiB sectors, prog 16", 97, 4);
	rig_close(r);
}

static void revert_survives_power_cuts(struct rig *r, const char *name)
{
	assert_int_equal(power_up(r, false), FOTA_OK); /* installed, on trial, not confirmed */
	sweep_power_cuts(r, false, name, 61, 1);
	rig_close(r);
}

static void revert_survives_power_cuts_prog1(void **state)
{
	(void)state;
	revert_survives_power_cuts(rig_open(40 * 4 * KIB, 4 * KIB, 1, 6 * 4 * KIB + 1200,
					    8 * 4 * KIB + 2500), "revert, prog 1");
}

static void revert_survives_power_cuts_prog8(void **state)
{
	(void)state;
	revert_survives_power_cuts(rig_open(40 * 4 * KIB, 4 * KIB, 8, 6 * 4 * KIB + 1200,
					    8 * 4 * KIB + 2500), "revert, prog 8");
}

/* The real size: 4 MiB, 4 KiB sectors, default layout (N = 501). A whole update, a whole
 * revert, and power cuts at a sample of operations of each. */
/* --- anti-rollback ------------------------------------------------------------------------ */

/* Stages a new image of version (= security counter) v in place of the last one. */
static void stage_version(struct rig *r, uint32_t v)
{
	make_image(r->new_img, r->new_size, v);
	memcpy(r->mem + r->l->stage_addr + r->ss, r->new_img, r->new_size);
	assert_int_equal(fota_boot_mark_staged(&r->cfg, r->new_size), FOTA_OK);
}

static void refused_for_rollback(struct rig *r)
{
	struct fota_boot_status st;

	memcpy(r->snap, r->mem, r->size);
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.did, FOTA_BOOT_DID_REFUSE);
	assert_int_equal(st.state, FOTA_BOOT_REFUSED);
	assert_int_equal(st.result, FOTA_ERR_ROLLBACK);
	assert_false(st.reboot);
	/* R and S untouched: nothing of the old image was ever at risk. */
	assert_memory_equal(r->mem + r->l->run_addr, r->snap + r->l->run_addr,
			    r->l->journal_addr - r->l->run_addr);
}

static void image_below_the_running_images_counter_is_refused(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB, 10 * 4 * KIB);

	(void)state;
	/* R runs version 1 with the journal's floor still 0: R's own counter counts. */
	make_image(r->old_img, r->old_size, 5);
	memcpy(r->mem + r->l->run_addr, r->old_img, r->old_size);
	stage_version(r, 4);
	refused_for_rollback(r);
	/* The same counter is no rollback. */
	stage_version(r, 5);
	assert_int_equal(power_up(r, true), FOTA_OK);
	assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);
	rig_close(r);
}

static void floor_rises_at_confirm_only_and_survives_a_revert(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB, 10 * 4 * KIB);
	struct fota_boot_status st;
	uint8_t *t;

	(void)state;
	stage_version(r, 7);
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK); /* installed, not confirmed */
	assert_int_equal(st.state, FOTA_BOOT_SWAPPED);
	assert_int_equal(st.floor, 1);
	assert_int_equal(st.counter, 7);
	assert_int_equal(fota_boot_run(&r->cfg, &st), FOTA_OK); /* trial */
	assert_int_equal(st.floor, 1);
	assert_int_equal(fota_boot_confirm(&r->cfg), FOTA_OK);
	assert_int_equal(fota_boot_status(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.floor, 7);

	/* Version 9 is installed and never confirms: reverted to 7; the floor stays 7. */
	t = r->old_img;
	r->old_img = r->new_img;
	r->old_size = r->new_size;
	r->new_img = t;
	stage_version(r, 9);
	assert_int_equal(power_up(r, false), FOTA_OK); /* installed; runs; never confirms */
	assert_int_equal(fota_boot_status(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.state, FOTA_BOOT_TRIAL);
	assert_int_equal(st.floor, 7);
	assert_int_equal(power_up(r, false), FOTA_OK); /* the next boot reverts it */
	assert_int_equal(check_settled(r), FOTA_BOOT_REVERTED);
	assert_int_equal(fota_boot_status(&r->cfg, &st), FOTA_OK);
	assert_int_equal(st.floor, 7);

	/* Below the floor: refused, even though the running image is the same 7. */
	stage_version(r, 6);
	refused_for_rollback(r);
	rig_close(r);
}

/* A floor raised by a confirmed update never comes down, whatever the cut: every record
 * carries it, and check_settled asserts it after each cut of the sweeps. Here the cut
 * falls during a later update that gets refused for rollback. */
static void rollback_refusal_survives_power_cuts(void **state)
{
	struct rig *r = rig_open(48 * 4 * KIB, 4 * KIB, 1, 9 * 4 * KIB, 10 * 4 * KIB);
	struct fota_boot_status st;
	uint32_t total;

	(void)state;
	make_image(r->old_img, r->old_size, 5);
	memcpy(r->mem + r->l->run_addr, r->old_img, r->old_size);
	stage_version(r, 3);
	memcpy(r->snap2, r->mem, r->size);
	fota_simflash_cut_power(&r->sf, 0, FOTA_CUT_CLEAN);
	assert_int_equal(power_up(r, true), FOTA_OK);
	total = r->sf.ops;
	for (int kind = FOTA_CUT_CLEAN; kind <= FOTA_CUT_TORN; kind++) {
		for (uint32_t n = 1; n <= total; n++) {
			cut_at(r, r->snap2, n, (enum fota_simflash_cut)kind, true);
			assert_int_equal(power_up(r, true), FOTA_OK);
			assert_int_equal(fota_boot_status(&r->cfg, &st), FOTA_OK);
			assert_int_equal(st.state, FOTA_BOOT_REFUSED);
			assert_int_equal(st.result, FOTA_ERR_ROLLBACK);
			assert_int_equal(st.floor, 5);
			assert_memory_equal(r->mem + r->l->run_addr, r->old_img, r->old_size);
		}
	}
	rig_close(r);
}

static void four_mib_flash_installs_and_reverts(void **state)
{
	struct rig *r = rig_open(4096 * KIB, 4 * KIB, 1, 1200 * KIB + 77, 1900 * KIB + 5);
	uint32_t total, cuts = 0;

	(void)state;
	assert_int_equal(r->l->slot_sectors, 501);
	memcpy(r->snap, r->mem, r->size);
	total = count_ops(r, true);
	assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);
	for (uint32_t n = 1; n <= total; n += total / 12 + 1, cuts++) {
		cut_at(r, r->snap, n, n & 1 ? FOTA_CUT_TORN : FOTA_CUT_CLEAN, true);
		assert_int_equal(power_up(r, true), FOTA_OK);
		assert_int_equal(check_settled(r), FOTA_BOOT_CONFIRMED);
	}
	printf("    4 MiB install: %u operations, %u cut points\n", (unsigned)total, (unsigned)cuts);

	memcpy(r->mem, r->snap, r->size);
	assert_int_equal(power_up(r, false), FOTA_OK);
	memcpy(r->snap, r->mem, r->size);
	total = count_ops(r, false);
	assert_int_equal(check_settled(r), FOTA_BOOT_REVERTED);
	cuts = 0;
	for (uint32_t n = 1; n <= total; n += total / 12 + 1, cuts++) {
		cut_at(r, r->snap, n, n & 1 ? FOTA_CUT_TORN : FOTA_CUT_CLEAN, false);
		assert_int_equal(power_up(r, false), FOTA_OK);
		assert_int_equal(check_settled(r), FOTA_BOOT_REVERTED);
	}
	printf("    4 MiB revert: %u operations, %u cut points\n", (unsigned)total, (unsigned)cuts);
	rig_close(r);
}

/* From the flash as it is now, a power-up (good or bad new firmware) whose read number k
 * fails, for every k: the boot stops with FOTA_ERR_IO (never refuses or reverts for it),
 * and the next power-up settles as without the error. Only a failed read of the confirm
 * itself leaves a good firmware unconfirmed, so reverted. Returns the reads covered. */
static uint32_t sweep_read_errors(struct rig *r, bool good, enum fota_boot_state want)
{
	uint32_t total, confirm_from;

	memcpy(r->snap, r->mem, r->size);
	r->reads = 0;
	assert_int_equal(power_up(r, good), FOTA_OK);
	total = r->reads;
	confirm_from = r->confirm_from;
	assert_int_equal(check_settled(r), want);
	for (uint32_t k = 1; k <= total; k++) {
		memcpy(r->mem, r->snap, r->size);
		r->reads = 0;
		r->fail_read = k;
		assert_int_equal(power_up(r, good), FOTA_ERR_IO);
		r->fail_read = 0;
		assert_int_equal(power_up(r, good), FOTA_OK);
		if (good && k > confirm_from)
			assert_int_equal(check_settled(r), FOTA_BOOT_REVERTED);
		else
			assert_int_equal(check_settled(r), want);
	}
	memcpy(r->mem, r->snap, r->size);
	return total;
}

/* A read error of the journal calls the agent makes changes nothing and is told. */
static void read_error_in_a_journal_call_is_told_and_changes_nothing(struct rig *r)
{
	struct fota_boot_status st;
	uint32_t total;

	for (int call = 0; call < 3; call++) {
		memcpy(r->snap, r->mem, r->size);
		r->reads = 0;
		for (uint32_t k = 1;; k++) {
			int err;

			r->fail_read = k;
			r->reads = 0;
			err = call == 0 ? fota_boot_status(&r->cfg, &st) :
			      call == 1 ? fota_boot_unstage(&r->cfg) :
					  fota_boot_mark_staged(&r->cfg, r->new_size);
			total = r->reads;
			r->fail_read = 0;
			if (total < k) { /* every read of the call was tried: it worked */
				assert_int_equal(err, FOTA_OK);
				break;
			}
			assert_int_equal(err, FOTA_ERR_IO);
			assert_memory_equal(r->mem, r->snap, r->size);
		}
		memcpy(r->mem, r->snap, r->size);
	}
}

static void read_error_at_every_read_of_a_boot_stops_it_and_the_next_settles(void **state)
{
	struct rig *r = rig_open(40 * 4 * KIB, 4 * KIB, 8, 3 * 4 * KIB + 1200, 4 * 4 * KIB + 2500);
	uint32_t install, revert;

	(void)state;
	read_error_in_a_journal_call_is_told_and_changes_nothing(r);
	install = sweep_read_errors(r, true, FOTA_BOOT_CONFIRMED);
	assert_int_equal(power_up(r, false), FOTA_OK); /* installed, never confirmed */
	revert = sweep_read_errors(r, false, FOTA_BOOT_REVERTED);
	printf("    read errors: %u reads of an install, %u of a revert, each failed in turn\n",
	       (unsigned)install, (unsigned)revert);
	rig_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fake_image_crc_is_fota_crc32),
		cmocka_unit_test(default_layout_of_a_4mib_flash),
		cmocka_unit_test(install_bigger_image_then_confirm),
		cmocka_unit_test(install_smaller_image_then_confirm),
		cmocka_unit_test(install_image_filling_the_slot_prog16),
		cmocka_unit_test(updates_in_a_row_start_fresh_bitmaps),
		cmocka_unit_test(never_confirmed_image_is_reverted_at_next_boot),
		cmocka_unit_test(image_broken_in_place_after_install_is_reverted),
		cmocka_unit_test(staged_image_failing_verification_is_never_installed),
		cmocka_unit_test(mark_staged_checks_size_and_state),
		cmocka_unit_test(journal_record_that_does_not_fit_the_layout_is_refused),
		cmocka_unit_test(blank_running_slot_is_installed_without_trial),
		cmocka_unit_test(journal_rolls_over_when_a_half_is_full),
		cmocka_unit_test(resumed_install_reports_each_percent_once),
		cmocka_unit_test(erases_per_sector_per_update),
		cmocka_unit_test(mark_staged_survives_power_cuts),
		cmocka_unit_test(install_survives_power_cuts_prog1),
		cmocka_unit_test(install_survives_power_cuts_prog8),
		cmocka_unit_test(install_of_smaller_image_survives_power_cuts),
		cmocka_unit_test(install_with_two_sector_journal_halves_survives_power_cuts),
		cmocka_unit_test(revert_survives_power_cuts_prog1),
		cmocka_unit_test(revert_survives_power_cuts_prog8),
		cmocka_unit_test(four_mib_flash_installs_and_reverts),
		cmocka_unit_test(read_error_at_every_read_of_a_boot_stops_it_and_the_next_settles),
		cmocka_unit_test(image_below_the_running_images_counter_is_refused),
		cmocka_unit_test(floor_rises_at_confirm_only_and_survives_a_revert),
		cmocka_unit_test(rollback_refusal_survives_power_cuts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
