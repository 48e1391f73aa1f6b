"""Hypothesis strategies for scoring requests: hostile bodies, each holding one thing that must be refused in one
field of one record (and the start the 400 message must have: the record and the field), and bodies of possible
but unusual records, which must be scored. Shared by the unit tests of ``score.handle`` and the tests under a real
azmlinfsrv."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from ml_assets.src.contracts import feature_schema as fs

SAMPLE_REQUEST = Path(__file__).resolve().parents[1] / "ml_assets" / "endpoints" / "sample-request.json"
SAMPLE_RECORDS: list[dict] = json.loads(SAMPLE_REQUEST.read_text())["data"]
_MARK = "@@HOSTILE@@"


@dataclass(frozen=True)
class HostileBody:
    body: bytes
    kind: str
    expected: str  # how the 400 message starts: "record <index>, field '<name>'"

    def __repr__(self) -> str:  # hypothesis prints failing examples: keep megabyte bodies out of the report
        return f"HostileBody(kind={self.kind!r}, expected={self.expected!r}, body={self.body[:200]!r}…)"


def _body(records: list[dict], index: int, field: str, raw: bytes) -> bytes:
    """The request with ``raw`` (JSON text, possibly not valid) as the value of ``field`` in record ``index``."""
    marked = [dict(r) for r in records]
    marked[index][field] = _MARK
    return json.dumps({"data": marked}).encode().replace(json.dumps(_MARK).encode(), raw)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


_NUMERIC = sorted(fs.VALUE_RULES)
_CATEGORIES = list(fs.CATEGORICAL_FEATURES)
_INVALID_UTF8 = st.sampled_from([b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88"])
_PREFIX = st.text(alphabet="abcxyz _-", max_size=6).map(str.encode)


def _surrogate_escape() -> st.SearchStrategy[tuple[str, bytes]]:
    return st.tuples(st.sampled_from(_CATEGORIES), _PREFIX, st.integers(0xD800, 0xDFFF)).map(
        lambda t: (t[0], b'"' + t[1] + b"\\u%04x" % t[2] + b'"')
    )


def _invalid_utf8() -> st.SearchStrategy[tuple[str, bytes]]:
    return st.tuples(st.sampled_from(_CATEGORIES), _PREFIX, _INVALID_UTF8).map(
        lambda t: (t[0], b'"' + t[1] + t[2] + b'"')
    )


def _deep_nesting() -> st.SearchStrategy[tuple[str, bytes]]:
    def nest(field: str, depth: int, objects: bool) -> tuple[str, bytes]:
        opening, closing = (b'{"a":', b"}") if objects else (b"[", b"]")
        return field, opening * depth + b"1" + closing * depth

    return st.builds(nest, st.sampled_from(fs.FEATURES), st.integers(1_100, 30_000), st.booleans())


def _huge_integer() -> st.SearchStrategy[tuple[str, bytes]]:
    literal = st.one_of(
        st.integers(309, 4_000).map(lambda k: str(10**k).encode()),  # beyond a float
        st.integers(4_301, 50_000).map(lambda n: b"1" * n),  # beyond Python's int conversion limit
        st.integers(21, 308).map(lambda k: b"-" + str(7 * 10**k).encode()),
    )
    return st.tuples(st.sampled_from(_NUMERIC), literal)


def _non_finite() -> st.SearchStrategy[tuple[str, bytes]]:
    literal = st.one_of(
        st.integers(309, 100_000).map(lambda k: b"1e%d" % k),
        st.integers(309, 100_000).map(lambda k: b"-2.5E+%d" % k),
        st.sampled_from([b"NaN", b"Infinity", b"-Infinity"]),
    )
    return st.tuples(st.sampled_from(_NUMERIC), literal)


def _wrong_type() -> st.SearchStrategy[tuple[str, bytes]]:
    not_number = st.one_of(
        st.none(), st.booleans(), st.text(max_size=8), st.lists(st.integers(), max_size=3), st.just({"v": 1})
    )
    not_string = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(-1e6, 1e6), st.lists(st.text(max_size=3), max_size=2)
    )
    return st.one_of(
        st.tuples(st.sampled_from(_NUMERIC), not_number.map(_json)),
        st.tuples(st.sampled_from(_CATEGORIES), not_string.map(_json)),
    )


def _impossible_value() -> st.SearchStrategy[tuple[str, bytes]]:
    def outside(field: str) -> st.SearchStrategy[tuple[str, bytes]]:
        rule = fs.VALUE_RULES[field]
        low, high = rule.possible
        values = st.one_of(
            st.floats(max_value=low, exclude_max=True, allow_nan=False, allow_infinity=False),
            st.floats(min_value=high, exclude_min=True, allow_nan=False, allow_infinity=False),
            st.integers(max_value=math.ceil(low) - 1, min_value=-(10**19)),
            st.integers(min_value=math.floor(high) + 1, max_value=10**19),
        )
        if rule.whole:
            values = st.one_of(values, st.floats(low, high).filter(lambda v: not v.is_integer()))
        return values.map(lambda v: (field, _json(v)))

    status = st.text(max_size=10).filter(lambda s: s not in fs.REPAYMENT_STATUS_VALUES)
    return st.one_of(
        st.sampled_from(_NUMERIC).flatmap(outside),
        st.tuples(st.sampled_from(sorted(fs.CLOSED_CATEGORIES)), status.map(_json)),
    )


def _repeated_key() -> st.SearchStrategy[tuple[str, bytes]]:
    def repeat(field: str) -> tuple[str, bytes]:
        value = _json(SAMPLE_RECORDS[0][field])
        return field, value + b', "' + field.encode() + b'": ' + value

    return st.sampled_from(fs.FEATURES).map(repeat)


_KINDS = {
    "surrogate escape": _surrogate_escape,
    "invalid UTF-8": _invalid_utf8,
    "deep nesting": _deep_nesting,
    "huge integer": _huge_integer,
    "non-finite number": _non_finite,
    "wrong type": _wrong_type,
    "impossible value": _impossible_value,
    "repeated key": _repeated_key,
}


@st.composite
def hostile_bodies(draw: st.DrawFn) -> HostileBody:
    """One hostile thing in one field of one record of a request of 1-4 otherwise valid records."""
    records = draw(st.lists(st.sampled_from(SAMPLE_RECORDS), min_size=1, max_size=4))
    index = draw(st.integers(0, len(records) - 1))
    kind = draw(st.sampled_from([*_KINDS, "odd key", "many fields"]))
    if kind == "odd key":  # an unknown column whose name is not valid Unicode
        key = draw(_PREFIX).decode() + chr(draw(st.integers(0xD800, 0xDFFF)))
        raw_key = json.dumps(key).encode()
        field = fs.FEATURES[-1]
        body = _body(records, index, field, _json(records[index][field]) + b", " + raw_key + b": 1")
        return HostileBody(body, kind, f"record {index}, field {fs.show_value(key)}")
    if kind == "many fields":
        n = draw(st.integers(1, 5_000))
        field = fs.FEATURES[-1]
        extra = b"".join(b', "extra_%d": %d' % (i, i) for i in range(n))
        return HostileBody(
            _body(records, index, field, _json(records[index][field]) + extra), kind, f"record {index}, field 'extra_0'"
        )
    field, raw = draw(_KINDS[kind]())
    return HostileBody(_body(records, index, field, raw), kind, f"record {index}, field {field!r}")


def _possible(field: str) -> st.SearchStrategy[object]:
    rule = fs.VALUE_RULES[field]
    low, high = rule.possible
    if rule.whole:
        return st.integers(int(low), int(high))
    return st.one_of(
        st.floats(low, high),
        st.integers(math.ceil(low), math.floor(high)),
        st.sampled_from([low, high, *rule.training]),
    )


@st.composite
def unusual_records(draw: st.DrawFn) -> dict:
    """A record of possible values, often outside the training range, and unknown values of the open categories."""
    record = dict(draw(st.sampled_from(SAMPLE_RECORDS)))
    for field in draw(st.sets(st.sampled_from(fs.FEATURES), max_size=len(fs.FEATURES))):
        if field in fs.VALUE_RULES:
            record[field] = draw(_possible(field))
        elif field in fs.CLOSED_CATEGORIES:
            record[field] = draw(st.sampled_from(fs.CATEGORIES[field]))
        else:
            record[field] = draw(st.text(max_size=64))
    return record
