/* Unit tests of the POSIX network port against real loopback sockets (127.0.0.1, ::1)
 * the test opens itself: connect, exchange, lookup, refusal, close, reset, radio, table,
 * poll descriptors. Nothing leaves the machine.
 *
 * The port's source is included, not linked: one test feeds connect_next an address
 * list of its own (no name on this machine resolves to several loopback addresses). */
#include "../../src/port/posix/net_posix.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#define WAIT_MS 5000 /* upper bound of every wait; the normal case takes milliseconds */

/* A name that fails inside glibc before any query is sent (a label over 63 bytes), so the
 * test makes no DNS traffic; "x.invalid" would go to the nameserver of resolv.conf. */
#define BAD_NAME "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.invalid"

static struct fota_posix_net net;
static struct fota_net *port;

static int setup(void **state)
{
	(void)state;
	if (fota_posix_net_init(&net))
		return -1;
	port = &net.port;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fota_posix_net_free(&net);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static socklen_t loopback(int family, uint16_t p, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(p);
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*in4);
	}
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(p);
	in6->sin6_addr = in6addr_loopback;
	return sizeof(*in6);
}

static uint16_t port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A TCP socket bound to the loopback address of family on port p (0: any), listening
 * with backlog (or not listening when backlog < 0: connects to it are refused). */
static int bound(int family, uint16_t p, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, p, &ss);
	int one = 1, fd;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	if (backlog >= 0)
		assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

