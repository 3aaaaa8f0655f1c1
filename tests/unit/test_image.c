/* Unit tests of the image format: header parser, writer, streaming and in-flash verifier. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fota/image.h"
#include "fota/posix_crypto.h"
#include "fota/simflash.h"

#define PAYLOAD_LEN 1000u
#define IMG_MAX 4096u

static uint8_t img[IMG_MAX];
static struct fota_posix_sha256 sha;

/* --- helpers ------------------------------------------------------------------------------ */

static struct fota_image_info base_info(uint32_t payload, uint32_t trailer)
{
	struct fota_image_info in;

	memset(&in, 0, sizeof(in));
	strcpy(in.name, "AirM2M_780E_LTE_AT");
	strcpy(in.version, "AirM2M_780E_V1121_LTE_AT");
	in.payload_size = payload;
	in.trailer_size = trailer;
	in.security_counter = 5;
	return in;
}

/* Header at img, then a payload of PAYLOAD_LEN patterned bytes. */
static void put_header_and_payload(uint32_t trailer_size)
{
	struct fota_image_info in = base_info(PAYLOAD_LEN, trailer_size);

	memset(img, 0xFF, sizeof(img));
	assert_int_equal(fota_image_write_header(img, sizeof(img), &in), FOTA_OK);
	for (uint32_t i = 0; i < PAYLOAD_LEN; i++)
		img[FOTA_IMAGE_HDR_SIZE + i] = (uint8_t)(i * 7u + 3u);
}

static void hash_of(const uint8_t *p, size_t n, uint8_t out[FOTA_SHA256_SIZE])
{
	assert_int_equal(fota_posix_sha256(p, n, out), FOTA_OK);
}

/* A whole valid image with the hash TLV only; returns its size. */
static size_t make_good_image(void)
{
	uint8_t d[FOTA_SHA256_SIZE];
	size_t at = FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN;

	put_header_and_payload(FOTA_IMAGE_TRAILER_SHA256);
	hash_of(img, at, d);
	assert_int_equal(fota_image_put_tlv(img + at, sizeof(img) - at, FOTA_TLV_SHA256, d,
					    FOTA_SHA256_SIZE),
			 (int)FOTA_IMAGE_TRAILER_SHA256);
	return at + FOTA_IMAGE_TRAILER_SHA256;
}

/* Recomputes the CRC of a header of hsize bytes after a test changed it. */
static void fix_crc(uint8_t *h, uint16_t hsize)
{
	fota_put_le32(h + hsize - 4, fota_crc32(0, h, hsize - 4u));
}

/* Feeds the header whole; returns the result and stores the fault. */
static int parse_whole(const uint8_t *h, size_t len, int *fault)
{
	struct fota_image_parser p;
	int r;

	fota_image_hdr_init(&p);
	r = fota_image_hdr_feed(&p, h, len, NULL);
	*fault = fota_image_hdr_fault(&p);
	return r;
}

static void assert_header_refused(int err, int fault)
{
	int f;

	assert_int_equal(parse_whole(img, FOTA_IMAGE_HDR_SIZE, &f), err);
	assert_int_equal(f, fault);
}

static int verify_bytes(const uint8_t *p, size_t len, uint32_t max, int *fault)
{
	struct fota_image_verifier v;
	size_t used;
	int r;

	fota_image_verifier_init(&v, &sha.port, max);
	r = fota_image_verifier_feed(&v, p, len, &used);
	*fault = fota_image_verifier_fault(&v);
	return r;
}

/* --- the header parser -------------------------------------------------------------------- */

static void header_fed_byte_by_byte_equals_header_fed_whole(void **state)
{
	struct fota_image_parser a, b;
	size_t used, total = 0;
	int r = FOTA_ERR_AGAIN;

	(void)state;
	make_good_image();
	fota_image_hdr_init(&a);
	assert_int_equal(fota_image_hdr_feed(&a, img, sizeof(img), &used), FOTA_OK);
	assert_int_equal(used, FOTA_IMAGE_HDR_SIZE); /* the payload is left to the caller */

	fota_image_hdr_init(&b);
	for (size_t i = 0; i < FOTA_IMAGE_HDR_SIZE; i++) {
		assert_int_equal(r, FOTA_ERR_AGAIN);
		r = fota_image_hdr_feed(&b, img + i, 1, &used);
		total += used;
	}
	assert_int_equal(r, FOTA_OK);
	assert_int_equal(total, FOTA_IMAGE_HDR_SIZE);
	assert_non_null(fota_image_hdr_info(&b));
	assert_memory_equal(fota_image_hdr_info(&a), fota_image_hdr_info(&b),
			    sizeof(struct fota_image_info));
}

static void header_in_uneven_chunks_parses_the_same(void **state)
{
	struct fota_image_parser p;
	const struct fota_image_info *info;
	size_t off = 0, used, chunk = 1;
	int r = FOTA_ERR_AGAIN;

	(void)state;
	make_good_image();
	fota_image_hdr_init(&p);
	while (r == FOTA_ERR_AGAIN) {
		r = fota_image_hdr_feed(&p, img + off, chunk, &used);
		off += used;
		chunk = chunk % 13 + 2;
	}
	assert_int_equal(r, FOTA_OK);
	assert_int_equal(off, FOTA_IMAGE_HDR_SIZE);
	info = fota_image_hdr_info(&p);
	assert_string_equal(info->name, "AirM2M_780E_LTE_AT");
	assert_string_equal(info->version, "AirM2M_780E_V1121_LTE_AT");
	assert_int_equal(info->flags, 0);
	assert_int_equal(info->payload_size, PAYLOAD_LEN);
	assert_int_equal(info->trailer_size, FOTA_IMAGE_TRAILER_SHA256);
	assert_int_equal(info->security_counter, 5);
	assert_int_equal(info->header_size, FOTA_IMAGE_HDR_SIZE);
	assert_int_equal(info->format_version, FOTA_IMAGE_FORMAT);
	assert_int_equal(info->total_size, FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN + 36u);
}

static void incomplete_header_asks_for_more_and_gives_no_info(void **state)
{
	struct fota_image_parser p;
	size_t used;

	(void)state;
	make_good_image();
	fota_image_hdr_init(&p);
	assert_int_equal(fota_image_hdr_feed(&p, img, FOTA_IMAGE_HDR_SIZE - 1, &used),
			 FOTA_ERR_AGAIN);
	assert_int_equal(used, FOTA_IMAGE_HDR_SIZE - 1);
	assert_null(fota_image_hdr_info(&p));
	assert_int_equal(fota_image_hdr_feed(&p, NULL, 0, &used), FOTA_ERR_AGAIN);
	assert_int_equal(used, 0);
}

