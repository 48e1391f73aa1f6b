"""A scoring request's body → the rows to score, for every possible body: either parsed, or a
:class:`BadRequest` whose message says what is wrong and, where it is inside a record, names the record index
and the field. Nothing a client can send raises anything else.

Two stages, each reporting what it can see:

1. **Decode** (bytes → JSON values, :func:`decode_body`). Bytes that are not UTF-8 become lone surrogates
   (``surrogateescape``) instead of failing the whole body, so the record holding them is named at stage 2,
   like a ``\\ud800`` escape. A syntax error or a nesting too deep for the parser is located by a scan of the
   text (:func:`locate`) and names the record and field it is in. A body with an integer literal beyond Python's
   conversion limit (``"1" * 5000``) is read again with every literal longer than any possible value as a float,
   which the schema refuses by name; the common body pays for no per-integer hook.
   An object that repeats a key keeps the repetition visible, so that it is refused rather than silently
   resolved to its last value.
2. **Validate** (JSON values → rows): the request's shape here, each record against the feature schema
   (``feature_schema.validate_record``: types, valid Unicode, impossible values).

Standard library only, like the contracts: it runs in the scoring container.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from ..contracts import feature_schema
from ..contracts.feature_schema import json_type, show_value
from ..contracts.record_identity import RECORD_ID_FIELD, record_id_problem

MAX_BODY_BYTES: Final = 8 * 1024 * 1024
MAX_CATEGORY_CHARS: Final = 64
# Longer integer literals are beyond every bound of the schema (feature_schema.MAX_AMOUNT has 14 digits).
MAX_INTEGER_DIGITS: Final = 20

# A JSON string (escapes included; one cut by the end of the scan counts too) or a structural character: enough
# to follow where a position is.
_TOKENS: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|$)|[\[\]{},:]')


class BadRequest(ValueError):
    """The body cannot be scored; the message is for the client."""


@dataclass(frozen=True)
class ParsedRequest:
    """The rows in the schema's column order and, per record, the counts and the client's record id (None
    where it sent none) that the console-log line carries."""

    rows: list[list[Any]]
    unknown_categories: list[int]
    values_outside_training_range: list[int]
    record_ids: list[str | None] | None = None  # None: no record of the request has one


class _ObjectWithRepeatedKey(dict):  # type: ignore[type-arg]
    """A JSON object that holds ``repeated`` more than once (as a dict: its last value)."""

    repeated: str = ""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _ObjectWithRepeatedKey(obj)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked.repeated = key
            break
        seen.add(key)
    return marked


def _integer(literal: str) -> int | float:
    return int(literal) if len(literal) <= MAX_INTEGER_DIGITS else float(literal)


def _text(body: bytes) -> str:
    encoding = json.detect_encoding(body)  # UTF-8 unless a BOM or the NUL pattern of UTF-16/32 says otherwise
    try:
        return body.decode(encoding, errors="surrogateescape")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the request body is not valid {encoding} (at byte {exc.start})") from None


def decode_body(body: bytes) -> Any:
    """Stage 1: the body's JSON value. Raises BadRequest."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    text = _text(body)
    try:
        try:
            return json.loads(text, object_pairs_hook=_object)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer literal beyond Python's conversion limit: read long literals as floats
            return json.loads(text, object_pairs_hook=_object, parse_int=_integer)
    except json.JSONDecodeError as exc:
        where = describe(locate(text, stop=exc.pos)[0])
        raise BadRequest(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        path, depth = locate(text)
        raise BadRequest(
            f"{describe(path)}: nested {depth} levels deep, too deep to parse (a request is an object whose "
            f"'data' is a list of flat records)"
        ) from None


def locate(text: str, stop: int | None = None) -> tuple[list[str | int | None], int]:
    """Where a position is: the keys and indexes leading to the value at character ``stop`` (with None: to the
    deepest nesting of ``text``), and how deep that is. A best effort on text that may not be JSON."""
    path: list[str | int | None] = []  # one entry per open container: its current key or index
    arrays: list[bool] = []
    key: str | None = None
    deepest: tuple[list[str | int | None], int] = ([], 0)
    for token in _TOKENS.finditer(text, 0, len(text) if stop is None else stop):
        char = token.group()[0]
        if char in "[{":
            arrays.append(char == "[")
            path.append(0 if char == "[" else None)
            if len(path) > deepest[1]:
                deepest = (path[:3], len(path))  # the first three entries name the record and the field
        elif char in "]}":
            if path:
                path.pop()
                arrays.pop()
        elif char == ",":
            if path:
                path[-1] = path[-1] + 1 if arrays[-1] and isinstance(path[-1], int) else None
        elif char == ":":
            if path and not arrays[-1]:
                path[-1] = key
        else:
            key = _string(token.group())
    return (path, len(path)) if stop is not None else deepest


def _string(token: str) -> str:
    try:
        return str(json.loads(token))
    except ValueError:
        return token[1:-1]


def describe(path: list[str | int | None]) -> str:
    """``record 3, field 'age'`` for a path inside the records, else where in the body."""
    if len(path) >= 2 and path[0] == "data" and isinstance(path[1], int):
        field = path[2] if len(path) >= 3 and isinstance(path[2], str) else None
        return f"record {path[1]}" + (f", field {show_value(field)}" if field is not None else "")
    if path and isinstance(path[0], str):
        return f"field {show_value(path[0])}"
    return "the request body"


def parse_request(body: bytes, max_records: int) -> ParsedRequest:
    """Body → the rows to score and their counts. Raises BadRequest."""
    doc = decode_body(body)
    if not isinstance(doc, dict) or "data" not in doc:
        raise BadRequest("expected a JSON object {\"data\": [records]}: field 'data' is missing")
    if isinstance(doc, _ObjectWithRepeatedKey) and doc.repeated == "data":
        raise BadRequest("field 'data' appears more than once")
    records = doc["data"]
    if not isinstance(records, list):
        raise BadRequest(f"field 'data' must be a list of records, got {json_type(records)}")
    if not records:
        raise BadRequest("field 'data' is an empty list: send at least one record")
    if len(records) > max_records:
        raise BadRequest(f"field 'data' has {len(records)} records; at most {max_records} per request")
    parsed = ParsedRequest([], [], [])
    ids: list[str | None] = []
    for index, given in enumerate(records):
        record, record_id = given, None
        if type(given) is dict and RECORD_ID_FIELD in given:  # not a feature: taken out before validation
            record_id = given[RECORD_ID_FIELD]
            problem = None if record_id is None else record_id_problem(record_id)
            if problem is not None:
                raise BadRequest(f"record {index}, field {RECORD_ID_FIELD!r}: {problem}")
            record = {k: v for k, v in given.items() if k != RECORD_ID_FIELD}
        ids.append(record_id)
        clean = _record(index, record)
        parsed.rows.append([clean[name] for name in feature_schema.FEATURES])
        parsed.unknown_categories.append(feature_schema.unknown_categories(clean))
        parsed.values_outside_training_range.append(feature_schema.values_outside_training_range(clean))
    if any(i is not None for i in ids):
        return ParsedRequest(parsed.rows, parsed.unknown_categories, parsed.values_outside_training_range, ids)
    return parsed


def _record(index: int, record: Any) -> dict[str, Any]:
    if isinstance(record, _ObjectWithRepeatedKey):
        raise BadRequest(f"record {index}, field {show_value(record.repeated)}: appears more than once")
    try:
        clean = feature_schema.validate_record(index, record)
    except feature_schema.RecordError as exc:
        raise BadRequest(str(exc)) from None
    for name in feature_schema.CATEGORICAL_FEATURES:
        if len(clean[name]) > MAX_CATEGORY_CHARS:
            raise BadRequest(f"record {index}, field {name!r}: longer than {MAX_CATEGORY_CHARS} characters")
    return clean
