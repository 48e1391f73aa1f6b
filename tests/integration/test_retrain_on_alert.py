"""`retrain_on_alert` called through its blueprint, against Azurite, with a fake JobPlatform at the port.

The fake (``tests/fakes/job_platform.py``) is idempotent on the job name like the real platforms, counts
submissions and can be slow, fail, or create the job and lose the answer; everything else (the state store's conditional
writes, claims, the cool-down document) is the real Blob implementation on Azurite.
"""

from __future__ import annotations

import copy
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings

from shared.context import AppContext, use_context
from shared.payloads import PayloadError
from shared.payloads.alerts import parse_common_alert
from shared.ports import AssetInput, PlatformError, TransientError
from shared.services import state_keys
from shared.services.retraining import RetrainConfig, RetrainingService, alert_claim_key
from shared.services.retraining_cooldown import cooldown_key
from shared.services.submission_claim import STALE_AFTER
from shared.settings import Settings
from shared.triggers import retraining, status
from tests.fakes.data_asset_versions import FakeDataAssetVersions
from tests.fakes.job_platform import FakeJobPlatform
from tests.unit.test_alert_payload import alert_bodies, alert_id, log_search_alert, metric_alert


@pytest.fixture
def data_versions(app_context: AppContext) -> FakeDataAssetVersions:
    fake = FakeDataAssetVersions({"credit-default-training": ["1", "2"]})
    app_context.overrides["data_asset_versions"] = fake
    return fake


@pytest.fixture
def platform(app_context: AppContext, data_versions: FakeDataAssetVersions) -> FakeJobPlatform:
    fake = FakeJobPlatform()
    app_context.overrides["job_platform"] = fake
    return fake


def configure(app_context: AppContext, storage_env: dict[str, str], **env: str) -> None:
    app_context.settings = Settings({**storage_env, **env})


def deliver(payload: dict[str, Any] | bytes) -> func.HttpResponse:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    handler = retraining.retrain_on_alert.build().get_user_function()
    req = func.HttpRequest(
        method="POST",
        url="http://localhost/api/alerts/retrain",
        body=body,
        headers={"Content-Type": "application/json"},
    )
    return handler(req)


def body_of(resp: func.HttpResponse) -> dict[str, Any]:
    return json.loads(resp.get_body())


def decisions(app_context: AppContext) -> list[dict[str, Any]]:
    store = app_context.state_store()
    found = [store.get(key) for key in store.list(state_keys.RETRAINING_DECISIONS_PREFIX)]
    return [doc.data for doc in found if doc is not None]


def decision_kinds(app_context: AppContext) -> list[str]:
    return sorted(d["decision"] for d in decisions(app_context))


def claim_token(app_context: AppContext) -> str:
    claim = app_context.state_store().get(alert_claim_key(parse_common_alert(json.dumps(metric_alert()).encode())))
    assert claim is not None
    return str(claim.data["token"])


# --- realistic alerts ----------------------------------------------------------------------------


def test_a_fired_metric_alert_submits_the_training_pipeline_tagged_with_the_alert(
    app_context: AppContext, platform: FakeJobPlatform
) -> None:
    resp = deliver(metric_alert())

    assert resp.status_code == 202
    body = body_of(resp)
    assert body["decision"] == "submitted"
    (request,) = platform.requests
    assert body["job_name"] == request.name == f"credit-default-training-{claim_token(app_context)}"
    assert body["alert_id"] == alert_id()
    assert request.pipeline_yaml == "ml_assets/pipelines/train_model.yml"
    assert request.inputs["training_data"] == AssetInput("uri_folder", "azureml:credit-default-training@latest")
    assert request.inputs["previous_training_data"] == AssetInput("uri_folder", "azureml:credit-default-training:1")
    assert request.inputs["model_name"] == "credit-default"
    assert request.compute == "cpu-cluster"
    assert request.experiment_name == "credit-default-training"
    assert request.tags["trigger"] == "alert"
    assert request.tags["alert_id"] == alert_id()
    assert request.tags["alert_rule"] == "credit-default-drift-share"
    assert request.tags["alert_severity"] == "Sev2"
    assert request.tags["alert_fired_at"] == "2026-03-22T13:58:24.371321+00:00"
    assert request.tags["alert_monitor_condition"] == "Fired"
    # the cool-down now runs from the submission
    cooldown = app_context.state_store().get(cooldown_key("credit-default"))
    assert cooldown is not None
    assert cooldown.data["last_job"] == request.name
    assert "pending" not in cooldown.data
    until = datetime.fromisoformat(body["cooldown_until"])
    assert timedelta(hours=5, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=6)


