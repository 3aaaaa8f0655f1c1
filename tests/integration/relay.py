"""A fault-injecting TCP relay for the download tests: it listens on 127.0.0.1 at a port
chosen free, opens a connection to the upstream server (the private nginx of nginx.py) for
each client connection, forwards both ways, and applies to the server's answer (the
downstream stream, server -> fotad) the fault its plan gives that connection:

    rst       after N bytes, close the client's socket with SO_LINGER 0: a RST
    fin       after N bytes, close the client's socket in order: all N bytes, then FIN
    truncate  after N bytes, half-close (shutdown SHUT_WR: FIN) and send nothing more; the
              socket stays open until the client closes it
    stall     after N bytes, forward nothing for `seconds` (the socket stays open); if the
              client gives up meanwhile the connection ends, else forwarding goes on
    trickle   `rate` bytes every `every` seconds from byte N to byte N + `length`, then
              full speed
    flip      XOR the byte at offset N with `xor` (0x01 by default)

rst, fin and truncate with drain=True first wait (2 s at most) until the client has read
every byte forwarded, so the cut throws nothing away; without it a RST comes at once, and
the bytes still in the relay's send queue are lost (the client's kernel never got them).

N counts in one of three units: "stream" (bytes of the answer from its status line on:
a fault inside the status line or the headers), "body" (bytes of this answer's body) or
"file" (the body's offset in the file: the first byte of a 206's Content-Range plus the
body bytes, so a fault at a fixed place of the file stays there across resumed requests;
a range that starts past N gets the fault at its body's first byte).

    with Relay(ng.port, plan=once(Fault("rst", 100000, unit="file"))) as r:
        url = r.url("fw.fota")
        ...
        for c in r.conns: print(c.index, c.range, c.status, c.body, c.end)

A plan is a function of the connection's index (0, 1, ...) that returns a Fault or None;
once(), always() and times() make the usual ones, and relay.plan may be replaced at any
time (it is read when a connection is accepted).

Each connection is recorded in relay.conns (a Conn): bytes up (client -> server) and down
(relay -> client), bytes received from the server, the request's Range header, the
answer's status, header block length and Content-Range start, the body bytes forwarded,
whether the fault was applied, how the connection ended, and at a cut the client's unread
bytes and the relay's unsent ones.

The relay reads from the server only when what it read before is in the client's socket,
and its upstream socket has a small receive buffer, so the server cannot run far ahead of
what the client was given: the server's own count of bytes sent (nginx's
$body_bytes_sent) stays close to the relay's if the server's send buffer is small too
(nginx: `listen ... sndbuf=8k`).

Python 3 standard library only (Linux: /proc/net/tcp and SIOCOUTQ for the queues); one
thread per connection."""
import fcntl
import re
import select
import socket
import struct
import termios
import threading
import time

# The relay's receive buffer on the upstream socket (the kernel doubles it): it bounds
# how far nginx can run ahead of what the relay forwarded.
UPSTREAM_RCVBUF = 16384
CHUNK = 16384
HEADER_MAX = 65536


def _proc_addr(addr):
    """An IPv4 (host, port) as /proc/net/tcp writes it."""
    a = socket.inet_aton(addr[0])
    return "%08X:%04X" % (struct.unpack("<I", a)[0], addr[1])


def peer_rx_queue(local, remote):
    """The receive queue (bytes received, not read yet) of this host's TCP socket from
    local to remote, as /proc/net/tcp tells it; None when it is not found."""
    want = (_proc_addr(local), _proc_addr(remote))
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if (parts[1], parts[2]) == want:
                    return int(parts[4].split(":")[1], 16)
    except OSError:
        pass
    return None


class Fault:
    KINDS = ("rst", "fin", "truncate", "stall", "trickle", "flip")
    UNITS = ("stream", "body", "file")

    def __init__(self, kind, at=0, unit="stream", seconds=5.0, rate=50, every=0.1,
                 length=2048, xor=0x01, drain=False):
        if kind not in self.KINDS or unit not in self.UNITS:
            raise ValueError("fault %r in %r" % (kind, unit))
        self.kind, self.at, self.unit = kind, at, unit
        self.seconds, self.rate, self.every, self.length, self.xor = (
            seconds, rate, every, length, xor)
        # rst, fin, truncate: first wait (2 s at most) until the relay's send queue and
        # the client's receive queue are empty.
        self.drain = drain

    def __repr__(self):
        return "%s@%s:%d%s" % (self.kind, self.unit, self.at, "+drain" if self.drain else "")


def once(fault):
    """The first connection gets the fault, the next ones none (the fault clears)."""
    return times(fault, 1)


def times(fault, n):
    return lambda i: fault if i < n else None


def always(fault):
    return lambda i: fault


