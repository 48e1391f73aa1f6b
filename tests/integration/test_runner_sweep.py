"""The local runner on a sweep node: trials run as subprocesses, each logging its metric to MLflow as an Azure ML
trial does, the best one by the primary metric and goal passed on to the next step, and the budget honoured."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from shared.local.pipeline_plan import PipelineError, plan_pipeline
from shared.local.pipeline_run import run_pipeline
from shared.local.pipeline_sweep import sample_trials

TRIAL = """\
import json, os, sys
import mlflow
x, out = float(sys.argv[1]), sys.argv[2]
if x == 0.9:
    sys.exit(3)  # a failing trial: the sweep goes on without it
if x != 0.7:  # a trial that logs nothing is no candidate
    mlflow.log_metric("score", -((x - 0.3) ** 2))
with open(os.path.join(out, "trial.json"), "w") as f:
    json.dump({"x": x}, f)
"""

COMPONENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: toy_trial
inputs:
  x: {type: number, default: 0.5}
outputs:
  out: {type: uri_folder}
code: .
environment: {image: "python:3.11"}
command: python trial.py ${{inputs.x}} ${{outputs.out}}
"""

READER = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: toy_reader
inputs:
  picked: {type: uri_folder}
outputs:
  seen: {type: uri_folder}
code: .
environment: {image: "python:3.11"}
command: cp ${{inputs.picked}}/trial.json ${{outputs.seen}}/trial.json
"""

PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
settings: {default_compute: azureml:cpu}
inputs:
  max_total_trials: 3
jobs:
  search:
    type: sweep
    trial: ./trial.yml
    search_space:
      x: {type: choice, values: [0.1, 0.3, 0.5, 0.7, 0.9, 0.2]}
    objective: {goal: %(goal)s, primary_metric: score}
    sampling_algorithm: {type: random, seed: %(seed)d}
    early_termination: {type: bandit, slack_factor: 0.1, evaluation_interval: 1}
    limits:
      max_total_trials: ${{parent.inputs.max_total_trials}}
      max_concurrent_trials: 1
      timeout: 600
    outputs:
      out: {type: uri_folder}
  read:
    type: command
    component: ./reader.yml
    inputs:
      picked: ${{parent.jobs.search.outputs.out}}
"""


def _pipeline(folder: Path, *, goal: str = "maximize", seed: int = 7) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trial.py").write_text(TRIAL)
    (folder / "trial.yml").write_text(COMPONENT)
    (folder / "reader.yml").write_text(READER)
    (folder / "pipeline.yml").write_text(textwrap.dedent(PIPELINE % {"goal": goal, "seed": seed}))
    return folder / "pipeline.yml"


def test_a_sweep_of_three_trials_passes_the_best_trials_output_on(tmp_path: Path) -> None:
    plan = plan_pipeline(_pipeline(tmp_path / "p", seed=5))
    sweep = plan.steps[0].sweep
    assert sweep is not None and sample_trials(sweep.bound(plan.inputs), 3) == [{"x": 0.9}, {"x": 0.5}, {"x": 0.2}]
    out = io.StringIO()

    run = run_pipeline(plan, {}, tmp_path / "jobs", state_dir=tmp_path / "state", stream=out, job_name="j")

    assert run.status == "Completed", out.getvalue()[-3000:]
    trials = run.steps["search"].trials
    assert trials is not None
    assert [(t["values"]["x"], t["status"], t["exit_code"]) for t in trials] == [
        (0.9, "Failed", 3),
        (0.5, "Completed", 0),
        (0.2, "Completed", 0),
    ]  # three trials: the budget, with three of the six values left unsampled
    assert [t["score"] for t in trials] == [None, pytest.approx(-0.04), pytest.approx(-0.01)]  # read from MLflow
    assert run.steps["search"].outputs == trials[2]["outputs"]
    assert json.loads((run.output("read", "seen") / "trial.json").read_text()) == {"x": 0.2}
    recorded = json.loads((tmp_path / "jobs" / "j" / "search" / "trials.json").read_text())
    assert recorded["best_trial"] == 2 and recorded["trials"] == trials
    assert json.loads((tmp_path / "jobs" / "j" / "summary.json").read_text())["steps"]["search"]["trials"] == trials
    assert "[search] best of 3 trials: #2 score=-0.010000" in out.getvalue()


def test_the_budget_is_a_pipeline_input_and_minimize_picks_the_lowest(tmp_path: Path) -> None:
    out = io.StringIO()
    run = run_pipeline(
        _pipeline(tmp_path / "p", goal="minimize", seed=7),
        {"max_total_trials": "2"},
        tmp_path / "jobs",
        state_dir=tmp_path / "state",
        stream=out,
    )

    assert run.status == "Completed", out.getvalue()[-3000:]
    trials = run.steps["search"].trials
    assert trials is not None and [t["values"]["x"] for t in trials] == [0.5, 0.3]
    assert json.loads((run.output("read", "seen") / "trial.json").read_text()) == {"x": 0.5}


def test_a_sweep_without_a_scored_trial_fails_and_stops_the_run(tmp_path: Path) -> None:
    out = io.StringIO()
    run = run_pipeline(
        _pipeline(tmp_path / "p", seed=11), {}, tmp_path / "jobs", state_dir=tmp_path / "state", stream=out
    )

    assert run.status == "Failed" and run.exit_code == 1
    assert [t["values"]["x"] for t in run.steps["search"].trials or []] == [0.7, 0.9, 0.7]
    assert run.steps["read"].status == "Skipped"
    assert "[search#0] logged no score: not a candidate" in out.getvalue()
    assert "[search] no trial completed with score" in out.getvalue()


@pytest.mark.parametrize("budget", ["0", "two", "1.5"])
def test_a_malformed_budget_is_refused_before_anything_runs(tmp_path: Path, budget: str) -> None:
    with pytest.raises(PipelineError, match=r"limits\.max_total_trials=.* is not a positive integer"):
        run_pipeline(
            _pipeline(tmp_path / "p"),
            {"max_total_trials": budget},
            tmp_path / "jobs",
            state_dir=tmp_path / "state",
            stream=io.StringIO(),
        )
    assert not (tmp_path / "jobs").exists() or not any((tmp_path / "jobs").iterdir())
