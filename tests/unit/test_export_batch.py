"""Which window owns which request: straddling boundaries, stragglers, malformed lines; and the assembler."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from ml_assets.src.contracts.console_log import format_lines
from ml_assets.src.contracts.feature_schema import FEATURES
from shared.ports import LogRow
from shared.services.export_batch import assemble_window
from shared.services.export_windows import Window
from tests.unit.test_export_fakes import MODEL, record, traffic

MARGIN = timedelta(seconds=5)
H10 = datetime(2026, 11, 24, 10, tzinfo=UTC)


def _request(request_id: str, at: datetime, *, size: int = 30, spacing: timedelta = timedelta(milliseconds=10)):
    rng = random.Random(request_id)
    lines = format_lines(
        request_id=request_id,
        model_name=MODEL,
        model_version="3",
        deployment="blue",
        time=at,
        columns=FEATURES,
        rows=[record(rng) for _ in range(size)],
        predictions=[0.5] * size,
        max_bytes=2_000,
    )
    return [LogRow(time=at + i * spacing, message=line, deployment="blue") for i, line in enumerate(lines)]


def _view(rows: list[LogRow], window: Window) -> list[LogRow]:
    return [r for r in rows if window.start - MARGIN <= r.time < window.end + MARGIN]


def test_a_request_straddling_the_boundary_belongs_to_the_window_of_its_first_line() -> None:
    rows = _request("straddler", H10 - timedelta(milliseconds=15))  # parts at 09:59:59.985, .995, 10:00:00.005…
    assert len(rows) >= 3 and rows[0].time < H10 <= rows[-1].time
    before, after = Window(H10 - timedelta(hours=1), H10), Window(H10, H10 + timedelta(hours=1))

    first = assemble_window(before, _view(rows, before), model=MODEL, margin=MARGIN)
    second = assemble_window(after, _view(rows, after), model=MODEL, margin=MARGIN)

    assert [r.request_id for r in first.requests] == ["straddler"] and first.quarantine == []
    assert second.requests == [] and second.quarantine == []


def test_every_request_of_random_traffic_is_owned_by_exactly_one_of_adjacent_windows() -> None:
    sent = traffic(H10, requests=400, every=timedelta(milliseconds=150), seed=3)
    edges = [H10 + timedelta(seconds=s) for s in (0, 7, 13, 21, 34, 45, 60)]
    owners: dict[tuple[str, int], int] = {}
    for a, b in itertools.pairwise(edges):
        window = Window(a, b)
        batch = assemble_window(window, _view(sent.rows, window), model=MODEL, margin=MARGIN)
        assert batch.quarantine == []
        for request in batch.requests:
            for k in range(len(request.rows)):
                owners[(request.request_id, k)] = owners.get((request.request_id, k), 0) + 1
    assert set(owners) == sent.keys and set(owners.values()) == {1}


def test_a_request_spread_beyond_the_margin_is_quarantined_and_its_late_lines_too() -> None:
    rows = _request("slow", H10 + timedelta(minutes=59, seconds=50), spacing=timedelta(seconds=8))
    assert len(rows) >= 4  # lines at :50, :58, 10:00:06 (> end + margin), …
    window, following = (
        Window(H10, H10 + timedelta(hours=1)),
        Window(H10 + timedelta(hours=1), H10 + timedelta(hours=2)),
    )

    first = assemble_window(window, _view(rows, window), model=MODEL, margin=MARGIN)
    second = assemble_window(following, _view(rows, following), model=MODEL, margin=MARGIN)

    assert first.requests == [] and second.requests == []
    (incomplete,) = first.quarantine
    assert "incomplete" in incomplete.reason and incomplete.request_id == "slow"
    (late,) = second.quarantine
    assert late.reason.startswith("straggler") and late.lines
    assert all(line.time >= following.start + MARGIN for line in late.lines)
    quarantined = [line.message for line in incomplete.lines + late.lines]
    assert len(quarantined) == len(set(quarantined))
    missing = {r.message for r in rows} - set(quarantined)
    assert all(following.start <= r.time < following.start + MARGIN for r in rows if r.message in missing)


def test_malformed_lines_are_quarantined_by_the_window_that_contains_them_only() -> None:
    broken = 'MLOPS_INFERENCE_V1 {"service": "online/credit-default/3", "request_id": '
    row = LogRow(time=H10 + timedelta(seconds=2), message=broken, deployment="blue")
    before, after = Window(H10 - timedelta(hours=1), H10), Window(H10, H10 + timedelta(hours=1))
    assert assemble_window(before, [row], model=MODEL, margin=MARGIN).quarantine == []
    (entry,) = assemble_window(after, [row], model=MODEL, margin=MARGIN).quarantine
    assert entry.reason.startswith("malformed line") and entry.lines == [row]


def test_other_lines_and_other_models_are_ignored_not_quarantined() -> None:
    other = _request("x", H10 + timedelta(seconds=1))
    other_model = [
        LogRow(r.time, r.message.replace(f"online/{MODEL}/", "online/another-model/"), r.deployment) for r in other
    ]
    plain = LogRow(H10 + timedelta(seconds=3), "INFO score.py: loaded model", "blue")
    batch = assemble_window(Window(H10, H10 + timedelta(hours=1)), [*other_model, plain], model=MODEL, margin=MARGIN)
    assert batch.requests == [] and batch.quarantine == []
    assert batch.ignored == len(other_model) + 1


def test_duplicate_lines_collapse_and_conflicting_parts_are_quarantined() -> None:
    rows = _request("dup", H10 + timedelta(seconds=1))
    window = Window(H10, H10 + timedelta(hours=1))
    batch = assemble_window(window, rows + rows, model=MODEL, margin=MARGIN)
    assert [r.request_id for r in batch.requests] == ["dup"] and batch.quarantine == []

    tampered = LogRow(rows[0].time, rows[0].message.replace('"blue"', '"green"', 1), "blue")
    batch = assemble_window(window, [*rows, tampered], model=MODEL, margin=MARGIN)
    assert batch.requests == []
    (entry,) = batch.quarantine
    assert "same part" in entry.reason and len(entry.lines) == len(rows) + 1
