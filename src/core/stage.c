/* stage.c - streams an image into the staging slot (see fota/stage.h). */
#include <string.h>

#include "fota/stage.h"

static uint32_t base(const struct fota_stage *st)
{
	return st->boot->layout.stage_addr + st->boot->flash->sector_size;
}

/* The bitmap lives in S[0]: one program unit per block; the blocks cover the slot. */
static uint32_t bitmap(const struct fota_stage *st)
{
	return st->boot->layout.stage_addr;
}

static void init(struct fota_stage *st, const struct fota_boot_cfg *boot,
		 const struct fota_sha256 *sha)
{
	const struct fota_flash *f = boot->flash;
	uint32_t slot = boot->layout.slot_sectors * f->sector_size;
	uint32_t marks = f->sector_size / f->prog_size;

	memset(st, 0, sizeof(*st));
	st->boot = boot;
	/* (sector and program sizes are powers of two: fota_flash_valid) */
	st->block = (slot + marks - 1) / marks;
	st->block = (st->block + f->prog_size - 1) & ~(f->prog_size - 1);
	fota_image_verifier_init(&st->ver, sha, slot);
}

/* Checks the journal lets S be written, and forgets an image staged earlier. */
static FOTA_INLINE int claim(const struct fota_boot_cfg *boot, bool *staged)
{
	struct fota_boot_status bs;
	int err = fota_boot_status(boot, &bs);

	if (err)
		return err;
	if (!fota_boot_staging_free(bs.state))
		return FOTA_ERR_BUSY;
	*staged = bs.state == FOTA_BOOT_STAGED;
	return FOTA_OK;
}

/* Programs the marks of every block now wholly in flash. */
static int mark(struct fota_stage *st)
{
	const struct fota_flash *f = st->boot->flash;
	uint32_t at = bitmap(st);
	uint8_t done[FOTA_FLASH_PROG_MAX];
	int err;

	memset(done, 0, sizeof(done));
	while ((st->marked + 1) * st->block <= st->written) {
		err = f->prog(f->ctx, at + st->marked * f->prog_size, done, f->prog_size);
		if (err)
			return err;
		st->marked++;
	}
	return FOTA_OK;
}

int fota_stage_begin(struct fota_stage *st, const struct fota_boot_cfg *boot,
		     const struct fota_sha256 *sha)
{
	bool staged;
	int err = claim(boot, &staged);

	if (err)
		return err;
	if (staged) {
		err = fota_boot_unstage(boot); /* S is about to be overwritten */
		if (err)
			return err;
	}
	init(st, boot, sha);
	return boot->flash->erase(boot->flash->ctx, boot->layout.stage_addr); /* the bitmap */
}

int fota_stage_resume(struct fota_stage *st, const struct fota_boot_cfg *boot,
		      const struct fota_sha256 *sha, uint32_t *from)
{
	const struct fota_flash *f = boot->flash;
	uint8_t buf[FOTA_COPY_BUF];
	bool staged, whole = false;
	uint32_t at, k, n;
	int err;

	*from = 0;
	err = claim(boot, &staged);
	if (err)
		return err;
	if (staged)
		return FOTA_ERR_BUSY; /* a whole image waits for the install: nothing to resume */
	init(st, boot, sha);
	/* Count the marks in a row that are wholly programmed. */
	at = bitmap(st); /* (and the image a sector after it: base()) */
	for (k = 0; k < f->sector_size / f->prog_size; k++) {
		err = f->read(f->ctx, at + k * f->prog_size, buf, f->prog_size);
		if (err)
			return err;
		for (n = 0; n < f->prog_size && buf[n] == 0; n++)
			;
		if (n < f->prog_size)
			break;
	}
	/* Hash those bytes again: the verifier's state is not kept in flash. */
	while (st->written < k * st->block) {
		n = k * st->block - st->written;
		n = n < sizeof(buf) ? n : (uint32_t)sizeof(buf);
		err = f->read(f->ctx, at + f->sector_size + st->written, buf, n);
		if (err)
			return err;
		err = fota_image_verifier_feed(&st->ver, buf, n, NULL);
		if (err != FOTA_OK && err != FOTA_ERR_AGAIN)
			return err; /* not the start of a valid image */
		st->written += n;
		whole = err == FOTA_OK;
		if (whole)
			break; /* all there: only the staging mark was missing */
	}
	st->marked = k;
	st->erased = (st->written + f->sector_size - 1) & ~(f->sector_size - 1);
	*from = whole ? fota_image_verifier_info(&st->ver)->total_size : st->written;
	return FOTA_OK;
}

const struct fota_image_info *fota_stage_info(const struct fota_stage *st)
{
	return fota_image_verifier_info(&st->ver);
}

/* Programs len bytes (a multiple of prog_size) at image offset st->written, erasing the
 * sectors they reach first. */
static int program(struct fota_stage *st, const uint8_t *p, uint32_t len)
{
	const struct fota_flash *f = st->boot->flash;
	uint32_t at = base(st);
	int err;

	while (st->erased < st->written + len) {
		err = f->erase(f->ctx, at + st->erased);
		if (err)
			return err;
		st->erased += f->sector_size;
	}
	err = f->prog(f->ctx, at + st->written, p, len);
	if (err)
		return err;
	st->written += len;
	return mark(st);
}

int fota_stage_write(struct fota_stage *st, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t unit = st->boot->flash->prog_size;
	size_t used;
	int err;

	err = fota_image_verifier_feed(&st->ver, data, len, &used);
	if (err != FOTA_OK && err != FOTA_ERR_AGAIN)
		return err;
	if (used != len)
		return FOTA_ERR_FBIG; /* bytes after the image's end */
	/* Whole program units go straight from the caller's bytes; the rest waits in pend
	 * until its unit is full. */
	while (len) {
		if (st->npend || len < unit) {
			st->pend[st->npend++] = *p++;
			len--;
			if (st->npend == unit) {
				err = program(st, st->pend, unit);
				if (err)
					return err;
				st->npend = 0;
			}
		} else {
			uint32_t whole = (uint32_t)len & ~(unit - 1); /* (a power of two) */

			err = program(st, p, whole);
			if (err)
				return err;
			p += whole;
			len -= whole;
		}
	}
	return FOTA_OK;
}

int fota_stage_finish(struct fota_stage *st, struct fota_image_info *info)
{
	const struct fota_image_info *vi;
	int err = fota_image_verifier_feed(&st->ver, NULL, 0, NULL);

	if (err)
		return err;
	if (st->npend) {
		const struct fota_flash *f = st->boot->flash;
		uint32_t unit = f->prog_size;

		/* The last unit, padded with the erased value (which programs nothing). */
		memset(st->pend + st->npend, f->erased, unit - st->npend);
		err = program(st, st->pend, unit);
		if (err)
			return err;
		st->npend = 0;
	}
	vi = fota_image_verifier_info(&st->ver);
	if (info)
		*info = *vi;
	return fota_boot_mark_staged(st->boot, vi->total_size);
}
