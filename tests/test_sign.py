"""sign() / verify(): public vectors, differential tests against hmac/hashlib/base64,
and verification edge cases for the three schemes (frappe, standard, github)."""
import base64
import collections.abc
import hashlib
import hmac
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import frappe_webhook_c as fwc

SCHEMES = ["frappe", "standard", "github"]
MSG_ID_RE = re.compile(r"^msg_[0-9A-Za-z]{24}$")


# ---------- reference implementation (the oracle) ----------

def as_bytes(x):
    return x.encode("utf-8") if isinstance(x, str) else bytes(x)


def ref_key(secret, scheme):
    raw = as_bytes(secret)
    if scheme == "standard" and raw.startswith(b"whsec_"):
        return base64.b64decode(raw[6:], validate=True)
    return raw


def ref_mac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def ref_sign(secret, body, scheme, msg_id=None, timestamp=None):
    key, data = ref_key(secret, scheme), as_bytes(body)
    if scheme == "frappe":
        return {"X-Frappe-Webhook-Signature": base64.b64encode(ref_mac(key, data)).decode()}
    if scheme == "github":
        return {"X-Hub-Signature-256": "sha256=" + ref_mac(key, data).hex()}
    content = f"{msg_id}.{timestamp}.".encode() + data
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(ref_mac(key, content)).decode(),
    }


# ---------- strategies ----------

# text secrets include non-ASCII and are long enough to cross HMAC's 64-byte block
text_secrets = st.text(min_size=1, max_size=150)
byte_secrets = st.binary(min_size=1, max_size=150)
whsec_secrets = st.binary(min_size=1, max_size=100).map(
    lambda b: "whsec_" + base64.b64encode(b).decode())
secrets = st.one_of(text_secrets, byte_secrets, whsec_secrets)

# large bodies by repetition: above 64 KiB the C side releases the GIL
large_bodies = st.builds(lambda chunk, n: chunk * n, st.binary(min_size=1, max_size=64),
                         st.integers(min_value=1100, max_value=3000))
raw_bodies = st.one_of(st.binary(max_size=2000), large_bodies)
bodies = st.one_of(
    st.text(max_size=500),
    st.builds(lambda b, wrap: wrap(b), raw_bodies, st.sampled_from([bytes, bytearray, memoryview])),
)
msg_ids = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                  min_size=1, max_size=127)
timestamps = st.integers(min_value=0, max_value=2**63 - 1)


def fresh(secret, body, scheme, **kw):
    """Headers signed now, i.e. acceptable to verify() with the default tolerance."""
    return fwc.sign(secret, body, scheme, **kw)


# ---------- public vectors ----------

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TS = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_standard_webhooks_vector():
    assert fwc.sign(SW_SECRET, SW_BODY, "standard", msg_id=SW_ID, timestamp=SW_TS) == {
        "webhook-id": SW_ID,
        "webhook-timestamp": str(SW_TS),
        "webhook-signature": SW_SIG,
    }
    headers = {"webhook-id": SW_ID, "webhook-timestamp": str(SW_TS), "webhook-signature": SW_SIG}
    assert fwc.verify(SW_SECRET, SW_BODY, headers, "standard", tolerance=10**12) is True
    # the vector is years old: the default tolerance must reject it
    assert fwc.verify(SW_SECRET, SW_BODY, headers, "standard") is False


