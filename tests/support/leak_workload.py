"""Every public operation of the module, success and error paths, as one-call "ops" for the
leak checks: tests/test_leaks.py runs each many times in a fresh interpreter and watches
RSS and tracemalloc; `make test-valgrind` runs them all a few times under valgrind.

    python tests/support/leak_workload.py measure OP N   one op: warm up, then N calls; prints growth as JSON
    python tests/support/leak_workload.py run N          every op N times (the valgrind workload)
"""
import collections.abc
import ctypes
import gc
import http.server
import json
import os
import sys
import tempfile
import threading
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # tests/

import frappe_webhook_c as fwc  # noqa: E402
from support.loopback import free_port  # noqa: E402
from support.quotation import quotation  # noqa: E402


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def start_sink():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


class FailingRecord(collections.abc.Mapping):
    """A lazy record whose lookups fail after iteration promised the key."""

    def __iter__(self):
        return iter(["name", "items"])

    def __len__(self):
        return 2

    def __getitem__(self, key):
        raise KeyError(key)


DOC = quotation(5)
TEMPLATE = ('{"id": {{ doc.name | tojson }}, "total": {{ doc.grand_total }}, '
            '"rows": [{% for r in doc["items"] %}{"code": {{ r.item_code | tojson }}, '
            '"amt": {{ r.amount | round(2) }}}{{ "," if not loop.last }}{% endfor %}], '
            '"who": "{{ doc.customer_name | upper | truncate(20) }}"}')


def build_ops():
    port = start_sink()
    base = f"http://127.0.0.1:{port}/hook"
    dead = f"http://127.0.0.1:{free_port()}/hook"
    common = dict(allow_private_networks=True, name="leak-hook", webhook_doctype="Quotation",
                  webhook_docevent="on_update")
    field_map = fwc.Webhook(base, webhook_data=[("name", "id"), ("items", "rows"), ("grand_total", "t")],
                            webhook_secret="s3cret", condition="doc.grand_total > 0", **common)
    templated = fwc.Webhook(base, webhook_json=TEMPLATE, webhook_secret="s3cret",
                            webhook_headers=[("X-A", "1")], **common)
    down = fwc.Webhook(dead, webhook_data=[("name", "id")], timeout=2, **common)
    failing_cond = fwc.Webhook(base, condition="doc.grand_total / 0 > 1", **common)
    failing_tmpl = fwc.Webhook(base, webhook_json='{"a": {{ doc.name | int(base=1) }}}', **common)
    req = field_map.request(DOC)
    sig_headers = fwc.sign("s3cret", req.body, "standard", msg_id="msg_1", timestamp=1_700_000_000)

    def expect(exc, fn, *args, **kw):
        try:
            fn(*args, **kw)
        except exc:
            return
        raise AssertionError(f"{fn} did not raise {exc}")

    def dispatcher_round():
        with fwc.Dispatcher(on_result=lambda d: None) as d:
            for _ in range(5):
                d.enqueue(templated, DOC)
            done = d.flush(timeout=10)
            assert all(x.status == "delivered" for x in done), [x.error for x in done]

    outbox = os.path.join(tempfile.mkdtemp(prefix="fwc-leak-"), "outbox.db")

    def store_round():
        with fwc.Dispatcher(store=outbox, webhooks=[templated]) as d:
            first = d.enqueue(templated, DOC)
            d.enqueue_many([(templated, DOC), (field_map, DOC)])
            assert d.flush(timeout=10) == []
            d.replay(first.id)
            assert d.flush(timeout=10) == []
            assert d.deliveries(limit=5) and d.attempts(first.id) and d.stats()["store"]
            expect(ValueError, d.enqueue, fwc.Webhook(base, allow_private_networks=True), DOC)
            expect(ValueError, d.replay, "msg_unknown")
            d.purge(older_than=0)
        with fwc.Outbox(outbox) as o:
            o.stats()

    ops = {
        "construct": lambda: fwc.Webhook(base, webhook_json=TEMPLATE, condition="doc.status == 'Open'",
                                         webhook_headers={"X-B": "2"}, webhook_secret="x", **common),
        "construct_errors": lambda: (
            expect(fwc.ValidationError, fwc.Webhook, "ftp://x"),
            expect(fwc.ValidationError, fwc.Webhook, base, condition="doc.("),
            expect(fwc.ValidationError, fwc.Webhook, base, webhook_json="{% for %}"),
            expect(fwc.ValidationError, fwc.Webhook, base, webhook_data=[("a", "x"), ("a", "y")])),
        "from_frappe": lambda: fwc.Webhook.from_frappe({
            "request_url": base, "webhook_json": TEMPLATE, "enabled": 1, "condition": "doc.name",
            "webhook_headers": [{"key": "X-C", "value": "3"}], "allow_private_networks": True}),
        "request_field_map": lambda: field_map.request(DOC).body,
        "request_template": lambda: templated.request(DOC).headers,
        "preview": lambda: templated.preview_request_body(DOC),
        "condition": lambda: (field_map.meets_condition(DOC), field_map.matches(DOC, "on_update")),
        "condition_error": lambda: expect(fwc.ConditionError, failing_cond.meets_condition, DOC),
        "template_error": lambda: expect(fwc.TemplateError, failing_tmpl.request, DOC),
        "snapshot_error": lambda: expect(Exception, field_map.request, {"name": object.__new__(BrokenStr)}),
        "run_webhooks": lambda: fwc.run_webhooks([field_map, templated], DOC, "on_update"),
        "sign_verify": lambda: (fwc.sign("s3cret", req.body),
                                fwc.verify("s3cret", req.body, sig_headers, "standard", tolerance=10**10),
                                fwc.verify("wrong", req.body, sig_headers, "standard", tolerance=10**10)),
        "dispatch": lambda: fwc.dispatch(templated, DOC).raise_for_status(),
        "dispatch_refused": lambda: fwc.dispatch(down, DOC).error,
        "dispatcher": dispatcher_round,
        "store": store_round,
    }
    return ops


class BrokenStr:
    """A value whose str() fails: the snapshot must raise, and free what it built so far."""

    def __str__(self):
        raise ValueError("no text for you")


# Controls: the detectors must see a leak of 1 KiB a call, in Python objects and in C.
_kept = []


def leak_python():
    _kept.append(bytearray(1024))


_libc = ctypes.CDLL(None)
_libc.malloc.restype = ctypes.c_void_p


def leak_c():
    p = _libc.malloc(1024)
    ctypes.memset(p, 1, 1024)


CONTROLS = {"control_python_leak": leak_python, "control_c_leak": leak_c}


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(name, n):
    ops = {**build_ops(), **CONTROLS}
    op = ops[name]
    tracemalloc.start()
    for _ in range(max(200, n // 5)):      # warm-up: caches, arenas, connections
        op()
    gc.collect()
    rss0, py0 = rss(), tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        op()
    gc.collect()
    print(json.dumps({"op": name, "n": n, "rss_growth": rss() - rss0,
                      "traced_growth": tracemalloc.get_traced_memory()[0] - py0}))


def run_all(n):
    for name, op in build_ops().items():
        for _ in range(n):
            op()
        gc.collect()    # cycles (an exception and its traceback) are freed, not "lost" at exit
        print(name, "ok", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(sys.argv[2], int(sys.argv[3]))
    else:
        run_all(int(sys.argv[2]))
