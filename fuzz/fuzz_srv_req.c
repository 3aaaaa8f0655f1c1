/*
 * fuzz_srv_req.c - fota-server's request handling, whole: the HTTP front (http.c: limits,
 * routing, path and query checks, deferred replies, the access log), the device API
 * (device.c: decision, refusals, the image with Range and If-Range) and the admin API
 * (admin.c: bearer token, routes, JSON bodies, uploads), on a real SQLite store and real
 * firmware files, driven the way libmicrohttpd 0.9.75 drives them (fuzz/fake_mhd.h).
 *
 * The server is configured and started once (fota_srv_start: its callbacks land in the
 * fake MHD; then fota_srv_stop: no threads run while the fuzzer does). Its store is a
 * shared-cache in-memory SQLite database seeded with two projects, firmware (one for all
 * devices, one with an upgrade list, one disabled), a device bound to the other project
 * and a banned device; before every input the database is put back as seeded (SQLite's
 * backup API from a snapshot) and, after an input that could write files, DATA/firmware
 * too. Keys: "00112233445566778899aabbccddeeff" (project "fuzz", firmware
 * AirM2M_780E_LTE_AT V2 for all, V3 listed for 864000000000008, V4 disabled; device
 * 862222222222222 banned) and "ffeeddccbbaa99887766554433221100" (project "other",
 * device 861111111111111). Admin token: "fuzz-admin-token".
 *
 * Input: 1 byte of setup, then up to 8 requests separated by "\n~~~\n", each:
 *   1 control byte, "METHOD TARGET\n", header lines "Name: value\n" (CR before LF
 *   dropped; lines without ':' ignored), an empty line, the body.
 *   setup bit 0: the admin API is off (no token); bit 1: the peer is a --trust-proxy
 *     (X-Forwarded-For counts in the log); bit 2: draining; bit 3: the peer is IPv6,
 *     bit 4: IPv4-mapped IPv6; bit 5: MHD knows no peer address; bit 6: --max-firmware
 *     is 600 bytes (else 64 KiB)
 *   control bits 0-2: body chunk sizes 1, 3, 16, 100, 1000, random up to 64, random up
 *     to all, all; bits 3-4: the request ends completed (0, 1), client abort (2) or
 *     timeout (3); bit 5: MHD_queue_response fails; bit 6: MHD has no memory for a
 *     response
 * MHD's part: a body is delivered when Content-Length or Transfer-Encoding is given
 * (without either a body gets "Content-Length: <its length>" added, as a client would
 * send it); a Content-Length that is not a number is answered 400 by MHD without the
 * handler; one longer than the body ends in a timeout after the bytes there are. The
 * request target is handed over as MHD does (a C string, cut at a NUL; the '?' then
 * replaced in place; the version after it in the same buffer).
 *
 * Invariants: the access handler consumes every body byte and returns MHD_YES unless MHD
 * refused (simulated); after the last call a response is queued, exactly once, with a
 * status 200-599; every header MHD is given is printable ASCII; a JSON body parses, is
 * ASCII without control bytes (DEL allowed), and an error (>= 400) is {"error": "..."} or
 * the device API's {"code": N, "msg": "..."}; 204 has no body, 201 a Location, 401 a
 * WWW-Authenticate, 405 an Allow; an image is sent only to a GET or HEAD of the device
 * API, as 200 (the whole file) or 206 (offset and length inside the file, agreeing with
 * Content-Range, and only when a Range header was sent), 416 says "bytes * /size"; a 2xx
 * of the admin API only with the token; a PERSISTENT body still holds its bytes when the
 * response goes out (after the completed callback); every log line (the access log
 * included) is printable ASCII; the request is freed (completed callback), no response
 * and no file descriptor of DATA stay behind.
 *
 * FUZZ_SRV_TOKEN_METHODS=1 in the environment turns every byte of a method that is not a
 * token character (RFC 9110) into '_' before MHD sees it: libmicrohttpd 0.9.75 passes any
 * method bytes, and http.c logs the method as it came (the finding of
 * fuzz/corpus/fuzz_srv_req/crash-method-log-injection); with it, a long run explores past
 * that finding while it is open.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <mbedtls/sha256.h>
#include <sqlite3.h>

#include "fake_mhd.h"
#include "log.h"
#include "server.h"
#include "fuzz_util.h"

#define TOKEN "fuzz-admin-token"
#define KEY1 "00112233445566778899aabbccddeeff"
#define KEY2 "ffeeddccbbaa99887766554433221100"
#define FWNAME "AirM2M_780E_LTE_AT"
#define SEP "\n~~~\n"
#define REQ_MAX 8
#define FILE_SIZE 1000u

static struct fota_srv srv;
static char dir[128], db_path[96], seed_file[PATH_MAX];
static sqlite3 *keep, *snap; /* the shared database (kept alive), its seeded copy */
static uint8_t file_bytes[FILE_SIZE];
static bool files_dirty, auth_dirty;
static bool token_methods;

