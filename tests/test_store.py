"""The durable store (issue 13): Dispatcher(store=...), Outbox and the outbox CLI, in one
process (the tests with several processes, and the crash, are tests/test_store_processes.py).

Written against the API contract of the store (Dispatcher(store=..., webhooks=...,
resolve=..., lease=..., ...), deliveries(), attempts(), replay(), purge(), stats()["store"],
Outbox, `python -m frappe_webhook_c outbox`).  The database itself is read with the
sqlite3 module as the oracle: the schema's tables fwc_meta, fwc_delivery (seq, id, webhook,
reference_doctype, reference_document, status, attempts, due, owner, created, updated,
error, waiting, recheck), fwc_snapshot, fwc_attempt and fwc_owner (one lease per process).

Every receiver is on 127.0.0.1; every database is under tmp_path; retry schedules are a
fraction of a second to a few seconds."""
import base64
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import frappe_webhook_c as fwc
from support.dispatch_receiver import doc, hook, wait_until
from support.loopback import free_port  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + base64.b64encode(b"another key of 24 bytes!").decode()
PLAIN_SECRET = "frappe-plain-secret-5b2f0c1e9d"     # a Frappe (non-whsec) secret, found nowhere if not stored
HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "support", "store_child.py")
DELIVERY_KEYS = {"id", "webhook", "reference_doctype", "reference_document", "status", "attempts",
                 "next_retry", "created", "updated", "error", "owner", "waiting"}
ATTEMPT_KEYS = {"attempt", "time", "status", "response_status", "url", "response_headers", "response_body",
                "error", "elapsed"}
COUNT_KEYS = {"queued", "delivered", "failed", "exhausted", "waiting", "leased"}




@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "outbox.db")


def sql(path, query, *args):
    """Rows of one query on the store's file, on a connection of our own (the oracle)."""
    con = sqlite3.connect(path, timeout=30)
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


