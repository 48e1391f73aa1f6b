"""The local-mode commands of ``python -m shared.local``: name → (help, add_arguments, run)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from shared.local import pipeline_run, serve

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

COMMANDS: dict[str, Command] = {
    "pipeline": (
        "Run an Azure ML pipeline YAML locally, step by step",
        pipeline_run.add_arguments,
        pipeline_run.command,
    ),
    "serve": (
        "Serve ml_assets/src/scoring/score.py for a model folder with azmlinfsrv",
        serve.add_arguments,
        serve.command,
    ),
}
