/*
 * admin.c - the admin API under /api/v1 (docs/server-api.md): bearer token, routes,
 * JSON in and out (jansson), firmware uploads (upload.c). Every error is a 4xx (or a 5xx
 * when the server itself failed) with {"error":"<English sentence>"}.
 *
 * Order of the checks: the admin API is on (503), the client is not held back for its
 * failed authentications (429, authlimit.h), the token (401), the path (404), the method
 * (405), then what the route needs: the body's type (415) and size (413), the project,
 * firmware or device (404), the body's content (400), conflicts (409).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "server.h"

enum admin_op {
	OP_PROJECTS = 1,  /* /projects */
	OP_PROJECT,       /* /projects/{key} */
	OP_FIRMWARE_LIST, /* /projects/{key}/firmware */
	OP_FIRMWARE,      /* /projects/{key}/firmware/{id} */
	OP_TARGETS,       /* /projects/{key}/firmware/{id}/devices */
	OP_DEVICES,       /* /projects/{key}/devices */
	OP_UNBAN,         /* /projects/{key}/devices/{id}/unban */
	OP_STATS,         /* /projects/{key}/stats */
	OP_KEYS,          /* /projects/{key}/keys */
};

/* The routes: segments after /api/v1 ("*" is a parameter) and the methods allowed. HEAD
 * goes wherever GET goes. */
static const struct route {
	int op;
	size_t n;
	const char *seg[5];
	const char *allow;
} routes[] = {
	{ OP_PROJECTS, 1, { "projects" }, "GET, POST" },
	{ OP_PROJECT, 2, { "projects", "*" }, "GET, DELETE" },
	{ OP_FIRMWARE_LIST, 3, { "projects", "*", "firmware" }, "GET, POST" },
	{ OP_FIRMWARE, 4, { "projects", "*", "firmware", "*" }, "PATCH, DELETE" },
	{ OP_TARGETS, 5, { "projects", "*", "firmware", "*", "devices" }, "GET, PUT" },
	{ OP_DEVICES, 3, { "projects", "*", "devices" }, "GET" },
	{ OP_UNBAN, 5, { "projects", "*", "devices", "*", "unban" }, "POST" },
	{ OP_STATS, 3, { "projects", "*", "stats" }, "GET" },
	{ OP_KEYS, 3, { "projects", "*", "keys" }, "GET, PUT" },
};

static const struct route *find_route(const struct fota_srv_path *p)
{
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(routes); i++) {
		const struct route *rt = &routes[i];
		size_t k;

		if (p->n != rt->n + 2)
			continue;
		for (k = 0; k < rt->n; k++)
			if (strcmp(rt->seg[k], "*") && strcmp(rt->seg[k], p->seg[k + 2]))
				break;
		if (k == rt->n)
			return rt;
	}
	return NULL;
}

/* Whether method m is in the route's list (HEAD counts as GET). */
static bool allowed(const struct route *rt, const char *m)
{
	const char *a = rt->allow;
	size_t n;

	if (!strcmp(m, "HEAD"))
		m = "GET";
	n = strlen(m);
	while (*a) {
		size_t k = strcspn(a, ",");

		if (k == n && !strncmp(a, m, n))
			return true;
		a += k;
		a += strspn(a, ", ");
	}
	return false;
}

/* ---- JSON of the resources --------------------------------------------------------------- */

static json_t *time_json(int64_t t)
{
	char s[32];

	fota_srv_rfc3339(t, s);
	return json_string(s);
}

static json_t *project_json(const struct fota_project *p)
{
	return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I}", "key", p->key, "name", p->name,
			 "created", time_json(p->created), "firmware", (json_int_t)p->firmware,
			 "devices", (json_int_t)p->devices, "keys", (json_int_t)p->keys);
}

static json_t *key_json(const struct fota_project_key *k)
{
	return json_pack("{s:s, s:s}", "sha256", k->sha256, "pem", k->pem);
}

static json_t *firmware_json(const struct fota_firmware *f)
{
	return json_pack("{s:I, s:s, s:s, s:I, s:s, s:b, s:b, s:o}", "id", (json_int_t)f->id,
			 "name", f->name, "version", f->version, "size", (json_int_t)f->size,
			 "sha256", f->sha256, "enabled", f->enabled, "all_devices", f->all_devices,
			 "created", time_json(f->created));
}

