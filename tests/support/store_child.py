"""A child process of the store tests (tests/test_store.py, tests/test_store_processes.py).

    python store_child.py produce --store PATH --url URL --n N [options]
        Opens Dispatcher(store=PATH) with one named webhook (Standard Webhooks signing, so
        every request carries webhook-id), prints "ready", optionally waits for a --go
        file (a start barrier for several processes), enqueues N documents (`enqueue`, or
        `enqueue_many` in batches of --batch), and appends each accepted id to --accepted
        right after enqueue returned: one os.write per batch on an O_APPEND descriptor,
        no Python buffering, so what a SIGKILL leaves in the file is exactly what was
        accepted before it (the page cache survives the death of a process; fsync would
        only matter for a power cut, which these tests do not simulate).  Prints
        "enqueued N", then keeps the dispatcher running until the --stop file exists
        (or, with --until-empty, until the whole store has nothing queued, failed or
        leased), closes it and prints "result <json>" (its stats and what close returned).

    python store_child.py open --store PATH [--outbox]
        Tries to open the store (Dispatcher, or Outbox) and prints one JSON line: ok, the
        exception's type, its MRO names and message.  Used for the read-only directory
        test, run without CAP_DAC_OVERRIDE when the tests run as root.

    python store_child.py fill --store PATH --url URL [--batch K] [--extra-bytes B]
        Opens the store, then sets RLIMIT_FSIZE to (largest store file) + B with SIGXFSZ
        ignored, so a write past the limit fails with EFBIG instead of killing the process,
        and enqueues documents with a 2 KB field until enqueue raises.  Then lifts the
        limit and enqueues once more.  Prints one JSON line: the accepted ids, the error
        (type, MRO, message), and the outcome of the enqueue after the limit was lifted.
        Its output goes to stdout (a pipe, which RLIMIT_FSIZE does not limit).
"""
import argparse
import json
import os
import resource
import signal
import sys
import time

import frappe_webhook_c as fwc

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def make_hook(a):
    return fwc.Webhook(a.url, name=a.name, allow_private_networks=True,
                       webhook_data=[("name", "id"), ("blob", "blob")],
                       webhook_secret=SECRET, signature="standard",
                       retry_schedule=[float(x) for x in a.retry.split(",")], retry_jitter=a.jitter,
                       max_retries=a.max_retries, timeout=a.timeout)


def make_dispatcher(a, h):
    return fwc.Dispatcher(workers=a.workers, max_connections=a.max_connections, max_per_host=a.max_per_host,
                          max_queue=1_000_000, store=a.store, webhooks=[h], lease=a.lease)


def err_info(e):
    return {"type": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__], "message": str(e)}


def produce(a):
    h = make_hook(a)
    d = make_dispatcher(a, h)
    print("ready", flush=True)
    if a.go:
        while not os.path.exists(a.go):
            time.sleep(0.005)
    fd = os.open(a.accepted, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if a.accepted else None
    blob = "x" * a.blob
    i = 0
    while i < a.n:
        k = min(a.batch, a.n - i)
        docs = [{"doctype": "ToDo", "name": f"{a.prefix}-{j:06d}", "blob": blob} for j in range(i, i + k)]
        if a.batch == 1:
            xs = [d.enqueue(h, docs[0])]
        else:
            xs = d.enqueue_many([(h, doc) for doc in docs])
        if fd is not None:
            os.write(fd, "".join(x.id + "\n" for x in xs).encode())
        i += k
    print(f"enqueued {a.n}", flush=True)
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline:
        if a.stop and os.path.exists(a.stop):
            break
        if a.until_empty:
            s = d.stats()["store"]
            if s["queued"] == 0 and s["failed"] == 0 and s["waiting"] == 0:
                break
        time.sleep(0.02)
    stats = d.stats()
    left = d.close(timeout=a.close_timeout)
    print("result " + json.dumps({"stats": stats, "undelivered": [x.id for x in left]}), flush=True)


def try_open(a):
    try:
        if a.outbox:
            o = fwc.Outbox(a.store)
            o.close()
        else:
            d = fwc.Dispatcher(store=a.store)
            d.close(timeout=0)
        print(json.dumps({"ok": True}), flush=True)
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        print(json.dumps({"ok": False, **err_info(e)}), flush=True)


def fill(a):
    h = make_hook(a)
    d = make_dispatcher(a, h)
    d.enqueue(h, {"doctype": "ToDo", "name": "warm-up", "blob": ""})   # the schema and the WAL exist
    files = [a.store + sfx for sfx in ("", "-wal", "-shm", "-journal") if os.path.exists(a.store + sfx)]
    limit = max(os.path.getsize(f) for f in files) + a.extra_bytes
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    accepted, error, failed_at = [], None, None
    blob = "y" * 2048
    i = 0
    while i < a.n and error is None:
        docs = [{"doctype": "ToDo", "name": f"fill-{j:06d}", "blob": blob} for j in range(i, i + a.batch)]
        try:
            if a.batch == 1:
                xs = [d.enqueue(h, docs[0])]
            else:
                xs = d.enqueue_many([(h, doc) for doc in docs])
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            error, failed_at = err_info(e), i
            break
        accepted += [x.id for x in xs]
        i += a.batch
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    after = None
    try:
        x = d.enqueue(h, {"doctype": "ToDo", "name": "after-the-limit", "blob": ""})
        after = {"ok": True, "id": x.id}
    except BaseException as e:  # noqa: BLE001
        after = {"ok": False, **err_info(e)}
    d.close(timeout=0)
    print(json.dumps({"accepted": accepted, "error": error, "failed_at": failed_at, "limit": limit,
                      "after": after}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["produce", "open", "fill"])
    p.add_argument("--store", required=True)
    p.add_argument("--url", default="http://127.0.0.1:9/none")
    p.add_argument("--name", default="store-hook")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--prefix", default="DOC")
    p.add_argument("--accepted")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--blob", type=int, default=0)
    p.add_argument("--lease", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--max-connections", type=int, default=16)
    p.add_argument("--max-per-host", type=int, default=16)
    p.add_argument("--retry", default="0.5")
    p.add_argument("--jitter", type=float, default=0.0)
    p.add_argument("--max-retries", type=int, default=100)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--go")
    p.add_argument("--stop")
    p.add_argument("--until-empty", action="store_true")
    p.add_argument("--max-seconds", type=float, default=120.0)
    p.add_argument("--close-timeout", type=float, default=5.0)
    p.add_argument("--outbox", action="store_true")
    p.add_argument("--extra-bytes", type=int, default=65536)
    a = p.parse_args()
    {"produce": produce, "open": try_open, "fill": fill}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
