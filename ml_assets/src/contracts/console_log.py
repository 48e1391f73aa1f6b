"""The console-log line contract between ``score.py`` (writer) and the export (reader).

For every scoring request ``score.py`` prints one or more lines to stdout; Azure ML ships them to Log
Analytics as ``AmlOnlineEndpointConsoleLog`` rows. Each line is ``MARKER`` followed by one JSON object::

    MLOPS_INFERENCE_V1 {"service": "online/<model>/<version>", "deployment": "...", "request_id": "...",
      "time": "2026-11-24T10:00:00.123456Z", "part": 1, "parts": 3, "first_record": 0, "n_records": 120,
      "columns": [...], "rows": [[...], ...], "predictions": [...], "unknown_categories": 0,
      "values_outside_training_range": 0}

Log Analytics truncates long string values (about 32 KB), so a request with many records is split into
``parts`` lines of at most :data:`MAX_LINE_BYTES`, each holding whole records (``rows``, in ``columns``
order, with their ``predictions``) starting at record index ``first_record``. The reader re-assembles a
request from all its parts and rejects (never silently drops) incomplete or inconsistent ones.

``unknown_categories`` and ``values_outside_training_range`` count, over a line's records, the categorical
values outside the known vocabularies and the numeric values outside the training range (both scored:
``feature_schema.unknown_categories`` and ``feature_schema.values_outside_training_range``). Lines written
before ``values_outside_training_range`` existed lack it: the reader takes it as 0.

``record_ids`` (optional, per line): the client's identifier of each of the line's records, or null where it
sent none (``record_identity``: at most 128 characters, no control characters, no ``/``). A line whose request
carried no identifier at all has no ``record_ids``, and lines written before it existed lack it too: the reader
takes every record's as None, and the record is identified by request id and index.

Standard library only: imported by the scoring container, the export and the tests alike. Where
``orjson`` is installed (the function app) the reader uses it: JSON decoding is most of the export's
cost and orjson is about 4x faster on these lines. Both paths accept and reject the same input
(NaN/Infinity, which the writer never emits for validated records, are rejected by both).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from .record_identity import record_id_problem


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _json_loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


try:
    from orjson import loads as _loads
except ImportError:  # the scoring container: the writer does not need it
    _loads = _json_loads

MARKER: Final = "MLOPS_INFERENCE_V1"
# Well under the ~32 KB at which Log Analytics truncates a string column, leaving room for any prefix
# the container runtime adds and for multi-byte characters.
MAX_LINE_BYTES: Final = 16_000
SERVICE_PREFIX: Final = "online/"


class ConsoleLogError(ValueError):
    """A line or a request does not satisfy the contract."""


def service_name(model_name: str, model_version: str) -> str:
    return f"{SERVICE_PREFIX}{model_name}/{model_version}"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_lines(
    *,
    request_id: str,
    model_name: str,
    model_version: str,
    deployment: str,
    time: datetime,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    predictions: Sequence[float],
    unknown_categories: Sequence[int] | None = None,
    values_outside_training_range: Sequence[int] | None = None,
    record_ids: Sequence[str | None] | None = None,
    max_bytes: int = MAX_LINE_BYTES,
) -> list[str]:
    """The lines to print for one request (at least one); the two counts are per record (None: zeros).
    Raises ConsoleLogError if one record alone cannot fit in ``max_bytes`` (the caller should have rejected
    such a record)."""
    if len(rows) != len(predictions):
        raise ConsoleLogError(f"{len(rows)} rows but {len(predictions)} predictions")
    unknown = list(unknown_categories) if unknown_categories is not None else [0] * len(rows)
    outside = list(values_outside_training_range) if values_outside_training_range is not None else [0] * len(rows)
    head = {
        "service": service_name(model_name, model_version),
        "deployment": deployment,
        "request_id": request_id,
        "time": format_time(time),
        "n_records": len(rows),
        "columns": list(columns),
    }
    if record_ids is not None and len(record_ids) != len(rows):
        raise ConsoleLogError(f"{len(rows)} rows but {len(record_ids)} record ids")
    ids = [json.dumps(i) for i in record_ids] if record_ids is not None else None
    # Budget: marker, the fixed fields, and the per-part numbers and counts (at most ~130 bytes).
    fixed = len(MARKER) + 1 + len(json.dumps(head, separators=(",", ":")).encode()) + 160 + (15 if ids else 0)
    encoded = [
        (json.dumps(list(r), separators=(",", ":")), json.dumps(float(p)), u, o, ids[k] if ids else "")
        for k, (r, p, u, o) in enumerate(zip(rows, predictions, unknown, outside, strict=True))
    ]
    chunks: list[tuple[int, list[tuple[str, str, int, int, str]]]] = []
    current: list[tuple[str, str, int, int, str]] = []
    size = fixed
    start = 0
    for i, item in enumerate(encoded):
        item_size = len(item[0].encode()) + len(item[1]) + 2 + (len(item[4].encode()) + 1 if ids else 0)
        if fixed + item_size > max_bytes:
            raise ConsoleLogError(f"record {i} alone is {item_size} bytes, over the {max_bytes}-byte line limit")
        if current and size + item_size > max_bytes:
            chunks.append((start, current))
            start, current, size = i, [], fixed
        current.append(item)
        size += item_size
    chunks.append((start, current))
    lines = []
    prefix = json.dumps(head, separators=(",", ":"))[:-1]  # without the closing brace
    for part, (first, items) in enumerate(chunks, start=1):
        body = (
            f'{prefix},"part":{part},"parts":{len(chunks)},"first_record":{first},'
            f'"rows":[{",".join(i[0] for i in items)}],'
            f'"predictions":[{",".join(i[1] for i in items)}],'
            f'"unknown_categories":{sum(i[2] for i in items)},'
            f'"values_outside_training_range":{sum(i[3] for i in items)}'
            + (f',"record_ids":[{",".join(i[4] for i in items)}]' if ids else "")
            + "}"
        )
        lines.append(f"{MARKER} {body}")
    return lines


@dataclass(frozen=True)
class LogLine:
    """One parsed line."""

    request_id: str
    model_name: str
    model_version: str
    deployment: str
    time: str
    part: int
    parts: int
    first_record: int
    n_records: int
    columns: tuple[str, ...]
    rows: list[list[Any]]
    predictions: list[float]
    unknown_categories: int
    values_outside_training_range: int = 0
    record_ids: list[str | None] | None = None


def is_inference_line(message: str) -> bool:
    return MARKER in message


def parse_line(message: str) -> LogLine:
    """Parse one console-log message (anything before the marker is ignored). Raises ConsoleLogError."""
    at = message.find(MARKER)
    if at < 0:
        raise ConsoleLogError("no inference marker")
    try:
        doc = _loads(message[at + len(MARKER) :])
    except ValueError as exc:
        raise ConsoleLogError(f"not valid JSON after the marker ({str(exc)[:80]})") from None
    if not isinstance(doc, dict):
        raise ConsoleLogError("the JSON after the marker is not an object")
    try:
        service = _str(doc, "service")
        if not service.startswith(SERVICE_PREFIX) or service.count("/") != 2:
            raise ConsoleLogError(f"service {service!r} is not online/<model>/<version>")
        _, model_name, model_version = service.split("/")
        line = LogLine(
            request_id=_str(doc, "request_id"),
            model_name=model_name,
            model_version=model_version,
            deployment=_str(doc, "deployment"),
            time=_str(doc, "time"),
            part=_int(doc, "part"),
            parts=_int(doc, "parts"),
            first_record=_int(doc, "first_record"),
            n_records=_int(doc, "n_records"),
            columns=tuple(_list(doc, "columns")),
            rows=_list(doc, "rows"),
            predictions=_list(doc, "predictions"),
            unknown_categories=_int(doc, "unknown_categories"),
            values_outside_training_range=_optional_int(doc, "values_outside_training_range"),
            record_ids=_record_ids(doc) if "record_ids" in doc else None,
        )
    except KeyError as exc:
        raise ConsoleLogError(f"field {exc.args[0]!r} is missing") from None
    if not model_name or not model_version:
        raise ConsoleLogError(f"service {service!r} has an empty model name or version")
    if not 1 <= line.part <= line.parts:
        raise ConsoleLogError(f"part {line.part} is outside 1..{line.parts}")
    if len(line.rows) != len(line.predictions):
        raise ConsoleLogError(f"{len(line.rows)} rows but {len(line.predictions)} predictions")
    if line.record_ids is not None and len(line.record_ids) != len(line.rows):
        raise ConsoleLogError(f"{len(line.rows)} rows but {len(line.record_ids)} record ids")
    # Every row a list of len(columns) values (checked with C-level maps: this runs for every record).
    if line.rows and (set(map(type, line.rows)) != {list} or set(map(len, line.rows)) != {len(line.columns)}):
        raise ConsoleLogError(f"a row does not have the {len(line.columns)} columns")
    if line.first_record < 0 or line.first_record + len(line.rows) > line.n_records:
        raise ConsoleLogError(
            f"records {line.first_record}..{line.first_record + len(line.rows)} exceed n_records {line.n_records}"
        )
    return line


def _str(doc: dict[str, Any], key: str) -> str:
    value = doc[key]
    if not isinstance(value, str):
        raise ConsoleLogError(f"field {key!r} is not a string")
    return value


def _int(doc: dict[str, Any], key: str) -> int:
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConsoleLogError(f"field {key!r} is not an integer")
    return value


def _optional_int(doc: dict[str, Any], key: str) -> int:
    """A count added to the contract after lines were already written: absent is 0."""
    return _int(doc, key) if key in doc else 0


def _record_ids(doc: dict[str, Any]) -> list[str | None]:
    ids = _list(doc, "record_ids")
    for i, value in enumerate(ids):
        if value is not None:
            problem = record_id_problem(value)
            if problem is not None:
                raise ConsoleLogError(f"record_ids[{i}]: {problem}")
    return ids


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc[key]
    if not isinstance(value, list):
        raise ConsoleLogError(f"field {key!r} is not a list")
    return value


@dataclass
class Request:
    """A re-assembled request: every record of it, in order."""

    request_id: str
    model_name: str
    model_version: str
    deployment: str
    time: str
    columns: tuple[str, ...]
    rows: list[list[Any]]
    predictions: list[float]
    unknown_categories: int
    values_outside_training_range: int = 0
    record_ids: list[str | None] | None = None  # None: no record of the request has one


@dataclass
class Rejected:
    """Raw messages that could not become a complete request, with the reason."""

    reason: str
    messages: list[str]
    request_id: str | None = None


@dataclass
class RequestAssembler:
    """Collects lines (in any order, duplicates allowed) and yields complete requests.

    Call :meth:`add` for every message, then :meth:`finish` to get the complete requests and the
    rejected ones (malformed lines, requests with a missing or conflicting part).
    """

    _parts: dict[str, dict[int, tuple[LogLine, str]]] = field(default_factory=dict)
    _rejected: list[Rejected] = field(default_factory=list)

    def add(self, message: str) -> None:
        try:
            line = parse_line(message)
        except ConsoleLogError as exc:
            self._rejected.append(Rejected(reason=str(exc), messages=[message]))
            return
        self.add_parsed(line, message)

    def add_parsed(self, line: LogLine, message: str) -> None:
        """Add a line the caller has already parsed with :func:`parse_line` from ``message``."""
        parts = self._parts.setdefault(line.request_id, {})
        seen = parts.get(line.part)
        if seen is not None and seen[1] != message:
            # Same request id and part, different content: keep both for the quarantine.
            parts[-len(parts) - 1] = (line, message)
            return
        parts[line.part] = (line, message)

    def add_all(self, messages: Iterable[str]) -> None:
        for message in messages:
            self.add(message)

    def finish(self) -> tuple[list[Request], list[Rejected]]:
        complete: list[Request] = []
        rejected = list(self._rejected)
        for request_id, parts in self._parts.items():
            try:
                complete.append(_assemble(request_id, parts))
            except ConsoleLogError as exc:
                rejected.append(
                    Rejected(
                        reason=str(exc), messages=[m for _, (_, m) in sorted(parts.items())], request_id=request_id
                    )
                )
        self._parts = {}
        self._rejected = []
        return complete, rejected


def _assemble(request_id: str, parts: dict[int, tuple[LogLine, str]]) -> Request:
    if any(k < 1 for k in parts):
        raise ConsoleLogError(f"request {request_id}: two different lines claim the same part")
    lines = [line for _, (line, _) in sorted(parts.items())]
    first = lines[0]
    for line in lines[1:]:
        for attr in ("parts", "n_records", "model_name", "model_version", "deployment", "columns"):
            if getattr(line, attr) != getattr(first, attr):
                raise ConsoleLogError(f"request {request_id}: parts disagree on {attr}")
    missing = sorted(set(range(1, first.parts + 1)) - set(parts))
    if missing:
        raise ConsoleLogError(f"request {request_id}: incomplete, missing part(s) {missing} of {first.parts}")
    rows: list[list[Any]] = []
    predictions: list[float] = []
    with_ids = any(line.record_ids is not None for line in lines)
    record_ids: list[str | None] = []
    for line in lines:
        if line.first_record != len(rows):
            raise ConsoleLogError(
                f"request {request_id}: part {line.part} starts at record {line.first_record}, expected {len(rows)}"
            )
        rows.extend(line.rows)
        predictions.extend(line.predictions)
        if with_ids:
            record_ids.extend(line.record_ids if line.record_ids is not None else [None] * len(line.rows))
    if len(rows) != first.n_records:
        raise ConsoleLogError(f"request {request_id}: {len(rows)} records, expected {first.n_records}")
    return Request(
        request_id=request_id,
        model_name=first.model_name,
        model_version=first.model_version,
        deployment=first.deployment,
        time=min(line.time for line in lines),
        columns=first.columns,
        rows=rows,
        predictions=predictions,
        unknown_categories=sum(line.unknown_categories for line in lines),
        values_outside_training_range=sum(line.values_outside_training_range for line in lines),
        record_ids=record_ids if with_ids else None,
    )
