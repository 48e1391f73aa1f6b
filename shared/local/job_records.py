"""The local job platform's job records: ``<LOCAL_STATE_DIR>/jobs/<name>/job.json``, one folder per job.

The platform claims a job folder and writes the record (status NotStarted) at submission; the job process marks it
Running, records per-step status as steps start and end, and marks it Completed or Failed (also when it raises).
Statuses use Azure ML's vocabulary: NotStarted, Running, Completed, Failed, Canceled. A record that says
NotStarted/Running whose process is gone is reported (and persisted) as Failed by the platform. Record updates are
read-modify-write under an ``flock`` on ``<job dir>/.lock`` and written atomically; once a record is final no one
changes it again.

POSIX only (``flock``), like the rest of the local mode.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml_assets.src.stores.atomic_files import utc_stamp, write_json_atomic
from shared.ports import JobInfo, NotFoundError, PlatformError

JOBS_DIR = "jobs"
RECORD_FILE = "job.json"
PLAN_FILE = "plan.json"  # the runner's plan, made at submission: the job process runs it without azure-ai-ml
LOG_FILE = "job.log"
LOCK_FILE = ".lock"
INPUTS_DIR = "inputs"
ACTIVE = frozenset({"NotStarted", "Running"})
FINAL = frozenset({"Completed", "Failed", "Canceled"})
PROCESS_GONE = "the job process exited without finishing"


def jobs_root(state_dir: str | Path) -> Path:
    return Path(state_dir) / JOBS_DIR


def parse_time(value: Any) -> datetime | None:
    """A record's time stamp (``utc_stamp``'s format) as an aware datetime; None for none."""
    if not value:
        return None
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class JobRecords:
    """The job folders under ``<state_dir>/jobs``: read, create and update ``job.json`` safely across processes."""

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.root = jobs_root(self.state_dir)

    def job_dir(self, name: str) -> Path:
        if not name or "/" in name or name in (".", "..") or name.startswith("."):
            raise NotFoundError(f"job {name!r}: not a job name")
        return self.root / name

    def read(self, name: str) -> dict[str, Any]:
        path = self.job_dir(name) / RECORD_FILE
        try:
            return dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise NotFoundError(f"job {name} not found in {self.root}") from None

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(c.name for c in self.root.iterdir() if (c / RECORD_FILE).is_file())

    def claim(self, experiment: str) -> str:
        """A new unique job name ``<experiment>-<yyyymmddHHMMSS>-<6 hex>`` with its folder created."""
        prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", experiment).strip("-_")[:200] or "job"
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            name = f"{prefix}-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
            try:
                os.mkdir(self.root / name)
            except FileExistsError:
                continue
            return name
        raise PlatformError(f"could not claim a job folder in {self.root}")

    def claim_name(self, name: str) -> bool:
        """Create the folder of the job ``name``; False when it exists (that job was submitted before)."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(self.job_dir(name))
        except FileExistsError:
            return False
        return True

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        fd = os.open(self.job_dir(name) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def write(self, name: str, record: Mapping[str, Any]) -> None:
        write_json(self.job_dir(name) / RECORD_FILE, record)

    def update(self, name: str, change: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Apply ``change`` to the record under the job's lock; it returns True to write. A final record (Completed,
        Failed, Canceled) is never changed. Returns the record as it is afterwards."""
        with self.locked(name):
            record = self.read(name)
            if record.get("status") not in FINAL and change(record):
                self.write(name, record)
            return record


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """Atomically (a reader sees the old or the new document, never a part)."""
    write_json_atomic(path, doc, fsync=False, default=str)


def job_info(record: Mapping[str, Any]) -> JobInfo:
    return JobInfo(
        name=str(record["name"]),
        status=str(record["status"]),
        tags={str(k): str(v) for k, v in (record.get("tags") or {}).items()},
        outputs={str(k): str(v) for k, v in (record.get("outputs") or {}).items()},
        started_at=parse_time(record.get("started_at")),
        ended_at=parse_time(record.get("ended_at")),
    )


def finish(doc: dict[str, Any], status: str, error: str | None) -> None:
    """Make ``doc`` final with ``status``: a step still running takes the job's failure, one not started is Skipped."""
    doc["status"] = status
    doc["ended_at"] = utc_stamp()
    if error:
        doc["error"] = error
    for step in (doc.get("steps") or {}).values():
        if step.get("status") == "Running":
            step["status"] = status if status != "Completed" else step["status"]
        elif step.get("status") == "NotStarted":
            step["status"] = "Skipped"
