"""Frappe's webhook request building, in pure Python: the oracle the tests compare
against and the reference the benchmarks race.

It follows frappe/integrations/doctype/webhook/webhook.py: the document is normalised
by as_dict(convert_dates_to_str=True), data is built from the field rows, the body is
json.dumps(data, default=str), signed with HMAC-SHA256 and base64.  Below that, the
formulas of frappe/utils/data.py that conditions call as utils.flt / utils.cint.
"""
import base64
import datetime
import hashlib
import hmac
import json
import math


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


# ---------------------------------------------------------------- frappe/utils/data.py: Frappe's formulas


def rounded_legacy(num, precision=0):
    """frappe.utils.data._bankers_rounding_legacy"""
    multiplier = 10 ** precision
    num = round(num * multiplier if precision else num, 8)
    floor_num = math.floor(num)
    decimal_part = num - floor_num
    if not precision and decimal_part == 0.5:
        num = floor_num if (floor_num % 2 == 0) else floor_num + 1
    else:
        if decimal_part == 0.5:
            num = floor_num + 1
        else:
            num = round(num)
    return (num / multiplier) if precision else num


def bankers_rounding(num, precision):
    multiplier = 10 ** precision
    num = round(num * multiplier, 12)
    if num == 0:
        return 0.0
    floor_num = math.floor(num)
    decimal_part = num - floor_num
    epsilon = 2.0 ** (math.log(abs(num), 2) - 52.0)
    if abs(decimal_part - 0.5) < epsilon:
        num = floor_num if (floor_num % 2 == 0) else floor_num + 1
    else:
        num = round(num)
    return num / multiplier


def commercial_rounding(num, precision):
    if num == 0:
        return 0.0
    epsilon = 2.0 ** (math.log(abs(num), 2) - 52.0)
    return round(num + math.copysign(epsilon, num), precision)


def flt(s, precision=None):
    if isinstance(s, str):
        s = s.replace(",", "")
    try:
        num = float(s)
        if precision is not None:
            num = rounded_legacy(num, precision)
    except Exception:
        num = 0.0
    return num


def cint(s, default=0):
    try:
        return int(s)
    except Exception:
        try:
            return int(float(s))
        except Exception:
            return default


class Utils:
    """`utils` as a condition sees it (flt and cint), for eval() over the normalised document."""

    flt = staticmethod(flt)
    cint = staticmethod(cint)
