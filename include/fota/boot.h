/*
 * boot.h - the power-safe install with revert: what runs at every boot.
 *
 * The download writes a new image into the staging slot S, one sector in (S[0] stays
 * free), and calls fota_boot_mark_staged(). At the next boot fota_boot_run() verifies it
 * and swaps it with the image of the running slot R by "swap with offset": for each
 * sector i, S[i] <- R[i], then R[i] <- S[i + 1]. R then holds the new image and S the old
 * one at offset 0, so a new firmware that never calls fota_boot_confirm() is swapped
 * back (the revert) at the boot after its trial. Every sector is erased once per
 * direction. Each step is journalled in a separate flash area with write-once records
 * and a progress bitmap, so a power cut at any program or erase (a torn one too) leaves
 * a state the next boot finishes: R always ends up holding a whole image, old or new.
 *
 * The image format is not known here: a verify hook from the config checks an image in
 * place and tells its size and its security counter.
 * Anti-rollback: the journal keeps a floor, the lowest security counter an image may have
 * to be installed. An image below it is refused (REFUSED, FOTA_ERR_ROLLBACK) and never
 * swapped in. The floor rises to a new image's counter when that image is confirmed
 * (never at a mere trial, so a revert puts back a firmware the floor still admits), and
 * to the running image's counter at each install. Every record carries it, so no power
 * cut can lower it. The journal's byte layout, the state machine and the erase
 * counts are in docs/flash-layout.md.
 *
 * No heap; sectors are copied through a FOTA_COPY_BUF stack buffer. Not reentrant for one
 * flash: the calls below must not run at the same time.
 */
#ifndef FOTA_BOOT_H
#define FOTA_BOOT_H

#include "fota/flash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes at the start of the flash kept for the boot code: never read or written here.
 * fota_layout_default() rounds it up to whole sectors. */
#ifndef FOTA_BOOT_AREA_SIZE
#define FOTA_BOOT_AREA_SIZE 65536u
#endif

/* Sectors of the NV area (nv.h) that fota_layout_default() puts at the end of the flash. */
#ifndef FOTA_BOOT_NV_SECTORS
#define FOTA_BOOT_NV_SECTORS 2u
#endif

/* Where each area lives. Every address is a multiple of the sector size; the areas must
 * not overlap one another. fota_layout_default() makes one; a port may write its own. */
struct fota_layout {
	uint32_t boot_size;    /* [0, boot_size): the boot code's area; never touched here */
	uint32_t run_addr;     /* running slot R: slot_sectors sectors; the image runs from here */
	uint32_t stage_addr;   /* staging slot S: slot_sectors + 1 sectors. The download writes
				* the image at stage_addr + sector_size (S[1]); S[0] is the
				* swap's spare sector */
	uint32_t slot_sectors; /* N: the largest image is N * sector_size bytes */
	uint32_t journal_addr; /* install journal: two halves of journal_half bytes each */
	uint32_t journal_half; /* bytes per half, a multiple of the sector size, at least
				* fota_layout_journal_half(N, flash) */
	uint32_t nv_addr;      /* NV area (nv.h): only checked not to overlap */
	uint32_t nv_size;
};

/* The journal's state: where the last update attempt stands. The values are stored in
 * flash: never renumber them. */
enum fota_boot_state {
	FOTA_BOOT_NONE = 0,       /* no update recorded yet (blank journal) */
	FOTA_BOOT_STAGED = 1,     /* a downloaded image waits in S at offset one sector */
	FOTA_BOOT_SWAPPING = 2,   /* the install is under way (progress in the bitmap) */
	FOTA_BOOT_SWAPPED = 3,    /* the new image is in R, not booted yet */
	FOTA_BOOT_TRIAL = 4,      /* the new image has booted once and has not confirmed */
	FOTA_BOOT_CONFIRMED = 5,  /* the new image confirmed itself: the update is done */
	FOTA_BOOT_REVERTING = 6,  /* the old image is being put back (progress in the bitmap) */
	FOTA_BOOT_REVERTED = 7,   /* the old image is back in R; result says why */
	FOTA_BOOT_REFUSED = 8,    /* the staged image did not verify and was never installed */
};

/* What one fota_boot_run() call did. */
enum fota_boot_outcome {
	FOTA_BOOT_DID_NOTHING = 0, /* nothing was pending: run the image in R */
	FOTA_BOOT_DID_INSTALL,     /* the staged image is now in R (reboot is set) */
	FOTA_BOOT_DID_TRIAL,       /* first boot of the new image: run it; after its self-test
				    * it calls fota_boot_confirm(), or the next boot reverts it */
	FOTA_BOOT_DID_REVERT,      /* the old image is back in R (reboot is set) */
	FOTA_BOOT_DID_REFUSE,      /* the staged image failed verification and was dropped */
};

/* The last attempt, as the journal records it (AT+UPGRADE? reads it after the reboots). */
struct fota_boot_status {
	enum fota_boot_state state;
	enum fota_boot_outcome did; /* fota_boot_run() only: what this call did */
	bool reboot;         /* fota_boot_run() only: it changed R; reset (or start R afresh) */
	int result;          /* enum fota_err of the attempt: FOTA_OK; FOTA_ERR_VERIFY when the
			      * staged image was refused or the new one never confirmed (or no
			      * longer verified) and was reverted; another verify hook error */
	uint32_t image_size; /* bytes of the new (staged or installed) image; 0 if none */
	uint32_t old_size;   /* bytes of the image it replaced; 0 if R held no valid image */
	uint32_t floor;      /* lowest security counter an image may have (anti-rollback) */
	uint32_t counter;    /* security counter of the new image, once it was verified */
};

