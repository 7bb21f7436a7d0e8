"""HTTP/2: the Dispatcher negotiates h2 over TLS and multiplexes its transfers.

nginx on 127.0.0.1 with a self-signed certificate (conftest's tls_files) serves the same
location twice: over HTTP/2 and, as the control, over HTTP/1.1 only.  Its access log
records each request's protocol and connection serial number.  nginx is stopped while a
burst is enqueued, so that the engine's 16 allowed transfers are in flight together
(stats say so) however slowly the test runs; resumed, all deliveries must arrive as
HTTP/2.0 on a single connection -- multiplexed, not sent one by one."""
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import time

import pytest

import frappe_webhook_c as fwc
from support.dispatch_receiver import nginx_binary
from support.loopback import free_port  # noqa: E402

N = 200
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

CONF = """
worker_processes 1;
daemon off;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  log_format proto '$server_port $server_protocol $connection $http_webhook_id';
  access_log {d}/access.log proto;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  ssl_certificate {cert};
  ssl_certificate_key {key};
  server {{
    listen 127.0.0.1:{h2} ssl http2;
    location / {{ return 200 "ok"; }}
  }}
  server {{
    listen 127.0.0.1:{h1} ssl;
    location / {{ return 200 "ok"; }}
  }}
}}
"""


def why_no_h2():
    """Why this machine cannot run the test, or None."""
    exe = nginx_binary()
    if not exe:
        return "nginx is not installed"
    built = subprocess.run([exe, "-V"], capture_output=True, text=True).stderr
    if "--with-http_v2_module" not in built:
        return "this nginx has no http_v2 module"
    lib = ctypes.util.find_library("curl")
    if lib:
        curl = ctypes.CDLL(lib)
        curl.curl_version.restype = ctypes.c_char_p
        if b"nghttp2" not in curl.curl_version():
            return "libcurl is built without HTTP/2 (nghttp2)"
    return None



@pytest.fixture
def nginx_h2(tmp_path, tls_files):
    reason = why_no_h2()
    if reason:
        pytest.skip(reason)
    ports = {"h2": free_port(), "h1": free_port()}
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONF.format(d=tmp_path, cert=tls_files["server.pem"], key=tls_files["server.key"], **ports))
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
    # its own process group, so that the test can stop and resume master and worker
    proc = subprocess.Popen([nginx_binary(), "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for port in ports.values():
            end = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > end:
                        raise RuntimeError("nginx did not start: " + (tmp_path / "error.log").read_text()[-2000:])
                    time.sleep(0.05)

        def log():
            """Stops nginx (which flushes its log) and returns [(port, protocol, connection, id)]."""
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)
                proc.wait(15)
            return [tuple(line.split()) for line in (tmp_path / "access.log").read_text().splitlines() if line.strip()]

        def paused():
            """While nginx is stopped, connections wait in the kernel's backlog: a burst
            enqueued then starts all its transfers at once when it resumes, however slowly
            (a loaded machine, a sanitizer build) the caller enqueues."""
            return _Paused(proc.pid)

        yield ports, log, paused
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()


class _Paused:
    def __init__(self, pgid):
        self.pgid = pgid

    def __enter__(self):
        os.killpg(self.pgid, signal.SIGSTOP)

    def __exit__(self, *exc):
        os.killpg(self.pgid, signal.SIGCONT)


def burst(port, tls_files, paused):
    """N deliveries, 16 in flight at most, through one worker; returns (ids, stats)."""
    hook = fwc.Webhook(f"https://127.0.0.1:{port}/hook", allow_private_networks=True, ca_file=tls_files["server.pem"],
                       webhook_data=[("name", "id")], webhook_secret=SECRET, signature="standard")
    with fwc.Dispatcher(workers=1, max_connections=16, max_per_host=16) as d:
        with paused():
            deliveries = [d.enqueue(hook, {"doctype": "ToDo", "name": f"T-{i}"}) for i in range(N)]
            # 16 transfers started and waiting on the stopped server: in flight together
            end = time.monotonic() + 20
            while d.stats()["in_flight"] < 16 and time.monotonic() < end:
                time.sleep(0.01)
            together = d.stats()["in_flight"]
        assert d.flush(60) == []
        stats = d.stats()
    assert [x.status for x in deliveries] == ["Delivered"] * N, deliveries[0].error
    return {x.id for x in deliveries}, stats, together


def test_deliveries_go_over_http2_multiplexed_on_one_connection(nginx_h2, tls_files):
    ports, log, paused = nginx_h2
    ids2, stats2, together2 = burst(ports["h2"], tls_files, paused)
    ids1, stats1, together1 = burst(ports["h1"], tls_files, paused)
    lines = log()
    h2 = [line for line in lines if line[0] == str(ports["h2"])]
    h1 = [line for line in lines if line[0] == str(ports["h1"])]
    # every delivery arrived once, over the protocol its port speaks
    assert sorted(line[3] for line in h2) == sorted(ids2)
    assert sorted(line[3] for line in h1) == sorted(ids1)
    assert {line[1] for line in h2} == {"HTTP/2.0"}
    assert {line[1] for line in h1} == {"HTTP/1.1"}
    # HTTP/2: 16 transfers were in flight together, and one connection carried all of
    # them (the engine's count agrees): multiplexed
    assert together2 == 16
    assert len({line[2] for line in h2}) == 1
    assert stats2["connections_opened"] == 1 and stats2["delivered"] == N
    # the control: the same 16 at once to an HTTP/1.1-only server (libcurl 7.88 then opens
    # more connections or queues transfers behind the first, depending on timing)
    assert together1 == 16 and stats1["delivered"] == N
