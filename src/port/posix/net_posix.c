/* net_posix.c - the POSIX network port: non-blocking TCP, async lookup, TLS by mbedTLS
 * (see fota/posix_net.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "fota/posix_net.h"

enum conn_state {
	C_FREE = 0,
	C_LOOKUP,     /* the name lookup runs in glibc's helper thread */
	C_CONNECTING, /* a non-blocking connect to one of the addresses is under way */
	C_HANDSHAKE,  /* TCP is up, the TLS handshake goes on (ready drives it) */
	C_CONNECTED,
	C_FAILED,     /* ended: err tells why; only close is left */
};

/* The wake-up eventfd. Running lookups hold a reference too, so a lookup that ends after
 * fota_posix_net_free still writes to its own open descriptor, never to a reused one. */
struct fota_posix_wake {
	atomic_int refs;
	int fd;
};

/* One name lookup. Two references: the connection's and the completion notification's
 * (glibc writes into cb until it has finished, so the memory lives until both are gone). */
struct fota_posix_lookup {
	atomic_int refs;
	struct fota_posix_wake *wake;
	struct gaicb cb;
	struct addrinfo hints;
	char service[6];
	char name[FOTA_POSIX_NET_HOST_MAX + 1];
};

/* The port's TLS configuration, shared by its connections: made once, freed with it. */
struct fota_posix_tls {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;  /* seeded once from the entropy */
	mbedtls_ssl_config conf;
	mbedtls_x509_crt *ca;           /* the CA certificates, NULL until loaded */
};

/* One connection's TLS session. */
struct fota_posix_tls_conn {
	mbedtls_ssl_context ssl;
	int io_err;       /* the socket error the bio callbacks met (enum fota_err), or 0 */
	unsigned mfl;     /* the max fragment length this session asks for (0: none) */
	size_t pend;      /* bytes of out[] sent into a record the socket has not all taken */
	char host[FOTA_POSIX_NET_HOST_MAX + 1]; /* SNI and the name to verify */
	unsigned char out[FOTA_POSIX_TLS_SEND_MAX]; /* the plaintext of send's last record */
};

static void wake_up(struct fota_posix_wake *w)
{
	uint64_t one = 1;

	/* It fails only when the counter is full, and then the eventfd is readable anyway. */
	if (write(w->fd, &one, sizeof(one)) < 0)
		return;
}

static void wake_put(struct fota_posix_wake *w)
{
	if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
		return;
	close(w->fd);
	free(w);
}

static void lookup_put(struct fota_posix_lookup *lk)
{
	if (atomic_fetch_sub_explicit(&lk->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (gai_error(&lk->cb) == 0 && lk->cb.ar_result)
		freeaddrinfo(lk->cb.ar_result);
	wake_put(lk->wake);
	free(lk);
}

/* The completion notification (SIGEV_THREAD): runs in a thread of its own once the
 * lookup is over. It wakes the event loop, then lets go of the lookup. */
static void lookup_done(union sigval v)
{
	struct fota_posix_lookup *lk = v.sival_ptr;

	wake_up(lk->wake);
	lookup_put(lk);
}

/* Starts the lookup of name (terminated) for port. Returns FOTA_OK, FOTA_ERR_NOMEM or
 * FOTA_ERR_IO (glibc could not start it). */
static int lookup_start(struct fota_posix_net *n, struct fota_posix_conn *c, const char *name,
			uint16_t port)
{
	struct fota_posix_lookup *lk;
	struct gaicb *list[1];
	struct sigevent sev;
	sigset_t all, old;
	int rc;

	lk = calloc(1, sizeof(*lk));
	if (!lk)
		return FOTA_ERR_NOMEM;
	atomic_init(&lk->refs, 2);
	lk->wake = n->wake;
	atomic_fetch_add_explicit(&n->wake->refs, 1, memory_order_relaxed);
	strcpy(lk->name, name);
	snprintf(lk->service, sizeof(lk->service), "%u", (unsigned)port);
	lk->hints.ai_family = AF_UNSPEC; /* IPv6 and IPv4, in getaddrinfo's order */
	lk->hints.ai_socktype = SOCK_STREAM;
	lk->hints.ai_protocol = IPPROTO_TCP;
	lk->hints.ai_flags = AI_NUMERICSERV;
	lk->cb.ar_name = lk->name;
	lk->cb.ar_service = lk->service;
	lk->cb.ar_request = &lk->hints;
	list[0] = &lk->cb;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_value.sival_ptr = lk;
	sev.sigev_notify_function = lookup_done;

	/* glibc's helper and notification threads inherit the caller's signal mask: block
	 * everything while they may be created, so the process's signals (SIGINT, SIGCHLD)
	 * still interrupt the event loop's poll() and not a helper. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = getaddrinfo_a(GAI_NOWAIT, list, 1, &sev);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		/* Not enqueued (the notification still runs) or enqueued without a notification
		 * (glibc is out of memory): either way glibc may still hold lk, so only the
		 * connection's reference goes. The second case leaks lk; it cannot be helped. */
		lookup_put(lk);
		return FOTA_ERR_IO;
	}
	c->lookup = lk;
	return FOTA_OK;
}

/* The enum fota_err for a socket errno. */
static int errno_err(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return FOTA_ERR_CONNREFUSED;
	case ETIMEDOUT:
		return FOTA_ERR_TIMEDOUT;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
		return FOTA_ERR_NETDOWN;
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
		return FOTA_ERR_CONNRESET;
	default:
		return FOTA_ERR_IO;
	}
}

