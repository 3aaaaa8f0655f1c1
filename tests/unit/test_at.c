/* Unit tests of the AT engine and the module's commands, AT+UPGRADE settings included. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fota/module.h"
#include "fota/simflash.h"

#define SECTOR 4096
#define NV_BASE (2 * SECTOR)
#define NV_SIZE (2 * SECTOR)

static uint8_t flash_mem[4 * SECTOR];
static struct fota_simflash sf;
static struct fota_module mod;
static char outbuf[1 << 16];
static size_t outlen;
static int upgrade_calls;

static const struct fota_module_info info = {
	.manufacturer = "AirM2M",
	.model = "Air780E",
	.version = "AirM2M_780E_V1121_LTE_AT",
	.imei = "864000000000008",
};

static void capture(void *ctx, const char *data, size_t len)
{
	(void)ctx;
	if (len > sizeof(outbuf) - 1 - outlen)
		len = sizeof(outbuf) - 1 - outlen; /* the tests that flood only look at the end */
	memcpy(outbuf + outlen, data, len);
	outlen += len;
	outbuf[outlen] = '\0';
}

/* The execute form's hook: says a URC from inside the command, as a real start may. */
static int fake_upgrade(struct fota_module *m, void *ctx)
{
	(void)ctx;
	upgrade_calls++;
	fota_at_urc(&m->at, "+UPGRADEIND: 0");
	return FOTA_OK;
}

static void boot(bool with_upgrade)
{
	struct fota_module_config cfg = {
		.flash = &sf.flash,
		.nv_base = NV_BASE,
		.nv_size = NV_SIZE,
		.info = &info,
		.write = capture,
		.upgrade = with_upgrade ? fake_upgrade : NULL,
		.cmds = fota_module_basic_cmds, /* as fotad gives them */
		.ncmds = FOTA_MODULE_BASIC_CMDS,
	};

	assert_int_equal(fota_module_init(&mod, &cfg), FOTA_OK);
	outlen = 0;
	outbuf[0] = '\0';
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(fota_simflash_init_mem(&sf, flash_mem, sizeof(flash_mem), SECTOR, 1), FOTA_OK);
	fota_simflash_format(&sf);
	boot(false);
	upgrade_calls = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fota_simflash_close(&sf);
	return 0;
}

/* Sends one line (echo off unless the test turned it on) and returns what came back. */
static const char *cmd(const char *line)
{
	outlen = 0;
	outbuf[0] = '\0';
	fota_module_input(&mod, line, strlen(line));
	fota_module_input(&mod, "\r", 1);
	return outbuf;
}

static void echo_off(void)
{
	assert_string_equal(cmd("ATE0"), "ATE0\r\r\nOK\r\n");
}

static void plain_at_answers_ok(void **state)
{
	(void)state;
	assert_string_equal(cmd("AT"), "AT\r\r\nOK\r\n"); /* echo is on after boot */
	echo_off();
	assert_string_equal(cmd("AT"), "\r\nOK\r\n");
	assert_string_equal(cmd("at"), "\r\nOK\r\n");
}

static const char script[] =
	"ATE1\r\nAT+CMEE=1\r\nAT+UPGRADE=\"KEY\",\"abc\"\r\nAT+UPGRADE=\"key\"\r\n"
	"AT+UPGRADE=\"AUTO\",2\r\nATI\r\nAT+UPGRADE?\r\nAT+CGSN;+CGMR\r\nAT+UPGRADE=?\r\n"
	"AT+FOO\r\nhello\rAT+CFUN=0\rAT+CSQ\rAT+CREG?\rAT+UPGRADE=\"PERIOD\",\"60\"\r";

/* Runs the script in chunks of n bytes (0: all at once) on a fresh module; returns the
 * answer, a copy owned by the caller. */
static char *run_script_in_chunks(size_t n)
{
	size_t len = sizeof(script) - 1;

	fota_simflash_format(&sf);
	boot(false);
	for (size_t i = 0; i < len; i += n ? n : len)
		fota_module_input(&mod, script + i, n && n < len - i ? n : len - i);
	return strdup(outbuf);
}

static void answer_is_the_same_byte_by_byte_and_whole(void **state)
{
	char *whole = run_script_in_chunks(0);
	static const size_t chunks[] = { 1, 2, 3, 7, 64 };

	(void)state;
	assert_non_null(strstr(whole, "+UPGRADE: \"KEY\",\"abc\"\r\n"));
	assert_non_null(strstr(whole, "+CME ERROR: 50\r\n"));
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(chunks); i++) {
		char *got = run_script_in_chunks(chunks[i]);

		assert_string_equal(got, whole);
		free(got);
	}
	free(whole);
}

static void lf_is_ignored_and_backspace_edits(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("\nAT+CGMX\b\bMR"), "\r\nAirM2M_780E_V1121_LTE_AT\r\n\r\nOK\r\n");
	/* Backspaces past the start of the line do nothing. */
	assert_string_equal(cmd("\b\b\bAT"), "\r\nOK\r\n");
	assert_string_equal(cmd("ATX\x7f"), "\r\nOK\r\n");
}

