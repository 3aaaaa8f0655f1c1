/*
 * server.h - the parts of fota-server that share state: the server (struct fota_srv), one
 * request (struct fota_srv_req), the HTTP front on libmicrohttpd (http.c), the device API
 * (device.c), the admin API (admin.c) and the firmware files (upload.c). docs/server.md
 * tells how they fit; docs/server-api.md is the contract they answer to.
 *
 * Threads: libmicrohttpd runs a pool of worker threads, each with its own epoll set; every
 * callback below runs on the worker that owns the connection, one request of a connection
 * at a time. What is shared between workers is in struct fota_srv and guarded as said
 * there.
 */
#ifndef FOTA_SRV_SERVER_H
#define FOTA_SRV_SERVER_H

#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "authlimit.h"
#include "keys.h"
#include "metrics.h"
#include "proxy.h"
#include "req.h"
#include "store.h"

#define FOTA_SRV_DEFAULT_LISTEN "127.0.0.1:8080"
#define FOTA_SRV_DEFAULT_DATA "./fota-data"
#define FOTA_SRV_DEFAULT_MAX_FIRMWARE (64u << 20)
#define FOTA_SRV_JSON_MAX (64u << 10)   /* bytes of a JSON request body */
#define FOTA_SRV_HEADERS_MAX 8192       /* bytes of a request's line and headers */
#define FOTA_SRV_MEMORY_LIMIT (16u << 10) /* MHD's memory pool per connection */
#define FOTA_SRV_TIMEOUT 30             /* seconds: idle connection; a phase's grace */
#define FOTA_SRV_MIN_RATE 1024          /* bytes/s a body must average after the grace */
#define FOTA_SRV_CONN_MAX 1000          /* connections at once */
#define FOTA_SRV_THREADS_MAX 16
#define FOTA_SRV_TRUST_MAX 32           /* --trust-proxy ranges */
#define FOTA_SRV_ADDR_MAX 64            /* a client address as text */
#define FOTA_SRV_DRAIN_MS 60000         /* longest wait for requests under way at exit */
#define FOTA_SRV_DISCARD_MIN (1u << 20) /* a body refused is read and dropped up to twice
					 * --max-firmware plus this, then the connection
					 * is closed */
#define FOTA_SRV_SEEN_MAX 8192         /* devices whose last_seen waits to be written */
#define FOTA_SRV_SEEN_MS 10             /* ... in a batch this many ms after the first */

/* One TCP connection, as the slow-client reaper sees it (http.c). Guarded by conn_lock. */
struct fota_srv_conn {
	struct fota_srv_conn *prev, *next;
	int fd;
	int phase;           /* CONN_WAIT, CONN_BODY or CONN_REPLY (http.c) */
	uint64_t since_ms;   /* when the phase began (CLOCK_MONOTONIC) */
	uint64_t body_bytes; /* of the request body so far, in CONN_BODY */
	bool killed;         /* the reaper shut it down */
	char addr[FOTA_SRV_ADDR_MAX]; /* the peer's address */
	struct fota_srv_ip ip;        /* ... the same (family 0: unknown) */
};

struct fota_srv_upload;

/* The devices' last_seen waiting to be written in a batch (seen.c). */
struct fota_srv_seen {
	pthread_mutex_t lock;    /* guards the rest but started and thread */
	pthread_cond_t cv;       /* the writer waits here */
	struct fota_seen *v;     /* waiting: n of FOTA_SRV_SEEN_MAX */
	struct fota_seen *out;   /* the batch being written (the writer's) */
	uint32_t *slot;          /* 2 * FOTA_SRV_SEEN_MAX: index + 1 in v by device id */
	size_t n;
	bool run;                /* taking more */
	bool started;            /* the writer runs (set before the workers, cleared after) */
	pthread_t thread;
};

/* The server: configuration (set by main before fota_srv_start, then read-only) and the
 * state the workers share. */
struct fota_srv {
	/* configuration */
	char host[256];
	uint16_t port;
	char data_dir[PATH_MAX - 128];
	char fw_dir[PATH_MAX - 96];      /* DATA/firmware */
	char db_url[PATH_MAX + 16];
	bool have_token;                 /* the admin API is on */
	uint8_t token_sha[32];           /* SHA-256 of the admin token (the token is not kept) */
	uint64_t max_firmware;
	unsigned threads;
	struct fota_srv_cidr trust[FOTA_SRV_TRUST_MAX]; /* --trust-proxy ranges */
	size_t ntrust;