static json_t *device_json(const struct fota_device *d)
{
	return json_pack("{s:s, s:s, s:o, s:s, s:b}", "imei", d->id, "version", d->version,
			 "last_seen", time_json(d->last_seen), "state",
			 fota_store_state_name(d->state), "banned", d->banned);
}

static json_t *stat_json(const struct fota_stat *s)
{
	return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I}", "firmware_id", (json_int_t)s->firmware_id,
			 "name", s->name, "version", s->version,
			 "downloads_started", (json_int_t)s->started,
			 "downloads_completed", (json_int_t)s->completed,
			 "devices_upgraded", (json_int_t)s->upgraded);
}

/* Listing callbacks: append to the json_t array ctx. */
static int append(json_t *a, json_t *v)
{
	return v && json_array_append_new(a, v) == 0 ? 0 : FOTA_ERR_NOMEM;
}

static int add_project(void *ctx, const struct fota_project *p)
{
	return append(ctx, project_json(p));
}

static int add_firmware(void *ctx, const struct fota_firmware *f)
{
	return append(ctx, firmware_json(f));
}

static int add_device(void *ctx, const struct fota_device *d)
{
	return append(ctx, device_json(d));
}

static int add_stat(void *ctx, const struct fota_stat *s)
{
	return append(ctx, stat_json(s));
}

static int add_string(void *ctx, const char *s)
{
	return append(ctx, json_string(s));
}

static int add_key(void *ctx, const struct fota_project_key *k)
{
	return append(ctx, key_json(k));
}

static json_t *parse_body(struct fota_srv_req *r);

/* ---- errors ------------------------------------------------------------------------------ */

/* Answers a store error: 404 with what was not found, 409, 503, or 500. */
static void store_error(struct fota_srv_req *r, int err, const char *what)
{
	switch (err) {
	case FOTA_ERR_NOENT:
		fota_srv_reply_error(r, 404, "no such %s", what);
		break;
	case FOTA_ERR_EXIST:
		fota_srv_reply_error(r, 409, "conflict");
		break;
	case FOTA_ERR_BUSY:
		fota_srv_reply_error(r, 503, "the database is busy; try again");
		break;
	case FOTA_ERR_NOMEM:
		fota_srv_reply_error(r, 500, "out of memory");
		break;
	default:
		fota_srv_reply_error(r, 500, "the storage failed (%s)", fota_strerror(err));
		break;
	}
}

/* Checks a name given in JSON or a query: text of 1 to max characters, without control
 * characters or path tricks. Answers 400 and returns false when it is not. */
static bool name_ok(struct fota_srv_req *r, const char *field, const char *s, size_t len,
		    size_t max)
{
	int err = fota_srv_text_check(s, len, max);

	if (err == FOTA_ERR_TOOLONG) {
		fota_srv_reply_error(r, 400, "%s: more than %zu characters", field, max);
		return false;
	}
	if (err || strlen(s) != len) {
		fota_srv_reply_error(r, 400, "%s: empty, or with a control character or NUL", field);
		return false;
	}
	if (!fota_srv_name_safe(s)) {
		fota_srv_reply_error(r, 400, "%s: '/', '\\\\' and '..' are not allowed", field);
		return false;
	}
	return true;
}

/* ---- the routes -------------------------------------------------------------------------- */

/* Runs fn(r, s, array) and answers 200 with the array, or the store's error about what. */
static void list(struct fota_srv_req *r, struct fota_store *s, const char *what,
		 int (*fn)(struct fota_srv_req *r, struct fota_store *s, json_t *a))
{
	json_t *a = json_array();
	int err = a ? fn(r, s, a) : FOTA_ERR_NOMEM;

	if (err) {
		json_decref(a);
		store_error(r, err, what);
		return;
	}
	fota_srv_reply_json(r, 200, a);
}

static int list_projects(struct fota_srv_req *r, struct fota_store *s, json_t *a)
{
	(void)r;
	return s->ops->project_list(s, add_project, a);
}

static int list_firmware(struct fota_srv_req *r, struct fota_store *s, json_t *a)
{
	return s->ops->firmware_list(s, r->key, add_firmware, a);
}

static int list_devices(struct fota_srv_req *r, struct fota_store *s, json_t *a)
{
	return s->ops->device_list(s, r->key, add_device, a);
}

