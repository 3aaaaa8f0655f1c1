/*
 * store_sqlite.c - the SQLite implementation of struct fota_store_ops (store.h).
 *
 * One struct sqlite_store per connection: WAL mode (readers never wait for the writer),
 * foreign keys on, a busy timeout, and every statement prepared once from the constant
 * table below and bound with the caller's values: no SQL is ever built from input. The
 * schema comes from the ordered migrations; schema_version says how many ran.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "fota/version.h"
#include "log.h"
#include "store.h"

#define BUSY_TIMEOUT_MS 5000

/* The migrations, in order: migration i brings the schema from version i to i + 1. Never
 * edit one that shipped; add the next. Each runs in the transaction that records it. */
static const char *const migrations[] = {
	/* 1: the first schema */
	"CREATE TABLE projects ("
	"  id INTEGER PRIMARY KEY,"
	"  key TEXT NOT NULL UNIQUE,"
	"  name TEXT NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE firmware ("
	"  id INTEGER PRIMARY KEY,"
	"  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  version TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  sha256 TEXT NOT NULL,"
	"  enabled INTEGER NOT NULL DEFAULT 1,"
	"  all_devices INTEGER NOT NULL DEFAULT 1,"
	"  created INTEGER NOT NULL,"
	"  UNIQUE (project_id, name, version));"
	"CREATE INDEX firmware_sha256 ON firmware(sha256);"
	"CREATE TABLE firmware_targets ("
	"  firmware_id INTEGER NOT NULL REFERENCES firmware(id) ON DELETE CASCADE,"
	"  device TEXT NOT NULL,"
	"  UNIQUE (firmware_id, device));"
	"CREATE TABLE devices ("
	"  id INTEGER PRIMARY KEY,"
	"  device TEXT NOT NULL UNIQUE,"
	"  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
	"  version TEXT NOT NULL,"
	"  last_seen INTEGER NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('checked', 'offered', 'upgraded')),"
	"  banned INTEGER NOT NULL DEFAULT 0,"
	"  offered_id INTEGER REFERENCES firmware(id) ON DELETE SET NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE INDEX devices_project ON devices(project_id);"
	"CREATE INDEX devices_offered ON devices(offered_id);"
	"CREATE TABLE download_starts ("
	"  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
	"  firmware_id INTEGER,"
	"  at INTEGER NOT NULL);"
	"CREATE INDEX download_starts_device ON download_starts(device_id, at);"
	"CREATE TABLE firmware_stats ("
	"  firmware_id INTEGER PRIMARY KEY REFERENCES firmware(id) ON DELETE CASCADE,"
	"  downloads_started INTEGER NOT NULL DEFAULT 0,"
	"  downloads_completed INTEGER NOT NULL DEFAULT 0,"
	"  devices_upgraded INTEGER NOT NULL DEFAULT 0);",
	/* 2: a project's signing keys (uploads must be signed by one when it has any) */
	"CREATE TABLE project_keys ("
	"  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
	"  sha256 TEXT NOT NULL,"
	"  pem TEXT NOT NULL,"
	"  UNIQUE (project_id, sha256));",
};

#define FW_COLS "f.id, f.name, f.version, f.size, f.sha256, f.enabled, f.all_devices, f.created"
#define PROJECT_COLS "p.key, p.name, p.created, " \
	"(SELECT count(*) FROM firmware f WHERE f.project_id = p.id), " \
	"(SELECT count(*) FROM devices d WHERE d.project_id = p.id), " \
	"(SELECT count(*) FROM project_keys k WHERE k.project_id = p.id)"

/* Every statement the store runs. ?N are the parameters, bound by the functions below. */
enum stmt_id {
	Q_BEGIN_READ,
	Q_BEGIN_WRITE,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_PROJECT_ID,
	Q_PROJECT_INSERT,
	Q_PROJECT_GET,
	Q_PROJECT_LIST,
	Q_PROJECT_SHAS,
	Q_PROJECT_DELETE,
	Q_SHA_USED,
	Q_FW_INSERT,
	Q_FW_STATS_INSERT,
	Q_FW_VERSIONS,
	Q_FW_GET,
	Q_FW_LIST,
	Q_FW_UPDATE,
	Q_FW_DELETE,
	Q_TARGETS_CLEAR,
	Q_TARGET_ADD,
	Q_TARGETS_LIST,
	Q_KEYS_CLEAR,
	Q_KEY_ADD,
	Q_KEYS_LIST,
	Q_DEV_LIST,
	Q_DEV_FIND,
	Q_DEV_INSERT,
	Q_DEV_UPDATE,
	Q_DEV_BAN,
	Q_DEV_UNBAN,
	Q_DEV_GET,
	Q_CANDIDATES,
	Q_STARTS_PRUNE,
	Q_START_INSERT,
	Q_STARTS_COUNT,
	Q_STARTS_CLEAR,
	Q_STAT_STARTED,
	Q_STAT_COMPLETED,
	Q_STAT_UPGRADED,
	Q_STATS_LIST,
	Q_DEV_SEEN,
	Q_COUNT
};