static void parser_result_is_final_and_uses_no_more_bytes(void **state)
{
	struct fota_image_parser p;
	size_t used;

	(void)state;
	make_good_image();
	fota_image_hdr_init(&p);
	assert_int_equal(fota_image_hdr_feed(&p, img, FOTA_IMAGE_HDR_SIZE, &used), FOTA_OK);
	assert_int_equal(fota_image_hdr_feed(&p, img, 10, &used), FOTA_OK);
	assert_int_equal(used, 0);

	img[0] ^= 1;
	fota_image_hdr_init(&p);
	assert_int_equal(fota_image_hdr_feed(&p, img, 10, &used), FOTA_ERR_BADMSG);
	assert_int_equal(fota_image_hdr_feed(&p, img, 10, &used), FOTA_ERR_BADMSG);
	assert_int_equal(used, 0);
}

static void bad_magic_is_refused_after_four_bytes(void **state)
{
	struct fota_image_parser p;
	size_t used;

	(void)state;
	make_good_image();
	memcpy(img, "<htm", 4); /* an error page instead of an image */
	fota_image_hdr_init(&p);
	assert_int_equal(fota_image_hdr_feed(&p, img, 3, &used), FOTA_ERR_AGAIN);
	assert_int_equal(fota_image_hdr_feed(&p, img + 3, 100, &used), FOTA_ERR_BADMSG);
	assert_int_equal(used, 1);
	assert_int_equal(fota_image_hdr_fault(&p), FOTA_IMAGE_FAULT_MAGIC);
}

static void unknown_format_version_is_refused(void **state)
{
	(void)state;
	make_good_image();
	fota_put_le16(img + FOTA_IMAGE_OFF_FORMAT, 2);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_NOTSUP, FOTA_IMAGE_FAULT_FORMAT);
	fota_put_le16(img + FOTA_IMAGE_OFF_FORMAT, 0);
	assert_header_refused(FOTA_ERR_NOTSUP, FOTA_IMAGE_FAULT_FORMAT);
}

static void header_size_out_of_range_is_refused(void **state)
{
	static const uint16_t bad[] = { 0, 4, 127, FOTA_IMAGE_HDR_MAX + 1, 0xFFFF };

	(void)state;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(bad); i++) {
		make_good_image();
		fota_put_le16(img + FOTA_IMAGE_OFF_HDR_SIZE, bad[i]);
		assert_header_refused(FOTA_ERR_RANGE, FOTA_IMAGE_FAULT_HDR_SIZE);
	}
}

static void bad_header_crc_is_refused(void **state)
{
	(void)state;
	make_good_image();
	img[FOTA_IMAGE_OFF_COUNTER] ^= 0x10; /* a field flipped, CRC left as it was */
	assert_header_refused(FOTA_ERR_CORRUPT, FOTA_IMAGE_FAULT_HDR_CRC);
	make_good_image();
	img[FOTA_IMAGE_HDR_SIZE - 1] ^= 0x80; /* the CRC itself flipped */
	assert_header_refused(FOTA_ERR_CORRUPT, FOTA_IMAGE_FAULT_HDR_CRC);
}

static void unknown_flag_is_refused(void **state)
{
	(void)state;
	make_good_image();
	fota_put_le32(img + FOTA_IMAGE_OFF_FLAGS, FOTA_IMAGE_F_CRASH_ON_BOOT | 0x100u);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_NOTSUP, FOTA_IMAGE_FAULT_FLAGS);
}

static void crash_on_boot_flag_is_read(void **state)
{
	const struct fota_image_info *info;
	struct fota_image_parser p;

	(void)state;
	make_good_image();
	fota_put_le32(img + FOTA_IMAGE_OFF_FLAGS, FOTA_IMAGE_F_CRASH_ON_BOOT);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	fota_image_hdr_init(&p);
	assert_int_equal(fota_image_hdr_feed(&p, img, FOTA_IMAGE_HDR_SIZE, NULL), FOTA_OK);
	info = fota_image_hdr_info(&p);
	assert_int_equal(info->flags, FOTA_IMAGE_F_CRASH_ON_BOOT);
}

static void unterminated_name_is_refused(void **state)
{
	(void)state;
	make_good_image();
	memset(img + FOTA_IMAGE_OFF_NAME, 'A', FOTA_IMAGE_NAME_SIZE);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_TOOLONG, FOTA_IMAGE_FAULT_NAME);
}

static void empty_name_is_refused(void **state)
{
	(void)state;
	make_good_image();
	memset(img + FOTA_IMAGE_OFF_NAME, 0, FOTA_IMAGE_NAME_SIZE);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_INVAL, FOTA_IMAGE_FAULT_NAME);
}

static void unprintable_or_quoted_name_is_refused(void **state)
{
	static const uint8_t bad[] = { '\n', 0x01, 0x7F, 0x80, 0xFF, ' ', '"', '\'', '\\' };

	(void)state;
	for (size_t i = 0; i < sizeof(bad); i++) {
		make_good_image();
		img[FOTA_IMAGE_OFF_NAME + 3] = bad[i];
		fix_crc(img, FOTA_IMAGE_HDR_SIZE);
		assert_header_refused(FOTA_ERR_INVAL, FOTA_IMAGE_FAULT_NAME);
	}
}

static void name_with_bytes_after_its_nul_is_refused(void **state)
{
	(void)state;
	make_good_image();
	img[FOTA_IMAGE_OFF_NAME + FOTA_IMAGE_NAME_SIZE - 1] = 'X';
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_INVAL, FOTA_IMAGE_FAULT_NAME);
}

static void bad_version_is_refused(void **state)
{
	(void)state;
	make_good_image();
	memset(img + FOTA_IMAGE_OFF_VERSION, '1', FOTA_IMAGE_VERSION_SIZE);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_TOOLONG, FOTA_IMAGE_FAULT_VERSION);

	make_good_image();
	memset(img + FOTA_IMAGE_OFF_VERSION, 0, FOTA_IMAGE_VERSION_SIZE);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_INVAL, FOTA_IMAGE_FAULT_VERSION);

	make_good_image();
	img[FOTA_IMAGE_OFF_VERSION + 2] = '\t';
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_INVAL, FOTA_IMAGE_FAULT_VERSION);

	make_good_image();
	img[FOTA_IMAGE_OFF_VERSION + FOTA_IMAGE_VERSION_SIZE - 1] = '9';
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_INVAL, FOTA_IMAGE_FAULT_VERSION);
}

