/*
 * fuzz_json.c - fota_json_code on any bytes (the whole input is the body).
 *
 * Result is FOTA_OK, FOTA_ERR_NOENT or FOTA_ERR_BADMSG, and *code is written only on
 * FOTA_OK. Metamorphic checks: JSON whitespace before and after the text changes
 * nothing; a text it accepts (OK or NOENT) is refused when cut before its last
 * non-whitespace byte (it must end in the bracket that closes the object: '}', or ']'
 * since the scanner does not match brackets); the same bytes at another address give
 * the same answer.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fota/http.h"
#include "fuzz_util.h"

static bool ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	int32_t code = 0x5A5A5A5A, code2 = 0x5A5A5A5A;
	char *pad;
	size_t end, cut;
	int err, err2;

	err = fota_json_code(s, size, &code);
	CHECK(err == FOTA_OK || err == FOTA_ERR_NOENT || err == FOTA_ERR_BADMSG);
	if (err != FOTA_OK)
		CHECK_EQ(code, 0x5A5A5A5A);

	/* Padded with whitespace on both sides, in a buffer of its own. */
	pad = malloc(size + 4);
	CHECK(pad != NULL);
	memcpy(pad, " \r\n", 3);
	memcpy(pad + 3, s, size);
	pad[size + 3] = '\t';
	err2 = fota_json_code(pad, size + 4, &code2);
	CHECK_EQ(err2, err);
	if (err == FOTA_OK)
		CHECK_EQ(code2, code);
	/* The same bytes elsewhere. */
	code2 = 0x5A5A5A5A;
	err2 = fota_json_code(pad + 3, size, &code2);
	CHECK_EQ(err2, err);
	if (err == FOTA_OK)
		CHECK_EQ(code2, code);
	free(pad);

	if (err != FOTA_ERR_BADMSG) {
		/* Accepted: it ends with a closing bracket; every cut before it is refused. */
		for (end = size; end && ws(data[end - 1]); end--)
			;
		CHECK(end > 0 && (data[end - 1] == '}' || data[end - 1] == ']'));
		cut = end - 1 - (size_t)(fota_crc32(0, data, size) % end);
		CHECK_EQ(fota_json_code(s, end - 1, &code2), FOTA_ERR_BADMSG);
		CHECK_EQ(fota_json_code(s, cut, &code2), FOTA_ERR_BADMSG);
	}
	return 0;
}
