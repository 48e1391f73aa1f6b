"""The cool-down of retraining: at most one training job per model within ``RETRAIN_COOLDOWN``.

``retraining/cooldown/<model>.json`` holds the last job and its submission time. A delivery that may retrain
reads it and, when no retraining is inside the cool-down, writes a *pending reservation* into it with an
ETag condition before submitting. Two different alerts racing both read "free", but only one conditional
write wins; the loser re-reads, sees the reservation and is suppressed (with the time the cool-down ends).
A submitted job confirms the reservation (the document then records the job and its submission time); a
refused submission withdraws it; one that failed transiently (the job may exist) leaves it pending for the
retry of the same alert, which reserves again and submits under the same job name. A reservation older than
:data:`~shared.services.submission_claim.STALE_AFTER` belongs to a delivery that died: it holds no one back.

Plain Python: the state-store port, no Azure SDK.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.payloads.alerts import CommonAlert
from shared.ports import ConflictError, PlatformError, StateStore, TransientError
from shared.services import state_keys
from shared.services.state_documents import CAS_ATTEMPTS, write_back
from shared.services.submission_claim import STALE_AFTER
from shared.services.timestamps import iso, parse_time
from shared.settings_parsing import format_duration

log = logging.getLogger(__name__)


def cooldown_key(model_name: str) -> str:
    return f"{state_keys.RETRAINING_COOLDOWN_PREFIX}{model_name}.json"


@dataclass(frozen=True)
class Reservation:
    """This delivery may submit: its pending reservation in the cool-down document."""

    key: str
    token: str


@dataclass(frozen=True)
class Suppression:
    """Another retraining is inside the cool-down, which ends at ``until``."""

    until: datetime
    reason: str


class Cooldown:
    """The cool-down document of one model."""

    def __init__(self, store: StateStore, model: str, length: timedelta, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._model = model
        self._length = length
        self._clock = clock

    def reserve(self, alert: CommonAlert) -> Reservation | Suppression:
        model, cooldown = self._model, self._length
        key = cooldown_key(model)
        for _ in range(CAS_ATTEMPTS):
            now = self._clock()
            doc = self._store.get(key)
            data = dict(doc.data) if doc else {"model": model}
            last = parse_time(data.get("last_submitted_at"))
            if last is not None and last + cooldown > now:
                reason = (
                    f"inside the cool-down of model {model} ({format_duration(cooldown)}): job {data.get('last_job')} "
                    f"was submitted at {iso(last)} for alert {data.get('last_alert_id')}"
                )
                return Suppression(last + cooldown, reason)
            pending = data.get("pending")
            if isinstance(pending, dict) and pending.get("alert_id") != alert.alert_id:
                reserved_at = parse_time(pending.get("reserved_at"))
                if reserved_at is not None and now - reserved_at < STALE_AFTER and reserved_at + cooldown > now:
                    reason = (
                        f"inside the cool-down of model {model} ({format_duration(cooldown)}): a retraining for "
                        f"alert {pending.get('alert_id')} is being submitted since {iso(reserved_at)}"
                    )
                    return Suppression(reserved_at + cooldown, reason)
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
            return Reservation(key, token)
        raise TransientError(f"cool-down document {key} kept changing under concurrent deliveries")

    def withdraw(self, reservation: Reservation) -> None:
        """After a refused submission (logged, not raised, when this fails too: the reservation lapses)."""
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

    def confirm(self, alert: CommonAlert, reservation: Reservation, job_name: str, submitted_at: datetime) -> None:
        """Record the submitted job; the cool-down runs from ``submitted_at``."""
        for _ in range(CAS_ATTEMPTS):
            doc = self._store.get(reservation.key)
            data = dict(doc.data) if doc else {"model": self._model}
            previous = parse_time(data.get("last_submitted_at"))
            if previous is None or submitted_at >= previous:
                data.update(
                    last_job=job_name,
                    last_alert_id=alert.alert_id,
                    last_alert_rule=alert.alert_rule,
                    last_submitted_at=iso(submitted_at),
                    cooldown_until=iso(submitted_at + self._length),
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
