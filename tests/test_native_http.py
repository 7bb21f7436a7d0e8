"""The Dispatcher's native HTTP/1.1 client against libcurl as the oracle.

`Dispatcher(native_http=True)` sends plain `http://` requests with the native keep-alive
client; `native_http=False` sends everything through libcurl.  Every case here runs with
both and compares what matters:

1. the request bytes on the wire, byte for byte (tests/support/raw_server.py records them per
   connection): hypothesis-generated webhooks (methods, header rows, signatures, field
   maps and templates, URLs) and an explicit list of URL / header-row forms where
   libcurl rewrites or drops something;
2. the Delivery a scripted response gives (status, attempt, next_retry and its delay,
   response status / headers / body, truncated, error text), with what the server saw
   (connections accepted, requests read) and the engine's counters;
3. keep-alive: one connection for sequential deliveries, stale connections retried once,
   `Connection: close`, HTTP/1.0, bytes after a response;
4. concurrency: 2000 deliveries through 16 connections, each id exactly once.

Only 127.0.0.1 and ::1 are ever contacted.  No lookup leaves the machine: libcurl and the
native client resolve `localhost` and `*.localhost` themselves, and the unresolvable host
has a 64-character label, which the C library rejects before asking any DNS server.
"""
import base64
import collections
import json
import re
import socket
import string
import threading
import time
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import frappe_webhook_c as fwc
from support.dispatch_receiver import wait_until
from support.raw_server import Act, RawServer, fragments, ok
from support.loopback import free_port  # noqa: E402

# The native client counts its attempts in stats()["native_attempts"].  While it has not
# landed (the keyword is a no-op), that single assertion is off; it must be True at the end.
NATIVE_LANDED = True
# a label longer than 63 characters: getaddrinfo fails locally, no DNS query is sent
BAD_HOST = "a" * 64 + ".test"

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MODES = (True, False)        # native_http


def _have_v6():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_V6 = _have_v6()
LOOPS = ("127.0.0.1", "::1") if HAVE_V6 else ("127.0.0.1",)
needs_v6 = pytest.mark.skipif(not HAVE_V6, reason="no ::1")


def hook(url, **kw):
    kw.setdefault("allow_private_networks", True)
    kw.setdefault("retry_schedule", [20, 60])
    kw.setdefault("retry_jitter", 0)
    kw.setdefault("max_retries", 1)
    kw.setdefault("webhook_data", [("name", "id")])
    return fwc.Webhook(url, **kw)



def check_native_count(native, stats, attempts=None, routed=True):
    """native_http=False never uses the native client.  With True, a request the native
    client takes (routed=True: plain http, a URL libcurl sends unchanged, no header
    libcurl acts on; see src/h1.h) goes out natively -- every attempt of it; one it
    leaves to libcurl (routed=False) never does; routed=None: not asserted."""
    if not native:
        assert stats["native_attempts"] == 0
    elif NATIVE_LANDED and routed is not None:
        if not routed:
            assert stats["native_attempts"] == 0, stats
        elif attempts is None:
            assert stats["native_attempts"] > 0, stats
        else:
            assert stats["native_attempts"] == attempts, stats


# The native client's contract (src/h1.h, h1_request.c), as a model: which requests it
# sends.  Everything else goes to libcurl; the bytes on the wire must be the same anyway.
H1_SPECIAL = {"host", "content-length", "transfer-encoding", "connection", "expect", "te", "upgrade", "keep-alive",
              "trailer", "proxy-connection"}


def _dot_segment(path):
    return any(seg in (".", "..") for seg in path.split("/")[1:])


def native_route_expected(h, doc):
    """Whether the native client should take this webhook's request (a model of
    fwc_h1_eligible: what libcurl would send unchanged)."""
    if h.proxy or h.follow_redirects:
        return False
    req = h.request(doc)
    for k, v in req.headers:
        if k.lower() in H1_SPECIAL or not v.strip(" \t\v\f"):
            return False
    url = req.url
    if not url.startswith("http://"):
        return False
    rest = url[7:]
    cut = min([i for i in (rest.find(c) for c in "/?#") if i >= 0] or [len(rest)])
    auth, target = rest[:cut], rest[cut:]
    if "@" in auth:
        return False
    if auth.startswith("["):
        host, _, port = auth[1:].partition("]")
        if port and not port.startswith(":"):
            return False
        port = port[1:] if port else None
        try:
            if socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, host)) != host:
                return False
        except OSError:
            return False
    else:
        host, sep, port = auth.partition(":")
        port = port if sep else None
        if not host or any(c not in string.ascii_letters + string.digits + "-._" for c in host) or host.endswith("."):
            return False
        if all(c in "0123456789abcdefABCDEFxX." for c in host):
            try:
                if socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, host)) != host:
                    return False
            except OSError:
                return False
    if port is not None and (not port.isdigit() or len(port) > 5 or not 0 < int(port) < 65536):
        return False
    target = target.split("#", 1)[0]
    if any(not 0x20 < ord(c) < 0x7f for c in target):
        return False
    return not _dot_segment(target.split("?", 1)[0])


def fields(x):
    """What a Delivery reports, for comparing the two transports."""
    return {
        "status": x.status, "done": x.done, "attempt": x.attempt, "next_retry": x.next_retry is not None,
        "response_status": x.response_status, "response_headers": x.response_headers,
        "response_body": x.response_body, "truncated": x.truncated, "error": x.error,
        "url": x.url, "method": x.method,
    }


# =====================================================================================
# 1. request bytes
# =====================================================================================

STD_LINE = re.compile(rb"(?im)^(webhook-(?:id|timestamp|signature)):[^\r\n]*")


