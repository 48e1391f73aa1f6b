"""The guard file that makes a test's processes import only what their Azure ML environment installs.

This venv holds every environment's packages at once, so a step that imports what its environment lacks would
pass here and fail on Azure ML. An environment's distributions are its pip list
(``infra.ml_environments.pip_requirements``) and what they require, transitively, as installed here (the names a
distribution requires hardly change between the venv's versions and those Azure ML resolves; the versions are
``make setup``'s resolver check), plus what conda's ``pip`` brings. A module is denied to a process of that
environment when every installed distribution that provides it is outside that closure; the standard library and
the project's own code are never denied. ``tests/environment_guard/sitecustomize.py`` applies the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.ml_environments import ENVIRONMENTS, conda_specs, environment_name, pip_requirements

ROOT = Path(__file__).resolve().parents[1]
GUARD_PATH = ROOT / "tests" / "environment_guard"
# What conda-forge's pip package installs beside the listed packages.
CONDA_PIP = ("pip", "setuptools", "wheel")


def distribution_closure(requirements: Iterable[str]) -> set[str]:
    """The normalised names of the distributions ``requirements`` install here, theirs included (no extras)."""
    found: set[str] = set()
    todo = [Requirement(text) for text in requirements]
    marker_env = {**default_environment(), "extra": ""}
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # only Azure ML installs it (azureml-mlflow): no process here can import from it either
        for text in dist.requires or ():
            needed = Requirement(text)
            if needed.marker is None or needed.marker.evaluate(marker_env):
                todo.append(needed)
    return found


def module_providers() -> dict[str, set[str]]:
    """Every module path of an installed distribution (``azure``, ``azure.ai``, ``azure.ai.ml``, …) → the
    distributions with files under it: a namespace package is judged by its parts."""
    providers: dict[str, set[str]] = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".data", ".pth")):
                continue
            is_module = file.suffix in (".py", ".so", ".pyd")
            if not is_module and len(parts) == 1:
                continue  # a top-level data file (a .pth, a licence) is no module
            modules = [p for p in parts[:-1] if p != "__pycache__"]  # the packages the file lies in
            leaf = parts[-1].split(".")[0]
            if is_module and leaf != "__init__":
                modules.append(leaf)
            for depth in range(1, len(modules) + 1):
                providers.setdefault(".".join(modules[:depth]), set()).add(name)
    return providers


def denied_modules(allowed: set[str], providers: Mapping[str, set[str]]) -> list[str]:
    """The outermost modules none of whose providers is ``allowed``."""
    denied = sorted(m for m, dists in providers.items() if not dists & allowed)
    outermost: list[str] = []
    for module in denied:  # sorted: a package comes before its parts
        if not outermost or not module.startswith(outermost[-1] + "."):
            outermost.append(module)
    return outermost


def component_processes(ml_assets: Path = ENVIRONMENTS.parent) -> dict[str, str]:
    """The module each Azure ML step runs (``src.training.train``) → its environment's name (``train``), from the
    component YAMLs, and the scoring server's module → the deployment's environment."""
    processes: dict[str, str] = {}
    for path in sorted((ml_assets / "components").glob("*.yml")):
        component = yaml.safe_load(path.read_text(encoding="utf-8"))
        words = str(component["command"]).split()
        module = words[words.index("-m") + 1]
        processes[module] = environment_name(component["environment"]["conda_file"])
    deployment = yaml.safe_load((ml_assets / "endpoints" / "deployment.yml").read_text(encoding="utf-8"))
    processes["azureml_inference_server_http"] = environment_name(deployment["environment"]["conda_file"])
    return processes


@contextmanager
def environment_guard(folder: Path) -> Iterator[Path]:
    """The processes this process starts meanwhile import only what their Azure ML environment installs; yields the
    log of the processes guarded (read it with :func:`guarded`)."""
    log = folder / "environment-guard.log"
    variables = {
        **write_guard(folder / "environment-guard.json", log),
        "PYTHONPATH": os.pathsep.join([str(GUARD_PATH), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield log
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def write_guard(path: Path, log: Path) -> dict[str, str]:
    """Write the guard file; returns the environment variables that apply it to the processes started after
    (with ``GUARD_PATH`` on ``PYTHONPATH``)."""
    providers = module_providers()
    denied = {
        environment_name(spec): denied_modules(distribution_closure([*pip_requirements(spec), *CONDA_PIP]), providers)
        for spec in conda_specs()
    }
    doc = {"processes": component_processes(), "denied": denied, "log": str(log)}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return {"MLOPS_ENVIRONMENT_GUARD": str(path)}


def guarded(log: Path) -> list[dict[str, object]]:
    """The processes the guard applied to, as it logged them."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
