"""Drift job submission: which model version, which data, whether to submit, and at most once per window.

Used by ``submit_drift_job`` (timer) and ``submit_drift_job_http`` (``POST /api/drift/jobs``):

1. **window** ``[start, end)``: the request's, else the last ``DRIFT_WINDOW`` up to the current whole hour
   (only ``window_end`` given: ``DRIFT_WINDOW`` before it; only ``window_start``: up to the current whole
   hour). An end in the future, or not after the start, is a :class:`PayloadError`;
2. **model version**: the request's (unknown → PayloadError on ``model_version``), else the latest
   registered version of ``MODEL_NAME``; its **training data** from the model's tags (written by
   ``ml_assets/src/training/register.py``): ``training_data_name`` + ``training_data_version``, else ``training_data``
   (``name:version``, ``name@latest`` or a path/URI);
3. **partitions**: the exported blobs under ``<EXPORT_PREFIX>/model=<m>/version=<v>/`` whose ``hour=``
   partition overlaps the window (``shared/services/export_layout.py``). None → no job (``no_data``);
4. **at most one job per (model, version, window)**: the job document
   ``drift/jobs/<model>/<version>/<start>-<end>.json`` is a submission claim
   (:mod:`shared.services.submission_claim`), created only if absent. A second request finds it and answers
   with the first job's name (``duplicate``; "in progress" while the first is still submitting). Taken over
   instead: a claim left ``submitting`` for :data:`~shared.services.submission_claim.STALE_AFTER` (its process
   died), and the claim of a job that ended ``Failed``/``Canceled`` or is gone (re-running a failed window);
5. **no new data**: when every selected blob was already in the last job's input for this model version
   (``drift/jobs/<model>/<version>/last.json``) and that job did not fail, nothing is submitted
   (``no_new_data``, with that job's name);
6. **submit** ``ml_assets/pipelines/data_drift.yml`` through the :class:`JobPlatform` port with the inputs
   overridden: ``reference_data`` (the training data), ``target_data`` (the ``model=/version=`` folder of
   the export container; the component keeps the window's ``date=/hour=`` partitions and rows), the window,
   the drift settings. A failed submission releases the claim so a retry can submit; then the job document,
   the model version's ``last.json`` and ``drift/last.json`` (shown by ``status``) are written.

Plain Python: no Azure SDK import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from shared.clock import utcnow
from shared.payloads import PayloadError
from shared.payloads.drift import DriftJobRequest
from shared.ports import (
    AssetInput,
    BlobWriter,
    Document,
    JobPlatform,
    ModelInfo,
    ModelRegistry,
    NotFoundError,
    PipelineJobRequest,
    StateStore,
    TransientError,
)
from shared.services import state_keys
from shared.services.export_layout import parse_blob_path
from shared.services.submission_claim import Claim, SubmissionClaims
from shared.services.timestamps import iso_z, parse_iso, stamp
from shared.settings import Settings

log = logging.getLogger(__name__)

PIPELINE_YAML: Final = "ml_assets/pipelines/data_drift.yml"
UNSET: Final = "none"  # the pipeline's "not set" value for string inputs (see data_drift.yml)

SUBMITTED: Final = "submitted"
DUPLICATE: Final = "duplicate"
NO_DATA: Final = "no_data"
NO_NEW_DATA: Final = "no_new_data"
NO_MODEL: Final = "no_model"
NO_REFERENCE: Final = "no_reference"
_FAILED_STATES: Final = frozenset({"Failed", "Canceled", "NotResponding"})

# Model tags written by the register step (ml_assets/src/training/register.py: build_tags).
TAG_DATA_NAME: Final = "training_data_name"
TAG_DATA_VERSION: Final = "training_data_version"
TAG_DATA: Final = "training_data"


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class DriftConfig:
    model_name: str
    window: timedelta
    export_prefix: str
    compute: str
    min_rows: int
    drift_share: float
    stattest: str | None = None
    threshold: float | None = None
    appinsights_connection_string: str | None = None
    pipeline_yaml: str = PIPELINE_YAML

    @classmethod
    def from_settings(cls, settings: Settings) -> DriftConfig:
        return cls(
            model_name=settings.model_name,
            window=settings.drift_window,
            export_prefix=settings.export_prefix.strip("/"),
            compute=settings.drift_compute,
            min_rows=settings.drift_min_rows,
            drift_share=settings.drift_share,
            stattest=settings.drift_stattest,
            threshold=settings.drift_threshold,
            appinsights_connection_string=settings.appinsights_connection_string or None,
        )

    @property
    def experiment_name(self) -> str:
        return f"{self.model_name}-drift"


@dataclass(frozen=True)
class DriftOutcome:
    decision: str
    model_name: str
    model_version: str | None
    window_start: datetime
    window_end: datetime
    trigger: str
    job_name: str | None = None
    message: str = ""
    blobs: int = 0
    in_progress: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "job_name": self.job_name,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "window_start": iso_z(self.window_start),
            "window_end": iso_z(self.window_end),
            "trigger": self.trigger,
            "message": self.message,
            "blobs": self.blobs,
            "in_progress": self.in_progress,
            **self.details,
        }


def resolve_window(request: DriftJobRequest, now: datetime, length: timedelta) -> tuple[datetime, datetime]:
    current_hour = floor_hour(now)
    end = request.window_end or current_hour
    start = request.window_start or (end - length if request.window_end else current_hour - length)
    if request.window_start is not None and request.window_end is None and start >= end:
        raise PayloadError(
            "window_start", f"must be before the current whole hour {iso_z(current_hour)} when window_end is not given"
        )
    if end > now:
        raise PayloadError("window_end", f"{iso_z(end)} is in the future (now {iso_z(now)})")
    if end <= start:
        raise PayloadError("window_end", f"must be after window_start ({iso_z(end)} <= {iso_z(start)})")
    return start, end


def reference_path(model: ModelInfo) -> str | None:
    """The training data of ``model`` as a job input path, from its tags; None when the tags lack it."""
    tags = model.tags
    name, version = tags.get(TAG_DATA_NAME, "").strip(), tags.get(TAG_DATA_VERSION, "").strip()
    if name and version and version != "latest":
        return f"azureml:{name}:{version}"
    value = tags.get(TAG_DATA, "").strip()
    if not value:
        return f"azureml:{name}@latest" if name else None
    if "://" in value or value.startswith(("azureml:", "/", ".")):
        return value  # a URI, an azureml: reference or a local path (local mode)
    asset, sep, rest = value.partition("@")
    if sep:
        return f"azureml:{asset}@{rest}"
    return f"azureml:{value}"


def job_key(model: str, version: str, start: datetime, end: datetime) -> str:
    return f"{state_keys.DRIFT_JOBS_PREFIX}{model}/{version}/{stamp(start)}-{stamp(end)}.json"


def last_key(model: str, version: str) -> str:
    return f"{state_keys.DRIFT_JOBS_PREFIX}{model}/{version}/last.json"


class DriftService:
    """One submission decision per call. Ports are passed in; the platform and registry lazily (callables),
    so a request answered from the state store never builds an ML client."""

    def __init__(
        self,
        store: StateStore,
        *,
        registry: Callable[[], ModelRegistry],
        platform: Callable[[], JobPlatform],
        export: BlobWriter,
        export_url: str,
        config: DriftConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._registry = registry
        self._platform = platform
        self._export = export
        self._export_url = export_url.rstrip("/")
        self._config = config
        self._clock = clock
        self._claims = SubmissionClaims(store, label="drift", clock=clock, may_take_over=self._job_ended_badly)

    # --- the decision ---------------------------------------------------------------------------

    def submit(self, request: DriftJobRequest, *, trigger: str) -> DriftOutcome:
        now = self._clock()
        start, end = resolve_window(request, now, self._config.window)
        model_name = self._config.model_name

        def outcome(decision: str, version: str | None, **kwargs: Any) -> DriftOutcome:
            result = DriftOutcome(decision, model_name, version, start, end, trigger, **kwargs)
            level = logging.INFO if decision in (SUBMITTED, DUPLICATE, NO_DATA, NO_NEW_DATA) else logging.ERROR
            log.log(level, "drift %s: %s", decision, result.body())
            return result

        model = self._model(request.model_version)
        if model is None:
            return outcome(NO_MODEL, None, message=f"no registered version of model {model_name!r}")
        version = model.version

        key = job_key(model_name, version, start, end)
        vacancy = self._claims.inspect(key)
        if isinstance(vacancy, Document):
            return self._duplicate(vacancy, outcome, version)

        reference = reference_path(model)
        if reference is None:
            return outcome(
                NO_REFERENCE,
                version,
                message=(
                    f"model {model_name}:{version} has no training-data tag ({TAG_DATA_NAME} + {TAG_DATA_VERSION}, "
                    f"or {TAG_DATA}); cannot tell what to compare with"
                ),
            )

        blobs = self._partition_blobs(model_name, version, start, end)
        if not blobs:
            return outcome(
                NO_DATA,
                version,
                message=f"no exported inference data for {model_name}:{version} in [{iso_z(start)}, {iso_z(end)})",
            )

        covered_by = self._covered_by_last_job(model_name, version, blobs, start, end)
        if covered_by is not None:
            return outcome(
                NO_NEW_DATA,
                version,
                job_name=covered_by.get("job_name"),
                blobs=len(blobs),
                message=(
                    f"no new exported data since drift job {covered_by.get('job_name')} "
                    f"(window [{covered_by.get('window_start')}, {covered_by.get('window_end')})): nothing submitted"
                ),
            )

        fields = {
            "model_name": model_name,
            "model_version": version,
            "window_start": iso_z(start),
            "window_end": iso_z(end),
            "trigger": trigger,
        }
        claim = self._claims.acquire(key, fields, vacancy)
        if claim is None:
            found = self._claims.current(key)
            if found is None:  # released by a failed first submission in between: let the caller retry
                return outcome(DUPLICATE, version, in_progress=True, message="another submission is in progress")
            return self._duplicate(found, outcome, version)

        job_request = self._job_request(model_name, version, reference=reference, start=start, end=end, trigger=trigger)
        try:
            job_name = self._platform().submit_pipeline(job_request)
        except BaseException:
            self._claims.release(claim)
            raise

        settled = {
            "job_name": job_name,
            "reference_data": reference,
            "target_data": job_request.inputs["target_data"].path,
            "blobs": blobs,
        }
        self._record(self._claims.settle(claim, SUBMITTED, settled, overwrite=True))
        return outcome(SUBMITTED, version, job_name=job_name, blobs=len(blobs), message="drift pipeline submitted")

    # --- steps ----------------------------------------------------------------------------------

    def _model(self, version: str | None) -> ModelInfo | None:
        registry = self._registry()
        if version is None:
            return registry.latest_model(self._config.model_name)
        try:
            return registry.get_model(self._config.model_name, version)
        except NotFoundError:
            raise PayloadError(
                "model_version", f"unknown version {version!r} of model {self._config.model_name!r}"
            ) from None

    def _job_ended_badly(self, claim: Document) -> bool:
        """Whether a settled claim may be taken over: its job ended ``Failed``/``Canceled`` (or is gone), and
        running the window again is what the caller wants. A platform that cannot answer right now leaves the
        first job in place (duplicate)."""
        job_name = claim.data.get("job_name")
        if not job_name:
            return False
        try:
            job_status = self._platform().get_job(str(job_name)).status
        except NotFoundError:
            job_status = "NotFound"
        except TransientError as exc:
            log.warning("drift: cannot read the state of job %s (%s); answering with it", job_name, exc)
            return False
        if job_status in _FAILED_STATES or job_status == "NotFound":
            log.info("drift: job %s for this window ended %s; submitting again", job_name, job_status)
            return True
        return False

    def _duplicate(self, existing: Document, outcome: Callable[..., DriftOutcome], version: str) -> DriftOutcome:
        job_name = existing.data.get("job_name")
        if job_name:
            return outcome(
                DUPLICATE,
                version,
                job_name=job_name,
                blobs=len(existing.data.get("blobs", [])),
                message="a drift job for this model version and window exists already",
            )
        return outcome(
            DUPLICATE,
            version,
            in_progress=True,
            message="the drift job for this model version and window is being submitted by another request",
        )

    def _version_prefix(self, model: str, version: str) -> str:
        return f"{self._config.export_prefix}/model={model}/version={version}/"

    def _partition_blobs(self, model: str, version: str, start: datetime, end: datetime) -> list[str]:
        """Exported Parquet blobs of this model version whose hour partition overlaps [start, end)."""
        selected = []
        for name in self._export.list(self._version_prefix(model, version)):
            parsed = parse_blob_path(name)
            if parsed is None or not name.endswith(".parquet"):
                continue
            _, partition, _ = parsed
            if partition.model != model or partition.version != version:
                continue
            if partition.start + timedelta(hours=1) > start and partition.start < end:
                selected.append(name)
        return sorted(selected)

    def _covered_by_last_job(
        self, model: str, version: str, blobs: list[str], start: datetime, end: datetime
    ) -> dict[str, Any] | None:
        """The last job's record when it already compared this data: the same blobs or a superset, *and* a
        window that contains ``[start, end)`` (another window over the same files selects other rows)."""
        last = self._store.get(last_key(model, version))
        if last is None or not set(blobs) <= set(last.data.get("blobs", [])):
            return None
        try:
            last_start = parse_iso(str(last.data["window_start"]))
            last_end = parse_iso(str(last.data["window_end"]))
        except (KeyError, ValueError):
            return None
        if not (last_start <= start and end <= last_end):
            return None
        job_name = last.data.get("job_name")
        if job_name:
            try:
                status = self._platform().get_job(str(job_name)).status
            except NotFoundError:
                return None
            if status in _FAILED_STATES:
                log.info(
                    "drift: last job %s of %s:%s ended %s; its data counts as new", job_name, model, version, status
                )
                return None
        return last.data

    def _job_request(
        self, model: str, version: str, *, reference: str, start: datetime, end: datetime, trigger: str
    ) -> PipelineJobRequest:
        config = self._config
        target = f"{self._export_url}/{self._version_prefix(model, version)}"
        return PipelineJobRequest(
            pipeline_yaml=config.pipeline_yaml,
            inputs={
                "reference_data": AssetInput(type="uri_folder", path=reference),
                "target_data": AssetInput(type="uri_folder", path=target, mode="ro_mount"),
                "model_name": model,
                "model_version": version,
                "window_start": iso_z(start),
                "window_end": iso_z(end),
                "stattest": config.stattest or UNSET,
                "threshold": config.threshold if config.threshold is not None else 0.0,
                "drift_share": config.drift_share,
                "min_rows": config.min_rows,
                "appinsights_connection_string": config.appinsights_connection_string or UNSET,
            },
            experiment_name=config.experiment_name,
            display_name=f"drift {model}:{version} {start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M} UTC",
            tags={
                "mlops.purpose": "drift",
                "model_name": model,
                "model_version": version,
                "window_start": iso_z(start),
                "window_end": iso_z(end),
                "trigger": trigger,
            },
            compute=config.compute,
        )

    def _record(self, claim: Claim) -> None:
        """The model version's last job, and drift/last.json (status); the job document is the settled claim."""
        record = claim.data
        self._store.put(last_key(record["model_name"], record["model_version"]), record)
        summary = {k: v for k, v in record.items() if k != "blobs"}
        self._store.put(state_keys.DRIFT_LAST, {**summary, "blobs": len(record["blobs"])})
