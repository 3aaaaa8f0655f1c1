/*
 * posix_net.h - the POSIX port's network (fota/net.h): TCP over BSD sockets, and TLS over
 * them by mbedTLS, for fotad and the tests.
 *
 * Nothing blocks. A name is looked up by glibc's getaddrinfo_a (a helper thread); an
 * IPv4 or IPv6 literal needs no lookup at all. Every address a name gives (IPv6 and
 * IPv4, in getaddrinfo's order) is tried in turn until one connects; the connect itself
 * is non-blocking and ready() asks how it goes. The port sets no timeout of its own: the
 * agent closes a handle that takes too long.
 *
 * TLS (open with tls): once the TCP connect is done, ready() drives the handshake and says
 * FOTA_OK only when it is over. TLS 1.2 at least, the host given to open as SNI, the
 * server's certificate verified (mbedTLS's default profile: SHA-256 or better, RSA >= 2048
 * bits) against the CA certificates of fota_posix_net_set_ca, and its name against the
 * host (an IP literal is compared as text with the certificate's DNS names, or its CN when
 * it has none: mbedTLS 2.28 ignores iPAddress entries). A handshake the server refuses
 * or a certificate that fails (unknown CA, wrong name, expired, older TLS) ends the
 * connection with FOTA_ERR_TLS; a socket error during the handshake keeps its own error
 * (FOTA_ERR_CONNRESET...), and so does a peer that closes the connection in the middle
 * of it. Records are small: the port asks for max_fragment_length FOTA_POSIX_TLS_MFL
 * (more if the server's certificate chain does not fit).
 * send encrypts at most FOTA_POSIX_TLS_SEND_MAX bytes a call, and what it says it took is
 * sent (later if the socket was full: recv and the next send push it out). recv returns
 * 0 on the server's close_notify and on a FIN without one (the HTTP length and the
 * image's hash tell a cut body); a record that fails its check is FOTA_ERR_TLS.
 *
 * The event loop sleeps in poll() on the descriptors fota_posix_net_pollfd gives: one per
 * connection and one wake-up descriptor (an eventfd) that a finished lookup, or the radio
 * going off, makes readable. Only the POSIX programs include this header.
 *
 * Beyond net.h: a connection that failed stays failed (ready, send and recv return its
 * error again until close); send and recv before ready said FOTA_OK, recv with cap 0 and
 * stale handles (closed ones: a handle is not reused at once) get FOTA_ERR_INVAL; a host
 * longer than FOTA_POSIX_NET_HOST_MAX gets FOTA_ERR_TOOLONG. Not thread-safe: one event
 * loop thread calls everything.
 */
#ifndef FOTA_POSIX_NET_H
#define FOTA_POSIX_NET_H

#include <poll.h>
#include <sys/socket.h>

#include "fota/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Connections open at once (the core needs one). */
#define FOTA_POSIX_NET_CONNS 4

/* Longest host accepted by open, in bytes (a URL holds no longer one). */
#define FOTA_POSIX_NET_HOST_MAX 255

/* Entries fota_posix_net_pollfd may fill: the wake-up descriptor and one per connection. */
#define FOTA_POSIX_NET_POLLFDS (1 + FOTA_POSIX_NET_CONNS)

/* The maximum fragment length (RFC 6066) a TLS connection asks the server for, in bytes:
 * 512, 1024, 2048 or 4096, or 0 to ask for none (records of up to 16 KiB). A server that
 * ignores the extension sends full-size records. A server that honours it must then
 * split a handshake message longer than that (its certificate chain) over several
 * records, which mbedTLS 2.28 cannot join: the port then connects again at once asking
 * for twice as much (then none), and keeps that size. Heap: docs/porting.md, "TLS".
 * The default of fota_posix_net.tls_mfl. */
#ifndef FOTA_POSIX_TLS_MFL
#define FOTA_POSIX_TLS_MFL 4096
#endif

/* The most plaintext one TLS send takes (it is copied, so that a record the socket could
 * not take at once goes out later from the port's own copy). */
#ifndef FOTA_POSIX_TLS_SEND_MAX
#define FOTA_POSIX_TLS_SEND_MAX 1024
#endif

/* The CA certificates TLS trusts when fota_posix_net_set_ca named no file. */
#define FOTA_POSIX_TLS_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

struct addrinfo;
struct fota_posix_lookup;
struct fota_posix_wake;
struct fota_posix_tls;       /* the port's TLS configuration: DRBG, CA certificates */
struct fota_posix_tls_conn;  /* one connection's TLS session */

