/*
 * Unit tests of the upgrade agent (AT+UPGRADE's check, download, resume and schedule)
 * against a scripted in-memory HTTP server (fake_server.h): no sockets, simulated time.
 * Each test looks at what a host and an operator can see: AT+UPGRADE? and the URCs, the
 * requests on the wire, the staging slot in flash, and the reboot asked for.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_server.h"
#include "flaky_flash.h"
#include "fota/agent.h"
#include "fota/posix_crypto.h"
#include "fota/simflash.h"

#define SECTOR 4096u
#define FLASH_SIZE (64u * SECTOR)
#define FAMILY "AirM2M_780E_LTE_AT"
#define RUNNING "AirM2M_780E_V1121_LTE_AT"
#define NEWER "AirM2M_780E_V1122_LTE_AT"
#define OLDER "AirM2M_780E_V1120_LTE_AT"
#define IMEI "864000000000008"
#define SERVER "http://fota.test:8080"
#define KEY_PATH "/api/site/firmware_upgrade"
#define FW_URL "http://files.test/fw/air780e.bin"
#define FW_PATH "/fw/air780e.bin"
#define ETAG "\"5f2a-v1122\""
#define ETAG2 "\"61c0-v1123\""
#define DATE "Tue, 01 Jul 2025 08:00:00 GMT"
#define PAYLOAD 60000u /* 1% of the image is more than a recv chunk: every percent is said */
#define T0 5000u       /* the clock at power-on (not 0, so relative and absolute differ) */

struct image {
	uint8_t *p;
	size_t len;
};

static uint8_t mem[FLASH_SIZE];
static struct fota_simflash sf;
static struct fota_posix_sha256 sha, boot_sha;
static struct fota_boot_cfg boot;
static struct fota_module mod;
static struct fota_agent agent;
static struct fota_agent_cfg acfg;
static struct fake_server srv;
static uint64_t now;
static int reboots;
static struct image img, img2;

/* What the host saw: everything since power-on (term) and the last command's answer. */
static char term[1 << 16], answer[4096];
static size_t term_len, answer_len;

static const struct fota_module_info info = {
	.manufacturer = "AirM2M",
	.model = "Air780E",
	.version = RUNNING,
	.imei = IMEI,
};

static void capture(void *ctx, const char *data, size_t len)
{
	(void)ctx;
	assert_true(term_len + len < sizeof(term));
	memcpy(term + term_len, data, len);
	term_len += len;
	term[term_len] = '\0';
	if (answer_len + len < sizeof(answer)) {
		memcpy(answer + answer_len, data, len);
		answer_len += len;
		answer[answer_len] = '\0';
	}
}

static int upgrade_hook(struct fota_module *m, void *ctx)
{
	(void)m;
	(void)ctx;
	return fota_agent_start(&agent);
}

static void reboot_hook(void *ctx)
{
	(void)ctx;
	reboots++;
}

static int verify(void *ctx, const struct fota_flash *f, uint32_t addr, uint32_t max,
		  uint32_t *size, uint32_t *counter)
{
	struct fota_image_info ii;
	int err = fota_image_verify_flash(f, addr, max, ctx, &ii);

	if (!err) {
		*size = ii.total_size;
		*counter = ii.security_counter;
	}
	return err;
}

/* A valid image of payload bytes (their values depend on seed) with security counter
 * counter and a trailer holding the hash only. */
static void make_image_counter(struct image *im, const char *name, const char *version,
			       size_t payload, unsigned seed, uint32_t counter)
{
	struct fota_image_info ii = { 0 };
	uint8_t hdr[FOTA_IMAGE_HDR_SIZE], trailer[FOTA_IMAGE_TRAILER_SHA256];

	snprintf(ii.name, sizeof(ii.name), "%s", name);
	snprintf(ii.version, sizeof(ii.version), "%s", version);
	ii.security_counter = counter;
	free(im->p);
	im->len = sizeof(hdr) + payload + sizeof(trailer);
	im->p = malloc(im->len);
	assert_non_null(im->p);
	for (size_t i = 0; i < payload; i++)
		im->p[sizeof(hdr) + i] = (uint8_t)(i * 7 + (i >> 8) + seed * 31);
	assert_int_equal(fota_posix_image_frame(&ii, im->p + sizeof(hdr), payload, hdr, trailer), 0);
	memcpy(im->p, hdr, sizeof(hdr));
	memcpy(im->p + sizeof(hdr) + payload, trailer, sizeof(trailer));
}

/* A valid image of payload bytes (their values depend on seed), counter 0. */
static void make_image(struct image *im, const char *name, const char *version, size_t payload,
		       unsigned seed)
{
	make_image_counter(im, name, version, payload, seed, 0);
}

/* ---- the module, the agent and the host ------------------------------------------------ */

/* Sends one command line; returns its answer (and the URCs said meanwhile). */
static const char *at(const char *line)
{
	srv.now = now;
	answer_len = 0;
	answer[0] = '\0';
	fota_module_input(&mod, line, strlen(line));
	fota_module_input(&mod, "\r", 1);
	return answer;
}

static void at_ok(const char *line)
{
	assert_string_equal(at(line), "\r\nOK\r\n");
}

/* Power-on: the module and the agent start from what the flash holds. */
static void power_on(void)
{
	struct fota_module_config mc = {
		.flash = &sf.flash,
		.nv_base = boot.layout.nv_addr,
		.nv_size = boot.layout.nv_size,
		.info = &info,
		.write = capture,
		.upgrade = upgrade_hook,
		.cmds = fota_module_basic_cmds, /* AT+CFUN, as fotad gives it */
		.ncmds = FOTA_MODULE_BASIC_CMDS,
	};

	assert_int_equal(fota_module_init(&mod, &mc), FOTA_OK);
	assert_int_equal(fota_agent_init(&agent, &acfg, now), FOTA_OK);
	assert_string_equal(at("ATE0"), "ATE0\r\r\nOK\r\n");
	term_len = 0;
	term[0] = '\0';
}

/* A new module on a blank flash with prog_size program units; the server forgets all. */
static void fresh(uint32_t prog_size)
{
	fota_simflash_close(&sf);
	assert_int_equal(fota_simflash_init_mem(&sf, mem, FLASH_SIZE, SECTOR, prog_size), FOTA_OK);
	fota_simflash_format(&sf);
	boot = (struct fota_boot_cfg){ .flash = &sf.flash, .ctx = &boot_sha.port, .verify = verify };
	assert_int_equal(fota_layout_default(&boot.layout, &sf.flash), FOTA_OK);
	fake_server_free(&srv);
	fake_server_init(&srv);
	acfg = (struct fota_agent_cfg){
		.module = &mod,
		.boot = &boot,
		.sha = &sha.port,
		.net = &srv.port,
		.server = SERVER,
		.family = FAMILY,
		.reboot = reboot_hook,
	};
	now = T0;
	reboots = 0;
	power_on();
}

static int setup(void **state)
{
	(void)state;
	fota_posix_sha256_init(&sha);
	fota_posix_sha256_init(&boot_sha);
	make_image(&img, FAMILY, NEWER, PAYLOAD, 1);
	fresh(1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fake_server_free(&srv);
	fota_simflash_close(&sf);
	fota_posix_sha256_free(&sha);
	fota_posix_sha256_free(&boot_sha);
	free(img.p);
	free(img2.p);
	img.p = img2.p = NULL;
	return 0;
}

/* The agent restarts with the config in acfg (a test changed it), on the same flash. */
static void restart_agent(void)
{
	assert_int_equal(fota_agent_init(&agent, &acfg, now), FOTA_OK);
}

/* KEY mode with the given key, automatic checks off. */
static void key_mode(const char *key)
{
	char line[128];

	snprintf(line, sizeof(line), "AT+UPGRADE=\"KEY\",\"%s\"", key);
	at_ok(line);
	at_ok("AT+UPGRADE=\"AUTO\",0");
}

/* URL mode with the given URL, automatic checks off. */
static void url_mode(const char *url)
{
	char line[300];

	snprintf(line, sizeof(line), "AT+UPGRADE=\"URL\",\"%s\"", url);
	at_ok(line);
	at_ok("AT+UPGRADE=\"AUTO\",0");
}

/* AT+UPGRADE: answered OK (maybe followed by a URC of an attempt that ended at once). */
static void start(void)
{
	const char *a = at("AT+UPGRADE");

	assert_memory_equal(a, "\r\nOK\r\n", 6);
}

static void assert_status(const char *expect)
{
	char want[96];

	snprintf(want, sizeof(want), "\r\n%s\r\n\r\nOK\r\n", expect);
	assert_string_equal(at("AT+UPGRADE?"), want);
}

/* ---- simulated time ------------------------------------------------------------------- */

static uint32_t poll_once(void)
{
	srv.now = now;
	return fota_agent_poll(&agent, now);
}

/* Polls while the agent is busy, the clock moving on by what the agent asks. At most
 * limit_ms of simulated time. */
static void run_until_idle(uint64_t limit_ms)
{
	uint64_t end = now + limit_ms;
	unsigned zero = 0;

	while (fota_agent_busy(&agent)) {
		uint32_t w = poll_once();

		if (!fota_agent_busy(&agent))
			break;
		assert_true(now < end);
		zero = w ? 0 : zero + 1;
		assert_true(zero < 100); /* asked to come back at once, over and over */
		now += w;
	}
}

/* Polls for span_ms of simulated time, busy or not. */
static void run_for(uint64_t span_ms)
{
	uint64_t end = now + span_ms;
	unsigned zero = 0;

	while (now < end) {
		uint32_t w = poll_once();

		zero = w ? 0 : zero + 1;
		assert_true(zero < 100);
		now = now + w < end ? now + w : end;
	}
	poll_once();
}

/* Polls until at least bytes of body went to the agent (or it stopped). */
static void run_until_delivered(uint64_t bytes)
{
	uint64_t end = now + 600000;

	while (srv.body_delivered < bytes && fota_agent_busy(&agent)) {
		now += poll_once();
		assert_true(now < end);
	}
}

/* Polls until connection n - 1 is closed by the agent. */
static void run_until_closed(size_t n)
{
	uint64_t end = now + 600000;

	while (srv.nconns < n || !srv.conns[n - 1].closed) {
		assert_true(fota_agent_busy(&agent));
		now += poll_once();
		assert_true(now < end);
	}
}

/* ---- what the host and the server saw ---------------------------------------------------- */

/* The +UPGRADEIND values said since power-on, into v; returns how many. */
static size_t indications(int *v, size_t max)
{
	static const char tag[] = "\r\n+UPGRADEIND: ";
	const char *p = term;
	size_t n = 0;

	while ((p = strstr(p, tag)) != NULL) {
		p += sizeof(tag) - 1;
		assert_true(n < max);
		v[n++] = atoi(p);
	}
	return n;
}

/* Asserts the +UPGRADEIND values said since power-on: each whole percent once, in order,
 * from first to 100, and nothing else. */
static void assert_progress(int first)
{
	int v[256];
	size_t n = indications(v, 256);

	assert_int_equal(n, 101 - first);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i], first + (int)i);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Header name of request i, or NULL (a static buffer). */
static const char *req_header(size_t i, const char *name)
{
	static char buf[4][256];
	static unsigned k;

	assert_true(i < srv.nconns);
	k = (k + 1) % 4;
	return fake_req_header(&srv.conns[i], name, buf[k], sizeof(buf[k]));
}

/* Request i has header name with the value want. */
#define assert_header(args, want)                                                            \
	do {                                                                                 \
		const char *got_ = req_header args;                                          \
		assert_non_null(got_);                                                       \
		assert_string_equal(got_, want);                                             \
	} while (0)

static const char *req_line(size_t i)
{
	static char buf[FAKE_REQ_MAX];

	assert_true(i < srv.nconns);
	return fake_req_line(&srv.conns[i], buf, sizeof(buf));
}

static uint32_t range_from(size_t i)
{
	const char *r = req_header(i, "Range");
	unsigned long v;

	assert_non_null(r);
	assert_int_equal(sscanf(r, "bytes=%lu-", &v), 1);
	assert_string_equal(strchr(r, '-'), "-");
	return (uint32_t)v;
}

