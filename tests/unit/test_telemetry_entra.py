"""Telemetry authenticated with Entra ID: the app's exporter gets the managed identity the Functions setting names,
and a drift or performance job finds its workspace's Application Insights through Azure Resource Manager (the real
azure-core pipeline, canned answers at the transport) and sends with the compute's identity."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from ml_assets.src.contracts.drift_telemetry import TelemetryBatch
from ml_assets.src.drift import telemetry as job_telemetry
from ml_assets.src.stores import workspace_app_insights as lookup
from ml_assets.src.stores.job_identity import in_azure_ml_job, workspace_resource_id
from shared import telemetry
from tests.fakes.azure_http import SUBSCRIPTION, WORKSPACE, InMemoryTransport, JsonResponse, StaticCredential

JOB_ENV = {
    "AZUREML_ARM_SUBSCRIPTION": SUBSCRIPTION,
    "AZUREML_ARM_RESOURCEGROUP": "rg-mlops",
    "AZUREML_ARM_WORKSPACE_NAME": "mlw",
}
APP_INSIGHTS = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-mlops/providers/Microsoft.Insights/components/appi-x"
APP_OWN = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-app/providers/Microsoft.Insights/components/appi-app"
CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x.in.applicationinsights.azure.com/"


class ArmTransport(InMemoryTransport):
    """The workspace and its Application Insights component, as Azure Resource Manager answers them."""

    def __init__(self, workspace: dict[str, Any], component: tuple[int, dict[str, Any]]) -> None:
        self.workspace, self.component = workspace, component
        self.requests: list[Any] = []

    def send(self, request: Any, **kwargs: Any) -> JsonResponse:
        self.requests.append(request)
        assert request.headers["Authorization"].startswith("Bearer ")
        path = request.url.split("?")[0].removeprefix("https://management.azure.com")
        if path == WORKSPACE:
            assert "api-version=2024-04-01" in request.url
            return JsonResponse(request, 200, {"id": WORKSPACE, "properties": self.workspace})
        if path in (APP_INSIGHTS, APP_OWN):
            assert "api-version=2020-02-02" in request.url
            return JsonResponse(request, *self.component)
        return JsonResponse(request, 404, {"error": {"code": "NotFound", "message": path}})


def test_a_job_knows_it_runs_in_azure_ml_and_names_its_workspace() -> None:
    assert in_azure_ml_job(JOB_ENV) and not in_azure_ml_job({**JOB_ENV, "AZUREML_ARM_WORKSPACE_NAME": ""})
    assert workspace_resource_id(JOB_ENV) == WORKSPACE


def test_the_workspace_names_its_application_insights_and_arm_gives_its_connection_string() -> None:
    transport = ArmTransport(
        {"applicationInsights": APP_INSIGHTS}, (200, {"properties": {"ConnectionString": CONNECTION}})
    )
    credential = StaticCredential()
    target = lookup.workspace_app_insights(JOB_ENV, credential=credential, transport=transport)
    assert (target.resource_id, target.connection_string, target.credential) == (APP_INSIGHTS, CONNECTION, credential)
    assert len(transport.requests) == 2


def test_a_named_resource_is_read_without_asking_the_workspace() -> None:
    """An existing workspace may have an Application Insights of its own: the jobs send where the rules look."""
    transport = ArmTransport(
        {"applicationInsights": APP_INSIGHTS}, (200, {"properties": {"ConnectionString": CONNECTION}})
    )
    target = lookup.workspace_app_insights(
        JOB_ENV, resource_id=APP_OWN, credential=StaticCredential(), transport=transport
    )
    assert target.resource_id == APP_OWN
    assert [r.url.split("?")[0].removeprefix("https://management.azure.com") for r in transport.requests] == [APP_OWN]


def test_a_workspace_naming_something_else_than_a_component_is_a_clear_error() -> None:
    transport = ArmTransport({"applicationInsights": "/subscriptions/x/not-a-component"}, (200, {}))
    with pytest.raises(lookup.WorkspaceTelemetryError, match="names no Application Insights"):
        lookup.workspace_app_insights(JOB_ENV, credential=StaticCredential(), transport=transport)


def test_a_workspace_without_application_insights_is_a_clear_error() -> None:
    transport = ArmTransport({"applicationInsights": None}, (200, {}))
    with pytest.raises(lookup.WorkspaceTelemetryError, match="names no Application Insights"):
        lookup.workspace_app_insights(JOB_ENV, credential=StaticCredential(), transport=transport)


def test_a_refused_read_is_raised_with_the_service_answer() -> None:
    refused = (403, {"error": {"code": "AuthorizationFailed", "message": "no components/read"}})
    transport = ArmTransport({"applicationInsights": APP_INSIGHTS}, refused)
    with pytest.raises(HttpResponseError, match=r"AuthorizationFailed|no components/read"):
        lookup.workspace_app_insights(JOB_ENV, credential=StaticCredential(), transport=transport)


def test_a_component_without_a_connection_string_is_a_clear_error() -> None:
    transport = ArmTransport({"applicationInsights": APP_INSIGHTS}, (200, {"properties": {}}))
    with pytest.raises(lookup.WorkspaceTelemetryError, match="has no connection string"):
        lookup.workspace_app_insights(JOB_ENV, credential=StaticCredential(), transport=transport)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        job_telemetry, "send_to_azure_monitor", lambda cs, batch, credential=None: calls.append((cs, credential))
    )
    return calls


def test_in_an_azure_ml_job_telemetry_goes_to_the_workspace_s_application_insights_with_the_compute_identity(
    sent: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = StaticCredential()
    monkeypatch.setattr(
        lookup,
        "workspace_app_insights",
        lambda env, resource_id=None: lookup.TelemetryTarget(resource_id or APP_INSIGHTS, CONNECTION, credential),
    )
    assert job_telemetry.emit(TelemetryBatch((), ()), JOB_ENV) == f"azure_monitor {APP_INSIGHTS}"
    assert sent == [(CONNECTION, credential)]
    # a submission that names the resource the alert rules watch gets that one
    assert job_telemetry.emit(TelemetryBatch((), ()), JOB_ENV, resource_id=APP_OWN) == f"azure_monitor {APP_OWN}"


def test_a_given_connection_string_wins_and_is_still_sent_with_the_compute_identity(
    sent: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        lookup, "workspace_app_insights", lambda env, **_: pytest.fail("no lookup with a connection string")
    )
    env = {**JOB_ENV, "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION}
    assert job_telemetry.emit(TelemetryBatch((), ()), env) == "azure_monitor"
    ((connection, credential),) = sent
    assert connection == CONNECTION and type(credential).__name__ == "DefaultAzureCredential"


def test_outside_azure_ml_a_connection_string_is_used_as_given_and_without_one_the_local_file(
    sent: list[tuple[str, Any]], tmp_path: Any
) -> None:
    assert (
        job_telemetry.emit(TelemetryBatch((), ()), {"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION})
        == "azure_monitor"
    )
    assert sent == [(CONNECTION, None)]
    local = tmp_path / "telemetry.jsonl"
    assert job_telemetry.emit(TelemetryBatch((), ()), {"LOCAL_TELEMETRY_FILE": str(local)}) == str(local)
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("setting", "client_id"),
    [
        ("ClientId=1111-2222;Authorization=AAD", "1111-2222"),
        ("Authorization=AAD", None),
        (" authorization = aad ; clientid = abc ", "abc"),
    ],
)
def test_the_app_sends_with_the_managed_identity_the_authentication_string_names(
    setting: str, client_id: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.identity

    made: list[dict[str, Any]] = []
    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", lambda **kwargs: made.append(kwargs) or "mi")
    assert telemetry.entra_credential(setting) == "mi"
    assert made == [{"client_id": client_id} if client_id else {}]


@pytest.mark.parametrize("setting", ["", "Authorization=Key", "ClientId=abc", "garbage;;=x"])
def test_without_aad_the_app_sends_by_key(setting: str) -> None:
    assert telemetry.entra_credential(setting) is None


def test_configure_telemetry_passes_the_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.monitor.opentelemetry as distro

    seen: dict[str, Any] = {}
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kwargs: seen.update(kwargs))
    monkeypatch.setattr(telemetry, "_configured", False)
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", CONNECTION)
    monkeypatch.setenv("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "ClientId=abc;Authorization=AAD")
    assert telemetry.configure_telemetry()
    assert type(seen["credential"]).__name__ == "ManagedIdentityCredential" and seen["logger_name"] == "shared"
