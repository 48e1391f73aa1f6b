"""The console-log line contract: what score.py writes, the export reads back exactly."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_assets.src.contracts.console_log import (
    MARKER,
    MAX_LINE_BYTES,
    ConsoleLogError,
    RequestAssembler,
    format_lines,
    parse_line,
)
from ml_assets.src.contracts.feature_schema import FEATURES

T0 = datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)


def _rows(n: int, seed: int = 0) -> list[list[object]]:
    rng = random.Random(seed)
    return [
        [rng.random() * 1000 if i % 2 else f"cat_{rng.randint(0, 5)}" for i in range(len(FEATURES))] for _ in range(n)
    ]


def _lines(n: int, request_id: str = "r1", **kw: object) -> list[str]:
    rows = _rows(n)
    return format_lines(
        request_id=request_id,
        model_name="credit-default",
        model_version="3",
        deployment="blue",
        time=T0,
        columns=FEATURES,
        rows=rows,
        predictions=[i / max(n, 1) for i in range(n)],
        **kw,  # type: ignore[arg-type]
    )


def test_small_request_is_one_line_that_parses_back() -> None:
    (line,) = _lines(3)
    assert line.startswith(MARKER + " ")
    parsed = parse_line("2026-11-24 10:00:00,123 | INFO | " + line)  # a runtime prefix is tolerated
    assert parsed.model_name == "credit-default" and parsed.model_version == "3"
    assert parsed.deployment == "blue" and parsed.time == "2026-11-24T10:00:00.123456Z"
    assert (parsed.part, parsed.parts, parsed.first_record, parsed.n_records) == (1, 1, 0, 3)
    assert parsed.rows == _rows(3) and len(parsed.predictions) == 3


def test_large_request_is_split_under_the_limit_and_reassembles_in_any_order() -> None:
    lines = _lines(500)
    assert len(lines) > 5
    assert all(len(line.encode()) <= MAX_LINE_BYTES for line in lines)
    random.Random(1).shuffle(lines)
    assembler = RequestAssembler()
    assembler.add_all(lines + lines[:2])  # duplicated ingestion of two parts is harmless
    complete, rejected = assembler.finish()
    assert rejected == []
    (request,) = complete
    assert request.rows == _rows(500)
    assert request.predictions == [i / 500 for i in range(500)]


def test_missing_part_rejects_the_whole_request_with_its_messages() -> None:
    lines = _lines(500)
    assembler = RequestAssembler()
    assembler.add_all(lines[:2] + lines[3:])
    complete, rejected = assembler.finish()
    assert complete == []
    (bad,) = rejected
    assert bad.request_id == "r1" and "missing part(s) [3]" in bad.reason
    assert len(bad.messages) == len(lines) - 1


@pytest.mark.parametrize(
    "message,reason",
    [
        (f"{MARKER} {{not json", "not valid JSON"),
        (f"{MARKER} []", "not an object"),
        (f'{MARKER} {{"service": "batch/x"}}', "is not online/<model>/<version>"),
        ("plain log line", "no inference marker"),
        (f'{MARKER} {{"service": NaN}}', "not valid JSON"),
    ],
)
def test_malformed_lines_are_rejected_with_a_reason(message: str, reason: str) -> None:
    with pytest.raises(ConsoleLogError, match=reason):
        parse_line(message)
    assembler = RequestAssembler()
    assembler.add(message)
    complete, rejected = assembler.finish()
    assert complete == [] and rejected[0].messages == [message]


def test_conflicting_duplicate_part_is_rejected() -> None:
    (line,) = _lines(2)
    doc = json.loads(line[len(MARKER) + 1 :])
    doc["predictions"][0] = 0.99
    assembler = RequestAssembler()
    assembler.add_all([line, f"{MARKER} {json.dumps(doc)}"])
    complete, rejected = assembler.finish()
    assert complete == [] and "same part" in rejected[0].reason


def test_a_record_too_large_for_one_line_is_refused_at_write_time() -> None:
    with pytest.raises(ConsoleLogError, match="record 0 alone"):
        format_lines(
            request_id="r",
            model_name="m",
            model_version="1",
            deployment="d",
            time=T0,
            columns=["x"],
            rows=[["y" * MAX_LINE_BYTES]],
            predictions=[0.5],
        )


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=300), limit=st.integers(min_value=2_000, max_value=20_000))
def test_round_trip_for_any_size_and_limit(n: int, limit: int) -> None:
    lines = _lines(n, max_bytes=limit)
    assert all(len(line.encode()) <= limit for line in lines)
    assembler = RequestAssembler()
    assembler.add_all(reversed(lines))
    (request,), rejected = assembler.finish()
    assert rejected == [] and request.rows == _rows(n)


@pytest.mark.parametrize("text", ['{"a": [1.5, "x", null, true]}', '{"a": NaN}', '{"a": Infinity}', "{bad", "[1,]"])
def test_fast_and_standard_library_decoders_agree(text: str) -> None:
    """The reader uses orjson where installed, the standard library elsewhere: same verdicts either way."""
    from ml_assets.src.contracts import console_log

    def outcome(loads: object) -> object:
        try:
            return loads(text)  # type: ignore[operator]
        except ValueError:
            return "rejected"

    assert outcome(console_log._loads) == outcome(console_log._json_loads)


def test_counts_are_per_line_and_add_up_over_the_request() -> None:
    n = 300
    lines = _lines(
        n,
        unknown_categories=[i % 2 for i in range(n)],
        values_outside_training_range=[int(i % 3 == 0) for i in range(n)],
    )
    assert len(lines) > 1
    parsed = [parse_line(line) for line in lines]
    for line in parsed:
        records = range(line.first_record, line.first_record + len(line.rows))
        assert line.unknown_categories == sum(i % 2 for i in records)
        assert line.values_outside_training_range == sum(int(i % 3 == 0) for i in records)
    assembler = RequestAssembler()
    assembler.add_all(lines)
    (request,), _ = assembler.finish()
    assert (request.unknown_categories, request.values_outside_training_range) == (n // 2, n // 3)


# A line as score.py wrote it before values_outside_training_range existed.
OLD_LINE = (
    f'{MARKER} {{"service":"online/credit-default/2","deployment":"blue","request_id":"old-1",'
    '"time":"2026-11-20T08:00:00.000001Z","n_records":1,"columns":["credit_limit"],"part":1,"parts":1,'
    '"first_record":0,"rows":[[18000]],"predictions":[0.25],"unknown_categories":1}'
)


def test_a_line_written_before_the_outside_count_existed_still_parses_with_zero() -> None:
    line = parse_line(OLD_LINE)
    assert (line.unknown_categories, line.values_outside_training_range) == (1, 0)
    assembler = RequestAssembler()
    assembler.add(OLD_LINE)
    (request,), rejected = assembler.finish()
    assert rejected == [] and request.rows == [[18000]] and request.values_outside_training_range == 0


@pytest.mark.parametrize("value", ['"3"', "1.5", "true", "null"])
def test_an_outside_count_that_is_not_an_integer_is_rejected(value: str) -> None:
    message = OLD_LINE[:-1] + f',"values_outside_training_range":{value}}}'
    with pytest.raises(ConsoleLogError, match="'values_outside_training_range' is not an integer"):
        parse_line(message)
