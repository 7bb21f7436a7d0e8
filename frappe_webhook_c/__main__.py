"""Command line: `python -m frappe_webhook_c demo | preview | send | sink | outbox`.

    demo     start a sink on 127.0.0.1, send the seed example to it (unsigned and signed),
             show what the sink received, stop the sink
    preview  build the request for a document without sending it
    send     build the request and send it now (dispatch)
    sink     a small local receiver that prints each request and checks its signature
    outbox   look into a durable store (Dispatcher(store=...)) and administer it:
             outbox PATH stats|list|show ID|replay ID|purge [--json]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import Webhook, __version__, _outbox_cli, dispatch, verify

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

# which header tells that a scheme was used
SCHEME_HEADERS = {"frappe": "x-frappe-webhook-signature", "standard": "webhook-signature", "github": "x-hub-signature-256"}


def show(request, out=sys.stdout):
    print(f"{request.method} {request.url}", file=out)
    for name, value in request.headers:
        print(f"{name}: {value}", file=out)
    print(file=out)
    print(request.body.decode(), file=out)


def show_response(response, out=sys.stdout):
    if response.error:
        print(f"-> failed: {response.error}" + (f" (HTTP {response.status})" if response.status else ""), file=out)
    else:
        print(f"-> HTTP {response.status} in {response.elapsed * 1000:.1f} ms: {response.body[:200]!r}", file=out)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------- sink ----------

def signature_verdict(secret, body, headers):
    """What the sink says about a request's signature."""
    lower = {k.lower() for k, _ in headers}
    used = [s for s, h in SCHEME_HEADERS.items() if h in lower]
    if not used:
        return "none (unsigned request)"
    if secret is None:
        return f"present ({', '.join(used)}), not checked: start the sink with --secret"
    results = []
    for scheme in used:
        try:
            ok = verify(secret, body, dict(headers), scheme)
        except ValueError as e:
            ok, scheme = False, f"{scheme}: {e}"
        results.append(f"{'verified' if ok else 'INVALID'} ({scheme})")
    return ", ".join(results)


def make_sink_handler(secret, out):
    lock = threading.Lock()

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"frappe-webhook-c-sink/{__version__}"

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = list(self.headers.items())
            with lock:
                print(f"--- {self.command} {self.path} (from {self.client_address[0]})", file=out)
                for k, v in headers:
                    print(f"{k}: {v}", file=out)
                print(file=out)
                print(body.decode("utf-8", "replace"), file=out)
                print(f"signature: {signature_verdict(secret, body, headers)}", file=out)
                print(file=out, flush=True)
            reply = b"received\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET = _handle

        def log_message(self, *args):
            pass

    return Sink


def cmd_sink(args):
    server = ThreadingHTTPServer((args.host, args.port), make_sink_handler(args.secret, sys.stdout))
    host, port = server.server_address[:2]
    print(f"sink listening on http://{host}:{port}/ "
          f"({'checking signatures with the given secret' if args.secret is not None else 'no --secret'})",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# ---------- send / preview ----------

def cmd_preview(args):
    hook = Webhook.from_frappe(load_json(args.webhook))
    show(hook.request(load_json(args.doc)))
    return 0


def cmd_send(args):
    spec = load_json(args.webhook)
    if args.allow_private_networks:
        spec["allow_private_networks"] = True
    hook = Webhook.from_frappe(spec)
    response = dispatch(hook, load_json(args.doc))
    show(response.request)
    print()
    show_response(response)
    return 0 if response.ok else 1


# ---------- demo ----------

def free_port(host):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cmd_demo(args):
    host, secret = "127.0.0.1", "demo-secret"
    port = free_port(host)
    sink = subprocess.Popen([sys.executable, "-u", "-m", "frappe_webhook_c", "sink", "--host", host,
                             "--port", str(port), "--secret", secret],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        banner = sink.stdout.readline()
        if not banner.startswith("sink listening"):
            print(banner + sink.stdout.read(), file=sys.stderr)
            return 1
        for _ in range(100):
            try:
                socket.create_connection((host, port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"http://{host}:{port}/hooks/quotation"
        print(f"# sink started on {url} (checks signatures with webhook_secret={secret!r})")
        print("# the sink is on loopback, which SSRF protection refuses by default:")
        print("# these webhooks set allow_private_networks=True\n")
        plain = dict(SEED_WEBHOOK, request_url=url, allow_private_networks=True)
        print("# 1. the seed example: Quotation on_update, Form URL-Encoded, name->id, items->lineItems\n")
        r1 = dispatch(Webhook.from_frappe(plain), SEED_DOC)
        show(r1.request)
        show_response(r1)
        print(f"\n# 2. the same, signed with webhook_secret={secret!r}\n")
        r2 = dispatch(Webhook.from_frappe(dict(plain, webhook_secret=secret)), SEED_DOC)
        show(r2.request)
        show_response(r2)
    finally:
        sink.terminate()
        try:
            received, _ = sink.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            sink.kill()
            received, _ = sink.communicate()
    print("\n# what the sink received (then it was stopped)\n")
    print(received.rstrip())
    return 0 if r1.ok and r2.ok and "signature: verified (frappe)" in received else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m frappe_webhook_c", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="send the seed example to a local sink and show what it received")
    p = sub.add_parser("preview", help="build the request for a document, without sending it")
    p.add_argument("--webhook", required=True, help="Frappe Webhook document as JSON")
    p.add_argument("--doc", required=True, help="document as JSON")
    p = sub.add_parser("send", help="build the request for a document and send it")
    p.add_argument("--webhook", required=True, help="Frappe Webhook document as JSON (may set any Webhook option)")
    p.add_argument("--doc", required=True, help="document as JSON")
    p.add_argument("--allow-private-networks", action="store_true",
                   help="lift SSRF protection (needed for a receiver on this machine or the LAN)")
    p = sub.add_parser("sink", help="a local receiver that prints requests and checks signatures")
    p.add_argument("--port", type=int, required=True, help="port to listen on (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--secret", help="webhook secret to verify signatures with")
    _outbox_cli.add_parser(sub)
    args = parser.parse_args(argv)
    handlers = {"demo": cmd_demo, "preview": cmd_preview, "send": cmd_send, "sink": cmd_sink,
                "outbox": _outbox_cli.run}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
