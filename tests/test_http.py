"""HTTP delivery: dispatch() / Webhook.send() against real servers on loopback.

Every test talks only to 127.0.0.1 / ::1 (receivers from tests/support/receiver.py); the
transport is never mocked."""
import gc
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time

import pytest

import frappe_webhook_c as fwc
from frappe_webhook_c import DeliveryError, Response, ValidationError, Webhook, _core, dispatch
from support.receiver import Receiver
from support.loopback import free_port  # noqa: E402

SANITIZED = "asan" in os.environ.get("LD_PRELOAD", "")

DOC = {
    "doctype": "Quotation",
    "name": "SAL-QTN-2026-00001",
    "customer_name": "ACME Café \"quoted\"",
    "grand_total": 2380.0,
    "items": [{"item_code": "WIDGET", "qty": 10.0, "rate": 200.0}],
}
FIELDS = [{"fieldname": "name", "key": "id"}, {"fieldname": "items", "key": "lineItems"},
          {"fieldname": "customer_name", "key": "customer"}]


def hook(url, **kw):
    kw.setdefault("allow_private_networks", True)
    kw.setdefault("webhook_data", FIELDS)
    return Webhook(url, **kw)



# ---------- what goes on the wire ----------

@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_byte_exact_request(receiver, method):
    h = hook(receiver.url("/hooks/q?x=1&y=%20"), request_method=method, webhook_secret="s3cret",
             webhook_headers=[{"key": "X-Tenant", "value": "acme"}, {"key": "Authorization", "value": "Bearer t"}])
    expected = h.request(DOC)
    r = dispatch(h, DOC)
    assert r.ok and r.status == 200 and r.error is None, r
    [got] = receiver.wait_for(1)
    assert got.method == method
    assert got.target == "/hooks/q?x=1&y=%20"
    assert got.body == expected.body == r.request.body
    assert got.body == json.dumps({"id": DOC["name"], "lineItems": DOC["items"], "customer": DOC["customer_name"]}).encode()
    # the request's headers, in order and byte-exact, then Content-Type and User-Agent
    names = [k for k, _ in expected.headers]
    sent = [(k, v) for k, v in got.headers if k in names]
    assert sent == expected.headers == r.request.headers
    assert got.header("Content-Type") == "application/json"
    assert got.header("User-Agent") == f"frappe-webhook-c/{fwc.__version__}"
    assert got.header("Content-Length") == str(len(expected.body))
    assert got.header("Expect") is None
    assert got.header("Transfer-Encoding") is None
    order = [k for k, _ in got.headers]
    assert order.index("X-Tenant") < order.index("Content-Type") < order.index("User-Agent")
    assert fwc.verify("s3cret", got.body, dict(got.headers))


def test_configured_content_type_is_kept_case_insensitively(receiver):
    h = hook(receiver.url(), webhook_headers=[{"key": "content-type", "value": "application/vnd.x+json"}])
    assert h.send(DOC).ok
    [got] = receiver.wait_for(1)
    assert [v for k, v in got.headers if k.lower() == "content-type"] == ["application/vnd.x+json"]


def test_user_agent_can_be_overridden(receiver):
    h = hook(receiver.url(), webhook_headers=[{"key": "User-Agent", "value": "mine/1"}])
    assert h.send(DOC).ok
    [got] = receiver.wait_for(1)
    assert [v for k, v in got.headers if k.lower() == "user-agent"] == ["mine/1"]


def test_large_body_sent_whole_without_expect(receiver):
    doc = {"name": "x" * 2_000_000}
    h = hook(receiver.url(), webhook_data=[("name", "n")])
    r = h.send(doc)
    assert r.ok, r
    [got] = receiver.wait_for(1)
    assert got.body == h.request(doc).body and len(got.body) > 2_000_000
    assert got.header("Expect") is None


def test_empty_field_map_sends_empty_object(receiver):
    r = Webhook(receiver.url(), allow_private_networks=True).send(DOC)
    assert r.ok
    assert receiver.wait_for(1)[0].body == b"{}"


