/*
 * image.h - the firmware image: format, incremental header parser, verifier, writer.
 *
 * An image is a fixed-layout header, the payload (the firmware itself), and a trailer of
 * TLVs (type, length, value) that holds at least the SHA-256 of header + payload. Every
 * field is little-endian and read or written byte by byte. The header alone gives the
 * total size, so a download can refuse an image that does not fit its slot before it
 * erases anything. docs/image-format.md has the byte diagram and the reasons.
 *
 *   header (header_size bytes, CRC-32 in its last 4) | payload | trailer (TLVs)
 *
 * Nothing here allocates or blocks: the parser and the verifier take bytes in any
 * chunking and say FOTA_ERR_AGAIN while they need more.
 */
#ifndef FOTA_IMAGE_H
#define FOTA_IMAGE_H

#include "fota/crypto.h"
#include "fota/flash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest header a reader accepts (bytes). Writers of format 1 write FOTA_IMAGE_HDR_SIZE;
 * a later writer may grow the header (new fields go before the CRC) and older readers
 * still parse it, skipping what they do not know. */
#ifndef FOTA_IMAGE_HDR_MAX
#define FOTA_IMAGE_HDR_MAX 512
#endif

/* Largest trailer a reader accepts (bytes). It must hold the hash TLV (36 bytes) and any
 * signature a later format adds; the verifier streams the trailer, so this costs no RAM. */
#ifndef FOTA_IMAGE_TRAILER_MAX
#define FOTA_IMAGE_TRAILER_MAX 4096
#endif

#define FOTA_IMAGE_MAGIC 0x41544F46u /* the bytes 'F' 'O' 'T' 'A' at offset 0 */
#define FOTA_IMAGE_FORMAT 1u         /* the format version this code reads and writes */
#define FOTA_IMAGE_HDR_SIZE 128u     /* header size written by format 1; also the minimum */

/* Byte offsets of the header fields (see docs/image-format.md). */
#define FOTA_IMAGE_OFF_MAGIC 0u      /* u32 FOTA_IMAGE_MAGIC */
#define FOTA_IMAGE_OFF_HDR_SIZE 4u   /* u16 header size, CRC included */
#define FOTA_IMAGE_OFF_FORMAT 6u     /* u16 format version */
#define FOTA_IMAGE_OFF_FLAGS 8u      /* u32 FOTA_IMAGE_F_* */
#define FOTA_IMAGE_OFF_PAYLOAD 12u   /* u32 payload size */
#define FOTA_IMAGE_OFF_TRAILER 16u   /* u32 trailer size */
#define FOTA_IMAGE_OFF_COUNTER 20u   /* u32 security counter (anti-rollback) */
#define FOTA_IMAGE_OFF_RESERVED 24u  /* u32 reserved: written 0, ignored */
#define FOTA_IMAGE_OFF_NAME 28u      /* char[32] firmware name, NUL-padded */
#define FOTA_IMAGE_OFF_VERSION 60u   /* char[48] version, NUL-padded */
#define FOTA_IMAGE_OFF_EXT 108u      /* extension area up to the CRC: written 0, ignored */
/* The CRC-32 (fota_crc32) of bytes [0, header_size - 4) is the header's last 4 bytes. */

#define FOTA_IMAGE_NAME_SIZE 32u    /* name field: up to 31 characters and a NUL */
#define FOTA_IMAGE_VERSION_SIZE 48u /* version field: up to 47 characters and a NUL */

/* Header flags. A reader refuses an image with a flag it does not know (it could change
 * how the image must be handled), so new flags need no format version bump. */
#define FOTA_IMAGE_F_CRASH_ON_BOOT 0x00000001u /* emulator-only test aid: the emulated
						 * firmware "crashes" before it confirms
						 * itself, so the boot code reverts it */
#define FOTA_IMAGE_F_KNOWN 0x00000001u         /* every flag this code knows */

/* Trailer TLVs: u16 type, u16 length, then length bytes of value. Readers skip types they
 * do not know. */
#define FOTA_IMAGE_TLV_HDR 4u
enum fota_image_tlv {
	FOTA_TLV_PAD = 0x0000,       /* padding; value ignored */
	FOTA_TLV_SHA256 = 0x0001,    /* 32 bytes: SHA-256 of header + payload; exactly one */
	FOTA_TLV_SIGNATURE = 0x0002, /* FOTA_SIG_SIZE bytes: ECDSA P-256 (r || s) of the
				      * SHA-256 above; at most one */
	/* 0x0003-0x7FFF reserved for this project; 0x8000-0xFFFF free for private use */
};

