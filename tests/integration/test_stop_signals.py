"""Each local command that starts processes, run as a real subprocess and sent SIGTERM, SIGINT and SIGHUP: it exits
with 128 + the signal and leaves no process of its tree running, no port listening and no process record; and one
killed outright (SIGKILL) leaves its processes running until the next start stops them and says so.

The commands: ``python -m shared.local serve`` (azmlinfsrv: a gunicorn master and worker), ``python -m shared.local
pipeline`` (a step that starts a child of its own), the local job worker (``python -m shared.local.job_worker``,
started by the job platform) and ``python -m demo`` (Azurite and a training job)."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ml_assets.src.stores.local_registry import LocalModelRegistry
from ml_assets.src.training import prepare, synthetic, train
from shared.local.job_platform import LocalJobPlatform
from shared.local.serve import free_port
from shared.ports import PipelineJobRequest
from tests.process_checks import (
    STOP_SIGNALS,
    exit_status,
    listening_ports,
    process_records,
    running,
    start_command,
    still_listening,
    still_running_after,
    tree,
    wait_for,
)

SIGNAL_IDS = [s.name for s in STOP_SIGNALS]

# A step that starts a child of its own (so stopping only the step's shell or only the step would leave one).
STEP_SCRIPT = """\
import os, subprocess, sys, time
from pathlib import Path
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
Path(sys.argv[1], "pids").write_text(f"{os.getpid()} {child.pid}")
print("sleeping", flush=True)
time.sleep(600)
"""

STEP_YAML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: sleeper
version: "1"
outputs:
  out: {type: uri_folder}
code: .
environment:
  image: python:3.11
command: python step.py ${{outputs.out}}
"""

PIPELINE_YAML = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: sleeper
experiment_name: sleeper
jobs:
  sleep:
    type: command
    component: ./step.yml
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    folder = tmp_path / "pipeline"
    folder.mkdir()
    (folder / "step.py").write_text(STEP_SCRIPT)
    (folder / "step.yml").write_text(STEP_YAML)
    (folder / "pipeline.yml").write_text(PIPELINE_YAML)
    return folder / "pipeline.yml"


def _step_pids(root: Path) -> list[int]:
    found = list(root.glob("**/sleep/outputs/out/pids"))
    text = found[0].read_text().strip() if found else ""
    return [int(pid) for pid in text.split()] if text else []


def _assert_stopped(command: subprocess.Popen[bytes], sig: signal.Signals, timeout: float = 60.0) -> None:
    """Send ``sig`` to the command alone and check that it exits 128 + ``sig`` leaving nothing of its tree."""
    processes = tree(command.pid)
    ports = listening_ports(processes)
    command.send_signal(sig)
    assert exit_status(command, timeout) == 128 + sig
    assert still_running_after(processes) == []
    assert still_listening(ports) == set()


# --- pipeline --------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_the_pipeline_command_stops_its_running_step_and_exits_128_plus_the_signal(
    tmp_path: Path, pipeline: Path, sig: signal.Signals
) -> None:
    state, work, log = tmp_path / "state", tmp_path / "work", tmp_path / "pipeline.log"
    args = ["-m", "shared.local", "pipeline", str(pipeline), "--workdir", str(work), "--state-dir", str(state)]
    command = start_command(args, log)
    try:
        wait_for(lambda: len(_step_pids(work)) == 2, 90, "the step and its child run")
        steps = [psutil.Process(pid) for pid in _step_pids(work)]
        job = next(work.iterdir()).name
        assert [r["what"] for r in process_records(state)] == [f"pipeline step {job}/sleep"]

        _assert_stopped(command, sig)

        assert still_running_after(steps) == []
        assert process_records(state) == []
        lines = log.read_text().strip().splitlines()
        summary = json.loads(next(line for line in reversed(lines) if line.startswith("{")))
        assert summary["status"] == "Canceled" and summary["exit_code"] == 128 + sig
        assert summary["steps"]["sleep"]["status"] == "Canceled"
        assert lines[-1].startswith(f"[pipeline] stopped by {sig.name}")
    finally:
        if command.poll() is None:
            command.kill()


