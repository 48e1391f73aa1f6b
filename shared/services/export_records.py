"""The exported Parquet: one fixed schema, and re-assembled requests → Arrow tables, column-wise.

Schema (declared once, :data:`SCHEMA`; types never drift with the data):

====================  =========================  ==========================================================
column                type                       from the console line
====================  =========================  ==========================================================
``request_id``        string                     ``request_id``
``record_index``      int32                      position of the record in its request (0-based)
``time``              timestamp[us, UTC]         the request's ``time`` (when ``score.py`` scored it)
``deployment``        string                     ``deployment``
``model_name``        string                     ``service`` = ``online/<model>/<version>``
``model_version``     string                     ``service``
23 features           string (categorical),      ``rows`` by ``columns`` name; ``age`` (an integer in the
                      int64 (``age``),           schema) must be integral, the others any finite number
                      float64 (other numerics)
``prediction``        float64                    ``predictions``
====================  =========================  ==========================================================

The column names and why ``model_name``/``model_version`` are not ``model``/``version`` are the contract's
(:mod:`ml_assets.src.contracts.export_layout`), which the drift component reads with.

Conversion is column-wise: the rows of all requests are transposed once and each column becomes one Arrow
array after a type check over the whole column (``set(map(type, column))``). Only when a column fails is
each request checked value by value, so the offending requests (and only they) go to quarantine with the
field named. Extra columns in a line are ignored; a missing feature rejects the request.

Imports ``pyarrow``: import this module only inside the code path that exports.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate, chain, repeat
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ml_assets.src.contracts.console_log import Request
from ml_assets.src.contracts.export_layout import (
    DEPLOYMENT,
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTION,
    RECORD_ID,
    RECORD_INDEX,
    REQUEST_ID,
    TIME,
)
from ml_assets.src.contracts.feature_schema import CATEGORIES, FEATURES, NUMERIC

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _feature_type(name: str) -> pa.DataType:
    if name in CATEGORIES:
        return pa.string()
    return pa.int64() if NUMERIC[name] == "int" else pa.float64()


SCHEMA: pa.Schema = pa.schema(
    [
        pa.field(REQUEST_ID, pa.string(), nullable=False),
        pa.field(RECORD_INDEX, pa.int32(), nullable=False),
        pa.field(RECORD_ID, pa.string(), nullable=True),
        pa.field(TIME, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(DEPLOYMENT, pa.string(), nullable=False),
        pa.field(MODEL_NAME, pa.string(), nullable=False),
        pa.field(MODEL_VERSION, pa.string(), nullable=False),
        *(pa.field(name, _feature_type(name), nullable=False) for name in FEATURES),
        pa.field(PREDICTION, pa.float64(), nullable=False),
    ],
    metadata={"mlops.export.schema": "1"},
)

COMPRESSION = "zstd"


@dataclass(frozen=True)
class Rejection:
    request: Request
    reason: str


@dataclass
class Converted:
    table: pa.Table
    rejected: list[Rejection]


def request_time(request: Request) -> datetime:
    """The request's ``time`` as an aware UTC datetime. Raises ValueError."""
    moment = datetime.fromisoformat(request.time.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {request.time!r} has no time zone")
    return moment


def to_table(requests: Sequence[Request], times: Sequence[datetime]) -> Converted:
    """The Arrow table of ``requests`` (``times[i]`` is request i's parsed time) and the rejected ones."""
    rejected: list[Rejection] = []
    kept: list[int] = []
    orders: dict[tuple[str, ...], list[int] | None] = {}
    for i, request in enumerate(requests):
        if request.columns not in orders:
            orders[request.columns] = _column_order(request.columns)
        if orders[request.columns] is None:
            missing = [f for f in FEATURES if f not in request.columns]
            rejected.append(Rejection(request, f"request {request.request_id}: missing feature(s) {missing}"))
        elif not _encodable(request.request_id, request.deployment, request.model_version, *_ids(request)):
            rejected.append(Rejection(request, f"request {request.request_id!r}: an id or name is not valid Unicode"))
        else:
            kept.append(i)
    while True:
        bad = _build(requests, times, kept, orders)
        if isinstance(bad, pa.Table):
            return Converted(bad, rejected)
        # A column failed its check: find the offending requests value by value, drop them, rebuild.
        still: list[int] = []
        for i in kept:
            reason = _check_request(requests[i], orders[requests[i].columns])
            if reason is None:
                still.append(i)
            else:
                rejected.append(Rejection(requests[i], f"request {requests[i].request_id}: {reason}"))
        if len(still) == len(kept):  # pragma: no cover - the column and value checks disagree
            raise RuntimeError(f"column {bad!r} failed its check but no request did")
        kept = still


def _ids(request: Request) -> list[str]:
    return [i for i in request.record_ids or () if i is not None]


def _record_ids(picked: Sequence[Request], rows: int) -> pa.Array:
    """The record_id column: null where the client sent none (the common case: no Python list at all)."""
    if not any(r.record_ids for r in picked):
        return pa.nulls(rows, pa.string())
    values = chain.from_iterable(r.record_ids if r.record_ids else repeat(None, len(r.rows)) for r in picked)
    return pa.array(list(values), pa.string())


def _encodable(*texts: str) -> bool:
    try:
        for text in texts:
            text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _column_order(columns: tuple[str, ...]) -> list[int] | None:
    if columns == FEATURES:
        return list(range(len(FEATURES)))
    index = {name: i for i, name in enumerate(columns)}
    if any(f not in index for f in FEATURES):
        return None
    return [index[f] for f in FEATURES]


def _build(
    requests: Sequence[Request],
    times: Sequence[datetime],
    kept: list[int],
    orders: dict[tuple[str, ...], list[int] | None],
) -> pa.Table | str:
    """The table, or the name of the first column whose type check failed."""
    picked = [requests[i] for i in kept]
    counts = [len(r.rows) for r in picked]
    width = len(FEATURES)
    rows: Any = chain.from_iterable(
        r.rows if r.columns == FEATURES else ([row[j] for j in orders[r.columns] or ()] for row in r.rows)
        for r in picked
    )
    flat = list(chain.from_iterable(rows))  # row-major values; column j is flat[j::width]
    take = _int32(list(chain.from_iterable(repeat(k, n) for k, n in enumerate(counts))))
    arrays: list[pa.Array] = [
        pc.take(_strings([r.request_id for r in picked]), take),
        _int32(list(chain.from_iterable(map(range, counts)))),
        _record_ids(picked, sum(counts)),
        pc.take(_buffer(_TIME, array("q", [_micros(times[i]) for i in kept])), take),
        pc.take(_strings([r.deployment for r in picked]), take),
        pc.take(_strings([r.model_name for r in picked]), take),
        pc.take(_strings([r.model_version for r in picked]), take),
    ]
    for j, name in enumerate(FEATURES):
        column = _COLUMN[_kind(name)](flat[j::width])
        if column is None:
            return name
        arrays.append(column)
    del flat
    prediction = _float_column(list(chain.from_iterable(r.predictions for r in picked)))
    if prediction is None:
        return PREDICTION
    arrays.append(prediction)
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


# Arrays are built from buffers (``array`` module → ``pa.Array.from_buffers``), not with ``pa.array`` on
# Python lists: several times faster for floats, and ``pa.array`` imports pandas whenever it is installed.
_TIME = pa.timestamp("us", tz="UTC")
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def _buffer(kind: pa.DataType, values: array[Any]) -> pa.Array:
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def _int32(values: list[int]) -> pa.Array:
    return _buffer(pa.int32(), array("i", values))


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _strings(values: Sequence[str]) -> pa.Array:
    """A string array of ``values``. Raises TypeError if one is not a ``str``, UnicodeEncodeError on a lone
    surrogate. Joined with NUL and split by Arrow (two C passes) unless a value contains NUL itself."""
    if not values:
        return pa.Array.from_buffers(pa.string(), 0, [None, pa.py_buffer(array("i", [0])), pa.py_buffer(b"")])
    joined = "\x00".join(values)
    if joined.count("\x00") == len(values) - 1:
        data = joined.encode()
        whole = pa.Array.from_buffers(
            pa.string(), 1, [None, pa.py_buffer(array("i", [0, len(data)])), pa.py_buffer(data)]
        )
        return pc.split_pattern(whole, "\x00").flatten()
    encoded = [v.encode() for v in values]
    offsets = array("i", [0])
    offsets.extend(accumulate(map(len, encoded)))
    return pa.Array.from_buffers(
        pa.string(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )


def _kind(name: str) -> str:
    if name in CATEGORIES:
        return "str"
    return NUMERIC[name]


def _str_column(values: list[Any]) -> pa.Array | None:
    try:
        return _strings(values)
    except (TypeError, UnicodeEncodeError):
        return None


def _float_column(values: list[Any]) -> pa.Array | None:
    if values and not set(map(type, values)) <= {float, int}:
        return None
    try:
        column = _buffer(pa.float64(), array("d", values))
    except OverflowError:  # an int beyond the float range
        return None
    if len(column) and not pc.all(pc.is_finite(column)).as_py():
        return None
    return column


def _int_column(values: list[Any]) -> pa.Array | None:
    types = set(map(type, values))
    if values and not types <= {float, int}:
        return None
    try:
        if float not in types:
            return _buffer(pa.int64(), array("q", values))
        as_float = _buffer(pa.float64(), array("d", values))
        if not pc.all(pc.and_(pc.is_finite(as_float), pc.equal(as_float, pc.floor(as_float)))).as_py():
            return None
        return pc.cast(as_float, pa.int64())  # safe cast: fails outside the int64 range
    except (pa.ArrowInvalid, OverflowError):
        return None


_COLUMN: dict[str, Callable[[list[Any]], pa.Array | None]] = {
    "str": _str_column,
    "float": _float_column,
    "int": _int_column,
}


def _check_request(request: Request, order: list[int] | None) -> str | None:
    """Why ``request`` cannot be exported (value by value), or None."""
    assert order is not None
    for r, row in enumerate(request.rows):
        for name, j in zip(FEATURES, order, strict=True):
            problem = _check_value(_kind(name), row[j])
            if problem:
                return f"record {r}, field {name!r}: {problem}"
        problem = _check_value("float", request.predictions[r])
        if problem:
            return f"record {r}, prediction: {problem}"
    return None


def _check_value(kind: str, value: Any) -> str | None:
    if kind == "str":
        if type(value) is not str:
            return f"expected a string, got {_describe(value)}"
        try:
            value.encode()
        except UnicodeEncodeError:
            return f"{value!r} is not valid Unicode"
        return None
    if type(value) not in (int, float):
        return f"expected a number, got {_describe(value)}"
    if type(value) is float and not math.isfinite(value):
        return f"expected a finite number, got {value!r}"
    if kind == "int":
        if type(value) is float and not value.is_integer():
            return f"expected an integer, got {value!r}"
        if not _INT64_MIN <= value <= _INT64_MAX:
            return f"{value!r} is outside the 64-bit integer range"
    elif abs(value) > 1.7976931348623157e308:
        return f"{value!r} is outside the float64 range"
    return None


def _describe(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]


def parquet_bytes(table: pa.Table, metadata: dict[str, str] | None = None) -> bytes:
    """``table`` as a Parquet file (zstd, dictionary-encoded string columns), with ``metadata`` added to the
    schema's key-value metadata."""
    if metadata:
        merged = {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}}
        table = table.replace_schema_metadata(merged)
    # An Arrow buffer, not io.BytesIO: writing to a Python file object takes the GIL for every page, which
    # stalls the encoding (on the export's writer thread) behind the main thread's parsing.
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=COMPRESSION, use_dictionary=_DICTIONARY_COLUMNS)
    return sink.getvalue().to_pybytes()


# Dictionary pages only where values repeat (ids, names, categories): trying them on the float columns
# costs a third of the write time for nothing (amounts with cents rarely repeat), zstd does the rest.
_DICTIONARY_COLUMNS = [f.name for f in SCHEMA if f.type == pa.string() and f.name != RECORD_ID]
