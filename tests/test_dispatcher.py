"""Dispatcher: background delivery on native threads, against real loopback receivers.

Retry schedules are short (tens of milliseconds); assertions are on counts, orders and
lower bounds of waits, with generous upper margins for a loaded machine."""
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import frappe_webhook_c as fwc
from support.dispatch_receiver import ScriptedReceiver, doc, hook, wait_until
from support.loopback import free_port  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"




@pytest.fixture(params=[True, False], ids=["native", "libcurl"])
def make_dispatcher(request, dispatchers):
    """Dispatchers of both transports for plain http: the native HTTP/1.1 client (the
    default) and libcurl, which must behave the same."""
    return lambda **kw: dispatchers(**{"native_http": request.param, **kw})


# ---------- the basics ----------

def test_enqueue_returns_at_once_and_delivers(rx, make_dispatcher):
    d = make_dispatcher()
    h = hook(rx.url("/ok"), name="todo-hook", webhook_data=[("name", "id"), ("description", "text")],
             webhook_secret="s3cret")
    x = d.enqueue(h, doc("T-1", description="hello"))
    assert isinstance(x, fwc.Delivery)
    assert x.id.startswith("msg_") and len(x.id) == 28
    assert (x.webhook, x.reference_doctype, x.reference_document) == ("todo-hook", "ToDo", "T-1")
    assert x.method == "POST" and x.url == rx.url("/ok")
    assert d.flush(timeout=10) == []
    assert x.status == "Delivered" and x.done and x.attempt == 1
    assert x.response_status == 200 and x.response_body == b"ok" and x.error is None
    assert x.next_retry is None and x.elapsed >= 0
    (hit,) = rx.hits_for("/ok")
    assert hit.body == x.body == b'{"id": "T-1", "text": "hello"}'
    # the request the receiver got is the one the Delivery shows; the secret is nowhere
    assert ("X-Frappe-Webhook-Signature", hit.headers["x-frappe-webhook-signature"]) in x.headers
    assert fwc.verify("s3cret", hit.body, {"X-Frappe-Webhook-Signature": hit.headers["x-frappe-webhook-signature"]})
    assert "s3cret" not in repr(x.headers) and "s3cret" not in repr(x)
    assert ("Content-Length", "0") not in (x.response_headers or [])
    assert dict(x.response_headers)["Content-Length"] == "2"
    s = d.stats()
    assert (s["delivered"], s["enqueued"], s["attempts"], s["queued"], s["in_flight"]) == (1, 1, 1, 0, 0)


def test_delivery_before_its_attempt(rx, make_dispatcher):
    rx.script("/slow", {"delay": 0.5})
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/slow")), doc("A"))
    assert x.status == "Queued" and x.attempt == 0 and not x.done
    assert x.body is None and x.headers is None and x.response_status is None and x.error is None
    assert "Queued" in repr(x)
    d.flush(10)
    assert x.status == "Delivered"


def test_500_then_200_is_delivered_on_attempt_2(rx, make_dispatcher):
    rx.script("/flaky", 500, 200)
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/flaky")), doc("A"))
    assert wait_until(lambda: x.done)
    assert x.status == "Delivered" and x.attempt == 2 and x.response_status == 200 and x.error is None
    assert len(rx.hits_for("/flaky")) == 2
    s = d.stats()
    assert (s["delivered"], s["failed_attempts"], s["attempts"]) == (1, 1, 2)


def test_always_500_is_exhausted_after_max_retries_plus_one(rx, make_dispatcher):
    rx.script("/down", 500)
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/down"), max_retries=2), doc("A"))
    assert wait_until(lambda: x.done)
    assert x.status == "Exhausted" and x.attempt == 3 and x.response_status == 500 and x.error == "HTTP 500"
    time.sleep(0.2)   # nothing more comes
    assert len(rx.hits_for("/down")) == 3
    assert d.stats()["exhausted"] == 1 and d.stats()["failed_attempts"] == 3


def test_failed_status_and_next_retry_while_waiting(rx, make_dispatcher):
    rx.script("/down", 503)
    d = make_dispatcher()
    before = time.time()
    x = d.enqueue(hook(rx.url("/down"), retry_schedule=[30]), doc("A"))
    assert wait_until(lambda: x.attempt == 1)
    assert x.status == "Failed" and not x.done and x.error == "HTTP 503"
    assert before + 29 <= x.next_retry <= time.time() + 31
    assert [y.id for y in d.scheduled()] == [x.id]
    assert d.stats()["scheduled"] == 1


def test_zero_retries(rx, make_dispatcher):
    rx.script("/down", 500)
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/down"), max_retries=0), doc("A"))
    assert wait_until(lambda: x.done)
    assert x.status == "Exhausted" and x.attempt == 1


