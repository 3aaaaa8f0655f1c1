"""fota-server, black box, against its contract docs/server-api.md:

- the admin API: every route, and each of its errors (401 without or with a wrong token,
  503 without a token configured, 400 malformed JSON / missing name / bad query, 404
  unknown project or firmware, 405, 409 duplicate version, 413 over --max-firmware, 415);
  the upload's checks (not an image, corrupt hash, header name/version other than the
  query's), PATCH, DELETE, the upgrade list, the devices, unban, stats; /healthz; /metrics
  has the named metrics and its counts go up;
- the device API: the decision order (3, 25, 17, 26, 40, 27, 200 with the newest greater
  version), parameters in any order, mac/uid for imei, extra ones ignored, the refusal
  bodies (ASCII JSON with \\u escapes), ETag / Last-Modified / Accept-Ranges, Range (206,
  416), If-Range, HEAD, a device checking in with the offered version counted as upgraded;
- the process: options (exit 2), SIGTERM (finishes a download under way, exit 0), the
  access log without the token, and an upload cut by kill -9 that leaves nothing behind.

Each server runs on 127.0.0.1 at a free port with a temp data folder; every wait is
bounded; every process is killed in tearDown(Class)."""
import email.utils
import glob
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import serverlib
from serverlib import (FotaServer, pack, query, start_class_server, stop_class_server,
                       DEVICE_PATH)

NAME = "AirM2M_780E_LTE_AT"
OTHER = "Other_Product_AT"
V1 = "AirM2M_780E_V1121_LTE_AT"
V2 = "AirM2M_780E_V1147_LTE_AT"
V3 = "AirM2M_780E_V1150_LTE_AT"
# The vendor's messages, as docs/server-api.md lists them.
MSG = {3: "无效的设备", 25: "无效的项目", 17: "无权限", 26: "无效的固件",
       40: "升级请求过于频繁", 27: "已是最新版本"}
STATUS = {3: 400, 25: 404, 17: 403, 26: 404, 40: 429, 27: 409}
RFC3339_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"
NO_KEY = "0" * 32
CURL = shutil.which("curl")

_imeis = itertools.count(1)


def new_imei():
    """A 15-digit IMEI no other test of this run uses."""
    return "86%06d%07d" % (os.getpid() % 1000000, next(_imeis))


_names = itertools.count(1)


def new_name(prefix="project"):
    return "%s-%d" % (prefix, next(_names))


class ServerCase(unittest.TestCase):
    """One server for the class; images packed once."""
    server_args = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fota-api-")
        cls.img = {}
        for tag, version, size, name in (("v1", V1, 20000, NAME), ("v2", V2, 30000, NAME),
                                         ("v3", V3, 40000, NAME),
                                         ("other", V2, 10000, OTHER)):
            path = os.path.join(cls.tmp, tag + ".fota")
            cls.img[tag] = (path, pack(path, version, size, name=name))
        start_class_server(cls, **cls.server_args)

    @classmethod
    def tearDownClass(cls):
        stop_class_server(cls)

    # --- helpers -------------------------------------------------------------------
    def project(self, *uploads):
        """A new project; uploads: image tags ("v2", ...) uploaded in order. Returns
        (key, [firmware, ...])."""
        key = self.srv.project(new_name())["key"]
        fws = []
        for tag in uploads:
            path, data = self.img[tag]
            name, version = (OTHER, V2) if tag == "other" else (NAME, {"v1": V1, "v2": V2,
                                                                     "v3": V3}[tag])
            fws.append(self.srv.upload(key, path, name, version))
        return key, fws

    def assert_refusal(self, r, code, method="GET"):
        """The device API's refusal: its status, JSON {"code","msg"} in ASCII."""
        self.assertEqual(r.status, STATUS[code], r)
        self.assertTrue((r.headers.get("Content-Type") or "").startswith("application/json"),
                        r.headers.get("Content-Type"))
        if method == "HEAD":
            self.assertEqual(r.body, b"")
            return
        self.assertTrue(all(b < 0x80 for b in r.body), "ASCII only: %r" % r.body)
        self.assertIn(b"\\u", r.body, "the message \\u-escaped")
        self.assertEqual(json.loads(r.body), {"code": code, "msg": MSG[code]})

    def assert_error(self, r, status):
        """The admin API's error: status and {"error":"<English sentence>"}."""
        self.assertEqual(r.status, status, r)
        self.assertTrue((r.headers.get("Content-Type") or "").startswith("application/json"),
                        "%r: %r" % (r, r.headers.get("Content-Type")))
        body = json.loads(r.body)
        self.assertIsInstance(body, dict, r)
        self.assertIsInstance(body.get("error"), str, r)
        self.assertTrue(body["error"] and body["error"].isascii(), r)

    def assert_image(self, r, tag, status=200):
        path, data = self.img[tag]
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.body, data, "the image %s whole" % tag)
        self.assertEqual(r.headers.get("Content-Type"), "application/octet-stream")
        self.assertEqual(r.headers.get("Content-Length"), str(len(data)))
        self.assertEqual(r.headers.get("ETag"),
                         '"%s"' % hashlib.sha256(data).hexdigest()[:32])
        self.assertEqual(r.headers.get("Accept-Ranges"), "bytes")
        self.assertIsNotNone(email.utils.parsedate_to_datetime(r.headers["Last-Modified"]))

    def curl(self, *args):
        if not CURL:
            self.skipTest("curl is not installed (scripts/install-deps)")
        p = subprocess.run([CURL, "-sS", "--max-time", "20", *args], capture_output=True,
                           timeout=30)
        return p

    def device(self, key, imei):
        devs = [d for d in self.srv.devices(key) if d["imei"] == imei]
        self.assertEqual(len(devs), 1, "device %s listed once: %r" % (imei, devs))
        return devs[0]

    def stat(self, key, fw_id, want=None, timeout=2):
        """The stat of a firmware. With want (a dict of fields): polled until it has
        those values, for up to timeout seconds (a download is counted as completed once
        its last byte was sent: the client may have it a moment before)."""
        deadline = time.monotonic() + timeout
        while True:
            st = [s for s in self.srv.stats(key) if s["firmware_id"] == fw_id]
            self.assertEqual(len(st), 1, st)
            if (not want or all(st[0][k] == v for k, v in want.items()) or
                    time.monotonic() > deadline):
                return st[0]
            time.sleep(0.02)


# ---- operations and the admin API --------------------------------------------------

