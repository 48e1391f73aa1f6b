"""A new version of an Azure ML data asset (``uri_folder``) over the exported inference data.

After an export run that wrote data, the export can register ``<EXPORT_DATA_ASSET_NAME>`` version
``<watermark as YYYYMMDDHHMMSS>`` pointing at the export prefix (an ``https://<account>.blob…/<container>/
<prefix>/`` URL), so pipelines can consume ``azureml:<asset>@latest``. The version is derived from the
watermark, so a retry after a crash re-creates the same version instead of a new one.

:func:`build_data_asset` builds the real ``azure.ai.ml.entities.Data`` entity (tests validate it offline);
:class:`AzureMLDataAssets` sends it with ``MLClient.data.create_or_update``. ``azure.ai.ml`` is heavy and
imported inside the functions that need it.

:class:`AzureMLDataAssetVersions` lists the versions of a data asset (``MLClient.data.list(name=…)``), which
retraining reads to give the training pipeline the training data's previous version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.azure.ml_client import LazyMLClient, translate_ml_error, workspace_client
from shared.ports import PlatformError, TransientError
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import Data

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def build_data_asset(name: str, version: str, path: str, *, description: str, tags: Mapping[str, str]) -> Data:
    """The ``uri_folder`` data asset entity (no workspace call)."""
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Data

    if not path.endswith("/"):
        path += "/"
    return Data(
        name=name,
        version=version,
        type=AssetTypes.URI_FOLDER,
        path=path,
        description=description,
        tags={str(k): str(v) for k, v in tags.items()},
    )


class AzureMLDataAssets(LazyMLClient):
    """:class:`shared.ports.DataAssetPublisher` for one asset name and folder URL."""

    def __init__(
        self,
        *,
        name: str,
        path: str,
        client: MLClient | Any | None = None,
        scope: tuple[str, str, str] | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self._init_client(client, (lambda: workspace_client(*scope)) if scope else None)

    @classmethod
    def from_settings(cls, settings: Settings, *, path: str) -> AzureMLDataAssets:
        name = settings.export_data_asset
        if not name:
            raise ValueError("EXPORT_DATA_ASSET_NAME is not set")
        return cls(
            name=name,
            path=path,
            scope=(settings.subscription_id, settings.resource_group, settings.workspace_name),
        )

    def publish(self, version: str, *, description: str, tags: Mapping[str, str]) -> str:
        from azure.ai.ml.exceptions import MlException
        from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError

        asset = build_data_asset(self.name, version, self.path, description=description, tags=tags)
        reference = f"azureml:{self.name}:{version}"
        try:
            self.client.data.create_or_update(asset)
        except MlException as exc:  # the SDK's own validation
            raise PlatformError(f"create data asset {reference}: {exc}") from exc
        except ResourceExistsError:
            return reference  # created by an earlier attempt of the same run
        except HttpResponseError as exc:
            if exc.status_code == 409:
                return reference
            if exc.status_code in _TRANSIENT_STATUS:
                raise TransientError(f"create data asset {reference}: HTTP {exc.status_code} {exc.reason}") from exc
            raise PlatformError(f"create data asset {reference}: {exc}") from exc
        except AzureError as exc:
            raise TransientError(f"create data asset {reference}: {exc}") from exc
        return reference


class AzureMLDataAssetVersions(LazyMLClient):
    """:class:`shared.ports.DataAssetVersions` on the workspace's data assets."""

    def __init__(self, *, client: MLClient | Any | None = None, scope: tuple[str, str, str] | None = None) -> None:
        self._init_client(client, (lambda: workspace_client(*scope)) if scope else None)

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureMLDataAssetVersions:
        return cls(scope=(settings.subscription_id, settings.resource_group, settings.workspace_name))

    def versions(self, name: str) -> list[str]:
        """Every active (not archived) version of ``name``; the pages are fetched while iterating, so errors are
        read there too (NotFoundError, TransientError, PlatformError)."""
        try:
            return [str(asset.version) for asset in self.client.data.list(name=name)]
        except Exception as exc:
            raise translate_ml_error(exc, f"list the versions of data asset {name}") from exc
