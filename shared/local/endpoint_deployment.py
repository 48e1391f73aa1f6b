"""One deployment of the local endpoint platform: ``ml_assets/src/scoring/score.py`` under ``azmlinfsrv`` for one
model, its console log and its provisioning state.

- **Process**: :class:`shared.local.serve.ScoringServer` on its own free loopback port, for the model of the
  :class:`~shared.ports.DeploymentSpec` (``azureml:<name>:<version>`` resolved through the model registry port,
  or a local model folder). Launching is a ``Popen`` only; the deployment is ``Creating`` until score.py's
  ``init()`` has loaded the model, then ``Succeeded``; ``Failed`` (with the tail of its output) if the process
  exits or does not get ready within the start-up timeout, or when the model cannot be resolved. A deployment whose
  process dies later turns ``Failed`` too. Deleting is ``Deleting`` until the requests in flight are answered and
  the process group is stopped, then the deployment is gone.
- **Console logs**: every line a deployment prints (start-up output and the ``MLOPS_INFERENCE_V1`` lines) goes,
  as it arrives, to :class:`shared.local.console_logs.ConsoleLogWriter` (``<console_log_root>/<endpoint>/
  <deployment>/…``), the local ``AmlOnlineEndpointConsoleLog`` that the export reads.
- **Data collection**: a spec with ``data_collection`` runs score.py's collector for real, in the package's
  local capture mode (:data:`LOCAL_DATA_COLLECTION_ENV`): there is no collector sidecar and no workspace blob
  store here, so what it collects is written to the deployment's log (``local.capture`` lines: time, collection,
  request id, the records as JSON), in the console-log files beside the inference lines, which the export skips.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.local.console_logs import ConsoleLogWriter
from shared.local.process_registry import ProcessRegistry
from shared.local.serve import ScoringServer, ServeError
from shared.ports import DeploymentSpec, DeploymentState, ModelRegistry, PlatformError

log = logging.getLogger(__name__)

OUTPUT_TAIL_LINES = 200  # kept in memory per deployment, for the failure text (inference lines reach ~32 KB)
DRAIN_SECONDS = 30.0  # a deleted deployment answers the requests it has before it is stopped

# The azureml-ai-monitoring package's own switches: every collection on, payloads logged instead of sent.
LOCAL_DATA_COLLECTION_ENV = {"AZUREML_MDC_ENABLED": "true", "AZUREML_MDC_LOCAL_CAPTURE": "true"}

_WORKSPACE_MODEL = re.compile(r"^azureml:(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*):(?P<version>[^:/@]+)$")
_EXCEPTION_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception)(?::\s|$)")


def now() -> str:
    return datetime.now(UTC).isoformat()


def startup_error(exc: BaseException, output: list[str], tail: int = 20) -> str:
    """A deployment's failure text: what happened, the first exception line its output shows (the root cause
    of a chained traceback), then its last ``tail`` lines."""
    what = str(exc).split("\n", 1)[0].rstrip(":")
    causes = [line.strip() for line in output if _EXCEPTION_LINE.match(line) and "UserScriptException" not in line]
    headline = f"{what}: {causes[0]}" if causes else what
    return headline + ("\n--- last output ---\n" + "\n".join(output[-tail:]) if output else "")


def deployment_env(spec: DeploymentSpec) -> dict[str, str]:
    """What a deployment adds to azmlinfsrv's environment, as Azure ML's deployment would set it."""
    env = {
        "DEPLOYMENT_NAME": spec.name,
        "ENDPOINT_NAME": spec.endpoint,
        "MODEL_NAME": spec.model_name,
        "MODEL_VERSION": spec.model_version,
    }
    if spec.data_collection:
        env.update(LOCAL_DATA_COLLECTION_ENV)
    return env


def resolve_model(spec: DeploymentSpec, registry: ModelRegistry) -> Path:
    """The folder azmlinfsrv gets as ``AZUREML_MODEL_DIR``: ``<registry>/<name>/<version>`` for a registered
    model (score.py reads name and version from it, as on Azure ML), or the local folder given."""
    ref = spec.model
    found = _WORKSPACE_MODEL.fullmatch(ref)
    if found:
        info = registry.get_model(found["name"], found["version"])  # NotFoundError: unknown model
        if not info.path:
            raise PlatformError(f"model {found['name']}:{found['version']} has no local path")
        path = Path(info.path)
        return path.parent if path.parent.name == str(info.version) else path
    if ref.startswith("azureml:"):
        raise PlatformError(
            f"model reference {ref!r}: the local platform resolves azureml:<name>:<version> and local folders "
            "(no Azure ML registries)"
        )
    path = Path(ref).expanduser()
    if not path.is_dir():
        raise PlatformError(f"model reference {ref!r} is neither azureml:<name>:<version> nor a model folder")
    return path.resolve()


@dataclass
class LocalDeployment:
    """A deployment's state; its fields change under the platform's lock (passed to :meth:`watch` and
    :meth:`drain_and_stop`)."""

    spec: DeploymentSpec
    state: str = "Creating"
    error: str | None = None
    model_dir: Path | None = None
    server: ScoringServer | None = None
    writer: ConsoleLogWriter | None = None
    created_at: str = field(default_factory=now)
    ready_at: str | None = None
    in_flight: int = 0
    stopping: bool = False  # the platform stops it (deletion, failure, close): an exit is not a crash

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def serving_port(self) -> int | None:
        return self.server.port if self.server is not None else None

    def view(self) -> DeploymentState:
        return DeploymentState(self.spec.name, self.state, self.spec.model, self.error)

    def to_json(self) -> dict[str, Any]:
        server = self.server
        running = server is not None and server.process is not None and server.process.poll() is None
        return {
            "model": self.spec.model,
            "model_name": self.spec.model_name,
            "model_version": self.spec.model_version,
            "model_dir": str(self.model_dir) if self.model_dir else None,
            "provisioning_state": self.state,
            "error": self.error,
            "port": server.port if server is not None and server.port else None,
            "pid": server.pid if running and server is not None else None,
            "scoring_uri": server.scoring_url if running and server is not None else None,
            "created_at": self.created_at,
            "ready_at": self.ready_at,
            "tags": dict(self.spec.tags),
        }

    def launch(
        self, model_dir: Path, console_log_root: Path, env: Mapping[str, str], registry: ProcessRegistry
    ) -> None:
        """Start azmlinfsrv for ``model_dir`` with ``env`` added to its environment, its process group recorded in
        ``registry``; ServeError or OSError if it cannot start."""
        spec = self.spec
        self.model_dir = model_dir
        self.writer = ConsoleLogWriter(console_log_root, spec.endpoint, spec.name)
        self.server = ScoringServer(
            model_dir,
            env={**env, **deployment_env(spec)},
            on_line=self.writer.write,
            max_lines=OUTPUT_TAIL_LINES,  # the console-log files have everything
            registry=registry,
            what=f"azmlinfsrv for deployment {spec.endpoint}/{spec.name} ({spec.model})",
        )
        self.server.launch()  # Popen only: milliseconds, so the router is not held up

    def failed_to_launch(self, exc: BaseException) -> None:
        self.state, self.error = "Failed", f"{type(exc).__name__}: {exc}"
        self.stopping = True
        if self.writer is not None:
            self.writer.close()

    def watch(
        self, lock: threading.RLock, changed: Callable[[], None], *, startup_timeout: float, cancel: threading.Event
    ) -> None:
        """Start-up (Creating → Succeeded | Failed), then a crash watch (Succeeded → Failed); ``changed`` is called
        under ``lock`` after each change. Runs in its own thread until the process ends."""
        server = self.server
        assert server is not None and server.process is not None
        endpoint, name = self.spec.endpoint, self.spec.name
        try:
            server.wait_ready(startup_timeout, cancel=cancel)
        except ServeError as exc:
            with lock:
                if self.stopping:  # deleted or closed meanwhile: nothing to report
                    return
                self.state, self.error, self.stopping = "Failed", startup_error(exc, server.output()), True
            server.kill()  # exited (reap what is left of its group) or hung in init(): nothing to drain
            if self.writer is not None:
                self.writer.close()
            with lock:
                changed()
            log.warning("local deployment %s/%s failed: %s", endpoint, name, self.error.split("\n", 1)[0])
            return
        with lock:
            if self.stopping:
                return
            self.state, self.ready_at = "Succeeded", now()
            changed()
        log.info("local deployment %s/%s: ready on port %s", endpoint, name, server.port)
        code = server.process.wait()
        with lock:
            if self.stopping:
                return
            self.state, self.stopping = "Failed", True
            self.error = startup_error(ServeError(f"azmlinfsrv exited with {code} while serving"), server.output())
        server.kill()  # what is left of its process group
        if self.writer is not None:
            self.writer.close()
        with lock:
            changed()
        log.error("local deployment %s/%s: process exited with %s", endpoint, name, code)

    def drain_and_stop(self, lock: threading.RLock, stop_timeout: float) -> None:
        """Wait (at most :data:`DRAIN_SECONDS`) for the requests in flight to be answered, then stop the process."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            with lock:
                if self.in_flight <= 0:
                    break
            time.sleep(0.05)
        if self.server is not None and self.ready_at is not None:
            self.server.stop(timeout=stop_timeout)
        elif self.server is not None:
            self.server.kill()  # still starting, or failed: nothing to drain
        if self.writer is not None:
            self.writer.close()


def stop_all(deployments: Sequence[LocalDeployment], stop_timeout: float) -> None:
    """Stop the process groups of ``deployments`` (marked ``stopping`` by the caller) and close their console logs.

    One still starting has nothing to finish (and gunicorn ignores SIGTERM while a worker boots): it is killed.
    The others get SIGTERM all at once, so they shut down in parallel, and SIGKILL after ``stop_timeout``.
    """
    serving = [dep.server for dep in deployments if dep.server is not None and dep.ready_at is not None]
    for dep in deployments:
        if dep.server is not None and dep.ready_at is None:
            dep.server.kill()
    for server in serving:
        server.terminate()
    deadline = time.monotonic() + stop_timeout
    for server in serving:
        server.stop(timeout=max(0.0, deadline - time.monotonic()))
    for dep in deployments:
        if dep.writer is not None:
            dep.writer.close()