def test_github_vector():
    out = fwc.sign("It's a Secret to Everybody", b"Hello, World!", "github")
    assert out == {
        "X-Hub-Signature-256":
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
    assert fwc.verify("It's a Secret to Everybody", "Hello, World!", out, "github") is True


def test_frappe_is_default_scheme():
    out = fwc.sign("secret", b"{}")
    assert list(out) == ["X-Frappe-Webhook-Signature"]
    assert out == ref_sign("secret", b"{}", "frappe")
    assert fwc.verify("secret", b"{}", out) is True


def test_header_order_and_types():
    out = fwc.sign("k", b"b", "standard", msg_id="msg_1", timestamp=5)
    assert list(out) == ["webhook-id", "webhook-timestamp", "webhook-signature"]
    assert all(type(k) is str and type(v) is str for k, v in out.items())


# ---------- differential properties ----------

@settings(deadline=None)
@given(secret=secrets, body=bodies, scheme=st.sampled_from(["frappe", "github"]))
def test_sign_matches_reference(secret, body, scheme):
    assert fwc.sign(secret, body, scheme) == ref_sign(secret, body, scheme)


@settings(deadline=None)
@given(secret=secrets, body=bodies, msg_id=msg_ids, timestamp=timestamps)
def test_standard_matches_reference(secret, body, msg_id, timestamp):
    got = fwc.sign(secret, body, "standard", msg_id=msg_id, timestamp=timestamp)
    assert got == ref_sign(secret, body, "standard", msg_id, timestamp)


@settings(deadline=None)
@given(secret=secrets, body=bodies)
def test_standard_defaults_match_reference(secret, body):
    before = int(time.time())
    got = fwc.sign(secret, body, "standard")
    after = int(time.time())
    assert MSG_ID_RE.match(got["webhook-id"])
    assert before <= int(got["webhook-timestamp"]) <= after
    assert got == ref_sign(secret, body, "standard", got["webhook-id"],
                           int(got["webhook-timestamp"]))


@given(secret=st.binary(min_size=1, max_size=40))
def test_whsec_prefix_only_decoded_for_standard(secret):
    s = "whsec_" + base64.b64encode(secret).decode()
    assert fwc.sign(s, b"x", "frappe") == ref_sign(s.encode(), b"x", "frappe")
    assert fwc.sign(s, b"x", "github") == ref_sign(s.encode(), b"x", "github")
    # bytes with the prefix are decoded like str
    # for "standard" the key is the decoded bytes, for str and bytes secrets alike
    for form in (s, s.encode()):
        assert fwc.sign(form, b"x", "standard", msg_id="m", timestamp=1) == \
            ref_sign(secret, b"x", "standard", "m", 1)


@given(data=st.binary(min_size=1, max_size=60))
def test_unpadded_whsec_accepted(data):
    padded = base64.b64encode(data).decode()
    unpadded = padded.rstrip("=")
    a = fwc.sign("whsec_" + padded, b"b", "standard", msg_id="m", timestamp=1)
    b = fwc.sign("whsec_" + unpadded, b"b", "standard", msg_id="m", timestamp=1)
    assert a == b == ref_sign(data, b"b", "standard", "m", 1)


def test_str_and_bytes_secret_agree():
    s = "sécret-ключ-🔑"
    for scheme in SCHEMES:
        kw = {"msg_id": "m", "timestamp": 1} if scheme == "standard" else {}
        assert fwc.sign(s, b"x", scheme, **kw) == fwc.sign(s.encode(), b"x", scheme, **kw)


def test_body_types_agree():
    raw = "héllo\x00wörld".encode()
    expected = ref_sign("k", raw, "frappe")
    for body in (raw, bytearray(raw), memoryview(raw), raw.decode()):
        assert fwc.sign("k", body) == expected


def test_non_contiguous_memoryview_body():
    mv = memoryview(b"abcdefgh")[::2]
    assert fwc.sign("k", mv) == ref_sign("k", b"aceg", "frappe")
    assert fwc.verify("k", mv, fwc.sign("k", b"aceg")) is True


def test_long_secret_hashed_like_hmac():
    # keys longer than the 64-byte block are hashed first, by HMAC's definition
    long_secret = b"k" * 65
    assert fwc.sign(long_secret, b"x") == fwc.sign(hashlib.sha256(long_secret).digest(), b"x")
    assert fwc.sign(b"k" * 64, b"x") == ref_sign(b"k" * 64, b"x", "frappe")


def test_concurrent_large_bodies():
    bodies_ = [bytes([i]) * (300_000 + i) for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda b: fwc.sign("k", b, "github"), bodies_))
        ok = list(pool.map(lambda bg: fwc.verify("k", bg[0], bg[1], "github"),
                           zip(bodies_, got)))
    assert got == [ref_sign("k", b, "github") for b in bodies_]
    assert all(ok)


