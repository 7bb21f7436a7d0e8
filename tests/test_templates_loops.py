"""Grouping rows and carrying state through loops -- the groupby filter and its
(grouper, list) tuples, loop.changed(), namespace() with {% set ns.attr = ... %} --
against Jinja2 as Frappe configures it (tests/support/jinja_reference.py): same text, or both
fail.  Documents are generated; so are the grouping attributes and the loop bodies.
"""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frappe_webhook_c as fwc
from support import jinja_reference as jr

URL = "https://example.com/hook"
native, reference, assert_same = jr.native, jr.reference, jr.assert_same


def assert_same_error(template, doc=None):
    """Both fail, with the same exception (the native one as "line L: <Type>: <message>")."""
    a, b = native(template, doc or {}), reference(template, doc or {})
    assert a[0] == b[0] == "err", (a, b)
    assert a[1].split(": ", 1)[1] == b[1], (a, b)


# ---------------------------------------------------------------- generated rows

KEYS = st.sampled_from(["Open", "open", "OPEN", "Closed", "closed", "é", "É", "", "b", "A"])
NUMS = st.sampled_from([0, 1, 2, 1.0, 2.5, True, False, -1, 10**20])
ROW = st.fixed_dictionaries(
    {"status": KEYS, "qty": NUMS, "idx": st.integers(0, 3), "party": st.fixed_dictionaries({"group": KEYS})},
    optional={"region": KEYS, "tags": st.lists(KEYS, min_size=1, max_size=2)},
)
ROWS = st.lists(ROW, max_size=7)

ATTRIBUTES = ["'status'", "'qty'", "'idx'", "'party.group'", "'region'", "'tags.0'", "'tags.1'", "'missing'"]
OPTIONS = ["", ", case_sensitive=true", ", default='?'", ", default='?', case_sensitive=true", ", 'dflt'", ", none, true"]
SHOW = [
    "{{ doc.rows | groupby(ATTR) }}",
    "{% for key, rows in doc.rows | groupby(ATTR) %}{{ key }}: {{ rows | map(attribute='idx') | list }}; {% endfor %}",
    "{% for g in doc.rows | groupby(ATTR) %}{{ g.grouper }}={{ g.list | length }} {{ g[0] }} {{ g['list'] | first }}|{% endfor %}",
    "{{ doc.rows | groupby(ATTR) | map(attribute='grouper') | join(',') }} {{ doc.rows | groupby(ATTR) | length }}",
    "{{ doc.rows | groupby(ATTR) | tojson }}",
    '{"groups": [{% for g in doc.rows | groupby(ATTR) %}{"key": {{ g.grouper | tojson }}, "n": {{ g.list | length }}}{{ "," if not loop.last }}{% endfor %}]}',
]


@settings(max_examples=400)
@given(ROWS, st.sampled_from(ATTRIBUTES), st.sampled_from(OPTIONS), st.sampled_from(SHOW))
def test_groupby_like_jinja(rows, attribute, options, show):
    assert_same(show.replace("ATTR", attribute + options), {"rows": rows})


@pytest.mark.parametrize("template", [
    "{{ [[1, 'x'], [2, 'y'], [1, 'z']] | groupby(0) }} {{ [[1, 'x'], [2, 'y'], [1, 'z']] | groupby('0') }}",
    "{{ [[1, 'x'], [1.0, 'y'], [true, 'z']] | groupby(0) }}",          # equal keys: the first one is the grouper
    "{{ ['b', 'A', 'a', 'B'] | groupby(0) }} {{ ['b', 'A', 'a', 'B'] | groupby(0, case_sensitive=true) }}",
    "{{ 'abca' | groupby(0) }} {{ {'b': 1, 'a': 2} | groupby(0) }} {{ [] | groupby('x') }} {{ foo | groupby('x') }}",
    "{{ [{'x': {'y': [5, 6]}}, {'x': {'y': [5, 7]}}] | groupby('x.y.0') }}",
    "{% set g = (doc.rows | groupby('s'))[0] %}{{ g }} {{ g | length }} {{ g is sequence }} {{ g.count('a') }} {{ g.index('a') }}",
    "{% set g = (doc.rows | groupby('s'))[0] %}{{ g == ('a', [doc.rows[0], doc.rows[2]]) }} {{ g.nope }} {{ g.grouper.upper() }}",
    "{{ doc.rows | groupby('s') | first | last | map(attribute='n') | list }} {{ '%s/%r' | format(doc.rows | groupby('s') | first, 1) }}",
    "{{ doc.rows | groupby(attribute='s') }} {{ doc.rows | groupby('s', default=1, case_sensitive=1) }}",
    "{{ doc.rows | groupby() }}", "{{ doc.rows | groupby('s', 1, 2, 3) }}", "{{ doc.rows | groupby('s', nope=1) }}",
    "{{ doc.rows | groupby('s', attribute='n') }}", "{{ [1, 2] | groupby('a') }}", "{{ 5 | groupby('a') }}",
    "{{ doc.rows | groupby('n') }}",                                   # None and int keys do not sort
])
def test_groupby_cases_like_jinja(template):
    doc = {"rows": [{"s": "a", "n": 1}, {"s": "B", "n": 2}, {"s": "A", "n": None}, {"s": "b", "n": 3}]}
    assert native(template, doc)[0] == reference(template, doc)[0]
    assert_same(template, doc)


