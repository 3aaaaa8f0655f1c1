/*
 * posix_crypto.h - the POSIX port's crypto: SHA-256 by mbedTLS (libmbedcrypto).
 *
 * Only the POSIX programs (fotad, the fota tool, the tests) include this header; the
 * portable core sees nothing but the struct fota_sha256 of crypto.h.
 */
#ifndef FOTA_POSIX_CRYPTO_H
#define FOTA_POSIX_CRYPTO_H

#include <mbedtls/sha256.h>

#include "fota/crypto.h"
#include "fota/image.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fota_posix_sha256 {
	struct fota_sha256 port;   /* give &port to the core; port.ctx points to this struct */
	mbedtls_sha256_context mb; /* the running hash */
};

/* fota_posix_sha256_init: makes s a ready SHA-256 port (s is owned by the caller and must
 * stay where it is while the port is used: port.ctx points into it). Cannot fail. */
void fota_posix_sha256_init(struct fota_posix_sha256 *s);

/* fota_posix_sha256_free: clears the hash state of s (mbedtls_sha256_free). s may be
 * initialized again afterwards. */
void fota_posix_sha256_free(struct fota_posix_sha256 *s);

/* fota_posix_sha256: one-shot SHA-256 of len bytes at data (owned by the caller) into out.
 * Returns FOTA_OK or FOTA_ERR_IO if mbedTLS failed. */
int fota_posix_sha256(const void *data, size_t len, uint8_t out[FOTA_SHA256_SIZE]);

/* fota_posix_image_frame: makes the header and the trailer (the SHA-256 TLV) that frame
 * payload (payload_size bytes, owned by the caller) as an image described by info (name,
 * version, flags, security_counter; the sizes are filled in here, info is the caller's).
 * hdr and trailer are the caller's buffers. Returns FOTA_OK, the header writer's error
 * for bad fields (see fota_image_write_header), or FOTA_ERR_IO if hashing failed. */
int fota_posix_image_frame(struct fota_image_info *info, const void *payload, size_t payload_size,
			   uint8_t hdr[FOTA_IMAGE_HDR_SIZE],
			   uint8_t trailer[FOTA_IMAGE_TRAILER_SHA256]);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_POSIX_CRYPTO_H */
