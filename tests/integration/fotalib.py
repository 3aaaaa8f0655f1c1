"""Helpers the integration tests and the demo share: start fotad, talk AT to it over a
real serial client (pyserial on the pseudo-terminal), read URCs."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import serial

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("FOTA_BUILD", "build"))
# KEY mode's server unless a test gives one: the discard port, where nothing listens.
NO_SERVER = "http://127.0.0.1:9"


def prog(name):
    return os.path.join(BUILD, "bin", name)


class Fotad:
    """A fotad process with its AT port on a pty, and a pyserial client on it."""

    def __init__(self, state_dir, *args, at=None):
        self.state_dir = state_dir
        self.link_dir = None if at else tempfile.mkdtemp(prefix="fotad-pty-")
        self.link = at or os.path.join(self.link_dir, "ttyAT")
        self.args = list(args)
        if "--server" not in self.args:  # never the vendor's real server from a test
            self.args += ["--server", NO_SERVER]
        self.proc = None
        self.port = None
        self.log = b""

    def start(self, timeout=10):
        self.proc = subprocess.Popen(
            [prog("fotad"), "--state", self.state_dir, "--at", "pty:" + self.link] + self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.set_blocking(self.proc.stderr.fileno(), False)
        deadline = time.monotonic() + timeout
        while b"ready" not in self.log:
            self._read_log()
            if self.proc.poll() is not None:
                raise RuntimeError("fotad exited: %r" % self.log)
            if time.monotonic() > deadline:
                raise RuntimeError("fotad not ready: %r" % self.log)
            time.sleep(0.01)
        self.port = serial.Serial(self.link, 115200, timeout=0.05)
        return self

    def _read_log(self):
        try:
            chunk = self.proc.stderr.read()
            if chunk:
                self.log += chunk
        except (BlockingIOError, TypeError):
            pass

    def send(self, data):
        self.port.write(data if isinstance(data, bytes) else data.encode())

    def read_until(self, marker, timeout=5):
        """Bytes read until marker (bytes) has arrived; raises on timeout."""
        buf = b""
        deadline = time.monotonic() + timeout
        while marker not in buf:
            if time.monotonic() > deadline:
                raise TimeoutError("waited for %r, got %r" % (marker, buf))
            buf += self.port.read(4096)
        return buf

    def at(self, line, timeout=5):
        """Sends one command line; returns its answer text up to the final result code."""
        self.send(line + "\r")
        buf = b""
        deadline = time.monotonic() + timeout
        while not (buf.endswith(b"\r\nOK\r\n") or buf.endswith(b"\r\nERROR\r\n") or
                   (b"+CME ERROR:" in buf and buf.endswith(b"\r\n"))):
            if time.monotonic() > deadline:
                raise TimeoutError("%r: got %r" % (line, buf))
            buf += self.port.read(4096)
        return buf.decode("latin-1")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.port:
            self.port.close()
            self.port = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        if self.proc:
            self._read_log()
            self.proc.stderr.close()
        if self.link_dir:
            shutil.rmtree(self.link_dir, ignore_errors=True)
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop(signal.SIGKILL if exc[0] else signal.SIGTERM)
