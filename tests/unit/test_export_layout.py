"""The partition layout shared by the export (writer) and the drift submission (reader)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from ml_assets.src.contracts.export_layout import Partition, hours_between, parse_blob_path, partition_of


def test_partition_path_is_hive_style() -> None:
    part = Partition(model="credit-default", version="3", day=date(2026, 11, 24), hour=7)
    assert part.path("inference") == "inference/model=credit-default/version=3/date=2026-11-24/hour=07"
    assert part.start == datetime(2026, 11, 24, 7, tzinfo=UTC)


def test_partition_of_uses_the_utc_hour() -> None:
    moment = datetime(2026, 11, 25, 0, 30, tzinfo=timezone(timedelta(hours=2)))  # 2026-11-24 22:30 UTC
    assert partition_of("m", "1", moment) == Partition("m", "1", date(2026, 11, 24), 22)


def test_parse_blob_path_round_trips_the_layout() -> None:
    part = Partition("credit-default", "12", date(2026, 1, 2), 23)
    path = f"{part.path('data/inference')}/part-20260102T230000Z-20260103T000000Z.parquet"
    assert parse_blob_path(path) == ("data/inference", part, "part-20260102T230000Z-20260103T000000Z.parquet")


def test_parse_blob_path_rejects_paths_outside_the_layout() -> None:
    for path in (
        "inference/model=m/version=1/date=2026-11-24/part.parquet",  # no hour
        "inference/model=m/version=1/date=2026-11-24/hour=7/part.parquet",  # hour not two digits
        "inference/model=m/date=2026-11-24/hour=07/part.parquet",  # no version
        "model=m/version=1/date=2026-11-24/hour=07/part.parquet",  # no prefix
        "inference/model=m/version=1/date=2026-11-24/hour=07/",  # no file
    ):
        assert parse_blob_path(path) is None, path


def test_partitions_order_by_model_version_then_time() -> None:
    a = Partition("m", "1", date(2026, 11, 24), 9)
    b = Partition("m", "1", date(2026, 11, 24), 10)
    c = Partition("m", "2", date(2026, 11, 23), 0)
    assert sorted([c, b, a]) == [a, b, c]


def test_hours_between_lists_every_hour_the_range_touches() -> None:
    start = datetime(2026, 11, 24, 9, 59, tzinfo=UTC)
    assert hours_between(start, start + timedelta(minutes=2)) == [
        datetime(2026, 11, 24, 9, tzinfo=UTC),
        datetime(2026, 11, 24, 10, tzinfo=UTC),
    ]
    assert hours_between(start, start + timedelta(minutes=1)) == [datetime(2026, 11, 24, 9, tzinfo=UTC)]


def test_hours_between_an_empty_range_is_empty() -> None:
    start = datetime(2026, 11, 24, 9, 59, tzinfo=UTC)
    assert hours_between(start, start) == []