static const char *const sql[Q_COUNT] = {
	[Q_BEGIN_READ] = "BEGIN",
	[Q_BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_PROJECT_ID] = "SELECT id FROM projects WHERE key = ?1",
	[Q_PROJECT_INSERT] = "INSERT INTO projects (key, name, created) VALUES (?1, ?2, ?3)",
	[Q_PROJECT_GET] = "SELECT " PROJECT_COLS " FROM projects p WHERE p.key = ?1",
	[Q_PROJECT_LIST] = "SELECT " PROJECT_COLS " FROM projects p ORDER BY p.id",
	[Q_PROJECT_SHAS] = "SELECT DISTINCT sha256 FROM firmware WHERE project_id = ?1",
	[Q_PROJECT_DELETE] = "DELETE FROM projects WHERE id = ?1",
	[Q_SHA_USED] = "SELECT 1 FROM firmware WHERE sha256 = ?1 LIMIT 1",
	[Q_FW_INSERT] = "INSERT INTO firmware (project_id, name, version, size, sha256, enabled,"
			" all_devices, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_FW_STATS_INSERT] = "INSERT INTO firmware_stats (firmware_id) VALUES (?1)",
	[Q_FW_VERSIONS] = "SELECT " FW_COLS " FROM firmware f WHERE f.project_id = ?1"
			  " AND f.name = ?2",
	[Q_FW_GET] = "SELECT " FW_COLS " FROM firmware f WHERE f.project_id = ?1 AND f.id = ?2",
	[Q_FW_LIST] = "SELECT " FW_COLS " FROM firmware f WHERE f.project_id = ?1 ORDER BY f.id",
	[Q_FW_UPDATE] = "UPDATE firmware SET enabled = coalesce(?3, enabled),"
			" all_devices = coalesce(?4, all_devices) WHERE project_id = ?1 AND id = ?2",
	[Q_FW_DELETE] = "DELETE FROM firmware WHERE project_id = ?1 AND id = ?2",
	[Q_TARGETS_CLEAR] = "DELETE FROM firmware_targets WHERE firmware_id = ?1",
	[Q_TARGET_ADD] = "INSERT OR IGNORE INTO firmware_targets (firmware_id, device)"
			 " VALUES (?1, ?2)",
	[Q_TARGETS_LIST] = "SELECT device FROM firmware_targets WHERE firmware_id = ?1"
			   " ORDER BY rowid",
	[Q_KEYS_CLEAR] = "DELETE FROM project_keys WHERE project_id = ?1",
	[Q_KEY_ADD] = "INSERT OR IGNORE INTO project_keys (project_id, sha256, pem)"
		      " VALUES (?1, ?2, ?3)",
	[Q_KEYS_LIST] = "SELECT sha256, pem FROM project_keys WHERE project_id = ?1"
			" ORDER BY rowid",
	[Q_DEV_LIST] = "SELECT device, version, last_seen, state, banned FROM devices"
		       " WHERE project_id = ?1 ORDER BY device",
	[Q_DEV_FIND] = "SELECT d.id, d.project_id, d.state, d.banned, d.offered_id, f.version,"
		       " d.version, d.last_seen FROM devices d LEFT JOIN firmware f"
		       " ON f.id = d.offered_id WHERE d.device = ?1",
	[Q_DEV_INSERT] = "INSERT INTO devices (device, project_id, version, last_seen, state,"
			 " created) VALUES (?1, ?2, ?3, ?4, 'checked', ?4)",
	[Q_DEV_UPDATE] = "UPDATE devices SET version = ?2, last_seen = ?3, state = ?4,"
			 " offered_id = ?5 WHERE id = ?1",
	[Q_DEV_BAN] = "UPDATE devices SET banned = 1 WHERE id = ?1",
	[Q_DEV_UNBAN] = "UPDATE devices SET banned = 0 WHERE id = ?1",
	[Q_DEV_GET] = "SELECT device, version, last_seen, state, banned FROM devices WHERE id = ?1",
	[Q_CANDIDATES] = "SELECT f.id, f.version, f.enabled, f.all_devices, EXISTS (SELECT 1"
			 " FROM firmware_targets t WHERE t.firmware_id = f.id AND t.device = ?3)"
			 " FROM firmware f WHERE f.project_id = ?1 AND f.name = ?2",
	[Q_STARTS_PRUNE] = "DELETE FROM download_starts WHERE device_id = ?1 AND at <= ?2",
	[Q_START_INSERT] = "INSERT INTO download_starts (device_id, firmware_id, at)"
			   " VALUES (?1, ?2, ?3)",
	[Q_STARTS_COUNT] = "SELECT count(*) FROM download_starts WHERE device_id = ?1 AND at > ?2",
	[Q_STARTS_CLEAR] = "DELETE FROM download_starts WHERE device_id = ?1",
	[Q_STAT_STARTED] = "UPDATE firmware_stats SET downloads_started = downloads_started + 1"
			   " WHERE firmware_id = ?1",
	[Q_STAT_COMPLETED] = "UPDATE firmware_stats SET downloads_completed ="
			     " downloads_completed + 1 WHERE firmware_id = ?1",
	[Q_STAT_UPGRADED] = "UPDATE firmware_stats SET devices_upgraded = devices_upgraded + 1"
			    " WHERE firmware_id = ?1",
	[Q_STATS_LIST] = "SELECT f.id, f.name, f.version, coalesce(s.downloads_started, 0),"
			 " coalesce(s.downloads_completed, 0), coalesce(s.devices_upgraded, 0)"
			 " FROM firmware f LEFT JOIN firmware_stats s ON s.firmware_id = f.id"
			 " WHERE f.project_id = ?1 ORDER BY f.id",
	[Q_DEV_SEEN] = "UPDATE devices SET last_seen = ?2 WHERE device = ?1"
		       " AND (last_seen < ?2 OR last_seen - ?2 >= ?3)",
};

struct sqlite_store {
	struct fota_store base;
	sqlite3 *db;
	sqlite3_stmt *st[Q_COUNT]; /* prepared on first use, kept until close */
	bool writing;              /* holds write_lock */
};

/* SQLite lets one writer in at a time and makes the others poll with growing sleeps (up
 * to 100 ms each); the connections of this process queue on a mutex instead, so a write
 * waits only as long as the writes before it. Other processes still meet the busy
 * timeout. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static struct sqlite_store *to_sq(struct fota_store *s)
{
	return (struct sqlite_store *)s;
}

/* Maps an SQLite result code to an enum fota_err, logging what is not a plain outcome. */
static int db_err(struct sqlite_store *q, int rc, const char *what)
{
	switch (rc & 0xFF) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return FOTA_OK;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return FOTA_ERR_EXIST;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		fota_srv_log("sqlite: %s: database locked", what);
		return FOTA_ERR_BUSY;
	default:
		break;
	}
	fota_srv_log("sqlite: %s: %s", what, q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
	return FOTA_ERR_IO;
}

/* The prepared statement id, reset and cleared of old bindings; NULL on failure. */
static sqlite3_stmt *stmt(struct sqlite_store *q, enum stmt_id id)
{
	sqlite3_stmt *st = q->st[id];
	int rc;

	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return st;
	}
	rc = sqlite3_prepare_v3(q->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &q->st[id], NULL);
	if (rc != SQLITE_OK) {
		db_err(q, rc, sql[id]);
		return NULL;
	}
	return q->st[id];
}

/* Binding helpers: they return the SQLite code so that a chain stops at the first
 * failure. Text is bound SQLITE_TRANSIENT: SQLite copies it. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* Runs a statement that returns no row (or whose rows do not matter). */
