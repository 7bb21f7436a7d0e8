"""The native expression engine against Python's own `eval`, on generated expressions
from the supported grammar over generated documents: same value and same type, or
both raise.

The oracle's document is a frappe._dict whose keys win over dict methods of the same
name (the documented improvement over Frappe: `doc.items` is the field), so both
sides agree on what `doc.<name>` means.  Known, documented deviations are kept out of
the grammar: integers beyond int64 (the engine raises "integer result out of supported
range" instead of a wrong number; accepted only where the expression multiplies),
bare generator objects and dict views (the engine returns lists), and str % formatting.
"""
import math
import os

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import frappe_webhook_c as fwc
from frappe_webhook_c import _core

# ---------------------------------------------------------------- the oracle's document


class KeyFirstDict(dict):
    """frappe._dict with keys winning over dict methods (the engine's documented rule)."""

    def __getattribute__(self, name):
        if not name.startswith("__") and dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        return dict.__getattribute__(self, name)

    def __getattr__(self, name):
        return self.get(name)


def oracle_doc(value):
    if isinstance(value, dict):
        return KeyFirstDict({k: oracle_doc(v) for k, v in value.items()})
    if isinstance(value, list):
        return [oracle_doc(v) for v in value]
    return value


BUILTINS = {name: getattr(__builtins__, name, None) if not isinstance(__builtins__, dict) else __builtins__[name]
            for name in ["len", "int", "float", "str", "bool", "abs", "min", "max", "round", "sum", "any", "all",
                         "sorted", "list", "tuple", "dict", "range", "set"]}


def python_eval(expr, doc):
    return eval(expr, {"__builtins__": {}, **BUILTINS}, {"doc": oracle_doc(doc)})


def same(a, b):
    """Same value and same type, recursively (floats by bits, NaN equal to NaN)."""
    if type(a) is not type(b) and not (isinstance(a, dict) and isinstance(b, dict)):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


OVERFLOW = "integer result out of supported range"
INT64 = range(-2**63, 2**63)


def has_big_int(v):
    if isinstance(v, int):
        return v not in INT64
    if isinstance(v, (list, tuple, set)):
        return any(has_big_int(x) for x in v)
    if isinstance(v, dict):
        return any(has_big_int(x) for x in v.values())
    return False


def check(expr, doc):
    try:
        expected = python_eval(expr, doc)
        py_exc = None
    except Exception as e:  # noqa: BLE001 - any Python error must be an engine error too
        expected, py_exc = None, e
    try:
        got = _core._eval(expr, doc)
        native_exc = None
    except fwc.ConditionError as e:
        got, native_exc = None, e
    if native_exc is not None and OVERFLOW in str(native_exc) and (
            py_exc is not None or has_big_int(expected) or any(op in expr for op in ("*", "+", "-", "//", "sum(", "int(", "round(", "abs("))):
        return  # documented: exact int64, beyond it an error instead of a wrong number
    if native_exc is not None and any(d in str(native_exc) for d in ("string formatting", "complex results")):
        return  # documented: printf-style str % and complex numbers are not supported
    if py_exc is not None or native_exc is not None:
        assert py_exc is not None and native_exc is not None, (
            f"{expr!r}: python {'raised ' + repr(py_exc) if py_exc else 'gave ' + repr(expected)}, "
            f"native {'raised ' + repr(native_exc) if native_exc else 'gave ' + repr(got)}")
        return
    assert same(got, expected), f"{expr!r}: python {expected!r} ({type(expected).__name__}), native {got!r} ({type(got).__name__})"


# ---------------------------------------------------------------- documents

ALPHABET = "abcXYZ 09,.-_'\"\néÉßΣσςΩдДÿŸİıĳ€"
texts = st.text(alphabet=ALPHABET, max_size=8)
small_ints = st.integers(-1000, 1000)
floats = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([0.0, -0.0, 0.5, 1.5, 2.5, 0.1, 1e16, 1e-7])
rows = st.fixed_dictionaries({"qty": small_ints, "rate": st.floats(-1e6, 1e6), "code": texts})
documents = st.fixed_dictionaries({
    "status": st.sampled_from(["Open", "Draft", "Closed", "", "open"]),
    "name": texts,
    "qty": small_ints,
    "grand_total": floats,
    "flag": st.booleans(),
    "none": st.none(),
    "tags": st.lists(texts, max_size=4),
    "nums": st.lists(small_ints, max_size=5),
    "items": st.lists(rows, max_size=4),
    "nested": st.fixed_dictionaries({"a": small_ints, "b": texts}),
})

