/*
 * posix_crypto.h - the POSIX port's crypto by mbedTLS (libmbedcrypto): SHA-256, the
 * signature port (ECDSA P-256 verify with a public key from a PEM file), and what the
 * fota tool needs to make keys and sign images.
 *
 * Only the POSIX programs (fotad, the fota tool, the tests) include this header; the
 * portable core sees nothing but the struct fota_sha256 of crypto.h.
 */
#ifndef FOTA_POSIX_CRYPTO_H
#define FOTA_POSIX_CRYPTO_H

#include <mbedtls/ecdsa.h>
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

/* A signature port (crypto.h) holding one ECDSA P-256 public key. */
struct fota_posix_sig {
	struct fota_sig port;      /* give &port to the core; port.ctx points to this struct */
	mbedtls_ecdsa_context key; /* the public key (group P-256 and the point Q) */
};

/* fota_posix_sig_init_pem: makes s a signature port for the public key in pem (len bytes,
 * owned by the caller: a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block; a private key
 * "EC PRIVATE KEY" / "PRIVATE KEY" is accepted too and only its public half kept). s is
 * owned by the caller and must stay where it is while used. Returns FOTA_OK,
 * FOTA_ERR_BADMSG when pem holds no such key, FOTA_ERR_NOTSUP for a key that is not
 * ECDSA P-256; s then needs no free. */
int fota_posix_sig_init_pem(struct fota_posix_sig *s, const char *pem, size_t len);

/* fota_posix_sig_load: fota_posix_sig_init_pem with the PEM read from the file at path.
 * Returns as fota_posix_sig_init_pem, or FOTA_ERR_NOENT / FOTA_ERR_IO when the file cannot
 * be read (errno tells). */
int fota_posix_sig_load(struct fota_posix_sig *s, const char *path);

/* fota_posix_sig_free: releases the key of s. s may be initialized again afterwards. */
void fota_posix_sig_free(struct fota_posix_sig *s);

/* fota_posix_keygen: makes a new ECDSA P-256 key pair from the system's entropy and writes
 * the private key as PEM ("EC PRIVATE KEY") into priv and the public key as PEM
 * ("PUBLIC KEY") into pub (the caller's buffers of priv_cap and pub_cap bytes; 512 is
 * enough for each), NUL-terminated. Returns FOTA_OK, FOTA_ERR_NOMEM when a buffer is too
 * small, or FOTA_ERR_IO when mbedTLS failed. */
int fota_posix_keygen(char *priv, size_t priv_cap, char *pub, size_t pub_cap);

/* fota_posix_sign: signs the SHA-256 digest hash with the ECDSA P-256 private key in pem
 * (len bytes, owned by the caller) and writes the signature in the image's raw form
 * (FOTA_SIG_SIZE bytes, r || s) to sig (the caller's). Deterministic (RFC 6979).
 * Returns FOTA_OK, FOTA_ERR_BADMSG when pem holds no private key, FOTA_ERR_NOTSUP for a
 * key that is not ECDSA P-256, FOTA_ERR_IO when mbedTLS failed. */
int fota_posix_sign(const char *pem, size_t len, const uint8_t hash[FOTA_SHA256_SIZE],
		    uint8_t sig[FOTA_SIG_SIZE]);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_POSIX_CRYPTO_H */
