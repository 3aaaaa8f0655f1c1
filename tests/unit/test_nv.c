/* Unit tests of the NV record store: round trips, compaction, wear, corruption and a power
 * cut (clean and torn) at every flash operation of a save, then a second cut after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fota/nv.h"
#include "fota/simflash.h"

#define SECT 4096u
#define NSECT 4u
#define AREA (NSECT * SECT)
#define NTYPES 4

static uint8_t mem[AREA];    /* the emulated flash */
static uint8_t before[AREA]; /* the image before the save under test */
static uint8_t mid[AREA];    /* the image after the first cut and a remount */
static struct fota_simflash sf;
static struct fota_nv nv;
static uint32_t ver[NTYPES + 1]; /* version of each type the store holds; 0 = none */
static uint32_t nv_base = 0, nv_size = AREA; /* the NV area inside the flash */

/* The payload of version v of a type: deterministic, a length that varies with v. */
static size_t value(uint8_t type, uint32_t v, uint8_t *out)
{
	static const size_t base[NTYPES + 1] = { 0, 300, 15, 8, 40 };
	size_t n = base[type] + (type == FOTA_NV_DEVICE ? 0 : v % 23);

	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(type * 31 + v * 7 + i * 13);
	return n;
}

static void open_flash(uint32_t prog_size)
{
	assert_int_equal(fota_simflash_init_mem(&sf, mem, AREA, SECT, prog_size), FOTA_OK);
	fota_simflash_format(&sf);
	memset(ver, 0, sizeof(ver));
	assert_int_equal(fota_nv_mount(&nv, &sf.flash, nv_base, nv_size), FOTA_OK);
}

static void close_flash(void)
{
	assert_int_equal(sf.stats.rule_violations, 0); /* nv never programs a set bit */
	fota_simflash_close(&sf);
}

static int save(uint8_t type, uint32_t v)
{
	uint8_t buf[FOTA_NV_RECORD_MAX];

	return fota_nv_write(&nv, type, buf, value(type, v, buf));
}

static void save_ok(uint8_t type, uint32_t v)
{
	assert_int_equal(save(type, v), FOTA_OK);
	ver[type] = v;
}

/* True when type reads exactly as version v (v = 0: reads as absent). */
static bool reads_as(uint8_t type, uint32_t v)
{
	uint8_t want[FOTA_NV_RECORD_MAX], got[FOTA_NV_RECORD_MAX];
	size_t n, len = 0;
	int err = fota_nv_read(&nv, type, got, sizeof(got), &len);

	if (v == 0)
		return err == FOTA_ERR_NOENT;
	n = value(type, v, want);
	return err == FOTA_OK && len == n && memcmp(got, want, n) == 0;
}

static void check_all(void)
{
	for (uint8_t t = 1; t <= NTYPES; t++)
		assert_true(reads_as(t, ver[t]));
}

static void remount(void)
{
	fota_simflash_power_on(&sf);
	assert_int_equal(fota_nv_mount(&nv, &sf.flash, nv_base, nv_size), FOTA_OK);
}

static void write_then_read_round_trips(uint32_t prog)
{
	uint8_t buf[8];
	size_t len;

	open_flash(prog);
	save_ok(FOTA_NV_SETTINGS, 1);
	save_ok(FOTA_NV_DEVICE, 1);
	check_all();
	remount();
	check_all();
	/* An empty payload is a record too. */
	assert_int_equal(fota_nv_write(&nv, FOTA_NV_STATUS, NULL, 0), FOTA_OK);
	remount();
	assert_int_equal(fota_nv_read(&nv, FOTA_NV_STATUS, buf, sizeof(buf), &len), FOTA_OK);
	assert_int_equal(len, 0);
	close_flash();
}

static void write_then_read_round_trips_prog1(void **state)
{
	(void)state;
	write_then_read_round_trips(1);
}

static void write_then_read_round_trips_prog8(void **state)
{
	(void)state;
	write_then_read_round_trips(8);
}

