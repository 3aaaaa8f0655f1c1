"""fotad, the emulated module, driven as a host would: pyserial on its pseudo-terminal,
a TCP client on its TCP port, stdio through a pipe."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from fotalib import Fotad, prog


class FotadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fotad-test-")
        self.state = os.path.join(self.dir, "module")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_pty_answers_at_commands_through_pyserial(self):
        with Fotad(self.state, "--imei", "864000000000008") as m:
            self.assertIn("OK", m.at("AT"))
            self.assertEqual(m.at("ATE0"), "ATE0\r\r\nOK\r\n")
            self.assertEqual(m.at("AT+CGSN"), "\r\n864000000000008\r\n\r\nOK\r\n")
            self.assertEqual(m.at("AT+UPGRADE?"), "\r\n+UPGRADE: 0\r\n\r\nOK\r\n")
            self.assertEqual(m.at('AT+UPGRADE="AUTO",2'), "\r\nERROR\r\n")

    def test_bytes_one_at_a_time_get_the_same_answer(self):
        with Fotad(self.state) as m:
            m.at("ATE0")
            for ch in 'AT+UPGRADE="PERIOD"\r':
                m.send(ch)
                time.sleep(0.002)
            self.assertEqual(m.read_until(b"OK\r\n"),
                             b'\r\n+UPGRADE: "PERIOD",86400\r\n\r\nOK\r\n')

    def test_saved_settings_survive_restart_and_kill_9(self):
        with Fotad(self.state, at=os.path.join(self.dir, "ttyAT")) as m:
            m.at("ATE0")
            self.assertIn("OK", m.at('AT+UPGRADE="KEY","a1b2c3"'))
            self.assertIn("OK", m.at('AT+UPGRADE="PERIOD",3600,1'))  # not saved
            imei = m.at("AT+CGSN").split()[0]
        self.assertEqual(m.proc.returncode, 0)
        self.assertFalse(os.path.lexists(m.link), "the pty link is removed on exit")
        m = Fotad(self.state).start()
        try:
            m.at("ATE0")
            self.assertIn('"KEY","a1b2c3"', m.at('AT+UPGRADE="KEY"'))
            self.assertIn('"PERIOD",86400', m.at('AT+UPGRADE="PERIOD"'))
            self.assertEqual(m.at("AT+CGSN").split()[0], imei, "the IMEI is kept in NV")
            self.assertIn("OK", m.at('AT+UPGRADE="URL","http://127.0.0.1/fw.bin"'))
        finally:
            m.stop(signal.SIGKILL)  # a power cut right after the answer
        with Fotad(self.state) as m:
            m.at("ATE0")
            self.assertIn('"URL","http://127.0.0.1/fw.bin"', m.at('AT+UPGRADE="URL"'))

    def test_tcp_port_takes_one_client_at_a_time(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p = subprocess.Popen([prog("fotad"), "--state", self.state, "--at", "tcp:127.0.0.1:%d" % port,
                              "--server", "http://127.0.0.1:9"],
                             stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    c = socket.create_connection(("127.0.0.1", port), timeout=5)
                    break
                except ConnectionRefusedError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            c.sendall(b"ATE0\rAT+CSQ\r")
            buf = b""
            while not buf.endswith(b"+CSQ: 26,99\r\n\r\nOK\r\n"):
                buf += c.recv(4096)
            second = socket.create_connection(("127.0.0.1", port), timeout=5)
            self.assertIn(b"BUSY", second.recv(4096))
            second.close()
            c.close()
        finally:
            p.terminate()
            self.assertEqual(p.wait(10), 0)

    def test_stdio_port_and_exit_at_end_of_input(self):
        out = subprocess.run([prog("fotad"), "--state", self.state, "--server", "http://127.0.0.1:9"],
                             input=b"ATE0\rAT+CFUN=0\rAT+CREG?\r", capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 0)
        self.assertTrue(out.stdout.startswith(b"\r\nRDY\r\n"))
        self.assertIn(b"+CREG: 0,0", out.stdout)

    def test_bad_options_are_one_line_errors_with_status_2(self):
        for args in (["--state"], ["--bogus"], ["--state", self.state, "--imei", "12"],
                     ["--state", self.state, "--at", "serial"], []):
            out = subprocess.run([prog("fotad")] + args, capture_output=True, timeout=10)
            self.assertEqual(out.returncode, 2, args)
            self.assertTrue(out.stderr.strip(), args)
        self.assertIn(b"--state", subprocess.run([prog("fotad"), "--help"],
                                                  capture_output=True).stdout)


if __name__ == "__main__":
    unittest.main()
