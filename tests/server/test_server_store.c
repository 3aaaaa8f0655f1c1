/* Unit tests of fota-server's storage (src/server/store*.c) on SQLite: migrations from an
 * empty file, projects, firmware, upgrade lists, devices, the decision with its candidate
 * selection, the loop guard across 24 h with an injected clock, statistics, and SQL
 * injection strings stored and matched literally. Each test has its own database in a
 * fresh temporary folder. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store.h"

#define T0 1700000000 /* the injected clock's start */
#define NAME "AirM2M_780E_LTE_AT"
#define V1121 "AirM2M_780E_V1121_LTE_AT"
#define V1147 "AirM2M_780E_V1147_LTE_AT"
#define V1200 "AirM2M_780E_V1200_LTE_AT"
#define KEY_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define IMEI "864000000000008"
#define IMEI2 "864000000000016"

struct fixture {
	char dir[64];
	char path[96];
	char url[128];
	struct fota_store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/fota-store-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/fota.db", f->dir);
	snprintf(f->url, sizeof(f->url), "sqlite:%s", f->path);
	if (fota_store_open(f->url, &f->s) != FOTA_OK)
		return -1;
	*state = f;
	return 0;
}

static void remove_db(struct fixture *f)
{
	static const char *const ext[] = { "", "-wal", "-shm" };
	char p[128];

	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, ext[i]);
		unlink(p);
	}
	rmdir(f->dir);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fota_store_close(f->s);
	remove_db(f);
	free(f);
	return 0;
}

static struct fota_store *store(void **state)
{
	return ((struct fixture *)*state)->s;
}

/* Runs one SQL statement on the file behind the store's back; returns the first column of
 * the first row as an integer (or -1). */