def test_seed_example_form_structure(receiver):
    from frappe_webhook_c.__main__ import SEED_DOC, SEED_WEBHOOK
    h = Webhook.from_frappe(dict(SEED_WEBHOOK, request_url=receiver.url("/hooks/quotation"),
                                 allow_private_networks=True, webhook_secret="demo-secret"))
    r = h.send(SEED_DOC)
    assert r.ok
    [got] = receiver.wait_for(1)
    data = {"id": SEED_DOC["name"], "lineItems": SEED_DOC["items"]}
    assert got.body == json.dumps(data, default=str).encode()
    assert fwc.verify("demo-secret", got.body, dict(got.headers))


# ---------- the Response ----------

def test_response_fields(receiver):
    receiver.respond(201, b'{"accepted": true}', [("Content-Type", "application/json"), ("X-Id", "7"), ("x-id", "8")])
    r = hook(receiver.url()).send(DOC)
    assert isinstance(r, Response)
    assert (r.status, r.ok, r.error, r.truncated) == (201, True, None, False)
    assert r.body == b'{"accepted": true}'
    assert ("Content-Type", "application/json") in r.headers
    assert r.header("x-ID") == "8" and r.header("missing") is None and r.header("missing", 1) == 1
    assert 0 < r.elapsed < 5
    assert r.url == receiver.url()
    assert isinstance(r.request, fwc.Request) and r.request.body == hook(receiver.url()).request(DOC).body
    assert r.raise_for_status() is None
    assert "201" in repr(r)
    with pytest.raises(TypeError):
        Response()


@pytest.mark.parametrize("code", [400, 404, 410, 500, 503])
def test_http_errors_are_returned_then_raised(receiver, code):
    r = hook(receiver.url(f"/status/{code}")).send(DOC)
    assert r.status == code and not r.ok and r.error is None
    assert r.body == f"status {code}".encode()
    with pytest.raises(DeliveryError, match=f"HTTP {code}") as e:
        r.raise_for_status()
    assert e.value.response is r


def test_oversized_response_is_cut(receiver):
    r = hook(receiver.url("/huge/5000000"), max_response_bytes=1000).send(DOC)
    assert r.status == 200 and r.truncated and r.body == b"x" * 1000 and r.error is None
    r = hook(receiver.url("/huge/65536")).send(DOC)        # the default keeps 64 KiB exactly
    assert len(r.body) == 65536 and not r.truncated
    r = hook(receiver.url("/huge/65537")).send(DOC)
    assert len(r.body) == 65536 and r.truncated
    r = hook(receiver.url("/huge/10"), max_response_bytes=0).send(DOC)
    assert r.body == b"" and r.truncated


# ---------- failure modes ----------

def test_connection_refused():
    port = free_port()
    r = hook(f"http://127.0.0.1:{port}/x").send(DOC)
    assert (r.status, r.ok, r.error) == (0, False, "connection refused")
    with pytest.raises(DeliveryError, match="connection refused"):
        r.raise_for_status()


def test_timeout(receiver):
    t0 = time.monotonic()
    r = hook(receiver.url("/delay/3000"), timeout=0.3).send(DOC)
    took = time.monotonic() - t0
    assert r.error == "timed out after 0.3 s" and r.status == 0 and not r.ok
    assert 0.25 < took < 2.0
    r = hook(receiver.url("/delay/1500"), timeout=1).send(DOC)
    assert r.error == "timed out after 1.0 s"


def test_default_timeout_text():
    assert Webhook("http://example.com/").timeout == 5.0


def test_reset_and_close(receiver):
    r = hook(receiver.url("/reset")).send(DOC)
    assert r.status == 0 and r.error == "connection reset by peer"
    r = hook(receiver.url("/close")).send(DOC)
    assert r.status == 0 and r.error == "connection closed without a response"
    assert hook(receiver.url("/after")).send(DOC).ok


