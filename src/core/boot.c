/*
 * boot.c - the power-safe install with revert (see fota/boot.h, docs/flash-layout.md).
 *
 * Install ("swap with offset"), n = sectors of the larger image, for i = 0..n-1:
 *   half-step 2i:     erase S[i], copy R[i] -> S[i]
 *   half-step 2i + 1: erase R[i], copy S[i + 1] -> R[i]
 * Revert, the mirror, for i = n-1..0:
 *   half-step:        erase S[i + 1], copy R[i] -> S[i + 1]
 *   half-step:        erase R[i], copy S[i] -> R[i]
 * A half-step's source is never written before the half-step is marked done, so redoing
 * the first half-step not marked done is always right after a power cut.
 *
 * The journal is two halves. Each holds JSLOTS record slots, then a bitmap of one program
 * unit per half-step. A record is a body (magic, generation, state, sizes, security
 * floor and counter, CRC) and a commit unit programmed after it; the newest committed record (highest generation, then
 * highest slot) is the state. SWAPPING and REVERTING, which use the bitmap, always start a
 * fresh half: the other half is erased whole and only then gets a record of the next
 * generation, so until that record is committed the old half still rules and a cut
 * (even torn) erase of the fresh half changes nothing. Other records are appended to the
 * current half, skipping slots a torn program left dirty; a full half rolls over to a
 * fresh one the same way.
 */
#include <stddef.h>
#include <string.h>

#include "fota/boot.h"

#define JMAGIC 0x4C4E4A46u /* "FJNL" */
#define JCOMMIT 0xC3u      /* every byte of a commit unit */
#define JSLOTS 8u          /* record slots per half: an update writes at most 5 to one */
#define JREC 36u   /* bytes of a record body before padding; its CRC is the last 4 */
#define JBODY ((JREC + FOTA_FLASH_PROG_MAX - 1u) / FOTA_FLASH_PROG_MAX * FOTA_FLASH_PROG_MAX)
#define JSLOT (JBODY + FOTA_FLASH_PROG_MAX) /* body, then the commit unit */
#define JBITMAP (JSLOTS * JSLOT)            /* offset of the bitmap in a half */
#define F_NOREVERT 1u /* R held no valid image: nothing to revert to */

FOTA_STATIC_ASSERT(FOTA_COPY_BUF % FOTA_FLASH_PROG_MAX == 0, copy_buf_whole_prog_units);
FOTA_STATIC_ASSERT(2 * JSLOTS <= 16, slot_mask_fits); /* both halves in an unsigned */

/* The newest record in RAM, with where it is and where the next one goes. */
struct jnl {
	uint32_t gen;      /* generation of the current half; 0: no record anywhere */
	uint32_t new_size, old_size, n;
	uint32_t floor;    /* lowest security counter accepted (anti-rollback) */
	uint32_t counter;  /* the new image's security counter, once verified */
	int result;
	uint8_t half;      /* current half (0 or 1) */
	uint8_t slot;      /* slot of the newest record */
	uint8_t next;      /* first erased slot after it; JSLOTS: none (roll over) */
	uint8_t state;     /* enum fota_boot_state */
	uint8_t flags;
};

/* The record's words at 12, 16... 28, in j. */
static const uint8_t jwords[5] = {
	offsetof(struct jnl, new_size), offsetof(struct jnl, old_size), offsetof(struct jnl, n),
	offsetof(struct jnl, floor), offsetof(struct jnl, counter),
};

static uint32_t *jword(struct jnl *j, unsigned k)
{
	return (uint32_t *)(void *)((char *)j + jwords[k]);
}

/* Errors that stop the boot: the flash failed, the next boot retries. Any other error
 * of the verify hook says the image is invalid. */
static bool halt(int err)
{
	return err == FOTA_ERR_POWER || err == FOTA_ERR_IO;
}

static bool all_are(const uint8_t *p, uint32_t len, uint8_t v)
{
	while (len--)
		if (*p++ != v)
			return false;
	return true;
}

static uint32_t jbase(const struct fota_boot_cfg *c, unsigned half)
{
	return c->layout.journal_addr + half * c->layout.journal_half;
}

