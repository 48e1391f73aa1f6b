"""``python -m shared.local demo``: the local demo (``python -m demo``) started from the local-mode command line.

The demo lives in the repository's ``demo/`` package, which nothing in ``shared/`` imports (it is not deployed):
this command replaces its own process with ``python -m demo`` (same pid, so signals reach the demo directly),
passing the scenario and every further option (``--out``, ``--requests``… of ``python -m demo --help``) on.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("default", "bad-release")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="default",
        help="default: the whole loop; bad-release: v2 fails under live traffic and the gate rolls it back "
        "(default: %(default)s)",
    )


def command(args: argparse.Namespace) -> int:
    if not (PROJECT_ROOT / "demo" / "__main__.py").is_file():
        print(f"error: no demo/ package beside {PROJECT_ROOT / 'shared'} (it is not deployed)", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    argv = [sys.executable, "-m", "demo", "--scenario", args.scenario, *getattr(args, "passed_on", [])]
    os.execve(sys.executable, argv, env)
    return 0  # not reached: execve replaces the process