@pytest.mark.slow
def test_the_pipeline_command_with_a_state_folder_it_cannot_write_says_so_and_starts_nothing(
    tmp_path: Path, pipeline: Path
) -> None:
    (tmp_path / "file").write_text("")
    state, work, log = tmp_path / "file" / "state", tmp_path / "work", tmp_path / "pipeline.log"
    args = ["-m", "shared.local", "pipeline", str(pipeline), "--workdir", str(work), "--state-dir", str(state)]

    assert exit_status(start_command(args, log), 90) == 2

    lines = log.read_text().strip().splitlines()
    assert json.loads(lines[-1])["status"] == "Failed" and str(tmp_path / "file") in json.loads(lines[-1])["error"]
    assert "Traceback" not in log.read_text() and _step_pids(work) == []


# --- the local job worker --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_the_job_worker_stops_its_step_marks_the_job_canceled_and_exits_128_plus_the_signal(
    tmp_path: Path, pipeline: Path, sig: signal.Signals
) -> None:
    state = tmp_path / "state"
    with LocalJobPlatform(state) as platform:
        name = platform.submit_pipeline(PipelineJobRequest(str(pipeline), {}, experiment_name="sleeper"))
        wait_for(lambda: len(_step_pids(state / "jobs" / name)) == 2, 60, "the step and its child run")
        worker = psutil.Process(int(platform.records.read(name)["pid"]))
        processes = [worker, *worker.children(recursive=True)]
        assert len(processes) >= 3  # the worker, the step (its shell, maybe) and the step's child

        worker.send_signal(sig)

        assert worker.wait(timeout=60) == 128 + sig  # the worker is this process's child: psutil reaps it
        assert still_running_after(processes) == []
        record = platform.records.read(name)
        assert record["status"] == "Canceled" and record["error"].startswith(f"stopped by {sig.name}")
        assert record["steps"]["sleep"]["status"] == "Canceled"
        assert f"[job] stopped by {sig.name}" in (state / "jobs" / name / "job.log").read_text()


# --- serve ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model (1,200 rows, 10 trees): enough for score.py to load and azmlinfsrv to serve."""
    root = tmp_path_factory.mktemp("model")
    synthetic.generate(1200, seed=5).to_csv(root / "d.csv", index=False)
    args = ["--training_data", str(root / "d.csv"), "--train_data", str(root / "tr"), "--test_data", str(root / "te")]
    assert prepare.main(prepare.parse_args(args)) == 0
    args = ["--train_data", str(root / "tr"), "--model_output", str(root / "m"), "--max_iter", "10"]
    assert train.main(train.parse_args(args)) == 0
    return LocalModelRegistry(root / "registry").register("credit-default", root / "m").path.parent


