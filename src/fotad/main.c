/*
 * fotad - the emulated cellular module: libfota on Linux, its AT port on a pseudo-
 * terminal, a TCP socket or stdio, its flash in a file of the state folder.
 *
 * The same state folder again is the same module after a power cycle; kill -9 is a
 * power cut (the flash file is mapped shared, so what was written stays written).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/x509_crt.h>

#include "fota/agent.h"
#include "fota/boot.h"
#include "fota/module.h"
#include "fota/posix_crypto.h"
#include "fota/posix_net.h"
#include "fota/simflash.h"
#include "fota/stage.h"

#define SECTOR_SIZE 4096u
#define DEFAULT_FLASH (4u << 20)
#define DEFAULT_NAME "AirM2M_780E_LTE_AT"
#define DEFAULT_VERSION "AirM2M_780E_V1121_LTE_AT"
#define FACTORY_PAYLOAD (96u * 1024u)
#define WRITE_TIMEOUT_MS 1000
#define EXIT_POWER_CUT 3 /* --power-cut: the emulated power went off */

enum at_kind { AT_STDIO, AT_PTY, AT_TCP };

struct fotad {
	/* options */
	const char *state_dir;
	enum at_kind at_kind;
	const char *at_arg;     /* pty link path, or [host:]port */
	const char *imei_opt;
	const char *version;
	const char *factory;    /* image for a new module's running slot */
	const char *stage;      /* image to stage as if downloaded (test aid) */
	uint32_t flash_size;
	uint32_t cut_at;        /* --power-cut N: power goes off before flash operation N */
	bool cut_torn;
	const char *server;     /* KEY mode's server */
	const char *pubkey;     /* --pubkey: images must be signed by this key */
	const char *ca;         /* --ca: the CA certificates of https (NULL: the system's) */
	uint32_t clock_rate;    /* the schedule runs this many times faster */
	uint32_t net_timeout;   /* ms: connect and idle timeouts (0: the core's defaults) */

	/* the emulated hardware and firmware */
	struct fota_simflash sf;
	struct fota_boot_cfg boot;
	struct fota_posix_sha256 sha;
	struct fota_posix_sig sig;  /* the provisioned public key (with --pubkey) */
	struct fota_module mod;
	struct fota_posix_net net;
	struct fota_agent agent;
	bool reboot;            /* the agent staged an image: reset when it returns */
	struct fota_module_info info;
	struct fota_image_info running; /* the header of the image in the running slot */
	char imei[16];

	/* the AT port */
	int in_fd, out_fd;      /* stdio, or the pty master twice, or the TCP client */
	int pty_slave;          /* kept open so the master never sees a hang-up */
	int listen_fd;
	char link_path[PATH_MAX];
};