static void empty_payload_is_refused(void **state)
{
	(void)state;
	make_good_image();
	fota_put_le32(img + FOTA_IMAGE_OFF_PAYLOAD, 0);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_INVAL, FOTA_IMAGE_FAULT_PAYLOAD_SIZE);
}

static void trailer_size_out_of_range_is_refused(void **state)
{
	static const uint32_t bad[] = { 0, 3, FOTA_IMAGE_TRAILER_MAX + 1, 0xFFFFFFFFu };

	(void)state;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(bad); i++) {
		make_good_image();
		fota_put_le32(img + FOTA_IMAGE_OFF_TRAILER, bad[i]);
		fix_crc(img, FOTA_IMAGE_HDR_SIZE);
		assert_header_refused(FOTA_ERR_RANGE, FOTA_IMAGE_FAULT_TRAILER_SIZE);
	}
}

static void sizes_that_overflow_32_bits_are_refused(void **state)
{
	(void)state;
	make_good_image();
	fota_put_le32(img + FOTA_IMAGE_OFF_PAYLOAD, 0xFFFFFFFFu - FOTA_IMAGE_HDR_SIZE - 10u);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_FBIG, FOTA_IMAGE_FAULT_OVERFLOW);
	fota_put_le32(img + FOTA_IMAGE_OFF_PAYLOAD, 0xFFFFFFFFu);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_ERR_FBIG, FOTA_IMAGE_FAULT_OVERFLOW);

	/* The largest image that still fits is accepted by the parser. */
	fota_put_le32(img + FOTA_IMAGE_OFF_PAYLOAD,
		      0xFFFFFFFFu - FOTA_IMAGE_HDR_SIZE - FOTA_IMAGE_TRAILER_SHA256);
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	assert_header_refused(FOTA_OK, FOTA_IMAGE_FAULT_NONE);
}

static void larger_header_of_a_later_writer_is_parsed(void **state)
{
	enum { H = 200 };
	struct fota_image_parser p;
	const struct fota_image_info *info;
	size_t used;

	(void)state;
	make_good_image();
	/* A later writer's header: 200 bytes, unknown fields in the extension area. */
	memset(img + FOTA_IMAGE_OFF_EXT, 0xA5, H - FOTA_IMAGE_OFF_EXT);
	fota_put_le16(img + FOTA_IMAGE_OFF_HDR_SIZE, H);
	fix_crc(img, H);
	fota_image_hdr_init(&p);
	for (size_t i = 0; i < H; i++)
		assert_int_equal(fota_image_hdr_feed(&p, img + i, 1, &used),
				 i + 1 < H ? FOTA_ERR_AGAIN : FOTA_OK);
	info = fota_image_hdr_info(&p);
	assert_int_equal(info->header_size, H);
	assert_int_equal(info->total_size, H + PAYLOAD_LEN + FOTA_IMAGE_TRAILER_SHA256);
}

/* --- the writer ------------------------------------------------------------------------ */

static void writer_refuses_what_a_reader_would_refuse(void **state)
{
	struct fota_image_info in = base_info(10, FOTA_IMAGE_TRAILER_SHA256);
	uint8_t h[FOTA_IMAGE_HDR_SIZE];

	(void)state;
	assert_int_equal(fota_image_write_header(h, sizeof(h) - 1, &in), FOTA_ERR_NOMEM);
	assert_int_equal(fota_image_write_header(h, sizeof(h), &in), FOTA_OK);

	memset(in.name, 'N', sizeof(in.name)); /* no NUL at all */
	assert_int_equal(fota_image_write_header(h, sizeof(h), &in), FOTA_ERR_TOOLONG);
	strcpy(in.name, "has space");
	assert_int_equal(fota_image_write_header(h, sizeof(h), &in), FOTA_ERR_INVAL);
	in = base_info(10, FOTA_IMAGE_TRAILER_SHA256);
	in.version[0] = '\0';
	assert_int_equal(fota_image_write_header(h, sizeof(h), &in), FOTA_ERR_INVAL);
	in = base_info(10, FOTA_IMAGE_TRAILER_SHA256);
	in.flags = 0x80000000u;
	assert_int_equal(fota_image_write_header(h, sizeof(h), &in), FOTA_ERR_NOTSUP);
	in = base_info(0, FOTA_IMAGE_TRAILER_SHA256);
	assert_int_equal(fota_image_write_header(h, sizeof(h), &in), FOTA_ERR_INVAL);
	in = base_info(10, 2);
	assert_int_equal(fota_image_write_header(h, sizeof(h), &in), FOTA_ERR_RANGE);
	in = base_info(0xFFFFFFF0u, FOTA_IMAGE_TRAILER_SHA256);
	assert_int_equal(fota_image_write_header(h, sizeof(h), &in), FOTA_ERR_FBIG);
}

static void writer_lays_fields_out_little_endian_at_their_offsets(void **state)
{
	struct fota_image_info in = base_info(0x01020304u, 36);
	uint8_t h[FOTA_IMAGE_HDR_SIZE];

	(void)state;
	in.flags = FOTA_IMAGE_F_CRASH_ON_BOOT;
	in.security_counter = 0xA1B2C3D4u;
	assert_int_equal(fota_image_write_header(h, sizeof(h), &in), FOTA_OK);
	assert_memory_equal(h, "FOTA", 4);
	assert_int_equal(h[4], 128);
	assert_int_equal(h[5], 0);
	assert_int_equal(h[6], 1);
	assert_int_equal(h[8], 1);
	assert_int_equal(h[12], 0x04);
	assert_int_equal(h[15], 0x01);
	assert_int_equal(h[16], 36);
	assert_int_equal(h[20], 0xD4);
	assert_int_equal(h[23], 0xA1);
	assert_memory_equal(h + 28, "AirM2M_780E_LTE_AT\0", 19);
	assert_memory_equal(h + 60, "AirM2M_780E_V1121_LTE_AT\0", 25);
	for (size_t i = FOTA_IMAGE_OFF_EXT; i < FOTA_IMAGE_HDR_SIZE - 4; i++)
		assert_int_equal(h[i], 0);
	assert_int_equal(fota_get_le32(h + 124), fota_crc32(0, h, 124));
}