# ---------------------------------------------------------------- expressions


def lit_str(s):
    return repr(s)


int_lits = st.integers(-10**6, 10**6).map(str) | st.sampled_from(["0", "1", "-1", "0x1F", "0o17", "0b101", "1_000",
                                                                    "9223372036854775807", "-9223372036854775807"])
float_lits = (st.floats(allow_nan=False, allow_infinity=False).map(repr)
              | st.sampled_from(["0.0", "1.5", "2.5", ".5", "1e3", "1E-3", "3.14", "1_0.5"]))
str_lits = texts.map(lit_str)

num_leaf = st.one_of(int_lits, float_lits, st.sampled_from([
    "doc.qty", "doc.grand_total", "doc['qty']", "doc.nested.a", "len(doc.tags)", "len(doc.name)", "True", "False",
    "doc.flag", "len(doc.items)", "doc.nums[0]", "doc.nums[-1]"]))
str_leaf = st.one_of(str_lits, st.sampled_from([
    "doc.status", "doc.name", "doc.nested.b", "doc.nested['b']", "doc.tags[0]", "doc['status']"]))
list_leaf = st.sampled_from(["doc.tags", "doc.nums", "doc['nums']", "[]", "[1, 2, 3]", "['a', 'b']", "doc.items"])
any_leaf = st.sampled_from(["None", "doc.none", "doc.missing", "doc.nested"])

NUM_BIN = ["+", "-", "*", "/", "//", "%"]
CMP = ["==", "!=", "<", "<=", ">", ">="]
STR_METHODS0 = ["lower", "upper", "strip", "lstrip", "rstrip", "title", "capitalize", "isdigit", "split"]