struct fota_boot_cfg {
	const struct fota_flash *flash; /* borrowed; must outlive the calls */
	struct fota_layout layout;
	void *ctx;                      /* passed back to the hooks */
	/* verify: checks the image at addr (at most max_size bytes) in place: format,
	 * hash, signature. On FOTA_OK it stores the image's total size in *image_size and its
	 * security counter in *counter. Returns FOTA_OK; FOTA_ERR_POWER or FOTA_ERR_IO when
	 * the flash failed (the boot stops and retries at the next boot); any other error
	 * means "not a valid image". It must only read. */
	int (*verify)(void *ctx, const struct fota_flash *f, uint32_t addr, uint32_t max_size,
		      uint32_t *image_size, uint32_t *counter);
	/* progress: optional (NULL). During an install, each whole percent 0..100 once per
	 * fota_boot_run() call, in order (for the +UPGRADEDL: <percent> URC). An install
	 * resumed after a power cut starts again at 0 and runs quickly up to where it was. */
	void (*progress)(void *ctx, unsigned percent);
};

/* fota_boot_staging_free: true when S may receive a new download in state s: S holds
 * nothing the journal still needs (in SWAPPED and TRIAL it holds the old image that a
 * revert puts back). */
static inline bool fota_boot_staging_free(enum fota_boot_state s)
{
	return s != FOTA_BOOT_SWAPPING && s != FOTA_BOOT_SWAPPED && s != FOTA_BOOT_TRIAL &&
	       s != FOTA_BOOT_REVERTING;
}

/* fota_layout_journal_half: bytes one journal half needs for a running slot of
 * slot_sectors sectors on flash f (records, then one program unit per half-step),
 * rounded up to whole sectors. */
uint32_t fota_layout_journal_half(uint32_t slot_sectors, const struct fota_flash *f);

/* fota_layout_default: fills *l for flash f: the boot area (FOTA_BOOT_AREA_SIZE rounded
 * up to sectors) at 0, R of N sectors, S of N + 1 sectors, the journal, a spare sector
 * when one is left over, and FOTA_BOOT_NV_SECTORS of NV at the end; N as large as fits.
 * Returns FOTA_OK, FOTA_ERR_INVAL for a bad geometry, FOTA_ERR_NOSPC if not even a
 * one-sector slot fits. */
int fota_layout_default(struct fota_layout *l, const struct fota_flash *f);

/* fota_layout_valid: true when l fits flash f: aligned, inside the device, areas apart,
 * journal halves large enough. */
bool fota_layout_valid(const struct fota_layout *l, const struct fota_flash *f);

/* fota_boot_mark_staged: the downloader calls it after it wrote and verified an image of
 * image_size bytes at stage_addr + sector_size. When it returns FOTA_OK the next
 * fota_boot_run() installs the image (after verifying it once more). Returns FOTA_OK,
 * FOTA_ERR_BUSY while S holds an image the journal still needs (see
 * fota_boot_staging_free), FOTA_ERR_FBIG when image_size is 0 or larger than the slot,
 * FOTA_ERR_INVAL for a NULL cfg, or the flash's error (then nothing was marked).
 * fota_boot_mark_staged, fota_boot_unstage and fota_boot_status (the downloader's calls)
 * take the config this boot's fota_boot_run accepted and do not check its layout again:
 * a firmware's application uses the layout its boot code checked. */
int fota_boot_mark_staged(const struct fota_boot_cfg *cfg, uint32_t image_size);

/* fota_boot_unstage: forgets a staged image before S is written again (a new download
 * starts), so a power cut during that download can never be taken for a staged image
 * that fails verification. In any state other than STAGED it does nothing. Returns
 * FOTA_OK, FOTA_ERR_INVAL for a NULL cfg, or the flash's error. */
int fota_boot_unstage(const struct fota_boot_cfg *cfg);

/* fota_boot_run: call at every boot before running R. Finishes what a power cut
 * interrupted and moves the update on by one step:
 *   STAGED    -> verify S; install it (DID_INSTALL, reboot) or drop it (DID_REFUSE:
 *                it does not verify, or its counter is below the floor);
 *   SWAPPING  -> finish the install (DID_INSTALL, reboot);
 *   SWAPPED   -> verify R; start the trial (DID_TRIAL) or, if it fails, revert;
 *   TRIAL     -> the new image never confirmed: revert (DID_REVERT, reboot);
 *   REVERTING -> finish the revert (DID_REVERT, reboot);
 *   others    -> nothing (DID_NOTHING).
 * When R held no valid image before the install, there is nothing to revert to: the
 * install ends in CONFIRMED directly. *st (owned by the caller, may be NULL) receives the
 * state after the call (meaningful when it returns FOTA_OK). Returns FOTA_OK, FOTA_ERR_INVAL for a bad config, FOTA_ERR_CORRUPT
 * for an impossible journal record, or the flash's error (FOTA_ERR_POWER...): then call it
 * again at the next boot, it goes on where it stopped. */
int fota_boot_run(const struct fota_boot_cfg *cfg, struct fota_boot_status *st);

/* fota_boot_confirm: the new firmware calls it once its self-test passed; it is kept, and
 * the floor rises to its security counter. In any state other than SWAPPED or TRIAL it
 * does nothing. Returns FOTA_OK,
 * FOTA_ERR_INVAL for a bad config, or the flash's error (then the image is not confirmed
 * and the next boot reverts it). */
int fota_boot_confirm(const struct fota_boot_cfg *cfg);

/* fota_boot_status: reads the journal's last record into *st (owned by the caller; did
 * is DID_NOTHING, reboot false). Reads only. Returns FOTA_OK (state NONE for a blank
 * journal), FOTA_ERR_INVAL for a NULL cfg, or the flash's error. */
int fota_boot_status(const struct fota_boot_cfg *cfg, struct fota_boot_status *st);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_BOOT_H */
