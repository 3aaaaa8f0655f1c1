/* crypto_mbedtls.c - the POSIX port's crypto on mbedTLS 2.28: SHA-256 (struct fota_sha256),
 * the signature port (struct fota_sig, ECDSA P-256 with a public key from PEM), and the
 * fota tool's key generation and signing. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>

#include "fota/posix_crypto.h"

static int sha_start(void *ctx)
{
	struct fota_posix_sha256 *s = ctx;

	mbedtls_sha256_free(&s->mb);
	mbedtls_sha256_init(&s->mb);
	return mbedtls_sha256_starts_ret(&s->mb, 0) ? FOTA_ERR_IO : FOTA_OK;
}

static int sha_update(void *ctx, const void *data, size_t len)
{
	struct fota_posix_sha256 *s = ctx;

	if (!len)
		return FOTA_OK;
	return mbedtls_sha256_update_ret(&s->mb, data, len) ? FOTA_ERR_IO : FOTA_OK;
}

static int sha_finish(void *ctx, uint8_t out[FOTA_SHA256_SIZE])
{
	struct fota_posix_sha256 *s = ctx;

	return mbedtls_sha256_finish_ret(&s->mb, out) ? FOTA_ERR_IO : FOTA_OK;
}

void fota_posix_sha256_init(struct fota_posix_sha256 *s)
{
	memset(s, 0, sizeof(*s));
	mbedtls_sha256_init(&s->mb);
	s->port.ctx = s;
	s->port.start = sha_start;
	s->port.update = sha_update;
	s->port.finish = sha_finish;
}

void fota_posix_sha256_free(struct fota_posix_sha256 *s)
{
	mbedtls_sha256_free(&s->mb);
}

int fota_posix_sha256(const void *data, size_t len, uint8_t out[FOTA_SHA256_SIZE])
{
	return mbedtls_sha256_ret(data, len, out, 0) ? FOTA_ERR_IO : FOTA_OK;
}

int fota_posix_image_frame(struct fota_image_info *info, const void *payload, size_t payload_size,
			   uint8_t hdr[FOTA_IMAGE_HDR_SIZE],
			   uint8_t trailer[FOTA_IMAGE_TRAILER_SHA256])
{
	mbedtls_sha256_context mb;
	uint8_t digest[FOTA_SHA256_SIZE];
	int err;

	if (payload_size > UINT32_MAX - FOTA_IMAGE_HDR_SIZE - FOTA_IMAGE_TRAILER_SHA256)
		return FOTA_ERR_FBIG;
	info->payload_size = (uint32_t)payload_size;
	info->trailer_size = FOTA_IMAGE_TRAILER_SHA256;
	err = fota_image_write_header(hdr, FOTA_IMAGE_HDR_SIZE, info);
	if (err)
		return err;
	mbedtls_sha256_init(&mb);
	err = mbedtls_sha256_starts_ret(&mb, 0) ||
	      mbedtls_sha256_update_ret(&mb, hdr, FOTA_IMAGE_HDR_SIZE) ||
	      mbedtls_sha256_update_ret(&mb, payload, payload_size) ||
	      mbedtls_sha256_finish_ret(&mb, digest) ? FOTA_ERR_IO : FOTA_OK;
	mbedtls_sha256_free(&mb);
	if (err)
		return err;
	fota_image_put_tlv(trailer, FOTA_IMAGE_TRAILER_SHA256, FOTA_TLV_SHA256, digest,
			   FOTA_SHA256_SIZE);
	return FOTA_OK;
}

/* --- signatures: ECDSA P-256 ------------------------------------------------------- */

/* A private or public key in PEM, parsed into pk (initialized by the caller). mbedTLS
 * wants PEM NUL-terminated with the NUL counted in the length, and the caller's buffer
 * need not be, so it is copied (and the copy wiped: it may hold a private key). private_key
 * chooses mbedtls_pk_parse_key, else mbedtls_pk_parse_public_key. Returns 0 or the mbedTLS
 * error. */
static int parse_pem(mbedtls_pk_context *pk, const char *pem, size_t len, bool private_key)
{
	unsigned char *buf;
	int ret;

	if (len > 1024 * 1024)
		return MBEDTLS_ERR_PEM_BAD_INPUT_DATA; /* no key is that large */
	buf = malloc(len + 1);
	if (!buf)
		return MBEDTLS_ERR_PK_ALLOC_FAILED;
	memcpy(buf, pem, len);
	buf[len] = '\0';
	if (private_key)
		ret = mbedtls_pk_parse_key(pk, buf, len + 1, NULL, 0);
	else
		ret = mbedtls_pk_parse_public_key(pk, buf, len + 1);
	mbedtls_platform_zeroize(buf, len + 1);
	free(buf);
	return ret;
}

