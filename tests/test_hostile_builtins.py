"""Hostile inputs to the builtins (issue 11): NUL and lone surrogates in document data,
and single builtin calls asked to do a huge amount of work.

1. Data may hold NUL: every string filter and str method is compared with its oracle
   (Jinja2 as Frappe configures it, Python's eval) on strings with NUL at the start, in the
   middle and at the end, and on generated strings with NUL and lone surrogates.  The
   title filter used to loop forever on "\\x00acme" (strchr("({[<", '\\0') matches the
   terminator), wedging a Dispatcher worker and the interpreter's exit.
2. One builtin call does bounded work: the work of builtins (bytes scanned or built, items
   and comparisons) is charged to the 1,000,000-step budget and their algorithms are not
   quadratic.  Each pathological input runs in a child process that must finish within
   BOUND_S seconds (a hang fails the test instead of blocking the suite) with the correct
   result or a clear limit error.
"""
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import frappe_webhook_c as fwc
from frappe_webhook_c import _core
from support import jinja_reference as jr
from test_expr_differential import check as check_eval

HERE = os.path.dirname(os.path.abspath(__file__))
BOUND_S = 20   # seconds before a child counts as hung
FAST_S = 5     # seconds one hostile call may take (README: "a few seconds"; typically well under 0.1 s)


