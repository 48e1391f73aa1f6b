"""The telemetry a drift run sends, in the contracts' terms: its verdicts and data quality as trace messages and
metric points.

The message and metric formats are the contracts' (:mod:`..contracts.drift_telemetry`,
:mod:`..contracts.data_quality_telemetry`); where the batch goes is :mod:`.telemetry`'s concern. This module only
maps a run's results onto them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..contracts import data_quality_telemetry as quality_telemetry
from ..contracts import drift_telemetry as telemetry
from .prediction_drift import VersionPrediction
from .verdicts import ColumnDrift, DatasetDrift

SOURCE = "drift_component"


def telemetry_batch(
    model_name: str,
    model_version: str,
    result: DatasetDrift,
    predictions: Sequence[VersionPrediction],
    *,
    quality: quality_telemetry.DataQuality,
    context: Mapping[str, str],
) -> telemetry.TelemetryBatch:
    """The run's messages (overall, per feature, one prediction message per version whose prediction drift was
    computed, data quality) and metric points; ``context`` (run id, window) goes with every record."""
    features = [_feature_drift(c) for c in result.columns]
    overall = telemetry.OverallDrift(result.n_features, result.n_drifted, result.share_drifted, result.dataset_drift)
    messages = [
        telemetry.overall_message(model_name, model_version, overall),
        telemetry.feature_message(model_name, model_version, features),
    ]
    points = telemetry.metric_points(model_name, model_version, overall, features)
    for item in predictions:
        if item.drift is None:
            continue
        drift = _feature_drift(item.drift)
        messages.append(telemetry.prediction_message(model_name, item.model_version, drift))
        points += telemetry.prediction_metric_points(model_name, item.model_version, drift)
    messages.append(quality_telemetry.data_quality_message(model_name, model_version, quality))
    points += quality_telemetry.metric_points(model_name, model_version, quality)
    return telemetry.TelemetryBatch(messages=messages, metrics=points, context={"source": SOURCE, **context})


def quality_batch(
    model_name: str, model_version: str, quality: quality_telemetry.DataQuality, context: Mapping[str, str]
) -> telemetry.TelemetryBatch:
    """Only the data quality: a run whose drift was skipped (too few rows) still measures its window."""
    return telemetry.TelemetryBatch(
        messages=[quality_telemetry.data_quality_message(model_name, model_version, quality)],
        metrics=quality_telemetry.metric_points(model_name, model_version, quality),
        context={"source": SOURCE, **context},
    )


def _feature_drift(column: ColumnDrift) -> telemetry.FeatureDrift:
    return telemetry.FeatureDrift(
        column.column, column.drift_score, column.drift_detected, column.stattest_name, column.threshold
    )
