"""Memory of a full queue: 100 000 small documents waiting in a Dispatcher.

Each queued delivery holds its job and a snapshot of the fields its body needs.  The
snapshot's arena starts small (sized from the document, src/core/buf.c), so a small document
costs about 1.4 KB, not the 4.5 KB a fixed 4 KiB first block cost: README's limits say
~150 MB for the default max_queue of 100 000.  The receiver never answers, so everything
stays queued while RSS is measured."""
import json
import os
import subprocess
import sys

import pytest

import frappe_webhook_c as fwc

SANITIZED = "asan" in os.environ.get("LD_PRELOAD", "")
N = 100_000
# bytes of RSS per queued delivery; README documents ~1.4 KB (4.5 KB before the arena
# change), so this fails if a queued snapshot grows back towards a 4 KiB block
BOUND = 2048


# Runs in a fresh interpreter: in pytest's own process, memory freed by earlier tests
# would be reused and hide the growth.
CHILD = r"""
import gc, json, os, socket, sys
import frappe_webhook_c as fwc

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def small_doc(i):
    return {"doctype": "Quotation", "name": f"SAL-QTN-2026-{i:06d}", "customer_name": "ACME Café",
            "grand_total": 2380.0 + i, "currency": "EUR", "status": "Open",
            "items": [{"item_code": "WIDGET", "qty": 10.0, "rate": 200.0, "amount": 2000.0},
                      {"item_code": "GADGET", "qty": 1.0, "rate": 0.1, "amount": 0.1}]}

n, body = int(sys.argv[1]), sys.argv[2]
if body == "field map":
    kw = dict(webhook_data=[("name", "id"), ("customer_name", "customer"), ("grand_total", "total"),
                            ("items", "lineItems")], webhook_secret="s")
else:
    kw = dict(webhook_json='{"id": {{ doc.name | json }}, "total": {{ doc.grand_total }}, '
                           '"items": {{ doc["items"] | json }}}')
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)       # nobody accepts: the one transfer allowed hangs, the rest stays queued
hook = fwc.Webhook(f"http://127.0.0.1:{srv.getsockname()[1]}/hook", allow_private_networks=True,
                   timeout=600, **kw)
docs = [small_doc(i) for i in range(n)]
d = fwc.Dispatcher(max_connections=1, max_per_host=1, max_queue=n + 100)
for i in range(100):
    d.enqueue(hook, docs[i])
gc.collect()
before = rss()
for doc in docs:
    d.enqueue(hook, doc)
grown = rss() - before
stats = d.stats()
left = d.close(timeout=0)
print(json.dumps({"per": grown / n, "queued": stats["queued"], "delivered": stats["delivered"],
                  "left": len(left)}))
"""


@pytest.mark.skipif(SANITIZED, reason="ASan's redzones and quarantine inflate every allocation by design")
@pytest.mark.parametrize("body", ["field map", "template"])
def test_full_queue_of_small_documents_stays_small(body):
    # the child imports the same build as this process
    root = os.path.dirname(os.path.dirname(os.path.abspath(fwc.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", CHILD, str(N), body], capture_output=True, text=True, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["queued"] >= N and r["delivered"] == 0 and r["left"] == N + 100
    assert r["per"] < BOUND, f"{r['per']:.0f} bytes of RSS per queued delivery"
