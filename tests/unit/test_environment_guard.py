"""The guard that lets a test's processes import only what their Azure ML environment installs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from infra.ml_environments import ENVIRONMENTS
from tests.environment_imports import (
    GUARD_PATH,
    component_processes,
    denied_modules,
    distribution_closure,
    environment_guard,
    guarded,
    write_guard,
)

MARKER = "GUARDED_BY_THE_TEST"
PROGRAM = textwrap.dedent(
    f"""
    {MARKER} = True
    try:
        import yaml
    except ModuleNotFoundError as exc:
        print("refused:", exc)
    import packaging.version
    print("allowed: packaging")
    import subprocess, sys
    child = subprocess.run([sys.executable, "-c", "import yaml"], capture_output=True, text=True, check=False)
    print("child:", child.returncode, child.stderr.strip().splitlines()[-1] if child.stderr else "")
    """
)


def run_guarded(tmp_path: Path, guard: dict | None) -> str:
    env = {**os.environ, "PYTHONPATH": str(GUARD_PATH)}
    if guard is not None:
        path = tmp_path / "guard.json"
        path.write_text(json.dumps({**guard, "log": str(tmp_path / "guard.log")}))
        env["MLOPS_ENVIRONMENT_GUARD"] = str(path)
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_guarded_process_and_its_children_cannot_import_what_the_environment_lacks(tmp_path: Path) -> None:
    out = run_guarded(tmp_path, {"processes": {MARKER: "tiny"}, "denied": {"tiny": ["yaml", "azure.ai"]}})
    assert "refused: No module named 'yaml': Azure ML's tiny environment does not install it" in out
    assert "allowed: packaging" in out
    assert "child: 1 ModuleNotFoundError: No module named 'yaml': Azure ML's tiny environment" in out
    logged = guarded(tmp_path / "guard.log")
    assert [(p["environment"], p["module"]) for p in logged] == [("tiny", MARKER), ("tiny", "(its parent's)")]


def test_a_process_of_no_environment_and_one_without_the_guard_import_anything(tmp_path: Path) -> None:
    other = run_guarded(tmp_path, {"processes": {"src.training.train": "tiny"}, "denied": {"tiny": ["yaml"]}})
    assert "refused" not in other and "child: 0" in other
    assert guarded(tmp_path / "guard.log") == []
    assert "refused" not in run_guarded(tmp_path, None)


def test_a_namespace_package_is_judged_by_its_parts() -> None:
    providers = {
        "azure": {"azure-core", "azure-ai-ml"},
        "azure.core": {"azure-core"},
        "azure.ai": {"azure-ai-ml"},
        "azure.ai.ml": {"azure-ai-ml"},
        "pandas": {"pandas"},
        "pandas.io": {"pandas"},
    }
    assert denied_modules({"azure-core"}, providers) == ["azure.ai", "pandas"]
    assert denied_modules({"azure-core", "azure-ai-ml", "pandas"}, providers) == []


def test_an_environment_is_its_list_and_what_that_requires() -> None:
    closure = distribution_closure(["azure-identity>=1.27"])
    assert {"azure-identity", "azure-core", "msal", "cryptography"} <= closure
    assert "pandas" not in closure


def test_the_real_guard_denies_each_environment_what_its_list_does_not_bring(tmp_path: Path) -> None:
    write_guard(tmp_path / "guard.json", tmp_path / "guard.log")
    denied = {
        name: set(modules) for name, modules in json.loads((tmp_path / "guard.json").read_text())["denied"].items()
    }

    def refused(environment: str, module: str) -> bool:
        parts = module.split(".")
        return any(".".join(parts[:depth]) in denied[environment] for depth in range(1, len(parts) + 1))

    for module in ("pandas", "sklearn", "mlflow", "evidently", "azure.ai.ml"):
        assert refused("performance", module), module
    for module in ("numpy", "pyarrow.parquet", "azure.monitor.opentelemetry", "azure.identity", "azure.core"):
        assert not refused("performance", module), module
    assert refused("train", "evidently") and refused("train", "azure.functions")
    assert not any(refused("train", m) for m in ("sklearn", "mlflow.sklearn", "azure.ai.ml", "pandas"))
    assert not refused("drift", "evidently") and refused("drift", "mlflow")


def test_every_component_and_the_scoring_server_have_an_environment() -> None:
    processes = component_processes()
    components = sorted((ENVIRONMENTS.parent / "components").glob("*.yml"))
    assert len([m for m in processes if m.startswith("src.")]) == len(components)
    assert processes["azureml_inference_server_http"] == "score"
    assert set(processes.values()) == {"train", "drift", "performance", "score"}


def test_the_guard_is_applied_only_while_the_block_runs(tmp_path: Path) -> None:
    before = os.environ.get("PYTHONPATH")
    with environment_guard(tmp_path) as log:
        assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(GUARD_PATH)
        assert Path(os.environ["MLOPS_ENVIRONMENT_GUARD"]).is_file()
    assert os.environ.get("PYTHONPATH") == before and "MLOPS_ENVIRONMENT_GUARD" not in os.environ
    assert log == tmp_path / "environment-guard.log"