static void echo_returns_what_was_typed_including_edits(void **state)
{
	(void)state;
	assert_string_equal(cmd("ATQ\b"), "ATQ\b\r\r\nOK\r\n");
	assert_string_equal(cmd("ATE1"), "ATE1\r\r\nOK\r\n");
	assert_string_equal(cmd("ATE"), "ATE\r\r\nOK\r\n"); /* E alone is E0 */
	assert_string_equal(cmd("AT"), "\r\nOK\r\n");
	/* A basic command with a read or test form is refused before it runs. */
	cmd("ATE1");
	assert_string_equal(cmd("ATE?"), "ATE?\r\r\nERROR\r\n");
	assert_string_equal(cmd("ATE=0"), "ATE=0\r\r\nERROR\r\n");
	assert_true(mod.at.flags & FOTA_AT_F_ECHO);
}

static void names_are_case_insensitive_and_spaces_ignored(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("at+cgsn"), "\r\n864000000000008\r\n\r\nOK\r\n");
	assert_string_equal(cmd("aT + CgSn"), "\r\n864000000000008\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE = \"Key\" , \"a b\""), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"KEY\""), "\r\n+UPGRADE: \"KEY\",\"a b\"\r\n\r\nOK\r\n");
}

static void identity_commands_answer_the_module_info(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("ATI"),
			    "\r\nAirM2M\r\nAir780E\r\nRevision: AirM2M_780E_V1121_LTE_AT\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CGMR"), "\r\nAirM2M_780E_V1121_LTE_AT\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CGSN"), "\r\n864000000000008\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CGSN=?"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+CGSN?"), "\r\nERROR\r\n");
}

static void unknown_commands_answer_plain_error_whatever_cmee(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("AT+FOO"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CMEE=2"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+FOO=1"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT#"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CGSNX"), "\r\nERROR\r\n");
	/* A name with a byte V.250 does not allow in one names no command: nothing runs. */
	assert_string_equal(cmd("AT+CMEE#=0"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CMEE\"=0"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CMEE=0;+CMEE#?"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CMEE?"), "\r\n+CMEE: 0\r\n\r\nOK\r\n");
}

static void cmee_selects_error_number_or_text(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("AT+UPGRADE=\"AUTO\",2"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CMEE=1"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"AUTO\",2"), "\r\n+CME ERROR: 50\r\n");
	assert_string_equal(cmd("AT+CMEE=2"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"AUTO\",2"), "\r\n+CME ERROR: incorrect parameters\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"KEY\",\"\x01\""),
			    "\r\n+CME ERROR: invalid characters in text string\r\n");
	assert_string_equal(cmd("AT+CMEE?"), "\r\n+CMEE: 2\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CMEE=?"), "\r\n+CMEE: (0-2)\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CMEE=3"), "\r\n+CME ERROR: incorrect parameters\r\n");
	assert_string_equal(cmd("AT+CMEE=0"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+CMEE=1,2"), "\r\nERROR\r\n");
}

static void radio_commands_follow_cfun(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("AT+CFUN?"), "\r\n+CFUN: 1\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CSQ"), "\r\n+CSQ: 26,99\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CREG?"), "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CFUN=0"), "\r\nOK\r\n");
	assert_false(mod.radio_on);
	assert_string_equal(cmd("AT+CFUN?"), "\r\n+CFUN: 0\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CSQ"), "\r\n+CSQ: 99,99\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CREG?"), "\r\n+CREG: 0,0\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CFUN=2"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CFUN=?"), "\r\n+CFUN: (0,1)\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CFUN=1"), "\r\nOK\r\n");
	assert_true(mod.radio_on);
}

static void several_commands_on_one_line_share_one_result(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("AT+CMEE=1;+CGSN"), "\r\n864000000000008\r\n\r\nOK\r\n");
	/* The first failing command stops the line. */
	assert_string_equal(cmd("AT+CMEE=0;+UPGRADE=\"AUTO\",5;+CMEE=2"), "\r\nERROR\r\n");
	assert_int_equal(mod.at.cmee, 0);
	/* A ';' inside a quoted string is part of the value. */
	assert_string_equal(cmd("AT+UPGRADE=\"KEY\",\"a;b\";+UPGRADE=\"KEY\""),
			    "\r\n+UPGRADE: \"KEY\",\"a;b\"\r\n\r\nOK\r\n");
}

static void lines_without_at_prefix_get_no_answer(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("hello"), "");
	assert_string_equal(cmd(""), "");
	assert_string_equal(cmd("A"), "");
	/* Noise before the prefix is dropped, as a UART's line noise would be. */
	assert_string_equal(cmd("\x01\x02zzAT"), "\r\nOK\r\n");
}