def expressions():
    def extend(inner):
        num = inner
        return st.one_of(
            # arithmetic
            st.tuples(num, st.sampled_from(NUM_BIN), num).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(num, st.sampled_from(["0", "1", "2", "3", "-1", "0.5"])).map(lambda t: f"({t[0]}) ** {t[1]}"),
            st.tuples(st.sampled_from(["-", "+", "not ", "~"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
            # comparisons, chains, membership, identity
            st.tuples(inner, st.sampled_from(CMP), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, st.sampled_from(CMP), inner, st.sampled_from(CMP), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]} {t[3]} {t[4]})"),
            st.tuples(inner, st.sampled_from(["in", "not in"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, st.sampled_from(["is None", "is not None", "is True", "is False"])).map(lambda t: f"({t[0]} {t[1]})"),
            # boolean operators return operands
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
            # subscripts and slices
            st.tuples(inner, st.sampled_from(["[0]", "[-1]", "[1:]", "[:2]", "[::-1]", "[1:3]", "[::2]", "[-2:]", "['qty']", "[5]"])).map(
                lambda t: f"({t[0]}){t[1]}"),
            # methods
            st.tuples(inner, st.sampled_from(STR_METHODS0)).map(lambda t: f"({t[0]}).{t[1]}()"),
            st.tuples(inner, st.sampled_from(["startswith", "endswith", "find", "count", "split", "index"]), str_lits).map(
                lambda t: f"({t[0]}).{t[1]}({t[2]})"),
            st.tuples(inner, str_lits, str_lits).map(lambda t: f"({t[0]}).replace({t[1]}, {t[2]})"),
            st.tuples(str_lits, inner).map(lambda t: f"{t[0]}.join({t[1]})"),
            st.tuples(inner, st.sampled_from(["'qty'", "'status'", "'x'"])).map(lambda t: f"({t[0]}).get({t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]}).count({t[1]})"),
            # builtins
            st.tuples(st.sampled_from(["len", "int", "float", "str", "bool", "abs", "round", "sum", "any", "all",
                                       "sorted", "list", "tuple", "min", "max", "set"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(st.sampled_from(["min", "max", "round"]), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(inner, st.integers(-3, 12)).map(lambda t: f"round({t[0]}, {t[1]})"),
            st.integers(-3, 12).map(lambda n: f"list(range({n}))"),
            st.tuples(st.integers(-5, 5), st.integers(-5, 12), st.sampled_from([1, 2, -1, 3])).map(
                lambda t: f"list(range({t[0]}, {t[1]}, {t[2]}))"),
            # displays
            st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
            st.lists(inner, max_size=3).map(lambda xs: "(" + "".join(x + ", " for x in xs) + ")"),
            st.tuples(str_lits, inner).map(lambda t: f"{{{t[0]}: {t[1]}}}"),
            # repetition with a bounded count
            st.tuples(inner, st.sampled_from(["0", "1", "2", "3", "-1", "True"])).map(lambda t: f"({t[0]}) * {t[1]}"),
            # comprehensions over document rows and lists
            st.sampled_from([
                "[i.qty for i in doc['items']]",
                "[i['rate'] * 2 for i in doc['items'] if i.qty > 0]",
                "sum(i.qty for i in doc['items'])",
                "any(i.qty > 40 for i in doc['items'])",
                "all(i.code for i in doc['items'])",
                "[t.upper() for t in doc.tags if t]",
                "{t: len(t) for t in doc.tags}",
                "{n % 3 for n in doc.nums}",
                "[k for k, v in doc.nested.items()]",
                "max([n for n in doc.nums] or [0])",
                "sorted(doc.nums, reverse=True)",
                "sum(doc.nums) / (len(doc.nums) or 1)",
                "[x * y for x, y in [(1, 2), (3, 4)]]",
                "any(1 / n > 0 for n in doc.nums)",
            ]),
        )

    leaves = st.one_of(num_leaf, str_leaf, list_leaf, any_leaf)
    return st.recursive(leaves, extend, max_leaves=6)


# thousands of cases per run; fewer under the (much slower) sanitizer build
EXAMPLES = 300 if "asan" in os.environ.get("LD_PRELOAD", "") else 1500


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(expressions(), documents)
def test_engine_equals_python_eval(expr, doc):
    try:
        compile(expr, "<expr>", "eval")
    except SyntaxError:
        assume(False)
    check(expr, doc)


# A fixed corpus: realistic conditions on the Quotation document.
from support.quotation import quotation  # noqa: E402

REALISTIC = [
    'doc.status == "Open" and doc.grand_total > 1000',
    'doc.docstatus == 0 and doc.currency in ("EUR", "USD")',
    'any(i["qty"] > 40 for i in doc["items"])',
    'len(doc["items"]) >= 3 and doc.total_qty > 10',
    'doc.customer_name.lower().startswith("acme")',
    'doc.transaction_date >= "2026-01-01"',
    'doc.terms is None or doc.terms == ""',
    'sum(i["amount"] for i in doc["items"]) == doc.total',
    '[i["item_code"] for i in doc["items"] if i["rate"] > 100][:2]',
    'doc.grand_total / doc.conversion_rate > 5000 if doc.conversion_rate else False',
    '"VAT" in (doc.taxes_and_charges or "")',
    'max(i["rate"] for i in doc["items"]) > 1000',
    'doc.get("order_type", "") != "Maintenance"',
    'round(doc.grand_total * 0.1, 2)',
    'sorted({i["uom"] for i in doc["items"]})',
    'doc.title.upper()',
    'doc.missing_field is None',
    'doc["items"][0]["description"][3:8]',
    'str(doc.grand_total) + " " + doc.currency',
    'min(doc.valid_till, doc.transaction_date)',
]


def test_realistic_conditions_equal_python():
    doc = fwc._core._snapshot(quotation())
    for expr in REALISTIC:
        check(expr, doc)


# round(x, n) has an exact fast path for n <= 22 (no printing): prove it on all kinds of
# doubles, ties included (k / 2**m values are exact halves at some n).
_round_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e7, max_value=1e7, allow_nan=False),
    st.builds(lambda k, m: k / 2**m, st.integers(-10**9, 10**9), st.integers(0, 40)),
    st.builds(lambda k, n: k / 10**n, st.integers(-10**12, 10**12), st.integers(0, 12)),
)


@settings(max_examples=4 * EXAMPLES, deadline=None)
@given(_round_values, st.integers(-3, 25))
def test_round_equals_python(x, nd):
    try:
        expected = round(x, nd)
    except OverflowError:
        return
    got = _core._eval("round(doc.x, doc.n)", {"x": x, "n": nd})
    assert got == expected and math.copysign(1, got) == math.copysign(1, expected), (x, nd, got, expected)
