"""The whole loop in local mode, end to end, on small data: the same code path as `make demo`.

Train v1 → rollout → normal then drifted traffic → export → drift jobs → the drift alert fires and only warns →
the traffic's labels arrive → performance jobs of both windows → the drifted window's drop fires the performance
alert → one retraining job → v2 registered → safe rollout of v2 → v2 serves everything. Each stage's outcome is
asserted from the state store (Azurite) and from the local platform's own records, not only from what the demo
prints.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path

import psutil
import pytest

from demo.run_folder import latest_run
from demo.scenario import DEFAULT_SHIFT, DemoConfig, run_demo
from shared.local.azurite import Azurite
from shared.local.registry import LocalRegistry
from shared.services import state_keys
from shared.services.rollout_state import rollout_key
from shared.settings import Settings
from tests.environment_imports import component_processes, environment_guard, guarded

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loop(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("loop")
    children_before = {p.pid for p in psutil.Process().children(recursive=True)}
    stream = io.StringIO()
    config = DemoConfig(
        out=root / "out",
        state_dir=root / "state",
        storage_connection_string=azurite.connection_string,
        train_rows=2500,
        labelled_rows=2000,
        requests_per_phase=50,
        final_requests=20,
        step_dwell_seconds=1,
        rollout_requests_per_second=20,
        stage_timeout=180,
    )
    with environment_guard(root) as guard_log:
        record = run_demo(config, stream)
    leftover = [p for p in psutil.Process().children(recursive=True) if p.pid not in children_before and p.is_running()]
    return {
        "record": record,
        "root": root,
        "output": stream.getvalue(),
        "leftover": leftover,
        "config": config,
        "connection_string": azurite.connection_string,
        "guarded": guarded(guard_log),
    }


def test_every_step_and_the_scoring_server_ran_with_only_their_azure_ml_environment(loop: dict) -> None:
    # The loop passing under the guard is the check: a step importing what its environment lacks fails its job.
    ran = {(p["module"], p["environment"]) for p in loop["guarded"]}
    assert ran >= set(component_processes().items())


def _store(loop: dict):
    from shared.azure.storage import BlobStateStore

    env = {**loop["record"]["settings"], "STORAGE_CONNECTION_STRING": loop["connection_string"]}
    assert loop["record"]["settings"]["STORAGE_CONNECTION_STRING"] == "(redacted)"  # no key in run.json
    return BlobStateStore.from_settings(Settings(env))


def test_the_loop_succeeds_and_reports_every_stage(loop: dict) -> None:
    record = loop["record"]
    assert record["status"] == "succeeded", loop["output"][-3000:]
    assert all(stage["ok"] for stage in record["stages"])
    for artefact in ("run", "timeline", "drift_report"):
        assert Path(record["artefacts"][artefact]).is_file()
    assert json.loads(Path(record["artefacts"]["run"]).read_text())["status"] == "succeeded"
    assert "<html" in Path(record["artefacts"]["drift_report"]).read_text()[:2000].lower()


def test_the_run_has_its_own_folder_with_the_jobs_logs_and_latest_names_it(loop: dict) -> None:
    record, out = loop["record"], loop["root"] / "out"
    folder = Path(record["artefacts"]["folder"])
    assert folder.parent == out and re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{4}", folder.name)
    assert latest_run(out) is not None and latest_run(out).resolve() == folder.resolve()
    assert sorted(p.name for p in out.iterdir()) == sorted([folder.name, "latest"])
    expected = ["run.json", "timeline.png", "drift_report.html", "functions.log", "jobs", "telemetry.jsonl"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)
    assert sorted(p.name for p in (folder / "jobs").iterdir()) == sorted(record["jobs"])
    for job in record["jobs"]:
        assert json.loads((folder / "jobs" / job / "job.json").read_text())["status"] == "Completed"
        assert (folder / "jobs" / job / "job.log").is_file()
    kept = (folder / "telemetry.jsonl").read_text()
    assert kept == (loop["root"] / "state" / "telemetry" / "drift.jsonl").read_text() and "OverallDriftMetrics" in kept


def test_the_settings_that_differ_from_the_defaults_are_printed_first_and_recorded(loop: dict) -> None:
    recorded = {d["name"]: (d["value"], d["default"]) for d in loop["record"]["differences_from_app_defaults"]}
    assert recorded["DRIFT_SHARE"] == ("0.2", "0.5") and recorded["max_total_trials"] == ("2", "20")
    before_the_first_stage = loop["output"].split("▶", 1)[0]
    assert re.search(r"DRIFT_SHARE +0\.2 +default 0\.5", before_the_first_stage)


def test_every_threshold_is_printed_first_and_recorded_with_its_default(loop: dict) -> None:
    from demo.setting_differences import THRESHOLD_SETTINGS

    used = {t["name"]: t for t in loop["record"]["thresholds"]}
    assert list(used) == list(THRESHOLD_SETTINGS)
    assert used["DRIFT_SHARE"] == {"name": "DRIFT_SHARE", "value": "0.2", "default": "0.5", "differs": True}
    assert used["PERFORMANCE_AUC_FLOOR"] == {
        "name": "PERFORMANCE_AUC_FLOOR", "value": "0.65", "default": "0.65", "differs": False
    }  # fmt: skip
    assert used["RETRAIN_ALERT_RULES"]["value"] == "model-performance"
    assert (used["PERFORMANCE_AUC_MARGIN"]["value"], used["PERFORMANCE_AUC_MARGIN"]["default"]) == ("0.1", "0.05")
    before_the_first_stage = loop["output"].split("▶", 1)[0]
    for name in THRESHOLD_SETTINGS:
        assert re.search(rf"^ +{name} +", before_the_first_stage, re.MULTILINE), name


def test_the_timeline_marks_the_registrations_and_the_alert(loop: dict) -> None:
    marks = [(m["kind"], m["label"]) for m in loop["record"]["marks"]]
    assert [label for kind, label in marks if kind == "registered"] == ["v1 registered", "v2 registered"]
    assert [kind for kind, label in marks if label.startswith("alert fired")] == ["alert"]
    assert all(p["job_run"][0] < p["job_run"][1] for p in loop["record"]["drift"])


def test_repeated_reconcile_ticks_are_folded_in_the_function_log(loop: dict) -> None:
    lines = Path(loop["record"]["artefacts"]["function_logs"]).read_text().splitlines()
    # a log line starts with its time stamp; the lines of a traceback are part of the line before
    messages = [line.split(" ", 2)[2] for line in lines if re.match(r"\d{4}-\d\d-\d\d \d\d:", line)]
    assert all(a != b for a, b in itertools.pairwise(messages))
    assert any("reconcile_rollouts" in m and "(same as the previous line, repeated" in m for m in messages)


def test_v2_serves_100_percent_at_the_end(loop: dict) -> None:
    doc = _store(loop).get(rollout_key("credit-default"))
    assert doc is not None and doc.data["version"] == "2" and doc.data["phase"] == "succeeded"
    endpoint = json.loads((loop["root"] / "state" / "endpoints" / "credit-default.json").read_text())
    assert endpoint["traffic"] == {doc.data["deployment"]: 100}
    # the rollout went through the traffic steps while requests flowed
    splits = [entry["traffic"] for entry in loop["record"]["traffic"]["live_traffic_over_time"]]
    assert any(len(split) == 2 for split in splits), splits


def test_every_step_of_v2_and_the_bake_passed_the_live_metric_gate(loop: dict) -> None:
    rollouts = loop["record"]["rollouts"]
    assert rollouts["1"]["outcome"] == "succeeded" and rollouts["1"]["gate"]["decision"] == "skipped"  # first model
    v2 = rollouts["2"]
    assert v2["outcome"] == "succeeded" and v2["reason"] is None
    passed = {g["step"] for g in v2["gates"] if g["decision"] == "passed"}
    assert passed == {"10", "50", "100", "bake"}, v2["gates"]
    assert all(g["decision"] != "failed" for g in v2["gates"])


def test_exactly_one_retraining_job_ran_and_registered_v2(loop: dict) -> None:
    jobs = [json.loads(p.read_text()) for p in (loop["root"] / "state" / "jobs").glob("*/job.json")]
    training = [j for j in jobs if "train" in j.get("experiment_name", j.get("experiment", ""))]
    by_alert = [j for j in training if any("alert" in str(k) for k in j.get("tags", {}))]
    assert len(training) == 2 and len(by_alert) == 1, [j.get("tags") for j in training]
    assert all(j["status"] == "Completed" for j in jobs)
    # the retraining job trains on data v2 (@latest) and its data-quality gate compares it with v1
    (retraining,) = by_alert
    assert retraining["inputs"]["training_data"]["asset"] == "credit-default-training:2"
    assert retraining["inputs"]["previous_training_data"]["asset"] == "credit-default-training:1"
    assert retraining["data_assets"] == {"credit-default-training": 2}
    versions = sorted(p.name for p in (loop["root"] / "state" / "registry" / "credit-default").iterdir())
    assert versions == ["1", "2"]
    # the gate's drift check ran for v2 only (v1 had no previous data) and, a finding by default, passed
    registry = LocalRegistry(loop["root"] / "state")
    first, second = (registry.get_model("credit-default", v).tags for v in versions)
    assert first["data_quality_drifted_columns_share"] == "none"
    assert second["data_quality_drifted_columns_share"] != "none" and second["data_quality"] == "passed"
    assert loop["record"]["alert_redelivery"]["job_name"] == loop["record"]["retraining_job"]


def test_every_record_sent_was_exported_once(loop: dict) -> None:
    record = loop["record"]
    exported = record["exported_records"]
    assert exported["sent_by_the_demo"] == record["traffic"]["records"] > 0  # every record sent, exactly once
    assert exported["duplicates"] == 0
    # the rest are the rollouts' smoke tests (the 2-record sample request): 2 rollouts, 1 + 3 traffic steps
    assert exported["total"] == exported["sent_by_the_demo"] + exported["smoke_test_records"]
    assert exported["smoke_test_records"] == 2 * exported["smoke_test_requests"] > 0
    assert set(exported["by_version"]) == {"1", "2"}
    watermark = _store(loop).get(state_keys.EXPORT_WATERMARK)
    assert watermark is not None and watermark.data["totals"]["records"] == exported["total"]


def test_drift_is_flagged_on_the_shifted_features_only_in_the_drifted_window(loop: dict) -> None:
    normal, drifted = loop["record"]["drift"]
    assert normal["label"] == "normal" and drifted["label"] == "drifted"
    assert set(DEFAULT_SHIFT) <= set(drifted["drifted_features"])
    assert drifted["share_drifted_features"] >= loop["config"].drift_share > normal["share_drifted_features"]
    assert loop["record"]["alerts_after_normal_window"] == []  # the normal window's run alone raises nothing


def test_drift_warns_and_performance_decides(loop: dict) -> None:
    record = loop["record"]
    # the drift alert fires and reaches the webhook, which records it and submits nothing
    [warning] = record["drift_alerts"]
    assert warning["condition"] == "Fired" and warning["statuses"] == [200]
    assert (warning["response"]["decision"], warning["response"]["job_name"]) == ("ignored", None)
    assert warning["response"]["alert_rule"] == "data-drift"
    # the labels arrived (every record sent in both windows, a tenth of them twice) and both windows were measured
    normal, drifted = record["performance"]["normal"], record["performance"]["drifted"]
    for figures in (normal, drifted):
        assert figures["label_coverage"] == 1.0 and figures["n_labelled"] == figures["n_predictions"] > 0
        assert figures["labels"]["invalid_rows"] == 0 and figures["labels"]["superseded_rows"] > 0
    assert drifted["roc_auc"] < normal["roc_auc"]
    assert record["alerts_after_normal_performance"] == []
    # the drifted window's drop fired the performance rule, and its alert is the one that retrained
    [alert] = record["alerts"]
    assert alert["alert_rule"] == "model-performance" and alert["condition"] == "Fired"
    assert alert["statuses"] == [202] and float(alert["roc_auc"]) == pytest.approx(drifted["roc_auc"], abs=1e-6)
    assert alert["response"]["decision"] == "submitted" and alert["response"]["alert_rule"] == "model-performance"
    assert alert["response"]["job_name"] == record["retraining_job"]


def test_every_drift_job_measures_prediction_drift_and_data_quality(loop: dict) -> None:
    # v1 was trained by the pipeline, so it carries its test-split scores: prediction drift runs in both windows
    for point in loop["record"]["drift"]:
        assert point["prediction_drift"] is not None, point["prediction_note"]
        assert point["prediction_drift"]["feature_name"] == "prediction"
        assert point["data_quality"]["quarantined_lines"] == 0 and point["data_quality"]["max_missing_share"] == 0
    normal, drifted = loop["record"]["drift"]
    # the shifted inputs reach beyond the training range more often than the normal ones
    assert drifted["data_quality"]["max_outside_range_share"] > normal["data_quality"]["max_outside_range_share"]
    from ml_assets.src.contracts import drift_telemetry as t

    kept = t.read_local(loop["root"] / "state" / "telemetry" / "drift.jsonl")
    types = [m.type for _, m in t.drift_messages(kept)]
    assert types.count(t.DATA_QUALITY) == 2 and types.count(t.PREDICTION) == 2


def test_every_process_the_loop_started_is_stopped(loop: dict) -> None:
    assert loop["leftover"] == []
