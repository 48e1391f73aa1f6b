"""Azure ML's data collector for score.py: the model inputs and outputs of every scored request, as pandas
DataFrames, in the collections ``model_inputs`` and ``model_outputs`` (the names Azure ML model monitoring
recognises), under the request id of the request's console-log lines as correlation id.

**When it is on.** Azure ML starts the collector's sidecar and sets ``AZUREML_MDC_CONFIG_PATH`` (a JSON file of
the deployment's ``data_collector.collections``; ``AZUREML_MDC_HOST`` / ``AZUREML_MDC_PORT`` name the sidecar)
when the deployment enables a collection. ``AZUREML_MDC_ENABLED=true`` is the package's other switch (every
collection on; with ``AZUREML_MDC_LOCAL_CAPTURE=true`` it writes what it collects to the log instead of a
sidecar: the local deployments use that). With neither, collection is off, the package is not imported and no
DataFrame is built.

**Never in the way.** ``collect`` only puts the payload in the package's in-memory queue; a worker thread of the
package sends it. So a slow or absent sidecar never holds up a request: the queue fills and further payloads are
refused. Whatever goes wrong (the package is not installed, a collector cannot be built, the package refuses a
payload, ``collect`` raises), the request is scored and answered as without collection, and the request is
counted as not collected under the kind of failure (:data:`FAILURE_KINDS`). The counts are reported as plain
log lines (``score: data collection …``), never as a field of the console-log contract: the first failure of a
kind at once, then at most one line per kind per :data:`REPORT_INTERVAL_SECONDS`, with the count so far and the
latest reason. What the package's worker thread fails to send it logs itself (``mdc.worker`` lines).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

INPUTS_COLLECTION = "model_inputs"
OUTPUTS_COLLECTION = "model_outputs"
PREDICTION_COLUMN = "probability_of_default"
REPORT_INTERVAL_SECONDS = 300.0

UNAVAILABLE = "unavailable"  # the package cannot be imported, or a collector cannot be built
REFUSED = "refused"  # the package reported an error through on_error (queue full, collection not enabled, …)
RAISED = "raised"  # collect() raised
FAILURE_KINDS = (UNAVAILABLE, REFUSED, RAISED)


def collection_requested(env: Mapping[str, str]) -> bool:
    """Whether the environment asks for collection (the variables the package itself reads)."""
    return bool(env.get("AZUREML_MDC_CONFIG_PATH")) or env.get("AZUREML_MDC_ENABLED", "").lower() == "true"


@dataclass
class FailureReport:
    """Requests not collected, per kind of failure, and the rate-limited log line that reports them."""

    clock: Callable[[], float] = time.monotonic
    write: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))
    interval: float = REPORT_INTERVAL_SECONDS
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAILURE_KINDS, 0))
    _reported_at: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str, reason: str) -> None:
        with self._lock:
            self.counts[kind] += 1
            now = self.clock()
            last = self._reported_at.get(kind)
            if last is not None and now - last < self.interval:
                return
            self._reported_at[kind] = now
            total = self.counts[kind]
        noun = "request" if total == 1 else "requests"
        self.write(f"score: data collection failed ({kind}): {total} {noun} not collected so far; latest: {reason}")


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()[:300]


class DataCollection:
    """The two collectors of one scoring process, or none (collection off: :meth:`collect` does nothing)."""

    def __init__(self, report: FailureReport | None = None) -> None:
        self.report = report or FailureReport()
        self.requested = False
        self._collectors: tuple[Any, Any] | None = None
        self._unavailable = ""
        self._context: Callable[..., Any] | None = None
        self._errors = threading.local()

    @property
    def active(self) -> bool:
        return self._collectors is not None

    def start(self, env: Mapping[str, str]) -> str:
        """Build the collectors if the environment asks for collection; what it did, for the start-up line."""
        self.requested = collection_requested(env)
        if not self.requested:
            return "data collection off"
        try:
            from azureml.ai.monitoring import Collector
            from azureml.ai.monitoring.context import BasicCorrelationContext
        except ImportError as exc:
            self._unavailable = f"azureml-ai-monitoring cannot be imported ({_reason(exc)})"
            return f"data collection requested but unavailable: {self._unavailable}"
        built: list[Any] = []
        for name in (INPUTS_COLLECTION, OUTPUTS_COLLECTION):
            # The package validates its configuration while building a collector and reports through on_error.
            problems = self._errors_into([])
            try:
                built.append(Collector(name=name, on_error=self._on_error))
            except Exception as exc:  # noqa: BLE001 - any failure of the package leaves scoring as it is
                problems.append(_reason(exc))
            if problems:
                self._unavailable = f"collector {name}: {problems[0]}"
                return f"data collection requested but unavailable: {self._unavailable}"
        self._collectors = (built[0], built[1])
        self._context = BasicCorrelationContext
        return f"data collection on ({INPUTS_COLLECTION}, {OUTPUTS_COLLECTION})"

    def _errors_into(self, sink: list[str]) -> list[str]:
        self._errors.sink = sink  # per thread: azmlinfsrv may run requests on several threads
        return sink

    def _on_error(self, exc: Exception) -> None:
        sink = getattr(self._errors, "sink", None)
        if sink is not None:
            sink.append(_reason(exc))

    def collect(self, request_id: str, inputs: Any, predictions: Sequence[float]) -> None:
        """Collect one scored request (``inputs``: the DataFrame the model scored); never raises."""
        if not self.requested:
            return
        if self._collectors is None:
            self.report.count(UNAVAILABLE, self._unavailable)
            return
        inputs_collector, outputs_collector = self._collectors
        refusals = self._errors_into([])
        try:
            import pandas as pd

            assert self._context is not None
            context = self._context(id=request_id, timestamp=int(time.time()))
            inputs_collector.collect(inputs, context)
            outputs_collector.collect(pd.DataFrame({PREDICTION_COLUMN: list(predictions)}), context)
        except Exception as exc:  # noqa: BLE001 - the request is answered whatever the collector does
            self.report.count(RAISED, _reason(exc))
            return
        if refusals:
            self.report.count(REFUSED, refusals[0])
