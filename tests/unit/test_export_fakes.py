"""Port-level fakes and traffic generators shared by the export tests (no tests here).

* :class:`FakeLogSource` behaves like Log Analytics at the port: half-open ranges, a row cap above which a
  query comes back incomplete (truncated), optional byte cap; it records every call.
* :class:`MemoryWriter`: in-memory blob writer (the state store fake is ``tests.fakes.MemoryStateStore``).
* :func:`traffic` builds console-log rows with the contract's writer: requests with several parts whose
  lines are logged milliseconds apart, so some straddle window boundaries.
"""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ml_assets.src.contracts.console_log import format_lines
from ml_assets.src.contracts.feature_schema import CATEGORIES, FEATURES, NUMERIC
from shared.ports import LogQueryResult, LogRow, LogVolume, NotFoundError
from shared.services.export import ExportConfig

MODEL = "credit-default"


def export_config(**overrides: Any) -> ExportConfig:
    """The export configuration the tests use (the settings' defaults, a few hours of look-back)."""
    values: dict[str, Any] = {
        "model": MODEL,
        "endpoint": "credit-default",
        "prefix": "inference",
        "quarantine_prefix": "quarantine",
        "ingestion_delay": timedelta(minutes=10),
        "window": timedelta(hours=1),
        "initial_lookback": timedelta(hours=5),
        "time_budget": timedelta(minutes=4),
        "max_rows": 400_000,
    }
    values.update(overrides)
    return ExportConfig(**values)


def record(rng: random.Random) -> list[Any]:
    out: list[Any] = []
    for name in FEATURES:
        if name in CATEGORIES:
            out.append(rng.choice(CATEGORIES[name]))
        elif NUMERIC[name] == "int":
            out.append(rng.randint(21, 79))
        else:
            out.append(round(rng.uniform(0, 20_000), 2))
    return out


@dataclass
class Traffic:
    rows: list[LogRow]
    keys: set[tuple[str, int]]  # (request id, record index) of every record sent


def traffic(
    start: datetime,
    *,
    requests: int,
    every: timedelta,
    seed: int = 1,
    max_bytes: int = 2_000,
    version: str = "3",
    deployment: str = "blue",
) -> Traffic:
    """``requests`` requests from ``start``, one per ``every``; sizes 1-12 records, lines of at most
    ``max_bytes`` (so many requests have several parts), parts logged 0-30 ms apart."""
    rng = random.Random(seed)
    rows: list[LogRow] = []
    keys: set[tuple[str, int]] = set()
    for i in range(requests):
        moment = start + i * every
        size = rng.randint(1, 12)
        request_id = str(uuid.UUID(int=rng.getrandbits(128)))
        lines = format_lines(
            request_id=request_id,
            model_name=MODEL,
            model_version=version,
            deployment=deployment,
            time=moment,
            columns=FEATURES,
            rows=[record(rng) for _ in range(size)],
            predictions=[rng.random() for _ in range(size)],
            max_bytes=max_bytes,
        )
        logged = moment
        for line in lines:
            rows.append(LogRow(time=logged, message=line, deployment=deployment))
            logged += timedelta(milliseconds=rng.randint(0, 30))
        keys.update((request_id, k) for k in range(size))
    rows.sort(key=lambda r: r.time)
    return Traffic(rows=rows, keys=keys)


@dataclass
class FakeLogSource:
    """A log source with the service's behaviour at the port: at most ``row_limit`` rows per query (more →
    ``complete=False`` and truncated), optionally ``byte_limit`` message bytes."""

    rows: list[LogRow] = field(default_factory=list)
    row_limit: int = 500_000
    byte_limit: int | None = None
    queries: list[tuple[datetime, datetime]] = field(default_factory=list)
    volumes: list[tuple[datetime, datetime]] = field(default_factory=list)

    def _in(self, start: datetime, end: datetime) -> list[LogRow]:
        return [r for r in self.rows if start <= r.time < end]

    def count(self, start: datetime, end: datetime) -> int:
        return self.volume(start, end).rows

    def volume(self, start: datetime, end: datetime) -> LogVolume:
        self.volumes.append((start, end))
        rows = self._in(start, end)
        return LogVolume(rows=len(rows), bytes=sum(len(r.message) for r in rows))

    def query(self, start: datetime, end: datetime) -> LogQueryResult:
        self.queries.append((start, end))
        rows = self._in(start, end)
        size = sum(len(r.message) for r in rows)
        if len(rows) > self.row_limit or (self.byte_limit is not None and size > self.byte_limit):
            return LogQueryResult(rows=rows[: self.row_limit // 2], complete=False, detail="result set too large")
        return LogQueryResult(rows=rows, complete=True)


class MemoryWriter:
    """:class:`shared.ports.BlobWriter` in memory."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def write(self, path: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.blobs[path] = bytes(data)

    def read(self, path: str) -> bytes:
        if path not in self.blobs:
            raise NotFoundError(path)
        return self.blobs[path]

    def list(self, prefix: str) -> list[str]:
        return sorted(p for p in self.blobs if p.startswith(prefix))

    def delete(self, path: str) -> None:
        self.blobs.pop(path, None)


def exported_keys(writer: Any, prefix: str = "inference") -> list[tuple[str, int]]:
    """Every (request id, record index) in every Parquet file under ``prefix`` (duplicates kept)."""
    import pyarrow.parquet as pq

    keys: list[tuple[str, int]] = []
    for path in writer.list(prefix + "/"):
        table = pq.read_table(io.BytesIO(writer.read(path)), columns=["request_id", "record_index"])
        keys.extend(zip(table["request_id"].to_pylist(), table["record_index"].to_pylist(), strict=True))
    return keys


def quarantined(writer: Any, prefix: str = "quarantine") -> list[dict[str, Any]]:
    import json

    out: list[dict[str, Any]] = []
    for path in writer.list(prefix + "/"):
        out.extend(json.loads(line) for line in writer.read(path).decode().splitlines())
    return out


def _copy(data: Mapping[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(data))
