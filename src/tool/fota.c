/*
 * fota.c - the host tool: make and inspect firmware images.
 *
 *   fota pack --name NAME --version VERSION [--crash-on-boot] [--counter N] [-o OUT] PAYLOAD
 *   fota info IMAGE
 *
 * Exit status: 0 success (info: the image is valid), 1 failure (info: the image is not
 * valid, or a file could not be read or written), 2 usage error. Errors are one line on
 * stderr. The image format is docs/image-format.md; the core's image.c writes and checks it.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fota/image.h"
#include "fota/posix_crypto.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char *prog = "fota"; /* "fota pack" or "fota info" once a command is known */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage_main(FILE *f)
{
	fprintf(f,
		"usage: fota COMMAND [OPTIONS]\n"
		"\n"
		"Make and inspect openfota firmware images (docs/image-format.md).\n"
		"\n"
		"commands:\n"
		"  pack   make an image from a firmware payload\n"
		"  info   print an image's fields and check its hash\n"
		"\n"
		"`fota COMMAND --help` tells more. Exit status: 0 success, 1 failure\n"
		"(info: the image is not valid), 2 usage error.\n");
}

static void usage_pack(FILE *f)
{
	fprintf(f,
		"usage: fota pack --name NAME --version VERSION [--crash-on-boot] [--counter N]\n"
		"                 [-o OUT] PAYLOAD\n"
		"\n"
		"Makes a firmware image: header, the bytes of PAYLOAD, and a trailer with the\n"
		"SHA-256 of header and payload. The image goes to OUT, by default PAYLOAD.fota;\n"
		"it is written to a temporary file beside OUT and renamed, so OUT is either\n"
		"the whole new image or left as it was.\n"
		"\n"
		"  -n, --name NAME        firmware name (family), e.g. AirM2M_780E_LTE_AT:\n"
		"                         1-31 printable ASCII characters, no space, quote or\n"
		"                         backslash\n"
		"  -v, --version VERSION  version, e.g. AirM2M_780E_V1121_LTE_AT or 1.2.3:\n"
		"                         1-47 characters, the same rule\n"
		"      --crash-on-boot    set flag bit 0: the emulated module's firmware crashes\n"
		"                         before it confirms itself (emulator-only test aid)\n"
		"  -c, --counter N        security counter, decimal 0-4294967295 (default 0)\n"
		"  -o, --output OUT       the image file to write\n"
		"  -h, --help             this text\n");
}

static void usage_info(FILE *f)
{
	fprintf(f,
		"usage: fota info IMAGE\n"
		"\n"
		"Prints every field of the image's header, its trailer's TLVs, and whether the\n"
		"header CRC and the SHA-256 hold. Exit status 0 if the image is valid, 1 if not\n"
		"(or it cannot be read), 2 for a usage error.\n"
		"\n"
		"  -h, --help   this text\n");
}

/* Reads the whole file at path into a malloc'd buffer (*out, owned by the caller then).
 * Returns 0, or -1 after printing why. */