static int list_stats(struct fota_srv_req *r, struct fota_store *s, json_t *a)
{
	return s->ops->stats_list(s, r->key, add_stat, a);
}

static void reply_targets(struct fota_srv_req *r, struct fota_store *s)
{
	json_t *a = json_array();
	int err = a ? s->ops->targets_list(s, r->key, r->fw_id, add_string, a) : FOTA_ERR_NOMEM;

	if (err) {
		json_decref(a);
		store_error(r, err, "firmware");
		return;
	}
	fota_srv_reply_json(r, 200, json_pack("{s:o}", "devices", a));
}

/* Answers 200 {"keys":[key, ...]}: the project's signing keys. */
static void reply_keys(struct fota_srv_req *r, struct fota_store *s)
{
	json_t *a = json_array();
	int err = a ? s->ops->keys_list(s, r->key, add_key, a) : FOTA_ERR_NOMEM;

	if (err) {
		json_decref(a);
		store_error(r, err, "project");
		return;
	}
	fota_srv_reply_json(r, 200, json_pack("{s:o}", "keys", a));
}

/* Reads the JSON array j of PEM public keys into v (FOTA_SRV_KEYS_MAX entries), each in
 * canonical form, into *n. Answers 400 and returns false when one is not an ECDSA P-256
 * public key, or there are too many; field names the array in the messages. */
static bool read_keys(struct fota_srv_req *r, const char *field, json_t *j,
		      struct fota_project_key *v, size_t *n)
{
	char msg[160];
	size_t i;
	json_t *k;

	if (!json_is_array(j)) {
		fota_srv_reply_error(r, 400, "%s: an array of PEM public keys is required "
				     "([\"-----BEGIN PUBLIC KEY-----\\n...\"])", field);
		return false;
	}
	if (json_array_size(j) > FOTA_SRV_KEYS_MAX) {
		fota_srv_reply_error(r, 400, "%s: at most %d keys", field, FOTA_SRV_KEYS_MAX);
		return false;
	}
	json_array_foreach(j, i, k) {
		if (!json_is_string(k)) {
			fota_srv_reply_error(r, 400, "%s[%zu]: a string is required (a PEM public "
					     "key)", field, i);
			return false;
		}
		if (fota_srv_key_canon(json_string_value(k), json_string_length(k), &v[i], msg,
				       sizeof(msg)) != FOTA_OK) {
			fota_srv_reply_error(r, 400, "%s[%zu]: %s", field, i, msg);
			return false;
		}
	}
	*n = json_array_size(j);
	return true;
}

static void put_keys(struct fota_srv_req *r, struct fota_store *s)
{
	struct fota_project_key *v = NULL;
	json_t *j;
	size_t n = 0;
	int err = s->ops->project_get(s, r->key, NULL);

	if (err) {
		store_error(r, err, "project");
		return;
	}
	j = parse_body(r);
	if (!j)
		return;
	v = calloc(FOTA_SRV_KEYS_MAX, sizeof(*v));
	if (!v) {
		fota_srv_reply_error(r, 500, "out of memory");
		goto out;
	}
	if (!read_keys(r, "the body", j, v, &n))
		goto out;
	err = s->ops->keys_set(s, r->key, v, n);
	if (err) {
		store_error(r, err, "project");
		goto out;
	}
	fota_srv_log("project %s: %zu signing key(s) set by the admin API", r->key, n);
	reply_keys(r, s);
out:
	free(v);
	json_decref(j);
}

static void get_project(struct fota_srv_req *r, struct fota_store *s)
{
	struct fota_project p;
	int err = s->ops->project_get(s, r->key, &p);

	if (err)
		store_error(r, err, "project");
	else
		fota_srv_reply_json(r, 200, project_json(&p));
}

static void delete_project(struct fota_srv_req *r, struct fota_store *s)
{
	int err;

	pthread_mutex_lock(&r->srv->files_lock);
	err = s->ops->project_delete(s, r->key, fota_srv_file_unused, r->srv);
	pthread_mutex_unlock(&r->srv->files_lock);
	if (err)
		store_error(r, err, "project");
	else
		fota_srv_reply(r, 204, NULL, NULL, 0);
}

