"""Jinja2 configured as Frappe configures it for webhooks: the oracle of the template tests
and the baseline of bench/templates.py.

frappe.utils.jinja.get_jenv(): SandboxedEnvironment(undefined=DebugUndefined) with
Frappe's extra filters json (frappe.as_json), len, int (cint), str (cstr), flt;
frappe.render_template() rejects ".__" ("Illegal template"); the context is
{"doc": doc.as_dict(convert_dates_to_str=True), "utils": frappe.utils}.  cint/cstr/flt
are re-implemented here from frappe/utils/data.py.

One documented improvement is mirrored so both sides agree on what `doc.<name>` means:
a key wins over a dict method of the same name (`doc.items` is the field).
"""
import datetime
import decimal
import json

from jinja2 import DebugUndefined
from jinja2.sandbox import SandboxedEnvironment

from .frappe_reference import rounded_legacy


class _dict(dict):
    """frappe._dict: attribute access to keys, None when missing."""

    def __getattr__(self, key):
        return self.get(key)


_dict.__module__ = "frappe"


def _convert(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time, datetime.timedelta)):
        return str(value)
    if isinstance(value, list):
        return [_convert(v) for v in value]
    if isinstance(value, dict):
        return _dict({k: _convert(v) for k, v in value.items()})
    if isinstance(value, (decimal.Decimal,)):
        return str(value)
    return value


def as_dict(doc):
    return _convert(doc)


# ---------------------------------------------------------------- frappe/utils/data.py


def cstr(s, encoding="utf-8"):
    if s is None:
        return ""
    if isinstance(s, str):
        return s
    if isinstance(s, bytes):
        return str(s, encoding)
    return str(s)


def flt(s, precision=None, rounding_method=None):
    if isinstance(s, str):
        s = s.replace(",", "")
    try:
        num = float(s)
        if precision is not None:
            num = rounded(num, precision, rounding_method)
    except Exception:
        num = 0.0
    return num


def cint(s, default=0):
    try:
        return int(float(s))
    except Exception:
        return default


def rounded(num, precision=0, rounding_method=None):
    # Frappe's default "Banker's Rounding (legacy)"
    return rounded_legacy(num, cint(precision))


def as_json(obj, indent=1, separators=None):
    if separators is None:
        separators = (",", ": ")
    return json.dumps(obj, indent=indent, sort_keys=True, separators=separators)


class Utils:
    flt = staticmethod(flt)
    cint = staticmethod(cint)
    cstr = staticmethod(cstr)


BUILTINS = {name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
            for name in ["len", "int", "float", "str", "bool", "abs", "min", "max", "round", "sum", "sorted",
                         "list", "tuple", "range"]}


class KeyFirstEnvironment(SandboxedEnvironment):
    """Frappe's environment, with a dict key winning over a dict method of the same name."""

    def getattr(self, obj, attribute):
        if isinstance(obj, dict) and isinstance(attribute, str) and not attribute.startswith("_") and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def get_jenv():
    env = KeyFirstEnvironment(undefined=DebugUndefined)
    env.filters["json"] = as_json
    env.filters["len"] = len
    env.filters["int"] = cint
    env.filters["str"] = cstr
    env.filters["flt"] = flt
    env.globals.update(BUILTINS)
    return env


JENV = get_jenv()


class IllegalTemplate(Exception):
    pass


def render_template(template, doc):
    """frappe.render_template(template, get_context(doc)) for a webhook."""
    if ".__" in template:
        raise IllegalTemplate("Illegal template")
    return JENV.from_string(template).render({"doc": as_dict(doc), "utils": Utils})


def get_webhook_data(template, doc):
    """Frappe's get_webhook_data for a webhook_json template."""
    return json.loads(render_template(template, doc))


# ---------------------------------------------------------------- the comparison the tests make


def native(template, doc, json_escape=False):
    """The native engine's rendering: ("ok", text) or ("err", message)."""
    import frappe_webhook_c as fwc
    from frappe_webhook_c import _core

    try:
        return ("ok", _core._render(template, doc, json_escape=json_escape))
    except (fwc.ValidationError, fwc.TemplateError) as e:
        return ("err", str(e))


def reference(template, doc):
    """Jinja2's rendering as Frappe's: ("ok", text) or ("err", "<Type>: <message>")."""
    try:
        return ("ok", render_template(template, doc))
    except Exception as e:  # noqa: BLE001 - any failure of the oracle counts as "fails"
        return ("err", f"{type(e).__name__}: {e}")


def assert_same(template, doc):
    """Same text, or both fail."""
    a, b = native(template, doc), reference(template, doc)
    if a[0] == "err" and b[0] == "err":
        return
    assert a == b, template
