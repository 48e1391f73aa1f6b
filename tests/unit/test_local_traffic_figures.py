"""The local endpoint router measures what it routes, and the local platform's fault injection stays local.

The router runs over two tiny loopback HTTP backends (real HTTP, no model): every answer a deployment gives
through it is recorded with its status and latency, and the figures answer the rollout gates' query as Azure
Monitor does in Azure. A fault injected into one model version touches only its routed (live and mirrored)
traffic, never a request addressed to the deployment, and nothing outside ``shared/local`` can reach it.
"""

from __future__ import annotations

import ast
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared import ports
from shared.local.endpoint_router import DEPLOYMENT_HEADER, EndpointRouter, Fault, TrafficLedger
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b'{"predictions": [0.2]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class _Spec:
    model_version: str


@dataclass
class _Backend:
    name: str
    spec: _Spec
    server: ThreadingHTTPServer = field(init=False)
    state: str = "Succeeded"
    in_flight: int = 0

    def __post_init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def serving_port(self) -> int | None:
        return int(self.server.server_address[1])


@pytest.fixture
def router() -> Iterator[EndpointRouter]:
    backends = {"blue": _Backend("blue", _Spec("1")), "green": _Backend("green", _Spec("2"))}
    r = EndpointRouter(
        name="ep",
        deployments=backends,
        lock=threading.RLock(),
        rng=random.Random(7),
        mirror_slots=threading.BoundedSemaphore(8),
        request_timeout=5.0,
        is_open=lambda: True,
    )
    yield r
    for b in backends.values():
        b.server.shutdown()
        b.server.server_close()


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(minutes=1), now + timedelta(seconds=1)


def test_the_router_records_each_deployments_answers(router: EndpointRouter) -> None:
    router.traffic = {"blue": 50, "green": 50}
    statuses = [router.route(b'{"data": []}', {})[0] for _ in range(120)]
    assert set(statuses) == {200}
    figures = router.ledger.traffic(["blue", "green", "nobody"], *window())
    assert figures["blue"].requests + figures["green"].requests == 120
    assert figures["blue"].requests == router.served["blue"]
    assert figures["green"].non_2xx == 0 and figures["green"].latency_p90_ms is not None
    assert figures["nobody"] == ports.TrafficFigures(0, 0, None, None)
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert router.ledger.figures("blue", later, later + timedelta(minutes=1)).requests == 0


def test_an_injected_fault_hits_only_that_versions_routed_traffic(router: EndpointRouter) -> None:
    router.traffic = {"blue": 50, "green": 50}
    router.faults["2"] = Fault(error_share=0.5)
    answers = [router.route(b"{}", {}) for _ in range(200)]
    green_errors = [a for a in answers if a[0] == 500]
    assert green_errors and all(b"fault injected" in a[1] for a in green_errors)
    start, end = window()
    green, blue = router.ledger.figures("green", start, end), router.ledger.figures("blue", start, end)
    assert blue.non_2xx == 0
    assert 0.3 < (green.error_share or 0) < 0.7
    # a request addressed to the deployment (as the smoke test's invocation is) is never faulted
    direct = [router.route(b"{}", {DEPLOYMENT_HEADER: "green"})[0] for _ in range(30)]
    assert set(direct) == {200}


def test_added_latency_shows_in_the_percentiles(router: EndpointRouter) -> None:
    router.traffic = {"green": 100}
    router.faults["2"] = Fault(added_latency_ms=40)
    for _ in range(20):
        router.route(b"{}", {})
    figures = router.ledger.figures("green", *window())
    assert figures.requests == 20 and (figures.latency_p90_ms or 0) >= 40


def test_mirrored_copies_are_recorded_apart(router: EndpointRouter) -> None:
    router.traffic, router.mirror = {"blue": 100}, {"green": 50}
    router.faults["2"] = Fault(error_share=1.0)
    for _ in range(60):
        assert router.route(b"{}", {})[0] == 200  # the live answer never depends on the mirror
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and router.ledger.figures("green", *window(), mirrored=True).requests < 10:
        time.sleep(0.05)
    mirrored = router.ledger.figures("green", *window(), mirrored=True)
    assert mirrored.requests >= 10 and mirrored.non_2xx == mirrored.requests
    assert router.ledger.figures("green", *window()).requests == 0


def test_percentiles_are_nearest_rank() -> None:
    ledger = TrafficLedger()
    for ms in range(1, 101):
        ledger.record("d", 200 if ms > 3 else 503, float(ms))
    figures = ledger.figures("d", *window())
    assert figures == ports.TrafficFigures(100, 3, 90.0, 99.0)


def test_a_fault_needs_a_share_and_a_latency_that_make_sense() -> None:
    with pytest.raises(ValueError):
        Fault(error_share=1.5)
    with pytest.raises(ValueError):
        Fault(added_latency_ms=-1)


# --- the injection can never be switched on in Azure --------------------------------------------------------


def _names_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return (
        {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        | {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    )


def test_fault_injection_exists_only_in_the_local_platform() -> None:
    outside = [
        p
        for p in (ROOT / "shared").rglob("*.py")
        if "local" not in p.relative_to(ROOT / "shared").parts and {"inject_fault", "Fault", "faults"} & _names_in(p)
    ]
    assert outside == [], "fault injection must stay in shared/local"
    assert not hasattr(ports.EndpointPlatform, "inject_fault")
    assert not hasattr(ports.DeploymentMetrics, "inject_fault")
    from shared.azure.endpoint_metrics import AzureEndpointMetrics
    from shared.azure.endpoints import AzureEndpointPlatform

    assert not hasattr(AzureEndpointPlatform, "inject_fault") and not hasattr(AzureEndpointMetrics, "inject_fault")


def test_no_setting_or_score_py_switch_reaches_the_injection() -> None:
    names = [s.name for _, s in Settings.all()]
    assert not [n for n in names if "FAULT" in n or "INJECT" in n]
    scoring = "\n".join(p.read_text() for p in (ROOT / "ml_assets").rglob("*.py"))
    assert "inject_fault" not in scoring and "Fault(" not in scoring
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert not [k for k in sample if "FAULT" in k or "INJECT" in k]
