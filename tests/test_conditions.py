"""Conditions: hand-written cases for every operator, method, util and error message,
the sandbox bounds, and Frappe's event matching (Webhook.meets_condition / matches,
run_webhooks).  The generated differential tests are in test_expr_differential.py."""
import datetime
import math
import re
import time
import types

import pytest

import frappe_webhook_c as fwc
from frappe_webhook_c import _core
from support.frappe_reference import bankers_rounding as frappe_bankers
from support.frappe_reference import cint as frappe_cint
from support.frappe_reference import commercial_rounding as frappe_commercial
from support.frappe_reference import flt as frappe_flt
from support.frappe_reference import rounded_legacy as frappe_rounded_legacy
from support.quotation import quotation

DOC = {
    "doctype": "Quotation", "name": "Q-1", "status": "Open", "grand_total": 1500.5, "qty": 7, "flag": True,
    "none": None, "items": [{"qty": 50, "rate": 10.0, "code": "A"}, {"qty": 3, "rate": 2.5, "code": "B"}],
    "tags": ["x", "y"], "nested": {"a": 1, "get": "field"}, "title": "ACME Café", "big": 2**70,
}


def ev(expr, doc=DOC):
    return _core._eval(expr, doc)


def raises(expr, message, doc=DOC):
    with pytest.raises(fwc.ConditionError) as info:
        ev(expr, doc)
    assert message in str(info.value), str(info.value)


def invalid(expr, message):
    with pytest.raises(fwc.ValidationError) as info:
        ev(expr)
    text = str(info.value)
    assert text.startswith("Invalid Condition: "), text
    assert message in text, text
    return text


# ---------------------------------------------------------------- literals


@pytest.mark.parametrize("expr", [
    "0", "-9223372036854775808", "9223372036854775807", "0x1F", "0o17", "0b1011", "1_000_000", "0_0",
    "1.5", ".5", "5.", "1e3", "1E-3", "1_0.2_5", "1e308", "1e-320", "'a' 'b'", '"x\\ty"', "'\\x41\\u00e9\\U0001F600'",
    "'\\101'", "r'\\d+'", "'''tri\nple'''", "u'x'", "True", "False", "None", "[1, 2]", "(1,)", "()", "(1, 2)",
    "{'a': 1, 'b': [2]}", "{1, 2, 1}", "{}", "'\\N'[0:0]" if False else "'ok'", "'unknown \\q escape'",
])
def test_literals_equal_python(expr):
    assert ev(expr) == eval(expr)
    assert type(ev(expr)) is type(eval(expr))


def test_float_str_is_python_repr():
    for f in [0.1, 1e16, 1e-7, 123456789.125, 2.5, -0.0, float("inf"), float("nan"), 1 / 3]:
        assert ev(f"str(doc.f)", {"f": f}) == str(f)


# ---------------------------------------------------------------- operators

ARITH = [
    "7 + 2", "7 - 2", "7 * 2", "7 / 2", "7 // 2", "7 % 2", "7 ** 2", "-7 // 2", "-7 % 2", "7 // -2", "7 % -2",
    "7.5 // 2", "-7.5 // 2", "7.5 % -2", "-7.5 % 2", "2 ** -1", "2.0 ** 0.5", "(-8) ** 3", "(-8.0) ** 3", "0 ** 0",
    "True + True", "True * 3", "1 / 3", "2 ** 62 + (2 ** 62 - 1)", "9007199254740993 / 1", "-(-5)", "+3", "~5", "~True",
    "5 & 3", "5 | 3", "5 ^ 3", "True & False", "True | False", "1 << 10", "-1 >> 3", "1024 >> 100",
    "'ab' + 'cd'", "'ab' * 3", "3 * 'ab'", "'ab' * -1", "[1] * 3", "(1, 2) * 2", "[1] + [2]", "(1,) + (2,)",
    "1 + 2.5", "0.1 + 0.2", "1e308 * 10", "-1e308 * 10", "10 % 3.5", "-0.0 % 5", "5 % -0.0 if False else 0",
    "{1, 2} | {3}", "{1, 2} & {2}", "{1, 2} - {2}", "{1, 2} ^ {2, 3}",
]


@pytest.mark.parametrize("expr", ARITH)
def test_arithmetic_equals_python(expr):
    got, want = ev(expr), eval(expr)
    assert type(got) is type(want), (got, want)
    assert got == want or (isinstance(want, float) and math.isnan(want) and math.isnan(got))
    if isinstance(want, float):
        assert math.copysign(1, got) == math.copysign(1, want)


