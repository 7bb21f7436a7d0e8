"""The JSON writer against Python's json: byte-identical output for every value."""
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frappe_webhook_c import _core

DUMPS = dict(default=str)
AS_JSON = dict(indent=1, sort_keys=True, separators=(",", ": "), default=str)

# every code point, lone surrogates included
any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=30)
scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=True, allow_infinity=True) | any_text
)
keys = any_text | st.integers() | st.floats() | st.booleans() | st.none()
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.tuples(children, children)
    | st.dictionaries(keys, children, max_size=6),
    max_leaves=40,
)


def same_as_python(value, style, **kw):
    try:
        expected = json.dumps(value, **kw)
    except TypeError as e:
        with pytest.raises(TypeError):
            _core._dumps(value, style)
        return str(e)
    assert _core._dumps(value, style) == expected


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_dumps_matches_json(value):
    same_as_python(value, "dumps", **DUMPS)


def no_nan_keys(v):
    if isinstance(v, dict):
        return all(not (isinstance(k, float) and math.isnan(k)) and no_nan_keys(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return all(no_nan_keys(x) for x in v)
    return True


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(json_values.filter(no_nan_keys))
def test_as_json_matches_json(value):
    # NaN keys are excluded: their sort order depends on timsort's exact comparisons
    same_as_python(value, "as_json", **AS_JSON)


@settings(max_examples=2000)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats(f):
    assert _core._dumps([f, {f: f}]) == json.dumps([f, {f: f}])


@pytest.mark.parametrize("f", [
    0.0, -0.0, 1.0, 1e16, 1e-05, 5e-324, 1e+16, 1e15, 123456789012345678.0, 0.1, 0.2 + 0.1, 1 / 3,
    2.2250738585072014e-308, 1.7976931348623157e+308, 9007199254740993.0, 1e22, 1e-7, 0.0001,
    float("nan"), float("inf"), float("-inf"), 4.35, 100.0, 1234.5678,
])
def test_float_edge_cases(f):
    assert _core._dumps(f) == json.dumps(f)
    assert _core._dumps({f: f}, "as_json") == json.dumps({f: f}, **AS_JSON)


@pytest.mark.parametrize("s", [
    "".join(map(chr, range(0x20))), "\x7f", "\x80\xff", "\u2028\u2029", "\ud800", "\udfff", "a\ud83dz",
    "\ud83d\ude00", "😀", "\U0010ffff", "\"\\/", "naïve café", "\x00",
])
def test_string_edge_cases(s):
    assert _core._dumps(s) == json.dumps(s)
    assert _core._dumps({s: [s]}, "as_json") == json.dumps({s: [s]}, **AS_JSON)


@pytest.mark.parametrize("value", [
    2**63, -(2**63) - 1, 2**63 - 1, -(2**63), 10**400, -(10**400), True, False, None, [], {}, [[]], {"a": {}},
    {1: "int", 2.5: "float", True: "bool", None: "none"}, {2**70: 1},
])
def test_int_and_key_edge_cases(value):
    assert _core._dumps(value) == json.dumps(value)


@pytest.mark.parametrize("value", [
    {1: 1, "a": 2}, {None: 1, "a": 2}, {None: 1, 1: 2}, {1.5: 1, "x": 2}, {"b": 1, "a": 2, 3: 3},
])
def test_sort_keys_mixed_types_raise_as_python(value):
    with pytest.raises(TypeError) as python:
        json.dumps(value, **AS_JSON)
    with pytest.raises(TypeError) as native:
        _core._dumps(value, "as_json")
    assert "'<' not supported between instances of" in str(native.value)
    assert {w for w in str(python.value).split("'") if w.isidentifier()} >= set()  # both a TypeError


@pytest.mark.parametrize("value", [
    {2**64: "a", 1: "b", -5.5: "c", True: "d", 3: "e"}, {1: 1, 1.5: 2, 2**70: 3, -(2**70): 4, 0.0001: 5},
    {"b": 1, "a": 2, "é": 3, "\ud800": 4, "😀": 5, "": 6},
])
def test_sort_keys_orders_as_python(value):
    assert _core._dumps(value, "as_json") == json.dumps(value, **AS_JSON)


def test_large_dict_sorted():
    value = {f"k{i:05d}"[::-1]: i for i in range(1000)}
    assert _core._dumps(value, "as_json") == json.dumps(value, **AS_JSON)
    assert _core._dumps(value) == json.dumps(value)


def test_subclasses_serialise_like_json():
    import enum

    class Color(enum.IntEnum):
        RED = 1

    class F(float):
        def __repr__(self):
            return "nope"

    class S(str):
        pass

    value = {"c": Color.RED, "f": F(1.5), "s": S("x"), Color.RED: 2}
    assert _core._dumps(value) == json.dumps(value, default=str)


# float_repr.c's short-decimal path (m / 10^k, k <= 4, m < 2^50) against repr, with the
# values around its edges: 5+ decimals, m near 2^50, the doubles next to each decimal.
_decimals = st.builds(lambda m, k: m / 10**k, st.integers(1, 2**53), st.integers(1, 6))


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.one_of(_decimals, _decimals.map(lambda x: math.nextafter(x, math.inf)),
                          _decimals.map(lambda x: -math.nextafter(x, 0)),
                          st.integers(1, 4).map(lambda k: 2**50 / 10**k)), min_size=1, max_size=20))
def test_short_decimals_match_repr(values):
    assert _core._dumps(values) == json.dumps(values)
