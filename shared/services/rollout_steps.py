"""The steps of the rollout state machine: one method per phase, each checking the platform's state first.

``pending → [sharing] → endpoint → creating → provisioning → smoke_test → [mirror] → traffic (each step) →
retiring → succeeded``. A step reads the actual state of the endpoint or deployment before acting, so one
that dies between a platform call and the state write is resumed correctly by the next tick (the deployment
is found instead of created twice, traffic already set is recognised). A step returns True when the next one
may follow within the same tick; one that waits (provisioning, a dwell) returns False. It raises
:class:`RolloutFailure` when the rollout must be rolled back, and lets a :class:`~shared.ports.TransientError`
through to be retried on the next tick.

Plain Python, no Azure SDK.
"""

from __future__ import annotations

import json
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
    PlatformError,
    TransientError,
)
from shared.services.rollout_gates import GATE_FAILED_PREFIX, PROCEED, GateDecision, judge, pool
from shared.services.rollout_intake import RolloutConfig
from shared.services.rollout_state import (
    BAKE,
    CREATING,
    ENDPOINT,
    MIRROR,
    PROVISIONING,
    RETIRING,
    SHARING,
    SKIPPED,
    SMOKE_TEST,
    SUCCEEDED,
    TRAFFIC,
    CleanupItem,
    LogLines,
    Rollout,
    check_scoring_response,
    split_traffic,
)
from shared.services.timestamps import iso, parse_iso

SUCCESS_PREFIX = "ROLLOUT_SUCCEEDED"  # the first word of the line a completed rollout writes
APPROVAL_PREFIX = "ROLLOUT_AWAITING_APPROVAL"  # the first word of the line a rollout waiting for an operator writes
RETIRE = "retire"  # the approval label of retiring the previous deployments
LOW_TRAFFIC = "low-traffic:"  # the approval label prefix of a step held for too little traffic

_BUSY_STATES = ("Creating", "Updating")
_TRAFFIC_REAPPLY_LIMIT = 3


