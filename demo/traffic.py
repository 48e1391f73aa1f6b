"""The demo's traffic: request bodies cut from synthetic frames and sent through the local endpoint's router, the
ledger of what was sent and which deployment served it, and the check that the export holds every record sent
exactly once."""

from __future__ import annotations

import io
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from demo.text_width import shorten
from shared.ports import BlobWriter

# body, headers → (status, answer, the deployment that served it or "")
Score = Callable[[bytes, Mapping[str, str]], tuple[int, bytes, str]]


@dataclass
class Sent:
    """What the traffic generator sent and who served it."""

    requests: int = 0
    records: int = 0
    failed: int = 0
    last_error: str = ""
    records_by_request: dict[str, int] = field(default_factory=dict)  # request id → records (the demo's own)
    # the true label of every record sent with one, by the key a labels file names it by (record_identity)
    truth: dict[str, dict[str, int]] = field(default_factory=dict)  # phase → record key → 0/1
    by_deployment: dict[str, int] = field(default_factory=dict)
    served: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, deployment)


@dataclass(frozen=True)
class Phase:
    """One traffic phase: the requests it sent, the records they carried and how many failed."""

    label: str
    total: int
    requests: int
    records: int
    failed: int


def request_bodies(frame: Any, sizes: tuple[int, int], rng: random.Random) -> list[bytes]:
    """Split ``frame`` into request bodies of ``sizes`` records (the scoring script's input format)."""
    return [body for body, _ in labelled_bodies(frame, sizes, rng)]


def labelled_bodies(frame: Any, sizes: tuple[int, int], rng: random.Random) -> list[tuple[bytes, list[int] | None]]:
    """Like :func:`request_bodies`; a frame with the target column keeps it out of the body and returns each
    record's true label (0/1) beside it. A ``record_id`` column is sent as the records' identifiers."""
    from ml_assets.src.contracts.feature_schema import TARGET
    from ml_assets.src.contracts.labels import parse_label

    records = json.loads(frame.to_json(orient="records"))
    truths = [parse_label(r.pop(TARGET)) for r in records] if TARGET in frame.columns else None
    for r in records:
        if r.get("record_id") is None:
            r.pop("record_id", None)
    out, i = [], 0
    while i < len(records):
        n = rng.randint(*sizes)
        labels = [int(t or 0) for t in truths[i : i + n]] if truths is not None else None
        out.append((json.dumps({"data": records[i : i + n]}).encode(), labels))
        i += n
    return out


def next_whole_second() -> datetime:
    """Sleep until the next whole UTC second and return it (drift windows are whole seconds)."""
    now = datetime.now(UTC)
    target = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((target - now).total_seconds() + 0.001)
    return target


def progress(stream: TextIO, label: str, done: int, total: int, width: int = 30) -> None:
    filled = int(width * done / max(total, 1))
    bar = "█" * filled + "·" * (width - filled)
    end = "\n" if done >= total else ""
    if stream.isatty():
        print(f"\r    {label} [{bar}] {done}/{total}", end=end, file=stream, flush=True)
    elif done >= total or done % max(total // 4, 1) == 0:  # a log file gets four lines, not one per request
        print(f"    {label} [{bar}] {done}/{total}", file=stream, flush=True)


@dataclass(eq=False)
class Traffic:
    """Sends requests with ``score`` and writes what happened into ``sent``; ``clock`` stamps who served when."""

    score: Score
    sent: Sent
    clock: Callable[[], float]
    stream: TextIO
    records_per_request: tuple[int, int]
    seed: int
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def send(self, body: bytes, truth: list[int] | None = None, phase: str = "") -> None:
        from ml_assets.src.contracts.record_identity import record_key

        data = json.loads(body)["data"]
        records = len(data)
        request_id = str(uuid.uuid4())
        status, answer, deployment = self.score(body, {"x-request-id": request_id})
        with self._lock:
            if status != 200:
                self.sent.failed += 1
                body = shorten(answer.decode(errors="replace"), 300)
                self.sent.last_error = f"{status} from {deployment or 'the router'}: {body}"
                return
            self.sent.requests += 1
            self.sent.records += records
            self.sent.records_by_request[request_id] = records
            if truth is not None:
                known = self.sent.truth.setdefault(phase, {})
                for index, (record, label) in enumerate(zip(data, truth, strict=True)):
                    known[record_key(record.get("record_id"), request_id, index)] = label
            self.sent.by_deployment[deployment] = self.sent.by_deployment.get(deployment, 0) + 1
            self.sent.served.append((self.clock(), deployment))

    def phase(self, label: str, frame: Any, count: int) -> Phase:
        """Send the first ``count`` requests cut from ``frame``, four at a time, with a progress bar."""
        bodies = labelled_bodies(frame, self.records_per_request, self._rng)[:count]
        before = (self.sent.requests, self.sent.records, self.sent.failed)
        done = 0
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in pool.map(lambda item: self.send(item[0], item[1], label), bodies):
                done += 1
                progress(self.stream, f"{label:>14}", done, len(bodies))
        return Phase(
            label,
            len(bodies),
            self.sent.requests - before[0],
            self.sent.records - before[1],
            self.sent.failed - before[2],
        )

    @contextmanager
    def in_background(self, frame: Any, requests_per_second: float) -> Iterator[None]:
        """Requests cut from ``frame`` keep flowing, one after the other at this rate, until the block ends."""
        bodies = request_bodies(frame, self.records_per_request, random.Random(self.seed + 9))
        stop = threading.Event()

        def flow() -> None:
            interval = 1.0 / requests_per_second
            i = 0
            while not stop.is_set():
                self.send(bodies[i % len(bodies)])
                i += 1
                stop.wait(interval)

        background = threading.Thread(target=flow, daemon=True)
        background.start()
        try:
            yield
        finally:
            stop.set()
            background.join(timeout=30)


def exported_records(writer: BlobWriter, prefix: str, sent: Sent) -> tuple[dict[str, Any], int]:
    """Every exported row, checked against what the demo sent: ``(summary, records sent but not exported)``; the
    summary counts duplicates. Rows of requests the demo did not send are the rollout's smoke tests (the sample
    request, scored and logged like any other)."""
    import pyarrow.parquet as pq

    by_version: dict[str, int] = {}
    seen: set[tuple[str, int]] = set()
    duplicates = 0
    for path in writer.list(prefix + "/"):
        if not path.endswith(".parquet"):
            continue
        table = pq.read_table(io.BytesIO(writer.read(path)), columns=["request_id", "record_index"])
        version = next((p.split("=", 1)[1] for p in path.split("/") if p.startswith("version=")), "?")
        by_version[version] = by_version.get(version, 0) + table.num_rows
        ids, indexes = table.column("request_id").to_pylist(), table.column("record_index").to_pylist()
        for key in zip(ids, indexes, strict=True):
            duplicates += key in seen
            seen.add(key)
    expected = {(rid, i) for rid, n in sent.records_by_request.items() for i in range(n)}
    smoke_tests = seen - expected
    summary = {
        "total": len(seen),
        "sent_by_the_demo": len(expected),
        "smoke_test_records": len(smoke_tests),
        "smoke_test_requests": len({rid for rid, _ in smoke_tests}),
        "by_version": by_version,
        "duplicates": duplicates,
    }
    return summary, len(expected - seen)
