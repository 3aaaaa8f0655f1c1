/* Unit tests of the limit on failed admin authentications (src/server/authlimit.c), with an
 * injected clock: the free failures, the doubling block and its cap, a success and a quiet
 * period forgetting, addresses kept apart (IPv6 per /64), memory bounded with more
 * attackers than entries, and many threads at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "authlimit.h"

#define T0 1000000u

static struct fota_srv_ip addr(const char *s)
{
	struct fota_srv_ip a;

	assert_int_equal(fota_srv_ip_parse(s, strlen(s), &a), FOTA_OK);
	return a;
}

static int setup(void **state)
{
	struct fota_srv_authlimit *l = malloc(sizeof(*l));

	if (!l || fota_srv_authlimit_init(l))
		return -1;
	*state = l;
	return 0;
}

static int teardown(void **state)
{
	fota_srv_authlimit_free(*state);
	free(*state);
	return 0;
}

static void failures_block_with_a_doubling_delay(void **state)
{
	struct fota_srv_authlimit *l = *state;
	struct fota_srv_ip a = addr("203.0.113.7");
	uint64_t t = T0, block = 0, expect = FOTA_SRV_AUTH_DELAY_MS;
	uint32_t n = 0;

	for (int i = 1; i < FOTA_SRV_AUTH_FREE; i++) {
		assert_int_equal(fota_srv_authlimit_check(l, &a, t), 0);
		assert_int_equal(fota_srv_authlimit_fail(l, &a, t, &n), 0);
		assert_int_equal(n, i);
		t += 10;
	}
	/* The N-th failure starts the first block: 1 s. */
	assert_int_equal(fota_srv_authlimit_fail(l, &a, t, &n), FOTA_SRV_AUTH_DELAY_MS);
	assert_int_equal(n, FOTA_SRV_AUTH_FREE);
	assert_int_equal(fota_srv_authlimit_check(l, &a, t), FOTA_SRV_AUTH_DELAY_MS);
	assert_int_equal(fota_srv_authlimit_check(l, &a, t + 400), FOTA_SRV_AUTH_DELAY_MS - 400);
	assert_int_equal(fota_srv_authlimit_check(l, &a, t + FOTA_SRV_AUTH_DELAY_MS), 0);
	/* Each failure after a block doubles it, up to the cap. */
	block = FOTA_SRV_AUTH_DELAY_MS;
	for (int i = 0; i < 40; i++) {
		t += block;
		assert_int_equal(fota_srv_authlimit_check(l, &a, t), 0);
		block = fota_srv_authlimit_fail(l, &a, t, NULL);
		expect = expect * 2 > FOTA_SRV_AUTH_DELAY_MAX_MS ? FOTA_SRV_AUTH_DELAY_MAX_MS :
								 expect * 2;
		assert_int_equal(block, expect);
		assert_int_equal(fota_srv_authlimit_check(l, &a, t + block - 1), 1);
	}
	assert_int_equal(block, FOTA_SRV_AUTH_DELAY_MAX_MS);
	/* The cap is below the time after which a client is forgotten: waiting a block
	 * out does not reset the count. */
	assert_true(FOTA_SRV_AUTH_DELAY_MAX_MS < FOTA_SRV_AUTH_FORGET_MS);
}

static void a_success_forgets_the_failures(void **state)
{
	struct fota_srv_authlimit *l = *state;
	struct fota_srv_ip a = addr("198.51.100.1"), other = addr("198.51.100.99");
	uint32_t n = 0;

	for (int i = 0; i < FOTA_SRV_AUTH_FREE; i++)
		fota_srv_authlimit_fail(l, &a, T0, &n);
	assert_int_not_equal(fota_srv_authlimit_check(l, &a, T0), 0);
	fota_srv_authlimit_success(l, &a);
	assert_int_equal(fota_srv_authlimit_check(l, &a, T0), 0);
	assert_int_equal(fota_srv_authlimit_fail(l, &a, T0, &n), 0);
	assert_int_equal(n, 1);
	fota_srv_authlimit_success(l, &other); /* never seen: nothing */
}

static void a_quiet_client_is_forgotten(void **state)
{
	struct fota_srv_authlimit *l = *state;
	struct fota_srv_ip a = addr("198.51.100.2");
	uint64_t t = T0;
	uint32_t n = 0;

	for (int i = 0; i < FOTA_SRV_AUTH_FREE - 1; i++)
		fota_srv_authlimit_fail(l, &a, t++, &n);
	/* Just before the quiet period ends: the count goes on (and blocks). */
	assert_int_equal(fota_srv_authlimit_fail(l, &a, t + FOTA_SRV_AUTH_FORGET_MS - 10, &n),
			 FOTA_SRV_AUTH_DELAY_MS);
	assert_int_equal(n, FOTA_SRV_AUTH_FREE);
	t += FOTA_SRV_AUTH_FORGET_MS - 10;
	/* After it: counted from 1 again. */
	assert_int_equal(fota_srv_authlimit_fail(l, &a, t + FOTA_SRV_AUTH_FORGET_MS, &n), 0);
	assert_int_equal(n, 1);
}

