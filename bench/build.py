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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import frappe_webhook_c as fwc  # noqa: E402
from frappe_reference import build_request, get_webhook_data, get_webhook_headers  # noqa: E402
from quotation import quotation  # noqa: E402
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


def best_us(fn, number):
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def main():
    doc = quotation(rows=5)
    hook = fwc.Webhook(request_url="https://example.com/hook", webhook_data=ROWS, webhook_headers=HEADERS,
                       webhook_secret=SECRET)
    req = hook.request(doc)
    headers, body = python_once(doc)
    assert req.body == body.encode() and dict(req.headers) == headers, "native and Python disagree"

    native = best_us(lambda: hook.request(doc).body, 20000)
    native_hooks = best_us(lambda: hook.request(doc), 20000)
    frappe = best_us(lambda: frappe_path(doc), 1000)
    once = best_us(lambda: python_once(doc), 1000)
    print(f"Quotation, 5 child rows, {len(doc)} + 5x{len(doc['items'][0])} fields, body {len(req.body)} bytes, signed\n")
    print(f"{'path':<42}{'µs/request':>12}{'native is':>14}")
    print("-" * 68)
    print(f"{'frappe_webhook_c  request(doc).body':<42}{native:>12.2f}{'':>14}")
    print(f"{'frappe_webhook_c  request(doc), lazy body':<42}{native_hooks:>12.2f}{'':>14}")
    print(f"{'Frappe algorithm, Python (as written)':<42}{frappe:>12.2f}{frappe / native:>13.1f}x")
    print(f"{'Frappe algorithm, Python (data once)':<42}{once:>12.2f}{once / native:>13.1f}x")
    print("\ntarget: native at least 20x faster than the Python reference")


if __name__ == "__main__":
    main()