static volatile sig_atomic_t stop_signal;
static const char default_version[] = DEFAULT_VERSION;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void logmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("fotad: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fotad --state DIR [options]\n"
		"\n"
		"An emulated Luat-style cellular module with AT+UPGRADE, built on libfota.\n"
		"\n"
		"  --state DIR        the module's state folder (created if missing): its flash is\n"
		"                     DIR/flash.bin. A new folder is a new module with factory\n"
		"                     settings; the same folder again is the same module after a\n"
		"                     power cycle (kill -9 is a power cut).\n"
		"  --at stdio         AT port on standard input/output (the default)\n"
		"  --at pty:PATH      AT port on a new pseudo-terminal; PATH becomes a symbolic link\n"
		"                     to it, for picocom, minicom, pyserial or chat\n"
		"  --at tcp:[HOST:]PORT\n"
		"                     AT port on a TCP socket (HOST defaults to 127.0.0.1); one\n"
		"                     client at a time, like a serial line\n"
		"  --imei 15DIGITS    the module's IMEI (default: one made up on first boot, then\n"
		"                     kept in the module's NV)\n"
		"  --factory IMAGE    a new module's firmware: IMAGE (made by `fota pack`) is\n"
		"                     written to its running slot. Without it a new module runs a\n"
		"                     built-in image named %s, version --version\n"
		"  --version STRING   the built-in factory image's version (default %s)\n"
		"  --flash-size BYTES size of the emulated flash, a multiple of 4096 (default 4 MiB)\n"
		"  --server URL       the FOTA server of KEY mode, http[s]://host[:port] (default\n"
		"                     %s, as on a real module)\n"
		"  --pubkey FILE      provision the module with this ECDSA P-256 public key (PEM):\n"
		"                     from then on it installs only images signed by its private key\n"
		"                     (fota pack --key, fota sign); others end in -1003\n"
		"  --ca FILE          the CA certificates (PEM) https servers are verified against\n"
		"                     (default: the system's, %s)\n"
		"  --clock-rate N     the module's schedule runs N times faster: PERIOD 86400 passes\n"
		"                     in 86400/N seconds (network timeouts stay real)\n"
		"  --net-timeout MS   connect and idle timeout of downloads (default 30000)\n"
		"\n"
		"Test aids (emulator only):\n"
		"  --stage IMAGE      once booted, write IMAGE to the staging slot as if a download had\n"
		"                     just finished, and reboot to install it\n"
		"  --power-cut N[,torn]\n"
		"                     cut the power before flash operation N (1-based, counted from\n"
		"                     start; torn: that operation is half done); fotad then exits\n"
		"                     with status 3, and the same --state boots on from there\n"
		"  -h, --help         this text\n"
		"\n"
		"fotad logs to standard error; it says \"ready\" there, and RDY on the AT port, when\n"
		"it accepts commands. SIGINT or SIGTERM ends it cleanly.\n",
		DEFAULT_NAME, DEFAULT_VERSION, FOTA_DEFAULT_SERVER, FOTA_POSIX_TLS_CA_BUNDLE);
}

static int parse_args(struct fotad *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "at", required_argument, NULL, 'a' },
		{ "imei", required_argument, NULL, 'i' },
		{ "version", required_argument, NULL, 'v' },
		{ "flash-size", required_argument, NULL, 'f' },
		{ "factory", required_argument, NULL, 'F' },
		{ "stage", required_argument, NULL, 'S' },
		{ "power-cut", required_argument, NULL, 'P' },
		{ "server", required_argument, NULL, 'R' },
		{ "pubkey", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'A' },
		{ "clock-rate", required_argument, NULL, 'C' },
		{ "net-timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	unsigned long v;
	int c;

	d->at_kind = AT_STDIO;
	d->version = default_version;
	d->flash_size = DEFAULT_FLASH;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			d->state_dir = optarg;
			break;
		case 'a':
			if (!strcmp(optarg, "stdio")) {
				d->at_kind = AT_STDIO;
			} else if (!strncmp(optarg, "pty:", 4) && optarg[4]) {
				d->at_kind = AT_PTY;
				d->at_arg = optarg + 4;
			} else if (!strncmp(optarg, "tcp:", 4) && optarg[4]) {
				d->at_kind = AT_TCP;
				d->at_arg = optarg + 4;
			} else {
				logmsg("--at: expected stdio, pty:PATH or tcp:[HOST:]PORT, got '%s'", optarg);
				return -1;
			}
			break;
		case 'i':
			if (strlen(optarg) != 15 || strspn(optarg, "0123456789") != 15) {
				logmsg("--imei: expected 15 digits, got '%s'", optarg);
				return -1;
			}
			d->imei_opt = optarg;
			break;
		case 'v':
			if (fota_image_check_text(optarg, FOTA_IMAGE_VERSION_SIZE)) {
				logmsg("--version: 1 to %d printable characters without space, quote "
				       "or backslash", FOTA_VERSION_MAX);
				return -1;
			}
			d->version = optarg;
			break;
		case 'F':
			d->factory = optarg;
			break;
		case 'S':
			d->stage = optarg;
			break;
		case 'P':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || v == 0 || v > UINT32_MAX || (*end && strcmp(end, ",torn"))) {
				logmsg("--power-cut: expected N or N,torn with N >= 1, got '%s'", optarg);
				return -1;
			}
			d->cut_at = (uint32_t)v;
			d->cut_torn = *end != '\0';
			break;
		case 'f':
			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno || *end || v < 16 * SECTOR_SIZE || v % SECTOR_SIZE || v > (1ul << 30)) {
				logmsg("--flash-size: a multiple of 4096 from 64 KiB to 1 GiB, got '%s'", optarg);
				return -1;
			}
			d->flash_size = (uint32_t)v;
			break;
		case 'R': {
			struct fota_url u;

			if (fota_url_parse(optarg, strlen(optarg), &u)) {
				logmsg("--server: expected http[s]://host[:port], got '%s'", optarg);
				return -1;
			}
			d->server = optarg;
			break;
		}
		case 'K':
			d->pubkey = optarg;
			break;
		case 'A':
			d->ca = optarg;
			break;
		case 'C':
		case 'T':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v == 0 || v > 100000000ul) {
				logmsg("--%s: expected a whole number from 1, got '%s'",
				       c == 'C' ? "clock-rate" : "net-timeout", optarg);
				return -1;
			}
			if (c == 'C')
				d->clock_rate = (uint32_t)v;
			else
				d->net_timeout = (uint32_t)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			logmsg("try --help");
			return -1;
		}
	}
	if (optind < argc) {
		logmsg("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (!d->state_dir) {
		logmsg("--state DIR is required (try --help)");
		return -1;
	}
	return 0;
}

