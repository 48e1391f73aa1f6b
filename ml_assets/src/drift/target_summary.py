"""The exported data of the window, read file by file: its rows, or its exact counts and a uniform sample.

Each selected Parquet file (:mod:`.target_files`) is read with its features checked, brought to one schema,
and cut to the rows whose ``time`` lies in the window (exact for windows that do not fall on whole hours).
:func:`summarize_target` then reduces each file to exact per-column counts and sample candidates, so memory
holds a few files and the distinct values, never the whole window. Alongside, per file: what the counts leave
out (missing and infinite values, for data quality) and the predictions counted per ``model_version`` (the
version that scored each row), so a window whose rows mix versions compares each with its own reference.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..contracts.export_layout import MODEL_VERSION, PREDICTION, TIME
from ..contracts.feature_schema import CATEGORICAL_FEATURES, FEATURES
from .column_counts import CATEGORICAL, NUMERICAL, Counts, categorical_counts, merge_counts, numeric_counts
from .data_quality import Gaps, column_gaps, merge_gaps
from .feature_tables import concat_tables, normalize_types, read_parquet_features
from .target_files import Window

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)


def load_target(files: Iterable[Path], window: Window) -> pa.Table:
    """The feature columns (and ``prediction`` when present in every file) of ``files``, rows in the window.

    Categorical features are read dictionary-encoded (cheap to count). Numeric types may differ between
    files (int in one, double in another): they are promoted, never silently truncated.
    """
    files = list(files)

    def read(file: Path) -> pa.Table:
        return _in_window(read_parquet_features(file, with_time=window.bounded), window, file)

    # One file per thread (each read single-threaded): steadier than Arrow's own pool on a busy small node.
    workers = min(len(files), os.cpu_count() or 1, 4)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift-read") as pool:
            tables = list(pool.map(read, files))
    else:
        tables = [read(file) for file in files]
    if not tables:
        import pyarrow as pa

        return pa.table({})
    with_prediction = all(PREDICTION in t.column_names for t in tables)
    keep = [*FEATURES, *([PREDICTION] if with_prediction else [])]
    return concat_tables([normalize_types(t.select(keep)) for t in tables], keep)


@dataclass
class TargetSummary:
    """The exported data of the window, reduced file by file: exact counts per column and a uniform sample."""

    rows: int
    counts: dict[str, Counts]  # the features, and "prediction" when every file has it
    sample: pa.Table | None  # a uniform random sample (without replacement) of the rows, for the report
    files: int
    gaps: dict[str, Gaps] = field(default_factory=dict)  # per feature: missing and infinite values
    predictions_by_version: dict[str, Counts] = field(default_factory=dict)  # model_version → its predictions

    @property
    def has_prediction(self) -> bool:
        return PREDICTION in self.counts


def _predictions_by_version(table: pa.Table, default_version: str) -> dict[str, Counts]:
    """The file's predictions counted per ``model_version`` (rows without one: ``default_version``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    predictions = table.column(PREDICTION)
    if MODEL_VERSION not in table.column_names:
        return {default_version: numeric_counts(predictions, column=PREDICTION)}
    versions = pc.fill_null(pc.cast(table.column(MODEL_VERSION), pa.string()), default_version)
    distinct = [str(v) for v in pc.unique(versions).to_pylist()]
    if len(distinct) == 1:  # the export's layout: one version per file
        return {distinct[0]: numeric_counts(predictions, column=PREDICTION)}
    return {v: numeric_counts(predictions.filter(pc.equal(versions, v)), column=PREDICTION) for v in sorted(distinct)}


