/*
 * fota-server - the upgrade server: the vendor's device API (/api/site/firmware_upgrade),
 * an admin API, SQLite storage, firmware files sent with sendfile(2). docs/server-api.md
 * is its contract, docs/server.md its design.
 *
 * Exit status: 0 after SIGTERM or SIGINT (requests under way finished), 1 when the server
 * fails to start or run, 2 for a wrong option or an unusable data folder or database.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <mbedtls/sha256.h>

#include "log.h"
#include "server.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fota-server [--listen [HOST:]PORT] [--data DIR] [--db URL]\n"
		"                   [--admin-token TOKEN] [--max-firmware BYTES]\n"
		"                   [--trust-proxy CIDR[,CIDR...]]...\n"
		"\n"
		"The openfota upgrade server: modules ask it for firmware exactly as they ask the\n"
		"vendor's (GET /api/site/firmware_upgrade); operators manage projects, firmware and\n"
		"devices through the admin API under /api/v1 (docs/server-api.md).\n"
		"\n"
		"  --listen [HOST:]PORT  where to listen (default %s); HOST is a name, an IPv4\n"
		"                        address or an IPv6 address in brackets ([::1]:8080);\n"
		"                        PORT 0 takes a free port (the log says which)\n"
		"  --data DIR            the data folder, created if missing (default %s):\n"
		"                        the database and firmware/<sha256>.fota\n"
		"  --db URL              the storage (default sqlite:DIR/fota.db); sqlite:PATH now,\n"
		"                        postgresql://... later\n"
		"  --admin-token TOKEN   the admin API's bearer token (default: the environment's\n"
		"                        FOTA_ADMIN_TOKEN, which keeps it out of `ps`); without one\n"
		"                        the admin API answers 503\n"
		"  --max-firmware BYTES  the largest firmware upload (default %u; larger: 413)\n"
		"  --trust-proxy CIDR[,CIDR...]\n"
		"                        the reverse proxies (nginx): addresses or ranges such as\n"
		"                        127.0.0.1, 10.0.0.0/8, ::1/128 (repeatable, up to %d in\n"
		"                        all). Only from a peer in one of them are X-Forwarded-For\n"
		"                        and X-Forwarded-Proto believed: the client is then the\n"
		"                        right-most X-Forwarded-For address not in a range, for the\n"
		"                        access log and the limit on failed admin logins\n"
		"  -h, --help            this text\n"
		"\n"
		"It logs to standard error: one access-log line per request,\n"
		"ADDR \"METHOD PATH\" STATUS BYTES MS, and \"fota-server: ...\" lines. SIGTERM or\n"
		"SIGINT: it stops accepting, finishes the requests under way (a second signal cuts\n"
		"that short) and exits 0. Exit status 2: a wrong option or an unusable data folder.\n",
		FOTA_SRV_DEFAULT_LISTEN, FOTA_SRV_DEFAULT_DATA, FOTA_SRV_DEFAULT_MAX_FIRMWARE,
		FOTA_SRV_TRUST_MAX);
}

static void set_token(struct fota_srv *srv, const char *token)
{
	mbedtls_sha256_ret((const unsigned char *)token, strlen(token), srv->token_sha, 0);
	srv->have_token = true;
}

/* Reads the options into srv. Returns 0, or -1 after saying why. */
static int parse_args(struct fota_srv *srv, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "data", required_argument, NULL, 'd' },
		{ "db", required_argument, NULL, 'b' },
		{ "admin-token", required_argument, NULL, 't' },
		{ "max-firmware", required_argument, NULL, 'm' },
		{ "trust-proxy", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = FOTA_SRV_DEFAULT_LISTEN, *data = FOTA_SRV_DEFAULT_DATA, *db = NULL;
	char *env = getenv("FOTA_ADMIN_TOKEN");
	unsigned long long v;
	size_t bad = 0;
	char *end;
	int c, n;

	srv->max_firmware = FOTA_SRV_DEFAULT_MAX_FIRMWARE;
	if (env && *env) {
		set_token(srv, env);
		/* Kept as a hash only: the text goes from the environment (/proc/PID/environ). */
		memset(env, 'x', strlen(env));
		unsetenv("FOTA_ADMIN_TOKEN");
	}
	opterr = 0; /* one line of our own for a wrong option */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'd':
			data = optarg;
			break;
		case 'b':
			db = optarg;
			break;
		case 't':
			if (!*optarg) {
				fota_srv_log("--admin-token: empty");
				return -1;
			}
			set_token(srv, optarg);
			/* The token is kept as a hash only; the copy in argv goes too, so `ps`
			 * stops showing it (it was visible until now: prefer the environment). */
			memset(optarg, 'x', strlen(optarg));
			break;
		case 'm':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || v < FOTA_IMAGE_HDR_SIZE || v > UINT32_MAX) {
				fota_srv_log("--max-firmware: bytes from %u to %u, got '%s'",
					     FOTA_IMAGE_HDR_SIZE, UINT32_MAX, optarg);
				return -1;
			}
			srv->max_firmware = v;
			break;
		case 'p':
			switch (fota_srv_cidr_list_parse(optarg, srv->trust, FOTA_SRV_TRUST_MAX,
							 &srv->ntrust, &bad)) {
			case FOTA_OK:
				break;
			case FOTA_ERR_NOMEM:
				fota_srv_log("--trust-proxy: at most %d ranges in all", FOTA_SRV_TRUST_MAX);
				return -1;
			default:
				fota_srv_log("--trust-proxy: expected ADDR[/BITS][,ADDR[/BITS]...] (IPv4 "
					     "or IPv6), got '%s' (at byte %zu)", optarg, bad + 1);
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			fota_srv_log("%s needs a value (try --help)", argv[optind - 1]);
			return -1;
		default:
			fota_srv_log("unknown option '%s' (try --help)", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fota_srv_log("unexpected argument '%s' (try --help)", argv[optind]);
		return -1;
	}
	if (fota_srv_parse_listen(listen, srv->host, sizeof(srv->host), &srv->port)) {
		fota_srv_log("--listen: expected [HOST:]PORT (IPv6 in brackets), got '%s'", listen);
		return -1;
	}
	n = snprintf(srv->data_dir, sizeof(srv->data_dir), "%s", data);
	if (!*data || n < 0 || (size_t)n >= sizeof(srv->data_dir)) {
		fota_srv_log("--data: empty or too long");
		return -1;
	}
	snprintf(srv->fw_dir, sizeof(srv->fw_dir), "%s/firmware", srv->data_dir);
	if (db) {
		n = snprintf(srv->db_url, sizeof(srv->db_url), "%s", db);
		if (n < 0 || (size_t)n >= sizeof(srv->db_url)) {
			fota_srv_log("--db: too long");
			return -1;
		}
	} else {
		snprintf(srv->db_url, sizeof(srv->db_url), "sqlite:%s/fota.db", srv->data_dir);
	}
	if (strncmp(srv->db_url, "sqlite:", 7) || !srv->db_url[7]) {
		fota_srv_log("--db: %s", strncmp(srv->db_url, "postgresql:", 11) ?
			     "expected sqlite:PATH" : "PostgreSQL is not supported yet; use sqlite:PATH");
		return -1;
	}
	return 0;
}

