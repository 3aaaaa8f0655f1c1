/*
 * flaky_flash.h - a flash port for the tests that passes every call on to another one,
 * except reads that reach into a chosen address range, which fail with a chosen error.
 */
#ifndef FLAKY_FLASH_H
#define FLAKY_FLASH_H

#include "fota/flash.h"

struct flaky_flash {
	struct fota_flash port;         /* what the core gets; port.ctx points here */
	const struct fota_flash *real;  /* where every call goes, but the failed reads */
	uint32_t lo, hi;                /* reads touching [lo, hi) fail (none when lo == hi) */
	int err;                        /* what they return */
	unsigned failed;                /* reads refused so far */
};

/* flaky_flash_init: f wraps real (the caller's, kept for f's life) with the geometry of
 * real; reads touching [lo, hi) return err. Clears the count of refused reads. */
void flaky_flash_init(struct flaky_flash *f, const struct fota_flash *real, uint32_t lo,
		      uint32_t hi, int err);

#endif /* FLAKY_FLASH_H */
