"""`export_inference_data` end to end on Azurite: the handler, crashes at random points, concurrent runs."""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from shared.azure.storage import BlobDataWriter, BlobStateStore
from shared.context import AppContext, use_context
from shared.local.azurite import Azurite
from shared.local.console_logs import ConsoleLogWriter
from shared.ports import LogRow
from shared.services import state_keys
from shared.services.export import ExportConfig, ExportPorts, run_export
from shared.settings import Settings
from shared.triggers import export
from tests.unit.test_export_fakes import FakeLogSource, export_config, exported_keys, quarantined, traffic

pytestmark = pytest.mark.azurite

handler = export.export_inference_data.build().get_user_function()


def _write_console_logs(root: Path, rows: list[LogRow]) -> None:
    writers: dict[str, ConsoleLogWriter] = {}
    for row in rows:
        writer = writers.setdefault(row.deployment, ConsoleLogWriter(root, "credit-default", row.deployment))
        writer.write(row.message, time=row.time)
    for writer in writers.values():
        writer.close()


def test_the_timer_handler_exports_local_console_logs_to_blob(
    storage_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    sent = traffic(start, requests=60, every=timedelta(minutes=1))
    _write_console_logs(tmp_path / "console-logs", sent.rows)
    env = {**storage_env, "MLOPS_MODE": "local", "LOCAL_STATE_DIR": str(tmp_path), "EXPORT_INITIAL_LOOKBACK": "PT3H"}
    context = AppContext(settings=Settings(env))
    use_context(context)

    with caplog.at_level(logging.INFO):
        handler(TimerRequest(past_due=True))

    writer = context.export_writer()
    keys = exported_keys(writer)
    assert len(keys) == len(set(keys)) and set(keys) == sent.keys
    doc = context.state_store().get(state_keys.EXPORT_WATERMARK)
    assert doc is not None and doc.data["totals"]["records"] == len(sent.keys) and doc.data["pending_files"] == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("past due" in m for m in messages)
    assert sum(m.startswith("export exported:") for m in messages) == 1

    handler(TimerRequest(past_due=False))  # nothing new: nothing rewritten, nothing doubled
    assert sorted(exported_keys(writer)) == sorted(keys)


def test_the_handler_reraises_a_configuration_error(caplog: pytest.LogCaptureFixture) -> None:
    use_context(AppContext(settings=Settings({"EXPORT_WINDOW": "soon"})))
    with caplog.at_level(logging.ERROR), pytest.raises(Exception, match="EXPORT_WINDOW"):
        handler(TimerRequest(past_due=False))
    assert any("configuration error" in r.getMessage() for r in caplog.records)


# --- crashes ------------------------------------------------------------------------------------


class Crash(BaseException):
    """The process dies (not an error the service could handle)."""


class Faults:
    """Kills the run at the ``at``-th mutating call (counted across the writer and the state store),
    before or after the call takes effect."""

    def __init__(self, at: int, after: bool) -> None:
        self.at, self.after, self.calls = at, after, 0

    def hit(self, action: Any) -> Any:
        self.calls += 1
        if self.calls == self.at and not self.after:
            raise Crash(f"before call {self.at}")
        result = action()
        if self.calls == self.at:
            raise Crash(f"after call {self.at}")
        return result


class FaultyWriter:
    def __init__(self, inner: BlobDataWriter, faults: Faults) -> None:
        self.inner, self.faults = inner, faults

    def write(self, path: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.faults.hit(lambda: self.inner.write(path, data, content_type=content_type))

    def delete(self, path: str) -> None:
        self.faults.hit(lambda: self.inner.delete(path))

    def read(self, path: str) -> bytes:
        return self.inner.read(path)

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(prefix)


class FaultyStore:
    def __init__(self, inner: BlobStateStore, faults: Faults) -> None:
        self.inner, self.faults = inner, faults

    def create(self, key: str, data: Any) -> str:
        return self.faults.hit(lambda: self.inner.create(key, data))  # type: ignore[no-any-return]

    def replace(self, key: str, data: Any, etag: str) -> str:
        return self.faults.hit(lambda: self.inner.replace(key, data, etag))  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def _config(**overrides: Any) -> ExportConfig:
    return export_config(**{"initial_lookback": timedelta(hours=4), **overrides})


@pytest.mark.slow
def test_crashes_at_random_points_then_reruns_leave_every_record_exactly_once(azurite: Azurite) -> None:
    rng = random.Random(20261124)
    sent = traffic(T0 + timedelta(minutes=3), requests=150, every=timedelta(seconds=70), seed=5)
    broken = LogRow(T0 + timedelta(minutes=50), 'MLOPS_INFERENCE_V1 {"service":"online/credit-default/3",', "blue")
    source = FakeLogSource(sorted([*sent.rows, broken], key=lambda r: r.time))
    for scenario in range(6):
        settings = Settings(
            {
                "STORAGE_CONNECTION_STRING": azurite.connection_string,
                "STATE_CONTAINER": f"state-{uuid.uuid4().hex[:16]}",
            }
        )
        store = BlobStateStore.from_settings(settings)
        writer = BlobDataWriter.from_settings(settings, f"data-{uuid.uuid4().hex[:16]}")
        clock = T0 + timedelta(hours=1, minutes=rng.randint(0, 50))
        crashes = 0
        for _attempt in range(3):
            # each attempt plans differently: a later horizon, and row caps that split other windows
            faults = Faults(at=rng.randint(1, 12), after=rng.random() < 0.5)
            ports = ExportPorts(source=source, writer=FaultyWriter(writer, faults), store=FaultyStore(store, faults))
            config = _config(max_rows=rng.choice([40, 90, 400_000]))
            try:
                run_export(config, ports, clock=lambda c=clock: c)
            except Crash:
                crashes += 1
            clock += timedelta(minutes=rng.randint(5, 40))
        final = run_export(
            _config(), ExportPorts(source=source, writer=writer, store=store), clock=lambda: T0 + timedelta(hours=5)
        )

        keys = exported_keys(writer)
        duplicates = [k for k, n in Counter(keys).items() if n > 1]
        assert not duplicates, f"scenario {scenario}: {len(duplicates)} duplicated records"
        assert set(keys) == sent.keys, f"scenario {scenario}: {len(sent.keys - set(keys))} records missing"
        entries = quarantined(writer)
        assert [line["message"] for e in entries for line in e["lines"]] == [broken.message], f"scenario {scenario}"
        doc = store.get(state_keys.EXPORT_WATERMARK)
        assert doc is not None and doc.data["pending_files"] == [] and final.status in ("exported", "up_to_date")
        assert crashes, "no attempt crashed: the scenario tests nothing"


def test_two_concurrent_runs_only_one_exports(app_context: AppContext, caplog: pytest.LogCaptureFixture) -> None:
    sent = traffic(T0 + timedelta(minutes=5), requests=30, every=timedelta(minutes=1))
    entered, release = threading.Event(), threading.Event()

    class SlowSource(FakeLogSource):
        def volume(self, start: datetime, end: datetime) -> Any:
            entered.set()
            release.wait(30)
            return super().volume(start, end)

    store, writer = app_context.state_store(), app_context.export_writer()
    slow = ExportPorts(source=SlowSource(sent.rows), writer=writer, store=store)
    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(run_export(_config(), slow, clock=lambda: T0 + timedelta(hours=2)))
    )
    first.start()
    assert entered.wait(30)
    with caplog.at_level(logging.INFO):
        second = run_export(
            _config(),
            ExportPorts(source=FakeLogSource(sent.rows), writer=writer, store=store),
            clock=lambda: T0 + timedelta(hours=2),
        )
    release.set()
    first.join(60)

    assert second.status == "locked" and second.windows == 0
    assert any("holds the export lock" in r.getMessage() for r in caplog.records)
    (winner,) = results
    assert winner.status == "exported" and winner.records == len(sent.keys)
    keys = exported_keys(writer)
    assert len(keys) == len(set(keys)) == len(sent.keys)
