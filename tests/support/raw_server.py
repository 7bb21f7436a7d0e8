"""A scriptable raw TCP server on loopback for HTTP client tests (tests/test_native_http.py).

It records the exact bytes of every request it reads, per connection, and answers with
scripted raw bytes -- whole, or in fragments with delays -- then keeps the connection,
closes it (FIN), resets it (RST: SO_LINGER 0), or hangs.  Nothing here parses or
validates more HTTP than needed to find where a request ends (head up to the empty line;
then a Content-Length body, or a chunked body, or none).

    with RawServer() as srv:                         # 127.0.0.1, random port
        srv.answer = ok(b"hi")                       # every request: 200 "hi", keep-alive
        srv.answer = [ok(), Act(after="close")]      # per connection: 1st request ok, 2nd: close unanswered
        srv.answer = lambda conn, req: ...           # return bytes / Act / None (= hang)
        srv.on_accept = Act(after="reset")           # act before reading anything
        url = srv.url("/path")
        srv.requests                                 # [RawRequest], arrival order, all connections
        srv.accepted                                 # connections accepted

An answer is bytes (sent, connection kept) or an Act:
    Act(data=b"..." or [b"frag", ...], delay=0.0, after="keep"|"close"|"reset"|"hang"|"shutdown")
A list of answers is played per connection (request i on a connection gets list[i], the
last one repeats), so every fresh connection starts the script again.

RawServer(hosts=("127.0.0.1", "::1")) listens on the same port on every host given (for
URLs with `localhost` whatever address the client picks); RawServer(port=80) a fixed one.
"""
import socket
import threading
import time
from dataclasses import dataclass, field

from .receiver import last_header

CRLF = b"\r\n"


@dataclass
class Act:
    data: object = b""         # bytes, or a list of byte fragments
    delay: float = 0.0         # seconds before each fragment (after the first)
    after: str = "keep"        # keep | close | shutdown (FIN, then drain) | reset | hang
    first_delay: float = 0.0   # seconds before the first byte


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

    def header(self, name, default=None):
        return last_header(self.headers, name, default)

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


def ok(body=b"ok", status=b"200 OK", headers=(), after="keep"):
    """A plain Content-Length response."""
    h = b"".join(k + b": " + v + CRLF for k, v in headers)
    return Act(b"HTTP/1.1 " + status + CRLF + b"Content-Length: " + str(len(body)).encode() + CRLF + h + CRLF + body,
               after=after)


def fragments(data, size=1):
    return [data[i:i + size] for i in range(0, len(data), size)]


@dataclass
class Conn:
    id: int
    sock: socket.socket
    server: "RawServer"
    received: bytearray = field(default_factory=bytearray)    # everything read, in order
    requests: list = field(default_factory=list)
    closed_by_peer: bool = False
    buf: bytes = b""

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
        self.received += chunk
        return chunk

    def _fill(self, pred, timeout):
        end = time.monotonic() + timeout
        while not pred():
            left = end - time.monotonic()
            if left <= 0:
                return False
            chunk = self._recv(left)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read_request(self, timeout=30.0):
        """The next request on this connection, or None (EOF, or nothing in time)."""
        if not self._fill(lambda: b"\r\n\r\n" in self.buf, timeout):
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
        te = ",".join(get("transfer-encoding")).lower()
        expect = ",".join(get("expect")).lower()
        if "100-continue" in expect and self.server.send_100 and not self.buf:
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
        req = RawRequest(head + body, head, body, method, target, headers, self.id, len(self.requests),
                         time.monotonic())
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

    def act(self, a):
        """Performs an answer; False when the connection is over."""
        if a is None:
            a = Act(after="hang")
        if isinstance(a, (bytes, bytearray)):
            a = Act(bytes(a))
        if a.first_delay:
            time.sleep(a.first_delay)
        frags = a.data if isinstance(a.data, list) else ([a.data] if a.data else [])
        for i, frag in enumerate(frags):
            if i and a.delay:
                time.sleep(a.delay)
            if not self.send(frag):
                return False
        if a.after == "keep":
            return True
        if a.after == "close":
            self.close()
        elif a.after == "shutdown":
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.hang()
        elif a.after == "reset":
            self.reset()
        elif a.after == "hang":
            self.hang()
        else:
            raise ValueError(a.after)
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

    def reset(self):
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        self.close()


class RawServer:
    def __init__(self, hosts=("127.0.0.1",), port=0, answer=None, on_accept=None, send_100=True):
        self.hosts = tuple(hosts)
        self.answer = ok() if answer is None else answer
        self.on_accept = on_accept
        self.send_100 = send_100
        self.conns = []
        self.requests = []
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
                    s.listen(256)
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
        return f"http://{host}:{self.port}{path}"

    # ---- serving ----
    def _accept_loop(self, lsock):
        while not self.stopping:
            try:
                s, _ = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.accepted += 1
                c = Conn(self.accepted, s, self)
                self.conns.append(c)
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _pick(self, conn, req):
        a = self.answer
        if callable(a) and not isinstance(a, Act):
            return a(conn, req)
        if isinstance(a, list):
            return a[min(req.index, len(a) - 1)]
        return a

    def _serve(self, c):
        try:
            if self.on_accept is not None:
                a = self.on_accept(c) if callable(self.on_accept) else self.on_accept
                if a is not None and not c.act(a):
                    return
            while not self.stopping:
                req = c.read_request()
                if req is None:
                    return
                with self.lock:
                    self.requests.append(req)
                    self.cond.notify_all()
                if not c.act(self._pick(c, req)):
                    return
        finally:
            c.close()

    def wait_requests(self, n, timeout=10.0):
        with self.cond:
            self.cond.wait_for(lambda: len(self.requests) >= n, timeout)
            return list(self.requests)

    def reset_log(self):
        with self.lock:
            self.requests.clear()
