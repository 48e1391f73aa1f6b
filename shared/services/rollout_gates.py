"""The live-metric gate of a rollout step: the new deployment's traffic figures judged against limits.

At the end of every traffic step's dwell, of the mirror step and of the bake at 100 %, the reconciler reads
the figures of the new deployment and of the baseline deployments (those that served before) over the same
window through :class:`shared.ports.DeploymentMetrics` and asks :func:`judge` for a verdict:

- **absolute**: share of non-2xx answers ≤ ``max_error_share``; p90 (and p99) latency ≤ ``max_latency_p90_ms`` /
  ``max_latency_p99_ms`` when set;
- **relative to the baseline** over the same window, when the baseline served at least ``min_requests``: error
  share ≤ the baseline's + ``max_error_share_over_baseline``; p90 and p99 ≤ ``max_latency_ratio`` × the
  baseline's (a difference below ``latency_slack_ms`` never fails: a 3 ms answer against a 2 ms one is noise);
- **too little traffic**: fewer than ``min_requests`` on the new deployment is no verdict. The step waits up to
  ``low_traffic_wait`` longer, then ``low_traffic_action`` says what happens: ``hold`` (wait for an operator's
  approve or abort) or ``proceed`` (go on, recorded as proceeded without a verdict).

Several baseline deployments are pooled (requests and non-2xx added, percentiles weighted by requests: a
window's percentile cannot be rebuilt exactly from parts, and the weighted mean is what Azure Monitor's
per-minute percentiles allow too). Plain Python, no Azure SDK.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from shared.ports import TrafficFigures

# The first word of the ERROR line a failing gate writes (alert rules match on it); its fields are documented
# in docs/contracts.md ("rollout log lines"). Do not change it without the alerts.
GATE_FAILED_PREFIX = "ROLLOUT_GATE_FAILED"

HOLD = "hold"
PROCEED = "proceed"
LOW_TRAFFIC_ACTIONS = (HOLD, PROCEED)


@dataclass(frozen=True)
class GateLimits:
    """The limits a gate applies (settings ``ROLLOUT_GATE_*``); the defaults are the safe ones."""

    min_requests: int = 100
    max_error_share: float = 0.01
    max_error_share_over_baseline: float = 0.005
    max_latency_ratio: float = 1.5
    latency_slack_ms: float = 25.0
    max_latency_p90_ms: float | None = None
    max_latency_p99_ms: float | None = None
    low_traffic_wait: timedelta = timedelta(minutes=30)
    low_traffic_action: str = HOLD

    def __post_init__(self) -> None:
        if self.low_traffic_action not in LOW_TRAFFIC_ACTIONS:
            raise ValueError(f"low_traffic_action must be one of {LOW_TRAFFIC_ACTIONS}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_requests": self.min_requests,
            "max_error_share": self.max_error_share,
            "max_error_share_over_baseline": self.max_error_share_over_baseline,
            "max_latency_ratio": self.max_latency_ratio,
            "latency_slack_ms": self.latency_slack_ms,
            "max_latency_p90_ms": self.max_latency_p90_ms,
            "max_latency_p99_ms": self.max_latency_p99_ms,
        }


class GateDecision(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    TOO_LITTLE_TRAFFIC = "too_little_traffic"


@dataclass(frozen=True)
class GateVerdict:
    decision: GateDecision
    reasons: tuple[str, ...]  # why it failed (empty when it passed)
    notes: tuple[str, ...]  # checks that could not be made, and why
    candidate: TrafficFigures
    baseline: TrafficFigures | None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def figures(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.to_dict(),
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
        }


def pool(figures: Iterable[TrafficFigures]) -> TrafficFigures | None:
    """Several deployments as one: counts added, percentiles weighted by requests (None when nothing served)."""
    items = [f for f in figures if f.requests > 0]
    if not items:
        return None
    requests = sum(f.requests for f in items)

    def weighted(values: list[tuple[float | None, int]]) -> float | None:
        known = [(v, n) for v, n in values if v is not None]
        weight = sum(n for _, n in known)
        return sum(v * n for v, n in known) / weight if weight else None

    return TrafficFigures(
        requests=requests,
        non_2xx=sum(f.non_2xx for f in items),
        latency_p90_ms=weighted([(f.latency_p90_ms, f.requests) for f in items]),
        latency_p99_ms=weighted([(f.latency_p99_ms, f.requests) for f in items]),
    )


def judge(candidate: TrafficFigures, baseline: TrafficFigures | None, limits: GateLimits) -> GateVerdict:
    """The verdict on ``candidate`` (see the module docstring)."""
    notes: list[str] = []
    if candidate.requests < limits.min_requests:
        notes.append(f"{candidate.requests} requests on the new deployment, fewer than {limits.min_requests}")
        return GateVerdict(GateDecision.TOO_LITTLE_TRAFFIC, (), tuple(notes), candidate, baseline)
    reasons: list[str] = []
    share = candidate.error_share or 0.0
    if share > limits.max_error_share:
        reasons.append(f"error share {_pct(share)} above the limit {_pct(limits.max_error_share)}")
    for name, value, cap in (
        ("p90", candidate.latency_p90_ms, limits.max_latency_p90_ms),
        ("p99", candidate.latency_p99_ms, limits.max_latency_p99_ms),
    ):
        if cap is not None and value is not None and value > cap:
            reasons.append(f"latency {name} {value:.1f} ms above the limit {cap:g} ms")
    comparable = baseline is not None and baseline.requests >= limits.min_requests
    if baseline is None:
        notes.append("no baseline deployment served in the window: absolute limits only")
    elif not comparable:
        notes.append(
            f"baseline served {baseline.requests} requests, fewer than {limits.min_requests}: absolute limits only"
        )
    if comparable and baseline is not None:
        base_share = baseline.error_share or 0.0
        allowed = base_share + limits.max_error_share_over_baseline
        if share > allowed:
            reasons.append(
                f"error share {_pct(share)} above the baseline's {_pct(base_share)} "
                f"+ {_pct(limits.max_error_share_over_baseline)}"
            )
        for name, value, base in (
            ("p90", candidate.latency_p90_ms, baseline.latency_p90_ms),
            ("p99", candidate.latency_p99_ms, baseline.latency_p99_ms),
        ):
            if value is None or base is None:
                notes.append(f"latency {name} not compared: no figure for {'the baseline' if value else 'it'}")
                continue
            cap = max(base * limits.max_latency_ratio, base + limits.latency_slack_ms)
            if value > cap:
                reasons.append(
                    f"latency {name} {value:.1f} ms above {limits.max_latency_ratio:g} × the baseline's "
                    f"{base:.1f} ms (limit {cap:.1f} ms)"
                )
    decision = GateDecision.FAILED if reasons else GateDecision.PASSED
    return GateVerdict(decision, tuple(reasons), tuple(notes), candidate, baseline)


def _pct(value: float) -> str:
    return f"{value * 100:.2f} %"
