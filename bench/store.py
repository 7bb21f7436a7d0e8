#!/usr/bin/env python3
"""The durable store's cost: Dispatcher(store=...) enqueues per second from 1 and 4 Python
threads (each enqueue returns once its row is committed; rows arriving together share a
commit), against Dispatcher() in memory and against the outbox an application would write
in Python (the sqlite3 module, one transaction per row: INSERT of id, webhook name and the
document as JSON, commit) -- as an app writes it (sqlite3's defaults: a rollback journal,
synchronous=FULL) and tuned like the store (WAL, synchronous=NORMAL); then end-to-end
delivered/s to a fast local receiver with a store (enqueued per call from 1 thread, as
Batches of 20 from 1 thread, per call from 4 threads) and in memory.

    python bench/store.py [--n 100000] [--n-python 20000] [--n-e2e 100000] [--rounds 2]
                          [--receiver sink|closed] [--full] [--dir DIR]

Enqueue rates time the enqueue calls only (from the first call to the last return, over
all threads).  The receiver meanwhile is nginx on 127.0.0.1 answering 200 (`sink`: the
deliveries are sent and journaled while the callers enqueue, as in production) or a closed
port (`closed`: each delivery fails at once and waits an hour for its retry).  End to end
is N signed field-map deliveries of the Quotation to nginx, timed from the first enqueue
until flush() returns and, with a store, until the store counts every one as delivered.
Each configuration runs in interleaved rounds (the machine's load varies), each round on
a fresh store file; the best round is kept.  `--full` adds rows for synchronous="full"
(and the tuned Python outbox with synchronous=FULL).

Targets (issue 13): >= 20,000 durable enqueues/s from 4 threads, >= 20x the plain Python
outbox, delivered/s with a store >= 50% of in memory.
"""
import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import frappe_webhook_c as fwc  # noqa: E402
from local_nginx import DOC, FIELDS, Nginx, free_port  # noqa: E402

HOOK_NAME = "bench-store-hook"
CONNECTIONS = 16
BATCH = 20  # deliveries per enqueue_many in the "batch" end-to-end run
WARM = 1000