/* How much a connect error says about the server. Of all the addresses tried, ready
 * reports the most telling error: "no route" on IPv6 says less than "refused" on IPv4. */
static int err_rank(int err)
{
	switch (err) {
	case FOTA_OK:
		return 0;
	case FOTA_ERR_NETDOWN:
		return 1;
	case FOTA_ERR_IO:
		return 2;
	default:
		return 3;
	}
}

static void note_err(struct fota_posix_conn *c, int err)
{
	if (err_rank(err) >= err_rank(c->err))
		c->err = err;
}

static void tls_conn_free(struct fota_posix_conn *c)
{
	if (!c->tls)
		return;
	mbedtls_ssl_free(&c->tls->ssl);
	free(c->tls);
	c->tls = NULL;
}

/* Lets go of what c holds: its socket, its TLS session, its lookup and the addresses. */
static void conn_release(struct fota_posix_conn *c)
{
	tls_conn_free(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->lookup)
		lookup_put(c->lookup);
	c->lookup = NULL;
	c->next = NULL;
	c->lit_len = 0;
}

/* Ends c with err (ready, send and recv return it from now on). */
static void conn_fail(struct fota_posix_conn *c, int err)
{
	conn_release(c);
	c->state = C_FAILED;
	c->err = err;
	c->told = false;
}

/* What ready, send and recv return for a failed connection. */
static int conn_report(struct fota_posix_conn *c)
{
	c->told = true;
	return c->err;
}

/* TCP is up: the connection is there, or its TLS handshake starts. */
static void conn_connected(struct fota_posix_conn *c)
{
	c->state = c->tls ? C_HANDSHAKE : C_CONNECTED;
	/* The first handshake step runs at the next ready: POLLOUT (at once true on a new
	 * socket) makes sure the loop comes back for it. */
	c->want_out = c->tls != NULL;
	c->err = FOTA_OK;
	if (c->lookup)
		lookup_put(c->lookup); /* the other addresses are not needed any more */
	c->lookup = NULL;
	c->next = NULL;
	c->lit_len = 0;
}

/* With the radio off, every connection still alive ends. */
static void radio_check(struct fota_posix_net *n, struct fota_posix_conn *c)
{
	if (n->radio_off && c->state != C_FREE && c->state != C_FAILED)
		conn_fail(c, FOTA_ERR_NETDOWN);
}

