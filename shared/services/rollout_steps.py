"""The steps of the rollout state machine: one method per phase, each checking the platform's state first.

``pending → [sharing] → endpoint → creating → provisioning → smoke_test → [mirror] → traffic (each step) →
retiring → succeeded``. A step reads the actual state of the endpoint or deployment before acting, so one
that dies between a platform call and the state write is resumed correctly by the next tick (the deployment
is found instead of created twice, traffic already set is recognised). A step returns True when the next one
may follow within the same tick; one that waits (provisioning, a dwell) returns False. It raises
:class:`~shared.services.rollout_state.RolloutFailure` when the rollout must be rolled back, and lets a
:class:`~shared.ports.TransientError` through to be retried on the next tick.

What a step must pass before the rollout moves on (smoke test, live-metric gate, approval) is
:mod:`shared.services.rollout_step_checks`; the traffic a step sets and holds is
:mod:`shared.services.rollout_traffic`. Plain Python, no Azure SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.payloads.events import version_key
from shared.platform_rules import live, model_version_from_ref
from shared.ports import (
    DeploymentMetrics,
    DeploymentSpec,
    EndpointPlatform,
    ModelRegistry,
)
from shared.services.rollout_intake import RolloutConfig
from shared.services.rollout_state import (
    BAKE,
    BUSY_STATES,
    CREATING,
    ENDPOINT,
    MIRROR,
    PROVISIONING,
    RETIRING,
    SHARING,
    SKIPPED,
    SMOKE_TEST,
    SUCCEEDED,
    CleanupItem,
    LogLines,
    Rollout,
    RolloutFailure,
    wait_deadline,
)
from shared.services.rollout_step_checks import RETIRE, StepChecks
from shared.services.rollout_traffic import StepTraffic, dwelled, start_window
from shared.services.timestamps import iso

SUCCESS_PREFIX = "ROLLOUT_SUCCEEDED"  # the first word of the line a completed rollout writes


class PhaseSteps:
    """The step of each phase. ``platform`` and ``registry`` are called when a step needs them."""

    def __init__(
        self,
        platform: Callable[[], EndpointPlatform],
        registry: Callable[[], ModelRegistry | None],
        config: RolloutConfig,
        sample_request: Callable[[], bytes],
        metrics: Callable[[], DeploymentMetrics | None] = lambda: None,
    ) -> None:
        self._platform = platform
        self._registry = registry
        self.config = config
        self._checks = StepChecks(platform, config, sample_request, metrics)
        self._traffic = StepTraffic(platform, config)

    @property
    def platform(self) -> EndpointPlatform:
        return self._platform()

    def run(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        """The step of ``r.phase``. Returns True when the next step may follow at once."""
        return bool(getattr(self, f"_step_{r.phase}")(r, now, logs))

    def _step_pending(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        if r.registry:
            r.transition(SHARING, now, f"sharing {r.model}:{r.version} into registry {r.registry}")
        else:
            r.transition(ENDPOINT, now, f"deploying {r.model_ref}")
        return True

    def _step_sharing(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        registry = self._registry()
        if registry is None or not r.registry:
            raise RolloutFailure("AML_REGISTRY_NAME is set but no model registry is available")
        r.model_ref = registry.share_to_registry(r.model, r.version, r.registry)
        r.transition(ENDPOINT, now, f"shared: deploying {r.model_ref}")
        return True

    def _step_endpoint(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        endpoint = self.platform.get_endpoint(r.endpoint)
        if endpoint is None or endpoint.provisioning_state in BUSY_STATES:
            deadline = wait_deadline(r, now, self.config.provisioning_timeout)
            if now >= deadline:
                raise RolloutFailure(f"endpoint {r.endpoint} not ready within {self.config.provisioning_timeout}")
            if endpoint is None:
                self.platform.begin_create_endpoint(r.endpoint)
                r.note(now, f"endpoint {r.endpoint} does not exist: creation requested")
            return False
        if endpoint.provisioning_state != "Succeeded":
            raise RolloutFailure(f"endpoint {r.endpoint} is {endpoint.provisioning_state}")
        baseline = live(endpoint.traffic)
        deployments = {d.name: d for d in self.platform.list_deployments(r.endpoint)}
        for name in baseline if r.requested_by != "operator" else ():  # an operator may roll back or redeploy
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

    def _step_creating(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        if self.platform.get_deployment(r.endpoint, r.deployment) is None:
            self.platform.begin_create_deployment(self._spec(r))
            detail = f"creation of {r.deployment} requested ({r.model_ref})"
        else:
            detail = f"{r.deployment} already exists (requested before a restart)"
        r.transition(PROVISIONING, now, detail)
        r.deadline = iso(now + self.config.provisioning_timeout)
        return True

    def _step_provisioning(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        deadline = wait_deadline(r, now, self.config.provisioning_timeout)
        deployment = self.platform.get_deployment(r.endpoint, r.deployment)
        if deployment is None:
            if now >= deadline:
                raise RolloutFailure(
                    f"deployment {r.deployment} did not appear within {self.config.provisioning_timeout}"
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
                f"deployment {r.deployment} still {state} after {self.config.provisioning_timeout} "
                "(ROLLOUT_PROVISIONING_TIMEOUT)"
            )
        return False

    def _step_smoke_test(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        self._checks.smoke(r)
        baseline = r.baseline_traffic or {}
        if not baseline:
            r.traffic_steps = [100]
            self._traffic.enter(r, 0, now, "smoke test passed; first deployment on the endpoint")
        elif r.mirror_percent > 0:
            mirror = {r.deployment: r.mirror_percent}
            self.platform.set_traffic(r.endpoint, baseline, mirror)
            r.traffic, r.mirror = dict(baseline), mirror
            r.transition(MIRROR, now, f"smoke test passed; mirroring {r.mirror_percent} % of live traffic")
            start_window(r, now, self.config.step_dwell)
        else:
            if not self._checks.approved(r, now, str(r.traffic_steps[0]), logs):
                return False
            self._traffic.enter(r, 0, now, "smoke test passed")
        return self.config.step_dwell <= timedelta(0)

    def _step_mirror(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        if not dwelled(r, now) or not self._traffic.applied(r, now, logs):
            return False
        self._checks.smoke(r)
        if not self._checks.gate(r, now, logs, "mirror", mirrored=True):
            return False
        if not self._checks.approved(r, now, str(r.traffic_steps[0]), logs):
            return False
        self._traffic.enter(r, 0, now, f"mirror at {r.mirror_percent} % held, smoke test and gate passed")
        return self.config.step_dwell <= timedelta(0)

    def _step_traffic(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        if not dwelled(r, now) or not self._traffic.applied(r, now, logs):
            return False
        self._checks.smoke(r)
        step = r.step or 0
        if not self._checks.gate(r, now, logs, str(r.traffic_steps[step])):
            return False
        held = f"{r.traffic_steps[step]} % held, smoke test {'and gate ' if self.config.gate else ''}passed"
        if step + 1 < len(r.traffic_steps):
            if not self._checks.approved(r, now, str(r.traffic_steps[step + 1]), logs):
                return False
            self._traffic.enter(r, step + 1, now, held)
            return self.config.step_dwell <= timedelta(0)
        if self.config.bake > timedelta(0) and r.baseline_traffic:
            r.transition(BAKE, now, f"{held}; {r.deployment} serves 100 %, baking for {self.config.bake}")
            start_window(r, now, self.config.bake)
            return False
        return self._retire(r, now, held, logs)

    def _step_bake(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        if not dwelled(r, now) or not self._traffic.applied(r, now, logs):
            return False
        self._checks.smoke(r)
        if not self._checks.gate(r, now, logs, "bake"):
            return False
        return self._retire(r, now, f"bake of {self.config.bake} at 100 % passed", logs)

    def _retire(self, r: Rollout, now: datetime, held: str, logs: LogLines) -> bool:
        if not self._checks.approved(r, now, RETIRE, logs):
            return False
        r.deployed = {"version": r.version, "deployment": r.deployment, "model_ref": r.model_ref, "at": iso(now)}
        retiring = ", ".join(n for n in r.previous if n != r.deployment) or "nothing"
        r.transition(RETIRING, now, f"{held}; {r.deployment} serves 100 %; retiring {retiring}")
        return True

    def _step_retiring(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
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

    # --- what the steps share ---------------------------------------------------------------------
    def _spec(self, r: Rollout) -> DeploymentSpec:
        return DeploymentSpec(
            endpoint=r.endpoint,
            name=r.deployment,
            model=r.model_ref,
            model_name=r.model,
            model_version=r.version,
            instance_type=r.instance_type,
            data_collection=r.data_collection,
            tags={"model_name": r.model, "model_version": r.version, "rollout_id": r.rollout_id},
        )


def _not_older(serving: str, candidate: str) -> bool:
    try:
        return version_key(serving) >= version_key(candidate)
    except ValueError:
        return False