static int run(struct sqlite_store *q, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? FOTA_OK : db_err(q, rc, what);
}

static int exec0(struct sqlite_store *q, enum stmt_id id)
{
	sqlite3_stmt *st = stmt(q, id);

	return st ? run(q, st, sql[id]) : FOTA_ERR_IO;
}

static void unlock_write(struct sqlite_store *q)
{
	if (q->writing) {
		q->writing = false;
		pthread_mutex_unlock(&write_lock);
	}
}

/* Starts a transaction: a write one takes the process's write lock first. Every begin
 * that succeeded is closed by end. */
static int begin(struct sqlite_store *q, bool write)
{
	int err;

	if (write) {
		pthread_mutex_lock(&write_lock);
		q->writing = true;
	}
	err = exec0(q, write ? Q_BEGIN_WRITE : Q_BEGIN_READ);
	if (err)
		unlock_write(q);
	return err;
}

/* Commits when err is FOTA_OK, else rolls back; returns err or the commit's error. */
static int end(struct sqlite_store *q, int err)
{
	if (err == FOTA_OK) {
		err = exec0(q, Q_COMMIT);
		if (err == FOTA_OK)
			goto out;
	}
	if (!sqlite3_get_autocommit(q->db))
		exec0(q, Q_ROLLBACK);
out:
	unlock_write(q);
	return err;
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* The project's row id into *pid; FOTA_ERR_NOENT if the key is unknown. */
static int project_id(struct sqlite_store *q, const char *key, int64_t *pid)
{
	sqlite3_stmt *st = stmt(q, Q_PROJECT_ID);
	int rc;

	if (!st)
		return FOTA_ERR_IO;
	if ((rc = bind_text(st, 1, key)) != SQLITE_OK)
		return db_err(q, rc, "bind");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*pid = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return FOTA_OK;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? FOTA_ERR_NOENT : db_err(q, rc, "project");
}

/* Runs the write statement id with v bound as ?1. */
static int by_id(struct sqlite_store *q, enum stmt_id id, int64_t v)
{
	sqlite3_stmt *st = stmt(q, id);

	if (!st || sqlite3_bind_int64(st, 1, v) != SQLITE_OK)
		return FOTA_ERR_IO;
	return run(q, st, sql[id]);
}

/* Starts a read of query id over the rows of project key: a read transaction with the
 * project's id bound as ?1. Returns the statement; NULL when it fails, with *err set and
 * the transaction ended. */
static sqlite3_stmt *project_rows(struct sqlite_store *q, const char *key, enum stmt_id id,
				  int *err)
{
	sqlite3_stmt *st;
	int64_t pid = 0;

	*err = begin(q, false);
	if (*err)
		return NULL;
	*err = project_id(q, key, &pid);
	if (*err) {
		end(q, *err);
		return NULL;
	}
	st = stmt(q, id);
	if (!st || sqlite3_bind_int64(st, 1, pid) != SQLITE_OK) {
		*err = end(q, FOTA_ERR_IO);
		return NULL;
	}
	*err = FOTA_OK;
	return st;
}

/* Ends the rows of project_rows: err from the caller's loop, rc the last sqlite3_step;
 * what names the list in the log. Returns the outcome, the transaction ended. */
static int rows_done(struct sqlite_store *q, sqlite3_stmt *st, int err, int rc, const char *what)
{
	if (!err && rc != SQLITE_DONE)
		err = db_err(q, rc, what);
	sqlite3_reset(st);
	return end(q, err);
}

static void read_project(sqlite3_stmt *st, struct fota_project *p)
{
	copy_col(p->key, sizeof(p->key), st, 0);
	copy_col(p->name, sizeof(p->name), st, 1);
	p->created = sqlite3_column_int64(st, 2);
	p->firmware = sqlite3_column_int64(st, 3);
	p->devices = sqlite3_column_int64(st, 4);
	p->keys = sqlite3_column_int64(st, 5);
}

static void read_firmware(sqlite3_stmt *st, struct fota_firmware *f)
{
	f->id = sqlite3_column_int64(st, 0);
	copy_col(f->name, sizeof(f->name), st, 1);
	copy_col(f->version, sizeof(f->version), st, 2);
	f->size = sqlite3_column_int64(st, 3);
	copy_col(f->sha256, sizeof(f->sha256), st, 4);
	f->enabled = sqlite3_column_int(st, 5) != 0;
	f->all_devices = sqlite3_column_int(st, 6) != 0;
	f->created = sqlite3_column_int64(st, 7);
}

static void read_device(sqlite3_stmt *st, struct fota_device *d)
{
	const unsigned char *state;

	copy_col(d->id, sizeof(d->id), st, 0);
	copy_col(d->version, sizeof(d->version), st, 1);
	d->last_seen = sqlite3_column_int64(st, 2);
	state = sqlite3_column_text(st, 3);
	d->state = fota_store_state_parse(state ? (const char *)state : "");
	if (d->state < 0)
		d->state = FOTA_DEVICE_CHECKED;
	d->banned = sqlite3_column_int(st, 4) != 0;
}

/* ---- connection and schema ----------------------------------------------------------- */

static int schema_version(struct sqlite_store *q, int *version)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_exec(q->db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
			  " INSERT INTO schema_version (version) SELECT 0 WHERE NOT EXISTS"
			  " (SELECT 1 FROM schema_version);", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_err(q, rc, "schema_version");
	rc = sqlite3_prepare_v2(q->db, "SELECT max(version) FROM schema_version", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? FOTA_OK : db_err(q, rc, "schema_version");
}

/* Brings the schema up to date: every migration after the recorded version, each in the
 * transaction that also records it. A database newer than this program is refused. */
static int migrate(struct sqlite_store *q)
{
	int version = 0, err, rc;
	const int latest = (int)FOTA_ARRAY_SIZE(migrations);

	rc = sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_err(q, rc, "migrate");
	err = schema_version(q, &version);
	if (!err && version > latest) {
		fota_srv_log("sqlite: the database has schema version %d; this program knows up to %d",
			     version, latest);
		err = FOTA_ERR_NOTSUP;
	}
	for (; !err && version < latest; version++) {
		sqlite3_stmt *st = NULL;

		rc = sqlite3_exec(q->db, migrations[version], NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_prepare_v2(q->db, "UPDATE schema_version SET version = ?1", -1,
						&st, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int(st, 1, version + 1);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(q->db);
		sqlite3_finalize(st);
		if (rc != SQLITE_OK)
			err = db_err(q, rc, "migration");
		else
			fota_srv_log("sqlite: schema migrated to version %d", version + 1);
	}
	rc = sqlite3_exec(q->db, err ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
	if (!err && rc != SQLITE_OK)
		err = db_err(q, rc, "migrate");
	return err;
}

static void sq_close(struct fota_store *s)
{
	struct sqlite_store *q = to_sq(s);

	if (!q)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close_v2(q->db);
	free(q);
}

/* Before SQLite's first use in the process: no memory statistics, whose global mutex
 * every allocation of every connection would take. (A process that used SQLite before
 * keeps its settings: sqlite3_config then refuses, harmlessly.) */
static void configure_once(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sq_open(const char *where, struct fota_store **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sqlite_store *q;
	int rc, err;

	*out = NULL;
	if (!where || !*where)
		return FOTA_ERR_INVAL;
	pthread_once(&once, configure_once);
	q = calloc(1, sizeof(*q));
	if (!q)
		return FOTA_ERR_NOMEM;
	q->base.ops = &fota_store_sqlite;
	/* NOMUTEX: a connection is used by one thread at a time (store.h); the library's own
	 * shared state stays serialized. */
	rc = sqlite3_open_v2(where, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = db_err(q, rc, where);
		goto fail;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
	/* WAL: readers go on while one writer commits; synchronous NORMAL is safe in WAL
	 * (a power cut may lose the last commits, never corrupts). */
	rc = sqlite3_exec(q->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			  " PRAGMA foreign_keys = ON;", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		err = db_err(q, rc, where);
		goto fail;
	}
	err = migrate(q);
	if (err)
		goto fail;
	*out = &q->base;
	return FOTA_OK;
fail:
	sq_close(&q->base);
	return err;
}

/* ---- projects --------------------------------------------------------------------------- */

static int project_read(struct sqlite_store *q, const char *key, struct fota_project *out)
{
	sqlite3_stmt *st = stmt(q, Q_PROJECT_GET);
	int rc;

	if (!st)
		return FOTA_ERR_IO;
	if ((rc = bind_text(st, 1, key)) != SQLITE_OK)
		return db_err(q, rc, "bind");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (out)
			read_project(st, out);
		sqlite3_reset(st);
		return FOTA_OK;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? FOTA_ERR_NOENT : db_err(q, rc, "project");
}

static int sq_project_create(struct fota_store *s, const char *key, const char *name, int64_t now,
			     struct fota_project *out)
{
	struct sqlite_store *q = to_sq(s);
	sqlite3_stmt *st;
	int err = begin(q, true), rc;

	if (err)
		return err;
	st = stmt(q, Q_PROJECT_INSERT);
	if (!st) {
		err = FOTA_ERR_IO;
		goto out;
	}
	rc = bind_text(st, 1, key);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 2, name);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, now);
	err = rc == SQLITE_OK ? run(q, st, "project insert") : db_err(q, rc, "bind");
	if (!err && out)
		err = project_read(q, key, out);
out:
	return end(q, err);
}

static int sq_project_get(struct fota_store *s, const char *key, struct fota_project *out)
{
	struct sqlite_store *q = to_sq(s);
	int err = begin(q, false);

	if (err)
		return err;
	return end(q, project_read(q, key, out));
}

static int sq_project_list(struct fota_store *s, fota_store_project_fn fn, void *ctx)
{
	struct sqlite_store *q = to_sq(s);
	sqlite3_stmt *st;
	int err = begin(q, false), rc;

	if (err)
		return err;
	st = stmt(q, Q_PROJECT_LIST);
	if (!st)
		return end(q, FOTA_ERR_IO);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct fota_project p;

		read_project(st, &p);
		err = fn(ctx, &p);
		if (err)
			break;
	}
	return rows_done(q, st, err, rc, "project list");
}

/* Calls unused for each of the n hashes at shas that no firmware row names any more. */
static int report_unused(struct sqlite_store *q, char (*shas)[FOTA_STORE_SHA_HEX + 1], size_t n,
			 fota_store_str_fn unused, void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		bool used = true;
		int err = q->base.ops->sha_used(&q->base, shas[i], &used);

		if (err)
			return err;
		if (!used && unused)
			unused(ctx, shas[i]);
	}
	return FOTA_OK;
}

static int sq_project_delete(struct fota_store *s, const char *key, fota_store_str_fn unused,
			     void *ctx)
{
	struct sqlite_store *q = to_sq(s);
	char (*shas)[FOTA_STORE_SHA_HEX + 1] = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int64_t pid = 0;
	int err = begin(q, true), rc;

	if (err)
		return err;
	err = project_id(q, key, &pid);
	if (err)
		goto out;
	st = stmt(q, Q_PROJECT_SHAS);
	if (!st || sqlite3_bind_int64(st, 1, pid) != SQLITE_OK) {
		err = FOTA_ERR_IO;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			void *more = realloc(shas, (cap ? cap * 2 : 8) * sizeof(*shas));

			if (!more) {
				err = FOTA_ERR_NOMEM;
				break;
			}
			shas = more;
			cap = cap ? cap * 2 : 8;
		}
		copy_col(shas[n++], sizeof(*shas), st, 0);
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(q, rc, "project files");
	sqlite3_reset(st);
	if (err)
		goto out;
	err = by_id(q, Q_PROJECT_DELETE, pid); /* the rest goes by ON DELETE CASCADE */
out:
	err = end(q, err);
	if (!err)
		err = report_unused(q, shas, n, unused, ctx);
	free(shas);
	return err;
}

/* ---- firmware ------------------------------------------------------------------------------- */

/* The project's firmware of name whose version equals version under fota_version_cmp. */
static int find_version(struct sqlite_store *q, int64_t pid, const char *name, const char *version,
			struct fota_firmware *out)
{
	sqlite3_stmt *st = stmt(q, Q_FW_VERSIONS);
	int rc, err = FOTA_ERR_NOENT;

	if (!st)
		return FOTA_ERR_IO;
	rc = sqlite3_bind_int64(st, 1, pid);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 2, name);
	if (rc != SQLITE_OK)
		return db_err(q, rc, "bind");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 2);

		if (fota_version_cmp(v ? (const char *)v : "", version) == 0) {
			if (out)
				read_firmware(st, out);
			err = FOTA_OK;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = db_err(q, rc, "firmware versions");
	sqlite3_reset(st);
	return err;
}

static int fw_read(struct sqlite_store *q, int64_t pid, int64_t id, struct fota_firmware *out)
{
	sqlite3_stmt *st = stmt(q, Q_FW_GET);
	int rc;

	if (!st)
		return FOTA_ERR_IO;
	rc = sqlite3_bind_int64(st, 1, pid);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, id);
	if (rc != SQLITE_OK)
		return db_err(q, rc, "bind");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (out)
			read_firmware(st, out);
		sqlite3_reset(st);
		return FOTA_OK;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? FOTA_ERR_NOENT : db_err(q, rc, "firmware");
}

static int sq_firmware_add(struct fota_store *s, const char *key, struct fota_firmware *fw)
{
	struct sqlite_store *q = to_sq(s);
	sqlite3_stmt *st;
	int64_t pid = 0;
	int err = begin(q, true), rc;

	if (err)
		return err;
	err = project_id(q, key, &pid);
	if (!err) {
		err = find_version(q, pid, fw->name, fw->version, NULL);
		err = err == FOTA_OK ? FOTA_ERR_EXIST : err == FOTA_ERR_NOENT ? FOTA_OK : err;
	}
	if (err)
		goto out;
	st = stmt(q, Q_FW_INSERT);
	if (!st) {
		err = FOTA_ERR_IO;
		goto out;
	}
	rc = sqlite3_bind_int64(st, 1, pid);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 2, fw->name);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 3, fw->version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, fw->size);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 5, fw->sha256);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 6, fw->enabled);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 7, fw->all_devices);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 8, fw->created);
	err = rc == SQLITE_OK ? run(q, st, "firmware insert") : db_err(q, rc, "bind");
	if (err)
		goto out;
	fw->id = sqlite3_last_insert_rowid(q->db);
	st = stmt(q, Q_FW_STATS_INSERT);
	if (!st || sqlite3_bind_int64(st, 1, fw->id) != SQLITE_OK)
		err = FOTA_ERR_IO;
	else
		err = run(q, st, "stats insert");
