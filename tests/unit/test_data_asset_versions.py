"""The data asset versions retraining reads: the Azure implementation on the real ``MLClient`` with canned HTTP
answers at the azure-core transport, and the local one over the local data assets."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.azure.data_assets import AzureMLDataAssetVersions
from shared.context import AppContext
from shared.local.data_assets import LocalDataAssetStore, LocalDataAssetVersions
from shared.ports import NotFoundError, PlatformError, TransientError
from shared.settings import Settings
from tests.fakes.azure_http import SUBSCRIPTION, WORKSPACE, InMemoryTransport, JsonResponse, ml_client_on

ASSET = "credit-default-training"
VERSIONS_PATH = f"{WORKSPACE}/data/{ASSET}/versions"


def version(number: str) -> dict[str, Any]:
    """One item of the service's list of data versions."""
    return {
        "id": f"{VERSIONS_PATH}/{number}",
        "name": number,
        "type": "Microsoft.MachineLearningServices/workspaces/data/versions",
        "properties": {
            "dataType": "uri_folder",
            "dataUri": f"azureml://datastores/workspaceblobstore/paths/training/v{number}/",
            "isArchived": False,
        },
    }


class DataVersionsResource(InMemoryTransport):
    """The workspace's ``data/<name>/versions`` list: ``pages`` of versions (linked by ``nextLink``), or a status."""

    def __init__(self, pages: list[list[str]] | None = None, *, status: int = 200) -> None:
        self.pages = pages or [[]]
        self.status = status
        self.requests: list[Any] = []

    def send(self, request: Any, **kwargs: Any) -> JsonResponse:
        self.requests.append(request)
        if self.status != 200:
            code = "UserError" if self.status < 500 else "ServiceError"
            return JsonResponse(request, self.status, {"error": {"code": code, "message": f"status {self.status}"}})
        url = urlsplit(request.url)
        page = int(parse_qs(url.query).get("page", ["0"])[0])
        body: dict[str, Any] = {"value": [version(v) for v in self.pages[page]]}
        if page + 1 < len(self.pages):
            body["nextLink"] = f"https://management.azure.com{VERSIONS_PATH}?page={page + 1}"
        return JsonResponse(request, 200, body)


def versions_on(service: DataVersionsResource) -> AzureMLDataAssetVersions:
    return AzureMLDataAssetVersions(client=ml_client_on(service))


def test_every_page_of_versions_is_read() -> None:
    service = DataVersionsResource([["1", "2"], ["10"]])

    assert versions_on(service).versions(ASSET) == ["1", "2", "10"]

    first = urlsplit(service.requests[0].url)
    assert first.path == f"{VERSIONS_PATH}" and parse_qs(first.query)["listViewType"] == ["ActiveOnly"]
    assert len(service.requests) == 2


def test_an_asset_without_versions_lists_none() -> None:
    assert versions_on(DataVersionsResource([[]])).versions(ASSET) == []


def test_an_unknown_asset_is_not_found() -> None:
    with pytest.raises(NotFoundError, match=f"data asset {ASSET}"):
        versions_on(DataVersionsResource(status=404)).versions(ASSET)


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_and_service_errors_are_transient(status: int) -> None:
    with pytest.raises(TransientError, match=f"HTTP {status}"):
        versions_on(DataVersionsResource(status=status)).versions(ASSET)


def test_a_forbidden_list_is_refused_not_transient() -> None:
    with pytest.raises(PlatformError, match="HTTP 403") as raised:
        versions_on(DataVersionsResource(status=403)).versions(ASSET)
    assert not isinstance(raised.value, TransientError | NotFoundError)


def test_the_local_versions_are_the_registered_ones(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("a\n1\n")
    store = LocalDataAssetStore(tmp_path / "state")
    for _ in range(3):
        store.register(ASSET, source)
    local = LocalDataAssetVersions(tmp_path / "state")

    assert local.versions(ASSET) == ["1", "2", "3"]
    assert local.versions("never-registered") == []
    with pytest.raises(PlatformError, match="data asset name"):
        local.versions("not/a name")


def test_the_context_builds_the_local_versions_in_local_mode_and_the_azure_ones_otherwise(tmp_path: Path) -> None:
    local = AppContext(settings=Settings({"MLOPS_MODE": "local", "LOCAL_STATE_DIR": str(tmp_path)}))
    azure = AppContext(
        settings=Settings(
            {"AZURE_SUBSCRIPTION_ID": SUBSCRIPTION, "AZURE_RESOURCE_GROUP": "rg-mlops", "AML_WORKSPACE_NAME": "mlw"}
        )
    )

    assert isinstance(local.data_asset_versions(), LocalDataAssetVersions)
    assert isinstance(azure.data_asset_versions(), AzureMLDataAssetVersions)  # its client is built on first use