static void delete_firmware(struct fota_srv_req *r, struct fota_store *s)
{
	int err;

	pthread_mutex_lock(&r->srv->files_lock);
	err = s->ops->firmware_delete(s, r->key, r->fw_id, fota_srv_file_unused, r->srv);
	pthread_mutex_unlock(&r->srv->files_lock);
	if (err)
		store_error(r, err, "firmware");
	else
		fota_srv_reply(r, 204, NULL, NULL, 0);
}

static void get_targets(struct fota_srv_req *r, struct fota_store *s)
{
	reply_targets(r, s);
}

static void unban(struct fota_srv_req *r, struct fota_store *s, const char *device)
{
	struct fota_device d;
	int err = s->ops->device_unban(s, r->key, device, &d);

	if (err) {
		store_error(r, err, "device in this project");
		return;
	}
	fota_srv_log("loop guard: %s unbanned by the admin API", device);
	fota_srv_reply_json(r, 200, device_json(&d));
}

/* Reads a "0" or "1" query switch into *v (kept when absent). False (answered) if bad. */
static bool switch_param(struct fota_srv_req *r, const struct fota_srv_query *q, const char *name,
			 bool *v)
{
	const char *s = fota_srv_query_get(q, name);

	if (!s)
		return true;
	if (!strcmp(s, "0") || !strcmp(s, "1")) {
		*v = s[0] == '1';
		return true;
	}
	fota_srv_reply_error(r, 400, "%s= must be 0 or 1", name);
	return false;
}

static int upload_key(void *ctx, const struct fota_project_key *k)
{
	return fota_srv_upload_add_key(ctx, k);
}

/* POST /projects/{key}/firmware?name=N&version=V: the checks that need no body, then the
 * upload starts. */
static void upload_begin(struct fota_srv_req *r, struct fota_store *s, const char *qs, size_t qlen)
{
	struct fota_srv_query q;
	struct fota_firmware old;
	const char *name, *version, *cl;
	int err;

	err = s->ops->project_get(s, r->key, NULL);
	if (err) {
		store_error(r, err, "project");
		return;
	}
	if (fota_srv_query_parse(&q, qs, qlen) != FOTA_OK) {
		fota_srv_reply_error(r, 400, "malformed query string (bad escape, invalid UTF-8 "
				     "or a control character)");
		return;
	}
	name = fota_srv_query_get(&q, "name");
	version = fota_srv_query_get(&q, "version");
	if (!name || !version) {
		fota_srv_reply_error(r, 400, "name= and version= are required");
		return;
	}
	if (fota_image_check_text(name, FOTA_IMAGE_NAME_SIZE) || !fota_srv_name_safe(name)) {
		fota_srv_reply_error(r, 400, "name=: 1 to %u printable ASCII characters without "
				     "space, quote, backslash, '/' or '..'", FOTA_IMAGE_NAME_SIZE - 1);
		return;
	}
	if (fota_image_check_text(version, FOTA_IMAGE_VERSION_SIZE) || !fota_srv_name_safe(version)) {
		fota_srv_reply_error(r, 400, "version=: 1 to %u printable ASCII characters without "
				     "space, quote, backslash, '/' or '..'", FOTA_IMAGE_VERSION_SIZE - 1);
		return;
	}
	r->upload_enabled = r->upload_all = true;
	if (!switch_param(r, &q, "enabled", &r->upload_enabled) ||
	    !switch_param(r, &q, "all_devices", &r->upload_all))
		return;
	cl = fota_srv_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > r->srv->max_firmware) {
		r->close_now = true; /* not worth waiting for */
		fota_srv_reply_error(r, 413, "the image is larger than --max-firmware (%" PRIu64
				     " bytes)", r->srv->max_firmware);
		return;
	}
	err = s->ops->firmware_find(s, r->key, name, version, &old);
	if (err == FOTA_OK) {
		fota_srv_reply_error(r, 409, "%s version %s exists (firmware %" PRId64 ")", name,
				     old.version, old.id);
		return;
	}
	if (err != FOTA_ERR_NOENT) {
		store_error(r, err, "project");
		return;
	}
	err = fota_srv_upload_begin(r->srv, name, version, &r->up);
	if (err) {
		fota_srv_reply_error(r, 500, "cannot store an upload now (%s)", fota_strerror(err));
		return;
	}
	/* The project's keys as they are now: a signature by one of them is required. */
	err = s->ops->keys_list(s, r->key, upload_key, r->up);
	if (err) {
		fota_srv_upload_free(r->up);
		r->up = NULL;
		if (err == FOTA_ERR_NOENT || err == FOTA_ERR_BUSY || err == FOTA_ERR_NOMEM)
			store_error(r, err, "project");
		else
			fota_srv_reply_error(r, 500, "the project's keys cannot be read (%s)",
					     fota_strerror(err));
		return;
	}
	r->body_kind = FOTA_BODY_UPLOAD;
}

