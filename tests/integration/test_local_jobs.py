"""`shared/local/job_platform.py`: pipelines submitted to the local job platform run in detached background processes.

Tiny fake pipelines (a component whose command is a small Python script) written to tmp_path exercise the
platform: submission returns at once, the record and log are written, failures, cancellation, a killed job
process, independence of jobs, blob-prefix inputs downloaded from Azurite. One slow test runs the real training
pipeline on a registered local data asset and checks the model's tags pin the data version.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from ml_assets.src.stores.local_data_assets import LocalDataAssets, data_assets_root
from ml_assets.src.training import synthetic
from shared.local.job_inputs import split_blob_url
from shared.local.job_platform import LocalJobPlatform
from shared.local.job_records import PROCESS_GONE
from shared.local.pipeline_plan import PipelinePlan, plan_pipeline
from shared.local.process_groups import process_alive
from shared.local.registry import LocalRegistry
from shared.ports import AssetInput, NotFoundError, PipelineJobRequest, PlatformError
from shared.settings import Settings
from tests.conftest import PROJECT_ROOT

STEP_SCRIPT = """\
import json, os, sys, time
from pathlib import Path

mode, data, message, out = sys.argv[1:5]
files = sorted(str(p.relative_to(data)) for p in Path(data).rglob("*") if p.is_file())
print(f"step sees {files}", flush=True)
if mode == "fail":
    print("error: column 'age' is missing", flush=True)
    sys.exit(3)
if mode.startswith("wait:"):
    while not Path(mode[5:]).exists():
        time.sleep(0.05)
if mode == "sleep":
    Path(out, "pid").write_text(str(os.getpid()))
    print("sleeping", flush=True)
    time.sleep(600)
contents = {f: (Path(data) / f).read_text() for f in files if f.endswith(".csv")}
env = {k: os.environ.get(k) for k in ("MLOPS_MODE", "LOCAL_STATE_DIR", "JOB_TEST_MARKER", "MLOPS_PIPELINE_JOB_NAME")}
Path(out, "seen.json").write_text(json.dumps({"files": files, "contents": contents, "message": message, "env": env}))
"""

STEP_YAML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: fake_step
version: "1"
inputs:
  data: {type: uri_folder}
  mode: {type: string}
  message: {type: string}
outputs:
  out: {type: uri_folder}
code: .
environment:
  image: python:3.11
command: python step.py ${{inputs.mode}} ${{inputs.data}} ${{inputs.message}} ${{outputs.out}}
"""

PIPELINE_YAML = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: fake pipeline
experiment_name: fake-exp
tags:
  from_yaml: "yes"
inputs:
  data:
    type: uri_folder
    path: azureml:fake-data@latest
  mode: ok
  message: hello
jobs:
  first:
    type: command
    component: ./step.yml
    inputs:
      data: ${{parent.inputs.data}}
      mode: ${{parent.inputs.mode}}
      message: ${{parent.inputs.message}}
  second:
    type: command
    component: ./step.yml
    inputs:
      data: ${{parent.jobs.first.outputs.out}}
      mode: ok
      message: second
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    folder = tmp_path / "pipeline"
    folder.mkdir()
    (folder / "step.py").write_text(STEP_SCRIPT)
    (folder / "step.yml").write_text(STEP_YAML)
    (folder / "pipeline.yml").write_text(PIPELINE_YAML)
    return folder / "pipeline.yml"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def platform(state: Path) -> Iterator[LocalJobPlatform]:
    with LocalJobPlatform(state, env={"JOB_TEST_MARKER": "passed-through"}) as instance:
        yield instance


