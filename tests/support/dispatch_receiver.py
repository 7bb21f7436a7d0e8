"""Loopback receivers for the Dispatcher tests (and hook(), their Webhook factory, and
wait_until()).

ScriptedReceiver: a threaded HTTP/1.1 server on 127.0.0.1 (or ::1) that records every
request with its arrival time and answers each path from a script: a list of answers
played in order (the last one repeats).  An answer is a status code, or a dict with
status, headers, body, delay (seconds), "reset" (RST after reading the request) or
"close" (close without answering).  It tracks concurrent connections per path.
The loop is tests/support/loopback.py's (HTTPReceiverBase), as Receiver's.

count_receiver_main(): a fast single-threaded keep-alive server (selectors, raw sockets)
run as a subprocess for the volume tests; it answers 200 to everything and counts
webhook-id headers and bodies; GET /__report returns the counts as JSON.
"""
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import frappe_webhook_c as fwc

from .loopback import HTTPReceiverBase


def wait_until(pred, timeout=10.0):
    """pred() once it holds, polling every 5 ms up to timeout seconds; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


def hook(url, **kw):
    """A Webhook for the Dispatcher tests: loopback allowed, a short retry schedule
    without jitter, a one-field body."""
    kw.setdefault("allow_private_networks", True)
    kw.setdefault("retry_schedule", [0.05])
    kw.setdefault("retry_jitter", 0)
    kw.setdefault("webhook_data", [("name", "id")])
    return fwc.Webhook(url, **kw)


@dataclass
class Hit:
    path: str
    headers: dict          # lower-cased names, last value wins
    body: bytes
    at: float              # time.monotonic() when the request was complete
    connection: int


class ScriptedReceiver(HTTPReceiverBase):
    backlog = 128

    def __init__(self, host="127.0.0.1"):
        super().__init__(host)
        self.hits = []
        self.scripts = {}
        self.active = {}
        self.max_active = {}

    # ---- the loop's hooks (tests/support/loopback.py) ----
    def on_request(self, conn, req):
        _, target, _ = req.request_line.split(" ", 2)
        headers = {}
        for k, v in req.headers:
            headers[k.strip().lower()] = v.strip()
        path = target.split("?", 1)[0]
        with self.lock:
            answer = self._next_answer(path)
            self.hits.append(Hit(path, headers, req.body, time.monotonic(), conn.id))
            self.active[path] = self.active.get(path, 0) + 1
            self.max_active[path] = max(self.max_active.get(path, 0), self.active[path])
            self.cond.notify_all()
        try:
            return self._answer(conn, answer)
        finally:
            with self.lock:
                self.active[path] -= 1

    def _answer(self, conn, a):
        if isinstance(a, int):
            a = {"status": a}
        if a.get("delay"):
            time.sleep(a["delay"])
        if a.get("reset"):
            conn.set_reset()
            return False
        if a.get("close"):
            return False
        self.send_response(conn.sock, a.get("status", 200), a.get("body", b"ok"), a.get("headers", {}).items())
        return True

    def script(self, path, *answers):
        with self.lock:
            self.scripts[path] = list(answers)

    def _next_answer(self, path):
        s = self.scripts.get(path)
        if not s:
            return 200
        return s.pop(0) if len(s) > 1 else s[0]

    def hits_for(self, path):
        with self.lock:
            return [h for h in self.hits if h.path == path]

    def wait_for(self, path, n, timeout=10):
        with self.cond:
            self.cond.wait_for(lambda: sum(h.path == path for h in self.hits) >= n, timeout)
        return self.hits_for(path)


# ---------- the fast counting receiver (subprocess) ----------

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def count_receiver_main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(512)
    srv.setblocking(False)
    print(srv.getsockname()[1], flush=True)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    ids = {}
    bodies = set()
    total = 0
    conns = 0
    bufs = {}
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is srv:
                try:
                    c, _ = srv.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(c, selectors.EVENT_READ, None)
                bufs[c] = b""
                conns += 1
                continue
            try:
                data = s.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                bufs.pop(s, None)
                continue
            buf = bufs[s] + data
            out = []
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buf[:end]
                lo = head.lower()
                i = lo.find(b"content-length:")
                n = int(head[i + 15:head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else len(head)]) if i >= 0 else 0
                if len(buf) < end + 4 + n:
                    break
                body = buf[end + 4:end + 4 + n]
                buf = buf[end + 4 + n:]
                if head.startswith(b"GET /__report"):
                    rep = json.dumps({"total": total, "unique_ids": len(ids),
                                      "duplicated_ids": sum(1 for v in ids.values() if v > 1),
                                      "unique_bodies": len(bodies), "connections": conns}).encode()
                    out.append(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(rep), rep))
                    continue
                total += 1
                j = lo.find(b"\r\nwebhook-id:")
                if j >= 0:
                    k = head.find(b"\r\n", j + 2)
                    wid = head[j + 13:k if k > 0 else len(head)].strip()
                    ids[wid] = ids.get(wid, 0) + 1
                bodies.add(body)
                out.append(RESPONSE)
            bufs[s] = buf
            if out:
                try:
                    s.sendall(b"".join(out))
                except OSError:
                    pass


class CountReceiver:
    """The counting receiver in a subprocess (no LD_PRELOAD/sanitizer, no shared GIL)."""

    def __enter__(self):
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYTHONMALLOC", "ASAN_OPTIONS")}
        self.proc = subprocess.Popen([sys.executable, "-c", "import support.dispatch_receiver as r; r.count_receiver_main()"],
                                     cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), stdout=subprocess.PIPE, env=env)
        self.port = int(self.proc.stdout.readline())
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def report(self):
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(b"GET /__report HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            data = b""
            while b"}" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return json.loads(data.split(b"\r\n\r\n", 1)[1])


if __name__ == "__main__":
    count_receiver_main()


# ---------- nginx as a counting receiver ----------

NGINX_CONF = """
worker_processes 1;
daemon off;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  log_format ids '$http_webhook_id $request_length';
  access_log {d}/access.log ids buffer=256k flush=1s;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "ok"; }}
  }}
}}
"""


def nginx_binary():
    import shutil
    for p in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if p and os.path.exists(p):
            return p
    return None


class NginxReceiver:
    """nginx on 127.0.0.1 answering 200, logging each request's webhook-id header; the
    config is written to a temp dir and nginx runs in the foreground as a child."""

    def __init__(self, tmpdir):
        self.dir = str(tmpdir)

    def __enter__(self):
        import tempfile  # noqa: F401
        for _ in range(5):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(d=self.dir, port=self.port))
            env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
            self.proc = subprocess.Popen([nginx_binary(), "-c", conf, "-p", self.dir, "-e", os.path.join(self.dir, "error.log")],
                                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            end = time.monotonic() + 10
            while time.monotonic() < end and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            self.proc.kill()
            self.proc.wait()
        raise RuntimeError("nginx did not start: " + open(os.path.join(self.dir, "error.log")).read()[-2000:])

    def stop(self):
        """Stops nginx gracefully (the access log is flushed)."""
        if self.proc.poll() is None:
            import signal
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def logged_ids(self):
        with open(os.path.join(self.dir, "access.log"), "rb") as f:
            return [line.split(b" ", 1)[0].decode() for line in f if line.strip()]
