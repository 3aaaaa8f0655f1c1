/*
 * config.h - build-time options of libfota, each with its default.
 *
 * Override any of them with -D on the compiler line (or a header included first);
 * the values are checked at compile time where a wrong one would break a layout.
 */
#ifndef FOTA_CONFIG_H
#define FOTA_CONFIG_H

/* Longest AT command line kept, without its CR. It must hold the longest legal line,
 * AT+UPGRADE="URL","<255 chars>",1 (276 bytes); longer lines answer ERROR. */
#ifndef FOTA_AT_LINE_MAX
#define FOTA_AT_LINE_MAX 288
#endif

/* Bytes of unsolicited result codes held while a command's answer is being written. */
#ifndef FOTA_AT_URC_BUF
#define FOTA_AT_URC_BUF 128
#endif

/* Largest flash program unit the core supports (bytes; a power of two). NV records and
 * journal entries are padded to the port's program size, up to this. */
#ifndef FOTA_FLASH_PROG_MAX
#define FOTA_FLASH_PROG_MAX 16
#endif

/* Bytes of the stack buffer used to copy flash to flash (NV compaction, install). */
#ifndef FOTA_COPY_BUF
#define FOTA_COPY_BUF 64
#endif

/* Largest NV record payload. The settings record is the largest one (about 330 bytes). */
#ifndef FOTA_NV_RECORD_MAX
#define FOTA_NV_RECORD_MAX 512
#endif

/* Settings limits from the AT+UPGRADE contract. */
#define FOTA_KEY_MAX 64
#define FOTA_URL_MAX 255
#define FOTA_PERIOD_MIN 60u
#define FOTA_PERIOD_DEFAULT 86400u

/* Longest firmware version string (the image header's version field less its NUL). */
#define FOTA_VERSION_MAX 47

/* Bytes of the agent's network buffer: one recv at most, and the request is built in
 * it. The HTTP request of a KEY-mode check (about 250 bytes) must fit. */
#ifndef FOTA_IO_BUF_SIZE
#define FOTA_IO_BUF_SIZE 1024
#endif

/* Download: tries in a row of one attempt (the first and the retries; a try that brings
 * image bytes starts the count again, up to FOTA_DL_DROPS_MAX such drops), the first
 * backoff (doubled each retry), the connect and idle timeouts, redirects followed in
 * URL mode. */
#ifndef FOTA_DL_TRIES
#define FOTA_DL_TRIES 4
#endif
#ifndef FOTA_DL_DROPS_MAX
#define FOTA_DL_DROPS_MAX 32
#endif
#ifndef FOTA_DL_BACKOFF_MS
#define FOTA_DL_BACKOFF_MS 1000u
#endif
#ifndef FOTA_CONNECT_TIMEOUT_MS
#define FOTA_CONNECT_TIMEOUT_MS 30000u
#endif
#ifndef FOTA_IDLE_TIMEOUT_MS
#define FOTA_IDLE_TIMEOUT_MS 30000u
#endif
#ifndef FOTA_REDIRECT_MAX
#define FOTA_REDIRECT_MAX 5
#endif

/* AUTO 1: the first check this long after boot, then every PERIOD. */
#ifndef FOTA_BOOT_CHECK_DELAY_MS
#define FOTA_BOOT_CHECK_DELAY_MS 10000u
#endif

/* The FOTA server of KEY mode when the firmware names none: the vendor's public one. */
#ifndef FOTA_DEFAULT_SERVER
#define FOTA_DEFAULT_SERVER "http://iot.openluat.com"
#endif


#endif /* FOTA_CONFIG_H */
