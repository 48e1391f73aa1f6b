"""Managed online endpoints: :class:`shared.ports.EndpointPlatform` on ``azure-ai-ml``.

The deployment the app creates is the repo's ``ml_assets/endpoints/deployment.yml`` loaded with
``load_online_deployment`` (so the same schema as ``az ml online-deployment create`` validates it),
with the name, endpoint, model, instance type, tags and data collection of the :class:`DeploymentSpec` applied:
:func:`build_deployment` is the object tests validate offline. Long-running operations (create
endpoint, create deployment, traffic update, delete) are started and their pollers dropped: the
rollout reconciler polls the resource state on its next tick instead of blocking a function.

Errors are mapped to the port's types. Specific to endpoints: HTTP 409 (another operation on the
endpoint is in progress) is transient; when invoking a deployment, HTTP 500 is the scoring script
failing, not the service, so it is a PlatformError (the smoke test fails) rather than transient.

``azure.ai.ml`` is heavy (seconds to import): it is imported inside the functions that need it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.azure.ml_client import (
    TRANSIENT_ENDPOINT_STATUS,
    TRANSIENT_INVOKE_STATUS,
    LazyMLClient,
    make_ml_client,
    translate_ml_error,
)
from shared.platform_rules import check_traffic_shares, is_valid_deployment_name, live
from shared.ports import (
    DeploymentSpec,
    DeploymentState,
    EndpointState,
    NotFoundError,
    PlatformError,
)
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_YAML = PROJECT_ROOT / "ml_assets" / "endpoints" / "deployment.yml"
ENDPOINT_YAML = PROJECT_ROOT / "ml_assets" / "endpoints" / "endpoint.yml"
# The collections score.py fills (its data_collection module; ml_assets is not imported by the app).
SCORE_COLLECTIONS = ("model_inputs", "model_outputs")


def translate_endpoint_error(exc: BaseException, what: str, *, invoking: bool = False) -> PlatformError:
    """:func:`~shared.azure.ml_client.translate_ml_error` with the endpoints' transient statuses: 409 is another
    operation in progress; when invoking a deployment, 500 is the scoring script failing (the smoke test must
    fail), not the service."""
    if invoking:
        return translate_ml_error(exc, what, transient_status=TRANSIENT_INVOKE_STATUS)
    return translate_ml_error(exc, what, transient_status=TRANSIENT_ENDPOINT_STATUS, conflict_is_transient=True)


def build_deployment(spec: DeploymentSpec, yaml_path: Path = DEPLOYMENT_YAML) -> ManagedOnlineDeployment:
    """The deployment of ``yaml_path`` with name, endpoint, model, instance type, tags and the
    ``DEPLOYMENT_NAME`` / ``MODEL_NAME`` / ``MODEL_VERSION`` environment variables from ``spec``
    (offline: no workspace call)."""
    from azure.ai.ml import load_online_deployment
    from azure.ai.ml.entities import ManagedOnlineDeployment

    if not is_valid_deployment_name(spec.name):
        raise PlatformError(
            f"deployment name {spec.name!r} is not valid (3-32 letters, digits, '-', starting a letter)"
        )
    if not yaml_path.is_file():
        raise PlatformError(f"deployment YAML {yaml_path} not found")
    overrides: list[dict[str, Any]] = [{"name": spec.name}, {"endpoint_name": spec.endpoint}, {"model": spec.model}]
    if spec.instance_type:
        overrides.append({"instance_type": spec.instance_type})
    try:
        deployment = load_online_deployment(source=yaml_path, params_override=overrides)
    except Exception as exc:  # marshmallow / YAML / SDK validation errors of many types
        raise PlatformError(f"deployment YAML {yaml_path} is invalid: {type(exc).__name__}: {exc}") from exc
    if not isinstance(deployment, ManagedOnlineDeployment):
        raise PlatformError(f"{yaml_path} defines a {type(deployment).__name__}, not a managed online deployment")
    deployment.tags = {**(deployment.tags or {}), **{str(k): str(v) for k, v in spec.tags.items()}}
    # score.py writes these into every console-log line (model name and version: its fallback when
    # AZUREML_MODEL_DIR does not end in <name>/<version>).
    deployment.environment_variables = {
        **(deployment.environment_variables or {}),
        "DEPLOYMENT_NAME": spec.name,
        "MODEL_NAME": spec.model_name,
        "MODEL_VERSION": spec.model_version,
    }
    deployment.data_collector = _data_collector(deployment.data_collector, spec.data_collection, yaml_path)
    return deployment


def _data_collector(declared: Any, enabled: bool, yaml_path: Path) -> Any:
    """The YAML's data collector with score.py's collections turned on, or none at all when collection is off
    (no collector sidecar, the deployment as it was before collection existed)."""
    if not enabled:
        return None
    collections = getattr(declared, "collections", None) or {}
    missing = [name for name in SCORE_COLLECTIONS if name not in collections]
    if missing:
        raise PlatformError(
            f"deployment YAML {yaml_path} declares no data_collector collection {', '.join(missing)}: "
            "score.py collects model_inputs and model_outputs"
        )
    for collection in collections.values():
        collection.enabled = "true"
    return declared


def build_endpoint(name: str, yaml_path: Path | None = ENDPOINT_YAML) -> ManagedOnlineEndpoint:
    """The endpoint of ``yaml_path`` (key auth when there is none) named ``name``, with no traffic yet."""
    from azure.ai.ml import load_online_endpoint
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    if yaml_path is not None and yaml_path.is_file():
        try:
            endpoint = load_online_endpoint(source=yaml_path, params_override=[{"name": name}])
        except Exception as exc:
            raise PlatformError(f"endpoint YAML {yaml_path} is invalid: {type(exc).__name__}: {exc}") from exc
        if not isinstance(endpoint, ManagedOnlineEndpoint):
            raise PlatformError(f"{yaml_path} defines a {type(endpoint).__name__}, not a managed online endpoint")
    else:
        endpoint = ManagedOnlineEndpoint(name=name, auth_mode="key")
    endpoint.traffic = {}
    endpoint.mirror_traffic = {}
    return endpoint


class AzureEndpointPlatform(LazyMLClient):
    """:class:`shared.ports.EndpointPlatform` on one Azure ML workspace.

    ``client`` is an ``MLClient`` (tests pass a fake with the same ``online_endpoints`` /
    ``online_deployments`` operations); without one, it is built on first use from ``settings``.
    """

    def __init__(
        self,
        client: MLClient | None = None,
        *,
        settings: Settings | None = None,
        deployment_yaml: Path = DEPLOYMENT_YAML,
        endpoint_yaml: Path | None = ENDPOINT_YAML,
    ) -> None:
        if client is None and settings is None:
            raise ValueError("pass an MLClient or the settings to build one")
        self._init_client(client, (lambda: make_ml_client(settings)) if settings else None)
        self.deployment_yaml = deployment_yaml
        self.endpoint_yaml = endpoint_yaml

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureEndpointPlatform:
        settings.validate("subscription_id", "resource_group", "workspace_name")  # fail now, naming the setting
        return cls(settings=settings)

    def get_endpoint(self, name: str) -> EndpointState | None:
        try:
            endpoint = self.client.online_endpoints.get(name)
        except Exception as exc:
            error = translate_endpoint_error(exc, f"get endpoint {name}")
            if isinstance(error, NotFoundError):
                return None
            raise error from exc
        return EndpointState(
            name=str(endpoint.name),
            provisioning_state=str(endpoint.provisioning_state or "Unknown"),
            traffic=live(endpoint.traffic),
            mirror_traffic=live(endpoint.mirror_traffic),
            scoring_uri=endpoint.scoring_uri,
        )

    def begin_create_endpoint(self, name: str) -> None:
        endpoint = build_endpoint(name, self.endpoint_yaml)
        try:
            self.client.online_endpoints.begin_create_or_update(endpoint)  # not waited on
        except Exception as exc:
            raise translate_endpoint_error(exc, f"create endpoint {name}") from exc

    def begin_create_deployment(self, spec: DeploymentSpec) -> None:
        deployment = build_deployment(spec, self.deployment_yaml)
        try:
            self.client.online_deployments.begin_create_or_update(deployment)  # not waited on
        except Exception as exc:
            raise translate_endpoint_error(exc, f"create deployment {spec.name} on {spec.endpoint}") from exc

    def get_deployment(self, endpoint: str, name: str) -> DeploymentState | None:
        try:
            deployment = self.client.online_deployments.get(name=name, endpoint_name=endpoint)
        except Exception as exc:
            error = translate_endpoint_error(exc, f"get deployment {name} on {endpoint}")
            if isinstance(error, NotFoundError):
                return None
            raise error from exc
        state = _deployment_state(deployment)
        if state.provisioning_state == "Failed":
            state = replace(state, error=self._log_tail(endpoint, name))
        return state

    def _log_tail(self, endpoint: str, name: str, lines: int = 20) -> str | None:
        """The end of a failed deployment's container log, for the failure reason (best effort)."""
        try:
            logs = self.client.online_deployments.get_logs(name=name, endpoint_name=endpoint, lines=lines)
        except Exception:  # noqa: BLE001 - the reason is a nicety; the failure is reported either way
            return None
        text = " | ".join(line.strip() for line in str(logs).splitlines() if line.strip())
        return text[-1000:] or None

    def list_deployments(self, endpoint: str) -> list[DeploymentState]:
        try:
            return [_deployment_state(d) for d in self.client.online_deployments.list(endpoint_name=endpoint)]
        except Exception as exc:
            error = translate_endpoint_error(exc, f"list deployments of {endpoint}")
            if isinstance(error, NotFoundError):
                return []
            raise error from exc

    def set_traffic(self, endpoint: str, traffic: Mapping[str, int], mirror: Mapping[str, int] | None = None) -> None:
        check_traffic_shares(traffic, mirror)  # what Azure would refuse fails here, before any call
        what = f"set traffic of {endpoint} to {live(traffic)} (mirror {live(mirror)})"
        try:
            entity = self.client.online_endpoints.get(endpoint)
            entity.traffic = live(traffic)
            entity.mirror_traffic = live(mirror)
            self.client.online_endpoints.begin_create_or_update(entity)  # not waited on
        except Exception as exc:
            raise translate_endpoint_error(exc, what) from exc

    def begin_delete_deployment(self, endpoint: str, name: str) -> None:
        try:
            self.client.online_deployments.begin_delete(name=name, endpoint_name=endpoint)  # not waited on
        except Exception as exc:
            error = translate_endpoint_error(exc, f"delete deployment {name} on {endpoint}")
            if isinstance(error, NotFoundError):
                return
            raise error from exc

    def invoke(self, endpoint: str, deployment: str, body: bytes) -> bytes:
        # The SDK reads the request from a file (request_file=…).
        handle, path = tempfile.mkstemp(prefix="invoke-", suffix=".json")
        try:
            with os.fdopen(handle, "wb") as f:
                f.write(body)
            result = self.client.online_endpoints.invoke(
                endpoint_name=endpoint, deployment_name=deployment, request_file=path
            )
        except Exception as exc:
            raise translate_endpoint_error(exc, f"invoke {deployment} on {endpoint}", invoking=True) from exc
        finally:
            Path(path).unlink(missing_ok=True)
        return result.encode() if isinstance(result, str) else bytes(result)


def _deployment_state(deployment: Any) -> DeploymentState:
    model = deployment.model
    model_ref = model if isinstance(model, str) or model is None else getattr(model, "id", None) or str(model)
    return DeploymentState(
        name=str(deployment.name),
        provisioning_state=str(deployment.provisioning_state or "Unknown"),
        model=model_ref,
    )
