"""The snapshot: one walk over the document, normalised as Frappe does, with clear
errors (and a $.path) for what cannot be sent."""
import collections
import datetime
import decimal
import json
import sys
import uuid

import pytest

import frappe_webhook_c as fwc
from frappe_webhook_c import _core
from support.frappe_reference import _dict, as_dict


def test_dates_become_str_like_frappe():
    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    doc = {
        "dt": datetime.datetime(2026, 1, 2, 3, 4, 5), "dt_us": datetime.datetime(1, 1, 1, 0, 0, 0, 7),
        "dt_tz": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz), "d": datetime.date(999, 12, 31),
        "t": datetime.time(23, 59, 59, 999999), "t0": datetime.time(0, 0), "t_tz": datetime.time(1, 2, tzinfo=tz),
        "td": datetime.timedelta(days=-1, seconds=5), "td2": datetime.timedelta(days=2, microseconds=3),
        "td1": datetime.timedelta(days=1), "td0": datetime.timedelta(0),
        "tdbig": datetime.timedelta(days=-999999999), "dec": decimal.Decimal("1.10"),
        "uuid": uuid.UUID(int=5), "set": {1}, "bytes": b"x",
        "nested": [{"d": datetime.date(2026, 5, 6)}],
    }
    expected = json.loads(json.dumps(as_dict(doc), default=str))
    assert _core._snapshot(doc) == expected


def test_datetime_subclass_uses_its_str():
    class MyDate(datetime.date):
        def __str__(self):
            return "custom"

    assert _core._snapshot({"d": MyDate(2020, 1, 1)}) == {"d": "custom"}


def test_accepts_mapping_dict_subclass_and_as_dict():
    class Doc:
        def as_dict(self, convert_dates_to_str=False):
            assert convert_dates_to_str is True
            return {"name": "X", "when": datetime.date(2026, 1, 1)}

    class M(collections.abc.Mapping):
        def __init__(self, d):
            self.d = d

        def __getitem__(self, k):
            return self.d[k]

        def __iter__(self):
            return iter(self.d)

        def __len__(self):
            return len(self.d)

    assert _core._snapshot(Doc()) == {"name": "X", "when": "2026-01-01"}
    assert _core._snapshot(_dict(a=1)) == {"a": 1}
    assert _core._snapshot(collections.OrderedDict(a=1)) == {"a": 1}
    assert _core._snapshot(M({"a": [1]})) == {"a": [1]}
    with pytest.raises(TypeError, match="document must be a dict"):
        _core._snapshot([1, 2])
    with pytest.raises(TypeError, match="as_dict"):
        class Bad:
            def as_dict(self, **kw):
                return [1]
        _core._snapshot(Bad())


def test_nested_non_dict_mapping_is_stringified_like_json():
    inner = collections.UserDict(a=1)
    assert _core._dumps({"x": inner}) == json.dumps({"x": inner}, default=str)


def test_cycle_reports_path():
    doc = {"items": [{}, {}, {"name": "c"}]}
    doc["items"][2]["parent"] = doc
    with pytest.raises(ValueError, match=r"Circular reference detected at \$\.items\[2\]\.parent"):
        _core._snapshot(doc)
    lst = []
    lst.append(lst)
    with pytest.raises(ValueError, match=r"Circular reference detected at \$\.x\[0\]"):
        _core._snapshot({"x": lst})


def test_shared_non_cyclic_containers_are_fine():
    shared = {"a": 1}
    assert _core._snapshot({"x": shared, "y": [shared, shared]}) == {"x": shared, "y": [shared, shared]}


def test_depth_limit():
    ok = {}
    cur = ok
    for _ in range(fwc.MAX_DEPTH - 1):
        cur["n"] = {}
        cur = cur["n"]
    _core._snapshot(ok)
    cur["n"] = {}
    with pytest.raises(ValueError, match=f"deeper than {fwc.MAX_DEPTH} levels"):
        _core._snapshot(ok)
    deep = []
    for _ in range(100000):
        deep = [deep]
    with pytest.raises(ValueError, match="deeper"):
        _core._snapshot({"d": deep})


def test_bad_key_type_error_with_path():
    with pytest.raises(TypeError, match=r"keys must be str, int, float, bool or None, not tuple at \$\.items\[0\]\[\(1, 2\)\]"):
        _core._snapshot({"items": [{(1, 2): 1}]})
    with pytest.raises(TypeError, match=r"not tuple at \$\[\(1,\)\]"):
        _core._snapshot({(1,): 1})
    with pytest.raises(TypeError, match=r"at \$\['a b'\]\[frozenset"):
        _core._snapshot({"a b": {frozenset(): 1}})


def test_str_failure_is_reported_with_path():
    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(ValueError, match=r"cannot snapshot value at \$\.x\[1\]") as e:
        _core._snapshot({"x": [1, Boom()]})
    assert isinstance(e.value.__context__, RuntimeError)


def test_mutation_during_snapshot_is_an_error_not_a_crash():
    doc = {"a": None, "b": 1}

    class Mutator:
        def __str__(self):
            doc.clear()
            return "m"

    doc["a"] = Mutator()
    with pytest.raises(RuntimeError, match="changed size"):
        _core._snapshot(doc)
    lst = [None, 1, 2]

    class ListMutator:
        def __str__(self):
            lst.clear()
            return "m"

    lst[0] = ListMutator()
    with pytest.raises(RuntimeError, match="changed size"):
        _core._snapshot({"l": lst})


def test_lone_surrogates_round_trip():
    doc = {"s": "a\ud800b\udfff", "\udc00": "k"}
    assert _core._snapshot(doc) == doc
    assert _core._dumps(doc) == json.dumps(doc)


def test_snapshot_holds_no_references():
    value = object()
    doc = {"a": [value], "b": "x" * 100}
    before = sys.getrefcount(value), sys.getrefcount(doc)
    for _ in range(1000):
        _core._snapshot(doc)
    assert (sys.getrefcount(value), sys.getrefcount(doc)) == before
