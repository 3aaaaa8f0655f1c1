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

static void bad_arguments_are_refused(void **state)
{
	char longname[FOTA_POSIX_NET_HOST_MAX + 2];

	(void)state;
	memset(longname, 'a', sizeof(longname));
	assert_int_equal(port->open(port->ctx, "127.0.0.1", 9, 0, true), FOTA_ERR_INVAL);
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

/* ---- TLS ------------------------------------------------------------------------------
 *
 * The certificates are made here by mbedTLS's writer (EC P-256, SHA-256), once for all
 * tests: a CA the client trusts (its PEM in a temporary file for fota_posix_net_set_ca),
 * and leaves for "localhost", for "127.0.0.1" (as CN), for another name, an expired one,
 * and one from a CA the client does not know. The server runs in a thread of its own:
 * blocking mbedTLS on an accepted socket, with no cmocka asserts (it records what it saw
 * for the test to check after joining it). */

#include <pthread.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

enum { CRT_LOCALHOST, CRT_IP_CN, CRT_IP_SAN, CRT_OTHER_NAME, CRT_EXPIRED, CRT_FOREIGN, CRTS };

static mbedtls_entropy_context t_entropy;
static mbedtls_ctr_drbg_context t_drbg;
static mbedtls_pk_context t_ca_key, t_foreign_key, t_srv_key;
static mbedtls_x509_crt t_crt[CRTS];
static char t_ca_file[64];

static int make_key(mbedtls_pk_context *k)
{
	mbedtls_pk_init(k);
	if (mbedtls_pk_setup(k, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)))
		return -1;
	return mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*k),
				   mbedtls_ctr_drbg_random, &t_drbg) ? -1 : 0;
}

/* A certificate of subject (key subj_key) signed by issuer (key iss_key), in PEM into
 * pem; san: a subjectAltName extension's DER value, or NULL. */
static int make_crt(char *pem, size_t cap, const char *subject, mbedtls_pk_context *subj_key,
		    const char *issuer, mbedtls_pk_context *iss_key, bool ca, const char *from,
		    const char *to, int serial, const unsigned char *san, size_t san_len)
{
	mbedtls_x509write_cert w;
	mbedtls_mpi sn;
	int ret;

	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&sn);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, subj_key);
	mbedtls_x509write_crt_set_issuer_key(&w, iss_key);
	ret = mbedtls_mpi_lset(&sn, serial);
	ret = ret ? ret : mbedtls_x509write_crt_set_serial(&w, &sn);
	ret = ret ? ret : mbedtls_x509write_crt_set_subject_name(&w, subject);
	ret = ret ? ret : mbedtls_x509write_crt_set_issuer_name(&w, issuer);
	ret = ret ? ret : mbedtls_x509write_crt_set_validity(&w, from, to);
	ret = ret ? ret : mbedtls_x509write_crt_set_basic_constraints(&w, ca, -1);
	if (!ret && ca)
		ret = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_KEY_CERT_SIGN);
	if (!ret && san)
		ret = mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
							  MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
							  0, san, san_len);
	ret = ret ? ret : mbedtls_x509write_crt_pem(&w, (unsigned char *)pem, cap,
						    mbedtls_ctr_drbg_random, &t_drbg);
	mbedtls_mpi_free(&sn);
	mbedtls_x509write_crt_free(&w);
	return ret ? -1 : 0;
}

/* A leaf for the server, signed by the test CA (or the foreign one), parsed into *out. */
static int make_leaf(mbedtls_x509_crt *out, const char *cn, bool foreign, const char *from,
		     const char *to, int serial, const unsigned char *san, size_t san_len)
{
	char pem[2048], subject[80];

	snprintf(subject, sizeof(subject), "CN=%s", cn);
	mbedtls_x509_crt_init(out);
	if (make_crt(pem, sizeof(pem), subject, &t_srv_key,
		     foreign ? "CN=foreign test CA" : "CN=openfota unit test CA",
		     foreign ? &t_foreign_key : &t_ca_key, false, from, to, serial, san, san_len))
		return -1;
	return mbedtls_x509_crt_parse(out, (const unsigned char *)pem, strlen(pem) + 1) ? -1 : 0;
}

