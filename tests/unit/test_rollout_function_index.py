"""The rollout functions as the host indexes them: an Event Grid trigger and a timer on a setting."""

from __future__ import annotations

from typing import Any

# One index per process: azure-functions refuses to build the function list twice.
from tests.unit.test_function_index import _functions


def _trigger(name: str) -> dict[str, Any]:
    assert name in _functions(), f"function {name} is not registered"
    return _functions()[name]["trigger"]


def test_deploy_registered_model_is_an_event_grid_trigger() -> None:
    trigger = _trigger("deploy_registered_model")
    assert trigger["type"] == "eventGridTrigger"
    assert str(trigger["direction"]).lower() == "in"


def test_reconcile_rollouts_runs_on_the_schedule_setting() -> None:
    trigger = _trigger("reconcile_rollouts")
    assert trigger["type"] == "timerTrigger"
    assert trigger["schedule"] == "%ROLLOUT_RECONCILE_SCHEDULE%"
    assert trigger.get("runOnStartup") is False