static void upload_end(struct fota_srv_req *r)
{
	struct fota_srv *srv = r->srv;
	struct fota_store *s = fota_srv_store_get(srv);
	struct fota_firmware fw;
	unsigned status = 500;
	char msg[256], where[160];
	int err;

	if (!s) {
		fota_srv_upload_free(r->up);
		r->up = NULL;
		fota_srv_reply_error(r, 500, "the storage failed");
		return;
	}
	/* files_lock: a delete cannot remove the file between its rename and its row. */
	pthread_mutex_lock(&srv->files_lock);
	err = fota_srv_upload_finish(r->up, &fw, &status, msg, sizeof(msg));
	if (!err) {
		fw.enabled = r->upload_enabled;
		fw.all_devices = r->upload_all;
		fw.created = (int64_t)time(NULL);
		err = s->ops->firmware_add(s, r->key, &fw);
		if (err) {
			bool used = true;

			if (s->ops->sha_used(s, fw.sha256, &used) == FOTA_OK && !used)
				fota_srv_file_unused(srv, fw.sha256);
		}
	}
	pthread_mutex_unlock(&srv->files_lock);
	if (!err) {
		const char *signer = fota_srv_upload_signer(r->up);

		fota_srv_log("firmware %" PRId64 ": %s %s uploaded (%" PRId64 " bytes, sha256 %s%s%s)",
			     fw.id, fw.name, fw.version, fw.size, fw.sha256,
			     signer ? ", signed by key " : "", signer ? signer : "");
		snprintf(where, sizeof(where), "/api/v1/projects/%s/firmware/%" PRId64, r->key, fw.id);
		fota_srv_add_header(r, MHD_HTTP_HEADER_LOCATION, where);
		fota_srv_reply_json(r, 201, firmware_json(&fw));
	} else if (status != 201 && status != 500) {
		fota_srv_reply_error(r, status, "%s", msg);
	} else if (err == FOTA_ERR_EXIST) {
		fota_srv_reply_error(r, 409, "%s version %s exists", fw.name, fw.version);
	} else if (status == 201) {
		store_error(r, err, "project");
	} else {
		fota_srv_reply_error(r, 500, "%s", msg);
	}
	/* Whatever the outcome, the temporary file goes before the client reads the answer
	 * (a refused upload leaves nothing behind, even for a moment). */
	fota_srv_upload_free(r->up);
	r->up = NULL;
	fota_srv_store_put(srv, s);
}

/* ---- JSON bodies ------------------------------------------------------------------------- */

/* Parses the JSON body; answers 400 and returns NULL when it is not JSON. */
static json_t *parse_body(struct fota_srv_req *r)
{
	json_error_t e;
	json_t *j;

	if (!r->body_size) {
		fota_srv_reply_error(r, 400, "a JSON body is required");
		return NULL;
	}
	j = json_loadb(r->body, r->body_size, JSON_REJECT_DUPLICATES, &e);
	if (!j)
		fota_srv_reply_error(r, 400, "the body is not valid JSON: %s (line %d, column %d)",
				     e.text, e.line, e.column);
	return j;
}