def test_a_fired_log_search_alert_submits_with_the_configured_data_asset_version(
    app_context: AppContext,
    storage_env: dict[str, str],
    platform: FakeJobPlatform,
    data_versions: FakeDataAssetVersions,
) -> None:
    configure(app_context, storage_env, TRAINING_DATA_ASSET="credit-default-training:7", TRAINING_COMPUTE="gpu-a")
    data_versions.assets["credit-default-training"] = [str(v) for v in range(1, 10)]

    resp = deliver(log_search_alert())

    assert resp.status_code == 202
    (request,) = platform.requests
    assert request.inputs["training_data"] == AssetInput("uri_folder", "azureml:credit-default-training:7")
    assert request.inputs["training_data_asset"] == "credit-default-training:7"
    assert request.inputs["previous_training_data"] == AssetInput("uri_folder", "azureml:credit-default-training:6")
    assert request.compute == "gpu-a"
    assert request.tags["alert_rule"] == "credit-default-dataset-drift"
    assert request.tags["alert_condition_type"] == "LogQueryCriteria"


def test_a_resolved_notification_is_acknowledged_and_recorded_without_a_job(
    app_context: AppContext, platform: FakeJobPlatform
) -> None:
    resp = deliver(metric_alert(condition="Resolved"))

    assert resp.status_code == 200
    assert body_of(resp)["decision"] == "resolved"
    assert platform.calls == 0
    (record,) = decisions(app_context)
    assert record["decision"] == "resolved"
    assert record["alert"]["resolved_at"] == "2026-03-22T15:03:16.224631+00:00"
    # delivered out of order, the Fired notification of the same alert still submits
    assert deliver(metric_alert()).status_code == 202
    assert platform.submissions == 1


def test_every_decision_is_one_structured_log_line_and_visible_through_status(
    app_context: AppContext, platform: FakeJobPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="shared.services.retraining_decisions"):
        deliver(metric_alert())
        deliver(metric_alert())

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert [line["decision"] for line in lines] == ["submitted", "duplicate"]
    for line in lines:
        assert line["event"] == "retrain_on_alert"
        assert line["alert_id"] == alert_id()
        assert line["alert_rule"] == "credit-default-drift-share"
        assert line["job"] == platform.job_names[0]
        assert line["reason"]
    shown = body_of(status.status.build().get_user_function()(func.HttpRequest("GET", "http://x/api/status", body=b"")))
    last = shown["retraining"]["last"]
    assert last["last_submission"]["job"] == platform.job_names[0]
    assert last["last_decision"]["decision"] == "duplicate"


# --- idempotency ---------------------------------------------------------------------------------


def test_a_redelivered_alert_gets_the_first_jobs_name_and_no_second_job(
    app_context: AppContext, platform: FakeJobPlatform
) -> None:
    first = deliver(metric_alert())
    again = deliver(metric_alert())

    assert first.status_code == 202
    assert again.status_code == 200
    assert body_of(again)["decision"] == "duplicate"
    assert body_of(again)["job_name"] == body_of(first)["job_name"]
    assert platform.calls == 1


def test_ten_concurrent_deliveries_of_one_alert_submit_exactly_one_job(
    app_context: AppContext, platform: FakeJobPlatform
) -> None:
    platform.delay = 1.0
    app_context.state_store()  # build it once, before the threads race
    start = threading.Barrier(10)

    def one(_: int) -> func.HttpResponse:
        start.wait()
        return deliver(metric_alert())

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(one, range(10)))

    assert platform.calls == 1
    bodies = [body_of(r) for r in responses]
    (submitted,) = [b for b in bodies if b["decision"] == "submitted"]
    duplicates = [(r.status_code, b) for r, b in zip(responses, bodies, strict=True) if b is not submitted]
    assert len(duplicates) == 9
    for code, body in duplicates:
        assert body["decision"] == "duplicate"
        if body.get("in_progress"):
            assert code == 202 and body["job_name"] is None
        else:
            assert code == 200 and body["job_name"] == submitted["job_name"]
    assert any(body.get("in_progress") for _, body in duplicates)  # they arrived while the first was submitting
    later = deliver(metric_alert())
    assert later.status_code == 200
    assert body_of(later)["job_name"] == submitted["job_name"]
    assert platform.submissions == 1


