"""The demo's artefact layout: one folder per run named by a sortable UTC time and a random suffix, the jobs' records
and logs and the telemetry kept from the platform's state, and ``latest`` naming the last run (a symlink replaced
atomically, or ``latest.txt`` where symlinks cannot be made)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo import run_folder
from demo.run_folder import RunFolder, latest_run, new_run_id


def test_run_ids_sort_like_their_start_times_and_never_collide() -> None:
    start = datetime(2026, 12, 2, 1, 5, 9, tzinfo=UTC)
    ids = [new_run_id(start + timedelta(seconds=s)) for s in (0, 1, 59, 3600, 86400 * 40)]
    assert ids == sorted(ids)
    assert re.fullmatch(r"20261202T010509Z-[0-9a-f]{4}", ids[0])
    assert len({new_run_id(start) for _ in range(20)}) > 1  # the suffix tells runs of the same second apart


def test_each_run_gets_its_own_new_folder(tmp_path: Path) -> None:
    now = datetime(2026, 12, 2, 1, 5, tzinfo=UTC)
    first, second = RunFolder.create(tmp_path / "demo", now), RunFolder.create(tmp_path / "demo", now)
    assert first.path != second.path and first.path.is_dir() and second.path.is_dir()
    assert first.run_record == first.path / "run.json" and first.timeline.parent == first.path


def fake_state(state: Path) -> None:
    job = state / "jobs" / "credit-default-training-20261202010412-11dc6e"
    (job / "train" / "outputs" / "model_output").mkdir(parents=True)
    (job / "job.json").write_text('{"status": "Completed"}')
    (job / "plan.json").write_text("{}")
    (job / "job.log").write_text("job log\n")
    (job / "train" / "output.log").write_text("[train] fitted\n")
    (job / "train" / "outputs" / "model_output" / "model.pkl").write_bytes(b"\0" * 1000)
    (job / "inputs").mkdir()
    (job / "inputs" / "data.csv").write_text("a,b\n")
    (state / "jobs" / "not-a-job").mkdir()  # no job.json: not a job folder
    (state / "telemetry").mkdir()
    (state / "telemetry" / "drift.jsonl").write_text('{"name": "OverallDriftMetrics"}\n')


def test_the_jobs_records_and_logs_and_the_telemetry_are_kept_without_data_or_models(tmp_path: Path) -> None:
    fake_state(tmp_path / "state")
    run = RunFolder.create(tmp_path / "demo")
    copied = run.keep_platform_records(tmp_path / "state")
    job = "jobs/credit-default-training-20261202010412-11dc6e"
    assert sorted(copied) == sorted(
        [f"{job}/job.json", f"{job}/plan.json", f"{job}/job.log", f"{job}/train/output.log", "telemetry.jsonl"]
    )
    files = sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file())
    assert files == sorted(copied)
    assert (run.path / job / "train" / "output.log").read_text() == "[train] fitted\n"
    assert run.artefacts()["jobs"] == str(run.jobs) and run.artefacts()["telemetry"] == str(run.telemetry)
    assert run.artefacts()["timeline"] is None  # not drawn yet


def test_an_empty_state_folder_keeps_nothing(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "demo")
    assert run.keep_platform_records(tmp_path / "missing") == []
    assert run.artefacts()["jobs"] is None and run.artefacts()["telemetry"] is None


def test_latest_is_a_relative_symlink_replaced_by_each_run(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    first, second = RunFolder.create(root), RunFolder.create(root)
    assert latest_run(root) is None
    first.point_latest()
    assert os.readlink(root / "latest") == first.run_id and latest_run(root) == first.path
    second.point_latest()
    assert os.readlink(root / "latest") == second.run_id and (root / "latest").resolve() == second.path.resolve()
    assert sorted(p.name for p in root.iterdir()) == sorted([first.run_id, second.run_id, "latest"])  # no temporaries


def test_latest_replaces_the_link_in_one_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "demo"
    first, second = RunFolder.create(root), RunFolder.create(root)
    first.point_latest()
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def recording_replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        assert os.readlink(root / "latest") == first.run_id  # until the rename, readers see the previous run
        renames.append((Path(source).name, Path(target).name))
        real_replace(source, target)

    monkeypatch.setattr(run_folder.os, "replace", recording_replace)
    second.point_latest()
    assert len(renames) == 1 and renames[0][1] == "latest"


def test_without_symlinks_latest_txt_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_symlinks(*args: object, **kwargs: object) -> None:
        raise OSError("symbolic links are not supported here")

    monkeypatch.setattr(run_folder.os, "symlink", no_symlinks)
    root = tmp_path / "demo"
    first, second = RunFolder.create(root), RunFolder.create(root)
    first.point_latest()
    assert second.point_latest() == root / "latest.txt"
    assert (root / "latest.txt").read_text() == second.run_id + "\n"
    assert latest_run(root) == second.path
    assert not (root / "latest").exists()