/* Trailer size of an image with the hash TLV only (what `fota pack` writes). */
#define FOTA_IMAGE_TRAILER_SHA256 (FOTA_IMAGE_TLV_HDR + FOTA_SHA256_SIZE)
/* Trailer size of a signed image: the hash TLV, then the signature TLV (`fota pack --key`,
 * `fota sign`). */
#define FOTA_IMAGE_TRAILER_SIGNED (FOTA_IMAGE_TRAILER_SHA256 + FOTA_IMAGE_TLV_HDR + FOTA_SIG_SIZE)

/* What was wrong with an image, in more detail than the enum fota_err returned. */
enum fota_image_fault {
	FOTA_IMAGE_FAULT_NONE = 0,
	FOTA_IMAGE_FAULT_MAGIC,         /* not an image: bad magic (FOTA_ERR_BADMSG) */
	FOTA_IMAGE_FAULT_FORMAT,        /* unknown format version (FOTA_ERR_NOTSUP) */
	FOTA_IMAGE_FAULT_HDR_SIZE,      /* header size out of range (FOTA_ERR_RANGE) */
	FOTA_IMAGE_FAULT_HDR_CRC,       /* header CRC does not match (FOTA_ERR_CORRUPT) */
	FOTA_IMAGE_FAULT_FLAGS,         /* a flag this code does not know (FOTA_ERR_NOTSUP) */
	FOTA_IMAGE_FAULT_NAME,          /* name empty, unprintable, unterminated (TOOLONG)
					 * or with bytes after its NUL (FOTA_ERR_INVAL) */
	FOTA_IMAGE_FAULT_VERSION,       /* the same for the version */
	FOTA_IMAGE_FAULT_PAYLOAD_SIZE,  /* payload size 0 (FOTA_ERR_INVAL) */
	FOTA_IMAGE_FAULT_TRAILER_SIZE,  /* trailer size out of range (FOTA_ERR_RANGE) */
	FOTA_IMAGE_FAULT_OVERFLOW,      /* total size does not fit 32 bits (FOTA_ERR_FBIG) */
	FOTA_IMAGE_FAULT_TOO_BIG,       /* image larger than the space given (FOTA_ERR_FBIG) */
	FOTA_IMAGE_FAULT_TRAILER,       /* a TLV runs past the trailer's end (FOTA_ERR_CORRUPT) */
	FOTA_IMAGE_FAULT_HASH_TLV,      /* hash TLV of wrong length or repeated (FOTA_ERR_VERIFY) */
	FOTA_IMAGE_FAULT_HASH_MISSING,  /* no hash TLV (FOTA_ERR_VERIFY) */
	FOTA_IMAGE_FAULT_HASH_MISMATCH, /* the hash does not match (FOTA_ERR_VERIFY) */
	FOTA_IMAGE_FAULT_PORT,          /* the flash or crypto port failed (its own error) */
	FOTA_IMAGE_FAULT_SIG_TLV,       /* signature TLV of wrong length or repeated
					 * (FOTA_ERR_VERIFY) */
	FOTA_IMAGE_FAULT_SIG_MISSING,   /* a signature is required and there is none
					 * (FOTA_ERR_VERIFY) */
	FOTA_IMAGE_FAULT_SIG_BAD,       /* the signature does not hold for the provisioned key
					 * (FOTA_ERR_VERIFY) */
};

/* The facts of one image, from its header. Strings are NUL-terminated. */
struct fota_image_info {
	uint32_t flags;                        /* FOTA_IMAGE_F_* */
	uint32_t payload_size;                 /* bytes of firmware, > 0 */
	uint32_t trailer_size;                 /* bytes of TLVs after the payload */
	uint32_t security_counter;             /* anti-rollback counter (fota/boot.h) */
	uint32_t total_size;                   /* header + payload + trailer */
	uint32_t header_crc;                   /* the header's CRC field */
	uint16_t header_size;                  /* bytes of header, CRC included */
	uint16_t format_version;               /* FOTA_IMAGE_FORMAT */
	char name[FOTA_IMAGE_NAME_SIZE];       /* firmware name (family), 1-31 chars */
	char version[FOTA_IMAGE_VERSION_SIZE]; /* version, 1-47 chars */
};

/* Incremental header parser. Its fields are private: use the functions below.
 * 152 bytes on Cortex-M4; no pointer inside, so it may be copied. */
struct fota_image_parser {
	/* (the fields used most come first: on Cortex-M their loads and stores are shorter) */
	uint8_t fixed[FOTA_IMAGE_OFF_NAME]; /* header bytes [0, 28) */
	uint16_t pos;                /* header bytes consumed */
	int16_t result;              /* FOTA_ERR_AGAIN while parsing, then the outcome */
	uint8_t fault;               /* enum fota_image_fault */
	uint32_t crc;                /* running CRC-32 of the bytes before the CRC field */
	struct fota_image_info info; /* filled as bytes come; valid once feed gave FOTA_OK */
	uint8_t crc_field[4];        /* the header's last 4 bytes */
};

