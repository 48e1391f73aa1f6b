"""What a rollout step must pass before the rollout moves on: the smoke test, the live-metric gate, an approval.

:class:`StepChecks` is asked by the phase steps (:mod:`shared.services.rollout_steps`):

- :meth:`~StepChecks.smoke`: the new deployment, invoked directly with the sample request, answers a valid
  scoring response; raises :class:`~shared.services.rollout_state.RolloutFailure` otherwise.
- :meth:`~StepChecks.gate`: the new deployment's traffic figures over the step's window, judged by
  :func:`shared.services.rollout_gates.judge` against the baseline's; the judgement is recorded in the rollout
  document, a failing one also as a ``ROLLOUT_GATE_FAILED`` line. With too little traffic the step waits up to
  ``ROLLOUT_GATE_LOW_TRAFFIC_WAIT``, then proceeds or holds for an operator (approval label ``low-traffic:<step>``).
- :meth:`~StepChecks.approved`: a label of ``ROLLOUT_APPROVAL_STEPS`` waits for an operator's approval, saying
  so once with a ``ROLLOUT_AWAITING_APPROVAL`` line.

A check returns True when the step may go on and False while it waits; it changes only the rollout document
and the log lines. Plain Python, no Azure SDK.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime

from shared.platform_rules import live
from shared.ports import DeploymentMetrics, EndpointPlatform, PlatformError, TransientError
from shared.services.rollout_gates import GATE_FAILED_PREFIX, PROCEED, GateDecision, judge, pool
from shared.services.rollout_intake import RolloutConfig
from shared.services.rollout_state import LogLines, Rollout, RolloutFailure, check_scoring_response
from shared.services.timestamps import iso, parse_iso

APPROVAL_PREFIX = "ROLLOUT_AWAITING_APPROVAL"  # the first word of the line a rollout waiting for an operator writes
RETIRE = "retire"  # the approval label of retiring the previous deployments
LOW_TRAFFIC = "low-traffic:"  # the approval label prefix of a step held for too little traffic


class StepChecks:
    """The checks of a step. ``platform`` and ``metrics`` are called when a check needs them."""

    def __init__(
        self,
        platform: Callable[[], EndpointPlatform],
        config: RolloutConfig,
        sample_request: Callable[[], bytes],
        metrics: Callable[[], DeploymentMetrics | None],
    ) -> None:
        self._platform = platform
        self._metrics = metrics
        self.config = config
        self.sample_request = sample_request

    # --- the smoke test ---------------------------------------------------------------------------
    def smoke(self, r: Rollout) -> None:
        """The new deployment answers the sample request with a valid scoring response; RolloutFailure if not."""
        try:
            body = self.sample_request()
        except OSError as exc:
            raise RolloutFailure(f"sample request unreadable: {exc}") from exc
        try:
            response = self._platform().invoke(r.endpoint, r.deployment, body)
        except TransientError:
            raise
        except PlatformError as exc:
            raise RolloutFailure(f"smoke test of {r.deployment} failed: {exc}") from exc
        problem = check_scoring_response(body, response)
        if problem:
            raise RolloutFailure(f"smoke test of {r.deployment} failed: {problem}")

    # --- the gate ---------------------------------------------------------------------------------
    def gate(self, r: Rollout, now: datetime, logs: LogLines, label: str, *, mirrored: bool = False) -> bool:
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
                logs.append((logging.WARNING, _approval_line(r, hold_label)))
            else:
                r.gate = judgement
            return False
        r.record_gate(judgement)
        r.gate_waiting_since = None
        r.awaiting_approval = None
        r.note(now, f"gate at {label}: too little traffic, {judgement['low_traffic']}")
        return True

    # --- approvals --------------------------------------------------------------------------------
    def approved(self, r: Rollout, now: datetime, label: str, logs: LogLines) -> bool:
        """True when ``label`` needs no approval or has one; otherwise the rollout waits, saying so once."""
        if label not in r.approval_steps or r.approved(label):
            if r.awaiting_approval == label:
                r.awaiting_approval = None
                r.note(now, f"approved: {label}")
            return True
        if r.awaiting_approval != label:
            r.awaiting_approval = label
            r.note(now, f"waiting for approval before {label} (ROLLOUT_APPROVAL_STEPS)")
            logs.append((logging.WARNING, _approval_line(r, label)))
        return False


def _approval_line(r: Rollout, label: str) -> str:
    return f"{APPROVAL_PREFIX} model={r.model} version={r.version} deployment={r.deployment} step={label}"
