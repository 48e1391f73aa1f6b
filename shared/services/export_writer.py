"""The writer side of an export run: each window's files written and its watermark committed, in window order,
on one background thread while the main thread fetches and parses the next window.

Per window, the exactly-once steps (see :mod:`shared.services.export`): record the paths about to be written in
``pending_files``, delete what an interrupted earlier attempt listed there and this one will not overwrite,
write the files, then move the watermark past the window and clear ``pending_files`` in one conditional write.

A window's files are rendered (Parquet encoding releases the GIL) and uploaded on the background thread. The
order of the state writes is that of an inline run: a window's job starts only after the previous window's
job (which ends with its commit) has finished, so ``pending_files`` and the watermark move exactly as they
would inline; a failed job fails the run at the next hand-off (or at the end), the watermark where it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from shared.ports import BlobWriter, StateStore
from shared.services.export_batch import WindowBatch
from shared.services.export_files import Render
from shared.services.export_watermark import Watermark, save_watermark
from shared.services.export_windows import Window

log = logging.getLogger(__name__)


class WindowWriter:
    """Writes the windows of one run into the export container and the watermark document ``state``."""

    def __init__(
        self, store: StateStore, blobs: BlobWriter, state: Watermark, *, model: str, endpoint: str, data_asset: bool
    ) -> None:
        self._store = store
        self._blobs = blobs
        self.state = state
        self._model = model
        self._endpoint = endpoint
        self._data_asset = data_asset  # a data asset version is owed once a window with records is committed
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-writer")
        self._job: Future[None] | None = None

    def __enter__(self) -> WindowWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._pool.shutdown(wait=True)

    # --- the background thread ---------------------------------------------------------------------
    def hand_off(self, job: Callable[[], None]) -> None:
        """Run ``job`` (one window's writes) once the previous window's job has finished."""
        self.drain()
        self._job = self._pool.submit(job)

    def drain(self, *, quiet: bool = False) -> None:
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

    # --- one window's writes -------------------------------------------------------------------------
    def write(self, files: list[tuple[str, Render]]) -> None:
        """Record the paths in ``pending_files``, delete an earlier attempt's leftovers, write the files."""
        state = self.state
        paths = [path for path, _ in files]
        stale = sorted(set(state.pending) - set(paths))
        pending = sorted(set(state.pending) | set(paths))
        if pending != state.pending:
            state.pending = pending
            self.save()
        for path in stale:
            log.info("export: deleting %s, left by an interrupted earlier attempt", path)
            self._blobs.delete(path)
        for path, render in files:
            content_type = "application/x-ndjson" if path.endswith(".jsonl") else "application/vnd.apache.parquet"
            self._blobs.write(path, render(), content_type=content_type)

    def commit(
        self, window: Window, batch: WindowBatch, *, files: int, records: int = 0, requests: int = 0
    ) -> dict[str, int]:
        """Move the watermark past ``window`` and clear ``pending_files`` (one conditional write); returns what
        the window added to the totals."""
        counts = {
            "windows": 1,
            "records": records,
            "requests": requests,
            "files": files,
            "quarantined": len(batch.quarantine),
            "quarantined_lines": batch.quarantined_lines,
        }
        self.state.advance(window, counts, data_asset_owed=bool(records and self._data_asset))
        self.save()
        return counts

    def save(self) -> None:
        save_watermark(self._store, self.state, model=self._model, endpoint=self._endpoint)