out:
	return end(q, err);
}

static int sq_firmware_find(struct fota_store *s, const char *key, const char *name,
			    const char *version, struct fota_firmware *out)
{
	struct sqlite_store *q = to_sq(s);
	int64_t pid = 0;
	int err = begin(q, false);

	if (err)
		return err;
	err = project_id(q, key, &pid);
	if (!err)
		err = find_version(q, pid, name, version, out);
	return end(q, err);
}

static int sq_firmware_get(struct fota_store *s, const char *key, int64_t id,
			   struct fota_firmware *out)
{
	struct sqlite_store *q = to_sq(s);
	int64_t pid = 0;
	int err = begin(q, false);

	if (err)
		return err;
	err = project_id(q, key, &pid);
	if (!err)
		err = fw_read(q, pid, id, out);
	return end(q, err);
}

static int sq_firmware_list(struct fota_store *s, const char *key, fota_store_firmware_fn fn,
			    void *ctx)
{
	struct sqlite_store *q = to_sq(s);
	int err, rc;
	sqlite3_stmt *st = project_rows(q, key, Q_FW_LIST, &err);

	if (!st)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct fota_firmware f;

		read_firmware(st, &f);
		err = fn(ctx, &f);
		if (err)
			break;
	}
	return rows_done(q, st, err, rc, "firmware list");
}

