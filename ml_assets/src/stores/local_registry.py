"""The local model registry (local mode): ``<root>/<model>/<version>/`` holds ``model/`` (the MLflow model files)
and ``metadata.json`` (name, version, tags, properties, description, created time); like Azure ML's, tags are for
filtering and properties hold longer records (e.g. the data-quality report). Standard library only, so the register
and evaluate steps can use it without the app's ``shared`` package (on Azure ML the code root is ``ml_assets/``);
``shared/local/registry.py`` wraps this same implementation for the app.

Versions are integers from 1. Concurrent registrations never share a version: a registration claims the next
number with an atomic ``os.mkdir`` of the version folder and retries with the following number if another
process won. A version is visible only once its ``metadata.json`` exists (written last, atomically), so readers
never see a half-copied model; a registration that crashed leaves a folder without metadata, whose number is
not reused.

Hooks: ``on_register`` callbacks run after a version is complete (in-process); the environment variable
``MLOPS_LOCAL_REGISTRY_HOOK="package.module:function"`` names one more, loaded lazily, for registrations done by
a pipeline step in a subprocess (e.g. to emit a ModelRegistered event in the local loop).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic_files import MAX_VERSION_ATTEMPTS, NAME, claim_version_folder, utc_stamp, write_json_atomic

METADATA = "metadata.json"
MODEL_DIR = "model"
HOOK_ENV = "MLOPS_LOCAL_REGISTRY_HOOK"


class LocalRegistryError(Exception):
    pass


class ModelNotFoundError(LocalRegistryError, LookupError):
    pass


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: int
    path: Path  # the MLflow model folder
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    created: str = ""  # ISO-8601 UTC
    properties: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "path": str(self.path),
            "tags": dict(self.tags),
            "description": self.description,
            "created": self.created,
            "properties": dict(self.properties),
        }


RegisterHook = Callable[[RegisteredModel], None]


def registry_root(state_dir: str | Path) -> Path:
    """Where the registry lives inside ``LOCAL_STATE_DIR``."""
    return Path(state_dir) / "registry"


def check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise LocalRegistryError(f"model name {name!r}: expected letters, digits, '-', '_' or '.' (at most 255)")
    return name


class LocalModelRegistry:
    def __init__(self, root: str | Path, on_register: list[RegisterHook] | None = None) -> None:
        self.root = Path(root)
        self.on_register: list[RegisterHook] = list(on_register or [])

    # --- reading ------------------------------------------------------------------------------------

    def versions(self, name: str) -> list[RegisteredModel]:
        """Complete versions of ``name``, oldest first."""
        folder = self.root / check_name(name)
        if not folder.is_dir():
            return []
        found = []
        for child in folder.iterdir():
            if child.name.isdigit() and (child / METADATA).is_file():
                found.append(self._read(name, int(child.name)))
        return sorted(found, key=lambda m: m.version)

    def latest(self, name: str) -> RegisteredModel | None:
        """The highest complete version, or None."""
        versions = self.versions(name)
        return versions[-1] if versions else None

    def get(self, name: str, version: int | str) -> RegisteredModel:
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise ModelNotFoundError(f"model {name} version {version!r}: not an integer version") from None
        if not (self.root / check_name(name) / str(number) / METADATA).is_file():
            raise ModelNotFoundError(f"model {name} version {number} is not registered in {self.root}")
        return self._read(name, number)

    def _read(self, name: str, version: int) -> RegisteredModel:
        folder = self.root / name / str(version)
        doc = json.loads((folder / METADATA).read_text())
        return RegisteredModel(
            name=name,
            version=version,
            path=folder / MODEL_DIR,
            tags={str(k): str(v) for k, v in doc.get("tags", {}).items()},
            description=str(doc.get("description", "")),
            created=str(doc.get("created", "")),
            properties={str(k): str(v) for k, v in doc.get("properties", {}).items()},
        )

    # --- writing ------------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        model_dir: str | Path,
        *,
        tags: Mapping[str, Any] | None = None,
        description: str = "",
        properties: Mapping[str, Any] | None = None,
    ) -> RegisteredModel:
        """Copy the MLflow model folder ``model_dir`` in as the next version and run the hooks."""
        source = Path(model_dir)
        if not (source / "MLmodel").is_file():
            raise LocalRegistryError(f"{source}: not an MLflow model folder (no MLmodel file)")
        folder = self.root / check_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        version_dir = self._claim_version(folder)
        version = int(version_dir.name)
        shutil.copytree(source, version_dir / MODEL_DIR)
        created = utc_stamp()
        doc = {
            "name": name,
            "version": version,
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
            "properties": {str(k): str(v) for k, v in (properties or {}).items()},
            "description": description,
            "created": created,
        }
        write_json_atomic(version_dir / METADATA, doc)
        registered = self._read(name, version)
        for hook in [*self.on_register, *_env_hooks()]:
            hook(registered)
        return registered

    def update_tags(
        self, name: str, version: int | str, *, set_tags: Mapping[str, Any], remove: tuple[str, ...] = ()
    ) -> RegisteredModel:
        """Set and remove tags of an existing version (its metadata rewritten atomically; the model untouched)."""
        model = self.get(name, version)
        folder = self.root / name / str(model.version)
        doc = json.loads((folder / METADATA).read_text())
        tags = {str(k): str(v) for k, v in doc.get("tags", {}).items() if k not in remove}
        tags.update({str(k): str(v) for k, v in set_tags.items()})
        doc["tags"] = tags
        write_json_atomic(folder / METADATA, doc)
        return self._read(name, model.version)

    def import_version(
        self, name: str, version: int | str, model_dir: str | Path, *, tags: Mapping[str, Any], description: str = ""
    ) -> RegisteredModel:
        """Copy ``model_dir`` in as exactly ``version`` (a registry keeps the source's version number).

        An existing complete version is success and left as it is. The copy goes to a temporary folder renamed
        into place, so a reader never sees a half-copied version and concurrent importers end with one copy.
        """
        number = int(version)
        target = self.root / check_name(name) / str(number)
        if (target / METADATA).is_file():
            return self._read(name, number)
        source = Path(model_dir)
        if not (source / "MLmodel").is_file():
            raise LocalRegistryError(f"{source}: not an MLflow model folder (no MLmodel file)")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".import-{number}-"))
        try:
            shutil.copytree(source, staging / MODEL_DIR)
            doc = {
                "name": name,
                "version": number,
                "tags": {str(k): str(v) for k, v in tags.items()},
                "properties": {},
                "description": description,
                "created": utc_stamp(),
            }
            write_json_atomic(staging / METADATA, doc)
            try:
                os.rename(staging, target)
            except OSError:
                if not (target / METADATA).is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self._read(name, number)

    def _claim_version(self, folder: Path) -> Path:
        claimed = claim_version_folder(folder)
        if claimed is None:
            raise LocalRegistryError(
                f"could not claim a version folder in {folder} after {MAX_VERSION_ATTEMPTS} attempts"
            )
        return claimed


def _env_hooks() -> list[RegisterHook]:
    spec = os.environ.get(HOOK_ENV, "").strip()
    if not spec:
        return []
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise LocalRegistryError(f"{HOOK_ENV}={spec!r}: expected package.module:function")
    hook = getattr(importlib.import_module(module_name), attr)
    return [hook]
