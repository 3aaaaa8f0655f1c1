/*
 * fota.c - the host tool: make, sign and inspect firmware images; make signing keys.
 *
 *   fota pack --name NAME --version VERSION [--crash-on-boot] [--counter N] [--key KEY]
 *             [-o OUT] PAYLOAD
 *   fota sign --key KEY [-o OUT] IMAGE
 *   fota info [--pub PUB] IMAGE
 *   fota keygen [-o PREFIX] [--force]
 *
 * Exit status: 0 success (info: the image is valid), 1 failure (info: the image is not
 * valid, or a file could not be read or written), 2 usage error. Errors are one line on
 * stderr. The image format is docs/image-format.md; the core's image.c writes and checks it;
 * docs/fota-tool.md is the reference of the commands.
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

#include <mbedtls/platform_util.h>

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
		"  pack     make an image from a firmware payload (signed with --key)\n"
		"  sign     sign an image, or replace its signature\n"
		"  info     print an image's fields, check its hash (and with --pub its\n"
		"           signature)\n"
		"  keygen   make an ECDSA P-256 key pair for signing images\n"
		"\n"
		"`fota COMMAND --help` tells more. Exit status: 0 success, 1 failure\n"
		"(info: the image is not valid), 2 usage error.\n");
}

static void usage_pack(FILE *f)
{
	fprintf(f,
		"usage: fota pack --name NAME --version VERSION [--crash-on-boot] [--counter N]\n"
		"                 [--key KEY] [-o OUT] PAYLOAD\n"
		"\n"
		"Makes a firmware image: header, the bytes of PAYLOAD, and a trailer with the\n"
		"SHA-256 of header and payload, and with --key its ECDSA P-256 signature.\n"
		"The image goes to OUT, by default PAYLOAD.fota;\n"
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
		"  -k, --key KEY          sign the image with the private key in the PEM file\n"
		"                         KEY (ECDSA P-256: fota keygen, or openssl ecparam\n"
		"                         -genkey -name prime256v1)\n"
		"  -o, --output OUT       the image file to write\n"
		"  -h, --help             this text\n");
}

static void usage_info(FILE *f)
{
	fprintf(f,
		"usage: fota info [--pub PUB] IMAGE\n"
		"\n"
		"Prints every field of the image's header, its trailer's TLVs, whether the\n"
		"header CRC and the SHA-256 hold, and whether the image is signed. With --pub\n"
		"the image must carry a signature that holds for that key. Exit status 0 if\n"
		"the image is valid, 1 if not (or a file cannot be read), 2 for a usage error.\n"
		"\n"
		"  -p, --pub PUB   check the signature with the public key in the PEM file PUB\n"
		"                  (a private key's PEM serves too: its public half is used)\n"
		"  -h, --help      this text\n");
}

static void usage_sign(FILE *f)
{
	fprintf(f,
		"usage: fota sign --key KEY [-o OUT] IMAGE\n"
		"\n"
		"Signs an existing image with the ECDSA P-256 private key in the PEM file KEY.\n"
		"The image must be valid (its hash is checked first); a signature it has is\n"
		"replaced. The trailer becomes the hash TLV and the signature TLV; since the\n"
		"header records the trailer's size, the header and the hash are made anew.\n"
		"The signed image goes to OUT, or replaces IMAGE; either way through a\n"
		"temporary file that is renamed, never a half-written file.\n"
		"\n"
		"  -k, --key KEY      the private key (PEM: fota keygen's PREFIX.pem)\n"
		"  -o, --output OUT   write the signed image to OUT instead of replacing IMAGE\n"
		"  -h, --help         this text\n");
}

static void usage_keygen(FILE *f)
{
	fprintf(f,
		"usage: fota keygen [-o PREFIX] [--force]\n"
		"\n"
		"Makes a new ECDSA P-256 key pair from the system's entropy: the private key\n"
		"goes to PREFIX.pem (mode 0600; fota pack/sign --key), the public key to\n"
		"PREFIX.pub.pem (fota info --pub, and what the modules are given). Existing\n"
		"files are not replaced without --force.\n"
		"\n"
		"  -o, --output PREFIX   where the keys go (default fota-key)\n"
		"  -f, --force           replace existing key files\n"
		"  -h, --help            this text\n");
}

/* Reads the whole file at path into a malloc'd buffer (*out, owned by the caller then), a
 * NUL byte after its *out_len bytes. Returns 0, or -1 after printing why. */
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
	{
		struct stat st;

		if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
			fail("%s: is a directory, not a file", path);
			goto out_free;
		}
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
		fail("%s: read error: %s", path, strerror(errno));
		goto out_free;
	}
	buf[len] = 0; /* the loop ends with room left: text files (keys) become strings */
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
 * mode: the new file's permission bits, or -1 for what a plain create gives (0666 less the
 * umask). exclusive: never replace an existing path (the file is linked in, not renamed
 * over; an existing path is EEXIST). Returns 0, or -1 after printing why (the temporary
 * file is removed). */
