"""The function index the host sees: triggers, routes, methods, auth levels, schedule settings."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from typing import Any

import pytest

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


HEAVY = ("azure.ai.ml", "pandas", "pyarrow", "sklearn", "evidently", "mlflow", "azure.monitor.query")


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
