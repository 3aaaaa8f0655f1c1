/*
 * metrics.h - fota-server's counters for GET /metrics (Prometheus text format 0.0.4).
 *
 * Counters live in memory from the start of the process (Prometheus computes rates from
 * them); the database keeps the per-firmware statistics. Every function is safe from any
 * thread (relaxed atomics: a scrape may see one counter a request ahead of another).
 */
#ifndef FOTA_SRV_METRICS_H
#define FOTA_SRV_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The routes of fota_http_requests_total{route}. */
enum fota_srv_route {
	FOTA_ROUTE_DEVICE = 0, /* /api/site/firmware_upgrade: "firmware_upgrade" */
	FOTA_ROUTE_ADMIN,      /* /api/v1/...: "admin" */
	FOTA_ROUTE_HEALTHZ,    /* "healthz" */
	FOTA_ROUTE_METRICS,    /* "metrics" */
	FOTA_ROUTE_OTHER,      /* anything else (404): "other" */
	FOTA_ROUTE_COUNT
};

/* The results of fota_checks_total{result}: one per row of the decision, and errors. */
enum fota_srv_check {
	FOTA_CHECK_OFFERED = 0,   /* "offered": an image was the answer */
	FOTA_CHECK_DEVICE,        /* "invalid_device" (code 3) */
	FOTA_CHECK_PROJECT,       /* "invalid_project" (25) */
	FOTA_CHECK_PERMISSION,    /* "no_permission" (17) */
	FOTA_CHECK_FIRMWARE,      /* "invalid_firmware" (26) */
	FOTA_CHECK_BANNED,        /* "banned" (40) */
	FOTA_CHECK_LATEST,        /* "latest" (27) */
	FOTA_CHECK_ERROR,         /* "error": the server failed (5xx) */
	FOTA_CHECK_COUNT
};

#define FOTA_METRICS_STATUS_MIN 100
#define FOTA_METRICS_STATUS_MAX 599

struct fota_srv_metrics {
	atomic_uint_fast64_t requests[FOTA_ROUTE_COUNT][FOTA_METRICS_STATUS_MAX -
							FOTA_METRICS_STATUS_MIN + 1];
	atomic_uint_fast64_t sent_bytes;
	atomic_uint_fast64_t checks[FOTA_CHECK_COUNT];
	atomic_uint_fast64_t downloads_started;
	atomic_uint_fast64_t downloads_completed;
	atomic_uint_fast64_t upgrades;
};

/* fota_srv_metrics_init: zeroes every counter of m (the caller's). */
void fota_srv_metrics_init(struct fota_srv_metrics *m);

/* fota_srv_metrics_request: counts one answered request of route with status (outside
 * 100-599: not counted by status) and bytes of body sent. */
void fota_srv_metrics_request(struct fota_srv_metrics *m, int route, unsigned status,
			      uint64_t bytes);

/* fota_srv_metrics_add: adds 1 to the counter c (one of m's scalar counters). */
void fota_srv_metrics_add(atomic_uint_fast64_t *c);

/* fota_srv_metrics_render: the text of GET /metrics into a new buffer (malloc; the caller
 * frees it) and *len. Returns NULL when memory runs out. */
char *fota_srv_metrics_render(struct fota_srv_metrics *m, size_t *len);

/* fota_srv_route_name: the label of an enum fota_srv_route ("other" when unknown). */
const char *fota_srv_route_name(int route);

#endif /* FOTA_SRV_METRICS_H */
