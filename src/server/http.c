/*
 * http.c - fota-server's HTTP front on libmicrohttpd: the worker pool, routing, replies,
 * the access log, the store pool and the slow-client reaper (server.h).
 *
 * Threading: MHD_USE_EPOLL_INTERNAL_THREAD with a pool of srv->threads workers, each with
 * its own epoll set, accepting from one listening socket. A request is served start to end
 * by the worker that owns its connection; the handlers run there and may block briefly on
 * SQLite (a store connection from the pool) or on a file's fsync at the end of an upload.
 * Downloads never pass through a handler's buffer: MHD sends the file with sendfile(2).
 *
 * The reaper: MHD's connection timeout counts idle time only, so a client that sends a
 * byte a second would hold a connection forever. A thread looks once a second at every
 * connection and shuts down (shutdown(2); MHD then closes it) one whose request headers
 * took more than FOTA_SRV_TIMEOUT seconds, or whose body averages less than
 * FOTA_SRV_MIN_RATE bytes a second after that grace.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

enum conn_phase {
	CONN_WAIT = 0, /* waiting for a request, or reading its line and headers */
	CONN_BODY,     /* reading a request's body */
	CONN_REPLY,    /* answering: MHD's idle timeout is the only limit */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the store pool ------------------------------------------------------------------------ */

struct fota_store *fota_srv_store_get(struct fota_srv *srv)
{
	struct fota_store *s = NULL;
	int err;

	pthread_mutex_lock(&srv->pool_lock);
	if (srv->pool_n)
		s = srv->pool[--srv->pool_n];
	pthread_mutex_unlock(&srv->pool_lock);
	if (s)
		return s;
	err = fota_store_open(srv->db_url, &s);
	if (err) {
		fota_srv_log("%s: cannot open: %s", srv->db_url, fota_strerror(err));
		return NULL;
	}
	return s;
}

void fota_srv_store_put(struct fota_srv *srv, struct fota_store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&srv->pool_lock);
	if (srv->pool_n == srv->pool_cap) {
		size_t cap = srv->pool_cap ? srv->pool_cap * 2 : 8;
		struct fota_store **p = realloc(srv->pool, cap * sizeof(*p));

		if (!p) {
			pthread_mutex_unlock(&srv->pool_lock);
			fota_store_close(s);
			return;
		}
		srv->pool = p;
		srv->pool_cap = cap;
	}
	srv->pool[srv->pool_n++] = s;
	pthread_mutex_unlock(&srv->pool_lock);
}

/* ---- connections and the reaper ------------------------------------------------------- */

static void addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
	snprintf(out, cap, "-");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)cap);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], out, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)cap);
	}
}

/* The address of sa as a struct fota_srv_ip (IPv4-mapped IPv6 as IPv4); family 0 if none. */
static void ip_of(const struct sockaddr *sa, struct fota_srv_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		ip->family = 4;
		memcpy(ip->a, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			ip->family = 4;
			memcpy(ip->a, &in6->sin6_addr.s6_addr[12], 4);
		} else {
			ip->family = 6;
			memcpy(ip->a, &in6->sin6_addr, 16);
		}
	}
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct fota_srv *srv = cls;
	struct fota_srv_conn *t;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd, *ad;

		t = calloc(1, sizeof(*t));
		if (!t)
			return; /* not tracked: MHD's idle timeout still applies */
		fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		ad = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		t->fd = fd ? fd->connect_fd : -1;
		addr_text(ad ? ad->client_addr : NULL, t->addr, sizeof(t->addr));
		ip_of(ad ? ad->client_addr : NULL, &t->ip);
		t->phase = CONN_WAIT;
		t->since_ms = now_ms();
		pthread_mutex_lock(&srv->conn_lock);
		t->next = srv->conns.next;
		t->prev = &srv->conns;
		srv->conns.next->prev = t;
		srv->conns.next = t;
		pthread_mutex_unlock(&srv->conn_lock);
		*socket_context = t;
		return;
	}
	t = *socket_context;
	if (!t)
		return;
	/* MHD calls this before it closes the socket: once t is off the list, the reaper
	 * can no longer shut down a descriptor number that is being reused. */
	pthread_mutex_lock(&srv->conn_lock);
	t->prev->next = t->next;
	t->next->prev = t->prev;
	pthread_mutex_unlock(&srv->conn_lock);
	free(t);
	*socket_context = NULL;
}

