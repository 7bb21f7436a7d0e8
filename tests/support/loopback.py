"""The one accept / read-request / respond loop of the loopback test servers.

LoopbackServer listens on 127.0.0.1 (or ::1, or several hosts on one port), accepts on
a thread per listening socket, and serves each connection on a thread of its own:

    on_connect(conn)                 once (TLS, an action before any request); False ends it
    loop: conn.read_request()        the next request (None at EOF, or nothing in time)
          on_request(conn, req)      record it and answer; False closes the connection
    on_error(conn, exc)              anything the hooks raise (default: re-raised)

A subclass says how it answers (the hooks) and how the loop behaves (class attributes):
framing (Content-Length only, or also chunked bodies and `Expect: 100-continue`), Nagle,
the listen backlog, whether stop() also drops live connections, and whether every
connection keeps its bytes and requests (RawServer's log) or nothing (the recording
receivers, which must stay flat under thousands of requests).  Its users:

    receiver.Receiver                 HTTP(S) with answers by path (tests/test_http.py)
    dispatch_receiver.ScriptedReceiver  scripted answers per path (the Dispatcher tests)
    raw_server.RawServer              raw scripted bytes, byte-exact log (tests/test_native_http.py)
"""
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

CRLF = b"\r\n"


def free_port(host="127.0.0.1"):
    """A port nothing listens on now (a receiver that is down, or one to start on it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def last_header(headers, name, default=None):
    """The value of the last (name, value) in headers named name (any case), or default."""
    found = default
    for k, v in headers:
        if k.lower() == name.lower():
            found = v
    return found


@dataclass
class RawRequest:
    raw: bytes                 # exact bytes: request line, headers, empty line, body
    head: bytes                # up to and including the empty line
    body: bytes                # the body as framed on the wire (chunked stays chunked)
    method: str
    target: str
    headers: list              # [(name, value)] as sent (value without surrounding blanks)
    conn: int                  # 1-based connection id
    index: int                 # request number on its connection (0-based)
    at: float = 0.0
    request_line: str = ""     # the first line, as sent

    def header(self, name, default=None):
        return last_header(self.headers, name, default)

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Conn:
    """One accepted connection and what was read on it."""
    id: int
    sock: socket.socket
    server: "LoopbackServer"
    received: bytearray = field(default_factory=bytearray)    # everything read, in order (if the server keeps history)
    requests: list = field(default_factory=list)              # its requests (if the server keeps history)
    closed_by_peer: bool = False
    buf: bytes = b""
    served: int = 0                                           # requests read so far
    peer_cert: dict = field(default_factory=dict)             # the TLS client certificate's subject, if any

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return None
        except OSError:
            chunk = b""
        if not chunk:
            self.closed_by_peer = True
            return b""
        if self.server.keep_history:
            self.received += chunk
        return chunk

    def _fill(self, pred, timeout, sniff=None):
        """Reads until pred() holds: False at EOF, after timeout seconds, or when sniff()
        (asked after every chunk) says to stop."""
        end = time.monotonic() + timeout
        while not pred():
            left = end - time.monotonic()
            if left <= 0:
                return False
            chunk = self._recv(left)
            if not chunk:
                return False
            self.buf += chunk
            if sniff is not None and sniff(self):
                return False
        return True

    def read_request(self, timeout=30.0):
        """The next request on this connection, or None (EOF, or nothing in time).  The head
        runs to the empty line; the body is Content-Length bytes, or (if the server reads
        chunked bodies) a chunked body, or none."""
        srv = self.server
        if not self._fill(lambda: b"\r\n\r\n" in self.buf, timeout, srv.sniff_head):
            return None
        i = self.buf.index(b"\r\n\r\n") + 4
        head, rest = self.buf[:i], self.buf[i:]
        lines = head[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        method, target = (parts + ["", ""])[:2]
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k, v.strip(" \t")))
        get = lambda n: [v for k, v in headers if k.lower() == n]   # noqa: E731
        self.buf = rest
        te = ",".join(get("transfer-encoding")).lower() if srv.chunked else ""
        expect = ",".join(get("expect")).lower()
        if "100-continue" in expect and srv.send_100 and not self.buf:
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in te:
            body = self._read_chunked(timeout)
            if body is None:
                return None
        else:
            n = int(get("content-length")[-1]) if get("content-length") else 0
            if not self._fill(lambda: len(self.buf) >= n, timeout):
                return None
            body, self.buf = self.buf[:n], self.buf[n:]
        req = RawRequest(head + body, head, body, method, target, headers, self.id, self.served,
                         time.monotonic(), lines[0])
        self.served += 1
        if srv.keep_history:
            self.requests.append(req)
        return req

    def _read_chunked(self, timeout):
        out = b""
        while True:
            if not self._fill(lambda: CRLF in self.buf, timeout):
                return None
            line, self.buf = self.buf.split(CRLF, 1)
            out += line + CRLF
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # trailers up to the empty line
                while True:
                    if not self._fill(lambda: CRLF in self.buf, timeout):
                        return None
                    t, self.buf = self.buf.split(CRLF, 1)
                    out += t + CRLF
                    if not t:
                        return out
            if not self._fill(lambda: len(self.buf) >= size + 2, timeout):
                return None
            out += self.buf[:size + 2]
            self.buf = self.buf[size + 2:]

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def hang(self, limit=30.0):
        """Reads and discards until the client closes (or the server stops)."""
        end = time.monotonic() + limit
        while time.monotonic() < end and not self.server.stopping:
            chunk = self._recv(0.05)
            if chunk == b"":
                break
        self.close()

    def shutdown(self):
        """FIN now (from any thread): the serving thread then sees EOF and closes."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def set_reset(self):
        """Makes the next close a reset (RST: SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    def reset(self):
        try:
            self.set_reset()
        except OSError:
            pass
        self.close()


class LoopbackServer:
    """Listens on every host of `hosts` on one port (random, or `port`); a thread per
    connection runs the loop of the module docstring.  Use as a context manager."""

    conn_class = Conn
    backlog = 256
    nodelay = True             # TCP_NODELAY on accepted connections
    chunked = True             # read chunked request bodies (else only Content-Length)
    send_100 = True            # answer `Expect: 100-continue` with 100 Continue (when no body is in yet)
    close_on_stop = True       # stop() closes live connections (else they are served until the client goes)
    keep_history = True        # conns, and each connection's bytes and requests, are kept
    request_timeout = 30.0     # seconds a request may take to arrive
    scheme = "http"

    def __init__(self, hosts=("127.0.0.1",), port=0):
        self.hosts = tuple(hosts)
        self.conns = []
        self.accepted = 0
        self.stopping = False
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self._threads = []
        self._listeners = self._listen(port)
        self.port = self._listeners[0].getsockname()[1]

    def _listen(self, port):
        for _ in range(50):
            socks = []
            try:
                p = port
                for h in self.hosts:
                    fam = socket.AF_INET6 if ":" in h else socket.AF_INET
                    s = socket.socket(fam, socket.SOCK_STREAM)
                    socks.append(s)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if fam == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((h, p))
                    s.listen(self.backlog)
                    p = s.getsockname()[1]
                return socks
            except OSError:
                for s in socks:
                    s.close()
                if port:
                    raise
        raise OSError("no port free on all of " + ", ".join(self.hosts))

    # ---- lifetime ----
    def start(self):
        for s in self._listeners:
            s.settimeout(0.05)
            t = threading.Thread(target=self._accept_loop, args=(s,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self.stopping = True
        for t in self._threads:
            t.join(2)
        for s in self._listeners:
            s.close()
        if self.close_on_stop:
            with self.lock:
                conns = list(self.conns)
            for c in conns:
                c.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path="/hook", host=None):
        host = host or self.hosts[0]
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}{path}"

    # ---- serving ----
    def _accept_loop(self, lsock):
        while not self.stopping:
            try:
                s, _ = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self.nodelay:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.accepted += 1
                c = self.conn_class(self.accepted, s, self)
                if self.keep_history:
                    self.conns.append(c)
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            if not self.on_connect(c):
                return
            while not (self.stopping and self.close_on_stop):
                req = c.read_request(self.request_timeout)
                if req is None:
                    return
                if not self.on_request(c, req):
                    return
        except Exception as e:  # noqa: BLE001 - the subclass decides
            self.on_error(c, e)
        finally:
            c.close()

    # ---- hooks ----
    def on_connect(self, conn):
        """Before the first request; False ends the connection."""
        return True

    def sniff_head(self, conn):
        """After every chunk read while a request head is incomplete (conn.buf holds it so
        far); True stops reading and ends the connection."""
        return False

    def on_request(self, conn, req):
        """Records and answers req; False closes the connection."""
        raise NotImplementedError

    def on_error(self, conn, exc):
        raise exc


class HTTPReceiverBase(LoopbackServer):
    """The settings of the recording HTTP receivers (Receiver, ScriptedReceiver): bodies
    by Content-Length only, no 100 Continue, Nagle on, a live connection is served on
    after stop() until its client goes, nothing kept per connection.  A socket error
    ends a connection quietly; any other exception is printed to stderr (as socketserver
    did) and ends it too."""

    backlog = 64
    nodelay = False
    chunked = False
    send_100 = False
    close_on_stop = False
    keep_history = False

    def __init__(self, host="127.0.0.1"):
        self.host = host
        super().__init__(hosts=(host,))

    @property
    def connections(self):
        """Connections accepted so far."""
        return self.accepted

    def on_error(self, conn, exc):
        if isinstance(exc, OSError):
            return
        print("-" * 40, file=sys.stderr)
        print(f"Exception occurred during processing of connection {conn.id} of {type(self).__name__}", file=sys.stderr)
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        print("-" * 40, file=sys.stderr)

    @staticmethod
    def send_response(sock, status, body=b"", headers=(), reason="X"):
        """HTTP/1.1 <status> <reason>, Content-Length, the headers, the body: one write."""
        out = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
        out += [f"{k}: {v}" for k, v in headers]
        sock.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