/* The next address to try, in *sa and *len; false when none is left. */
static bool next_addr(struct fota_posix_conn *c, const struct sockaddr **sa, socklen_t *len)
{
	if (c->next) {
		*sa = c->next->ai_addr;
		*len = c->next->ai_addrlen;
		c->next = c->next->ai_next;
		return true;
	}
	if (c->lit_len) {
		*sa = (const struct sockaddr *)&c->lit;
		*len = c->lit_len;
		c->lit_len = 0;
		return true;
	}
	return false;
}

/* Starts a connect to the next address that takes one, or fails c when none is left. */
static void connect_next(struct fota_posix_conn *c)
{
	const struct sockaddr *sa;
	socklen_t len;
	int fd, err;

	while (next_addr(c, &sa, &len)) {
		fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
		if (fd < 0) {
			note_err(c, errno_err(errno));
			continue;
		}
		if (connect(fd, sa, len) == 0) {
			c->fd = fd;
			conn_connected(c);
			return;
		}
		/* EINTR: the connect goes on in the background, as with EINPROGRESS. */
		if (errno == EINPROGRESS || errno == EINTR) {
			c->fd = fd;
			c->state = C_CONNECTING;
			return;
		}
		err = errno_err(errno);
		close(fd);
		note_err(c, err);
	}
	conn_fail(c, c->err ? c->err : FOTA_ERR_DNS);
}

/* Looks (without waiting) whether the connect under way has ended. */
static void connect_check(struct fota_posix_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };
	socklen_t sl = sizeof(int);
	int soerr = 0;

	if (poll(&p, 1, 0) <= 0)
		return;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (!soerr) {
		if (p.revents & POLLOUT)
			conn_connected(c);
		return;
	}
	note_err(c, errno_err(soerr));
	close(c->fd);
	c->fd = -1;
	connect_next(c);
}

/* The connection named by handle h, or NULL for a bad or stale handle. A handle is the
 * slot plus FOTA_POSIX_NET_CONNS times the slot's generation. */
static struct fota_posix_conn *conn_of(struct fota_posix_net *n, int h)
{
	struct fota_posix_conn *c;

	if (h < 0)
		return NULL;
	c = &n->conn[h % FOTA_POSIX_NET_CONNS];
	if (c->state == C_FREE || c->gen != h / FOTA_POSIX_NET_CONNS)
		return NULL;
	return c;
}

/* Fills c->lit when name is an IPv4 or IPv6 literal: no lookup needed. */
static bool parse_literal(struct fota_posix_conn *c, const char *name, uint16_t port)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&c->lit;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&c->lit;

	memset(&c->lit, 0, sizeof(c->lit));
	if (inet_pton(AF_INET, name, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		c->lit_len = sizeof(*in4);
		return true;
	}
	if (inet_pton(AF_INET6, name, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		c->lit_len = sizeof(*in6);
		return true;
	}
	return false;
}

/* A free slot made ready for a new connection, or NULL when the table is full. */
static struct fota_posix_conn *conn_claim(struct fota_posix_net *n)
{
	struct fota_posix_conn *c;

	for (int i = 0; i < FOTA_POSIX_NET_CONNS; i++) {
		c = &n->conn[i];
		if (c->state != C_FREE)
			continue;
		c->fd = -1;
		c->err = FOTA_OK;
		c->told = false;
		c->want_out = false;
		c->eof = false;
		c->lookup = NULL;
		c->next = NULL;
		c->lit_len = 0;
		c->tls = NULL;
		return c;
	}
	return NULL;
}

static int conn_handle(struct fota_posix_net *n, struct fota_posix_conn *c)
{
	return c->gen * FOTA_POSIX_NET_CONNS + (int)(c - n->conn);
}

/* ---- TLS ---------------------------------------------------------------------------- */

/* The bio callbacks: mbedTLS's records over c's non-blocking socket. */
static int tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct fota_posix_conn *c = ctx;
	ssize_t r;

	if (len > INT_MAX)
		len = INT_MAX;
	r = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (r >= 0)
		return (int)r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	c->tls->io_err = errno_err(errno);
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct fota_posix_conn *c = ctx;
	ssize_t r;

	if (len > INT_MAX)
		len = INT_MAX;
	r = recv(c->fd, buf, len, 0);
	if (r >= 0)
		return (int)r; /* 0: the peer's FIN (mbedTLS says MBEDTLS_ERR_SSL_CONN_EOF) */
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	c->tls->io_err = errno_err(errno);
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

static void tls_free(struct fota_posix_tls *t)
{
	if (!t)
		return;
	if (t->ca) {
		mbedtls_x509_crt_free(t->ca);
		free(t->ca);
	}
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_ctr_drbg_free(&t->drbg);
	mbedtls_entropy_free(&t->entropy);
	free(t);
}

/* Makes n's TLS configuration, once: the DRBG seeded from the system's entropy, a client
 * that verifies the server, TLS 1.2 at least. The CA certificates come later. */
static int tls_setup(struct fota_posix_net *n)
{
	static const char pers[] = "openfota net_posix";
	struct fota_posix_tls *t;

	if (n->tls)
		return FOTA_OK;
	t = calloc(1, sizeof(*t));
	if (!t)
		return FOTA_ERR_NOMEM;
	mbedtls_entropy_init(&t->entropy);
	mbedtls_ctr_drbg_init(&t->drbg);
	mbedtls_ssl_config_init(&t->conf);
	if (mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
				  (const unsigned char *)pers, sizeof(pers) - 1) ||
	    mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT,
					MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)) {
		tls_free(t);
		return FOTA_ERR_IO;
	}
	mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
	mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
	mbedtls_ssl_conf_renegotiation(&t->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
	n->tls = t;
	return FOTA_OK;
}

