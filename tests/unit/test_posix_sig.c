/* Unit tests of the POSIX port's signatures (posix_crypto.h, mbedTLS): keygen, sign and
 * verify round trip, the RFC 6979 vector, r and s out of range, the wrong key, bad PEM. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fota/posix_crypto.h"

/* RFC 6979 A.2.5: the P-256 key x = C9AFA9D8..., as SEC1 and as PKCS#8, and its public
 * key (Ux = 60FED4BA..., Uy = 7903FE10...). */
static const char rfc_sec1[] =
	"-----BEGIN EC PRIVATE KEY-----\n"
	"MHcCAQEEIMmvqdhFunUWa1whV2ex1pNOUMPbNuibEnuKYisSD2choAoGCCqGSM49\n"
	"AwEHoUQDQgAEYP7UuiVanTHJYet0xjVtaMBJuJI7Yfps5mliLmDyn7Z5A/4QCLi8\n"
	"maQa6elWKLxk8vGyDC1+n1F3o8KU1EYimQ==\n"
	"-----END EC PRIVATE KEY-----\n";
static const char rfc_pkcs8[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgya+p2EW6dRZrXCFX\n"
	"Z7HWk05Qw9s26JsSe4piKxIPZyGhRANCAARg/tS6JVqdMclh63TGNW1owEm4kjth\n"
	"+mzmaWIuYPKftnkD/hAIuLyZpBrp6VYovGTy8bIMLX6fUXejwpTURiKZ\n"
	"-----END PRIVATE KEY-----\n";
static const char rfc_pub[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYP7UuiVanTHJYet0xjVtaMBJuJI7\n"
	"Yfps5mliLmDyn7Z5A/4QCLi8maQa6elWKLxk8vGyDC1+n1F3o8KU1EYimQ==\n"
	"-----END PUBLIC KEY-----\n";
/* The RFC's private key with another key's public point: a key file that lies. */
static const char mismatched[] =
	"-----BEGIN EC PRIVATE KEY-----\n"
	"MHcCAQEEIMmvqdhFunUWa1whV2ex1pNOUMPbNuibEnuKYisSD2choAoGCCqGSM49\n"
	"AwEHoUQDQgAEMiS7ycioy0IaolwijPEhGuOpOLzVs4gau5g1VJnu9YYiJKVeI9U+\n"
	"WQ+z8OfmWP3E79aNkf4oIxhDLO2/FmEeBA==\n"
	"-----END EC PRIVATE KEY-----\n";
/* Keys of other kinds: RSA, EC on P-384, Ed25519. */
static const char rsa_pub[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCx/UZoTeWqdrSdfAZCxeRmUO7H\n"
	"VWyGGbYVd8sCFDQJJbP4E9QX9LKWOkCDBhS4VwaEx9+MXdVbYlqPZE+YM0RlRid9\n"
	"UJFC8UawWcdECnhPPWta5RXh6b403vxHeRERtnrFcs8BxIIdjgSsStdNPcsOrI33\n"
	"Jf+V+K+SvGk3aaxQBwIDAQAB\n"
	"-----END PUBLIC KEY-----\n";
static const char p384_priv[] =
	"-----BEGIN EC PRIVATE KEY-----\n"
	"MIGkAgEBBDBJJggMpH5uk7JBuPu7hXhqH8qOlRRjddn6vHwukjn3EvsIdf9TFGCH\n"
	"r5Ecy2t4/HGgBwYFK4EEACKhZANiAAR+W80TGF5/7FTZyymxuvwiOSsPxRn++/gg\n"
	"+amMn0Dodoouc7ALtJTgVF2y7ghrgEe0ynZJ4zao2/nh0VQ67UBlXQYYrwU5BxSk\n"
	"vNDKm4rDaSoXYn19+UKJvj8Y4bZAOFU=\n"
	"-----END EC PRIVATE KEY-----\n";
static const char ed25519_priv[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIIzqR4FiVTsG0XQ5rcouHYH9hnQJSnbgq5K3mpJWY2C9\n"
	"-----END PRIVATE KEY-----\n";
static const char ed25519_pub[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MCowBQYDK2VwAyEAbp/c9rbNlVKAFrhBKfBHrdP1K9mvL0hFPyifsVP0MJw=\n"
	"-----END PUBLIC KEY-----\n";

/* The group order n of P-256, big-endian. */
static const uint8_t p256_n[32] = {
	0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
};

static void unhex(uint8_t *out, const char *hex, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void sha(const char *msg, uint8_t out[FOTA_SHA256_SIZE])
{
	assert_int_equal(fota_posix_sha256(msg, strlen(msg), out), FOTA_OK);
}

static int verify_with(const char *pem, const uint8_t hash[FOTA_SHA256_SIZE],
		       const uint8_t sig[FOTA_SIG_SIZE])
{
	struct fota_posix_sig s;
	int err;

	assert_int_equal(fota_posix_sig_init_pem(&s, pem, strlen(pem)), FOTA_OK);
	assert_ptr_equal(s.port.ctx, &s);
	err = s.port.verify(s.port.ctx, hash, sig);
	fota_posix_sig_free(&s);
	return err;
}

static void rfc6979_vector_signs_and_verifies(void **state)
{
	uint8_t hash[FOTA_SHA256_SIZE], sig[FOTA_SIG_SIZE], want[FOTA_SIG_SIZE];

	(void)state;
	/* RFC 6979 A.2.5, SHA-256, message "sample". */
	unhex(want, "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
		    "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8", 64);
	sha("sample", hash);
	assert_int_equal(fota_posix_sign(rfc_sec1, strlen(rfc_sec1), hash, sig), FOTA_OK);
	assert_memory_equal(sig, want, FOTA_SIG_SIZE);
	/* PKCS#8 gives the same key, hence the same signature (RFC 6979 is deterministic). */
	memset(sig, 0, sizeof(sig));
	assert_int_equal(fota_posix_sign(rfc_pkcs8, strlen(rfc_pkcs8), hash, sig), FOTA_OK);
	assert_memory_equal(sig, want, FOTA_SIG_SIZE);
	assert_int_equal(verify_with(rfc_pub, hash, want), FOTA_OK);
	/* The private key's PEM serves as a public key too (its public half). */
	assert_int_equal(verify_with(rfc_sec1, hash, want), FOTA_OK);
	assert_int_equal(verify_with(rfc_pkcs8, hash, want), FOTA_OK);
}

static void keygen_sign_verify_round_trip(void **state)
{
	char priv[512], pub[512];
	uint8_t hash[FOTA_SHA256_SIZE], sig[FOTA_SIG_SIZE], sig2[FOTA_SIG_SIZE];

	(void)state;
	assert_int_equal(fota_posix_keygen(priv, sizeof(priv), pub, sizeof(pub)), FOTA_OK);
	assert_non_null(strstr(priv, "-----BEGIN EC PRIVATE KEY-----\n"));
	assert_non_null(strstr(pub, "-----BEGIN PUBLIC KEY-----\n"));
	assert_null(strstr(pub, "PRIVATE"));
	sha("firmware", hash);
	assert_int_equal(fota_posix_sign(priv, strlen(priv), hash, sig), FOTA_OK);
	assert_int_equal(fota_posix_sign(priv, strlen(priv), hash, sig2), FOTA_OK);
	assert_memory_equal(sig, sig2, FOTA_SIG_SIZE); /* deterministic */
	assert_int_equal(verify_with(pub, hash, sig), FOTA_OK);

	/* Any bit of the hash or the signature flipped: VERIFY. */
	for (size_t i = 0; i < FOTA_SHA256_SIZE * 8; i += 37) {
		hash[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(verify_with(pub, hash, sig), FOTA_ERR_VERIFY);
		hash[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < FOTA_SIG_SIZE * 8; i += 29) {
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(verify_with(pub, hash, sig), FOTA_ERR_VERIFY);
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_int_equal(verify_with(pub, hash, sig), FOTA_OK);

	/* Two keys are two keys. */
	{
		char priv2[512], pub2[512];

		assert_int_equal(fota_posix_keygen(priv2, sizeof(priv2), pub2, sizeof(pub2)),
				 FOTA_OK);
		assert_string_not_equal(priv, priv2);
		assert_int_equal(verify_with(pub2, hash, sig), FOTA_ERR_VERIFY);
		assert_int_equal(verify_with(rfc_pub, hash, sig), FOTA_ERR_VERIFY);
	}
}

static void r_or_s_out_of_range_is_verify_not_a_crash(void **state)
{
	uint8_t hash[FOTA_SHA256_SIZE], good[FOTA_SIG_SIZE], sig[FOTA_SIG_SIZE];
	uint8_t n_minus_1[32], all_ff[32];

	(void)state;
	sha("sample", hash);
	assert_int_equal(fota_posix_sign(rfc_sec1, strlen(rfc_sec1), hash, good), FOTA_OK);
	memcpy(n_minus_1, p256_n, 32);
	n_minus_1[31]--;
	memset(all_ff, 0xFF, 32);
	for (int half = 0; half < 2; half++) {
		const uint8_t *bad[] = { NULL, p256_n, all_ff, n_minus_1 };

		for (size_t i = 0; i < FOTA_ARRAY_SIZE(bad); i++) {
			memcpy(sig, good, FOTA_SIG_SIZE);
			if (bad[i])
				memcpy(sig + 32 * half, bad[i], 32);
			else
				memset(sig + 32 * half, 0, 32);
			assert_int_equal(verify_with(rfc_pub, hash, sig), FOTA_ERR_VERIFY);
		}
	}
	memset(sig, 0, sizeof(sig));
	assert_int_equal(verify_with(rfc_pub, hash, sig), FOTA_ERR_VERIFY);
	/* s replaced by n - s is the other valid signature of ECDSA's malleability; it
	 * must verify (a module cannot tell them apart), which shows the range check does not
	 * refuse a high s. */
	{
		mbedtls_mpi n, s;

		mbedtls_mpi_init(&n);
		mbedtls_mpi_init(&s);
		assert_int_equal(mbedtls_mpi_read_binary(&n, p256_n, 32), 0);
		assert_int_equal(mbedtls_mpi_read_binary(&s, good + 32, 32), 0);
		assert_int_equal(mbedtls_mpi_sub_mpi(&s, &n, &s), 0);
		memcpy(sig, good, 32);
		assert_int_equal(mbedtls_mpi_write_binary(&s, sig + 32, 32), 0);
		mbedtls_mpi_free(&n);
		mbedtls_mpi_free(&s);
		assert_int_equal(verify_with(rfc_pub, hash, sig), FOTA_OK);
	}
}

static void bad_pem_is_badmsg_and_other_keys_notsup(void **state)
{
	struct fota_posix_sig s;
	uint8_t hash[FOTA_SHA256_SIZE], sig[FOTA_SIG_SIZE];
	char cut[sizeof(rfc_pub)], flipped[sizeof(rfc_pub)];
	static const char *const bad[] = {
		"", "hello", "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
	};

	(void)state;
	sha("x", hash);
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(bad); i++) {
		assert_int_equal(fota_posix_sig_init_pem(&s, bad[i], strlen(bad[i])),
				 FOTA_ERR_BADMSG);
		assert_int_equal(fota_posix_sign(bad[i], strlen(bad[i]), hash, sig),
				 FOTA_ERR_BADMSG);
	}
	/* Truncated: cut in the middle of the base64. */
	memcpy(cut, rfc_pub, 60);
	assert_int_equal(fota_posix_sig_init_pem(&s, cut, 60), FOTA_ERR_BADMSG);
	/* A base64 character changed: still parses as base64, not as a key or point. */
	memcpy(flipped, rfc_pub, sizeof(rfc_pub));
	flipped[100] = flipped[100] == 'A' ? 'B' : 'A';
	assert_int_equal(fota_posix_sig_init_pem(&s, flipped, strlen(flipped)),
			 FOTA_ERR_BADMSG);
	/* Not NUL-terminated within len: only len bytes count. */
	assert_int_equal(fota_posix_sig_init_pem(&s, rfc_pub, sizeof(rfc_pub) - 1), FOTA_OK);
	fota_posix_sig_free(&s);
	/* A public key cannot sign. */
	assert_int_equal(fota_posix_sign(rfc_pub, strlen(rfc_pub), hash, sig), FOTA_ERR_BADMSG);
	/* A private key whose public point is not its own. */
	assert_int_equal(fota_posix_sign(mismatched, strlen(mismatched), hash, sig),
			 FOTA_ERR_BADMSG);
	/* Keys that are not ECDSA P-256. */
	assert_int_equal(fota_posix_sig_init_pem(&s, rsa_pub, strlen(rsa_pub)), FOTA_ERR_NOTSUP);
	assert_int_equal(fota_posix_sig_init_pem(&s, p384_priv, strlen(p384_priv)),
			 FOTA_ERR_NOTSUP);
	assert_int_equal(fota_posix_sign(p384_priv, strlen(p384_priv), hash, sig), FOTA_ERR_NOTSUP);
	assert_int_equal(fota_posix_sig_init_pem(&s, ed25519_pub, strlen(ed25519_pub)),
			 FOTA_ERR_NOTSUP);
	assert_int_equal(fota_posix_sig_init_pem(&s, ed25519_priv, strlen(ed25519_priv)),
			 FOTA_ERR_NOTSUP);
	assert_int_equal(fota_posix_sign(ed25519_priv, strlen(ed25519_priv), hash, sig),
			 FOTA_ERR_NOTSUP);
	/* After a failure s may be initialized again without a free. */
	assert_int_equal(fota_posix_sig_init_pem(&s, rfc_pub, strlen(rfc_pub)), FOTA_OK);
	fota_posix_sig_free(&s);
}

static void load_reads_a_file_and_says_why_not(void **state)
{
	struct fota_posix_sig s;
	char path[] = "/tmp/test_posix_sig.XXXXXX";
	uint8_t hash[FOTA_SHA256_SIZE], sig[FOTA_SIG_SIZE];
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(rfc_pub, f);
	fclose(f);
	sha("sample", hash);
	assert_int_equal(fota_posix_sign(rfc_sec1, strlen(rfc_sec1), hash, sig), FOTA_OK);
	assert_int_equal(fota_posix_sig_load(&s, path), FOTA_OK);
	assert_int_equal(s.port.verify(s.port.ctx, hash, sig), FOTA_OK);
	fota_posix_sig_free(&s);
	/* An empty file is no key. */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(fota_posix_sig_load(&s, path), FOTA_ERR_BADMSG);
	unlink(path);
	assert_int_equal(fota_posix_sig_load(&s, path), FOTA_ERR_NOENT);
	assert_int_equal(fota_posix_sig_load(&s, "/tmp"), FOTA_ERR_IO);
}

static void keygen_says_nomem_for_small_buffers(void **state)
{
	char big[512], small[64];

	(void)state;
	assert_int_equal(fota_posix_keygen(small, sizeof(small), big, sizeof(big)),
			 FOTA_ERR_NOMEM);
	assert_int_equal(fota_posix_keygen(big, sizeof(big), small, sizeof(small)),
			 FOTA_ERR_NOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc6979_vector_signs_and_verifies),
		cmocka_unit_test(keygen_sign_verify_round_trip),
		cmocka_unit_test(r_or_s_out_of_range_is_verify_not_a_crash),
		cmocka_unit_test(bad_pem_is_badmsg_and_other_keys_notsup),
		cmocka_unit_test(load_reads_a_file_and_says_why_not),
		cmocka_unit_test(keygen_says_nomem_for_small_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
