"""Safe rollout of newly registered model versions.

Two entry points:

- :func:`record_model_registered` (the Event Grid handler): decides whether an event starts a rollout,
  and records it in the rollout document with an ETag condition. It never calls the ML platform, so
  it answers in milliseconds; duplicates, stale versions and races between instances resolve on the
  document (create-if-absent / replace-if-unchanged).
- :class:`RolloutReconciler` (the timer): under the rollout lock, advances each rollout through
  ``pending → [sharing] → endpoint → creating → provisioning → smoke_test → [mirror] → traffic (each
  step) → retiring → succeeded``, or ``rolling_back → failed`` on any failure or timeout. Every step
  checks the platform's actual state before acting, so a reconciler that dies between a platform call
  and its state write is resumed correctly by the next tick. Quick steps follow each other within one
  tick; a step that waits (provisioning, dwell) ends the tick.

Invariants: live traffic always sums to 100 (or is empty before the first deployment); a deployment
with live or mirror traffic is never deleted (traffic is restored first, or it is left alone); a
transient platform error is retried on the next tick until ROLLOUT_PROVISIONING_TIMEOUT passes.
Plain Python, no Azure SDK.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.clock import utcnow
from shared.payloads.events import ModelRegisteredEvent, version_key
from shared.platform_rules import live, model_version_from_ref, workspace_model_ref
from shared.ports import (
    ConflictError,
    DeploymentSpec,
    EndpointPlatform,
    LockHeldError,
    ModelRegistry,
    PlatformError,
    StateStore,
    TransientError,
)
from shared.services import state_keys
from shared.services.rollout_state import (
    CREATING,
    DEPLOYMENT_MAY_EXIST,
    ENDPOINT,
    EVENT_ID_LIMIT,
    FAILED,
    MIRROR,
    PAST_LIMIT,
    PENDING,
    PROVISIONING,
    RETIRING,
    ROLLING_BACK,
    SHARING,
    SKIPPED,
    SMOKE_TEST,
    SUCCEEDED,
    TERMINAL,
    TRAFFIC,
    CleanupItem,
    Rollout,
    check_scoring_response,
    deployment_name,
    restore_mirror,
    restore_target,
    split_traffic,
)
from shared.services.timestamps import iso, parse_iso

log = logging.getLogger(__name__)

# The first word of the ERROR line written when a rollout fails: alert rules match on it
# (`traces | where message startswith "ROLLOUT_FAILED"`). Do not change it without the alerts.
FAILURE_PREFIX = "ROLLOUT_FAILED"
SUCCESS_PREFIX = "ROLLOUT_SUCCEEDED"
ROLLED_BACK_PREFIX = "ROLLOUT_ROLLED_BACK"

_BUSY_STATES = ("Creating", "Updating")
_TRAFFIC_REAPPLY_LIMIT = 3


def rollout_key(model: str) -> str:
    return f"{state_keys.ROLLOUT_PREFIX}{model}.json"


@dataclass(frozen=True)
class RolloutPolicy:
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

    @classmethod
    def from_settings(cls, settings: Any) -> RolloutPolicy:
        return cls(
            model_name=settings.model_name,
            endpoint_name=settings.endpoint_name,
            traffic_steps=tuple(settings.rollout_traffic_steps),
            step_dwell=settings.rollout_step_dwell,
            provisioning_timeout=settings.rollout_provisioning_timeout,
            mirror_percent=settings.rollout_mirror_percent,
            skip_tag=settings.deploy_skip_tag,
            registry=settings.registry_name,
            instance_type=settings.deployment_instance_type,
        )


# --- the event side ------------------------------------------------------------------------------


class Decision(StrEnum):
    STARTED = "started"  # a new rollout was recorded
    SUPERSEDED = "superseded"  # a new rollout replaced an unfinished one
    DUPLICATE = "duplicate"  # this event, or another one for this version, was already recorded
    OLDER = "ignored_older"  # older than the version deployed or being rolled out
    FOREIGN_MODEL = "ignored_foreign_model"
    SKIP_TAG = "ignored_skip_tag"


@dataclass(frozen=True)
class RecordResult:
    decision: Decision
    model: str
    version: str
    detail: str
    rollout_id: str | None = None


def record_model_registered(
    store: StateStore,
    event: ModelRegisteredEvent,
    policy: RolloutPolicy,
    *,
    clock: Callable[[], datetime] = utcnow,
    attempts: int = 8,
) -> RecordResult:
    """Record the rollout an event asks for (or why it is ignored). Safe to call any number of times.

    Raises TransientError / PlatformError when the state store cannot be read or written (the caller
    lets Event Grid redeliver), and TransientError when the document kept changing under it.
    """
    model, version = event.model_name, event.version
    if model != policy.model_name:
        return RecordResult(Decision.FOREIGN_MODEL, model, version, f"this app deploys {policy.model_name!r} only")
    skip_key, skip_value = policy.skip_tag
    for key, value in event.tags.items():
        if key == skip_key and value.strip().lower() == skip_value.strip().lower():
            return RecordResult(Decision.SKIP_TAG, model, version, f"tagged {key}={value}")

    key = rollout_key(model)
    for _ in range(attempts):
        found = store.get(key)
        now = clock()
        if found is None:
            rollout = _new_rollout(event, policy, now, None)
            try:
                store.create(key, rollout.to_dict())
            except ConflictError:
                continue  # another instance recorded first: decide again against its document
            return RecordResult(Decision.STARTED, model, version, "first rollout of this model", rollout.rollout_id)
        try:
            current = Rollout.from_dict(found.data)
        except ValueError as exc:
            raise PlatformError(f"{key}: {exc}; delete or fix the document") from None
        ignored = _ignore_reason(current, event)
        if ignored is not None:
            return RecordResult(ignored[0], model, version, ignored[1], current.rollout_id)
        rollout = _new_rollout(event, policy, now, current)
        try:
            store.replace(key, rollout.to_dict(), found.etag)
        except ConflictError:
            continue
        if current.active:
            detail = f"supersedes the unfinished rollout of version {current.version} ({current.phase})"
            return RecordResult(Decision.SUPERSEDED, model, version, detail, rollout.rollout_id)
        detail = f"after version {current.version} ({current.phase})"
        return RecordResult(Decision.STARTED, model, version, detail, rollout.rollout_id)
    raise TransientError(f"{key}: changed {attempts} times while recording version {version}; retry later")


def _ignore_reason(current: Rollout, event: ModelRegisteredEvent) -> tuple[Decision, str] | None:
    if event.event_id in current.event_ids:
        return Decision.DUPLICATE, f"event {event.event_id} was already recorded"
    new = version_key(event.version)
    if new == version_key(current.version):
        return Decision.DUPLICATE, f"version {current.version} already has a rollout ({current.phase})"
    deployed = (current.deployed or {}).get("version")
    if deployed is not None and new <= version_key(str(deployed)):
        return Decision.OLDER, f"version {deployed} is deployed"
    if new < version_key(current.version):
        state = "being rolled out" if current.active else f"the latest rollout, {current.phase}"
        return Decision.OLDER, f"version {current.version} is {state}"
    return None


def _new_rollout(event: ModelRegisteredEvent, policy: RolloutPolicy, now: datetime, old: Rollout | None) -> Rollout:
    rollout_id = uuid.uuid4().hex
    rollout = Rollout(
        model=event.model_name,
        endpoint=policy.endpoint_name,
        version=event.version,
        rollout_id=rollout_id,
        deployment=deployment_name(event.model_name, event.version, rollout_id),
        model_ref=workspace_model_ref(event.model_name, event.version),
        registry=policy.registry,
        instance_type=policy.instance_type,
        traffic_steps=list(policy.traffic_steps),
        mirror_percent=policy.mirror_percent,
        created_at=iso(now),
        phase_entered_at=iso(now),
        event_ids=[event.event_id],
    )
    rollout.history.append(
        {"at": iso(now), "from": None, "to": PENDING, "detail": f"ModelRegistered event {event.event_id}"}
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


# --- the reconciler ------------------------------------------------------------------------------


class RolloutFailure(Exception):
    """A step failed for good (bad smoke test, provisioning failed or timed out): roll back."""


@dataclass
class TickReport:
    acted: bool  # False when another reconciler held the lock
    rollouts: dict[str, str] = field(default_factory=dict)  # model -> phase after this tick


_Logs = list[tuple[int, str]]


class RolloutReconciler:
    """Advances every rollout document one tick. Holds ``lock(ROLLOUT_LOCK)`` for the whole tick."""

    def __init__(
        self,
        store: StateStore,
        platform: EndpointPlatform | Callable[[], EndpointPlatform],
        policy: RolloutPolicy,
        sample_request: Callable[[], bytes],
        *,
        registry: ModelRegistry | Callable[[], ModelRegistry] | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_steps: int = 12,
    ) -> None:
        """``platform`` and ``registry`` may be factories: they are then built only when a rollout needs
        them, so an idle tick touches nothing but the state store."""
        self.store = store
        self._platform = platform
        self.policy = policy
        self.sample_request = sample_request
        self._registry = registry
        self.clock = clock
        self.max_steps = max_steps

    @property
    def platform(self) -> EndpointPlatform:
        if not hasattr(self._platform, "get_endpoint"):
            self._platform = self._platform()  # type: ignore[operator]
        return self._platform  # type: ignore[return-value]

    @property
    def registry(self) -> ModelRegistry | None:
        if self._registry is not None and not hasattr(self._registry, "share_to_registry"):
            self._registry = self._registry()  # type: ignore[operator]
        return self._registry  # type: ignore[return-value]

    def run(self) -> TickReport:
        try:
            with self.store.lock(state_keys.ROLLOUT_LOCK):
                report = TickReport(acted=True)
                for key in self.store.list(state_keys.ROLLOUT_PREFIX):
                    phase = self._reconcile(key)
                    if phase is not None:
                        report.rollouts[key.removeprefix(state_keys.ROLLOUT_PREFIX).removesuffix(".json")] = phase
                return report
        except LockHeldError:
            log.info("reconcile_rollouts: another reconciler holds the lock; this one does nothing")
            return TickReport(acted=False)

    # one document
    def _reconcile(self, key: str) -> str | None:
        found = self.store.get(key)
        if found is None:
            return None
        etag = found.etag
        try:
            rollout = Rollout.from_dict(found.data)
        except ValueError as exc:
            log.error("rollout %s: skipped, %s; delete or fix the document", key, exc)
            return None
        for _ in range(self.max_steps):
            if rollout.phase in TERMINAL and not rollout.cleanup:
                break
            before = rollout.to_dict()
            logs: _Logs = []
            again = self._advance(rollout, logs)
            if rollout.to_dict() != before:
                rollout.updated_at = iso(self.clock())
                try:
                    etag = self.store.replace(key, rollout.to_dict(), etag)
                except ConflictError:
                    # A newer event replaced the document mid-tick. Whatever this step did on the
                    # platform is found and handled by the next tick (steps check actual state).
                    log.info("rollout %s: document changed during the tick; the next tick continues", key)
                    return rollout.phase
            for level, message in logs:  # only once the state they describe is stored
                log.log(level, message)
            if not again:
                break
        return rollout.phase

    def _advance(self, r: Rollout, logs: _Logs) -> bool:
        """One step. Returns True when the next step may follow at once."""
        now = self.clock()
        blocked = self._cleanup(r, now, logs) if r.cleanup else False
        if r.phase in TERMINAL:
            return False
        if r.phase == ROLLING_BACK:
            return self._finish_rollback(r, now, logs)
        if blocked:
            return False  # traffic of a superseded deployment is not restored yet: change nothing else
        try:
            again = getattr(self, f"_step_{r.phase}")(r, now, logs)
        except TransientError as exc:
            since = parse_iso(r.transient_since) if r.transient_since else now
            r.transient_since = iso(since)
            r.last_error = f"{iso(now)} {exc}"
            if now - since >= self.policy.provisioning_timeout:
                self._fail(r, now, f"platform unavailable since {iso(since)} during {r.phase}: {exc}", logs)
                return True
            logs.append((logging.WARNING, f"rollout {r.model} v{r.version}: transient error in {r.phase}: {exc}"))
            return False
        except (RolloutFailure, PlatformError) as exc:
            self._fail(r, now, str(exc), logs)
            return True
        r.transient_since = None
        return bool(again)

    # phases
    def _step_pending(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        if r.registry:
            r.transition(SHARING, now, f"sharing {r.model}:{r.version} into registry {r.registry}")
        else:
            r.transition(ENDPOINT, now, f"deploying {r.model_ref}")
        return True

    def _step_sharing(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        if self.registry is None or not r.registry:
            raise RolloutFailure("AML_REGISTRY_NAME is set but no model registry is available")
        r.model_ref = self.registry.share_to_registry(r.model, r.version, r.registry)
        r.transition(ENDPOINT, now, f"shared: deploying {r.model_ref}")
        return True

    def _step_endpoint(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        endpoint = self.platform.get_endpoint(r.endpoint)
        if endpoint is None or endpoint.provisioning_state in _BUSY_STATES:
            deadline = self._deadline(r, now)
            if now >= deadline:
                raise RolloutFailure(f"endpoint {r.endpoint} not ready within {self.policy.provisioning_timeout}")
            if endpoint is None:
                self.platform.begin_create_endpoint(r.endpoint)
                r.note(now, f"endpoint {r.endpoint} does not exist: creation requested")
            return False
        if endpoint.provisioning_state != "Succeeded":
            raise RolloutFailure(f"endpoint {r.endpoint} is {endpoint.provisioning_state}")
        baseline = live(endpoint.traffic)
        deployments = {d.name: d for d in self.platform.list_deployments(r.endpoint)}
        for name in baseline:
            serving = model_version_from_ref(deployments[name].model if name in deployments else None, r.model)
            if serving is not None and _not_older(serving, r.version):
                r.deployed = {"version": serving, "deployment": name, "at": iso(now)}  # what actually serves
                r.transition(SKIPPED, now, f"version {serving} already serves on {name}")
                logs.append((logging.INFO, f"rollout {r.model} v{r.version}: skipped, {serving} serves on {name}"))
                return False
        r.baseline_traffic = baseline
        r.baseline_mirror = live(endpoint.mirror_traffic)
        r.previous = sorted(baseline)
        serving_text = ", ".join(f"{k} {v} %" for k, v in baseline.items()) or "nothing (first deployment)"
        r.transition(CREATING, now, f"endpoint ready, serving {serving_text}")
        return True

    def _step_creating(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        if self.platform.get_deployment(r.endpoint, r.deployment) is None:
            self.platform.begin_create_deployment(self._spec(r))
            detail = f"creation of {r.deployment} requested ({r.model_ref})"
        else:
            detail = f"{r.deployment} already exists (requested before a restart)"
        r.transition(PROVISIONING, now, detail)
        r.deadline = iso(now + self.policy.provisioning_timeout)
        return True

    def _step_provisioning(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        deadline = self._deadline(r, now)
        deployment = self.platform.get_deployment(r.endpoint, r.deployment)
        if deployment is None:
            if now >= deadline:
                raise RolloutFailure(
                    f"deployment {r.deployment} did not appear within {self.policy.provisioning_timeout}"
                )
            self.platform.begin_create_deployment(self._spec(r))
            r.note(now, f"{r.deployment} not found: creation requested again")
            return False
        state = deployment.provisioning_state
        if state == "Succeeded":
            r.transition(SMOKE_TEST, now, f"{r.deployment} provisioned")
            return True
        if state in ("Failed", "Canceled", "Deleting"):
            raise RolloutFailure(f"deployment {r.deployment} provisioning {state}: {deployment.error or 'no detail'}")
        if now >= deadline:
            raise RolloutFailure(
                f"deployment {r.deployment} still {state} after {self.policy.provisioning_timeout} "
                "(ROLLOUT_PROVISIONING_TIMEOUT)"
            )
        return False

    def _step_smoke_test(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        self._smoke(r)
        baseline = r.baseline_traffic or {}
        if not baseline:
            r.traffic_steps = [100]
            self._enter_traffic(r, 0, now, "smoke test passed; first deployment on the endpoint")
        elif r.mirror_percent > 0:
            mirror = {r.deployment: r.mirror_percent}
            self.platform.set_traffic(r.endpoint, baseline, mirror)
            r.traffic, r.mirror = dict(baseline), mirror
            r.transition(MIRROR, now, f"smoke test passed; mirroring {r.mirror_percent} % of live traffic")
            r.wait_until = iso(now + self.policy.step_dwell)
        else:
            self._enter_traffic(r, 0, now, "smoke test passed")
        return self.policy.step_dwell <= timedelta(0)

    def _step_mirror(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        if not self._dwelled(r, now) or not self._traffic_applied(r, now, logs):
            return False
        self._smoke(r)
        self._enter_traffic(r, 0, now, f"mirror at {r.mirror_percent} % held, smoke test passed")
        return self.policy.step_dwell <= timedelta(0)

    def _step_traffic(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        if not self._dwelled(r, now) or not self._traffic_applied(r, now, logs):
            return False
        self._smoke(r)
        step = r.step or 0
        held = f"{r.traffic_steps[step]} % held, smoke test passed"
        if step + 1 < len(r.traffic_steps):
            self._enter_traffic(r, step + 1, now, held)
            return self.policy.step_dwell <= timedelta(0)
        r.deployed = {"version": r.version, "deployment": r.deployment, "model_ref": r.model_ref, "at": iso(now)}
        retiring = ", ".join(n for n in r.previous if n != r.deployment) or "nothing"
        r.transition(RETIRING, now, f"{held}; {r.deployment} serves 100 %; retiring {retiring}")
        return True

    def _step_retiring(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        if not r.retire_queued:
            for name in r.previous:
                if name != r.deployment:
                    r.add_cleanup(CleanupItem(name, "retired", added_at=iso(now)))
            r.retire_queued = True
            return True  # the cleanup pass deletes them (it never deletes a deployment with traffic)
        waiting = [c.deployment for c in r.cleanup if c.reason == "retired" and not c.delete_requested_at]
        if waiting:
            return False
        r.transition(SUCCEEDED, now, f"{r.deployment} serves version {r.version}")
        logs.append((logging.INFO, f"{SUCCESS_PREFIX} model={r.model} version={r.version} deployment={r.deployment}"))
        return False

    # failure and rollback
    def _fail(self, r: Rollout, now: datetime, reason: str, logs: _Logs) -> None:
        r.failure_reason = reason
        failed_in = r.phase
        if failed_in in DEPLOYMENT_MAY_EXIST or failed_in == RETIRING:
            item = CleanupItem(
                r.deployment, "failed", dict(r.baseline_traffic or {}), dict(r.baseline_mirror), added_at=iso(now)
            )
            r.add_cleanup(item)
            r.transition(ROLLING_BACK, now, f"failed in {failed_in}: {reason}")
        else:
            r.transition(FAILED, now, f"failed in {failed_in}: {reason}")
        logs.append(
            (
                logging.ERROR,
                f"{FAILURE_PREFIX} model={r.model} version={r.version} deployment={r.deployment} "
                f"phase={failed_in} reason={json.dumps(reason)}",
            )
        )

    def _finish_rollback(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        item = r.cleanup_item(r.deployment)
        if item is not None and not item.delete_requested_at:
            return False  # traffic not restored or deletion not accepted yet: the next tick retries
        restored = ", ".join(f"{k} {v} %" for k, v in (r.baseline_traffic or {}).items()) or "no traffic"
        r.transition(FAILED, now, f"rolled back: {restored} restored, {r.deployment} deleted")
        logs.append(
            (
                logging.WARNING,
                f"{ROLLED_BACK_PREFIX} model={r.model} version={r.version} deployment={r.deployment} "
                f"reason={json.dumps(r.failure_reason)}",
            )
        )
        return False

    def _cleanup(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        """Restore traffic away from, then delete, the deployments in ``r.cleanup``.

        Returns True ("blocked") while a failed or superseded deployment still has traffic. Errors are
        recorded on the item and retried next tick; they never fail the rollout in progress.
        """
        try:
            endpoint = self.platform.get_endpoint(r.endpoint)
            existing = {d.name for d in self.platform.list_deployments(r.endpoint)} if endpoint else set()
        except PlatformError as exc:
            for item in r.cleanup:
                item.last_error = f"{iso(now)} {exc}"
            logs.append((logging.WARNING, f"rollout {r.model}: cleanup postponed: {exc}"))
            return any(item.restore_traffic is not None for item in r.cleanup)
        keep_out = {c.deployment for c in r.cleanup}
        blocked = False
        for item in list(r.cleanup):
            name = item.deployment
            if endpoint is None or name not in existing:
                r.cleanup.remove(item)
                r.note(now, f"{name} is gone ({item.reason})")
                continue
            try:
                if _has_traffic(endpoint, name):
                    if item.restore_traffic is None:
                        r.cleanup.remove(item)
                        r.note(now, f"{name} has traffic again (set outside the rollout): left in place")
                        logs.append((logging.WARNING, f"rollout {r.model}: {name} has traffic again; not deleted"))
                        continue
                    target = restore_target(item.restore_traffic, existing - keep_out)
                    mirror = restore_mirror(item.restore_mirror, existing - keep_out, target)
                    self.platform.set_traffic(r.endpoint, target, mirror)
                    r.note(now, f"traffic restored to {target or 'none'} (mirror {mirror or 'none'}) away from {name}")
                    endpoint = self.platform.get_endpoint(r.endpoint)
                    if endpoint is None:
                        continue
                    if _has_traffic(endpoint, name):
                        blocked = True  # the update is still in progress: delete on a later tick
                        continue
                deployment = self.platform.get_deployment(r.endpoint, name)
                if deployment is None:
                    r.cleanup.remove(item)
                    r.note(now, f"{name} is gone ({item.reason})")
                    continue
                if deployment.provisioning_state == "Deleting":
                    continue
                self.platform.begin_delete_deployment(r.endpoint, name)
                item.delete_requested_at = iso(now)
                item.attempts += 1
                item.last_error = None
                r.note(now, f"deletion of {name} requested ({item.reason})")
            except PlatformError as exc:
                item.last_error = f"{iso(now)} {exc}"
                level = logging.WARNING if isinstance(exc, TransientError) else logging.ERROR
                logs.append((level, f"rollout {r.model}: cleanup of {name} ({item.reason}) failed: {exc}"))
                if item.restore_traffic is not None and endpoint is not None and _has_traffic(endpoint, name):
                    blocked = True
        return blocked

    # helpers
    def _spec(self, r: Rollout) -> DeploymentSpec:
        return DeploymentSpec(
            endpoint=r.endpoint,
            name=r.deployment,
            model=r.model_ref,
            model_name=r.model,
            model_version=r.version,
            instance_type=r.instance_type,
            tags={"model_name": r.model, "model_version": r.version, "rollout_id": r.rollout_id},
        )

    def _deadline(self, r: Rollout, now: datetime) -> datetime:
        if r.deadline:
            return parse_iso(r.deadline)
        deadline = now + self.policy.provisioning_timeout
        r.deadline = iso(deadline)
        return deadline

    def _dwelled(self, r: Rollout, now: datetime) -> bool:
        return not r.wait_until or now >= parse_iso(r.wait_until)

    def _traffic_applied(self, r: Rollout, now: datetime, logs: _Logs) -> bool:
        """The endpoint shows the traffic this rollout set (re-applied a few times if not)."""
        endpoint = self.platform.get_endpoint(r.endpoint)
        if endpoint is None:
            raise RolloutFailure(f"endpoint {r.endpoint} disappeared")
        if endpoint.provisioning_state in _BUSY_STATES:
            if now >= self._deadline(r, now):
                raise RolloutFailure(f"endpoint {r.endpoint} still {endpoint.provisioning_state} (traffic update)")
            return False
        r.deadline = None
        shown = (live(endpoint.traffic), live(endpoint.mirror_traffic))
        if shown == (live(r.traffic), live(r.mirror)):
            return True
        if shown == self._next_traffic(r):
            # A tick set the next step and died before recording it: take it as this step's traffic
            # (entering the next step sets it again, idempotently, after the smoke test).
            r.note(now, f"endpoint already shows the next step {shown[0]} (set before a restart)")
            return True
        if r.traffic_reapplied >= _TRAFFIC_REAPPLY_LIMIT:
            raise RolloutFailure(
                f"traffic {r.traffic} (mirror {r.mirror}) not applied after {r.traffic_reapplied} attempts; "
                f"endpoint shows {live(endpoint.traffic)} (mirror {live(endpoint.mirror_traffic)})"
            )
        self.platform.set_traffic(r.endpoint, r.traffic, r.mirror)
        r.traffic_reapplied += 1
        r.wait_until = iso(now + self.policy.step_dwell)
        r.note(now, f"endpoint showed {live(endpoint.traffic)}: traffic {r.traffic} applied again")
        logs.append((logging.WARNING, f"rollout {r.model} v{r.version}: traffic drifted; applied {r.traffic} again"))
        return False

    def _next_traffic(self, r: Rollout) -> tuple[dict[str, int], dict[str, int]] | None:
        index = 0 if r.phase == MIRROR else (r.step or 0) + 1
        if index >= len(r.traffic_steps):
            return None
        return split_traffic(r.baseline_traffic or {}, r.deployment, r.traffic_steps[index]), {}

    def _enter_traffic(self, r: Rollout, index: int, now: datetime, detail: str) -> None:
        target = split_traffic(r.baseline_traffic or {}, r.deployment, r.traffic_steps[index])
        self.platform.set_traffic(r.endpoint, target, {})
        r.transition(TRAFFIC, now, f"{detail}; live traffic {target}")
        r.traffic, r.mirror = target, {}
        r.step = index
        r.traffic_reapplied = 0
        r.wait_until = iso(now + self.policy.step_dwell)

    def _smoke(self, r: Rollout) -> None:
        try:
            body = self.sample_request()
        except OSError as exc:
            raise RolloutFailure(f"sample request unreadable: {exc}") from exc
        try:
            response = self.platform.invoke(r.endpoint, r.deployment, body)
        except TransientError:
            raise
        except PlatformError as exc:
            raise RolloutFailure(f"smoke test of {r.deployment} failed: {exc}") from exc
        problem = check_scoring_response(body, response)
        if problem:
            raise RolloutFailure(f"smoke test of {r.deployment} failed: {problem}")


def _has_traffic(endpoint: Any, name: str) -> bool:
    return bool(live(endpoint.traffic).get(name) or live(endpoint.mirror_traffic).get(name))


def _not_older(serving: str, candidate: str) -> bool:
    try:
        return version_key(serving) >= version_key(candidate)
    except ValueError:
        return False
