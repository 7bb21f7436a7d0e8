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
import os
import socket
import subprocess
import time
from dataclasses import dataclass

import frappe_webhook_c as fwc

from .counting_receiver import CountingReceiver as CountReceiver  # noqa: F401 (the fast one)
from .loopback import HTTPReceiverBase


def wait_until(pred, timeout=10.0):
    """pred() once it holds, polling every 5 ms up to timeout seconds; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


def doc(name, **kw):
    """A ToDo document named name (the Dispatcher tests' document)."""
    return {"doctype": "ToDo", "name": name, **kw}


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
