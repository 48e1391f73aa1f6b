"""One export window's log rows → the complete requests it owns, and what goes to quarantine.

Every row is parsed once with the console-log contract (:func:`ml_assets.src.contracts.console_log.parse_line`) and
requests are re-assembled with its :class:`~ml_assets.src.contracts.console_log.RequestAssembler` (``add_parsed``:
the window needs the request id before assembly, and JSON parsing is the dominant cost), so the export
accepts and rejects exactly what the contract does.

Ownership (see :mod:`shared.services.export` for why): the rows come from ``[start − margin, end + margin)``.

* A request belongs to the window that contains the ``TimeGenerated`` of its first line. This window
  exports (or quarantines, if incomplete or inconsistent) the requests whose first visible line is in
  ``[start, end)``, using all their lines up to ``end + margin``.
* Lines of requests whose first line is before ``start`` were seen by the window that owns the request
  if they are within ``margin`` of this window's start; later ones ("stragglers", logged more than
  ``margin`` after the previous window's end) are quarantined here, since no other window will.
* Requests whose first visible line is at or after ``end`` are the next window's.
* An unparseable line (no request id to group by) is quarantined by the window that contains it.

Rows without the inference marker and lines of another model are counted (``ignored``), not quarantined:
they are not inference data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ml_assets.src.contracts.console_log import MARKER, ConsoleLogError, LogLine, Request, RequestAssembler, parse_line
from ml_assets.src.contracts.export_layout import (
    QUARANTINE_LINES,
    QUARANTINE_REASON,
    QUARANTINE_REQUEST_ID,
    QUARANTINE_WINDOW,
)
from shared.ports import LogRow
from shared.services.export_windows import Window
from shared.services.timestamps import iso_z


@dataclass
class QuarantineEntry:
    """Raw lines that could not become exported records, and why."""

    reason: str
    lines: list[LogRow]
    request_id: str | None = None

    def as_record(self, window: Window) -> dict[str, Any]:
        return {
            QUARANTINE_REASON: self.reason,
            QUARANTINE_REQUEST_ID: self.request_id,
            QUARANTINE_WINDOW: window.as_dict(),
            QUARANTINE_LINES: [
                {"time": iso_z(r.time), "deployment": r.deployment, "message": r.message} for r in self.lines
            ],
        }


@dataclass
class WindowBatch:
    """What one window owns: complete requests (with the time of their first line) and quarantine entries."""

    window: Window
    requests: list[Request] = field(default_factory=list)
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    rows: int = 0  # rows in the window proper (excluding the margins)
    ignored: int = 0  # rows without the marker or of another model (in the window proper)
    sources: dict[str, list[LogRow]] = field(default_factory=dict)  # raw lines of the owned requests

    def reject(self, request: Request, reason: str) -> None:
        """Quarantine a complete request that cannot be exported (with its raw lines)."""
        lines = self.sources.get(request.request_id) or []
        self.quarantine.append(QuarantineEntry(reason=reason, lines=lines, request_id=request.request_id))

    @property
    def records(self) -> int:
        return sum(len(r.rows) for r in self.requests)

    @property
    def quarantined_lines(self) -> int:
        return sum(len(e.lines) for e in self.quarantine)


def assemble_window(window: Window, rows: list[LogRow], *, model: str, margin: timedelta) -> WindowBatch:
    """Split ``rows`` (from ``[start − margin, end + margin)``) into what ``window`` exports and quarantines."""
    batch = WindowBatch(window=window)
    start, end = window.start, window.end
    groups: dict[str, list[tuple[LogLine, LogRow]]] = {}
    for row in rows:
        proper = start <= row.time < end
        batch.rows += proper
        if MARKER not in row.message:
            batch.ignored += proper
            continue
        try:
            line = parse_line(row.message)
        except ConsoleLogError as exc:
            if proper:
                batch.quarantine.append(QuarantineEntry(reason=f"malformed line: {exc}", lines=[row]))
            continue
        if line.model_name != model:
            batch.ignored += proper
            continue
        group = groups.get(line.request_id)
        if group is None:
            groups[line.request_id] = [(line, row)]
        else:
            group.append((line, row))

    assembler = RequestAssembler()
    straggler_from = start + margin
    for request_id, group in groups.items():
        first = min(row.time for _, row in group)
        if first >= end:
            continue  # the next window's
        if first < start:
            late = [row for _, row in group if straggler_from <= row.time < end]
            if late:
                batch.quarantine.append(
                    QuarantineEntry(
                        reason=(
                            f"straggler: part(s) of request {request_id} logged more than "
                            f"{margin.total_seconds():g} s after its first line ({iso_z(first)}), which an earlier "
                            "window exported or quarantined without them"
                        ),
                        lines=late,
                        request_id=request_id,
                    )
                )
            continue
        batch.sources[request_id] = sorted((row for _, row in group), key=lambda r: r.time)
        for line, row in group:
            assembler.add_parsed(line, row.message)
    del groups

    complete, rejected = assembler.finish()
    batch.requests = complete
    for rejection in rejected:
        sources = batch.sources.get(rejection.request_id or "", [])
        by_message = {row.message: row for row in sources}
        lines = [by_message[m] for m in dict.fromkeys(rejection.messages) if m in by_message]
        batch.quarantine.append(QuarantineEntry(reason=rejection.reason, lines=lines, request_id=rejection.request_id))
    return batch
