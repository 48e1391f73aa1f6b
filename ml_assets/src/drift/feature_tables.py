"""Feature tables: the data files of a folder read into Arrow tables checked against the feature schema.

Shared by the reference and the exported (target) data: which files of a folder are data, one Parquet file
read with its feature columns checked, every table brought to one schema (categories dictionary-encoded,
numbers int64/float64) and tables joined without silent truncation. A missing or mistyped feature column is
a :class:`SchemaError` that names the column and the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..contracts.export_layout import MODEL_VERSION, PREDICTION, TIME
from ..contracts.feature_schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES

if TYPE_CHECKING:
    import pyarrow as pa

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


def read_parquet_features(file: Path, *, with_time: bool) -> pa.Table:
    """The features (+ ``prediction`` and ``model_version`` when present, + ``time`` when ``with_time``) of one
    Parquet file, checked."""
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
    read_time = with_time and TIME in names
    extra = [c for c in (PREDICTION, MODEL_VERSION) if c in names]
    columns = [*FEATURES, *extra, *([TIME] if read_time else [])]
    # ParquetFile.read: a few times faster per file than pq.read_table (no dataset discovery per call)
    return pq.ParquetFile(file, read_dictionary=list(CATEGORICAL_FEATURES)).read(columns=columns, use_threads=False)


def concat_tables(tables: list[pa.Table], keep: list[str]) -> pa.Table:
    """One table of ``tables``, numeric types promoted; a column whose types cannot be joined is a SchemaError."""
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        column = next((c for c in keep if len({str(t.schema.field(c).type) for t in tables}) > 1), keep[0])
        raise SchemaError(column, f"files disagree on its type ({exc})") from None


def normalize_types(table: pa.Table) -> pa.Table:
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
