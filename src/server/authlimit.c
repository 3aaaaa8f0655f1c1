/*
 * authlimit.c - the failed-authentication limiter of the admin API (authlimit.h).
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "authlimit.h"

/* ---- SipHash-2-4 (Aumasson, Bernstein), of at most 24 bytes ------------------------------ */

static uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND()                                                                        \
	do {                                                                                \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);                      \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                         \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                         \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);                      \
	} while (0)

static uint64_t load64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = load64(in + i);
		v3 ^= m;
		SIPROUND();
		SIPROUND();
		v0 ^= m;
	}
	for (size_t k = 0; k < left; k++)
		b |= (uint64_t)in[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND();
	SIPROUND();
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND();
	SIPROUND();
	SIPROUND();
	SIPROUND();
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ------------------------------------------------------------------------------ */

int fota_srv_authlimit_init(struct fota_srv_authlimit *l)
{
	uint64_t k[2] = { 0, 0 };
	size_t i;

	memset(l, 0, sizeof(*l));
	if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k)) {
		struct timespec ts; /* no entropy: a weaker key is still a key */

		clock_gettime(CLOCK_REALTIME, &ts);
		k[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)ts.tv_sec;
		k[1] = (uint64_t)(uintptr_t)l ^ rotl(k[0], 29);
	}
	l->k0 = k[0];
	l->k1 = k[1];
	for (i = 0; i < FOTA_SRV_AUTH_SETS; i++) {
		if (pthread_mutex_init(&l->set[i].lock, NULL)) {
			while (i--)
				pthread_mutex_destroy(&l->set[i].lock);
			return FOTA_ERR_NOMEM;
		}
	}
	return FOTA_OK;
}

void fota_srv_authlimit_free(struct fota_srv_authlimit *l)
{
	for (size_t i = 0; i < FOTA_SRV_AUTH_SETS; i++)
		pthread_mutex_destroy(&l->set[i].lock);
}

uint64_t fota_srv_authlimit_hash(const struct fota_srv_authlimit *l, const struct fota_srv_ip *ip)
{
	uint8_t in[17];
	uint64_t h;

	memset(in, 0, sizeof(in));
	in[0] = ip->family;
	memcpy(in + 1, ip->a, ip->family == 6 ? 8 : 4); /* IPv6: its /64 */
	h = siphash(l->k0, l->k1, in, sizeof(in));
	return h ? h : 1;
}

static struct fota_srv_auth_set *set_of(struct fota_srv_authlimit *l, uint64_t h)
{
	return &l->set[(h >> 32) & (FOTA_SRV_AUTH_SETS - 1)];
}

static struct fota_srv_auth_entry *find(struct fota_srv_auth_set *s, uint64_t h)
{
	for (int i = 0; i < FOTA_SRV_AUTH_WAYS; i++)
		if (s->e[i].tag == h)
			return &s->e[i];
	return NULL;
}

/* Whether the entry may be dropped: free, or quiet for long enough and not blocked. */
static bool stale(const struct fota_srv_auth_entry *e, uint64_t now)
{
	return e->tag == 0 || (e->until_ms <= now && now >= e->last_ms + FOTA_SRV_AUTH_FORGET_MS);
}

uint64_t fota_srv_authlimit_check(struct fota_srv_authlimit *l, const struct fota_srv_ip *ip,
				  uint64_t now_ms)
{
	uint64_t h = fota_srv_authlimit_hash(l, ip), wait = 0;
	struct fota_srv_auth_set *s = set_of(l, h);
	struct fota_srv_auth_entry *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, h);
	if (e && e->until_ms > now_ms)
		wait = e->until_ms - now_ms;
	pthread_mutex_unlock(&s->lock);
	return wait;
}

uint64_t fota_srv_authlimit_fail(struct fota_srv_authlimit *l, const struct fota_srv_ip *ip,
				 uint64_t now_ms, uint32_t *failures)
{
	uint64_t h = fota_srv_authlimit_hash(l, ip), block = 0;
	struct fota_srv_auth_set *s = set_of(l, h);
	struct fota_srv_auth_entry *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, h);
	if (e && stale(e, now_ms))
		e->failures = 0;
	if (!e) {
		/* A free or forgotten entry, else the one whose last failure is the oldest. */
		e = &s->e[0];
		for (int i = 0; i < FOTA_SRV_AUTH_WAYS; i++) {
			if (stale(&s->e[i], now_ms)) {
				e = &s->e[i];
				break;
			}
			if (s->e[i].last_ms < e->last_ms)
				e = &s->e[i];
		}
		memset(e, 0, sizeof(*e));
		e->tag = h;
	}
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last_ms = now_ms;
	if (e->failures >= FOTA_SRV_AUTH_FREE) {
		uint32_t shift = e->failures - FOTA_SRV_AUTH_FREE;

		block = shift >= 20 ? FOTA_SRV_AUTH_DELAY_MAX_MS :
			(uint64_t)FOTA_SRV_AUTH_DELAY_MS << shift;
		if (block > FOTA_SRV_AUTH_DELAY_MAX_MS)
			block = FOTA_SRV_AUTH_DELAY_MAX_MS;
		e->until_ms = now_ms + block;
	}
	if (failures)
		*failures = e->failures;
	pthread_mutex_unlock(&s->lock);
	return block;
}

void fota_srv_authlimit_success(struct fota_srv_authlimit *l, const struct fota_srv_ip *ip)
{
	uint64_t h = fota_srv_authlimit_hash(l, ip);
	struct fota_srv_auth_set *s = set_of(l, h);
	struct fota_srv_auth_entry *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, h);
	if (e)
		memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&s->lock);
}
