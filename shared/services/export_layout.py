"""Where exported inference data lives in Blob Storage: one definition for the export (writer) and the
drift submission (reader).

``<prefix>/model=<name>/version=<v>/date=YYYY-MM-DD/hour=HH/<file>.parquet`` — Hive-style partitions, so
Parquet readers (pyarrow, pandas, Azure ML ``uri_folder`` inputs) see ``model``, ``version``, ``date`` and
``hour`` as columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

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