def test_after_a_transient_failure_the_retry_submits_and_only_once(
    app_context: AppContext, platform: FakeJobPlatform
) -> None:
    platform.failures = [TransientError("submit pipeline: HTTP 429 Too Many Requests")]

    failed = deliver(metric_alert())
    retried = deliver(metric_alert())
    again = deliver(metric_alert())

    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "60"
    assert "429" in body_of(failed)["error"]
    assert retried.status_code == 202
    assert again.status_code == 200
    assert body_of(again)["job_name"] == body_of(retried)["job_name"]
    assert platform.calls == 2
    assert platform.submissions == 1
    assert decision_kinds(app_context) == ["duplicate", "failed", "submitted"]
    cooldown = app_context.state_store().get(cooldown_key("credit-default"))
    assert cooldown is not None and "pending" not in cooldown.data


def test_a_job_created_whose_answer_was_lost_is_the_one_job_the_retry_answers_with(
    app_context: AppContext, platform: FakeJobPlatform
) -> None:
    platform.lost_answers = 1  # the service creates the job; the read times out before its answer arrives

    lost = deliver(metric_alert())
    retried = deliver(metric_alert())
    again = deliver(metric_alert())

    assert lost.status_code == 503 and lost.headers["Retry-After"] == "60"
    assert "Read timed out" in body_of(lost)["error"]
    (job,) = platform.job_names
    assert platform.submissions == 1 and platform.calls == 2
    assert retried.status_code == 202
    assert (body_of(retried)["decision"], body_of(retried)["job_name"]) == ("submitted", job)
    assert (again.status_code, body_of(again)["decision"], body_of(again)["job_name"]) == (200, "duplicate", job)
    claim = app_context.state_store().get(alert_claim_key(parse_common_alert(json.dumps(metric_alert()).encode())))
    assert claim is not None and (claim.data["status"], claim.data["job_name"]) == ("submitted", job)
    cooldown = app_context.state_store().get(cooldown_key("credit-default"))
    assert cooldown is not None and cooldown.data["last_job"] == job and "pending" not in cooldown.data
    failed = [d for d in decisions(app_context) if d["decision"] == "failed"]
    assert len(failed) == 1 and "may exist" in failed[0]["reason"]


def test_while_a_job_may_exist_another_alert_is_held_back_by_the_cool_down(
    app_context: AppContext, platform: FakeJobPlatform
) -> None:
    platform.lost_answers = 1

    assert deliver(metric_alert()).status_code == 503
    other = deliver(log_search_alert())
    retried = deliver(metric_alert())

    assert body_of(other)["decision"] == "suppressed"
    assert "being submitted" in body_of(other)["reason"]
    assert retried.status_code == 202
    assert platform.submissions == 1


def test_the_service_submits_once_when_the_answer_is_lost(app_context: AppContext) -> None:
    fake = FakeJobPlatform()
    fake.lost_answers = 1
    service = RetrainingService(app_context.state_store, RetrainConfig(**CONFIG), lambda: fake, FakeDataAssetVersions)
    alert = parse_common_alert(json.dumps(metric_alert()).encode())

    with pytest.raises(TransientError):
        service.handle(alert)
    retried = service.handle(alert)

    (job,) = fake.job_names
    assert (retried.decision, retried.job_name) == ("submitted", job)
    assert fake.submissions == 1