static void check_text_follows_the_name_rules(void **state)
{
	(void)state;
	assert_int_equal(fota_image_check_text("AirM2M_780E_LTE_AT", FOTA_IMAGE_NAME_SIZE), FOTA_OK);
	assert_int_equal(fota_image_check_text("1.2.3", FOTA_IMAGE_VERSION_SIZE), FOTA_OK);
	assert_int_equal(fota_image_check_text("", FOTA_IMAGE_NAME_SIZE), FOTA_ERR_INVAL);
	assert_int_equal(fota_image_check_text(NULL, FOTA_IMAGE_NAME_SIZE), FOTA_ERR_INVAL);
	assert_int_equal(fota_image_check_text("a\"b", FOTA_IMAGE_NAME_SIZE), FOTA_ERR_INVAL);
	assert_int_equal(fota_image_check_text("a b", FOTA_IMAGE_NAME_SIZE), FOTA_ERR_INVAL);
	assert_int_equal(fota_image_check_text("a\x7f", FOTA_IMAGE_NAME_SIZE), FOTA_ERR_INVAL);
	/* 31 characters fit the name field, 32 do not. */
	assert_int_equal(fota_image_check_text("0123456789012345678901234567890",
					       FOTA_IMAGE_NAME_SIZE), FOTA_OK);
	assert_int_equal(fota_image_check_text("01234567890123456789012345678901",
					       FOTA_IMAGE_NAME_SIZE), FOTA_ERR_TOOLONG);
}

static void put_tlv_refuses_a_short_buffer(void **state)
{
	uint8_t b[8], v[5] = { 1, 2, 3, 4, 5 };

	(void)state;
	assert_int_equal(fota_image_put_tlv(b, sizeof(b), 0x8001, v, 5), FOTA_ERR_NOMEM);
	assert_int_equal(fota_image_put_tlv(b, 3, 0x8001, NULL, 0), FOTA_ERR_NOMEM);
	assert_int_equal(fota_image_put_tlv(b, sizeof(b), 0x8001, v, 4), 8);
	assert_int_equal(fota_get_le16(b), 0x8001);
	assert_int_equal(fota_get_le16(b + 2), 4);
}

static void every_fault_has_a_name(void **state)
{
	(void)state;
	for (int f = FOTA_IMAGE_FAULT_NONE; f <= FOTA_IMAGE_FAULT_SIG_BAD; f++)
		assert_string_not_equal(fota_image_fault_str(f), "?");
	assert_string_equal(fota_image_fault_str(999), "?");
}

/* --- the streaming verifier -------------------------------------------------------------- */

static void verifier_accepts_a_good_image_in_any_chunking(void **state)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 64, 127, 128, 129, 1000, IMG_MAX };
	size_t n = make_good_image();

	(void)state;
	for (size_t c = 0; c < FOTA_ARRAY_SIZE(chunks); c++) {
		struct fota_image_verifier v;
		size_t off = 0, used;
		int r = FOTA_ERR_AGAIN;

		fota_image_verifier_init(&v, &sha.port, IMG_MAX);
		while (r == FOTA_ERR_AGAIN && off < n) {
			size_t len = n - off < chunks[c] ? n - off : chunks[c];

			r = fota_image_verifier_feed(&v, img + off, len, &used);
			assert_int_equal(used, len);
			off += used;
		}
		assert_int_equal(r, FOTA_OK);
		assert_int_equal(off, n);
		assert_string_equal(fota_image_verifier_info(&v)->version,
				    "AirM2M_780E_V1121_LTE_AT");
	}
}

static void verifier_leaves_bytes_after_the_image(void **state)
{
	struct fota_image_verifier v;
	size_t n = make_good_image(), used;

	(void)state;
	fota_image_verifier_init(&v, &sha.port, IMG_MAX);
	assert_int_equal(fota_image_verifier_feed(&v, img, n + 50, &used), FOTA_OK);
	assert_int_equal(used, n);
	assert_int_equal(fota_image_verifier_feed(&v, img, 10, &used), FOTA_OK);
	assert_int_equal(used, 0);
}

static void verifier_refuses_an_image_too_big_as_soon_as_the_header_is_in(void **state)
{
	struct fota_image_verifier v;
	size_t n = make_good_image(), used;

	(void)state;
	fota_image_verifier_init(&v, &sha.port, (uint32_t)n - 1);
	assert_int_equal(fota_image_verifier_feed(&v, img, FOTA_IMAGE_HDR_SIZE, &used),
			 FOTA_ERR_FBIG);
	assert_int_equal(fota_image_verifier_fault(&v), FOTA_IMAGE_FAULT_TOO_BIG);
	/* The header was valid: its facts are there for the error report. */
	assert_non_null(fota_image_verifier_info(&v));
}

static void verifier_skips_unknown_tlvs(void **state)
{
	uint8_t d[FOTA_SHA256_SIZE], junk[9] = { 9, 9, 9, 9, 9, 9, 9, 9, 9 };
	size_t at = FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN, t = at;
	int fault;

	(void)state;
	put_header_and_payload(4 + 9 + 4 + 0 + FOTA_IMAGE_TRAILER_SHA256 + 4 + 2);
	hash_of(img, at, d);
	t += (size_t)fota_image_put_tlv(img + t, 64, 0x8001, junk, 9);
	t += (size_t)fota_image_put_tlv(img + t, 64, FOTA_TLV_PAD, NULL, 0);
	t += (size_t)fota_image_put_tlv(img + t, 64, FOTA_TLV_SHA256, d, FOTA_SHA256_SIZE);
	t += (size_t)fota_image_put_tlv(img + t, 64, 0x7777, junk, 2);
	assert_int_equal(verify_bytes(img, t, IMG_MAX, &fault), FOTA_OK);
}

static void verifier_refuses_a_missing_hash_tlv(void **state)
{
	uint8_t junk[32] = { 0 };
	size_t at = FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN;
	int fault;

	(void)state;
	put_header_and_payload(FOTA_IMAGE_TRAILER_SHA256);
	fota_image_put_tlv(img + at, 64, 0x8001, junk, 32);
	assert_int_equal(verify_bytes(img, at + 36, IMG_MAX, &fault), FOTA_ERR_VERIFY);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_HASH_MISSING);
}

static void verifier_refuses_a_hash_tlv_of_wrong_length_or_repeated(void **state)
{
	uint8_t d[FOTA_SHA256_SIZE];
	size_t at = FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN;
	int fault;

	(void)state;
	put_header_and_payload(4 + 31);
	hash_of(img, at, d);
	fota_image_put_tlv(img + at, 64, FOTA_TLV_SHA256, d, 31);
	assert_int_equal(verify_bytes(img, at + 35, IMG_MAX, &fault), FOTA_ERR_VERIFY);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_HASH_TLV);

	put_header_and_payload(2 * FOTA_IMAGE_TRAILER_SHA256);
	hash_of(img, at, d);
	fota_image_put_tlv(img + at, 64, FOTA_TLV_SHA256, d, 32);
	fota_image_put_tlv(img + at + 36, 64, FOTA_TLV_SHA256, d, 32);
	assert_int_equal(verify_bytes(img, at + 72, IMG_MAX, &fault), FOTA_ERR_VERIFY);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_HASH_TLV);
}