COMPARE = [
    "1 < 2", "1 < 2 < 3", "1 < 3 < 2", "3 > 2 >= 2 == 2.0", "1 == 1.0 == True", "'a' < 'b'", "'Z' < 'a'", "'é' > 'z'",
    "[1, 2] < [1, 3]", "[1, 2] < [1, 2, 0]", "(1, 'a') == (1, 'a')", "[1] == (1,)", "{'a': 1} == {'a': 1.0}",
    "{1, 2} <= {1, 2, 3}", "{1, 2} < {1, 2}", "None == None", "None != 0", "1 in [1, 2]", "'b' in 'abc'", "'' in 'abc'",
    "3 not in (1, 2)", "'a' in {'a': 1}", "2 in range(0, 10, 2)", "3 in range(0, 10, 2)", "2.0 in range(3)",
    "None is None", "None is not None", "True is True", "1 is True",
    "float('nan') == float('nan')", "float('nan') < 1", "2 ** 63 - 1 == 9223372036854775807",
    "9007199254740993 == 9007199254740992.0", "9007199254740993 > 9007199254740992.0",
]


@pytest.mark.parametrize("expr", COMPARE)
def test_comparisons_equal_python(expr):
    want = eval(expr.replace("2 ** 63 - 1", "9223372036854775807"))
    assert ev(expr.replace("2 ** 63 - 1", "9223372036854775807")) is want


@pytest.mark.parametrize("expr", [
    "0 or 'x'", "'' or []", "1 and 'y'", "[] and 1", "None or 0 or 'z'", "1 and 2 and 3", "not []", "not 'a'",
    "'yes' if [] else 'no'", "'yes' if [0] else 'no'", "1 if 0 else 2 if 1 else 3",
])
def test_boolean_operators_return_operands(expr):
    assert ev(expr) == eval(expr) and type(ev(expr)) is type(eval(expr))


def test_boolean_operators_short_circuit():
    assert ev("doc.none and doc.none.x") is None
    assert ev("doc.qty or 1 / 0") == 7
    assert ev("any(1 / n > 0 for n in [1, 0])") is True     # stops before 1 / 0, as Python
    assert ev("all(1 / n < 0 for n in [1, 0])") is False


# ---------------------------------------------------------------- names, attributes, subscripts


def test_doc_is_a_frappe_dict():
    assert ev("doc.status") == "Open"
    assert ev("doc.missing") is None
    assert ev("doc.nested.a") == 1
    assert ev("doc.nested.missing") is None
    assert ev("doc['items'][0].code") == "A"
    assert ev("doc['items'][-1]['qty']") == 3


def test_existing_key_wins_over_dict_method():
    # Frappe's doc.items would be the bound dict method; here it is the field.
    assert ev("len(doc.items)") == 2
    assert ev("doc.nested.get") == "field"
    raises("doc.nested.get('a')", "TypeError: 'str' object is not callable")
    assert ev("doc.get('status')") == "Open"          # no key "get" on doc: the method
    assert ev("doc.get('missing', 5)") == 5
    assert ev("sorted(doc.nested.keys())") == ["a", "get"]
    assert ev("doc.nested.values()") == [1, "field"]
    assert ev("doc.nested.items()") == [("a", 1), ("get", "field")]


@pytest.mark.parametrize("expr", [
    "'hello'[1]", "'hello'[-1]", "'héllo'[1]", "'héllo'[1:4]", "'hello'[::-2]", "'hello'[10:]", "'hello'[-100:2]",
    "[1, 2, 3][::-1]", "[1, 2, 3][1:]", "(1, 2, 3)[:-1]", "list(range(10)[2:8:3])", "range(10)[-1]",
    "[1, 2, 3][5:1:-1]", "'abc'[True]", "{'a': 1}['a']", "{(1, 2): 'x'}[(1, 2)]", "{1: 'a'}[1.0]", "{True: 'a'}[1]",
])
def test_subscripts_equal_python(expr):
    assert ev(expr) == eval(expr)


# ---------------------------------------------------------------- builtins