static int write_file_atomic(const char *path, const uint8_t *const *parts, const size_t *sizes,
			     int nparts, int mode, bool exclusive)
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
	/* mkstemp makes the file 0600; give it the mode asked, or a plain create's. */
	if (mode < 0) {
		mask = umask(0);
		umask(mask);
		mode = (int)(0666 & ~mask);
	}
	if (fchmod(fd, (mode_t)mode) != 0)
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
	if (exclusive) {
		if (link(tmp, path) != 0) {
			if (errno == EEXIST) {
				fail("%s exists; --force replaces it", path);
				unlink(tmp);
				goto out_free;
			}
			goto out_errno;
		}
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		goto out_errno;
	}
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

/* Says what is wrong with the key file path (its text pem) after the enum fota_err err of
 * fota_posix_sign or fota_posix_sig_init_pem. want_private: the command needs the private
 * key. */
static void key_error(const char *path, const char *pem, int err, bool want_private)
{
	if (err == FOTA_ERR_NOTSUP)
		fail("%s: not an ECDSA P-256 (prime256v1) key", path);
	else if (err == FOTA_ERR_BADMSG && want_private && pem && strstr(pem, "PUBLIC KEY") &&
		 !strstr(pem, "PRIVATE KEY"))
		fail("%s: a public key; --key takes the private key (fota keygen's PREFIX.pem)",
		     path);
	else if (err == FOTA_ERR_BADMSG && want_private)
		fail("%s: no usable private key (want an unencrypted PEM \"EC PRIVATE KEY\" or "
		     "\"PRIVATE KEY\" whose public half matches)", path);
	else if (err == FOTA_ERR_BADMSG)
		fail("%s: no public key (want a PEM \"PUBLIC KEY\", e.g. fota keygen's "
		     "PREFIX.pub.pem)", path);
	else if (err == FOTA_ERR_NOENT || err == FOTA_ERR_IO)
		fail("%s: %s", path, errno == EISDIR ? "is a directory, not a file" :
		     strerror(errno));
	else
		fail("%s: the key cannot be used: %s", path, fota_strerror(err));
}

/* Reads the private key file path into *pem (malloc'd, NUL-terminated; the caller frees it)
 * and checks that it signs. Returns 0, or -1 after printing why. */
static int load_private_key(const char *path, char **pem, size_t *len)
{
	uint8_t *buf = NULL, zero[FOTA_SHA256_SIZE] = { 0 }, sig[FOTA_SIG_SIZE];
	int err;

	if (read_file(path, &buf, len))
		return -1;
	err = fota_posix_sign((const char *)buf, *len, zero, sig);
	if (err) {
		key_error(path, (const char *)buf, err, true);
		free(buf);
		return -1;
	}
	*pem = (char *)buf;
	return 0;
}

/* Makes the trailer of a signed image: hashes hdr (hsize bytes, whose trailer size is
 * already FOTA_IMAGE_TRAILER_SIGNED and whose CRC is right) and payload (plen bytes),
 * signs the hash with the private key pem (pem_len bytes, from key_path) and writes the
 * hash TLV then the signature TLV to trailer. Returns 0, or -1 after printing why. */