def masked(raw):
    """Request bytes with the Standard Webhooks values (fresh per delivery) masked."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    return STD_LINE.sub(rb"\1: <masked>", head) + sep + body


def check_signatures(req, x, secret, schemes):
    body = x.body
    if not secret:
        for n in ("X-Frappe-Webhook-Signature", "webhook-signature", "X-Hub-Signature-256"):
            assert req.header(n) is None
        return
    if "standard" in schemes:
        assert req.header("webhook-id") == x.id
        hdrs = {k: req.header(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        assert fwc.verify(secret, body, hdrs, scheme="standard")
    if "frappe" in schemes:
        assert fwc.verify(secret, body, {"X-Frappe-Webhook-Signature": req.header("X-Frappe-Webhook-Signature")})
    if "github" in schemes:
        assert fwc.verify(secret, body, {"X-Hub-Signature-256": req.header("X-Hub-Signature-256")}, scheme="github")


ROUTED = collections.Counter()     # examples sent natively (True) / by libcurl (False)


class Pair:
    """One raw server (every loopback address, one port) and a native and a libcurl
    Dispatcher, kept for many examples: `send(hook, doc)` delivers with each in turn
    and returns [(delivery, [requests the server read for it])] for native, libcurl."""

    def __init__(self, hosts=LOOPS, port=0):
        self.srv = RawServer(hosts=hosts, port=port).start()
        self.d = {m: fwc.Dispatcher(native_http=m) for m in MODES}
        self.lock = threading.Lock()

    def send(self, h, doc, routed=None):
        """routed: whether the native client must take it (None: the model decides)."""
        if routed is None:
            routed = native_route_expected(h, doc)
        ROUTED[routed] += 1
        out = []
        with self.lock:
            for m in MODES:
                before = len(self.srv.requests)
                s0 = self.d[m].stats()
                x = self.d[m].enqueue(h, doc)
                self.d[m].flush(20)
                assert wait_until(lambda: x.attempt >= 1)
                reqs = self.srv.requests[before:]
                s = self.d[m].stats()
                check_native_count(m, s, routed=None)
                assert s["attempts"] - s0["attempts"] == 1
                if m and NATIVE_LANDED:     # this attempt went out natively, or through libcurl
                    assert s["native_attempts"] - s0["native_attempts"] == (1 if routed else 0), (routed, x.url)
                out.append((x, reqs))
        return out

    def close(self):
        for d in self.d.values():
            d.close(0)
        self.srv.stop()


@pytest.fixture(scope="module")
def pair():
    p = Pair()
    yield p
    p.close()


def assert_same_request(pair_out, secret=None, schemes=()):
    (xn, rn), (xc, rc) = pair_out
    assert xc.status == "Delivered", (xc.error, rc)
    assert len(rc) == 1, rc
    assert [r.raw for r in rn] and len(rn) == 1, (xn.status, xn.error, rn)
    # the body on the wire is the body the Delivery shows
    assert rc[0].body == xc.body or rc[0].header("Transfer-Encoding")
    assert masked(rn[0].raw) == masked(rc[0].raw)
    assert fields(xn) == fields(xc)
    assert [(k, v) for k, v in xn.headers if not k.startswith("webhook-")] == \
        [(k, v) for k, v in xc.headers if not k.startswith("webhook-")]
    for x, r in ((xn, rn[0]), (xc, rc[0])):
        check_signatures(r, x, secret, schemes)


# ---- hypothesis: the mainstream features ----

TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
# header names libcurl treats specially when a row sets them (tested one by one below)
SPECIAL = {"host", "expect", "transfer-encoding", "content-length", "connection", "authorization",
           "webhook-id", "webhook-timestamp", "webhook-signature", "x-frappe-webhook-signature",
           "x-hub-signature-256"}
CURL_SPACE = " \t\n\v\f\r"

header_names = st.one_of(
    st.sampled_from(["Accept", "accept", "ACCEPT", "Content-Type", "content-type", "CONTENT-TYPE", "User-Agent",
                     "user-agent", "USER-AGENT", "X-Api-Key", "X-Request-Id", "Cookie", "Accept-Encoding",
                     "X-Odd!#$%&'*+-.^_`|~", "x", "X-Dup"]),
    st.text(TOKEN, min_size=1, max_size=16),
).filter(lambda n: n.lower() not in SPECIAL)

# RFC 9110 field-value characters: Webhook() refuses other controls (tab comes from lead/trail)
_value_chars = st.characters(min_codepoint=0x20, max_codepoint=0x24FF, blacklist_characters="\x7f",
                             blacklist_categories=("Cs",))
header_values = st.builds(
    lambda lead, core, trail: lead + core + trail,
    st.sampled_from(["", " ", "  ", "\t", " \t"]),
    st.one_of(st.sampled_from(["application/json", "text/plain; charset=utf-8", "*/*", "curl/8", "a", "é€",
                               "Bearer abc.def", "a,b", "x=1; y=2"]),
              st.text(_value_chars, min_size=1, max_size=30)),
    st.sampled_from(["", " ", "  ", "\t"]),
).filter(lambda v: v.strip(CURL_SPACE) != "")   # whitespace-only values: see the explicit cases

header_rows = st.lists(st.tuples(header_names, header_values), max_size=8).flatmap(
    # repeated keys: some rows again with another value
    lambda rows: st.lists(st.sampled_from(rows), max_size=3).map(
        lambda again: rows + [(k, v + "-again") for k, v in again]) if rows else st.just(rows))

signatures = st.one_of(
    st.just((None, ())),
    st.tuples(st.sampled_from(["s3cret", SECRET, "ü-secret"]),
              st.lists(st.sampled_from(["frappe", "standard", "github"]), min_size=1, max_size=3, unique=True)
              .map(tuple)),
)

_seg_chars = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"
pct = st.builds(lambda a, b: "%" + a + b, st.sampled_from("0123456789abcdefABCDEF"),
                st.sampled_from("0123456789abcdefABCDEF"))
segment = st.one_of(st.sampled_from([".", "..", "", "a", "b", "%2e", "%2E%2e", "index.html", "v1"]),
                    st.lists(st.one_of(st.text(_seg_chars, min_size=1, max_size=6), pct), min_size=1, max_size=4)
                    .map("".join))
paths = st.one_of(st.sampled_from(["", "/", "/hook", "/a/./b/../c", "/a/b/..", "/..", "/./", "/a//b/", "/%7Euser/x"]),
                  st.lists(segment, min_size=1, max_size=5).map(lambda s: "/" + "/".join(s)))
queries = st.one_of(st.none(), st.sampled_from(["", "a=1", "a=1&b=2", "x=%20y&z=%2F", "q=/a/../b", "?", "a=b=c"]),
                    st.lists(st.one_of(st.text(_seg_chars + "/?", min_size=1, max_size=6), pct), max_size=4)
                    .map("".join))
frags = st.one_of(st.none(), st.sampled_from(["", "frag", "a/../b", "x?y#z"]))
HOSTS = ["127.0.0.1", "localhost", "LOCALHOST", "LocalHost"] + (["[::1]"] if HAVE_V6 else [])

DOC_FIELDS = ["name", "qty", "rate", "note", "items", "flag", "blob", "missing"]


@st.composite
def docs(draw):
    return {
        "doctype": "Sales Order",
        "name": draw(st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=12)),
        "qty": draw(st.integers(-10**6, 10**20)),
        "rate": draw(st.floats(allow_nan=False, allow_infinity=False)),
        "note": draw(st.text(max_size=20)),
        "items": draw(st.lists(st.dictionaries(st.sampled_from(["item_code", "qty"]), st.integers(0, 9)),
                               max_size=3)),
        "flag": draw(st.sampled_from([True, False, None])),
        "blob": "x" * draw(st.sampled_from([0, 1, 1000, 70_000, 300_000])),
    }


TEMPLATES = [
    '{"name": "{{ doc.name }}", "qty": {{ doc.qty }}}',
    '{"note": "{{ doc.note }}", "blob": "{{ doc.blob }}", "n": {{ doc["items"] | length }}}',
    '[{% for row in doc["items"] %}{"code": "{{ row.item_code }}"}{% if not loop.last %}, {% endif %}{% endfor %}]',
]


@st.composite
def webhooks(draw):
    host = draw(st.sampled_from(HOSTS))
    path, query, frag = draw(paths), draw(queries), draw(frags)
    tail = path + ("" if query is None else "?" + query) + ("" if frag is None else "#" + frag)
    secret, schemes = draw(signatures)
    kw = {
        "request_method": draw(st.sampled_from(["POST", "PUT", "DELETE", "PATCH", "post", "Put", "delete", "patch"])),
        "webhook_headers": draw(header_rows),
        "max_retries": 0,
    }
    if secret:
        kw["webhook_secret"] = secret
        kw["signature"] = list(schemes)
    if draw(st.booleans()):
        fnames = draw(st.lists(st.sampled_from(DOC_FIELDS), min_size=1, max_size=6, unique=True))
        kw["webhook_data"] = [(f, draw(st.sampled_from(["id", "k", f, "Key ü", "x"]))) for f in fnames]
        kw["request_structure"] = draw(st.sampled_from(["", "Form URL-Encoded"]))
    else:
        kw["webhook_data"] = []
        kw["request_structure"] = "JSON"
        kw["webhook_json"] = draw(st.sampled_from(TEMPLATES))
        kw["json_escape"] = True
    return host, tail, kw, secret, schemes


@pytest.fixture(scope="module")
def pair80():
    """A raw server on port 80 (the default port, which libcurl leaves out of Host), or
    None when the port is not ours to take."""
    try:
        p = Pair(port=80)
    except OSError:
        yield None
        return
    yield p
    p.close()


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(w=webhooks(), doc=docs(), on80=st.sampled_from([None, None, ":80", ""]))
def test_request_bytes_are_libcurls(pair, pair80, w, doc, on80):
    host, tail, kw, secret, schemes = w
    if on80 is not None and pair80 is not None:
        p, port = pair80, on80          # http://host:80/... or http://host/...
    else:
        p, port = pair, f":{pair.srv.port}"
    h = hook(f"http://{host}{port}{tail}", **kw)
    assert_same_request(p.send(h, doc), secret, schemes)


def test_request_bytes_examples_went_both_ways():
    """The generated examples exercised the native client (most of them) and the
    fallback to libcurl (URLs with dot segments, ...): the test above compared both."""
    if not ROUTED:
        pytest.skip("runs after test_request_bytes_are_libcurls")
    assert ROUTED[True] >= 60 and ROUTED[False] >= 10, ROUTED


# ---- explicit forms: where libcurl rewrites, adds or drops something ----

@dataclass
class Form:
    id: str
    url: str                        # "{p}" is the server's port, "{h}" a host
    kw: dict = field(default_factory=dict)
    v6: bool = False
    port80: bool = False
    routed: object = None           # the native client takes it (None: the model decides)


FORMS = [
    Form("plain", "http://127.0.0.1:{p}/hook"),
    Form("dot-segments", "http://127.0.0.1:{p}/a/./b/../c?x=1&y=%20#frag"),
    Form("dot-segments-above-root", "http://127.0.0.1:{p}/a/../../x/."),
    Form("encoded-dots-kept", "http://127.0.0.1:{p}/a/%2e%2E/b/%2e/c"),
    Form("no-path", "http://127.0.0.1:{p}"),
    Form("no-path-query", "http://127.0.0.1:{p}?q=1"),
    Form("no-path-fragment", "http://127.0.0.1:{p}#f"),
    Form("empty-query", "http://127.0.0.1:{p}/x?"),
    Form("empty-fragment", "http://127.0.0.1:{p}/x#"),
    Form("double-slashes", "http://127.0.0.1:{p}//a//b//"),
    Form("percent-escapes-case-kept", "http://127.0.0.1:{p}/%7euser/%7E%2F%2f?a=%41%6a"),
    Form("bad-percent-escape", "http://127.0.0.1:{p}/%zz/%4?x=%"),
    Form("unsafe-ascii-kept", "http://127.0.0.1:{p}/a[b]{c}|d^e`f\\g\"h<i>j?k[]={x}|\"<>"),
    Form("utf8-path-and-query", "http://127.0.0.1:{p}/é/€?ü=ß#ö"),
    Form("upper-case-host", "http://LOCALHOST:{p}/X"),
    Form("mixed-case-host", "http://LocalHost:{p}/"),
    Form("localhost", "http://localhost:{p}/"),
    Form("ipv4-short", "http://127.1:{p}/"),
    Form("ipv4-decimal", "http://2130706433:{p}/"),
    Form("ipv4-hex", "http://0x7f.0.0.1:{p}/"),
    Form("ipv4-octal", "http://0177.0.0.01:{p}/"),
    Form("port-leading-zeros", "http://127.0.0.1:000{p}/"),
    Form("userinfo-basic-auth", "http://user:p%40ss@127.0.0.1:{p}/"),
    Form("userinfo-user-only", "http://user@127.0.0.1:{p}/"),
    Form("userinfo-and-authorization-row", "http://user:pw@127.0.0.1:{p}/",
         {"webhook_headers": [("Authorization", "Bearer t")]}),
    Form("sub-localhost", "http://foo.localhost:{p}/"),
    Form("ipv6", "http://[::1]:{p}/", v6=True),
    Form("ipv6-long-form", "http://[0:0:0:0:0:0:0:1]:{p}/", v6=True),
    Form("ipv6-v4-mapped", "http://[::ffff:127.0.0.1]:{p}/"),
    Form("port-80-explicit", "http://127.0.0.1:80/x", port80=True),
    Form("port-80-implicit", "http://127.0.0.1/x", port80=True),
    Form("port-80-localhost", "http://localhost:80/x", port80=True),
    # header rows libcurl treats specially
    Form("row-host", "http://127.0.0.1:{p}/", {"webhook_headers": [("Host", "example.com")]}),
    Form("row-host-lower", "http://127.0.0.1:{p}/", {"webhook_headers": [("host", "example.com:81")]}),
    Form("row-connection-close", "http://127.0.0.1:{p}/", {"webhook_headers": [("Connection", "close")]}),
    Form("row-connection-keep-alive", "http://127.0.0.1:{p}/", {"webhook_headers": [("Connection", "keep-alive")]}),
    Form("row-transfer-encoding-chunked", "http://127.0.0.1:{p}/",
         {"webhook_headers": [("Transfer-Encoding", "chunked")]}),
    Form("row-expect-100-continue", "http://127.0.0.1:{p}/", {"webhook_headers": [("Expect", "100-continue")]}),
    Form("row-content-length", "http://127.0.0.1:{p}/", {"webhook_headers": [("Content-Length", "13")]}),
    Form("row-accept-blank", "http://127.0.0.1:{p}/", {"webhook_headers": [("Accept", " ")]}),
    Form("row-content-type-tab", "http://127.0.0.1:{p}/", {"webhook_headers": [("Content-Type", "\t")]}),
    # control characters other than tab in a value are refused by Webhook() (test_hostile_snapshot.py)
    Form("row-x-blank", "http://127.0.0.1:{p}/", {"webhook_headers": [("X-Blank", "   "), ("X-After", "1")]}),
    Form("row-c1-and-nbsp", "http://127.0.0.1:{p}/", {"webhook_headers": [("X-C", "a\x85\xa0b")]}),
    Form("row-accept-encoding", "http://127.0.0.1:{p}/", {"webhook_headers": [("Accept-Encoding", "gzip")]}),
    Form("row-cookie", "http://127.0.0.1:{p}/", {"webhook_headers": [("Cookie", "a=b; c=d")]}),
    Form("row-repeated-keys", "http://127.0.0.1:{p}/",
         {"webhook_headers": [("X-A", "1"), ("x-a", "2"), ("X-A", "3"), ("Accept", "a/b"), ("ACCEPT", "c/d")]}),
    Form("delete-empty-ish-body", "http://127.0.0.1:{p}/", {"request_method": "DELETE", "webhook_data": []}),
    Form("all-signatures", "http://127.0.0.1:{p}/",
         {"webhook_secret": SECRET, "signature": ["frappe", "standard", "github"]}),
]


@pytest.mark.parametrize("form", FORMS, ids=[f.id for f in FORMS])
def test_request_bytes_forms(form, pair80):
    if form.v6 and not HAVE_V6:
        pytest.skip("no ::1")
    if form.port80 and pair80 is None:
        pytest.skip("port 80 is not free (or not ours) on loopback")
    p = pair80 if form.port80 else Pair()
    try:
        url = form.url.replace("{p}", str(p.srv.port))
        kw = dict(form.kw)
        kw.setdefault("max_retries", 0)
        h = hook(url, **kw)
        doc = {"doctype": "ToDo", "name": "T-1"}
        routed = native_route_expected(h, doc) if form.routed is None else form.routed
        out = p.send(h, doc, routed=routed)
        assert_same_request(out, kw.get("webhook_secret"), kw.get("signature", ()))
    finally:
        if p is not pair80:
            p.close()


def test_large_body_is_sent_whole(pair):
    """A 4 MB body (many partial writes) arrives whole and identical."""
    h = hook(pair.srv.url("/big"), webhook_data=[("name", "id"), ("blob", "blob")], max_retries=0)
    doc = {"name": "B", "blob": "".join(chr(32 + i % 90) for i in range(4_000_000))}
    out = pair.send(h, doc)
    assert_same_request(out)
    assert len(out[0][1][0].body) > 4_000_000


# =====================================================================================
# 2. responses
# =====================================================================================

OK2 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Before: 1\r\n\r\n"
           b"5;name=value;x\r\nhello\r\n1;ext\r\n \r\n5\r\nworld\r\n0;last=1\r\nX-Trailer: t\r\nX-T2: u\r\n\r\n")
TINY_CHUNKS = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"".join(b"1\r\n" + bytes([65 + i % 26]) + b"\r\n" for i in range(500)) + b"0\r\n\r\n")
INTERIM = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
           b"HTTP/1.1 201 Created\r\nContent-Length: 7\r\nX-Final: yes\r\n\r\ncreated")


@dataclass
class Case:
    id: str
    answer: object = None               # RawServer answer (bytes / Act / list / callable)
    on_accept: object = None
    hook: dict = field(default_factory=dict)
    url: object = None                  # callable(srv) -> url; default srv.url("/hook")
    expect: dict = field(default_factory=dict)      # what libcurl gives (checked on both)
    ignore: tuple = ()                  # fields that depend on timing
    hosts: tuple = ("127.0.0.1",)
    v6: bool = False
    routed: bool = True                 # the native client takes it (see check_native_count)
    doc: dict = None                    # the document (default: a ToDo T-1)


def E(status, error=None, rs=None, **kw):
    d = {"status": status, "error": error, "response_status": rs}
    d.update(kw)
    return d


CASES = [
    # ---- bodies ----
    Case("content-length", ok(b"hello", headers=[(b"X-A", b"b")]),
         expect=E("Delivered", rs=200, response_body=b"hello", response_headers=[("Content-Length", "5"), ("X-A", "b")])),
    Case("content-length-zero", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", expect=E("Delivered", rs=200, response_body=b"")),
    Case("chunked-extensions-trailers", CHUNKED,
         expect=E("Delivered", rs=200, response_body=b"hello world",
                  response_headers=[("Transfer-Encoding", "chunked"), ("X-Before", "1"), ("X-Trailer", "t"), ("X-T2", "u")])),
    Case("chunked-many-tiny-chunks", TINY_CHUNKS, expect=E("Delivered", rs=200, response_body=bytes(65 + i % 26 for i in range(500)))),
    Case("chunked-upper-hex-leading-zeros", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000A\r\n0123456789\r\n0\r\n\r\n",
         expect=E("Delivered", rs=200, response_body=b"0123456789")),
    Case("chunked-beats-content-length", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
         expect=E("Delivered", rs=200, response_body=b"ok")),
    Case("close-delimited", Act(b"HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nbody until close", after="close"),
         expect=E("Delivered", rs=200, response_body=b"body until close")),
    Case("close-delimited-empty", Act(b"HTTP/1.1 200 OK\r\n\r\n", after="close"), expect=E("Delivered", rs=200, response_body=b"")),
    Case("http10-keep-alive", b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
         expect=E("Delivered", rs=200, response_body=b"ok")),
    Case("http10-content-length", Act(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", after="close"),
         expect=E("Delivered", rs=200, response_body=b"ok")),
    Case("http10-close-delimited", Act(b"HTTP/1.0 202 Accepted\r\n\r\nabc", after="close"),
         expect=E("Delivered", rs=202, response_body=b"abc")),
    Case("interim-100-103", INTERIM,
         expect=E("Delivered", rs=201, response_body=b"created", response_headers=[("Content-Length", "7"), ("X-Final", "yes")])),
    Case("interim-1-byte-fragments", Act(fragments(INTERIM), delay=0.0005), expect=E("Delivered", rs=201, response_body=b"created")),
    Case("204-no-body", b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n", expect=E("Delivered", rs=204, response_body=b"")),
    Case("204-with-content-length", b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", expect=E("Delivered", rs=204)),
    Case("304-no-body", b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", expect=E("Failed", "HTTP 304", 304, response_body=b"")),
    Case("304-with-content-length", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", expect=E("Failed", "HTTP 304", 304)),
    Case("truncated-content-length", ok(b"x" * 100), hook={"max_response_bytes": 10},
         expect=E("Delivered", rs=200, response_body=b"x" * 10, truncated=True)),
    Case("truncated-chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + b"y" * 100 + b"\r\n0\r\n\r\n",
         hook={"max_response_bytes": 10}, expect=E("Delivered", rs=200, response_body=b"y" * 10, truncated=True)),
    Case("truncated-close-delimited", Act(b"HTTP/1.1 200 OK\r\n\r\n" + b"z" * 100, after="close"), hook={"max_response_bytes": 10},
         expect=E("Delivered", rs=200, response_body=b"z" * 10, truncated=True)),
    Case("truncated-500", b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\n" + b"e" * 100, hook={"max_response_bytes": 3},
         expect=E("Failed", "HTTP 500", 500, response_body=b"eee", truncated=True)),
    Case("truncated-max-0", ok(b"x"), hook={"max_response_bytes": 0}, expect=E("Delivered", rs=200, response_body=b"", truncated=True)),
    Case("exactly-max-not-truncated", ok(b"x" * 10), hook={"max_response_bytes": 10},
         expect=E("Delivered", rs=200, response_body=b"x" * 10, truncated=False)),
    Case("big-body-default-max", ok(b"q" * 200_000), expect=E("Delivered", rs=200, response_body=b"q" * 65536, truncated=True)),
    Case("lf-only", b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nok",
         expect=E("Delivered", rs=200, response_body=b"ok", response_headers=[("Content-Length", "2"), ("X-A", "b")])),
    Case("lf-only-chunked", b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n",
         expect=E("Delivered", rs=200, response_body=b"ok")),
    Case("folded-header", b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b: c\r\n\tmore\r\nContent-Length: 2\r\n\r\nok",
         expect=E("Delivered", rs=200, response_headers=[("X-Folded", "a"), (" b", "c"), ("Content-Length", "2")])),
    Case("header-odd-forms", b"HTTP/1.1 200 OK\r\nX-Sp : v \r\nX-Empty:\r\nX-Tab:\tv\t\r\nX-L: \xe9\xff\r\nX-C: a:b\r\nContent-Length: 2\r\n\r\nok",
         expect=E("Delivered", rs=200, response_headers=[("X-Sp ", "v"), ("X-Empty", ""), ("X-Tab", "v"), ("X-L", "éÿ"),
                                                         ("X-C", "a:b"), ("Content-Length", "2")])),
    Case("one-byte-fragments-content-length", Act(fragments(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"), delay=0.0005),
         expect=E("Delivered", rs=200, response_body=b"hello")),
    Case("one-byte-fragments-chunked", Act(fragments(CHUNKED), delay=0.0005), expect=E("Delivered", rs=200, response_body=b"hello world")),
    Case("one-byte-fragments-lf-only", Act(fragments(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"), delay=0.0005),
         expect=E("Delivered", rs=200, response_body=b"ok")),
    Case("fragments-then-close", Act(fragments(b"HTTP/1.1 200 OK\r\n\r\nabcdef", 3), delay=0.002, after="close"),
         expect=E("Delivered", rs=200, response_body=b"abcdef")),
    # ---- statuses ----
    Case("201", ok(b"", status=b"201 Created"), expect=E("Delivered", rs=201)),
    Case("299", ok(b"", status=b"299 Whatever"), expect=E("Delivered", rs=299)),
    Case("no-reason-phrase", b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", expect=E("Delivered", rs=200)),
    Case("empty-reason-phrase", b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", expect=E("Delivered", rs=200)),
    Case("redirect-absolute", b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n",
         expect=E("Failed", "redirect to http://127.0.0.1:1/x not followed", 302)),
    Case("redirect-root-relative", b"HTTP/1.1 301 Moved\r\nLocation: /root?x=1\r\nContent-Length: 0\r\n\r\n",
         expect=E("Failed", None, 301)),
    Case("redirect-relative", b"HTTP/1.1 307 TR\r\nLocation: ../rel/x\r\nContent-Length: 0\r\n\r\n", url=lambda s: s.url("/a/b/hook"),
         expect=E("Failed", None, 307)),
    Case("redirect-query-only", b"HTTP/1.1 303 See Other\r\nLocation: ?q=1\r\nContent-Length: 0\r\n\r\n", expect=E("Failed", None, 303)),
    Case("redirect-scheme-relative", b"HTTP/1.1 308 PR\r\nLocation: //other.invalid:81/p#f\r\nContent-Length: 0\r\n\r\n",
         expect=E("Failed", "redirect to http://other.invalid:81/p#f not followed", 308)),
    Case("redirect-needs-escaping", b"HTTP/1.1 302 Found\r\nLocation: /a b\xe9\r\nContent-Length: 0\r\n\r\n",
         expect=E("Failed", None, 302)),
    Case("redirect-other-scheme", b"HTTP/1.1 302 Found\r\nLocation: ftp://x/y\r\nContent-Length: 0\r\n\r\n",
         expect=E("Failed", "redirect to ftp://x/y not followed", 302)),
    Case("redirect-without-location", b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n", expect=E("Failed", "HTTP 302", 302)),
    Case("redirect-empty-location", b"HTTP/1.1 302 Found\r\nLocation: \r\nContent-Length: 0\r\n\r\n", expect=E("Failed", "HTTP 302", 302)),
    Case("location-on-200", b"HTTP/1.1 200 OK\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", expect=E("Delivered", rs=200)),
    Case("410", b"HTTP/1.1 410 Gone\r\nContent-Length: 4\r\n\r\ngone",
         expect=E("Exhausted", "HTTP 410 Gone: the receiver wants no more deliveries (not retried)", 410, next_retry=False)),
    Case("429-retry-after", b"HTTP/1.1 429 Too Many\r\nRetry-After: 45\r\nContent-Length: 0\r\n\r\n",
         expect=E("Failed", "HTTP 429", 429, retry_in=45)),
    Case("429-retry-after-capped", b"HTTP/1.1 429 Too Many\r\nRetry-After: 3600\r\nContent-Length: 0\r\n\r\n",
         expect=E("Failed", "HTTP 429", 429, retry_in=60)),
    Case("429-retry-after-lf-only", b"HTTP/1.1 429 Too Many\nRetry-After:   45  \nContent-Length: 0\n\n",
         expect=E("Failed", "HTTP 429", 429, retry_in=45)),
    Case("503-retry-after-date", b"HTTP/1.1 503 Busy\r\nRetry-After: Wed, 21 Oct 2099 07:28:00 GMT\r\nContent-Length: 0\r\n\r\n",
         expect=E("Failed", "HTTP 503", 503, retry_in=60)),
    Case("503-retry-after-in-trailer", b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nRetry-After: 45\r\n\r\n",
         expect=E("Failed", "HTTP 503", 503)),
    Case("500", b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nerror",
         expect=E("Failed", "HTTP 500", 500, response_body=b"error", retry_in=20)),
    Case("500-last-attempt", b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", hook={"max_retries": 0},
         expect=E("Exhausted", "HTTP 500", 500, next_retry=False)),
    Case("600", b"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n", expect=E("Failed", "HTTP 600", 600)),
    Case("999", b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n", expect=E("Failed", "HTTP 999", 999)),
    # ---- broken responses ----
    Case("malformed-status-code", Act(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n", after="close"),
         expect=E("Failed", "unsupported protocol: Unsupported HTTP version in response")),
    Case("status-code-2-digits", Act(b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n", after="close"),
         expect=E("Failed", "unsupported protocol: Unsupported response code in HTTP response")),
    Case("status-code-4-digits", Act(b"HTTP/1.1 1000 Odd\r\nContent-Length: 0\r\n\r\n", after="close"),
         expect=E("Failed", "unsupported protocol: Unsupported response code in HTTP response")),
    Case("http-1.2", Act(b"HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", after="close"),
         expect=E("Failed", "unsupported protocol: Unsupported HTTP version (1.2) in response")),
    Case("http-3-status-line", Act(b"HTTP/3 200 OK\r\nContent-Length: 0\r\n\r\n", after="close"),
         expect=E("Failed", "unsupported protocol: Unsupported HTTP version (3.0) in response")),
    Case("garbage", Act(b"garbage garbage\r\n\r\n", after="close"),
         expect=E("Failed", "unsupported protocol: Received HTTP/0.9 when not allowed")),
    Case("garbage-keep-open", b"<html>nope</html>\r\n\r\n",
         expect=E("Failed", "unsupported protocol: Received HTTP/0.9 when not allowed")),
    Case("bad-chunk-size", Act(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", after="close"),
         expect=E("Failed", "receive failed: Illegal or missing hexadecimal sequence in chunked-encoding", 200)),
    Case("bad-content-length", Act(b"HTTP/1.1 200 OK\r\nX-A: b\r\nContent-Length: abc\r\n\r\nab", after="close"),
         expect=E("Failed", "transfer failed: Invalid Content-Length: value", 200)),
    Case("negative-content-length", Act(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nab", after="close"),
         expect=E("Failed", "transfer failed: Invalid Content-Length: value", 200)),
    Case("header-without-colon", b"HTTP/1.1 200 OK\r\nNoColonHere\r\nContent-Length: 2\r\n\r\nok",
         expect=E("Failed", "transfer failed: Header without colon", 200)),
    Case("giant-header", Act(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 0\r\n\r\n", after="close"),
         expect=E("Failed", "out of memory", 200)),
    Case("many-headers", b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(2000))
         + b"Content-Length: 2\r\n\r\nok", expect=E("Delivered", rs=200, response_body=b"ok")),
    Case("header-line-100000-bytes", b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\nContent-Length: 2\r\n\r\nok",
         expect=E("Delivered", rs=200, response_body=b"ok")),
    Case("headers-over-300-KiB", Act(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(400))
                                     + b"Content-Length: 2\r\n\r\nok", after="close"),
         expect=E("Failed", "receive failed: Too large response headers: 307957 > 307200", 200)),
    Case("204-with-content-length-body", Act(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", after="close"),
         expect=E("Delivered", rs=204, response_body=b"")),
    Case("answer-before-the-body-is-read", on_accept=lambda c: _answer_early(c, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly"),
         hook={"webhook_data": [("name", "id"), ("blob", "blob")]}, doc={"name": "E", "blob": "b" * 4_000_000},
         expect=E("Delivered", rs=200, response_body=b"early")),
    Case("413-before-the-body-is-read-then-close",
         on_accept=lambda c: _answer_early(c, b"HTTP/1.1 413 Too Large\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbig",
                                           then=0.3),
         hook={"webhook_data": [("name", "id"), ("blob", "blob")]}, doc={"name": "E", "blob": "b" * 4_000_000},
         expect=E("Failed", "HTTP 413", 413, response_body=b"big")),
    # ---- libcurl 7.88's own readings of odd responses ----
    Case("content-length-plus-sign", Act(b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", after="close"),
         expect=E("Delivered", rs=200, response_body=b"ok")),
    Case("content-length-too-big", Act(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nok", after="close"),
         expect=E("Delivered", rs=200, response_body=b"ok")),
    Case("content-length-twice-differing", Act(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", after="close"),
         expect=E("Delivered", rs=200, response_body=b"abc")),
    Case("content-length-spaces", b"HTTP/1.1 200 OK\r\nContent-Length:   2  \r\n\r\nok", expect=E("Delivered", rs=200, response_body=b"ok")),

    Case("transfer-encoding-identity", Act(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nabc", after="close"),
         expect=E("Delivered", rs=200, response_body=b"abc")),
    Case("content-encoding-gzip-not-decoded", b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
         expect=E("Delivered", rs=200, response_body=b"abc")),
    Case("status-line-double-space", Act(b"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", after="close"), expect=E("Delivered", rs=200)),
    Case("status-line-tab", Act(b"HTTP/1.1\t200 OK\r\nContent-Length: 0\r\n\r\n", after="close"),
         expect=E("Failed", "unsupported protocol: Unsupported HTTP version in response")),
    Case("status-line-http-2", Act(b"HTTP/2 200\r\nContent-Length: 0\r\n\r\n", after="close"), expect=E("Delivered", rs=200)),
    Case("status-line-lower-case", Act(b"http/1.1 200 ok\r\nContent-Length: 0\r\n\r\n", after="close"), expect=E("Delivered", rs=200)),
    Case("header-with-leading-space", b"HTTP/1.1 200 OK\r\n X-Lead: v\r\nContent-Length: 2\r\n\r\nok",
         expect=E("Failed", "transfer failed: A libcurl function was given a bad argument", 200)),
    Case("1xx-199-then-close", Act(b"HTTP/1.1 199 Odd\r\n\r\n", after="close"),
         expect=E("Failed", "connection closed without a response", 199)),
    Case("101-then-close", Act(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", after="close"),
         expect=E("Failed", "connection closed without a response", 101, response_headers=[("Upgrade", "x")])),
    # ---- the connection ends early ----
    Case("close-right-after-accept", on_accept=Act(after="shutdown"),
         expect=E("Failed", "connection closed without a response")),
    Case("reset-right-after-accept", on_accept=Act(first_delay=0.1, after="reset"),
         expect=E("Failed", "connection reset by peer")),
    Case("close-after-request-unanswered", Act(after="close"), expect=E("Failed", "connection closed without a response")),
    Case("reset-after-request", Act(after="reset"), expect=E("Failed", "connection reset by peer")),
    Case("close-mid-status-line", Act(b"HTTP/1.1 2", after="close"), expect=E("Failed", "connection closed without a response")),
    Case("close-after-status-line", Act(b"HTTP/1.1 200 OK\r\n", after="close"), expect=E("Delivered", rs=200)),
    Case("close-mid-headers", Act(b"HTTP/1.1 200 OK\r\nX-A: b\r\nContent-Le", after="close"), expect=E("Delivered", rs=200)),
    Case("close-mid-headers-500", Act(b"HTTP/1.1 500 Oops\r\nX-A: b\r\n", after="close"), expect=E("Failed", "HTTP 500", 500)),
    Case("close-mid-body", Act(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", after="close"),
         expect=E("Failed", "connection closed before the whole response arrived", 200, response_body=b"abc")),
    Case("close-mid-chunk", Act(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", after="close"),
         expect=E("Failed", "connection closed before the whole response arrived", 200, response_body=b"ab")),
    Case("close-before-last-chunk-crlf", Act(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n", after="close"),
         expect=E("Failed", "connection closed before the whole response arrived", 200, response_body=b"ok")),
    Case("close-after-100-only", Act(b"HTTP/1.1 100 Continue\r\n\r\n", after="close"),
         expect=E("Failed", "connection closed without a response", 100)),
    Case("reset-mid-headers", Act(b"HTTP/1.1 200 OK\r\nX-A: b", after="reset"), expect=E("Failed", "connection reset by peer", 200)),
    Case("reset-mid-body", Act(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", after="reset"),
         expect=E("Failed", "connection reset by peer", 200, response_body=b"abc")),
    Case("reset-after-full-response", Act(OK2, after="reset"), expect=E("Delivered", rs=200)),
    # ---- nothing, or too slow ----
    Case("never-answers", Act(after="hang"), hook={"timeout": 0.5}, expect=E("Failed", "timed out after 0.5 s")),
    Case("never-reads", on_accept=Act(after="hang"), hook={"timeout": 0.5}, expect=E("Failed", "timed out after 0.5 s")),
    Case("stalls-mid-headers", Act(b"HTTP/1.1 200 OK\r\nX-A: b\r\n", after="hang"), hook={"timeout": 0.5},
         expect=E("Failed", "timed out after 0.5 s", 200)),
    Case("stalls-mid-body", Act(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", after="hang"), hook={"timeout": 0.5},
         expect=E("Failed", "timed out after 0.5 s", 200, response_body=b"abc")),
    Case("trickles-past-the-timeout", Act([b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"] + fragments(b"z" * 20), delay=0.1),
         hook={"timeout": 0.75}, ignore=("response_body",), expect=E("Failed", "timed out after 0.75 s", 200)),
    # ---- no connection ----
    Case("connection-refused", url=lambda s: f"http://127.0.0.1:{free_port()}/x", expect=E("Failed", "connection refused")),
    Case("connection-refused-localhost", url=lambda s: f"http://localhost:{free_port()}/x", expect=E("Failed", "connection refused")),
    # libcurl resolves localhost itself, to ::1 and 127.0.0.1 (whatever /etc/hosts says)
    Case("localhost-served-on-ipv6-only", url=lambda s: f"http://localhost:{s.port}/x", hosts=("::1",), v6=True,
         expect=E("Delivered", rs=200)),
    Case("connection-refused-ipv6", url=lambda s: f"http://[::1]:{free_port('::1')}/x", v6=True,
         expect=E("Failed", "connection refused")),
    Case("unresolvable-host", url=lambda s: f"http://{BAD_HOST}/x",
         expect=E("Failed", f"could not resolve host: Could not resolve host: {BAD_HOST}")),
    Case("unresolvable-host-port", url=lambda s: f"http://{BAD_HOST.upper()}:8080/x?y#z",
         expect=E("Failed", f"could not resolve host: Could not resolve host: {BAD_HOST.upper()}")),
    Case("ssrf-loopback", hook={"allow_private_networks": False},
         expect=E("Exhausted", "refused to connect to 127.0.0.1: loopback address (allow_private_networks=True to allow)",
                  next_retry=False)),
    Case("ssrf-localhost", hook={"allow_private_networks": False}, url=lambda s: f"http://localhost:{s.port}/x",
         expect=E("Exhausted", None, next_retry=False)),
    Case("ssrf-ipv6-loopback", hook={"allow_private_networks": False}, hosts=("::1",), v6=True,
         expect=E("Exhausted", "refused to connect to ::1: loopback address (allow_private_networks=True to allow)")),
    Case("ssrf-v4-mapped", hook={"allow_private_networks": False}, url=lambda s: f"http://[::ffff:127.0.0.1]:{s.port}/x",
         expect=E("Exhausted", "refused to connect to ::ffff:127.0.0.1: loopback address (IPv4-mapped IPv6) "
                               "(allow_private_networks=True to allow)")),
    Case("ssrf-unspecified", hook={"allow_private_networks": False}, url=lambda s: f"http://0.0.0.0:{s.port}/x",
         expect=E("Exhausted", "refused to connect to 0.0.0.0: unspecified address (allow_private_networks=True to allow)")),
    Case("ssrf-decimal-ip", hook={"allow_private_networks": False}, url=lambda s: f"http://2130706433:{s.port}/x", routed=False,
         expect=E("Exhausted", "refused to connect to 127.0.0.1: loopback address (allow_private_networks=True to allow)")),
    Case("allowed-networks", hook={"allow_private_networks": False, "allowed_networks": ["127.0.0.0/8"]},
         expect=E("Delivered", rs=200)),
    Case("allowed-networks-localhost", hook={"allow_private_networks": False, "allowed_networks": ["127.0.0.0/8"]},
         url=lambda s: f"http://localhost:{s.port}/x", expect=E("Delivered", rs=200)),
    Case("allowed-networks-other", hook={"allow_private_networks": False, "allowed_networks": ["10.0.0.0/8", "::1/128"]},
         expect=E("Exhausted", "refused to connect to 127.0.0.1: loopback address (allow_private_networks=True to allow)")),
    Case("allowed-networks-v4-mapped", hook={"allow_private_networks": False, "allowed_networks": ["127.0.0.1"]},
         url=lambda s: f"http://[::ffff:127.0.0.1]:{s.port}/x", expect=E("Delivered", rs=200)),
]
def _answer_early(conn, response, then=None):
    """Answers as soon as the request head is in, before reading the body; then drains
    (or, after `then` seconds, closes with the body unread: a reset)."""
    conn._fill(lambda: b"\r\n\r\n" in conn.buf, 10)
    conn.send(response)
    if then is None:
        return Act(after="hang")
    time.sleep(then)
    return Act(after="close")


for _c in CASES:
    if _c.answer is None:
        _c.answer = OK2
    if _c.id.startswith("ssrf-localhost") or _c.id == "allowed-networks-localhost":
        _c.hosts = LOOPS


def run_case(case, srv, url, native):
    """One delivery of case through a fresh Dispatcher; (Delivery fields, engine
    counters, stats, (connections, requests) the server saw for it)."""
    acc0, req0 = srv.accepted, len(srv.requests)
    d = fwc.Dispatcher(native_http=native)
    try:
        x = d.enqueue(hook(url, **case.hook), case.doc or {"doctype": "ToDo", "name": "T-1"})
        d.flush(20)
        assert wait_until(lambda: x.attempt >= 1, 20)
        now = time.time()
        out = fields(x)
        out["retry_in"] = round(x.next_retry - now) if x.next_retry else None
        s = d.stats()
    finally:
        d.close(0)
    time.sleep(0.02)
    out["server"] = (srv.accepted - acc0, len(srv.requests) - req0)
    counters = {k: s[k] for k in ("delivered", "failed_attempts", "exhausted", "attempts", "scheduled", "queued", "in_flight")}
    return out, counters, s


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_response_handling_matches_libcurl(case):
    if case.v6 and not HAVE_V6:
        pytest.skip("no ::1")
    results = {}
    with RawServer(hosts=case.hosts, answer=case.answer, on_accept=case.on_accept) as srv:
        url = case.url(srv) if case.url else srv.url("/hook")
        for native in MODES:
            out, counters, s = run_case(case, srv, url, native)
            check_native_count(native, s, attempts=1, routed=case.routed)
            for k in case.ignore:
                out.pop(k)
            results[native] = (out, counters)
    native, curl = results[True], results[False]
    # the oracle is what we think it is (so that the comparison is not vacuous) ...
    for k, v in case.expect.items():
        if v is None and k == "error" and case.expect["status"] != "Delivered":
            continue        # error text not pinned here: only compared
        assert curl[0][k] == v, (k, curl[0])
    # ... and native reports exactly what libcurl reports
    assert native[0] == curl[0]
    assert native[1] == curl[1]


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_followed_redirect_matches_libcurl(code):
    """follow_redirects > 0 may stay with libcurl; the outcome and every hop's request
    bytes are the same either way (the same method and body re-sent)."""
    def answer(conn, req):
        if req.target.startswith("/start"):
            return ok(b"moved", status=str(code).encode() + b" Moved", headers=[(b"Location", b"/next?x=1")])
        return ok(b"final", headers=[(b"X-Hop", b"2")])

    results = {}
    with RawServer(answer=answer) as srv:
        for native in MODES:
            acc0, req0 = srv.accepted, len(srv.requests)
            d = fwc.Dispatcher(native_http=native)
            x = d.enqueue(hook(srv.url("/start"), follow_redirects=2, request_method="PUT"), {"name": "R"})
            d.flush(10)
            out = fields(x)
            d.close(0)
            time.sleep(0.02)
            results[native] = (out, [r.raw for r in srv.requests[req0:]], srv.accepted - acc0)
    assert results[False][0]["status"] == "Delivered" and results[False][0]["response_body"] == b"final"
    assert results[False][0]["url"].endswith("/start")
    assert results[True] == results[False]
    assert len(results[False][1]) == 2 and results[False][1][1].startswith(b"PUT /next?x=1 HTTP/1.1\r\n")


def test_native_http_false_never_counts_native_attempts():
    with RawServer() as srv:
        with fwc.Dispatcher(native_http=False) as d:
            for i in range(5):
                d.enqueue(hook(srv.url("/x")), {"name": f"N{i}"})
            assert d.flush(10) == []
            assert d.stats()["native_attempts"] == 0 and d.stats()["delivered"] == 5


# =====================================================================================
# 3. keep-alive
# =====================================================================================

def sequential(srv, native, n, hook_kw=None, pause=0.0):
    """n deliveries one after the other (each done before the next is enqueued) through
    a fresh Dispatcher to srv (shared by both modes of a test, so the URL is the same);
    returns the deliveries, stats, connections accepted and requests read for them."""
    acc0, req0 = srv.accepted, len(srv.requests)
    d = fwc.Dispatcher(native_http=native)
    try:
        h = hook(srv.url("/ka"), **(hook_kw or {}))
        xs = []
        for i in range(n):
            x = d.enqueue(h, {"doctype": "ToDo", "name": f"K{i}"})
            d.flush(20)
            assert wait_until(lambda: x.attempt >= 1)
            xs.append(x)
            if pause:
                time.sleep(pause)
        s = d.stats()
    finally:
        d.close(0)
    time.sleep(0.02)
    return xs, s, srv.accepted - acc0, list(srv.requests[req0:])


def test_keep_alive_50_sequential_deliveries_use_one_connection():
    with RawServer(answer=OK2) as srv:
        for native in MODES:
            xs, s, accepted, reqs = sequential(srv, native, 50)
            assert [(x.status, x.attempt, x.error) for x in xs] == [("Delivered", 1, None)] * 50
            assert accepted == 1, (native, accepted)
            assert len(reqs) == 50 and len({r.conn for r in reqs}) == 1
            assert (s["connections_opened"], s["connections_reused"]) == (1, 49), (native, s)
            check_native_count(native, s, attempts=50)


STALE = {
    # answers, then closes (FIN) without saying Connection: close
    "fin-after-each-answer": Act(OK2, after="close"),
    # answers, keeps the connection, then closes it on the next request without answering
    "fin-on-next-request": [OK2, Act(after="close")],
    # ... or resets it on the next request
    "rst-on-next-request": [OK2, Act(after="reset")],
    # ... after a few bytes of a status line
    "partial-status-on-next-request": [OK2, Act(b"HTTP/1.1 2", after="close")],
}


@pytest.mark.parametrize("name", list(STALE))
def test_stale_keep_alive_connection_is_retried_once_on_a_fresh_one(name):
    """Sequential deliveries, each finding its kept-alive connection dead: the request
    goes out again on a fresh connection within the same attempt.  Compared over 6
    deliveries: libcurl 7.88 counts these retries per easy handle and never resets the
    count, so a pooled handle gives up on its 6th one ("Connection died, tried 5 times
    before giving up") -- a libcurl-path bug the native client must not copy: the second
    half runs 40 deliveries natively, all of them delivered."""
    seen = {}
    with RawServer(answer=STALE[name]) as srv:
        for native in MODES:
            xs, s, accepted, reqs = sequential(srv, native, 6)
            assert [(x.status, x.attempt, x.error) for x in xs] == [("Delivered", 1, None)] * 6, (native, name)
            # every webhook answered exactly once (an answered request is the first on its connection)
            answered = collections.Counter(r.body for r in reqs if r.index == 0)
            assert sorted(answered) == sorted(x.body for x in xs) and set(answered.values()) == {1}
            check_native_count(native, s, attempts=6)
            seen[native] = (accepted, len(reqs), s["delivered"], s["failed_attempts"], s["attempts"])
        assert seen[True] == seen[False], seen
        if NATIVE_LANDED:
            xs, s, accepted, reqs = sequential(srv, True, 40)
            assert [(x.status, x.attempt, x.error) for x in xs] == [("Delivered", 1, None)] * 40
            assert accepted == 40
            check_native_count(True, s, attempts=40)


REUSE = [
    ("connection-close", Act(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", after="close"), 10),
    ("connection-close-server-keeps-it", b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 10),
    ("connection-close-mixed-case", b"HTTP/1.1 200 OK\r\nconnection: Keep-Alive, CLOSE\r\nContent-Length: 2\r\n\r\nok", 10),
    ("http10-no-keep-alive", Act(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", after="close"), 10),
    ("http10-no-keep-alive-server-keeps-it", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 10),
    ("http10-keep-alive", b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 1),
    ("close-delimited", Act(b"HTTP/1.1 200 OK\r\n\r\nok", after="close"), 10),
    ("extra-bytes-after-response", OK2 + b"GARBAGE", 10),
    # libcurl drops what follows the last chunk ("Leftovers after chunking") and keeps the
    # connection; the native client never reuses a connection that sent bytes nobody asked
    # for (the same Deliveries, a fresh connection each: the 4th element)
    ("extra-bytes-after-chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nJUNK", 1, 10),
    ("500-keeps-the-connection", b"HTTP/1.1 500 X\r\nContent-Length: 1\r\n\r\nx", 1),
    ("204-keeps-the-connection", b"HTTP/1.1 204 X\r\n\r\n", 1),
    ("304-with-length-keeps-the-connection", b"HTTP/1.1 304 X\r\nContent-Length: 5\r\n\r\n", 1),
    ("interim-keeps-the-connection", INTERIM, 1),
    ("chunked-trailers-keep-the-connection", CHUNKED, 1),
    ("truncated-body-closes", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100, 10),
    ("truncated-chunked-closes", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + b"x" * 100 + b"\r\n0\r\n\r\n", 10),
]


@pytest.mark.parametrize("name,answer,expect_conns,native_conns", [r + (None,) * (4 - len(r)) for r in REUSE],
                         ids=[r[0] for r in REUSE])
def test_connection_reuse_matches_libcurl(name, answer, expect_conns, native_conns):
    seen = {}
    kw = {"max_retries": 0, "max_response_bytes": 10 if name.startswith("truncated") else 65536}
    with RawServer(answer=answer) as srv:
        for native in MODES:
            xs, s, accepted, reqs = sequential(srv, native, 10, kw)
            seen[native] = ([fields(x) for x in xs], accepted, len(reqs), s["connections_opened"], s["connections_reused"])
            check_native_count(native, s, attempts=10)
    assert seen[False][1] == expect_conns, seen[False]
    if native_conns is None:
        assert seen[True] == seen[False]
    else:
        assert seen[True][0] == seen[False][0]
        assert seen[True][1:] == (native_conns, 10, native_conns, 10 - native_conns)


def test_bytes_after_a_response_arriving_late():
    """A server that sends a response and, 50 ms later, garbage on the idle connection.
    libcurl 7.88 reuses the connection anyway (its liveness check takes pending data for
    alive), reads the garbage as the next response ("Received HTTP/0.9 when not
    allowed", the request is not retried) and closes it, so the deliveries alternate:
    delivered, failed, delivered, ...  The native client drops a connection that speaks
    when nobody asked (the idle connection becomes readable): every delivery goes out on
    a fresh connection and is delivered.  A deliberate difference, pinned here."""
    answer = Act([OK2, b"GARBAGE"], delay=0.05)
    seen = {}
    with RawServer(answer=answer) as srv:
        for native in MODES:
            xs, s, accepted, reqs = sequential(srv, native, 6, {"max_retries": 0}, pause=0.25)
            seen[native] = ([fields(x) for x in xs], accepted, len(reqs))
            check_native_count(native, s, attempts=6)
    assert [f["error"] for f in seen[False][0]] == [None, "unsupported protocol: Received HTTP/0.9 when not allowed"] * 3
    assert seen[False][1:] == (3, 6)
    assert [f["error"] for f in seen[True][0]] == [None] * 6
    assert [f["status"] for f in seen[True][0]] == ["Delivered"] * 6
    assert seen[True][1:] == (6, 6)


def test_idle_connection_closed_by_the_server_before_reuse():
    """The server closes every connection 50 ms after answering; deliveries come 200 ms
    apart, so each finds its connection already closed."""
    def script(conn, req):
        threading.Timer(0.05, conn.shutdown).start()
        return OK2

    seen = {}
    with RawServer(answer=script) as srv:
        for native in MODES:
            xs, s, accepted, reqs = sequential(srv, native, 6, {"max_retries": 0}, pause=0.2)
            assert [(x.status, x.attempt, x.error) for x in xs] == [("Delivered", 1, None)] * 6, native
            seen[native] = (accepted, len(reqs))
            check_native_count(native, s, attempts=6)
    assert seen[True] == seen[False] == (6, 6)


# =====================================================================================
# 4. concurrency
# =====================================================================================

def _many(native, answer, n=2000, per_host=16):
    with RawServer(answer=answer) as srv:
        d = fwc.Dispatcher(native_http=native, max_per_host=per_host)
        try:
            h = hook(srv.url("/many"), webhook_secret=SECRET, signature="standard", max_retries=0,
                     webhook_data=[("name", "id")])
            xs = [d.enqueue(h, {"doctype": "ToDo", "name": f"C{i}"}) for i in range(n)]
            assert d.flush(60) == []
            s = d.stats()
        finally:
            d.close(0)
        return xs, s, srv.accepted, list(srv.requests)


def test_2000_concurrent_deliveries_each_exactly_once():
    for native in MODES:
        xs, s, accepted, reqs = _many(native, OK2)
        assert collections.Counter(x.status for x in xs) == {"Delivered": 2000}
        assert all(x.attempt == 1 for x in xs)
        ids = collections.Counter(r.header("webhook-id") for r in reqs)
        assert ids == collections.Counter(x.id for x in xs)          # each id exactly once
        assert sorted(json.loads(r.body)["id"] for r in reqs) == sorted(f"C{i}" for i in range(2000))
        assert accepted <= 16, (native, accepted)
        assert s["delivered"] == 2000 and s["attempts"] == 2000
        check_native_count(native, s, attempts=2000)


def test_2000_concurrent_deliveries_with_connections_closing_under_them():
    """Every connection is closed by the server after its 5th answer (no Connection:
    close); a request sent on it meanwhile is never read and must go out again on a
    fresh connection.  Nothing is ever delivered twice.  The native client delivers
    everything at the first attempt.  libcurl 7.88 fails a request whose *send* meets the
    reset (it re-sends only when the read finds the connection dead): a few in 2000, each
    with its error (and retried later by the Dispatcher, were max_retries > 0).  Its
    per-handle budget of five re-sends, never reset between transfers, used to fail ~1 %
    more ("Connection died, tried 5 times"); http.c resets pooled handles before it runs
    out, so at most 0.25 % may fail here."""
    script = [OK2] * 4 + [Act(OK2, after="close")]
    for native in MODES:
        xs, s, accepted, reqs = _many(native, script)
        ids = collections.Counter(r.header("webhook-id") for r in reqs)
        assert set(ids.values()) == {1}                               # never twice
        delivered = {x.id for x in xs if x.status == "Delivered"}
        assert delivered <= set(ids)
        assert accepted >= 2000 // 5
        check_native_count(native, s, attempts=2000)
        assert all(x.attempt == 1 for x in xs)
        if native:
            assert collections.Counter(x.status for x in xs) == {"Delivered": 2000}, {x.error for x in xs}
            assert set(ids) == {x.id for x in xs}
        else:
            failed = [x for x in xs if x.status != "Delivered"]
            assert len(failed) <= 5, collections.Counter(x.error for x in failed)
            assert all(x.error for x in failed)


def test_transfer_codings_other_than_chunked():
    """`Transfer-Encoding: gzip, chunked` (which HTTP allows only when the client sent TE;
    neither transport does): libcurl un-gzips the body and fails when it is not gzip; the
    native client takes the chunks off and keeps the rest as it came, so the verdict
    follows the status.  A deliberate difference (README), pinned here."""
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    seen = {}
    with RawServer(answer=answer) as srv:
        for native in MODES:
            xs, s, accepted, reqs = sequential(srv, native, 1, {"max_retries": 0})
            seen[native] = fields(xs[0])
            check_native_count(native, s, attempts=1)
    assert seen[False]["error"] == "transfer failed: Error while processing content unencoding: incorrect header check"
    assert seen[True]["status"] == "Delivered" and seen[True]["error"] is None
    assert seen[True]["response_body"] == b"ok"


# ---------- generated responses: both transports must read them alike ----------

STATUS_LINES = st.one_of(
    st.builds(lambda v, c, r: f"HTTP/1.{v} {c}{r}".encode(), st.sampled_from("01"),
              st.sampled_from([200, 201, 204, 301, 302, 304, 400, 404, 410, 429, 500, 503, 299, 599]),
              st.sampled_from(["", " ", " OK", " Whatever Reason", "  two spaces"])),
    st.sampled_from([b"HTTP/1.1  200 OK", b"HTTP/2 200", b"HTTP/1.1 099 X", b"HTTP/1.1 2000 X", b"http/1.1 500 X",
                     b"HTTP/1.2 200 X", b"HTTP/1.1 20 X", b"HTTP/1.1\t200 X", b"HTTP/1.1 abc", b"HTTP/x.1 200"]),
)
HEADER_NAMES = st.sampled_from(["X-A", "x-b", "Server", "Date", "Content-Type", "Retry-After", "Set-Cookie", "Location",
                                "Connection", "Keep-Alive", "X-Empty", "Vary"])
HEADER_VALUES = st.text(alphabet=string.ascii_letters + string.digits + " ,;=/:-_.\t", max_size=24)


@st.composite
def responses(draw):
    """A response as a server might send it, sometimes wrongly: a status line, headers
    (odd ones too: no colon, folded, blank values), a body framed by Content-Length
    (right, short, long, odd forms), chunked (extensions, trailers, bad sizes) or by
    the connection's close, and maybe a cut anywhere."""
    lines = [draw(STATUS_LINES)]
    if draw(st.integers(0, 5)) == 0:
        lines = [b"HTTP/1.1 100 Continue", b""] + lines
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 12))
        if kind == 0:
            lines.append(b"NoColonHere")
        elif kind == 1:
            lines.append(b" folded: continuation")
        else:
            lines.append(f"{draw(HEADER_NAMES)}:{draw(st.sampled_from(['', ' ']))}{draw(HEADER_VALUES)}".encode())
    body = draw(st.binary(max_size=40))
    framing = draw(st.sampled_from(["length", "length", "chunked", "chunked", "close", "length-odd"]))
    if framing == "length":
        lines.append(b"Content-Length: %d" % len(body))
        tail = body
    elif framing == "length-odd":
        lines.append(b"Content-Length: " + draw(st.sampled_from([b"+%d", b"0%d", b" %d ", b"%d, %d", b"%dx", b"-%d",
                                                                   b"%d0"])).replace(b"%d", b"%d" % len(body)))
        tail = body
    elif framing == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        tail, rest = b"", body
        while rest:
            n = draw(st.integers(1, max(1, len(rest))))
            size = draw(st.sampled_from([b"%x", b"%X", b"%x;ext=1", b"0%x", b"%x "])).replace(b"%x", b"%x" % n)
            tail += size + b"\r\n" + rest[:n] + b"\r\n"
            rest = rest[n:]
        tail += draw(st.sampled_from([b"0\r\n\r\n", b"0\r\nX-Trailer: t\r\n\r\n", b"zz\r\n\r\n", b"0;e\r\n\r\n"]))
    else:
        tail = body
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + tail
    if draw(st.integers(0, 6)) == 0:
        raw = raw[:draw(st.integers(0, len(raw)))]       # cut short, then closed
    return raw


@settings(max_examples=int(__import__('os').environ.get('GEN_N', 150)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=responses(), cap=st.sampled_from([65536, 65536, 8]))
def test_generated_responses_read_alike(raw, cap):
    """Each generated response, sent then closed by the server, must give the same
    Delivery through the native client and through libcurl: status and attempt,
    response status, headers, body, truncation, error text."""
    seen = {}
    with RawServer(answer=Act(raw, after="close")) as srv:
        for native in MODES:
            d = fwc.Dispatcher(native_http=native)
            try:
                x = d.enqueue(hook(srv.url("/gen"), max_retries=0, timeout=5, max_response_bytes=cap),
                              {"doctype": "ToDo", "name": "G-1"})
                d.flush(20)
                assert wait_until(lambda: x.attempt >= 1, 20)
                seen[native] = fields(x)
                s = d.stats()
            finally:
                d.close(0)
            assert s["native_attempts"] == (1 if native else 0)
    assert seen[True] == seen[False], raw
