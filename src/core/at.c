/* at.c - the AT command engine (see fota/at.h). */
#include <string.h>

#include "fota/at.h"

#define CR '\r'
#define LF '\n'
#define BS '\b'
#define DEL 0x7F

FOTA_NOINLINE static void out(struct fota_at *at, const char *s, size_t n)
{
	if (n)
		at->write(at->write_ctx, s, n);
}

/* A string literal, its length known at compile time. */
#define OUT_LIT(at, lit) out(at, lit, sizeof(lit) - 1)

void fota_at_init(struct fota_at *at, const struct fota_at_cmd *cmds, size_t ncmds, void *user,
		  fota_at_write_fn write, void *write_ctx)
{
	memset(at, 0, sizeof(*at));
	at->cmds = cmds;
	at->ncmds = ncmds;
	at->user = user;
	at->write = write;
	at->write_ctx = write_ctx;
	at->flags = FOTA_AT_F_ECHO;
}

/* ---- information lines -------------------------------------------------------- */

void fota_at_print_n(struct fota_at *at, const char *text, size_t len)
{
	if (!(at->flags & FOTA_AT_F_INFO)) {
		out(at, "\r\n", 2);
		at->flags |= FOTA_AT_F_INFO;
	}
	out(at, text, len);
}

void fota_at_print(struct fota_at *at, const char *text)
{
	fota_at_print_n(at, text, strlen(text));
}

void fota_at_print_u32(struct fota_at *at, uint32_t v)
{
	char buf[10];
	char *p = fota_fmt_u32(buf + sizeof(buf), v);

	fota_at_print_n(at, p, (size_t)(buf + sizeof(buf) - p));
}

/* Formats v in decimal, with a '-' when negative, just before end (11 bytes are enough);
 * returns its first byte. */
static char *fmt_i32(char *end, int32_t v)
{
	char *p = fota_fmt_u32(end, v < 0 ? 0u - (uint32_t)v : (uint32_t)v);

	if (v < 0)
		*--p = '-';
	return p;
}

void fota_at_print_i32(struct fota_at *at, int32_t v)
{
	if (v < 0) {
		fota_at_print(at, "-");
		fota_at_print_u32(at, 0u - (uint32_t)v);
	} else {
		fota_at_print_u32(at, (uint32_t)v);
	}
}

void fota_at_print_quoted(struct fota_at *at, const char *text, size_t len)
{
	fota_at_print(at, "\"");
	fota_at_print_n(at, text, len);
	fota_at_print(at, "\"");
}

void fota_at_endl(struct fota_at *at)
{
	out(at, "\r\n", 2);
}

/* ---- URCs --------------------------------------------------------------------- */

/* n bytes of a URC: to the host now, or to the queue while a command is answered. */
static void urc_put(struct fota_at *at, const char *s, size_t n)
{
	if (at->flags & FOTA_AT_F_BUSY) {
		memcpy(at->urc + at->urc_len, s, n);
		at->urc_len = (uint16_t)(at->urc_len + n);
	} else {
		out(at, s, n);
	}
}

int fota_at_urc(struct fota_at *at, const char *text)
{
	size_t n = strlen(text);

	if ((at->flags & FOTA_AT_F_BUSY) && n + 4 > sizeof(at->urc) - at->urc_len) {
		at->urc_lost++;
		return FOTA_ERR_NOMEM;
	}
	urc_put(at, "\r\n", 2);
	urc_put(at, text, n);
	urc_put(at, "\r\n", 2);
	return FOTA_OK;
}

int fota_at_urc_i32(struct fota_at *at, const char *prefix, int32_t v)
{
	char line[32], *p = fmt_i32(line + sizeof(line) - 1, v);
	size_t n = strlen(prefix);

	line[sizeof(line) - 1] = '\0';
	if (n > (size_t)(p - line))
		return FOTA_ERR_TOOLONG;
	p -= n;
	memcpy(p, prefix, n);
	return fota_at_urc(at, p);
}

