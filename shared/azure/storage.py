"""Blob Storage clients: the state store and the data container writer.

Auth: a connection string (Azurite, local development) or the account URL with
``DefaultAzureCredential`` (managed identity in Azure). ``azure.storage.blob`` is imported here, so
import this module only inside the code path that needs it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings, ExponentialRetry

from shared.ports import ConflictError, Document, LockHeldError, NotFoundError, PlatformError, TransientError
from shared.settings import Settings

log = logging.getLogger(__name__)

_JSON = ContentSettings(content_type="application/json")


# Handlers must answer within seconds: two quick retries (about 1 s and 3 s apart) instead of the
# SDK's default 15 s-based exponential back-off, then the caller sees a TransientError.
def _client_options() -> dict[str, Any]:
    return {
        "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2, random_jitter_range=1),
        "connection_timeout": 10,
        "read_timeout": 60,
    }


def blob_service_client(settings: Settings) -> BlobServiceClient:
    kind, value = settings.storage_auth()
    if kind == "connection_string":
        return BlobServiceClient.from_connection_string(value, **_client_options())
    from azure.identity import DefaultAzureCredential

    return BlobServiceClient(account_url=value, credential=DefaultAzureCredential(), **_client_options())


def container_client(service: BlobServiceClient, name: str) -> ContainerClient:
    """The container, created on first use."""
    container = service.get_container_client(name)
    try:
        container.create_container()
    except ResourceExistsError:
        pass
    except AzureError as exc:
        raise translate_azure_error(exc, f"create container {name}") from exc
    return container


def translate_azure_error(exc: AzureError, what: str) -> PlatformError:
    """Map an azure-core error to the port's error types (transient when a retry may help)."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{what}: {exc}")
    if isinstance(exc, HttpResponseError) and exc.status_code in (408, 429, 500, 502, 503, 504):
        return TransientError(f"{what}: HTTP {exc.status_code} {exc.reason}")
    if type(exc).__name__ == "ClientAuthenticationError":
        return TransientError(f"{what}: could not get a token ({exc})")
    return PlatformError(f"{what}: {exc}")


class BlobStateStore:
    """:class:`shared.ports.StateStore` on one Blob container.

    Documents are JSON blobs at their key. ``create`` writes with ``If-None-Match: *``, ``replace``
    with ``If-Match: <etag>``. A blob that is not a JSON object (cut short, edited by hand) reads as
    ``CorruptDocumentError`` naming it, never as absent. Locks are blob leases on ``locks/<name>``
    renewed by a background thread while held.
    """

    LEASE_SECONDS = 30

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStateStore:
        return cls(container_client(blob_service_client(settings), settings.state_container))

    # documents
    def get(self, key: str) -> Document | None:
        try:
            downloader = self._container.download_blob(key)
            raw = downloader.readall()
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise translate_azure_error(exc, f"read {key}") from exc
        return Document.from_json(key, bytes(raw), downloader.properties.etag)

    def create(self, key: str, data: Mapping[str, Any]) -> str:
        try:
            result = self._container.get_blob_client(key).upload_blob(
                _dump(data),
                overwrite=True,
                match_condition=MatchConditions.IfMissing,
                content_settings=_JSON,
            )
        except ResourceExistsError as exc:
            raise ConflictError(key, "already exists") from exc
        except ResourceModifiedError as exc:  # Azurite/service may answer 412 for If-None-Match: *
            raise ConflictError(key, "already exists") from exc
        except AzureError as exc:
            raise translate_azure_error(exc, f"create {key}") from exc
        return str(result["etag"])

    def replace(self, key: str, data: Mapping[str, Any], etag: str) -> str:
        try:
            result = self._container.get_blob_client(key).upload_blob(
                _dump(data),
                overwrite=True,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
                content_settings=_JSON,
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise ConflictError(key, f"changed since it was read at ETag {etag}") from exc
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise ConflictError(key, f"changed since it was read at ETag {etag}") from exc
            raise translate_azure_error(exc, f"replace {key}") from exc
        except AzureError as exc:
            raise translate_azure_error(exc, f"replace {key}") from exc
        return str(result["etag"])

    def put(self, key: str, data: Mapping[str, Any]) -> str:
        try:
            result = self._container.get_blob_client(key).upload_blob(
                _dump(data), overwrite=True, content_settings=_JSON
            )
        except AzureError as exc:
            raise translate_azure_error(exc, f"write {key}") from exc
        return str(result["etag"])

    def delete(self, key: str, etag: str | None = None) -> bool:
        kwargs: dict[str, Any] = {}
        if etag is not None:
            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            self._container.get_blob_client(key).delete_blob(**kwargs)
        except ResourceNotFoundError:
            return False
        except ResourceModifiedError as exc:
            raise ConflictError(key, f"changed since it was read at ETag {etag}") from exc
        except AzureError as exc:
            raise translate_azure_error(exc, f"delete {key}") from exc
        return True

    def list(self, prefix: str) -> list[str]:
        try:
            return sorted(b.name for b in self._container.list_blobs(name_starts_with=prefix))
        except AzureError as exc:
            raise translate_azure_error(exc, f"list {prefix}") from exc

    # locks
    @contextmanager
    def lock(self, name: str, *, wait_seconds: float = 0.0) -> Iterator[None]:
        blob = self._container.get_blob_client(f"locks/{name}")
        with suppress(ResourceExistsError):
            blob.upload_blob(b"", overwrite=False)
        deadline = time.monotonic() + wait_seconds
        lease_id = str(uuid.uuid4())
        while True:
            try:
                lease = blob.acquire_lease(lease_duration=self.LEASE_SECONDS, lease_id=lease_id)
                break
            except HttpResponseError as exc:
                if exc.status_code != 409:  # 409 LeaseAlreadyPresent
                    raise translate_azure_error(exc, f"lock {name}") from exc
                if time.monotonic() >= deadline:
                    raise LockHeldError(name) from None
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.LEASE_SECONDS / 3):
                try:
                    lease.renew()
                except AzureError as exc:  # the holder keeps working; the next renewal may succeed
                    log.warning("lock %s: lease renewal failed: %s", name, exc)

        renewer = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            try:
                lease.release()
            except AzureError as exc:  # it expires on its own within LEASE_SECONDS
                log.warning("lock %s: lease release failed: %s", name, exc)


class BlobDataWriter:
    """:class:`shared.ports.BlobWriter` on one container (exported data, quarantine)."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    @classmethod
    def from_settings(cls, settings: Settings, container: str) -> BlobDataWriter:
        return cls(container_client(blob_service_client(settings), container))

    @property
    def url(self) -> str:
        return str(self._container.url)

    def write(self, path: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        try:
            self._container.upload_blob(
                path, data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
            )
        except AzureError as exc:
            raise translate_azure_error(exc, f"write {path}") from exc

    def read(self, path: str) -> bytes:
        try:
            return bytes(self._container.download_blob(path).readall())
        except ResourceNotFoundError as exc:
            raise NotFoundError(f"blob {path} not found") from exc
        except AzureError as exc:
            raise translate_azure_error(exc, f"read {path}") from exc

    def list(self, prefix: str) -> list[str]:
        try:
            return sorted(b.name for b in self._container.list_blobs(name_starts_with=prefix))
        except AzureError as exc:
            raise translate_azure_error(exc, f"list {prefix}") from exc

    def delete(self, path: str) -> None:
        try:
            self._container.delete_blob(path)
        except ResourceNotFoundError:
            pass
        except AzureError as exc:
            raise translate_azure_error(exc, f"delete {path}") from exc


def _dump(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, default=str).encode()
