"""printf-style formatting in templates -- the `format` filter (Jinja's do_format:
str(value) % (kwargs or args)) and the `%` operator on a str -- against Jinja2 as Frappe
configures it and against Python's own str.__mod__: same text, or the same exception type
and message (the native one as TemplateError "line L: <Type>: <message>").
"""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frappe_webhook_c as fwc
from frappe_webhook_c import _core
from support import jinja_reference as jr

URL = "https://example.com/hook"


def native(template, doc):
    try:
        return ("ok", _core._render(template, doc))
    except fwc.TemplateError as e:
        line, _, message = str(e).partition(": ")
        assert line == "line 1", str(e)
        return ("err", message)


def reference(template, doc):
    try:
        return ("ok", jr.render_template(template, doc))
    except Exception as e:  # noqa: BLE001 - the oracle's exception, as text
        # the document's dicts are frappe._dict in Jinja (type name "_dict")
        return ("err", f"{type(e).__name__}: {e}".replace("not _dict", "not dict").replace("_dict indices", "dict indices"))


def python(fmt, args):
    try:
        return ("ok", fmt % args)
    except Exception as e:  # noqa: BLE001
        return ("err", f"{type(e).__name__}: {e}")


def filter_template(nargs=0, keys=()):
    args = [f"doc.a[{i}]" for i in range(nargs)] + [f"{k}=doc.m[{k!r}]" for k in keys]
    return "{{ doc.f | format(" + ", ".join(args) + ") }}"


def same(got, want):
    """Equal results -- except past the template's string bound of 1 MiB (README), where
    Python builds the string and the native engine fails with MemoryError."""
    if want[0] == "ok" and len(want[1].encode("utf-8", "surrogatepass")) > 1 << 20:
        return got[0] == "err" and got[1].startswith("MemoryError: string result too long")
    if want[0] == "err" and want[1].startswith("MemoryError"):   # Python could not allocate a huge width either
        return got[0] == "err"
    return got == want


# ---------------------------------------------------------------- generated format strings

FLAGS = st.lists(st.sampled_from("-+ #0"), max_size=3).map("".join)
NUM = st.one_of(st.just(""), st.integers(0, 25).map(str), st.just("*"))
PREC = st.one_of(st.just(""), st.integers(0, 20).map(lambda p: f".{p}"), st.just(".*"), st.just("."))
CONV = st.sampled_from("sradiuoxXeEfFgGc%") | st.sampled_from(["q", "é", "", "l", "hd", "ld", "Lf"])
TEXT = st.sampled_from(["", "x", " = ", "é ", "%%", "[", "]"])


@st.composite
def specs(draw, keyed=False):
    key = f"({draw(st.sampled_from(['a', 'b', 'qty']))})" if keyed else ""
    return "%" + key + draw(FLAGS) + draw(NUM) + draw(PREC) + draw(CONV)


def format_strings(keyed=False):
    return st.lists(st.tuples(TEXT, specs(keyed)), min_size=0, max_size=4).map(lambda parts: "".join(a + b for a, b in parts))


# (no ints between 10**6 and 2**63: as a `*` width Python would try to allocate that many
# characters, which the sanitizer run turns into an abort instead of a MemoryError)
BIG = st.sampled_from([2**63, -(2**63) - 1, 2**64 + 1, 10**30, -(10**30), 123456789012345678901234567890])
VALUES = st.one_of(
    st.integers(-(10**6), 10**6), BIG, st.sampled_from([0, 1, -1, 255, 65, 0x1F600, 0x110000, True, False]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1.5, 2.5, 2.675, -0.0, 1e16, 1e-7, 123456.789, 1e300]),
    st.text(max_size=4), st.sampled_from(["é", "Ünï\u2013côde", "", "a", "it's", '"q"', "\n"]),
    st.none(), st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), max_size=2),
)


