"""Local data assets (local mode): versioned folders that stand in for Azure ML ``uri_folder`` data assets.

``<LOCAL_STATE_DIR>/data-assets/<name>/<version>/`` holds ``data/`` (the registered files) and ``metadata.json``
(name, version, description, tags, source, created time). Standard library only, like ``local_registry.py``, so
pipeline steps (e.g. the register step, to pin ``name@latest`` to a number) use it without the app's ``shared``
package; ``shared/local/data_assets.py`` wraps this same implementation for the app.

Versions are integers from 1. Concurrent registrations never share a version: a registration claims the next
number with an atomic ``os.mkdir`` of the version folder and retries with the following number if another
process won. A version is visible only once its ``metadata.json`` exists (written last, atomically), so readers
never see a half-copied asset; a registration that crashed leaves a folder without metadata, whose number is
not reused.

References (what a pipeline input names): ``azureml:<name>:<version>``, ``azureml:<name>@latest``,
``<name>:<version>``, ``<name>@latest``. :meth:`LocalDataAssets.resolve` turns one into the local ``data/``
folder; errors name the reference and what exists.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic_files import MAX_VERSION_ATTEMPTS, NAME, claim_version_folder, utc_stamp, write_json_atomic

ROOT_DIR = "data-assets"
METADATA = "metadata.json"
DATA_DIR = "data"
LATEST = "latest"
# The local job platform (shared/local/job_platform.py) records the versions a job's <asset>@latest inputs resolved
# to under this key of <LOCAL_STATE_DIR>/jobs/<job>/job.json: {"<asset name>": <version>}.
JOB_RECORD_KEY = "data_assets"
_REF = re.compile(r"^(?:azureml:)?(?P<name>[^:@/]+)(?::(?P<version>[^:@/]+)|@(?P<label>[^:@/]+))$")


class DataAssetError(ValueError):
    """A data asset operation or reference is invalid."""


class DataAssetNotFoundError(DataAssetError, LookupError):
    """The referenced data asset (version) does not exist."""


@dataclass(frozen=True)
class DataAssetVersion:
    name: str
    version: int
    path: Path  # the data folder
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    created: str = ""  # ISO-8601 UTC

    @property
    def ref(self) -> str:
        """``<name>:<version>`` (prefix ``azureml:`` for a pipeline input)."""
        return f"{self.name}:{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "path": str(self.path),
            "description": self.description,
            "tags": dict(self.tags),
            "source": self.source,
            "created": self.created,
        }


def data_assets_root(state_dir: str | Path) -> Path:
    """Where the data assets live inside ``LOCAL_STATE_DIR``."""
    return Path(state_dir) / ROOT_DIR


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise DataAssetError(f"data asset name {name!r}: expected letters, digits, '-', '_' or '.' (at most 255)")
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``(name, version)`` of a reference; ``version`` is None for ``@latest``. Raises DataAssetError."""
    text = (ref or "").strip()
    if text.startswith("azureml://"):
        raise DataAssetError(f"{ref!r} is a datastore URI, not a data asset reference (name:version or name@latest)")
    match = _REF.match(text)
    if not match:
        raise DataAssetError(
            f"{ref!r} is not a data asset reference; expected azureml:<name>:<version>, azureml:<name>@latest, "
            "<name>:<version> or <name>@latest"
        )
    name = match["name"]
    try:
        check_name(name)
    except DataAssetError as exc:
        raise DataAssetError(f"data asset reference {ref!r}: {exc}") from None
    if match["label"] is not None:
        if match["label"] != LATEST:
            raise DataAssetError(f"data asset reference {ref!r}: the only label is @{LATEST}")
        return name, None
    version = match["version"]
    if not version.isdigit() or int(version) < 1:
        raise DataAssetError(f"data asset reference {ref!r}: version {version!r} is not a positive integer")
    return name, int(version)


def is_ref(text: str) -> bool:
    """True when ``text`` parses as a data asset reference."""
    try:
        parse_ref(text)
    except DataAssetError:
        return False
    return True


