"""fotad in KEY mode against the real fota-server (docs/server-api.md), over HTTP on
127.0.0.1: each refusal of the server reaches AT+UPGRADE? as 2,-1004,<status>,<code>, and a
whole upgrade runs: the URC sequence, AT+CGMR, +UPGRADEVER: 1 (the report reached the
server), and the server's statistics and device list say so.

Cause 3 (no device id) cannot come from a module: fotad always sends its IMEI, so it is
tested at the HTTP level only (test_server_api.py). Cause 40 (loop guard): the module's
IMEI makes its 7 download starts over HTTP first, then the module asks."""
import os
import re
import shutil
import signal
import tempfile
import unittest

from serverlib import pack, start_class_server, stop_class_server
from test_download import Module, percents

NAME = "AirM2M_780E_LTE_AT"
V1 = "AirM2M_780E_V1121_LTE_AT"  # fotad's built-in factory image
V2 = "AirM2M_780E_V1147_LTE_AT"
IMEI = "864000000000016"


class ServerFotadTest(unittest.TestCase):
    projects = 0

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fota-srv-fotad-")
        cls.v1 = os.path.join(cls.tmp, "v1.fota")
        cls.v2 = os.path.join(cls.tmp, "v2.fota")
        cls.other = os.path.join(cls.tmp, "other.fota")
        pack(cls.v1, V1, 50000)
        pack(cls.v2, V2, 150000)
        pack(cls.other, V2, 20000, name="Other_Product")
        start_class_server(cls)

    @classmethod
    def tearDownClass(cls):
        stop_class_server(cls)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fota-srv-module-", dir=self.tmp)
        self.mods = []

    def tearDown(self):
        for m in self.mods:
            try:
                m.stop(signal.SIGKILL)
            except Exception:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def module(self, imei):
        m = Module(os.path.join(self.dir, imei), "--imei", imei, "--server", self.srv.url)
        self.mods.append(m)
        m.start()
        self.assertIn("OK", m.at("ATE0"))
        # No automatic check ~10 s after boot: every request comes from the test.
        self.assertIn("OK", m.at('AT+UPGRADE="AUTO",0'))
        return m

    def project(self, *images):
        ServerFotadTest.projects += 1
        key = self.srv.project("fotad-%d" % self.projects)["key"]
        for path, name, version in images:
            self.srv.upload(key, path, name, version)
        return key

    def attempt(self, m, key, want):
        """Sets KEY, runs AT+UPGRADE, waits for AT+UPGRADE? to answer want."""
        self.assertIn("OK", m.at('AT+UPGRADE="KEY","%s"' % key))
        mark = len(m.out)
        self.assertIn("OK", m.at("AT+UPGRADE"))
        got = m.wait_status(re.escape(want), timeout=10)
        self.assertEqual(got, want, "server log:\n" + self.srv.log()[-1500:])
        return m.text(mark)

    def test_25_unknown_key(self):
        m = self.module("864000000000024")
        text = self.attempt(m, "0123456789abcdef0123456789abcdef", "2,-1004,404,25")
        self.assertEqual([p for p in percents(text) if p < 0], [-1004])
        self.assertEqual(m.version(), V1)

    def test_26_unknown_firmware_name_then_17_another_project(self):
        imei = "864000000000032"
        m = self.module(imei)
        a = self.project((self.v2, NAME, V2))
        other = self.project((self.other, "Other_Product", V2))
        # 26: the project has firmware, of another name only. Binds the module to it.
        text = self.attempt(m, other, "2,-1004,404,26")
        self.assertEqual([p for p in percents(text) if p < 0], [-1004])
        self.assertEqual([(d["imei"], d["version"]) for d in self.srv.devices(other)],
                         [(imei, V1)])
        # 17: bound to `other`, the module now asks with project a's key.
        text = self.attempt(m, a, "2,-1004,403,17")
        self.assertEqual([p for p in percents(text) if p < 0], [-1004])
        self.assertEqual(self.srv.devices(a), [])
        self.assertEqual(m.version(), V1)

    def test_27_already_the_latest(self):
        m = self.module("864000000000040")
        latest = self.project((self.v1, NAME, V1))
        text = self.attempt(m, latest, "2,-1004,409,27")
        self.assertNotIn("+UPGRADEIND", text, "cause 27 is not an error URC")
        # The firmware switched off: 27 too, even when it is newer.
        key = self.project((self.v2, NAME, V2))
        fw = self.srv.firmware(key)[0]
        self.srv.admin("PATCH", "/projects/%s/firmware/%d" % (key, fw["id"]),
                       {"enabled": False})
        m2 = self.module("864000000000057")
        self.attempt(m2, key, "2,-1004,409,27")
        self.assertEqual(m2.version(), V1)

    def test_40_loop_guard_then_unban_and_upgrade(self):
        imei = "864000000000065"
        a = self.project((self.v2, NAME, V2))
        for _ in range(7):  # 7 download starts today by this IMEI
            self.assertEqual(self.srv.check(a, imei, NAME, V1).status, 200)
        m = self.module(imei)
        text = self.attempt(m, a, "2,-1004,429,40")
        self.assertEqual([p for p in percents(text) if p < 0], [-1004])
        self.assertEqual(m.version(), V1)
        self.assertIs(self.srv.devices(a)[0]["banned"], True)
        r = self.srv.admin("POST", "/projects/%s/devices/%s/unban" % (a, imei))
        self.assertEqual(r.status, 200)
        mark = len(m.out)
        self.assertIn("OK", m.at("AT+UPGRADE"))
        m.mark = mark
        m.expect(r'\+UPGRADEVER: "%s"\r\n' % V2, timeout=30)
        m.expect(r"\+UPGRADEVER: 1\r\n", timeout=20)
        self.assertEqual(m.version(), V2)

    def test_whole_upgrade_reported_and_counted(self):
        key = self.project((self.v1, NAME, V1), (self.v2, NAME, V2))
        m = self.module(IMEI)
        self.assertIn("OK", m.at('AT+UPGRADE="KEY","%s"' % key))
        start = len(m.out)
        self.assertIn("OK", m.at("AT+UPGRADE"))
        m.mark = start
        m.expect(r"\+UPGRADEIND: 100\r\n", timeout=30)
        m.expect(r"\+UPGRADEDL: 100\r\n", timeout=20)
        m.expect(r"RDY\r\n")
        m.expect(r'\+UPGRADEVER: "%s"\r\n' % re.escape(V2))
        m.expect(r"\+UPGRADEVER: (\d)\r\n", timeout=20)
        t = m.text(start)[:m.mark - start]
        self.assertEqual(percents(t), list(range(101)), "each whole percent once, in order")
        self.assertEqual(percents(t, "+UPGRADEDL"), list(range(101)))
        self.assertRegex(t[t.index("+UPGRADEDL: 100"):],
                         r'^\+UPGRADEDL: 100\r\n\r\nRDY\r\n\r\n\+UPGRADEVER: "%s"\r\n\r\n'
                         r'\+UPGRADEVER: 1\r\n$' % re.escape(V2))
        self.assertEqual(m.status(), "2,0,200,0")
        self.assertEqual(m.version(), V2)
        fws = {f["version"]: f for f in self.srv.firmware(key)}
        stats = {s["version"]: s for s in self.srv.stats(key)}  # the report came after
        self.assertEqual({k: stats[V2][k] for k in ("firmware_id", "downloads_started",
                                                    "downloads_completed",
                                                    "devices_upgraded")},
                         {"firmware_id": fws[V2]["id"], "downloads_started": 1,
                          "downloads_completed": 1, "devices_upgraded": 1})
        self.assertEqual((stats[V1]["downloads_started"], stats[V1]["devices_upgraded"]),
                         (0, 0))
        dev = self.srv.devices(key)
        self.assertEqual([(d["imei"], d["version"], d["state"], d["banned"]) for d in dev],
                         [(IMEI, V2, "upgraded", False)])
        # Again: already the latest, nothing more counted.
        self.assertIn("OK", m.at("AT+UPGRADE"))
        self.assertEqual(m.wait_status(r"2,-1004,409,27"), "2,-1004,409,27")
        stats = {s["version"]: s for s in self.srv.stats(key)}
        self.assertEqual((stats[V2]["downloads_started"], stats[V2]["devices_upgraded"]),
                         (1, 1))
        log = self.srv.log()
        self.assertEqual(len(re.findall(r'"GET /api/site/firmware_upgrade\?[^"]*%s[^"]*" 200 '
                                        % IMEI, log)), 1, log[-2000:])


if __name__ == "__main__":
    unittest.main()
