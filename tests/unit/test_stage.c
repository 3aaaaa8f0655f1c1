/* Unit tests of the staging writer: a downloaded image streamed into the staging slot. */
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flaky_flash.h"
#include "fota/posix_crypto.h"
#include "fota/simflash.h"
#include "fota/stage.h"

#define SECTOR 4096u
#define FLASH (64u * SECTOR)

static uint8_t mem[FLASH];
static struct fota_simflash sf;
static struct fota_posix_sha256 sha;
static struct fota_boot_cfg cfg;
static uint8_t *img;
static size_t img_len;

static int verify(void *ctx, const struct fota_flash *f, uint32_t addr, uint32_t max,
		  uint32_t *size, uint32_t *counter)
{
	struct fota_image_info info;
	int err = fota_image_verify_flash(f, addr, max, ctx, &info);

	if (!err) {
		*size = info.total_size;
		*counter = info.security_counter;
	}
	return err;
}

/* A valid image of payload bytes. */
static void make(size_t payload)
{
	struct fota_image_info info = { .name = "AirM2M_780E_LTE_AT", .version = "1.2.3" };
	uint8_t hdr[FOTA_IMAGE_HDR_SIZE], trailer[FOTA_IMAGE_TRAILER_SHA256];

	free(img);
	img_len = sizeof(hdr) + payload + sizeof(trailer);
	img = malloc(img_len);
	for (size_t i = 0; i < payload; i++)
		img[sizeof(hdr) + i] = (uint8_t)(i * 7 + (i >> 8));
	assert_int_equal(fota_posix_image_frame(&info, img + sizeof(hdr), payload, hdr, trailer), 0);
	memcpy(img, hdr, sizeof(hdr));
	memcpy(img + sizeof(hdr) + payload, trailer, sizeof(trailer));
}

static void setup_flash(uint32_t prog_size)
{
	fota_simflash_close(&sf);
	assert_int_equal(fota_simflash_init_mem(&sf, mem, FLASH, SECTOR, prog_size), FOTA_OK);
	fota_simflash_format(&sf);
	cfg = (struct fota_boot_cfg){ .flash = &sf.flash, .ctx = &sha.port, .verify = verify };
	assert_int_equal(fota_layout_default(&cfg.layout, &sf.flash), FOTA_OK);
}

static int setup(void **state)
{
	(void)state;
	fota_posix_sha256_init(&sha);
	setup_flash(1);
	make(20000);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fota_simflash_close(&sf);
	fota_posix_sha256_free(&sha);
	free(img);
	img = NULL;
	return 0;
}

static struct flaky_flash ff;

/* The stage and the journal go through ff from now on; reads of [lo, hi) fail with err
 * (none when lo == hi). */
static void flaky_reads(uint32_t lo, uint32_t hi, int err)
{
	flaky_flash_init(&ff, &sf.flash, lo, hi, err);
	cfg.flash = &ff.port;
}

static enum fota_boot_state journal_state(void)
{
	struct fota_boot_status bs;

	assert_int_equal(fota_boot_status(&cfg, &bs), FOTA_OK);
	return bs.state;
}

/* Streams the image in chunks of n bytes and finishes; returns the first error. */
static int stream(size_t n)
{
	struct fota_stage st;
	int err = fota_stage_begin(&st, &cfg, &sha.port);

	for (size_t off = 0; !err && off < img_len; off += n)
		err = fota_stage_write(&st, img + off, img_len - off < n ? img_len - off : n);
	return err ? err : fota_stage_finish(&st, NULL);
}