def _start_serve(model_dir: Path, state: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = ["-m", "shared.local", "serve", str(model_dir), "--port", str(port), "--state-dir", str(state)]
    command = start_command(args, log)

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    wait_for(lambda: "score: loaded" in log.read_text() and answers(), 90, "the model is served")
    return command, port


def test_serve_with_a_state_folder_it_cannot_write_says_so_and_starts_nothing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    state = tmp_path / "file" / "state"
    args = ["-m", "shared.local", "serve", str(tmp_path), "--port", str(free_port()), "--state-dir", str(state)]
    command = start_command(args, tmp_path / "serve.log")

    assert exit_status(command, 60) == 2
    output = (tmp_path / "serve.log").read_text()
    assert f"error: could not start azmlinfsrv (process records in {state / 'processes'}):" in output
    assert "Traceback" not in output


@pytest.mark.slow
@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_serve_stops_its_server_and_frees_the_port_on_each_signal(
    tmp_path: Path, model_dir: Path, sig: signal.Signals
) -> None:
    command, port = _start_serve(model_dir, tmp_path / "state", tmp_path / "serve.log")
    try:
        assert len(tree(command.pid)) == 3 and port in listening_ports(tree(command.pid))  # serve, master, worker

        _assert_stopped(command, sig)

        assert process_records(tmp_path / "state") == []
        assert f"[serve] stopped by {sig.name}" in (tmp_path / "serve.log").read_text()
    finally:
        if command.poll() is None:
            command.kill()


@pytest.mark.slow
def test_a_serve_killed_outright_leaves_its_server_until_the_next_serve_stops_it_and_says_so(
    tmp_path: Path, model_dir: Path
) -> None:
    state = tmp_path / "state"
    first, first_port = _start_serve(model_dir, state, tmp_path / "first.log")
    server = tree(first.pid)[1:]
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert len(running(server)) == 2 and still_listening({first_port}) == {first_port}  # what SIGKILL leaves

    second, _ = _start_serve(model_dir, state, tmp_path / "second.log")
    try:
        assert still_running_after(server) == [] and still_listening({first_port}) == set()
        reports = [line for line in (tmp_path / "second.log").read_text().splitlines() if "[processes]" in line]
        assert (
            len(reports) == 1
            and f"on port {first_port} (pgid {server[0].pid}, started by pid {first.pid})" in (reports[0])
        )

        _assert_stopped(second, signal.SIGTERM)
    finally:
        if second.poll() is None:
            second.kill()


# --- the demo --------------------------------------------------------------------------------------------------


def _start_demo(tmp_path: Path, log: Path) -> subprocess.Popen[bytes]:
    """``python -m demo`` until its first training job runs (Azurite and the job process are up)."""
    args = ["-m", "demo", "--state-dir", str(tmp_path / "state"), "--out", str(tmp_path / "out")]
    command = start_command([*args, "--requests", "20", "--train-rows", "1000"], log)

    def training() -> bool:
        names = [" ".join(p.cmdline()) for p in running(tree(command.pid)[1:])]
        return any("azurite" in n for n in names) and any("shared.local.job_worker" in n for n in names)

    wait_for(training, 180, "Azurite and the training job run")
    return command


@pytest.fixture
def demo_commands() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for command in started:
        if command.poll() is None:
            for process in reversed(tree(command.pid)):
                process.kill()


@pytest.mark.slow
@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_the_demo_stops_azurite_and_its_jobs_on_each_signal(
    tmp_path: Path, sig: signal.Signals, demo_commands: list[subprocess.Popen[bytes]]
) -> None:
    demo_commands.append(command := _start_demo(tmp_path, tmp_path / "demo.log"))

    _assert_stopped(command, sig, timeout=120)

    assert process_records(tmp_path / "state") == []
    assert f"[demo] stopped by {sig.name}" in (tmp_path / "demo.log").read_text()


@pytest.mark.slow
def test_a_demo_killed_outright_leaves_azurite_and_its_job_until_the_next_demo_stops_them(
    tmp_path: Path, demo_commands: list[subprocess.Popen[bytes]]
) -> None:
    demo_commands.append(first := _start_demo(tmp_path, tmp_path / "first.log"))
    left = tree(first.pid)[1:]
    ports = listening_ports(left)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert running(left) and ports and still_listening(ports) == ports  # the bug: all of it outlives the demo
    whats = sorted(r["what"].split(" ")[0] for r in process_records(tmp_path / "state"))
    assert whats == ["Azurite", "job"]

    args = ["-m", "demo", "--state-dir", str(tmp_path / "state"), "--out", str(tmp_path / "out2")]
    demo_commands.append(second := start_command(args, tmp_path / "second.log"))
    wait_for(lambda: "[processes]" in (tmp_path / "second.log").read_text(), 120, "the next demo reports")

    assert still_running_after(left) == [] and still_listening(ports) == set()
    report = next(line for line in (tmp_path / "second.log").read_text().splitlines() if "[processes]" in line)
    assert report.startswith("[processes] stopped 2 process group(s)") and f"started by pid {first.pid}" in report
    assert "Azurite (blob)" in report and "(shared.local.job_worker)" in report
    _assert_stopped(second, signal.SIGTERM, timeout=120)
