"""Conditions: the native engine against Python's eval of precompiled code objects.

Per condition: ns per evaluation, native measured through run_webhooks() with 50 hooks
of that condition (one snapshot of the Quotation, amortised over the 50 evaluations),
Python as eval(code, ...) over a frappe._dict of the normalised document.  Then
run_webhooks() with 50 hooks cycling through the 20 conditions against the same work in
Python (normalise once + eval each).  Run: python bench/conditions.py
"""
import datetime
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))   # the repo root: tests.support

import frappe_webhook_c as fwc  # noqa: E402
from tests.support.frappe_reference import Utils, as_dict  # noqa: E402
from tests.support.quotation import quotation  # noqa: E402

CONDITIONS = [
    'doc.status == "Open" and doc.grand_total > 1000',
    'doc.docstatus == 0',
    'doc.currency in ("EUR", "USD") and doc.conversion_rate == 1',
    'any(i["qty"] > 40 for i in doc["items"])',
    'len(doc["items"]) >= 3 and doc.total_qty > 10',
    'doc.customer_name.lower().startswith("acme")',
    'doc.transaction_date >= "2026-01-01"',
    'doc.terms is None',
    'sum(i["amount"] for i in doc["items"]) > 5000',
    'doc.grand_total / doc.conversion_rate > 5000 if doc.conversion_rate else False',
    '"VAT" in (doc.taxes_and_charges or "")',
    'max(i["rate"] for i in doc["items"]) > 1000',
    'doc.get("order_type", "") != "Maintenance"',
    'utils.flt(doc.grand_total, 2) > 10000',
    'doc.territory == "Germany" and doc.company == "ACME"',
    'doc.status in ["Open", "Replied"] and not doc.terms',
    'utils.cint(doc.docstatus) < 2 and doc.owner.endswith("@example.com")',
    'all(i["warehouse"] for i in doc["items"])',
    'doc.rounded_total - doc.grand_total < 1',
    'doc.quotation_to == "Customer" and doc.party_name',
]


def best(fn, repeat=7, number=None):
    if number is None:
        number, t = 1, 0.0
        while t < 0.05:
            number *= 2
            t0 = time.perf_counter()
            fn(number)
            t = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(number)
        times.append((time.perf_counter() - t0) / number)
    return min(times)


def main():
    raw = quotation()
    event = "on_update"
    # sanity: the native engine and Python agree on every condition
    pydoc = as_dict(raw)
    env = {"__builtins__": {}, "len": len, "sum": sum, "max": max, "any": any, "all": all}
    codes = [compile(c, "<condition>", "eval") for c in CONDITIONS]
    for c, code in zip(CONDITIONS, codes):
        h = fwc.Webhook("https://example.com/h", webhook_doctype="Quotation", webhook_docevent=event, condition=c)
        want = bool(eval(code, env, {"doc": pydoc, "utils": Utils}))
        assert h.meets_condition(raw) is want, c

    rows = []
    for c, code in zip(CONDITIONS, codes):
        hooks = [fwc.Webhook("https://example.com/h", webhook_doctype="Quotation", webhook_docevent=event, condition=c)
                 for _ in range(50)]
        run = fwc.run_webhooks

        def native(n, hooks=hooks):
            for _ in range(n):
                run(hooks, raw, event)

        loc = {"doc": pydoc, "utils": Utils}

        def python(n, code=code, loc=loc):
            for _ in range(n):
                eval(code, env, loc)

        t_native = best(native) / 50
        t_py = best(python)
        rows.append((c, t_py * 1e9, t_native * 1e9))

    print(f"{'condition':<62} {'eval ns':>9} {'native ns':>10} {'ratio':>7}")
    print("-" * 91)
    for c, tp, tn in rows:
        print(f"{c[:62]:<62} {tp:>9.0f} {tn:>10.0f} {tp / tn:>6.1f}x")
    gm = math.exp(sum(math.log(tp / tn) for _, tp, tn in rows) / len(rows))
    print(f"{'geometric mean':<62} {'':>9} {'':>10} {gm:>6.1f}x")
    print("native ns include the snapshot of the Quotation amortised over 50 hooks")

    # 50 hooks cycling through the 20 conditions: run_webhooks vs normalise once + eval each
    hooks = [fwc.Webhook("https://example.com/h", name=f"h{i}", webhook_doctype="Quotation", webhook_docevent=event,
                         condition=CONDITIONS[i % len(CONDITIONS)]) for i in range(50)]
    pycodes = [codes[i % len(codes)] for i in range(50)]

    def native_all(n):
        for _ in range(n):
            fwc.run_webhooks(hooks, raw, event)

    def python_all(n):
        for _ in range(n):
            doc = as_dict(raw)
            loc = {"doc": doc, "utils": Utils}
            [c for c in pycodes if eval(c, env, loc)]

    assert [h.name for h in fwc.run_webhooks(hooks, raw, event)] == [
        f"h{i}" for i, c in enumerate(pycodes) if eval(c, env, {"doc": as_dict(raw), "utils": Utils})]
    tn, tp = best(native_all), best(python_all)
    print()
    print(f"{'run_webhooks, 50 hooks':<40} {'python µs':>10} {'native µs':>10} {'ratio':>7}")
    print(f"{'(snapshot/normalise once + 50 conditions)':<40} {tp * 1e6:>10.1f} {tn * 1e6:>10.1f} {tp / tn:>6.1f}x")
    plain = fwc.Webhook("https://example.com/h")   # no condition: meets_condition = one snapshot
    snap = best(lambda n: [plain.meets_condition(raw) for _ in range(n)])
    norm = best(lambda n: [as_dict(raw) for _ in range(n)])
    print(f"{'  of which as_dict vs snapshot':<40} {norm * 1e6:>10.1f} {snap * 1e6:>10.1f}")


if __name__ == "__main__":
    main()