@pytest.mark.parametrize("expr", [
    "len('héllo')", "len([1, 2])", "len({'a': 1})", "len(range(5))", "len({1, 1})",
    "int('  -12 ')", "int('1_000')", "int(3.9)", "int(-3.9)", "int(True)", "int()",
    "float('1e3')", "float(' inf ')", "float('-nan') != float('-nan')", "float(2)", "float()",
    "str(1)", "str(1.0)", "str(None)", "str([1, 'a', None, 2.5])", "str({'a': (1,)})", "str(\"it's\")", "str('a\"b')",
    "str(True)", "str()", "str({1})", "str(())", "str((1,))",
    "bool(0)", "bool('x')", "bool([])", "bool()", "abs(-3)", "abs(-2.5)", "abs(True)",
    "min(3, 1, 2)", "max([1, 5, 2])", "min('abc')", "max([], default=7)", "max(1, 2.0)", "max(2.0, 2)",
    "round(2.5)", "round(3.5)", "round(-2.5)", "round(2.675, 2)", "round(1234.5678, -2)", "round(15, -1)",
    "round(25, -1)", "round(1.5, None)", "round(0.5)", "round(7)", "round(1e300, -400)",
    "sum([1, 2, 3])", "sum([0.1] * 10)", "sum([1, 2], 10)", "sum([[1], [2]], [])", "sum(x for x in [1.5, 2])",
    "any([])", "all([])", "any([0, 1])", "all([1, 0])",
    "sorted([3, 1, 2])", "sorted('bca')", "sorted([3, 1, 2], reverse=True)", "sorted([(1, 'b'), (1, 'a')])",
    "list('ab')", "list({'a': 1})", "tuple([1, 2])", "tuple()", "dict([('a', 1)])", "dict(a=1, b=2)", "dict({'a': 1}, b=2)",
    "list(range(3))", "list(range(1, 10, 3))", "list(range(10, 0, -4))", "set([1, 2, 1])",
])
def test_builtins_equal_python(expr):
    got, want = ev(expr), eval(expr)
    assert got == want and type(got) is type(want), (got, want)


def test_sorted_is_stable_in_reverse():
    assert ev("sorted([(1, 'b'), (0, 'x'), (1, 'a')], reverse=True)") == sorted([(1, 'b'), (0, 'x'), (1, 'a')], reverse=True)
    assert ev("sorted([1, 1.0, True], reverse=True)") == [1, 1.0, True]


# ---------------------------------------------------------------- methods


@pytest.mark.parametrize("expr", [
    "'Hello World'.lower()", "'Hello World'.upper()", "'  x  '.strip()", "'  x  '.lstrip()", "'  x  '.rstrip()",
    "'xxhixx'.strip('x')", "'abc'.startswith('ab')", "'abc'.startswith(('x', 'a'))", "'abc'.startswith('b', 1)",
    "'abc'.endswith('bc')", "'abc'.endswith('a', 0, 1)", "'a-b-c'.replace('-', '+')", "'a-b-c'.replace('-', '', 1)",
    "'ab'.replace('', '.')", "'a,b,,c'.split(',')", "'a b  c '.split()", "'a,b,c'.split(',', 1)", "'a b c'.split(None, 1)",
    "' a b '.split(maxsplit=1)", "'-'.join(['a', 'b'])", "''.join('abc')", "'abcabc'.find('c')", "'abcabc'.find('c', 3)",
    "'abc'.find('z')", "'abcabc'.count('bc')", "'aaa'.count('')", "'aaa'.count('a', 1)", "'hello world'.title()",
    "\"they're bill's\".title()", "'hELLO'.capitalize()", "'123'.isdigit()", "'12a'.isdigit()", "''.isdigit()",
    "'²3'.isdigit()", "'١٢'.isdigit()", "'abcabc'.index('c')", "[1, 2, 1].count(1)", "[1, 2, 1].index(2)",
    "(1, 2).index(2)", "[1, 2, 1].index(1, 1)",
])
def test_methods_equal_python(expr):
    got, want = ev(expr), eval(expr)
    assert got == want and type(got) is type(want), (got, want)


@pytest.mark.parametrize("s", ["ÄÖÜäöüß", "straße", "Ǆ", "ΣΊΣΥΦΟΣ ΟΔΟΣ", "İstanbul", "ışık", "Ÿÿ", "Ĳĳ ŉ", "Привет МИР",
                               "Ѐѐ Ӂӂ Ә", "Ḁḁ Ẁẁ ẞ", "ａＢｃ", "µ", "Café crème", "éA b-c d'e 1st"])
def test_unicode_case_mapping(s):
    for m in ["lower", "upper", "title", "capitalize"]:
        if s == "Ǆ":
            continue  # Latin Extended-B digraphs are outside the mapped ranges (README)
        assert ev(f"{s!r}.{m}()") == getattr(s, m)(), (s, m)


# ---------------------------------------------------------------- comprehensions


@pytest.mark.parametrize("expr", [
    "[x * 2 for x in range(5) if x % 2]", "{x: x * x for x in range(3)}", "{c for c in 'abca'}",
    "[c for c in 'héllo']", "[k for k in {'a': 1, 'b': 2}]", "[(k, v) for k, v in {'a': 1}.items()]",
    "[a + b for (a, b) in [(1, 2), (3, 4)]]", "[x for x in [1, 2, 3] if x > 1 if x < 3]",
    "[[y for y in range(x)] for x in range(3)]", "sum(x for x in range(101))", "max(len(w) for w in 'a bb ccc'.split())",
    "[x for x in [x for x in range(3)]]",
])
def test_comprehensions_equal_python(expr):
    assert ev(expr) == eval(expr)


