/*
 * fake_server.h - a scripted in-memory HTTP server behind a fake network port (tests).
 *
 * fake_server_init() gives a struct fota_net whose connections never touch a socket:
 * each one records the request bytes the client sends and, once the request's header is
 * whole, answers it from the route that matches its path (a file with ETag,
 * Last-Modified, Range/If-Range and If-None-Match; a JSON refusal; a redirect; garbage;
 * raw bytes). Faults are scripted per connection (in the order they are opened): errors
 * of open, ready and send, a connect or a send that never ends, and, on the answer, a
 * reset, a close or a stall once a given number of body bytes went out. recv hands out
 * at most `chunk` bytes at a time, so a parser sees every chunking. Body bytes actually
 * handed to the client are counted.
 */
#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fota/net.h"

#define FAKE_MAX_CONNS 96
#define FAKE_MAX_ROUTES 16
#define FAKE_REQ_MAX 1536

enum fake_handler {
	FAKE_NOT_FOUND = 0, /* 404, empty body (also when no route matches) */
	FAKE_FILE,          /* serves body: 200, 206, 304, 416 */
	FAKE_REFUSE,        /* status with {"code":code,"msg":"\u5df2..."} (or a text body) */
	FAKE_REDIRECT,      /* status (302 when 0) with Location */
	FAKE_GARBAGE,       /* bytes that are no HTTP at all */
	FAKE_RAW,           /* raw: the whole answer as given */
};

struct fake_route {
	const char *path;          /* the request path it serves, query ignored; NULL: any */
	enum fake_handler kind;
	/* FAKE_FILE */
	const uint8_t *body;
	size_t len;
	const char *etag;          /* NULL: none sent */
	const char *last_modified; /* NULL: none sent */
	bool ignore_range;         /* answers 200 to a Range request */
	uint32_t range_skew;       /* a 206 starts this many bytes after the start asked */
	bool chunked;              /* Transfer-Encoding: chunked instead of Content-Length */
	bool no_length;            /* neither: the body ends with the connection (HTTP/1.0) */
	uint32_t length_extra;     /* Content-Length says this many bytes more than sent */
	/* FAKE_REFUSE, FAKE_REDIRECT */
	int status;
	int code;
	bool no_json;              /* FAKE_REFUSE: a text body instead of JSON */
	const char *location;
	/* FAKE_RAW */
	const char *raw;
};

enum fake_act {
	FAKE_ACT_NONE = 0,
	FAKE_ACT_CUT,   /* recv returns FOTA_ERR_CONNRESET */
	FAKE_ACT_CLOSE, /* recv returns 0 (an orderly close, the answer cut short) */
	FAKE_ACT_STALL, /* recv returns FOTA_ERR_AGAIN for ever */
};

/* What goes wrong on one connection; all zero: nothing. */
struct fake_fault {
	int open_err;        /* open returns it */
	int ready_err;       /* ready returns it, after ready_wait FOTA_ERR_AGAIN */
	uint32_t ready_wait;
	bool ready_hang;     /* ready says FOTA_ERR_AGAIN for ever */
	bool send_hang;      /* send takes nothing for ever */
	int send_err;        /* send returns it (the link failed under the request) */
	enum fake_act act;   /* once `at` body bytes of the answer were handed out */
	uint32_t at;
};

struct fake_conn {
	char host[64];
	uint16_t port;
	bool tls;
	bool closed;
	uint64_t opened_at;  /* the server's clock at open */
	uint64_t closed_at;
	struct fake_fault fault;
	uint32_t ready_calls;
	char req[FAKE_REQ_MAX + 1]; /* the bytes sent, NUL-terminated */
	size_t req_len;
	bool req_overflow;
	uint8_t *resp;       /* the answer, built when the request is whole */
	size_t resp_len, hdr_len, off;
	int status;          /* status of the answer (0: none built) */
	uint64_t body_sent;  /* body bytes handed out on this connection */
};

struct fake_server {
	struct fota_net port;     /* give &port to the agent; port.ctx points here */
	uint64_t now;             /* the test's clock, stamped on opens and closes */
	size_t chunk;             /* recv hands out at most this many bytes (default 512) */
	size_t send_chunk;        /* send takes at most this many bytes (0: all) */
	struct fake_route routes[FAKE_MAX_ROUTES];
	size_t nroutes;
	struct fake_fault faults[FAKE_MAX_CONNS]; /* by connection number, from 0 */
	struct fake_fault every;  /* for connections whose entry in faults is all zero */
	struct fake_conn conns[FAKE_MAX_CONNS];
	size_t nconns;            /* open calls, failed ones included (closed at once) */
	bool too_many;            /* an open past FAKE_MAX_CONNS was refused */
	uint64_t body_delivered;  /* body bytes handed out, all connections */
};

/* fake_server_init: an empty server (no routes, no faults, chunk 512). */
void fake_server_init(struct fake_server *s);

/* fake_server_free: frees the answers still held; s may be initialized again. */
void fake_server_free(struct fake_server *s);

/* fake_server_route: adds a route for path (borrowed; NULL: any) and returns it for the
 * caller to fill in. Routes are matched in the order they were added. */
struct fake_route *fake_server_route(struct fake_server *s, const char *path,
				     enum fake_handler kind);

/* fake_server_find: the route for path (borrowed), or NULL. */
struct fake_route *fake_server_find(struct fake_server *s, const char *path);

/* fake_server_open_conns: connections not closed by the client. */
size_t fake_server_open_conns(const struct fake_server *s);

/* fake_req_header: the value of request header name (any case) of connection c, copied
 * into buf (cap bytes) without its surrounding blanks; NULL when the request has none. */
const char *fake_req_header(const struct fake_conn *c, const char *name, char *buf, size_t cap);

/* fake_req_target: the request target of connection c ("/path?query") copied into buf. */
const char *fake_req_target(const struct fake_conn *c, char *buf, size_t cap);

/* fake_req_line: the request line of connection c, without CR LF, copied into buf. */
const char *fake_req_line(const struct fake_conn *c, char *buf, size_t cap);

#endif /* FAKE_SERVER_H */
