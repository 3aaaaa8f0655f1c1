/*
 * fuzz_nv.c - the NV record store over a flash area that starts as the input says
 * (garbage halves, torn records, valid logs), then a script of writes, reads, remounts
 * and a power cut.
 *
 * Input: 3 bytes of setup, the op script, then the area's initial bytes (2048; a short
 * input leaves the rest erased).
 *   [0] bits 0-1: program size 1, 4, 8, 16; bit 2: 4 sectors of 512 (halves of two
 *       sectors) instead of 2 of 1024; bit 3: cut the power before flash operation [1]
 *       (bit 4: torn, else clean); bit 5: instead, flash operation [1] fails with
 *       FOTA_ERR_IO, not done, and the store goes on without a remount
 *   [1] the operation the cut or fault comes before (1-based, counted from the end of
 *       the mount; programs and erases count)
 *   [2] the number of ops, 3 bytes each:
 *       b0 bits 0-1: 0 write, 1 write the value the record has now (no flash operation
 *          allowed), 2 read into a buffer of b1 bytes, 3 remount; bits 2-4: the type,
 *          one of 1 2 3 4 5 200 0 255 (the last two are invalid)
 *       b1, b2: the length (b2 bit 7: (b2 & 3) << 8 | b1, up to 1023; else b1 % 64) and
 *          the seed of the bytes written
 * A reference reader written from docs/nv-format.md (active half by header and serial
 * generation, log walk, commit field, CRC) says what every type holds. After every op:
 * the flash holds exactly what the model says (the newest value written of each type,
 * or what the area held at the start), fota_nv_read agrees with it (and never returns a
 * record whose CRC fails), a write then a read gives what was written. After a cut the
 * store is mounted again: the type being written holds its old value or the new one,
 * every other type is intact. After an I/O error the same store goes on: every type
 * holds its old value, and the next writes work. Mount and read never change the flash;
 * nothing is written outside the area; the NOR rule is never broken (no
 * FOTA_ERR_FLASH_RULE). The module's boot (fota_module_init: status and settings from
 * whatever records the area holds) gives valid settings. At the end a remount reads
 * the same.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fota/module.h"
#include "fota/nv.h"
#include "fota/simflash.h"
#include "fuzz_util.h"

#define AREA 2048u
#define GUARD 1024u                    /* before and after the area */
#define FLASH_SIZE (GUARD + AREA + GUARD)
#define REC_MAX FOTA_NV_RECORD_MAX
#define GUARD_BYTE 0xA5

static const uint32_t prog_sizes[4] = { 1, 4, 8, 16 };
static const uint8_t types[8] = { 1, 2, 3, 4, 5, 200, 0, 0xFF };

static uint8_t mem[FLASH_SIZE];
static uint8_t before[FLASH_SIZE];

/* ---- reference reader (docs/nv-format.md) ---------------------------------------- */

struct ref {
	bool has[256];
	uint16_t len[256];
	uint8_t val[256][REC_MAX];
};

static uint32_t le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return le16(p) | le16(p + 2) << 16;
}

/* The reference's own CRC-32 (zlib's), table-driven, kept out of the coverage
 * instrumentation: the fuzzer should spend its time in the code under test. */
#define NO_COV __attribute__((no_sanitize("coverage")))

static uint32_t crc_table[256];

NO_COV static uint32_t ref_crc(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	if (!crc_table[1])
		for (uint32_t i = 0; i < 256; i++) {
			c = i;
			for (int k = 0; k < 8; k++)
				c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
			crc_table[i] = c;
		}
	c = 0xFFFFFFFFu;
	while (n--)
		c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
	return ~c;
}

static uint32_t al(uint32_t v, uint32_t p)
{
	return (v + p - 1) / p * p;
}

