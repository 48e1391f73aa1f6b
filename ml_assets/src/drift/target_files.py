"""Which exported files a drift run reads: the time window, the partition folders, and the file selection.

``target_data`` is a folder of exported Parquet in the export layout (:mod:`..contracts.export_layout`):
``[<prefix>/][model=<name>/version=<v>/]date=YYYY-MM-DD/hour=HH/*.parquet``. The function app passes the
``model=<name>/version=<v>`` folder and the window; this module keeps the files whose ``model``/``version``
partition (when present) match and whose ``date``/``hour`` partition overlaps ``[window_start, window_end)``.
The rows of those files whose ``time`` lies in the window are kept when they are read
(:mod:`.target_summary`: exact for windows that do not fall on whole hours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..contracts.export_layout import hour_overlaps, hour_start, partition_keys
from .feature_tables import SchemaError, data_files


@dataclass(frozen=True)
class Window:
    start: datetime | None = None
    end: datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None


def parse_time(text: str | None, name: str) -> datetime | None:
    """An ISO-8601 instant (``Z`` or an offset; naive means UTC), or None for empty text."""
    if text is None or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not an ISO-8601 date-time") from None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Selection:
    files: list[Path] = field(default_factory=list)
    skipped_other_model: int = 0
    skipped_outside_window: int = 0
    unpartitioned: int = 0


def select_target_files(root: Path, model_name: str, model_version: str, window: Window) -> Selection:
    """The Parquet files of ``root`` for this model version whose hour partition overlaps the window."""
    selection = Selection()
    base = root if root.is_dir() else root.parent
    for file in data_files(root, (".parquet", ".pq")):
        parts = partition_keys(file.relative_to(base).parts[:-1])
        if ("model" in parts and parts["model"] != model_name) or (
            "version" in parts and parts["version"] != str(model_version)
        ):
            selection.skipped_other_model += 1
            continue
        try:
            start = hour_start(parts)
        except ValueError:
            raise SchemaError("hour", f"partition folder {parts} is not date=YYYY-MM-DD/hour=HH", str(file)) from None
        if start is None:
            selection.unpartitioned += 1
        elif not hour_overlaps(start, window.start, window.end):
            selection.skipped_outside_window += 1
            continue
        selection.files.append(file)
    return selection
