"""Scoring latency of a fitted model, timed as the deployment runs it: one record at a time (1,000 calls after 50
to warm up) and 1,000 records at once (20 calls). Shared by the scoring and sweep benchmarks."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Latency:
    single_ms: list[float]  # every one-record call
    batch1000_ms: float  # median of the 1,000-record calls

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.single_ms)


def measure(model: Any, x_test: Any) -> Latency:
    singles = [x_test.iloc[[i % len(x_test)]] for i in range(1000)]
    for one in singles[:50]:
        model.predict_proba(one)
    single_ms = []
    for one in singles:
        started = time.perf_counter()
        model.predict_proba(one)
        single_ms.append((time.perf_counter() - started) * 1000)
    batch = x_test.iloc[:1000]
    model.predict_proba(batch)
    batch_ms = []
    for _ in range(20):
        started = time.perf_counter()
        model.predict_proba(batch)
        batch_ms.append((time.perf_counter() - started) * 1000)
    return Latency(single_ms, statistics.median(batch_ms))
