"""The download, end to end: fotad fetches a firmware image over real HTTP from real
servers on 127.0.0.1 (python3's http.server, a private nginx, the KEY-mode test double
keyserver.py), stages it, reboots, installs it and says so, as the AT+UPGRADE contract
(/work/shared/spec/AT+UPGRADE.md) wants:

- URL mode: the URC sequence of a whole upgrade, AT+UPGRADE? after it, If-Modified-Since
  answered 304, "not newer" decided on the header alone (nginx's access log counts the
  bytes), each refusal's code (404, another product, too big, bad hash, truncated, https
  to a server that speaks no TLS, radio off), and redirects (absolute, relative, a loop);
- a power cut (kill -9) in the middle of a throttled download: the module resumes by itself
  with a Range request and the server sends the image about once in all; a file changed
  on the server meanwhile is fetched whole (If-Range → 200);
- the AT port answers during a download (state 1, busy); AT+CFUN=0 ends it (-1001) and the
  next AT+UPGRADE resumes it;
- KEY mode: every refusal cause reaches AT+UPGRADE?, a 200 upgrades and the new version is
  reported (+UPGRADEVER: 1), or not when the server is gone (+UPGRADEVER: 0); a connection
  reset mid-download is retried with Range (206), or from the start when the server
  ignores Range (200);
- the AUTO/PERIOD schedule with --clock-rate, and AUTO 0 stopping it.

Every server listens on 127.0.0.1 at a port chosen free at run time; every wait is bounded."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import serial

from fotalib import Fotad, prog
import keyserver
import nginx
from nginx import free_port

NAME = "AirM2M_780E_LTE_AT"
V1 = "AirM2M_780E_V1121_LTE_AT"  # fotad's built-in factory image
V2 = "AirM2M_780E_V1147_LTE_AT"
V3 = "AirM2M_780E_V1150_LTE_AT"
IMEI = "864000000000008"
PYTHON = "/usr/bin/python3"
# Slack allowed over the image size in the bytes a server sends for a resumed download:
# one stage progress block (the slot / 4096 bytes: about 512 here) and one network read of
# the agent (FOTA_IO_BUF_SIZE, 1 KiB), rounded up.
RESUME_SLACK = 4096


def pack(path, version, payload, *extra, name=NAME):
    """An image made by `fota pack`; payload is bytes or a size (random bytes)."""
    if isinstance(payload, int):
        payload = os.urandom(payload)
    with open(path + ".bin", "wb") as f:
        f.write(payload)
    subprocess.run([prog("fota"), "pack", "--name", name, "--version", version, "-o", path,
                    *extra, path + ".bin"], check=True, capture_output=True)
    os.unlink(path + ".bin")
    return path


def wait_port(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


class HttpServer:
    """python3 -m http.server as a subprocess; its request log (stderr) goes to a file."""

    def __init__(self, directory):
        self.dir = directory
        self.logfile = os.path.join(tempfile.mkdtemp(prefix="fota-httpserver-"), "log")
        self.proc = None

    def start(self):
        for _ in range(5):
            self.port = free_port()
            log = open(self.logfile, "ab")
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "http.server", "--bind", "127.0.0.1", str(self.port),
                 "--directory", self.dir], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            log.close()
            if wait_port(self.port, self.proc):
                return self
            self.stop()
        raise RuntimeError("http.server did not start: " + self.log())

    def url(self, name):
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def statuses(self, name):
        """The statuses of the GETs of /name logged so far."""
        return [int(s) for s in re.findall(r'"GET /%s HTTP/1\.[01]" (\d{3})' % re.escape(name),
                                           self.log())]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)

    def cleanup(self):
        self.stop()
        shutil.rmtree(os.path.dirname(self.logfile), ignore_errors=True)


class Module(Fotad):
    """fotad on a pty, with a thread that keeps reading the AT port into a transcript, so
    the module never waits for a reader and the tests see every URC with its time."""

    def start(self, timeout=10):
        super().start(timeout)
        self.out = bytearray()
        self.cond = threading.Condition()
        self.mark = 0
        self.stopping = False
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()
        return self

    def _pump(self):
        port = self.port
        while not self.stopping:
            try:
                chunk = port.read(1)  # waits up to the port's timeout for a first byte
                if chunk and port.in_waiting:
                    chunk += port.read(port.in_waiting)
            except (serial.SerialException, OSError, TypeError, AttributeError):
                break  # fotad went away (kill -9) or the port was closed
            if chunk:
                with self.cond:
                    self.out += chunk
                    self.cond.notify_all()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        self.stopping = True
        if sig == signal.SIGKILL and self.proc and self.proc.poll() is None:
            self.proc.kill()  # the power cut first, then the host's side
            self.proc.wait(timeout)
        if getattr(self, "reader", None):
            self.reader.join(2)
        rc = super().stop(sig, timeout)
        pty_dir = os.path.dirname(self.link)  # made by Fotad for this module alone
        if os.path.basename(pty_dir).startswith("fotad-pty-"):
            shutil.rmtree(pty_dir, ignore_errors=True)
        return rc

    def text(self, start=0):
        with self.cond:
            return bytes(self.out[start:]).decode("latin-1")

    def logtext(self):
        self._read_log()
        return self.log.decode("latin-1", "replace")

    def _wait(self, test, timeout):
        """Waits until test(transcript) gives a true value, which it returns; None on
        timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                r = test(bytes(self.out).decode("latin-1"))
                if r:
                    return r
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self.reader.is_alive():
                    return None
                self.cond.wait(min(left, 0.1))

    def expect(self, pattern, timeout=10):
        """The next match of pattern after the last expect's; fails the test on timeout."""
        rx = re.compile(pattern)
        m = self._wait(lambda t: rx.search(t, self.mark), timeout)
        if not m:
            raise AssertionError("waited %gs for %r; AT port after the mark: %r\nlog: %s" % (
                timeout, pattern, self.text(self.mark)[-1500:], self.logtext()[-1500:]))
        self.mark = m.end()
        return m

    def at(self, line, timeout=5):
        """Sends a command; returns what came from then to its final result code."""
        with self.cond:
            start = len(self.out)
        self.send(line + "\r")
        rx = re.compile(r"\r\n(OK|ERROR|\+CME ERROR: [^\r]*)\r\n")
        m = self._wait(lambda t: rx.search(t, start), timeout)
        if not m:
            raise TimeoutError("%r: got %r" % (line, self.text(start)))
        return self.text(start)[:m.end() - start]

    def status(self):
        m = re.search(r"\+UPGRADE: ([^\r]*)\r\n", self.at("AT+UPGRADE?"))
        return m.group(1) if m else None

    def wait_status(self, want, timeout=15):
        """Polls AT+UPGRADE? until it answers want (a regex, matched whole); returns the
        last answer."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if re.fullmatch(want, st or "") or time.monotonic() > deadline:
                return st
            time.sleep(0.1)

    def version(self):
        m = re.search(r"\r\n([^+\r\n][^\r\n]*)\r\n\r\nOK\r\n", self.at("AT+CGMR"))
        return m.group(1) if m else None


def percents(text, urc="+UPGRADEIND"):
    return [int(p) for p in re.findall(re.escape(urc) + r": (-?\d+)\r\n", text)]


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fota-dl-")
        self.state = os.path.join(self.dir, "module")
        self.mods = []

    def tearDown(self):
        for m in self.mods:
            try:
                m.stop(signal.SIGKILL)
            except Exception:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def module(self, *args, state=None):
        m = Module(state or self.state, "--imei", IMEI, *args)
        self.mods.append(m)
        m.start()  # ready (pyserial's open drops what came before it, RDY included)
        self.assertIn("OK", m.at("ATE0"))
        return m

    def power_cut(self, m):
        m.stop(signal.SIGKILL)
        self.assertEqual(m.proc.returncode, -signal.SIGKILL)

    def radio_off_then_resume(self, m, ng, size):
        """fw.fota of the nginx ng downloaded by m, AT+CFUN=0 at 20% (-1001), the radio
        back and AT+UPGRADE again: the download resumes with Range (206) and installs
        V2, nginx sending each byte once. Returns the resume offset and nginx's log."""
        m.at('AT+UPGRADE="URL","%s"' % ng.url("fw.fota"))
        m.at("AT+UPGRADE")
        m.expect(r"\+UPGRADEIND: 20\r\n", timeout=20)
        self.assertIn("OK", m.at("AT+CFUN=0"))
        m.expect(r"\+UPGRADEIND: -1001\r\n", timeout=5)
        self.assertRegex(m.status(), r"^2,-1001,")
        self.assertIn("OK", m.at("AT+CFUN=1"))
        mark = len(m.out)
        self.assertIn("OK", m.at("AT+UPGRADE"))
        self.assert_upgrade_sequence(m, V2, 0, start=mark, resumed=True)
        self.assertEqual(m.status(), "2,0,206,0")
        log = ng.wait_log(2)
        self.assertEqual([e["status"] for e in log], [200, 206], log)
        offset = int(re.fullmatch(r"bytes=(\d+)-", log[1]["range"]).group(1))
        self.assertGreaterEqual(offset, size * 20 // 100)
        self.assertEqual(log[1]["bytes"], size - offset)
        return offset, log

    def assert_upgrade_sequence(self, m, new_version, upload_state, start=None,
                                resumed=False):
        """From start in the transcript (by default the last expect's end): +UPGRADEIND
        0..100 (from where a resumed download took up), each whole percent once, the
        reboot, +UPGRADEDL 0..100, RDY, +UPGRADEVER: "<new>", +UPGRADEVER: <upload
        state>, in this order."""
        start = m.mark if start is None else start
        m.mark = start
        m.expect(r"\+UPGRADEIND: 100\r\n", timeout=30)
        m.expect(r"\+UPGRADEDL: 100\r\n", timeout=20)
        m.expect(r"RDY\r\n")
        m.expect(r'\+UPGRADEVER: "%s"\r\n' % re.escape(new_version))
        m.expect(r"\+UPGRADEVER: (\d)\r\n", timeout=20)
        t = m.text(start)[:m.mark - start]
        ind = percents(t)
        self.assertEqual(ind, list(range(ind[0] if resumed else 0, 101)),
                         "each whole percent once, in order")
        self.assertEqual(percents(t, "+UPGRADEDL"), list(range(101)))
        self.assertLess(t.index("+UPGRADEIND: 100"), t.index("+UPGRADEDL: 0"))
        self.assertRegex(t[t.index("+UPGRADEDL: 100"):],
                         r'^\+UPGRADEDL: 100\r\n\r\nRDY\r\n\r\n\+UPGRADEVER: "%s"\r\n\r\n'
                         r'\+UPGRADEVER: %d\r\n$' % (re.escape(new_version), upload_state))
        self.assertIn("download complete and verified", m.logtext())


# ---- URL mode against python3's http.server -------------------------------------------

class UrlModeTest(Base):
    @classmethod
    def setUpClass(cls):
        cls.www = tempfile.mkdtemp(prefix="fota-www-")
        pack(os.path.join(cls.www, "fw.fota"), V2, 150000)
        pack(os.path.join(cls.www, "same.fota"), V1, 150000)
        pack(os.path.join(cls.www, "other.fota"), V2, 20000, name="Other_Product")
        pack(os.path.join(cls.www, "big.fota"), V2, 3 << 20)  # the slots are about 2 MiB
        with open(os.path.join(cls.www, "fw.fota"), "rb") as f:
            good = bytearray(f.read())
        bad = bytearray(good)
        bad[100000] ^= 0x01  # in the payload: the header is fine, the hash is not
        with open(os.path.join(cls.www, "corrupt.fota"), "wb") as f:
            f.write(bad)
        with open(os.path.join(cls.www, "truncated.fota"), "wb") as f:
            f.write(good[:-10])
        cls.hs = HttpServer(cls.www).start()

    @classmethod
    def tearDownClass(cls):
        cls.hs.cleanup()
        shutil.rmtree(cls.www, ignore_errors=True)

    def test_upgrade_from_url_with_urcs_in_order_then_304_is_latest(self):
        m = self.module()
        self.assertIn("OK", m.at('AT+UPGRADE="URL","%s"' % self.hs.url("fw.fota")))
        self.assertIn("OK", m.at("AT+UPGRADE"))
        self.assert_upgrade_sequence(m, V2, 0)
        self.assertEqual(m.status(), "2,0,200,0")
        self.assertEqual(m.version(), V2)
        # Again: the module asks with If-Modified-Since; http.server answers 304.
        self.assertIn("OK", m.at("AT+UPGRADE"))
        self.assertEqual(m.wait_status(r"2,-1004,304,27"), "2,-1004,304,27")
        self.assertEqual(self.hs.statuses("fw.fota"), [200, 304])
        self.assertNotIn("+UPGRADEIND", m.text(m.mark), "cause 27 is not an error URC")
        self.assertEqual(m.version(), V2)

    def test_same_version_on_server_is_latest_and_not_installed(self):
        m = self.module()
        m.at('AT+UPGRADE="URL","%s"' % self.hs.url("same.fota"))
        m.at("AT+UPGRADE")
        self.assertEqual(m.wait_status(r"2,.*"), "2,-1004,200,27")
        self.assertEqual(self.hs.statuses("same.fota"), [200])
        self.assertNotIn("+UPGRADEIND", m.text(), "decided on the header: no download")
        self.assertEqual(m.version(), V1)

    def test_refusals_give_their_codes_and_change_nothing(self):
        m = self.module()
        https = "https://127.0.0.1:%d/fw.fota" % self.hs.port
        cases = [  # (URL, AT+UPGRADE? after it, +UPGRADEIND error URC)
            (self.hs.url("missing.fota"), "2,-1004,404,0", -1004),
            (self.hs.url("other.fota"), "2,-1003,200,0", -1003),
            (self.hs.url("big.fota"), "2,-1005,200,0", -1005),
            (self.hs.url("corrupt.fota"), "2,-1003,200,0", -1003),
            (https, "2,-1002,0,0", -1002),  # a TLS handshake with a plain HTTP server
            (self.hs.url("truncated.fota"), "2,-1003,200,0", -1003),
        ]
        for url, want, urc in cases:
            with self.subTest(url=url):
                m.at('AT+UPGRADE="URL","%s"' % url)
                mark = len(m.out)
                self.assertIn("OK", m.at("AT+UPGRADE"))
                # Each case's answer differs from the one before: wait for it.
                self.assertEqual(m.wait_status(re.escape(want)), want)
                m._wait(lambda t: "+UPGRADEIND: %d\r\n" % urc in t[mark:], 3)
                self.assertEqual([p for p in percents(m.text(mark)) if p < 0], [urc])
                self.assertEqual(m.version(), V1)
        self.assertEqual(self.hs.statuses("big.fota"), [200])
        # The radio off: no attempt reaches the server.
        m.at('AT+UPGRADE="URL","%s"' % self.hs.url("fw.fota"))
        self.assertIn("OK", m.at("AT+CFUN=0"))
        self.assertIn("OK", m.at("AT+UPGRADE"))
        self.assertEqual(m.wait_status(r"2,-1001,.*"), "2,-1001,0,0")
        self.assertEqual(self.hs.statuses("fw.fota"), [])
        self.assertIn("OK", m.at("AT+CFUN=1"))
        # Nothing was staged: a reboot installs nothing.
        m.stop()
        m = self.module()
        self.assertEqual(m.version(), V1)
        self.assertNotIn("UPGRADE", m.text())


# ---- nginx: byte counts, power cut and resume, the AT port during a download -----------

@unittest.skipUnless(nginx.available(), "nginx is not installed (scripts/install-deps)")
class NginxTest(Base):
    def setUp(self):
        super().setUp()
        self.www = os.path.join(self.dir, "www")
        os.mkdir(self.www)
        self.ng = None

    def tearDown(self):
        if self.ng:
            self.ng.cleanup()
        super().tearDown()

    def serve(self, limit_rate=None):
        self.ng = nginx.Nginx(self.www, limit_rate=limit_rate).start()
        return self.ng

    def fw(self, version, size, name="fw.fota"):
        path = pack(os.path.join(self.www, name), version, size)
        return path, os.path.getsize(path)

    def wait_quiet_then_cut(self, m, percent, quiet=0.15, timeout=15):
        """Waits for +UPGRADEIND: percent, then for a pause in the stream (nginx's
        limit_rate sends in bursts: between them the module has read all that was sent),
        and cuts the power."""
        m.expect(r"\+UPGRADEIND: %d\r\n" % percent, timeout=timeout)
        deadline = time.monotonic() + 3
        n = len(m.out)
        while time.monotonic() < deadline:
            time.sleep(quiet)
            if len(m.out) == n:
                break
            n = len(m.out)
        else:
            print("\n    (no pause in the stream: cut while it flows)", file=sys.stderr)
        self.power_cut(m)
        return max(percents(m.text()))

    def test_not_newer_image_is_refused_on_its_header_with_little_sent(self):
        _, size = self.fw(V1, 1 << 20)
        ng = self.serve(limit_rate="16k")
        m = self.module()
        m.at('AT+UPGRADE="URL","%s"' % ng.url("fw.fota"))
        t0 = time.monotonic()
        m.at("AT+UPGRADE")
        self.assertEqual(m.wait_status(r"2,.*"), "2,-1004,200,27")
        took = time.monotonic() - t0
        log = ng.wait_log(1)
        self.assertEqual([e["status"] for e in log], [200])
        sent = log[0]["bytes"]
        print("\n    not newer: nginx sent %d of %d bytes (%.1f%%), answer in %.2f s" % (
            sent, size, 100.0 * sent / size, took), file=sys.stderr)
        self.assertLess(sent, 64 * 1024)
        self.assertLess(took, 5)
        self.assertEqual(m.version(), V1)

    def test_power_cut_mid_download_resumes_by_itself_with_range(self):
        _, size = self.fw(V2, 700000)
        ng = self.serve(limit_rate="200k")
        m = self.module()
        m.at('AT+UPGRADE="URL","%s"' % ng.url("fw.fota"))
        m.at("AT+UPGRADE")
        cut_at = self.wait_quiet_then_cut(m, 30)
        first = ng.wait_log(1)
        self.assertEqual(len(first), 1)
        self.assertEqual(first[0]["status"], 200)
        # Power back: AUTO is 1, so the module goes on by itself after the boot delay.
        t0 = time.monotonic()
        m = self.module()
        m.expect(r"\+UPGRADEIND: (\d+)\r\n", timeout=15)
        resumed_after = time.monotonic() - t0
        self.assert_upgrade_sequence(m, V2, 0, start=0, resumed=True)
        self.assertLessEqual(percents(m.text())[0], cut_at + 1)
        self.assertEqual(m.status(), "2,0,206,0")
        self.assertEqual(m.version(), V2)
        log = ng.wait_log(2)
        self.assertEqual([e["status"] for e in log], [200, 206], log)
        m_range = re.fullmatch(r"bytes=(\d+)-", log[1]["range"] or "")
        self.assertTrue(m_range, log[1])
        offset = int(m_range.group(1))
        self.assertEqual(log[1]["if_range"], '"%s"' % log[0]["etag"])
        total = sum(e["bytes"] for e in log)
        print("\n    power cut at %d%%: nginx sent %d + %d = %d bytes for a %d-byte image "
              "(%+d; resumed from byte %d, %.1f s after power on)" % (
                  cut_at, log[0]["bytes"], log[1]["bytes"], total, size, total - size,
                  offset, resumed_after), file=sys.stderr)
        self.assertEqual(log[1]["bytes"], size - offset)
        self.assertLessEqual(offset, log[0]["bytes"])
        self.assertGreaterEqual(offset, size * 20 // 100)
        self.assertLessEqual(total, size + RESUME_SLACK)

    def test_file_changed_during_power_cut_is_fetched_whole(self):
        _, size = self.fw(V2, 500000)
        ng = self.serve(limit_rate="200k")
        m = self.module()
        m.at('AT+UPGRADE="URL","%s"' % ng.url("fw.fota"))
        m.at("AT+UPGRADE")
        self.wait_quiet_then_cut(m, 30)
        ng.stop()
        _, size3 = self.fw(V3, 400000)  # another file: another size and ETag
        ng.start()
        m = self.module()
        self.assertIn("OK", m.at("AT+UPGRADE"))  # at once, not after the boot delay
        self.assert_upgrade_sequence(m, V3, 0)
        self.assertEqual(m.status(), "2,0,200,0")
        self.assertEqual(m.version(), V3)
        log = ng.wait_log(2)
        self.assertEqual([e["status"] for e in log], [200, 200], log)
        self.assertTrue(log[1]["range"] and log[1]["if_range"], "asked to resume: %r" % log[1])
        self.assertNotEqual(log[1]["if_range"].strip('"'), log[1]["etag"])
        self.assertEqual(log[1]["bytes"], size3, "the whole new file")

    def test_redirects_are_followed_in_url_mode(self):
        self.fw(V2, 150000)
        self.ng = nginx.Nginx(self.www, extra="""
            location = /abs.fota { return 302 http://127.0.0.1:{port}/fw.fota; }
            location = /rel.fota { absolute_redirect off; return 301 /fw.fota; }
            location = /loop.fota { absolute_redirect off; return 302 /loop.fota; }
        """).start()
        m = self.module()
        m.at('AT+UPGRADE="URL","%s"' % self.ng.url("loop.fota"))
        m.at("AT+UPGRADE")
        self.assertEqual(m.wait_status(r"2,.*"), "2,-1004,302,0")
        loops = len(self.ng.wait_log(6))
        self.assertTrue(2 <= loops <= 10, "a bounded number of redirects: %d" % loops)
        m.at('AT+UPGRADE="URL","%s"' % self.ng.url("abs.fota"))
        start = len(m.out)
        m.at("AT+UPGRADE")
        self.assert_upgrade_sequence(m, V2, 0, start=start)
        self.assertEqual(m.status(), "2,0,200,0")
        m2 = self.module(state=os.path.join(self.dir, "module2"))
        m2.at('AT+UPGRADE="URL","%s"' % self.ng.url("rel.fota"))
        m2.at("AT+UPGRADE")
        self.assert_upgrade_sequence(m2, V2, 0)
        log = [(e["uri"], e["status"]) for e in self.ng.log()[loops:]]
        self.assertEqual(log, [("/abs.fota", 302), ("/fw.fota", 200),
                               ("/rel.fota", 301), ("/fw.fota", 200)])

    def test_at_port_answers_during_download(self):
        self.fw(V2, 400000)
        ng = self.serve(limit_rate="100k")
        m = self.module()
        m.at('AT+UPGRADE="URL","%s"' % ng.url("fw.fota"))
        start = len(m.out)
        m.at("AT+UPGRADE")
        m.expect(r"\+UPGRADEIND: 10\r\n")
        answer = m.at("AT+UPGRADE?")
        st = re.search(r"\+UPGRADE: 1,(\d+)\r\n\r\nOK\r\n$", answer)
        self.assertTrue(st, answer)
        self.assertTrue(10 <= int(st.group(1)) < 100, answer)
        busy = m.at("AT+UPGRADE")
        self.assertTrue(busy.endswith("\r\nERROR\r\n"), busy)
        # Commands while the URCs flow: each answer whole, URCs only before or after it.
        # (Until 80%: near the end the module reboots, and answers come after its URCs.)
        # An answer is cut from the transcript at the moment the command was sent, which may
        # fall inside a URC the module was writing: its tail ("…33\r\n") may come first.
        urcs = r"([^\r\n]*\r\n)?(\r\n(\+UPGRADE(IND|DL|VER): [^\r]*|RDY)\r\n)*"
        seen = [int(st.group(1))]
        for _ in range(15):
            answer = m.at("AT+UPGRADE?")
            st = re.fullmatch(urcs + r"\r\n\+UPGRADE: ([12]),?(\d*)[^\r]*\r\n\r\nOK\r\n",
                              answer)
            self.assertTrue(st, answer)
            if st.group(5) != "1":
                break
            seen.append(int(st.group(6)))
            answer = m.at("AT+CSQ")
            self.assertRegex(answer, "^" + urcs + r"\r\n\+CSQ: [^\r]*\r\n\r\nOK\r\n$")
            if seen[-1] >= 80:
                break
            time.sleep(0.05)
        self.assertEqual(seen, sorted(seen), "the percent never goes down")
        self.assert_upgrade_sequence(m, V2, 0, start=start)
        self.assertEqual(m.status(), "2,0,200,0")
        self.assertEqual(len(ng.wait_log(1)), 1, "the busy AT+UPGRADE started nothing")

    def test_cfun0_ends_the_download_and_the_next_attempt_resumes(self):
        _, size = self.fw(V2, 400000)
        ng = self.serve(limit_rate="100k")
        m = self.module()
        offset, log = self.radio_off_then_resume(m, ng, size)
        print("\n    AT+CFUN=0 at byte %d: nginx sent %d bytes for a %d-byte image" % (
            offset, log[0]["bytes"] + log[1]["bytes"], size), file=sys.stderr)


# ---- KEY mode against keyserver.py ----------------------------------------------------

class KeyModeTest(Base):
    def setUp(self):
        super().setUp()
        self.ks = keyserver.KeyServer().start()
        self.v2 = pack(os.path.join(self.dir, "v2.fota"), V2, 150000)

    def tearDown(self):
        self.ks.stop()
        super().tearDown()

    def test_each_refusal_cause_reaches_the_status(self):
        m = self.module("--server", self.ks.url)
        self.assertIn("OK", m.at('AT+UPGRADE="KEY","a1b2c3"'))
        for code, status in ((3, 400), (17, 403), (25, 404), (26, 410), (27, 409)):
            with self.subTest(code=code):
                self.ks.refuse(code, status)
                mark = len(m.out)
                self.assertIn("OK", m.at("AT+UPGRADE"))
                want = "2,-1004,%d,%d" % (status, code)
                self.assertEqual(m.wait_status(re.escape(want)), want)
                urc = [p for p in percents(m.text(mark)) if p < 0]
                self.assertEqual(urc, [] if code == 27 else [-1004])
        checks = self.ks.checks()
        self.assertEqual(len(checks), 5)
        self.assertEqual(checks[0]["params"], {"project_key": "a1b2c3", "imei": IMEI,
                                               "firmware_name": NAME, "version": V1})
        self.assertEqual(m.version(), V1)

    def test_key_upgrade_then_the_new_version_is_reported(self):
        self.ks.offer(self.v2, newer_than=V1)
        m = self.module("--server", self.ks.url)
        m.at('AT+UPGRADE="KEY","a1b2c3"')
        m.at("AT+UPGRADE")
        self.assert_upgrade_sequence(m, V2, 1)
        self.assertEqual(m.status(), "2,0,200,0", "the download's result, kept")
        versions = [c["params"]["version"] for c in self.ks.checks()]
        self.assertEqual(versions, [V1, V2], "the check, then the report")
        self.assertEqual(self.ks.checks()[1]["params"]["project_key"], "a1b2c3")

    def test_report_fails_when_the_server_is_gone(self):
        self.ks.offer(self.v2, gone_after=True)
        m = self.module("--server", self.ks.url)
        m.at('AT+UPGRADE="KEY","a1b2c3"')
        m.at("AT+UPGRADE")
        self.assert_upgrade_sequence(m, V2, 0)
        self.assertEqual(m.version(), V2)
        self.assertEqual(len(self.ks.checks()), 1)

    def test_lost_connection_is_retried_with_range(self):
        v2 = pack(os.path.join(self.dir, "v2big.fota"), V2, 300000)
        size = os.path.getsize(v2)
        self.ks.offer(v2, newer_than=V1, cut_after=100000)
        m = self.module("--server", self.ks.url)
        m.at('AT+UPGRADE="KEY","a1b2c3"')
        m.at("AT+UPGRADE")
        self.assert_upgrade_sequence(m, V2, 1)  # one attempt: the percents go on
        self.assertEqual(m.status(), "2,0,206,0")
        checks = self.ks.checks()
        self.assertEqual([c["params"]["version"] for c in checks], [V1, V1, V2])
        self.assertIsNone(checks[0]["range"])
        offset = int(re.fullmatch(r"bytes=(\d+)-", checks[1]["range"] or "").group(1))
        self.assertTrue(100000 - RESUME_SLACK <= offset <= 100000, offset)
        answers = self.ks.answers[:2]
        self.assertEqual(answers, [(200, 100000), (206, size - offset)])
        print("\n    connection reset at byte 100000: retried from byte %d; server sent %d "
              "bytes for a %d-byte image" % (offset, 100000 + size - offset, size),
              file=sys.stderr)
        self.assertLessEqual(100000 + size - offset, size + RESUME_SLACK)

    def test_server_without_ranges_gives_the_whole_file_again(self):
        v2 = pack(os.path.join(self.dir, "v2big.fota"), V2, 300000)
        size = os.path.getsize(v2)
        self.ks.offer(v2, newer_than=V1, cut_after=100000, ranges=False)
        m = self.module("--server", self.ks.url)
        m.at('AT+UPGRADE="KEY","a1b2c3"')
        m.at("AT+UPGRADE")
        self.assert_upgrade_sequence(m, V2, 1)
        self.assertEqual(m.status(), "2,0,200,0")
        checks = self.ks.checks()
        self.assertTrue(checks[1]["range"], "asked to resume")
        self.assertEqual(self.ks.answers[:2], [(200, 100000), (200, size)])
        self.assertEqual(m.version(), V2)

    def test_schedule_follows_period_with_clock_rate_and_auto_0_stops_it(self):
        self.ks.refuse(27)
        t0 = time.monotonic()
        m = self.module("--server", self.ks.url, "--clock-rate", "30")
        m.at('AT+UPGRADE="KEY","a1b2c3"')
        self.assertIn("OK", m.at('AT+UPGRADE="PERIOD",60'))  # 2 s at 30 times the speed
        time.sleep(max(0.0, t0 + 16.5 - time.monotonic()))
        times = [c["time"] - t0 for c in self.ks.checks()]
        gaps = [b - a for a, b in zip(times, times[1:])]
        print("\n    schedule: checks at %s s after start" %
              ", ".join("%.1f" % t for t in times), file=sys.stderr)
        self.assertTrue(3 <= len(times) <= 6, times)
        self.assertTrue(8 <= times[0] <= 13, "first check ~10 s after boot: %r" % times)
        self.assertTrue(all(1.0 <= g <= 4.0 for g in gaps), gaps)
        self.assertIn("OK", m.at('AT+UPGRADE="AUTO",0'))
        time.sleep(0.3)  # a check already under way may end
        n = len(self.ks.checks())
        time.sleep(3.5)  # over 1.5 periods
        self.assertEqual(len(self.ks.checks()), n, "AUTO 0: no more checks")
        self.assertEqual(m.status(), "2,-1004,409,27")


if __name__ == "__main__":
    unittest.main()
