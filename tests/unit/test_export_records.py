"""Requests → Arrow/Parquet: fixed schema, column-wise type checks, offending requests rejected by name."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml_assets.src.contracts.console_log import Request
from ml_assets.src.contracts.feature_schema import FEATURES
from shared.services.export_records import SCHEMA, parquet_bytes, request_time, to_table
from tests.unit.test_export_fakes import record

AT = datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)


def req(
    request_id: str, rows: list[list[object]], *, columns: tuple[str, ...] = FEATURES, version: str = "3"
) -> Request:
    # through JSON, like the real thing (distinct string objects, ints vs floats as written)
    rows = json.loads(json.dumps(rows))
    return Request(
        request_id=request_id,
        model_name="credit-default",
        model_version=version,
        deployment="blue",
        time="2026-11-24T10:00:00.123456Z",
        columns=columns,
        rows=rows,
        predictions=[0.25] * len(rows),
        unknown_categories=0,
    )


def good(seed: int = 0) -> list[object]:
    return record(random.Random(seed))


def with_value(name: str, value: object) -> list[object]:
    row = good()
    row[FEATURES.index(name)] = value
    return row


def test_schema_is_fixed_and_declares_every_feature() -> None:
    assert SCHEMA.names[:7] == [
        "request_id",
        "record_index",
        "record_id",
        "time",
        "deployment",
        "model_name",
        "model_version",
    ]
    assert SCHEMA.names[7:-1] == list(FEATURES) and SCHEMA.names[-1] == "prediction"
    assert SCHEMA.field("record_id").nullable and not SCHEMA.field("request_id").nullable
    assert SCHEMA.field("age").type == pa.int64()
    assert SCHEMA.field("credit_limit").type == pa.float64()
    assert SCHEMA.field("sex").type == pa.string()
    assert SCHEMA.field("time").type == pa.timestamp("us", tz="UTC")
    assert "model" not in SCHEMA.names and "version" not in SCHEMA.names  # the partition keys


def test_records_become_rows_with_ids_indexes_and_the_request_time() -> None:
    requests = [req("a", [good(1), good(2)]), req("b", [good(3)])]
    converted = to_table(requests, [AT, AT])
    table = converted.table
    assert converted.rejected == [] and table.schema == SCHEMA
    assert table.column("request_id").to_pylist() == ["a", "a", "b"]
    assert table.column("record_index").to_pylist() == [0, 1, 0]
    assert table.column("time").to_pylist() == [AT] * 3
    assert table.column("sex").to_pylist() == [good(1)[1], good(2)[1], good(3)[1]]
    assert table.column("prediction").to_pylist() == [0.25] * 3
    table.validate(full=True)


def test_types_do_not_drift_with_the_data() -> None:
    # whole-number amounts, integral floats for age: still float64 and int64
    row = with_value("credit_limit", 20000)
    row[FEATURES.index("age")] = 35.0
    table = to_table([req("a", [row])], [AT]).table
    assert table.schema == SCHEMA
    assert table.column("age").to_pylist() == [35]
    assert table.column("credit_limit").to_pylist() == [20000.0]
    assert to_table([], []).table.schema == SCHEMA


WRONG_VALUES = [
    ("age", 35.5, "expected an integer"),
    ("age", "35", "expected a number"),
    ("age", [35], "expected a number"),
    ("age", 2**70, "outside the 64-bit integer range"),
    ("credit_limit", None, "expected a number, got null"),
    ("credit_limit", "20000", "expected a number, got str"),
    ("credit_limit", {"v": 1}, "expected a number"),
    ("credit_limit", 10**400, "outside the float64 range"),
    ("bill_amount_1", float("nan"), "finite"),
    ("sex", 1, "expected a string"),
    ("education", None, "expected a string"),
    ("marriage", "\ud800", "not valid Unicode"),
    ("credit_limit", True, "expected a number, got bool"),
    ("age", False, "expected a number, got bool"),
]


@pytest.mark.parametrize(("name", "value", "reason"), WRONG_VALUES)
def test_a_wrong_value_rejects_its_request_only_and_names_the_field(name: str, value: object, reason: str) -> None:
    bad = req("bad", [good(1), with_value(name, value)])
    converted = to_table([req("ok", [good(2)]), bad, req("ok2", [good(3)])], [AT, AT, AT])
    assert converted.table.column("request_id").to_pylist() == ["ok", "ok2"]
    (rejection,) = converted.rejected
    assert rejection.request is bad
    assert f"record 1, field {name!r}" in rejection.reason and reason in rejection.reason


def test_a_non_finite_prediction_is_rejected() -> None:
    bad = req("bad", [good()])
    bad.predictions = [float("inf")]
    converted = to_table([bad], [AT])
    assert converted.table.num_rows == 0 and "prediction" in converted.rejected[0].reason


def test_columns_are_matched_by_name_extra_ones_ignored_missing_ones_rejected() -> None:
    shuffled = (*reversed(FEATURES), "extra")
    row = good(5)
    values = [*reversed(row), "ignored"]
    missing = req("missing", [good()[:-1]], columns=FEATURES[:-1])
    converted = to_table([req("shuffled", [values], columns=shuffled), missing], [AT, AT])
    assert converted.table.num_rows == 1
    assert converted.table.slice(0, 1).select(list(FEATURES)).to_pylist()[0] == dict(zip(FEATURES, row, strict=True))
    (rejection,) = converted.rejected
    assert rejection.request is missing and FEATURES[-1] in rejection.reason


def test_non_ascii_text_survives() -> None:
    table = to_table([req("é-1", [with_value("education", "hochschule-ü")])], [AT]).table
    assert table.column("request_id").to_pylist() == ["é-1"]
    assert table.column("education").to_pylist() == ["hochschule-ü"]


def test_parquet_round_trip_keeps_schema_and_window_metadata() -> None:
    table = to_table([req("a", [good(1), good(2)])], [AT]).table
    data = parquet_bytes(table, {"mlops.export.window": "20261124T100000Z-20261124T110000Z"})
    back = pq.read_table(io.BytesIO(data))
    assert back.schema.remove_metadata() == SCHEMA.remove_metadata()
    assert back.schema.metadata[b"mlops.export.window"] == b"20261124T100000Z-20261124T110000Z"
    assert back.to_pylist() == table.to_pylist()


def test_request_time_needs_a_zone() -> None:
    assert request_time(req("a", [good()])) == AT
    naive = req("a", [good()])
    naive.time = "2026-11-24T10:00:00"
    with pytest.raises(ValueError, match="time zone"):
        request_time(naive)
