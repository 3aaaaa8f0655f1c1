/* image.c - the firmware image: header parser, streaming verifier, writer (see image.h). */
#include <string.h>

#include "fota/image.h"

FOTA_STATIC_ASSERT(FOTA_IMAGE_OFF_EXT + 4u <= FOTA_IMAGE_HDR_SIZE, hdr_holds_fields);
FOTA_STATIC_ASSERT(FOTA_IMAGE_HDR_SIZE <= FOTA_IMAGE_HDR_MAX && FOTA_IMAGE_HDR_MAX <= 0xFFFFu,
		   hdr_max_in_range);
FOTA_STATIC_ASSERT(FOTA_IMAGE_TRAILER_SHA256 <= FOTA_IMAGE_TRAILER_MAX, trailer_max_holds_hash);
FOTA_STATIC_ASSERT(FOTA_IMAGE_OFF_VERSION == FOTA_IMAGE_OFF_NAME + FOTA_IMAGE_NAME_SIZE,
		   name_before_version);
FOTA_STATIC_ASSERT(FOTA_IMAGE_OFF_EXT == FOTA_IMAGE_OFF_VERSION + FOTA_IMAGE_VERSION_SIZE,
		   version_before_ext);

/* --- names and versions -------------------------------------------------------------- */

static bool text_byte_ok(uint8_t c)
{
	return c >= 0x21 && c <= 0x7E && c != '"' && c != '\'' && c != '\\';
}

/* Checks a NUL-padded field of size bytes: 1..size-1 good bytes, a NUL, only NULs after. */
static int check_field(const char *f, size_t size)
{
	size_t n = 0;

	while (n < size && f[n])
		n++;
	if (n == size)
		return FOTA_ERR_TOOLONG;
	if (n == 0)
		return FOTA_ERR_INVAL;
	for (size_t i = 0; i < size; i++)
		if (i < n ? !text_byte_ok((uint8_t)f[i]) : f[i] != 0)
			return FOTA_ERR_INVAL;
	return FOTA_OK;
}

int fota_image_check_text(const char *s, size_t field_size)
{
	size_t n = 0;

	if (!s || !*s)
		return FOTA_ERR_INVAL;
	for (n = 0; s[n]; n++) {
		if (n + 1 >= field_size)
			return FOTA_ERR_TOOLONG;
		if (!text_byte_ok((uint8_t)s[n]))
			return FOTA_ERR_INVAL;
	}
	return FOTA_OK;
}

/* Checks the fields a reader and a writer agree on (all but magic, format, header size
 * and CRC); fills info->total_size. Returns FOTA_OK or an error with *fault set. */
static FOTA_INLINE int check_info(struct fota_image_info *info, uint8_t *fault)
{
	uint32_t room;
	int err;

	if (info->flags & ~FOTA_IMAGE_F_KNOWN) {
		*fault = FOTA_IMAGE_FAULT_FLAGS;
		return FOTA_ERR_NOTSUP;
	}
	err = check_field(info->name, sizeof(info->name));
	if (err) {
		*fault = FOTA_IMAGE_FAULT_NAME;
		return err;
	}
	err = check_field(info->version, sizeof(info->version));
	if (err) {
		*fault = FOTA_IMAGE_FAULT_VERSION;
		return err;
	}
	if (info->payload_size == 0) {
		*fault = FOTA_IMAGE_FAULT_PAYLOAD_SIZE;
		return FOTA_ERR_INVAL;
	}
	if (info->trailer_size < FOTA_IMAGE_TLV_HDR || info->trailer_size > FOTA_IMAGE_TRAILER_MAX) {
		*fault = FOTA_IMAGE_FAULT_TRAILER_SIZE;
		return FOTA_ERR_RANGE;
	}
	room = UINT32_MAX - info->header_size;
	if (info->payload_size > room || info->trailer_size > room - info->payload_size) {
		*fault = FOTA_IMAGE_FAULT_OVERFLOW;
		return FOTA_ERR_FBIG;
	}
	info->total_size = info->header_size + info->payload_size + info->trailer_size;
	return FOTA_OK;
}

/* --- header parser -------------------------------------------------------------------- */

void fota_image_hdr_init(struct fota_image_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->result = FOTA_ERR_AGAIN;
}

FOTA_NOINLINE static int hdr_fail(struct fota_image_parser *p, int err, uint8_t fault)
{
	p->result = (int16_t)err;
	p->fault = fault;
	return err;
}