class RolloutFailure(Exception):
    """A step failed for good (bad smoke test, failing gate, provisioning failed or timed out): roll back."""


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
        self._metrics = metrics
        self.config = config
        self.sample_request = sample_request

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
        if endpoint is None or endpoint.provisioning_state in _BUSY_STATES:
            deadline = self._deadline(r, now)
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
        deadline = self._deadline(r, now)
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
            self._start_window(r, now, self.config.step_dwell)
        else:
            if not self._approved(r, now, str(r.traffic_steps[0]), logs):
                return False
            self._enter_traffic(r, 0, now, "smoke test passed")
        return self.config.step_dwell <= timedelta(0)

    def _step_mirror(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        if not self._dwelled(r, now) or not self._traffic_applied(r, now, logs):
            return False
        self._smoke(r)
        if not self._gate(r, now, logs, "mirror", mirrored=True):
            return False
        if not self._approved(r, now, str(r.traffic_steps[0]), logs):
            return False
        self._enter_traffic(r, 0, now, f"mirror at {r.mirror_percent} % held, smoke test and gate passed")
        return self.config.step_dwell <= timedelta(0)

    def _step_traffic(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        if not self._dwelled(r, now) or not self._traffic_applied(r, now, logs):
            return False
        self._smoke(r)
        step = r.step or 0
        if not self._gate(r, now, logs, str(r.traffic_steps[step])):
            return False
        held = f"{r.traffic_steps[step]} % held, smoke test {'and gate ' if self.config.gate else ''}passed"
        if step + 1 < len(r.traffic_steps):
            if not self._approved(r, now, str(r.traffic_steps[step + 1]), logs):
                return False
            self._enter_traffic(r, step + 1, now, held)
            return self.config.step_dwell <= timedelta(0)
        if self.config.bake > timedelta(0) and r.baseline_traffic:
            r.transition(BAKE, now, f"{held}; {r.deployment} serves 100 %, baking for {self.config.bake}")
            self._start_window(r, now, self.config.bake)
            return False
        return self._retire(r, now, held, logs)

    def _step_bake(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
        if not self._dwelled(r, now) or not self._traffic_applied(r, now, logs):
            return False
        self._smoke(r)
        if not self._gate(r, now, logs, "bake"):
            return False
        return self._retire(r, now, f"bake of {self.config.bake} at 100 % passed", logs)

    def _retire(self, r: Rollout, now: datetime, held: str, logs: LogLines) -> bool:
        if not self._approved(r, now, RETIRE, logs):
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

    # --- the gate and approvals -------------------------------------------------------------------
    def _gate(self, r: Rollout, now: datetime, logs: LogLines, label: str, *, mirrored: bool = False) -> bool:
        """True when the step may end: the gate passed (or is off, or too little traffic and the setting says
        proceed). False while it waits for traffic or an operator. Raises RolloutFailure when it fails."""
        limits = self.config.gate
        if limits is None:
            return True
        if not live(r.baseline_traffic):
            # The first deployment on the endpoint: nothing served before, so nothing to fall back to.
            if r.gate is None:
                r.record_gate(
                    {
                        "at": iso(now),
                        "step": label,
                        "decision": "skipped",
                        "reasons": [],
                        "notes": ["first deployment on the endpoint: nothing to compare with or restore"],
                    }
                )
            return True
        metrics = self._metrics()
        if metrics is None:
            raise RolloutFailure("ROLLOUT_GATES is on but no deployment metrics source is available")
        start = parse_iso(r.window_start or r.phase_entered_at or iso(now))
        others = sorted(n for n in live(r.baseline_traffic) if n != r.deployment)
        if mirrored:
            candidate = metrics.traffic(r.endpoint, [r.deployment], start, now, mirrored=True).get(r.deployment)
            baseline_figures = metrics.traffic(r.endpoint, others, start, now) if others else {}
        else:
            figures = metrics.traffic(r.endpoint, [r.deployment, *others], start, now)
            candidate = figures.get(r.deployment)
            baseline_figures = {k: v for k, v in figures.items() if k != r.deployment}
        if candidate is None:
            raise TransientError(f"the metrics source returned no figures for {r.deployment}")
        verdict = judge(candidate, pool(baseline_figures.get(n) for n in others if n in baseline_figures), limits)
        judgement = {
            "at": iso(now),
            "phase": r.phase,
            "step": label,
            "mirrored": mirrored,
            "window": {"start": iso(start), "end": iso(now)},
            "decision": verdict.decision.value,
            "reasons": list(verdict.reasons),
            "notes": list(verdict.notes),
            **verdict.figures(),
            "baseline_deployments": others,
            "limits": limits.to_dict(),
        }
        if verdict.decision == GateDecision.FAILED:
            r.record_gate(judgement)
            logs.append(
                (
                    logging.ERROR,
                    f"{GATE_FAILED_PREFIX} model={r.model} version={r.version} deployment={r.deployment} "
                    f"step={label} reason={json.dumps(verdict.reason)} "
                    f"figures={json.dumps(verdict.figures(), sort_keys=True)}",
                )
            )
            raise RolloutFailure(f"gate at {label}: {verdict.reason}")
        if verdict.decision == GateDecision.PASSED:
            last = r.gates[-1] if r.gates else {}
            if last.get("decision") == "passed" and last.get("window", {}).get("start") == iso(start):
                r.gates[-1] = r.gate = judgement  # judged again while waiting (approval): one entry per window
            else:
                r.record_gate(judgement)
            r.gate_waiting_since = None
            if r.awaiting_approval == LOW_TRAFFIC + label:
                r.awaiting_approval = None
            return True
        return self._too_little_traffic(r, now, logs, label, judgement)

    def _too_little_traffic(self, r: Rollout, now: datetime, logs: LogLines, label: str, judgement: dict) -> bool:
        limits = self.config.gate
        assert limits is not None
        since = parse_iso(r.gate_waiting_since) if r.gate_waiting_since else now
        first = r.gate_waiting_since is None
        r.gate_waiting_since = iso(since)
        hold_label = LOW_TRAFFIC + label
        if r.approved(hold_label):
            judgement["low_traffic"] = "approved by an operator"
        elif now - since < limits.low_traffic_wait:
            judgement["low_traffic"] = f"waiting until {iso(since + limits.low_traffic_wait)}"
            if first:
                r.record_gate(judgement)
                r.note(now, f"gate at {label}: too little traffic; waiting up to {limits.low_traffic_wait}")
            else:
                r.gate = judgement  # the latest figures, without a history entry per tick
            return False
        elif limits.low_traffic_action == PROCEED:
            judgement["low_traffic"] = "proceeded (ROLLOUT_GATE_LOW_TRAFFIC=proceed)"
        else:
            judgement["low_traffic"] = "held for an operator (ROLLOUT_GATE_LOW_TRAFFIC=hold)"
            if r.awaiting_approval != hold_label:
                r.record_gate(judgement)
                r.awaiting_approval = hold_label
                r.note(now, f"gate at {label}: still too little traffic after {limits.low_traffic_wait}; held")
                logs.append((logging.WARNING, self._approval_line(r, hold_label)))
            else:
                r.gate = judgement
            return False
        r.record_gate(judgement)
        r.gate_waiting_since = None
        r.awaiting_approval = None
        r.note(now, f"gate at {label}: too little traffic, {judgement['low_traffic']}")
        return True

    def _approved(self, r: Rollout, now: datetime, label: str, logs: LogLines) -> bool:
        """True when ``label`` needs no approval or has one; otherwise the rollout waits, saying so once."""
        if label not in r.approval_steps or r.approved(label):
            if r.awaiting_approval == label:
                r.awaiting_approval = None
                r.note(now, f"approved: {label}")
            return True
        if r.awaiting_approval != label:
            r.awaiting_approval = label
            r.note(now, f"waiting for approval before {label} (ROLLOUT_APPROVAL_STEPS)")
            logs.append((logging.WARNING, self._approval_line(r, label)))
        return False

    @staticmethod
    def _approval_line(r: Rollout, label: str) -> str:
        return f"{APPROVAL_PREFIX} model={r.model} version={r.version} deployment={r.deployment} step={label}"

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

    def _deadline(self, r: Rollout, now: datetime) -> datetime:
        if r.deadline:
            return parse_iso(r.deadline)
        deadline = now + self.config.provisioning_timeout
        r.deadline = iso(deadline)
        return deadline

    def _start_window(self, r: Rollout, now: datetime, dwell: timedelta) -> None:
        r.wait_until = iso(now + dwell)
        r.window_start = iso(now)
        r.gate_waiting_since = None

    def _dwelled(self, r: Rollout, now: datetime) -> bool:
        return not r.wait_until or now >= parse_iso(r.wait_until)

    def _traffic_applied(self, r: Rollout, now: datetime, logs: LogLines) -> bool:
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
        r.wait_until = iso(now + self.config.step_dwell)
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
        self._start_window(r, now, self.config.step_dwell)

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


def _not_older(serving: str, candidate: str) -> bool:
    try:
        return version_key(serving) >= version_key(candidate)
    except ValueError:
        return False
