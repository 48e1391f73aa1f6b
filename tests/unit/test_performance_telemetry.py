"""The model-performance telemetry contract written and read back, and the performance-drop alert rule."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ml_assets.src.contracts.alert_rules import (
    PERFORMANCE_RULE_NAME,
    PerformanceAlertRule,
    performance_rule_for,
)
from ml_assets.src.contracts.drift_telemetry import (
    TelemetryBatch,
    TelemetryContractError,
    drift_messages,
    read_local,
    write_local,
)
from ml_assets.src.contracts.performance_telemetry import (
    METRIC_ROC_AUC,
    PERFORMANCE,
    ModelPerformance,
    metric_points,
    parse_performance_message,
    performance_message,
    performance_messages,
)


def figures(roc_auc: float = 0.71, training: float | None = 0.78) -> ModelPerformance:
    return ModelPerformance(
        roc_auc=roc_auc, precision=0.52, recall=0.38, f1=0.44, brier_score=0.15, label_positive_rate=0.24,
        predicted_positive_rate=0.17, label_coverage=0.93, n_predictions=4210, n_labelled=3915, threshold=0.5,
        training_roc_auc=training,
    )  # fmt: skip


def test_a_message_written_to_the_local_file_reads_back_equal(tmp_path: Path) -> None:
    message = performance_message("credit-default", "3", figures())
    path = tmp_path / "telemetry.jsonl"
    batch = TelemetryBatch([message], metric_points("credit-default", "3", figures()), {"run_id": "job-1"})  # type: ignore[list-item]
    write_local(path, batch)

    records = read_local(path)
    ((_, back),) = performance_messages(records)
    assert back == message
    assert drift_messages(records) == []  # the drift readers skip it
    points = {r["name"]: r["value"] for r in records if r["itemType"] == "customMetric"}
    assert points[METRIC_ROC_AUC] == 0.71 and len(points) == 8
    trace = next(r for r in records if r["itemType"] == "trace")
    assert trace["customDimensions"] == {"run_id": "job-1"}
    assert json.loads(trace["message"])["type"] == PERFORMANCE


def test_an_unknown_figure_is_null_and_reads_back_as_nan_and_is_not_a_metric() -> None:
    message = performance_message("m", "1", figures(roc_auc=math.nan, training=None))
    back = parse_performance_message(message.text())
    assert back is not None and math.isnan(back.data.roc_auc) and back.data.training_roc_auc is None
    assert METRIC_ROC_AUC not in {p.name for p in metric_points("m", "1", back.data)}


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "ModelPerformanceMetrics", "model_name": "m", "model_version": "1"}',
        '{"type": "ModelPerformanceMetrics", "model_name": "m", "model_version": "1", "data": []}',
        '{"type": "ModelPerformanceMetrics", "model_name": "m", "model_version": "1", "data": {"roc_auc": "high"}}',
    ],
)
def test_a_malformed_performance_message_is_a_contract_error(text: str) -> None:
    with pytest.raises(TelemetryContractError):
        parse_performance_message(text)


def test_other_traces_are_not_performance_messages() -> None:
    assert parse_performance_message("not json") is None
    assert parse_performance_message('{"type": "OverallDriftMetrics"}') is None


NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def records_of(*runs: tuple[timedelta, ModelPerformance, str]) -> list[dict]:
    return [
        {"timestamp": (NOW - ago).isoformat(), "itemType": "trace",
         "message": performance_message("credit-default", version, p).text()}
        for ago, p, version in runs
    ]  # fmt: skip


def test_the_rule_fires_below_the_floor_or_below_the_training_auc_by_the_margin() -> None:
    rule = PerformanceAlertRule(floor=0.65, margin=0.05)
    assert rule.name == PERFORMANCE_RULE_NAME
    assert rule.breaches(figures(0.60, None))
    assert rule.breaches(figures(0.72, 0.78))  # 0.06 below its training AUC
    assert not rule.breaches(figures(0.74, 0.78))
    assert not rule.breaches(figures(0.70, None))
    assert not rule.breaches(figures(math.nan, 0.78))


def test_the_rule_looks_at_the_latest_run_per_model_version_within_its_window() -> None:
    rule = performance_rule_for(0.65, 0.05)
    records = records_of(
        (timedelta(hours=5), figures(0.60), "1"),  # an old breach of version 1 ...
        (timedelta(hours=1), figures(0.77), "1"),  # ... recovered since
        (timedelta(hours=2), figures(0.61), "2"),
        (timedelta(days=5), figures(0.50), "3"),  # outside the window
    )
    breaches = rule.evaluate_records(records, NOW)
    assert [(b.model_version, b.roc_auc) for b in breaches] == [("2", 0.61)]
    assert breaches[0].properties() == {"roc_auc": "0.610000", "training_roc_auc": "0.780000"}


def test_the_kql_states_the_same_condition() -> None:
    kql = PerformanceAlertRule(floor=0.6, margin=0.04).kql("credit-default")
    assert f'tostring(m.type) == "{PERFORMANCE}"' in kql
    assert "arg_max(timestamp, roc_auc, training_roc_auc) by model_name, model_version" in kql
    assert "roc_auc < 0.6 or (isnotnull(training_roc_auc) and roc_auc < training_roc_auc - 0.04)" in kql
    assert 'model_name == "credit-default"' in kql
    assert f'name == "{METRIC_ROC_AUC}"' in PerformanceAlertRule().metric_kql()