/* ---- the AT port -------------------------------------------------------------------- */

/* Writes everything, waiting for a slow reader up to WRITE_TIMEOUT_MS; what a reader
 * that never reads would block is dropped, as on a serial line with nobody listening. */
static void port_write(void *ctx, const char *data, size_t len)
{
	struct fotad *d = ctx;

	while (len && d->out_fd >= 0) {
		ssize_t n = write(d->out_fd, data, len);

		if (n > 0) {
			data += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd p = { .fd = d->out_fd, .events = POLLOUT };

			if (poll(&p, 1, WRITE_TIMEOUT_MS) == 0) {
				logmsg("AT port: nobody reads; %zu bytes dropped", len);
				return;
			}
		} else {
			return; /* the reader went away (EIO, EPIPE): the bytes are lost */
		}
	}
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int open_pty(struct fotad *d)
{
	struct termios t;
	struct stat st;
	const char *name;
	int m;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || !(name = ptsname(m))) {
		logmsg("pty: %s", strerror(errno));
		return -1;
	}
	/* Raw mode on the slave side, so the line discipline neither echoes nor edits:
	 * the module does that itself, as a real one does on its UART. */
	d->pty_slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (d->pty_slave < 0 || tcgetattr(d->pty_slave, &t) < 0) {
		logmsg("pty %s: %s", name, strerror(errno));
		return -1;
	}
	cfmakeraw(&t);
	cfsetspeed(&t, B115200);
	tcsetattr(d->pty_slave, TCSANOW, &t);
	set_nonblock(m);
	if (lstat(d->at_arg, &st) == 0) {
		if (!S_ISLNK(st.st_mode)) {
			logmsg("pty:%s exists and is not a symbolic link; not replacing it", d->at_arg);
			return -1;
		}
		unlink(d->at_arg);
	}
	if (symlink(name, d->at_arg) < 0) {
		logmsg("pty: link %s -> %s: %s", d->at_arg, name, strerror(errno));
		return -1;
	}
	snprintf(d->link_path, sizeof(d->link_path), "%s", d->at_arg);
	d->in_fd = d->out_fd = m;
	logmsg("AT port on %s (link %s)", name, d->at_arg);
	return 0;
}