static long long peek(struct fixture *f, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void project(struct fota_store *s, const char *key)
{
	assert_int_equal(s->ops->project_create(s, key, "test", T0, NULL), FOTA_OK);
}

static int64_t firmware(struct fota_store *s, const char *key, const char *name,
			const char *version, bool enabled, bool all, char shac)
{
	struct fota_firmware fw = { .size = 1000, .enabled = enabled, .all_devices = all,
				    .created = T0 };

	snprintf(fw.name, sizeof(fw.name), "%s", name);
	snprintf(fw.version, sizeof(fw.version), "%s", version);
	memset(fw.sha256, shac, FOTA_STORE_SHA_HEX);
	assert_int_equal(s->ops->firmware_add(s, key, &fw), FOTA_OK);
	assert_true(fw.id > 0);
	return fw.id;
}

/* A check of IMEI (or dev) at time now; returns the code, *fw_id the offer's id. */
static int check_at(struct fota_store *s, const char *key, const char *dev, const char *version,
		    int64_t now, int64_t *fw_id, bool *upgraded)
{
	struct fota_check_req rq = { .project_key = key, .device = dev, .firmware_name = NAME,
				     .version = version, .now = now };
	struct fota_check_res res;

	assert_int_equal(s->ops->check(s, &rq, &res), FOTA_OK);
	if (fw_id)
		*fw_id = res.code == FOTA_CODE_OFFER ? res.fw.id : 0;
	if (upgraded)
		*upgraded = res.upgraded;
	return res.code;
}

static int check(struct fota_store *s, const char *key, const char *version, int64_t *fw_id)
{
	return check_at(s, key, IMEI, version, T0, fw_id, NULL);
}

/* ---- schema ---------------------------------------------------------------------------- */

static void migrations_run_from_an_empty_file_once(void **state)
{
	struct fixture *f = *state;
	struct fota_store *again = NULL;

	assert_int_equal(peek(f, "SELECT version FROM schema_version"), 2);
	assert_int_equal(peek(f, "SELECT count(*) FROM schema_version"), 1);
	assert_int_equal(peek(f, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
			      " ('projects', 'firmware', 'firmware_targets', 'devices',"
			      " 'download_starts', 'firmware_stats', 'project_keys')"), 7);
	/* WAL mode is kept by the file. */
	assert_int_equal(peek(f, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	/* Opening again runs nothing and keeps the data. */
	project(f->s, KEY_A);
	assert_int_equal(fota_store_open(f->url, &again), FOTA_OK);
	assert_int_equal(again->ops->project_get(again, KEY_A, NULL), FOTA_OK);
	fota_store_close(again);
	assert_int_equal(peek(f, "SELECT version FROM schema_version"), 2);
}

/* A database of schema version 1 (before signing keys) is brought to version 2 at open,
 * its data kept. */
static void a_version_1_database_is_migrated(void **state)
{
	struct fixture *f = *state;
	struct fota_store *again = NULL;
	struct fota_project p;
	sqlite3 *db = NULL;

	project(f->s, KEY_A);
	fota_store_close(f->s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE project_keys; UPDATE schema_version SET"
				      " version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(fota_store_open(f->url, &again), FOTA_OK);
	f->s = again;
	assert_int_equal(peek(f, "SELECT version FROM schema_version"), 2);
	assert_int_equal(again->ops->project_get(again, KEY_A, &p), FOTA_OK);
	assert_int_equal(p.keys, 0);
}

static void a_newer_schema_is_refused(void **state)
{
	struct fixture *f = *state;
	struct fota_store *again = NULL;
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(fota_store_open(f->url, &again), FOTA_ERR_NOTSUP);
	assert_null(again);
}

static void unknown_schemes_are_refused(void **state)
{
	struct fota_store *s = NULL;

	(void)state;
	assert_int_equal(fota_store_open("postgresql://localhost/fota", &s), FOTA_ERR_NOTSUP);
	assert_int_equal(fota_store_open("/tmp/x.db", &s), FOTA_ERR_NOTSUP);
	assert_int_equal(fota_store_open("sqlite:", &s), FOTA_ERR_INVAL);
	assert_int_equal(fota_store_open("sqlite:/nonexistent-dir/x/y.db", &s), FOTA_ERR_IO);
	assert_null(s);
}

static void foreign_keys_are_on(void **state)
{
	struct fota_store *s = store(state);
	int64_t id;

	project(s, KEY_A);
	id = firmware(s, KEY_A, NAME, V1147, true, true, 'a');
	assert_int_equal(check(s, KEY_A, V1121, NULL), FOTA_CODE_OFFER);
	/* Deleting the project takes its firmware, statistics, lists and devices along. */
	assert_int_equal(s->ops->targets_set(s, KEY_A, id, (const char *const[]){ IMEI }, 1), FOTA_OK);
	assert_int_equal(s->ops->project_delete(s, KEY_A, NULL, NULL), FOTA_OK);
	assert_int_equal(peek(*state, "SELECT count(*) FROM firmware"), 0);
	assert_int_equal(peek(*state, "SELECT count(*) FROM firmware_stats"), 0);
	assert_int_equal(peek(*state, "SELECT count(*) FROM firmware_targets"), 0);
	assert_int_equal(peek(*state, "SELECT count(*) FROM devices"), 0);
	assert_int_equal(peek(*state, "SELECT count(*) FROM download_starts"), 0);
}

/* ---- projects ---------------------------------------------------------------------------- */

static int count_project(void *ctx, const struct fota_project *p)
{
	(void)p;
	(*(int *)ctx)++;
	return 0;
}

static void projects_are_created_listed_and_deleted(void **state)
{
	struct fota_store *s = store(state);
	struct fota_project p;
	int n = 0;

	assert_int_equal(s->ops->project_create(s, KEY_A, "车队 A", T0, &p), FOTA_OK);
	assert_string_equal(p.key, KEY_A);
	assert_string_equal(p.name, "车队 A");
	assert_int_equal(p.created, T0);
	assert_int_equal(p.firmware, 0);
	assert_int_equal(p.devices, 0);
	assert_int_equal(s->ops->project_create(s, KEY_A, "again", T0, NULL), FOTA_ERR_EXIST);
	project(s, KEY_B);
	assert_int_equal(s->ops->project_list(s, count_project, &n), FOTA_OK);
	assert_int_equal(n, 2);

	firmware(s, KEY_A, NAME, V1147, true, true, 'a');
	assert_int_equal(check(s, KEY_A, V1121, NULL), FOTA_CODE_OFFER);
	assert_int_equal(s->ops->project_get(s, KEY_A, &p), FOTA_OK);
	assert_int_equal(p.firmware, 1);
	assert_int_equal(p.devices, 1);

	assert_int_equal(s->ops->project_delete(s, KEY_A, NULL, NULL), FOTA_OK);
	assert_int_equal(s->ops->project_get(s, KEY_A, &p), FOTA_ERR_NOENT);
	assert_int_equal(s->ops->project_delete(s, KEY_A, NULL, NULL), FOTA_ERR_NOENT);
	/* The device's binding went with it: it may join another project now. */
	assert_int_equal(check(s, KEY_B, V1121, NULL), FOTA_CODE_FIRMWARE);
}

static void injection_strings_are_data(void **state)
{
	static const char *const evil[] = {
		"x'); DROP TABLE projects; --",
		"' OR '1'='1",
		"\"; DELETE FROM firmware; --",
		"%' --",
	};
	struct fota_store *s = store(state);
	struct fota_project p;
	struct fota_check_req rq = { .project_key = "' OR '1'='1", .device = IMEI,
				     .firmware_name = "' OR '1'='1", .version = "1' --", .now = T0 };
	struct fota_check_res res;

	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		char key[FOTA_STORE_KEY_LEN + 1];

		snprintf(key, sizeof(key), "%032zx", i);
		assert_int_equal(s->ops->project_create(s, key, evil[i], T0, NULL), FOTA_OK);
		assert_int_equal(s->ops->project_get(s, key, &p), FOTA_OK);
		assert_string_equal(p.name, evil[i]); /* stored as it was given */
		assert_int_equal(s->ops->project_get(s, evil[i], NULL), FOTA_ERR_NOENT);
	}
	assert_int_equal(peek(*state, "SELECT count(*) FROM projects"), 4);
	/* A key made to match everything matches nothing. */
	assert_int_equal(s->ops->check(s, &rq, &res), FOTA_OK);
	assert_int_equal(res.code, FOTA_CODE_PROJECT);
	/* A firmware name made to match everything matches nothing either. */
	firmware(s, "00000000000000000000000000000000", NAME, V1147, true, true, 'a');
	rq.project_key = "00000000000000000000000000000000";
	assert_int_equal(s->ops->check(s, &rq, &res), FOTA_OK);
	assert_int_equal(res.code, FOTA_CODE_FIRMWARE);
	/* ... and the device's version is kept literally. */
	assert_int_equal(peek(*state, "SELECT count(*) FROM devices WHERE version = '1'' --'"), 1);
	assert_int_equal(peek(*state, "SELECT count(*) FROM firmware"), 1);
}

/* ---- firmware ---------------------------------------------------------------------------- */

static int collect_id(void *ctx, const struct fota_firmware *f)
{
	int64_t *ids = ctx;

	while (*ids)
		ids++;
	*ids = f->id;
	return 0;
}

static int count_sha(void *ctx, const char *sha)
{
	(void)sha;
	(*(int *)ctx)++;
	return 0;
}

static void firmware_rows(void **state)
{
	struct fota_store *s = store(state);
	struct fota_firmware f;
	int64_t a, b, ids[8] = { 0 };
	int unused = 0;

	project(s, KEY_A);
	project(s, KEY_B);
	a = firmware(s, KEY_A, NAME, "1.2", true, true, 'a');
	b = firmware(s, KEY_A, NAME, "1.10", false, false, 'b');
	firmware(s, KEY_A, "Other", "1.2", true, true, 'c'); /* another name: no conflict */
	firmware(s, KEY_B, NAME, "1.2", true, true, 'a');   /* another project: none */

	f = (struct fota_firmware){ .size = 1, .enabled = true, .created = T0 };
	snprintf(f.name, sizeof(f.name), NAME);
	snprintf(f.version, sizeof(f.version), "1.02"); /* equals 1.2 under fota_version_cmp */
	memset(f.sha256, 'd', FOTA_STORE_SHA_HEX);
	assert_int_equal(s->ops->firmware_add(s, KEY_A, &f), FOTA_ERR_EXIST);
	assert_int_equal(s->ops->firmware_add(s, "cccccccccccccccccccccccccccccccc", &f), FOTA_ERR_NOENT);

	assert_int_equal(s->ops->firmware_find(s, KEY_A, NAME, "01.2", &f), FOTA_OK);
	assert_int_equal(f.id, a);
	assert_int_equal(s->ops->firmware_find(s, KEY_A, NAME, "1.3", NULL), FOTA_ERR_NOENT);

	assert_int_equal(s->ops->firmware_get(s, KEY_A, b, &f), FOTA_OK);
	assert_string_equal(f.version, "1.10");
	assert_false(f.enabled);
	assert_false(f.all_devices);
	assert_int_equal(f.size, 1000);
	assert_int_equal(f.created, T0);
	assert_int_equal(s->ops->firmware_get(s, KEY_B, b, &f), FOTA_ERR_NOENT); /* not B's */

	assert_int_equal(s->ops->firmware_list(s, KEY_A, collect_id, ids), FOTA_OK);
	assert_int_equal(ids[0], a);
	assert_int_equal(ids[1], b);
	assert_int_equal(ids[3], 0);

	assert_int_equal(s->ops->firmware_update(s, KEY_A, b, 1, -1, &f), FOTA_OK);
	assert_true(f.enabled);
	assert_false(f.all_devices);
	assert_int_equal(s->ops->firmware_update(s, KEY_A, b, -1, 1, &f), FOTA_OK);
	assert_true(f.enabled);
	assert_true(f.all_devices);
	assert_int_equal(s->ops->firmware_update(s, KEY_B, b, 0, 0, &f), FOTA_ERR_NOENT);

	/* Deleting: the file of A's 1.2 is still named by B's row; b's file is not. */
	assert_int_equal(s->ops->firmware_delete(s, KEY_A, a, count_sha, &unused), FOTA_OK);
	assert_int_equal(unused, 0);
	assert_int_equal(s->ops->firmware_delete(s, KEY_A, b, count_sha, &unused), FOTA_OK);
	assert_int_equal(unused, 1);
	assert_int_equal(s->ops->firmware_delete(s, KEY_A, b, count_sha, &unused), FOTA_ERR_NOENT);
}

static int collect_str(void *ctx, const char *v)
{
	char *out = ctx;

	strcat(out, v);
	strcat(out, ",");
	return 0;
}

static void upgrade_lists_are_replaced(void **state)
{
	struct fota_store *s = store(state);
	char got[256] = "";
	int64_t id;

	project(s, KEY_A);
	id = firmware(s, KEY_A, NAME, V1147, true, false, 'a');
	assert_int_equal(s->ops->targets_set(s, KEY_A, id,
		(const char *const[]){ "3", "1", "3", "2" }, 4), FOTA_OK);
	assert_int_equal(s->ops->targets_list(s, KEY_A, id, collect_str, got), FOTA_OK);
	assert_string_equal(got, "3,1,2,"); /* the order given, duplicates once */
	assert_int_equal(s->ops->targets_set(s, KEY_A, id, (const char *const[]){ "9" }, 1), FOTA_OK);
	got[0] = '\0';
	assert_int_equal(s->ops->targets_list(s, KEY_A, id, collect_str, got), FOTA_OK);
	assert_string_equal(got, "9,");
	assert_int_equal(s->ops->targets_set(s, KEY_A, id, NULL, 0), FOTA_OK);
	got[0] = '\0';
	assert_int_equal(s->ops->targets_list(s, KEY_A, id, collect_str, got), FOTA_OK);
	assert_string_equal(got, "");
	assert_int_equal(s->ops->targets_set(s, KEY_A, id + 1, NULL, 0), FOTA_ERR_NOENT);
	assert_int_equal(s->ops->targets_list(s, KEY_B, id, collect_str, got), FOTA_ERR_NOENT);
}

/* ---- the decision ------------------------------------------------------------------------ */

static void the_decision_in_order(void **state)
{
	struct fota_store *s = store(state);
	int64_t id, got;

	assert_int_equal(check(s, KEY_A, V1121, NULL), FOTA_CODE_PROJECT); /* 25 */
	project(s, KEY_A);
	project(s, KEY_B);
	assert_int_equal(check(s, KEY_A, V1121, NULL), FOTA_CODE_FIRMWARE); /* 26; bound to A */
	assert_int_equal(check(s, KEY_B, V1121, NULL), FOTA_CODE_PERMISSION); /* 17 */
	id = firmware(s, KEY_A, NAME, V1147, true, true, 'a');
	assert_int_equal(check(s, KEY_A, V1147, NULL), FOTA_CODE_LATEST);   /* 27: same */
	assert_int_equal(check(s, KEY_A, V1200, NULL), FOTA_CODE_LATEST);   /* 27: newer */
	assert_int_equal(check(s, KEY_A, V1121, &got), FOTA_CODE_OFFER);
	assert_int_equal(got, id);
	assert_int_equal(s->ops->firmware_update(s, KEY_A, id, 0, -1, NULL), FOTA_OK);
	assert_int_equal(check(s, KEY_A, V1121, NULL), FOTA_CODE_LATEST);   /* switched off */
	/* Another device is bound by its first request too. */
	assert_int_equal(check_at(s, KEY_B, IMEI2, V1121, T0, NULL, NULL), FOTA_CODE_FIRMWARE);
	assert_int_equal(check_at(s, KEY_A, IMEI2, V1121, T0, NULL, NULL), FOTA_CODE_PERMISSION);
}

static void the_newest_greater_version_is_offered(void **state)
{
	struct fota_store *s = store(state);
	int64_t v9, v10, got;

	project(s, KEY_A);
	firmware(s, KEY_A, NAME, "1.2.0", true, true, 'a');
	v10 = firmware(s, KEY_A, NAME, "1.10.0", true, true, 'b');
	v9 = firmware(s, KEY_A, NAME, "1.9.0", true, true, 'c');
	firmware(s, KEY_A, "Other", "9.9.9", true, true, 'd');
	assert_int_equal(check(s, KEY_A, "1.0.0", &got), FOTA_CODE_OFFER);
	assert_int_equal(got, v10); /* 1.10.0 > 1.9.0: numbers, not strcmp */
	assert_int_equal(s->ops->firmware_update(s, KEY_A, v10, 0, -1, NULL), FOTA_OK);
	assert_int_equal(check(s, KEY_A, "1.0.0", &got), FOTA_CODE_OFFER);
	assert_int_equal(got, v9);
	assert_int_equal(check(s, KEY_A, "1.9.0", NULL), FOTA_CODE_LATEST);
}

static void upgrade_lists_take_precedence_over_all_devices(void **state)
{
	struct fota_store *s = store(state);
	int64_t listed, all, only, got;

	project(s, KEY_A);
	listed = firmware(s, KEY_A, NAME, "2.0", true, false, 'a');
	all = firmware(s, KEY_A, NAME, "3.0", true, true, 'b');
	only = firmware(s, KEY_A, NAME, "4.0", true, false, 'c'); /* listed for nobody */
	(void)only;
	assert_int_equal(s->ops->targets_set(s, KEY_A, listed, (const char *const[]){ IMEI }, 1),
			 FOTA_OK);
	/* IMEI is listed for 2.0: that wins over 3.0 for all devices. */
	assert_int_equal(check(s, KEY_A, "1.0", &got), FOTA_CODE_OFFER);
	assert_int_equal(got, listed);
	/* Another device gets 3.0; 4.0 targets nobody. */
	assert_int_equal(check_at(s, KEY_A, IMEI2, "1.0", T0, &got, NULL), FOTA_CODE_OFFER);
	assert_int_equal(got, all);
	/* Once IMEI runs 2.0 the list has nothing newer for it: "all devices" applies. */
	assert_int_equal(check(s, KEY_A, "2.0", &got), FOTA_CODE_OFFER);
	assert_int_equal(got, all);
	/* A listed firmware that is switched off is no candidate. */
	assert_int_equal(s->ops->firmware_update(s, KEY_A, listed, 0, -1, NULL), FOTA_OK);
	assert_int_equal(check(s, KEY_A, "1.0", &got), FOTA_CODE_OFFER);
	assert_int_equal(got, all);
	/* Only listed devices get a firmware whose all_devices is off. */
	assert_int_equal(s->ops->firmware_update(s, KEY_A, all, -1, 0, NULL), FOTA_OK);
	assert_int_equal(check(s, KEY_A, "1.0", NULL), FOTA_CODE_LATEST);
	assert_int_equal(s->ops->targets_set(s, KEY_A, only, (const char *const[]){ IMEI }, 1), FOTA_OK);
	assert_int_equal(check(s, KEY_A, "1.0", &got), FOTA_CODE_OFFER);
	assert_int_equal(got, only);
}

static void the_pick_alone(void **state)
{
	struct fota_pick p;

	(void)state;
	fota_pick_init(&p, NULL); /* "" : everything is greater */
	assert_int_equal(fota_pick_result(&p), 0);
	fota_pick_add(&p, 1, "1.0", true, true, false);
	fota_pick_add(&p, 2, "0.9", true, true, false);
	assert_int_equal(fota_pick_result(&p), 1);
	fota_pick_init(&p, "1.0");
	fota_pick_add(&p, 1, "1.0", true, true, false);  /* equal: not greater */
	fota_pick_add(&p, 2, "1.00", true, true, true);  /* equal too, even listed */
	fota_pick_add(&p, 3, "2.0", false, true, true);  /* off */
	fota_pick_add(&p, 4, "3.0", true, false, false); /* targets nobody */
	assert_int_equal(fota_pick_result(&p), 0);
	fota_pick_add(&p, 5, "1.1", true, false, true);
	fota_pick_add(&p, 6, "5.0", true, true, false);
	assert_int_equal(fota_pick_result(&p), 5);
}

/* ---- devices, the loop guard, statistics ------------------------------------------------- */

static int first_device(void *ctx, const struct fota_device *d)
{
	*(struct fota_device *)ctx = *d;
	return 1; /* one is enough: the listing stops and returns 1 */
}

static struct fota_device device(struct fota_store *s, const char *key)
{
	struct fota_device d;

	memset(&d, 0, sizeof(d));
	assert_int_equal(s->ops->device_list(s, key, first_device, &d), 1);
	return d;
}

static int get_stat(void *ctx, const struct fota_stat *st)
{
	*(struct fota_stat *)ctx = *st;
	return 0;
}

static void devices_record_version_time_and_state(void **state)
{
	struct fota_store *s = store(state);
	struct fota_device d;
	struct fota_stat st;
	bool upgraded = false;
	int64_t id;

	project(s, KEY_A);
	id = firmware(s, KEY_A, NAME, V1147, true, true, 'a');
	assert_int_equal(check_at(s, KEY_A, IMEI, V1200, T0, NULL, NULL), FOTA_CODE_LATEST);
	d = device(s, KEY_A);
	assert_string_equal(d.id, IMEI);
	assert_string_equal(d.version, V1200);
	assert_int_equal(d.last_seen, T0);
	assert_int_equal(d.state, FOTA_DEVICE_CHECKED);
	assert_false(d.banned);

	assert_int_equal(check_at(s, KEY_A, IMEI, V1121, T0 + 5, NULL, &upgraded), FOTA_CODE_OFFER);
	assert_false(upgraded);
	d = device(s, KEY_A);
	assert_int_equal(d.state, FOTA_DEVICE_OFFERED);
	assert_int_equal(d.last_seen, T0 + 5);
	/* Asking again with the old version: still offered, no upgrade. */
	assert_int_equal(check_at(s, KEY_A, IMEI, V1121, T0 + 6, NULL, &upgraded), FOTA_CODE_OFFER);
	assert_false(upgraded);
	/* Back with the version offered: upgraded, counted once. */
	assert_int_equal(check_at(s, KEY_A, IMEI, V1147, T0 + 60, NULL, &upgraded), FOTA_CODE_LATEST);
	assert_true(upgraded);
	d = device(s, KEY_A);
	assert_int_equal(d.state, FOTA_DEVICE_UPGRADED);
	assert_string_equal(d.version, V1147);
	assert_int_equal(check_at(s, KEY_A, IMEI, V1147, T0 + 61, NULL, &upgraded), FOTA_CODE_LATEST);
	assert_false(upgraded);
	assert_int_equal(device(s, KEY_A).state, FOTA_DEVICE_UPGRADED);
	assert_int_equal(s->ops->stats_list(s, KEY_A, get_stat, &st), FOTA_OK);
	assert_int_equal(st.firmware_id, id);
	assert_int_equal(st.upgraded, 1);
	/* Another version reported: a plain check again. */
	assert_int_equal(check_at(s, KEY_A, IMEI, V1200, T0 + 62, NULL, NULL), FOTA_CODE_LATEST);
	assert_int_equal(device(s, KEY_A).state, FOTA_DEVICE_CHECKED);
}

static int64_t seen_of(struct fixture *f)
{
	return peek(f, "SELECT last_seen FROM devices WHERE device = '" IMEI "'");
}

/* A check that changes nothing writes nothing: last_seen has a granularity of
 * FOTA_STORE_SEEN_GRANULARITY seconds; anything else that changes is written at once. */
static void last_seen_has_a_granularity(void **state)
{
	struct fixture *f = *state;
	struct fota_store *s = f->s;
	const int64_t g = FOTA_STORE_SEEN_GRANULARITY;

	project(s, KEY_A);
	firmware(s, KEY_A, NAME, V1147, true, true, 'a');
	assert_int_equal(check_at(s, KEY_A, IMEI, V1147, T0, NULL, NULL), FOTA_CODE_LATEST);
	assert_int_equal(seen_of(f), T0);
	assert_int_equal(check_at(s, KEY_A, IMEI, V1147, T0 + g - 1, NULL, NULL), FOTA_CODE_LATEST);
	assert_int_equal(seen_of(f), T0);
	assert_int_equal(check_at(s, KEY_A, IMEI, V1147, T0 + g, NULL, NULL), FOTA_CODE_LATEST);
	assert_int_equal(seen_of(f), T0 + g);
	/* Another version: written at once, last_seen with it. */
	assert_int_equal(check_at(s, KEY_A, IMEI, V1200, T0 + g + 1, NULL, NULL), FOTA_CODE_LATEST);
	assert_int_equal(seen_of(f), T0 + g + 1);
	assert_int_equal(peek(f, "SELECT count(*) FROM devices WHERE version = '" V1200 "'"), 1);
	/* An offer: written at once. */
	assert_int_equal(check_at(s, KEY_A, IMEI, V1121, T0 + g + 2, NULL, NULL), FOTA_CODE_OFFER);
	assert_int_equal(seen_of(f), T0 + g + 2);
	assert_int_equal(device(s, KEY_A).state, FOTA_DEVICE_OFFERED);
	/* The same offer again: nothing new. */
	assert_int_equal(check_at(s, KEY_A, IMEI, V1121, T0 + g + 3, NULL, NULL), FOTA_CODE_OFFER);
	assert_int_equal(seen_of(f), T0 + g + 2);
	/* A clock that went back a granularity or more rewrites it. */
	assert_int_equal(check_at(s, KEY_A, IMEI, V1121, T0, NULL, NULL), FOTA_CODE_OFFER);
	assert_int_equal(seen_of(f), T0);
}

/* With seen_later, a check that makes only last_seen due leaves it to the caller (res.seen),
 * who records it with seen(); everything else is still written by the check. */
static void last_seen_can_be_left_to_the_caller(void **state)
{
	struct fixture *f = *state;
	struct fota_store *s = f->s;
	const int64_t g = FOTA_STORE_SEEN_GRANULARITY;
	struct fota_check_req rq = { .project_key = KEY_A, .device = IMEI, .firmware_name = NAME,
				     .version = V1147, .now = T0, .seen_later = true };
	struct fota_check_res res;
	struct fota_seen v[3];

	project(s, KEY_A);
	firmware(s, KEY_A, NAME, V1147, true, true, 'a');
	/* The binding is written by the check. */
	assert_int_equal(s->ops->check(s, &rq, &res), FOTA_OK);
	assert_int_equal(res.code, FOTA_CODE_LATEST);
	assert_false(res.seen);
	assert_int_equal(seen_of(f), T0);
	rq.now = T0 + 1;
	assert_int_equal(s->ops->check(s, &rq, &res), FOTA_OK);
	assert_false(res.seen);
	rq.now = T0 + g;
	assert_int_equal(s->ops->check(s, &rq, &res), FOTA_OK);
	assert_int_equal(res.code, FOTA_CODE_LATEST);
	assert_true(res.seen);
	assert_int_equal(seen_of(f), T0); /* not written */
	/* seen: a batch; unknown devices skipped; a time older than the one kept ignored. */
	memset(v, 0, sizeof(v));
	snprintf(v[0].device, sizeof(v[0].device), "%s", IMEI);
	v[0].at = T0 + g;
	snprintf(v[1].device, sizeof(v[1].device), "%s", "000000000000000");
	v[1].at = T0 + g;
	snprintf(v[2].device, sizeof(v[2].device), "%s", IMEI);
	v[2].at = T0 + g - 5;
	assert_int_equal(s->ops->seen(s, v, 3), FOTA_OK);
	assert_int_equal(seen_of(f), T0 + g);
	assert_int_equal(peek(f, "SELECT count(*) FROM devices"), 1);
	assert_int_equal(s->ops->seen(s, v, 0), FOTA_OK);
	/* A clock gone back a granularity or more is followed. */
	v[0].at = T0;
	assert_int_equal(s->ops->seen(s, v, 1), FOTA_OK);
	assert_int_equal(seen_of(f), T0);
	/* Another version with seen_later: written by the check, last_seen with it. */
	rq.version = V1200;
	rq.now = T0 + 2 * g;
	assert_int_equal(s->ops->check(s, &rq, &res), FOTA_OK);
	assert_false(res.seen);
	assert_int_equal(seen_of(f), T0 + 2 * g);
	assert_string_equal(device(s, KEY_A).version, V1200);
}

/* A check that has nothing to write needs no write lock: it is answered while another
 * connection holds the database's write transaction; one that must write waits for it. */
static void checks_that_write_nothing_do_not_wait_for_writers(void **state)
{
	struct fixture *f = *state;
	struct fota_store *s = f->s;
	sqlite3 *db = NULL;

	project(s, KEY_A);
	firmware(s, KEY_A, NAME, V1147, true, true, 'a');
	assert_int_equal(check_at(s, KEY_A, IMEI, V1147, T0, NULL, NULL), FOTA_CODE_LATEST);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE projects SET name = 'x';", NULL,
				      NULL, NULL), SQLITE_OK);
	/* Read-only: answered at once (else the 5 s busy timeout, then BUSY). */
	assert_int_equal(check_at(s, KEY_A, IMEI, V1147, T0 + 1, NULL, NULL), FOTA_CODE_LATEST);
	assert_int_equal(check_at(s, KEY_B, IMEI, V1147, T0 + 1, NULL, NULL), FOTA_CODE_PROJECT);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(seen_of(f), T0);
}

static void the_loop_guard_counts_starts_over_24_hours(void **state)
{
	struct fota_store *s = store(state);
	struct fota_device d;
	struct fota_stat st;
	bool banned = true;
	int64_t id, t;

	project(s, KEY_A);
	id = firmware(s, KEY_A, NAME, V1147, true, true, 'a');
	assert_int_equal(check(s, KEY_A, V1121, NULL), FOTA_CODE_OFFER);
	/* Six starts an hour apart: fine. */
	for (t = 0; t < 6; t++) {
		assert_int_equal(s->ops->download_start(s, IMEI, id, T0 + t * 3600, &banned), FOTA_OK);
		assert_false(banned);
	}
	/* A day after the first, the first has left the window: still six. */
	assert_int_equal(s->ops->download_start(s, IMEI, id, T0 + FOTA_STORE_GUARD_WINDOW, &banned),
			 FOTA_OK);
	assert_false(banned);
	assert_int_equal(check_at(s, KEY_A, IMEI, V1121, T0 + FOTA_STORE_GUARD_WINDOW, NULL, NULL),
			 FOTA_CODE_OFFER);
	/* One more within the day: seven, more than six: banned. */
	t = T0 + FOTA_STORE_GUARD_WINDOW + 1;
	assert_int_equal(s->ops->download_start(s, IMEI, id, t, &banned), FOTA_OK);
	assert_true(banned);
	assert_int_equal(check_at(s, KEY_A, IMEI, V1121, t, NULL, NULL), FOTA_CODE_BANNED);
	/* The ban outlives the window: only the admin lifts it. */
	t += 7 * FOTA_STORE_GUARD_WINDOW;
	assert_int_equal(check_at(s, KEY_A, IMEI, V1121, t, NULL, NULL), FOTA_CODE_BANNED);
	d = device(s, KEY_A);
	assert_true(d.banned);
	assert_int_equal(d.state, FOTA_DEVICE_CHECKED);
	/* Order: a firmware name the project lacks is 26 before the ban's 40. */
	{
		struct fota_check_req rq = { .project_key = KEY_A, .device = IMEI,
					     .firmware_name = "Other", .version = V1121, .now = t };
		struct fota_check_res res;

		assert_int_equal(s->ops->check(s, &rq, &res), FOTA_OK);
		assert_int_equal(res.code, FOTA_CODE_FIRMWARE);
	}
	assert_int_equal(s->ops->device_unban(s, KEY_B, IMEI, &d), FOTA_ERR_NOENT);
	assert_int_equal(s->ops->device_unban(s, KEY_A, IMEI2, &d), FOTA_ERR_NOENT);
	assert_int_equal(s->ops->device_unban(s, KEY_A, IMEI, &d), FOTA_OK);
	assert_false(d.banned);
	assert_int_equal(check_at(s, KEY_A, IMEI, V1121, t, NULL, NULL), FOTA_CODE_OFFER);
	/* The starts before the unban are forgotten: six more are fine. */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(s->ops->download_start(s, IMEI, id, t + i, &banned), FOTA_OK);
		assert_false(banned);
	}
	assert_int_equal(s->ops->stats_list(s, KEY_A, get_stat, &st), FOTA_OK);
	assert_int_equal(st.started, 6 + 1 + 1 + 6);
	/* Only the device's own starts are pruned and counted. */
	assert_int_equal(peek(*state, "SELECT count(*) FROM download_starts"), 6);
}