NO_COV static void ref_scan(const uint8_t *area, uint32_t P, struct ref *r)
{
	static const uint8_t commit[4] = { 0x3C, 0xA5, 0x5A, 0xC3 };
	uint32_t half = AREA / 2, gen[2], off, cn = P > 4 ? P : 4;
	bool ok[2];
	int h, act;

	memset(r->has, 0, sizeof(r->has));
	for (h = 0; h < 2; h++) {
		const uint8_t *b = area + (uint32_t)h * half;

		gen[h] = le32(b + 4);
		ok[h] = le32(b) == 0x564E5446u && b[8] == 1 && b[9] == P &&
			le32(b + 12) == ref_crc(b, 12);
	}
	act = !ok[0] || (ok[1] && gen[1] - gen[0] >= 1u && gen[1] - gen[0] <= 0x7FFFFFFFu);
	if (!ok[act])
		return;
	area += (uint32_t)act * half;
	for (off = 16; half - off >= 10;) {
		const uint8_t *rec = area + off;
		uint32_t type = rec[2], len = le16(rec + 4), size, i;

		if (le16(rec) != 0x5652 || type == 0 || type == 0xFF || len > REC_MAX)
			break;
		size = al(14 + len, P) + cn;
		if (size > half - off)
			break;
		for (i = 0; i < cn && rec[size - cn + i] == commit[i % 4]; i++)
			;
		if (i < cn)
			break;
		if (le32(rec + 10 + len) == ref_crc(rec, 10 + len)) {
			r->has[type] = true;
			r->len[type] = (uint16_t)len;
			memcpy(r->val[type], rec + 10, len);
		}
		off += size;
	}
}

/* The reference's reading of the area into seen, done again only when the area changed
 * since the last one (reads, remounts and refused writes change nothing: most ops). */
static uint8_t seen_area[AREA];
static uint32_t seen_P;
static bool seen_valid;

NO_COV static void scan_seen(const uint8_t *area, uint32_t P, struct ref *r)
{
	if (seen_valid && seen_P == P && !memcmp(seen_area, area, AREA))
		return;
	ref_scan(area, P, r);
	memcpy(seen_area, area, AREA);
	seen_P = P;
	seen_valid = true;
}

/* ---- a flash that fails one program or erase with FOTA_ERR_IO (not done) -------------- */

struct wrap {
	struct fota_flash f;
	struct fota_simflash *sf;
	uint32_t ops, fail_at;
};

static int w_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
	struct wrap *w = ctx;

	return w->sf->flash.read(w->sf->flash.ctx, addr, buf, len);
}

static int w_prog(void *ctx, uint32_t addr, const void *buf, size_t len)
{
	struct wrap *w = ctx;

	if (++w->ops == w->fail_at)
		return FOTA_ERR_IO;
	return w->sf->flash.prog(w->sf->flash.ctx, addr, buf, len);
}

static int w_erase(void *ctx, uint32_t addr)
{
	struct wrap *w = ctx;

	if (++w->ops == w->fail_at)
		return FOTA_ERR_IO;
	return w->sf->flash.erase(w->sf->flash.ctx, addr);
}

/* ---- the run ------------------------------------------------------------------------ */

static struct fota_simflash sf;
static struct wrap wf;
static struct fota_nv nv;
static struct ref model, seen;
static uint32_t P;
static unsigned last_type, turn;

static uint8_t guard[GUARD];

static void check_guards(void)
{
	CHECK(!memcmp(mem, guard, GUARD));
	CHECK(!memcmp(mem + GUARD + AREA, guard, GUARD));
}

NO_COV static bool same_value(const struct ref *a, unsigned t, const uint8_t *v, size_t len)
{
	return a->has[t] && a->len[t] == len && !memcmp(a->val[t], v, len);
}