static void verifier_refuses_a_trailer_with_stray_bytes(void **state)
{
	uint8_t d[FOTA_SHA256_SIZE];
	size_t at = FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN;
	int fault;

	(void)state;
	put_header_and_payload(FOTA_IMAGE_TRAILER_SHA256 + 3);
	hash_of(img, at, d);
	fota_image_put_tlv(img + at, 64, FOTA_TLV_SHA256, d, 32);
	assert_int_equal(verify_bytes(img, at + 39, IMG_MAX, &fault), FOTA_ERR_CORRUPT);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_TRAILER);
}

static int failing_start(void *ctx)
{
	(void)ctx;
	return FOTA_ERR_IO;
}

static void verifier_passes_on_the_hash_ports_error(void **state)
{
	struct fota_sha256 port = sha.port;
	struct fota_image_verifier v;
	size_t n = make_good_image(), used;

	(void)state;
	port.start = failing_start;
	fota_image_verifier_init(&v, &port, IMG_MAX);
	assert_int_equal(fota_image_verifier_feed(&v, img, n, &used), FOTA_ERR_IO);
	assert_int_equal(fota_image_verifier_fault(&v), FOTA_IMAGE_FAULT_PORT);
}

/* A hash port that passes every call on to the real one, except that the update taking
 * the hashed total past fail_at bytes, or finish, returns err instead. */
struct flaky_sha {
	struct fota_sha256 port;
	uint32_t fail_at;  /* UINT32_MAX: updates never fail */
	bool fail_finish;
	int err;
	uint32_t hashed;   /* bytes given to update so far */
	unsigned finishes;
};

static int flaky_start(void *ctx)
{
	(void)ctx;
	return sha.port.start(sha.port.ctx);
}

static int flaky_update(void *ctx, const void *data, size_t len)
{
	struct flaky_sha *f = ctx;

	if (f->hashed + len > f->fail_at)
		return f->err;
	f->hashed += (uint32_t)len;
	return sha.port.update(sha.port.ctx, data, len);
}

static int flaky_finish(void *ctx, uint8_t out[FOTA_SHA256_SIZE])
{
	struct flaky_sha *f = ctx;

	f->finishes++;
	return f->fail_finish ? f->err : sha.port.finish(sha.port.ctx, out);
}

static void flaky_sha_init(struct flaky_sha *f, uint32_t fail_at, bool fail_finish, int err)
{
	*f = (struct flaky_sha){ { f, flaky_start, flaky_update, flaky_finish }, fail_at,
				 fail_finish, err, 0, 0 };
}

/* Feeds the image of n bytes at img in chunks of c through a verifier on port f; the
 * result must be err with the port's fault, and final: no byte more is taken. */
static void assert_port_failure_is_final(struct flaky_sha *f, size_t n, size_t c, int err)
{
	struct fota_image_verifier v;
	size_t off = 0, used;
	int r = FOTA_ERR_AGAIN;

	fota_image_verifier_init(&v, &f->port, IMG_MAX);
	while (r == FOTA_ERR_AGAIN && off < n) {
		size_t len = n - off < c ? n - off : c;

		r = fota_image_verifier_feed(&v, img + off, len, &used);
		off += len;
	}
	assert_int_equal(r, err);
	assert_int_equal(fota_image_verifier_fault(&v), FOTA_IMAGE_FAULT_PORT);
	/* Never a success later: the rest of the image is refused and not taken. */
	assert_int_equal(fota_image_verifier_feed(&v, img + off, n - off, &used), err);
	assert_int_equal(used, 0);
	assert_int_equal(fota_image_verifier_feed(&v, NULL, 0, NULL), err);
}

static void hash_update_failing_in_the_header_fails_with_the_ports_error(void **state)
{
	static const size_t chunks[] = { 1, 7, 64, IMG_MAX };
	size_t n = make_good_image();
	struct flaky_sha f;

	(void)state;
	for (size_t c = 0; c < FOTA_ARRAY_SIZE(chunks); c++) {
		/* The first update fails, whatever its size: it carries header bytes. */
		flaky_sha_init(&f, 0, false, FOTA_ERR_IO);
		assert_port_failure_is_final(&f, n, chunks[c], FOTA_ERR_IO);
		assert_int_equal(f.hashed, 0);
		assert_int_equal(f.finishes, 0);
	}
}

static void hash_update_failing_in_the_payload_fails_with_the_ports_error(void **state)
{
	static const size_t chunks[] = { 1, 7, 64, IMG_MAX };
	size_t n = make_good_image();
	struct flaky_sha f;

	(void)state;
	for (size_t c = 0; c < FOTA_ARRAY_SIZE(chunks); c++) {
		/* The header is hashed whole, then an update of payload bytes fails. */
		flaky_sha_init(&f, FOTA_IMAGE_HDR_SIZE + 500, false, FOTA_ERR_BUSY);
		assert_port_failure_is_final(&f, n, chunks[c], FOTA_ERR_BUSY);
		assert_true(f.hashed >= FOTA_IMAGE_HDR_SIZE);
		assert_int_equal(f.finishes, 0); /* no digest taken of part of the payload */
	}
}

static void hash_finish_failing_fails_the_verifier_before_the_trailer(void **state)
{
	static const size_t chunks[] = { 1, 7, 64, IMG_MAX };
	size_t n = make_good_image();
	struct flaky_sha f;

	(void)state;
	for (size_t c = 0; c < FOTA_ARRAY_SIZE(chunks); c++) {
		flaky_sha_init(&f, UINT32_MAX, true, FOTA_ERR_NOTSUP);
		assert_port_failure_is_final(&f, n, chunks[c], FOTA_ERR_NOTSUP);
		assert_int_equal(f.hashed, FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN);
		assert_int_equal(f.finishes, 1);
	}
}