class AdminTest(ServerCase):
    def test_healthz_without_token(self):
        r = self.srv.request("GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.strip(), b"ok")
        p = self.curl("-i", self.srv.url + "/healthz")
        self.assertRegex(p.stdout.decode(), r"^HTTP/1\.[01] 200")

    def test_401_without_or_with_a_wrong_token_on_every_route(self):
        key, (fw,) = self.project("v2")
        imei = new_imei()
        routes = [("POST", "/projects", b'{"name":"x"}'), ("GET", "/projects", None),
                  ("GET", "/projects/%s" % key, None), ("DELETE", "/projects/%s" % key, None),
                  ("POST", "/projects/%s/firmware?%s" % (key, query(name=NAME, version=V3)),
                   self.img["v3"][1]),
                  ("GET", "/projects/%s/firmware" % key, None),
                  ("PATCH", "/projects/%s/firmware/%d" % (key, fw["id"]), b'{"enabled":false}'),
                  ("DELETE", "/projects/%s/firmware/%d" % (key, fw["id"]), None),
                  ("PUT", "/projects/%s/firmware/%d/devices" % (key, fw["id"]), b'["1"]'),
                  ("GET", "/projects/%s/firmware/%d/devices" % (key, fw["id"]), None),
                  ("GET", "/projects/%s/devices" % key, None),
                  ("POST", "/projects/%s/devices/%s/unban" % (key, imei), None),
                  ("GET", "/projects/%s/stats" % key, None),
                  ("GET", "/projects/%s" % NO_KEY, None)]  # 401 before 404
        bad = [{}, {"Authorization": "Bearer " + self.srv.token + "x"},
               {"Authorization": "Bearer " + self.srv.token[:-1]},
               {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
               {"Authorization": "Basic " + self.srv.token},
               {"Authorization": self.srv.token}]
        # Each from another loopback address: more than 5 failures from one address would
        # be answered 429 (tests/integration/test_server_proxy.py tests that).
        sources = ("127.1.%d.%d" % (i // 200, i % 200 + 1) for i in itertools.count())
        for method, path, body in routes:
            for hdrs in bad:
                with self.subTest(method=method, path=path, headers=hdrs):
                    h = dict(hdrs)
                    if body is not None:
                        h["Content-Type"] = ("application/octet-stream" if "firmware?" in path
                                             else "application/json")
                    r = self.srv.request(method, "/api/v1" + path, body, h,
                                         source=next(sources))
                    self.assert_error(r, 401)
        # Nothing was changed by any of them.
        self.assertEqual([f["id"] for f in self.srv.firmware(key)], [fw["id"]])
        self.assertTrue(fw["enabled"])
        p = self.curl("-o", "/dev/null", "-w", "%{http_code}", "--interface", next(sources),
                      "-H", "Authorization: Bearer wrong", self.srv.url + "/api/v1/projects")
        self.assertEqual(p.stdout, b"401")

    def test_project_create_list_get_delete(self):
        name = new_name("Project")
        r = self.srv.admin("POST", "/projects", {"name": name})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"))
        p = r.json()
        self.assertEqual(set(p), {"key", "name", "created", "firmware", "devices", "keys"})
        self.assertRegex(p["key"], r"^[0-9a-f]{32}$")
        self.assertEqual(p["name"], name)
        self.assertRegex(p["created"], RFC3339_UTC)
        self.assertEqual((p["firmware"], p["devices"]), (0, 0))
        q = self.srv.project(new_name())
        self.assertNotEqual(p["key"], q["key"])
        r = self.srv.admin("GET", "/projects")
        self.assertEqual(r.status, 200)
        listed = {x["key"]: x for x in r.json()}
        self.assertEqual(listed[p["key"]], p)
        self.assertEqual(listed[q["key"]], q)
        r = self.srv.admin("GET", "/projects/" + p["key"])
        self.assertEqual((r.status, r.json()), (200, p))
        # Counts follow the firmware and devices.
        self.srv.upload(p["key"], *self.img["v2"][:1], NAME, V2)
        self.srv.check(p["key"], new_imei(), NAME, V2)
        got = self.srv.admin("GET", "/projects/" + p["key"]).json()
        self.assertEqual((got["firmware"], got["devices"]), (1, 1))
        r = self.srv.admin("DELETE", "/projects/" + p["key"])
        self.assertEqual((r.status, r.body), (204, b""))
        self.assert_error(self.srv.admin("GET", "/projects/" + p["key"]), 404)
        self.assert_error(self.srv.admin("DELETE", "/projects/" + p["key"]), 404)
        self.assertNotIn(p["key"], [x["key"] for x in self.srv.admin("GET", "/projects").json()])
        self.assertIn(q["key"], [x["key"] for x in self.srv.admin("GET", "/projects").json()])

    def test_project_name_lengths_and_unicode(self):
        for name in ("a", "x" * 128, "项" * 128, "Ünïcødé 项目 ✓"):
            with self.subTest(name=name[:10]):
                r = self.srv.admin("POST", "/projects", {"name": name})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json()["name"], name)
                got = self.srv.admin("GET", "/projects/" + r.json()["key"]).json()
                self.assertEqual(got["name"], name)
        for name in ("", "x" * 129, "项" * 129):
            with self.subTest(name=name[:10]):
                self.assert_error(self.srv.admin("POST", "/projects", {"name": name}), 400)

    def test_project_create_errors_400_and_415(self):
        before = len(self.srv.admin("GET", "/projects").json())
        for raw in (b'{"name":', b"not json", b'{"name":"x",}', b"", b"{}", b"[]",
                    b'"name"', b'{"nom":"x"}', b'{"name":123}', b'{"name":null}',
                    b'{"name":["x"]}', b"null"):
            with self.subTest(body=raw):
                self.assert_error(self.srv.admin("POST", "/projects", raw=raw), 400)
        for ctype in ("text/plain", "application/x-www-form-urlencoded",
                      "application/octet-stream"):
            with self.subTest(ctype=ctype):
                self.assert_error(self.srv.admin("POST", "/projects", raw=b'{"name":"x"}',
                                                 ctype=ctype), 415)
        self.assertEqual(len(self.srv.admin("GET", "/projects").json()), before)
        r = self.srv.admin("POST", "/projects", raw=b'{"name":"with charset"}',
                           ctype="application/json; charset=utf-8")
        self.assertEqual(r.status, 201, "a media type parameter is still JSON: %r" % r)
        p = self.curl("-o", "/dev/null", "-w", "%{http_code}", "-H",
                      "Authorization: Bearer " + self.srv.token, "-H",
                      "Content-Type: application/json", "--data-binary", "{bad",
                      self.srv.url + "/api/v1/projects")
        self.assertEqual(p.stdout, b"400")

    def test_405_on_known_paths(self):
        key, (fw,) = self.project("v2")
        fid = fw["id"]
        imei = new_imei()
        self.srv.check(key, imei, NAME, V2)
        for method, path in (("DELETE", "/projects"), ("PUT", "/projects"),
                             ("PATCH", "/projects"),
                             ("POST", "/projects/%s" % key), ("PUT", "/projects/%s" % key),
                             ("PATCH", "/projects/%s" % key),
                             ("PUT", "/projects/%s/firmware" % key),
                             ("DELETE", "/projects/%s/firmware" % key),
                             ("GET", "/projects/%s/firmware/%d" % (key, fid)),
                             ("POST", "/projects/%s/firmware/%d" % (key, fid)),
                             ("POST", "/projects/%s/firmware/%d/devices" % (key, fid)),
                             ("DELETE", "/projects/%s/firmware/%d/devices" % (key, fid)),
                             ("POST", "/projects/%s/devices" % key),
                             ("DELETE", "/projects/%s/devices" % key),
                             ("GET", "/projects/%s/devices/%s/unban" % (key, imei)),
                             ("DELETE", "/projects/%s/devices/%s/unban" % (key, imei)),
                             ("POST", "/projects/%s/stats" % key),
                             ("DELETE", "/projects/%s/stats" % key)):
            with self.subTest(method=method, path=path):
                body = b"{}" if method in ("POST", "PUT", "PATCH") else None
                self.assert_error(self.srv.admin(method, path, raw=body), 405)
        self.assertEqual([f["id"] for f in self.srv.firmware(key)], [fid])

    def test_404_unknown_project_firmware_device_and_path(self):
        key, (fw,) = self.project("v2")
        other, (ofw,) = self.project("v2")
        imei = new_imei()
        v3 = self.img["v3"][1]
        cases = [("GET", "/projects/" + NO_KEY, None), ("DELETE", "/projects/" + NO_KEY, None),
                 ("GET", "/projects/%s/firmware" % NO_KEY, None),
                 ("POST", "/projects/%s/firmware?%s" % (NO_KEY, query(name=NAME, version=V3)),
                  v3),
                 ("GET", "/projects/%s/devices" % NO_KEY, None),
                 ("GET", "/projects/%s/stats" % NO_KEY, None),
                 ("POST", "/projects/%s/devices/%s/unban" % (NO_KEY, imei), None),
                 ("POST", "/projects/%s/devices/%s/unban" % (key, imei), None),
                 ("PATCH", "/projects/%s/firmware/999999999" % key, b'{"enabled":false}'),
                 ("DELETE", "/projects/%s/firmware/999999999" % key, None),
                 ("PUT", "/projects/%s/firmware/999999999/devices" % key, b'["1"]'),
                 ("GET", "/projects/%s/firmware/999999999/devices" % key, None),
                 # another project's firmware is unknown here
                 ("PATCH", "/projects/%s/firmware/%d" % (key, ofw["id"]), b'{"enabled":false}'),
                 ("DELETE", "/projects/%s/firmware/%d" % (key, ofw["id"]), None),
                 ("GET", "/projects/%s/firmware/%d/devices" % (key, ofw["id"]), None),
                 ("PUT", "/projects/%s/firmware/%d/devices" % (key, ofw["id"]), b'["1"]'),
                 ("GET", "/nothing", None), ("GET", "/projects/%s/nothing" % key, None)]
        for method, path, body in cases:
            with self.subTest(method=method, path=path):
                ctype = "application/octet-stream" if "firmware?" in path else "application/json"
                r = self.srv.admin(method, path, raw=body, ctype=ctype)
                self.assert_error(r, 404)
        self.assertTrue(self.srv.firmware(other)[0]["enabled"])
        self.assertEqual(len(self.srv.firmware(other)), 1)

    def test_upload_and_list_firmware(self):
        key, _ = self.project()
        path, data = self.img["v2"]
        r = self.srv.upload(key, path, NAME, V2, expect=None)
        self.assertEqual(r.status, 201, r)
        fw = r.json()
        self.assertEqual(set(fw), {"id", "name", "version", "size", "sha256", "enabled",
                                   "all_devices", "created"})
        self.assertIsInstance(fw["id"], int)
        self.assertEqual((fw["name"], fw["version"], fw["size"]), (NAME, V2, len(data)))
        sha = hashlib.sha256(data).hexdigest()
        self.assertEqual(fw["sha256"], sha)
        self.assertIs(fw["enabled"], True)
        self.assertIs(fw["all_devices"], True)
        self.assertRegex(fw["created"], RFC3339_UTC)
        stored = os.path.join(self.srv.data, "firmware", sha + ".fota")
        with open(stored, "rb") as f:
            self.assertEqual(f.read(), data, "DIR/firmware/<sha256>.fota")
        fw3 = self.srv.upload(key, self.img["v3"][0], NAME, V3, enabled="0", all_devices="0")
        self.assertIs(fw3["enabled"], False)
        self.assertIs(fw3["all_devices"], False)
        fw1 = self.srv.upload(key, self.img["v1"][0], NAME, V1, enabled="1", all_devices="1")
        self.assertEqual((fw1["enabled"], fw1["all_devices"]), (True, True))
        r = self.srv.admin("GET", "/projects/%s/firmware" % key)
        self.assertEqual(r.status, 200)
        self.assertEqual(sorted(r.json(), key=lambda f: f["id"]),
                         sorted([fw, fw3, fw1], key=lambda f: f["id"]))
        self.assertEqual(len({fw["id"], fw3["id"], fw1["id"]}), 3)
        # The same image in another project: its own firmware row.
        key2, _ = self.project()
        fw_b = self.srv.upload(key2, path, NAME, V2)
        self.assertEqual(fw_b["sha256"], sha)
        self.assertEqual([f["id"] for f in self.srv.firmware(key2)], [fw_b["id"]])
        # curl, raw.
        p = self.curl("-o", "/dev/null", "-w", "%{http_code}", "-H",
                      "Authorization: Bearer " + self.srv.token, "-H",
                      "Content-Type: application/octet-stream", "--data-binary",
                      "@" + self.img["other"][0],
                      "%s/api/v1/projects/%s/firmware?%s" % (self.srv.url, key2,
                                                              query(name=OTHER, version=V2)))
        self.assertEqual(p.stdout, b"201")

    def test_upload_checks_400_and_409(self):
        key, (fw,) = self.project("v2")
        path, good = self.img["v3"]
        corrupt = bytearray(good)
        corrupt[1000] ^= 1  # in the payload: the header is fine, the hash is not
        header_bad = bytearray(good)
        header_bad[40] ^= 1  # in the name: the header's CRC fails
        def up(body, **q):
            q.setdefault("name", NAME)
            q.setdefault("version", V3)
            return self.srv.admin("POST", "/projects/%s/firmware?%s" % (key, query(**q)),
                                  raw=bytes(body), ctype="application/octet-stream")
        cases = [("not an image", os.urandom(5000), {}), ("empty", b"", {}),
                 ("corrupt hash", corrupt, {}), ("bad header", header_bad, {}),
                 ("truncated", good[:-10], {}), ("trailing bytes", good + b"x", {}),
                 ("header only", good[:128], {}),
                 ("other name", good, {"name": OTHER}),
                 ("other version", good, {"version": "AirM2M_780E_V1160_LTE_AT"}),
                 ("name missing", good, {}), ("version missing", good, {}),
                 ("enabled=2", good, {"enabled": "2"}),
                 ("all_devices=yes", good, {"all_devices": "yes"}),
                 ("enabled empty", good, {"enabled": ""})]
        for what, body, q in cases:
            with self.subTest(what):
                if what == "name missing":
                    r = self.srv.admin("POST", "/projects/%s/firmware?%s" % (
                        key, query(version=V3)), raw=good, ctype="application/octet-stream")
                elif what == "version missing":
                    r = self.srv.admin("POST", "/projects/%s/firmware?%s" % (
                        key, query(name=NAME)), raw=good, ctype="application/octet-stream")
                else:
                    r = up(body, **q)
                self.assert_error(r, 400)
        r = self.srv.admin("POST", "/projects/%s/firmware" % key, raw=good,
                           ctype="application/octet-stream")
        self.assert_error(r, 400)  # no query at all
        # 409: that version exists (the same file, and another file of the same version).
        self.assert_error(self.srv.upload(key, self.img["v2"][0], NAME, V2, expect=None), 409)
        other_v2 = os.path.join(self.tmp, "v2-again.fota")
        pack(other_v2, V2, 1234)
        self.assert_error(self.srv.upload(key, other_v2, NAME, V2, expect=None), 409)
        self.assertEqual(self.srv.firmware(key), [fw])
        self.assertEqual(glob.glob(os.path.join(self.srv.data, "firmware", ".tmp-*")), [],
                         "no temporary file left by a refused upload")
        # The good one still goes in after all of that.
        self.assertEqual(up(good).status, 201)

    def test_patch_firmware(self):
        key, (fw,) = self.project("v2")
        url = "/projects/%s/firmware/%d" % (key, fw["id"])
        r = self.srv.admin("PATCH", url, {"enabled": False})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), dict(fw, enabled=False))
        r = self.srv.admin("PATCH", url, {"all_devices": False})
        self.assertEqual(r.json(), dict(fw, enabled=False, all_devices=False))
        r = self.srv.admin("PATCH", url, {"enabled": True, "all_devices": True})
        self.assertEqual(r.json(), fw)
        self.assertEqual(self.srv.firmware(key), [fw])
        for raw in (b'{"enabled":"no"}', b'{"enabled":1}', b'{"all_devices":null}',
                    b'{"enabled":', b"[]", b"true", b"not json"):
            with self.subTest(body=raw):
                self.assert_error(self.srv.admin("PATCH", url, raw=raw), 400)
        self.assert_error(self.srv.admin("PATCH", url, raw=b'{"enabled":false}',
                                         ctype="text/plain"), 415)
        r = self.srv.admin("PATCH", url, raw=b"{}")
        self.assertIn(r.status, (200, 400), "neither field: a no-op or a 400: %r" % r)
        for bad_id in ("abc", "-1", "0", "1.5", "99999999999999999999999"):
            with self.subTest(id=bad_id):
                r = self.srv.admin("PATCH", "/projects/%s/firmware/%s" % (key, bad_id),
                                   {"enabled": False})
                self.assertIn(r.status, (400, 404), r)
                self.assert_error(r, r.status)
        self.assertEqual(self.srv.firmware(key), [fw])

    def test_delete_firmware(self):
        key, (fw2, fw3) = self.project("v2", "v3")
        imei = new_imei()
        r = self.srv.admin("DELETE", "/projects/%s/firmware/%d" % (key, fw3["id"]))
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertEqual(self.srv.firmware(key), [fw2])
        self.assert_error(self.srv.admin("DELETE", "/projects/%s/firmware/%d" % (
            key, fw3["id"])), 404)
        self.assert_image(self.srv.check(key, imei, NAME, V1), "v2")
        self.srv.admin("DELETE", "/projects/%s/firmware/%d" % (key, fw2["id"]))
        self.assertEqual(self.srv.firmware(key), [])
        self.assert_refusal(self.srv.check(key, imei, NAME, V1), 26)
        # The version can be uploaded again once deleted.
        self.srv.upload(key, self.img["v3"][0], NAME, V3)

    def test_upgrade_list_put_and_get(self):
        key, (fw,) = self.project("v2")
        url = "/projects/%s/firmware/%d/devices" % (key, fw["id"])
        r = self.srv.admin("GET", url)
        self.assertEqual((r.status, r.json()), (200, {"devices": []}))
        a, b, c = new_imei(), new_imei(), new_imei()
        r = self.srv.admin("PUT", url, [a, b])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(r.json()["devices"]), sorted([a, b]))
        self.assertEqual(set(r.json()), {"devices"})
        self.assertEqual(sorted(self.srv.admin("GET", url).json()["devices"]), sorted([a, b]))
        r = self.srv.admin("PUT", url, [c])  # replaced, not added to
        self.assertEqual(r.json(), {"devices": [c]})
        self.assertEqual(self.srv.admin("GET", url).json(), {"devices": [c]})
        for raw in (b'{"devices":["1"]}', b"[1,2]", b'["1",null]', b"[", b'"1"', b"[[]]"):
            with self.subTest(body=raw):
                self.assert_error(self.srv.admin("PUT", url, raw=raw), 400)
        self.assert_error(self.srv.admin("PUT", url, raw=b'["1"]', ctype="text/plain"), 415)
        self.assertEqual(self.srv.admin("GET", url).json(), {"devices": [c]})
        r = self.srv.admin("PUT", url, [])
        self.assertEqual((r.status, r.json()), (200, {"devices": []}))

    def test_project_devices_and_unban(self):
        key, (fw,) = self.project("v2")
        imei = new_imei()
        self.assertEqual(self.srv.devices(key), [])
        self.srv.check(key, imei, NAME, V2)
        devs = self.srv.devices(key)
        self.assertEqual(len(devs), 1)
        d = devs[0]
        self.assertEqual(set(d), {"imei", "version", "last_seen", "state", "banned"})
        self.assertEqual((d["imei"], d["version"], d["state"], d["banned"]),
                         (imei, V2, "checked", False))
        self.assertRegex(d["last_seen"], RFC3339_UTC)
        self.srv.check(key, imei, NAME, V1)
        d = self.device(key, imei)
        self.assertEqual((d["version"], d["state"]), (V1, "offered"))
        r = self.srv.admin("POST", "/projects/%s/devices/%s/unban" % (key, imei))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["imei"], imei)
        self.assertIs(r.json()["banned"], False)
        self.assert_error(self.srv.admin("POST", "/projects/%s/devices/%s/unban" % (
            key, new_imei())), 404)
        # A device of another project is unknown here.
        key2, _ = self.project("v2")
        self.assert_error(self.srv.admin("POST", "/projects/%s/devices/%s/unban" % (
            key2, imei)), 404)
        self.assertEqual(self.srv.devices(key2), [])

    def test_stats_fields(self):
        key, (fw2, fw3) = self.project("v2", "v3")
        r = self.srv.admin("GET", "/projects/%s/stats" % key)
        self.assertEqual(r.status, 200)
        stats = sorted(r.json(), key=lambda s: s["firmware_id"])
        self.assertEqual(stats, sorted([
            {"firmware_id": fw2["id"], "name": NAME, "version": V2, "downloads_started": 0,
             "downloads_completed": 0, "devices_upgraded": 0},
            {"firmware_id": fw3["id"], "name": NAME, "version": V3, "downloads_started": 0,
             "downloads_completed": 0, "devices_upgraded": 0}],
            key=lambda s: s["firmware_id"]))

    def test_delete_project_removes_its_firmware_and_bindings(self):
        a, (fa,) = self.project("v2")
        b, (fb,) = self.project("v3")
        imei = new_imei()
        self.assertEqual(self.srv.check(a, imei, NAME, V1).status, 200)
        self.assert_refusal(self.srv.check(b, imei, NAME, V1), 17)
        self.assertEqual(self.srv.admin("DELETE", "/projects/" + a).status, 204)
        self.assert_refusal(self.srv.check(a, imei, NAME, V1), 25)
        self.assert_image(self.srv.check(b, imei, NAME, V1), "v3")
        self.assert_error(self.srv.admin("GET", "/projects/%s/firmware" % a), 404)
        self.assert_error(self.srv.admin("PATCH", "/projects/%s/firmware/%d" % (a, fa["id"]),
                                         {"enabled": False}), 404)
        self.assertEqual([d["imei"] for d in self.srv.devices(b)], [imei])

    def test_metrics_are_there_and_count(self):
        key, (fw,) = self.project("v2")
        imei = new_imei()
        self.srv.request("GET", "/healthz")
        before = self.srv.metrics()
        text = self.srv.request("GET", "/metrics").body.decode()
        for name in ("fota_http_requests_total", "fota_http_sent_bytes_total",
                     "fota_checks_total", "fota_downloads_started_total",
                     "fota_downloads_completed_total", "fota_upgrades_total"):
            self.assertRegex(text, r"(?m)^%s(\{[^}]*\})? \d" % name, name)
        self.assertRegex(text, r'(?m)^fota_http_requests_total\{(?=[^}]*route=")'
                               r'(?=[^}]*status="200")[^}]*\} \d')
        self.assertRegex(text, r'(?m)^fota_checks_total\{result="[^"]*"\} \d')

        def total(m, name):
            return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))
        self.srv.check(key, imei, NAME, V2)       # 409
        self.srv.check(NO_KEY, imei, NAME, V1)    # 404
        r = self.srv.check(key, imei, NAME, V1)   # 200: a download started and completed
        self.assertEqual(r.status, 200)
        self.srv.check(key, imei, NAME, V2)       # 409: upgraded
        for _ in range(3):
            self.srv.request("GET", "/healthz")
        deadline = time.monotonic() + 2  # completed once the last byte was sent: poll
        while True:
            after = self.srv.metrics()
            if (total(after, "fota_downloads_completed_total") >
                    total(before, "fota_downloads_completed_total") or
                    time.monotonic() > deadline):
                break
            time.sleep(0.02)
        self.assertGreaterEqual(total(after, "fota_checks_total") -
                                total(before, "fota_checks_total"), 4)
        self.assertEqual(total(after, "fota_downloads_started_total") -
                         total(before, "fota_downloads_started_total"), 1)
        self.assertEqual(total(after, "fota_downloads_completed_total") -
                         total(before, "fota_downloads_completed_total"), 1)
        self.assertEqual(total(after, "fota_upgrades_total") -
                         total(before, "fota_upgrades_total"), 1)
        self.assertGreaterEqual(total(after, "fota_http_sent_bytes_total") -
                                total(before, "fota_http_sent_bytes_total"), len(r.body))
        self.assertGreaterEqual(total(after, "fota_http_requests_total") -
                                total(before, "fota_http_requests_total"), 8)
        # Per status: the 200s and the 409s went up.
        def by_status(m, status):
            return sum(v for k, v in m.items() if k.startswith("fota_http_requests_total{")
                       and 'status="%d"' % status in k)
        self.assertGreaterEqual(by_status(after, 409) - by_status(before, 409), 2)
        self.assertGreaterEqual(by_status(after, 200) - by_status(before, 200), 4)
        self.assertGreaterEqual(by_status(after, 404) - by_status(before, 404), 1)


