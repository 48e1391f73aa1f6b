"""Where one demo run keeps its artefacts: ``<out>/<run id>/`` and the ``<out>/latest`` pointer.

Every run writes only into its own folder (``run.json``, ``timeline.png``, ``drift_report.html``,
``functions.log``, the jobs' records and logs, the drift telemetry), so an interrupted run can leave an
incomplete folder but never a mix of two runs. ``latest`` is a relative symlink to the folder of the last run
that wrote its record, replaced atomically (a new link renamed over the old one); where symlinks cannot be made,
``latest.txt`` names the folder instead, replaced the same way.

The run id sorts like the runs' start times: UTC ``YYYYMMDDTHHMMSSZ`` and four random hex digits, so two runs
started in the same second still get two folders.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ml_assets.src.contracts.drift_telemetry import local_telemetry_path
from shared.local.job_records import JOBS_DIR, LOG_FILE, PLAN_FILE, RECORD_FILE

RUN_RECORD = "run.json"
TIMELINE = "timeline.png"
DRIFT_REPORT = "drift_report.html"
FUNCTION_LOGS = "functions.log"
TELEMETRY = "telemetry.jsonl"  # the local Application Insights stand-in's rows, as the drift jobs wrote them
LATEST = "latest"
LATEST_POINTER = "latest.txt"
STEP_LOG = "output.log"  # each pipeline step's output, in <job>/<step>/ (shared.local.pipeline_run)
MAX_ID_ATTEMPTS = 100


def new_run_id(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class RunFolder:
    """The folder ``root / run_id`` of one run and the names of what goes in it."""

    root: Path
    run_id: str

    @classmethod
    def create(cls, root: Path, now: datetime | None = None) -> RunFolder:
        """A new, empty run folder under ``root`` (``mkdir`` is atomic: two runs never share one)."""
        root.mkdir(parents=True, exist_ok=True)
        for _ in range(MAX_ID_ATTEMPTS):
            folder = cls(root, new_run_id(now))
            try:
                folder.path.mkdir()
            except FileExistsError:
                continue
            return folder
        raise FileExistsError(f"no free run folder name under {root} after {MAX_ID_ATTEMPTS} attempts")

    @property
    def path(self) -> Path:
        return self.root / self.run_id

    @property
    def run_record(self) -> Path:
        return self.path / RUN_RECORD

    @property
    def timeline(self) -> Path:
        return self.path / TIMELINE

    @property
    def drift_report(self) -> Path:
        return self.path / DRIFT_REPORT

    @property
    def function_logs(self) -> Path:
        return self.path / FUNCTION_LOGS

    @property
    def jobs(self) -> Path:
        return self.path / JOBS_DIR

    @property
    def telemetry(self) -> Path:
        return self.path / TELEMETRY

    def artefacts(self) -> dict[str, str | None]:
        """What ``run.json`` lists: each artefact's path, None for one this run did not write."""
        named = {
            "run": self.run_record,
            "timeline": self.timeline,
            "drift_report": self.drift_report,
            "function_logs": self.function_logs,
            "jobs": self.jobs,
            "telemetry": self.telemetry,
        }
        # run.json is listed before it is written: it is the one artefact every run writes
        listed = {k: str(p) if p.exists() or k == "run" else None for k, p in named.items()}
        return {"folder": str(self.path), **listed}

    def keep_platform_records(self, state_dir: Path) -> list[str]:
        """Copy what the local platform wrote that a reader of the run needs, before its state folder goes: every
        job's record, plan and logs (``jobs/<name>/``: ``job.json``, ``plan.json``, ``job.log``,
        ``<step>/output.log``; not the steps' data or models) and the drift telemetry. Returns what was copied."""
        copied: list[str] = []
        source_jobs = Path(state_dir) / JOBS_DIR
        for job_dir in sorted(source_jobs.iterdir()) if source_jobs.is_dir() else []:
            if not (job_dir / RECORD_FILE).is_file():
                continue
            wanted = [job_dir / RECORD_FILE, job_dir / PLAN_FILE, job_dir / LOG_FILE, *job_dir.glob(f"*/{STEP_LOG}")]
            for source in (p for p in wanted if p.is_file()):
                target = self.jobs / source.relative_to(source_jobs)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                copied.append(str(target.relative_to(self.path)))
        telemetry = local_telemetry_path({"LOCAL_STATE_DIR": str(state_dir)})
        if telemetry.is_file():
            shutil.copyfile(telemetry, self.telemetry)
            copied.append(TELEMETRY)
        return copied

    def point_latest(self) -> Path:
        """Make ``root/latest`` name this run (a symlink; ``latest.txt`` where there are none); returns it."""
        link = self.root / LATEST
        temporary = self.root / f".{LATEST}-{secrets.token_hex(4)}"
        try:
            os.symlink(self.run_id, temporary, target_is_directory=True)
        except (OSError, NotImplementedError):
            return self._write_pointer()
        try:
            os.replace(temporary, link)  # atomic: a reader sees the previous run or this one
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
        return link

    def _write_pointer(self) -> Path:
        pointer = self.root / LATEST_POINTER
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=f".{LATEST_POINTER}-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.run_id + "\n")
            os.replace(temporary, pointer)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return pointer


def latest_run(root: Path) -> Path | None:
    """The folder ``root/latest`` (or ``latest.txt``) names; None before the first run."""
    link = root / LATEST
    if link.is_symlink():
        return root / os.readlink(link)
    pointer = root / LATEST_POINTER
    if pointer.is_file():
        return root / pointer.read_text(encoding="utf-8").strip()
    return None
