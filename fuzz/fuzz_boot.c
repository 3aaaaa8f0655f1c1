/*
 * fuzz_boot.c - the boot code (install with revert) over an install journal and slots
 * that start as the input says; optional power cut, then boots until it settles.
 *
 * Flash: 20 sectors of 256 bytes. Sector 0 the boot area, R = sectors 1-4 (N = 4),
 * S = sectors 5-9, the journal sectors 10-15 (halves of 768: 8 slots of 64 bytes and the
 * bitmap), NV 16-17, 18-19 unused.
 * R holds a fake image of 600 bytes and S[1] one of 900 unless the input says otherwise
 * (fake image: "FIMG", le32 total size; the verify hook checks only that).
 * Input: 4 bytes of setup, then the journal's 1536 bytes, then R's 1024 and S's 1280
 * (a short input leaves the rest as described).
 *   [0] bits 0-1: program size 1, 4, 8, 16; bit 2: cut the power before flash
 *       operation [1] (bit 3: torn); bit 4: fota_boot_confirm after the first boot;
 *       bit 5: fota_boot_mark_staged([2..3]) then boot again; bit 6: fota_boot_unstage;
 *       bit 7: every journal slot that starts with the magic gets its CRC made right
 *       (so mutations of a record's fields reach the code behind the CRC check)
 *   [1] the operation the cut comes before; [2..3] le16 image size for mark_staged
 * Invariants: fota_boot_run and the others return FOTA_OK, FOTA_ERR_CORRUPT (a journal
 * it refuses), FOTA_ERR_POWER (the cut), or the documented BUSY/FBIG of mark_staged;
 * never another error (an address outside the device, a NOR-rule violation); nothing
 * outside R, S and the journal is ever written (boot area, NV, the unused sectors);
 * an install (DID_INSTALL) that began from STAGED only of an image whose counter is at
 * least the floor;
 * every program and erase is one the design has: sectors of R (N) and S (N + 1) for
 * the swap; in the journal only whole halves erased (both sectors in a row), record
 * bodies and commit units at slot offsets, and bitmap marks of one program unit for
 * half-steps 0..2N-1; the state is an enum fota_boot_state; progress goes 0, 1, 2...
 * at most 100 in a call.
 * After a cut, power comes back and it boots again until it settles (bounded). A journal
 * the first boot took (not FOTA_ERR_CORRUPT) is never refused later: whatever the code
 * writes after that, cut or not, it must read back.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fota/boot.h"
#include "fota/simflash.h"
#include "fuzz_util.h"

#define SS 256u
#define N 4u
#define RUN (1u * SS)
#define STAGE (5u * SS)
#define JNL (10u * SS)
#define JHALF (3u * SS)
#define NVA (16u * SS)
#define FLASH_SIZE (20u * SS)

static const uint32_t prog_sizes[4] = { 1, 4, 8, 16 };
static uint8_t mem[FLASH_SIZE];
static uint8_t outside[FLASH_SIZE]; /* copy of the bytes nothing may write */
static struct fota_simflash sf;
static int last_pct;
static bool accepted; /* the journal was taken once: FOTA_ERR_CORRUPT is a finding now */

static int fake_verify(void *ctx, const struct fota_flash *f, uint32_t addr, uint32_t max_size,
		       uint32_t *image_size, uint32_t *counter)
{
	uint8_t b[8];
	uint32_t size;
	int err;

	(void)ctx;
	CHECK(addr == RUN || addr == STAGE + SS);
	CHECK(max_size == N * SS);
	err = f->read(f->ctx, addr, b, sizeof(b));
	if (err)
		return err;
	size = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
	if (memcmp(b, "FIMG", 4) || size < 8 || size > max_size)
		return FOTA_ERR_VERIFY;
	*image_size = size;
	*counter = size & 3; /* varies with the input, so refusals below the floor happen */
	return FOTA_OK;
}

static void progress(void *ctx, unsigned pct)
{
	(void)ctx;
	CHECK_EQ(pct, (unsigned)(last_pct + 1));
	CHECK(pct <= 100);
	last_pct = (int)pct;
}

/* ---- the flash as the boot code sees it: every program and erase checked -------------- */

#define JREC 36u    /* boot.c: a record's bytes, its CRC-32 the last 4 */
#define JSLOT 64u   /* boot.c: body (JREC up to FOTA_FLASH_PROG_MAX) and commit unit */
#define JBODY 48u
#define JBITMAP (8u * JSLOT)

static struct fota_flash port;
static uint32_t expect_jerase; /* the journal sector a half erase must go on with; 0 none */

static bool in(uint32_t a, uint32_t len, uint32_t base, uint32_t size)
{
	return a >= base && len <= size && a - base <= size - len;
}

static void bad_op(const char *what, uint32_t addr, size_t len)
{
	fprintf(stderr, "boot code did %s at 0x%x (%zu bytes): not an operation of the design\n",
		what, addr, len);
	CHECK(!"unexpected flash operation");
}

