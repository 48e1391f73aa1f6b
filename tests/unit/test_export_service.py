"""The export service against port-level fakes: windowing, splitting, partial results, budget, state."""

from __future__ import annotations

import io
import json
import logging
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from ml_assets.src.contracts.console_log import format_lines
from ml_assets.src.contracts.feature_schema import FEATURES
from shared.ports import LogRow, PlatformError
from shared.services import state_keys
from shared.services.export import ExportPorts, ExportWindowError, run_export
from shared.services.export_records import SCHEMA
from tests.fakes.memory_state_store import MemoryStateStore
from tests.unit.test_export_fakes import (
    MODEL,
    FakeLogSource,
    MemoryWriter,
    export_config,
    exported_keys,
    quarantined,
    record,
    traffic,
)

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC)


config = export_config


def ports(source: FakeLogSource) -> ExportPorts:
    return ExportPorts(source=source, writer=MemoryWriter(), store=MemoryStateStore())


def test_exports_every_record_once_into_the_partition_layout() -> None:
    sent = traffic(T0 + timedelta(minutes=30), requests=120, every=timedelta(minutes=1))
    p = ports(FakeLogSource(sent.rows))

    run = run_export(config(), p, clock=lambda: NOW)

    keys = exported_keys(p.writer)
    assert len(keys) == len(set(keys)) == len(sent.keys)
    assert set(keys) == sent.keys
    assert run.records == len(sent.keys) and run.quarantined == 0
    paths = p.writer.list("inference/")
    assert paths and all(path.startswith(f"inference/model={MODEL}/version=3/date=2026-11-24/hour=") for path in paths)
    assert all(path.endswith(".parquet") and "/part-20261124T" in path for path in paths)
    table = pq.read_table(io.BytesIO(p.writer.read(paths[0])))
    assert table.schema.remove_metadata() == SCHEMA.remove_metadata()


def test_watermark_document_is_informative_and_json() -> None:
    sent = traffic(T0 + timedelta(minutes=30), requests=20, every=timedelta(minutes=1))
    p = ports(FakeLogSource(sent.rows))
    run_export(config(), p, clock=lambda: NOW)

    doc = p.store.get(state_keys.EXPORT_WATERMARK)
    assert doc is not None
    # horizon = now − ingestion delay − straddle margin, whole seconds
    assert doc.data["watermark"] == "2026-11-24T11:49:55Z"
    assert doc.data["pending_files"] == []
    assert doc.data["totals"]["records"] == len(sent.keys)
    assert doc.data["last_window"]["end"] == "2026-11-24T11:49:55Z"
    last = p.store.get(state_keys.EXPORT_LAST_RUN)
    assert last is not None and last.data["records"] == len(sent.keys) and last.data["status"] == "exported"


def test_first_run_starts_at_the_initial_lookback_and_windows_align_on_the_hour() -> None:
    source = FakeLogSource([])
    run_export(config(), ports(source), clock=lambda: NOW)
    starts = [start for start, _ in source.volumes]
    margin = timedelta(seconds=5)
    assert starts[0] == datetime(2026, 11, 24, 7, 0, tzinfo=UTC) - margin
    assert [s + margin for s in starts[1:3]] == [
        datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
    ]


def test_a_window_over_the_row_limit_is_split_ahead_and_nothing_is_lost_or_doubled() -> None:
    sent = traffic(T0 + timedelta(minutes=1), requests=300, every=timedelta(seconds=10))
    source = FakeLogSource(sent.rows, row_limit=10**9)
    p = ports(source)

    run = run_export(config(max_rows=120), p, clock=lambda: NOW)

    keys = exported_keys(p.writer)
    assert Counter(keys).most_common(1)[0][1] == 1
    assert set(keys) == sent.keys
    assert run.splits > 0
    assert all(source.count(s, e) <= 120 for s, e in source.queries)


def test_partial_results_are_split_and_never_accepted() -> None:
    # The volume looks fine (max_rows is high) but the service truncates above 150 rows: every
    # partial answer must be split in halves and fetched again, and none of its rows used.
    sent = traffic(T0 + timedelta(minutes=1), requests=300, every=timedelta(seconds=10))
    source = FakeLogSource(sent.rows, row_limit=150)
    p = ports(source)

    run = run_export(config(), p, clock=lambda: NOW)

    keys = exported_keys(p.writer)
    assert len(keys) == len(set(keys)) and set(keys) == sent.keys
    assert run.splits > 0
    partial = [q for q in source.queries if source.count(*q) > 150]
    assert partial, "the fake never answered partial: the test does not test anything"