static int make_signed_trailer(const uint8_t *hdr, size_t hsize, const uint8_t *payload,
			       size_t plen, const char *pem, size_t pem_len, const char *key_path,
			       uint8_t trailer[FOTA_IMAGE_TRAILER_SIGNED])
{
	struct fota_posix_sha256 sha;
	uint8_t digest[FOTA_SHA256_SIZE], sig[FOTA_SIG_SIZE];
	int err, n;

	fota_posix_sha256_init(&sha);
	err = sha.port.start(sha.port.ctx);
	if (!err)
		err = sha.port.update(sha.port.ctx, hdr, hsize);
	if (!err)
		err = sha.port.update(sha.port.ctx, payload, plen);
	if (!err)
		err = sha.port.finish(sha.port.ctx, digest);
	fota_posix_sha256_free(&sha);
	if (err) {
		fail("hashing the image failed: %s", fota_strerror(err));
		return -1;
	}
	err = fota_posix_sign(pem, pem_len, digest, sig);
	if (err) {
		key_error(key_path, pem, err, true);
		return -1;
	}
	n = fota_image_put_tlv(trailer, FOTA_IMAGE_TRAILER_SIGNED, FOTA_TLV_SHA256, digest,
			       FOTA_SHA256_SIZE);
	fota_image_put_tlv(trailer + n, FOTA_IMAGE_TRAILER_SIGNED - (size_t)n, FOTA_TLV_SIGNATURE,
			   sig, FOTA_SIG_SIZE);
	return 0;
}

