"""A run stopped part-way (Ctrl-C) or failing still leaves a complete folder of its own: its record, the jobs'
logs and the telemetry copied out of the temporary state (which is removed), and ``latest`` naming it."""

from __future__ import annotations

import io
import json
from contextlib import ExitStack
from pathlib import Path

import pytest

from demo.run_folder import latest_run
from demo.scenario import Demo, DemoConfig
from demo.stage_actions import DemoError


def stopped_while_a_job_ran(exc: BaseException, seen: dict[str, Path]):
    def start(self: Demo, stack: ExitStack, env: dict[str, str]) -> None:
        seen["state"] = self.state_dir
        job = self.state_dir / "jobs" / "credit-default-training-20261202010412-11dc6e"
        job.mkdir(parents=True)
        (job / "job.json").write_text('{"status": "Running"}')
        (job / "job.log").write_text("[prepare] started\n")
        (self.state_dir / "telemetry").mkdir()
        (self.state_dir / "telemetry" / "drift.jsonl").write_text("{}\n")
        raise exc

    return start


@pytest.mark.parametrize(
    ("stop", "caught"), [(KeyboardInterrupt("signal 2"), KeyboardInterrupt), (DemoError("x"), DemoError)]
)
def test_a_stopped_run_keeps_its_record_and_the_jobs_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: BaseException, caught: type[BaseException]
) -> None:
    seen: dict[str, Path] = {}
    monkeypatch.setattr(Demo, "_start", stopped_while_a_job_ran(stop, seen))
    out = tmp_path / "demo"
    with pytest.raises(caught):
        Demo(DemoConfig(out=out), io.StringIO()).run()
    first = latest_run(out)
    stream = io.StringIO()
    with pytest.raises(caught):
        Demo(DemoConfig(out=out), stream).run()
    folder = latest_run(out)
    assert folder is not None and folder != first and folder.parent == out
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "failed" and type(stop).__name__ in record["error"]
    job = folder / "jobs" / "credit-default-training-20261202010412-11dc6e"
    assert (job / "job.log").read_text() == "[prepare] started\n" and (folder / "telemetry.jsonl").is_file()
    assert not seen["state"].exists()  # the temporary state is gone, its logs are not
    assert {d["name"] for d in record["differences_from_app_defaults"]} >= {"DRIFT_SHARE", "max_total_trials"}
    assert f"artefacts in {folder}/" in stream.getvalue()