/* True when ::1 can be had (some containers run without IPv6): its tests skip if not. */
static bool ipv6_ok(void)
{
	struct sockaddr_storage ss;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&ss, loopback(AF_INET6, 0, &ss)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static int open_str(const char *host, uint16_t p)
{
	return port->open(port->ctx, host, strlen(host), p, false);
}

/* Calls ready until it stops saying FOTA_ERR_AGAIN, sleeping in poll() on the port's
 * descriptors in between, nap_ms at most each time. *naps (if given) counts the naps
 * that ran out with no descriptor ready: the port failed to wake the loop. */
static int wait_ready(int h, int nap_ms, int *naps)
{
	struct pollfd fds[FOTA_POSIX_NET_POLLFDS];
	int64_t end = now_ms() + WAIT_MS;
	int r, k;

	for (;;) {
		r = port->ready(port->ctx, h);
		if (r != FOTA_ERR_AGAIN || now_ms() > end)
			return r;
		k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
		assert_true(k >= 1);
		if (poll(fds, (nfds_t)k, nap_ms) == 0 && naps)
			(*naps)++;
	}
}

/* recv on h until it has something other than FOTA_ERR_AGAIN to say. */
static int wait_recv(int h, void *buf, size_t cap)
{
	struct pollfd fds[FOTA_POSIX_NET_POLLFDS];
	int64_t end = now_ms() + WAIT_MS;
	int r, k;

	for (;;) {
		r = port->recv(port->ctx, h, buf, cap);
		if (r != FOTA_ERR_AGAIN || now_ms() > end)
			return r;
		k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
		assert_true(k >= 1);
		poll(fds, (nfds_t)k, 50);
	}
}

static int accept_wait(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int fd;

	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Reads exactly len bytes on the server side (blocking, bounded). */
static void server_read(int fd, void *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		r = recv(fd, (char *)buf + got, len - got, 0);
		assert_true(r > 0);
		got += (size_t)r;
	}
}

/* Waits for the peer's FIN on the server side. */
static void server_eof(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_int_equal(recv(fd, &c, 1, 0), 0);
}

/* The entry of fds (k of them) for the socket whose local port is lport, or NULL. */
static const struct pollfd *entry_for(const struct pollfd *fds, int k, uint16_t lport)
{
	for (int i = 1; i < k; i++) {
		if (port_of(fds[i].fd) == lport)
			return &fds[i];
	}
	return NULL;
}

/* The local port of the client side of srv (the accepted socket's peer). */
static uint16_t peer_port(int srv)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getpeername(srv, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Opens host (host_len bytes) to a listener of family, waits for the connection, accepts
 * it; the server's socket in *srv, the handle returned. */
static int connect_pair(int lfd, const char *host, size_t host_len, int *srv)
{
	int h = port->open(port->ctx, host, host_len, port_of(lfd), false);

	assert_true(h >= 0);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_OK);
	*srv = accept_wait(lfd);
	return h;
}

static void exchange(int family, const char *host, size_t host_len)
{
	int lfd = bound(family, 0, 8), srv, h;
	char buf[32];

	h = connect_pair(lfd, host, host_len, &srv);
	assert_int_equal(port->send(port->ctx, h, "hello", 5), 5);
	server_read(srv, buf, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(send(srv, "world!", 6, 0), 6);
	assert_int_equal(wait_recv(h, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "world!", 6);
	assert_int_equal(net.bytes_sent, 5);
	assert_int_equal(net.bytes_received, 6);
	/* Nothing more there now. */
	assert_int_equal(port->recv(port->ctx, h, buf, sizeof(buf)), FOTA_ERR_AGAIN);
	port->close(port->ctx, h);
	close(srv);
	close(lfd);
}

static void ipv4_literal_connects_and_exchanges_both_ways(void **state)
{
	(void)state;
	/* The host is not terminated: the bytes after it must not count. */
	exchange(AF_INET, "127.0.0.1:80/x", 9);
}

static void ipv6_literal_connects_and_exchanges_both_ways(void **state)
{
	(void)state;
	if (!ipv6_ok())
		skip();
	exchange(AF_INET6, "::1]", 3);
}

/* "localhost" goes through getaddrinfo_a; the loop sleeps in poll() and the finished
 * lookup wakes it (no nap runs out), then the connect completes. */
static void localhost_connects_through_async_lookup_that_wakes_the_loop(void **state)
{
	int lfd = bound(AF_INET, 0, 8), srv, h, naps = 0;
	struct pollfd lp[2] = { { .fd = lfd, .events = POLLIN }, { .fd = -1 } };
	struct sockaddr_storage ss;
	int one = 1;
	char buf[4];

	(void)state;
	/* localhost may give ::1 too: listen there on the same port when it is free. */
	lp[1].fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	lp[1].events = POLLIN;
	assert_true(lp[1].fd >= 0);
	setsockopt(lp[1].fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(lp[1].fd, (struct sockaddr *)&ss, loopback(AF_INET6, port_of(lfd), &ss)) < 0 ||
	    listen(lp[1].fd, 8) < 0) {
		close(lp[1].fd);
		lp[1].fd = -1; /* poll skips it */
	}

	h = open_str("localhost", port_of(lfd));
	assert_true(h >= 0);
	assert_int_equal(wait_ready(h, 2000, &naps), FOTA_OK);
	assert_int_equal(naps, 0);
	assert_int_equal(port->send(port->ctx, h, "ping", 4), 4);
	assert_true(poll(lp, 2, WAIT_MS) >= 1);
	srv = accept_wait(lp[0].revents ? lp[0].fd : lp[1].fd);
	server_read(srv, buf, 4);
	assert_memory_equal(buf, "ping", 4);
	port->close(port->ctx, h);
	close(srv);
	close(lfd);
	if (lp[1].fd >= 0)
		close(lp[1].fd);
}

static void refused_port_gives_connrefused(void **state)
{
	int fd4 = bound(AF_INET, 0, -1), fd6;

	(void)state;
	assert_int_equal(wait_ready(open_str("127.0.0.1", port_of(fd4)), 50, NULL),
			 FOTA_ERR_CONNREFUSED);
	close(fd4);
	if (!ipv6_ok())
		return;
	fd6 = bound(AF_INET6, 0, -1);
	assert_int_equal(wait_ready(open_str("::1", port_of(fd6)), 50, NULL),
			 FOTA_ERR_CONNREFUSED);
	close(fd6);
}

static void unresolvable_name_gives_dns(void **state)
{
	int h, naps = 0;

	(void)state;
	h = open_str(BAD_NAME, 80);
	assert_true(h >= 0);
	assert_int_equal(wait_ready(h, 2000, &naps), FOTA_ERR_DNS);
	assert_int_equal(naps, 0);
	/* It stays failed; send and recv say the same. */
	assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_DNS);
	assert_int_equal(port->send(port->ctx, h, "x", 1), FOTA_ERR_DNS);
	port->close(port->ctx, h);
}

/* The fallback: a refused address, then a refused IPv6 one (IPv4 without IPv6), then the
 * listener. All refused gives FOTA_ERR_CONNREFUSED. */
static void every_address_is_tried_in_turn(void **state)
{
	int fam6 = ipv6_ok() ? AF_INET6 : AF_INET;
	int no4 = bound(AF_INET, 0, -1), no6 = bound(fam6, 0, -1), lfd = bound(AF_INET, 0, 8);
	struct sockaddr_storage sa[3];
	struct addrinfo ai[3];
	struct fota_posix_conn *c;
	int h, srv;

	(void)state;
	memset(ai, 0, sizeof(ai));
	ai[0].ai_addrlen = loopback(AF_INET, port_of(no4), &sa[0]);
	ai[1].ai_addrlen = loopback(fam6, port_of(no6), &sa[1]);
	ai[2].ai_addrlen = loopback(AF_INET, port_of(lfd), &sa[2]);
	for (int i = 0; i < 3; i++) {
		ai[i].ai_addr = (struct sockaddr *)&sa[i];
		ai[i].ai_next = i < 2 ? &ai[i + 1] : NULL;
	}

	c = conn_claim(&net);
	c->next = &ai[0];
	connect_next(c);
	h = conn_handle(&net, c);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_OK);
	srv = accept_wait(lfd);
	assert_int_equal(peer_port(srv), port_of(c->fd));
	port->close(port->ctx, h);
	close(srv);

	ai[1].ai_next = NULL;
	c = conn_claim(&net);
	c->next = &ai[0];
	connect_next(c);
	assert_int_equal(wait_ready(conn_handle(&net, c), 50, NULL), FOTA_ERR_CONNREFUSED);
	close(no4);
	close(no6);
	close(lfd);
}

static void orderly_close_gives_recv_0(void **state)
{
	struct pollfd fds[FOTA_POSIX_NET_POLLFDS];
	int lfd = bound(AF_INET, 0, 8), srv, h, k;
	uint16_t cport;
	char buf[8];

	(void)state;
	h = connect_pair(lfd, "127.0.0.1", 9, &srv);
	cport = peer_port(srv);
	assert_int_equal(send(srv, "bye", 3, 0), 3);
	close(srv);
	assert_int_equal(wait_recv(h, buf, sizeof(buf)), 3);
	assert_int_equal(wait_recv(h, buf, sizeof(buf)), 0);
	assert_int_equal(port->recv(port->ctx, h, buf, sizeof(buf)), 0);
	/* After the FIN the socket stays readable: the loop must not watch it any more. */
	k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
	assert_null(entry_for(fds, k, cport));
	port->close(port->ctx, h);
	close(lfd);
}

static void reset_gives_connreset(void **state)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int lfd = bound(AF_INET, 0, 8), srv, h;
	char buf[8];

	(void)state;
	h = connect_pair(lfd, "127.0.0.1", 9, &srv);
	assert_int_equal(setsockopt(srv, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(srv); /* linger 0: an RST instead of a FIN */
	assert_int_equal(wait_recv(h, buf, sizeof(buf)), FOTA_ERR_CONNRESET);
	assert_int_equal(port->send(port->ctx, h, "x", 1), FOTA_ERR_CONNRESET);
	assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_CONNRESET);
	port->close(port->ctx, h);
	close(lfd);
}

/* Radio off ends the connection (NETDOWN everywhere), wakes the loop until the agent has
 * seen it, refuses new ones; radio on again opens new ones. */
static void radio_off_gives_netdown(void **state)
{
	struct pollfd fds[FOTA_POSIX_NET_POLLFDS];
	int lfd = bound(AF_INET, 0, 8), srv, h, k;
	char buf[8];

	(void)state;
	h = connect_pair(lfd, "127.0.0.1", 9, &srv);
	k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
	assert_int_equal(poll(fds, (nfds_t)k, 0), 0); /* all quiet */

	fota_posix_net_set_radio(&net, false);
	assert_true(net.radio_off);
	k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
	assert_int_equal(k, 1); /* the socket is gone; the wake-up stays */
	assert_int_equal(poll(fds, (nfds_t)k, 0), 1);
	assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_NETDOWN);
	assert_int_equal(port->send(port->ctx, h, "x", 1), FOTA_ERR_NETDOWN);
	assert_int_equal(port->recv(port->ctx, h, buf, sizeof(buf)), FOTA_ERR_NETDOWN);
	k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
	assert_int_equal(poll(fds, (nfds_t)k, 0), 0); /* seen: the loop may sleep again */
	assert_int_equal(open_str("127.0.0.1", port_of(lfd)), FOTA_ERR_NETDOWN);
	assert_int_equal(open_str("localhost", port_of(lfd)), FOTA_ERR_NETDOWN);
	/* The server sees the connection end. */
	server_eof(srv);
	port->close(port->ctx, h);
	close(srv);

	fota_posix_net_set_radio(&net, true);
	h = connect_pair(lfd, "127.0.0.1", 9, &srv);
	/* The field set by hand works too, at the next call. */
	net.radio_off = true;
	assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_NETDOWN);
	assert_int_equal(open_str("::1", 80), FOTA_ERR_NETDOWN);
	net.radio_off = false;
	port->close(port->ctx, h);
	close(srv);
	close(lfd);
}

