"""Lets a Python process import only what its Azure ML environment installs, when ``MLOPS_ENVIRONMENT_GUARD``
names the guard file ``tests/environment_imports.py`` writes.

On ``PYTHONPATH`` for a test that runs the Azure ML steps and the scoring server as processes of this venv, which
holds every environment's packages at once: a step importing what its environment lacks fails here as it would on
Azure ML, with ``ModuleNotFoundError``, and an optional import falls back as it would there. The process's
environment comes from its command line (``-m src.training.…``, the scoring server's module) and is passed on to
the processes it starts.
"""

from __future__ import annotations

import itertools
import json
import os
import sys

GUARD_FILE = "MLOPS_ENVIRONMENT_GUARD"
ENVIRONMENT = "MLOPS_ENVIRONMENT_GUARD_ENV"


def _environment(processes: dict[str, str]) -> tuple[str, str] | None:
    """(environment, the module of ``processes`` the command line runs), or the environment the parent had."""
    if os.environ.get(ENVIRONMENT):
        return os.environ[ENVIRONMENT], "(its parent's)"
    argv = sys.orig_argv
    for flag, text in itertools.pairwise(argv):
        for module, environment in processes.items():
            if (flag == "-m" and (text == module or text.startswith(module + "."))) or (
                flag == "-c" and module in text
            ):
                return environment, module
    return None


class _Guard:
    def __init__(self, environment: str, denied: list[str]) -> None:
        self._environment = environment
        self._denied = frozenset(denied)

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix in self._denied:
                raise ModuleNotFoundError(
                    f"No module named {name!r}: Azure ML's {self._environment} environment does not install it",
                    name=name,
                )


def _install(guard_file: str) -> None:
    with open(guard_file, encoding="utf-8") as handle:
        guard = json.load(handle)
    found = _environment(guard["processes"])
    if found is None:
        return
    environment, module = found
    os.environ[ENVIRONMENT] = environment
    sys.meta_path.insert(0, _Guard(environment, guard["denied"][environment]))
    with open(guard["log"], "a", encoding="utf-8") as log:  # which processes were guarded, for the test to check
        log.write(json.dumps({"pid": os.getpid(), "environment": environment, "module": module}) + "\n")


if os.environ.get(GUARD_FILE):
    _install(os.environ[GUARD_FILE])