/* Loads the CA certificates of the PEM (or DER) file path in place of the ones before.
 * Returns FOTA_OK, FOTA_ERR_NOENT (unreadable), FOTA_ERR_BADMSG (no certificate in it) or
 * FOTA_ERR_NOMEM. A file where some certificates parse and others not is taken (the
 * system's bundle may hold some mbedTLS cannot read). */
static int tls_load_ca(struct fota_posix_tls *t, const char *path)
{
	mbedtls_x509_crt *ca, *old;
	int ret;

	ca = malloc(sizeof(*ca));
	if (!ca)
		return FOTA_ERR_NOMEM;
	mbedtls_x509_crt_init(ca);
	ret = mbedtls_x509_crt_parse_file(ca, path);
	if (ca->version == 0) { /* not one certificate */
		mbedtls_x509_crt_free(ca);
		free(ca);
		if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR)
			return FOTA_ERR_NOENT;
		return ret == MBEDTLS_ERR_X509_ALLOC_FAILED ? FOTA_ERR_NOMEM : FOTA_ERR_BADMSG;
	}
	old = t->ca;
	t->ca = ca;
	mbedtls_ssl_conf_ca_chain(&t->conf, ca, NULL);
	if (old) {
		mbedtls_x509_crt_free(old);
		free(old);
	}
	return FOTA_OK;
}

/* mbedTLS's code for a maximum fragment length in bytes (none for any other value). */
static unsigned char tls_mfl_code(unsigned mfl)
{
	switch (mfl) {
	case 512:
		return MBEDTLS_SSL_MAX_FRAG_LEN_512;
	case 1024:
		return MBEDTLS_SSL_MAX_FRAG_LEN_1024;
	case 2048:
		return MBEDTLS_SSL_MAX_FRAG_LEN_2048;
	case 4096:
		return MBEDTLS_SSL_MAX_FRAG_LEN_4096;
	default:
		return MBEDTLS_SSL_MAX_FRAG_LEN_NONE;
	}
}

/* A new mbedTLS session in t (its host and mfl set) over c's socket. */
static int tls_session_start(struct fota_posix_net *n, struct fota_posix_conn *c,
			     struct fota_posix_tls_conn *t)
{
	int ret;

