"""Command line: `python -m frappe_webhook_c demo | preview`."""
import argparse
import json
import sys

from . import Webhook

# The seed example: a Quotation webhook on on_update, Form URL-Encoded, two field rows.
SEED_WEBHOOK = {
    "name": "quotation-hook",
    "webhook_doctype": "Quotation",
    "webhook_docevent": "on_update",
    "request_url": "http://127.0.0.1:8000/hooks/quotation",
    "request_method": "POST",
    "request_structure": "Form URL-Encoded",
    "webhook_data": [{"fieldname": "name", "key": "id"}, {"fieldname": "items", "key": "lineItems"}],
    "webhook_headers": [{"key": "Content-Type", "value": "application/json"}],
}

SEED_DOC = {
    "doctype": "Quotation",
    "name": "SAL-QTN-2026-00001",
    "customer_name": "ACME Café",
    "transaction_date": "2026-11-27",
    "grand_total": 2380.0,
    "items": [
        {"item_code": "WIDGET", "qty": 10.0, "rate": 200.0, "amount": 2000.0},
        {"item_code": "GADGET", "qty": 1.0, "rate": 0.1, "amount": 0.1},
    ],
}


def show(request, out=sys.stdout):
    print(f"{request.method} {request.url}", file=out)
    for name, value in request.headers:
        print(f"{name}: {value}", file=out)
    print(file=out)
    print(request.body.decode(), file=out)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def cmd_demo(args):
    print("# the seed example: Quotation on_update, Form URL-Encoded, name->id, items->lineItems\n")
    show(Webhook.from_frappe(SEED_WEBHOOK).request(SEED_DOC))
    print("\n# the same, signed with webhook_secret='demo-secret'\n")
    show(Webhook.from_frappe(dict(SEED_WEBHOOK, webhook_secret="demo-secret")).request(SEED_DOC))
    return 0


def cmd_preview(args):
    hook = Webhook.from_frappe(load_json(args.webhook))
    show(hook.request(load_json(args.doc)))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m frappe_webhook_c", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="show the requests the seed example produces")
    p = sub.add_parser("preview", help="build the request for a document, without sending it")
    p.add_argument("--webhook", required=True, help="Frappe Webhook document as JSON")
    p.add_argument("--doc", required=True, help="document as JSON")
    args = parser.parse_args(argv)
    return {"demo": cmd_demo, "preview": cmd_preview}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
