/*
 * agent.h - the upgrade agent: the check, the download, the schedule.
 *
 * What AT+UPGRADE and the AUTO/PERIOD schedule do, as a state machine the firmware
 * advances with fota_agent_poll(now): no thread, no blocking, time as an argument.
 *
 *  - KEY mode (URL empty): GET <server>/api/site/firmware_upgrade?project_key=&imei=
 *    &firmware_name=&version=; 200/206: the body is the image; >= 300: no upgrade, the
 *    JSON body's "code" is the cause.
 *  - URL mode: GET the URL (redirects followed), with If-None-Match/If-Modified-Since
 *    from the last look at the same URL; the image header alone decides: not newer, and
 *    the connection is closed having read little more than the header.
 *  - The image streams into the staging slot (stage.h) with +UPGRADEIND: <percent>; a
 *    lost connection is retried with backoff, resuming with Range; a power cut resumes
 *    at the next boot from the progress kept in flash and NV. A verified image is marked
 *    staged and the firmware is asked to reboot (the boot code installs it).
 *  - Results go to AT+UPGRADE? (fota_module_set_status) and, on failure, to
 *    +UPGRADEIND: <error code>.
 */
#ifndef FOTA_AGENT_H
#define FOTA_AGENT_H

#include "fota/http.h"
#include "fota/module.h"
#include "fota/net.h"
#include "fota/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fota_agent_cfg {
	struct fota_module *module;         /* settings, status, URCs, identity (borrowed) */
	const struct fota_boot_cfg *boot;   /* flash and layout (borrowed) */
	const struct fota_sha256 *sha;      /* hash port (borrowed; the agent's alone) */
	const struct fota_net *net;         /* network port (borrowed) */
	const struct fota_sig *sig;         /* signature port (borrowed); NULL: images need a
					     * valid hash only. Given: a valid signature too */
	uint32_t security_counter;          /* the running firmware's anti-rollback counter: an
					     * image below it, or below the journal's floor, is
					     * refused on its header (-1003) */
	const char *server;     /* KEY mode's server, "http://host[:port]"; NULL: the default */
	const char *family;     /* the running firmware's name: firmware_name=, and the name a
				 * new image must have */
	uint32_t period_scale;  /* the schedule runs this many times faster (fotad's
				 * --clock-rate), at most 100000000; 0 or 1: real time.
				 * Timeouts stay real. */
	uint32_t idle_timeout_ms;    /* 0: FOTA_IDLE_TIMEOUT_MS (timeouts: below 2^31 ms) */
	uint32_t connect_timeout_ms; /* 0: FOTA_CONNECT_TIMEOUT_MS */
	/* reboot: a verified image is staged; reset now so the boot code installs it. */
	void (*reboot)(void *ctx);
	void *ctx;
};

/* The agent's state. Fields are private; sizes are fixed at compile time. */
struct fota_agent {
	/* (the fields used most come first: on Cortex-M their loads and stores are shorter) */
	bool report;             /* the upgrade's result is to be reported (+UPGRADEVER) */
	bool staging;            /* the stage is open and takes the body */
	uint8_t step;            /* what the agent does now */
	uint8_t job;             /* check/download, or report */
	uint8_t tries;           /* tries in a row that brought no image byte */
	uint8_t drops;           /* connections of this attempt lost after some progress */
	uint8_t redirects;
	uint8_t percent;         /* last +UPGRADEIND percent said; 0xFF: none yet */
	bool resume;             /* a partial image waits in S (see dl_*) */
	bool live;               /* ...and the stage in RAM still holds it, to the byte */
	uint8_t stop;            /* why a callback stopped the response on purpose */
	bool refused;            /* the response is a refusal (not 200, 206 or a stop):
				  * its body says why */
	uint16_t status;         /* HTTP status of the response (0: none) */
	uint16_t hold_len;       /* image header bytes held in io before the stage opens */
	uint16_t err_len;        /* error body bytes in err_body */
	int h;                   /* network handle, -1 when none */
	int32_t cause;           /* the server's "code" (0: none) */
	uint32_t got;            /* image bytes received so far */
	uint32_t from;           /* Range asked for */
	uint32_t io_len, io_off; /* request bytes in io, and sent */
	/* The download under way, also kept in NV (FOTA_NV_DOWNLOAD) for a power cut. */
	uint32_t dl_target;      /* CRC of what was asked (URL, or server+KEY) */
	uint32_t dl_total;       /* the image's total size */
	uint32_t deadline;       /* timeout of the step under way, or the end of a backoff
				  * (the low 32 bits of the time, compared wrap-safe) */
	uint64_t now;            /* time of the last poll */
	struct fota_agent_cfg cfg;
	uint32_t period;         /* the PERIOD (s) next_check counts; 0: the boot delay */
	uint64_t next_check;     /* when the schedule starts the next check; 0: not set */
	char dl_etag[FOTA_HTTP_ETAG_MAX]; /* the download's ETag (with dl_target, dl_total) */
	char url[FOTA_URL_MAX + 1];   /* the URL being fetched (after redirects) */
	struct fota_url u;            /* url parsed, for the connection under way */
	char rejected[FOTA_IMAGE_VERSION_SIZE]; /* version reverted here: never fetched again */
	struct fota_http_parser http;
	struct fota_image_parser hdr; /* the image header, read before anything is erased */
	struct fota_stage stage;
	char err_body[256];           /* the start of an error answer: {"code":N,...} */
	uint8_t hold[FOTA_IMAGE_HDR_MAX]; /* image header bytes until it is accepted */
	uint8_t io[FOTA_IO_BUF_SIZE];
};

/* fota_agent_init: an agent after boot, at time now_ms. Reads an interrupted download
 * from NV (it resumes shortly) and sets the schedule from the settings. cfg and what it
 * points to are borrowed. Returns FOTA_OK or FOTA_ERR_INVAL for a bad config. */
int fota_agent_init(struct fota_agent *a, const struct fota_agent_cfg *cfg, uint64_t now_ms);

/* fota_agent_start: AT+UPGRADE: check (and download) now. Returns FOTA_OK, or
 * FOTA_ERR_BUSY while an attempt runs. The module's upgrade hook calls it. */
int fota_agent_start(struct fota_agent *a);

/* fota_agent_report: after the boot code ended an upgrade, report the running version
 * to the server (KEY mode: a check request carrying it) and say +UPGRADEVER: 1 when the
 * server answered, 0 when it could not be reached (URL mode: 0 at once). */
void fota_agent_report(struct fota_agent *a);

/* fota_agent_poll: moves the agent on at time now_ms (monotonic milliseconds). Returns
 * how many milliseconds may pass before it needs the next call if nothing happens on the
 * network (the caller also calls it when its connection has something). */
uint32_t fota_agent_poll(struct fota_agent *a, uint64_t now_ms);

/* fota_agent_busy: true while an attempt (or a report) runs. */
bool fota_agent_busy(const struct fota_agent *a);

#ifdef __cplusplus
}
#endif

#endif /* FOTA_AGENT_H */