static void staged_bytes_match_and_are_marked_in_any_chunking(void **state)
{
	static const uint32_t progs[] = { 1, 8, 16 };
	static const size_t chunks[] = { 1, 3, 7, 64, 1000, 1 << 20 };
	struct fota_boot_status bs;

	(void)state;
	for (size_t p = 0; p < FOTA_ARRAY_SIZE(progs); p++) {
		for (size_t c = 0; c < FOTA_ARRAY_SIZE(chunks); c++) {
			setup_flash(progs[p]);
			assert_int_equal(stream(chunks[c]), FOTA_OK);
			assert_memory_equal(mem + cfg.layout.stage_addr + SECTOR, img, img_len);
			assert_int_equal(fota_boot_status(&cfg, &bs), FOTA_OK);
			assert_int_equal(bs.state, FOTA_BOOT_STAGED);
			assert_int_equal(bs.image_size, img_len);
			/* Sectors are erased once each, only those the image reaches, plus the
			 * progress bitmap's and the journal's. */
			assert_int_equal(sf.stats.erases, (img_len + SECTOR - 1) / SECTOR + 2);
		}
	}
}

static void image_larger_than_the_slot_is_refused_before_any_erase(void **state)
{
	struct fota_stage st;

	(void)state;
	make(cfg.layout.slot_sectors * SECTOR);
	assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_OK);
	assert_int_equal(fota_stage_write(&st, img, FOTA_IMAGE_HDR_SIZE), FOTA_ERR_FBIG);
	assert_int_equal(sf.stats.erases, 1); /* the progress bitmap only */
	assert_int_equal(sf.stats.progs, 0);
}

static void bytes_past_the_image_end_are_refused(void **state)
{
	struct fota_stage st;
	uint8_t extra[8] = { 0 };

	(void)state;
	assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_OK);
	assert_int_equal(fota_stage_write(&st, img, img_len), FOTA_OK);
	assert_int_equal(fota_stage_write(&st, extra, sizeof(extra)), FOTA_ERR_FBIG);
}

static void corrupt_or_short_image_is_never_marked_staged(void **state)
{
	struct fota_boot_status bs;
	struct fota_stage st;

	(void)state;
	img[FOTA_IMAGE_HDR_SIZE + 5] ^= 0x40;
	assert_int_equal(stream(512), FOTA_ERR_VERIFY);
	img[FOTA_IMAGE_HDR_SIZE + 5] ^= 0x40;
	assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_OK);
	assert_int_equal(fota_stage_write(&st, img, img_len - 1), FOTA_OK);
	assert_int_equal(fota_stage_finish(&st, NULL), FOTA_ERR_AGAIN);
	assert_int_equal(fota_boot_status(&cfg, &bs), FOTA_OK);
	assert_int_equal(bs.state, FOTA_BOOT_NONE);
}

static void new_download_forgets_an_image_staged_earlier(void **state)
{
	struct fota_boot_status bs;
	struct fota_stage st;

	(void)state;
	assert_int_equal(stream(4096), FOTA_OK);
	assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_OK);
	assert_int_equal(fota_boot_status(&cfg, &bs), FOTA_OK);
	assert_int_equal(bs.state, FOTA_BOOT_REFUSED);
	assert_int_equal(bs.result, FOTA_ERR_CANCELED);
	/* Cut off half way: the next boot installs nothing and says nothing went wrong. */
	assert_int_equal(fota_stage_write(&st, img, img_len / 2), FOTA_OK);
	assert_int_equal(fota_boot_run(&cfg, &bs), FOTA_OK);
	assert_int_equal(bs.did, FOTA_BOOT_DID_NOTHING);
}

/* Streams bytes [from, to) of the image into st. */
static void feed(struct fota_stage *st, size_t from, size_t to, size_t n)
{
	for (size_t off = from; off < to; off += n)
		assert_int_equal(fota_stage_write(st, img + off, to - off < n ? to - off : n), FOTA_OK);
}

static void resume_goes_on_from_the_last_mark_without_fetching_twice(void **state)
{
	static const uint32_t progs[] = { 1, 8, 16 };

	(void)state;
	make(60000);
	for (size_t p = 0; p < FOTA_ARRAY_SIZE(progs); p++) {
		struct fota_stage st;
		uint32_t from, cut = 37777;

		setup_flash(progs[p]);
		assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_OK);
		feed(&st, 0, cut, 700);
		/* Power is cut: the stage in RAM is gone; the next boot resumes from flash. */
		assert_int_equal(fota_stage_resume(&st, &cfg, &sha.port, &from), FOTA_OK);
		assert_true(from <= cut);
		assert_true(cut - from < st.block + progs[p]); /* at most the last block again */
		assert_int_equal(from % st.block, 0);
		feed(&st, from, img_len, 1000);
		assert_int_equal(fota_stage_finish(&st, NULL), FOTA_OK);
		assert_memory_equal(mem + cfg.layout.stage_addr + SECTOR, img, img_len);
	}
}