def test_a_claim_stored_without_a_token_is_taken_over_when_stale_and_submits_once(app_context: AppContext) -> None:
    """A claim written before claims carried a token (its attempt named no job) still ends in one job."""
    fake = FakeJobPlatform()
    clock = Clock(datetime(2026, 3, 22, 14, 0, tzinfo=UTC))
    store = app_context.state_store()
    service = RetrainingService(
        lambda: store, RetrainConfig(**CONFIG), lambda: fake, FakeDataAssetVersions, clock=clock
    )
    alert = parse_common_alert(json.dumps(metric_alert()).encode())
    stale = (clock.now - STALE_AFTER).isoformat()
    store.create(alert_claim_key(alert), {"alert_id": alert.alert_id, "state": "submitting", "claimed_at": stale})

    taken_over = service.handle(alert)
    again = service.handle(alert)

    assert taken_over.decision == "submitted" and taken_over.job_name == fake.job_names[0]
    assert (again.decision, again.job_name) == ("duplicate", taken_over.job_name)
    assert fake.submissions == 1


def test_a_transient_failure_listing_the_data_versions_is_503_claims_nothing_and_the_retry_submits_once(
    app_context: AppContext, platform: FakeJobPlatform, data_versions: FakeDataAssetVersions
) -> None:
    data_versions.failures.append(TransientError("list the versions of data asset credit-default-training: HTTP 503"))

    first = deliver(metric_alert())

    assert first.status_code == 503 and first.headers["Retry-After"]
    assert platform.calls == 0
    assert app_context.state_store().list(state_keys.RETRAINING_ALERTS_PREFIX) == []
    retried = deliver(metric_alert())
    assert retried.status_code == 202
    (request,) = platform.requests
    assert request.inputs["previous_training_data"] == AssetInput("uri_folder", "azureml:credit-default-training:1")


def test_a_permanent_platform_error_is_502_and_leaves_the_alert_unclaimed(
    app_context: AppContext, platform: FakeJobPlatform
) -> None:
    platform.failures = [PlatformError("submit pipeline: HTTP 400: compute cpu-cluster not found")]

    refused = deliver(metric_alert())

    assert refused.status_code == 502
    assert "compute cpu-cluster not found" in body_of(refused)["error"]
    assert app_context.state_store().list(state_keys.RETRAINING_ALERTS_PREFIX) == []
    # once the compute exists, a redelivery (or a replay) submits: the failure did not start a cool-down
    assert deliver(metric_alert()).status_code == 202


@pytest.mark.slow
def test_a_state_store_outage_is_503_with_retry_after_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=YQ==;BlobEndpoint=http://127.0.0.1:{port}/a;"
    fake = FakeJobPlatform()
    use_context(AppContext(settings=Settings({"STORAGE_CONNECTION_STRING": conn}), overrides={"job_platform": fake}))

    with caplog.at_level(logging.INFO, logger="shared.services.retraining_decisions"):
        started = time.monotonic()
        resp = deliver(metric_alert())
        elapsed = time.monotonic() - started

    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "60"
    assert fake.calls == 0
    assert elapsed < 15  # a few quick retries, not the SDK's minutes of back-off
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert (line["decision"], line["alert_id"]) == ("failed", alert_id())
    assert "state store" in line["reason"]


# --- cool-down -----------------------------------------------------------------------------------