def test_retry_after_on_429_waits_at_least_that_long(rx, make_dispatcher):
    rx.script("/busy", {"status": 429, "headers": {"Retry-After": "1"}}, 200)
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/busy"), retry_schedule=[0.05, 5]), doc("A"))
    assert wait_until(lambda: x.done)
    first, second = rx.hits_for("/busy")
    assert second.at - first.at >= 0.95
    assert x.status == "Delivered" and x.attempt == 2


def test_retry_after_is_capped_at_the_longest_step(rx, make_dispatcher):
    rx.script("/busy", {"status": 503, "headers": {"Retry-After": "3600"}}, 200)
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/busy"), retry_schedule=[0.05, 0.3]), doc("A"))
    assert wait_until(lambda: x.done)
    first, second = rx.hits_for("/busy")
    assert 0.25 <= second.at - first.at < 3.0
    assert x.status == "Delivered"


def test_retry_after_http_date(rx, make_dispatcher):
    from email.utils import formatdate
    when = formatdate(time.time() + 2, usegmt=True)
    rx.script("/busy", {"status": 503, "headers": {"Retry-After": when}}, 200)
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/busy"), retry_schedule=[0.05, 10]), doc("A"))
    assert wait_until(lambda: x.done)
    first, second = rx.hits_for("/busy")
    assert second.at - first.at >= 0.9    # the date has one-second resolution


def test_410_is_exhausted_at_once(rx, make_dispatcher):
    rx.script("/gone", 410)
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/gone"), max_retries=5), doc("A"))
    assert wait_until(lambda: x.done)
    assert x.status == "Exhausted" and x.attempt == 1 and x.response_status == 410
    assert "410" in x.error and "not retried" in x.error
    time.sleep(0.2)
    assert len(rx.hits_for("/gone")) == 1


def test_connection_refused_is_retried_then_exhausted(make_dispatcher):
    d = make_dispatcher()
    x = d.enqueue(hook(f"http://127.0.0.1:{free_port()}/x", max_retries=1), doc("A"))
    assert wait_until(lambda: x.done)
    assert x.status == "Exhausted" and x.attempt == 2
    assert x.error == "connection refused" and x.response_status is None


def test_timeout(rx, make_dispatcher):
    rx.script("/hang", {"delay": 3})
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/hang"), timeout=0.3, max_retries=0), doc("A"))
    assert wait_until(lambda: x.done)
    assert x.status == "Exhausted" and "timed out" in x.error


def test_reset(rx, make_dispatcher):
    rx.script("/reset", {"reset": True})
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/reset"), max_retries=1), doc("A"))
    assert wait_until(lambda: x.done)
    assert x.status == "Exhausted" and x.attempt == 2
    assert "reset" in x.error or "closed" in x.error


def test_ssrf_refusal_is_not_retried(rx, make_dispatcher):
    d = make_dispatcher()
    x = d.enqueue(hook(rx.url("/x"), allow_private_networks=False, max_retries=3), doc("A"))
    assert wait_until(lambda: x.done)
    assert x.status == "Exhausted" and x.attempt == 1 and "loopback" in x.error
    assert rx.hits_for("/x") == []


def test_a_body_that_cannot_be_built_is_exhausted_not_raised(rx, make_dispatcher):
    d = make_dispatcher()
    # a valid template whose output is not JSON: {"name": A}
    h = fwc.Webhook(rx.url("/x"), allow_private_networks=True, request_structure="JSON",
                    webhook_json='{"name": {{ doc.name }}}', max_retries=3)
    x = d.enqueue(h, doc("A"))     # no exception here
    assert wait_until(lambda: x.done)
    assert x.status == "Exhausted" and x.attempt == 1
    assert x.error.startswith("could not build the request: TemplateError")
    assert x.body is None and x.response_status is None
    assert rx.hits_for("/x") == []


# ---------- signatures ----------

