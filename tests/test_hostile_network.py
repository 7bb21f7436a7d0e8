"""Hostile receivers (issue 11): what a receiver can make the client spend.

1. Memory and time per response: a receiver that streams headers, trailers, interim
   responses, a line without end, a chunk extension without end, chunk sizes of endless
   zeros, or trickles a body or headers byte by byte.  For each, on every transport (the
   native HTTP/1.1 client, libcurl through the Dispatcher, libcurl through dispatch()), the
   client process's peak RSS grows by less than RSS_BOUND and the failure arrives within
   the webhook's timeout plus a little, with the same error text on every transport.  The
   client runs in a subprocess (a hang or a runaway fails the test, not pytest).
2. Isolation across receivers: receivers that never answer cannot take every connection;
   a healthy receiver's deliveries complete while they hang.
3. Interpreter exit: what the exit report calls undelivered was not received (only
   deliveries interrupted in flight may have been), and the warning stays short when a
   receiver is down.

Only 127.0.0.1 is contacted.
"""
import json
import os
import subprocess
import sys
import socket
import time

import pytest

import frappe_webhook_c as fwc
from support.dispatch_receiver import ScriptedReceiver, wait_until
from support.raw_server import Act, RawServer, ok

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TIMEOUT = 2.0           # the webhooks' timeout in the hostile cases
SLACK = 1.5             # seconds a failure may come after the timeout (sanitizer builds are slow)
RSS_BOUND = 100         # MB of peak RSS growth allowed per case
STREAM_FOR = 30.0       # seconds a hostile answer streams at most (the client ends it long before)
H = b"HTTP/1.1 200 OK\r\n"
CHUNKED = H + b"Transfer-Encoding: chunked\r\n\r\n"


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, HERE])
    if "ASAN_OPTIONS" in env:
        # freed memory is recycled soon, so that RSS shows what is live (as without ASan)
        env["ASAN_OPTIONS"] += ":quarantine_size_mb=16"
    return env


# ---------- 1. hostile responses ----------

def repeating(prefix, unit, every=0.0):
    """An answer that sends prefix, then unit over and over (every `every` seconds, or as
    fast as the client reads), until STREAM_FOR has passed."""
    def answer(conn, req):
        conn.send(prefix)
        end = time.monotonic() + STREAM_FOR
        while time.monotonic() < end and not conn.server.stopping:
            if not conn.send(unit):
                break
            if every:
                time.sleep(every)
        return Act(after="close")
    return answer


def stream(prefix, unit, n=2000):
    """prefix, then unit as fast as the client reads (in blocks of n units)."""
    return repeating(prefix, unit * n)


def trickle(prefix, unit, every):
    """prefix, then one unit every `every` seconds."""
    return repeating(prefix, unit, every)


TIMED_OUT = f"timed out after {TIMEOUT} s"
CASES = {
    # name: (answer, the error every transport reports)
    "endless trailers": (stream(CHUNKED + b"2\r\nok\r\n0\r\n", b"X-Trailer: aaaaaaaaaaaaaaaa\r\n"),
                         "receive failed: Too many response header lines: 10001 > 10000"),
    "endless long trailers": (stream(CHUNKED + b"2\r\nok\r\n0\r\n", b"X-Trailer: " + b"a" * 2000 + b"\r\n", 50),
                              "receive failed: Too large response headers: 308036 > 307200"),
    "endless headers": (stream(H, b"X-H: aaaaaaaaaaaaaaaa\r\n"),
                        "receive failed: Too many response header lines: 10001 > 10000"),
    "endless headers after Content-Length: 0": (stream(H + b"Content-Length: 0\r\n", b"X-H: a\r\n"),
                                                "receive failed: Too many response header lines: 10001 > 10000"),
    "endless 1xx responses": (stream(b"", b"HTTP/1.1 100 Continue\r\n\r\n"),
                              "receive failed: Too large response headers: 307223 > 307200"),
    "endless status line": (stream(b"HTTP/1.1 200 OK", b"K" * 50), "out of memory"),
    "endless header line": (stream(H + b"X-Long: ", b"a" * 50), "out of memory"),
    "endless chunk extension": (stream(CHUNKED + b"2;ext=", b"a" * 50), TIMED_OUT),
    "chunk size of endless zeros": (stream(CHUNKED, b"0" * 50),
                                    "receive failed: Too long hexadecimal number in chunked-encoding"),
    "body trickling a byte a second": (trickle(H + b"Content-Length: 100\r\n\r\n", b"x", 1.0), TIMED_OUT),
    "headers trickling": (trickle(H, b"X-A: b\r\n", 0.3), TIMED_OUT),
}