def test_another_alert_inside_the_cool_down_is_suppressed_with_its_end(
    app_context: AppContext, platform: FakeJobPlatform
) -> None:
    first = body_of(deliver(metric_alert()))

    resp = deliver(log_search_alert())

    assert resp.status_code == 200
    body = body_of(resp)
    assert body["decision"] == "suppressed"
    assert body["cooldown_until"] == first["cooldown_until"]
    assert platform.job_names[0] in body["reason"]
    assert platform.submissions == 1
    again = body_of(deliver(log_search_alert()))
    assert again["decision"] == "duplicate"
    assert again["first_decision"] == "suppressed"
    assert again["cooldown_until"] == first["cooldown_until"]
    assert decision_kinds(app_context) == ["duplicate", "submitted", "suppressed"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


CONFIG = {
    "model_name": "credit-default",
    "training_data_asset": "credit-default-training@latest",
    "training_compute": "cpu-cluster",
    "cooldown": timedelta(hours=6),
}


def test_the_cool_down_ends_after_the_configured_duration(app_context: AppContext) -> None:
    fake = FakeJobPlatform()
    clock = Clock(datetime(2026, 3, 22, 14, 0, tzinfo=UTC))
    service = RetrainingService(
        app_context.state_store, RetrainConfig(**CONFIG), lambda: fake, FakeDataAssetVersions, clock=clock
    )

    def handle(guid: str) -> str:
        return service.handle(parse_common_alert(json.dumps(metric_alert(alert_guid=guid)).encode())).decision

    assert handle("a1") == "submitted"
    clock.now += timedelta(hours=5, minutes=59)
    assert handle("a2") == "suppressed"
    clock.now += timedelta(minutes=1, seconds=1)
    assert handle("a3") == "submitted"
    assert fake.submissions == 2


def test_a_claim_or_reservation_left_by_a_dead_attempt_is_taken_over_once_stale(app_context: AppContext) -> None:
    """A process that died between claiming and recording must not block the alert (or the model) forever."""
    fake = FakeJobPlatform()
    clock = Clock(datetime(2026, 3, 22, 14, 0, tzinfo=UTC))
    store = app_context.state_store()
    service = RetrainingService(
        lambda: store, RetrainConfig(**CONFIG), lambda: fake, FakeDataAssetVersions, clock=clock
    )
    alert = parse_common_alert(json.dumps(metric_alert()).encode())
    dead_at = (clock.now - timedelta(minutes=1)).isoformat()
    store.create(alert_claim_key(alert), {"alert_id": alert.alert_id, "status": "submitting", "claimed_at": dead_at})
    store.create(
        cooldown_key("credit-default"),
        {"model": "credit-default", "pending": {"alert_id": "another", "reserved_at": dead_at, "token": "t"}},
    )

    fresh = service.handle(alert)
    clock.now += STALE_AFTER
    taken_over = service.handle(alert)

    assert (fresh.decision, fresh.in_progress) == ("duplicate", True)
    assert taken_over.decision == "submitted"
    assert fake.submissions == 1
    assert store.get(alert_claim_key(alert)).data["job_name"] == taken_over.job_name


def test_two_different_alerts_arriving_together_submit_one_job(
    app_context: AppContext, platform: FakeJobPlatform
) -> None:
    platform.delay = 0.5
    app_context.state_store()
    payloads = [metric_alert(alert_guid=f"concurrent-{i}") for i in range(4)] + [log_search_alert()]
    start = threading.Barrier(len(payloads))

    def one(payload: dict[str, Any]) -> func.HttpResponse:
        start.wait()
        return deliver(payload)

    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        responses = list(pool.map(one, payloads))

    assert platform.submissions == 1
    outcomes = sorted(body_of(r)["decision"] for r in responses)
    assert outcomes == ["submitted"] + ["suppressed"] * (len(payloads) - 1)
    assert all(r.status_code == (202 if body_of(r)["decision"] == "submitted" else 200) for r in responses)
    cooldown = app_context.state_store().get(cooldown_key("credit-default"))
    assert cooldown is not None and "pending" not in cooldown.data


def test_a_zero_cool_down_lets_every_new_alert_retrain(
    app_context: AppContext, storage_env: dict[str, str], platform: FakeJobPlatform
) -> None:
    configure(app_context, storage_env, RETRAIN_COOLDOWN="PT0S")

    assert deliver(metric_alert()).status_code == 202
    assert deliver(log_search_alert()).status_code == 202
    assert platform.submissions == 2


# --- allow-list ----------------------------------------------------------------------------------


def test_a_rule_outside_the_allow_list_is_ignored_with_the_reason(
    app_context: AppContext, storage_env: dict[str, str], platform: FakeJobPlatform
) -> None:
    configure(app_context, storage_env, RETRAIN_ALERT_RULES="credit-default-drift-share, another-rule")

    ignored = deliver(log_search_alert())
    allowed = deliver(metric_alert())

    assert ignored.status_code == 200
    assert body_of(ignored)["decision"] == "ignored"
    assert "credit-default-dataset-drift" in body_of(ignored)["reason"]
    assert "RETRAIN_ALERT_RULES" in body_of(ignored)["reason"]
    assert allowed.status_code == 202
    assert platform.submissions == 1
    assert decision_kinds(app_context) == ["ignored", "submitted"]


def test_the_allow_list_also_matches_the_rule_id_case_insensitively(
    app_context: AppContext, storage_env: dict[str, str], platform: FakeJobPlatform
) -> None:
    rule_id = metric_alert()["data"]["essentials"]["alertRuleID"]
    configure(app_context, storage_env, RETRAIN_ALERT_RULES=rule_id.upper())

    assert deliver(metric_alert()).status_code == 202


# --- bad input and bad configuration -------------------------------------------------------------


def _without_alert_id() -> bytes:
    payload = metric_alert()
    del payload["data"]["essentials"]["alertId"]
    return json.dumps(payload).encode()


def _with_condition(value: str) -> bytes:
    payload = metric_alert()
    payload["data"]["essentials"]["monitorCondition"] = value
    return json.dumps(payload).encode()


def _too_large() -> bytes:
    payload = metric_alert()
    payload["data"]["essentials"]["description"] = "x" * 300_000
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    "case",
    [
        (b"<alert/>", 400, "body", "not valid JSON"),
        (json.dumps({**metric_alert(), "schemaId": "AzureMonitorMetricAlert"}).encode(), 400, "schemaId", "expected"),
        (_without_alert_id(), 400, "data.essentials.alertId", "missing"),
        (_with_condition("Acknowledged"), 400, "data.essentials.monitorCondition", "Fired or Resolved"),
        (_too_large(), 413, None, "at most 262144"),
    ],
    ids=["not-json", "wrong-schema", "no-alert-id", "bad-condition", "too-large"],
)
def test_a_bad_payload_is_rejected_recorded_and_submits_nothing(
    app_context: AppContext, platform: FakeJobPlatform, case: tuple[bytes, int, str | None, str]
) -> None:
    body, status_code, field, fragment = case

    resp = deliver(body)

    assert resp.status_code == status_code
    answer = body_of(resp)
    assert answer["field"] == field
    assert fragment in answer["error"]
    assert platform.calls == 0
    (record,) = decisions(app_context)
    assert record["decision"] == "rejected"
    assert record["http_status"] == status_code
    if status_code == 400:  # kept whole, so a wrongly rejected alert can be replayed
        assert record["body"].encode() == body
    else:
        assert "body" not in record and record["body_bytes"] == len(body)


