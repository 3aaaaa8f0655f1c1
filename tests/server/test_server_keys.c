/* Unit tests of a project's signing keys (src/server/keys.c): a P-256 public key in PEM is
 * taken and written back in one canonical form with its fingerprint; private keys, other
 * curves, RSA, garbage, several blocks are refused with a sentence; the keyring holds
 * when a signature holds for any of its keys, and says which. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keys.h"

static const char p384[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE+YJUiYhsONw647oibFBb9+ia9l3WzbRD\n"
	"2tc+yLgAN8mIQ2lTdCPq5d2i/jGQdV8XupXabfKNnr5KWr15xu/gUqxBTXD0K4li\n"
	"53gVwQRqnAJD2ko9SJ/lGs6aRXAKGNjH\n"
	"-----END PUBLIC KEY-----\n";
static const char k256[] = /* secp256k1, not P-256 */
	"-----BEGIN PUBLIC KEY-----\n"
	"MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEujT+q1xT5aqH+SmdS2F6FRmMcjlJvscA\n"
	"NHioKy9VkHX3UV+zxshDHqnRJmQWDUc1gjak85aJ7p9lvBY9BRivlw==\n"
	"-----END PUBLIC KEY-----\n";
static const char rsa[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCGnV0CjfeB+xTSxGloBhTlajq\n"
	"9O5Z3izXoGvZlqqR6DO5dsypvo28uAqtlELG39urFpudJWjBHtrZxOl6PTKv+pp2\n"
	"8uy6NbOI6FL4Le9fRf4mUQ/ZkQSoKKoLAweLxnlfPI/IOrT+6BUP8/h8FeHEHvI+\n"
	"MZQFc5UuORtTFsGS7QIDAQAB\n"
	"-----END PUBLIC KEY-----\n";

struct pair {
	char priv[512];
	char pub[512];
};

static void keygen(struct pair *p)
{
	assert_int_equal(fota_posix_keygen(p->priv, sizeof(p->priv), p->pub, sizeof(p->pub)),
			 FOTA_OK);
}

static int canon(const char *pem, struct fota_project_key *k, char *msg)
{
	return fota_srv_key_canon(pem, strlen(pem), k, msg, 160);
}

static void public_keys_are_taken_in_canonical_form(void **state)
{
	struct pair p;
	struct fota_project_key a, b;
	char msg[160], sloppy[700];

	(void)state;
	keygen(&p);
	assert_int_equal(canon(p.pub, &a, msg), FOTA_OK);
	assert_string_equal(a.pem, p.pub);
	assert_int_equal(strlen(a.sha256), FOTA_STORE_SHA_HEX);
	assert_int_equal(strspn(a.sha256, "0123456789abcdef"), FOTA_STORE_SHA_HEX);
	/* Blanks around it and CRLF lines: the same key, the same text. */
	snprintf(sloppy, sizeof(sloppy), " \r\n\t%s\r\n\n", p.pub);
	assert_int_equal(canon(sloppy, &b, msg), FOTA_OK);
	assert_string_equal(a.pem, b.pem);
	assert_string_equal(a.sha256, b.sha256);
	/* Another key, another fingerprint. */
	keygen(&p);
	assert_int_equal(canon(p.pub, &b, msg), FOTA_OK);
	assert_string_not_equal(a.sha256, b.sha256);
}

static void anything_else_is_refused_with_a_reason(void **state)
{
	struct pair p;
	struct fota_project_key k;
	char msg[160], two[1200], *big;

	(void)state;
	keygen(&p);
	assert_int_equal(canon(p.priv, &k, msg), FOTA_ERR_BADMSG);
	assert_non_null(strstr(msg, "private key"));
	assert_int_equal(canon(p384, &k, msg), FOTA_ERR_NOTSUP);
	assert_non_null(strstr(msg, "P-256"));
	assert_int_equal(canon(k256, &k, msg), FOTA_ERR_NOTSUP);
	assert_int_equal(canon(rsa, &k, msg), FOTA_ERR_NOTSUP);
	assert_int_equal(canon("", &k, msg), FOTA_ERR_BADMSG);
	assert_int_equal(canon("hello", &k, msg), FOTA_ERR_BADMSG);
	assert_int_equal(canon("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", &k,
			       msg), FOTA_ERR_BADMSG);
	assert_int_equal(canon("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----", &k,
			       msg), FOTA_ERR_BADMSG);
	/* Text around the block, two blocks, a cut block. */
	snprintf(two, sizeof(two), "key: %s", p.pub);
	assert_int_equal(canon(two, &k, msg), FOTA_ERR_BADMSG);
	snprintf(two, sizeof(two), "%s%s", p.pub, p.pub);
	assert_int_equal(canon(two, &k, msg), FOTA_ERR_BADMSG);
	snprintf(two, sizeof(two), "%.*s", (int)strlen(p.pub) - 10, p.pub);
	assert_int_equal(canon(two, &k, msg), FOTA_ERR_BADMSG);
	/* A NUL inside. */
	memcpy(two, p.pub, strlen(p.pub) + 1);
	two[40] = '\0';
	assert_int_equal(fota_srv_key_canon(two, strlen(p.pub), &k, msg, sizeof(msg)),
			 FOTA_ERR_BADMSG);
	/* Too long. */
	big = malloc(FOTA_SRV_PEM_IN_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', FOTA_SRV_PEM_IN_MAX + 1);
	big[FOTA_SRV_PEM_IN_MAX + 1] = '\0';
	assert_int_equal(canon(big, &k, msg), FOTA_ERR_TOOLONG);
	free(big);
	/* No message buffer: still refused. */
	assert_int_equal(fota_srv_key_canon("x", 1, &k, NULL, 0), FOTA_ERR_BADMSG);
}

static void the_keyring_holds_for_any_of_its_keys(void **state)
{
	struct pair p[3];
	struct fota_project_key k[3];
	struct fota_srv_keyring r;
	uint8_t hash[FOTA_SHA256_SIZE], sig[FOTA_SIG_SIZE];
	char msg[160];

	(void)state;
	for (int i = 0; i < 3; i++) {
		keygen(&p[i]);
		assert_int_equal(canon(p[i].pub, &k[i], msg), FOTA_OK);
	}
	memset(hash, 0x5A, sizeof(hash));
	fota_srv_keyring_init(&r);
	/* Empty: nothing holds. */
	assert_int_equal(fota_posix_sign(p[0].priv, strlen(p[0].priv), hash, sig), FOTA_OK);
	assert_int_equal(r.port.verify(r.port.ctx, hash, sig), FOTA_ERR_VERIFY);
	assert_int_equal(fota_srv_keyring_add(&r, &k[0]), FOTA_OK);
	assert_int_equal(fota_srv_keyring_add(&r, &k[1]), FOTA_OK);
	/* Signed by the second key: holds, and says which. */
	assert_int_equal(fota_posix_sign(p[1].priv, strlen(p[1].priv), hash, sig), FOTA_OK);
	assert_int_equal(r.port.verify(r.port.ctx, hash, sig), FOTA_OK);
	assert_int_equal(r.matched, 1);
	assert_string_equal(r.sha256[r.matched], k[1].sha256);
	/* By the first. */
	assert_int_equal(fota_posix_sign(p[0].priv, strlen(p[0].priv), hash, sig), FOTA_OK);
	assert_int_equal(r.port.verify(r.port.ctx, hash, sig), FOTA_OK);
	assert_int_equal(r.matched, 0);
	/* By a key not in the ring, or another hash: no. */
	assert_int_equal(fota_posix_sign(p[2].priv, strlen(p[2].priv), hash, sig), FOTA_OK);
	assert_int_equal(r.port.verify(r.port.ctx, hash, sig), FOTA_ERR_VERIFY);
	assert_int_equal(r.matched, -1);
	hash[0] ^= 1;
	assert_int_equal(fota_posix_sign(p[1].priv, strlen(p[1].priv), hash, sig), FOTA_OK);
	hash[0] ^= 1;
	assert_int_equal(r.port.verify(r.port.ctx, hash, sig), FOTA_ERR_VERIFY);
	/* r = 0: out of range, refused, not an engine failure. */
	memset(sig, 0, sizeof(sig));
	assert_int_equal(r.port.verify(r.port.ctx, hash, sig), FOTA_ERR_VERIFY);
	/* Up to FOTA_SRV_KEYS_MAX keys, no more. */
	for (size_t i = 2; i < FOTA_SRV_KEYS_MAX; i++)
		assert_int_equal(fota_srv_keyring_add(&r, &k[2]), FOTA_OK);
	assert_int_equal(fota_srv_keyring_add(&r, &k[2]), FOTA_ERR_NOMEM);
	/* A stored key that does not parse is an error, not a key. */
	fota_srv_keyring_free(&r);
	snprintf(k[0].pem, sizeof(k[0].pem), "garbage");
	assert_int_not_equal(fota_srv_keyring_add(&r, &k[0]), FOTA_OK);
	assert_int_equal(r.n, 0);
	fota_srv_keyring_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(public_keys_are_taken_in_canonical_form),
		cmocka_unit_test(anything_else_is_refused_with_a_reason),
		cmocka_unit_test(the_keyring_holds_for_any_of_its_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
