/*
 * simflash.h - the emulated NOR flash of the POSIX port (fotad and the tests).
 *
 * It obeys NOR rules: erase per sector to 0xFF; a program may only clear bits (setting
 * one back is refused with FOTA_ERR_FLASH_RULE and counted). It counts operations and can
 * cut power before operation N: that operation is not done (or, with a torn cut, done
 * by half: half the bytes of a program are written, an erase sets only part of the
 * sector), it returns FOTA_ERR_POWER, and so does every operation after it until
 * fota_simflash_power_on(). Backing: a caller's memory buffer, or a file mapped shared
 * (so a kill -9 of the process is a power cut that keeps what was written).
 */
#ifndef FOTA_SIMFLASH_H
#define FOTA_SIMFLASH_H

#include "fota/flash.h"

enum fota_simflash_cut {
	FOTA_CUT_CLEAN = 0, /* the cut operation does not happen at all */
	FOTA_CUT_TORN = 1,  /* the cut operation is half done */
};

struct fota_simflash_stats {
	uint32_t reads, progs, erases; /* operations done since the counters were cleared */
	uint32_t rule_violations;      /* programs refused for setting a bit */
	uint32_t *erase_count;         /* per sector, since format (owned by the simflash) */
};

struct fota_simflash {
	struct fota_flash flash;  /* the port to give the core; flash.ctx points here */
	uint8_t *mem;             /* the device's bytes: the caller's buffer or a mapping */
	int fd;                   /* the backing file, or -1 */
	uint32_t ops;             /* prog and erase operations counted so far */
	uint32_t cut_at;          /* cut power before operation number cut_at (1-based); 0 = never */
	enum fota_simflash_cut cut_kind;
	bool dead;                /* power is off: every operation fails */
	struct fota_simflash_stats stats;
};

/* fota_simflash_init_mem: an emulated flash over mem (size bytes, owned by the caller,
 * left as it is: call fota_simflash_format to erase it all). Returns FOTA_OK or
 * FOTA_ERR_INVAL for a bad geometry, FOTA_ERR_NOMEM if the counters cannot be had. */
int fota_simflash_init_mem(struct fota_simflash *sf, uint8_t *mem, uint32_t size,
			   uint32_t sector_size, uint32_t prog_size);

/* fota_simflash_open_file: an emulated flash kept in the file at path, created erased
 * (all 0xFF) when missing. An existing file must have exactly size bytes. Returns FOTA_OK,
 * FOTA_ERR_INVAL (bad geometry or size mismatch) or FOTA_ERR_IO (errno tells). */
int fota_simflash_open_file(struct fota_simflash *sf, const char *path, uint32_t size,
			    uint32_t sector_size, uint32_t prog_size);

/* fota_simflash_close: syncs and releases a file-backed flash, frees the counters. */
void fota_simflash_close(struct fota_simflash *sf);

/* fota_simflash_format: erases the whole device (not counted as operations). */
void fota_simflash_format(struct fota_simflash *sf);

/* fota_simflash_cut_power: arms a cut before operation number n (1-based, counted from
 * now) of the given kind; n = 0 disarms it. */
void fota_simflash_cut_power(struct fota_simflash *sf, uint32_t n, enum fota_simflash_cut kind);

/* fota_simflash_power_on: power comes back: operations work again, the count restarts. */
void fota_simflash_power_on(struct fota_simflash *sf);

#endif /* FOTA_SIMFLASH_H */
