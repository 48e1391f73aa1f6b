"""The local job platform: :class:`shared.ports.JobPlatform` running pipelines with the local runner in the background.

:meth:`LocalJobPlatform.submit_pipeline` validates the request (the YAML loads, every input is declared, every
data input resolves (``job_inputs.py``), the runner accepts the inputs) and raises :class:`shared.ports.PlatformError`
before anything starts; then it claims a job folder ``<LOCAL_STATE_DIR>/jobs/<name>/`` (the requested name, or a
new one; a requested name whose folder exists is that job, submitted before, and its name is returned with
nothing started: submission is idempotent on the name, as the port asks), writes the job record
``job.json`` (status NotStarted; ``job_records.py``) and starts ``python -m shared.local.job_worker run <state_dir>
<name>`` detached (its own session and process group, output to ``job.log``, recorded in the process registry;
``process_registry.py``), and returns the job name at once. Cancelling stops the job's whole process group; so does
the next start through a registry on that folder when the process that submitted the job was killed outright.

POSIX only (process groups, ``flock``), like the rest of the local mode.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml_assets.src.stores.atomic_files import utc_stamp
from ml_assets.src.stores.local_data_assets import JOB_RECORD_KEY
from shared.local.job_inputs import InputResolver
from shared.local.job_records import (
    ACTIVE,
    FINAL,
    INPUTS_DIR,
    LOG_FILE,
    PLAN_FILE,
    PROCESS_GONE,
    JobRecords,
    finish,
    job_info,
    parse_time,
    write_json,
)
from shared.local.pipeline_plan import PipelineError, check_pipeline, plan_pipeline
from shared.local.process_groups import group_exists, process_alive, process_started, signal_group, stop_group
from shared.local.process_registry import ProcessRegistry
from shared.platform_rules import check_job_name
from shared.ports import JobInfo, NotFoundError, PipelineJobRequest, PlatformError
from shared.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NEVER_STARTED_AFTER_S = 60.0  # a record without a pid this old: the submitter died before starting the process


class LocalJobPlatform:
    """:class:`shared.ports.JobPlatform` on this machine; job records under ``<state_dir>/jobs``.

    ``env`` is added to ``os.environ`` for the job processes (and read for the storage settings of blob URL
    inputs); ``MLOPS_MODE=local`` and ``LOCAL_STATE_DIR`` are always set, and the project root is appended to
    ``PYTHONPATH`` (so an app module named by ``MLOPS_LOCAL_REGISTRY_HOOK`` imports in the register step).
    :meth:`close` (or leaving the ``with`` block) cancels every job this object started that still runs. The job
    processes' groups are recorded in ``process_registry`` (default: ``<state_dir>/processes``).
    """

    def __init__(
        self,
        state_dir: str | Path,
        *,
        env: Mapping[str, str] | None = None,
        process_registry: ProcessRegistry | None = None,
    ) -> None:
        self.records = JobRecords(state_dir)
        self.state_dir = self.records.state_dir
        self.processes = process_registry or ProcessRegistry(self.state_dir)
        self.env: dict[str, str] = {str(k): str(v) for k, v in (env or {}).items()}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}  # started here and not yet reaped
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        env: Mapping[str, str] | None = None,
        process_registry: ProcessRegistry | None = None,
    ) -> LocalJobPlatform:
        """``state_dir`` from LOCAL_STATE_DIR; the storage settings are passed to the jobs (blob URL inputs), and
        the registry hook that queues ModelRegistered events for the register step."""
        storage: dict[str, str] = {}
        if settings.storage_connection_string:
            storage["STORAGE_CONNECTION_STRING"] = settings.storage_connection_string
        if settings.storage_account_url:
            storage["STORAGE_ACCOUNT_URL"] = settings.storage_account_url
        # The register step's registrations queue ModelRegistered events (shared.local.events), as the
        # workspace's Event Grid topic would publish them.
        from shared.local.events import HOOK

        defaults = {"MLOPS_LOCAL_REGISTRY_HOOK": HOOK, **storage}
        return cls(settings.local_state_dir, env={**defaults, **(env or {})}, process_registry=process_registry)

    def __enter__(self) -> LocalJobPlatform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the port -------------------------------------------------------------------------------------

    def submit_pipeline(self, request: PipelineJobRequest) -> str:
        """Validate, record and start the job; returns its name without waiting. PlatformError if invalid."""
        path = Path(request.pipeline_yaml)
        path = (path if path.is_absolute() else PROJECT_ROOT / path).resolve()
        try:
            plan = plan_pipeline(path)
        except PipelineError as exc:
            raise PlatformError(f"pipeline {request.pipeline_yaml}: {exc}") from None
        inputs = InputResolver(self.state_dir, self._settings).resolve(path, plan, request.inputs)
        placeholder = str(PROJECT_ROOT)  # blob inputs exist only once downloaded: any existing path checks
        values = {n: (placeholder if i["kind"] == "blob_prefix" else i["resolved"]) for n, i in inputs.items()}
        try:
            check_pipeline(plan, values, PROJECT_ROOT)
        except PipelineError as exc:
            raise PlatformError(f"pipeline {path.name}: {exc}") from None
        if INPUTS_DIR in plan.step_names:
            raise PlatformError(f"pipeline {path.name}: a step named {INPUTS_DIR!r} would clash with the job's inputs")
        if request.name is not None:
            check_job_name(request.name)

        self._reap()
        if request.name is None:
            name = self.records.claim(request.experiment_name)
        elif self.records.claim_name(request.name):
            name = request.name
        else:
            return request.name  # submitted before (an attempt that lost the answer asks again): that job
        job_dir = self.records.job_dir(name)
        for input_name, spec in inputs.items():
            if spec["kind"] == "blob_prefix":
                spec["resolved"] = str(job_dir / INPUTS_DIR / input_name)
        record: dict[str, Any] = {
            "name": name,
            "display_name": request.display_name or plan.display_name or name,
            "experiment_name": request.experiment_name,
            "pipeline_yaml": str(path),
            "tags": {**plan.tags, **{str(k): str(v) for k, v in request.tags.items()}},
            "compute": request.compute,
            "inputs": inputs,
            JOB_RECORD_KEY: {s["asset_name"]: s["asset_version"] for s in inputs.values() if s.get("asset_latest")},
            "status": "NotStarted",
            "created_at": utc_stamp(),
            "started_at": None,
            "ended_at": None,
            "pid": None,
            "pid_started": None,
            "steps": {s: {"status": "NotStarted", "exit_code": None, "duration_s": None} for s in plan.step_names},
            "outputs": {},
            "error": None,
            "job_dir": str(job_dir),
            "log": str(job_dir / LOG_FILE),
        }
        write_json(job_dir / PLAN_FILE, plan.to_json())
        self.records.write(name, record)
        self._start(name, job_dir)
        return name

    def get_job(self, name: str) -> JobInfo:
        return job_info(self.record(name))

    # --- more than the port ---------------------------------------------------------------------------

    def record(self, name: str) -> dict[str, Any]:
        """The whole job record (inputs and their resolved values, steps, outputs, error, log path, …).
        A NotStarted/Running record whose process is gone becomes Failed here. NotFoundError if unknown."""
        self._reap()
        record = self.records.read(name)
        if record.get("status") in ACTIVE and not self._alive(name, record):
            record = self._mark_gone(name)
        return record

    def wait(self, name: str, timeout: float, poll: float = 0.5) -> JobInfo:
        """Poll until the job is finished; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.get_job(name)
            if info.finished:
                return info
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"job {name} is still {info.status} after {timeout:g}s")
            time.sleep(min(poll, remaining))

    def list_jobs(self) -> list[JobInfo]:
        """Every job in the state folder, oldest first."""
        records = []
        for name in self.records.names():
            with contextlib.suppress(NotFoundError, ValueError):
                records.append(self.record(name))
        records.sort(key=lambda r: (str(r.get("created_at") or ""), str(r["name"])))
        return [job_info(r) for r in records]

    def cancel(self, name: str) -> None:
        """Mark the job Canceled and stop its whole process group (SIGTERM, SIGKILL after a grace period).
        A finished job is left as it is. NotFoundError if unknown."""
        record = self.records.read(name)
        if record.get("status") in FINAL:
            return

        def canceled(doc: dict[str, Any]) -> bool:
            finish(doc, "Canceled", "canceled on request")
            return True

        record = self.records.update(name, canceled)
        if record.get("status") != "Canceled":
            return  # it finished in the meantime
        self._stop_group(name, record)

    def close(self) -> None:
        """Cancel every job this object started that is still running."""
        with self._lock:
            running = [name for name, process in self._processes.items() if process.poll() is None]
        for name in running:
            with contextlib.suppress(NotFoundError):
                self.cancel(name)
        self._reap()

    def _reap(self) -> None:
        """Collect the exit status of finished job processes (no zombies in a long-lived host process)."""
        with self._lock:
            for name in [n for n, p in self._processes.items() if p.poll() is not None]:
                pgid = self._processes.pop(name).pid
                if not group_exists(pgid):
                    self.processes.forget(pgid)

    # --- internals ------------------------------------------------------------------------------------

    def _settings(self) -> Settings:
        return Settings({**os.environ, **self.env})

    def _job_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        # The project root is importable in the job process and its steps (appended: a step's own code folder
        # comes first), so a hook named by MLOPS_LOCAL_REGISTRY_HOOK (an app module) loads in the register step.
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if str(PROJECT_ROOT) not in paths:
            paths.append(str(PROJECT_ROOT))
        return {
            **env,
            "PYTHONPATH": os.pathsep.join(paths),
            "MLOPS_MODE": "local",
            "LOCAL_STATE_DIR": str(self.state_dir),
            "PYTHONUNBUFFERED": "1",
        }

    def _start(self, name: str, job_dir: Path) -> None:
        command = [sys.executable, "-m", "shared.local.job_worker", "run", str(self.state_dir), name]
        try:
            with (job_dir / LOG_FILE).open("ab") as log:
                process = self.processes.start(
                    command,
                    what=f"job {name} (shared.local.job_worker)",
                    cwd=PROJECT_ROOT,
                    env=self._job_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        except OSError as exc:
            message = f"could not start the job process: {exc}"
            self.records.update(name, lambda doc: finish(doc, "Failed", message) or True)
            raise PlatformError(f"job {name}: {message}") from exc
        with self._lock:
            self._processes[name] = process
        started = process_started(process.pid)

        def started_process(doc: dict[str, Any]) -> bool:
            if doc.get("pid") is None:  # the job process may have recorded itself already
                doc["pid"], doc["pid_started"] = process.pid, started
            return True

        self.records.update(name, started_process)

    def _alive(self, name: str, record: Mapping[str, Any]) -> bool:
        process = self._processes.get(name)
        if process is not None and process.poll() is not None:
            return False
        pid = record.get("pid")
        if pid is None:
            created = parse_time(record.get("created_at"))
            return created is not None and (datetime.now(UTC) - created).total_seconds() < NEVER_STARTED_AFTER_S
        return process_alive(int(pid), record.get("pid_started"))

    def _mark_gone(self, name: str) -> dict[str, Any]:
        def gone(doc: dict[str, Any]) -> bool:
            if doc.get("status") not in ACTIVE or self._alive(name, doc):
                return False
            finish(doc, "Failed", PROCESS_GONE)
            return True

        record = self.records.update(name, gone)
        if record.get("error") == PROCESS_GONE and record.get("pid"):
            # A step the dead job process started may still run in the job's process group: stop it. (A pid is not
            # reused while a process group of that id exists, so this group is the job's.)
            signal_group(int(record["pid"]), signal.SIGKILL)
            self.processes.forget(int(record["pid"]))
        return record

    def _stop_group(self, name: str, record: Mapping[str, Any]) -> None:
        pid = record.get("pid")
        process = self._processes.get(name)
        if pid is None and process is not None:
            pid = process.pid
        if pid is None:
            return  # not started yet: the job process sees the Canceled record and exits at once
        stop_group(int(pid), process, record.get("pid_started"))
        if not group_exists(int(pid)):
            self.processes.forget(int(pid))