/* The data folder: made if missing, a writable folder, its firmware folder cleaned.
 * Returns 0, or -1 after saying why. */
static int open_data(struct fota_srv *srv)
{
	struct fota_store *s = NULL;
	struct stat st;
	char probe[PATH_MAX];
	int fd, err;

	if (mkdir(srv->data_dir, 0755) < 0 && errno != EEXIST) {
		fota_srv_log("--data %s: %s", srv->data_dir, strerror(errno));
		return -1;
	}
	if (stat(srv->data_dir, &st) < 0) {
		fota_srv_log("--data %s: %s", srv->data_dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fota_srv_log("--data %s: not a folder", srv->data_dir);
		return -1;
	}
	err = fota_store_open(srv->db_url, &s);
	if (err) {
		fota_srv_log("--db %s: cannot open (%s)", srv->db_url, fota_strerror(err));
		return -1;
	}
	err = fota_srv_files_init(srv, s);
	if (err) {
		fota_store_close(s);
		return -1;
	}
	snprintf(probe, sizeof(probe), "%s/.tmp-XXXXXX", srv->fw_dir);
	fd = mkostemp(probe, O_CLOEXEC);
	if (fd < 0) {
		fota_srv_log("--data %s: cannot write in %s: %s", srv->data_dir, srv->fw_dir,
			     strerror(errno));
		fota_store_close(s);
		return -1;
	}
	close(fd);
	unlink(probe);
	fota_srv_store_put(srv, s);
	return 0;
}

static unsigned worker_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 2)
		return 2;
	return n > FOTA_SRV_THREADS_MAX ? FOTA_SRV_THREADS_MAX : (unsigned)n;
}