static void statistics_count_per_firmware(void **state)
{
	struct fota_store *s = store(state);
	struct fota_stat st;
	int64_t a, b;

	project(s, KEY_A);
	a = firmware(s, KEY_A, NAME, V1147, true, true, 'a');
	b = firmware(s, KEY_A, NAME, V1200, true, true, 'b');
	assert_int_equal(check(s, KEY_A, V1121, NULL), FOTA_CODE_OFFER);
	assert_int_equal(s->ops->download_start(s, IMEI, b, T0, NULL), FOTA_OK);
	assert_int_equal(s->ops->download_done(s, b), FOTA_OK);
	assert_int_equal(s->ops->download_done(s, b), FOTA_OK);
	assert_int_equal(s->ops->download_start(s, IMEI, a, T0, NULL), FOTA_OK);
	assert_int_equal(check(s, KEY_A, V1200, NULL), FOTA_CODE_LATEST); /* upgraded to b */
	assert_int_equal(s->ops->stats_list(s, KEY_A, get_stat, &st), FOTA_OK); /* the last: b */
	assert_int_equal(st.firmware_id, b);
	assert_string_equal(st.name, NAME);
	assert_string_equal(st.version, V1200);
	assert_int_equal(st.started, 1);
	assert_int_equal(st.completed, 2);
	assert_int_equal(st.upgraded, 1);
	assert_int_equal(s->ops->stats_list(s, KEY_B, get_stat, &st), FOTA_ERR_NOENT);
	assert_int_equal(s->ops->download_start(s, IMEI2, a, T0, NULL), FOTA_ERR_NOENT);
}

