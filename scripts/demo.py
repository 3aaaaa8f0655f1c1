"""The demo (`make demo`): the whole story on this machine, unattended, on 127.0.0.1 only.

fota-server starts on a temporary folder with a random admin token; a signing key is made
(fota keygen) and a project created with its public key; firmware 1 and 2 are packed and
signed (fota pack --key), an unsigned image is refused by the server, firmware 2 uploaded
through the admin API; an emulated module (fotad) provisioned with the public key boots on
firmware 1 with its AT port on a pseudo-terminal, and a real serial client (pyserial) gives it the
project's key and runs AT+UPGRADE. Every line is printed as it comes (-> what the host
sends, <- what the module says; long runs of progress lines are shortened), then the
module's new version, its AT+UPGRADE? and the server's statistics. Everything is stopped
and removed at the end, also on failure or Ctrl-C."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from fotalib import Fotad, prog  # noqa: E402
from serverlib import FotaServer, pack, query  # noqa: E402

NAME = "AirM2M_780E_LTE_AT"
V1 = "AirM2M_780E_V1121_LTE_AT"
V2 = "AirM2M_780E_V1147_LTE_AT"
IMEI = "864000000000008"
PAYLOAD = 256 * 1024      # bytes of firmware in each image
MILESTONES = {0, 25, 50, 75, 100}
TIMEOUT = 40              # seconds for the whole upgrade, at most

try:
    sys.stdout.reconfigure(encoding="utf-8", line_buffering=True)
except (AttributeError, ValueError):
    pass


def say(text=""):
    print(text, flush=True)


def step(text):
    say("\n== " + text)


class Session:
    """Prints an AT session as it goes: -> sent, <- received, progress runs shortened."""

    def __init__(self, module):
        self.m = module
        self.buf = b""
        self.skipping = False

    def show(self, line):
        """One received line; +UPGRADEIND/+UPGRADEDL progress only at the milestones."""
        if not line:
            return
        p = re.fullmatch(r"\+UPGRADE(IND|DL): (\d+)", line)
        if p and int(p.group(2)) not in MILESTONES:
            if not self.skipping:
                say("<- …")
                self.skipping = True
            return
        self.skipping = False
        say("<- " + line)

    def lines(self, timeout):
        """Yields each line from the module as it arrives, until timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\r\n" in self.buf:
                line, self.buf = self.buf.split(b"\r\n", 1)
                yield line.decode("latin-1")
            self.buf += self.m.port.read(4096)
        raise TimeoutError("the module said nothing more for %d s" % timeout)

    def at(self, command, timeout=5):
        """Sends a command; prints what comes up to its final result code; returns it."""
        say("-> " + command)
        self.m.send(command + "\r")
        answer = []
        for line in self.lines(timeout):
            if line.rstrip("\r") == command:
                continue  # the echo (on again after the upgrade's reboots: ATE0 is not saved)
            self.show(line)
            answer.append(line)
            if line in ("OK", "ERROR") or line.startswith("+CME ERROR"):
                return answer
        return answer

    def until(self, pattern, timeout):
        """Prints lines as they come until one matches pattern; returns that match."""
        for line in self.lines(timeout):
            self.show(line)
            m = re.fullmatch(pattern, line)
            if m:
                return m


def admin(srv, method, path, body=None, raw=None, ctype="application/json"):
    r = srv.admin(method, path, body=body, raw=raw, ctype=ctype)
    if r.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, r.status, r.body[:300]))
    return r.json() if r.body else None