def test_groupby_in_a_webhook_body():
    template = """{"by_status": { {%- for status, rows in doc["items"] | groupby("status") %}
  {{ status | tojson }}: {"count": {{ rows | length }}, "qty": {{ rows | sum(attribute="qty") }}}{{ "," if not loop.last }}
{%- endfor %}}}"""
    doc = {"items": [{"status": "Open", "qty": 2}, {"status": "closed", "qty": 1}, {"status": "open", "qty": 3}]}
    hook = fwc.Webhook(request_url=URL, webhook_json=template)
    assert hook.request(doc).body == b'{"by_status": {"closed": {"count": 1, "qty": 1}, "Open": {"count": 2, "qty": 5}}}'
    assert hook.request(doc).body.decode() == json.dumps(jr.get_webhook_data(template, doc))


# ---------------------------------------------------------------- loop.changed

VALUES = st.one_of(KEYS, NUMS, st.none(), st.lists(st.integers(0, 1), max_size=2))


@settings(max_examples=300)
@given(st.lists(VALUES, max_size=8), st.lists(st.integers(0, 2), max_size=3))
def test_loop_changed_like_jinja(values, inner):
    doc = {"v": values, "w": inner}
    for template in [
        "{% for x in doc.v %}{{ loop.changed(x) }},{% endfor %}",
        "{% for x in doc.v %}{% if loop.changed(x, loop.index0 // 3) %}[{{ x }}]{% endif %}{{ loop.changed() }}{% endfor %}",
        "{% for x in doc.v %}{% for y in doc.w %}{{ loop.changed(y) }}{% endfor %}{{ loop.changed(x) }};{% endfor %}",
        "{% for x in doc.v %}{% set outer = loop %}{% for y in doc.w %}{{ outer.changed(y) }}{% endfor %};{% endfor %}",
        "{% for x in doc.v if x %}{{ loop.changed(x | string | lower) }}{% else %}none{% endfor %}",
    ]:
        assert_same(template, doc)


@pytest.mark.parametrize("template", [
    "{% for r in [1, 1, none, none, foo, bar, [foo], [bar]] %}{{ loop.changed(r) }}{% endfor %}",   # Undefined == Undefined
    "{% for r in [[1], [1], [1, 2], (1, 2)] %}{{ loop.changed(r) }}{% endfor %}",
    "{% for r in [1, 1.0, true, 2] %}{{ loop.changed(r, 'x') }}{% endfor %}",
    "{% for r in [1, 2] %}{{ loop.changed(r) }}{{ loop.changed(r) }}{{ loop.changed(r, r) }}{% endfor %}",
    "{% set ns = namespace() %}{% for r in [ns, ns, namespace()] %}{{ loop.changed(r) }}{% endfor %}",
    "{% for r in [1] %}{{ loop.changed(x=1) }}{% endfor %}", "{{ doc.changed(1) }}", "{{ foo.changed(1) }}",
])
def test_loop_changed_cases_like_jinja(template):
    assert_same(template, {"changed": None})
    assert native(template, {"changed": None})[0] == reference(template, {"changed": None})[0]


# ---------------------------------------------------------------- namespace

@settings(max_examples=300)
@given(ROWS, st.sampled_from(["status", "qty", "idx", "party", "region"]))
def test_namespace_carries_state_out_of_loops_like_jinja(rows, field):
    doc = {"rows": rows}
    for template in [
        "{% set ns = namespace(total=0, seen=[], last=none) %}{% for r in doc.rows %}{% set ns.total = ns.total + r.idx %}"
        "{% set ns.seen = ns.seen + [r.FIELD] %}{% set ns.last = r.FIELD %}{% endfor %}{{ ns.total }} {{ ns.seen }} {{ ns.last }} {{ ns }}",
        "{% set ns = namespace(found=false) %}{% for r in doc.rows %}{% if r.qty %}{% set ns.found, ns.at = true, loop.index %}"
        "{% endif %}{% endfor %}{{ ns.found }} {{ ns.at }}",
        "{% set ns = namespace(doc.rows | first | default({})) %}{{ ns }} {{ ns.FIELD }} {{ ns['idx'] }} {{ ns.nope }}",
        "{% set ns = namespace(text='') %}{% for r in doc.rows %}{% set ns.text %}{{ ns.text }}{{ r.FIELD }}|{% endset %}{% endfor %}{{ ns.text }}",
        "{% set ns = namespace(a=1) %}{% set alias = ns %}{% for r in doc.rows %}{% set alias.a = alias.a * 2 %}{% endfor %}"
        "{{ ns.a }} {{ ns == alias }} {{ [ns] }} {{ ns is defined }} {{ ns | string }}",
    ]:
        assert_same(template.replace("FIELD", field), doc)