def rows_by_id(path):
    con = sqlite3.connect(path, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        # the status as deliveries() words it (the file's own spelling is not part of the contract)
        return {r["id"]: {**dict(r), "status": r["status"].lower()} for r in con.execute("SELECT * FROM fwc_delivery")}
    finally:
        con.close()


def columns(path, table):
    return [r[1] for r in sql(path, f"PRAGMA table_info({table})")]


def _snapshot_where(path):
    """(table, blob column, key column, the delivery's value for the key) of the stored
    snapshots: the contract's fwc_delivery.snapshot, or a table of their own keyed by the
    delivery's row (fwc_snapshot(delivery -> fwc_delivery.seq))."""
    if "snapshot" in columns(path, "fwc_delivery"):
        return "fwc_delivery", "snapshot", "id", "id"
    return "fwc_snapshot", "data", "delivery", "seq"


def snapshot_of(path, delivery_id):
    table, blob, key, dkey = _snapshot_where(path)
    rows = sql(path, f"SELECT t.{blob} FROM {table} t JOIN fwc_delivery d ON t.{key} = d.{dkey} WHERE d.id = ?",
               delivery_id)
    return rows[0][0] if rows else None


def set_snapshot(path, delivery_id, data):
    table, blob, key, dkey = _snapshot_where(path)
    con = sqlite3.connect(path, timeout=30)
    try:
        con.execute(f"UPDATE {table} SET {blob} = ? WHERE {key} = (SELECT {dkey} FROM fwc_delivery WHERE id = ?)",
                    (data, delivery_id))
        con.commit()
    finally:
        con.close()


def attempt_rows(path):
    """{delivery id: attempt rows stored}, and how many attempt (and snapshot) rows belong
    to no delivery, whatever the attempt table's key is (the id, or the delivery's seq)."""
    acols, dcols = columns(path, "fwc_attempt"), columns(path, "fwc_delivery")
    if "delivery" in acols and "seq" in dcols:
        key, dkey = "delivery", "seq"
    else:
        key = next(c for c in ("delivery_id", "id", "delivery") if c in acols)
        dkey = "id"
    counts = dict(sql(path, f"SELECT d.id, count(*) FROM fwc_attempt a JOIN fwc_delivery d ON a.{key} = d.{dkey} "
                            "GROUP BY d.id"))
    orphans = sql(path, f"SELECT count(*) FROM fwc_attempt WHERE {key} NOT IN (SELECT {dkey} FROM fwc_delivery)")[0][0]
    table, _, skey, sdkey = _snapshot_where(path)
    if table != "fwc_delivery":
        orphans += sql(path, f"SELECT count(*) FROM {table} WHERE {skey} NOT IN (SELECT {sdkey} FROM fwc_delivery)")[0][0]
    return counts, orphans


def wall(hit):
    """A ScriptedReceiver hit's arrival time (monotonic) as Unix time."""
    return hit.at + (time.time() - time.monotonic())


def named(url, name="store-hook", **kw):
    kw.setdefault("webhook_secret", SECRET)
    kw.setdefault("signature", "standard")
    return hook(url, name=name, **kw)


def hanging_listener():
    """A listening socket that never accepts: connects succeed (the kernel's backlog),
    requests are never answered, so deliveries stay in flight."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def run_child(*args, timeout=120, env=None, prefix=()):
    r = subprocess.run([*prefix, sys.executable, CHILD, *args], capture_output=True, text=True, timeout=timeout,
                       env=env)
    return r


def last_json(out):
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    assert lines, out
    return json.loads(lines[-1])


# ---------- construction ----------

def test_without_store_nothing_changes(dispatchers):
    d = dispatchers()
    assert d.store is None and d.owner is None
    assert d.stats().get("store") is None


@pytest.mark.parametrize("form", ["str", "pathlike", "url"])
def test_store_forms_create_the_schema_in_wal_mode(tmp_path, dispatchers, form):
    p = tmp_path / "o.db"
    arg = {"str": str(p), "pathlike": p, "url": "sqlite://" + str(p)}[form]
    if form == "url":
        assert arg.startswith("sqlite:///") and not arg.startswith("sqlite:////")   # sqlite:///abs/path.db
    d = dispatchers(store=arg)
    assert d.store == str(p)
    assert isinstance(d.owner, str) and d.owner
    assert p.exists()
    tables = {r[0] for r in sql(str(p), "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"fwc_meta", "fwc_delivery", "fwc_attempt"} <= tables
    assert "format" in dict(sql(str(p), "SELECT key, value FROM fwc_meta"))
    assert sql(str(p), "PRAGMA journal_mode")[0][0].lower() == "wal"


def test_the_schema_is_the_documented_one(db_path, dispatchers):
    """The schema the README documents: a delivery's row (updated at every attempt), its
    snapshot apart (written once), its attempts keyed by the delivery's row."""
    dispatchers(store=db_path)
    want = {"seq", "id", "webhook", "reference_doctype", "reference_document", "status", "attempts", "due",
            "owner", "created", "updated", "error", "waiting", "recheck"}
    have = set(columns(db_path, "fwc_delivery"))
    assert want == have, f"fwc_delivery: missing {sorted(want - have)}, unexpected {sorted(have - want)}"
    assert set(columns(db_path, "fwc_snapshot")) == {"delivery", "data"}
    assert {"delivery", "attempt", "time", "status", "response_status", "url", "response_headers",
            "response_body", "error", "elapsed"} == set(columns(db_path, "fwc_attempt"))
    # one lease per process, however many deliveries it holds
    assert set(columns(db_path, "fwc_owner")) == {"owner", "lease_until"}


def test_the_file_says_what_it_is_and_its_schema_version(db_path, dispatchers):
    """fwc_meta says the file is an outbox; PRAGMA user_version is the schema's version."""
    dispatchers(store=db_path)
    assert dict(sql(db_path, "SELECT key, value FROM fwc_meta")) == {"format": "frappe_webhook_c outbox"}
    assert sql(db_path, "PRAGMA user_version") == [(1,)]


def test_two_dispatchers_have_different_owner_tokens(db_path, dispatchers):
    a = dispatchers(store=db_path)
    b = dispatchers(store=db_path)
    assert a.owner != b.owner


def test_store_keywords_are_validated(db_path, dispatchers):
    with pytest.raises(ValueError):
        dispatchers(store=db_path, synchronous="sometimes")
    for bad in (0, -1.0):
        with pytest.raises(ValueError):
            dispatchers(store=db_path, lease=bad)
    with pytest.raises(TypeError):
        dispatchers(store=db_path, resolve=42)
    with pytest.raises(TypeError):
        dispatchers(store=db_path, webhooks=[object()])
    d = dispatchers(store=db_path, synchronous="full", lease=2.5, retention=60, busy_timeout=1.0)
    assert d.store == db_path


def test_storeerror_is_an_oserror():
    assert issubclass(fwc.StoreError, OSError)


# ---------- enqueue ----------

def test_enqueue_returns_after_the_row_is_committed(rx, db_path, dispatchers):
    rx.script("/slow", {"delay": 1.0})
    d = dispatchers(store=db_path, max_per_host=1)
    h = named(rx.url("/slow"))
    before = time.time()
    xs = [d.enqueue(h, doc(f"T-{i}", description="x")) for i in range(3)]
    # another connection sees every row as soon as enqueue returned (committed, not only journaled)
    rows = rows_by_id(db_path)
    assert set(rows) == {x.id for x in xs}
    for i, x in enumerate(xs):
        r = rows[x.id]
        assert (r["webhook"], r["reference_doctype"], r["reference_document"]) == ("store-hook", "ToDo", f"T-{i}")
        assert r["status"].lower() == "queued" and r["attempts"] == 0
        snap = snapshot_of(db_path, x.id)
        assert snap is not None and len(snap) > 0
        assert r["owner"] == d.owner
        (lease,) = sql(db_path, "SELECT lease_until FROM fwc_owner WHERE owner = ?", d.owner)[0]
        assert lease > before
        assert before - 1 <= r["created"] <= time.time() + 1
    assert d.flush(20) == []
    rows = rows_by_id(db_path)
    assert wait_until(lambda: all(r["status"].lower() == "delivered" for r in rows_by_id(db_path).values()), 10)
    rows = rows_by_id(db_path)
    assert [rows[x.id]["attempts"] for x in xs] == [1, 1, 1]


def test_enqueue_needs_a_named_webhook(rx, db_path, dispatchers):
    d = dispatchers(store=db_path)
    for name in (None, ""):
        h = hook(rx.url("/ok"), name=name)
        with pytest.raises(ValueError):
            d.enqueue(h, doc("A"))
        with pytest.raises(ValueError):
            d.enqueue_many([(named(rx.url("/ok")), doc("B")), (h, doc("C"))])
    assert sql(db_path, "SELECT count(*) FROM fwc_delivery") == [(0,)]
    time.sleep(0.2)
    assert rx.hits_for("/ok") == []
    assert d.stats()["store"]["queued"] == 0


def test_the_webhook_id_is_the_delivery_id_and_the_row_id(rx, db_path, dispatchers):
    d = dispatchers(store=db_path)
    x = d.enqueue(named(rx.url("/ok")), doc("A"))
    assert d.flush(10) == []
    (hit,) = rx.wait_for("/ok", 1)
    assert hit.headers["webhook-id"] == x.id
    assert fwc.verify(SECRET, hit.body, hit.headers, scheme="standard")
    assert list(rows_by_id(db_path)) == [x.id]


def test_enqueue_many_with_and_without_a_store(rx, db_path, dispatchers):
    h = named(rx.url("/many"))
    plain = dispatchers()
    xs = plain.enqueue_many([(h, doc(f"P-{i}")) for i in range(5)])
    assert [type(x) for x in xs] == [fwc.Delivery] * 5
    assert [x.reference_document for x in xs] == [f"P-{i}" for i in range(5)]
    assert plain.flush(10) == []
    d = dispatchers(store=db_path)
    ys = d.enqueue_many([(h, doc(f"S-{i}")) for i in range(5)])
    assert [y.reference_document for y in ys] == [f"S-{i}" for i in range(5)]
    assert set(rows_by_id(db_path)) == {y.id for y in ys}
    assert d.enqueue_many([]) == []
    assert d.flush(10) == []
    assert len(rx.wait_for("/many", 10)) == 10


def test_enqueue_many_is_all_or_none_when_a_document_fails(rx, db_path, dispatchers):
    d = dispatchers(store=db_path)
    h = named(rx.url("/aon"), webhook_data=[("name", "id"), ("items", "items")])
    cyclic = doc("cycle")
    cyclic["items"] = [cyclic]
    with pytest.raises(ValueError):
        d.enqueue_many([(h, doc("A")), (h, cyclic), (h, doc("B"))])
    assert rows_by_id(db_path) == {}
    time.sleep(0.2)
    assert rx.hits_for("/aon") == []
    assert d.stats()["store"]["queued"] == 0 and d.stats()["enqueued"] == 0


def _watch_counts(path, stop, seen):
    """Counts the rows of fwc_delivery as often as it can until stop is set (WAL: each read
    sees one committed state)."""
    con = sqlite3.connect(path, timeout=30)
    try:
        while not stop.is_set():
            seen.add(con.execute("SELECT count(*) FROM fwc_delivery WHERE reference_document LIKE 'D-%'").fetchone()[0])
    finally:
        con.close()


@pytest.mark.parametrize("how", ["enqueue_many", "batch"])
def test_a_batch_is_one_transaction(rx, db_path, dispatchers, how):
    """While 3000 deliveries are stored by one enqueue_many (or Batch.commit), a reader on
    another connection only ever sees 0 or 3000 rows: one transaction, never a part."""
    n = 3000
    d = dispatchers(store=db_path)
    h = named(rx.url("/tx"))
    d.enqueue(h, doc("warm-up"))            # the schema exists before the reader starts
    assert d.flush(10) == []
    stop, seen = threading.Event(), set()
    t = threading.Thread(target=_watch_counts, args=(db_path, stop, seen))
    t.start()
    try:
        time.sleep(0.05)
        if how == "enqueue_many":
            xs = d.enqueue_many([(h, doc(f"D-{i}")) for i in range(n)])
        else:
            b = fwc.Batch(dispatcher=d)
            for i in range(n):
                b.add(h, doc(f"D-{i}"))
            xs = b.commit()
        time.sleep(0.05)
    finally:
        stop.set()
        t.join()
    assert len(xs) == n
    assert seen <= {0, n}, sorted(seen)[:20]
    assert n in seen
    assert d.flush(30) == []


def test_enqueues_from_many_threads_are_each_committed_before_they_return(rx, db_path, dispatchers):
    """8 threads enqueue at once (group commit): every call returns a delivery whose row
    another connection already sees (checked on every 25th), and all of them are stored
    and delivered once."""
    d = dispatchers(store=db_path)
    h = named(rx.url("/threads"))
    d.enqueue(h, doc("warm-up"))
    ids, errors = [], []
    lock = threading.Lock()
    go = threading.Event()

    def work(t):
        con = sqlite3.connect(db_path, timeout=30)
        try:
            go.wait()
            for i in range(300):
                x = d.enqueue(h, doc(f"T{t}-{i}"))
                if i % 25 == 0:
                    n = con.execute("SELECT count(*) FROM fwc_delivery WHERE id = ?", (x.id,)).fetchone()[0]
                    if n != 1:
                        errors.append(f"{x.id} not visible when enqueue returned")
                with lock:
                    ids.append(x.id)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            con.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ids) == len(set(ids)) == 2400
    assert set(ids) <= set(rows_by_id(db_path))
    assert d.flush(30) == []
    got = [hit.headers["webhook-id"] for hit in rx.wait_for("/threads", 2401, timeout=30)]
    assert len(got) == 2401 and set(ids) <= set(got)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="ASan's allocator is not fork-safe")