static void create_project(struct fota_srv_req *r, struct fota_store *s)
{
	json_t *j = parse_body(r), *name, *keys;
	struct fota_project_key *kv = NULL;
	struct fota_project p;
	const char *k;
	json_t *v;
	char key[FOTA_SRV_KEY_LEN + 1], where[80];
	size_t nkeys = 0;
	int err = FOTA_ERR_EXIST;

	if (!j)
		return;
	if (!json_is_object(j)) {
		fota_srv_reply_error(r, 400, "the body must be an object: {\"name\":\"...\"}");
		goto out;
	}
	json_object_foreach(j, k, v) {
		if (strcmp(k, "name") && strcmp(k, "keys")) {
			fota_srv_reply_error(r, 400, "unknown field '%s'", k);
			goto out;
		}
	}
	name = json_object_get(j, "name");
	if (!json_is_string(name)) {
		fota_srv_reply_error(r, 400, "name: a string is required");
		goto out;
	}
	if (!name_ok(r, "name", json_string_value(name), json_string_length(name),
		     FOTA_STORE_NAME_CHARS))
		goto out;
	keys = json_object_get(j, "keys");
	if (keys) {
		kv = calloc(FOTA_SRV_KEYS_MAX, sizeof(*kv));
		if (!kv) {
			fota_srv_reply_error(r, 500, "out of memory");
			goto out;
		}
		if (!read_keys(r, "keys", keys, kv, &nkeys))
			goto out;
	}
	for (int tries = 0; err == FOTA_ERR_EXIST && tries < 3; tries++) {
		uint8_t b[FOTA_SRV_KEY_LEN / 2];

		if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
			fota_srv_reply_error(r, 500, "no random numbers: %s", strerror(errno));
			goto out;
		}
		for (size_t i = 0; i < sizeof(b); i++)
			snprintf(key + 2 * i, 3, "%02x", b[i]);
		err = s->ops->project_create(s, key, json_string_value(name), (int64_t)time(NULL), &p);
	}
	if (err) {
		store_error(r, err, "project");
		goto out;
	}
	if (nkeys) {
		/* Both or neither: a project that should require signatures is never left
		 * without its keys. */
		err = s->ops->keys_set(s, p.key, kv, nkeys);
		if (!err)
			err = s->ops->project_get(s, p.key, &p);
		if (err) {
			pthread_mutex_lock(&r->srv->files_lock);
			s->ops->project_delete(s, p.key, fota_srv_file_unused, r->srv);
			pthread_mutex_unlock(&r->srv->files_lock);
			store_error(r, err == FOTA_ERR_NOENT ? FOTA_ERR_IO : err, "project");
			goto out;
		}
	}
	fota_srv_log("project %s created%s", p.key, nkeys ? " with signing keys" : "");
	snprintf(where, sizeof(where), "/api/v1/projects/%s", p.key);
	fota_srv_add_header(r, MHD_HTTP_HEADER_LOCATION, where);
	fota_srv_reply_json(r, 201, project_json(&p));
out:
	free(kv);
	json_decref(j);
}

static void patch_firmware(struct fota_srv_req *r, struct fota_store *s)
{
	json_t *j = parse_body(r), *v;
	struct fota_firmware f;
	int enabled = -1, all = -1, err;
	const char *k;

	if (!j)
		return;
	if (!json_is_object(j)) {
		fota_srv_reply_error(r, 400, "the body must be an object: "
				     "{\"enabled\":bool,\"all_devices\":bool}");
		goto out;
	}
	json_object_foreach(j, k, v) {
		int *dst = !strcmp(k, "enabled") ? &enabled : !strcmp(k, "all_devices") ? &all : NULL;

		if (!dst) {
			fota_srv_reply_error(r, 400, "unknown field '%s'", k);
			goto out;
		}
		if (!json_is_boolean(v)) {
			fota_srv_reply_error(r, 400, "%s: true or false", k);
			goto out;
		}
		*dst = json_is_true(v);
	}
	if (enabled < 0 && all < 0) {
		fota_srv_reply_error(r, 400, "give enabled, all_devices or both");
		goto out;
	}
	err = s->ops->firmware_update(s, r->key, r->fw_id, enabled, all, &f);
	if (err)
		store_error(r, err, "firmware");
	else
		fota_srv_reply_json(r, 200, firmware_json(&f));
out:
	json_decref(j);
}