# ---------- verify(): round trips and tampering ----------

@settings(deadline=None)
@given(secret=secrets, body=bodies, scheme=st.sampled_from(SCHEMES))
def test_verify_round_trip(secret, body, scheme):
    assert fwc.verify(secret, body, fresh(secret, body, scheme), scheme) is True


@settings(deadline=None)
@given(secret=secrets, body=raw_bodies, extra=st.binary(min_size=1, max_size=8),
       scheme=st.sampled_from(SCHEMES))
def test_verify_tampered_body(secret, body, extra, scheme):
    headers = fresh(secret, body, scheme)
    assert fwc.verify(secret, body + extra, headers, scheme) is False
    if body:
        flipped = bytes([body[0] ^ 1]) + body[1:]
        assert fwc.verify(secret, flipped, headers, scheme) is False


@given(secret=secrets, other=secrets, body=st.binary(max_size=200),
       scheme=st.sampled_from(SCHEMES))
def test_verify_wrong_secret(secret, other, body, scheme):
    key, other_key = ref_key(secret, scheme), ref_key(other, scheme)
    assume(key != other_key)
    # HMAC treats a >64-byte key and its SHA-256 digest as the same key
    assume(not (len(key) > 64 and hashlib.sha256(key).digest() == other_key))
    assume(not (len(other_key) > 64 and hashlib.sha256(other_key).digest() == key))
    headers = fresh(secret, body, scheme)
    assert fwc.verify(other, body, headers, scheme) is False


SIG_HEADER = {"frappe": "X-Frappe-Webhook-Signature", "standard": "webhook-signature",
              "github": "X-Hub-Signature-256"}


@given(body=st.binary(max_size=100), scheme=st.sampled_from(SCHEMES), data=st.data())
def test_verify_tampered_signature(body, scheme, data):
    headers = fresh("secret", body, scheme)
    name = SIG_HEADER[scheme]
    sig = headers[name]
    start = {"frappe": 0, "standard": 3, "github": 7}[scheme]
    i = data.draw(st.integers(min_value=start, max_value=len(sig) - 1))
    alphabet = "0123456789abcdef" if scheme == "github" else \
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    c = data.draw(st.sampled_from(alphabet).filter(lambda ch: ch != sig[i]))
    tampered = sig[:i] + c + sig[i + 1:]
    # a base64 tail char can differ in unused bits only: still a different string
    assert fwc.verify("secret", body, {**headers, name: tampered}, scheme) is False
    assert fwc.verify("secret", body, {**headers, name: sig[:-1]}, scheme) is False
    assert fwc.verify("secret", body, {**headers, name: sig + "A"}, scheme) is False
    assert fwc.verify("secret", body, {**headers, name: ""}, scheme) is False


def test_verify_standard_tampered_id_and_timestamp():
    h = fresh("secret", b"body", "standard", msg_id="msg_abc")
    assert fwc.verify("secret", b"body", h, "standard") is True
    assert fwc.verify("secret", b"body", {**h, "webhook-id": "msg_abd"}, "standard") is False
    ts = int(h["webhook-timestamp"])
    assert fwc.verify("secret", b"body", {**h, "webhook-timestamp": str(ts + 1)},
                      "standard") is False


# ---------- verify(): Standard Webhooks specifics ----------

def test_verify_multiple_signatures():
    h = fresh(SW_SECRET, SW_BODY, "standard")
    good = h["webhook-signature"]
    bogus = "v1," + base64.b64encode(b"\0" * 32).decode()
    for sig in (f"{bogus} {good}", f"{good} {bogus}", f"v1a,xyz {good}",
                f"v2,{good[3:]} {good}", f"{bogus}  {good}  ", f"v1,short {good} v1,"):
        assert fwc.verify(SW_SECRET, SW_BODY, {**h, "webhook-signature": sig}, "standard") is True
    for sig in (bogus, f"v2,{good[3:]}", f"{bogus} {bogus}", good[3:], f"v1, {good[3:]}",
                f"v1,{good[3:]}x", "v1," + good[4:]):
        assert fwc.verify(SW_SECRET, SW_BODY, {**h, "webhook-signature": sig}, "standard") is False