static int tls_group_setup(void **state)
{
	/* subjectAltName = SEQUENCE { iPAddress 127.0.0.1 } */
	static const unsigned char san_ip[] = { 0x30, 0x06, 0x87, 0x04, 127, 0, 0, 1 };
	char pem[2048];
	FILE *f;
	int fd;

	(void)state;
	mbedtls_entropy_init(&t_entropy);
	mbedtls_ctr_drbg_init(&t_drbg);
	if (mbedtls_ctr_drbg_seed(&t_drbg, mbedtls_entropy_func, &t_entropy, NULL, 0) ||
	    make_key(&t_ca_key) || make_key(&t_foreign_key) || make_key(&t_srv_key))
		return -1;
	if (make_crt(pem, sizeof(pem), "CN=openfota unit test CA", &t_ca_key,
		     "CN=openfota unit test CA", &t_ca_key, true, "20200101000000",
		     "20491231235959", 1, NULL, 0))
		return -1;
	strcpy(t_ca_file, "/tmp/fota-test-ca-XXXXXX");
	fd = mkstemp(t_ca_file);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (!f || fputs(pem, f) < 0 || fclose(f))
		return -1;
	if (make_leaf(&t_crt[CRT_LOCALHOST], "localhost", false, "20200101000000",
		      "20491231235959", 2, NULL, 0) ||
	    make_leaf(&t_crt[CRT_IP_CN], "127.0.0.1", false, "20200101000000", "20491231235959",
		      3, NULL, 0) ||
	    make_leaf(&t_crt[CRT_IP_SAN], "localhost", false, "20200101000000",
		      "20491231235959", 4, san_ip, sizeof(san_ip)) ||
	    make_leaf(&t_crt[CRT_OTHER_NAME], "other.example", false, "20200101000000",
		      "20491231235959", 5, NULL, 0) ||
	    make_leaf(&t_crt[CRT_EXPIRED], "localhost", false, "20100101000000",
		      "20110101000000", 6, NULL, 0) ||
	    make_leaf(&t_crt[CRT_FOREIGN], "localhost", true, "20200101000000",
		      "20491231235959", 7, NULL, 0))
		return -1;
	return 0;
}

static int tls_group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < CRTS; i++)
		mbedtls_x509_crt_free(&t_crt[i]);
	mbedtls_pk_free(&t_ca_key);
	mbedtls_pk_free(&t_foreign_key);
	mbedtls_pk_free(&t_srv_key);
	mbedtls_ctr_drbg_free(&t_drbg);
	mbedtls_entropy_free(&t_entropy);
	if (t_ca_file[0])
		unlink(t_ca_file);
	return 0;
}

enum srv_mode {
	SRV_ECHO,      /* handshake; read req_len bytes, echo them, send bulk bytes, close_notify */
	SRV_SINK,      /* handshake; wait for go, then read sink bytes of the counting pattern */
	SRV_HANDSHAKE, /* handshake, then close the socket (no close_notify) */
	SRV_DROP,      /* accept, close at once */
	SRV_HTTP,      /* accept, answer what comes as a plain HTTP server would */
	SRV_SILENT,    /* accept, read what comes until the client closes, never answer */
};

/* One TLS server thread, on a listening socket of its own. */
struct srv {
	enum srv_mode mode;
	int crt;              /* CRT_... */
	int max_minor;        /* highest TLS minor version offered (0: mbedTLS's) */
	size_t req_len, bulk, sink;
	int go[2];            /* SRV_SINK: a byte on go[1] lets the server read */
	int lfd;
	pthread_t th;
	/* what the server saw */
	int hs_ret;
	size_t out_mfl;       /* the largest record the server may send after the handshake */
	size_t got;           /* bytes read */
	bool pattern_ok;      /* SRV_SINK: they were 0, 1, 2... (mod 251), none twice */
	unsigned char req[64];
};