static int sq_firmware_update(struct fota_store *s, const char *key, int64_t id, int enabled,
			      int all_devices, struct fota_firmware *out)
{
	struct sqlite_store *q = to_sq(s);
	sqlite3_stmt *st;
	int64_t pid = 0;
	int err = begin(q, true), rc;

	if (err)
		return err;
	err = project_id(q, key, &pid);
	if (!err)
		err = fw_read(q, pid, id, NULL);
	if (err)
		goto out;
	st = stmt(q, Q_FW_UPDATE);
	if (!st) {
		err = FOTA_ERR_IO;
		goto out;
	}
	rc = sqlite3_bind_int64(st, 1, pid);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, id);
	if (rc == SQLITE_OK && enabled >= 0)
		rc = sqlite3_bind_int(st, 3, enabled != 0);
	if (rc == SQLITE_OK && all_devices >= 0)
		rc = sqlite3_bind_int(st, 4, all_devices != 0);
	err = rc == SQLITE_OK ? run(q, st, "firmware update") : db_err(q, rc, "bind");
	if (!err && out)
		err = fw_read(q, pid, id, out);
out:
	return end(q, err);
}

static int sq_firmware_delete(struct fota_store *s, const char *key, int64_t id,
			      fota_store_str_fn unused, void *ctx)
{
	struct sqlite_store *q = to_sq(s);
	struct fota_firmware f;
	char sha[1][FOTA_STORE_SHA_HEX + 1];
	sqlite3_stmt *st;
	int64_t pid = 0;
	int err = begin(q, true), rc;

	if (err)
		return err;
	err = project_id(q, key, &pid);
	if (!err)
		err = fw_read(q, pid, id, &f);
	if (err)
		goto out;
	st = stmt(q, Q_FW_DELETE);
	if (!st) {
		err = FOTA_ERR_IO;
		goto out;
	}
	rc = sqlite3_bind_int64(st, 1, pid);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, id);
	err = rc == SQLITE_OK ? run(q, st, "firmware delete") : db_err(q, rc, "bind");
out:
	err = end(q, err);
	if (!err) {
		memcpy(sha[0], f.sha256, sizeof(sha[0]));
		err = report_unused(q, sha, 1, unused, ctx);
	}
	return err;
}

static int sq_targets_set(struct fota_store *s, const char *key, int64_t id,
			  const char *const *ids, size_t n)
{
	struct sqlite_store *q = to_sq(s);
	sqlite3_stmt *st;
	int64_t pid = 0;
	int err = begin(q, true), rc;

	if (err)
		return err;
	err = project_id(q, key, &pid);
	if (!err)
		err = fw_read(q, pid, id, NULL);
	if (err)
		goto out;
	err = by_id(q, Q_TARGETS_CLEAR, id);
	for (size_t i = 0; !err && i < n; i++) {
		st = stmt(q, Q_TARGET_ADD);
		if (!st) {
			err = FOTA_ERR_IO;
			break;
		}
		rc = sqlite3_bind_int64(st, 1, id);
		if (rc == SQLITE_OK)
			rc = bind_text(st, 2, ids[i]);
		err = rc == SQLITE_OK ? run(q, st, "target add") : db_err(q, rc, "bind");
	}
out:
	return end(q, err);
}

