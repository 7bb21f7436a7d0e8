"""The C JSON parser (src/json/json_parse.c) against json.loads, its oracle.

_loads(text) parses with the C parser and converts the tree to Python objects; with a
style it instead returns what the JSON writer makes of the parsed tree (the template body
path: render -> parse -> write), which also shows the dict deduplication.
"""
import decimal
import json
import math
import random
import struct

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from frappe_webhook_c import _core

_loads = _core._loads
MAX_DEPTH = _core.MAX_DEPTH
# a seeded random.Random per example: many checks per example, cheaply (st.randoms() makes
# every call a hypothesis draw, which is slow); failures still reproduce from the seed
seeds = st.integers(0, 2**64).map(random.Random)


def examples(n):
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def canon(x):
    """A structure equal for equal JSON results: types exact, floats by bits (any NaN
    equal), dict order kept."""
    t = type(x)
    if t is float:
        return ("float", "nan" if x != x else struct.pack("<d", x))
    if t is list:
        return ("list", [canon(i) for i in x])
    if t is dict:
        return ("dict", [(canon(k), canon(v)) for k, v in x.items()])
    assert t in (str, int, bool, type(None)), t
    return (t.__name__, x)


def outcome(fn, text):
    """('ok', canon(result)) or ('error', message)."""
    try:
        return ("ok", canon(fn(text)))
    except RecursionError:
        raise
    except ValueError as e:  # JSONDecodeError and int()'s digit limit
        return ("error", str(e))


def check_same(text):
    expected = outcome(json.loads, text)
    got = outcome(_loads, text)
    assert got == expected, text
    return expected


# ---------- strategies ----------

# every code point, lone surrogates included
all_chars = st.characters(exclude_categories=())
some_text = st.text(all_chars, max_size=12) | st.text(st.sampled_from('a"\\/\b\f\n\r\t\x00\x1f\x7f é€😀\ud800\udfff'), max_size=8)
ints = st.integers() | st.integers(-(10**80), 10**80) | st.sampled_from(
    [0, -1, 2**53, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, -(2**64), 10**19, 10**19 - 1])
floats = st.floats() | st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308, 0.1, 1e16, 1e22, 1e23])
scalars = st.none() | st.booleans() | ints | floats | some_text
keys = some_text | st.sampled_from(["a", "b", "name", "é", "\ud800", ""])
json_values = st.recursive(
    scalars,
    lambda ch: st.lists(ch, max_size=5) | st.dictionaries(keys, ch, max_size=5),
    max_leaves=15,
)
dump_options = st.fixed_dictionaries({
    "ensure_ascii": st.booleans(),
    "indent": st.sampled_from([None, None, 0, 1, 2, "\t", " \r\n"]),
    "separators": st.sampled_from([None, (",", ":"), (", ", ": "), (" ,\t", "\n:\r ")]),
})


def dumps(value, opts):
    return json.dumps(value, **opts)


SPECIAL_CHARS = 'a"\\/\b\f\n\r\t\x00\x1f\x7f é€😀\ud800\udbff\udc00\udfff\ufeff'


def random_char(rng):
    r = rng.random()
    if r < 0.5:
        return chr(rng.randrange(0x20, 0x7f))
    if r < 0.7:
        return rng.choice(SPECIAL_CHARS)
    if r < 0.9:
        return chr(rng.randrange(0x80, 0x10000))   # surrogates included
    return chr(rng.randrange(0x10000, 0x110000))


def random_value(rng, depth=0):
    """Like json_values, from a seeded Random: cheap enough for thousands per test."""
    r = rng.random()
    if depth < 4 and r < 0.25:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(6))]
    if depth < 4 and r < 0.45:
        return {"".join(random_char(rng) for _ in range(rng.randrange(5))): random_value(rng, depth + 1)
                for _ in range(rng.randrange(6))}
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randrange(-(2**64), 2**64) >> rng.randrange(64)
    if kind == 2:
        return rng.randrange(-(10**rng.randrange(1, 90)), 10**rng.randrange(1, 90))
    if kind == 3:
        return struct.unpack("<d", rng.randbytes(8))[0]    # any double, NaN and inf included
    if kind == 4:
        return round(rng.uniform(-1e6, 1e6), rng.randrange(5))
    return "".join(random_char(rng) for _ in range(rng.randrange(12)))