def run_child(code, timeout=BOUND_S):
    """Runs code in a fresh interpreter; its stdout, or a failure naming the hang."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")]))
    try:
        p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not finish within {timeout} s (hang or quadratic work)")
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


# ---------------------------------------------------------------- 1. NUL in the data

NUL_TEXTS = ["\x00acme", "ac\x00me", "acme\x00", "\x00", " \x00", "\x00 \x00", "a-\x00(b", "\x00<b>x</b>\x00",
             "\ud800\x00a", "x\udfff", "A\x00B c\x00D", "\x00\n\x00 line\n"]

FILTERS = ["title", "capitalize", "lower", "upper", "trim", "trim('\\x00')", "replace('\\x00', '0')",
           "replace('c', '\\x00')", "center(12)", "indent(2, true)", "indent(2, blank=true)", "wordcount",
           "truncate(3, leeway=0)", "truncate(4, true, '\\x00', 0)", "striptags", "e", "urlencode", "reverse",
           "length", "list", "first", "last", "join('\\x00')", "unique|list", "sort|join", "min", "max",
           "format", "string", "int", "float", "float(1.5)", "tojson", "json", "attr('x')", "default('d')",
           "batch(2)|list", "slice(2)|list", "select|list", "map('upper')|list", "groupby(0)|list",
           "replace('', '-')", "count", "safe"]


@pytest.mark.parametrize("flt", FILTERS)
@pytest.mark.parametrize("text", NUL_TEXTS)
def test_string_filters_with_nul_render_like_jinja(flt, text):
    jr.assert_same("{{ doc.s | %s }}" % flt, {"s": text})


STR_METHODS = ["doc.s.lower()", "doc.s.upper()", "doc.s.title()", "doc.s.capitalize()", "doc.s.strip()",
               "doc.s.lstrip()", "doc.s.rstrip()", "doc.s.strip(doc.t)", "doc.s.lstrip(doc.t)",
               "doc.s.rstrip(doc.t)", "doc.s.startswith(doc.t)", "doc.s.endswith(doc.t)",
               "doc.s.startswith((doc.t, 'x'), 1)", "doc.s.endswith(doc.t, 0, -1)", "doc.s.replace(doc.t, '#')",
               "doc.s.replace(doc.t, '#', 1)", "doc.s.split()", "doc.s.split(doc.t)", "doc.s.split(doc.t, 1)",
               "doc.t.join(doc.s)", "doc.t.join([doc.s, doc.s])", "doc.s.find(doc.t)", "doc.s.find(doc.t, 1)",
               "doc.s.count(doc.t)", "doc.s.index(doc.t)", "doc.s.isdigit()", "doc.t in doc.s",
               "doc.s == doc.t", "doc.s < doc.t", "len(doc.s)", "doc.s[::-1]", "doc.s * 2", "doc.s + doc.t",
               "float(doc.s)", "int(doc.s)", "str(doc.s)", "sorted(doc.s)", "list(doc.s)", "set(doc.s) == set(doc.t)",
               "doc.s.split('\\x00')", "doc.s.count('\\x00')", "doc.s.find('\\x00')", "doc.s.strip('\\x00')",
               "max(doc.s)", "min(doc.s)", "dict(a=doc.s).get('a')", "[c for c in doc.s if c != '\\x00']"]
SUBS = ["\x00", "a", "\x00a", "", " ", "\ud800"]


@pytest.mark.parametrize("expr", STR_METHODS)
@pytest.mark.parametrize("text", NUL_TEXTS)
def test_str_methods_with_nul_equal_python(expr, text):
    for t in SUBS:
        check_eval(expr, {"s": text, "t": t})


def test_float_text_is_checked_to_its_end():
    # a long mantissa used to go to strtod unchecked: junk or NUL after it was ignored
    for tail in ["\x00", "x", "\x001", " 1"]:
        text = "1" * 600 + tail
        check_eval("float(doc.s)", {"s": text})
        jr.assert_same("{{ doc.s | float }}", {"s": text})
    check_eval("float(doc.s)", {"s": "1" * 600 + ".5e-600"})


ALPHABET = st.sampled_from(list("aZ \x00\t-(<>é_1") + ["\ud800", "\udfff", "ß"])
nul_texts = st.text(alphabet=ALPHABET, max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=nul_texts, sub=nul_texts, flt=st.sampled_from(FILTERS))
def test_generated_nul_and_surrogate_filters(text, sub, flt):
    jr.assert_same("{{ doc.s | %s }}" % flt, {"s": text, "t": sub})
    jr.assert_same("{{ doc.s.replace(doc.t, '+') }}|{{ doc.s.split(doc.t or none) }}|{{ doc.t in doc.s }}",
                   {"s": text, "t": sub})


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=nul_texts, sub=nul_texts, expr=st.sampled_from(STR_METHODS))
def test_generated_nul_and_surrogate_str_methods(text, sub, expr):
    check_eval(expr, {"s": text, "t": sub})


def test_title_of_a_nul_string_returns():
    # the probe's input: used to spin forever in the title filter
    code = """
        import json
        from frappe_webhook_c import _core
        import frappe_webhook_c as fwc
        print(repr(_core._render("{{ doc.s | title }}", {"s": "\\x00acme"})))
        hook = fwc.Webhook(request_url="http://127.0.0.1:9/x", webhook_json='{"n": {{ doc.customer_name | title | tojson }}}')
        print(json.loads(hook.request({"customer_name": " \\x00"}).body) == {"n": " \\x00"})
    """
    out = run_child(code)
    assert out.splitlines() == ["'\\x00acme'", "True"]


# ---------------------------------------------------------------- 2. bounded work per builtin

LIMIT = ("step limit", "too long", "too large", "memory limit")

# (kind, source, expected): kind "e" a condition, "t" a template; expected the result's repr,
# or None for "a clear limit error" (the names in LIMIT)
HOSTILE = [
    ("e", "'' * 10**9", "''"),
    ("e", "[] * 10**9", "[]"),
    ("e", "'ab' * 10**9", None),
    ("e", "[1] * 10**9", None),
    ("e", "len(range(10**9))", None),
    ("e", "sum(range(10**6))", None),
    ("e", "len(''.join(['ab'] * 100000) * 5)", "1000000"),
    ("e", "len('x'.join(doc.big))", None),
    ("e", "doc.s.find('a' * 500000 + 'b')", "-1"),
    ("e", "doc.s.count('a' * 500000 + 'b')", "0"),
    ("e", "doc.s.index('a' * 1000 + 'b') if False else doc.s.find('a' * 1000 + 'b')", "-1"),
    ("e", "len(doc.s.split('a' * 300000 + 'b'))", "1"),
    ("e", "len(doc.s.replace('a' * 300000 + 'b', ''))", "1000000"),
    ("e", "('a' * 500000 + 'b') in doc.s", "False"),
    ("e", "doc.s.count('a')", "1000000"),
    ("e", "len(doc.s.replace('a', 'bb'))", None),
    ("e", "len(doc.s.replace('', '-'))", None),
    ("e", "doc.s.strip('b' * 200000 + 'a')", "''"),
    ("e", "doc.s.startswith(tuple(['b' * 10] * 100000))", "False"),
    ("e", "doc.s.isdigit()", "False"),
    ("e", "len(doc.s.split())", "1"),
    ("e", "len(doc.d.keys())", "100000"),
    ("e", "any(doc.d.get(x) for x in range(10**6))", None),
    ("e", "len(utils.has_common(doc.l, doc.l))", "100000"),
    ("e", "len(utils.strip_html('<' * 900000))", "900000"),
    ("e", "len(utils.strip_html('<!--' * 200000))", "800000"),
    ("e", "len(sorted(doc.l))", "100000"),
    ("e", "sorted(doc.words) == sorted(doc.words)", None),
    ("t", "{{ doc.l | unique | length }}", "'100000'"),
    ("t", "{{ doc.l | map('string') | unique | length }}", None),
    ("t", "{{ doc.lt | striptags | length }}", "'900000'"),
    ("t", "{{ doc.cm | striptags | length }}", "'800000'"),
    ("t", "{{ doc.s | title | length }}", "'1000000'"),
    ("t", "{{ doc.spaces | title | length }}", "'1000000'"),
    ("t", "{{ doc.s | wordcount }}", "'1'"),
    ("t", "{{ 'x' | center(10**9) }}", None),
    ("t", "{{ doc.lines | indent(1000, blank=true) | length }}", None),
    ("t", "{{ '%*d' | format(10**9, 1) }}", None),
    ("t", "{{ '%.*f' | format(2147483647, 1.0) }}", None),
    ("t", "{{ (('%(k5)s' * 200000) % doc.d) | length }}", None),
    ("t", "{{ (('%s' * 100000) % tuple(doc.l)) | length }}", "'488890'"),
    ("t", "{{ (('%1000000s' * 100000) % tuple(doc.l)) | length }}", None),
    ("t", "{{ doc.s | replace('a', 'bb') | length }}", None),
    ("t", "{{ doc.s | truncate(999990) | length }}", "'999990'"),
    ("t", "{{ doc.l | join(',') | length }}", "'588889'"),
    ("t", "{{ doc.l | sort | length }}", None),
    ("t", "{{ doc.l | max }}", None),
    ("t", "{{ doc.l | batch(4294967296) | length }}", "'1'"),
    ("t", "{{ doc.l | batch(1) | length }}", "'100000'"),
    ("t", "{{ doc.d | dictsort | length }}", None),
    ("t", "{{ doc.words | groupby(0) | length }}", None),
    ("t", "{{ doc.l | select('odd') | map('string') | join | length }}", "'244445'"),
    ("t", "{{ doc.d | urlencode | length }}", None),
    ("t", "{{ doc.s | e | length }}", "'1000000'"),
    ("t", "{{ doc.s.count('a' * 500000 + 'b') }}", "'0'"),
]

CHILD = """
import sys, time, json
from frappe_webhook_c import _core
import frappe_webhook_c as fwc
kind, src = json.loads(sys.argv[1])
doc = {"s": "a" * 1000000, "big": "ab" * 400000, "l": list(range(100000)),
       "d": {f"k{i}": i for i in range(100000)}, "lt": "<" * 900000, "cm": "<!--" * 200000,
       "spaces": " " * 1000000, "lines": "\\n" * 1000000, "words": [str(i) * 3 for i in range(100000)],
       "tl": tuple(range(100000))}