	/* running state */
	struct MHD_Daemon *mhd;
	bool quiesced;                   /* no longer accepting */
	uint16_t bound_port;
	struct fota_srv_metrics metrics; /* atomics */
	atomic_uint active;              /* requests under way */
	atomic_bool draining;            /* stopping: answers say Connection: close */

	pthread_mutex_t pool_lock;       /* guards pool */
	struct fota_store **pool;        /* idle store connections */
	size_t pool_n, pool_cap;

	pthread_mutex_t files_lock;      /* orders "rename + insert" against "delete + unlink" */

	struct fota_srv_authlimit auth;  /* failed admin authentications (its own locks) */

	struct fota_srv_seen seen;       /* last_seen written in batches (seen.c) */

	pthread_mutex_t conn_lock;       /* guards conns, each conn's fields, reaper_run */
	pthread_cond_t reaper_cv;
	struct fota_srv_conn conns;      /* list head (a sentinel) */
	bool reaper_run;
	bool reaper_started;
	pthread_t reaper;
};

/* How a request's body is taken. */
enum fota_srv_body {
	FOTA_BODY_DISCARD = 0, /* read and dropped */
	FOTA_BODY_JSON,        /* kept in body, up to FOTA_SRV_JSON_MAX */
	FOTA_BODY_UPLOAD,      /* streamed to a temporary file (upload.c) */
};

/* One request, from its request line to the end of its response. Owned by the worker
 * that serves the connection; freed when MHD says the request is over. */
struct fota_srv_req {
	struct fota_srv *srv;
	struct MHD_Connection *conn;
	struct fota_srv_conn *track;     /* may be NULL */
	uint64_t t0_ms;
	char *uri;                       /* the raw request target (malloc) */
	char method[16];
	int route;                       /* enum fota_srv_route */
	char client[FOTA_SRV_ADDR_MAX];  /* the client's address (proxy.h), "" until the
					  * headers are in */
	struct fota_srv_ip client_ip;
	bool https;                      /* a trusted proxy said X-Forwarded-Proto: https */
	bool started;                    /* the access handler saw the headers */
	bool replied;                    /* a response is queued */
	bool head;                       /* a HEAD request: no body is sent */
	unsigned status;                 /* of the response queued */
	uint64_t body_len;               /* of the response queued */

	int body_kind;                   /* enum fota_srv_body */
	char *body;                      /* FOTA_BODY_JSON: the bytes (malloc) */
	size_t body_size;
	bool body_over;                  /* more than the limit came */
	struct fota_srv_upload *up;      /* FOTA_BODY_UPLOAD */

	int op;                          /* the admin route (admin.c) */
	char key[FOTA_SRV_KEY_LEN + 1];  /* its project key */
	int64_t fw_id;                   /* its firmware id */
	bool upload_enabled, upload_all; /* an upload's switches */

	int64_t dl_fw_id;                /* a download that counts as completed ... */
	bool dl_to_end;                  /* ... if it was sent whole (it ends at the last byte) */

	const char *hdr_name[4];         /* extra headers of the next reply (static strings */
	char hdr_value[4][160];          /* for the names; the values copied) */
	int nhdr;
	bool fatal;                      /* MHD refused a reply: close the connection */
	bool defer;                      /* in the first call: keep the reply for the next */
	struct MHD_Response *pending;    /* the reply kept, not yet queued */
	uint64_t body_total;             /* request body bytes read */
	bool close_now;                  /* answer before the body, then close (a declared
					  * length over the limit, request smuggling) */
	const char *uri_at;              /* MHD's pointer to the URI (to find a NUL in it) */
	size_t uri_len;                  /* strlen of the URI MHD gave */
};

/* ---- http.c ------------------------------------------------------------------------------ */

/* fota_srv_start: starts the HTTP server of srv (configured) on srv->host:srv->port: the
 * MHD worker pool and the slow-client reaper; sets srv->bound_port. Returns FOTA_OK or
 * FOTA_ERR_IO (logged). */
int fota_srv_start(struct fota_srv *srv);

/* fota_srv_quiesce: stops accepting connections; those open go on. */
void fota_srv_quiesce(struct fota_srv *srv);

