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
import time
from dataclasses import dataclass

from .loopback import CRLF, Conn, LoopbackServer, RawRequest, last_header  # noqa: F401 - RawRequest, last_header: for importers


@dataclass
class Act:
    data: object = b""         # bytes, or a list of byte fragments
    delay: float = 0.0         # seconds before each fragment (after the first)
    after: str = "keep"        # keep | close | shutdown (FIN, then drain) | reset | hang
    first_delay: float = 0.0   # seconds before the first byte


def ok(body=b"ok", status=b"200 OK", headers=(), after="keep"):
    """A plain Content-Length response."""
    h = b"".join(k + b": " + v + CRLF for k, v in headers)
    return Act(b"HTTP/1.1 " + status + CRLF + b"Content-Length: " + str(len(body)).encode() + CRLF + h + CRLF + body,
               after=after)


def fragments(data, size=1):
    return [data[i:i + size] for i in range(0, len(data), size)]


class RawConn(Conn):
    """A connection of a RawServer: it can play an answer (bytes or an Act)."""

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


class RawServer(LoopbackServer):
    """The raw scripted server: the loop of tests/support/loopback.py with its defaults
    (chunked bodies read, 100 Continue sent, TCP_NODELAY, every byte and request kept,
    live connections dropped on stop)."""

    conn_class = RawConn

    def __init__(self, hosts=("127.0.0.1",), port=0, answer=None, on_accept=None, send_100=True):
        self.answer = ok() if answer is None else answer
        self.on_accept = on_accept
        self.send_100 = send_100
        self.requests = []
        super().__init__(hosts, port)

    # ---- the loop's hooks ----
    def on_connect(self, conn):
        if self.on_accept is not None:
            a = self.on_accept(conn) if callable(self.on_accept) else self.on_accept
            if a is not None and not conn.act(a):
                return False
        return True

    def on_request(self, conn, req):
        with self.lock:
            self.requests.append(req)
            self.cond.notify_all()
        return conn.act(self._pick(conn, req))

    def _pick(self, conn, req):
        a = self.answer
        if callable(a) and not isinstance(a, Act):
            return a(conn, req)
        if isinstance(a, list):
            return a[min(req.index, len(a) - 1)]
        return a

    def wait_requests(self, n, timeout=10.0):
        with self.cond:
            self.cond.wait_for(lambda: len(self.requests) >= n, timeout)
            return list(self.requests)

    def reset_log(self):
        with self.lock:
            self.requests.clear()
