/* agent.c - the upgrade agent: check, download, resume, schedule (see fota/agent.h). */
#include <string.h>

#include "fota/agent.h"
#include "fota/version.h"

enum step { IDLE, WAIT, CONNECT, SEND, RECV };
enum job { JOB_CHECK, JOB_REPORT };

/* Why a callback stopped the response on purpose (it returns FOTA_ERR_CANCELED). */
enum stop { STOP_NONE, STOP_LATEST, STOP_REDIRECT, STOP_RESTART, STOP_ANSWERED };

#define KEY_PATH "/api/site/firmware_upgrade"
#define CAUSE_LATEST 27
#define RECV_PER_POLL 16 /* reads per poll, so the AT port keeps answering */

static const char *server_of(const struct fota_agent *a)
{
	return a->cfg.server ? a->cfg.server : FOTA_DEFAULT_SERVER;
}

static struct fota_module *mod(const struct fota_agent *a)
{
	return a->cfg.module;
}

static bool url_mode(const struct fota_agent *a)
{
	return mod(a)->settings.now.url[0] != '\0';
}

static uint32_t slot_bytes(const struct fota_agent *a)
{
	return a->cfg.boot->layout.slot_sectors * a->cfg.boot->flash->sector_size;
}

/* What the attempt asks for, so a resumed download is known to be the same one. */
static uint32_t target_crc(const struct fota_agent *a)
{
	const struct fota_settings *s = &mod(a)->settings.now;
	const char *first = url_mode(a) ? s->url : server_of(a);
	uint32_t c = fota_crc32(0, first, strlen(first));

	return url_mode(a) ? c : fota_crc32(c, s->key, strlen(s->key)) ^ 1u;
}

/* ---- NV records ------------------------------------------------------------------- */

/* FOTA_NV_DOWNLOAD: format 1 | target crc (4) | total (4) | etag length (1) | etag */
static void save_download(struct fota_agent *a)
{
	uint8_t b[10 + FOTA_HTTP_ETAG_MAX];
	size_t n = strlen(a->dl_etag);

	b[0] = 1;
	fota_put_le32(b + 1, a->dl_target);
	fota_put_le32(b + 5, a->dl_total);
	b[9] = (uint8_t)n;
	memcpy(b + 10, a->dl_etag, n);
	fota_nv_write(&mod(a)->nv, FOTA_NV_DOWNLOAD, b, 10 + n);
}

static void drop_download(struct fota_agent *a)
{
	static const uint8_t none[1] = { 0 };

	if (a->resume || a->dl_total)
		fota_nv_write(&mod(a)->nv, FOTA_NV_DOWNLOAD, none, sizeof(none));
	a->resume = false;
	a->live = false;
	a->dl_total = 0;
	a->dl_etag[0] = '\0';
}

static void load_download(struct fota_agent *a)
{
	uint8_t b[10 + FOTA_HTTP_ETAG_MAX];
	size_t len;

	if (fota_nv_read(&mod(a)->nv, FOTA_NV_DOWNLOAD, b, sizeof(b), &len) || len < 10 ||
	    b[0] != 1 || b[9] >= FOTA_HTTP_ETAG_MAX || len != 10u + b[9])
		return;
	a->dl_target = fota_get_le32(b + 1);
	a->dl_total = fota_get_le32(b + 5);
	memcpy(a->dl_etag, b + 10, b[9]);
	a->dl_etag[b[9]] = '\0';
	a->resume = true;
}

/* FOTA_NV_URLCACHE: url crc (4) | etag length (1) | etag | date length (1) | date. Kept in
 * a->hold while a request is built (the hold is free then). */
