"""The drift telemetry through the real azure-monitor-opentelemetry exporter, to a loopback ingestion endpoint.

The connection string's ``IngestionEndpoint`` points at a small HTTP server on 127.0.0.1 that records what the
exporter posts to ``/v2.1/track`` (the Breeze envelopes App Insights turns into ``traces`` and
``customMetrics`` rows). Runs in a child process: OpenTelemetry's global providers can be set once per process.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ml_assets.src.contracts import drift_telemetry as t
from tests.conftest import PROJECT_ROOT

SEND = """
import sys
from ml_assets.src.contracts import drift_telemetry as t
from ml_assets.src.drift.telemetry import emit
overall = t.OverallDrift(23, 2, 2 / 23, False)
features = [t.FeatureDrift("age", 0.31, True, "Wasserstein distance (normed)", 0.1),
            t.FeatureDrift("sex", 0.002, False, "Jensen-Shannon distance", 0.1)]
batch = t.TelemetryBatch(
    [t.overall_message("credit-default", "3", overall), t.feature_message("credit-default", "3", features)],
    t.metric_points("credit-default", "3", overall, features),
    {"run_id": "job-7", "window_start": "2026-11-23T00:00:00+00:00"},
)
print(emit(batch, {"APPLICATIONINSIGHTS_CONNECTION_STRING": sys.argv[1]}))
"""


@pytest.fixture
def ingestion() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            items = json.loads(body)
            received.extend(items)
            answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False  # the exporter's keep-alive connection must not hold the teardown
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", received
    finally:
        server.shutdown()
        server.server_close()


def test_traces_and_custom_metrics_reach_application_insights_before_exit(ingestion):
    endpoint, received = ingestion
    connection_string = f"InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint={endpoint}"
    env = {
        **os.environ,
        # loopback only: no Azure VM metadata probe, no statsbeat to Microsoft's endpoint
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    }
    # When the component's telemetry sender runs and its process exits
    result = subprocess.run(
        [sys.executable, "-c", SEND, connection_string],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "azure_monitor"

    # Then the ingestion endpoint already has both traces, with the contract's JSON as the message
    messages = [i["data"]["baseData"] for i in received if i["data"]["baseType"] == "MessageData"]
    parsed = [t.parse_message(m["message"]) for m in messages]
    assert sorted(p.type for p in parsed if p) == [t.FEATURE, t.OVERALL]
    overall = next(p for p in parsed if p and p.type == t.OVERALL)
    assert (overall.model_name, overall.model_version, overall.data.n_drifted_features) == ("credit-default", "3", 2)
    assert all(m["properties"]["run_id"] == "job-7" for m in messages)  # run context as customDimensions

    # And the custom metrics, the feature as a dimension
    metrics = [
        (m["name"], m["value"], i["data"]["baseData"]["properties"])
        for i in received
        if i["data"]["baseType"] == "MetricData"
        for m in i["data"]["baseData"]["metrics"]
        if m["name"].startswith("drift_")
    ]
    assert (t.METRIC_SHARE, pytest.approx(2 / 23), {"model_name": "credit-default", "model_version": "3"}) in metrics
    assert (
        t.METRIC_FEATURE_SCORE,
        0.31,
        {"model_name": "credit-default", "model_version": "3", "feature": "age"},
    ) in metrics
    assert len([m for m in metrics if m[0] == t.METRIC_FEATURE_SCORE]) == 2