static void overlong_line_answers_error_and_next_line_works(void **state)
{
	char line[FOTA_AT_LINE_MAX + 40];

	(void)state;
	echo_off();
	memset(line, 'A', sizeof(line) - 1);
	line[0] = 'A';
	line[1] = 'T';
	line[sizeof(line) - 1] = '\0';
	assert_string_equal(cmd(line), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT"), "\r\nOK\r\n");
	/* Exactly the buffer's size is still a line. */
	memcpy(line, "AT+UPGRADE=\"KEY\",\"", 18);
	line[FOTA_AT_LINE_MAX] = '\0';
	assert_string_equal(cmd(line), "\r\nERROR\r\n"); /* unterminated quote, not overflow */
	assert_int_equal(mod.at.flags & FOTA_AT_F_OVERFLOW, 0);
}

static void megabytes_of_noise_never_wedge_the_engine(void **state)
{
	static char noise[1 << 20];
	uint32_t x = 12345;

	(void)state;
	echo_off();
	for (size_t i = 0; i < sizeof(noise); i++) {
		x = x * 1103515245u + 12345u;
		noise[i] = (char)(x >> 16);
	}
	for (int round = 0; round < 4; round++) {
		fota_module_input(&mod, noise, sizeof(noise));
		/* NUL bytes alone, and a long run without any CR. */
		fota_module_input(&mod, "\0\0\0\0", 4);
	}
	/* Noise may have changed echo or CMEE: end its last line, get a known state again,
	 * then every line works. */
	fota_module_input(&mod, "\r", 1);
	cmd("ATE0");
	assert_string_equal(cmd("AT+CMEE=0"), "\r\nOK\r\n");
	assert_non_null(strstr(cmd("AT+UPGRADE=\"PERIOD\""), "+UPGRADE: \"PERIOD\","));
	assert_non_null(strstr(cmd("AT+CGSN"), "864000000000008"));
}

static void urc_during_a_command_comes_after_its_final_result(void **state)
{
	(void)state;
	boot(true);
	echo_off();
	assert_string_equal(cmd("AT+UPGRADE"), "\r\nOK\r\n\r\n+UPGRADEIND: 0\r\n");
	assert_int_equal(upgrade_calls, 1);
	/* Idle: a URC goes out at once. */
	outlen = 0;
	fota_at_urc(&mod.at, "RDY");
	assert_string_equal(outbuf, "\r\nRDY\r\n");
}

static void urc_queue_full_drops_and_counts(void **state)
{
	char urc[FOTA_AT_URC_BUF];

	(void)state;
	memset(urc, 'U', sizeof(urc) - 1);
	urc[sizeof(urc) - 1] = '\0';
	mod.at.flags |= FOTA_AT_F_BUSY;
	assert_int_equal(fota_at_urc(&mod.at, urc), FOTA_ERR_NOMEM);
	assert_int_equal(fota_at_urc(&mod.at, "+UPGRADEIND: 5"), FOTA_OK);
	assert_int_equal(mod.at.urc_lost, 1);
	mod.at.flags &= (uint8_t)~FOTA_AT_F_BUSY;
}

static void upgrade_exec_without_downloader_is_not_supported(void **state)
{
	(void)state;
	echo_off();
	cmd("AT+CMEE=1");
	assert_string_equal(cmd("AT+UPGRADE"), "\r\n+CME ERROR: 4\r\n");
}

static void upgrade_defaults_and_state(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("AT+UPGRADE=\"KEY\""), "\r\n+UPGRADE: \"KEY\",\"\"\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"AUTO\""), "\r\n+UPGRADE: \"AUTO\",1\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"PERIOD\""), "\r\n+UPGRADE: \"PERIOD\",86400\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"URL\""), "\r\n+UPGRADE: \"URL\",\"\"\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 0\r\n\r\nOK\r\n");
	mod.status = (struct fota_status){ .state = 1, .percent = 42 };
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 1,42\r\n\r\nOK\r\n");
	mod.status = (struct fota_status){ .state = 2, .code = -1004, .http = 404, .cause = 27 };
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 2,-1004,404,27\r\n\r\nOK\r\n");
	mod.status = (struct fota_status){ .state = 2, .http = 200 };
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 2,0,200,0\r\n\r\nOK\r\n");
}

static void upgrade_test_form_lists_every_tag(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("AT+UPGRADE=?"),
			    "\r\n+UPGRADE: \"KEY\",64,(0,1)\r\n"
			    "+UPGRADE: \"AUTO\",(0,1),(0,1)\r\n"
			    "+UPGRADE: \"PERIOD\",(60-4294967295),(0,1)\r\n"
			    "+UPGRADE: \"URL\",255,(0,1)\r\n\r\nOK\r\n");
}

static void upgrade_set_each_tag_and_query_it(void **state)
{
	char url[FOTA_URL_MAX + 1], line[FOTA_AT_LINE_MAX + 1], want[400];

	(void)state;
	echo_off();
	assert_string_equal(cmd("AT+UPGRADE=\"KEY\",\"a1b2c3\""), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"KEY\""), "\r\n+UPGRADE: \"KEY\",\"a1b2c3\"\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"auto\",0"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"AUTO\""), "\r\n+UPGRADE: \"AUTO\",0\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"PERIOD\",4294967295"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"PERIOD\""),
			    "\r\n+UPGRADE: \"PERIOD\",4294967295\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"PERIOD\",60,0"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"URL\",\"http://host/fw.bin\""), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"URL\""),
			    "\r\n+UPGRADE: \"URL\",\"http://host/fw.bin\"\r\n\r\nOK\r\n");
	/* The longest legal line: a 255-byte URL with savetoNV. */
	strcpy(url, "https://example.com/");
	memset(url + 20, 'x', FOTA_URL_MAX - 20);
	url[FOTA_URL_MAX] = '\0';
	snprintf(line, sizeof(line), "AT+UPGRADE=\"URL\",\"%s\",1", url);
	assert_string_equal(cmd(line), "\r\nOK\r\n");
	snprintf(want, sizeof(want), "\r\n+UPGRADE: \"URL\",\"%s\"\r\n\r\nOK\r\n", url);
	assert_string_equal(cmd("AT+UPGRADE=\"URL\""), want);
	/* Empty values go back to the defaults' meaning: no key, KEY mode. */
	assert_string_equal(cmd("AT+UPGRADE=\"URL\",\"\""), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"KEY\",\"\""), "\r\nOK\r\n");
	assert_string_equal(mod.settings.now.key, "");
}

