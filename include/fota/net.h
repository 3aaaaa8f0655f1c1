/*
 * net.h - the network port: what the core needs to fetch firmware over TCP.
 *
 * Every call returns at once (non-blocking): the agent polls. One connection at a time
 * is enough for the core; a port may support more. A connection is named by a handle the
 * port chooses (>= 0). Name lookup is part of open: it may take several polls.
 */
#ifndef FOTA_NET_H
#define FOTA_NET_H

#include "fota/fota.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fota_net {
	void *ctx; /* the port's state, passed back to every call */

	/* open: starts a connection to host (host_len bytes, owned by the caller, not
	 * terminated; a name or an address) on port; tls asks for TLS (a port without it
	 * returns FOTA_ERR_NOTSUP). Returns a handle >= 0, or FOTA_ERR_NETDOWN (no network:
	 * radio off, not registered), FOTA_ERR_NOMEM (no free connection) or another enum
	 * fota_err. A failure found afterwards (lookup, connect) is reported by ready; the
	 * handle must be closed in every case. */
	int (*open)(void *ctx, const char *host, size_t host_len, uint16_t port, bool tls);

	/* ready: how connection h is doing. Returns FOTA_OK once connected (then send and
	 * recv may be used), FOTA_ERR_AGAIN while the lookup or the connect goes on,
	 * FOTA_ERR_DNS when the name did not resolve, FOTA_ERR_CONNREFUSED,
	 * FOTA_ERR_TIMEDOUT, FOTA_ERR_NETDOWN or another enum fota_err when it failed. */
	int (*ready)(void *ctx, int h);

	/* send: sends up to len bytes of data (owned by the caller) on h. Returns the number
	 * of bytes taken (0 when none can be taken now), or FOTA_ERR_CONNRESET or another
	 * enum fota_err. */
	int (*send)(void *ctx, int h, const void *data, size_t len);

	/* recv: receives up to cap bytes into buf (owned by the caller). Returns the number
	 * of bytes received (> 0), 0 when the peer closed the connection in order,
	 * FOTA_ERR_AGAIN when nothing is there now, or FOTA_ERR_CONNRESET or another enum
	 * fota_err. */
	int (*recv)(void *ctx, int h, void *buf, size_t cap);

	/* close: ends h and frees it (also one still connecting). h is invalid afterwards. */
	void (*close)(void *ctx, int h);
};

#ifdef __cplusplus
}
#endif

#endif /* FOTA_NET_H */
