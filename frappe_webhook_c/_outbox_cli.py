"""`python -m frappe_webhook_c outbox PATH stats|list|show ID|replay ID|purge [--json]`:
look into a durable store (the SQLite file of `Dispatcher(store=...)`) and administer it,
through `Outbox`, without starting an engine.

    stats              counts by status over the whole store (every process)
    list               deliveries, newest first (--status, --webhook, --reference-document,
                       --limit)
    show ID            one delivery and each of its attempts
    replay ID          mark it to be sent again now; a running process with this store
                       claims it and sends it (a new round of attempts, the same id)
    purge              delete delivered and exhausted deliveries last updated more than
                       --older-than SECONDS ago (default: the store's retention)

Every command takes --json (machine-readable, nothing truncated).  Mistakes (a path that
does not exist -- no database is ever created here --, a file that is not an outbox, an
unknown id) print one line on stderr and exit with status 2.
"""
import argparse
import base64
import datetime
import json
import os
import sqlite3
import sys
import urllib.parse

EXIT_MISTAKE = 2
STATUSES = ("queued", "delivered", "failed", "exhausted")
SQLITE_MAGIC = b"SQLite format 3\x00"

# what a human table shows of long texts
ERROR_WIDTH = 48
HEADER_LINES = 12
HEADER_VALUE_WIDTH = 100
BODY_BYTES = 400
BODY_LINES = 8
BODY_WIDTH = 100


class Mistake(Exception):
    """A mistake of the caller: one line, exit status 2."""


# ---------- the command line ----------

