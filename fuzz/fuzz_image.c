/*
 * fuzz_image.c - the image header parser, the streaming verifier (real SHA-256 by
 * mbedTLS) and fota_image_verify_flash; the whole input is the image.
 *
 * - fota_image_hdr_feed byte by byte and in one feed: same result, bytes used, fault
 *   and info. A header it accepts is written again by fota_image_write_header, which
 *   must succeed and parse to the same facts (and, for a 128-byte header with zero
 *   reserved and extension bytes, give back the very same bytes).
 * - the verifier (max_size = the input's length) in one feed and in chunks (lengths from
 *   the input's CRC): same result, bytes used, fault, info. Never a crash.
 * - fota_image_verify_flash of the input placed in an emulated flash, max_size = its
 *   length: the verifier's result, or FOTA_ERR_FBIG where the verifier still waits for
 *   bytes the space does not have; the same info on FOTA_OK. And with the whole flash as
 *   the space (the input followed by erased bytes): the same on FOTA_OK.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fota/image.h"
#include "fota/posix_crypto.h"
#include "fota/simflash.h"
#include "fuzz_util.h"

#define SECTOR 4096u
#define FLASH_SIZE (4u * SECTOR)

static uint8_t flash_mem[FLASH_SIZE];
static struct fota_simflash sf;
static struct fota_posix_sha256 sha;
static bool ready;

struct outcome {
	int res;
	size_t used;
	int fault;
	bool has_info;
	struct fota_image_info info;
};

static void verify(const uint8_t *data, size_t size, uint32_t seed, struct outcome *o)
{
	struct fota_image_verifier v;
	struct fuzz_rng rng;
	const struct fota_image_info *info;
	size_t i, u;

	fota_image_verifier_init(&v, &sha.port, (uint32_t)size);
	o->used = 0;
	o->res = FOTA_ERR_AGAIN;
	fuzz_rng_init(&rng, seed);
	if (!seed) {
		o->res = fota_image_verifier_feed(&v, data, size, &o->used);
	} else {
		for (i = 0; i < size;) {
			size_t n = fuzz_chunk(&rng, (uint8_t)(seed >> 24 | 1), size - i);
			int e = fota_image_verifier_feed(&v, data + i, n, &u);

			CHECK(u <= n);
			if (o->res != FOTA_ERR_AGAIN) {
				CHECK_EQ(e, o->res);
				CHECK_EQ(u, 0);
			}
			o->used += u;
			o->res = e;
			i += n;
		}
	}
	CHECK(o->used <= size);
	if (o->res == FOTA_ERR_AGAIN)
		CHECK_EQ(o->used, size);
	o->fault = fota_image_verifier_fault(&v);
	CHECK_EQ(o->fault == FOTA_IMAGE_FAULT_NONE, o->res == FOTA_OK || o->res == FOTA_ERR_AGAIN);
	CHECK(strcmp(fota_image_fault_str(o->fault), "?") != 0);
	info = fota_image_verifier_info(&v);
	o->has_info = info != NULL;
	if (info)
		o->info = *info;
	if (o->res == FOTA_OK) {
		CHECK(info != NULL);
		CHECK_EQ(o->used, info->total_size);
	}
}

static void check_info(const struct fota_image_info *i)
{
	CHECK(i->header_size >= FOTA_IMAGE_HDR_SIZE && i->header_size <= FOTA_IMAGE_HDR_MAX);
	CHECK_EQ(i->format_version, FOTA_IMAGE_FORMAT);
	CHECK_EQ(fota_image_check_text(i->name, sizeof(i->name)), FOTA_OK);
	CHECK_EQ(fota_image_check_text(i->version, sizeof(i->version)), FOTA_OK);
	CHECK(i->payload_size > 0);
	CHECK(i->trailer_size >= FOTA_IMAGE_TLV_HDR && i->trailer_size <= FOTA_IMAGE_TRAILER_MAX);
	CHECK_EQ((uint64_t)i->total_size,
		 (uint64_t)i->header_size + i->payload_size + i->trailer_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fota_image_parser a, b;
	struct fota_image_info fi;
	struct outcome whole, chunked;
	size_t ua = 0, ub = 0, i, u;
	int resa, resb = FOTA_ERR_AGAIN, e;
	uint32_t crc;

	if (!ready) {
		CHECK_EQ(fota_simflash_init_mem(&sf, flash_mem, FLASH_SIZE, SECTOR, 4), FOTA_OK);
		fota_simflash_format(&sf);
		fota_posix_sha256_init(&sha);
		ready = true;
	}
	if (size > FLASH_SIZE)
		return 0;

	/* Header parser: whole vs byte by byte. */
	fota_image_hdr_init(&a);
	fota_image_hdr_init(&b);
	resa = fota_image_hdr_feed(&a, data, size, &ua);
	for (i = 0; i < size; i++) {
		e = fota_image_hdr_feed(&b, data + i, 1, &u);
		if (resb != FOTA_ERR_AGAIN) {
			CHECK_EQ(e, resb);
			CHECK_EQ(u, 0);
		}
		ub += u;
		resb = e;
	}
	CHECK_EQ(resa, resb);
	CHECK_EQ(ua, ub);
	CHECK_EQ(fota_image_hdr_fault(&a), fota_image_hdr_fault(&b));
	CHECK_EQ(fota_image_hdr_info(&a) != NULL, resa == FOTA_OK);
	if (resa == FOTA_OK) {
		const struct fota_image_info *ia = fota_image_hdr_info(&a);
		uint8_t hdr[FOTA_IMAGE_HDR_SIZE];
		struct fota_image_parser c;
		bool plain = ia->header_size == FOTA_IMAGE_HDR_SIZE;

		CHECK(!memcmp(ia, fota_image_hdr_info(&b), sizeof(*ia)));
		CHECK_EQ(ua, ia->header_size);
		check_info(ia);
		/* A header a reader takes, a writer writes again, and it reads the same. */
		CHECK_EQ(fota_image_write_header(hdr, sizeof(hdr), ia), FOTA_OK);
		fota_image_hdr_init(&c);
		CHECK_EQ(fota_image_hdr_feed(&c, hdr, sizeof(hdr), &u), FOTA_OK);
		fi = *fota_image_hdr_info(&c);
		CHECK(!strcmp(fi.name, ia->name) && !strcmp(fi.version, ia->version));
		CHECK(fi.flags == ia->flags && fi.payload_size == ia->payload_size &&
		      fi.trailer_size == ia->trailer_size &&
		      fi.security_counter == ia->security_counter);
		for (i = FOTA_IMAGE_OFF_RESERVED; plain && i < FOTA_IMAGE_OFF_RESERVED + 4; i++)
			plain = data[i] == 0;
		for (i = FOTA_IMAGE_OFF_EXT; plain && i < FOTA_IMAGE_HDR_SIZE - 4; i++)
			plain = data[i] == 0;
		if (plain)
			CHECK(!memcmp(hdr, data, FOTA_IMAGE_HDR_SIZE));
	} else if (resa != FOTA_ERR_AGAIN) {
		CHECK(fota_image_hdr_fault(&a) != FOTA_IMAGE_FAULT_NONE);
	} else {
		CHECK_EQ(ua, size);
	}

	/* Streaming verifier: whole vs chunks. */
	crc = fota_crc32(0, data, size);
	verify(data, size, 0, &whole);
	verify(data, size, crc | 1u, &chunked);
	CHECK_EQ(whole.res, chunked.res);
	CHECK_EQ(whole.used, chunked.used);
	CHECK_EQ(whole.fault, chunked.fault);
	CHECK_EQ(whole.has_info, chunked.has_info);
	if (whole.has_info) {
		CHECK(!memcmp(&whole.info, &chunked.info, sizeof(whole.info)));
		check_info(&whole.info);
	}
	if (resa != FOTA_OK && resa != FOTA_ERR_AGAIN)
		CHECK_EQ(whole.res, resa); /* a bad header is the verifier's answer too */

	/* In flash: exactly the input's bytes as the space. */
	memcpy(flash_mem, data, size);
	memset(flash_mem + size, 0xFF, FLASH_SIZE - size);
	memset(&fi, 0x5A, sizeof(fi));
	e = fota_image_verify_flash(&sf.flash, 0, (uint32_t)size, &sha.port, &fi);
	CHECK_EQ(e, whole.res == FOTA_ERR_AGAIN ? FOTA_ERR_FBIG : whole.res);
	if (e == FOTA_OK) {
		CHECK(!memcmp(&fi, &whole.info, sizeof(fi)));
		/* The whole device as the space: the image ends where it says. */
		CHECK_EQ(fota_image_verify_flash(&sf.flash, 0, FLASH_SIZE, &sha.port, &fi), FOTA_OK);
		CHECK(!memcmp(&fi, &whole.info, sizeof(fi)));
		/* And at an offset that puts it across a sector boundary. */
		if (size <= SECTOR) {
			memset(flash_mem, 0xFF, size);
			memcpy(flash_mem + SECTOR - 7, data, size);
			CHECK_EQ(fota_image_verify_flash(&sf.flash, SECTOR - 7, (uint32_t)size,
							 &sha.port, &fi),
				 FOTA_OK);
		}
	} else {
		static const uint8_t zero[sizeof(fi)];

		CHECK(!memcmp(&fi, zero, sizeof(fi)));
	}
	return 0;
}
