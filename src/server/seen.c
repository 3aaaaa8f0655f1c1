/*
 * seen.c - the devices' last check, written in batches off the request path (server.h).
 *
 * A check that changes nothing the server must remember but makes a device's last_seen
 * due (FOTA_STORE_SEEN_GRANULARITY) leaves it here instead of opening a write transaction:
 * the devices waiting, each once (a table of their ids; a later time replaces an earlier
 * one), are written by one thread in one transaction (the store's seen operation) every
 * FOTA_SRV_SEEN_MS, or sooner when half of FOTA_SRV_SEEN_MAX wait. Nothing a decision
 * reads waits here: last_seen is only shown (GET .../devices). A full queue or a stopped
 * writer makes the caller write its device itself. At stop the rest is written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "server.h"

#define SLOTS (2 * FOTA_SRV_SEEN_MAX) /* open addressing, at most half full */

static uint32_t id_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void add_ms(struct timespec *ts, long ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Writes the batch of n at out; says when it failed (once until it works again). */
static void write_batch(struct fota_srv *srv, struct fota_store **s, const struct fota_seen *out,
			size_t n, bool *failing)
{
	int err;

	if (!*s)
		*s = fota_srv_store_get(srv);
	err = *s ? (*s)->ops->seen(*s, out, n) : FOTA_ERR_IO;
	if (err && !*failing)
		fota_srv_log("last_seen of %zu device(s) not recorded: %s", n, fota_strerror(err));
	else if (!err && *failing)
		fota_srv_log("last_seen recorded again");
	*failing = err != FOTA_OK;
}

static void *seen_main(void *arg)
{
	struct fota_srv *srv = arg;
	struct fota_srv_seen *q = &srv->seen;
	struct fota_store *s = NULL;
	bool failing = false;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct fota_seen *batch;
		struct timespec until;
		size_t n;

		while (q->run && q->n == 0)
			pthread_cond_wait(&q->cv, &q->lock);
		if (q->n == 0)
			break; /* stopped, nothing left */
		/* A batch: what comes within FOTA_SRV_SEEN_MS of the first. */
		clock_gettime(CLOCK_MONOTONIC, &until);
		add_ms(&until, FOTA_SRV_SEEN_MS);
		while (q->run && q->n < FOTA_SRV_SEEN_MAX / 2)
			if (pthread_cond_timedwait(&q->cv, &q->lock, &until) == ETIMEDOUT)
				break;
		batch = q->v;
		n = q->n;
		q->v = q->out;
		q->out = batch;
		q->n = 0;
		memset(q->slot, 0, SLOTS * sizeof(*q->slot));
		pthread_mutex_unlock(&q->lock);
		write_batch(srv, &s, batch, n, &failing);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	fota_srv_store_put(srv, s);
	return NULL;
}

int fota_srv_seen_init(struct fota_srv_seen *q)
{
	pthread_condattr_t ca;
	int rc;

	memset(q, 0, sizeof(*q));
	if (pthread_mutex_init(&q->lock, NULL))
		return FOTA_ERR_NOMEM;
	/* The batch's deadline is on the monotonic clock. */
	rc = pthread_condattr_init(&ca);
	if (rc)
		return FOTA_ERR_NOMEM;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	return rc ? FOTA_ERR_NOMEM : FOTA_OK;
}

void fota_srv_seen_free(struct fota_srv_seen *q)
{
	free(q->v);
	free(q->out);
	free(q->slot);
	q->v = q->out = NULL;
	q->slot = NULL;
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->lock);
}

int fota_srv_seen_start(struct fota_srv *srv)
{
	struct fota_srv_seen *q = &srv->seen;

	if (!q->v)
		q->v = calloc(FOTA_SRV_SEEN_MAX, sizeof(*q->v));
	if (!q->out)
		q->out = calloc(FOTA_SRV_SEEN_MAX, sizeof(*q->out));
	if (!q->slot)
		q->slot = calloc(SLOTS, sizeof(*q->slot));
	if (!q->v || !q->out || !q->slot)
		return FOTA_ERR_NOMEM;
	q->run = true;
	if (pthread_create(&q->thread, NULL, seen_main, srv) != 0) {
		q->run = false;
		return FOTA_ERR_NOMEM;
	}
	q->started = true;
	return FOTA_OK;
}

int fota_srv_seen_add(struct fota_srv *srv, const char *device, int64_t at)
{
	struct fota_srv_seen *q = &srv->seen;
	uint32_t h = id_hash(device) & (SLOTS - 1), i;
	size_t len = strlen(device);

	if (len > FOTA_STORE_ID_MAX)
		return FOTA_ERR_INVAL;
	pthread_mutex_lock(&q->lock);
	if (!q->run) {
		pthread_mutex_unlock(&q->lock);
		return FOTA_ERR_BUSY;
	}
	while ((i = q->slot[h]) != 0) {
		struct fota_seen *e = &q->v[i - 1];

		if (!strcmp(e->device, device)) {
			if (at > e->at)
				e->at = at;
			pthread_mutex_unlock(&q->lock);
			return FOTA_OK;
		}
		h = (h + 1) & (SLOTS - 1);
	}
	if (q->n == FOTA_SRV_SEEN_MAX) {
		pthread_mutex_unlock(&q->lock);
		return FOTA_ERR_BUSY;
	}
	memcpy(q->v[q->n].device, device, len + 1);
	q->v[q->n].at = at;
	q->slot[h] = (uint32_t)++q->n;
	if (q->n == 1 || q->n == FOTA_SRV_SEEN_MAX / 2)
		pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->lock);
	return FOTA_OK;
}

void fota_srv_seen_stop(struct fota_srv *srv)
{
	struct fota_srv_seen *q = &srv->seen;

	if (!q->started)
		return;
	pthread_mutex_lock(&q->lock);
	q->run = false;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL); /* it writes what waits, then ends */
	q->started = false;
}
