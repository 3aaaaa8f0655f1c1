/*
 * store.h - fota-server's storage behind one interface: projects, firmware, upgrade lists,
 * devices, download starts and statistics. SQLite implements it now (store_sqlite.c); a
 * PostgreSQL implementation is another struct fota_store_ops with the same contract.
 * docs/server.md has the schema, the migrations and the rules.
 *
 * A struct fota_store is one connection to the database: one thread uses it at a time (the
 * server keeps a pool of them). Every operation is one transaction. Every function returns
 * an enum fota_err: FOTA_OK; FOTA_ERR_NOENT (the project, firmware or device is not there);
 * FOTA_ERR_EXIST (a conflict: that version exists); FOTA_ERR_INVAL (a bad argument);
 * FOTA_ERR_BUSY (the database stayed locked); FOTA_ERR_IO (the database failed: the store
 * logged why); FOTA_ERR_NOTSUP (a scheme or schema this program does not know). Times are
 * Unix seconds given by the caller, so tests run a day in a microsecond. Strings given are
 * the caller's and only read during the call; strings returned are copied into the
 * caller's structures.
 */
#ifndef FOTA_SRV_STORE_H
#define FOTA_SRV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fota/fota.h"
#include "fota/image.h"

#define FOTA_STORE_KEY_LEN 32         /* project key: lowercase hex digits */
#define FOTA_STORE_NAME_CHARS 128     /* a project's name: 1-128 characters */
#define FOTA_STORE_NAME_BYTES (FOTA_STORE_NAME_CHARS * 4) /* ... of UTF-8 */
#define FOTA_STORE_ID_MAX 64          /* a device id (IMEI, MAC, UID) */
#define FOTA_STORE_DEVVER_MAX 128     /* the version a device reports */
#define FOTA_STORE_SHA_HEX 64         /* a SHA-256 in hex */
#define FOTA_STORE_GUARD_STARTS 6     /* loop guard: more starts than this ... */
#define FOTA_STORE_GUARD_WINDOW 86400 /* ... within this many seconds ban the device */
#define FOTA_STORE_PEM_MAX 1024       /* a signing key's canonical PEM (P-256: 178 bytes) */
#define FOTA_STORE_SEEN_GRANULARITY 60 /* seconds: a device's last_seen is rewritten when
					* it is this old (or anything else changed) */

/* The vendor's answer codes of the device API (docs/server-api.md, decision table). */
enum fota_code {
	FOTA_CODE_OFFER = 0,          /* an image is offered */
	FOTA_CODE_DEVICE = 3,         /* no (valid) device id */
	FOTA_CODE_PERMISSION = 17,    /* the device is bound to another project */
	FOTA_CODE_PROJECT = 25,       /* unknown project key */
	FOTA_CODE_FIRMWARE = 26,      /* no firmware of that name in the project */
	FOTA_CODE_LATEST = 27,        /* nothing newer targets the device */
	FOTA_CODE_BANNED = 40,        /* loop guard */
};

struct fota_project {
	char key[FOTA_STORE_KEY_LEN + 1];
	char name[FOTA_STORE_NAME_BYTES + 1];
	int64_t created;
	int64_t firmware; /* firmware rows of the project */
	int64_t devices;  /* devices bound to it */
	int64_t keys;     /* its signing keys: uploads must be signed by one when there are */
};

/* A project's signing key: an ECDSA P-256 public key (keys.h checks it). */
struct fota_project_key {
	char sha256[FOTA_STORE_SHA_HEX + 1]; /* of its DER SubjectPublicKeyInfo, hex: its id */
	char pem[FOTA_STORE_PEM_MAX + 1];    /* canonical PEM "PUBLIC KEY" */
};

