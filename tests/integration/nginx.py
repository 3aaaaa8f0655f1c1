"""A private nginx for the download tests and the benchmark: its own conf, prefix, pid file,
logs and temp folders in one directory, listening on 127.0.0.1 at a port chosen free at
run time, serving one folder. The access log says, per request, the status, the body bytes
sent, the Range and If-Range asked for, and the ETag given, so a test can add up exactly
what the server sent.

    with Nginx(www, limit_rate="200k") as ng:
        url = ng.url("fw.fota")
        ...
        for e in ng.log(): print(e["status"], e["bytes"], e["range"])

With cert and key (PEM files) it serves HTTPS instead (tests/integration/testca.py makes
them), TLS 1.2 and 1.3 unless tls_protocols says otherwise:

    with Nginx(www, cert=c.crt, key=c.key) as ng:
        url = ng.url("fw.fota")   # https://127.0.0.1:PORT/fw.fota

Run as a script (python3 nginx.py DIR [RATE]) it serves DIR until interrupted."""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# One line per request, fields separated by tabs (escape=none: an absent header is empty).
LOG_FORMAT = ('$status\\t$body_bytes_sent\\t$request_method\\t$uri\\t$http_range\\t'
              '$http_if_range\\t$sent_http_etag\\t$request_time')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def available():
    return os.access(NGINX, os.X_OK)


class Nginx:
    def __init__(self, root, limit_rate=None, port=None, extra="", cert=None, key=None,
                 tls_protocols="TLSv1.2 TLSv1.3"):
        """extra: more directives for the server block; "{port}" in it becomes the port.
        cert, key: serve HTTPS with this certificate (chain) and key, PEM files."""
        self.root = os.path.abspath(root)
        self.limit_rate = limit_rate
        self.extra = extra
        self.port = port
        self.cert = os.path.abspath(cert) if cert else None
        self.key = os.path.abspath(key) if key else None
        self.tls_protocols = tls_protocols
        self.prefix = tempfile.mkdtemp(prefix="fota-nginx-")
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.access_log = os.path.join(self.prefix, "access.log")
        self.error_log = os.path.join(self.prefix, "error.log")
        self.pid_file = os.path.join(self.prefix, "nginx.pid")
        self.proc = None

    def url(self, name, host="127.0.0.1"):
        return "%s://%s:%d/%s" % ("https" if self.cert else "http", host, self.port, name)

    def _write_conf(self):
        # Workers run as the current user: as root, nginx would otherwise switch them to
        # "nobody", who cannot read a private temp folder.
        user = ""
        if os.geteuid() == 0:
            user = "user %s;" % pwd.getpwuid(0).pw_name
        rate = "limit_rate %s;" % self.limit_rate if self.limit_rate else ""
        tls = ""
        if self.cert:
            tls = ("ssl_certificate %s; ssl_certificate_key %s; ssl_protocols %s;" %
                   (self.cert, self.key, self.tls_protocols))
        p = self.prefix
        with open(self.conf, "w") as f:
            f.write("""\
%(user)s
daemon off;
master_process on;
worker_processes 1;
pid %(p)s/nginx.pid;
error_log %(p)s/error.log warn;
events { worker_connections 64; }
http {
    types { application/octet-stream fota bin; }
    default_type application/octet-stream;
    log_format fota escape=none "%(fmt)s";
    access_log %(p)s/access.log fota;
    client_body_temp_path %(p)s/body;
    proxy_temp_path %(p)s/proxy;
    fastcgi_temp_path %(p)s/fastcgi;
    uwsgi_temp_path %(p)s/uwsgi;
    scgi_temp_path %(p)s/scgi;
    sendfile on;
    keepalive_timeout 5;
    server {
        listen 127.0.0.1:%(port)d%(ssl)s;
        root %(root)s;
        %(tls)s
        %(rate)s
        %(extra)s
    }
}
""" % {"user": user, "p": p, "fmt": LOG_FORMAT, "port": self.port, "root": self.root,
       "rate": rate, "extra": self.extra.replace("{port}", str(self.port)),
       "ssl": " ssl" if self.cert else "", "tls": tls})

    def start(self, timeout=10):
        if self.proc and self.proc.poll() is None:
            return self
        for attempt in range(5):
            if not self.port or attempt:
                self.port = free_port()
            self._write_conf()
            self.proc = subprocess.Popen(
                [NGINX, "-p", self.prefix, "-c", self.conf, "-e", self.error_log],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return self
                except OSError:
                    time.sleep(0.02)
            err = b""
            if self.proc.poll() is not None:
                err = self.proc.stderr.read()
            else:
                self._kill()
            if b"Address already in use" not in err:
                raise RuntimeError("nginx did not start: %r %s" % (err, self._errors()))
        raise RuntimeError("nginx: no free port")

    def _errors(self):
        try:
            with open(self.error_log) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # fast shutdown
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def stop(self):
        """Stops nginx (fast shutdown: open connections are closed); keeps its logs."""
        self._kill()

    def restart(self):
        """A new nginx on the same port (the files it serves may have changed meanwhile)."""
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)

    def log(self):
        """The access log so far: one dict per request (status, bytes, method, uri, range,
        if_range, etag, time); None for an absent header."""
        out = []
        try:
            with open(self.access_log) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            parts = line.split("\t")
            if len(parts) != 8:
                continue
            none = lambda v: None if v in ("", "-") else v  # absent header
            out.append({"status": int(parts[0]), "bytes": int(parts[1]), "method": parts[2],
                        "uri": parts[3], "range": none(parts[4]), "if_range": none(parts[5]),
                        "etag": none(parts[6]).strip('"') if none(parts[6]) else None,
                        "time": float(parts[7])})
        return out

    def wait_log(self, count, timeout=10):
        """The access log once it has at least count entries (nginx logs a request when it
        ends: a client that went away is noticed at nginx's next write)."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.log()
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.05)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: nginx.py DIR [LIMIT_RATE]")
    ng = Nginx(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None).start()
    print("serving %s at http://127.0.0.1:%d/ (log %s)" % (ng.root, ng.port, ng.access_log),
          flush=True)
    try:
        ng.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        ng.cleanup()
