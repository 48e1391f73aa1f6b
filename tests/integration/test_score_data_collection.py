"""score.py's data collection under a real azmlinfsrv process: with the real ``azureml-ai-monitoring`` package
configured as Azure ML configures it (``AZUREML_MDC_CONFIG_PATH``, the sidecar at ``AZUREML_MDC_HOST`` /
``AZUREML_MDC_PORT``, here a loopback HTTP server standing in for the sidecar), off, and with a collector that
raises; and in the package's local capture mode, as the local deployments run it. Scoring answers 200 with the
same predictions in every case; a failure is counted in the log."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ml_assets.src.contracts.feature_schema import FEATURES
from ml_assets.src.stores.local_registry import LocalModelRegistry
from ml_assets.src.training import prepare, synthetic, train
from shared.local.endpoint_deployment import LOCAL_DATA_COLLECTION_ENV
from shared.local.serve import ScoringServer

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "ml_assets" / "endpoints" / "sample-request.json"

RAISING_PACKAGE = {
    "azureml/__init__.py": "",
    "azureml/ai/__init__.py": "",
    "azureml/ai/monitoring/__init__.py": (
        "class Collector:\n"
        "    def __init__(self, *, name, on_error=None):\n"
        "        self.name = name\n"
        "    def collect(self, data, correlation_context=None):\n"
        "        raise RuntimeError('collector broke')\n"
    ),
    "azureml/ai/monitoring/context.py": (
        "class BasicCorrelationContext:\n"
        "    def __init__(self, id=None, timestamp=None, headers=None):\n"
        "        self.id = id\n"
    ),
}


class SidecarStandIn(ThreadingHTTPServer):
    """What the collector's sidecar receives: ``POST /modeldata/log`` with the payload and its ``ce-*`` headers."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        super().__init__(("127.0.0.1", 0), _SidecarHandler)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[tuple[str, dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)


class _SidecarHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        assert isinstance(self.server, SidecarStandIn)
        self.server.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("collect")
    synthetic.generate(800, seed=7).to_csv(root / "d.csv", index=False)
    args = ["--training_data", str(root / "d.csv"), "--train_data", str(root / "tr"), "--test_data", str(root / "te")]
    assert prepare.main(prepare.parse_args(args)) == 0
    assert train.main(train.parse_args(["--train_data", str(root / "tr"), "--model_output", str(root / "m")])) == 0
    return LocalModelRegistry(root / "registry").register("credit-default", root / "m").path.parent


