/*
 * at.h - the AT command engine: V.250 line discipline, result codes, URC queue.
 *
 * Sans-I/O: the host's bytes go in through fota_at_input() in any chunking; everything
 * the module says goes out through the writer callback. The engine assembles a line up
 * to CR (LF ignored, backspace edits, echo when on), finds the "AT" prefix, splits the
 * line into commands (basic ones like E0 and I; extended ones like +CMEE=2, separated by
 * ';'), runs each through the command table and ends with one final result code:
 * OK, ERROR, or +CME ERROR: <n>/<text> as AT+CMEE selects. Lines not starting with AT
 * get no answer (V.250); a line longer than FOTA_AT_LINE_MAX answers ERROR after its CR.
 * Unsolicited result codes (URCs) written while a command runs are queued and sent
 * after its final result code, so they never split an answer.
 */
#ifndef FOTA_AT_H
#define FOTA_AT_H

#include "fota/fota.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The form a command came in. */
enum fota_at_kind {
	FOTA_AT_EXEC, /* AT+X (or basic ATI) */
	FOTA_AT_READ, /* AT+X? */
	FOTA_AT_TEST, /* AT+X=? */
	FOTA_AT_SET,  /* AT+X=<args> (or basic ATE0: args "0") */
};

/* A parsed argument of a command: points into the engine's line buffer. */
struct fota_at_arg {
	const char *p; /* first byte (after the opening quote for a quoted string) */
	uint16_t len;  /* bytes, quotes excluded */
	bool quoted;   /* it was a "quoted string" */
};

struct fota_at;

/* A command handler. args/len: the text after '=' (SET only; empty otherwise), owned by
 * the engine and valid during the call. It writes information lines with the fota_at_
 * print functions and returns FOTA_OK (the engine answers OK) or a negative
 * enum fota_err that the engine maps to ERROR / +CME ERROR (see fota_at_cme_code). */
typedef int (*fota_at_handler)(struct fota_at *at, void *user, enum fota_at_kind kind,
			       const char *args, size_t len);

struct fota_at_cmd {
	const char *name;   /* "I" or "E" for basic commands, "+CMEE" for extended ones
			     * (V.250's name characters: letters, digits, ! % - . / : _) */
	fota_at_handler fn;
};

/* The writer: len bytes at data (owned by the engine, valid during the call) go to the
 * host. It must take them all (fotad buffers or blocks; an MCU queues them to its UART). */
typedef void (*fota_at_write_fn)(void *ctx, const char *data, size_t len);

enum {
	FOTA_AT_F_ECHO = 1u << 0,     /* echo received characters (ATE1, the default) */
	FOTA_AT_F_OVERFLOW = 1u << 1, /* the current line is longer than the buffer */
	FOTA_AT_F_BUSY = 1u << 2,     /* a command line is being answered: queue URCs */
	FOTA_AT_F_INFO = 1u << 3,     /* an information line was sent for this command */
};

struct fota_at {
	fota_at_write_fn write;          /* the writer and its context */
	void *write_ctx;
	const struct fota_at_cmd *cmds;  /* the module's command table (not owned) */
	size_t ncmds;
	const struct fota_at_cmd *more;  /* a second table, searched after cmds (not owned;
					  * NULL: none); set after fota_at_init */
	size_t nmore;
	void *user;                      /* passed to every handler */
	uint16_t len;                    /* bytes in line */
	uint8_t flags;                   /* FOTA_AT_F_* */
	uint8_t cmee;                    /* AT+CMEE mode: 0 ERROR, 1 numeric, 2 text */
	uint16_t urc_len;                /* bytes queued in urc */
	uint16_t urc_lost;               /* URCs dropped because the queue was full */
	char urc[FOTA_AT_URC_BUF];       /* queued URCs, already framed with CR LF */
	char line[FOTA_AT_LINE_MAX];     /* the command line being received */
};

/* fota_at_init: a fresh engine: echo on, CMEE 0, nothing queued, no second table. cmds
 * (ncmds entries) and user are borrowed for the engine's life; the built-in E, +CMEE and
 * plain AT need no entry. A name is looked up in cmds, then in more, then among the
 * built-ins: the first entry that has it runs. Returns nothing. */
void fota_at_init(struct fota_at *at, const struct fota_at_cmd *cmds, size_t ncmds, void *user,
		  fota_at_write_fn write, void *write_ctx);

/* fota_at_input: feeds len bytes from the host (owned by the caller). Answers every line
 * that ends in them through the writer before returning. Never fails: bad input gets
 * ERROR or is ignored as V.250 says. */
void fota_at_input(struct fota_at *at, const char *data, size_t len);

/* fota_at_urc: sends the unsolicited result code text (a NUL-terminated line without CR
 * LF, owned by the caller) framed as CR LF text CR LF, now or, while a command is being
 * answered, right after its final result code. Returns FOTA_OK, or FOTA_ERR_NOMEM when
 * the queue is full (the URC is dropped and counted in urc_lost). */
int fota_at_urc(struct fota_at *at, const char *text);

/* fota_at_urc_i32: the URC prefix (the caller's NUL-terminated text) followed by v in
 * decimal, as fota_at_urc sends it ("+UPGRADEIND: -1002"). Returns what fota_at_urc
 * returns, or FOTA_ERR_TOOLONG (nothing sent) when the prefix and the number pass 31
 * bytes: never with a prefix of at most 20 bytes. */
int fota_at_urc_i32(struct fota_at *at, const char *prefix, int32_t v);

/* Information lines of a handler's answer. fota_at_print starts a line if none is open
 * (framing the first line of an answer with CR LF) and appends text; fota_at_print_u32,
 * _i32 append a number, fota_at_print_quoted a "quoted" string of len bytes; fota_at_endl
 * ends the line. All strings are the caller's. */
void fota_at_print(struct fota_at *at, const char *text);
void fota_at_print_n(struct fota_at *at, const char *text, size_t len);
void fota_at_print_u32(struct fota_at *at, uint32_t v);
void fota_at_print_i32(struct fota_at *at, int32_t v);
void fota_at_print_quoted(struct fota_at *at, const char *text, size_t len);
void fota_at_endl(struct fota_at *at);

/* fota_at_split_args: splits a SET command's args (len bytes) into at most max arguments
 * separated by commas; a quoted string holds any byte but '"'. Stores the count in *n.
 * Returns FOTA_OK, or FOTA_ERR_INVAL for an unterminated quote, text after a closing
 * quote, or more than max arguments. The arguments point into args. */
int fota_at_split_args(const char *args, size_t len, struct fota_at_arg *out, unsigned max,
		       unsigned *n);

/* fota_at_arg_u32: reads a bare (unquoted) decimal argument into *v, checking min..max.
 * Returns FOTA_OK, FOTA_ERR_INVAL (empty, quoted, not all digits) or FOTA_ERR_RANGE. */
int fota_at_arg_u32(const struct fota_at_arg *a, uint32_t min, uint32_t max, uint32_t *v);

/* fota_at_one_u32: reads the single bare decimal argument 0..max of a SET command (args,
 * len: as the handler got them) into *v. Returns FOTA_OK, FOTA_ERR_INVAL (not exactly
 * one argument, or not a bare number) or FOTA_ERR_RANGE. */
int fota_at_one_u32(const char *args, size_t len, uint32_t max, uint32_t *v);

/* fota_at_cme_code: the 27.007 +CME ERROR number an enum fota_err is answered with. */
unsigned fota_at_cme_code(int err);


#ifdef __cplusplus
}
#endif

#endif /* FOTA_AT_H */