struct fota_firmware {
	int64_t id;
	char name[FOTA_IMAGE_NAME_SIZE];
	char version[FOTA_IMAGE_VERSION_SIZE];
	int64_t size;                       /* bytes of the image file */
	char sha256[FOTA_STORE_SHA_HEX + 1]; /* of the whole file: its name in DATA/firmware */
	bool enabled;
	bool all_devices;
	int64_t created;
};

enum fota_device_state {
	FOTA_DEVICE_CHECKED = 0, /* last answer a refusal or nothing newer */
	FOTA_DEVICE_OFFERED,     /* last answer an image */
	FOTA_DEVICE_UPGRADED,    /* checked in with the version last offered */
};

struct fota_device {
	char id[FOTA_STORE_ID_MAX + 1];
	char version[FOTA_STORE_DEVVER_MAX + 1];
	int64_t last_seen;
	int state; /* enum fota_device_state */
	bool banned;
};

struct fota_stat {
	int64_t firmware_id;
	char name[FOTA_IMAGE_NAME_SIZE];
	char version[FOTA_IMAGE_VERSION_SIZE];
	int64_t started;   /* download starts (a 200, or a 206 from byte 0) */
	int64_t completed; /* downloads whose last byte was sent */
	int64_t upgraded;  /* devices that checked in with this version after its offer */
};

/* A device's check (the decision of docs/server-api.md from row 2 on; row 1, the device id
 * itself, is the caller's). */
struct fota_check_req {
	const char *project_key;
	const char *device;        /* a valid device id (fota_srv_id_valid) */
	const char *firmware_name;
	const char *version;       /* at most FOTA_STORE_DEVVER_MAX bytes */
	int64_t now;
	bool seen_later;           /* a last_seen that alone is due is left to the caller
				    * (res.seen), who records it with the seen operation */
};

struct fota_check_res {
	int code;                /* enum fota_code */
	struct fota_firmware fw; /* the image offered, when code is FOTA_CODE_OFFER */
	bool upgraded;           /* this check counted an upgrade (of the last offer) */
	bool seen;               /* (seen_later) nothing was written, but the device's
				  * last_seen is due: the caller records now with seen() */
};

/* A device's last check, for the seen operation. */
struct fota_seen {
	char device[FOTA_STORE_ID_MAX + 1];
	int64_t at;
};

/* Callbacks of the listing functions: called once per row with a structure that lives for
 * the call only. A non-zero return stops the listing, which then returns that value. */
typedef int (*fota_store_project_fn)(void *ctx, const struct fota_project *p);
typedef int (*fota_store_firmware_fn)(void *ctx, const struct fota_firmware *f);
typedef int (*fota_store_device_fn)(void *ctx, const struct fota_device *d);
typedef int (*fota_store_stat_fn)(void *ctx, const struct fota_stat *s);
typedef int (*fota_store_str_fn)(void *ctx, const char *s);
typedef int (*fota_store_key_fn)(void *ctx, const struct fota_project_key *k);

struct fota_store;

/* One storage implementation. */
struct fota_store_ops {
	const char *scheme; /* of the --db URL: "sqlite" for "sqlite:PATH" */

	/* open: connects to where (the URL after "scheme:"), creating the database if
	 * missing and bringing its schema up to date (ordered migrations, each in a
	 * transaction). *out gets the store, freed by close. */
	int (*open)(const char *where, struct fota_store **out);
	/* close: ends the connection and frees s. */
	void (*close)(struct fota_store *s);

	/* project_create: a new project with key (FOTA_STORE_KEY_LEN hex digits) and name;
	 * FOTA_ERR_EXIST if the key is taken. *out (may be NULL) gets it. */
	int (*project_create)(struct fota_store *s, const char *key, const char *name, int64_t now,
			      struct fota_project *out);
	/* project_get: the project of key into *out (may be NULL: does it exist?). */
	int (*project_get)(struct fota_store *s, const char *key, struct fota_project *out);
	/* project_list: every project, oldest first. */
	int (*project_list)(struct fota_store *s, fota_store_project_fn fn, void *ctx);
	/* project_delete: the project, its firmware, upgrade lists, statistics and device
	 * bindings. Then unused (ctx, sha256) is called for each image file that no firmware
	 * row names any more (the caller deletes the file). */
	int (*project_delete)(struct fota_store *s, const char *key, fota_store_str_fn unused,
			      void *ctx);