/* ---- log.c's functions: the lines are checked, not written ------------------------------- */

void fota_srv_log_line(const char *line, size_t len)
{
	static int verbose = -1;

	if (verbose < 0)
		verbose = getenv("FUZZ_SRV_LOG") != NULL;
	if (verbose)
		fprintf(stderr, "log: %.*s\n", (int)len, line);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7E) {
			fprintf(stderr, "log line with byte 0x%02x at %zu: %.*s\n",
				(unsigned char)line[i], i, (int)len, line);
			CHECK(!"a log line that is not printable ASCII");
		}
}

void fota_srv_log(const char *fmt, ...)
{
	char buf[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	fota_srv_log_line(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* ---- set-up --------------------------------------------------------------------------- */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	if (dir[0])
		nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void write_seed_file(void)
{
	int fd = open(seed_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0);
	CHECK(write(fd, file_bytes, FILE_SIZE) == (ssize_t)FILE_SIZE);
	close(fd);
}

static void add_fw(struct fota_store *s, const char *key, const char *name, const char *version,
		   bool enabled, bool all, const char *sha, int64_t *id)
{
	struct fota_firmware fw = { 0 };

	snprintf(fw.name, sizeof(fw.name), "%s", name);
	snprintf(fw.version, sizeof(fw.version), "%s", version);
	snprintf(fw.sha256, sizeof(fw.sha256), "%s", sha);
	fw.size = FILE_SIZE;
	fw.enabled = enabled;
	fw.all_devices = all;
	fw.created = 1700000000;
	CHECK_EQ(s->ops->firmware_add(s, key, &fw), FOTA_OK);
	*id = fw.id;
}

static void device_check(struct fota_store *s, const char *key, const char *dev, const char *ver)
{
	struct fota_check_req rq = { .project_key = key, .device = dev, .firmware_name = FWNAME,
				     .version = ver, .now = (int64_t)time(NULL) };
	struct fota_check_res res;

	CHECK_EQ(s->ops->check(s, &rq, &res), FOTA_OK);
}

static void seed(struct fota_store *s)
{
	static const char *const listed[] = { "864000000000008" };
	uint8_t sum[32];
	char sha[65];
	int64_t id1, id2, id3, id4;
	bool banned = false;

	for (size_t i = 0; i < FILE_SIZE; i++)
		file_bytes[i] = (uint8_t)(i * 7 + (i >> 8));
	memcpy(file_bytes, "FOTA", 4);
	CHECK_EQ(mbedtls_sha256_ret(file_bytes, FILE_SIZE, sum, 0), 0);
	for (int i = 0; i < 32; i++)
		snprintf(sha + 2 * i, 3, "%02x", sum[i]);
	CHECK_EQ(fota_srv_file_path(&srv, sha, seed_file, sizeof(seed_file)), FOTA_OK);
	write_seed_file();

	CHECK_EQ(s->ops->project_create(s, KEY1, "fuzz", 1700000000, NULL), FOTA_OK);
	CHECK_EQ(s->ops->project_create(s, KEY2, "other", 1700000001, NULL), FOTA_OK);
	add_fw(s, KEY1, FWNAME, "V2", true, true, sha, &id1);
	add_fw(s, KEY1, FWNAME, "V3", true, false, sha, &id2);
	add_fw(s, KEY1, FWNAME, "V4", false, true, sha, &id3);
	add_fw(s, KEY2, "other", "1.0", true, true, sha, &id4);
	CHECK_EQ(s->ops->targets_set(s, KEY1, id2, listed, 1), FOTA_OK);
	device_check(s, KEY2, "861111111111111", "0.9");
	device_check(s, KEY1, "862222222222222", "V1");
	for (int i = 0; i < FOTA_STORE_GUARD_STARTS + 1; i++)
		CHECK_EQ(s->ops->download_start(s, "862222222222222", id1, (int64_t)time(NULL),
						&banned), FOTA_OK);
	CHECK(banned);
}

static void backup(sqlite3 *to, sqlite3 *from)
{
	sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
	int rc;

	CHECK(b != NULL);
	rc = sqlite3_backup_step(b, -1);
	if (rc != SQLITE_DONE)
		fprintf(stderr, "sqlite backup: %s\n", sqlite3_errstr(rc));
	CHECK_EQ(rc, SQLITE_DONE); /* a store connection that kept a lock fails this */
	CHECK_EQ(sqlite3_backup_finish(b), SQLITE_OK);
}

/* The folders of earlier runs that died (a finding aborts: no atexit) are removed. */
static void remove_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX];
		int pid;

		if (sscanf(e->d_name, "fuzz-srv-%d-", &pid) != 1 || pid <= 0 ||
		    kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		nftw(path, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	}
	closedir(d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	struct fota_store *s;
	char uri[128];

	(void)argc;
	(void)argv;
	/* Before SQLite's first use: URI file names (the shared in-memory database). */
	CHECK_EQ(sqlite3_config(SQLITE_CONFIG_URI, 1), SQLITE_OK);
	remove_stale(base);
	snprintf(dir, sizeof(dir), "%s/fuzz-srv-%d-XXXXXX", base, (int)getpid());
	CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	snprintf(uri, sizeof(uri), "file:fuzzsrv%d?mode=memory&cache=shared", (int)getpid());
	snprintf(db_path, sizeof(db_path), "%s", uri);
	CHECK_EQ(sqlite3_open_v2(uri, &keep, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_URI, NULL), SQLITE_OK);

	CHECK_EQ(fota_srv_init(&srv), FOTA_OK);
	snprintf(srv.host, sizeof(srv.host), "127.0.0.1");
	srv.port = 0;
	snprintf(srv.data_dir, sizeof(srv.data_dir), "%s", dir);
	snprintf(srv.fw_dir, sizeof(srv.fw_dir), "%s/firmware", dir);
	snprintf(srv.db_url, sizeof(srv.db_url), "sqlite:%s", uri);
	srv.have_token = true;
	CHECK_EQ(mbedtls_sha256_ret((const unsigned char *)TOKEN, strlen(TOKEN), srv.token_sha, 0), 0);
	srv.max_firmware = 64u << 10;
	srv.threads = 1;

	s = fota_srv_store_get(&srv);
	CHECK(s != NULL);
	CHECK_EQ(fota_srv_files_init(&srv, s), FOTA_OK);
	seed(s);
	fota_srv_store_put(&srv, s);

	CHECK_EQ(sqlite3_open_v2(":memory:", &snap, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	backup(snap, keep);

	/* The callbacks go to the fake MHD; then the threads stop (the fuzzer is the worker). */
	CHECK_EQ(fota_srv_start(&srv), FOTA_OK);
	CHECK(fake_mhd.access && fake_mhd.uri_log && fake_mhd.completed && fake_mhd.notify);
	fota_srv_stop(&srv);
	CHECK(!srv.seen.started);
	token_methods = getenv("FUZZ_SRV_TOKEN_METHODS") != NULL;
	return 0;
}

/* ---- one request ---------------------------------------------------------------------- */

struct req {
	uint8_t ctl;
	char method[64];
	char *line;          /* target + ' ' + version, the target possibly with a NUL */
	size_t tlen;
	struct fake_hdr hdr[FAKE_HDR_MAX];
	size_t nhdr;
	char *hbuf;          /* the header strings */
	size_t head_bytes;
	const char *body;
	size_t blen;
};

static const char *hdr_of(const struct req *q, const char *name)
{
	for (size_t i = 0; i < q->nhdr; i++)
		if (!strcasecmp(q->hdr[i].name, name))
			return q->hdr[i].value;
	return NULL;
}

static const char *resp_hdr(const struct MHD_Response *r, const char *name)
{
	for (int i = 0; i < r->nh; i++)
		if (!strcasecmp(r->hname[i], name))
			return r->hvalue[i];
	return NULL;
}

static const char *trim(char *s)
{
	size_t n;

	s += strspn(s, " \t");
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* Splits one request's bytes; false when MHD would not get as far as a request. */
static bool parse(struct req *q, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *nl, *sp;
	char *h;
	size_t k;

	memset(q, 0, sizeof(*q));
	if (n < 1)
		return false;
	q->ctl = *p++;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl)
		nl = end;
	sp = memchr(p, ' ', (size_t)(nl - p));
	if (!sp || sp == p || (size_t)(sp - p) >= sizeof(q->method) ||
	    memchr(p, '\0', (size_t)(sp - p)))
		return false;
	memcpy(q->method, p, (size_t)(sp - p));
	if (token_methods) /* FUZZ_SRV_TOKEN_METHODS: see the top of the file */
		for (char *m = q->method; *m; m++)
			if (!strchr("!#$%&'*+-.^_`|~", *m) && !isalnum((unsigned char)*m))
				*m = '_';
	k = (size_t)(nl - sp - 1);
	if (k && sp[k] == '\r')
		k--;
	q->tlen = k;
	q->line = malloc(k + 16);
	CHECK(q->line != NULL);
	memcpy(q->line, sp + 1, k);
	memcpy(q->line + k, "\0HTTP/1.1", 10); /* MHD puts a NUL where the space was */
	q->head_bytes = (size_t)(nl - p) + 1;
	p = nl < end ? nl + 1 : end;

	q->hbuf = malloc((size_t)(end - p) + 1);
	CHECK(q->hbuf != NULL);
	h = q->hbuf;
	while (p < end) {
		char *colon;
		size_t len;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		len = (size_t)(nl - p);
		q->head_bytes += len + 1;
		if (len && p[len - 1] == '\r')
			len--;
		if (len == 0) {
			p = nl < end ? nl + 1 : end;
			break;
		}
		memcpy(h, p, len);
		h[len] = '\0';
		colon = memchr(h, ':', len);
		p = nl < end ? nl + 1 : end;
		/* MHD keeps names and values as C strings: a NUL cuts them. */
		if (colon && colon != h && q->nhdr < FAKE_HDR_MAX - 1) {
			*colon = '\0';
			q->hdr[q->nhdr].name = h;
			q->hdr[q->nhdr].value = trim(colon + 1);
			q->nhdr++;
		}
		h += len + 1;
	}
	q->body = (const char *)p;
	q->blen = (size_t)(end - p);
	return true;
}

static void free_req(struct req *q)
{
	free(q->line);
	free(q->hbuf);
}

/* ASCII without C0 controls (DEL is allowed: JSON needs no escape for it). */
static bool is_ascii_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7F)
			return false;
	return true;
}

static void check_json(const struct MHD_Response *r, unsigned status)
{
	json_error_t e;
	json_t *j;

	if (!is_ascii_text(r->body, r->len))
		fprintf(stderr, "response body (%u) is not ASCII: %s\n", status, r->body);
	CHECK(is_ascii_text(r->body, r->len));
	j = json_loadb(r->body, r->len, 0, &e);
	if (!j)
		fprintf(stderr, "response body is not JSON: %s\n", r->body);
	CHECK(j != NULL);
	if (status >= 400) {
		json_t *err = json_object_get(j, "error");

		CHECK(json_is_object(j));
		CHECK(json_is_string(err) ||
		      (json_is_integer(json_object_get(j, "code")) &&
		       json_is_string(json_object_get(j, "msg"))));
	}
	json_decref(j);
}

static void check_file(const struct req *q, const struct MHD_Response *r, unsigned status)
{
	unsigned long long a, b, total;
	const char *cr = resp_hdr(r, "Content-Range");
	struct stat st;
	char tail;

	CHECK(!strcmp(q->method, "GET") || !strcmp(q->method, "HEAD"));
	CHECK(status == 200 || status == 206);
	CHECK_EQ(fstat(r->fd, &st), 0);
	CHECK(r->size >= 1);
	CHECK(r->offset + r->size <= (uint64_t)st.st_size);
	CHECK(resp_hdr(r, "ETag") && resp_hdr(r, "Accept-Ranges"));
	if (status == 200) {
		CHECK_EQ(r->offset, 0);
		CHECK_EQ(r->size, st.st_size);
		return;
	}
	CHECK(hdr_of(q, "Range") != NULL);
	CHECK(cr != NULL);
	CHECK_EQ(sscanf(cr, "bytes %llu-%llu/%llu%c", &a, &b, &total, &tail), 3);
	CHECK_EQ(a, r->offset);
	CHECK_EQ(b, r->offset + r->size - 1);
	CHECK_EQ(total, st.st_size);
}

static void check_response(const struct req *q, const struct fota_srv_req *sr,
			   const struct MHD_Connection *c)
{
	const struct MHD_Response *r = c->queued;
	unsigned st = c->status;
	const char *ct;

	CHECK(st >= 200 && st <= 599);
	CHECK(!r->bad_header);
	if (r->is_fd) {
		CHECK_EQ(sr->route, FOTA_ROUTE_DEVICE);
		check_file(q, r, st);
	} else {
		ct = resp_hdr(r, "Content-Type");
		if (ct && !strncmp(ct, "application/json", 16))
			check_json(r, st);
		else
			CHECK(st < 400 || st == 416);
	}
	if (st == 204 || st == 416)
		CHECK_EQ(r->len, 0);
	if (st == 201) {
		const char *loc = resp_hdr(r, "Location");

		CHECK(loc && !strncmp(loc, "/api/v1/projects/", 17));
	}
	if (st == 405)
		CHECK(resp_hdr(r, "Allow") != NULL);
	if (st == 401)
		CHECK(resp_hdr(r, "WWW-Authenticate") != NULL);
	if (st == 416) {
		const char *cr = resp_hdr(r, "Content-Range");

		CHECK(cr && !strncmp(cr, "bytes */", 8));
	}
	if (sr->route == FOTA_ROUTE_ADMIN && st < 300) {
		const char *auth = hdr_of(q, "Authorization");

		CHECK(srv.have_token);
		CHECK(auth && strstr(auth, TOKEN));
	}
}

static const size_t chunk_sizes[8] = { 1, 3, 16, 100, 1000, 0, 0, 0 };

/* One request on connection c, as MHD 0.9.75 would run it. Returns true when MHD closes
 * the connection after it. */
static bool run_request(struct MHD_Connection *c, struct req *q, struct fuzz_rng *rng)
{
	static const enum MHD_RequestTerminationCode ends[4] = {
		MHD_REQUEST_TERMINATED_COMPLETED_OK, MHD_REQUEST_TERMINATED_COMPLETED_OK,
		MHD_REQUEST_TERMINATED_CLIENT_ABORT, MHD_REQUEST_TERMINATED_TIMEOUT_REACHED,
	};
	const char *cl = hdr_of(q, "Content-Length"), *te = hdr_of(q, "Transfer-Encoding");
	enum MHD_RequestTerminationCode toe = ends[(q->ctl >> 3) & 3];
	bool failing = q->ctl & 0x60, mhd_400 = false, short_body = false;
	struct fota_srv_req *sr;
	void *cls = NULL;
	char clbuf[24], *qm;
	size_t deliver = 0, off, sz;
	enum MHD_Result res;

	if (te) {
		deliver = q->blen;
	} else if (cl) {
		unsigned long long v;

		if (!*cl || strspn(cl, "0123456789") != strlen(cl) || strlen(cl) > 18) {
			mhd_400 = true;
		} else {
			v = strtoull(cl, NULL, 10);
			deliver = v < q->blen ? (size_t)v : q->blen;
			short_body = v > q->blen;
		}
	} else if (q->blen && q->nhdr < FAKE_HDR_MAX) {
		snprintf(clbuf, sizeof(clbuf), "%zu", q->blen);
		q->hdr[q->nhdr].name = "Content-Length";
		q->hdr[q->nhdr].value = clbuf;
		q->nhdr++;
		deliver = q->blen;
	}
	memcpy(c->hdr, q->hdr, q->nhdr * sizeof(q->hdr[0]));
	c->nhdr = q->nhdr;
	c->header_size = q->head_bytes;
	c->queued = NULL;
	c->status = 0;
	c->queue_calls = 0;
	c->mhd_status = 0;
	c->refuse_queue = q->ctl & 0x20;
	fake_mhd.oom = q->ctl & 0x40;

	auth_dirty = true;
	if (strcmp(q->method, "GET") && strcmp(q->method, "HEAD"))
		files_dirty = true; /* an upload or a delete maybe: DATA/firmware is put back */
	cls = fake_mhd.uri_log(fake_mhd.uri_log_cls, q->line, c);
	CHECK(cls != NULL);
	sr = cls;
	qm = strchr(q->line, '?');
	if (qm)
		*qm = '\0';
	if (mhd_400) {
		c->mhd_status = 400; /* MHD answers it; the handler never sees the request */
		toe = MHD_REQUEST_TERMINATED_WITH_ERROR;
		goto done;
	}
	sz = 0;
	res = fake_mhd.access(fake_mhd.access_cls, c, q->line, q->method, q->line + q->tlen + 1,
			      NULL, &sz, &cls);
	CHECK(cls == sr);
	if (res != MHD_YES) {
		CHECK(failing);
		toe = MHD_REQUEST_TERMINATED_WITH_ERROR;
		goto done;
	}
	if (!c->queued) {
		for (off = 0; off < deliver && !c->queued;) {
			size_t want = chunk_sizes[q->ctl & 7], n;

			if (want == 0)
				want = 1 + fuzz_rng_next(rng) % ((q->ctl & 7) == 5 ? 64 : deliver);
			if ((q->ctl & 7) == 7)
				want = deliver;
			n = want < deliver - off ? want : deliver - off;
			sz = n;
			res = fake_mhd.access(fake_mhd.access_cls, c, q->line, q->method,
					      q->line + q->tlen + 1, q->body + off, &sz, &cls);
			CHECK_EQ(sz, 0); /* every byte taken */
			if (res != MHD_YES) {
				CHECK(failing);
				toe = MHD_REQUEST_TERMINATED_WITH_ERROR;
				goto done;
			}
			off += n;
		}
		if (short_body && !c->queued) {
			toe = MHD_REQUEST_TERMINATED_TIMEOUT_REACHED; /* the rest never comes */
			goto done;
		}
		if (!c->queued) {
			sz = 0;
			res = fake_mhd.access(fake_mhd.access_cls, c, q->line, q->method,
					      q->line + q->tlen + 1, NULL, &sz, &cls);
			if (res != MHD_YES) {
				CHECK(failing);
				toe = MHD_REQUEST_TERMINATED_WITH_ERROR;
				goto done;
			}
		}
	}
	/* A response, exactly one, whatever came. */
	if (!failing)
		CHECK(c->queued != NULL);
	CHECK(c->queue_calls <= 1);
	if (c->queued)
		check_response(q, sr, c);
done:
	if (!c->queued && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		toe = MHD_REQUEST_TERMINATED_WITH_ERROR;
	fake_mhd.completed(fake_mhd.completed_cls, c, &cls, toe);
	CHECK(cls == NULL);
	if (c->queued) {
		CHECK(fake_mhd_sent(c->queued)); /* a PERSISTENT body still there */
		MHD_destroy_response(c->queued); /* MHD's reference, once sent */
		c->queued = NULL;
	}
	fake_mhd.oom = false;
	CHECK_EQ(fake_mhd.responses, 0);
	return toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
}

/* No descriptor of DATA (an image served, an upload's file) stays open. (A plain count
 * would not do: libFuzzer's symbolizer opens pipes as it pleases.) */
static void check_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t dl = strlen(dir);

	CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		char link[300], what[PATH_MAX];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, what, sizeof(what) - 1);
		if (n <= 0)
			continue;
		what[n] = '\0';
		if (!strncmp(what, dir, dl)) {
			fprintf(stderr, "descriptor %s left open: %s\n", e->d_name, what);
			CHECK(!"a file descriptor left open");
		}
	}
	closedir(d);
}

/* ---- the input ------------------------------------------------------------------------ */

static void put_back(void)
{
	struct fota_store *s;
	struct stat st;

	backup(keep, snap);
	if (auth_dirty) { /* no failed authentication of an earlier input counts */
		fota_srv_authlimit_free(&srv.auth);
		CHECK_EQ(fota_srv_authlimit_init(&srv.auth), FOTA_OK);
		auth_dirty = false;
	}
	if (!files_dirty)
		return;
	if (stat(seed_file, &st) < 0)
		write_seed_file();
	s = fota_srv_store_get(&srv);
	CHECK(s != NULL);
	CHECK_EQ(fota_srv_files_init(&srv, s), FOTA_OK); /* drops files no row names */
	fota_srv_store_put(&srv, s);
	files_dirty = false;
}

static void new_connection(struct MHD_Connection *c, uint8_t setup)
{
	memset(c, 0, sizeof(*c));
	if (setup & 0x18) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&c->addr;

		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, (setup & 0x10) ? "::ffff:10.1.2.3" : "2001:db8::7",
			  &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&c->addr;

		a->sin_family = AF_INET;
		inet_pton(AF_INET, "10.1.2.3", &a->sin_addr);
	}
	c->no_addr = setup & 0x20;
	fake_mhd.notify(fake_mhd.notify_cls, c, &c->socket_context, MHD_CONNECTION_NOTIFY_STARTED);
}