/* Every class of bad input answers ERROR and leaves the settings as they were. */
static void upgrade_bad_input_answers_error_and_changes_nothing(void **state)
{
	static const char *const bad[] = {
		"AT+UPGRADE=\"FOO\",1",                 /* unknown tag */
		"AT+UPGRADE=\"FOO\"",
		"AT+UPGRADE=KEY,\"x\"",                 /* tag not quoted */
		"AT+UPGRADE=",                          /* missing parameters */
		"AT+UPGRADE=,1",
		"AT+UPGRADE=\"AUTO\",",
		"AT+UPGRADE=\"AUTO\",1,0,0",            /* extra parameter */
		"AT+UPGRADE=\"AUTO\",2",                /* out of range */
		"AT+UPGRADE=\"AUTO\",-1",
		"AT+UPGRADE=\"AUTO\",\"1\"",            /* wrong type */
		"AT+UPGRADE=\"PERIOD\",59",
		"AT+UPGRADE=\"PERIOD\",4294967296",
		"AT+UPGRADE=\"PERIOD\",99999999999999999999",
		"AT+UPGRADE=\"PERIOD\",abc",
		"AT+UPGRADE=\"PERIOD\",600x",
		"AT+UPGRADE=\"PERIOD\",+600",
		"AT+UPGRADE=\"KEY\",abc",               /* string not quoted */
		"AT+UPGRADE=\"KEY\",\"abc",             /* unterminated quote */
		"AT+UPGRADE=\"KEY\",\"abc\"x",          /* junk after the quote */
		"AT+UPGRADE=\"KEY\",\"a\x01z\"",        /* control character */
		"AT+UPGRADE=\"KEY\",\"a\xe4z\"",        /* not ASCII */
		"AT+UPGRADE=\"KEY\",\"0123456789012345678901234567890123456789012345678901234567890123X\"",
		"AT+UPGRADE=\"URL\",\"ftp://host/fw.bin\"",
		"AT+UPGRADE=\"URL\",\"host/fw.bin\"",
		"AT+UPGRADE=\"URL\",\"http://\"",
		"AT+UPGRADE=\"URL\",\"http://ho st/\"",
		"AT+UPGRADE=\"URL\",\"http://user@host/\"",
		"AT+UPGRADE=\"URL\",\"http://host:0/\"",
		"AT+UPGRADE=\"URL\",\"http://host:65536/\"",
		"AT+UPGRADE=\"URL\",1",
		"AT+UPGRADE=\"AUTO\",0,2",              /* savetoNV out of range */
		"AT+UPGRADE=\"AUTO\",0,\"0\"",
		"AT+UPGRADE=\"AUTO\",0,",
		"AT+UPGRADE=\"AUTO\"x",
		"AT+UPGRADE=\"KEY\"\"",
		"AT+UPGRADE?1",
		"AT+UPGRADE=?1",
	};
	char long_url[FOTA_AT_LINE_MAX + 8];
	struct fota_settings before;
	uint32_t progs;

	(void)state;
	echo_off();
	cmd("AT+UPGRADE=\"KEY\",\"keep\"");
	before = mod.settings.now;
	progs = sf.stats.progs + sf.stats.erases;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(bad); i++) {
		const char *got = cmd(bad[i]);

		if (strcmp(got, "\r\nERROR\r\n") != 0)
			fail_msg("line %zu <%s> answered <%s>", i, bad[i], got);
		assert_memory_equal(&mod.settings.now, &before, sizeof(before));
	}
	/* A URL over 255 bytes (the line still fits the buffer). */
	strcpy(long_url, "AT+UPGRADE=\"URL\",\"http://h/");
	memset(long_url + strlen(long_url), 'x', 250);
	long_url[27 + 250] = '"';
	long_url[27 + 251] = '\0';
	assert_string_equal(cmd(long_url), "\r\nERROR\r\n");
	cmd("AT+CMEE=1");
	assert_string_equal(cmd(long_url), "\r\n+CME ERROR: 24\r\n");
	assert_memory_equal(&mod.settings.now, &before, sizeof(before));
	assert_int_equal(sf.stats.progs + sf.stats.erases, progs); /* NV untouched */
}

static void saved_settings_survive_a_reboot(void **state)
{
	(void)state;
	echo_off();
	cmd("AT+UPGRADE=\"KEY\",\"persist\"");
	cmd("AT+UPGRADE=\"AUTO\",0,0");
	cmd("AT+UPGRADE=\"PERIOD\",3600");
	cmd("AT+UPGRADE=\"URL\",\"http://10.0.0.1:8080/a.bin\"");
	boot(false);
	assert_string_equal(mod.settings.now.key, "persist");
	assert_int_equal(mod.settings.now.autoup, 0);
	assert_int_equal(mod.settings.now.period, 3600);
	assert_string_equal(mod.settings.now.url, "http://10.0.0.1:8080/a.bin");
}

static void unsaved_settings_last_until_the_next_reboot(void **state)
{
	(void)state;
	echo_off();
	cmd("AT+UPGRADE=\"KEY\",\"saved\"");
	assert_string_equal(cmd("AT+UPGRADE=\"KEY\",\"temporary\",1"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE=\"KEY\""),
			    "\r\n+UPGRADE: \"KEY\",\"temporary\"\r\n\r\nOK\r\n");
	/* Saving another tag must not save the temporary key with it. */
	cmd("AT+UPGRADE=\"PERIOD\",120");
	boot(false);
	assert_string_equal(mod.settings.now.key, "saved");
	assert_int_equal(mod.settings.now.period, 120);
}

