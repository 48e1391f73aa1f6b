"""The Azure ML registry environments promote through: :class:`shared.ports.PromotionRegistry` on ``azure-ai-ml``.

``share`` copies this environment's workspace version into the registry (``MLClient.models.share``, through
:class:`~shared.azure.models.AzureModelRegistry`, which treats an existing copy as success); ``versions`` and
``update_tags`` use an ``MLClient`` bound to the registry (``MLClient(credential, registry_name=...)``), whose
``models.list`` / ``models.get`` / ``models.create_or_update`` address the registry's model versions. The identity
needs the registry's "AzureML Registry User" role (read, share, update tags).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.azure.models import AzureModelRegistry, list_model_versions, update_model_tags
from shared.platform_rules import registry_model_ref
from shared.ports import ModelInfo
from shared.settings import Settings


class AzurePromotionRegistry:
    """Registry ``registry`` seen from this environment's workspace (``workspace``)."""

    def __init__(self, registry: str, workspace: AzureModelRegistry) -> None:
        self.registry = registry
        self.workspace = workspace

    @classmethod
    def from_settings(cls, settings: Settings, workspace: AzureModelRegistry | None = None) -> AzurePromotionRegistry:
        registry = settings.promotion_registry
        if not registry:
            from shared.settings_parsing import SettingsError

            raise SettingsError("PROMOTION_REGISTRY", "is missing", "an Azure ML registry name")
        return cls(registry, workspace or AzureModelRegistry.from_settings(settings))

    def _client(self) -> Any:
        return self.workspace.registry_client_for(self.registry)

    def share(self, name: str, version: str) -> str:
        return self.workspace.share_to_registry(name, version, self.registry)

    def versions(self, name: str) -> list[ModelInfo]:
        return list_model_versions(
            self._client(),
            name,
            f"list versions of model {name} in registry {self.registry}",
            reference=lambda v: registry_model_ref(self.registry, name, v),
        )

    def update_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        what = f"update tags of model {name}:{version} in registry {self.registry}"
        update_model_tags(self._client(), name, version, set_tags=tags, what=what)
