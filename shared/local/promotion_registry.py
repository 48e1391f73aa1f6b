"""The local mode's Azure ML registry: :class:`shared.ports.PromotionRegistry` over a folder two local environments
share (``LOCAL_PROMOTION_REGISTRY_DIR``).

The folder has the local model registry's layout (``<model>/<version>/model`` and ``metadata.json``), with the
source environment's version numbers kept, as ``models.share`` keeps them in Azure. The reference to deploy is the
version's folder, which the local endpoint platform serves like any model folder (``score.py`` reads the name and
version from it, as from a workspace model).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ml_assets.src.stores.local_registry import LocalModelRegistry, LocalRegistryError, ModelNotFoundError
from shared.local.registry import to_model_info
from shared.ports import ModelInfo, ModelRegistry, NotFoundError, PlatformError


class LocalPromotionRegistry:
    """A shared folder playing the registry; ``workspace`` is this environment's model registry."""

    def __init__(self, root: str | Path, workspace: ModelRegistry) -> None:
        self.store = LocalModelRegistry(root)
        self.workspace = workspace

    @property
    def root(self) -> Path:
        return self.store.root

    def share(self, name: str, version: str) -> str:
        try:
            return str(self.store.get(name, version).path.parent)  # already shared (or received from here)
        except ModelNotFoundError:
            pass
        except LocalRegistryError as exc:
            raise PlatformError(str(exc)) from exc
        source = self.workspace.get_model(name, version)  # NotFoundError: not in this environment
        if not source.path:
            raise PlatformError(f"model {name}:{version} has no local folder to share")
        try:
            copied = self.store.import_version(
                name, version, source.path, tags=source.tags, description=str(source.properties.get("description", ""))
            )
        except LocalRegistryError as exc:
            raise PlatformError(f"share {name}:{version} into {self.root}: {exc}") from exc
        return str(copied.path.parent)

    def versions(self, name: str) -> list[ModelInfo]:
        try:
            found = self.store.versions(name)
        except LocalRegistryError as exc:
            raise PlatformError(str(exc)) from exc
        return [_with_reference(to_model_info(m)) for m in found]

    def update_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        try:
            self.store.update_tags(name, version, set_tags=tags)
        except ModelNotFoundError as exc:
            raise NotFoundError(str(exc)) from exc
        except LocalRegistryError as exc:
            raise PlatformError(str(exc)) from exc


def _with_reference(info: ModelInfo) -> ModelInfo:
    """``path`` as the version's folder (``<root>/<model>/<version>``): what the local platform deploys."""
    path = Path(info.path or "")
    folder = path.parent if path.name == "model" else path
    return ModelInfo(name=info.name, version=info.version, tags=info.tags, properties=info.properties, path=str(folder))
