/*
 * json.c - fota_json_code (see fota/http.h): a bounded, non-recursive JSON scanner that
 * checks the whole text and finds the top-level "code". Nesting is tracked with a bit
 * per level (object or array), so brackets must match; deeper than JSON_DEPTH_MAX
 * levels is refused.
 */
#include <string.h>

#include "fota/http.h"

#define JSON_DEPTH_MAX 32 /* bits of the level stack */

/* What the scanner expects next (after whitespace). */
enum { J_VALUE, J_KEY, J_COLON, J_NEXT };

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t digits(const char *s, size_t len, size_t i)
{
	while (i < len && is_digit(s[i]))
		i++;
	return i;
}

/* Skips the string whose opening quote is at s[i - 1]. Returns the index after its
 * closing quote, or 0 when it is malformed or cut short. */
static size_t string_end(const char *s, size_t len, size_t i)
{
	while (i < len) {
		uint8_t c = (uint8_t)s[i++];
		unsigned k;

		if (c == '"')
			return i;
		if (c < 0x20)
			return 0; /* controls must be escaped */
		if (c != '\\')
			continue;
		if (i == len)
			return 0;
		c = (uint8_t)s[i++];
		if (c == 'u') {
			for (k = 0; k < 4; k++, i++)
				if (i == len || !(is_digit(s[i]) ||
						  ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f')))
					return 0;
		} else if (!memchr("\"\\/bfnrt", c, 8)) {
			return 0;
		}
	}
	return 0;
}

/* Scans the number at s[i]. Returns the index after it, or 0 when malformed; *v gets
 * its value and *isint whether it is an integer that fits 32 bits. */
static size_t number(const char *s, size_t len, size_t i, int32_t *v, bool *isint)
{
	bool neg = s[i] == '-';
	uint32_t m = 0;
	size_t d0;

	*isint = true;
	if (neg)
		i++;
	for (d0 = i; i < len && is_digit(s[i]); i++) {
		uint32_t d = (uint32_t)(s[i] - '0');

		if (m > (0x80000000u - d) / 10)
			*isint = false;
		else
			m = m * 10 + d;
	}
	if (i == d0 || (s[d0] == '0' && i - d0 > 1))
		return 0; /* no digit, or a leading zero */
	if (i < len && s[i] == '.') {
		d0 = ++i;
		i = digits(s, len, i);
		if (i == d0)
			return 0;
		*isint = false;
	}
	if (i < len && (s[i] | 0x20) == 'e') {
		if (++i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		d0 = i;
		i = digits(s, len, i);
		if (i == d0)
			return 0;
		*isint = false;
	}
	if (!neg && m > 0x7FFFFFFFu)
		*isint = false;
	*v = neg ? (m ? -(int32_t)(m - 1) - 1 : 0) : (int32_t)m;
	return i;
}

int fota_json_code(const char *s, size_t len, int32_t *code)
{
	uint32_t objs = 0;  /* bit d: level d + 1 is an object */
	unsigned depth = 0, st = J_VALUE;
	bool first = false; /* just after '{' or '[': the closing bracket may follow */
	bool is_code = false, found = false, isint;
	int32_t v, val = 0;
	size_t i, k;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (!depth && st == J_NEXT)
			return FOTA_ERR_BADMSG; /* text after the object */
		if (c == '}' || c == ']') {
			if (!depth || (st != J_NEXT && !first) ||
			    c != (((objs >> (depth - 1)) & 1) ? '}' : ']'))
				return FOTA_ERR_BADMSG;
			depth--;
			st = J_NEXT;
			first = false;
			continue;
		}
		first = false;
		switch (st) {
		case J_VALUE:
			if (depth == 1 && is_code)
				found = false; /* the last "code" counts: not an integer so far */
			if (!depth && c != '{')
				return FOTA_ERR_BADMSG; /* not an object */
			if (c == '{' || c == '[') {
				if (depth == JSON_DEPTH_MAX)
					return FOTA_ERR_BADMSG;
				if (c == '{')
					objs |= 1u << depth;
				else
					objs &= ~(1u << depth);
				depth++;
				first = true;
				st = c == '{' ? J_KEY : J_VALUE;
				continue;
			}
			if (c == '"') {
				k = string_end(s, len, i + 1);
			} else if (c == '-' || is_digit(c)) {
				k = number(s, len, i, &v, &isint);
				if (k && depth == 1 && is_code && isint) {
					found = true;
					val = v;
				}
			} else {
				const char *w = c == 't' ? "true" : c == 'f' ? "false" : "null";
				size_t n = strlen(w);

				k = len - i >= n && !memcmp(s + i, w, n) ? i + n : 0;
			}
			if (!k)
				return FOTA_ERR_BADMSG;
			i = k - 1;
			st = J_NEXT;
			break;
		case J_KEY:
			k = c == '"' ? string_end(s, len, i + 1) : 0;
			if (!k)
				return FOTA_ERR_BADMSG;
			/* Keys are compared as written: "\u0063ode" is not "code". */
			is_code = depth == 1 && k - i == 6 && !memcmp(s + i + 1, "code", 4);
			i = k - 1;
			st = J_COLON;
			break;
		case J_COLON:
			if (c != ':')
				return FOTA_ERR_BADMSG;
			st = J_VALUE;
			break;
		default: /* J_NEXT */
			if (c != ',')
				return FOTA_ERR_BADMSG;
			st = ((objs >> (depth - 1)) & 1) ? J_KEY : J_VALUE;
			break;
		}
	}
	if (depth || st != J_NEXT)
		return FOTA_ERR_BADMSG; /* empty or cut short */
	if (!found)
		return FOTA_ERR_NOENT;
	*code = val;
	return FOTA_OK;
}