class NoTokenTest(unittest.TestCase):
    def test_admin_api_503_without_a_token_configured(self):
        srv = FotaServer(token="")
        try:
            srv.start()
            for hdrs in ({}, {"Authorization": "Bearer x"}, {"Authorization": "Bearer "}):
                r = srv.request("GET", "/api/v1/projects", headers=hdrs)
                self.assertEqual(r.status, 503, r)
            self.assertEqual(srv.request("GET", "/healthz").status, 200)
            r = srv.check(NO_KEY, new_imei(), NAME, V1)
            self.assertEqual(r.status, 404, "the device API goes on: %r" % r)
        finally:
            srv.cleanup()
        self.assertEqual(srv.sanitizer_errors(), [])

    def test_token_from_the_environment(self):
        srv = FotaServer(use_env=True)
        try:
            srv.start()
            self.assertEqual(srv.admin("GET", "/projects").status, 200)
            self.assertEqual(srv.admin("GET", "/projects", token="other").status, 401)
        finally:
            srv.cleanup()
        self.assertEqual(srv.sanitizer_errors(), [])


class MaxFirmwareTest(ServerCase):
    server_args = {"max_firmware": 65536}

    def test_413_over_max_firmware(self):
        key, _ = self.project()
        small = os.path.join(self.tmp, "small.fota")
        pack(small, V2, 60000)
        big = os.path.join(self.tmp, "big.fota")
        data = pack(big, V3, 100000)
        r = self.srv.upload(key, big, NAME, V3, expect=None)
        self.assert_error(r, 413)
        p = self.curl("-o", "/dev/null", "-w", "%{http_code}", "-H",
                      "Authorization: Bearer " + self.srv.token, "-H",
                      "Content-Type: application/octet-stream", "--data-binary", "@" + big,
                      "%s/api/v1/projects/%s/firmware?%s" % (self.srv.url, key,
                                                              query(name=NAME, version=V3)))
        self.assertEqual(p.stdout, b"413")
        # A much larger body: the answer may come before the body is read; the server
        # goes on either way.
        r = self._big_post(key, 8 << 20)
        self.assertIn(r, (413, None), "413 or the connection closed")
        self.assertEqual(self.srv.firmware(key), [])
        self.assertEqual(self.srv.upload(key, small, NAME, V2)["size"], os.path.getsize(small))
        self.assertEqual(glob.glob(os.path.join(self.srv.data, "firmware", ".tmp-*")), [])
        del data

    def _big_post(self, key, size):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        try:
            s.sendall(("POST /api/v1/projects/%s/firmware?%s HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer %s\r\nContent-Type: application/octet-stream\r\n"
                       "Content-Length: %d\r\n\r\n" % (key, query(name=NAME, version=V3),
                                                       self.srv.token, size)).encode())
            chunk = self.img["v3"][1][:128] + b"\0" * 65408
            sent = 0
            try:
                while sent < size:
                    s.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            try:
                head = s.recv(100)
            except OSError:
                return None
            m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
            return int(m.group(1)) if m else None
        finally:
            s.close()


