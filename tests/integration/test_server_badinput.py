"""fota-server and bad input (docs/server-api.md, "Bad input"): each gets a clear 4xx or a
closed connection, and the server goes on serving everyone else.

- a query string over 2 KiB, a header block over 8 KiB (and just under: served);
- invalid UTF-8 and control characters in each parameter of the device API, in the
  admin API's query and in JSON strings;
- SQL in every parameter is data: a project named "x'); DROP TABLE projects;--" is stored
  and listed as such, and nothing else changes;
- path tricks ("..", "%2e%2e", "/", NUL) in names, ids and IMEIs; nothing is written
  outside the data folder;
- a JSON body over 64 KiB: 413 (and just under: served); a Content-Length over a limit
  (JSON, --max-firmware): 413 or a close at once, without waiting for the body;
- malformed requests (request line, percent-encoding, Content-Length);
- slow clients sending a byte a second while the others' requests stay quick (about 5 s);
- after each test the server still answers /healthz.

One server on 127.0.0.1 at a free port; every socket has a timeout; every loop a bound."""
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

from serverlib import (pack, query, start_class_server, stop_class_server,
                       DEVICE_PATH)

NAME = "AirM2M_780E_LTE_AT"
V1 = "AirM2M_780E_V1121_LTE_AT"
V2 = "AirM2M_780E_V1147_LTE_AT"
IMEI = "864000000000057"     # the device the server must go on answering (tearDown)
OTHER_IMEI = "864000000000065"  # the bad requests' device, so a lax answer cannot ban IMEI
SQL_IMEI = "864000000000073"