uint32_t fota_layout_journal_half(uint32_t slot_sectors, const struct fota_flash *f)
{
	uint32_t need = JBITMAP + 2 * slot_sectors * f->prog_size;

	return (need + f->sector_size - 1) / f->sector_size * f->sector_size;
}

bool fota_layout_valid(const struct fota_layout *l, const struct fota_flash *f)
{
	uint32_t ss, n, a[5], len[5];

	if (!l || !fota_flash_valid(f))
		return false;
	ss = f->sector_size;
	n = l->slot_sectors;
	if (!n || n >= f->size / ss || l->journal_half > f->size ||
	    l->journal_half % ss || l->journal_half < fota_layout_journal_half(n, f))
		return false;
	a[0] = 0;
	len[0] = l->boot_size;
	a[1] = l->run_addr;
	len[1] = n * ss;
	a[2] = l->stage_addr;
	len[2] = (n + 1) * ss;
	a[3] = l->journal_addr;
	len[3] = 2 * l->journal_half;
	a[4] = l->nv_addr;
	len[4] = l->nv_size;
	/* Each area aligned and inside the device; no two of them share a byte. */
	for (unsigned i = 0; i < 5; i++) {
		if (a[i] % ss || len[i] > f->size || a[i] > f->size - len[i])
			return false;
		for (unsigned k = 0; k < i; k++)
			if (len[i] && len[k] && a[i] < a[k] + len[k] && a[k] < a[i] + len[i])
				return false;
	}
	return true;
}

int fota_layout_default(struct fota_layout *l, const struct fota_flash *f)
{
	uint32_t ss, total, boot, rest, h;

	if (!l || !fota_flash_valid(f))
		return FOTA_ERR_INVAL;
	ss = f->sector_size;
	total = f->size / ss;
	boot = (FOTA_BOOT_AREA_SIZE + ss - 1) / ss;
	/* At least R of 1, S of 2 and a journal of 2 sectors between boot area and NV. */
	if (total < boot + FOTA_BOOT_NV_SECTORS + 5)
		return FOTA_ERR_NOSPC;
	rest = total - boot - FOTA_BOOT_NV_SECTORS;
	/* Journal halves sized for the largest slot that could fit: enough for the real one. */
	h = fota_layout_journal_half((rest - 1) / 2, f) / ss;
	if (rest < 3 + 2 * h)
		return FOTA_ERR_NOSPC;
	l->slot_sectors = (rest - 1 - 2 * h) / 2;
	l->boot_size = boot * ss;
	l->run_addr = boot * ss;
	l->stage_addr = l->run_addr + l->slot_sectors * ss;
	l->journal_addr = l->stage_addr + (l->slot_sectors + 1) * ss;
	l->journal_half = h * ss;
	l->nv_size = FOTA_BOOT_NV_SECTORS * ss;
	l->nv_addr = f->size - l->nv_size;
	return FOTA_OK;
}

/* A slot holds a record when its body has the magic and its CRC and the whole commit
 * unit is programmed: a torn body or a torn commit reads as no record. */
static bool rec_valid(const uint8_t *b)
{
	return fota_get_le32(b) == JMAGIC && fota_get_le32(b + 4) != 0 &&
	       b[8] >= FOTA_BOOT_STAGED && b[8] <= FOTA_BOOT_REFUSED &&
	       fota_get_le32(b + JREC - 4) == fota_crc32(0, b, JREC - 4) &&
	       all_are(b + JBODY, FOTA_FLASH_PROG_MAX, JCOMMIT);
}

/* A config fota_boot_run and fota_boot_confirm accept. The downloader's calls
 * (fota_boot_status, _mark_staged, _unstage) trust the config this boot's
 * fota_boot_run accepted, and do not check it again. */
static bool cfg_ok(const struct fota_boot_cfg *c)
{
	return c && c->verify && fota_layout_valid(&c->layout, c->flash);
}

static void jinit(struct jnl *j)
{
	memset(j, 0, sizeof(*j));
	j->half = 1; /* no record: the first write goes to a fresh half 0 */
	j->next = JSLOTS;
}