static void end_connection(struct MHD_Connection *c)
{
	fake_mhd.notify(fake_mhd.notify_cls, c, &c->socket_context, MHD_CONNECTION_NOTIFY_CLOSED);
	CHECK(c->socket_context == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct MHD_Connection conn;
	struct fuzz_rng rng;
	const uint8_t *p, *end;
	uint8_t setup;

	if (size < 1)
		return 0;
	setup = data[0];
	srv.have_token = !(setup & 1);
	srv.ntrust = 0;
	if (setup & 2) {
		const char *t = (setup & 0x18) == 0x08 ? "2001:db8::/64" : "10.0.0.0/8";

		CHECK_EQ(fota_srv_cidr_parse(t, strlen(t), &srv.trust[0]), FOTA_OK);
		srv.ntrust = 1;
	}
	atomic_store(&srv.draining, (setup & 4) != 0);
	srv.max_firmware = (setup & 0x40) ? 600 : 64u << 10;
	fuzz_rng_init(&rng, (uint32_t)size * 0x9E3779B9u);

	new_connection(&conn, setup);
	p = data + 1;
	end = data + size;
	for (int k = 0; k < REQ_MAX && p < end; k++) {
		const uint8_t *sep = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
		size_t n = sep ? (size_t)(sep - p) : (size_t)(end - p);
		struct req q;

		if (parse(&q, p, n) && run_request(&conn, &q, &rng)) {
			end_connection(&conn);
			new_connection(&conn, setup);
		}
		free_req(&q);
		p = sep ? sep + strlen(SEP) : end;
	}
	end_connection(&conn);
	CHECK_EQ(atomic_load(&srv.active), 0);
	check_fds();
	/* Back to the seeded state now, not before the next input: what this input allocated
	 * (database pages) is freed in this input, so libFuzzer's leak check stays quiet. */
	put_back();
	return 0;
}