static void failed_nv_save_answers_error_and_changes_nothing(void **state)
{
	(void)state;
	echo_off();
	cmd("AT+CMEE=1");
	cmd("AT+UPGRADE=\"KEY\",\"old\"");
	fota_simflash_cut_power(&sf, 1, FOTA_CUT_TORN);
	assert_string_equal(cmd("AT+UPGRADE=\"KEY\",\"new\""), "\r\n+CME ERROR: 0\r\n");
	assert_string_equal(mod.settings.now.key, "old");
	fota_simflash_power_on(&sf);
	boot(false);
	assert_string_equal(mod.settings.now.key, "old");
}

static void urc_with_a_number_and_one_number_arguments(void **state)
{
	uint32_t v = 9;

	(void)state;
	outlen = 0;
	assert_int_equal(fota_at_urc_i32(&mod.at, "+UPGRADEIND: ", -1002), FOTA_OK);
	assert_int_equal(fota_at_urc_i32(&mod.at, "+UPGRADEDL: ", 100), FOTA_OK);
	assert_int_equal(fota_at_urc_i32(&mod.at, "+X: ", INT32_MIN), FOTA_OK);
	assert_string_equal(outbuf, "\r\n+UPGRADEIND: -1002\r\n\r\n+UPGRADEDL: 100\r\n"
			    "\r\n+X: -2147483648\r\n");
	/* A prefix of 20 bytes always fits; a longer one only with a short number. */
	assert_int_equal(fota_at_urc_i32(&mod.at, "12345678901234567890", INT32_MIN), FOTA_OK);
	assert_int_equal(fota_at_urc_i32(&mod.at, "123456789012345678901", INT32_MIN),
			 FOTA_ERR_TOOLONG);
	assert_int_equal(fota_at_urc_i32(&mod.at, "123456789012345678901", 0), FOTA_OK);

	assert_int_equal(fota_at_one_u32("2", 1, 2, &v), FOTA_OK);
	assert_int_equal(v, 2);
	assert_int_equal(fota_at_one_u32("3", 1, 2, &v), FOTA_ERR_RANGE);
	assert_int_equal(fota_at_one_u32("\"1\"", 3, 2, &v), FOTA_ERR_INVAL);
	assert_int_equal(fota_at_one_u32("1,1", 3, 2, &v), FOTA_ERR_INVAL);
	assert_int_equal(fota_at_one_u32("", 0, 2, &v), FOTA_ERR_INVAL);
	assert_int_equal(fota_at_one_u32("1x", 2, 2, &v), FOTA_ERR_INVAL);
	assert_int_equal(v, 2);
}

static int cmd_foo(struct fota_at *at, void *user, enum fota_at_kind kind, const char *args,
		   size_t len)
{
	(void)args;
	(void)len;
	assert_ptr_equal(user, &mod); /* the firmware's handlers get the module */
	fota_at_print(at, kind == FOTA_AT_READ ? "+FOO: read" : "+FOO: other");
	fota_at_endl(at);
	return FOTA_OK;
}

/* The firmware's own commands: without them ATI is unknown; with them they answer, after
 * AT+UPGRADE (which they cannot replace) and before the engine's built-ins. */
static void firmware_commands_extend_the_table(void **state)
{
	static const struct fota_at_cmd extra[] = { { "+FOO", cmd_foo }, { "+UPGRADE", cmd_foo } };
	struct fota_module_config cfg = {
		.flash = &sf.flash, .nv_base = NV_BASE, .nv_size = NV_SIZE, .info = &info,
		.write = capture,
	};

	(void)state;
	assert_int_equal(fota_module_init(&mod, &cfg), FOTA_OK);
	echo_off();
	assert_string_equal(cmd("ATI"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+FOO?"), "\r\nERROR\r\n");
	cfg.cmds = extra;
	cfg.ncmds = FOTA_ARRAY_SIZE(extra);
	assert_int_equal(fota_module_init(&mod, &cfg), FOTA_OK);
	echo_off();
	assert_string_equal(cmd("AT+FOO?"), "\r\n+FOO: read\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 0\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CMEE=2;+FOO"), "\r\n+FOO: other\r\n\r\nOK\r\n");
	assert_string_equal(cmd("ATI"), "\r\nERROR\r\n");
}

/* Each error an attempt can end with has its <error code>; success is 0, anything not
 * in the contract's table -1006. */
static void upgrade_errors_map_to_the_contract_codes(void **state)
{
	static const int want[][2] = {
		{ FOTA_OK, 0 },
		{ FOTA_ERR_NETDOWN, -1001 }, { FOTA_ERR_DNS, -1001 }, { FOTA_ERR_TIMEDOUT, -1001 },
		{ FOTA_ERR_CONNREFUSED, -1002 }, { FOTA_ERR_CONNRESET, -1002 },
		{ FOTA_ERR_TLS, -1002 },
		{ FOTA_ERR_VERIFY, -1003 }, { FOTA_ERR_ROLLBACK, -1003 }, { FOTA_ERR_CORRUPT, -1003 },
		{ FOTA_ERR_BADMSG, -1003 }, { FOTA_ERR_NOTSUP, -1003 },
		{ FOTA_ERR_FBIG, -1005 }, { FOTA_ERR_NOSPC, -1005 }, { FOTA_ERR_IO, -1005 },
		{ FOTA_ERR_FLASH_RULE, -1005 }, { FOTA_ERR_POWER, -1005 },
		{ FOTA_ERR_INVAL, -1006 }, { FOTA_ERR_NOMEM, -1006 }, { FOTA_ERR_CANCELED, -1006 },
		{ -1, -1006 }, { -255, -1006 }, { -256 - FOTA_ERR_VERIFY, -1006 }, { INT16_MIN, -1006 },
	};

	(void)state;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(want); i++)
		if (fota_upgrade_code(want[i][0]) != want[i][1])
			fail_msg("error %d gave %d, not %d", want[i][0], fota_upgrade_code(want[i][0]),
				 want[i][1]);
}

