"""Drives the rollout service against the fake platform with a controllable clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.payloads.events import ModelRegisteredEvent
from shared.ports import DeploymentMetrics, StateStore
from shared.services.rollout_intake import RecordOutcome, RolloutConfig, record_model_registered
from shared.services.rollout_reconciler import RolloutReconciler, TickOutcome
from shared.services.rollout_state import rollout_key
from tests.fakes.endpoint_platform import FakeEndpointPlatform, FakeModelRegistry, SimulatedCrash

MODEL = "credit-default"
ENDPOINT = "credit-default"

RECORD = {
    "credit_limit": 1000.0,
    "sex": "female",
    "education": "university",
    "marriage": "married",
    "age": 35,
    **{f"repayment_status_{i}": "duly_paid" for i in range(1, 7)},
    **{f"bill_amount_{i}": 100.0 for i in range(1, 7)},
    **{f"payment_amount_{i}": 50.0 for i in range(1, 7)},
}
SAMPLE_REQUEST = json.dumps({"data": [RECORD, {**RECORD, "age": 52}]}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def make_policy(**overrides: Any) -> RolloutConfig:
    values: dict[str, Any] = {
        "model_name": MODEL,
        "endpoint_name": ENDPOINT,
        "traffic_steps": (10, 50, 100),
        "step_dwell": timedelta(minutes=5),
        "provisioning_timeout": timedelta(minutes=30),
        "mirror_percent": 0,
        "skip_tag": ("deploy", "false"),
        "registry": None,
        "instance_type": "Standard_DS3_v2",
    }
    values.update(overrides)
    return RolloutConfig(**values)


def make_event(
    version: str, event_id: str | None = None, tags: dict[str, str] | None = None, model: str = MODEL
) -> ModelRegisteredEvent:
    return ModelRegisteredEvent(
        event_id=event_id or f"evt-{model}-{version}",
        model_name=model,
        version=version,
        tags=tags or {},
        subject=f"models/{model}:{version}",
    )


class Harness:
    def __init__(
        self,
        store: StateStore,
        *,
        platform: FakeEndpointPlatform | None = None,
        policy: RolloutConfig | None = None,
        registry: FakeModelRegistry | None = None,
        sample_request: Callable[[], bytes] = lambda: SAMPLE_REQUEST,
        metrics: DeploymentMetrics | None = None,
    ) -> None:
        self.store = store
        self.platform = platform or FakeEndpointPlatform()
        self.policy = policy or make_policy()
        self.registry = registry
        self.clock = Clock()
        self.sample_request = sample_request
        self.metrics = metrics
        self.crashes = 0

    def reconciler(self) -> RolloutReconciler:
        return RolloutReconciler(
            self.store,
            self.platform,
            self.policy,
            self.sample_request,
            registry=self.registry,
            metrics=self.metrics,
            clock=self.clock,
        )

    def register(self, version: str, **kwargs: Any) -> RecordOutcome:
        return record_model_registered(self.store, make_event(version, **kwargs), self.policy, clock=self.clock)

    def tick(self) -> TickOutcome | None:
        """One timer run; a SimulatedCrash kills it (and is counted), like a process dying."""
        try:
            return self.reconciler().run()
        except SimulatedCrash:
            self.crashes += 1
            return None

    def doc(self) -> dict[str, Any]:
        found = self.store.get(rollout_key(MODEL))
        assert found is not None
        return found.data

    def phase(self) -> str:
        return str(self.doc()["phase"])

    def run(self, until: Callable[[dict[str, Any]], bool] | None = None, *, max_ticks: int = 60) -> int:
        """Tick once a minute (clock) until the rollout is finished (or ``until``); returns the ticks used."""
        done = until or (lambda d: d["phase"] in ("succeeded", "failed", "skipped") and not d["cleanup"])
        for n in range(1, max_ticks + 1):
            self.tick()
            if done(self.doc()):
                return n
            self.clock.advance(timedelta(minutes=1))
        raise AssertionError(f"not done after {max_ticks} ticks: phase {self.phase()}, doc {json.dumps(self.doc())}")

    def phases(self) -> list[str]:
        """The phases the rollout went through, in order, without repeats."""
        out: list[str] = []
        for entry in self.doc()["history"]:
            if not out or out[-1] != entry["to"]:
                out.append(entry["to"])
        return out
