"""The bad-release scenario end to end, on small data: the same code path as
``python -m shared.local demo --scenario bad-release``.

Train v1 → rollout → normal traffic → v2 released from v1's own files, faulty only under routed traffic (the local
platform's injection) → safe rollout of v2 with traffic flowing: the smoke test passes, the gate at the first
traffic step fails, the rollout rolls back → v1 serves 100 %. Asserted from the state store (Azurite), the local
platform and ``run.json``, not only from what the demo prints.
"""

from __future__ import annotations

import io
import json

import pytest

from demo.run_folder import latest_run
from demo.scenario import DemoConfig, run_demo
from shared.local.azurite import Azurite
from shared.services.rollout_cleanup import FAILURE_PREFIX, ROLLED_BACK_PREFIX
from shared.services.rollout_gates import GATE_FAILED_PREFIX
from shared.services.rollout_state import rollout_key
from shared.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bad_release(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("bad-release")
    stream = io.StringIO()
    config = DemoConfig(
        out=root / "out",
        state_dir=root / "state",
        storage_connection_string=azurite.connection_string,
        train_rows=2500,
        requests_per_phase=50,
        final_requests=20,
        stage_timeout=180,
        scenario="bad-release",
    )
    record = run_demo(config, stream)
    return {"record": record, "root": root, "output": stream.getvalue(), "config": config, "azurite": azurite}


def test_the_scenario_succeeds_with_its_stages(bad_release: dict) -> None:
    record = bad_release["record"]
    assert record["status"] == "succeeded", record["error"]
    names = [s["name"] for s in record["stages"]]
    assert names[-3:] == [
        "release v2 (faulty under live traffic)",
        "safe rollout v2 (live traffic)",
        "traffic on v1 after the rollback",
    ]
    assert record["config"]["scenario"] == "bad-release"


def test_run_json_records_every_rollout_with_outcome_reason_and_gate_figures(bad_release: dict) -> None:
    run = latest_run(bad_release["root"] / "out")
    assert run is not None
    record = json.loads((run / "run.json").read_text())
    v1, v2 = record["rollouts"]["1"], record["rollouts"]["2"]
    assert v1["outcome"] == "succeeded" and v1["reason"] is None
    assert v2["outcome"] == "rolled_back"
    assert v2["reason"].startswith("gate at 10: error share")
    gate = v2["gate"]
    assert gate["decision"] == "failed" and gate["step"] == "10"
    assert gate["candidate"]["non_2xx"] > 0 and gate["candidate"]["requests"] >= 10
    assert gate["baseline"]["non_2xx"] == 0 and gate["baseline_deployments"] == [v1["deployment"]]
    assert record["injected_fault"] == {"version": "2", "error_share": 0.3}


def test_the_gate_not_the_smoke_test_caught_it_at_the_first_step(bad_release: dict) -> None:
    history = bad_release["record"]["rollouts"]["2"]["history"]
    assert any(h.startswith("traffic: smoke test passed") for h in history), history
    assert not any("50 %" in h and h.startswith("traffic:") and "held" in h for h in history)
    log = (latest_run(bad_release["root"] / "out") / "functions.log").read_text()
    for prefix in (GATE_FAILED_PREFIX, FAILURE_PREFIX, ROLLED_BACK_PREFIX):
        assert log.count(prefix) == 1, prefix


def test_v1_serves_100_percent_and_v2_is_gone(bad_release: dict) -> None:
    from shared.azure.storage import BlobStateStore

    config = bad_release["config"]
    endpoint = json.loads((config.state_dir / "endpoints" / f"{config.endpoint_name}.json").read_text())
    v1 = bad_release["record"]["rollouts"]["1"]["deployment"]
    assert endpoint["traffic"] == {v1: 100}
    v2 = bad_release["record"]["rollouts"]["2"]["deployment"]
    assert endpoint["deployments"][v1]["provisioning_state"] == "Succeeded"
    assert v2 not in endpoint["deployments"] or endpoint["deployments"][v2]["provisioning_state"] == "Deleting"
    env = {**bad_release["record"]["settings"], "STORAGE_CONNECTION_STRING": bad_release["azurite"].connection_string}
    store = BlobStateStore.from_settings(Settings(env))
    doc = store.get(rollout_key(config.model_name))
    assert doc is not None
    assert doc.data["outcome"] == "rolled_back" and doc.data["deployed"]["version"] == "1"
