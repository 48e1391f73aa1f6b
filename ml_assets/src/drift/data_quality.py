"""Data quality of the window, counted exactly with the drift run's own counts: per feature the missing values, the
numeric values outside the reference data's range and the categories the reference never holds; and the
export's quarantine of the window.

The per-column counts (:mod:`.column_counts`) hold every non-missing finite value with its multiplicity, so the
values outside ``[reference min, reference max]`` are a sum of counts found by two binary searches, and the
unknown categories a sum over the distinct categories: exact, and linear in the distinct values, not the rows.
What the counts leave out (nulls, NaN, ±inf) is counted per file as the file is read (:func:`column_gaps`).
The figures and their shares are the contract's (:mod:`..contracts.data_quality_telemetry`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..contracts.data_quality_telemetry import DataQuality, FeatureQuality
from ..contracts.feature_schema import CATEGORICAL_FEATURES, FEATURES
from .column_counts import Counts
from .quarantine_files import QuarantineCount

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Gaps:
    """What a column's counts leave out: missing values (null or NaN) and infinite ones."""

    missing: int = 0
    infinite: int = 0

    def __add__(self, other: Gaps) -> Gaps:
        return Gaps(self.missing + other.missing, self.infinite + other.infinite)


def column_gaps(table: pa.Table, columns: Iterable[str]) -> dict[str, Gaps]:
    """The missing and infinite values of each of ``columns`` in ``table``."""
    import pyarrow.compute as pc
    import pyarrow.types as pat

    out: dict[str, Gaps] = {}
    for name in columns:
        column = table.column(name)
        missing, infinite = column.null_count, 0
        if pat.is_floating(column.type):
            missing += int(pc.sum(pc.is_nan(column)).as_py() or 0)
            infinite = int(pc.sum(pc.is_inf(column)).as_py() or 0)
        out[name] = Gaps(missing, infinite)
    return out


def merge_gaps(parts: Iterable[Mapping[str, Gaps]]) -> dict[str, Gaps]:
    out: dict[str, Gaps] = {}
    for part in parts:
        for name, gaps in part.items():
            out[name] = out.get(name, Gaps()) + gaps
    return out


def outside_range(reference: Counts, current: Counts) -> int | None:
    """Current values below the reference's minimum or above its maximum (None: the reference has no value)."""
    if reference.values.size == 0:
        return None
    low, high = reference.values[0], reference.values[-1]
    below = int(np.searchsorted(current.values, low, side="left"))
    above = int(np.searchsorted(current.values, high, side="right"))
    return int(current.counts[:below].sum()) + int(current.counts[above:].sum())


def unknown_categories(reference: Counts, current: Counts) -> int:
    """Current values (with multiplicity) of categories that the reference never holds."""
    known = set(reference.values.tolist())
    return int(sum(c for v, c in zip(current.values.tolist(), current.counts.tolist(), strict=True) if v not in known))


def reference_ranges(reference: Mapping[str, Counts]) -> dict[str, list[Any]]:
    """``feature → [min, max]`` of the reference's numeric features (for metrics.json)."""
    return {
        name: [reference[name].values[0].item(), reference[name].values[-1].item()]
        for name in FEATURES
        if name not in CATEGORICAL_FEATURES and reference[name].values.size
    }


def data_quality(
    reference: Mapping[str, Counts],
    current: Mapping[str, Counts],
    gaps: Mapping[str, Gaps],
    rows: int,
    quarantine: QuarantineCount,
) -> DataQuality:
    """The window's data quality (every feature, in schema order)."""
    features = []
    for name in FEATURES:
        gap = gaps.get(name, Gaps())
        present = rows - gap.missing
        if name in CATEGORICAL_FEATURES:
            item = FeatureQuality(
                name, gap.missing, present, unknown_categories=unknown_categories(reference[name], current[name])
            )
        else:
            outside = outside_range(reference[name], current[name])
            item = FeatureQuality(
                name, gap.missing, present, outside_range=None if outside is None else outside + gap.infinite
            )
        features.append(item)
    return DataQuality(
        rows=rows,
        features=tuple(features),
        quarantined_lines=quarantine.lines,
        quarantine_entries=quarantine.entries,
    )