	mbedtls_ssl_init(&t->ssl);
	t->io_err = 0;
	t->pend = 0;
	ret = mbedtls_ssl_setup(&t->ssl, &n->tls->conf);
	if (!ret)
		ret = mbedtls_ssl_set_hostname(&t->ssl, t->host);
	if (ret) {
		mbedtls_ssl_free(&t->ssl);
		return ret == MBEDTLS_ERR_SSL_ALLOC_FAILED ? FOTA_ERR_NOMEM : FOTA_ERR_IO;
	}
	mbedtls_ssl_set_bio(&t->ssl, c, tls_bio_send, tls_bio_recv, NULL);
	return FOTA_OK;
}

/* Gives c (just claimed) a TLS session for name (terminated): SNI and the name the
 * certificate must carry. Loads the system's CA bundle if none was set. */
static int tls_conn_new(struct fota_posix_net *n, struct fota_posix_conn *c, const char *name)
{
	struct fota_posix_tls_conn *t;
	int err;

	err = tls_setup(n);
	if (err)
		return err;
	if (!n->tls->ca) {
		err = tls_load_ca(n->tls, FOTA_POSIX_TLS_CA_BUNDLE);
		if (err)
			return err == FOTA_ERR_NOMEM ? err : FOTA_ERR_TLS; /* nothing to trust */
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return FOTA_ERR_NOMEM;
	strcpy(t->host, name);
	t->mfl = tls_mfl_code(n->tls_mfl) == MBEDTLS_SSL_MAX_FRAG_LEN_NONE ? 0 : n->tls_mfl;
	err = tls_session_start(n, c, t);
	if (err) {
		free(t);
		return err;
	}
	c->tls = t;
	return FOTA_OK;
}

/* A handshake that failed because the server split a handshake message over several
 * records (mbedTLS 2.28 cannot join them in TLS): the record size asked for was too small
 * for the server's certificate chain. Connects again to the same address asking for
 * twice as much (then none), and keeps that size for later connections. False when
 * this was not the reason, or nothing bigger is left to ask for. */
static bool tls_retry_bigger(struct fota_posix_net *n, struct fota_posix_conn *c, int ret)
{
	struct fota_posix_tls_conn *t = c->tls;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (ret != MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE || !t->mfl || t->io_err ||
	    getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	mbedtls_ssl_free(&t->ssl);
	t->mfl = t->mfl >= 4096 ? 0 : t->mfl * 2;
	if (n->tls_mfl && (n->tls_mfl < t->mfl || !t->mfl))
		n->tls_mfl = t->mfl;
	if (tls_session_start(n, c, t)) {
		free(t);
		c->tls = NULL;
		return false;
	}
	close(c->fd);
	c->fd = -1;
	memcpy(&c->lit, &ss, len);
	c->lit_len = len;
	connect_next(c); /* sets the state: connecting, handshake again, or failed */
	return true;
}

/* Ends c after mbedTLS said ret: the socket's own error if the bio met one, a peer gone
 * in the middle of the handshake as a reset, anything else as FOTA_ERR_TLS. */
static void tls_fail(struct fota_posix_net *n, struct fota_posix_conn *c, int ret)
{
	int err = c->tls->io_err;

	if (!err && ret == MBEDTLS_ERR_SSL_CONN_EOF)
		err = FOTA_ERR_CONNRESET;
	if (!err) {
		n->tls_error = ret;
		n->tls_verify = mbedtls_ssl_get_verify_result(&c->tls->ssl);
		err = FOTA_ERR_TLS;
	}
	conn_fail(c, err);
}

/* One step of c's handshake. */
static void tls_handshake(struct fota_posix_net *n, struct fota_posix_conn *c)
{
	int ret;

	/* The configuration is shared: its MFL is this session's while mbedTLS reads it. */
	mbedtls_ssl_conf_max_frag_len(&n->tls->conf, tls_mfl_code(c->tls->mfl));
	ret = mbedtls_ssl_handshake(&c->tls->ssl);
	if (ret == 0) {
		c->state = C_CONNECTED;
		c->want_out = false;
	} else if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
		c->want_out = false;
	} else if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
		c->want_out = true;
	} else if (!tls_retry_bigger(n, c, ret)) {
		if (c->tls)
			tls_fail(n, c, ret);
		else
			conn_fail(c, FOTA_ERR_NOMEM);
	}
}

