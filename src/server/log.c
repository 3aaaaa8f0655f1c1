/* log.c - fota-server's diagnostics (log.h). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

void fota_srv_log_line(const char *line, size_t len)
{
	char buf[2048];

	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	memcpy(buf, line, len);
	buf[len++] = '\n';
	if (write(STDERR_FILENO, buf, len) < 0)
		return; /* nowhere to tell */
}

void fota_srv_log(const char *fmt, ...)
{
	static const char prefix[] = "fota-server: ";
	char buf[1024 + sizeof(prefix)];
	va_list ap;
	int n;

	memcpy(buf, prefix, sizeof(prefix) - 1);
	va_start(ap, fmt);
	n = vsnprintf(buf + sizeof(prefix) - 1, sizeof(buf) - sizeof(prefix) + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - sizeof(prefix))
		n = (int)(sizeof(buf) - sizeof(prefix));
	fota_srv_log_line(buf, sizeof(prefix) - 1 + (size_t)n);
}
