"""The receiving side of promotion on its own: which registry versions are candidates here, approval and
rejection (idempotent, concurrent), and once-only rollouts under concurrent polls."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping

import azure.functions as func
import pytest

from ml_assets.src.contracts.promotion_tags import candidate_tags
from shared.context import AppContext, use_context
from shared.ports import ModelInfo, NotFoundError
from shared.services.promotion_intake import (
    APPROVED,
    AWAITING_APPROVAL,
    IGNORED,
    REJECTED,
    ROLLOUT_RECORDED,
    CandidateError,
    PromotionIntake,
    approve_candidate,
    read_candidates,
    reject_candidate,
)
from shared.services.promotion_publish import PromotionConfig
from shared.services.rollout_state import rollout_key
from shared.settings import Settings
from shared.triggers import promotion
from tests.fakes.memory_state_store import MemoryStateStore
from tests.fakes.rollout_harness import MODEL, Harness, make_policy


class FakePromotionRegistry:
    def __init__(self) -> None:
        self.models: dict[str, dict[str, str]] = {}
        self.listed = 0

    def add(self, version: str, tags: Mapping[str, str]) -> None:
        self.models[version] = dict(tags)

    def share(self, name: str, version: str) -> str:
        return self._ref(version)

    def versions(self, name: str) -> list[ModelInfo]:
        self.listed += 1
        return [ModelInfo(name, v, dict(t), path=self._ref(v)) for v, t in self.models.items()]

    def update_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        if version not in self.models:
            raise NotFoundError(version)
        self.models[version].update(tags)

    @staticmethod
    def _ref(version: str) -> str:
        return f"azureml://registries/shared/models/{MODEL}/versions/{version}"


def _candidate(version: str, target: str = "production", source: str = "staging") -> dict[str, str]:
    return candidate_tags(target, source, "2026-11-24T12:00:00.000000Z", f"rollout-{version}")


def _config(approval: bool = False) -> PromotionConfig:
    return PromotionConfig(MODEL, "production", "shared", None, "staging", approval)


def _intake(store, registry, approval: bool = False) -> PromotionIntake:
    return PromotionIntake(store, lambda: registry, _config(approval), make_policy())


def test_only_versions_marked_for_this_environment_by_its_source_are_candidates() -> None:
    store, registry = MemoryStateStore(), FakePromotionRegistry()
    registry.add("1", {})  # shared but never marked
    registry.add("2", _candidate("2", target="qa"))
    registry.add("3", _candidate("3", source="dev"))
    registry.add("4", _candidate("4"))
    outcome = _intake(store, registry).run()
    assert outcome.found == ["4"] and outcome.recorded == {"4": "started"}
    doc = store.get(rollout_key(MODEL)).data
    assert doc["model_ref"] == "azureml://registries/shared/models/credit-default/versions/4"
    assert doc["registry"] is None  # already in the registry: no sharing step


def test_a_candidate_not_newer_than_the_deployed_version_is_ignored() -> None:
    store, registry = MemoryStateStore(), FakePromotionRegistry()
    h = Harness(store)
    h.register("5")
    h.run()
    registry.add("3", _candidate("3"))
    outcome = _intake(store, registry, approval=True).run()
    assert outcome.found == ["3"]
    assert read_candidates(store, _config())["candidates"]["3"]["state"] == IGNORED
    with pytest.raises(CandidateError) as refused:
        approve_candidate(store, _config(True), "3")
    assert refused.value.status == 409


def test_polls_at_once_and_again_record_one_rollout() -> None:
    store, registry = MemoryStateStore(), FakePromotionRegistry()
    registry.add("2", _candidate("2"))
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(_intake(store, registry).run())) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in range(3):
        outcomes.append(_intake(store, registry).run())
    recorded = [o.recorded for o in outcomes if o.recorded]
    assert recorded == [{"2": "started"}]
    doc = store.get(rollout_key(MODEL)).data
    assert len(doc["event_ids"]) == 1 and doc["version"] == "2"
    assert read_candidates(store, _config())["candidates"]["2"]["state"] == ROLLOUT_RECORDED


def test_approval_is_idempotent_and_concurrent_approvals_record_one_decision() -> None:
    store, registry = MemoryStateStore(), FakePromotionRegistry()
    registry.add("2", _candidate("2"))
    _intake(store, registry, approval=True).run()
    assert read_candidates(store, _config())["candidates"]["2"]["state"] == AWAITING_APPROVAL
    assert store.get(rollout_key(MODEL)) is None

    results = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(approve_candidate(store, _config(True), "2", by=f"op{i}")))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r["state"] for r in results} == {APPROVED}
    entry = read_candidates(store, _config())["candidates"]["2"]
    assert [h["state"] for h in entry["history"]] == [AWAITING_APPROVAL, APPROVED]
    with pytest.raises(CandidateError) as refused:
        reject_candidate(store, _config(True), "2")
    assert refused.value.status == 409

    assert _intake(store, registry, approval=True).run().recorded == {"2": "started"}
    assert approve_candidate(store, _config(True), "2")["state"] == ROLLOUT_RECORDED


def test_a_rejected_candidate_is_never_rolled_out() -> None:
    store, registry = MemoryStateStore(), FakePromotionRegistry()
    registry.add("2", _candidate("2"))
    _intake(store, registry, approval=True).run()
    assert reject_candidate(store, _config(True), "2", by="qa")["state"] == REJECTED
    assert reject_candidate(store, _config(True), "2")["state"] == REJECTED  # idempotent
    with pytest.raises(CandidateError) as refused:
        approve_candidate(store, _config(True), "2")
    assert refused.value.status == 409
    with pytest.raises(CandidateError) as unknown:
        approve_candidate(store, _config(True), "7")
    assert unknown.value.status == 404
    for _ in range(2):
        _intake(store, registry, approval=True).run()
    assert store.get(rollout_key(MODEL)) is None


def _post(route_model: str, version: str, body: bytes, env: dict[str, str]) -> tuple[int, dict]:
    use_context(AppContext(settings=Settings(env), overrides={"state_store": MemoryStateStore()}))
    request = func.HttpRequest(
        method="POST",
        url=f"http://localhost/api/promotions/{route_model}/{version}/approve",
        body=body,
        route_params={"model": route_model, "version": version},
    )
    response = promotion.approve_promotion.build().get_user_function()(request)
    return int(response.status_code), json.loads(response.get_body())


RECEIVING = {"ENVIRONMENT_NAME": "production", "PROMOTION_REGISTRY": "shared", "PROMOTION_SOURCE": "staging"}


@pytest.mark.parametrize(
    ("model", "body", "env", "status"),
    [
        (MODEL, b"{", RECEIVING, 400),
        (MODEL, b"[]", RECEIVING, 400),
        (MODEL, json.dumps({"by": 5}).encode(), RECEIVING, 400),
        (MODEL, json.dumps({"by": "x" * 201}).encode(), RECEIVING, 400),
        (MODEL, b"", {}, 404),  # this environment takes no promotions
        ("other-model", b"", RECEIVING, 404),
        (MODEL, b"", RECEIVING, 404),  # no such candidate
    ],
)
def test_the_approval_route_answers_bad_requests_with_a_4xx(model, body, env, status) -> None:
    code, answer = _post(model, "3", body, env)
    assert code == status and answer["error"]