def test_comprehension_over_document_rows():
    assert ev("any(i.qty > 40 for i in doc['items'])") is True
    assert ev("[i.code for i in doc['items'] if i.rate > 5]") == ["A"]
    assert ev("sum(i.qty * i.rate for i in doc['items'])") == 507.5


# ---------------------------------------------------------------- utils (Frappe's formulas)


FLT_INPUTS = ["43.5", "42.5", "10,500.5666", "a", None, "", " 12 ", "1e3", "inf", "nan", True, 3, 2.675, -2.5, 0.125,
              1.005, "1_000.5", [], 1e300, -0.0, 0.5, 1.5, 2.5, -0.04, -0.4, "-0.001", -0.5, -1e-9]


@pytest.mark.parametrize("value", FLT_INPUTS)
@pytest.mark.parametrize("precision", [None, 0, 1, 2, 3])
def test_flt_matches_frappe(value, precision):
    doc = {"v": value}
    expr = "utils.flt(doc.v)" if precision is None else f"utils.flt(doc.v, {precision})"
    want = frappe_flt(value, precision)
    if isinstance(want, int) and not -2**63 <= want < 2**63:
        raises(expr, "integer result out of supported range", doc)   # documented: int64
        return
    got = ev(expr, doc)
    assert type(got) is type(want), (value, precision, got, want)
    assert got == want or (math.isnan(got) and math.isnan(want)), (value, precision, got, want)
    assert repr(got) == repr(want), (value, precision, got, want)   # -0.0 is not 0.0 here


@pytest.mark.parametrize("value", ["100", "a", "12.7", "-3.9", " 4 ", "1e3", None, 3.99, -3.99, True, "0x10", "1,000",
                                   float("inf"), float("nan"), ""])
def test_cint_matches_frappe(value):
    assert ev("utils.cint(doc.v)", {"v": value}) == frappe_cint(value)
    assert ev("utils.cint(doc.v, 7)", {"v": value}) == frappe_cint(value, 7)


@pytest.mark.parametrize("num", [2.5, 3.5, -2.5, 1.005, 2.675, 0.125, 1234.5678, 0.0, 7, 1e-9, 123456.785, -0.0, -0.04,
                                 -0.4, -0.5, -1e-9])
@pytest.mark.parametrize("precision", [0, 1, 2, 3])
def test_rounded_matches_frappe(num, precision):
    # repr: the sign of a zero counts (round() to an int drops it, Python's float round keeps it)
    assert repr(ev(f"utils.rounded({num!r}, {precision})")) == repr(frappe_rounded_legacy(num, precision))
    assert repr(ev(f"utils.rounded({num!r}, {precision}, \"Banker's Rounding\")")) == repr(frappe_bankers(num, precision))
    assert repr(ev(f"utils.rounded({num!r}, {precision}, 'Commercial Rounding')")) == repr(frappe_commercial(num, precision))


def test_other_utils():
    assert ev("utils.cstr(None)") == "" and ev("utils.cstr(1.5)") == "1.5" and ev("utils.cstr('x')") == "x"
    assert ev("utils.floor('3.7')") == 3 and ev("utils.floor(-3.2)") == -4 and ev("utils.floor('x')") == 0
    assert ev("utils.ceil('3.2')") == 4 and ev("utils.ceil(None)") == 0
    assert ev("utils.safe_div(10, 4)") == 2.5 and ev("utils.safe_div(10, 0)") == 0.0 and ev("utils.safe_div(1, 3, 3)") == 0.333
    assert ev("utils.safe_div(10, False)") == 0.0
    assert ev("utils.strip_html('<p>a <b>b</b></p><!-- c -->d')") == "a bd"
    assert ev("utils.strip_html('a < b')") == "a < b"
    assert ev("utils.escape_html('<a href=\"x\">&\\'</a>')") == "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
    assert ev("utils.escape_html(5)") == 5
    assert ev("utils.has_common(['a', 'b'], ['b', 'c'])") == {"b"}
    assert ev("bool(utils.has_common([1], [2]))") is False
    assert ev("utils.sbool('True')") is True and ev("utils.sbool('0')") is False and ev("utils.sbool('x')") == "x"
    assert ev("frappe.utils.flt('2')") == 2.0


