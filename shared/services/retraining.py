"""Alert-driven retraining: one training pipeline job per fired alert, at most one per cool-down and model.

Action groups deliver at least once, concurrently or hours apart, and retry 408/429/503/504. The
decision for one alert notification goes:

1. rule not in ``RETRAIN_ALERT_RULES`` (when set) → **ignored**; ``Resolved`` → **resolved**;
2. **claim** the alert (its id + ``Fired``): a submission claim (:mod:`shared.services.submission_claim`),
   the state document ``retraining/alerts/<sha256>.json`` created only if absent. Whoever creates it
   decides; every other delivery is a **duplicate** and answers with what the claim holds: the first job's
   name, the suppression, or "in progress" while the first delivery is still submitting. A claim left
   ``submitting`` for :data:`~shared.services.submission_claim.STALE_AFTER` (its process died) may be taken
   over. (It is a document written with ``create``/``replace`` rather than ``StateStore.claim``: the same
   create-if-absent guarantee, but the port lets a claimer update it with the job name.)
3. **cool-down** per model (``retraining/cooldown/<model>.json``): the claimer reads it and, when no
   retraining is inside the cool-down, writes a *pending reservation* with an ETag condition before
   submitting. Two different alerts racing both read "free", but only one conditional write wins;
   the loser re-reads, sees the reservation and is **suppressed** (with the time the cool-down ends);
4. **submit** the training pipeline (no waiting). On success the claim records the job name and the
   cool-down document the submission time (**submitted**). On failure the reservation is withdrawn
   and the claim released, so the action group's retry (after the 503) can submit.

Each decision is logged as one JSON line and recorded under ``retraining/decisions/``;
``retraining/last.json`` (shown by ``status``) holds the last decision and the last submission.

Plain Python: the ports, no Azure SDK.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.clock import utcnow
from shared.payloads import PayloadError
from shared.payloads.alerts import CommonAlert, PayloadTooLargeError, peek_alert_identity
from shared.ports import (
    AssetInput,
    ConflictError,
    Document,
    JobPlatform,
    PipelineJobRequest,
    PlatformError,
    StateStore,
    TransientError,
)
from shared.services import state_keys
from shared.services.state_documents import CAS_ATTEMPTS, write_back
from shared.services.submission_claim import STALE_AFTER, Claim, SubmissionClaims
from shared.services.timestamps import iso, parse_time
from shared.settings import Settings
from shared.settings_parsing import SettingsError, format_duration

log = logging.getLogger(__name__)

TRAINING_PIPELINE_YAML = "ml_assets/pipelines/train_model.yml"


SUBMITTED = "submitted"
DUPLICATE = "duplicate"
SUPPRESSED = "suppressed"
RESOLVED = "resolved"
IGNORED = "ignored"
REJECTED = "rejected"
FAILED = "failed"


# --- configuration and outcome -------------------------------------------------------------------


@dataclass(frozen=True)
class RetrainConfig:
    """The settings retraining reads (SettingsError names a missing or malformed one)."""

    model_name: str
    training_data_asset: str  # name@latest or name:version
    training_compute: str
    cooldown: timedelta
    allowed_rules: tuple[str, ...] = ()  # empty: any rule

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrainConfig:
        return cls(
            model_name=settings.model_name,
            training_data_asset=settings.training_data_asset,
            training_compute=settings.training_compute,
            cooldown=settings.retrain_cooldown,
            allowed_rules=settings.retrain_alert_rules or (),
        )

    def allows(self, alert: CommonAlert) -> bool:
        """Rule names and ARM ids compare case-insensitively, like Azure resource names."""
        if not self.allowed_rules:
            return True
        allowed = {rule.strip().casefold() for rule in self.allowed_rules}
        return alert.alert_rule.casefold() in allowed or (alert.alert_rule_id or "").casefold() in allowed


@dataclass(frozen=True)
class Outcome:
    """One decision about one delivery."""

    decision: str
    reason: str
    at: datetime
    alert: CommonAlert | None = None
    model: str | None = None
    job_name: str | None = None
    cooldown_until: datetime | None = None
    in_progress: bool = False  # a duplicate whose first delivery is still submitting
    first_decision: str | None = None  # for a duplicate: what the first delivery decided
    http_status: int | None = None  # for a rejection: 400 or 413
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def alert_id(self) -> str | None:
        return self.alert.alert_id if self.alert else self.extra.get("alert_id")

    @property
    def alert_rule(self) -> str | None:
        return self.alert.alert_rule if self.alert else self.extra.get("alert_rule")

    def log_fields(self) -> dict[str, Any]:
        """The structured log line: decision, alert, rule, job, reason (and what else applies)."""
        fields: dict[str, Any] = {
            "event": "retrain_on_alert",
            "decision": self.decision,
            "alert_id": self.alert_id,
            "alert_rule": self.alert_rule,
            "job": self.job_name,
            "reason": self.reason,
        }
        if self.alert:
            fields.update(monitor_condition=self.alert.monitor_condition, severity=self.alert.severity)
        optional = {
            "model": self.model,
            "cooldown_until": iso(self.cooldown_until),
            "in_progress": self.in_progress or None,
            "first_decision": self.first_decision,
            "http_status": self.http_status,
            "field": self.extra.get("field"),
        }
        fields.update({k: v for k, v in optional.items() if v is not None})
        return fields

    def record(self) -> dict[str, Any]:
        """The state-store record of the decision."""
        record = {**self.log_fields(), "at": iso(self.at)}
        record.pop("event")
        if self.alert:
            record["alert"] = self.alert.summary()
        record.update({k: v for k, v in self.extra.items() if k not in record})
        return record


# --- decisions: log line and state record ---------------------------------------------------------


class DecisionLog:
    """Logs each decision as one JSON line and records it in the state store."""

    def __init__(self, store: StateStore | None, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._clock = clock

    def decided(self, outcome: Outcome, *, required: bool = True, record: bool = True) -> Outcome:
        """Log and (unless ``record`` is false) record ``outcome``. A failed write propagates when ``required``
        (the caller answers 503 and the action group retries); otherwise it is logged and the outcome stands."""
        level = logging.WARNING if outcome.decision in (REJECTED, FAILED) else logging.INFO
        log.log(level, json.dumps(outcome.log_fields(), sort_keys=True, default=str))
        if self._store is None or not record:
            return outcome
        try:
            self._write(self._store, outcome)
        except (PlatformError, ConflictError) as exc:
            if required:
                raise
            log.error(
                "retrain_on_alert: could not record decision %s for alert %s: %s",
                outcome.decision,
                outcome.alert_id,
                exc,
            )
        return outcome

    def _write(self, store: StateStore, outcome: Outcome) -> None:
        record = outcome.record()
        stamp = outcome.at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        store.put(
            f"{state_keys.RETRAINING_DECISIONS_PREFIX}{stamp}-{outcome.decision}-{uuid.uuid4().hex[:8]}.json", record
        )
        for _ in range(CAS_ATTEMPTS):
            doc = store.get(state_keys.RETRAINING_LAST)
            data = dict(doc.data) if doc else {}
            data["last_decision"] = record
            if outcome.decision == SUBMITTED:
                data["last_submission"] = record
            try:
                write_back(store, state_keys.RETRAINING_LAST, data, doc.etag if doc else None)
                return
            except ConflictError:
                continue
        log.warning(
            "retrain_on_alert: %s kept changing; the decision is recorded only under %s",
            state_keys.RETRAINING_LAST,
            state_keys.RETRAINING_DECISIONS_PREFIX,
        )


def reject_payload(
    error: PayloadError,
    body: bytes,
    store: Callable[[], StateStore] | None,
    clock: Callable[[], datetime] = utcnow,
) -> Outcome:
    """Log and record (best effort) a body that failed validation; 413 if too large, else 400.

    The body (up to the 256 KB limit) is kept in the record so that a wrongly rejected alert can be
    replayed once the cause is fixed: nothing is lost.
    """
    status = 413 if isinstance(error, PayloadTooLargeError) else 400
    alert_id, rule = peek_alert_identity(body)
    extra: dict[str, Any] = {"alert_id": alert_id, "alert_rule": rule, "field": error.field, "body_bytes": len(body)}
    if status == 400:
        try:
            extra["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            extra["body_base64"] = base64.b64encode(body).decode("ascii")
    outcome = Outcome(REJECTED, str(error), clock(), http_status=status, extra=extra)
    resolved_store: StateStore | None = None
    if store is not None:
        try:
            resolved_store = store()
        except (SettingsError, PlatformError) as exc:
            log.error("retrain_on_alert: cannot record the rejection (state store unavailable): %s", exc)
    return DecisionLog(resolved_store, clock).decided(outcome, required=False)


# --- the service ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reservation:
    key: str
    token: str


@dataclass(frozen=True)
class _Suppression:
    until: datetime
    reason: str


def alert_claim_key(alert: CommonAlert) -> str:
    digest = hashlib.sha256(f"{alert.alert_id}|{alert.monitor_condition}".encode()).hexdigest()
    return f"{state_keys.RETRAINING_ALERTS_PREFIX}{digest}.json"


def cooldown_key(model_name: str) -> str:
    return f"{state_keys.RETRAINING_COOLDOWN_PREFIX}{model_name}.json"


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


class RetrainingService:
    """Decides what one alert notification does. One instance per request is fine (it holds no state)."""

    def __init__(
        self,
        store: Callable[[], StateStore],
        config: RetrainConfig,
        platform: Callable[[], JobPlatform],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``store`` and ``platform`` are resolved on first use (building them may fail: that is a decision too)."""
        self._store_provider = store
        self._resolved_store: StateStore | None = None
        self._config = config
        self._platform = platform
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

    def training_request(self, alert: CommonAlert) -> PipelineJobRequest:
        c = self._config
        return PipelineJobRequest(
            pipeline_yaml=TRAINING_PIPELINE_YAML,
            inputs={
                "training_data": AssetInput(type="uri_folder", path=f"azureml:{c.training_data_asset}"),
                "training_data_asset": c.training_data_asset,
                "model_name": c.model_name,
            },
            experiment_name=f"{c.model_name}-training",
            display_name=f"retrain {c.model_name} on alert {alert.alert_rule[:100]}",
            tags=alert_job_tags(alert, c.model_name),
            compute=c.training_compute,
        )

    def handle(self, alert: CommonAlert) -> Outcome:
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
            return self._decisions.decided(Outcome(IGNORED, reason, self._clock(), alert, model))
        if not alert.fired:
            reason = "the alert resolved; nothing to retrain"
            return self._decisions.decided(Outcome(RESOLVED, reason, self._clock(), alert, model))
        platform = self._platform()  # a configuration error surfaces here, before anything is claimed
        return self._on_fired(alert, platform)

    # fired
    def _on_fired(self, alert: CommonAlert, platform: JobPlatform) -> Outcome:
        model = self._config.model_name
        claim: Claim | None = None
        submitting = False
        try:
            taken = self._claims.take(alert_claim_key(alert), _claim_fields(alert))
            if isinstance(taken, Document):
                return self._decisions.decided(self._duplicate(alert, taken), required=False)
            claim = taken
            reservation = self._reserve(alert)
            if isinstance(reservation, _Suppression):
                fields = {"cooldown_until": iso(reservation.until), "reason": reservation.reason}
                self._settle(claim, alert, SUPPRESSED, fields)
                suppressed = Outcome(
                    SUPPRESSED,
                    reason=reservation.reason,
                    at=self._clock(),
                    alert=alert,
                    model=model,
                    cooldown_until=reservation.until,
                )
                return self._decisions.decided(suppressed, required=False)
            try:
                submitting = True
                job_name = platform.submit_pipeline(self.training_request(alert))
            except Exception:
                self._cancel_reservation(reservation)
                raise
        except Exception as exc:
            if claim is not None:
                self._claims.release(claim)
            if isinstance(exc, PlatformError):
                failed = self._failure(alert, exc, stage="submit" if submitting else "state store")
                # Log it always; record it only when the state store worked (else the write just times out too).
                self._decisions.decided(failed, required=False, record=submitting)
            raise

        submitted_at = self._clock()
        until = submitted_at + self._config.cooldown
        self._after_submission(
            claim=claim, alert=alert, reservation=reservation, job_name=job_name, submitted_at=submitted_at
        )
        reason = f"training pipeline submitted; the cool-down of model {model} runs until {iso(until)}"
        submitted = Outcome(SUBMITTED, reason, submitted_at, alert, model, job_name=job_name, cooldown_until=until)
        return self._decisions.decided(submitted, required=False)

    def _failure(self, alert: CommonAlert, exc: PlatformError, *, stage: str) -> Outcome:
        transient = isinstance(exc, TransientError)
        reason = f"{'transient' if transient else 'permanent'} failure ({stage}), nothing submitted: {exc}"
        return Outcome(
            FAILED,
            reason,
            self._clock(),
            alert,
            self._config.model_name,
            extra={"transient": transient, "stage": stage},
        )

    def _duplicate(self, alert: CommonAlert, claim: Document) -> Outcome:
        data, now, model = claim.data, self._clock(), self._config.model_name
        status = data.get("status")
        if status == SUBMITTED:
            job = data.get("job_name")
            reason = f"already handled: job {job} was submitted for this alert at {data.get('settled_at')}"
            return Outcome(DUPLICATE, reason, now, alert, model, job_name=job, first_decision=SUBMITTED)
        if status == SUPPRESSED:
            reason = f"already handled: suppressed at {data.get('settled_at')} ({data.get('reason')})"
            until = parse_time(data.get("cooldown_until"))
            return Outcome(DUPLICATE, reason, now, alert, model, cooldown_until=until, first_decision=SUPPRESSED)
        reason = f"another delivery of this alert has been submitting the training job since {data.get('claimed_at')}"
        return Outcome(DUPLICATE, reason, now, alert, model, in_progress=True)

    def _settle(self, claim: Claim, alert: CommonAlert, status: str, fields: Mapping[str, Any]) -> None:
        try:
            self._claims.settle(claim, status, fields)
        except ConflictError as exc:  # taken over as stale meanwhile (see STALE_AFTER)
            raise TransientError(f"the claim on alert {alert.alert_id} changed under this delivery") from exc

    # cool-down
    def _reserve(self, alert: CommonAlert) -> _Reservation | _Suppression:
        model, cooldown = self._config.model_name, self._config.cooldown
        key = cooldown_key(model)
        for _ in range(CAS_ATTEMPTS):
            now = self._clock()
            doc = self._store.get(key)
            data = dict(doc.data) if doc else {"model": model}
            last = parse_time(data.get("last_submitted_at"))
            if last is not None and last + cooldown > now:
                reason = (
                    f"inside the cool-down of model {model} ({_duration(cooldown)}): job {data.get('last_job')} "
                    f"was submitted at {iso(last)} for alert {data.get('last_alert_id')}"
                )
                return _Suppression(last + cooldown, reason)
            pending = data.get("pending")
            if isinstance(pending, dict) and pending.get("alert_id") != alert.alert_id:
                reserved_at = parse_time(pending.get("reserved_at"))
                if reserved_at is not None and now - reserved_at < STALE_AFTER and reserved_at + cooldown > now:
                    reason = (
                        f"inside the cool-down of model {model} ({_duration(cooldown)}): a retraining for alert "
                        f"{pending.get('alert_id')} is being submitted since {iso(reserved_at)}"
                    )
                    return _Suppression(reserved_at + cooldown, reason)
            token = uuid.uuid4().hex
            data["pending"] = {
                "alert_id": alert.alert_id,
                "alert_rule": alert.alert_rule,
                "reserved_at": iso(now),
                "token": token,
            }
            try:
                write_back(self._store, key, data, doc.etag if doc else None)
            except ConflictError:
                continue  # another delivery wrote first: look again
            return _Reservation(key, token)
        raise TransientError(f"cool-down document {key} kept changing under concurrent deliveries")

    def _cancel_reservation(self, reservation: _Reservation) -> None:
        try:
            for _ in range(CAS_ATTEMPTS):
                doc = self._store.get(reservation.key)
                pending = doc.data.get("pending") if doc else None
                if doc is None or not isinstance(pending, dict) or pending.get("token") != reservation.token:
                    return
                data = {k: v for k, v in doc.data.items() if k != "pending"}
                try:
                    self._store.replace(reservation.key, data, doc.etag)
                    return
                except ConflictError:
                    continue
        except (PlatformError, ConflictError) as exc:
            log.error(
                "retrain_on_alert: could not withdraw the cool-down reservation (it lapses after %s): %s",
                STALE_AFTER,
                exc,
            )

    def _after_submission(
        self,
        *,
        claim: Claim,
        alert: CommonAlert,
        reservation: _Reservation,
        job_name: str,
        submitted_at: datetime,
    ) -> None:
        """Record the job on the claim and the cool-down. The job exists whatever happens here: failures are
        logged, not raised (a 503 now would make the action group retry what is already done)."""
        try:
            self._settle(claim, alert, SUBMITTED, {"job_name": job_name})
        except (PlatformError, ConflictError) as exc:
            log.error(
                "retrain_on_alert: job %s was submitted for alert %s but the claim could not record it: %s",
                job_name,
                alert.alert_id,
                exc,
            )
        try:
            self._confirm_cooldown(alert, reservation, job_name, submitted_at)
        except (PlatformError, ConflictError) as exc:
            log.error("retrain_on_alert: job %s was submitted but the cool-down could not record it: %s", job_name, exc)

    def _confirm_cooldown(
        self, alert: CommonAlert, reservation: _Reservation, job_name: str, submitted_at: datetime
    ) -> None:
        for _ in range(CAS_ATTEMPTS):
            doc = self._store.get(reservation.key)
            data = dict(doc.data) if doc else {"model": self._config.model_name}
            previous = parse_time(data.get("last_submitted_at"))
            if previous is None or submitted_at >= previous:
                data.update(
                    last_job=job_name,
                    last_alert_id=alert.alert_id,
                    last_alert_rule=alert.alert_rule,
                    last_submitted_at=iso(submitted_at),
                    cooldown_until=iso(submitted_at + self._config.cooldown),
                )
            pending = data.get("pending")
            if isinstance(pending, dict) and pending.get("token") == reservation.token:
                data.pop("pending")
            try:
                write_back(self._store, reservation.key, data, doc.etag if doc else None)
                return
            except ConflictError:
                continue
        raise TransientError(f"cool-down document {reservation.key} kept changing")


def _duration(value: timedelta) -> str:
    return format_duration(value)