/* Checks made as soon as the first 4 and 8 bytes are in. */
static FOTA_INLINE int hdr_check_early(struct fota_image_parser *p)
{
	if (p->pos == 4 && fota_get_le32(p->fixed + FOTA_IMAGE_OFF_MAGIC) != FOTA_IMAGE_MAGIC)
		return hdr_fail(p, FOTA_ERR_BADMSG, FOTA_IMAGE_FAULT_MAGIC);
	if (p->pos == 8) {
		p->info.header_size = fota_get_le16(p->fixed + FOTA_IMAGE_OFF_HDR_SIZE);
		p->info.format_version = fota_get_le16(p->fixed + FOTA_IMAGE_OFF_FORMAT);
		if (p->info.format_version != FOTA_IMAGE_FORMAT)
			return hdr_fail(p, FOTA_ERR_NOTSUP, FOTA_IMAGE_FAULT_FORMAT);
		if (p->info.header_size < FOTA_IMAGE_HDR_SIZE ||
		    p->info.header_size > FOTA_IMAGE_HDR_MAX)
			return hdr_fail(p, FOTA_ERR_RANGE, FOTA_IMAGE_FAULT_HDR_SIZE);
	}
	return FOTA_ERR_AGAIN;
}

/* The whole header is in: check the CRC first (a damaged header says so), then fields. */
static int hdr_finish(struct fota_image_parser *p)
{
	struct fota_image_info *info = &p->info;
	uint8_t fault = FOTA_IMAGE_FAULT_NONE;
	int err;

	info->header_crc = fota_get_le32(p->crc_field);
	if (info->header_crc != p->crc)
		return hdr_fail(p, FOTA_ERR_CORRUPT, FOTA_IMAGE_FAULT_HDR_CRC);
	info->flags = fota_get_le32(p->fixed + FOTA_IMAGE_OFF_FLAGS);
	info->payload_size = fota_get_le32(p->fixed + FOTA_IMAGE_OFF_PAYLOAD);
	info->trailer_size = fota_get_le32(p->fixed + FOTA_IMAGE_OFF_TRAILER);
	info->security_counter = fota_get_le32(p->fixed + FOTA_IMAGE_OFF_COUNTER);
	err = check_info(info, &fault);
	if (err)
		return hdr_fail(p, err, fault);
	p->result = FOTA_OK;
	return FOTA_OK;
}

int fota_image_hdr_feed(struct fota_image_parser *p, const void *data, size_t len,
			size_t *consumed)
{
	const uint8_t *b = data;
	size_t used = 0;
	int ret = p->result;

	while (ret == FOTA_ERR_AGAIN && used < len) {
		const uint8_t *at = b + used++; /* the byte taken, hashed where it is */
		uint8_t c = *at;
		uint16_t pos = p->pos;
		/* Before byte 8 the size is unknown (0), and then crc_at is 0xFFFC, past any
		 * header: the first bytes are hashed and kept as they must be. */
		uint16_t crc_at = (uint16_t)(p->info.header_size - 4u);

		if (pos < crc_at)
			p->crc = fota_crc32(p->crc, at, 1);
		if (pos < FOTA_IMAGE_OFF_NAME)
			p->fixed[pos] = c;
		else if (pos < FOTA_IMAGE_OFF_VERSION)
			p->info.name[pos - FOTA_IMAGE_OFF_NAME] = (char)c;
		else if (pos < FOTA_IMAGE_OFF_EXT)
			p->info.version[pos - FOTA_IMAGE_OFF_VERSION] = (char)c;
		else if (pos >= crc_at)
			p->crc_field[pos - crc_at] = c;
		p->pos = (uint16_t)(pos + 1u);

		if (p->pos <= 8)
			ret = hdr_check_early(p);
		else if (p->pos == p->info.header_size)
			ret = hdr_finish(p);
	}
	if (consumed)
		*consumed = used;
	return ret;
}

const struct fota_image_info *fota_image_hdr_info(const struct fota_image_parser *p)
{
	return p->result == FOTA_OK ? &p->info : NULL;
}

int fota_image_hdr_fault(const struct fota_image_parser *p)
{
	return p->fault;
}

/* --- streaming verifier ----------------------------------------------------------------- */

void fota_image_verifier_init(struct fota_image_verifier *v, const struct fota_sha256 *sha,
			      uint32_t max_size)
{
	memset(v, 0, sizeof(*v));
	fota_image_hdr_init(&v->hdr);
	v->sha = sha;
	v->max_size = max_size;
	v->result = FOTA_ERR_AGAIN;
}

void fota_image_verifier_require_sig(struct fota_image_verifier *v, const struct fota_sig *sig)
{
	v->sig = sig;
}