def data_folder(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def request(pipeline: Path, **inputs: object) -> PipelineJobRequest:
    return PipelineJobRequest(
        str(pipeline), inputs, experiment_name="fake-exp", display_name="a fake job", tags={"purpose": "test"}
    )


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_submitted_job_runs_in_the_background_and_records_everything(tmp_path, pipeline, state, platform):
    # given a data asset with two versions (the job must take the latest) and a step that waits for a signal
    assets = LocalDataAssets(data_assets_root(state))
    assets.register("fake-data", data_folder(tmp_path / "v1", {"old.csv": "old"}))
    assets.register("fake-data", data_folder(tmp_path / "v2", {"a.csv": "a", "sub/b.csv": "b"}))
    go = tmp_path / "go"

    # when the job is submitted
    name = platform.submit_pipeline(request(pipeline, data=AssetInput("uri_folder", "azureml:fake-data@latest"),
                                            mode=f"wait:{go}"))  # fmt: skip

    # then submission returned before the job could end, with an Azure ML-like name
    assert name.startswith("fake-exp-") and len(name.split("-")[-1]) == 6
    assert platform.get_job(name).status in ("NotStarted", "Running")
    go.touch()
    info = platform.wait(name, timeout=120, poll=0.1)
    assert info.status == "Completed", platform.record(name)["error"]
    assert info.started_at is not None and info.ended_at is not None and info.started_at <= info.ended_at
    assert info.tags == {"from_yaml": "yes", "purpose": "test"}
    assert set(info.outputs) == {"first.out", "second.out"}
    seen = json.loads((Path(info.outputs["first.out"]) / "seen.json").read_text())
    assert seen["files"] == ["a.csv", "sub/b.csv"] and seen["contents"] == {"a.csv": "a", "sub/b.csv": "b"}
    assert seen["env"] == {"MLOPS_MODE": "local", "LOCAL_STATE_DIR": str(state.resolve()),
                           "JOB_TEST_MARKER": "passed-through", "MLOPS_PIPELINE_JOB_NAME": name}  # fmt: skip
    assert json.loads((Path(info.outputs["second.out"]) / "seen.json").read_text())["files"] == ["seen.json"]

    record = json.loads((state / "jobs" / name / "job.json").read_text())
    assert record["status"] == "Completed" and record["display_name"] == "a fake job"
    assert record["experiment_name"] == "fake-exp" and record["error"] is None and record["pid"] > 0
    assert record["inputs"]["data"]["asset"] == "fake-data:2" and record["data_assets"] == {"fake-data": 2}
    assert record["inputs"]["data"]["resolved"] == str(state / "data-assets" / "fake-data" / "2" / "data")
    assert record["inputs"]["mode"] == {"kind": "literal", "value": f"wait:{go}", "resolved": f"wait:{go}"}
    assert {s: r["status"] for s, r in record["steps"].items()} == {"first": "Completed", "second": "Completed"}
    log = Path(record["log"]).read_text()
    assert "[first] step sees ['a.csv', 'sub/b.csv']" in log and "[second] step sees ['seen.json']" in log
    assert [j.name for j in platform.list_jobs()] == [name]
    assert LocalJobPlatform(state).get_job(name) == info  # another instance reads the same record


def test_a_failing_step_fails_the_job_with_its_error_and_skips_the_rest(tmp_path, pipeline, state, platform):
    data = data_folder(tmp_path / "d", {"x.csv": "x"})

    name = platform.submit_pipeline(request(pipeline, data=str(data), mode="fail"))
    info = platform.wait(name, timeout=120, poll=0.1)

    assert info.status == "Failed" and info.ended_at is not None
    record = platform.record(name)
    assert record["inputs"]["data"]["kind"] == "local_path" and record["inputs"]["data"]["resolved"] == str(data)
    assert "step first exited with 3" in record["error"] and "column 'age' is missing" in record["error"]
    assert record["steps"]["first"] == {"status": "Failed", "exit_code": 3, "duration_s": record["steps"]["first"]
                                        ["duration_s"]}  # fmt: skip
    assert record["steps"]["second"]["status"] == "Skipped"


def test_invalid_requests_are_refused_before_anything_starts(tmp_path, pipeline, state, platform):
    LocalDataAssets(data_assets_root(state)).register("fake-data", data_folder(tmp_path / "d", {"x.csv": "x"}))
    cases = {
        "has no input 'nope'": request(pipeline, nope="1"),
        "fake-data:9 does not exist; fake-data has versions 1": request(
            pipeline, data=AssetInput("uri_folder", "azureml:fake-data:9")
        ),
        "no data asset 'missing'": request(pipeline, data=AssetInput("uri_folder", "azureml:missing@latest")),
        "datastore URI": request(pipeline, data=AssetInput("uri_folder", "azureml://datastores/x/paths/y/")),
        "does not exist": request(pipeline, data=str(tmp_path / "absent")),
        "no storage is configured": request(pipeline, data=AssetInput("uri_folder", "http://127.0.0.1:1/acct/c/p")),
        "not a valid Azure ML job YAML": request(tmp_path / "d" / "x.csv"),
        "no such pipeline YAML": request(tmp_path / "absent.yml"),
    }
    for expected, bad in cases.items():
        with pytest.raises(PlatformError, match=expected):
            platform.submit_pipeline(bad)
    assert not (state / "jobs").exists() or not any((state / "jobs").iterdir())
    with pytest.raises(NotFoundError):
        platform.get_job("fake-exp-20260101000000-abcdef")
    with pytest.raises(NotFoundError):
        platform.cancel("../state")


def test_a_requested_name_is_honoured_and_a_second_submit_with_it_returns_that_job(tmp_path, pipeline, state, platform):
    data = data_folder(tmp_path / "d", {"x.csv": "x"})
    go = tmp_path / "go"
    named = dataclasses.replace(request(pipeline, data=str(data), mode=f"wait:{go}"), name="fake-exp-0a1b2c3d")

    first = platform.submit_pipeline(named)
    again = platform.submit_pipeline(named)  # a caller that lost the first answer asks again
    other = LocalJobPlatform(state).submit_pipeline(named)  # or another instance does

    assert first == again == other == "fake-exp-0a1b2c3d"
    assert [j.name for j in platform.list_jobs()] == [first]
    go.touch()
    assert platform.wait(first, timeout=120, poll=0.1).status == "Completed"
    assert platform.submit_pipeline(named) == first  # a finished job too: never a second one of that name
    assert len(platform.list_jobs()) == 1
    with pytest.raises(PlatformError, match="invalid job name"):
        platform.submit_pipeline(dataclasses.replace(named, name="../escape"))


def test_jobs_run_independently_cancel_stops_the_process_group_and_close_cancels_the_rest(
    tmp_path, pipeline, state, platform
):
    data = data_folder(tmp_path / "d", {"x.csv": "x"})
    first = platform.submit_pipeline(request(pipeline, data=str(data), mode="sleep"))
    second = platform.submit_pipeline(request(pipeline, data=str(data), mode="sleep"))
    assert first != second
    # both run at once, each in its own process (group) and folder
    for name in (first, second):
        pid_file = state / "jobs" / name / "first" / "outputs" / "out" / "pid"
        wait_for(lambda p=pid_file: p.exists() and p.read_text().strip())  # written, not just created
    records = [platform.record(n) for n in (first, second)]
    assert [r["status"] for r in records] == ["Running", "Running"] and records[0]["pid"] != records[1]["pid"]
    step_pid = int((state / "jobs" / first / "first" / "outputs" / "out" / "pid").read_text())
    assert os.getpgid(step_pid) == records[0]["pid"]  # the step runs in the job's process group

    platform.cancel(first)

    assert platform.get_job(first).status == "Canceled" and platform.get_job(first).ended_at is not None
    assert not group_exists(records[0]["pid"])
    assert platform.record(first)["steps"] == {
        "first": {"status": "Canceled", "exit_code": None, "duration_s": None},
        "second": {"status": "Skipped", "exit_code": None, "duration_s": None},
    }
    assert platform.get_job(second).status == "Running"
    platform.cancel(first)  # canceling a finished job changes nothing
    assert platform.get_job(first).status == "Canceled"

    platform.close()

    assert platform.get_job(second).status == "Canceled"
    assert not group_exists(records[1]["pid"])


def test_a_killed_job_process_is_reported_failed_and_its_steps_stopped(tmp_path, pipeline, state, platform):
    data = data_folder(tmp_path / "d", {"x.csv": "x"})
    name = platform.submit_pipeline(request(pipeline, data=str(data), mode="sleep"))
    pid_file = state / "jobs" / name / "first" / "outputs" / "out" / "pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())  # written, not just created
    job_pid, step_pid = platform.record(name)["pid"], int(pid_file.read_text())

    os.kill(job_pid, signal.SIGKILL)  # the job process dies; its step keeps running in the group
    wait_for(lambda: not process_alive(job_pid), timeout=10)
    assert process_alive(step_pid)

    # another platform object (not the parent of the process) notices, persists Failed and stops the step
    info = LocalJobPlatform(state).get_job(name)
    assert info.status == "Failed" and info.ended_at is not None
    assert json.loads((state / "jobs" / name / "job.json").read_text())["error"] == PROCESS_GONE
    wait_for(lambda: not process_alive(step_pid), timeout=10)
    assert platform.get_job(name).status == "Failed"


@pytest.mark.azurite
def test_a_blob_prefix_input_is_downloaded_with_its_relative_paths(tmp_path, pipeline, state, storage_env):
    # given exported blobs under a model/version prefix, a sibling prefix that must not be included, and one outside
    service = BlobServiceClient.from_connection_string(storage_env["STORAGE_CONNECTION_STRING"])
    container = service.create_container(storage_env["EXPORT_CONTAINER"])
    blobs = {
        "inference/model=m/version=1/date=2026-01-01/hour=00/part.csv": "h0",
        "inference/model=m/version=1/date=2026-01-01/hour=01/part.csv": "h1",
        "inference/model=m/version=10/date=2026-01-01/hour=00/part.csv": "other version",
        "elsewhere/x.csv": "no",
    }
    for blob, text in blobs.items():
        container.upload_blob(blob, text.encode())
    url = f"{container.url}/inference/model=m/version=1"
    platform = LocalJobPlatform.from_settings(Settings({**storage_env, "LOCAL_STATE_DIR": str(state)}))

    with platform:
        name = platform.submit_pipeline(request(pipeline, data=AssetInput("uri_folder", url, mode="ro_mount")))
        info = platform.wait(name, timeout=120, poll=0.1)
        empty = platform.submit_pipeline(request(pipeline, data=AssetInput("uri_folder", f"{container.url}/nothing")))
        failed = platform.wait(empty, timeout=120, poll=0.1)

    assert info.status == "Completed", platform.record(name)["error"]
    target = state / "jobs" / name / "inputs" / "data"
    spec = platform.record(name)["inputs"]["data"]
    assert (spec["kind"], spec["resolved"], spec["prefix"]) == (
        "blob_prefix",
        str(target),
        "inference/model=m/version=1/",
    )
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "date=2026-01-01/hour=00/part.csv",
        "date=2026-01-01/hour=01/part.csv",
    ]
    seen = json.loads((Path(info.outputs["first.out"]) / "seen.json").read_text())
    assert seen["contents"] == {"date=2026-01-01/hour=00/part.csv": "h0", "date=2026-01-01/hour=01/part.csv": "h1"}
    assert failed.status == "Failed"
    assert f"downloading {container.url}/nothing failed: no blobs under" in platform.record(empty)["error"]
    assert platform.record(empty)["steps"]["first"]["status"] == "Skipped"
    # a URL of another account is refused at submission
    with pytest.raises(PlatformError, match="not in the configured storage account"):
        platform.submit_pipeline(
            request(pipeline, data=AssetInput("uri_folder", "https://other.blob.core.windows.net/c/p"))
        )


