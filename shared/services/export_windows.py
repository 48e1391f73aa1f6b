"""Export windows: half-open ``[start, end)`` time ranges on whole seconds, and how they are cut.

A run exports from the watermark to the *horizon* (now − ingestion delay − straddle margin, see
:mod:`shared.services.export`) in windows of at most ``EXPORT_WINDOW``, aligned on that length (with the
default ``PT1H``, windows end on the hour, so files line up with the ``hour=`` partitions), the last one
ending at the horizon. A window is split in two at a whole second when it would exceed the service limits
(planned ahead from its volume) or comes back partial; it cannot be split below ``min_length``.

Pure logic, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.services.timestamps import iso_z, stamp

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True, order=True)
class Window:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment.tzinfo is None or moment.microsecond:
                raise ValueError(f"window bounds must be timezone-aware whole seconds, got {moment!r}")
        if self.end <= self.start:
            raise ValueError(f"empty window {self.start}..{self.end}")

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def label(self) -> str:
        """``20261124T100000Z-20261124T110000Z``: names the window's files."""
        return f"{stamp(self.start)}-{stamp(self.end)}"

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def halves(self, min_length: timedelta) -> tuple[Window, Window] | None:
        """The two halves (split at a whole second), or None when a half would be shorter than ``min_length``."""
        seconds = int(self.length.total_seconds())
        mid = self.start + timedelta(seconds=seconds // 2)
        if mid - self.start < min_length or self.end - mid < min_length:
            return None
        return Window(self.start, mid), Window(mid, self.end)

    def as_dict(self) -> dict[str, str]:
        return {"start": iso_z(self.start), "end": iso_z(self.end)}


def next_window(watermark: datetime, horizon: datetime, length: timedelta, min_length: timedelta) -> Window | None:
    """The next window after ``watermark``: up to the next multiple of ``length`` (since the epoch), at most
    to ``horizon``, at least ``min_length`` long (a sliver up to the alignment point is merged into the
    following window). None when less than ``min_length`` is exportable."""
    start = floor_second(watermark)
    horizon = floor_second(horizon)
    if horizon - start < min_length:
        return None
    step = max(int(length.total_seconds()), 1)
    offset = int((start - EPOCH).total_seconds()) % step
    end = start + timedelta(seconds=step - offset)
    if end - start < min_length:
        end += timedelta(seconds=step)
    return Window(start, min(end, horizon))
