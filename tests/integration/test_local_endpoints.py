"""The local endpoint platform with real azmlinfsrv processes: the rollout reconciler deploys a first version
through it, a second deployment goes Creating → Succeeded, the router splits, overrides and mirrors traffic,
refuses what the fake platform refuses with the same errors, failed deployments leave no process, the console-log
files hold exactly the requests sent, and close() / atexit leave no process behind.

Each azmlinfsrv start costs seconds: the module starts three (the reconciler's, ``green``, and one broken model
that fails) and two more that are stopped while starting, and shares them through module fixtures.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from ml_assets.src.contracts.console_log import Request, RequestAssembler
from ml_assets.src.contracts.feature_schema import FEATURES
from ml_assets.src.training import prepare, synthetic, train
from shared.local.console_logs import ConsoleLogSource
from shared.local.endpoint_platform import LocalEndpointPlatform
from shared.local.endpoint_router import DEPLOYMENT_HEADER
from shared.local.registry import LocalRegistry
from shared.payloads.events import ModelRegisteredEvent
from shared.ports import DeploymentSpec, NotFoundError, PlatformError
from shared.services.rollout_intake import RolloutConfig, record_model_registered
from shared.services.rollout_reconciler import RolloutReconciler
from shared.services.rollout_state import rollout_key
from tests.fakes.endpoint_platform import FakeEndpointPlatform
from tests.fakes.memory_state_store import MemoryStateStore

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "ml_assets" / "endpoints" / "sample-request.json"
MODEL = "credit-default"
EP = "credit-default"


@dataclass
class World:
    state_dir: Path
    registry: LocalRegistry
    platform: LocalEndpointPlatform
    logs: Path


def _train(root: Path) -> Path:
    synthetic.generate(1200, seed=5).to_csv(root / "d.csv", index=False)
    args = ["--training_data", str(root / "d.csv"), "--train_data", str(root / "tr"), "--test_data", str(root / "te")]
    assert prepare.main(prepare.parse_args(args)) == 0
    assert train.main(train.parse_args(["--train_data", str(root / "tr"), "--model_output", str(root / "m")])) == 0
    return root / "m"


def _processes(platform: LocalEndpointPlatform) -> list[psutil.Process]:
    """The live processes of every deployment (azmlinfsrv and its gunicorn worker), from the state files."""
    found = []
    for path in platform.endpoints_dir.glob("*.json"):
        for dep in json.loads(path.read_text())["deployments"].values():
            if dep["pid"]:
                with_children = [psutil.Process(dep["pid"])]
                with_children += with_children[0].children(recursive=True)
                found += with_children
    return found


def _alive(processes: list[psutil.Process], grace: float = 5.0) -> list[psutil.Process]:
    """The processes still running after ``grace`` seconds (a SIGKILLed worker takes a moment to die)."""
    deadline = time.monotonic() + grace
    while True:
        alive = []
        for p in processes:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                continue
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("local-endpoints")
    state = root / "state"
    registry = LocalRegistry(state)
    model_dir = _train(root)
    registry.register(MODEL, model_dir)  # version 1
    registry.register(MODEL, model_dir, tags={"note": "same model, second version"})  # version 2
    platform = LocalEndpointPlatform(state, registry, root / "console-logs", startup_timeout=90, seed=11)
    seen: list[psutil.Process] = []
    try:
        yield World(state, registry, platform, root / "console-logs")
        seen = _processes(platform)
    finally:
        platform.close()
    assert _alive(seen) == []


@pytest.fixture(scope="module")
def blue(world: World) -> str:
    """The first version rolled out by the real reconciler: its deployment serves 100 % of the endpoint."""
    policy = RolloutConfig(
        model_name=MODEL,
        endpoint_name=EP,
        traffic_steps=(10, 50, 100),
        step_dwell=timedelta(0),
        provisioning_timeout=timedelta(minutes=3),
    )
    store = MemoryStateStore()
    event = ModelRegisteredEvent(event_id="evt-1", model_name=MODEL, version="1", subject=f"models/{MODEL}:1")
    record_model_registered(store, event, policy)
    reconciler = RolloutReconciler(store, world.platform, policy, SAMPLE.read_bytes, registry=world.registry)
    deadline = time.monotonic() + 150
    while True:
        reconciler.run()
        doc = store.get(rollout_key(MODEL))
        assert doc is not None
        if doc.data["phase"] in ("succeeded", "failed", "skipped") and not doc.data["cleanup"]:
            break
        assert time.monotonic() < deadline, f"rollout not done: {json.dumps(doc.data)[:2000]}"
        time.sleep(0.3)
    assert doc.data["phase"] == "succeeded", json.dumps(doc.data["history"], indent=1)
    return str(doc.data["deployment"])


@pytest.fixture(scope="module")
def green(world: World, blue: str) -> tuple[str, str]:
    """A second deployment (version 2) created directly; returns (name, state seen right after the request)."""
    world.platform.begin_create_deployment(DeploymentSpec(EP, "green", f"azureml:{MODEL}:2", MODEL, "2"))
    first = world.platform.get_deployment(EP, "green")
    assert first is not None
    assert world.platform.wait_deployment(EP, "green").provisioning_state == "Succeeded"
    return "green", first.provisioning_state


def _send(platform: LocalEndpointPlatform, n: int, prefix: str, headers: dict[str, str] | None = None):
    body = SAMPLE.read_bytes()
    out = []
    for i in range(n):
        status, answer, served = platform.score(EP, body, headers={"x-request-id": f"{prefix}-{i}", **(headers or {})})
        assert status == 200, answer
        assert len(json.loads(answer)["predictions"]) == 2
        out.append(served)
    return out


def _logged(world: World, start: datetime) -> list[Request]:
    """The requests the console-log files hold since ``start`` (all deployments), none rejected."""
    rows = ConsoleLogSource(world.logs, endpoint=EP, model=MODEL).query(start, datetime.now(UTC) + timedelta(seconds=1))
    assembler = RequestAssembler()
    assembler.add_all(row.message for row in rows.rows)
    complete, rejected = assembler.finish()
    assert rejected == []
    return complete


def _settled(read, quiet: float = 0.5, timeout: float = 20.0) -> int:
    """``read()`` once it has stopped changing for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.05)
        if read() != value:
            value, since = read(), time.monotonic()
    return int(value)