def test_bad_input_is_400_even_when_the_settings_are_broken(storage_env: dict[str, str]) -> None:
    use_context(AppContext(settings=Settings({"RETRAIN_COOLDOWN": "six hours"})))

    assert deliver(b"{}").status_code == 400


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"RETRAIN_COOLDOWN": "6 hours"}, "RETRAIN_COOLDOWN"),
        ({"TRAINING_DATA_ASSET": "credit-default-training"}, "TRAINING_DATA_ASSET"),
        ({"AZURE_RESOURCE_GROUP": "rg", "AML_WORKSPACE_NAME": "ws"}, "AZURE_SUBSCRIPTION_ID"),
    ],
)
def test_a_configuration_error_is_500_naming_the_setting_and_claims_nothing(
    app_context: AppContext, storage_env: dict[str, str], env: dict[str, str], setting: str
) -> None:
    configure(app_context, storage_env, **env)  # no job_platform override: the real one is built from settings

    resp = deliver(metric_alert())

    assert resp.status_code == 500
    assert body_of(resp)["setting"] == setting
    assert setting in body_of(resp)["error"]
    assert app_context.state_store().list(state_keys.RETRAINING_ALERTS_PREFIX) == []


# --- property-based ------------------------------------------------------------------------------


@pytest.fixture
def fuzz_context(app_context: AppContext, platform: FakeJobPlatform) -> Iterator[FakeJobPlatform]:
    app_context.state_store()
    yield platform


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=alert_bodies)
def test_no_body_gets_a_500_and_no_invalid_body_submits(fuzz_context: FakeJobPlatform, body: bytes) -> None:
    before = fuzz_context.calls

    resp = deliver(copy.copy(body))

    assert resp.status_code in (200, 202, 400, 413), resp.get_body()
    try:
        alert = parse_common_alert(body)
    except PayloadError:
        assert resp.status_code in (400, 413)
        assert fuzz_context.calls == before
        return
    assert resp.status_code in (200, 202)
    if not alert.fired:
        assert fuzz_context.calls == before