static void srv_io(struct srv *s, int fd)
{
	mbedtls_net_context nc = { .fd = fd };
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	unsigned char buf[4096];
	size_t i, n;
	char c;
	int r;

	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_init(&ssl);
	s->hs_ret = -1;
	if (mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT))
		goto out;
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &t_drbg);
	if (s->max_minor) {
		mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3,
					     MBEDTLS_SSL_MINOR_VERSION_1);
		mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, s->max_minor);
	}
	if (mbedtls_ssl_conf_own_cert(&conf, &t_crt[s->crt], &t_srv_key) ||
	    mbedtls_ssl_setup(&ssl, &conf))
		goto out;
	mbedtls_ssl_set_bio(&ssl, &nc, mbedtls_net_send, mbedtls_net_recv, NULL);
	do
		r = mbedtls_ssl_handshake(&ssl);
	while (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE);
	s->hs_ret = r;
	if (r)
		goto out;
	s->out_mfl = mbedtls_ssl_get_output_max_frag_len(&ssl);
	if (s->mode == SRV_ECHO) {
		while (s->got < s->req_len && s->got < sizeof(s->req)) {
			r = mbedtls_ssl_read(&ssl, s->req + s->got, s->req_len - s->got);
			if (r <= 0)
				goto out;
			s->got += (size_t)r;
		}
		if (mbedtls_ssl_write(&ssl, s->req, s->got) != (int)s->got)
			goto out;
		for (i = 0; i < s->bulk; i += n) {
			n = s->bulk - i < sizeof(buf) ? s->bulk - i : sizeof(buf);
			memset(buf, 'B', n);
			r = mbedtls_ssl_write(&ssl, buf, n);
			if (r <= 0)
				goto out;
			n = (size_t)r;
		}
		mbedtls_ssl_close_notify(&ssl);
	} else if (s->mode == SRV_SINK) {
		if (read(s->go[0], &c, 1) != 1)
			goto out;
		s->pattern_ok = true;
		while (s->got < s->sink) {
			r = mbedtls_ssl_read(&ssl, buf, sizeof(buf));
			if (r <= 0)
				break;
			for (i = 0; i < (size_t)r; i++)
				s->pattern_ok &= buf[i] == (unsigned char)((s->got + i) % 251);
			s->got += (size_t)r;
		}
	}
out:
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
}

/* Reads what the client sends until it pauses for wait_ms (or closes): the plain
 * servers close only once nothing is left unread, which would reset the connection. */
static void srv_drain(int fd, int wait_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[4096];

	while (poll(&p, 1, wait_ms) == 1 && recv(fd, buf, sizeof(buf), 0) > 0)
		;
}

static void *srv_main(void *arg)
{
	static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	struct srv *s = arg;
	struct pollfd p = { .fd = s->lfd, .events = POLLIN };
	int fd;

	if (poll(&p, 1, WAIT_MS) != 1)
		return NULL;
	fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	switch (s->mode) {
	case SRV_HTTP:
		srv_drain(fd, 200);
		if (send(fd, answer, sizeof(answer) - 1, MSG_NOSIGNAL) < 0)
			s->hs_ret = -1;
		shutdown(fd, SHUT_WR);
		srv_drain(fd, WAIT_MS);
		break;
	case SRV_SILENT:
		srv_drain(fd, WAIT_MS);
		break;
	case SRV_DROP:
		break;
	default:
		srv_io(s, fd);
		break;
	}
	close(fd);
	return NULL;
}