static struct fota_srv_conn *track_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void track_phase(struct fota_srv *srv, struct fota_srv_conn *t, int phase)
{
	if (!t)
		return;
	pthread_mutex_lock(&srv->conn_lock);
	t->phase = phase;
	t->since_ms = now_ms();
	t->body_bytes = 0;
	pthread_mutex_unlock(&srv->conn_lock);
}

static void *reaper_main(void *arg)
{
	struct fota_srv *srv = arg;

	pthread_mutex_lock(&srv->conn_lock);
	while (srv->reaper_run) {
		uint64_t now = now_ms();
		struct timespec ts;

		for (struct fota_srv_conn *t = srv->conns.next; t != &srv->conns; t = t->next) {
			uint64_t allowed = FOTA_SRV_TIMEOUT * 1000u;

			if (t->killed || t->fd < 0 || t->phase == CONN_REPLY)
				continue;
			if (t->phase == CONN_BODY)
				allowed += t->body_bytes * 1000u / FOTA_SRV_MIN_RATE;
			if (now - t->since_ms <= allowed)
				continue;
			t->killed = true;
			if (t->phase == CONN_BODY)
				fota_srv_log("%s: closing a slow client: %llu bytes of body in %llu s",
					     t->addr, (unsigned long long)t->body_bytes,
					     (unsigned long long)((now - t->since_ms) / 1000u));
			shutdown(t->fd, SHUT_RDWR);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&srv->reaper_cv, &srv->conn_lock, &ts);
	}
	pthread_mutex_unlock(&srv->conn_lock);
	return NULL;
}

/* ---- replies ---------------------------------------------------------------------------- */

void fota_srv_add_header(struct fota_srv_req *r, const char *name, const char *value)
{
	if (r->nhdr >= (int)FOTA_ARRAY_SIZE(r->hdr_name))
		return;
	r->hdr_name[r->nhdr] = name;
	snprintf(r->hdr_value[r->nhdr], sizeof(r->hdr_value[0]), "%s", value);
	r->nhdr++;
}

/* Queues the reply kept in r->pending. */
static int queue_pending(struct fota_srv_req *r)
{
	enum MHD_Result ok = MHD_queue_response(r->conn, r->status, r->pending);

	MHD_destroy_response(r->pending);
	r->pending = NULL;
	if (ok != MHD_YES) {
		r->fatal = true;
		return FOTA_ERR_IO;
	}
	track_phase(r->srv, r->track, CONN_REPLY);
	return FOTA_OK;
}

int fota_srv_reply_response(struct fota_srv_req *r, unsigned status, struct MHD_Response *resp,
			    uint64_t body_len)
{
	if (!resp) {
		r->fatal = true;
		return FOTA_ERR_NOMEM;
	}
	if (r->replied) {
		MHD_destroy_response(resp);
		return FOTA_ERR_EXIST;
	}
	for (int i = 0; i < r->nhdr; i++)
		MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
	r->nhdr = 0;
	if (atomic_load(&r->srv->draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	r->replied = true;
	r->status = status;
	r->body_len = body_len;
	r->pending = resp;
	/* MHD 0.9.75 closes the connection after a reply queued in the first call (it
	 * cannot know the body is empty): a reply made then waits for the second call,
	 * unless a body is coming that the reply refuses (access handler). */
	return r->defer ? FOTA_OK : queue_pending(r);
}

int fota_srv_reply(struct fota_srv_req *r, unsigned status, const char *type, const void *body,
		   size_t len)
{
	struct MHD_Response *resp;

	if (r->replied)
		return FOTA_ERR_EXIST;
	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)(len ? body : ""),
					       MHD_RESPMEM_MUST_COPY);
	if (resp && type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	return fota_srv_reply_response(r, status, resp, len);
}

int fota_srv_reply_json(struct fota_srv_req *r, unsigned status, json_t *j)
{
	char *text;
	int err;

	if (!j)
		return fota_srv_reply_error(r, 500, "out of memory");
	text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	if (!text)
		return fota_srv_reply_error(r, 500, "out of memory");
	err = fota_srv_reply(r, status, "application/json", text, strlen(text));
	free(text);
	return err;
}

int fota_srv_reply_error(struct fota_srv_req *r, unsigned status, const char *fmt, ...)
{
	char msg[512];
	json_t *j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:s}", "error", msg);
	if (!j) {
		static const char oom[] = "{\"error\":\"out of memory\"}";

		return fota_srv_reply(r, status, "application/json", oom, sizeof(oom) - 1);
	}
	return fota_srv_reply_json(r, status, j);
}

