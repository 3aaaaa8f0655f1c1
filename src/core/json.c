/*
 * json.c - fota_json_code (see fota/http.h): a bounded, non-recursive scanner that finds
 * the top-level "code" of a JSON object. It skips strings (with their escapes) and
 * tracks the nesting depth; it does not check the rest of the grammar (the code only
 * feeds the informational cause of a refusal).
 */
#include <string.h>

#include "fota/http.h"

#define JSON_DEPTH_MAX 32

int fota_json_code(const char *s, size_t len, int32_t *code)
{
	const char *end = s + len, *p, *q;
	unsigned depth = 0, st = 0; /* st: 1 after the key "code", 2 after its ':' */
	bool started = false, found = false, neg;
	int32_t val = 0;
	uint32_t m;

	for (p = s; p < end; p++) {
		char c = *p;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (!depth) {
			if (started || c != '{')
				return FOTA_ERR_BADMSG; /* not an object, or text after it */
			started = true;
		}
		if (c == '"') {
			for (q = ++p; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (p >= end)
				return FOTA_ERR_BADMSG; /* cut short */
			/* Keys are compared as written: "\u0063ode" is not "code". */
			st = depth == 1 && p - q == 4 && !memcmp(q, "code", 4);
			continue;
		}
		if (st == 1 && c == ':') {
			st = 2;
			found = false; /* the last "code" counts: not an integer so far */
			continue;
		}
		if (st == 2) {
			/* An integer that fits int32_t, then ',', '}' or whitespace. */
			q = p;
			neg = c == '-';
			q += neg;
			if (!fota_scan_u32(&q, end, 10, &m) && m <= 0x7FFFFFFFu + neg && q < end &&
			    memchr(",} \t\n\r", *q, 6)) {
				found = true;
				val = (int32_t)(neg ? 0u - m : m);
			}
		}
		st = 0;
		if (c == '{' || c == '[') {
			if (++depth > JSON_DEPTH_MAX)
				return FOTA_ERR_BADMSG;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	if (depth || !started)
		return FOTA_ERR_BADMSG; /* empty or cut short */
	if (!found)
		return FOTA_ERR_NOENT;
	*code = val;
	return FOTA_OK;
}
