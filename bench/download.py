#!/usr/bin/python3
"""bench/download.py [BUILD] - how fast fotad takes a firmware image in, next to curl.

A 4 MiB image (fota pack, random payload) is served by a private nginx on 127.0.0.1 (no
rate limit). Each round measures, side by side:

  fotad  time from sending AT+UPGRADE to fotad's log line "download complete and
         verified": the HTTP download, the SHA-256 of the image, and its writing into the
         emulated flash's staging slot (erase ahead, program, progress marks), all through
         libfota's 1 KiB network buffer. A new module each round (--flash-size 16 MiB so
         the image fits a slot). The install after the reboot (+UPGRADEDL .. +UPGRADEVER)
         is shown apart, as "install".
  curl   `curl -s -o FILE URL && sha256sum FILE`: the same bytes into a file and hashed,
         by tools built for throughput.

It prints each round, then the median of the rounds, with MB/s (10^6 bytes per second)
and the ratio fotad/curl. It never fails on a time: only when something does not work
(nginx missing, a download that fails). Then the RAM the core needs, if the Cortex-M4
tool chain is there (`make size`)."""
import os
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else
                     os.environ.get("FOTA_BUILD", "build"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import nginx  # noqa: E402  (the tests' private nginx helper)

ROUNDS = 3
IMAGE_SIZE = 4 << 20          # the whole image file, header and trailer included
FLASH_SIZE = 16 << 20
NAME = "AirM2M_780E_LTE_AT"
NEW = "AirM2M_780E_V1147_LTE_AT"
TIMEOUT = 120                 # seconds, for any one step


def prog(name):
    return os.path.join(BUILD, "bin", name)


def die(msg):
    sys.exit("bench/download: " + msg)


def make_image(path):
    payload = path + ".bin"
    with open(payload, "wb") as f:  # header 128 + trailer 36 bytes: 4 MiB in all
        f.write(os.urandom(IMAGE_SIZE - 128 - 36))
    subprocess.run([prog("fota"), "pack", "--name", NAME, "--version", NEW, "-o", path,
                    payload], check=True, capture_output=True)
    os.unlink(payload)
    if os.path.getsize(path) != IMAGE_SIZE:
        die("fota pack made %d bytes, expected %d" % (os.path.getsize(path), IMAGE_SIZE))


class Fotad:
    """fotad with its AT port on stdio; stdout and stderr read by threads, with times."""

    def __init__(self, state):
        self.proc = subprocess.Popen(
            [prog("fotad"), "--state", state, "--flash-size", str(FLASH_SIZE),
             "--server", "http://127.0.0.1:9"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.events = queue.Queue()
        self.out = b""
        for stream, kind in ((self.proc.stdout, "at"), (self.proc.stderr, "log")):
            threading.Thread(target=self._pump, args=(stream, kind), daemon=True).start()

    def _pump(self, stream, kind):
        while True:
            line = stream.readline()
            if not line:
                return
            self.events.put((time.monotonic(), kind, line.decode("latin-1")))

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\r")
        self.proc.stdin.flush()

    def wait(self, kind, pattern, timeout=TIMEOUT):
        """The time of the next line of kind ("at" or "log") matching pattern."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                t, k, line = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                die("fotad: no %r within %d s" % (pattern, timeout))
            if k == "log" and "refused" in line:
                die("fotad: " + line.strip())
            if k == kind and re.search(pattern, line):
                return t, line

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(30)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.proc.kill()
            self.proc.wait(10)


def fotad_round(url, state):
    d = Fotad(state)
    d.wait("log", r"ready")
    for cmd in ("ATE0", 'AT+UPGRADE="AUTO",0', 'AT+UPGRADE="URL","%s"' % url):
        d.send(cmd)
        d.wait("at", r"^OK")
    t0 = time.monotonic()
    d.send("AT+UPGRADE")
    t1, _ = d.wait("log", r"download complete")
    t2, _ = d.wait("at", r'\+UPGRADEVER: "%s"' % NEW)
    d.send("AT+UPGRADE?")
    _, st = d.wait("at", r"\+UPGRADE: ")
    d.close()
    if st.strip() != "+UPGRADE: 2,0,200,0":
        die("fotad: the download ended with %r" % st.strip())
    return t1 - t0, t2 - t1


def curl_round(url, out):
    t0 = time.monotonic()
    r = subprocess.run(["bash", "-c", 'curl -s -o "$1" "$2" && sha256sum "$1"', "-", out, url],
                       capture_output=True, timeout=TIMEOUT)
    t = time.monotonic() - t0
    if r.returncode or os.path.getsize(out) != IMAGE_SIZE:
        die("curl: %r" % r.stderr)
    os.unlink(out)
    return t


def mbps(seconds):
    return IMAGE_SIZE / seconds / 1e6


def ram_figures():
    """make size: flash and static RAM per core module for Cortex-M4 (-Os), and the RAM of
    the state structures the firmware gives the core."""
    if not shutil.which(os.environ.get("ARM_CC", "arm-none-eabi-gcc")):
        print("\n(RAM figures skipped: no arm-none-eabi-gcc)")
        return
    r = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "BUILD=" +
                        os.path.relpath(BUILD, ROOT), "size"], capture_output=True, text=True)
    if r.returncode:
        print("\n(make size failed: %s)" % r.stderr.strip()[-300:])
        return
    print("\nmake size (Cortex-M4, -Os; bytes):")
    print("\n".join(line for line in r.stdout.rstrip().splitlines()
                    if not line.lstrip().startswith(("ARMCC", "CC"))))


def main():
    for p in ("fotad", "fota"):
        if not os.access(prog(p), os.X_OK):
            die("%s not built (make)" % prog(p))
    if not nginx.available():
        die("nginx is not installed (scripts/install-deps)")
    if not shutil.which("curl"):
        die("curl is not installed (scripts/install-deps)")
    work = tempfile.mkdtemp(prefix="fota-bench-")
    www = os.path.join(work, "www")
    os.mkdir(www)
    make_image(os.path.join(www, "fw.fota"))
    ng = nginx.Nginx(www).start()
    url = ng.url("fw.fota")
    rows = []
    try:
        print("download of a %d-byte image from nginx on 127.0.0.1, %d rounds" % (
            IMAGE_SIZE, ROUNDS))
        print("fotad: AT+UPGRADE to \"download complete\" (download + SHA-256 + staging "
              "in the emulated flash); curl: curl -s -o FILE URL && sha256sum FILE\n")
        hdr = "%-7s %10s %9s %10s %9s %7s %10s" % ("round", "fotad s", "MB/s", "curl s",
                                                    "MB/s", "ratio", "install s")
        print(hdr)
        for i in range(ROUNDS):
            state = os.path.join(work, "module%d" % i)
            f, inst = fotad_round(url, state)
            c = curl_round(url, os.path.join(work, "curl.out"))
            shutil.rmtree(state, ignore_errors=True)
            rows.append((f, c, inst))
            print("%-7d %10.3f %9.1f %10.3f %9.1f %6.1fx %10.3f" % (
                i + 1, f, mbps(f), c, mbps(c), f / c, inst), flush=True)
        f = statistics.median(r[0] for r in rows)
        c = statistics.median(r[1] for r in rows)
        inst = statistics.median(r[2] for r in rows)
        print("%-7s %10.3f %9.1f %10.3f %9.1f %6.1fx %10.3f" % (
            "median", f, mbps(f), c, mbps(c), f / c, inst))
        sent = sum(e["bytes"] for e in ng.log())
        print("\nnginx sent %d bytes in %d requests (%d rounds x 2 clients x %d bytes)" % (
            sent, len(ng.log()), ROUNDS, IMAGE_SIZE))
    finally:
        ng.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    ram_figures()


if __name__ == "__main__":
    main()
