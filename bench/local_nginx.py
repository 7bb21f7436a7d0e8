"""What the HTTP benchmarks share: the document they send, a local nginx that answers
every POST with 200 (Debian's nginx-light, started as the current user with a config of
its own in a temp dir), and wrk against it.  Only 127.0.0.1 is used."""
import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

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
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_buffer_size 64k;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        self.proc = subprocess.Popen([exe, "-p", self.dir, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def bench_wrk(url, body, headers, seconds, tmpdir, connections=1):
    """wrk's requests/s POSTing body with headers over `connections`, or None without wrk."""
    if not shutil.which("wrk"):
        return None
    lua = os.path.join(tmpdir, "post.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write("wrk.body = %s\n" % lua_string(body.decode()))
        for k, v in headers:
            f.write("wrk.headers[%s] = %s\n" % (lua_string(k), lua_string(v)))
    out = subprocess.run(["wrk", f"-c{connections}", "-t1", f"-d{max(1, round(seconds))}s", "-s", lua, url],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None