static int sq_targets_list(struct fota_store *s, const char *key, int64_t id, fota_store_str_fn fn,
			   void *ctx)
{
	struct sqlite_store *q = to_sq(s);
	sqlite3_stmt *st;
	int64_t pid = 0;
	int err = begin(q, false), rc;

	if (err)
		return err;
	err = project_id(q, key, &pid);
	if (!err)
		err = fw_read(q, pid, id, NULL);
	if (err)
		return end(q, err);
	st = stmt(q, Q_TARGETS_LIST);
	if (!st || sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		return end(q, FOTA_ERR_IO);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		err = fn(ctx, t ? (const char *)t : "");
		if (err)
			break;
	}
	return rows_done(q, st, err, rc, "targets list");
}

/* ---- signing keys --------------------------------------------------------------------------- */

static int sq_keys_set(struct fota_store *s, const char *key, const struct fota_project_key *v,
		       size_t n)
{
	struct sqlite_store *q = to_sq(s);
	sqlite3_stmt *st;
	int64_t pid = 0;
	int err, rc;

	for (size_t i = 0; i < n; i++)
		if (strnlen(v[i].sha256, sizeof(v[i].sha256)) != FOTA_STORE_SHA_HEX ||
		    strnlen(v[i].pem, sizeof(v[i].pem)) == sizeof(v[i].pem) || !v[i].pem[0])
			return FOTA_ERR_INVAL;
	err = begin(q, true);
	if (err)
		return err;
	err = project_id(q, key, &pid);
	if (err)
		goto out;
	err = by_id(q, Q_KEYS_CLEAR, pid);
	for (size_t i = 0; !err && i < n; i++) {
		st = stmt(q, Q_KEY_ADD);
		if (!st) {
			err = FOTA_ERR_IO;
			break;
		}
		rc = sqlite3_bind_int64(st, 1, pid);
		if (rc == SQLITE_OK)
			rc = bind_text(st, 2, v[i].sha256);
		if (rc == SQLITE_OK)
			rc = bind_text(st, 3, v[i].pem);
		err = rc == SQLITE_OK ? run(q, st, "key add") : db_err(q, rc, "bind");
	}
out:
	return end(q, err);
}

static int sq_keys_list(struct fota_store *s, const char *key, fota_store_key_fn fn, void *ctx)
{
	struct sqlite_store *q = to_sq(s);
	struct fota_project_key k;
	int err, rc;
	sqlite3_stmt *st = project_rows(q, key, Q_KEYS_LIST, &err);

	if (!st)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		copy_col(k.sha256, sizeof(k.sha256), st, 0);
		copy_col(k.pem, sizeof(k.pem), st, 1);
		err = fn(ctx, &k);
		if (err)
			break;
	}
	return rows_done(q, st, err, rc, "keys list");
}

/* ---- devices -------------------------------------------------------------------------------- */

static int sq_device_list(struct fota_store *s, const char *key, fota_store_device_fn fn, void *ctx)
{
	struct sqlite_store *q = to_sq(s);
	int err, rc;
	sqlite3_stmt *st = project_rows(q, key, Q_DEV_LIST, &err);

	if (!st)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct fota_device d;

		read_device(st, &d);
		err = fn(ctx, &d);
		if (err)
			break;
	}
	return rows_done(q, st, err, rc, "device list");
}

/* What the decision needs of a device row. */
struct dev_row {
	int64_t id;
	int64_t project_id;
	int state;
	bool banned;
	int64_t offered_id;  /* 0: none */
	char offered_version[FOTA_IMAGE_VERSION_SIZE];
	char version[FOTA_STORE_DEVVER_MAX + 1];
	int64_t last_seen;
};

/* The device's row into *d; FOTA_ERR_NOENT when the device is new. */
static int dev_find(struct sqlite_store *q, const char *device, struct dev_row *d)
{
	sqlite3_stmt *st = stmt(q, Q_DEV_FIND);
	const unsigned char *state;
	int rc;

	if (!st)
		return FOTA_ERR_IO;
	if ((rc = bind_text(st, 1, device)) != SQLITE_OK)
		return db_err(q, rc, "bind");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? FOTA_ERR_NOENT : db_err(q, rc, "device");
	}
	d->id = sqlite3_column_int64(st, 0);
	d->project_id = sqlite3_column_int64(st, 1);
	state = sqlite3_column_text(st, 2);
	d->state = fota_store_state_parse(state ? (const char *)state : "");
	d->banned = sqlite3_column_int(st, 3) != 0;
	d->offered_id = sqlite3_column_int64(st, 4);
	copy_col(d->offered_version, sizeof(d->offered_version), st, 5);
	copy_col(d->version, sizeof(d->version), st, 6);
	d->last_seen = sqlite3_column_int64(st, 7);
	sqlite3_reset(st);
	return FOTA_OK;
}

static int dev_get(struct sqlite_store *q, int64_t id, struct fota_device *out)
{
	sqlite3_stmt *st = stmt(q, Q_DEV_GET);
	int rc;

	if (!st || sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		return FOTA_ERR_IO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_device(st, out);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? FOTA_OK : rc == SQLITE_DONE ? FOTA_ERR_NOENT : db_err(q, rc, "device");
}

static int sq_device_unban(struct fota_store *s, const char *key, const char *device,
			   struct fota_device *out)
{
	struct sqlite_store *q = to_sq(s);
	struct dev_row d;
	int64_t pid = 0;
	int err = begin(q, true);

	if (err)
		return err;
	err = project_id(q, key, &pid);
	if (!err)
		err = dev_find(q, device, &d);
	if (!err && d.project_id != pid)
		err = FOTA_ERR_NOENT; /* another project's device: not this one's business */
	if (!err)
		err = by_id(q, Q_DEV_UNBAN, d.id);
	if (!err)
		err = by_id(q, Q_STARTS_CLEAR, d.id);
	if (!err && out)
		err = dev_get(q, d.id, out);
	return end(q, err);
}

static int sq_stats_list(struct fota_store *s, const char *key, fota_store_stat_fn fn, void *ctx)
{
	struct sqlite_store *q = to_sq(s);
	int err, rc;
	sqlite3_stmt *st = project_rows(q, key, Q_STATS_LIST, &err);

	if (!st)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct fota_stat t;

		t.firmware_id = sqlite3_column_int64(st, 0);
		copy_col(t.name, sizeof(t.name), st, 1);
		copy_col(t.version, sizeof(t.version), st, 2);
		t.started = sqlite3_column_int64(st, 3);
		t.completed = sqlite3_column_int64(st, 4);
		t.upgraded = sqlite3_column_int64(st, 5);
		err = fn(ctx, &t);
		if (err)
			break;
	}
	return rows_done(q, st, err, rc, "stats list");
}

