"""``python -m demo`` (``make demo``): run the local MLOps loop end to end.

Exit codes: 0 the loop succeeded, 1 a stage did not reach its expected outcome, 2 bad options, 128 + the signal
when stopped by SIGTERM (143), SIGINT (130, Ctrl-C) or SIGHUP (129): every process the demo started is stopped
first. Its process groups are recorded under the state folder (``--state-dir``, else ``LOCAL_STATE_DIR``, else
``.local``: a stable place, as the platform's state is a new temporary folder each run), and a demo that was killed
outright has what it left running stopped by the next one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from demo.scenario import DemoConfig, run_demo
from demo.stage_checks import DemoError
from shared.local.command_help import command_parser
from shared.local.process_registry import ProcessRegistry, default_state_dir
from shared.local.stop_signals import run_stoppable

SUMMARY = """\
The whole local loop: train → deploy → traffic → export → drift → alert → retrain → rollout, on this machine.

SIGTERM, SIGINT and SIGHUP stop it and every process it started (exit status 128 + the signal)."""


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "python -m demo",
        SUMMARY,
        [
            "python -m demo",
            "python -m demo --scenario bad-release",
            "python -m demo --requests 50 --train-rows 2500 --out out/small",
        ],
    )
    parser.add_argument("--out", default="out/demo", help="each run in its <run id>/ below it; latest names the last")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="keep the local platform's state here (default: a temporary folder, removed at the end)",
    )
    parser.add_argument("--requests", type=int, default=150, help="requests per traffic phase, at least 20")
    parser.add_argument("--train-rows", type=int, default=6000, help="rows of synthetic training data, at least 1000")
    parser.add_argument(
        "--scenario",
        choices=("default", "bad-release"),
        default="default",
        help="default: the whole loop; bad-release: v2 fails under live traffic and the gate rolls it back",
    )
    args = parser.parse_args(argv)
    processes_dir = Path(args.state_dir) if args.state_dir else default_state_dir()
    config = DemoConfig(
        out=Path(args.out),
        state_dir=Path(args.state_dir) if args.state_dir else None,
        processes_dir=processes_dir,
        requests_per_phase=args.requests,
        train_rows=args.train_rows,
        scenario=args.scenario,
    )
    if config.requests_per_phase < 20 or config.train_rows < 1000:
        print("error: --requests must be at least 20 and --train-rows at least 1000", file=sys.stderr)
        return 2
    registry = ProcessRegistry(processes_dir)

    def demo() -> int:
        registry.sweep_once()
        try:
            run_demo(config)
        except DemoError as exc:
            print(f"demo failed: {exc}", file=sys.stderr)
            return 1
        return 0

    return run_stoppable(demo, name="demo", registries=[registry])


if __name__ == "__main__":
    sys.exit(main())
