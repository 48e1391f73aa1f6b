"""The rollout state machine against the in-memory platform that enforces Azure ML's rules.

Given a platform state and a scripted behaviour of the new model version, when the reconciler ticks
(one minute of fake clock apart), then the rollout ends where it must and the platform's rules held
throughout (live traffic summing to 100, no deletion with traffic).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.platform_rules import is_valid_deployment_name
from shared.ports import PlatformError, TransientError
from shared.services.rollout_cleanup import FAILURE_PREFIX
from shared.services.rollout_intake import RolloutDecision
from shared.services.rollout_reconciler import RolloutReconciler
from shared.services.rollout_steps import SUCCESS_PREFIX
from tests.fakes.endpoint_platform import Behaviour, FakeEndpointPlatform, FakeModelRegistry
from tests.fakes.memory_state_store import MemoryStateStore
from tests.fakes.rollout_harness import ENDPOINT, MODEL, Harness, make_policy

BLUE = "blue"


def serving_v1(**policy: object) -> Harness:
    """An endpoint serving version 1 from deployment `blue` at 100 %."""
    h = Harness(MemoryStateStore(), policy=make_policy(**policy))
    h.platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    return h


def failure_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(FAILURE_PREFIX)]


def assert_rules_held(h: Harness) -> None:
    assert h.platform.invariant_violations == []
    for _, live, _mirror in h.platform.traffic_history:
        assert not live or sum(live.values()) == 100


# --- happy paths ---------------------------------------------------------------------------------


def test_first_model_creates_the_endpoint_and_takes_all_traffic(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(MemoryStateStore(), platform=FakeEndpointPlatform(endpoint_polls=2))
    h.platform.behave("1", Behaviour(polls=3))
    assert h.register("1").decision == RolloutDecision.STARTED

    with caplog.at_level(logging.INFO):
        h.run()

    doc = h.doc()
    new = doc["deployment"]
    assert doc["state"] == doc["phase"] == "succeeded"
    assert h.platform.traffic(ENDPOINT) == {new: 100}
    assert h.platform.names(ENDPOINT) == [new]
    assert h.platform.count("begin_create_endpoint") == 1
    assert h.phases() == [
        "pending", "endpoint", "creating", "provisioning", "smoke_test", "traffic", "retiring", "succeeded"
    ]  # fmt: skip
    assert doc["traffic_steps"] == [100]  # nothing to share traffic with: straight to 100 %
    assert doc["deployed"]["version"] == "1" and doc["deployed"]["deployment"] == new
    assert doc["baseline_traffic"] == {} and doc["previous"] == []
    assert any(r.getMessage().startswith(f"{SUCCESS_PREFIX} model={MODEL} version=1") for r in caplog.records)
    assert_rules_held(h)


def test_second_model_goes_through_the_traffic_steps_and_retires_the_old_deployment() -> None:
    h = serving_v1()
    h.platform.behave("2", Behaviour(polls=2))
    h.register("2")

    h.run()

    new = h.doc()["deployment"]
    assert h.phase() == "succeeded"
    assert [live for _, live, _ in h.platform.traffic_history] == [
        {BLUE: 90, new: 10},
        {BLUE: 50, new: 50},
        {new: 100},
    ]
    assert h.platform.names(ENDPOINT) == [new]  # blue retired
    assert h.doc()["deployed"]["version"] == "2"
    assert h.platform.count("invoke") == 4  # after provisioning, then at the end of each of the 3 steps
    assert_rules_held(h)


def test_traffic_steps_wait_for_the_dwell_time() -> None:
    h = serving_v1(step_dwell=timedelta(minutes=10))
    h.register("2")
    h.run(until=lambda d: d["phase"] == "traffic")
    new = h.doc()["deployment"]
    assert h.platform.traffic(ENDPOINT) == {BLUE: 90, new: 10}

    for _ in range(9):  # 9 minutes: still at 10 %
        h.clock.advance(timedelta(minutes=1))
        h.tick()
    assert h.platform.traffic(ENDPOINT) == {BLUE: 90, new: 10}

    h.clock.advance(timedelta(minutes=1))
    h.tick()
    assert h.platform.traffic(ENDPOINT) == {BLUE: 50, new: 50}


def test_mirror_phase_comes_before_live_traffic() -> None:
    h = serving_v1(mirror_percent=20)
    h.register("2")
    h.run()
    new = h.doc()["deployment"]
    assert h.platform.traffic_history[0][1:] == ({BLUE: 100}, {new: 20})
    assert h.platform.traffic_history[1][1:] == ({BLUE: 90, new: 10}, {})
    assert "mirror" in h.phases()
    assert h.phase() == "succeeded"
    assert_rules_held(h)


def test_a_split_baseline_keeps_its_proportions_while_shifting() -> None:
    h = serving_v1()
    h.platform.add_deployment(ENDPOINT, "green", MODEL, "1")
    h.platform.endpoints[ENDPOINT].traffic = {BLUE: 70, "green": 30}
    h.register("2")
    h.run()
    new = h.doc()["deployment"]
    assert h.platform.traffic_history[0][1] == {BLUE: 63, "green": 27, new: 10}
    assert h.platform.traffic_history[1][1] == {BLUE: 35, "green": 15, new: 50}
    assert h.platform.names(ENDPOINT) == [new]
    assert_rules_held(h)


def test_registry_is_used_when_configured() -> None:
    registry = FakeModelRegistry()
    registry.add(MODEL, "2")
    h = Harness(MemoryStateStore(), policy=make_policy(registry="shared-reg"), registry=registry)
    h.platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    h.register("2")
    h.run()
    ref = "azureml://registries/shared-reg/models/credit-default/versions/2"
    assert registry.share_calls == [(MODEL, "2", "shared-reg")]
    assert h.doc()["model_ref"] == ref
    created = [args[0] for name, args in h.platform.calls if name == "begin_create_deployment"]
    assert [spec.model for spec in created] == [ref]
    assert "sharing" in h.phases()


@pytest.mark.parametrize("data_collection", [True, False])
def test_the_deployment_collects_data_as_the_setting_said_when_the_event_arrived(data_collection: bool) -> None:
    h = Harness(MemoryStateStore(), policy=make_policy(data_collection=data_collection))
    h.platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    h.register("2")
    h.run()
    assert h.doc()["data_collection"] is data_collection
    created = [args[0] for name, args in h.platform.calls if name == "begin_create_deployment"]
    assert [spec.data_collection for spec in created] == [data_collection]


def test_a_version_not_newer_than_the_one_serving_is_skipped() -> None:
    h = serving_v1()
    h.platform.add_serving(ENDPOINT, BLUE, MODEL, "7")  # deployed outside this app, no document yet
    h.register("5")
    h.run()
    assert h.phase() == "skipped"
    assert h.platform.traffic(ENDPOINT) == {BLUE: 100}
    assert h.platform.count("begin_create_deployment") == 0
    assert h.doc()["deployed"]["version"] == "7"
    assert h.register("6").decision == RolloutDecision.OLDER


# --- failures and rollback -----------------------------------------------------------------------

FAILURES = {
    "provisioning fails": (Behaviour(provision="fail", polls=2), "provisioning Failed"),
    "smoke test: probabilities out of range": (Behaviour(scoring="bad"), "not a probability"),
    "smoke test: wrong shape": (Behaviour(scoring="shape"), 'no "predictions"'),
    "smoke test: scoring error": (Behaviour(scoring="error"), "HTTP 500"),
    "smoke test fails at the end of 10 %": (Behaviour(good_answers=1), "not a probability"),
    "smoke test fails at the end of 50 %": (Behaviour(good_answers=2), "not a probability"),
    "smoke test fails at the end of 100 %": (Behaviour(good_answers=3), "not a probability"),
}


@pytest.mark.parametrize("case", FAILURES)
def test_failure_at_each_step_rolls_back_to_the_old_deployment(case: str, caplog: pytest.LogCaptureFixture) -> None:
    behaviour, reason = FAILURES[case]
    h = serving_v1()
    h.platform.behave("2", behaviour)
    h.register("2")

    with caplog.at_level(logging.INFO):
        h.run()

    doc = h.doc()
    assert doc["phase"] == "failed"
    assert reason in doc["failure_reason"]
    assert h.platform.traffic(ENDPOINT) == {BLUE: 100}
    assert h.platform.mirror(ENDPOINT) == {}
    assert h.platform.names(ENDPOINT) == [BLUE]  # the failed deployment is deleted
    assert h.phases()[-2:] == ["rolling_back", "failed"]
    lines = failure_lines(caplog)
    assert len(lines) == 1
    assert lines[0].startswith(f"{FAILURE_PREFIX} model={MODEL} version=2 deployment={doc['deployment']} ")
    assert "deployed" not in doc or doc["deployed"] is None or doc["deployed"]["version"] != "2"
    assert_rules_held(h)


def test_failure_during_the_mirror_phase_removes_the_mirror() -> None:
    h = serving_v1(mirror_percent=30)
    h.platform.behave("2", Behaviour(good_answers=1))
    h.register("2")
    h.run()
    assert h.phase() == "failed"
    assert h.platform.traffic(ENDPOINT) == {BLUE: 100}
    assert h.platform.mirror(ENDPOINT) == {}
    assert h.platform.names(ENDPOINT) == [BLUE]


def test_provisioning_that_hangs_times_out_and_rolls_back() -> None:
    h = serving_v1(provisioning_timeout=timedelta(minutes=20))
    h.platform.behave("2", Behaviour(provision="hang"))
    h.register("2")
    ticks = h.run()
    assert h.phase() == "failed"
    assert "ROLLOUT_PROVISIONING_TIMEOUT" in h.doc()["failure_reason"]
    assert 20 <= ticks <= 23
    assert h.platform.names(ENDPOINT) == [BLUE]
    assert h.platform.traffic(ENDPOINT) == {BLUE: 100}


def test_a_rejected_deployment_request_rolls_back() -> None:
    h = serving_v1()
    h.platform.inject("begin_create_deployment", PlatformError("HTTP 400: instance type not available"))
    h.register("2")
    h.run()
    assert h.phase() == "failed"
    assert "instance type not available" in h.doc()["failure_reason"]
    assert h.platform.traffic(ENDPOINT) == {BLUE: 100}


def test_a_rejected_traffic_update_at_a_later_step_rolls_back() -> None:
    h = serving_v1()
    h.register("2")
    h.run(until=lambda d: d["phase"] == "traffic")
    h.platform.inject("set_traffic", PlatformError("HTTP 400: quota exceeded"))
    h.run()
    assert h.phase() == "failed"
    assert h.platform.traffic(ENDPOINT) == {BLUE: 100}
    assert h.platform.names(ENDPOINT) == [BLUE]


def test_first_model_failure_leaves_an_empty_endpoint() -> None:
    h = Harness(MemoryStateStore())
    h.platform.behave("1", Behaviour(scoring="bad"))
    h.register("1")
    h.run()
    assert h.phase() == "failed"
    assert h.platform.traffic(ENDPOINT) == {}
    assert h.platform.names(ENDPOINT) == []


def test_transient_errors_are_retried_without_rollback() -> None:
    h = serving_v1()
    h.platform.inject("get_deployment", TransientError("HTTP 503"), times=3)
    h.platform.inject("invoke", TransientError("HTTP 429"), times=2)
    h.register("2")
    h.run()
    assert h.phase() == "succeeded"
    assert h.doc()["transient_since"] is None


def test_transient_errors_past_the_deadline_roll_back() -> None:
    h = serving_v1(provisioning_timeout=timedelta(minutes=10))
    h.platform.behave("2", Behaviour(scoring="transient"))
    h.register("2")
    h.run()
    doc = h.doc()
    assert doc["phase"] == "failed"
    assert "platform unavailable since" in doc["failure_reason"]
    assert h.platform.names(ENDPOINT) == [BLUE]


def test_rollback_waits_for_a_transient_error_and_then_completes() -> None:
    h = serving_v1()
    h.platform.behave("2", Behaviour(good_answers=1))
    h.register("2")
    h.run(until=lambda d: d["phase"] == "traffic")
    h.platform.inject("set_traffic", TransientError("HTTP 409: operation in progress"), times=2)
    h.clock.advance(timedelta(minutes=5))
    h.tick()  # smoke test fails; the restore hits the 409
    assert h.phase() == "rolling_back"
    assert h.platform.traffic(ENDPOINT)[BLUE] == 90  # not restored yet, and not deleted
    h.run()
    assert h.phase() == "failed"
    assert h.platform.traffic(ENDPOINT) == {BLUE: 100}
    assert h.platform.names(ENDPOINT) == [BLUE]


def test_traffic_changed_behind_the_rollouts_back_is_applied_again() -> None:
    h = serving_v1()
    h.register("2")
    h.run(until=lambda d: d["phase"] == "traffic")
    new = h.doc()["deployment"]
    h.platform.endpoints[ENDPOINT].traffic = {BLUE: 100}  # someone reset it by hand
    h.clock.advance(timedelta(minutes=5))
    h.tick()
    assert h.platform.traffic(ENDPOINT) == {BLUE: 90, new: 10}
    assert h.doc()["traffic_reapplied"] == 1
    h.run()
    assert h.phase() == "succeeded"


# --- supersede -----------------------------------------------------------------------------------


def test_a_newer_version_supersedes_a_rollout_in_its_traffic_steps() -> None:
    h = serving_v1()
    h.register("2")
    h.run(until=lambda d: d["phase"] == "traffic" and d["step"] == 1)
    v2 = h.doc()["deployment"]
    assert h.platform.traffic(ENDPOINT) == {BLUE: 50, v2: 50}

    assert h.register("3").decision == RolloutDecision.SUPERSEDED
    h.tick()
    assert v2 not in h.platform.names(ENDPOINT)
    v3 = h.doc()["deployment"]
    lives = [live for _, live, _ in h.platform.traffic_history]
    # traffic went back to blue before v2 was deleted, and v3 started from blue's 100 %
    assert lives == [{BLUE: 90, v2: 10}, {BLUE: 50, v2: 50}, {BLUE: 100}, {BLUE: 90, v3: 10}]
    assert h.doc()["baseline_traffic"] == {BLUE: 100}
    h.run()

    doc = h.doc()
    assert doc["version"] == "3" and doc["phase"] == "succeeded"
    assert h.platform.names(ENDPOINT) == [doc["deployment"]]
    assert doc["past"][-1]["outcome"] == "superseded" and doc["past"][-1]["version"] == "2"
    assert_rules_held(h)


def test_a_newer_version_supersedes_a_rollout_still_provisioning() -> None:
    h = serving_v1()
    h.platform.behave("2", Behaviour(provision="hang"))
    h.register("2")
    h.run(until=lambda d: d["phase"] == "provisioning")
    v2 = h.doc()["deployment"]
    h.register("3")
    h.run()
    assert h.phase() == "succeeded"
    assert v2 not in h.platform.names(ENDPOINT)
    assert BLUE not in h.platform.names(ENDPOINT)


def test_a_newer_version_during_retirement_builds_on_the_new_deployment() -> None:
    h = Harness(MemoryStateStore(), platform=FakeEndpointPlatform(delete_polls=3))
    h.platform.add_serving(ENDPOINT, BLUE, MODEL, "1")
    h.platform.inject("begin_delete_deployment", TransientError("HTTP 409: endpoint busy"), times=2)
    h.register("2")
    h.run(until=lambda d: d["phase"] == "retiring")
    assert h.doc()["cleanup"][0]["last_error"]  # blue's deletion is being retried
    v2 = h.doc()["deployment"]
    h.register("3")
    h.run()
    doc = h.doc()
    assert doc["phase"] == "succeeded"
    assert doc["previous"] == [v2]  # v3 took its traffic from v2, which served 100 %
    assert h.platform.names(ENDPOINT) == [doc["deployment"]]
    assert_rules_held(h)


# --- event decisions and concurrency -------------------------------------------------------------


def test_event_decisions() -> None:
    h = serving_v1()
    assert h.register("3").decision == RolloutDecision.STARTED
    assert h.register("3").decision == RolloutDecision.DUPLICATE  # same event id
    assert h.register("3", event_id="another").decision == RolloutDecision.DUPLICATE  # same version
    assert h.register("2").decision == RolloutDecision.OLDER
    assert h.register("4", model="other-model").decision == RolloutDecision.FOREIGN_MODEL
    assert h.register("4", tags={"deploy": "False"}).decision == RolloutDecision.SKIP_TAG
    assert h.register("10").decision == RolloutDecision.SUPERSEDED  # numeric, not text, order
    assert h.doc()["version"] == "10"


def test_a_failed_version_is_not_retried_and_older_versions_stay_ignored() -> None:
    h = serving_v1()
    h.platform.behave("4", Behaviour(scoring="bad"))
    h.register("4")
    h.run()
    assert h.register("4", event_id="redelivered").decision == RolloutDecision.DUPLICATE
    assert h.register("3").decision == RolloutDecision.OLDER
    assert h.register("5").decision == RolloutDecision.STARTED


def test_a_reconciler_finding_the_lock_held_does_nothing() -> None:
    h = serving_v1()
    h.register("2")
    with h.store.lock("rollouts"):
        report = h.reconciler().run()
    assert report.acted is False
    assert h.platform.calls == []
    assert h.phase() == "pending"


def test_deployment_names_are_valid_and_unique_per_rollout() -> None:
    h = serving_v1()
    h.register("2")
    first = h.doc()["deployment"]
    h.register("3")
    second = h.doc()["deployment"]
    assert first.startswith("v2-") and second.startswith("v3-")
    assert is_valid_deployment_name(first) and is_valid_deployment_name(second)


def test_the_document_is_plain_json_for_status() -> None:
    h = serving_v1()
    h.register("2")
    h.run(until=lambda d: d["phase"] == "traffic")
    doc = h.doc()
    for key in ("state", "version", "deployment", "previous", "traffic", "step", "history", "failure_reason"):
        assert key in doc
    assert all({"at", "from", "to"} <= set(entry) for entry in doc["history"])


def test_reconciler_with_nothing_recorded_is_idle() -> None:
    store = MemoryStateStore()
    platform = FakeEndpointPlatform()
    report = RolloutReconciler(store, platform, make_policy(), lambda: b"{}").run()
    assert report.acted and report.rollouts == {}
    assert platform.calls == []
