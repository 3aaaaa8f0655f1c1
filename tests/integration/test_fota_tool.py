"""Integration tests of the host tool build/bin/fota: pack, info, sign, keygen, bad input.

Run with /usr/bin/python3 -m unittest; FOTA_BUILD gives the build folder (default "build").
"""
import hashlib
import os
import shutil
import stat
import struct
import subprocess
import tempfile
import unittest
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FOTA_BUILD", "build")
FOTA = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD), "bin", "fota")

OPENSSL = shutil.which("openssl")

NAME = "AirM2M_780E_LTE_AT"
VERSION = "AirM2M_780E_V1121_LTE_AT"
HDR = 128


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def run(*args):
    return subprocess.run([FOTA, *args], capture_output=True, text=True, timeout=30)


class ToolCase(unittest.TestCase):
    """A temporary folder with a 5000-byte payload fw.bin."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.payload = os.path.join(self.dir, "fw.bin")
        with open(self.payload, "wb") as f:
            f.write(bytes((i * 7 + 3) & 0xFF for i in range(5000)))

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def pack(self, *extra, out=None):
        args = ["pack", "--name", NAME, "--version", VERSION, *extra]
        if out:
            args += ["-o", out]
        return run(*args, self.payload)

    def files(self):
        return sorted(os.listdir(self.dir))


class FotaTool(ToolCase):
    def test_pack_then_info_says_valid(self):
        r = self.pack("--counter", "7", "--crash-on-boot")
        self.assertEqual(r.returncode, 0, r.stderr)
        img = self.payload + ".fota"  # the documented default output
        self.assertTrue(os.path.exists(img))
        r = run("info", img)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('"%s"' % NAME, r.stdout)
        self.assertIn('"%s"' % VERSION, r.stdout)
        self.assertRegex(r.stdout, r"security counter:\s+7\n")
        self.assertRegex(r.stdout, r"payload size:\s+5000\n")
        self.assertRegex(r.stdout, r"total size:\s+5164\n")
        self.assertIn("crash-on-boot", r.stdout)
        self.assertRegex(r.stdout, r"hash:\s+ok\n")
        self.assertRegex(r.stdout, r"valid:\s+yes\n")

    def test_packed_image_has_the_documented_layout(self):
        out = self.path("x.fota")
        self.assertEqual(self.pack(out=out).returncode, 0)
        data = read(out)
        payload = read(self.payload)
        magic, hsize, fmt, flags, psize, tsize, counter = struct.unpack_from("<4sHHIIII", data)
        self.assertEqual((magic, hsize, fmt, flags, psize, tsize, counter),
                         (b"FOTA", HDR, 1, 0, len(payload), 36, 0))
        self.assertEqual(data[28:60].rstrip(b"\0").decode(), NAME)
        self.assertEqual(data[60:108].rstrip(b"\0").decode(), VERSION)
        self.assertEqual(struct.unpack_from("<I", data, HDR - 4)[0], zlib.crc32(data[:HDR - 4]))
        self.assertEqual(data[HDR:HDR + len(payload)], payload)
        t = HDR + len(payload)
        self.assertEqual(struct.unpack_from("<HH", data, t), (1, 32))
        self.assertEqual(data[t + 4:], hashlib.sha256(data[:t]).digest())

    def test_corrupted_payload_byte_fails_the_hash(self):
        out = self.path("x.fota")
        self.assertEqual(self.pack(out=out).returncode, 0)
        data = bytearray(read(out))
        data[HDR + 1234] ^= 0x01
        write(out, data)
        r = run("info", out)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"hash:\s+MISMATCH\n")
        self.assertRegex(r.stdout, r"valid:\s+no \(hash mismatch")

    def test_corrupted_header_byte_fails_the_crc(self):
        out = self.path("x.fota")
        self.assertEqual(self.pack(out=out).returncode, 0)
        data = bytearray(read(out))
        data[70] ^= 0x01
        write(out, data)
        r = run("info", out)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"header crc:\s+0x[0-9a-f]{8} \(MISMATCH\)")
        self.assertRegex(r.stdout, r"valid:\s+no \(bad header CRC")

    def test_truncated_or_extended_image_is_not_valid(self):
        out = self.path("x.fota")
        self.assertEqual(self.pack(out=out).returncode, 0)
        data = read(out)
        write(out, data[:-1])
        r = run("info", out)
        self.assertEqual(r.returncode, 1)
        self.assertIn("truncated", r.stdout)
        write(out, data + b"\0")
        r = run("info", out)
        self.assertEqual(r.returncode, 1)
        self.assertIn("stray bytes", r.stdout)

    def test_info_of_a_file_that_is_no_image_exits_1(self):
        r = run("info", self.payload)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not an image", r.stdout)
        r = run("info", self.path("missing.fota"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)

    def test_bad_options_exit_2_with_one_line_and_write_nothing(self):
        before = self.files()
        cases = [
            ["pack", "--bogus", self.payload],
            ["pack", "--name", NAME, self.payload],                     # no --version
            ["pack", "--version", VERSION, self.payload],               # no --name
            ["pack", "--name", NAME, "--version", VERSION],             # no payload
            ["pack", "--name", NAME, "--version", VERSION, self.payload, self.payload],
            ["pack", "--name", "has space", "--version", VERSION, self.payload],
            ["pack", "--name", 'q"uote', "--version", VERSION, self.payload],
            ["pack", "--name", "N" * 32, "--version", VERSION, self.payload],
            ["pack", "--name", NAME, "--version", "", self.payload],
            ["pack", "--name", NAME, "--version", "1" * 48, self.payload],
            ["pack", "--name", NAME, "--version", VERSION, "--counter", "-1", self.payload],
            ["pack", "--name", NAME, "--version", VERSION, "--counter", "4294967296",
             self.payload],
            ["pack", "--name", NAME, "--version", VERSION, "--counter", "12x", self.payload],
            ["pack", "--name"],
            ["pack", "--name", NAME, "--version", VERSION, "--key"],
            ["info"],
            ["info", "a", "b"],
            ["info", "--bogus", "a"],
            ["info", "--pub"],
            ["sign", self.payload],                                    # no --key
            ["sign", "--key", "k.pem"],                                # no image
            ["sign", "--key", "k.pem", "a", "b"],
            ["sign", "--bogus", "--key", "k.pem", "a"],
            ["keygen", "extra"],
            ["keygen", "-o"],
            ["keygen", "-o", ""],
            ["keygen", "--bogus"],
            ["frobnicate"],
            [],
        ]
        for args in cases:
            with self.subTest(args=args):
                r = run(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                if args:
                    self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertEqual(self.files(), before)

    def test_help_of_each_command_exits_0(self):
        for args in (["--help"], ["pack", "--help"], ["info", "--help"], ["pack", "-h"],
                     ["sign", "--help"], ["keygen", "--help"]):
            with self.subTest(args=args):
                r = run(*args)
                self.assertEqual(r.returncode, 0)
                self.assertIn("usage: fota", r.stdout)

    def test_failed_pack_leaves_the_old_output_and_no_temporary_file(self):
        out = self.path("x.fota")
        write(out, b"old")
        empty = self.path("empty.bin")
        write(empty, b"")
        r = run("pack", "--name", NAME, "--version", VERSION, "-o", out, empty)
        self.assertEqual(r.returncode, 1)
        self.assertIn("empty", r.stderr)
        r = run("pack", "--name", NAME, "--version", VERSION, "-o", out, self.path("nope"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(read(out), b"old")
        self.assertEqual(self.files(), ["empty.bin", "fw.bin", "x.fota"])
        # An output in a folder that does not exist: error, nothing written.
        r = run("pack", "--name", NAME, "--version", VERSION, "-o",
                self.path("no/such/dir.fota"), self.payload)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)

    def test_pack_replaces_an_existing_output_whole(self):
        out = self.path("x.fota")
        write(out, b"old" * 10000)
        self.assertEqual(self.pack(out=out).returncode, 0)
        self.assertEqual(os.path.getsize(out), 5164)
        self.assertEqual(run("info", out).returncode, 0)
        self.assertEqual(self.files(), ["fw.bin", "x.fota"])


SIGNED_TRAILER = 36 + 68  # the hash TLV, then the signature TLV


def der_signature(raw):
    """The DER ECDSA-Sig-Value (what openssl wants) of a raw r || s signature."""
    def der_int(b):
        b = b.lstrip(b"\0") or b"\0"
        if b[0] & 0x80:
            b = b"\0" + b
        return bytes([2, len(b)]) + b
    body = der_int(raw[:32]) + der_int(raw[32:])
    return bytes([0x30, len(body)]) + body


def trailer_tlvs(data):
    """[(type, value)] of an image's trailer, from the header's sizes."""
    hsize, = struct.unpack_from("<H", data, 4)
    psize, tsize = struct.unpack_from("<II", data, 12)
    t, end, out = hsize + psize, hsize + psize + tsize, []
    while t < end:
        typ, n = struct.unpack_from("<HH", data, t)
        out.append((typ, data[t + 4:t + 4 + n]))
        t += 4 + n
    return out


def refresh_crc_and_hash(data):
    """Makes header CRC and hash TLV right again after an edit (what a forger can do)."""
    data = bytearray(data)
    struct.pack_into("<I", data, HDR - 4, zlib.crc32(bytes(data[:HDR - 4])))
    psize, = struct.unpack_from("<I", data, 12)
    t = HDR + psize
    assert struct.unpack_from("<HH", data, t) == (1, 32)
    data[t + 4:t + 36] = hashlib.sha256(bytes(data[:t])).digest()
    return bytes(data)


class FotaSigning(ToolCase):
    """keygen, pack --key, sign, info --pub (ECDSA P-256, docs/fota-tool.md)."""

    def keygen(self, prefix="key"):
        r = run("keygen", "-o", self.path(prefix))
        self.assertEqual(r.returncode, 0, r.stderr)
        return self.path(prefix + ".pem"), self.path(prefix + ".pub.pem")

    def info(self, img, pub=None):
        return run("info", *(["--pub", pub] if pub else []), img)

    def assert_signed_by(self, img, pub):
        r = self.info(img, pub)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"signature:\s+valid \(key %s\)\n" % pub)
        self.assertRegex(r.stdout, r"valid:\s+yes\n")

    def assert_not_signed_by(self, img, pub):
        r = self.info(img, pub)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"signature:\s+INVALID")
        self.assertRegex(r.stdout, r"valid:\s+no \(bad signature")

    def test_keygen_writes_a_private_and_a_public_pem(self):
        old = os.umask(0o022)
        try:
            r = run("keygen", "-o", self.path("k"))
        finally:
            os.umask(old)
        self.assertEqual(r.returncode, 0, r.stderr)
        priv, pub = self.path("k.pem"), self.path("k.pub.pem")
        self.assertEqual(stat.S_IMODE(os.stat(priv).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(pub).st_mode), 0o644)
        self.assertTrue(read(priv).startswith(b"-----BEGIN EC PRIVATE KEY-----\n"))
        self.assertTrue(read(pub).startswith(b"-----BEGIN PUBLIC KEY-----\n"))
        self.assertNotIn(b"PRIVATE", read(pub))
        self.assertEqual(self.files(), ["fw.bin", "k.pem", "k.pub.pem"])

    def test_keygen_default_prefix_is_fota_key(self):
        r = subprocess.run([FOTA, "keygen"], capture_output=True, text=True, timeout=30,
                           cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.files(), ["fota-key.pem", "fota-key.pub.pem", "fw.bin"])

    def test_keygen_refuses_to_overwrite_unless_forced(self):
        priv, pub = self.keygen("k")
        before = read(priv), read(pub)
        r = run("keygen", "-o", self.path("k"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists", r.stderr)
        self.assertIn("--force", r.stderr)
        self.assertEqual((read(priv), read(pub)), before)
        # One of the two is enough to refuse, and nothing is written then.
        os.unlink(priv)
        r = run("keygen", "-o", self.path("k"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("k.pub.pem exists", r.stderr)
        self.assertEqual(self.files(), ["fw.bin", "k.pub.pem"])
        r = run("keygen", "-o", self.path("k"), "--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(read(pub), before[1])
        self.assertEqual(stat.S_IMODE(os.stat(priv).st_mode), 0o600)
        self.assertEqual(self.files(), ["fw.bin", "k.pem", "k.pub.pem"])
        # A folder that does not exist: one line, nothing written.
        r = run("keygen", "-o", self.path("no/such/k"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_pack_with_key_makes_a_signed_image_info_pub_says_valid(self):
        priv, pub = self.keygen()
        out = self.path("x.fota")
        r = self.pack("--key", priv, out=out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("signed", r.stdout)
        data = read(out)
        payload = read(self.payload)
        self.assertEqual(len(data), HDR + len(payload) + SIGNED_TRAILER)
        self.assertEqual(struct.unpack_from("<I", data, 16)[0], SIGNED_TRAILER)
        self.assertEqual(struct.unpack_from("<I", data, HDR - 4)[0], zlib.crc32(data[:HDR - 4]))
        tlvs = trailer_tlvs(data)
        self.assertEqual([(t, len(v)) for t, v in tlvs], [(1, 32), (2, 64)])
        self.assertEqual(tlvs[0][1], hashlib.sha256(data[:HDR + len(payload)]).digest())
        self.assert_signed_by(out, pub)
        # The private key's PEM serves as --pub too (its public half).
        self.assert_signed_by(out, priv)
        # Without --pub: valid, and info says it is signed.
        r = self.info(out)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"tlv:\s+0x0002 signature")
        self.assertRegex(r.stdout, r"signature:\s+present, not checked")
        # Deterministic (RFC 6979): the same input packs to the same bytes.
        self.assertEqual(self.pack("--key", priv, out=out).returncode, 0)
        self.assertEqual(read(out), data)

    def test_info_pub_with_another_key_says_invalid(self):
        priv, _ = self.keygen("a")
        _, other = self.keygen("b")
        out = self.path("x.fota")
        self.assertEqual(self.pack("--key", priv, out=out).returncode, 0)
        self.assert_not_signed_by(out, other)

    def test_info_pub_of_an_unsigned_image_says_none(self):
        _, pub = self.keygen()
        out = self.path("x.fota")
        self.assertEqual(self.pack(out=out).returncode, 0)
        r = self.info(out)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"signature:\s+none\n")
        r = self.info(out, pub)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout, r"signature:\s+none")
        self.assertRegex(r.stdout, r"valid:\s+no \(image not signed")

    def test_sign_of_an_unsigned_image_equals_pack_with_key(self):
        priv, pub = self.keygen()
        plain, signed = self.path("plain.fota"), self.path("signed.fota")
        self.assertEqual(self.pack(out=plain).returncode, 0)
        self.assertEqual(self.pack("--key", priv, out=signed).returncode, 0)
        before = read(plain)
        # -o: a new file, the input untouched.
        r = run("sign", "--key", priv, "-o", self.path("out.fota"), plain)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read(plain), before)
        self.assertEqual(read(self.path("out.fota")), read(signed))
        # In place, keeping the file's mode, leaving no temporary file.
        os.chmod(plain, 0o640)
        r = run("sign", "--key", priv, plain)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read(plain), read(signed))
        self.assertEqual(stat.S_IMODE(os.stat(plain).st_mode), 0o640)
        self.assert_signed_by(plain, pub)
        self.assertEqual(self.files(), ["fw.bin", "key.pem", "key.pub.pem", "out.fota",
                                        "plain.fota", "signed.fota"])

    def test_resign_with_another_key_replaces_the_signature(self):
        priv_a, pub_a = self.keygen("a")
        priv_b, pub_b = self.keygen("b")
        out = self.path("x.fota")
        self.assertEqual(self.pack("--key", priv_a, out=out).returncode, 0)
        r = run("sign", "--key", priv_b, out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("replaced", r.stdout)
        data = read(out)
        self.assertEqual(len(data), HDR + 5000 + SIGNED_TRAILER)
        self.assertEqual([t for t, _ in trailer_tlvs(data)], [1, 2])
        self.assert_signed_by(out, pub_b)
        self.assert_not_signed_by(out, pub_a)
        # And back: the same bytes as packing with a from the start.
        self.assertEqual(run("sign", "--key", priv_a, "-o", self.path("y.fota"), out).returncode, 0)
        self.assertEqual(self.pack("--key", priv_a, out=self.path("z.fota")).returncode, 0)
        self.assertEqual(read(self.path("y.fota")), read(self.path("z.fota")))

    def test_tampered_payload_of_a_signed_image_is_a_hash_mismatch(self):
        priv, pub = self.keygen()
        out = self.path("x.fota")
        self.assertEqual(self.pack("--key", priv, out=out).returncode, 0)
        data = bytearray(read(out))
        data[HDR + 2500] ^= 0x40
        write(out, data)
        for args in ([], [pub]):
            r = self.info(out, *args)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertRegex(r.stdout, r"hash:\s+MISMATCH\n")
            self.assertRegex(r.stdout, r"valid:\s+no \(hash mismatch")
        # A forger who also fixes the hash TLV meets the signature.
        write(out, refresh_crc_and_hash(data))
        self.assert_not_signed_by(out, pub)
        # sign refuses an image whose hash does not hold.
        write(out, data)
        r = run("sign", "--key", priv, out)
        self.assertEqual(r.returncode, 1)
        self.assertIn("hash mismatch", r.stderr)
        self.assertEqual(read(out), bytes(data))

    def test_re_versioned_header_with_crc_and_hash_fixed_fails_the_signature(self):
        priv, pub = self.keygen()
        out = self.path("x.fota")
        self.assertEqual(self.pack("--key", priv, out=out).returncode, 0)
        data = bytearray(read(out))
        newer = b"AirM2M_780E_V9999_LTE_AT"
        data[60:60 + 48] = newer + b"\0" * (48 - len(newer))
        # CRC fixed only: the hash no longer holds.
        struct.pack_into("<I", data, HDR - 4, zlib.crc32(bytes(data[:HDR - 4])))
        write(out, data)
        r = self.info(out, pub)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout, r"header crc:\s+0x[0-9a-f]{8} \(ok\)")
        self.assertRegex(r.stdout, r"valid:\s+no \(hash mismatch")
        # CRC and hash fixed: only the signature tells.
        write(out, refresh_crc_and_hash(data))
        r = self.info(out)
        self.assertEqual(r.returncode, 0, r.stdout)  # no key given: hash-valid
        self.assertIn('"AirM2M_780E_V9999_LTE_AT"', r.stdout)
        self.assert_not_signed_by(out, pub)
        # The security counter, the field rollback protection rests on, likewise.
        self.assertEqual(self.pack("--key", priv, out=out).returncode, 0)
        data = bytearray(read(out))
        struct.pack_into("<I", data, 20, 99)
        write(out, refresh_crc_and_hash(data))
        self.assert_not_signed_by(out, pub)

    def test_bad_keys_and_images_are_clear_errors(self):
        priv, pub = self.keygen()
        img = self.path("x.fota")
        self.assertEqual(self.pack(out=img).returncode, 0)
        garbage = self.path("garbage.pem")
        write(garbage, b"-----BEGIN EC PRIVATE KEY-----\nnot base64 at all\n"
                       b"-----END EC PRIVATE KEY-----\n")
        truncated_key = self.path("cut.pem")
        write(truncated_key, read(priv)[:100])
        cases = [  # (args, what stderr must say)
            (["sign", "--key", pub, img], "a public key; --key takes the private key"),
            (["sign", "--key", garbage, img], "no usable private key"),
            (["sign", "--key", truncated_key, img], "no usable private key"),
            (["sign", "--key", self.path("missing.pem"), img], "No such file"),
            (["sign", "--key", self.dir, img], "is a directory"),
            (["sign", "--key", priv, self.dir], "is a directory"),
            (["sign", "--key", priv, self.payload], "not an image (bad magic)"),
            (["sign", "--key", priv, self.path("missing.fota")], "No such file"),
            (["pack", "--name", NAME, "--version", VERSION, "--key", pub, "-o",
              self.path("y.fota"), self.payload], "a public key"),
            (["pack", "--name", NAME, "--version", VERSION, "--key", self.dir, "-o",
              self.path("y.fota"), self.payload], "is a directory"),
            (["info", "--pub", garbage, img], "no public key"),
            (["info", "--pub", self.path("missing.pem"), img], "No such file"),
            (["info", "--pub", self.dir, img], "is a directory"),
            (["info", self.dir], "is a directory"),
        ]
        before = self.files()
        for args, want in cases:
            with self.subTest(args=args):
                r = run(*args)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertIn(want, r.stderr)
        self.assertEqual(self.files(), before)
        self.assertEqual(run("info", img).returncode, 0)

    def test_sign_refuses_a_truncated_or_extended_image_and_leaves_it(self):
        priv, _ = self.keygen()
        img = self.path("x.fota")
        self.assertEqual(self.pack(out=img).returncode, 0)
        data = read(img)
        for bad, want in ((data[:-1], "truncated"), (data[:50], "truncated inside the header"),
                          (data + b"\0", "stray bytes")):
            with self.subTest(want=want):
                write(img, bad)
                r = run("sign", "--key", priv, img)
                self.assertEqual(r.returncode, 1)
                self.assertIn(want, r.stderr)
                self.assertEqual(read(img), bad)
        self.assertEqual(self.files(), ["fw.bin", "key.pem", "key.pub.pem", "x.fota"])

    def test_malformed_signature_tlv_is_not_valid_and_sign_refuses_it(self):
        priv, pub = self.keygen()
        img = self.path("x.fota")
        self.assertEqual(self.pack("--key", priv, out=img).returncode, 0)
        data = bytearray(read(img))
        t = HDR + 5000 + 36
        struct.pack_into("<HH", data, t, 2, 60)       # a 60-byte signature TLV,
        struct.pack_into("<HH", data, t + 64, 0, 0)   # then empty padding
        write(img, data)
        for args in ([], [pub]):
            r = self.info(img, *args)
            self.assertEqual(r.returncode, 1)
            self.assertRegex(r.stdout, r"signature:\s+MALFORMED")
            self.assertRegex(r.stdout, r"valid:\s+no \(malformed signature TLV")
        r = run("sign", "--key", priv, img)
        self.assertEqual(r.returncode, 1)
        self.assertIn("malformed signature TLV", r.stderr)
        self.assertEqual(read(img), bytes(data))

    def test_sign_drops_other_tlvs_with_a_note(self):
        priv, pub = self.keygen()
        img = self.path("x.fota")
        self.assertEqual(self.pack(out=img).returncode, 0)
        data = bytearray(read(img)) + struct.pack("<HH", 0x8000, 3) + b"abc"
        struct.pack_into("<I", data, 16, 36 + 7)
        write(img, refresh_crc_and_hash(data))
        self.assertEqual(run("info", img).returncode, 0)
        r = run("sign", "--key", priv, img)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 TLV(s) of other types were dropped", r.stderr)
        self.assertEqual([t for t, _ in trailer_tlvs(read(img))], [1, 2])
        self.assert_signed_by(img, pub)

    @unittest.skipUnless(OPENSSL, "openssl not installed")
    def test_keys_of_fota_keygen_are_read_by_openssl(self):
        priv, pub = self.keygen()
        r = subprocess.run([OPENSSL, "pkey", "-pubin", "-in", pub, "-text", "-noout"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("prime256v1", r.stdout)
        # openssl derives from the private key the very public key fota wrote.
        r = subprocess.run([OPENSSL, "pkey", "-in", priv, "-pubout"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, read(pub).decode())

    @unittest.skipUnless(OPENSSL, "openssl not installed")
    def test_signature_made_by_fota_verifies_with_openssl(self):
        priv, pub = self.keygen()
        out = self.path("x.fota")
        self.assertEqual(self.pack("--key", priv, out=out).returncode, 0)
        data = read(out)
        covered = data[:HDR + 5000]
        raw = dict(trailer_tlvs(data))[2]
        write(self.path("covered.bin"), covered)
        write(self.path("sig.der"), der_signature(raw))
        r = subprocess.run([OPENSSL, "dgst", "-sha256", "-verify", pub, "-signature",
                            self.path("sig.der"), self.path("covered.bin")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Verified OK", r.stdout)
        # And a changed byte fails there too (the check is not vacuous).
        write(self.path("covered.bin"), covered[:-1] + bytes([covered[-1] ^ 1]))
        r = subprocess.run([OPENSSL, "dgst", "-sha256", "-verify", pub, "-signature",
                            self.path("sig.der"), self.path("covered.bin")],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)

    @unittest.skipUnless(OPENSSL, "openssl not installed")
    def test_keys_made_by_openssl_work_with_fota(self):
        ossl = self.path("ossl.pem")
        ossl_pub = self.path("ossl.pub.pem")
        ossl_p8 = self.path("ossl.p8.pem")
        for cmd in ([OPENSSL, "ecparam", "-genkey", "-name", "prime256v1", "-noout",
                     "-out", ossl],
                    [OPENSSL, "ec", "-in", ossl, "-pubout", "-out", ossl_pub],
                    [OPENSSL, "pkey", "-in", ossl, "-out", ossl_p8]):  # PKCS#8
            r = subprocess.run(cmd, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
        out = self.path("x.fota")
        r = self.pack("--key", ossl, out=out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_signed_by(out, ossl_pub)
        data = read(out)
        # The PKCS#8 form of the same key signs the same bytes.
        self.assertEqual(self.pack("--key", ossl_p8, out=out).returncode, 0)
        self.assertEqual(read(out), data)
        # A key fota cannot use: RSA, P-384.
        rsa, p384 = self.path("rsa.pem"), self.path("p384.pem")
        subprocess.run([OPENSSL, "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:1024", "-out", rsa], capture_output=True, check=True)
        subprocess.run([OPENSSL, "ecparam", "-genkey", "-name", "secp384r1", "-noout",
                        "-out", p384], capture_output=True, check=True)
        for key in (rsa, p384):
            with self.subTest(key=key):
                r = run("sign", "--key", key, out)
                self.assertEqual(r.returncode, 1)
                self.assertIn("not an ECDSA P-256", r.stderr)
                r = run("info", "--pub", key, out)
                self.assertEqual(r.returncode, 1)
                self.assertIn("not an ECDSA P-256", r.stderr)
        self.assertEqual(read(out), data)


if __name__ == "__main__":
    unittest.main()