def test_the_job_process_runs_the_submitted_plan_without_importing_azure_ai_ml(pipeline):
    # the plan made at submission round-trips through JSON (the job folder's plan.json) unchanged
    plan = plan_pipeline(pipeline)
    assert PipelinePlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    assert plan.step_names == ["first", "second"] and plan.input_types["data"] == "uri_folder"
    # and what the job process imports to run it stays light (azure-ai-ml takes seconds to import)
    code = (
        "import sys, shared.local.job_worker, shared.local.pipeline_run\n"
        "print(sorted(m for m in sys.modules if m.startswith(('azure.ai', 'sklearn', 'pandas'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_split_blob_url_keeps_the_prefix_a_folder():
    account = "http://127.0.0.1:10000/devaccount/"
    assert split_blob_url("http://127.0.0.1:10000/devaccount/c/a/b=1", account) == ("c", "a/b=1/")
    assert split_blob_url("http://127.0.0.1:10000/devaccount/c/a%20b/", account) == ("c", "a b/")
    assert split_blob_url("http://127.0.0.1:10000/devaccount/c", account) == ("c", "")
    with pytest.raises(PlatformError, match="not in the configured storage account"):
        split_blob_url("http://127.0.0.1:10000/devaccountx/c/p", account)
    with pytest.raises(PlatformError, match="not in the configured storage account"):
        split_blob_url("https://127.0.0.1:10000/devaccount/c/p", account)


def record_registration(model: object) -> None:
    """A registry hook (MLOPS_LOCAL_REGISTRY_HOOK) that the register step, two processes down, must call."""
    path = Path(os.environ["LOCAL_STATE_DIR"]) / "hook-calls.jsonl"
    with path.open("a") as handle:
        handle.write(json.dumps(model.to_json()) + "\n")  # type: ignore[attr-defined]


@pytest.mark.slow
def test_the_training_pipeline_on_a_local_data_asset_tags_the_model_with_the_resolved_version(tmp_path, state):
    # given two versions of the training data registered as a local data asset
    for seed in (20, 21):
        csv = tmp_path / f"train-{seed}" / "train.csv"
        csv.parent.mkdir()
        synthetic.generate(1500, seed=seed).to_csv(csv, index=False)
        LocalDataAssets(data_assets_root(state)).register("credit-default-training", csv)

    # when the retraining-style request (data asset @latest, asset name for the tags) runs
    hook = {"MLOPS_LOCAL_REGISTRY_HOOK": f"{__name__}:record_registration"}
    with LocalJobPlatform(state, env=hook) as platform:
        name = platform.submit_pipeline(
            PipelineJobRequest(
                "ml_assets/pipelines/train_model.yml",
                {
                    "training_data": AssetInput("uri_folder", "azureml:credit-default-training@latest"),
                    "previous_training_data": AssetInput("uri_folder", "azureml:credit-default-training:1"),
                    "training_data_asset": "credit-default-training@latest",
                    "model_name": "credit-test",
                    "max_total_trials": 1,
                },
                experiment_name="credit-test-training",
            )
        )
        info = platform.wait(name, timeout=600, poll=0.5)

    # then a model version is registered whose tags name exactly the data version it was trained on
    assert info.status == "Completed", platform.record(name)["error"]
    assert set(info.outputs) >= {"train.model_output", "register.registration"}
    model = LocalRegistry(state).get_model("credit-test", "1")
    assert model.tags["training_data"] == "credit-default-training:2"  # what @latest was, not the previous data
    assert (model.tags["training_data_name"], model.tags["training_data_version"]) == ("credit-default-training", "2")
    # the data-quality gate compared version 2 with version 1
    record = platform.record(name)
    assert record["inputs"]["previous_training_data"]["asset"] == "credit-default-training:1"
    assert record["data_assets"] == {"credit-default-training": 2}
    assert model.tags["data_quality_drifted_columns_share"] != "none"
    assert model.tags["pipeline_job"] == name
    # the hook passed through the platform's env ran in the register step
    (call,) = [json.loads(line) for line in (state / "hook-calls.jsonl").read_text().splitlines()]
    assert (call["name"], call["version"]) == ("credit-test", 1)
