"""Input data of the drift component: the reference (curated CSV/Parquet) and the exported inference data.

``target_data`` is a folder of exported Parquet in the export layout (``shared/services/export_layout.py``):
``[<prefix>/][model=<name>/version=<v>/]date=YYYY-MM-DD/hour=HH/*.parquet``. The function app passes the
``model=<name>/version=<v>`` folder and the window; this module keeps the files whose ``model``/``version``
partition (when present) match and whose ``date``/``hour`` partition overlaps ``[window_start, window_end)``,
then keeps the rows whose ``time`` lies in the window (exact for windows that do not fall on whole hours).

A missing or mistyped feature column is a :class:`SchemaError` that names the column and the file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..contracts.feature_schema import CATEGORICAL_FEATURES, CATEGORIES, FEATURES, NUMERIC_FEATURES
from .column_counts import CATEGORICAL, NUMERICAL, Counts, categorical_counts, merge_counts, numeric_counts

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

PREDICTION: Final = "prediction"
TIME: Final = "time"
_PARTITION = re.compile(r"^(model|version|date|hour)=(.+)$")
DATA_SUFFIXES: Final = (".csv", ".parquet", ".pq")


class SchemaError(ValueError):
    """The data does not fit the feature schema. ``column`` names the offending column."""

    def __init__(self, column: str, message: str, source: str | None = None) -> None:
        self.column = column
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"column {column!r}{where}: {message}")


def data_files(path: Path, suffixes: Sequence[str] = DATA_SUFFIXES) -> list[Path]:
    """``path`` itself if it is a file, else the data files below it (recursively, sorted; hidden and
    ``_``-prefixed files such as ``_SUCCESS`` skipped)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in suffixes
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    )


# --- reference -----------------------------------------------------------------------------------


def load_reference(path: Path) -> pa.Table:
    """The reference rows (features, and ``prediction`` when every file has it) of every CSV/Parquet file
    under ``path``, as one Arrow table: numbers as float64/int64, categories dictionary-encoded.

    CSV is read with the schema's types (numbers as float64, categories as text, empty cells missing), so a
    stray text value in a numeric column is a :class:`SchemaError` naming the column, not a silent change of
    type. A categorical column none of whose values is a known category (e.g. codes instead of labels) is
    one too.
    """
    files = data_files(path)
    if not files:
        raise FileNotFoundError(f"no CSV or Parquet file under {path}")
    tables = [_read_csv(f) if f.suffix.lower() == ".csv" else _read_parquet(f, None) for f in files]
    with_prediction = all(PREDICTION in t.column_names for t in tables)
    keep = [*FEATURES, *([PREDICTION] if with_prediction else [])]
    table = _concat([_normalize(t.select(keep)) for t in tables], keep)
    for column in CATEGORICAL_FEATURES:
        known = set(CATEGORIES[column])
        values = [v for v in table.column(column).unique().to_pylist() if v is not None]
        if values and not known.intersection(values):
            raise SchemaError(
                column,
                f"none of its values is a known category (found {', '.join(map(repr, sorted(values)[:3]))}; "
                f"expected {', '.join(CATEGORIES[column])})",
                str(path),
            )
    return table


