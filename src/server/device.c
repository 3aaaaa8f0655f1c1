/*
 * device.c - the device API, GET and HEAD /api/site/firmware_upgrade, wire-compatible with
 * the vendor's (docs/server-api.md): the decision, the refusals with the vendor's codes and
 * Chinese messages (\u-escaped, ASCII-only JSON), and the image sent from its file with
 * sendfile(2): ETag, Last-Modified, Range, If-Range, the loop guard's download starts, and
 * completed downloads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

/* The answers of the decision table: code, HTTP status, the vendor's message. */
static const struct refusal {
	int code;
	unsigned status;
	int metric; /* enum fota_srv_check */
	const char *msg;
} refusals[] = {
	{ FOTA_CODE_DEVICE, 400, FOTA_CHECK_DEVICE, "无效的设备" },
	{ FOTA_CODE_PROJECT, 404, FOTA_CHECK_PROJECT, "无效的项目" },
	{ FOTA_CODE_PERMISSION, 403, FOTA_CHECK_PERMISSION, "无权限" },
	{ FOTA_CODE_FIRMWARE, 404, FOTA_CHECK_FIRMWARE, "无效的固件" },
	{ FOTA_CODE_BANNED, 429, FOTA_CHECK_BANNED, "升级请求过于频繁" },
	{ FOTA_CODE_LATEST, 409, FOTA_CHECK_LATEST, "已是最新版本" },
};

/* The refusals' bodies, written once: {"code":N,"msg":"\uXXXX..."}. */
static char refusal_body[FOTA_ARRAY_SIZE(refusals)][200];
static size_t refusal_len[FOTA_ARRAY_SIZE(refusals)];
static pthread_once_t refusal_once = PTHREAD_ONCE_INIT;

static void refusal_bodies(void)
{
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(refusals); i++) {
		char msg[160];
		int n;

		if (fota_srv_json_ascii(msg, sizeof(msg), refusals[i].msg) < 0)
			snprintf(msg, sizeof(msg), "\"\"");
		n = snprintf(refusal_body[i], sizeof(refusal_body[i]), "{\"code\":%d,\"msg\":%s}",
			     refusals[i].code, msg);
		refusal_len[i] = n > 0 ? (size_t)n : 0;
	}
}

static void refuse(struct fota_srv_req *r, int code)
{
	struct MHD_Response *resp;
	size_t i, f = 0;

	for (i = 0; i < FOTA_ARRAY_SIZE(refusals); i++)
		if (refusals[i].code == code)
			f = i;
	pthread_once(&refusal_once, refusal_bodies);
	fota_srv_metrics_add(&r->srv->metrics.checks[refusals[f].metric]);
	if (r->replied)
		return;
	/* The body is static: MHD sends it from where it is, without a copy. */
	resp = MHD_create_response_from_buffer(refusal_len[f], refusal_body[f],
					       MHD_RESPMEM_PERSISTENT);
	if (resp)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	fota_srv_reply_response(r, refusals[f].status, resp, refusal_len[f]);
}

static void server_error(struct fota_srv_req *r, int err)
{
	fota_srv_metrics_add(&r->srv->metrics.checks[FOTA_CHECK_ERROR]);
	if (err == FOTA_ERR_BUSY)
		fota_srv_reply_error(r, 503, "the database is busy; try again");
	else
		fota_srv_reply_error(r, 500, "the server failed (%s)", fota_strerror(err));
}

/* Sends the image of fw: whole (200), a range (206) or 416; counts a download start. */
static void serve(struct fota_srv_req *r, struct fota_store *s, const char *device,
		  const struct fota_firmware *fw)
{
	char path[PATH_MAX], etag[40], modified[32], crange[80];
	const char *range = fota_srv_header(r, "Range"), *if_range = fota_srv_header(r, "If-Range");
	struct MHD_Response *resp;
	uint64_t size, first = 0, last = 0, len;
	struct stat st;
	unsigned status;
	bool start;
	int fd, kind;

	if (fota_srv_file_path(r->srv, fw->sha256, path, sizeof(path)) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fota_srv_log("firmware %" PRId64 ": %s: %s", fw->id, path, strerror(errno));
		server_error(r, FOTA_ERR_IO);
		return;
	}
	if (fstat(fd, &st) < 0 || st.st_size <= 0) {
		fota_srv_log("firmware %" PRId64 ": %s: %s", fw->id, path,
			     st.st_size <= 0 ? "empty" : strerror(errno));
		close(fd);
		server_error(r, FOTA_ERR_IO);
		return;
	}
	size = (uint64_t)st.st_size;
	snprintf(etag, sizeof(etag), "\"%.32s\"", fw->sha256);
	fota_srv_http_date(fw->created, modified);

	kind = fota_srv_range_parse(range, size, &first, &last);
	if (kind != FOTA_SRV_RANGE_NONE && !fota_srv_if_range_match(if_range, etag, modified))
		kind = FOTA_SRV_RANGE_NONE; /* the client's part is of another file */
	fota_srv_add_header(r, MHD_HTTP_HEADER_ETAG, etag);
	fota_srv_add_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, modified);
	fota_srv_add_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (kind == FOTA_SRV_RANGE_UNSAT) {
		close(fd);
		snprintf(crange, sizeof(crange), "bytes */%" PRIu64, size);
		fota_srv_add_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
		fota_srv_reply(r, 416, NULL, NULL, 0);
		return;
	}
	if (kind == FOTA_SRV_RANGE_PART) {
		status = 206;
		snprintf(crange, sizeof(crange), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last,
			 size);
		fota_srv_add_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
	} else {
		status = 200;
		first = 0;
		last = size - 1;
	}
	len = last - first + 1;
	/* The file goes out by sendfile(2); MHD closes fd with the response. */
	resp = MHD_create_response_from_fd_at_offset64(len, fd, first);
	if (!resp) {
		close(fd);
		server_error(r, FOTA_ERR_NOMEM);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	start = !r->head && first == 0;
	r->dl_fw_id = fw->id;
	r->dl_to_end = !r->head && last == size - 1;
	fota_srv_metrics_add(&r->srv->metrics.checks[FOTA_CHECK_OFFERED]);
	if (fota_srv_reply_response(r, status, resp, len) != FOTA_OK)
		return;
	if (start) {
		bool banned = false;
		int err = s->ops->download_start(s, device, fw->id, (int64_t)time(NULL), &banned);

		if (err)
			fota_srv_log("firmware %" PRId64 ": download start of %s not counted: %s",
				     fw->id, device, fota_strerror(err));
		else
			fota_srv_metrics_add(&r->srv->metrics.downloads_started);
		if (banned)
			fota_srv_log("loop guard: %s banned (more than %d download starts in %d s)",
				     device, FOTA_STORE_GUARD_STARTS, FOTA_STORE_GUARD_WINDOW);
	}
}