def random_options(rng):
    return {"ensure_ascii": rng.random() < 0.5, "indent": rng.choice([None, None, 0, 2, "\t"]),
            "separators": rng.choice([None, (",", ":"), (" ,\t", "\n:\r ")])}


# ---------- (1) round trips ----------

@examples(300)
@given(json_values, dump_options)
def test_round_trip(value, opts):
    for o in (opts, {}, {"ensure_ascii": False, "indent": 2}):
        text = dumps(value, o)
        assert check_same(text)[0] == "ok"


@examples(500)
@given(seeds)
def test_round_trip_random(rng):
    for _ in range(10):
        value = random_value(rng)
        for opts in ({}, random_options(rng)):
            assert check_same(json.dumps(value, **opts))[0] == "ok"


def check_written_back(text):
    data = json.loads(text)
    assert _loads(text, "dumps") == json.dumps(data)
    assert _loads(text, "as_json") == json.dumps(data, indent=1, sort_keys=True, separators=(",", ": "))


@examples(100)
@given(json_values, dump_options)
def test_written_back_like_json_dumps(value, opts):
    """parse -> write gives what json.dumps(json.loads(text)) gives (Frappe's path)."""
    check_written_back(dumps(value, opts))


@examples(300)
@given(seeds)
def test_written_back_random(rng):
    for _ in range(5):
        check_written_back(json.dumps(random_value(rng), **random_options(rng)))


# duplicate keys: built as text, since a dict cannot hold them
@st.composite
def duplicate_key_objects(draw):
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "\\u0061", "é", "\\u00e9", "\\ud800", "k" * 9]),
                          min_size=0, max_size=60))
    vals = draw(st.lists(st.integers(-5, 5), min_size=len(names), max_size=len(names)))
    inner = ", ".join(f'"{k}": {v}' for k, v in zip(names, vals))
    return "{" + inner + "}"


@examples(200)
@given(duplicate_key_objects())
@example('{"a": 1, "b": 2, "a": 3}')
def test_duplicate_keys(text):
    check_same(text)
    data = json.loads(text)
    assert _loads(text, "dumps") == json.dumps(data)


def test_duplicate_keys_large_object():
    rng = random.Random(3)
    pairs = [(f"k{rng.randrange(300)}", i) for i in range(2000)]
    text = "{" + ",".join(f'"{k}":{v}' for k, v in pairs) + "}"
    check_same(text)
    assert _loads(text, "dumps") == json.dumps(json.loads(text))
    nested = "[" + ",".join([text] * 5) + "]"
    assert _loads(nested, "dumps") == json.dumps(json.loads(nested))


# ---------- numbers ----------

def number_text(rng):
    """JSON number text: int part, maybe a fraction, maybe an exponent; digits of any length."""
    ip = str(rng.choice([rng.randrange(10), rng.randrange(10**9), rng.randrange(10**30)]))
    text = rng.choice(["", "-"]) + ip
    if rng.random() < 0.6:
        text += "." + str(rng.randrange(10**30)).zfill(rng.randint(1, 30))[-rng.randint(1, 30):]
    if rng.random() < 0.5:
        text += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.choice([rng.randrange(30), rng.randrange(400)]))
    return text


def check_number(text):
    check_same(text)
    check_same("[" + text + "]")
    check_same(" " + text + "\n")


@examples(600)
@given(seeds)
def test_numbers(rng):
    for _ in range(10):
        check_number(number_text(rng))


@pytest.mark.parametrize("text", [
    "1e400", "-1e400", "1e-400", "2.4703282292062327e-324",  # just below half the smallest subnormal
    "2.4703282292062328e-324", "9007199254740993", "9007199254740993.0", "0e99999999999999999999",
    "-0e-5", "123456789012345678901234567890e-30", "1.7976931348623157e308", "1.7976931348623159e308",
    "0.1", "0." + "0" * 400 + "1e400", "1" * 400 + "e-400", "4.35679886e-316", "22.222222222222222222222",
])
def test_number_examples(text):
    check_number(text)