/* Starts a server: mode with certificate crt, on 127.0.0.1 at a free port. */
static void srv_start(struct srv *s, enum srv_mode mode, int crt)
{
	s->mode = mode;
	s->crt = crt;
	s->lfd = bound(AF_INET, 0, 8);
	if (mode == SRV_SINK)
		assert_int_equal(pipe(s->go), 0);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_join(struct srv *s)
{
	if (s->mode == SRV_SINK) {
		close(s->go[1]); /* lets a server still waiting go on (and end) */
		s->go[1] = -1;
	}
	pthread_join(s->th, NULL);
	close(s->lfd);
	if (s->mode == SRV_SINK)
		close(s->go[0]);
}

static int open_tls(const char *host, const struct srv *s)
{
	int h = port->open(port->ctx, host, strlen(host), port_of(s->lfd), true);

	assert_true(h >= 0);
	return h;
}

static int tls_setup_test(void **state)
{
	if (setup(state))
		return -1;
	return fota_posix_net_set_ca(&net, t_ca_file) == FOTA_OK ? 0 : -1;
}

/* The whole life of a connection by name: lookup, handshake (the loop sleeps in poll and
 * is woken each time), a request and its echo, a body of several records of at most the
 * fragment length asked for, the server's close_notify as recv 0. */
static void tls_by_name_exchanges_and_ends_with_close_notify(void **state)
{
	struct srv s = { .req_len = 5, .bulk = 20000 };
	char buf[1000];
	size_t got = 0;
	int h, r, naps = 0;

	(void)state;
	srv_start(&s, SRV_ECHO, CRT_LOCALHOST);
	/* localhost may resolve to ::1 first: refused there, then 127.0.0.1. */
	h = open_tls("localhost", &s);
	assert_int_equal(wait_ready(h, 2000, &naps), FOTA_OK);
	assert_int_equal(naps, 0);
	assert_int_equal(port->send(port->ctx, h, "hello", 5), 5);
	assert_int_equal(wait_recv(h, buf, 5), 5);
	assert_memory_equal(buf, "hello", 5);
	for (;;) {
		r = wait_recv(h, buf, sizeof(buf));
		assert_true(r >= 0);
		if (r == 0)
			break;
		for (int i = 0; i < r; i++)
			assert_int_equal(buf[i], 'B');
		got += (size_t)r;
	}
	assert_int_equal(got, 20000);
	assert_int_equal(port->recv(port->ctx, h, buf, sizeof(buf)), 0); /* and again */
	assert_int_equal(net.bytes_sent, 5);
	assert_int_equal(net.bytes_received, 20005);
	port->close(port->ctx, h);
	srv_join(&s);
	assert_int_equal(s.hs_ret, 0);
	assert_int_equal(s.out_mfl, FOTA_POSIX_TLS_MFL);
}

/* Without max_fragment_length the server may send records of 16 KiB. */
static void tls_without_mfl_gets_full_records(void **state)
{
	struct srv s = { .req_len = 2 };
	char buf[8];
	int h;

	(void)state;
	net.tls_mfl = 0;
	srv_start(&s, SRV_ECHO, CRT_IP_CN);
	h = open_tls("127.0.0.1", &s);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_OK);
	assert_int_equal(port->send(port->ctx, h, "hi", 2), 2);
	assert_int_equal(wait_recv(h, buf, sizeof(buf)), 2);
	port->close(port->ctx, h);
	srv_join(&s);
	assert_int_equal(s.hs_ret, 0);
	assert_int_equal(s.out_mfl, 16384);
}

/* A record mbedTLS decrypted whole while recv took only part of it: the socket has
 * nothing more to say, so pollfd must wake the loop itself. */
