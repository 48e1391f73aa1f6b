"""The narrow interfaces the services need, and the value types that cross them.

Implementations: ``shared/azure/`` (Azure SDKs) and ``shared/local/`` (the local mode). Services
and triggers depend on these protocols only; tests fake at this boundary and nowhere deeper.
The errors they raise are defined in :mod:`shared.port_errors` and re-exported here, so every caller imports
ports, values and errors from this module. No Azure SDK is imported here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from shared import port_errors

# The errors the ports raise, defined in shared.port_errors; imported from here with the ports they belong to.
PlatformError = port_errors.PlatformError
TransientError = port_errors.TransientError
NotFoundError = port_errors.NotFoundError
CorruptDocumentError = port_errors.CorruptDocumentError
ConflictError = port_errors.ConflictError
LockHeldError = port_errors.LockHeldError

# --- state store ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """A JSON document read from the state store with the ETag it was read at."""

    key: str
    data: dict[str, Any]
    etag: str

    @classmethod
    def from_json(cls, key: str, raw: bytes, etag: str) -> Document:
        """The document stored as ``raw``; CorruptDocumentError when it is not a JSON object in UTF-8."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise CorruptDocumentError(key, f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise CorruptDocumentError(key, f"not valid JSON ({exc.msg} at {where})") from exc
        except RecursionError as exc:
            raise CorruptDocumentError(key, "not valid JSON (nested too deeply)") from exc
        if not isinstance(data, dict):
            raise CorruptDocumentError(key, f"a JSON {type(data).__name__}, not an object")
        return cls(key=key, data=data, etag=etag)


@runtime_checkable
class StateStore(Protocol):
    """Small JSON documents with optimistic concurrency (ETags) and leases. Idempotency claims are documents
    created if absent (``shared/services/submission_claim.py``)."""

    def get(self, key: str) -> Document | None:
        """None when absent; CorruptDocumentError when it is there but not a JSON object."""
        ...

    def create(self, key: str, data: Mapping[str, Any]) -> str:
        """Write only if absent; returns the ETag. Raises ConflictError if the key exists."""
        ...

    def replace(self, key: str, data: Mapping[str, Any], etag: str) -> str:
        """Write only if unchanged since ``etag``. Raises ConflictError otherwise."""
        ...

    def put(self, key: str, data: Mapping[str, Any]) -> str:
        """Unconditional write (for records no one else writes)."""
        ...

    def delete(self, key: str, etag: str | None = None) -> bool:
        """Delete (only if unchanged when ``etag`` is given); False if it did not exist."""
        ...

    def list(self, prefix: str) -> list[str]: ...

    def lock(self, name: str, *, wait_seconds: float = 0.0) -> AbstractContextManager[None]:
        """Exclusive lock across instances; raises LockHeldError if not acquired within ``wait_seconds``."""
        ...


# --- blob data (exported inference data, quarantine) ---------------------------------------------