const char *fota_srv_header(const struct fota_srv_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* ---- requests ------------------------------------------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct fota_srv *srv = cls;
	struct fota_srv_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->srv = srv;
	r->conn = c;
	r->t0_ms = now_ms();
	r->uri = strndup(uri ? uri : "", FOTA_SRV_MEMORY_LIMIT);
	r->uri_at = uri;
	r->uri_len = uri ? strlen(uri) : 0;
	r->track = track_of(c);
	r->route = FOTA_ROUTE_OTHER;
	atomic_fetch_add(&srv->active, 1);
	return r;
}

/* The X-Forwarded-For headers of a request joined with ",", in their order. */
struct xff_join {
	char buf[FOTA_SRV_HEADERS_MAX + 1];
	size_t n;
	bool over; /* they did not fit: ignored */
};

static enum MHD_Result join_xff(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct xff_join *x = cls;
	size_t len;

	(void)kind;
	if (!key || !fota_strcaseeq(key, strlen(key), "X-Forwarded-For"))
		return MHD_YES;
	len = value ? strlen(value) : 0;
	if (x->n + len + 2 > sizeof(x->buf)) {
		x->over = true;
		return MHD_NO;
	}
	if (x->n)
		x->buf[x->n++] = ',';
	memcpy(x->buf + x->n, value ? value : "", len);
	x->n += len;
	x->buf[x->n] = '\0';
	return MHD_YES;
}

/* The client of r (proxy.h): the TCP peer; when the peer is in a --trust-proxy range, the
 * right-most X-Forwarded-For address that is not, and X-Forwarded-Proto. Headers from any
 * other peer are ignored: a client cannot choose the address the rate limit and the log
 * see. */
