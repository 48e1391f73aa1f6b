"""The local job platform: :class:`shared.ports.JobPlatform` running pipelines with the local runner in the background.

:meth:`LocalJobPlatform.submit_pipeline` validates the request (the YAML loads, every input is declared, every
data input resolves, the runner accepts the inputs) and raises :class:`shared.ports.PlatformError` before
anything starts; then it claims a job folder ``<LOCAL_STATE_DIR>/jobs/<name>/``, writes the job record
``job.json`` (status NotStarted) and starts ``python -m shared.local.jobs run <state_dir> <name>`` detached (its
own session and process group, output to ``job.log``), and returns the job name at once.

Data inputs (:class:`shared.ports.AssetInput`, or a literal given for an input the YAML declares as data):

- ``azureml:<asset>:<version>`` / ``azureml:<asset>@latest`` (or without ``azureml:``): the local data asset
  folder (``shared/local/data_assets.py``), resolved at submission and recorded (the record's ``data_assets``
  maps each asset name to the version used, which the register step reads to pin ``<asset>@latest``);
- a local path: used as is (made absolute; it must exist);
- an ``http(s)://`` URL of a blob prefix in the configured storage (``STORAGE_CONNECTION_STRING`` or
  ``STORAGE_ACCOUNT_URL``, from the platform's ``env`` over ``os.environ``): every blob under the prefix is
  downloaded, relative paths kept, into ``<job dir>/inputs/<input>/`` by the background process before the steps
  run (Azure ML's ``download`` mode, whatever mode the input asks for), so a big input never blocks the caller;
- ``azureml://datastores/...`` URIs have no local equivalent and are refused.

The background process marks the job Running, materialises the inputs, runs the runner (per-step status goes
into the record as steps start and end) and marks it Completed or Failed (also when it raises). Statuses use
Azure ML's vocabulary: NotStarted, Running, Completed, Failed, Canceled. A record that says NotStarted/Running
whose process is gone is reported (and persisted) as Failed. Record updates are read-modify-write under an
``flock`` on ``<job dir>/.lock`` and written atomically; once a record is final no one changes it again.

POSIX only (process groups, ``flock``), like the rest of the local mode.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ml_assets.src.stores.atomic_files import utc_stamp, write_json_atomic
from ml_assets.src.stores.local_data_assets import JOB_RECORD_KEY
from shared.ports import AssetInput, JobInfo, NotFoundError, PipelineJobRequest, PlatformError
from shared.settings import Settings
from shared.settings_parsing import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
JOBS_DIR = "jobs"
RECORD_FILE = "job.json"
PLAN_FILE = "plan.json"  # the runner's plan, made at submission: the job process runs it without azure-ai-ml
LOG_FILE = "job.log"
LOCK_FILE = ".lock"
INPUTS_DIR = "inputs"
ACTIVE = frozenset({"NotStarted", "Running"})
FINAL = frozenset({"Completed", "Failed", "Canceled"})
PROCESS_GONE = "the job process exited without finishing"
NEVER_STARTED_AFTER_S = 60.0  # a record without a pid this old: the submitter died before starting the process
CANCEL_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
DOWNLOAD_THREADS = 4
_PATH_TYPES = frozenset({"uri_folder", "uri_file", "mlflow_model", "custom_model", "mltable", "triton_model"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def jobs_root(state_dir: str | Path) -> Path:
    return Path(state_dir) / JOBS_DIR


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# --- the job record ------------------------------------------------------------------------------------


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

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        fd = os.open(self.job_dir(name) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def write(self, name: str, record: Mapping[str, Any]) -> None:
        _write_json(self.job_dir(name) / RECORD_FILE, record)

    def update(self, name: str, change: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Apply ``change`` to the record under the job's lock; it returns True to write. A final record (Completed,
        Failed, Canceled) is never changed. Returns the record as it is afterwards."""
        with self.locked(name):
            record = self.read(name)
            if record.get("status") not in FINAL and change(record):
                self.write(name, record)
            return record


def _write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """Atomically (a reader sees the old or the new document, never a part)."""
    write_json_atomic(path, doc, fsync=False, default=str)