def test_date_utils():
    assert ev("utils.getdate('2026-11-01 09:30:12')") == "2026-11-01"
    assert ev("utils.getdate('0000-00-00')") is None
    assert ev("utils.getdate(5)") is None
    assert ev("utils.add_days('2026-12-31', 1)") == "2027-01-01"
    assert ev("utils.add_days('2026-03-01', -1)") == "2026-02-28"
    assert ev("utils.add_days('2026-11-01 10:00:00', 1)") == "2026-11-02 10:00:00.000000"
    assert ev("utils.add_months('2026-01-31', 1)") == "2026-02-28"
    assert ev("utils.add_months('2024-01-31', 1)") == "2024-02-29"
    assert ev("utils.add_months('2026-11-15', -13)") == "2025-10-15"
    assert ev("utils.add_years('2024-02-29', 1)") == "2025-02-28"
    assert ev("utils.date_diff('2026-03-01', '2026-02-01')") == 28
    assert ev("utils.date_diff('2026-01-01', '2027-01-01')") == -365
    today = datetime.date.today().isoformat()
    for name in ["nowdate", "today"]:
        assert ev(f"utils.{name}()") in (today, (datetime.date.today() + datetime.timedelta(days=1)).isoformat())
    now = ev("utils.now()")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", now)
    assert abs(datetime.datetime.strptime(now, "%Y-%m-%d %H:%M:%S.%f") - datetime.datetime.now()) < datetime.timedelta(seconds=5)
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6}", ev("utils.nowtime()"))
    assert ev("utils.getdate()") == ev("utils.nowdate()")
    raises("utils.getdate('next tuesday')", "is not a valid date string")


# ---------------------------------------------------------------- runtime errors (Python's messages)

RUNTIME_ERRORS = {
    "1 / 0": "ZeroDivisionError: division by zero",
    "1.0 / 0": "ZeroDivisionError: float division by zero",
    "1 // 0": "ZeroDivisionError: integer division or modulo by zero",
    "1 % 0": "ZeroDivisionError: integer division or modulo by zero",
    "1.0 // 0": "ZeroDivisionError: float floor division by zero",
    "1.0 % 0": "ZeroDivisionError: float modulo",
    "0 ** -1": "ZeroDivisionError: 0.0 cannot be raised to a negative power",
    "2.0 ** 10000": "OverflowError: (34, 'Numerical result out of range')",
    "2 ** 63": "OverflowError: integer result out of supported range",
    "9223372036854775807 + 1": "integer result out of supported range",
    "-9223372036854775807 - 2": "integer result out of supported range",
    "3037000500 * 3037000500": "integer result out of supported range",
    "-(-9223372036854775807 - 1)": "integer result out of supported range",
    "doc.big + 1": "integer result out of supported range",
    "'a' + 1": 'TypeError: can only concatenate str (not "int") to str',
    "1 + 'a'": "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
    "[] + ()": 'TypeError: can only concatenate list (not "tuple") to list',
    "-'a'": "TypeError: bad operand type for unary -: 'str'",
    "~1.5": "TypeError: bad operand type for unary ~: 'float'",
    "'a' < 1": "TypeError: '<' not supported between instances of 'str' and 'int'",
    "None > 0": "TypeError: '>' not supported between instances of 'NoneType' and 'int'",
    "None[0]": "TypeError: 'NoneType' object is not subscriptable",
    "[][0]": "IndexError: list index out of range",
    "''[0]": "IndexError: string index out of range",
    "()[0]": "IndexError: tuple index out of range",
    "doc['nope']": "KeyError: 'nope'",
    "{}[[]]": "TypeError: unhashable type: 'list'",
    "{[]}": "TypeError: unhashable type: 'list'",
    "1 in None": "TypeError: argument of type 'NoneType' is not iterable",
    "1 in 'a'": "TypeError: 'in <string>' requires string as left operand, not int",
    "[].index(1)": "ValueError: 1 is not in list",
    "'a'.join([1])": "TypeError: sequence item 0: expected str instance, int found",
    "'a'.split('')": "ValueError: empty separator",
    "range(0, 1, 0)": "ValueError: range() arg 3 must not be zero",
    "[][::0]": "ValueError: slice step cannot be zero",
    "float('x')": "ValueError: could not convert string to float: 'x'",
    "int('1.5')": "ValueError: invalid literal for int() with base 10: '1.5'",
    "int(float('inf'))": "OverflowError: cannot convert float infinity to integer",
    "int(float('nan'))": "ValueError: cannot convert float NaN to integer",
    "len(1)": "TypeError: object of type 'int' has no len()",
    "abs('a')": "TypeError: bad operand type for abs(): 'str'",
    "min([])": "ValueError: min() arg is an empty sequence",
    "max([])": "ValueError: max() arg is an empty sequence",
    "sorted([1, 'a'])": "TypeError: '<' not supported between instances of 'str' and 'int'",
    "sum(['a'])": "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
    "(1).x": "AttributeError: 'int' object has no attribute 'x'",
    "'a'.x": "AttributeError: 'str' object has no attribute 'x'",
    "doc.none.x": "AttributeError: 'NoneType' object has no attribute 'x'",
    "'a' * 'b'": "TypeError: can't multiply sequence by non-int of type 'str'",
    "1 << -1": "ValueError: negative shift count",
    "'abc'.index('z')": "ValueError: substring not found",
    "[x for x, y in [1]]": "TypeError: cannot unpack non-iterable int object",
    "[x for x, y in [(1, 2, 3)]]": "ValueError: too many values to unpack (expected 2)",
    "[x for x, y in [(1,)]]": "ValueError: not enough values to unpack (expected 2, got 1)",
    "1 < 2 < 'a'": "TypeError: '<' not supported between instances of 'int' and 'str'",
    "'%s' % 1": "string formatting with % is not supported",
    "(-8) ** 0.5": "complex results are not supported",
    "utils.rounded(1.5, 0, 'Up')": "Unknown Rounding Method: Up",
    "utils.add_days('2026-01-01', 1.5) if False else utils.add_months('2026-01-01', 1.5)": "Non-integer years and months",
    "utils.strip_html(5)": "TypeError: expected string or bytes-like object",
    "utils.flt()": "missing required positional argument: 's'",
    "utils.flt(1, x=2)": "unexpected keyword argument 'x'",
    "len()": "takes exactly one argument (0 given)",
}


