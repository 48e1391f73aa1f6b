"""The Azure implementations of EndpointPlatform and ModelRegistry, against a fake MLClient.

The fake stands at the SDK boundary (``online_endpoints`` / ``online_deployments`` / ``models``
operations) and raises the real azure-core exceptions; the entity objects the platform sends are the
real ``azure-ai-ml`` types, built from the repo's YAML and validated offline.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from azure.ai.ml.entities import DataCollector, DeploymentCollection, ManagedOnlineDeployment, ManagedOnlineEndpoint
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.azure.endpoints import (
    DEPLOYMENT_YAML,
    ENDPOINT_YAML,
    AzureEndpointPlatform,
    build_deployment,
    build_endpoint,
)
from shared.azure.models import AzureModelRegistry
from shared.context import AppContext
from shared.ports import DeploymentSpec, NotFoundError, PlatformError, TransientError
from shared.services.rollout_state import deployment_name
from shared.settings import Settings
from shared.settings_parsing import SettingsError

SPEC = DeploymentSpec(
    endpoint="credit-default",
    name="v12-a1b2c3",
    model="azureml:credit-default:12",
    model_name="credit-default",
    model_version="12",
    instance_type="Standard_F4s_v2",
    tags={"model_version": "12", "rollout_id": "r-1"},
)


def http_error(status: int, message: str = "service says no") -> HttpResponseError:
    error = HttpResponseError(message=message)
    error.status_code = status
    error.reason = "Reason"
    return error


class NoWaitPoller:
    """What begin_* returns; the platform must never block on it."""

    def result(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("waited on a long-running operation")

    wait = result

    def done(self) -> bool:
        return False


class Operations:
    def __init__(self) -> None:
        self.errors: dict[str, BaseException] = {}
        self.calls: list[tuple[str, Any]] = []

    def _call(self, method: str, arg: Any) -> None:
        self.calls.append((method, arg))
        if method in self.errors:
            raise self.errors[method]


class FakeEndpoints(Operations):
    def __init__(self) -> None:
        super().__init__()
        self.entity = ManagedOnlineEndpoint(name="credit-default", auth_mode="key")
        self.entity.traffic = {"blue": 100, "idle": 0}
        self.invoke_result = '{"predictions": [0.25]}'
        self.request_bodies: list[bytes] = []

    def get(self, name: str) -> ManagedOnlineEndpoint:
        self._call("get", name)
        return copy.deepcopy(self.entity)

    def begin_create_or_update(self, endpoint: ManagedOnlineEndpoint) -> NoWaitPoller:
        self._call("begin_create_or_update", endpoint)
        return NoWaitPoller()

    def invoke(self, endpoint_name: str, *, request_file: str, deployment_name: str | None = None) -> str:
        self.request_bodies.append(Path(request_file).read_bytes())
        self._call("invoke", (endpoint_name, deployment_name))
        return self.invoke_result


class FakeDeployments(Operations):
    def __init__(self) -> None:
        super().__init__()
        self.entity = ManagedOnlineDeployment(
            name="blue", endpoint_name="credit-default", model="credit-default:3", instance_type="Standard_DS3_v2"
        )

    def get(self, name: str, endpoint_name: str) -> ManagedOnlineDeployment:
        self._call("get", (name, endpoint_name))
        return self.entity

    def list(self, endpoint_name: str) -> list[ManagedOnlineDeployment]:
        self._call("list", endpoint_name)
        return [self.entity]

    def begin_create_or_update(self, deployment: ManagedOnlineDeployment) -> NoWaitPoller:
        self._call("begin_create_or_update", deployment)
        return NoWaitPoller()

    def begin_delete(self, name: str, endpoint_name: str) -> NoWaitPoller:
        self._call("begin_delete", (name, endpoint_name))
        return NoWaitPoller()


class FakeModel:
    def __init__(self, name: str, version: str, tags: dict[str, str]) -> None:
        self.name, self.version, self.tags, self.properties = name, version, tags, {"flavors": "sklearn"}


class FakeModels(Operations):
    def __init__(self, versions: dict[str, dict[str, str]] | None = None) -> None:
        super().__init__()
        self.versions = versions if versions is not None else {}

    def get(self, name: str, version: str | None = None, label: str | None = None) -> FakeModel:
        self._call("get", (name, version, label))
        if label == "latest" and self.versions:
            version = max(self.versions, key=int)
        if version not in self.versions:
            raise ResourceNotFoundError(f"model {name}:{version} not found")
        return FakeModel(name, str(version), self.versions[str(version)])

    def share(self, **kwargs: Any) -> FakeModel:
        self._call("share", kwargs)
        return FakeModel(kwargs["name"], kwargs["version"], {})


class FakeMLClient:
    def __init__(self) -> None:
        self.online_endpoints = FakeEndpoints()
        self.online_deployments = FakeDeployments()
        self.models = FakeModels({"11": {"training_data": "credit-default-training:4"}, "12": {}})


@pytest.fixture
def client() -> FakeMLClient:
    return FakeMLClient()


@pytest.fixture
def platform(client: FakeMLClient) -> AzureEndpointPlatform:
    return AzureEndpointPlatform(client)  # type: ignore[arg-type]


# --- entities built offline from the repo's YAML -------------------------------------------------


def test_deployment_is_built_from_the_repos_yaml_with_the_spec_applied() -> None:
    deployment = build_deployment(SPEC, DEPLOYMENT_YAML)

    assert isinstance(deployment, ManagedOnlineDeployment)
    assert deployment.name == "v12-a1b2c3"
    assert deployment.endpoint_name == "credit-default"
    assert deployment.model == "credit-default:12"  # the SDK's form of azureml:credit-default:12
    assert deployment.instance_type == "Standard_F4s_v2"
    assert deployment.tags["model_version"] == "12" and deployment.tags["rollout_id"] == "r-1"
    env = deployment.environment_variables
    assert (env["DEPLOYMENT_NAME"], env["MODEL_NAME"], env["MODEL_VERSION"]) == ("v12-a1b2c3", "credit-default", "12")
    assert env["OMP_NUM_THREADS"] == "1"  # the YAML's own variables are kept
    assert deployment.code_configuration is not None and deployment.code_configuration.scoring_script
    # what would be sent (without the workspace: the code and environment are resolved at submit time)
    rest = deployment._to_rest_object(location="westeurope").as_dict()
    assert rest["properties"]["model"] == "credit-default:12"
    assert rest["properties"]["instanceType"] == "Standard_F4s_v2"
    assert rest["properties"]["environmentVariables"]["DEPLOYMENT_NAME"] == "v12-a1b2c3"


def test_deployment_without_data_collection_has_no_data_collector() -> None:
    deployment = build_deployment(SPEC, DEPLOYMENT_YAML)
    assert deployment.data_collector is None
    rest = deployment._to_rest_object(location="westeurope").as_dict()
    assert "dataCollector" not in rest["properties"]


def test_deployment_with_data_collection_enables_the_collections_score_py_fills() -> None:
    deployment = build_deployment(replace(SPEC, data_collection=True), DEPLOYMENT_YAML)
    collector = deployment.data_collector
    assert isinstance(collector, DataCollector)
    assert set(collector.collections) == {"model_inputs", "model_outputs"}
    assert all(isinstance(c, DeploymentCollection) for c in collector.collections.values())
    assert {c.enabled for c in collector.collections.values()} == {"true"}
    rest = deployment._to_rest_object(location="westeurope").as_dict()
    collections = rest["properties"]["dataCollector"]["collections"]
    assert {name: c["dataCollectionMode"] for name, c in collections.items()} == {
        "model_inputs": "enabled",
        "model_outputs": "enabled",
    }
    # the same YAML read again is still off: the spec changed the built object, not the file
    assert build_deployment(SPEC, DEPLOYMENT_YAML).data_collector is None


def test_data_collection_refuses_a_yaml_without_score_pys_collections(tmp_path: Path) -> None:
    text = DEPLOYMENT_YAML.read_text()
    yaml_path = tmp_path / "endpoints" / "deployment.yml"
    yaml_path.parent.mkdir()
    yaml_path.write_text(text.replace("    model_outputs:\n      enabled: 'False'\n", ""))
    (tmp_path / "environments").mkdir()
    conda = DEPLOYMENT_YAML.parent.parent / "environments" / "score.conda.yml"
    (tmp_path / "environments" / "score.conda.yml").write_text(conda.read_text())
    assert build_deployment(SPEC, yaml_path).data_collector is None  # off: what the YAML declares does not matter
    with pytest.raises(PlatformError, match="model_outputs"):
        build_deployment(replace(SPEC, data_collection=True), yaml_path)


def test_deployment_can_reference_a_registry_model() -> None:
    ref = "azureml://registries/shared-reg/models/credit-default/versions/12"
    deployment = build_deployment(
        DeploymentSpec("credit-default", "v12-a1b2c3", ref, "credit-default", "12"), DEPLOYMENT_YAML
    )
    assert deployment.model == ref
    assert deployment.instance_type  # the YAML's, when the spec sets none


def test_deployment_building_refuses_a_bad_name_or_a_missing_yaml(tmp_path: Path) -> None:
    bad = DeploymentSpec("credit-default", "12-starts-with-digit", "azureml:m:1", "m", "1")
    with pytest.raises(PlatformError, match="not valid"):
        build_deployment(bad, DEPLOYMENT_YAML)
    with pytest.raises(PlatformError, match="not found"):
        build_deployment(SPEC, tmp_path / "missing.yml")
    broken = tmp_path / "deployment.yml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(PlatformError, match="invalid"):
        build_deployment(SPEC, broken)


def test_endpoint_is_built_from_the_repos_yaml_without_traffic() -> None:
    endpoint = build_endpoint("my-endpoint", ENDPOINT_YAML)
    assert isinstance(endpoint, ManagedOnlineEndpoint)
    assert endpoint.name == "my-endpoint"
    assert endpoint.auth_mode == "key"
    assert endpoint.traffic == {} and endpoint.mirror_traffic == {}
    fallback = build_endpoint("other", None)
    assert fallback.name == "other" and fallback.auth_mode == "key"


@settings(max_examples=200, deadline=None)
@given(
    version=st.one_of(st.integers(0, 10**30).map(str), st.from_regex(r"\d{1,5}(\.\d{1,5}){0,6}", fullmatch=True)),
    rollout_id=st.text(min_size=1, max_size=40),
)
def test_derived_deployment_names_pass_the_sdks_validation(version: str, rollout_id: str) -> None:
    from azure.ai.ml.entities._endpoint._endpoint_helpers import validate_endpoint_or_deployment_name

    name = deployment_name("credit-default", version, rollout_id)
    validate_endpoint_or_deployment_name(name, is_deployment=True)  # raises ValidationException if not


# --- operations: what is sent, and no waiting ----------------------------------------------------


def test_creating_a_deployment_sends_the_built_entity_without_waiting(
    client: FakeMLClient, platform: AzureEndpointPlatform
) -> None:
    platform.begin_create_deployment(SPEC)
    method, sent = client.online_deployments.calls[-1]
    assert method == "begin_create_or_update"
    assert isinstance(sent, ManagedOnlineDeployment)
    assert (sent.name, sent.endpoint_name, sent.model) == ("v12-a1b2c3", "credit-default", "credit-default:12")


def test_creating_an_endpoint_sends_a_managed_endpoint_without_waiting(
    client: FakeMLClient, platform: AzureEndpointPlatform
) -> None:
    platform.begin_create_endpoint("credit-default")
    method, sent = client.online_endpoints.calls[-1]
    assert method == "begin_create_or_update" and isinstance(sent, ManagedOnlineEndpoint)
    assert sent.name == "credit-default"


def test_endpoint_state_lists_only_deployments_with_traffic(platform: AzureEndpointPlatform) -> None:
    state = platform.get_endpoint("credit-default")
    assert state is not None
    assert state.traffic == {"blue": 100}
    assert state.mirror_traffic == {}


def test_set_traffic_updates_the_endpoint_entity(client: FakeMLClient, platform: AzureEndpointPlatform) -> None:
    platform.set_traffic("credit-default", {"blue": 90, "green": 10}, {"idle": 0})
    method, sent = client.online_endpoints.calls[-1]
    assert method == "begin_create_or_update"
    assert sent.traffic == {"blue": 90, "green": 10}
    assert sent.mirror_traffic == {}
    platform.set_traffic("credit-default", {"blue": 100}, {"green": 20})
    assert client.online_endpoints.calls[-1][1].mirror_traffic == {"green": 20}


@pytest.mark.parametrize(
    ("traffic", "mirror", "message"),
    [
        ({"blue": 90}, {}, "sum to 100"),
        ({"blue": 60, "green": 50}, {}, "sum to 100"),
        ({"blue": 100}, {"green": 60}, "at most 50"),
        ({"blue": 100}, {"blue": 10}, "live traffic"),
        ({"blue": 101, "green": -1}, {}, "0..100"),
    ],
)
def test_set_traffic_refuses_what_azure_would_reject_before_sending(
    client: FakeMLClient, platform: AzureEndpointPlatform, traffic: dict, mirror: dict, message: str
) -> None:
    with pytest.raises(PlatformError, match=message):
        platform.set_traffic("credit-default", traffic, mirror)
    assert client.online_endpoints.calls == []


def test_deployments_are_read_and_deleted_without_waiting(
    client: FakeMLClient, platform: AzureEndpointPlatform
) -> None:
    state = platform.get_deployment("credit-default", "blue")
    assert state is not None and state.name == "blue" and state.model == "credit-default:3"
    assert [d.name for d in platform.list_deployments("credit-default")] == ["blue"]
    platform.begin_delete_deployment("credit-default", "blue")
    assert client.online_deployments.calls[-1] == ("begin_delete", ("blue", "credit-default"))


def test_invoke_sends_the_body_to_the_named_deployment(client: FakeMLClient, platform: AzureEndpointPlatform) -> None:
    out = platform.invoke("credit-default", "v12-a1b2c3", b'{"data": [{"age": 30}]}')
    assert out == b'{"predictions": [0.25]}'
    assert client.online_endpoints.request_bodies == [b'{"data": [{"age": 30}]}']
    assert client.online_endpoints.calls[-1] == ("invoke", ("credit-default", "v12-a1b2c3"))


# --- error translation ---------------------------------------------------------------------------

ERRORS = [
    (ResourceNotFoundError("gone"), NotFoundError),
    (http_error(503), TransientError),
    (http_error(429), TransientError),
    (http_error(500), TransientError),
    (ResourceExistsError("an operation is in progress"), TransientError),
    (ServiceRequestError("connection refused"), TransientError),
    (ClientAuthenticationError("no token"), TransientError),
    (http_error(403, "AuthorizationFailed"), PlatformError),
    (http_error(400, "BadRequest"), PlatformError),
]


@pytest.mark.parametrize(("error", "expected"), ERRORS, ids=[type(e).__name__ + str(t.__name__) for e, t in ERRORS])
def test_azure_errors_become_port_errors(
    client: FakeMLClient, platform: AzureEndpointPlatform, error: BaseException, expected: type
) -> None:
    client.online_endpoints.errors["begin_create_or_update"] = error
    with pytest.raises(PlatformError) as caught:
        platform.set_traffic("credit-default", {"blue": 100})
    assert type(caught.value) is expected


def test_not_found_reads_as_absent_and_not_found_deletes_as_done(
    client: FakeMLClient, platform: AzureEndpointPlatform
) -> None:
    client.online_endpoints.errors["get"] = ResourceNotFoundError("no endpoint")
    client.online_deployments.errors.update(
        get=ResourceNotFoundError("no deployment"),
        list=ResourceNotFoundError("no endpoint"),
        begin_delete=ResourceNotFoundError("no deployment"),
    )
    assert platform.get_endpoint("credit-default") is None
    assert platform.get_deployment("credit-default", "blue") is None
    assert platform.list_deployments("credit-default") == []
    platform.begin_delete_deployment("credit-default", "blue")  # already gone: nothing to do


def test_a_sdk_validation_error_is_a_platform_error(client: FakeMLClient, platform: AzureEndpointPlatform) -> None:
    from azure.ai.ml.exceptions import ValidationException

    client.online_deployments.errors["begin_create_or_update"] = ValidationException(
        message="code path does not exist", no_personal_data_message="code path does not exist"
    )
    with pytest.raises(PlatformError, match="code path does not exist") as caught:
        platform.begin_create_deployment(SPEC)
    assert not isinstance(caught.value, TransientError)


@pytest.mark.parametrize(
    ("error", "expected"),
    [(http_error(500, "scoring script raised"), PlatformError), (http_error(503), TransientError)],
    ids=["500 is the scoring script", "503 is transient"],
)
def test_invoke_errors(client: FakeMLClient, platform: AzureEndpointPlatform, error: Exception, expected: type) -> None:
    client.online_endpoints.errors["invoke"] = error
    with pytest.raises(PlatformError) as caught:
        platform.invoke("credit-default", "v12-a1b2c3", b"{}")
    assert type(caught.value) is expected


# --- model registry ------------------------------------------------------------------------------


class RegistryClient:
    def __init__(self, versions: dict[str, dict[str, str]]) -> None:
        self.models = FakeModels(versions)


def test_model_registry_reads_models_and_their_tags(client: FakeMLClient) -> None:
    registry = AzureModelRegistry(client)  # type: ignore[arg-type]
    model = registry.get_model("credit-default", "11")
    assert model.version == "11" and model.tags == {"training_data": "credit-default-training:4"}
    assert model.path == "azureml:credit-default:11"
    latest = registry.latest_model("credit-default")
    assert latest is not None and latest.version == "12"
    with pytest.raises(NotFoundError):
        registry.get_model("credit-default", "99")
    client.models.versions = {}
    assert registry.latest_model("credit-default") is None


def test_sharing_copies_the_model_into_the_registry_once(client: FakeMLClient) -> None:
    in_registry: dict[str, dict[str, str]] = {}
    registry = AzureModelRegistry(client, registry_client=lambda name: RegistryClient(in_registry))  # type: ignore[arg-type]

    ref = registry.share_to_registry("credit-default", "12", "shared-reg")

    assert ref == "azureml://registries/shared-reg/models/credit-default/versions/12"
    shares = [arg for method, arg in client.models.calls if method == "share"]
    assert shares == [
        {
            "name": "credit-default",
            "version": "12",
            "share_with_name": "credit-default",
            "share_with_version": "12",
            "registry_name": "shared-reg",
        }
    ]
    in_registry["12"] = {}
    assert registry.share_to_registry("credit-default", "12", "shared-reg") == ref
    assert len([m for m, _ in client.models.calls if m == "share"]) == 1  # already there: not shared again


def test_sharing_errors_are_translated(client: FakeMLClient) -> None:
    registry = AzureModelRegistry(client, registry_client=lambda name: RegistryClient({}))  # type: ignore[arg-type]
    client.models.errors["share"] = http_error(403, "AuthorizationFailed on the registry")
    with pytest.raises(PlatformError, match="AuthorizationFailed") as caught:
        registry.share_to_registry("credit-default", "12", "shared-reg")
    assert not isinstance(caught.value, TransientError)


# --- composition root ----------------------------------------------------------------------------


def test_context_builds_the_azure_platform_lazily_and_names_missing_settings() -> None:
    env = {
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
        "AZURE_RESOURCE_GROUP": "rg",
        "AML_WORKSPACE_NAME": "ws",
    }
    platform = AppContext(settings=Settings(env)).endpoint_platform()
    assert isinstance(platform, AzureEndpointPlatform)
    assert platform._client is None  # no MLClient (and no credential) until the first call
    assert isinstance(AppContext(settings=Settings(env)).model_registry(), AzureModelRegistry)
    with pytest.raises(SettingsError, match="AZURE_SUBSCRIPTION_ID"):
        AppContext(settings=Settings({})).endpoint_platform()
    # local mode builds shared.local.endpoint_platform.LocalEndpointPlatform: tests/unit/test_local_endpoint_rules.py


def test_context_uses_the_local_registry_in_local_mode(tmp_path: Path) -> None:
    from shared.local.registry import LocalRegistry

    env = {"MLOPS_MODE": "local", "LOCAL_STATE_DIR": str(tmp_path)}
    registry = AppContext(settings=Settings(env)).model_registry()
    assert isinstance(registry, LocalRegistry)
    assert registry.latest_model("credit-default") is None