static void addresses_are_kept_apart(void **state)
{
	struct fota_srv_authlimit *l = *state;
	struct fota_srv_ip a = addr("192.0.2.1"), b = addr("192.0.2.2");
	struct fota_srv_ip v6a = addr("2001:db8:1:2::1"), v6b = addr("2001:db8:1:2:ffff::9");
	struct fota_srv_ip v6c = addr("2001:db8:1:3::1"), none = { 0 };

	for (int i = 0; i < FOTA_SRV_AUTH_FREE; i++) {
		fota_srv_authlimit_fail(l, &a, T0, NULL);
		fota_srv_authlimit_fail(l, &v6a, T0, NULL);
	}
	assert_int_not_equal(fota_srv_authlimit_check(l, &a, T0), 0);
	assert_int_equal(fota_srv_authlimit_check(l, &b, T0), 0);
	/* One /64 is one client; the next /64 another. */
	assert_int_not_equal(fota_srv_authlimit_check(l, &v6b, T0), 0);
	assert_int_equal(fota_srv_authlimit_check(l, &v6c, T0), 0);
	assert_int_equal(fota_srv_authlimit_hash(l, &v6a), fota_srv_authlimit_hash(l, &v6b));
	assert_int_not_equal(fota_srv_authlimit_hash(l, &a), fota_srv_authlimit_hash(l, &b));
	assert_int_not_equal(fota_srv_authlimit_hash(l, &none), 0);
	assert_int_equal(fota_srv_authlimit_check(l, &none, T0), 0);
}

static void memory_stays_bounded_with_many_attackers(void **state)
{
	struct fota_srv_authlimit *l = *state;
	struct fota_srv_ip victim = addr("192.0.2.200"), a = { 0 };
	size_t blocked = 0;

	for (int i = 0; i < FOTA_SRV_AUTH_FREE; i++)
		fota_srv_authlimit_fail(l, &victim, T0, NULL);
	/* Ten times more addresses than entries, each failing until blocked. */
	a.family = 4;
	for (uint32_t i = 0; i < 10u * FOTA_SRV_AUTH_SETS * FOTA_SRV_AUTH_WAYS; i++) {
		a.a[0] = 10;
		a.a[1] = (uint8_t)(i >> 16);
		a.a[2] = (uint8_t)(i >> 8);
		a.a[3] = (uint8_t)i;
		for (int k = 0; k < FOTA_SRV_AUTH_FREE; k++)
			fota_srv_authlimit_fail(l, &a, T0 + 1 + i, NULL);
	}
	/* The table holds at most its entries; the latest attackers are in it. */
	for (uint32_t i = 0; i < 10u * FOTA_SRV_AUTH_SETS * FOTA_SRV_AUTH_WAYS; i++) {
		a.a[1] = (uint8_t)(i >> 16);
		a.a[2] = (uint8_t)(i >> 8);
		a.a[3] = (uint8_t)i;
		blocked += fota_srv_authlimit_check(l, &a, T0 + 1 + i) != 0;
	}
	assert_true(blocked <= FOTA_SRV_AUTH_SETS * FOTA_SRV_AUTH_WAYS);
	assert_true(blocked > FOTA_SRV_AUTH_SETS * FOTA_SRV_AUTH_WAYS / 2);
	assert_true(sizeof(struct fota_srv_authlimit) < 64 * 1024);
}

struct worker {
	struct fota_srv_authlimit *l;
	int id;
	int blocked;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	struct fota_srv_ip a = { .family = 4 };

	for (int i = 0; i < 20000; i++) {
		a.a[0] = 172;
		a.a[1] = (uint8_t)w->id;
		a.a[3] = (uint8_t)(i % 64);
		if (fota_srv_authlimit_check(w->l, &a, T0 + (uint64_t)i))
			w->blocked++;
		else if (i % 7 == 0)
			fota_srv_authlimit_success(w->l, &a);
		else
			fota_srv_authlimit_fail(w->l, &a, T0 + (uint64_t)i, NULL);
	}
	return NULL;
}

static void many_threads_at_once(void **state)
{
	struct worker w[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .l = *state, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(w[i].blocked > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(failures_block_with_a_doubling_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(a_success_forgets_the_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(a_quiet_client_is_forgotten, setup, teardown),
		cmocka_unit_test_setup_teardown(addresses_are_kept_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(memory_stays_bounded_with_many_attackers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(many_threads_at_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
