"""A real HTTP/1.1 server on loopback for the transport tests: it records every request
byte-exactly and answers as the request path tells it to.

Paths (query parameters in brackets):
    /status/<code>                  answer <code> with a short body
    /delay/<ms>                     wait, then 200
    /reset                          read the request, then reset the connection (RST)
    /close                          read the request, then close without answering
    /huge/<n>                       200 with an n-byte body
    /redirect[?to=URL&code=302]     redirect to URL
    /loop                           redirect to itself
    /count                          200 with the number of requests seen so far
    anything else                   the default answer (200 "ok", or what respond() set)

The accept / read / answer loop is tests/support/loopback.py's (HTTPReceiverBase).
Receiver(ssl_context=...) serves HTTPS.  Run as a module (`python -m support.receiver`, from tests/) it serves
in a separate process and prints its port, for tests that must not share the GIL with it.
"""
import ssl
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from .loopback import HTTPReceiverBase, last_header


@dataclass
class Recorded:
    method: str
    target: str                 # request target as sent (path?query, or an absolute URL via a proxy)
    path: str                   # path without the query
    version: str
    headers: list               # [(name, value)] in wire order, exactly as sent
    body: bytes
    connection: int             # 1-based id of the TCP connection it came on
    peer_cert: dict = field(default_factory=dict)

    def header(self, name, default=None):
        return last_header(self.headers, name, default)


class Receiver(HTTPReceiverBase):
    """A recording HTTP(S) server on host:random port; use as a context manager."""

    def __init__(self, host="127.0.0.1", ssl_context=None):
        super().__init__(host)
        self.ssl_context = ssl_context
        self.scheme = "https" if ssl_context else "http"
        self.requests = []
        self.record = True          # False: only count requests (for leak tests)
        self.count = 0
        self.tls_errors = []
        self.default = (200, b"ok", [("Content-Type", "text/plain")], 0)
        self._lock = self.lock
        self._cond = self.cond

    def respond(self, status=200, body=b"ok", headers=(("Content-Type", "text/plain"),), delay=0):
        """The answer for paths without a special meaning."""
        self.default = (status, body, list(headers), delay)

    def wait_for(self, n, timeout=5):
        """Blocks until n requests were recorded; returns them."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.requests) >= n, timeout)
            return list(self.requests)

    # ---- the loop's hooks (tests/support/loopback.py) ----
    def on_connect(self, conn):
        if self.ssl_context is not None:
            try:
                conn.sock = self.ssl_context.wrap_socket(conn.sock, server_side=True)
            except (ssl.SSLError, OSError) as e:
                with self._lock:
                    self.tls_errors.append(str(e))
                return False
            cert = conn.sock.getpeercert()
            if cert:
                conn.peer_cert = {k: v for part in cert.get("subject", ()) for k, v in part}
        return True

    def sniff_head(self, conn):
        if conn.buf[:1] == b"\x16":     # a TLS ClientHello on plain HTTP: answer as nginx does
            self.send_response(conn.sock, 400, b"plain HTTP port")
            return True
        return False

    def on_request(self, conn, req):
        method, target, version = req.request_line.split(" ", 2)
        headers = req.headers
        path = urlsplit(target).path if "://" in target else target.split("?", 1)[0]
        rec = Recorded(method, target, path, version, headers, req.body, conn.id, conn.peer_cert)
        with self._lock:
            self.count += 1
            if self.record:
                self.requests.append(rec)
            self._cond.notify_all()
        keep = self._answer(conn, rec)
        close = any(k.lower() == "connection" and v.lower() == "close" for k, v in headers)
        return keep and not close

    def _answer(self, conn, rec):
        """Answers one request; False to close the connection afterwards."""
        sock, send = conn.sock, self.send_response
        parts = rec.path.strip("/").split("/")
        query = parse_qs(urlsplit(rec.target).query)
        kind = parts[0] if parts else ""
        if kind == "status" and len(parts) > 1:
            code = int(parts[1])
            send(sock, code, f"status {code}".encode())
        elif kind == "delay" and len(parts) > 1:
            time.sleep(int(parts[1]) / 1000)
            send(sock, 200, b"late")
        elif kind == "reset":
            conn.set_reset()
            return False
        elif kind == "close":
            return False
        elif kind == "huge" and len(parts) > 1:
            n = int(parts[1])
            sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n".encode())
            block = b"x" * 65536
            sent = 0
            while sent < n:
                k = min(len(block), n - sent)
                sock.sendall(block[:k])
                sent += k
        elif kind == "redirect":
            to = query.get("to", ["/status/200"])[0]
            code = int(query.get("code", ["302"])[0])
            send(sock, code, b"moved", [("Location", to)])
        elif kind == "loop":
            send(sock, 302, b"again", [("Location", "/loop")])
        elif kind == "count":
            send(sock, 200, str(self.count).encode())
        else:
            status, body, headers, delay = self.default
            if delay:
                time.sleep(delay)
            send(sock, status, body, headers)
        return True


def main():
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    args = p.parse_args()
    rx = Receiver(args.host).start()
    print(rx.port, flush=True)
    try:
        sys.stdin.read()       # serve until the parent closes our stdin
    finally:
        rx.stop()


if __name__ == "__main__":
    main()
