/*
 * upload.c - the firmware files in DATA/firmware: uploads streamed to a temporary file and
 * checked on the way by libfota's streaming verifier, stored atomically (write, fsync,
 * rename to <sha256>.fota, fsync of the folder; the database row comes after), removed
 * when no firmware row names them, and cleaned up at start (server.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "fota/posix_crypto.h"
#include "log.h"
#include "server.h"

#define TMP_PREFIX ".tmp-"
#define FILE_SUFFIX ".fota"

struct fota_srv_upload {
	struct fota_srv *srv;
	int fd;                          /* the temporary file, -1 once closed */
	char tmp[PATH_MAX];              /* its path; "" once renamed or removed */
	char final[PATH_MAX];
	char name[FOTA_IMAGE_NAME_SIZE];
	char version[FOTA_IMAGE_VERSION_SIZE];
	struct fota_posix_sha256 vsha;   /* the verifier's hash port */
	struct fota_image_verifier v;
	struct fota_srv_keyring keys;    /* the project's keys: a signature is required */
	mbedtls_sha256_context file_sha; /* of the whole file */
	uint64_t received;               /* body bytes */
	uint64_t extra;                  /* body bytes after the image's end */
	int vres;                        /* the verifier's result so far */
	int werr;                        /* errno of a failed write, 0 */
	bool over;                       /* more than --max-firmware came */
};

int fota_srv_file_path(const struct fota_srv *srv, const char *sha256, char *out, size_t cap)
{
	int n;

	if (strlen(sha256) != FOTA_STORE_SHA_HEX ||
	    strspn(sha256, "0123456789abcdef") != FOTA_STORE_SHA_HEX)
		return FOTA_ERR_INVAL; /* never a path from anything but a hash */
	n = snprintf(out, cap, "%s/%s" FILE_SUFFIX, srv->fw_dir, sha256);
	return n < 0 || (size_t)n >= cap ? FOTA_ERR_TOOLONG : FOTA_OK;
}

int fota_srv_file_unused(void *ctx, const char *sha256)
{
	struct fota_srv *srv = ctx;
	char path[PATH_MAX];

	if (fota_srv_file_path(srv, sha256, path, sizeof(path)) == FOTA_OK &&
	    unlink(path) < 0 && errno != ENOENT)
		fota_srv_log("%s: %s", path, strerror(errno));
	return 0;
}

/* True for "<64 lowercase hex>.fota". */
static bool is_image_name(const char *n)
{
	return strlen(n) == FOTA_STORE_SHA_HEX + strlen(FILE_SUFFIX) &&
	       strspn(n, "0123456789abcdef") == FOTA_STORE_SHA_HEX &&
	       !strcmp(n + FOTA_STORE_SHA_HEX, FILE_SUFFIX);
}

int fota_srv_files_init(struct fota_srv *srv, struct fota_store *s)
{
	DIR *d;
	struct dirent *e;
	int err = FOTA_OK;

	if (mkdir(srv->fw_dir, 0755) < 0 && errno != EEXIST) {
		fota_srv_log("%s: %s", srv->fw_dir, strerror(errno));
		return FOTA_ERR_IO;
	}
	d = opendir(srv->fw_dir);
	if (!d) {
		fota_srv_log("%s: %s", srv->fw_dir, strerror(errno));
		return FOTA_ERR_IO;
	}
	while ((e = readdir(d)) != NULL) {
		bool used = true, tmp = !strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX));

		if (tmp) {
			used = false; /* an upload a crash or a stop cut short */
		} else if (is_image_name(e->d_name)) {
			char sha[FOTA_STORE_SHA_HEX + 1];

			memcpy(sha, e->d_name, FOTA_STORE_SHA_HEX);
			sha[FOTA_STORE_SHA_HEX] = '\0';
			err = s->ops->sha_used(s, sha, &used);
			if (err)
				break;
		}
		if (used)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0)
			fota_srv_log("%s/%s: %s", srv->fw_dir, e->d_name, strerror(errno));
		else
			fota_srv_log("removed %s/%s (%s)", srv->fw_dir, e->d_name,
				     tmp ? "an unfinished upload" : "no firmware names it");
	}
	closedir(d);
	return err;
}