static void save_validators(struct fota_agent *a)
{
	const struct fota_http_resp *r = &a->http.resp;
	size_t e = strlen(r->etag), d = strlen(r->last_modified);
	uint8_t *b = a->hold;

	if (!url_mode(a) || (!e && !d))
		return;
	fota_put_le32(b, a->dl_target);
	b[4] = (uint8_t)e;
	memcpy(b + 5, r->etag, e);
	b[5 + e] = (uint8_t)d;
	memcpy(b + 6 + e, r->last_modified, d);
	fota_nv_write(&mod(a)->nv, FOTA_NV_URLCACHE, b, 6 + e + d);
}

/* Reads the validators of the current URL into a->hold as two NUL-terminated strings
 * (each length byte after a string becomes its NUL). */
static void load_validators(struct fota_agent *a, const char **etag, const char **date)
{
	uint8_t *b = a->hold;
	size_t len, e, d;

	*etag = *date = NULL;
	if (fota_nv_read(&mod(a)->nv, FOTA_NV_URLCACHE, b, sizeof(a->hold) - 2, &len) || len < 6 ||
	    fota_get_le32(b) != a->dl_target)
		return;
	e = b[4];
	if (5 + e >= len)
		return;
	d = b[5 + e];
	if (6 + e + d != len)
		return;
	b[5 + e] = '\0';     /* etag at 5 */
	b[6 + e + d] = '\0'; /* date after it */
	*etag = e ? (const char *)b + 5 : NULL;
	*date = d ? (const char *)b + 6 + e : NULL;
}

/* ---- results ---------------------------------------------------------------------- */

/* The step under way times out ms from now. */
static void set_deadline(struct fota_agent *a, uint32_t ms)
{
	a->deadline = (uint32_t)a->now + ms;
}

/* The step's deadline has come (wrap-safe: deadlines lie less than 2^31 ms ahead). */
static bool expired(const struct fota_agent *a)
{
	return (int32_t)((uint32_t)a->now - a->deadline) >= 0;
}

static void close_conn(struct fota_agent *a)
{
	if (a->h >= 0)
		a->cfg.net->close(a->cfg.net->ctx, a->h);
	a->h = -1;
}

/* Ends the attempt with AT+UPGRADE?'s code (0 or -1000..-1006). */
static void finish(struct fota_agent *a, int code)
{
	struct fota_status st = { .state = 2, .code = (int16_t)code, .http = a->status };

	close_conn(a);
	a->step = IDLE;
	a->live = false; /* a later attempt takes up the partial image from flash */
	if (a->job == JOB_REPORT) {
		fota_at_urc_i32(&mod(a)->at, "+UPGRADEVER: ", !code);
		return;
	}
	st.cause = (uint16_t)((uint32_t)a->cause < 65536 ? a->cause : 0);
	fota_module_set_status(mod(a), &st);
	if (code && st.cause != CAUSE_LATEST)
		fota_at_urc_i32(&mod(a)->at, "+UPGRADEIND: ", code);
}

/* The attempt ends with the download: it failed for a reason that is not the network's
 * (the partial image, if any, is of no use), or the image is staged (code 0). */
FOTA_NOINLINE static void end_image(struct fota_agent *a, int code)
{
	drop_download(a);
	a->staging = false;
	finish(a, code);
}

static void latest(struct fota_agent *a)
{
	a->cause = CAUSE_LATEST;
	save_validators(a);
	finish(a, -1004);
}

/* A network failure: retried with backoff (resuming what is in flash), or the end. */
static void net_fail(struct fota_agent *a, int err)
{
	close_conn(a);
	/* The open stage keeps everything received (hashed, programmed or pending): the
	 * retry asks for the bytes after it, exactly. */
	a->live = a->staging;
	if (a->staging) {
		a->staging = false;
		a->resume = true;
		/* A try that brought image bytes starts the count again, so a link that keeps
		 * dropping still gets the image through; the drops of one attempt stay
		 * bounded. (Header bytes held before the stage opened are not progress.) */
		if (a->got > a->from && ++a->drops < FOTA_DL_DROPS_MAX)
			a->tries = 0;
	}
	/* (The errors worth a retry are tested here, not kept in a bool across the close:
	 * smaller code.) */
	if (a->job == JOB_CHECK &&
	    (err == FOTA_ERR_CONNRESET || err == FOTA_ERR_TIMEDOUT ||
	     err == FOTA_ERR_CONNREFUSED || err == FOTA_ERR_DNS || err == FOTA_ERR_IO) &&
	    ++a->tries < FOTA_DL_TRIES) {
		a->step = WAIT;
		set_deadline(a, FOTA_DL_BACKOFF_MS << (a->tries - 1));
		return;
	}
	finish(a, fota_upgrade_code(err));
}

