"""Model-performance job submission: which model version and window, which labels, whether to submit.

Used by ``submit_performance_job`` (timer) and ``submit_performance_job_http`` (``POST /api/performance/jobs``):

1. **window** ``[start, end)``: the request's, else the last ``PERFORMANCE_WINDOW`` up to the current whole hour
   (the rules of the drift window; an end in the future, or not after the start, is a :class:`PayloadError`);
2. **model version**: the request's (unknown → PayloadError on ``model_version``), else the latest registered
   version of ``MODEL_NAME`` (none → ``no_model``);
3. **labels** (:func:`~shared.services.performance_job.label_files`): none yet → ``no_labels``;
4. **predictions**: the exported blobs of that version whose hour partition overlaps the window; none →
   ``no_data``;
5. **no new labels**: a scheduled run (no window in the request) whose label files are the ones the model
   version's last job read (``performance/jobs/<model>/<version>/last.json``), when that job did not fail, submits
   nothing (``no_new_labels``): the rolling window moved, but its new hours have no ground truth yet;
6. **at most one job per (model, version, window) and labels**: the job document
   ``performance/jobs/<model>/<version>/<start>-<end>.json`` is a submission claim (:mod:`.submission_claim`).
   A second request for the window answers with the first job (``duplicate``). It is taken over (a new job) only
   when that job ended ``Failed``/``Canceled`` or is gone, or when label files arrived since it was submitted:
   the late labels are the point of measuring the window again. Concurrent requests still give one job (the
   take-over is an ETag-conditional write);
7. **submit** ``ml_assets/pipelines/model_performance.yml`` with ``labels_as_of`` = now (labels written later
   wait for the next job, so a job's figures are reproducible), then the job document, the version's ``last.json``
   and ``performance/last.json`` (shown by ``status``).

Plain Python: no Azure SDK import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from shared.clock import utcnow
from shared.payloads.drift import DriftJobRequest
from shared.ports import (
    BlobWriter,
    DataAssetVersions,
    Document,
    JobPlatform,
    ModelInfo,
    ModelRegistry,
    StateStore,
    TransientError,
)
from shared.services import state_keys
from shared.services.drift_job import DriftTarget, partition_blobs, resolve_window
from shared.services.performance_job import LabelState, PerformanceConfig, label_files, performance_job_request
from shared.services.submission_claim import SubmissionClaims
from shared.services.timestamps import iso_z, stamp
from shared.services.window_jobs import WindowJobOutcome, ended_badly, logged, requested_model

log = logging.getLogger(__name__)


class PerformanceDecision(StrEnum):
    SUBMITTED = "submitted"
    DUPLICATE = "duplicate"  # a job for this model version, window and labels exists, or is being submitted
    NO_DATA = "no_data"  # no exported predictions in the window
    NO_LABELS = "no_labels"  # no label files yet
    NO_NEW_LABELS = "no_new_labels"  # the last job read these labels already
    NO_MODEL = "no_model"


_ANSWERED: Final = frozenset(
    {
        PerformanceDecision.SUBMITTED,
        PerformanceDecision.DUPLICATE,
        PerformanceDecision.NO_DATA,
        PerformanceDecision.NO_LABELS,
        PerformanceDecision.NO_NEW_LABELS,
    }
)


@dataclass(frozen=True)
class PerformanceOutcome(WindowJobOutcome):
    decision: PerformanceDecision
    label_files: int = 0

    def counts(self) -> dict[str, Any]:
        return {"label_files": self.label_files}


def job_key(model: str, version: str, start: datetime, end: datetime) -> str:
    return f"{state_keys.PERFORMANCE_JOBS_PREFIX}{model}/{version}/{stamp(start)}-{stamp(end)}.json"


def last_key(model: str, version: str) -> str:
    return f"{state_keys.PERFORMANCE_JOBS_PREFIX}{model}/{version}/last.json"


def _logged(outcome: PerformanceOutcome) -> PerformanceOutcome:
    return logged(outcome, "performance", _ANSWERED, log)


class PerformanceService:
    """One submission decision per call; the ports as for drift (platform, registry and asset versions lazily)."""

    def __init__(
        self,
        store: StateStore,
        *,
        registry: Callable[[], ModelRegistry],
        platform: Callable[[], JobPlatform],
        export: BlobWriter,
        export_url: str,
        labels: BlobWriter,
        labels_url: str,
        config: PerformanceConfig,
        asset_versions: Callable[[], DataAssetVersions] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._registry = registry
        self._platform = platform
        self._export = export
        self._export_url = export_url.rstrip("/")
        self._labels = labels
        self._labels_url = labels_url.rstrip("/")
        self._config = config
        self._asset_versions = asset_versions
        self._clock = clock
        self._current: LabelState | None = None
        self._claims = SubmissionClaims(store, label="performance", clock=clock, may_take_over=self._may_take_over)

    def submit(self, request: DriftJobRequest, *, trigger: str) -> PerformanceOutcome:
        now = self._clock()
        start, end = resolve_window(request, now, self._config.window)
        name = self._config.model_name
        model = self._model(request.model_version)
        if model is None:
            message = f"no registered version of model {name!r}"
            return _logged(
                PerformanceOutcome(PerformanceDecision.NO_MODEL, name, None, start, end, trigger, message=message)
            )
        target = DriftTarget(name, model.version, start, end, trigger)

        def outcome(decision: PerformanceDecision, **kwargs: Any) -> PerformanceOutcome:
            return _logged(PerformanceOutcome(decision, name, model.version, start, end, trigger, **kwargs))

        versions = self._asset_versions() if self._config.labels_data_asset and self._asset_versions else None
        labels = label_files(self._config, self._labels, versions)
        if not labels.files:
            where = self._config.labels_data_asset or f"{self._labels_url}/{labels.path}"
            return outcome(PerformanceDecision.NO_LABELS, message=f"no label files under {where} yet")
        blobs = partition_blobs(self._export, self._config.export_prefix, target)
        counts = {"blobs": len(blobs), "label_files": len(labels.files)}
        if not blobs:
            window = f"[{iso_z(start)}, {iso_z(end)})"
            message = f"no exported predictions for {name}:{model.version} in {window}"
            return outcome(PerformanceDecision.NO_DATA, message=message, **counts)
        scheduled = request.window_start is None and request.window_end is None
        last = self._last_job_with(labels, target) if scheduled else None
        if last is not None:
            message = f"no new labels since performance job {last.get('job_name')}: nothing submitted"
            return outcome(PerformanceDecision.NO_NEW_LABELS, job_name=last.get("job_name"), message=message, **counts)

        self._current = labels
        key = job_key(name, model.version, start, end)
        fields = {
            "model_name": name,
            "model_version": model.version,
            "window_start": iso_z(start),
            "window_end": iso_z(end),
            "trigger": trigger,
        }
        vacancy = self._claims.inspect(key)
        claim = None if isinstance(vacancy, Document) else self._claims.acquire(key, fields, vacancy)
        if claim is None:
            found = vacancy if isinstance(vacancy, Document) else self._claims.current(key)
            job_name = found.data.get("job_name") if found is not None else None
            if job_name:
                message = "a performance job for this model version, window and labels exists already"
                return outcome(PerformanceDecision.DUPLICATE, job_name=job_name, message=message, **counts)
            message = "the performance job for this window is being submitted by another request"
            return outcome(PerformanceDecision.DUPLICATE, in_progress=True, message=message, **counts)

        job_request = performance_job_request(
            self._config,
            target,
            export_url=self._export_url,
            labels_url=self._labels_url,
            labels=labels,
            model=model,
            labels_as_of=now,
        )
        try:
            platform = self._platform()
        except BaseException:
            self._claims.release(claim)
            raise
        job_name = self._claims.submit(claim, platform, job_request)
        settled = {
            "job_name": job_name,
            "labels": job_request.inputs["labels"].path,  # type: ignore[union-attr]
            "label_files": list(labels.files),
            "labels_as_of": iso_z(now),
            "predictions": job_request.inputs["predictions"].path,  # type: ignore[union-attr]
            "blobs": blobs,
        }
        record = self._claims.settle(claim, PerformanceDecision.SUBMITTED, settled, overwrite=True).data
        self._store.put(last_key(name, model.version), record)
        summary = {k: v for k, v in record.items() if k not in ("blobs", "label_files")}
        self._store.put(state_keys.PERFORMANCE_LAST, {**summary, "blobs": len(blobs), "label_files": len(labels.files)})
        return outcome(
            PerformanceDecision.SUBMITTED, job_name=job_name, message="performance pipeline submitted", **counts
        )

    # --- steps ----------------------------------------------------------------------------------

    def _model(self, version: str | None) -> ModelInfo | None:
        return requested_model(self._registry(), self._config.model_name, version)

    def _ended_badly(self, job_name: str) -> str | None:
        return ended_badly(self._platform(), job_name)

    def _may_take_over(self, claim: Document) -> bool:
        """A settled claim is taken over when labels arrived since its job, or its job failed (or is gone)."""
        job_name = claim.data.get("job_name")
        if not job_name:
            return False
        if self._current is not None and not set(self._current.files) <= set(claim.data.get("label_files", [])):
            log.info("performance: labels arrived since job %s for this window; submitting again", job_name)
            return True
        try:
            ended = self._ended_badly(str(job_name))
        except TransientError as exc:
            log.warning("performance: cannot read the state of job %s (%s); answering with it", job_name, exc)
            return False
        return ended is not None

    def _last_job_with(self, labels: LabelState, target: DriftTarget) -> dict[str, Any] | None:
        """The model version's last job when it read every label file there is now (and did not fail)."""
        last = self._store.get(last_key(target.model, target.version))
        if last is None or not set(labels.files) <= set(last.data.get("label_files", [])):
            return None
        job_name = last.data.get("job_name")
        if job_name and self._ended_badly(str(job_name)):
            return None
        return last.data
