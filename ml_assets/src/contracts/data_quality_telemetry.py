"""The data-quality telemetry contract: the ``DataQualityMetrics`` trace and its custom metrics, sent by the drift
component on every run that read the window (writer) and read by the data-quality alert rule, the local alert
evaluator, the KQL in docs/contracts.md and the tests. It travels like the drift telemetry
(:mod:`.drift_telemetry`: same traces table, same local file, same run context in ``customDimensions``).
Standard library only.

The trace's ``message``::

    {"model_name": "credit-default", "model_version": "3", "type": "DataQualityMetrics",
     "data": {"rows": 1200, "quarantined_lines": 0, "quarantine_entries": 0,
              "max_missing_share": 0.0, "max_outside_range_share": 0.0125, "max_unknown_category_share": 0.0,
              "features": [{"feature_name": "age", "missing": 0, "missing_share": 0.0,
                            "outside_range": 15, "outside_range_share": 0.0125,
                            "unknown_categories": null, "unknown_category_share": null}, ...]}}

Per feature, counted exactly over every row of the window (no sample):

- ``missing``: null or NaN values; its share is of the window's ``rows``;
- ``outside_range`` (numeric features): non-missing values below the reference data's minimum or above its
  maximum (the training data's own range, not the domain's; ±inf counts as outside); its share is of the
  non-missing values;
- ``unknown_categories`` (categorical features): non-missing values that the reference data never holds; its
  share is of the non-missing values.

A figure that does not apply is ``null`` (outside range of a category; a share with nothing to divide by). The
``max_*`` fields are the largest share over the features (``null`` when none applies), so an alert needs no
``mv-expand``. ``quarantined_lines`` / ``quarantine_entries``: what the export quarantined in the window (entries
of export windows starting in it, and their lines); the quarantine belongs to the model, not to a version (a
malformed line names none), so every version's run of a window reports the same figure.

Custom metrics (one value per run): :data:`METRIC_MISSING_SHARE`, :data:`METRIC_OUTSIDE_RANGE_SHARE`,
:data:`METRIC_UNKNOWN_CATEGORY_SHARE` with dimensions ``model_name``, ``model_version``, ``feature``;
:data:`METRIC_QUARANTINED_LINES` with ``model_name``, ``model_version``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from .drift_telemetry import DATA_QUALITY, DriftMessage, MetricPoint, TelemetryContractError

METRIC_MISSING_SHARE: Final = "data_quality_missing_share"
METRIC_OUTSIDE_RANGE_SHARE: Final = "data_quality_outside_range_share"
METRIC_UNKNOWN_CATEGORY_SHARE: Final = "data_quality_unknown_category_share"
METRIC_QUARANTINED_LINES: Final = "data_quality_quarantined_lines"

SUMMARY_KEYS: Final = (
    "rows",
    "quarantined_lines",
    "quarantine_entries",
    "max_missing_share",
    "max_outside_range_share",
    "max_unknown_category_share",
    "features",
)
FEATURE_KEYS: Final = (
    "feature_name",
    "missing",
    "missing_share",
    "outside_range",
    "outside_range_share",
    "unknown_categories",
    "unknown_category_share",
)


def share(part: int | None, whole: int) -> float | None:
    """``part / whole``, None when it does not apply (no part, or nothing to divide by)."""
    return None if part is None or whole <= 0 else part / whole


@dataclass(frozen=True)
class FeatureQuality:
    feature_name: str
    missing: int
    present: int  # non-missing values (the denominator of the value shares)
    outside_range: int | None = None  # numeric features
    unknown_categories: int | None = None  # categorical features

    @property
    def rows(self) -> int:
        return self.missing + self.present

    @property
    def missing_share(self) -> float | None:
        return share(self.missing, self.rows)

    @property
    def outside_range_share(self) -> float | None:
        return share(self.outside_range, self.present)

    @property
    def unknown_category_share(self) -> float | None:
        return share(self.unknown_categories, self.present)

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature_name": self.feature_name,
            "missing": self.missing,
            "missing_share": self.missing_share,
            "outside_range": self.outside_range,
            "outside_range_share": self.outside_range_share,
            "unknown_categories": self.unknown_categories,
            "unknown_category_share": self.unknown_category_share,
        }


def _largest(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


@dataclass(frozen=True)
class DataQuality:
    rows: int
    features: tuple[FeatureQuality, ...]
    quarantined_lines: int = 0
    quarantine_entries: int = 0

    @property
    def max_missing_share(self) -> float | None:
        return _largest([f.missing_share for f in self.features])

    @property
    def max_outside_range_share(self) -> float | None:
        return _largest([f.outside_range_share for f in self.features])

    @property
    def max_unknown_category_share(self) -> float | None:
        return _largest([f.unknown_category_share for f in self.features])

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "quarantined_lines": self.quarantined_lines,
            "quarantine_entries": self.quarantine_entries,
            "max_missing_share": self.max_missing_share,
            "max_outside_range_share": self.max_outside_range_share,
            "max_unknown_category_share": self.max_unknown_category_share,
            "features": [f.as_dict() for f in self.features],
        }


def data_quality_message(model_name: str, model_version: str, quality: DataQuality) -> DriftMessage:
    return DriftMessage(model_name, str(model_version), DATA_QUALITY, quality)


def _count(value: Any, where: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TelemetryContractError(f"{where}: expected a count (a whole number ≥ 0)")
    return value


def parse_data(data: Any) -> DataQuality:
    """The ``data`` of a ``DataQualityMetrics`` message; :class:`TelemetryContractError` when malformed.

    The shares and maxima are derived from the counts, so a message whose shares disagree with its counts is
    malformed too (writer and reader cannot drift apart silently)."""
    where = f"{DATA_QUALITY}.data"
    if not isinstance(data, dict):
        raise TelemetryContractError(f"{where}: expected an object")
    missing = [k for k in SUMMARY_KEYS if k not in data]
    if missing:
        raise TelemetryContractError(f"{where}: missing {', '.join(missing)}")
    rows = _count(data["rows"], f"{where}.rows")
    if not isinstance(data["features"], list):
        raise TelemetryContractError(f"{where}.features: expected a list")
    features = []
    for i, item in enumerate(data["features"]):
        at = f"{where}.features[{i}]"
        if not isinstance(item, dict):
            raise TelemetryContractError(f"{at}: expected an object")
        absent = [k for k in FEATURE_KEYS if k not in item]
        if absent:
            raise TelemetryContractError(f"{at}: missing {', '.join(absent)}")
        n_missing = _count(item["missing"], f"{at}.missing") or 0
        if n_missing > (rows or 0):
            raise TelemetryContractError(f"{at}.missing: {n_missing} is more than the {rows} rows")
        features.append(
            FeatureQuality(
                feature_name=str(item["feature_name"]),
                missing=n_missing,
                present=(rows or 0) - n_missing,
                outside_range=_count(item["outside_range"], f"{at}.outside_range", optional=True),
                unknown_categories=_count(item["unknown_categories"], f"{at}.unknown_categories", optional=True),
            )
        )
    quality = DataQuality(
        rows=rows or 0,
        features=tuple(features),
        quarantined_lines=_count(data["quarantined_lines"], f"{where}.quarantined_lines") or 0,
        quarantine_entries=_count(data["quarantine_entries"], f"{where}.quarantine_entries") or 0,
    )
    derived = quality.as_dict()
    for key in ("max_missing_share", "max_outside_range_share", "max_unknown_category_share"):
        if not _same(derived[key], data[key]):
            raise TelemetryContractError(f"{where}.{key}: {data[key]!r} disagrees with the counts ({derived[key]!r})")
    return quality


def _same(expected: float | None, given: Any) -> bool:
    if expected is None or given is None:
        return expected is None and given is None
    return isinstance(given, int | float) and not isinstance(given, bool) and math.isclose(expected, given)


def metric_points(model_name: str, model_version: str, quality: DataQuality) -> list[MetricPoint]:
    base = {"model_name": model_name, "model_version": str(model_version)}
    points = [MetricPoint(METRIC_QUARANTINED_LINES, float(quality.quarantined_lines), base)]
    for feature in quality.features:
        for name, value in (
            (METRIC_MISSING_SHARE, feature.missing_share),
            (METRIC_OUTSIDE_RANGE_SHARE, feature.outside_range_share),
            (METRIC_UNKNOWN_CATEGORY_SHARE, feature.unknown_category_share),
        ):
            if value is not None:
                points.append(MetricPoint(name, float(value), {**base, "feature": feature.feature_name}))
    return points