static int open_tcp(struct fotad *d)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char host[256] = "127.0.0.1";
	const char *port = d->at_arg, *colon = strrchr(d->at_arg, ':');
	int fd = -1, one = 1, err;

	if (colon) {
		size_t n = (size_t)(colon - d->at_arg);

		if (n >= sizeof(host)) {
			logmsg("tcp: host name too long");
			return -1;
		}
		memcpy(host, d->at_arg, n);
		host[n] = '\0';
		if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
			memmove(host, host + 1, n - 2);
			host[n - 2] = '\0';
		}
		port = colon + 1;
	}
	hints.ai_flags = AI_PASSIVE;
	err = getaddrinfo(host, port, &hints, &ai);
	if (err) {
		logmsg("tcp:%s: %s", d->at_arg, gai_strerror(err));
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0) {
		logmsg("tcp:%s: %s", d->at_arg, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	d->listen_fd = fd;
	logmsg("AT port on tcp %s:%s", host, port);
	return 0;
}

static int open_at_port(struct fotad *d)
{
	d->in_fd = d->out_fd = d->pty_slave = d->listen_fd = -1;
	switch (d->at_kind) {
	case AT_PTY:
		return open_pty(d);
	case AT_TCP:
		return open_tcp(d);
	default:
		d->in_fd = STDIN_FILENO;
		d->out_fd = STDOUT_FILENO;
		return 0;
	}
}

static void close_at_port(struct fotad *d)
{
	if (d->link_path[0])
		unlink(d->link_path);
	if (d->at_kind == AT_TCP && d->in_fd >= 0)
		close(d->in_fd);
	if (d->at_kind == AT_PTY) {
		close(d->in_fd);
		close(d->pty_slave);
	}
	if (d->listen_fd >= 0)
		close(d->listen_fd);
}

/* ---- the module --------------------------------------------------------------------- */

/* A made-up IMEI: TAC 86xxxxxx, a random serial, and the Luhn check digit. */
static void make_imei(char out[16])
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() << 16;
	int sum = 0;

	out[0] = '8';
	out[1] = '6';
	for (int i = 2; i < 14; i++)
		out[i] = (char)('0' + rand_r(&seed) % 10);
	for (int i = 0; i < 14; i++) {
		int v = out[i] - '0';

		if (i % 2) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	out[14] = (char)('0' + (10 - sum % 10) % 10);
	out[15] = '\0';
}

/* The module's identity lives in its NV like a real module's calibration data. */
static int load_identity(struct fotad *d)
{
	size_t len = 0;
	int err = fota_nv_read(&d->mod.nv, FOTA_NV_DEVICE, d->imei, 15, &len);

	if (err == FOTA_OK && len == 15 && strspn(d->imei, "0123456789") >= 15 && !d->imei_opt)
		return 0;
	if (d->imei_opt)
		memcpy(d->imei, d->imei_opt, 16);
	else
		make_imei(d->imei);
	d->imei[15] = '\0';
	err = fota_nv_write(&d->mod.nv, FOTA_NV_DEVICE, d->imei, 15);
	if (err) {
		logmsg("NV: cannot store the IMEI: %s", fota_strerror(err));
		return -1;
	}
	return 0;
}

/* ---- the emulated firmware and its boot code ----------------------------------------------- */

/* Power went off (--power-cut): stop at once, as the hardware would; the flash file keeps
 * what was written. */
static void check_power(struct fotad *d)
{
	if (!d->sf.dead)
		return;
	logmsg("power cut before flash operation %u", d->cut_at);
	close_at_port(d);
	fota_simflash_close(&d->sf);
	exit(EXIT_POWER_CUT);
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	*buf = NULL;
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto fail;
	*buf = malloc(n ? (size_t)n : 1);
	if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n)
		goto fail;
	*len = (size_t)n;
	fclose(f);
	return 0;
fail:
	logmsg("%s: %s", path, errno ? strerror(errno) : "read failed");
	free(*buf);
	*buf = NULL;
	if (f)
		fclose(f);
	return -1;
}

/* The image a new module leaves the factory with: --factory IMAGE, or a built-in one
 * whose payload is a fixed pseudo-random pattern. The caller frees *img. */
static int factory_image(struct fotad *d, uint8_t **img, size_t *len)
{
	struct fota_image_info info = { .name = DEFAULT_NAME };
	uint8_t hdr[FOTA_IMAGE_HDR_SIZE], trailer[FOTA_IMAGE_TRAILER_SHA256];
	uint32_t x = 0x2545F491u;
	int err;

	if (d->factory)
		return read_file(d->factory, img, len);
	snprintf(info.version, sizeof(info.version), "%s", d->version);
	*len = sizeof(hdr) + FACTORY_PAYLOAD + sizeof(trailer);
	*img = malloc(*len);
	if (!*img)
		return -1;
	for (size_t i = 0; i < FACTORY_PAYLOAD; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		(*img)[sizeof(hdr) + i] = (uint8_t)x;
	}
	err = fota_posix_image_frame(&info, *img + sizeof(hdr), FACTORY_PAYLOAD, hdr, trailer);
	if (err) {
		free(*img);
		return -1;
	}
	memcpy(*img, hdr, sizeof(hdr));
	memcpy(*img + sizeof(hdr) + FACTORY_PAYLOAD, trailer, sizeof(trailer));
	return 0;
}