/* ---- the response ------------------------------------------------------------------ */

/* The strings are equal (a small loop: no strcmp from the C library). */
static bool same(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static FOTA_INLINE bool is_redirect(uint16_t s)
{
	return (unsigned)(s - 301) < 8 && (0xC7u >> (s - 301)) & 1; /* 301-303, 307, 308 */
}

/* Resolves Location into a->url (RFC 3986 5.2, dot segments left as they are): an
 * absolute http(s) URL, a scheme-relative "//host/path", an absolute path on the same
 * server, or a path (or a query) relative to the URL fetched. a->url is a URL that
 * parsed: "http://" or "https://", the authority up to the first '/', '?' or '#'. */
FOTA_NOINLINE static int follow(struct fota_agent *a, const char *loc)
{
	char *u = a->url;
	size_t n = strlen(loc), scheme = 7u + ((u[4] | 0x20) == 's'), origin, end, keep = 0, i;
	bool slash = false;

	/* (fota_strcaseeq stops at the first byte that differs: at loc's end at the latest) */
	if (!fota_strcaseeq(loc, 7, "http://") && !fota_strcaseeq(loc, 8, "https://")) {
		if (!n)
			return FOTA_ERR_BADMSG;
		for (i = 0; loc[i] && loc[i] != '/' && loc[i] != '?' && loc[i] != '#'; i++)
			if (loc[i] == ':')
				return FOTA_ERR_BADMSG; /* a URL of another scheme */
		for (origin = scheme; u[origin] && u[origin] != '/' && u[origin] != '?' &&
				      u[origin] != '#'; origin++)
			; /* the authority, ":port" kept */
		for (end = origin; u[end] && u[end] != '?' && u[end] != '#'; end++)
			;
		if (loc[0] == '/' && loc[1] == '/') {
			keep = scheme - 2; /* the scheme's "http:" or "https:" */
		} else if (loc[0] == '/') {
			keep = origin;
		} else if (loc[0] == '?' || loc[0] == '#') {
			keep = end;
			while (loc[0] == '#' && u[keep] && u[keep] != '#')
				keep++; /* a fragment alone keeps the query (RFC 3986 5.2.2) */
		} else {
			/* A relative path replaces the last segment of the current path. */
			keep = origin;
			for (i = origin; i < end; i++)
				if (u[i] == '/')
					keep = i + 1;
			slash = keep == origin;
		}
	}
	if (keep + slash + n > FOTA_URL_MAX)
		return FOTA_ERR_TOOLONG;
	if (slash)
		u[keep++] = '/';
	memcpy(u + keep, loc, n + 1);
	return FOTA_OK;
}

/* got * 100 / total, rounded down (got <= total): at most 100 subtractions, so no
 * 64-bit division is needed. */
static uint8_t percent_of(uint32_t got, uint32_t total)
{
	uint64_t n = (uint64_t)got * 100u;
	uint8_t q = 0;

	while (total && n >= total && q < 100) {
		n -= total;
		q++;
	}
	return q;
}

static void progress(struct fota_agent *a)
{
	uint8_t pct = percent_of(a->got, a->dl_total);
	struct fota_status st = { .state = 1, .percent = pct };
	unsigned p = (uint8_t)(a->percent + 1); /* the next to say: 0 after none (0xFF) */

	if (pct < p)
		return;
	/* Each whole percent once, in order, however far one read went; a download taken
	 * up again (a range) starts where it stands. */
	if (a->percent == 0xFF && a->from)
		p = pct;
	a->percent = pct;
	fota_module_set_status(mod(a), &st);
	for (;; p++) {
		fota_at_urc_i32(&mod(a)->at, "+UPGRADEIND: ", p);
		if (p == pct)
			break;
	}
}

static int on_header(void *ctx, const struct fota_http_resp *r)
{
	struct fota_agent *a = ctx;

	a->status = r->status;
	a->stop = STOP_NONE;
	a->refused = false;
	if (a->job == JOB_REPORT) {
		a->stop = STOP_ANSWERED;
		return FOTA_ERR_CANCELED;
	}
	if (is_redirect(r->status) && url_mode(a) && r->location[0]) {
		a->stop = STOP_REDIRECT;
		return FOTA_ERR_CANCELED;
	}
	if (r->status == 304) {
		a->stop = STOP_LATEST;
		return FOTA_ERR_CANCELED;
	}
	if (r->status != 200 && r->status != 206) {
		a->refused = true; /* a refusal: its body says why */
		return FOTA_OK;
	}
	if (r->status == 206) {
		if (!a->from || !r->has_range || r->range_first != a->from ||
		    (r->range_total && r->range_total != a->dl_total) ||
		    (r->etag[0] && a->dl_etag[0] && !same(r->etag, a->dl_etag))) {
			a->stop = STOP_RESTART; /* not the rest of the same file */
			return FOTA_ERR_CANCELED;
		}
		a->staging = true; /* (got is from already: set when the request went) */
		progress(a);
		return FOTA_OK;
	}
	/* 200: the whole file, also when a range was asked (a server without ranges, or a
	 * file that changed): start it afresh. A partial image in flash is no longer the
	 * start of this file (whose ETag replaces its own): a retry must not resume it.
	 * (The stage is not open before the body.) */
	a->from = 0;
	a->got = 0;
	a->resume = false;
	a->live = false;
	memcpy(a->dl_etag, r->etag, sizeof(a->dl_etag));
	return FOTA_OK;
}

/* Refuses, on the header alone, an image below the running firmware's security counter or
 * the journal's floor, and (with a signature port) one whose trailer is too short to hold
 * both the hash and the signature: no byte of it needs to come. */
static int security_check(struct fota_agent *a, const struct fota_image_info *info)
{
	struct fota_boot_status bs;
	int err = fota_boot_status(a->cfg.boot, &bs);

	if (err)
		return err;
	if (info->security_counter < a->cfg.security_counter || info->security_counter < bs.floor)
		return FOTA_ERR_ROLLBACK;
	if (a->cfg.sig && info->trailer_size < FOTA_IMAGE_TRAILER_SIGNED)
		return FOTA_ERR_VERIFY;
	return FOTA_OK;
}

/* The image header is whole: decide on it alone, before anything is erased. */
static int accept_header(struct fota_agent *a)
{
	const struct fota_image_info *info = fota_image_hdr_info(&a->hdr);
	int err;

	if (!same(info->name, a->cfg.family))
		return FOTA_ERR_VERIFY; /* another product's firmware */
	if (fota_version_cmp(info->version, mod(a)->info->version) <= 0 ||
	    same(info->version, a->rejected)) {
		/* Not newer; or the very firmware that was installed here and reverted (it
		 * never confirmed itself): fetching it again would only loop. */
		a->stop = STOP_LATEST;
		return FOTA_ERR_CANCELED;
	}
	err = security_check(a, info);
	if (err)
		return err;
	if (info->total_size > slot_bytes(a))
		return FOTA_ERR_FBIG;
	err = fota_stage_begin(&a->stage, a->cfg.boot, a->cfg.sha);
	if (err)
		return err == FOTA_ERR_BUSY ? FOTA_ERR_BUSY : FOTA_ERR_IO;
	fota_image_verifier_require_sig(&a->stage.ver, a->cfg.sig);
	a->dl_total = info->total_size;
	a->dl_target = target_crc(a);
	save_download(a);
	a->staging = true;
	progress(a);
	return fota_stage_write(&a->stage, a->hold, a->hold_len);
}

static int on_body(void *ctx, const uint8_t *data, size_t len)
{
	struct fota_agent *a = ctx;
	size_t used = len;
	int err;

	if (a->refused) {
		size_t n = sizeof(a->err_body) - 1 - a->err_len;

		n = len < n ? len : n;
		memcpy(a->err_body + a->err_len, data, n);
		a->err_len = (uint16_t)(a->err_len + n);
		return FOTA_OK;
	}
	if (!a->staging) {
		err = fota_image_hdr_feed(&a->hdr, data, len, &used);
		memcpy(a->hold + a->hold_len, data, used);
		a->hold_len = (uint16_t)(a->hold_len + used);
		a->got += (uint32_t)used;
		if (err == FOTA_ERR_AGAIN)
			return FOTA_OK;
		if (!err)
			err = accept_header(a);
		if (err)
			return err;
		data += used;
		len -= used;
	}
	err = fota_stage_write(&a->stage, data, len);
	if (err == FOTA_ERR_FBIG)
		return FOTA_ERR_BADMSG; /* bytes after the image's end: no firmware file */
	if (err)
		return err;
	a->got += (uint32_t)len;
	progress(a);
	return FOTA_OK;
}

/* The image is whole: verified and marked staged, and the firmware resets to install it;
 * or it failed its checks. (On success the cause is 0: no answer body set it.) */
static void staged(struct fota_agent *a)
{
	int err = fota_stage_finish(&a->stage, NULL);

	if (err) {
		end_image(a, err == FOTA_ERR_AGAIN ? -1003 : fota_upgrade_code(err));
		return;
	}
	save_validators(a);
	end_image(a, 0);
	if (a->cfg.reboot)
		a->cfg.reboot(a->cfg.ctx);
}

/* The response ended (complete, or stopped by a callback with err). */
static FOTA_INLINE void response_done(struct fota_agent *a, int err)
{
	int32_t code = 0;

	if (err == FOTA_ERR_CANCELED) {
		switch (a->stop) {
		case STOP_ANSWERED:
			finish(a, 0);
			return;
		case STOP_LATEST:
			latest(a);
			return;
		case STOP_RESTART:
			/* Counts as a try; asks for the whole file (nothing left to resume). */
			drop_download(a);
			net_fail(a, FOTA_ERR_CONNRESET);
			return;
		case STOP_REDIRECT:
			close_conn(a);
			if (++a->redirects > FOTA_REDIRECT_MAX || follow(a, a->http.resp.location)) {
				finish(a, -1004);
				return;
			}
			a->step = WAIT;
			set_deadline(a, 0); /* connect to the new place at once */
			return;
		default:
			break;
		}
	}
	if (err) {
		code = fota_upgrade_code(err);
		if (code == -1003 || err == FOTA_ERR_INVAL || err == FOTA_ERR_TOOLONG ||
		    err == FOTA_ERR_RANGE) {
			/* From the image parser or the header checks (while staging or holding
			 * the header), or from the HTTP parser (before): no image, an answer
			 * that is not one. */
			if (!a->staging && !a->hold_len) {
				finish(a, -1004);
				return;
			}
			code = -1003;
		}
		end_image(a, code);
		return;
	}
	if (a->refused) {
		if (fota_json_code(a->err_body, a->err_len, &code) == FOTA_OK)
			a->cause = code;
		finish(a, -1004);
		return;
	}
	if (!a->http.resp.has_length && !a->http.resp.chunked &&
	    (!a->staging || a->got < a->dl_total)) {
		/* A body delimited by the close, closed before the image's end: the
		 * connection was lost, the file may well be whole. */
		net_fail(a, FOTA_ERR_CONNRESET);
		return;
	}
	if (!a->staging) {
		end_image(a, -1003); /* a body too short to hold an image header */
		return;
	}
	staged(a);
}

/* ---- the steps ----------------------------------------------------------------------- */

static const char query_names[] = "project_key\0imei\0firmware_name\0version";

/* Builds the request in a->io. */
static int build_request(struct fota_agent *a)
{
	const struct fota_module *m = mod(a);
	struct fota_http_req req = { .method = "GET", .url = &a->u };
	char *q = (char *)a->hold;
	size_t len;
	int err = FOTA_OK;

	if (!url_mode(a)) {
		const char *v[4] = { m->settings.now.key, m->info->imei, a->cfg.family,
				     m->info->version };

		const char *name = query_names;

		q[0] = '\0';
		for (unsigned i = 0; i < 4 && !err; i++, name += strlen(name) + 1)
			err = fota_http_query_add(q, sizeof(a->hold), name, v[i], strlen(v[i]));
		if (err)
			return err;
		req.query = q;
	} else if (!a->from) {
		load_validators(a, &req.if_none_match, &req.if_modified_since);
	}
	if (a->from) {
		req.range = true;
		req.range_from = a->from;
		req.if_range = a->dl_etag[0] ? a->dl_etag : NULL;
	}
	err = fota_http_write_request(&req, (char *)a->io, sizeof(a->io), &len);
	a->io_len = (uint32_t)len;
	a->io_off = 0;
	return err;
}

static void open_conn(struct fota_agent *a)
{
	struct fota_url *u = &a->u;
	int h;

	if (!mod(a)->radio_on) {
		finish(a, -1001);
		return;
	}
	if (fota_url_parse(a->url, strlen(a->url), u)) {
		finish(a, -1000);
		return;
	}
	a->from = 0;
	if (a->job == JOB_CHECK && a->live) {
		a->from = a->got; /* the stage in RAM goes on where it stopped */
		if (a->from == a->dl_total) {
			staged(a); /* every byte came; only the answer's end was missing */
			return;
		}
	} else if (a->job == JOB_CHECK && a->resume) {
		uint32_t from = 0, t = target_crc(a);

		if (a->dl_target != t ||
		    fota_stage_resume(&a->stage, a->cfg.boot, a->cfg.sha, &from)) {
			drop_download(a); /* another target, or nothing usable in flash */
			a->dl_target = t; /* this one's validators apply */
			from = 0;
		}
		fota_image_verifier_require_sig(&a->stage.ver, a->cfg.sig);
		a->from = from;
		if (from && from == a->dl_total) {
			a->status = 206; /* the whole image came before the cut: no request */
			staged(a);
			return;
		}
	}
	h = a->cfg.net->open(a->cfg.net->ctx, u->host, u->host_len, u->port, u->https);
	if (h < 0) {
		net_fail(a, h);
		return;
	}
	a->h = h;
	a->step = CONNECT;
	set_deadline(a, a->cfg.connect_timeout_ms);
}

static void begin(struct fota_agent *a, enum job job)
{
	const struct fota_settings *s = &mod(a)->settings.now;

	a->job = (uint8_t)job;
	a->percent = 0xFF;
	a->tries = 0;
	a->drops = 0;
	a->redirects = 0;
	a->status = 0;
	a->cause = 0;
	if (url_mode(a)) {
		memcpy(a->url, s->url, strlen(s->url) + 1);
	} else {
		const char *srv = server_of(a);
		size_t n = strlen(srv);

		if (n + sizeof(KEY_PATH) > sizeof(a->url)) {
			finish(a, -1000);
			return;
		}
		memcpy(a->url, srv, n);
		while (n && a->url[n - 1] == '/')
			n--;
		memcpy(a->url + n, KEY_PATH, sizeof(KEY_PATH));
	}
	if (!a->resume)
		a->dl_target = target_crc(a);
	open_conn(a);
}

/* Sends the request; then reads and parses the answer. */
static void transfer(struct fota_agent *a)
{
	const struct fota_net *net = a->cfg.net;
	int n, err;

	if (a->step == SEND) {
		n = net->send(net->ctx, a->h, a->io + a->io_off, a->io_len - a->io_off);
		if (n < 0) {
			net_fail(a, n);
			return;
		}
		if (n > 0)
			set_deadline(a, a->cfg.idle_timeout_ms);
		a->io_off += (uint32_t)n;
		if (a->io_off >= a->io_len) {
			fota_http_parser_init(&a->http, false, on_header, on_body, a);
			fota_image_hdr_init(&a->hdr);
			a->hold_len = 0;
			a->err_len = 0;
			a->got = a->from;
			/* (The deadline stays the idle one: the last bytes just went.) */
			a->step = RECV;
		}
	}
	for (int i = 0; i < RECV_PER_POLL && a->step == RECV; i++) {
		n = net->recv(net->ctx, a->h, a->io, sizeof(a->io));
		if (n == FOTA_ERR_AGAIN)
			break;
		if (n < 0) {
			net_fail(a, n);
			return;
		}
		set_deadline(a, a->cfg.idle_timeout_ms);
		if (n == 0) {
			err = fota_http_eof(&a->http);
			if (err)
				net_fail(a, err);
			else
				response_done(a, FOTA_OK);
			return;
		}
		err = fota_http_feed(&a->http, a->io, (size_t)n, NULL);
		if (err != FOTA_ERR_AGAIN) {
			response_done(a, err);
			return;
		}
	}
	/* Still sending or receiving (every other way out returned): the peer takes or
	 * sends nothing. */
	if (expired(a))
		net_fail(a, FOTA_ERR_TIMEDOUT);
}

/* ---- the public side ------------------------------------------------------------------ */

/* After a revert the journal says REVERTED and S still holds the image that failed: its
 * version is remembered until another image is staged. */
static void load_rejected(struct fota_agent *a)
{
	const struct fota_flash *f = a->cfg.boot->flash;
	struct fota_boot_status bs;
	uint32_t addr = a->cfg.boot->layout.stage_addr + f->sector_size;
	int err;

	if (fota_boot_status(a->cfg.boot, &bs) || bs.state != FOTA_BOOT_REVERTED)
		return;
	fota_image_hdr_init(&a->hdr);
	do {
		err = f->read(f->ctx, addr, a->io, 64);
		if (!err)
			err = fota_image_hdr_feed(&a->hdr, a->io, 64, NULL);
		addr += 64;
	} while (err == FOTA_ERR_AGAIN);
	if (!err)
		memcpy(a->rejected, fota_image_hdr_info(&a->hdr)->version, sizeof(a->rejected));
}

int fota_agent_init(struct fota_agent *a, const struct fota_agent_cfg *cfg, uint64_t now_ms)
{
	if (!cfg->module || !cfg->boot || !cfg->sha || !cfg->net || !cfg->family)
		return FOTA_ERR_INVAL;
	memset(a, 0, sizeof(*a));
	a->cfg = *cfg;
	/* The defaults of the optional numbers, once. */
	if (a->cfg.period_scale < 1)
		a->cfg.period_scale = 1;
	if (!a->cfg.idle_timeout_ms)
		a->cfg.idle_timeout_ms = FOTA_IDLE_TIMEOUT_MS;
	if (!a->cfg.connect_timeout_ms)
		a->cfg.connect_timeout_ms = FOTA_CONNECT_TIMEOUT_MS;
	a->h = -1;
	a->now = now_ms;
	a->next_check = now_ms + FOTA_BOOT_CHECK_DELAY_MS; /* AUTO 1: shortly after boot */
	load_download(a);
	load_rejected(a);
	return FOTA_OK;
}

int fota_agent_start(struct fota_agent *a)
{
	if (a->step != IDLE)
		return FOTA_ERR_BUSY;
	begin(a, JOB_CHECK);
	return FOTA_OK;
}

/* A PERIOD of p seconds on the schedule's clock, in milliseconds: p * 1000 / scale,
 * rounded down, with 32-bit divisions only (the remainder's three decimal digits by long
 * division; exact while scale * 10 fits 32 bits). */
FOTA_NOINLINE static uint64_t period_ms(const struct fota_agent *a, uint32_t p)
{
	uint32_t k = a->cfg.period_scale, r = p % k, f = 0;

	for (int i = 0; i < 3; i++) {
		r *= 10;
		f = f * 10 + r / k;
		r %= k;
	}
	return (uint64_t)(p / k) * 1000u + f;
}

/* The next automatic check one PERIOD from now. */
FOTA_NOINLINE static void plan_next(struct fota_agent *a)
{
	a->period = mod(a)->settings.now.period;
	a->next_check = a->now + period_ms(a, a->period);
}

void fota_agent_report(struct fota_agent *a)
{
	/* This boot's check-in is the report: the next automatic check waits a PERIOD, so
	 * the upgrade's result stays what AT+UPGRADE? says until then. */
	plan_next(a);
	if (url_mode(a)) {
		fota_at_urc_i32(&mod(a)->at, "+UPGRADEVER: ", 0); /* the user's server takes no reports */
		return;
	}
	a->report = true;
}

bool fota_agent_busy(const struct fota_agent *a)
{
	return a->step != IDLE;
}

/* The schedule: AUTO 1 checks shortly after boot, then every PERIOD. */
static void schedule(struct fota_agent *a)
{
	const struct fota_settings *s = &mod(a)->settings.now;

	if (a->report) {
		a->report = false;
		begin(a, JOB_REPORT);
		return;
	}
	if (!s->autoup) {
		a->next_check = 0;
		a->period = 0;
		return;
	}
	if (!a->next_check) {
		a->next_check = a->now + FOTA_BOOT_CHECK_DELAY_MS;
	} else if (a->period && a->period != s->period) {
		/* PERIOD changed: the next check comes the new period after the last one. */
		a->next_check = a->next_check - period_ms(a, a->period) + period_ms(a, s->period);
		a->period = s->period;
	}
	if (a->now < a->next_check)
		return;
	plan_next(a);
	begin(a, JOB_CHECK);
}

uint32_t fota_agent_poll(struct fota_agent *a, uint64_t now_ms)
{
	int err;

	a->now = now_ms;
	switch (a->step) {
	case IDLE:
		schedule(a);
		break;
	case WAIT:
		if (expired(a))
			open_conn(a);
		break;
	default:
		if (!mod(a)->radio_on) {
			net_fail(a, FOTA_ERR_NETDOWN); /* AT+CFUN=0: what is in flash is kept */
			break;
		}
		if (a->step != CONNECT) {
			transfer(a);
			break;
		}
		err = a->cfg.net->ready(a->cfg.net->ctx, a->h);
		if (err == FOTA_ERR_AGAIN) {
			if (!expired(a))
				break;
			err = FOTA_ERR_TIMEDOUT;
		}
		if (err) {
			net_fail(a, err);
		} else if (build_request(a)) {
			finish(a, -1000); /* a request that cannot be written */
		} else {
			a->step = SEND;
			set_deadline(a, a->cfg.idle_timeout_ms);
			transfer(a);
		}
		break;
	}
	if (a->step == IDLE)
		return a->next_check > a->now ? (uint32_t)(a->next_check - a->now < 60000u ?
							    a->next_check - a->now : 60000u) : 1000u;
	if (a->step == WAIT)
		return expired(a) ? 0u : a->deadline - (uint32_t)a->now;
	return 20u;
}
