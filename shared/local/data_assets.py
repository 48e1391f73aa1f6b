"""Local data assets of the local mode, for the app (the job platform, the demo, the CLI).

One implementation: the storage logic lives in ``ml_assets/src/stores/local_data_assets.py`` (standard library only, so
pipeline steps use it without this package); this module adapts it to the port's error types
(:class:`shared.ports.NotFoundError` for a missing asset or version, :class:`shared.ports.PlatformError` for a
malformed reference or source).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ml_assets.src.stores.local_data_assets import (
    DataAssetError,
    DataAssetNotFoundError,
    DataAssetVersion,
    LocalDataAssets,
    data_assets_root,
    is_ref,
    parse_ref,
)
from shared.ports import NotFoundError, PlatformError
from shared.settings import Settings

T = TypeVar("T")

__all__ = [
    "DataAssetVersion",
    "LocalDataAssetStore",
    "LocalDataAssetVersions",
    "data_assets_root",
    "is_ref",
    "parse_ref",
]


class LocalDataAssetStore:
    """The data assets under ``LOCAL_STATE_DIR/data-assets``, raising the port's error types."""

    def __init__(self, state_dir: str | Path) -> None:
        self.store = LocalDataAssets(data_assets_root(state_dir))

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalDataAssetStore:
        return cls(settings.local_state_dir)

    @property
    def root(self) -> Path:
        return self.store.root

    def register(
        self, name: str, source_path: str | Path, *, description: str = "", tags: Mapping[str, Any] | None = None
    ) -> DataAssetVersion:
        """Copy ``source_path`` (a file or a folder) in as the next version of ``name``."""
        try:
            version, _ = self.store.register(name, source_path, description=description, tags=tags)
            return self.store.get(name, version)
        except DataAssetError as exc:
            raise PlatformError(str(exc)) from exc

    def get(self, name: str, version: int | str) -> DataAssetVersion:
        return self._call(lambda: self.store.get(name, version))

    def latest(self, name: str) -> DataAssetVersion | None:
        return self._call(lambda: self.store.latest(name))

    def versions(self, name: str) -> list[DataAssetVersion]:
        return self._call(lambda: self.store.versions(name))

    def names(self) -> list[str]:
        return self.store.names()

    def lookup(self, ref: str) -> DataAssetVersion:
        """The version ``ref`` names (``azureml:<name>:<version>``, ``<name>@latest``, …)."""
        return self._call(lambda: self.store.lookup(ref))

    def resolve(self, ref: str) -> Path:
        """The local data folder ``ref`` names."""
        return self.lookup(ref).path

    @staticmethod
    def _call(fn: Callable[[], T]) -> T:
        try:
            return fn()
        except DataAssetNotFoundError as exc:
            raise NotFoundError(str(exc)) from exc
        except DataAssetError as exc:
            raise PlatformError(str(exc)) from exc


class LocalDataAssetVersions:
    """:class:`shared.ports.DataAssetVersions` over the local data assets under ``LOCAL_STATE_DIR``."""

    def __init__(self, state_dir: str | Path) -> None:
        self.assets = LocalDataAssetStore(state_dir)

    def versions(self, name: str) -> list[str]:
        """The complete versions of ``name`` (empty when it has none); PlatformError for a malformed name."""
        return [str(version.version) for version in self.assets.versions(name)]
