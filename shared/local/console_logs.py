"""Console logs of local deployments: the local stand-in for ``AmlOnlineEndpointConsoleLog``.

In Azure, what a deployment's scoring script prints lands in Log Analytics as one row per line
(``TimeGenerated``, ``Message``, ``DeploymentName``). Locally, each deployment's output goes to plain
files instead, written with :class:`ConsoleLogWriter` and read back by :class:`ConsoleLogSource`, which
implements :class:`shared.ports.LogSource` so the export runs its real code over them.

Layout (one folder per endpoint and deployment, one file per UTC hour, so a time-range query opens only
the hours it touches)::

    <root>/<endpoint>/<deployment>/<YYYY-MM-DD>/<HH>.log

Each line of a file is one console line: the time it was logged, a tab, the message::

    2026-11-24T10:00:00.123456Z<TAB>MLOPS_INFERENCE_V1 {"service": ...}

The time has a fixed width (:func:`ml_assets.src.contracts.console_log.format_time`), so time ranges compare as
text. A message never contains a newline (a multi-line write becomes several rows, as on the console);
it may contain tabs (only the first one separates). Lines may be out of order within a file (several
writers, clock steps): readers filter by time, they do not assume order.

The root is ``<LOCAL_STATE_DIR>/console-logs`` (:func:`console_log_root`).
"""

from __future__ import annotations

import codecs
import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import IO

from ml_assets.src.contracts.console_log import MARKER, SERVICE_PREFIX, format_time
from ml_assets.src.contracts.export_layout import hours_between
from shared.ports import LogQueryResult, LogRow, LogVolume
from shared.settings import Settings

_TIME_WIDTH = len("2026-11-24T10:00:00.123456Z")


def console_log_root(settings: Settings) -> Path:
    """Where local deployments write their console logs."""
    return Path(settings.local_state_dir) / "console-logs"


def hour_file(root: Path, endpoint: str, deployment: str, moment: datetime) -> Path:
    moment = moment.astimezone(UTC)
    return root / endpoint / deployment / moment.strftime("%Y-%m-%d") / f"{moment.hour:02d}.log"