def test_standard_signature_recomputed_per_attempt_with_the_same_id(rx, make_dispatcher):
    rx.script("/flaky", 500, 200)
    d = make_dispatcher()
    h = hook(rx.url("/flaky"), webhook_secret=SECRET, signature="standard", retry_schedule=[1.1])
    x = d.enqueue(h, doc("A"))
    assert wait_until(lambda: x.done)
    a, b = rx.hits_for("/flaky")
    assert a.headers["webhook-id"] == b.headers["webhook-id"] == x.id
    assert int(b.headers["webhook-timestamp"]) >= int(a.headers["webhook-timestamp"]) + 1
    assert a.headers["webhook-signature"] != b.headers["webhook-signature"]
    for hit in (a, b):
        hdrs = {k: hit.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        assert fwc.verify(SECRET, hit.body, hdrs, scheme="standard")
    assert dict(x.headers)["webhook-timestamp"] == b.headers["webhook-timestamp"]


def test_ids_are_unique(rx, make_dispatcher):
    d = make_dispatcher()
    h = hook(rx.url("/ok"))
    ids = {d.enqueue(h, doc(f"D{i}")).id for i in range(500)}
    assert len(ids) == 500
    assert d.flush(10) == []


# ---------- isolation between receivers, limits ----------

def test_a_hanging_receiver_does_not_delay_a_fast_one(make_dispatcher):
    with ScriptedReceiver() as slow, ScriptedReceiver() as fast:
        slow.script("/hang", {"delay": 5})
        d = make_dispatcher(max_connections=8, max_per_host=2)
        hs, hf = hook(slow.url("/hang"), timeout=10), hook(fast.url("/ok"))
        slow_ones = [d.enqueue(hs, doc(f"S{i}")) for i in range(20)]
        start = time.monotonic()
        fast_ones = [d.enqueue(hf, doc(f"F{i}")) for i in range(50)]
        assert wait_until(lambda: all(x.done for x in fast_ones), timeout=4.5)
        assert time.monotonic() - start < 4.5
        assert all(x.status == "Delivered" for x in fast_ones)
        assert not any(x.done for x in slow_ones)
        assert slow.max_active.get("/hang", 0) <= 2
        left = d.close(timeout=0)
        assert {x.id for x in left} == {x.id for x in slow_ones}


def test_max_per_host_bounds_concurrency(rx, make_dispatcher):
    rx.script("/slow", {"delay": 0.2})
    d = make_dispatcher(max_per_host=3)
    xs = [d.enqueue(hook(rx.url("/slow")), doc(f"D{i}")) for i in range(12)]
    assert d.flush(20) == []
    assert all(x.status == "Delivered" for x in xs)
    assert rx.max_active["/slow"] <= 3
    assert rx.connections <= 3


def test_connections_are_reused(rx, make_dispatcher):
    d = make_dispatcher(max_per_host=2)
    h = hook(rx.url("/ok"))
    for i in range(200):
        d.enqueue(h, doc(f"D{i}"))
    assert d.flush(20) == []
    s = d.stats()
    assert s["delivered"] == 200
    assert s["connections_opened"] <= 2 and rx.connections <= 2
    assert s["connections_reused"] >= 198


def test_several_workers(rx, make_dispatcher):
    d = make_dispatcher(workers=3, max_connections=12)
    h = hook(rx.url("/ok"))
    xs = [d.enqueue(h, doc(f"D{i}")) for i in range(300)]
    assert d.flush(20) == []
    assert all(x.status == "Delivered" for x in xs)
    assert len(rx.hits_for("/ok")) == 300


def test_ipv6_loopback(make_dispatcher):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        r = ScriptedReceiver("::1")
    except OSError:
        pytest.skip("no ::1")
    with r:
        d = make_dispatcher()
        x = d.enqueue(hook(r.url("/ok")), doc("A"))
        assert d.flush(10) == []
        assert x.status == "Delivered"


# ---------- queue limits, flush, close ----------

def test_queue_full(rx, make_dispatcher):
    rx.script("/hang", {"delay": 5})
    d = make_dispatcher(max_connections=1, max_per_host=1, max_queue=5)
    h = hook(rx.url("/hang"), timeout=10)
    first = d.enqueue(h, doc("D0"))
    assert wait_until(lambda: d.stats()["in_flight"] == 1)
    queued = [d.enqueue(h, doc(f"D{i}")) for i in range(1, 6)]
    with pytest.raises(fwc.QueueFull):
        d.enqueue(h, doc("D6"))
    import queue
    assert issubclass(fwc.QueueFull, queue.Full)
    t0 = time.monotonic()
    with pytest.raises(fwc.QueueFull):
        d.enqueue(h, doc("D7"), block=True, timeout=0.3)
    assert time.monotonic() - t0 >= 0.25
    assert d.stats()["queued"] == 5
    left = d.close(timeout=0)
    assert [x.id for x in left] == [first.id] + [x.id for x in queued] or \
        {x.id for x in left} == {first.id} | {x.id for x in queued}
    assert len(left) == 6
    with pytest.raises(RuntimeError):
        d.enqueue(h, doc("late"))


def test_blocking_enqueue_waits_for_room(rx, make_dispatcher):
    rx.script("/slow", {"delay": 0.05})
    d = make_dispatcher(max_connections=1, max_per_host=1, max_queue=2)
    h = hook(rx.url("/slow"))
    xs = [d.enqueue(h, doc(f"D{i}"), block=True) for i in range(10)]
    assert d.flush(20) == []
    assert [x.status for x in xs] == ["Delivered"] * 10


def test_flush_returns_exactly_the_undelivered(rx, make_dispatcher):
    rx.script("/down", 500)
    d = make_dispatcher()
    good = [d.enqueue(hook(rx.url("/ok")), doc(f"G{i}")) for i in range(20)]
    bad = [d.enqueue(hook(rx.url("/down"), retry_schedule=[60]), doc(f"B{i}")) for i in range(5)]
    left = d.flush(timeout=10)
    assert {x.id for x in left} == {x.id for x in bad}
    assert all(x.status == "Failed" and x.attempt == 1 for x in left)
    assert {x.id for x in d.scheduled()} == {x.id for x in bad}
    assert all(x.status == "Delivered" for x in good)
    # flush does not wait for scheduled retries
    t0 = time.monotonic()
    assert len(d.flush(timeout=10)) == 5
    assert time.monotonic() - t0 < 5
    left = d.close(timeout=0)
    assert {x.id for x in left} == {x.id for x in bad}
    assert d.closed


def test_flush_timeout_returns_what_is_still_in_flight(rx, make_dispatcher):
    rx.script("/hang", {"delay": 3})
    d = make_dispatcher()
    xs = [d.enqueue(hook(rx.url("/hang"), timeout=10), doc(f"D{i}")) for i in range(3)]
    t0 = time.monotonic()
    left = d.flush(timeout=0.3)
    assert 0.25 <= time.monotonic() - t0 < 2.5
    assert {x.id for x in left} == {x.id for x in xs}


def test_close_finishes_what_it_can_in_time(rx, make_dispatcher):
    rx.script("/slow", {"delay": 0.1})
    d = make_dispatcher(max_per_host=4)
    xs = [d.enqueue(hook(rx.url("/slow")), doc(f"D{i}")) for i in range(8)]
    assert d.close(timeout=10) == []
    assert all(x.status == "Delivered" for x in xs)
    assert d.close() == []      # idempotent


def test_close_returns_queued_in_flight_and_scheduled(rx, make_dispatcher):
    with ScriptedReceiver() as slow:
        slow.script("/hang", {"delay": 5})
        rx.script("/down", 500)
        d = make_dispatcher(max_connections=4, max_per_host=1)
        inflight = d.enqueue(hook(slow.url("/hang"), timeout=10), doc("H0"))
        queued = [d.enqueue(hook(slow.url("/hang"), timeout=10), doc(f"H{i}")) for i in range(1, 4)]
        sched = d.enqueue(hook(rx.url("/down"), retry_schedule=[60]), doc("S"))
        assert wait_until(lambda: sched.attempt == 1)
        done = d.enqueue(hook(rx.url("/ok")), doc("OK"))
        assert wait_until(lambda: done.done and d.stats()["in_flight"] == 1)
        t0 = time.monotonic()
        left = d.close(timeout=0.2)
        assert time.monotonic() - t0 < 3
        assert {x.id for x in left} == {inflight.id, sched.id} | {x.id for x in queued}
        assert done.status == "Delivered" and sched.status == "Failed"
        assert d.stats()["queued"] == 0 and d.stats()["scheduled"] == 0
        # nothing more is sent once closed
        n = len(slow.hits) + len(rx.hits)
        time.sleep(0.3)
        assert len(slow.hits) + len(rx.hits) == n


def test_context_manager(rx):
    with fwc.Dispatcher() as d:
        x = d.enqueue(hook(rx.url("/ok")), doc("A"))
    assert d.closed and x.status == "Delivered"


def test_arguments_are_validated():
    with pytest.raises(ValueError):
        fwc.Dispatcher(workers=0)
    with pytest.raises(ValueError):
        fwc.Dispatcher(max_per_host=0)
    with pytest.raises(ValueError):
        fwc.Dispatcher(max_queue=0)
    with pytest.raises(ValueError):
        fwc.Dispatcher(workers=4, max_connections=2)
    with pytest.raises(TypeError):
        fwc.Dispatcher(on_result=42)
    with fwc.Dispatcher(workers=2, max_connections=8, max_per_host=4, max_queue=10) as d:
        assert (d.workers, d.max_connections, d.max_per_host, d.max_queue, d.on_result) == (2, 8, 4, 10, None)
        with pytest.raises(TypeError):
            d.enqueue("not a hook", {})
        with pytest.raises(TypeError):
            d.enqueue(fwc.Webhook("http://127.0.0.1:1/"), 42)     # not a document
        with pytest.raises(TypeError):
            d.enqueue(fwc.Webhook("http://127.0.0.1:1/"), {}, bogus=1)
        with pytest.raises(ValueError):
            d.enqueue(fwc.Webhook("http://127.0.0.1:1/"), {}, block=True, timeout=-1)
        assert "Dispatcher" in repr(d)


def test_retry_keywords_are_validated():
    h = fwc.Webhook("http://example.com/")
    assert h.retry_schedule == (300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
    assert h.retry_jitter == 0.2 and h.max_retries == 3
    h = fwc.Webhook("http://example.com/", retry_schedule=(1, 2.5), retry_jitter=0)
    assert h.retry_schedule == (1.0, 2.5) and h.retry_jitter == 0.0
    for bad in ([], [-1], [float("nan")], [1e9]):
        with pytest.raises(fwc.ValidationError):
            fwc.Webhook("http://example.com/", retry_schedule=bad)
    for bad in ("5", 5, ["x"], [True]):
        with pytest.raises(TypeError):
            fwc.Webhook("http://example.com/", retry_schedule=bad)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(fwc.ValidationError):
            fwc.Webhook("http://example.com/", retry_jitter=bad)
    with pytest.raises(TypeError):
        fwc.Webhook("http://example.com/", retry_jitter="0.1")


def test_jitter_spreads_retries(rx, make_dispatcher):
    rx.script("/down", 500)
    d = make_dispatcher()
    h = hook(rx.url("/down"), retry_schedule=[100], retry_jitter=0.5, max_retries=1)
    xs = [d.enqueue(h, doc(f"D{i}")) for i in range(40)]
    assert wait_until(lambda: all(x.attempt == 1 for x in xs))
    now = time.time()
    delays = [x.next_retry - now for x in xs]
    assert all(45 <= t <= 151 for t in delays)
    assert max(delays) - min(delays) > 10      # 40 draws from +-50 s are not all alike


# ---------- documents ----------

class FrappeLikeDoc:
    doctype = "Sales Invoice"
    name = "SINV-1"

    def as_dict(self, convert_dates_to_str=False):
        return {"doctype": self.doctype, "name": self.name, "grand_total": 12.5}


def test_documents_with_as_dict_and_missing_names(rx, make_dispatcher):
    d = make_dispatcher()
    h = hook(rx.url("/ok"), webhook_data=[("name", "id"), ("grand_total", "total")])
    a = d.enqueue(h, FrappeLikeDoc())
    b = d.enqueue(h, {"x": 1})
    c = d.enqueue(h, {"doctype": "Item", "name": 42})
    assert d.flush(10) == []
    assert (a.reference_doctype, a.reference_document) == ("Sales Invoice", "SINV-1")
    assert a.body == b'{"id": "SINV-1", "total": 12.5}'
    assert (b.reference_doctype, b.reference_document) == (None, None)
    assert c.reference_document == "42"


def test_snapshot_is_taken_at_enqueue(rx, make_dispatcher):
    rx.script("/slow", {"delay": 0.2})
    d = make_dispatcher(max_connections=1, max_per_host=1)
    h = hook(rx.url("/slow"), webhook_data=[("name", "id"), ("status", "status")])
    dd = doc("A", status="Draft")
    d.enqueue(h, doc("first"))
    x = d.enqueue(h, dd)
    dd["status"] = "Paid"
    assert d.flush(10) == []
    assert x.body == b'{"id": "A", "status": "Draft"}'


def test_snapshot_errors_raise_in_the_caller(make_dispatcher):
    d = make_dispatcher()
    # (the snapshot takes only what the request reads: here the cyclic field)
    h = fwc.Webhook("http://127.0.0.1:1/", allow_private_networks=True, webhook_data=[("self", "s")])
    cyc = {"name": "x"}
    cyc["self"] = cyc
    with pytest.raises(ValueError):
        d.enqueue(h, cyc)
    assert d.stats()["enqueued"] == 0


# ---------- on_result ----------

def test_on_result_is_called_after_every_attempt(rx, make_dispatcher):
    rx.script("/flaky", 500, 500, 200)
    seen = []
    threads = set()
    d = make_dispatcher(on_result=lambda x: (seen.append((x.id, x.status, x.attempt)),
                                             threads.add(threading.current_thread().name)))
    x = d.enqueue(hook(rx.url("/flaky")), doc("A"))
    y = d.enqueue(hook(rx.url("/ok")), doc("B"))
    assert wait_until(lambda: x.done and y.done)
    assert d.flush(10) == []        # flush also waits until on_result has seen every outcome
    mine = [s for s in seen if s[0] == x.id]
    # one call per attempt; the Delivery is a live view, so a late call may already
    # show a later attempt
    assert len(mine) == 3
    assert [s[2] for s in mine] == sorted(s[2] for s in mine) and mine[-1][2] == 3
    assert mine[-1][1] == "Delivered"
    assert [s for s in seen if s[0] == y.id] == [(y.id, "Delivered", 1)]
    assert threading.current_thread().name not in threads
    assert threads == {"frappe_webhook_c-on_result"}


def test_on_result_gets_the_same_delivery_object(rx, make_dispatcher):
    got = []
    d = make_dispatcher(on_result=got.append)
    x = d.enqueue(hook(rx.url("/ok")), doc("A"))
    d.flush(10)
    assert got == [x] and got[0] is x


def test_on_result_exceptions_are_logged_and_the_engine_carries_on(rx, make_dispatcher, caplog):
    calls = []

    def boom(x):
        calls.append(x.id)
        raise RuntimeError("callback failed " + x.reference_document)

    d = make_dispatcher(on_result=boom)
    with caplog.at_level(logging.ERROR, logger="frappe_webhook_c"):
        xs = [d.enqueue(hook(rx.url("/ok")), doc(f"D{i}")) for i in range(20)]
        assert d.flush(10) == []
    assert all(x.status == "Delivered" for x in xs)
    assert sorted(calls) == sorted(x.id for x in xs)
    records = [r for r in caplog.records if r.name == "frappe_webhook_c"]
    assert len(records) == 20
    assert all(r.exc_info and "callback failed" in str(r.exc_info[1]) for r in records)
    assert xs[0].id in " ".join(r.getMessage() for r in records)


def test_on_result_may_use_the_dispatcher(rx, make_dispatcher):
    """on_result runs without any engine lock: it may read stats, flush, even enqueue."""
    d = None
    out = []

    def cb(x):
        out.append((d.stats()["delivered"], len(d.scheduled()), x.status))
        d.flush(timeout=1)
        if x.reference_document == "A":
            out.append(d.enqueue(h, doc("B")))

    d = make_dispatcher(on_result=cb)
    h = hook(rx.url("/ok"))
    d.enqueue(h, doc("A"))
    assert wait_until(lambda: len(out) >= 3)
    assert d.flush(10) == []
    assert isinstance(out[1], fwc.Delivery) and out[1].status == "Delivered"


def test_close_waits_for_pending_callbacks(rx):
    seen = []

    def slow_cb(x):
        time.sleep(0.01)
        seen.append(x.id)

    d = fwc.Dispatcher(on_result=slow_cb)
    xs = [d.enqueue(hook(rx.url("/ok")), doc(f"D{i}")) for i in range(30)]
    assert d.close(timeout=10) == []
    assert sorted(seen) == sorted(x.id for x in xs)


# ---------- Batch (Frappe's flush_webhook_execution_queue) ----------

def frappe_flush_order(queue):
    """Frappe's algorithm, verbatim in spirit: reverse, keep the first of each
    (webhook name, doc name), reverse again."""
    queue = list(reversed(queue))
    seen, keep = set(), []
    for hook_, doc_ in queue:
        key = (hook_.name, doc_.get("name"))
        if key not in seen:
            seen.add(key)
            keep.append((hook_, doc_))
    keep.reverse()
    return keep


def test_batch_commit_matches_frappes_flush_order(rx, make_dispatcher):
    d = make_dispatcher()
    h1 = hook(rx.url("/one"), name="h1", webhook_data=[("name", "id"), ("v", "v")])
    h2 = hook(rx.url("/two"), name="h2", webhook_data=[("name", "id"), ("v", "v")])
    a1, b1, a2, c1, b2 = doc("A", v=1), doc("B", v=1), doc("A", v=2), doc("C", v=1), doc("B", v=2)
    events = [(h1, a1), (h2, a1), (h1, b1), (h1, a2), (h2, c1), (h1, b2), (h2, a2)]
    b = fwc.Batch(d)
    for h, dd in events:
        b.add(h, dd)
    assert len(b) == 7
    expected = frappe_flush_order(events)
    assert [(h.name, dd["name"], dd["v"]) for h, dd in b.pending()] == \
        [(h.name, dd["name"], dd["v"]) for h, dd in expected] == \
        [("h1", "A", 2), ("h2", "C", 1), ("h1", "B", 2), ("h2", "A", 2)]
    out = b.commit()
    assert len(b) == 0
    assert [(x.webhook, x.reference_document) for x in out] == [("h1", "A"), ("h2", "C"), ("h1", "B"), ("h2", "A")]
    assert d.flush(10) == []
    assert sorted(h.body for h in rx.hits_for("/one")) == [b'{"id": "A", "v": 2}', b'{"id": "B", "v": 2}']
    assert sorted(h.body for h in rx.hits_for("/two")) == [b'{"id": "A", "v": 2}', b'{"id": "C", "v": 1}']


def test_batch_snapshots_at_commit_like_frappe(rx, make_dispatcher):
    """Frappe queues the document object and serialises it after the commit."""
    d = make_dispatcher()
    h = hook(rx.url("/one"), name="h", webhook_data=[("name", "id"), ("v", "v")])
    dd = doc("A", v=1)
    b = fwc.Batch(d)
    b.add(h, dd)
    dd["v"] = 2
    (x,) = b.commit()
    d.flush(10)
    assert x.body == b'{"id": "A", "v": 2}'


def test_batch_rollback_and_context_manager(rx, make_dispatcher):
    d = make_dispatcher()
    h = hook(rx.url("/one"), name="h")
    b = fwc.Batch(d)
    b.add(h, doc("A"))
    b.rollback()
    assert b.commit() == [] and len(b) == 0
    with fwc.Batch(d) as b:
        b.add(h, doc("A"))
        b.add(h, doc("A"))
    with pytest.raises(KeyError):
        with fwc.Batch(d) as b2:
            b2.add(h, doc("Z"))
            raise KeyError("abort the transaction")
    assert len(b2) == 0
    assert d.flush(10) == []
    assert [hh.body for hh in rx.hits_for("/one")] == [b'{"id": "A"}']
    with pytest.raises(TypeError):
        fwc.Batch(d).add("not a hook", {})


def test_batch_unnamed_hooks_and_docs_are_kept_apart(rx, make_dispatcher):
    d = make_dispatcher()
    h1, h2 = hook(rx.url("/one")), hook(rx.url("/two"))
    b = fwc.Batch(d)
    b.add(h1, {"x": 1})
    b.add(h2, {"x": 2})
    b.add(h1, {"x": 3})
    assert len(b.pending()) == 3


def test_batch_commit_keeps_what_did_not_fit(rx, make_dispatcher):
    rx.script("/hang", {"delay": 5})
    d = make_dispatcher(max_connections=1, max_per_host=1, max_queue=1)
    h = hook(rx.url("/hang"), name="h", timeout=10)
    d.enqueue(h, doc("X"))
    assert wait_until(lambda: d.stats()["in_flight"] == 1)
    b = fwc.Batch(d)
    for n in "ABC":
        b.add(h, doc(n))
    with pytest.raises(fwc.QueueFull):
        b.commit()
    # all or none: the whole batch stays, so commit() may be called again
    assert [dd["name"] for _, dd in b.pending()] == ["A", "B", "C"]


def test_module_level_enqueue_and_flush(rx):
    x = fwc.enqueue(hook(rx.url("/ok")), doc("A"))
    assert fwc.flush(10) == []
    assert x.status == "Delivered"
    assert fwc.default_dispatcher() is fwc.default_dispatcher()
    b = fwc.Batch()
    b.add(hook(rx.url("/ok"), name="n"), doc("B"))
    (y,) = b.commit()
    assert fwc.flush(10) == [] and y.status == "Delivered"


def test_run_webhooks_adds_to_a_batch(rx, make_dispatcher):
    d = make_dispatcher()
    h_yes = hook(rx.url("/yes"), name="yes", webhook_doctype="ToDo", webhook_docevent="on_update")
    h_no = hook(rx.url("/no"), name="no", webhook_doctype="ToDo", webhook_docevent="on_submit")
    h_cond = hook(rx.url("/cond"), name="cond", webhook_doctype="ToDo", webhook_docevent="on_update",
                  condition="doc.status == 'Open'")
    b = fwc.Batch(d)
    fired = fwc.run_webhooks([h_yes, h_no, h_cond], doc("A", status="Closed"), "on_update", batch=b)
    assert fired == [h_yes]
    fwc.run_webhooks([h_yes, h_no, h_cond], doc("A", status="Open"), "on_update", batch=b)
    assert [(h.name, dd["status"]) for h, dd in b] == [("yes", "Closed"), ("yes", "Open"), ("cond", "Open")]
    out = b.commit()
    assert [x.webhook for x in out] == ["yes", "cond"]
    assert d.flush(10) == []


# ---------- fork ----------

ASAN = "asan" in os.environ.get("LD_PRELOAD", "")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.skipif(ASAN, reason="ASan's allocator is not fork-safe: a child forked while engine threads allocate can deadlock inside ASan itself (not in this code); runs in the normal build")
def test_fork_child_and_parent_each_deliver_their_own_work_once(rx, make_dispatcher):
    rx.script("/slow", {"delay": 0.1})
    d = make_dispatcher(max_connections=1, max_per_host=1)
    h = hook(rx.url("/slow"), webhook_secret=SECRET, signature="standard")
    parent = [d.enqueue(h, doc(f"P{i}")) for i in range(6)]
    assert wait_until(lambda: d.stats()["in_flight"] == 1)
    pid = os.fork()
    if pid == 0:    # the child: a fresh engine on first enqueue, the parent's queue stays behind
        code = 1
        try:
            import warnings
            warnings.simplefilter("ignore")
            mine = [d.enqueue(h, doc(f"C{i}")) for i in range(3)]
            left = d.flush(10)
            ok = not left and all(x.status == "Delivered" for x in mine)
            ok = ok and d.stats()["delivered"] == 3 and d.stats()["enqueued"] == 3
            code = 0 if ok else 2
            d.close(2)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert d.flush(20) == []
    assert all(x.status == "Delivered" for x in parent)
    time.sleep(0.2)
    names = sorted(hit.body.decode() for hit in rx.hits_for("/slow"))
    ids = [hit.headers["webhook-id"] for hit in rx.hits_for("/slow")]
    assert len(ids) == len(set(ids)) == 9
    assert names == sorted(f'{{"id": "{n}"}}' for n in ["P0", "P1", "P2", "P3", "P4", "P5", "C0", "C1", "C2"])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.skipif(ASAN, reason="ASan's allocator is not fork-safe: a child forked while engine threads allocate can deadlock inside ASan itself (not in this code); runs in the normal build")
def test_fork_child_sees_the_parents_deliveries_but_does_not_deliver_them(rx, make_dispatcher):
    rx.script("/hang", {"delay": 0.3})
    d = make_dispatcher(max_connections=1, max_per_host=1)
    h = hook(rx.url("/hang"))
    xs = [d.enqueue(h, doc(f"P{i}")) for i in range(3)]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if (xs[2].status == "Queued" and d.flush(0.1) == [] and d.scheduled() == []
                         and d.stats()["queued"] == 0) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert d.flush(20) == []
    assert len(rx.hits_for("/hang")) == 3


# ---------- interpreter exit ----------

def run_script(body, timeout=30):
    code = textwrap.dedent(body)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                         os.path.dirname(os.path.abspath(__file__))])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