/* ---- arguments ---------------------------------------------------------------- */

int fota_at_split_args(const char *args, size_t len, struct fota_at_arg *outv, unsigned max,
		       unsigned *n)
{
	size_t i = 0;
	unsigned k = 0;

	*n = 0;
	if (len == 0)
		return FOTA_OK;
	for (;;) {
		struct fota_at_arg a = { args + i, 0, false };

		if (k == max)
			return FOTA_ERR_INVAL; /* one argument more than the command takes */
		if (i < len && args[i] == '"') {
			size_t start = ++i;

			while (i < len && args[i] != '"')
				i++;
			if (i == len)
				return FOTA_ERR_INVAL; /* unterminated quote */
			a.p = args + start;
			a.len = (uint16_t)(i - start);
			a.quoted = true;
			i++;
			if (i < len && args[i] != ',')
				return FOTA_ERR_INVAL; /* text after the closing quote */
		} else {
			size_t start = i;

			while (i < len && args[i] != ',') {
				if (args[i] == '"')
					return FOTA_ERR_INVAL;
				i++;
			}
			a.len = (uint16_t)(i - start);
		}
		outv[k++] = a;
		if (i == len)
			break;
		i++; /* the comma: an argument follows, possibly empty */
	}
	*n = k;
	return FOTA_OK;
}

int fota_at_arg_u32(const struct fota_at_arg *a, uint32_t min, uint32_t max, uint32_t *v)
{
	const char *p = a->p, *end = p + a->len;
	uint32_t x;
	int err;

	if (a->quoted)
		return FOTA_ERR_INVAL;
	err = fota_scan_u32(&p, end, 10, &x);
	if (err == FOTA_ERR_BADMSG || (!err && p != end))
		return FOTA_ERR_INVAL; /* empty, or not all digits */
	if (err || x < min || x > max)
		return FOTA_ERR_RANGE;
	*v = x;
	return FOTA_OK;
}

int fota_at_one_u32(const char *args, size_t len, uint32_t max, uint32_t *v)
{
	struct fota_at_arg a;
	unsigned n;
	int err = fota_at_split_args(args, len, &a, 1, &n);

	if (err)
		return err;
	return n == 1 ? fota_at_arg_u32(&a, 0, max, v) : FOTA_ERR_INVAL;
}

/* ---- result codes -------------------------------------------------------------- */

/* The 27.007 numbers the core's errors map to, by -err (anything else: 100 "unknown"),
 * and their texts: each text is preceded by its number's byte; the last one, 100, ends
 * the list. */
static const uint8_t cme_map[][2] = {
	{ -FOTA_ERR_BUSY, 3 },     /* operation not allowed */
	{ -FOTA_ERR_NOTSUP, 4 },   /* operation not supported */
	{ -FOTA_ERR_TOOLONG, 24 }, /* text string too long */
	{ -FOTA_ERR_BADMSG, 25 },  /* invalid characters in text string */
	{ -FOTA_ERR_NETDOWN, 30 }, /* no network service */
	{ -FOTA_ERR_INVAL, 50 },   /* incorrect parameters */
	{ -FOTA_ERR_RANGE, 50 },
	{ -FOTA_ERR_IO, 0 },       /* phone failure: NV could not be written */
	{ -FOTA_ERR_NOSPC, 0 },
	{ -FOTA_ERR_POWER, 0 },
};

static const char cme_texts[] = "\0phone failure\0\3operation not allowed\0"
				"\4operation not supported\0\30text string too long\0"
				"\31invalid characters in text string\0\36no network service\0"
				"\62incorrect parameters\0\144unknown";

unsigned fota_at_cme_code(int err)
{
	unsigned e = 0u - (unsigned)err, code = 100; /* unknown */

	for (size_t i = 0; i < FOTA_ARRAY_SIZE(cme_map); i++)
		if (cme_map[i][0] == e)
			code = cme_map[i][1];
	return code;
}

