"""Differential test of src/json/float_repr.c (fwc_float_repr) against Python's repr(float).

The C function is exercised through the standalone harness tests/c/float_repr_check.c,
compiled here with gcc: it reads 64-bit patterns as hex, one per line, and prints the
repr it computes for each.  Every output line must equal repr() of the same double.
A second build with AddressSanitizer + UndefinedBehaviorSanitizer runs a smaller sample.
"""
import math
import os
import random
import shutil
import struct
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = [os.path.join(ROOT, "src", "json", "float_repr.c"), os.path.join(ROOT, "tests", "c", "float_repr_check.c")]
INCLUDES = ["-D_GNU_SOURCE=1", "-I", os.path.join(ROOT, "src")]   # no Python: json/ is below py/


def _compile(out_dir, name, flags):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required to build tests/c/float_repr_check.c")
    exe = os.path.join(str(out_dir), name)
    cmd = [gcc, "-std=c11", "-Wall", "-Wextra", "-Werror", *flags, *INCLUDES, *SOURCES, "-o", exe]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, "compile failed:\n%s\n%s" % (" ".join(cmd), proc.stderr)
    return exe


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    return _compile(tmp_path_factory.mktemp("float_repr"), "float_repr_check", ["-O2"])


@pytest.fixture(scope="module")
def harness_sanitized(tmp_path_factory):
    return _compile(
        tmp_path_factory.mktemp("float_repr_san"),
        "float_repr_check_san",
        ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"],
    )


def _bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _double(bits):
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def _check(exe, values, env=None):
    """Runs the harness on values (floats or ints = bit patterns), asserts repr equality."""
    patterns = [v if isinstance(v, int) else _bits(v) for v in values]
    stdin = "".join("%016x\n" % b for b in patterns).encode()
    proc = subprocess.run([exe], input=stdin, capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stderr == b"", proc.stderr.decode(errors="replace")
    got = proc.stdout.decode("ascii").split("\n")
    assert got[-1] == "" and len(got) == len(patterns) + 1, "expected %d lines, got %d" % (
        len(patterns),
        len(got) - 1,
    )
    bad = []
    for b, line in zip(patterns, got):
        want = repr(_double(b))
        if line != want:
            bad.append("bits %016x: C gave %r, repr gives %r" % (b, line, want))
            if len(bad) == 20:
                break
    assert not bad, "%d+ mismatches:\n%s" % (len(bad), "\n".join(bad))
    return len(patterns)


def _edge_cases():
    vals = [
        0.0, -0.0,
        5e-324, -5e-324,
        2.2250738585072014e-308,               # smallest normal
        _double(0x000FFFFFFFFFFFFF),           # largest subnormal
        _double(0x0010000000000001),
        1.7976931348623157e308, -1.7976931348623157e308,
        0.1, 0.2, 0.3, 1 / 3, 2 / 3, 0.1 + 0.2,
        float(9007199254740993), 9007199254740992.0, 9007199254740994.0, 9007199254740991.0,
        0.0001, 0.00001, 0.00009999999999999999, 1e-4 * (1 - 2**-52),
        123456789012345678.0, 1234567890123456.0, 123.456, 100.0, 1.0, 1.5, -1.0,
        1e15, 1e16, 1e17, 1e22, 1e23, 5e-310,
        math.pi, math.e, 2.0**53, 2.0**63, 2.0**64,
        float("nan"), float("inf"), float("-inf"), -float("nan"),
    ]
    # NaNs with payloads and the sign bit: repr says "nan" for all of them.
    vals += [0x7FF0000000000001, 0xFFF8000000000000, 0x7FFFFFFFFFFFFFFF, 0xFFF0000000000001]
    return vals


def _neighbours(x, steps):
    out = [x]
    up = down = x
    for _ in range(steps):
        up = math.nextafter(up, math.inf)
        down = math.nextafter(down, -math.inf)
        out += [up, down]
    return out


def test_edge_cases(harness):
    vals = _edge_cases()
    assert _check(harness, vals + [-v if isinstance(v, float) else v ^ (1 << 63) for v in vals])


def test_powers_of_two(harness):
    vals = [math.ldexp(1.0, e) for e in range(-1074, 1024)]
    vals += [math.nextafter(v, math.inf) for v in vals] + [math.nextafter(v, 0.0) for v in vals]
    assert _check(harness, vals + [-v for v in vals]) == 6 * 2098


def test_powers_of_ten(harness):
    # float("1e-330") is 0.0 and float("1e310") is inf: the ends are included on purpose.
    vals = []
    for e in range(-330, 311):
        vals += _neighbours(float("1e%d" % e), 2)
        vals += [float("%de%d" % (d, e)) for d in (2, 3, 5, 9)]
    assert _check(harness, vals + [-v for v in vals])


def test_format_switch_points(harness):
    # Around the fixed/scientific boundaries (1e-4 .. 1e-5 and 1e16) and 2^53.
    vals = []
    for x in (1e15, 1e16, 1e17, 1e-4, 1e-5, 2.0**53, 9999999999999998.0, 0.001, 1.0):
        vals += _neighbours(x, 64)
    assert _check(harness, vals + [-v for v in vals])


def test_integers(harness):
    rng = random.Random(20240611)
    vals = [float(i) for i in range(-1000, 1001)]
    vals += [float(rng.randrange(1 << rng.randrange(1, 64))) for _ in range(50_000)]
    vals += [float(rng.randrange(10 ** rng.randrange(1, 25))) for _ in range(50_000)]
    vals += [float(10**e - 1) for e in range(1, 25)] + [float(10**e + 1) for e in range(1, 25)]
    assert _check(harness, vals)


def test_random_bit_patterns(harness):
    rng = random.Random(1234567)
    getrandbits = rng.getrandbits
    assert _check(harness, [getrandbits(64) for _ in range(1_000_000)]) == 1_000_000


def test_random_subnormals_and_small_exponents(harness):
    rng = random.Random(7)
    vals = [rng.getrandbits(52) | (rng.getrandbits(1) << 63) for _ in range(50_000)]  # subnormals
    vals += [rng.getrandbits(52) | (rng.randrange(1, 4) << 52) for _ in range(20_000)]
    vals += [rng.getrandbits(52) | (rng.randrange(0x7FB, 0x7FF) << 52) for _ in range(20_000)]
    assert _check(harness, vals)


def test_decimal_looking_values(harness):
    rng = random.Random(99)
    uniform = rng.uniform
    vals = [round(uniform(-1e6, 1e6), k) for k in range(7) for _ in range(200_000 // 7 + 1)]
    # Prices, rates and percentages at other magnitudes too.
    vals += [round(uniform(0, 1), k) for k in range(1, 10) for _ in range(5_000)]
    vals += [float("%d.%de%d" % (rng.randrange(1, 10), rng.randrange(10**4), rng.randrange(-320, 309)))
             for _ in range(30_000)]
    assert _check(harness, vals) >= 200_000


def test_under_address_and_undefined_sanitizers(harness_sanitized):
    rng = random.Random(4242)
    vals = _edge_cases() + [math.ldexp(1.0, e) for e in range(-1074, 1024)]
    vals += [rng.getrandbits(64) for _ in range(100_000)]
    vals += [round(rng.uniform(-1e6, 1e6), k) for k in range(7) for _ in range(3_000)]
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:halt_on_error=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    assert _check(harness_sanitized, vals, env=env) > 100_000


def test_every_integer_below_1e8(harness):
    # Exhaustive check of the fixed-point 8-digit writer, through the integer path.
    proc = subprocess.run([harness, "--int-selftest"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr
