/*
 * flash.h - the flash port: what the core needs of the module's flash.
 *
 * The core reads, programs and erases flash only through a struct fota_flash. The
 * contract is that of NOR flash: an erase sets one whole sector to the erased value, a
 * program may only change bits away from the erased state (it can never "un-program"),
 * and every address is relative to the start of the device.
 */
#ifndef FOTA_FLASH_H
#define FOTA_FLASH_H

#include "fota/fota.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fota_flash {
	void *ctx;            /* the port's own state, passed back to every call */
	uint32_t size;        /* bytes in the device; a multiple of sector_size */
	uint32_t sector_size; /* erase unit in bytes; a power of two */
	uint32_t prog_size;   /* program unit in bytes; a power of two <= FOTA_FLASH_PROG_MAX */
	uint8_t erased;       /* value of every byte after an erase (0xFF for NOR) */

	/* read: copy len bytes at addr into buf (owned by the caller). Any address and
	 * length inside the device. Returns FOTA_OK or a negative enum fota_err. */
	int (*read)(void *ctx, uint32_t addr, void *buf, size_t len);
	/* prog: program len bytes from buf (owned by the caller) at addr. addr and len are
	 * multiples of prog_size; the target bytes must be erased or only lose bits.
	 * Returns FOTA_OK, FOTA_ERR_FLASH_RULE, FOTA_ERR_POWER or another enum fota_err. */
	int (*prog)(void *ctx, uint32_t addr, const void *buf, size_t len);
	/* erase: erase the one sector that starts at addr (a multiple of sector_size).
	 * Returns FOTA_OK, FOTA_ERR_POWER or another enum fota_err. */
	int (*erase)(void *ctx, uint32_t addr);
};

/* fota_flash_is_erased: reads len bytes at addr and tells whether all hold the erased
 * value. Returns 1 if erased, 0 if not, or a negative enum fota_err if the read failed. */
int fota_flash_is_erased(const struct fota_flash *f, uint32_t addr, uint32_t len);

/* fota_flash_valid: checks the geometry (powers of two, sizes that divide). Returns
 * true when the core can use this flash. */
bool fota_flash_valid(const struct fota_flash *f);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_FLASH_H */
