"""Drift job submission: which model version, which data, whether to submit, and at most once per window.

Used by ``submit_drift_job`` (timer) and ``submit_drift_job_http`` (``POST /api/drift/jobs``):

1. **window** ``[start, end)``: the request's, else the last ``DRIFT_WINDOW`` up to the current whole hour
   (:mod:`shared.services.drift_job`). An end in the future, or not after the start, is a
   :class:`PayloadError`;
2. **model version**: the request's (unknown → PayloadError on ``model_version``), else the latest
   registered version of ``MODEL_NAME``; its **training data** from the model's tags (none → ``no_reference``);
3. **partitions**: the exported blobs of that model version whose ``hour=`` partition overlaps the window, and
   the export's quarantine files of the window. None of either → no job (``no_data``);
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
   overridden (:func:`~shared.services.drift_job.drift_job_request`): ``reference_data`` (the training data),
   ``target_data`` (the ``model=/version=`` folder of the export container; the component keeps the window's
   ``date=/hour=`` partitions and rows), ``quarantine_data`` (the export's quarantine, when the window has
   some: for the data quality), ``prediction_reference`` (the model version itself, when its tags say it carries
   reference scores), the window, the drift settings, under the job name the claim's token
   gives (:meth:`~shared.services.submission_claim.SubmissionClaims.submit`). A refused submission releases the
   claim so a retry can submit; one that failed transiently (the job may exist) leaves it ``unconfirmed``, and
   the retry submits again under the same name, which returns the job if it was created. Then the job
   document, the model version's ``last.json`` and ``drift/last.json`` (shown by ``status``) are written.

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
    Document,
    JobPlatform,
    ModelInfo,
    ModelRegistry,
    StateStore,
    TransientError,
)
from shared.services import state_keys
from shared.services.drift_job import (
    TAG_DATA,
    TAG_DATA_NAME,
    TAG_DATA_VERSION,
    DriftConfig,
    DriftInputs,
    DriftTarget,
    drift_job_request,
    partition_blobs,
    prediction_reference_path,
    quarantine_blobs,
    reference_path,
    resolve_window,
)
from shared.services.submission_claim import Claim, SubmissionClaims, Vacancy
from shared.services.timestamps import iso_z, parse_iso, stamp
from shared.services.window_jobs import WindowJobOutcome, ended_badly, logged, requested_model

log = logging.getLogger(__name__)


class DriftDecision(StrEnum):
    SUBMITTED = "submitted"  # a drift job was submitted
    DUPLICATE = "duplicate"  # a job for this model version and window exists already, or is being submitted
    NO_DATA = "no_data"  # no exported inference data in the window
    NO_NEW_DATA = "no_new_data"  # the last job compared this data already
    NO_MODEL = "no_model"  # no registered version of the model
    NO_REFERENCE = "no_reference"  # the model has no training-data tag


# Decisions that answer the request (logged at INFO); the others are a misconfiguration (ERROR).
_ANSWERED: Final = frozenset(
    {DriftDecision.SUBMITTED, DriftDecision.DUPLICATE, DriftDecision.NO_DATA, DriftDecision.NO_NEW_DATA}
)


@dataclass(frozen=True)
class DriftOutcome(WindowJobOutcome):
    """What one call decided; :meth:`body` is the HTTP answer and the logged record."""

    decision: DriftDecision


def job_key(model: str, version: str, start: datetime, end: datetime) -> str:
    return f"{state_keys.DRIFT_JOBS_PREFIX}{model}/{version}/{stamp(start)}-{stamp(end)}.json"


def _key(target: DriftTarget) -> str:
    return job_key(target.model, target.version, target.start, target.end)


def last_key(model: str, version: str) -> str:
    return f"{state_keys.DRIFT_JOBS_PREFIX}{model}/{version}/last.json"


def _outcome(target: DriftTarget, decision: DriftDecision, **kwargs: Any) -> DriftOutcome:
    window = (target.start, target.end)
    return _logged(DriftOutcome(decision, target.model, target.version, *window, target.trigger, **kwargs))


def _logged(outcome: DriftOutcome) -> DriftOutcome:
    return logged(outcome, "drift", _ANSWERED, log)


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
        start, end = resolve_window(request, self._clock(), self._config.window)
        model_name = self._config.model_name
        model = self._model(request.model_version)
        if model is None:
            message = f"no registered version of model {model_name!r}"
            return _logged(DriftOutcome(DriftDecision.NO_MODEL, model_name, None, start, end, trigger, message=message))
        target = DriftTarget(model_name, model.version, start, end, trigger)
        vacancy = self._claims.inspect(_key(target))
        if isinstance(vacancy, Document):
            return self._duplicate(vacancy, target)
        inputs = self._inputs(model, target)
        if isinstance(inputs, DriftOutcome):
            return inputs
        return self._claim_and_submit(target, vacancy, inputs)

    def _inputs(self, model: ModelInfo, target: DriftTarget) -> DriftInputs | DriftOutcome:
        """The reference data, the exported blobs and quarantine files, the reference scores; or why there is
        nothing to submit. Quarantine files alone make a job: the data quality of the window is then all it
        reports (the component skips drift without rows)."""
        name = f"{target.model}:{target.version}"
        reference = reference_path(model)
        if reference is None:
            return _outcome(
                target,
                DriftDecision.NO_REFERENCE,
                message=(
                    f"model {name} has no training-data tag ({TAG_DATA_NAME} + {TAG_DATA_VERSION}, "
                    f"or {TAG_DATA}); cannot tell what to compare with"
                ),
            )
        blobs = partition_blobs(self._export, self._config.export_prefix, target)
        quarantine = quarantine_blobs(self._export, self._config.quarantine_prefix, target)
        if not blobs and not quarantine:
            window = f"[{iso_z(target.start)}, {iso_z(target.end)})"
            return _outcome(target, DriftDecision.NO_DATA, message=f"no exported inference data for {name} in {window}")
        inputs = DriftInputs(reference, blobs, quarantine, prediction_reference_path(model))
        blobs = inputs.all_blobs
        covered_by = self._covered_by_last_job(target, blobs)
        if covered_by is not None:
            return _outcome(
                target,
                DriftDecision.NO_NEW_DATA,
                job_name=covered_by.get("job_name"),
                blobs=len(blobs),
                message=(
                    f"no new exported data since drift job {covered_by.get('job_name')} "
                    f"(window [{covered_by.get('window_start')}, {covered_by.get('window_end')})): nothing submitted"
                ),
            )
        return inputs

    def _claim_and_submit(self, target: DriftTarget, vacancy: Vacancy, inputs: DriftInputs) -> DriftOutcome:
        fields = {
            "model_name": target.model,
            "model_version": target.version,
            "window_start": iso_z(target.start),
            "window_end": iso_z(target.end),
            "trigger": target.trigger,
        }
        claim = self._claims.acquire(_key(target), fields, vacancy)
        if claim is None:
            found = self._claims.current(_key(target))
            if found is None:  # released by a failed first submission in between: let the caller retry
                message = "another submission is in progress"
                return _outcome(target, DriftDecision.DUPLICATE, in_progress=True, message=message)
            return self._duplicate(found, target)

        job_request = drift_job_request(self._config, self._export_url, target, inputs)
        try:
            platform = self._platform()
        except BaseException:
            self._claims.release(claim)
            raise
        job_name = self._claims.submit(claim, platform, job_request)

        blobs = inputs.all_blobs
        settled = {
            "job_name": job_name,
            "reference_data": inputs.reference,
            "target_data": job_request.inputs["target_data"].path,
            "prediction_reference": inputs.prediction_reference,
            "quarantine_files": len(inputs.quarantine),
            "blobs": blobs,
        }
        self._record(self._claims.settle(claim, DriftDecision.SUBMITTED, settled, overwrite=True))
        message = "drift pipeline submitted"
        return _outcome(target, DriftDecision.SUBMITTED, job_name=job_name, blobs=len(blobs), message=message)

    # --- steps ----------------------------------------------------------------------------------

    def _model(self, version: str | None) -> ModelInfo | None:
        return requested_model(self._registry(), self._config.model_name, version)

    def _job_ended_badly(self, claim: Document) -> bool:
        """Whether a settled claim may be taken over: its job ended ``Failed``/``Canceled`` (or is gone), and
        running the window again is what the caller wants. A platform that cannot answer right now leaves the
        first job in place (duplicate)."""
        job_name = claim.data.get("job_name")
        if not job_name:
            return False
        try:
            ended = self._ended_badly(str(job_name))
        except TransientError as exc:
            log.warning("drift: cannot read the state of job %s (%s); answering with it", job_name, exc)
            return False
        if ended:
            log.info("drift: job %s for this window ended %s; submitting again", job_name, ended)
        return ended is not None

    def _ended_badly(self, job_name: str) -> str | None:
        return ended_badly(self._platform(), job_name)

    def _duplicate(self, existing: Document, target: DriftTarget) -> DriftOutcome:
        job_name = existing.data.get("job_name")
        if job_name:
            return _outcome(
                target,
                DriftDecision.DUPLICATE,
                job_name=job_name,
                blobs=len(existing.data.get("blobs", [])),
                message="a drift job for this model version and window exists already",
            )
        return _outcome(
            target,
            DriftDecision.DUPLICATE,
            in_progress=True,
            message="the drift job for this model version and window is being submitted by another request",
        )

    def _covered_by_last_job(self, target: DriftTarget, blobs: list[str]) -> dict[str, Any] | None:
        """The last job's record when it already compared this data: the same blobs or a superset, *and* a
        window that contains the target's (another window over the same files selects other rows)."""
        last = self._store.get(last_key(target.model, target.version))
        if last is None or not set(blobs) <= set(last.data.get("blobs", [])):
            return None
        try:
            last_start = parse_iso(str(last.data["window_start"]))
            last_end = parse_iso(str(last.data["window_end"]))
        except (KeyError, ValueError):
            return None
        if not (last_start <= target.start and target.end <= last_end):
            return None
        job_name = last.data.get("job_name")
        ended = self._ended_badly(str(job_name)) if job_name else None
        if ended:
            name = f"{target.model}:{target.version}"
            log.info("drift: last job %s of %s ended %s; its data counts as new", job_name, name, ended)
            return None
        return last.data

    def _record(self, claim: Claim) -> None:
        """The model version's last job, and drift/last.json (status); the job document is the settled claim."""
        record = claim.data
        self._store.put(last_key(record["model_name"], record["model_version"]), record)
        summary = {k: v for k, v in record.items() if k != "blobs"}
        self._store.put(state_keys.DRIFT_LAST, {**summary, "blobs": len(record["blobs"])})
