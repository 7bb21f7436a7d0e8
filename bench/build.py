"""Request build cost: frappe_webhook_c against Frappe's algorithm in pure Python.

For an ERPNext-like Quotation with 5 child rows (about 45 fields each, dates included),
measures µs per request build (snapshot + data + JSON + HMAC) for:
  - native:        Webhook.request(doc).body
  - frappe:        Frappe's enqueue_webhook path as written (get_webhook_data twice:
                   once for the signature header, once for the body)
  - python (1x):   the same algorithm, data built once (a fair best case for Python)
Run: .venv/bin/python bench/build.py
"""
import os
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))   # the repo root: tests.support

import frappe_webhook_c as fwc  # noqa: E402
from tests.support.frappe_reference import build_request, get_webhook_data, get_webhook_headers  # noqa: E402
from tests.support.quotation import quotation  # noqa: E402
import json  # noqa: E402

ROWS = [("name", "id"), ("party_name", "customer"), ("transaction_date", "date"), ("grand_total", "total"),
        ("status", "status"), ("items", "lineItems"), ("taxes", "taxes")]
HEADERS = [("Content-Type", "application/json"), ("X-Source", "erpnext")]
SECRET = "bench-secret"


def frappe_path(doc):
    # enqueue_webhook: headers (get_webhook_data + dumps + HMAC), then data again
    headers = get_webhook_headers(get_webhook_data(doc, ROWS), SECRET, HEADERS)
    data = get_webhook_data(doc, ROWS)
    return headers, json.dumps(data, default=str)


def python_once(doc):
    return build_request(doc, ROWS, SECRET, HEADERS)


def best_us(fn, number, repeat=3):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main(rounds=7):
    doc = quotation(rows=5)
    hook = fwc.Webhook(request_url="https://example.com/hook", webhook_data=ROWS, webhook_headers=HEADERS,
                       webhook_secret=SECRET)
    req = hook.request(doc)
    headers, body = python_once(doc)
    assert req.body == body.encode() and dict(req.headers) == headers, "native and Python disagree"

    # Interleaved rounds, so that background load meets every path; each path's best
    # round is its undisturbed speed, and the per-round ratios show the spread.
    paths = {
        "native": (lambda: hook.request(doc).body, 5000),
        "native_lazy": (lambda: hook.request(doc), 5000),
        "frappe": (lambda: frappe_path(doc), 300),
        "once": (lambda: python_once(doc), 300),
    }
    runs = {name: [] for name in paths}
    for _ in range(rounds):
        for name, (fn, number) in paths.items():
            runs[name].append(best_us(fn, number))
    best = {name: min(v) for name, v in runs.items()}

    def ratios(name):
        r = sorted(p / n for p, n in zip(runs[name], runs["native"]))
        return best[name] / best["native"], r[0], r[-1]

    print(f"Quotation, 5 child rows, {len(doc)} + 5x{len(doc['items'][0])} fields, body {len(req.body)} bytes, signed")
    print(f"{rounds} interleaved rounds; µs: best round; native is: best round against best round (each side undisturbed); range: per-round ratios\n")
    print(f"{'path':<42}{'µs/request':>12}{'native is':>12}{'range':>16}")
    print("-" * 82)
    print(f"{'frappe_webhook_c  request(doc).body':<42}{best['native']:>12.2f}")
    print(f"{'frappe_webhook_c  request(doc), lazy body':<42}{best['native_lazy']:>12.2f}")
    for name, label in (("frappe", "Frappe algorithm, Python (as written)"),
                        ("once", "Frappe algorithm, Python (data once)")):
        med, lo, hi = ratios(name)
        print(f"{label:<42}{best[name]:>12.2f}{med:>11.1f}x{f'{lo:.1f}x - {hi:.1f}x':>16}")
    print("\ntarget: native at least 20x faster than the Python reference of Frappe's algorithm (as written)")


if __name__ == "__main__":
    main()
