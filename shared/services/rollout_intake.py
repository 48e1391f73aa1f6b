"""The event side of safe rollout: a ModelRegistered event → the rollout it asks for, recorded.

:func:`record_model_registered` (the Event Grid handler's service) decides whether an event starts a rollout
and records it in the rollout document (``rollouts/<model>.json``) with an ETag condition. It never calls the
ML platform, so it answers in milliseconds; duplicates, stale versions and races between instances resolve
on the document (create-if-absent / replace-if-unchanged). A newer version supersedes an unfinished
rollout: the deployment it may have created is handed to the cleanup (traffic restored first). The timer's
:class:`~shared.services.rollout_reconciler.RolloutReconciler` then advances the recorded rollout.

Plain Python, no Azure SDK.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.clock import utcnow
from shared.payloads.events import ModelRegisteredEvent, version_key
from shared.platform_rules import workspace_model_ref
from shared.ports import ConflictError, PlatformError, StateStore, TransientError
from shared.services.rollout_gates import GateLimits
from shared.services.rollout_state import (
    EVENT_ID_LIMIT,
    FAILED,
    PAST_LIMIT,
    PENDING,
    RETIRING,
    ROLLING_BACK,
    CleanupItem,
    Rollout,
    deployment_name,
    rollout_key,
)
from shared.services.timestamps import iso


@dataclass(frozen=True)
class RolloutConfig:
    """The settings a rollout follows (read once per invocation)."""

    model_name: str
    endpoint_name: str
    traffic_steps: tuple[int, ...] = (10, 50, 100)
    step_dwell: timedelta = timedelta(minutes=5)
    provisioning_timeout: timedelta = timedelta(minutes=30)
    mirror_percent: int = 0
    skip_tag: tuple[str, str] = ("deploy", "false")
    registry: str | None = None
    instance_type: str | None = None
    data_collection: bool = False
    gate: GateLimits | None = None  # None: no live-metric gates (ROLLOUT_GATES=false)
    bake: timedelta = timedelta(0)
    approval_steps: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> RolloutConfig:
        gate = None
        if settings.rollout_gates:
            gate = GateLimits(
                min_requests=settings.rollout_gate_min_requests,
                max_error_share=settings.rollout_gate_max_error_share,
                max_error_share_over_baseline=settings.rollout_gate_max_error_share_over_baseline,
                max_latency_ratio=settings.rollout_gate_max_latency_ratio,
                latency_slack_ms=settings.rollout_gate_latency_slack_ms,
                max_latency_p90_ms=settings.rollout_gate_max_latency_p90_ms,
                max_latency_p99_ms=settings.rollout_gate_max_latency_p99_ms,
                low_traffic_wait=settings.rollout_gate_low_traffic_wait,
                low_traffic_action=settings.rollout_gate_low_traffic,
            )
        return cls(
            gate=gate,
            bake=settings.rollout_bake,
            approval_steps=tuple(settings.rollout_approval_steps or ()),
            model_name=settings.model_name,
            endpoint_name=settings.endpoint_name,
            traffic_steps=tuple(settings.rollout_traffic_steps),
            step_dwell=settings.rollout_step_dwell,
            provisioning_timeout=settings.rollout_provisioning_timeout,
            mirror_percent=settings.rollout_mirror_percent,
            skip_tag=settings.deploy_skip_tag,
            registry=settings.registry_name,
            instance_type=settings.deployment_instance_type,
            data_collection=settings.deployment_data_collection,
        )


class RolloutDecision(StrEnum):
    STARTED = "started"  # a new rollout was recorded
    SUPERSEDED = "superseded"  # a new rollout replaced an unfinished one
    DUPLICATE = "duplicate"  # this event, or another one for this version, was already recorded
    OLDER = "ignored_older"  # older than the version deployed or being rolled out
    FOREIGN_MODEL = "ignored_foreign_model"
    SKIP_TAG = "ignored_skip_tag"


@dataclass(frozen=True)
class RecordOutcome:
    """What one event came to."""

    decision: RolloutDecision
    model: str
    version: str
    detail: str
    rollout_id: str | None = None


def record_model_registered(
    store: StateStore,
    event: ModelRegisteredEvent,
    config: RolloutConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
    attempts: int = 8,
    model_ref: str | None = None,
    requested_by: str = "event",
) -> RecordOutcome:
    """Record the rollout an event asks for (or why it is ignored). Safe to call any number of times.

    ``model_ref`` deploys that reference instead of the workspace's ``azureml:<model>:<version>`` (a promotion
    candidate already in a registry; nothing is shared then).

    ``requested_by="operator"`` (``POST /api/rollouts``): the same recording, but an operator may roll out an
    older version (a rollback) or the serving one again (a redeploy); only the same request (its id) or an
    unfinished rollout of the same version is a duplicate.

    Raises TransientError / PlatformError when the state store cannot be read or written (the caller
    lets Event Grid redeliver), and TransientError when the document kept changing under it.
    """
    model, version = event.model_name, event.version
    if model != config.model_name:
        return RecordOutcome(
            RolloutDecision.FOREIGN_MODEL, model, version, f"this app deploys {config.model_name!r} only"
        )
    skip_key, skip_value = config.skip_tag
    for key, value in event.tags.items():
        if key == skip_key and value.strip().lower() == skip_value.strip().lower():
            return RecordOutcome(RolloutDecision.SKIP_TAG, model, version, f"tagged {key}={value}")

    key = rollout_key(model)
    for _ in range(attempts):
        found = store.get(key)
        now = clock()
        if found is None:
            rollout = _new_rollout(event, config, now, None, model_ref=model_ref, requested_by=requested_by)
            try:
                store.create(key, rollout.to_dict())
            except ConflictError:
                continue  # another instance recorded first: decide again against its document
            return RecordOutcome(
                RolloutDecision.STARTED, model, version, "first rollout of this model", rollout.rollout_id
            )
        try:
            current = Rollout.from_dict(found.data)
        except ValueError as exc:
            raise PlatformError(f"{key}: {exc}; delete or fix the document") from None
        ignored = (
            _operator_ignore_reason(current, event) if requested_by == "operator" else _ignore_reason(current, event)
        )
        if ignored is not None:
            return RecordOutcome(ignored[0], model, version, ignored[1], current.rollout_id)
        rollout = _new_rollout(event, config, now, current, model_ref=model_ref, requested_by=requested_by)
        try:
            store.replace(key, rollout.to_dict(), found.etag)
        except ConflictError:
            continue
        if current.active:
            detail = f"supersedes the unfinished rollout of version {current.version} ({current.phase})"
            return RecordOutcome(RolloutDecision.SUPERSEDED, model, version, detail, rollout.rollout_id)
        detail = f"after version {current.version} ({current.phase})"
        return RecordOutcome(RolloutDecision.STARTED, model, version, detail, rollout.rollout_id)
    raise TransientError(f"{key}: changed {attempts} times while recording version {version}; retry later")


_SOURCES = {"event": "ModelRegistered event", "operator": "operator request"}


def _ignore_reason(current: Rollout, event: ModelRegisteredEvent) -> tuple[RolloutDecision, str] | None:
    if event.event_id in current.event_ids:
        return RolloutDecision.DUPLICATE, f"event {event.event_id} was already recorded"
    new = version_key(event.version)
    if new == version_key(current.version):
        return RolloutDecision.DUPLICATE, f"version {current.version} already has a rollout ({current.phase})"
    deployed = (current.deployed or {}).get("version")
    if deployed is not None and new <= version_key(str(deployed)):
        return RolloutDecision.OLDER, f"version {deployed} is deployed"
    if new < version_key(current.version):
        state = "being rolled out" if current.active else f"the latest rollout, {current.phase}"
        return RolloutDecision.OLDER, f"version {current.version} is {state}"
    return None


def _operator_ignore_reason(current: Rollout, event: ModelRegisteredEvent) -> tuple[RolloutDecision, str] | None:
    if event.event_id in current.event_ids:
        return RolloutDecision.DUPLICATE, f"request {event.event_id} was already recorded ({current.phase})"
    if current.active and version_key(event.version) == version_key(current.version):
        return RolloutDecision.DUPLICATE, f"version {current.version} is being rolled out ({current.phase})"
    return None


def _new_rollout(
    event: ModelRegisteredEvent,
    config: RolloutConfig,
    now: datetime,
    old: Rollout | None,
    *,
    model_ref: str | None = None,
    requested_by: str = "event",
) -> Rollout:
    rollout_id = uuid.uuid4().hex
    rollout = Rollout(
        model=event.model_name,
        endpoint=config.endpoint_name,
        version=event.version,
        rollout_id=rollout_id,
        deployment=deployment_name(event.model_name, event.version, rollout_id),
        model_ref=model_ref or workspace_model_ref(event.model_name, event.version),
        registry=None if model_ref else config.registry,
        instance_type=config.instance_type,
        data_collection=config.data_collection,
        traffic_steps=list(config.traffic_steps),
        mirror_percent=config.mirror_percent,
        approval_steps=list(config.approval_steps),
        requested_by=requested_by,
        created_at=iso(now),
        phase_entered_at=iso(now),
        event_ids=[event.event_id],
    )
    rollout.history.append(
        {"at": iso(now), "from": None, "to": PENDING, "detail": f"{_SOURCES[requested_by]} {event.event_id}"}
    )
    if old is None:
        return rollout
    rollout.deployed = old.deployed
    rollout.cleanup = list(old.cleanup)
    rollout.event_ids = [*old.event_ids, event.event_id][-EVENT_ID_LIMIT:]
    outcome = old.phase
    if old.active:
        outcome = FAILED if old.phase == ROLLING_BACK else "superseded"
        if old.phase == RETIRING:
            # It already serves 100 % and passed every check: it is the deployed version now.
            rollout.deployed = old.deployed or {"version": old.version, "deployment": old.deployment}
            if not old.retire_queued:
                for name in old.previous:
                    rollout.add_cleanup(CleanupItem(name, "retired", added_at=iso(now)))
            note = f"{old.deployment} serves 100 %: kept, the new version starts from it"
        else:
            restore = dict(old.baseline_traffic or {})
            item = CleanupItem(old.deployment, "superseded", restore, dict(old.baseline_mirror), added_at=iso(now))
            rollout.add_cleanup(item)
            note = f"{old.deployment} is cleaned up after its traffic is restored"
        rollout.note(now, f"supersedes the rollout of version {old.version} ({old.phase}): {note}")
    rollout.past = [*old.past, old.summary(outcome)][-PAST_LIMIT:]
    return rollout
