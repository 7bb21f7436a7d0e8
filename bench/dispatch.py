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
import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import frappe_webhook_c as fwc  # noqa: E402

DOC = {
    "doctype": "Quotation",
    "name": "SAL-QTN-2026-00001",
    "customer_name": "ACME Café",
    "transaction_date": "2026-11-27",
    "grand_total": 2380.0,
    "currency": "EUR",
    "status": "Open",
    "items": [
        {"item_code": "WIDGET", "qty": 10.0, "rate": 200.0, "amount": 2000.0},
        {"item_code": "GADGET", "qty": 1.0, "rate": 0.1, "amount": 0.1},
    ],
}
FIELDS = [("name", "id"), ("customer_name", "customer"), ("grand_total", "total"), ("items", "lineItems")]

NGINX_CONF = """
worker_processes 1;
daemon off;
{user}
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_buffer_size 64k;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    def __init__(self):
        exe = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if not exe:
            sys.exit("nginx not found: apt-get install -y nginx-light")
        self.dir = tempfile.mkdtemp(prefix="fwc-bench-nginx-")
        self.port = free_port()
        user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=self.dir, port=self.port, user=user))
        self.proc = subprocess.Popen([exe, "-p", self.dir, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    sys.exit("nginx failed to start: " + self.proc.stderr.read().decode())
                time.sleep(0.05)
        sys.exit("nginx did not start listening")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


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


def bench_wrk(url, body, headers, seconds, tmpdir):
    if not shutil.which("wrk"):
        return None
    lua = os.path.join(tmpdir, "post.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write("wrk.body = %s\n" % lua_string(body.decode()))
        for k, v in headers:
            f.write("wrk.headers[%s] = %s\n" % (lua_string(k), lua_string(v)))
    out = subprocess.run(["wrk", "-c1", "-t1", f"-d{max(1, int(seconds))}s", "-s", lua, url],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def curl_version():
    out = subprocess.run(["curl-config", "--version"], capture_output=True, text=True).stdout.split()
    return out[-1] if out else "?"


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


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