/* Finds the newest record of both halves and the slot the next one goes to. */
static int jmount(const struct fota_boot_cfg *c, struct jnl *j)
{
	const struct fota_flash *f;
	uint8_t b[JSLOT];
	unsigned erased = 0; /* bit h * JSLOTS + s: slot s of half h reads erased */
	int err;

	jinit(j);
	if (!c)
		return FOTA_ERR_INVAL;
	f = c->flash;
	for (unsigned h = 0; h < 2; h++) {
		for (unsigned s = 0; s < JSLOTS; s++) {
			uint32_t gen;

			err = f->read(f->ctx, jbase(c, h) + s * JSLOT, b, JSLOT);
			if (err)
				return err;
			if (all_are(b, JSLOT, f->erased)) {
				erased |= 1u << (h * JSLOTS + s);
				continue;
			}
			gen = fota_get_le32(b + 4);
			if (!rec_valid(b) || gen < j->gen || (gen == j->gen && h != j->half))
				continue;
			j->gen = gen;
			j->half = (uint8_t)h;
			j->slot = (uint8_t)s;
			j->state = b[8];
			j->flags = b[9];
			j->result = (int16_t)fota_get_le16(b + 10);
			for (unsigned k = 0; k < 5; k++)
				*jword(j, k) = fota_get_le32(b + 12 + 4 * k);
		}
	}
	for (unsigned s = j->slot + 1u; j->gen && s < JSLOTS; s++) {
		if (erased >> (j->half * JSLOTS + s) & 1u) {
			j->next = (uint8_t)s;
			break;
		}
	}
	/* A record whose CRC holds may still not fit this layout (written by another build,
	 * or forged): counts and sizes must stay inside the slots, and every state that can
	 * lead to a swap or a revert needs a sector count, or the copy would run elsewhere. */
	if (j->n > c->layout.slot_sectors ||
	    j->new_size > c->layout.slot_sectors * f->sector_size ||
	    j->old_size > c->layout.slot_sectors * f->sector_size ||
	    (!j->n && (j->state == FOTA_BOOT_SWAPPING || j->state == FOTA_BOOT_REVERTING ||
		       j->state == FOTA_BOOT_SWAPPED || j->state == FOTA_BOOT_TRIAL)))
		return FOTA_ERR_CORRUPT;
	return FOTA_OK;
}

/* Records state (with j's sizes) as the newest record: the body, then the commit unit.
 * On an error j is stale and the caller returns at once. */
static int jwrite(const struct fota_boot_cfg *c, struct jnl *j, unsigned state, int result)
{
	const struct fota_flash *f = c->flash;
	uint8_t b[JSLOT];
	uint32_t addr;
	int err;

	if (state == FOTA_BOOT_SWAPPING || state == FOTA_BOOT_REVERTING || j->next >= JSLOTS) {
		j->half ^= 1u;
		for (uint32_t off = 0; off < c->layout.journal_half; off += f->sector_size) {
			err = f->erase(f->ctx, jbase(c, j->half) + off);
			if (err)
				return err;
		}
		j->gen++;
		j->next = 0;
	}
	memset(b, f->erased, sizeof(b));
	fota_put_le32(b, JMAGIC);
	fota_put_le32(b + 4, j->gen);
	b[8] = (uint8_t)state;
	b[9] = j->flags;
	fota_put_le16(b + 10, (uint16_t)result);
	for (unsigned k = 0; k < 5; k++)
		fota_put_le32(b + 12 + 4 * k, *jword(j, k));
	fota_put_le32(b + JREC - 4, fota_crc32(0, b, JREC - 4));
	memset(b + JBODY, JCOMMIT, FOTA_FLASH_PROG_MAX);
	addr = jbase(c, j->half) + j->next * JSLOT;
	err = f->prog(f->ctx, addr, b, JBODY);
	if (err)
		return err;
	err = f->prog(f->ctx, addr + JBODY, b + JBODY, FOTA_FLASH_PROG_MAX);
	if (err)
		return err;
	j->slot = j->next++;
	j->state = (uint8_t)state;
	j->result = result;
	return FOTA_OK;
}

/* Erases the sector at dst and copies the sector at src into it; chunks that read
 * erased are left alone (no program needed). */
