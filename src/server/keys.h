/*
 * keys.h - a project's signing keys: ECDSA P-256 public keys in PEM, checked and written in
 * one canonical form when the admin API takes them, and a keyring, the signature port
 * (struct fota_sig) that holds when the signature holds for any of them. The uploads of a
 * project with keys give the keyring to libfota's streaming verifier
 * (fota_image_verifier_require_sig). tests/server/test_server_keys.c covers them.
 */
#ifndef FOTA_SRV_KEYS_H
#define FOTA_SRV_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "fota/posix_crypto.h"
#include "store.h"

#define FOTA_SRV_KEYS_MAX 16   /* keys of one project */
#define FOTA_SRV_PEM_IN_MAX 8192 /* bytes of a key as given to the API */

/* fota_srv_key_canon: checks that the len bytes at pem (the caller's) are one PEM "PUBLIC
 * KEY" block (SubjectPublicKeyInfo; blanks around it allowed, nothing else) holding an
 * ECDSA P-256 key that the verifier accepts (fota_posix_sig_init_pem), and writes into
 * *out the key in canonical PEM and the SHA-256 of its DER SubjectPublicKeyInfo in hex
 * (what `openssl pkey -pubin -outform DER | sha256sum` prints).
 * Returns FOTA_OK; FOTA_ERR_BADMSG when it is not one PEM public key block (a private
 * key, a certificate, garbage: why goes into msg, cap bytes); FOTA_ERR_NOTSUP for a public
 * key of another kind or curve; FOTA_ERR_TOOLONG over FOTA_SRV_PEM_IN_MAX bytes; FOTA_ERR_IO
 * when mbedTLS failed. msg (may be NULL) gets an English sentence on every error. */
int fota_srv_key_canon(const char *pem, size_t len, struct fota_project_key *out, char *msg,
		       size_t cap);

/* A signature port over several public keys. */
struct fota_srv_keyring {
	struct fota_sig port;        /* give &port to the verifier; port.ctx is this struct */
	struct fota_posix_sig *k;    /* n keys (malloc) */
	char (*sha256)[FOTA_STORE_SHA_HEX + 1]; /* their fingerprints */
	size_t n, cap;
	int matched;                 /* the key that verified the last signature, -1: none */
};

/* fota_srv_keyring_init: an empty keyring in r (the caller's; it must stay where it is
 * while its port is used). Cannot fail. */
void fota_srv_keyring_init(struct fota_srv_keyring *r);

/* fota_srv_keyring_add: adds the key k (as the store gives it). Returns FOTA_OK,
 * FOTA_ERR_NOMEM, or the error of fota_posix_sig_init_pem for a key that does not parse. */
int fota_srv_keyring_add(struct fota_srv_keyring *r, const struct fota_project_key *k);

/* fota_srv_keyring_free: releases the keys of r; r is empty again. */
void fota_srv_keyring_free(struct fota_srv_keyring *r);

#endif /* FOTA_SRV_KEYS_H */