/* Waits for SIGTERM or SIGINT, then for the requests under way (a second signal, or
 * FOTA_SRV_DRAIN_MS, ends the wait). */
static void wait_for_stop(struct fota_srv *srv, const sigset_t *set)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	unsigned waited = 0;
	int sig = 0;

	while (sigwait(set, &sig) != 0)
		;
	fota_srv_quiesce(srv);
	fota_srv_log("signal %d: stopping; %u request(s) under way", sig, atomic_load(&srv->active));
	while (atomic_load(&srv->active) > 0) {
		if (waited >= FOTA_SRV_DRAIN_MS) {
			fota_srv_log("requests still under way after %u s: closing them",
				     FOTA_SRV_DRAIN_MS / 1000);
			return;
		}
		sig = sigtimedwait(set, NULL, &tick);
		if (sig > 0) {
			fota_srv_log("signal %d again: closing the requests under way", sig);
			return;
		}
		waited += 20;
	}
}

int main(int argc, char **argv)
{
	static struct fota_srv srv;
	sigset_t set;
	int rc = 2;

	if (fota_srv_init(&srv)) {
		fota_srv_log("out of memory");
		return 1;
	}
	if (parse_args(&srv, argc, argv) < 0)
		goto out;
	srv.threads = worker_threads();
	if (open_data(&srv) < 0)
		goto out;

	/* Every thread started from here blocks these: only sigwait sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	json_object_seed(0); /* before the threads: jansson's hash seed, once */

	rc = 1;
	if (fota_srv_start(&srv))
		goto out_stop;
	fota_srv_log("listening on %s%s%s:%u (%u workers, epoll); data %s, db %s; admin API %s",
		     strchr(srv.host, ':') ? "[" : "", srv.host, strchr(srv.host, ':') ? "]" : "",
		     srv.bound_port, srv.threads, srv.data_dir, srv.db_url,
		     srv.have_token ? "on" : "off (no token)");
	if (srv.ntrust) {
		char list[FOTA_SRV_TRUST_MAX * (FOTA_SRV_IP_TEXT + 5)], ip[FOTA_SRV_IP_TEXT];
		size_t n = 0;

		list[0] = '\0';
		for (size_t i = 0; i < srv.ntrust && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s/%u", i ? ", " : "",
					      fota_srv_ip_text(&srv.trust[i].ip, ip, sizeof(ip)),
					      srv.trust[i].bits);
		fota_srv_log("trusted proxies (X-Forwarded-For): %s", list);
	}
	wait_for_stop(&srv, &set);
	rc = 0;
out_stop:
	fota_srv_stop(&srv);
	if (rc == 0)
		fota_srv_log("stopped");
out:
	fota_srv_free(&srv);
	return rc;
}
