#!/usr/bin/env python3
"""Background delivery throughput against a fast local receiver: Dispatcher.enqueue
(200 000 signed field-map deliveries) versus wrk -c16, pycurl CurlMulti with 16 handles
posting pre-built bodies from Python, libcurl's multi interface driven from C with nothing
else to do (bench/libcurl_multi.c: the ceiling of any libcurl-based client), and a serial
requests.Session, all against the same nginx in the same run; plus the microseconds each
enqueue() call costs its caller, and CPU microseconds per delivery.

The script starts nginx (Debian's nginx-light) on 127.0.0.1 as the current user with a
config of its own in a temp dir (every location answers 200), runs the clients in
interleaved rounds (so that they meet the same background load; each client's best round
is kept), prints a table with ratios, and stops nginx.

    python bench/delivery.py [--n 200000] [--rounds 2] [--seconds 4] [--workers 1]

enqueue snapshots the document in the caller; the worker thread builds the field-map body,
signs it (HMAC-SHA256) and sends it (plain http: through its native HTTP/1.1 client, the
default native_http=True).  The other clients send the same pre-built body and
headers, so they do less work.  Targets (issue 6): enqueue >= 50% of wrk's rate, >= 2x
pycurl multi, < 5 us per enqueue call.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import frappe_webhook_c as fwc  # noqa: E402
from local_nginx import DOC, FIELDS, Nginx, bench_wrk  # noqa: E402

CONNECTIONS = 16



# pycurl runs in a subprocess, with a build of its own against the system libcurl.
PYCURL_MULTI = textwrap.dedent("""
    import sys, time, json, pycurl
    url, body, headers, seconds, nconn = sys.argv[1], sys.argv[2].encode(), json.loads(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    m = pycurl.CurlMulti()
    free = []
    for _ in range(nconn):
        c = pycurl.Curl()
        c.setopt(pycurl.URL, url)
        c.setopt(pycurl.POSTFIELDS, body)
        c.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in headers] + ["Expect:"])
        c.setopt(pycurl.WRITEFUNCTION, lambda b: None)
        c.setopt(pycurl.NOSIGNAL, 1)
        free.append(c)
    def run(limit):
        done, t0 = 0, time.perf_counter()
        end = t0 + limit
        running = 0
        while True:
            now = time.perf_counter()
            while free and now < end:
                m.add_handle(free.pop())
                running += 1
            if running == 0:
                return done / (now - t0)
            while m.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            while True:
                nq, ok, err = m.info_read()
                for c in ok:
                    m.remove_handle(c); free.append(c); running -= 1; done += 1
                for c, _, _ in err:
                    m.remove_handle(c); free.append(c); running -= 1
                if nq == 0:
                    break
            if running:
                m.select(0.5)
    run(0.5)
    print(run(seconds), pycurl.version)
""")


PYCURL_DIR = os.path.join(os.path.expanduser("~"), ".cache", "frappe_webhook_c", "bench-pycurl")


def pycurl_path():
    """A pycurl built from source against the system libcurl (the one this extension
    links), in a cache dir: the comparison then measures the two clients, not two
    libcurl versions (pycurl's wheels bundle their own)."""
    probe = [sys.executable, "-c", "import pycurl; print(pycurl.version)"]
    env = dict(os.environ, PYTHONPATH=PYCURL_DIR)
    out = subprocess.run(probe, capture_output=True, text=True, env=env)
    system = subprocess.run(["curl-config", "--version"], capture_output=True, text=True).stdout.split()[-1]
    if out.returncode or f"libcurl/{system}" not in out.stdout:
        print("building pycurl against the system libcurl ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-binary", "pycurl", "--no-deps",
                        "--upgrade", "--target", PYCURL_DIR, "pycurl"], check=True)
    return env


def bench_pycurl(url, body, headers, seconds):
    import json
    out = subprocess.run([sys.executable, "-c", PYCURL_MULTI, url, body.decode(), json.dumps(headers), str(seconds),
                          str(CONNECTIONS)], capture_output=True, text=True, env=pycurl_path())
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        return None, ""
    rate, version = out.stdout.split(" ", 1)
    return float(rate), version.strip()