static void resolve_client(struct fota_srv_req *r)
{
	const struct fota_srv_conn *t = r->track;
	struct fota_srv *srv = r->srv;
	struct fota_srv_ip ip;
	struct xff_join *x;
	const char *proto;

	memset(&r->client_ip, 0, sizeof(r->client_ip));
	snprintf(r->client, sizeof(r->client), "%s", t ? t->addr : "-");
	if (!t)
		return;
	r->client_ip = t->ip;
	if (!srv->ntrust || !fota_srv_cidr_match(srv->trust, srv->ntrust, &t->ip))
		return;
	proto = fota_srv_header(r, "X-Forwarded-Proto");
	if (proto && fota_strcaseeq(proto, strlen(proto), "https"))
		r->https = true;
	x = malloc(sizeof(*x));
	if (!x)
		return;
	x->n = 0;
	x->over = false;
	x->buf[0] = '\0';
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, join_xff, x);
	if (!x->over && x->n &&
	    fota_srv_forwarded_client(x->buf, srv->trust, srv->ntrust, &ip) == FOTA_OK) {
		r->client_ip = ip;
		fota_srv_ip_text(&ip, r->client, sizeof(r->client));
	}
	free(x);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct fota_srv *srv = cls;
	struct fota_srv_req *r = *req_cls;
	bool completed = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, killed = false;
	char addr[FOTA_SRV_ADDR_MAX], path[512], method[64], line[840];
	unsigned status;
	uint64_t bytes;
	int n;

	if (!r)
		return;
	*req_cls = NULL;
	if (r->route == FOTA_ROUTE_DEVICE)
		fota_srv_device_done(r, completed);
	status = r->status;
	if (!r->replied) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);

		if (r->track) {
			pthread_mutex_lock(&srv->conn_lock);
			killed = r->track->killed;
			pthread_mutex_unlock(&srv->conn_lock);
		}
		status = ci && ci->http_status ? ci->http_status :
			 killed || toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408 : 499;
	}
	bytes = completed && !r->head ? r->body_len : 0;
	fota_srv_metrics_request(&srv->metrics, r->route, status, bytes);

	snprintf(addr, sizeof(addr), "%s", r->client[0] ? r->client : r->track ? r->track->addr : "-");
	fota_srv_log_target(path, sizeof(path), r->uri ? r->uri : "-", r->uri ? strlen(r->uri) : 1);
	/* The method as received: libmicrohttpd takes any bytes but SP, CR and LF there, so it
	 * is escaped like the target (a terminal escape must not reach the log as such). */
	fota_srv_log_field(method, sizeof(method), r->method[0] ? r->method : "-",
			   r->method[0] ? strlen(r->method) : 1);
	n = snprintf(line, sizeof(line), "%s \"%s %s\" %u %llu %llu", addr, method, path,
		     status, (unsigned long long)bytes,
		     (unsigned long long)(now_ms() - r->t0_ms));
	if (n > 0)
		fota_srv_log_line(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);

	if (r->pending)
		MHD_destroy_response(r->pending);
	fota_srv_admin_free(r);
	track_phase(srv, r->track, CONN_WAIT);
	free(r->uri);
	free(r);
	atomic_fetch_sub(&srv->active, 1);
}

static bool method_is(const struct fota_srv_req *r, const char *m)
{
	return !strcmp(r->method, m);
}

static bool get_or_head(const struct fota_srv_req *r)
{
	return method_is(r, "GET") || method_is(r, "HEAD");
}

static void not_allowed(struct fota_srv_req *r, const char *allow)
{
	fota_srv_add_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	fota_srv_reply_error(r, 405, "%s is not allowed here (allowed: %s)", r->method, allow);
}

static int route_of(const char *path, size_t len)
{
	static const struct {
		const char *prefix;
		int route;
	} routes[] = {
		{ "/api/site/firmware_upgrade", FOTA_ROUTE_DEVICE },
		{ "/api/v1/", FOTA_ROUTE_ADMIN },
		{ "/healthz", FOTA_ROUTE_HEALTHZ },
		{ "/metrics", FOTA_ROUTE_METRICS },
	};

	for (size_t i = 0; i < FOTA_ARRAY_SIZE(routes); i++) {
		size_t n = strlen(routes[i].prefix);

		if (len >= n && !memcmp(path, routes[i].prefix, n))
			return routes[i].route;
	}
	return FOTA_ROUTE_OTHER;
}

static void metrics_page(struct fota_srv_req *r)
{
	size_t len = 0;
	char *text = fota_srv_metrics_render(&r->srv->metrics, &len);

	if (!text) {
		fota_srv_reply_error(r, 500, "out of memory");
		return;
	}
	fota_srv_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

static enum MHD_Result count_lengths(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	(void)kind;
	(void)value;
	if (fota_strcaseeq(key, strlen(key), MHD_HTTP_HEADER_CONTENT_LENGTH))
		(*(unsigned *)cls)++;
	return MHD_YES;
}

/* Whether the framing of the body is ambiguous (RFC 9112 6.3: a request smuggling
 * vector): two Content-Length headers, or one with Transfer-Encoding. */
static bool ambiguous_length(const struct fota_srv_req *r)
{
	unsigned n = 0;

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_lengths, &n);
	return n > 1 || (n && fota_srv_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING));
}

