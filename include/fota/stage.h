/*
 * stage.h - writes a downloaded image into the staging slot as its bytes arrive.
 *
 * The image goes to S at offset one sector (the layout of boot.h). Sectors are erased
 * just ahead of the bytes that need them, bytes are programmed in whole program units,
 * and the streaming verifier of image.h parses the header and hashes everything on the
 * way, so an image that cannot fit the slot is refused on its header, before anything is
 * erased, and a finished image is marked staged (fota_boot_mark_staged) only once its hash
 * holds. Used by the download (and by fotad's --stage test aid).
 *
 * Progress survives a power cut: S's first sector (free until the install uses it as
 * its spare) holds a bitmap of one program unit per block of the image, programmed
 * once the block is in flash. fota_stage_resume() counts the marks and goes on from
 * there without fetching those bytes again. A torn mark reads as not done.
 */
#ifndef FOTA_STAGE_H
#define FOTA_STAGE_H

#include "fota/boot.h"
#include "fota/image.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fota_stage {
	/* (the fields used most come first: on Cortex-M their loads and stores are shorter) */
	uint8_t pend[FOTA_FLASH_PROG_MAX];
	const struct fota_boot_cfg *boot;  /* borrowed: flash and layout */
	uint32_t written;                  /* image bytes programmed (a multiple of prog_size) */
	uint32_t erased;                   /* image bytes whose sectors are erased */
	uint32_t block;                    /* image bytes per progress mark */
	uint32_t marked;                   /* progress marks programmed */
	uint8_t npend;                     /* bytes in pend, waiting for a whole unit */
	struct fota_image_verifier ver;    /* parses and hashes what was written */
};

/* fota_stage_begin: starts a new image in S, forgetting an image staged earlier and not
 * installed yet (fota_boot_unstage). boot and sha are borrowed until the stage ends. Returns FOTA_OK, FOTA_ERR_BUSY when S holds an image an install still needs (see
 * fota_boot_staging_free), or the flash's error reading the journal. */
int fota_stage_begin(struct fota_stage *st, const struct fota_boot_cfg *boot,
		     const struct fota_sha256 *sha);

/* fota_stage_resume: takes up an image left in S by an interrupted download (a lost
 * connection, a power cut): counts its progress marks, hashes the marked bytes again
 * from flash, and stores in *from where the download must go on (0 when nothing is
 * there; the image's total size when it is all there and only fota_stage_finish is
 * left). boot and sha are borrowed until the stage ends. Returns FOTA_OK, FOTA_ERR_BUSY
 * as fota_stage_begin, the verifier's error if the bytes in flash are not the start of a
 * valid image (then start afresh with fota_stage_begin), or the flash's error. */
int fota_stage_resume(struct fota_stage *st, const struct fota_boot_cfg *boot,
		      const struct fota_sha256 *sha, uint32_t *from);

/* fota_stage_write: the next len bytes of the image (owned by the caller). Returns
 * FOTA_OK while more is expected, FOTA_ERR_AGAIN never; the verifier's errors for a bad
 * image (FOTA_ERR_FBIG when it does not fit the slot, said on the header, before any
 * erase), FOTA_ERR_FBIG for bytes past the image's end, or the flash's error. After an
 * error the stage is dead: begin again. */
int fota_stage_write(struct fota_stage *st, const void *data, size_t len);

/* fota_stage_info: the image's header once the stage has read it, else NULL (owned by st). */
const struct fota_image_info *fota_stage_info(const struct fota_stage *st);

/* fota_stage_finish: after the last byte: programs the last partial unit, checks the whole
 * image verified, and marks it staged for the next boot. *info (the caller's, may be
 * NULL) gets the image's header. Returns FOTA_OK, FOTA_ERR_AGAIN if the image is not
 * complete, the verifier's error, or the flash's error. */
int fota_stage_finish(struct fota_stage *st, struct fota_image_info *info);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_STAGE_H */