static int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "version", required_argument, NULL, 'v' },
		{ "crash-on-boot", no_argument, NULL, 'C' },
		{ "counter", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fota_image_info info;
	uint8_t hdr[FOTA_IMAGE_HDR_SIZE], trailer[FOTA_IMAGE_TRAILER_SIGNED];
	size_t trailer_len;
	const char *name = NULL, *version = NULL, *out = NULL, *payload_path, *key = NULL;
	char *out_alloc = NULL, *pem = NULL;
	uint8_t *payload = NULL;
	size_t payload_len = 0, pem_len = 0;
	int c, err, ret = EXIT_USAGE;

	memset(&info, 0, sizeof(info));
	prog = "fota pack";
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:v:c:k:o:h", opts, NULL)) != -1) {
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
		case 'k':
			key = optarg;
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
	if (key && load_private_key(key, &pem, &pem_len))
		goto out;
	if (read_file(payload_path, &payload, &payload_len))
		goto out;
	if (payload_len == 0) {
		fail("%s: the payload is empty", payload_path);
		goto out;
	}
	strcpy(info.name, name);
	strcpy(info.version, version);
	if (!key) {
		err = fota_posix_image_frame(&info, payload, payload_len, hdr, trailer);
		trailer_len = FOTA_IMAGE_TRAILER_SHA256;
	} else if (payload_len > UINT32_MAX - FOTA_IMAGE_HDR_SIZE - FOTA_IMAGE_TRAILER_SIGNED) {
		err = FOTA_ERR_FBIG;
	} else {
		info.payload_size = (uint32_t)payload_len;
		info.trailer_size = FOTA_IMAGE_TRAILER_SIGNED;
		err = fota_image_write_header(hdr, sizeof(hdr), &info);
		trailer_len = FOTA_IMAGE_TRAILER_SIGNED;
	}
	if (err) {
		fail(err == FOTA_ERR_FBIG ? "%s: the payload is too large for a 32-bit image" :
		     "%s: cannot make the image: %s", payload_path, fota_strerror(err));
		goto out;
	}
	if (key && make_signed_trailer(hdr, sizeof(hdr), payload, payload_len, pem, pem_len, key,
				       trailer))
		goto out;

	{
		const uint8_t *parts[3] = { hdr, payload, trailer };
		size_t sizes[3] = { sizeof(hdr), payload_len, trailer_len };

		if (write_file_atomic(out, parts, sizes, 3, -1, false))
			goto out;
	}
	printf("%s: %s %s, %zu bytes (payload %zu)%s%s\n", out, name, version,
	       sizeof(hdr) + payload_len + trailer_len, payload_len,
	       key ? ", signed with " : "", key ? key : "");
	ret = EXIT_OK;
out:
	if (pem) {
		mbedtls_platform_zeroize(pem, pem_len); /* no copy of the private key is left */
		free(pem);
	}
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
	case FOTA_TLV_SIGNATURE: return "signature (ECDSA P-256)";
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

/* What a trailer holds. */
struct trailer_scan {
	const uint8_t *hash; /* the first hash TLV's value if it has 32 bytes, else NULL */
	const uint8_t *sig;  /* the first signature TLV's value if it has FOTA_SIG_SIZE bytes */
	unsigned sig_tlvs;   /* signature TLVs, of any length */
	unsigned others;     /* TLVs other than padding, hash and signature */
};

/* Walks the trailer's TLVs (listing them on stdout when print) into *scan. */
static void scan_trailer(const uint8_t *t, uint32_t size, bool print, struct trailer_scan *scan)
{
	uint32_t off = 0;

	memset(scan, 0, sizeof(*scan));
	while (off < size) {
		uint16_t type, len;

		if (size - off < FOTA_IMAGE_TLV_HDR) {
			if (print)
				printf("%-18s%" PRIu32 " stray bytes at trailer offset %" PRIu32
				       "\n", "tlv:", size - off, off);
			return;
		}
		type = fota_get_le16(t + off);
		len = fota_get_le16(t + off + 2);
		if (print)
			printf("%-18s0x%04x %s, %u bytes\n", "tlv:", (unsigned)type,
			       tlv_name(type), (unsigned)len);
		off += FOTA_IMAGE_TLV_HDR;
		if (len > size - off) {
			if (print)
				printf("%-18sthe TLV runs %" PRIu32 " bytes past the trailer's "
				       "end\n", "", len - (size - off));
			return;
		}
		if (type == FOTA_TLV_SHA256 && len == FOTA_SHA256_SIZE && !scan->hash)
			scan->hash = t + off;
		if (type == FOTA_TLV_SIGNATURE) {
			if (len == FOTA_SIG_SIZE && !scan->sig_tlvs)
				scan->sig = t + off;
			scan->sig_tlvs++;
		} else if (type != FOTA_TLV_PAD && type != FOTA_TLV_SHA256) {
			scan->others++;
		}
		off += len;
	}
}

/* The "signature:" line of fota info. pub: the --pub path or NULL; err and fault: the
 * verifier's outcome (it required a signature when pub is given). */
static void print_signature(const struct trailer_scan *scan, bool whole, const char *pub, int err,
			    int fault)
{
	printf("%-18s", "signature:");
	if (fault == FOTA_IMAGE_FAULT_SIG_TLV)
		printf("MALFORMED (a signature TLV must be one, of %u bytes)\n",
		       (unsigned)FOTA_SIG_SIZE);
	else if (pub && err == FOTA_OK)
		printf("valid (key %s)\n", pub);
	else if (pub && fault == FOTA_IMAGE_FAULT_SIG_BAD)
		printf("INVALID (does not hold for key %s)\n", pub);
	else if (pub && fault == FOTA_IMAGE_FAULT_SIG_MISSING)
		printf("none (key %s requires one)\n", pub);
	else if (!whole)
		printf("unknown (the trailer is incomplete)\n");
	else if (!scan->sig_tlvs)
		printf("none\n");
	else if (pub)
		printf("not checked (the image is not valid)\n");
	else
		printf("present, not checked (--pub PUB checks it)\n");
}

static int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pub", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fota_posix_sha256 sha;
	struct fota_posix_sig sig;
	bool have_sig = false;
	struct fota_image_verifier v;
	const struct fota_image_info *info;
	const char *path, *pub = NULL;
	uint8_t *img = NULL;
	size_t len = 0, used = 0;
	int c, err, ret = EXIT_USAGE;

	fota_posix_sha256_init(&sha);
	prog = "fota info";
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pub = optarg;
			break;
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
	if (pub) {
		err = fota_posix_sig_load(&sig, pub);
		if (err) {
			key_error(pub, NULL, err, false);
			goto out;
		}
		have_sig = true;
	}
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
	fota_image_verifier_require_sig(&v, have_sig ? &sig.port : NULL);
	err = fota_image_verifier_feed(&v, img, len, &used);
	info = fota_image_verifier_info(&v);
	if (info) {
		struct trailer_scan scan;
		uint8_t digest[FOTA_SHA256_SIZE];
		size_t covered = (size_t)info->header_size + info->payload_size;
		bool whole = len >= info->total_size;

		memset(&scan, 0, sizeof(scan));
		printf("%-18s%" PRIu32 "\n", "total size:", info->total_size);
		if (whole)
			scan_trailer(img + covered, info->trailer_size, true, &scan);
		if (scan.hash) {
			printf("%-18s", "sha256:");
			print_hex(scan.hash, FOTA_SHA256_SIZE);
			printf("\n");
		}
		if (len >= covered && fota_posix_sha256(img, covered, digest) == FOTA_OK) {
			bool ok = scan.hash && memcmp(scan.hash, digest, FOTA_SHA256_SIZE) == 0;

			printf("%-18s", "computed sha256:");
			print_hex(digest, FOTA_SHA256_SIZE);
			printf("\n%-18s%s\n", "hash:",
			       ok ? "ok" : scan.hash ? "MISMATCH" : whole ? "MISSING" : "unknown");
		}
		print_signature(&scan, whole, pub, err, fota_image_verifier_fault(&v));
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
	if (have_sig)
		fota_posix_sig_free(&sig);
	fota_posix_sha256_free(&sha);
	free(img);
	return ret;
}

static int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fota_posix_sha256 sha;
	struct fota_image_verifier v;
	const struct fota_image_info *info;
	struct trailer_scan scan;
	uint8_t trailer[FOTA_IMAGE_TRAILER_SIGNED];
	const char *key = NULL, *out = NULL, *path;
	char *pem = NULL;
	uint8_t *img = NULL, *hdr = NULL;
	size_t len = 0, used = 0, pem_len = 0;
	int c, err, mode = -1, ret = EXIT_USAGE;

	fota_posix_sha256_init(&sha);
	prog = "fota sign";
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			usage_sign(stdout);
			ret = EXIT_OK;
			goto out;
		default:
			bad_option(c, argv);
			goto out;
		}
	}
	if (!key) {
		fail("--key is required (see fota sign --help)");
		goto out;
	}
	if (optind != argc - 1) {
		fail(optind == argc ? "no IMAGE file given (see fota sign --help)" :
				      "one IMAGE file only (see fota sign --help)");
		goto out;
	}
	path = argv[optind];

	ret = EXIT_FAIL;
	if (load_private_key(key, &pem, &pem_len))
		goto out;
	if (read_file(path, &img, &len))
		goto out;
	if (!out) {
		struct stat st;

		/* In place: the signed image keeps the file's permissions. */
		out = path;
		if (stat(path, &st) == 0)
			mode = (int)(st.st_mode & 0777);
	}

	/* Only a whole, valid image is signed: a signature vouches for what it covers. */
	fota_image_verifier_init(&v, &sha.port, UINT32_MAX);
	err = fota_image_verifier_feed(&v, img, len, &used);
	info = fota_image_verifier_info(&v);
	if (err == FOTA_ERR_AGAIN && !info) {
		fail("%s: not a valid image (file truncated inside the header)", path);
		goto out;
	} else if (err == FOTA_ERR_AGAIN) {
		fail("%s: not a valid image (file truncated: %zu of %" PRIu32 " bytes)", path, len,
		     info->total_size);
		goto out;
	} else if (err == FOTA_ERR_BADMSG &&
		   fota_image_verifier_fault(&v) == FOTA_IMAGE_FAULT_MAGIC) {
		fail("%s: not an image (bad magic)", path);
		goto out;
	} else if (err) {
		fail("%s: not a valid image (%s, %s)", path,
		     fota_image_fault_str(fota_image_verifier_fault(&v)), fota_strerror(err));
		goto out;
	} else if (used != len) {
		fail("%s: not a valid image (%zu stray bytes after the image's end)", path,
		     len - used);
		goto out;
	}
	if (info->payload_size > UINT32_MAX - info->header_size - FOTA_IMAGE_TRAILER_SIGNED) {
		fail("%s: too large to sign: the signed image would pass 4 GiB", path);
		goto out;
	}
	scan_trailer(img + info->header_size + info->payload_size, info->trailer_size, false,
		     &scan);

	/* The header anew: the trailer size of a signed image, the CRC over it. The rest of
	 * the header (also an extension area a later writer added) stays as it is. */
	hdr = malloc(info->header_size);
	if (!hdr) {
		fail("out of memory");
		goto out;
	}
	memcpy(hdr, img, info->header_size);
	fota_put_le32(hdr + FOTA_IMAGE_OFF_TRAILER, FOTA_IMAGE_TRAILER_SIGNED);
	fota_put_le32(hdr + info->header_size - 4,
		      fota_crc32(0, hdr, info->header_size - 4u));
	if (make_signed_trailer(hdr, info->header_size, img + info->header_size,
				info->payload_size, pem, pem_len, key, trailer))
		goto out;
	{
		const uint8_t *parts[3] = { hdr, img + info->header_size, trailer };
		size_t sizes[3] = { info->header_size, info->payload_size, sizeof(trailer) };

		if (write_file_atomic(out, parts, sizes, 3, mode, false))
			goto out;
	}
	if (scan.others)
		fprintf(stderr, "%s: note: %u TLV(s) of other types were dropped: a signed "
			"image's trailer is the hash and the signature\n", prog, scan.others);
	printf("%s: %s %s, %zu bytes, signed with %s%s\n", out, info->name, info->version,
	       (size_t)info->header_size + info->payload_size + sizeof(trailer), key,
	       scan.sig_tlvs ? " (the old signature replaced)" : "");
	ret = EXIT_OK;
