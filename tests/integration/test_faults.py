"""Faults on the wire, between fotad and a real server: relay.py sits between the module
(URL mode, AT+UPGRADE="URL","http://127.0.0.1:<relay>/fw.fota") and the private nginx of
nginx.py, and cuts (RST, FIN), stalls, trickles, flips a byte of or truncates the answer,
once or on every connection. For each fault the tests prove, against the AT+UPGRADE
contract (/work/shared/spec/AT+UPGRADE.md):

- when the fault persists, the attempt ends with the contract's code (-1002 for a broken
  connection, -1001 for a timeout, -1003 for a corrupt image, -1004 for a broken HTTP
  answer) after the agent's retries, and nothing is installed (AT+CGMR unchanged after a
  restart);
- when it clears, the download finishes and installs the right image (the running slot
  holds the served file byte for byte), resuming with a Range and fetching no byte twice
  beyond what the cut threw away: the relay counts the body bytes it forwarded on each
  connection, nginx's access log the body bytes it sent ($body_bytes_sent).

fotad runs with --net-timeout 1500 (connect and idle timeout), AUTO 0 (no check of its own
while a test waits) and --server http://127.0.0.1:9. Each case starts from a copy of one
template module's state folder. Each case prints one line: the fault, AT+UPGRADE?'s
answer, the body bytes the relay forwarded and nginx sent against the image's size.

Retry arithmetic of the agent (include/fota/config.h): a try that brings no image byte
counts, 4 in a row end the attempt (FOTA_DL_TRIES), with backoffs 1, 2, 4 s between them;
a try that brings bytes starts the count again (up to FOTA_DL_DROPS_MAX = 32 such drops).
So a persistent fault is put at a fixed offset of the *file* (the relay knows the 206's
Content-Range): the first connection brings bytes, the next ones none, and the attempt
ends about 7 s later. (Measured, not tested here for the time it takes: a cut after 1 KiB
of each connection's body brings bytes every time, and the attempt ends with -1002 after
34 connections and about 37 s; so does a persistent cut inside the 128-byte image header,
though its bytes are thrown away and every retry starts again from byte 0.)"""
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import unittest

import nginx
from fotalib import NO_SERVER
from relay import Fault, Relay, always, once
from test_download import IMEI, V1, V2, Base, Module, pack, percents

NET_TIMEOUT_MS = 1500
PAYLOAD = 400000          # an image of about 400 KB
READ = 1024               # FOTA_IO_BUF_SIZE: one read of the agent
RUNNING_SLOT = 0x10000    # docs/flash-layout.md: R of the default 4 MiB layout
# How far nginx may run ahead of what the relay forwarded on a cut connection: its send
# buffer (sndbuf=8k on the relay's listener, doubled by the kernel), the relay's receive
# buffer (16 KiB, doubled) and the chunk the relay held when it cut (16 KiB).
NGINX_AHEAD = 96 * 1024

_env = {}
ROWS = []


def row(fault, status, relay_body, nginx_body, size, conns, extra=""):
    line = ("%-44s -> %-14s relay body %7d (%+7d)  nginx body %7d (%+7d)  image %d  %d conn%s"
            "%s" % (fault, status, relay_body, relay_body - size, nginx_body,
                    nginx_body - size, size, conns, "" if conns == 1 else "s",
                    ("  " + extra) if extra else ""))
    ROWS.append(line)
    print("\n    " + line, file=sys.stderr, end="")


def setUpModule():
    if not nginx.available():
        raise unittest.SkipTest("nginx is not installed (scripts/install-deps)")
    d = _env["dir"] = tempfile.mkdtemp(prefix="fota-faults-")
    www = os.path.join(d, "www")
    os.mkdir(www)
    path = pack(os.path.join(www, "fw.fota"), V2, PAYLOAD)
    with open(path, "rb") as f:
        _env["image"] = f.read()
    # A second listener with a small send buffer, for the relay: nginx counts as sent
    # what its socket took, so a big buffer would count bytes the relay never forwarded.
    port = nginx.free_port()
    ng = _env["nginx"] = nginx.Nginx(www, extra="listen 127.0.0.1:%d sndbuf=8k;" % port)
    ng.start()
    _env["upstream"] = port
    # The template module: factory image V1, AUTO 0 (no check of its own).
    tpl = _env["template"] = os.path.join(d, "template")
    m = Module(tpl, "--imei", IMEI, "--server", NO_SERVER)
    m.start()
    try:
        m.at("ATE0")
        if "OK" not in m.at('AT+UPGRADE="AUTO",0'):
            raise RuntimeError("AUTO 0 refused")
    finally:
        m.stop()


