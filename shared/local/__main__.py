"""Local mode command line: ``python -m shared.local <command>``.

Commands register themselves in :data:`COMMANDS` (name → (help, add_arguments, run)).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from shared.local.cli import COMMANDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    runners: dict[str, Callable[[argparse.Namespace], int]] = {}
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
        runners[name] = run
    args = parser.parse_args(argv)
    return runners[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
