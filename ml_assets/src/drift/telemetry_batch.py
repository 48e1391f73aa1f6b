"""The telemetry a drift run sends, in the contract's terms: its verdicts as trace messages and metric points.

The message and metric formats are the contract's (:mod:`..contracts.drift_telemetry`); where the batch goes
is :mod:`.telemetry`'s concern. This module only maps a run's verdicts onto them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..contracts import drift_telemetry as telemetry
from .verdicts import ColumnDrift, DatasetDrift


def telemetry_batch(
    model_name: str,
    model_version: str,
    result: DatasetDrift,
    prediction: ColumnDrift | None,
    context: Mapping[str, str],
) -> telemetry.TelemetryBatch:
    """The run's messages (overall, per feature, prediction when computed) and metric points; ``context``
    (run id, window) goes with every record."""
    features = [_feature_drift(c) for c in result.columns]
    overall = telemetry.OverallDrift(result.n_features, result.n_drifted, result.share_drifted, result.dataset_drift)
    messages = [
        telemetry.overall_message(model_name, model_version, overall),
        telemetry.feature_message(model_name, model_version, features),
    ]
    if prediction is not None:
        messages.append(telemetry.prediction_message(model_name, model_version, _feature_drift(prediction)))
    return telemetry.TelemetryBatch(
        messages=messages,
        metrics=telemetry.metric_points(model_name, model_version, overall, features),
        context={"source": "drift_component", **context},
    )


def _feature_drift(column: ColumnDrift) -> telemetry.FeatureDrift:
    return telemetry.FeatureDrift(
        column.column, column.drift_score, column.drift_detected, column.stattest_name, column.threshold
    )
