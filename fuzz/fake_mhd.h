/*
 * fake_mhd.h - a stand-in for libmicrohttpd that the fuzz_srv_* targets link instead of
 * the real library, so that fota-server's HTTP front (src/server/http.c) and its handlers
 * run whole, in the fuzzer's thread, without sockets.
 *
 * fota_srv_start() hands its callbacks to MHD_start_daemon(): the fake keeps them in
 * fake_mhd, and the harness then plays MHD 0.9.75's part: a connection (notify STARTED),
 * for each request the URI log callback, the access handler with the headers, the body in
 * chunks and the final call, the completed callback, and at the end notify CLOSED. The
 * connection's request headers are the harness's; what the handlers queue is recorded
 * here so that the harness can check it. Only the calls fota-server makes are provided;
 * an option of MHD_start_daemon the fake does not know aborts (the harness must then
 * learn it).
 */
#ifndef FAKE_MHD_H
#define FAKE_MHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#define FAKE_HDR_MAX 40
#define FAKE_RESP_HDR_MAX 16

struct fake_hdr {
	const char *name, *value; /* the harness's strings */
};

struct MHD_Response {
	int refs;
	bool is_fd;
	int fd;                 /* is_fd: the file, closed with the response */
	uint64_t offset, size;  /* is_fd: what is sent of it */
	char *body;             /* !is_fd: a copy of the body (NUL-terminated) */
	const void *persist;    /* MHD_RESPMEM_PERSISTENT: the caller's buffer, read again when
				 * the response is "sent" (fake_mhd_sent) */
	size_t len;
	char *hname[FAKE_RESP_HDR_MAX], *hvalue[FAKE_RESP_HDR_MAX];
	int nh;
	bool bad_header;        /* a header MHD would refuse (control byte, empty name) */
};

struct MHD_Connection {
	struct fake_hdr hdr[FAKE_HDR_MAX];
	size_t nhdr;
	size_t header_size;
	struct sockaddr_storage addr;
	bool no_addr;               /* MHD_CONNECTION_INFO_CLIENT_ADDRESS gives NULL */
	void *socket_context;
	unsigned mhd_status;        /* a status MHD itself answered (no handler) */
	struct MHD_Response *queued; /* the reply queued for the current request */
	unsigned status;
	unsigned queue_calls;       /* MHD_queue_response calls for the current request */
	bool refuse_queue;          /* MHD_queue_response fails */
	union MHD_ConnectionInfo info;
};

struct fake_mhd {
	MHD_AccessHandlerCallback access;
	void *access_cls;
	void *(*uri_log)(void *cls, const char *uri, struct MHD_Connection *c);
	void *uri_log_cls;
	MHD_RequestCompletedCallback completed;
	void *completed_cls;
	MHD_NotifyConnectionCallback notify;
	void *notify_cls;
	MHD_LogCallback logger;
	void *logger_cls;
	int listen_fd;
	bool started;
	bool oom;                   /* MHD_create_response_* return NULL */
	unsigned responses;         /* responses alive */
};

extern struct fake_mhd fake_mhd;

/* fake_mhd_sent: the response r goes out: a PERSISTENT buffer must still hold the body
 * (ASan says so if it is gone). Returns false when it changed. */
bool fake_mhd_sent(const struct MHD_Response *r);

#endif /* FAKE_MHD_H */