static void put_targets(struct fota_srv_req *r, struct fota_store *s)
{
	json_t *j = parse_body(r), *v;
	const char **ids = NULL;
	size_t i, n;
	int err;

	if (!j)
		return;
	if (!json_is_array(j)) {
		fota_srv_reply_error(r, 400, "the body must be an array of device ids");
		goto out;
	}
	n = json_array_size(j);
	ids = calloc(n ? n : 1, sizeof(*ids));
	if (!ids) {
		fota_srv_reply_error(r, 500, "out of memory");
		goto out;
	}
	json_array_foreach(j, i, v) {
		if (!json_is_string(v) || !fota_srv_id_valid(json_string_value(v)) ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			fota_srv_reply_error(r, 400, "item %zu is not a device id (1-64 of 0-9 A-Z "
					     "a-z : _ -)", i);
			goto out;
		}
		ids[i] = json_string_value(v);
	}
	err = s->ops->targets_set(s, r->key, r->fw_id, ids, n);
	if (err)
		store_error(r, err, "firmware");
	else
		reply_targets(r, s);
out:
	free(ids);
	json_decref(j);
}

/* ---- entry points ------------------------------------------------------------------------ */

/* Prepares to take a JSON body: 415 unless it is declared JSON, 413 when it says it is too
 * long. Returns true when the body is to be read. */
static bool want_json(struct fota_srv_req *r)
{
	const char *cl = fota_srv_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (!fota_srv_media_json(fota_srv_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		fota_srv_reply_error(r, 415, "the body must be JSON (Content-Type: application/json)");
		return false;
	}
	if (cl && strtoull(cl, NULL, 10) > FOTA_SRV_JSON_MAX) {
		r->close_now = true;
		fota_srv_reply_error(r, 413, "a JSON body is at most %u bytes", FOTA_SRV_JSON_MAX);
		return false;
	}
	r->body_kind = FOTA_BODY_JSON;
	return true;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The token check, behind the limit on failed authentications per client (authlimit.h):
 * a client held back is answered 429 with Retry-After, its token not even looked at; a
 * failure is counted, a success forgets the client. Returns true when authorized;
 * otherwise the answer is queued. The token itself is never written anywhere. */
static bool authorized(struct fota_srv_req *r)
{
	struct fota_srv_authlimit *al = &r->srv->auth;
	uint64_t now = mono_ms(), wait = fota_srv_authlimit_check(al, &r->client_ip, now);
	const char *tok;
	size_t tlen = 0;
	uint32_t failures = 0;
	char secs[24];

	if (wait) {
		snprintf(secs, sizeof(secs), "%llu", (unsigned long long)((wait + 999) / 1000));
		fota_srv_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs);
		fota_srv_reply_error(r, 429, "too many failed authentications from %s: try again "
				     "in %s s", r->client[0] ? r->client : "this address", secs);
		return false;
	}
	tok = fota_srv_bearer(fota_srv_header(r, MHD_HTTP_HEADER_AUTHORIZATION), &tlen);
	if (tok && fota_srv_token_equal(tok, tlen, r->srv->token_sha)) {
		fota_srv_authlimit_success(al, &r->client_ip);
		return true;
	}
	wait = fota_srv_authlimit_fail(al, &r->client_ip, now, &failures);
	if (wait) {
		snprintf(secs, sizeof(secs), "%llu", (unsigned long long)((wait + 999) / 1000));
		fota_srv_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs);
		fota_srv_log("admin API: %u failed authentications in a row from %s%s: its "
			     "requests are refused (429) for %s s", failures,
			     r->client[0] ? r->client : "-", r->https ? " (https)" : "", secs);
	}
	fota_srv_add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"fota\"");
	fota_srv_reply_error(r, 401, tok ? "wrong token" :
			     "an Authorization: Bearer <token> header is required");
	return false;
}

