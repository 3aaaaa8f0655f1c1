"""keyserver: a tiny test double of the Luat FOTA server's KEY-mode API (see
/work/shared/spec/luat-platform-notes.md), on 127.0.0.1 at a port chosen free at run time.

    GET /api/site/firmware_upgrade?project_key=&imei=&firmware_name=&version=

(parameters in any order, extra ones ignored). What it answers is set per test:

    ks = KeyServer().start()
    ks.refuse(27, status=409)        # status + {"code":27,"msg":"\\u5df2..."}
    ks.offer("v2.fota")              # 200 with the image file as the body
    ks.offer("v2.fota", newer_than="AirM2M_780E_V1121_LTE_AT")
                                     # the image only to a device running that version,
                                     # "already latest" (27) to the others
    ks.offer("v2.fota", gone_after=True)
                                     # stop listening once the image is being sent: the
                                     # module's report after the upgrade finds no server
    ks.offer("v2.fota", cut_after=N) # the first image answer breaks off after N body
                                     # bytes (the connection is reset), later ones do not
    ks.offer("v2.fota", ranges=False)
                                     # Range ignored: always 200 and the whole file
    ks.offer("v2.fota", rate=100000) # the image at about 100 kB/s
    ks.requests                      # [{"time", "path", "params", "range", "if_range"}]
    ks.answers                       # [(status, body bytes sent)] of the image answers
    ks.stop()

A request to another path, or without project_key/firmware_name/version, gets 404 with
{"code":25,...}; one for a firmware_name other than the offered image's gets 26.
Run as a script (python3 keyserver.py IMAGE [PORT]) it offers IMAGE until interrupted."""
import http.server
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

PATH = "/api/site/firmware_upgrade"

MESSAGES = {  # the real server's Chinese messages, as its JSON escapes them
    3: "\u65e0\u6548\u8bbe\u5907",                     # invalid device
    17: "\u6ca1\u6709\u6743\u9650",                    # no permission
    25: "\u65e0\u6548\u9879\u76ee",                    # invalid project
    26: "\u65e0\u6548\u56fa\u4ef6",                    # invalid firmware
    27: "\u5df2\u662f\u6700\u65b0\u7248\u672c",        # already the latest version
}


def image_name(image):
    """The firmware name in an image's header (docs/image-format.md: char[32] at 28)."""
    return image[28:60].split(b"\0", 1)[0].decode("ascii", "replace")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the requests are kept in ks.requests
        pass

    def do_GET(self):
        ks = self.server.ks
        u = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        with ks.lock:
            ks.requests.append({"time": time.monotonic(), "path": u.path, "params": params,
                                "range": self.headers.get("Range"),
                                "if_range": self.headers.get("If-Range")})
        if u.path != PATH or not all(k in params for k in
                                     ("project_key", "firmware_name", "version")):
            return self.refusal(404, 25)
        mode = ks.mode
        if mode[0] == "refuse":
            return self.refusal(mode[1], mode[2])
        _, image, name, newer_than, gone_after, cut_after, ranges, rate = mode
        if params["firmware_name"] != name:
            return self.refusal(404, 26)
        if newer_than is not None and params["version"] != newer_than:
            return self.refusal(409, 27)
        if gone_after:
            ks.stop_listening()
        body = image
        status = 200
        rng = self.headers.get("Range")
        first = 0
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            try:
                first = int(rng[6:-1])
            except ValueError:
                first = 0
            if 0 < first < len(image) and ranges:
                status = 206
                body = image[first:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, len(image) - 1,
                                                                  len(image)))
        self.end_headers()
        with ks.lock:
            cut, ks.cut_after = ks.cut_after, None
        sent = 0
        try:
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                sent = cut
                time.sleep(0.05)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))  # close sends RST
                self.close_connection = True
                self.connection.close()
                return
            step = 16384 if not rate else max(1024, rate // 20)
            for off in range(0, len(body), step):
                self.wfile.write(body[off:off + step])
                sent += len(body[off:off + step])
                if rate:
                    time.sleep(step / rate)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            with ks.lock:
                ks.answers.append((status, sent))

    def refusal(self, status, code):
        body = json.dumps({"code": code, "msg": MESSAGES.get(code, "error")}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class KeyServer:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.answers = []
        self.mode = ("refuse", 409, 27)
        self.cut_after = None
        self.httpd = None
        self.thread = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.ks = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def refuse(self, code, status=409):
        self.mode = ("refuse", status, code)

    def offer(self, path, newer_than=None, gone_after=False, cut_after=None, ranges=True,
              rate=None):
        with open(path, "rb") as f:
            image = f.read()
        self.cut_after = cut_after
        self.mode = ("offer", image, image_name(image), newer_than, gone_after, cut_after,
                     ranges, rate)

    def stop_listening(self):
        """No more connections from now on (those open go on): a server gone away. Safe
        from a request handler's thread."""
        if self.httpd is None:
            return
        httpd, self.httpd = self.httpd, None
        httpd.shutdown()       # serve_forever runs in its own thread: returns within 50 ms
        httpd.socket.close()   # later connects are refused

    def stop(self):
        self.stop_listening()

    def checks(self):
        """The KEY-mode requests so far (a copy)."""
        with self.lock:
            return [r for r in self.requests if r["path"] == PATH]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: keyserver.py IMAGE")
    ks = KeyServer().start()
    ks.offer(sys.argv[1])
    print("KEY server at %s%s" % (ks.url, PATH), flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        ks.stop()