class Bench:
    def __init__(self, args, url):
        self.args = args
        self.url = url
        self.dir = tempfile.mkdtemp(prefix="fwc-bench-store-", dir=args.dir)
        self.serial = 0
        self.grouping = {}
        self.hook = fwc.Webhook(url, name=HOOK_NAME, webhook_data=FIELDS, webhook_secret="bench-secret",
                                allow_private_networks=True, max_retries=5, retry_schedule=[3600])

    def fresh_path(self, tag):
        self.serial += 1
        return os.path.join(self.dir, f"{tag}-{self.serial}.db")

    def remove(self, path):
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(path + suffix)
            except FileNotFoundError:
                pass

    def docs(self, n, tag):
        return [dict(DOC, name=f"SAL-QTN-{tag}-{i:07d}") for i in range(n)]

    # ---------- enqueue rates ----------

    def enqueue_rate(self, threads, store, synchronous="normal"):
        """Enqueues/s of Dispatcher.enqueue from `threads` threads (the calls only)."""
        n = self.args.n
        path = self.fresh_path("enqueue") if store else None
        kwargs = dict(max_connections=CONNECTIONS, max_per_host=CONNECTIONS, max_queue=n + WARM + 1)
        if store:
            kwargs.update(store=path, synchronous=synchronous)
        d = fwc.Dispatcher(**kwargs)
        try:
            for _ in range(WARM):
                d.enqueue(self.hook, DOC)
            d.flush(120)
            per = [self.docs(n // threads, f"{t}") for t in range(threads)]
            before = d.stats().get("store") or {}
            seconds = run_threads(per, lambda docs: loop_enqueue(d.enqueue, self.hook, docs))
            after = d.stats().get("store") or {}
            if "commits" in after:  # rows per commit: how much the group commit groups
                commits = after["commits"] - before.get("commits", 0)
                rows = after["committed"] - before.get("committed", 0)
                self.grouping[(threads, synchronous)] = rows / commits if commits else 0.0
            if self.args.receiver == "sink":
                d.flush(600)  # drain (not timed), so that the next measurement starts quiet
        finally:
            d.close(timeout=0 if self.args.receiver == "closed" else 30)
            if path:
                self.remove(path)
        return (n // threads) * threads / seconds

    def python_outbox_rate(self, threads, synchronous="NORMAL", wal=True):
        """Rows/s of the outbox an app writes in Python: one transaction per row.  wal=False:
        as an app writes it without tuning, sqlite3's defaults (a rollback journal,
        synchronous=FULL)."""
        n = self.args.n_python
        path = self.fresh_path("python")
        con = sqlite3.connect(path)
        if wal:
            con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE outbox (id TEXT PRIMARY KEY, webhook TEXT NOT NULL, doc TEXT NOT NULL)")
        con.commit()
        con.close()

        def write(docs):
            c = sqlite3.connect(path, timeout=60, check_same_thread=False)
            if wal:
                c.execute(f"PRAGMA synchronous={synchronous}")
            return c, docs

        conns = [write(docs) for docs in (self.docs(n // threads, f"py{t}") for t in range(threads))]

        def loop(item):
            c, docs = item
            execute, commit = c.execute, c.commit
            for doc in docs:
                execute("INSERT INTO outbox (id, webhook, doc) VALUES (?, ?, ?)",
                        (uuid.uuid4().hex, HOOK_NAME, json.dumps(doc)))
                commit()

        try:
            seconds = run_threads(conns, loop)
            count = conns[0][0].execute("SELECT count(*) FROM outbox").fetchone()[0]
            assert count == (n // threads) * threads, count
        finally:
            for c, _ in conns:
                c.close()
            self.remove(path)
        return count / seconds

    # ---------- end to end ----------

    def delivered_rate(self, store, producer="call"):
        """Delivered/s of N deliveries until all are delivered (and, with a store, journaled
        as delivered).  producer: "call" one thread, an enqueue per delivery; "batch" one
        thread, enqueue_many of BATCH (a Frappe request flushes its webhook queue, a
        Batch, once after its commit); "threads" 4 threads, an enqueue per delivery."""
        n = self.args.n_e2e
        path = self.fresh_path("e2e") if store else None
        kwargs = dict(max_connections=CONNECTIONS, max_per_host=CONNECTIONS, max_queue=n + WARM + 1)
        if store:
            kwargs.update(store=path)
        hook = self.e2e_hook
        d = fwc.Dispatcher(**kwargs)
        try:
            warm = [d.enqueue(hook, DOC) for _ in range(WARM)]
            assert d.flush(120) == [] and all(x.status == "Delivered" for x in warm), warm[0].error
            if store:
                wait_store_delivered(d, WARM, 120)
            docs = self.docs(n, "e2e")
            t0 = time.perf_counter()
            if producer == "batch":
                for i in range(0, n, BATCH):
                    d.enqueue_many([(hook, doc) for doc in docs[i:i + BATCH]])
            elif producer == "threads":
                run_threads([docs[k::4] for k in range(4)], lambda part: loop_enqueue(d.enqueue, hook, part))
            else:
                loop_enqueue(d.enqueue, hook, docs)
            left = d.flush(600)
            if store:
                wait_store_delivered(d, n + WARM, 600)
            t1 = time.perf_counter()
            stats = d.stats()
            assert not left and stats["delivered"] == n + WARM, (len(left), stats)
        finally:
            d.close(timeout=30)
            if path:
                self.remove(path)
        return n / (t1 - t0)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def loop_enqueue(enqueue, hook, docs):
    for doc in docs:
        enqueue(hook, doc)


def run_threads(items, fn):
    """fn(item) on one thread per item, started together; seconds from the start to the
    last one's end.  One item runs on the calling thread."""
    if len(items) == 1:
        t0 = time.perf_counter()
        fn(items[0])
        return time.perf_counter() - t0
    start = threading.Barrier(len(items) + 1)
    ends, errors = [], []

    def body(item):
        start.wait()
        try:
            fn(item)
        except BaseException as e:  # reported by the caller
            errors.append(e)
        ends.append(time.perf_counter())

    threads = [threading.Thread(target=body, args=(item,)) for item in items]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return max(ends) - t0


def wait_store_delivered(d, n, timeout):
    """Until the store counts n deliveries as delivered (the journal caught up)."""
    deadline = time.monotonic() + timeout
    while True:
        got = d.stats()["store"]["delivered"]
        if got >= n:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the store counts {got} delivered of {n} after {timeout} s")
        time.sleep(0.005)


def filesystem_of(path):
    """The type of the filesystem holding path (from /proc/mounts), or '?'."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and (path == parts[1] or path.startswith(parts[1].rstrip("/") + "/")):
                    if len(parts[1]) > len(best):
                        best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="enqueues per Dispatcher measurement (default 100000)")
    ap.add_argument("--n-python", type=int, default=20_000, help="rows per Python outbox measurement (default 20000)")
    ap.add_argument("--n-e2e", type=int, default=100_000, help="deliveries per end-to-end measurement (default 100000)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each is kept (default 2)")
    ap.add_argument("--receiver", choices=("sink", "closed"), default="sink",
                    help="receiver during the enqueue measurements: nginx answering 200 (default) or a closed port")
    ap.add_argument("--full", action="store_true", help="also measure synchronous=full (Dispatcher and Python)")
    ap.add_argument("--dir", default=None, help="where the store files go (default: the system temp dir)")
    args = ap.parse_args()

    nginx = Nginx()
    try:
        sink_url = f"http://127.0.0.1:{nginx.port}/hooks/quotation"
        url = sink_url if args.receiver == "sink" else f"http://127.0.0.1:{free_port()}/hooks/quotation"
        b = Bench(args, url)
        b.e2e_hook = fwc.Webhook(sink_url, name=HOOK_NAME, webhook_data=FIELDS, webhook_secret="bench-secret",
                                 allow_private_networks=True)
        fs = filesystem_of(b.dir)
        runs = {
            "durable4": lambda: b.enqueue_rate(4, True),
            "durable1": lambda: b.enqueue_rate(1, True),
            "memory4": lambda: b.enqueue_rate(4, False),
            "memory1": lambda: b.enqueue_rate(1, False),
            "python1": lambda: b.python_outbox_rate(1),
            "python4": lambda: b.python_outbox_rate(4),
            "python1_app": lambda: b.python_outbox_rate(1, wal=False),
            "e2e_store": lambda: b.delivered_rate(True),
            "e2e_store_batch": lambda: b.delivered_rate(True, "batch"),
            "e2e_store_threads": lambda: b.delivered_rate(True, "threads"),
            "e2e_memory": lambda: b.delivered_rate(False),
        }
        if args.full:
            runs["full4"] = lambda: b.enqueue_rate(4, True, "full")
            runs["full1"] = lambda: b.enqueue_rate(1, True, "full")
            runs["python1_full"] = lambda: b.python_outbox_rate(1, "FULL")
        best = dict.fromkeys(runs, 0.0)
        try:
            for r in range(args.rounds):
                for name, fn in runs.items():
                    rate = fn()
                    best[name] = max(best[name], rate)
                    print(f"round {r + 1}: {name} {rate:,.0f}/s", file=sys.stderr, flush=True)
        finally:
            b.close()
    finally:
        nginx.stop()

    receiver = ("nginx on 127.0.0.1 answering 200 (deliveries sent and journaled meanwhile)"
                if args.receiver == "sink" else "a closed port on 127.0.0.1 (each delivery fails, retry in 1 h)")
    print(f"\nDurable enqueue: {args.n:,} Dispatcher.enqueue calls per measurement ({args.n_python:,} rows for the "
          f"Python outbox), best of {args.rounds} rounds (interleaved)")
    print(f"store files on {fs} ({args.dir or tempfile.gettempdir()}), SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPUs; receiver: {receiver}\n")
    d4 = best["durable4"]
    rows = [
        ("Dispatcher(store=...).enqueue, 4 threads (durable, group commit)", "durable4"),
        ("Dispatcher(store=...).enqueue, 1 thread (durable)", "durable1"),
    ]
    if args.full:
        rows += [
            ('Dispatcher(store=..., synchronous="full").enqueue, 4 threads', "full4"),
            ('Dispatcher(store=..., synchronous="full").enqueue, 1 thread', "full1"),
        ]
    rows += [
        ("Dispatcher().enqueue in memory, 4 threads", "memory4"),
        ("Dispatcher().enqueue in memory, 1 thread", "memory1"),
        ("Python outbox as an app writes it (sqlite3's defaults: rollback journal, synchronous=FULL), 1 thread",
         "python1_app"),
        ("Python outbox tuned (WAL, synchronous=NORMAL, as the store), 1 thread", "python1"),
        ("Python outbox tuned, 4 threads", "python4"),
    ]
    if args.full:
        rows.append(("Python outbox, synchronous=FULL, 1 thread", "python1_full"))
    print("| enqueue | per second | durable 4 threads vs it |")
    print("|---|---:|---:|")
    for label, key in rows:
        rate = best[key]
        ratio = "" if key == "durable4" else (f"{d4 / rate:.2f}x" if rate else "n/a")
        print(f"| {label} | {rate:,.0f} | {ratio} |")

    if b.grouping:
        print("\ngroup commit, rows per commit (last round): " + ", ".join(
            f"{t} thread{'s' if t > 1 else ''} {sync} {g:.2f}" for (t, sync), g in sorted(b.grouping.items())))

    em = best["e2e_memory"]
    print(f"\nEnd to end: {args.n_e2e:,} signed field-map deliveries to nginx on 127.0.0.1, {CONNECTIONS} "
          f"connections, until all are delivered (with a store: and journaled)\n")
    print("| delivery | delivered/s | vs in memory |")
    print("|---|---:|---:|")
    e2e_rows = [("Dispatcher(store=...), 1 thread, an enqueue per delivery", "e2e_store"),
                (f"Dispatcher(store=...), 1 thread, enqueue_many of {BATCH} (a Batch per request)",
                 "e2e_store_batch"),
                ("Dispatcher(store=...), 4 threads, an enqueue per delivery", "e2e_store_threads")]
    for label, key in e2e_rows:
        print(f"| {label} | {best[key]:,.0f} | {best[key] / em * 100 if em else 0:.0f}% |")
    print(f"| Dispatcher() in memory, 1 thread, an enqueue per delivery | {em:,.0f} | |")

    app = best["python1_app"]
    tuned = max(best["python1"], best["python4"])
    print("\ntargets (issue 13):")
    print(f"  >= 20,000 durable enqueues/s from 4 threads: {d4:,.0f}/s  {'met' if d4 >= 20_000 else 'MISSED'}")
    print(f"  >= 20x the plain Python outbox as an app writes it ({app:,.0f}/s): {d4 / app if app else 0:.1f}x  "
          f"{'met' if app and d4 / app >= 20 else 'MISSED'}  (vs the tuned one, {tuned:,.0f}/s: "
          f"{d4 / tuned if tuned else 0:.1f}x)")
    for label, key in e2e_rows:
        share = best[key] / em if em else 0
        print(f"  delivered/s with a store >= 50% of in memory, {label.split(', ', 1)[1]}: {share * 100:.0f}%  "
              f"{'met' if share >= 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