class BlobWriter(Protocol):
    """Write and list data blobs in one container."""

    def write(self, path: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        """Create or overwrite ``path``."""
        ...

    def read(self, path: str) -> bytes: ...

    def list(self, prefix: str) -> list[str]: ...

    def delete(self, path: str) -> None: ...


# --- ML platform ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssetInput:
    """A data input of a pipeline job (as opposed to a literal such as a string or a number).

    ``type`` is the Azure ML input type (``uri_folder``, ``uri_file``, ``mltable``, ``mlflow_model``, …);
    ``path`` a data asset reference (``azureml:<name>@latest``, ``azureml:<name>:<version>``) or a URI
    (``azureml://datastores/<store>/paths/<prefix>``, ``https://…``, a local path in the local mode);
    ``mode`` optionally how the step sees it (``ro_mount``, ``download``, …).
    """

    type: str
    path: str
    mode: str | None = None


@dataclass(frozen=True)
class PipelineJobRequest:
    """A pipeline job to submit, built from a YAML file of the repo with inputs overridden.

    ``pipeline_yaml`` is relative to the project root (or absolute). ``inputs`` override inputs the
    pipeline declares: literals (str, int, float, bool) or :class:`AssetInput` for data.
    """

    pipeline_yaml: str
    inputs: Mapping[str, Any]
    experiment_name: str
    display_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    compute: str | None = None
    name: str | None = None  # the job's name (platform_rules.check_job_name); None: the platform picks one


@dataclass(frozen=True)
class JobInfo:
    name: str
    status: str  # Azure ML vocabulary: NotStarted, Queued, Running, Completed, Failed, Canceled, …
    tags: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("Completed", "Failed", "Canceled", "NotResponding")


class JobPlatform(Protocol):
    def submit_pipeline(self, request: PipelineJobRequest) -> str:
        """Submit and return the job name without waiting for it.

        Idempotent on ``request.name``: when a job of that name exists, its name is returned and nothing is
        submitted, so a caller that lost the answer can ask again. TransientError: the job may or may not
        exist (ask again with the same name); any other PlatformError: the platform refused, no job exists.
        """
        ...

    def get_job(self, name: str) -> JobInfo: ...


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    tags: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)
    path: str | None = None  # local folder (local mode) or azureml:// URI


class ModelRegistry(Protocol):
    def get_model(self, name: str, version: str) -> ModelInfo:
        """Raises NotFoundError."""
        ...

    def latest_model(self, name: str) -> ModelInfo | None: ...

    def share_to_registry(self, name: str, version: str, registry: str) -> str:
        """Copy the model into an Azure ML registry; returns the reference to deploy."""
        ...

    def list_models(self, name: str) -> list[ModelInfo]:
        """Every version of ``name`` with its tags (empty when there is none)."""
        ...

    def update_tags(
        self, name: str, version: str, *, set_tags: Mapping[str, str], remove: tuple[str, ...] = ()
    ) -> None:
        """Set and remove tags of one version, leaving the others as they are. Raises NotFoundError."""
        ...


class PromotionRegistry(Protocol):
    """The Azure ML registry that environments promote model versions through (``PROMOTION_REGISTRY``)."""

    def share(self, name: str, version: str) -> str:
        """Copy this environment's version into the registry under the same name and version (an existing
        copy is success); returns the reference the next environment deploys."""
        ...

    def versions(self, name: str) -> list[ModelInfo]:
        """The registry's versions of ``name`` with their tags; ``path`` is the reference to deploy."""
        ...

    def update_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        """Add or change tags of a registry version. Raises NotFoundError."""
        ...


@dataclass(frozen=True)
class EndpointState:
    name: str
    provisioning_state: str  # Succeeded, Creating, Updating, Failed, Deleting
    traffic: Mapping[str, int]
    mirror_traffic: Mapping[str, int] = field(default_factory=dict)
    scoring_uri: str | None = None


@dataclass(frozen=True)
class DeploymentSpec:
    endpoint: str
    name: str
    model: str  # azureml:<name>:<version>, a registry reference, or a local folder
    model_name: str
    model_version: str
    instance_type: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    data_collection: bool = False  # the deployment's data collector on (model_inputs, model_outputs)


@dataclass(frozen=True)
class DeploymentState:
    name: str
    provisioning_state: str  # Creating, Updating, Succeeded, Failed, Canceled, Deleting
    model: str | None = None
    error: str | None = None


