/*
 * crypto.h - the crypto port: what the core needs of a hash engine.
 *
 * The core never includes a crypto library. It hashes through a struct fota_sha256 that
 * the platform fills: the module's hardware hash block, a library such as mbedTLS (the
 * POSIX port, see posix_crypto.h), or a small software SHA-256. One struct holds one
 * running hash: a caller that needs two at once needs two structs (two contexts).
 *
 * Calling sequence: start, then update any number of times (len may be 0), then finish.
 * start may be called again at any time, also in the middle of a hash: it abandons the
 * running one. Abandoning a hash without finish must be harmless (no resource is held
 * between calls that only finish would release).
 */
#ifndef FOTA_CRYPTO_H
#define FOTA_CRYPTO_H

#include "fota/fota.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes in a SHA-256 digest. */
#define FOTA_SHA256_SIZE 32

struct fota_sha256 {
	void *ctx; /* the port's own state (the running hash), passed back to every call */

	/* start: begins a new SHA-256 hash in ctx, dropping any running one.
	 * Returns FOTA_OK or a negative enum fota_err (e.g. FOTA_ERR_IO: the engine failed). */
	int (*start)(void *ctx);
	/* update: adds len bytes at data (owned by the caller, read during the call only) to
	 * the running hash. len may be 0. Returns FOTA_OK or a negative enum fota_err. */
	int (*update)(void *ctx, const void *data, size_t len);
	/* finish: ends the running hash and writes its FOTA_SHA256_SIZE-byte digest to out
	 * (owned by the caller). A new hash needs start again. Returns FOTA_OK or a negative
	 * enum fota_err. */
	int (*finish)(void *ctx, uint8_t out[FOTA_SHA256_SIZE]);
};

/* Bytes of an image signature: ECDSA P-256, r then s, 32 bytes each, big-endian (the raw
 * form, not DER: fixed size, nothing to parse on the module). */
#define FOTA_SIG_SIZE 64

/* The signature port: checks image signatures against the public key the module was
 * provisioned with (built into the firmware, or fotad --pubkey). The key is the port's:
 * the core never sees it. A module without this port (NULL where a struct fota_sig is
 * asked for) accepts images that carry a valid hash only. */
struct fota_sig {
	void *ctx; /* the port's own state (the public key), passed back to every call */

	/* verify: tells whether sig (FOTA_SIG_SIZE bytes, r || s) is a valid ECDSA P-256
	 * signature of the SHA-256 digest hash by the provisioned key. Both buffers are the
	 * caller's, read during the call only. Returns FOTA_OK when it is, FOTA_ERR_VERIFY when
	 * it is not (also for r or s out of range), or another negative enum fota_err when the
	 * engine failed (FOTA_ERR_IO). */
	int (*verify)(void *ctx, const uint8_t hash[FOTA_SHA256_SIZE],
		      const uint8_t sig[FOTA_SIG_SIZE]);
};

#ifdef __cplusplus
}
#endif

#endif /* FOTA_CRYPTO_H */
