"""The job process of the local job platform: ``python -m shared.local.job_worker run <state_dir> <name>``.

Started detached by ``LocalJobPlatform.submit_pipeline``, it marks the job Running, materialises the inputs (blob
inputs downloaded first), runs the plan made at submission (``plan.json``) with the runner, per-step status going
into the record as steps start and end, and marks the job Completed or Failed (also when it raises). It runs the plan
without importing azure-ai-ml again. Its steps run in its process group; a stop signal (SIGTERM, SIGINT, SIGHUP)
stops the running step's processes, marks the job Canceled and exits with 128 + the signal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from ml_assets.src.stores.atomic_files import utc_stamp
from shared.local.command_help import HelpFormatter, command_parser, examples_epilog
from shared.local.job_inputs import materialise
from shared.local.job_records import PLAN_FILE, JobRecords, finish
from shared.local.pipeline_plan import PipelinePlan
from shared.local.pipeline_run import StepOutcome, run_pipeline
from shared.local.process_groups import process_started
from shared.local.stop_signals import Stopped, run_stoppable
from shared.ports import PlatformError
from shared.settings import Settings


def _failure_detail(job_dir: Path, step: str | None, lines: int = 3) -> str:
    if not step:
        return ""
    try:
        tail = [line.strip() for line in (job_dir / step / "output.log").read_text().splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(tail[-lines:])[-500:]


def run_job(state_dir: str | Path, name: str) -> int:
    """The body of the job process: mark Running, materialise the inputs, run the steps, record the outcome."""
    records = JobRecords(state_dir)
    me, me_started = os.getpid(), process_started(os.getpid())

    def running(doc: dict[str, Any]) -> bool:
        if doc.get("status") != "NotStarted":
            return False
        doc.update(status="Running", started_at=utc_stamp(), pid=me, pid_started=me_started)
        return True

    record = records.update(name, running)
    if record.get("status") != "Running" or record.get("pid") != me:
        print(f"[job] {name} is {record.get('status')}: not running it", flush=True)
        return 0
    print(f"[job] {name} running (pid {me}): {record['pipeline_yaml']}", flush=True)

    def on_step(step: StepOutcome) -> None:
        def change(doc: dict[str, Any]) -> bool:
            doc.setdefault("steps", {})[step.name] = {
                "status": step.status,
                "exit_code": step.exit_code,
                "duration_s": step.duration_s,
            }
            doc["outputs"] = {**doc.get("outputs", {}), **{f"{step.name}.{o}": p for o, p in step.outputs.items()}}
            return True

        records.update(name, change)

    try:
        values = materialise(record, Settings())
        plan = PipelinePlan.from_json(json.loads((records.job_dir(name) / PLAN_FILE).read_text()))
        result = run_pipeline(
            plan,
            values,
            records.root,
            state_dir=records.state_dir,
            job_name=name,
            stream=sys.stdout,
            on_step=on_step,
        )
        summary = result.summary()
        failed = next((s for s, r in result.steps.items() if r.status == "Failed"), None)
        error = result.error
        if error and (detail := _failure_detail(result.workdir, failed)):
            error = f"{error}: {detail}"

        def done(doc: dict[str, Any]) -> bool:
            doc["steps"] = {
                s: {
                    "status": r["status"],
                    "exit_code": r["exit_code"],
                    "duration_s": r["duration_s"],
                    **({"trials": r["trials"]} if "trials" in r else {}),  # a sweep's: values, score, status
                }
                for s, r in summary["steps"].items()
            }
            doc["outputs"] = summary["outputs"]
            finish(doc, result.status, error)
            return True

        record = records.update(name, done)
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the record must say Failed (or Canceled)
        status = "Canceled" if isinstance(exc, Stopped) else "Failed"
        if not isinstance(exc, PlatformError | Stopped):  # these say all there is to say
            traceback.print_exc()
        message = str(exc) if isinstance(exc, PlatformError | Stopped) else f"{type(exc).__name__}: {exc}"
        records.update(name, lambda doc: finish(doc, status, message) or True)
        print(f"[job] {name} {status}: {message}", flush=True)
        return 1
    print(f"[job] {name} {record['status']}" + (f": {record['error']}" if record.get("error") else ""), flush=True)
    return 0 if record["status"] == "Completed" else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    example = ["python -m shared.local.job_worker run .local credit-default-training-20260101120000-a1b2c3"]
    parser = command_parser(
        "python -m shared.local.job_worker",
        "Run one job of the local job platform: the job process LocalJobPlatform.submit_pipeline starts detached.\n"
        "SIGTERM, SIGINT and SIGHUP stop its running step, mark the job Canceled and exit with 128 + the signal.",
        example,
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="{run}")
    run = sub.add_parser(
        "run",
        help="run the job JOB_NAME recorded under STATE_DIR/jobs/",
        description="Run the job JOB_NAME recorded under STATE_DIR/jobs/ (its record says NotStarted).",
        epilog=examples_epilog(example),
        formatter_class=HelpFormatter,
    )
    run.add_argument("state_dir", metavar="STATE_DIR", help="the local state folder (LOCAL_STATE_DIR) of the job")
    run.add_argument("job_name", metavar="JOB_NAME", help="the job's name: its folder under STATE_DIR/jobs/")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_stoppable(lambda: run_job(args.state_dir, args.job_name), name="job")


if __name__ == "__main__":
    sys.exit(main())