/* A radio switched off during a lookup ends it too. */
static void radio_off_during_lookup_gives_netdown(void **state)
{
	int h;

	(void)state;
	h = open_str("localhost", 80);
	assert_true(h >= 0);
	fota_posix_net_set_radio(&net, false);
	assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_NETDOWN);
	port->close(port->ctx, h);
}

static void full_table_gives_nomem_and_stale_handles_are_refused(void **state)
{
	int lfd = bound(AF_INET, 0, 8), h[FOTA_POSIX_NET_CONNS], again, srv;
	char buf[4];

	(void)state;
	for (int i = 0; i < FOTA_POSIX_NET_CONNS; i++) {
		h[i] = open_str("127.0.0.1", port_of(lfd));
		assert_int_equal(h[i], i);
	}
	assert_int_equal(open_str("127.0.0.1", port_of(lfd)), FOTA_ERR_NOMEM);
	assert_int_equal(open_str("localhost", port_of(lfd)), FOTA_ERR_NOMEM);

	port->close(port->ctx, h[1]);
	again = open_str("127.0.0.1", port_of(lfd));
	assert_int_equal(again, h[1] + FOTA_POSIX_NET_CONNS); /* same slot, next generation */
	assert_int_equal(port->ready(port->ctx, h[1]), FOTA_ERR_INVAL);
	assert_int_equal(port->send(port->ctx, h[1], "x", 1), FOTA_ERR_INVAL);
	assert_int_equal(port->recv(port->ctx, h[1], buf, sizeof(buf)), FOTA_ERR_INVAL);
	port->close(port->ctx, h[1]); /* stale: must not close the new one */
	assert_int_equal(wait_ready(again, 50, NULL), FOTA_OK);
	srv = accept_wait(lfd);
	close(srv);
	assert_int_equal(port->ready(port->ctx, -1), FOTA_ERR_INVAL);
	assert_int_equal(port->ready(port->ctx, 1000), FOTA_ERR_INVAL);
	port->close(port->ctx, -1);
	close(lfd);
	/* teardown closes the rest */
}

