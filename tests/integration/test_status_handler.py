"""`status` called directly through its blueprint against Azurite."""

from __future__ import annotations

import json
import time

import azure.functions as func

from shared.context import AppContext
from shared.services import state_keys
from shared.services.retraining_decisions import BODY_EXCERPT_CHARS
from shared.triggers import retraining, status
from tests.unit.test_alert_payload import metric_alert


def _call() -> func.HttpResponse:
    handler = status.status.build().get_user_function()
    req = func.HttpRequest(method="GET", url="http://localhost/api/status", body=b"", headers={})
    return handler(req)


def test_status_with_nothing_recorded_has_empty_sections(app_context: AppContext) -> None:
    resp = _call()
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert json.loads(resp.get_body()) == {
        "export": {"watermark": {}, "last_run": {}},
        "rollouts": {},
        "retraining": {"last": {}},
        "drift": {"last": {}},
        "champions": {},
        "promotions": {},
    }


def test_status_shows_recorded_state(app_context: AppContext) -> None:
    store = app_context.state_store()
    store.put(state_keys.EXPORT_WATERMARK, {"watermark": "2026-11-24T10:00:00+00:00"})
    store.put(state_keys.ROLLOUT_PREFIX + "credit-default.json", {"state": "traffic", "version": "3"})
    store.put(state_keys.RETRAINING_LAST, {"job_name": "job-1", "alert_id": "a1"})
    body = json.loads(_call().get_body())
    assert body["export"]["watermark"] == {"watermark": "2026-11-24T10:00:00+00:00"}
    assert body["rollouts"] == {"credit-default": {"state": "traffic", "version": "3"}}
    assert body["retraining"]["last"]["job_name"] == "job-1"


def test_status_names_a_missing_storage_setting() -> None:
    from shared.context import use_context
    from shared.settings import Settings

    use_context(AppContext(settings=Settings({})))
    resp = _call()
    assert resp.status_code == 500
    body = json.loads(resp.get_body())
    assert body["setting"] == "STORAGE_ACCOUNT_URL"


def test_status_answers_503_when_storage_is_unreachable() -> None:
    # A loopback port nobody listens on: the SDK's connection error is transient.
    import socket

    from shared.context import use_context
    from shared.settings import Settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=YQ==;BlobEndpoint=http://127.0.0.1:{port}/a;"
    use_context(AppContext(settings=Settings({"STORAGE_CONNECTION_STRING": conn})))
    started = time.monotonic()
    resp = _call()
    assert resp.status_code == 503
    assert time.monotonic() - started < 15  # a few quick retries, not the SDK's minutes of back-off


def test_status_shows_a_rejected_body_as_an_excerpt_and_where_the_whole_record_is(app_context: AppContext) -> None:
    alert = metric_alert()
    alert["data"]["essentials"]["description"] = "d" * 200_000
    alert["data"]["essentials"]["severity"] = "Sev9"  # rejected: the body is recorded for a replay
    raw = json.dumps(alert).encode()

    handler = retraining.retrain_on_alert.build().get_user_function()
    resp = handler(func.HttpRequest(method="POST", url="http://localhost/api/alerts/retrain", body=raw, headers={}))

    assert resp.status_code == 400
    last = json.loads(_call().get_body())["retraining"]["last"]["last_decision"]
    assert last["decision"] == "rejected" and last["field"] == "data.essentials.severity"
    assert last["body_excerpt"] == raw.decode()[:BODY_EXCERPT_CHARS]
    assert last["body_truncated"] is True and last["body_bytes"] == len(raw)
    assert "body" not in last
    full = app_context.state_store().get(last["record"])
    assert full is not None and full.data["body"] == raw.decode()
    assert last["record"].startswith(state_keys.RETRAINING_DECISIONS_PREFIX)


def test_status_bounds_a_rejected_body_stored_before_the_excerpt_existed(app_context: AppContext) -> None:
    store = app_context.state_store()
    store.put(state_keys.RETRAINING_LAST, {"last_decision": {"decision": "rejected", "body": "x" * 300_000}})
    last = json.loads(_call().get_body())["retraining"]["last"]["last_decision"]
    assert last["body_excerpt"] == "x" * BODY_EXCERPT_CHARS and last["body_truncated"] is True
    assert "body" not in last