/* One connection of the table. Private to net_posix.c: look, don't touch. */
struct fota_posix_conn {
	int state;                         /* free, lookup, connecting, handshake, connected,
					      failed */
	int fd;                            /* the socket, or -1 */
	int err;                           /* why it failed (state failed) */
	int gen;                           /* bumped at each open: stale handles are refused */
	bool told;                         /* err was returned to the caller once */
	bool want_out;                     /* a send was cut short, or TLS wants to write:
					      wait for POLLOUT too */
	bool eof;                          /* recv saw the peer's FIN */
	struct fota_posix_lookup *lookup;  /* the name lookup, holding the addresses */
	const struct addrinfo *next;       /* the next address to try */
	struct sockaddr_storage lit;       /* a literal address (no lookup) */
	socklen_t lit_len;
	struct fota_posix_tls_conn *tls;   /* the TLS session (open with tls), or NULL */
};

struct fota_posix_net {
	struct fota_net port;           /* give &port to the core; port.ctx points here */
	bool radio_off;                 /* no network: change it with fota_posix_net_set_radio */
	uint64_t bytes_sent;            /* payload bytes sent and received on all connections */
	uint64_t bytes_received;        /* since init (for tests and benchmarks) */
	struct fota_posix_wake *wake;   /* the wake-up eventfd, shared with running lookups */
	unsigned tls_mfl;               /* max fragment length TLS asks for first
					   (FOTA_POSIX_TLS_MFL after init; may be changed;
					   the port raises it for a server that needs more) */
	int tls_error;                  /* the mbedTLS error of the last TLS connection that
					   failed, and its certificate verification flags */
	uint32_t tls_verify;            /* (MBEDTLS_X509_BADCERT_...): for logs and tests */
	struct fota_posix_tls *tls;     /* made at the first set_ca or TLS open */
	struct fota_posix_conn conn[FOTA_POSIX_NET_CONNS];
};

/* fota_posix_net_init: makes n a network port with no connection and the radio on (TLS
 * is set up later, at the first fota_posix_net_set_ca or TLS open). n is
 * owned by the caller and must stay where it is while used (port.ctx points into it).
 * Returns FOTA_OK, FOTA_ERR_NOMEM or FOTA_ERR_IO (no eventfd; errno tells). */
int fota_posix_net_init(struct fota_posix_net *n);

/* fota_posix_net_set_ca: the certificates a TLS connection (open with tls) is verified
 * against: the PEM file at ca_file (owned by the caller, read at once), or NULL for the
 * system's bundle (/etc/ssl/certs/ca-certificates.crt). The host name given to open is
 * sent as SNI and must match the server's certificate. Call before the first open; by
 * default the system's bundle is loaded at the first TLS open (if it cannot be, that
 * open returns FOTA_ERR_TLS). fota_posix_net_free forgets it: call again after each init.
 * Returns FOTA_OK, FOTA_ERR_NOENT when the file cannot be read, FOTA_ERR_BADMSG when it
 * holds no certificate (one that mbedTLS can read), FOTA_ERR_NOMEM, or FOTA_ERR_IO when
 * the random generator could not be seeded; on an error the certificates before stay. A
 * TLS connection whose handshake or certificate check fails reports FOTA_ERR_TLS from
 * ready (never a fall-back to plain TCP). */
int fota_posix_net_set_ca(struct fota_posix_net *n, const char *ca_file);

/* fota_posix_net_free: closes every connection of n and releases its wake-up descriptor
 * and its TLS state (the DRBG, the CA certificates).
 * A lookup still running goes on in its helper thread and frees itself when done; it
 * never touches n again. n may be initialized again afterwards. */
void fota_posix_net_free(struct fota_posix_net *n);

/* fota_posix_net_set_radio: the modem's radio (AT+CFUN). Switching it off ends every
 * connection (their sockets are closed; ready, send and recv return FOTA_ERR_NETDOWN
 * until the handle is closed) and makes the wake-up descriptor readable so the loop
 * notices; while it is off, open returns FOTA_ERR_NETDOWN. Switching it on again lets new
 * connections open; ended ones stay ended. */
void fota_posix_net_set_radio(struct fota_posix_net *n, bool on);

/* fota_posix_net_pollfd: what the event loop should wait for, to call before every
 * poll(). Fills out (max entries, owned by the caller; FOTA_POSIX_NET_POLLFDS is always
 * enough) with the wake-up descriptor (POLLIN) first, then each connection's socket:
 * POLLOUT while connecting; POLLIN or POLLOUT during a TLS handshake, as mbedTLS wants;
 * POLLIN once connected (none after the peer's FIN), plus POLLOUT after a send that could
 * not take everything (or a TLS record still to push out). It consumes pending wake-ups,
 * and leaves the wake-up descriptor readable when the caller still has news to pick up (a
 * lookup done, a connection ended by the radio, TLS data already decrypted and waiting
 * for recv), so a poll() right after it returns at once. Returns the number of entries filled (>= 1), or FOTA_ERR_NOMEM when max is too
 * small. */
int fota_posix_net_pollfd(struct fota_posix_net *n, struct pollfd *out, int max);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_POSIX_NET_H */
