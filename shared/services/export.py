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
   reason; malformed JSON, missing or conflicting parts, wrong value types) (:mod:`shared.services.export_files`),
   then moves the watermark to the window's end (:mod:`shared.services.export_watermark`). Writing and the
   watermark move run on one background thread while the main thread fetches and parses the next window; the
   state writes keep their order, each window's after the previous one's (:mod:`shared.services.export_writer`).
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

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.clock import utcnow
from shared.ports import (
    BlobWriter,
    DataAssetPublisher,
    LockHeldError,
    LogRow,
    LogSource,
    PlatformError,
    StateStore,
)
from shared.services import state_keys
from shared.services.export_batch import WindowBatch, assemble_window
from shared.services.export_files import WindowFiles, window_files
from shared.services.export_memory import gc_paused, release_freed_memory
from shared.services.export_outcome import ExportOutcome, ExportStatus, record_outcome
from shared.services.export_watermark import Watermark, load_watermark
from shared.services.export_windows import Window, floor_second, next_window
from shared.services.export_writer import WindowWriter
from shared.services.timestamps import iso_z
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


def run_export(
    config: ExportConfig,
    ports: ExportPorts,
    *,
    past_due: bool = False,
    clock: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
) -> ExportOutcome:
    """One export run (see the module docstring). Raises PlatformError/TransientError on failures that a
    later run may get past (the watermark only ever covers completely written windows)."""
    run = ExportOutcome(started_at=iso_z(floor_second(clock())), past_due=past_due)
    if past_due:
        log.warning("export: the timer is past due; catching up for at most %s", config.time_budget)
    try:
        with ports.store.lock(state_keys.EXPORT_LOCK):
            try:
                _Exporter(config, ports, run, clock, monotonic).run()
            except Exception as exc:
                run.status = ExportStatus.FAILED
                run.error = f"{type(exc).__name__}: {exc}"
                log.error(run.summary())
                record_outcome(ports.store, run)
                raise
            record_outcome(ports.store, run)
    except LockHeldError:
        run.status = ExportStatus.LOCKED
        log.info("export: another instance holds the export lock; this run exports nothing")
        return run
    log.info(run.summary())
    return run


class _Exporter:
    _writer: WindowWriter  # the run's, while it runs

    def __init__(
        self,
        config: ExportConfig,
        ports: ExportPorts,
        run: ExportOutcome,
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
        config, run, ports = self.config, self.run_info, self.ports
        began = self.monotonic()
        now = self.clock()
        state = load_watermark(ports.store, now, config.initial_lookback)
        horizon = floor_second(now - config.ingestion_delay - config.margin)
        budget = config.time_budget.total_seconds()
        stack: list[Window] = []
        cursor = state.watermark  # the end of the last window handed to the writer (its watermark once committed)
        handed = 0
        writer = WindowWriter(
            ports.store,
            ports.writer,
            state,
            model=config.model,
            endpoint=config.endpoint,
            data_asset=bool(config.data_asset),
        )
        with writer:
            self._writer = writer
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
                writer.drain(quiet=True)
                raise
            else:
                writer.drain()
            finally:
                run.seconds = round(self.monotonic() - began, 3)
                run.watermark = iso_z(state.watermark)
                run.lag_seconds = round((now - state.watermark).total_seconds(), 1)
        if run.windows:
            run.status = ExportStatus.EXPORTED
        if run.records or run.quarantined:
            release_freed_memory()
        self._publish_asset(writer)

    def _export_or_split(self, window: Window, state: Watermark) -> tuple[Window, Window] | None:
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
            self._hand_off(window, WindowBatch(window=window), WindowFiles())
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
        self._export_window(window, rows)
        return None

    # --- one window --------------------------------------------------------------------------------
    def _export_window(self, window: Window, rows: list[LogRow]) -> None:
        config = self.config
        with gc_paused():
            batch = assemble_window(window, rows, model=config.model, margin=config.margin)
            rows.clear()
            out = window_files(
                window, batch, model=config.model, prefix=config.prefix, quarantine_prefix=config.quarantine_prefix
            )
            self._hand_off(window, batch, out)

    def _hand_off(self, window: Window, batch: WindowBatch, out: WindowFiles) -> None:
        """Write the window's files and commit it on the writer thread, then count it in the run."""

        def write_and_commit() -> None:
            self._writer.write(out.files)
            files, records, requests = len(out.files), out.records, out.requests
            counts = self._writer.commit(window, batch, files=files, records=records, requests=requests)
            self.run_info.add(counts, ignored_lines=batch.ignored)

        self._writer.hand_off(write_and_commit)

    # --- data asset --------------------------------------------------------------------------------
    def _publish_asset(self, writer: WindowWriter) -> None:
        assets, name, state = self.ports.assets, self.config.data_asset, writer.state
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
        writer.save()
