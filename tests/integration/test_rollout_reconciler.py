"""The reconciler on the real Blob state store (Azurite): crashes between steps, concurrency, the timer.

A crash is simulated by the fake platform raising a BaseException right *after* a call took effect and
before the reconciler wrote its state: the next tick must find the platform's actual state and carry on
without a second deployment, a lost traffic step, a deletion with traffic or a second failure alert.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

import azure.functions as func
import pytest

from shared.context import AppContext, use_context
from shared.services.rollout_cleanup import FAILURE_PREFIX
from shared.services.rollout_state import rollout_key
from shared.settings import Settings
from shared.triggers import rollout as rollout_trigger
from shared.triggers import status
from tests.fakes.endpoint_platform import Behaviour, FakeEndpointPlatform
from tests.fakes.rollout_harness import ENDPOINT, MODEL, SAMPLE_REQUEST, Harness

BLUE = "blue"

CRASH_POINTS = [
    ("begin_create_deployment", 1),
    ("get_deployment", 2),
    ("invoke", 1),
    ("set_traffic", 1),
    ("set_traffic", 2),
    ("set_traffic", 3),
    ("begin_delete_deployment", 1),
]


@pytest.mark.parametrize(("method", "nth"), CRASH_POINTS, ids=[f"{m}#{n}" for m, n in CRASH_POINTS])
def test_a_crash_after_a_platform_call_is_resumed_by_the_next_tick(
    app_context: AppContext, method: str, nth: int
) -> None:
    h = Harness(app_context.state_store())
    h.platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    h.platform.crash_after(method, nth)
    h.register("2")

    h.run()

    doc = h.doc()
    new = doc["deployment"]
    assert h.crashes == 1
    assert doc["phase"] == "succeeded"
    assert h.platform.traffic(ENDPOINT) == {new: 100}
    assert h.platform.names(ENDPOINT) == [new]
    created = {args[0].name for m, args in h.platform.calls if m == "begin_create_deployment"}
    assert created == {new}  # one deployment, however often the step ran
    lives = [live for _, live, _ in h.platform.traffic_history]
    assert {BLUE: 90, new: 10} in lives and {BLUE: 50, new: 50} in lives  # no step skipped
    shares = [live.get(new, 0) for live in lives]
    assert shares == sorted(shares)  # the new deployment's share never went back down
    assert h.platform.invariant_violations == []


def test_a_crash_on_the_first_model_after_creating_the_endpoint(app_context: AppContext) -> None:
    h = Harness(app_context.state_store(), platform=FakeEndpointPlatform(endpoint_polls=2))
    h.platform.crash_after("begin_create_endpoint")
    h.register("1")
    h.run()
    assert h.crashes == 1
    assert h.phase() == "succeeded"
    assert h.platform.count("begin_create_endpoint") == 1  # the next tick saw it Creating, did not ask again
    assert h.platform.traffic(ENDPOINT) == {h.doc()["deployment"]: 100}


@pytest.mark.parametrize("method", ["set_traffic", "begin_delete_deployment"])
def test_a_crash_during_rollback_is_resumed_and_alerts_once(
    app_context: AppContext, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    h = Harness(app_context.state_store())
    h.platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    h.platform.behave("2", Behaviour(good_answers=2))  # fails at the end of the 50 % step
    h.register("2")
    h.run(until=lambda d: d["phase"] == "traffic" and d["step"] == 1)
    h.platform.crash_after(method)  # the restore (or the deletion) takes effect, then the process dies

    with caplog.at_level(logging.INFO):
        h.run()

    assert h.crashes == 1
    assert h.phase() == "failed"
    assert h.platform.traffic(ENDPOINT) == {BLUE: 100}
    assert h.platform.names(ENDPOINT) == [BLUE]
    alerts = [r for r in caplog.records if r.getMessage().startswith(FAILURE_PREFIX)]
    assert len(alerts) == 1 and alerts[0].levelno == logging.ERROR
    assert h.platform.invariant_violations == []


def test_two_reconcilers_at_once_only_one_acts(app_context: AppContext) -> None:
    entered, release = threading.Event(), threading.Event()

    class SlowPlatform(FakeEndpointPlatform):
        def get_endpoint(self, name: str):
            entered.set()
            release.wait(10)
            return super().get_endpoint(name)

    h = Harness(app_context.state_store(), platform=SlowPlatform())
    h.platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    h.register("2")
    first: list[object] = []
    worker = threading.Thread(target=lambda: first.append(h.reconciler().run()))
    worker.start()
    assert entered.wait(10)
    calls_before = len(h.platform.calls)

    second = h.reconciler().run()  # while the first one holds the lock

    assert second.acted is False
    assert len(h.platform.calls) == calls_before
    release.set()
    worker.join(10)
    assert first and first[0].acted is True  # type: ignore[attr-defined]
    assert h.phase() != "pending"


def test_a_handler_write_during_a_tick_wins_and_the_next_tick_cleans_up(app_context: AppContext) -> None:
    """The event handler supersedes the rollout while a tick runs: the tick's write loses (ETag) and stops."""
    store = app_context.state_store()
    h = Harness(store)
    h.platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    h.register("2")
    h.run(until=lambda d: d["phase"] == "traffic")
    v2 = h.doc()["deployment"]

    original = h.platform.set_traffic

    def set_traffic_then_event(*args, **kwargs):
        original(*args, **kwargs)
        h.platform.set_traffic = original  # once
        h.register("3")  # the handler records version 3 while this tick is between call and write

    h.platform.set_traffic = set_traffic_then_event  # type: ignore[method-assign]
    h.clock.advance(timedelta(minutes=5))
    h.tick()
    assert h.doc()["version"] == "3"
    assert h.platform.traffic(ENDPOINT) == {BLUE: 50, v2: 50}  # the lost tick's step is on the platform

    h.run()
    doc = h.doc()
    assert doc["phase"] == "succeeded" and doc["version"] == "3"
    assert h.platform.names(ENDPOINT) == [doc["deployment"]]
    assert h.platform.invariant_violations == []