class ConsoleLogWriter:
    """Appends one deployment's console lines to its hour files. Thread-safe; use as a context manager
    or call :meth:`close`.

    ``write`` stamps lines with the current time (or the one given: the benchmark and tests replay
    traffic); ``follow`` copies a running process's output line by line as it arrives, which is how a
    local deployment (an ``azmlinfsrv`` process) feeds its stdout in.
    """

    def __init__(self, root: Path, endpoint: str, deployment: str) -> None:
        if not endpoint or not deployment or "/" in endpoint + deployment or "\\" in endpoint + deployment:
            raise ValueError(f"endpoint {endpoint!r} and deployment {deployment!r} must be plain names")
        self.root = Path(root)
        self.endpoint = endpoint
        self.deployment = deployment
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._file: IO[str] | None = None

    def write(self, message: str, *, time: datetime | None = None) -> None:
        """Log ``message`` (each of its lines is one row) at ``time`` (default: now)."""
        self.write_lines([message], time=time)

    def write_lines(self, messages: Iterable[str], *, time: datetime | None = None) -> None:
        """Log several messages at the same ``time`` (default: now), in order, flushed together."""
        moment = (time or datetime.now(UTC)).astimezone(UTC)
        stamp = format_time(moment)
        text = "".join(f"{stamp}\t{line}\n" for message in messages for line in message.splitlines() or [""])
        with self._lock:
            self._file_for(moment).write(text)
            assert self._file is not None
            self._file.flush()

    def follow(self, stream: IO[str]) -> int:
        """Copy ``stream`` (a process's stdout, text mode) line by line, each stamped when read, until EOF.
        Returns the number of lines copied."""
        copied = 0
        for line in stream:
            self.write(line.rstrip("\r\n"))
            copied += 1
        return copied

    def _file_for(self, moment: datetime) -> IO[str]:
        path = hour_file(self.root, self.endpoint, self.deployment, moment)
        if path != self._path or self._file is None:
            if self._file is not None:
                self._file.close()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8", newline="\n")
            self._path = path
        return self._file

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
            self._file = None
            self._path = None

    def __enter__(self) -> ConsoleLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ConsoleLogSource:
    """:class:`shared.ports.LogSource` over the console-log files of one endpoint (all deployments).

    Applies the same filter as the Log Analytics query (the inference marker and the model's service
    name ``online/<model>/`` in the message), so counts, sizes and rows match what the export would get
    from Azure. A local file has no result size limit: every result is complete. A line without a readable
    time prefix cannot be placed in any window: outside every range, it is never returned (those within a
    queried range whose time does not parse are counted in :attr:`unreadable_lines`).

    Each hour file is scanned once into an index of its matching lines (time, offset, length; see
    :class:`_HourIndex`), kept until the file's size or modification time changes, so ``volume`` (asked
    before every window and after every split) is two bisections per file, and ``query`` decodes only the
    lines it returns. The marker and service are still searched anywhere in the message (substring, a
    superset of KQL ``has`` for a marker made of word characters): a line the writer did not produce, with
    a prefix before the marker, is found as in Azure.
    """

    root: Path
    endpoint: str
    model: str
    unreadable_lines: int = 0
    _indexes: dict[tuple[str, bytes], _HourIndex] = field(default_factory=dict, repr=False, compare=False)

    def count(self, start: datetime, end: datetime) -> int:
        return self.volume(start, end).rows

    def volume(self, start: datetime, end: datetime) -> LogVolume:
        rows = size = 0
        for _, index, first, last in self._ranges(start, end):
            rows += last - first
            size += index.sizes[last] - index.sizes[first]
        return LogVolume(rows=rows, bytes=size)

    def query(self, start: datetime, end: datetime) -> LogQueryResult:
        rows = []
        for deployment, index, first, last in self._ranges(start, end):
            if first == last:
                continue
            # Read only the span that holds the lines (a window's margin in the next hour file is a few
            # seconds of it); lines are usually in time order, so the span is little more than the lines.
            offsets, sizes = index.offsets, index.sizes
            low = min(offsets[first:last])
            high = max(offsets[i] + sizes[i + 1] - sizes[i] for i in range(first, last))
            with index.path.open("rb") as handle:
                handle.seek(low)
                view = memoryview(handle.read(high - low))
            for i in range(first, last):
                try:
                    moment = datetime.fromisoformat(index.stamps[i].decode("ascii"))
                except ValueError:
                    self.unreadable_lines += 1
                    continue
                at = offsets[i] - low
                message = codecs.utf_8_decode(view[at : at + sizes[i + 1] - sizes[i]], "replace", True)[0]
                rows.append(LogRow(time=moment, message=message, deployment=deployment))
            view.release()
        rows.sort(key=lambda row: row.time)
        return LogQueryResult(rows=rows, complete=True)

    def deployments(self) -> list[str]:
        folder = Path(self.root) / self.endpoint
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def _ranges(self, start: datetime, end: datetime) -> Iterator[tuple[str, _HourIndex, int, int]]:
        """``(deployment, index, first, last)``: entries ``first:last`` of each hour file's index are the
        matching lines in ``[start, end)``."""
        if end <= start:
            return
        low, high = format_time(start).encode(), format_time(end).encode()
        service = f"{SERVICE_PREFIX}{self.model}/".encode()
        hours = hours_between(start, end)
        for deployment in self.deployments():
            for hour in hours:
                index = self._index_of(hour_file(Path(self.root), self.endpoint, deployment, hour), service)
                if index is not None:
                    yield deployment, index, bisect_left(index.stamps, low), bisect_left(index.stamps, high)

    def _index_of(self, path: Path, service: bytes) -> _HourIndex | None:
        """The index of one hour file (None if it does not exist), rebuilt when its size or mtime changed."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        key = (str(path), service)
        index = self._indexes.get(key)
        if index is None or (index.size, index.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            index = self._indexes[key] = _HourIndex.build(path, service, stat.st_size, stat.st_mtime_ns)
        return index


@dataclass
class _HourIndex:
    """The matching lines of one hour file (marker and service in the message, a tab after the time),
    sorted by time (stable: file order among equal times): their time, message offset and message
    length (``sizes`` is cumulative, ``sizes[i + 1] - sizes[i]`` is line ``i``'s). A range query is two
    bisections; only the lines it returns are ever decoded. Stamps are compared as text (fixed width), as
    the files are; unreadable ones are indexed too and skipped (counted) by :meth:`ConsoleLogSource.query`,
    so ``volume`` and ``query`` see the same lines."""

    path: Path
    size: int
    mtime_ns: int
    stamps: list[bytes]
    offsets: list[int]
    sizes: list[int]

    @classmethod
    def build(cls, path: Path, service: bytes, size: int, mtime_ns: int) -> _HourIndex:
        data = path.read_bytes()
        size = len(data)  # what was read: a line appended since the stat makes the next stat differ
        marker = MARKER.encode()
        body = _TIME_WIDTH + 1
        entries: list[tuple[bytes, int, int]] = []
        offset = 0
        for line in data.split(b"\n"):
            at, offset = offset, offset + len(line) + 1
            # Same test as the Log Analytics query (marker and service anywhere in the message): the
            # searches start after the time and stop at the first hit (near the start for inference lines).
            if line[_TIME_WIDTH:body] != b"\t" or line.find(marker, body) < 0 or line.find(service, body) < 0:
                continue
            length = len(line.rstrip(b"\r")) - body if line.endswith(b"\r") else len(line) - body
            entries.append((line[:_TIME_WIDTH], at + body, length))
        del data
        entries.sort(key=lambda entry: entry[0])
        sizes = [0]
        sizes.extend(accumulate(entry[2] for entry in entries))
        return cls(
            path=path,
            size=size,
            mtime_ns=mtime_ns,
            stamps=[entry[0] for entry in entries],
            offsets=[entry[1] for entry in entries],
            sizes=sizes,
        )
