"""HTTPS, end to end: fotad fetches a firmware image from a private nginx serving TLS with
certificates of a throw-away CA (testca.py, made with the openssl command), and checks the
server as a module must:

- the right certificate (trusted with --ca): the image downloads, installs and runs, by
  IP literal (127.0.0.1) and by name (localhost, looked up); KEY mode with an https://
  --server too;
- a certificate for another name, an expired one, one from a CA the module does not
  trust (the system's bundle without --ca, or another CA given with --ca), a server that
  speaks only TLS 1.0/1.1: each ends the attempt at once with -1002 (no retry), nothing
  is staged, no HTTP request reaches the server;
- plain http:// still works with --ca given;
- a download ended in the middle (AT+CFUN=0) goes on over TLS with a Range request (206);
- a --ca file that cannot be read, or holds no certificate, stops fotad at start.

Every server listens on 127.0.0.1 at a port chosen free at run time; every wait is bounded."""
import os
import shutil
import subprocess
import tempfile
import unittest

from fotalib import prog
import nginx
import testca
import test_download as td
from relay import Relay

V1, V2 = td.V1, td.V2


@unittest.skipUnless(nginx.available() and testca.available(),
                     "nginx or openssl is not installed (scripts/install-deps)")
class TlsTest(td.Base):
    @classmethod
    def setUpClass(cls):
        cls.cadir = tempfile.mkdtemp(prefix="fota-tls-ca-")
        cls.certs = testca.standard(cls.cadir)
        cls.ca = cls.certs["ca_crt"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cadir, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.www = os.path.join(self.dir, "www")
        os.mkdir(self.www)
        self.size = os.path.getsize(td.pack(os.path.join(self.www, "fw.fota"), V2, 300000))
        self.servers = []

    def tearDown(self):
        for ng in self.servers:
            ng.cleanup()
        super().tearDown()

    def serve(self, cert="good", **kw):
        c = self.certs[cert] if cert else None
        ng = nginx.Nginx(self.www, cert=c and c.crt, key=c and c.key, **kw).start()
        self.servers.append(ng)
        return ng

    def upgrade(self, m, url, start=None):
        """Sets URL, sends AT+UPGRADE, checks the whole sequence up to the new version."""
        self.assertIn("OK", m.at('AT+UPGRADE="URL","%s"' % url))
        start = len(m.out) if start is None else start
        self.assertIn("OK", m.at("AT+UPGRADE"))
        self.assert_upgrade_sequence(m, V2, 0, start=start)
        self.assertEqual(m.version(), V2)

    def refused(self, m, ng):
        """AT+UPGRADE on fw.fota of ng, through a relay that counts connections, ends with
        -1002 after one connection: no retry, no request, nothing staged (a reboot
        installs nothing)."""
        with Relay(ng.port) as r:
            m.at('AT+UPGRADE="URL","https://127.0.0.1:%d/fw.fota"' % r.port)
            mark = len(m.out)
            self.assertIn("OK", m.at("AT+UPGRADE"))
            # The URC first: AT+UPGRADE? may still say the last attempt's result (kept in
            # NV by a module of the same state before).
            self.assertTrue(m._wait(lambda t: "+UPGRADEIND: -1002\r\n" in t[mark:], 15))
            self.assertEqual(m.status(), "2,-1002,0,0")
            self.assertEqual(len(r.conns), 1, "not retried: a bad certificate stays bad")
        self.assertEqual([p for p in td.percents(m.text(mark)) if p < 0], [-1002])
        self.assertIn("TLS: ", m.logtext())  # fotad says why
        self.assertEqual(ng.log(), [], "no HTTP request got through")
        self.assertEqual(m.stop(), 0, "a clean exit (under ASan: nothing leaked)")
        m2 = self.module()
        self.assertEqual(m2.version(), V1)
        self.assertNotIn("UPGRADE", m2.text(), "nothing staged")
        return m2

    def test_good_certificate_by_ip_literal_downloads_and_installs(self):
        ng = self.serve()
        m = self.module("--ca", self.ca)
        self.upgrade(m, ng.url("fw.fota"))
        self.assertEqual(m.status(), "2,0,200,0")
        log = ng.wait_log(1)
        self.assertEqual([(e["status"], e["bytes"]) for e in log], [(200, self.size)])
        self.assertEqual(m.stop(), 0, "a clean exit (under ASan: nothing leaked)")

    def test_good_certificate_by_name_downloads_and_installs(self):
        ng = self.serve()
        m = self.module("--ca", self.ca)
        self.upgrade(m, ng.url("fw.fota", host="localhost"))
        self.assertEqual(m.status(), "2,0,200,0")

    def test_certificate_chain_longer_than_the_fragment_length_still_connects(self):
        # A leaf with 300 names: the Certificate message is over 4096 bytes, so nginx
        # (OpenSSL honours max_fragment_length) splits it over records, which mbedTLS 2.28
        # cannot join: the port connects again asking for bigger records, unseen by the
        # agent (one attempt, one request).
        names = ["localhost"] + ["n%03d.openfota.example" % i for i in range(300)]
        big = self.certs["ca"].issue("big", dns=names, ips=["127.0.0.1"])
        self.assertGreater(os.path.getsize(big.leaf), 4096 * 4 // 3)  # base64 of > 4 KiB
        ng = nginx.Nginx(self.www, cert=big.crt, key=big.key).start()
        self.servers.append(ng)
        m = self.module("--ca", self.ca)
        self.upgrade(m, ng.url("fw.fota"))
        self.assertEqual(m.status(), "2,0,200,0")
        self.assertEqual([e["status"] for e in ng.wait_log(1)], [200])

    def test_key_mode_with_an_https_server(self):
        # nginx answers the KEY check with the image itself (a 200 with the image is an
        # offer), then the report of the new version with the same 200.
        ng = self.serve(extra="location = /api/site/firmware_upgrade "
                              "{ alias %s/fw.fota; }" % self.www)
        m = self.module("--ca", self.ca, "--server", "https://127.0.0.1:%d" % ng.port)
        self.assertIn("OK", m.at('AT+UPGRADE="KEY","a1b2c3"'))
        self.assertIn("OK", m.at("AT+UPGRADE"))
        self.assert_upgrade_sequence(m, V2, 1)
        log = ng.wait_log(2)
        self.assertEqual([(e["uri"], e["status"]) for e in log],
                         [("/api/site/firmware_upgrade", 200)] * 2)

    def test_certificate_for_another_name_is_refused(self):
        ng = self.serve("other_name")
        m = self.module("--ca", self.ca)
        self.refused(m, ng)

    def test_expired_certificate_is_refused(self):
        ng = self.serve("expired")
        m = self.module("--ca", self.ca)
        self.refused(m, ng)

    def test_unknown_ca_is_refused(self):
        ng = self.serve()
        m = self.module()  # the system's CA bundle: the test CA is not in it
        m = self.refused(m, ng)
        m.stop()
        ng2 = self.serve("foreign")  # signed by a CA other than the one given
        m = self.module("--ca", self.ca)
        self.refused(m, ng2)

    def test_server_with_tls_before_1_2_only_is_refused(self):
        try:
            ng = self.serve(tls_protocols="TLSv1 TLSv1.1",
                            extra="ssl_ciphers DEFAULT@SECLEVEL=0;")
        except RuntimeError as e:
            self.skipTest("this nginx cannot serve TLS 1.1: %s" % e)
        m = self.module("--ca", self.ca)
        self.refused(m, ng)

    def test_plain_http_still_works_with_ca_given(self):
        ng = self.serve(cert=None)
        m = self.module("--ca", self.ca)
        self.assertTrue(ng.url("fw.fota").startswith("http://"))
        self.upgrade(m, ng.url("fw.fota"))
        self.assertEqual(m.status(), "2,0,200,0")

    def test_download_ended_midway_resumes_over_tls_with_range(self):
        ng = self.serve(limit_rate="100k")
        m = self.module("--ca", self.ca)
        self.radio_off_then_resume(m, ng, self.size)


class CaOptionTest(unittest.TestCase):
    def fotad(self, ca):
        d = tempfile.mkdtemp(prefix="fota-tls-")
        try:
            return subprocess.run([prog("fotad"), "--state", os.path.join(d, "m"), "--ca", ca,
                                   "--at", "stdio"], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=10)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_unreadable_or_empty_ca_file_stops_fotad(self):
        r = self.fotad("/nonexistent/ca.pem")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"--ca /nonexistent/ca.pem: No such file or directory", r.stderr)
        with tempfile.NamedTemporaryFile(suffix=".pem") as f:
            f.write(b"not a certificate\n")
            f.flush()
            r = self.fotad(f.name)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"no certificate in it", r.stderr)


if __name__ == "__main__":
    unittest.main()
