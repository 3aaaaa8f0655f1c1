/*
 * fuzz_http.c - the HTTP response parser: any chunking gives what feeding it whole gives.
 *
 * Input: 3 bytes of setup, then the bytes of the response.
 *   [0] bit 0: the request was HEAD; bit 1: on_header stops the parser (FOTA_ERR_AGAIN,
 *       which must come back as FOTA_ERR_CANCELED); bit 2: no callbacks at all
 *   [1] chunking: 0 byte by byte, 1..254 random lengths up to it, 255 up to all
 *   [2] seed of the chunk lengths
 * The same bytes go to two parsers, one in a single feed and one in chunks; the header
 * handed over (every field), the body bytes, the result and the bytes used must be the
 * same, and so must fota_http_eof afterwards. Also: a finished parser keeps its result
 * and uses nothing more; the strings it keeps are terminated; a complete body has the
 * length the header announced.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fota/http.h"
#include "fuzz_util.h"

#define BODY_MAX 16384

struct rec {
	unsigned headers;             /* on_header calls */
	struct fota_http_resp resp;   /* what the last one was given */
	size_t body_len;
	uint8_t body[BODY_MAX];
	bool stop_at_header;
};

static struct rec ra, rb;

static int on_header(void *ctx, const struct fota_http_resp *resp)
{
	struct rec *r = ctx;

	r->headers++;
	memcpy(&r->resp, resp, sizeof(*resp));
	CHECK(resp->status >= 200 && resp->status <= 599);
	CHECK(fuzz_strnlen(resp->etag, sizeof(resp->etag)) < sizeof(resp->etag));
	CHECK(fuzz_strnlen(resp->last_modified, sizeof(resp->last_modified)) <
	      sizeof(resp->last_modified));
	CHECK(fuzz_strnlen(resp->location, sizeof(resp->location)) < sizeof(resp->location));
	CHECK(!(resp->chunked && resp->has_length));
	if (resp->has_range)
		CHECK(resp->range_first <= resp->range_last &&
		      (resp->range_total == 0 || resp->range_last < resp->range_total));
	return r->stop_at_header ? FOTA_ERR_AGAIN : FOTA_OK;
}

static int on_body(void *ctx, const uint8_t *data, size_t len)
{
	struct rec *r = ctx;

	CHECK(len > 0);
	CHECK(r->headers == 1);
	CHECK(r->body_len + len <= BODY_MAX);
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	return FOTA_OK;
}

static bool is_final(int err)
{
	return err != FOTA_ERR_AGAIN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fota_http_parser pa, pb;
	struct fuzz_rng rng;
	bool head, none;
	size_t used_a = 0, used_b = 0, i, u;
	int ra_res, rb_res = FOTA_ERR_AGAIN, e;
	uint8_t mode;

	if (size < 3 || size - 3 > BODY_MAX)
		return 0;
	head = data[0] & 1;
	none = data[0] & 4;
	mode = data[1];
	fuzz_rng_init(&rng, (uint32_t)data[2] * 0x9E3779B1u + 1);
	data += 3;
	size -= 3;

	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	ra.stop_at_header = rb.stop_at_header = data[-3] & 2;
	fota_http_parser_init(&pa, head, none ? NULL : on_header, none ? NULL : on_body, &ra);
	fota_http_parser_init(&pb, head, none ? NULL : on_header, none ? NULL : on_body, &rb);

	/* Whole. */
	ra_res = fota_http_feed(&pa, data, size, &used_a);
	CHECK(used_a <= size);
	if (ra_res == FOTA_ERR_AGAIN)
		CHECK_EQ(used_a, size);

	/* In chunks: once final, later feeds give the same and use nothing. */
	for (i = 0; i < size;) {
		size_t n = fuzz_chunk(&rng, mode, size - i);

		u = 12345;
		e = fota_http_feed(&pb, data + i, n, &u);
		CHECK(u <= n);
		if (is_final(rb_res)) {
			CHECK_EQ(e, rb_res);
			CHECK_EQ(u, 0);
		} else {
			if (!is_final(e))
				CHECK_EQ(u, n);
			used_b += u;
		}
		rb_res = e;
		i += n;
	}
	if (size == 0) {
		CHECK_EQ(fota_http_feed(&pb, data, 0, &u), FOTA_ERR_AGAIN);
		CHECK_EQ(u, 0);
	}

	CHECK_EQ(ra_res, rb_res);
	CHECK_EQ(used_a, used_b);
	CHECK_EQ(ra.headers, rb.headers);
	CHECK(ra.headers <= 1);
	if (ra.headers)
		CHECK(!memcmp(&ra.resp, &rb.resp, sizeof(ra.resp)));
	CHECK_EQ(ra.body_len, rb.body_len);
	CHECK(!memcmp(ra.body, rb.body, ra.body_len));
	CHECK(ra.body_len <= used_a);
	if (ra.stop_at_header && ra.headers)
		CHECK_EQ(ra_res, FOTA_ERR_CANCELED);

	/* A finished response: the body has the announced length; nothing after it used. */
	if (ra_res == FOTA_OK && !none) {
		CHECK_EQ(ra.headers, 1);
		if (head || ra.resp.status == 204 || ra.resp.status == 304)
			CHECK_EQ(ra.body_len, 0);
		else if (ra.resp.has_length)
			CHECK_EQ(ra.body_len, ra.resp.length);
		else
			CHECK(ra.resp.chunked);
	}

	/* The peer closes. */
	e = fota_http_eof(&pa);
	CHECK_EQ(e, fota_http_eof(&pb));
	if (is_final(ra_res)) {
		CHECK_EQ(e, ra_res);
	} else {
		CHECK(e == FOTA_OK || e == FOTA_ERR_CONNRESET);
		if (e == FOTA_OK && !none) {
			/* Only a body delimited by the close ends that way. */
			CHECK_EQ(ra.headers, 1);
			CHECK(!head && !ra.resp.has_length && !ra.resp.chunked);
		}
	}
	CHECK_EQ(fota_http_eof(&pa), e);
	CHECK_EQ(fota_http_feed(&pa, (const uint8_t *)"x", 1, &u), e);
	CHECK_EQ(u, 0);
	return 0;
}