@pytest.mark.parametrize("template", [
    "{% set ns = namespace({'a': 1}, b=2) %}{{ ns }}|{{ ns.a }}|{{ ns['b'] }}|{{ ns.c }}|{{ ns['c'] }}|{{ ns[1] }}",
    "{% set ns = namespace([('a', 1), 'bc']) %}{{ ns }} {% set ns2 = namespace({'a': 1}, a=2) %}{{ ns2 }}",
    "{% set ns = namespace({1: 2, 'a': [foo]}) %}{{ ns }} {{ {'k': ns} }} {{ ns ~ '!' }}",
    "{% set ns = namespace(a=1) %}{% set ns.self = ns %}{{ ns }} {% set ns.l = [ns] %}{{ ns }}",   # recursive repr
    "{% set ns = namespace(a=1) %}{% set ns.b = namespace(c=ns) %}{{ ns }}",
    "{% set ns = namespace(a=1) %}{{ ns == ns }} {{ ns != ns }} {{ ns == namespace(a=1) }} {{ ns in [ns] }} {{ ns in [1] }} {{ ns is sameas ns }}",
    "{% set ns = namespace(a=1) %}{{ ns | default(5) }} {{ ns is mapping }} {{ ns is iterable }} {{ not ns }} {{ ns.a.b }}",
    "{% set ns = namespace() %}{% set ns.a, b = 1, 2 %}{{ ns.a }}{{ b }}{% with %}{% set ns.w = 3 %}{% endwith %}{{ ns.w }}",
    "{% set ns = namespace(a=1) %}{% set ns.a = ns.a + 1 %}{% set ns.b = 1 %}{% set ns.a = 5 %}{{ ns }}",
    "{% set ns = namespace(items=1, get=2) %}{{ ns.items }} {{ ns.get }}",
    # failures
    "{% set ns = namespace(1) %}", "{% set ns = namespace('abc') %}", "{% set ns = namespace({}, {}) %}", "{% set ns = namespace(x) %}",
    "{% set ns = namespace([[1, 2, 3]]) %}", "{% set ns = namespace([1]) %}", "{% set ns = namespace([[[1], 2]]) %}",
    "{% set x = 1 %}{% set x.a = 1 / 0 %}", "{% set foo.a = 1 %}", "{% set ns = namespace() %}{% set ns.a, x.b = 1, 2 %}",
    "{% set ns = namespace(a=1) %}{{ ns | tojson }}", "{% set ns = namespace(a=1) %}{{ ns | length }}",
    "{% set ns = namespace(a=1) %}{% for x in ns %}{% endfor %}", "{% set ns = namespace(a=1) %}{{ 1 in ns }}",
    "{% set ns = namespace(a=1) %}{{ ns < ns }}",
])
def test_namespace_cases_like_jinja(template):
    assert_same(template, {})
    assert native(template, {})[0] == reference(template, {})[0]


@pytest.mark.parametrize("template", [
    "{% set x = 1 %}{% set x.a = 1 / 0 %}",          # checked before the value is evaluated, as Jinja does
    "{% set ns = namespace(1) %}", "{% set ns = namespace('abc') %}", "{% set ns = namespace({}, {}) %}",
    "{% set ns = namespace([1]) %}", "{% set ns = namespace([[1, 2, 3]]) %}", "{% set ns = namespace(x) %}",
    "{% set ns = namespace(a=1) %}{{ ns | tojson }}", "{% set ns = namespace(a=1) %}{% for x in ns %}{% endfor %}",
    "{% set ns = namespace(a=1) %}{{ 1 in ns }}", "{% set ns = namespace(a=1) %}{{ ns < ns }}",
    "{% for r in [1] %}{{ loop | tojson }}{% endfor %}",
])
def test_namespace_errors_name_jinja_exceptions(template):
    assert_same_error(template)


def test_namespace_syntax():
    for template, message in [
        ("{% set ns._x = 1 %}", "attributes starting with '_' are not allowed: '_x'"),
        ("{% set ns. = 1 %}", "expected token 'name', got '='"),
        ("{% for ns.a in [1] %}{% endfor %}", "expected token 'in', got '.'"),
    ]:
        with pytest.raises(fwc.ValidationError) as e:
            fwc.Webhook(request_url=URL, webhook_json=template)
        assert str(e.value) == f"Syntax error in template: line 1: {message}"
        assert reference(template, {})[0] == "err"


def test_loop_repr_shows_position():
    template = "{% for r in 'abc' %}{{ loop }}{{ [loop] }}{% endfor %}"
    assert native(template, {}) == reference(template, {}) == ("ok", "<LoopContext 1/3>[<LoopContext 1/3>]"
                                                                      "<LoopContext 2/3>[<LoopContext 2/3>]"
                                                                      "<LoopContext 3/3>[<LoopContext 3/3>]")
