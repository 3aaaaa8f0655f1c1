/* crypto_mbedtls.c - the POSIX port's SHA-256 (struct fota_sha256) on mbedTLS 2.28. */
#include <string.h>

#include "fota/posix_crypto.h"

static int sha_start(void *ctx)
{
	struct fota_posix_sha256 *s = ctx;

	mbedtls_sha256_free(&s->mb);
	mbedtls_sha256_init(&s->mb);
	return mbedtls_sha256_starts_ret(&s->mb, 0) ? FOTA_ERR_IO : FOTA_OK;
}

static int sha_update(void *ctx, const void *data, size_t len)
{
	struct fota_posix_sha256 *s = ctx;

	if (!len)
		return FOTA_OK;
	return mbedtls_sha256_update_ret(&s->mb, data, len) ? FOTA_ERR_IO : FOTA_OK;
}

static int sha_finish(void *ctx, uint8_t out[FOTA_SHA256_SIZE])
{
	struct fota_posix_sha256 *s = ctx;

	return mbedtls_sha256_finish_ret(&s->mb, out) ? FOTA_ERR_IO : FOTA_OK;
}

void fota_posix_sha256_init(struct fota_posix_sha256 *s)
{
	memset(s, 0, sizeof(*s));
	mbedtls_sha256_init(&s->mb);
	s->port.ctx = s;
	s->port.start = sha_start;
	s->port.update = sha_update;
	s->port.finish = sha_finish;
}

void fota_posix_sha256_free(struct fota_posix_sha256 *s)
{
	mbedtls_sha256_free(&s->mb);
}

int fota_posix_sha256(const void *data, size_t len, uint8_t out[FOTA_SHA256_SIZE])
{
	return mbedtls_sha256_ret(data, len, out, 0) ? FOTA_ERR_IO : FOTA_OK;
}

int fota_posix_image_frame(struct fota_image_info *info, const void *payload, size_t payload_size,
			   uint8_t hdr[FOTA_IMAGE_HDR_SIZE],
			   uint8_t trailer[FOTA_IMAGE_TRAILER_SHA256])
{
	mbedtls_sha256_context mb;
	uint8_t digest[FOTA_SHA256_SIZE];
	int err;

	if (payload_size > UINT32_MAX - FOTA_IMAGE_HDR_SIZE - FOTA_IMAGE_TRAILER_SHA256)
		return FOTA_ERR_FBIG;
	info->payload_size = (uint32_t)payload_size;
	info->trailer_size = FOTA_IMAGE_TRAILER_SHA256;
	err = fota_image_write_header(hdr, FOTA_IMAGE_HDR_SIZE, info);
	if (err)
		return err;
	mbedtls_sha256_init(&mb);
	err = mbedtls_sha256_starts_ret(&mb, 0) ||
	      mbedtls_sha256_update_ret(&mb, hdr, FOTA_IMAGE_HDR_SIZE) ||
	      mbedtls_sha256_update_ret(&mb, payload, payload_size) ||
	      mbedtls_sha256_finish_ret(&mb, digest) ? FOTA_ERR_IO : FOTA_OK;
	mbedtls_sha256_free(&mb);
	if (err)
		return err;
	fota_image_put_tlv(trailer, FOTA_IMAGE_TRAILER_SHA256, FOTA_TLV_SHA256, digest,
			   FOTA_SHA256_SIZE);
	return FOTA_OK;
}