/* The flash, read by the reference, holds what the model says; fota_nv_read agrees. */
NO_COV static void check_state(void)
{
	static uint8_t buf[REC_MAX + 8];
	unsigned t;

	scan_seen(mem + GUARD, P, &seen);
	for (t = 1; t < 255; t++) {
		CHECK_EQ(seen.has[t], model.has[t]);
		if (model.has[t]) {
			CHECK_EQ(seen.len[t], model.len[t]);
			CHECK(!memcmp(seen.val[t], model.val[t], model.len[t]));
		}
	}
	memcpy(before, mem, FLASH_SIZE);
	/* Two types a time (the one just used and one in turn): every read walks the log. */
	for (t = 0; t < 8; t++) {
		size_t len = 99999;
		unsigned ty = types[t];
		int err;

		if (ty != last_type && t != (turn & 7))
			continue;
		err = fota_nv_read(&nv, (uint8_t)ty, buf, sizeof(buf), &len);

		if (ty == 0 || ty == 0xFF || !model.has[ty]) {
			CHECK_EQ(err, FOTA_ERR_NOENT);
		} else {
			CHECK_EQ(err, FOTA_OK);
			CHECK_EQ(len, model.len[ty]);
			CHECK(!memcmp(buf, model.val[ty], len));
		}
	}
	CHECK(!memcmp(before, mem, FLASH_SIZE)); /* reads change nothing */
	turn++;
}

static void write_nothing(void *ctx, const char *data, size_t len)
{
	(void)ctx;
	(void)data;
	(void)len;
}

/* The module boots on the area: whatever it holds, the settings it loads are valid. */
static void module_boot(void)
{
	static const struct fota_module_info info = { "m", "m", "1", "864000000000008" };
	static struct fota_module m;
	struct fota_module_config cfg = { .flash = &wf.f, .nv_base = GUARD, .nv_size = AREA,
					  .info = &info, .write = write_nothing };
	const struct fota_settings *st[2] = { &m.settings.now, &m.settings.saved };
	struct fota_setting_value v = { 0 };

	memcpy(before, mem, FLASH_SIZE);
	CHECK_EQ(fota_module_init(&m, &cfg), FOTA_OK);
	CHECK(!memcmp(before, mem, FLASH_SIZE));
	CHECK(m.status.state == 0 || m.status.state == 2);
	for (int i = 0; i < 2; i++) {
		v.str = st[i]->key;
		v.len = fuzz_strnlen(st[i]->key, sizeof(st[i]->key));
		CHECK(v.len < sizeof(st[i]->key));
		CHECK_EQ(fota_settings_check(FOTA_TAG_KEY, &v), FOTA_OK);
		v.str = st[i]->url;
		v.len = fuzz_strnlen(st[i]->url, sizeof(st[i]->url));
		CHECK(v.len < sizeof(st[i]->url));
		CHECK_EQ(fota_settings_check(FOTA_TAG_URL, &v), FOTA_OK);
		v.str = NULL;
		v.num = st[i]->autoup;
		CHECK_EQ(fota_settings_check(FOTA_TAG_AUTO, &v), FOTA_OK);
		v.num = st[i]->period;
		CHECK_EQ(fota_settings_check(FOTA_TAG_PERIOD, &v), FOTA_OK);
	}
}