static int p_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
	(void)ctx;
	return sf.flash.read(sf.flash.ctx, addr, buf, len);
}

static int p_prog(void *ctx, uint32_t addr, const void *buf, size_t len)
{
	uint32_t pu = sf.flash.prog_size, o;

	(void)ctx;
	if (expect_jerase)
		bad_op("a program in the middle of a journal half erase", addr, len);
	if (in(addr, (uint32_t)len, JNL, 2 * JHALF)) {
		o = (addr - JNL) % JHALF;
		if (!((o < JBITMAP && o % JSLOT == 0 && len == JBODY) ||
		      (o < JBITMAP && o % JSLOT == JBODY && len == FOTA_FLASH_PROG_MAX) ||
		      (o >= JBITMAP && (o - JBITMAP) % pu == 0 && len == pu &&
		       (o - JBITMAP) / pu < 2 * N)))
			bad_op("a program in the journal", addr, len);
	} else if (!in(addr, (uint32_t)len, RUN, N * SS) &&
		   !in(addr, (uint32_t)len, STAGE, (N + 1) * SS)) {
		bad_op("a program outside R, S and the journal", addr, len);
	}
	return sf.flash.prog(sf.flash.ctx, addr, buf, len);
}

static int p_erase(void *ctx, uint32_t addr)
{
	(void)ctx;
	if (in(addr, SS, JNL, 2 * JHALF)) {
		if (expect_jerase ? addr != expect_jerase : (addr - JNL) % JHALF != 0)
			bad_op("an erase in the journal that is not part of a half's", addr, SS);
		expect_jerase = (addr - JNL) % JHALF + SS < JHALF ? addr + SS : 0;
	} else {
		if (expect_jerase)
			bad_op("an erase in the middle of a journal half erase", addr, SS);
		if (!in(addr, SS, RUN, N * SS) && !in(addr, SS, STAGE, (N + 1) * SS))
			bad_op("an erase outside R, S and the journal", addr, SS);
	}
	return sf.flash.erase(sf.flash.ctx, addr);
}

static void fake_image(uint8_t *at, uint32_t size, uint8_t fill)
{
	memcpy(at, "FIMG", 4);
	at[4] = (uint8_t)size;
	at[5] = (uint8_t)(size >> 8);
	at[6] = 0;
	at[7] = 0;
	memset(at + 8, fill, size - 8);
}

static bool in_areas(uint32_t a)
{
	return (a >= RUN && a < STAGE + (N + 1) * SS) || (a >= JNL && a < JNL + 2 * JHALF);
}

/* Outside R, S and the journal: the boot area (sector 0) and sectors 14-17 (NV, unused).
 * Compared with memcmp first (a byte loop over the whole flash was most of the time); the
 * byte loop only runs to say which byte changed. */
_Static_assert(STAGE + (N + 1) * SS == JNL && JNL + 2 * JHALF == NVA,
	       "R, S and the journal are one run of sectors from RUN to NVA");

static void check_outside(void)
{
	if (memcmp(mem, outside, RUN) || memcmp(mem + NVA, outside + NVA, FLASH_SIZE - NVA))
		for (uint32_t a = 0; a < FLASH_SIZE; a++)
			if (!in_areas(a) && mem[a] != outside[a]) {
				fprintf(stderr, "byte 0x%x outside R, S and the journal was written\n", a);
				CHECK(!"a write outside R, S and the journal");
			}
	CHECK_EQ(sf.stats.rule_violations, 0);
}

static bool staged_here; /* a boot of this input started from STAGED: its install is ours */

static int boot(const struct fota_boot_cfg *c, struct fota_boot_status *st)
{
	struct fota_boot_status pre;
	int err;

	if (fota_boot_status(c, &pre) == FOTA_OK && pre.state == FOTA_BOOT_STAGED)
		staged_here = true;
	last_pct = -1;
	memset(st, 0xA5, sizeof(*st));
	err = fota_boot_run(c, st);
	if (err != FOTA_OK && err != FOTA_ERR_CORRUPT && err != FOTA_ERR_POWER)
		fprintf(stderr, "fota_boot_run: %s\n", fota_strerror(err));
	CHECK(err == FOTA_OK || err == FOTA_ERR_CORRUPT || err == FOTA_ERR_POWER);
	if (accepted && err == FOTA_ERR_CORRUPT)
		CHECK(!"a journal the boot code wrote itself is refused as corrupt");
	if (err != FOTA_ERR_CORRUPT)
		accepted = true;
	CHECK((unsigned)st->state <= FOTA_BOOT_REFUSED);
	CHECK((unsigned)st->did <= FOTA_BOOT_DID_REFUSE);
	/* Anti-rollback: nothing below the floor is ever swapped in (by an install that began
	 * here from STAGED; a SWAPPING record of the input is taken as it says). */
	if (err == FOTA_OK && st->did == FOTA_BOOT_DID_INSTALL && staged_here)
		CHECK(st->counter >= st->floor);
	check_outside();
	return err;
}