/* What send and recv return for mbedTLS's ret < 0 on the connected c. */
static int tls_io_result(struct fota_posix_net *n, struct fota_posix_conn *c, int ret)
{
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
		c->want_out = true;
		return FOTA_ERR_AGAIN;
	}
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return FOTA_ERR_AGAIN;
	tls_fail(n, c, ret);
	return conn_report(c);
}

/* Pushes out the record send made that the socket did not take whole: mbedTLS wants the
 * same write again until it says done. FOTA_OK when nothing is left, FOTA_ERR_AGAIN, or
 * the error that ended c. */
static int tls_flush(struct fota_posix_net *n, struct fota_posix_conn *c)
{
	struct fota_posix_tls_conn *t = c->tls;
	int ret;

	if (!t->pend)
		return FOTA_OK;
	ret = mbedtls_ssl_write(&t->ssl, t->out, t->pend);
	if (ret < 0)
		return tls_io_result(n, c, ret);
	t->pend = 0;
	c->want_out = false;
	return FOTA_OK;
}

static int tls_send(struct fota_posix_net *n, struct fota_posix_conn *c, const void *data,
		    size_t len)
{
	struct fota_posix_tls_conn *t = c->tls;
	int ret, max;

	ret = tls_flush(n, c);
	if (ret == FOTA_ERR_AGAIN)
		return 0;
	if (ret)
		return ret;
	max = mbedtls_ssl_get_max_out_record_payload(&t->ssl);
	if (max < 0)
		return tls_io_result(n, c, max);
	if (len > sizeof(t->out))
		len = sizeof(t->out);
	if (len > (size_t)max)
		len = (size_t)max;
	/* From the port's own copy: if the socket cannot take the whole record, the same
	 * write is made again later (tls_flush), as mbedTLS requires. */
	memcpy(t->out, data, len);
	ret = mbedtls_ssl_write(&t->ssl, t->out, len);
	c->want_out = false;
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
		t->pend = len; /* encrypted and partly sent: taken */
		c->want_out = true;
		ret = (int)len;
	} else if (ret < 0) {
		return tls_io_result(n, c, ret);
	}
	n->bytes_sent += (uint64_t)ret;
	return ret;
}

static int tls_recv(struct fota_posix_net *n, struct fota_posix_conn *c, void *buf, size_t cap)
{
	int ret;

	if (c->eof)
		return 0;
	/* A record of ours still on its way goes first (the server answers it anyway). */
	ret = tls_flush(n, c);
	if (ret)
		return ret;
	ret = mbedtls_ssl_read(&c->tls->ssl, buf, cap);
	c->want_out = false; /* nothing of ours waits (tls_io_result says if mbedTLS's does) */
	if (ret > 0) {
		n->bytes_received += (uint64_t)ret;
		return ret;
	}
	if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
	    ret == MBEDTLS_ERR_SSL_CONN_EOF) {
		c->eof = true;
		return 0;
	}
	return tls_io_result(n, c, ret);
}

static int net_open(void *ctx, const char *host, size_t host_len, uint16_t port, bool tls)
{
	struct fota_posix_net *n = ctx;
	struct fota_posix_conn *c;
	char name[FOTA_POSIX_NET_HOST_MAX + 1];
	int err;

	if (!host || !host_len || !port || memchr(host, '\0', host_len))
		return FOTA_ERR_INVAL;
	if (host_len > FOTA_POSIX_NET_HOST_MAX)
		return FOTA_ERR_TOOLONG;
	if (n->radio_off)
		return FOTA_ERR_NETDOWN;
	c = conn_claim(n);
	if (!c)
		return FOTA_ERR_NOMEM;

	memcpy(name, host, host_len);
	name[host_len] = '\0';
	if (tls) {
		/* An IP literal too: mbedTLS then checks it against the certificate's names. */
		err = tls_conn_new(n, c, name);
		if (err)
			return err;
	}
	if (parse_literal(c, name, port)) {
		/* A connect that fails at once is reported by ready, like a later failure. */
		connect_next(c);
		goto opened;
	}
	err = lookup_start(n, c, name, port);
	if (err) {
		tls_conn_free(c);
		return err;
	}
	c->state = C_LOOKUP;

opened:
	return conn_handle(n, c);
}