@settings(max_examples=600)
@given(format_strings(), st.lists(VALUES, max_size=5))
def test_format_filter_positional_like_jinja_and_python(fmt, args):
    doc = {"f": fmt, "a": args}
    got, want = native(filter_template(len(args)), doc), reference(filter_template(len(args)), doc)
    assert same(got, want), (fmt, args, got, want)
    # and the oracle is Python's own % on the same values (the tuple of the filter's args)
    assert want[0] == python(fmt, tuple(jr.as_dict(doc)["a"]))[0]


@settings(max_examples=300)
@given(format_strings(keyed=True), st.dictionaries(st.sampled_from(["a", "b", "qty"]), VALUES, max_size=3))
def test_format_filter_keywords_like_jinja(fmt, kwargs):
    doc = {"f": fmt, "m": kwargs}
    t = filter_template(keys=list(kwargs))
    got, want = native(t, doc), reference(t, doc)
    assert same(got, want), (fmt, kwargs, got, want)


@settings(max_examples=300)
@given(format_strings() | format_strings(keyed=True), VALUES, st.lists(VALUES, max_size=3))
def test_percent_operator_like_jinja(fmt, single, many):
    # str % value: a tuple is the arguments, a dict or list is also a mapping, anything else one argument
    doc = {"f": fmt, "a": many, "v": single}
    tuple_template = "{{ doc.f % (" + "".join(f"doc.a[{i}], " for i in range(len(many))) + ") }}"
    for template in ["{{ doc.f % doc.v }}", "{{ doc.f % doc.a }}", tuple_template]:
        got, want = native(template, doc), reference(template, doc)
        assert same(got, want), (template, fmt, single, many, got, want)


# ---------------------------------------------------------------- targeted cases

CASES = [
    ("%s-%05.2f", ("a", 3.14159)), ("%5s|%-5s|%.2s", ("ab", "cd", "éèê")), ("%d %i %u", (7.9, -7.9, True)),
    ("%x %X %o %#x %#X %#o", (255, 255, 8, 255, 255, 8)), ("%+d % d %05d %-5d|", (3, 3, -3, 3)), ("%.3d %#.5x", (-5, -255)),
    ("%e %E %.0e %#.0e", (12345.678, 0.000123, 5.5, 5.5)), ("%f %F %.1f %.0f %.0f", (1 / 3, float("inf"), 0.25, 0.5, 1.5)),
    ("%g %G %.0g %#g %g", (1e16, 1e-10, 123.0, 1.0, -0.0)), ("%05f|%+f|%f", (float("inf"), float("nan"), -float("nan"))),
    ("%c%c%c|%3c|", (65, "é", 0x1F600, "x")), ("%r %a %s", ("é\n", "é\u2013\U0001f600", None)), ("%*d|%-*d|%.*f", (5, 1, 5, 2, 2, 3.14159)),
    ("%ld %hd %Lf", (1, 2, 3.0)), ("%%%s%%", ("x",)), ("%x %d", (2**64, -(2**70))), ("%d", (1e20,)),
    # errors, with Python's messages
    ("%s %s", (1,)), ("%s", (1, 2)), ("%", ()), ("ab%.", (1,)), ("%q", (1,)), ("%é", (1,)), ("%5%", (1,)), ("%(a)s", (1,)),
    ("%d", ("x",)), ("%d", (None,)), ("%x", (1.5,)), ("%d", (float("inf"),)), ("%d", (float("nan"),)), ("%f", ("x",)), ("%f", (10**400,)),
    ("%c", ("ab",)), ("%c", (1.5,)), ("%c", (0x110000,)), ("%c", (-1,)), ("%*d", (1.5, 2)), ("%.*f", ("a", 2.0)),
]


@pytest.mark.parametrize("fmt, args", CASES)
def test_format_cases_match_python_exactly(fmt, args):
    doc = {"f": fmt, "a": list(args)}
    want = python(fmt, args)
    assert native(filter_template(len(args)), doc) == want
    assert reference(filter_template(len(args)), doc) == want