def test_a_window_too_small_to_split_and_still_partial_fails_loudly_and_keeps_the_watermark(
    caplog: pytest.LogCaptureFixture,
) -> None:
    start = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    rows = [
        LogRow(time=start + timedelta(milliseconds=i), message=line, deployment="blue")
        for i, line in enumerate(
            format_lines(
                request_id=f"r{i}",
                model_name=MODEL,
                model_version="3",
                deployment="blue",
                time=start,
                columns=FEATURES,
                rows=[["x"] * len(FEATURES)],
                predictions=[0.5],
            )[0]
            for i in range(50)
        )
    ]
    store = MemoryStateStore()
    store.put(state_keys.EXPORT_WATERMARK, {"watermark": "2026-11-24T09:00:00Z"})
    p = ExportPorts(source=FakeLogSource(rows, row_limit=10), writer=MemoryWriter(), store=store)

    with caplog.at_level(logging.ERROR), pytest.raises(ExportWindowError, match="cannot be split"):
        run_export(config(), p, clock=lambda: NOW)

    doc = store.get(state_keys.EXPORT_WATERMARK)
    assert doc is not None
    # The windows before the crowded second were exported; the watermark stops before it.
    assert "2026-11-24T09:29:40Z" <= doc.data["watermark"] <= "2026-11-24T09:30:00Z"
    assert exported_keys(p.writer) == []
    assert any("cannot be split" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    last = store.get(state_keys.EXPORT_LAST_RUN)
    assert last is not None and last.data["status"] == "failed"


def test_time_budget_stops_between_windows_and_the_next_run_resumes() -> None:
    sent = traffic(T0, requests=200, every=timedelta(minutes=1))
    p = ports(FakeLogSource(sent.rows))
    ticks = iter(range(0, 10_000, 100))  # every clock read advances 100 s: the budget is spent quickly

    first = run_export(config(time_budget=timedelta(seconds=250)), p, clock=lambda: NOW, monotonic=lambda: next(ticks))
    assert first.budget_exhausted and 0 < first.windows < 5
    second = run_export(config(), p, clock=lambda: NOW)
    assert not second.budget_exhausted

    keys = exported_keys(p.writer)
    assert len(keys) == len(set(keys)) and set(keys) == sent.keys


def test_past_due_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        run = run_export(config(), ports(FakeLogSource([])), past_due=True, clock=lambda: NOW)
    assert run.past_due
    assert any("past due" in r.getMessage() for r in caplog.records)
    summaries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("export ")]
    assert len(summaries) == 1 and "windows=" in summaries[0] and "lag=" in summaries[0]


def test_a_second_run_while_the_lock_is_held_exports_nothing(caplog: pytest.LogCaptureFixture) -> None:
    sent = traffic(T0, requests=10, every=timedelta(minutes=1))
    p = ports(FakeLogSource(sent.rows))
    with p.store.lock(state_keys.EXPORT_LOCK), caplog.at_level(logging.INFO):
        run = run_export(config(), p, clock=lambda: NOW)
    assert run.status == "locked" and run.windows == 0
    assert p.writer.list("") == [] and p.store.get(state_keys.EXPORT_WATERMARK) is None
    assert any("holds the export lock" in r.getMessage() for r in caplog.records)


def test_rerun_over_the_same_range_overwrites_instead_of_duplicating() -> None:
    sent = traffic(T0 + timedelta(minutes=5), requests=60, every=timedelta(minutes=1))
    p = ports(FakeLogSource(sent.rows))
    run_export(config(), p, clock=lambda: NOW)
    before = dict(p.writer.blobs)
    p.store.delete(state_keys.EXPORT_WATERMARK)  # an operator resets the watermark

    run_export(config(), p, clock=lambda: NOW)

    assert sorted(p.writer.blobs) == sorted(before)
    keys = exported_keys(p.writer)
    assert len(keys) == len(set(keys)) == len(sent.keys)


