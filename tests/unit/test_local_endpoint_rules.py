"""The local endpoint platform without any azmlinfsrv process: Azure's rules (shared with the fake platform),
the weighted choice, the failure text, and everything the router and the platform do before a deployment
runs (liveness, no traffic → 503, unknown deployment → 404, an unknown or unusable model → Failed at once
with no process, the state file, close)."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from shared import platform_rules
from shared.context import AppContext
from shared.local.endpoint_deployment import LOCAL_DATA_COLLECTION_ENV, deployment_env, startup_error
from shared.local.endpoint_platform import LocalEndpointPlatform
from shared.local.endpoint_router import DEPLOYMENT_HEADER, NO_DEPLOYMENT, pick
from shared.local.registry import LocalRegistry
from shared.ports import DeploymentSpec, NotFoundError, PlatformError, TransientError
from shared.settings import Settings
from tests.fakes.endpoint_platform import Behaviour, FakeEndpointPlatform

EP = "credit-default"


def _states(**states: str):
    return states.get


# --- the rules ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("traffic", "mirror", "message"),
    [
        ({"a": 60, "b": 30}, {}, "traffic must sum to 100, got 90"),
        ({"a": 150}, {}, "traffic values must be in 0..100"),
        ({"a": 100, "b": -1}, {}, "traffic values must be in 0..100"),
        ({"ghost": 100}, {}, "deployment ghost does not exist or is not usable"),
        ({"broken": 100}, {}, "deployment broken does not exist or is not usable"),
        ({"new": 100}, {}, "deployment new is Creating"),
        ({"a": 100}, {"b": 51}, "mirror traffic is at most 50 %"),
        ({"a": 50, "b": 50}, {"b": 10}, "cannot mirror to a deployment with live traffic"),
        ({}, {"b": 10}, "mirror traffic needs live traffic"),
    ],
)
def test_traffic_rules_refuse_what_azure_refuses(traffic, mirror, message) -> None:
    states = _states(a="Succeeded", b="Succeeded", broken="Failed", new="Creating")
    with pytest.raises(PlatformError, match=message) as caught:
        platform_rules.check_traffic(traffic, mirror, states)
    assert str(caught.value).startswith("HTTP 400: ")


def test_traffic_rules_keep_only_positive_shares() -> None:
    states = _states(a="Succeeded", b="Succeeded", c="Succeeded")
    live, mirror = platform_rules.check_traffic({"a": 70, "b": 30, "c": 0}, {"c": 20}, states)
    assert (live, mirror) == ({"a": 70, "b": 30}, {"c": 20})
    assert platform_rules.check_traffic({"a": 0}, None, states) == ({}, {})  # nothing serves: allowed


def test_the_fake_platform_applies_the_same_rules() -> None:
    fake = FakeEndpointPlatform()
    fake.add_serving(EP, "blue", "credit-default", "1")
    fake.add_deployment(EP, "green", "credit-default", "2")
    for call in (
        lambda: fake.set_traffic(EP, {"blue": 100}, {"green": 51}),
        lambda: fake.begin_delete_deployment(EP, "blue"),
        lambda: fake.begin_create_deployment(_spec("x", "azureml:credit-default:3", "3")),
    ):
        with pytest.raises(PlatformError):
            call()
    assert fake.traffic(EP) == {"blue": 100} and fake.names(EP) == ["blue", "green"]


@pytest.mark.parametrize(
    ("name", "valid"),
    [("blue", True), ("v1-abc123", True), ("ab", False), ("1blue", False), ("blue-", False), ("b" * 33, False)],
)
def test_deployment_names_follow_azure(name: str, valid: bool) -> None:
    if valid:
        platform_rules.check_deployment_name(name)
    else:
        with pytest.raises(PlatformError, match="invalid deployment name"):
            platform_rules.check_deployment_name(name)


# --- the weighted choice and the failure text ---------------------------------------------------------------


def test_the_router_picks_deployments_in_proportion_to_their_traffic() -> None:
    rng = random.Random(3)
    picks = [pick(rng, {"blue": 80, "green": 20}) for _ in range(20_000)]
    share = picks.count("green") / len(picks)
    assert abs(share - 0.2) < 0.02  # sd 0.0028: 7 sigma
    assert pick(rng, {}) is None
    assert {pick(rng, {"blue": 100}) for _ in range(100)} == {"blue"}


def test_the_failure_text_names_the_root_cause_and_keeps_the_tail() -> None:
    output = [
        "Traceback (most recent call last):",
        '  File "score.py", line 80, in init',
        "yaml.parser.ParserError: while parsing a flow node",
        "The above exception was the direct cause of the following exception:",
        "azureml_inference_server_http.server.user_script.UserScriptException: Caught an unhandled exception",
        "gunicorn.error - Reason: Worker failed to boot.",
    ]
    text = startup_error(RuntimeError("azmlinfsrv exited with 3:\nmore"), output)
    first, rest = text.split("\n", 1)
    assert first == "azmlinfsrv exited with 3: yaml.parser.ParserError: while parsing a flow node"
    assert rest.endswith("Worker failed to boot.")
    assert startup_error(RuntimeError("did not become ready within 5s"), []) == "did not become ready within 5s"


# --- the platform before any process runs --------------------------------------------------------------------


@pytest.fixture
def platform(tmp_path: Path):
    with LocalEndpointPlatform(tmp_path / "state", LocalRegistry(tmp_path / "state"), tmp_path / "logs") as p:
        p.begin_create_endpoint(EP)
        yield p


def _spec(name: str, model: str, version: str = "1") -> DeploymentSpec:
    return DeploymentSpec(EP, name, model, "credit-default", version)


def test_a_new_endpoint_routes_nothing_and_says_so(platform: LocalEndpointPlatform) -> None:
    state = platform.get_endpoint(EP)
    assert state is not None and state.provisioning_state == "Succeeded"
    assert state.traffic == {} and state.scoring_uri and state.scoring_uri.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(state.scoring_uri.removesuffix("score"), timeout=5) as resp:
        assert resp.status == 200  # liveness

    status, body, served = platform.score(EP, b'{"data": []}', headers={"x-request-id": "r-1"})

    assert (status, served) == (503, "")
    assert json.loads(body) == {"error": NO_DEPLOYMENT, "request_id": "r-1"}
    status, body, _ = platform.score(EP, b"{}", headers={DEPLOYMENT_HEADER: "ghost"})
    assert status == 404 and "deployment ghost not found" in json.loads(body)["error"]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(state.scoring_uri + "x", data=b"{}"), timeout=5)
    assert caught.value.code == 404
    assert platform.served_counts(EP) == {}
    assert platform.get_endpoint("other") is None and platform.list_deployments("other") == []


def test_an_unknown_model_fails_at_once_without_a_process(platform: LocalEndpointPlatform) -> None:
    platform.begin_create_deployment(_spec("blue", "azureml:credit-default:7", "7"))

    state = platform.get_deployment(EP, "blue")
    assert state is not None and state.provisioning_state == "Failed"
    assert state.model == "azureml:credit-default:7"
    assert "credit-default version 7 is not registered" in (state.error or "")
    saved = json.loads(platform.state_file(EP).read_text())["deployments"]["blue"]
    assert saved["provisioning_state"] == "Failed" and saved["pid"] is None and saved["error"] == state.error
    # Azure's rules for a failed deployment, with the fake's words
    fake = FakeEndpointPlatform()
    fake.begin_create_endpoint(EP)
    fake.get_endpoint(EP)
    fake.behave("7", Behaviour(provision="fail"))
    fake.begin_create_deployment(_spec("blue", "azureml:credit-default:7", "7"))
    fake.get_deployment(EP, "blue")
    for target in (fake, platform):
        with pytest.raises(PlatformError) as caught:
            target.set_traffic(EP, {"blue": 100})
        assert str(caught.value) == "HTTP 400: deployment blue does not exist or is not usable"
        with pytest.raises(PlatformError, match="exists with model azureml:credit-default:7"):
            target.begin_create_deployment(_spec("blue", "azureml:credit-default:8", "8"))
        target.begin_create_deployment(_spec("blue", "azureml:credit-default:7", "7"))  # the same: a no-op
    with pytest.raises(PlatformError, match="not ready"):
        platform.invoke(EP, "blue", b"{}")

    platform.begin_delete_deployment(EP, "blue")

    deadline = time.monotonic() + 10
    while platform.get_deployment(EP, "blue") is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert platform.get_deployment(EP, "blue") is None
    assert json.loads(platform.state_file(EP).read_text())["deployments"] == {}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("azureml://registries/shared/models/credit-default/versions/1", "no Azure ML registries"),
        ("azureml:credit-default@latest", "no Azure ML registries"),
        ("/no/such/folder", "neither azureml:<name>:<version> nor a model folder"),
    ],
)
def test_unusable_model_references_fail_with_a_reason(platform: LocalEndpointPlatform, model, expected) -> None:
    platform.begin_create_deployment(_spec("blue", model))
    state = platform.get_deployment(EP, "blue")
    assert state is not None and state.provisioning_state == "Failed" and expected in (state.error or "")


def test_calls_on_a_missing_endpoint_or_with_bad_names_are_refused(platform: LocalEndpointPlatform) -> None:
    with pytest.raises(NotFoundError):
        platform.begin_create_deployment(DeploymentSpec("nowhere", "blue", "azureml:m:1", "m", "1"))
    with pytest.raises(NotFoundError):
        platform.set_traffic("nowhere", {})
    with pytest.raises(NotFoundError):
        platform.invoke(EP, "ghost", b"{}")
    with pytest.raises(PlatformError, match="invalid deployment name"):
        platform.begin_create_deployment(_spec("b_1", "azureml:credit-default:1"))
    with pytest.raises(PlatformError, match="invalid endpoint name"):
        platform.begin_create_endpoint("x")
    platform.begin_delete_deployment(EP, "ghost")  # nothing to delete: fine, as on Azure
    platform.set_traffic(EP, {})  # no deployment, no traffic: allowed


def test_close_is_idempotent_and_stops_the_router(tmp_path: Path) -> None:
    platform = LocalEndpointPlatform(tmp_path, LocalRegistry(tmp_path), tmp_path / "logs")
    platform.begin_create_endpoint(EP)

    platform.close()
    platform.close()

    with pytest.raises(TransientError):
        platform.score(EP, b"{}")
    with pytest.raises(PlatformError, match="closed"):
        platform.begin_create_endpoint("another")
    assert json.loads(platform.state_file(EP).read_text())["running"] is False


def test_the_context_builds_the_local_platform_in_local_mode(tmp_path: Path) -> None:
    context = AppContext(settings=Settings({"MLOPS_MODE": "local", "LOCAL_STATE_DIR": str(tmp_path)}))
    platform = context.endpoint_platform()
    try:
        assert isinstance(platform, LocalEndpointPlatform)
        assert platform.state_dir == tmp_path and platform.console_log_root == tmp_path / "console-logs"
        assert context.endpoint_platform() is platform
    finally:
        platform.close()


def test_a_deployment_with_data_collection_runs_the_collector_in_local_capture_mode() -> None:
    off = deployment_env(_spec("blue", "azureml:credit-default:1"))
    on = deployment_env(replace(_spec("blue", "azureml:credit-default:1"), data_collection=True))
    assert off == {"DEPLOYMENT_NAME": "blue", "ENDPOINT_NAME": EP, "MODEL_NAME": "credit-default", "MODEL_VERSION": "1"}
    assert on == {**off, **LOCAL_DATA_COLLECTION_ENV}
    assert on["AZUREML_MDC_ENABLED"] == "true" and on["AZUREML_MDC_LOCAL_CAPTURE"] == "true"