static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
	FILE *f;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int ret = -1;

	f = fopen(path, "rb");
	if (!f) {
		fail("%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *nbuf;

			if (cap > SIZE_MAX / 2) {
				fail("%s: larger than 4 GiB", path);
				goto out_free;
			}
			nbuf = realloc(buf, ncap);
			if (!nbuf) {
				fail("%s: out of memory", path);
				goto out_free;
			}
			buf = nbuf;
			cap = ncap;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fail("%s: read error", path);
		goto out_free;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
	ret = 0;
out_free:
	free(buf);
	fclose(f);
	return ret;
}

/* Writes the parts to path through a temporary file in the same directory, synced and
 * renamed over path: a reader sees the old file or the whole new one, never a part.
 * Returns 0, or -1 after printing why (the temporary file is removed). */
static int write_file_atomic(const char *path, const uint8_t *const *parts, const size_t *sizes,
			     int nparts)
{
	char *tmp;
	size_t plen = strlen(path);
	mode_t mask;
	int fd = -1, ret = -1;

	tmp = malloc(plen + sizeof(".tmp.XXXXXX"));
	if (!tmp) {
		fail("%s: out of memory", path);
		return -1;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp.XXXXXX", sizeof(".tmp.XXXXXX"));
	fd = mkstemp(tmp);
	if (fd < 0) {
		fail("%s: cannot create a temporary file: %s", path, strerror(errno));
		goto out_free;
	}
	/* mkstemp makes the file 0600; give it the mode a plain create would. */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0)
		goto out_errno;
	for (int i = 0; i < nparts; i++) {
		const uint8_t *p = parts[i];
		size_t left = sizes[i];

		while (left) {
			ssize_t n = write(fd, p, left);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				goto out_errno;
			p += n;
			left -= (size_t)n;
		}
	}
	if (fsync(fd) != 0)
		goto out_errno;
	if (close(fd) != 0) {
		fd = -1;
		goto out_errno;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out_errno;
	ret = 0;
	goto out_free;

out_errno:
	fail("%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out_free:
	free(tmp);
	return ret;
}

/* Parses a decimal uint32 (no sign, no spaces). Returns 0, or -1 if s is not one. */
static int parse_u32(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Reports a getopt failure (opterr is 0, the optstring starts with ':'). */
static void bad_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		fail("option '%s' needs a value (see %s --help)", arg, prog);
	else if (optopt && strncmp(arg, "--", 2) != 0)
		fail("unknown option '-%c' (see %s --help)", optopt, prog);
	else
		fail("unknown option '%s' (see %s --help)", arg, prog);
}

static int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "version", required_argument, NULL, 'v' },
		{ "crash-on-boot", no_argument, NULL, 'C' },
		{ "counter", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fota_image_info info;
	uint8_t hdr[FOTA_IMAGE_HDR_SIZE], trailer[FOTA_IMAGE_TRAILER_SHA256];
	const char *name = NULL, *version = NULL, *out = NULL, *payload_path;
	char *out_alloc = NULL;
	uint8_t *payload = NULL;
	size_t payload_len = 0;
	int c, err, ret = EXIT_USAGE;

	memset(&info, 0, sizeof(info));
	prog = "fota pack";
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:v:c:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'v':
			version = optarg;
			break;
		case 'C':
			info.flags |= FOTA_IMAGE_F_CRASH_ON_BOOT;
			break;
		case 'c':
			if (parse_u32(optarg, &info.security_counter)) {
				fail("bad --counter '%s': a decimal number 0-4294967295", optarg);
				goto out;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			usage_pack(stdout);
			ret = EXIT_OK;
			goto out;
		default:
			bad_option(c, argv);
			goto out;
		}
	}
	if (!name || !version) {
		fail("--name and --version are required (see fota pack --help)");
		goto out;
	}
	if (optind != argc - 1) {
		fail(optind == argc ? "no PAYLOAD file given (see fota pack --help)" :
				      "one PAYLOAD file only (see fota pack --help)");
		goto out;
	}
	payload_path = argv[optind];
	err = fota_image_check_text(name, FOTA_IMAGE_NAME_SIZE);
	if (err) {
		fail("bad --name '%s': %s", name, err == FOTA_ERR_TOOLONG ?
		     "longer than 31 characters" :
		     "must be printable ASCII without space, quote or backslash");
		goto out;
	}
	err = fota_image_check_text(version, FOTA_IMAGE_VERSION_SIZE);
	if (err) {
		fail("bad --version '%s': %s", version, err == FOTA_ERR_TOOLONG ?
		     "longer than 47 characters" :
		     "must be printable ASCII without space, quote or backslash");
		goto out;
	}
	if (!out) {
		size_t n = strlen(payload_path);

		out_alloc = malloc(n + sizeof(".fota"));
		if (!out_alloc) {
			fail("out of memory");
			ret = EXIT_FAIL;
			goto out;
		}
		memcpy(out_alloc, payload_path, n);
		memcpy(out_alloc + n, ".fota", sizeof(".fota"));
		out = out_alloc;
	}

	/* From here on, failures are not usage errors. */
	ret = EXIT_FAIL;
	if (read_file(payload_path, &payload, &payload_len))
		goto out;
	if (payload_len == 0) {
		fail("%s: the payload is empty", payload_path);
		goto out;
	}
	strcpy(info.name, name);
	strcpy(info.version, version);
	err = fota_posix_image_frame(&info, payload, payload_len, hdr, trailer);
	if (err) {
		fail(err == FOTA_ERR_FBIG ? "%s: the payload is too large for a 32-bit image" :
		     "%s: cannot make the image: %s", payload_path, fota_strerror(err));
		goto out;
	}

	{
		const uint8_t *parts[3] = { hdr, payload, trailer };
		size_t sizes[3] = { sizeof(hdr), payload_len, sizeof(trailer) };

		if (write_file_atomic(out, parts, sizes, 3))
			goto out;
	}
	printf("%s: %s %s, %zu bytes (payload %zu)\n", out, name, version,
	       sizeof(hdr) + payload_len + sizeof(trailer), payload_len);
	ret = EXIT_OK;
out:
	free(payload);
	free(out_alloc);
	return ret;
}

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* Prints a NUL-padded text field, escaping anything not printable. */
static void print_field(const char *label, const uint8_t *p, size_t n)
{
	printf("%-18s\"", label);
	for (size_t i = 0; i < n && p[i]; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '"' && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	printf("\"\n");
}

static const char *tlv_name(uint16_t type)
{
	switch (type) {
	case FOTA_TLV_PAD: return "padding";
	case FOTA_TLV_SHA256: return "sha256";
	case FOTA_TLV_SIGNATURE: return "signature (reserved)";
	default: return "unknown, skipped";
	}
}

/* Prints the header fields as they stand in the bytes, valid or not. */
static void print_header(const uint8_t *b, size_t len)
{
	uint16_t hsize = fota_get_le16(b + FOTA_IMAGE_OFF_HDR_SIZE);
	uint32_t flags = fota_get_le32(b + FOTA_IMAGE_OFF_FLAGS);
	uint32_t magic = fota_get_le32(b + FOTA_IMAGE_OFF_MAGIC);

	printf("%-18s0x%08" PRIx32 " (%s)\n", "magic:", magic,
	       magic == FOTA_IMAGE_MAGIC ? "FOTA" : "not an image");
	if (magic != FOTA_IMAGE_MAGIC)
		return; /* the rest would be noise */
	printf("%-18s%u\n", "format version:", (unsigned)fota_get_le16(b + FOTA_IMAGE_OFF_FORMAT));
	printf("%-18s%u\n", "header size:", (unsigned)hsize);
	printf("%-18s0x%08" PRIx32 "%s%s\n", "flags:", flags,
	       flags & FOTA_IMAGE_F_CRASH_ON_BOOT ? " crash-on-boot" : "",
	       flags & ~FOTA_IMAGE_F_KNOWN ? " +unknown" : "");
	print_field("name:", b + FOTA_IMAGE_OFF_NAME, FOTA_IMAGE_NAME_SIZE);
	print_field("version:", b + FOTA_IMAGE_OFF_VERSION, FOTA_IMAGE_VERSION_SIZE);
	printf("%-18s%" PRIu32 "\n", "security counter:", fota_get_le32(b + FOTA_IMAGE_OFF_COUNTER));
	printf("%-18s%" PRIu32 "\n", "payload size:", fota_get_le32(b + FOTA_IMAGE_OFF_PAYLOAD));
	printf("%-18s%" PRIu32 "\n", "trailer size:", fota_get_le32(b + FOTA_IMAGE_OFF_TRAILER));
	if (hsize >= FOTA_IMAGE_HDR_SIZE && hsize <= len) {
		uint32_t stored = fota_get_le32(b + hsize - 4);
		uint32_t crc = fota_crc32(0, b, hsize - 4u);

		printf("%-18s0x%08" PRIx32 " (%s)\n", "header crc:", stored,
		       stored == crc ? "ok" : "MISMATCH");
	}
}

/* Lists the trailer's TLVs and finds the hash TLV's value (*hash, NULL if none). */
static void print_trailer(const uint8_t *t, uint32_t size, const uint8_t **hash)
{
	uint32_t off = 0;

	*hash = NULL;
	while (off < size) {
		uint16_t type, len;

		if (size - off < FOTA_IMAGE_TLV_HDR) {
			printf("%-18s%" PRIu32 " stray bytes at trailer offset %" PRIu32 "\n",
			       "tlv:", size - off, off);
			return;
		}
		type = fota_get_le16(t + off);
		len = fota_get_le16(t + off + 2);
		printf("%-18s0x%04x %s, %u bytes\n", "tlv:", (unsigned)type, tlv_name(type),
		       (unsigned)len);
		off += FOTA_IMAGE_TLV_HDR;
		if (len > size - off) {
			printf("%-18sthe TLV runs %" PRIu32 " bytes past the trailer's end\n",
			       "", len - (size - off));
			return;
		}
		if (type == FOTA_TLV_SHA256 && len == FOTA_SHA256_SIZE && !*hash)
			*hash = t + off;
		off += len;
	}
}

static int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fota_posix_sha256 sha;
	struct fota_image_verifier v;
	const struct fota_image_info *info;
	const char *path;
	uint8_t *img = NULL;
	size_t len = 0, used = 0;
	int c, err, ret = EXIT_USAGE;

	fota_posix_sha256_init(&sha);
	prog = "fota info";
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_info(stdout);
			ret = EXIT_OK;
			goto out;
		default:
			bad_option(c, argv);
			goto out;
		}
	}
	if (optind != argc - 1) {
		fail(optind == argc ? "no IMAGE file given (see fota info --help)" :
				      "one IMAGE file only (see fota info --help)");
		goto out;
	}
	path = argv[optind];

	ret = EXIT_FAIL;
	if (read_file(path, &img, &len))
		goto out;
	printf("%-18s%s\n", "image:", path);
	printf("%-18s%zu bytes\n", "file size:", len);
	if (len < FOTA_IMAGE_HDR_SIZE) {
		printf("%-18sno (shorter than a header)\n", "valid:");
		goto out;
	}
	print_header(img, len);

	fota_image_verifier_init(&v, &sha.port, UINT32_MAX);
	err = fota_image_verifier_feed(&v, img, len, &used);
	info = fota_image_verifier_info(&v);
	if (info) {
		const uint8_t *hash = NULL;
		uint8_t digest[FOTA_SHA256_SIZE];
		size_t covered = (size_t)info->header_size + info->payload_size;

		printf("%-18s%" PRIu32 "\n", "total size:", info->total_size);
		if (len >= info->total_size)
			print_trailer(img + covered, info->trailer_size, &hash);
		if (hash) {
			printf("%-18s", "sha256:");
			print_hex(hash, FOTA_SHA256_SIZE);
			printf("\n");
		}
		if (len >= covered && fota_posix_sha256(img, covered, digest) == FOTA_OK) {
			bool ok = hash && memcmp(hash, digest, FOTA_SHA256_SIZE) == 0;

			printf("%-18s", "computed sha256:");
			print_hex(digest, FOTA_SHA256_SIZE);
			printf("\n%-18s%s\n", "hash:", ok ? "ok" : hash ? "MISMATCH" : "MISSING");
		}
	}

	if (err == FOTA_ERR_AGAIN && !info) {
		printf("%-18sno (file truncated inside the header)\n", "valid:");
	} else if (err == FOTA_ERR_AGAIN) {
		printf("%-18sno (file truncated: %zu of %" PRIu32 " bytes)\n", "valid:", len,
		       info->total_size);
	} else if (err) {
		printf("%-18sno (%s, %s)\n", "valid:",
		       fota_image_fault_str(fota_image_verifier_fault(&v)), fota_strerror(err));
	} else if (used != len) {
		printf("%-18sno (%zu stray bytes after the image's end)\n", "valid:", len - used);
	} else {
		printf("%-18syes\n", "valid:");
		ret = EXIT_OK;
	}
out:
	fota_posix_sha256_free(&sha);
	free(img);
	return ret;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage_main(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage_main(stdout);
		return EXIT_OK;
	}
	/* The command's own options start after its name. */
	if (!strcmp(cmd, "pack"))
		return cmd_pack(argc - 1, argv + 1);
	if (!strcmp(cmd, "info"))
		return cmd_info(argc - 1, argv + 1);
	fail("unknown command '%s' (see fota --help)", cmd);
	return EXIT_USAGE;
}
