"""fota-server behind nginx terminating TLS (docs/server.md, "Behind nginx with TLS"), and
its limit on failed admin logins:

- fota-server on loopback with --trust-proxy 127.0.0.1/32, a private nginx (nginx.py) with
  a certificate of a throw-away CA (testca.py) proxying to it with X-Forwarded-For
  $proxy_add_x_forwarded_for and X-Forwarded-Proto $scheme: the admin API works over
  https (a project, an upload, listings); the access log shows the client's address
  (each test client connects from its own 127.0.0.x address), not nginx's, and not what the
  client wrote in its own X-Forwarded-For;
- failed logins: 5 are answered 401, then 429 with Retry-After, growing; keyed on the real
  client (a forged X-Forwarded-For does not dodge it, another client is not held back);
  a success resets it;
- the same headers sent straight to a server that does not trust the peer (--trust-proxy
  10.0.0.0/8) are ignored, for the log and the limit alike;
- the token is never logged, also when a client puts it in the query string.

Every process runs on 127.0.0.1 at a free port; every wait is bounded."""
import http.client
import os
import re
import shutil
import ssl
import tempfile
import time
import unittest

import nginx
import serverlib
import testca
from serverlib import FotaServer, pack, query

NAME = "AirM2M_780E_LTE_AT"
V2 = "AirM2M_780E_V1147_LTE_AT"


def proxy_conf(port):
    """The server block's directives of docs/server.md's sample, for the tests."""
    return """
        client_max_body_size 64m;
        location / {
            proxy_pass http://127.0.0.1:%d;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 60s;
        }
""" % port


def log_lines(srv, path):
    """The access-log lines of srv for requests to path (exactly), as (addr, status)."""
    out = []
    for line in srv.log().splitlines():
        m = re.match(r'^(\S+) "\S+ (\S+)" (\d+) \d+ \d+$', line)
        if m and m.group(2) == path:
            out.append((m.group(1), int(m.group(3))))
    return out


class ProxyCase(unittest.TestCase):
    trust = "127.0.0.1/32"
    with_nginx = True

    @classmethod
    def setUpClass(cls):
        if not serverlib.available():
            raise unittest.SkipTest("build/bin/fota-server is missing (make)")
        if cls.with_nginx and not (nginx.available() and testca.available()):
            raise unittest.SkipTest("nginx or openssl is missing (scripts/install-deps)")
        cls.tmp = tempfile.mkdtemp(prefix="fota-proxy-")
        cls.srv = FotaServer(extra=["--trust-proxy", cls.trust])
        cls.ng = cls.ca = None
        try:
            cls.srv.start()
            if cls.with_nginx:
                cls.ca = testca.TestCA(os.path.join(cls.tmp, "ca"))
                cert = cls.ca.issue("proxy", dns=["localhost"], ips=["127.0.0.1"])
                www = os.path.join(cls.tmp, "www")
                os.mkdir(www)
                cls.ng = nginx.Nginx(www, cert=cert.crt, key=cert.key,
                                     extra=proxy_conf(cls.srv.port)).start()
                cls.ctx = ssl.create_default_context(cafile=cls.ca.crt)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.ng:
            cls.ng.cleanup()
        cls.srv.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if cls.srv.sanitizer_errors():
            raise AssertionError("sanitizer: %s" % "\n".join(cls.srv.sanitizer_errors()))

    def https(self, method, path, body=None, headers=None, source="127.0.0.1", token=None):
        """One request through nginx over TLS, from the local address source; with token
        (True: the right one) an Authorization header."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.ng.port, timeout=30,
                                           context=self.ctx, source_address=(source, 0))
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "Bearer " + (self.srv.token if token is True else token)
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return serverlib.Response(r.status, r.reason, r.headers, r.read())
        finally:
            conn.close()

    def wait_log(self, path, count=1, timeout=5):
        """The access-log lines for path once there are count (a line is written when the
        request is over, a moment after the client has the answer)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = log_lines(self.srv, path)
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def assert_token_never_logged(self):
        self.assertNotIn(self.srv.token, self.srv.log(), "the admin token is never logged")


