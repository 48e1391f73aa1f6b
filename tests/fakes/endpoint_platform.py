"""An in-memory :class:`shared.ports.EndpointPlatform` that enforces Azure ML's rules.

Rules (each violation raises ``PlatformError``, as the service answers 400; the checks are the ones the local
endpoint platform applies too, from :mod:`shared.platform_rules`):

- live traffic sums to 100, or is empty; only to existing, successfully provisioned deployments;
- mirror traffic: at most 50 % in total, only with live traffic set, never to a deployment with live traffic;
- a deployment with live or mirror traffic cannot be deleted; deployments need an existing, ready endpoint;
- deployment names: 3-32 characters, letters, digits and '-', starting with a letter, not ending with '-'.

Behaviour is scripted per model version (:class:`Behaviour`): provisioning that succeeds after N polls,
fails, or hangs; scoring that answers well, answers badly (after K good answers), errors or times out.
Faults: :meth:`inject` raises an error *before* a call takes effect; :meth:`crash_after` raises
:class:`SimulatedCrash` *after* it took effect (the process dying between a platform call and the state
write). ``invariant_violations`` collects any state that breaks the rules (it must stay empty).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared import platform_rules
from shared.ports import (
    DeploymentSpec,
    DeploymentState,
    EndpointState,
    NotFoundError,
    PlatformError,
    TransientError,
)


class SimulatedCrash(BaseException):
    """The process died right after a platform call took effect."""


@dataclass
class Behaviour:
    provision: str = "succeed"  # succeed | fail | hang
    polls: int = 1  # get_deployment calls until provisioning finishes
    scoring: str = "good"  # good | bad | shape | error | transient
    good_answers: int | None = None  # after this many good answers, answer badly


@dataclass
class _Deployment:
    spec: DeploymentSpec
    state: str = "Creating"
    polls_left: int = 1
    delete_polls_left: int = 0
    invocations: int = 0
    error: str | None = None


@dataclass
class _Endpoint:
    name: str
    state: str = "Creating"
    polls_left: int = 1
    traffic: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)


class FakeEndpointPlatform:
    def __init__(self, *, endpoint_polls: int = 1, delete_polls: int = 0) -> None:
        self.endpoints: dict[str, _Endpoint] = {}
        self.deployments: dict[tuple[str, str], _Deployment] = {}
        self.behaviours: dict[str, Behaviour] = {}
        self.endpoint_polls = endpoint_polls
        self.delete_polls = delete_polls
        self.calls: list[tuple[str, tuple]] = []
        self.traffic_history: list[tuple[str, dict[str, int], dict[str, int]]] = []
        self.invariant_violations: list[str] = []
        self._inject: dict[str, list[BaseException]] = defaultdict(list)
        self._crash_after: dict[str, int] = {}

    # --- test set-up -----------------------------------------------------------------------------

    def add_serving(self, endpoint: str, deployment: str, model: str, version: str) -> None:
        """An endpoint that already serves ``model:version`` from ``deployment`` at 100 %."""
        self.endpoints[endpoint] = _Endpoint(endpoint, "Succeeded", 0, {deployment: 100})
        spec = DeploymentSpec(endpoint, deployment, f"azureml:{model}:{version}", model, version)
        self.deployments[(endpoint, deployment)] = _Deployment(spec, "Succeeded", 0)

    def add_deployment(self, endpoint: str, deployment: str, model: str, version: str) -> None:
        """A provisioned deployment without traffic on an existing endpoint."""
        spec = DeploymentSpec(endpoint, deployment, f"azureml:{model}:{version}", model, version)
        self.deployments[(endpoint, deployment)] = _Deployment(spec, "Succeeded", 0)

    def behave(self, version: str, behaviour: Behaviour) -> None:
        self.behaviours[version] = behaviour

    def inject(self, method: str, error: BaseException, times: int = 1) -> None:
        self._inject[method].extend([error] * times)

    def crash_after(self, method: str, nth: int = 1) -> None:
        self._crash_after[method] = nth

    # --- queries for assertions ------------------------------------------------------------------

    def traffic(self, endpoint: str) -> dict[str, int]:
        return dict(self.endpoints[endpoint].traffic)

    def mirror(self, endpoint: str) -> dict[str, int]:
        return dict(self.endpoints[endpoint].mirror)

    def names(self, endpoint: str) -> list[str]:
        return sorted(n for (e, n) in self.deployments if e == endpoint)

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)

    # --- plumbing --------------------------------------------------------------------------------

    def _enter(self, method: str, *args: object) -> None:
        self.calls.append((method, args))
        if self._inject.get(method):
            raise self._inject[method].pop(0)

    def _leave(self, method: str) -> None:
        if method in self._crash_after:
            self._crash_after[method] -= 1
            if self._crash_after[method] <= 0:
                del self._crash_after[method]
                raise SimulatedCrash(f"crash after {method}")

    def _check_invariants(self) -> None:
        for ep in self.endpoints.values():
            total = sum(v for v in ep.traffic.values() if v > 0)
            if ep.traffic and total != 100:
                self.invariant_violations.append(f"{ep.name}: live traffic sums to {total}: {ep.traffic}")
            for name in [*ep.traffic, *ep.mirror]:
                if (ep.name, name) not in self.deployments:
                    self.invariant_violations.append(f"{ep.name}: traffic to missing deployment {name}")

    def _endpoint(self, name: str) -> _Endpoint:
        ep = self.endpoints.get(name)
        if ep is None:
            raise NotFoundError(f"endpoint {name} not found")
        return ep

    # --- EndpointPlatform ------------------------------------------------------------------------

    def get_endpoint(self, name: str) -> EndpointState | None:
        self._enter("get_endpoint", name)
        ep = self.endpoints.get(name)
        if ep is None:
            return None
        if ep.state == "Creating":
            ep.polls_left -= 1
            if ep.polls_left <= 0:
                ep.state = "Succeeded"
        state = EndpointState(name, ep.state, dict(ep.traffic), dict(ep.mirror), f"https://{name}.example/score")
        self._leave("get_endpoint")
        return state

    def begin_create_endpoint(self, name: str) -> None:
        self._enter("begin_create_endpoint", name)
        if name not in self.endpoints:
            self.endpoints[name] = _Endpoint(name, "Creating", self.endpoint_polls)
        self._leave("begin_create_endpoint")

    def begin_create_deployment(self, spec: DeploymentSpec) -> None:
        self._enter("begin_create_deployment", spec)
        platform_rules.check_deployment_name(spec.name)
        ep = self._endpoint(spec.endpoint)
        if ep.state != "Succeeded":
            raise TransientError(f"HTTP 409: endpoint {ep.name} is {ep.state}")
        existing = self.deployments.get((spec.endpoint, spec.name))
        if existing is not None:
            platform_rules.existing_deployment_matches(spec, existing.state, existing.spec.model)
        else:
            behaviour = self.behaviours.get(spec.model_version, Behaviour())
            self.deployments[(spec.endpoint, spec.name)] = _Deployment(spec, "Creating", behaviour.polls)
        self._leave("begin_create_deployment")

    def _poll(self, dep: _Deployment) -> None:
        key = (dep.spec.endpoint, dep.spec.name)
        if dep.state == "Creating":
            behaviour = self.behaviours.get(dep.spec.model_version, Behaviour())
            if behaviour.provision == "hang":
                return
            dep.polls_left -= 1
            if dep.polls_left <= 0:
                if behaviour.provision == "fail":
                    dep.state, dep.error = "Failed", "ResourceNotReady: the scoring container crashed during init()"
                else:
                    dep.state = "Succeeded"
        elif dep.state == "Deleting":
            dep.delete_polls_left -= 1
            if dep.delete_polls_left < 0:
                del self.deployments[key]

    def get_deployment(self, endpoint: str, name: str) -> DeploymentState | None:
        self._enter("get_deployment", endpoint, name)
        dep = self.deployments.get((endpoint, name))
        if dep is None:
            return None
        self._poll(dep)
        if (endpoint, name) not in self.deployments:
            return None
        state = DeploymentState(name, dep.state, dep.spec.model, dep.error)
        self._leave("get_deployment")
        return state

    def list_deployments(self, endpoint: str) -> list[DeploymentState]:
        self._enter("list_deployments", endpoint)
        out = [
            DeploymentState(n, d.state, d.spec.model, d.error)
            for (e, n), d in sorted(self.deployments.items())
            if e == endpoint
        ]
        self._leave("list_deployments")
        return out

    def set_traffic(self, endpoint: str, traffic: Mapping[str, int], mirror: Mapping[str, int] | None = None) -> None:
        self._enter("set_traffic", endpoint, dict(traffic), dict(mirror or {}))
        ep = self._endpoint(endpoint)
        if ep.state not in ("Succeeded", "Failed"):
            raise TransientError(f"HTTP 409: endpoint {endpoint} is {ep.state}")

        def state_of(name: str) -> str | None:
            dep = self.deployments.get((endpoint, name))
            return dep.state if dep is not None else None

        live, mirrored = platform_rules.check_traffic(traffic, mirror, state_of)
        ep.traffic, ep.mirror = live, mirrored
        self.traffic_history.append((endpoint, dict(live), dict(mirrored)))
        self._check_invariants()
        self._leave("set_traffic")

    def begin_delete_deployment(self, endpoint: str, name: str) -> None:
        self._enter("begin_delete_deployment", endpoint, name)
        ep = self._endpoint(endpoint)
        dep = self.deployments.get((endpoint, name))
        if dep is None:
            return
        platform_rules.check_deletable(name, ep.traffic, ep.mirror)
        if self.delete_polls == 0:
            del self.deployments[(endpoint, name)]
        else:
            dep.state, dep.delete_polls_left = "Deleting", self.delete_polls
        self._leave("begin_delete_deployment")

    def invoke(self, endpoint: str, deployment: str, body: bytes) -> bytes:
        self._enter("invoke", endpoint, deployment)
        dep = self.deployments.get((endpoint, deployment))
        if dep is None or dep.state != "Succeeded":
            raise PlatformError(f"HTTP 404: deployment {deployment} is not ready")
        behaviour = self.behaviours.get(dep.spec.model_version, Behaviour())
        dep.invocations += 1
        records = len(json.loads(body)["data"])
        scoring = behaviour.scoring
        if behaviour.good_answers is not None and dep.invocations > behaviour.good_answers:
            scoring = "bad"
        if scoring == "error":
            raise PlatformError("HTTP 500: scoring script raised KeyError: 'credit_limit'")
        if scoring == "transient":
            raise TransientError("HTTP 503: upstream not ready")
        if scoring == "shape":
            answer: object = {"result": [0.2] * records}
        elif scoring == "bad":
            answer = {"predictions": [1.7] * records}
        else:
            answer = {"predictions": [round(0.1 + 0.8 * i / max(records, 1), 3) for i in range(records)]}
        self._leave("invoke")
        return json.dumps(answer).encode()


class FakeModelRegistry:
    """Workspace models and one or more registries; ``share_to_registry`` copies a version."""

    def __init__(self) -> None:
        from shared.ports import ModelInfo

        self._info = ModelInfo
        self.models: dict[tuple[str, str], dict[str, str]] = {}
        self.registries: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.share_calls: list[tuple[str, str, str]] = []
        self.fail_share: list[BaseException] = []

    def add(self, name: str, version: str, tags: dict[str, str] | None = None) -> None:
        self.models[(name, version)] = dict(tags or {})

    def get_model(self, name: str, version: str):
        if (name, version) not in self.models:
            raise NotFoundError(f"model {name}:{version} not found")
        return self._info(name, version, self.models[(name, version)], path=f"azureml:{name}:{version}")

    def latest_model(self, name: str):
        versions = sorted((int(v) for n, v in self.models if n == name), reverse=True)
        return self.get_model(name, str(versions[0])) if versions else None

    def list_models(self, name: str):
        return [self.get_model(n, v) for n, v in sorted(self.models, key=lambda k: int(k[1])) if n == name]

    def update_tags(self, name: str, version: str, *, set_tags, remove=()) -> None:
        if (name, version) not in self.models:
            raise NotFoundError(f"model {name}:{version} not found")
        tags = {k: v for k, v in self.models[(name, version)].items() if k not in remove}
        self.models[(name, version)] = {**tags, **set_tags}

    def share_to_registry(self, name: str, version: str, registry: str) -> str:
        self.share_calls.append((name, version, registry))
        if self.fail_share:
            raise self.fail_share.pop(0)
        if (name, version) not in self.models:
            raise NotFoundError(f"model {name}:{version} not found")
        self.registries[registry].add((name, version))
        return f"azureml://registries/{registry}/models/{name}/versions/{version}"