/* The boot code's verdict: the new version is told at once, and the result is what
 * AT+UPGRADE? answers, before and after a reboot (it is kept in NV). */
static void upgrade_result_is_told_and_survives_a_reboot(void **state)
{
	(void)state;
	echo_off();
	mod.status.http = 200;
	outlen = 0;
	assert_int_equal(fota_module_upgrade_done(&mod, FOTA_OK, true), FOTA_OK);
	assert_string_equal(outbuf, "\r\n+UPGRADEVER: \"AirM2M_780E_V1121_LTE_AT\"\r\n");
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 2,0,200,0\r\n\r\nOK\r\n");
	boot(false);
	echo_off();
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 2,0,200,0\r\n\r\nOK\r\n");
	/* A refused image, same firmware: no +UPGRADEVER, the code of the refusal. */
	outlen = 0;
	outbuf[0] = '\0';
	assert_int_equal(fota_module_upgrade_done(&mod, FOTA_ERR_VERIFY, false), FOTA_OK);
	assert_string_equal(outbuf, "");
	boot(false);
	echo_off();
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 2,-1003,200,0\r\n\r\nOK\r\n");
	/* The transient state is not kept: after a reboot the last result shows again. */
	assert_int_equal(fota_module_set_status(&mod, &(struct fota_status){ .state = 1, .percent = 5 }),
			 FOTA_OK);
	boot(false);
	echo_off();
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 2,-1003,200,0\r\n\r\nOK\r\n");
}

/* A version longer than FOTA_VERSION_MAX bytes is told cut to that length. */
static void upgradever_tells_at_most_the_longest_version(void **state)
{
	static const struct fota_module_info longer = {
		.manufacturer = "AirM2M", .model = "Air780E", .imei = "864000000000008",
		.version = "AirM2M_780E_V1121_LTE_AT_0123456789012345678901234567890123456789",
	};
	struct fota_module_config cfg = {
		.flash = &sf.flash, .nv_base = NV_BASE, .nv_size = NV_SIZE, .info = &longer,
		.write = capture,
	};
	char want[128];

	(void)state;
	assert_int_equal(fota_module_init(&mod, &cfg), FOTA_OK);
	outlen = 0;
	assert_int_equal(fota_module_upgrade_done(&mod, FOTA_OK, true), FOTA_OK);
	snprintf(want, sizeof(want), "\r\n+UPGRADEVER: \"%.*s\"\r\n", FOTA_VERSION_MAX,
		 longer.version);
	assert_string_equal(outbuf, want);
}

/* A result that cannot be saved is still answered until the reboot, and the error said. */
static void upgrade_result_that_cannot_be_saved_returns_the_nv_error(void **state)
{
	(void)state;
	echo_off();
	fota_simflash_cut_power(&sf, 1, FOTA_CUT_CLEAN);
	assert_int_equal(fota_module_upgrade_done(&mod, FOTA_ERR_DNS, false), FOTA_ERR_POWER);
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 2,-1001,0,0\r\n\r\nOK\r\n");
	fota_simflash_power_on(&sf);
	boot(false);
	echo_off();
	assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 0\r\n\r\nOK\r\n");
}

/* A status record of another length or state (a foreign or older firmware's) reads as
 * "no FOTA has run"; the module starts. */
static void status_record_of_another_shape_reads_as_no_result(void **state)
{
	static const uint8_t bad[][8] = {
		{ 2, 0x15, 0xFC, 200, 0, 0, 0, 0 }, /* 8 bytes */
		{ 1, 0x15, 0xFC, 200, 0, 0, 0 },    /* state 1 */
		{ 0 },
	};
	static const size_t len[] = { 8, 7, 1 };

	(void)state;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(bad); i++) {
		assert_int_equal(fota_nv_write(&mod.nv, FOTA_NV_STATUS, bad[i], len[i]), FOTA_OK);
		boot(false);
		echo_off();
		assert_string_equal(cmd("AT+UPGRADE?"), "\r\n+UPGRADE: 0\r\n\r\nOK\r\n");
	}
}

/* Writes a settings record as settings.c lays it out: format, auto, period (le32), key
 * length, key, URL length (le16), URL; returns its length. */
static size_t settings_rec(uint8_t *b, uint8_t format, uint8_t autoup, uint32_t period,
			   const char *key, const char *url)
{
	size_t kl = strlen(key), ul = strlen(url), n = 0;

	b[n++] = format;
	b[n++] = autoup;
	b[n++] = (uint8_t)period;
	b[n++] = (uint8_t)(period >> 8);
	b[n++] = (uint8_t)(period >> 16);
	b[n++] = (uint8_t)(period >> 24);
	b[n++] = (uint8_t)kl;
	memcpy(b + n, key, kl);
	n += kl;
	b[n++] = (uint8_t)ul;
	b[n++] = (uint8_t)(ul >> 8);
	memcpy(b + n, url, ul);
	return n + ul;
}

/* A settings record that passed its CRC but breaks the contract (an older firmware's
 * bug, a bit flip before the CRC was taken) is refused whole: the defaults stand, the
 * module starts, and the next save writes a good one. */
