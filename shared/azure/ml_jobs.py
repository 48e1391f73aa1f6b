"""Azure ML jobs: :class:`shared.ports.JobPlatform` on ``azure-ai-ml``, and the pipeline job builder.

:func:`build_pipeline_job` loads one of the repo's pipeline YAML files with ``azure.ai.ml.load_job``
and applies a :class:`shared.ports.PipelineJobRequest` (inputs, tags, experiment, display name, default
compute, job name) to the real ``PipelineJob`` entity: the object the app submits is the object tests
validate offline. :class:`AzureMLJobPlatform` submits it with ``MLClient.jobs.create_or_update`` (returns at
once; nothing waits for the job), idempotently on the requested job name (``jobs.get`` first), and maps
azure-core errors to the port's error types.

``azure.ai.ml`` is heavy (seconds to import): it is imported inside the functions that need it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shared.azure.ml_client import LazyMLClient, translate_ml_error, workspace_client
from shared.platform_rules import check_job_name
from shared.ports import AssetInput, JobInfo, NotFoundError, PipelineJobRequest, PlatformError, TransientError
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import Job, PipelineJob

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def build_pipeline_job(request: PipelineJobRequest, base_dir: Path | None = None) -> PipelineJob:
    """The pipeline job of ``request.pipeline_yaml`` with the request applied (offline: no workspace call).

    Inputs must be declared by the pipeline (a typo must not silently submit the YAML's default):
    literals (str, int, float, bool) replace values, :class:`AssetInput` becomes an ``Input`` of its type
    and path. Tags are added to the YAML's tags. ``compute`` sets ``settings.default_compute``, ``name`` the
    job's name. Raises PlatformError when the YAML is missing, invalid, not a pipeline, or lacks an input, or
    the name is not a valid job name.
    """
    from azure.ai.ml import Input, load_job
    from azure.ai.ml.entities import PipelineJob

    path = Path(request.pipeline_yaml)
    if not path.is_absolute():
        path = (base_dir or PROJECT_ROOT) / path
    if not path.is_file():
        raise PlatformError(f"pipeline YAML {path} not found")
    try:
        job = load_job(source=path)
    except Exception as exc:  # marshmallow/YAML/SDK validation errors of many types
        raise PlatformError(f"pipeline YAML {path} is invalid: {type(exc).__name__}: {exc}") from exc
    if not isinstance(job, PipelineJob):
        raise PlatformError(f"{path} defines a {type(job).__name__}, not a pipeline job")

    declared = sorted(job.inputs)
    for name, value in request.inputs.items():
        if name not in job.inputs:
            raise PlatformError(f"pipeline {path.name} has no input {name!r}; it declares {', '.join(declared)}")
        if isinstance(value, AssetInput):
            setattr(job.inputs, name, Input(type=value.type, path=value.path, mode=value.mode))
        elif isinstance(value, str | int | float | bool):
            setattr(job.inputs, name, value)
        else:
            raise PlatformError(f"input {name!r}: {type(value).__name__} is neither a literal nor an AssetInput")

    if request.name:
        check_job_name(request.name)
        job.name = request.name
    job.experiment_name = request.experiment_name
    if request.display_name:
        job.display_name = request.display_name
    job.tags = {**(job.tags or {}), **{str(k): str(v) for k, v in request.tags.items()}}
    if request.compute:
        job.settings.default_compute = request.compute
    return job


class AzureMLJobPlatform(LazyMLClient):
    """:class:`shared.ports.JobPlatform` on one Azure ML workspace.

    ``client`` is an ``MLClient`` (or anything with its ``jobs`` operations: tests pass a fake). Without
    one, :meth:`from_settings` builds ``MLClient(DefaultAzureCredential(), …)`` on first use.
    """

    def __init__(
        self,
        client: MLClient | None = None,
        *,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        base_dir: Path | None = None,
    ) -> None:
        scope = (subscription_id, resource_group, workspace_name)
        self._init_client(client, lambda: workspace_client(*scope))
        self._base_dir = base_dir or PROJECT_ROOT

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureMLJobPlatform:
        """Reads (and so validates) the workspace settings now; the client is built on first use."""
        return cls(
            subscription_id=settings.subscription_id,
            resource_group=settings.resource_group,
            workspace_name=settings.workspace_name,
        )

    def submit_pipeline(self, request: PipelineJobRequest) -> str:
        """Submit, or with ``request.name`` find the job of that name submitted before (idempotent, see the
        port). The service does not treat a PUT of an existing job name as "already there": it tries to update
        that job and refuses (400, "A job with this name already exists"), so the name is looked up first, and
        again when the create is refused, in case a concurrent attempt created it in between."""
        job = build_pipeline_job(request, self._base_dir)
        what = f"submit pipeline {request.pipeline_yaml}"
        if request.name and self._exists(request.name, what):
            log.info("%s: job %s exists (an earlier attempt created it); not submitted again", what, request.name)
            return request.name
        try:
            created = self.client.jobs.create_or_update(job, experiment_name=request.experiment_name)
        except Exception as exc:
            error = translate_ml_error(exc, what)
            if request.name and not isinstance(error, TransientError) and self._exists(request.name, what):
                log.info("%s: job %s was created by a concurrent attempt", what, request.name)
                return request.name
            raise error from exc
        if not created.name:
            raise PlatformError(f"{what}: the service returned no job name")
        return str(created.name)

    def _exists(self, name: str, what: str) -> bool:
        try:
            self.client.jobs.get(name)
        except Exception as exc:
            error = translate_ml_error(exc, f"{what}: look up job {name}")
            if isinstance(error, NotFoundError):
                return False
            raise error from exc
        return True

    def get_job(self, name: str) -> JobInfo:
        try:
            job = self.client.jobs.get(name)
        except Exception as exc:
            raise translate_ml_error(exc, f"get job {name}") from exc
        return job_info(job)


def job_info(job: Job) -> JobInfo:
    """The port's view of an ``azure.ai.ml`` job entity (``started_at``: its creation time)."""
    outputs: dict[str, str] = {}
    for key, output in (getattr(job, "outputs", None) or {}).items():
        path = getattr(output, "path", None)
        if path is None and hasattr(output, "_data"):
            path = getattr(output._data, "path", None)
        if path:
            outputs[key] = str(path)
    created = getattr(getattr(job, "creation_context", None), "created_at", None)
    status = job.status or "Unknown"
    return JobInfo(
        name=str(job.name),
        # the SDK's JobStatus is a str enum, whose str() is "JobStatus.COMPLETED"; the port speaks the value
        status=str(getattr(status, "value", status)),
        tags=dict(job.tags or {}),
        outputs=outputs,
        started_at=created if isinstance(created, datetime) else None,
    )