/* fota_srv_stop: stops the server: closes every connection, joins the workers and the
 * reaper, closes the listening socket. Safe after a failed or partial start. */
void fota_srv_stop(struct fota_srv *srv);

/* fota_srv_init: zeroes srv and makes its locks (before the configuration is filled in).
 * Returns FOTA_OK or FOTA_ERR_NOMEM. fota_srv_free undoes it and closes the pooled
 * stores. */
int fota_srv_init(struct fota_srv *srv);
void fota_srv_free(struct fota_srv *srv);

/* fota_srv_store_get: a store connection for this thread's use until fota_srv_store_put:
 * an idle one of the pool or a new one. Returns NULL (logged) if none can be opened. */
struct fota_store *fota_srv_store_get(struct fota_srv *srv);

/* fota_srv_store_put: gives s (may be NULL) back to the pool. */
void fota_srv_store_put(struct fota_srv *srv, struct fota_store *s);

/* fota_srv_header: the value of the request header name (MHD's string, valid while the
 * request lasts), or NULL. */
const char *fota_srv_header(const struct fota_srv_req *r, const char *name);

/* fota_srv_add_header: adds the header name (a static string) with a copy of value (cut
 * at 159 bytes) to the next reply of r; at most 4 (more are dropped). */
void fota_srv_add_header(struct fota_srv_req *r, const char *name, const char *value);

/* fota_srv_reply: queues the response status with a copy of the len bytes at body
 * (the caller's; may be NULL when len is 0) and Content-Type type (NULL: none). Returns
 * FOTA_OK, or FOTA_ERR_NOMEM/FOTA_ERR_IO when MHD refused (the connection is then closed).
 * Only the first reply of a request counts; later ones return FOTA_ERR_EXIST. */
int fota_srv_reply(struct fota_srv_req *r, unsigned status, const char *type, const void *body,
		   size_t len);

/* fota_srv_reply_json: queues status with the ASCII-only compact text of j, and drops the
 * reference to j (which may be NULL: then a 500). Returns as fota_srv_reply. */
int fota_srv_reply_json(struct fota_srv_req *r, unsigned status, json_t *j);

