"""The record of a demo run: its stages with timings (printed as they finish), the traffic split and drift samples
the timeline draws, the facts the stages establish, and the ``run.json`` document made of them; and the app's log
lines, kept in a file as the Functions host would collect them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

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
    """Stages with timings, printed as they finish; traffic and drift samples for the timeline."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.t0 = time.monotonic()
        self.stages: list[Stage] = []
        self.traffic: list[tuple[float, dict[str, int]]] = []  # (t, live traffic)
        self.drift: list[dict[str, Any]] = []
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
        sent: Sent,
        out: Path,
    ) -> dict[str, Any]:
        """The document of ``run.json``; the storage connection string is redacted (it holds the account key)."""
        return {
            "status": status,
            "error": error,
            "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "total_seconds": self.now(),
            "config": dict(config),
            "settings": {k: ("(redacted)" if k == "STORAGE_CONNECTION_STRING" else v) for k, v in settings.items()},
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
            **self.facts,
            "artefacts": {
                "run": str(out / "run.json"),
                "timeline": str(out / "timeline.png"),
                "drift_report": str(out / "drift_report.html") if (out / "drift_report.html").exists() else None,
                "function_logs": str(out / "functions.log"),
            },
        }


@contextmanager
def function_logs(path: Path) -> Iterator[None]:
    """The app's log lines (what the Functions host would collect) go to ``path``, not to the console."""
    root = logging.getLogger()
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet = {name: logging.getLogger(name).level for name in ("azure", "urllib3")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("azure.ai.ml").setLevel(logging.ERROR)  # "experimental class" notices of load_job
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(previous)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