def never(i):
    return None


class Conn:
    """What one client connection did."""

    def __init__(self, index, fault):
        self.index = index
        self.fault = fault
        self.fault_hit = False
        self.request = b""       # the request's header block (as far as it came)
        self.range = None        # the request's Range header, None when absent
        self.up = 0              # bytes client -> server
        self.down = 0            # bytes relay -> client (written into the client's socket)
        self.from_server = 0     # bytes received from the server
        self.header_len = None   # bytes of the answer's header block (status line to CRLFCRLF)
        self.status = None
        self.content_range_first = None
        self.end = None          # "eof" (the server's), "rst", "fin", "truncate",
        #                          "client" (the client went away), "error: ..."
        self.peer = None         # the client's address (host, port)
        # At a cut (rst, fin, truncate), just before the close: bytes the client's kernel
        # had received but the client had not read yet (its socket's receive queue, from
        # /proc/net/tcp), and bytes in the relay's send queue not yet acknowledged
        # (SIOCOUTQ). A RST throws away those not sent yet (Linux still hands the client
        # what its socket holds, before the reset's error).
        self.unread = None
        self.unsent = None
        self.done = threading.Event()

    @property
    def body(self):
        """Body bytes forwarded to the client."""
        if self.header_len is None:
            return 0
        return max(0, self.down - self.header_len)

    @property
    def file_from(self):
        """The file offset of this answer's first body byte."""
        return self.content_range_first or 0

    def __repr__(self):
        return ("Conn(%d %s range=%s status=%s down=%d body=%d from_server=%d end=%s)" % (
            self.index, self.fault, self.range, self.status, self.down, self.body,
            self.from_server, self.end))


class _Stop(Exception):
    """The fault ended the connection."""


class Relay:
    def __init__(self, upstream_port, plan=never, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.plan = plan
        self.conns = []
        self.lock = threading.Lock()
        self.sock = None
        self.port = None
        self.thread = None
        self.closing = False
        self.workers = []

    def url(self, name):
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.closing = True
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept()
            except OSError:
                pass
            self.sock.close()
        if self.thread:
            self.thread.join(5)
        for t in list(self.workers):
            t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self):
        """Forgets the connections recorded so far (the plan's index starts again at 0)."""
        with self.lock:
            self.conns = []

    def wait_idle(self, timeout=10):
        """Waits until every connection so far has ended; True if they have."""
        deadline = time.monotonic() + timeout
        for c in list(self.conns):
            if not c.done.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    # ---- the connections ---------------------------------------------------------------

    def _accept(self):
        while not self.closing:
            try:
                client, peer = self.sock.accept()
            except OSError:
                return
            with self.lock:
                index = len(self.conns)
                conn = Conn(index, self.plan(index))
                conn.peer = peer
                self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(client, conn), daemon=True)
            self.workers.append(t)
            t.start()

    def _serve(self, client, conn):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UPSTREAM_RCVBUF)
            server.connect(self.upstream)
        except OSError as e:
            conn.end = "error: upstream %s" % e
            _abort(client)
            server.close()
            conn.done.set()
            return
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(client, server, conn)
        try:
            link.run()
        except _Stop:
            pass
        except OSError as e:
            if conn.end is None:
                conn.end = "client" if link.gone else "error: %s" % e
        finally:
            link.close()
            conn.done.set()