def test_redirect_not_followed_by_default(receiver):
    r = hook(receiver.url("/redirect?to=https://x/")).send(DOC)
    assert r.status == 302 and not r.ok and r.error == "redirect to https://x/ not followed"
    assert len(receiver.requests) == 1
    with pytest.raises(DeliveryError, match="redirect to https://x/ not followed"):
        r.raise_for_status()


def test_redirect_followed_when_asked(receiver):
    h = hook(receiver.url("/redirect?to=/status/201&code=307"), follow_redirects=2)
    r = h.send(DOC)
    assert r.status == 201 and r.ok and r.url == receiver.url("/status/201")
    first, second = receiver.wait_for(2)
    assert second.method == "POST" and second.body == first.body == h.request(DOC).body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_followed_redirect_resends_method_and_body(receiver, method, code):
    h = hook(receiver.url(f"/redirect?to=/moved&code={code}"), request_method=method, follow_redirects=1)
    assert h.send(DOC).ok
    first, second = receiver.wait_for(2)
    assert (second.method, second.path, second.body) == (method, "/moved", h.request(DOC).body)


def test_too_many_redirects(receiver):
    r = hook(receiver.url("/loop"), follow_redirects=3).send(DOC)
    assert not r.ok and r.error == "too many redirects (follow_redirects=3)"
    assert len(receiver.requests) == 4


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/x",
                                    "dict://127.0.0.1:11211/stat"])
def test_redirect_to_other_scheme_refused_even_when_following(receiver, target):
    r = hook(receiver.url(f"/redirect?to={target}"), follow_redirects=5).send(DOC)
    assert not r.ok and r.status == 302
    assert r.error == f"redirect to {target} refused: only http and https are followed"


def test_redirect_into_a_private_address_is_refused(receiver):
    # the first hop is allowed by allowed_networks; the redirect target is not
    target = f"http://127.0.0.2:{receiver.port}/inner"
    h = Webhook(receiver.url(f"/redirect?to={target}&code=307"), allowed_networks=["127.0.0.1/32"], follow_redirects=3)
    r = h.send(DOC)
    assert not r.ok
    assert r.error == "refused to connect to 127.0.0.2: loopback address (allow_private_networks=True to allow)"
    assert [q.path for q in receiver.requests] == ["/redirect"]


# ---------- SSRF ----------

def test_loopback_refused_by_default(receiver):
    h = Webhook(receiver.url(), webhook_data=FIELDS)
    assert h.allow_private_networks is False
    r = h.send(DOC)
    assert r.status == 0 and not r.ok
    assert r.error == "refused to connect to 127.0.0.1: loopback address (allow_private_networks=True to allow)"
    time.sleep(0.05)
    assert receiver.connections == 0 and receiver.requests == []   # not even a TCP connect