static const char *cme_text(unsigned code)
{
	const char *p = cme_texts;

	while ((uint8_t)*p != code && (uint8_t)*p != 100)
		p += strlen(p + 1) + 2;
	return p + 1;
}

/* err: FOTA_OK, a handler's error, or 1 for a plain ERROR (unknown command, bad line). */
static void final_result(struct fota_at *at, int err)
{
	if (err == FOTA_OK) {
		OUT_LIT(at, "\r\nOK\r\n");
	} else if (err > 0 || at->cmee == 0) {
		OUT_LIT(at, "\r\nERROR\r\n");
	} else {
		unsigned code = fota_at_cme_code(err);

		OUT_LIT(at, "\r\n+CME ERROR: ");
		at->flags |= FOTA_AT_F_INFO; /* the line is open: the print functions go on with it */
		if (at->cmee == 1)
			fota_at_print_u32(at, code);
		else
			fota_at_print(at, cme_text(code));
		fota_at_endl(at);
	}
	at->flags &= (uint8_t)~FOTA_AT_F_BUSY;
	out(at, at->urc, at->urc_len);
	at->urc_len = 0;
}

/* ---- built-in commands ----------------------------------------------------------- */

static int cmd_echo(struct fota_at *at, void *user, enum fota_at_kind kind, const char *args,
		    size_t len)
{
	(void)user;
	if (kind == FOTA_AT_EXEC || (kind == FOTA_AT_SET && len == 1 && args[0] == '0'))
		at->flags &= (uint8_t)~FOTA_AT_F_ECHO;
	else if (kind == FOTA_AT_SET && len == 1 && args[0] == '1')
		at->flags |= FOTA_AT_F_ECHO;
	else
		return FOTA_ERR_INVAL;
	return FOTA_OK;
}

static int cmd_cmee(struct fota_at *at, void *user, enum fota_at_kind kind, const char *args,
		    size_t len)
{
	uint32_t v;
	int err;

	(void)user;
	switch (kind) {
	case FOTA_AT_READ:
	case FOTA_AT_TEST:
		fota_at_print(at, "+CMEE: ");
		if (kind == FOTA_AT_READ)
			fota_at_print_u32(at, at->cmee);
		else
			fota_at_print(at, "(0-2)");
		fota_at_endl(at);
		return FOTA_OK;
	case FOTA_AT_SET:
		err = fota_at_one_u32(args, len, 2, &v);
		if (err)
			return err;
		at->cmee = (uint8_t)v;
		return FOTA_OK;
	default:
		at->cmee = 0;
		return FOTA_OK;
	}
}

static const struct fota_at_cmd builtin[] = {
	{ "E", cmd_echo },
	{ "+CMEE", cmd_cmee },
};

static const struct fota_at_cmd *lookup(const struct fota_at_cmd *t, size_t n, const char *name,
				       size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (fota_strcaseeq(name, len, t[i].name))
			return &t[i];
	return NULL;
}

static const struct fota_at_cmd *find(const struct fota_at *at, const char *name, size_t n)
{
	const struct fota_at_cmd *c = lookup(at->cmds, at->ncmds, name, n);

	if (!c)
		c = lookup(at->more, at->nmore, name, n);
	return c ? c : lookup(builtin, FOTA_ARRAY_SIZE(builtin), name, n);
}

/* ---- the command line ------------------------------------------------------------ */