/* ---- the device API ------------------------------------------------------------------------- */

static int dev_insert(struct sqlite_store *q, const struct fota_check_req *rq, int64_t pid,
		      struct dev_row *d)
{
	sqlite3_stmt *st = stmt(q, Q_DEV_INSERT);
	int rc, err;

	if (!st)
		return FOTA_ERR_IO;
	rc = bind_text(st, 1, rq->device);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, pid);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 3, rq->version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, rq->now);
	err = rc == SQLITE_OK ? run(q, st, "device insert") : db_err(q, rc, "bind");
	if (err)
		return err;
	memset(d, 0, sizeof(*d));
	d->id = sqlite3_last_insert_rowid(q->db);
	d->project_id = pid;
	d->state = FOTA_DEVICE_CHECKED;
	snprintf(d->version, sizeof(d->version), "%s", rq->version);
	return FOTA_OK;
}

static int dev_update(struct sqlite_store *q, const struct dev_row *d, const char *version,
		      int64_t now)
{
	sqlite3_stmt *st = stmt(q, Q_DEV_UPDATE);
	int rc;

	if (!st)
		return FOTA_ERR_IO;
	rc = sqlite3_bind_int64(st, 1, d->id);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 2, version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, now);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 4, fota_store_state_name(d->state));
	if (rc == SQLITE_OK)
		rc = d->offered_id ? sqlite3_bind_int64(st, 5, d->offered_id) :
				     sqlite3_bind_null(st, 5);
	return rc == SQLITE_OK ? run(q, st, "device update") : db_err(q, rc, "bind");
}

/* Rows 4 to 7 of the decision for a bound device: *code and, for an offer, *fw. */
static int decide(struct sqlite_store *q, const struct fota_check_req *rq, int64_t pid,
		  const struct dev_row *d, struct fota_check_res *res)
{
	sqlite3_stmt *st = stmt(q, Q_CANDIDATES);
	struct fota_pick pick;
	size_t rows = 0;
	int64_t id;
	int rc;

	if (!st)
		return FOTA_ERR_IO;
	rc = sqlite3_bind_int64(st, 1, pid);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 2, rq->firmware_name);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 3, rq->device);
	if (rc != SQLITE_OK)
		return db_err(q, rc, "bind");
	fota_pick_init(&pick, rq->version);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 1);

		rows++;
		fota_pick_add(&pick, sqlite3_column_int64(st, 0), v ? (const char *)v : "",
			      sqlite3_column_int(st, 2) != 0, sqlite3_column_int(st, 3) != 0,
			      sqlite3_column_int(st, 4) != 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_err(q, rc, "candidates");
	if (rows == 0) {
		res->code = FOTA_CODE_FIRMWARE;
		return FOTA_OK;
	}
	if (d->banned) {
		res->code = FOTA_CODE_BANNED;
		return FOTA_OK;
	}
	id = fota_pick_result(&pick);
	if (!id) {
		res->code = FOTA_CODE_LATEST;
		return FOTA_OK;
	}
	res->code = FOTA_CODE_OFFER;
	return fw_read(q, pid, id, &res->fw);
}

/* Whether a device's last_seen of seen is to be rewritten at now: it has the granularity
 * FOTA_STORE_SEEN_GRANULARITY (a clock that went back that far rewrites it too). */
static bool seen_stale(int64_t seen, int64_t now)
{
	return now - seen >= FOTA_STORE_SEEN_GRANULARITY ||
	       seen - now >= FOTA_STORE_SEEN_GRANULARITY;
}

/* The decision for rq (version and firmware_name not NULL) in the transaction open on q.
 * Read-only (write false): when the check has something to record (a new binding, an
 * upgrade to count, another version, state or offer, a stale last_seen) it stops with
 * *need_write set and res undefined: the caller runs it again in a write transaction.
 * Write: records what changed. */
static int check_in(struct sqlite_store *q, const struct fota_check_req *rq, bool write,
		    struct fota_check_res *res, bool *need_write)
{
	struct dev_row d;
	int64_t pid = 0, prev_offered;
	int err, prev_state;
	bool version_same;

	*need_write = false;
	err = project_id(q, rq->project_key, &pid);
	if (err == FOTA_ERR_NOENT) {
		res->code = FOTA_CODE_PROJECT;
		return FOTA_OK;
	}
	if (err)
		return err;
	err = dev_find(q, rq->device, &d);
	if (err == FOTA_ERR_NOENT) {
		if (!write) {
			*need_write = true; /* bound to the project of its first request */
			return FOTA_OK;
		}
		err = dev_insert(q, rq, pid, &d);
		if (err)
			return err;
		d.last_seen = rq->now;
	}
	if (err)
		return err;
	if (d.project_id != pid) {
		res->code = FOTA_CODE_PERMISSION;
		return FOTA_OK; /* another project's device: left as it is */
	}
	prev_state = d.state;
	prev_offered = d.offered_id;
	version_same = !strcmp(d.version, rq->version);
	/* The upgrade report: the version last offered, counted once (the offer is
	 * consumed). */
	if (d.offered_id && fota_version_cmp(rq->version, d.offered_version) == 0) {
		if (!write) {
			*need_write = true;
			return FOTA_OK;
		}
		err = by_id(q, Q_STAT_UPGRADED, d.offered_id);
		if (err)
			return err;
		res->upgraded = true;
		d.offered_id = 0;
	}
	err = decide(q, rq, pid, &d, res);
	if (err)
		return err;
	if (res->code == FOTA_CODE_OFFER) {
		d.state = FOTA_DEVICE_OFFERED;
		d.offered_id = res->fw.id;
	} else if (res->upgraded || (prev_state == FOTA_DEVICE_UPGRADED && version_same)) {
		d.state = FOTA_DEVICE_UPGRADED;
	} else {
		d.state = FOTA_DEVICE_CHECKED;
	}
	if (!res->upgraded && version_same && d.state == prev_state &&
	    d.offered_id == prev_offered) {
		if (!seen_stale(d.last_seen, rq->now))
			return FOTA_OK; /* nothing to remember */
		if (rq->seen_later) {
			res->seen = true; /* the caller records it, batched */
			return FOTA_OK;
		}
	}
	if (!write) {
		*need_write = true;
		return FOTA_OK;
	}
	return dev_update(q, &d, rq->version, rq->now);
}