/* ---- signing keys ------------------------------------------------------------------------ */

static int add_key(void *ctx, const struct fota_project_key *k)
{
	struct fota_project_key *v = ctx;
	size_t i = 0;

	while (v[i].sha256[0])
		i++;
	v[i] = *k;
	return 0;
}

static void signing_keys_are_replaced_listed_and_go_with_the_project(void **state)
{
	struct fota_store *s = store(state);
	static struct fota_project_key in[3], out[4];
	struct fota_project p;

	for (int i = 0; i < 3; i++) {
		memset(in[i].sha256, 'a' + i, FOTA_STORE_SHA_HEX);
		snprintf(in[i].pem, sizeof(in[i].pem), "-----BEGIN PUBLIC KEY-----\n%d\n", i);
	}
	in[2] = in[0]; /* the same key twice: kept once */
	assert_int_equal(s->ops->keys_set(s, KEY_A, in, 3), FOTA_ERR_NOENT);
	project(s, KEY_A);
	project(s, KEY_B);
	assert_int_equal(s->ops->keys_set(s, KEY_A, in, 3), FOTA_OK);
	memset(out, 0, sizeof(out));
	assert_int_equal(s->ops->keys_list(s, KEY_A, add_key, out), FOTA_OK);
	assert_string_equal(out[0].sha256, in[0].sha256);
	assert_string_equal(out[0].pem, in[0].pem);
	assert_string_equal(out[1].sha256, in[1].sha256);
	assert_string_equal(out[1].pem, in[1].pem);
	assert_int_equal(out[2].sha256[0], 0);
	assert_int_equal(s->ops->project_get(s, KEY_A, &p), FOTA_OK);
	assert_int_equal(p.keys, 2);
	assert_int_equal(s->ops->project_get(s, KEY_B, &p), FOTA_OK);
	assert_int_equal(p.keys, 0);
	/* Replaced, in the new order. */
	assert_int_equal(s->ops->keys_set(s, KEY_A, &in[1], 1), FOTA_OK);
	memset(out, 0, sizeof(out));
	assert_int_equal(s->ops->keys_list(s, KEY_A, add_key, out), FOTA_OK);
	assert_string_equal(out[0].sha256, in[1].sha256);
	assert_int_equal(out[1].sha256[0], 0);
	/* A bad key changes nothing. */
	in[0].sha256[3] = '\0';
	assert_int_equal(s->ops->keys_set(s, KEY_A, in, 1), FOTA_ERR_INVAL);
	assert_int_equal(s->ops->project_get(s, KEY_A, &p), FOTA_OK);
	assert_int_equal(p.keys, 1);
	/* None: the list is empty. */
	assert_int_equal(s->ops->keys_set(s, KEY_A, NULL, 0), FOTA_OK);
	memset(out, 0, sizeof(out));
	assert_int_equal(s->ops->keys_list(s, KEY_A, add_key, out), FOTA_OK);
	assert_int_equal(out[0].sha256[0], 0);
	/* The keys go with their project. */
	assert_int_equal(s->ops->keys_set(s, KEY_A, &in[1], 1), FOTA_OK);
	assert_int_equal(s->ops->project_delete(s, KEY_A, NULL, NULL), FOTA_OK);
	assert_int_equal(peek(*state, "SELECT count(*) FROM project_keys"), 0);
	assert_int_equal(s->ops->keys_list(s, KEY_A, add_key, out), FOTA_ERR_NOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(migrations_run_from_an_empty_file_once, setup, teardown),
		cmocka_unit_test_setup_teardown(a_newer_schema_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_version_1_database_is_migrated, setup, teardown),
		cmocka_unit_test(unknown_schemes_are_refused),
		cmocka_unit_test_setup_teardown(foreign_keys_are_on, setup, teardown),
		cmocka_unit_test_setup_teardown(projects_are_created_listed_and_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(injection_strings_are_data, setup, teardown),
		cmocka_unit_test_setup_teardown(firmware_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade_lists_are_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(the_decision_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(the_newest_greater_version_is_offered, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade_lists_take_precedence_over_all_devices, setup,
						teardown),
		cmocka_unit_test(the_pick_alone),
		cmocka_unit_test_setup_teardown(devices_record_version_time_and_state, setup, teardown),
		cmocka_unit_test_setup_teardown(last_seen_has_a_granularity, setup, teardown),
		cmocka_unit_test_setup_teardown(last_seen_can_be_left_to_the_caller, setup, teardown),
		cmocka_unit_test_setup_teardown(checks_that_write_nothing_do_not_wait_for_writers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(the_loop_guard_counts_starts_over_24_hours, setup,
						teardown),
		cmocka_unit_test_setup_teardown(statistics_count_per_firmware, setup, teardown),
		cmocka_unit_test_setup_teardown(signing_keys_are_replaced_listed_and_go_with_the_project,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