def summarize_target(
    files: Sequence[Path],
    window: Window,
    *,
    sample_rows: int,
    seed: int = 0,
    workers: int | None = None,
    default_version: str = "",
) -> TargetSummary:
    """Read the files one by one (in a few threads), keep only the window's rows, and reduce each file to exact
    per-column counts (merged across files: still exact) and sample candidates. Memory holds a few files and
    the distinct values, never the whole window, whatever its volume. Rows without a ``model_version`` column
    (or value) count as ``default_version``'s (the run's: the files are that version's partition).

    The sample: every row gets a uniform random key; the ``sample_rows`` rows with the smallest keys across
    all files are a uniform sample without replacement (deterministic for a seed and a file list).
    """
    import numpy as np

    files = list(files)

    def one(indexed: tuple[int, Path]) -> tuple[int, dict[str, Counts], FileExtras, pa.Table, np.ndarray]:
        index, file = indexed
        table = _in_window(read_parquet_features(file, with_time=window.bounded), window, file)
        by_version = _predictions_by_version(table, default_version) if PREDICTION in table.column_names else {}
        columns = [*FEATURES, *([PREDICTION] if PREDICTION in table.column_names else [])]
        table = normalize_types(table.select(columns))
        extras = FileExtras(column_gaps(table, FEATURES), by_version)
        counts = {
            c: (
                categorical_counts(table.column(c), column=c)
                if c in CATEGORICAL_FEATURES
                else numeric_counts(table.column(c), column=c)
            )
            for c in columns
        }
        keys = np.random.default_rng([seed, index]).random(table.num_rows)
        if table.num_rows > sample_rows:
            picked = np.sort(np.argpartition(keys, sample_rows - 1)[:sample_rows])
            return table.num_rows, counts, extras, table.take(picked), keys[picked]
        return table.num_rows, counts, extras, table, keys

    parts: dict[str, list[Counts]] = {}
    rows = 0
    every_file_has_prediction = True
    best: tuple[pa.Table, np.ndarray] | None = None
    gaps: list[dict[str, Gaps]] = []
    versions: dict[str, list[Counts]] = {}
    workers = min(len(files), workers or os.cpu_count() or 1, 4)
    with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="drift-read") as pool:
        for n, counts, extras, candidates, keys in pool.map(one, enumerate(files)):
            rows += n
            gaps.append(extras.gaps)
            for version, part in extras.predictions_by_version.items():
                if part.n:
                    versions.setdefault(version, []).append(part)
            every_file_has_prediction = every_file_has_prediction and PREDICTION in counts
            for column, part in counts.items():
                if part.n:
                    parts.setdefault(column, []).append(part)
            if candidates.num_rows:
                columns = [*FEATURES, *([PREDICTION] if every_file_has_prediction else [])]
                best = _smallest_keys(best, candidates.select(columns), keys, sample_rows)
    merged = {c: merge_counts(p) for c, p in parts.items() if c != PREDICTION or every_file_has_prediction}
    for column in FEATURES:
        merged.setdefault(column, _empty(column))
    return TargetSummary(
        rows=rows,
        counts=merged,
        sample=best[0] if best else None,
        files=len(files),
        gaps=merge_gaps(gaps),
        predictions_by_version={v: merge_counts(p) for v, p in sorted(versions.items())},
    )


@dataclass(frozen=True)
class FileExtras:
    """What one file adds besides its counts: its gaps, and its predictions per model version."""

    gaps: dict[str, Gaps]
    predictions_by_version: dict[str, Counts]


def _smallest_keys(
    best: tuple[pa.Table, Any] | None, candidates: pa.Table, keys: Any, size: int
) -> tuple[pa.Table, Any]:
    """The ``size`` rows with the smallest keys among the best so far and the new candidates."""
    import numpy as np

    if best is not None:
        candidates = concat_tables([best[0].select(candidates.column_names), candidates], candidates.column_names)
        keys = np.concatenate([best[1], keys])
    if candidates.num_rows > size:
        keep = np.sort(np.argpartition(keys, size - 1)[:size])
        candidates, keys = candidates.take(keep), keys[keep]
    return candidates, keys


def _empty(column: str) -> Counts:
    import numpy as np

    kind = CATEGORICAL if column in CATEGORICAL_FEATURES else NUMERICAL
    return Counts(kind, np.array([], dtype=object if kind == CATEGORICAL else np.float64), np.array([], np.int64))


def _in_window(table: pa.Table, window: Window, file: Path) -> pa.Table:
    """Rows whose ``time`` is in the window (when bounded and the file has a timestamp ``time`` column)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    if not window.bounded or TIME not in table.column_names:
        return table
    column = table.column(TIME)
    if pat.is_string(column.type) or pat.is_large_string(column.type):
        try:
            column = pc.cast(pc.replace_substring(column, "Z", "+00:00"), pa.timestamp("us", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            log.warning("%s: column 'time' is not ISO-8601 text; rows are selected by partition only", file)
            return table
    elif not pat.is_timestamp(column.type):
        log.warning("%s: column 'time' is %s, not a timestamp; rows are selected by partition only", file, column.type)
        return table
    if column.type.tz is None:
        column = pc.assume_timezone(column, "UTC")
    unit = column.type.unit
    start = pa.scalar(window.start, type=pa.timestamp(unit, tz="UTC")) if window.start else None
    end = pa.scalar(window.end, type=pa.timestamp(unit, tz="UTC")) if window.end else None
    bounds = pc.min_max(column)
    low, high = bounds["min"], bounds["max"]
    inside = (
        column.null_count == 0
        and low.is_valid
        and (start is None or pc.greater_equal(low, start).as_py())
        and (end is None or pc.less(high, end).as_py())
    )
    if inside:
        return table  # every row is in the window (the usual case: whole-hour windows): no copy
    mask = None
    if start is not None:
        mask = pc.greater_equal(column, start)
    if end is not None:
        below = pc.less(column, end)
        mask = below if mask is None else pc.and_(mask, below)
    return table.filter(mask)  # rows without a time are dropped (outside any window)