@examples(600)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_halfway_cases(x):
    """Exact decimal midpoints between neighbouring doubles: correct rounding matters."""
    check_same(repr(x))
    up = math.nextafter(x, math.inf)
    if math.isfinite(up):
        mid = (decimal.Decimal(x) + decimal.Decimal(up)) / 2
        text = format(mid, "f") if abs(x) < 1e20 else format(mid, "e")
        if "." not in text and "e" not in text.lower():
            text += ".0"
        check_same(text)


def test_integer_edges():
    for text in ["0", "-0", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                 "-9223372036854775809", "18446744073709551615", "18446744073709551616",
                 "99999999999999999999", "1" + "0" * 4299, "1" + "0" * 4300, "-" + "1" * 4301]:
        assert check_same(text)
    assert type(_loads("-0")) is int and _loads("-0") == 0


def test_locale_independent():
    import locale
    old = locale.setlocale(locale.LC_NUMERIC)
    for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "de_DE", "C.UTF-8"):
        try:
            locale.setlocale(locale.LC_NUMERIC, name)
            break
        except locale.Error:
            continue
    try:
        assert _loads("[1.5, 1.234567890123456789e-5, 3.14159265358979323846264]") == [
            1.5, 1.234567890123456789e-5, 3.14159265358979323846264]
    finally:
        locale.setlocale(locale.LC_NUMERIC, old)


# ---------- (2) garbage: mutated JSON ----------

MUTATION_CHARS = list('{}[]",:\\/ \t\n\r0123456789.eE+-nulltruefalseNaNInfinityuUx') + [
    "\x00", "\x1f", "\x7f", "é", "€", "😀", "\ud800", "\udc00", "\ufeff", "\\u", "\\ud83d", "\\ude00", "1e"]


def mutate(text, rng):
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(["insert", "delete", "replace", "truncate"])
        i = rng.randint(0, len(text))
        if op == "insert":
            text = text[:i] + rng.choice(MUTATION_CHARS) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + rng.randint(1, 3):]
        elif op == "replace":
            text = text[:i] + rng.choice(MUTATION_CHARS) + text[i + 1:]
        elif rng.random() < 0.3:
            text = text[:i]
    return text


@examples(800)
@given(seeds)
def test_mutated_text(rng):
    """Insertions, deletions and replacements in valid JSON: same value or same message."""
    for _ in range(3):
        text = json.dumps(random_value(rng), **random_options(rng))
        for _ in range(8):
            check_same(mutate(text, rng))


@examples(100)
@given(json_values, dump_options, seeds)
def test_mutated_generated_text(value, opts, rng):
    text = dumps(value, opts)
    for _ in range(10):
        check_same(mutate(text, rng))


@examples(300)
@given(seeds)
def test_random_text(rng):
    for _ in range(20):
        check_same("".join(rng.choice(MUTATION_CHARS) for _ in range(rng.randint(0, 24))))


# ---------- (3) every error message, by hand ----------

