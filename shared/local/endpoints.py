"""The local endpoint platform: :class:`shared.ports.EndpointPlatform` with deployments as ``azmlinfsrv`` processes.

What a managed online endpoint is in Azure ML, on one machine:

- **Endpoint**: a router, a ``ThreadingHTTPServer`` on a free loopback port (a daemon thread of this process).
  ``POST /score`` goes to the deployment named by the ``azureml-model-deployment`` request header, else to one
  chosen at random by the live traffic weights (no live traffic: 503, as Azure answers). With mirror traffic,
  that share of requests is also copied, asynchronously and best effort, to the mirror deployment, whose answer
  is discarded. The response carries the deployment's status and body and an ``azureml-model-deployment``
  header naming the deployment that served it. ``GET /`` answers 200 (liveness).
- **Deployment**: ``ml_assets/src/scoring/score.py`` under ``azmlinfsrv`` (:class:`shared.local.serve.ScoringServer`)
  on its own free loopback port, for the model of the :class:`~shared.ports.DeploymentSpec`
  (``azureml:<name>:<version>`` resolved through the model registry port, or a local model folder).
  :meth:`LocalEndpointPlatform.begin_create_deployment` returns at once; the deployment is ``Creating`` until
  score.py's ``init()`` has loaded the model, then ``Succeeded``; ``Failed`` (with the tail of its output) if
  the process exits or does not get ready within ``startup_timeout``, or when the model cannot be resolved.
  A deployment whose process dies later turns ``Failed`` too. Deleting is ``Deleting`` until the requests in
  flight are answered and the process group is stopped, then the deployment is gone.
- **Console logs**: every line a deployment prints (start-up output and the ``MLOPS_INFERENCE_V1`` lines) goes,
  as it arrives, to :class:`shared.local.console_logs.ConsoleLogWriter` (``<console_log_root>/<endpoint>/
  <deployment>/…``), the local ``AmlOnlineEndpointConsoleLog`` that the export reads.
- **Rules**: Azure ML's (traffic sums to 100, mirror ≤ 50 % and never to a live deployment, no deletion with
  traffic, deployment names), from :mod:`shared.platform_rules`, the same code as the fake platform
  the rollout reconciler is tested against, so both refuse the same calls with the same errors.
- **State file**: after every change, ``<state_dir>/endpoints/<endpoint>.json`` (written atomically) shows the
  traffic, mirror and each deployment's model, port, pid, provisioning state and error, for other processes and
  humans. It is a view, not a store: the object that started the processes owns them.

Lifetime: :meth:`LocalEndpointPlatform.close` (also on ``with`` exit, and registered with ``atexit``) stops
every process group (SIGTERM, SIGKILL after ``stop_timeout``) and the routers. It is idempotent and safe to
call from a signal handler in the main thread (the lock is re-entrant and nothing waits long under it). A
process killed with SIGKILL cannot run it: its deployments' process groups then outlive it.

Mirrored copies carry the request id ``<id>-mirror``: the export groups console-log lines by request id, and a
copy under the same id from another deployment would make both requests inconsistent (quarantined).
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ml_assets.src.stores.atomic_files import write_json_atomic
from shared import platform_rules
from shared.local.console_logs import ConsoleLogWriter, console_log_root
from shared.local.serve import LOOPBACK, ScoringServer, ServeError
from shared.ports import (
    DeploymentSpec,
    DeploymentState,
    EndpointState,
    ModelRegistry,
    NotFoundError,
    PlatformError,
    TransientError,
)
from shared.settings import Settings

log = logging.getLogger(__name__)

DEPLOYMENT_HEADER = "azureml-model-deployment"
REQUEST_ID_HEADERS = ("x-request-id", "x-ms-client-request-id")
MAX_BODY_BYTES = 16 * 1024 * 1024  # the router's limit; score.py applies its own (smaller) one
MIRROR_IN_FLIGHT = 8  # mirrored copies under way at once; more are dropped (mirroring is best effort)
OUTPUT_TAIL_LINES = 200  # kept in memory per deployment, for the failure text (inference lines reach ~32 KB)
DRAIN_SECONDS = 30.0  # a deleted deployment answers the requests it has before it is stopped
NO_DEPLOYMENT = (
    "No valid deployments to route to. Please check that the endpoint has at least one deployment with positive "
    f"weight values or use a deployment specific header ({DEPLOYMENT_HEADER}) to route."
)

_WORKSPACE_MODEL = re.compile(r"^azureml:(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*):(?P<version>[^:/@]+)$")
_EXCEPTION_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception)(?::\s|$)")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _snippet(data: bytes | str, limit: int = 300) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_of(body: bytes) -> str:
    """The error message of a JSON error answer (``{"error": …}`` from score.py), else a snippet of the body."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _snippet(body)
    if isinstance(doc, dict):
        for key in ("error", "message", "detail"):
            if isinstance(doc.get(key), str):
                return doc[key]
    return _snippet(body)


