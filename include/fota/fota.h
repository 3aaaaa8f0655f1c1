/*
 * fota.h - what every part of libfota shares: the error enum and a few helpers.
 *
 * libfota is a portable C99 core: no heap, no OS calls, no blocking. Every action
 * function returns an enum fota_err (0 or a negative errno-like value); predicates
 * return bool. The AT-visible codes of AT+UPGRADE (-1000..-1006) are a mapping made at
 * the edge (fota_upgrade_code in module.h), never returned by the core's functions.
 */
#ifndef FOTA_FOTA_H
#define FOTA_FOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fota/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One error enum for the whole core. Values follow Linux errno numbers where one fits,
 * so a log line "-5" reads as EIO; the -2xx range is FOTA's own. */
enum fota_err {
	FOTA_OK = 0,
	FOTA_ERR_NOENT = -2,         /* nothing stored / not found */
	FOTA_ERR_IO = -5,            /* the port failed an I/O operation */
	FOTA_ERR_AGAIN = -11,        /* not yet: feed more bytes or call again later */
	FOTA_ERR_NOMEM = -12,        /* a caller's buffer or a fixed table is too small */
	FOTA_ERR_BUSY = -16,         /* an operation of that kind is already running */
	FOTA_ERR_EXIST = -17,        /* already there */
	FOTA_ERR_INVAL = -22,        /* invalid argument or malformed input */
	FOTA_ERR_FBIG = -27,         /* does not fit (image larger than the slot) */
	FOTA_ERR_NOSPC = -28,        /* no room left in a flash area */
	FOTA_ERR_RANGE = -34,        /* number out of range */
	FOTA_ERR_TOOLONG = -36,      /* string or line longer than allowed */
	FOTA_ERR_PROTO = -71,        /* the peer broke the protocol */
	FOTA_ERR_BADMSG = -74,       /* malformed message from the peer */
	FOTA_ERR_CORRUPT = -84,      /* stored data failed its magic or CRC check */
	FOTA_ERR_NOTSUP = -95,       /* not supported (by this build or this port) */
	FOTA_ERR_NETDOWN = -100,     /* no network (radio off, not registered) */
	FOTA_ERR_CONNRESET = -104,   /* the peer reset or closed the connection early */
	FOTA_ERR_TIMEDOUT = -110,    /* a timeout expired */
	FOTA_ERR_CONNREFUSED = -111, /* the peer refused the connection */
	FOTA_ERR_DNS = -200,         /* name lookup failed */
	FOTA_ERR_POWER = -201,       /* power was cut (emulated flash): stop at once */
	FOTA_ERR_FLASH_RULE = -202,  /* a flash program tried to set a bit (NOR rule) */
	FOTA_ERR_VERIFY = -203,      /* hash or signature does not match */
	FOTA_ERR_CANCELED = -204,    /* stopped by request */
	FOTA_ERR_TLS = -205,         /* TLS handshake failed: certificate, host name, version */
	FOTA_ERR_ROLLBACK = -206,    /* image's security counter below the module's floor */
};

/* fota_strerror: a short English name for an enum fota_err value ("EIO", "VERIFY").
 * Returns a static string; "?" for an unknown value. */
const char *fota_strerror(int err);

/* fota_strcaseeq: true when the len bytes at a (the caller's) equal the NUL-terminated b,
 * ignoring ASCII case. */
bool fota_strcaseeq(const char *a, size_t len, const char *b);

/* fota_is_unreserved: true for the bytes RFC 3986 leaves unreserved: A-Z a-z 0-9 - . _ ~ */
bool fota_is_unreserved(char c);

/* fota_scan_u32: reads an unsigned number in base 10 or 16 (digits, then a-f or A-F) at
 * *s, up to end (the caller's bytes), and moves *s past its digits. Returns FOTA_OK with
 * the value in *v, FOTA_ERR_BADMSG when *s holds no digit (nothing moved), FOTA_ERR_RANGE
 * when the number does not fit 32 bits (*s, *v unchanged). */
int fota_scan_u32(const char **s, const char *end, unsigned base, uint32_t *v);

/* fota_fmt_u32: writes v in decimal just before end (the caller's buffer: 10 bytes are
 * enough) and returns its first digit; end - return value is its length. */
char *fota_fmt_u32(char *end, uint32_t v);

/* Compile-time check that works in C99 (used on layouts and RAM budgets). */
#define FOTA_STATIC_ASSERT(cond, name) typedef char fota_static_assert_##name[(cond) ? 1 : -1]

#define FOTA_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Keeps a helper out of line: a small one called from many places, or one that `make size`
 * measured smaller out of line on Cortex-M4 with -Os. */
#if defined(__GNUC__)
#define FOTA_NOINLINE __attribute__((noinline))
#else
#define FOTA_NOINLINE
#endif

/* Inlines a helper at every call, where `make size` measured that smaller on Cortex-M4
 * with -Os than the compiler's own choice. */
#if defined(__GNUC__)
#define FOTA_INLINE inline __attribute__((always_inline))
#else
#define FOTA_INLINE inline
#endif

/* Little-endian fields, written and read as bytes: on-flash and on-wire formats never
 * depend on the host's byte order or a struct's padding. (On a little-endian host gcc
 * and clang make each a single, possibly unaligned, store or load.) */
static inline void fota_put_le16(uint8_t *p, uint16_t v)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__builtin_memcpy(p, &v, 2); /* one (unaligned) store where the CPU has them */
#else
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
#endif
}

static inline void fota_put_le32(uint8_t *p, uint32_t v)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__builtin_memcpy(p, &v, 4);
#else
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
#endif
}

static inline uint16_t fota_get_le16(const uint8_t *p)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint16_t v;

	__builtin_memcpy(&v, p, 2); /* one (unaligned) load where the CPU has them */
	return v;
#else
	return (uint16_t)(p[0] | (p[1] << 8));
#endif
}

static inline uint32_t fota_get_le32(const uint8_t *p)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint32_t v;

	__builtin_memcpy(&v, p, 4);
	return v;
#else
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
#endif
}

/* fota_crc32: CRC-32 (IEEE 802.3, the zlib one) of len bytes at data, continuing from
 * crc (start with 0). The caller owns data. Returns the updated CRC. Table-free, so it
 * costs no RAM or flash table. */
uint32_t fota_crc32(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_FOTA_H */