def test_ipv6_loopback_refused_and_allowed():
    try:
        rx = Receiver("::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    with rx:
        r = Webhook(rx.url()).send(DOC)
        assert r.error == "refused to connect to ::1: loopback address (allow_private_networks=True to allow)"
        assert Webhook(rx.url(), allowed_networks=["::1/128"]).send(DOC).ok
        assert Webhook(rx.url(), allow_private_networks=True).send(DOC).ok
        assert len(rx.requests) == 2 and rx.connections == 1     # the refused attempt never connected


def test_allowed_networks_lift_the_refusal(receiver):
    assert Webhook(receiver.url(), allowed_networks=["127.0.0.0/8"]).send(DOC).ok
    assert Webhook(receiver.url(), allowed_networks=["127.0.0.1"]).send(DOC).ok
    r = Webhook(receiver.url(), allowed_networks=["10.0.0.0/8", "::1/128"]).send(DOC)
    assert "refused to connect to 127.0.0.1" in r.error


def test_reused_connection_is_checked_again(receiver):
    # a connection opened for a permissive webhook must not carry a strict webhook's request
    assert hook(receiver.url()).send(DOC).ok
    r = Webhook(receiver.url()).send(DOC)
    assert r.error == "refused to connect to 127.0.0.1: loopback address (allow_private_networks=True to allow)"
    assert len(receiver.requests) == 1
    assert hook(receiver.url()).send(DOC).ok


def test_localhost_name_is_resolved_then_refused(receiver):
    r = Webhook(f"http://localhost:{receiver.port}/x").send(DOC)
    assert r.error.startswith("refused to connect to ") and "loopback address" in r.error


CLASSES = [
    ("8.8.8.8", None), ("1.1.1.1", None), ("100.63.255.255", None), ("100.128.0.0", None),
    ("172.15.255.255", None), ("172.32.0.0", None), ("192.169.0.1", None), ("198.20.0.1", None),
    ("0.0.0.0", "unspecified address"), ("0.1.2.3", "unspecified address"),
    ("10.0.0.1", "private address"), ("10.255.255.255", "private address"),
    ("100.64.0.1", "carrier-grade NAT address"), ("100.127.255.254", "carrier-grade NAT address"),
    ("127.0.0.1", "loopback address"), ("127.255.255.254", "loopback address"),
    ("169.254.169.254", "link-local address"), ("169.254.0.1", "link-local address"),
    ("172.16.0.1", "private address"), ("172.31.255.255", "private address"),
    ("192.0.0.8", "reserved address"), ("192.0.2.1", "documentation address"),
    ("192.88.99.1", "reserved address"), ("192.168.1.1", "private address"),
    ("198.18.0.1", "benchmark address"), ("198.19.255.255", "benchmark address"),
    ("198.51.100.7", "documentation address"), ("203.0.113.9", "documentation address"),
    ("224.0.0.1", "multicast address"), ("239.255.255.250", "multicast address"),
    ("240.0.0.1", "reserved address"), ("255.255.255.255", "reserved address"),
    ("2001:4860:4860::8888", None), ("2606:4700:4700::1111", None), ("2a00:1450::1", None),
    ("::", "unspecified address"), ("::1", "loopback address"),
    ("::ffff:127.0.0.1", "loopback address"), ("::ffff:169.254.169.254", "link-local address"),
    ("::ffff:10.1.2.3", "private address"), ("::ffff:8.8.8.8", None), ("::ffff:0.0.0.0", "unspecified address"),
    ("64:ff9b::7f00:1", "loopback address"), ("64:ff9b::808:808", None), ("64:ff9b:1::1", "private address"),
    ("::127.0.0.1", "reserved address"), ("::2", "reserved address"), ("100::1", "reserved address"),
    ("2001:db8::1", "documentation address"), ("2001::1", "reserved address"), ("2001:1ff::1", "reserved address"),
    ("2002:7f00:1::", "loopback address"), ("2002:a9fe:a9fe::1", "link-local address"), ("2002:808:808::", None),
    ("3fff::1", "documentation address"),
    ("fc00::1", "private address"), ("fd12:3456::1", "private address"),
    ("fe80::1", "link-local address"), ("febf::1", "link-local address"), ("fec0::1", "private address"),
    ("ff02::1", "multicast address"), ("ff0e::1", "multicast address"),
    ("4000::1", "reserved address"), ("1000::1", "reserved address"), ("e000::1", "reserved address"),
]


@pytest.mark.parametrize("addr,expected", CLASSES)
def test_address_classifier(addr, expected):
    assert _core._classify_address(addr) == expected


def test_classifier_agrees_with_ipaddress_on_private_ranges():
    # Python's ipaddress as a second opinion: whatever it calls private/loopback/link-local/
    # multicast/reserved/unspecified is refused here too
    nat64_of_public = {"64:ff9b::808:808"}     # NAT64 of 8.8.8.8 is as public as 8.8.8.8
    for addr, _ in CLASSES:
        if addr in nat64_of_public:
            continue
        ip = ipaddress.ip_address(addr)
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        flagged = ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved \
            or ip.is_unspecified
        if flagged:
            assert _core._classify_address(addr) is not None, addr


def test_address_refusal_with_allow_lists():
    strict = Webhook("https://example.com/")
    assert _core._address_refusal(strict, "8.8.8.8") is None
    assert _core._address_refusal(strict, "169.254.169.254") == (
        "refused to connect to 169.254.169.254: link-local address, the cloud metadata endpoint "
        "(allow_private_networks=True to allow)")
    assert "(IPv4-mapped IPv6)" in _core._address_refusal(strict, "::ffff:127.0.0.1")
    nets = Webhook("https://example.com/", allowed_networks=["10.0.0.0/8", "fd00::/8", "192.168.1.0/24"])
    assert nets.allowed_networks == ("10.0.0.0/8", "fd00::/8", "192.168.1.0/24")
    assert _core._address_refusal(nets, "10.9.8.7") is None
    assert _core._address_refusal(nets, "::ffff:10.9.8.7") is None      # mapped form of an allowed v4
    assert _core._address_refusal(nets, "fd00::5") is None
    assert _core._address_refusal(nets, "192.168.1.200") is None
    assert _core._address_refusal(nets, "192.168.2.1") is not None
    assert _core._address_refusal(nets, "127.0.0.1") is not None
    assert _core._address_refusal(nets, "fe80::1") is not None
    lax = Webhook("https://example.com/", allow_private_networks=True)
    assert all(_core._address_refusal(lax, a) is None for a, _ in CLASSES)
    with pytest.raises(ValueError):
        _core._classify_address("not-an-ip")


# ---------- TLS ----------

def tls_url(rx, path="/hook"):
    return f"https://127.0.0.1:{rx.port}{path}"


def test_tls_self_signed_fails_by_default(tls_receiver):
    r = hook(tls_url(tls_receiver)).send(DOC)
    assert r.status == 0 and not r.ok
    assert r.error.startswith("TLS certificate verify failed"), r.error
    assert "self-signed" in r.error or "self signed" in r.error
    assert tls_receiver.requests == []


def test_tls_succeeds_with_ca_file(tls_receiver, tls_files):
    h = hook(tls_url(tls_receiver), ca_file=tls_files["server.pem"], webhook_secret="k")
    r = h.send(DOC)
    assert r.ok, r.error
    [got] = tls_receiver.wait_for(1)
    assert got.body == h.request(DOC).body and fwc.verify("k", got.body, dict(got.headers))


def test_tls_verify_off_only_when_asked(tls_receiver):
    assert hook(tls_url(tls_receiver), verify_tls=False).send(DOC).ok


def test_tls_hostname_must_match(tls_receiver, tls_files):
    # the certificate names 127.0.0.1 and localhost, not 127.0.0.2; the alias resolves to 127.0.0.1
    r = hook(f"https://localhost:{tls_receiver.port}/x", ca_file=tls_files["server.pem"]).send(DOC)
    assert r.ok, r.error
    r = hook(f"https://127.0.0.2:{tls_receiver.port}/x", ca_file=tls_files["server.pem"]).send(DOC)
    assert not r.ok   # connection refused (bound to 127.0.0.1 only) or a name mismatch: never ok


def test_mutual_tls(mtls_receiver, tls_files):
    base = dict(ca_file=tls_files["server.pem"])
    r = hook(tls_url(mtls_receiver), **base).send(DOC)
    assert not r.ok and r.error, r   # the server wants a certificate
    h = hook(tls_url(mtls_receiver), client_cert=tls_files["client.pem"], client_key=tls_files["client.key"], **base)
    r = h.send(DOC)
    assert r.ok, r.error
    got = mtls_receiver.wait_for(1)[-1]
    assert got.peer_cert.get("commonName") == "fwc-test-client"


def test_https_only_for_https_urls(receiver):
    # an https URL against a plain HTTP server fails as TLS, never silently downgrades
    r = hook(f"https://127.0.0.1:{receiver.port}/x", verify_tls=False).send(DOC)
    assert not r.ok and r.error.startswith("TLS")


# ---------- proxy ----------

def test_environment_proxies_are_ignored(receiver, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, dead)
    monkeypatch.setenv("no_proxy", "")
    assert hook(receiver.url()).send(DOC).ok
    assert len(receiver.requests) == 1


def test_proxy_option_is_used(receiver):
    # the receiver plays an HTTP proxy: it sees the absolute URL; the target name is never resolved here
    h = hook("http://webhook.example.invalid/hooks/q", proxy=f"http://127.0.0.1:{receiver.port}")
    r = h.send(DOC)
    assert r.ok, r.error
    [got] = receiver.wait_for(1)
    assert got.target == "http://webhook.example.invalid/hooks/q"
    assert got.body == h.request(DOC).body


def test_proxy_address_is_checked_too(receiver):
    h = Webhook("http://webhook.example.invalid/x", proxy=f"http://127.0.0.1:{receiver.port}")
    assert "refused to connect to 127.0.0.1" in h.send(DOC).error


# ---------- options: validation and attributes ----------

def test_option_defaults():
    h = Webhook("https://example.com/hook")
    assert h.follow_redirects == 0 and h.verify_tls is True and h.allow_private_networks is False
    assert h.ca_file is None and h.client_cert is None and h.client_key is None and h.proxy is None
    assert h.allowed_networks == () and h.max_response_bytes == 65536
    with pytest.raises(AttributeError):
        h.verify_tls = False


@pytest.mark.parametrize("kw,exc,msg", [
    ({"follow_redirects": -1}, ValidationError, "follow_redirects must be from 0 to 50"),
    ({"follow_redirects": 51}, ValidationError, "follow_redirects must be from 0 to 50"),
    ({"follow_redirects": True}, TypeError, "follow_redirects must be an int"),
    ({"follow_redirects": "3"}, TypeError, "follow_redirects must be an int"),
    ({"max_response_bytes": -5}, ValidationError, "max_response_bytes must be from 0"),
    ({"max_response_bytes": 2.5}, TypeError, "max_response_bytes must be an int"),
    ({"ca_file": "/nonexistent/ca.pem"}, ValidationError, "ca_file '/nonexistent/ca.pem' cannot be read"),
    ({"ca_file": 5}, TypeError, "ca_file must be a path"),
    ({"ca_file": ""}, ValidationError, "ca_file is empty"),
    ({"client_key": __file__}, ValidationError, "client_key needs client_cert"),
    ({"client_cert": "/nonexistent.pem"}, ValidationError, "client_cert '/nonexistent.pem' cannot be read"),
    ({"proxy": "ftp://proxy:21"}, ValidationError, "proxy must be an http://, https://, socks5://"),
    ({"proxy": "proxy:3128"}, ValidationError, "proxy must be"),
    ({"proxy": "http://"}, ValidationError, "proxy must be"),
    ({"proxy": "http://a b:1"}, ValidationError, "proxy must be"),
    ({"proxy": 3128}, TypeError, "proxy must be str"),
    ({"allowed_networks": "10.0.0.0/8"}, TypeError, "allowed_networks must be a list of CIDR strings"),
    ({"allowed_networks": [10]}, TypeError, "allowed_networks entries must be str"),
    ({"allowed_networks": ["10.0.0.0/33"]}, ValidationError, "prefix length must be at most 32"),
    ({"allowed_networks": ["::/129"]}, ValidationError, "prefix length must be at most 128"),
    ({"allowed_networks": ["10.0.0.1/8"]}, ValidationError, "10.0.0.1/8 has host bits set"),
    ({"allowed_networks": ["example.com"]}, ValidationError, "is not an IP network"),
    ({"allowed_networks": ["10.0.0.0/"]}, ValidationError, "is not an IP network"),
    ({"allowed_networks": ["10.0.0.0/8x"]}, ValidationError, "is not an IP network"),
])
def test_option_validation(kw, exc, msg):
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace("?", r"\?")):
        Webhook("https://example.com/hook", **kw)


