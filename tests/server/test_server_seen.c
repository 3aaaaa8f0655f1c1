/* Unit tests of fota-server's batched last_seen (src/server/seen.c): a device waits once
 * with its latest time, the batch is written by the writer thread and at stop, a full
 * batch is refused (the caller then writes itself), and nothing is taken after the stop.
 * Each test has its own database in a fresh temporary folder. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "server.h"

#define T0 1700000000
#define KEY "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NAME "AirM2M_780E_LTE_AT"
#define V1147 "AirM2M_780E_V1147_LTE_AT"
#define IMEI "864000000000008"

struct fixture {
	char dir[64];
	char path[96];
	struct fota_srv srv;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct fota_check_req rq = { .project_key = KEY, .device = IMEI, .firmware_name = NAME,
				     .version = V1147, .now = T0 };
	struct fota_check_res res;
	struct fota_store *s;

	if (!f || fota_srv_init(&f->srv) != FOTA_OK)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/fota-seen-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/fota.db", f->dir);
	snprintf(f->srv.db_url, sizeof(f->srv.db_url), "sqlite:%s", f->path);
	/* A project and one device bound to it, last seen at T0. */
	s = fota_srv_store_get(&f->srv);
	if (!s || s->ops->project_create(s, KEY, "test", T0, NULL) != FOTA_OK ||
	    s->ops->check(s, &rq, &res) != FOTA_OK || res.code != FOTA_CODE_FIRMWARE)
		return -1;
	fota_srv_store_put(&f->srv, s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const ext[] = { "", "-wal", "-shm" };
	struct fixture *f = *state;
	char p[128];

	fota_srv_seen_stop(&f->srv);
	fota_srv_free(&f->srv);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, ext[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static long long seen_of(struct fixture *f)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, "SELECT last_seen FROM devices WHERE device = '" IMEI "'", -1,
			       &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static size_t waiting(struct fota_srv *srv)
{
	size_t n;

	pthread_mutex_lock(&srv->seen.lock);
	n = srv->seen.n;
	pthread_mutex_unlock(&srv->seen.lock);
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void the_latest_time_is_written(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(fota_srv_seen_start(&f->srv), FOTA_OK);
	assert_true(f->srv.seen.started);
	assert_int_equal(fota_srv_seen_add(&f->srv, IMEI, T0 + 100), FOTA_OK);
	assert_int_equal(fota_srv_seen_add(&f->srv, IMEI, T0 + 90), FOTA_OK);
	assert_int_equal(fota_srv_seen_add(&f->srv, "864000000000016", T0 + 100), FOTA_OK);
	/* The writer takes them within FOTA_SRV_SEEN_MS (a second is plenty). */
	for (int i = 0; i < 100 && seen_of(f) != T0 + 100; i++)
		sleep_ms(10);
	assert_int_equal(seen_of(f), T0 + 100);
	/* Waiting at the stop: written then. */
	assert_int_equal(fota_srv_seen_add(&f->srv, IMEI, T0 + 200), FOTA_OK);
	fota_srv_seen_stop(&f->srv);
	assert_false(f->srv.seen.started);
	assert_int_equal(seen_of(f), T0 + 200);
	/* Stopped: refused, the caller writes. */
	assert_int_equal(fota_srv_seen_add(&f->srv, IMEI, T0 + 300), FOTA_ERR_BUSY);
	assert_int_equal(seen_of(f), T0 + 200);
}

static void a_full_batch_is_refused(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db = NULL;
	char id[32];

	assert_int_equal(fota_srv_seen_start(&f->srv), FOTA_OK);
	/* Another connection holds the write lock: the writer's first batch waits. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE projects SET name = 'x';", NULL,
				      NULL, NULL), SQLITE_OK);
	assert_int_equal(fota_srv_seen_add(&f->srv, IMEI, T0 + 100), FOTA_OK);
	for (int i = 0; i < 100 && waiting(&f->srv); i++)
		sleep_ms(10);
	assert_int_equal(waiting(&f->srv), 0); /* taken: the writer waits for the lock */
	for (unsigned i = 0; i < FOTA_SRV_SEEN_MAX; i++) {
		snprintf(id, sizeof(id), "%llu", 865000000000000ull + i);
		assert_int_equal(fota_srv_seen_add(&f->srv, id, T0 + 200), FOTA_OK);
	}
	assert_int_equal(waiting(&f->srv), FOTA_SRV_SEEN_MAX);
	assert_int_equal(fota_srv_seen_add(&f->srv, IMEI, T0 + 300), FOTA_ERR_BUSY);
	assert_int_equal(fota_srv_seen_add(&f->srv, id, T0 + 300), FOTA_OK); /* waits already */
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	fota_srv_seen_stop(&f->srv);
	assert_int_equal(waiting(&f->srv), 0);
	assert_int_equal(seen_of(f), T0 + 100);
}

static void stopping_what_never_started(void **state)
{
	struct fixture *f = *state;

	fota_srv_seen_stop(&f->srv);
	assert_int_equal(fota_srv_seen_add(&f->srv, IMEI, T0 + 100), FOTA_ERR_BUSY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(the_latest_time_is_written, setup, teardown),
		cmocka_unit_test_setup_teardown(a_full_batch_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(stopping_what_never_started, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
