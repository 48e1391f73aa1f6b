"""The model-performance telemetry contract: what the performance component sends and what its readers (the
performance alert rule, the local alert evaluator, the KQL in docs/contracts.md, the tests) read. Standard
library only. It travels like the drift telemetry (``drift_telemetry``: the same App Insights logger, the same
local telemetry file, the same :class:`~.drift_telemetry.TelemetryBatch`), so one delivery module sends both.

One trace per run (``traces``, ``message`` column)::

    {"model_name": "credit-default", "model_version": "3", "type": "ModelPerformanceMetrics",
     "data": {"roc_auc": 0.71, "precision": 0.52, "recall": 0.38, "f1": 0.44, "brier_score": 0.15,
              "label_positive_rate": 0.24, "predicted_positive_rate": 0.17, "label_coverage": 0.93,
              "n_predictions": 4210, "n_labelled": 3915, "threshold": 0.5, "training_roc_auc": 0.78}}

``training_roc_auc`` is the model's own test-split AUC (its ``metric_roc_auc`` tag), null when unknown. Run
context (job, window, ``labels_as_of``) goes to ``customDimensions``. Custom metrics, one value per run:
``performance_<figure>`` for each figure of :data:`METRIC_FIGURES`, dimensions ``model_name``, ``model_version``.
A run skipped for too little coverage sends nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from .drift_telemetry import MetricPoint, TelemetryContractError

PERFORMANCE: Final = "ModelPerformanceMetrics"
METRIC_PREFIX: Final = "performance_"
METRIC_FIGURES: Final = (
    "roc_auc",
    "precision",
    "recall",
    "f1",
    "brier_score",
    "label_positive_rate",
    "predicted_positive_rate",
    "label_coverage",
)
METRIC_ROC_AUC: Final = f"{METRIC_PREFIX}roc_auc"


@dataclass(frozen=True)
class ModelPerformance:
    roc_auc: float
    precision: float
    recall: float
    f1: float
    brier_score: float
    label_positive_rate: float
    predicted_positive_rate: float
    label_coverage: float
    n_predictions: int
    n_labelled: int
    threshold: float
    training_roc_auc: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("n_"):
                out[f.name] = int(value)
            elif value is None or not math.isfinite(float(value)):
                out[f.name] = None
            else:
                out[f.name] = float(value)
        return out


@dataclass(frozen=True)
class PerformanceMessage:
    model_name: str
    model_version: str
    data: ModelPerformance
    type: str = PERFORMANCE

    def text(self) -> str:
        return json.dumps(
            {
                "model_name": self.model_name,
                "model_version": self.model_version,
                "type": self.type,
                "data": self.data.as_dict(),
            }
        )


def performance_message(model_name: str, model_version: str, performance: ModelPerformance) -> PerformanceMessage:
    return PerformanceMessage(model_name, str(model_version), performance)


def _number(data: Mapping[str, Any], key: str, *, optional: bool = False) -> float | None:
    value = data.get(key)
    if value is None:
        if optional or key in data:  # null: not computable (e.g. one class only), read as NaN
            return None if optional else math.nan
        raise TelemetryContractError(f"{PERFORMANCE}.data: missing {key}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TelemetryContractError(f"{PERFORMANCE}.data.{key}: expected a number")
    return float(value)


def parse_performance_message(text: str) -> PerformanceMessage | None:
    """The performance message in ``text``; None when it is another trace. Malformed: TelemetryContractError."""
    try:
        obj = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(obj, dict) or obj.get("type") != PERFORMANCE:
        return None
    for key in ("model_name", "model_version", "data"):
        if key not in obj:
            raise TelemetryContractError(f"{PERFORMANCE}: missing {key}")
    data = obj["data"]
    if not isinstance(data, dict):
        raise TelemetryContractError(f"{PERFORMANCE}.data: expected an object")
    figures = {name: _number(data, name) for name in (*METRIC_FIGURES, "threshold")}
    counts = {}
    for name in ("n_predictions", "n_labelled"):
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TelemetryContractError(f"{PERFORMANCE}.data.{name}: expected an integer")
        counts[name] = value
    performance = ModelPerformance(
        **figures,  # type: ignore[arg-type]
        **counts,
        training_roc_auc=_number(data, "training_roc_auc", optional=True),
    )
    return PerformanceMessage(str(obj["model_name"]), str(obj["model_version"]), performance)


def metric_points(model_name: str, model_version: str, performance: ModelPerformance) -> list[MetricPoint]:
    base = {"model_name": model_name, "model_version": str(model_version)}
    points = []
    for name in METRIC_FIGURES:
        value = float(getattr(performance, name))
        if math.isfinite(value):
            points.append(MetricPoint(f"{METRIC_PREFIX}{name}", value, base))
    return points


def performance_messages(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, PerformanceMessage]]:
    """``(timestamp, message)`` of every performance trace among local telemetry records."""
    out: list[tuple[str, PerformanceMessage]] = []
    for record in records:
        if record.get("itemType") != "trace":
            continue
        message = parse_performance_message(str(record.get("message", "")))
        if message is not None:
            out.append((str(record.get("timestamp", "")), message))
    return out


__all__ = [
    "METRIC_FIGURES",
    "METRIC_PREFIX",
    "METRIC_ROC_AUC",
    "PERFORMANCE",
    "ModelPerformance",
    "PerformanceMessage",
    "metric_points",
    "parse_performance_message",
    "performance_message",
    "performance_messages",
]