def test_malformed_and_incomplete_lines_are_quarantined_with_the_raw_message() -> None:
    moment = T0 + timedelta(minutes=10)
    lines = format_lines(
        request_id="multi",
        model_name=MODEL,
        model_version="3",
        deployment="blue",
        time=moment,
        columns=FEATURES,
        rows=[["female"] * len(FEATURES)] * 30,
        predictions=[0.1] * 30,
        max_bytes=2_000,
    )
    assert len(lines) >= 3
    broken = 'MLOPS_INFERENCE_V1 {"service":"online/credit-default/3","request_id":"cut'
    rows = [
        LogRow(time=moment, message=lines[0], deployment="blue"),  # part 1 of n only: incomplete
        LogRow(time=moment + timedelta(minutes=1), message=broken, deployment="blue"),  # truncated JSON
        LogRow(time=moment + timedelta(minutes=2), message="INFO: a normal log line", deployment="blue"),
    ]
    p = ports(FakeLogSource(rows))

    run = run_export(config(), p, clock=lambda: NOW)

    entries = quarantined(p.writer)
    assert run.quarantined == 2 and len(entries) == 2
    reasons = " | ".join(e["reason"] for e in entries)
    assert "incomplete" in reasons and "not valid JSON" in reasons
    messages = [line["message"] for e in entries for line in e["lines"]]
    assert lines[0] in messages and broken in messages
    assert exported_keys(p.writer) == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("age", 35.5, "expected an integer"),
        # JSON true/false: not numbers, though a Python bool is an int
        ("credit_limit", True, "expected a number, got bool"),
        ("age", False, "expected a number, got bool"),
    ],
)
def test_a_request_with_a_wrong_value_type_is_quarantined_not_the_run(field: str, value: object, reason: str) -> None:
    moment = T0 + timedelta(minutes=10)
    good = record(random.Random(1))
    bad = list(good)
    bad[FEATURES.index(field)] = value

    def row(request_id: str, values: list[object], at: datetime) -> LogRow:
        (line,) = format_lines(
            request_id=request_id,
            model_name=MODEL,
            model_version="3",
            deployment="blue",
            time=at,
            columns=FEATURES,
            rows=[values],
            predictions=[0.5],
        )
        return LogRow(time=at, message=line, deployment="blue")

    p = ports(FakeLogSource([row("ok", good, moment), row("bad", bad, moment + timedelta(seconds=1))]))
    run = run_export(config(), p, clock=lambda: NOW)

    assert exported_keys(p.writer) == [("ok", 0)]
    (entry,) = quarantined(p.writer)
    assert entry["request_id"] == "bad" and f"field {field!r}: {reason}" in entry["reason"]
    assert entry["lines"] and json.dumps(value) in entry["lines"][0]["message"]
    assert run.records == 1 and run.quarantined == 1


def test_all_model_versions_go_to_their_own_partition() -> None:
    v3 = traffic(T0 + timedelta(minutes=5), requests=5, every=timedelta(minutes=1), seed=1, version="3")
    v4 = traffic(T0 + timedelta(minutes=5), requests=5, every=timedelta(minutes=1), seed=2, version="4")
    p = ports(FakeLogSource(sorted(v3.rows + v4.rows, key=lambda r: r.time)))
    run_export(config(), p, clock=lambda: NOW)
    versions = {path.split("/")[2] for path in p.writer.list("inference/")}
    assert versions == {"version=3", "version=4"}


class _Publisher:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def publish(self, version: str, *, description: str, tags: dict[str, str]) -> str:
        from shared.ports import TransientError

        self.calls.append(version)
        if self.fail:
            raise TransientError("workspace unavailable")
        return f"azureml:inference:{version}"


def test_data_asset_version_after_a_run_that_wrote_data_and_retried_when_it_failed() -> None:
    sent = traffic(T0 + timedelta(minutes=5), requests=5, every=timedelta(minutes=1))
    publisher = _Publisher(fail=True)
    p = ports(FakeLogSource(sent.rows))
    p.assets = publisher

    first = run_export(config(data_asset="inference"), p, clock=lambda: NOW)
    assert first.data_asset_error and publisher.calls == ["20261124114955"]
    publisher.fail = False
    second = run_export(config(data_asset="inference"), p, clock=lambda: NOW + timedelta(seconds=1))
    assert second.windows == 0  # nothing new, but the pending version is retried
    assert second.data_asset == "azureml:inference:20261124114955"
    third = run_export(config(data_asset="inference"), p, clock=lambda: NOW + timedelta(seconds=2))
    assert third.data_asset is None and len(publisher.calls) == 2  # nothing new written: no new version


def test_a_failed_upload_on_the_writer_thread_fails_the_run_and_the_watermark_stays_before_it() -> None:
    sent = traffic(T0 + timedelta(minutes=30), requests=150, every=timedelta(minutes=1))
    p = ports(FakeLogSource(sent.rows))

    class RefusingWriter(MemoryWriter):
        refuse = True

        def write(self, path: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
            if self.refuse and "/hour=09/" in path:
                raise PlatformError("upload refused")
            super().write(path, data, content_type=content_type)

    p.writer = writer = RefusingWriter()
    with pytest.raises(PlatformError, match="upload refused"):
        run_export(config(), p, clock=lambda: NOW)

    doc = p.store.get(state_keys.EXPORT_WATERMARK)
    assert doc is not None and doc.data["watermark"] == "2026-11-24T09:00:00Z"  # window 08-09 only
    assert doc.data["pending_files"] and all("/hour=09/" in f for f in doc.data["pending_files"])
    assert writer.list("inference/") and all("/hour=08/" in f for f in writer.list("inference/"))

    writer.refuse = False
    again = run_export(config(), p, clock=lambda: NOW)
    assert again.status == "exported"
    keys = exported_keys(writer)
    assert len(keys) == len(set(keys)) and set(keys) == sent.keys
