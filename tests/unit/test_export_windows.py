"""Export windows: alignment, horizon, halving, labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.services.export_windows import Window, next_window
from shared.services.timestamps import parse_iso

H = timedelta(hours=1)
FIVE = timedelta(seconds=5)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, second, tzinfo=UTC)


def test_windows_end_on_the_next_multiple_of_the_window_length() -> None:
    assert next_window(at(9, 17, 3), at(12), H, FIVE) == Window(at(9, 17, 3), at(10))
    assert next_window(at(10), at(12), H, FIVE) == Window(at(10), at(11))
    assert next_window(at(10), at(12), timedelta(minutes=15), FIVE) == Window(at(10), at(10, 15))


def test_the_last_window_ends_at_the_horizon_and_nothing_is_exported_past_it() -> None:
    assert next_window(at(11, 30), at(11, 49, 55), H, FIVE) == Window(at(11, 30), at(11, 49, 55))
    assert next_window(at(11, 49, 52), at(11, 49, 55), H, FIVE) is None  # under the minimum length
    assert next_window(at(12), at(11), H, FIVE) is None


def test_a_sliver_before_the_alignment_point_joins_the_next_window() -> None:
    assert next_window(at(10, 59, 58), at(12), H, FIVE) == Window(at(10, 59, 58), at(12))


def test_bounds_are_floored_to_whole_seconds() -> None:
    window = next_window(at(10).replace(microsecond=700), at(11, 0, 0).replace(microsecond=999_999), H, FIVE)
    assert window == Window(at(10), at(11))


def test_halves_split_at_a_whole_second_until_the_minimum_length() -> None:
    window = Window(at(10), at(10, 0, 25))
    first, second = window.halves(FIVE) or pytest.fail("should split")
    assert (first, second) == (Window(at(10), at(10, 0, 12)), Window(at(10, 0, 12), at(10, 0, 25)))
    assert Window(at(10), at(10, 0, 9)).halves(FIVE) is None
    assert Window(at(10), at(10, 0, 10)).halves(FIVE) == (
        Window(at(10), at(10, 0, 5)),
        Window(at(10, 0, 5), at(10, 0, 10)),
    )


def test_windows_are_half_open_and_validated() -> None:
    window = Window(at(10), at(11))
    assert window.contains(at(10)) and not window.contains(at(11))
    assert window.label == "20261124T100000Z-20261124T110000Z"
    with pytest.raises(ValueError, match="empty"):
        Window(at(11), at(10))
    with pytest.raises(ValueError, match="whole seconds"):
        Window(at(10).replace(microsecond=1), at(11))
    with pytest.raises(ValueError, match="whole seconds"):
        Window(datetime(2026, 11, 24, 10), at(11))


def test_iso_times_round_trip_and_need_a_zone() -> None:
    assert parse_iso("2026-11-24T10:00:00Z") == at(10)
    assert parse_iso("2026-11-24T11:00:00+01:00") == at(10)
    with pytest.raises(ValueError):
        parse_iso("2026-11-24T10:00:00")
