"""The Webhook type: Frappe's fields and validation, and the exact request Frappe
would build (compared with the pure-Python reference of Frappe's algorithm)."""
import base64
import collections
import datetime
import gc
import hashlib
import hmac
import json
import os
import resource

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frappe_webhook_c as fwc
from support.frappe_reference import build_request, get_webhook_data
from support.quotation import quotation

SEED = dict(
    name="quotation-hook", request_url="https://example.com/hooks/quotation", webhook_doctype="Quotation",
    webhook_docevent="on_update", request_structure="Form URL-Encoded",
    webhook_data=[{"fieldname": "name", "key": "id"}, {"fieldname": "items", "key": "lineItems"}],
    webhook_headers=[{"key": "Content-Type", "value": "application/json"}],
)


def test_seed_example_body_is_frappes():
    doc = quotation()
    hook = fwc.Webhook(**SEED)
    req = hook.request(doc)
    data = get_webhook_data(doc, [("name", "id"), ("items", "lineItems")])
    assert req.body == json.dumps(data, default=str).encode()
    assert req.data == json.loads(json.dumps(data, default=str))
    assert req.method == "POST"
    assert req.url == "https://example.com/hooks/quotation"
    assert req.headers == [("Content-Type", "application/json")]


def test_seed_example_signed():
    doc = quotation()
    hook = fwc.Webhook(**SEED, webhook_secret="s3cret")
    req = hook.request(doc)
    headers, body = build_request(doc, [("name", "id"), ("items", "lineItems")], "s3cret", [("Content-Type", "application/json")])
    assert req.body == body.encode()
    assert req.headers == list(headers.items())
    assert fwc.verify("s3cret", req.body, dict(req.headers))


field_names = st.sampled_from(["name", "items", "grand_total", "status", "missing", "transaction_date", "taxes", "título"])
out_keys = st.text(min_size=1, max_size=8)
docs = st.dictionaries(
    st.sampled_from(["name", "grand_total", "status", "título", "transaction_date", "x"]),
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.dates() | st.datetimes()
    | st.lists(st.integers() | st.text(), max_size=3),
)


@settings(max_examples=500)
@given(docs, st.lists(st.tuples(field_names, out_keys), max_size=6, unique_by=lambda r: r[0]),
       st.none() | st.text(min_size=1, max_size=20).filter(lambda s: "\ud800" > s or True),
       st.lists(st.tuples(st.sampled_from(["X-A", "X-B", "Authorization", ""]), st.sampled_from(["1", "2", ""])), max_size=4))
def test_requests_match_frappe_reference(doc, rows, secret, header_rows):
    if secret is not None:
        try:
            secret.encode()
        except UnicodeEncodeError:
            secret = None
    hook = fwc.Webhook(request_url="https://h.example/x", webhook_data=rows, webhook_secret=secret,
                       webhook_headers=header_rows)
    req = hook.request(doc)
    headers, body = build_request(doc, rows, secret, header_rows)
    assert req.body == body.encode() if rows else req.body == b"{}"
    if rows:
        assert req.headers == list(headers.items())


def test_repeated_key_last_wins_first_position():
    hook = fwc.Webhook(request_url="https://h/x", webhook_data=[("a", "k"), ("b", "j"), ("c", "k")])
    assert hook.request({"a": 1, "b": 2, "c": 3}).body == b'{"k": 3, "j": 2}'


def test_no_fields_no_template_gives_empty_object():
    assert fwc.Webhook(request_url="https://h/x").request({"a": 1}).body == b"{}"


def test_as_json_style_and_preview():
    doc = quotation()
    hook = fwc.Webhook(**SEED, json_style="as_json")
    data = json.loads(json.dumps(get_webhook_data(doc, [("name", "id"), ("items", "lineItems")]), default=str))
    expected = json.dumps(data, indent=1, sort_keys=True, separators=(",", ": "))
    assert hook.request(doc).body == expected.encode()
    assert fwc.Webhook(**SEED).preview_request_body(doc) == expected


def test_header_rules():
    hook = fwc.Webhook(request_url="https://h/x", webhook_secret="k", webhook_headers=[
        ("X-One", "1"), ("", "ignored"), ("X-Empty", ""), ("X-Two", "2"), ("X-One", "override"),
        ("X-Frappe-Webhook-Signature", "user-set"),
    ])
    names = [n for n, _ in hook.request({}).headers]
    assert names == ["X-Frappe-Webhook-Signature", "X-One", "X-Two"]
    assert dict(hook.request({}).headers)["X-One"] == "override"
    assert dict(hook.request({}).headers)["X-Frappe-Webhook-Signature"] == "user-set"
    assert dict(fwc.Webhook(request_url="https://h/x", webhook_headers={"A": "b"}).request({}).headers) == {"A": "b"}


@pytest.mark.parametrize("name, value", [("X-A", "a\r\nInjected: 1"), ("X-A", "a\nb"), ("X-A\r", "v"),
                                         ("X-A", "a\x00"), ("X\nB", "v")])