ERRORS = [
    ("", "Expecting value: line 1 column 1 (char 0)"),
    ("  \n ", "Expecting value: line 2 column 2 (char 4)"),
    ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
    ("[", "Expecting value: line 1 column 2 (char 1)"),
    ('{"a": }', "Expecting value: line 1 column 7 (char 6)"),
    ("-", "Expecting value: line 1 column 1 (char 0)"),
    ("-Infinit", "Expecting value: line 1 column 1 (char 0)"),
    ("nul", "Expecting value: line 1 column 1 (char 0)"),
    ("nan", "Expecting value: line 1 column 1 (char 0)"),
    (".5", "Expecting value: line 1 column 1 (char 0)"),
    ("+1", "Expecting value: line 1 column 1 (char 0)"),
    ("1 2", "Extra data: line 1 column 3 (char 2)"),
    ("1.", "Extra data: line 1 column 2 (char 1)"),
    ("1e", "Extra data: line 1 column 2 (char 1)"),
    ("1e+", "Extra data: line 1 column 2 (char 1)"),
    ("01", "Extra data: line 1 column 2 (char 1)"),
    ("[]]", "Extra data: line 1 column 3 (char 2)"),
    ("truex", "Extra data: line 1 column 5 (char 4)"),
    ('"é" x', "Extra data: line 1 column 5 (char 4)"),
    ('"abc', "Unterminated string starting at: line 1 column 1 (char 0)"),
    ('["a", "b\\', "Unterminated string starting at: line 1 column 7 (char 6)"),
    ('"\\x"', "Invalid \\escape: line 1 column 2 (char 1)"),
    ('"\\é"', "Invalid \\escape: line 1 column 2 (char 1)"),
    ('{"a":1,}', "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)"),
    ("{'a': 1}", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ('{"a" 1}', "Expecting ':' delimiter: line 1 column 6 (char 5)"),
    ('{"a"', "Expecting ':' delimiter: line 1 column 5 (char 4)"),
    ("[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)"),
    ("[1", "Expecting ',' delimiter: line 1 column 3 (char 2)"),
    ('{"a": 1 "b": 2}', "Expecting ',' delimiter: line 1 column 9 (char 8)"),
    ('{"a": 1', "Expecting ',' delimiter: line 1 column 8 (char 7)"),
    ('"a\nb"', "Invalid control character at: line 1 column 3 (char 2)"),
    ('"\x00"', "Invalid control character at: line 1 column 2 (char 1)"),
    ('"\\u12"', "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
    ('"\\u123"', "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
    ('"\\u1234', "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
    ('"\\uzzzz"', "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
    ('"\\ud800\\uzzzz"', "Invalid \\uXXXX escape: line 1 column 9 (char 8)"),
    ('"\\ud800\\udc00', "Invalid \\uXXXX escape: line 1 column 9 (char 8)"),
    ("\ufeff[]", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"),
    ("1" * 4301, "Exceeds the limit (4300 digits) for integer string conversion: value has 4301 digits; "
                 "use sys.set_int_max_str_digits() to increase the limit"),
]


@pytest.mark.parametrize("text,message", ERRORS)
def test_error_messages(text, message):
    with pytest.raises(ValueError) as py:
        json.loads(text)
    assert str(py.value) == message  # the table itself is checked against the oracle
    with pytest.raises(ValueError) as c:
        _loads(text)
    assert str(c.value) == message


PREFIX_DOC = ('{"a": [1, -0, 12.5e-3, 1E+2, -9223372036854775809, NaN, Infinity, -Infinity, true, false, null],\n'
              ' "s\\u00e9": "x\\ud83d\\ude00\\ud800\\u0041\\n\\"\\\\\\/é€😀\ud800", "": {}, "b": [[], {"c": ""}]}')


def test_every_prefix_and_suffix():
    """Truncations end the text at every possible place (the parser gets an exact-size
    buffer, so the sanitizer build sees any read past the end)."""
    assert check_same(PREFIX_DOC)[0] == "ok"
    for i in range(len(PREFIX_DOC)):
        check_same(PREFIX_DOC[:i])
        check_same(PREFIX_DOC[i:])
        check_same(PREFIX_DOC[:i] + PREFIX_DOC[i + 1:])


def test_positions_count_code_points_and_lines():
    body = '{\n  "name": "Café ☕ 😀",\n  "items": [\n    {"qty": 1,\n     "rate": 2.5\n     "x": 1}\n  ]\n}'
    assert check_same(body)[0] == "error"
    assert str(pytest.raises(ValueError, _loads, body).value) == \
        "Expecting ',' delimiter: line 6 column 6 (char 74)"
    # the brief's example shape: a long multi-line body
    lines = ['{'] + [f'  "field_{i}": "välue {i}",' for i in range(7)] + ['  "total": 12.5 "x"', '}']
    check_same("\n".join(lines))


def test_valid_edge_cases():
    for text in ['"\\ud800"', '"\\udc00\\ud800"', '"\\ud800\\u0041"', '"\\ud83d\\ude00"', '"\\ud83d\\ude00x"',
                 '"\\ud800\\ud800\\udc00"', '"\\u0000"', '"\\/\\b\\f\\n\\r\\t\\"\\\\"', '"\x7f"',
                 '"\ud800\udc00"', "NaN", "Infinity", "-Infinity", "[NaN,-Infinity]", " \t\n\r[ ] \r\n",
                 '{"":""}', '{"a" : 1 , "b":[ ] }', "[[[]]]", "-0.0", "0.0e0", "1E+2", "1e-2",
                 '"' + "x" * 10000 + '"', '"' + "é😀" * 3000 + '"', "[" + ",".join(["1"] * 5000) + "]"]:
        assert check_same(text)[0] == "ok", text


def test_string_values_and_ascii_flag():
    # the writer relies on the ascii flag and the 3-byte surrogates: round trip through it
    for s in ["plain", "", "é", "\ud800", "\udfff", "😀", "\x00", "a\u0080b", "\\u"]:
        for ensure_ascii in (True, False):
            text = json.dumps([s, {s: s}], ensure_ascii=ensure_ascii)
            assert _loads(text) == [s, {s: s}]
            assert _loads(text, "dumps") == json.dumps([s, {s: s}])


def test_depth_limit():
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert check_same(ok)
    nested = '{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    assert check_same(nested)
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    # Python itself parses this (its bound is the recursion limit, ~1000 levels)
    assert json.loads(deep)
    with pytest.raises(ValueError, match=rf"^JSON nests deeper than {MAX_DEPTH} levels: "
                                         rf"line 1 column {MAX_DEPTH + 1} \(char {MAX_DEPTH}\)$"):
        _loads(deep)
    with pytest.raises(ValueError, match="nests deeper"):
        _loads('{"a":' * 100000)


def test_invalid_utf8_bytes():
    """Bytes that no Python str encodes to: refused inside strings, never copied."""
    for raw, char in [(b'"\xff"', 1), (b'"a\xc3"', 2), (b'"\xe2\x82"', 1), (b'"\xc0\xaf"', 1),
                      (b'"\xe0\x80\x80"', 1), (b'"\xf0\x80\x80\x80"', 1), (b'"\xf4\x90\x80\x80"', 1),
                      (b'"\x80"', 1), (b'"\xe9\x80', 1), (b'["\xc3\xa9", "\xf0\x9f\x98"]', 7)]:
        with pytest.raises(ValueError, match=rf"^Invalid UTF-8 at: line 1 column {char + 1} \(char {char}\)$"):
            _loads(raw)
    # a byte outside strings is an unexpected character, as any non-JSON character is
    with pytest.raises(ValueError, match=r"^Expecting value: line 1 column 2 \(char 1\)$"):
        _loads(b"[\xff]")
    assert _loads('"é€😀"'.encode()) == "é€😀"


def test_realistic_webhook_body():
    from support import quotation
    doc = quotation.quotation(rows=5)
    text = json.dumps(doc, default=str, indent=4)
    assert check_same(text)[0] == "ok"
    assert _loads(text, "dumps") == json.dumps(json.loads(text))
    broken = text.replace('"qty": ', '"qty" ', 1)
    assert check_same(broken)[0] == "error"


def test_arguments():
    with pytest.raises(TypeError):
        _loads(1)
    with pytest.raises(ValueError, match="unknown style"):
        _loads("1", "yaml")


def test_threads():
    """The parser runs without the GIL; concurrent parses (slow float path included)."""
    from concurrent.futures import ThreadPoolExecutor
    rng = random.Random(11)
    texts = [json.dumps([rng.random() * 10.0 ** rng.randrange(-300, 300) for _ in range(200)]) for _ in range(8)]
    expected = [json.loads(t) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            assert list(pool.map(_loads, texts)) == expected