def main():
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="openfota-demo-")
    srv = None
    module = None
    ok = False
    try:
        say("openfota demo: an emulated module upgrades itself from fota-server, on 127.0.0.1")

        step("1. the server")
        srv = FotaServer(data=os.path.join(tmp, "server"))
        srv.start()
        say("   fota-server --listen 127.0.0.1:%d --data %s --admin-token %s…" % (
            srv.port, srv.data, srv.token[:6]))
        say("   (a random admin token; GET /healthz -> 200 ok)")

        step("2. a signing key, and a project that takes only images signed by it")
        keys = os.path.join(tmp, "release")
        subprocess.run([prog("fota"), "keygen", "-o", keys], check=True, capture_output=True)
        say("   fota keygen -o release -> release.pem (private, kept by whoever signs), "
            "release.pub.pem")
        with open(keys + ".pub.pem") as f:
            pub = f.read()
        project = admin(srv, "POST", "/projects", {"name": "demo", "keys": [pub]})
        key = project["key"]
        say('   POST /api/v1/projects {"name":"demo","keys":[release.pub.pem]} -> 201')
        say("   project key (the module's KEY): %s" % key)

        step("3. two firmware images, made and signed by fota pack --key")
        v1 = os.path.join(tmp, "v1.fota")
        v2 = os.path.join(tmp, "v2.fota")
        for path, version, counter in ((v1, V1, 1), (v2, V2, 2)):
            with open(path + ".bin", "wb") as f:
                f.write(os.urandom(PAYLOAD))
            subprocess.run([prog("fota"), "pack", "--name", NAME, "--version", version,
                            "--counter", str(counter), "--key", keys + ".pem", "-o", path,
                            path + ".bin"], check=True, capture_output=True)
            os.unlink(path + ".bin")
            say("   fota pack --name %s --version %s --counter %d --key release.pem -> %s "
                "(%d bytes)" % (NAME, version, counter, os.path.basename(path),
                                os.path.getsize(path)))

        step("4. upload firmware 2 to the project (an unsigned one first: refused)")
        unsigned = pack(os.path.join(tmp, "unsigned.fota"), V2, 1000, name=NAME)
        r = srv.admin("POST", "/projects/%s/firmware?%s" % (key, query(name=NAME, version=V2)),
                      raw=unsigned, ctype="application/octet-stream")
        say("   unsigned image -> %d %s" % (r.status, r.json().get("error", "").split(":")[0]))
        if r.status != 400:
            raise RuntimeError("the server took an unsigned image: %d" % r.status)
        with open(v2, "rb") as f:
            fw = admin(srv, "POST", "/projects/%s/firmware?%s" % (
                key, query(name=NAME, version=V2)), raw=f.read(),
                ctype="application/octet-stream")
        say("   POST /api/v1/projects/%s/firmware?name=%s&version=%s -> 201" % (
            key[:8] + "…", NAME, V2))
        say("   firmware #%d: %s, %d bytes, sha256 %s…, enabled %s, all devices %s" % (
            fw["id"], fw["version"], fw["size"], fw["sha256"][:16],
            str(fw["enabled"]).lower(), str(fw["all_devices"]).lower()))

        step("5. an emulated module on firmware 1, its AT port on a pty (pyserial)")
        state = os.path.join(tmp, "module")
        module = Fotad(state, "--imei", IMEI, "--factory", v1, "--server", srv.url,
                       "--pubkey", keys + ".pub.pem", at=os.path.join(tmp, "ttyAT"))
        module.start()
        say("   fotad --state %s --factory v1.fota --pubkey release.pub.pem --server %s "
            "--at pty:%s" % (state, srv.url, module.link))
        s = Session(module)
        s.at("ATE0")
        s.at("AT+CGSN")
        s.at("AT+CGMR")
        s.at('AT+UPGRADE="KEY","%s"' % key)
        s.at("AT+UPGRADE")
        end = s.until(r"\+UPGRADEIND: (100|-\d+)", TIMEOUT)
        if end.group(1) != "100":
            s.at("AT+UPGRADE?")
            raise RuntimeError("the download failed (+UPGRADEIND: %s)" % end.group(1))
        s.until(r'\+UPGRADEVER: "[^"]*"', TIMEOUT)
        reported = s.until(r"\+UPGRADEVER: (\d)", TIMEOUT)
        answer = s.at("AT+CGMR")
        version = next((x for x in answer if x and not x.startswith(("OK", "+"))), None)
        status = s.at("AT+UPGRADE?")

        step("6. the server's statistics: GET /api/v1/projects/%s…/stats" % key[:8])
        stats = admin(srv, "GET", "/projects/%s/stats" % key)
        say("   %-4s %-26s %8s %10s %9s" % ("id", "version", "started", "completed",
                                            "upgraded"))
        for st in stats:
            say("   %-4s %-26s %8d %10d %9d" % (
                "#%d" % st["firmware_id"], st["version"], st["downloads_started"],
                st["downloads_completed"], st["devices_upgraded"]))
        for d in admin(srv, "GET", "/projects/%s/devices" % key):
            say("   device %s: %s, %s, banned %s" % (d["imei"], d["version"], d["state"],
                                                       str(d["banned"]).lower()))
        say("   the server's access log, device API:")
        for line in srv.log().splitlines():
            if "/api/site/" in line:
                say("   " + re.sub(r"project_key=[0-9a-f]+", "project_key=" + key[:8] + "…",
                                   line))

        ok = (version == V2 and reported.group(1) == "1" and
              "+UPGRADE: 2,0,200,0" in status and
              any(st["version"] == V2 and st["devices_upgraded"] == 1 for st in stats))
        if not ok:
            say("\n!! the upgrade did not go as expected (version %r, report %s, %r)" % (
                version, reported.group(1), status))
    except Exception as e:  # show what happened, then clean up
        say("\n!! demo failed: %s: %s" % (type(e).__name__, e))
        if srv is not None:
            say("-- fota-server's log (end):\n" + srv.log()[-1500:])
        if module is not None:
            module._read_log()
            say("-- fotad's log (end):\n" + module.log.decode("latin-1")[-1500:])
    finally:
        if module is not None:
            try:
                module.stop()
            except Exception:
                module.proc.kill()
        if srv is not None:
            srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    step("%s in %.1f s; fotad and fota-server stopped, %s removed" % (
        "done" if ok else "FAILED", time.monotonic() - t0, tmp))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
