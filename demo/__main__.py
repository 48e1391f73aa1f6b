"""``python -m demo`` (``make demo``): run the local MLOps loop end to end.

Exit codes: 0 the loop succeeded, 1 a stage did not reach its expected outcome, 2 bad options, 130 interrupted
(Ctrl-C or SIGTERM; every process the demo started is stopped first).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from demo.scenario import DemoConfig, run_demo
from demo.stage_actions import DemoError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="The whole local loop: train → deploy → traffic → export → drift → alert → retrain → rollout.",
    )
    parser.add_argument("--out", default="out/demo", help="each run in its <run id>/ below it; latest names the last")
    parser.add_argument("--state-dir", default=None, help="keep the local platform's state here (default: temporary)")
    parser.add_argument("--requests", type=int, default=150, help="requests per traffic phase")
    parser.add_argument("--train-rows", type=int, default=6000, help="rows of synthetic training data")
    args = parser.parse_args(argv)

    def terminate(signum: int, frame: object) -> None:
        # SIGTERM takes the Ctrl-C path, so the demo's ExitStack stops every process it started
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


if __name__ == "__main__":
    sys.exit(main())
