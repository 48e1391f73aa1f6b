"""The drift telemetry contract: the one definition that the drift component (writer) and its readers (the
local alert evaluator, the KQL in docs/contracts.md, the tests) share. Standard library only. Delivery (Application
Insights or the local file) is ``ml_assets/src/drift/telemetry.py``.

Traces (Application Insights ``traces`` table, ``message`` column) are JSON objects::

    {"model_name": "credit-default", "model_version": "3", "type": "OverallDriftMetrics",
     "data": {"n_features": 23, "n_drifted_features": 2, "share_drifted_features": 0.087, "dataset_drift": false}}

    {"model_name": "credit-default", "model_version": "3", "type": "FeatureDriftMetrics",
     "data": [{"feature_name": "age", "drift_score": 0.31, "drift_detected": true,
               "stattest_name": "Wasserstein distance (normed)", "threshold": 0.1}, ...]}

and one trace of type ``PredictionDriftMetrics`` per model version among the window's rows that has a
reference distribution of its scores (:mod:`.prediction_reference`) and enough rows, whose ``data`` is one
item of the FeatureDriftMetrics shape (``feature_name`` ``prediction``) and whose ``model_version`` is the
version that scored those rows. Every run that read the window also sends ``DataQualityMetrics``
(:mod:`.data_quality_telemetry`). Run context (job, window) goes to the trace's ``customDimensions``, never
into the message.

Custom metrics (``customMetrics`` table; one value per run, so ``value`` = ``valueMax`` = the figure):

- :data:`METRIC_SHARE` ``drift_share_drifted_features`` with dimensions ``model_name``, ``model_version``;
- :data:`METRIC_FEATURE_SCORE` ``drift_feature_score`` with ``model_name``, ``model_version``, ``feature``;
- :data:`METRIC_PREDICTION_SCORE` ``drift_prediction_score`` with ``model_name``, ``model_version``;
- the data-quality metrics of :mod:`.data_quality_telemetry`.

Without ``APPLICATIONINSIGHTS_CONNECTION_STRING`` the same records go, one JSON object per line, to the local
telemetry file (:func:`local_telemetry_path`), shaped like the App Insights rows::

    {"timestamp": "...Z", "itemType": "trace", "message": "<the JSON text above>", "customDimensions": {...}}
    {"timestamp": "...Z", "itemType": "customMetric", "name": "drift_feature_score", "value": 0.31,
     "customDimensions": {"model_name": "...", "model_version": "...", "feature": "age"}}
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

OVERALL: Final = "OverallDriftMetrics"
FEATURE: Final = "FeatureDriftMetrics"
PREDICTION: Final = "PredictionDriftMetrics"
DATA_QUALITY: Final = "DataQualityMetrics"  # its data: data_quality_telemetry.DataQuality
MESSAGE_TYPES: Final = (OVERALL, FEATURE, PREDICTION, DATA_QUALITY)

METRIC_SHARE: Final = "drift_share_drifted_features"
METRIC_FEATURE_SCORE: Final = "drift_feature_score"
METRIC_PREDICTION_SCORE: Final = "drift_prediction_score"
METRIC_NAMESPACE: Final = "mlops.drift"  # OpenTelemetry meter (instrumentation scope) name

# The Python logger whose records become App Insights traces (configure_azure_monitor(logger_name=...)).
TRACE_LOGGER: Final = "mlops.drift.telemetry"

OVERALL_KEYS: Final = ("n_features", "n_drifted_features", "share_drifted_features", "dataset_drift")
FEATURE_KEYS: Final = ("feature_name", "drift_score", "drift_detected", "stattest_name", "threshold")

LOCAL_FILE_ENV: Final = "LOCAL_TELEMETRY_FILE"
CONNECTION_STRING_ENV: Final = "APPLICATIONINSIGHTS_CONNECTION_STRING"


class TelemetryContractError(ValueError):
    """A message or local record does not satisfy the contract."""


# --- messages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDrift:
    feature_name: str
    drift_score: float
    drift_detected: bool
    stattest_name: str
    threshold: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature_name": self.feature_name,
            "drift_score": float(self.drift_score) if math.isfinite(self.drift_score) else None,
            "drift_detected": bool(self.drift_detected),
            "stattest_name": self.stattest_name,
            "threshold": float(self.threshold),
        }


@dataclass(frozen=True)
class OverallDrift:
    n_features: int
    n_drifted_features: int
    share_drifted_features: float
    dataset_drift: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_features": int(self.n_features),
            "n_drifted_features": int(self.n_drifted_features),
            "share_drifted_features": float(self.share_drifted_features),
            "dataset_drift": bool(self.dataset_drift),
        }


@dataclass(frozen=True)
class DriftMessage:
    """One parsed trace message."""

    model_name: str
    model_version: str
    type: str
    data: Any  # OverallDrift | list[FeatureDrift] | FeatureDrift (prediction) | DataQuality

    def text(self) -> str:
        if hasattr(self.data, "as_dict"):
            data: Any = self.data.as_dict()
        else:
            data = [item.as_dict() for item in self.data]
        return json.dumps(
            {"model_name": self.model_name, "model_version": self.model_version, "type": self.type, "data": data},
            sort_keys=False,
        )


def overall_message(model_name: str, model_version: str, overall: OverallDrift) -> DriftMessage:
    return DriftMessage(model_name, str(model_version), OVERALL, overall)


def feature_message(model_name: str, model_version: str, features: Sequence[FeatureDrift]) -> DriftMessage:
    return DriftMessage(model_name, str(model_version), FEATURE, list(features))


def prediction_message(model_name: str, model_version: str, prediction: FeatureDrift) -> DriftMessage:
    return DriftMessage(model_name, str(model_version), PREDICTION, prediction)


def _feature(item: Any, where: str) -> FeatureDrift:
    if not isinstance(item, dict):
        raise TelemetryContractError(f"{where}: expected an object")
    missing = [k for k in FEATURE_KEYS if k not in item]
    if missing:
        raise TelemetryContractError(f"{where}: missing {', '.join(missing)}")
    if not isinstance(item["drift_detected"], bool):
        raise TelemetryContractError(f"{where}.drift_detected: expected a boolean")
    try:
        return FeatureDrift(
            feature_name=str(item["feature_name"]),
            drift_score=math.nan if item["drift_score"] is None else float(item["drift_score"]),
            drift_detected=item["drift_detected"],
            stattest_name=str(item["stattest_name"]),
            threshold=float(item["threshold"]),
        )
    except (TypeError, ValueError) as exc:
        raise TelemetryContractError(f"{where}: {exc}") from None


def parse_message(text: str) -> DriftMessage | None:
    """The drift message in ``text``; None when ``text`` is not a drift message at all (another trace).

    Raises :class:`TelemetryContractError` when it claims to be one (a known ``type``) but is malformed.
    """
    try:
        obj = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(obj, dict) or obj.get("type") not in MESSAGE_TYPES:
        return None
    kind = obj["type"]
    for key in ("model_name", "model_version", "data"):
        if key not in obj:
            raise TelemetryContractError(f"{kind}: missing {key}")
    data = obj["data"]
    if kind == OVERALL:
        if not isinstance(data, dict):
            raise TelemetryContractError(f"{kind}.data: expected an object")
        missing = [k for k in OVERALL_KEYS if k not in data]
        if missing:
            raise TelemetryContractError(f"{kind}.data: missing {', '.join(missing)}")
        if not isinstance(data["dataset_drift"], bool):
            raise TelemetryContractError(f"{kind}.data.dataset_drift: expected a boolean")
        parsed: Any = OverallDrift(
            n_features=int(data["n_features"]),
            n_drifted_features=int(data["n_drifted_features"]),
            share_drifted_features=float(data["share_drifted_features"]),
            dataset_drift=data["dataset_drift"],
        )
    elif kind == DATA_QUALITY:
        from .data_quality_telemetry import parse_data  # that module builds on this one

        parsed = parse_data(data)
    elif kind == FEATURE:
        if not isinstance(data, list):
            raise TelemetryContractError(f"{kind}.data: expected a list")
        parsed = [_feature(item, f"{kind}.data[{i}]") for i, item in enumerate(data)]
    else:
        parsed = _feature(data, f"{kind}.data")
    return DriftMessage(str(obj["model_name"]), str(obj["model_version"]), kind, parsed)


# --- metrics -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricPoint:
    name: str
    value: float
    dimensions: Mapping[str, str] = field(default_factory=dict)


def metric_points(
    model_name: str, model_version: str, overall: OverallDrift, features: Sequence[FeatureDrift]
) -> list[MetricPoint]:
    base = {"model_name": model_name, "model_version": str(model_version)}
    points = [MetricPoint(METRIC_SHARE, float(overall.share_drifted_features), base)]
    points += [
        MetricPoint(METRIC_FEATURE_SCORE, float(f.drift_score), {**base, "feature": f.feature_name})
        for f in features
        if math.isfinite(f.drift_score)
    ]
    return points


def prediction_metric_points(model_name: str, model_version: str, prediction: FeatureDrift) -> list[MetricPoint]:
    """The prediction drift score of the version that scored the rows (none when the score is not finite)."""
    if not math.isfinite(prediction.drift_score):
        return []
    dimensions = {"model_name": model_name, "model_version": str(model_version)}
    return [MetricPoint(METRIC_PREDICTION_SCORE, float(prediction.drift_score), dimensions)]


# --- sinks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TelemetryBatch:
    """What one drift run sends: its trace messages and metric points, plus run context dimensions."""

    messages: Sequence[DriftMessage]
    metrics: Sequence[MetricPoint]
    context: Mapping[str, str] = field(default_factory=dict)  # run_id, window_start, window_end, ...


def local_telemetry_path(env: Mapping[str, str] | None = None) -> Path:
    """``LOCAL_TELEMETRY_FILE``, else ``<LOCAL_STATE_DIR or .local>/telemetry/drift.jsonl``."""
    env = os.environ if env is None else env
    explicit = (env.get(LOCAL_FILE_ENV) or "").strip()
    if explicit:
        return Path(explicit)
    return Path((env.get("LOCAL_STATE_DIR") or "").strip() or ".local") / "telemetry" / "drift.jsonl"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def local_records(batch: TelemetryBatch, timestamp: str | None = None) -> list[dict[str, Any]]:
    """The JSON Lines records of ``batch`` (App Insights row shape)."""
    ts = timestamp or _now()
    records: list[dict[str, Any]] = [
        {"timestamp": ts, "itemType": "trace", "message": m.text(), "customDimensions": dict(batch.context)}
        for m in batch.messages
    ]
    records += [
        {
            "timestamp": ts,
            "itemType": "customMetric",
            "name": p.name,
            "value": p.value,
            "customDimensions": dict(p.dimensions),
        }
        for p in batch.metrics
    ]
    return records


def write_local(path: Path, batch: TelemetryBatch) -> int:
    """Append ``batch`` to the local telemetry file (created with its folder); returns the records written.

    One ``write`` of whole lines, flushed and fsynced: a reader never sees half a run.
    """
    records = local_records(batch)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    return len(records)


def read_local(path: Path) -> list[dict[str, Any]]:
    """All records of the local telemetry file, oldest first ([] when it does not exist).

    A line that is not a JSON object raises :class:`TelemetryContractError` naming the line number.
    """
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise TelemetryContractError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(record, dict) or record.get("itemType") not in ("trace", "customMetric"):
                raise TelemetryContractError(f"{path}:{number}: not a trace or customMetric record")
            out.append(record)
    return out


def drift_messages(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, DriftMessage]]:
    """``(timestamp, message)`` of every drift trace among local records (other traces are skipped)."""
    out: list[tuple[str, DriftMessage]] = []
    for record in records:
        if record.get("itemType") != "trace":
            continue
        message = parse_message(str(record.get("message", "")))
        if message is not None:
            out.append((str(record.get("timestamp", "")), message))
    return out