@pytest.mark.parametrize("fmt, kwargs", [
    ("%(a)s|%(b)05.1f|%(a)r", {"a": "x", "b": 2.25}), ("%(b)s", {"a": 1}), ("%s", {"a": 1}), ("%(a)s %s", {"a": 1}),
    ("%s %(a)s", {"a": 1}), ("plain", {"a": 1}), ("%(a)s %%", {"a": 1}), ("%(a)*d", {"a": 3}), ("%(a", {"a": 1}),
])
def test_format_keywords_are_the_mapping(fmt, kwargs):
    doc = {"f": fmt, "m": kwargs}
    want = python(fmt, kwargs)
    assert native(filter_template(keys=list(kwargs)), doc) == want
    assert reference(filter_template(keys=list(kwargs)), doc) == want


@pytest.mark.parametrize("template", [
    "{{ '%s' | format(1, a=2) }}",         # FilterArgumentError: both kinds of arguments
    "{{ foo | format }}", "{{ '%s|%r' | format(foo, foo) }}", "{{ '%x' | format(foo) }}", "{{ '%c' | format(foo) }}",
    "{{ '%d' | format(foo) }}", "{{ '%f' | format(foo) }}",  # UndefinedError from Undefined.__int__/__float__
    "{{ 5 | format }}", "{{ none | format }}", "{{ [1, '%s'] | format }}", "{{ '%s' | format }}",
    "{{ '%s' % foo }}", "{{ 'abc' % foo }}", "{{ '%(a)s' % foo }}", "{{ foo % 3 }}", "{{ 3 % foo }}",
    "{{ '%(a)s' % [1] }}", "{{ 'x' % [1] }}", "{{ 'x' % (1,) }}", "{{ '%s' % [1, 2] }}", "{{ '%s' % (1, 2) }}",
    "{{ 7 % 3 }} {{ 7.5 % 2 }} {{ -7 % 3 }} {{ 7 % -3.5 }}", "{{ 1.5 % 0 }}", "{{ [1] % 2 }}",
    "{% for r in [1, 2] %}{{ '%s;' % loop }}{% endfor %}", "{{ '%s' % ((1, 2),) }} {{ '%r' % ('x',) }}",
    "{{ '%s' | format(doc.items | groupby('qty')) }}", "{{ '%r' | format(doc) }}",
])
def test_format_edge_cases_like_jinja(template):
    doc = {"items": [{"qty": 1}, {"qty": 2.5}], "name": "é"}
    assert native(template, doc) == reference(template, doc)


def test_int_modulo_by_zero_fails():
    # the message is the expression engine's (Python 3.10's text; 3.11 says "integer modulo by zero")
    assert native("{{ 1 % 0 }}", {})[1].startswith("ZeroDivisionError: ")
    assert reference("{{ 1 % 0 }}", {})[1].startswith("ZeroDivisionError: ")


def test_format_error_is_a_template_error_at_build_time():
    hook = fwc.Webhook(request_url=URL, webhook_json='{\n"a": "{{ "%s %s" | format(doc.name) }}"\n}')
    with pytest.raises(fwc.TemplateError, match=r"^line 2: TypeError: not enough arguments for format string$"):
        hook.request({"name": "x"})
    hook = fwc.Webhook(request_url=URL, webhook_json='{"total": "{{ "%.2f" | format(doc.total) }}", "pct": "{{ "%d%%" % doc.p }}"}')
    assert hook.request({"total": 2.675, "p": 50}).body == b'{"total": "2.67", "pct": "50%"}'


def test_format_results_are_bounded():
    # Python would build a 10 MB string; the template's string bound stops it (README)
    with pytest.raises(fwc.TemplateError, match="MemoryError: string result too long"):
        _core._render("{{ '%10000000d' | format(1) }}", {})
    with pytest.raises(fwc.TemplateError, match="MemoryError: string result too long"):
        _core._render("{{ '%.5000000f' | format(1.0) }}", {})
    assert len(_core._render("{{ '%1000d' | format(1) }}", {})) == 1000
    assert math.isclose(float(_core._render("{{ '%.300f' | format(0.1) }}", {})), 0.1)