static void bad_arguments_and_tls_are_refused(void **state)
{
	char longname[FOTA_POSIX_NET_HOST_MAX + 2];

	(void)state;
	memset(longname, 'a', sizeof(longname));
	assert_int_equal(port->open(port->ctx, "127.0.0.1", 9, 443, true), FOTA_ERR_NOTSUP);
	assert_int_equal(port->open(port->ctx, "", 0, 80, false), FOTA_ERR_INVAL);
	assert_int_equal(port->open(port->ctx, NULL, 3, 80, false), FOTA_ERR_INVAL);
	assert_int_equal(port->open(port->ctx, "127.0.0.1", 9, 0, false), FOTA_ERR_INVAL);
	assert_int_equal(port->open(port->ctx, "a\0b", 3, 80, false), FOTA_ERR_INVAL);
	assert_int_equal(port->open(port->ctx, longname, sizeof(longname), 80, false),
			 FOTA_ERR_TOOLONG);
}

/* True once every lookup started on net has ended and freed itself (each holds a
 * reference to the wake-up descriptor); sleeps in poll() on it meanwhile. */
static bool lookups_gone(void)
{
	struct pollfd p = { .fd = net.wake->fd, .events = POLLIN };
	int64_t end = now_ms() + WAIT_MS;

	while (atomic_load(&net.wake->refs) != 1 && now_ms() < end)
		poll(&p, 1, 10);
	return atomic_load(&net.wake->refs) == 1;
}

