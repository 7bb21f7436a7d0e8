"""Frappe's webhook request building, in pure Python: the oracle the tests compare
against and the reference the benchmarks race.

It follows frappe/integrations/doctype/webhook/webhook.py: the document is normalised
by as_dict(convert_dates_to_str=True), data is built from the field rows, the body is
json.dumps(data, default=str), signed with HMAC-SHA256 and base64.
"""
import base64
import datetime
import hashlib
import hmac
import json


class _dict(dict):
    """frappe._dict: attribute access to keys, None when missing."""

    def __getattr__(self, key):
        return self.get(key)

    def __setattr__(self, key, value):
        self[key] = value


def _convert(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time, datetime.timedelta)):
        return str(value)
    if isinstance(value, list):
        return [_convert(v) for v in value]
    if isinstance(value, dict):
        return {k: _convert(v) for k, v in value.items()}
    return value


def as_dict(doc):
    """Document.as_dict(convert_dates_to_str=True) for a dict document."""
    return _dict({k: _convert(v) for k, v in doc.items()})


def get_webhook_data(doc, field_rows):
    doc = as_dict(doc)
    return {key: doc.get(fieldname) for fieldname, key in field_rows}


def get_webhook_headers(body_data, secret, header_rows):
    headers = {}
    if secret:
        signature = base64.b64encode(
            hmac.new(secret.encode("utf8"), json.dumps(body_data, default=str).encode("utf8"), hashlib.sha256).digest()
        )
        headers["X-Frappe-Webhook-Signature"] = signature.decode()
    for key, value in header_rows:
        if key and value:
            headers[key] = value
    return headers


def build_request(doc, field_rows, secret=None, header_rows=()):
    """(headers, body) as Frappe's enqueue_webhook sends them."""
    data = get_webhook_data(doc, field_rows)
    body = json.dumps(data, default=str)
    return get_webhook_headers(data, secret, header_rows), body