CLIENT = """
import json, sys, time
import frappe_webhook_c as fwc

def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

url, timeout = sys.argv[1], float(sys.argv[2])
h = fwc.Webhook(url, allow_private_networks=True, timeout=timeout, max_retries=0, webhook_data=[("name", "id")])
ds = {"native": fwc.Dispatcher(native_http=True), "libcurl": fwc.Dispatcher(native_http=False)}
for mode in ("native", "libcurl", "dispatch"):
    base = peak_mb()
    t0 = time.monotonic()
    if mode == "dispatch":
        r = fwc.dispatch(h, {"name": "x"})
        error, nheaders = r.error, len(r.headers)
    else:
        x = ds[mode].enqueue(h, {"name": "x"})
        while not x.done and time.monotonic() - t0 < 120:
            time.sleep(0.002)
        error, nheaders = x.error, len(x.response_headers or [])
    print(json.dumps({"mode": mode, "error": error, "elapsed": time.monotonic() - t0,
                      "rss_growth": peak_mb() - base, "headers": nheaders}), flush=True)
for d in ds.values():
    d.close(0)
"""


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_response_is_bounded_in_memory_and_time(name):
    answer, error = CASES[name]
    with RawServer(answer=answer) as srv:
        try:
            r = subprocess.run([sys.executable, "-c", CLIENT, srv.url(), str(TIMEOUT)], capture_output=True,
                               text=True, timeout=3 * (TIMEOUT + 20), env=child_env())
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name}: the client did not finish in {3 * (TIMEOUT + 20)} s")
    assert r.returncode == 0, r.stderr[-3000:]
    results = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["mode"] for x in results] == ["native", "libcurl", "dispatch"], r.stdout
    for x in results:
        assert x["error"] == error, (name, x)
        assert x["elapsed"] < TIMEOUT + SLACK, (name, x)
        assert x["rss_growth"] < RSS_BOUND, (name, x)
        assert x["headers"] <= 10001, (name, x)


def test_header_bounds_leave_ordinary_responses_alone():
    """10000 header lines (the bound) and 299 KiB of headers still make a response, on every transport."""
    many = H + b"".join(b"X-%d: v\r\n" % i for i in range(9999)) + b"Content-Length: 2\r\n\r\nok"
    big = H + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(290)) + b"Content-Length: 2\r\n\r\nok"
    trailers = CHUNKED + b"2\r\nok\r\n0\r\n" + b"".join(b"T-%d: v\r\n" % i for i in range(9999)) + b"\r\n"
    for raw, n in ((many, 10000), (big, 291), (trailers, 10000)):
        with RawServer(answer=Act(raw)) as srv:
            h = fwc.Webhook(srv.url(), allow_private_networks=True, timeout=5, max_retries=0)
            r = fwc.dispatch(h, {"name": "x"})
            assert (r.status, r.error, r.body, len(r.headers)) == (200, None, b"ok", n)
            for native in (True, False):
                with fwc.Dispatcher(native_http=native) as d:
                    x = d.enqueue(h, {"name": "x"})
                    assert d.flush(10) == []
                assert (x.status, x.response_body, len(x.response_headers)) == ("Delivered", b"ok", n), native


def test_a_fast_endless_stream_does_not_hold_up_the_worker():
    """A receiver streaming a chunk extension as fast as it is read ties up its own
    delivery until its timeout, not the worker: a healthy delivery on the same worker
    completes meanwhile, and the hostile one times out on time."""
    with RawServer(answer=stream(CHUNKED + b"2;ext=", b"a" * 50)) as bad, RawServer(answer=ok()) as good:
        with fwc.Dispatcher(workers=1) as d:
            slow = d.enqueue(fwc.Webhook(bad.url(), allow_private_networks=True, timeout=3, max_retries=0), {"name": "x"})
            assert wait_until(lambda: len(bad.requests) == 1, 5)
            t0 = time.monotonic()
            fast = d.enqueue(fwc.Webhook(good.url(), allow_private_networks=True, timeout=3, max_retries=0), {"name": "y"})
            assert wait_until(lambda: fast.done, 2.5), fast
            took = time.monotonic() - t0
            assert fast.status == "Delivered" and took < 1.0, (fast, took)
            assert wait_until(lambda: slow.done, 3 + SLACK), slow
            assert slow.error == "timed out after 3.0 s"
            assert slow.elapsed < 3 + SLACK