/* Whether the request target held a NUL byte: MHD hands the target over as a C string,
 * cut at the NUL. In libmicrohttpd 0.9.75 the target and the HTTP version lie in the
 * request line's buffer, so the distance between them tells the target's real length;
 * with any other layout this check stays silent. */
static bool nul_in_target(const struct fota_srv_req *r, const char *url, const char *version)
{
	uintptr_t u = (uintptr_t)url, v = (uintptr_t)version;

	if (!url || url != r->uri_at || !version || !*version || v <= u ||
	    v - u > FOTA_SRV_MEMORY_LIMIT)
		return false;
	return v - u - 1 != r->uri_len; /* - 1: the space before the version */
}

/* The headers of a request are in: checks the limits, routes, and answers or prepares to
 * take the body. */
static void begin(struct fota_srv_req *r, const char *method, const char *url,
		  const char *version)
{
	const char *uri = r->uri ? r->uri : url, *qm = strchr(uri, '?');
	size_t plen = qm ? (size_t)(qm - uri) : strlen(uri);
	const char *q = qm ? qm + 1 : "";
	size_t qlen = strlen(q);
	const union MHD_ConnectionInfo *ci;
	struct fota_srv_path path;
	int err;

	snprintf(r->method, sizeof(r->method), "%s", method);
	r->head = method_is(r, "HEAD");
	resolve_client(r);
	track_phase(r->srv, r->track, CONN_BODY);
	r->route = route_of(uri, plen);

	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (ci && ci->header_size > FOTA_SRV_HEADERS_MAX) {
		fota_srv_reply_error(r, 431, "the request line and headers are over %d bytes",
				     FOTA_SRV_HEADERS_MAX);
		return;
	}
	if (ambiguous_length(r)) {
		r->close_now = true;
		fota_srv_reply_error(r, 400, "two Content-Length headers, or Content-Length with "
				     "Transfer-Encoding");
		return;
	}
	if (nul_in_target(r, url, version)) {
		fota_srv_reply_error(r, 400, "a NUL byte in the request target");
		return;
	}
	if (qlen > FOTA_SRV_QUERY_MAX) {
		fota_srv_reply_error(r, 414, "the query string is over %d bytes", FOTA_SRV_QUERY_MAX);
		return;
	}
	err = fota_srv_path_split(&path, uri, plen);
	if (err == FOTA_ERR_TOOLONG) {
		fota_srv_reply_error(r, 414, "the path is over %d bytes", FOTA_SRV_PATH_MAX);
		return;
	}
	if (err) {
		fota_srv_reply_error(r, 400, "malformed path: bad escape, control character, "
				     "'..' or an encoded '/'");
		return;
	}
	if (r->route != FOTA_ROUTE_DEVICE && qlen) {
		struct fota_srv_query query; /* the device API answers bad queries its own way */

		if (fota_srv_query_parse(&query, q, qlen) != FOTA_OK) {
			fota_srv_reply_error(r, 400, "malformed query string: bad escape, invalid "
					     "UTF-8, a control character, or over %d parameters",
					     FOTA_SRV_PARAMS_MAX);
			return;
		}
	}
	if (path.n == 1 && !strcmp(path.seg[0], "healthz")) {
		r->route = FOTA_ROUTE_HEALTHZ;
		if (get_or_head(r))
			fota_srv_reply(r, 200, "text/plain; charset=utf-8", "ok", 2);
		else
			not_allowed(r, "GET, HEAD");
	} else if (path.n == 1 && !strcmp(path.seg[0], "metrics")) {
		r->route = FOTA_ROUTE_METRICS;
		if (get_or_head(r))
			metrics_page(r);
		else
			not_allowed(r, "GET, HEAD");
	} else if (path.n == 3 && !strcmp(path.seg[0], "api") && !strcmp(path.seg[1], "site") &&
		   !strcmp(path.seg[2], "firmware_upgrade")) {
		r->route = FOTA_ROUTE_DEVICE;
		if (get_or_head(r))
			fota_srv_device(r, q, qlen);
		else
			not_allowed(r, "GET, HEAD");
	} else if (path.n >= 2 && !strcmp(path.seg[0], "api") && !strcmp(path.seg[1], "v1")) {
		r->route = FOTA_ROUTE_ADMIN;
		fota_srv_admin_begin(r, &path, q, qlen);
	} else {
		r->route = FOTA_ROUTE_OTHER;
		fota_srv_reply_error(r, 404, "no such path");
	}
}

