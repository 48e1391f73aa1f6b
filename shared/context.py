"""The composition root: which implementation of each port the handlers use.

Handlers call :func:`get_context` and ask it for a port; the first call builds the implementation
from the settings (Azure SDKs or the local mode), importing it only then, so function start-up
stays light. Tests install their own context with :func:`use_context`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.ports import (
    BlobWriter,
    DataAssetPublisher,
    DataAssetVersions,
    DeploymentMetrics,
    EndpointPlatform,
    JobPlatform,
    LogSource,
    ModelRegistry,
    PromotionRegistry,
    StateStore,
)
from shared.settings import Settings, get_settings


@dataclass
class AppContext:
    """Lazily built ports for one process. Pass ready-made ports to override (tests)."""

    settings: Settings = field(default_factory=get_settings)
    overrides: dict[str, Any] = field(default_factory=dict)
    _built: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def _port(self, name: str) -> Any:
        if name in self.overrides:
            return self.overrides[name]
        if name not in self._built:
            self._built[name] = getattr(self, f"_build_{name}")()
        return self._built[name]

    def state_store(self) -> StateStore:
        return self._port("state_store")  # type: ignore[no-any-return]

    def _build_state_store(self) -> StateStore:
        from shared.azure.storage import BlobStateStore

        return BlobStateStore.from_settings(self.settings)

    # the export: where the console logs come from, where the data goes, the optional data asset
    def log_source(self) -> LogSource:
        return self._port("log_source")  # type: ignore[no-any-return]

    def _build_log_source(self) -> LogSource:
        if self.settings.mode == "local":
            from shared.local.console_logs import ConsoleLogSource, console_log_root

            return ConsoleLogSource(
                console_log_root(self.settings), endpoint=self.settings.endpoint_name, model=self.settings.model_name
            )
        from shared.azure.log_analytics import LogAnalyticsSource

        return LogAnalyticsSource.from_settings(self.settings)

    def export_writer(self) -> BlobWriter:
        return self._port("export_writer")  # type: ignore[no-any-return]

    def _build_export_writer(self) -> BlobWriter:
        from shared.azure.storage import BlobDataWriter

        return BlobDataWriter.from_settings(self.settings, self.settings.export_container)

    def data_assets(self) -> DataAssetPublisher | None:
        """The export's data asset publisher; None without EXPORT_DATA_ASSET_NAME or in local mode."""
        return self._port("data_assets")  # type: ignore[no-any-return]

    def _build_data_assets(self) -> DataAssetPublisher | None:
        if not self.settings.export_data_asset or self.settings.mode == "local":
            return None
        from shared.azure.data_assets import AzureMLDataAssets

        writer = self.export_writer()
        url = f"{getattr(writer, 'url', '')}/{self.settings.export_prefix}/"
        return AzureMLDataAssets.from_settings(self.settings, path=url)

    def data_asset_versions(self) -> DataAssetVersions:
        """The versions of the workspace's data assets (retraining: the training data's previous version)."""
        return self._port("data_asset_versions")  # type: ignore[no-any-return]

    def _build_data_asset_versions(self) -> DataAssetVersions:
        if self.settings.mode == "local":
            from shared.local.data_assets import LocalDataAssetVersions

            return LocalDataAssetVersions(self.settings.local_state_dir)
        from shared.azure.data_assets import AzureMLDataAssetVersions

        return AzureMLDataAssetVersions.from_settings(self.settings)

    def job_platform(self) -> JobPlatform:
        return self._port("job_platform")  # type: ignore[no-any-return]

    def _build_job_platform(self) -> JobPlatform:
        if self.settings.mode == "local":
            from shared.local.job_platform import LocalJobPlatform

            return LocalJobPlatform.from_settings(self.settings)
        from shared.azure.ml_jobs import AzureMLJobPlatform

        return AzureMLJobPlatform.from_settings(self.settings)

    def endpoint_platform(self) -> EndpointPlatform:
        return self._port("endpoint_platform")  # type: ignore[no-any-return]

    def _build_endpoint_platform(self) -> EndpointPlatform:
        if self.settings.mode == "local":
            # Deployments are azmlinfsrv processes owned by this object: close() (or atexit) stops them.
            from shared.local.endpoint_platform import LocalEndpointPlatform

            return LocalEndpointPlatform.from_settings(self.settings)
        from shared.azure.endpoints import AzureEndpointPlatform

        return AzureEndpointPlatform.from_settings(self.settings)

    def deployment_metrics(self) -> DeploymentMetrics:
        """Per-deployment traffic figures for the rollout gates."""
        return self._port("deployment_metrics")  # type: ignore[no-any-return]

    def _build_deployment_metrics(self) -> DeploymentMetrics:
        if self.settings.mode == "local":
            # The local router measures what it routes: the figures live in the endpoint platform's process.
            return self.endpoint_platform()  # type: ignore[return-value]
        from shared.azure.endpoint_metrics import AzureEndpointMetrics

        return AzureEndpointMetrics.from_settings(self.settings)

    def model_registry(self) -> ModelRegistry:
        return self._port("model_registry")  # type: ignore[no-any-return]

    def _build_model_registry(self) -> ModelRegistry:
        if self.settings.mode == "local":
            from shared.local.registry import LocalRegistry

            return LocalRegistry(self.settings.local_state_dir)
        from shared.azure.models import AzureModelRegistry

        return AzureModelRegistry.from_settings(self.settings)

    def promotion_registry(self) -> PromotionRegistry:
        """The registry environments promote through (PROMOTION_REGISTRY; a shared folder in local mode)."""
        return self._port("promotion_registry")  # type: ignore[no-any-return]

    def _build_promotion_registry(self) -> PromotionRegistry:
        if self.settings.mode == "local":
            from shared.local.promotion_registry import LocalPromotionRegistry

            folder = self.settings.local_promotion_registry_dir
            if not folder:
                from shared.settings_parsing import SettingsError

                raise SettingsError(
                    "LOCAL_PROMOTION_REGISTRY_DIR", "is missing (local mode with promotion)", "a folder path"
                )
            return LocalPromotionRegistry(folder, self.model_registry())
        from shared.azure.models import AzureModelRegistry
        from shared.azure.promotion_registry import AzurePromotionRegistry

        workspace = self.model_registry()
        return AzurePromotionRegistry.from_settings(
            self.settings, workspace if isinstance(workspace, AzureModelRegistry) else None
        )


_context: AppContext | None = None


def get_context() -> AppContext:
    global _context
    if _context is None:
        _context = AppContext()
    return _context


def use_context(context: AppContext | None) -> None:
    """Install ``context`` for this process (``None``: build a fresh one from the environment)."""
    global _context
    _context = context
