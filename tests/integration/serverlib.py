"""serverlib: start and stop build/bin/fota-server for the tests, the benchmark and the
demo (docs/server-api.md is its contract).

    srv = FotaServer().start()            # 127.0.0.1 on a free port, a temp data folder,
                                          # a random admin token; /healthz answered
    r = srv.admin("POST", "/projects", {"name": "p"})     # Bearer token, JSON in and out
    r.status, r.headers, r.body, r.json()
    key = srv.project("p")["key"]
    srv.upload(key, "v2.fota", NAME, V2)  # POST .../firmware?name=&version=, 201 expected
    r = srv.check(key, IMEI, NAME, V1)    # GET /api/site/firmware_upgrade?...
    r = srv.request("GET", "/raw/path?x", headers={...}, body=b"...")
    r = srv.admin("GET", "/projects", source="127.0.0.2")  # from another loopback address
    srv.log()                             # its stderr so far (the access log)
    srv.stop()                            # SIGTERM, waits; returns the exit status
    srv.kill()                            # SIGKILL (a crash), keeps the data folder
    srv.start()                           # again, on the same data folder
    srv.cleanup()                         # stop and remove the temp folders

Every request is one new connection to 127.0.0.1 with a timeout; nothing here loops
without a bound."""
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

from nginx import free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("FOTA_BUILD", "build"))
SERVER = os.path.join(BUILD, "bin", "fota-server")
DEVICE_PATH = "/api/site/firmware_upgrade"


def available():
    return os.access(SERVER, os.X_OK)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage: case-insensitive .get()
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%d %s %r>" % (self.status, self.reason, self.body[:300])


