/*
 * nv.c - power-safe typed record store on flash (see fota/nv.h; the byte layout with a
 * diagram is in docs/nv-format.md).
 *
 * The area is two halves. The active one starts with a header (magic, generation, CRC)
 * and holds a log of records; each record is a body (header, payload, CRC, padding to the
 * program size) and a commit word programmed after it. A compaction erases the other
 * half, copies the newest valid record of each other type into it, appends the new one
 * and programs the half header last: until that header is complete the old half rules.
 * No RAM table: every lookup scans the log, through buffers of FOTA_COPY_BUF bytes.
 * nv->wr == nv->half means "append nothing more here" (full, torn or garbage seen).
 */
#include <string.h>

#include "fota/nv.h"

#define HALF_MAGIC 0x564E5446u /* "FTNV" */
#define HALF_VERSION 1u
#define HALF_HDR 16u           /* half header: a multiple of every program size */
#define REC_MAGIC 0x5652u      /* "RV" */
#define REC_HDR 10u            /* magic 2, type 1, flags 1, length 2, seq 4 */
#define REC_CRC 4u
#define CHUNK ((uint32_t)FOTA_COPY_BUF)

FOTA_STATIC_ASSERT(FOTA_COPY_BUF % FOTA_FLASH_PROG_MAX == 0, nv_copy_buf_whole_prog_units);
FOTA_STATIC_ASSERT(FOTA_COPY_BUF >= HALF_HDR && FOTA_FLASH_PROG_MAX <= HALF_HDR, nv_bufs);
FOTA_STATIC_ASSERT(FOTA_NV_RECORD_MAX <= 0xFFFF, nv_length_fits_le16);

struct rec {
	uint32_t at;  /* absolute address of the record */
	uint32_t len; /* payload bytes */
	uint32_t seq;
	uint8_t type;
};

static int rd(const struct fota_nv *nv, uint32_t a, void *b, uint32_t n)
{
	return nv->flash->read(nv->flash->ctx, a, b, n);
}

static int pg(const struct fota_nv *nv, uint32_t a, const void *b, uint32_t n)
{
	return nv->flash->prog(nv->flash->ctx, a, b, n);
}

static FOTA_INLINE uint32_t align(const struct fota_nv *nv, uint32_t v)
{
	uint32_t p = nv->flash->prog_size;

	return (v + p - 1) & ~(p - 1);
}

static uint32_t half_addr(const struct fota_nv *nv, uint32_t h)
{
	return nv->base + h * nv->half;
}

/* Bytes of a record with len bytes of payload: the padded body, then the commit field
 * (one program unit, at least the 4-byte word). */
static uint32_t rec_size(const struct fota_nv *nv, uint32_t len)
{
	return align(nv, REC_HDR + len + REC_CRC) + align(nv, 4);
}

/* The commit field: the word 0xC35AA53C, little-endian, repeated over one program unit
 * (so a torn program of a wide unit is seen too). No byte is 0x00 or 0xFF: never erased. */
static const uint8_t commit[HALF_HDR] = {
	0x3C, 0xA5, 0x5A, 0xC3, 0x3C, 0xA5, 0x5A, 0xC3,
	0x3C, 0xA5, 0x5A, 0xC3, 0x3C, 0xA5, 0x5A, 0xC3,
};

/* rec_next: looks at *off of the active half. Returns 1 and moves *off past the record
 * when a committed record starts there (its CRC is not checked here), 0 when the log ends
 * there (erased space, a torn record, garbage), or a flash error. */
static int rec_next(const struct fota_nv *nv, uint32_t *off, struct rec *r)
{
	uint8_t b[HALF_HDR]; /* a record header, or a commit field */
	uint32_t cn = align(nv, 4), size;
	int err;

	if (nv->half - *off < REC_HDR)
		return 0;
	r->at = half_addr(nv, nv->active) + *off;
	err = rd(nv, r->at, b, REC_HDR);
	if (err)
		return err;
	r->type = b[2];
	r->len = fota_get_le16(b + 4);
	r->seq = fota_get_le32(b + 6);
	size = rec_size(nv, r->len);
	if (fota_get_le16(b) != REC_MAGIC || r->type == 0 || r->type == 0xFF ||
	    r->len > FOTA_NV_RECORD_MAX || size > nv->half - *off)
		return 0;
	err = rd(nv, r->at + size - cn, b, cn);
	if (err)
		return err;
	if (memcmp(b, commit, cn))
		return 0;
	*off += size;
	return 1;
}

/* rec_check: streams r's header and payload through a small buffer to check its CRC;
 * copies the payload to out and compares it with cmp when they are not NULL. Returns 1
 * if the CRC holds (and the payload equals cmp), 0 if not, or a flash error. */