static void newest_record_of_a_type_wins(void **state)
{
	(void)state;
	open_flash(1);
	for (uint32_t v = 1; v <= 10; v++) {
		save_ok(FOTA_NV_STATUS, v);
		save_ok(FOTA_NV_DOWNLOAD, 100 + v);
	}
	check_all();
	remount();
	check_all();
	close_flash();
}

static void every_type_survives_compaction(uint32_t prog)
{
	uint32_t gen;

	open_flash(prog);
	for (uint8_t t = 1; t <= NTYPES; t++)
		save_ok(t, t);
	gen = nv.gen;
	/* Settings records of ~300 bytes fill an 8 KiB half in a few dozen writes. */
	for (uint32_t v = 10; nv.gen < gen + 3; v++)
		save_ok(FOTA_NV_SETTINGS, v);
	check_all();
	remount();
	check_all();
	assert_int_equal(nv.gen, gen + 3);
	close_flash();
}

static void several_types_survive_compaction_prog1(void **state)
{
	(void)state;
	every_type_survives_compaction(1);
}

static void several_types_survive_compaction_prog8(void **state)
{
	(void)state;
	every_type_survives_compaction(8);
}

static void identical_write_costs_no_flash_operation(void **state)
{
	(void)state;
	open_flash(1);
	save_ok(FOTA_NV_SETTINGS, 5);
	save_ok(FOTA_NV_STATUS, 5);
	remount();
	fota_simflash_cut_power(&sf, 0, FOTA_CUT_CLEAN); /* clears the operation count */
	assert_int_equal(save(FOTA_NV_SETTINGS, 5), FOTA_OK);
	assert_int_equal(save(FOTA_NV_STATUS, 5), FOTA_OK);
	assert_int_equal(sf.ops, 0);
	/* Same length, other bytes: a real write. */
	save_ok(FOTA_NV_STATUS, 5 + 23);
	assert_int_equal(sf.ops, 2); /* body, commit */
	check_all();
	close_flash();
}

static void too_long_write_fails_with_toolong_and_changes_nothing(void **state)
{
	static uint8_t big[FOTA_NV_RECORD_MAX + 1];

	(void)state;
	open_flash(1);
	save_ok(FOTA_NV_SETTINGS, 1);
	memcpy(before, mem, AREA);
	fota_simflash_cut_power(&sf, 0, FOTA_CUT_CLEAN);
	assert_int_equal(fota_nv_write(&nv, FOTA_NV_SETTINGS, big, sizeof(big)), FOTA_ERR_TOOLONG);
	assert_int_equal(fota_nv_write(&nv, 0, big, 1), FOTA_ERR_INVAL);
	assert_int_equal(fota_nv_write(&nv, 0xFF, big, 1), FOTA_ERR_INVAL);
	assert_int_equal(fota_nv_write(&nv, FOTA_NV_STATUS, NULL, 1), FOTA_ERR_INVAL);
	assert_int_equal(sf.ops, 0);
	assert_memory_equal(mem, before, AREA);
	/* The largest legal record fits. */
	memset(big, 0x42, sizeof(big));
	assert_int_equal(fota_nv_write(&nv, FOTA_NV_DOWNLOAD, big, FOTA_NV_RECORD_MAX), FOTA_OK);
	remount();
	assert_true(reads_as(FOTA_NV_SETTINGS, 1));
	{
		static uint8_t got[FOTA_NV_RECORD_MAX];
		size_t len;

		assert_int_equal(fota_nv_read(&nv, FOTA_NV_DOWNLOAD, got, sizeof(got), &len), FOTA_OK);
		assert_int_equal(len, FOTA_NV_RECORD_MAX);
		assert_memory_equal(got, big, len);
	}
	close_flash();
}

static void blank_area_reads_noent_and_mount_only_reads(void **state)
{
	uint8_t buf[4];
	size_t len;

	(void)state;
	open_flash(1);
	for (uint8_t t = 1; t <= NTYPES; t++)
		assert_int_equal(fota_nv_read(&nv, t, buf, sizeof(buf), &len), FOTA_ERR_NOENT);
	assert_false(nv.formatted);
	/* Garbage everywhere: still mounts, reads as empty, and the first write formats. */
	for (uint32_t i = 0; i < AREA; i++)
		mem[i] = (uint8_t)(i * 2654435761u >> 13);
	memcpy(before, mem, AREA);
	remount();
	check_all();
	assert_int_equal(sf.stats.progs + sf.stats.erases, 0);
	assert_memory_equal(mem, before, AREA);
	save_ok(FOTA_NV_DEVICE, 3);
	remount();
	check_all();
	close_flash();
}