static int net_ready(void *ctx, int h)
{
	struct fota_posix_net *n = ctx;
	struct fota_posix_conn *c = conn_of(n, h);
	int e;

	if (!c)
		return FOTA_ERR_INVAL;
	radio_check(n, c);
	if (c->state == C_LOOKUP) {
		e = gai_error(&c->lookup->cb);
		if (e == EAI_INPROGRESS)
			return FOTA_ERR_AGAIN;
		if (e) {
			conn_fail(c, FOTA_ERR_DNS);
		} else {
			c->next = c->lookup->cb.ar_result;
			connect_next(c);
		}
	}
	if (c->state == C_CONNECTING)
		connect_check(c);
	if (c->state == C_HANDSHAKE)
		tls_handshake(n, c);

	switch (c->state) {
	case C_CONNECTED:
		return FOTA_OK;
	case C_FAILED:
		return conn_report(c);
	default:
		return FOTA_ERR_AGAIN;
	}
}

/* The connected connection h for send and recv, or NULL with *err to return: the error
 * it ended with, or FOTA_ERR_INVAL for a bad handle or one not connected yet. */
static struct fota_posix_conn *conn_io(struct fota_posix_net *n, int h, int *err)
{
	struct fota_posix_conn *c = conn_of(n, h);

	*err = FOTA_ERR_INVAL;
	if (!c)
		return NULL;
	radio_check(n, c);
	if (c->state == C_FAILED) {
		*err = conn_report(c);
		return NULL;
	}
	return c->state == C_CONNECTED ? c : NULL;
}

static int net_send(void *ctx, int h, const void *data, size_t len)
{
	struct fota_posix_net *n = ctx;
	struct fota_posix_conn *c;
	ssize_t r;
	int err;

	c = conn_io(n, h, &err);
	if (!c)
		return err;
	if (len > INT_MAX)
		len = INT_MAX;
	if (!len)
		return 0;
	if (c->tls)
		return tls_send(n, c, data, len);
	r = send(c->fd, data, len, MSG_NOSIGNAL);
	if (r < 0) {
		if (errno == EINTR)
			return 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->want_out = true; /* the loop should wake when there is room again */
			return 0;
		}
		conn_fail(c, errno_err(errno));
		return conn_report(c);
	}
	c->want_out = (size_t)r < len;
	n->bytes_sent += (uint64_t)r;
	return (int)r;
}

static int net_recv(void *ctx, int h, void *buf, size_t cap)
{
	struct fota_posix_net *n = ctx;
	struct fota_posix_conn *c;
	ssize_t r;
	int err;

	c = conn_io(n, h, &err);
	if (!c)
		return err;
	if (!cap)
		return FOTA_ERR_INVAL; /* 0 would read as the peer's close */
	if (cap > INT_MAX)
		cap = INT_MAX;
	if (c->tls)
		return tls_recv(n, c, buf, cap);
	r = recv(c->fd, buf, cap, 0);
	if (r > 0) {
		n->bytes_received += (uint64_t)r;
		return (int)r;
	}
	if (r == 0) {
		c->eof = true; /* stop asking poll for POLLIN: it would stay readable */
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return FOTA_ERR_AGAIN;
	conn_fail(c, errno_err(errno));
	return conn_report(c);
}

/* Frees slot c; the next handle of the slot gets the next generation. */
static void conn_free(struct fota_posix_conn *c)
{
	conn_release(c);
	c->state = C_FREE;
	c->gen = (c->gen + 1) % (INT_MAX / FOTA_POSIX_NET_CONNS);
}

static void net_close(void *ctx, int h)
{
	struct fota_posix_conn *c = conn_of(ctx, h);

	if (!c)
		return;
	/* A TLS session says goodbye if the socket takes it at once (it is not waited for:
	 * the server ends the body by its length, not by our close_notify). */
	if (c->tls && c->state == C_CONNECTED)
		mbedtls_ssl_close_notify(&c->tls->ssl);
	/* A running lookup is not cancelled (glibc would leak its notification): it ends in
	 * the background and lookup_done frees it. */
	conn_free(c);
}

int fota_posix_net_init(struct fota_posix_net *n)
{
	struct fota_posix_wake *w;
	int err;

	memset(n, 0, sizeof(*n));
	for (int i = 0; i < FOTA_POSIX_NET_CONNS; i++)
		n->conn[i].fd = -1;
	w = malloc(sizeof(*w));
	if (!w)
		return FOTA_ERR_NOMEM;
	w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->fd < 0) {
		err = FOTA_ERR_IO;
		goto fail;
	}
	atomic_init(&w->refs, 1);
	n->wake = w;
	n->tls_mfl = FOTA_POSIX_TLS_MFL;
	n->port = (struct fota_net){
		.ctx = n,
		.open = net_open,
		.ready = net_ready,
		.send = net_send,
		.recv = net_recv,
		.close = net_close,
	};
	return FOTA_OK;

fail:
	free(w);
	return err;
}

