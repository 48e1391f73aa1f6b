"""Azure ML's rules for online endpoints, deployments and traffic, as pure functions.

One definition for every platform that enforces them without asking Azure: the local endpoint platform
(:mod:`shared.local.endpoints`) and the in-memory fake the rollout reconciler is tested against
(``tests/fakes/endpoint_platform.py``), so both refuse the same calls with the same errors. Each
violation raises :class:`shared.ports.PlatformError` worded like the service's HTTP 400.

- live traffic sums to 100, or is empty; only to existing, successfully provisioned deployments;
- mirror traffic: at most 50 % in total, only with live traffic set, never to a deployment with live traffic;
- a deployment with live or mirror traffic cannot be deleted;
- deployment names: 3-32 characters, letters, digits and '-', starting with a letter, not ending with '-'.

Plain Python, no Azure SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from shared.ports import DeploymentSpec, PlatformError, TransientError
from shared.services.rollout_state import is_valid_deployment_name

MIRROR_LIMIT = 50


def check_deployment_name(name: str) -> None:
    if not is_valid_deployment_name(name):
        raise PlatformError(f"HTTP 400: invalid deployment name {name!r}")


def check_endpoint_name(name: str) -> None:
    """Endpoint names follow the same pattern as deployment names (azure.ai.ml validates both alike)."""
    if not is_valid_deployment_name(name):
        raise PlatformError(f"HTTP 400: invalid endpoint name {name!r}")


def existing_deployment_matches(spec: DeploymentSpec, state: str, model: str) -> None:
    """A create request for a deployment that exists (state ``state``, model ``model``): allowed (and a no-op)
    when it asks for the same model; refused while it is being deleted or for another model."""
    if state == "Deleting":
        raise TransientError(f"HTTP 409: deployment {spec.name} is being deleted")
    if model != spec.model:
        raise PlatformError(f"HTTP 400: deployment {spec.name} exists with model {model}")


def check_traffic(
    traffic: Mapping[str, int],
    mirror: Mapping[str, int] | None,
    state_of: Callable[[str], str | None],
) -> tuple[dict[str, int], dict[str, int]]:
    """The live and mirror traffic to store (deployments with a positive share only), or PlatformError.

    ``state_of(name)`` is the deployment's provisioning state on this endpoint, None if it does not exist.
    """
    live = {k: int(v) for k, v in traffic.items() if int(v) > 0}
    mirrored = {k: int(v) for k, v in (mirror or {}).items() if int(v) > 0}
    if any(int(v) < 0 or int(v) > 100 for v in [*traffic.values(), *(mirror or {}).values()]):
        raise PlatformError("HTTP 400: traffic values must be in 0..100")
    if live and sum(live.values()) != 100:
        raise PlatformError(f"HTTP 400: traffic must sum to 100, got {sum(live.values())}")
    for name in [*live, *mirrored]:
        state = state_of(name)
        if state is None or state in ("Deleting", "Failed"):
            raise PlatformError(f"HTTP 400: deployment {name} does not exist or is not usable")
        if state != "Succeeded":
            raise PlatformError(f"HTTP 400: deployment {name} is {state}")
    if mirrored:
        if not live:
            raise PlatformError("HTTP 400: mirror traffic needs live traffic")
        if sum(mirrored.values()) > MIRROR_LIMIT:
            raise PlatformError(f"HTTP 400: mirror traffic is at most {MIRROR_LIMIT} %")
        if set(mirrored) & set(live):
            raise PlatformError("HTTP 400: cannot mirror to a deployment with live traffic")
    return live, mirrored


def check_deletable(name: str, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
    if traffic.get(name, 0) > 0 or mirror.get(name, 0) > 0:
        raise PlatformError(f"HTTP 400: deployment {name} has traffic; set it to 0 before deleting")
