/* at.c - the AT command engine (see fota/at.h). */
#include <string.h>

#include "fota/at.h"

#define CR '\r'
#define LF '\n'
#define BS '\b'
#define DEL 0x7F

static void out(struct fota_at *at, const char *s, size_t n)
{
	if (n)
		at->write(at->write_ctx, s, n);
}

static void outs(struct fota_at *at, const char *s)
{
	out(at, s, strlen(s));
}

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

/* Formats v in decimal at the end of buf (11 bytes) and returns its first digit. */
static char *fmt_u32(char *end, uint32_t v)
{
	char *p = end;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

void fota_at_print_u32(struct fota_at *at, uint32_t v)
{
	char buf[10];
	char *p = fmt_u32(buf + sizeof(buf), v);

	fota_at_print_n(at, p, (size_t)(buf + sizeof(buf) - p));
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

int fota_at_urc(struct fota_at *at, const char *text)
{
	size_t n = strlen(text);

	if (!(at->flags & FOTA_AT_F_BUSY)) {
		out(at, "\r\n", 2);
		out(at, text, n);
		out(at, "\r\n", 2);
		return FOTA_OK;
	}
	if (n + 4 > sizeof(at->urc) - at->urc_len) {
		at->urc_lost++;
		return FOTA_ERR_NOMEM;
	}
	memcpy(at->urc + at->urc_len, "\r\n", 2);
	memcpy(at->urc + at->urc_len + 2, text, n);
	memcpy(at->urc + at->urc_len + 2 + n, "\r\n", 2);
	at->urc_len = (uint16_t)(at->urc_len + n + 4);
	return FOTA_OK;
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
	uint32_t x = 0;

	if (a->quoted || a->len == 0)
		return FOTA_ERR_INVAL;
	for (uint16_t i = 0; i < a->len; i++) {
		uint32_t d;

		if (a->p[i] < '0' || a->p[i] > '9')
			return FOTA_ERR_INVAL;
		d = (uint32_t)(a->p[i] - '0');
		if (x > (UINT32_MAX - d) / 10)
			return FOTA_ERR_RANGE; /* more than 32 bits */
		x = x * 10 + d;
	}
	if (x < min || x > max)
		return FOTA_ERR_RANGE;
	*v = x;
	return FOTA_OK;
}

/* ---- result codes -------------------------------------------------------------- */

unsigned fota_at_cme_code(int err)
{
	switch (err) {
	case FOTA_ERR_BUSY: return 3;      /* operation not allowed */
	case FOTA_ERR_NOTSUP: return 4;    /* operation not supported */
	case FOTA_ERR_TOOLONG: return 24;  /* text string too long */
	case FOTA_ERR_BADMSG: return 25;   /* invalid characters in text string */
	case FOTA_ERR_NETDOWN: return 30;  /* no network service */
	case FOTA_ERR_INVAL:
	case FOTA_ERR_RANGE: return 50;    /* incorrect parameters */
	case FOTA_ERR_IO:
	case FOTA_ERR_NOSPC:
	case FOTA_ERR_POWER: return 0;     /* phone failure: NV could not be written */
	default: return 100;               /* unknown */
	}
}

static const char *cme_text(unsigned code)
{
	switch (code) {
	case 0: return "phone failure";
	case 3: return "operation not allowed";
	case 4: return "operation not supported";
	case 24: return "text string too long";
	case 25: return "invalid characters in text string";
	case 30: return "no network service";
	case 50: return "incorrect parameters";
	default: return "unknown";
	}
}

/* err: FOTA_OK, a handler's error, or 1 for a plain ERROR (unknown command, bad line). */
static void final_result(struct fota_at *at, int err)
{
	if (err == FOTA_OK) {
		outs(at, "\r\nOK\r\n");
	} else if (err > 0 || at->cmee == 0) {
		outs(at, "\r\nERROR\r\n");
	} else {
		unsigned code = fota_at_cme_code(err);

		outs(at, "\r\n+CME ERROR: ");
		if (at->cmee == 1) {
			char buf[10];
			char *p = fmt_u32(buf + sizeof(buf), code);

			out(at, p, (size_t)(buf + sizeof(buf) - p));
		} else {
			outs(at, cme_text(code));
		}
		outs(at, "\r\n");
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
	struct fota_at_arg a;
	unsigned n;
	uint32_t v;
	int err;

	(void)user;
	switch (kind) {
	case FOTA_AT_READ:
		fota_at_print(at, "+CMEE: ");
		fota_at_print_u32(at, at->cmee);
		fota_at_endl(at);
		return FOTA_OK;
	case FOTA_AT_TEST:
		fota_at_print(at, "+CMEE: (0-2)");
		fota_at_endl(at);
		return FOTA_OK;
	case FOTA_AT_SET:
		err = fota_at_split_args(args, len, &a, 1, &n);
		if (!err)
			err = n == 1 ? fota_at_arg_u32(&a, 0, 2, &v) : FOTA_ERR_INVAL;
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

static const struct fota_at_cmd *find(const struct fota_at *at, const char *name, size_t n)
{
	for (size_t i = 0; i < at->ncmds; i++)
		if (fota_strcaseeq(name, n, at->cmds[i].name))
			return &at->cmds[i];
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(builtin); i++)
		if (fota_strcaseeq(name, n, builtin[i].name))
			return &builtin[i];
	return NULL;
}

/* ---- the command line ------------------------------------------------------------ */

static bool is_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '!' || c == '%' || c == '-' || c == '.' || c == '/' || c == ':' || c == '_';
}

/* Runs one command starting at line[*pos], advancing *pos past it (and past a ';'). */
static int run_one(struct fota_at *at, const char *s, size_t len, size_t *pos)
{
	const struct fota_at_cmd *cmd;
	enum fota_at_kind kind = FOTA_AT_EXEC;
	size_t i = *pos, name = i, name_len, args = 0, args_len = 0;
	bool quoted = false;

	if (s[i] == '+' || s[i] == '&' || s[i] == '$' || s[i] == '^') {
		/* Extended command: a prefix, a name, then ?, =?, =args or nothing, to ';'. */
		i++;
		while (i < len && is_name_char(s[i]))
			i++;
		name_len = i - name;
		if (i < len && s[i] == '?') {
			kind = FOTA_AT_READ;
			i++;
		} else if (i + 1 < len && s[i] == '=' && s[i + 1] == '?') {
			kind = FOTA_AT_TEST;
			i += 2;
		} else if (i < len && s[i] == '=') {
			kind = FOTA_AT_SET;
			args = ++i;
			while (i < len && (quoted || s[i] != ';')) {
				if (s[i] == '"')
					quoted = !quoted;
				i++;
			}
			args_len = i - args;
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
static size_t squeeze(char *s, size_t len)
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
			if (at->flags & FOTA_AT_F_OVERFLOW) {
				at->flags |= FOTA_AT_F_BUSY;
				final_result(at, 1);
			} else {
				run_line(at);
			}
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
	if ((at->flags & FOTA_AT_F_ECHO) && echoed < len)
		out(at, data + echoed, len - echoed);
}
