"""Operator controls of a rollout: read it, abort it, approve a step that waits. Never a second path.

The controls only record an operator's intent in the rollout document (``abort_requested``, ``approvals``) with
the document's ETag, as the event handler records a rollout; the reconciler's state machine acts on it (the HTTP
handler runs one reconciler tick at once, so the rollback or the next step starts within the request, and the
timer would do the same a minute later). So an abort rolls back exactly as a failing step does, and an approval
lets the waiting step go on exactly as if it had needed none.

Idempotent: an abort of a rollout already aborted or rolling back, or an approval already given, is answered
``already`` and changes nothing; concurrent calls resolve on the ETag (the loser reads again and finds the
winner's record). Plain Python, no Azure SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.clock import utcnow
from shared.ports import ConflictError, PlatformError, StateStore, TransientError
from shared.services.rollout_state import RETIRING, ROLLING_BACK, Rollout, rollout_key
from shared.services.timestamps import iso


class ControlDecision(StrEnum):
    RECORDED = "recorded"  # the intent is recorded; the state machine acts on it
    ALREADY = "already"  # the same intent was recorded before: nothing changed
    NOT_FOUND = "not_found"  # no rollout document for the model
    FINISHED = "finished"  # the rollout has ended: nothing to abort or approve
    NOT_WAITING = "not_waiting"  # nothing waits for that approval
    TOO_LATE = "too_late"  # the new version already serves 100 % and the previous deployments are being retired


@dataclass(frozen=True)
class ControlOutcome:
    decision: ControlDecision
    model: str
    detail: str
    rollout: dict[str, Any] | None = None


def rollout_view(r: Rollout) -> dict[str, Any]:
    """What ``GET /api/rollouts/{model}`` shows: the state, the history and the gate figures first."""
    doc = r.to_dict()
    first = {
        k: doc[k]
        for k in (
            "model",
            "state",
            "outcome",
            "version",
            "deployment",
            "traffic",
            "mirror",
            "step",
            "traffic_steps",
            "wait_until",
            "awaiting_approval",
            "approval_steps",
            "approvals",
            "abort_requested",
            "failure_reason",
            "gate",
        )
    }
    return {**first, **{k: v for k, v in doc.items() if k not in first}}


def read_rollout(store: StateStore, model: str) -> dict[str, Any] | None:
    """The model's rollout (None when it has none). CorruptDocumentError when the document is unreadable."""
    found = store.get(rollout_key(model))
    if found is None:
        return None
    return rollout_view(_parse(found.data, model))


def request_abort(
    store: StateStore,
    model: str,
    *,
    by: str,
    reason: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    attempts: int = 8,
) -> ControlOutcome:
    """Record that an operator wants the rollout rolled back now."""

    def decide(r: Rollout, now: datetime) -> tuple[ControlDecision, str]:
        if r.abort_requested:
            return ControlDecision.ALREADY, f"abort already requested at {r.abort_requested.get('at')} ({r.phase})"
        if r.phase == ROLLING_BACK:
            return ControlDecision.ALREADY, f"already rolling back: {r.failure_reason}"
        if not r.active:
            return ControlDecision.FINISHED, f"the rollout of version {r.version} has ended ({r.outcome})"
        if r.phase == RETIRING:
            return ControlDecision.TOO_LATE, (
                f"version {r.version} passed every step and serves 100 %; the previous deployments are being "
                "retired. Roll back by starting a rollout of the older version (POST /api/rollouts)"
            )
        r.abort_requested = {"at": iso(now), "by": by, "reason": reason}
        r.note(now, f"abort requested by {by}" + (f": {reason}" if reason else ""))
        return ControlDecision.RECORDED, f"abort of version {r.version} recorded ({r.phase}); rolling back"

    return _change(store, model, decide, clock, attempts)


def approve(
    store: StateStore,
    model: str,
    *,
    by: str,
    step: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    attempts: int = 8,
) -> ControlOutcome:
    """Approve ``step`` (default: the one the rollout waits on) of the model's rollout."""

    def decide(r: Rollout, now: datetime) -> tuple[ControlDecision, str]:
        label = step or r.awaiting_approval
        if label is None:
            if r.approvals:
                last = r.approvals[-1]
                return ControlDecision.ALREADY, f"nothing waits; {last.get('label')} was approved at {last.get('at')}"
            return ControlDecision.NOT_WAITING, f"the rollout of version {r.version} waits for no approval ({r.phase})"
        if r.approved(label):
            return ControlDecision.ALREADY, f"{label} is already approved"
        if not r.active:
            return ControlDecision.FINISHED, f"the rollout of version {r.version} has ended ({r.outcome})"
        if label != r.awaiting_approval and label not in r.approval_steps:
            waiting = r.awaiting_approval or "nothing"
            return ControlDecision.NOT_WAITING, f"step {label} needs no approval; the rollout waits for {waiting}"
        r.approvals.append({"label": label, "at": iso(now), "by": by})
        r.note(now, f"{label} approved by {by}")
        return ControlDecision.RECORDED, f"{label} of version {r.version} approved"

    return _change(store, model, decide, clock, attempts)


def _change(
    store: StateStore,
    model: str,
    decide: Callable[[Rollout, datetime], tuple[ControlDecision, str]],
    clock: Callable[[], datetime],
    attempts: int,
) -> ControlOutcome:
    key = rollout_key(model)
    for _ in range(attempts):
        found = store.get(key)
        if found is None:
            return ControlOutcome(ControlDecision.NOT_FOUND, model, f"no rollout of model {model}")
        rollout = _parse(found.data, model)
        now = clock()
        decision, detail = decide(rollout, now)
        if decision != ControlDecision.RECORDED:
            return ControlOutcome(decision, model, detail, rollout_view(rollout))
        rollout.updated_at = iso(now)
        try:
            store.replace(key, rollout.to_dict(), found.etag)
        except ConflictError:
            continue  # a tick or another operator wrote first: decide again on what they wrote
        return ControlOutcome(decision, model, detail, rollout_view(rollout))
    raise TransientError(f"{key}: changed {attempts} times under the request; retry later")


def _parse(data: dict[str, Any], model: str) -> Rollout:
    try:
        return Rollout.from_dict(data)
    except ValueError as exc:
        raise PlatformError(f"{rollout_key(model)}: {exc}; delete or fix the document") from None
