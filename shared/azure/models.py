"""The model registry: :class:`shared.ports.ModelRegistry` on ``azure-ai-ml``.

``get_model`` / ``latest_model`` read the workspace's registered models (the drift helper resolves the
deployed model's training data from their tags); ``share_to_registry`` copies a workspace model into
an Azure ML registry with ``ml_client.models.share(...)`` and returns the registry reference to
deploy. Sharing an already shared version is not an error (the reconciler may repeat the step after a
restart). Note that ``share`` waits for the registry's copy to finish: it runs in the reconciler (a
timer), never in the event handler, and a small scikit-learn model copies in seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shared.azure.endpoints import translate_endpoint_error
from shared.azure.ml_client import LazyMLClient, make_ml_client
from shared.platform_rules import registry_model_ref
from shared.ports import ModelInfo, NotFoundError, PlatformError
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.ai.ml import MLClient


class AzureModelRegistry(LazyMLClient):
    """Workspace models, and sharing into registries.

    ``client`` is the workspace ``MLClient``; ``registry_client(name)`` returns an ``MLClient`` bound to
    registry ``name`` (both built lazily from ``settings`` when not given; tests pass fakes).
    """

    def __init__(
        self,
        client: MLClient | None = None,
        *,
        settings: Settings | None = None,
        registry_client: Callable[[str], Any] | None = None,
    ) -> None:
        if client is None and settings is None:
            raise ValueError("pass an MLClient or the settings to build one")
        self._init_client(client, (lambda: make_ml_client(settings)) if settings else None)
        self._settings = settings
        self._registry_client = registry_client
        self._registry_clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureModelRegistry:
        settings.validate("subscription_id", "resource_group", "workspace_name")
        return cls(settings=settings)

    def registry_client_for(self, name: str) -> Any:
        with self._lock:
            if name not in self._registry_clients:
                if self._registry_client is not None:
                    self._registry_clients[name] = self._registry_client(name)
                else:
                    if self._settings is None:
                        raise PlatformError("no settings to build a registry client")
                    self._registry_clients[name] = make_ml_client(self._settings, registry_name=name)
            return self._registry_clients[name]

    def get_model(self, name: str, version: str) -> ModelInfo:
        try:
            model = self.client.models.get(name=name, version=str(version))
        except Exception as exc:
            raise translate_endpoint_error(exc, f"get model {name}:{version}") from exc
        return _model_info(model, name)

    def latest_model(self, name: str) -> ModelInfo | None:
        try:
            model = self.client.models.get(name=name, label="latest")
        except Exception as exc:
            error = translate_endpoint_error(exc, f"get latest model {name}")
            if isinstance(error, NotFoundError):
                return None
            raise error from exc
        return _model_info(model, name)

    def list_models(self, name: str) -> list[ModelInfo]:
        return list_model_versions(self.client, name, f"list versions of model {name}")

    def update_tags(
        self, name: str, version: str, *, set_tags: Mapping[str, str], remove: tuple[str, ...] = ()
    ) -> None:
        what = f"update tags of model {name}:{version}"
        update_model_tags(self.client, name, version, set_tags=set_tags, remove=remove, what=what)

    def share_to_registry(self, name: str, version: str, registry: str) -> str:
        reference = registry_model_ref(registry, name, version)
        if self._in_registry(registry, name, version):
            return reference
        try:
            self.client.models.share(
                name=name,
                version=str(version),
                share_with_name=name,
                share_with_version=str(version),
                registry_name=registry,
            )
        except Exception as exc:
            # A concurrent or earlier share of the same version: the registry has it, which is the goal.
            if "already exists" in str(exc) and self._in_registry(registry, name, version):
                return reference
            raise translate_endpoint_error(exc, f"share model {name}:{version} to registry {registry}") from exc
        return reference

    def _in_registry(self, registry: str, name: str, version: str) -> bool:
        try:
            self.registry_client_for(registry).models.get(name=name, version=str(version))
        except Exception as exc:
            error = translate_endpoint_error(exc, f"get model {name}:{version} from registry {registry}")
            if isinstance(error, NotFoundError):
                return False
            raise error from exc
        return True


def list_model_versions(
    client: Any, name: str, what: str, *, reference: Callable[[str], str] | None = None
) -> list[ModelInfo]:
    """Every version of ``name`` through ``client.models.list`` (a workspace's or a registry's client); a model
    that does not exist has none. ``reference(version)`` gives each version's ``path`` (default: the workspace's
    ``azureml:<name>:<version>``)."""
    try:
        models = list(client.models.list(name=name))
    except Exception as exc:
        error = translate_endpoint_error(exc, what)
        if isinstance(error, NotFoundError):
            return []
        raise error from exc
    out = [_model_info(m, name) for m in models]
    if reference is not None:
        out = [ModelInfo(m.name, m.version, m.tags, m.properties, path=reference(m.version)) for m in out]
    return out


def update_model_tags(
    client: Any, name: str, version: str, *, set_tags: Mapping[str, str], remove: tuple[str, ...] = (), what: str
) -> None:
    """Get the version, change its tags, put it back with ``models.create_or_update``: Azure ML lets a version's
    tags and description change (the model files and path cannot), and the request carries the whole version, so
    the tags not named are kept."""
    try:
        model = client.models.get(name=name, version=str(version))
        tags = {str(k): str(v) for k, v in (model.tags or {}).items() if k not in remove}
        tags.update({str(k): str(v) for k, v in set_tags.items()})
        if tags == {str(k): str(v) for k, v in (model.tags or {}).items()}:
            return  # nothing to change: no write
        model.tags = tags
        client.models.create_or_update(model)
    except Exception as exc:
        raise translate_endpoint_error(exc, what) from exc


def _model_info(model: Any, name: str) -> ModelInfo:
    version = str(model.version)
    return ModelInfo(
        name=str(model.name or name),
        version=version,
        tags={str(k): str(v) for k, v in (model.tags or {}).items()},
        properties={str(k): str(v) for k, v in (model.properties or {}).items()},
        path=f"azureml:{model.name or name}:{version}",  # usable as a job input or deployment model
    )