def test_verify_timestamp_tolerance():
    now = int(time.time())
    for offset, tolerance, expected in [
        (0, 0, True), (-100, 300, True), (100, 300, True),
        (-400, 300, False), (400, 300, False),  # too old, too far in the future
        (-400, 500, True), (-10**9, 2**80, True),  # huge tolerance means "any"
    ]:
        ts = now + offset
        h = fwc.sign(SW_SECRET, SW_BODY, "standard", timestamp=ts)
        assert fwc.verify(SW_SECRET, SW_BODY, h, "standard", tolerance=tolerance) is expected, \
            (offset, tolerance)
    h = fwc.sign(SW_SECRET, SW_BODY, "standard", timestamp=now - 301)
    assert fwc.verify(SW_SECRET, SW_BODY, h, "standard") is False
    h = fwc.sign(SW_SECRET, SW_BODY, "standard", timestamp=now - 250)
    assert fwc.verify(SW_SECRET, SW_BODY, h, "standard") is True


@pytest.mark.parametrize("bad", ["", "abc", "1614265330.5", "1e9", "-5", "+5", "0x10",
                                 "1 2", "99999999999999999999999", "１２３",
                                 "161426532:"])  # ':' is '0' + 10: 161426532 * 10 + 10
def test_verify_non_integer_timestamp(bad):
    headers = {"webhook-id": SW_ID, "webhook-timestamp": bad, "webhook-signature": SW_SIG}
    assert fwc.verify(SW_SECRET, SW_BODY, headers, "standard", tolerance=2**62) is False


def test_verify_timestamp_leading_zeros_and_whitespace():
    # the reference libraries parse the header with int() and sign the canonical number
    headers = {"webhook-id": SW_ID, "webhook-timestamp": f" 00{SW_TS}\t",
               "webhook-signature": f" {SW_SIG} "}
    assert fwc.verify(SW_SECRET, SW_BODY, headers, "standard", tolerance=2**62) is True


# ---------- verify(): header lookup ----------

class Headers(collections.abc.Mapping):
    """A minimal non-dict Mapping."""

    def __init__(self, pairs):
        self._pairs = list(pairs)

    def __getitem__(self, key):
        for k, v in self._pairs:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self):
        return (k for k, _ in self._pairs)

    def __len__(self):
        return len(self._pairs)


@given(scheme=st.sampled_from(SCHEMES), data=st.data())
def test_verify_case_insensitive(scheme, data):
    h = fresh("secret", b"body", scheme)
    recased = {}
    for name, value in h.items():
        flips = data.draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
        recased["".join(c.swapcase() if f else c for c, f in zip(name, flips))] = value
    assert fwc.verify("secret", b"body", recased, scheme) is True
    assert fwc.verify("secret", b"body", Headers(recased.items()), scheme) is True
    assert fwc.verify("secret", b"body", {k.upper(): v for k, v in h.items()}, scheme) is True
    assert fwc.verify("secret", b"body", {k.lower(): v for k, v in h.items()}, scheme) is True


def test_verify_bytes_headers():
    for scheme in SCHEMES:
        h = fresh("secret", b"body", scheme)
        as_b = {k.encode(): v.encode() for k, v in h.items()}
        assert fwc.verify("secret", b"body", as_b, scheme) is True


def test_verify_extra_headers_ignored():
    h = fresh("secret", b"body", "github")
    h = {"Content-Type": "application/json", **h, "X-Other": 5, 7: "x", None: None}
    assert fwc.verify("secret", b"body", h, "github") is True