def test_option_attributes(tls_files, tmp_path):
    h = Webhook("https://example.com/hook", follow_redirects=3, verify_tls=0, ca_file=tls_files["server.pem"],
                client_cert=tls_files["client.pem"], client_key=tls_files["client.key"],
                allow_private_networks=1, allowed_networks=("fd00::/8",), proxy="socks5h://127.0.0.1:1080",
                max_response_bytes=10)
    assert (h.follow_redirects, h.verify_tls, h.allow_private_networks, h.max_response_bytes) == (3, False, True, 10)
    assert h.ca_file == tls_files["server.pem"] and h.client_cert == tls_files["client.pem"]
    assert h.allowed_networks == ("fd00::/8",) and h.proxy == "socks5h://127.0.0.1:1080"
    h2 = Webhook.from_frappe({"request_url": "https://example.com/", "follow_redirects": 2, "allow_private_networks": 1})
    assert h2.follow_redirects == 2 and h2.allow_private_networks is True


def test_programming_errors_raise():
    with pytest.raises(TypeError):
        dispatch("not a hook", {})
    with pytest.raises(TypeError):
        dispatch(Webhook("https://example.com/"))
    with pytest.raises((TypeError, ValueError)):
        Webhook("https://example.com/", webhook_data=[("a", "b")]).send(42)
    with pytest.raises(ValueError, match="Circular"):
        d = {}
        d["self"] = d
        Webhook("https://example.com/", webhook_data=[("self", "s")]).send(d)


