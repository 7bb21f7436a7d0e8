"""The durable store across processes (issue 13): a sender killed with SIGKILL, and two or
four processes sharing one store file, against the counting receiver
(tests/support/counting_receiver.py, a process of its own that records every webhook-id).

The senders are tests/support/store_child.py processes.  "Accepted" means: enqueue (or
enqueue_many) returned and the child then wrote the id to its accepted file (one
O_APPEND write per enqueue call).  A SIGKILL cannot lose what write() put in the page
cache, so the file holds exactly the ids accepted before the kill, give or take the one
being written: an id enqueue accepted but not yet written is stored and may be delivered
too, which is allowed (at least once), never required.

The long tests (10 000 and 20 000 deliveries) carry a pytest timeout mark and run in
`make test` like the others; together they take well under a minute on 2 CPUs."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import frappe_webhook_c as fwc
from support.counting_receiver import CountingReceiver
from support.loopback import free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "support", "store_child.py")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SANITIZED = "asan" in os.environ.get("LD_PRELOAD", "")
SCALE = 4 if SANITIZED else 1
MAX_PER_HOST = 16          # each child's transfers in flight to the (one) receiver
# Outcomes a process had but the store had not journaled yet when it was killed: the
# receiver got those requests (and answered them), the file still says "not delivered",
# so the next owner sends them again.  The journal commits outcomes in batches about as
# fast as they come; at the receivers' rates here (<= ~6000/s) a batch that took half a
# second to commit is ~3000 outcomes, and a sane journal is far below that: 400 is a
# loose bound that still catches a journal that never writes or lags by seconds.
JOURNAL_SLACK = 400



def hook(url, name="store-hook"):
    return fwc.Webhook(url, name=name, allow_private_networks=True, webhook_data=[("name", "id"), ("blob", "blob")],
                       webhook_secret=SECRET, signature="standard", retry_schedule=[0.5], retry_jitter=0,
                       max_retries=100, timeout=10)


class Child:
    """A store_child.py process; its stdout lines are collected by a thread."""

    def __init__(self, *args):
        env = dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, CHILD, *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        self.err = []
        self.cond = threading.Condition()
        self.eof = False                         # stdout read to its end (the process is gone)
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()

    def _read(self, f, into):
        for line in f:
            with self.cond:
                into.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            if into is self.lines:
                self.eof = True
            self.cond.notify_all()

    def wait_line(self, prefix, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for ln in self.lines:
                    if ln.startswith(prefix):
                        return ln
                left = end - time.monotonic()
                if left <= 0 or self.eof:
                    raise AssertionError(f"child never printed {prefix!r} (rc={self.proc.poll()}):\n"
                                         + "\n".join(self.lines[-20:] + self.err[-40:]))
                self.cond.wait(min(left, 0.1))

    def result(self, timeout=60):
        rc = self.proc.wait(timeout)
        line = self.wait_line("result ", 5)
        assert rc == 0, "\n".join(self.err[-40:])
        return json.loads(line[len("result "):])

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def read_accepted(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        data = f.read()
    lines = data.split("\n")
    return [ln for ln in lines[:-1] if ln]      # a last line without its newline was cut by the kill


def db_rows(path):
    con = sqlite3.connect(path, timeout=60)
    try:
        return dict(con.execute("SELECT id, lower(status) FROM fwc_delivery").fetchall())
    finally:
        con.close()


def produce_args(store, url, n, prefix, accepted, *extra):
    return ["produce", "--store", store, "--url", url, "--n", n, "--prefix", prefix, "--accepted", accepted,
            "--lease", "1", "--max-connections", MAX_PER_HOST, "--max-per-host", MAX_PER_HOST, *extra]


def duplicates(ids):
    return {i: c for i, c in ids.items() if c > 1}


# ---------- a sender killed in the middle of sending ----------

@pytest.mark.timeout(300)
def test_sigkill_mid_send_every_accepted_id_is_delivered_by_the_next_process(tmp_path):
    """A child stores 10 000 deliveries while the receiver is down (connection refused:
    every first attempt fails and is rescheduled), the receiver comes up, the child is
    killed with SIGKILL once ~1500 have arrived; a new process opening the store (the
    webhook registered by name, lease 1 s) delivers every accepted id at least once.
    Ids received twice can only be ones the receiver had got before the kill while the
    file did not say "delivered": in flight (at most max_per_host = 16) or answered but
    not yet journaled (JOURNAL_SLACK)."""
    n = 10_000 // SCALE
    store = str(tmp_path / "outbox.db")
    acc = str(tmp_path / "accepted.txt")
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    child = Child(*produce_args(store, url, n, "CRASH", acc, "--retry", "1", "--jitter", "0.5",
                                "--stop", tmp_path / "never", "--max-seconds", 600))
    rx = CountingReceiver(port=port, delay_ms=20)
    try:
        child.wait_line("enqueued", 120)
        accepted = read_accepted(acc)
        assert len(accepted) == n and len(set(accepted)) == n
        assert all(i.startswith("msg_") and len(i) == 28 for i in accepted)
        rows = db_rows(store)
        assert set(accepted) <= set(rows), "accepted deliveries missing from the file"
        assert rows and all(s in ("queued", "failed") for s in rows.values())
        rx.start()                              # the receiver comes up: retries start arriving
        rep = rx.wait_for_count(1500, timeout=60)
        assert len(rep["ids"]) >= 1500, f"only {len(rep['ids'])} arrived in 60 s"
        child.kill()
        time.sleep(0.5)                         # the receiver reads what the dead sockets still held
        at_kill = rx.report()["ids"]
        rows = db_rows(store)
        journaled = {i for i, s in rows.items() if s == "delivered"}
        assert len(at_kill) < n, "the child delivered everything before it was killed"
        assert journaled <= set(at_kill), "the file says delivered for ids the receiver never got"
        unjournaled = set(at_kill) - journaled
        print(f"\nat the kill: {len(at_kill)} received, {len(journaled)} journaled delivered, "
              f"{len(unjournaled)} received but not journaled")
        assert len(unjournaled) <= MAX_PER_HOST + JOURNAL_SLACK
        assert not duplicates(at_kill), "duplicates before any crash"

        rx.set_delay(0)
        t0 = time.monotonic()
        with fwc.Dispatcher(store=store, webhooks=[hook(url)], lease=1.0, max_queue=1_000_000) as d:
            rep = rx.wait_for_ids(accepted, timeout=120)
            took = time.monotonic() - t0
            missing = set(accepted) - rep["ids"].keys()
            assert not missing, f"{len(missing)} accepted ids never delivered, e.g. {sorted(missing)[:5]}"
            time.sleep(1.0)                     # anything sent twice by the new process shows up now
            final = rx.report()["ids"]
            assert all(final[i] == at_kill[i] for i in journaled), "journaled deliveries were sent again"
            dups = duplicates(final)
            print(f"resumed in {took:.1f} s; {len(dups)} duplicate ids (in flight or not journaled at the kill):")
            for i, c in sorted(dups.items()):
                print(f"  {i} x{c}")
            assert set(dups) <= unjournaled
            assert max(final.values()) <= 2
            assert len(dups) <= MAX_PER_HOST + JOURNAL_SLACK
            assert set(final) <= set(rows), "a delivery that was never stored was sent"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and d.stats()["store"]["delivered"] < n:
                time.sleep(0.1)
            s = d.stats()["store"]
            assert s["delivered"] == n and s["queued"] == s["failed"] == s["waiting"] == 0, s
        rows = db_rows(store)
        assert all(rows[i] == "delivered" for i in accepted)
    finally:
        child.cleanup()
        rx.stop()


@pytest.mark.timeout(300)
def test_sigkill_mid_enqueue_every_accepted_id_is_delivered(tmp_path):
    """The child is killed while it is still enqueuing (the receiver up and slow): what it
    had accepted is delivered by the next process; what it had stored without reporting
    it accepted may be delivered too; nothing else is sent."""
    n = 10_000 // SCALE
    store = str(tmp_path / "outbox.db")
    acc = str(tmp_path / "accepted.txt")
    with CountingReceiver(delay_ms=5) as rx:
        url = rx.url("/hook")
        child = Child(*produce_args(store, url, n, "ENQ", acc, "--stop", tmp_path / "never", "--max-seconds", 600))
        try:
            child.wait_line("ready", 60)
            end = time.monotonic() + 60
            while len(read_accepted(acc)) < n // 5 and time.monotonic() < end:
                time.sleep(0.001)
            child.kill()
            finished = any(ln.startswith("enqueued") for ln in child.lines)
            accepted = read_accepted(acc)
            print(f"\nkilled after {len(accepted)} accepted (enqueue {'had' if finished else 'had not'} finished)")
            assert len(accepted) >= n // 5
            stored = db_rows(store)
            assert set(accepted) <= set(stored)
            with fwc.Dispatcher(store=store, webhooks=[hook(url)], lease=1.0) as d:
                rep = rx.wait_for_ids(accepted, timeout=120)
                missing = set(accepted) - rep["ids"].keys()
                assert not missing, f"{len(missing)} accepted ids never delivered"
                assert set(rep["ids"]) <= set(stored)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and d.stats()["store"]["delivered"] < len(stored):
                    time.sleep(0.1)
                assert d.stats()["store"]["delivered"] == len(stored)
                final = rx.report()["ids"]
                dups = duplicates(final)
                print(f"{len(dups)} duplicate ids")
                assert len(dups) <= MAX_PER_HOST + JOURNAL_SLACK
        finally:
            child.cleanup()


# ---------- several processes on one store ----------

def merged(*reports):
    out = {}
    for rep in reports:
        for i, c in rep["ids"].items():
            out[i] = out.get(i, 0) + c
    return out


def _run_processes(tmp_path, procs, total, kill_one):
    """procs children enqueue total // procs deliveries each at once (a start barrier)
    and deliver them.  With kill_one, process 0 (the victim) sends to a slow receiver of
    its own (50 ms an answer: ~320 deliveries/s), so that it still holds most of its work
    when it is killed; the survivors, whose webhook of the same name points to the fast
    receiver, must claim it once its 1 s lease expires (a stored row names its webhook,
    not a URL).  Receipts are counted over both receivers."""
    store = str(tmp_path / "shared.db")
    go, stop = str(tmp_path / "go"), str(tmp_path / "stop")
    per = total // procs
    with CountingReceiver() as rx, CountingReceiver(delay_ms=50) as slow:
        children = []
        try:
            for k in range(procs):
                # half of them enqueue one by one, the others in batches (enqueue_many)
                batch = 1 if k % 2 == 0 else 25
                url = slow.url("/hook") if kill_one and k == 0 else rx.url("/hook")
                children.append(Child(*produce_args(store, url, per, f"P{k}", tmp_path / f"acc{k}.txt",
                                                    "--go", go, "--stop", stop, "--batch", batch,
                                                    "--max-seconds", 600)))
            for c in children:
                c.wait_line("ready", 60)     # every process opened the store (the first created it)
            t0 = time.monotonic()
            open(go, "w").close()            # all enqueue at once: their commits contend for the file
            if kill_one:
                children[0].wait_line("enqueued", 120)
                t_victim = time.monotonic() - t0
                slow.wait_for_count(100, timeout=60)
                before_fast = rx.report()
                before = merged(before_fast, slow.report())
                children[0].kill()
            for c in children:
                c.wait_line("enqueued", 120)
            t_enq = time.monotonic() - t0
            accepted = {k: read_accepted(str(tmp_path / f"acc{k}.txt")) for k in range(procs)}
            every = [i for ids in accepted.values() for i in ids]
            assert len(every) == total and len(set(every)) == total
            victim_ids = set()
            victim_sent = {}
            if kill_one:
                time.sleep(0.5)              # `slow` reads what the victim's dead sockets still held
                # only the victim sends to `slow`: what it holds now is all the victim ever sent
                victim_sent = slow.report()["ids"]
                victim_ids = set(accepted[0])
                got = len(victim_ids & victim_sent.keys())
                # the victim sends to `slow` only: its ids at the fast receiver before it died
                # were taken from a live process
                stolen = victim_ids & before_fast["ids"].keys()
                print(f"\nkilled process 0 {t_victim:.1f} s after the start, when it had sent {got} of its {per} "
                      f"deliveries; {len(stolen)} of them sent by other processes while it was alive")
                assert not duplicates(before), f"{len(duplicates(before))} ids received twice before any crash"
                assert not stolen, "a live process's deliveries were taken over (its lease was not renewed?)"
                assert got < per, "the victim had delivered everything before it was killed"
            end = time.monotonic() + 120
            while True:
                final = merged(rx.report(), slow.report())
                missing = set(every) - final.keys()
                if not missing or time.monotonic() > end:
                    break
                time.sleep(0.2)
            t_all = time.monotonic() - t0
            assert not missing, f"{len(missing)} accepted ids never delivered, e.g. {sorted(missing)[:5]}"
            time.sleep(1.0)                  # a late duplicate would arrive now
            open(stop, "w").close()
            results = [c.result(60) for c in children[1 if kill_one else 0:]]
            final = merged(rx.report(), slow.report())
            dups = duplicates(final)
            print(f"{procs} processes: enqueued {total} in {t_enq:.1f} s, all received after {t_all:.1f} s; "
                  f"{len(dups)} duplicates")
            for i, c in sorted(dups.items())[:50]:
                print(f"  {i} x{c}")
            assert set(final) == set(every), "ids that were never accepted were sent"
            if not kill_one:
                assert not dups, f"{len(dups)} ids delivered more than once without any crash"
                assert sum(final.values()) == total
                assert all(r["undelivered"] == [] for r in results)
            else:
                assert set(dups) <= victim_ids, "a survivor's own deliveries were sent twice"
                assert set(dups) <= set(victim_sent), "a duplicate the victim had not sent before it died"
                assert all(victim_sent[i] == 1 for i in victim_sent), "the victim sent an id twice"
                assert len(dups) <= MAX_PER_HOST + JOURNAL_SLACK
                assert max(final.values()) <= 2
            rows = db_rows(store)
            assert len(rows) == total
            assert all(s == "delivered" for s in rows.values()), \
                {s: list(rows.values()).count(s) for s in set(rows.values())}
            con = sqlite3.connect(store, timeout=60)
            try:
                owners = con.execute("SELECT count(*) FROM fwc_delivery WHERE owner IS NOT NULL").fetchone()[0]
                attempts = dict(con.execute("SELECT attempts, count(*) FROM fwc_delivery GROUP BY attempts").fetchall())
            finally:
                con.close()
            assert owners == 0, "leases left after every survivor closed"
            if not kill_one:
                assert attempts == {1: total}, attempts
        finally:
            for c in children:
                c.cleanup()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("procs", [2, 4])
def test_processes_on_one_store_deliver_each_id_exactly_once(tmp_path, procs):
    _run_processes(tmp_path, procs, 20_000 // SCALE, kill_one=False)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("procs", [2, 4])
def test_a_killed_lease_holders_work_is_taken_over(tmp_path, procs):
    _run_processes(tmp_path, procs, 20_000 // SCALE, kill_one=True)


# ---------- a lease held by another live process ----------

def test_replay_of_a_delivery_held_by_another_live_process_is_refused(tmp_path):
    store = str(tmp_path / "held.db")
    acc = str(tmp_path / "acc.txt")
    stop = str(tmp_path / "stop")
    with CountingReceiver(status=500) as rx:
        url = rx.url("/hook")
        child = Child(*produce_args(store, url, 1, "HELD", acc, "--retry", "3600", "--stop", stop))
        try:
            child.wait_line("enqueued", 60)
            (xid,) = read_accepted(acc)
            rx.wait_for_ids([xid], timeout=10)
            time.sleep(1.5)                    # longer than the child's lease: it must have renewed it
            d = fwc.Dispatcher(store=store, webhooks=[hook(url)])
            try:
                with pytest.raises(ValueError):
                    d.replay(xid)
                with fwc.Outbox(store) as o:
                    with pytest.raises(ValueError):
                        o.requeue(xid)
                    (row,) = o.deliveries()
                    assert row["owner"] and row["owner"] != d.owner and row["status"].lower() == "failed"
                    assert o.stats()["leased"] == 1
                open(stop, "w").close()        # the child closes: its lease is released
                child.result(60)
                rx.set_status(200)
                y = d.replay(xid)
                assert y.id == xid
                deadline = time.monotonic() + 10
                while not y.done and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert y.status == "Delivered"
                assert rx.report()["ids"][xid] == 2
            finally:
                d.close()
        finally:
            child.cleanup()


# ---------- a lease holder that hangs ----------

@pytest.mark.timeout(300)
def test_a_hung_lease_holder_loses_its_work_after_the_lease_and_does_not_send_it_again(tmp_path):
    """The takeover by lease expiry (a live but hung process; a dead local one is taken
    over at once): process A holds 3000 deliveries to a slow receiver of its own and is
    stopped (SIGSTOP) while sending; process B, started afterwards with the webhook of
    the same name pointing to the fast receiver, takes them over once A's 1 s lease has
    expired.  Then A continues (SIGCONT): what B took is no longer A's, so A must not send
    it again; only what A had in flight when it stopped may reach a receiver twice."""
    n = 3000 // SCALE
    store = str(tmp_path / "hung.db")
    stop = str(tmp_path / "stop")
    with CountingReceiver() as rx, CountingReceiver(delay_ms=50) as slow:
        a = Child(*produce_args(store, slow.url("/hook"), n, "HUNG", tmp_path / "acc_a.txt", "--stop", stop))
        b = None
        try:
            a.wait_line("enqueued", 60)
            slow.wait_for_count(100, timeout=30)
            # A must not be stopped inside a write transaction: SQLite's write lock would then
            # stay held (every other process's write fails after busy_timeout, as documented).
            # So no more answers reach A (nothing to journal), and A is stopped again until the
            # lock is seen free while it is stopped.
            slow.set_delay(60_000)
            time.sleep(0.5)
            for _ in range(50):
                a.proc.send_signal(signal.SIGSTOP)
                t_stop = time.monotonic()
                time.sleep(0.05)
                con = sqlite3.connect(store, timeout=0.2, isolation_level=None)
                try:
                    con.execute("BEGIN IMMEDIATE")
                    con.execute("ROLLBACK")
                    break
                except sqlite3.OperationalError:
                    a.proc.send_signal(signal.SIGCONT)
                    time.sleep(0.02)
                finally:
                    con.close()
            else:
                raise AssertionError("A always held the write lock")
            time.sleep(0.3)
            sent_by_a = slow.report()["ids"]
            accepted = read_accepted(str(tmp_path / "acc_a.txt"))
            assert len(accepted) == n and len(sent_by_a) < n
            b = Child(*produce_args(store, rx.url("/hook"), 0, "B", tmp_path / "acc_b.txt", "--stop", stop))
            b.wait_line("enqueued", 60)
            first = rx.wait_for_count(1, timeout=30)
            took = time.monotonic() - t_stop
            assert first["ids"], "B never took over the hung process's deliveries"
            print(f"\nA stopped after sending {len(sent_by_a)} of {n}; B's first takeover {took:.1f} s later")
            assert took >= 0.9, "deliveries leased by a live process were taken over before the lease expired"
            rep = rx.wait_for_ids(set(accepted) - set(sent_by_a), timeout=60)
            missing = set(accepted) - set(sent_by_a) - rep["ids"].keys()
            assert not missing, f"{len(missing)} of the hung process's deliveries were never taken over"
            slow.set_delay(0)                    # A's transfers in flight are answered now
            a.proc.send_signal(signal.SIGCONT)
            time.sleep(2.0)                      # A wakes up with B's deliveries still in its queue
            open(stop, "w").close()
            a.result(60)
            b.result(60)
            final = merged(rx.report(), slow.report())
            dups = duplicates(final)
            again = {i for i in slow.report()["ids"] if i not in sent_by_a}
            print(f"after A continued: it sent {len(again)} more, {len(dups)} ids received twice")
            assert set(final) == set(accepted)
            assert len(dups) <= MAX_PER_HOST + JOURNAL_SLACK, \
                f"{len(dups)} duplicates: the hung process sent deliveries it no longer held"
            rows = db_rows(store)
            assert all(rows[i] == "delivered" for i in accepted)
        finally:
            if a.proc.poll() is None:
                a.proc.send_signal(signal.SIGCONT)
            a.cleanup()
            if b is not None:
                b.cleanup()
