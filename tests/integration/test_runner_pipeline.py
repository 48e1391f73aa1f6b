"""The local pipeline runner on the real training pipeline YAML (steps as subprocesses), and every ml_assets
YAML loaded offline with the azure-ai-ml loaders (the same schema validation Azure ML applies)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml_assets.src.training import synthetic
from shared.local.pipeline_plan import PipelineError, render_command
from shared.local.pipeline_run import parse_input_overrides, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
ML = ROOT / "ml_assets"
PIPELINE = ML / "pipelines" / "train_model.yml"


def test_every_yaml_loads_offline():
    from azure.ai.ml import load_component, load_environment, load_job, load_online_deployment, load_online_endpoint
    from azure.ai.ml.entities import ManagedOnlineDeployment, PipelineJob

    for name in ("data_quality", "prepare", "train", "evaluate", "register"):
        component = load_component(ML / "components" / f"{name}.yml")
        assert component.code == ".."
        assert f"python -m src.training.{name}" in component.command
    job = load_job(PIPELINE)
    assert isinstance(job, PipelineJob)
    assert list(job.jobs) == ["data_quality", "prepare", "train", "evaluate", "register"]
    assert {
        "training_data",
        "previous_training_data",
        "model_name",
        "max_total_trials",
        "max_concurrent_trials",
    } <= set(job.inputs)
    assert load_component(ML / "components" / "data_quality.yml").inputs["previous_training_data"].optional
    assert job.jobs["train"].type == "sweep"
    deployment = load_online_deployment(ML / "endpoints" / "deployment.yml")
    assert isinstance(deployment, ManagedOnlineDeployment)
    assert deployment.code_configuration.scoring_script == "src/scoring/score.py"
    assert deployment.readiness_probe is not None and deployment.request_settings is not None
    assert load_online_endpoint(ML / "endpoints" / "endpoint.yml").auth_mode == "key"
    for name in ("train", "score"):
        assert load_environment(ML / "environments" / f"{name}.yml").conda_file


def test_evaluate_and_register_are_never_reused_from_cache():
    from azure.ai.ml import load_component

    for name in ("data_quality", "evaluate", "register"):
        assert load_component(ML / "components" / f"{name}.yml").is_deterministic is False


def test_render_command_binds_and_drops_unset_optional_blocks():
    command = "python -m x --a ${{inputs.a}} $[[--b ${{inputs.b}}]] --o ${{outputs.o}}"
    assert render_command(command, {"a": "1 2", "b": None}, {"o": "/p"}) == "python -m x --a '1 2'  --o /p"
    assert render_command(command, {"a": "1", "b": "z"}, {"o": "/p"}) == "python -m x --a 1 --b z --o /p"
    with pytest.raises(PipelineError, match=r"inputs\.c"):
        render_command("${{inputs.c}}", {}, {})


def test_bad_inputs_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(PipelineError, match="not a local path"):
        run_pipeline(PIPELINE, {}, tmp_path, state_dir=tmp_path / "s", stream=io.StringIO())
    with pytest.raises(PipelineError, match="no such input"):
        run_pipeline(PIPELINE, {"nope": "1"}, tmp_path, state_dir=tmp_path / "s", stream=io.StringIO())
    with pytest.raises(PipelineError, match="NAME=VALUE"):
        parse_input_overrides(["training_data"])
    assert not any(tmp_path.iterdir()) or all(p.name == "s" for p in tmp_path.iterdir())


def test_failing_step_stops_the_run_with_its_exit_code(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    synthetic.generate(100, seed=1).drop(columns=["age"]).to_csv(data / "broken.csv", index=False)
    out = io.StringIO()
    result = run_pipeline(
        PIPELINE, {"training_data": str(data)}, tmp_path / "jobs", state_dir=tmp_path / "state", stream=out
    )
    assert result.status == "Failed" and result.exit_code == 1
    assert result.steps["data_quality"].status == "Failed"
    assert [result.steps[s].status for s in ("prepare", "train", "evaluate", "register")] == ["Skipped"] * 4
    assert "[data_quality] error: " in out.getvalue() and "column 'age' is missing" in out.getvalue()


def test_the_run_stops_at_the_data_quality_gate(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    frame = synthetic.generate(200, seed=1)
    frame.loc[7, "credit_limit"] = -100.0
    frame.to_csv(data / "part.csv", index=False)
    out = io.StringIO()
    result = run_pipeline(
        PIPELINE, {"training_data": str(data)}, tmp_path / "jobs", state_dir=tmp_path / "state", stream=out
    )
    assert result.status == "Failed" and result.exit_code == 1
    assert result.steps["data_quality"].status == "Failed"
    assert [result.steps[s].status for s in ("prepare", "train", "evaluate", "register")] == ["Skipped"] * 4
    assert (
        "[data_quality] data quality failed: credit_limit: 1 of 200 rows (0.50%) impossible (e.g. -100.0 is below 0: "
        "a credit limit is never negative) (limit max_impossible_share 0)"
    ) in out.getvalue()
    assert "[train]" not in out.getvalue()
    report = json.loads((result.output("data_quality", "quality_report") / "quality.json").read_text())
    assert report["status"] == "failed" and report["failures"][0]["column"] == "credit_limit"


@pytest.mark.slow
def test_whole_pipeline_through_the_cli_registers_a_model(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    synthetic.generate(1500, seed=21).to_csv(data / "train.csv", index=False)
    cmd = [
        sys.executable, "-m", "shared.local", "pipeline", str(PIPELINE),
        "--input", f"training_data={data}",
        "--input", f"previous_training_data={data}",
        "--input", "max_total_trials=2",
        "--input", "model_name=credit-test",
        "--workdir", str(tmp_path / "jobs"),
        "--state-dir", str(tmp_path / "state"),
        "--job-name", "job-a",
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["status"] == "Completed"
    assert list(summary["steps"]) == ["data_quality", "prepare", "train", "evaluate", "register"]
    assert all(s["status"] == "Completed" and s["duration_s"] > 0 for s in summary["steps"].values())
    for step in ("data_quality", "prepare", "train", "evaluate", "register"):
        assert any(line.startswith(f"[{step}] ") for line in lines)
    registration = json.loads((Path(summary["outputs"]["register.registration"]) / "registration.json").read_text())
    assert registration == {**registration, "registered": True, "name": "credit-test", "version": "1"}
    version_dir = tmp_path / "state" / "registry" / "credit-test" / "1"
    assert (version_dir / "model" / "MLmodel").is_file()
    meta = json.loads((version_dir / "metadata.json").read_text())
    assert meta["tags"]["pipeline_job"] == "job-a"
    assert meta["tags"]["data_quality"] == "passed" and meta["tags"]["data_quality_findings"] == "0"
    assert meta["tags"]["data_quality_drifted_columns_share"] == "0.000000"
    trials = summary["steps"]["train"]["trials"]
    assert len(trials) == 2 and all(t["status"] == "Completed" for t in trials)  # the budget given as an input
    best = max(trials, key=lambda t: t["score"])
    assert summary["outputs"]["train.model_output"] == best["outputs"]["model_output"]
    # the registered model carries the best trial's record: its sampled values and its validation score
    assert {k: meta["tags"][f"hp_{k}"] for k in best["values"]} == {k: str(v) for k, v in best["values"].items()}
    assert meta["tags"]["validation_roc_auc"] == f"{best['score']:.6f}"
    assert (tmp_path / "jobs" / "job-a" / "summary.json").is_file()
