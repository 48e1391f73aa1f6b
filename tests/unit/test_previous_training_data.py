"""Retraining gives the training pipeline the training data's previous version (the data-quality gate's drift check).

The service runs on in-memory ports (``tests/fakes/``): the state store with ETags, a job platform idempotent on the
job name, and the data asset versions as the workspace lists them.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.payloads.alerts import CommonAlert, parse_common_alert
from shared.ports import AssetInput, PipelineJobRequest, PlatformError, TransientError
from shared.services import state_keys
from shared.services.retraining import RetrainConfig, RetrainingService, previous_data_version
from tests.fakes.data_asset_versions import FakeDataAssetVersions
from tests.fakes.job_platform import FakeJobPlatform
from tests.fakes.memory_state_store import MemoryStateStore
from tests.unit.test_alert_payload import metric_alert

ASSET = "credit-default-training"


class Ports:
    def __init__(self, training_data_asset: str, versions: dict[str, list[str]]) -> None:
        self.store = MemoryStateStore()
        self.platform = FakeJobPlatform()
        self.versions = FakeDataAssetVersions(versions)
        config = RetrainConfig("credit-default", training_data_asset, "cpu-cluster", timedelta(hours=6))
        self.service = RetrainingService(lambda: self.store, config, lambda: self.platform, lambda: self.versions)

    def submitted(self, alert: CommonAlert | None = None) -> PipelineJobRequest:
        outcome = self.service.handle(alert or fired())
        assert outcome.decision == "submitted", outcome.reason
        (request,) = self.platform.requests
        return request


def fired(condition: str = "Fired") -> CommonAlert:
    return parse_common_alert(json.dumps(metric_alert(condition=condition)).encode())


def previous_input(request: PipelineJobRequest) -> AssetInput | None:
    return request.inputs.get("previous_training_data")


def test_latest_gets_the_version_below_the_latest_compared_as_numbers() -> None:
    ports = Ports(f"{ASSET}@latest", {ASSET: ["9", "1", "10", "2"]})

    request = ports.submitted()

    assert previous_input(request) == AssetInput("uri_folder", f"azureml:{ASSET}:9")
    assert request.inputs["training_data"] == AssetInput("uri_folder", f"azureml:{ASSET}@latest")
    assert ports.versions.lookups == [ASSET]


def test_a_pinned_version_gets_the_highest_version_below_it_not_below_the_latest() -> None:
    ports = Ports(f"{ASSET}:3", {ASSET: ["1", "2", "3", "4", "5"]})

    request = ports.submitted()

    assert previous_input(request) == AssetInput("uri_folder", f"azureml:{ASSET}:2")
    assert request.inputs["training_data"] == AssetInput("uri_folder", f"azureml:{ASSET}:3")


@pytest.mark.parametrize(
    ("asset", "versions"),
    [
        pytest.param(f"{ASSET}@latest", ["1"], id="latest is the first version"),
        pytest.param(f"{ASSET}:1", ["1", "2"], id="pinned to the first version"),
        pytest.param(f"{ASSET}@latest", [], id="no version listed"),
        pytest.param(f"{ASSET}@latest", ["1", "2", "v3"], id="a version that is not a number"),
        pytest.param(f"{ASSET}:v3", ["1", "2", "v3"], id="pinned to a version that is not a number"),
    ],
)
def test_without_an_earlier_numbered_version_the_job_gets_no_previous_data(asset: str, versions: list[str]) -> None:
    ports = Ports(asset, {ASSET: versions})

    assert previous_input(ports.submitted()) is None


def test_an_asset_the_workspace_does_not_know_gives_no_previous_data_and_still_submits() -> None:
    ports = Ports(f"{ASSET}@latest", {})

    request = ports.submitted()

    assert previous_input(request) is None
    assert "previous_training_data" not in request.inputs


def test_a_transient_lookup_failure_claims_nothing_and_the_retry_submits_once() -> None:
    ports = Ports(f"{ASSET}@latest", {ASSET: ["1", "2"]})
    ports.versions.failures.append(TransientError("list the versions of data asset x: HTTP 503: busy"))

    with pytest.raises(TransientError):
        ports.service.handle(fired())

    assert ports.platform.calls == 0
    assert ports.store.list(state_keys.RETRAINING_ALERTS_PREFIX) == []
    last = ports.store.get(state_keys.RETRAINING_LAST)
    assert last is not None
    decision = last.data["last_decision"]
    assert decision["decision"] == "failed" and "training data versions" in decision["reason"]
    assert "nothing submitted" in decision["reason"]
    # the action group's retry after the 503
    request = ports.submitted()
    assert previous_input(request) == AssetInput("uri_folder", f"azureml:{ASSET}:1")
    assert ports.platform.submissions == 1


def test_a_refused_lookup_claims_nothing_and_submits_nothing() -> None:
    ports = Ports(f"{ASSET}@latest", {ASSET: ["1", "2"]})
    ports.versions.failures.append(PlatformError("list the versions of data asset x: HTTP 403: forbidden"))

    with pytest.raises(PlatformError) as raised:
        ports.service.handle(fired())

    assert not isinstance(raised.value, TransientError)
    assert ports.platform.calls == 0
    assert ports.store.list(state_keys.RETRAINING_ALERTS_PREFIX) == []


def test_a_resolved_alert_looks_nothing_up() -> None:
    ports = Ports(f"{ASSET}@latest", {ASSET: ["1", "2"]})

    assert ports.service.handle(fired("Resolved")).decision == "resolved"
    assert ports.versions.lookups == []


@pytest.mark.parametrize(
    ("asset", "versions", "previous"),
    [
        (f"{ASSET}@latest", ["1", "2", "3"], "2"),
        (f"azureml:{ASSET}@latest", ["2", "11"], "2"),
        (f"{ASSET}:11", ["2", "10", "11", "12"], "10"),
        (f"{ASSET}:7", ["1", "2"], "2"),  # pinned above what is listed: still the highest below it
        (f"{ASSET}:010", ["9", "010"], "9"),
        (f"{ASSET}@latest", ["1", "1.5"], None),
        (f"{ASSET}@latest", ["-1", "2"], None),
    ],
)
def test_previous_data_version(asset: str, versions: list[str], previous: str | None) -> None:
    assert previous_data_version(asset, versions) == previous
