"""The champion is what serves: the tag follows the rollouts' outcomes, never a version that was rolled back."""

from __future__ import annotations

import pytest

from ml_assets.src.contracts.champion import CHAMPION_TAG, pick_champion
from shared.ports import TransientError
from shared.services.champion import ChampionDecision, ChampionKeeper
from tests.fakes.endpoint_platform import Behaviour, FakeEndpointPlatform, FakeModelRegistry
from tests.fakes.memory_state_store import MemoryStateStore
from tests.fakes.rollout_harness import MODEL, Harness


class CountingRegistry(FakeModelRegistry):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.fail_updates: list[Exception] = []

    def list_models(self, name: str):
        self.calls += 1
        return super().list_models(name)

    def update_tags(self, name, version, *, set_tags, remove=()):
        if self.fail_updates and remove:
            raise self.fail_updates.pop(0)
        super().update_tags(name, version, set_tags=set_tags, remove=remove)


def _world() -> tuple[Harness, CountingRegistry, ChampionKeeper]:
    registry = CountingRegistry()
    for v in ("1", "2", "3"):
        registry.add(MODEL, v, {"metric_roc_auc": "0.7"})
    h = Harness(MemoryStateStore(), platform=FakeEndpointPlatform())
    keeper = ChampionKeeper(h.store, lambda: registry, MODEL, clock=h.clock)
    return h, registry, keeper


def _tagged(registry: FakeModelRegistry) -> list[str]:
    return [m.version for m in registry.list_models(MODEL) if CHAMPION_TAG in m.tags]


def test_the_champion_follows_successes_and_never_moves_to_a_rolled_back_version() -> None:
    h, registry, keeper = _world()
    # before any rollout ended well there is no champion
    assert keeper.run().decision == ChampionDecision.NONE_YET

    h.register("1")
    h.run()
    assert h.phase() == "succeeded"
    outcome = keeper.run()
    assert (outcome.decision, outcome.version) == (ChampionDecision.CROWNED, "1")
    assert _tagged(registry) == ["1"]

    # v2 answers badly at the smoke test: rolled back; v1 serves and stays the champion
    h.platform.behave("2", Behaviour(scoring="bad"))
    h.register("2")
    h.run()
    assert h.phase() == "failed"
    assert keeper.run().decision == ChampionDecision.UNCHANGED
    assert _tagged(registry) == ["1"]
    versions = [(m.version, m.tags) for m in registry.list_models(MODEL)]
    assert pick_champion(versions) == "1"

    # v3 succeeds: the tag moves, v1 loses it
    h.register("3")
    h.run()
    assert keeper.run().version == "3"
    assert _tagged(registry) == ["3"]
    assert keeper.current()["version"] == "3"
    assert [e["version"] for e in keeper.current()["history"]] == ["1", "3"]


def test_an_idle_tick_calls_no_registry() -> None:
    h, registry, keeper = _world()
    h.register("1")
    h.run()
    keeper.run()
    calls = registry.calls
    for _ in range(3):
        assert keeper.run().decision == ChampionDecision.UNCHANGED
    assert registry.calls == calls


def test_a_first_rollout_that_fails_leaves_no_champion() -> None:
    h, registry, keeper = _world()
    h.platform.behave("1", Behaviour(provision="fail"))
    h.register("1")
    h.run()
    assert h.phase() == "failed"
    assert keeper.run().decision == ChampionDecision.NONE_YET
    assert _tagged(registry) == []


def test_a_sync_cut_short_leaves_the_new_champion_readable_and_the_next_tick_finishes() -> None:
    h, registry, keeper = _world()
    h.register("1")
    h.run()
    keeper.run()
    h.register("2")
    h.run()
    registry.fail_updates.append(TransientError("throttled"))
    with pytest.raises(TransientError):
        keeper.run()
    # the tag was set on v2 before the removal from v1 failed: both carry it, v2 became champion last
    assert _tagged(registry) == ["1", "2"]
    assert pick_champion((m.version, m.tags) for m in registry.list_models(MODEL)) == "2"
    assert keeper.run().decision == ChampionDecision.CROWNED
    assert _tagged(registry) == ["2"]


def test_a_version_found_serving_becomes_the_champion() -> None:
    h, registry, keeper = _world()
    h.platform.add_serving("credit-default", "blue", MODEL, "3")
    h.register("2")  # older than what serves: skipped, v3 is recorded as deployed
    h.run()
    assert h.phase() == "skipped"
    assert keeper.run().version == "3"
    assert _tagged(registry) == ["3"]
