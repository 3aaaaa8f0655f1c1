/*
 * store.c - what every storage implementation shares (store.h): opening by URL, the
 * device states' names, and the pick among candidate firmware.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "fota/version.h"
#include "log.h"
#include "store.h"

static const struct fota_store_ops *const backends[] = {
	&fota_store_sqlite,
};

int fota_store_open(const char *url, struct fota_store **out)
{
	const char *colon = url ? strchr(url, ':') : NULL;

	*out = NULL;
	if (!colon)
		return FOTA_ERR_NOTSUP;
	for (size_t i = 0; i < FOTA_ARRAY_SIZE(backends); i++) {
		size_t n = strlen(backends[i]->scheme);

		if ((size_t)(colon - url) == n && !strncmp(url, backends[i]->scheme, n))
			return backends[i]->open(colon + 1, out);
	}
	return FOTA_ERR_NOTSUP;
}

void fota_store_close(struct fota_store *s)
{
	if (s)
		s->ops->close(s);
}

static const char *const state_names[] = {
	[FOTA_DEVICE_CHECKED] = "checked",
	[FOTA_DEVICE_OFFERED] = "offered",
	[FOTA_DEVICE_UPGRADED] = "upgraded",
};

const char *fota_store_state_name(int state)
{
	if (state < 0 || (size_t)state >= FOTA_ARRAY_SIZE(state_names))
		return state_names[FOTA_DEVICE_CHECKED];
	return state_names[state];
}

int fota_store_state_parse(const char *s)
{
	for (size_t i = 0; s && i < FOTA_ARRAY_SIZE(state_names); i++)
		if (!strcmp(s, state_names[i]))
			return (int)i;
	return -1;
}

void fota_pick_init(struct fota_pick *p, const char *device_version)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->device_version, sizeof(p->device_version), "%s",
		 device_version ? device_version : "");
}

/* Keeps (id, version) in *best_id/best_version when it is newer than what is kept (on an
 * equal version, which the store's uniqueness rule prevents, the later row wins). */
static void keep_newest(int64_t *best_id, char *best_version, size_t cap, int64_t id,
			const char *version)
{
	if (*best_id && fota_version_cmp(version, best_version) < 0)
		return;
	if (*best_id && fota_version_cmp(version, best_version) == 0 && id < *best_id)
		return;
	*best_id = id;
	snprintf(best_version, cap, "%s", version);
}

void fota_pick_add(struct fota_pick *p, int64_t id, const char *version, bool enabled,
		   bool all_devices, bool listed)
{
	if (!enabled || id <= 0 || !version || fota_version_cmp(version, p->device_version) <= 0)
		return;
	if (listed)
		keep_newest(&p->listed_id, p->listed_version, sizeof(p->listed_version), id, version);
	else if (all_devices)
		keep_newest(&p->all_id, p->all_version, sizeof(p->all_version), id, version);
}

int64_t fota_pick_result(const struct fota_pick *p)
{
	return p->listed_id ? p->listed_id : p->all_id;
}