def test_header_injection_rejected(name, value):
    with pytest.raises(fwc.ValidationError, match="header injection"):
        fwc.Webhook(request_url="https://h/x", webhook_headers=[(name, value)])


def test_header_name_must_be_token():
    with pytest.raises(fwc.ValidationError, match="not a valid HTTP token"):
        fwc.Webhook(request_url="https://h/x", webhook_headers=[("X A:", "v")])


def test_signatures_all_schemes():
    hook = fwc.Webhook(request_url="https://h/x", webhook_data=[("name", "n")], webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                       signature=["frappe", "standard", "github"])
    req = hook.request({"name": "A"})
    h = dict(req.headers)
    assert list(h)[:5] == ["X-Frappe-Webhook-Signature", "webhook-id", "webhook-timestamp", "webhook-signature", "X-Hub-Signature-256"]
    secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert h["X-Frappe-Webhook-Signature"] == base64.b64encode(hmac.new(secret, req.body, hashlib.sha256).digest()).decode()
    assert h["X-Hub-Signature-256"] == "sha256=" + hmac.new(secret, req.body, hashlib.sha256).hexdigest()
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + req.body
    assert h["webhook-signature"] == "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for scheme in ("frappe", "standard", "github"):
        assert fwc.verify(secret.decode(), req.body, h, scheme)


def test_security_rules():
    assert fwc.Webhook(request_url="https://h/x", webhook_secret="k").enable_security is True
    off = fwc.Webhook(request_url="https://h/x", webhook_secret="k", enable_security=0)
    assert off.enable_security is False and off.request({}).headers == [] and off.signature == ()
    with pytest.raises(fwc.ValidationError, match="Invalid Webhook Secret"):
        fwc.Webhook(request_url="https://h/x", enable_security=1)
    with pytest.raises(fwc.ValidationError, match="Invalid Webhook Secret"):
        fwc.Webhook(request_url="https://h/x", enable_security=1, webhook_secret="")
    with pytest.raises(fwc.ValidationError, match="Invalid Webhook Secret"):
        fwc.Webhook(request_url="https://h/x", webhook_secret="whsec_not base64!", signature="standard")
    with pytest.raises(fwc.ValidationError, match="Unknown signature scheme"):
        fwc.Webhook(request_url="https://h/x", webhook_secret="k", signature="md5")
    with pytest.raises(fwc.ValidationError, match="needs a webhook_secret"):
        fwc.Webhook(request_url="https://h/x", signature="github")


@pytest.mark.parametrize("url, message", [
    ("example.com/hook", "Check Request URL"), ("https://", "Check Request URL"), ("https:///path", "Check Request URL"),
    ("ftp://example.com/", "scheme must be http or https"), ("file:///etc/passwd", "scheme must be http or https"),
    ("https://exa mple.com/", "Check Request URL"), ("https://example.com/\r\nX: y", "Check Request URL"), ("", "Check Request URL"),
])
def test_url_validation(url, message):
    with pytest.raises(fwc.ValidationError, match=message):
        fwc.Webhook(request_url=url)


def test_valid_urls():
    for url in ("http://a", "HTTPS://example.com:8443/x?y=1#z", "https://user:pw@h/x", "http://[::1]:80/"):
        assert fwc.Webhook(request_url=url).request_url == url


@pytest.mark.parametrize("kw, message", [
    (dict(request_method="GET"), "Request Method must be POST, PUT, DELETE or PATCH"),
    (dict(request_structure="XML"), "Unknown Request Structure"),
    (dict(webhook_docevent="on_save"), "Unknown doc event"),
    (dict(timeout=0), "timeout must be a positive"), (dict(timeout=-1.5), "timeout must be a positive"),
    (dict(timeout=float("nan")), "timeout must be a positive"), (dict(max_retries=-1), "max_retries"),
    (dict(webhook_data=[("a", "x"), ("a", "y")]), "Same Field is entered more than once"),
    (dict(webhook_data=[("a", "")]), "needs both a fieldname and a key"),
    (dict(json_style="pretty"), "json_style"),
])
def test_validation_errors(kw, message):
    with pytest.raises(fwc.ValidationError, match=message):
        fwc.Webhook(request_url="https://h/x", **kw)
    assert issubclass(fwc.ValidationError, ValueError)


def test_type_errors():
    with pytest.raises(TypeError, match="unexpected keyword"):
        fwc.Webhook(request_url="https://h/x", bogus=1)
    with pytest.raises(TypeError, match="missing required"):
        fwc.Webhook()
    with pytest.raises(TypeError):
        fwc.Webhook(request_url=b"https://h/x")
    with pytest.raises(TypeError):
        fwc.Webhook(request_url="https://h/x", webhook_data=5)
    with pytest.raises(TypeError):
        fwc.Webhook(request_url="https://h/x", timeout="5")