int fota_srv_upload_begin(struct fota_srv *srv, const char *name, const char *version,
			  struct fota_srv_upload **out)
{
	struct fota_srv_upload *up = calloc(1, sizeof(*up));
	uint64_t max = srv->max_firmware < UINT32_MAX ? srv->max_firmware : UINT32_MAX;

	*out = NULL;
	if (!up)
		return FOTA_ERR_NOMEM;
	up->srv = srv;
	snprintf(up->name, sizeof(up->name), "%s", name);
	snprintf(up->version, sizeof(up->version), "%s", version);
	snprintf(up->tmp, sizeof(up->tmp), "%s/" TMP_PREFIX "XXXXXX", srv->fw_dir);
	up->fd = mkostemp(up->tmp, O_CLOEXEC);
	if (up->fd < 0) {
		fota_srv_log("%s: %s", up->tmp, strerror(errno));
		free(up);
		return FOTA_ERR_IO;
	}
	fchmod(up->fd, 0644); /* readable like any published file; mkostemp made it 0600 */
	fota_posix_sha256_init(&up->vsha);
	fota_image_verifier_init(&up->v, &up->vsha.port, (uint32_t)max);
	fota_srv_keyring_init(&up->keys);
	mbedtls_sha256_init(&up->file_sha);
	mbedtls_sha256_starts_ret(&up->file_sha, 0);
	up->vres = FOTA_ERR_AGAIN;
	*out = up;
	return FOTA_OK;
}

int fota_srv_upload_add_key(struct fota_srv_upload *up, const struct fota_project_key *k)
{
	int err = fota_srv_keyring_add(&up->keys, k);

	if (!err && up->keys.n == 1)
		fota_image_verifier_require_sig(&up->v, &up->keys.port);
	return err;
}

const char *fota_srv_upload_signer(const struct fota_srv_upload *up)
{
	if (!up->keys.n || up->keys.matched < 0 || up->vres != FOTA_OK)
		return NULL;
	return up->keys.sha256[up->keys.matched];
}

static void write_all(struct fota_srv_upload *up, const char *data, size_t len)
{
	while (len && !up->werr) {
		ssize_t n = write(up->fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			up->werr = n < 0 ? errno : EIO;
			return;
		}
		data += n;
		len -= (size_t)n;
	}
}