/* The factory programmer: writes a verified image into the running slot of a new module. */
static int flash_factory(struct fotad *d)
{
	const struct fota_flash *f = &d->sf.flash;
	uint32_t run = d->boot.layout.run_addr, slot = d->boot.layout.slot_sectors * f->sector_size;
	struct fota_image_info info;
	uint8_t *img;
	size_t len;
	int err;

	if (factory_image(d, &img, &len) < 0)
		return -1;
	err = len > slot ? FOTA_ERR_FBIG : FOTA_OK;
	for (uint32_t a = 0; !err && a < len; a += f->sector_size)
		err = f->erase(f->ctx, run + a);
	if (!err)
		err = f->prog(f->ctx, run, img, len); /* prog_size is 1 in fotad */
	free(img);
	if (!err)
		err = fota_image_verify_flash(f, run, slot, &d->sha.port, &info);
	check_power(d);
	if (err) {
		logmsg("factory image%s%s: %s", d->factory ? " " : "", d->factory ? d->factory : "",
		       err == FOTA_ERR_FBIG ? "larger than the running slot" : fota_strerror(err));
		return -1;
	}
	logmsg("new module: factory firmware %s %s", info.name, info.version);
	return 0;
}

/* The boot code's check of an image in place. The signature (with --pubkey) is required
 * of the staged image, the one about to be installed; the image in the running slot (the
 * factory's, or one installed from a signed image) is checked for integrity only, so an
 * unsigned factory firmware can still be reverted to. */
static int verify_hook(void *ctx, const struct fota_flash *f, uint32_t addr, uint32_t max_size,
		       uint32_t *image_size, uint32_t *counter)
{
	struct fotad *d = ctx;
	struct fota_image_info info;
	bool staged = addr == d->boot.layout.stage_addr + f->sector_size;
	int err = fota_image_verify_flash_sig(f, addr, max_size, &d->sha.port,
					      staged && d->pubkey ? &d->sig.port : NULL, &info);

	if (!err) {
		*image_size = info.total_size;
		*counter = info.security_counter;
	} else if (staged && err != FOTA_ERR_POWER) {
		logmsg("boot: the staged image is refused: %s", fota_strerror(err));
	}
	return err;
}

/* +UPGRADEDL while the boot code installs: no firmware runs yet, so it goes to the port
 * directly. */
static void progress_hook(void *ctx, unsigned percent)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "\r\n+UPGRADEDL: %u\r\n", percent);

	port_write(ctx, line, (size_t)n);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int upgrade_hook(struct fota_module *m, void *ctx)
{
	struct fotad *d = ctx;

	(void)m;
	return fota_agent_start(&d->agent);
}

static void reboot_hook(void *ctx)
{
	((struct fotad *)ctx)->reboot = true; /* done by the loop once the agent returned */
}