# ---------- connections and threads ----------

def test_keep_alive_across_dispatches(receiver):
    h = hook(receiver.url())
    for _ in range(5):
        assert h.send(DOC).ok
    other = hook(receiver.url("/other"), request_method="PUT")   # another webhook, same host
    assert other.send(DOC).ok
    reqs = receiver.wait_for(6)
    assert receiver.connections == 1 and {q.connection for q in reqs} == {1}


def test_threads_dispatch_concurrently_and_safely(receiver):
    h = hook(receiver.url())
    errors = []

    def work():
        for i in range(25):
            r = h.send({"name": f"doc-{i}", "items": [], "customer_name": "x"})
            if not r.ok:
                errors.append(r.error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(receiver.wait_for(200)) == 200
    assert receiver.connections <= 8 + 2


def test_thread_exit_cleans_its_handle(receiver):
    # each short-lived thread opens a connection; its handle (and socket) go with the thread
    def fd_count():
        return len(os.listdir("/proc/self/fd"))

    h = hook(receiver.url())
    h.send(DOC)
    before = fd_count()
    for _ in range(30):
        t = threading.Thread(target=h.send, args=(DOC,))
        t.start()
        t.join()
    time.sleep(0.1)
    assert fd_count() <= before + 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="ASan's allocator is not fork-safe: a child forked while other threads (a Dispatcher's "
                           "workers from earlier tests) allocate can deadlock inside ASan itself; runs in the normal build")
