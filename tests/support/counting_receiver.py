"""A counting loopback receiver for the store tests (tests/test_store*.py), run in a
process of its own so that it outlives the processes it receives from (a sender killed
with SIGKILL, a dispatcher closed and reopened) and shares no GIL with them.

It answers every request (keep-alive, HTTP/1.1, Content-Length bodies) with a fixed
status, optionally after a delay, and records the Standard Webhooks `webhook-id` header
of each request (or, without one, the "id" of a JSON body) in arrival order:

    GET /__report          {"total": n, "ids": {id: times received}, "order": [ids...]}
    GET /__delay?ms=N      answer every later request N ms after it arrived (0: at once);
                           answers held back already are sent by then at the latest
    GET /__status?code=C   answer every later request with status C

Single-threaded (selectors), so it is fast (~10k requests/s) and a delay holds back only
the answers, never the reading: a request is recorded as soon as it has fully arrived,
which is what "the receiver got it" means for the duplicate accounting of the tests.

Started with CountingReceiver(port=0 | P) (a context manager): port 0 takes a free port;
a given port lets a test keep a port closed first (the receiver "down") and bring the
receiver up on it later.  Run directly: `python counting_receiver.py --port P
[--delay-ms N] [--status C]`; it prints its port on stdout and serves until killed or
until its stdin closes.
"""
import argparse
import heapq
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit


def _response(status, body=b"ok"):
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s" % (status, len(body), body)


def serve(port, delay_ms=0, status=200):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1024)
    srv.setblocking(False)
    print(srv.getsockname()[1], flush=True)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, "listen")
    try:
        sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    except (ValueError, OSError, PermissionError):
        pass
    state = {"delay": delay_ms / 1000.0, "status": status}
    ids = {}
    order = []
    bodies = set()  # hashes of the bodies received: how many differ
    total = 0
    connections = 0
    bufs = {}
    pending = []      # heap of (due, seq, sock, bytes): delayed answers
    seq = 0

    def send(s, data):
        try:
            s.sendall(data)
        except OSError:
            pass

    while True:
        timeout = None
        if pending:
            timeout = max(0.0, pending[0][0] - time.monotonic())
        for key, _ in sel.select(timeout):
            s = key.fileobj
            if key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    return
                continue
            if key.data == "listen":
                while True:
                    try:
                        c, _ = srv.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    c.setblocking(True)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, "conn")
                    bufs[c] = b""
                    connections += 1
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
            now = time.monotonic()
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buf[:end]
                lo = head.lower()
                n = 0
                i = lo.find(b"\r\ncontent-length:")
                if i >= 0:
                    k = head.find(b"\r\n", i + 2)
                    n = int(head[i + 17:k if k > 0 else len(head)].strip())
                if len(buf) < end + 4 + n:
                    break
                body = buf[end + 4:end + 4 + n]
                buf = buf[end + 4 + n:]
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                target = line.split(" ")[1] if " " in line else "/"
                path = urlsplit(target).path
                query = parse_qs(urlsplit(target).query)
                if line.startswith("GET /__"):
                    if path == "/__report":
                        rep = json.dumps({"total": total, "ids": ids, "order": order,
                                          "unique_ids": len(ids),
                                          "duplicated_ids": sum(1 for v in ids.values() if v > 1),
                                          "unique_bodies": len(bodies),
                                          "connections": connections}).encode()
                        send(s, _response(200, rep))
                    elif path == "/__delay":
                        state["delay"] = int(query.get("ms", ["0"])[0]) / 1000.0
                        # answers already held back are due no later than the new delay says
                        pending = [(min(due, now + state["delay"]), n, c, ans) for due, n, c, ans in pending]
                        heapq.heapify(pending)
                        send(s, _response(200))
                    elif path == "/__status":
                        state["status"] = int(query.get("code", ["200"])[0])
                        send(s, _response(200))
                    else:
                        send(s, _response(404))
                    continue
                total += 1
                bodies.add(hash(body))
                wid = None
                j = lo.find(b"\r\nwebhook-id:")
                if j >= 0:
                    k = head.find(b"\r\n", j + 2)
                    wid = head[j + 13:k if k > 0 else len(head)].strip().decode("latin-1")
                else:
                    try:
                        wid = str(json.loads(body).get("id"))
                    except Exception:  # noqa: BLE001 - a body without an id is counted only
                        wid = None
                if wid is not None:
                    ids[wid] = ids.get(wid, 0) + 1
                    order.append(wid)
                answer = _response(state["status"])
                if state["delay"] > 0:
                    seq += 1
                    heapq.heappush(pending, (now + state["delay"], seq, s, answer))
                else:
                    send(s, answer)
            bufs[s] = buf
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, s, answer = heapq.heappop(pending)
            if s in bufs:
                send(s, answer)


class CountingReceiver:
    """The receiver in a subprocess (without LD_PRELOAD/ASan: it is not under test)."""

    def __init__(self, port=0, delay_ms=0, status=200):
        self.want_port, self.delay_ms, self.status = port, delay_ms, status
        self.proc = None
        self.port = port

    def start(self):
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYTHONMALLOC", "ASAN_OPTIONS")}
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--port", str(self.want_port),
             "--delay-ms", str(self.delay_ms), "--status", str(self.status)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise RuntimeError(f"counting receiver did not start on port {self.want_port}")
        self.port = int(line)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def _get(self, target):
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            data = b""
            while True:
                end = data.find(b"\r\n\r\n")
                if end >= 0:
                    head = data[:end].lower()
                    i = head.find(b"content-length:")
                    n = int(head[i + 15:].split(b"\r\n", 1)[0])
                    if len(data) >= end + 4 + n:
                        return data[end + 4:end + 4 + n]
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("counting receiver closed the connection")
                data += chunk

    def report(self):
        """{"total", "ids": {id: count}, "order": [id, ...], "unique_ids", "duplicated_ids",
        "unique_bodies", "connections"}"""
        return json.loads(self._get("/__report"))

    def ids(self):
        return self.report()["ids"]

    def set_delay(self, ms):
        self._get(f"/__delay?ms={int(ms)}")

    def set_status(self, code):
        self._get(f"/__status?code={int(code)}")

    def wait_for_ids(self, want, timeout=60.0, poll=0.2):
        """Waits until every id of `want` was received at least once; the report."""
        want = set(want)
        end = time.monotonic() + timeout
        while True:
            rep = self.report()
            if want <= rep["ids"].keys() or time.monotonic() > end:
                return rep
            time.sleep(poll)

    def wait_for_count(self, n, timeout=60.0, poll=0.05):
        end = time.monotonic() + timeout
        while True:
            rep = self.report()
            if len(rep["ids"]) >= n or time.monotonic() > end:
                return rep
            time.sleep(poll)


def _main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--status", type=int, default=200)
    a = p.parse_args()
    serve(a.port, a.delay_ms, a.status)


if __name__ == "__main__":
    _main()