static void power_cut_at_every_operation_of_a_download_resumes_to_the_same_image(void **state)
{
	struct fota_stage st;
	uint32_t total, from, cuts = 0;

	(void)state;
	make(9000);
	setup_flash(1);
	assert_int_equal(stream(512), FOTA_OK);
	total = sf.stats.progs + sf.stats.erases;
	for (uint32_t n = 1; n <= total; n++) {
		for (int torn = 0; torn < 2; torn++) {
			int err;

			setup_flash(1);
			fota_simflash_cut_power(&sf, n, torn ? FOTA_CUT_TORN : FOTA_CUT_CLEAN);
			err = stream(512);
			fota_simflash_power_on(&sf);
			if (err == FOTA_OK)
				continue; /* the cut fell after the last operation */
			assert_int_equal(err, FOTA_ERR_POWER);
			err = fota_stage_resume(&st, &cfg, &sha.port, &from);
			if (err == FOTA_ERR_BUSY)
				continue; /* the cut fell after the image was marked staged */
			if (err) /* a torn mark over a half-written header: start afresh */
				assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_OK), from = 0;
			feed(&st, from, img_len, 512);
			assert_int_equal(fota_stage_finish(&st, NULL), FOTA_OK);
			assert_memory_equal(mem + cfg.layout.stage_addr + SECTOR, img, img_len);
			cuts++;
		}
	}
	printf("    staging 9164 bytes: %u operations, %u cuts resumed\n", total, cuts);
}

static void resume_of_an_empty_slot_starts_at_zero(void **state)
{
	struct fota_stage st;
	uint32_t from = 1;

	(void)state;
	assert_int_equal(fota_stage_resume(&st, &cfg, &sha.port, &from), FOTA_OK);
	assert_int_equal(from, 0);
}

static void flash_failure_is_returned(void **state)
{
	(void)state;
	fota_simflash_cut_power(&sf, 3, FOTA_CUT_CLEAN);
	assert_int_equal(stream(4096), FOTA_ERR_POWER);
}

static void journal_read_failure_refuses_begin_and_resume_before_touching_flash(void **state)
{
	struct fota_stage st;
	uint32_t from = 1, j = cfg.layout.journal_addr;

	(void)state;
	flaky_reads(j, j + 2 * cfg.layout.journal_half, FOTA_ERR_IO);
	assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_ERR_IO);
	assert_int_equal(fota_stage_resume(&st, &cfg, &sha.port, &from), FOTA_ERR_IO);
	assert_int_equal(from, 0);
	assert_true(ff.failed >= 2);
	/* Nothing erased or programmed: S may hold what the journal says it holds. */
	assert_int_equal(sf.stats.erases, 0);
	assert_int_equal(sf.stats.progs, 0);
	/* The flash reads again: the same calls work. */
	ff.lo = ff.hi = 0;
	assert_int_equal(stream(4096), FOTA_OK);
	assert_memory_equal(mem + cfg.layout.stage_addr + SECTOR, img, img_len);
}

