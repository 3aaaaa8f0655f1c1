/* stage.c - streams an image into the staging slot (see fota/stage.h). */
#include <string.h>

#include "fota/stage.h"

static uint32_t base(const struct fota_stage *st)
{
	return st->boot->layout.stage_addr + st->boot->flash->sector_size;
}

int fota_stage_begin(struct fota_stage *st, const struct fota_boot_cfg *boot,
		     const struct fota_sha256 *sha)
{
	struct fota_boot_status bs;
	int err;

	memset(st, 0, sizeof(*st));
	st->boot = boot;
	err = fota_boot_status(boot, &bs);
	if (err)
		return err;
	if (!fota_boot_staging_free(bs.state))
		return FOTA_ERR_BUSY;
	if (bs.state == FOTA_BOOT_STAGED) {
		err = fota_boot_unstage(boot); /* S is about to be overwritten */
		if (err)
			return err;
	}
	fota_image_verifier_init(&st->ver, sha, boot->layout.slot_sectors * boot->flash->sector_size);
	return FOTA_OK;
}

/* Programs len bytes (a multiple of prog_size) at image offset st->written, erasing the
 * sectors they reach first. */
static int program(struct fota_stage *st, const uint8_t *p, uint32_t len)
{
	const struct fota_flash *f = st->boot->flash;
	int err;

	while (st->erased < st->written + len) {
		err = f->erase(f->ctx, base(st) + st->erased);
		if (err)
			return err;
		st->erased += f->sector_size;
	}
	err = f->prog(f->ctx, base(st) + st->written, p, len);
	if (!err)
		st->written += len;
	return err;
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
			uint32_t whole = (uint32_t)(len - len % unit);

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
		/* The last unit, padded with the erased value (which programs nothing). */
		memset(st->pend + st->npend, st->boot->flash->erased,
		       st->boot->flash->prog_size - st->npend);
		err = program(st, st->pend, st->boot->flash->prog_size);
		if (err)
			return err;
		st->npend = 0;
	}
	vi = fota_image_verifier_info(&st->ver);
	if (info)
		*info = *vi;
	return fota_boot_mark_staged(st->boot, vi->total_size);
}
