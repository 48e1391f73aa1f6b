"""Reading and validating files in the curated schema (CSV or Parquet), for the pipeline steps.

A bad file raises :class:`DataError` naming the file, the column and (where it applies) the first bad row and
value, so the failing step says what to fix. An unknown value of an open category (sex, education, marriage) is
kept: the feature schema allows it, and the data-quality gate counts it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..contracts.feature_schema import CATEGORIES, CLOSED_CATEGORIES, FEATURES, NUMERIC, TARGET, parse_target

SUFFIXES = (".csv", ".parquet", ".pq")


class DataError(ValueError):
    """A data file does not fit the curated schema."""


def list_data_files(folder: str | Path) -> list[Path]:
    """CSV and Parquet files in ``folder`` (recursively, sorted: the order is deterministic), or the file itself."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise DataError(f"{folder}: no such file or folder")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise DataError(f"{folder}: no CSV or Parquet files (expected *.csv or *.parquet in the curated schema)")
    return files


def read_raw_file(path: Path, *, require_target: bool = True) -> pd.DataFrame:
    """One file's columns as stored (CSV: text, an empty cell ``""``; Parquet: its types), the schema's columns
    present (DataError naming the first missing one, or the file without rows)."""
    where = str(path)
    try:
        if path.suffix.lower() == ".csv":
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[], skipinitialspace=True)
        else:
            raw = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes a message naming the file
        raise DataError(f"{where}: cannot be read as {path.suffix.lstrip('.')} ({type(exc).__name__}: {exc})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    wanted = [*FEATURES, TARGET] if require_target else list(FEATURES)
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        more = f" (and {len(missing) - 1} more: {', '.join(missing[1:4])}…)" if len(missing) > 1 else ""
        raise DataError(f"{where}: column {missing[0]!r} is missing{more}")
    if raw.empty:
        raise DataError(f"{where}: no rows")
    return raw


def read_raw_folder(folder: str | Path) -> pd.DataFrame:
    """The schema's columns of every file in ``folder``, as stored (see :func:`read_raw_file`), one frame."""
    frames = [read_raw_file(f)[[*FEATURES, TARGET]].astype(object) for f in list_data_files(folder)]
    return pd.concat(frames, ignore_index=True)


def read_curated_file(path: Path, *, require_target: bool = True) -> pd.DataFrame:
    """One file → DataFrame with the features (typed) and, if ``require_target``, the target as int 0/1."""
    where = str(path)
    raw = read_raw_file(path, require_target=require_target)
    out = pd.DataFrame(index=raw.index)
    for name in FEATURES:
        column = raw[name]
        if name in CATEGORIES:
            out[name] = _categorical(where, name, column)
        else:
            out[name] = _numeric(where, name, column, integer=NUMERIC[name] == "int")
    if require_target:
        out[TARGET] = _target(where, raw[TARGET])
    return out.reset_index(drop=True)


def read_curated_folder(folder: str | Path, *, require_target: bool = True) -> pd.DataFrame:
    files = list_data_files(folder)
    frames = [read_curated_file(f, require_target=require_target) for f in files]
    return pd.concat(frames, ignore_index=True)


def _first_bad(where: str, name: str, column: pd.Series, bad: np.ndarray, problem: str) -> DataError:
    row = int(np.flatnonzero(bad)[0])
    return DataError(
        f"{where}: column {name!r}, row {row + 1} (and {int(bad.sum()) - 1} more): {column.iloc[row]!r} {problem}"
    )


def _categorical(where: str, name: str, column: pd.Series) -> pd.Series:
    if column.isna().any():
        raise _first_bad(where, name, column, column.isna().to_numpy(), "is empty")
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        raise DataError(f"{where}: column {name!r} has type {column.dtype}, expected text categories")
    text = column.astype(str).str.strip()
    empty = (text == "").to_numpy()
    if empty.any():
        raise _first_bad(where, name, column, empty, "is empty")
    # An unknown value of an open vocabulary is data (the model encodes it as missing); a closed code set has none.
    if name in CLOSED_CATEGORIES:
        bad = ~text.isin(CATEGORIES[name]).to_numpy()
        if bad.any():
            raise _first_bad(where, name, column, bad, f"is not one of {', '.join(CATEGORIES[name])}")
    return text.astype(object)


def _numeric(where: str, name: str, column: pd.Series, *, integer: bool) -> pd.Series:
    if pd.api.types.is_bool_dtype(column):
        raise DataError(f"{where}: column {name!r} is boolean, expected numbers")
    if pd.api.types.is_numeric_dtype(column):
        values = column.astype(np.float64)
    else:
        values = pd.to_numeric(column.astype(str).str.strip(), errors="coerce").astype(np.float64)
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        raise _first_bad(where, name, column, bad, "is not a number")
    if integer:
        whole = values.to_numpy() == np.round(values.to_numpy())
        if not whole.all():
            raise _first_bad(where, name, column, ~whole, "is not a whole number")
        return values.astype(np.int64)
    return values


def _target(where: str, column: pd.Series) -> pd.Series:
    parsed = np.empty(len(column), dtype=np.int64)
    for i, value in enumerate(column.tolist()):
        try:
            parsed[i] = parse_target(value)
        except ValueError:
            raise DataError(
                f"{where}: column {TARGET!r}, row {i + 1}: {value!r} is not True/False, a boolean or 0/1"
            ) from None
    return pd.Series(parsed, index=column.index, dtype=np.int64)