/* fota_image_hdr_init: makes p ready for the first byte of an image (p owned by the
 * caller). Cannot fail. */
void fota_image_hdr_init(struct fota_image_parser *p);

/* fota_image_hdr_feed: gives the parser the next len bytes of the image at data (owned by
 * the caller, read during the call only); any chunking works, one byte at a time or the
 * whole image. *consumed (may be NULL) gets how many bytes were used: all of them while
 * the header is incomplete, only up to the header's end when it completes (the rest is
 * payload, for the caller). The magic is checked after 4 bytes and the format version and
 * header size after 8, so a file that is no image is refused early.
 * Returns FOTA_ERR_AGAIN while the header is incomplete; FOTA_OK once it is whole and
 * valid (then fota_image_hdr_info gives the facts); or, for a malformed header, a
 * negative enum fota_err named in enum fota_image_fault (fota_image_hdr_fault tells
 * which). Once it returned FOTA_OK or an error, it returns the same again and uses no
 * more bytes. */
int fota_image_hdr_feed(struct fota_image_parser *p, const void *data, size_t len,
			size_t *consumed);

/* fota_image_hdr_info: the parsed header (owned by p) once fota_image_hdr_feed returned
 * FOTA_OK; NULL before that or after an error. */
const struct fota_image_info *fota_image_hdr_info(const struct fota_image_parser *p);

/* fota_image_hdr_fault: why the header was refused (an enum fota_image_fault), or
 * FOTA_IMAGE_FAULT_NONE. */
int fota_image_hdr_fault(const struct fota_image_parser *p);

/* Streaming verifier: takes the whole image (header, payload, trailer) as it arrives,
 * parses the header, hashes header + payload with the crypto port, parses the trailer and
 * checks the hash TLV, then, when a signature port is given, the signature TLV over that
 * hash. The download code feeds it what it writes to flash; the boot code uses
 * fota_image_verify_flash_sig. Fields are private. About 310 bytes on Cortex-M4. */
struct fota_image_verifier {
	/* (the fields used most come first: on Cortex-M their loads and stores are shorter) */
	uint8_t tlv_hdr[FOTA_IMAGE_TLV_HDR];
	int16_t result;       /* FOTA_ERR_AGAIN while going on, then the outcome */
	uint8_t fault;        /* enum fota_image_fault */
	uint8_t tlv_fill;     /* bytes of its type and length seen (0-4) */
	bool started;         /* the hash was started */
	bool have_hash;       /* the hash TLV was read */
	bool have_sig;        /* the signature TLV was read */
	uint16_t tlv_type;    /* the TLV being read */
	uint16_t tlv_len;
	uint16_t tlv_done;    /* value bytes of it seen */
	uint32_t pos;         /* image bytes consumed */
	uint32_t max_size;    /* largest total size accepted */
	const struct fota_sha256 *sha; /* borrowed; used by this verifier alone until it ends */
	const struct fota_sig *sig;    /* borrowed; NULL: no signature required */
	struct fota_image_parser hdr;
	uint8_t hash[FOTA_SHA256_SIZE];     /* the hash TLV's value */
	uint8_t computed[FOTA_SHA256_SIZE]; /* SHA-256 of header + payload, once hashed */
	uint8_t sigval[FOTA_SIG_SIZE];      /* the signature TLV's value */
};

/* fota_image_verifier_init: makes v ready for the first byte of an image that may be at
 * most max_size bytes in all (the slot's size). sha is borrowed: it must stay valid, and
 * its hash context is used by v alone, until v returns something other than
 * FOTA_ERR_AGAIN. v is owned by the caller. Cannot fail. */
void fota_image_verifier_init(struct fota_image_verifier *v, const struct fota_sha256 *sha,
			      uint32_t max_size);

/* fota_image_verifier_require_sig: makes v require a signature TLV that holds for the
 * signature port sig (borrowed like sha; NULL requires none, as after init). Call it
 * after init and before the image's last byte is fed. An image with no signature, or a
 * signature that does not hold, then ends in FOTA_ERR_VERIFY (faults SIG_*). Cannot
 * fail. */
void fota_image_verifier_require_sig(struct fota_image_verifier *v, const struct fota_sig *sig);