void fota_posix_net_free(struct fota_posix_net *n)
{
	for (int i = 0; i < FOTA_POSIX_NET_CONNS; i++) {
		if (n->conn[i].state != C_FREE)
			conn_free(&n->conn[i]);
	}
	if (n->wake)
		wake_put(n->wake);
	n->wake = NULL;
	tls_free(n->tls);
	n->tls = NULL;
}

int fota_posix_net_set_ca(struct fota_posix_net *n, const char *ca_file)
{
	int err = tls_setup(n);

	if (err)
		return err;
	return tls_load_ca(n->tls, ca_file ? ca_file : FOTA_POSIX_TLS_CA_BUNDLE);
}

void fota_posix_net_set_radio(struct fota_posix_net *n, bool on)
{
	n->radio_off = !on;
	if (on)
		return;
	for (int i = 0; i < FOTA_POSIX_NET_CONNS; i++)
		radio_check(n, &n->conn[i]);
	wake_up(n->wake);
}

int fota_posix_net_pollfd(struct fota_posix_net *n, struct pollfd *out, int max)
{
	struct fota_posix_conn *c;
	bool news = false;
	uint64_t count;
	short ev;
	int k = 0;

	if (max < 1)
		return FOTA_ERR_NOMEM;
	/* Consume the wake-ups first, then look: one that comes after the read stays.
	 * EAGAIN only says none was pending. */
	if (read(n->wake->fd, &count, sizeof(count)) < 0)
		count = 0;
	out[k++] = (struct pollfd){ .fd = n->wake->fd, .events = POLLIN };
	for (int i = 0; i < FOTA_POSIX_NET_CONNS; i++) {
		c = &n->conn[i];
		radio_check(n, c);
		ev = 0;
		switch (c->state) {
		case C_LOOKUP:
			/* Done but not yet seen by ready (its notification may be late). */
			if (gai_error(&c->lookup->cb) != EAI_INPROGRESS)
				news = true;
			break;
		case C_FAILED:
			if (!c->told)
				news = true;
			break;
		case C_CONNECTING:
			ev = POLLOUT;
			break;
		case C_HANDSHAKE:
			ev = c->want_out ? POLLOUT : POLLIN;
			break;
		case C_CONNECTED:
			ev = (short)((c->eof ? 0 : POLLIN) | (c->want_out ? POLLOUT : 0));
			/* Decrypted bytes (or a whole record) mbedTLS already holds: the socket
			 * will not say so. */
			if (c->tls && !c->eof && mbedtls_ssl_check_pending(&c->tls->ssl))
				news = true;
			break;
		default:
			break;
		}
		if (!ev)
			continue;
		if (k == max)
			return FOTA_ERR_NOMEM;
		out[k++] = (struct pollfd){ .fd = c->fd, .events = ev };
	}
	/* News nothing on a socket will announce: keep the loop from sleeping on it. */
	if (news)
		wake_up(n->wake);
	return k;
}