static uint32_t stage_first_sector(void)
{
	return boot.layout.stage_addr / SECTOR;
}

/* Erases done in the staging slot S (its slot_sectors + 1 sectors) since format; *max
 * gets the most any one sector had. */
static uint32_t stage_erases(uint32_t *max)
{
	uint32_t sum = 0, m = 0;

	for (uint32_t s = 0; s <= boot.layout.slot_sectors; s++) {
		uint32_t e = sf.stats.erase_count[stage_first_sector() + s];

		sum += e;
		m = e > m ? e : m;
	}
	if (max)
		*max = m;
	return sum;
}

static enum fota_boot_state journal_state(void)
{
	struct fota_boot_status bs;

	assert_int_equal(fota_boot_status(&boot, &bs), FOTA_OK);
	return bs.state;
}

static struct flaky_flash ff;

/* The agent's stage and journal go through ff from now on; reads of [lo, hi) fail with err
 * (none when lo == hi). */
static void flaky_reads(uint32_t lo, uint32_t hi, int err)
{
	flaky_flash_init(&ff, &sf.flash, lo, hi, err);
	boot.flash = &ff.port;
}

static void journal_unreadable(int err)
{
	flaky_reads(boot.layout.journal_addr,
		    boot.layout.journal_addr + 2 * boot.layout.journal_half, err);
}

/* The image im is staged: marked in the journal, its bytes in S at one sector in, and
 * every sector of S it needed erased once (plus the progress bitmap's), none beyond. */
static void assert_staged(const struct image *im, bool erased_once)
{
	struct fota_boot_status bs;
	uint32_t max, used = (uint32_t)((im->len + SECTOR - 1) / SECTOR);

	assert_int_equal(fota_boot_status(&boot, &bs), FOTA_OK);
	assert_int_equal(bs.state, FOTA_BOOT_STAGED);
	assert_int_equal(bs.image_size, im->len);
	assert_memory_equal(mem + boot.layout.stage_addr + SECTOR, im->p, im->len);
	for (uint32_t s = used + 1; s <= boot.layout.slot_sectors; s++)
		assert_int_equal(sf.stats.erase_count[stage_first_sector() + s], 0);
	if (erased_once) {
		assert_int_equal(stage_erases(&max), used + 1);
		assert_int_equal(max, 1);
	}
}

/* ---- the server's answers --------------------------------------------------------------- */

static struct fake_route *serve_file(const char *path, const struct image *im, const char *etag)
{
	struct fake_route *r = fake_server_route(&srv, path, FAKE_FILE);

	r->body = im->p;
	r->len = im->len;
	r->etag = etag;
	r->last_modified = DATE;
	return r;
}

static struct fake_route *serve_refusal(int status, int code)
{
	struct fake_route *r = fake_server_route(&srv, KEY_PATH, FAKE_REFUSE);

	r->status = status;
	r->code = code;
	return r;
}

/* A whole attempt: AT+UPGRADE, then the agent until it is idle again. */
static void attempt(void)
{
	start();
	run_until_idle(600000);
}

/* ======================================================================================= */
/* 1. The check request                                                                     */

static void key_mode_check_is_the_luat_query_percent_encoded_with_host_and_port(void **state)
{
	(void)state;
	key_mode("My Key&x=1/2+3%?#~");
	serve_refusal(409, 27);
	attempt();
	assert_int_equal(srv.nconns, 1);
	assert_string_equal(srv.conns[0].host, "fota.test");
	assert_int_equal(srv.conns[0].port, 8080);
	assert_false(srv.conns[0].tls);
	assert_string_equal(req_line(0),
			    "GET " KEY_PATH "?project_key=My%20Key%26x%3D1%2F2%2B3%25%3F%23~"
			    "&imei=" IMEI "&firmware_name=" FAMILY "&version=" RUNNING " HTTP/1.1");
	assert_header((0, "Host"), "fota.test:8080");
	assert_header((0, "Connection"), "close");
	assert_null(req_header(0, "Range"));
	assert_null(req_header(0, "If-Range"));
	assert_null(req_header(0, "If-None-Match"));
	assert_true(srv.conns[0].closed);
	assert_memory_equal(srv.conns[0].req + srv.conns[0].req_len - 4, "\r\n\r\n", 4);
}

static void longest_key_needing_encoding_fits_the_request(void **state)
{
	char key[FOTA_KEY_MAX + 1], want[3 * FOTA_KEY_MAX + 1];

	(void)state;
	memset(key, '%', FOTA_KEY_MAX);
	key[FOTA_KEY_MAX] = '\0';
	for (size_t i = 0; i < FOTA_KEY_MAX; i++)
		memcpy(want + 3 * i, "%25", 4);
	key_mode(key);
	serve_refusal(409, 27);
	attempt();
	assert_int_equal(srv.nconns, 1);
	assert_non_null(strstr(req_line(0), want));
	assert_status("+UPGRADE: 2,-1004,409,27");
}

static void key_mode_default_port_is_left_out_of_host(void **state)
{
	(void)state;
	acfg.server = "http://fota.test/";
	restart_agent();
	key_mode("k");
	serve_refusal(409, 27);
	attempt();
	assert_int_equal(srv.conns[0].port, 80);
	assert_header((0, "Host"), "fota.test");
	assert_memory_equal(req_line(0), "GET " KEY_PATH "?project_key=k&",
			    strlen("GET " KEY_PATH "?project_key=k&"));
}

static void init_refuses_a_config_missing_a_port_or_the_family(void **state)
{
	struct fota_agent_cfg c;

	(void)state;
	for (int i = 0; i < 5; i++) {
		c = acfg;
		if (i == 0)
			c.module = NULL;
		else if (i == 1)
			c.boot = NULL;
		else if (i == 2)
			c.sha = NULL;
		else if (i == 3)
			c.net = NULL;
		else
			c.family = NULL;
		assert_int_equal(fota_agent_init(&agent, &c, now), FOTA_ERR_INVAL);
	}
	assert_int_equal(fota_agent_init(&agent, &acfg, now), FOTA_OK);
	assert_false(fota_agent_busy(&agent));
}