def request(port, method, path, body=None, headers=None, timeout=10, host="127.0.0.1",
            source=None):
    """One request on a new connection; path is sent exactly as given. source: the local
    address to connect from (any of 127.0.0.0/8 works on Linux: the server then sees
    another client, e.g. for its limit on failed admin logins)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if body is not None and not any(k.lower() == "content-length" for k in hdrs):
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered (and closed) before the whole body was read: read that
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, r.headers, data)
    finally:
        conn.close()


def query(**params):
    return urllib.parse.urlencode(params)


class FotaServer:
    def __init__(self, data=None, token=None, max_firmware=None, extra=(), use_env=False):
        """data: the data folder (default: a new temp folder, removed by cleanup());
        token: the admin token (default: a random one; "" for none); use_env: pass the
        token as $FOTA_ADMIN_TOKEN instead of --admin-token."""
        self.tmp = tempfile.mkdtemp(prefix="fota-server-")
        self.data = data or os.path.join(self.tmp, "data")
        self.token = secrets.token_hex(16) if token is None else token
        self.max_firmware = max_firmware
        self.extra = list(extra)
        self.use_env = use_env
        self.logfile = os.path.join(self.tmp, "stderr.log")
        self.proc = None
        self.port = None

    # --- process -------------------------------------------------------------------
    def argv(self):
        args = [SERVER, "--listen", "127.0.0.1:%d" % self.port, "--data", self.data]
        if self.token and not self.use_env:
            args += ["--admin-token", self.token]
        if self.max_firmware is not None:
            args += ["--max-firmware", str(self.max_firmware)]
        return args + self.extra

    def start(self, timeout=10, port=None):
        if not available():
            raise RuntimeError("%s is missing (make)" % SERVER)
        env = dict(os.environ)
        env.pop("FOTA_ADMIN_TOKEN", None)
        if self.token and self.use_env:
            env["FOTA_ADMIN_TOKEN"] = self.token
        for attempt in range(5):
            if attempt or not (port or self.port):
                self.port = free_port()
            elif port:
                self.port = port
            log = open(self.logfile, "ab")
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=env)
            log.close()
            if self._wait_healthy(timeout):
                return self
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            if "in use" not in self.log():
                raise RuntimeError("fota-server did not start (%s): %s" % (
                    " ".join(self.argv()), self.log()[-2000:]))
        raise RuntimeError("fota-server: no free port")

    def _wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if request(self.port, "GET", "/healthz", timeout=2).status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Sends sig and waits; returns the exit status (negative: killed by a signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        """Stops the server (SIGTERM, then SIGKILL if it hangs), keeps its log in memory
        (log(), sanitizer_errors()) and removes the temp folders."""
        self.stop(timeout=5)
        self.final_log = self.log()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def sanitizer_errors(self):
        """The lines of the log where ASan or UBSan reported something (a build with
        SAN=1): a test fails on them."""
        return [l for l in self.log().splitlines()
                if "AddressSanitizer" in l or "runtime error:" in l or "LeakSanitizer" in l]

    final_log = None

    def log(self):
        if self.final_log is not None and not os.path.exists(self.logfile):
            return self.final_log
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # --- requests ------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=10, source=None):
        return request(self.port, method, path, body, headers, timeout, source=source)

    def auth(self, token=None):
        return {"Authorization": "Bearer " + (self.token if token is None else token)}

    def admin(self, method, path, body=None, headers=None, raw=None, token=None,
              ctype="application/json", timeout=30, source=None):
        """A request to /api/v1 + path with the token; body: an object sent as JSON, or
        raw bytes in raw (with ctype)."""
        hdrs = self.auth(token)
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None and ctype:
            hdrs["Content-Type"] = ctype
        hdrs.update(headers or {})
        return self.request(method, "/api/v1" + path, data, hdrs, timeout, source)

    def _ok(self, r, status):
        if r.status != status:
            raise AssertionError("expected %d, got %r" % (status, r))
        return r.json() if r.body else None

    def project(self, name="project"):
        return self._ok(self.admin("POST", "/projects", {"name": name}), 201)

    def upload(self, key, path, name, version, expect=201, **params):
        with open(path, "rb") as f:
            data = f.read()
        q = query(name=name, version=version, **params)
        r = self.admin("POST", "/projects/%s/firmware?%s" % (key, q), raw=data,
                       ctype="application/octet-stream")
        return self._ok(r, expect) if expect else r

    def stats(self, key):
        return self._ok(self.admin("GET", "/projects/%s/stats" % key), 200)

    def devices(self, key):
        return self._ok(self.admin("GET", "/projects/%s/devices" % key), 200)

    def firmware(self, key):
        return self._ok(self.admin("GET", "/projects/%s/firmware" % key), 200)

    def check(self, key, imei, name, version, method="GET", headers=None, **extra):
        params = {"project_key": key}
        if imei is not None:
            params["imei"] = imei
        params.update(firmware_name=name, version=version)
        params.update(extra)
        return self.request(method, DEVICE_PATH + "?" + query(**params), headers=headers)

    def metrics(self):
        """/metrics as {sample line's name+labels: value}."""
        r = self.request("GET", "/metrics")
        if r.status != 200:
            raise AssertionError("/metrics: %r" % r)
        out = {}
        for line in r.body.decode("utf-8", "replace").splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
        return out


def pack(path, version, payload, name="AirM2M_780E_LTE_AT", fota=None):
    """An image made by `fota pack` at path; payload is bytes or a size (random bytes).
    Returns the image's bytes."""
    if isinstance(payload, int):
        payload = os.urandom(payload)
    with open(path + ".bin", "wb") as f:
        f.write(payload)
    subprocess.run([fota or os.path.join(BUILD, "bin", "fota"), "pack", "--name", name,
                    "--version", version, "-o", path, path + ".bin"],
                   check=True, capture_output=True)
    os.unlink(path + ".bin")
    with open(path, "rb") as f:
        return f.read()


def start_class_server(cls, prepare=None, **args):
    """Starts cls.srv, a FotaServer(**args), for a test class whose temporary folder is
    cls.tmp, then runs prepare(); on any failure stops it, removes cls.tmp and raises."""
    cls.srv = FotaServer(**args)
    try:
        cls.srv.start()
        if prepare:
            prepare()
    except Exception:
        cls.srv.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        raise


def stop_class_server(cls):
    """Stops cls.srv, removes cls.tmp, and fails if the sanitizers reported anything."""
    cls.srv.cleanup()
    shutil.rmtree(cls.tmp, ignore_errors=True)
    if cls.srv.sanitizer_errors():
        raise AssertionError("sanitizer: %s" % "\n".join(cls.srv.sanitizer_errors()))
