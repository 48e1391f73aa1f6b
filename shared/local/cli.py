"""The local-mode commands of ``python -m shared.local``: name → (help, add_arguments, run), and their examples."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from shared.local import demo_command, pipeline_run, serve

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
    "demo": (
        "Run the local demo (python -m demo), the default loop or the bad-release scenario",
        demo_command.add_arguments,
        demo_command.command,
    ),
}

EXAMPLES: dict[str, list[str]] = {
    "pipeline": [
        "python -m shared.local pipeline ml_assets/pipelines/train_model.yml \\\n"
        "      --input training_data=path/to/csv-folder --input max_total_trials=4 --workdir .local/jobs",
    ],
    "serve": [
        "python -m shared.local serve .local/registry/credit-default/1 --port 5001",
        "curl -X POST http://127.0.0.1:5001/score -H 'Content-Type: application/json' \\\n"
        "      -d @ml_assets/endpoints/sample-request.json",
    ],
    "demo": [
        "python -m shared.local demo --scenario bad-release",
        "python -m shared.local demo --requests 50 --train-rows 2500",
    ],
}