class EndpointPlatform(Protocol):
    def get_endpoint(self, name: str) -> EndpointState | None: ...

    def begin_create_endpoint(self, name: str) -> None: ...

    def begin_create_deployment(self, spec: DeploymentSpec) -> None: ...

    def get_deployment(self, endpoint: str, name: str) -> DeploymentState | None: ...

    def list_deployments(self, endpoint: str) -> list[DeploymentState]: ...

    def set_traffic(self, endpoint: str, traffic: Mapping[str, int], mirror: Mapping[str, int] | None = None) -> None:
        """Set live (and mirror) traffic. Live traffic must sum to 100 (or 0 with no deployment)."""
        ...

    def begin_delete_deployment(self, endpoint: str, name: str) -> None: ...

    def invoke(self, endpoint: str, deployment: str, body: bytes) -> bytes:
        """Score ``body`` on one deployment directly (bypassing the traffic rules)."""
        ...


@dataclass(frozen=True)
class TrafficFigures:
    """What one deployment served over a window: requests, the non-2xx answers among them, latency percentiles.

    ``latency_p90_ms`` / ``latency_p99_ms`` are None when the source has no figure for the window (no request,
    or a platform that does not report that percentile).
    """

    requests: int
    non_2xx: int
    latency_p90_ms: float | None = None
    latency_p99_ms: float | None = None

    @property
    def error_share(self) -> float | None:
        """Share of non-2xx answers (None without requests)."""
        return self.non_2xx / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        share = self.error_share
        return {
            "requests": self.requests,
            "non_2xx": self.non_2xx,
            "error_share": None if share is None else round(share, 6),
            "latency_p90_ms": None if self.latency_p90_ms is None else round(self.latency_p90_ms, 3),
            "latency_p99_ms": None if self.latency_p99_ms is None else round(self.latency_p99_ms, 3),
        }


class DeploymentMetrics(Protocol):
    """Per-deployment traffic figures of an online endpoint (the rollout's live-metric gates)."""

    def traffic(
        self, endpoint: str, deployments: Sequence[str], start: datetime, end: datetime, *, mirrored: bool = False
    ) -> dict[str, TrafficFigures]:
        """The figures of each of ``deployments`` over ``[start, end)``: the live requests the endpoint routed
        to it, or with ``mirrored`` the mirrored copies it answered. A deployment that served nothing maps to
        zero requests. TransientError when the metrics cannot be read now."""
        ...


# --- logs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRow:
    """One AmlOnlineEndpointConsoleLog row, as the export query projects it."""

    time: datetime
    message: str
    deployment: str


@dataclass(frozen=True)
class LogQueryResult:
    rows: list[LogRow]
    complete: bool  # False when the service returned PARTIAL (truncated) results
    detail: str = ""


@dataclass(frozen=True)
class LogVolume:
    """How much ``[start, end)`` holds: rows and the estimated size of their messages in bytes.

    The service caps one result at 500,000 rows *and* ~64 MB, so the export needs both numbers to split a
    window before fetching it (a row count alone cannot tell 400,000 short lines from 400,000 long ones).
    """

    rows: int
    bytes: int


class LogSource(Protocol):
    def count(self, start: datetime, end: datetime) -> int:
        """Rows in ``[start, end)`` (cheap: lets the export split windows before fetching them)."""
        ...

    def volume(self, start: datetime, end: datetime) -> LogVolume:
        """Rows and estimated message bytes in ``[start, end)``, in one cheap query (see :class:`LogVolume`)."""
        ...

    def query(self, start: datetime, end: datetime) -> LogQueryResult:
        """Rows in ``[start, end)``, oldest first."""
        ...


# --- data assets ---------------------------------------------------------------------------------


class DataAssetPublisher(Protocol):
    """Creates versions of one Azure ML data asset (``uri_folder``) over the exported data."""

    def publish(self, version: str, *, description: str, tags: Mapping[str, str]) -> str:
        """Create ``version`` (idempotent: an existing identical version is success); returns the
        reference ``azureml:<name>:<version>``."""
        ...


class DataAssetVersions(Protocol):
    """Reads which versions a data asset has (retraining pairs the training data with the version before it)."""

    def versions(self, name: str) -> list[str]:
        """The versions of data asset ``name``, in no particular order; empty (or NotFoundError) when it has none."""
        ...
