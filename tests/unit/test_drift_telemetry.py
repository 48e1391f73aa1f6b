"""The drift telemetry contract (writer and readers agree) and the drift alert rule."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ml_assets.src.contracts import alert_rules as rules
from ml_assets.src.contracts import drift_telemetry as t
from ml_assets.src.drift.telemetry import emit


def _batch(share: float = 0.5, version: str = "3") -> t.TelemetryBatch:
    features = [
        t.FeatureDrift("age", 0.31, True, "Wasserstein distance (normed)", 0.1),
        t.FeatureDrift("sex", 0.01, False, "Jensen-Shannon distance", 0.1),
    ]
    overall = t.OverallDrift(2, 1, share, share >= 0.5)
    return t.TelemetryBatch(
        messages=[
            t.overall_message("credit-default", version, overall),
            t.feature_message("credit-default", version, features),
        ],
        metrics=t.metric_points("credit-default", version, overall, features),
        context={"run_id": "job-1", "window_start": "2026-11-23T00:00:00+00:00"},
    )


def test_messages_have_exactly_the_contract_shape():
    overall, feature = (json.loads(m.text()) for m in _batch().messages)
    assert overall == {
        "model_name": "credit-default",
        "model_version": "3",
        "type": "OverallDriftMetrics",
        "data": {"n_features": 2, "n_drifted_features": 1, "share_drifted_features": 0.5, "dataset_drift": True},
    }
    assert feature["type"] == "FeatureDriftMetrics"
    assert feature["data"][0] == {
        "feature_name": "age",
        "drift_score": 0.31,
        "drift_detected": True,
        "stattest_name": "Wasserstein distance (normed)",
        "threshold": 0.1,
    }


def test_messages_round_trip_through_the_reader():
    for message in _batch().messages:
        assert t.parse_message(message.text()) == message


def test_the_reader_ignores_other_traces_and_rejects_broken_drift_messages():
    assert t.parse_message("drift: done in 3 s") is None
    assert t.parse_message(json.dumps({"type": "SomethingElse"})) is None
    broken = {"model_name": "m", "model_version": "1", "type": "OverallDriftMetrics", "data": {"n_features": 2}}
    with pytest.raises(t.TelemetryContractError, match="n_drifted_features"):
        t.parse_message(json.dumps(broken))
    feature = {"model_name": "m", "model_version": "1", "type": "FeatureDriftMetrics", "data": [{"feature_name": "x"}]}
    with pytest.raises(t.TelemetryContractError, match=r"data\[0\]"):
        t.parse_message(json.dumps(feature))


def test_a_nan_score_is_written_as_null_and_gets_no_metric():
    features = [t.FeatureDrift("z", math.nan, False, "Z-test p_value", 0.05)]
    message = t.feature_message("m", "1", features)
    assert json.loads(message.text())["data"][0]["drift_score"] is None  # valid JSON for parse_json in KQL
    assert math.isnan(t.parse_message(message.text()).data[0].drift_score)
    points = t.metric_points("m", "1", t.OverallDrift(1, 0, 0.0, False), features)
    assert [p.name for p in points] == [t.METRIC_SHARE]


def test_local_file_records_mirror_app_insights_rows(tmp_path: Path):
    path = tmp_path / "telemetry" / "drift.jsonl"
    assert emit(_batch(), {"LOCAL_TELEMETRY_FILE": str(path)}) == str(path)
    emit(_batch(version="4"), {"LOCAL_TELEMETRY_FILE": str(path)})
    records = t.read_local(path)
    traces = [r for r in records if r["itemType"] == "trace"]
    metrics = [r for r in records if r["itemType"] == "customMetric"]
    assert len(traces) == 4 and len(metrics) == 6
    assert traces[0]["customDimensions"]["run_id"] == "job-1"
    score = next(
        m for m in metrics if m["name"] == t.METRIC_FEATURE_SCORE and m["customDimensions"]["feature"] == "age"
    )
    assert score["value"] == 0.31
    assert score["customDimensions"] == {"model_name": "credit-default", "model_version": "3", "feature": "age"}
    versions = [m.model_version for _, m in t.drift_messages(records) if m.type == t.OVERALL]
    assert versions == ["3", "4"]


def test_the_local_file_path_comes_from_the_environment():
    assert t.local_telemetry_path({"LOCAL_TELEMETRY_FILE": "/x/t.jsonl"}) == Path("/x/t.jsonl")
    assert t.local_telemetry_path({"LOCAL_STATE_DIR": "/state"}) == Path("/state/telemetry/drift.jsonl")
    assert t.local_telemetry_path({}) == Path(".local/telemetry/drift.jsonl")


def test_a_corrupt_local_line_is_reported_with_its_number(tmp_path: Path):
    path = tmp_path / "drift.jsonl"
    path.write_text('{"itemType": "trace", "message": "x"}\nnot json\n')
    with pytest.raises(t.TelemetryContractError, match=":2:"):
        t.read_local(path)


def _at(hours: float) -> datetime:
    return datetime(2026, 11, 24, tzinfo=UTC) + timedelta(hours=hours)


def _overall(version: str, share: float) -> t.DriftMessage:
    return t.overall_message("credit-default", version, t.OverallDrift(23, round(share * 23), share, share >= 0.5))


def test_the_alert_rule_fires_on_the_latest_run_per_version_in_its_window():
    rule = rules.DriftAlertRule(threshold=0.5, window=timedelta(days=1))
    messages = [
        (_at(-30), _overall("1", 0.9)),  # outside the window
        (_at(-5), _overall("2", 0.6)),
        (_at(-1), _overall("2", 0.1)),  # the latest run of version 2 is below the threshold
        (_at(-2), _overall("3", 0.5)),  # at the threshold: fires (>=)
    ]
    breaches = rule.evaluate(messages, now=_at(0))
    assert [(b.model_version, b.share_drifted_features) for b in breaches] == [("3", 0.5)]
    assert rule.evaluate(messages, now=_at(0)) == breaches  # deterministic
    assert rules.rule_for(0.7).evaluate(messages, now=_at(0)) == []


def test_the_alert_rule_reads_the_local_file_the_component_writes(tmp_path: Path):
    path = tmp_path / "drift.jsonl"
    t.write_local(path, _batch(share=1.0))
    pairs = [(rules.parse_timestamp(ts), m) for ts, m in t.drift_messages(t.read_local(path))]
    breaches = rules.DEFAULT_RULE.evaluate(pairs, now=datetime.now(UTC) + timedelta(seconds=1))
    assert [(b.model_name, b.model_version) for b in breaches] == [("credit-default", "3")]


def test_the_alert_query_reads_the_contract_fields():
    kql = rules.DriftAlertRule(threshold=0.4).kql("credit-default")
    assert 'message has "OverallDriftMetrics"' in kql
    assert "m.data.share_drifted_features" in kql
    assert "share_drifted_features >= 0.4" in kql
    assert 'model_name == "credit-default"' in kql
    metric_kql = rules.DEFAULT_RULE.metric_kql()
    assert f'name == "{t.METRIC_SHARE}"' in metric_kql and "valueMax >= 0.5" in metric_kql
