"""The Dispatcher's native HTTP/1.1 client (src/h1*.c) where it differs in mechanism from
libcurl: routes remembered per (webhook, URL), host names looked up off the worker
thread, connections checked against the SSRF rules on every request, the connect-phase
deadline, and closing with requests in flight.  Each test compares with libcurl
(native_http=False) where both must give the same answer.

Byte-for-byte request and response equivalence is in test_native_http.py; the Dispatcher's
behaviour over both transports is in test_dispatcher.py."""
import gc
import os
import socket
import threading
import time

import pytest

import frappe_webhook_c as fwc
from support.dispatch_receiver import ScriptedReceiver, hook, wait_until



def test_dynamic_urls_alternating_with_dropped_deliveries(rx):
    """A route is remembered for the last (webhook, URL); the request target it names must
    be read from each request's own URL.  Deliveries are dropped at once, so the request
    that made the route is freed (and its memory reused) while later requests with the
    same URL still use the route: runs of 40 equal URLs, then a change (under ASan a
    dangling pointer fails here)."""
    h = hook(rx.url("/{{ doc.path }}"), is_dynamic_url=True, webhook_data=[("name", "id"), ("path", "path")])
    paths = ["a", "bb/ccc?x=1", "a", "dd", "bb/ccc?x=1"]
    d = fwc.Dispatcher(max_queue=10_000)
    n = 1500
    for i in range(n):
        d.enqueue(h, {"name": f"N-{i}", "path": paths[i // 40 % len(paths)]})
        if i % 100 == 0:
            gc.collect()
            junk = [bytes(64) * 4 for _ in range(200)]     # reuse freed memory
            del junk
    assert d.flush(timeout=60) == []
    s = d.stats()
    d.close()
    assert s["delivered"] == n and s["native_attempts"] == n
    import json
    seen = {json.loads(x.body)["id"]: x.path for x in rx.hits}
    assert len(seen) == n
    for i in range(n):
        assert seen[f"N-{i}"] == "/" + paths[i // 40 % len(paths)].split("?")[0]


def hosts_file_name():
    """A name /etc/hosts maps to 127.0.0.1 (other than localhost, which both transports
    answer themselves): looked up through the C library's files source, no DNS query."""
    try:
        with open("/etc/hosts") as f:
            for line in f:
                parts = line.split("#")[0].split()
                if len(parts) > 1 and parts[0] == "127.0.0.1":
                    for name in parts[1:]:
                        if name != "localhost" and not name.endswith(".localhost") and "." not in name[-1:]:
                            return name
    except OSError:
        pass
    return None


@pytest.mark.skipif(not hosts_file_name(), reason="no name for 127.0.0.1 in /etc/hosts")
@pytest.mark.parametrize("native", [True, False], ids=["native", "libcurl"])
def test_a_name_looked_up_on_the_resolver_thread(rx, native):
    """A host name goes through getaddrinfo on a lookup thread (the worker never blocks
    on it), answered from /etc/hosts here; then the connections are kept alive."""
    name = hosts_file_name()
    h = hook(rx.url("/looked-up").replace("127.0.0.1", name))
    with fwc.Dispatcher(native_http=native) as d:
        xs = [d.enqueue(h, {"name": f"N-{i}"}) for i in range(40)]
        assert d.flush(timeout=30) == []
        s = d.stats()
    assert all(x.status == "Delivered" for x in xs), {x.error for x in xs}
    assert s["native_attempts"] == (40 if native else 0)
    assert s["connections_opened"] <= 16 and len(rx.hits_for("/looked-up")) == 40


def test_host_names_are_looked_up_and_kept_alive(rx):
    """localhost is answered without a lookup, as libcurl does: 127.0.0.1, then ::1."""
    url = rx.url("/named").replace("127.0.0.1", "localhost")
    h = hook(url)
    with fwc.Dispatcher() as d:
        xs = [d.enqueue(h, {"name": f"L-{i}"}) for i in range(50)]
        assert d.flush(timeout=30) == []
        s = d.stats()
    assert all(x.status == "Delivered" for x in xs), {x.error for x in xs}
    assert s["native_attempts"] == 50 and s["connections_opened"] <= 16
    assert len(rx.hits_for("/named")) == 50


@pytest.mark.parametrize("native", [True, False], ids=["native", "libcurl"])
def test_a_name_that_cannot_resolve(native):
    """A 64-character label makes the lookup fail inside the C library, so no query leaves
    the machine; both transports report it alike and never retry (DNS errors retry as
    failures do; max_retries=0 here)."""
    host = "a" * 64 + ".test"
    h = hook(f"http://{host}:9/x", max_retries=0)
    with fwc.Dispatcher(native_http=native) as d:
        x = d.enqueue(h, {"name": "R-1"})
        assert d.flush(timeout=30) == []
        s = d.stats()
    assert x.status == "Exhausted"
    assert x.error == f"could not resolve host: Could not resolve host: {host}"
    assert s["native_attempts"] == (1 if native else 0)


def test_a_kept_alive_connection_is_checked_again_for_each_webhook(rx):
    """Webhook A may reach loopback and leaves a kept-alive connection; webhook B to the
    same host may not: B is refused before a byte is sent on A's connection."""
    a = hook(rx.url("/a"))
    b = hook(rx.url("/b"), allow_private_networks=False, max_retries=0)
    with fwc.Dispatcher(max_connections=1, max_per_host=1) as d:
        xa = d.enqueue(a, {"name": "A-1"})
        assert d.flush(timeout=10) == []
        xb = d.enqueue(b, {"name": "B-1"})
        xa2 = d.enqueue(a, {"name": "A-2"})
        assert d.flush(timeout=10) == []
        s = d.stats()
    assert xa.status == xa2.status == "Delivered"
    assert xb.status == "Exhausted"
    assert xb.error.startswith("refused to connect to 127.0.0.1: loopback address")
    assert rx.hits_for("/b") == []
    assert s["connections_opened"] == 1 and rx.connections == 1


@pytest.mark.parametrize("native", [True, False], ids=["native", "libcurl"])
def test_timeout_while_connecting(native):
    """A listening socket whose backlog is full drops SYNs: the connect never completes.
    The webhook's timeout ends the attempt with libcurl's text."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):      # fill the accept queue (never accepted)
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        time.sleep(0.2)
        h = hook(f"http://127.0.0.1:{port}/slow", timeout=0.5, max_retries=0)
        with fwc.Dispatcher(native_http=native) as d:
            t0 = time.monotonic()
            x = d.enqueue(h, {"name": "T-1"})
            assert d.flush(timeout=30) == []
            took = time.monotonic() - t0
    finally:
        for c in fillers:
            c.close()
        srv.close()
    assert x.status == "Exhausted" and x.error == "timed out after 0.5 s"
    assert 0.45 <= took < 10


def test_close_with_requests_in_flight_returns_them(rx):
    """close() stops requests that are waiting for a slow receiver: they come back
    undelivered, and their connections are closed."""
    rx.script("/slow", {"delay": 3})
    h = hook(rx.url("/slow"), timeout=30)
    d = fwc.Dispatcher(max_per_host=4)
    xs = [d.enqueue(h, {"name": f"S-{i}"}) for i in range(10)]
    assert rx.wait_for("/slow", 4, timeout=10)
    t0 = time.monotonic()
    left = d.close(timeout=0.2)
    assert time.monotonic() - t0 < 2.5
    assert sorted(x.id for x in left) == sorted(x.id for x in xs)
    assert all(x.status == "Queued" for x in xs)


def client_connections_to(ports):
    """Established TCP connections from this machine to any of ports (the client ends)."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "01" and int(parts[2].rsplit(":", 1)[1], 16) in ports:
                        n += 1
        except OSError:
            pass
    return n


def test_many_hosts_beyond_the_connection_limit():
    """More receivers than max_connections: a new connection closes the least recently
    used idle one, so at most max_connections are open, and every delivery arrives."""
    receivers = [ScriptedReceiver().__enter__() for _ in range(6)]
    ports = {r.port for r in receivers}
    most, stop = [0], threading.Event()

    def watch():
        while not stop.is_set():
            # /proc/net/tcp is not read atomically: a connection closed and another
            # opened during one scan can both show.  Connections change every ~25 ms
            # here; the smallest of three scans in a row is the real count of a moment
            most[0] = max(most[0], min(client_connections_to(ports) for _ in range(3)))
            time.sleep(0.002)

    try:
        for r in receivers:
            r.script("/h", {"delay": 0.05})
        hooks = [hook(r.url("/h")) for r in receivers]
        watcher = threading.Thread(target=watch)
        watcher.start()
        with fwc.Dispatcher(max_connections=2, max_per_host=1) as d:
            xs = [d.enqueue(hooks[i % 6], {"name": f"H-{i}"}) for i in range(24)]
            assert d.flush(timeout=30) == []
            s = d.stats()
        stop.set()
        watcher.join()
        assert 1 <= most[0] <= 2, most
        assert all(x.status == "Delivered" for x in xs)
        assert s["native_attempts"] == 24
        assert all(len(r.hits_for("/h")) == 4 for r in receivers)
    finally:
        for r in receivers:
            r.__exit__(None, None, None)


def test_requests_from_many_threads_while_connections_churn(rx):
    """Responses with Connection: close make every request open a connection; enqueued
    from several Python threads at once, nothing is lost."""
    rx.script("/churn", {"status": 200, "headers": {"Connection": "close"}})
    h = hook(rx.url("/churn"))
    d = fwc.Dispatcher(workers=2, max_per_host=8, max_queue=10_000)
    out = []

    def run(k):
        out.extend(d.enqueue(h, {"name": f"C-{k}-{i}"}) for i in range(150))

    ts = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert d.flush(timeout=60) == []
    s = d.stats()
    d.close()
    assert len(out) == 600 and all(x.status == "Delivered" for x in out)
    assert s["native_attempts"] == 600 and s["connections_opened"] == 600


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_no_descriptor_is_left_behind():
    """Deliveries that end every way a connection can (kept alive, closed by the server,
    reset, refused, timed out, malformed, a name looked up or not found), then close():
    the process has the descriptors it had before (connections, epoll set, eventfd, the
    lookup threads' duplicates)."""
    before = open_fds()
    with ScriptedReceiver() as rx:
        rx.script("/ok", 200)
        rx.script("/close", {"close": True})
        rx.script("/reset", {"reset": True})
        rx.script("/slow", {"delay": 1})
        rx.script("/gone", {"status": 200, "headers": {"Connection": "close"}})
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{dead.getsockname()[1]}/x"
        dead.close()
        urls = [rx.url("/ok"), rx.url("/close"), rx.url("/reset"), rx.url("/gone"), refused,
                rx.url("/ok").replace("127.0.0.1", "localhost"), f"http://{'b' * 64}.test:9/x"]
        name = hosts_file_name()
        if name:
            urls.append(rx.url("/ok").replace("127.0.0.1", name))
        hooks = [hook(u, max_retries=0) for u in urls] + [hook(rx.url("/slow"), max_retries=0, timeout=0.2)]
        with fwc.Dispatcher(workers=2, max_queue=10_000) as d:
            xs = [d.enqueue(hooks[i % len(hooks)], {"name": f"F-{i}"}) for i in range(400)]
            assert d.flush(timeout=60) == []
            s = d.stats()
        assert s["native_attempts"] == 400
        assert {x.status for x in xs} == {"Delivered", "Exhausted"}
    time.sleep(0.2)     # lookup threads close their duplicate of the eventfd as they end
    assert wait_until(lambda: open_fds() <= before, 5), (before, open_fds())