static int rec_check(const struct fota_nv *nv, const struct rec *r, uint8_t *out,
		     const uint8_t *cmp)
{
	uint8_t b[CHUNK];
	uint32_t crc, i, n;
	bool same = true;
	int err;

	err = rd(nv, r->at, b, REC_HDR);
	if (err)
		return err;
	crc = fota_crc32(0, b, REC_HDR);
	for (i = 0; i < r->len; i += n) {
		n = r->len - i < CHUNK ? r->len - i : CHUNK;
		err = rd(nv, r->at + REC_HDR + i, b, n);
		if (err)
			return err;
		crc = fota_crc32(crc, b, n);
		if (out)
			memcpy(out + i, b, n);
		if (cmp && memcmp(cmp + i, b, n))
			same = false;
	}
	err = rd(nv, r->at + REC_HDR + r->len, b, REC_CRC);
	if (err)
		return err;
	return fota_get_le32(b) == crc && same;
}

/* What a walk of the active half's log found. */
struct scan {
	struct rec r;   /* the newest valid record of the type asked for */
	uint32_t end;   /* offset where the log ends (the first that holds no committed record) */
	unsigned above; /* the smallest type above the one asked for (0xFF: none) */
	bool bad;       /* a checked record is committed but fails its CRC */
};

/* find: walks the log of the active half and checks the CRC of each record of type (of
 * every record when type is 0); the newest valid one is the last in log order. Returns
 * FOTA_OK with s->r set, FOTA_ERR_NOENT if no valid one, or a flash error. */
static int find(const struct fota_nv *nv, unsigned type, struct scan *s)
{
	struct rec cur;
	int ret, found = FOTA_ERR_NOENT;

	s->end = HALF_HDR;
	s->above = 0xFF;
	s->bad = false;
	if (!nv->formatted)
		return FOTA_ERR_NOENT;
	while ((ret = rec_next(nv, &s->end, &cur)) > 0) {
		if (cur.type > type && cur.type < s->above)
			s->above = cur.type;
		if (type && cur.type != type)
			continue;
		ret = rec_check(nv, &cur, NULL, NULL);
		if (ret < 0)
			return ret;
		if (ret) {
			s->r = cur;
			found = FOTA_OK;
		} else {
			s->bad = true;
		}
	}
	return ret < 0 ? ret : found;
}

/* append: programs a record at a (absolute, erased): the body through a small buffer,
 * then the commit field in a program of its own, so a cut body is never committed. */
static int append(struct fota_nv *nv, uint32_t a, uint8_t type, const uint8_t *data,
		  uint32_t len)
{
	uint8_t h[REC_HDR], b[CHUNK];
	uint32_t end = align(nv, REC_HDR + len + REC_CRC), cn = align(nv, 4), j, n, crc = 0;
	int err;

	fota_put_le16(h, REC_MAGIC);
	h[2] = type;
	h[3] = 0; /* flags: none yet */
	fota_put_le16(h + 4, (uint16_t)len);
	fota_put_le32(h + 6, nv->seq);
	/* Byte j of the body: header, payload (both into the CRC), CRC, padding. */
	for (j = 0; j < end; j++) {
		uint8_t v = nv->flash->erased;

		if (j < REC_HDR + len) {
			v = j < REC_HDR ? h[j] : data[j - REC_HDR];
			crc = fota_crc32(crc, &v, 1);
		} else if (j - len < REC_HDR + REC_CRC) {
			v = (uint8_t)(crc >> 8 * (j - len - REC_HDR));
		}
		n = j % CHUNK + 1;
		b[n - 1] = v;
		if (n == CHUNK || j + 1 == end) {
			err = pg(nv, a + j + 1 - n, b, n);
			if (err)
				return err;
		}
	}
	err = pg(nv, a + end, commit, cn);
	if (err)
		return err;
	nv->seq++;
	return FOTA_OK;
}

/* compact: erases the other half, copies the newest valid record of every other type
 * into it (type by type, one scan each), appends the new record and then programs the
 * half header, which makes it the active half. Until then the old half is the one read. */
static int compact(struct fota_nv *nv, uint8_t type, const uint8_t *data, uint32_t len)
{
	uint8_t b[CHUNK];
	struct scan s;
	uint32_t dst = nv->active ^ 1u, to = half_addr(nv, dst), off, i, n, size;
	unsigned t;
	int err;

	/* Whatever fails below, no append may follow in the old half: the next write starts
	 * this compaction over (the other half may hold anything now). */
	nv->wr = nv->half;
	for (off = 0; off < nv->half; off += nv->flash->sector_size) {
		err = nv->flash->erase(nv->flash->ctx, to + off);
		if (err)
			return err;
	}
	off = HALF_HDR;
	/* Each lookup also names the next type present, so the types go in order. */
	for (t = 1; t != 0xFF; t = s.above) {
		err = find(nv, t, &s);
		if (err && err != FOTA_ERR_NOENT)
			return err; /* s.above is not complete: never go on */
		if (err || t == type)
			continue; /* none valid, or the type being written */
		/* Live records fit: they are a subset of the source half's. */
		size = rec_size(nv, s.r.len);
		for (i = 0; i < size; i += n) {
			n = size - i < CHUNK ? size - i : CHUNK;
			err = rd(nv, s.r.at + i, b, n);
			if (!err)
				err = pg(nv, to + off + i, b, n);
			if (err)
				return err;
		}
		off += size;
	}
	size = rec_size(nv, len);
	if (size > nv->half - off)
		return FOTA_ERR_NOSPC;
	err = append(nv, to + off, type, data, len);
	if (err)
		return err;
	fota_put_le32(b, HALF_MAGIC);
	fota_put_le32(b + 4, nv->gen + 1);
	b[8] = HALF_VERSION;
	b[9] = (uint8_t)nv->flash->prog_size;
	b[10] = 0;
	b[11] = 0;
	fota_put_le32(b + 12, fota_crc32(0, b, 12));
	err = pg(nv, to, b, HALF_HDR);
	if (err)
		return err;
	nv->active = (uint8_t)dst;
	nv->gen++;
	nv->formatted = true;
	nv->wr = off + size;
	return FOTA_OK;
}

