"""Run an Azure ML pipeline YAML (or its plan) on this machine: each command step as a subprocess, in dependency
order.

Each step runs with its component's code folder as working directory and ``MLOPS_MODE=local``,
``LOCAL_STATE_DIR``, ``MLOPS_PIPELINE_JOB_NAME`` in its environment (outputs are folders under
``WORKDIR/<job>/<step>/outputs/<name>``), and streams its output prefixed with ``[step]`` (also kept in
``<step>/output.log``). The first failing step stops the run with its exit code. :func:`run_pipeline` is the Python
API (the local job platform's job processes call it with the plan made at submission, ``pipeline_plan.py``).
CLI: ``python -m shared.local pipeline PIPELINE_YAML --input NAME=VALUE ... --workdir DIR``; its last line is a
JSON summary.

A sweep step runs its trial component once per sampled trial, one after another, under ``<step>/trials/<n>/``
(``pipeline_sweep.py``: sampling, budget, the metric each trial logged); its outputs are the best trial's, and
``<step>/trials.json`` and the summary list every trial with its values, score and status.

A step runs in the caller's process group (the job process leads its own, so cancelling a job stops its steps with
it), or, given a process registry (the CLI, run from a terminal or a process manager), in a group of its own,
recorded there. A stop signal (:class:`shared.local.stop_signals.Stopped`) stops the running step's processes and
ends the run Canceled, exit code 128 + the signal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from shared.local.pipeline_plan import (
    PipelineError,
    PipelinePlan,
    PlanStep,
    checked_steps,
    literal_value,
    plan_pipeline,
    render_command,
    step_inputs,
)
from shared.local.pipeline_sweep import TrialRun, run_trials, trial_environment
from shared.local.process_groups import stop_tree
from shared.local.process_registry import ProcessRegistry, default_state_dir
from shared.local.stop_signals import Stopped, run_stoppable


@dataclass
class StepOutcome:
    name: str
    status: str = "NotStarted"  # NotStarted, Running, Completed, Failed, Canceled, Skipped
    exit_code: int | None = None
    duration_s: float | None = None
    command: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    trials: list[dict[str, Any]] | None = None  # a sweep step's trials

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "status": self.status,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
            "outputs": self.outputs,
        }
        if self.trials is not None:
            doc["trials"] = self.trials
        return doc


@dataclass
class PipelineRunOutcome:
    job_name: str
    status: str  # Completed, Failed or Canceled (a stop signal)
    workdir: Path
    steps: dict[str, StepOutcome]
    started_at: str
    ended_at: str
    exit_code: int = 0
    error: str | None = None

    def output(self, step: str, name: str) -> Path:
        return Path(self.steps[step].outputs[name])

    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "status": self.status,
            "job_name": self.job_name,
            "workdir": str(self.workdir),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "exit_code": self.exit_code,
            "steps": {name: step.to_json() for name, step in self.steps.items()},
            "outputs": {f"{name}.{o}": p for name, step in self.steps.items() for o, p in step.outputs.items()},
        }
        if self.error:
            doc["error"] = self.error
        return doc


def _git_commit(cwd: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def run_pipeline(
    pipeline_yaml: str | Path | PipelinePlan,
    inputs: Mapping[str, Any] | None = None,
    workdir: str | Path = ".local/jobs",
    *,
    state_dir: str | Path | None = None,
    job_name: str | None = None,
    env: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    on_step: Callable[[StepOutcome], None] | None = None,
    processes: ProcessRegistry | None = None,
) -> PipelineRunOutcome:
    """Run the pipeline; returns the result (the JSON summary is ``result.summary()``). Raises PipelineError
    before running anything if the YAML or the inputs are invalid. ``on_step`` is called when a step starts
    (status Running) and when it ends (Completed or Failed, with its exit code and duration). With ``processes``,
    each step runs in its own process group, recorded there."""
    out = stream if stream is not None else sys.stdout
    plan = pipeline_yaml if isinstance(pipeline_yaml, PipelinePlan) else plan_pipeline(pipeline_yaml)
    base = Path.cwd()
    steps = checked_steps(plan, inputs or {}, base)
    name = job_name or f"local-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    root = Path(workdir).resolve() / name
    root.mkdir(parents=True, exist_ok=True)
    step_env = _step_environment(plan, name, state_dir, env)
    results = {s.name: StepOutcome(s.name) for s in steps}
    produced: dict[str, dict[str, str]] = {}
    started = datetime.now(UTC)
    status, exit_code, error = "Completed", 0, None
    for step in steps:
        result = results[step.name]
        try:
            values = step_inputs(step, produced, base)
        except PipelineError as exc:
            status, exit_code, error = "Failed", 2, str(exc)
            result.status = "Failed"
            print(f"[{step.name}] error: {exc}", file=out, flush=True)
            break
        try:
            run_one = _run_sweep if step.sweep is not None else _run_step
            code = run_one(
                step, values, root=root, step_env=step_env, result=result, out=out, on_step=on_step, processes=processes
            )
        except Stopped as stop:
            status, exit_code, error = "Canceled", stop.exit_status, f"{stop}: step {step.name} was stopped"
            result.status = "Canceled"
            print(f"[{step.name}] {error}", file=out, flush=True)
            break
        if code != 0:
            status, exit_code, error = "Failed", code, f"step {step.name} exited with {code}"
            break
        produced[step.name] = result.outputs
    for result in results.values():
        if result.status == "NotStarted" and status != "Completed":
            result.status = "Skipped"
    run = PipelineRunOutcome(
        job_name=name,
        status=status,
        workdir=root,
        steps=results,
        started_at=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ended_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        exit_code=exit_code,
        error=error,
    )
    (root / "summary.json").write_text(json.dumps(run.summary(), indent=2))
    return run


def _step_environment(
    plan: PipelinePlan, job_name: str, state_dir: str | Path | None, env: Mapping[str, str] | None
) -> dict[str, str]:
    """The environment every step of the run gets (a component's own variables are added per step)."""
    state = Path(state_dir if state_dir is not None else os.environ.get("LOCAL_STATE_DIR", ".local")).resolve()
    state.mkdir(parents=True, exist_ok=True)
    step_env = {
        **os.environ,
        **(env or {}),
        "MLOPS_MODE": "local",
        "LOCAL_STATE_DIR": str(state),
        "MLOPS_PIPELINE_JOB_NAME": job_name,
        "PYTHONUNBUFFERED": "1",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    commit = _git_commit(Path(plan.source).parent if plan.source else Path.cwd())
    if commit and "GIT_COMMIT" not in step_env:
        step_env["GIT_COMMIT"] = commit
    return step_env


def _run_step(
    step: PlanStep,
    values: Mapping[str, str | None],
    *,
    root: Path,
    step_env: Mapping[str, str],
    result: StepOutcome,
    out: TextIO,
    on_step: Callable[[StepOutcome], None] | None,
    processes: ProcessRegistry | None,
    folder: Path | None = None,
    label: str | None = None,
) -> int:
    """Run one step's command with its inputs ``values``, filling in ``result``; returns its exit code. Whatever
    ends the reading of its output (a stop signal) stops its processes first. ``folder`` (default
    ``root/<step>``) holds its outputs and log; ``label`` (default the step's name) prefixes its lines."""
    folder = folder if folder is not None else root / step.name
    label = label or step.name
    output_paths = {}
    for output_name in step.component.outputs:
        output_folder = folder / "outputs" / output_name
        output_folder.mkdir(parents=True, exist_ok=True)
        output_paths[output_name] = str(output_folder)
    command = render_command(step.component.command, values, output_paths)
    result.command = command
    result.outputs = output_paths
    result.status = "Running"
    if on_step is not None:
        on_step(result)
    print(f"[{label}] $ {command}", file=out, flush=True)
    t0 = time.monotonic()
    component_env = dict(step.component.environment_variables)
    argv = ["/bin/sh", "-c", command]
    popen: dict[str, Any] = {
        "cwd": step.code_dir,
        "env": {**step_env, **component_env},
        "stdout": subprocess.PIPE,
        "stderr": subprocess.STDOUT,
        "text": True,
    }
    if processes is not None:
        process = processes.start(argv, what=f"pipeline step {step_env['MLOPS_PIPELINE_JOB_NAME']}/{label}", **popen)
    else:
        process = subprocess.Popen(argv, **popen)
    assert process.stdout is not None
    try:
        with (folder / "output.log").open("w") as log:
            for line in process.stdout:
                log.write(line)
                print(f"[{label}] {line.rstrip()}", file=out, flush=True)
        code = process.wait()
    finally:
        if processes is not None:
            processes.stop(process)  # also what the step left running in its group
        elif process.poll() is None:
            stop_tree(process)
        process.stdout.close()
    result.duration_s = round(time.monotonic() - t0, 3)
    result.exit_code = code
    result.status = "Completed" if code == 0 else "Failed"
    if on_step is not None:
        on_step(result)
    return code


def _run_sweep(
    step: PlanStep,
    values: Mapping[str, str | None],
    *,
    root: Path,
    step_env: Mapping[str, str],
    result: StepOutcome,
    out: TextIO,
    on_step: Callable[[StepOutcome], None] | None,
    processes: ProcessRegistry | None,
) -> int:
    """Run a sweep step's trials (``pipeline_sweep.run_trials``), each like a step, then expose the best trial's
    outputs as the step's. Returns 0, or 1 when no trial completed with the primary metric."""
    sweep = step.sweep
    assert sweep is not None

    def run_trial(number: int, sampled: Mapping[str, Any], folder: Path) -> TrialRun:
        trial_values = dict(values)
        for name, value in sampled.items():
            trial_values[name] = literal_value(step.name, name, sweep.trial_inputs[name], value)
        trial = StepOutcome(f"{step.name}/{number}")
        code = _run_step(
            step,
            trial_values,
            root=root,
            step_env={**step_env, **trial_environment(folder)},
            result=trial,
            out=out,
            on_step=None,
            processes=processes,
            folder=folder,
            label=f"{step.name}#{number}",
        )
        return TrialRun(code, trial.duration_s, trial.outputs)

    result.trials = []
    result.status = "Running"
    if on_step is not None:
        on_step(result)
    t0 = time.monotonic()
    best = run_trials(sweep, step.name, root / step.name, run_trial, trials=result.trials, out=out)
    result.duration_s = round(time.monotonic() - t0, 3)
    if best is None:
        result.status, result.exit_code = "Failed", 1
    else:
        result.outputs, result.command = dict(best["outputs"]), f"sweep: best trial #{best['trial']}"
        result.status, result.exit_code = "Completed", 0
    if on_step is not None:
        on_step(result)
    return result.exit_code


def parse_input_overrides(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings → dict (a later value for the same name wins)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise PipelineError(f"--input {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


# --- CLI: python -m shared.local pipeline ---------------------------------------------------------------


def add_arguments(parser: Any) -> None:
    parser.add_argument("pipeline_yaml", help="pipeline job YAML, e.g. ml_assets/pipelines/train_model.yml")
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pipeline input: a local path for uri/model inputs, a literal for string/number inputs "
        "(repeatable; default: the YAML's own inputs)",
    )
    parser.add_argument("--workdir", default=".local/jobs", help="folder for the steps' outputs and logs")
    parser.add_argument(
        "--state-dir",
        default=str(default_state_dir()),
        help="LOCAL_STATE_DIR for the steps; the steps' process groups are recorded in its processes/ folder "
        "(default: LOCAL_STATE_DIR, else .local; now %(default)s)",
    )
    parser.add_argument("--job-name", default=None, help="name of this run (default: local-<time>-<random>)")


def command(args: Any) -> int:
    registry = ProcessRegistry(args.state_dir)
    return run_stoppable(lambda: _run_command(args, registry), name="pipeline", registries=[registry])


def _run_command(args: Any, registry: ProcessRegistry) -> int:
    try:
        overrides = parse_input_overrides(args.input)
        result = run_pipeline(
            args.pipeline_yaml,
            overrides,
            args.workdir,
            state_dir=args.state_dir,
            job_name=args.job_name,
            processes=registry,
        )
    except (PipelineError, OSError) as exc:  # OSError: a folder that cannot be written, a step that cannot start
        print(f"error: {exc}", file=sys.stderr)
        print(json.dumps({"status": "Failed", "error": str(exc), "steps": {}}))
        return 2
    print(json.dumps(result.summary()))
    return result.exit_code
