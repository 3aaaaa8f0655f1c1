/*
 * keys.c - a project's signing keys: canonical PEM, fingerprint, keyring (keys.h).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "keys.h"

#define PEM_BEGIN "-----BEGIN PUBLIC KEY-----"
#define PEM_END "-----END PUBLIC KEY-----"

static int say(char *msg, size_t cap, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int say(char *msg, size_t cap, int err, const char *fmt, ...)
{
	va_list ap;

	if (msg && cap) {
		va_start(ap, fmt);
		vsnprintf(msg, cap, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* How many times needle occurs in the len bytes at s (not overlapping). */
static size_t count(const char *s, size_t len, const char *needle)
{
	size_t n = 0, k = strlen(needle);
	const char *p;

	while ((p = memmem(s, len, needle, k)) != NULL) {
		n++;
		len -= (size_t)(p - s) + k;
		s = p + k;
	}
	return n;
}

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int fota_srv_key_canon(const char *pem, size_t len, struct fota_project_key *out, char *msg,
		       size_t cap)
{
	static const char hexd[] = "0123456789abcdef";
	mbedtls_pk_context pk;
	struct fota_posix_sig sig;
	unsigned char der[512];
	uint8_t digest[32];
	char *buf = NULL;
	size_t a = 0, b = len;
	int err, n;

	if (len > FOTA_SRV_PEM_IN_MAX)
		return say(msg, cap, FOTA_ERR_TOOLONG, "more than %u bytes: not one P-256 public key",
			   FOTA_SRV_PEM_IN_MAX);
	while (a < b && space(pem[a]))
		a++;
	while (b > a && space(pem[b - 1]))
		b--;
	if (memchr(pem + a, '\0', b - a))
		return say(msg, cap, FOTA_ERR_BADMSG, "a NUL byte in the PEM text");
	if (b - a >= 11 && memmem(pem + a, b - a, "PRIVATE KEY", 11))
		return say(msg, cap, FOTA_ERR_BADMSG, "a private key: give the public key only "
			   "(openssl ec -in key.pem -pubout)");
	if (b - a < sizeof(PEM_BEGIN) + sizeof(PEM_END) ||
	    memcmp(pem + a, PEM_BEGIN, sizeof(PEM_BEGIN) - 1) ||
	    memcmp(pem + b - (sizeof(PEM_END) - 1), PEM_END, sizeof(PEM_END) - 1) ||
	    count(pem + a, b - a, "-----") != 4)
		return say(msg, cap, FOTA_ERR_BADMSG, "not one PEM block '" PEM_BEGIN "' ... '"
			   PEM_END "'");
	buf = malloc(b - a + 1);
	if (!buf)
		return say(msg, cap, FOTA_ERR_IO, "out of memory");
	memcpy(buf, pem + a, b - a);
	buf[b - a] = '\0';

	mbedtls_pk_init(&pk);
	if (mbedtls_pk_parse_public_key(&pk, (const unsigned char *)buf, b - a + 1) != 0) {
		err = say(msg, cap, FOTA_ERR_BADMSG, "not a valid PEM public key");
		goto out;
	}
	if (mbedtls_pk_get_type(&pk) != MBEDTLS_PK_ECKEY ||
	    mbedtls_pk_ec(pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
		err = say(msg, cap, FOTA_ERR_NOTSUP, "not an ECDSA P-256 (prime256v1) key");
		goto out;
	}
	/* What the verifier will be given must be what it accepts. */
	err = fota_posix_sig_init_pem(&sig, buf, b - a);
	if (err) {
		err = say(msg, cap, err == FOTA_ERR_NOTSUP ? FOTA_ERR_NOTSUP : FOTA_ERR_BADMSG,
			  "the key is refused by the verifier (%s)", fota_strerror(err));
		goto out;
	}
	fota_posix_sig_free(&sig);
	if (mbedtls_pk_write_pubkey_pem(&pk, (unsigned char *)out->pem, sizeof(out->pem)) != 0) {
		err = say(msg, cap, FOTA_ERR_IO, "the key cannot be written back");
		goto out;
	}
	n = mbedtls_pk_write_pubkey_der(&pk, der, sizeof(der));
	if (n <= 0 || mbedtls_sha256_ret(der + sizeof(der) - n, (size_t)n, digest, 0) != 0) {
		err = say(msg, cap, FOTA_ERR_IO, "the key cannot be hashed");
		goto out;
	}
	for (size_t i = 0; i < sizeof(digest); i++) {
		out->sha256[2 * i] = hexd[digest[i] >> 4];
		out->sha256[2 * i + 1] = hexd[digest[i] & 15];
	}
	out->sha256[2 * sizeof(digest)] = '\0';
	err = FOTA_OK;
out:
	mbedtls_pk_free(&pk);
	free(buf);
	return err;
}

/* The port's verify: holds when the signature holds for one of the keys. */
static int ring_verify(void *ctx, const uint8_t hash[FOTA_SHA256_SIZE],
		       const uint8_t sig[FOTA_SIG_SIZE])
{
	struct fota_srv_keyring *r = ctx;
	int failed = FOTA_ERR_VERIFY;

	r->matched = -1;
	for (size_t i = 0; i < r->n; i++) {
		int err = r->k[i].port.verify(r->k[i].port.ctx, hash, sig);

		if (err == FOTA_OK) {
			r->matched = (int)i;
			return FOTA_OK;
		}
		if (err != FOTA_ERR_VERIFY)
			failed = err; /* the engine failed: say so unless another key holds */
	}
	return failed;
}

void fota_srv_keyring_init(struct fota_srv_keyring *r)
{
	memset(r, 0, sizeof(*r));
	r->port.ctx = r;
	r->port.verify = ring_verify;
	r->matched = -1;
}

int fota_srv_keyring_add(struct fota_srv_keyring *r, const struct fota_project_key *k)
{
	int err;

	/* A key's port points into it: the array is made once, for as many keys as a
	 * project may hold, and never moves. */
	if (!r->k) {
		r->k = calloc(FOTA_SRV_KEYS_MAX, sizeof(*r->k));
		r->sha256 = calloc(FOTA_SRV_KEYS_MAX, sizeof(*r->sha256));
		if (!r->k || !r->sha256) {
			free(r->k);
			free(r->sha256);
			r->k = NULL;
			r->sha256 = NULL;
			return FOTA_ERR_NOMEM;
		}
		r->cap = FOTA_SRV_KEYS_MAX;
	}
	if (r->n == r->cap)
		return FOTA_ERR_NOMEM;
	err = fota_posix_sig_init_pem(&r->k[r->n], k->pem, strlen(k->pem));
	if (err)
		return err;
	snprintf(r->sha256[r->n], sizeof(r->sha256[0]), "%s", k->sha256);
	r->n++;
	return FOTA_OK;
}

void fota_srv_keyring_free(struct fota_srv_keyring *r)
{
	for (size_t i = 0; i < r->n; i++)
		fota_posix_sig_free(&r->k[i]);
	free(r->k);
	free(r->sha256);
	fota_srv_keyring_init(r);
}