def _abort(sock):
    """Closes sock with a RST (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Link:
    """One connection, both ways, in one thread (so a cut closes the client's socket at
    once: no other thread is inside a call on it): the request goes client -> server as
    it comes, the answer server -> client through the fault. The server is read only when
    what it gave before has been written to the client."""

    def __init__(self, client, server, conn):
        self.client, self.server, self.conn = client, server, conn
        self.fault = conn.fault
        self.gone = False       # the client closed its side (or reset)
        self.head = b""         # the answer's first bytes, until its header block is whole
        self.fpos = None        # the fault's offset in the stream, once known
        if self.fault and self.fault.unit == "stream":
            self.fpos = self.fault.at
        self.client_closed = self.server_closed = False

    def run(self):
        conn = self.conn
        quiet = 0
        while True:
            socks = [self.server] if self.gone else [self.client, self.server]
            readable, _, _ = select.select(socks, [], [], 1.0)
            quiet = 0 if readable else quiet + 1
            if self.gone and quiet >= 10:
                conn.end = conn.end or "client"  # the client left, the server says nothing
                return
            if self.client in readable:
                self._from_client()
            if self.server in readable:
                data = self.server.recv(CHUNK)
                if not data:
                    break
                conn.from_server += len(data)
                self._parse_head(data)
                self._forward(data)
        conn.end = conn.end or "eof"

    def _from_client(self):
        """Client -> server; records the request's header block and its Range. The
        client's close (FIN or RST) goes on to the server as a half-close."""
        conn = self.conn
        try:
            data = self.client.recv(CHUNK)
        except OSError:
            data = b""
        if not data:
            self.gone = True
            try:
                self.server.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        if len(conn.request) < HEADER_MAX and b"\r\n\r\n" not in conn.request:
            conn.request += data
            head = conn.request.split(b"\r\n\r\n", 1)[0]
            m = re.search(rb"\r\nRange:[ \t]*([^\r\n]*)", head, re.I)
            conn.range = m.group(1).decode("latin-1").strip() if m else None
        self.server.sendall(data)
        conn.up += len(data)

    def _wait_gone(self, seconds):
        """Waits up to seconds for the client to close its side (what it sends meanwhile
        goes on to the server); True if it did."""
        deadline = time.monotonic() + seconds
        while not self.gone:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([self.client], [], [], left)
            if readable:
                self._from_client()
        return True

    def _parse_head(self, data):
        conn = self.conn
        if conn.header_len is not None:
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > HEADER_MAX:
                conn.header_len = len(self.head)  # no header block: count it all as one
            return
        conn.header_len = end + 4
        head = self.head[:end].decode("latin-1")
        m = re.match(r"HTTP/1\.\d (\d{3})", head)
        conn.status = int(m.group(1)) if m else None
        m = re.search(r"\r\nContent-Range:[ \t]*bytes (\d+)-", head, re.I)
        conn.content_range_first = int(m.group(1)) if m else None
        f = self.fault
        if f and f.unit != "stream":
            base = conn.file_from if f.unit == "file" else 0
            self.fpos = conn.header_len + max(0, f.at - base)

    def _send(self, data):
        if data:
            self.client.sendall(data)
            self.conn.down += len(data)

    def _forward(self, data):
        f, conn = self.fault, self.conn
        if not f or conn.fault_hit and f.kind != "trickle":
            self._send(data)
            return
        if self.fpos is None:
            # The fault's place depends on the header block, not whole yet: these bytes
            # are all before the body, so they go on now.
            self._send(data)
            return
        pos = conn.down
        if f.kind == "trickle":
            self._trickle(data)
            return
        if f.kind == "flip":
            k = self.fpos - pos
            if 0 <= k < len(data):
                data = data[:k] + bytes([data[k] ^ f.xor]) + data[k + 1:]
                conn.fault_hit = True
            self._send(data)
            return
        k = self.fpos - pos  # bytes to forward before the fault
        if k >= len(data):
            self._send(data)
            return
        self._send(data[:max(0, k)])
        conn.fault_hit = True
        rest = data[max(0, k):]
        if f.kind == "stall":
            if self._wait_gone(f.seconds):
                conn.end = "client"
                raise _Stop()
            self._send(rest)
            return
        conn.end = f.kind
        if f.drain:
            self._drain(2.0)
        self._queues()
        if f.kind == "rst":
            self._close_server()
            _abort(self.client)
            self.client_closed = True
        elif f.kind == "fin":
            self._close_server()
            self.client.shutdown(socket.SHUT_RDWR)
            self.client.close()
            self.client_closed = True
        elif f.kind == "truncate":
            self.client.shutdown(socket.SHUT_WR)
            self._close_server()
            self._wait_gone(60)  # until the client closes its side
        raise _Stop()

    def _trickle(self, data):
        f, conn = self.fault, self.conn
        start = self.fpos
        while data:
            pos = conn.down
            if pos < start:
                n = min(len(data), start - pos)
            elif pos < start + f.length:
                conn.fault_hit = True
                n = min(len(data), f.rate, start + f.length - pos)
                if self._wait_gone(f.every):
                    conn.end = "client"
                    raise _Stop()
            else:
                n = len(data)
            self._send(data[:n])
            data = data[n:]

    def _drain(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.gone:
            self._queues()
            if self.conn.unsent == 0 and self.conn.unread == 0:
                return
            time.sleep(0.005)

    def _queues(self):
        """Records the client's unread bytes and the relay's unsent ones (see Conn)."""
        conn = self.conn
        try:
            conn.unsent = struct.unpack("i", fcntl.ioctl(self.client.fileno(), termios.TIOCOUTQ,
                                                         struct.pack("i", 0)))[0]
        except OSError:
            conn.unsent = None
        conn.unread = peer_rx_queue(conn.peer, self.client.getsockname())

    def _close_server(self):
        if not self.server_closed:
            self.server_closed = True
            self.server.close()  # with bytes unread: a RST, so nginx ends the request now

    def close(self):
        self._close_server()
        if not self.client_closed:
            self.client_closed = True
            try:
                self.client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.client.close()
