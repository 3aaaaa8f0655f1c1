/*
 * authlimit.h - slows down repeated failed authentications of the admin API, per client
 * address, in bounded memory whatever the number of clients (docs/server.md).
 *
 * A client may fail FOTA_SRV_AUTH_FREE times; each further failure blocks it for a time
 * that doubles from FOTA_SRV_AUTH_DELAY_MS up to FOTA_SRV_AUTH_DELAY_MAX_MS, during which
 * its requests are answered 429 without looking at the token. A success forgets the
 * client; so does a pause of FOTA_SRV_AUTH_FORGET_MS after its last failure (longer than
 * the longest block, so waiting a block out does not reset the count).
 *
 * Memory: a table of FOTA_SRV_AUTH_SETS sets of FOTA_SRV_AUTH_WAYS entries (about 44 KiB),
 * fixed at start. An address is hashed with a key drawn at start (SipHash-2-4: a client
 * cannot aim at another's set); a new client takes a free or forgotten entry of its set,
 * else the one whose last failure is the oldest. IPv6 clients are counted per /64 (one
 * host usually holds a whole /64). Each set has its own mutex: workers meet only when
 * their clients hash to the same set, for a few instructions.
 *
 * Times are milliseconds of a monotonic clock, given by the caller (the tests inject
 * them).
 */
#ifndef FOTA_SRV_AUTHLIMIT_H
#define FOTA_SRV_AUTHLIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy.h"

#define FOTA_SRV_AUTH_FREE 5                       /* failures before the first block */
#define FOTA_SRV_AUTH_DELAY_MS 1000u               /* the first block */
#define FOTA_SRV_AUTH_DELAY_MAX_MS (300u * 1000u)  /* the longest block */
#define FOTA_SRV_AUTH_FORGET_MS (900u * 1000u)     /* a quiet client is forgotten */
#define FOTA_SRV_AUTH_SETS 256                     /* a power of two */
#define FOTA_SRV_AUTH_WAYS 4

struct fota_srv_auth_entry {
	uint64_t tag;      /* the address's hash; 0: free */
	uint64_t last_ms;  /* its last failure */
	uint64_t until_ms; /* blocked until then */
	uint32_t failures; /* in a row */
};

struct fota_srv_auth_set {
	pthread_mutex_t lock;
	struct fota_srv_auth_entry e[FOTA_SRV_AUTH_WAYS];
};

struct fota_srv_authlimit {
	uint64_t k0, k1; /* the hash key */
	struct fota_srv_auth_set set[FOTA_SRV_AUTH_SETS];
};

/* fota_srv_authlimit_init: an empty table in l (the caller's) with a random hash key.
 * Returns FOTA_OK or FOTA_ERR_NOMEM (a mutex). fota_srv_authlimit_free undoes it. */
int fota_srv_authlimit_init(struct fota_srv_authlimit *l);
void fota_srv_authlimit_free(struct fota_srv_authlimit *l);

/* fota_srv_authlimit_check: how many milliseconds the client ip must still wait (0: its
 * request may be authenticated now). */
uint64_t fota_srv_authlimit_check(struct fota_srv_authlimit *l, const struct fota_srv_ip *ip,
				  uint64_t now_ms);

/* fota_srv_authlimit_fail: counts a failed authentication of ip at now_ms. Returns the
 * block it starts in milliseconds (0: none yet); *failures (may be NULL) gets the
 * failures in a row. */
uint64_t fota_srv_authlimit_fail(struct fota_srv_authlimit *l, const struct fota_srv_ip *ip,
				 uint64_t now_ms, uint32_t *failures);

/* fota_srv_authlimit_success: ip authenticated: its failures are forgotten. */
void fota_srv_authlimit_success(struct fota_srv_authlimit *l, const struct fota_srv_ip *ip);

/* fota_srv_authlimit_hash: the keyed hash of an address (exposed for the tests: two
 * addresses of one IPv6 /64 hash alike). Never 0. */
uint64_t fota_srv_authlimit_hash(const struct fota_srv_authlimit *l, const struct fota_srv_ip *ip);

#endif /* FOTA_SRV_AUTHLIMIT_H */