def add_parser(sub):
    """Adds the `outbox` command to the subparsers of `python -m frappe_webhook_c`."""
    p = sub.add_parser("outbox", help="inspect and administer a durable store: stats, list, show, replay, purge",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH", help="the store's SQLite file (or sqlite:///abs/path.db)")
    p.add_argument("--json", action="store_true", help="print JSON (nothing truncated)")
    # --json is accepted after the action too; SUPPRESS keeps the action's parser from
    # overwriting a --json given before it
    json_flag = dict(action="store_true", default=argparse.SUPPRESS, help="print JSON (nothing truncated)")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = acts.add_parser("stats", help="counts by status over the whole store")
    a.add_argument("--json", **json_flag)
    a = acts.add_parser("list", help="deliveries, newest first")
    a.add_argument("--status", type=str.lower, choices=STATUSES, help="only deliveries with this status")
    a.add_argument("--webhook", help="only deliveries of the webhook with this name")
    a.add_argument("--reference-document", metavar="NAME", help="only deliveries of the document with this name")
    a.add_argument("--limit", type=positive_int, default=50, help="at most this many (default 50)")
    a.add_argument("--json", **json_flag)
    a = acts.add_parser("show", help="one delivery and each of its attempts")
    a.add_argument("id", metavar="ID", help="the delivery's id (msg_...)")
    a.add_argument("--json", **json_flag)
    a = acts.add_parser("replay", help="mark a delivery to be sent again now (a running process sends it)")
    a.add_argument("id", metavar="ID", help="the delivery's id (msg_...)")
    a.add_argument("--json", **json_flag)
    a = acts.add_parser("purge", help="delete delivered and exhausted deliveries older than the retention")
    a.add_argument("--older-than", metavar="SECONDS", type=non_negative_float,
                   help="last updated more than this many seconds ago (default: the store's retention)")
    a.add_argument("--json", **json_flag)
    return p


def positive_int(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return n


def non_negative_float(text):
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not x >= 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0: {text!r}")
    return x


def run(args, out=None, err=None):
    """Runs `outbox` with the parsed args; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        with open_outbox(args.path) as box:
            return ACTIONS[args.action](box, args, out)
    except Mistake as e:
        print(f"outbox: {e}", file=err)
        return EXIT_MISTAKE
    except BrokenPipeError:  # `... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ValueError, KeyError, OSError) as e:
        # an unknown id, a delivery held by another process, a store that cannot be read:
        # the store's messages name the path or the id
        print(f"outbox: {one_line(e)}", file=err)
        return EXIT_MISTAKE


def one_line(e):
    text = str(e) or type(e).__name__
    if isinstance(e, KeyError) and e.args:
        text = str(e.args[0])
    return " ".join(text.split())


# ---------- opening ----------

def store_path(path):
    """The file path of PATH (sqlite:///abs/path.db or a plain path)."""
    if path.startswith("sqlite:///"):
        return "/" + path[len("sqlite:///"):].lstrip("/")
    if path.startswith("sqlite://"):
        raise Mistake(f"{path}: a store URL is sqlite:///absolute/path.db")
    return path


def check_is_outbox(path):
    """Mistake unless path is an existing file that holds an outbox.  Reads only: no
    database is created, no table added."""
    if not os.path.exists(path):
        raise Mistake(f"{path}: no such file (an outbox is created by Dispatcher(store=...), not here)")
    if os.path.isdir(path):
        raise Mistake(f"{path}: is a directory, not an outbox file")
    try:
        with open(path, "rb") as f:
            magic = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise Mistake(f"{path}: cannot be read: {e.strerror or e}") from None
    if not magic:
        raise Mistake(f"{path}: not an outbox (an empty file)")
    if magic != SQLITE_MAGIC:
        raise Mistake(f"{path}: not an outbox (not an SQLite database)")
    # mode=rw never creates the file; the query is a read transaction (fine in WAL, also
    # while a Dispatcher writes)
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=rw"
    try:
        con = sqlite3.connect(uri, uri=True, timeout=5.0)
        try:
            found = con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                                "('fwc_meta', 'fwc_delivery')").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise Mistake(f"{path}: not an outbox ({e})") from None
    if found != 2:
        raise Mistake(f"{path}: not an outbox (an SQLite database without the fwc_meta and fwc_delivery tables)")


def open_outbox(path):
    path = store_path(path)
    check_is_outbox(path)
    try:
        from . import Outbox
    except ImportError:
        raise Mistake("this build of frappe_webhook_c has no durable store (Outbox)") from None
    return Outbox(path)


# ---------- formatting ----------

def local_time(t):
    """Unix time as local time, to the second; '-' when None."""
    if t is None:
        return "-"
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def clean(text):
    """Text from a receiver or a document, safe for a terminal: control characters (ANSI
    escapes, newlines) shown escaped."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def truncate(text, width):
    return text if len(text) <= width else text[:width - 1] + "…"


def table(headers, rows, out, right=()):
    """An aligned text table; columns whose index is in `right` are right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]

    def line(cells):
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    print(line(headers), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print(line(row), file=out)


def reference(row):
    parts = [row.get("reference_doctype"), row.get("reference_document")]
    return " ".join(clean(p) for p in parts if p) or "-"


def note(row):
    """The last error, or why the delivery waits."""
    if row.get("error"):
        return clean(row["error"])
    if row.get("waiting"):
        return "waiting: " + clean(row["waiting"])
    return ""


def dump_json(value, out):
    json.dump(value, out, indent=2, ensure_ascii=False, default=json_default)
    out.write("\n")


def json_default(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def attempt_json(a):
    """An attempt as JSON: the body as text when it is UTF-8, else as base64."""
    a = dict(a)
    body = a.get("response_body")
    if isinstance(body, (bytes, bytearray)):
        try:
            a["response_body"] = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            a["response_body"] = None
            a["response_body_base64"] = base64.b64encode(body).decode()
    a["response_headers"] = [list(h) for h in a.get("response_headers") or ()]
    return a


# ---------- the actions ----------

def cmd_stats(box, args, out):
    stats = dict(box.stats())
    if args.json:
        dump_json(stats, out)
        return 0
    counts = [(k, stats[k]) for k in ("queued", "failed", "delivered", "exhausted", "waiting", "leased") if k in stats]
    hints = {"failed": "(a retry is scheduled)", "waiting": "(no webhook of that name in any process yet)",
             "leased": "(held by a running process now)"}
    width = max(len(k) for k, _ in counts) if counts else 0
    print(f"outbox {stats.get('path') or store_path(args.path)}", file=out)
    for k, v in counts:
        print(f"  {k.ljust(width)}  {v:>10,}  {hints.get(k, '')}".rstrip(), file=out)
    return 0


def cmd_list(box, args, out):
    rows = box.deliveries(status=args.status, webhook=args.webhook,
                          reference_document=args.reference_document, limit=args.limit)
    if args.json:
        dump_json(list(rows), out)
        return 0
    if not rows:
        print("no deliveries" + (" match" if args.status or args.webhook or args.reference_document else ""),
              file=out)
        return 0
    table(["ID", "WEBHOOK", "REFERENCE", "STATUS", "ATTEMPTS", "NEXT RETRY", "LAST ERROR"],
          [[r["id"], clean(r.get("webhook")) or "-", reference(r), r["status"], str(r.get("attempts", 0)),
            local_time(r.get("next_retry")), truncate(note(r), ERROR_WIDTH)] for r in rows],
          out, right={4})
    if len(rows) == args.limit:
        print(f"(the {args.limit} newest; --limit N shows more)", file=out)
    return 0


def find_delivery(box, delivery_id):
    """The log row of one delivery, or Mistake.  Uses an id filter when the Outbox has
    one, else looks through the log."""
    try:
        rows = box.deliveries(id=delivery_id, limit=1)
    except TypeError:
        rows = [r for r in box.deliveries(limit=2**62) if r["id"] == delivery_id]
    rows = [r for r in rows if r["id"] == delivery_id]
    if not rows:
        raise Mistake(f"no delivery {delivery_id!r} in this outbox")
    return rows[0]


def cmd_show(box, args, out):
    row = find_delivery(box, args.id)
    attempts = box.attempts(args.id)
    if args.json:
        dump_json({"delivery": row, "attempts": [attempt_json(a) for a in attempts]}, out)
        return 0
    fields = [
        ("id", row["id"]),
        ("webhook", clean(row.get("webhook")) or "-"),
        ("reference", reference(row)),
        ("status", row["status"]),
        ("attempts", str(row.get("attempts", 0))),
        ("next retry", local_time(row.get("next_retry"))),
        ("created", local_time(row.get("created"))),
        ("updated", local_time(row.get("updated"))),
        ("owner", clean(row.get("owner")) or "- (no process holds it)"),
    ]
    if row.get("waiting"):
        fields.append(("waiting", clean(row["waiting"])))
    if row.get("error"):
        fields.append(("last error", clean(row["error"])))
    width = max(len(k) for k, _ in fields)
    for k, v in fields:
        print(f"{k.ljust(width)}  {v}", file=out)
    if not attempts:
        print("\nno attempt yet", file=out)
    last, round_ = None, 1
    for a in attempts:
        print(file=out)
        if last is not None and (a.get("attempt") or 0) <= last:
            round_ += 1
            print(f"-- round {round_} (replayed or requeued) --", file=out)
        last = a.get("attempt") or 0
        show_attempt(a, out)
    return 0


def show_attempt(a, out):
    status = a.get("response_status")
    elapsed = a.get("elapsed")
    head = [f"attempt {a.get('attempt')}", local_time(a.get("time")), str(a.get("status"))]
    head.append(f"HTTP {status}" if status else "no response")
    if elapsed is not None:
        head.append(f"{elapsed * 1000:.1f} ms")
    print("  ".join(head), file=out)
    if a.get("url"):
        print(f"  url    {clean(a['url'])}", file=out)
    if a.get("error"):
        print(f"  error  {clean(a['error'])}", file=out)
    headers = list(a.get("response_headers") or ())
    if headers:
        print("  response headers:", file=out)
        for name, value in headers[:HEADER_LINES]:
            print(f"    {clean(name)}: {truncate(clean(value), HEADER_VALUE_WIDTH)}", file=out)
        if len(headers) > HEADER_LINES:
            print(f"    ... {len(headers) - HEADER_LINES} more (--json shows all)", file=out)
    body = a.get("response_body")
    if body:
        size = len(body)
        lines = bytes(body[:BODY_BYTES]).decode("utf-8", "replace").splitlines()
        cut = size > BODY_BYTES or len(lines) > BODY_LINES
        more = f", the first {min(BODY_BYTES, size):,} or {BODY_LINES} lines shown (--json shows all)" if cut else ""
        print(f"  response body: {size:,} bytes{more}", file=out)
        for text in lines[:BODY_LINES]:
            print(f"    {truncate(clean(text), BODY_WIDTH)}", file=out)


def cmd_replay(box, args, out):
    box.requeue(args.id)
    if args.json:
        dump_json({"id": args.id, "requeued": True}, out)
    else:
        print(f"{args.id} requeued: a running process with this store sends it now "
              "(a new round of attempts, the same webhook-id)", file=out)
    return 0


def cmd_purge(box, args, out):
    n = box.purge(args.older_than)
    if args.json:
        dump_json({"purged": n, "older_than": args.older_than}, out)
    else:
        age = "the store's retention" if args.older_than is None else f"{args.older_than:g} s"
        print(f"purged {n:,} deliveries (delivered or exhausted, last updated more than {age} ago)", file=out)
    return 0


ACTIONS = {"stats": cmd_stats, "list": cmd_list, "show": cmd_show, "replay": cmd_replay, "purge": cmd_purge}
