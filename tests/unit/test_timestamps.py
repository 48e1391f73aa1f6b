"""The time formats of stored documents read back totally: a time at the edge of the range is an answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings

from shared.payloads import PayloadError
from shared.payloads.json_values import to_utc
from shared.services.timestamps import iso, parse_iso, parse_time
from tests.hostile import edge_datetimes


def _representable(moment: datetime) -> bool:
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


@settings(max_examples=100, deadline=None)
@given(moment=edge_datetimes)
def test_an_edge_time_is_read_in_utc_or_refused_as_the_helpers_promise(moment: datetime) -> None:
    text = moment.isoformat()
    if _representable(moment):
        assert parse_iso(text) == moment and parse_iso(text).tzinfo == UTC
        assert parse_time(text) == moment and iso(parse_time(text)) == iso(moment)
        assert to_utc(moment, "t") == moment
        return
    with pytest.raises(ValueError, match="outside the range"):
        parse_iso(text)
    assert parse_time(text) is None
    with pytest.raises(PayloadError, match="outside the range") as caught:
        to_utc(moment, "data.when")
    assert caught.value.field == "data.when"


def test_the_documented_overflow_cases() -> None:
    with pytest.raises(ValueError, match="outside the range"):
        parse_iso("0001-01-01T00:00:00+05:00")
    assert parse_time("9999-12-31T23:59:59-05:00") is None
    assert parse_time("2026-11-24T12:00:00+02:00") == datetime(2026, 11, 24, 10, tzinfo=UTC)
