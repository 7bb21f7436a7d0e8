"""Regenerates the seed corpora under tests/c/fuzz/seeds/ from the test suite's own
conditions, templates, JSON texts, signatures and HTTP responses (string and bytes
literals of tests/*.py, read with ast; nothing is imported but the built extension, used
to keep conditions and templates that compile).  A few dozen files per target:
`make fuzz` grows the real corpus in build/fuzz/corpus/.

    .venv/bin/python tests/c/fuzz/make_seeds.py
"""
import ast
import functools
import hashlib
import json
import pathlib
import random
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
SEEDS = ROOT / "tests" / "c" / "fuzz" / "seeds"
sys.path.insert(0, str(ROOT))
from frappe_webhook_c import _core  # noqa: E402

PER_TARGET = 40


def literals(*files, kind=str):
    out = []
    for f in files:
        tree = ast.parse((ROOT / "tests" / f).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, kind):
                out.append(node.value)
            # b"a" + b"b" * 3 and friends: evaluate constant expressions of bytes
            elif kind is bytes and isinstance(node, ast.BinOp):
                try:
                    v = eval(compile(ast.Expression(node), f, "eval"), {})  # noqa: S307
                except Exception:  # noqa: BLE001
                    continue
                if isinstance(v, bytes):
                    out.append(v)
    return list(dict.fromkeys(out))


def spread(items, n=PER_TARGET):
    """n items spread over the list (deterministic), longest-first ties broken by order."""
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def write(target, blobs):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.iterdir():
        old.unlink()
    for b in blobs:
        if isinstance(b, str):
            b = b.encode("utf-8", "surrogatepass")
        (d / hashlib.sha1(b).hexdigest()[:16]).write_bytes(b)
    print(f"{target}: {len(blobs)} seeds")


def compiles(fn, s):
    try:
        fn(s)
        return True
    except Exception as e:  # noqa: BLE001
        return "Invalid" not in str(e) and "Syntax" not in str(e) and "Illegal" not in str(e)


def expr_seeds():
    cands = [s for s in literals("test_conditions.py", "test_expr_differential.py")
             if 2 < len(s) < 300 and any(c in s for c in "()[]+-*/<>=.'\"") and "\n" not in s]
    ok = [s for s in cands if compiles(lambda x: _core._eval(x, {}), s)]
    bad = [s for s in cands if s not in ok]
    return spread(ok, PER_TARGET - 6) + spread(bad, 6)


def tmpl_seeds():
    cands = [s for s in literals("test_templates.py", "test_templates_loops.py", "test_templates_format.py")
             if ("{{" in s or "{%" in s) and len(s) < 2000]
    return spread(cands)


def json_seeds():
    cands = [s for s in literals("test_json_parse.py", "test_json_writer.py", "test_templates.py")
             if s.strip()[:1] in "[{\"-0123456789tfnNI" and len(s) < 4000]
    good, bad = [], []
    for s in cands:
        try:
            json.loads(s)
            good.append(s)
        except ValueError:
            bad.append(s)
    return spread(good, 30) + spread(bad, 10)


def h1_seeds():
    cands = [b for b in literals("test_native_http.py", kind=bytes) if b.upper().startswith(b"HTTP/") and len(b) < 8192]
    rng = random.Random(1)
    return [bytes([i % 6, rng.randrange(256), rng.randrange(256)]) + b for i, b in enumerate(spread(cands))]