/* A check reads first, in a read transaction that never waits for the write lock (WAL:
 * readers go on while a writer commits): the frequent check of a device that changed
 * nothing ends there. Only a check with something to record runs again, from the start,
 * in a write transaction: the decision is then taken on what the write lock protects, so
 * two first requests of a device still bind it once and an upgrade is still counted
 * once. */
static int sq_check(struct fota_store *s, const struct fota_check_req *rq, struct fota_check_res *res)
{
	struct sqlite_store *q = to_sq(s);
	struct fota_check_req r = *rq;
	bool need_write = false;
	int err;

	memset(res, 0, sizeof(*res));
	r.version = rq->version ? rq->version : "";
	r.firmware_name = rq->firmware_name ? rq->firmware_name : "";
	if (!rq->device || !rq->project_key)
		return FOTA_ERR_INVAL;
	err = begin(q, false);
	if (err)
		return err;
	err = end(q, check_in(q, &r, false, res, &need_write));
	if (err || !need_write)
		return err;
	memset(res, 0, sizeof(*res));
	err = begin(q, true);
	if (err)
		return err;
	return end(q, check_in(q, &r, true, res, &need_write));
}

static int sq_download_start(struct fota_store *s, const char *device, int64_t fw_id, int64_t now,
			     bool *banned)
{
	struct sqlite_store *q = to_sq(s);
	const int64_t since = now - FOTA_STORE_GUARD_WINDOW;
	sqlite3_stmt *st;
	struct dev_row d;
	int64_t count = 0;
	int err = begin(q, true), rc;

	if (err)
		return err;
	err = dev_find(q, device, &d);
	if (err)
		goto out;
	st = stmt(q, Q_STARTS_PRUNE);
	if (!st || sqlite3_bind_int64(st, 1, d.id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, since) != SQLITE_OK) {
		err = FOTA_ERR_IO;
		goto out;
	}
	err = run(q, st, "starts prune");
	if (err)
		goto out;
	st = stmt(q, Q_START_INSERT);
	if (!st || sqlite3_bind_int64(st, 1, d.id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, fw_id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, now) != SQLITE_OK) {
		err = FOTA_ERR_IO;
		goto out;
	}
	err = run(q, st, "start insert");
	if (!err)
		err = by_id(q, Q_STAT_STARTED, fw_id);
	if (err)
		goto out;
	st = stmt(q, Q_STARTS_COUNT);
	if (!st || sqlite3_bind_int64(st, 1, d.id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, since) != SQLITE_OK) {
		err = FOTA_ERR_IO;
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		count = sqlite3_column_int64(st, 0);
	else
		err = db_err(q, rc, "starts count");
	sqlite3_reset(st);
	if (!err && count > FOTA_STORE_GUARD_STARTS && !d.banned) {
		err = by_id(q, Q_DEV_BAN, d.id);
		d.banned = true;
	}
	if (!err && banned)
		*banned = d.banned;
out:
	return end(q, err);
}

static int sq_download_done(struct fota_store *s, int64_t fw_id)
{
	struct sqlite_store *q = to_sq(s);
	int err = begin(q, true);

	if (err)
		return err;
	return end(q, by_id(q, Q_STAT_COMPLETED, fw_id));
}

static int sq_seen(struct fota_store *s, const struct fota_seen *v, size_t n)
{
	struct sqlite_store *q = to_sq(s);
	sqlite3_stmt *st;
	int err, rc;

	if (!n)
		return FOTA_OK;
	err = begin(q, true);
	if (err)
		return err;
	for (size_t i = 0; !err && i < n; i++) {
		st = stmt(q, Q_DEV_SEEN);
		if (!st) {
			err = FOTA_ERR_IO;
			break;
		}
		rc = bind_text(st, 1, v[i].device);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, v[i].at);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int(st, 3, FOTA_STORE_SEEN_GRANULARITY);
		err = rc == SQLITE_OK ? run(q, st, "device seen") : db_err(q, rc, "bind");
	}
	return end(q, err);
}

static int sq_sha_used(struct fota_store *s, const char *sha256, bool *used)
{
	struct sqlite_store *q = to_sq(s);
	sqlite3_stmt *st = stmt(q, Q_SHA_USED);
	int rc;

	if (!st)
		return FOTA_ERR_IO;
	if ((rc = bind_text(st, 1, sha256)) != SQLITE_OK)
		return db_err(q, rc, "bind");
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(q, rc, "sha used");
	*used = rc == SQLITE_ROW;
	return FOTA_OK;
}

const struct fota_store_ops fota_store_sqlite = {
	.scheme = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.project_create = sq_project_create,
	.project_get = sq_project_get,
	.project_list = sq_project_list,
	.project_delete = sq_project_delete,
	.firmware_add = sq_firmware_add,
	.firmware_find = sq_firmware_find,
	.firmware_get = sq_firmware_get,
	.firmware_list = sq_firmware_list,
	.firmware_update = sq_firmware_update,
	.firmware_delete = sq_firmware_delete,
	.targets_set = sq_targets_set,
	.targets_list = sq_targets_list,
	.keys_set = sq_keys_set,
	.keys_list = sq_keys_list,
	.device_list = sq_device_list,
	.device_unban = sq_device_unban,
	.stats_list = sq_stats_list,
	.check = sq_check,
	.download_start = sq_download_start,
	.download_done = sq_download_done,
	.seen = sq_seen,
	.sha_used = sq_sha_used,
};