/* The check changed nothing but the device's last_seen: written with the next batch, or
 * now when the batch is full. */
static void seen(struct fota_srv *srv, struct fota_store *s, const char *device, int64_t now)
{
	struct fota_seen one;
	int err;

	if (fota_srv_seen_add(srv, device, now) == FOTA_OK)
		return;
	snprintf(one.device, sizeof(one.device), "%s", device);
	one.at = now;
	err = s->ops->seen(s, &one, 1);
	if (err)
		fota_srv_log("last_seen of %s not recorded: %s", device, fota_strerror(err));
}

void fota_srv_device(struct fota_srv_req *r, const char *q, size_t qlen)
{
	static const char *const id_params[] = { "imei", "mac", "uid" };
	struct fota_srv_query query;
	struct fota_check_req rq = { 0 };
	struct fota_check_res res;
	struct fota_store *s;
	const char *id = NULL;
	int err;

	if (fota_srv_query_parse(&query, q, qlen) != FOTA_OK) {
		refuse(r, FOTA_CODE_DEVICE); /* parameters that cannot be read */
		return;
	}
	for (size_t i = 0; !id && i < FOTA_ARRAY_SIZE(id_params); i++) {
		id = fota_srv_query_get(&query, id_params[i]);
		if (id && !*id)
			id = NULL; /* empty counts as absent */
	}
	rq.version = fota_srv_query_get(&query, "version");
	if (!id || !fota_srv_id_valid(id) || (rq.version && strlen(rq.version) > FOTA_STORE_DEVVER_MAX)) {
		refuse(r, FOTA_CODE_DEVICE);
		return;
	}
	rq.project_key = fota_srv_query_get(&query, "project_key");
	rq.firmware_name = fota_srv_query_get(&query, "firmware_name");
	rq.device = id;
	rq.now = (int64_t)time(NULL);
	rq.seen_later = r->srv->seen.started;
	if (!rq.project_key || !fota_srv_key_valid(rq.project_key)) {
		refuse(r, FOTA_CODE_PROJECT); /* no project has such a key */
		return;
	}
	if (!rq.version)
		rq.version = "";
	if (!rq.firmware_name)
		rq.firmware_name = "";

	s = fota_srv_store_get(r->srv);
	if (!s) {
		server_error(r, FOTA_ERR_IO);
		return;
	}
	err = s->ops->check(s, &rq, &res);
	if (err) {
		server_error(r, err);
		goto out;
	}
	if (res.seen)
		seen(r->srv, s, id, rq.now);
	if (res.upgraded)
		fota_srv_metrics_add(&r->srv->metrics.upgrades);
	if (res.code != FOTA_CODE_OFFER)
		refuse(r, res.code);
	else
		serve(r, s, id, &res.fw);
out:
	fota_srv_store_put(r->srv, s);
}

void fota_srv_device_done(struct fota_srv_req *r, bool completed)
{
	struct fota_store *s;
	int err;

	if (!completed || !r->dl_to_end || !r->dl_fw_id)
		return;
	fota_srv_metrics_add(&r->srv->metrics.downloads_completed);
	s = fota_srv_store_get(r->srv);
	if (!s)
		return;
	err = s->ops->download_done(s, r->dl_fw_id);
	if (err)
		fota_srv_log("firmware %" PRId64 ": completed download not counted: %s", r->dl_fw_id,
			     fota_strerror(err));
	fota_srv_store_put(r->srv, s);
}