static void damaged_settings_record_gives_the_defaults(void **state)
{
	uint8_t b[FOTA_NV_RECORD_MAX];
	size_t n;
	int k;

	(void)state;
	for (k = 0; k < 11; k++) {
		n = settings_rec(b, 1, 0, 3600, "key", "http://h/f");
		switch (k) {
		case 0: b[0] = 2; break;                         /* unknown format */
		case 1: n = 8; break;                            /* shorter than any record */
		case 2: b[6] = 200; break;                       /* key length past the end */
		case 3: n--; break;                              /* URL length past the end */
		case 4: b[n++] = 'x'; break;                     /* bytes after the URL */
		case 5: n = settings_rec(b, 1, 2, 3600, "key", ""); break;       /* AUTO 2 */
		case 6: n = settings_rec(b, 1, 0, 59, "key", ""); break;         /* PERIOD 59 */
		case 7: n = settings_rec(b, 1, 0, 3600, "k\"y", ""); break;      /* a quote */
		case 8: n = settings_rec(b, 1, 0, 3600, "key", "ftp://h/"); break;
		case 9: /* a key over 64 bytes */
			n = settings_rec(b, 1, 0, 3600,
					 "0123456789012345678901234567890123456789012345678901234567890123X",
					 "");
			break;
		default: /* a record longer than any settings record */
			memset(b, 'x', sizeof(b));
			n = sizeof(b);
			break;
		}
		assert_int_equal(fota_nv_write(&mod.nv, FOTA_NV_SETTINGS, b, n), FOTA_OK);
		assert_int_equal(fota_settings_load(&mod.settings, &mod.nv), FOTA_ERR_CORRUPT);
		boot(false);
		assert_string_equal(mod.settings.now.key, "");
		assert_int_equal(mod.settings.now.autoup, 1);
		assert_int_equal(mod.settings.now.period, 86400);
		assert_string_equal(mod.settings.now.url, "");
		assert_memory_equal(&mod.settings.saved, &mod.settings.now, sizeof(mod.settings.now));
	}
	/* The same layout with good values loads. */
	n = settings_rec(b, 1, 0, 3600, "key", "http://h/f");
	assert_int_equal(fota_nv_write(&mod.nv, FOTA_NV_SETTINGS, b, n), FOTA_OK);
	boot(false);
	assert_string_equal(mod.settings.now.key, "key");
	assert_string_equal(mod.settings.now.url, "http://h/f");
	assert_int_equal(mod.settings.now.period, 3600);
	assert_int_equal(mod.settings.now.autoup, 0);
}

static void settings_check_refuses_an_unknown_tag_or_a_value_of_the_wrong_type(void **state)
{
	struct fota_setting_value num = { .num = 1 }, str = { .str = "x", .len = 1 };

	(void)state;
	assert_int_equal(fota_settings_check(FOTA_TAG_COUNT, &num), FOTA_ERR_INVAL);
	assert_int_equal(fota_settings_check(FOTA_TAG_COUNT, &str), FOTA_ERR_INVAL);
	assert_int_equal(fota_settings_check(FOTA_TAG_KEY, &num), FOTA_ERR_INVAL);
	assert_int_equal(fota_settings_check(FOTA_TAG_URL, &num), FOTA_ERR_INVAL);
	assert_int_equal(fota_settings_check(FOTA_TAG_AUTO, &str), FOTA_ERR_INVAL);
	assert_int_equal(fota_settings_check(FOTA_TAG_PERIOD, &str), FOTA_ERR_INVAL);
	assert_int_equal(fota_settings_check(FOTA_TAG_KEY, &str), FOTA_OK);
	assert_int_equal(fota_settings_check(FOTA_TAG_AUTO, &num), FOTA_OK);
}

/* The module does not start on a config without its info or writer, on an NV area the
 * flash cannot hold, or when the NV cannot be read; the error says which. */
static void module_init_refuses_a_bad_config_or_an_unreadable_nv(void **state)
{
	struct fota_module_config cfg = {
		.flash = &sf.flash, .nv_base = NV_BASE, .nv_size = NV_SIZE, .info = &info,
		.write = capture,
	};

	(void)state;
	cfg.info = NULL;
	assert_int_equal(fota_module_init(&mod, &cfg), FOTA_ERR_INVAL);
	cfg.info = &info;
	cfg.write = NULL;
	assert_int_equal(fota_module_init(&mod, &cfg), FOTA_ERR_INVAL);
	cfg.write = capture;
	cfg.nv_size = SECTOR; /* not two halves of whole sectors */
	assert_int_equal(fota_module_init(&mod, &cfg), FOTA_ERR_INVAL);
	cfg.nv_size = NV_SIZE;
	cfg.nv_base = sizeof(flash_mem); /* past the end */
	assert_int_equal(fota_module_init(&mod, &cfg), FOTA_ERR_INVAL);
	cfg.nv_base = NV_BASE;
	sf.dead = true; /* power off: reads fail too */
	assert_int_equal(fota_module_init(&mod, &cfg), FOTA_ERR_POWER);
	fota_simflash_power_on(&sf);
	assert_int_equal(fota_module_init(&mod, &cfg), FOTA_OK);
}

/* The AT engine's own corner cases: a quote inside an unquoted value, E with a value
 * other than 0 or 1, +CMEE alone (back to 0), a basic command followed by another. */