/* The firmware's start: NV, settings, identity; the version it reports is its image's. */
static int start_firmware(struct fotad *d)
{
	struct fota_module_config cfg = {
		.flash = &d->sf.flash,
		.nv_base = d->boot.layout.nv_addr,
		.nv_size = d->boot.layout.nv_size,
		.info = &d->info,
		.write = port_write,
		.write_ctx = d,
		.upgrade = upgrade_hook,
		.upgrade_ctx = d,
		.cmds = fota_module_basic_cmds, /* ATI, AT+CGMR, AT+CGSN, AT+CFUN, AT+CSQ, AT+CREG */
		.ncmds = FOTA_MODULE_BASIC_CMDS,
	};
	struct fota_agent_cfg ac = {
		.module = &d->mod,
		.boot = &d->boot,
		.sha = &d->sha.port,
		.net = &d->net.port,
		.sig = d->pubkey ? &d->sig.port : NULL,
		.security_counter = d->running.security_counter,
		.server = d->server,
		.family = d->running.name,
		.period_scale = d->clock_rate,
		.idle_timeout_ms = d->net_timeout,
		.connect_timeout_ms = d->net_timeout,
		.reboot = reboot_hook,
		.ctx = d,
	};
	int err;

	d->info.manufacturer = "AirM2M";
	d->info.model = "Air780E";
	d->info.version = d->running.version;
	d->info.imei = d->imei;
	err = fota_module_init(&d->mod, &cfg);
	check_power(d);
	if (err) {
		logmsg("NV: mount failed: %s", fota_strerror(err));
		return -1;
	}
	if (load_identity(d) < 0)
		return -1;
	/* A reset ends every connection; the radio comes back on (AT+CFUN is not kept). */
	fota_posix_net_free(&d->net);
	if (fota_posix_net_init(&d->net)) {
		logmsg("network: %s", strerror(errno));
		return -1;
	}
	if (d->ca && fota_posix_net_set_ca(&d->net, d->ca)) {
		logmsg("--ca %s: cannot be loaded any more", d->ca);
		return -1;
	}
	return fota_agent_init(&d->agent, &ac, now_ms()) ? -1 : 0;
}

/* One power-on: the boot code finishes or moves on any update (rebooting as often as it
 * asks), then the firmware in the running slot starts and, when an update attempt ended
 * on the way, tells the host. Returns 0 when the module accepts commands. */
static int power_on(struct fotad *d)
{
	const struct fota_flash *f = &d->sf.flash;
	uint32_t slot = d->boot.layout.slot_sectors * f->sector_size;

	for (;;) {
		struct fota_boot_status bs;
		bool trial = false, ended = false, new_boot = false;
		int result = FOTA_OK, err;

		for (;;) {
			err = fota_boot_run(&d->boot, &bs);
			check_power(d);
			if (err) {
				logmsg("boot: %s; starting the running slot as it is", fota_strerror(err));
				break;
			}
			if (bs.did == FOTA_BOOT_DID_INSTALL) {
				logmsg("boot: new firmware installed; rebooting");
				continue;
			}
			if (bs.did == FOTA_BOOT_DID_REVERT) {
				logmsg("boot: the new firmware never confirmed itself; the old one is "
				       "back; rebooting");
				ended = new_boot = true;
				result = bs.result ? bs.result : FOTA_ERR_VERIFY;
				continue;
			}
			if (bs.did == FOTA_BOOT_DID_REFUSE) {
				logmsg("boot: the staged image failed verification; not installed");
				ended = true;
				result = bs.result ? bs.result : FOTA_ERR_VERIFY;
			}
			trial = bs.did == FOTA_BOOT_DID_TRIAL;
			break;
		}

		err = fota_image_verify_flash(f, d->boot.layout.run_addr, slot, &d->sha.port,
					      &d->running);
		check_power(d);
		if (err) {
			logmsg("no valid firmware in the running slot (%s): the module is bricked",
			       fota_strerror(err));
			return -1;
		}
		if (start_firmware(d) < 0)
			return -1;
		if (trial) {
			if (d->running.flags & FOTA_IMAGE_F_CRASH_ON_BOOT) {
				logmsg("firmware %s crashed before confirming itself (a test image "
				       "packed with --crash-on-boot); rebooting", d->running.version);
				continue;
			}
			err = fota_boot_confirm(&d->boot);
			check_power(d);
			if (err)
				logmsg("boot: confirm failed: %s", fota_strerror(err));
			ended = new_boot = true;
			result = err;
		}
		fota_module_ready(&d->mod);
		logmsg("ready: IMEI %s, firmware %s", d->imei, d->running.version);
		if (ended) {
			fota_module_upgrade_done(&d->mod, result, new_boot);
			check_power(d);
			if (new_boot)
				fota_agent_report(&d->agent);
		}
		return 0;
	}
}

