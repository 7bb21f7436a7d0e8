#!/usr/bin/env python3
"""Serial delivery rate against a fast local receiver: frappe_webhook_c.dispatch versus
requests.Session().post, pycurl with a reused handle, and wrk -c1 -t1.

The script starts nginx (Debian's nginx-light) as the current user on 127.0.0.1 with a
config of its own in a temp dir (every location answers 200), runs each client serially
for a fixed time, prints a table with ratios, and stops nginx.

    python bench/dispatch.py [--seconds 3]

dispatch builds the field-map body from a Quotation document, signs it (HMAC-SHA256) and
sends it; the other clients POST the same pre-built body and headers, so they do less work.
Targets (issue 3): dispatch >= 4x requests.Session and >= 0.9x pycurl.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import frappe_webhook_c as fwc  # noqa: E402
from local_nginx import DOC, FIELDS, Nginx, bench_wrk  # noqa: E402




def rate(fn, seconds):
    """Calls fn() serially for about `seconds`; returns calls per second."""
    n, t0 = 0, time.perf_counter()
    end = t0 + seconds
    while True:
        for _ in range(100):
            fn()
        n += 100
        now = time.perf_counter()
        if now >= end:
            return n / (now - t0)


def best_rates(clients, seconds, rounds):
    """Runs the clients in interleaved rounds (so that they meet the same background load)
    and keeps each one's best round: the least disturbed measurement of its own cost."""
    for fn in clients.values():
        for _ in range(300):      # warm up: connection, caches
            fn()
    best = dict.fromkeys(clients, 0.0)
    for _ in range(rounds):
        for name, fn in clients.items():
            best[name] = max(best[name], rate(fn, seconds / rounds))
    return best


def ensure(module, *pip_args):
    try:
        return __import__(module)
    except ImportError:
        print(f"installing {module} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *pip_args], check=True)
        return __import__(module)


def curl_version():
    out = subprocess.run(["curl-config", "--version"], capture_output=True, text=True).stdout.split()
    return out[-1] if out else "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=4.0, help="time per client (default 4)")
    ap.add_argument("--rounds", type=int, default=8, help="interleaved rounds; the best is kept (default 8)")
    args = ap.parse_args()
    requests = ensure("requests", "requests")
    # built from source, so that pycurl and dispatch use the same (system) libcurl and the
    # comparison measures this library's overhead, not two libcurl versions
    pycurl = ensure("pycurl", "--no-binary", "pycurl", "pycurl")

    nginx = Nginx()
    try:
        url = f"http://127.0.0.1:{nginx.port}/hooks/quotation"
        # the receiver is on loopback: the benchmark must lift SSRF protection for it
        hook = fwc.Webhook(url, webhook_data=FIELDS, webhook_secret="bench-secret", allow_private_networks=True)
        req = hook.request(DOC)
        body = req.body
        headers = list(req.headers) + [("Content-Type", "application/json"),
                                       ("User-Agent", f"frappe-webhook-c/{fwc.__version__}")]
        check = fwc.dispatch(hook, DOC)
        assert check.ok, check.error

        def run_dispatch():
            fwc.dispatch(hook, DOC)

        session = requests.Session()
        hdrs = dict(headers)
        assert session.post(url, data=body, headers=hdrs).status_code == 200

        def run_requests():
            session.post(url, data=body, headers=hdrs)

        c = pycurl.Curl()
        c.setopt(pycurl.URL, url)
        c.setopt(pycurl.POST, 1)
        c.setopt(pycurl.POSTFIELDS, body)
        c.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in headers] + ["Expect:"])
        c.setopt(pycurl.WRITEFUNCTION, lambda data: None)
        c.setopt(pycurl.PROXY, "")

        def run_pycurl():
            c.perform()

        names = ["frappe_webhook_c.dispatch (build + sign + send)", "requests.Session().post (pre-built body)",
                 "pycurl, reused handle (raw POST)"]
        best = best_rates(dict(zip(names, [run_dispatch, run_requests, run_pycurl])), args.seconds, args.rounds)
        results = list(best.items())
        c.close()

        with tempfile.TemporaryDirectory() as tmp:
            w = bench_wrk(url, body, headers, args.seconds, tmp)
        if w:
            results.append(("wrk -c1 -t1 (C load generator)", w))
    finally:
        nginx.stop()

    by = dict(results)
    d = results[0][1]
    print(f"\nserial POSTs to nginx on 127.0.0.1, {len(body)}-byte body, {args.seconds:g} s per client "
          f"in {args.rounds} interleaved rounds (best round kept)")
    system, theirs = curl_version(), pycurl.version.split()[1].split("/")[-1]
    print(f"libcurl: frappe_webhook_c uses the system's ({system}); pycurl uses {theirs}")
    if theirs != system:
        print("  (a pycurl wheel brings its own libcurl; `pip install --no-binary pycurl pycurl` links the system's)")
    print()
    print(f"{'client':<50} {'req/s':>10} {'dispatch is':>12}")
    print("-" * 74)
    for name, r in results:
        ratio = "" if r is d else f"{d / r:.2f}x"
        print(f"{name:<50} {r:>10,.0f} {ratio:>12}")
    req_ratio = d / by["requests.Session().post (pre-built body)"]
    curl_ratio = d / by["pycurl, reused handle (raw POST)"]
    print()
    print(f"target dispatch >= 4x requests.Session: {req_ratio:.2f}x  {'met' if req_ratio >= 4 else 'MISSED'}")
    print(f"target dispatch >= 0.9x pycurl:         {curl_ratio:.2f}x  {'met' if curl_ratio >= 0.9 else 'MISSED'}")


if __name__ == "__main__":
    main()
