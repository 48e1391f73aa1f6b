"""score.py's data collection without a server: when it is on, what is counted when it fails, and how the counts
are reported (the clock is a counter the test moves, not time)."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from ml_assets.src.scoring.data_collection import (
    RAISED,
    REFUSED,
    UNAVAILABLE,
    DataCollection,
    FailureReport,
    collection_requested,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _report(clock: FakeClock | None = None) -> tuple[FailureReport, list[str]]:
    lines: list[str] = []
    return FailureReport(clock=clock or FakeClock(), write=lines.append, interval=300.0), lines


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"AZUREML_MDC_HOST": "127.0.0.1", "AZUREML_MDC_PORT": "50011"}, False),
        ({"AZUREML_MDC_ENABLED": "false"}, False),
        ({"AZUREML_MDC_CONFIG_PATH": "/var/azureml-app/mdc.json"}, True),
        ({"AZUREML_MDC_ENABLED": "True"}, True),
    ],
)
def test_collection_is_requested_by_the_packages_own_variables(env: dict[str, str], expected: bool) -> None:
    assert collection_requested(env) is expected


def test_failures_are_counted_always_and_reported_at_most_once_per_interval_per_kind() -> None:
    clock = FakeClock()
    report, lines = _report(clock)
    report.count(RAISED, "RuntimeError: a")
    report.count(RAISED, "RuntimeError: b")
    report.count(REFUSED, "Exception: queue full")
    clock.now += 299.0
    report.count(RAISED, "RuntimeError: c")
    clock.now += 1.0
    report.count(RAISED, "RuntimeError: d")
    assert report.counts == {UNAVAILABLE: 0, REFUSED: 1, RAISED: 4}
    assert lines == [
        "score: data collection failed (raised): 1 request not collected so far; latest: RuntimeError: a",
        "score: data collection failed (refused): 1 request not collected so far; latest: Exception: queue full",
        "score: data collection failed (raised): 4 requests not collected so far; latest: RuntimeError: d",
    ]


def test_collection_off_imports_nothing_and_counts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azureml.ai.monitoring", None)  # importing it would raise
    report, lines = _report()
    collection = DataCollection(report)
    assert collection.start({}) == "data collection off"
    collection.collect("req-1", object(), [0.5])
    assert not collection.active and lines == [] and sum(report.counts.values()) == 0


def test_a_missing_package_is_counted_per_request_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azureml.ai.monitoring", None)
    report, lines = _report()
    collection = DataCollection(report)
    started = collection.start({"AZUREML_MDC_ENABLED": "true"})
    assert started.startswith("data collection requested but unavailable: azureml-ai-monitoring cannot be imported")
    collection.collect("req-1", object(), [0.5])
    collection.collect("req-2", object(), [0.5])
    assert report.counts[UNAVAILABLE] == 2 and len(lines) == 1


def _fake_package(monkeypatch: pytest.MonkeyPatch, collect: Any) -> list[tuple[str, str]]:
    """The package's two modules as score.py imports them, with ``collect(self, data, context)`` given."""
    collected: list[tuple[str, str]] = []

    class Collector:
        def __init__(self, *, name: str, on_error: Any = None) -> None:
            self.name, self.on_error = name, on_error

        def collect(self, data: Any, correlation_context: Any = None) -> Any:
            collected.append((self.name, correlation_context.id))
            return collect(self, data, correlation_context)

    class BasicCorrelationContext:
        def __init__(self, id: str, timestamp: int) -> None:
            self.id = id

    monitoring = types.ModuleType("azureml.ai.monitoring")
    monitoring.Collector = Collector  # type: ignore[attr-defined]
    context = types.ModuleType("azureml.ai.monitoring.context")
    context.BasicCorrelationContext = BasicCorrelationContext  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azureml.ai.monitoring", monitoring)
    monkeypatch.setitem(sys.modules, "azureml.ai.monitoring.context", context)
    return collected


def test_a_payload_the_package_refuses_is_counted_as_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(collector: Any, data: Any, context: Any) -> Any:
        collector.on_error(Exception("Too many requests lead to message queue is full"))
        return context

    collected = _fake_package(monkeypatch, refuse)
    report, lines = _report()
    collection = DataCollection(report)
    assert collection.start({"AZUREML_MDC_ENABLED": "true"}) == "data collection on (model_inputs, model_outputs)"
    collection.collect("req-9", object(), [0.25])
    assert collected == [("model_inputs", "req-9"), ("model_outputs", "req-9")]
    assert report.counts == {UNAVAILABLE: 0, REFUSED: 1, RAISED: 0}
    assert lines == [
        "score: data collection failed (refused): 1 request not collected so far; "
        "latest: Exception: Too many requests lead to message queue is full"
    ]


def test_a_collected_request_counts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    collected = _fake_package(monkeypatch, lambda collector, data, context: context)
    report, lines = _report()
    collection = DataCollection(report)
    collection.start({"AZUREML_MDC_CONFIG_PATH": "/var/mdc.json"})
    collection.collect("req-10", object(), [0.25])
    assert collected == [("model_inputs", "req-10"), ("model_outputs", "req-10")]
    assert sum(report.counts.values()) == 0 and lines == []
