"""Export of inference data: endpoint console logs → Parquet in Blob Storage, incrementally, exactly once.

What a run does (:func:`run_export`, called by the ``export_inference_data`` timer):

1. Takes the export lock (a lease on the state store, ``EXPORT_LOCK``). If another instance holds it, the run
   logs that and returns without exporting: one export at a time.
2. Reads the watermark document (``EXPORT_WATERMARK``). Without one, starts at now − ``EXPORT_INITIAL_LOOKBACK``.
3. Exports windows ``[watermark, …)`` up to the *horizon* = now − ``EXPORT_INGESTION_DELAY`` − margin (below),
   each at most ``EXPORT_WINDOW`` long, one after the other, until caught up or ``EXPORT_TIME_BUDGET`` is spent
   (the next run resumes from the watermark). At most two windows are in memory: the one being parsed, and
   the previous one's Parquet tables while a background thread writes them (step 5).
4. Per window: asks the log source for its volume (rows and message bytes). Above ``EXPORT_MAX_ROWS_PER_QUERY``
   rows or :data:`MAX_QUERY_BYTES` bytes the window is split in halves before it is fetched; a fetched result
   that comes back partial (the service's 500,000-row / ~64 MB cap) is split in halves and fetched again. A
   partial result is never accepted; a window that can no longer be split (shorter than 2 × ``margin``) and
   still comes back partial fails the run loudly (error log + :class:`ExportWindowError`), watermark unmoved.
5. Parses and re-assembles the rows with the console-log contract (:mod:`shared.services.export_batch`), writes
   one Parquet file per partition ``<EXPORT_PREFIX>/model=<m>/version=<v>/date=<d>/hour=<h>/`` named after the
   window (``part-<start>-<end>.parquet``), plus one JSON Lines file of quarantined lines
   ``<EXPORT_QUARANTINE_PREFIX>/date=<d>/hour=<h>/part-<start>-<end>.jsonl`` (raw message, time, deployment and
   reason; malformed JSON, missing or conflicting parts, wrong value types), then moves the watermark to the
   window's end. Writing and the watermark move run on one background thread while the main thread fetches
   and parses the next window; the state writes keep their order (each window's after the previous one's).
6. Writes a summary (``EXPORT_LAST_RUN``), logs one line (windows, records, files, quarantined, lag behind now)
   and, if ``EXPORT_DATA_ASSET_NAME`` is set and data was written, creates a new version of that data asset.

Why each record is exported exactly once
----------------------------------------
* **Which window owns a request.** The lines of one request are printed together, but Log Analytics stamps
  each with its own ``TimeGenerated``, milliseconds apart, so they can straddle a window boundary. A request
  belongs to the window containing its *first* line. Each window fetches ``[start − margin, end + margin)``
  (``margin`` = :data:`STRADDLE_MARGIN`), exports the requests whose first line is in ``[start, end)`` using
  their lines up to ``end + margin``, and leaves requests that started earlier to the previous window (which
  looked ``margin`` past its end) and those starting at ``end`` or later to the next. Windows are never shorter
  than ``margin``, so "started in the ``margin`` before my start" always means "owned by the window just
  before me". A request whose lines spread over more than ``margin`` is a contract violation: it is
  quarantined as incomplete by the window of its first line, and its later lines as stragglers by the
  windows that hold them (lines within ``margin`` of a window's start, of a request that started two or more
  windows earlier, are the one case not copied to quarantine; the request itself always is). In no case can
  two windows both export a request: only one of them can see all its parts.
* **Waiting for late parts.** The horizon keeps every fetched range, margin included, at least
  ``EXPORT_INGESTION_DELAY`` in the past, so a part missing from a window is not one still being ingested:
  a request incomplete there is quarantined, not retried. Lines ingested later than the delay are missed
  (Log Analytics' ingestion latency is typically under a few minutes; the default delay is 10).
* **Re-runs overwrite.** File names are derived from the window, so re-exporting a window overwrites its
  files. Inside a window, requests are keyed by request id (duplicate lines collapse; conflicting ones are
  quarantined), so (request id, record index) is unique.
* **Crashes and re-planned windows.** A crashed run may have written some files of a window without moving the
  watermark; the retry may cut that range differently (a later horizon, a split, a changed ``EXPORT_WINDOW``)
  and would write *other* file names, duplicating the records of the first attempt. So before writing, a
  window records the paths it is about to write in the watermark document (``pending_files``, ETag-checked),
  deletes the files that an earlier uncommitted attempt listed there and this one will not overwrite, writes
  its files, and only then moves the watermark and clears the list in one conditional write. Every file not
  yet covered by the watermark is listed in ``pending_files`` until it is, so a crash at any point followed by
  a re-run leaves each record in exactly one file.
* **Concurrency.** The lock keeps a second instance out; the ETag on every watermark write makes an instance
  that lost its lease fail instead of overwriting the other's progress.

Plain Python: ``pyarrow`` is imported only when a window is written, no Azure SDK at all.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ml_assets.src.contracts.console_log import Request
from shared.clock import utcnow
from shared.ports import (
    BlobWriter,
    ConflictError,
    DataAssetPublisher,
    LockHeldError,
    LogRow,
    LogSource,
    PlatformError,
    StateStore,
)
from shared.services import state_keys
from shared.services.export_batch import WindowBatch, assemble_window
from shared.services.export_layout import Partition, partition_of
from shared.services.export_windows import Window, floor_second, next_window
from shared.services.timestamps import iso_z, parse_iso
from shared.settings import Settings

log = logging.getLogger(__name__)

STRADDLE_MARGIN = timedelta(seconds=5)
"""How far apart the lines of one request may be logged (they are printed together: milliseconds in
practice). Also the shortest window: splitting stops at windows shorter than twice this."""

MAX_QUERY_BYTES = 24_000_000
"""Estimated message bytes above which a window is split before fetching: the service stops at ~64 MB of
response (JSON-escaped, so larger than the raw messages), and this also bounds the memory one window
takes while it is parsed (about 100,000 records)."""


class ExportWindowError(PlatformError):
    """A window cannot be exported completely (still partial when it can no longer be split)."""


@dataclass(frozen=True)
class ExportConfig:
    model: str
    endpoint: str
    prefix: str
    quarantine_prefix: str
    ingestion_delay: timedelta
    window: timedelta
    initial_lookback: timedelta
    time_budget: timedelta
    max_rows: int
    data_asset: str | None = None
    max_bytes: int = MAX_QUERY_BYTES
    margin: timedelta = STRADDLE_MARGIN

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportConfig:
        return cls(
            model=settings.model_name,
            endpoint=settings.endpoint_name,
            prefix=settings.export_prefix,
            quarantine_prefix=settings.quarantine_prefix,
            ingestion_delay=settings.export_ingestion_delay,
            window=settings.export_window,
            initial_lookback=settings.export_initial_lookback,
            time_budget=settings.export_time_budget,
            max_rows=settings.export_max_rows,
            data_asset=settings.export_data_asset,
        )

    @property
    def min_window(self) -> timedelta:
        return max(self.margin, timedelta(seconds=1))


@dataclass
class ExportPorts:
    source: LogSource
    writer: BlobWriter
    store: StateStore
    assets: DataAssetPublisher | None = None


@dataclass
class ExportRun:
    """What one run did (logged as one line, stored as ``EXPORT_LAST_RUN``)."""

    status: str = "up_to_date"  # exported | up_to_date | locked
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


def run_export(
    config: ExportConfig,
    ports: ExportPorts,
    *,
    past_due: bool = False,
    clock: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
) -> ExportRun:
    """One export run (see the module docstring). Raises PlatformError/TransientError on failures that a
    later run may get past (the watermark only ever covers completely written windows)."""
    run = ExportRun(started_at=iso_z(floor_second(clock())), past_due=past_due)
    if past_due:
        log.warning("export: the timer is past due; catching up for at most %s", config.time_budget)
    try:
        with ports.store.lock(state_keys.EXPORT_LOCK):
            try:
                _Exporter(config, ports, run, clock, monotonic).run()
            except Exception as exc:
                run.status = "failed"
                run.error = f"{type(exc).__name__}: {exc}"
                log.error(run.summary())
                _record(ports.store, run)
                raise
            _record(ports.store, run)
    except LockHeldError:
        run.status = "locked"
        log.info("export: another instance holds the export lock; this run exports nothing")
        return run
    log.info(run.summary())
    return run


def _record(store: StateStore, run: ExportRun) -> None:
    try:
        store.put(state_keys.EXPORT_LAST_RUN, run.as_dict())
    except PlatformError as exc:  # the summary is informative; the watermark is what matters
        log.warning("export: could not record the run summary: %s", exc)


@dataclass
class _State:
    """The watermark document, as read and as it will be written."""

    watermark: datetime
    etag: str | None
    pending: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    last_window: dict[str, Any] = field(default_factory=dict)
    data_asset_pending: bool = False
    data_asset_version: str | None = None

    def document(self, config: ExportConfig) -> dict[str, Any]:
        return {
            "watermark": iso_z(self.watermark),
            "updated_at": iso_z(floor_second(utcnow())),
            "model": config.model,
            "endpoint": config.endpoint,
            "last_window": self.last_window,
            "totals": self.totals,
            "pending_files": self.pending,
            "data_asset": {"pending": self.data_asset_pending, "last_version": self.data_asset_version},
        }


_TOTAL_KEYS = ("windows", "records", "requests", "files", "quarantined", "quarantined_lines")


class _Exporter:
    def __init__(
        self,
        config: ExportConfig,
        ports: ExportPorts,
        run: ExportRun,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self.config = config
        self.ports = ports
        self.run_info = run
        self.clock = clock
        self.monotonic = monotonic

    # --- the run ---------------------------------------------------------------------------------
    def run(self) -> None:
        config, run = self.config, self.run_info
        began = self.monotonic()
        now = self.clock()
        state = self._load(now)
        horizon = floor_second(now - config.ingestion_delay - config.margin)
        budget = config.time_budget.total_seconds()
        stack: list[Window] = []
        cursor = state.watermark  # the end of the last window handed to the writer (its watermark once committed)
        handed = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-writer") as self._pool:
            try:
                while True:
                    if not stack:
                        window = next_window(cursor, horizon, config.window, config.min_window)
                        if window is None:
                            break
                        stack.append(window)
                    if handed and self.monotonic() - began >= budget:
                        run.budget_exhausted = True
                        log.info(
                            "export: time budget %s spent; the next run resumes at %s",
                            config.time_budget,
                            iso_z(cursor),
                        )
                        break
                    window = stack.pop()
                    halves = self._export_or_split(window, state)
                    if halves:
                        run.splits += 1
                        stack.extend(reversed(halves))
                    else:
                        cursor = window.end
                        handed += 1
            except BaseException:
                self._drain(quiet=True)
                raise
            else:
                self._drain()
            finally:
                run.seconds = round(self.monotonic() - began, 3)
                run.watermark = iso_z(state.watermark)
                run.lag_seconds = round((now - state.watermark).total_seconds(), 1)
        if run.windows:
            run.status = "exported"
        if run.records or run.quarantined:
            _release_freed_memory()
        self._publish_asset(state)

    # --- the writer thread ---------------------------------------------------------------------------
    # A window's files are rendered (Parquet encoding releases the GIL) and uploaded, and its watermark
    # committed, on one background thread while the next window is fetched and parsed. The order of the
    # state writes is unchanged: a window's job starts only after the previous window's job (which ends
    # with its commit) has finished, so ``pending_files`` and the watermark move exactly as when run
    # inline; a failed job fails the run at the next hand-off (or at the end), watermark where it was.
    _pool: ThreadPoolExecutor
    _job: Future[None] | None = None

    def _hand_off(self, job: Callable[[], None]) -> None:
        self._drain()
        self._job = self._pool.submit(job)

    def _drain(self, *, quiet: bool = False) -> None:
        """Wait for the previous window's job; re-raise its error (only log it if ``quiet``: the run is
        already failing with another)."""
        job, self._job = self._job, None
        if job is None:
            return
        if not quiet:
            job.result()
            return
        try:
            job.result()
        except Exception as exc:  # noqa: BLE001 - only logged: the run already fails with the main thread's error
            log.error("export: writing the previous window failed as well: %s: %s", type(exc).__name__, exc)

    def _export_or_split(self, window: Window, state: _State) -> tuple[Window, Window] | None:
        """Export ``window``, or return its halves when it must be split first."""
        config = self.config
        view_start, view_end = window.start - config.margin, window.end + config.margin
        volume = self.ports.source.volume(view_start, view_end)
        if volume.rows > config.max_rows or volume.bytes > config.max_bytes:
            halves = window.halves(config.min_window)
            if halves:
                log.info(
                    "export: window %s holds %d rows / %d bytes: splitting before fetching",
                    window.label,
                    volume.rows,
                    volume.bytes,
                )
                return halves
            log.warning(
                "export: window %s holds %d rows / %d bytes but cannot be split further; fetching it anyway",
                window.label,
                volume.rows,
                volume.bytes,
            )
        if volume.rows == 0:

            def empty() -> None:
                self._write(state, [])
                self._commit(window, state, WindowBatch(window=window), files=0)

            self._hand_off(empty)
            return None
        result = self.ports.source.query(view_start, view_end)
        if not result.complete:
            halves = window.halves(config.min_window)
            if halves:
                log.warning("export: window %s came back partial (%s): splitting", window.label, result.detail)
                return halves
            message = (
                f"window {window.label} came back partial ({result.detail}) and cannot be split below "
                f"{2 * config.min_window.total_seconds():g} s; the watermark stays at {iso_z(state.watermark)}"
            )
            log.error("export: %s", message)
            raise ExportWindowError(message)
        rows = result.rows
        del result
        self._export_window(window, rows, state)
        return None

    # --- one window --------------------------------------------------------------------------------
    def _export_window(self, window: Window, rows: list[LogRow], state: _State) -> None:
        with _gc_paused():
            self._convert_window(window, rows, state)

    def _convert_window(self, window: Window, rows: list[LogRow], state: _State) -> None:
        from shared.services import export_records

        config = self.config
        batch = assemble_window(window, rows, model=config.model, margin=config.margin)
        rows.clear()
        groups: dict[Partition, list[tuple[Request, datetime]]] = defaultdict(list)
        for request in batch.requests:
            try:
                moment = export_records.request_time(request)
            except ValueError as exc:
                batch.reject(request, f"request {request.request_id}: invalid time ({exc})")
                continue
            groups[partition_of(config.model, request.model_version, moment)].append((request, moment))
        batch.requests = []

        files: list[tuple[str, Callable[[], bytes]]] = []
        records = requests = 0
        for partition in sorted(groups):
            members = groups.pop(partition)
            converted = export_records.to_table([r for r, _ in members], [t for _, t in members])
            for rejection in converted.rejected:
                batch.reject(rejection.request, rejection.reason)
            if converted.table.num_rows:
                path = f"{partition.path(config.prefix)}/part-{window.label}.parquet"
                files.append((path, _parquet_render(converted.table, window)))
                records += converted.table.num_rows
                requests += len(members) - len(converted.rejected)
        batch.sources.clear()
        if batch.quarantine:
            day = window.start.strftime("%Y-%m-%d")
            path = f"{config.quarantine_prefix}/date={day}/hour={window.start.hour:02d}/part-{window.label}.jsonl"
            payload = "".join(json.dumps(e.as_record(window), sort_keys=True) + "\n" for e in batch.quarantine)
            files.append((path, payload.encode))
            log.warning(
                "export: window %s: %d quarantine entr(y/ies), %d line(s), written to %s",
                window.label,
                len(batch.quarantine),
                batch.quarantined_lines,
                path,
            )

        def write_and_commit() -> None:
            self._write(state, files)
            self._commit(window, state, batch, files=len(files), records=records, requests=requests)

        self._hand_off(write_and_commit)

    def _write(self, state: _State, files: list[tuple[str, Callable[[], bytes]]]) -> None:
        """Record the paths in ``pending_files``, delete an earlier attempt's leftovers, write the files."""
        paths = [path for path, _ in files]
        stale = sorted(set(state.pending) - set(paths))
        pending = sorted(set(state.pending) | set(paths))
        if pending != state.pending:
            state.pending = pending
            self._save(state)
        for path in stale:
            log.info("export: deleting %s, left by an interrupted earlier attempt", path)
            self.ports.writer.delete(path)
        for path, render in files:
            content_type = "application/x-ndjson" if path.endswith(".jsonl") else "application/vnd.apache.parquet"
            self.ports.writer.write(path, render(), content_type=content_type)

    def _commit(
        self, window: Window, state: _State, batch: WindowBatch, *, files: int, records: int = 0, requests: int = 0
    ) -> None:
        """Move the watermark past ``window`` and clear ``pending_files`` (one conditional write)."""
        counts = {
            "windows": 1,
            "records": records,
            "requests": requests,
            "files": files,
            "quarantined": len(batch.quarantine),
            "quarantined_lines": batch.quarantined_lines,
        }
        state.watermark = window.end
        state.pending = []
        state.totals = {k: state.totals.get(k, 0) + counts[k] for k in _TOTAL_KEYS}
        state.last_window = {**window.as_dict(), **{k: v for k, v in counts.items() if k != "windows"}}
        if records and self.config.data_asset:
            state.data_asset_pending = True
        self._save(state)
        run = self.run_info
        run.windows += 1
        run.records += records
        run.requests += requests
        run.files += files
        run.quarantined += counts["quarantined"]
        run.quarantined_lines += counts["quarantined_lines"]
        run.ignored_lines += batch.ignored

    # --- state -------------------------------------------------------------------------------------
    def _load(self, now: datetime) -> _State:
        doc = self.ports.store.get(state_keys.EXPORT_WATERMARK)
        if doc is None:
            start = floor_second(now - self.config.initial_lookback)
            log.info("export: no watermark yet; starting at %s (now − %s)", iso_z(start), self.config.initial_lookback)
            return _State(watermark=start, etag=None)
        data = doc.data
        try:
            watermark = floor_second(parse_iso(str(data["watermark"])))
        except (KeyError, ValueError) as exc:
            raise PlatformError(f"state document {doc.key} has no valid 'watermark' ({exc}): {data!r}") from exc
        asset = data.get("data_asset") or {}
        return _State(
            watermark=watermark,
            etag=doc.etag,
            pending=sorted(str(p) for p in data.get("pending_files") or []),
            totals={k: int((data.get("totals") or {}).get(k, 0)) for k in _TOTAL_KEYS},
            last_window=dict(data.get("last_window") or {}),
            data_asset_pending=bool(asset.get("pending")),
            data_asset_version=asset.get("last_version"),
        )

    def _save(self, state: _State) -> None:
        store, key = self.ports.store, state_keys.EXPORT_WATERMARK
        document = state.document(self.config)
        try:
            if state.etag is None:
                state.etag = store.create(key, document)
            else:
                state.etag = store.replace(key, document, state.etag)
        except ConflictError as exc:
            log.error("export: the watermark changed under this run (lost the lock?); stopping: %s", exc)
            raise

    # --- data asset --------------------------------------------------------------------------------
    def _publish_asset(self, state: _State) -> None:
        assets, name = self.ports.assets, self.config.data_asset
        if not name or not state.data_asset_pending:
            return
        if assets is None:
            log.warning("export: EXPORT_DATA_ASSET_NAME is set but no data asset platform is available (local mode)")
            return
        version = state.watermark.strftime("%Y%m%d%H%M%S")
        try:
            reference = assets.publish(
                version,
                description=f"Inference data of {self.config.model} exported up to {iso_z(state.watermark)}",
                tags={
                    "model": self.config.model,
                    "endpoint": self.config.endpoint,
                    "watermark": iso_z(state.watermark),
                },
            )
        except PlatformError as exc:
            self.run_info.data_asset_error = str(exc)
            log.error("export: could not create data asset %s version %s (retried next run): %s", name, version, exc)
            return
        self.run_info.data_asset = reference
        state.data_asset_pending = False
        state.data_asset_version = version
        self._save(state)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a window's records are parsed and converted: they are
    millions of new lists and floats (no reference cycles) that die together at the end, and allocating
    them would otherwise trigger collections that traverse all of them again and again (a third of the
    parse time)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _release_freed_memory() -> None:
    """Hand what the run freed back to the operating system. A run converts windows of tens of MB of
    messages, values and tables on two threads; without this, glibc keeps much of it in its per-thread heaps
    and Arrow's allocator keeps its pool, and the Functions host process stays at the run's peak until it is
    recycled. Once per run, not per window: trimming between windows makes the next one fault the pages in
    again (measured: about 8 % slower for a peak 8 % lower). pyarrow is imported: a window was converted."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on another C library."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def _parquet_render(table: Any, window: Window) -> Callable[[], bytes]:
    def render() -> bytes:
        from shared.services.export_records import parquet_bytes

        return parquet_bytes(table, {"mlops.export.window": window.label})

    return render