def startup_error(exc: BaseException, output: list[str], tail: int = 20) -> str:
    """A deployment's failure text: what happened, the first exception line its output shows (the root cause
    of a chained traceback), then its last ``tail`` lines."""
    what = str(exc).split("\n", 1)[0].rstrip(":")
    causes = [line.strip() for line in output if _EXCEPTION_LINE.match(line) and "UserScriptException" not in line]
    headline = f"{what}: {causes[0]}" if causes else what
    return headline + ("\n--- last output ---\n" + "\n".join(output[-tail:]) if output else "")


# --- state ---------------------------------------------------------------------------------------------------


@dataclass
class _Deployment:
    spec: DeploymentSpec
    state: str = "Creating"
    error: str | None = None
    model_dir: Path | None = None
    server: ScoringServer | None = None
    writer: ConsoleLogWriter | None = None
    created_at: str = field(default_factory=_now)
    ready_at: str | None = None
    in_flight: int = 0
    stopping: bool = False  # the platform stops it (deletion, failure, close): an exit is not a crash

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


@dataclass
class _Endpoint:
    name: str
    router: _Router
    thread: threading.Thread
    rng: random.Random
    traffic: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)
    deployments: dict[str, _Deployment] = field(default_factory=dict)
    served: Counter[str] = field(default_factory=Counter)
    mirrored: Counter[str] = field(default_factory=Counter)
    mirror_dropped: int = 0
    created_at: str = field(default_factory=_now)

    @property
    def port(self) -> int:
        return int(self.router.server_address[1])

    @property
    def scoring_uri(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/score"


# --- the router ----------------------------------------------------------------------------------------------


class _Router(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, route: Callable[[bytes, Mapping[str, str]], tuple[int, bytes, dict[str, str]]]) -> None:
        self.route = route
        super().__init__((LOOPBACK, 0), _RouterHandler)


class _RouterHandler(BaseHTTPRequestHandler):
    server: _Router
    protocol_version = "HTTP/1.1"
    server_version = "mlops-local-endpoint"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("router %s: " + format, self.server.server_address[1], *args)

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        merged = {"Content-Type": "application/json", **(headers or {})}
        for name, value in merged.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, *, close: bool = False) -> None:
        self.close_connection = self.close_connection or close
        self._reply(status, json.dumps({"error": message}).encode())

    def do_GET(self) -> None:
        if urlsplit(self.path).path in ("", "/"):
            self._reply(200, b'{"status": "Healthy"}')
        else:
            self._error(404, f"no route {urlsplit(self.path).path}: POST /score")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._error(411, "send the body with a Content-Length", close=True)
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self._error(400, "Content-Length is not a number", close=True)
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self._error(413, f"the request body is larger than {MAX_BODY_BYTES} bytes", close=True)
            return
        body = self.rfile.read(length) if length else b""
        if path != "/score":
            self._error(404, f"no route {path}: POST /score")
            return
        try:
            status, answer, headers = self.server.route(body, {k.lower(): v for k, v in self.headers.items()})
        except Exception as exc:  # a bug in the router answers 500, it never drops the connection
            log.exception("router %s: request failed", self.server.server_address[1])
            self._error(500, f"the local endpoint router failed: {type(exc).__name__}: {exc}", close=True)
            return
        self._reply(status, answer, headers)