/* fota_image_verifier_feed: gives the verifier the next len bytes of the image at data
 * (owned by the caller, read during the call only), in any chunking. *consumed (may be
 * NULL) gets how many were used: all of them, except that bytes after the image's end
 * are left over. Returns FOTA_ERR_AGAIN while the image is incomplete; FOTA_OK when the
 * whole image was taken and its hash holds; else a negative enum fota_err:
 * the header's errors (see fota_image_hdr_feed), FOTA_ERR_FBIG when the header announces
 * more than max_size bytes (said as soon as the header is in), FOTA_ERR_CORRUPT for a
 * malformed trailer, FOTA_ERR_VERIFY for a missing, malformed or wrong hash or (when
 * required) signature, or the crypto port's error. fota_image_verifier_fault tells which. Once the result is final,
 * it returns it again and uses no more bytes. */
int fota_image_verifier_feed(struct fota_image_verifier *v, const void *data, size_t len,
			     size_t *consumed);

/* fota_image_verifier_info: the image's header (owned by v) once it has been parsed and
 * found valid, also when a later check failed; NULL before. */
const struct fota_image_info *fota_image_verifier_info(const struct fota_image_verifier *v);

/* fota_image_verifier_fault: why the image was refused (an enum fota_image_fault), or
 * FOTA_IMAGE_FAULT_NONE. */
int fota_image_verifier_fault(const struct fota_image_verifier *v);

/* fota_image_verify_flash: re-reads the image at addr of flash (at most max_size bytes
 * from addr, which must lie inside the device) and verifies it as the streaming verifier
 * does, reading in chunks of FOTA_COPY_BUF bytes (its own stack frame holds a verifier
 * and that buffer: about 350 bytes on Cortex-M4, plus about 100 for what it calls and
 * the hash port's own). flash and sha are borrowed for the call. On FOTA_OK, *info
 * (owned by the caller; may be NULL) gets the image's facts; on an error it is zeroed.
 * Returns FOTA_OK, FOTA_ERR_INVAL for a range outside the device, FOTA_ERR_FBIG if the
 * image does not fit max_size, the errors of fota_image_verifier_feed, or the flash's
 * error. */
int fota_image_verify_flash(const struct fota_flash *flash, uint32_t addr, uint32_t max_size,
			    const struct fota_sha256 *sha, struct fota_image_info *info);

/* fota_image_verify_flash_sig: fota_image_verify_flash that also requires a signature
 * which holds for sig (borrowed for the call; NULL: none required, the same as
 * fota_image_verify_flash). Returns as fota_image_verify_flash does. */
int fota_image_verify_flash_sig(const struct fota_flash *flash, uint32_t addr, uint32_t max_size,
				const struct fota_sha256 *sha, const struct fota_sig *sig,
				struct fota_image_info *info);

/* fota_image_check_text: tells whether the NUL-terminated s (owned by the caller) may be
 * an image's name (field_size FOTA_IMAGE_NAME_SIZE) or version (FOTA_IMAGE_VERSION_SIZE):
 * 1 to field_size - 1 bytes, each printable ASCII 0x21-0x7E except the quotes '"' and
 * '\'' and the backslash (they break AT strings and logs; space is refused too).
 * Returns FOTA_OK, FOTA_ERR_INVAL (empty or a bad byte) or FOTA_ERR_TOOLONG. */
int fota_image_check_text(const char *s, size_t field_size);

/* fota_image_write_header: writes the FOTA_IMAGE_HDR_SIZE-byte header of format
 * FOTA_IMAGE_FORMAT for info into buf (buf_size bytes, owned by the caller), the CRC
 * last. From info (owned by the caller) it takes name, version, flags, payload_size,
 * trailer_size and security_counter; the other fields are ignored. The fields are checked
 * as a reader checks them, so a written header always parses. Returns FOTA_OK,
 * FOTA_ERR_NOMEM if buf_size is too small, or the error a reader would give (INVAL,
 * TOOLONG, NOTSUP, RANGE, FBIG); buf is then unspecified. */
int fota_image_write_header(uint8_t *buf, size_t buf_size, const struct fota_image_info *info);

/* fota_image_put_tlv: writes one trailer TLV (type, len, then the len bytes at value,
 * owned by the caller) at buf (buf_size bytes, owned by the caller). Returns the bytes
 * written (FOTA_IMAGE_TLV_HDR + len) or FOTA_ERR_NOMEM if they do not fit. */
int fota_image_put_tlv(uint8_t *buf, size_t buf_size, uint16_t type, const void *value,
		       uint16_t len);

/* fota_image_fault_str: a short English phrase for an enum fota_image_fault ("bad header
 * CRC"). Returns a static string; "?" for an unknown value. */
const char *fota_image_fault_str(int fault);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_IMAGE_H */
