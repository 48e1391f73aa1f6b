"""The local job platform's data inputs: resolved at submission, materialised in the job process.

Data inputs (:class:`shared.ports.AssetInput`, or a literal given for an input the YAML declares as data):

- ``azureml:<asset>:<version>`` / ``azureml:<asset>@latest`` (or without ``azureml:``): the local data asset
  folder (``shared/local/data_assets.py``), resolved at submission and recorded (the record's ``data_assets``
  maps each asset named ``@latest`` to the version that resolved to, which the register step reads to pin
  ``<asset>@latest``; a pinned input, such as the previous training data, is not what ``@latest`` means);
- a local path: used as is (made absolute; it must exist);
- an ``http(s)://`` URL of a blob prefix in the configured storage (``STORAGE_CONNECTION_STRING`` or
  ``STORAGE_ACCOUNT_URL``, from the platform's ``env`` over ``os.environ``): every blob under the prefix is
  downloaded, relative paths kept, into ``<job dir>/inputs/<input>/`` by the background process before the steps
  run (Azure ML's ``download`` mode, whatever mode the input asks for), so a big input never blocks the caller;
- ``azureml://datastores/...`` URIs have no local equivalent and are refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from shared.local.pipeline_plan import PipelinePlan
from shared.ports import AssetInput, PlatformError
from shared.settings import Settings
from shared.settings_parsing import SettingsError

DOWNLOAD_THREADS = 4
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class InputResolver:
    """Resolves a submission's inputs against the data assets under ``state_dir``; ``settings`` gives the storage
    settings, asked for only when an input is a blob URL."""

    def __init__(self, state_dir: Path, settings: Callable[[], Settings]) -> None:
        self.state_dir = state_dir
        self.settings = settings

    def resolve(self, path: Path, plan: PipelinePlan, given: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Each input of the pipeline at ``path`` (its ``plan``): given (``given``) or a data input's YAML default,
        resolved to what the job record keeps. PlatformError for an undeclared input or one that does not resolve."""
        unknown = sorted(set(given) - set(plan.inputs))
        if unknown:
            raise PlatformError(
                f"pipeline {path.name} has no input {unknown[0]!r}; it declares {', '.join(sorted(plan.inputs))}"
            )
        resolved: dict[str, dict[str, Any]] = {}
        for name, default in plan.inputs.items():
            declared_type = plan.input_types.get(name)
            if name in given:
                value = given[name]
                if isinstance(value, AssetInput):
                    as_given = {"type": value.type, "path": value.path, "mode": value.mode}
                    resolved[name] = self._data_input(name, value.path, value.type, as_given)
                elif isinstance(value, bool | int | float | str):
                    if declared_type:
                        resolved[name] = self._data_input(name, str(value), declared_type, value)
                    else:
                        resolved[name] = {"kind": "literal", "value": value, "resolved": literal_text(value)}
                else:
                    raise PlatformError(
                        f"input {name!r}: {type(value).__name__} is neither a literal nor an AssetInput"
                    )
            elif declared_type and default:
                as_declared = {"type": declared_type, "path": str(default)}  # a relative path is the YAML's
                resolved[name] = self._data_input(name, str(default), declared_type, as_declared, base=path.parent)
        return resolved

    def _data_input(self, name: str, text: str, kind: str, value: Any, *, base: Path | None = None) -> dict[str, Any]:
        from shared.local.data_assets import LocalDataAssetStore, is_ref

        text = text.strip()
        out: dict[str, Any] = {"value": value, "type": kind}
        if text.startswith("azureml://"):
            raise PlatformError(
                f"input {name}: {text} is an Azure ML datastore URI, which has no local equivalent; pass a data "
                "asset reference (azureml:<name>:<version>, azureml:<name>@latest), a local path, or an http(s) "
                "URL of a blob prefix in the configured storage"
            )
        if text.startswith(("http://", "https://")):
            container, prefix = self._blob_location(name, text)
            return {**out, "kind": "blob_prefix", "url": text, "container": container, "prefix": prefix}
        if _SCHEME.match(text):
            raise PlatformError(f"input {name}: {text}: only http(s) blob URLs are supported locally")
        if text.startswith("azureml:") or (is_ref(text) and not ((base or Path.cwd()) / text).exists()):
            try:
                asset = LocalDataAssetStore(self.state_dir).lookup(text)
            except PlatformError as exc:
                raise PlatformError(f"input {name}: {exc}") from None
            files = [f for f in asset.path.rglob("*") if f.is_file()] if kind == "uri_file" else []
            return {
                **out,
                "kind": "data_asset",
                "resolved": str(files[0] if len(files) == 1 else asset.path),
                "asset": f"{asset.name}:{asset.version}",
                "asset_name": asset.name,
                "asset_version": asset.version,
                "asset_latest": text.endswith("@latest"),
            }
        local = Path(text).expanduser()
        local = local if local.is_absolute() else (base or Path.cwd()) / local
        if not local.exists():
            raise PlatformError(f"input {name}: {local} does not exist (a local path, as no data asset matches)")
        return {**out, "kind": "local_path", "resolved": str(local.resolve())}

    def _blob_location(self, name: str, url: str) -> tuple[str, str]:
        """``(container, prefix)`` of a blob URL in the configured storage account."""
        try:
            kind, value = self.settings().storage_auth()
        except SettingsError as exc:
            raise PlatformError(f"input {name}: {url} is a blob URL, but no storage is configured ({exc})") from None
        if kind == "connection_string":
            from azure.storage.blob import BlobServiceClient

            try:
                account = str(BlobServiceClient.from_connection_string(value).url)
            except ValueError as exc:
                raise PlatformError(f"input {name}: STORAGE_CONNECTION_STRING is malformed ({exc})") from None
        else:
            account = value
        return split_blob_url(url, account, what=f"input {name}")


