"""The local model registry of the local mode, behind the :class:`shared.ports.ModelRegistry` port.

One implementation: the storage logic lives in ``ml_assets/src/stores/local_registry.py`` (standard library only, so
the pipeline's register and evaluate steps use it without this package); this module adapts it to the port.
``on_register`` hooks (e.g. emit a ModelRegistered event) run after each registration made through this object;
registrations made by a pipeline step in a subprocess run the hook named by ``MLOPS_LOCAL_REGISTRY_HOOK``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ml_assets.src.stores.local_registry import (
    HOOK_ENV,
    LocalModelRegistry,
    LocalRegistryError,
    ModelNotFoundError,
    RegisteredModel,
    RegisterHook,
    registry_root,
)
from shared.ports import ModelInfo, NotFoundError, PlatformError

__all__ = [
    "HOOK_ENV",
    "LocalModelRegistry",
    "LocalRegistry",
    "RegisterHook",
    "RegisteredModel",
    "registry_root",
]


def to_model_info(model: RegisteredModel) -> ModelInfo:
    return ModelInfo(
        name=model.name,
        version=str(model.version),
        tags=dict(model.tags),
        properties={"created": model.created, "description": model.description},
        path=str(model.path),
    )


class LocalRegistry:
    """:class:`shared.ports.ModelRegistry` over the folder ``LOCAL_STATE_DIR/registry``."""

    def __init__(self, state_dir: str | Path, on_register: list[RegisterHook] | None = None) -> None:
        self.store = LocalModelRegistry(registry_root(state_dir), on_register=on_register)

    @property
    def root(self) -> Path:
        return self.store.root

    def register(
        self, name: str, model_dir: str | Path, *, tags: Mapping[str, Any] | None = None, description: str = ""
    ) -> ModelInfo:
        try:
            return to_model_info(self.store.register(name, model_dir, tags=tags, description=description))
        except LocalRegistryError as exc:
            raise PlatformError(str(exc)) from exc

    def get_model(self, name: str, version: str) -> ModelInfo:
        try:
            return to_model_info(self.store.get(name, version))
        except ModelNotFoundError as exc:
            raise NotFoundError(str(exc)) from exc
        except LocalRegistryError as exc:
            raise PlatformError(str(exc)) from exc

    def latest_model(self, name: str) -> ModelInfo | None:
        latest = self.store.latest(name)
        return to_model_info(latest) if latest is not None else None

    def list_models(self, name: str) -> list[ModelInfo]:
        try:
            return [to_model_info(m) for m in self.store.versions(name)]
        except LocalRegistryError as exc:
            raise PlatformError(str(exc)) from exc

    def update_tags(
        self, name: str, version: str, *, set_tags: Mapping[str, str], remove: tuple[str, ...] = ()
    ) -> None:
        try:
            self.store.update_tags(name, version, set_tags=set_tags, remove=remove)
        except ModelNotFoundError as exc:
            raise NotFoundError(str(exc)) from exc
        except LocalRegistryError as exc:
            raise PlatformError(str(exc)) from exc

    def share_to_registry(self, name: str, version: str, registry: str) -> str:
        raise PlatformError("the local mode has no Azure ML registry to share models into (unset AML_REGISTRY_NAME)")