# ---- the device API -----------------------------------------------------------------

class DeviceApiTest(ServerCase):
    def test_decision_order(self):
        a, (fw_a,) = self.project("v2")
        b, (fw_b,) = self.project("v3")
        imei = new_imei()
        # 1: no device id, even with an unknown project and no firmware_name.
        for q in ({"project_key": a, "firmware_name": NAME, "version": V1},
                  {"project_key": NO_KEY, "firmware_name": NAME, "version": V1},
                  {"project_key": NO_KEY}, {}):
            with self.subTest(no_id=q):
                self.assert_refusal(self.srv.request("GET", DEVICE_PATH + "?" + query(**q)), 3)
        # 2: unknown project (also an empty key, or none).
        self.assert_refusal(self.srv.check(NO_KEY, imei, NAME, V1), 25)
        self.assert_refusal(self.srv.check("", imei, NAME, V1), 25)
        self.assert_refusal(self.srv.request("GET", DEVICE_PATH + "?" + query(
            imei=imei, firmware_name=NAME, version=V1)), 25)
        # the first request with a known project binds the device: to a.
        self.assert_image(self.srv.check(a, imei, NAME, V1), "v2")
        # 3: bound to another project, before the firmware name is looked at.
        self.assert_refusal(self.srv.check(b, imei, NAME, V1), 17)
        self.assert_refusal(self.srv.check(b, imei, "Unknown_FW", V1), 17)
        # 4: no firmware of that name.
        self.assert_refusal(self.srv.check(a, imei, "Unknown_FW", V1), 26)
        self.assert_refusal(self.srv.check(a, imei, OTHER, V1), 26)
        # 6: nothing newer.
        self.assert_refusal(self.srv.check(a, imei, NAME, V2), 27)
        self.assert_refusal(self.srv.check(a, imei, NAME, V3), 27)
        # 7: the image.
        self.assert_image(self.srv.check(a, imei, NAME, V1), "v2")
        # b has its own devices.
        self.assert_image(self.srv.check(b, new_imei(), NAME, V1), "v3")
        self.assertEqual([d["imei"] for d in self.srv.devices(a)], [imei])
        self.assertNotIn(imei, [d["imei"] for d in self.srv.devices(b)])

    def test_loop_guard_40_after_7_download_starts_then_unban(self):
        key, (fw,) = self.project("v2")
        imei = new_imei()
        for i in range(7):
            self.assert_image(self.srv.check(key, imei, NAME, V1), "v2")
        r = self.srv.check(key, imei, NAME, V1)
        self.assert_refusal(r, 40)
        self.assert_refusal(self.srv.check(key, imei, NAME, V2), 40)  # 40 before 27
        self.assert_refusal(self.srv.check(key, imei, "Unknown_FW", V1), 26)  # 26 before 40
        self.assertIs(self.device(key, imei)["banned"], True)
        other = new_imei()
        self.assert_image(self.srv.check(key, other, NAME, V1), "v2")  # others go on
        r = self.srv.admin("POST", "/projects/%s/devices/%s/unban" % (key, imei))
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["banned"], False)
        self.assertIs(self.device(key, imei)["banned"], False)
        self.assert_image(self.srv.check(key, imei, NAME, V1), "v2")

    def test_loop_guard_counts_only_starts_from_byte_0(self):
        key, (fw,) = self.project("v2")
        imei = new_imei()
        size = len(self.img["v2"][1])
        for _ in range(6):
            r = self.srv.check(key, imei, NAME, V1, headers={"Range": "bytes=0-99"})
            self.assertEqual(r.status, 206, r)  # a start each
        for _ in range(8):  # not starts: from another byte, or refusals
            r = self.srv.check(key, imei, NAME, V1, headers={"Range": "bytes=100-"})
            self.assertEqual(r.status, 206, r)
            self.assert_refusal(self.srv.check(key, imei, NAME, V2), 27)
            r = self.srv.check(key, imei, NAME, V1, headers={"Range": "bytes=%d-" % size})
            self.assertEqual(r.status, 416, r)
        self.assertIs(self.device(key, imei)["banned"], False)
        self.assert_image(self.srv.check(key, imei, NAME, V1), "v2")  # the 7th start
        self.assert_refusal(self.srv.check(key, imei, NAME, V1), 40)
        st = self.stat(key, fw["id"], {"downloads_started": 7})
        self.assertEqual(st["downloads_started"], 7)

    def test_already_latest_27_cases(self):
        key, (fw2, fw3) = self.project("v2", "v3")
        imei = new_imei()
        self.assert_refusal(self.srv.check(key, imei, NAME, V3), 27)  # the newest
        # A device running a version above every firmware.
        self.assert_refusal(self.srv.check(key, imei, NAME, "AirM2M_780E_V2000_LTE_AT"), 27)
        # Disabled: V3 off gives V2; both off gives nothing.
        self.srv.admin("PATCH", "/projects/%s/firmware/%d" % (key, fw3["id"]),
                       {"enabled": False})
        self.assert_image(self.srv.check(key, imei, NAME, V1), "v2")
        self.assert_refusal(self.srv.check(key, imei, NAME, V2), 27)
        self.srv.admin("PATCH", "/projects/%s/firmware/%d" % (key, fw2["id"]),
                       {"enabled": False})
        self.assert_refusal(self.srv.check(key, imei, NAME, V1), 27)
        # all_devices 0: only the devices of the list; no list at all: nobody.
        self.srv.admin("PATCH", "/projects/%s/firmware/%d" % (key, fw3["id"]),
                       {"enabled": True, "all_devices": False})
        self.assert_refusal(self.srv.check(key, imei, NAME, V1), 27)
        listed = new_imei()
        r = self.srv.admin("PUT", "/projects/%s/firmware/%d/devices" % (key, fw3["id"]),
                           [listed])
        self.assertEqual(r.status, 200)
        self.assert_refusal(self.srv.check(key, imei, NAME, V1), 27)
        self.assert_image(self.srv.check(key, listed, NAME, V1), "v3")
        # No list, all devices again: imei gets it too.
        self.srv.admin("PUT", "/projects/%s/firmware/%d/devices" % (key, fw3["id"]), [])
        self.srv.admin("PATCH", "/projects/%s/firmware/%d" % (key, fw3["id"]),
                       {"all_devices": True})
        self.assert_image(self.srv.check(key, imei, NAME, V1), "v3")

    def test_newest_greater_version_by_fota_version_cmp(self):
        key, (fw1, fw3, fw2) = self.project("v1", "v3", "v2")  # uploaded out of order
        imei = new_imei()
        self.assert_image(self.srv.check(key, imei, NAME, V1), "v3")
        self.assert_image(self.srv.check(key, imei, NAME, V2), "v3")
        self.assert_image(self.srv.check(key, imei, NAME, "AirM2M_780E_V999_LTE_AT"), "v3")
        # Numbers compare as numbers: 1.10.0 > 1.9.0 (strcmp says otherwise).
        fam = "LuatOS_Test"
        a = os.path.join(self.tmp, "l19.fota")
        b = os.path.join(self.tmp, "l110.fota")
        pack(a, "1.9.0", 1000, name=fam)
        data = pack(b, "1.10.0", 1000, name=fam)
        self.srv.upload(key, a, fam, "1.9.0")
        self.srv.upload(key, b, fam, "1.10.0")
        r = self.srv.check(key, imei, fam, "1.9.0")
        self.assertEqual((r.status, r.body), (200, data))
        r = self.srv.check(key, imei, fam, "1.2.0")
        self.assertEqual((r.status, r.body), (200, data))
        self.assert_refusal(self.srv.check(key, imei, fam, "1.10.0"), 27)
        self.assert_refusal(self.srv.check(key, imei, fam, "1.010.0"), 27)  # equal: leading 0

    def test_parameter_order_extra_parameters_mac_and_uid(self):
        key, (fw,) = self.project("v2")
        imei = new_imei()
        data = self.img["v2"][1]
        orders = [
            [("project_key", key), ("imei", imei), ("firmware_name", NAME), ("version", V1)],
            [("version", V1), ("firmware_name", NAME), ("imei", imei), ("project_key", key)],
            [("firmware_name", NAME), ("device_key", "abc"), ("version", V1),
             ("core_version", "V1001"), ("project_key", key), ("dfota", "1"),
             ("need_oss_url", "0"), ("imei", imei), ("foo", "bar"), ("x", "")],
        ]
        for params in orders:
            with self.subTest(params=params):
                r = self.srv.request("GET", DEVICE_PATH + "?" + "&".join(
                    "%s=%s" % kv for kv in params))
                self.assertEqual((r.status, r.body), (200, data))
                params = [(k, V2 if k == "version" else v) for k, v in params]
                r = self.srv.request("GET", DEVICE_PATH + "?" + "&".join(
                    "%s=%s" % kv for kv in params))
                self.assert_refusal(r, 27)
        self.assertEqual([d["imei"] for d in self.srv.devices(key)], [imei])
        # mac, uid: the device id when imei is absent; imei, then mac, then uid.
        mac, uid, mac2 = "A0B1C2D3E4F5", "0123456789abcdef01234567", "A0B1C2D3E4F6"
        self.assertEqual(self.srv.request("GET", DEVICE_PATH + "?" + query(
            project_key=key, mac=mac, firmware_name=NAME, version=V2)).status, 409)
        self.assertEqual(self.srv.request("GET", DEVICE_PATH + "?" + query(
            uid=uid, project_key=key, firmware_name=NAME, version=V1)).status, 200)
        both = new_imei()
        self.assertEqual(self.srv.request("GET", DEVICE_PATH + "?" + query(
            uid="uid-not-this", mac="mac-not-this", project_key=key, imei=both,
            firmware_name=NAME, version=V2)).status, 409)
        self.assertEqual(self.srv.request("GET", DEVICE_PATH + "?" + query(
            uid="uid-not-this-either", project_key=key, mac=mac2, firmware_name=NAME,
            version=V2)).status, 409)
        ids = {d["imei"]: d for d in self.srv.devices(key)}
        self.assertEqual(set(ids), {imei, mac, uid, both, mac2})
        self.assertEqual((ids[mac]["version"], ids[mac]["state"]), (V2, "checked"))
        self.assertEqual((ids[uid]["version"], ids[uid]["state"]), (V1, "offered"))
        # A device bound by its mac is refused in another project (17).
        other, _ = self.project("v2")
        self.assert_refusal(self.srv.request("GET", DEVICE_PATH + "?" + query(
            mac=mac, project_key=other, firmware_name=NAME, version=V1)), 17)

    def test_download_headers_range_if_range_head(self):
        key, (fw,) = self.project("v2")
        data = self.img["v2"][1]
        size = len(data)
        etag = '"%s"' % fw["sha256"][:32]
        imei = new_imei()
        check = lambda **kw: self.srv.check(key, imei, NAME, V1, **kw)
        r = check()
        self.assert_image(r, "v2")
        lm = r.headers["Last-Modified"]
        for rng, first, last in (("bytes=0-99", 0, 99), ("bytes=100-", 100, size - 1),
                                 ("bytes=%d-%d" % (size - 1, size - 1), size - 1, size - 1),
                                 ("bytes=%d-" % (size - 10), size - 10, size - 1),
                                 ("bytes=1000-1999", 1000, 1999)):
            with self.subTest(range=rng):
                r = check(headers={"Range": rng})
                self.assertEqual(r.status, 206, r)
                self.assertEqual(r.headers.get("Content-Range"),
                                 "bytes %d-%d/%d" % (first, last, size))
                self.assertEqual(r.body, data[first:last + 1])
                self.assertEqual(r.headers.get("Content-Length"), str(last - first + 1))
                self.assertEqual(r.headers.get("ETag"), etag)
                self.assertEqual(r.headers.get("Accept-Ranges"), "bytes")
                self.assertEqual(r.headers.get("Content-Type"), "application/octet-stream")
        # RFC 9110 14.1.2: a last byte past the end means the end.
        r = check(headers={"Range": "bytes=%d-%d" % (size - 5, size + 100)})
        self.assertEqual((r.status, r.headers.get("Content-Range"), r.body),
                         (206, "bytes %d-%d/%d" % (size - 5, size - 1, size), data[-5:]))
        for rng in ("bytes=%d-" % size, "bytes=%d-" % (size + 1000),
                    "bytes=%d-%d" % (size, size + 10)):
            with self.subTest(range=rng):
                r = check(headers={"Range": rng})
                self.assertEqual(r.status, 416, r)
                self.assertEqual(r.headers.get("Content-Range"), "bytes */%d" % size)
        # If-Range: the ETag matches → 206; another → 200 and the whole file.
        r = check(headers={"Range": "bytes=500-", "If-Range": etag})
        self.assertEqual((r.status, r.body), (206, data[500:]))
        self.assertEqual(r.headers.get("Content-Range"), "bytes 500-%d/%d" % (size - 1, size))
        for other in ('"0123456789abcdef0123456789abcdef"', 'W/' + etag, '"x"'):
            with self.subTest(if_range=other):
                r = check(headers={"Range": "bytes=500-", "If-Range": other})
                self.assert_image(r, "v2")
                self.assertIsNone(r.headers.get("Content-Range"))
        # HEAD: the same status and headers, no body.
        imei2 = new_imei()
        r = self.srv.check(key, imei2, NAME, V1, method="HEAD")
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(r.headers.get("Content-Length"), str(size))
        self.assertEqual(r.headers.get("ETag"), etag)
        self.assertEqual(r.headers.get("Last-Modified"), lm)
        self.assertEqual(r.headers.get("Accept-Ranges"), "bytes")
        self.assertEqual(r.headers.get("Content-Type"), "application/octet-stream")
        r = self.srv.check(key, imei2, NAME, V1, method="HEAD", headers={"Range": "bytes=0-9"})
        self.assertEqual((r.status, r.body), (206, b""))
        self.assertEqual(r.headers.get("Content-Range"), "bytes 0-9/%d" % size)
        r = self.srv.check(key, imei2, NAME, V2, method="HEAD")
        self.assert_refusal(r, 27, method="HEAD")
        get = self.srv.check(key, imei2, NAME, V2)
        self.assertEqual(r.headers.get("Content-Length"), str(len(get.body)))
        # curl, raw.
        p = self.curl("-s", "-D", "-", "-o", "/dev/null", "-r", "10-19",
                      "%s%s?%s" % (self.srv.url, DEVICE_PATH, query(
                          project_key=key, imei=imei2, firmware_name=NAME, version=V1)))
        head = p.stdout.decode()
        self.assertRegex(head, r"^HTTP/1\.[01] 206")
        self.assertRegex(head, r"(?im)^content-range: bytes 10-19/%d\r$" % size)
        p = self.curl("-s", "-I", "%s%s?%s" % (self.srv.url, DEVICE_PATH, query(
            project_key=key, imei=imei2, firmware_name=NAME, version=V2)))
        self.assertRegex(p.stdout.decode(), r"^HTTP/1\.[01] 409")
        p = self.curl("-s", "%s%s?%s" % (self.srv.url, DEVICE_PATH, query(
            project_key=NO_KEY, imei=imei2, firmware_name=NAME, version=V2)))
        self.assertEqual(json.loads(p.stdout), {"code": 25, "msg": MSG[25]})
        self.assertTrue(p.stdout.isascii())

    def test_offered_version_checked_in_counts_as_upgraded_once(self):
        key, (fw2, fw3) = self.project("v2", "v3")
        imei = new_imei()
        self.assert_image(self.srv.check(key, imei, NAME, V1), "v3")
        self.assertEqual(self.device(key, imei)["state"], "offered")
        st = self.stat(key, fw3["id"], {"downloads_completed": 1})
        self.assertEqual((st["downloads_started"], st["downloads_completed"],
                          st["devices_upgraded"]), (1, 1, 0))
        self.assertEqual((st["name"], st["version"]), (NAME, V3))
        self.assert_refusal(self.srv.check(key, imei, NAME, V3), 27)
        d = self.device(key, imei)
        self.assertEqual((d["state"], d["version"]), ("upgraded", V3))
        self.assertEqual(self.stat(key, fw3["id"])["devices_upgraded"], 1)
        self.assert_refusal(self.srv.check(key, imei, NAME, V3), 27)
        self.assertEqual(self.stat(key, fw3["id"])["devices_upgraded"], 1, "counted once")
        # A device that runs V3 without having been offered it: not an upgrade here.
        self.assert_refusal(self.srv.check(key, new_imei(), NAME, V3), 27)
        # A partial download: started, not completed; the rest from byte 100: completed.
        other = new_imei()
        size = len(self.img["v3"][1])
        r = self.srv.check(key, other, NAME, V1, headers={"Range": "bytes=0-99"})
        self.assertEqual(r.status, 206)
        r = self.srv.check(key, other, NAME, V2, headers={"Range": "bytes=0-%d" % (size - 2)})
        self.assertEqual(r.status, 206)
        st = self.stat(key, fw3["id"])
        self.assertEqual((st["downloads_started"], st["downloads_completed"],
                          st["devices_upgraded"]), (3, 1, 1))
        r = self.srv.check(key, other, NAME, V2, headers={"Range": "bytes=100-"})
        self.assertEqual(r.status, 206)
        st = self.stat(key, fw3["id"], {"downloads_completed": 2})
        self.assertEqual((st["downloads_started"], st["downloads_completed"]), (3, 2))
        self.assertEqual(self.srv.check(key, other, NAME, V3).status, 409)
        self.assertEqual(self.stat(key, fw3["id"])["devices_upgraded"], 2)
        st2 = self.stat(key, fw2["id"])
        self.assertEqual((st2["downloads_started"], st2["downloads_completed"],
                          st2["devices_upgraded"]), (0, 0, 0))