class BehindNginxTest(ProxyCase):
    def test_admin_api_over_https_through_nginx(self):
        r = self.https("POST", "/api/v1/projects", b'{"name":"behind nginx"}', token=True)
        self.assertEqual(r.status, 201, r)
        key = r.json()["key"]
        self.assertEqual(r.headers["Location"], "/api/v1/projects/" + key)
        path = os.path.join(self.tmp, "v2.fota")
        data = pack(path, V2, 300000)
        r = self.https("POST", "/api/v1/projects/%s/firmware?%s" % (key, query(name=NAME,
                                                                                 version=V2)),
                       data, {"Content-Type": "application/octet-stream"}, token=True)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["size"], len(data))
        r = self.https("GET", "/api/v1/projects/%s/firmware" % key, token=True)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([f["version"] for f in r.json()], [V2])
        # The device API through the same proxy, image and all.
        r = self.https("GET", serverlib.DEVICE_PATH + "?" + query(
            project_key=key, imei="864000000000099", firmware_name=NAME, version="1"))
        self.assertEqual((r.status, r.body), (200, data))
        self.assert_token_never_logged()

    def test_the_access_log_shows_the_client_not_the_proxy(self):
        r = self.https("GET", "/healthz?who=five", source="127.0.0.5")
        self.assertEqual(r.status, 200, r)
        # What the client writes in its own X-Forwarded-For is left of what nginx appends:
        # not believed.
        r = self.https("GET", "/healthz?who=forged", source="127.0.0.5",
                       headers={"X-Forwarded-For": "203.0.113.9"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.wait_log("/healthz?who=five"), [("127.0.0.5", 200)])
        self.assertEqual(self.wait_log("/healthz?who=forged"), [("127.0.0.5", 200)])
        self.assertNotIn("203.0.113.9", self.srv.log())

    def test_headers_from_an_untrusted_peer_are_ignored(self):
        # Straight to the server from 127.0.0.11, which is not a trusted proxy.
        r = self.srv.request("GET", "/healthz?who=direct", source="127.0.0.11",
                             headers={"X-Forwarded-For": "203.0.113.10",
                                      "X-Forwarded-Proto": "https"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.wait_log("/healthz?who=direct"), [("127.0.0.11", 200)])
        # From the trusted address itself, a malformed header: the peer is kept.
        r = self.srv.request("GET", "/healthz?who=garbage",
                             headers={"X-Forwarded-For": "203.0.113.11, not-an-address"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.wait_log("/healthz?who=garbage"), [("127.0.0.1", 200)])
        # From the trusted address, a good one: believed (this is how nginx is seen).
        r = self.srv.request("GET", "/healthz?who=trusted",
                             headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.12"})
        self.assertEqual(self.wait_log("/healthz?who=trusted"), [("203.0.113.12", 200)])

    def test_failed_logins_are_slowed_down_per_real_client(self):
        bad, slow, other = "wrong-" + self.srv.token[:4], "127.0.0.6", "127.0.0.7"
        for i in range(5):
            r = self.https("GET", "/api/v1/projects", source=slow, token=bad,
                           headers={"X-Forwarded-For": "198.51.100.%d" % i})
            self.assertEqual(r.status, 401, r)
            self.assertEqual(r.headers.get("WWW-Authenticate"), 'Bearer realm="fota"')
        self.assertEqual(r.headers.get("Retry-After"), "1", "the 5th failure starts a block")
        # Held back, whatever it claims to be, even with the right token.
        for hdrs in ({}, {"X-Forwarded-For": "198.51.100.77"}, {"X-Real-IP": "198.51.100.78"}):
            r = self.https("GET", "/api/v1/projects", source=slow, token=True, headers=hdrs)
            self.assertEqual(r.status, 429, r)
            self.assertEqual(r.headers.get("Retry-After"), "1")
            self.assertIn("too many failed authentications", r.json()["error"])
        # Another client is not.
        self.assertEqual(self.https("GET", "/api/v1/projects", source=other,
                                    token=bad).status, 401)
        self.assertEqual(self.https("GET", "/api/v1/projects", source=other,
                                    token=True).status, 200)
        # After the block, one more try; failing doubles the block.
        time.sleep(1.1)
        r = self.https("GET", "/api/v1/projects", source=slow, token=bad)
        self.assertEqual((r.status, r.headers.get("Retry-After")), (401, "2"))
        r = self.https("GET", "/api/v1/projects", source=slow, token=True)
        self.assertEqual((r.status, r.headers.get("Retry-After")), (429, "2"))
        # A success after the block forgets the failures.
        time.sleep(2.1)
        self.assertEqual(self.https("GET", "/api/v1/projects", source=slow,
                                    token=True).status, 200)
        r = self.https("GET", "/api/v1/projects", source=slow, token=bad)
        self.assertEqual(r.status, 401)
        self.assertIsNone(r.headers.get("Retry-After"))
        log = self.srv.log()
        self.assertRegex(log, r"fota-server: admin API: 5 failed authentications in a row "
                              r"from 127\.0\.0\.6 \(https\)")
        self.assertNotIn("198.51.100.", log)
        statuses = [s for a, s in log_lines(self.srv, "/api/v1/projects") if a == slow]
        self.assertEqual(statuses.count(429), 4, statuses)
        self.assert_token_never_logged()

    def test_a_token_in_the_query_is_not_logged(self):
        tok = self.srv.token
        path = "/api/v1/projects?token=%s&access_token=%s&x=1" % (tok, tok)
        r = self.https("GET", path, source="127.0.0.12", token=True)
        self.assertEqual(r.status, 200, r)
        r = self.srv.request("GET", "/healthz?admin_token=" + tok, source="127.0.0.12")
        self.assertEqual(r.status, 200)
        lines = self.wait_log("/api/v1/projects?token=REDACTED&access_token=REDACTED&x=1")
        self.assertEqual(lines, [("127.0.0.12", 200)])
        self.assertEqual(self.wait_log("/healthz?admin_token=REDACTED"), [("127.0.0.12", 200)])
        self.assert_token_never_logged()
        with open(self.ng.access_log) as f:
            self.assertNotIn(tok, f.read(), "nor in nginx's log (it logs $uri)")


class UntrustedPeerTest(ProxyCase):
    """A server that trusts 10.0.0.0/8 only: loopback clients are taken at their word for
    nothing."""
    trust = "10.0.0.0/8, 192.168.0.0/16"
    with_nginx = False

    def test_forwarded_headers_are_ignored(self):
        r = self.srv.request("GET", "/healthz?who=spoof", source="127.0.0.20",
                             headers={"X-Forwarded-For": "10.1.1.1, 203.0.113.20"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.wait_log("/healthz?who=spoof"), [("127.0.0.20", 200)])

    def test_the_limit_keys_on_the_peer(self):
        for i in range(5):
            r = self.srv.admin("GET", "/projects", token="nope", source="127.0.0.21",
                               headers={"X-Forwarded-For": "203.0.113.%d" % (30 + i)})
            self.assertEqual(r.status, 401, r)
        r = self.srv.admin("GET", "/projects", source="127.0.0.21",
                           headers={"X-Forwarded-For": "203.0.113.99"})
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.headers.get("Retry-After"), "1")
        self.assertEqual(self.srv.admin("GET", "/projects", source="127.0.0.22").status, 200)
        self.assertRegex(self.srv.log(), r"5 failed authentications in a row from 127\.0\.0\.21:")
        self.assert_token_never_logged()


if __name__ == "__main__":
    unittest.main()
