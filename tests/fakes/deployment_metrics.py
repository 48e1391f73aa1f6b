"""An in-memory :class:`shared.ports.DeploymentMetrics`: canned figures per model version.

The figures of a deployment are looked up by the model version it serves on the fake endpoint platform (the
rollout's deployment names carry a random part), live and mirrored apart; a version without figures served
nothing. ``calls`` records every query: (endpoint, deployments, start, end, mirrored).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.ports import TrafficFigures, TransientError
from tests.fakes.endpoint_platform import FakeEndpointPlatform

HEALTHY = TrafficFigures(requests=1000, non_2xx=2, latency_p90_ms=40.0, latency_p99_ms=80.0)


class FakeDeploymentMetrics:
    def __init__(self, platform: FakeEndpointPlatform, *, default: TrafficFigures | None = HEALTHY) -> None:
        self.platform = platform
        self.default = default
        self.live: dict[str, TrafficFigures] = {}
        self.mirrored: dict[str, TrafficFigures] = {}
        self.calls: list[tuple[str, tuple[str, ...], datetime, datetime, bool]] = []
        self.failures: list[BaseException] = []

    def set(self, version: str, figures: TrafficFigures, *, mirrored: bool = False) -> None:
        (self.mirrored if mirrored else self.live)[version] = figures

    def traffic(
        self, endpoint: str, deployments: Sequence[str], start: datetime, end: datetime, *, mirrored: bool = False
    ) -> dict[str, TrafficFigures]:
        self.calls.append((endpoint, tuple(deployments), start, end, mirrored))
        if self.failures:
            raise self.failures.pop(0)
        if end <= start:
            raise TransientError("empty window")
        out = {}
        for name in deployments:
            dep = self.platform.deployments.get((endpoint, name))
            version = dep.spec.model_version if dep is not None else ""
            table = self.mirrored if mirrored else self.live
            figures = table.get(version, self.default if not mirrored else table.get("*", self.default))
            out[name] = figures or TrafficFigures(0, 0)
        return out
