"""Local mode command line: ``python -m shared.local pipeline|serve`` (the commands are the table in ``cli.py``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from shared.local.cli import COMMANDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.local",
        description="Local mode: run an Azure ML pipeline YAML step by step, or serve a model with azmlinfsrv.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    runners: dict[str, Callable[[argparse.Namespace], int]] = {}
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
        runners[name] = run
    args = parser.parse_args(argv)
    return runners[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
