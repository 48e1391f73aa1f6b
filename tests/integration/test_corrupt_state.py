"""A state document that is not a JSON object, planted in Azurite, meets every handler that reads it.

``status`` shows it as unreadable and the rest as usual; the HTTP handlers answer 500 naming it; the timers and
the Event Grid handler log it by name and raise, so the host records the failure. No handler writes over it:
its bytes are the same afterwards, for an operator to fix or delete.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from shared.context import AppContext, use_context
from shared.ports import CorruptDocumentError
from shared.services import drift as drift_service
from shared.services import state_keys
from shared.services.drift_job import floor_hour
from shared.services.retraining_cooldown import cooldown_key
from shared.services.rollout_state import rollout_key
from shared.settings import Settings
from shared.triggers import drift, export, retraining, rollout, status
from tests.fakes.data_asset_versions import FakeDataAssetVersions
from tests.fakes.job_platform import FakeJobPlatform
from tests.integration.test_drift_jobs import MODEL, FakeModelRegistry, export_blob
from tests.integration.test_state_store import plant, stored
from tests.unit.test_alert_payload import metric_alert

TRUNCATED = b'{"watermark": "2026-11-24T10:00:00Z", "pending_fi'
NOT_AN_OBJECT = b'["submitting"]'


def body_of(resp: func.HttpResponse) -> dict[str, Any]:
    return json.loads(resp.get_body())


def get_status() -> func.HttpResponse:
    handler = status.status.build().get_user_function()
    return handler(func.HttpRequest(method="GET", url="http://localhost/api/status", body=b""))


@pytest.fixture
def platform(app_context: AppContext) -> FakeJobPlatform:
    fake = FakeJobPlatform(default_status="Completed")
    app_context.overrides["job_platform"] = fake
    app_context.overrides["data_asset_versions"] = FakeDataAssetVersions()
    return fake


def test_status_shows_the_unreadable_documents_by_name_and_everything_else(
    app_context: AppContext, storage_env: dict[str, str]
) -> None:
    app_context.state_store().put(state_keys.RETRAINING_LAST, {"last_decision": {"decision": "submitted"}})
    plant(storage_env, state_keys.EXPORT_WATERMARK, TRUNCATED)
    plant(storage_env, rollout_key(MODEL), NOT_AN_OBJECT)

    resp = get_status()

    assert resp.status_code == 200
    body = body_of(resp)
    watermark = body["export"]["watermark"]
    assert (watermark["unreadable"], watermark["document"]) == (True, state_keys.EXPORT_WATERMARK)
    assert "not valid JSON" in watermark["error"]
    assert body["rollouts"][MODEL] == {
        "unreadable": True,
        "document": rollout_key(MODEL),
        "error": "a JSON list, not an object",
    }
    assert body["retraining"]["last"] == {"last_decision": {"decision": "submitted"}}
    assert body["export"]["last_run"] == {} and body["drift"]["last"] == {}


def test_the_export_timer_fails_naming_the_watermark_and_exports_nothing(
    storage_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    context = AppContext(settings=Settings({**storage_env, "MLOPS_MODE": "local", "LOCAL_STATE_DIR": str(tmp_path)}))
    use_context(context)
    plant(storage_env, state_keys.EXPORT_WATERMARK, TRUNCATED)
    handler = export.export_inference_data.build().get_user_function()

    with caplog.at_level(logging.ERROR), pytest.raises(CorruptDocumentError) as caught:
        handler(TimerRequest(past_due=False))

    assert caught.value.key == state_keys.EXPORT_WATERMARK
    assert any(f"'{state_keys.EXPORT_WATERMARK}' is unreadable" in r.getMessage() for r in caplog.records)
    assert stored(storage_env, state_keys.EXPORT_WATERMARK) == TRUNCATED
    assert context.export_writer().list("") == []


def deliver_alert() -> func.HttpResponse:
    handler = retraining.retrain_on_alert.build().get_user_function()
    body = json.dumps(metric_alert()).encode()
    return handler(func.HttpRequest(method="POST", url="http://localhost/api/alerts/retrain", body=body))


def test_retrain_on_alert_answers_500_naming_the_cool_down_document_and_submits_nothing(
    app_context: AppContext, storage_env: dict[str, str], platform: FakeJobPlatform
) -> None:
    key = cooldown_key("credit-default")
    plant(storage_env, key, TRUNCATED)

    resp = deliver_alert()

    assert resp.status_code == 500  # not 503: no retry of the action group can fix it
    assert body_of(resp)["document"] == key and key in body_of(resp)["error"]
    assert platform.calls == 0
    assert stored(storage_env, key) == TRUNCATED
    assert app_context.state_store().list(state_keys.RETRAINING_ALERTS_PREFIX) == []  # the alert claimed nothing
    app_context.state_store().delete(key)  # the operator's fix: the next delivery retrains
    assert deliver_alert().status_code == 202


def test_retrain_on_alert_never_overwrites_an_unreadable_claim(
    app_context: AppContext, storage_env: dict[str, str], platform: FakeJobPlatform
) -> None:
    from shared.payloads.alerts import parse_common_alert
    from shared.services.retraining import alert_claim_key

    key = alert_claim_key(parse_common_alert(json.dumps(metric_alert()).encode()))
    plant(storage_env, key, NOT_AN_OBJECT)

    resp = deliver_alert()

    assert resp.status_code == 500 and body_of(resp)["document"] == key
    assert platform.calls == 0 and stored(storage_env, key) == NOT_AN_OBJECT


def post_drift(window: dict[str, str]) -> func.HttpResponse:
    handler = drift.submit_drift_job_http.build().get_user_function()
    return handler(func.HttpRequest(method="POST", url="http://x/api/drift/jobs", body=json.dumps(window).encode()))


@pytest.mark.parametrize("document", ["claim", "last job"])
def test_the_drift_endpoint_answers_500_naming_the_document_and_submits_nothing(
    app_context: AppContext, storage_env: dict[str, str], platform: FakeJobPlatform, document: str
) -> None:
    app_context.overrides["model_registry"] = FakeModelRegistry()
    end = floor_hour(datetime.now(UTC)) - timedelta(hours=1)
    start = end - timedelta(hours=4)
    export_blob(app_context, end - timedelta(hours=2))
    key = drift_service.job_key(MODEL, "3", start, end) if document == "claim" else drift_service.last_key(MODEL, "3")
    plant(storage_env, key, TRUNCATED)

    resp = post_drift({"window_start": _iso(start), "window_end": _iso(end)})

    assert resp.status_code == 500
    assert body_of(resp)["document"] == key and "not valid JSON" in body_of(resp)["error"]
    assert platform.calls == 0
    assert stored(storage_env, key) == TRUNCATED


def test_the_reconcile_timer_fails_naming_the_rollout_document_and_leaves_it(
    app_context: AppContext, storage_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    plant(storage_env, rollout_key(MODEL), TRUNCATED)
    reconcile = rollout.reconcile_rollouts.build().get_user_function()

    with caplog.at_level(logging.ERROR), pytest.raises(CorruptDocumentError) as caught:
        reconcile(TimerRequest(past_due=False))

    assert caught.value.key == rollout_key(MODEL)
    assert any(f"rollout {rollout_key(MODEL)} skipped" in r.getMessage() for r in caplog.records)
    assert stored(storage_env, rollout_key(MODEL)) == TRUNCATED


def test_a_model_registered_event_is_not_acknowledged_over_an_unreadable_rollout(
    app_context: AppContext, storage_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    plant(storage_env, rollout_key(MODEL), NOT_AN_OBJECT)
    event = func.EventGridEvent(
        id="e-9",
        data={"modelName": MODEL, "modelVersion": 9},
        topic="t",
        subject=f"models/{MODEL}:9",
        event_type="Microsoft.MachineLearningServices.ModelRegistered",
        event_time=None,
        data_version="2",
    )

    with caplog.at_level(logging.ERROR), pytest.raises(CorruptDocumentError):  # Event Grid redelivers it
        rollout.deploy_registered_model.build().get_user_function()(event)

    assert any("event e-9 not recorded" in r.getMessage() for r in caplog.records)
    assert stored(storage_env, rollout_key(MODEL)) == NOT_AN_OBJECT


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
