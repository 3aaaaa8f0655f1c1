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
		T(settings_ram_stays_within_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