static void begin_and_resume_are_busy_while_the_install_needs_the_slot(void **state)
{
	struct fota_boot_status bs;
	struct fota_stage st;
	uint32_t from = 1, erases;
	uint8_t *slot;
	size_t slot_len = (cfg.layout.slot_sectors + 1) * SECTOR;

	(void)state;
	/* R holds a valid image, so the install keeps it in S for a revert. */
	memcpy(mem + cfg.layout.run_addr, img, img_len);
	assert_int_equal(stream(4096), FOTA_OK);
	assert_int_equal(fota_boot_run(&cfg, &bs), FOTA_OK);
	assert_int_equal(bs.state, FOTA_BOOT_SWAPPED);
	slot = malloc(slot_len);
	assert_non_null(slot);
	for (int step = 0; step < 2; step++) {
		/* SWAPPED, then TRIAL: S holds the old firmware a revert puts back. */
		memcpy(slot, mem + cfg.layout.stage_addr, slot_len);
		erases = sf.stats.erases;
		assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_ERR_BUSY);
		assert_int_equal(fota_stage_resume(&st, &cfg, &sha.port, &from), FOTA_ERR_BUSY);
		assert_int_equal(from, 0);
		assert_memory_equal(mem + cfg.layout.stage_addr, slot, slot_len);
		assert_int_equal(sf.stats.erases, erases);
		if (step == 0) {
			assert_int_equal(fota_boot_run(&cfg, &bs), FOTA_OK);
			assert_int_equal(bs.state, FOTA_BOOT_TRIAL);
		}
	}
	free(slot);
	/* Confirmed: the old firmware is not needed any more, S takes a new download. */
	assert_int_equal(fota_boot_confirm(&cfg), FOTA_OK);
	assert_int_equal(journal_state(), FOTA_BOOT_CONFIRMED);
	assert_int_equal(stream(4096), FOTA_OK);
	assert_int_equal(journal_state(), FOTA_BOOT_STAGED);
}

static void resume_of_a_staged_image_is_busy_and_leaves_it_staged(void **state)
{
	struct fota_stage st;
	uint32_t from = 1, ops;

	(void)state;
	assert_int_equal(stream(4096), FOTA_OK);
	ops = sf.stats.erases + sf.stats.progs;
	assert_int_equal(fota_stage_resume(&st, &cfg, &sha.port, &from), FOTA_ERR_BUSY);
	assert_int_equal(from, 0);
	assert_int_equal(sf.stats.erases + sf.stats.progs, ops);
	assert_int_equal(journal_state(), FOTA_BOOT_STAGED);
}

static void failed_unstage_leaves_the_staged_image_to_be_installed(void **state)
{
	struct fota_boot_status bs;
	struct fota_stage st;

	(void)state;
	assert_int_equal(stream(4096), FOTA_OK);
	/* The journal write that forgets the staged image is the first operation: cut. */
	fota_simflash_cut_power(&sf, 1, FOTA_CUT_CLEAN);
	assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_ERR_POWER);
	fota_simflash_power_on(&sf);
	assert_int_equal(journal_state(), FOTA_BOOT_STAGED);
	assert_memory_equal(mem + cfg.layout.stage_addr + SECTOR, img, img_len);
	assert_int_equal(fota_boot_run(&cfg, &bs), FOTA_OK);
	assert_int_equal(bs.did, FOTA_BOOT_DID_INSTALL);
	assert_memory_equal(mem + cfg.layout.run_addr, img, img_len);
}

/* A download cut at byte 37777 of a 60000-byte payload, its progress marked in S. */
static void partial_download(struct fota_stage *st)
{
	make(60000);
	flaky_reads(0, 0, FOTA_OK);
	assert_int_equal(fota_stage_begin(st, &cfg, &sha.port), FOTA_OK);
	feed(st, 0, 37777, 700);
}

static void resume_passes_on_flash_read_errors_and_a_later_resume_goes_on(void **state)
{
	struct fota_stage st;
	uint32_t from = 1, base = cfg.layout.stage_addr + SECTOR;

	(void)state;
	partial_download(&st);
	/* The progress bitmap (S[0]) cannot be read. */
	flaky_reads(cfg.layout.stage_addr, base, FOTA_ERR_IO);
	assert_int_equal(fota_stage_resume(&st, &cfg, &sha.port, &from), FOTA_ERR_IO);
	assert_int_equal(ff.failed, 1);
	/* The marked bytes, hashed again, cannot be read. */
	flaky_reads(base, base + 30000, FOTA_ERR_POWER);
	assert_int_equal(fota_stage_resume(&st, &cfg, &sha.port, &from), FOTA_ERR_POWER);
	assert_true(ff.failed >= 1);
	/* Reads work again: nothing was lost, the resume goes on from the marks. */
	ff.lo = ff.hi = 0;
	assert_int_equal(fota_stage_resume(&st, &cfg, &sha.port, &from), FOTA_OK);
	assert_true(from > 0 && from <= 37777);
	feed(&st, from, img_len, 1000);
	assert_int_equal(fota_stage_finish(&st, NULL), FOTA_OK);
	assert_memory_equal(mem + cfg.layout.stage_addr + SECTOR, img, img_len);
}

