"""Retraining's decisions: what one alert delivery came to, its log line and its state-store record.

Every delivery ends in one :class:`RetrainDecision` (see :mod:`shared.services.retraining` for how it is
reached). :class:`DecisionLog` logs it as one JSON line (``event: retrain_on_alert``, ``decision``,
``alert_id``, ``alert_rule``, ``job``, ``reason``, and what else applies) and records it under
``retraining/decisions/``; ``retraining/last.json`` (shown by ``status``) holds the last decision and the last
submission. A body that fails validation is recorded whole (:func:`reject_payload`) under
``retraining/decisions/``, so an alert refused by mistake can be replayed; ``retraining/last.json`` keeps
only an excerpt of it (:func:`bounded_record`) and the key of the whole record.

Plain Python: the state-store port, no Azure SDK.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.clock import utcnow
from shared.payloads import PayloadError
from shared.payloads.alerts import CommonAlert, PayloadTooLargeError, peek_alert_identity
from shared.ports import ConflictError, PlatformError, StateStore
from shared.services import state_keys
from shared.services.state_documents import CAS_ATTEMPTS, write_back
from shared.services.timestamps import iso
from shared.settings_parsing import SettingsError

log = logging.getLogger(__name__)


class RetrainDecision(StrEnum):
    SUBMITTED = "submitted"  # the training pipeline was submitted
    DUPLICATE = "duplicate"  # another delivery of this alert decided already (or is deciding)
    SUPPRESSED = "suppressed"  # inside the cool-down of the model
    RESOLVED = "resolved"  # the alert resolved: nothing to retrain
    IGNORED = "ignored"  # the rule is not in RETRAIN_ALERT_RULES
    REJECTED = "rejected"  # the body failed validation (400, 413)
    FAILED = "failed"  # the state store or the platform failed: nothing submitted


_WARNINGS = frozenset({RetrainDecision.REJECTED, RetrainDecision.FAILED})

# Enough of a rejected body to recognise the alert (its schemaId and essentials come first).
BODY_EXCERPT_CHARS = 1024
_BODY_FIELDS = ("body", "body_base64")


@dataclass(frozen=True)
class RetrainOutcome:
    """One decision about one delivery."""

    decision: RetrainDecision
    reason: str
    at: datetime
    alert: CommonAlert | None = None
    model: str | None = None
    job_name: str | None = None
    cooldown_until: datetime | None = None
    in_progress: bool = False  # a duplicate whose first delivery is still submitting
    first_decision: RetrainDecision | None = None  # for a duplicate: what the first delivery decided
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


class DecisionLog:
    """Logs each decision as one JSON line and records it in the state store."""

    def __init__(self, store: StateStore | None, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._clock = clock

    def decided(self, outcome: RetrainOutcome, *, required: bool = True, record: bool = True) -> RetrainOutcome:
        """Log and (unless ``record`` is false) record ``outcome``. A failed write propagates when ``required``
        (the caller answers 503 and the action group retries); otherwise it is logged and the outcome stands."""
        level = logging.WARNING if outcome.decision in _WARNINGS else logging.INFO
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

    def _write(self, store: StateStore, outcome: RetrainOutcome) -> None:
        record = outcome.record()
        stamp = outcome.at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        key = f"{state_keys.RETRAINING_DECISIONS_PREFIX}{stamp}-{outcome.decision}-{uuid.uuid4().hex[:8]}.json"
        store.put(key, record)
        last = bounded_record(record, key)
        for _ in range(CAS_ATTEMPTS):
            doc = store.get(state_keys.RETRAINING_LAST)
            data = dict(doc.data) if doc else {}
            data["last_decision"] = last
            if outcome.decision == RetrainDecision.SUBMITTED:
                data["last_submission"] = last
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


def bounded_record(record: Mapping[str, Any], key: str | None = None) -> dict[str, Any]:
    """``record`` as ``retraining/last.json`` and ``status`` show it: a rejected body (``body`` or
    ``body_base64``) cut to its first :data:`BODY_EXCERPT_CHARS` characters (``body_excerpt`` or
    ``body_base64_excerpt``, ``body_truncated``; ``body_bytes`` is the whole size) and ``record``, the key of the
    decision record that keeps the whole body (``key``, when known)."""
    out = dict(record)
    for name in _BODY_FIELDS:
        text = out.pop(name, None)
        if isinstance(text, str):
            out[f"{name}_excerpt"] = text[:BODY_EXCERPT_CHARS]
            out["body_truncated"] = len(text) > BODY_EXCERPT_CHARS
    if key is not None:
        out["record"] = key
    return out


def reject_payload(
    error: PayloadError,
    body: bytes,
    store: Callable[[], StateStore] | None,
    clock: Callable[[], datetime] = utcnow,
) -> RetrainOutcome:
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
    outcome = RetrainOutcome(RetrainDecision.REJECTED, str(error), clock(), http_status=status, extra=extra)
    resolved_store: StateStore | None = None
    if store is not None:
        try:
            resolved_store = store()
        except (SettingsError, PlatformError) as exc:
            log.error("retrain_on_alert: cannot record the rejection (state store unavailable): %s", exc)
    return DecisionLog(resolved_store, clock).decided(outcome, required=False)
