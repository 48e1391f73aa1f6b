"""The pure rules of the rollout: traffic arithmetic, restoration targets, names, the smoke-test check."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.platform_rules import is_valid_deployment_name, model_version_from_ref
from shared.services.rollout_state import (
    Rollout,
    check_scoring_response,
    deployment_name,
    restore_target,
    split_traffic,
)

REQUEST = json.dumps({"data": [{"age": 30}, {"age": 40}]}).encode()

baselines = st.dictionaries(st.sampled_from(["blue", "green", "red", "old-1"]), st.integers(1, 100), min_size=1).map(
    lambda d: restore_target(d, d)  # any baseline summing to 100
)


@given(baseline=baselines, percent=st.integers(1, 100))
def test_split_traffic_always_sums_to_100_and_gives_the_new_deployment_its_step(
    baseline: dict[str, int], percent: int
) -> None:
    out = split_traffic(baseline, "new", percent)
    assert sum(out.values()) == 100
    assert out["new"] == percent
    assert all(v > 0 for v in out.values())
    assert set(out) <= {*baseline, "new"}


@given(baseline=baselines, existing=st.sets(st.sampled_from(["blue", "green", "red", "old-1"])))
def test_restore_target_sums_to_100_over_existing_deployments_or_is_empty(
    baseline: dict[str, int], existing: set[str]
) -> None:
    out = restore_target(baseline, existing)
    assert set(out) <= existing & set(baseline)
    assert sum(out.values()) in (0, 100)
    assert (sum(out.values()) == 0) == (not (existing & set(baseline)))


def test_split_traffic_examples() -> None:
    assert split_traffic({}, "new", 100) == {"new": 100}
    assert split_traffic({"blue": 100}, "new", 10) == {"blue": 90, "new": 10}
    assert split_traffic({"blue": 50, "green": 50}, "new", 25) == {"blue": 38, "green": 37, "new": 25}
    with pytest.raises(ValueError, match=r"1\.\.100"):
        split_traffic({"blue": 100}, "new", 0)


@given(version=st.text(min_size=1, max_size=60), rollout_id=st.text(max_size=40))
def test_deployment_names_are_always_valid(version: str, rollout_id: str) -> None:
    assert is_valid_deployment_name(deployment_name("credit-default", version, rollout_id))


def test_deployment_name_rule() -> None:
    assert deployment_name("m", "12", "r1") != deployment_name("m", "12", "r2")
    assert deployment_name("m", "12", "r1").startswith("v12-")
    for bad in ("ab", "1abc", "abc-", "a" * 33, "ab_c"):
        assert not is_valid_deployment_name(bad)


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        ('{"predictions": [0.1, 0.9]}', None),
        ('"{\\"predictions\\": [0, 1]}"', None),  # JSON text encoded once more by some servers
        ('{"predictions": [0.1]}', "expected 2 predictions"),
        ('{"predictions": [0.1, 1.2]}', "prediction 1"),
        ('{"predictions": [0.1, true]}', "prediction 1"),
        ('{"predictions": [0.1, "0.2"]}', "prediction 1"),
        ('{"predictions": [0.1, NaN]}', "prediction 1"),
        ('{"result": [0.1, 0.2]}', '"predictions"'),
        ("<html>502</html>", "not JSON"),
    ],
)
def test_scoring_response_check(response: str, problem: str | None) -> None:
    result = check_scoring_response(REQUEST, response.encode())
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result


def test_model_version_from_deployment_model_references() -> None:
    assert model_version_from_ref("azureml:credit-default:7", "credit-default") == "7"
    assert model_version_from_ref("credit-default:7", "credit-default") == "7"
    assert model_version_from_ref("azureml://registries/r/models/credit-default/versions/8", "credit-default") == "8"
    arm = (
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w"
        "/models/credit-default/versions/9"
    )
    assert model_version_from_ref(arm, "credit-default") == "9"
    assert model_version_from_ref("azureml:other:7", "credit-default") is None
    assert model_version_from_ref(None, "credit-default") is None


def test_the_document_round_trips_through_json() -> None:
    rollout = Rollout(
        model="m", endpoint="e", version="2", rollout_id="r", deployment="v2-abc123", model_ref="azureml:m:2"
    )
    data = json.loads(json.dumps(rollout.to_dict()))
    assert Rollout.from_dict(data).to_dict() == rollout.to_dict()
    assert data["state"] == "pending"