def _read_csv(file: Path) -> pa.Table:
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    with file.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    for column in FEATURES:
        if column not in header:
            raise SchemaError(column, "missing", str(file))
    columns = [*FEATURES, *([PREDICTION] if PREDICTION in header else [])]
    types = {c: (pa.string() if c in CATEGORICAL_FEATURES else pa.float64()) for c in columns}
    try:
        return pacsv.read_csv(
            file,
            read_options=pacsv.ReadOptions(encoding="utf-8-sig" if _has_bom(file) else "utf8"),
            convert_options=pacsv.ConvertOptions(include_columns=columns, column_types=types, strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        message = str(exc)
        match = re.search(r"column #(\d+)", message)
        index = int(match[1]) if match else -1
        name = header[index] if 0 <= index < len(header) else next((c for c in columns if c in message), "?")
        detail = message.split(":", 1)[-1].strip() if "conversion error" in message else message
        raise SchemaError(name, f"expected numbers ({detail})", str(file)) from None


def _has_bom(file: Path) -> bool:
    with file.open("rb") as handle:
        return handle.read(3) == b"\xef\xbb\xbf"


# --- target (exported inference data) -------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: datetime | None = None
    end: datetime | None = None

    def overlaps_hour(self, hour_start: datetime) -> bool:
        hour_end = hour_start + timedelta(hours=1)
        return (self.start is None or hour_end > self.start) and (self.end is None or hour_start < self.end)

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None


def parse_time(text: str | None, name: str) -> datetime | None:
    """An ISO-8601 instant (``Z`` or an offset; naive means UTC), or None for empty text."""
    if text is None or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not an ISO-8601 date-time") from None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Selection:
    files: list[Path] = field(default_factory=list)
    skipped_other_model: int = 0
    skipped_outside_window: int = 0
    unpartitioned: int = 0


def partitions_of(relative: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in relative.parts[:-1]:
        match = _PARTITION.match(part)
        if match:
            out[match[1]] = match[2]
    return out


def select_target_files(root: Path, model_name: str, model_version: str, window: Window) -> Selection:
    """The Parquet files of ``root`` for this model version whose hour partition overlaps the window."""
    selection = Selection()
    base = root if root.is_dir() else root.parent
    for file in data_files(root, (".parquet", ".pq")):
        parts = partitions_of(file.relative_to(base))
        if ("model" in parts and parts["model"] != model_name) or (
            "version" in parts and parts["version"] != str(model_version)
        ):
            selection.skipped_other_model += 1
            continue
        if "date" in parts and "hour" in parts:
            try:
                hour_start = datetime.fromisoformat(parts["date"]).replace(hour=int(parts["hour"]), tzinfo=UTC)
            except ValueError:
                raise SchemaError(
                    "hour", f"partition folder {parts} is not date=YYYY-MM-DD/hour=HH", str(file)
                ) from None
            if not window.overlaps_hour(hour_start):
                selection.skipped_outside_window += 1
                continue
        else:
            selection.unpartitioned += 1
        selection.files.append(file)
    return selection


def _is_numeric(data_type: pa.DataType) -> bool:
    import pyarrow.types as pat

    return (pat.is_integer(data_type) or pat.is_floating(data_type) or pat.is_decimal(data_type)) and not (
        pat.is_boolean(data_type)
    )


def _is_text(data_type: pa.DataType) -> bool:
    import pyarrow.types as pat

    if pat.is_dictionary(data_type):
        data_type = data_type.value_type
    return pat.is_string(data_type) or pat.is_large_string(data_type) or pat.is_null(data_type)


def load_target(files: Iterable[Path], window: Window) -> pa.Table:
    """The feature columns (and ``prediction`` when present in every file) of ``files``, rows in the window.

    Categorical features are read dictionary-encoded (cheap to count). Numeric types may differ between
    files (int in one, double in another): they are promoted, never silently truncated.
    """
    files = list(files)

    def read(file: Path) -> pa.Table:
        return _in_window(_read_parquet(file, window), window, file)

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
    return _concat([_normalize(t.select(keep)) for t in tables], keep)


@dataclass
class TargetSummary:
    """The exported data of the window, reduced file by file: exact counts per column and a uniform sample."""

    rows: int
    counts: dict[str, Counts]  # the features, and "prediction" when every file has it
    sample: pa.Table | None  # a uniform random sample (without replacement) of the rows, for the report
    files: int

    @property
    def has_prediction(self) -> bool:
        return PREDICTION in self.counts


def summarize_target(
    files: Sequence[Path], window: Window, *, sample_rows: int, seed: int = 0, workers: int | None = None
) -> TargetSummary:
    """Read the files one by one (in a few threads), keep only the window's rows, and reduce each file to exact
    per-column counts (merged across files: still exact) and sample candidates. Memory holds a few files and
    the distinct values, never the whole window, whatever its volume.

    The sample: every row gets a uniform random key; the ``sample_rows`` rows with the smallest keys across
    all files are a uniform sample without replacement (deterministic for a seed and a file list).
    """
    import numpy as np

    files = list(files)

    def one(indexed: tuple[int, Path]) -> tuple[int, dict[str, Counts], pa.Table, np.ndarray]:
        index, file = indexed
        table = _in_window(_read_parquet(file, window), window, file)
        columns = [*FEATURES, *([PREDICTION] if PREDICTION in table.column_names else [])]
        table = _normalize(table.select(columns))
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
            return table.num_rows, counts, table.take(picked), keys[picked]
        return table.num_rows, counts, table, keys

    parts: dict[str, list[Counts]] = {}
    rows = 0
    every_file_has_prediction = True
    best: tuple[pa.Table, np.ndarray] | None = None
    workers = min(len(files), workers or os.cpu_count() or 1, 4)
    with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="drift-read") as pool:
        for n, counts, candidates, keys in pool.map(one, enumerate(files)):
            rows += n
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
    return TargetSummary(rows=rows, counts=merged, sample=best[0] if best else None, files=len(files))


def _smallest_keys(
    best: tuple[pa.Table, Any] | None, candidates: pa.Table, keys: Any, size: int
) -> tuple[pa.Table, Any]:
    """The ``size`` rows with the smallest keys among the best so far and the new candidates."""
    import numpy as np

    if best is not None:
        candidates = _concat([best[0].select(candidates.column_names), candidates], candidates.column_names)
        keys = np.concatenate([best[1], keys])
    if candidates.num_rows > size:
        keep = np.sort(np.argpartition(keys, size - 1)[:size])
        candidates, keys = candidates.take(keep), keys[keep]
    return candidates, keys


def _empty(column: str) -> Counts:
    import numpy as np

    kind = CATEGORICAL if column in CATEGORICAL_FEATURES else NUMERICAL
    return Counts(kind, np.array([], dtype=object if kind == CATEGORICAL else np.float64), np.array([], np.int64))


def _read_parquet(file: Path, window: Window | None) -> pa.Table:
    """The features (+ ``prediction``, + ``time`` when a window is given) of one Parquet file, checked."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(file)
    names = set(schema.names)
    for column in FEATURES:
        if column not in names:
            raise SchemaError(column, "missing", str(file))
    for column in NUMERIC_FEATURES:
        if not _is_numeric(schema.field(column).type):
            raise SchemaError(column, f"expected numbers, found {schema.field(column).type}", str(file))
    for column in CATEGORICAL_FEATURES:
        if not _is_text(schema.field(column).type):
            raise SchemaError(column, f"expected category labels (text), found {schema.field(column).type}", str(file))
    if PREDICTION in names and not _is_numeric(schema.field(PREDICTION).type):
        raise SchemaError(PREDICTION, f"expected numbers, found {schema.field(PREDICTION).type}", str(file))
    with_time = window is not None and window.bounded and TIME in names
    columns = [*FEATURES, *([PREDICTION] if PREDICTION in names else []), *([TIME] if with_time else [])]
    # ParquetFile.read: a few times faster per file than pq.read_table (no dataset discovery per call)
    return pq.ParquetFile(file, read_dictionary=list(CATEGORICAL_FEATURES)).read(columns=columns, use_threads=False)


def _concat(tables: list[pa.Table], keep: list[str]) -> pa.Table:
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        column = next((c for c in keep if len({str(t.schema.field(c).type) for t in tables}) > 1), keep[0])
        raise SchemaError(column, f"files disagree on its type ({exc})") from None


def _normalize(table: pa.Table) -> pa.Table:
    """Categorical columns as dictionary<int32, string>, numeric ones as int64/float64 (one schema for all)."""
    import pyarrow as pa
    import pyarrow.types as pat

    columns = []
    for name in table.column_names:
        column = table.column(name)
        data_type = column.type
        if name in CATEGORICAL_FEATURES:
            target = pa.dictionary(pa.int32(), pa.string())
            if data_type != target:
                column = column.cast(pa.string()).dictionary_encode()
        elif pat.is_integer(data_type) and data_type != pa.int64():
            column = column.cast(pa.int64())
        elif (pat.is_floating(data_type) or pat.is_decimal(data_type)) and data_type != pa.float64():
            column = column.cast(pa.float64())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


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
