"""The local endpoint platform: :class:`shared.ports.EndpointPlatform` with deployments as ``azmlinfsrv`` processes.

What a managed online endpoint is in Azure ML, on one machine:

- **Endpoint**: a router (:class:`shared.local.endpoint_router.EndpointRouter`), an HTTP server on a free
  loopback port that splits ``POST /score`` by the live traffic weights, mirrors, and honours the
  ``azureml-model-deployment`` header.
- **Deployment**: ``score.py`` under ``azmlinfsrv`` on its own free loopback port, its output written to the
  local console log as it arrives (:class:`shared.local.endpoint_deployment.LocalDeployment`).
  :meth:`LocalEndpointPlatform.begin_create_deployment` returns at once; the deployment is ``Creating`` until its
  model is loaded, then ``Succeeded`` or ``Failed``.
- **Rules**: Azure ML's (traffic sums to 100, mirror ≤ 50 % and never to a live deployment, no deletion with
  traffic, deployment names), from :mod:`shared.platform_rules`, the same code as the fake platform
  the rollout reconciler is tested against, so both refuse the same calls with the same errors.
- **Metrics**: the router records every answer per deployment; :meth:`LocalEndpointPlatform.traffic` answers
  the rollout gates' queries (:class:`shared.ports.DeploymentMetrics`) from that record.
- **Faults** (local only): :meth:`LocalEndpointPlatform.inject_fault` makes one model version answer a share of
  its routed requests with 500 or slower (the bad-release demo). No setting reaches it and the Azure platform
  has nothing like it: the demo calls it on this object directly.
- **Calls**: :meth:`LocalEndpointPlatform.invoke` (one deployment directly) and :meth:`LocalEndpointPlatform.score`
  (through the router, as a client) are :mod:`shared.local.endpoint_client`, which maps the answers to the port's
  errors as the Azure implementation does.
- **State file**: after every change, ``<state_dir>/endpoints/<endpoint>.json`` (written atomically,
  :mod:`shared.local.endpoint_state_file`) shows the traffic, mirror and each deployment's model, port, pid,
  provisioning state and error, for other processes and humans. It is a view, not a store: the object that
  started the processes owns them.

Lifetime: :meth:`LocalEndpointPlatform.close` (also on ``with`` exit, and registered with ``atexit``) stops
the routers and every process group (:func:`shared.local.endpoint_deployment.stop_all`: SIGTERM, SIGKILL after
``stop_timeout``). It is idempotent and safe to call from a signal handler in the main thread (the lock is
re-entrant and nothing waits long under it). A process killed with SIGKILL cannot run it: its deployments' process
groups outlive it, recorded in the process registry (``<state_dir>/processes/`` unless another is given), and the
next start through a registry on that folder stops them.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from shared import platform_rules
from shared.local.console_logs import console_log_root
from shared.local.endpoint_client import invoke_deployment, score_through_router
from shared.local.endpoint_deployment import LocalDeployment, now, resolve_model, stop_all
from shared.local.endpoint_router import MIRROR_IN_FLIGHT, EndpointRouter, Fault
from shared.local.endpoint_state_file import endpoint_document, write_state_file
from shared.local.process_registry import ProcessRegistry
from shared.local.serve import ServeError
from shared.ports import (
    DeploymentSpec,
    DeploymentState,
    EndpointState,
    ModelRegistry,
    NotFoundError,
    PlatformError,
    TrafficFigures,
)
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class _Endpoint:
    name: str
    router: EndpointRouter
    deployments: dict[str, LocalDeployment]
    created_at: str = field(default_factory=now)


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
        process_registry: ProcessRegistry | None = None,
    ) -> None:
        """``deployment_env``: extra environment of every deployment (e.g. ``MAX_RECORDS_PER_REQUEST``);
        ``seed``: makes the routers' random choices reproducible; ``process_registry``: where the deployments'
        process groups are recorded (default: ``<state_dir>/processes``)."""
        self.state_dir = Path(state_dir)
        self.registry = registry
        self.console_log_root = Path(console_log_root)
        self.startup_timeout = startup_timeout
        self.request_timeout = request_timeout
        self.stop_timeout = stop_timeout
        self.deployment_env = dict(deployment_env or {})
        self._seed = seed
        self.processes = process_registry or ProcessRegistry(self.state_dir)
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
            return EndpointState(
                name, "Succeeded", dict(ep.router.traffic), dict(ep.router.mirror), ep.router.scoring_uri
            )

    def begin_create_endpoint(self, name: str) -> None:
        platform_rules.check_endpoint_name(name)
        with self._lock:
            self._check_open()
            if name in self._endpoints:
                return
            deployments: dict[str, LocalDeployment] = {}
            router = EndpointRouter(
                name=name,
                deployments=deployments,
                lock=self._lock,
                rng=random.Random(None if self._seed is None else f"{self._seed}:{name}"),
                mirror_slots=self._mirror_slots,
                request_timeout=self.request_timeout,
                is_open=lambda: not self._closed,
            )
            ep = self._endpoints[name] = _Endpoint(name, router, deployments)
            router.start()
            self._save(ep)
        log.info("local endpoint %s: router at %s", name, router.scoring_uri)

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
            dep = ep.deployments[spec.name] = LocalDeployment(spec)
            try:
                dep.launch(
                    resolve_model(spec, self.registry), self.console_log_root, self.deployment_env, self.processes
                )
            except (PlatformError, ServeError, OSError) as exc:
                dep.failed_to_launch(exc)
                self._save(ep)
                log.warning("local deployment %s/%s failed: %s", spec.endpoint, spec.name, dep.error)
                return
            self._save(ep)
            threading.Thread(
                target=dep.watch,
                args=(self._lock, lambda: self._save(ep)),
                kwargs={"startup_timeout": self.startup_timeout, "cancel": self._closing},
                name=f"deployment-{spec.endpoint}-{spec.name}",
                daemon=True,
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

            ep.router.traffic, ep.router.mirror = platform_rules.check_traffic(traffic, mirror, state_of)
            self._save(ep)
        log.info("local endpoint %s: traffic %s, mirror %s", endpoint, ep.router.traffic, ep.router.mirror)

    def begin_delete_deployment(self, endpoint: str, name: str) -> None:
        with self._lock:
            ep = self._endpoint(endpoint)
            dep = ep.deployments.get(name)
            if dep is None or dep.state == "Deleting":
                return
            platform_rules.check_deletable(name, ep.router.traffic, ep.router.mirror)
            dep.state, dep.stopping = "Deleting", True
            self._save(ep)
        threading.Thread(target=self._delete, args=(ep, dep), name=f"delete-{endpoint}-{name}", daemon=True).start()

    def invoke(self, endpoint: str, deployment: str, body: bytes) -> bytes:
        """POST ``body`` to one deployment (not through the traffic rules). 4xx → PlatformError with the answer's
        error; 500 (score.py failed) → PlatformError, as the Azure implementation maps it; connection failure,
        timeout, 408/429/502/503/504 → TransientError (:func:`shared.local.endpoint_client.invoke_deployment`)."""
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
            return invoke_deployment(port, body, self.request_timeout, endpoint=endpoint, deployment=deployment)
        finally:
            with self._lock:
                dep.in_flight -= 1

    # --- beyond the port ----------------------------------------------------------------------------------

    def score(self, endpoint: str, body: bytes, *, headers: Mapping[str, str] | None = None) -> tuple[int, bytes, str]:
        """POST ``body`` to the endpoint's router (as a client would): (status, body, deployment that served it,
        ``""`` when none did)."""
        with self._lock:
            port = self._endpoint(endpoint).router.port
        return score_through_router(port, body, headers, self.request_timeout + 5, endpoint=endpoint)

    def served_counts(self, endpoint: str) -> dict[str, int]:
        """Requests each deployment answered through the router so far (deleted deployments included; mirrored
        copies and :meth:`invoke` calls are not counted: see :meth:`mirrored_counts`)."""
        with self._lock:
            return dict(sorted(self._endpoint(endpoint).router.served.items()))

    def mirrored_counts(self, endpoint: str) -> dict[str, int]:
        """Mirrored copies each deployment answered so far."""
        with self._lock:
            return dict(sorted(self._endpoint(endpoint).router.mirrored.items()))

    # --- DeploymentMetrics -------------------------------------------------------------------------------

    def traffic(
        self, endpoint: str, deployments: Sequence[str], start: datetime, end: datetime, *, mirrored: bool = False
    ) -> dict[str, TrafficFigures]:
        """What each deployment answered through the router in ``[start, end)`` (deleted ones included)."""
        with self._lock:
            router = self._endpoint(endpoint).router
        return router.ledger.traffic(deployments, start, end, mirrored=mirrored)

    def inject_fault(self, endpoint: str, model_version: str, fault: Fault | None) -> None:
        """Local only: make the deployments of ``model_version`` fail or slow down under routed traffic (a
        direct invocation, such as the rollout's smoke test, is never touched). ``None`` removes the fault."""
        with self._lock:
            router = self._endpoint(endpoint).router
            if fault is None:
                router.faults.pop(str(model_version), None)
            else:
                router.faults[str(model_version)] = fault
        log.warning("local endpoint %s: fault %s injected into version %s", endpoint, fault, model_version)

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
        for ep in endpoints:
            ep.router.stop()
        stop_all(deployments, self.stop_timeout)
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

    def _delete(self, ep: _Endpoint, dep: LocalDeployment) -> None:
        dep.drain_and_stop(self._lock, self.stop_timeout)
        with self._lock:
            if ep.deployments.get(dep.spec.name) is dep:
                del ep.deployments[dep.spec.name]
            if not self._closed:
                self._save(ep)
        log.info("local deployment %s/%s deleted", ep.name, dep.spec.name)

    def _save(self, ep: _Endpoint) -> None:
        """Write the endpoint's state file (call with the lock held)."""
        doc = endpoint_document(ep.name, ep.router, ep.deployments, created_at=ep.created_at, running=not self._closed)
        try:
            write_state_file(self.state_file(ep.name), doc)
        except OSError as exc:  # a view for humans: never fail a platform call over it
            log.warning("local endpoint %s: state file not written: %s", ep.name, exc)