def test_fork_child_does_not_share_the_connection(receiver):
    h = hook(receiver.url())
    assert h.send(DOC).ok                      # the parent's thread handle has a live connection
    pid = os.fork()
    if pid == 0:                               # child: must open its own connection
        code = 0 if h.send(DOC).ok else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert h.send(DOC).ok                      # the parent's connection still works
    reqs = receiver.wait_for(3)
    assert [q.connection for q in reqs] == [1, 2, 1]


def test_gil_released_during_transfer():
    """8 threads each dispatching to an endpoint that waits 300 ms finish well under
    8 x 300 ms, while a pure-Python counting thread keeps at least half its solo rate.
    The receiver runs in another process, so it takes no GIL from this one."""
    proc = subprocess.Popen([sys.executable, "-m", "support.receiver"], cwd=os.path.dirname(os.path.abspath(__file__)),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        h = hook(f"http://127.0.0.1:{port}/delay/300")
        assert hook(f"http://127.0.0.1:{port}/warm").send(DOC).ok

        def count_for(seconds):
            n, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                n += 1
            return n / seconds

        solo = count_for(0.6)
        results = []
        rate = []
        counter = threading.Thread(target=lambda: rate.append(count_for(0.6)))
        senders = [threading.Thread(target=lambda: results.append(h.send(DOC))) for _ in range(8)]
        t0 = time.perf_counter()
        counter.start()
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        wall = time.perf_counter() - t0
        counter.join()
        assert len(results) == 8 and all(r.ok for r in results), [r.error for r in results]
        assert wall < 1.2, f"8 x 300 ms took {wall:.2f} s: the transfers did not run in parallel"
        assert rate[0] >= 0.5 * solo, f"counting thread fell to {rate[0] / solo:.0%} of its solo rate"
    finally:
        proc.stdin.close()
        proc.wait(5)


# ---------- leaks ----------

def _rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def test_no_reference_leaks(receiver):
    receiver.record = False
    h = hook(receiver.url(), webhook_secret="s")
    doc = dict(DOC)
    for _ in range(50):
        h.send(doc)
    gc.collect()
    refs = (sys.getrefcount(h), sys.getrefcount(doc), sys.getrefcount(doc["items"]))
    objects = len(gc.get_objects())
    for _ in range(300):
        r = h.send(doc)
        r.headers, r.body, r.request.headers, r.error
        dispatch(h, doc)
        hook(f"http://127.0.0.1:{free_port()}/x").send(doc)     # failures too
    del r
    gc.collect()
    assert (sys.getrefcount(h), sys.getrefcount(doc), sys.getrefcount(doc["items"])) == refs
    assert len(gc.get_objects()) - objects < 50


@pytest.mark.skipif(SANITIZED, reason="ASan's quarantine grows RSS by design")
def test_no_memory_growth(receiver):
    receiver.record = False
    receiver.respond(200, b"y" * 20000)
    h = hook(receiver.url(), webhook_secret="s", webhook_data=[("blob", "b")])
    doc = {"blob": "z" * 20000}
    for _ in range(300):
        h.send(doc).body
    before = _rss_kb()
    for _ in range(3000):
        r = h.send(doc)
        r.body, r.headers
    grown = _rss_kb() - before
    # a leak of the request or response body alone would be 3000 x 20 KB = 60 MB
    assert grown < 8000, f"RSS grew by {grown} KiB over 3000 dispatches"


# ---------- command line: send and sink ----------

def run_cli(*args, **kw):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(fwc.__file__))] + sys.path))
    return subprocess.run([sys.executable, "-m", "frappe_webhook_c", *args], capture_output=True, text=True,
                          env=env, timeout=60, **kw)