static void key_mode_server_that_is_no_url_gives_1000_without_a_connection(void **state)
{
	int v[8];

	(void)state;
	acfg.server = "fota.test:8080"; /* no scheme */
	restart_agent();
	key_mode("k");
	attempt();
	assert_int_equal(srv.nconns, 0);
	assert_status("+UPGRADE: 2,-1000,0,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1000);
}

static void key_mode_server_too_long_for_the_api_path_gives_1000(void **state)
{
	static char server[FOTA_URL_MAX + 1];
	size_t fit = FOTA_URL_MAX - strlen(KEY_PATH); /* with the path: FOTA_URL_MAX bytes */
	int v[8];

	(void)state;
	/* The longest server that takes the path is asked... */
	memcpy(server, "http://", 7);
	memset(server + 7, 'h', fit - 7);
	server[fit] = '\0';
	acfg.server = server;
	restart_agent();
	key_mode("k");
	serve_refusal(409, 27);
	attempt();
	assert_int_equal(srv.nconns, 1);
	assert_status("+UPGRADE: 2,-1004,409,27");
	/* ...one byte more cannot be: no connection, -1000. */
	server[fit] = 'h';
	server[fit + 1] = '\0';
	restart_agent();
	attempt();
	assert_int_equal(srv.nconns, 1);
	assert_status("+UPGRADE: 2,-1000,0,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1000);
}

static void check_request_too_long_to_write_gives_1000_without_sending_it(void **state)
{
	static char family[201];
	int v[8];

	(void)state;
	/* A family name whose percent-encoding does not fit the query (600 bytes). */
	memset(family, '%', sizeof(family) - 1);
	acfg.family = family;
	restart_agent();
	key_mode("k");
	serve_refusal(409, 27);
	attempt();
	assert_int_equal(srv.nconns, 1); /* not retried: it would fail the same */
	assert_true(srv.conns[0].closed);
	assert_int_equal(srv.conns[0].req_len, 0);
	assert_status("+UPGRADE: 2,-1000,0,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1000);
	/* The firmware's own name goes through. */
	acfg.family = FAMILY;
	restart_agent();
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_status("+UPGRADE: 2,-1004,409,27");
}

/* ======================================================================================= */
/* 2. Refusals                                                                              */

static void key_mode_refusals_report_the_servers_cause(void **state)
{
	static const struct {
		int status, code;
	} cases[] = { { 404, 3 }, { 403, 17 }, { 400, 25 }, { 404, 26 }, { 409, 27 }, { 500, 27 } };

	(void)state;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(cases); i++) {
		char want[64];
		int v[8];

		fresh(1);
		key_mode("k");
		serve_refusal(cases[i].status, cases[i].code);
		attempt();
		snprintf(want, sizeof(want), "+UPGRADE: 2,-1004,%d,%d", cases[i].status,
			 cases[i].code);
		assert_status(want);
		if (cases[i].code == 27) {
			assert_int_equal(indications(v, 8), 0); /* "already the latest" says nothing */
		} else {
			assert_int_equal(indications(v, 8), 1);
			assert_int_equal(v[0], -1004);
		}
		assert_int_equal(srv.nconns, 1); /* a refusal is not retried */
		assert_int_equal(stage_erases(NULL), 0);
		assert_int_equal(journal_state(), FOTA_BOOT_NONE);
		assert_int_equal(reboots, 0);
	}
}

static void refusal_without_json_has_cause_0(void **state)
{
	int v[8];

	(void)state;
	key_mode("k");
	serve_refusal(503, 0)->no_json = true;
	attempt();
	assert_status("+UPGRADE: 2,-1004,503,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1004);
}

static void refusal_with_code_after_the_message_is_understood(void **state)
{
	(void)state;
	key_mode("k");
	fake_server_route(&srv, KEY_PATH, FAKE_RAW)->raw =
		"HTTP/1.1 409 Conflict\r\nContent-Length: 59\r\n\r\n"
		"{\"msg\": \"\\u5df2\\u662f\\u6700\\u65b0\\u7248\\u672c\", \"code\": 27}";
	attempt();
	assert_status("+UPGRADE: 2,-1004,409,27");
}

static void key_mode_does_not_follow_a_redirect(void **state)
{
	struct fake_route *r;

	(void)state;
	key_mode("k");
	r = fake_server_route(&srv, KEY_PATH, FAKE_REDIRECT);
	r->location = "http://cdn.test/fw.bin";
	attempt();
	assert_int_equal(srv.nconns, 1);
	assert_status("+UPGRADE: 2,-1004,302,0");
}

/* ======================================================================================= */
/* 3. A new image                                                                            */

static void key_mode_image_is_staged_and_reboot_asked_once(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	attempt();
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_progress(0);
	assert_status("+UPGRADE: 2,0,200,0");
	assert_int_equal(srv.nconns, 1);
	assert_int_equal(srv.body_delivered, img.len);
	assert_int_equal(fake_server_open_conns(&srv), 0);
}

static void key_mode_image_in_one_byte_chunks_is_staged(void **state)
{
	(void)state;
	srv.chunk = 1;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	attempt();
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_progress(0);
	assert_status("+UPGRADE: 2,0,200,0");
	assert_int_equal(srv.body_delivered, img.len);
}

static void small_image_in_large_reads_still_says_every_percent(void **state)
{
	(void)state;
	make_image(&img2, FAMILY, NEWER, 3000, 2);
	srv.chunk = 1024; /* a third of the image at once */
	key_mode("k");
	serve_file(KEY_PATH, &img2, ETAG);
	attempt();
	assert_int_equal(reboots, 1);
	assert_staged(&img2, true);
	assert_progress(0);
}

static void image_is_staged_on_flash_with_8_byte_program_units(void **state)
{
	(void)state;
	fresh(8);
	srv.chunk = 333; /* never a whole number of program units */
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	attempt();
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_progress(0);
	assert_int_equal(sf.stats.rule_violations, 0);
}

static void chunked_answer_is_staged(void **state)
{
	(void)state;
	srv.chunk = 97;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG)->chunked = true;
	attempt();
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void request_sent_in_small_pieces_is_whole(void **state)
{
	(void)state;
	srv.send_chunk = 7;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	attempt();
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
}

static void key_mode_image_not_newer_is_the_latest(void **state)
{
	int v[8];

	(void)state;
	make_image(&img2, FAMILY, RUNNING, PAYLOAD, 2);
	key_mode("k");
	serve_file(KEY_PATH, &img2, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,-1004,200,27");
	assert_int_equal(indications(v, 8), 0);
	assert_true(srv.body_delivered < 1024 + FOTA_IMAGE_HDR_SIZE);
	assert_int_equal(stage_erases(NULL), 0);
}

/* ======================================================================================= */
/* 4. URL mode: not newer                                                                   */

static void url_mode_same_or_older_version_stops_after_the_image_header(void **state)
{
	static const char *const versions[] = { RUNNING, OLDER, "AirM2M_780E_V999_LTE_AT" };

	(void)state;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(versions); i++) {
		int v[8];

		fresh(1);
		make_image(&img2, FAMILY, versions[i], PAYLOAD, 2);
		url_mode(FW_URL);
		serve_file(FW_PATH, &img2, ETAG);
		attempt();
		assert_status("+UPGRADE: 2,-1004,200,27");
		assert_int_equal(indications(v, 8), 0);
		assert_int_equal(srv.nconns, 1);
		assert_string_equal(srv.conns[0].host, "files.test");
		assert_string_equal(req_line(0), "GET " FW_PATH " HTTP/1.1");
		assert_header((0, "Host"), "files.test");
		assert_null(req_header(0, "If-None-Match"));
		/* Little more than the image header was read, and the connection closed. */
		assert_true(srv.body_delivered < 1024 + FOTA_IMAGE_HDR_SIZE);
		assert_true(srv.conns[0].closed);
		assert_int_equal(stage_erases(NULL), 0);
		assert_int_equal(journal_state(), FOTA_BOOT_NONE);
		assert_int_equal(reboots, 0);
	}
}

static void url_mode_unchanged_file_is_asked_with_its_etag_and_304_is_the_latest(void **state)
{
	uint64_t before;
	int v[8];

	(void)state;
	make_image(&img2, FAMILY, RUNNING, PAYLOAD, 2);
	url_mode(FW_URL);
	serve_file(FW_PATH, &img2, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,-1004,200,27");
	before = srv.body_delivered;
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_header((1, "If-None-Match"), ETAG);
	assert_header((1, "If-Modified-Since"), DATE);
	assert_null(req_header(1, "Range"));
	assert_int_equal(srv.conns[1].status, 304);
	assert_int_equal(srv.body_delivered, before); /* no body at all */
	assert_status("+UPGRADE: 2,-1004,304,27");
	assert_int_equal(indications(v, 8), 0);
	/* The validators survive a reboot. */
	power_on();
	attempt();
	assert_header((2, "If-None-Match"), ETAG);
	assert_status("+UPGRADE: 2,-1004,304,27");
}

static void malformed_validator_record_is_ignored_and_replaced_by_the_next_answers(void **state)
{
	/* FOTA_NV_URLCACHE: url crc (4) | etag length (1) | etag | date length (1) | date */
	static const struct {
		uint8_t e, d;   /* the lengths the record says */
		size_t len;     /* its real length */
	} cases[] = {
		{ 200, 0, 10 }, /* an ETag running past the record's end */
		{ 2, 10, 12 },  /* a date shorter than its length byte says */
		{ 2, 1, 12 },   /* a date longer */
	};

	(void)state;
	make_image(&img2, FAMILY, RUNNING, PAYLOAD, 2);
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(cases); i++) {
		uint8_t rec[16];

		fresh(1);
		url_mode(FW_URL);
		serve_file(FW_PATH, &img2, ETAG);
		memset(rec, 'x', sizeof(rec));
		fota_put_le32(rec, fota_crc32(0, FW_URL, strlen(FW_URL)));
		rec[4] = cases[i].e;
		if (5u + cases[i].e < cases[i].len)
			rec[5 + cases[i].e] = cases[i].d;
		assert_int_equal(fota_nv_write(&mod.nv, FOTA_NV_URLCACHE, rec, cases[i].len),
				 FOTA_OK);
		attempt();
		assert_null(req_header(0, "If-None-Match"));
		assert_null(req_header(0, "If-Modified-Since"));
		assert_int_equal(srv.conns[0].status, 200);
		assert_status("+UPGRADE: 2,-1004,200,27");
		/* The answer's validators took the record's place. */
		attempt();
		assert_header((1, "If-None-Match"), ETAG);
		assert_header((1, "If-Modified-Since"), DATE);
		assert_status("+UPGRADE: 2,-1004,304,27");
	}
}

static void url_mode_changed_file_is_fetched_despite_old_validators(void **state)
{
	(void)state;
	make_image(&img2, FAMILY, RUNNING, PAYLOAD, 2);
	url_mode(FW_URL);
	serve_file(FW_PATH, &img2, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,-1004,200,27");
	/* The file is replaced by a newer one: the server answers 200 to If-None-Match. */
	srv.routes[0].body = img.p;
	srv.routes[0].len = img.len;
	srv.routes[0].etag = ETAG2;
	attempt();
	assert_header((1, "If-None-Match"), ETAG);
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void url_mode_newer_image_is_staged(void **state)
{
	(void)state;
	url_mode("http://files.test:8000" FW_PATH "?token=a%20b");
	serve_file(FW_PATH, &img, ETAG);
	attempt();
	assert_string_equal(req_line(0), "GET " FW_PATH "?token=a%20b HTTP/1.1");
	assert_header((0, "Host"), "files.test:8000");
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_progress(0);
	assert_status("+UPGRADE: 2,0,200,0");
}

/* ======================================================================================= */
/* 5. Redirects                                                                             */

static void url_mode_follows_relative_and_absolute_redirects(void **state)
{
	(void)state;
	url_mode("http://a.test/start?x=1");
	fake_server_route(&srv, "/start", FAKE_REDIRECT)->location = "/mid?y=2";
	fake_server_route(&srv, "/mid", FAKE_REDIRECT)->location = "http://b.test:8081" FW_PATH;
	srv.routes[1].status = 301;
	serve_file(FW_PATH, &img, ETAG);
	attempt();
	assert_int_equal(srv.nconns, 3);
	assert_string_equal(srv.conns[0].host, "a.test");
	assert_string_equal(req_line(0), "GET /start?x=1 HTTP/1.1");
	assert_string_equal(srv.conns[1].host, "a.test");
	assert_int_equal(srv.conns[1].port, 80);
	assert_string_equal(req_line(1), "GET /mid?y=2 HTTP/1.1");
	assert_header((1, "Host"), "a.test");
	assert_string_equal(srv.conns[2].host, "b.test");
	assert_int_equal(srv.conns[2].port, 8081);
	assert_string_equal(req_line(2), "GET " FW_PATH " HTTP/1.1");
	assert_header((2, "Host"), "b.test:8081");
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void relative_redirect_keeps_the_port(void **state)
{
	(void)state;
	url_mode("http://a.test:8080/start");
	fake_server_route(&srv, "/start", FAKE_REDIRECT)->location = FW_PATH;
	serve_file(FW_PATH, &img, ETAG);
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_int_equal(srv.conns[1].port, 8080);
	assert_header((1, "Host"), "a.test:8080");
	assert_int_equal(reboots, 1);
}

static void path_relative_and_scheme_relative_redirects_are_resolved(void **state)
{
	(void)state;
	url_mode("http://a.test:8080/dir/start?q=1");
	fake_server_route(&srv, "/dir/start", FAKE_REDIRECT)->location = "next/hop";
	fake_server_route(&srv, "/dir/next/hop", FAKE_REDIRECT)->location = "//b.test" FW_PATH;
	serve_file(FW_PATH, &img, ETAG);
	attempt();
	assert_int_equal(srv.nconns, 3);
	assert_string_equal(req_line(1), "GET /dir/next/hop HTTP/1.1");
	assert_header((1, "Host"), "a.test:8080");
	assert_string_equal(srv.conns[2].host, "b.test");
	assert_int_equal(srv.conns[2].port, 80);
	assert_string_equal(req_line(2), "GET " FW_PATH " HTTP/1.1");
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
}

/* From url, /dir/start redirects to location once, then serves the image itself: it is
 * staged over two connections. */
static void redirect_once_then_serve(const char *url, const char *location)
{
	struct fake_route *r;

	url_mode(url);
	r = fake_server_route(&srv, "/dir/start", FAKE_REDIRECT);
	r->location = location;
	start();
	run_until_closed(1);
	r->kind = FAKE_FILE;
	r->body = img.p;
	r->len = img.len;
	r->etag = ETAG;
	run_until_idle(600000);
	assert_int_equal(srv.nconns, 2);
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
}

/* A Location of a fragment alone is the same resource: path and query kept. */
static void fragment_only_redirect_keeps_the_path_and_query(void **state)
{
	(void)state;
	redirect_once_then_serve("http://a.test/dir/start?q=1", "#part");
	assert_string_equal(req_line(1), "GET /dir/start?q=1 HTTP/1.1");
}

static void query_only_redirect_keeps_the_path(void **state)
{
	(void)state;
	redirect_once_then_serve("http://a.test:8080/dir/start?q=1", "?q=2");
	assert_string_equal(req_line(1), "GET /dir/start?q=2 HTTP/1.1");
	assert_header((1, "Host"), "a.test:8080");
}

static void relative_redirect_from_a_url_without_a_path_gets_its_slash(void **state)
{
	(void)state;
	url_mode("http://a.test:8080");
	fake_server_route(&srv, "/", FAKE_REDIRECT)->location = "fw/new.bin";
	serve_file("/fw/new.bin", &img, ETAG);
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_string_equal(req_line(0), "GET / HTTP/1.1");
	assert_string_equal(req_line(1), "GET /fw/new.bin HTTP/1.1");
	assert_int_equal(srv.conns[1].port, 8080);
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
}

static void redirect_to_another_scheme_gives_1004_without_following(void **state)
{
	/* "http:x" and "x:/fw.bin": shorter than "http://", with a scheme all the same. */
	static const char *const locations[] = { "ftp://files.test/fw.bin", "file:/fw.bin",
						 "mailto:ops@files.test", "http:x", "x:/fw.bin" };

	(void)state;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(locations); i++) {
		int v[8];

		fresh(1);
		url_mode("http://a.test/start");
		fake_server_route(&srv, "/start", FAKE_REDIRECT)->location = locations[i];
		serve_file(FW_PATH, &img, ETAG);
		attempt();
		assert_int_equal(srv.nconns, 1);
		assert_status("+UPGRADE: 2,-1004,302,0");
		assert_int_equal(indications(v, 8), 1);
		assert_int_equal(v[0], -1004);
		assert_int_equal(stage_erases(NULL), 0);
		assert_int_equal(reboots, 0);
	}
}

static void redirect_to_a_location_that_is_no_url_gives_1000(void **state)
{
	int v[8];

	(void)state;
	url_mode("http://a.test/start");
	/* user info: not a URL the module accepts (docs/at-commands.md 11.2) */
	fake_server_route(&srv, "/start", FAKE_REDIRECT)->location = "http://u@b.test" FW_PATH;
	serve_file(FW_PATH, &img, ETAG);
	attempt();
	assert_int_equal(srv.nconns, 1); /* b.test is never asked */
	assert_status("+UPGRADE: 2,-1000,302,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1000);
	assert_int_equal(reboots, 0);
}

static void relative_redirect_making_the_url_too_long_gives_1004(void **state)
{
	/* http://a.test/ddd...d/s: a directory of 230 bytes; a relative Location replaces
	 * "s", so the URL becomes 245 bytes plus the Location's. */
	static char url[FOTA_URL_MAX + 1], start_path[FOTA_URL_MAX + 1], to[FOTA_URL_MAX + 1];
	size_t dir = strlen("http://a.test/") + 230;
	int v[8];

	(void)state;
	memcpy(url, "http://a.test/", 14);
	memset(url + 14, 'd', 230);
	memcpy(url + dir, "/s", 3);
	memcpy(start_path, url + 13, strlen(url + 13) + 1);
	/* 10 bytes: 255 in all, the longest URL there is: followed. */
	url_mode(url);
	fake_server_route(&srv, start_path, FAKE_REDIRECT)->location = "abcdefghij";
	memcpy(to, start_path, strlen(start_path) - 1);
	memcpy(to + strlen(start_path) - 1, "abcdefghij", 11);
	serve_file(to, &img, ETAG);
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_int_equal(reboots, 1);
	assert_status("+UPGRADE: 2,0,200,0");
	/* 11 bytes: one too many. */
	fresh(1);
	url_mode(url);
	fake_server_route(&srv, start_path, FAKE_REDIRECT)->location = "abcdefghijk";
	attempt();
	assert_int_equal(srv.nconns, 1);
	assert_status("+UPGRADE: 2,-1004,302,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1004);
	assert_int_equal(reboots, 0);
}

static void short_relative_redirect_and_upper_case_scheme_are_resolved(void **state)
{
	(void)state;
	url_mode("http://a.test/dir/start");
	/* Shorter than "http://": a path relative to /dir/; then an absolute URL whose
	 * scheme is in capitals. */
	fake_server_route(&srv, "/dir/start", FAKE_REDIRECT)->location = "n";
	fake_server_route(&srv, "/dir/n", FAKE_REDIRECT)->location = "HTTP://b.test" FW_PATH;
	serve_file(FW_PATH, &img, ETAG);
	attempt();
	assert_int_equal(srv.nconns, 3);
	assert_string_equal(req_line(1), "GET /dir/n HTTP/1.1");
	assert_string_equal(srv.conns[2].host, "b.test");
	assert_string_equal(req_line(2), "GET " FW_PATH " HTTP/1.1");
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
}

/* /r0 -> /r1 -> ... -> /r<hops - 1> -> the file. */
static void redirect_chain(int hops)
{
	static char paths[8][16], locs[8][16];

	for (int i = 0; i < hops; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/r%d", i);
		snprintf(locs[i], sizeof(locs[i]), "/r%d", i + 1);
		fake_server_route(&srv, paths[i], FAKE_REDIRECT)->location =
			i + 1 < hops ? locs[i] : FW_PATH;
	}
	serve_file(FW_PATH, &img, ETAG);
}

static void five_redirects_are_followed(void **state)
{
	(void)state;
	url_mode("http://a.test/r0");
	redirect_chain(5);
	attempt();
	assert_int_equal(srv.nconns, 6);
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
}

static void six_redirects_in_a_row_give_1004(void **state)
{
	int v[8];

	(void)state;
	url_mode("http://a.test/r0");
	redirect_chain(6);
	attempt();
	assert_int_equal(srv.nconns, 6); /* the sixth redirect is not followed */
	assert_status("+UPGRADE: 2,-1004,302,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1004);
	assert_int_equal(reboots, 0);
}

static void redirect_to_https_is_followed_over_tls_on_port_443(void **state)
{
	(void)state;
	url_mode("http://a.test/start");
	fake_server_route(&srv, "/start", FAKE_REDIRECT)->location = "https://b.test/fw.bin";
	serve_file("/fw.bin", &img, ETAG);
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_false(srv.conns[0].tls);
	assert_true(srv.conns[1].tls);
	assert_int_equal(srv.conns[1].port, 443);
	assert_header((1, "Host"), "b.test"); /* the default port of https left out */
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
}

/* ======================================================================================= */
/* 6, 7. Lost connections, resume                                                           */

static void lost_connection_resumes_with_range_of_exactly_the_bytes_received(void **state)
{
	static const uint32_t cuts[] = { 0, 1, 50, 127, 128, 129, 4095, 4096, 4097, 30001,
					 PAYLOAD + 128 + 35 };
	static const size_t chunks[] = { 512, 1, 333, 1024 };
	static const uint32_t progs[] = { 1, 8 };

	(void)state;
	for (size_t p = 0; p < FOTA_ARRAY_SIZE(progs); p++) {
		for (size_t i = 0; i < FOTA_ARRAY_SIZE(cuts); i++) {
			uint32_t cut = cuts[i];
			bool in_header = cut < FOTA_IMAGE_HDR_SIZE;

			fresh(progs[p]);
			srv.chunk = chunks[(i + p) % FOTA_ARRAY_SIZE(chunks)];
			key_mode("k");
			serve_file(KEY_PATH, &img, ETAG);
			srv.faults[0] = (struct fake_fault){ .act = FAKE_ACT_CUT, .at = cut };
			attempt();
			assert_int_equal(srv.nconns, 2);
			assert_null(req_header(0, "Range"));
			/* The retry waits its backoff. */
			assert_true(srv.conns[1].opened_at - srv.conns[0].closed_at >=
				    FOTA_DL_BACKOFF_MS);
			if (in_header) {
				/* Nothing went to flash yet: the image is asked for whole again. */
				assert_null(req_header(1, "Range"));
				assert_int_equal(srv.body_delivered, img.len + cut);
				assert_status("+UPGRADE: 2,0,200,0");
			} else {
				assert_int_equal(range_from(1), cut);
				assert_header((1, "If-Range"), ETAG);
				assert_int_equal(srv.conns[1].status, 206);
				/* No byte fetched twice. */
				assert_int_equal(srv.body_delivered, img.len);
				assert_status("+UPGRADE: 2,0,206,0");
			}
			assert_int_equal(reboots, 1);
			assert_staged(&img, true);
			assert_progress(0);
			assert_int_equal(sf.stats.rule_violations, 0);
		}
	}
}

static void lost_connection_twice_resumes_twice(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	srv.faults[0] = (struct fake_fault){ .act = FAKE_ACT_CUT, .at = 10000 };
	srv.faults[1] = (struct fake_fault){ .act = FAKE_ACT_CLOSE, .at = 7777 };
	attempt();
	assert_int_equal(srv.nconns, 3);
	assert_int_equal(range_from(1), 10000);
	assert_int_equal(range_from(2), 17777);
	assert_int_equal(srv.body_delivered, img.len);
	assert_staged(&img, true);
	assert_progress(0);
	assert_status("+UPGRADE: 2,0,206,0");
}

static void server_answering_200_to_a_range_restarts_the_image(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG)->ignore_range = true;
	srv.faults[0] = (struct fake_fault){ .act = FAKE_ACT_CUT, .at = 20000 };
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_int_equal(range_from(1), 20000);
	assert_int_equal(srv.conns[1].status, 200);
	assert_int_equal(srv.body_delivered, 20000 + img.len);
	assert_int_equal(reboots, 1);
	assert_staged(&img, false);
	assert_status("+UPGRADE: 2,0,200,0");
	assert_int_equal(sf.stats.rule_violations, 0);
}

static void changed_etag_between_tries_fetches_the_new_file_whole(void **state)
{
	struct fake_route *r;

	(void)state;
	make_image(&img2, FAMILY, "AirM2M_780E_V1123_LTE_AT", PAYLOAD, 3);
	key_mode("k");
	r = serve_file(KEY_PATH, &img, ETAG);
	srv.faults[0] = (struct fake_fault){ .act = FAKE_ACT_CUT, .at = 20000 };
	start();
	run_until_closed(1);
	r->body = img2.p; /* a new firmware is uploaded meanwhile */
	r->len = img2.len;
	r->etag = ETAG2;
	run_until_idle(600000);
	assert_int_equal(srv.nconns, 2);
	assert_int_equal(range_from(1), 20000);
	assert_header((1, "If-Range"), ETAG);
	assert_int_equal(srv.conns[1].status, 200);
	assert_int_equal(reboots, 1);
	assert_staged(&img2, false);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void changed_etag_then_cut_in_the_new_header_does_not_mix_the_files(void **state)
{
	struct fake_route *r;

	(void)state;
	/* Same size, other bytes: only the ETag tells the files apart. */
	make_image(&img2, FAMILY, "AirM2M_780E_V1123_LTE_AT", PAYLOAD, 3);
	assert_int_equal(img.len, img2.len);
	key_mode("k");
	r = serve_file(KEY_PATH, &img, ETAG);
	srv.faults[0] = (struct fake_fault){ .act = FAKE_ACT_CUT, .at = 20000 };
	srv.faults[1] = (struct fake_fault){ .act = FAKE_ACT_CUT, .at = 60 };
	start();
	run_until_closed(1);
	r->body = img2.p;
	r->etag = ETAG2;
	run_until_idle(600000);
	assert_int_equal(srv.nconns, 3);
	assert_int_equal(srv.conns[1].status, 200);
	assert_int_equal(reboots, 1);
	assert_staged(&img2, false);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void range_answer_for_other_bytes_restarts_the_download(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG)->range_skew = 100;
	srv.faults[0] = (struct fake_fault){ .act = FAKE_ACT_CUT, .at = 20000 };
	attempt();
	/* 206 for bytes 20100-: not what was asked; the next try asks for the whole file. */
	assert_int_equal(srv.nconns, 3);
	assert_int_equal(range_from(1), 20000);
	assert_null(req_header(2, "Range"));
	assert_int_equal(reboots, 1);
	assert_staged(&img, false);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void whole_image_whose_answer_end_is_lost_is_staged_without_asking_again(void **state)
{
	(void)state;
	key_mode("k");
	/* Content-Length says 10 bytes more than the image; the link drops after the image. */
	serve_file(KEY_PATH, &img, ETAG)->length_extra = 10;
	srv.faults[0] = (struct fake_fault){ .act = FAKE_ACT_CUT, .at = (uint32_t)img.len };
	attempt();
	assert_int_equal(srv.nconns, 1); /* every byte came: nothing to ask for */
	assert_int_equal(srv.body_delivered, img.len);
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_progress(0);
	assert_status("+UPGRADE: 2,0,200,0");
}

/* ======================================================================================= */
/* 8. Power cuts                                                                            */

static void power_cut_mid_download_resumes_after_the_boot_delay(void **state)
{
	static const uint64_t at_bytes[] = { 1000, 4096, 33333, PAYLOAD - 10000 };
	static const uint32_t progs[] = { 1, 8 };

	(void)state;
	for (size_t p = 0; p < FOTA_ARRAY_SIZE(progs); p++) {
		for (size_t i = 0; i < FOTA_ARRAY_SIZE(at_bytes); i++) {
			uint64_t first;
			uint32_t from;

			fresh(progs[p]);
			srv.chunk = p ? 700 : 512;
			at_ok("AT+UPGRADE=\"KEY\",\"k\""); /* AUTO stays 1 */
			serve_file(KEY_PATH, &img, ETAG);
			start();
			run_until_delivered(at_bytes[i]);
			first = srv.body_delivered;
			assert_true(fota_agent_busy(&agent));
			/* Power cut: the RAM is gone, the connection with it. */
			srv.conns[0].closed = true;
			now += 3000;
			power_on();
			run_for(FOTA_BOOT_CHECK_DELAY_MS - 1);
			assert_int_equal(srv.nconns, 1);
			run_for(1);
			assert_int_equal(srv.nconns, 2);
			assert_int_equal(srv.conns[1].opened_at, now);
			run_until_idle(600000);
			from = range_from(1);
			assert_header((1, "If-Range"), ETAG);
			assert_progress((int)((uint64_t)from * 100 / img.len));
			assert_true(from <= first);
			assert_int_equal(from % agent.stage.block, 0);
			assert_true(srv.body_delivered <= img.len + agent.stage.block + srv.chunk);
			assert_int_equal(reboots, 1);
			assert_staged(&img, false);
			assert_status("+UPGRADE: 2,0,206,0");
			assert_int_equal(sf.stats.rule_violations, 0);
		}
	}
}

static void power_cut_with_auto_0_waits_for_at_upgrade(void **state)
{
	uint64_t first;

	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	start();
	run_until_delivered(25000);
	first = srv.body_delivered;
	srv.conns[0].closed = true;
	power_on();
	run_for(48ull * 3600 * 1000);
	assert_int_equal(srv.nconns, 1);
	start();
	run_until_idle(600000);
	assert_int_equal(srv.nconns, 2);
	assert_true(range_from(1) <= first);
	assert_true(range_from(1) + agent.stage.block > first);
	assert_int_equal(reboots, 1);
	assert_staged(&img, false);
}

static unsigned whole_in_flash; /* resumes that found the whole image in flash */

/* Cuts the power before flash operation n of a download (counted from AT+UPGRADE), then
 * powers on again; returns true when the cut fell inside the download. */
static bool cut_and_resume(uint32_t prog, uint32_t n, enum fota_simflash_cut kind,
			   const struct image *im)
{
	uint64_t first;

	fresh(prog);
	at_ok("AT+UPGRADE=\"KEY\",\"k\"");
	serve_file(KEY_PATH, im, ETAG);
	fota_simflash_cut_power(&sf, n, kind);
	start();
	run_until_idle(600000);
	if (!sf.dead) {
		assert_int_equal(reboots, 1);
		return false;
	}
	first = srv.body_delivered;
	reboots = 0;
	fota_simflash_power_on(&sf);
	if (journal_state() == FOTA_BOOT_STAGED) {
		/* The cut fell after the image was marked staged: the boot code installs it. */
		assert_memory_equal(mem + boot.layout.stage_addr + SECTOR, im->p, im->len);
		return true;
	}
	power_on();
	run_for(FOTA_BOOT_CHECK_DELAY_MS);
	run_until_idle(600000);
	assert_int_equal(reboots, 1);
	assert_staged(im, false);
	assert_true(srv.body_delivered - first <= im->len);
	if (srv.nconns == 1) {
		/* Every block was marked before the cut: the resume finds the whole image in
		 * flash and stages it without asking the server for anything. */
		assert_int_equal(first, im->len);
		whole_in_flash++;
		return true;
	}
	assert_int_equal(srv.nconns, 2);
	assert_true(srv.body_delivered <= im->len + agent.stage.block + srv.chunk);
	return true;
}

/* Every cut near the ends of the download, a sample between, clean and torn. */
static unsigned cut_sweep(const struct image *im)
{
	uint32_t total;
	unsigned cuts = 0;

	/* A dry run counts the download's flash operations. */
	fresh(8);
	at_ok("AT+UPGRADE=\"KEY\",\"k\"");
	serve_file(KEY_PATH, im, ETAG);
	fota_simflash_cut_power(&sf, 0, FOTA_CUT_CLEAN);
	start();
	run_until_idle(600000);
	assert_int_equal(reboots, 1);
	total = sf.ops;
	for (uint32_t n = 1; n <= total + 1; n++) {
		if (n > 10 && n + 12 < total && n % (total / 23))
			continue;
		cuts += cut_and_resume(8, n, FOTA_CUT_CLEAN, im);
		cuts += cut_and_resume(8, n, FOTA_CUT_TORN, im);
	}
	printf("    download of %zu bytes: %u flash operations, %u cuts resumed, %u found "
	       "whole in flash\n", im->len, total, cuts, whole_in_flash);
	return cuts;
}

static void power_cut_at_flash_operations_of_a_download_resumes_without_refetching(void **state)
{
	(void)state;
	/* An image whose end is inside a progress block... */
	make_image(&img2, FAMILY, NEWER, 20000, 4);
	whole_in_flash = 0;
	assert_true(cut_sweep(&img2) > 40);
	assert_int_equal(whole_in_flash, 0);
	/* ...and one that ends on a block's end (168 bytes with 8-byte program units): a
	 * cut after its last mark finds it whole, and no byte is fetched again. */
	make_image(&img2, FAMILY, NEWER, 168 * 120 - FOTA_IMAGE_HDR_SIZE - 36, 4);
	assert_true(cut_sweep(&img2) > 40);
	assert_true(whole_in_flash > 0);
}

/* ======================================================================================= */
/* 9. Bad images                                                                            */

static void wrong_firmware_name_gives_1003_and_nothing_staged(void **state)
{
	int v[8];

	(void)state;
	make_image(&img2, "AirM2M_720U_LTE_AT", NEWER, PAYLOAD, 2);
	key_mode("k");
	serve_file(KEY_PATH, &img2, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,-1003,200,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1003);
	assert_int_equal(srv.nconns, 1);
	assert_true(srv.body_delivered < 1024 + FOTA_IMAGE_HDR_SIZE);
	assert_int_equal(stage_erases(NULL), 0);
	assert_int_equal(journal_state(), FOTA_BOOT_NONE);
	assert_int_equal(reboots, 0);
}

static void image_too_big_for_the_slot_gives_1005_without_erasing(void **state)
{
	int v[8];

	(void)state;
	make_image(&img2, FAMILY, NEWER, boot.layout.slot_sectors * SECTOR, 2);
	key_mode("k");
	serve_file(KEY_PATH, &img2, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,-1005,200,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1005);
	assert_true(srv.body_delivered < 1024 + FOTA_IMAGE_HDR_SIZE);
	assert_int_equal(stage_erases(NULL), 0);
	assert_int_equal(journal_state(), FOTA_BOOT_NONE);
	assert_int_equal(reboots, 0);
}

static void corrupt_payload_byte_gives_1003_and_is_never_staged(void **state)
{
	int v[256];
	size_t n;

	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	img.p[FOTA_IMAGE_HDR_SIZE + 40000] ^= 0x10;
	start();
	while (fota_agent_busy(&agent)) {
		now += poll_once();
		assert_int_not_equal(journal_state(), FOTA_BOOT_STAGED);
	}
	assert_status("+UPGRADE: 2,-1003,200,0");
	n = indications(v, 256);
	assert_int_equal(v[n - 1], -1003);
	assert_int_equal(reboots, 0);
	assert_int_equal(srv.nconns, 1);
	/* The bad download is forgotten: the next attempt starts from the first byte. */
	img.p[FOTA_IMAGE_HDR_SIZE + 40000] ^= 0x10;
	attempt();
	assert_null(req_header(1, "Range"));
	assert_int_equal(reboots, 1);
	assert_staged(&img, false);
}

static void journal_unreadable_at_the_header_check_gives_1005_and_erases_nothing(void **state)
{
	int v[8];

	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	journal_unreadable(FOTA_ERR_IO);
	attempt();
	assert_true(ff.failed > 0);
	assert_status("+UPGRADE: 2,-1005,200,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1005);
	assert_int_equal(srv.nconns, 1);
	assert_true(srv.body_delivered < 1024 + FOTA_IMAGE_HDR_SIZE);
	assert_int_equal(stage_erases(NULL), 0);
	assert_int_equal(reboots, 0);
	/* The flash reads again: the next attempt fetches the image from its start. */
	ff.lo = ff.hi = 0;
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_null(req_header(1, "Range"));
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void flash_saying_again_at_the_header_check_ends_the_attempt_as_1006(void **state)
{
	int v[8];

	(void)state;
	/* A port's FOTA_ERR_AGAIN (which the HTTP parser turns into a stop) is not taken for
	 * one of the agent's own stops ("latest", redirect): the attempt fails. */
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	journal_unreadable(FOTA_ERR_AGAIN);
	attempt();
	assert_status("+UPGRADE: 2,-1006,200,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1006);
	assert_int_equal(stage_erases(NULL), 0);
	assert_int_equal(reboots, 0);
	ff.lo = ff.hi = 0;
	attempt();
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
}

/* ---- signed images and anti-rollback ---------------------------------------------------- */

/* A fake signature port: the "signature" of a hash by key k is each hash byte XOR k, twice
 * over (the real ECDSA port is tested in test_posix_sig.c). */
struct fake_sig {
	struct fota_sig port;
	uint8_t key;
};

static int fake_verify(void *ctx, const uint8_t hash[FOTA_SHA256_SIZE],
		       const uint8_t sig[FOTA_SIG_SIZE])
{
	const struct fake_sig *f = ctx;

	for (unsigned i = 0; i < FOTA_SIG_SIZE; i++)
		if (sig[i] != (uint8_t)(hash[i % FOTA_SHA256_SIZE] ^ f->key))
			return FOTA_ERR_VERIFY;
	return FOTA_OK;
}

static struct fake_sig module_key = { { &module_key, fake_verify }, 0x5A };

/* An image of version NEWER with security counter `counter`, signed by key (0: unsigned,
 * but with room for a signature in its trailer, like a signed image). */
static void make_signed(struct image *im, uint32_t counter, uint8_t key)
{
	struct fota_image_info ii = { .name = FAMILY, .version = NEWER };
	uint8_t d[FOTA_SHA256_SIZE], sg[FOTA_SIG_SIZE];
	size_t at = FOTA_IMAGE_HDR_SIZE + PAYLOAD;

	ii.payload_size = PAYLOAD;
	ii.trailer_size = FOTA_IMAGE_TRAILER_SIGNED;
	ii.security_counter = counter;
	free(im->p);
	im->len = at + FOTA_IMAGE_TRAILER_SIGNED;
	im->p = malloc(im->len);
	assert_non_null(im->p);
	assert_int_equal(fota_image_write_header(im->p, FOTA_IMAGE_HDR_SIZE, &ii), FOTA_OK);
	for (size_t i = 0; i < PAYLOAD; i++)
		im->p[FOTA_IMAGE_HDR_SIZE + i] = (uint8_t)(i * 13 + counter);
	assert_int_equal(fota_posix_sha256(im->p, at, d), FOTA_OK);
	for (unsigned i = 0; i < FOTA_SIG_SIZE; i++)
		sg[i] = (uint8_t)(d[i % FOTA_SHA256_SIZE] ^ key);
	at += (size_t)fota_image_put_tlv(im->p + at, 64, FOTA_TLV_SHA256, d, FOTA_SHA256_SIZE);
	/* Unsigned: the room is a private TLV, so only the missing signature is wrong. */
	fota_image_put_tlv(im->p + at, 128, key ? FOTA_TLV_SIGNATURE : 0x8000, sg, FOTA_SIG_SIZE);
}

/* The module is provisioned with module_key and runs firmware of counter 5. */
static void provisioned(void)
{
	acfg.sig = &module_key.port;
	acfg.security_counter = 5;
	restart_agent();
	key_mode("k");
}

static void provisioned_module_stages_an_image_signed_by_its_key(void **state)
{
	(void)state;
	provisioned();
	make_signed(&img2, 5, 0x5A);
	serve_file(KEY_PATH, &img2, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,0,200,0");
	assert_int_equal(reboots, 1);
	assert_staged(&img2, true);
}

static void image_signed_by_another_key_gives_1003_and_is_never_staged(void **state)
{
	int v[256];
	size_t n;

	(void)state;
	provisioned();
	make_signed(&img2, 6, 0x33);
	serve_file(KEY_PATH, &img2, ETAG);
	start();
	while (fota_agent_busy(&agent)) {
		now += poll_once();
		assert_int_not_equal(journal_state(), FOTA_BOOT_STAGED);
	}
	assert_status("+UPGRADE: 2,-1003,200,0");
	n = indications(v, 256);
	assert_int_equal(v[n - 1], -1003);
	assert_int_equal(reboots, 0);
}

static void unsigned_image_gives_1003_on_a_provisioned_module(void **state)
{
	(void)state;
	provisioned();
	/* Room for a signature but none: refused once the trailer is read. */
	make_signed(&img2, 6, 0);
	serve_file(KEY_PATH, &img2, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,-1003,200,0");
	assert_int_equal(reboots, 0);
	assert_int_not_equal(journal_state(), FOTA_BOOT_STAGED);

	/* A trailer too short for any signature (the counter is fine): refused on the header,
	 * nothing erased. */
	fresh(1);
	provisioned();
	make_image_counter(&img2, FAMILY, NEWER, PAYLOAD, 2, 6);
	serve_file(KEY_PATH, &img2, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,-1003,200,0");
	assert_true(srv.body_delivered < 1024 + FOTA_IMAGE_HDR_SIZE);
	assert_int_equal(stage_erases(NULL), 0);
	assert_int_equal(journal_state(), FOTA_BOOT_NONE);
}

static void image_below_the_running_counter_gives_1003_on_its_header(void **state)
{
	(void)state;
	provisioned();
	make_signed(&img2, 4, 0x5A); /* newer version string, lower counter: a downgrade */
	serve_file(KEY_PATH, &img2, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,-1003,200,0");
	assert_true(srv.body_delivered < 1024 + FOTA_IMAGE_HDR_SIZE);
	assert_int_equal(stage_erases(NULL), 0);
	assert_int_equal(journal_state(), FOTA_BOOT_NONE);
	assert_int_equal(reboots, 0);
}

static void image_below_the_journals_floor_gives_1003(void **state)
{
	struct fota_boot_status bs;

	(void)state;
	/* An update to counter 9 was confirmed earlier: the journal's floor is 9 even though
	 * this firmware says 5 (e.g. a stale value built into it). */
	provisioned();
	make_signed(&img2, 9, 0x5A);
	serve_file(KEY_PATH, &img2, ETAG);
	attempt();
	assert_int_equal(reboots, 1);
	assert_int_equal(fota_boot_run(&boot, &bs), FOTA_OK);
	assert_int_equal(fota_boot_confirm(&boot), FOTA_OK);
	assert_int_equal(fota_boot_status(&boot, &bs), FOTA_OK);
	assert_int_equal(bs.floor, 9);
	power_on();
	key_mode("k");
	make_signed(&img2, 8, 0x5A);
	srv.routes[0].body = img2.p;
	srv.routes[0].len = img2.len;
	attempt();
	assert_status("+UPGRADE: 2,-1003,200,0");
	assert_true(srv.body_delivered < img2.len + 1024 + FOTA_IMAGE_HDR_SIZE);
	assert_int_equal(reboots, 1);
}

static void corrupt_header_gives_1003(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	img.p[FOTA_IMAGE_OFF_NAME] ^= 0x01; /* the header CRC no longer holds */
	attempt();
	assert_status("+UPGRADE: 2,-1003,200,0");
	assert_int_equal(stage_erases(NULL), 0);
	img.p[FOTA_IMAGE_OFF_NAME] ^= 0x01;
}

static void answer_that_is_no_image_gives_1003(void **state)
{
	(void)state;
	key_mode("k");
	fake_server_route(&srv, KEY_PATH, FAKE_RAW)->raw =
		"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n<html>upgrade portal</html>";
	attempt();
	assert_status("+UPGRADE: 2,-1003,200,0");
	assert_int_equal(stage_erases(NULL), 0);
}

static void body_shorter_than_the_image_header_gives_1003(void **state)
{
	(void)state;
	key_mode("k");
	fake_server_route(&srv, KEY_PATH, FAKE_RAW)->raw =
		"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nFOTA";
	attempt();
	assert_status("+UPGRADE: 2,-1003,200,0");
}

static void content_length_shorter_than_the_image_gives_1003(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	srv.routes[0].len = 30000; /* the server's file is cut short */
	attempt();
	assert_status("+UPGRADE: 2,-1003,200,0");
	assert_int_equal(journal_state(), FOTA_BOOT_NONE);
	assert_int_equal(reboots, 0);
}

static void body_cut_short_once_is_resumed(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	srv.faults[0] = (struct fake_fault){ .act = FAKE_ACT_CLOSE, .at = 3000 };
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_int_equal(range_from(1), 3000);
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
}

static void link_dropping_every_few_kib_still_delivers_the_image(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	srv.every = (struct fake_fault){ .act = FAKE_ACT_CLOSE, .at = 3000 };
	attempt();
	/* Each try brings 3000 bytes, so the count of tries starts again each time. */
	for (size_t i = 1; i < srv.nconns; i++)
		assert_int_equal(range_from(i), 3000 * i);
	assert_int_equal(srv.nconns, (img.len + 2999) / 3000);
	assert_int_equal(reboots, 1);
	assert_staged(&img, false);
}

static void body_cut_short_with_no_progress_gives_1002_after_all_tries(void **state)
{
	int v[256];
	size_t n;

	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	srv.faults[0] = (struct fake_fault){ .act = FAKE_ACT_CLOSE, .at = 3000 };
	srv.every = (struct fake_fault){ .act = FAKE_ACT_CLOSE, .at = 0 };
	attempt();
	assert_int_equal(srv.nconns, FOTA_DL_TRIES); /* the try with progress is the first */
	for (size_t i = 1; i < srv.nconns; i++)
		assert_int_equal(range_from(i), 3000);
	assert_status("+UPGRADE: 2,-1002,206,0");
	n = indications(v, 256);
	assert_int_equal(v[n - 1], -1002);
	assert_int_equal(reboots, 0);
	assert_int_not_equal(journal_state(), FOTA_BOOT_STAGED);
	/* What came is kept: the next attempt goes on from it. */
	srv.every.act = FAKE_ACT_NONE;
	attempt();
	assert_true(range_from(srv.nconns - 1) <= 3000);
	assert_true(range_from(srv.nconns - 1) + agent.stage.block > 3000);
	assert_int_equal(reboots, 1);
	assert_staged(&img, false);
}

static void body_ending_with_the_connection_cut_short_is_resumed(void **state)
{
	static const uint32_t cuts[] = { 0, 60, 30000 };

	(void)state;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(cuts); i++) {
		fresh(1);
		key_mode("k");
		serve_file(KEY_PATH, &img, ETAG)->no_length = true;
		srv.faults[0] = (struct fake_fault){ .act = FAKE_ACT_CLOSE, .at = cuts[i] };
		attempt();
		assert_int_equal(srv.nconns, 2);
		if (cuts[i] >= FOTA_IMAGE_HDR_SIZE)
			assert_int_equal(range_from(1), cuts[i]);
		else
			assert_null(req_header(1, "Range"));
		assert_int_equal(reboots, 1);
		assert_staged(&img, true);
	}
}

static void bytes_after_the_image_end_give_1003(void **state)
{
	struct image junk = { 0 };

	(void)state;
	junk.len = img.len + 16;
	junk.p = malloc(junk.len);
	assert_non_null(junk.p);
	memcpy(junk.p, img.p, img.len);
	memset(junk.p + img.len, 0x5A, 16);
	key_mode("k");
	serve_file(KEY_PATH, &junk, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,-1003,200,0");
	assert_int_equal(reboots, 0);
	assert_int_not_equal(journal_state(), FOTA_BOOT_STAGED);
	free(junk.p);
}

/* ======================================================================================= */
/* 10. Network failures                                                                     */

static void https_url_asks_the_port_for_tls(void **state)
{
	(void)state;
	url_mode("https://files.test:8443" FW_PATH);
	serve_file(FW_PATH, &img, ETAG);
	attempt();
	assert_int_equal(srv.nconns, 1);
	assert_true(srv.conns[0].tls);
	assert_int_equal(srv.conns[0].port, 8443);
	assert_header((0, "Host"), "files.test:8443");
	assert_status("+UPGRADE: 2,0,200,0");
}

static void failed_tls_handshake_gives_1002_without_retries(void **state)
{
	int v[8];

	(void)state;
	url_mode("https://files.test" FW_PATH);
	serve_file(FW_PATH, &img, ETAG);
	srv.every.ready_err = FOTA_ERR_TLS; /* a bad certificate: retrying cannot help */
	attempt();
	assert_int_equal(srv.nconns, 1);
	assert_status("+UPGRADE: 2,-1002,0,0");
	assert_int_equal(indications(v, 8), 1);
	assert_int_equal(v[0], -1002);
	assert_int_equal(reboots, 0);
}

static void radio_off_gives_1001_without_a_connection(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	mod.radio_on = false;
	start();
	run_until_idle(600000);
	assert_int_equal(srv.nconns, 0);
	assert_status("+UPGRADE: 2,-1001,0,0");
	assert_int_equal(count(term, "+UPGRADEIND: -1001"), 1);
}

/* The failure of every try: FOTA_DL_TRIES connections, each after a doubled backoff. */
static void assert_tries_with_backoff(void)
{
	assert_int_equal(srv.nconns, FOTA_DL_TRIES);
	for (size_t i = 1; i < FOTA_DL_TRIES; i++) {
		uint64_t gap = srv.conns[i].opened_at - srv.conns[i - 1].closed_at;
		uint64_t want = (uint64_t)FOTA_DL_BACKOFF_MS << (i - 1);

		assert_true(gap >= want);
		assert_true(gap <= want + 100);
	}
}

static void dns_failure_every_time_gives_1001_after_all_tries_with_growing_backoff(void **state)
{
	(void)state;
	key_mode("k");
	srv.every = (struct fake_fault){ .ready_err = FOTA_ERR_DNS, .ready_wait = 3 };
	attempt();
	assert_tries_with_backoff();
	assert_status("+UPGRADE: 2,-1001,0,0");
	assert_int_equal(count(term, "+UPGRADEIND: -1001"), 1);
}

static void dns_failure_at_open_is_retried_the_same(void **state)
{
	(void)state;
	key_mode("k");
	srv.every = (struct fake_fault){ .open_err = FOTA_ERR_DNS };
	attempt();
	assert_tries_with_backoff();
	assert_status("+UPGRADE: 2,-1001,0,0");
}

static void refused_connection_gives_1002_after_all_tries(void **state)
{
	(void)state;
	key_mode("k");
	srv.every = (struct fake_fault){ .ready_err = FOTA_ERR_CONNREFUSED };
	attempt();
	assert_tries_with_backoff();
	assert_status("+UPGRADE: 2,-1002,0,0");
	assert_int_equal(count(term, "+UPGRADEIND: -1002"), 1);
}

static void dns_failure_once_is_retried_and_succeeds(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	srv.faults[0] = (struct fake_fault){ .ready_err = FOTA_ERR_DNS };
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_int_equal(reboots, 1);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void no_network_at_open_gives_1001_at_once(void **state)
{
	(void)state;
	key_mode("k");
	srv.every = (struct fake_fault){ .open_err = FOTA_ERR_NETDOWN };
	attempt();
	assert_int_equal(srv.nconns, 1);
	assert_status("+UPGRADE: 2,-1001,0,0");
}

static void stalled_answer_gives_1001_after_the_idle_timeout(void **state)
{
	uint64_t t;

	(void)state;
	acfg.idle_timeout_ms = 500;
	restart_agent();
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	srv.every = (struct fake_fault){ .act = FAKE_ACT_STALL, .at = 0 };
	t = now;
	attempt();
	assert_int_equal(srv.nconns, FOTA_DL_TRIES);
	for (size_t i = 0; i < FOTA_DL_TRIES; i++) {
		uint64_t held = srv.conns[i].closed_at - srv.conns[i].opened_at;

		assert_true(held >= 500);
		assert_true(held <= 600);
	}
	assert_true(now - t >= 4 * 500 + 7 * FOTA_DL_BACKOFF_MS);
	assert_status("+UPGRADE: 2,-1001,200,0");
}

static void stall_before_any_answer_times_out_too(void **state)
{
	(void)state;
	acfg.idle_timeout_ms = 300;
	restart_agent();
	key_mode("k");
	fake_server_route(&srv, KEY_PATH, FAKE_RAW)->raw = ""; /* never answers */
	srv.every = (struct fake_fault){ .act = FAKE_ACT_STALL, .at = 0 };
	attempt();
	assert_int_equal(srv.nconns, FOTA_DL_TRIES);
	assert_status("+UPGRADE: 2,-1001,0,0");
}

static void connect_that_never_completes_times_out(void **state)
{
	(void)state;
	acfg.connect_timeout_ms = 700;
	restart_agent();
	key_mode("k");
	srv.every = (struct fake_fault){ .ready_hang = true };
	attempt();
	assert_int_equal(srv.nconns, FOTA_DL_TRIES);
	assert_true(srv.conns[0].closed_at - srv.conns[0].opened_at >= 700);
	assert_true(srv.conns[0].closed_at - srv.conns[0].opened_at <= 800);
	assert_status("+UPGRADE: 2,-1001,0,0");
}

static void send_that_never_completes_times_out(void **state)
{
	(void)state;
	acfg.idle_timeout_ms = 400;
	restart_agent();
	key_mode("k");
	srv.every = (struct fake_fault){ .send_hang = true };
	attempt();
	assert_int_equal(srv.nconns, FOTA_DL_TRIES);
	assert_true(srv.conns[0].closed_at - srv.conns[0].opened_at <= 500);
	assert_status("+UPGRADE: 2,-1001,0,0");
}

static void send_failing_once_is_retried_and_the_image_staged(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	srv.faults[0] = (struct fake_fault){ .send_err = FOTA_ERR_CONNRESET };
	attempt();
	assert_int_equal(srv.nconns, 2);
	assert_int_equal(srv.conns[0].req_len, 0);
	assert_true(srv.conns[0].closed);
	assert_true(srv.conns[1].opened_at - srv.conns[0].closed_at >= FOTA_DL_BACKOFF_MS);
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void send_failing_every_time_gives_1002_after_all_tries(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	srv.every = (struct fake_fault){ .send_err = FOTA_ERR_CONNRESET };
	attempt();
	assert_tries_with_backoff();
	assert_int_equal(fake_server_open_conns(&srv), 0);
	assert_status("+UPGRADE: 2,-1002,0,0");
	assert_int_equal(count(term, "+UPGRADEIND: -1002"), 1);
	assert_int_equal(reboots, 0);
}

static void garbage_answer_gives_1004(void **state)
{
	(void)state;
	key_mode("k");
	fake_server_route(&srv, KEY_PATH, FAKE_GARBAGE);
	attempt();
	assert_int_equal(srv.nconns, 1);
	assert_status("+UPGRADE: 2,-1004,0,0");
	assert_int_equal(count(term, "+UPGRADEIND: -1004"), 1);
	assert_int_equal(stage_erases(NULL), 0);
}

static void radio_off_mid_download_gives_1001_and_a_later_upgrade_resumes(void **state)
{
	uint64_t first;
	uint32_t from;

	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	start();
	run_until_delivered(30000);
	first = srv.body_delivered;
	at_ok("AT+CFUN=0");
	run_until_idle(600000);
	assert_int_equal(srv.nconns, 1);
	assert_true(srv.conns[0].closed);
	assert_status("+UPGRADE: 2,-1001,200,0");
	assert_int_equal(count(term, "+UPGRADEIND: -1001"), 1);
	at_ok("AT+CFUN=1");
	attempt();
	assert_int_equal(srv.nconns, 2);
	from = range_from(1);
	assert_true(from <= first);
	assert_true(from + agent.stage.block + srv.chunk > first);
	assert_header((1, "If-Range"), ETAG);
	assert_int_equal(reboots, 1);
	assert_staged(&img, false);
	assert_status("+UPGRADE: 2,0,206,0");
}

static void radio_off_while_connecting_gives_1001(void **state)
{
	(void)state;
	key_mode("k");
	srv.every = (struct fake_fault){ .ready_hang = true };
	start();
	now += poll_once();
	at_ok("AT+CFUN=0");
	run_until_idle(5000);
	assert_int_equal(srv.nconns, 1);
	assert_true(srv.conns[0].closed);
	assert_status("+UPGRADE: 2,-1001,0,0");
}

static void partial_of_another_url_is_dropped_and_validators_still_apply(void **state)
{
	(void)state;
	/* B: not newer, its validators kept. */
	make_image(&img2, FAMILY, RUNNING, PAYLOAD, 2);
	url_mode("http://b.test/old.bin");
	serve_file("/old.bin", &img2, ETAG2);
	serve_file(FW_PATH, &img, ETAG);
	attempt();
	assert_status("+UPGRADE: 2,-1004,200,27");
	/* A: a download cut by AT+CFUN=0. */
	url_mode(FW_URL);
	start();
	run_until_delivered(20000);
	at_ok("AT+CFUN=0");
	run_until_idle(600000);
	at_ok("AT+CFUN=1");
	/* Back to B: neither A's range nor A's ETag goes there. */
	url_mode("http://b.test/old.bin");
	attempt();
	assert_int_equal(srv.nconns, 3);
	assert_null(req_header(2, "Range"));
	assert_null(req_header(2, "If-Range"));
	assert_header((2, "If-None-Match"), ETAG2);
	assert_status("+UPGRADE: 2,-1004,304,27");
	/* And A again: fetched from the start. */
	url_mode(FW_URL);
	attempt();
	assert_null(req_header(3, "Range"));
	assert_int_equal(reboots, 1);
	assert_staged(&img, false);
}

/* ======================================================================================= */
/* 11. AT+UPGRADE while it runs                                                             */

static void at_upgrade_while_running_is_not_allowed(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	at_ok("AT+CMEE=1");
	start();
	assert_true(fota_agent_busy(&agent));
	assert_string_equal(at("AT+UPGRADE"), "\r\n+CME ERROR: 3\r\n");
	run_until_delivered(10000);
	assert_string_equal(at("AT+UPGRADE"), "\r\n+CME ERROR: 3\r\n");
	at_ok("AT+CMEE=2");
	assert_string_equal(at("AT+UPGRADE"), "\r\n+CME ERROR: operation not allowed\r\n");
	at_ok("AT+CMEE=0");
	assert_string_equal(at("AT+UPGRADE"), "\r\nERROR\r\n");
	run_until_idle(600000);
	assert_int_equal(srv.nconns, 1);
	assert_int_equal(reboots, 1);
}

static void upgrade_query_during_a_download_gives_state_1_and_the_percent(void **state)
{
	int v[256];
	size_t n;
	char want[64];

	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	start();
	run_until_delivered(img.len / 2);
	n = indications(v, 256);
	assert_true(v[n - 1] >= 45 && v[n - 1] <= 55);
	snprintf(want, sizeof(want), "+UPGRADE: 1,%d", v[n - 1]);
	assert_status(want);
	run_until_idle(600000);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void result_survives_a_reboot(void **state)
{
	(void)state;
	key_mode("k");
	serve_refusal(404, 3);
	attempt();
	assert_status("+UPGRADE: 2,-1004,404,3");
	power_on();
	assert_status("+UPGRADE: 2,-1004,404,3");
}

/* ======================================================================================= */
/* 12. The schedule                                                                         */

static void auto_1_checks_after_the_boot_delay_then_every_period(void **state)
{
	(void)state;
	at_ok("AT+UPGRADE=\"KEY\",\"k\"");
	at_ok("AT+UPGRADE=\"PERIOD\",3600");
	serve_refusal(409, 27);
	restart_agent(); /* the boot: its clock starts now */
	run_for(FOTA_BOOT_CHECK_DELAY_MS - 1);
	assert_int_equal(srv.nconns, 0);
	run_for(10ull * 3600 * 1000 - FOTA_BOOT_CHECK_DELAY_MS + 1);
	assert_int_equal(srv.nconns, 10);
	for (size_t i = 0; i < srv.nconns; i++) {
		uint64_t want = T0 + FOTA_BOOT_CHECK_DELAY_MS + i * 3600ull * 1000;

		assert_true(srv.conns[i].opened_at >= want);
		assert_true(srv.conns[i].opened_at <= want + 100);
	}
	assert_status("+UPGRADE: 2,-1004,409,27");
}

static void default_period_is_a_day(void **state)
{
	(void)state;
	at_ok("AT+UPGRADE=\"KEY\",\"k\"");
	serve_refusal(409, 27);
	run_for(49ull * 3600 * 1000);
	assert_int_equal(srv.nconns, 3); /* 10 s, 24 h 10 s, 48 h 10 s */
	assert_int_equal(srv.conns[1].opened_at - srv.conns[0].opened_at, 86400000u);
}

static void period_scale_makes_the_schedule_faster(void **state)
{
	(void)state;
	at_ok("AT+UPGRADE=\"KEY\",\"k\"");
	at_ok("AT+UPGRADE=\"PERIOD\",3600");
	serve_refusal(409, 27);
	acfg.period_scale = 100;
	restart_agent();
	run_for(FOTA_BOOT_CHECK_DELAY_MS + 10ull * 36000 - 1);
	assert_int_equal(srv.nconns, 10);
	for (size_t i = 1; i < srv.nconns; i++) {
		uint64_t gap = srv.conns[i].opened_at - srv.conns[i - 1].opened_at;

		assert_true(gap >= 36000 && gap <= 36100);
	}
}

static void auto_0_never_connects_and_auto_1_restarts_the_checks(void **state)
{
	uint64_t t;

	(void)state;
	at_ok("AT+UPGRADE=\"KEY\",\"k\"");
	at_ok("AT+UPGRADE=\"PERIOD\",3600");
	at_ok("AT+UPGRADE=\"AUTO\",0");
	serve_refusal(409, 27);
	run_for(48ull * 3600 * 1000);
	assert_int_equal(srv.nconns, 0);
	at_ok("AT+UPGRADE=\"AUTO\",1");
	t = now;
	run_for(FOTA_BOOT_CHECK_DELAY_MS + 2 * 3600ull * 1000 + 1000);
	assert_int_equal(srv.nconns, 3);
	assert_true(srv.conns[0].opened_at - t <= FOTA_BOOT_CHECK_DELAY_MS + 100);
	/* AUTO 0 saved to NV holds after a reboot too. */
	at_ok("AT+UPGRADE=\"AUTO\",0");
	power_on();
	run_for(48ull * 3600 * 1000);
	assert_int_equal(srv.nconns, 3);
}

static void period_change_counts_from_the_last_check(void **state)
{
	(void)state;
	at_ok("AT+UPGRADE=\"KEY\",\"k\"");
	serve_refusal(409, 27);
	run_for(FOTA_BOOT_CHECK_DELAY_MS + 1000);
	assert_int_equal(srv.nconns, 1);
	/* The next check was a day away; one hour after the last one now. */
	at_ok("AT+UPGRADE=\"PERIOD\",3600");
	run_for(10ull * 3600 * 1000 - FOTA_BOOT_CHECK_DELAY_MS - 1000);
	assert_int_equal(srv.nconns, 10);
	assert_true(srv.conns[1].opened_at - srv.conns[0].opened_at >= 3600000);
	assert_true(srv.conns[1].opened_at - srv.conns[0].opened_at <= 3600100);
	/* Longer again: from the last check too. */
	at_ok("AT+UPGRADE=\"PERIOD\",86400");
	run_for(23ull * 3600 * 1000);
	assert_int_equal(srv.nconns, 10);
	run_for(3600ull * 1000);
	assert_int_equal(srv.nconns, 11);
}

static void manual_upgrade_works_with_auto_0(void **state)
{
	(void)state;
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	run_for(3600 * 1000);
	assert_int_equal(srv.nconns, 0);
	attempt();
	assert_int_equal(reboots, 1);
}

static void automatic_check_downloads_a_new_image(void **state)
{
	(void)state;
	at_ok("AT+UPGRADE=\"KEY\",\"k\"");
	serve_file(KEY_PATH, &img, ETAG);
	run_for(FOTA_BOOT_CHECK_DELAY_MS);
	assert_true(fota_agent_busy(&agent));
	run_until_idle(600000);
	assert_int_equal(reboots, 1);
	assert_staged(&img, true);
	assert_progress(0);
}

/* ======================================================================================= */
/* 13. The report after an upgrade                                                          */

static void report_in_key_mode_carries_the_running_version_and_says_1(void **state)
{
	static const int statuses[] = { 409, 404, 500, 200 };

	(void)state;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(statuses); i++) {
		fresh(1);
		key_mode("k");
		if (statuses[i] == 200)
			serve_file(KEY_PATH, &img, ETAG);
		else
			serve_refusal(statuses[i], 27);
		fota_agent_report(&agent);
		run_for(100);
		run_until_idle(600000);
		assert_int_equal(srv.nconns, 1);
		assert_string_equal(req_line(0), "GET " KEY_PATH "?project_key=k&imei=" IMEI
				    "&firmware_name=" FAMILY "&version=" RUNNING " HTTP/1.1");
		assert_int_equal(count(term, "\r\n+UPGRADEVER: 1\r\n"), 1);
		assert_int_equal(count(term, "+UPGRADEVER: 0"), 0);
		assert_int_equal(count(term, "+UPGRADEIND"), 0);
		assert_status("+UPGRADE: 0"); /* the report is no upgrade attempt */
		assert_int_equal(stage_erases(NULL), 0);
		assert_int_equal(reboots, 0);
	}
}

static void report_to_an_unreachable_server_says_0(void **state)
{
	(void)state;
	key_mode("k");
	srv.every = (struct fake_fault){ .ready_err = FOTA_ERR_DNS };
	fota_agent_report(&agent);
	run_for(100);
	run_until_idle(600000);
	assert_int_equal(count(term, "\r\n+UPGRADEVER: 0\r\n"), 1);
	assert_int_equal(count(term, "+UPGRADEVER: 1"), 0);
	assert_int_equal(count(term, "+UPGRADEIND"), 0);
	assert_status("+UPGRADE: 0");
}

static void report_in_url_mode_says_0_at_once_without_a_connection(void **state)
{
	(void)state;
	url_mode(FW_URL);
	term_len = 0;
	term[0] = '\0';
	fota_agent_report(&agent);
	assert_string_equal(term, "\r\n+UPGRADEVER: 0\r\n");
	run_for(60000);
	assert_int_equal(srv.nconns, 0);
}

static void report_is_the_check_in_and_keeps_the_result_a_period(void **state)
{
	(void)state;
	at_ok("AT+UPGRADE=\"KEY\",\"k\"");
	at_ok("AT+UPGRADE=\"PERIOD\",3600");
	mod.status = (struct fota_status){ .state = 2, .http = 200 };
	serve_refusal(409, 27);
	fota_agent_report(&agent);
	run_for(3599ull * 1000);
	assert_int_equal(srv.nconns, 1); /* the report at once; no check for a period */
	assert_true(srv.conns[0].opened_at < T0 + 100);
	assert_int_equal(count(term, "+UPGRADEVER: 1"), 1);
	assert_status("+UPGRADE: 2,0,200,0"); /* the upgrade's result, still */
	run_for(2000);
	assert_int_equal(srv.nconns, 2);
}

/* The module ran RUNNING from R, downloaded img (NEWER), installed it, and the new
 * firmware never confirmed itself: the boot code put RUNNING back (REVERTED), and S still
 * holds img. */
static void revert_newer(void)
{
	struct fota_boot_status bs;

	make_image(&img2, FAMILY, RUNNING, 20000, 5);
	memcpy(mem + boot.layout.run_addr, img2.p, img2.len);
	key_mode("k");
	serve_file(KEY_PATH, &img, ETAG);
	attempt();
	assert_int_equal(reboots, 1);
	for (int i = 0; i < 8 && journal_state() != FOTA_BOOT_REVERTED; i++)
		assert_int_equal(fota_boot_run(&boot, &bs), FOTA_OK);
	assert_int_equal(journal_state(), FOTA_BOOT_REVERTED);
	assert_memory_equal(mem + boot.layout.run_addr, img2.p, img2.len);
	assert_memory_equal(mem + boot.layout.stage_addr + SECTOR, img.p, img.len);
}

static void image_reverted_here_is_not_fetched_again_but_a_newer_one_is(void **state)
{
	uint32_t erases;
	int v[8];

	(void)state;
	revert_newer();
	power_on();
	/* The server still offers NEWER: its header is enough to stop. */
	erases = stage_erases(NULL);
	attempt();
	assert_status("+UPGRADE: 2,-1004,200,27");
	assert_int_equal(indications(v, 8), 0);
	assert_true(srv.body_delivered - img.len < 1024 + FOTA_IMAGE_HDR_SIZE);
	assert_int_equal(stage_erases(NULL), erases);
	assert_int_equal(journal_state(), FOTA_BOOT_REVERTED);
	assert_int_equal(reboots, 1);
	/* A newer firmware is published: it is fetched and staged. */
	make_image(&img2, FAMILY, "AirM2M_780E_V1123_LTE_AT", PAYLOAD, 3);
	srv.routes[0].body = img2.p;
	srv.routes[0].len = img2.len;
	srv.routes[0].etag = ETAG2;
	attempt();
	assert_int_equal(reboots, 2);
	assert_int_equal(journal_state(), FOTA_BOOT_STAGED);
	assert_memory_equal(mem + boot.layout.stage_addr + SECTOR, img2.p, img2.len);
	assert_status("+UPGRADE: 2,0,200,0");
}

static void agent_starts_when_the_reverted_images_header_cannot_be_read(void **state)
{
	uint32_t hdr = boot.layout.stage_addr + SECTOR;

	(void)state;
	revert_newer();
	flaky_reads(hdr, hdr + FOTA_IMAGE_HDR_SIZE, FOTA_ERR_IO);
	assert_int_equal(fota_agent_init(&agent, &acfg, now), FOTA_OK);
	assert_true(ff.failed > 0);
	assert_false(fota_agent_busy(&agent));
	/* The agent works: with the flash back, a newer image is staged. */
	ff.lo = ff.hi = 0;
	make_image(&img2, FAMILY, "AirM2M_780E_V1123_LTE_AT", PAYLOAD, 3);
	srv.routes[0].body = img2.p;
	srv.routes[0].len = img2.len;
	attempt();
	assert_int_equal(reboots, 2);
	assert_int_equal(journal_state(), FOTA_BOOT_STAGED);
}

/* ======================================================================================= */
/* 14. Cost on the wire                                                                     */

static void empty_key_mode_check_costs_under_400_bytes_on_the_wire(void **state)
{
	static const char answer_409[] = "HTTP/1.1 409 Conflict\r\nContent-Length: 11\r\n\r\n"
					  "{\"code\":27}";
	size_t req, ans;

	(void)state;
	key_mode("0123456789abcdef0123456789abcdef"); /* a 32-character ProductKey */
	fake_server_route(&srv, KEY_PATH, FAKE_RAW)->raw = answer_409;
	attempt();
	assert_status("+UPGRADE: 2,-1004,409,27");
	req = srv.conns[0].req_len;
	ans = sizeof(answer_409) - 1;
	printf("    empty KEY-mode check: request %zu bytes + answer %zu bytes = %zu bytes\n", req,
	       ans, req + ans);
	assert_true(req + ans < 400);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(key_mode_check_is_the_luat_query_percent_encoded_with_host_and_port),
		T(longest_key_needing_encoding_fits_the_request),
		T(key_mode_default_port_is_left_out_of_host),
		T(init_refuses_a_config_missing_a_port_or_the_family),
		T(key_mode_server_that_is_no_url_gives_1000_without_a_connection),
		T(key_mode_server_too_long_for_the_api_path_gives_1000),
		T(check_request_too_long_to_write_gives_1000_without_sending_it),
		T(key_mode_refusals_report_the_servers_cause),
		T(refusal_without_json_has_cause_0),
		T(refusal_with_code_after_the_message_is_understood),
		T(key_mode_does_not_follow_a_redirect),
		T(key_mode_image_is_staged_and_reboot_asked_once),
		T(key_mode_image_in_one_byte_chunks_is_staged),
		T(small_image_in_large_reads_still_says_every_percent),
		T(image_is_staged_on_flash_with_8_byte_program_units),
		T(chunked_answer_is_staged),
		T(request_sent_in_small_pieces_is_whole),
		T(key_mode_image_not_newer_is_the_latest),
		T(url_mode_same_or_older_version_stops_after_the_image_header),
		T(url_mode_unchanged_file_is_asked_with_its_etag_and_304_is_the_latest),
		T(malformed_validator_record_is_ignored_and_replaced_by_the_next_answers),
		T(url_mode_changed_file_is_fetched_despite_old_validators),
		T(url_mode_newer_image_is_staged),
		T(url_mode_follows_relative_and_absolute_redirects),
		T(relative_redirect_keeps_the_port),
		T(path_relative_and_scheme_relative_redirects_are_resolved),
		T(query_only_redirect_keeps_the_path),
		T(fragment_only_redirect_keeps_the_path_and_query),
		T(relative_redirect_from_a_url_without_a_path_gets_its_slash),
		T(short_relative_redirect_and_upper_case_scheme_are_resolved),
		T(redirect_to_another_scheme_gives_1004_without_following),
		T(redirect_to_a_location_that_is_no_url_gives_1000),
		T(relative_redirect_making_the_url_too_long_gives_1004),
		T(five_redirects_are_followed),
		T(six_redirects_in_a_row_give_1004),
		T(redirect_to_https_is_followed_over_tls_on_port_443),
		T(lost_connection_resumes_with_range_of_exactly_the_bytes_received),
		T(lost_connection_twice_resumes_twice),
		T(server_answering_200_to_a_range_restarts_the_image),
		T(changed_etag_between_tries_fetches_the_new_file_whole),
		T(changed_etag_then_cut_in_the_new_header_does_not_mix_the_files),
		T(range_answer_for_other_bytes_restarts_the_download),
		T(whole_image_whose_answer_end_is_lost_is_staged_without_asking_again),
		T(power_cut_mid_download_resumes_after_the_boot_delay),
		T(power_cut_with_auto_0_waits_for_at_upgrade),
		T(power_cut_at_flash_operations_of_a_download_resumes_without_refetching),
		T(wrong_firmware_name_gives_1003_and_nothing_staged),
		T(image_too_big_for_the_slot_gives_1005_without_erasing),
		T(corrupt_payload_byte_gives_1003_and_is_never_staged),
		T(journal_unreadable_at_the_header_check_gives_1005_and_erases_nothing),
		T(flash_saying_again_at_the_header_check_ends_the_attempt_as_1006),
		T(corrupt_header_gives_1003),
		T(provisioned_module_stages_an_image_signed_by_its_key),
		T(image_signed_by_another_key_gives_1003_and_is_never_staged),
		T(unsigned_image_gives_1003_on_a_provisioned_module),
		T(image_below_the_running_counter_gives_1003_on_its_header),
		T(image_below_the_journals_floor_gives_1003),
		T(answer_that_is_no_image_gives_1003),
		T(body_shorter_than_the_image_header_gives_1003),
		T(content_length_shorter_than_the_image_gives_1003),
		T(body_cut_short_once_is_resumed),
		T(link_dropping_every_few_kib_still_delivers_the_image),
		T(body_cut_short_with_no_progress_gives_1002_after_all_tries),
		T(body_ending_with_the_connection_cut_short_is_resumed),
		T(bytes_after_the_image_end_give_1003),
		T(https_url_asks_the_port_for_tls),
		T(failed_tls_handshake_gives_1002_without_retries),
		T(radio_off_gives_1001_without_a_connection),
		T(dns_failure_every_time_gives_1001_after_all_tries_with_growing_backoff),
		T(dns_failure_at_open_is_retried_the_same),
		T(refused_connection_gives_1002_after_all_tries),
		T(dns_failure_once_is_retried_and_succeeds),
		T(no_network_at_open_gives_1001_at_once),
		T(stalled_answer_gives_1001_after_the_idle_timeout),
		T(stall_before_any_answer_times_out_too),
		T(connect_that_never_completes_times_out),
		T(send_that_never_completes_times_out),
		T(send_failing_once_is_retried_and_the_image_staged),
		T(send_failing_every_time_gives_1002_after_all_tries),
		T(garbage_answer_gives_1004),
		T(radio_off_mid_download_gives_1001_and_a_later_upgrade_resumes),
		T(radio_off_while_connecting_gives_1001),
		T(partial_of_another_url_is_dropped_and_validators_still_apply),
		T(at_upgrade_while_running_is_not_allowed),
		T(upgrade_query_during_a_download_gives_state_1_and_the_percent),
		T(result_survives_a_reboot),
		T(auto_1_checks_after_the_boot_delay_then_every_period),
		T(default_period_is_a_day),
		T(period_scale_makes_the_schedule_faster),
		T(auto_0_never_connects_and_auto_1_restarts_the_checks),
		T(period_change_counts_from_the_last_check),
		T(manual_upgrade_works_with_auto_0),
		T(automatic_check_downloads_a_new_image),
		T(report_in_key_mode_carries_the_running_version_and_says_1),
		T(report_to_an_unreachable_server_says_0),
		T(report_in_url_mode_says_0_at_once_without_a_connection),
		T(report_is_the_check_in_and_keeps_the_result_a_period),
		T(image_reverted_here_is_not_fetched_again_but_a_newer_one_is),
		T(agent_starts_when_the_reverted_images_header_cannot_be_read),
		T(empty_key_mode_check_costs_under_400_bytes_on_the_wire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