FOTA_NOINLINE static int ver_fail(struct fota_image_verifier *v, int err, uint8_t fault)
{
	v->result = (int16_t)err;
	v->fault = fault;
	return err;
}

/* Compares without an early exit, so the time taken tells nothing of where they differ. */
static bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= (uint8_t)(a[i] ^ b[i]);
	return diff == 0;
}

/* One trailer byte; v->pos is its offset in the image. */
static int ver_trailer_byte(struct fota_image_verifier *v, uint8_t c)
{
	uint32_t left = v->hdr.info.total_size - v->pos; /* this byte included */

	if (v->tlv_fill < FOTA_IMAGE_TLV_HDR) {
		if (v->tlv_fill == 0 && left < FOTA_IMAGE_TLV_HDR)
			return ver_fail(v, FOTA_ERR_CORRUPT, FOTA_IMAGE_FAULT_TRAILER);
		v->tlv_hdr[v->tlv_fill++] = c;
		if (v->tlv_fill < FOTA_IMAGE_TLV_HDR)
			return FOTA_ERR_AGAIN;
		v->tlv_type = fota_get_le16(v->tlv_hdr);
		v->tlv_len = fota_get_le16(v->tlv_hdr + 2);
		v->tlv_done = 0;
		if (v->tlv_len > left - 1u)
			return ver_fail(v, FOTA_ERR_CORRUPT, FOTA_IMAGE_FAULT_TRAILER);
		if (v->tlv_type == FOTA_TLV_SHA256 &&
		    (v->have_hash || v->tlv_len != FOTA_SHA256_SIZE))
			return ver_fail(v, FOTA_ERR_VERIFY, FOTA_IMAGE_FAULT_HASH_TLV);
		if (v->tlv_type == FOTA_TLV_SIGNATURE &&
		    (v->have_sig || v->tlv_len != FOTA_SIG_SIZE))
			return ver_fail(v, FOTA_ERR_VERIFY, FOTA_IMAGE_FAULT_SIG_TLV);
	} else {
		if (v->tlv_type == FOTA_TLV_SHA256)
			v->hash[v->tlv_done] = c;
		else if (v->tlv_type == FOTA_TLV_SIGNATURE)
			v->sigval[v->tlv_done] = c;
		v->tlv_done++;
	}
	if (v->tlv_done == v->tlv_len) {
		if (v->tlv_type == FOTA_TLV_SHA256)
			v->have_hash = true;
		else if (v->tlv_type == FOTA_TLV_SIGNATURE)
			v->have_sig = true;
		v->tlv_fill = 0;
	}
	return FOTA_ERR_AGAIN;
}

/* The last byte is in: the hash TLV must be there and match, and when a signature port
 * is given the signature must hold for that hash (the one computed, which equals it). */
static int ver_finish(struct fota_image_verifier *v)
{
	int err;

	if (!v->have_hash)
		return ver_fail(v, FOTA_ERR_VERIFY, FOTA_IMAGE_FAULT_HASH_MISSING);
	if (!same_bytes(v->hash, v->computed, FOTA_SHA256_SIZE))
		return ver_fail(v, FOTA_ERR_VERIFY, FOTA_IMAGE_FAULT_HASH_MISMATCH);
	if (v->sig) {
		if (!v->have_sig)
			return ver_fail(v, FOTA_ERR_VERIFY, FOTA_IMAGE_FAULT_SIG_MISSING);
		err = v->sig->verify(v->sig->ctx, v->computed, v->sigval);
		if (err)
			return ver_fail(v, err, err == FOTA_ERR_VERIFY ? FOTA_IMAGE_FAULT_SIG_BAD :
								       FOTA_IMAGE_FAULT_PORT);
	}
	v->result = FOTA_OK;
	return FOTA_OK;
}

