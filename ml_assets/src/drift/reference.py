"""The reference data of a drift run: the model's curated training data (CSV or Parquet) as one Arrow table.

CSV is read with the feature schema's types, so a stray value is a :class:`.feature_tables.SchemaError`
naming the column rather than a silent change of type; Parquet is read and checked as the exported data is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..contracts.feature_schema import CATEGORICAL_FEATURES, CATEGORIES, FEATURES
from .feature_tables import (
    PREDICTION,
    SchemaError,
    concat_tables,
    data_files,
    normalize_types,
    read_parquet_features,
)

if TYPE_CHECKING:
    import pyarrow as pa


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
    tables = [_read_csv(f) if f.suffix.lower() == ".csv" else read_parquet_features(f, with_time=False) for f in files]
    with_prediction = all(PREDICTION in t.column_names for t in tables)
    keep = [*FEATURES, *([PREDICTION] if with_prediction else [])]
    table = concat_tables([normalize_types(t.select(keep)) for t in tables], keep)
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
