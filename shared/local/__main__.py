"""Local mode command line: ``python -m shared.local pipeline|serve|demo`` (the commands: the table in ``cli.py``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from shared.local.cli import COMMANDS, EXAMPLES
from shared.local.command_help import HelpFormatter, command_parser, examples_epilog

SUMMARY = """\
Local mode: run an Azure ML pipeline YAML step by step, serve a model with azmlinfsrv, or run the demo.

SIGTERM, SIGINT and SIGHUP stop a command and every process it started (exit status 128 + the signal);
what a command killed outright left running is stopped by the next start (LOCAL_STATE_DIR/processes/)."""


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "python -m shared.local", SUMMARY, [example for name in COMMANDS for example in EXAMPLES[name][:1]]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    runners: dict[str, Callable[[argparse.Namespace], int]] = {}
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        add_arguments(
            sub.add_parser(
                name,
                help=help_text,
                description=help_text,
                epilog=examples_epilog(EXAMPLES[name]),
                formatter_class=HelpFormatter,
            )
        )
        runners[name] = run
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "demo":  # the demo's own options are passed on to it (python -m demo --help)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.passed_on = extra
    return runners[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
