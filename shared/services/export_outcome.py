"""What an export run did: its status, its counts, the one summary line it logs and the record it leaves.

The summary line (``export exported: windows=… records=… files=… quarantined=… (lines=…) lag=…s watermark=…
…``) is logged once per run; the same fields are stored as ``export/last-run.json`` (shown by ``status``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.ports import PlatformError, StateStore
from shared.services import state_keys
from shared.services.export_watermark import TOTAL_KEYS

log = logging.getLogger(__name__)


class ExportStatus(StrEnum):
    EXPORTED = "exported"  # at least one window was exported
    UP_TO_DATE = "up_to_date"  # nothing to export yet
    LOCKED = "locked"  # another instance holds the export lock
    FAILED = "failed"


@dataclass
class ExportOutcome:
    """What one run did (logged as one line, stored as ``EXPORT_LAST_RUN``)."""

    status: ExportStatus = ExportStatus.UP_TO_DATE
    started_at: str = ""
    past_due: bool = False
    windows: int = 0
    splits: int = 0
    records: int = 0
    requests: int = 0
    files: int = 0
    quarantined: int = 0
    quarantined_lines: int = 0
    ignored_lines: int = 0
    watermark: str | None = None
    lag_seconds: float | None = None
    budget_exhausted: bool = False
    seconds: float = 0.0
    data_asset: str | None = None
    data_asset_error: str | None = None
    error: str | None = None

    def summary(self) -> str:
        lag = "n/a" if self.lag_seconds is None else f"{self.lag_seconds:.0f}s"
        return (
            f"export {self.status}: windows={self.windows} records={self.records} files={self.files} "
            f"quarantined={self.quarantined} (lines={self.quarantined_lines}) lag={lag} "
            f"watermark={self.watermark} splits={self.splits} past_due={self.past_due} "
            f"budget_exhausted={self.budget_exhausted} seconds={self.seconds:.1f}"
            + (f" data_asset={self.data_asset}" if self.data_asset else "")
            + (f" data_asset_error={self.data_asset_error!r}" if self.data_asset_error else "")
            + (f" error={self.error!r}" if self.error else "")
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def add(self, counts: Mapping[str, int], *, ignored_lines: int) -> None:
        """Count a committed window (``counts`` by :data:`~shared.services.export_watermark.TOTAL_KEYS`)."""
        for key in TOTAL_KEYS:
            setattr(self, key, getattr(self, key) + counts[key])
        self.ignored_lines += ignored_lines


def record_outcome(store: StateStore, run: ExportOutcome) -> None:
    """Store the run's summary as ``EXPORT_LAST_RUN`` (shown by ``status``); a failure is only logged."""
    try:
        store.put(state_keys.EXPORT_LAST_RUN, run.as_dict())
    except PlatformError as exc:  # the summary is informative; the watermark is what matters
        log.warning("export: could not record the run summary: %s", exc)