@pytest.fixture(scope="module")
def sidecar() -> Iterator[SidecarStandIn]:
    server = SidecarStandIn()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def _post(server: ScoringServer, request_id: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        server.scoring_url,
        data=SAMPLE.read_bytes(),
        headers={"Content-Type": "application/json", "x-request-id": request_id},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


def _wait_for_line(server: ScoringServer, text: str, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while not (found := [line for line in server.output() if text in line]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


@pytest.fixture(scope="module")
def baseline(model_dir: Path, sidecar: SidecarStandIn) -> Iterator[list[float]]:
    """Collection off (the sidecar's address set, nothing enabling collection): the predictions to compare."""
    env = {"AZUREML_MDC_HOST": "127.0.0.1", "AZUREML_MDC_PORT": str(sidecar.server_port)}
    with ScoringServer(model_dir, env=env) as server:
        status, doc = _post(server, "req-off")
        assert status == 200
        assert _wait_for_line(server, "data collection off")
        yield doc["predictions"]


def test_collection_off_sends_nothing(baseline: list[float], sidecar: SidecarStandIn) -> None:
    assert len(baseline) == 2
    assert sidecar.received == []


def test_collection_on_sends_inputs_and_outputs_under_the_request_id(
    model_dir: Path, sidecar: SidecarStandIn, baseline: list[float], tmp_path: Path
) -> None:
    config = tmp_path / "mdc.json"
    config.write_text(
        json.dumps({"collections": {"model_inputs": {"enabled": True}, "model_outputs": {"enabled": True}}})
    )
    env = {
        "AZUREML_MDC_CONFIG_PATH": str(config),
        "AZUREML_MDC_HOST": "127.0.0.1",
        "AZUREML_MDC_PORT": str(sidecar.server_port),
    }
    sidecar.received.clear()
    with ScoringServer(model_dir, env=env) as server:
        status, doc = _post(server, "req-collected-1")
        assert (status, doc["predictions"]) == (200, baseline)
        assert _wait_for_line(server, "data collection on (model_inputs, model_outputs)")
        received = sidecar.wait_for(2)
    assert len(received) == 2
    by_type = {headers["ce-type"]: (path, headers, json.loads(body)) for path, headers, body in received}
    assert set(by_type) == {"azureml.inference.model_inputs", "azureml.inference.model_outputs"}
    records = json.loads(SAMPLE.read_text())["data"]
    path, headers, inputs = by_type["azureml.inference.model_inputs"]
    assert path == "/modeldata/log" and headers["ce-x-request-id"] == "req-collected-1"
    assert inputs == [{f: r[f] for f in FEATURES} for r in records]
    _, headers, outputs = by_type["azureml.inference.model_outputs"]
    assert headers["ce-x-request-id"] == "req-collected-1"
    # The package serialises with pandas' to_json, which keeps 10 decimal places.
    assert [o["probability_of_default"] for o in outputs] == pytest.approx(baseline, rel=0, abs=1e-10)
    assert [set(o) for o in outputs] == [{"probability_of_default"}] * len(baseline)


def test_a_collector_that_raises_leaves_scoring_as_it_is_and_is_counted(
    model_dir: Path, baseline: list[float], tmp_path: Path
) -> None:
    for relative, text in RAISING_PACKAGE.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    pythonpath = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    env = {"AZUREML_MDC_ENABLED": "true", "PYTHONPATH": pythonpath}
    with ScoringServer(model_dir, env=env) as server:
        for n in range(3):
            status, doc = _post(server, f"req-broken-{n}")
            assert (status, doc["predictions"]) == (200, baseline)
        failures = _wait_for_line(server, "score: data collection failed (raised)")
        assert _wait_for_line(server, '"req-broken-2"')  # the console-log line is written all the same
    assert failures == [
        "score: data collection failed (raised): 1 request not collected so far; latest: RuntimeError: collector broke"
    ]


def test_collection_requested_without_a_usable_collector_is_counted(
    model_dir: Path, baseline: list[float], tmp_path: Path
) -> None:
    env = {"AZUREML_MDC_CONFIG_PATH": str(tmp_path / "missing.json")}  # the package cannot read its config
    with ScoringServer(model_dir, env=env) as server:
        status, doc = _post(server, "req-unavailable")
        assert (status, doc["predictions"]) == (200, baseline)
        assert _wait_for_line(server, "data collection requested but unavailable: collector model_inputs:")
        assert _wait_for_line(server, "score: data collection failed (unavailable): 1 request not collected")


def test_the_local_deployments_collection_env_runs_the_collector_into_the_log(
    model_dir: Path, baseline: list[float]
) -> None:
    with ScoringServer(model_dir, env=LOCAL_DATA_COLLECTION_ENV) as server:
        status, doc = _post(server, "req-local-1")
        assert (status, doc["predictions"]) == (200, baseline)
        captured = _wait_for_line(server, "| model_outputs | req-local-1 |")
        inputs = _wait_for_line(server, "| model_inputs | req-local-1 |")
    assert len(captured) == 1 and len(inputs) == 1
    assert "local.capture" in inputs[0]
    records = json.loads(SAMPLE.read_text())["data"]
    assert json.loads(inputs[0].split(" | req-local-1 | ", 1)[1]) == [{f: r[f] for f in FEATURES} for r in records]