/* fota_srv_reply_error: queues status with {"error":"<the formatted English sentence>"}. */
int fota_srv_reply_error(struct fota_srv_req *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* fota_srv_reply_response: queues status with resp (built by the caller, who added its
 * headers; this function adds the common ones and destroys the caller's reference).
 * body_len is what the body will count in the log if all of it is sent. Returns as
 * fota_srv_reply. */
int fota_srv_reply_response(struct fota_srv_req *r, unsigned status, struct MHD_Response *resp,
			    uint64_t body_len);

/* ---- device.c ---------------------------------------------------------------------------- */

/* fota_srv_device: answers a GET or HEAD of /api/site/firmware_upgrade with the raw query
 * string q (qlen bytes, the caller's): the decision, then a refusal or the image. */
void fota_srv_device(struct fota_srv_req *r, const char *q, size_t qlen);

/* fota_srv_device_done: the request r is over; completed tells whether all of its response
 * was sent. Counts a completed download. */
void fota_srv_device_done(struct fota_srv_req *r, bool completed);

/* ---- seen.c ------------------------------------------------------------------------------ */

/* fota_srv_seen_init: makes the lock and condition of q, empty (fota_srv_init calls it);
 * fota_srv_seen_free undoes it and frees the batches. Returns FOTA_OK or FOTA_ERR_NOMEM. */
int fota_srv_seen_init(struct fota_srv_seen *q);
void fota_srv_seen_free(struct fota_srv_seen *q);

/* fota_srv_seen_start: starts the thread that writes the devices' last_seen in batches.
 * Returns FOTA_OK or FOTA_ERR_NOMEM. */
int fota_srv_seen_start(struct fota_srv *srv);

/* fota_srv_seen_add: device (a valid id) was seen at at: written with the next batch.
 * Returns FOTA_OK, or FOTA_ERR_BUSY when the batch is full or the writer stopped: the
 * caller then writes it itself. */
int fota_srv_seen_add(struct fota_srv *srv, const char *device, int64_t at);

/* fota_srv_seen_stop: writes what waits and stops the thread (after the workers). Safe
 * when it never started. */
void fota_srv_seen_stop(struct fota_srv *srv);

/* ---- admin.c ----------------------------------------------------------------------------- */

/* fota_srv_admin_begin: the headers of a request under /api/v1 are in (path holds its
 * decoded segments, "api" and "v1" first; q the raw query, qlen bytes): authorizes, routes,
 * and either answers or sets r->body_kind to take a body. */
void fota_srv_admin_begin(struct fota_srv_req *r, const struct fota_srv_path *path,
			  const char *q, size_t qlen);

/* fota_srv_admin_body: the next len bytes of the request body (MHD's, read during the call
 * only). */
void fota_srv_admin_body(struct fota_srv_req *r, const char *data, size_t len);

/* fota_srv_admin_end: the whole body is in: answers. */
void fota_srv_admin_end(struct fota_srv_req *r);

/* fota_srv_admin_free: frees what the admin API keeps in r (body, unfinished upload). */
void fota_srv_admin_free(struct fota_srv_req *r);

/* ---- upload.c ---------------------------------------------------------------------------- */

/* fota_srv_files_init: makes DATA/firmware if missing, removes the temporary files a crash
 * left (.tmp-*) and the image files no firmware row names (a crash between rename and
 * insert). Returns FOTA_OK or FOTA_ERR_IO (logged). */
int fota_srv_files_init(struct fota_srv *srv, struct fota_store *s);

/* fota_srv_file_path: the path of the image file of sha256 (64 hex digits) into out (cap
 * bytes). Returns FOTA_OK or FOTA_ERR_TOOLONG. */
int fota_srv_file_path(const struct fota_srv *srv, const char *sha256, char *out, size_t cap);

/* fota_srv_file_unused: a fota_store_str_fn for the store's deletes: removes the image
 * file of sha256 (ctx is the struct fota_srv). Call with files_lock held. Returns 0. */
int fota_srv_file_unused(void *ctx, const char *sha256);

/* fota_srv_upload_begin: a new upload of an image to be called name/version into *out: a
 * temporary file DATA/firmware/.tmp-XXXXXX, a streaming verifier and a SHA-256 of the
 * file. Returns FOTA_OK, FOTA_ERR_NOMEM or FOTA_ERR_IO (logged). */
int fota_srv_upload_begin(struct fota_srv *srv, const char *name, const char *version,
			  struct fota_srv_upload **out);

/* fota_srv_upload_add_key: requires the image of up, begun and not yet fed, to be signed
 * by k or another key added so (the project's keys). Returns FOTA_OK, FOTA_ERR_NOMEM, or
 * the error of a key that does not parse (keys.h). */
int fota_srv_upload_add_key(struct fota_srv_upload *up, const struct fota_project_key *k);

/* fota_srv_upload_feed: the next len bytes of the body (the caller's): written to the
 * temporary file, verified and hashed. Once something is wrong (a bad image, too many
 * bytes, a failed write) the rest is dropped and fota_srv_upload_finish tells. */
void fota_srv_upload_feed(struct fota_srv_upload *up, const char *data, size_t len);

/* fota_srv_upload_finish: the body is over. When the image is whole, valid, named as
 * expected and (the project having keys) signed by one of them, the file is synced and renamed to DATA/firmware/<sha256>.fota, the folder
 * synced, and fw (the caller's) filled in but for id, enabled, all_devices and created.
 * Else *status gets the HTTP status (400, 413, 500, 507) and msg (cap bytes) the
 * sentence. Returns FOTA_OK or the error (FOTA_ERR_INVAL, FOTA_ERR_FBIG, FOTA_ERR_IO,
 * FOTA_ERR_NOSPC). Call with files_lock held. up stays the caller's to free. */
int fota_srv_upload_finish(struct fota_srv_upload *up, struct fota_firmware *fw,
			   unsigned *status, char *msg, size_t cap);

/* fota_srv_upload_signer: the SHA-256 (hex) of the key whose signature held, once
 * fota_srv_upload_finish succeeded for a project with keys; else NULL. */
const char *fota_srv_upload_signer(const struct fota_srv_upload *up);

/* fota_srv_upload_free: closes and removes the temporary file if still there, frees up
 * (may be NULL). */
void fota_srv_upload_free(struct fota_srv_upload *up);

#endif /* FOTA_SRV_SERVER_H */