@pytest.mark.parametrize("expr,message", RUNTIME_ERRORS.items())
def test_runtime_error_messages(expr, message):
    raises(expr, message)
    if "utils" not in expr and "doc" not in expr and "supported" not in message and "%" not in expr:
        with pytest.raises(Exception) as py:
            eval(expr)
        assert message.split(": ", 1)[-1] in str(py.value) or type(py.value).__name__ in message


# ---------------------------------------------------------------- compile-time errors

COMPILE_ERRORS = {
    "lambda x: x": ("lambda is not supported", 1),
    "(y := 1)": ("assignment expressions (:=) are not supported", 4),
    "f'{doc.name}'": ("f-strings are not supported", 1),
    "len(*doc.tags)": ("star arguments (*args, **kwargs) are not supported", 5),
    "dict(**doc)": ("star arguments (*args, **kwargs) are not supported", 6),
    "[*doc.tags]": ("star expressions (*x, **x) are not supported", 2),
    "open('x')": ("unknown name 'open'", 1),
    "foo(1)": ("unknown name 'foo'", 1),
    "utils.frappe_secret()": ("unknown function 'utils.frappe_secret'", 7),
    "doc.name.format(1)": ("unsupported method 'format'", 10),
    "().__class__": ("attributes starting with '_' are not allowed: '__class__'", 4),
    "doc._private": ("attributes starting with '_' are not allowed: '_private'", 5),
    "__import__('os')": ("names starting with '_' are not allowed: '__import__'", 1),
    "[_ for _ in doc.tags]": ("names starting with '_' are not allowed", 1),
    "doc.x = 1": ("assignments are not supported", 7),
    "doc.qty += 1": ("assignments are not supported", 9),
    "1 +": ("unexpected end of expression", 4),
    "(1, 2": ("'(' was never closed", 6),
    "1 2": ("invalid syntax", 3),
    "1; 2": ("only one expression is allowed", 2),
    "b'x'": ("bytes literals are not supported", 1),
    "1j": ("complex numbers are not supported", 1),
    "'abc": ("unterminated string literal", 1),
    "012": ("leading zeros in decimal integer literals are not permitted", 1),
    "99999999999999999999": ("integer literal out of supported range", 1),
    "[x for x in doc.tags for y in x]": ("more than one 'for'", 22),
    "len": ("builtin 'len' can only be called", 1),
    "utils": ("'utils' can only be used to call its functions", 1),
    "utils.flt": ("utils.flt can only be called", 7),
    "doc.qty if doc.qty": ("expected 'else'", 19),
    "yield 1": ("'yield' is not supported", 1),
    "await doc": ("'await' is not supported", 1),
    "doc.tags[1:2, 3]": ("multi-dimensional slices are not supported", 13),
    "a @ b" if False else "doc.qty @ doc.qty": ("the '@' operator is not supported", 9),
    "...": ("Ellipsis is not supported", 1),
    "frappe.db.get_value('x')": ("only frappe.utils is available, not frappe.db", 8),
    "doc$": ("invalid character '$' in expression", 4),
    "'\\N{DASH}'": ("\\N{...} escapes are not supported", 2),
}