/* --stage: the end of a download, without the network: the image goes through the same
 * staging code (erase ahead, program, hash, verify, mark staged); then the module
 * reboots to install it. A refused image gives the result a download would. */
static void stage_file(struct fotad *d, const char *path)
{
	struct fota_image_parser hp;
	struct fota_stage st;
	struct fota_image_info info;
	uint8_t *img;
	size_t len;
	int err;

	if (read_file(path, &img, &len) < 0)
		return;
	fota_image_hdr_init(&hp);
	err = fota_image_hdr_feed(&hp, img, len, NULL);
	if (!err && strcmp(fota_image_hdr_info(&hp)->name, d->running.name) != 0)
		err = FOTA_ERR_VERIFY; /* another product's firmware */
	if (!err)
		err = fota_stage_begin(&st, &d->boot, &d->sha.port);
	for (size_t off = 0; !err && off < len; off += 1024)
		err = fota_stage_write(&st, img + off, len - off < 1024 ? len - off : 1024);
	if (!err)
		err = fota_stage_finish(&st, &info);
	if (err == FOTA_ERR_AGAIN)
		err = FOTA_ERR_CORRUPT; /* the file ends before the image does */
	free(img);
	check_power(d);
	if (err) {
		struct fota_status s = { .state = 2, .code = (int16_t)fota_upgrade_code(err) };
		char urc[32];

		logmsg("--stage %s: refused: %s", path, fota_strerror(err));
		snprintf(urc, sizeof(urc), "+UPGRADEIND: %d", s.code);
		fota_at_urc(&d->mod.at, urc);
		fota_module_set_status(&d->mod, &s);
		check_power(d);
		return;
	}
	logmsg("staged %s %s (%u bytes); rebooting to install it", info.name, info.version,
	       info.total_size);
	if (power_on(d) < 0)
		exit(1);
}

/* Accepts a TCP client when none is connected; a second one is told and closed. */
static void accept_client(struct fotad *d)
{
	int c = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (c < 0)
		return;
	if (d->in_fd >= 0) {
		static const char busy[] = "\r\nBUSY: the AT port has a client already\r\n";

		if (write(c, busy, sizeof(busy) - 1) < 0)
			logmsg("tcp: refusing a second client: %s", strerror(errno));
		close(c);
		return;
	}
	d->in_fd = d->out_fd = c;
	logmsg("tcp: client connected");
}


