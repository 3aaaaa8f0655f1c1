"""Signed images and anti-rollback, end to end: fotad provisioned with a public key
(--pubkey) fetches images from a real HTTP server (python3's http.server) and installs only
those signed by the matching private key and not below its security counter.

Each refusal is checked for its code (AT+UPGRADE? says 2,-1003,...) and for the module
still running its old firmware (AT+CGMR). The attacks: an unsigned image, a tampered
payload byte, a tampered header, a signature swapped in from another image, a signature by
another key, an image signed then re-versioned (header CRC and hash made right again), a
downgrade by security counter under a newer version string. The boot code's own check is
tested with --stage, which puts an image in the staging slot without the download's check.

Keys are made by `fota keygen`, images by `fota pack --key`; every server listens on
127.0.0.1 at a port chosen at run time."""
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

from fotalib import prog
from test_download import IMEI, V1, V2, V3, HttpServer, Module, pack, percents

HDR = 128
OFF_VERSION = 60
RUNNING_COUNTER = 5


def fota(*args):
    return subprocess.run([prog("fota"), *args], check=True, capture_output=True, text=True)


def read(path):
    with open(path, "rb") as f:
        return bytearray(f.read())


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def tlvs(img):
    """{type: (offset of the value, value)} of the image's trailer."""
    payload = struct.unpack_from("<I", img, 12)[0]
    off, out = HDR + payload, {}
    while off + 4 <= len(img):
        t, n = struct.unpack_from("<HH", img, off)
        out[t] = (off + 4, bytes(img[off + 4:off + 4 + n]))
        off += 4 + n
    return out


def fix_header_crc(img):
    struct.pack_into("<I", img, HDR - 4, zlib.crc32(bytes(img[:HDR - 4])))


def fix_hash(img):
    payload = struct.unpack_from("<I", img, 12)[0]
    at = tlvs(img)[1][0]
    img[at:at + 32] = hashlib.sha256(bytes(img[:HDR + payload])).digest()


class SignedImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="fota-sec-")
        d = cls.dir
        fota("keygen", "-o", os.path.join(d, "k1"))
        fota("keygen", "-o", os.path.join(d, "k2"))
        cls.pub = os.path.join(d, "k1.pub.pem")
        k1, k2 = os.path.join(d, "k1.pem"), os.path.join(d, "k2.pem")
        cls.www = os.path.join(d, "www")
        os.mkdir(cls.www)
        w = lambda n: os.path.join(cls.www, n)
        # The factory firmware: V1, counter 5 (signed, though the running slot needs no
        # signature to be reverted to).
        cls.factory = pack(os.path.join(d, "factory.fota"), V1, 40000,
                           "--counter", str(RUNNING_COUNTER), "--key", k1)
        pack(w("good.fota"), V2, 120000, "--counter", "6", "--key", k1)
        pack(w("unsigned.fota"), V2, 120000, "--counter", "6")
        pack(w("other-key.fota"), V2, 120000, "--counter", "6", "--key", k2)
        pack(w("downgrade.fota"), V3, 120000, "--counter", "4", "--key", k1)
        pack(w("equal.fota"), V3, 50000, "--counter", str(RUNNING_COUNTER), "--key", k1)
        good = read(w("good.fota"))

        bad = bytearray(good)
        bad[HDR + 60000] ^= 0x01  # a payload byte: the hash no longer holds
        write(w("tampered-payload.fota"), bad)

        bad = bytearray(good)
        bad[OFF_VERSION + 3] ^= 0x01  # a header byte, CRC left as it was
        write(w("tampered-header.fota"), bad)

        # Another image's signature (by the right key) in place of this one's.
        other = read(w("equal.fota"))
        bad = bytearray(good)
        at, _ = tlvs(bad)[2]
        bad[at:at + 64] = tlvs(other)[2][1]
        write(w("swapped-signature.fota"), bad)

        # Signed as V2, then re-versioned V3 with the header CRC and the hash made right:
        # only the signature can tell.
        bad = bytearray(good)
        bad[OFF_VERSION:OFF_VERSION + 48] = V3.encode().ljust(48, b"\0")
        fix_header_crc(bad)
        fix_hash(bad)
        write(w("re-versioned.fota"), bad)
        assert subprocess.run([prog("fota"), "info", w("re-versioned.fota")],
                              capture_output=True).returncode == 0  # a valid unsigned view

        cls.http = HttpServer(cls.www).start()

    @classmethod
    def tearDownClass(cls):
        cls.http.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="fota-sec-mod-", dir=self.dir)
        self.mods = []

    def tearDown(self):
        for m in self.mods:
            try:
                m.stop()
            except Exception:
                pass

    def module(self, *args):
        m = Module(self.state, "--imei", IMEI, "--factory", self.factory,
                   "--pubkey", self.pub, *args)
        self.mods.append(m)
        m.start()
        self.assertIn("OK", m.at("ATE0"))
        return m

    def attempt(self, m, name):
        self.assertIn("OK", m.at('AT+UPGRADE="URL","%s"' % self.http.url(name)))
        self.assertIn("OK", m.at("AT+UPGRADE"))
        return m.wait_status(r"2,-?\d+,\d+,\d+", timeout=30)

    def assert_refused(self, name, code="-1003"):
        m = self.module()
        st = self.attempt(m, name)
        self.assertEqual(st, "2,%s,200,0" % code, name)
        self.assertEqual(m.version(), V1, "the old firmware still runs")
        self.assertNotIn("RDY", m.text())  # no reboot: nothing was staged
        return m

    def test_image_signed_by_the_provisioned_key_is_installed(self):
        m = self.module()
        self.attempt(m, "good.fota")
        m.expect(r'\+UPGRADEVER: "%s"\r\n' % V2, timeout=30)
        self.assertEqual(m.version(), V2)
        self.assertEqual(percents(m.text(), "+UPGRADEDL")[-1], 100)

    def test_unsigned_image_is_refused_on_its_header(self):
        m = self.assert_refused("unsigned.fota")
        self.assertIn("+UPGRADEIND: -1003", m.text())
        self.assertNotIn("+UPGRADEIND: 1\r\n", m.text())  # refused before any progress

    def test_tampered_payload_byte_is_refused(self):
        self.assert_refused("tampered-payload.fota")

    def test_tampered_header_is_refused(self):
        self.assert_refused("tampered-header.fota")

    def test_signature_swapped_from_another_image_is_refused(self):
        self.assert_refused("swapped-signature.fota")

    def test_signature_by_another_key_is_refused(self):
        self.assert_refused("other-key.fota")

    def test_image_signed_then_re_versioned_is_refused(self):
        self.assert_refused("re-versioned.fota")

    def test_downgrade_by_security_counter_is_refused_despite_a_newer_version(self):
        m = self.assert_refused("downgrade.fota")
        self.assertNotIn("+UPGRADEIND: 1\r\n", m.text())  # decided on the header

    def test_same_security_counter_is_no_downgrade(self):
        m = self.module()
        self.attempt(m, "equal.fota")
        m.expect(r'\+UPGRADEVER: "%s"\r\n' % V3, timeout=30)
        self.assertEqual(m.version(), V3)

    def test_boot_code_refuses_a_staged_image_the_download_check_never_saw(self):
        """--stage writes the image to the staging slot directly: the boot code's check
        is all that stands between it and the running slot."""
        for name, why in (("unsigned.fota", "not signed"), ("other-key.fota", "bad key"),
                          ("downgrade.fota", "rollback")):
            with self.subTest(name):
                shutil.rmtree(self.state, ignore_errors=True)
                m = self.module("--stage", os.path.join(self.www, name))
                self.assertEqual(m.wait_status(r"2,-1003,\d+,0"), "2,-1003,0,0", why)
                self.assertEqual(m.version(), V1)
                self.assertNotIn("+UPGRADEDL", m.text())  # nothing was copied
                self.assertIn("failed verification; not installed", m.logtext())
                m.stop()



class PubkeyOptionTest(unittest.TestCase):
    """--pubkey that holds no usable key stops fotad at start: a module must never run
    believing it checks signatures when it does not."""

    def fotad(self, pub):
        d = tempfile.mkdtemp(prefix="fota-sec-")
        try:
            return subprocess.run([prog("fotad"), "--state", os.path.join(d, "m"),
                                   "--pubkey", pub, "--at", "stdio"], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=10)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_missing_garbage_or_wrong_curve_key_stops_fotad(self):
        r = self.fotad("/nonexistent/k.pub.pem")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"--pubkey /nonexistent/k.pub.pem: No such file or directory", r.stderr)
        with tempfile.TemporaryDirectory() as d:
            junk, p384 = os.path.join(d, "junk.pem"), os.path.join(d, "p384.pem")
            write(junk, b"not a key\n")
            r = self.fotad(junk)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"no public key in it", r.stderr)
            key = subprocess.run(["openssl", "ecparam", "-name", "secp384r1", "-genkey",
                                  "-noout"], check=True, capture_output=True).stdout
            write(p384, subprocess.run(["openssl", "ec", "-pubout"], input=key, check=True,
                                       capture_output=True).stdout)
            r = self.fotad(p384)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"not an ECDSA P-256 key", r.stderr)


if __name__ == "__main__":
    unittest.main()