static void verifier_after_a_hash_port_failure_verifies_the_next_image(void **state)
{
	struct fota_image_verifier v;
	size_t n = make_good_image(), used;
	struct flaky_sha f;

	(void)state;
	/* The port fails mid-payload and its hash is abandoned unfinished... */
	flaky_sha_init(&f, FOTA_IMAGE_HDR_SIZE + 10, false, FOTA_ERR_IO);
	fota_image_verifier_init(&v, &f.port, IMG_MAX);
	assert_int_equal(fota_image_verifier_feed(&v, img, n, &used), FOTA_ERR_IO);
	/* ...and the same port, working again, verifies the image from a fresh start. */
	flaky_sha_init(&f, UINT32_MAX, false, FOTA_OK);
	fota_image_verifier_init(&v, &f.port, IMG_MAX);
	assert_int_equal(fota_image_verifier_feed(&v, img, n, &used), FOTA_OK);
	assert_int_equal(used, n);
	assert_int_equal(fota_image_verifier_fault(&v), FOTA_IMAGE_FAULT_NONE);
}

/* --- signatures (a fake signature port: the "signature" of a hash by key k is each hash
 * byte XOR k, twice over; the real ECDSA port is tested in test_posix_sig.c) ----------- */

struct fake_sig {
	struct fota_sig port;
	uint8_t key;
	int fail; /* an engine error to return instead of checking */
	unsigned calls;
};

static int fake_verify(void *ctx, const uint8_t hash[FOTA_SHA256_SIZE],
		       const uint8_t sig[FOTA_SIG_SIZE])
{
	struct fake_sig *f = ctx;

	f->calls++;
	if (f->fail)
		return f->fail;
	for (unsigned i = 0; i < FOTA_SIG_SIZE; i++)
		if (sig[i] != (uint8_t)(hash[i % FOTA_SHA256_SIZE] ^ f->key))
			return FOTA_ERR_VERIFY;
	return FOTA_OK;
}

static void fake_sig_init(struct fake_sig *f, uint8_t key)
{
	memset(f, 0, sizeof(*f));
	f->port.ctx = f;
	f->port.verify = fake_verify;
	f->key = key;
}

/* A whole image signed by key (hash TLV, then the signature TLV); returns its size. */
static size_t make_signed_image(uint8_t key)
{
	uint8_t d[FOTA_SHA256_SIZE], sg[FOTA_SIG_SIZE];
	size_t at = FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN;

	put_header_and_payload(FOTA_IMAGE_TRAILER_SIGNED);
	hash_of(img, at, d);
	for (unsigned i = 0; i < FOTA_SIG_SIZE; i++)
		sg[i] = (uint8_t)(d[i % FOTA_SHA256_SIZE] ^ key);
	at += (size_t)fota_image_put_tlv(img + at, 64, FOTA_TLV_SHA256, d, FOTA_SHA256_SIZE);
	at += (size_t)fota_image_put_tlv(img + at, 128, FOTA_TLV_SIGNATURE, sg, FOTA_SIG_SIZE);
	return at;
}

static int verify_signed(const uint8_t *p, size_t len, const struct fota_sig *sig, size_t chunk,
			 int *fault)
{
	struct fota_image_verifier v;
	size_t off = 0, used;
	int r = FOTA_ERR_AGAIN;

	fota_image_verifier_init(&v, &sha.port, IMG_MAX);
	fota_image_verifier_require_sig(&v, sig);
	while (r == FOTA_ERR_AGAIN && off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		r = fota_image_verifier_feed(&v, p + off, n, &used);
		off += used;
	}
	*fault = fota_image_verifier_fault(&v);
	return r;
}

static void signed_image_is_accepted_by_its_key_in_any_chunking(void **state)
{
	static const size_t chunks[] = { 1, 3, 64, 129, IMG_MAX };
	struct fake_sig k;
	size_t n = make_signed_image(0x5A);
	int fault;

	(void)state;
	fake_sig_init(&k, 0x5A);
	for (size_t c = 0; c < FOTA_ARRAY_SIZE(chunks); c++) {
		assert_int_equal(verify_signed(img, n, &k.port, chunks[c], &fault), FOTA_OK);
		assert_int_equal(fault, FOTA_IMAGE_FAULT_NONE);
	}
	assert_int_equal(k.calls, FOTA_ARRAY_SIZE(chunks)); /* once per image, at its end */
}

static void unsigned_image_is_refused_when_a_signature_is_required(void **state)
{
	struct fake_sig k;
	size_t n = make_good_image();
	int fault;

	(void)state;
	fake_sig_init(&k, 0x5A);
	assert_int_equal(verify_signed(img, n, &k.port, IMG_MAX, &fault), FOTA_ERR_VERIFY);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_SIG_MISSING);
	assert_int_equal(k.calls, 0);
}

static void signature_by_another_key_is_refused(void **state)
{
	struct fake_sig k;
	size_t n = make_signed_image(0x33);
	int fault;

	(void)state;
	fake_sig_init(&k, 0x5A);
	assert_int_equal(verify_signed(img, n, &k.port, 7, &fault), FOTA_ERR_VERIFY);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_SIG_BAD);
}

static void tampered_signed_image_is_refused_by_hash_before_signature(void **state)
{
	struct fake_sig k;
	size_t n;
	int fault;

	(void)state;
	fake_sig_init(&k, 0x5A);
	n = make_signed_image(0x5A);
	img[FOTA_IMAGE_HDR_SIZE + 500] ^= 0x01; /* a payload byte */
	assert_int_equal(verify_signed(img, n, &k.port, IMG_MAX, &fault), FOTA_ERR_VERIFY);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_HASH_MISMATCH);

	/* Re-versioned with the CRC and the hash made right again: only the signature can
	 * tell, and it does. */
	n = make_signed_image(0x5A);
	img[FOTA_IMAGE_OFF_VERSION + 20] = '9';
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	hash_of(img, FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN, img + FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN + 4);
	assert_int_equal(verify_signed(img, n, &k.port, IMG_MAX, &fault), FOTA_ERR_VERIFY);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_SIG_BAD);
	assert_int_equal(k.calls, 1);
}