static void resume_of_no_valid_image_start_is_refused_and_begin_starts_afresh(void **state)
{
	struct fota_stage st;
	uint32_t from = 1, base = cfg.layout.stage_addr + SECTOR;

	(void)state;
	partial_download(&st);
	mem[base] ^= 0x01; /* the image's magic changed in flash */
	assert_int_equal(fota_stage_resume(&st, &cfg, &sha.port, &from), FOTA_ERR_BADMSG);
	assert_int_equal(fota_image_verifier_fault(&st.ver), FOTA_IMAGE_FAULT_MAGIC);
	assert_int_equal(journal_state(), FOTA_BOOT_NONE);
	/* As the contract says: begin again; the whole image is staged. */
	assert_int_equal(stream(1000), FOTA_OK);
	assert_memory_equal(mem + base, img, img_len);
	assert_int_equal(journal_state(), FOTA_BOOT_STAGED);
}

static void stage_info_is_null_until_the_header_is_in_then_tells_the_image(void **state)
{
	struct fota_stage st;
	const struct fota_image_info *info;

	(void)state;
	assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_OK);
	assert_null(fota_stage_info(&st));
	assert_int_equal(fota_stage_write(&st, img, FOTA_IMAGE_HDR_SIZE - 1), FOTA_OK);
	assert_null(fota_stage_info(&st));
	assert_int_equal(fota_stage_write(&st, img + FOTA_IMAGE_HDR_SIZE - 1, 1), FOTA_OK);
	info = fota_stage_info(&st);
	assert_non_null(info);
	assert_string_equal(info->name, "AirM2M_780E_LTE_AT");
	assert_string_equal(info->version, "1.2.3");
	assert_int_equal(info->total_size, img_len);
}

static void finish_gives_the_staged_images_header(void **state)
{
	struct fota_image_info info;
	struct fota_stage st;

	(void)state;
	memset(&info, 0, sizeof(info));
	assert_int_equal(fota_stage_begin(&st, &cfg, &sha.port), FOTA_OK);
	feed(&st, 0, img_len, 3000);
	assert_int_equal(fota_stage_finish(&st, &info), FOTA_OK);
	assert_string_equal(info.name, "AirM2M_780E_LTE_AT");
	assert_string_equal(info.version, "1.2.3");
	assert_int_equal(info.total_size, img_len);
	assert_int_equal(info.payload_size, 20000);
	assert_int_equal(journal_state(), FOTA_BOOT_STAGED);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(staged_bytes_match_and_are_marked_in_any_chunking),
		T(image_larger_than_the_slot_is_refused_before_any_erase),
		T(bytes_past_the_image_end_are_refused),
		T(corrupt_or_short_image_is_never_marked_staged),
		T(new_download_forgets_an_image_staged_earlier),
		T(resume_goes_on_from_the_last_mark_without_fetching_twice),
		T(power_cut_at_every_operation_of_a_download_resumes_to_the_same_image),
		T(resume_of_an_empty_slot_starts_at_zero),
		T(flash_failure_is_returned),
		T(journal_read_failure_refuses_begin_and_resume_before_touching_flash),
		T(begin_and_resume_are_busy_while_the_install_needs_the_slot),
		T(resume_of_a_staged_image_is_busy_and_leaves_it_staged),
		T(failed_unstage_leaves_the_staged_image_to_be_installed),
		T(resume_passes_on_flash_read_errors_and_a_later_resume_goes_on),
		T(resume_of_no_valid_image_start_is_refused_and_begin_starts_afresh),
		T(stage_info_is_null_until_the_header_is_in_then_tells_the_image),
		T(finish_gives_the_staged_images_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
