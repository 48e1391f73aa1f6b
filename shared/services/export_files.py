"""One export window's requests → the files it writes: one Parquet file per partition, one JSON Lines file of
what went to quarantine.

Paths are derived from the window, so a re-run of a window overwrites its files:
``<EXPORT_PREFIX>/model=<m>/version=<v>/date=<d>/hour=<h>/part-<start>-<end>.parquet`` (the partition of each
request's scoring time, :mod:`ml_assets.src.contracts.export_layout`) and
``<EXPORT_QUARANTINE_PREFIX>/date=<d>/hour=<h>/part-<start>-<end>.jsonl`` (the window's start). Files are
rendered when written (Parquet encoding runs on the export's writer thread); what a window no longer needs
is released as soon as it is converted, to bound the memory one window takes.

Imports ``pyarrow`` (through :mod:`shared.services.export_records`) only when a window is converted.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ml_assets.src.contracts.console_log import Request
from ml_assets.src.contracts.export_layout import Partition, partition_of, quarantine_path
from shared.services.export_batch import WindowBatch
from shared.services.export_windows import Window

log = logging.getLogger(__name__)

Render = Callable[[], bytes]


@dataclass
class WindowFiles:
    """The files of one window (path, how to render it) and the records and requests they hold."""

    files: list[tuple[str, Render]] = field(default_factory=list)
    records: int = 0
    requests: int = 0


def window_files(window: Window, batch: WindowBatch, *, model: str, prefix: str, quarantine_prefix: str) -> WindowFiles:
    """Convert ``batch`` (emptying it of requests and sources as it goes); rejected requests join its quarantine."""
    from shared.services import export_records

    groups: dict[Partition, list[tuple[Request, datetime]]] = defaultdict(list)
    for request in batch.requests:
        try:
            moment = export_records.request_time(request)
        except ValueError as exc:
            batch.reject(request, f"request {request.request_id}: invalid time ({exc})")
            continue
        groups[partition_of(model, request.model_version, moment)].append((request, moment))
    batch.requests = []

    out = WindowFiles()
    for partition in sorted(groups):
        members = groups.pop(partition)
        converted = export_records.to_table([r for r, _ in members], [t for _, t in members])
        for rejection in converted.rejected:
            batch.reject(rejection.request, rejection.reason)
        if converted.table.num_rows:
            path = f"{partition.path(prefix)}/part-{window.label}.parquet"
            out.files.append((path, _parquet_render(converted.table, window)))
            out.records += converted.table.num_rows
            out.requests += len(members) - len(converted.rejected)
    batch.sources.clear()
    if batch.quarantine:
        path = quarantine_path(quarantine_prefix, window.start, window.label)
        payload = "".join(json.dumps(e.as_record(window), sort_keys=True) + "\n" for e in batch.quarantine)
        out.files.append((path, payload.encode))
        log.warning(
            "export: window %s: %d quarantine entr(y/ies), %d line(s), written to %s",
            window.label,
            len(batch.quarantine),
            batch.quarantined_lines,
            path,
        )
    return out


def _parquet_render(table: Any, window: Window) -> Render:
    def render() -> bytes:
        from shared.services.export_records import parquet_bytes

        return parquet_bytes(table, {"mlops.export.window": window.label})

    return render
