"""The function index the host sees: every function's trigger, route, methods, auth level, schedule setting and
retry policy, and what importing the app costs and reads. One file: the app's function list can be built once per
process."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from typing import Any

import pytest

from shared.triggers import drift, retraining
from tests.conftest import PROJECT_ROOT


@functools.cache
def _functions() -> dict[str, dict[str, Any]]:
    """Each function's trigger binding as the host indexes it (``get_function_json``)."""
    import function_app

    out: dict[str, dict[str, Any]] = {}
    for fn in function_app.app.get_functions():
        bindings = json.loads(fn.get_function_json())["bindings"]
        trigger = next(b for b in bindings if b["type"].endswith("Trigger"))
        out[fn.get_function_name()] = {"trigger": trigger, "bindings": bindings}
    return out


def test_status_is_an_http_get_with_function_auth() -> None:
    trigger = _functions()["status"]["trigger"]
    assert trigger["type"] == "httpTrigger"
    assert trigger["route"] == "status"
    assert trigger["methods"] == ["GET"]
    assert trigger["authLevel"] == "FUNCTION"


def test_timer_schedules_come_from_settings_not_literals() -> None:
    for name, fn in _functions().items():
        trigger = fn["trigger"]
        if trigger["type"] == "timerTrigger":
            schedule = trigger["schedule"]
            assert schedule.startswith("%") and schedule.endswith("%"), f"{name}: hard-coded schedule {schedule!r}"


def test_http_functions_require_a_function_key() -> None:
    for name, fn in _functions().items():
        trigger = fn["trigger"]
        if trigger["type"] == "httpTrigger":
            assert trigger["authLevel"] == "FUNCTION", name


HEAVY = (
    "azure.ai.ml",
    "pandas",
    "pyarrow",
    "sklearn",
    "evidently",
    "mlflow",
    "azure.monitor.query",
    "azure.monitor.querymetrics",
)


def test_importing_function_app_loads_no_heavy_sdk() -> None:
    code = f"import sys, json, function_app;print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_importing_function_app_reads_no_setting() -> None:
    """A broken setting must not stop the host from indexing functions."""
    env = {"PATH": "", "MLOPS_MODE": "nonsense", "EXPORT_WINDOW": "soon", "AZURE_SUBSCRIPTION_ID": "x"}
    result = subprocess.run(
        [sys.executable, "-c", "import function_app; print(len(function_app.app.get_functions()))"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 1


@pytest.mark.parametrize("name", ["status"])
def test_function_names_are_unique_and_present(name: str) -> None:
    assert name in _functions()


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


def test_the_drift_functions_are_a_retried_timer_and_an_http_post() -> None:
    timer = json.loads(drift.submit_drift_job.build().get_function_json())["bindings"][0]
    assert (timer["type"], timer["schedule"]) == ("timerTrigger", "%DRIFT_SCHEDULE%")
    retry = drift.submit_drift_job.build().get_setting("retry_policy").get_dict_repr()
    assert (retry["strategy"], retry["max_retry_count"]) == ("exponential_backoff", "3")  # transient failures
    http = json.loads(drift.submit_drift_job_http.build().get_function_json())["bindings"][0]
    assert (http["type"], http["route"], http["methods"], http["authLevel"]) == (
        "httpTrigger",
        "drift/jobs",
        ["POST"],
        "FUNCTION",
    )


def test_retrain_on_alert_is_an_http_post_on_alerts_retrain_with_function_auth() -> None:
    fn = retraining.retrain_on_alert.build()
    trigger = next(b for b in json.loads(fn.get_function_json())["bindings"] if b["type"] == "httpTrigger")

    assert fn.get_function_name() == "retrain_on_alert"
    assert trigger["route"] == "alerts/retrain"
    assert trigger["methods"] == ["POST"]
    assert trigger["authLevel"] == "FUNCTION"


def test_the_function_app_registers_retrain_on_alert() -> None:
    # In a fresh interpreter: the app's get_functions() may be called only once per process.
    code = "import function_app; print(*(f.get_function_name() for f in function_app.app.get_functions()))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=120
    )

    assert "retrain_on_alert" in result.stdout.split()