static void tls_data_held_by_mbedtls_wakes_the_loop(void **state)
{
	struct srv s = { .req_len = 1, .bulk = 3000 };
	struct pollfd fds[FOTA_POSIX_NET_POLLFDS];
	char buf[3001];
	int h, k, r;
	size_t got = 0;

	(void)state;
	srv_start(&s, SRV_ECHO, CRT_IP_CN);
	h = open_tls("127.0.0.1", &s);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_OK);
	assert_int_equal(port->send(port->ctx, h, "x", 1), 1);
	assert_int_equal(wait_recv(h, buf, 1), 1); /* the echo: one record of its own */
	assert_int_equal(wait_recv(h, buf, 10), 10); /* 10 of a 3000-byte record */
	got = 10;
	while (got < 3000) {
		k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
		assert_true(poll(fds, (nfds_t)k, 0) >= 1); /* at once: the wake-up fd */
		assert_true(fds[0].revents & POLLIN);
		r = port->recv(port->ctx, h, buf, 500);
		assert_true(r > 0);
		got += (size_t)r;
	}
	/* The last byte read: now only close_notify is left, on the socket. */
	assert_int_equal(wait_recv(h, buf, sizeof(buf)), 0);
	port->close(port->ctx, h);
	srv_join(&s);
}

/* The socket full in the middle of a record: send says what it took, the rest of the
 * record goes out later from the port's copy (the next send, or recv), nothing twice. */
static void tls_send_into_a_full_socket_loses_and_repeats_nothing(void **state)
{
	struct srv s = { .sink = 0 };
	struct fota_posix_conn *c;
	struct pollfd fds[FOTA_POSIX_NET_POLLFDS];
	unsigned char data[FOTA_POSIX_TLS_SEND_MAX * 2];
	size_t sent = 0, goal = 600000;
	int h, r, small = 4096, k;
	int64_t end;
	char go = 1;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = 0;
	s.sink = goal;
	srv_start(&s, SRV_SINK, CRT_IP_CN);
	h = open_tls("127.0.0.1", &s);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_OK);
	c = &net.conn[h % FOTA_POSIX_NET_CONNS];
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	/* Until the socket is full (the server does not read yet). */
	for (;;) {
		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (unsigned char)((sent + i) % 251);
		r = port->send(port->ctx, h, data, sizeof(data));
		assert_true(r >= 0);
		assert_true(r <= FOTA_POSIX_TLS_SEND_MAX);
		sent += (size_t)r;
		if (c->tls->pend)
			break;
		assert_true(sent < goal);
	}
	k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
	assert_int_equal(k, 2);
	assert_true(fds[1].events & POLLOUT);
	assert_int_equal(port->send(port->ctx, h, data, sizeof(data)), 0); /* still full */
	assert_int_equal(port->recv(port->ctx, h, data, 10), FOTA_ERR_AGAIN);
	assert_int_equal(write(s.go[1], &go, 1), 1);
	end = now_ms() + WAIT_MS;
	while (sent < goal && now_ms() < end) {
		size_t n = goal - sent < sizeof(data) ? goal - sent : sizeof(data);

		for (size_t i = 0; i < n; i++)
			data[i] = (unsigned char)((sent + i) % 251);
		r = port->send(port->ctx, h, data, n);
		assert_true(r >= 0);
		sent += (size_t)r;
		if (!r) {
			k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
			poll(fds, (nfds_t)k, 50);
		}
	}
	assert_int_equal(sent, goal);
	/* The last record may still be on its way: recv pushes it out. */
	while (c->tls->pend && now_ms() < end) {
		assert_int_equal(port->recv(port->ctx, h, data, 10), FOTA_ERR_AGAIN);
		k = fota_posix_net_pollfd(&net, fds, FOTA_POSIX_NET_POLLFDS);
		poll(fds, (nfds_t)k, 50);
	}
	assert_int_equal(c->tls->pend, 0);
	srv_join(&s);
	assert_int_equal(s.got, goal);
	assert_true(s.pattern_ok);
	assert_int_equal(net.bytes_sent, goal);
	port->close(port->ctx, h);
}

/* The IP literal is checked, as text, against the certificate's names. */
static void tls_ip_literal_matches_the_cn(void **state)
{
	struct srv s = { .req_len = 2 };
	char buf[4];
	int h;

	(void)state;
	srv_start(&s, SRV_ECHO, CRT_IP_CN);
	h = open_tls("127.0.0.1", &s);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_OK);
	assert_int_equal(port->send(port->ctx, h, "ok", 2), 2);
	assert_int_equal(wait_recv(h, buf, sizeof(buf)), 2);
	port->close(port->ctx, h);
	srv_join(&s);
}