def test_a_forked_child_leaves_the_parents_store_alone(rx, db_path, dispatchers):
    """A child of fork() inherits the Dispatcher and its store: closing it there must not
    touch the parent's connection nor release the parent's leases; the parent delivers
    everything once."""
    rx.script("/slow", {"delay": 0.5})
    d = dispatchers(store=db_path, max_per_host=1)
    h = named(rx.url("/slow"))
    xs = [d.enqueue(h, doc(f"F-{i}")) for i in range(3)]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            d.close(timeout=0)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    rows = rows_by_id(db_path)
    undelivered = [x.id for x in xs if rows[x.id]["status"] != "delivered"]
    assert undelivered, "everything was delivered before the fork's child closed (test too slow to mean anything)"
    assert all(rows[i]["owner"] == d.owner for i in undelivered), "the child released the parent's leases"
    assert d.flush(20) == []
    time.sleep(0.3)
    assert sorted(hit.headers["webhook-id"] for hit in rx.hits_for("/slow")) == sorted(x.id for x in xs)
    assert sql(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert wait_until(lambda: d.stats()["store"]["delivered"] == 3, 10)


def test_a_corrupt_snapshot_in_the_file_is_not_sent_and_does_not_stop_the_others(rx, db_path, dispatchers):
    """The file is input like any other: a row whose snapshot was damaged is refused (not
    sent, its error says why), and the other stored deliveries are resumed as usual."""
    down = f"http://127.0.0.1:{free_port()}/x"
    d1 = dispatchers(store=db_path)
    xs = [d1.enqueue(named(down, name="resumed", retry_schedule=[0.3]), doc(f"C-{i}")) for i in range(3)]
    assert wait_until(lambda: all(x.attempt >= 1 for x in xs), 10)
    d1.close(timeout=0)
    set_snapshot(db_path, xs[1].id, b"\x00\xff garbage \xff\x00" * 3)
    assert snapshot_of(db_path, xs[1].id) == b"\x00\xff garbage \xff\x00" * 3
    d2 = dispatchers(store=db_path, webhooks=[named(rx.url("/resumed"), name="resumed")])
    hits = rx.wait_for("/resumed", 2, timeout=15)
    assert sorted(h.headers["webhook-id"] for h in hits) == sorted([xs[0].id, xs[2].id])
    # why it is not sent shows in the log (the implementation keeps it stored, as `waiting`)
    why = lambda r: f"{r['error']} {r['waiting']}"   # noqa: E731
    assert wait_until(lambda: "corrupt snapshot" in why(d2.deliveries(reference_document="C-1")[0]), 10), \
        d2.deliveries(reference_document="C-1")
    assert d2.deliveries(reference_document="C-1")[0]["status"].lower() != "delivered"
    time.sleep(0.5)
    assert xs[1].id not in [h.headers["webhook-id"] for h in rx.hits_for("/resumed")]


# ---------- the log: deliveries(), attempts(), stats()["store"] ----------

def test_statuses_are_the_contracts_words(rx, db_path, dispatchers):
    """deliveries()' status is one of "Queued", "Delivered", "Failed", "Exhausted", the
    words of Delivery.status (the contract, as updated), and the status= filter takes any
    case; attempts() word theirs the same way.  (The other tests compare statuses
    case-insensitively: this is the one place that pins the words.)"""
    rx.script("/bad", 500)
    hang = hanging_listener()
    try:
        d = dispatchers(store=db_path)
        x = d.enqueue(named(rx.url("/ok")), doc("A"))
        y = d.enqueue(named(rx.url("/bad"), name="bad", max_retries=0), doc("B"))
        z = d.enqueue(named(rx.url("/bad"), name="later", retry_schedule=[3600]), doc("C"))
        q = d.enqueue(named(f"http://127.0.0.1:{hang.getsockname()[1]}/h", name="hangs", timeout=60), doc("D"))
        assert wait_until(lambda: x.done and y.done and z.attempt == 1, 10)
        assert wait_until(lambda: d.stats()["store"]["failed"] == 1 and d.stats()["store"]["delivered"] == 1, 10)
        by_id = {r["id"]: r["status"] for r in d.deliveries()}
        assert by_id == {x.id: "Delivered", y.id: "Exhausted", z.id: "Failed", q.id: "Queued"}
        for word in ("Delivered", "delivered", "DELIVERED"):
            assert [r["id"] for r in d.deliveries(status=word)] == [x.id]
        assert [a["status"] for a in d.attempts(x.id)] == ["Delivered"]
        assert [a["status"] for a in d.attempts(y.id)] == ["Exhausted"]
        assert [a["status"] for a in d.attempts(z.id)] == ["Failed"]
        assert d.attempts(q.id) == []
        with fwc.Outbox(db_path) as o:
            assert {r["id"]: r["status"] for r in o.deliveries()} == by_id
    finally:
        hang.close()


def test_deliveries_and_attempts_after_500_then_200(rx, db_path, dispatchers):
    rx.script("/flaky", {"status": 500, "body": b"nope", "headers": {"X-Why": "busy"}}, {"status": 200, "body": b"fine"})
    d = dispatchers(store=db_path)
    before = time.time()
    x = d.enqueue(named(rx.url("/flaky"), retry_schedule=[0.1]), doc("T-1"))
    assert wait_until(lambda: x.done, 10)
    assert x.status == "Delivered" and x.attempt == 2
    assert wait_until(lambda: d.deliveries()[0]["status"].lower() == "delivered", 10)
    (row,) = d.deliveries()
    assert set(row) == DELIVERY_KEYS
    assert row["id"] == x.id and row["webhook"] == "store-hook"
    assert (row["reference_doctype"], row["reference_document"]) == ("ToDo", "T-1")
    assert row["status"].lower() == "delivered" and row["attempts"] == 2
    assert row["next_retry"] is None and row["error"] is None and row["waiting"] is None
    assert before - 1 <= row["created"] <= row["updated"] <= time.time() + 1
    att = d.attempts(x.id)
    assert [set(a) for a in att] == [ATTEMPT_KEYS, ATTEMPT_KEYS]
    a1, a2 = att
    assert (a1["attempt"], a2["attempt"]) == (1, 2)
    assert a1["status"].lower() == "failed" and a2["status"].lower() == "delivered"
    assert (a1["response_status"], a2["response_status"]) == (500, 200)
    assert (a1["response_body"], a2["response_body"]) == (b"nope", b"fine")
    assert isinstance(a1["response_body"], bytes)
    assert ("X-Why", "busy") in [tuple(h) for h in a1["response_headers"]]
    assert a1["error"] == "HTTP 500" and a2["error"] is None
    assert a1["url"] == a2["url"] == rx.url("/flaky")
    assert before - 1 <= a1["time"] <= a2["time"] <= time.time() + 1
    assert a1["elapsed"] >= 0 and a2["elapsed"] >= 0
    # the oracle agrees
    r = rows_by_id(db_path)[x.id]
    assert (r["status"].lower(), r["attempts"]) == ("delivered", 2)
    assert attempt_rows(db_path) == ({x.id: 2}, 0)


def test_a_network_error_is_journaled_and_exhausted(db_path, dispatchers):
    d = dispatchers(store=db_path)
    url = f"http://127.0.0.1:{free_port()}/x"
    x = d.enqueue(named(url, max_retries=0), doc("T-9"))
    assert wait_until(lambda: x.done, 10)
    assert wait_until(lambda: d.deliveries()[0]["status"].lower() == "exhausted", 10)
    (row,) = d.deliveries()
    assert row["attempts"] == 1 and row["error"] == "connection refused" and row["next_retry"] is None
    (a,) = d.attempts(x.id)
    assert a["status"].lower() == "exhausted" or a["status"].lower() == "failed"
    assert a["response_status"] is None and a["response_body"] == b"" and a["response_headers"] == []
    assert a["error"] == "connection refused" and a["url"] == url


def test_failed_row_shows_next_retry(rx, db_path, dispatchers):
    rx.script("/down", 503)
    d = dispatchers(store=db_path)
    before = time.time()
    x = d.enqueue(named(rx.url("/down"), retry_schedule=[30]), doc("A"))
    assert wait_until(lambda: x.attempt == 1, 10)
    assert wait_until(lambda: d.deliveries()[0]["status"].lower() == "failed", 10)
    (row,) = d.deliveries()
    assert row["error"] == "HTTP 503" and row["attempts"] == 1
    assert before + 29 <= row["next_retry"] <= time.time() + 31
    assert abs(row["next_retry"] - x.next_retry) < 0.01
    assert row["owner"] == d.owner       # this process holds it, it is scheduled here
    assert d.attempts("msg_doesnotexist000000000000") == []


def test_deliveries_filters_order_and_limit(rx, db_path, dispatchers):
    d = dispatchers(store=db_path)
    a, b = named(rx.url("/a"), name="hook-a"), named(rx.url("/b"), name="hook-b")
    xs = []
    for i in range(6):
        xs.append(d.enqueue(a if i % 2 == 0 else b, {"doctype": "Note" if i < 3 else "ToDo", "name": f"N-{i}"}))
        time.sleep(0.01)
    assert d.flush(10) == []
    t3 = rows_by_id(db_path)[xs[3].id]["created"]
    assert wait_until(lambda: d.stats()["store"]["delivered"] == 6, 10)
    rows = d.deliveries()
    assert [r["id"] for r in rows] == [x.id for x in reversed(xs)]          # newest first
    assert [r["id"] for r in d.deliveries(limit=2)] == [xs[5].id, xs[4].id]
    assert {r["id"] for r in d.deliveries(webhook="hook-a")} == {xs[0].id, xs[2].id, xs[4].id}
    assert [r["id"] for r in d.deliveries(reference_document="N-3")] == [xs[3].id]
    assert [r["id"] for r in d.deliveries(since=t3)] == [xs[5].id, xs[4].id, xs[3].id]
    assert len(d.deliveries(status="delivered")) == 6
    assert d.deliveries(status="failed") == [] and d.deliveries(webhook="nope") == []
    with pytest.raises(ValueError):
        d.deliveries(status="lost")


def test_stats_store_counts_the_whole_file(rx, db_path, dispatchers):
    rx.script("/ok", 200)
    rx.script("/bad", 500)
    d = dispatchers(store=db_path)
    other = dispatchers(store=db_path)        # another dispatcher (another owner) on the same file
    d.enqueue(named(rx.url("/ok")), doc("A"))
    d.enqueue(named(rx.url("/bad"), name="bad", max_retries=0), doc("B"))
    other.enqueue(named(rx.url("/ok"), name="o"), doc("C"))
    other.enqueue(named(rx.url("/bad"), name="later", retry_schedule=[3600]), doc("D"))
    want = {"queued": 0, "delivered": 2, "failed": 1, "exhausted": 1, "waiting": 0}
    assert wait_until(lambda: all(d.stats()["store"][k] == v for k, v in want.items()), 10), d.stats()["store"]
    s = d.stats()["store"]
    assert COUNT_KEYS <= set(s)
    assert s["path"] == db_path
    assert s["leased"] >= 1                 # the failed one is held by `other`, which scheduled it
    assert {k: other.stats()["store"][k] for k in want} == want
    oracle = dict(sql(db_path, "SELECT lower(status), count(*) FROM fwc_delivery GROUP BY lower(status)"))
    assert {k: oracle.get(k, 0) for k in ("queued", "delivered", "failed", "exhausted")} == \
        {k: s[k] for k in ("queued", "delivered", "failed", "exhausted")}
    # the engine's own counters are still there
    assert d.stats()["delivered"] == 1 and other.stats()["delivered"] == 1


def test_no_secret_is_stored(rx, db_path, dispatchers):
    d = dispatchers(store=db_path)
    hooks = [named(rx.url("/std")),
             hook(rx.url("/frappe"), name="frappe-signed", webhook_secret=PLAIN_SECRET),
             hook(rx.url("/gh"), name="gh", webhook_secret=PLAIN_SECRET + "-gh", signature="github")]
    for i in range(20):
        for h in hooks:
            d.enqueue(h, doc(f"S-{i}", description="hello"))
    assert d.flush(20) == []
    assert wait_until(lambda: d.stats()["store"]["delivered"] == 60, 10)
    key = base64.b64decode(SECRET[len("whsec_"):])

    def check():
        files = [db_path + sfx for sfx in ("", "-wal", "-shm", "-journal") if os.path.exists(db_path + sfx)]
        assert os.path.exists(db_path + "-wal") or files
        for f in files:
            raw = open(f, "rb").read()
            for needle in (SECRET.encode(), SECRET[6:].encode(), key, PLAIN_SECRET.encode(),
                           PLAIN_SECRET.encode("utf-16-le")):
                assert needle not in raw, f"secret found in {f}"
        # the requests were signed (so the secrets were there to be stored)
        hit = rx.hits_for("/frappe")[0]
        assert fwc.verify(PLAIN_SECRET, hit.body, hit.headers)

    check()           # while open (the WAL holds the latest pages)
    d.close(timeout=5)
    check()           # after the checkpoint at close


# ---------- purge ----------

def test_purge_removes_delivered_and_exhausted_and_keeps_queued_and_failed(rx, db_path, dispatchers):
    rx.script("/bad", 500)
    hang = hanging_listener()
    try:
        d = dispatchers(store=db_path)
        ok = [d.enqueue(named(rx.url("/ok")), doc(f"OK-{i}")) for i in range(3)]
        ex = d.enqueue(named(rx.url("/bad"), name="ex", max_retries=0), doc("EX"))
        fa = d.enqueue(named(rx.url("/bad"), name="fa", retry_schedule=[3600]), doc("FA"))
        qu = d.enqueue(named(f"http://127.0.0.1:{hang.getsockname()[1]}/h", name="qu", timeout=60), doc("QU"))
        want = {"delivered": 3, "exhausted": 1, "failed": 1, "queued": 1}
        assert wait_until(lambda: all(d.stats()["store"][k] == v for k, v in want.items()), 10), d.stats()["store"]
        assert d.purge(older_than=3600) == 0           # nothing that old
        assert len(rows_by_id(db_path)) == 6
        time.sleep(0.05)
        assert d.purge(older_than=0) == 4
        rows = rows_by_id(db_path)
        assert set(rows) == {fa.id, qu.id}
        assert (rows[fa.id]["status"].lower(), rows[qu.id]["status"].lower()) == ("failed", "queued")
        purged = [x.id for x in ok] + [ex.id]
        # their attempts (and snapshots) went with them
        counts, orphans = attempt_rows(db_path)
        assert orphans == 0, f"{orphans} attempt or snapshot rows of purged deliveries are left behind"
        assert counts == {fa.id: 1}                     # the failed one keeps its attempt
        assert snapshot_of(db_path, fa.id) and snapshot_of(db_path, qu.id)
        assert all(d.attempts(i) == [] for i in purged)
        assert {r["id"] for r in d.deliveries()} == {fa.id, qu.id}
        s = d.stats()["store"]
        assert (s["delivered"], s["exhausted"], s["failed"], s["queued"]) == (0, 0, 1, 1)
        assert d.purge(older_than=0) == 0
        assert d.purge() == 0                            # default: retention (30 days)
    finally:
        hang.close()


def test_retention_is_the_default_of_purge(rx, db_path, dispatchers):
    d = dispatchers(store=db_path, retention=0.5)
    x = d.enqueue(named(rx.url("/ok")), doc("A"))
    assert d.flush(10) == []
    assert wait_until(lambda: d.stats()["store"]["delivered"] == 1, 10)
    assert d.purge() == 0 or x.id not in rows_by_id(db_path)     # not yet 0.5 s old (or already purged)
    time.sleep(0.6)
    d.purge()
    assert x.id not in rows_by_id(db_path)


# ---------- replay ----------

def test_replay_is_a_new_round_with_the_same_id_and_a_fresh_signature(rx, db_path, dispatchers):
    d = dispatchers(store=db_path)
    h = named(rx.url("/r"))
    x = d.enqueue(h, doc("R-1", description="replayed"))
    assert d.flush(10) == []
    assert wait_until(lambda: d.deliveries()[0]["status"].lower() == "delivered", 10)
    time.sleep(1.1)                                    # webhook-timestamp has one-second resolution
    y = d.replay(x.id)
    assert isinstance(y, fwc.Delivery) and y.id == x.id
    assert wait_until(lambda: y.done, 10) and y.status == "Delivered"
    first, second = rx.wait_for("/r", 2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == x.id
    assert int(second.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    assert second.headers["webhook-signature"] != first.headers["webhook-signature"]
    assert first.body == second.body == b'{"id": "R-1"}'
    for hit in (first, second):
        assert fwc.verify(SECRET, hit.body, hit.headers, scheme="standard")
        assert not fwc.verify(OTHER_SECRET, hit.body, hit.headers, scheme="standard")
    assert wait_until(lambda: len(d.attempts(x.id)) == 2, 10)
    att = d.attempts(x.id)
    assert [a["attempt"] for a in att] == [1, 1]        # a replay starts a round
    assert [a["status"].lower() for a in att] == ["delivered", "delivered"]
    assert d.deliveries()[0]["status"].lower() == "delivered"
    assert len(rows_by_id(db_path)) == 1


def test_replay_of_an_unknown_id_is_valueerror(db_path, dispatchers):
    d = dispatchers(store=db_path)
    with pytest.raises(ValueError):
        d.replay("msg_0000000000000000000unknown")


def test_replay_of_an_exhausted_delivery_sends_it_again(rx, db_path, dispatchers):
    rx.script("/x", 500, 200)
    d = dispatchers(store=db_path)
    x = d.enqueue(named(rx.url("/x"), max_retries=0), doc("X"))
    assert wait_until(lambda: x.done, 10) and x.status == "Exhausted"
    assert wait_until(lambda: d.deliveries()[0]["status"].lower() == "exhausted", 10)
    y = d.replay(x.id)
    assert wait_until(lambda: y.done, 10) and y.status == "Delivered"
    assert wait_until(lambda: d.deliveries()[0]["status"].lower() == "delivered", 10)
    assert [h.headers["webhook-id"] for h in rx.hits_for("/x")] == [x.id, x.id]


# ---------- restart: what was stored is resumed ----------

def test_scheduled_retry_resumes_after_a_restart_at_its_time(rx, db_path, dispatchers):
    rx.script("/later", 500, 200)
    h = named(rx.url("/later"), name="later", retry_schedule=[3.0], max_retries=3)
    d1 = dispatchers(store=db_path, webhooks=[h])
    x = d1.enqueue(h, doc("L-1"))
    assert wait_until(lambda: x.attempt == 1, 10) and x.status == "Failed"
    next_retry = x.next_retry
    assert next_retry is not None
    assert wait_until(lambda: d1.deliveries()[0]["status"].lower() == "failed", 10)
    assert abs(d1.deliveries()[0]["next_retry"] - next_retry) < 0.01
    left = d1.close(timeout=5)
    assert [y.id for y in left] == [x.id]
    assert len(rx.hits_for("/later")) == 1
    row = rows_by_id(db_path)[x.id]
    assert row["status"].lower() == "failed" and row["owner"] is None       # close released it
    # a new dispatcher (the same webhook by name, made anew) picks it up at next_retry, not before
    h2 = named(rx.url("/later"), name="later", retry_schedule=[3.0], max_retries=3)
    d2 = dispatchers(store=db_path, webhooks=[h2])
    assert d2.owner != d1.owner
    hits = rx.wait_for("/later", 2, timeout=next_retry - time.time() + 10)
    assert len(hits) == 2, "the retry never came"
    second = hits[1]
    assert wall(second) >= next_retry - 0.05, f"retried {next_retry - wall(second):.3f} s early"
    assert wall(second) <= next_retry + 3.0
    assert second.headers["webhook-id"] == x.id
    assert wait_until(lambda: d2.deliveries()[0]["status"].lower() == "delivered", 10)
    row = d2.deliveries()[0]
    assert row["attempts"] == 2
    assert [a["response_status"] for a in d2.attempts(x.id)] == [500, 200]


def test_close_releases_what_is_in_flight_for_the_next_process(rx, db_path, dispatchers):
    hang = hanging_listener()
    try:
        h = named(f"http://127.0.0.1:{hang.getsockname()[1]}/h", name="moving", timeout=60)
        d1 = dispatchers(store=db_path, webhooks=[h], lease=30)
        xs = [d1.enqueue(h, doc(f"M-{i}")) for i in range(3)]
        time.sleep(0.3)
        left = d1.close(timeout=0.2)
        assert {y.id for y in left} == {x.id for x in xs}
        rows = rows_by_id(db_path)
        # not delivered, and no longer held by anyone (an interrupted attempt may count as failed)
        assert all(rows[x.id]["status"].lower() in ("queued", "failed") and rows[x.id]["owner"] is None for x in xs), rows
    finally:
        hang.close()
    # the next process sends them at once: close() released the leases (30 s would not expire here)
    t0 = time.monotonic()
    d2 = dispatchers(store=db_path, webhooks=[named(rx.url("/moved"), name="moving")], lease=30)
    hits = rx.wait_for("/moved", 3, timeout=10)
    assert sorted(h.headers["webhook-id"] for h in hits) == sorted(x.id for x in xs)
    assert time.monotonic() - t0 < 10
    assert sorted(h.body for h in hits) == [b'{"id": "M-%d"}' % i for i in range(3)]
    assert wait_until(lambda: d2.stats()["store"]["delivered"] == 3, 10)


def test_waiting_for_an_unknown_webhook_then_register(rx, db_path, dispatchers):
    down = f"http://127.0.0.1:{free_port()}/x"
    d1 = dispatchers(store=db_path)
    x = d1.enqueue(named(down, name="later", retry_schedule=[0.3], max_retries=50), doc("W-1"))
    assert wait_until(lambda: x.attempt >= 1, 10)
    d1.close(timeout=0)
    d2 = dispatchers(store=db_path)                   # knows no webhook named "later"
    assert wait_until(lambda: d2.deliveries()[0]["waiting"] is not None, 15), d2.deliveries()
    (row,) = d2.deliveries()
    assert row["id"] == x.id and "later" in row["waiting"]
    assert row["waiting"] == "no webhook named 'later' in this process"
    assert row["status"].lower() in ("queued", "failed")
    assert d2.stats()["store"]["waiting"] == 1
    time.sleep(0.5)
    assert rx.hits_for("/now") == []                 # nothing was sent meanwhile
    d2.register(named(rx.url("/now"), name="later"))  # the stored row names the webhook, not a URL
    (hit,) = rx.wait_for("/now", 1, timeout=15)
    assert hit.headers["webhook-id"] == x.id and hit.body == b'{"id": "W-1"}'
    assert wait_until(lambda: d2.deliveries()[0]["status"].lower() == "delivered", 10)
    assert d2.deliveries()[0]["waiting"] is None
    assert d2.stats()["store"]["waiting"] == 0


def test_resolve_callable_supplies_unknown_webhooks(rx, db_path, dispatchers):
    down = f"http://127.0.0.1:{free_port()}/x"
    d1 = dispatchers(store=db_path)
    a = d1.enqueue(named(down, name="resolved", retry_schedule=[0.2]), doc("A"))
    b = d1.enqueue(named(down, name="unresolvable", retry_schedule=[0.2]), doc("B"))
    assert wait_until(lambda: a.attempt >= 1 and b.attempt >= 1, 10)
    d1.close(timeout=0)
    calls = []
    lock = threading.Lock()

    def resolve(name):
        with lock:
            calls.append(name)
        if name == "resolved":
            return named(rx.url("/resolved"), name="resolved")
        return None

    d2 = dispatchers(store=db_path, resolve=resolve)
    (hit,) = rx.wait_for("/resolved", 1, timeout=15)
    assert hit.headers["webhook-id"] == a.id
    assert wait_until(lambda: "unresolvable" in calls, 10)
    assert wait_until(lambda: d2.stats()["store"]["waiting"] == 1, 10)
    (w,) = d2.deliveries(webhook="unresolvable")
    assert w["id"] == b.id and "unresolvable" in w["waiting"]
    with lock:
        assert calls.count("resolved") == 1        # resolved once, then registered by name


def test_register_replaces_a_webhook_of_the_same_name(rx, db_path, dispatchers):
    """register() replaces the webhook a name stands for: a stored delivery resumed
    afterwards is built from the new one.  (A job already in this process's engine keeps
    the webhook it was enqueued with: the contract does not say otherwise.)"""
    rx.script("/v1", 500)
    d1 = dispatchers(store=db_path)
    x = d1.enqueue(named(rx.url("/v1"), name="versioned", retry_schedule=[1.0]), doc("V"))
    assert wait_until(lambda: x.attempt == 1, 10)
    d1.close(timeout=0)
    d2 = dispatchers(store=db_path, webhooks=[named(rx.url("/v1"), name="versioned")])
    d2.register(named(rx.url("/v2"), name="versioned"))
    (hit,) = rx.wait_for("/v2", 1, timeout=10)
    assert hit.headers["webhook-id"] == x.id
    assert len(rx.hits_for("/v1")) == 1


def test_enqueue_registers_the_webhook_by_name(rx, db_path, dispatchers):
    """Enqueuing registers the hook by name: the retries of what this dispatcher stored need
    no webhooks= (each attempt is built again from the stored snapshot and the named hook)."""
    rx.script("/own", 500, 200)
    d = dispatchers(store=db_path)
    x = d.enqueue(named(rx.url("/own"), name="own", retry_schedule=[0.3]), doc("O"))
    assert wait_until(lambda: x.done, 10) and x.status == "Delivered"
    assert [h.headers["webhook-id"] for h in rx.hits_for("/own")] == [x.id, x.id]


# ---------- failure injection: opening ----------

def test_missing_parent_directory_fails_with_the_path(tmp_path):
    p = str(tmp_path / "no" / "such" / "dir" / "o.db")
    with pytest.raises(Exception) as e:
        fwc.Dispatcher(store=p)
    assert p in str(e.value)
    assert isinstance(e.value, fwc.StoreError)
    assert not os.path.exists(os.path.dirname(p))


def test_read_only_directory_fails_with_the_path(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    p = str(ro / "o.db")
    ro.chmod(0o555)
    try:
        prefix = ()
        if os.geteuid() == 0:        # root writes anywhere: the child runs without CAP_DAC_OVERRIDE
            if not shutil.which("setpriv"):
                pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
            prefix = ("setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner")
        r = run_child("open", "--store", p, prefix=prefix)
        res = last_json(r.stdout)
        assert res["ok"] is False, "opened a store in a read-only directory"
        assert p in res["message"], res
        assert "StoreError" in res["mro"], res
        r = run_child("open", "--store", p, "--outbox", prefix=prefix)
        res = last_json(r.stdout)
        assert res["ok"] is False and p in res["message"], res
    finally:
        ro.chmod(0o755)
    assert os.listdir(ro) == []


def test_a_file_that_is_not_sqlite_fails_with_the_path(tmp_path):
    p = tmp_path / "not.db"
    content = b"this is not a database\n" * 500
    p.write_bytes(content)
    for make in (lambda: fwc.Dispatcher(store=str(p)), lambda: fwc.Outbox(str(p))):
        with pytest.raises(Exception) as e:
            make()
        assert str(p) in str(e.value)
        assert isinstance(e.value, (ValueError, fwc.StoreError)), type(e.value)
    assert p.read_bytes() == content                     # untouched


def test_a_sqlite_file_of_another_application_is_refused(tmp_path):
    p = str(tmp_path / "other.db")
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO customers VALUES (1, 'Acme')")
    con.commit()
    con.close()
    with pytest.raises(ValueError) as e:
        fwc.Dispatcher(store=p)
    assert p in str(e.value)
    tables = {r[0] for r in sql(p, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"customers"}                       # nothing added to someone else's database


def test_an_unknown_schema_version_is_refused(db_path):
    """The schema's version is PRAGMA user_version: a newer one is refused at opening, by
    Dispatcher and Outbox, with the path and the version in the message."""
    d = fwc.Dispatcher(store=db_path)
    d.close()
    assert sql(db_path, "PRAGMA user_version") == [(1,)]
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA user_version = 999")
    con.commit()
    con.close()
    for make in (lambda: fwc.Dispatcher(store=db_path), lambda: fwc.Outbox(db_path)):
        with pytest.raises(ValueError) as e:
            make()
        assert db_path in str(e.value) and "999" in str(e.value), str(e.value)


# ---------- failure injection: a write fails (the file may not grow) ----------

@pytest.mark.parametrize("batch", [1, 40], ids=["enqueue", "enqueue_many"])
def test_a_write_that_fails_raises_storeerror_and_accepts_nothing(tmp_path, batch):
    """RLIMIT_FSIZE in a child (SIGXFSZ ignored): once a store file would grow past the
    limit, write() fails with EFBIG, SQLite fails the commit (SQLITE_FULL or an I/O
    error).  enqueue must raise StoreError naming the path; what it raised for is not
    stored; everything it returned before is (the file is the oracle).  A hanging
    receiver keeps the deliveries in flight, so only intake writes to the file."""
    p = str(tmp_path / "full.db")
    hang = hanging_listener()
    try:
        r = run_child("fill", "--store", p, "--url", f"http://127.0.0.1:{hang.getsockname()[1]}/h",
                      "--timeout", "60", "--n", "20000", "--batch", str(batch), "--extra-bytes", "200000",
                      timeout=120)
    finally:
        hang.close()
    res = last_json(r.stdout)
    err = res["error"]
    assert err is not None, f"no error after {len(res['accepted'])} enqueues of 2 KB with a {res['limit']} B limit"
    assert "StoreError" in err["mro"] and "OSError" in err["mro"], err
    assert p in err["message"], err
    assert len(res["accepted"]) >= 1
    stored = {r[0] for r in sql(p, "SELECT id FROM fwc_delivery")}
    accepted = set(res["accepted"])
    assert accepted <= stored, f"{len(accepted - stored)} accepted deliveries are not in the file"
    extra = stored - accepted
    # besides the accepted ones: only the warm-up row and the one enqueued after the limit was lifted
    after = {res["after"]["id"]} if res["after"]["ok"] else set()
    assert len(extra - after) == 1, f"{len(extra - after) - 1} rows stored for a failed enqueue"
    warm = sql(p, "SELECT id FROM fwc_delivery WHERE reference_document = 'warm-up'")
    assert set(extra - after) == {warm[0][0]}
    assert sql(p, "PRAGMA integrity_check") == [("ok",)]
    # the store keeps working once writes succeed again (not a contract point; reported if it fails)
    assert res["after"]["ok"], res["after"]


def test_a_lock_held_longer_than_busy_timeout_raises_storeerror(rx, db_path, dispatchers):
    """Another connection holds the write lock (BEGIN IMMEDIATE) for longer than
    busy_timeout: enqueue waits about busy_timeout, then raises StoreError naming the
    path, and nothing is stored; once the lock is released enqueue works again."""
    d = dispatchers(store=db_path, busy_timeout=0.3)
    h = named(rx.url("/ok"))
    d.enqueue(h, doc("first"))
    con = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        with pytest.raises(fwc.StoreError) as e:
            d.enqueue(h, doc("blocked"))
        waited = time.monotonic() - t0
        assert db_path in str(e.value)
        assert 0.25 <= waited < 5, waited
        con.execute("ROLLBACK")
    finally:
        con.close()
    x = d.enqueue(h, doc("after"))
    assert d.flush(10) == []
    docs = {r["reference_document"] for r in rows_by_id(db_path).values()}
    assert docs == {"first", "after"}
    assert {hit.headers["webhook-id"] for hit in rx.wait_for("/ok", 2)} >= {x.id}
    time.sleep(0.2)
    assert len(rx.hits_for("/ok")) == 2


# ---------- Outbox (the store without an engine) ----------

def test_outbox_reads_and_administers_the_store(rx, db_path, dispatchers):
    rx.script("/bad", 500)
    d = dispatchers(store=db_path)
    ok = d.enqueue(named(rx.url("/ok")), doc("OK"))
    bad = d.enqueue(named(rx.url("/bad"), name="bad", max_retries=0), doc("BAD"))
    assert wait_until(lambda: d.stats()["store"]["delivered"] == 1 and d.stats()["store"]["exhausted"] == 1, 10)
    with fwc.Outbox(db_path) as o:
        s = o.stats()
        assert COUNT_KEYS <= set(s)
        assert (s["delivered"], s["exhausted"], s["queued"]) == (1, 1, 0)
        assert {r["id"] for r in o.deliveries()} == {ok.id, bad.id}
        assert set(o.deliveries()[0]) == DELIVERY_KEYS
        assert [a["response_status"] for a in o.attempts(bad.id)] == [500]
        rx.script("/bad", 200)
        o.requeue(bad.id)                               # the running dispatcher sends it again
        with pytest.raises(ValueError):
            o.requeue("msg_0000000000000000000unknown")
    assert wait_until(lambda: len(rx.hits_for("/bad")) == 2, 15)
    assert rx.hits_for("/bad")[1].headers["webhook-id"] == bad.id
    assert wait_until(lambda: rows_by_id(db_path)[bad.id]["status"].lower() == "delivered", 10)
    time.sleep(0.05)
    with fwc.Outbox(db_path) as o:
        assert o.purge(older_than=0) == 2
        assert o.deliveries() == []


def test_outbox_after_close_is_an_error(db_path):
    fwc.Dispatcher(store=db_path).close()
    o = fwc.Outbox(db_path)
    o.close()
    o.close()
    with pytest.raises((ValueError, RuntimeError)):
        o.stats()


# ---------- the CLI: python -m frappe_webhook_c outbox PATH ... ----------

class TestOutboxCLI:
    """`python -m frappe_webhook_c outbox PATH stats|list|show ID|replay ID|purge [--json]`
    (another helper writes the CLI: the expectations are in this class only)."""

    @staticmethod
    def cli(*args, ok=True):
        r = subprocess.run([sys.executable, "-m", "frappe_webhook_c", "outbox", *args], capture_output=True,
                           text=True, timeout=60)
        if ok:
            assert r.returncode == 0, r.stderr
        return r

    @pytest.fixture
    def filled(self, rx, db_path):
        rx.script("/bad", {"status": 500, "body": b"status 500"})
        d = fwc.Dispatcher(store=db_path)
        ok = [d.enqueue(named(rx.url("/ok")), doc(f"OK-{i}")) for i in range(3)]
        bad = d.enqueue(named(rx.url("/bad"), name="bad", max_retries=0), doc("BAD"))
        assert wait_until(lambda: d.stats()["store"]["delivered"] == 3 and d.stats()["store"]["exhausted"] == 1, 10)
        d.close()
        return {"ok": [x.id for x in ok], "bad": bad.id, "rx": rx}

    def test_stats(self, db_path, filled):
        s = json.loads(self.cli(db_path, "stats", "--json").stdout)
        assert (s["delivered"], s["exhausted"], s["queued"], s["failed"]) == (3, 1, 0, 0)
        text = self.cli(db_path, "stats").stdout
        assert "delivered" in text and "3" in text

    def test_list(self, db_path, filled):
        rows = json.loads(self.cli(db_path, "list", "--json").stdout)
        assert {r["id"] for r in rows} == set(filled["ok"]) | {filled["bad"]}
        assert [r["id"] for r in rows][-1] == filled["ok"][0]          # newest first
        assert DELIVERY_KEYS <= set(rows[0])
        rows = json.loads(self.cli(db_path, "list", "--status", "exhausted", "--json").stdout)
        assert [r["id"] for r in rows] == [filled["bad"]]
        rows = json.loads(self.cli(db_path, "list", "--webhook", "bad", "--json").stdout)
        assert [r["id"] for r in rows] == [filled["bad"]]
        rows = json.loads(self.cli(db_path, "list", "--reference-document", "OK-1", "--json").stdout)
        assert [r["id"] for r in rows] == [filled["ok"][1]]
        assert len(json.loads(self.cli(db_path, "list", "--limit", "2", "--json").stdout)) == 2
        text = self.cli(db_path, "list").stdout
        assert all(i in text for i in filled["ok"])

    def test_show(self, db_path, filled):
        out = json.loads(self.cli(db_path, "show", filled["bad"], "--json").stdout)
        assert out["delivery"]["id"] == filled["bad"] and out["delivery"]["status"].lower() == "exhausted"
        assert [a["response_status"] for a in out["attempts"]] == [500]
        assert out["attempts"][0]["response_body"] == "status 500"    # UTF-8 bodies as text
        text = self.cli(db_path, "show", filled["bad"]).stdout
        assert filled["bad"] in text and "500" in text
        r = self.cli(db_path, "show", "msg_0000000000000000000unknown", ok=False)
        assert r.returncode == 2 and "msg_0000000000000000000unknown" in r.stderr

    def test_replay_is_sent_by_a_running_process(self, db_path, filled):
        rx = filled["rx"]
        rx.script("/bad", 200)
        out = json.loads(self.cli(db_path, "replay", filled["bad"], "--json").stdout)
        assert out["id"] == filled["bad"]
        row = rows_by_id(db_path)[filled["bad"]]
        assert row["status"].lower() == "queued"
        d = fwc.Dispatcher(store=db_path, webhooks=[named(rx.url("/bad"), name="bad")])
        try:
            assert wait_until(lambda: len(rx.hits_for("/bad")) == 2, 15)
            assert rx.hits_for("/bad")[1].headers["webhook-id"] == filled["bad"]
        finally:
            d.close()
        r = self.cli(db_path, "replay", "msg_0000000000000000000unknown", ok=False)
        assert r.returncode == 2 and "msg_0000000000000000000unknown" in r.stderr

    def test_purge(self, db_path, filled):
        time.sleep(0.05)
        out = json.loads(self.cli(db_path, "purge", "--older-than", "3600", "--json").stdout)
        assert out["purged"] == 0 and len(rows_by_id(db_path)) == 4
        assert "purged 0" in self.cli(db_path, "purge").stdout           # default: the retention (30 days)
        out = json.loads(self.cli(db_path, "purge", "--older-than", "0", "--json").stdout)
        assert out["purged"] == 4
        assert rows_by_id(db_path) == {}

    def test_errors_name_the_path(self, tmp_path):
        p = tmp_path / "garbage.db"
        p.write_bytes(b"not sqlite at all\n" * 300)
        r = self.cli(str(p), "stats", ok=False)
        assert r.returncode == 2 and str(p) in r.stderr
        missing = str(tmp_path / "missing.db")
        r = self.cli(missing, "stats", ok=False)
        assert r.returncode == 2 and missing in r.stderr
        assert not os.path.exists(missing)                # inspecting does not create an outbox