# ---- the process: options, SIGTERM, the access log, crashes --------------------------

class ProcessTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fota-proc-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)
        for s in self.servers:
            self.assertEqual(s.sanitizer_errors(), [])

    def server(self, **kw):
        s = FotaServer(**kw)
        self.servers.append(s)
        return s.start()

    def test_options_help_and_exit_status_2(self):
        if not serverlib.available():
            self.fail("%s is missing" % serverlib.SERVER)
        p = subprocess.run([serverlib.SERVER, "--help"], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0, p)
        text = (p.stdout + p.stderr).decode()
        for opt in ("--listen", "--data", "--db", "--admin-token", "--max-firmware",
                    "--trust-proxy", "--help"):
            self.assertIn(opt, text)
        afile = os.path.join(self.tmp, "a-file")
        open(afile, "w").close()
        for args in (["--bogus"], ["--listen"], ["--listen", "nothing:port"],
                     ["--max-firmware", "lots"], ["--data", afile],
                     ["--data", os.path.join(afile, "sub")],
                     ["--db", "mysql://x"], ["--trust-proxy", "10.0.0.0/33"],
                     ["--trust-proxy", "127.0.0.1,"], ["--trust-proxy", "localhost"],
                     sum([["--trust-proxy", "10.0.0.0/8,10.0.0.0/8"]] * 17, [])):
            with self.subTest(args=args):
                try:
                    p = subprocess.run([serverlib.SERVER, "--listen", "127.0.0.1:%d" %
                                        serverlib.free_port(), "--data",
                                        os.path.join(self.tmp, "d")] + args,
                                       capture_output=True, timeout=5)
                except subprocess.TimeoutExpired:
                    self.fail("still running after 5 s: %r" % args)
                self.assertEqual(p.returncode, 2, p)
                lines = p.stderr.decode().strip().splitlines()
                self.assertEqual(len(lines), 1, "one line on stderr: %r" % p.stderr)

    def test_sigterm_finishes_the_download_under_way_and_access_log(self):
        srv = self.server()
        key = srv.project("p")["key"]
        path = os.path.join(self.tmp, "big.fota")
        data = pack(path, V2, 4 << 20)
        srv.upload(key, path, NAME, V2)
        imei = new_imei()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the server must wait
        s.settimeout(10)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(("GET %s?%s HTTP/1.1\r\nHost: x\r\n\r\n" % (DEVICE_PATH, query(
            project_key=key, imei=imei, firmware_name=NAME, version=V1))).encode())
        got = s.recv(1024)
        self.assertTrue(got.startswith(b"HTTP/1."), got)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # No new connection is served once it stops accepting.
        try:
            late = serverlib.request(srv.port, "GET", "/healthz", timeout=2).status
        except OSError:
            late = None
        self.assertIsNone(late, "a new connection after SIGTERM")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertEqual(body, data, "the download under way finished")
        self.assertEqual(srv.proc.wait(10), 0)
        log = srv.log()
        m = re.search(r'(?m)^127\.0\.0\.1(:\d+)? "GET /api/site/firmware_upgrade\?'
                      r'[^"]*imei=%s[^"]*" 200 (\d+) \d+(\.\d+)?$' % imei, log)
        self.assertTrue(m, "the device API's access log line, its query included:\n" + log)
        self.assertGreaterEqual(int(m.group(2)), len(data), "BYTES")
        self.assertRegex(log, r'(?m)^127\.0\.0\.1(:\d+)? "POST /api/v1/projects" 201 \d+ '
                              r'\d+(\.\d+)?$')
        self.assertRegex(log, r'(?m)^127\.0\.0\.1(:\d+)? "GET /healthz" 200 \d+ \d+(\.\d+)?$')
        self.assertNotIn(srv.token, log, "the admin token is never logged")

    def test_upload_killed_mid_stream_leaves_nothing(self):
        srv = self.server()
        key = srv.project("p")["key"]
        small = os.path.join(self.tmp, "v2.fota")
        pack(small, V2, 10000)
        kept = srv.upload(key, small, NAME, V2)
        path = os.path.join(self.tmp, "big.fota")
        data = pack(path, V3, 24 << 20)
        fwdir = os.path.join(srv.data, "firmware")
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(("POST /api/v1/projects/%s/firmware?%s HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: application/octet-stream\r\n"
                   "Content-Length: %d\r\n\r\n" % (key, query(name=NAME, version=V3),
                                                   srv.token, len(data))).encode())
        s.sendall(data[:len(data) // 2])
        deadline = time.monotonic() + 5
        tmps = []
        while time.monotonic() < deadline and not tmps:
            tmps = glob.glob(os.path.join(fwdir, ".tmp-*"))
            time.sleep(0.05)
        if not tmps:  # the contract does not say when the file is made
            print("\n    (no DIR/firmware/.tmp-* seen while the upload streamed: %r)" %
                  os.listdir(fwdir), file=sys.stderr)
        srv.kill()
        s.close()
        srv.start()
        self.assertEqual(srv.firmware(key), [kept])
        self.assertEqual(glob.glob(os.path.join(fwdir, ".tmp-*")), [],
                         "temporary files removed at start")
        self.assertEqual(sorted(os.listdir(fwdir)), [kept["sha256"] + ".fota"])
        r = srv.check(key, new_imei(), NAME, V1)
        self.assertEqual(r.status, 200)
        # And the same upload whole, after the restart, goes in.
        self.assertEqual(srv.upload(key, path, NAME, V3)["size"], len(data))


if __name__ == "__main__":
    unittest.main()
