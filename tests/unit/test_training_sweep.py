"""The training pipeline's sweep node, loaded and validated offline by azure-ai-ml as Azure ML would take it, and
the local runner's reading of it: the plan, seeded sampling, the budget, the pick of the best trial."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ml_assets.src.training.model import Hyperparameters
from ml_assets.src.training.trial_record import VALIDATION_METRIC, trial_record, trial_tags
from shared.local.pipeline_plan import PipelineError, PipelinePlan, check_pipeline, plan_pipeline
from shared.local.pipeline_sweep import SweepSpec, best_trial, sample_trials

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "ml_assets" / "pipelines" / "train_model.yml"
SWEPT = {"learning_rate", "max_iter", "max_leaf_nodes", "min_samples_leaf", "l2_regularization", "max_features"}


@pytest.fixture(scope="module")
def plan() -> PipelinePlan:
    return plan_pipeline(PIPELINE)


def _sweep(plan: PipelinePlan, **inputs: object) -> SweepSpec:
    spec = next(s for s in plan.steps if s.name == "train").sweep
    assert spec is not None
    return spec.bound({**plan.inputs, **inputs})


def test_the_sweep_node_validates_offline_and_feeds_evaluate_and_register() -> None:
    from azure.ai.ml import load_job
    from azure.ai.ml.entities import PipelineJob
    from azure.ai.ml.entities._builders import Sweep
    from azure.ai.ml.sweep import MedianStoppingPolicy, RandomSamplingAlgorithm

    job = load_job(PIPELINE)
    assert isinstance(job, PipelineJob)
    validation = job._validate()
    assert validation.passed, validation.error_messages
    node = job.jobs["train"]
    assert isinstance(node, Sweep)
    assert set(node.search_space) == SWEPT
    assert node.objective.primary_metric == VALIDATION_METRIC and node.objective.goal == "maximize"
    assert isinstance(node.sampling_algorithm, RandomSamplingAlgorithm) and node.sampling_algorithm.seed == 42
    assert isinstance(node.early_termination, MedianStoppingPolicy)
    assert {"max_total_trials", "max_concurrent_trials", "cv_folds", "validation_size"} <= set(job.inputs)
    assert not SWEPT & set(job.inputs)  # a swept value is the sweep's to choose, not an input's
    rest = job._to_rest_object().as_dict()["properties"]["jobs"]["train"]
    assert rest["limits"] == {
        "max_total_trials": "${{parent.inputs.max_total_trials}}",
        "max_concurrent_trials": "${{parent.inputs.max_concurrent_trials}}",
        "timeout": 7200,
    }
    best_model = "${{parent.jobs.train.outputs.model_output}}"
    for step in ("evaluate", "register"):
        assert job.jobs[step].inputs["model_input"]._data == best_model


def test_the_search_space_holds_only_valid_hyperparameters(plan: PipelinePlan) -> None:
    spec = _sweep(plan)
    assert set(spec.search_space) == SWEPT
    for values in sample_trials(spec, 50):
        Hyperparameters(**values).validate()


def test_sampling_is_deterministic_for_a_seed(plan: PipelinePlan) -> None:
    spec = _sweep(plan)
    first = sample_trials(spec, 6)
    assert sample_trials(spec, 6) == first
    assert sample_trials(spec, 3) == first[:3]  # a smaller budget runs the same first trials
    assert len({json.dumps(t, sort_keys=True) for t in first}) == 6
    reseeded = SweepSpec.from_json({**spec.to_json(), "sampling": {"type": "random", "seed": 43}})
    assert sample_trials(reseeded, 6) != first
    for trial in first:
        assert 0.02 <= trial["learning_rate"] <= 0.2 and 0.0 <= trial["l2_regularization"] <= 2.0
        assert 0.3 <= trial["max_features"] <= 1.0
        assert trial["max_iter"] in (60, 80, 120, 160) and trial["max_leaf_nodes"] in (7, 15, 31)


def test_grid_sampling_walks_the_choices_in_order() -> None:
    spec = SweepSpec(
        search_space={"b": {"type": "choice", "values": [1, 2]}, "a": {"type": "choice", "values": ["x", "y"]}},
        sampling={"type": "grid", "seed": None},
        primary_metric="m",
        goal="maximize",
        limits={"max_total_trials": 10},
    )
    assert sample_trials(spec, 10) == [
        {"a": "x", "b": 1},
        {"a": "x", "b": 2},
        {"a": "y", "b": 1},
        {"a": "y", "b": 2},
    ]
    assert sample_trials(spec, 3) == sample_trials(spec, 10)[:3]


def test_the_budget_comes_from_the_pipeline_inputs_and_is_checked(plan: PipelinePlan) -> None:
    assert _sweep(plan).limit("max_total_trials", "train") == int(plan.inputs["max_total_trials"])
    assert _sweep(plan, max_total_trials="2").limit("max_total_trials", "train") == 2
    assert _sweep(plan).limit("timeout", "train") == 7200
    for bad in ("0", "-1", "1.5", "many"):
        with pytest.raises(PipelineError, match=r"limits\.max_total_trials"):
            check_pipeline(plan, {"training_data": str(ROOT), "max_total_trials": bad})
    with pytest.raises(PipelineError, match=r"limits\.max_concurrent_trials"):
        check_pipeline(plan, {"training_data": str(ROOT), "max_concurrent_trials": "0"})
    check_pipeline(plan, {"training_data": str(ROOT), "max_total_trials": "1"})


def test_the_plan_with_its_sweep_survives_json(plan: PipelinePlan) -> None:
    again = PipelinePlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again.to_json() == plan.to_json()
    assert sample_trials(_sweep(again), 4) == sample_trials(_sweep(plan), 4)


def test_the_best_trial_follows_the_goal_and_skips_trials_without_a_score() -> None:
    trials = [
        {"trial": 0, "status": "Completed", "score": 0.7},
        {"trial": 1, "status": "Failed", "score": None},
        {"trial": 2, "status": "Completed", "score": 0.8},
        {"trial": 3, "status": "Completed", "score": 0.8},
        {"trial": 4, "status": "Completed", "score": 0.6},
    ]
    assert best_trial(trials, "maximize")["trial"] == 2  # the first of equals
    assert best_trial(trials, "minimize")["trial"] == 4
    assert best_trial(trials[1:2], "maximize") is None


def test_a_sampling_algorithm_the_runner_cannot_follow_is_refused(tmp_path: Path) -> None:
    assets = tmp_path / "ml_assets"
    shutil.copytree(ROOT / "ml_assets", assets, ignore=shutil.ignore_patterns("__pycache__"))
    copy = assets / "pipelines" / "train_model.yml"
    text = copy.read_text().replace("      type: random\n      seed: 42\n", "      type: bayesian\n")
    assert "type: bayesian" in text
    copy.write_text(text)
    with pytest.raises(PipelineError, match="sampling algorithm 'bayesian' is not supported locally"):
        plan_pipeline(copy)


def test_the_trial_record_becomes_the_registered_models_tags() -> None:
    record = trial_record(
        Hyperparameters(max_iter=120).as_dict(), validation_score=0.78123456, fit_rows=800, validation_rows=200
    )
    tags = trial_tags({"trial": record, "hyperparameters": {}})
    assert tags["hp_max_iter"] == "120" and tags["hp_learning_rate"] == "0.1"
    assert tags[VALIDATION_METRIC] == "0.781235" and tags["validation_rows"] == "200"
    assert {k for k in tags if k.startswith("hp_")} == {f"hp_{k}" for k in Hyperparameters().as_dict()}
    assert trial_tags({}) == {} and trial_tags(None) == {}
