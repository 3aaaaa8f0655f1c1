/*
 * log.h - fota-server's diagnostics on standard error, one line each, "fota-server: ..."
 * (the access log has its own format: http.c).
 */
#ifndef FOTA_SRV_LOG_H
#define FOTA_SRV_LOG_H

#include <stddef.h>

/* fota_srv_log: writes "fota-server: " and the printf-formatted message as one line with a
 * single write(2), so lines of several threads never mix. Messages longer than 1 KiB are
 * cut. Never fails (a failed write is ignored). */
void fota_srv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* fota_srv_log_line: writes the len bytes at line (the caller's; a newline is added) to
 * standard error with a single write(2), as they are. */
void fota_srv_log_line(const char *line, size_t len);

#endif /* FOTA_SRV_LOG_H */
