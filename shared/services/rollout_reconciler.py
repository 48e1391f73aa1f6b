"""The timer side of safe rollout: every rollout document advanced one tick, under the rollout lock.

:class:`RolloutReconciler` advances each rollout recorded by :mod:`shared.services.rollout_intake` through
``pending → [sharing] → endpoint → creating → provisioning → smoke_test → [mirror] → traffic (each step) →
retiring → succeeded``, or ``rolling_back → failed`` on any failure or timeout. Every step checks the
platform's actual state before acting (:mod:`shared.services.rollout_steps`), so a reconciler that dies
between a platform call and its state write is resumed correctly by the next tick. Quick steps follow each
other within one tick; a step that waits (provisioning, dwell) ends the tick. Each step's state is written
with the document's ETag before the log lines describing it; deployments left over are restored away from
and deleted by the cleanup pass (:mod:`shared.services.rollout_cleanup`).

Invariants: live traffic always sums to 100 (or is empty before the first deployment); a deployment
with live or mirror traffic is never deleted (traffic is restored first, or it is left alone); a
transient platform error is retried on the next tick until ROLLOUT_PROVISIONING_TIMEOUT passes. A rollout
document that cannot be read (not a JSON object) is skipped and logged naming it; the others are reconciled,
then the tick raises it. Plain Python, no Azure SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from shared.clock import utcnow
from shared.ports import (
    ConflictError,
    CorruptDocumentError,
    DeploymentMetrics,
    EndpointPlatform,
    LockHeldError,
    ModelRegistry,
    PlatformError,
    StateStore,
    TransientError,
)
from shared.services import state_keys
from shared.services.rollout_cleanup import cleanup, fail, finish_rollback
from shared.services.rollout_intake import RolloutConfig
from shared.services.rollout_state import RETIRING, ROLLING_BACK, TERMINAL, LogLines, Rollout
from shared.services.rollout_steps import PhaseSteps, RolloutFailure
from shared.services.timestamps import iso, parse_iso

log = logging.getLogger(__name__)


@dataclass
class TickOutcome:
    acted: bool  # False when another reconciler held the lock
    rollouts: dict[str, str] = field(default_factory=dict)  # model -> phase after this tick


class RolloutReconciler:
    """Advances every rollout document one tick. Holds ``lock(ROLLOUT_LOCK)`` for the whole tick."""

    def __init__(
        self,
        store: StateStore,
        platform: EndpointPlatform | Callable[[], EndpointPlatform],
        config: RolloutConfig,
        sample_request: Callable[[], bytes],
        *,
        registry: ModelRegistry | Callable[[], ModelRegistry] | None = None,
        metrics: DeploymentMetrics | Callable[[], DeploymentMetrics] | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_steps: int = 12,
    ) -> None:
        """``platform``, ``registry`` and ``metrics`` may be factories: they are then built only when a rollout
        needs them, so an idle tick touches nothing but the state store."""
        self.store = store
        self._platform = platform
        self.config = config
        self.sample_request = sample_request
        self._registry = registry
        self.clock = clock
        self.max_steps = max_steps
        self._metrics = metrics
        self._steps = PhaseSteps(
            lambda: self.platform, lambda: self.registry, config, sample_request, lambda: self.metrics
        )

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

    @property
    def metrics(self) -> DeploymentMetrics | None:
        if self._metrics is not None and not hasattr(self._metrics, "traffic"):
            self._metrics = self._metrics()  # type: ignore[operator]
        return self._metrics  # type: ignore[return-value]

    def run(self) -> TickOutcome:
        try:
            with self.store.lock(state_keys.ROLLOUT_LOCK):
                outcome = TickOutcome(acted=True)
                unreadable: list[CorruptDocumentError] = []
                for key in self.store.list(state_keys.ROLLOUT_PREFIX):
                    try:
                        phase = self._reconcile(key)
                    except CorruptDocumentError as exc:  # one broken document holds back no other rollout
                        log.error("reconcile_rollouts: rollout %s skipped: %s", key, exc)
                        unreadable.append(exc)
                        continue
                    if phase is not None:
                        outcome.rollouts[key.removeprefix(state_keys.ROLLOUT_PREFIX).removesuffix(".json")] = phase
                if unreadable:
                    raise unreadable[0]  # the tick fails, visibly, until the document is fixed or deleted
                return outcome
        except LockHeldError:
            log.info("reconcile_rollouts: another reconciler holds the lock; this one does nothing")
            return TickOutcome(acted=False)

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
            logs: LogLines = []
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

    def _advance(self, r: Rollout, logs: LogLines) -> bool:
        """One step. Returns True when the next step may follow at once."""
        now = self.clock()
        blocked = cleanup(self.platform, r, now, logs) if r.cleanup else False
        if r.phase in TERMINAL:
            return False
        if r.phase == ROLLING_BACK:
            return finish_rollback(r, now, logs)
        if r.abort_requested and r.phase != RETIRING:
            who = r.abort_requested.get("by") or "an operator"
            why = r.abort_requested.get("reason")
            fail(r, now, f"aborted by {who}" + (f": {why}" if why else ""), logs)
            return True
        if blocked:
            return False  # traffic of a superseded deployment is not restored yet: change nothing else
        try:
            again = self._steps.run(r, now, logs)
        except TransientError as exc:
            since = parse_iso(r.transient_since) if r.transient_since else now
            r.transient_since = iso(since)
            r.last_error = f"{iso(now)} {exc}"
            if now - since >= self.config.provisioning_timeout:
                fail(r, now, f"platform unavailable since {iso(since)} during {r.phase}: {exc}", logs)
                return True
            logs.append((logging.WARNING, f"rollout {r.model} v{r.version}: transient error in {r.phase}: {exc}"))
            return False
        except (RolloutFailure, PlatformError) as exc:
            fail(r, now, str(exc), logs)
            return True
        r.transient_since = None
        return bool(again)