def _wait(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_the_rollout_reconciler_deploys_a_first_version_at_100_percent(world: World, blue: str) -> None:
    endpoint = world.platform.get_endpoint(EP)
    assert endpoint is not None and endpoint.traffic == {blue: 100} and endpoint.mirror_traffic == {}
    state = world.platform.get_deployment(EP, blue)
    assert state is not None and state.provisioning_state == "Succeeded" and state.model == f"azureml:{MODEL}:1"

    status, answer, served = world.platform.score(EP, SAMPLE.read_bytes())

    assert (status, served) == (200, blue)
    assert len(json.loads(answer)["predictions"]) == 2


def test_a_deployment_is_creating_then_succeeded_and_answers_invoke(world: World, green: tuple[str, str]) -> None:
    name, first_state = green
    assert first_state == "Creating"  # begin_create_deployment returned before the model was loaded

    answer = json.loads(world.platform.invoke(EP, name, SAMPLE.read_bytes()))

    assert len(answer["predictions"]) == 2 and all(0.0 < p < 1.0 for p in answer["predictions"])
    saved = json.loads(world.platform.state_file(EP).read_text())["deployments"][name]
    assert saved["provisioning_state"] == "Succeeded" and saved["model_version"] == "2"
    assert psutil.pid_exists(saved["pid"]) and saved["scoring_uri"].endswith(f":{saved['port']}/score")
    with pytest.raises(PlatformError, match=r"HTTP 400: .*field 'data' is missing"):
        world.platform.invoke(EP, name, b'{"inputs": []}')
    with pytest.raises(NotFoundError):
        world.platform.invoke(EP, "ghost", SAMPLE.read_bytes())


def test_traffic_is_split_by_weight_and_the_header_says_who_served(
    world: World, blue: str, green: tuple[str, str]
) -> None:
    world.platform.set_traffic(EP, {blue: 80, green[0]: 20})
    before = world.platform.served_counts(EP)

    served = _send(world.platform, 200, "split")

    to_green = served.count(green[0])
    assert to_green + served.count(blue) == 200
    assert abs(to_green - 40) <= 5 * math.sqrt(200 * 0.2 * 0.8)  # binomial, 5 sigma: cannot flake
    after = world.platform.served_counts(EP)
    assert after[green[0]] - before.get(green[0], 0) == to_green


def test_the_deployment_header_overrides_the_weights(world: World, blue: str, green: tuple[str, str]) -> None:
    world.platform.set_traffic(EP, {blue: 100})

    assert set(_send(world.platform, 5, "override", {DEPLOYMENT_HEADER: green[0]})) == {green[0]}
    assert set(_send(world.platform, 5, "plain")) == {blue}
    status, answer, _ = world.platform.score(EP, b"{}", headers={DEPLOYMENT_HEADER: "ghost"})
    assert status == 404 and "ghost" in json.loads(answer)["error"]


def test_mirrored_copies_reach_the_mirror_while_the_live_deployment_answers(
    world: World, blue: str, green: tuple[str, str]
) -> None:
    world.platform.set_traffic(EP, {blue: 100}, {green[0]: 50})
    start = datetime.now(UTC)
    before = world.platform.mirrored_counts(EP).get(green[0], 0)
    try:
        served = _send(world.platform, 60, "mirror")
    finally:
        world.platform.set_traffic(EP, {blue: 100})

    assert set(served) == {blue}
    copies = _settled(lambda: world.platform.mirrored_counts(EP).get(green[0], 0)) - before  # copies are async
    assert abs(copies - 30) <= 5 * math.sqrt(60 * 0.25)  # binomial, 5 sigma
    logged = _logged(world, start)
    live = {r.request_id for r in logged if r.deployment == blue}
    mirrored = {r.request_id for r in logged if r.deployment == green[0]}
    assert live == {f"mirror-{i}" for i in range(60)}
    assert len(mirrored) == copies and mirrored <= {f"{i}-mirror" for i in live}  # logged under their own ids


def test_requests_are_served_while_the_traffic_changes(world: World, blue: str, green: tuple[str, str]) -> None:
    splits = [{blue: 100}, {blue: 50, green[0]: 50}, {green[0]: 100}, {blue: 10, green[0]: 90}]
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    body = SAMPLE.read_bytes()

    def client(n: int) -> None:
        try:
            for i in range(25):
                status, _, served = world.platform.score(EP, body, headers={"x-request-id": f"busy-{n}-{i}"})
                results.append((status, served))
        except BaseException as exc:
            errors.append(exc)

    clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in clients:
        thread.start()
    flips = 0
    while any(thread.is_alive() for thread in clients):
        world.platform.set_traffic(EP, splits[flips % len(splits)])
        flips += 1
        time.sleep(0.02)
    world.platform.set_traffic(EP, {blue: 100})

    assert errors == [] and flips > 4
    assert len(results) == 100 and {status for status, _ in results} == {200}
    assert {served for _, served in results} == {blue, green[0]}


@pytest.mark.parametrize(
    "violation",
    [
        "sum_not_100",
        "unknown_deployment",
        "mirror_over_50",
        "mirror_to_live",
        "mirror_without_live",
        "delete_with_traffic",
        "delete_with_mirror",
        "bad_name",
        "other_model_same_name",
        "missing_endpoint",
    ],
)
def test_rule_violations_raise_what_the_fake_raises(
    world: World, blue: str, green: tuple[str, str], violation: str
) -> None:
    fake = FakeEndpointPlatform()
    fake.add_serving(EP, blue, MODEL, "1")
    fake.add_deployment(EP, green[0], MODEL, "2")
    world.platform.set_traffic(EP, {blue: 100})
    calls = {
        "sum_not_100": lambda p: p.set_traffic(EP, {blue: 60, green[0]: 30}),
        "unknown_deployment": lambda p: p.set_traffic(EP, {"ghost": 100}),
        "mirror_over_50": lambda p: p.set_traffic(EP, {blue: 100}, {green[0]: 60}),
        "mirror_to_live": lambda p: p.set_traffic(EP, {blue: 50, green[0]: 50}, {green[0]: 10}),
        "mirror_without_live": lambda p: p.set_traffic(EP, {}, {green[0]: 10}),
        "delete_with_traffic": lambda p: p.begin_delete_deployment(EP, blue),
        "delete_with_mirror": lambda p: (
            p.set_traffic(EP, {blue: 100}, {green[0]: 10}),
            p.begin_delete_deployment(EP, green[0]),
        ),
        "bad_name": lambda p: p.begin_create_deployment(DeploymentSpec(EP, "g_1", f"azureml:{MODEL}:2", MODEL, "2")),
        "other_model_same_name": lambda p: p.begin_create_deployment(
            DeploymentSpec(EP, green[0], f"azureml:{MODEL}:1", MODEL, "1")
        ),
        "missing_endpoint": lambda p: p.set_traffic("nowhere", {blue: 100}),
    }
    errors = []
    try:
        for target in (fake, world.platform):
            with pytest.raises(PlatformError) as caught:
                calls[violation](target)
            errors.append((type(caught.value), str(caught.value)))
    finally:
        world.platform.set_traffic(EP, {blue: 100})

    assert errors[0] == errors[1]
    assert world.platform.get_endpoint(EP).traffic == {blue: 100}  # type: ignore[union-attr]
    assert {d.name for d in world.platform.list_deployments(EP)} >= {blue, green[0]}


def test_the_console_logs_hold_exactly_the_requests_sent(world: World, blue: str) -> None:
    world.platform.set_traffic(EP, {blue: 100})
    start = datetime.now(UTC)
    records = synthetic.generate(30, seed=3, with_target=False).to_dict(orient="records")
    sizes = {"logs-1": 1, "logs-2": 7, "logs-3": 30}
    for request_id, n in sizes.items():
        body = json.dumps({"data": records[:n]}).encode()
        status, _, served = world.platform.score(EP, body, headers={"x-request-id": request_id})
        assert (status, served) == (200, blue)

    _wait(lambda: {r.request_id for r in _logged(world, start)} >= set(sizes))  # written as they arrive
    complete = _logged(world, start)

    assert {r.request_id: len(r.rows) for r in complete} == sizes
    assert {(r.deployment, r.model_name, r.model_version) for r in complete} == {(blue, MODEL, "1")}
    by_id = {r.request_id: r for r in complete}
    assert by_id["logs-2"].rows == [[r[f] for f in FEATURES] for r in records[:7]]  # the records themselves


def test_failed_deployments_report_why_and_leave_no_process(world: World, blue: str, tmp_path: Path) -> None:
    broken = tmp_path / MODEL / "9"
    broken.mkdir(parents=True)
    (broken / "MLmodel").write_text("garbage: [\n")
    world.platform.begin_create_deployment(DeploymentSpec(EP, "broken", str(broken), MODEL, "9"))
    world.platform.begin_create_deployment(DeploymentSpec(EP, "unknown", f"azureml:{MODEL}:42", MODEL, "42"))
    pid = json.loads(world.platform.state_file(EP).read_text())["deployments"]["broken"]["pid"]
    assert pid is not None

    state = world.platform.wait_deployment(EP, "broken")

    assert state.provisioning_state == "Failed"
    assert (state.error or "").startswith("azmlinfsrv exited with")
    assert "ParserError" in (state.error or "").split("\n", 1)[0]
    unknown = world.platform.get_deployment(EP, "unknown")
    assert unknown is not None and unknown.provisioning_state == "Failed"
    assert "version 42 is not registered" in (unknown.error or "")
    _wait(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    for name in ("broken", "unknown"):
        world.platform.begin_delete_deployment(EP, name)
    _wait(lambda: {d.name for d in world.platform.list_deployments(EP)} == {blue, "green"})


def test_deleting_a_deployment_stops_its_processes(world: World, blue: str, green: tuple[str, str]) -> None:
    world.platform.set_traffic(EP, {blue: 100})
    pid = json.loads(world.platform.state_file(EP).read_text())["deployments"][green[0]]["pid"]
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]

    world.platform.begin_delete_deployment(EP, green[0])

    state = world.platform.get_deployment(EP, green[0])
    assert state is None or state.provisioning_state == "Deleting"
    _wait(lambda: world.platform.get_deployment(EP, green[0]) is None)
    assert _alive(processes) == []
    assert green[0] not in json.loads(world.platform.state_file(EP).read_text())["deployments"]
    assert world.platform.served_counts(EP).get(green[0], 0) > 0  # its history stays


def test_close_during_start_up_leaves_no_process(world: World, tmp_path: Path) -> None:
    model_dir = world.registry.get_model(MODEL, "1").path
    with LocalEndpointPlatform(tmp_path, world.registry, tmp_path / "logs") as platform:
        platform.begin_create_endpoint("other")
        platform.begin_create_deployment(DeploymentSpec("other", "starting", str(model_dir), MODEL, "1"))
        time.sleep(1.5)  # azmlinfsrv and its worker are up, the model not loaded yet
        processes = _processes(platform)
        assert processes and platform.get_deployment("other", "starting").provisioning_state == "Creating"  # type: ignore[union-attr]
    assert _alive(processes) == []


def test_an_interrupted_owner_stops_its_deployments_at_exit(world: World, tmp_path: Path) -> None:
    model_dir = world.registry.get_model(MODEL, "1").path
    script = textwrap.dedent(
        f"""
        import signal, sys, time
        from pathlib import Path
        # Ctrl-C reaches it as KeyboardInterrupt even when the test runs in the background (a shell's `&` or
        # nohup start it with SIGINT ignored, and a child inherits that).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from shared.local.endpoint_platform import LocalEndpointPlatform
        from shared.local.registry import LocalRegistry
        from shared.ports import DeploymentSpec
        state = Path({str(tmp_path)!r})
        platform = LocalEndpointPlatform(state, LocalRegistry(state), state / "logs")  # never closed explicitly
        platform.begin_create_endpoint("other")
        platform.begin_create_deployment(DeploymentSpec("other", "orphan", {str(model_dir)!r}, "m", "1"))
        print("started", flush=True)
        time.sleep(60)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "started"
        state_file = tmp_path / "endpoints" / "other.json"
        pid = json.loads(state_file.read_text())["deployments"]["orphan"]["pid"]
        time.sleep(1.0)
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]

        owner.send_signal(signal.SIGINT)  # Ctrl-C: KeyboardInterrupt, then atexit
        owner.wait(timeout=30)
    finally:
        if owner.poll() is None:
            owner.kill()
    assert _alive(processes) == []
    assert json.loads(state_file.read_text())["running"] is False