/* Runs one command starting at line[*pos], advancing *pos past it (and past a ';'). */
static int run_one(struct fota_at *at, const char *s, size_t len, size_t *pos)
{
	const struct fota_at_cmd *cmd;
	enum fota_at_kind kind = FOTA_AT_EXEC;
	size_t i = *pos, name = i, name_len, args = 0, args_len = 0;
	bool quoted = false;

	if (s[i] == '+' || s[i] == '&' || s[i] == '$' || s[i] == '^') {
		/* Extended command: a prefix, a name, then ?, =?, =args or nothing, to ';'.
		 * The name runs to one of those: a name with a byte V.250 does not allow
		 * in one (letters, digits, ! % - . / : _) is in no table, so it is answered
		 * ERROR as junk after a name would be. */
		i++;
		while (i < len && s[i] != '?' && s[i] != '=' && s[i] != ';')
			i++;
		name_len = i - name;
		if (i < len && s[i] == '?') {
			kind = FOTA_AT_READ;
			i++;
		} else if (i < len && s[i] == '=') {
			if (++i < len && s[i] == '?') {
				kind = FOTA_AT_TEST;
				i++;
			} else {
				kind = FOTA_AT_SET;
				args = i;
				while (i < len && (quoted || s[i] != ';')) {
					if (s[i] == '"')
						quoted = !quoted;
					i++;
				}
				args_len = i - args;
			}
		}
		if (i < len && s[i] != ';')
			return 1; /* junk after the command */
		if (i < len)
			i++;
	} else if ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')) {
		/* Basic command: one letter and an optional number (E0, I). */
		name_len = 1;
		args = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		args_len = i - args;
		if (args_len)
			kind = FOTA_AT_SET;
		if (i < len && (s[i] == '?' || s[i] == '='))
			return 1; /* basic commands have no read or test form here: run nothing */
		if (i < len && s[i] == ';')
			i++;
	} else {
		return 1;
	}
	*pos = i;
	cmd = find(at, s + name, name_len);
	if (!cmd)
		return 1; /* unknown command: plain ERROR, whatever CMEE says (V.250) */
	return cmd->fn(at, at->user, kind, s + args, args_len);
}

/* Drops the spaces outside quoted strings (V.250 ignores them) and returns the length. */
FOTA_NOINLINE static size_t squeeze(char *s, size_t len)
{
	size_t w = 0;
	bool quoted = false;

	for (size_t r = 0; r < len; r++) {
		if (s[r] == '"')
			quoted = !quoted;
		if (quoted || s[r] != ' ')
			s[w++] = s[r];
	}
	return w;
}

static void run_line(struct fota_at *at)
{
	char *s = at->line;
	size_t len = at->len, i = 0, pos;
	int err = FOTA_OK;

	/* Anything before the first "AT" is noise the host's UART picked up. */
	while (i + 1 < len && !((s[i] == 'A' || s[i] == 'a') && (s[i + 1] == 'T' || s[i + 1] == 't')))
		i++;
	if (i + 1 >= len)
		return; /* no AT prefix: V.250 says nothing is answered */
	len = squeeze(s + i, len - i) + i;
	pos = i + 2;
	at->flags |= FOTA_AT_F_BUSY;
	at->flags &= (uint8_t)~FOTA_AT_F_INFO;
	while (pos < len && err == FOTA_OK)
		err = run_one(at, s, len, &pos);
	final_result(at, err);
}

void fota_at_input(struct fota_at *at, const char *data, size_t len)
{
	size_t echoed = 0;

	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (c == CR) {
			if (at->flags & FOTA_AT_F_ECHO)
				out(at, data + echoed, i + 1 - echoed);
			echoed = i + 1;
			if (at->flags & FOTA_AT_F_OVERFLOW)
				final_result(at, 1); /* nothing ran: no URC is queued */
			else
				run_line(at);
			at->len = 0;
			at->flags &= (uint8_t)~FOTA_AT_F_OVERFLOW;
		} else if (c == LF) {
			continue;
		} else if (c == BS || c == DEL) {
			if (at->len && !(at->flags & FOTA_AT_F_OVERFLOW))
				at->len--;
		} else if (at->len < sizeof(at->line)) {
			at->line[at->len++] = c;
		} else {
			at->flags |= FOTA_AT_F_OVERFLOW;
		}
	}
	if (at->flags & FOTA_AT_F_ECHO)
		out(at, data + echoed, len - echoed); /* (nothing when all was echoed) */
}