class LocalDataAssets:
    """The data assets under ``root`` (``data_assets_root(LOCAL_STATE_DIR)``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # --- reading ------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Assets with at least one complete version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(c.name for c in self.root.iterdir() if c.is_dir() and NAME.match(c.name) and self._numbers(c))

    def versions(self, name: str) -> list[DataAssetVersion]:
        """Complete versions of ``name``, oldest first."""
        return [self._read(name, n) for n in self._numbers(self.root / check_name(name))]

    def latest(self, name: str) -> DataAssetVersion | None:
        """The highest complete version of ``name``, or None."""
        numbers = self._numbers(self.root / check_name(name))
        return self._read(name, numbers[-1]) if numbers else None

    def get(self, name: str, version: int | str) -> DataAssetVersion:
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise DataAssetNotFoundError(f"data asset {name} version {version!r}: not an integer version") from None
        if not (self.root / check_name(name) / str(number) / METADATA).is_file():
            raise DataAssetNotFoundError(f"data asset {name}:{number} does not exist; {self._what_exists(name)}")
        return self._read(name, number)

    def lookup(self, ref: str) -> DataAssetVersion:
        """The version a reference names. Raises DataAssetError (malformed) / DataAssetNotFoundError."""
        name, version = parse_ref(ref)
        if version is None:
            latest = self.latest(name)
            if latest is None:
                raise DataAssetNotFoundError(f"data asset reference {ref!r}: {self._what_exists(name)}")
            return latest
        try:
            return self.get(name, version)
        except DataAssetNotFoundError as exc:
            raise DataAssetNotFoundError(f"data asset reference {ref!r}: {exc}") from None

    def resolve(self, ref: str) -> Path:
        """The local data folder a reference names."""
        return self.lookup(ref).path

    def _numbers(self, folder: Path) -> list[int]:
        if not folder.is_dir():
            return []
        return sorted(int(c.name) for c in folder.iterdir() if c.name.isdigit() and (c / METADATA).is_file())

    def _what_exists(self, name: str) -> str:
        numbers = self._numbers(self.root / name)
        if numbers:
            return f"{name} has versions {', '.join(map(str, numbers))} in {self.root}"
        others = self.names()
        listed = f"assets there: {', '.join(others)}" if others else "there are none"
        return f"no data asset {name!r} is registered in {self.root} ({listed})"

    def _read(self, name: str, version: int) -> DataAssetVersion:
        folder = self.root / name / str(version)
        doc = json.loads((folder / METADATA).read_text())
        return DataAssetVersion(
            name=name,
            version=version,
            path=folder / DATA_DIR,
            description=str(doc.get("description", "")),
            tags={str(k): str(v) for k, v in doc.get("tags", {}).items()},
            source=str(doc.get("source", "")),
            created=str(doc.get("created", "")),
        )

    # --- writing ------------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        source_path: str | Path,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
    ) -> tuple[int, Path]:
        """Copy a file (into ``data/<file name>``) or a folder's contents (into ``data/``) in as the next version.

        Returns ``(version, data folder)``.
        """
        source = Path(source_path)
        if not source.exists():
            raise DataAssetError(f"data asset {name}: source {source} does not exist")
        if not (source.is_file() or source.is_dir()):
            raise DataAssetError(f"data asset {name}: source {source} is neither a file nor a folder")
        folder = self.root / check_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        version_dir = self._claim_version(folder)
        data = version_dir / DATA_DIR
        if source.is_dir():
            shutil.copytree(source, data)
        else:
            data.mkdir()
            shutil.copy2(source, data / source.name)
        doc = {
            "name": name,
            "version": int(version_dir.name),
            "description": description,
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
            "source": str(source.resolve()),
            "created": utc_stamp(),
        }
        write_json_atomic(version_dir / METADATA, doc)
        return int(version_dir.name), data

    def _claim_version(self, folder: Path) -> Path:
        claimed = claim_version_folder(folder)
        if claimed is None:
            raise DataAssetError(f"could not claim a version folder in {folder} after {MAX_VERSION_ATTEMPTS} attempts")
        return claimed


def pinned_version(state_dir: str | Path, job_name: str, name: str) -> int | None:
    """The version ``name@latest`` resolved to for local job ``job_name`` at submission (from its record), or None.

    Lets a step pin ``name@latest`` to exactly the version the job's data inputs were resolved to, even when a
    newer version was registered while the job ran.
    """
    if not job_name:
        return None
    try:
        doc = json.loads((Path(state_dir) / "jobs" / job_name / "job.json").read_text())
        value = (doc.get(JOB_RECORD_KEY) or {}).get(name)
        return int(value) if value is not None else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None