def bench_requests(url, body, headers, seconds):
    try:
        import requests
    except ImportError:
        print("installing requests ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "requests"], check=True)
        import requests
    s = requests.Session()
    hdrs = dict(headers)
    for _ in range(50):
        s.post(url, data=body, headers=hdrs)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(50):
            s.post(url, data=body, headers=hdrs)
        n += 50
    return n / (time.perf_counter() - t0)


def build_libcurl_multi(tmpdir):
    """bench/libcurl_multi.c compiled against the system libcurl, or None (no compiler)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    exe = os.path.join(tmpdir, "libcurl_multi")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libcurl_multi.c")
    out = subprocess.run([cc, "-O2", "-o", exe, src, "-lcurl"], capture_output=True, text=True)
    if out.returncode:
        print("libcurl_multi.c did not compile:", out.stderr[-500:], file=sys.stderr)
        return None
    return exe


def bench_libcurl(exe, url, body, headers, seconds):
    """(transfers/s, CPU us per transfer) of libcurl alone, or (None, None)."""
    if not exe:
        return None, None
    out = subprocess.run([exe, url, body.decode(), str(seconds)] + [f"{k}: {v}" for k, v in headers],
                         capture_output=True, text=True)
    if out.returncode:
        return None, None
    rate, cpu = out.stdout.split()
    return float(rate), float(cpu)


def bench_enqueue(hook, n, workers):
    """Enqueues n deliveries as fast as the caller can; returns (delivered/s from the
    first enqueue to the last delivery, wall us per enqueue call, CPU us per enqueue call,
    CPU us per delivery over all the process's threads, stats)."""
    docs = [dict(DOC, name=f"SAL-QTN-2026-{i:06d}") for i in range(n)]
    d = fwc.Dispatcher(workers=workers, max_connections=CONNECTIONS, max_per_host=CONNECTIONS, max_queue=n + 1)
    enqueue = d.enqueue
    warm = [enqueue(hook, DOC) for _ in range(1000)]
    assert d.flush(60) == [] and all(x.status == "Delivered" for x in warm), warm[0].error
    del warm
    t0 = time.perf_counter()
    p0 = time.process_time()
    c0 = time.thread_time()
    for doc in docs:
        enqueue(hook, doc)
    c1 = time.thread_time()
    t1 = time.perf_counter()
    left = d.flush(600)
    t2 = time.perf_counter()
    p1 = time.process_time()
    stats = d.stats()
    d.close()
    assert not left and stats["delivered"] == n + 1000, stats
    return n / (t2 - t0), (t1 - t0) / n * 1e6, (c1 - c0) / n * 1e6, (p1 - p0) / n * 1e6, stats


def bench_enqueue_call(hook_kwargs, n=50_000, rounds=3):
    """The caller's cost of enqueue() alone: a receiver that never answers (a listening
    socket nobody accepts on) holds the one transfer in flight, so the worker stays idle
    and everything else waits in the queue; the first round warms the allocator up (fresh
    pages), the best later round is reported.  Returns (wall us, CPU us) per call."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    hook = fwc.Webhook(f"http://127.0.0.1:{srv.getsockname()[1]}/hook", timeout=600, **hook_kwargs)
    docs = [dict(DOC, name=f"SAL-QTN-2026-{i:06d}") for i in range(n)]
    best = (float("inf"), float("inf"))
    for r in range(rounds):
        d = fwc.Dispatcher(max_connections=1, max_per_host=1, max_queue=n + 1)
        enqueue = d.enqueue
        t0, c0 = time.perf_counter(), time.thread_time()
        for doc in docs:
            enqueue(hook, doc)
        c1, t1 = time.thread_time(), time.perf_counter()
        d.close(timeout=0)
        if r:
            best = min(best, ((t1 - t0) / n * 1e6, (c1 - c0) / n * 1e6))
    srv.close()
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="deliveries per enqueue round (default 200000)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; each client's best is kept (default 2)")
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds per round for wrk, pycurl, requests")
    ap.add_argument("--workers", type=int, default=1, help="Dispatcher worker threads (default 1)")
    args = ap.parse_args()

    nginx = Nginx()
    tmp = tempfile.mkdtemp(prefix="fwc-bench-")
    try:
        url = f"http://127.0.0.1:{nginx.port}/hooks/quotation"
        # the receiver is on loopback: SSRF protection must be lifted for it
        hook = fwc.Webhook(url, webhook_data=FIELDS, webhook_secret="bench-secret", allow_private_networks=True)
        req = hook.request(DOC)
        body = req.body
        headers = list(req.headers) + [("Content-Type", "application/json"),
                                       ("User-Agent", f"frappe-webhook-c/{fwc.__version__}")]
        best = {"enqueue": 0.0, "wrk": 0.0, "pycurl": 0.0, "libcurl": 0.0, "requests": 0.0}
        enq_us = enq_cpu = disp_cpu = curl_cpu = float("inf")
        libcurl_multi = build_libcurl_multi(tmp)
        pycurl_version = ""
        stats = None
        call_us, call_cpu = bench_enqueue_call(dict(webhook_data=FIELDS, webhook_secret="bench-secret",
                                                    allow_private_networks=True))
        for r in range(args.rounds):
            rate, us, cpu, per, st = bench_enqueue(hook, args.n, args.workers)
            if rate > best["enqueue"]:
                best["enqueue"], stats = rate, st
            enq_us, enq_cpu, disp_cpu = min(enq_us, us), min(enq_cpu, cpu), min(disp_cpu, per)
            w = bench_wrk(url, body, headers, args.seconds, tmp, CONNECTIONS)
            if w:
                best["wrk"] = max(best["wrk"], w)
            p, pycurl_version = bench_pycurl(url, body, headers, args.seconds)
            if p:
                best["pycurl"] = max(best["pycurl"], p)
            c, c_cpu = bench_libcurl(libcurl_multi, url, body, headers, args.seconds)
            if c:
                best["libcurl"] = max(best["libcurl"], c)
                curl_cpu = min(curl_cpu, c_cpu)
            best["requests"] = max(best["requests"], bench_requests(url, body, headers, min(args.seconds, 2.0)))
            print(f"round {r + 1}/{args.rounds}: enqueue {rate:,.0f}/s ({us:.2f} us/call), wrk {w or 0:,.0f}/s, "
                  f"pycurl multi {p or 0:,.0f}/s, libcurl in C {c or 0:,.0f}/s", file=sys.stderr)
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    curl = subprocess.run(["curl-config", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"\nBackground delivery to nginx on 127.0.0.1, {len(body)}-byte signed field-map body, "
          f"{CONNECTIONS} connections; {args.n:,} deliveries per enqueue round, best of {args.rounds} rounds")
    print(f"Dispatcher(workers={args.workers}) on {curl}; {(pycurl_version or 'pycurl n/a').split(' OpenSSL')[0]}; "
          f"{os.cpu_count()} CPUs\n")
    rows = [
        ("Dispatcher.enqueue (build + sign + send)", best["enqueue"]),
        (f"wrk -c{CONNECTIONS} -t1 (pre-built POST)", best["wrk"]),
        (f"pycurl CurlMulti, {CONNECTIONS} handles (pre-built)", best["pycurl"]),
        (f"libcurl multi from C, {CONNECTIONS} handles (pre-built, nothing else)", best["libcurl"]),
        ("requests.Session, serial (pre-built)", best["requests"]),
    ]
    print(f"| client | delivered/s | enqueue vs it |")
    print(f"|---|---:|---:|")
    for name, rate in rows:
        ratio = f"{best['enqueue'] / rate:.2f}x" if rate else "n/a"
        print(f"| {name} | {rate:,.0f} | {ratio} |")
    print(f"\nenqueue() as the caller sees it (snapshot, job, Delivery, queue push):")
    print(f"  alone (queue filling, worker idle, warm allocator): {call_us:.2f} us per call wall, {call_cpu:.2f} us CPU")
    print(f"  during the {args.n:,}-delivery run (worker and nginx busy on the same CPUs, queue growing): "
          f"{enq_us:.2f} us wall, {enq_cpu:.2f} us CPU")
    print(f"CPU per delivery, all the Dispatcher's threads (snapshot, build, sign, transfer): {disp_cpu:.1f} us; "
          f"libcurl alone from C: {curl_cpu:.1f} us per transfer")
    print(f"connections opened {stats['connections_opened']}, reused {stats['connections_reused']:,}")
    ok_wrk = best["wrk"] and best["enqueue"] >= 0.5 * best["wrk"]
    ok_py = best["pycurl"] and best["enqueue"] >= 2 * best["pycurl"]
    print(f"\ntargets: >= 50% of wrk: {'yes' if ok_wrk else 'NO'} ({best['enqueue'] / best['wrk'] * 100 if best['wrk'] else 0:.0f}%), "
          f">= 2x pycurl multi: {'yes' if ok_py else 'NO'} ({best['enqueue'] / best['pycurl'] if best['pycurl'] else 0:.2f}x), "
          f"< 5 us per enqueue call: {'yes' if call_us < 5 else 'NO'} ({call_us:.2f} us alone, {enq_us:.2f} us during the run)")


if __name__ == "__main__":
    main()