/* The enum fota_err for a failed key parse: an algorithm mbedTLS does not know (Ed25519,
 * ...) or a curve it cannot use is NOTSUP, out of memory IO, anything else BADMSG. The
 * high-level part of an mbedTLS error is bits 7-14 of its magnitude. */
static int parse_err(int ret)
{
	int high = -((-ret) & 0x7F80);

	if (high == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG || high == MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE ||
	    high == MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE)
		return FOTA_ERR_NOTSUP;
	if (high == MBEDTLS_ERR_PK_ALLOC_FAILED)
		return FOTA_ERR_IO;
	return FOTA_ERR_BADMSG;
}

/* The EC key pair in pk when it is one on P-256; NULL otherwise (RSA, another curve). */
static mbedtls_ecp_keypair *p256_of(mbedtls_pk_context *pk)
{
	mbedtls_ecp_keypair *ec;

	if (!mbedtls_pk_can_do(pk, MBEDTLS_PK_ECDSA))
		return NULL;
	ec = mbedtls_pk_ec(*pk);
	return ec && ec->grp.id == MBEDTLS_ECP_DP_SECP256R1 ? ec : NULL;
}

/* A CTR_DRBG seeded from the system's entropy (keygen; blinding while signing). */
struct rng {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

static int rng_init(struct rng *r, const char *who)
{
	mbedtls_entropy_init(&r->entropy);
	mbedtls_ctr_drbg_init(&r->drbg);
	return mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
				     (const unsigned char *)who, strlen(who));
}

static void rng_free(struct rng *r)
{
	mbedtls_ctr_drbg_free(&r->drbg);
	mbedtls_entropy_free(&r->entropy);
}

static int sig_verify(void *ctx, const uint8_t hash[FOTA_SHA256_SIZE],
		      const uint8_t sig[FOTA_SIG_SIZE])
{
	struct fota_posix_sig *s = ctx;
	mbedtls_mpi r, sv;
	int ret, err;

	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&sv);
	if (mbedtls_mpi_read_binary(&r, sig, FOTA_SIG_SIZE / 2) ||
	    mbedtls_mpi_read_binary(&sv, sig + FOTA_SIG_SIZE / 2, FOTA_SIG_SIZE / 2)) {
		err = FOTA_ERR_IO;
		goto out;
	}
	/* r and s must lie in [1, n-1]; mbedtls_ecdsa_verify checks it too, but the rule
	 * is the format's, so it is stated here. */
	if (mbedtls_mpi_cmp_int(&r, 1) < 0 || mbedtls_mpi_cmp_mpi(&r, &s->key.grp.N) >= 0 ||
	    mbedtls_mpi_cmp_int(&sv, 1) < 0 || mbedtls_mpi_cmp_mpi(&sv, &s->key.grp.N) >= 0) {
		err = FOTA_ERR_VERIFY;
		goto out;
	}
	ret = mbedtls_ecdsa_verify(&s->key.grp, hash, FOTA_SHA256_SIZE, &s->key.Q, &r, &sv);
	err = ret == 0 ? FOTA_OK : ret == MBEDTLS_ERR_ECP_VERIFY_FAILED ? FOTA_ERR_VERIFY :
								   FOTA_ERR_IO;
out:
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&sv);
	return err;
}

int fota_posix_sig_init_pem(struct fota_posix_sig *s, const char *pem, size_t len)
{
	mbedtls_pk_context pk;
	mbedtls_ecp_keypair *ec;
	int ret, err;

	memset(s, 0, sizeof(*s));
	mbedtls_ecdsa_init(&s->key);
	mbedtls_pk_init(&pk);
	ret = parse_pem(&pk, pem, len, false);
	if (ret && parse_err(ret) == FOTA_ERR_BADMSG) {
		/* Not a public key: perhaps a private one, of which the public half is kept. */
		mbedtls_pk_free(&pk);
		mbedtls_pk_init(&pk);
		ret = parse_pem(&pk, pem, len, true);
	}
	if (ret) {
		err = parse_err(ret);
		goto out;
	}
	ec = p256_of(&pk);
	if (!ec) {
		err = FOTA_ERR_NOTSUP;
		goto out;
	}
	if (mbedtls_ecp_group_load(&s->key.grp, MBEDTLS_ECP_DP_SECP256R1) ||
	    mbedtls_ecp_copy(&s->key.Q, &ec->Q)) {
		err = FOTA_ERR_IO;
		goto out;
	}
	s->port.ctx = s;
	s->port.verify = sig_verify;
	err = FOTA_OK;
out:
	mbedtls_pk_free(&pk);
	if (err)
		mbedtls_ecdsa_free(&s->key); /* the caller need not free after an error */
	return err;
}

