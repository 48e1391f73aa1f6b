"""Alert-driven retraining: one training pipeline job per fired alert, at most one per cool-down and model.

Action groups deliver at least once, concurrently or hours apart, and retry 408/429/503/504. The
decision for one alert notification goes:

1. rule not in ``RETRAIN_ALERT_RULES`` (when set) → **ignored**; ``Resolved`` → **resolved**;
2. **claim** the alert (its id + ``Fired``): a submission claim (:mod:`shared.services.submission_claim`),
   the state document ``retraining/alerts/<sha256>.json`` created only if absent. Whoever creates it
   decides; every other delivery is a **duplicate** and answers with what the claim holds: the first job's
   name, the suppression, or "in progress" while the first delivery is still submitting. A claim left
   ``submitting`` for :data:`~shared.services.submission_claim.STALE_AFTER` (its process died) may be taken
   over.
3. **cool-down** per model (``retraining/cooldown/<model>.json``, :mod:`shared.services.retraining_cooldown`):
   the claimer reads it and, when no retraining is inside the cool-down, writes a *pending reservation* with an
   ETag condition before submitting. Two different alerts racing both read "free", but only one conditional
   write wins; the loser re-reads, sees the reservation and is **suppressed** (with the time the cool-down ends);
4. **submit** the training pipeline (no waiting) under the job name the claim's token gives
   (:meth:`~shared.services.submission_claim.SubmissionClaims.submit`). On success the claim records the job
   name and the cool-down document the submission time (**submitted**). When the platform refused the job, the
   reservation is withdrawn and the claim released, so that a later delivery (or a replay of the recorded
   alert) can submit once the cause is fixed. When the submission failed transiently the job may exist: the
   claim stays (``unconfirmed``) and so does the reservation; the action group's retry (after the 503) takes
   both over and submits again under the same name, which returns the job if it was created: one job, however
   many answers were lost.

The job also gets the training data's previous version (``previous_training_data``, for the data-quality gate's
drift check; :func:`previous_data_version`), looked up once the alert is known to be fired and **before** it is
claimed: a lookup that fails transiently is a 503 with nothing claimed, so the retry starts afresh, and a claim
taken over from an attempt whose job may exist is never released because of it. No earlier version (or no
asset, or versions that are not whole numbers) → no previous input, and the gate skips its drift check.

Each decision is logged as one JSON line and recorded under ``retraining/decisions/``;
``retraining/last.json`` (shown by ``status``) holds the last decision and the last submission
(:mod:`shared.services.retraining_decisions`).

Plain Python: the ports, no Azure SDK.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.clock import utcnow
from shared.payloads.alerts import CommonAlert
from shared.ports import (
    AssetInput,
    ConflictError,
    DataAssetVersions,
    Document,
    JobPlatform,
    NotFoundError,
    PipelineJobRequest,
    PlatformError,
    StateStore,
    TransientError,
)
from shared.services import state_keys
from shared.services.retraining_cooldown import Cooldown, Reservation, Suppression
from shared.services.retraining_decisions import DecisionLog, RetrainDecision, RetrainOutcome
from shared.services.submission_claim import Claim, SubmissionClaims
from shared.services.timestamps import iso, parse_time
from shared.settings import Settings

log = logging.getLogger(__name__)

TRAINING_PIPELINE_YAML = "ml_assets/pipelines/train_model.yml"
_WHOLE_NUMBER = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class RetrainConfig:
    """The settings retraining reads (SettingsError names a missing or malformed one)."""

    model_name: str
    training_data_asset: str  # name@latest or name:version
    training_compute: str
    cooldown: timedelta
    allowed_rules: tuple[str, ...] = ()  # empty: any rule
    max_trials: int | None = None  # the sweep's budget; None: the pipeline's default

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrainConfig:
        return cls(
            model_name=settings.model_name,
            training_data_asset=settings.training_data_asset,
            training_compute=settings.training_compute,
            cooldown=settings.retrain_cooldown,
            allowed_rules=settings.retrain_alert_rules or (),
            max_trials=settings.training_max_trials,
        )

    def allows(self, alert: CommonAlert) -> bool:
        """Rule names and ARM ids compare case-insensitively, like Azure resource names."""
        if not self.allowed_rules:
            return True
        allowed = {rule.strip().casefold() for rule in self.allowed_rules}
        return alert.alert_rule.casefold() in allowed or (alert.alert_rule_id or "").casefold() in allowed


def alert_claim_key(alert: CommonAlert) -> str:
    digest = hashlib.sha256(f"{alert.alert_id}|{alert.monitor_condition}".encode()).hexdigest()
    return f"{state_keys.RETRAINING_ALERTS_PREFIX}{digest}.json"


def _claim_fields(alert: CommonAlert) -> dict[str, str]:
    return {"alert_id": alert.alert_id, "alert_rule": alert.alert_rule, "monitor_condition": alert.monitor_condition}


def alert_job_tags(alert: CommonAlert, model_name: str) -> dict[str, str]:
    """Tags that trace a job back to the alert that triggered it."""
    tags = {
        "trigger": "alert",
        "alert_id": alert.alert_id,
        "alert_rule": alert.alert_rule,
        "alert_severity": alert.severity,
        "alert_fired_at": alert.fired_at.isoformat(),
        "alert_monitor_condition": alert.monitor_condition,
        "alert_condition_type": alert.condition_type,
        "model_name": model_name,
    }
    if alert.alert_rule_id:
        tags["alert_rule_id"] = alert.alert_rule_id
    return tags


def split_data_asset(asset: str) -> tuple[str, str | None]:
    """``(name, version)`` of ``name:version`` or ``name@latest`` (version None), ``azureml:`` optional."""
    name, sep, version = asset.removeprefix("azureml:").partition(":")
    if sep:
        return name, version
    return name.partition("@")[0], None


def previous_data_version(asset: str, versions: list[str]) -> str | None:
    """The version of ``asset`` (``name@latest`` or ``name:version``) that comes before the one it names: the
    highest of ``versions`` below the latest (``@latest``) or below the pinned version. None when there is no
    earlier one, or when a version is not a whole number (nothing says which of them came first)."""
    pinned = split_data_asset(asset)[1]
    if any(not _WHOLE_NUMBER.fullmatch(v) for v in [*versions, *([] if pinned is None else [pinned])]):
        return None
    numbers = sorted({int(v): v for v in versions}.items())
    if not numbers:
        return None
    below = numbers[-1][0] if pinned is None else int(pinned)
    earlier = [text for number, text in numbers if number < below]
    return earlier[-1] if earlier else None


class RetrainingService:
    """Decides what one alert notification does. One instance per request is fine (it holds no state)."""

    def __init__(
        self,
        store: Callable[[], StateStore],
        config: RetrainConfig,
        platform: Callable[[], JobPlatform],
        data_versions: Callable[[], DataAssetVersions],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``store``, ``platform`` and ``data_versions`` are resolved on first use (building them may fail: that
        is a decision too)."""
        self._store_provider = store
        self._resolved_store: StateStore | None = None
        self._config = config
        self._platform = platform
        self._data_versions = data_versions
        self._clock = clock

    @property
    def _store(self) -> StateStore:
        if self._resolved_store is None:
            self._resolved_store = self._store_provider()
        return self._resolved_store

    @property
    def _decisions(self) -> DecisionLog:
        return DecisionLog(self._store, self._clock)

    @property
    def _claims(self) -> SubmissionClaims:
        return SubmissionClaims(self._store, label="retrain_on_alert", clock=self._clock)

    @property
    def _cooldown(self) -> Cooldown:
        return Cooldown(self._store, self._config.model_name, self._config.cooldown, self._clock)

    def training_request(self, alert: CommonAlert, previous_version: str | None) -> PipelineJobRequest:
        """The training pipeline job for ``alert``; with ``previous_version`` (of the training data asset) the
        data-quality gate compares the data with that version."""
        c = self._config
        inputs: dict[str, Any] = {
            "training_data": AssetInput(type="uri_folder", path=f"azureml:{c.training_data_asset}"),
            "training_data_asset": c.training_data_asset,
            "model_name": c.model_name,
        }
        if c.max_trials is not None:
            inputs["max_total_trials"] = c.max_trials
        if previous_version is not None:
            name = split_data_asset(c.training_data_asset)[0]
            inputs["previous_training_data"] = AssetInput(type="uri_folder", path=f"azureml:{name}:{previous_version}")
        return PipelineJobRequest(
            pipeline_yaml=TRAINING_PIPELINE_YAML,
            inputs=inputs,
            experiment_name=f"{c.model_name}-training",
            display_name=f"retrain {c.model_name} on alert {alert.alert_rule[:100]}",
            tags=alert_job_tags(alert, c.model_name),
            compute=c.training_compute,
        )

    def handle(self, alert: CommonAlert) -> RetrainOutcome:
        """Decide, record and return the outcome. Raises TransientError (answer 503: the action group
        retries), PlatformError (the platform refused the job) or SettingsError (misconfiguration)."""
        model = self._config.model_name
        try:
            self._store  # noqa: B018 - resolve it: an unreachable state store fails here, before any decision
        except PlatformError as exc:
            DecisionLog(None, self._clock).decided(self._failure(alert, exc, stage="state store"))
            raise
        if not self._config.allows(alert):
            reason = f"alert rule {alert.alert_rule!r} is not in RETRAIN_ALERT_RULES"
            return self._decisions.decided(RetrainOutcome(RetrainDecision.IGNORED, reason, self._clock(), alert, model))
        if not alert.fired:
            reason = "the alert resolved; nothing to retrain"
            return self._decisions.decided(
                RetrainOutcome(RetrainDecision.RESOLVED, reason, self._clock(), alert, model)
            )
        platform = self._platform()  # a configuration error surfaces here, before anything is claimed
        previous = self._previous_version(alert)
        return self._on_fired(alert, platform, previous)

    def _previous_version(self, alert: CommonAlert) -> str | None:
        """The training data's previous version (:func:`previous_data_version`), or None. Any failure but
        NotFoundError is raised, recorded as a failure before anything was claimed."""
        asset = self._config.training_data_asset
        name = split_data_asset(asset)[0]
        try:
            versions = self._data_versions().versions(name)
        except NotFoundError:
            versions = []
        except PlatformError as exc:
            self._decisions.decided(self._failure(alert, exc, stage="training data versions"), required=False)
            raise
        previous = previous_data_version(asset, versions)
        if previous is None:
            log.info(
                "retrain_on_alert: no version of data asset %s before %s among %s; the data-quality gate "
                "skips its drift check",
                name,
                asset,
                sorted(versions) or "none",
            )
        return previous

    # fired
    def _on_fired(self, alert: CommonAlert, platform: JobPlatform, previous: str | None) -> RetrainOutcome:
        model = self._config.model_name
        claim: Claim | None = None
        try:
            taken = self._claims.take(alert_claim_key(alert), _claim_fields(alert))
            if isinstance(taken, Document):
                return self._decisions.decided(self._duplicate(alert, taken), required=False)
            claim = taken
            reservation = self._cooldown.reserve(alert)
            if isinstance(reservation, Suppression):
                fields = {"cooldown_until": iso(reservation.until), "reason": reservation.reason}
                self._settle(claim, alert, RetrainDecision.SUPPRESSED, fields)
                suppressed = RetrainOutcome(
                    RetrainDecision.SUPPRESSED,
                    reason=reservation.reason,
                    at=self._clock(),
                    alert=alert,
                    model=model,
                    cooldown_until=reservation.until,
                )
                return self._decisions.decided(suppressed, required=False)
        except Exception as exc:
            if claim is not None:
                self._claims.release(claim)
            if isinstance(exc, PlatformError):
                # Logged, not recorded: the state store just failed, a record would time out too.
                self._decisions.decided(self._failure(alert, exc, stage="state store"), required=False, record=False)
            raise
        job_name = self._submit(alert, platform, claim, reservation, previous)

        submitted_at = self._clock()
        until = submitted_at + self._config.cooldown
        self._after_submission(
            claim=claim, alert=alert, reservation=reservation, job_name=job_name, submitted_at=submitted_at
        )
        reason = f"training pipeline submitted; the cool-down of model {model} runs until {iso(until)}"
        submitted = RetrainOutcome(
            RetrainDecision.SUBMITTED, reason, submitted_at, alert, model, job_name=job_name, cooldown_until=until
        )
        return self._decisions.decided(submitted, required=False)

    def _submit(
        self, alert: CommonAlert, platform: JobPlatform, claim: Claim, reservation: Reservation, previous: str | None
    ) -> str:
        """Submit under the claim (:meth:`SubmissionClaims.submit`). When the platform refused, the claim is
        released and the reservation withdrawn. When the job may exist (a transient failure) both stay: the
        action group's retry of this alert takes them over and submits again under the same job name, and no
        other alert retrains meanwhile."""
        try:
            return self._claims.submit(claim, platform, self.training_request(alert, previous))
        except Exception as exc:
            refused = isinstance(exc, PlatformError) and not isinstance(exc, TransientError)
            if refused:
                self._cooldown.withdraw(reservation)
            if isinstance(exc, PlatformError):
                self._decisions.decided(self._failure(alert, exc, stage="submit"), required=False)
            raise

    def _failure(self, alert: CommonAlert, exc: PlatformError, *, stage: str) -> RetrainOutcome:
        transient = isinstance(exc, TransientError)
        if transient and stage == "submit":
            outcome = "the job may exist; a retry submits it again under the same name, never a second job"
        else:
            outcome = "nothing submitted"
        reason = f"{'transient' if transient else 'permanent'} failure ({stage}), {outcome}: {exc}"
        return RetrainOutcome(
            RetrainDecision.FAILED,
            reason,
            self._clock(),
            alert,
            self._config.model_name,
            extra={"transient": transient, "stage": stage},
        )

    def _duplicate(self, alert: CommonAlert, claim: Document) -> RetrainOutcome:
        data, now, model = claim.data, self._clock(), self._config.model_name
        first = data.get("status")
        fields: dict[str, Any]
        if first == RetrainDecision.SUBMITTED:
            job = data.get("job_name")
            reason = f"already handled: job {job} was submitted for this alert at {data.get('settled_at')}"
            fields = {"job_name": job}
        elif first == RetrainDecision.SUPPRESSED:
            reason = f"already handled: suppressed at {data.get('settled_at')} ({data.get('reason')})"
            fields = {"cooldown_until": parse_time(data.get("cooldown_until"))}
        else:
            since = data.get("claimed_at")
            reason = f"another delivery of this alert has been submitting the training job since {since}"
            return RetrainOutcome(RetrainDecision.DUPLICATE, reason, now, alert, model, in_progress=True)
        fields["first_decision"] = RetrainDecision(first)
        return RetrainOutcome(RetrainDecision.DUPLICATE, reason, now, alert, model, **fields)

    def _settle(self, claim: Claim, alert: CommonAlert, status: str, fields: Mapping[str, Any]) -> None:
        try:
            self._claims.settle(claim, status, fields)
        except ConflictError as exc:  # taken over as stale meanwhile (submission_claim.STALE_AFTER)
            raise TransientError(f"the claim on alert {alert.alert_id} changed under this delivery") from exc

    def _after_submission(
        self,
        *,
        claim: Claim,
        alert: CommonAlert,
        reservation: Reservation,
        job_name: str,
        submitted_at: datetime,
    ) -> None:
        """Record the job on the claim and the cool-down. The job exists whatever happens here: failures are
        logged, not raised (a 503 now would make the action group retry what is already done)."""
        try:
            self._settle(claim, alert, RetrainDecision.SUBMITTED, {"job_name": job_name})
        except (PlatformError, ConflictError) as exc:
            log.error(
                "retrain_on_alert: job %s was submitted for alert %s but the claim could not record it: %s",
                job_name,
                alert.alert_id,
                exc,
            )
        try:
            self._cooldown.confirm(alert, reservation, job_name, submitted_at)
        except (PlatformError, ConflictError) as exc:
            log.error("retrain_on_alert: job %s was submitted but the cool-down could not record it: %s", job_name, exc)