static void mount(void)
{
	memcpy(before, mem, FLASH_SIZE);
	CHECK_EQ(fota_nv_mount(&nv, &wf.f, GUARD, AREA), FOTA_OK);
	CHECK(!memcmp(before, mem, FLASH_SIZE)); /* mount only reads */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t val[1024];
	const uint8_t *ops;
	uint32_t sector, nops, k, i;
	uint8_t cfg;

	if (size < 3)
		return 0;
	cfg = data[0];
	P = prog_sizes[cfg & 3];
	sector = (cfg & 4) ? 512u : 1024u;
	nops = data[2];
	if (size - 3 < 3 * nops)
		nops = (uint32_t)(size - 3) / 3;
	ops = data + 3;

	memset(guard, GUARD_BYTE, GUARD);
	memset(mem, GUARD_BYTE, FLASH_SIZE);
	last_type = 1;
	turn = 0;
	memset(mem + GUARD, 0xFF, AREA);
	i = 3 + 3 * nops;
	memcpy(mem + GUARD, data + i, size - i < AREA ? size - i : AREA);
	CHECK_EQ(fota_simflash_init_mem(&sf, mem, FLASH_SIZE, sector, P), FOTA_OK);
	wf.f = sf.flash;
	wf.f.ctx = &wf;
	wf.f.read = w_read;
	wf.f.prog = w_prog;
	wf.f.erase = w_erase;
	wf.sf = &sf;
	wf.ops = 0;
	wf.fail_at = 0;

	module_boot();
	mount();
	ref_scan(mem + GUARD, P, &model);
	seen_valid = false;
	check_state();
	if (cfg & 0x20)
		wf.fail_at = data[1] ? data[1] : 1;
	else if (cfg & 8)
		fota_simflash_cut_power(&sf, data[1] ? data[1] : 1,
					(cfg & 16) ? FOTA_CUT_TORN : FOTA_CUT_CLEAN);

	for (k = 0; k < nops; k++) {
		const uint8_t *op = ops + 3 * k;
		unsigned kind = op[0] & 3, t = types[(op[0] >> 2) & 7];
		size_t len = (op[2] & 0x80) ? ((size_t)(op[2] & 3) << 8 | op[1]) : op[1] % 64u;
		struct fuzz_rng rng;
		uint32_t progs, erases;
		int err;

		last_type = t;
		if (kind == 3) {
			mount();
			check_state();
			continue;
		}
		if (kind == 2) {
			size_t cap = op[1], got = 99999;
			static uint8_t buf[256];

			memcpy(before, mem, FLASH_SIZE);
			err = fota_nv_read(&nv, (uint8_t)t, buf, cap, &got);
			CHECK(!memcmp(before, mem, FLASH_SIZE));
			if (t == 0 || t == 0xFF || !model.has[t]) {
				CHECK_EQ(err, FOTA_ERR_NOENT);
			} else if (model.len[t] > cap) {
				CHECK_EQ(err, FOTA_ERR_NOMEM);
				CHECK_EQ(got, model.len[t]);
			} else {
				CHECK_EQ(err, FOTA_OK);
				CHECK_EQ(got, model.len[t]);
				CHECK(!memcmp(buf, model.val[t], got));
			}
			continue;
		}
		if (kind == 1 && t != 0 && t != 0xFF && model.has[t]) {
			len = model.len[t];
			memcpy(val, model.val[t], len);
		} else {
			fuzz_rng_init(&rng, (uint32_t)op[1] << 8 ^ op[2] ^ k << 16);
			for (i = 0; i < len; i++)
				val[i] = (uint8_t)(fuzz_rng_next(&rng) >> 7);
			kind = 0;
		}
		progs = sf.stats.progs;
		erases = sf.stats.erases;
		err = fota_nv_write(&nv, (uint8_t)t, val, len);
		CHECK(err != FOTA_ERR_FLASH_RULE);
		check_guards();
		if (kind == 1) {
			/* The bytes the newest record holds: done, with no flash operation. */
			CHECK_EQ(err, FOTA_OK);
			CHECK_EQ(sf.stats.progs, progs);
			CHECK_EQ(sf.stats.erases, erases);
		}
		if (len > REC_MAX) {
			CHECK_EQ(err, FOTA_ERR_TOOLONG);
		} else if (t == 0 || t == 0xFF) {
			CHECK_EQ(err, FOTA_ERR_INVAL);
		} else if (err == FOTA_OK) {
			model.has[t] = true;
			model.len[t] = (uint16_t)len;
			memcpy(model.val[t], val, len);
		} else if (err == FOTA_ERR_POWER) {
			/* Power back, mount again: old or new for t, the rest intact. */
			fota_simflash_power_on(&sf);
			mount();
			scan_seen(mem + GUARD, P, &seen);
			if (same_value(&seen, t, val, len)) {
				model.has[t] = true;
				model.len[t] = (uint16_t)len;
				memcpy(model.val[t], val, len);
			}
		} else if (err != FOTA_ERR_IO) {
			CHECK_EQ(err, FOTA_ERR_NOSPC);
		}
		check_state();
	}
	check_guards();
	/* Power off and on, without a cut: the store reads the same. */
	fota_simflash_power_on(&sf);
	mount();
	check_state();
	fota_simflash_close(&sf);
	return 0;
}