void fota_srv_admin_begin(struct fota_srv_req *r, const struct fota_srv_path *path, const char *q,
			  size_t qlen)
{
	const struct route *rt;
	struct fota_store *s;
	int64_t id = 0;

	if (!r->srv->have_token) {
		fota_srv_reply_error(r, 503, "the admin API is off: start fota-server with "
				     "--admin-token or FOTA_ADMIN_TOKEN");
		return;
	}
	if (!authorized(r))
		return;
	rt = find_route(path);
	if (!rt) {
		fota_srv_reply_error(r, 404, "no such path");
		return;
	}
	if (!allowed(rt, r->method)) {
		fota_srv_add_header(r, MHD_HTTP_HEADER_ALLOW, rt->allow);
		fota_srv_reply_error(r, 405, "%s is not allowed here (allowed: %s)", r->method,
				     rt->allow);
		return;
	}
	r->op = rt->op;
	if (rt->n >= 2) {
		if (!fota_srv_key_valid(path->seg[3])) {
			fota_srv_reply_error(r, 404, "no such project");
			return;
		}
		memcpy(r->key, path->seg[3], sizeof(r->key));
	}
	if (rt->op == OP_FIRMWARE || rt->op == OP_TARGETS) {
		if (fota_srv_parse_id(path->seg[5], &id)) {
			fota_srv_reply_error(r, 404, "no such firmware");
			return;
		}
		r->fw_id = id;
	}
	if (rt->op == OP_UNBAN && !fota_srv_id_valid(path->seg[5])) {
		fota_srv_reply_error(r, 404, "no such device in this project");
		return;
	}

	/* Routes that take a JSON body answer at its end. */
	if ((rt->op == OP_PROJECTS && !strcmp(r->method, "POST")) ||
	    (rt->op == OP_FIRMWARE && !strcmp(r->method, "PATCH")) ||
	    (rt->op == OP_TARGETS && !strcmp(r->method, "PUT")) ||
	    (rt->op == OP_KEYS && !strcmp(r->method, "PUT"))) {
		want_json(r);
		return;
	}

	s = fota_srv_store_get(r->srv);
	if (!s) {
		fota_srv_reply_error(r, 500, "the storage failed");
		return;
	}
	switch (rt->op) {
	case OP_PROJECTS:
		list(r, s, "project", list_projects);
		break;
	case OP_PROJECT:
		if (!strcmp(r->method, "DELETE"))
			delete_project(r, s);
		else
			get_project(r, s);
		break;
	case OP_FIRMWARE_LIST:
		if (!strcmp(r->method, "POST"))
			upload_begin(r, s, q, qlen);
		else
			list(r, s, "project", list_firmware);
		break;
	case OP_FIRMWARE:
		delete_firmware(r, s);
		break;
	case OP_TARGETS:
		get_targets(r, s);
		break;
	case OP_DEVICES:
		list(r, s, "project", list_devices);
		break;
	case OP_UNBAN:
		unban(r, s, path->seg[5]);
		break;
	case OP_STATS:
		list(r, s, "project", list_stats);
		break;
	case OP_KEYS:
		reply_keys(r, s);
		break;
	default:
		fota_srv_reply_error(r, 404, "no such path");
		break;
	}
	fota_srv_store_put(r->srv, s);
}

void fota_srv_admin_body(struct fota_srv_req *r, const char *data, size_t len)
{
	if (r->body_kind == FOTA_BODY_UPLOAD) {
		fota_srv_upload_feed(r->up, data, len);
		return;
	}
	if (r->body_kind != FOTA_BODY_JSON || r->body_over)
		return;
	if (r->body_size + len > FOTA_SRV_JSON_MAX) {
		r->body_over = true; /* the rest is read and dropped; 413 at the end */
		free(r->body);
		r->body = NULL;
		r->body_size = 0;
		return;
	}
	if (!r->body) {
		r->body = malloc(FOTA_SRV_JSON_MAX);
		if (!r->body) {
			r->body_over = true;
			return;
		}
	}
	memcpy(r->body + r->body_size, data, len);
	r->body_size += len;
}

void fota_srv_admin_end(struct fota_srv_req *r)
{
	struct fota_store *s;

	if (r->body_kind == FOTA_BODY_UPLOAD) {
		upload_end(r);
		return;
	}
	if (r->body_kind != FOTA_BODY_JSON)
		return;
	if (r->body_over) {
		fota_srv_reply_error(r, 413, "a JSON body is at most %u bytes", FOTA_SRV_JSON_MAX);
		return;
	}
	s = fota_srv_store_get(r->srv);
	if (!s) {
		fota_srv_reply_error(r, 500, "the storage failed");
		return;
	}
	switch (r->op) {
	case OP_PROJECTS:
		create_project(r, s);
		break;
	case OP_FIRMWARE:
		patch_firmware(r, s);
		break;
	case OP_TARGETS:
		put_targets(r, s);
		break;
	case OP_KEYS:
		put_keys(r, s);
		break;
	default:
		break;
	}
	fota_srv_store_put(r->srv, s);
}

void fota_srv_admin_free(struct fota_srv_req *r)
{
	free(r->body);
	r->body = NULL;
	fota_srv_upload_free(r->up);
	r->up = NULL;
}
