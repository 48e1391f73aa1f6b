"""Local Event Grid: the registry hook queues a ModelRegistered event that the real `deploy_registered_model`
handler accepts; delivery is at least once, retried after a failure and dead-lettered after the last attempt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from demo.event_delivery import EventDelivery, to_function_event
from ml_assets.src.stores.local_registry import LocalModelRegistry
from shared.context import AppContext, use_context
from shared.local.events import HOOK, model_registered_event, publish
from shared.payloads.events import parse_model_registered
from shared.services.rollout_state import rollout_key
from shared.settings import Settings
from shared.triggers import rollout
from tests.conftest import PROJECT_ROOT
from tests.fakes.memory_state_store import MemoryStateStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _model_folder(root: Path) -> Path:
    folder = root / "m"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    return folder


def test_the_event_has_the_workspace_topic_shape_and_parses_like_a_real_one() -> None:
    event = model_registered_event("credit-default", 3, tags={"metric_auc": "0.78"})
    assert event["eventType"] == "Microsoft.MachineLearningServices.ModelRegistered"
    assert event["subject"] == "models/credit-default:3"
    assert set(event["data"]) == {"modelName", "modelVersion", "modelTags", "modelProperties"}
    fn_event = to_function_event(event)
    parsed = parse_model_registered(
        event_id=fn_event.id,
        event_type=fn_event.event_type,
        subject=fn_event.subject,
        data=fn_event.get_json(),
        event_time=fn_event.event_time,
    )
    assert (parsed.model_name, parsed.version, parsed.tags["metric_auc"]) == ("credit-default", "3", "0.78")


def test_a_registration_in_a_subprocess_queues_the_event_through_the_hook(tmp_path: Path) -> None:
    # Given the register step's situation: another process, the hook named in its environment
    code = (
        "import sys; from ml_assets.src.stores.local_registry import LocalModelRegistry as R; "
        "R(sys.argv[1]).register('credit-default', sys.argv[2], tags={'a': 'b'})"
    )
    env = {"LOCAL_STATE_DIR": str(tmp_path), "MLOPS_LOCAL_REGISTRY_HOOK": HOOK, "PYTHONPATH": str(PROJECT_ROOT)}
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "registry"), str(_model_folder(tmp_path))],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    # Then one event waits in the outbox, for version 1 with its tags
    delivery = EventDelivery(tmp_path, handler=lambda e: None)
    [queued] = delivery.folder("outbox")
    assert queued["event"]["subject"] == "models/credit-default:1"
    assert queued["event"]["data"]["modelTags"] == {"a": "b"}


def test_delivery_calls_the_real_handler_which_records_a_rollout(tmp_path: Path) -> None:
    store = MemoryStateStore()
    use_context(AppContext(settings=Settings({}), overrides={"state_store": store}))
    publish(tmp_path, model_registered_event("credit-default", 1))
    handler = rollout.deploy_registered_model.build().get_user_function()

    results = EventDelivery(tmp_path, handler).deliver_pending()

    assert [r.outcome for r in results] == ["delivered"]
    doc = store.get(rollout_key("credit-default"))
    assert doc is not None and doc.data["version"] == "1"
    assert EventDelivery(tmp_path, handler).pending() == []
    assert len(EventDelivery(tmp_path, handler).folder("delivered")) == 1


def test_a_failing_handler_is_retried_after_the_back_off_then_succeeds(tmp_path: Path) -> None:
    calls: list[Any] = []

    def flaky(event: Any) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("state store unavailable")

    clock = Clock()
    publish(tmp_path, model_registered_event("credit-default", 2, event_id="e-1"))
    delivery = EventDelivery(tmp_path, flaky, backoff_seconds=10, clock=clock)
    assert [r.outcome for r in delivery.deliver_pending()] == ["retry"]
    assert delivery.deliver_pending() == []  # not due yet
    clock.now += 10
    [result] = delivery.deliver_pending()
    assert (result.outcome, result.attempts) == ("delivered", 2)
    assert calls == ["e-1", "e-1"]


def test_after_the_last_attempt_the_event_is_dead_lettered_with_its_errors(tmp_path: Path) -> None:
    def broken(event: Any) -> None:
        raise ValueError("bad configuration")

    clock = Clock()
    publish(tmp_path, model_registered_event("credit-default", 2))
    delivery = EventDelivery(tmp_path, broken, max_attempts=2, backoff_seconds=1, clock=clock)
    delivery.deliver_pending()
    clock.now += 5
    [result] = delivery.deliver_pending()
    assert result.outcome == "dead-lettered"
    [dead] = delivery.folder("dead-letter")
    assert dead["errors"] == ["ValueError: bad configuration"] * 2
    assert delivery.pending() == []


def test_an_unreadable_event_file_is_dead_lettered_not_retried_forever(tmp_path: Path) -> None:
    outbox = tmp_path / "events" / "outbox"
    outbox.mkdir(parents=True)
    (outbox / "broken.json").write_text("{not json")
    delivery = EventDelivery(tmp_path, handler=lambda e: None)
    [result] = delivery.deliver_pending()
    assert result.outcome == "dead-lettered"
    assert delivery.pending() == []


def test_events_are_delivered_in_publication_order(tmp_path: Path) -> None:
    seen: list[str] = []
    for version in (1, 2, 3):
        publish(tmp_path, model_registered_event("credit-default", version))
    EventDelivery(
        tmp_path, handler=lambda e: seen.append(json.loads(json.dumps(e.get_json()))["modelVersion"])
    ).deliver_pending()
    assert seen == ["1", "2", "3"]


@pytest.mark.parametrize("attempts", [0, -1])
def test_max_attempts_must_be_positive(tmp_path: Path, attempts: int) -> None:
    with pytest.raises(ValueError):
        EventDelivery(tmp_path, handler=lambda e: None, max_attempts=attempts)


def test_the_local_registry_hook_runs_in_process_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("MLOPS_LOCAL_REGISTRY_HOOK", HOOK)
    LocalModelRegistry(tmp_path / "registry").register("credit-default", _model_folder(tmp_path))
    assert len(EventDelivery(tmp_path, handler=lambda e: None).pending()) == 1