/* The event loop: the AT port, the agent's connections and its timers, in one poll(). */
static int run(struct fotad *d)
{
	char buf[4096];
	bool input_done = false;
	int tls_logged = 0;

	while (!stop_signal) {
		struct pollfd p[2 + FOTA_POSIX_NET_POLLFDS];
		nfds_t n = 0;
		int in_idx = -1, listen_idx = -1, wait, k;

		if (d->in_fd >= 0 && !input_done) {
			p[n] = (struct pollfd){ .fd = d->in_fd, .events = POLLIN };
			in_idx = (int)n++;
		}
		if (d->listen_fd >= 0) {
			p[n] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
			listen_idx = (int)n++;
		}
		k = fota_posix_net_pollfd(&d->net, p + n, FOTA_POSIX_NET_POLLFDS);
		n += k > 0 ? (nfds_t)k : 0;
		wait = (int)fota_agent_poll(&d->agent, now_ms());
		check_power(d);
		if (d->net.tls_error != tls_logged) {
			/* Why a TLS connection failed: the agent only sees FOTA_ERR_TLS (-1002). */
			tls_logged = d->net.tls_error;
			if (tls_logged) {
				char why[128], flags[256] = "";

				mbedtls_strerror(tls_logged, why, sizeof(why));
				if (d->net.tls_verify)
					mbedtls_x509_crt_verify_info(flags, sizeof(flags), "; ",
								     d->net.tls_verify);
				logmsg("TLS: %s%s", why, flags);
			}
		}
		if (d->reboot) {
			d->reboot = false;
			logmsg("download complete and verified; rebooting to install it");
			if (power_on(d) < 0)
				return -1;
			continue;
		}
		if (input_done && !fota_agent_busy(&d->agent))
			return 0; /* stdio ended and nothing is under way */
		if (poll(p, n, wait < 1000 ? wait : 1000) < 0) {
			if (errno == EINTR)
				continue;
			logmsg("poll: %s", strerror(errno));
			return -1;
		}
		if (listen_idx >= 0 && (p[listen_idx].revents & POLLIN))
			accept_client(d);
		if (in_idx >= 0 && p[in_idx].revents) {
			ssize_t r = read(d->in_fd, buf, sizeof(buf));

			if (r > 0) {
				fota_module_input(&d->mod, buf, (size_t)r);
				check_power(d);
				fota_posix_net_set_radio(&d->net, d->mod.radio_on);
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				if (d->at_kind == AT_STDIO)
					input_done = true; /* the host is done: finish what runs */
				if (d->at_kind == AT_TCP) {
					close(d->in_fd);
					d->in_fd = d->out_fd = -1;
					logmsg("tcp: client left");
				}
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct fotad d;
	struct sigaction sa = { .sa_handler = on_signal };
	char path[PATH_MAX];
	bool fresh;
	int rc = 1, err;

	if (parse_args(&d, argc, argv) < 0)
		return 2;
	if (mkdir(d.state_dir, 0755) < 0 && errno != EEXIST) {
		logmsg("--state %s: %s", d.state_dir, strerror(errno));
		return 2;
	}
	snprintf(path, sizeof(path), "%s/flash.bin", d.state_dir);
	fresh = access(path, F_OK) != 0;
	err = fota_simflash_open_file(&d.sf, path, d.flash_size, SECTOR_SIZE, 1);
	if (err) {
		logmsg("%s: %s", path, err == FOTA_ERR_INVAL ?
		       "exists with another size (see --flash-size)" : strerror(errno));
		return 2;
	}
	fota_simflash_cut_power(&d.sf, d.cut_at, d.cut_torn ? FOTA_CUT_TORN : FOTA_CUT_CLEAN);
	fota_posix_sha256_init(&d.sha);
	if (d.pubkey) {
		err = fota_posix_sig_load(&d.sig, d.pubkey);
		if (err) {
			logmsg("--pubkey %s: %s", d.pubkey,
			       err == FOTA_ERR_NOENT || err == FOTA_ERR_IO ? strerror(errno) :
			       err == FOTA_ERR_NOTSUP ? "not an ECDSA P-256 key" :
							"no public key in it (PEM expected)");
			d.pubkey = NULL;
			goto out_flash;
		}
	}
	d.boot = (struct fota_boot_cfg){
		.flash = &d.sf.flash,
		.ctx = &d,
		.verify = verify_hook,
		.progress = progress_hook,
	};
	if (fota_layout_default(&d.boot.layout, &d.sf.flash)) {
		logmsg("--flash-size %u: too small for two firmware slots", d.flash_size);
		goto out_flash;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (fota_posix_net_init(&d.net)) {
		logmsg("network: %s", strerror(errno));
		goto out_flash;
	}
	if (d.ca) {
		err = fota_posix_net_set_ca(&d.net, d.ca);
		if (err) {
			logmsg("--ca %s: %s", d.ca, err == FOTA_ERR_NOENT ? strerror(errno) :
			       "no certificate in it (PEM expected)");
			goto out_net;
		}
	}
	if (open_at_port(&d) < 0)
		goto out_net;
	if (!fresh && (d.factory || d.version != default_version))
		logmsg("the module in %s exists: --factory and --version are for new modules; "
		       "ignored", d.state_dir);
	if (fresh && flash_factory(&d) < 0) {
		unlink(path); /* still a new module next time */
		goto out_port;
	}
	if (power_on(&d) < 0)
		goto out_port;
	if (d.stage)
		stage_file(&d, d.stage);
	rc = run(&d) < 0 ? 1 : 0;
	if (stop_signal)
		logmsg("stopped by signal %d", (int)stop_signal);

out_port:
	close_at_port(&d);
out_net:
	fota_posix_net_free(&d.net);
out_flash:
	if (d.pubkey)
		fota_posix_sig_free(&d.sig);
	fota_posix_sha256_free(&d.sha);
	fota_simflash_close(&d.sf);
	return rc;
}
