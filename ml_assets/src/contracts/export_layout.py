"""The exported inference data: where it lives and what its columns are called. One definition for the export
(the writer, in the function app) and its readers (the drift submission, which selects partitions by their
blob paths, and the drift component, which selects the files of a mounted folder and reads their columns).

``<prefix>/model=<name>/version=<v>/date=YYYY-MM-DD/hour=HH/<file>.parquet`` — Hive-style partitions, so
Parquet readers (pyarrow, pandas, Azure ML ``uri_folder`` inputs) see ``model``, ``version``, ``date`` and
``hour`` as columns. The hour is the UTC hour of the request's scoring time. No column in a file has a
partition key's name (hence ``model_name``/``model_version``): pyarrow and pandas refuse to read a folder
whose files repeat a partition key ("Unable to merge"). The Arrow types of the columns are the export's
(``shared/services/export_records.py``); the features are the feature schema's.

What the export could not turn into records goes to quarantine, one JSON Lines file per export window:
``<quarantine prefix>/date=YYYY-MM-DD/hour=HH/part-<window label>.jsonl`` (:func:`quarantine_path`; the date and
hour of the window's start), one entry per line: ``{"reason", "request_id", "window": {"start", "end"},
"lines": [{"time", "deployment", "message"}, ...]}``. The drift component counts a window's entries and lines
from it (:func:`quarantine_window_start`). Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

# The columns of an exported file besides the features, in file order: request_id, record_index, record_id,
# time, deployment, model_name, model_version, then the features, then prediction. record_id (the client's own
# identifier of the record, null when it sent none: contracts/record_identity.py) is absent from files written
# before it existed; readers take it as null.
REQUEST_ID: Final = "request_id"
RECORD_INDEX: Final = "record_index"
RECORD_ID: Final = "record_id"
TIME: Final = "time"  # the request's scoring time (UTC)
DEPLOYMENT: Final = "deployment"
MODEL_NAME: Final = "model_name"
MODEL_VERSION: Final = "model_version"
PREDICTION: Final = "prediction"  # the model's probability of default

# The quarantine entry's keys (written by shared/services/export_batch.py, read by the drift component).
QUARANTINE_REASON: Final = "reason"
QUARANTINE_REQUEST_ID: Final = "request_id"
QUARANTINE_WINDOW: Final = "window"  # {"start": ISO, "end": ISO}: the export window that quarantined it
QUARANTINE_LINES: Final = "lines"
QUARANTINE_SUFFIX: Final = ".jsonl"

_KEY_FOLDER = re.compile(r"^(model|version|date|hour)=(.+)$")

_PARTITION = re.compile(
    r"^(?P<prefix>.+?)/model=(?P<model>[^/]+)/version=(?P<version>[^/]+)/date=(?P<date>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/(?P<file>[^/]+)$"
)


@dataclass(frozen=True, order=True)
class Partition:
    model: str
    version: str
    day: date
    hour: int

    @property
    def start(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, self.hour, tzinfo=UTC)

    def path(self, prefix: str) -> str:
        """The partition folder (no trailing slash)."""
        return f"{prefix}/model={self.model}/version={self.version}/date={self.day.isoformat()}/hour={self.hour:02d}"


def partition_of(model: str, version: str, moment: datetime) -> Partition:
    moment = moment.astimezone(UTC)
    return Partition(model=model, version=version, day=moment.date(), hour=moment.hour)


def parse_blob_path(path: str) -> tuple[str, Partition, str] | None:
    """``(prefix, partition, file name)`` of an exported blob, or None if the path is not in the layout."""
    match = _PARTITION.match(path)
    if not match:
        return None
    part = Partition(
        model=match["model"], version=match["version"], day=date.fromisoformat(match["date"]), hour=int(match["hour"])
    )
    return match["prefix"], part, match["file"]


def partition_keys(folders: Iterable[str]) -> dict[str, str]:
    """The partition keys among ``folders`` (the folder names of a path below the export prefix, or below
    a ``model=/version=`` folder as the drift job mounts it): ``{"date": "2026-11-24", "hour": "07", …}``."""
    out: dict[str, str] = {}
    for folder in folders:
        match = _KEY_FOLDER.match(folder)
        if match:
            out[match[1]] = match[2]
    return out


def hour_start(keys: dict[str, str]) -> datetime | None:
    """The UTC start of the ``date=``/``hour=`` partition in ``keys``; None when either is absent.
    ValueError when they are not a date and an hour."""
    if "date" not in keys or "hour" not in keys:
        return None
    return datetime.fromisoformat(keys["date"]).replace(hour=int(keys["hour"]), tzinfo=UTC)


def hour_overlaps(hour: datetime, start: datetime | None, end: datetime | None) -> bool:
    """Whether the partition of the hour starting at ``hour`` holds data of ``[start, end)`` (None: unbounded):
    the one rule by which the drift submission picks blobs and the drift component picks files."""
    return (start is None or hour + timedelta(hours=1) > start) and (end is None or hour < end)


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hour starts that ``[start, end)`` touches (none for an empty range)."""
    if start >= end:
        return []
    start = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = end.astimezone(UTC)
    out = []
    while start < end:
        out.append(start)
        start += timedelta(hours=1)
    return out


def quarantine_path(prefix: str, window_start: datetime, label: str) -> str:
    """The quarantine file of the export window starting at ``window_start`` and named ``label``."""
    start = window_start.astimezone(UTC)
    return f"{prefix}/date={start:%Y-%m-%d}/hour={start.hour:02d}/part-{label}{QUARANTINE_SUFFIX}"


_QUARANTINE = re.compile(
    r"^(?P<prefix>.+?)/date=(?P<date>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/(?P<file>[^/]+\.jsonl)$"
)


def parse_quarantine_path(path: str) -> tuple[str, datetime] | None:
    """``(prefix, hour start)`` of a quarantine blob, or None if the path is not a quarantine file."""
    match = _QUARANTINE.match(path)
    if not match:
        return None
    return match["prefix"], datetime.fromisoformat(match["date"]).replace(hour=int(match["hour"]), tzinfo=UTC)


def quarantine_window_start(entry: dict[str, object]) -> datetime:
    """The start of the export window that quarantined ``entry``; ValueError when the entry has none."""
    window = entry.get(QUARANTINE_WINDOW)
    start = window.get("start") if isinstance(window, dict) else None
    if not isinstance(start, str):
        raise ValueError(f"no {QUARANTINE_WINDOW}.start in the quarantine entry")
    value = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