int fota_image_verifier_feed(struct fota_image_verifier *v, const void *data, size_t len,
			     size_t *consumed)
{
	const uint8_t *b = data;
	const struct fota_image_info *info = &v->hdr.info;
	size_t used = 0;
	int err;

	if (v->result != FOTA_ERR_AGAIN)
		goto out;
	if (!v->started) {
		err = v->sha->start(v->sha->ctx);
		if (err) {
			ver_fail(v, err, FOTA_IMAGE_FAULT_PORT);
			goto out;
		}
		v->started = true;
	}

	/* Header: the parser takes what it needs; those bytes are hashed too. */
	if (v->hdr.result == FOTA_ERR_AGAIN) {
		size_t n = 0;
		int r = fota_image_hdr_feed(&v->hdr, b, len, &n);

		err = n ? v->sha->update(v->sha->ctx, b, n) : FOTA_OK;
		used += n;
		v->pos += (uint32_t)n;
		if (err) {
			ver_fail(v, err, FOTA_IMAGE_FAULT_PORT);
			goto out;
		}
		if (r == FOTA_ERR_AGAIN)
			goto out;
		if (r) {
			ver_fail(v, r, v->hdr.fault);
			goto out;
		}
		if (info->total_size > v->max_size) {
			ver_fail(v, FOTA_ERR_FBIG, FOTA_IMAGE_FAULT_TOO_BIG);
			goto out;
		}
	}

	/* Payload: hashed as it comes; the digest is taken at its last byte. */
	if (v->pos < (uint32_t)info->header_size + info->payload_size) {
		uint32_t want = info->header_size + info->payload_size - v->pos;
		size_t n = len - used < want ? len - used : want;

		err = n ? v->sha->update(v->sha->ctx, b + used, n) : FOTA_OK;
		used += n;
		v->pos += (uint32_t)n;
		if (err) {
			ver_fail(v, err, FOTA_IMAGE_FAULT_PORT);
			goto out;
		}
		if (v->pos < (uint32_t)info->header_size + info->payload_size)
			goto out;
		err = v->sha->finish(v->sha->ctx, v->computed);
		if (err) {
			ver_fail(v, err, FOTA_IMAGE_FAULT_PORT);
			goto out;
		}
	}

	/* Trailer: a few dozen bytes, taken one at a time through the TLV state machine. */
	while (used < len && v->pos < info->total_size) {
		err = ver_trailer_byte(v, b[used]);
		used++;
		v->pos++;
		if (err != FOTA_ERR_AGAIN)
			goto out;
	}
	if (v->pos == info->total_size)
		ver_finish(v);
out:
	if (consumed)
		*consumed = used;
	return v->result;
}

const struct fota_image_info *fota_image_verifier_info(const struct fota_image_verifier *v)
{
	return fota_image_hdr_info(&v->hdr);
}

int fota_image_verifier_fault(const struct fota_image_verifier *v)
{
	return v->fault;
}

/* --- verification in flash ------------------------------------------------------------ */

int fota_image_verify_flash(const struct fota_flash *flash, uint32_t addr, uint32_t max_size,
			    const struct fota_sha256 *sha, struct fota_image_info *info)
{
	return fota_image_verify_flash_sig(flash, addr, max_size, sha, NULL, info);
}

int fota_image_verify_flash_sig(const struct fota_flash *flash, uint32_t addr, uint32_t max_size,
				const struct fota_sha256 *sha, const struct fota_sig *sig,
				struct fota_image_info *info)
{
	struct fota_image_verifier v;
	uint8_t buf[FOTA_COPY_BUF];
	uint32_t pos = 0;
	int err;

	if (info)
		memset(info, 0, sizeof(*info));
	if (!flash || !flash->read || !sha || addr > flash->size || max_size > flash->size - addr)
		return FOTA_ERR_INVAL;

	fota_image_verifier_init(&v, sha, max_size);
	fota_image_verifier_require_sig(&v, sig);
	do {
		/* Before the header is known, read ahead in whole chunks (inside max_size);
		 * after it, exactly up to the image's end. */
		const struct fota_image_info *hi = fota_image_hdr_info(&v.hdr);
		uint32_t end = hi ? hi->total_size : max_size;
		uint32_t n = end - pos < sizeof(buf) ? end - pos : (uint32_t)sizeof(buf);
		size_t used = 0;

		if (n == 0) {
			/* The space ends inside the header. */
			err = FOTA_ERR_FBIG;
			goto out;
		}
		err = flash->read(flash->ctx, addr + pos, buf, n);
		if (err)
			goto out;
		err = fota_image_verifier_feed(&v, buf, n, &used);
		pos += (uint32_t)used;
	} while (err == FOTA_ERR_AGAIN);
	if (err)
		goto out;

	if (info)
		*info = v.hdr.info;
out:
	return err;
}

/* --- writer ------------------------------------------------------------------------------ */

/* Copies the string src into the field dst of size bytes, NUL-padded; a string that
 * fills the field is copied without a NUL, so the check says it is too long. */
static void copy_field(char *dst, const char *src, size_t size)
{
	size_t n = 0;

	memset(dst, 0, size);
	while (n < size && src[n]) {
		dst[n] = src[n];
		n++;
	}
}