# --- the platform --------------------------------------------------------------------------------------------


class LocalEndpointPlatform:
    """:class:`shared.ports.EndpointPlatform` on this machine (see the module docstring)."""

    def __init__(
        self,
        state_dir: str | Path,
        registry: ModelRegistry,
        console_log_root: Path,
        *,
        startup_timeout: float = 120.0,
        request_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        deployment_env: Mapping[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        """``deployment_env``: extra environment of every deployment (e.g. ``MAX_RECORDS_PER_REQUEST``);
        ``seed``: makes the routers' random choices reproducible."""
        self.state_dir = Path(state_dir)
        self.registry = registry
        self.console_log_root = Path(console_log_root)
        self.startup_timeout = startup_timeout
        self.request_timeout = request_timeout
        self.stop_timeout = stop_timeout
        self.deployment_env = dict(deployment_env or {})
        self._seed = seed
        self._lock = threading.RLock()
        self._endpoints: dict[str, _Endpoint] = {}
        self._closed = False
        self._closing = threading.Event()
        self._mirror_slots = threading.BoundedSemaphore(MIRROR_IN_FLIGHT)
        atexit.register(self.close)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalEndpointPlatform:
        from shared.local.registry import LocalRegistry

        return cls(settings.local_state_dir, LocalRegistry(settings.local_state_dir), console_log_root(settings))

    @property
    def endpoints_dir(self) -> Path:
        return self.state_dir / "endpoints"

    def state_file(self, endpoint: str) -> Path:
        return self.endpoints_dir / f"{endpoint}.json"

    # --- the port: endpoints ------------------------------------------------------------------------------

    def get_endpoint(self, name: str) -> EndpointState | None:
        with self._lock:
            ep = self._endpoints.get(name)
            if ep is None:
                return None
            return EndpointState(name, "Succeeded", dict(ep.traffic), dict(ep.mirror), ep.scoring_uri)

    def begin_create_endpoint(self, name: str) -> None:
        platform_rules.check_endpoint_name(name)
        with self._lock:
            self._check_open()
            if name in self._endpoints:
                return
            router = _Router(lambda body, headers: self._route(name, body, headers))
            thread = threading.Thread(
                target=router.serve_forever, kwargs={"poll_interval": 0.2}, name=f"endpoint-{name}", daemon=True
            )
            rng = random.Random(None if self._seed is None else f"{self._seed}:{name}")
            ep = self._endpoints[name] = _Endpoint(name, router, thread, rng)
            thread.start()
            self._save(ep)
        log.info("local endpoint %s: router at %s", name, ep.scoring_uri)

    # --- the port: deployments ----------------------------------------------------------------------------

    def begin_create_deployment(self, spec: DeploymentSpec) -> None:
        platform_rules.check_deployment_name(spec.name)
        with self._lock:
            self._check_open()
            ep = self._endpoint(spec.endpoint)
            existing = ep.deployments.get(spec.name)
            if existing is not None:
                platform_rules.existing_deployment_matches(spec, existing.state, existing.spec.model)
                return
            dep = ep.deployments[spec.name] = _Deployment(spec)
            try:
                dep.model_dir = self._resolve_model(spec)
                dep.writer = ConsoleLogWriter(self.console_log_root, spec.endpoint, spec.name)
                dep.server = ScoringServer(
                    dep.model_dir,
                    env={
                        **self.deployment_env,
                        "DEPLOYMENT_NAME": spec.name,
                        "ENDPOINT_NAME": spec.endpoint,
                        "MODEL_NAME": spec.model_name,
                        "MODEL_VERSION": spec.model_version,
                    },
                    on_line=dep.writer.write,
                    max_lines=OUTPUT_TAIL_LINES,  # the console-log files have everything
                )
                dep.server.launch()  # Popen only: milliseconds, so the router is not held up
            except (PlatformError, ServeError, OSError) as exc:
                dep.state, dep.error = "Failed", f"{type(exc).__name__}: {exc}"
                dep.stopping = True
                if dep.writer is not None:
                    dep.writer.close()
                self._save(ep)
                log.warning("local deployment %s/%s failed: %s", spec.endpoint, spec.name, dep.error)
                return
            self._save(ep)
            threading.Thread(
                target=self._watch, args=(ep, dep), name=f"deployment-{spec.endpoint}-{spec.name}", daemon=True
            ).start()
        log.info("local deployment %s/%s: starting %s (pid %s)", spec.endpoint, spec.name, spec.model, dep.server.pid)

    def get_deployment(self, endpoint: str, name: str) -> DeploymentState | None:
        with self._lock:
            ep = self._endpoints.get(endpoint)
            dep = ep.deployments.get(name) if ep is not None else None
            return dep.view() if dep is not None else None

    def list_deployments(self, endpoint: str) -> list[DeploymentState]:
        with self._lock:
            ep = self._endpoints.get(endpoint)
            if ep is None:
                return []
            return [ep.deployments[name].view() for name in sorted(ep.deployments)]

    def set_traffic(self, endpoint: str, traffic: Mapping[str, int], mirror: Mapping[str, int] | None = None) -> None:
        with self._lock:
            self._check_open()
            ep = self._endpoint(endpoint)

            def state_of(name: str) -> str | None:
                dep = ep.deployments.get(name)
                return dep.state if dep is not None else None

            ep.traffic, ep.mirror = platform_rules.check_traffic(traffic, mirror, state_of)
            self._save(ep)
        log.info("local endpoint %s: traffic %s, mirror %s", endpoint, ep.traffic, ep.mirror)

    def begin_delete_deployment(self, endpoint: str, name: str) -> None:
        with self._lock:
            ep = self._endpoint(endpoint)
            dep = ep.deployments.get(name)
            if dep is None or dep.state == "Deleting":
                return
            platform_rules.check_deletable(name, ep.traffic, ep.mirror)
            dep.state, dep.stopping = "Deleting", True
            self._save(ep)
        threading.Thread(target=self._delete, args=(ep, dep), name=f"delete-{endpoint}-{name}", daemon=True).start()

    def invoke(self, endpoint: str, deployment: str, body: bytes) -> bytes:
        """POST ``body`` to one deployment (not through the traffic rules). 4xx → PlatformError with the answer's
        error; 500 (score.py failed) → PlatformError, as the Azure implementation maps it; connection failure,
        timeout, 502/503/504 → TransientError."""
        with self._lock:
            ep = self._endpoint(endpoint)
            dep = ep.deployments.get(deployment)
            if dep is None:
                raise NotFoundError(f"HTTP 404: deployment {deployment} not found on endpoint {endpoint}")
            if dep.state != "Succeeded" or dep.server is None:
                raise PlatformError(f"HTTP 404: deployment {deployment} is not ready ({dep.state})")
            dep.in_flight += 1
            port = dep.server.port
        try:
            status, answer, _ = self._post(
                port, body, {"Content-Type": "application/json", "x-request-id": f"invoke-{uuid.uuid4()}"}
            )
        except TimeoutError as exc:
            raise TransientError(
                f"invoke {deployment} on {endpoint}: timed out after {self.request_timeout:g}s"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise TransientError(f"invoke {deployment} on {endpoint}: {type(exc).__name__}: {exc}") from exc
        finally:
            with self._lock:
                dep.in_flight -= 1
        if status >= 400:
            error = f"invoke {deployment} on {endpoint}: HTTP {status}: {_error_of(answer)}"
            if status in (408, 429, 502, 503, 504):
                raise TransientError(error)
            raise PlatformError(error)
        return answer

    # --- beyond the port ----------------------------------------------------------------------------------

    def score(self, endpoint: str, body: bytes, *, headers: Mapping[str, str] | None = None) -> tuple[int, bytes, str]:
        """POST ``body`` to the endpoint's router (as a client would): (status, body, deployment that served it,
        ``""`` when none did)."""
        with self._lock:
            ep = self._endpoint(endpoint)
            port = ep.port
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=self.request_timeout + 5)
        try:
            connection.request("POST", "/score", body, {"Content-Type": "application/json", **(headers or {})})
            response = connection.getresponse()
            return response.status, response.read(), response.getheader(DEPLOYMENT_HEADER) or ""
        except (OSError, http.client.HTTPException) as exc:
            raise TransientError(f"endpoint {endpoint}: {type(exc).__name__}: {exc}") from exc
        finally:
            connection.close()

    def served_counts(self, endpoint: str) -> dict[str, int]:
        """Requests each deployment answered through the router so far (deleted deployments included; mirrored
        copies and :meth:`invoke` calls are not counted: see :meth:`mirrored_counts`)."""
        with self._lock:
            return dict(sorted(self._endpoint(endpoint).served.items()))

    def mirrored_counts(self, endpoint: str) -> dict[str, int]:
        """Mirrored copies each deployment answered so far."""
        with self._lock:
            return dict(sorted(self._endpoint(endpoint).mirrored.items()))

    def wait_deployment(self, endpoint: str, name: str, timeout: float | None = None) -> DeploymentState:
        """Block until the deployment is no longer ``Creating`` (at most ``timeout``, default the start-up
        timeout plus a margin); returns its state. NotFoundError if it does not exist."""
        deadline = time.monotonic() + (self.startup_timeout + 15 if timeout is None else timeout)
        while True:
            state = self.get_deployment(endpoint, name)
            if state is None:
                raise NotFoundError(f"deployment {name} not found on endpoint {endpoint}")
            if state.provisioning_state != "Creating" or time.monotonic() >= deadline:
                return state
            time.sleep(0.1)

    def close(self) -> None:
        """Stop every deployment's process group and every router. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._closing.set()
            endpoints = list(self._endpoints.values())
            deployments = [dep for ep in endpoints for dep in ep.deployments.values()]
            for dep in deployments:
                dep.stopping = True
        for ep in endpoints:  # no new requests (a request already forwarded still gets its answer)
            ep.router.shutdown()
            ep.router.server_close()
        # One still starting has nothing to finish (and gunicorn ignores SIGTERM while a worker boots): kill it.
        # The others get SIGTERM all at once, so they shut down in parallel, and SIGKILL after stop_timeout.
        serving = [dep.server for dep in deployments if dep.server is not None and dep.ready_at is not None]
        for dep in deployments:
            if dep.server is not None and dep.ready_at is None:
                dep.server.kill()
        for server in serving:
            server.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for server in serving:
            server.stop(timeout=max(0.0, deadline - time.monotonic()))
        for dep in deployments:
            if dep.writer is not None:
                dep.writer.close()
        with self._lock:
            for ep in endpoints:
                self._save(ep)
        atexit.unregister(self.close)

    def __enter__(self) -> LocalEndpointPlatform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise PlatformError("the local endpoint platform is closed")

    def _endpoint(self, name: str) -> _Endpoint:
        ep = self._endpoints.get(name)
        if ep is None:
            raise NotFoundError(f"endpoint {name} not found")
        return ep

    def _resolve_model(self, spec: DeploymentSpec) -> Path:
        """The folder azmlinfsrv gets as ``AZUREML_MODEL_DIR``: ``<registry>/<name>/<version>`` for a registered
        model (score.py reads name and version from it, as on Azure ML), or the local folder given."""
        ref = spec.model
        found = _WORKSPACE_MODEL.fullmatch(ref)
        if found:
            info = self.registry.get_model(found["name"], found["version"])  # NotFoundError: unknown model
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

    def _watch(self, ep: _Endpoint, dep: _Deployment) -> None:
        """Start-up (Creating → Succeeded | Failed), then a crash watch (Succeeded → Failed)."""
        server = dep.server
        assert server is not None and server.process is not None
        try:
            server.wait_ready(self.startup_timeout, cancel=self._closing)
        except ServeError as exc:
            with self._lock:
                if dep.stopping:  # deleted or closed meanwhile: nothing to report
                    return
                dep.state, dep.error, dep.stopping = "Failed", startup_error(exc, server.output()), True
            server.kill()  # exited (reap what is left of its group) or hung in init(): nothing to drain
            if dep.writer is not None:
                dep.writer.close()
            with self._lock:
                self._save(ep)
            log.warning("local deployment %s/%s failed: %s", ep.name, dep.spec.name, dep.error.split("\n", 1)[0])
            return
        with self._lock:
            if dep.stopping:
                return
            dep.state, dep.ready_at = "Succeeded", _now()
            self._save(ep)
        log.info("local deployment %s/%s: ready on port %s", ep.name, dep.spec.name, server.port)
        code = server.process.wait()
        with self._lock:
            if dep.stopping:
                return
            dep.state, dep.stopping = "Failed", True
            dep.error = startup_error(ServeError(f"azmlinfsrv exited with {code} while serving"), server.output())
        server.kill()  # what is left of its process group
        if dep.writer is not None:
            dep.writer.close()
        with self._lock:
            self._save(ep)
        log.error("local deployment %s/%s: process exited with %s", ep.name, dep.spec.name, code)

    def _delete(self, ep: _Endpoint, dep: _Deployment) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            with self._lock:
                if dep.in_flight <= 0:
                    break
            time.sleep(0.05)
        if dep.server is not None and dep.ready_at is not None:
            dep.server.stop(timeout=self.stop_timeout)
        elif dep.server is not None:
            dep.server.kill()  # still starting, or failed: nothing to drain
        if dep.writer is not None:
            dep.writer.close()
        with self._lock:
            if ep.deployments.get(dep.spec.name) is dep:
                del ep.deployments[dep.spec.name]
            if not self._closed:
                self._save(ep)
        log.info("local deployment %s/%s deleted", ep.name, dep.spec.name)

    def _save(self, ep: _Endpoint) -> None:
        """Write the endpoint's state file atomically (call with the lock held)."""
        doc = {
            "name": ep.name,
            "provisioning_state": "Succeeded",
            "running": not self._closed,
            "scoring_uri": ep.scoring_uri,
            "owner_pid": os.getpid(),
            "created_at": ep.created_at,
            "updated_at": _now(),
            "traffic": dict(ep.traffic),
            "mirror_traffic": dict(ep.mirror),
            "deployments": {name: ep.deployments[name].to_json() for name in sorted(ep.deployments)},
            "served": dict(sorted(ep.served.items())),
            "mirrored": dict(sorted(ep.mirrored.items())),
        }
        try:
            write_json_atomic(self.state_file(ep.name), doc, fsync=False)
        except OSError as exc:  # a view for humans: never fail a platform call over it
            log.warning("local endpoint %s: state file not written: %s", ep.name, exc)

    # --- routing ------------------------------------------------------------------------------------------

    def _route(self, endpoint: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, dict[str, str]]:
        """One request through the router: (status, body, response headers). Runs in the router's threads."""
        request_id = headers.get("x-request-id") or str(uuid.uuid4())
        forward = {"Content-Type": headers.get("content-type") or "application/json", "x-request-id": request_id}
        if headers.get("x-ms-client-request-id"):
            forward["x-ms-client-request-id"] = headers["x-ms-client-request-id"]
        echo = {"x-request-id": request_id, **{k: forward[k] for k in forward if k == "x-ms-client-request-id"}}

        def refuse(status: int, message: str) -> tuple[int, bytes, dict[str, str]]:
            return status, json.dumps({"error": message, "request_id": request_id}).encode(), echo

        with self._lock:
            ep = self._endpoints.get(endpoint)
            if ep is None or self._closed:
                return refuse(503, f"endpoint {endpoint} is not running")
            wanted = headers.get(DEPLOYMENT_HEADER)
            if wanted:
                dep = ep.deployments.get(wanted)
                if dep is None:
                    return refuse(404, f"deployment {wanted} not found on endpoint {endpoint}")
            else:
                name = self._pick(ep.rng, ep.traffic)
                if name is None:
                    return refuse(503, NO_DEPLOYMENT)
                dep = ep.deployments[name]
            if dep.state != "Succeeded" or dep.server is None:
                return refuse(503, f"deployment {dep.spec.name} is {dep.state}, not ready to serve")
            dep.in_flight += 1
            port = dep.server.port
            mirror_to = None if wanted else self._pick_mirror(ep)
            if mirror_to is not None and self._mirror_slots.acquire(blocking=False):
                mirror_to.in_flight += 1
                mirror_port = mirror_to.server.port if mirror_to.server is not None else 0
            elif mirror_to is not None:
                ep.mirror_dropped += 1
                mirror_to = None
        if mirror_to is not None:
            copy_headers = {**forward, "x-request-id": f"{request_id[:121]}-mirror"}
            threading.Thread(
                target=self._mirror, args=(ep, mirror_to, mirror_port, body, copy_headers), daemon=True
            ).start()
        served = False
        try:
            status, answer, answer_headers = self._post(port, body, forward)
            served = True
        except TimeoutError:
            return refuse(504, f"deployment {dep.spec.name} did not answer within {self.request_timeout:g}s")
        except (OSError, http.client.HTTPException) as exc:
            return refuse(502, f"deployment {dep.spec.name} is not reachable: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                dep.in_flight -= 1
                if served:
                    ep.served[dep.spec.name] += 1
        out = {
            "Content-Type": answer_headers.get("content-type", "application/json"),
            **echo,
            "x-request-id": answer_headers.get("x-request-id") or request_id,
            DEPLOYMENT_HEADER: dep.spec.name,
        }
        return status, answer, out

    @staticmethod
    def _pick(rng: random.Random, weights: Mapping[str, int]) -> str | None:
        """A deployment chosen with probability weight/100 (weights sum to 100, or are empty)."""
        total = sum(weights.values())
        if total <= 0:
            return None
        draw = rng.random() * total
        for name, weight in sorted(weights.items()):
            draw -= weight
            if draw < 0:
                return name
        return max(sorted(weights), key=lambda n: weights[n])  # float rounding at the very top

    def _pick_mirror(self, ep: _Endpoint) -> _Deployment | None:
        """The mirror deployment this request is copied to (each with probability mirror%/100), or None."""
        if not ep.mirror:
            return None
        draw = ep.rng.random() * 100
        for name, percent in sorted(ep.mirror.items()):
            draw -= percent
            if draw < 0:
                dep = ep.deployments.get(name)
                return dep if dep is not None and dep.state == "Succeeded" and dep.server is not None else None
        return None

    def _mirror(self, ep: _Endpoint, dep: _Deployment, port: int, body: bytes, headers: dict[str, str]) -> None:
        served = False
        try:
            self._post(port, body, headers)
            served = True
        except (OSError, http.client.HTTPException) as exc:
            log.debug("mirror copy to %s/%s lost: %s", ep.name, dep.spec.name, exc)
        finally:
            self._mirror_slots.release()
            with self._lock:
                dep.in_flight -= 1
                if served:
                    ep.mirrored[dep.spec.name] += 1

    def _post(self, port: int, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, dict[str, str]]:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=self.request_timeout)
        try:
            connection.request("POST", "/score", body, dict(headers))
            response = connection.getresponse()
            answer = response.read()
            return response.status, answer, {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()