/* Close while the lookup runs, then free the port while others run: the helper threads
 * finish on their own and free what they hold (ASan checks the memory). */
static void close_while_looking_up_is_safe(void **state)
{
	struct pollfd fds[FOTA_POSIX_NET_POLLFDS];
	int h;

	(void)state;
	h = open_str("localhost", 80);
	assert_true(h >= 0);
	port->close(port->ctx, h);
	assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_INVAL);
	assert_int_equal(fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS), 1);
	assert_true(lookups_gone());

	for (int i = 0; i < FOTA_POSIX_NET_CONNS; i++)
		assert_true(open_str(i % 2 ? "localhost" : BAD_NAME, 80) >= 0);
	fota_posix_net_free(&net);
	assert_int_equal(fota_posix_net_init(&net), FOTA_OK);
}

/* A connect the listener cannot take yet (its backlog is full) stays in progress: the
 * loop waits for POLLOUT on it; closing it then is safe. */
static void close_while_connecting_is_safe(void **state)
{
	struct pollfd fds[FOTA_POSIX_NET_POLLFDS];
	int lfd = bound(AF_INET, 0, 0), h1, h2, k;
	const struct pollfd *e;

	(void)state;
	h1 = open_str("127.0.0.1", port_of(lfd));
	assert_int_equal(wait_ready(h1, 50, NULL), FOTA_OK); /* fills the backlog */
	h2 = open_str("127.0.0.1", port_of(lfd));
	assert_true(h2 >= 0);
	assert_int_equal(port->ready(port->ctx, h2), FOTA_ERR_AGAIN);
	assert_int_equal(port->send(port->ctx, h2, "x", 1), FOTA_ERR_INVAL); /* not yet */
	k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
	assert_int_equal(k, 3);
	e = entry_for(fds, k, port_of(net.conn[h2 % FOTA_POSIX_NET_CONNS].fd));
	assert_non_null(e);
	assert_int_equal(e->events, POLLOUT);
	assert_int_equal(poll(fds, (nfds_t)k, 0), 0);
	port->close(port->ctx, h2);
	port->close(port->ctx, h1);
	close(lfd);
}