	/* firmware_add: inserts fw (all fields but id, which is set on FOTA_OK) into the
	 * project. FOTA_ERR_EXIST when the project has firmware of that name whose version
	 * is equal under fota_version_cmp; FOTA_ERR_NOENT for an unknown project. */
	int (*firmware_add)(struct fota_store *s, const char *key, struct fota_firmware *fw);
	/* firmware_find: the project's firmware of name whose version equals version under
	 * fota_version_cmp, into *out (may be NULL); FOTA_ERR_NOENT if none. */
	int (*firmware_find)(struct fota_store *s, const char *key, const char *name,
			     const char *version, struct fota_firmware *out);
	/* firmware_get: the project's firmware id into *out (may be NULL); FOTA_ERR_NOENT
	 * also when id belongs to another project. */
	int (*firmware_get)(struct fota_store *s, const char *key, int64_t id,
			    struct fota_firmware *out);
	/* firmware_list: the project's firmware, by id. */
	int (*firmware_list)(struct fota_store *s, const char *key, fota_store_firmware_fn fn,
			     void *ctx);
	/* firmware_update: sets enabled and all_devices (each 0, 1, or -1 to keep it); *out
	 * (may be NULL) gets the row as it is then. */
	int (*firmware_update)(struct fota_store *s, const char *key, int64_t id, int enabled,
			       int all_devices, struct fota_firmware *out);
	/* firmware_delete: the row, its upgrade list and statistics; unused as for
	 * project_delete. */
	int (*firmware_delete)(struct fota_store *s, const char *key, int64_t id,
			       fota_store_str_fn unused, void *ctx);
	/* targets_set: replaces the firmware's upgrade list by the n device ids at ids
	 * (duplicates kept once, the first place counts). */
	int (*targets_set)(struct fota_store *s, const char *key, int64_t id,
			   const char *const *ids, size_t n);
	/* targets_list: the upgrade list, in the order it was given. */
	int (*targets_list)(struct fota_store *s, const char *key, int64_t id, fota_store_str_fn fn,
			    void *ctx);

	/* keys_set: replaces the project's signing keys by the n keys at v (the same sha256
	 * twice is kept once, the first place counts); n may be 0 (no key: uploads need no
	 * signature). FOTA_ERR_INVAL for a field too long. */
	int (*keys_set)(struct fota_store *s, const char *key, const struct fota_project_key *v,
			size_t n);
	/* keys_list: the project's signing keys, in the order given. */
	int (*keys_list)(struct fota_store *s, const char *key, fota_store_key_fn fn, void *ctx);

	/* device_list: the devices bound to the project, ordered by their id (IMEI). */
	int (*device_list)(struct fota_store *s, const char *key, fota_store_device_fn fn,
			   void *ctx);
	/* device_unban: lifts the loop guard of a device of the project and forgets its
	 * download starts; *out (may be NULL) gets the device. */
	int (*device_unban)(struct fota_store *s, const char *key, const char *device,
			    struct fota_device *out);
	/* stats_list: one row per firmware of the project, by id. */
	int (*stats_list)(struct fota_store *s, const char *key, fota_store_stat_fn fn, void *ctx);

