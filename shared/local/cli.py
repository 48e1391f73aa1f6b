"""The local-mode commands. Each capability adds its command to :data:`COMMANDS`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from shared.local import runner, serve

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="folder for the demo's artefacts")
    parser.add_argument("--state-dir", default=None, help="keep the local platform's state here (default: temporary)")
    parser.add_argument("--requests", type=int, default=150, help="requests per traffic phase")
    parser.add_argument("--train-rows", type=int, default=6000, help="rows of synthetic training data")


def _demo(args: argparse.Namespace) -> int:
    """The whole local loop: train → deploy → traffic → export → drift → alert → retrain → rollout."""
    import signal

    from shared.local.demo import DemoConfig, DemoError, run_demo

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    config = DemoConfig(
        out=Path(args.out),
        state_dir=Path(args.state_dir) if args.state_dir else None,
        requests_per_phase=args.requests,
        train_rows=args.train_rows,
    )
    if config.requests_per_phase < 20 or config.train_rows < 1000:
        print("error: --requests must be at least 20 and --train-rows at least 1000", file=sys.stderr)
        return 2
    try:
        run_demo(config)
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted; every process it started was stopped", file=sys.stderr)
        return 130
    return 0


COMMANDS: dict[str, Command] = {
    "demo": ("Run the local MLOps loop end to end", _demo_arguments, _demo),
    "pipeline": ("Run an Azure ML pipeline YAML locally, step by step", runner.add_arguments, runner.command),
    "serve": (
        "Serve ml_assets/src/scoring/score.py for a model folder with azmlinfsrv",
        serve.add_arguments,
        serve.command,
    ),
}