/* A failed check: ready says FOTA_ERR_TLS (again at each call), with mbedTLS's reason. */
static void tls_refused(int crt, const char *host, uint32_t flag)
{
	struct srv s = { 0 };
	int h;

	srv_start(&s, SRV_HANDSHAKE, crt);
	h = open_tls(host, &s);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_ERR_TLS);
	assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_TLS);
	assert_int_equal(port->send(port->ctx, h, "x", 1), FOTA_ERR_TLS);
	assert_int_equal(net.tls_error, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	assert_true(net.tls_verify & flag);
	port->close(port->ctx, h);
	srv_join(&s);
	assert_true(s.hs_ret != 0); /* the client's alert ended it on the server too */
}

static void tls_wrong_name_is_refused(void **state)
{
	(void)state;
	tls_refused(CRT_OTHER_NAME, "localhost", MBEDTLS_X509_BADCERT_CN_MISMATCH);
}

static void tls_ip_literal_is_not_matched_by_a_dns_name(void **state)
{
	(void)state;
	tls_refused(CRT_LOCALHOST, "127.0.0.1", MBEDTLS_X509_BADCERT_CN_MISMATCH);
}

/* mbedTLS 2.28 does not read iPAddress entries of subjectAltName (3.x does). */
static void tls_ip_literal_with_only_an_ip_san_is_refused_by_mbedtls_2(void **state)
{
	(void)state;
	tls_refused(CRT_IP_SAN, "127.0.0.1", MBEDTLS_X509_BADCERT_CN_MISMATCH);
}

static void tls_expired_certificate_is_refused(void **state)
{
	(void)state;
	tls_refused(CRT_EXPIRED, "localhost", MBEDTLS_X509_BADCERT_EXPIRED);
}

static void tls_unknown_ca_is_refused(void **state)
{
	(void)state;
	tls_refused(CRT_FOREIGN, "localhost", MBEDTLS_X509_BADCERT_NOT_TRUSTED);
}

static void tls_server_below_1_2_is_refused(void **state)
{
	struct srv s = { .max_minor = MBEDTLS_SSL_MINOR_VERSION_2 }; /* TLS 1.1 */
	int h;

	(void)state;
	srv_start(&s, SRV_HANDSHAKE, CRT_IP_CN);
	h = open_tls("127.0.0.1", &s);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_ERR_TLS);
	port->close(port->ctx, h);
	srv_join(&s);
	assert_true(s.hs_ret != 0);
}

/* Not a TLS server: a peer that closes during the handshake is a reset (the agent tries
 * again), one that answers in plain HTTP fails the handshake. */
static void tls_peer_gone_or_plain_http(void **state)
{
	struct srv s = { 0 }, p = { 0 };
	int h;

	(void)state;
	srv_start(&s, SRV_DROP, CRT_IP_CN);
	h = open_tls("127.0.0.1", &s);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_ERR_CONNRESET);
	port->close(port->ctx, h);
	srv_join(&s);
	srv_start(&p, SRV_HTTP, CRT_IP_CN);
	h = open_tls("127.0.0.1", &p);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_ERR_TLS);
	port->close(port->ctx, h);
	srv_join(&p);
}