def test_cli_send(receiver, tmp_path):
    from frappe_webhook_c.__main__ import SEED_DOC, SEED_WEBHOOK
    (tmp_path / "hook.json").write_text(json.dumps(dict(SEED_WEBHOOK, request_url=receiver.url("/q"), webhook_secret="k")))
    (tmp_path / "doc.json").write_text(json.dumps(SEED_DOC))
    args = ("send", "--webhook", str(tmp_path / "hook.json"), "--doc", str(tmp_path / "doc.json"))
    refused = run_cli(*args)
    assert refused.returncode == 1 and "loopback address" in refused.stdout
    done = run_cli(*args, "--allow-private-networks")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-> HTTP 200" in done.stdout
    [got] = receiver.wait_for(1)
    assert fwc.verify("k", got.body, dict(got.headers))


def test_cli_sink_prints_and_verifies():
    sink = subprocess.Popen([sys.executable, "-u", "-m", "frappe_webhook_c", "sink", "--port", "0", "--secret", "k"],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        banner = sink.stdout.readline()
        port = int(banner.split("http://127.0.0.1:")[1].split("/")[0])
        url = f"http://127.0.0.1:{port}/in"
        assert hook(url, webhook_secret="k").send(DOC).ok
        assert hook(url, webhook_secret="wrong").send(DOC).ok
        assert hook(url).send(DOC).ok
    finally:
        sink.terminate()
        out, _ = sink.communicate(timeout=5)
    assert out.count("--- POST /in") == 3
    assert "signature: verified (frappe)" in out and "signature: INVALID (frappe)" in out
    assert "signature: none (unsigned request)" in out
    assert '"id": "SAL-QTN-2026-00001"' in out


def test_cli_demo():
    done = run_cli("demo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "allow_private_networks=True" in done.stdout
    assert "signature: verified (frappe)" in done.stdout and "signature: none (unsigned request)" in done.stdout