static void short_buffer_gets_nomem_and_the_length(void **state)
{
	uint8_t buf[8];
	size_t len = 0;

	(void)state;
	open_flash(1);
	save_ok(FOTA_NV_DEVICE, 1);
	assert_int_equal(fota_nv_read(&nv, FOTA_NV_DEVICE, buf, sizeof(buf), &len), FOTA_ERR_NOMEM);
	assert_int_equal(len, 15);
	close_flash();
}

static void bad_geometry_is_rejected(void **state)
{
	(void)state;
	open_flash(1);
	assert_int_equal(fota_nv_mount(&nv, &sf.flash, 0, 3 * SECT), FOTA_ERR_INVAL);
	assert_int_equal(fota_nv_mount(&nv, &sf.flash, 0, 0), FOTA_ERR_INVAL);
	assert_int_equal(fota_nv_mount(&nv, &sf.flash, 100, 2 * SECT), FOTA_ERR_INVAL);
	assert_int_equal(fota_nv_mount(&nv, &sf.flash, 2 * SECT, 4 * SECT), FOTA_ERR_INVAL);
	assert_int_equal(fota_nv_mount(&nv, NULL, 0, 2 * SECT), FOTA_ERR_INVAL);
	assert_int_equal(fota_nv_mount(&nv, &sf.flash, 2 * SECT, 2 * SECT), FOTA_OK);
	close_flash();
}

/* Finds the payload of a version in the flash image (the test's way to corrupt it). */
static uint8_t *find_in_flash(uint8_t type, uint32_t v)
{
	uint8_t want[FOTA_NV_RECORD_MAX];
	size_t n = value(type, v, want);

	for (uint32_t i = 0; i + n <= AREA; i++)
		if (memcmp(mem + i, want, n) == 0)
			return mem + i;
	fail();
	return NULL;
}

static void record_with_a_flipped_byte_is_never_returned(void **state)
{
	uint8_t active;

	(void)state;
	open_flash(1);
	save_ok(FOTA_NV_DEVICE, 1);
	save_ok(FOTA_NV_STATUS, 1);
	save_ok(FOTA_NV_STATUS, 2);
	save_ok(FOTA_NV_DOWNLOAD, 1);
	find_in_flash(FOTA_NV_STATUS, 2)[3] ^= 0x10;
	find_in_flash(FOTA_NV_DEVICE, 1)[0] ^= 0x01;
	remount();
	ver[FOTA_NV_STATUS] = 1; /* the older, intact one */
	ver[FOTA_NV_DEVICE] = 0; /* no intact one */
	check_all();
	/* The half holds a bad record: the next write compacts it away. */
	active = nv.active;
	save_ok(FOTA_NV_SETTINGS, 1);
	assert_int_not_equal(nv.active, active);
	check_all();
	remount();
	check_all();
	close_flash();
}

static void garbage_after_the_log_stops_appends(void **state)
{
	uint8_t zero[8] = { 0 };
	uint8_t active;

	(void)state;
	open_flash(8);
	save_ok(FOTA_NV_STATUS, 1);
	save_ok(FOTA_NV_DEVICE, 1);
	assert_int_equal(sf.flash.prog(sf.flash.ctx, nv.active * (AREA / 2) + nv.wr + 512, zero, 8),
			 FOTA_OK);
	remount();
	assert_int_equal(nv.wr, nv.half); /* closed for appends */
	check_all();
	active = nv.active;
	save_ok(FOTA_NV_STATUS, 2);
	assert_int_not_equal(nv.active, active);
	remount();
	check_all();
	close_flash();
}

