"""The record of a demo run: its stages with timings (printed as they finish), the traffic split, drift samples and
marked moments the timeline draws, the facts the stages establish, and the ``run.json`` document made of them."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from demo.setting_differences import Difference, shown_value
from demo.traffic import Sent


@dataclass
class Stage:
    name: str
    started: float
    ended: float | None = None
    outcome: str = ""
    ok: bool = True

    @property
    def seconds(self) -> float:
        return round((self.ended or time.monotonic()) - self.started, 2)


class Recorder:
    """Stages with timings, printed as they finish; traffic and drift samples and marked moments (``kind``:
    ``registered``, ``alert``, ``rollback``) for the timeline."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.t0 = time.monotonic()
        self.stages: list[Stage] = []
        self.traffic: list[tuple[float, dict[str, int]]] = []  # (t, live traffic)
        self.drift: list[dict[str, Any]] = []
        self.marks: list[dict[str, Any]] = []  # {"t", "kind", "label"}
        self.facts: dict[str, Any] = {}

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def since_start(self, moment: datetime) -> float:
        """``moment`` as seconds since the demo started (the timeline's x axis)."""
        return round(self.now() - (datetime.now(UTC) - moment).total_seconds(), 2)

    def say(self, text: str) -> None:
        print(f"[demo {self.now():6.1f}s] {text}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        stage = Stage(name, time.monotonic())
        self.stages.append(stage)
        self.say(f"▶ {name}")
        try:
            yield stage
        except BaseException as exc:
            stage.ok = False
            stage.outcome = stage.outcome or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            stage.ended = time.monotonic()
            mark = "✓" if stage.ok else "✗"
            self.say(f"{mark} {name} ({stage.seconds:.1f}s) {stage.outcome}")

    def mark(self, kind: str, label: str, at: datetime | None = None) -> None:
        """A moment for the timeline: now, or ``at`` (when the platform recorded it)."""
        self.marks.append({"t": self.since_start(at) if at else self.now(), "kind": kind, "label": label})

    def sample_traffic(self, traffic: Mapping[str, int]) -> None:
        current = {k: int(v) for k, v in traffic.items() if int(v)}
        if not self.traffic or self.traffic[-1][1] != current:
            self.traffic.append((self.now(), current))

    def run_record(
        self,
        status: str,
        error: str | None,
        *,
        config: Mapping[str, Any],
        settings: Mapping[str, str],
        differences: Sequence[Difference],
        sent: Sent,
        artefacts: Mapping[str, str | None],
    ) -> dict[str, Any]:
        """The document of ``run.json``; secrets among the settings (the storage connection string holds the
        account key) are redacted."""
        return {
            "status": status,
            "error": error,
            "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "total_seconds": self.now(),
            "config": dict(config),
            "settings": {k: shown_value(k, v) for k, v in settings.items()},
            "differences_from_app_defaults": [d.as_record() for d in differences],
            "stages": [
                {
                    "name": s.name,
                    "seconds": s.seconds,
                    "ok": s.ok,
                    "outcome": s.outcome,
                    "start": round(s.started - self.t0, 3),
                }
                for s in self.stages
            ],
            "traffic": {
                "requests": sent.requests,
                "records": sent.records,
                "failed": sent.failed,
                "by_deployment": sent.by_deployment,
                "live_traffic_over_time": [{"t": t, "traffic": tr} for t, tr in self.traffic],
            },
            "drift": self.drift,
            "marks": self.marks,
            **self.facts,
            "artefacts": dict(artefacts),
        }