# Percent-encoded bytes that are not valid UTF-8, or are control characters.
BAD_UTF8 = ["%FF", "%C3%28", "%E2%82", "%ED%A0%80", "%C0%AF", "%F8%88%80%80%80"]
CONTROL = ["%00", "%01", "%0A", "%0D", "%1B", "%7F", "a%09b"]
SQL = ["x'); DROP TABLE projects;--", "' OR '1'='1", "1; DELETE FROM devices",
       '" OR ""="', "x' UNION SELECT key,name FROM projects--", "%", "_", "a' --"]


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fota-bad-")
        cls.v2 = os.path.join(cls.tmp, "v2.fota")
        cls.v2_data = pack(cls.v2, V2, 20000)
        def prepare():
            cls.key = cls.srv.project("main")["key"]
            cls.fw = cls.srv.upload(cls.key, cls.v2, NAME, V2)
            r = cls.srv.check(cls.key, IMEI, NAME, V2)
            assert r.status == 409, r
        start_class_server(cls, prepare)

    @classmethod
    def tearDownClass(cls):
        stop_class_server(cls)

    def tearDown(self):
        # The server goes on: alive, healthy, and its data as it was.
        self.assertTrue(self.srv.alive(), "fota-server died:\n" + self.srv.log()[-2000:])
        self.srv.admin("PUT", "/projects/%s/firmware/%d/devices" % (self.key, self.fw["id"]),
                       [])  # whatever a failed test left
        self.assertEqual(self.srv.request("GET", "/healthz", timeout=5).status, 200)
        self.assertEqual(self.srv.firmware(self.key), [self.fw])
        self.assertEqual(self.srv.check(self.key, IMEI, NAME, V2).status, 409)

    # --- helpers -------------------------------------------------------------------
    def raw(self, data, timeout=5):
        """Sends raw bytes on a new connection; returns (status or None if closed with no
        answer, the bytes received)."""
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=timeout)
        got = b""
        try:
            try:
                s.sendall(data)
            except OSError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except OSError:
                    break
                if not chunk:
                    break
                got += chunk
                head, sep, body = got.partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"(?im)^content-length: *(\d+)", head)
                    if m and len(body) >= int(m.group(1)):
                        break
        finally:
            s.close()
        m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
        return (int(m.group(1)) if m else None), got

    def assert_4xx_or_closed(self, status, what):
        self.assertTrue(status is None or 400 <= status < 500,
                        "%s: %r (want a 4xx or a closed connection)" % (what, status))

    def assert_4xx(self, r, what=""):
        self.assertTrue(400 <= r.status < 500, "%s: %r" % (what, r))
        if r.body and "json" in (r.headers.get("Content-Type") or ""):
            json.loads(r.body)  # a clear answer: whole JSON

    def device_params(self, **over):
        p = {"project_key": self.key, "imei": OTHER_IMEI, "firmware_name": NAME,
             "version": V1}
        p.update(over)
        return p

    def device_get(self, params):
        """params: [(name, already-encoded value)] or a dict of raw values."""
        if isinstance(params, dict):
            qs = query(**params)
        else:
            qs = "&".join("%s=%s" % kv for kv in params)
        return self.srv.request("GET", DEVICE_PATH + "?" + qs)

    # --- sizes ---------------------------------------------------------------------
    def test_query_string_over_2_kib(self):
        base = query(**self.device_params(version=V2))
        under = base + "&pad=" + "a" * (1900 - len(base))
        self.assertLess(len(under), 2048)
        self.assertEqual(self.srv.request("GET", DEVICE_PATH + "?" + under).status, 409,
                         "a query just under 2 KiB is served")
        for n in (2100, 4096, 16384, 100000):
            with self.subTest(length=n):
                q = base + "&pad=" + "a" * (n - len(base))
                status, _ = self.raw(("GET %s?%s HTTP/1.1\r\nHost: x\r\nConnection: close"
                                      "\r\n\r\n" % (DEVICE_PATH, q)).encode())
                self.assert_4xx_or_closed(status, "query of %d bytes" % n)
        status, _ = self.raw(("GET %s?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (
            DEVICE_PATH, query(**self.device_params(imei="8" * 3000)))).encode())
        self.assert_4xx_or_closed(status, "a 3000-digit imei")
        status, _ = self.raw(("GET /api/v1/projects?%s HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: Bearer %s\r\nConnection: close\r\n\r\n" % (
                                  "a" * 3000, self.srv.token)).encode())
        self.assert_4xx_or_closed(status, "admin query of 3000 bytes")

    def test_header_block_over_8_kib(self):
        qs = query(**self.device_params(version=V2))
        ok = "".join("X-Pad-%d: %s\r\n" % (i, "b" * 90) for i in range(60))  # ~6 KiB
        status, _ = self.raw(("GET %s?%s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n" % (
            DEVICE_PATH, qs, ok)).encode())
        self.assertEqual(status, 409, "a header block of about 6 KiB is served")
        for what, hdrs in (("one long header", "X-Pad: " + "c" * 9000 + "\r\n"),
                           ("many headers", "".join("X-Pad-%d: %s\r\n" % (i, "d" * 90)
                                                    for i in range(100))),
                           ("huge", "X-Pad: " + "e" * 200000 + "\r\n"),
                           ("long Authorization", "Authorization: Bearer " + "f" * 9000 +
                            "\r\n")):
            with self.subTest(what):
                status, _ = self.raw(("GET %s?%s HTTP/1.1\r\nHost: x\r\n%s"
                                      "Connection: close\r\n\r\n" % (DEVICE_PATH, qs, hdrs)
                                      ).encode())
                self.assert_4xx_or_closed(status, what)

    def test_json_body_over_64_kib_is_413(self):
        url_devices = "/projects/%s/firmware/%d/devices" % (self.key, self.fw["id"])
        imeis = ["86%013d" % i for i in range(3000)]  # 18 bytes each: about 54 KB
        body = json.dumps(imeis).encode()
        self.assertLess(len(body), 65536)
        r = self.srv.admin("PUT", url_devices, raw=body)
        self.assertEqual(r.status, 200, "a JSON body under 64 KiB is served: %r" % r)
        self.assertEqual(len(r.json()["devices"]), 3000)
        big = json.dumps(["86%013d" % i for i in range(4000)]).encode()  # about 72 KB
        self.assertGreater(len(big), 65536)
        for method, path, raw in (
                ("PUT", url_devices, big),
                ("POST", "/projects", json.dumps({"name": "too-big", "pad": "p" * 70000}
                                                 ).encode()),
                ("POST", "/projects", json.dumps({"name": "y" * 70000}).encode()),
                ("PATCH", "/projects/%s/firmware/%d" % (self.key, self.fw["id"]),
                 json.dumps({"enabled": True, "pad": "p" * 70000}).encode()),
                ("POST", "/projects", b" " * 65537 + b'{"name":"too-big"}')):
            with self.subTest(method=method, path=path, size=len(raw)):
                r = self.srv.admin(method, path, raw=raw)
                self.assertEqual(r.status, 413, r)
                self.assertIn("error", r.json())
        self.assertEqual(len(self.srv.admin("GET", url_devices).json()["devices"]), 3000)
        self.srv.admin("PUT", url_devices, [])
        self.assertNotIn("too-big", [p["name"] for p in
                                     self.srv.admin("GET", "/projects").json()])

    def test_declared_oversized_body_answered_without_waiting_for_it(self):
        # A Content-Length over the limit is known from the header: 413 (or a close) at
        # once, not after the client sent it all (or the 30 s idle timeout).
        head = ("Authorization: Bearer %s\r\nContent-Length: %%d\r\nConnection: close"
                "\r\n\r\n" % self.srv.token)
        for what, start, length in (
                ("JSON 64 KiB + 1", "POST /api/v1/projects HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: application/json\r\n", 65537),
                ("JSON 100 MiB", "POST /api/v1/projects HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: application/json\r\n", 100 << 20),
                ("firmware --max-firmware + 1", "POST /api/v1/projects/%s/firmware?%s "
                 "HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n" % (
                     self.key, query(name=NAME, version="AirM2M_780E_V1150_LTE_AT")),
                 (64 << 20) + 1)):
            with self.subTest(what):
                t0 = time.monotonic()
                status, got = self.raw((start + head % length).encode(), timeout=3)
                took = time.monotonic() - t0
                self.assertIn(status, (413, None), got[:200])
                self.assertLess(took, 2.5, "%s: no answer for %.1f s: it waits for the body" %
                                (what, took))

    # --- characters ------------------------------------------------------------------
    def test_invalid_utf8_and_control_characters_in_device_parameters(self):
        for param in ("project_key", "imei", "firmware_name", "version", "mac", "uid"):
            for bad in BAD_UTF8 + CONTROL:
                with self.subTest(param=param, value=bad):
                    p = {k: urllib.parse.quote(v, safe="")
                         for k, v in self.device_params().items()}
                    if param in ("mac", "uid"):
                        del p["imei"]
                        p[param] = "A0B1C2" + bad
                    else:
                        p[param] = p[param] + bad  # a lax server would offer V2 (200)
                    r = self.device_get(list(p.items()))
                    self.assert_4xx(r, "%s=%s" % (param, bad))
                    self.assertNotEqual(r.status, 200)
        # No device of a bad id appeared.
        self.assertLessEqual({d["imei"] for d in self.srv.devices(self.key)},
                             {IMEI, OTHER_IMEI})

    def test_invalid_utf8_and_control_characters_in_admin_query_and_json(self):
        for bad in BAD_UTF8 + CONTROL:
            with self.subTest(where="upload query", value=bad):
                r = self.srv.admin("POST", "/projects/%s/firmware?name=%s&version=%s%s" % (
                    self.key, NAME, "AirM2M_780E_V1150_LTE_AT", bad), raw=self.v2_data,
                    ctype="application/octet-stream")
                self.assert_4xx(r)
                r = self.srv.admin("POST", "/projects/%s/firmware?name=%s&version=%s&"
                                   "enabled=1%s" % (self.key, NAME, V2, bad),
                                   raw=self.v2_data, ctype="application/octet-stream")
                self.assert_4xx(r)
        names = {}
        for raw in (b'{"name":"\xff\xfe"}', b'{"name":"a\xc3\x28b"}', b'{"name":"\xed\xa0\x80"}',
                    b'{"name":"\xc0\xaf"}', b'{"name":"\\ud800"}', b'{"name":"x\\udc00y"}',
                    b'{"name":"\\u0000"}', b'{"name":"a\\u0001b"}', b'{"name":"a\\nb"}',
                    b'{"name":"a\\rb"}', b'{"name":"a\\u007fb"}', b'{"name":"a\x01b"}',
                    b'{"name":"a\tb"}', b'{"name":"a\\u001bb"}',
                    b'\xef\xbb\xbf{"name":"\xff"}'):
            with self.subTest(where="project name", body=raw):
                r = self.srv.admin("POST", "/projects", raw=raw)
                self.assert_4xx(r)
                if r.status == 201:
                    names[raw] = r.json()
        url = "/projects/%s/firmware/%d/devices" % (self.key, self.fw["id"])
        for raw in (b'["\xff"]', b'["86400000\\u0000"]', b'["864\\n"]', b'["\\ud800"]',
                    b'["864\x01"]'):
            with self.subTest(where="upgrade list", body=raw):
                self.assert_4xx(self.srv.admin("PUT", url, raw=raw))
        self.assertEqual(self.srv.admin("GET", url).json(), {"devices": []})
        for raw in (b'{"enabled":true,"\xff":1}', b'{"\\u0000":true}'):
            with self.subTest(where="PATCH keys", body=raw):
                r = self.srv.admin("PATCH", "/projects/%s/firmware/%d" % (
                    self.key, self.fw["id"]), raw=raw)
                self.assertIn(r.status, (200, 400), r)  # unknown keys: ignored or refused
        self.srv.admin("PATCH", "/projects/%s/firmware/%d" % (self.key, self.fw["id"]),
                       {"enabled": True, "all_devices": True})
        listed = [p["name"] for p in self.srv.admin("GET", "/projects").json()]
        self.assertFalse([n for n in listed if any(ord(c) < 32 or ord(c) == 127 for c in n)],
                         listed)

    # --- SQL ---------------------------------------------------------------------------
    def test_sql_in_every_parameter_is_data(self):
        projects_before = self.srv.admin("GET", "/projects").json()
        made = {}
        for name in SQL:
            with self.subTest(project_name=name):
                r = self.srv.admin("POST", "/projects", {"name": name})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json()["name"], name)
                made[r.json()["key"]] = name
        listed = {p["key"]: p["name"] for p in self.srv.admin("GET", "/projects").json()}
        for key, name in made.items():
            self.assertEqual(listed.get(key), name, "stored and listed literally")
            self.assertEqual(self.srv.admin("GET", "/projects/" + key).json()["name"], name)
        for p in projects_before:
            self.assertEqual(listed.get(p["key"]), p["name"])
        self.assertEqual(len(listed), len(projects_before) + len(SQL))
        # The device API: each parameter.
        for s in SQL:
            with self.subTest(param="project_key", value=s):
                r = self.srv.check(s, IMEI, NAME, V1)
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.json()["code"], 25)
            with self.subTest(param="firmware_name", value=s):
                r = self.srv.check(self.key, IMEI, s, V1)
                self.assertTrue(400 <= r.status < 500 and r.status != 403, r)
            with self.subTest(param="version", value=s):
                r = self.srv.check(self.key, SQL_IMEI, NAME, s)
                self.assertTrue(r.status in (200, 409) or 400 <= r.status < 500, r)
            with self.subTest(param="imei", value=s):
                r = self.srv.check(self.key, s, NAME, V2)
                self.assertTrue(r.status == 409 or 400 <= r.status < 500, r)
            for extra in ("device_key", "core_version", "dfota", "need_oss_url"):
                with self.subTest(param=extra, value=s):
                    r = self.srv.check(self.key, IMEI, NAME, V2, **{extra: s})
                    self.assertEqual(r.status, 409, r)
        # IMEIs with SQL that were accepted are devices of that exact id.
        ids = {d["imei"] for d in self.srv.devices(self.key)}
        self.assertTrue(ids <= {IMEI, SQL_IMEI, OTHER_IMEI} | set(SQL), ids)
        for key in made:
            self.assertEqual(self.srv.devices(key), [], "no device leaked into %s" % key)
        # The admin API's paths and bodies.
        for s in SQL:
            q = urllib.parse.quote(s, safe="")
            with self.subTest(path_key=s):
                self.assertIn(self.srv.admin("GET", "/projects/" + q).status, (400, 404))
                self.assertIn(self.srv.admin("GET", "/projects/%s/firmware" % q).status,
                              (400, 404))
                self.assertIn(self.srv.admin("DELETE", "/projects/" + q).status, (400, 404))
            with self.subTest(path_firmware=s):
                self.assertIn(self.srv.admin("DELETE", "/projects/%s/firmware/%s" % (
                    self.key, q)).status, (400, 404))
                self.assertIn(self.srv.admin("PATCH", "/projects/%s/firmware/%s" % (
                    self.key, q), {"enabled": False}).status, (400, 404))
            with self.subTest(path_imei=s):  # 200 only for a device of that exact id
                self.assertIn(self.srv.admin("POST", "/projects/%s/devices/%s/unban" % (
                    self.key, q)).status, (200,) if s in ids else (400, 404))
            with self.subTest(upload_query=s):
                r = self.srv.admin("POST", "/projects/%s/firmware?%s" % (
                    self.key, query(name=s, version=V2)), raw=self.v2_data,
                    ctype="application/octet-stream")
                self.assertEqual(r.status, 400, r)
        url = "/projects/%s/firmware/%d/devices" % (self.key, self.fw["id"])
        r = self.srv.admin("PUT", url, SQL[:4])
        if r.status == 200:
            self.assertEqual(sorted(r.json()["devices"]), sorted(SQL[:4]))
            self.assertEqual(sorted(self.srv.admin("GET", url).json()["devices"]),
                             sorted(SQL[:4]))
        else:
            self.assert_4xx(r)
        self.srv.admin("PUT", url, [])
        for key in made:
            self.assertEqual(self.srv.admin("DELETE", "/projects/" + key).status, 204)
        self.assertEqual(len(self.srv.admin("GET", "/projects").json()), len(projects_before))

    # --- paths -------------------------------------------------------------------------
    def test_path_tricks_in_names_ids_and_imeis(self):
        key, fid = self.key, self.fw["id"]
        for name in ("..", "../x", "../../etc/passwd", "a/b", "/", "x\u0000y", "..\\x"):
            with self.subTest(project_name=name):
                self.assert_4xx(self.srv.admin("POST", "/projects", {"name": name}))
        tricks = ["..", "%2e%2e", "%2E%2E", ".%2e", "..%2f..%2fetc%2fpasswd", "%2f",
                  "%00", "a%00b", "%2e%2e%2f%2e%2e", "..%5c..", "%252e%252e"]
        for t in tricks:
            for path in ("/projects/%s" % t, "/projects/%s/firmware" % t,
                         "/projects/%s/stats" % t, "/projects/%s/devices" % t,
                         "/projects/%s/firmware/%s" % (key, t),
                         "/projects/%s/firmware/%s/devices" % (key, t),
                         "/projects/%s/devices/%s/unban" % (key, t)):
                with self.subTest(path=path):
                    method = "PATCH" if re.search(r"/firmware/[^/]+$", path) else (
                        "POST" if path.endswith("/unban") else "GET")
                    r = self.srv.admin(method, path, {"enabled": False}
                                       if method == "PATCH" else None)
                    self.assert_4xx(r, path)
        for path in ("/api/v1/projects/%s/../%s" % (key, key), "/api/v1/../v1/projects",
                     "/api/v1//projects",
                     "/api/v1/projects/%s/firmware/%d/devices/../../%d" % (key, fid, fid),
                     "/api/site/../v1/projects", "/healthz/..", "/%2e%2e/healthz"):
            with self.subTest(raw_path=path):
                r = self.srv.request("GET", path, headers=self.srv.auth())
                self.assert_4xx(r, path)
        # Values as sent on the wire (percent-encoded).
        for imei in ("..", "..%2F..%2Fetc%2Fpasswd", "a%2Fb", "a/b", "%2F", "%2e%2e",
                     "%2E%2E", "x%00y", "%00", "..%5C..%5Cx", "../../x"):
            for param in ("imei", "mac", "uid"):
                with self.subTest(param=param, value=imei):
                    p = {k: urllib.parse.quote(v, safe="")
                         for k, v in self.device_params().items()}
                    del p["imei"]
                    p[param] = imei
                    r = self.device_get(list(p.items()))
                    self.assert_4xx(r, "%s=%r" % (param, imei))
        for name in ("..", "../" + NAME, NAME + "/..", "/etc/passwd", NAME + "\u0000"):
            with self.subTest(firmware_name=name):
                self.assert_4xx(self.device_get(self.device_params(firmware_name=name)))
        url = "/projects/%s/firmware/%d/devices" % (key, fid)
        for imei in ("..", "../x", "a/b", "x\u0000y"):
            with self.subTest(upgrade_list=imei):
                self.assert_4xx(self.srv.admin("PUT", url, [imei]))
        self.assertEqual(self.srv.admin("GET", url).json(), {"devices": []})
        self.assertLessEqual({d["imei"] for d in self.srv.devices(key)}, {IMEI, OTHER_IMEI})
        # Nothing was written outside the data folder.
        self.assertEqual(sorted(os.listdir(self.srv.tmp)), ["data", "stderr.log"])
        extra = [f for f in os.listdir(self.srv.data)
                 if f != "firmware" and not f.startswith("fota.db")]
        self.assertEqual(extra, [], "only the database and firmware/ in the data folder")
        self.assertEqual([f for f in os.listdir(os.path.join(self.srv.data, "firmware"))],
                         [self.fw["sha256"] + ".fota"])

    # --- malformed requests ----------------------------------------------------------
    def test_malformed_requests(self):
        qs = query(**self.device_params(version=V2))
        for what, data in (
                ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 50),
                ("no version", b"GET /healthz\r\n\r\n"),
                ("bad version", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"),
                ("bad percent", ("GET %s?%s&x=%%zz HTTP/1.1\r\nHost: x\r\nConnection: close"
                                 "\r\n\r\n" % (DEVICE_PATH, qs)).encode()),
                ("bad percent in key", ("GET %s?project_key=%%4&imei=%s HTTP/1.1\r\nHost: x\r\n"
                                        "Connection: close\r\n\r\n" % (DEVICE_PATH, IMEI)
                                        ).encode()),
                ("negative length", b"POST /api/v1/projects HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: -5\r\nConnection: close\r\n\r\n"),
                ("two lengths", ("POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: "
                                 "Bearer %s\r\nContent-Type: application/json\r\nContent-Length"
                                 ": 19\r\nContent-Length: 30\r\nConnection: close\r\n\r\n"
                                 '{"name":"smuggled"}' % self.srv.token).encode()),
                ("length not a number", b"POST /api/v1/projects HTTP/1.1\r\nHost: x\r\n"
                                        b"Content-Length: 1e3\r\nConnection: close\r\n\r\n"),
                ("header without colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColon\r\n"
                                         b"Connection: close\r\n\r\n"),
                ("NUL in the path", b"GET /healthz\0 HTTP/1.1\r\nHost: x\r\nConnection: "
                                    b"close\r\n\r\n"),
                ("control in the path", b"GET /heal\x01thz HTTP/1.1\r\nHost: x\r\n"
                                        b"Connection: close\r\n\r\n"),
                ("bare LF then close", b"GET /api/v1/projects HTTP/1.1\nHost: x\n\n")):
            with self.subTest(what):
                status, got = self.raw(data, timeout=1.5)
                if what == "bad version":  # RFC 9110: 505 is the answer
                    self.assertTrue(status in (None, 505) or 400 <= status < 500, got[:200])
                    continue
                self.assert_4xx_or_closed(status, what)
        for method in ("FOO", "CONNECT", "TRACE"):
            with self.subTest(method=method):
                status, got = self.raw(("%s /healthz HTTP/1.1\r\nHost: x\r\nConnection: close"
                                        "\r\n\r\n" % method).encode(), timeout=3)
                self.assertTrue(status is None or 400 <= status < 500 or status == 501,
                                got[:200])
        # Nothing was created by any of them.
        self.assertNotIn("smuggled", [p["name"] for p in
                                      self.srv.admin("GET", "/projects").json()])

    def test_control_bytes_in_the_method_are_escaped_in_the_log(self):
        """Found by fuzz_srv_req: libmicrohttpd takes any method bytes but SP, CR and LF,
        and the access log printed them as they came (a terminal escape, here)."""
        status, got = self.raw(b"G\x1b[31mT /healthz HTTP/1.1\r\nHost: x\r\nConnection: "
                               b"close\r\n\r\n", timeout=3)
        self.assertTrue(status is None or 400 <= status < 500 or status == 501, got[:200])
        deadline = time.monotonic() + 5
        while "31mT /healthz" not in self.srv.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = self.srv.log()
        self.assertIn("31mT /healthz", log)  # the request was logged...
        self.assertNotIn("\x1b", log)        # ...with its escape byte escaped

    # --- slow clients ------------------------------------------------------------------
    def test_slow_clients_do_not_hold_up_the_others(self):
        stop = threading.Event()
        slow = []
        request = ("GET %s?%s HTTP/1.1\r\nHost: x\r\n\r\n" % (
            DEVICE_PATH, query(**self.device_params(version=V2)))).encode()
        body = json.dumps({"name": "slow"}).encode()
        post = ("POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
                    self.srv.token, len(body))).encode()

        def trickle(data, skip=0):
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=2)
            slow.append(s)
            if skip:
                s.sendall(data[:skip])
            for i in range(skip, len(data)):
                if stop.wait(1.0):
                    return
                try:
                    s.sendall(data[i:i + 1])
                except OSError:
                    return  # closed by the server: fine
        threads = [threading.Thread(target=trickle, args=(request,), daemon=True),
                   threading.Thread(target=trickle, args=(request,), daemon=True),
                   threading.Thread(target=trickle, args=(post + body, len(post)),
                                    daemon=True),
                   threading.Thread(target=trickle, args=(b"",), daemon=True)]  # idle
        for t in threads:
            t.start()
        times = []
        try:
            t_end = time.monotonic() + 5
            while time.monotonic() < t_end:
                for fn in (lambda: self.srv.request("GET", "/healthz", timeout=3),
                           lambda: self.srv.check(self.key, IMEI, NAME, V2),
                           lambda: self.srv.admin("GET", "/projects/" + self.key, timeout=3)):
                    t0 = time.monotonic()
                    try:
                        r = fn()
                    except OSError as e:
                        self.fail("a request beside the slow clients: %r after %.1f s" % (
                            e, time.monotonic() - t0))
                    times.append(time.monotonic() - t0)
                    self.assertIn(r.status, (200, 409), r)
                time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join(3)
            for s in slow:
                s.close()
        times.sort()
        print("\n    %d requests beside 4 slow clients: median %.1f ms, max %.1f ms" % (
            len(times), 1000 * times[len(times) // 2], 1000 * times[-1]), file=sys.stderr)
        self.assertGreater(len(times), 30)
        self.assertLess(times[-1], 1.0, "each request answered quickly")
        self.assertNotIn("slow", [p["name"] for p in self.srv.admin("GET", "/projects").json()],
                         "the slow POST never completed")


if __name__ == "__main__":
    unittest.main()