static void signature_tlv_of_wrong_length_or_repeated_is_refused(void **state)
{
	uint8_t d[FOTA_SHA256_SIZE], sg[FOTA_SIG_SIZE + 1] = { 0 };
	size_t at = FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN, t;
	int fault;

	(void)state;
	/* Wrong length: refused also with no signature port (the TLV is malformed). */
	put_header_and_payload(FOTA_IMAGE_TRAILER_SHA256 + 4 + FOTA_SIG_SIZE - 1);
	hash_of(img, at, d);
	t = at + (size_t)fota_image_put_tlv(img + at, 64, FOTA_TLV_SHA256, d, FOTA_SHA256_SIZE);
	t += (size_t)fota_image_put_tlv(img + t, 128, FOTA_TLV_SIGNATURE, sg, FOTA_SIG_SIZE - 1);
	assert_int_equal(verify_signed(img, t, NULL, IMG_MAX, &fault), FOTA_ERR_VERIFY);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_SIG_TLV);

	/* Two signature TLVs: which one counts would be ambiguous. */
	put_header_and_payload(FOTA_IMAGE_TRAILER_SIGNED + 4 + FOTA_SIG_SIZE);
	hash_of(img, at, d);
	t = at + (size_t)fota_image_put_tlv(img + at, 64, FOTA_TLV_SHA256, d, FOTA_SHA256_SIZE);
	t += (size_t)fota_image_put_tlv(img + t, 128, FOTA_TLV_SIGNATURE, sg, FOTA_SIG_SIZE);
	t += (size_t)fota_image_put_tlv(img + t, 128, FOTA_TLV_SIGNATURE, sg, FOTA_SIG_SIZE);
	assert_int_equal(verify_signed(img, t, NULL, IMG_MAX, &fault), FOTA_ERR_VERIFY);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_SIG_TLV);
}

static void signed_image_is_accepted_where_no_signature_is_required(void **state)
{
	size_t n = make_signed_image(0x11);
	int fault;

	(void)state;
	assert_int_equal(verify_signed(img, n, NULL, 5, &fault), FOTA_OK);
}

static void signature_ports_engine_error_is_passed_on(void **state)
{
	struct fake_sig k;
	size_t n = make_signed_image(0x5A);
	int fault;

	(void)state;
	fake_sig_init(&k, 0x5A);
	k.fail = FOTA_ERR_IO;
	assert_int_equal(verify_signed(img, n, &k.port, IMG_MAX, &fault), FOTA_ERR_IO);
	assert_int_equal(fault, FOTA_IMAGE_FAULT_PORT);
}

/* --- verification in flash --------------------------------------------------------------- */

#define SECTOR 4096u
#define SLOT 0x2000u /* the image's address in the flash: the second slot of 8 KiB */
static uint8_t flash_mem[4 * SECTOR];
static struct fota_simflash sf;

/* Programs the n bytes of img at SLOT of an erased flash. */
static void store(size_t n)
{
	assert_int_equal(fota_simflash_init_mem(&sf, flash_mem, sizeof(flash_mem), SECTOR, 1),
			 FOTA_OK);
	fota_simflash_format(&sf);
	if (n)
		assert_int_equal(sf.flash.prog(sf.flash.ctx, SLOT, img, n), FOTA_OK);
}

static int verify_slot(struct fota_image_info *info)
{
	int r = fota_image_verify_flash(&sf.flash, SLOT, 2 * SECTOR, &sha.port, info);

	fota_simflash_close(&sf);
	return r;
}

static void flash_verify_accepts_a_good_image_and_gives_its_facts(void **state)
{
	struct fota_image_info info;
	size_t n = make_good_image();

	(void)state;
	store(n);
	assert_int_equal(verify_slot(&info), FOTA_OK);
	assert_string_equal(info.name, "AirM2M_780E_LTE_AT");
	assert_int_equal(info.total_size, n);
	assert_int_equal(info.security_counter, 5);
}

static void flash_verify_catches_a_flipped_payload_byte(void **state)
{
	struct fota_image_info info;
	size_t n = make_good_image();

	(void)state;
	img[FOTA_IMAGE_HDR_SIZE + 500] ^= 0x04;
	store(n);
	assert_int_equal(verify_slot(&info), FOTA_ERR_VERIFY);
	assert_int_equal(info.total_size, 0); /* zeroed on error */
}

static void flash_verify_catches_a_flipped_header_byte(void **state)
{
	size_t n = make_good_image();

	(void)state;
	img[FOTA_IMAGE_OFF_VERSION + 13] ^= 0x01; /* V1121 -> V1131: the CRC catches it */
	store(n);
	assert_int_equal(verify_slot(NULL), FOTA_ERR_CORRUPT);

	/* Even with the CRC made to match, the hash over the header catches it. */
	n = make_good_image();
	img[FOTA_IMAGE_OFF_VERSION + 13] ^= 0x01;
	fix_crc(img, FOTA_IMAGE_HDR_SIZE);
	store(n);
	assert_int_equal(verify_slot(NULL), FOTA_ERR_VERIFY);
}

static void flash_verify_catches_a_flipped_hash_byte(void **state)
{
	size_t n = make_good_image();

	(void)state;
	img[n - 1] ^= 0x80;
	store(n);
	assert_int_equal(verify_slot(NULL), FOTA_ERR_VERIFY);
}

static void flash_verify_catches_a_truncated_trailer(void **state)
{
	uint8_t d[FOTA_SHA256_SIZE];
	size_t at = FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN;

	(void)state;
	/* The header says 20 trailer bytes; the hash TLV in them says 32 bytes follow. */
	put_header_and_payload(20);
	hash_of(img, at, d);
	fota_image_put_tlv(img + at, 64, FOTA_TLV_SHA256, d, 32);
	store(at + 36);
	assert_int_equal(verify_slot(NULL), FOTA_ERR_CORRUPT);
}

static void flash_verify_catches_a_missing_hash_tlv(void **state)
{
	size_t at = FOTA_IMAGE_HDR_SIZE + PAYLOAD_LEN;
	uint8_t zeros[32] = { 0 };

	(void)state;
	put_header_and_payload(36);
	fota_image_put_tlv(img + at, 64, FOTA_TLV_PAD, zeros, 32);
	store(at + 36);
	assert_int_equal(verify_slot(NULL), FOTA_ERR_VERIFY);
}

static void flash_verify_refuses_an_image_larger_than_max_size(void **state)
{
	size_t n = make_good_image();

	(void)state;
	store(n);
	assert_int_equal(fota_image_verify_flash(&sf.flash, SLOT, (uint32_t)n - 1, &sha.port, NULL),
			 FOTA_ERR_FBIG);
	assert_int_equal(fota_image_verify_flash(&sf.flash, SLOT, (uint32_t)n, &sha.port, NULL),
			 FOTA_OK);
	/* A space smaller than a header. */
	assert_int_equal(fota_image_verify_flash(&sf.flash, SLOT, 100, &sha.port, NULL),
			 FOTA_ERR_FBIG);
	fota_simflash_close(&sf);
}

