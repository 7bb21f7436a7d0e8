"""Template body build cost: the native Jinja engine against Jinja2 itself.

For an ERPNext-like Quotation with 5 child rows, a realistic webhook_json template (a
loop over the rows, filters, tojson), measures µs per body build:
  - native:              Webhook.request(doc).body (snapshot, render, JSON parse, JSON
                         write; GIL released after the snapshot)
  - Jinja2 precompiled:  the template compiled once; per call as_dict + render +
                         json.loads + json.dumps (the best a Python implementation does)
  - Frappe per call:     frappe.render_template compiles the template on every render
                         (get_jenv().from_string), then json.loads + json.dumps
Run: .venv/bin/python bench/templates.py
"""
import json
import os
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))   # the repo root: tests.support

import frappe_webhook_c as fwc  # noqa: E402
from tests.support import jinja_reference as jr  # noqa: E402
from tests.support.quotation import quotation  # noqa: E402

TEMPLATE = """{
  "event": "quotation_{{ doc.status | lower }}",
  "id": {{ doc.name | tojson }},
  "customer": {"id": {{ doc.party_name | tojson }}, "name": {{ doc.customer_name | tojson }}},
  "date": "{{ doc.transaction_date }}",
  "valid_till": "{{ doc.valid_till }}",
  "currency": "{{ doc.currency }}",
  "total": {{ doc.grand_total | flt(2) }},
  "tax": {{ doc.total_taxes_and_charges | round(2) }},
  "lines": [
    {%- for row in doc["items"] %}
    {
      "line": {{ loop.index }},
      "sku": {{ row.item_code | tojson }},
      "name": {{ row.item_name | tojson }},
      "qty": {{ row.qty | int }},
      "rate": {{ row.rate }},
      "amount": {{ row.amount | round(2) }},
      "warehouse": {{ row.warehouse | default("", true) | tojson }},
      "delivery": "{{ row.delivery_date }}"
    }{{ "," if not loop.last }}
    {%- endfor %}
  ],
  "line_count": {{ doc["items"] | length }},
  "skus": {{ doc["items"] | map(attribute="item_code") | join(",") | tojson }}
}"""


def jinja_precompiled(tmpl):
    def build(doc):
        return json.dumps(json.loads(tmpl.render({"doc": jr.as_dict(doc), "utils": jr.Utils})), default=str)
    return build


def frappe_per_call(doc):
    # frappe.render_template: ".__" check, get_jenv().from_string(template).render(context)
    return json.dumps(json.loads(jr.render_template(TEMPLATE, doc)), default=str)


def best_us(fn, number, repeat=3):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main(rounds=7):
    doc = quotation(rows=5)
    hook = fwc.Webhook(request_url="https://example.com/hook", webhook_json=TEMPLATE)
    body = hook.request(doc).body
    tmpl = jr.JENV.from_string(TEMPLATE)
    pre = jinja_precompiled(tmpl)
    assert body == pre(doc).encode() == frappe_per_call(doc).encode(), "native and Jinja2 disagree"

    # Interleaved rounds, so that background load meets every path; each path's best
    # round is its undisturbed speed, and the per-round ratios show the spread.
    paths = {"native": (lambda: hook.request(doc).body, 2000), "precompiled": (lambda: pre(doc), 200),
             "per_call": (lambda: frappe_per_call(doc), 20)}
    runs = {name: [] for name in paths}
    for _ in range(rounds):
        for name, (fn, number) in paths.items():
            runs[name].append(best_us(fn, number))

    def ratio(name):
        r = sorted(p / n for p, n in zip(runs[name], runs["native"]))
        return min(runs[name]) / min(runs["native"]), r[0], r[-1]

    print(f"Quotation, 5 child rows, template {len(TEMPLATE)} chars, body {len(body)} bytes")
    print(f"{rounds} interleaved rounds; µs: best round; native is: best round against best round (each side undisturbed); range: per-round ratios\n")
    print(f"{'path':<50}{'µs/body':>10}{'native is':>12}{'range':>18}")
    print("-" * 90)
    print(f"{'frappe_webhook_c  request(doc).body':<50}{min(runs['native']):>10.2f}")
    for name, label, target in (("precompiled", "Jinja2 precompiled + json.loads/json.dumps", 20),
                                ("per_call", "Frappe per call (compile + render + loads/dumps)", 500)):
        med, lo, hi = ratio(name)
        print(f"{label:<50}{min(runs[name]):>10.2f}{med:>11.1f}x{f'{lo:.0f}x - {hi:.0f}x':>18}   (target {target}x)")


if __name__ == "__main__":
    main()
