"""Reading the labels location: every labels file, the rows that can be read, and the one label per record that
counts as of a moment (the rules are the contract's, ``contracts/labels.py``).

Vectorised with pyarrow (a million labels in well under a second): ids as strings, labels parsed from their text
(``1``/``0``/``true``/``false``, any case), times cast from ISO-8601 to UTC microseconds. A column that cannot be
cast as a whole falls back to value-by-value parsing, so one bad row is counted, not fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..contracts.labels import FALSE_TEXTS, ID, LABEL, LABEL_TIME, SUFFIXES, TRUE_TEXTS

if TYPE_CHECKING:
    import pyarrow as pa

# The columns of the labels table this module returns.
LABEL_ID = "label_id"
LABEL_VALUE = "label_value"
LABEL_KNOWN = "label_known_us"  # label_time as UTC microseconds since the epoch


class LabelsError(ValueError):
    """A labels file cannot be read at all (not CSV/Parquet, a required column missing)."""


@dataclass
class LabelsRead:
    """The labels that count, and what the reading found."""

    table: pa.Table  # label_id, label_value (int8), label_known_us (int64): one row per record
    files: int = 0
    rows: int = 0
    invalid_rows: int = 0
    late_rows: int = 0  # known after labels_as_of: the next job sees them
    superseded_rows: int = 0  # duplicates and revisions that lost to a later label of the same record
    invalid_examples: list[str] = field(default_factory=list)


def labels_files(root: Path) -> list[Path]:
    """Every labels file under ``root`` (a file or a folder), sorted by relative path."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"labels: {root} does not exist")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))


def _read_file(path: Path) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if path.name.lower().endswith(".parquet"):
            table = pq.read_table(path)
        else:
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    column_types={ID: pa.string(), LABEL: pa.string(), LABEL_TIME: pa.string()}
                ),
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise LabelsError(f"labels file {path.name}: cannot be read ({str(exc)[:200]})") from None
    missing = [c for c in (ID, LABEL, LABEL_TIME) if c not in table.column_names]
    if missing:
        raise LabelsError(
            f"labels file {path.name}: column(s) {', '.join(missing)} missing; expected {ID}, {LABEL}, {LABEL_TIME}"
        )
    return table.select([ID, LABEL, LABEL_TIME])


def _labels(column: Any) -> Any:
    """int8 1/0, null where the value is not a label."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(column.type):
        return pc.cast(column, pa.int8())
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(column, pa.string())))
    ones = pc.is_in(text, value_set=pa.array(TRUE_TEXTS))
    zeros = pc.is_in(text, value_set=pa.array(FALSE_TEXTS))
    return pc.if_else(ones, pa.scalar(1, pa.int8()), pc.if_else(zeros, pa.scalar(0, pa.int8()), None))


def _times(column: Any) -> Any:
    """int64 UTC microseconds, null where the value is not a time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    utc = pa.timestamp("us", tz="UTC")
    if pa.types.is_timestamp(column.type):
        cast = column if column.type.tz else pc.assume_timezone(column, "UTC")
        return pc.cast(pc.cast(cast, utc), pa.int64())
    text = pc.cast(column, pa.string())
    try:
        with_zone = pc.cast(text, utc)
        return pc.cast(with_zone, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values = [_parse_time(v) for v in text.to_pylist()]
    return pa.array(values, type=pa.int64())


def _parse_time(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _ids(column: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pc.cast(column, pa.string())
    return pc.if_else(pc.equal(pc.utf8_length(ids), 0), None, ids)


def read_labels(root: Path, as_of: datetime | None) -> LabelsRead:
    """The labels under ``root`` that count as of ``as_of`` (None: all): one per record, the contract's winner."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    files = labels_files(root)
    base = root if root.is_dir() else root.parent
    parts: list[pa.Table] = []
    result = LabelsRead(table=_empty())
    for rank, path in enumerate(files):
        table = _read_file(path)
        n = table.num_rows
        result.rows += n
        ids, labels, times = _ids(table.column(ID)), _labels(table.column(LABEL)), _times(table.column(LABEL_TIME))
        valid = pc.and_(pc.and_(pc.is_valid(ids), pc.is_valid(labels)), pc.is_valid(times))
        bad = n - pc.sum(pc.cast(valid, pa.int64())).as_py() if n else 0
        if bad:
            result.invalid_rows += bad
            first_bad = int(np.flatnonzero(~valid.to_numpy(zero_copy_only=False))[0])
            if len(result.invalid_examples) < 5:
                result.invalid_examples.append(f"{path.relative_to(base)}: row {first_bad + 1} ({bad} invalid rows)")
        part = pa.table(
            {
                LABEL_ID: ids,
                LABEL_VALUE: labels,
                LABEL_KNOWN: times,
                "_file": pa.array(np.full(n, rank, dtype=np.int32)),
                "_row": pa.array(np.arange(n, dtype=np.int64)),
            }
        ).filter(valid)
        parts.append(part)
    result.files = len(files)
    if not parts:
        return result
    table = pa.concat_tables(parts)
    if as_of is not None:
        cutoff = _parse_time(as_of.isoformat())
        known = pc.less_equal(table.column(LABEL_KNOWN), cutoff)
        result.late_rows = table.num_rows - pc.sum(pc.cast(known, pa.int64())).as_py()
        table = table.filter(known)
    if table.num_rows == 0:
        return result
    # The contract's order (time, file path, row), as one sequence number; the largest per record wins.
    order = np.lexsort(
        (table.column("_row").to_numpy(), table.column("_file").to_numpy(), table.column(LABEL_KNOWN).to_numpy())
    )
    sequence = np.empty(len(order), dtype=np.int64)
    sequence[order] = np.arange(len(order), dtype=np.int64)
    table = table.append_column("_seq", pa.array(sequence))
    winners = table.group_by(LABEL_ID, use_threads=True).aggregate([("_seq", "max")]).column("_seq_max")
    chosen = np.sort(winners.to_numpy())
    # the rows in sequence order: position p of `by_sequence` holds the row whose sequence number is p
    by_sequence = order
    result.table = table.take(pa.array(by_sequence[chosen])).select([LABEL_ID, LABEL_VALUE, LABEL_KNOWN])
    result.superseded_rows = table.num_rows - result.table.num_rows
    return result


def _empty() -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            LABEL_ID: pa.array([], pa.string()),
            LABEL_VALUE: pa.array([], pa.int8()),
            LABEL_KNOWN: pa.array([], pa.int64()),
        }
    )


__all__ = [
    "LABEL_ID",
    "LABEL_KNOWN",
    "LABEL_VALUE",
    "LabelsError",
    "LabelsRead",
    "labels_files",
    "read_labels",
]