@pytest.mark.parametrize("scheme", SCHEMES)
def test_verify_missing_header(scheme):
    h = fresh("secret", b"body", scheme)
    assert fwc.verify("secret", b"body", {}, scheme) is False
    for name in h:
        partial = {k: v for k, v in h.items() if k != name}
        assert fwc.verify("secret", b"body", partial, scheme) is False
    # a signature of another scheme is not this scheme's header
    other = fresh("secret", b"body", "github" if scheme != "github" else "frappe")
    assert fwc.verify("secret", b"body", other, scheme) is False


@pytest.mark.parametrize("scheme", SCHEMES)
def test_verify_garbled_header_values(scheme):
    h = fresh("secret", b"body", scheme)
    for name in h:
        for garbled in (None, 5, ["x"], "\ud800"):
            assert fwc.verify("secret", b"body", {**h, name: garbled}, scheme) is False


@pytest.mark.parametrize("scheme", SCHEMES)
def test_verify_duplicate_header_is_rejected(scheme):
    h = fresh("secret", b"body", scheme)
    name = SIG_HEADER[scheme]
    dup = {**h, name.upper() if name != name.upper() else name.lower(): h[name]}
    assert fwc.verify("secret", b"body", dup, scheme) is False


def test_verify_github_forms():
    h = fresh("secret", b"body", "github")
    hexsig = h["X-Hub-Signature-256"][7:]
    ok = lambda v: fwc.verify("secret", b"body", {"X-Hub-Signature-256": v}, "github")  # noqa: E731
    assert ok("sha256=" + hexsig) is True
    assert ok("sha256=" + hexsig.upper()) is True  # same digest
    assert ok(hexsig) is False
    assert ok("sha1=" + hexsig) is False
    assert ok("SHA256=" + hexsig) is False
    assert ok("sha256=" + hexsig[:-1] + "g") is False


def test_verify_frappe_needs_canonical_base64():
    h = fresh("secret", b"body", "frappe")
    sig = h["X-Frappe-Webhook-Signature"]
    ok = lambda v: fwc.verify("secret", b"body", {"x-frappe-webhook-signature": v})  # noqa: E731
    assert ok(sig) is True
    assert ok(f"  {sig}\t") is True
    assert ok(sig.rstrip("=")) is False
    assert ok(sig.lower()) is False


# ---------- argument errors ----------

@pytest.mark.parametrize("scheme", ["", "Frappe", "GITHUB", "standard ", "sha256", "v1"])
def test_unknown_scheme(scheme):
    with pytest.raises(ValueError, match="scheme"):
        fwc.sign("k", b"b", scheme)
    with pytest.raises(ValueError, match="scheme"):
        fwc.verify("k", b"b", {}, scheme)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_a", "whsec_!!!!", "whsec_QUJD===",
                                    "whsec_QU=JD", "whsec_QUJD\n", "whsec_ QUJD", "whsec_-_-_",
                                    "whsec_QUJDRA=", b"whsec_QQ==="])
def test_bad_whsec(secret):
    with pytest.raises(ValueError, match="whsec_"):
        fwc.sign(secret, b"b", "standard")
    # bad arguments raise even when the headers are missing or valid
    with pytest.raises(ValueError, match="whsec_"):
        fwc.verify(secret, b"b", {}, "standard")
    # other schemes use the secret's bytes as they are
    assert fwc.sign(secret, b"b", "frappe") == ref_sign(secret, b"b", "frappe")


def test_bad_value_arguments():
    with pytest.raises(ValueError):
        fwc.sign("", b"b")
    with pytest.raises(ValueError):
        fwc.sign(b"", b"b", "github")
    with pytest.raises(ValueError):
        fwc.verify("", b"b", {})
    with pytest.raises(ValueError):
        fwc.sign("\ud800", b"b")
    with pytest.raises(ValueError):
        fwc.verify("a\udfffb", b"b", {})
    with pytest.raises(ValueError):
        fwc.sign("k", "\ud800")
    with pytest.raises(ValueError):
        fwc.sign("k", b"b", "standard", timestamp=-1)
    with pytest.raises(ValueError):
        fwc.sign("k", b"b", "standard", timestamp=2**63)
    with pytest.raises(ValueError):
        fwc.verify("k", b"b", {}, "standard", tolerance=-1)
    for bad_id in ("", "msg id", "msg_é", "x" * 128, "a\x00b", "a\nb", "\ud800"):
        with pytest.raises(ValueError, match="msg_id"):
            fwc.sign("k", b"b", "standard", msg_id=bad_id)
    assert fwc.sign("k", b"b", "standard", msg_id="x" * 127, timestamp=0)["webhook-id"] == "x" * 127