int fota_nv_mount(struct fota_nv *nv, const struct fota_flash *flash, uint32_t base, uint32_t size)
{
	uint8_t b[HALF_HDR], active = 1;
	uint32_t gen = 0, g, h;
	bool ok = false;
	struct scan s;
	int err;

	memset(nv, 0, sizeof(*nv));
	/* (the sector size is a power of two: fota_flash_valid) */
	if (!fota_flash_valid(flash) || !size || (size & (2 * flash->sector_size - 1)) ||
	    (base & (flash->sector_size - 1)) || base > flash->size || size > flash->size - base)
		return FOTA_ERR_INVAL;
	nv->flash = flash;
	nv->base = base;
	nv->half = size / 2;
	/* One record of the largest size must fit in an empty half. */
	if (nv->half < HALF_HDR + rec_size(nv, FOTA_NV_RECORD_MAX))
		return FOTA_ERR_INVAL;
	/* Half 1 wins if it alone is valid or its generation is newer (serial-number
	 * compare: a - b in 1..2^31-1, so a wrapped counter still orders). Blank or damaged:
	 * "active" 1 with generation 0, so the first write formats half 0 as generation 1. */
	for (h = 0; h < 2; h++) {
		err = rd(nv, half_addr(nv, h), b, HALF_HDR);
		if (err)
			return err;
		g = fota_get_le32(b + 4);
		if (fota_get_le32(b) == HALF_MAGIC && b[8] == HALF_VERSION &&
		    b[9] == flash->prog_size && fota_get_le32(b + 12) == fota_crc32(0, b, 12) &&
		    (!ok || g - gen - 1u < 0x7FFFFFFFu)) {
			ok = true;
			active = (uint8_t)h;
			gen = g;
		}
	}
	nv->active = active;
	nv->wr = nv->half;
	if (!ok)
		return FOTA_OK;
	nv->formatted = true;
	nv->gen = gen;
	err = find(nv, 0, &s); /* checks every record; the last valid one has the last seq */
	if (err == FOTA_OK)
		nv->seq = s.r.seq + 1;
	else if (err != FOTA_ERR_NOENT)
		return err;
	/* Appends only go on erased flash: a torn record or garbage after the log closes the
	 * half, and so does a committed record with a bad CRC (the next write compacts). */
	err = fota_flash_is_erased(flash, half_addr(nv, nv->active) + s.end, nv->half - s.end);
	if (err < 0)
		return err;
	if (err && !s.bad)
		nv->wr = s.end;
	return FOTA_OK;
}

int fota_nv_read(struct fota_nv *nv, uint8_t type, void *buf, size_t cap, size_t *len)
{
	struct scan s;
	int err = find(nv, type ? type : 0x100, &s);

	if (err)
		return err;
	*len = s.r.len;
	if (s.r.len > cap)
		return FOTA_ERR_NOMEM;
	err = rec_check(nv, &s.r, buf, NULL);
	return err < 0 ? err : err ? FOTA_OK : FOTA_ERR_CORRUPT;
}

int fota_nv_write(struct fota_nv *nv, uint8_t type, const void *data, size_t len)
{
	struct scan s;
	uint32_t size;
	int err;

	if (len > FOTA_NV_RECORD_MAX)
		return FOTA_ERR_TOOLONG;
	if (type == 0 || type == 0xFF || (!data && len) || !nv->flash)
		return FOTA_ERR_INVAL;
	err = find(nv, type, &s);
	if (err == FOTA_OK)
		err = s.r.len == len ? rec_check(nv, &s.r, NULL, data) : 0;
	else if (err == FOTA_ERR_NOENT)
		err = 0;
	if (err)
		return err < 0 ? err : FOTA_OK; /* a flash error, or the same bytes: done */
	size = rec_size(nv, (uint32_t)len);
	if (size > nv->half - nv->wr)
		return compact(nv, type, data, (uint32_t)len);
	err = append(nv, half_addr(nv, nv->active) + nv->wr, type, data, (uint32_t)len);
	/* After a failed append the tail may be half programmed: the next write compacts. */
	nv->wr = err ? nv->half : nv->wr + size;
	return err;
}