def literal_text(value: bool | int | float | str) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def split_blob_url(url: str, account_url: str, *, what: str = "blob URL") -> tuple[str, str]:
    """``(container, prefix)`` of ``url`` under the storage account at ``account_url``; the prefix is a folder
    (ends with ``/``, or is empty for the whole container). PlatformError if ``url`` is not in that account."""
    target, account = urlsplit(url), urlsplit(account_url)
    same_account = (target.scheme.lower(), target.netloc.lower()) == (account.scheme.lower(), account.netloc.lower())
    base = account.path.rstrip("/") + "/"
    if not same_account or not target.path.startswith(base):
        raise PlatformError(
            f"{what}: {url} is not in the configured storage account {account_url.rstrip('/')} "
            "(only blobs of that account can be downloaded)"
        )
    container, _, prefix = unquote(target.path[len(base) :]).partition("/")
    if not container:
        raise PlatformError(f"{what}: {url} names no container")
    prefix = prefix.strip("/")
    return container, (prefix + "/" if prefix else "")


# --- in the job process ---------------------------------------------------------------------------------


def download_blob_input(settings: Settings, container: str, prefix: str, dest: Path) -> list[Path]:
    """Download every blob under ``prefix`` of ``container`` into ``dest`` (relative paths kept), or, when none is
    under it, the single blob named ``prefix`` without its slash. Returns the files written. PlatformError."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    from shared.azure.storage import blob_service_client, translate_azure_error

    client = blob_service_client(settings).get_container_client(container)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        names = [b.name for b in client.list_blobs(name_starts_with=prefix) if not b.name.endswith("/")]
        if not names and prefix:
            single = prefix.rstrip("/")
            with contextlib.suppress(ResourceNotFoundError):
                client.get_blob_client(single).get_blob_properties()
                return [_download(client, single, root / single.rsplit("/", 1)[-1])]
    except AzureError as exc:
        raise translate_azure_error(exc, f"list {container}/{prefix}") from exc
    if not names:
        raise PlatformError(f"no blobs under {container}/{prefix} (an empty or missing folder)")
    targets = []
    for blob in names:
        target = (root / blob[len(prefix) :]).resolve()
        if not target.is_relative_to(root) or target == root:
            raise PlatformError(f"blob {container}/{blob}: its path leaves the input folder")
        targets.append((blob, target))
    with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
        return list(pool.map(lambda item: _download(client, *item), targets))


def _download(client: Any, blob: str, target: Path) -> Path:
    from azure.core.exceptions import AzureError

    from shared.azure.storage import translate_azure_error

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as handle:
            client.download_blob(blob).readinto(handle)
        os.replace(partial, target)
    except AzureError as exc:
        partial.unlink(missing_ok=True)
        raise translate_azure_error(exc, f"download {blob}") from exc
    return target


def materialise(record: Mapping[str, Any], settings: Settings) -> dict[str, str]:
    """The runner's input values for the job ``record``; blob inputs downloaded first (in the job process)."""
    values: dict[str, str] = {}
    for name, spec in (record.get("inputs") or {}).items():
        if spec["kind"] == "blob_prefix":
            dest = Path(spec["resolved"])
            t0 = time.monotonic()
            print(f"[job] input {name}: downloading {spec['url']} into {dest}", flush=True)
            try:
                files = download_blob_input(settings, spec["container"], spec["prefix"], dest)
            except PlatformError as exc:
                raise PlatformError(f"input {name}: downloading {spec['url']} failed: {exc}") from None
            size = sum(f.stat().st_size for f in files)
            print(f"[job] input {name}: {len(files)} files, {size} bytes in {time.monotonic() - t0:.1f}s", flush=True)
            if spec.get("type") == "uri_file" and len(files) == 1:
                values[name] = str(files[0])
                continue
        values[name] = str(spec["resolved"])
    return values