static void engine_corners_answer_as_v250_says(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("AT+UPGRADE=\"PERIOD\",6\"0"), "\r\nERROR\r\n");
	assert_string_equal(cmd("ATE2"), "\r\nERROR\r\n");
	assert_false(mod.at.flags & FOTA_AT_F_ECHO);
	assert_string_equal(cmd("AT+CMEE=2"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+CMEE"), "\r\nOK\r\n");
	assert_int_equal(mod.at.cmee, 0);
	assert_string_equal(cmd("ATE0;+CGSN"), "\r\n864000000000008\r\n\r\nOK\r\n");
	/* Echo goes on for the next line: this one came while it was off. */
	assert_string_equal(cmd("ATE1;+CMEE=1"), "\r\nOK\r\n");
	assert_int_equal(mod.at.cmee, 1);
	assert_string_equal(cmd("AT"), "AT\r\r\nOK\r\n");
}

/* The forms of the basic commands that fotad's emulated module does not take answer
 * ERROR; the test forms list their values. */
static void basic_commands_refuse_the_forms_they_do_not_have(void **state)
{
	(void)state;
	echo_off();
	assert_string_equal(cmd("ATI0"),
			    "\r\nAirM2M\r\nAir780E\r\nRevision: AirM2M_780E_V1121_LTE_AT\r\n\r\nOK\r\n");
	assert_string_equal(cmd("ATI1"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CFUN"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CSQ=?"), "\r\n+CSQ: (0-31,99),(99)\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CSQ?"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CSQ=1"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CREG=?"), "\r\n+CREG: (0)\r\n\r\nOK\r\n");
	assert_string_equal(cmd("AT+CREG=0"), "\r\nOK\r\n");
	assert_string_equal(cmd("AT+CREG=1"), "\r\nERROR\r\n");
	assert_string_equal(cmd("AT+CREG"), "\r\nERROR\r\n");
	assert_true(mod.radio_on);
}

static void ready_says_rdy(void **state)
{
	(void)state;
	outlen = 0;
	fota_module_ready(&mod);
	assert_string_equal(outbuf, "\r\nRDY\r\n");
}

/* fota_settings_get: each setting's value as AT+UPGRADE="TAG" answers it and NV stores it. */
static void settings_get_gives_each_value(void **state)
{
	struct fota_settings s;
	struct fota_setting_value v;

	(void)state;
	fota_settings_default(&s);
	strcpy(s.key, "abc");
	strcpy(s.url, "http://h/f");
	s.period = 3600;
	fota_settings_get(&s, FOTA_TAG_KEY, &v);
	assert_ptr_equal(v.str, s.key);
	assert_int_equal(v.len, 3);
	fota_settings_get(&s, FOTA_TAG_URL, &v);
	assert_ptr_equal(v.str, s.url);
	assert_int_equal(v.len, 10);
	fota_settings_get(&s, FOTA_TAG_AUTO, &v);
	assert_null(v.str);
	assert_int_equal(v.num, 1);
	fota_settings_get(&s, FOTA_TAG_PERIOD, &v);
	assert_null(v.str);
	assert_int_equal(v.num, 3600);
}

static void settings_ram_stays_within_budget(void **state)
{
	(void)state;
	printf("static RAM: struct fota_module %zu bytes = line buffer %d + %zu\n",
	       sizeof(struct fota_module), FOTA_AT_LINE_MAX,
	       sizeof(struct fota_module) - FOTA_AT_LINE_MAX);
	assert_true(sizeof(struct fota_module) - FOTA_AT_LINE_MAX <= 1024);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(plain_at_answers_ok),
		T(answer_is_the_same_byte_by_byte_and_whole),
		T(lf_is_ignored_and_backspace_edits),
		T(echo_returns_what_was_typed_including_edits),
		T(names_are_case_insensitive_and_spaces_ignored),
		T(identity_commands_answer_the_module_info),
		T(unknown_commands_answer_plain_error_whatever_cmee),
		T(cmee_selects_error_number_or_text),
		T(radio_commands_follow_cfun),
		T(several_commands_on_one_line_share_one_result),
		T(lines_without_at_prefix_get_no_answer),
		T(overlong_line_answers_error_and_next_line_works),
		T(megabytes_of_noise_never_wedge_the_engine),
		T(urc_during_a_command_comes_after_its_final_result),
		T(urc_queue_full_drops_and_counts),
		T(upgrade_exec_without_downloader_is_not_supported),
		T(upgrade_defaults_and_state),
		T(upgrade_test_form_lists_every_tag),
		T(upgrade_set_each_tag_and_query_it),
		T(upgrade_bad_input_answers_error_and_changes_nothing),
		T(saved_settings_survive_a_reboot),
		T(unsaved_settings_last_until_the_next_reboot),
		T(failed_nv_save_answers_error_and_changes_nothing),
		T(urc_with_a_number_and_one_number_arguments),
		T(firmware_commands_extend_the_table),
		T(upgrade_errors_map_to_the_contract_codes),
		T(upgrade_result_is_told_and_survives_a_reboot),
		T(upgradever_tells_at_most_the_longest_version),
		T(upgrade_result_that_cannot_be_saved_returns_the_nv_error),
		T(status_record_of_another_shape_reads_as_no_result),
		T(damaged_settings_record_gives_the_defaults),
		T(settings_check_refuses_an_unknown_tag_or_a_value_of_the_wrong_type),
		T(module_init_refuses_a_bad_config_or_an_unreadable_nv),
		T(engine_corners_answer_as_v250_says),
		T(basic_commands_refuse_the_forms_they_do_not_have),
		T(ready_says_rdy),
		T(settings_get_gives_each_value),
		T(settings_ram_stays_within_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
