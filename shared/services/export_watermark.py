"""The export's watermark document (``export/watermark.json``): how far the export got, the files an uncommitted
attempt may have written, running totals, and whether a data asset version is still owed.

``watermark`` only ever covers completely written windows; ``pending_files`` lists every file written (or
about to be) that the watermark does not cover yet, so that a retry can delete what it will not overwrite
(see "Why each record is exported exactly once" in :mod:`shared.services.export`). Every write is conditional
on the ETag the document was read or last written at: an instance that lost the export lock fails instead of
overwriting the other one's progress.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.clock import utcnow
from shared.ports import ConflictError, PlatformError, StateStore
from shared.services import state_keys
from shared.services.export_windows import Window, floor_second
from shared.services.state_documents import write_back
from shared.services.timestamps import iso_z, parse_iso

log = logging.getLogger(__name__)

TOTAL_KEYS = ("windows", "records", "requests", "files", "quarantined", "quarantined_lines")


@dataclass
class Watermark:
    """The watermark document, as read and as it will be written."""

    watermark: datetime
    etag: str | None
    pending: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    last_window: dict[str, Any] = field(default_factory=dict)
    data_asset_pending: bool = False
    data_asset_version: str | None = None

    def document(self, model: str, endpoint: str) -> dict[str, Any]:
        return {
            "watermark": iso_z(self.watermark),
            "updated_at": iso_z(floor_second(utcnow())),
            "model": model,
            "endpoint": endpoint,
            "last_window": self.last_window,
            "totals": self.totals,
            "pending_files": self.pending,
            "data_asset": {"pending": self.data_asset_pending, "last_version": self.data_asset_version},
        }

    def advance(self, window: Window, counts: Mapping[str, int], *, data_asset_owed: bool) -> None:
        """Past ``window``, whose files are all written: nothing pending any more, ``counts`` added."""
        self.watermark = window.end
        self.pending = []
        self.totals = {k: self.totals.get(k, 0) + counts[k] for k in TOTAL_KEYS}
        self.last_window = {**window.as_dict(), **{k: v for k, v in counts.items() if k != "windows"}}
        if data_asset_owed:
            self.data_asset_pending = True


def load_watermark(store: StateStore, now: datetime, initial_lookback: timedelta) -> Watermark:
    """The stored watermark, or now − ``initial_lookback`` when there is none yet."""
    doc = store.get(state_keys.EXPORT_WATERMARK)
    if doc is None:
        start = floor_second(now - initial_lookback)
        log.info("export: no watermark yet; starting at %s (now − %s)", iso_z(start), initial_lookback)
        return Watermark(watermark=start, etag=None)
    data = doc.data
    try:
        watermark = floor_second(parse_iso(str(data["watermark"])))
    except (KeyError, ValueError) as exc:
        raise PlatformError(f"state document {doc.key} has no valid 'watermark' ({exc}): {data!r}") from exc
    asset = data.get("data_asset") or {}
    return Watermark(
        watermark=watermark,
        etag=doc.etag,
        pending=sorted(str(p) for p in data.get("pending_files") or []),
        totals={k: int((data.get("totals") or {}).get(k, 0)) for k in TOTAL_KEYS},
        last_window=dict(data.get("last_window") or {}),
        data_asset_pending=bool(asset.get("pending")),
        data_asset_version=asset.get("last_version"),
    )


def save_watermark(store: StateStore, state: Watermark, *, model: str, endpoint: str) -> None:
    """Write ``state`` at its ETag (and keep the new one). ConflictError when someone else wrote it."""
    try:
        state.etag = write_back(store, state_keys.EXPORT_WATERMARK, state.document(model, endpoint), state.etag)
    except ConflictError as exc:
        log.error("export: the watermark changed under this run (lost the lock?); stopping: %s", exc)
        raise