def test_normalisation():
    h = fwc.Webhook("https://h/x", request_method="put", request_structure="json", webhook_json='{"a": 1}',
                    webhook_data=[("a", "b")])
    assert (h.request_method, h.request_structure, h.webhook_data, h.webhook_json) == ("PUT", "JSON", [], '{"a": 1}')
    form = fwc.Webhook("https://h/x", request_structure="form url-encoded", webhook_json='{"a": 1}', webhook_data=[("a", "b")])
    assert (form.request_structure, form.webhook_json, form.webhook_data) == ("Form URL-Encoded", None, [("a", "b")])
    assert fwc.Webhook("https://h/x", request_method="PATCH").request_method == "PATCH"
    assert fwc.Webhook("https://h/x").timeout == 5.0 and fwc.Webhook("https://h/x").max_retries == 3


def test_from_frappe_maps_one_to_one():
    frappe_doc = {
        "doctype": "Webhook", "name": "HOOK-0001", "owner": "Administrator", "webhook_doctype": "Quotation",
        "webhook_docevent": "on_update", "enabled": 1, "condition": "doc.status == 'Open'",
        "request_url": "https://example.com/hooks/quotation", "is_dynamic_url": 0, "timeout": 0,
        "request_method": "POST", "request_structure": "Form URL-Encoded", "enable_security": 1,
        "webhook_secret": "s3cret", "background_jobs_queue": "long", "webhook_json": None,
        "webhook_data": [{"doctype": "Webhook Data", "idx": 1, "fieldname": "name", "key": "id"},
                         {"doctype": "Webhook Data", "idx": 2, "fieldname": "items", "key": "lineItems"}],
        "webhook_headers": [{"doctype": "Webhook Header", "key": "Content-Type", "value": "application/json"}],
        "preview_document": None, "meets_condition": "Yes",
    }
    hook = fwc.Webhook.from_frappe(frappe_doc)
    assert hook.name == "HOOK-0001" and hook.timeout == 5.0 and hook.background_jobs_queue == "long"
    assert hook.webhook_data == [("name", "id"), ("items", "lineItems")]
    assert hook.condition == "doc.status == 'Open'"
    doc = quotation()
    assert hook.request(doc).body == fwc.Webhook(**SEED).request(doc).body
    with pytest.raises(TypeError):
        fwc.Webhook.from_frappe([1])


def test_immutable_hashable_and_repr_hides_secret():
    hook = fwc.Webhook(**SEED, webhook_secret="top-secret-value")
    assert "top-secret-value" not in repr(hook)
    assert "quotation-hook" in repr(hook)
    with pytest.raises(AttributeError):
        hook.request_url = "https://evil/"
    with pytest.raises(AttributeError):
        hook.new_attr = 1
    assert not hasattr(hook, "webhook_secret")
    other = fwc.Webhook(**SEED, webhook_secret="top-secret-value")
    assert hook != other and len({hook, other, hook}) == 2
    assert "top-secret-value" not in repr(hook.request({"name": "x"}))


def test_build_errors_do_not_leak():
    hook = fwc.Webhook(**SEED, webhook_secret="k", signature=["frappe", "standard", "github"])
    doc = quotation()

    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    for _ in range(2000):
        hook.request(doc).body
    gc.collect()
    before = rss()
    for _ in range(20000):
        r = hook.request(doc)
        r.body, r.data, r.headers
        hook.preview_request_body(doc)
    gc.collect()
    if "asan" not in os.environ.get("LD_PRELOAD", ""):   # ASan's quarantine holds freed memory by design
        assert rss() - before < 8 * 1024  # KiB: no per-request growth


def test_request_outlives_its_webhook():
    req = fwc.Webhook(request_url="https://h.example/x", request_method="put", webhook_data=[("a", "b")]).request({"a": 1})
    gc.collect()
    assert (req.method, req.url, req.body, req.data) == ("PUT", "https://h.example/x", b'{"b": 1}', {"b": 1})


def test_field_map_reads_only_its_fields():
    # Frappe's json.dumps sees only the data: an unsendable field elsewhere is no error
    doc = {"name": "A", "other": None, "bad": {(1, 2): 3}}
    doc["other"] = doc
    hook = fwc.Webhook(request_url="https://h/x", webhook_data=[("name", "id"), ("missing", "m")])
    assert hook.request(doc).body == b'{"id": "A", "m": null}'
    with pytest.raises(ValueError, match="Circular"):
        fwc.Webhook(request_url="https://h/x", webhook_data=[("other", "o")]).request(doc)


def test_field_map_on_dict_subclasses_and_mappings():
    class Items(dict):
        def items(self):
            return [("name", "from items()")]

    class FrappeDict(dict):
        def __getattr__(self, k):
            return self.get(k)

    hook = fwc.Webhook(request_url="https://h/x", webhook_data=[("name", "id")])
    assert hook.request(Items(name="real")).body == b'{"id": "from items()"}'
    assert hook.request(FrappeDict(name="real")).body == b'{"id": "real"}'
    assert hook.request(collections.OrderedDict(name="od")).body == b'{"id": "od"}'