void fota_srv_upload_feed(struct fota_srv_upload *up, const char *data, size_t len)
{
	size_t used = 0;

	up->received += len;
	if (up->received > up->srv->max_firmware)
		up->over = true;
	if (up->over || up->werr || (up->vres != FOTA_ERR_AGAIN && up->vres != FOTA_OK))
		return; /* already refused: the rest is dropped */
	if (up->vres == FOTA_OK) {
		up->extra += len;
		return;
	}
	up->vres = fota_image_verifier_feed(&up->v, data, len, &used);
	if (up->vres != FOTA_ERR_AGAIN && up->vres != FOTA_OK)
		return;
	up->extra += len - used;
	write_all(up, data, used);
	mbedtls_sha256_update_ret(&up->file_sha, (const unsigned char *)data, used);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int fail(unsigned *status, unsigned code, char *msg, size_t cap, int err,
		const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail(unsigned *status, unsigned code, char *msg, size_t cap, int err,
		const char *fmt, ...)
{
	va_list ap;

	*status = code;
	va_start(ap, fmt);
	vsnprintf(msg, cap, fmt, ap);
	va_end(ap);
	return err;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int fota_srv_upload_finish(struct fota_srv_upload *up, struct fota_firmware *fw,
			   unsigned *status, char *msg, size_t cap)
{
	const struct fota_image_info *info = fota_image_verifier_info(&up->v);
	uint8_t digest[32];
	char sha[FOTA_STORE_SHA_HEX + 1];
	int fault = fota_image_verifier_fault(&up->v);

	if (up->over || fault == FOTA_IMAGE_FAULT_TOO_BIG)
		return fail(status, 413, msg, cap, FOTA_ERR_FBIG,
			    "the image is larger than --max-firmware (%" PRIu64 " bytes)",
			    up->srv->max_firmware);
	if (up->werr)
		return fail(status, up->werr == ENOSPC || up->werr == EDQUOT ? 507 : 500, msg, cap,
			    up->werr == ENOSPC ? FOTA_ERR_NOSPC : FOTA_ERR_IO,
			    "the image could not be stored: %s", strerror(up->werr));
	if (up->received == 0)
		return fail(status, 400, msg, cap, FOTA_ERR_INVAL,
			    "the body is empty: send the image file (fota pack)");
	if (up->vres == FOTA_ERR_AGAIN) {
		if (info)
			return fail(status, 400, msg, cap, FOTA_ERR_INVAL,
				    "the body ends before the image does (%" PRIu64 " of %u bytes)",
				    up->received, (unsigned)info->total_size);
		return fail(status, 400, msg, cap, FOTA_ERR_INVAL,
			    "the body ends inside the image header (%" PRIu64 " bytes)",
			    up->received);
	}
	if (fault == FOTA_IMAGE_FAULT_SIG_MISSING)
		return fail(status, 400, msg, cap, FOTA_ERR_INVAL,
			    "the image is not signed: this project takes only images signed with "
			    "one of its %zu key(s) (fota pack --key)", up->keys.n);
	if (fault == FOTA_IMAGE_FAULT_SIG_BAD)
		return fail(status, 400, msg, cap, FOTA_ERR_INVAL,
			    "the signature does not match any key of the project (%zu key(s))",
			    up->keys.n);
	if (fault == FOTA_IMAGE_FAULT_PORT)
		return fail(status, 500, msg, cap, FOTA_ERR_IO,
			    "the image could not be verified (the crypto engine failed)");
	if (up->vres != FOTA_OK)
		return fail(status, 400, msg, cap, FOTA_ERR_INVAL, "not a valid firmware image: %s",
			    fota_image_fault_str(fault));
	if (up->extra)
		return fail(status, 400, msg, cap, FOTA_ERR_INVAL,
			    "%" PRIu64 " bytes follow the end of the image", up->extra);
	if (strcmp(info->name, up->name))
		return fail(status, 400, msg, cap, FOTA_ERR_INVAL,
			    "the image's name is '%s', not '%s' as name= says", info->name, up->name);
	if (strcmp(info->version, up->version))
		return fail(status, 400, msg, cap, FOTA_ERR_INVAL,
			    "the image's version is '%s', not '%s' as version= says", info->version,
			    up->version);

	if (mbedtls_sha256_finish_ret(&up->file_sha, digest) != 0)
		return fail(status, 500, msg, cap, FOTA_ERR_IO, "hashing failed");
	hex(digest, sizeof(digest), sha);
	if (fota_srv_file_path(up->srv, sha, up->final, sizeof(up->final)))
		return fail(status, 500, msg, cap, FOTA_ERR_IO, "path too long");
	if (fsync(up->fd) < 0 || close(up->fd) < 0) {
		int e = errno;

		up->fd = -1;
		fota_srv_log("%s: %s", up->tmp, strerror(e));
		return fail(status, e == ENOSPC ? 507 : 500, msg, cap, FOTA_ERR_IO,
			    "the image could not be stored: %s", strerror(e));
	}
	up->fd = -1;
	if (rename(up->tmp, up->final) < 0) {
		fota_srv_log("%s -> %s: %s", up->tmp, up->final, strerror(errno));
		return fail(status, 500, msg, cap, FOTA_ERR_IO, "the image could not be stored");
	}
	up->tmp[0] = '\0';
	if (sync_dir(up->srv->fw_dir) < 0)
		fota_srv_log("%s: fsync: %s", up->srv->fw_dir, strerror(errno));

	memset(fw, 0, sizeof(*fw));
	snprintf(fw->name, sizeof(fw->name), "%s", info->name);
	snprintf(fw->version, sizeof(fw->version), "%s", info->version);
	fw->size = (int64_t)up->received;
	memcpy(fw->sha256, sha, sizeof(fw->sha256));
	*status = 201;
	return FOTA_OK;
}

void fota_srv_upload_free(struct fota_srv_upload *up)
{
	if (!up)
		return;
	if (up->fd >= 0)
		close(up->fd);
	if (up->tmp[0] && unlink(up->tmp) < 0 && errno != ENOENT)
		fota_srv_log("%s: %s", up->tmp, strerror(errno));
	fota_posix_sha256_free(&up->vsha);
	fota_srv_keyring_free(&up->keys);
	mbedtls_sha256_free(&up->file_sha);
	free(up);
}