@pytest.mark.parametrize("call", [
    lambda: fwc.sign(None, b"b"),
    lambda: fwc.sign(123, b"b"),
    lambda: fwc.sign(["k"], b"b"),
    lambda: fwc.sign("k", None),
    lambda: fwc.sign("k", 5),
    lambda: fwc.sign("k", {"a": 1}),
    lambda: fwc.sign("k", b"b", 1),
    lambda: fwc.sign("k", b"b", None),
    lambda: fwc.sign("k", b"b", "standard", msg_id=5),
    lambda: fwc.sign("k", b"b", "standard", msg_id=b"msg_1"),
    lambda: fwc.sign("k", b"b", "standard", timestamp="1"),
    lambda: fwc.sign("k", b"b", "standard", timestamp=1.5),
    lambda: fwc.sign("k", b"b", "standard", timestamp=True),
    lambda: fwc.sign("k", b"b", "standard", "m", 1),  # msg_id/timestamp are keyword-only
    lambda: fwc.sign("k"),
    lambda: fwc.verify(None, b"b", {}),
    lambda: fwc.verify(1.5, b"b", {}),
    lambda: fwc.verify("k", None, {}),
    lambda: fwc.verify("k", 7, {}),
    lambda: fwc.verify("k", b"b", None),
    lambda: fwc.verify("k", b"b", [("X-Frappe-Webhook-Signature", "x")]),
    lambda: fwc.verify("k", b"b", "X-Frappe-Webhook-Signature"),
    lambda: fwc.verify("k", b"b", {}, 3),
    lambda: fwc.verify("k", b"b", {}, "standard", tolerance="300"),
    lambda: fwc.verify("k", b"b", {}, "standard", tolerance=1.5),
    lambda: fwc.verify("k", b"b", {}, "standard", 300),  # tolerance is keyword-only
])
def test_type_errors(call):
    with pytest.raises(TypeError):
        call()


def test_index_ints_accepted():
    class I:
        def __index__(self):
            return 1614265330
    assert fwc.sign(SW_SECRET, SW_BODY, "standard", msg_id=SW_ID, timestamp=I()) == \
        fwc.sign(SW_SECRET, SW_BODY, "standard", msg_id=SW_ID, timestamp=SW_TS)


def test_items_errors_propagate():
    class Broken(collections.abc.Mapping):
        def __getitem__(self, k):
            raise KeyError(k)

        def __iter__(self):
            raise RuntimeError("boom")

        def __len__(self):
            return 0
    with pytest.raises(RuntimeError, match="boom"):
        fwc.verify("k", b"b", Broken())


# ---------- message ids ----------

def test_fresh_msg_ids_unique_and_well_formed():
    ids = [fwc.sign("k", b"", "standard")["webhook-id"] for _ in range(5000)]
    assert all(MSG_ID_RE.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    # the random part (15 characters after the time): all 62 characters show up, at
    # roughly equal rates (no modulo bias toward 0-7)
    counts = collections.Counter("".join(i[13:] for i in ids))
    assert len(counts) == 62
    expected = 5000 * 15 / 62
    assert all(0.8 * expected < c < 1.2 * expected for c in counts.values()), counts
    # the first 9 characters are the creation time in microseconds (base62, ASCII order), so
    # ids sort by creation time: a store's index of them grows at its end
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    stamps = [sum(alphabet.index(c) * 62 ** (8 - k) for k, c in enumerate(i[4:13])) for i in ids]
    assert stamps == sorted(stamps) and [i[4:13] for i in ids] == sorted(i[4:13] for i in ids)
    assert abs(stamps[-1] / 1e6 - time.time()) < 60
