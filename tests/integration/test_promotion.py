"""Promotion between two local environments, through the real timer and HTTP functions: staging rolls a version
out and it succeeds → it is shared into the registry folder both environments use and marked a candidate →
production's reconcile timer picks it up once (twice run, or run concurrently) → rolls it out with its own steps;
with approval required it waits until approved. Each environment has its own state store, model registry and
endpoint platform (the fakes at the ports: no azmlinfsrv here, the local platform's deployment of a model folder
is covered in test_local_endpoints)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from ml_assets.src.contracts.champion import CHAMPION_TAG
from ml_assets.src.contracts.promotion_tags import CANDIDATE_FOR_TAG, PROMOTED_FROM_TAG
from shared.context import AppContext, use_context
from shared.local.registry import LocalRegistry
from shared.services.promotion_intake import candidates_key
from shared.services.promotion_publish import published_key
from shared.services.rollout_intake import RolloutConfig, record_model_registered
from shared.services.rollout_state import rollout_key
from shared.services.status import read_status
from shared.settings import Settings
from shared.triggers import promotion, rollout
from tests.fakes.endpoint_platform import Behaviour, FakeEndpointPlatform
from tests.fakes.memory_state_store import MemoryStateStore
from tests.fakes.rollout_harness import MODEL, make_event

RECONCILE = rollout.reconcile_rollouts.build().get_user_function()
APPROVE = promotion.approve_promotion.build().get_user_function()


class Environment:
    def __init__(self, root: Path, shared: Path, name: str, **env: str) -> None:
        self.settings = Settings(
            {
                "MLOPS_MODE": "local",
                "LOCAL_STATE_DIR": str(root / name),
                "LOCAL_PROMOTION_REGISTRY_DIR": str(shared),
                "ENVIRONMENT_NAME": name,
                "PROMOTION_REGISTRY": "shared",
                "ROLLOUT_STEP_DWELL": "PT0S",
                **env,
            }
        )
        self.store = MemoryStateStore()
        self.platform = FakeEndpointPlatform()
        self.registry = LocalRegistry(root / name)
        self.context = AppContext(
            settings=self.settings,
            overrides={"state_store": self.store, "endpoint_platform": self.platform, "model_registry": self.registry},
        )

    def tick(self, times: int = 1) -> None:
        use_context(self.context)
        for _ in range(times):
            RECONCILE(TimerRequest(past_due=False))

    def doc(self, key: str) -> dict[str, Any] | None:
        found = self.store.get(key)
        return found.data if found else None

    def rollout(self) -> dict[str, Any]:
        doc = self.doc(rollout_key(MODEL))
        assert doc is not None
        return doc

    def approve(self, version: str, by: str = "release-manager") -> tuple[int, dict[str, Any]]:
        use_context(self.context)
        request = func.HttpRequest(
            method="POST",
            url=f"http://localhost/api/promotions/{MODEL}/{version}/approve",
            body=json.dumps({"by": by}).encode(),
            route_params={"model": MODEL, "version": version},
        )
        response = APPROVE(request)
        return int(response.status_code), json.loads(response.get_body())


def _model_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "MLmodel").write_text("flavors: {}\n")
    return path


@pytest.fixture
def world(tmp_path: Path) -> tuple[Environment, Path]:
    shared = tmp_path / "registry"
    staging = Environment(tmp_path, shared, "staging", PROMOTE_TO="production")
    return staging, shared


def _train_and_roll_out(staging: Environment, tmp_path: Path, version: str) -> None:
    registered = staging.registry.register(MODEL, _model_folder(tmp_path / f"model-{version}"), tags={"v": version})
    assert registered.version == version
    config = RolloutConfig.from_settings(staging.settings)
    record_model_registered(staging.store, make_event(version), config)
    staging.tick(3)


def test_a_succeeded_staging_rollout_is_rolled_out_once_in_production(world, tmp_path: Path) -> None:
    staging, shared = world
    production = Environment(tmp_path, shared, "production", PROMOTION_SOURCE="staging")
    production.tick()  # nothing promoted yet: no candidate, no rollout
    assert production.doc(rollout_key(MODEL)) is None

    _train_and_roll_out(staging, tmp_path, "1")
    assert staging.rollout()["state"] == "succeeded"
    assert staging.registry.get_model(MODEL, "1").tags[CHAMPION_TAG]  # what serves in staging is its champion
    published = staging.doc(published_key(MODEL))
    assert published["last"]["version"] == "1" and published["last"]["candidate_for"] == "production"
    tags = json.loads((shared / MODEL / "1" / "metadata.json").read_text())["tags"]
    assert (tags[CANDIDATE_FOR_TAG], tags[PROMOTED_FROM_TAG]) == ("production", "staging")
    staging.tick(2)  # published once only
    assert len(staging.doc(published_key(MODEL))["published"]) == 1

    # production's timer, twice at once and then again: one candidate, one rollout
    threads = [threading.Thread(target=production.tick) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    production.tick(3)
    candidates = production.doc(candidates_key(MODEL))["candidates"]
    assert list(candidates) == ["1"]
    assert candidates["1"]["state"] == "rollout_recorded"
    assert candidates["1"]["rollout"]["decision"] == "started"
    doc = production.rollout()
    assert doc["state"] == "succeeded" and doc["version"] == "1"
    assert doc["model_ref"] == str(shared / MODEL / "1")  # deployed from the registry, not a workspace model
    assert len(doc["event_ids"]) == 1 and doc["past"] == []
    assert production.platform.traffic("credit-default") == {doc["deployment"]: 100}
    assert production.doc("champions/credit-default.json")["version"] == "1"
    shown = read_status(production.store)
    assert shown["champions"][MODEL]["version"] == "1" and shown["champions"][MODEL]["tagged"] is False
    assert shown["promotions"][f"{MODEL}/candidates"]["candidates"]["1"]["state"] == "rollout_recorded"
    assert read_status(staging.store)["promotions"][f"{MODEL}/published"]["last"]["version"] == "1"


def test_a_version_rolled_back_in_staging_is_not_promoted(world, tmp_path: Path) -> None:
    staging, shared = world
    _train_and_roll_out(staging, tmp_path, "1")
    staging.platform.behave("2", Behaviour(scoring="bad"))
    _train_and_roll_out(staging, tmp_path, "2")
    assert staging.rollout()["state"] == "failed"
    assert [e["version"] for e in staging.doc(published_key(MODEL))["published"]] == ["1"]
    assert not (shared / MODEL / "2").exists()
    assert CHAMPION_TAG in staging.registry.get_model(MODEL, "1").tags
    assert CHAMPION_TAG not in staging.registry.get_model(MODEL, "2").tags


def test_with_approval_required_the_candidate_waits_until_approved(world, tmp_path: Path) -> None:
    staging, shared = world
    production = Environment(tmp_path, shared, "production", PROMOTION_SOURCE="staging", PROMOTION_APPROVAL="true")
    _train_and_roll_out(staging, tmp_path, "1")

    production.tick(3)
    assert production.doc(candidates_key(MODEL))["candidates"]["1"]["state"] == "awaiting_approval"
    assert production.doc(rollout_key(MODEL)) is None  # nothing deployed while it waits

    status, body = production.approve("1")
    assert status == 200 and body["candidate"]["state"] == "approved"
    assert body["candidate"]["approved_by"] == "release-manager"
    assert production.approve("1")[0] == 200  # a repeated approval changes nothing
    assert production.approve("9")[0] == 404  # not a candidate

    production.tick(3)
    doc = production.rollout()
    assert doc["state"] == "succeeded" and doc["version"] == "1"
    assert production.doc(candidates_key(MODEL))["candidates"]["1"]["state"] == "rollout_recorded"
    assert production.approve("1")[0] == 200  # approving a candidate already rolled out is still idempotent
    assert len(production.rollout()["event_ids"]) == 1


def test_a_follow_up_that_cannot_run_is_logged_and_holds_back_no_rollout(caplog) -> None:
    """No workspace settings (no model registry can be built) and a promotion side half configured: the rollout
    still succeeds; both problems are logged naming the setting, and the tick does not fail."""
    store, platform = MemoryStateStore(), FakeEndpointPlatform()
    settings = Settings({"ROLLOUT_STEP_DWELL": "PT0S", "PROMOTE_TO": "production"})
    use_context(AppContext(settings=settings, overrides={"state_store": store, "endpoint_platform": platform}))
    record_model_registered(store, make_event("4"), RolloutConfig.from_settings(settings))
    with caplog.at_level("ERROR"):
        for _ in range(3):
            RECONCILE(TimerRequest(past_due=False))
    assert store.get(rollout_key(MODEL)).data["state"] == "succeeded"
    errors = " ".join(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert "champion tag not synced, configuration error" in errors and "AZURE_SUBSCRIPTION_ID" in errors
    assert "promotion not published, configuration error" in errors and "ENVIRONMENT_NAME" in errors
