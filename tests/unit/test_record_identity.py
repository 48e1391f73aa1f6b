"""The optional per-record identifier: refused when malformed, taken out of the record before it is scored,
carried by the console-log line (older lines read without it) and written by the export as a nullable column."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from ml_assets.src.contracts import console_log
from ml_assets.src.contracts.feature_schema import FEATURES
from ml_assets.src.contracts.record_identity import MAX_RECORD_ID_CHARS, record_id_problem, record_key
from ml_assets.src.scoring.request_parsing import BadRequest, parse_request
from shared.services.export_records import parquet_bytes, to_table
from tests.hostile_requests import SAMPLE_RECORDS


def body(*records: dict) -> bytes:
    return json.dumps({"data": list(records)}).encode()


def test_an_identifier_is_taken_out_of_the_record_and_kept_beside_it() -> None:
    first, second = dict(SAMPLE_RECORDS[0]), dict(SAMPLE_RECORDS[1 % len(SAMPLE_RECORDS)])
    parsed = parse_request(body({**first, "record_id": "app-17"}, second), 10)
    plain = parse_request(body(first, second), 10)
    assert parsed.rows == plain.rows  # not a feature: the same rows are scored
    assert parsed.record_ids == ["app-17", None]
    assert plain.record_ids is None
    assert parse_request(body({**first, "record_id": None}), 10).record_ids is None  # null: no identifier


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (17, "expected a string"),
        ("", "empty"),
        ("x" * (MAX_RECORD_ID_CHARS + 1), f"longer than {MAX_RECORD_ID_CHARS}"),
        ("a\nb", "control"),
        ("\ud800", "not valid Unicode"),
        ("req-1/0", "reserved"),
        ([1], "expected a string"),
    ],
)
def test_a_malformed_identifier_is_a_400_naming_the_record_and_the_field(value: object, reason: str) -> None:
    records = [dict(SAMPLE_RECORDS[0]), {**SAMPLE_RECORDS[0], "record_id": value}]
    raw = json.dumps({"data": records}).encode("utf-8", errors="surrogatepass")
    with pytest.raises(BadRequest, match=rf"record 1, field 'record_id': .*{reason}"):
        parse_request(raw, 10)
    assert record_id_problem(value) is not None


def test_the_key_is_the_identifier_else_request_id_and_index() -> None:
    assert record_key("app-1", "req", 3) == "app-1"
    assert record_key(None, "req", 3) == "req/3"


def lines(ids: list[str | None] | None, max_bytes: int = console_log.MAX_LINE_BYTES) -> list[str]:
    rows = [[i, f"v{i}"] for i in range(40)]
    return console_log.format_lines(
        request_id="r-1", model_name="m", model_version="1", deployment="blue", time=datetime.now(UTC),
        columns=["a", "b"], rows=rows, predictions=[0.5] * 40, record_ids=ids, max_bytes=max_bytes,
    )  # fmt: skip


@pytest.mark.parametrize("max_bytes", [console_log.MAX_LINE_BYTES, 600])
def test_identifiers_survive_the_split_into_parts(max_bytes: int) -> None:
    ids = [f"id-{i}" if i % 3 else None for i in range(40)]
    written = lines(ids, max_bytes)
    assembler = console_log.RequestAssembler()
    assembler.add_all(reversed(written))
    (request,), rejected = assembler.finish()
    assert rejected == [] and request.record_ids == ids
    assert (len(written) > 1) == (max_bytes == 600)


def test_a_line_without_identifiers_reads_as_none_and_a_bad_one_is_rejected() -> None:
    (line,) = lines(None)
    assert "record_ids" not in line and console_log.parse_line(line).record_ids is None
    doc = json.loads(line.split(" ", 1)[1])
    for bad in (["x"], [1] * 40, ["a/b"] * 40):
        broken = f"{console_log.MARKER} {json.dumps({**doc, 'record_ids': bad})}"
        with pytest.raises(console_log.ConsoleLogError, match="record"):
            console_log.parse_line(broken)


def test_the_export_writes_the_identifier_column_null_where_none_was_sent() -> None:
    def request(request_id: str, ids: list[str | None] | None) -> console_log.Request:
        row = [SAMPLE_RECORDS[0][name] for name in FEATURES]
        return console_log.Request(
            request_id=request_id, model_name="m", model_version="1", deployment="blue",
            time="2026-11-24T10:00:00.000000Z", columns=FEATURES, rows=[list(row), list(row)],
            predictions=[0.1, 0.2], unknown_categories=0, record_ids=ids,
        )  # fmt: skip

    moment = datetime(2026, 11, 24, 10, tzinfo=UTC)
    converted = to_table([request("a", ["app-1", None]), request("b", None)], [moment, moment])
    assert converted.rejected == []
    table = pq.read_table(io.BytesIO(parquet_bytes(converted.table)))
    assert table.column("record_id").to_pylist() == ["app-1", None, None, None]
    only_old = to_table([request("c", None)], [moment]).table
    assert only_old.column("record_id").null_count == 2