/* Closing or switching the radio off during the handshake frees everything (ASan). */
static void tls_close_and_radio_off_during_handshake(void **state)
{
	struct srv s = { 0 }, t = { 0 };
	int h, lfd;

	(void)state;
	srv_start(&s, SRV_SILENT, CRT_IP_CN);
	h = open_tls("127.0.0.1", &s);
	while (net.conn[h % FOTA_POSIX_NET_CONNS].state != C_HANDSHAKE)
		assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_AGAIN);
	assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_AGAIN); /* the ClientHello */
	port->close(port->ctx, h);
	srv_join(&s);
	srv_start(&t, SRV_SILENT, CRT_IP_CN);
	h = open_tls("127.0.0.1", &t);
	while (net.conn[h % FOTA_POSIX_NET_CONNS].state != C_HANDSHAKE)
		assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_AGAIN);
	fota_posix_net_set_radio(&net, false);
	assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_NETDOWN);
	assert_null(net.conn[h % FOTA_POSIX_NET_CONNS].tls);
	port->close(port->ctx, h);
	srv_join(&t);
	/* A TLS connection still in its handshake at fota_posix_net_free: teardown frees it
	 * (the listener's backlog completes the connect; nobody answers). */
	fota_posix_net_set_radio(&net, true);
	lfd = bound(AF_INET, 0, 8);
	h = port->open(port->ctx, "127.0.0.1", 9, port_of(lfd), true);
	while (net.conn[h % FOTA_POSIX_NET_CONNS].state != C_HANDSHAKE)
		assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_AGAIN);
	assert_int_equal(port->ready(port->ctx, h), FOTA_ERR_AGAIN);
	close(lfd);
}

static void tls_set_ca_errors_keep_the_certificates_before(void **state)
{
	char empty[] = "/tmp/fota-test-empty-XXXXXX";
	struct srv s = { .req_len = 1 };
	char buf[2];
	int fd, h;

	(void)state;
	assert_int_equal(fota_posix_net_set_ca(&net, "/nonexistent/ca.pem"), FOTA_ERR_NOENT);
	fd = mkstemp(empty);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "no certificate\n", 15), 15);
	close(fd);
	assert_int_equal(fota_posix_net_set_ca(&net, empty), FOTA_ERR_BADMSG);
	unlink(empty);
	/* The test CA is still the one trusted. */
	srv_start(&s, SRV_ECHO, CRT_IP_CN);
	h = open_tls("127.0.0.1", &s);
	assert_int_equal(wait_ready(h, 50, NULL), FOTA_OK);
	assert_int_equal(port->send(port->ctx, h, "z", 1), 1);
	assert_int_equal(wait_recv(h, buf, 1), 1);
	port->close(port->ctx, h);
	srv_join(&s);
	/* The system's bundle (when the machine has one) does not know the test CA. */
	if (access(FOTA_POSIX_TLS_CA_BUNDLE, R_OK) == 0) {
		assert_int_equal(fota_posix_net_set_ca(&net, NULL), FOTA_OK);
		tls_refused(CRT_IP_CN, "127.0.0.1", MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TT(f) cmocka_unit_test_setup_teardown(f, tls_setup_test, teardown)

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
		T(bad_arguments_are_refused),
		T(close_while_looking_up_is_safe),
		T(close_while_connecting_is_safe),
		T(pollfd_reports_fds_and_events),
		TT(tls_by_name_exchanges_and_ends_with_close_notify),
		TT(tls_without_mfl_gets_full_records),
		TT(tls_data_held_by_mbedtls_wakes_the_loop),
		TT(tls_send_into_a_full_socket_loses_and_repeats_nothing),
		TT(tls_ip_literal_matches_the_cn),
		TT(tls_wrong_name_is_refused),
		TT(tls_ip_literal_is_not_matched_by_a_dns_name),
		TT(tls_ip_literal_with_only_an_ip_san_is_refused_by_mbedtls_2),
		TT(tls_expired_certificate_is_refused),
		TT(tls_unknown_ca_is_refused),
		TT(tls_server_below_1_2_is_refused),
		TT(tls_peer_gone_or_plain_http),
		TT(tls_close_and_radio_off_during_handshake),
		TT(tls_set_ca_errors_keep_the_certificates_before),
	};

	/* The test's TLS server writes with mbedTLS's plain write(): a client gone is EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, tls_group_setup, tls_group_teardown);
}
