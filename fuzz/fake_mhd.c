/* fake_mhd.c - the libmicrohttpd calls fota-server makes, played in memory (fake_mhd.h). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fake_mhd.h"

struct fake_mhd fake_mhd = { .listen_fd = -1 };

static struct MHD_Daemon *const the_daemon = (struct MHD_Daemon *)&fake_mhd;

static void die(const char *what)
{
	fprintf(stderr, "fake_mhd: %s\n", what);
	abort();
}

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
				    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	va_list ap;
	int opt;

	(void)flags;
	(void)port;
	(void)apc;
	(void)apc_cls;
	fake_mhd.access = dh;
	fake_mhd.access_cls = dh_cls;
	va_start(ap, dh_cls);
	while ((opt = va_arg(ap, int)) != MHD_OPTION_END) {
		switch (opt) {
		case MHD_OPTION_EXTERNAL_LOGGER:
			fake_mhd.logger = va_arg(ap, MHD_LogCallback);
			fake_mhd.logger_cls = va_arg(ap, void *);
			break;
		case MHD_OPTION_URI_LOG_CALLBACK:
			fake_mhd.uri_log = va_arg(ap, void *(*)(void *, const char *,
								struct MHD_Connection *));
			fake_mhd.uri_log_cls = va_arg(ap, void *);
			break;
		case MHD_OPTION_NOTIFY_COMPLETED:
			fake_mhd.completed = va_arg(ap, MHD_RequestCompletedCallback);
			fake_mhd.completed_cls = va_arg(ap, void *);
			break;
		case MHD_OPTION_NOTIFY_CONNECTION:
			fake_mhd.notify = va_arg(ap, MHD_NotifyConnectionCallback);
			fake_mhd.notify_cls = va_arg(ap, void *);
			break;
		case MHD_OPTION_LISTEN_SOCKET:
			fake_mhd.listen_fd = va_arg(ap, int);
			break;
		case MHD_OPTION_CONNECTION_MEMORY_LIMIT:
			(void)va_arg(ap, size_t);
			break;
		case MHD_OPTION_THREAD_POOL_SIZE:
		case MHD_OPTION_CONNECTION_TIMEOUT:
		case MHD_OPTION_CONNECTION_LIMIT:
			(void)va_arg(ap, unsigned int);
			break;
		case MHD_OPTION_SIGPIPE_HANDLED_BY_APP:
			(void)va_arg(ap, int);
			break;
		default:
			va_end(ap);
			die("MHD_start_daemon: an option the fake does not know (teach fuzz/fake_mhd.c)");
		}
	}
	va_end(ap);
	if (!fake_mhd.access || !fake_mhd.uri_log || !fake_mhd.completed || !fake_mhd.notify)
		die("MHD_start_daemon: a callback fota-server used to give is missing");
	fake_mhd.started = true;
	return the_daemon;
}

MHD_socket MHD_quiesce_daemon(struct MHD_Daemon *daemon)
{
	int fd = fake_mhd.listen_fd;

	(void)daemon;
	fake_mhd.listen_fd = -1;
	return fd;
}

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
	(void)daemon;
	if (fake_mhd.listen_fd >= 0)
		close(fake_mhd.listen_fd);
	fake_mhd.listen_fd = -1;
	fake_mhd.started = false;
}

const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *c,
							 enum MHD_ConnectionInfoType type, ...)
{
	switch (type) {
	case MHD_CONNECTION_INFO_CONNECTION_FD:
		c->info.connect_fd = -1; /* no socket: the reaper has nothing to shut down */
		return &c->info;
	case MHD_CONNECTION_INFO_CLIENT_ADDRESS:
		if (c->no_addr)
			return NULL;
		c->info.client_addr = (struct sockaddr *)&c->addr;
		return &c->info;
	case MHD_CONNECTION_INFO_SOCKET_CONTEXT:
		c->info.socket_context = c->socket_context;
		return &c->info;
	case MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE:
		c->info.header_size = c->header_size;
		return &c->info;
	case MHD_CONNECTION_INFO_HTTP_STATUS:
		c->info.http_status = c->queued ? c->status : c->mhd_status;
		return &c->info;
	default:
		return NULL;
	}
}

