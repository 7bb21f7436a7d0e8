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

Receiver(ssl_context=...) serves HTTPS.  Run as a module (`python -m support.receiver`, from tests/) it serves
in a separate process and prints its port, for tests that must not share the GIL with it.
"""
import socket
import socketserver
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


def last_header(headers, name, default=None):
    """The value of the last (name, value) in headers named name (any case), or default."""
    found = default
    for k, v in headers:
        if k.lower() == name.lower():
            found = v
    return found


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


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        rx = self.server.receiver
        sock = self.request
        with rx._lock:
            rx.connections += 1
            conn_id = rx.connections
        peer_cert = {}
        if rx.ssl_context is not None:
            try:
                sock = rx.ssl_context.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as e:
                with rx._lock:
                    rx.tls_errors.append(str(e))
                return
            cert = sock.getpeercert()
            if cert:
                peer_cert = {k: v for part in cert.get("subject", ()) for k, v in part}
        sock.settimeout(30)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                    if buf[:1] == b"\x16":     # a TLS ClientHello on plain HTTP: answer as nginx does
                        self._send(sock, 400, b"plain HTTP port")
                        return
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                headers = []
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers.append((name, value.strip(" \t")))
                length = 0
                for k, v in headers:
                    if k.lower() == "content-length":
                        length = int(v)
                while len(buf) < length:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:length], buf[length:]
                path = urlsplit(target).path if "://" in target else target.split("?", 1)[0]
                rec = Recorded(method, target, path, version, headers, body, conn_id, peer_cert)
                with rx._lock:
                    rx.count += 1
                    if rx.record:
                        rx.requests.append(rec)
                    rx._cond.notify_all()
                keep = self._answer(rx, sock, rec)
                close = any(k.lower() == "connection" and v.lower() == "close" for k, v in headers)
                if not keep or close:
                    return
        except (ConnectionError, socket.timeout, ssl.SSLError, OSError):
            return
        finally:
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def _send(sock, status, body=b"", headers=(), reason="X"):
        out = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
        out += [f"{k}: {v}" for k, v in headers]
        sock.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)

    def _answer(self, rx, sock, rec):
        """Answers one request; False to close the connection afterwards."""
        parts = rec.path.strip("/").split("/")
        query = parse_qs(urlsplit(rec.target).query)
        kind = parts[0] if parts else ""
        if kind == "status" and len(parts) > 1:
            code = int(parts[1])
            self._send(sock, code, f"status {code}".encode())
        elif kind == "delay" and len(parts) > 1:
            time.sleep(int(parts[1]) / 1000)
            self._send(sock, 200, b"late")
        elif kind == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
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
            self._send(sock, code, b"moved", [("Location", to)])
        elif kind == "loop":
            self._send(sock, 302, b"again", [("Location", "/loop")])
        elif kind == "count":
            self._send(sock, 200, str(rx.count).encode())
        else:
            status, body, headers, delay = rx.default
            if delay:
                time.sleep(delay)
            self._send(sock, status, body, headers)
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class Receiver:
    """A recording HTTP(S) server on host:random port; use as a context manager."""

    def __init__(self, host="127.0.0.1", ssl_context=None):
        self.host = host
        self.ssl_context = ssl_context
        self.requests = []
        self.record = True          # False: only count requests (for leak tests)
        self.count = 0
        self.connections = 0
        self.tls_errors = []
        self.default = (200, b"ok", [("Content-Type", "text/plain")], 0)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        _Server.address_family = family
        self._server = _Server((host, 0), _Handler)
        self._server.receiver = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path="/hook"):
        scheme = "https" if self.ssl_context else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    def respond(self, status=200, body=b"ok", headers=(("Content-Type", "text/plain"),), delay=0):
        """The answer for paths without a special meaning."""
        self.default = (status, body, list(headers), delay)

    def wait_for(self, n, timeout=5):
        """Blocks until n requests were recorded; returns them."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.requests) >= n, timeout)
            return list(self.requests)


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
