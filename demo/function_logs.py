"""The app's log lines during a demo run, kept in ``functions.log`` as the Functions host would collect them.

Timers tick every half second while the demo waits for a rollout, and most ticks log what the previous one did;
consecutive identical lines of one logger are folded into one line that says how often it repeated
(:class:`FoldingFileHandler`). The Azure ML SDK announces each experimental class it instantiates (while
``load_job`` validates a pipeline YAML) on its own stderr handler, in the middle of the demo's stage lines: those
notices, and only those, are dropped (:class:`ExperimentalClassNotices`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The logger azure.ai.ml's experimental decorator warns on, and the text of its class notice
# (azure.ai.ml.constants EXPERIMENTAL_CLASS_MESSAGE; not imported: azure.ai.ml is loaded only when a job is built).
EXPERIMENTAL_LOGGER = "azure.ai.ml._utils._experimental"
EXPERIMENTAL_CLASS_NOTICE = "This is an experimental class"
QUIETER = ("azure", "urllib3")  # their INFO lines are every HTTP request: warnings and errors only


class FoldingFileHandler(logging.FileHandler):
    """A file handler that writes a run of identical lines (same logger, level and message) once, then, when a
    different line comes or the handler closes, ``<message> (same as the previous line, repeated N times)``
    stamped with the last repetition's time; so no two consecutive lines are the same."""

    def __init__(self, filename: Path, mode: str = "w", encoding: str | None = "utf-8") -> None:
        super().__init__(filename, mode=mode, encoding=encoding)
        self._last_key: tuple[str, int, str] | None = None
        self._last_repeat: logging.LogRecord | None = None
        self._repeats = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            key = (record.name, record.levelno, record.getMessage())
        except Exception:  # noqa: BLE001 - a malformed record is reported like logging.Handler does
            self.handleError(record)
            return
        if key == self._last_key:
            self._repeats += 1
            self._last_repeat = record
            return
        self._write_repeats()
        self._last_key = key
        super().emit(record)

    def _write_repeats(self) -> None:
        record, repeats = self._last_repeat, self._repeats
        self._last_repeat, self._repeats = None, 0
        if record is None:
            return
        times = "1 time" if repeats == 1 else f"{repeats} times"
        folded = f"{record.getMessage()} (same as the previous line, repeated {times})"
        super().emit(logging.makeLogRecord({**record.__dict__, "msg": folded, "args": None}))

    def close(self) -> None:
        self.acquire()
        try:
            if self.stream is not None:
                self._write_repeats()
        finally:
            self.release()
        super().close()


class ExperimentalClassNotices(logging.Filter):
    """Drops azure.ai.ml's "Class X: This is an experimental class, …" notices; lets everything else through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == EXPERIMENTAL_LOGGER and EXPERIMENTAL_CLASS_NOTICE in record.getMessage())


@contextmanager
def function_logs(path: Path) -> Iterator[FoldingFileHandler]:
    """For the block: the app's log lines go to ``path`` (folded), not to the console; the SDK's experimental
    class notices go nowhere. Everything is put back as it was at the end."""
    root = logging.getLogger()
    handler = FoldingFileHandler(path)
    handler.setFormatter(logging.Formatter(FORMAT))
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet = {name: logging.getLogger(name).level for name in QUIETER}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    # On the emitting logger itself: azure.ai.ml gives its loggers their own stderr handler and level at import.
    notices = ExperimentalClassNotices()
    logging.getLogger(EXPERIMENTAL_LOGGER).addFilter(notices)
    try:
        yield handler
    finally:
        logging.getLogger(EXPERIMENTAL_LOGGER).removeFilter(notices)
        root.removeHandler(handler)
        handler.close()
        root.setLevel(previous)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