const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
					const char *key)
{
	if (!(kind & MHD_HEADER_KIND) || !key)
		return NULL;
	for (size_t i = 0; i < c->nhdr; i++)
		if (!strcasecmp(c->hdr[i].name, key))
			return c->hdr[i].value;
	return NULL;
}

int MHD_get_connection_values(struct MHD_Connection *c, enum MHD_ValueKind kind,
			      MHD_KeyValueIterator it, void *cls)
{
	int n = 0;

	if (!(kind & MHD_HEADER_KIND))
		return 0;
	for (size_t i = 0; i < c->nhdr; i++) {
		n++;
		if (it && it(cls, MHD_HEADER_KIND, c->hdr[i].name, c->hdr[i].value) != MHD_YES)
			break;
	}
	return n;
}

static struct MHD_Response *new_response(void)
{
	struct MHD_Response *r;

	if (fake_mhd.oom)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		die("out of memory");
	r->refs = 1;
	r->fd = -1;
	fake_mhd.responses++;
	return r;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
						     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r;

	if (size && !buffer)
		return NULL;
	r = new_response();
	if (!r)
		return NULL;
	/* Copied whatever the mode: the harness reads it after the handler returned (for
	 * PERSISTENT the handler promises the buffer lives on, which ASan then checks). */
	r->body = malloc(size + 1);
	if (!r->body)
		die("out of memory");
	if (size)
		memcpy(r->body, buffer, size);
	r->body[size] = '\0';
	r->len = size;
	if (mode == MHD_RESPMEM_MUST_FREE)
		free(buffer);
	if (mode == MHD_RESPMEM_PERSISTENT)
		r->persist = buffer;
	return r;
}

struct MHD_Response *MHD_create_response_from_fd_at_offset64(uint64_t size, int fd,
							     uint64_t offset)
{
	struct MHD_Response *r;

	if (size > INT64_MAX || offset > INT64_MAX || size + offset > INT64_MAX)
		return NULL; /* as MHD 0.9.75 */
	r = new_response();
	if (!r)
		return NULL;
	r->is_fd = true;
	r->fd = fd;
	r->offset = offset;
	r->size = size;
	return r;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *r, const char *header,
					const char *content)
{
	if (!r || !header || !content)
		return MHD_NO;
	/* MHD 0.9.75 refuses a name with a tab, CR or LF and a value with CR or LF; the
	 * harness holds fota-server to more: printable ASCII only. */
	if (!*header || strpbrk(header, "\t\r\n") || strpbrk(content, "\r\n")) {
		r->bad_header = true;
		return MHD_NO;
	}
	for (const unsigned char *p = (const unsigned char *)content; *p; p++)
		if (*p < 0x20 || *p > 0x7E)
			r->bad_header = true;
	if (r->nh == FAKE_RESP_HDR_MAX)
		die("more response headers than the fake keeps");
	r->hname[r->nh] = strdup(header);
	r->hvalue[r->nh] = strdup(content);
	if (!r->hname[r->nh] || !r->hvalue[r->nh])
		die("out of memory");
	r->nh++;
	return MHD_YES;
}

bool fake_mhd_sent(const struct MHD_Response *r)
{
	return !r->persist || !r->len || !memcmp(r->persist, r->body, r->len);
}

void MHD_destroy_response(struct MHD_Response *r)
{
	if (!r)
		return;
	if (r->refs <= 0)
		die("MHD_destroy_response: a response destroyed once too often");
	if (--r->refs)
		return;
	if (r->is_fd && r->fd >= 0)
		close(r->fd);
	for (int i = 0; i < r->nh; i++) {
		free(r->hname[i]);
		free(r->hvalue[i]);
	}
	free(r->body);
	free(r);
	fake_mhd.responses--;
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status,
				   struct MHD_Response *r)
{
	c->queue_calls++;
	if (!r || c->queued || c->refuse_queue)
		return MHD_NO;
	r->refs++;
	c->queued = r;
	c->status = status;
	return MHD_YES;
}