static void generation_wrap_keeps_the_newest_half(void **state)
{
	uint32_t v = 1;

	(void)state;
	open_flash(1);
	nv.gen = 0xFFFFFFFCu; /* the format writes 0xFFFFFFFD, compactions 0xFFFFFFFE, ... 0, 1 */
	save_ok(FOTA_NV_DEVICE, 1);
	remount();
	assert_int_equal(nv.gen, 0xFFFFFFFDu);
	while (nv.gen != 2) {
		save_ok(FOTA_NV_SETTINGS, v++);
		remount();
		check_all();
	}
	close_flash();
}

/* A thousands-write workload: the halves take turns, so every sector is erased as often
 * as the others (within one). */
static void wear(uint32_t first, uint32_t count)
{
	uint32_t lo = UINT32_MAX, hi = 0;

	nv_base = first * SECT;
	nv_size = count * SECT;
	open_flash(1);
	for (uint32_t i = 1; i <= 5000; i++) {
		save_ok((uint8_t)(i % NTYPES + 1), i);
		if (i % 250 == 0) {
			remount();
			check_all();
		}
	}
	printf("wear, %u-sector area: 5000 writes, %u compactions; erases per sector:", count,
	       nv.gen);
	for (uint32_t s = first; s < first + count; s++) {
		printf(" %u", sf.stats.erase_count[s]);
		lo = sf.stats.erase_count[s] < lo ? sf.stats.erase_count[s] : lo;
		hi = sf.stats.erase_count[s] > hi ? sf.stats.erase_count[s] : hi;
	}
	printf("\n");
	assert_true(lo > 0 && hi - lo <= 1);
	for (uint32_t s = 0; s < first; s++)
		assert_int_equal(sf.stats.erase_count[s], 0); /* nothing outside the area */
	close_flash();
	nv_base = 0;
	nv_size = AREA;
}

static void thousands_of_writes_wear_level_across_the_halves(void **state)
{
	(void)state;
	wear(0, NSECT);
	wear(NSECT - 2, 2); /* the boot layout's NV: two sectors at the end of the flash */
}

/* A torn erase of any sector (of the active half or the other) never stops a mount, never
 * yields a value that was not written, and the store takes new writes afterwards. */
static void mount_survives_a_torn_erase_in_either_half(void **state)
{
	(void)state;
	open_flash(1);
	for (uint32_t v = 1; v < 60; v++)
		save_ok((uint8_t)(v % NTYPES + 1), v);
	memcpy(before, mem, AREA);
	for (uint32_t s = 0; s < NSECT; s++) {
		memcpy(mem, before, AREA);
		fota_simflash_cut_power(&sf, 1, FOTA_CUT_TORN);
		assert_int_equal(sf.flash.erase(sf.flash.ctx, s * SECT), FOTA_ERR_POWER);
		remount();
		for (uint8_t t = 1; t <= NTYPES; t++) {
			uint32_t v;

			for (v = 0; v < 60 && !reads_as(t, v); v++)
				;
			assert_true(v < 60); /* absent, or a version that was written */
		}
		for (uint8_t t = 1; t <= NTYPES; t++)
			save_ok(t, 100 + t + s);
		remount();
		check_all();
	}
	close_flash();
}

/* --- the power-cut test -------------------------------------------------------------- */

/* Counts the flash operations (programs, erases) of saving version v of type from the
 * image img, leaving the flash as that save made it. */
static uint32_t count_ops(const uint8_t *img, uint8_t type, uint32_t v)
{
	memcpy(mem, img, AREA);
	remount();
	fota_simflash_cut_power(&sf, 0, FOTA_CUT_CLEAN);
	assert_int_equal(save(type, v), FOTA_OK);
	return sf.ops;
}

/* From image img, cuts power before operation n of saving version v of type; after the
 * remount the type must read as its old version or v, and every other type as before.
 * Returns the version it reads as. */
static uint32_t cut_save(const uint8_t *img, uint8_t type, uint32_t v, uint32_t n,
			 enum fota_simflash_cut kind)
{
	uint32_t old = ver[type];

	memcpy(mem, img, AREA);
	remount();
	fota_simflash_cut_power(&sf, n, kind);
	assert_int_equal(save(type, v), FOTA_ERR_POWER);
	remount();
	ver[type] = reads_as(type, v) ? v : old;
	check_all();
	return ver[type];
}

