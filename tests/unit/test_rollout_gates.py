"""The live-metric gates: the verdict on canned figures, and the state machine acting on it.

Given the figures the metrics port answers for the new deployment and the baseline over a step's window, when
the reconciler ticks (one fake minute apart), then the rollout goes on, waits, holds or rolls back at once with
the failing figures recorded and one alertable line, and the platform's rules held throughout.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from shared.ports import TrafficFigures, TransientError
from shared.services.rollout_cleanup import FAILURE_PREFIX, ROLLED_BACK_PREFIX
from shared.services.rollout_gates import GATE_FAILED_PREFIX, GateDecision, GateLimits, judge, pool
from tests.fakes.deployment_metrics import HEALTHY, FakeDeploymentMetrics
from tests.fakes.memory_state_store import MemoryStateStore
from tests.fakes.rollout_harness import ENDPOINT, MODEL, Harness, make_policy

BLUE = "blue"
LIMITS = GateLimits(min_requests=100, low_traffic_wait=timedelta(minutes=10))
ERRORS_5_PCT = TrafficFigures(requests=1000, non_2xx=50, latency_p90_ms=40.0, latency_p99_ms=80.0)
SLOW_3X = TrafficFigures(requests=1000, non_2xx=2, latency_p90_ms=120.0, latency_p99_ms=240.0)
TRICKLE = TrafficFigures(requests=12, non_2xx=0, latency_p90_ms=40.0, latency_p99_ms=80.0)


# --- the verdict -------------------------------------------------------------------------------------------


def test_healthy_figures_pass() -> None:
    verdict = judge(HEALTHY, HEALTHY, LIMITS)
    assert verdict.decision == GateDecision.PASSED
    assert verdict.reasons == ()


def test_error_share_above_the_absolute_limit_fails() -> None:
    verdict = judge(ERRORS_5_PCT, HEALTHY, LIMITS)
    assert verdict.decision == GateDecision.FAILED
    assert "error share 5.00 % above the limit 1.00 %" in verdict.reason


def test_error_share_below_the_absolute_limit_but_above_the_baseline_plus_margin_fails() -> None:
    candidate = TrafficFigures(1000, 8, 40.0, 80.0)  # 0.8 % ≤ 1 %, but the baseline has 0.1 %
    baseline = TrafficFigures(1000, 1, 40.0, 80.0)
    verdict = judge(candidate, baseline, LIMITS)
    assert verdict.decision == GateDecision.FAILED
    assert verdict.reason == "error share 0.80 % above the baseline's 0.10 % + 0.50 %"
    assert judge(candidate, TrafficFigures(1000, 5, 40.0, 80.0), LIMITS).decision == GateDecision.PASSED


def test_three_times_slower_fails_on_p90_and_p99() -> None:
    verdict = judge(SLOW_3X, HEALTHY, LIMITS)
    assert verdict.decision == GateDecision.FAILED
    assert "latency p90 120.0 ms above 1.5 × the baseline's 40.0 ms (limit 65.0 ms)" in verdict.reasons
    assert any(r.startswith("latency p99 240.0 ms") for r in verdict.reasons)


def test_a_latency_difference_within_the_slack_never_fails() -> None:
    fast = TrafficFigures(1000, 0, 2.0, 4.0)
    verdict = judge(TrafficFigures(1000, 0, 6.0, 12.0), fast, LIMITS)  # 3 × slower, but by 4 ms
    assert verdict.decision == GateDecision.PASSED


def test_absolute_latency_limits_apply_without_a_baseline() -> None:
    limits = GateLimits(max_latency_p90_ms=100.0, max_latency_p99_ms=200.0)
    verdict = judge(SLOW_3X, None, limits)
    assert verdict.decision == GateDecision.FAILED
    assert verdict.reasons == (
        "latency p90 120.0 ms above the limit 100 ms",
        "latency p99 240.0 ms above the limit 200 ms",
    )
    assert "no baseline deployment served in the window: absolute limits only" in verdict.notes


def test_too_few_requests_is_no_verdict_and_a_thin_baseline_is_not_compared() -> None:
    assert judge(TRICKLE, HEALTHY, LIMITS).decision == GateDecision.TOO_LITTLE_TRAFFIC
    slow_vs_thin = judge(SLOW_3X, TRICKLE, LIMITS)
    assert slow_vs_thin.decision == GateDecision.PASSED  # nothing to compare with, absolute limits hold
    assert any("fewer than 100: absolute limits only" in n for n in slow_vs_thin.notes)


def test_pooled_baseline_adds_counts_and_weights_percentiles_by_requests() -> None:
    pooled = pool([TrafficFigures(300, 3, 10.0, 20.0), TrafficFigures(100, 1, 50.0, None), TrafficFigures(0, 0)])
    assert pooled == TrafficFigures(400, 4, 20.0, 20.0)
    assert pool([TrafficFigures(0, 0)]) is None


# --- the state machine -------------------------------------------------------------------------------------


def gated(**policy: object) -> tuple[Harness, FakeDeploymentMetrics]:
    """v1 serves 100 % from `blue`; gates on, one-minute dwell, ten-minute bake."""
    values: dict[str, object] = {"gate": LIMITS, "step_dwell": timedelta(minutes=1), "bake": timedelta(minutes=10)}
    values.update(policy)
    h = Harness(MemoryStateStore(), policy=make_policy(**values))
    h.platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    metrics = FakeDeploymentMetrics(h.platform)
    h.metrics = metrics
    return h, metrics


def lines(caplog: pytest.LogCaptureFixture, prefix: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


def run_until_state(h: Harness, state: str, max_ticks: int = 40) -> None:
    h.run(until=lambda d: d["phase"] == state, max_ticks=max_ticks)


def assert_rolled_back_to_blue(h: Harness) -> None:
    doc = h.doc()
    assert doc["phase"] == "failed" and doc["outcome"] == "rolled_back", doc["history"]
    assert h.platform.traffic(ENDPOINT) == {BLUE: 100}
    assert h.platform.names(ENDPOINT) == [BLUE]
    assert h.platform.invariant_violations == []


def test_healthy_version_passes_every_step_bakes_then_retires(caplog: pytest.LogCaptureFixture) -> None:
    h, _ = gated()
    h.register("2")
    h.run()
    doc = h.doc()
    assert doc["phase"] == "succeeded" and doc["outcome"] == "succeeded"
    assert h.phases()[-4:] == ["traffic", "bake", "retiring", "succeeded"]
    assert [g["step"] for g in doc["gates"]] == ["10", "50", "100", "bake"]
    assert all(g["decision"] == "passed" for g in doc["gates"])
    assert doc["gate"]["candidate"]["requests"] == 1000 and doc["gate"]["baseline_deployments"] == [BLUE]
    # the bake's window is the bake: it starts when 100 % was set and lasts ROLLOUT_BAKE
    bake = doc["gates"][-1]["window"]
    assert bake["end"] > bake["start"]
    assert h.platform.names(ENDPOINT) == [doc["deployment"]]
    assert lines(caplog, GATE_FAILED_PREFIX) == []


def test_the_old_deployment_exists_until_the_bake_has_passed() -> None:
    h, _ = gated()
    h.register("2")
    run_until_state(h, "bake")
    assert BLUE in h.platform.names(ENDPOINT)
    assert h.doc()["deployed"] is None  # not the deployed version before the bake passed
    h.clock.advance(timedelta(minutes=5))
    h.tick()
    assert h.doc()["phase"] == "bake" and BLUE in h.platform.names(ENDPOINT)


@pytest.mark.parametrize("failing_at", ["10", "50", "100", "bake"])
def test_a_failing_gate_rolls_back_at_once_at_every_step_and_during_the_bake(
    failing_at: str, caplog: pytest.LogCaptureFixture
) -> None:
    h, metrics = gated()
    h.register("2")
    order = ["10", "50", "100", "bake"]
    # healthy until the step under test is judged
    judged_before = order.index(failing_at)
    h.run(
        until=lambda d: (
            len([g for g in d["gates"] if g["decision"] == "passed"]) == judged_before
            and (d["phase"] == "bake" if failing_at == "bake" else d["step"] == order.index(failing_at))
        )
    )
    metrics.set("2", ERRORS_5_PCT)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        h.run()
    doc = h.doc()
    assert_rolled_back_to_blue(h)
    assert doc["gate"]["step"] == failing_at and doc["gate"]["decision"] == "failed"
    assert doc["gate"]["candidate"] == ERRORS_5_PCT.to_dict()
    assert doc["failure_reason"].startswith(f"gate at {failing_at}: error share 5.00 %")
    [gate_line] = lines(caplog, GATE_FAILED_PREFIX)
    assert f"step={failing_at} " in gate_line and '"non_2xx": 50' in gate_line
    assert len(lines(caplog, FAILURE_PREFIX)) == 1
    [rolled] = lines(caplog, ROLLED_BACK_PREFIX)
    assert '"decision": "failed"' in rolled
    assert doc["past"] == [] and doc["deployed"] is None


def test_a_slow_version_is_rolled_back_at_the_first_step() -> None:
    h, metrics = gated()
    metrics.set("2", SLOW_3X)
    h.register("2")
    h.run()
    assert_rolled_back_to_blue(h)
    assert h.doc()["gate"]["step"] == "10"
    assert "latency p90 120.0 ms" in h.doc()["failure_reason"]


def test_the_rollback_restores_the_traffic_found_before_and_deletes_only_the_new_deployment() -> None:
    h, metrics = gated()
    h.platform.add_deployment(ENDPOINT, "green", MODEL, "1")
    h.platform.set_traffic(ENDPOINT, {BLUE: 70, "green": 30})
    metrics.set("2", ERRORS_5_PCT)
    h.register("2")
    h.run()
    assert h.platform.traffic(ENDPOINT) == {BLUE: 70, "green": 30}
    assert sorted(h.platform.names(ENDPOINT)) == [BLUE, "green"]
    assert h.doc()["gate"]["baseline_deployments"] == [BLUE, "green"]


def test_too_little_traffic_waits_then_holds_for_an_operator() -> None:
    h, metrics = gated()
    metrics.set("2", TRICKLE)
    h.register("2")
    run_until_state(h, "traffic")
    for _ in range(9):
        h.clock.advance(timedelta(minutes=1))
        h.tick()
    doc = h.doc()
    assert doc["step"] == 0 and doc["awaiting_approval"] is None
    assert doc["gate"]["decision"] == "too_little_traffic" and doc["gate"]["low_traffic"].startswith("waiting until")
    h.clock.advance(timedelta(minutes=3))
    h.tick()
    doc = h.doc()
    assert doc["phase"] == "traffic" and doc["step"] == 0
    assert doc["awaiting_approval"] == "low-traffic:10"
    assert doc["gate"]["low_traffic"] == "held for an operator (ROLLOUT_GATE_LOW_TRAFFIC=hold)"
    for _ in range(5):  # held: nothing moves
        h.clock.advance(timedelta(minutes=1))
        h.tick()
    assert h.doc()["step"] == 0 and h.platform.invariant_violations == []


def test_a_held_step_goes_on_when_enough_traffic_arrives() -> None:
    h, metrics = gated()
    metrics.set("2", TRICKLE)
    h.register("2")
    run_until_state(h, "traffic")
    h.run(until=lambda d: d["awaiting_approval"] == "low-traffic:10")
    metrics.set("2", HEALTHY)
    h.run(until=lambda d: d["step"] == 1)
    assert h.doc()["awaiting_approval"] is None


def test_too_little_traffic_proceeds_when_the_setting_says_so_and_records_it() -> None:
    limits = GateLimits(min_requests=100, low_traffic_wait=timedelta(minutes=3), low_traffic_action="proceed")
    h, metrics = gated(gate=limits)
    metrics.set("2", TRICKLE)
    h.register("2")
    h.run()
    doc = h.doc()
    assert doc["phase"] == "succeeded"
    proceeded = [g for g in doc["gates"] if g.get("low_traffic", "").startswith("proceeded")]
    assert [g["step"] for g in proceeded] == ["10", "50", "100", "bake"]
    assert any("too little traffic, proceeded" in e.get("detail", "") for e in doc["history"])


def test_a_gate_that_fails_after_waiting_for_traffic_still_rolls_back() -> None:
    h, metrics = gated()
    metrics.set("2", TRICKLE)
    h.register("2")
    run_until_state(h, "traffic")
    h.clock.advance(timedelta(minutes=3))
    h.tick()
    metrics.set("2", ERRORS_5_PCT)
    h.run()
    assert_rolled_back_to_blue(h)


def test_the_mirror_step_is_judged_on_the_mirrored_traffic() -> None:
    h, metrics = gated(mirror_percent=20)
    metrics.set("2", HEALTHY)  # live figures are fine; the mirrored copies fail
    metrics.set("2", ERRORS_5_PCT, mirrored=True)
    h.register("2")
    h.run()
    assert_rolled_back_to_blue(h)
    doc = h.doc()
    assert doc["gate"]["step"] == "mirror" and doc["gate"]["mirrored"] is True
    assert [c[4] for c in metrics.calls[:2]] == [True, False]  # candidate mirrored, baseline live
    assert h.platform.mirror(ENDPOINT) == {}


def test_a_healthy_mirror_step_passes_then_traffic_steps_follow() -> None:
    h, metrics = gated(mirror_percent=20)
    metrics.set("*", HEALTHY, mirrored=True)
    h.register("2")
    h.run()
    assert h.doc()["phase"] == "succeeded"
    assert h.doc()["gates"][0]["step"] == "mirror"


def test_metrics_unavailable_is_retried_not_a_rollback() -> None:
    h, metrics = gated()
    h.register("2")
    run_until_state(h, "traffic")
    metrics.failures = [TransientError("HTTP 503 Service Unavailable")] * 3
    for _ in range(4):
        h.clock.advance(timedelta(minutes=1))
        h.tick()
    assert h.doc()["phase"] == "traffic" and "503" in (h.doc()["last_error"] or "")
    h.run()
    assert h.doc()["phase"] == "succeeded"


def test_the_first_model_on_an_empty_endpoint_is_not_gated() -> None:
    h = Harness(MemoryStateStore(), policy=make_policy(gate=LIMITS, bake=timedelta(minutes=10)))
    metrics = FakeDeploymentMetrics(h.platform, default=None)
    h.metrics = metrics
    h.register("1")
    h.run()
    doc = h.doc()
    assert doc["phase"] == "succeeded" and doc["gate"]["decision"] == "skipped"
    assert metrics.calls == []


def test_gates_off_never_query_metrics() -> None:
    h, metrics = gated(gate=None)
    metrics.set("2", ERRORS_5_PCT)
    h.register("2")
    h.run()
    assert h.doc()["phase"] == "succeeded" and metrics.calls == []


def test_the_record_is_plain_json() -> None:
    h, metrics = gated()
    metrics.set("2", ERRORS_5_PCT)
    h.register("2")
    h.run()
    json.dumps(h.doc(), allow_nan=False)


def test_a_step_waiting_for_approval_is_judged_on_every_tick_but_recorded_once() -> None:
    h, metrics = gated(approval_steps=("50",))
    h.register("2")
    h.run(until=lambda d: d["awaiting_approval"] == "50")
    for _ in range(5):
        h.clock.advance(timedelta(minutes=1))
        h.tick()
    doc = h.doc()
    assert [g["step"] for g in doc["gates"]] == ["10"]
    assert doc["gate"]["window"]["end"] == doc["updated_at"]  # the latest figures
    metrics.set("2", ERRORS_5_PCT)  # still judged while it waits: a failure rolls back
    h.run()
    assert_rolled_back_to_blue(h)