def test_exit_with_work_pending_logs_the_undelivered_ids():
    r = run_script("""
        import logging, time
        logging.basicConfig(level=logging.WARNING)
        import frappe_webhook_c as fwc
        from support.dispatch_receiver import ScriptedReceiver, doc, hook, wait_until
        rx = ScriptedReceiver().__enter__()
        rx.script("/hang", {"delay": 30})
        h = fwc.Webhook(rx.url("/hang"), allow_private_networks=True, timeout=60)
        fwc.EXIT_TIMEOUT = 0.5
        import frappe_webhook_c._delivery as dl
        dl.EXIT_TIMEOUT = 0.5
        xs = [fwc.enqueue(h, {"name": f"D{i}"}) for i in range(3)]
        other = fwc.Dispatcher(on_result=lambda x: None)
        ys = [other.enqueue(h, {"name": f"E{i}"}) for i in range(2)]
        print(" ".join(x.id for x in xs + ys), flush=True)
        time.sleep(0.2)
    """)
    assert r.returncode == 0, r.stderr
    ids = r.stdout.split()
    assert len(ids) == 5
    assert "not delivered" in r.stderr
    for i in ids:
        assert i in r.stderr


def test_exit_without_close_and_with_callbacks_pending_does_not_crash():
    r = run_script("""
        import frappe_webhook_c as fwc, os, sys
        from support.dispatch_receiver import ScriptedReceiver, doc, hook, wait_until
        rx = ScriptedReceiver().__enter__()
        h = fwc.Webhook(rx.url("/ok"), allow_private_networks=True)
        d = fwc.Dispatcher(workers=2, on_result=lambda x: sys.stdout.write(""))
        for i in range(2000):
            d.enqueue(h, {"name": f"D{i}"})
        bad = fwc.Webhook("http://127.0.0.1:9/", allow_private_networks=True, retry_schedule=[0.01])
        for i in range(50):
            fwc.enqueue(bad, {"name": f"B{i}"})
        print("bye", flush=True)
    """)
    assert r.returncode == 0, r.stderr
    assert "bye" in r.stdout
    assert "Fatal" not in r.stderr and "Segmentation" not in r.stderr


def test_garbage_collected_dispatcher_logs_its_undelivered(caplog):
    with ScriptedReceiver() as r:
        r.script("/hang", {"delay": 5})
        d = fwc.Dispatcher()
        x = d.enqueue(hook(r.url("/hang"), timeout=10), doc("A"))
        xid = x.id
        with caplog.at_level(logging.WARNING, logger="frappe_webhook_c"):
            del d
        assert xid in caplog.text and "garbage-collected" in caplog.text
        assert x.status == "Queued"
