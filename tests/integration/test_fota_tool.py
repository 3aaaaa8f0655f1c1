"""Integration tests of the host tool build/bin/fota: pack, info, bad input.

Run with /usr/bin/python3 -m unittest; FOTA_BUILD gives the build folder (default "build").
"""
import hashlib
import os
import struct
import subprocess
import tempfile
import unittest
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FOTA_BUILD", "build")
FOTA = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD), "bin", "fota")

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


class FotaTool(unittest.TestCase):
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
            ["info"],
            ["info", "a", "b"],
            ["info", "--bogus", "a"],
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
        for args in (["--help"], ["pack", "--help"], ["info", "--help"], ["pack", "-h"]):
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


if __name__ == "__main__":
    unittest.main()