int fota_image_write_header(uint8_t *buf, size_t buf_size, const struct fota_image_info *info)
{
	struct fota_image_info w;
	uint8_t fault = FOTA_IMAGE_FAULT_NONE;
	int err;

	if (buf_size < FOTA_IMAGE_HDR_SIZE)
		return FOTA_ERR_NOMEM;
	memset(&w, 0, sizeof(w));
	copy_field(w.name, info->name, sizeof(w.name));
	copy_field(w.version, info->version, sizeof(w.version));
	w.flags = info->flags;
	w.payload_size = info->payload_size;
	w.trailer_size = info->trailer_size;
	w.security_counter = info->security_counter;
	w.header_size = FOTA_IMAGE_HDR_SIZE;
	w.format_version = FOTA_IMAGE_FORMAT;
	err = check_info(&w, &fault);
	if (err)
		return err;

	memset(buf, 0, FOTA_IMAGE_HDR_SIZE);
	fota_put_le32(buf + FOTA_IMAGE_OFF_MAGIC, FOTA_IMAGE_MAGIC);
	fota_put_le16(buf + FOTA_IMAGE_OFF_HDR_SIZE, w.header_size);
	fota_put_le16(buf + FOTA_IMAGE_OFF_FORMAT, w.format_version);
	fota_put_le32(buf + FOTA_IMAGE_OFF_FLAGS, w.flags);
	fota_put_le32(buf + FOTA_IMAGE_OFF_PAYLOAD, w.payload_size);
	fota_put_le32(buf + FOTA_IMAGE_OFF_TRAILER, w.trailer_size);
	fota_put_le32(buf + FOTA_IMAGE_OFF_COUNTER, w.security_counter);
	memcpy(buf + FOTA_IMAGE_OFF_NAME, w.name, sizeof(w.name));
	memcpy(buf + FOTA_IMAGE_OFF_VERSION, w.version, sizeof(w.version));
	fota_put_le32(buf + FOTA_IMAGE_HDR_SIZE - 4u,
		      fota_crc32(0, buf, FOTA_IMAGE_HDR_SIZE - 4u));
	return FOTA_OK;
}

int fota_image_put_tlv(uint8_t *buf, size_t buf_size, uint16_t type, const void *value,
		       uint16_t len)
{
	if (buf_size < FOTA_IMAGE_TLV_HDR || buf_size - FOTA_IMAGE_TLV_HDR < len)
		return FOTA_ERR_NOMEM;
	fota_put_le16(buf, type);
	fota_put_le16(buf + 2, len);
	if (len)
		memcpy(buf + FOTA_IMAGE_TLV_HDR, value, len);
	return (int)(FOTA_IMAGE_TLV_HDR + len);
}

const char *fota_image_fault_str(int fault)
{
	switch (fault) {
	case FOTA_IMAGE_FAULT_NONE: return "no fault";
	case FOTA_IMAGE_FAULT_MAGIC: return "not an image (bad magic)";
	case FOTA_IMAGE_FAULT_FORMAT: return "unknown format version";
	case FOTA_IMAGE_FAULT_HDR_SIZE: return "header size out of range";
	case FOTA_IMAGE_FAULT_HDR_CRC: return "bad header CRC";
	case FOTA_IMAGE_FAULT_FLAGS: return "unknown flag";
	case FOTA_IMAGE_FAULT_NAME: return "bad firmware name";
	case FOTA_IMAGE_FAULT_VERSION: return "bad version string";
	case FOTA_IMAGE_FAULT_PAYLOAD_SIZE: return "empty payload";
	case FOTA_IMAGE_FAULT_TRAILER_SIZE: return "trailer size out of range";
	case FOTA_IMAGE_FAULT_OVERFLOW: return "sizes overflow 32 bits";
	case FOTA_IMAGE_FAULT_TOO_BIG: return "image larger than the space for it";
	case FOTA_IMAGE_FAULT_TRAILER: return "malformed trailer";
	case FOTA_IMAGE_FAULT_HASH_TLV: return "malformed hash TLV";
	case FOTA_IMAGE_FAULT_HASH_MISSING: return "no hash TLV";
	case FOTA_IMAGE_FAULT_HASH_MISMATCH: return "hash mismatch";
	case FOTA_IMAGE_FAULT_PORT: return "flash or crypto port failed";
	case FOTA_IMAGE_FAULT_SIG_TLV: return "malformed signature TLV";
	case FOTA_IMAGE_FAULT_SIG_MISSING: return "image not signed";
	case FOTA_IMAGE_FAULT_SIG_BAD: return "bad signature";
	default: return "?";
	}
}
