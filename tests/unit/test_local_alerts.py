"""Local Azure Monitor: the drift alert rule over the local telemetry file fires once per breach (stateful),
resolves when it clears, posts common-alert-schema payloads the real parser accepts, and retries like an
action group (408/429/503/504 only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from demo.alerts import LocalAlertEvaluator
from ml_assets.src.contracts.alert_rules import DriftAlertRule
from ml_assets.src.contracts.drift_telemetry import OverallDrift, TelemetryBatch, overall_message, write_local
from shared.payloads.alerts import parse_common_alert

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def overall(share: float, drifted: int = 5) -> OverallDrift:
    return OverallDrift(
        n_features=23, n_drifted_features=drifted, share_drifted_features=share, dataset_drift=share >= 0.2
    )


def emit(state: Path, share: float, version: str = "1") -> None:
    batch = TelemetryBatch(messages=[overall_message("credit-default", version, overall(share))], metrics=[])
    write_local(state / "telemetry" / "drift.jsonl", batch)


class Recorder:
    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []

    def __call__(self, body: bytes) -> tuple[int, bytes]:
        self.bodies.append(json.loads(body))
        status = self.statuses.pop(0) if self.statuses else 202
        return status, json.dumps({"decision": "submitted"}).encode()


def evaluator(state: Path, post: Recorder) -> LocalAlertEvaluator:
    return LocalAlertEvaluator(state, DriftAlertRule(threshold=0.2), post, sleep=lambda s: None)


def test_a_breach_fires_once_with_a_payload_the_webhook_parser_accepts(tmp_path: Path) -> None:
    emit(tmp_path, 0.26)
    post = Recorder()
    [sent] = evaluator(tmp_path, post).evaluate(datetime.now(UTC))
    assert sent.condition == "Fired" and sent.accepted and sent.model_version == "1"
    alert = parse_common_alert(json.dumps(post.bodies[0]).encode())
    assert alert.fired and alert.alert_rule == "data-drift"
    assert alert.monitoring_service == "Log Alerts V2"
    assert "OverallDriftMetrics" in (alert.criteria[0].search_query or "")
    # a second evaluation with the same breach sends nothing (stateful rule)
    assert evaluator(tmp_path, post).evaluate(datetime.now(UTC)) == []
    assert len(post.bodies) == 1


def test_below_the_threshold_nothing_fires(tmp_path: Path) -> None:
    emit(tmp_path, 0.13)
    post = Recorder()
    assert evaluator(tmp_path, post).evaluate(datetime.now(UTC)) == []
    assert post.bodies == []


def test_when_the_latest_run_is_back_under_the_threshold_the_alert_resolves_with_the_same_id(tmp_path: Path) -> None:
    emit(tmp_path, 0.5)
    post = Recorder()
    [fired] = evaluator(tmp_path, post).evaluate(datetime.now(UTC))
    emit(tmp_path, 0.0)
    [resolved] = evaluator(tmp_path, post).evaluate(datetime.now(UTC) + timedelta(seconds=1))
    assert resolved.condition == "Resolved" and resolved.alert_id == fired.alert_id
    assert parse_common_alert(json.dumps(post.bodies[1]).encode()).monitor_condition == "Resolved"


def test_runs_older_than_the_rule_window_do_not_fire(tmp_path: Path) -> None:
    emit(tmp_path, 0.9)
    post = Recorder()
    assert evaluator(tmp_path, post).evaluate(datetime.now(UTC) + timedelta(days=2)) == []


def test_each_model_version_is_its_own_alert(tmp_path: Path) -> None:
    emit(tmp_path, 0.4, version="1")
    emit(tmp_path, 0.4, version="2")
    post = Recorder()
    sent = evaluator(tmp_path, post).evaluate(datetime.now(UTC))
    assert sorted(n.model_version for n in sent) == ["1", "2"]
    assert len({n.alert_id for n in sent}) == 2


def test_retryable_statuses_are_retried_and_others_are_final(tmp_path: Path) -> None:
    emit(tmp_path, 0.4)
    post = Recorder(503, 429, 202)
    [sent] = evaluator(tmp_path, post).evaluate(datetime.now(UTC))
    assert sent.statuses == (503, 429, 202) and sent.accepted
    emit(tmp_path, 0.4, version="2")
    post = Recorder(500)
    [final] = evaluator(tmp_path, post).evaluate(datetime.now(UTC))
    assert final.statuses == (500,) and not final.accepted


def test_no_telemetry_file_means_no_alert(tmp_path: Path) -> None:
    assert evaluator(tmp_path, Recorder()).evaluate(NOW) == []
