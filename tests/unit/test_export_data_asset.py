"""The optional data asset: the real azure-ai-ml entity, built offline, sent through a fake MLClient."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from shared.azure.data_assets import AzureMLDataAssets, build_data_asset
from shared.context import AppContext
from shared.ports import PlatformError, TransientError
from shared.settings import Settings

URL = "https://acct.blob.core.windows.net/inference-data/inference"


def test_the_entity_is_a_uri_folder_over_the_export_prefix() -> None:
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Data

    asset = build_data_asset("inference", "20261124114955", URL, description="d", tags={"model": "m"})
    assert isinstance(asset, Data)
    assert asset.type == AssetTypes.URI_FOLDER
    assert (asset.name, asset.version, asset.path) == ("inference", "20261124114955", URL + "/")
    assert asset.tags == {"model": "m"}
    rest = asset._to_rest_object()  # what create_or_update sends
    assert rest.properties.data_uri == URL + "/"


class _Data:
    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[Any] = []
        self.error = error

    def create_or_update(self, asset: Any) -> Any:
        self.sent.append(asset)
        if self.error:
            raise self.error
        return asset


class _Client:
    def __init__(self, error: Exception | None = None) -> None:
        self.data = _Data(error)


def _http_error(status: int) -> HttpResponseError:
    error = HttpResponseError(message=f"HTTP {status}")
    error.status_code = status
    return error


def test_publish_sends_the_entity_and_returns_its_reference() -> None:
    client = _Client()
    assets = AzureMLDataAssets(name="inference", path=URL, client=client)
    assert assets.publish("1", description="d", tags={}) == "azureml:inference:1"
    (sent,) = client.data.sent
    assert sent.version == "1" and sent.path == URL + "/"


@pytest.mark.parametrize("error", [ResourceExistsError("exists"), _http_error(409)])
def test_an_existing_version_counts_as_created(error: Exception) -> None:
    assets = AzureMLDataAssets(name="inference", path=URL, client=_Client(error))
    assert assets.publish("1", description="d", tags={}) == "azureml:inference:1"


@pytest.mark.parametrize(("status", "kind"), [(503, TransientError), (429, TransientError), (403, PlatformError)])
def test_failures_are_translated(status: int, kind: type[Exception]) -> None:
    assets = AzureMLDataAssets(name="inference", path=URL, client=_Client(_http_error(status)))
    with pytest.raises(kind) as raised:
        assets.publish("1", description="d", tags={})
    assert type(raised.value) is kind


def test_the_context_builds_a_publisher_only_when_configured_in_azure_mode() -> None:
    assert AppContext(settings=Settings({})).data_assets() is None
    local = Settings({"EXPORT_DATA_ASSET_NAME": "inference", "MLOPS_MODE": "local"})
    assert AppContext(settings=local).data_assets() is None
