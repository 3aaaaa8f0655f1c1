"""The install with revert, end to end in fotad: a staged image (as a finished download
leaves it, via the --stage test aid) is installed at the next boot with +UPGRADEDL, runs,
confirms itself and says +UPGRADEVER; a firmware that crashes before confirming is
reverted; a bad image is never installed; and power cut at flash operations spread over
the whole sequence (--power-cut N, clean and torn) always leaves a module that boots a
whole firmware, old or new, and ends the update."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from fotalib import prog

NAME = "AirM2M_780E_LTE_AT"
V1 = "AirM2M_780E_V1121_LTE_AT"  # the built-in factory image
V2 = "AirM2M_780E_V1147_LTE_AT"


def fotad(state, *args, stdin=b""):
    return subprocess.run([prog("fotad"), "--state", state, "--imei", "864000000000008",
                           "--server", "http://127.0.0.1:9"] +
                          list(args), input=stdin, capture_output=True, timeout=60)


def pack(path, version, payload, *extra, name=NAME):
    with open(path + ".bin", "wb") as f:
        f.write(payload)
    subprocess.run([prog("fota"), "pack", "--name", name, "--version", version, "-o", path,
                    *extra, path + ".bin"], check=True, capture_output=True)
    return path


class InstallTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fotad-install-")
        self.state = os.path.join(self.dir, "module")
        self.v2 = pack(os.path.join(self.dir, "v2.fota"), V2, os.urandom(150000))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def version(self, state=None):
        out = fotad(state or self.state, stdin=b"ATE0\rAT+CGMR\r").stdout.decode()
        m = re.search(r"OK\r\n\r\n(\S+)\r\n\r\nOK", out)
        self.assertTrue(m, out)
        return m.group(1)

    def status(self, state=None):
        out = fotad(state or self.state, stdin=b"ATE0\rAT+UPGRADE?\r").stdout.decode()
        return re.search(r"\+UPGRADE: ([^\r]*)", out).group(1)

    def test_staged_image_installs_with_urcs_in_order_and_result_survives(self):
        fotad(self.state)  # a new module, factory firmware V1
        out = fotad(self.state, "--stage", self.v2).stdout.decode()
        dl = [int(p) for p in re.findall(r"\+UPGRADEDL: (\d+)", out)]
        self.assertEqual(dl, list(range(101)))
        tail = out[out.index("+UPGRADEDL: 100"):]
        self.assertRegex(tail, r'RDY\r\n\r\n\+UPGRADEVER: "%s"\r\n\r\n\+UPGRADEVER: 0\r\n' % V2)
        self.assertEqual(self.version(), V2)
        self.assertEqual(self.status(), "2,0,0,0")
        # A plain reboot later: same firmware, no new +UPGRADEVER, the result kept.
        out = fotad(self.state).stdout.decode()
        self.assertNotIn("UPGRADEVER", out)
        self.assertEqual(self.status(), "2,0,0,0")

    def test_firmware_that_never_confirms_is_reverted(self):
        crash = pack(os.path.join(self.dir, "crash.fota"), V2, os.urandom(70000),
                     "--crash-on-boot")
        out = fotad(self.state, "--stage", crash)
        self.assertIn(b"crashed before confirming", out.stderr)
        self.assertIn(('+UPGRADEVER: "%s"' % V1).encode(), out.stdout)
        self.assertEqual(self.version(), V1)
        self.assertEqual(self.status(), "2,-1003,0,0")

    def test_reverted_firmware_is_never_fetched_again(self):
        import functools
        import http.server
        import threading
        crash = pack(os.path.join(self.dir, "crash.fota"), V2, os.urandom(70000),
                     "--crash-on-boot")
        fotad(self.state, "--stage", crash)
        self.assertEqual(self.status(), "2,-1003,0,0")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=self.dir)
        handler.log_message = lambda *a: None
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            url = "http://127.0.0.1:%d/crash.fota" % srv.server_address[1]
            out = fotad(self.state, stdin=('ATE0\rAT+UPGRADE="URL","%s"\rAT+UPGRADE\r' % url)
                        .encode()).stdout.decode()
            self.assertNotIn("+UPGRADEDL", out)
            self.assertEqual(self.status(), "2,-1004,200,27")
            self.assertEqual(self.version(), V1)
        finally:
            srv.shutdown()
            srv.server_close()

    def test_bad_images_are_refused_and_never_run(self):
        fotad(self.state)
        with open(self.v2, "rb") as f:
            good = bytearray(f.read())
        flipped = bytearray(good)
        flipped[1000] ^= 0x01
        cases = {
            "flipped.fota": (bytes(flipped), "-1003"),
            "truncated.fota": (bytes(good[:-10]), "-1003"),
            "not-an-image.fota": (b"hello world" * 100, "-1003"),
        }
        for name, (data, code) in cases.items():
            path = os.path.join(self.dir, name)
            with open(path, "wb") as f:
                f.write(data)
            out = fotad(self.state, "--stage", path).stdout.decode()
            self.assertIn("+UPGRADEIND: " + code, out, name)
            self.assertNotIn("+UPGRADEDL", out, name)
            self.assertEqual(self.version(), V1, name)
            self.assertEqual(self.status(), "2,%s,0,0" % code, name)
        other = pack(os.path.join(self.dir, "other.fota"), V2, b"x" * 5000, name="Other_Product")
        self.assertIn("+UPGRADEIND: -1003", fotad(self.state, "--stage", other).stdout.decode())
        big = pack(os.path.join(self.dir, "big.fota"), V2, os.urandom(3 << 20))
        self.assertIn("+UPGRADEIND: -1005", fotad(self.state, "--stage", big).stdout.decode())
        self.assertEqual(self.version(), V1)

    def test_factory_option_sets_a_new_modules_firmware(self):
        out = fotad(self.state, "--factory", self.v2)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.version(), V2)
        bad = fotad(os.path.join(self.dir, "m2"), "--factory", os.path.join(self.dir, "none"))
        self.assertNotEqual(bad.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "m2", "flash.bin")))

    def test_power_cut_anywhere_in_stage_install_confirm_leaves_a_whole_firmware(self):
        template = os.path.join(self.dir, "template")
        fotad(template)
        # Count the flash operations of the whole sequence: a cut past the end never fires.
        probe = os.path.join(self.dir, "probe")
        shutil.copytree(template, probe)
        total = 1
        while fotad(probe, "--stage", self.v2, "--power-cut", str(total)).returncode == 3:
            shutil.rmtree(probe)
            shutil.copytree(template, probe)
            total *= 2
        lo, hi = total // 2, total  # a cut at hi did not fire; find the first that does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            shutil.rmtree(probe)
            shutil.copytree(template, probe)
            if fotad(probe, "--stage", self.v2, "--power-cut", str(mid)).returncode == 3:
                lo = mid
            else:
                hi = mid
        ops = lo
        points = sorted(set(list(range(1, 12)) + list(range(1, ops + 1, max(1, ops // 60))) +
                            list(range(max(1, ops - 10), ops + 1))))
        outcomes = {V1: 0, V2: 0}
        for n in points:
            for kind in ("", ",torn"):
                st = os.path.join(self.dir, "cut")
                shutil.rmtree(st, ignore_errors=True)
                shutil.copytree(template, st)
                r = fotad(st, "--stage", self.v2, "--power-cut", "%d%s" % (n, kind))
                self.assertEqual(r.returncode, 3, (n, kind, r.stderr))
                after = fotad(st)
                self.assertEqual(after.returncode, 0, (n, kind, after.stderr))
                v = self.version(st)
                self.assertIn(v, (V1, V2), (n, kind))
                self.assertEqual(self.version(st), v, "stable across boots")
                outcomes[v] += 1
        print("\n    fotad install: %d flash operations; %d cut points x 2 (clean, torn); "
              "ended on old %d, new %d" % (ops, len(points), outcomes[V1], outcomes[V2]))
        self.assertGreater(outcomes[V2], 0)


if __name__ == "__main__":
    unittest.main()