@pytest.mark.parametrize("expr,expected", COMPILE_ERRORS.items())
def test_compile_errors_name_the_construct(expr, expected):
    message, col = expected
    text = invalid(expr, message)
    assert text.endswith(f"(column {col})"), text


def test_compile_error_on_a_later_line():
    text = invalid("doc.qty > 1 and\n  lambda: 1", "lambda")
    assert text.endswith("(line 2, column 3)")


def test_multiline_and_comments_are_fine():
    assert ev("(doc.qty > 1 and  # a comment\n doc.status == 'Open')") is True
    assert ev("doc.qty > 1 and \\\n doc.flag") is True


def test_webhook_construction_validates_the_condition():
    with pytest.raises(fwc.ValidationError, match=r"^Invalid Condition: lambda is not supported \(column 1\)$"):
        fwc.Webhook("https://example.com", condition="lambda: 1")
    assert fwc.Webhook("https://example.com", condition="   ").meets_condition(DOC) is True


# ---------------------------------------------------------------- sandbox


@pytest.mark.parametrize("expr,message", [
    ("'a' * 10**9", "string result too long"),
    ("'a' * 2**20 + 'b'", "string result too long"),
    ("[0] * 10**9", "list result too long"),
    ("list(range(10**9))", "range() too large"),
    ("range(10**12)", "range() too large"),
    ("[x for x in range(1000000) for y in 'a']" if False else "sum(1 for x in range(1000000) for _ in 'a')" if False
     else "sum([1 for x in range(1000000)])", "limit"),
    ("len([[y for y in range(1000)] for x in range(1000)])", "step limit"),
    ("sum(len(('x' * 500000).replace('x', 'yy')) for i in range(1000))", "limit"),
    ("set(range(100000))", "step limit"),
    ("sorted(range(1000000))", "limit"),
    ("sum(x for x in range(1000000))", "limit"),
    ("any(x < 0 for x in range(1000000))", "step limit"),
])
def test_hostile_expressions_fail_cleanly(expr, message):
    start = time.monotonic()
    raises(expr, message)
    assert time.monotonic() - start < 5


def test_deep_nesting_is_rejected_at_compile_time():
    invalid("(" * 200 + "1" + ")" * 200, "nests too deeply")
    invalid("-" * 300 + "1", "nests too deeply")
    invalid("not " * 300 + "1", "nests too deeply")
    assert ev("(" * 30 + "1" + ")" * 30) == 1
    assert ev(" + ".join(["1"] * 150)) == 150
    invalid(" + ".join(["1"] * 300), "nests too deeply")


@pytest.mark.parametrize("expr", ["().__class__", "doc.__class__", "''.__class__.__mro__", "getattr(doc, '__class__')",
                                  "doc.__dict__", "[].__class__.__base__.__subclasses__()", "eval('1')", "exec('1')",
                                  "globals()", "type(1)", "__builtins__", "doc.__getattribute__('x')"])
def test_escape_attempts_are_rejected_at_compile_time(expr):
    with pytest.raises(fwc.ValidationError):
        ev(expr)


# ---------------------------------------------------------------- Webhook integration


def hook(**kw):
    base = dict(request_url="https://example.com/h", webhook_doctype="Quotation", webhook_docevent="on_update")
    base.update(kw)
    return fwc.Webhook(**base)


def test_meets_condition():
    doc = quotation()
    assert hook(condition='doc.status == "Open" and doc.grand_total > 1000').meets_condition(doc) is True
    assert hook(condition='doc.status == "Closed"').meets_condition(doc) is False
    assert hook().meets_condition(doc) is True
    with pytest.raises(fwc.ConditionError, match="ZeroDivisionError: division by zero"):
        hook(condition="1 / 0").meets_condition(doc)