int fota_posix_sig_load(struct fota_posix_sig *s, const char *path)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int err, saved;

	f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT ? FOTA_ERR_NOENT : FOTA_ERR_IO;
	for (;;) {
		size_t n;

		if (len == cap) {
			char *nbuf;

			if (cap >= 1024 * 1024) { /* no PEM key is a megabyte */
				fclose(f);
				free(buf);
				return FOTA_ERR_BADMSG;
			}
			cap = cap ? cap * 2 : 4096;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				saved = ENOMEM;
				goto fail;
			}
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		saved = errno ? errno : EIO;
		goto fail;
	}
	fclose(f);
	err = fota_posix_sig_init_pem(s, buf, len);
	free(buf);
	return err;
fail:
	fclose(f);
	free(buf);
	errno = saved;
	return FOTA_ERR_IO;
}

void fota_posix_sig_free(struct fota_posix_sig *s)
{
	mbedtls_ecdsa_free(&s->key);
	s->port.ctx = NULL;
	s->port.verify = NULL;
}

/* The enum fota_err for a failed PEM write: too small a buffer is NOMEM. */
static int write_err(int ret)
{
	if (ret == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL || ret == MBEDTLS_ERR_ASN1_BUF_TOO_SMALL)
		return FOTA_ERR_NOMEM;
	return FOTA_ERR_IO;
}

int fota_posix_keygen(char *priv, size_t priv_cap, char *pub, size_t pub_cap)
{
	struct rng rng;
	mbedtls_pk_context pk;
	int ret, err;

	mbedtls_pk_init(&pk);
	if (rng_init(&rng, "openfota keygen") ||
	    mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
				mbedtls_ctr_drbg_random, &rng.drbg)) {
		err = FOTA_ERR_IO;
		goto out;
	}
	ret = mbedtls_pk_write_key_pem(&pk, (unsigned char *)priv, priv_cap);
	if (ret) {
		err = write_err(ret);
		goto out;
	}
	ret = mbedtls_pk_write_pubkey_pem(&pk, (unsigned char *)pub, pub_cap);
	err = ret ? write_err(ret) : FOTA_OK;
out:
	if (err && priv && priv_cap)
		mbedtls_platform_zeroize(priv, priv_cap); /* no half-made key is left behind */
	mbedtls_pk_free(&pk);
	rng_free(&rng);
	return err;
}

int fota_posix_sign(const char *pem, size_t len, const uint8_t hash[FOTA_SHA256_SIZE],
		    uint8_t sig[FOTA_SIG_SIZE])
{
	struct rng rng;
	mbedtls_pk_context pk;
	mbedtls_ecp_keypair *ec;
	mbedtls_mpi r, s;
	int ret, err;

	mbedtls_pk_init(&pk);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if (rng_init(&rng, "openfota sign")) {
		err = FOTA_ERR_IO;
		goto out;
	}
	ret = parse_pem(&pk, pem, len, true);
	if (ret) {
		err = parse_err(ret);
		goto out;
	}
	ec = p256_of(&pk);
	if (!ec) {
		err = FOTA_ERR_NOTSUP;
		goto out;
	}
	/* A key file whose public half is not its private key's would sign images that its
	 * own public key refuses. */
	if (mbedtls_ecp_check_pub_priv(ec, ec)) {
		err = FOTA_ERR_BADMSG;
		goto out;
	}
	/* RFC 6979: k comes from the key and the hash; the RNG only blinds the computation. */
	if (mbedtls_ecdsa_sign_det_ext(&ec->grp, &r, &s, &ec->d, hash, FOTA_SHA256_SIZE,
				       MBEDTLS_MD_SHA256, mbedtls_ctr_drbg_random, &rng.drbg) ||
	    mbedtls_mpi_write_binary(&r, sig, FOTA_SIG_SIZE / 2) ||
	    mbedtls_mpi_write_binary(&s, sig + FOTA_SIG_SIZE / 2, FOTA_SIG_SIZE / 2)) {
		err = FOTA_ERR_IO;
		goto out;
	}
	err = FOTA_OK;
out:
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	mbedtls_pk_free(&pk);
	rng_free(&rng);
	return err;
}