def tearDownModule():
    if "nginx" in _env:
        _env["nginx"].cleanup()
    if ROWS:
        print("\n\nfault -> AT+UPGRADE? / bytes (body bytes; image %d)\n%s" % (
            len(_env["image"]), "\n".join(ROWS)), file=sys.stderr)
    shutil.rmtree(_env.get("dir", "/nonexistent"), ignore_errors=True)


class FaultTest(Base):
    def setUp(self):
        super().setUp()
        self.image = _env["image"]
        self.size = len(self.image)
        self.ng = _env["nginx"]
        self.relays = []
        self.conns = None
        shutil.copytree(_env["template"], self.state)

    def tearDown(self):
        super().tearDown()  # the modules first: a relay waits for its clients to go
        for r in self.relays:
            r.stop()

    # ---- helpers --------------------------------------------------------------------------

    def start(self, plan, state=None):
        """A relay with plan, and the module (the state folder, by default a copy of the
        template) pointed at it; the attempt is not started."""
        r = Relay(_env["upstream"], plan=plan).start()
        self.relays.append(r)
        m = self.module("--net-timeout", str(NET_TIMEOUT_MS), "--server", NO_SERVER,
                        state=state)
        self.assertIn("OK", m.at('AT+UPGRADE="URL","%s"' % r.url("fw.fota")))
        return m, r

    def restart(self, m):
        """The same module after a power cycle (SIGTERM, then the same state folder)."""
        m.stop()
        self.mods.remove(m)
        return self.module("--net-timeout", str(NET_TIMEOUT_MS), "--server", NO_SERVER,
                           state=m.state_dir)

    def upgrade(self, m, r, want, timeout=40):
        """AT+UPGRADE; waits for the end: the install's URCs when want is a success
        (2,0,...), else the state 2 answer. Returns (answer, new nginx log entries)."""
        n0 = len(self.ng.log())
        c0 = len(r.conns)
        mark = len(m.out)
        self.assertIn("OK", m.at("AT+UPGRADE"))
        if want.startswith("2,0,"):
            self.assert_upgrade_sequence(m, V2, 0, start=mark)
            st = m.status()
        else:
            st = m.wait_status(r"2,.*", timeout=timeout)
        self.assertTrue(r.wait_idle(10), r.conns)
        upstream = sum(1 for c in r.conns[c0:] if c.up)  # requests that reached nginx
        log = self.ng.wait_log(n0 + upstream)[n0:]
        self.assertEqual(len(log), upstream, (log, r.conns))
        self.conns = r.conns[c0:]  # this attempt's connections
        return st, log

    def assert_installed(self, m):
        """V2 runs and the running slot holds the served image, byte for byte."""
        self.assertEqual(m.version(), V2)
        with open(os.path.join(m.state_dir, "flash.bin"), "rb") as f:
            f.seek(RUNNING_SLOT)
            self.assertTrue(f.read(self.size) == self.image, "the running slot is the image")

    def assert_nothing_installed(self, m, want):
        """After a restart: V1 still runs, no install ran, the result was kept."""
        m = self.restart(m)
        self.assertEqual(m.version(), V1)
        self.assertEqual(m.status(), want)
        time.sleep(0.3)
        self.assertNotIn("+UPGRADE", m.text().replace("+UPGRADE: ", ""),
                         "no install, no URC after the restart")
        return m

    def assert_error_urc(self, m, code):
        m._wait(lambda t: "+UPGRADEIND: %d\r\n" % code in t, 3)
        self.assertEqual([p for p in percents(m.text()) if p < 0], [code])

    def report(self, name, st, r, log, extra=""):
        """One line of the table for the last attempt (its connections, its log)."""
        conns = self.conns if self.conns is not None else r.conns
        relay_body = sum(c.body for c in conns)
        nginx_body = sum(e["bytes"] for e in log)
        row(name, st, relay_body, nginx_body, self.size, len(conns), extra)
        return relay_body, nginx_body

    @staticmethod
    def range_from(c):
        m = re.fullmatch(r"bytes=(\d+)-", c.range or "")
        return int(m.group(1)) if m else None

    def assert_resumed(self, r, log, cut, exact):
        """Two connections: the first cut after cut body bytes, the second a 206 for the
        rest from where the module had got to. exact: the module read every byte that
        was forwarded (a FIN, a stall, a RST after a drain), so it asks for the rest from
        cut exactly. Returns the bytes forwarded twice."""
        self.assertEqual(len(r.conns), 2, r.conns)
        c0, c1 = r.conns
        self.assertEqual((c0.status, c0.range, c0.body), (200, None, cut), c0)
        frm = self.range_from(c1)
        self.assertIsNotNone(frm, c1)
        self.assertEqual((c1.status, c1.content_range_first, c1.end), (206, frm, "eof"), c1)
        self.assertEqual(c1.body, self.size - frm)
        self.assertEqual([e["status"] for e in log], [200, 206], log)
        self.assertEqual(log[1]["range"], c1.range)
        self.assertEqual(log[1]["bytes"], self.size - frm, "the 206 carried the rest")
        again = cut - frm
        self.assertGreaterEqual(again, 0, "resumed past what it was given")
        if exact:
            self.assertEqual(again, 0, "nothing fetched twice")
        else:
            # A RST throws away what the relay's socket had not sent yet (and, on a
            # kernel that drops it, what the module's socket held unread): those bytes
            # come again, and nothing more (beyond one interrupted read).
            self.assertIsNotNone(c0.unread, "the module's socket in /proc/net/tcp")
            self.assertLessEqual(again, c0.unread + c0.unsent + READ, c0)
        self.assertLessEqual(log[0]["bytes"], c0.body + NGINX_AHEAD, "nginx ran ahead")
        return again

    # ---- cuts ---------------------------------------------------------------------------

    def fresh_module(self):
        """Forgets the modules so far; the state folder is the template's again."""
        for mm in self.mods:
            mm.stop(signal.SIGKILL)
        self.mods = []
        shutil.rmtree(self.state)
        shutil.copytree(_env["template"], self.state)

    def cut_once(self, k, drain):
        cut = (2 * k + 1) * self.size // 64
        m, r = self.start(once(Fault("rst", cut, unit="file", drain=drain)))
        st, log = self.upgrade(m, r, "2,0,206,0")
        self.assertEqual(st, "2,0,206,0")
        self.assert_installed(m)
        again = self.assert_resumed(r, log, cut, exact=drain)
        c0 = r.conns[0]
        relay_body, nginx_body = self.report(
            "rst%s once at %2d/64 (byte %d)" % ("+drain" if drain else "", 2 * k + 1, cut),
            st, r, log, "resumed at %d: %d again; at the RST unread %s, unsent %s" % (
                self.range_from(r.conns[1]), again, c0.unread, c0.unsent))
        self.assertEqual(relay_body, self.size + again)
        return relay_body - self.size, nginx_body - self.size

    def test_cut_at_each_32nd_of_the_image_then_the_fault_clears(self):
        """A RST at 32 places of the image (the middle of each 32nd), once, after the
        module has read every byte forwarded: each attempt resumes with a Range from the
        cut exactly and installs V2 (2,0,206,0); the relay forwards each body byte once
        (the bound: the image and one interrupted read); nginx sends again what sat in
        the buffers between it and the relay at the cut."""
        worst_relay = worst_nginx = 0
        for k in range(32):
            with self.subTest(k=k):
                if k:
                    self.fresh_module()
                over_relay, over_nginx = self.cut_once(k, drain=True)
                self.assertLessEqual(over_relay, READ)
                worst_relay = max(worst_relay, over_relay)
                worst_nginx = max(worst_nginx, over_nginx)
        print("\n    32 cuts: the relay forwarded at most %d body bytes over the image's %d; "
              "nginx sent at most %d over it" % (worst_relay, self.size, worst_nginx),
              file=sys.stderr)

    def test_cut_with_bytes_in_flight_fetches_again_only_those(self):
        """A RST at once, while bytes may still be on their way (the relay writes faster
        than the module reads): what the RST throws away (the relay's send queue; the
        module's unread bytes, were a kernel to drop them) is asked for again, nothing
        more. At 1/8, 3/8, 5/8, 7/8 of the image."""
        for k in (4, 12, 20, 28):
            with self.subTest(k=k):
                if k != 4:
                    self.fresh_module()
                self.cut_once(k, drain=False)

    def test_fin_cut_once_resumes_exactly(self):
        cut = self.size * 3 // 4
        m, r = self.start(once(Fault("fin", cut, unit="file")))
        st, log = self.upgrade(m, r, "2,0,206,0")
        self.assertEqual(st, "2,0,206,0")
        self.assert_installed(m)
        self.assert_resumed(r, log, cut, exact=True)
        self.report("fin once at byte %d" % cut, st, r, log)

    def test_persistent_cut_ends_with_1002_and_installs_nothing(self):
        """A RST at byte 1024 of the file on every connection: the first brings bytes,
        the next ones none; four tries without progress end the attempt: -1002."""
        t0 = time.monotonic()
        m, r = self.start(always(Fault("rst", 1024, unit="file")))
        st, log = self.upgrade(m, r, "2,-1002", timeout=30)
        took = time.monotonic() - t0
        self.assertRegex(st, r"^2,-1002,\d+,0$")
        self.assert_error_urc(m, -1002)
        self.report("rst always at byte 1024", st, r, log, "%.1f s" % took)
        self.check_no_progress_tail(r)
        self.assert_nothing_installed(m, st)

    def check_no_progress_tail(self, r):
        """The first connection brought bytes up to the fault, the next ones none:
        FOTA_DL_TRIES (4) tries in a row without progress, counting the first, end the
        attempt; each retry asks for the rest from the fault's place."""
        self.assertEqual(len(r.conns), 4, r.conns)
        self.assertEqual((r.conns[0].range, r.conns[0].body), (None, 1024), r.conns[0])
        for c in r.conns[1:]:
            self.assertEqual((c.range, c.status, c.body), ("bytes=1024-", 206, 0), c)

    # ---- stalls -------------------------------------------------------------------------

    def test_persistent_stall_ends_with_1001(self):
        """The answer stops after byte 1024 of the file, the socket open, for longer than
        the idle timeout, on every connection: each try times out; -1001."""
        t0 = time.monotonic()
        m, r = self.start(always(Fault("stall", 1024, unit="file", seconds=10)))
        st, log = self.upgrade(m, r, "2,-1001", timeout=40)
        took = time.monotonic() - t0
        self.assertRegex(st, r"^2,-1001,\d+,0$")
        self.assert_error_urc(m, -1001)
        self.report("stall always at byte 1024 (10 s)", st, r, log, "%.1f s" % took)
        self.check_no_progress_tail(r)
        self.assertTrue(all(c.end == "client" for c in r.conns), "the module gave up each")
        self.assertGreaterEqual(took, 4 * NET_TIMEOUT_MS / 1000.0)
        self.assert_nothing_installed(m, st)

    def test_stall_once_times_out_then_resumes_exactly(self):
        cut = self.size // 2
        m, r = self.start(once(Fault("stall", cut, unit="file", seconds=10)))
        st, log = self.upgrade(m, r, "2,0,206,0")
        self.assertEqual(st, "2,0,206,0")
        self.assert_installed(m)
        self.assert_resumed(r, log, cut, exact=True)
        self.assertEqual(r.conns[0].end, "client", "the module gave up on the stall")
        self.report("stall once at byte %d (10 s)" % cut, st, r, log)

    def test_trickle_is_slow_but_completes(self):
        """50 bytes every 100 ms for the first 2 KiB (headers included), then full speed:
        about 4 s for those, never a gap as long as the idle timeout: one connection."""
        t0 = time.monotonic()
        m, r = self.start(once(Fault("trickle", 0, rate=50, every=0.1, length=2048)))
        st, log = self.upgrade(m, r, "2,0,200,0")
        took = time.monotonic() - t0
        self.assertEqual(st, "2,0,200,0")
        self.assert_installed(m)
        self.assertEqual(len(r.conns), 1, r.conns)
        self.assertEqual(r.conns[0].body, self.size)
        self.assertEqual([(e["status"], e["bytes"]) for e in log], [(200, self.size)])
        self.assertGreater(took, 2048 / 50 * 0.1 * 0.9)
        self.report("trickle 50 B/100 ms for 2 KiB", st, r, log, "%.1f s" % took)

    # ---- corrupt bytes --------------------------------------------------------------------

    def test_flipped_body_byte_is_refused_then_a_clean_attempt_starts_afresh(self):
        """A byte of the body XOR 1: the image's hash fails at its end: -1003; the old
        version still runs after a restart; the next attempt does not resume the corrupt
        partial image: it asks for the whole file and installs it."""
        at = self.size // 2
        m, r = self.start(once(Fault("flip", at, unit="file")))
        st, log = self.upgrade(m, r, "2,-1003")
        self.assertEqual(st, "2,-1003,200,0")
        self.assert_error_urc(m, -1003)
        self.assertEqual(len(r.conns), 1, r.conns)
        self.assertTrue(r.conns[0].fault_hit)
        self.report("flip body byte %d once" % at, st, r, log)
        m = self.assert_nothing_installed(m, st)
        st, log = self.upgrade(m, r, "2,0,200,0")
        self.assertEqual(st, "2,0,200,0")
        self.assert_installed(m)
        self.assertEqual(len(r.conns), 2, r.conns)
        self.assertIsNone(r.conns[1].range, "the corrupt partial image is not resumed")
        self.assertEqual([(e["status"], e["bytes"]) for e in log], [(200, self.size)])
        self.report("  then no fault", st, r, log)

    @staticmethod
    def answer_head():
        """The header block of nginx's answer to the module's first GET (a HEAD gets the
        same headers): the relay's stream offsets of a fault in it."""
        s = socket.create_connection(("127.0.0.1", _env["upstream"]), timeout=5)
        s.sendall(b"HEAD /fw.fota HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        head = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            head += b
        s.close()
        return head

    def test_flipped_header_byte_is_an_http_error(self):
        """A byte of the status line or a header XOR 1, once: the answer is not HTTP or not
        a success: -1004 (the contract's "HTTP response error"), nothing installed, not
        retried. In nginx's answer "HTTP/1.1 200 OK\\r\\nServer: nginx/...": the 'H'
        -> 'I' (not HTTP: no HTTP answer, so http 0), the status's '2' -> '3' (status
        300, not a success: its body is the refusal), the first header's ':' -> ';' (a
        header line without a colon: no HTTP answer either)."""
        head = self.answer_head()
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        colon = head.index(b":", head.index(b"\r\n"))
        cases = [("'H' of HTTP/1.1", 0, "2,-1004,0,0"),
                 ("'2' of 200", 9, "2,-1004,300,0"),
                 ("':' of the first header", colon, "2,-1004,0,0")]
        for what, at, want in cases:
            with self.subTest(what):
                m, r = self.start(once(Fault("flip", at)))
                st, log = self.upgrade(m, r, "2,-1004")
                self.assertEqual(st, want)
                self.assertEqual(len(r.conns), 1, "not retried: %r" % r.conns)
                self.assertTrue(r.conns[0].fault_hit)
                self.assert_error_urc(m, -1004)
                self.report("flip %s (stream byte %d) once" % (what, at), st, r, log)
                self.assert_nothing_installed(m, st)
                self.fresh_module()

    def test_flipped_content_length_larger_than_the_image(self):
        """Content-Length's first digit XOR 1 ('4' -> '5': 100000 bytes more than the
        file), once: nginx sends the whole image and closes, so the module has the whole
        image but the answer looks cut short (by agent.c, a chunked answer cut after the
        image's last byte but before its last chunk takes the same path). The image is
        whole: it should be verified and installed, as the resume after a power cut does
        ("the whole image came before the cut: no request"), not asked for again from
        its end (Range: bytes=<size>-, a 416: -1004).

        BUG (fails): the live retry asks for the empty range, gets 416 and ends the
        attempt with 2,-1004,416,0; the next AT+UPGRADE resumes from flash and installs."""
        head = self.answer_head()
        cl = re.search(rb"\r\nContent-Length: (\d+)\r\n", head, re.I)
        self.assertEqual(int(cl.group(1)), self.size)
        at = cl.start(1)
        self.assertEqual(chr(head[at]), "4", "the flip makes it 100000 bytes larger")
        m, r = self.start(once(Fault("flip", at)))
        mark = len(m.out)
        st, log = self.upgrade(m, r, "2,", timeout=20)
        self.report("flip Content-Length digit once", st, r, log,
                    "requests %s" % ", ".join("%s -> %s" % (c.range, c.status)
                                              for c in r.conns))
        self.assertEqual(r.conns[0].body, self.size, "the whole image was forwarded")
        self.assertFalse([c.range for c in r.conns if (self.range_from(c) or 0) >= self.size],
                         "asked for the bytes after the image's end")
        self.assertRegex(st, r"^2,0,20[06],0$")
        m.mark = mark
        m.expect(r'\+UPGRADEVER: "%s"\r\n' % V2, timeout=20)
        self.assert_installed(m)

    # ---- truncated answers, closes inside the header block ------------------------------

    def test_persistent_truncation_ends_with_1002(self):
        """Content-Length says the whole file; the relay sends the answer to byte 1024 of
        the file, then FIN, on every connection: -1002."""
        m, r = self.start(always(Fault("truncate", 1024, unit="file")))
        st, log = self.upgrade(m, r, "2,-1002", timeout=30)
        self.assertRegex(st, r"^2,-1002,\d+,0$")
        self.assert_error_urc(m, -1002)
        self.report("truncate always at byte 1024", st, r, log)
        self.check_no_progress_tail(r)
        self.assert_nothing_installed(m, st)

    def test_truncation_once_resumes_exactly(self):
        cut = self.size // 3
        m, r = self.start(once(Fault("truncate", cut, unit="file")))
        st, log = self.upgrade(m, r, "2,0,206,0")
        self.assertEqual(st, "2,0,206,0")
        self.assert_installed(m)
        self.assert_resumed(r, log, cut, exact=True)
        self.report("truncate once at byte %d" % cut, st, r, log)

    def test_close_inside_the_headers_persistent_ends_with_1002(self):
        """The connection ends 20 bytes into the answer (inside the header block), with a
        RST and a FIN in turn, every connection: no answer ever (http 0): four tries,
        -1002."""
        m, r = self.start(lambda i: Fault(("rst", "fin")[i % 2], 20))
        st, log = self.upgrade(m, r, "2,-1002", timeout=30)
        self.assertEqual(st, "2,-1002,0,0")
        self.assert_error_urc(m, -1002)
        self.report("rst/fin always at stream byte 20 (headers)", st, r, log)
        self.assertEqual(len(r.conns), 4, r.conns)
        self.assertTrue(all(c.header_len and c.down == 20 and c.body == 0 for c in r.conns))
        self.assertEqual([c.end for c in r.conns], ["rst", "fin", "rst", "fin"])
        self.assertTrue(all(c.range is None for c in r.conns), "nothing to resume")
        self.assert_nothing_installed(m, st)

    def test_close_inside_the_headers_once_is_retried(self):
        """A FIN 100 bytes into the answer, once: retried from the start (200)."""
        m, r = self.start(once(Fault("fin", 100)))
        st, log = self.upgrade(m, r, "2,0,200,0")
        self.assertEqual(st, "2,0,200,0")
        self.assert_installed(m)
        self.assertEqual(len(r.conns), 2, r.conns)
        self.assertEqual((r.conns[0].down, r.conns[0].body), (100, 0))
        self.assertIsNone(r.conns[1].range)
        self.assertEqual(r.conns[1].body, self.size)
        self.report("fin once at stream byte 100 (headers)", st, r, log)


if __name__ == "__main__":
    unittest.main()