def test_callable_condition_gets_a_frappe_dict():
    seen = []

    def cond(doc):
        seen.append(doc)
        return doc.status == "Open" and doc.missing is None and doc["items"][0].qty > 0

    h = hook(condition=cond)
    assert h.condition is cond
    assert h.meets_condition(quotation()) is True
    assert isinstance(seen[0], dict) and seen[0].transaction_date == "2026-11-01"
    boom = hook(condition=lambda doc: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        boom.meets_condition(quotation())


def test_matches_follows_frappe_events():
    doc = quotation()
    assert hook().matches(doc, "on_update") is True
    assert hook().matches(doc, "on_submit") is False
    assert hook(webhook_doctype="Sales Order").matches(doc, "on_update") is False
    assert hook(enabled=0).matches(doc, "on_update") is False
    assert hook(webhook_docevent="on_change").matches(doc, "on_change") is True
    assert hook(webhook_docevent="on_change").matches(doc, "on_change", in_insert=True) is False
    assert hook(webhook_docevent="on_update_after_submit").matches(doc, "on_update_after_submit") is True
    assert hook(webhook_docevent="on_update_after_submit").matches(doc, "on_update_after_submit", True) is False
    assert hook(webhook_docevent="after_insert").matches(doc, "after_insert", in_insert=True) is True
    assert hook(condition="doc.status == 'Closed'").matches(doc, "on_update") is False
    assert hook().matches(doc, "validate") is False
    with pytest.raises(TypeError):
        hook().matches(doc, 5)


def test_run_webhooks_returns_the_hooks_that_fire_in_order():
    doc = quotation()
    hooks = [
        hook(name="a"),
        hook(name="b", condition="doc.grand_total < 0"),
        hook(name="c", condition="any(i['qty'] > 0 for i in doc['items'])"),
        hook(name="d", webhook_docevent="on_submit"),
        hook(name="e", condition=lambda d: d.currency == "EUR"),
        hook(name="f", webhook_doctype="Sales Order"),
        hook(name="g", enabled=False),
    ]
    fired = fwc.run_webhooks(hooks, doc, "on_update")
    assert [h.name for h in fired] == ["a", "c", "e"]
    assert all(x is y for x, y in zip(fired, [hooks[0], hooks[2], hooks[4]]))
    assert fwc.run_webhooks(hooks, doc, "on_submit") == [hooks[3]]
    assert fwc.run_webhooks([], doc, "on_update") == []


def test_run_webhooks_errors_raise_or_skip():
    doc = quotation()
    hooks = [hook(name="ok"), hook(name="bad", condition="doc.grand_total / 0"), hook(name="ok2")]
    with pytest.raises(fwc.ConditionError, match=r"float division by zero \(condition of webhook 'bad'\)"):
        fwc.run_webhooks(hooks, doc, "on_update")
    assert [h.name for h in fwc.run_webhooks(hooks, doc, "on_update", on_error="skip")] == ["ok", "ok2"]
    with pytest.raises(ValueError):
        fwc.run_webhooks(hooks, doc, "on_update", on_error="log")
    with pytest.raises(TypeError):
        fwc.run_webhooks([1], doc, "on_update")


def test_run_webhooks_agrees_with_matches():
    doc = quotation()
    conds = [None, "doc.status == 'Open'", "doc.total_qty > 1000", "len(doc['items']) == 5", "doc.terms"]
    hooks = [hook(condition=c, webhook_docevent=e) for c in conds for e in ["on_update", "on_change", "after_insert"]]
    for event in ["on_update", "on_change", "after_insert"]:
        for in_insert in (False, True):
            want = [h for h in hooks if h.matches(doc, event, in_insert)]
            assert fwc.run_webhooks(hooks, doc, event, in_insert) == want


def test_conditions_evaluate_in_threads():
    from concurrent.futures import ThreadPoolExecutor
    h = hook(condition="sum(i['qty'] for i in doc['items']) > 0 and doc.title.upper().startswith('ACME')")
    doc = quotation()
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(lambda _: h.meets_condition(doc), range(200)))


# ---------- a condition written as a Jinja output ----------

TEMPLATE_LIKE = ['doc.status == "Open"', "doc.grand_total > 100", "doc.name", "doc.items and len(doc.items) > 2",
                 "not doc.disabled", "1"]


@pytest.mark.parametrize("inner", TEMPLATE_LIKE)
@pytest.mark.parametrize("spacing", ["{{ %s }}", "{{%s}}", "  {{ %s }}\n"])
def test_a_condition_in_jinja_braces_is_refused_with_the_fix(inner, spacing):
    """{{ expr }} is a set holding a set: Python (Frappe's safe_eval) fails on every
    document with "unhashable type", so refusing it at construction loses nothing and
    says what to write instead."""
    condition = spacing % inner
    doc = {"status": "Open", "grand_total": 500, "name": "X", "items": [1, 2, 3], "disabled": 0}
    with pytest.raises(TypeError, match="unhashable"):
        eval(condition.strip(), {"doc": types.SimpleNamespace(**doc)})
    with pytest.raises(fwc.ValidationError) as info:
        fwc.Webhook("https://example.com/hook", condition=condition)
    assert str(info.value) == ("Invalid Condition: a condition is a Python expression, not a Jinja template: "
                               f"write {inner} without the {{{{ }}}}")
    assert fwc.Webhook("https://example.com/hook", condition=inner).meets_condition(doc)


@pytest.mark.parametrize("condition", ["{1: 2}", "{{}.get(1): 1}", "{'a'} == {'a'}"])
def test_braces_that_are_python_stay_python(condition):
    assert fwc.Webhook("https://example.com/hook", condition=condition).meets_condition({}) is bool(eval(condition))