t = time.monotonic()
try:
    r = _core._eval(src, doc) if kind == "e" else _core._render(src, doc)
    out = ("ok", repr(r) if kind == "t" else repr(r)[:200])
except (fwc.ConditionError, fwc.TemplateError) as e:
    out = ("err", str(e))
print(json.dumps([out[0], out[1], time.monotonic() - t]))
"""


@pytest.mark.parametrize("kind,src,expected", HOSTILE, ids=[h[1][:50] for h in HOSTILE])
def test_one_builtin_call_does_bounded_work(kind, src, expected):
    import json
    env = dict(os.environ)
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, json.dumps([kind, src])], capture_output=True, text=True,
                           timeout=BOUND_S, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{src!r} did not finish within {BOUND_S} s")
    assert p.returncode == 0, p.stderr[-3000:]
    status, value, elapsed = json.loads(p.stdout)
    if expected is None:
        if status == "err":
            assert any(k in value for k in LIMIT), value
    else:
        assert (status, value) == ("ok", expected), (src, status, value)
    assert elapsed < FAST_S, f"{src!r} took {elapsed:.1f} s"


def test_step_limit_error_names_the_limit():
    with pytest.raises(fwc.ConditionError, match=r"RuntimeError: evaluation exceeded its step limit \(1000000 steps\)"):
        _core._eval("any(doc.d.get(x) for x in range(10**6))", {"d": {f"k{i}": i for i in range(100000)}})
    with pytest.raises(fwc.TemplateError, match="step limit"):
        _core._render("{% for i in range(100) %}{{ doc.s | wordcount }}{% endfor %}", {"s": "a " * 500000})