def verify_seeds():
    secrets = ["secret", "It's a Secret to Everybody", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "k", "x" * 100,
               "whsec_" + "A" * 90 + "==", "ünï"]
    bodies = [b"", b"Hello, World!", b'{"test": 2432232314}', b"{}", b"line\nbreaks\n", bytes(range(256))]
    out = []
    for i, (scheme, code) in enumerate([(s, c) for s, c in (("frappe", 0), ("standard", 1), ("github", 2))] * 4):
        secret, body = secrets[i % len(secrets)], bodies[i % len(bodies)]
        try:
            h = _core.sign(secret, body, scheme, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1767225600)
        except Exception:  # noqa: BLE001
            continue
        sig = list(h.values())[-1] if scheme != "standard" else h["webhook-signature"]
        hid, ts = h.get("webhook-id", ""), h.get("webhook-timestamp", "")
        flags = code | (i % 4) << 2 | (i % 3) << 4 | (i % 2) << 6
        out.append(bytes([flags]) + "\n".join([secret, sig, hid, ts]).encode() + b"\n" + body)
    # Standard Webhooks' published vector, and hostile shapes
    out.append(bytes([1 | 3 << 2]) + b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\nv1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
               b"\nmsg_p5jXN8AQM9LWM0D4loKWxJek\n1614265330\n{\"test\": 2432232314}")
    out.append(bytes([1]) + b"whsec_!!\nv1, v1,,v2,abc  \n \n 99999999999999999999\nbody")
    out.append(bytes([2]) + b"s\nsha256=ZZ" + b"0" * 62 + b"\n\n\nbody")
    out.append(bytes([1 | 1 << 6]) + b"k\n" + b"v1,x " * 50 + b"\nid\n-1\n")
    return out


def snapshot_seeds():
    rng = random.Random(7)
    out = [bytes(rng.randrange(256) for _ in range(rng.randrange(8, 200))) for _ in range(24)]
    # a dict of a few typed values; a deep chain; a cycle
    out.append(bytes([11, 5, 0, 3, 97, 98, 99, 3, 7, 5, 0, 3, 255, 1, 2, 3, 4, 5, 6, 7, 5, 0, 1, 8, 0, 2, 1, 2]))
    out.append(bytes([22, 250, 60]))
    out.append(bytes([8, 3, 8, 2, 24, 0, 1]))
    return out


def fws1(v):
    """The store's snapshot encoding (src/store/store_codec.c, version 1) of a JSON-like value."""
    def varint(n):
        out = bytearray()
        while n >= 0x80:
            out.append(n & 0x7F | 0x80)
            n >>= 7
        return bytes(out) + bytes([n])

    def enc(v):
        if v is None:
            return b"\x00"
        if v is True or v is False:
            return b"\x02" if v else b"\x01"
        if isinstance(v, int):
            if -2**63 <= v < 2**63:
                return b"\x03" + varint(((v << 1) ^ (v >> 63)) & (2**64 - 1))
            t = str(v).encode()
            return b"\x04" + varint(len(t)) + t
        if isinstance(v, float):
            return b"\x05" + struct.pack("<d", v)
        if isinstance(v, str):
            t = v.encode("utf-8", "surrogatepass")
            return b"\x06" + varint(len(t)) + t
        if isinstance(v, list):
            return b"\x07" + varint(len(v)) + b"".join(enc(x) for x in v)
        return b"\x08" + varint(len(v)) + b"".join(enc(k) + enc(x) for k, x in v.items())

    return b"FWS1" + enc(v)


def snapshot_decode_seeds():
    docs = [json.loads(s) for s in json_seeds()[:30]]
    docs += [
        {"doctype": "Quotation", "name": "Q-1", "grand_total": 1500.5, "qty": 7, "flag": True, "none": None,
         "items": [{"idx": 1, "rate": 10.0, "code": "\u00dcn\u00ef\u2013c"}, {}], "tags": [], "nested": {"a": []}},
        {"s": "\ud800 \ud83d\ude00 \U0010ffff nul\x00", "big": 2**70, "neg": -2**64 - 1, "min": -2**63,
         1: "int key", 1.5: "float key", None: "null key", True: "bool key", -(2**80): "big key"},
        [float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 1e308, 0.1],
        functools.reduce(lambda x, _: [x], range(30), {}),  # nested 31 deep
        "", 0, [],
    ]
    out = [fws1(d) for d in docs]
    # a lone surrogate; then bad ones: a version, a tag, a non-minimal varint, trailing bytes
    out += [b"FWS1\x06\x03\xed\xa0\x80", b"FWS2\x00", b"FWS1\x09", b"FWS1\x03\x80\x00", b"FWS1\x00\x00"]
    return out


if __name__ == "__main__":
    write("expr", expr_seeds())
    write("tmpl", tmpl_seeds())
    write("json_parse", json_seeds())
    write("h1_response", h1_seeds())
    write("verify", verify_seeds())
    write("snapshot_write", snapshot_seeds())
    write("snapshot_decode", snapshot_decode_seeds())
