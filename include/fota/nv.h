/*
 * nv.h - power-safe typed record store on flash (the module's NV).
 *
 * The NV area is two (or more, used as two halves) flash sectors. Records are appended
 * to the active half; each has a magic, a type, a length, a sequence number and a CRC, and
 * is committed by a word programmed after its body, so a record cut by a power loss is
 * never read. When the active half is full, the live records (the newest of each type)
 * are copied to the other half, and that half's header, written last, makes it the
 * active one. A power cut at any program or erase therefore leaves the old record or the
 * new one readable, never a mix, never nothing. Mount only reads; the first write to a
 * blank or damaged area formats it. See docs/nv-format.md for the byte layout.
 */
#ifndef FOTA_NV_H
#define FOTA_NV_H

#include "fota/flash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Record types in use. 0 and 0xFF are reserved. */
enum fota_nv_type {
	FOTA_NV_SETTINGS = 1, /* the AT+UPGRADE settings (settings.c) */
	FOTA_NV_DEVICE = 2,   /* identity of an emulated module: IMEI (fotad) */
	FOTA_NV_STATUS = 3,   /* the last upgrade result, kept across reboots */
	FOTA_NV_DOWNLOAD = 4, /* state of a download to resume after a power cut */
	FOTA_NV_URLCACHE = 5, /* ETag and Last-Modified of the URL last looked at */
};

struct fota_nv {
	const struct fota_flash *flash; /* not owned; must outlive the store */
	uint32_t base;   /* first byte of the area; sector aligned */
	uint32_t half;   /* bytes in each half; a multiple of the sector size */
	uint8_t active;  /* 0 or 1: the half that holds the live records */
	bool formatted;  /* false: no valid half found yet (blank or damaged area) */
	uint32_t gen;    /* generation of the active half; the higher one wins */
	uint32_t wr;     /* offset in the active half where the next record goes */
	uint32_t seq;    /* sequence number of the next record */
};

/* fota_nv_mount: finds the active half of the area [base, base + size) of flash (size:
 * an even number of sectors) and the end of its records. Reads only. flash is borrowed
 * and must stay valid. Returns FOTA_OK (also for a blank area: it reads as empty),
 * FOTA_ERR_INVAL for a bad geometry, or the flash's error. */
int fota_nv_mount(struct fota_nv *nv, const struct fota_flash *flash, uint32_t base, uint32_t size);

/* fota_nv_read: copies the newest record of type into buf (cap bytes, owned by the
 * caller) and stores its length in *len. Returns FOTA_OK, FOTA_ERR_NOENT when there is
 * none, FOTA_ERR_NOMEM when it is longer than cap (then *len is its length), or the
 * flash's error. */
int fota_nv_read(struct fota_nv *nv, uint8_t type, void *buf, size_t cap, size_t *len);

/* fota_nv_write: stores data (len bytes, owned by the caller, at most FOTA_NV_RECORD_MAX)
 * as the newest record of type. When it returns FOTA_OK the record is committed. On any
 * error (FOTA_ERR_TOOLONG, FOTA_ERR_INVAL, the flash's errors, FOTA_ERR_POWER) the
 * previous record of that type is still the one read. Writing the bytes the newest
 * record already holds costs no flash operation. */
int fota_nv_write(struct fota_nv *nv, uint8_t type, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_NV_H */