/* Builds in "before" the state ahead of the save under test: every type stored, the
 * others updated now and then, the half filled until saving the settings compacts (or
 * not). Returns the version that save writes. */
static uint32_t prepare(uint32_t prog, bool compacting)
{
	uint32_t v = 1;

	open_flash(prog);
	for (uint8_t t = 1; t <= NTYPES; t++)
		save_ok(t, v++);
	for (;;) {
		uint8_t active;

		save_ok((uint8_t)(v % 3 + 2), v); /* device, status, download */
		v++;
		active = nv.active;
		memcpy(before, mem, AREA);
		(void)count_ops(before, FOTA_NV_SETTINGS, v);
		if ((nv.active != active) == compacting)
			return v;
		ver[FOTA_NV_SETTINGS] = v++; /* keep that save and go on */
	}
}

static void cut_every_operation(uint32_t prog, bool compacting)
{
	const uint8_t target = FOTA_NV_SETTINGS;
	uint32_t vb[NTYPES + 1], vm[NTYPES + 1];
	uint32_t total, total2, v, cuts = 0, cuts2 = 0, saw_new = 0;

	v = prepare(prog, compacting);
	memcpy(vb, ver, sizeof(vb));
	total = count_ops(before, target, v);
	for (int kind = FOTA_CUT_CLEAN; kind <= FOTA_CUT_TORN; kind++) {
		for (uint32_t n = 1; n <= total; n++) {
			uint8_t t2 = n & 1 ? target : FOTA_NV_STATUS;
			uint32_t v2 = v + 1;

			memcpy(ver, vb, sizeof(ver));
			if (cut_save(before, target, v, n, (enum fota_simflash_cut)kind) == v)
				saw_new++;
			cuts++;
			/* Double cut: a second save from the recovered state, cut at each operation. */
			memcpy(mid, mem, AREA);
			memcpy(vm, ver, sizeof(vm));
			total2 = count_ops(mid, t2, v2);
			ver[t2] = v2;
			check_all();
			for (int kind2 = FOTA_CUT_CLEAN; kind2 <= FOTA_CUT_TORN; kind2++) {
				for (uint32_t n2 = 1; n2 <= total2; n2++) {
					memcpy(ver, vm, sizeof(ver));
					cut_save(mid, t2, v2, n2, (enum fota_simflash_cut)kind2);
					cuts2++;
					/* The store still takes a write after both cuts. */
					save_ok(FOTA_NV_DOWNLOAD, v + 2);
					remount();
					check_all();
				}
			}
		}
	}
	/* The last operation (commit or half header) is what makes the new value visible,
	 * so a cut before any operation, even a torn one, leaves the old one. */
	assert_int_equal(saw_new, 0);
	printf("%s save, %u-sector area, prog_size %u: %u operations; %u single cuts (clean "
	       "and torn), %u read the new value; %u double cuts\n",
	       compacting ? "compacting" : "appending", nv_size / SECT, prog, total, cuts,
	       saw_new, cuts2);

	close_flash();
}

static void power_cut_at_every_operation_of_an_append_leaves_old_or_new(void **state)
{
	(void)state;
	cut_every_operation(1, false);
	cut_every_operation(8, false);
}

static void power_cut_at_every_operation_of_a_compaction_leaves_old_or_new(void **state)
{
	(void)state;
	cut_every_operation(1, true);
	cut_every_operation(8, true);
	cut_every_operation(16, true);
	nv_base = (NSECT - 2) * SECT; /* the boot layout's NV: two sectors at the end */
	nv_size = 2 * SECT;
	cut_every_operation(8, true);
	nv_base = 0;
	nv_size = AREA;
}

/* --- other flash errors ------------------------------------------------------------- */

static const struct fota_flash *real;
static uint32_t io_count, io_fail_at;
static bool io_done; /* the failing call still does its work (a failed verify, say) */

/* A flash that passes every call to the simflash but fails call number io_fail_at. */
static int flaky(int err)
{
	if (!io_fail_at || ++io_count != io_fail_at)
		return err;
	return FOTA_ERR_IO;
}