# ---------- 2. isolation across receivers ----------

@pytest.mark.parametrize("native", [True, False], ids=["native", "libcurl"])
def test_hanging_receivers_do_not_starve_a_healthy_one(native):
    """Five receivers that never answer, 16 deliveries each (max_per_host=16): 80 would
    fill max_connections=64.  A healthy receiver's deliveries still complete at once."""
    hang = lambda conn, req: None   # noqa: E731  (read the request, never answer)
    servers = [RawServer(answer=hang).start() for _ in range(5)]
    try:
        with ScriptedReceiver() as healthy:
            d = fwc.Dispatcher(native_http=native)     # max_connections=64, max_per_host=16
            try:
                for s in servers:
                    h = fwc.Webhook(s.url(), allow_private_networks=True, timeout=20, max_retries=0)
                    for i in range(16):
                        d.enqueue(h, {"name": f"H{i}"})
                # the hanging receivers hold what they can get before the healthy work comes
                # (libcurl keeps all but one per receiver waiting inside the multi handle
                # for a connection that may multiplex: in flight all the same)
                assert wait_until(lambda: d.stats()["in_flight"] >= 56, 10)
                assert wait_until(lambda: all(s.requests for s in servers), 10)
                time.sleep(0.2)
                held = d.stats()["in_flight"]
                good = fwc.Webhook(healthy.url("/ok"), allow_private_networks=True, timeout=20, max_retries=0)
                t0 = time.monotonic()
                xs = [d.enqueue(good, {"name": f"G{i}"}) for i in range(50)]
                assert wait_until(lambda: all(x.done for x in xs), 5), [x.status for x in xs]
                took = time.monotonic() - t0
                assert all(x.status == "Delivered" for x in xs)
                assert took < 5, took
                stats = d.stats()
                # the hanging ones kept their slots (nothing of theirs completed).  They share
                # 64 - 64 // 8 = 56 slots; the 8 reserved slots go only to a receiver with
                # nothing in flight, so a hanging receiver whose first delivery is enqueued
                # after the others filled the 56 (the worker starts sending while this loop
                # still enqueues) takes one of them, as designed: at most one each
                share = 64 - 64 // 8
                assert share <= held <= share + len(servers), (stats, held)
                assert held <= stats["in_flight"] <= held + 1, (stats, held)
                assert stats["delivered"] == 50 and stats["failed_attempts"] == 0, stats
            finally:
                d.close(0)
    finally:
        for s in servers:
            s.stop()


@pytest.mark.parametrize("conns, per_host, expect", [(16, 16, 16), (20, 18, 18), (20, 16, 16), (64, 64, 64),
                                                     (100, 96, 96), (40, 40, 40)])
def test_a_lone_receiver_still_gets_max_per_host(conns, per_host, expect):
    """The reserve, min(max_connections // 8, max_connections - max_per_host), never
    takes from a receiver alone."""
    hang = lambda conn, req: None   # noqa: E731
    with RawServer(answer=hang) as srv:
        d = fwc.Dispatcher(max_connections=conns, max_per_host=per_host)
        try:
            h = fwc.Webhook(srv.url(), allow_private_networks=True, timeout=20, max_retries=0)
            for i in range(expect + 4):
                d.enqueue(h, {"name": f"H{i}"})
            assert wait_until(lambda: d.stats()["in_flight"] >= expect, 5)
            time.sleep(0.2)
            assert d.stats()["in_flight"] == expect
        finally:
            d.close(0)


def test_reserve_left_by_two_receivers():
    """Two hanging receivers allowed 40 transfers each of 64 (R = 8): together they stop
    at 64 - 8 = 56, and a third receiver's delivery starts at once."""
    hang = lambda conn, req: None   # noqa: E731
    with RawServer(answer=hang) as a, RawServer(answer=hang) as b, ScriptedReceiver() as healthy:
        d = fwc.Dispatcher(max_connections=64, max_per_host=40)
        try:
            for srv in (a, b):
                h = fwc.Webhook(srv.url(), allow_private_networks=True, timeout=20, max_retries=0)
                for i in range(40):
                    d.enqueue(h, {"name": f"H{i}"})
            assert wait_until(lambda: d.stats()["in_flight"] >= 56, 5)
            time.sleep(0.2)
            assert d.stats()["in_flight"] == 56
            x = d.enqueue(fwc.Webhook(healthy.url("/ok"), allow_private_networks=True, timeout=20), {"name": "G"})
            assert wait_until(lambda: x.done, 3) and x.status == "Delivered"
        finally:
            d.close(0)


