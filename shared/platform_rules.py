"""Azure ML's rules for online endpoints, deployments, traffic, model references and job names, as pure functions.

One definition for every implementation of :class:`shared.ports.EndpointPlatform` and for the services that
plan what to ask of it: the Azure platform checks traffic before sending it (a call Azure would refuse fails
at once, with a message that says why); the local endpoint platform and the in-memory fake the rollout is
tested against (``tests/fakes/endpoint_platform.py``) enforce all of them, so they refuse the same calls
with the same errors the service would. Each violation raises :class:`shared.ports.PlatformError` worded
like the service's HTTP 400.

- live traffic sums to 100, or is empty; only to existing, successfully provisioned deployments;
- mirror traffic: at most 50 % in total, only with live traffic set, never to a deployment with live traffic;
- a deployment with live or mirror traffic cannot be deleted;
- endpoint and deployment names: 3-32 characters, letters, digits and '-', starting with a letter, not
  ending with '-';
- model references: ``azureml:<name>:<version>`` in a workspace, ``azureml://registries/<registry>/models/
  <name>/versions/<version>`` in a registry;
- job names: unique in the workspace (the only published rule); the names the app chooses keep to what every
  job name the service generates or accepts has in common: letters, digits, '_' and '-', starting with a
  letter, at most 255 characters. They are lower case, since Azure resource names compare case-insensitively.

Plain Python, no Azure SDK.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from shared.ports import DeploymentSpec, PlatformError, TransientError

MIRROR_LIMIT = 50

# azure.ai.ml validates endpoint and deployment names with this pattern (EndpointConfigurations).
_NAME = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
NAME_MIN, NAME_MAX = 3, 32

_WORKSPACE_REF = re.compile(r"^(?:azureml:)?(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*):(?P<version>[^:/@]+)$")
_REGISTRY_REF = re.compile(r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$")


# --- names ---------------------------------------------------------------------------------------


def is_valid_deployment_name(name: str) -> bool:
    return NAME_MIN <= len(name) <= NAME_MAX and bool(_NAME.fullmatch(name))


def check_deployment_name(name: str) -> None:
    if not is_valid_deployment_name(name):
        raise PlatformError(f"HTTP 400: invalid deployment name {name!r}")


def check_endpoint_name(name: str) -> None:
    """Endpoint names follow the same pattern as deployment names (azure.ai.ml validates both alike)."""
    if not is_valid_deployment_name(name):
        raise PlatformError(f"HTTP 400: invalid endpoint name {name!r}")


# --- job names -----------------------------------------------------------------------------------

_JOB_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
JOB_NAME_MAX = 255


def check_job_name(name: str) -> None:
    if len(name) > JOB_NAME_MAX or not _JOB_NAME.fullmatch(name):
        raise PlatformError(
            f"HTTP 400: invalid job name {name!r}: lower-case letters, digits, '_' and '-', starting with a letter, "
            f"at most {JOB_NAME_MAX} characters"
        )


def job_name(prefix: str, token: str) -> str:
    """A valid job name ``<prefix>-<token>``: ``prefix`` (an experiment name, say) in lower case, other
    characters as '-', cut so the whole stays within :data:`JOB_NAME_MAX`; ``token`` keeps its letters and digits.
    The same arguments give the same name."""
    suffix = re.sub(r"[^a-z0-9]", "", token.lower())
    if not suffix:
        raise PlatformError(f"a job name needs a token of letters or digits, got {token!r}")
    head = re.sub(r"[^a-z0-9_-]+", "-", prefix.lower()).strip("-_")
    head = re.sub(r"^[^a-z]+", "", head) or "job"
    name = f"{head[: JOB_NAME_MAX - len(suffix) - 1].rstrip('-_')}-{suffix}"
    check_job_name(name)
    return name


# --- model references ----------------------------------------------------------------------------


def workspace_model_ref(name: str, version: str) -> str:
    return f"azureml:{name}:{version}"


def registry_model_ref(registry: str, name: str, version: str) -> str:
    return f"azureml://registries/{registry}/models/{name}/versions/{version}"


def model_version_from_ref(ref: str | None, model: str) -> str | None:
    """The version in a deployment's model reference when it is ``model`` (else None).

    Understands ``azureml:<name>:<version>``, ``<name>:<version>``, registry references and ARM ids
    (``…/models/<name>/versions/<version>``).
    """
    if not ref:
        return None
    found = _REGISTRY_REF.search(ref) or _WORKSPACE_REF.fullmatch(ref)
    if found and found["name"] == model:
        return found["version"]
    return None


# --- deployments and traffic ---------------------------------------------------------------------


def live(traffic: Mapping[str, int] | None) -> dict[str, int]:
    """Only the deployments with traffic (the SDK lists idle deployments with 0)."""
    return {k: int(v) for k, v in sorted((traffic or {}).items()) if int(v) > 0}


def existing_deployment_matches(spec: DeploymentSpec, state: str, model: str) -> None:
    """A create request for a deployment that exists (state ``state``, model ``model``): allowed (and a no-op)
    when it asks for the same model; refused while it is being deleted or for another model."""
    if state == "Deleting":
        raise TransientError(f"HTTP 409: deployment {spec.name} is being deleted")
    if model != spec.model:
        raise PlatformError(f"HTTP 400: deployment {spec.name} exists with model {model}")


def check_traffic_shares(
    traffic: Mapping[str, int], mirror: Mapping[str, int] | None
) -> tuple[dict[str, int], dict[str, int]]:
    """The rules on the shares alone: the live and mirror traffic to store (positive shares only), or
    PlatformError. Needs no knowledge of the deployments, so a client can check before sending."""
    live_traffic, mirrored = live(traffic), live(mirror)
    if any(int(v) < 0 or int(v) > 100 for v in [*traffic.values(), *(mirror or {}).values()]):
        raise PlatformError("HTTP 400: traffic values must be in 0..100")
    if live_traffic and sum(live_traffic.values()) != 100:
        raise PlatformError(f"HTTP 400: traffic must sum to 100, got {sum(live_traffic.values())}")
    if mirrored:
        if not live_traffic:
            raise PlatformError("HTTP 400: mirror traffic needs live traffic")
        if sum(mirrored.values()) > MIRROR_LIMIT:
            raise PlatformError(f"HTTP 400: mirror traffic is at most {MIRROR_LIMIT} %")
        if set(mirrored) & set(live_traffic):
            raise PlatformError("HTTP 400: cannot mirror to a deployment with live traffic")
    return live_traffic, mirrored


def check_traffic(
    traffic: Mapping[str, int],
    mirror: Mapping[str, int] | None,
    state_of: Callable[[str], str | None],
) -> tuple[dict[str, int], dict[str, int]]:
    """All the traffic rules: :func:`check_traffic_shares`, and every deployment named exists and is ready.

    ``state_of(name)`` is the deployment's provisioning state on this endpoint, None if it does not exist.
    """
    live_traffic, mirrored = check_traffic_shares(traffic, mirror)
    for name in [*live_traffic, *mirrored]:
        state = state_of(name)
        if state is None or state in ("Deleting", "Failed"):
            raise PlatformError(f"HTTP 400: deployment {name} does not exist or is not usable")
        if state != "Succeeded":
            raise PlatformError(f"HTTP 400: deployment {name} is {state}")
    return live_traffic, mirrored


def check_deletable(name: str, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
    if traffic.get(name, 0) > 0 or mirror.get(name, 0) > 0:
        raise PlatformError(f"HTTP 400: deployment {name} has traffic; set it to 0 before deleting")