/* Whether the request announces a body (a Content-Length above 0, or chunked). */
static bool has_body(const struct fota_srv_req *r)
{
	const char *cl = fota_srv_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (fota_srv_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return true;
	return cl && strspn(cl, " 0") != strlen(cl);
}

static uint64_t discard_cap(const struct fota_srv *srv)
{
	return 2 * srv->max_firmware + FOTA_SRV_DISCARD_MIN;
}

/* Whether the client waits for "100 Continue" before it sends its body. */
static bool expects_continue(const struct fota_srv_req *r)
{
	const char *e = fota_srv_header(r, MHD_HTTP_HEADER_EXPECT);

	return e && fota_strcaseeq(e, strlen(e), "100-continue");
}

/* Whether the body announced is short enough to be read and dropped. */
static bool body_droppable(const struct fota_srv_req *r)
{
	const char *cl = fota_srv_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return cl && strtoull(cl, NULL, 10) <= discard_cap(r->srv);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *data,
				 size_t *size, void **req_cls)
{
	struct fota_srv *srv = cls;
	struct fota_srv_req *r = *req_cls;

	if (!r) {
		r = on_uri(srv, url, c);
		if (!r)
			return MHD_NO;
		*req_cls = r;
	}
	if (!r->started) {
		r->started = true;
		r->defer = true;
		begin(r, method, url, version);
		r->defer = false;
		/* A body refused before it came is read and dropped, then the answer goes
		 * out: a client that sends its whole body before it reads would otherwise
		 * meet a reset instead of the answer. A body refused for its declared length,
		 * too long a body, or one the client holds back for "100 Continue" is not
		 * waited for: the answer goes now and MHD closes the connection after it. */
		if (r->pending && has_body(r) &&
		    (r->close_now || expects_continue(r) || !body_droppable(r)))
			queue_pending(r); /* MHD closes the connection after it */
		return r->fatal ? MHD_NO : MHD_YES;
	}
	if (*size) {
		r->body_total += *size;
		if (r->body_total > discard_cap(srv)) {
			fota_srv_log("%s: closing: a body of more than %llu bytes",
				     r->client[0] ? r->client : r->track ? r->track->addr : "-",
				     (unsigned long long)discard_cap(srv));
			return MHD_NO;
		}
		if (r->track) {
			pthread_mutex_lock(&srv->conn_lock);
			r->track->body_bytes += *size;
			pthread_mutex_unlock(&srv->conn_lock);
		}
		if (!r->replied && r->route == FOTA_ROUTE_ADMIN)
			fota_srv_admin_body(r, data, *size);
		*size = 0;
		return r->fatal ? MHD_NO : MHD_YES;
	}
	if (r->pending)
		queue_pending(r);
	if (!r->replied && r->route == FOTA_ROUTE_ADMIN)
		fota_srv_admin_end(r);
	if (!r->replied)
		fota_srv_reply_error(r, 500, "no answer");
	return r->fatal ? MHD_NO : MHD_YES;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (strchr(msg, '?')) {
		char safe[768]; /* a request target in it: its credentials redacted */

		fota_srv_log("mhd: %s", fota_srv_log_target(safe, sizeof(safe), msg, n));
		return;
	}
	fota_srv_log("mhd: %s", msg);
}

/* ---- start and stop ------------------------------------------------------------------------- */

int fota_srv_init(struct fota_srv *srv)
{
	memset(srv, 0, sizeof(*srv));
	srv->conns.next = srv->conns.prev = &srv->conns;
	fota_srv_metrics_init(&srv->metrics);
	atomic_init(&srv->active, 0);
	atomic_init(&srv->draining, false);
	if (pthread_mutex_init(&srv->pool_lock, NULL) || pthread_mutex_init(&srv->files_lock, NULL) ||
	    pthread_mutex_init(&srv->conn_lock, NULL) || pthread_cond_init(&srv->reaper_cv, NULL) ||
	    fota_srv_seen_init(&srv->seen) || fota_srv_authlimit_init(&srv->auth))
		return FOTA_ERR_NOMEM;
	return FOTA_OK;
}

void fota_srv_free(struct fota_srv *srv)
{
	for (size_t i = 0; i < srv->pool_n; i++)
		fota_store_close(srv->pool[i]);
	free(srv->pool);
	srv->pool = NULL;
	srv->pool_n = srv->pool_cap = 0;
	fota_srv_seen_free(&srv->seen);
	fota_srv_authlimit_free(&srv->auth);
	pthread_cond_destroy(&srv->reaper_cv);
	pthread_mutex_destroy(&srv->conn_lock);
	pthread_mutex_destroy(&srv->files_lock);
	pthread_mutex_destroy(&srv->pool_lock);
}

/* The listening socket on srv->host:srv->port. Returns it, or -1 (logged). */
static int listen_socket(struct fota_srv *srv, bool *ipv6)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[8];
	int fd = -1, one = 1, err;

	snprintf(port, sizeof(port), "%u", srv->port);
	err = getaddrinfo(srv->host, port, &hints, &ai);
	if (err) {
		fota_srv_log("--listen %s:%s: %s", srv->host, port, gai_strerror(err));
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 511) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		fota_srv_log("--listen %s:%s: %s", srv->host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	*ipv6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	srv->bound_port = ntohs(ss.ss_family == AF_INET6 ?
				((struct sockaddr_in6 *)&ss)->sin6_port :
				((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int fota_srv_start(struct fota_srv *srv)
{
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	bool ipv6 = false;
	int fd = listen_socket(srv, &ipv6);

	if (fd < 0)
		return FOTA_ERR_IO;
	if (fota_srv_seen_start(srv)) {
		fota_srv_log("cannot start the last_seen writer");
		close(fd);
		return FOTA_ERR_IO;
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	srv->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)FOTA_SRV_TIMEOUT,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)FOTA_SRV_MEMORY_LIMIT,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)FOTA_SRV_CONN_MAX,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
		MHD_OPTION_END);
	if (!srv->mhd) {
		fota_srv_log("libmicrohttpd did not start (threads %u)", srv->threads);
		close(fd);
		return FOTA_ERR_IO;
	}
	srv->reaper_run = true;
	if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0) {
		fota_srv_log("cannot start the reaper thread");
		srv->reaper_run = false;
		return FOTA_ERR_IO;
	}
	srv->reaper_started = true;
	return FOTA_OK;
}

void fota_srv_quiesce(struct fota_srv *srv)
{
	int fd;

	atomic_store(&srv->draining, true);
	if (!srv->mhd || srv->quiesced)
		return;
	srv->quiesced = true;
	/* The listening socket is ours after this: closed now, so that new clients are
	 * refused at once instead of waiting in the backlog. */
	fd = MHD_quiesce_daemon(srv->mhd);
	if (fd >= 0)
		close(fd);
}

void fota_srv_stop(struct fota_srv *srv)
{
	atomic_store(&srv->draining, true);
	if (srv->mhd) {
		MHD_stop_daemon(srv->mhd); /* closes the listening socket unless quiesced */
		srv->mhd = NULL;
	}
	fota_srv_seen_stop(srv); /* after the workers: no more checks */
	if (srv->reaper_started) {
		pthread_mutex_lock(&srv->conn_lock);
		srv->reaper_run = false;
		pthread_cond_signal(&srv->reaper_cv);
		pthread_mutex_unlock(&srv->conn_lock);
		pthread_join(srv->reaper, NULL);
		srv->reaper_started = false;
	}
}