# ---------- 3. interpreter exit ----------

EXIT_SCRIPT = """
import atexit, json, logging, sys, time
records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())

xs = []

def report():
    # registered before frappe_webhook_c is imported: runs after its exit handler
    cats = {"delivered": [], "interrupted": [], "other": []}
    for i, x in enumerate(xs):
        kind = "delivered" if x.status == "Delivered" else "interrupted" if getattr(x, "interrupted", False) else "other"
        cats[kind].append(f"D{i}")
    print(json.dumps({"cats": cats, "records": records}), flush=True)

atexit.register(report)
import frappe_webhook_c as fwc
import frappe_webhook_c._delivery as dl
logging.getLogger("frappe_webhook_c").addHandler(Keep())
dl.EXIT_TIMEOUT = float(sys.argv[2])
h = fwc.Webhook(sys.argv[1], allow_private_networks=True, timeout=10, name="orders",
                retry_schedule=[60], max_retries=3, webhook_data=[("name", "id")])
xs.extend(fwc.enqueue(h, {"name": f"D{i}"}) for i in range(int(sys.argv[3])))
"""


def _exit_run(url, exit_timeout, n):
    r = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, url, str(exit_timeout), str(n)], capture_output=True,
                       text=True, timeout=60, env=child_env())
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_exit_report_says_exactly_what_the_receiver_received():
    """Deliveries cut off at exit, to a receiver that answers after 20 ms (so that some are
    always in flight): every delivery the receiver got is Delivered, or reported as
    interrupted in flight (it may have been received); none reported as never attempted
    or waiting for a retry was received.  The warning counts each kind."""
    n = 3000
    with ScriptedReceiver() as rx:
        rx.script("/hook", {"delay": 0.02})
        out = _exit_run(rx.url("/hook"), 0.5, n)
        time.sleep(0.2)
        received = {json.loads(h.body)["id"] for h in rx.hits_for("/hook")}
        nhits = len(rx.hits_for("/hook"))
    cats = {k: set(v) for k, v in out["cats"].items()}
    assert sum(map(len, cats.values())) == n
    assert cats["other"], "the exit did not cut the work short"
    assert nhits == len(received)       # no delivery was sent twice
    assert cats["delivered"] <= received
    assert not received & cats["other"], f"{len(received & cats['other'])} received deliveries reported as not attempted"
    assert received <= cats["delivered"] | cats["interrupted"]
    assert 0 < len(cats["interrupted"]) <= 16       # max_per_host were in flight
    [warning] = [m for m in out["records"] if "not delivered" in m]
    assert f"{n - len(cats['delivered'])} deliveries not delivered" in warning
    assert f"{len(cats['interrupted'])} in flight when stopped (the receiver may have received them)" in warning
    assert f"{len(cats['other'])} never attempted" in warning


def test_exit_warning_is_short_when_a_receiver_is_down():
    with socket_closed_port() as port:
        out = _exit_run(f"http://127.0.0.1:{port}/hook", 0.5, 5000)
    [warning] = [m for m in out["records"] if "not delivered" in m]
    assert len(warning) < 1000, len(warning)
    assert "5000 deliveries not delivered" in warning
    assert "'orders' 5000" in warning
    assert "and 4995 more" in warning and "Dispatcher.close() returns them all" in warning
    assert "waiting for a retry" in warning


class socket_closed_port:
    """A loopback port nothing listens on (connection refused)."""

    def __enter__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc):
        pass


def test_close_marks_interrupted_deliveries():
    hang = lambda conn, req: None   # noqa: E731
    with RawServer(answer=hang) as srv:
        d = fwc.Dispatcher()
        h = fwc.Webhook(srv.url(), allow_private_networks=True, timeout=20, max_retries=0)
        xs = [d.enqueue(h, {"name": f"D{i}"}) for i in range(20)]
        assert wait_until(lambda: len(srv.requests) >= 16, 5)
        left = d.close(0)
    assert len(left) == 20
    # max_per_host were in flight when close() aborted them; the rest never started
    assert sorted(x.interrupted for x in xs) == [False] * 4 + [True] * 16
    assert all(x.status == "Queued" and x.attempt == 0 for x in xs)