	/* check: the decision for one device request, in one transaction: unknown project
	 * (25), bound elsewhere (17; a new device is bound here), no firmware of the name
	 * (26), banned (40), nothing newer that targets it (27), else the newest image that
	 * does (see fota_pick). It records the device's version, state and offer, and counts
	 * an upgrade when the device reports the version it was last offered; its last_seen
	 * is rewritten when something else changed or it is FOTA_STORE_SEEN_GRANULARITY
	 * seconds old, so a check that changes nothing writes nothing (and with
	 * rq->seen_later, a check that only makes last_seen due sets res->seen instead of
	 * writing it). FOTA_OK means res holds the answer, whatever its code. */
	int (*check)(struct fota_store *s, const struct fota_check_req *rq,
		     struct fota_check_res *res);
	/* download_start: counts a download start of firmware fw_id by device, forgets its
	 * starts older than FOTA_STORE_GUARD_WINDOW, and bans the device when more than
	 * FOTA_STORE_GUARD_STARTS remain; *banned (may be NULL) tells whether it is banned. */
	int (*download_start)(struct fota_store *s, const char *device, int64_t fw_id, int64_t now,
			      bool *banned);
	/* download_done: counts a completed download of firmware fw_id. */
	int (*download_done)(struct fota_store *s, int64_t fw_id);
	/* seen: sets the last_seen of the n devices at v to their time, in one transaction;
	 * a time older than the one recorded is ignored (unless by
	 * FOTA_STORE_SEEN_GRANULARITY or more: a clock that went back), a device no longer
	 * there skipped.
	 * (The server records the checks that changed nothing else this way, a batch every
	 * few milliseconds, off the request path.) */
	int (*seen)(struct fota_store *s, const struct fota_seen *v, size_t n);
	/* sha_used: *used tells whether any firmware row names the file sha256. */
	int (*sha_used)(struct fota_store *s, const char *sha256, bool *used);
};

/* The base of every implementation's connection structure. */
struct fota_store {
	const struct fota_store_ops *ops;
};

/* fota_store_open: opens the store that url names ("sqlite:PATH"; "postgresql://..." is
 * recognized and answered FOTA_ERR_NOTSUP until it exists). *out gets the store, closed by
 * fota_store_close. Returns FOTA_OK, FOTA_ERR_NOTSUP (unknown or missing scheme), or the
 * implementation's open error. */
int fota_store_open(const char *url, struct fota_store **out);

/* fota_store_close: closes s (may be NULL). */
void fota_store_close(struct fota_store *s);

/* fota_store_state_name: "checked", "offered" or "upgraded" for an enum fota_device_state
 * ("checked" for anything else). A static string. */
const char *fota_store_state_name(int state);

/* fota_store_state_parse: the enum fota_device_state named s, or -1. */
int fota_store_state_parse(const char *s);

/* The choice among the firmware of one name for one device (the decision's row 6 and 7),
 * shared by every implementation: candidates come one by one, in any order, and the pick
 * keeps the newest enabled one whose version is greater than the device's, preferring
 * those whose upgrade list names the device over those that target all devices. It keeps
 * copies of what it needs: no pointer to a candidate stays in it. */
struct fota_pick {
	char device_version[FOTA_STORE_DEVVER_MAX + 1];
	int64_t listed_id;                        /* 0: none yet */
	char listed_version[FOTA_IMAGE_VERSION_SIZE];
	int64_t all_id;
	char all_version[FOTA_IMAGE_VERSION_SIZE];
};

/* fota_pick_init: p (the caller's) is ready for the candidates of a device that runs
 * device_version (NULL counts as ""). */
void fota_pick_init(struct fota_pick *p, const char *device_version);

/* fota_pick_add: offers one candidate: its id (> 0), version, switches, and whether its
 * upgrade list names the device. */
void fota_pick_add(struct fota_pick *p, int64_t id, const char *version, bool enabled,
		   bool all_devices, bool listed);

/* fota_pick_result: the id of the firmware to offer, or 0 for none (code 27). */
int64_t fota_pick_result(const struct fota_pick *p);

/* The SQLite implementation (store_sqlite.c). */
extern const struct fota_store_ops fota_store_sqlite;

#endif /* FOTA_SRV_STORE_H */
