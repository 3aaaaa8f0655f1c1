/* bench/tls_ram.c - the heap one HTTPS download through the POSIX net port really uses.
 *
 *   tls_ram HOST PORT PATH CA_FILE MFL [system]
 *
 * Debian's mbedTLS is built without MBEDTLS_PLATFORM_MEMORY, so the allocations are
 * counted by wrapping malloc, calloc and free at link time (-Wl,--wrap=...) around this
 * program, net_posix.c (included here, as the unit test does) and the static mbedTLS
 * libraries: every byte mbedTLS and the port ask for, nothing of glibc's own. The port's
 * MFL (fota_posix_net.tls_mfl) is set to MFL (0: none). It connects to HOST:PORT with
 * TLS, GETs PATH through a 1 KiB buffer as the agent does, and prints one line of
 * key=value pairs, in bytes:
 *
 *   conf        the port's TLS state: entropy, CTR-DRBG, the SSL configuration
 *   ca          the CA certificates of CA_FILE, parsed ("system": the system's bundle,
 *               and only conf and ca are measured: no connection)
 *   hs_peak     the highest heap of the connection during the handshake (above conf+ca;
 *               a connection made again with a bigger MFL included)
 *   session     what the connection holds once the handshake is over
 *   xfer_peak   the highest heap of the connection during the download
 *   in_buf, out_buf   the two biggest blocks of the session: mbedTLS's record buffers
 *   mfl_used    the max fragment length the connection asked for in the end (0: none;
 *               more than MFL when the server's certificate chain did not fit)
 *   body        bytes received (headers and body)
 *   left        heap still held after close and fota_posix_net_free (0: nothing leaked)
 *
 * bench/tls_ram.py builds it, starts nginx with TLS and prints the table. */
#include "../src/port/posix/net_posix.c"

#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define HDR 16 /* room before each block for its size; keeps the 16-byte alignment */

static size_t heap_now, heap_peak, big[2];
static bool tracking_big;

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void __wrap_free(void *p);

static void *note(unsigned char *p, size_t n)
{
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	heap_now += n;
	if (heap_now > heap_peak)
		heap_peak = heap_now;
	if (tracking_big) {
		if (n > big[0]) {
			big[1] = big[0];
			big[0] = n;
		} else if (n > big[1]) {
			big[1] = n;
		}
	}
	return p + HDR;
}

void *__wrap_malloc(size_t n)
{
	if (n > SIZE_MAX - HDR)
		return NULL;
	return note(__real_malloc(n + HDR), n);
}

void *__wrap_calloc(size_t k, size_t n)
{
	if (n && k > (SIZE_MAX - HDR) / n)
		return NULL;
	return note(__real_calloc(1, k * n + HDR), k * n);
}

void __wrap_free(void *p)
{
	unsigned char *b = p;
	size_t n;

	if (!b)
		return;
	b -= HDR;
	memcpy(&n, b, sizeof(n));
	heap_now -= n;
	__real_free(b);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wait_io(struct fota_posix_net *n)
{
	struct pollfd fds[FOTA_POSIX_NET_POLLFDS];
	int k = fota_posix_net_pollfd(n, fds, FOTA_POSIX_NET_POLLFDS);

	if (k > 0)
		poll(fds, (nfds_t)k, 100);
}

int main(int argc, char **argv)
{
	static struct fota_posix_net n;
	struct fota_net *p = &n.port;
	char req[512], buf[1024];
	size_t base, conf, ca, hs_peak, session, xfer_peak, body = 0;
	unsigned mfl_used;
	mbedtls_x509_crt chain;
	int h, r, len, off = 0;
	int64_t end = now_ms() + 30000;
	bool sys;

	if (argc < 6) {
		fprintf(stderr, "usage: tls_ram HOST PORT PATH CA_FILE MFL [system]\n");
		return 2;
	}
	sys = argc > 6 && !strcmp(argv[6], "system");
	if (fota_posix_net_init(&n))
		return 1;
	n.tls_mfl = (unsigned)atoi(argv[5]);

	/* The CA certificates alone, parsed as the port parses them. */
	base = heap_now;
	mbedtls_x509_crt_init(&chain);
	mbedtls_x509_crt_parse_file(&chain, sys ? FOTA_POSIX_TLS_CA_BUNDLE : argv[4]);
	ca = heap_now - base;
	mbedtls_x509_crt_free(&chain);

	base = heap_now;
	if (fota_posix_net_set_ca(&n, sys ? NULL : argv[4])) {
		fprintf(stderr, "tls_ram: cannot load the CA certificates\n");
		return 1;
	}
	conf = heap_now - base - ca;
	if (sys) { /* the bundle's cost only: the bench's servers are not in it */
		fota_posix_net_free(&n);
		printf("conf=%zu ca=%zu left=%zu\n", conf, ca, heap_now);
		return heap_now ? 1 : 0;
	}

	base = heap_now;
	heap_peak = heap_now;
	tracking_big = true;
	h = p->open(p->ctx, argv[1], strlen(argv[1]), (uint16_t)atoi(argv[2]), true);
	if (h < 0)
		return 1;
	while ((r = p->ready(p->ctx, h)) == FOTA_ERR_AGAIN && now_ms() < end)
		wait_io(&n);
	if (r) {
		fprintf(stderr, "tls_ram: connect: %s (mbedTLS -0x%04x, verify 0x%x)\n",
			fota_strerror(r), (unsigned)-n.tls_error, (unsigned)n.tls_verify);
		return 1;
	}
	tracking_big = false;
	hs_peak = heap_peak - base;
	session = heap_now - base;
	mfl_used = n.conn[h % FOTA_POSIX_NET_CONNS].tls->mfl;

	heap_peak = heap_now;
	len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
		       argv[3], argv[1]);
	while (off < len && now_ms() < end) {
		r = p->send(p->ctx, h, req + off, (size_t)(len - off));
		if (r < 0)
			return 1;
		off += r;
		if (!r)
			wait_io(&n);
	}
	while (now_ms() < end) {
		r = p->recv(p->ctx, h, buf, sizeof(buf));
		if (r == FOTA_ERR_AGAIN) {
			wait_io(&n);
			continue;
		}
		if (r <= 0)
			break;
		body += (size_t)r;
	}
	xfer_peak = heap_peak - base;
	p->close(p->ctx, h);
	fota_posix_net_free(&n);

	printf("mfl=%u conf=%zu ca=%zu hs_peak=%zu session=%zu xfer_peak=%zu in_buf=%zu "
	       "out_buf=%zu mfl_used=%u body=%zu left=%zu\n", (unsigned)atoi(argv[5]), conf, ca,
	       hs_peak, session, xfer_peak, big[0], big[1], mfl_used, body, heap_now);
	return heap_now ? 1 : 0;
}