/* The cut (armed, or done by the last call): power comes back, no cut any more. */
static void power_back(void)
{
	fota_simflash_power_on(&sf);
	expect_jerase = 0;
}

/* Boots again after cuts until the boot settles (the cut is disarmed by power_on). */
static void settle(const struct fota_boot_cfg *c, struct fota_boot_status *st, int err)
{
	for (int k = 0; k < 8 && err == FOTA_ERR_POWER; k++) {
		fota_simflash_power_on(&sf);
		expect_jerase = 0; /* a half erase the cut stopped */
		err = boot(c, st);
	}
	CHECK(err != FOTA_ERR_POWER);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *setup = data;
	struct fota_boot_cfg c;
	struct fota_boot_status st;
	size_t n;
	uint8_t cfg;
	int err;

	if (size < 4)
		return 0;
	cfg = data[0];

	memset(mem, 0xFF, FLASH_SIZE);
	memset(mem, 0x5B, SS);                    /* the boot code */
	memset(mem + NVA, 0x6C, 2 * SS);          /* NV */
	memset(mem + NVA + 2 * SS, 0x7D, 2 * SS); /* unused */
	fake_image(mem + RUN, 600, 0x11);
	fake_image(mem + STAGE + SS, 900, 0x22);
	data += 4;
	size -= 4;
	n = size < 2 * JHALF ? size : 2 * JHALF;
	memcpy(mem + JNL, data, n);
	data += n;
	size -= n;
	n = size < N * SS ? size : N * SS;
	memcpy(mem + RUN, data, n);
	data += n;
	size -= n;
	n = size < (N + 1) * SS ? size : (N + 1) * SS;
	memcpy(mem + STAGE, data, n);
	if (cfg & 0x80) {
		for (uint32_t h = 0; h < 2; h++)
			for (uint32_t k = 0; k < 8; k++) {
				uint8_t *r = mem + JNL + h * JHALF + k * JSLOT;
				uint32_t crc;

				if (memcmp(r, "FJNL", 4))
					continue;
				crc = fota_crc32(0, r, JREC - 4);
				r[JREC - 4] = (uint8_t)crc;
				r[JREC - 3] = (uint8_t)(crc >> 8);
				r[JREC - 2] = (uint8_t)(crc >> 16);
				r[JREC - 1] = (uint8_t)(crc >> 24);
			}
	}
	memcpy(outside, mem, FLASH_SIZE);

	CHECK_EQ(fota_simflash_init_mem(&sf, mem, FLASH_SIZE, SS, prog_sizes[cfg & 3]), FOTA_OK);
	port = sf.flash;
	port.ctx = NULL;
	port.read = p_read;
	port.prog = p_prog;
	port.erase = p_erase;
	expect_jerase = 0;
	accepted = false;
	staged_here = false;
	memset(&c, 0, sizeof(c));
	c.flash = &port;
	c.layout.boot_size = SS;
	c.layout.run_addr = RUN;
	c.layout.stage_addr = STAGE;
	c.layout.slot_sectors = N;
	c.layout.journal_addr = JNL;
	c.layout.journal_half = JHALF;
	c.layout.nv_addr = NVA;
	c.layout.nv_size = 2 * SS;
	c.verify = fake_verify;
	c.progress = progress;
	CHECK(fota_layout_valid(&c.layout, &port));
	CHECK(fota_layout_journal_half(N, &port) <= JHALF);

	if (cfg & 4)
		fota_simflash_cut_power(&sf, setup[1] ? setup[1] : 1,
					(cfg & 8) ? FOTA_CUT_TORN : FOTA_CUT_CLEAN);
	err = boot(&c, &st);
	settle(&c, &st, err);

	if (cfg & 0x10) {
		err = fota_boot_confirm(&c);
		CHECK(err == FOTA_OK || (err == FOTA_ERR_CORRUPT && !accepted) ||
		      err == FOTA_ERR_POWER);
		check_outside();
		power_back();
	}
	if (cfg & 0x40) {
		err = fota_boot_unstage(&c);
		CHECK(err == FOTA_OK || (err == FOTA_ERR_CORRUPT && !accepted) ||
		      err == FOTA_ERR_POWER);
		check_outside();
		power_back();
	}
	if (cfg & 0x20) {
		uint32_t img = (uint32_t)setup[2] | (uint32_t)setup[3] << 8;

		err = fota_boot_mark_staged(&c, img);
		CHECK(err == FOTA_OK || (err == FOTA_ERR_CORRUPT && !accepted) ||
		      err == FOTA_ERR_BUSY || err == FOTA_ERR_FBIG || err == FOTA_ERR_POWER);
		check_outside();
		power_back();
		err = boot(&c, &st);
		settle(&c, &st, err);
	}
	/* Settled: one more boot never fails for a journal it took. */
	err = fota_boot_status(&c, &st);
	CHECK(err == FOTA_OK || (err == FOTA_ERR_CORRUPT && !accepted));
	fota_simflash_close(&sf);
	return 0;
}
