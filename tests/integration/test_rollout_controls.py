"""The operator controls: GET/abort/approve/start through the real handlers, on Azurite, with fakes at the
endpoint platform, the metrics and the registry ports.

Given a rollout the reconciler has brought to a traffic step (or to a step that waits for approval), when an
operator calls the controls once, twice, or many times at once, then the same state machine acts exactly once
(one abort recorded, one rollback, one approval) and every other call is answered as a duplicate. Hostile
bodies and model names get a 4xx naming the field, never a 500.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

from shared.context import AppContext
from shared.ports import TransientError
from shared.services.rollout_controls import approve, request_abort
from shared.services.rollout_gates import GateLimits
from shared.services.rollout_state import rollout_key
from shared.triggers import rollout as rollout_trigger
from shared.triggers import rollout_controls
from tests.fakes.deployment_metrics import FakeDeploymentMetrics
from tests.fakes.endpoint_platform import FakeEndpointPlatform, FakeModelRegistry
from tests.fakes.rollout_harness import ENDPOINT, MODEL, Harness, make_policy
from tests.hostile import REPRESENTATIVES, paths, unexpected_errors, with_fragment

pytestmark = pytest.mark.usefixtures("no_pending_garbage")

BLUE = "blue"
GATE = GateLimits(min_requests=100, low_traffic_wait=timedelta(minutes=5))


@pytest.fixture
def world(app_context: AppContext, monkeypatch: pytest.MonkeyPatch) -> tuple[AppContext, Harness]:
    """v1 serves from `blue`; the app's context and a harness share the state store, the fakes and the clock
    (the tick a control runs is the app's own reconciler, on the harness's clock)."""
    platform = FakeEndpointPlatform()
    platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    metrics = FakeDeploymentMetrics(platform)
    registry = FakeModelRegistry()
    for version in ("1", "2", "3"):
        registry.add(MODEL, version)
    app_context.overrides.update(endpoint_platform=platform, deployment_metrics=metrics, model_registry=registry)
    policy = make_policy(gate=GATE, step_dwell=timedelta(minutes=1), approval_steps=("100",))
    h = Harness(app_context.state_store(), platform=platform, policy=policy, metrics=metrics)
    build = rollout_trigger.build_reconciler

    def on_the_harness_clock(context: AppContext) -> Any:
        reconciler = build(context)
        reconciler.clock = h.clock
        return reconciler

    monkeypatch.setattr(rollout_trigger, "build_reconciler", on_the_harness_clock)
    return app_context, h


def call(function: Any, method: str, route: str, body: bytes = b"", **route_params: str) -> func.HttpResponse:
    handler = function.build().get_user_function()
    request = func.HttpRequest(
        method=method, url=f"http://localhost/api/{route}", body=body, headers={}, route_params=route_params
    )
    return handler(request)


def abort(model: str = MODEL, body: bytes = b"") -> func.HttpResponse:
    return call(rollout_controls.abort_rollout, "POST", f"rollouts/{model}/abort", body, model=model)


def approve_call(model: str = MODEL, body: bytes = b"") -> func.HttpResponse:
    return call(rollout_controls.approve_rollout, "POST", f"rollouts/{model}/approve", body, model=model)


def start(body: dict[str, Any] | bytes) -> func.HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return call(rollout_controls.start_rollout, "POST", "rollouts", raw)


def get(model: str = MODEL) -> func.HttpResponse:
    return call(rollout_controls.get_rollout, "GET", f"rollouts/{model}", model=model)


def body_of(resp: func.HttpResponse) -> dict[str, Any]:
    return json.loads(resp.get_body())


def at_first_step(h: Harness) -> None:
    h.register("2")
    h.run(until=lambda d: d["phase"] == "traffic")


# --- GET -------------------------------------------------------------------------------------------------


def test_get_shows_state_history_and_the_last_gate_figures(world: tuple[AppContext, Harness]) -> None:
    _, h = world
    assert get().status_code == 404
    at_first_step(h)
    h.clock.advance(timedelta(minutes=1))
    h.tick()  # the 10 % step is judged and passes
    resp = get()
    assert resp.status_code == 200
    view = body_of(resp)
    assert view["state"] == "traffic" and view["version"] == "2" and view["step"] == 1
    assert view["gate"]["decision"] == "passed" and view["gate"]["candidate"]["requests"] == 1000
    assert [e["to"] for e in view["history"]][:3] == ["pending", "endpoint", "creating"]


# --- abort -----------------------------------------------------------------------------------------------


def test_abort_rolls_back_within_the_request_and_a_second_abort_is_a_duplicate(
    world: tuple[AppContext, Harness],
) -> None:
    _, h = world
    at_first_step(h)
    resp = abort(body=b'{"reason": "dashboards look wrong", "by": "alice"}')
    assert resp.status_code == 202, resp.get_body()
    answer = body_of(resp)
    assert answer["decision"] == "recorded"
    assert answer["rollout"]["state"] == "failed" and answer["rollout"]["outcome"] == "rolled_back"
    assert answer["rollout"]["failure_reason"] == "aborted by alice: dashboards look wrong"
    assert h.platform.traffic(ENDPOINT) == {BLUE: 100} and h.platform.names(ENDPOINT) == [BLUE]
    again = abort()
    assert again.status_code == 200 and body_of(again)["decision"] == "already"
    assert h.platform.invariant_violations == []


def test_concurrent_aborts_record_one_and_roll_back_once(world: tuple[AppContext, Harness]) -> None:
    context, h = world
    at_first_step(h)
    store = context.state_store()
    barrier = threading.Barrier(8)
    decisions: list[str] = []

    def one(i: int) -> None:
        barrier.wait()
        decisions.append(request_abort(store, MODEL, by=f"op{i}").decision.value)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(decisions) == {"recorded": 1, "already": 7}
    h.run()
    doc = h.doc()
    assert doc["outcome"] == "rolled_back"
    assert sum(1 for e in doc["history"] if e["to"] == "rolling_back" != e["from"]) == 1
    assert h.platform.count("begin_delete_deployment") == 1


def test_abort_of_a_finished_or_retiring_rollout_is_refused_with_409(world: tuple[AppContext, Harness]) -> None:
    _, h = world
    assert abort().status_code == 404
    h.policy = make_policy(gate=GATE, step_dwell=timedelta(minutes=1))  # no approvals: straight through
    h.platform.inject("begin_delete_deployment", TransientError("HTTP 503"), times=3)  # retiring takes a while
    h.register("2")
    h.run(until=lambda d: d["phase"] == "retiring")
    resp = abort()
    assert resp.status_code == 409 and body_of(resp)["decision"] == "too_late"
    h.run()
    finished = abort()
    assert finished.status_code == 409 and body_of(finished)["decision"] == "finished"
    assert h.doc()["outcome"] == "succeeded"


# --- approve ---------------------------------------------------------------------------------------------


def test_a_step_that_needs_approval_waits_and_goes_on_once_approved(world: tuple[AppContext, Harness]) -> None:
    _, h = world
    h.register("2")
    h.run(until=lambda d: d["awaiting_approval"] == "100")
    for _ in range(5):
        h.clock.advance(timedelta(minutes=1))
        h.tick()
    assert h.doc()["step"] == 1 and h.doc()["awaiting_approval"] == "100"  # held at 50 %
    resp = approve_call(body=b'{"by": "bob"}')
    assert resp.status_code == 202, resp.get_body()
    assert body_of(resp)["rollout"]["step"] == 2  # the tick run by the request entered 100 %
    again = approve_call()
    assert again.status_code == 200 and body_of(again)["decision"] == "already"
    h.run()
    assert h.doc()["outcome"] == "succeeded"
    assert h.doc()["approvals"][0]["by"] == "bob"


def test_concurrent_approvals_record_one(world: tuple[AppContext, Harness]) -> None:
    context, h = world
    h.register("2")
    h.run(until=lambda d: d["awaiting_approval"] == "100")
    store = context.state_store()
    barrier = threading.Barrier(6)
    decisions: list[str] = []

    def one(i: int) -> None:
        barrier.wait()
        decisions.append(approve(store, MODEL, by=f"op{i}").decision.value)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(decisions) == {"recorded": 1, "already": 5}
    assert len(h.doc()["approvals"]) == 1


def test_approve_when_nothing_waits_or_for_a_step_without_approval_is_409(world: tuple[AppContext, Harness]) -> None:
    _, h = world
    at_first_step(h)
    assert approve_call().status_code == 409
    wrong = approve_call(body=b'{"step": "50"}')
    assert wrong.status_code == 409 and "needs no approval" in body_of(wrong)["detail"]
    early = approve_call(body=b'{"step": "100"}')  # approving a named step ahead of time is allowed
    assert early.status_code == 202
    h.run()
    assert h.doc()["outcome"] == "succeeded"


def test_a_step_held_for_too_little_traffic_goes_on_when_approved(world: tuple[AppContext, Harness]) -> None:
    _, h = world
    from tests.unit.test_rollout_gates import TRICKLE

    h.metrics.set("2", TRICKLE)  # type: ignore[union-attr]
    h.register("2")
    h.run(until=lambda d: d["awaiting_approval"] == "low-traffic:10")
    resp = approve_call()
    assert resp.status_code == 202, resp.get_body()
    assert body_of(resp)["rollout"]["step"] == 1
    assert body_of(resp)["rollout"]["gate"]["low_traffic"] == "approved by an operator"


# --- start -----------------------------------------------------------------------------------------------


def test_start_records_a_rollout_like_the_event_and_a_repeat_is_a_duplicate(world: tuple[AppContext, Harness]) -> None:
    _, h = world
    resp = start({"model": MODEL, "version": 2})
    assert resp.status_code == 202, resp.get_body()
    assert body_of(resp)["decision"] == "started"
    again = start({"model": MODEL, "version": "2"})
    assert again.status_code == 200 and body_of(again)["decision"] == "duplicate"
    h.run(until=lambda d: d["phase"] == "traffic")
    assert h.doc()["requested_by"] == "operator"


def test_start_can_roll_back_to_an_older_version_which_an_event_cannot(world: tuple[AppContext, Harness]) -> None:
    _, h = world
    h.policy = make_policy(gate=GATE, step_dwell=timedelta(minutes=1))
    h.register("3")
    h.run()
    assert h.doc()["outcome"] == "succeeded"
    assert h.register("2").decision.value == "ignored_older"
    resp = start({"model": MODEL, "version": 2, "request_id": "back-to-2"})
    assert resp.status_code == 202, resp.get_body()
    h.run()
    doc = h.doc()
    assert doc["outcome"] == "succeeded" and doc["version"] == "2"
    assert h.platform.traffic(ENDPOINT) == {doc["deployment"]: 100}
    assert start({"model": MODEL, "version": 2, "request_id": "back-to-2"}).status_code == 200


def test_start_of_an_unknown_version_or_another_model_is_refused(world: tuple[AppContext, Harness]) -> None:
    missing = start({"model": MODEL, "version": 9})
    assert missing.status_code == 404
    other = start({"model": "another-model", "version": 1})
    assert other.status_code == 422 and body_of(other)["field"] == "model"
    context, _ = world
    assert context.state_store().get(rollout_key(MODEL)) is None


# --- hostile input ---------------------------------------------------------------------------------------


BODIES = {
    "start": ({"model": MODEL, "version": 2, "request_id": "r-1"}, start, {200, 202, 400, 404, 413, 422}),
    "abort": ({"reason": "why", "by": "alice"}, abort, {200, 202, 400, 404, 409, 413}),
    "approve": ({"step": "100", "by": "alice"}, approve_call, {200, 202, 400, 404, 409, 413}),
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_every_class_at_every_position_of_a_control_body_is_a_2xx_or_4xx(
    world: tuple[AppContext, Harness], name: str
) -> None:
    _, h = world
    at_first_step(h)
    document, function, allowed = BODIES[name]
    for path in [(), *paths(document)]:
        for fragment in REPRESENTATIVES:
            raw = with_fragment(document, path, fragment).encode()
            with unexpected_errors() as errors:
                resp = function(raw) if name == "start" else function(MODEL, raw)
            assert resp.status_code in allowed, (path, fragment[:40], resp.get_body()[:300])
            assert errors == [], (path, fragment[:40])
            if resp.status_code == 400:
                assert body_of(resp)["field"], (path, fragment[:40])


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe", b"{", b"[1]", b'{"unknown": 1}', b"x" * 20_000, b'{"by": "' + b"a" * 600 + b'"}'],
    ids=["not utf-8", "cut short", "a list", "unknown field", "too large", "too long"],
)
def test_malformed_control_bodies_are_400_naming_the_field(world: tuple[AppContext, Harness], raw: bytes) -> None:
    for resp in (abort(body=raw), approve_call(body=raw), start(raw)):
        assert resp.status_code == 400, resp.get_body()
        assert body_of(resp)["field"]


@pytest.mark.parametrize("model", ["bad name", "\udcff", "-x", "a" * 300, "", "a/b"])
def test_hostile_model_names_in_the_route_are_400(world: tuple[AppContext, Harness], model: str) -> None:
    with unexpected_errors() as errors:
        for resp in (get(model), abort(model), approve_call(model)):
            assert resp.status_code == 400, (model, resp.get_body())
            assert body_of(resp)["field"] == "model"
    assert errors == []
