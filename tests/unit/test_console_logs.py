"""Local console-log files: the writer's format and the LogSource that reads them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ml_assets.src.contracts.console_log import format_lines, parse_line
from ml_assets.src.contracts.feature_schema import FEATURES
from shared.local.console_logs import ConsoleLogSource, ConsoleLogWriter, console_log_root, hour_file
from shared.settings import Settings

H10 = datetime(2026, 11, 24, 10, tzinfo=UTC)


def lines(request_id: str, at: datetime, model: str = "credit-default") -> list[str]:
    return format_lines(
        request_id=request_id,
        model_name=model,
        model_version="3",
        deployment="blue",
        time=at,
        columns=FEATURES,
        rows=[["x"] * len(FEATURES)] * 3,
        predictions=[0.5] * 3,
    )


def test_the_writer_appends_time_tab_message_to_one_file_per_hour(tmp_path: Path) -> None:
    with ConsoleLogWriter(tmp_path, "ep", "blue") as writer:
        writer.write("first\nsecond", time=H10 + timedelta(minutes=59, seconds=59, microseconds=5))
        writer.write("third", time=H10 + timedelta(hours=1))
    first = hour_file(tmp_path, "ep", "blue", H10)
    assert first == tmp_path / "ep" / "blue" / "2026-11-24" / "10.log"
    assert first.read_text() == ("2026-11-24T10:59:59.000005Z\tfirst\n2026-11-24T10:59:59.000005Z\tsecond\n")
    assert (
        hour_file(tmp_path, "ep", "blue", H10 + timedelta(hours=1)).read_text()
        == "2026-11-24T11:00:00.000000Z\tthird\n"
    )


def test_follow_copies_a_process_output_line_by_line(tmp_path: Path) -> None:
    with ConsoleLogWriter(tmp_path, "ep", "blue") as writer:
        assert writer.follow(io.StringIO("a\r\nb\n")) == 2
    text = "".join(p.read_text() for p in (tmp_path / "ep" / "blue").rglob("*.log"))
    assert [line.split("\t", 1)[1] for line in text.splitlines()] == ["a", "b"]


def test_the_source_returns_the_endpoint_and_models_inference_lines_in_a_half_open_range(tmp_path: Path) -> None:
    with ConsoleLogWriter(tmp_path, "ep", "blue") as blue, ConsoleLogWriter(tmp_path, "ep", "green") as green:
        blue.write_lines(lines("r1", H10), time=H10)
        blue.write("INFO: not an inference line", time=H10 + timedelta(seconds=1))
        green.write_lines(lines("r2", H10), time=H10 + timedelta(minutes=30))
        green.write_lines(lines("other", H10, model="another-model"), time=H10 + timedelta(minutes=31))
        blue.write_lines(lines("r3", H10), time=H10 + timedelta(hours=1))  # at the end: excluded
    with ConsoleLogWriter(tmp_path, "other-endpoint", "blue") as other:
        other.write_lines(lines("r4", H10), time=H10)
    source = ConsoleLogSource(tmp_path, endpoint="ep", model="credit-default")

    result = source.query(H10, H10 + timedelta(hours=1))

    assert result.complete
    assert [(parse_line(r.message).request_id, r.deployment) for r in result.rows] == [("r1", "blue"), ("r2", "green")]
    assert [r.time for r in result.rows] == [H10, H10 + timedelta(minutes=30)]
    volume = source.volume(H10, H10 + timedelta(hours=1))
    assert volume.rows == 2 == source.count(H10, H10 + timedelta(hours=1))
    assert volume.bytes == sum(len(r.message) for r in result.rows)
    assert source.query(H10 + timedelta(hours=1), H10 + timedelta(hours=2)).rows[0].time == H10 + timedelta(hours=1)
    assert source.volume(H10, H10).rows == 0


def test_unreadable_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = hour_file(tmp_path, "ep", "blue", H10)
    path.parent.mkdir(parents=True)
    (line,) = lines("r1", H10)[:1]
    path.write_text(
        f"garbage without a time {line}\n2026-11-24T10:00:00.000000Z\t{line}\n2026-11-24T10:0x:00.000000Z\t{line}\n"
    )
    source = ConsoleLogSource(tmp_path, endpoint="ep", model="credit-default")
    rows = source.query(H10, H10 + timedelta(hours=1)).rows
    assert len(rows) == 1 and rows[0].message == line


def test_the_root_is_under_the_local_state_dir(tmp_path: Path) -> None:
    assert console_log_root(Settings({"LOCAL_STATE_DIR": str(tmp_path)})) == tmp_path / "console-logs"


def test_the_source_sees_appended_lines_out_of_order_lines_and_a_marker_after_a_prefix(tmp_path: Path) -> None:
    source = ConsoleLogSource(tmp_path, endpoint="ep", model="credit-default")
    hour = (H10, H10 + timedelta(hours=1))
    with ConsoleLogWriter(tmp_path, "ep", "blue") as blue:
        blue.write_lines(lines("r1", H10), time=H10 + timedelta(minutes=2))
        assert source.volume(*hour).rows == 1  # indexes the file

        blue.write("container prefix " + lines("r2", H10)[0], time=H10 + timedelta(minutes=3))
        blue.write_lines(lines("r3", H10), time=H10 + timedelta(minutes=1))  # logged later, earlier time

    rows = source.query(*hour).rows
    assert [parse_line(r.message).request_id for r in rows] == ["r3", "r1", "r2"]
    assert rows[2].message.startswith("container prefix MLOPS_INFERENCE_V1 ")
    assert source.volume(*hour).rows == 3 and source.volume(*hour).bytes == sum(len(r.message) for r in rows)
    assert [r.time for r in source.query(H10, H10 + timedelta(minutes=2)).rows] == [H10 + timedelta(minutes=1)]