# --- the timer function --------------------------------------------------------------------------


def _timer() -> func.TimerRequest:
    from azure.functions.timer import TimerRequest

    return TimerRequest(past_due=False)


def _status() -> dict:
    handler = status.status.build().get_user_function()
    resp = handler(func.HttpRequest(method="GET", url="http://localhost/api/status", body=b""))
    return json.loads(resp.get_body())


def test_timer_function_rolls_out_and_status_shows_it(
    storage_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = tmp_path / "sample-request.json"
    sample.write_bytes(SAMPLE_REQUEST)
    monkeypatch.setattr(rollout_trigger, "SAMPLE_REQUEST", sample)
    platform = FakeEndpointPlatform()
    platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    settings = Settings({**storage_env, "ROLLOUT_STEP_DWELL": "PT0S", "ROLLOUT_GATES": "false", "ROLLOUT_BAKE": "PT0S"})
    context = AppContext(settings=settings, overrides={"endpoint_platform": platform})
    use_context(context)
    event = func.EventGridEvent(
        id="e-7",
        data={"modelName": MODEL, "modelVersion": 7},
        topic="t",
        subject=f"models/{MODEL}:7",
        event_type="Microsoft.MachineLearningServices.ModelRegistered",
        event_time=None,
        data_version="2",
    )
    rollout_trigger.deploy_registered_model.build().get_user_function()(event)
    reconcile = rollout_trigger.reconcile_rollouts.build().get_user_function()

    reconcile(_timer())  # with no dwell, the quick steps follow each other in one tick
    reconcile(_timer())

    body = _status()["rollouts"][MODEL]
    assert body["state"] == "succeeded"
    assert body["version"] == "7"
    assert platform.traffic(ENDPOINT) == {body["deployment"]: 100}
    assert [h["to"] for h in body["history"]][-1] == "succeeded"
    assert context.state_store().get(rollout_key(MODEL)) is not None


def test_timer_function_in_local_mode_is_idle_without_rollouts_and_uses_the_local_platform_with_one(
    storage_env: dict[str, str], tmp_path: Path
) -> None:
    from shared.local.endpoint_platform import LocalEndpointPlatform

    env = {**storage_env, "MLOPS_MODE": "local", "LOCAL_STATE_DIR": str(tmp_path), "ROLLOUT_STEP_DWELL": "PT0S"}
    context = AppContext(settings=Settings(env))
    use_context(context)
    reconcile = rollout_trigger.reconcile_rollouts.build().get_user_function()
    reconcile(_timer())  # nothing recorded: no platform needed, no error
    assert "endpoint_platform" not in context._built

    Harness(context.state_store()).register("3")  # a version the local registry does not have
    try:
        for _ in range(5):
            reconcile(_timer())
        platform = context.endpoint_platform()
        assert isinstance(platform, LocalEndpointPlatform)
        body = _status()["rollouts"][MODEL]
        assert body["state"] == "failed"  # provisioning Failed (model not registered), rolled back
        assert "version 3 is not registered" in json.dumps(body["history"])
        assert platform.get_endpoint(ENDPOINT) is not None
        deadline = time.monotonic() + 10  # the failed deployment is deleted in the background
        while platform.list_deployments(ENDPOINT) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert platform.list_deployments(ENDPOINT) == []
    finally:
        context.endpoint_platform().close()  # type: ignore[attr-defined]


def test_the_repos_sample_request_passes_the_smoke_check_shape() -> None:
    """The sample request the smoke test sends is the one ml_assets ships, and it holds records."""
    from shared.services.rollout_state import check_scoring_response, expected_predictions

    body = rollout_trigger.SAMPLE_REQUEST.read_bytes()
    count = expected_predictions(body)
    assert count is not None and count >= 1
    good = json.dumps({"predictions": [0.5] * count}).encode()
    assert check_scoring_response(body, good) is None