/* pollfd: the wake-up first, then each connected socket with POLLIN; POLLOUT too after a
 * send cut short, until there is room again; a too small array is refused. */
static void pollfd_reports_fds_and_events(void **state)
{
	enum { TOTAL = 32 << 20, CHUNK = 64 << 10 };
	struct pollfd fds[FOTA_POSIX_NET_POLLFDS];
	static uint8_t out[CHUNK], in[CHUNK];
	int lfd = bound(AF_INET, 0, 8), small = 4096, srv, h, k, r;
	size_t sent = 0, got = 0, ask;
	int64_t end = now_ms() + 4 * WAIT_MS;
	const struct pollfd *e;
	bool blocked = false;
	uint16_t cport;

	(void)state;
	assert_int_equal(fota_posix_net_pollfd(&net, fds, 0), FOTA_ERR_NOMEM);
	assert_int_equal(fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS), 1);
	assert_int_equal(fds[0].events, POLLIN);

	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	h = connect_pair(lfd, "127.0.0.1", 9, &srv);
	cport = peer_port(srv);
	assert_int_equal(fota_posix_net_pollfd(&net, fds, 1), FOTA_ERR_NOMEM);
	k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
	assert_int_equal(k, 2);
	e = entry_for(fds, k, cport);
	assert_non_null(e);
	assert_int_equal(e->events, POLLIN);

	/* Send without reading until the socket is full, then read while sending the rest. */
	while (got < TOTAL && now_ms() < end) {
		if (sent < TOTAL) {
			ask = TOTAL - sent < CHUNK ? TOTAL - sent : CHUNK;
			for (size_t i = 0; i < ask; i++)
				out[i] = (uint8_t)((sent + i) % 251);
			r = port->send(port->ctx, h, out, ask);
			assert_true(r >= 0);
			sent += (size_t)r;
			if ((size_t)r < ask && !blocked) {
				blocked = true;
				k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
				e = entry_for(fds, k, cport);
				assert_non_null(e);
				assert_int_equal(e->events, POLLIN | POLLOUT);
			}
		}
		if (!blocked && sent < TOTAL)
			continue;
		r = (int)recv(srv, in, sizeof(in), MSG_DONTWAIT);
		if (r < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			continue;
		}
		for (int i = 0; i < r; i++)
			assert_int_equal(in[i], (uint8_t)((got + (size_t)i) % 251));
		got += (size_t)r;
	}
	assert_true(blocked);
	assert_int_equal(got, TOTAL);
	assert_int_equal(net.bytes_sent, TOTAL);
	/* All sent (the last send took everything): POLLIN alone again. */
	k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
	e = entry_for(fds, k, cport);
	assert_non_null(e);
	assert_int_equal(e->events, POLLIN);
	assert_int_equal(port->send(port->ctx, h, out, 0), 0);
	assert_int_equal(port->recv(port->ctx, h, in, 0), FOTA_ERR_INVAL);
	port->close(port->ctx, h);
	assert_int_equal(fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS), 1);
	close(srv);
	close(lfd);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(ipv4_literal_connects_and_exchanges_both_ways),
		T(ipv6_literal_connects_and_exchanges_both_ways),
		T(localhost_connects_through_async_lookup_that_wakes_the_loop),
		T(refused_port_gives_connrefused),
		T(unresolvable_name_gives_dns),
		T(every_address_is_tried_in_turn),
		T(orderly_close_gives_recv_0),
		T(reset_gives_connreset),
		T(radio_off_gives_netdown),
		T(radio_off_during_lookup_gives_netdown),
		T(full_table_gives_nomem_and_stale_handles_are_refused),
		T(bad_arguments_and_tls_are_refused),
		T(close_while_looking_up_is_safe),
		T(close_while_connecting_is_safe),
		T(pollfd_reports_fds_and_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
