/* metrics.c - fota-server's counters and their Prometheus text (metrics.h). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const char *const route_names[FOTA_ROUTE_COUNT] = {
	[FOTA_ROUTE_DEVICE] = "firmware_upgrade",
	[FOTA_ROUTE_ADMIN] = "admin",
	[FOTA_ROUTE_HEALTHZ] = "healthz",
	[FOTA_ROUTE_METRICS] = "metrics",
	[FOTA_ROUTE_OTHER] = "other",
};

static const char *const check_names[FOTA_CHECK_COUNT] = {
	[FOTA_CHECK_OFFERED] = "offered",
	[FOTA_CHECK_DEVICE] = "invalid_device",
	[FOTA_CHECK_PROJECT] = "invalid_project",
	[FOTA_CHECK_PERMISSION] = "no_permission",
	[FOTA_CHECK_FIRMWARE] = "invalid_firmware",
	[FOTA_CHECK_BANNED] = "banned",
	[FOTA_CHECK_LATEST] = "latest",
	[FOTA_CHECK_ERROR] = "error",
};

const char *fota_srv_route_name(int route)
{
	if (route < 0 || route >= FOTA_ROUTE_COUNT)
		return route_names[FOTA_ROUTE_OTHER];
	return route_names[route];
}

void fota_srv_metrics_init(struct fota_srv_metrics *m)
{
	for (int r = 0; r < FOTA_ROUTE_COUNT; r++)
		for (int s = 0; s <= FOTA_METRICS_STATUS_MAX - FOTA_METRICS_STATUS_MIN; s++)
			atomic_init(&m->requests[r][s], 0);
	atomic_init(&m->sent_bytes, 0);
	for (int c = 0; c < FOTA_CHECK_COUNT; c++)
		atomic_init(&m->checks[c], 0);
	atomic_init(&m->downloads_started, 0);
	atomic_init(&m->downloads_completed, 0);
	atomic_init(&m->upgrades, 0);
}

void fota_srv_metrics_add(atomic_uint_fast64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void fota_srv_metrics_request(struct fota_srv_metrics *m, int route, unsigned status,
			      uint64_t bytes)
{
	if (route < 0 || route >= FOTA_ROUTE_COUNT)
		route = FOTA_ROUTE_OTHER;
	if (status >= FOTA_METRICS_STATUS_MIN && status <= FOTA_METRICS_STATUS_MAX)
		atomic_fetch_add_explicit(&m->requests[route][status - FOTA_METRICS_STATUS_MIN], 1,
					  memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sent_bytes, bytes, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

char *fota_srv_metrics_render(struct fota_srv_metrics *m, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return NULL;
	fputs("# HELP fota_http_requests_total HTTP requests answered, by route and status.\n"
	      "# TYPE fota_http_requests_total counter\n", f);
	for (int r = 0; r < FOTA_ROUTE_COUNT; r++)
		for (int s = 0; s <= FOTA_METRICS_STATUS_MAX - FOTA_METRICS_STATUS_MIN; s++) {
			uint64_t v = get(&m->requests[r][s]);

			if (v)
				fprintf(f, "fota_http_requests_total{route=\"%s\",status=\"%d\"} %" PRIu64 "\n",
					route_names[r], s + FOTA_METRICS_STATUS_MIN, v);
		}
	fprintf(f, "# HELP fota_http_sent_bytes_total Bytes of response bodies sent.\n"
		"# TYPE fota_http_sent_bytes_total counter\n"
		"fota_http_sent_bytes_total %" PRIu64 "\n", get(&m->sent_bytes));
	fputs("# HELP fota_checks_total Device checks, by result.\n"
	      "# TYPE fota_checks_total counter\n", f);
	for (int c = 0; c < FOTA_CHECK_COUNT; c++)
		fprintf(f, "fota_checks_total{result=\"%s\"} %" PRIu64 "\n", check_names[c],
			get(&m->checks[c]));
	fprintf(f, "# HELP fota_downloads_started_total Downloads started (200, or 206 from byte 0).\n"
		"# TYPE fota_downloads_started_total counter\n"
		"fota_downloads_started_total %" PRIu64 "\n"
		"# HELP fota_downloads_completed_total Downloads whose last byte was sent.\n"
		"# TYPE fota_downloads_completed_total counter\n"
		"fota_downloads_completed_total %" PRIu64 "\n"
		"# HELP fota_upgrades_total Devices that checked in with the version offered.\n"
		"# TYPE fota_upgrades_total counter\n"
		"fota_upgrades_total %" PRIu64 "\n",
		get(&m->downloads_started), get(&m->downloads_completed), get(&m->upgrades));
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}
