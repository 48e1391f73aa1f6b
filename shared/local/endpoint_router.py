"""The local endpoint's router: an HTTP server on a free loopback port that routes ``POST /score`` as a managed
online endpoint does.

The router is a ``ThreadingHTTPServer`` (a daemon thread of the platform's process). ``POST /score`` goes to the
deployment named by the ``azureml-model-deployment`` request header, else to one chosen at random by the live traffic
weights (no live traffic: 503, as Azure answers). With mirror traffic, that share of requests is also copied,
asynchronously and best effort, to the mirror deployment, whose answer is discarded. The response carries the
deployment's status and body and an ``azureml-model-deployment`` header naming the deployment that served it.
``GET /`` answers 200 (liveness).

Mirrored copies carry the request id ``<id>-mirror``: the export groups console-log lines by request id, and a
copy under the same id from another deployment would make both requests inconsistent (quarantined).

Every answer a deployment gave through the router (live or mirrored) is recorded with its time, status and
latency (:class:`TrafficLedger`): the local endpoint platform answers the rollout gates' traffic queries from it,
as Azure Monitor answers them from the endpoint's metrics in Azure. :class:`Fault` is the local platform's
fault injection (errors or latency added to one model version's live and mirrored traffic, never to a direct
invocation): it exists only here, no setting and no port reaches it, so it cannot be switched on in Azure.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
import uuid
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from shared.local.serve import LOOPBACK
from shared.ports import TrafficFigures

log = logging.getLogger(__name__)

DEPLOYMENT_HEADER = "azureml-model-deployment"
MAX_BODY_BYTES = 16 * 1024 * 1024  # the router's limit; score.py applies its own (smaller) one
MIRROR_IN_FLIGHT = 8  # mirrored copies under way at once; more are dropped (mirroring is best effort)
NO_DEPLOYMENT = (
    "No valid deployments to route to. Please check that the endpoint has at least one deployment with positive "
    f"weight values or use a deployment specific header ({DEPLOYMENT_HEADER}) to route."
)

LEDGER_LIMIT = 200_000  # answers kept per deployment and kind (live, mirrored); older ones are dropped

Route = Callable[[bytes, Mapping[str, str]], tuple[int, bytes, dict[str, str]]]  # body, headers → status, body, headers


class Backend(Protocol):
    """What the router needs of a deployment. ``in_flight`` counts the requests it has under way, so that a
    deleted deployment is stopped only once it has answered them."""

    state: str
    in_flight: int

    @property
    def name(self) -> str: ...

    @property
    def serving_port(self) -> int | None:
        """The port its server listens on; None while it has no server."""
        ...


@dataclass(frozen=True)
class Fault:
    """Faults the local platform adds to one model version's routed traffic: a share of requests answered 500
    without reaching the deployment, and a delay before every other one."""

    error_share: float = 0.0
    added_latency_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_share <= 1.0 or self.added_latency_ms < 0:
            raise ValueError("error_share must be in [0, 1] and added_latency_ms not negative")


class TrafficLedger:
    """The answers each deployment gave through the router: (wall-clock time, status, latency in ms), in time
    order, live and mirrored apart. Thread-safe (its own lock; the router's threads append)."""

    def __init__(self, limit: int = LEDGER_LIMIT) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._rows: dict[tuple[str, bool], deque[tuple[float, int, float]]] = {}

    def record(self, deployment: str, status: int, latency_ms: float, *, mirrored: bool = False) -> None:
        with self._lock:
            rows = self._rows.setdefault((deployment, mirrored), deque(maxlen=self._limit))
            rows.append((time.time(), status, latency_ms))

    def figures(self, deployment: str, start: datetime, end: datetime, *, mirrored: bool = False) -> TrafficFigures:
        """Requests in ``[start, end)``, the non-2xx among them and the latency p90/p99 (nearest rank)."""
        lo, hi = start.timestamp(), end.timestamp()
        with self._lock:
            rows = list(self._rows.get((deployment, mirrored), ()))
        times = [t for t, _, _ in rows]
        window = rows[bisect_left(times, lo) : bisect_left(times, hi)]
        latencies = sorted(latency for _, _, latency in window)
        return TrafficFigures(
            requests=len(window),
            non_2xx=sum(1 for _, status, _ in window if not 200 <= status < 300),
            latency_p90_ms=_percentile(latencies, 0.90),
            latency_p99_ms=_percentile(latencies, 0.99),
        )

    def traffic(
        self, deployments: Sequence[str], start: datetime, end: datetime, *, mirrored: bool = False
    ) -> dict[str, TrafficFigures]:
        return {name: self.figures(name, start, end, mirrored=mirrored) for name in deployments}


def _percentile(ordered: Sequence[float], q: float) -> float | None:
    if not ordered:
        return None
    rank = max(1, -(-int(q * 1000) * len(ordered) // 1000))  # nearest rank, ceil(q * n), in integers
    return float(ordered[min(rank, len(ordered)) - 1])


def post(port: int, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes, dict[str, str]]:
    """POST ``body`` to ``/score`` on a loopback port: (status, body, lower-cased response headers)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("POST", "/score", body, dict(headers))
        response = connection.getresponse()
        answer = response.read()
        return response.status, answer, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def pick(rng: random.Random, weights: Mapping[str, int]) -> str | None:
    """A deployment chosen with probability weight/100 (weights sum to 100, or are empty)."""
    total = sum(weights.values())
    if total <= 0:
        return None
    draw = rng.random() * total
    for name, weight in sorted(weights.items()):
        draw -= weight
        if draw < 0:
            return name
    return max(sorted(weights), key=lambda n: weights[n])  # float rounding at the very top


@dataclass(eq=False)
class EndpointRouter:
    """The router of endpoint ``name`` over its ``deployments`` (the platform's own dict, read under ``lock``, the
    platform's lock). ``traffic`` and ``mirror`` are the live weights; ``served`` / ``mirrored`` count the answers
    each deployment gave through it. ``is_open`` turns False when the platform closes: requests then get a 503."""

    name: str
    deployments: Mapping[str, Backend]
    lock: threading.RLock
    rng: random.Random
    mirror_slots: threading.BoundedSemaphore
    request_timeout: float
    is_open: Callable[[], bool]
    traffic: dict[str, int] = field(default_factory=dict, init=False)
    mirror: dict[str, int] = field(default_factory=dict, init=False)
    served: Counter[str] = field(default_factory=Counter, init=False)
    mirrored: Counter[str] = field(default_factory=Counter, init=False)
    mirror_dropped: int = field(default=0, init=False)
    ledger: TrafficLedger = field(default_factory=TrafficLedger, init=False)
    faults: dict[str, Fault] = field(default_factory=dict, init=False)  # model version -> fault (local only)

    def __post_init__(self) -> None:
        self.server = _HTTPServer(self.route)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"endpoint-{self.name}", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def scoring_uri(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/score"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """No new requests (a request already forwarded still gets its answer)."""
        self.server.shutdown()
        self.server.server_close()

    def route(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, dict[str, str]]:
        """One request through the router: (status, body, response headers). Runs in the router's threads."""
        request_id = headers.get("x-request-id") or str(uuid.uuid4())
        forward = {"Content-Type": headers.get("content-type") or "application/json", "x-request-id": request_id}
        if headers.get("x-ms-client-request-id"):
            forward["x-ms-client-request-id"] = headers["x-ms-client-request-id"]
        echo = {"x-request-id": request_id, **{k: forward[k] for k in forward if k == "x-ms-client-request-id"}}

        def refuse(status: int, message: str) -> tuple[int, bytes, dict[str, str]]:
            return status, json.dumps({"error": message, "request_id": request_id}).encode(), echo

        with self.lock:
            if not self.is_open():
                return refuse(503, f"endpoint {self.name} is not running")
            wanted = headers.get(DEPLOYMENT_HEADER)
            if wanted:
                dep = self.deployments.get(wanted)
                if dep is None:
                    return refuse(404, f"deployment {wanted} not found on endpoint {self.name}")
            else:
                chosen = pick(self.rng, self.traffic)
                if chosen is None:
                    return refuse(503, NO_DEPLOYMENT)
                dep = self.deployments[chosen]
            port = dep.serving_port
            if dep.state != "Succeeded" or port is None:
                return refuse(503, f"deployment {dep.name} is {dep.state}, not ready to serve")
            fault = None if wanted else self._fault_of(dep)
            dep.in_flight += 1
            mirror_to = None if wanted else self._pick_mirror()
            if mirror_to is not None and self.mirror_slots.acquire(blocking=False):
                mirror_to.in_flight += 1
                mirror_port = mirror_to.serving_port or 0
            elif mirror_to is not None:
                self.mirror_dropped += 1
                mirror_to = None
        if mirror_to is not None:
            copy_headers = {**forward, "x-request-id": f"{request_id[:121]}-mirror"}
            threading.Thread(
                target=self._mirror, args=(mirror_to, mirror_port, body, copy_headers), daemon=True
            ).start()
        served = False
        started = time.perf_counter()
        status = 502
        try:
            if fault is not None and self._inject(fault):
                status = 500
                served = True
                return refuse(500, f"fault injected by the local platform into {dep.name}")
            status, answer, answer_headers = post(port, body, forward, self.request_timeout)
            served = True
        except TimeoutError:
            status = 504
            return refuse(504, f"deployment {dep.name} did not answer within {self.request_timeout:g}s")
        except (OSError, http.client.HTTPException) as exc:
            return refuse(502, f"deployment {dep.name} is not reachable: {type(exc).__name__}: {exc}")
        finally:
            self.ledger.record(dep.name, status, (time.perf_counter() - started) * 1000.0)
            with self.lock:
                dep.in_flight -= 1
                if served:
                    self.served[dep.name] += 1
        out = {
            "Content-Type": answer_headers.get("content-type", "application/json"),
            **echo,
            "x-request-id": answer_headers.get("x-request-id") or request_id,
            DEPLOYMENT_HEADER: dep.name,
        }
        return status, answer, out

    def _pick_mirror(self) -> Backend | None:
        """The mirror deployment this request is copied to (each with probability mirror%/100), or None."""
        if not self.mirror:
            return None
        draw = self.rng.random() * 100
        for name, percent in sorted(self.mirror.items()):
            draw -= percent
            if draw < 0:
                dep = self.deployments.get(name)
                return dep if dep is not None and dep.state == "Succeeded" and dep.serving_port is not None else None
        return None

    def _fault_of(self, dep: Backend) -> Fault | None:
        spec = getattr(dep, "spec", None)
        return self.faults.get(str(getattr(spec, "model_version", ""))) if self.faults else None

    def _inject(self, fault: Fault) -> bool:
        """True when this request is to be answered 500; otherwise sleeps the added latency first."""
        if fault.error_share and self.rng.random() < fault.error_share:
            return True
        if fault.added_latency_ms:
            time.sleep(fault.added_latency_ms / 1000.0)
        return False

    def _mirror(self, dep: Backend, port: int, body: bytes, headers: dict[str, str]) -> None:
        served = False
        started = time.perf_counter()
        status = 502
        try:
            fault = self._fault_of(dep)
            if fault is not None and self._inject(fault):
                status = 500
            else:
                status, _, _ = post(port, body, headers, self.request_timeout)
            served = True
        except TimeoutError:
            status = 504
        except (OSError, http.client.HTTPException) as exc:
            log.debug("mirror copy to %s/%s lost: %s", self.name, dep.name, exc)
        finally:
            self.ledger.record(dep.name, status, (time.perf_counter() - started) * 1000.0, mirrored=True)
            self.mirror_slots.release()
            with self.lock:
                dep.in_flight -= 1
                if served:
                    self.mirrored[dep.name] += 1


# --- HTTP ----------------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, route: Route) -> None:
        self.route = route
        super().__init__((LOOPBACK, 0), _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "mlops-local-endpoint"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("router %s: " + format, self.server.server_address[1], *args)

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        merged = {"Content-Type": "application/json", **(headers or {})}
        for name, value in merged.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, *, close: bool = False) -> None:
        self.close_connection = self.close_connection or close
        self._reply(status, json.dumps({"error": message}).encode())

    def do_GET(self) -> None:
        if urlsplit(self.path).path in ("", "/"):
            self._reply(200, b'{"status": "Healthy"}')
        else:
            self._error(404, f"no route {urlsplit(self.path).path}: POST /score")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._error(411, "send the body with a Content-Length", close=True)
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self._error(400, "Content-Length is not a number", close=True)
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self._error(413, f"the request body is larger than {MAX_BODY_BYTES} bytes", close=True)
            return
        body = self.rfile.read(length) if length else b""
        if path != "/score":
            self._error(404, f"no route {path}: POST /score")
            return
        try:
            status, answer, headers = self.server.route(body, {k.lower(): v for k, v in self.headers.items()})
        except Exception as exc:  # a bug in the router answers 500, it never drops the connection
            log.exception("router %s: request failed", self.server.server_address[1])
            self._error(500, f"the local endpoint router failed: {type(exc).__name__}: {exc}", close=True)
            return
        self._reply(status, answer, headers)