def job_info(record: Mapping[str, Any]) -> JobInfo:
    return JobInfo(
        name=str(record["name"]),
        status=str(record["status"]),
        tags={str(k): str(v) for k, v in (record.get("tags") or {}).items()},
        outputs={str(k): str(v) for k, v in (record.get("outputs") or {}).items()},
        started_at=_parse_time(record.get("started_at")),
        ended_at=_parse_time(record.get("ended_at")),
    )


# --- processes ------------------------------------------------------------------------------------------


def _process_started(pid: int) -> float | None:
    try:
        import psutil
    except ImportError:  # psutil is a dev dependency (the local mode runs in the dev environment)
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def process_alive(pid: int, started: float | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, when ``started`` is known, is the same process (no pid reuse)."""
    try:
        import psutil
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 1.0
    except psutil.Error:
        return False


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# --- the platform ---------------------------------------------------------------------------------------


class LocalJobPlatform:
    """:class:`shared.ports.JobPlatform` on this machine; job records under ``<state_dir>/jobs``.

    ``env`` is added to ``os.environ`` for the job processes (and read for the storage settings of blob URL
    inputs); ``MLOPS_MODE=local`` and ``LOCAL_STATE_DIR`` are always set, and the project root is appended to
    ``PYTHONPATH`` (so an app module named by ``MLOPS_LOCAL_REGISTRY_HOOK`` imports in the register step).
    :meth:`close` (or leaving the ``with`` block) cancels every job this object started that still runs.
    """

    def __init__(self, state_dir: str | Path, *, env: Mapping[str, str] | None = None) -> None:
        self.records = JobRecords(state_dir)
        self.state_dir = self.records.state_dir
        self.env: dict[str, str] = {str(k): str(v) for k, v in (env or {}).items()}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}  # started here and not yet reaped
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, env: Mapping[str, str] | None = None) -> LocalJobPlatform:
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
        return cls(settings.local_state_dir, env={**defaults, **(env or {})})

    def __enter__(self) -> LocalJobPlatform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the port -------------------------------------------------------------------------------------

    def submit_pipeline(self, request: PipelineJobRequest) -> str:
        """Validate, record and start the job; returns its name without waiting. PlatformError if invalid."""
        from shared.local.runner import PipelineError, check_pipeline, plan_pipeline

        path = Path(request.pipeline_yaml)
        path = (path if path.is_absolute() else PROJECT_ROOT / path).resolve()
        try:
            plan = plan_pipeline(path)
        except PipelineError as exc:
            raise PlatformError(f"pipeline {request.pipeline_yaml}: {exc}") from None
        inputs = self._resolve_inputs(path, plan, request.inputs)
        placeholder = str(PROJECT_ROOT)  # blob inputs exist only once downloaded: any existing path checks
        values = {n: (placeholder if i["kind"] == "blob_prefix" else i["resolved"]) for n, i in inputs.items()}
        try:
            check_pipeline(plan, values, PROJECT_ROOT)
        except PipelineError as exc:
            raise PlatformError(f"pipeline {path.name}: {exc}") from None
        if INPUTS_DIR in plan.step_names:
            raise PlatformError(f"pipeline {path.name}: a step named {INPUTS_DIR!r} would clash with the job's inputs")

        self._reap()
        name = self.records.claim(request.experiment_name)
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
            JOB_RECORD_KEY: {s["asset_name"]: s["asset_version"] for s in inputs.values() if s["kind"] == "data_asset"},
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
        _write_json(job_dir / PLAN_FILE, plan.to_json())
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

    def log_path(self, name: str) -> Path:
        return Path(self.records.read(name)["log"])

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
            _finish(doc, "Canceled", "canceled on request")
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
                del self._processes[name]

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
        command = [sys.executable, "-m", "shared.local.jobs", "run", str(self.state_dir), name]
        try:
            with (job_dir / LOG_FILE).open("ab") as log:
                process = subprocess.Popen(
                    command,
                    cwd=PROJECT_ROOT,
                    env=self._job_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            message = f"could not start the job process: {exc}"
            self.records.update(name, lambda doc: _finish(doc, "Failed", message) or True)
            raise PlatformError(f"job {name}: {message}") from exc
        with self._lock:
            self._processes[name] = process
        started = _process_started(process.pid)

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
            created = _parse_time(record.get("created_at"))
            return created is not None and (datetime.now(UTC) - created).total_seconds() < NEVER_STARTED_AFTER_S
        return process_alive(int(pid), record.get("pid_started"))

    def _mark_gone(self, name: str) -> dict[str, Any]:
        def gone(doc: dict[str, Any]) -> bool:
            if doc.get("status") not in ACTIVE or self._alive(name, doc):
                return False
            _finish(doc, "Failed", PROCESS_GONE)
            return True

        record = self.records.update(name, gone)
        if record.get("error") == PROCESS_GONE and record.get("pid"):
            # A step the dead job process started may still run in the job's process group: stop it. (A pid is not
            # reused while a process group of that id exists, so this group is the job's.)
            _signal_group(int(record["pid"]), signal.SIGKILL)
        return record

    def _stop_group(self, name: str, record: Mapping[str, Any]) -> None:
        pid = record.get("pid")
        process = self._processes.get(name)
        if pid is None and process is not None:
            pid = process.pid
        if pid is None:
            return  # not started yet: the job process sees the Canceled record and exits at once
        pgid = int(pid)
        leader_alive = process_alive(pgid, record.get("pid_started")) if process is None else process.poll() is None
        if not leader_alive and not _group_exists(pgid):
            return
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + CANCEL_GRACE_S
        while time.monotonic() < deadline:
            if process is not None:
                process.poll()  # reap our child, or the group never looks empty
            if not _group_exists(pgid):
                return
            time.sleep(0.05)
        _signal_group(pgid, signal.SIGKILL)
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=CANCEL_GRACE_S)

    # --- input resolution (at submission) -------------------------------------------------------------

    def _resolve_inputs(self, path: Path, plan: Any, given: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        unknown = sorted(set(given) - set(plan.inputs))
        if unknown:
            raise PlatformError(
                f"pipeline {path.name} has no input {unknown[0]!r}; it declares {', '.join(sorted(plan.inputs))}"
            )
        resolved: dict[str, dict[str, Any]] = {}
        for name, default in plan.inputs.items():
            declared_type = plan.input_types.get(name)
            if name in given:
                value = given[name]
                if isinstance(value, AssetInput):
                    as_given = {"type": value.type, "path": value.path, "mode": value.mode}
                    resolved[name] = self._data_input(name, value.path, value.type, as_given)
                elif isinstance(value, bool | int | float | str):
                    if declared_type:
                        resolved[name] = self._data_input(name, str(value), declared_type, value)
                    else:
                        resolved[name] = {"kind": "literal", "value": value, "resolved": _literal_text(value)}
                else:
                    raise PlatformError(
                        f"input {name!r}: {type(value).__name__} is neither a literal nor an AssetInput"
                    )
            elif declared_type and default:
                as_declared = {"type": declared_type, "path": str(default)}  # a relative path is the YAML's
                resolved[name] = self._data_input(name, str(default), declared_type, as_declared, base=path.parent)
        return resolved

    def _data_input(self, name: str, text: str, kind: str, value: Any, *, base: Path | None = None) -> dict[str, Any]:
        from shared.local.data_assets import LocalDataAssetStore, is_ref

        text = text.strip()
        out: dict[str, Any] = {"value": value, "type": kind}
        if text.startswith("azureml://"):
            raise PlatformError(
                f"input {name}: {text} is an Azure ML datastore URI, which has no local equivalent; pass a data "
                "asset reference (azureml:<name>:<version>, azureml:<name>@latest), a local path, or an http(s) "
                "URL of a blob prefix in the configured storage"
            )
        if text.startswith(("http://", "https://")):
            container, prefix = self._blob_location(name, text)
            return {**out, "kind": "blob_prefix", "url": text, "container": container, "prefix": prefix}
        if _SCHEME.match(text):
            raise PlatformError(f"input {name}: {text}: only http(s) blob URLs are supported locally")
        if text.startswith("azureml:") or (is_ref(text) and not ((base or Path.cwd()) / text).exists()):
            try:
                asset = LocalDataAssetStore(self.state_dir).lookup(text)
            except PlatformError as exc:
                raise PlatformError(f"input {name}: {exc}") from None
            files = [f for f in asset.path.rglob("*") if f.is_file()] if kind == "uri_file" else []
            return {
                **out,
                "kind": "data_asset",
                "resolved": str(files[0] if len(files) == 1 else asset.path),
                "asset": f"{asset.name}:{asset.version}",
                "asset_name": asset.name,
                "asset_version": asset.version,
            }
        local = Path(text).expanduser()
        local = local if local.is_absolute() else (base or Path.cwd()) / local
        if not local.exists():
            raise PlatformError(f"input {name}: {local} does not exist (a local path, as no data asset matches)")
        return {**out, "kind": "local_path", "resolved": str(local.resolve())}

    def _blob_location(self, name: str, url: str) -> tuple[str, str]:
        """``(container, prefix)`` of a blob URL in the configured storage account."""
        try:
            kind, value = self._settings().storage_auth()
        except SettingsError as exc:
            raise PlatformError(f"input {name}: {url} is a blob URL, but no storage is configured ({exc})") from None
        if kind == "connection_string":
            from azure.storage.blob import BlobServiceClient

            try:
                account = str(BlobServiceClient.from_connection_string(value).url)
            except ValueError as exc:
                raise PlatformError(f"input {name}: STORAGE_CONNECTION_STRING is malformed ({exc})") from None
        else:
            account = value
        return split_blob_url(url, account, what=f"input {name}")


def _literal_text(value: bool | int | float | str) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def split_blob_url(url: str, account_url: str, *, what: str = "blob URL") -> tuple[str, str]:
    """``(container, prefix)`` of ``url`` under the storage account at ``account_url``; the prefix is a folder
    (ends with ``/``, or is empty for the whole container). PlatformError if ``url`` is not in that account."""
    target, account = urlsplit(url), urlsplit(account_url)
    same_account = (target.scheme.lower(), target.netloc.lower()) == (account.scheme.lower(), account.netloc.lower())
    base = account.path.rstrip("/") + "/"
    if not same_account or not target.path.startswith(base):
        raise PlatformError(
            f"{what}: {url} is not in the configured storage account {account_url.rstrip('/')} "
            "(only blobs of that account can be downloaded)"
        )
    container, _, prefix = unquote(target.path[len(base) :]).partition("/")
    if not container:
        raise PlatformError(f"{what}: {url} names no container")
    prefix = prefix.strip("/")
    return container, (prefix + "/" if prefix else "")


# --- the job process: python -m shared.local.jobs run <state_dir> <name> --------------------------------


def _finish(doc: dict[str, Any], status: str, error: str | None) -> None:
    doc["status"] = status
    doc["ended_at"] = utc_stamp()
    if error:
        doc["error"] = error
    for step in (doc.get("steps") or {}).values():
        if step.get("status") == "Running":
            step["status"] = status if status != "Completed" else step["status"]
        elif step.get("status") == "NotStarted":
            step["status"] = "Skipped"


def download_blob_input(settings: Settings, container: str, prefix: str, dest: Path) -> list[Path]:
    """Download every blob under ``prefix`` of ``container`` into ``dest`` (relative paths kept), or, when none is
    under it, the single blob named ``prefix`` without its slash. Returns the files written. PlatformError."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    from shared.azure.storage import blob_service_client, translate_azure_error

    client = blob_service_client(settings).get_container_client(container)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        names = [b.name for b in client.list_blobs(name_starts_with=prefix) if not b.name.endswith("/")]
        if not names and prefix:
            single = prefix.rstrip("/")
            with contextlib.suppress(ResourceNotFoundError):
                client.get_blob_client(single).get_blob_properties()
                return [_download(client, single, root / single.rsplit("/", 1)[-1])]
    except AzureError as exc:
        raise translate_azure_error(exc, f"list {container}/{prefix}") from exc
    if not names:
        raise PlatformError(f"no blobs under {container}/{prefix} (an empty or missing folder)")
    targets = []
    for blob in names:
        target = (root / blob[len(prefix) :]).resolve()
        if not target.is_relative_to(root) or target == root:
            raise PlatformError(f"blob {container}/{blob}: its path leaves the input folder")
        targets.append((blob, target))
    with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
        return list(pool.map(lambda item: _download(client, *item), targets))


def _download(client: Any, blob: str, target: Path) -> Path:
    from azure.core.exceptions import AzureError

    from shared.azure.storage import translate_azure_error

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as handle:
            client.download_blob(blob).readinto(handle)
        os.replace(partial, target)
    except AzureError as exc:
        partial.unlink(missing_ok=True)
        raise translate_azure_error(exc, f"download {blob}") from exc
    return target


def _materialise(record: dict[str, Any], settings: Settings) -> dict[str, str]:
    """The runner's input values; blob inputs downloaded first."""
    values: dict[str, str] = {}
    for name, spec in (record.get("inputs") or {}).items():
        if spec["kind"] == "blob_prefix":
            dest = Path(spec["resolved"])
            t0 = time.monotonic()
            print(f"[job] input {name}: downloading {spec['url']} into {dest}", flush=True)
            try:
                files = download_blob_input(settings, spec["container"], spec["prefix"], dest)
            except PlatformError as exc:
                raise PlatformError(f"input {name}: downloading {spec['url']} failed: {exc}") from None
            size = sum(f.stat().st_size for f in files)
            print(f"[job] input {name}: {len(files)} files, {size} bytes in {time.monotonic() - t0:.1f}s", flush=True)
            if spec.get("type") == "uri_file" and len(files) == 1:
                values[name] = str(files[0])
                continue
        values[name] = str(spec["resolved"])
    return values


def _failure_detail(job_dir: Path, step: str | None, lines: int = 3) -> str:
    if not step:
        return ""
    try:
        tail = [line.strip() for line in (job_dir / step / "output.log").read_text().splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(tail[-lines:])[-500:]


def run_job(state_dir: str | Path, name: str) -> int:
    """The body of the job process: mark Running, materialise the inputs, run the steps, record the outcome."""
    from shared.local.runner import PipelinePlan, StepResult, run_pipeline

    records = JobRecords(state_dir)
    me, me_started = os.getpid(), _process_started(os.getpid())

    def running(doc: dict[str, Any]) -> bool:
        if doc.get("status") != "NotStarted":
            return False
        doc.update(status="Running", started_at=utc_stamp(), pid=me, pid_started=me_started)
        return True

    record = records.update(name, running)
    if record.get("status") != "Running" or record.get("pid") != me:
        print(f"[job] {name} is {record.get('status')}: not running it", flush=True)
        return 0
    print(f"[job] {name} running (pid {me}): {record['pipeline_yaml']}", flush=True)

    def on_step(step: StepResult) -> None:
        def change(doc: dict[str, Any]) -> bool:
            doc.setdefault("steps", {})[step.name] = {
                "status": step.status,
                "exit_code": step.exit_code,
                "duration_s": step.duration_s,
            }
            doc["outputs"] = {**doc.get("outputs", {}), **{f"{step.name}.{o}": p for o, p in step.outputs.items()}}
            return True

        records.update(name, change)

    try:
        values = _materialise(record, Settings())
        plan = PipelinePlan.from_json(json.loads((records.job_dir(name) / PLAN_FILE).read_text()))
        result = run_pipeline(
            plan,
            values,
            records.root,
            state_dir=records.state_dir,
            job_name=name,
            stream=sys.stdout,
            on_step=on_step,
        )
        summary = result.summary()
        failed = next((s for s, r in result.steps.items() if r.status == "Failed"), None)
        error = result.error
        if error and (detail := _failure_detail(result.workdir, failed)):
            error = f"{error}: {detail}"

        def done(doc: dict[str, Any]) -> bool:
            doc["steps"] = {
                s: {"status": r["status"], "exit_code": r["exit_code"], "duration_s": r["duration_s"]}
                for s, r in summary["steps"].items()
            }
            doc["outputs"] = summary["outputs"]
            _finish(doc, result.status, error)
            return True

        record = records.update(name, done)
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the record must say Failed
        if not isinstance(exc, PlatformError):  # a PlatformError says all there is to say
            traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, PlatformError) else str(exc)
        records.update(name, lambda doc: _finish(doc, "Failed", message) or True)
        print(f"[job] {name} Failed: {message}", flush=True)
        return 1
    print(f"[job] {name} {record['status']}" + (f": {record['error']}" if record.get("error") else ""), flush=True)
    return 0 if record["status"] == "Completed" else 1


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3 or args[0] != "run":
        print("usage: python -m shared.local.jobs run STATE_DIR JOB_NAME", file=sys.stderr)
        return 2
    return run_job(args[1], args[2])


if __name__ == "__main__":
    sys.exit(main())