out:
	if (pem) {
		mbedtls_platform_zeroize(pem, pem_len);
		free(pem);
	}
	fota_posix_sha256_free(&sha);
	free(hdr);
	free(img);
	return ret;
}

/* Does path exist (as anything, a dangling symbolic link too)? */
static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char priv[512], pub[512];
	char *priv_path = NULL, *pub_path = NULL;
	const char *prefix = "fota-key";
	bool force = false;
	size_t n;
	int c, err, ret = EXIT_USAGE;

	prog = "fota keygen";
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			prefix = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage_keygen(stdout);
			ret = EXIT_OK;
			goto out;
		default:
			bad_option(c, argv);
			goto out;
		}
	}
	if (optind != argc) {
		fail("unexpected argument '%s' (the prefix goes after -o; see fota keygen --help)",
		     argv[optind]);
		goto out;
	}
	if (!*prefix) {
		fail("empty -o PREFIX (see fota keygen --help)");
		goto out;
	}

	ret = EXIT_FAIL;
	n = strlen(prefix);
	priv_path = malloc(n + sizeof(".pem"));
	pub_path = malloc(n + sizeof(".pub.pem"));
	if (!priv_path || !pub_path) {
		fail("out of memory");
		goto out;
	}
	memcpy(priv_path, prefix, n);
	memcpy(priv_path + n, ".pem", sizeof(".pem"));
	memcpy(pub_path, prefix, n);
	memcpy(pub_path + n, ".pub.pem", sizeof(".pub.pem"));
	/* Refuse before making anything, so that no half of a pair is written. */
	if (!force && (exists(priv_path) || exists(pub_path))) {
		fail("%s exists; --force replaces it", exists(priv_path) ? priv_path : pub_path);
		goto out;
	}
	err = fota_posix_keygen(priv, sizeof(priv), pub, sizeof(pub));
	if (err) {
		fail("making the key failed: %s", fota_strerror(err));
		goto out;
	}
	{
		const uint8_t *part = (const uint8_t *)priv;
		size_t size = strlen(priv);

		if (write_file_atomic(priv_path, &part, &size, 1, 0600, !force))
			goto out;
		part = (const uint8_t *)pub;
		size = strlen(pub);
		if (write_file_atomic(pub_path, &part, &size, 1, -1, !force)) {
			if (!force)
				unlink(priv_path); /* made just now: no private key without its pair */
			goto out;
		}
	}
	printf("%s: private key (keep it secret: fota pack/sign --key)\n"
	       "%s: public key (fota info --pub; the modules check images with it)\n",
	       priv_path, pub_path);
	ret = EXIT_OK;
out:
	mbedtls_platform_zeroize(priv, sizeof(priv));
	free(priv_path);
	free(pub_path);
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
	if (!strcmp(cmd, "sign"))
		return cmd_sign(argc - 1, argv + 1);
	if (!strcmp(cmd, "keygen"))
		return cmd_keygen(argc - 1, argv + 1);
	fail("unknown command '%s' (see fota --help)", cmd);
	return EXIT_USAGE;
}