static int flaky_read(void *ctx, uint32_t a, void *b, size_t n)
{
	if (io_fail_at && io_count + 1 == io_fail_at && !io_done)
		return flaky(FOTA_OK);
	return flaky(real->read(ctx, a, b, n));
}

static int flaky_prog(void *ctx, uint32_t a, const void *b, size_t n)
{
	if (io_fail_at && io_count + 1 == io_fail_at && !io_done)
		return flaky(FOTA_OK);
	return flaky(real->prog(ctx, a, b, n));
}

static int flaky_erase(void *ctx, uint32_t a)
{
	if (io_fail_at && io_count + 1 == io_fail_at && !io_done)
		return flaky(FOTA_OK);
	return flaky(real->erase(ctx, a));
}

/* An I/O error at any read, program or erase of a save (appending or compacting), with
 * the call done or not, comes back at once, and neither that session nor a remount loses
 * or mixes a record. */
static void io_error_at_every_call_of_a_save_propagates_and_loses_nothing(void **state)
{
	struct fota_flash flaky;
	uint32_t vb[NTYPES + 1], v, total, runs = 0;

	(void)state;
	for (int mode = 0; mode < 4; mode++) {
		bool compacting = mode & 1;

		io_done = mode & 2;
		v = prepare(8, compacting);
		memcpy(vb, ver, sizeof(vb));
		real = &sf.flash;
		flaky = sf.flash;
		flaky.read = flaky_read;
		flaky.prog = flaky_prog;
		flaky.erase = flaky_erase;
		memcpy(mem, before, AREA);
		assert_int_equal(fota_nv_mount(&nv, &flaky, 0, AREA), FOTA_OK);
		io_count = 0;
		io_fail_at = UINT32_MAX;
		assert_int_equal(save(FOTA_NV_SETTINGS, v), FOTA_OK);
		total = io_count;
		for (uint32_t k = 1; k <= total; k++) {
			memcpy(mem, before, AREA);
			memcpy(ver, vb, sizeof(ver));
			io_fail_at = 0;
			assert_int_equal(fota_nv_mount(&nv, &flaky, 0, AREA), FOTA_OK);
			io_count = 0;
			io_fail_at = k;
			assert_int_equal(save(FOTA_NV_SETTINGS, v), FOTA_ERR_IO);
			io_fail_at = 0;
			/* The same session goes on: old or new, then a new write works. */
			if (reads_as(FOTA_NV_SETTINGS, v))
				ver[FOTA_NV_SETTINGS] = v;
			check_all();
			save_ok(FOTA_NV_STATUS, v + 1);
			remount();
			check_all();
			save_ok(FOTA_NV_SETTINGS, v + 1);
			remount();
			check_all();
			runs++;
		}
		close_flash();
	}
	printf("I/O errors: %u failing calls covered\n", runs);
}

/* An I/O error at any read of a mount (half headers, the record scan, the erased check
 * after the log) fails the mount with that error and writes nothing; a mount that can
 * read again finds every record. With garbage after the log, the same holds. */
static void io_error_at_every_read_of_a_mount_fails_it_and_a_remount_finds_all(void **state)
{
	struct fota_flash flaky;
	uint32_t total, runs = 0;

	(void)state;
	for (int garbage = 0; garbage < 2; garbage++) {
		(void)prepare(1, false);
		memcpy(mem, before, AREA); /* prepare leaves the save it counted in mem */
		remount();
		if (garbage)
			mem[nv.active * (AREA / 2) + nv.wr + 3] = 0x12;
		memcpy(before, mem, AREA);
		real = &sf.flash;
		flaky = sf.flash;
		flaky.read = flaky_read;
		flaky.prog = flaky_prog;
		flaky.erase = flaky_erase;
		io_done = false;
		io_count = 0;
		io_fail_at = UINT32_MAX;
		assert_int_equal(fota_nv_mount(&nv, &flaky, 0, AREA), FOTA_OK);
		total = io_count;
		assert_true(total >= 3);
		for (uint32_t k = 1; k <= total; k++) {
			io_count = 0;
			io_fail_at = k;
			assert_int_equal(fota_nv_mount(&nv, &flaky, 0, AREA), FOTA_ERR_IO);
			assert_memory_equal(mem, before, AREA);
			io_fail_at = 0;
			remount();
			check_all();
			runs++;
		}
		close_flash();
	}
	printf("I/O errors: %u failing reads of a mount covered\n", runs);
}

