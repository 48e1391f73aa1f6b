"""What the export quarantined in a drift run's window: its entries and their raw lines.

The quarantine folder (``quarantine_data``: the export's ``EXPORT_QUARANTINE_PREFIX``, mounted) holds one JSON Lines
file per export window (:func:`..contracts.export_layout.quarantine_path`). An entry belongs to the drift window
that contains the start of the export window that wrote it, so consecutive drift windows never count an entry
twice; files whose ``date=``/``hour=`` partition cannot hold such an entry are not opened. A line that is not a
quarantine entry is counted as ``unreadable`` (and its file named in the log), never silently dropped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..contracts.export_layout import (
    QUARANTINE_LINES,
    QUARANTINE_SUFFIX,
    hour_overlaps,
    hour_start,
    partition_keys,
    quarantine_window_start,
)
from .feature_tables import data_files
from .target_files import Window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuarantineCount:
    entries: int = 0
    lines: int = 0
    files: int = 0
    unreadable: int = 0  # lines of a quarantine file that are not an entry

    def as_dict(self) -> dict[str, int]:
        return {"entries": self.entries, "lines": self.lines, "files": self.files, "unreadable": self.unreadable}


def count_quarantine(folder: Path | None, window: Window) -> QuarantineCount:
    """The quarantine entries (and their lines) of export windows starting in ``window``; zero without a folder."""
    if folder is None:
        return QuarantineCount()
    entries = lines = files = unreadable = 0
    for file in data_files(folder, (QUARANTINE_SUFFIX,)):
        try:
            start = hour_start(partition_keys(file.relative_to(folder).parts[:-1]))
        except ValueError:
            start = None  # not in the layout: read it, the entries say their window
        if start is not None and not hour_overlaps(start, window.start, window.end):
            continue
        files += 1
        bad = 0
        with file.open(encoding="utf-8", errors="replace") as handle:
            for text in handle:
                if not text.strip():
                    continue
                try:
                    entry = json.loads(text)
                    begins = quarantine_window_start(entry)
                    raw = entry.get(QUARANTINE_LINES)
                    if not isinstance(raw, list):
                        raise ValueError(f"no list {QUARANTINE_LINES!r}")
                except (ValueError, AttributeError):
                    bad += 1
                    continue
                if (window.start is None or begins >= window.start) and (window.end is None or begins < window.end):
                    entries += 1
                    lines += len(raw)
        if bad:
            log.warning("%s: %d line(s) are not quarantine entries", file, bad)
            unreadable += bad
    return QuarantineCount(entries=entries, lines=lines, files=files, unreadable=unreadable)