static void flash_verify_refuses_a_range_outside_the_device(void **state)
{
	size_t n = make_good_image();

	(void)state;
	store(n);
	assert_int_equal(fota_image_verify_flash(&sf.flash, SLOT, sizeof(flash_mem), &sha.port,
						 NULL), FOTA_ERR_INVAL);
	assert_int_equal(fota_image_verify_flash(&sf.flash, sizeof(flash_mem) + 1, 0, &sha.port,
						 NULL), FOTA_ERR_INVAL);
	fota_simflash_close(&sf);
}

static void flash_verify_refuses_erased_flash(void **state)
{
	(void)state;
	store(0);
	assert_int_equal(verify_slot(NULL), FOTA_ERR_BADMSG);
}

static void flash_verify_checks_the_signature_when_given_a_port(void **state)
{
	struct fake_sig k;
	struct fota_image_info info;

	(void)state;
	fake_sig_init(&k, 0x5A);
	store(make_signed_image(0x5A));
	assert_int_equal(fota_image_verify_flash_sig(&sf.flash, SLOT, 2 * SECTOR, &sha.port,
						     &k.port, &info),
			 FOTA_OK);
	assert_int_equal(info.trailer_size, FOTA_IMAGE_TRAILER_SIGNED);
	fota_simflash_close(&sf);
	store(make_signed_image(0x22));
	assert_int_equal(fota_image_verify_flash_sig(&sf.flash, SLOT, 2 * SECTOR, &sha.port,
						     &k.port, &info),
			 FOTA_ERR_VERIFY);
	assert_int_equal(info.payload_size, 0); /* zeroed on an error */
	/* Without a port the same image passes on its hash alone. */
	assert_int_equal(fota_image_verify_flash_sig(&sf.flash, SLOT, 2 * SECTOR, &sha.port, NULL,
						     NULL),
			 FOTA_OK);
	fota_simflash_close(&sf);
}

static void flash_verify_passes_on_the_flash_error(void **state)
{
	size_t n = make_good_image();
	uint8_t one = 0;

	(void)state;
	store(n);
	fota_simflash_cut_power(&sf, 1, FOTA_CUT_CLEAN);
	assert_int_equal(sf.flash.prog(sf.flash.ctx, 0, &one, 1), FOTA_ERR_POWER);
	assert_int_equal(verify_slot(NULL), FOTA_ERR_POWER);
}

static int setup(void **state)
{
	(void)state;
	fota_posix_sha256_init(&sha);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fota_posix_sha256_free(&sha);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_fed_byte_by_byte_equals_header_fed_whole),
		cmocka_unit_test(header_in_uneven_chunks_parses_the_same),
		cmocka_unit_test(incomplete_header_asks_for_more_and_gives_no_info),
		cmocka_unit_test(parser_result_is_final_and_uses_no_more_bytes),
		cmocka_unit_test(bad_magic_is_refused_after_four_bytes),
		cmocka_unit_test(unknown_format_version_is_refused),
		cmocka_unit_test(header_size_out_of_range_is_refused),
		cmocka_unit_test(bad_header_crc_is_refused),
		cmocka_unit_test(unknown_flag_is_refused),
		cmocka_unit_test(crash_on_boot_flag_is_read),
		cmocka_unit_test(unterminated_name_is_refused),
		cmocka_unit_test(empty_name_is_refused),
		cmocka_unit_test(unprintable_or_quoted_name_is_refused),
		cmocka_unit_test(name_with_bytes_after_its_nul_is_refused),
		cmocka_unit_test(bad_version_is_refused),
		cmocka_unit_test(empty_payload_is_refused),
		cmocka_unit_test(trailer_size_out_of_range_is_refused),
		cmocka_unit_test(sizes_that_overflow_32_bits_are_refused),
		cmocka_unit_test(larger_header_of_a_later_writer_is_parsed),
		cmocka_unit_test(writer_refuses_what_a_reader_would_refuse),
		cmocka_unit_test(writer_lays_fields_out_little_endian_at_their_offsets),
		cmocka_unit_test(check_text_follows_the_name_rules),
		cmocka_unit_test(put_tlv_refuses_a_short_buffer),
		cmocka_unit_test(every_fault_has_a_name),
		cmocka_unit_test(verifier_accepts_a_good_image_in_any_chunking),
		cmocka_unit_test(verifier_leaves_bytes_after_the_image),
		cmocka_unit_test(verifier_refuses_an_image_too_big_as_soon_as_the_header_is_in),
		cmocka_unit_test(verifier_skips_unknown_tlvs),
		cmocka_unit_test(verifier_refuses_a_missing_hash_tlv),
		cmocka_unit_test(verifier_refuses_a_hash_tlv_of_wrong_length_or_repeated),
		cmocka_unit_test(verifier_refuses_a_trailer_with_stray_bytes),
		cmocka_unit_test(verifier_passes_on_the_hash_ports_error),
		cmocka_unit_test(hash_update_failing_in_the_header_fails_with_the_ports_error),
		cmocka_unit_test(hash_update_failing_in_the_payload_fails_with_the_ports_error),
		cmocka_unit_test(hash_finish_failing_fails_the_verifier_before_the_trailer),
		cmocka_unit_test(verifier_after_a_hash_port_failure_verifies_the_next_image),
		cmocka_unit_test(flash_verify_accepts_a_good_image_and_gives_its_facts),
		cmocka_unit_test(flash_verify_catches_a_flipped_payload_byte),
		cmocka_unit_test(flash_verify_catches_a_flipped_header_byte),
		cmocka_unit_test(flash_verify_catches_a_flipped_hash_byte),
		cmocka_unit_test(flash_verify_catches_a_truncated_trailer),
		cmocka_unit_test(flash_verify_catches_a_missing_hash_tlv),
		cmocka_unit_test(flash_verify_refuses_an_image_larger_than_max_size),
		cmocka_unit_test(flash_verify_refuses_a_range_outside_the_device),
		cmocka_unit_test(flash_verify_refuses_erased_flash),
		cmocka_unit_test(flash_verify_checks_the_signature_when_given_a_port),
		cmocka_unit_test(flash_verify_passes_on_the_flash_error),
		cmocka_unit_test(signed_image_is_accepted_by_its_key_in_any_chunking),
		cmocka_unit_test(unsigned_image_is_refused_when_a_signature_is_required),
		cmocka_unit_test(signature_by_another_key_is_refused),
		cmocka_unit_test(tampered_signed_image_is_refused_by_hash_before_signature),
		cmocka_unit_test(signature_tlv_of_wrong_length_or_repeated_is_refused),
		cmocka_unit_test(signed_image_is_accepted_where_no_signature_is_required),
		cmocka_unit_test(signature_ports_engine_error_is_passed_on),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
