"""Hostile bodies for every HTTP function: a 2xx or a 4xx naming the field, never a 500, never the safety net.

`retrain_on_alert`, `submit_drift_job_http`, `submit_performance_job_http` and `status` are called through their
blueprints with real ``func.HttpRequest`` objects, on Azurite (whose blob names must be valid UTF-8, like Blob
Storage's), with fakes at the ML platform and registry ports. Each body is a documented or valid body with hostile JSON
fragments (:mod:`tests.hostile`) at some of its positions, or instead of the whole body. The sweeps put one of
each class at every position of the body, on the in-memory state store (fast enough for every combination);
the properties combine them at random, on Azurite.
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.context import AppContext
from shared.payloads.alerts import parse_common_alert
from shared.services.retraining_decisions import BODY_EXCERPT_CHARS
from shared.triggers import drift, performance, retraining, status
from tests.fakes.data_asset_versions import FakeDataAssetVersions
from tests.fakes.memory_state_store import MemoryStateStore
from tests.hostile import (
    REPRESENTATIVES,
    deep_json,
    edge_datetime_texts,
    huge_numbers,
    json_fragments,
    lone_surrogate_texts,
    paths,
    unexpected_errors,
    with_fragment,
    with_fragments,
)
from tests.integration.test_drift_jobs import FakeModelRegistry
from tests.integration.test_retrain_on_alert import FakeJobPlatform
from tests.unit.test_alert_payload import log_search_alert, metric_alert

pytestmark = pytest.mark.usefixtures("no_pending_garbage")

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

ALERTS = [metric_alert(), log_search_alert(), metric_alert(condition="Resolved")]
DRIFT_BODY = {"window_start": "2025-01-01T00:00:00Z", "window_end": "2025-01-02T00:00:00Z", "model_version": "3"}


@pytest.fixture
def ports(app_context: AppContext) -> AppContext:
    # Valid drift bodies find no exported data, so no drift job is submitted: one recording platform serves both.
    app_context.overrides.update(
        job_platform=FakeJobPlatform(), model_registry=FakeModelRegistry(), data_asset_versions=FakeDataAssetVersions()
    )
    app_context.state_store()
    return app_context


@pytest.fixture
def memory_ports(ports: AppContext) -> AppContext:
    ports.overrides["state_store"] = MemoryStateStore()
    return ports


def sweep(function: Any, route: str, document: Any, allowed: set[int]) -> None:
    """Every representative fragment at every position of ``document``, and instead of it."""
    for path in [(), *paths(document)]:
        for fragment in REPRESENTATIVES:
            with unexpected_errors() as errors:
                resp = post(function, route, with_fragment(document, path, fragment).encode())
            assert resp.status_code in allowed, (path, fragment[:40], resp.get_body()[:300])
            assert errors == [], (path, fragment[:40])
            if resp.status_code >= 400:
                assert json.loads(resp.get_body())["field"], (path, fragment[:40])


def post(function: Any, route: str, body: bytes) -> func.HttpResponse:
    handler = function.build().get_user_function()
    return handler(func.HttpRequest(method="POST", url=f"http://localhost/api/{route}", body=body, headers={}))


def get_status(params: dict[str, str] | None = None, body: bytes = b"") -> func.HttpResponse:
    handler = status.status.build().get_user_function()
    return handler(func.HttpRequest(method="GET", url="http://localhost/api/status", body=body, params=params))


def answer(resp: func.HttpResponse, allowed: set[int]) -> dict[str, Any]:
    assert resp.status_code in allowed, (resp.status_code, resp.get_body()[:300])
    body = json.loads(resp.get_body())
    if 400 <= resp.status_code < 500:
        assert isinstance(body.get("field"), str) and body["field"], body
    return body


def hostile_bodies(document: Any) -> st.SearchStrategy[bytes]:
    """``document`` with hostile fragments at one to four of its positions, or one instead of it."""
    changes = st.tuples(st.sampled_from([(), *paths(document)]), json_fragments)
    return st.lists(changes, min_size=1, max_size=4).map(lambda c: with_fragments(document, c).encode())


hostile_alert_bodies = st.sampled_from(ALERTS).flatmap(hostile_bodies)
hostile_drift_bodies = hostile_bodies(DRIFT_BODY)


# --- retrain_on_alert ------------------------------------------------------------------------------


_CRITERION = ("data", "alertContext", "condition", "allOf", 0)


@pytest.mark.parametrize(
    ("path", "fragment", "field"),
    [
        (("data", "essentials", "firedDateTime"), '"0001-01-01T00:00:00+05:00"', "data.essentials.firedDateTime"),
        (("data", "essentials", "firedDateTime"), '"9999-12-31T23:59:59-05:00"', "data.essentials.firedDateTime"),
        (("data", "essentials", "alertId"), '"\\ud800"', "data.essentials.alertId"),
        (("data", "essentials", "description"), '"ok \\udc00"', "data.essentials.description"),
        (("data", "customProperties"), '{"a": ' + "[" * 40 + "]" * 40 + "}", "data.customProperties.a[0]"),
    ],
    ids=["year 1 east of UTC", "year 9999 west of UTC", "lone surrogate id", "lone surrogate text", "nested 40 deep"],
)
def test_an_alert_the_parsers_used_to_let_through_is_a_400_naming_the_field(
    ports: AppContext, path: tuple[Any, ...], fragment: str, field: str
) -> None:
    body = with_fragment(metric_alert(), path, fragment).encode()
    with unexpected_errors() as errors:
        resp = post(retraining.retrain_on_alert, "alerts/retrain", body)
    assert resp.status_code == 400, resp.get_body()
    assert json.loads(resp.get_body())["field"].startswith(field)
    assert errors == []


def test_a_metric_value_beyond_any_float_is_kept_as_unknown(ports: AppContext) -> None:
    alert = metric_alert(alert_guid="big-metric-value")
    body = with_fragment(alert, (*_CRITERION, "metricValue"), "1" + "0" * 400)
    with unexpected_errors() as errors:
        resp = post(retraining.retrain_on_alert, "alerts/retrain", body.encode())
    assert resp.status_code == 202, resp.get_body()
    assert parse_common_alert(body.encode()).criteria[0].metric_value is None
    assert errors == []


@pytest.mark.parametrize("alert", ALERTS, ids=["metric", "log search", "resolved"])
def test_every_class_at_every_position_of_an_alert_is_answered_2xx_or_4xx(
    memory_ports: AppContext, alert: dict[str, Any]
) -> None:
    sweep(retraining.retrain_on_alert, "alerts/retrain", alert, {200, 202, 400})


@PROPERTY
@given(body=hostile_alert_bodies)
def test_any_hostile_alert_is_answered_2xx_or_4xx_without_the_safety_net(ports: AppContext, body: bytes) -> None:
    with unexpected_errors() as errors:
        resp = post(retraining.retrain_on_alert, "alerts/retrain", body)
    answer(resp, {200, 202, 400, 413})
    assert errors == []


# --- submit_drift_job_http -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"window_start": "0001-01-01T00:00:00+05:00"}', "window_start"),
        ('{"window_end": "9999-12-31T23:59:59-05:00"}', "window_end"),
        ('{"window_end": "0001-01-01T00:00:00Z"}', "window_end"),
        ('{"window_start": "0001-01-01T00:00:00Z", "window_end": "0002-01-01T00:00:00Z"}', "window_start"),
        ('{"model_version": ' + "[" * 5_000 + "]" * 5_000 + "}", "body"),
        ('{"model_version": "\\udfff"}', "model_version"),
        ('{"model_version": ' + "9" * 5_000 + "}", "body"),
    ],
    ids=[
        "year 1 east of UTC",
        "year 9999 west",
        "year 1 end",
        "year 1 window",
        "nested 5000 deep",
        "surrogate",
        "digits",
    ],
)
def test_a_drift_body_the_parsers_used_to_let_through_is_a_400_naming_the_field(
    ports: AppContext, body: str, field: str
) -> None:
    with unexpected_errors() as errors:
        resp = post(drift.submit_drift_job_http, "drift/jobs", body.encode())
    assert resp.status_code == 400, resp.get_body()
    assert json.loads(resp.get_body())["field"] == field
    assert errors == []


def test_every_class_at_every_position_of_a_drift_body_is_answered_2xx_or_4xx(memory_ports: AppContext) -> None:
    sweep(drift.submit_drift_job_http, "drift/jobs", DRIFT_BODY, {200, 202, 400, 404, 422})


@PROPERTY
@given(body=hostile_drift_bodies)
def test_any_hostile_drift_body_is_answered_2xx_or_4xx_without_the_safety_net(ports: AppContext, body: bytes) -> None:
    with unexpected_errors() as errors:
        resp = post(drift.submit_drift_job_http, "drift/jobs", body)
    answer(resp, {200, 202, 400, 404, 422})
    assert errors == []


# --- submit_performance_job_http -------------------------------------------------------------------


def test_every_class_at_every_position_of_a_performance_body_is_answered_2xx_or_4xx(memory_ports: AppContext) -> None:
    sweep(performance.submit_performance_job_http, "performance/jobs", DRIFT_BODY, {200, 202, 400, 404})


@PROPERTY
@given(body=hostile_drift_bodies)
def test_any_hostile_performance_body_is_answered_2xx_or_4xx_without_the_safety_net(
    ports: AppContext, body: bytes
) -> None:
    with unexpected_errors() as errors:
        resp = post(performance.submit_performance_job_http, "performance/jobs", body)
    answer(resp, {200, 202, 400, 404})
    assert errors == []


# --- status ----------------------------------------------------------------------------------------

_hostile_text = st.one_of(lone_surrogate_texts, edge_datetime_texts, deep_json, huge_numbers, st.text(max_size=50))


@PROPERTY
@given(
    rejected=hostile_alert_bodies,
    params=st.dictionaries(st.text(min_size=1, max_size=10), _hostile_text, max_size=3),
    body=_hostile_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
)
def test_status_answers_200_with_a_bounded_excerpt_after_any_hostile_alert(
    ports: AppContext, rejected: bytes, params: dict[str, str], body: bytes
) -> None:
    post(retraining.retrain_on_alert, "alerts/retrain", rejected)
    with unexpected_errors() as errors:
        resp = get_status(params, body)
    shown = answer(resp, {200})
    assert errors == []
    last = shown["retraining"]["last"].get("last_decision", {})
    assert "body" not in last and "body_base64" not in last
    for name in ("body_excerpt", "body_base64_excerpt"):
        assert len(last.get(name, "")) <= BODY_EXCERPT_CHARS