/* When the live records of every type fill a half, a new record has no room even after
 * compaction: NOSPC, and every record written before reads as it was. */
static void store_full_of_live_records_refuses_with_nospc_and_keeps_them(void **state)
{
	static uint8_t rec[FOTA_NV_RECORD_MAX], got[FOTA_NV_RECORD_MAX];
	uint8_t t;
	size_t len;
	int err = FOTA_OK;

	(void)state;
	nv_size = 2 * SECT;
	open_flash(1);
	for (t = 1; t < 0xFF; t++) {
		memset(rec, t, sizeof(rec));
		err = fota_nv_write(&nv, t, rec, sizeof(rec));
		if (err)
			break;
	}
	assert_int_equal(err, FOTA_ERR_NOSPC);
	assert_true(t > 2);
	remount();
	for (uint8_t k = 1; k < t; k++) {
		assert_int_equal(fota_nv_read(&nv, k, got, sizeof(got), &len), FOTA_OK);
		assert_int_equal(len, sizeof(rec));
		memset(rec, k, sizeof(rec));
		assert_memory_equal(got, rec, len);
	}
	assert_int_equal(fota_nv_read(&nv, t, got, sizeof(got), &len), FOTA_ERR_NOENT);
	/* A smaller record of a type already there still fits in place of the old one. */
	assert_int_equal(fota_nv_write(&nv, 1, rec, 8), FOTA_OK);
	close_flash();
	nv_size = AREA;
}

/* An area whose half cannot hold one record of the largest size is refused at mount. */
static void area_too_small_for_the_largest_record_is_rejected(void **state)
{
	(void)state;
	assert_int_equal(fota_simflash_init_mem(&sf, mem, AREA, 256, 1), FOTA_OK);
	fota_simflash_format(&sf);
	assert_int_equal(fota_nv_mount(&nv, &sf.flash, 0, 512), FOTA_ERR_INVAL);
	assert_int_equal(fota_nv_mount(&nv, &sf.flash, 0, 2 * 256 * ((FOTA_NV_RECORD_MAX + 64) / 256 + 1)),
			 FOTA_OK);
	close_flash();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_then_read_round_trips_prog1),
		cmocka_unit_test(write_then_read_round_trips_prog8),
		cmocka_unit_test(newest_record_of_a_type_wins),
		cmocka_unit_test(several_types_survive_compaction_prog1),
		cmocka_unit_test(several_types_survive_compaction_prog8),
		cmocka_unit_test(identical_write_costs_no_flash_operation),
		cmocka_unit_test(too_long_write_fails_with_toolong_and_changes_nothing),
		cmocka_unit_test(blank_area_reads_noent_and_mount_only_reads),
		cmocka_unit_test(short_buffer_gets_nomem_and_the_length),
		cmocka_unit_test(bad_geometry_is_rejected),
		cmocka_unit_test(area_too_small_for_the_largest_record_is_rejected),
		cmocka_unit_test(store_full_of_live_records_refuses_with_nospc_and_keeps_them),
		cmocka_unit_test(io_error_at_every_read_of_a_mount_fails_it_and_a_remount_finds_all),
		cmocka_unit_test(record_with_a_flipped_byte_is_never_returned),
		cmocka_unit_test(garbage_after_the_log_stops_appends),
		cmocka_unit_test(generation_wrap_keeps_the_newest_half),
		cmocka_unit_test(thousands_of_writes_wear_level_across_the_halves),
		cmocka_unit_test(mount_survives_a_torn_erase_in_either_half),
		cmocka_unit_test(power_cut_at_every_operation_of_an_append_leaves_old_or_new),
		cmocka_unit_test(power_cut_at_every_operation_of_a_compaction_leaves_old_or_new),
		cmocka_unit_test(io_error_at_every_call_of_a_save_propagates_and_loses_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