static int copy_sector(const struct fota_flash *f, uint32_t dst, uint32_t src)
{
	uint8_t buf[FOTA_COPY_BUF];
	uint32_t len;
	int err = f->erase(f->ctx, dst);

	for (uint32_t off = 0; !err && off < f->sector_size; off += len) {
		len = f->sector_size - off;
		if (len > sizeof(buf))
			len = (uint32_t)sizeof(buf);
		err = f->read(f->ctx, src + off, buf, len);
		if (!err && !all_are(buf, len, f->erased))
			err = f->prog(f->ctx, dst + off, buf, len);
	}
	return err;
}

/* Runs the half-steps of the install (back = false) or the revert from the first one
 * the bitmap of the current half does not mark done. A torn mark reads as not done:
 * the half-step is redone and the mark programmed again (it only clears more bits). */
static int move(const struct fota_boot_cfg *c, const struct jnl *j, bool back)
{
	const struct fota_flash *f = c->flash;
	uint32_t ss = f->sector_size, pu = f->prog_size, steps = 2 * j->n;
	uint32_t map = jbase(c, j->half) + JBITMAP, fwd = back ? 0 : 1, k, i, dst, src;
	uint8_t u[FOTA_FLASH_PROG_MAX], done[FOTA_FLASH_PROG_MAX];
	unsigned pct = 0;
	int err;

	memset(done, (uint8_t)~f->erased, sizeof(done));
	for (k = 0; k < steps; k++) {
		err = f->read(f->ctx, map + k * pu, u, pu);
		if (err)
			return err;
		if (memcmp(u, done, pu))
			break;
	}
	for (;; k++) {
		/* Each whole percent once, in order, also the ones a resume skips over. */
		while (c->progress && !back && pct <= k * 100 / steps)
			c->progress(c->ctx, pct++);
		if (k == steps)
			return FOTA_OK;
		i = back ? j->n - 1 - k / 2 : k / 2;
		if (k & 1) {
			dst = c->layout.run_addr + i * ss;
			src = c->layout.stage_addr + (i + fwd) * ss;
		} else {
			dst = c->layout.stage_addr + (i + 1 - fwd) * ss;
			src = c->layout.run_addr + i * ss;
		}
		err = copy_sector(f, dst, src);
		if (err)
			return err;
		err = f->prog(f->ctx, map + k * pu, done, pu);
		if (err)
			return err;
	}
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* STAGED: verify S and R (R's size, or no revert; R's counter raises the floor), refuse S
 * if it fails or is below the floor, else start the install. */
static int stage(const struct fota_boot_cfg *c, struct jnl *j, struct fota_boot_status *st)
{
	uint32_t ss = c->flash->sector_size, max = c->layout.slot_sectors * ss;
	uint32_t size = 0, old = 0, counter = 0, old_counter = 0;
	int err = c->verify(c->ctx, c->flash, c->layout.stage_addr + ss, max, &size, &counter);
	int rerr;

	if (halt(err))
		return err;
	rerr = c->verify(c->ctx, c->flash, c->layout.run_addr, max, &old, &old_counter);
	if (halt(rerr))
		return rerr;
	j->flags = 0;
	if (rerr || !old || old > max) {
		old = 0;
		old_counter = 0;
		j->flags = F_NOREVERT;
	}
	j->floor = max_u32(j->floor, old_counter);
	j->counter = counter;
	if (!err && size != j->new_size)
		err = FOTA_ERR_VERIFY;
	if (!err && counter < j->floor)
		err = FOTA_ERR_ROLLBACK;
	if (err) {
		st->did = FOTA_BOOT_DID_REFUSE;
		return jwrite(c, j, FOTA_BOOT_REFUSED, err);
	}
	j->old_size = old;
	j->n = ((size > old ? size : old) + ss - 1) / ss;
	return jwrite(c, j, FOTA_BOOT_SWAPPING, FOTA_OK);
}

static void fill(struct fota_boot_status *st, const struct jnl *j)
{
	st->state = (enum fota_boot_state)j->state;
	st->result = j->result;
	st->image_size = j->new_size;
	st->old_size = j->old_size;
	st->floor = j->floor;
	st->counter = j->counter;
}

int fota_boot_run(const struct fota_boot_cfg *c, struct fota_boot_status *st)
{
	struct fota_boot_status dummy;
	struct jnl j;
	uint32_t size = 0, counter = 0;
	int err;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	jinit(&j);
	err = cfg_ok(c) ? jmount(c, &j) : FOTA_ERR_INVAL;
	while (!err) {
		switch (j.state) {
		case FOTA_BOOT_STAGED:
			err = stage(c, &j, st);
			break;
		case FOTA_BOOT_SWAPPING:
			st->did = FOTA_BOOT_DID_INSTALL;
			st->reboot = true;
			err = move(c, &j, false);
			if (err)
				goto out;
			if (j.flags & F_NOREVERT) {
				j.floor = max_u32(j.floor, j.counter);
				err = jwrite(c, &j, FOTA_BOOT_CONFIRMED, FOTA_OK);
			} else {
				err = jwrite(c, &j, FOTA_BOOT_SWAPPED, FOTA_OK);
			}
			goto out;
		case FOTA_BOOT_SWAPPED:
			/* First boot of the new image: trust it only if it verifies in place. */
			err = c->verify(c->ctx, c->flash, c->layout.run_addr,
					c->layout.slot_sectors * c->flash->sector_size, &size, &counter);
			if (halt(err))
				goto out;
			if (!err && size == j.new_size && counter == j.counter) {
				st->did = FOTA_BOOT_DID_TRIAL;
				err = jwrite(c, &j, FOTA_BOOT_TRIAL, FOTA_OK);
				goto out;
			}
			err = jwrite(c, &j, FOTA_BOOT_REVERTING, FOTA_ERR_VERIFY);
			break;
		case FOTA_BOOT_TRIAL:
			/* Booted once and never confirmed: the new firmware failed. */
			err = jwrite(c, &j, FOTA_BOOT_REVERTING, FOTA_ERR_VERIFY);
			break;
		case FOTA_BOOT_REVERTING:
			st->did = FOTA_BOOT_DID_REVERT;
			st->reboot = true;
			err = move(c, &j, true);
			if (err)
				goto out;
			err = jwrite(c, &j, FOTA_BOOT_REVERTED, j.result);
			goto out;
		default: /* NONE, CONFIRMED, REVERTED, REFUSED: nothing pending */
			goto out;
		}
	}
out:
	fill(st, &j);
	return err;
}

int fota_boot_mark_staged(const struct fota_boot_cfg *c, uint32_t image_size)
{
	struct jnl j;
	int err = jmount(c, &j);

	if (err)
		return err;
	if (!fota_boot_staging_free((enum fota_boot_state)j.state))
		return FOTA_ERR_BUSY;
	if (!image_size || image_size > c->layout.slot_sectors * c->flash->sector_size)
		return FOTA_ERR_FBIG;
	j.new_size = image_size;
	j.old_size = 0;
	j.n = 0;
	j.counter = 0;
	j.flags = 0;
	return jwrite(c, &j, FOTA_BOOT_STAGED, FOTA_OK);
}

int fota_boot_unstage(const struct fota_boot_cfg *c)
{
	struct jnl j;
	int err = jmount(c, &j);

	if (err || j.state != FOTA_BOOT_STAGED)
		return err;
	return jwrite(c, &j, FOTA_BOOT_REFUSED, FOTA_ERR_CANCELED);
}

int fota_boot_confirm(const struct fota_boot_cfg *c)
{
	struct jnl j;
	int err = cfg_ok(c) ? jmount(c, &j) : FOTA_ERR_INVAL;

	if (err || (j.state != FOTA_BOOT_SWAPPED && j.state != FOTA_BOOT_TRIAL))
		return err;
	j.floor = max_u32(j.floor, j.counter);
	return jwrite(c, &j, FOTA_BOOT_CONFIRMED, FOTA_OK);
}

int fota_boot_status(const struct fota_boot_cfg *c, struct fota_boot_status *st)
{
	struct jnl j;
	int err = jmount(c, &j);

	if (err)
		return err;
	memset(st, 0, sizeof(*st));
	fill(st, &j);
	return FOTA_OK;
}
