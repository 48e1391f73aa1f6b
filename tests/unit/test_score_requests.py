"""score.handle() on every kind of body, with a real (small) model loaded: hostile bodies get a 400 naming the
record and the field (never an exception, never a 500, never reaching the model); possible but unusual records
are scored and counted in the console-log line."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_assets.src.contracts import feature_schema as fs
from ml_assets.src.contracts.console_log import RequestAssembler, is_inference_line
from ml_assets.src.scoring import request_parsing, score
from ml_assets.src.training import synthetic
from ml_assets.src.training.model import Hyperparameters, build_pipeline
from tests.hostile_requests import SAMPLE_RECORDS, HostileBody, hostile_bodies, unusual_records

pytestmark = pytest.mark.usefixtures("no_pending_garbage")


class _Tripwire:
    """Stands in for the model where nothing may reach it."""

    def predict_proba(self, frame: object) -> None:
        raise AssertionError("a request that should have been refused reached the model")


@pytest.fixture(scope="module")
def model() -> object:
    frame = synthetic.generate(600, seed=21)
    target = (frame.pop(fs.TARGET) == "True").astype(int)
    return build_pipeline(Hyperparameters(max_iter=15)).fit(frame[list(fs.FEATURES)], target)


@pytest.fixture
def loaded(model: object) -> Iterator[None]:
    previous = score.STATE.model
    score.STATE.model = model
    yield
    score.STATE.model = previous


@pytest.fixture
def tripwire() -> Iterator[None]:
    previous = score.STATE.model
    score.STATE.model = _Tripwire()
    yield
    score.STATE.model = previous


def _refused(body: bytes) -> str:
    status, doc = score.handle(body, {"x-request-id": "req-hostile"})
    assert status == 400, doc
    assert set(doc) == {"error", "request_id"} and doc["request_id"] == "req-hostile"
    json.dumps(doc).encode("ascii")  # what azmlinfsrv sends: serialisable, surrogates escaped
    return doc["error"]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile=hostile_bodies())
def test_a_hostile_body_gets_400_naming_the_record_and_field(tripwire: None, hostile: HostileBody) -> None:
    error = _refused(hostile.body)
    assert error.startswith(hostile.expected + ": "), (hostile.kind, error)
    assert len(error) < 400 and "Traceback" not in error


def _with(field: str, raw: bytes, index: int = 1) -> bytes:
    records = [dict(SAMPLE_RECORDS[0]), dict(SAMPLE_RECORDS[1])]
    records[index][field] = "@@"
    return json.dumps({"data": records}).encode().replace(b'"@@"', raw)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_with("sex", b'"\\ud800"'), "record 1, field 'sex': not valid Unicode"),
        (_with("education", b'"uni\xffversity"'), "record 1, field 'education': not valid Unicode"),
        (_with("marriage", b'"\xed\xa0\x80"'), "record 1, field 'marriage': not valid Unicode"),
        (_with("age", b"[" * 5000 + b"]" * 5000), "record 1, field 'age': nested 5003 levels deep"),
        (_with("age", str(10**400).encode()), "record 1, field 'age': an integer of about 401 digits is above 120"),
        (_with("credit_limit", b"1" * 5000), "record 1, field 'credit_limit': expected a finite number"),
        (_with("bill_amount_3", b"1e400"), "record 1, field 'bill_amount_3': expected a finite number"),
        (_with("bill_amount_3", b"-Infinity"), "record 1, field 'bill_amount_3': expected a finite number"),
        (_with("age", b'33, "age": 34'), "record 1, field 'age': appears more than once"),
        (_with("age", b"33x"), "record 1, field 'age': not valid JSON"),
        (_with("payment_amount_6", b'"12"'), "record 1, field 'payment_amount_6': expected a number, got string"),
        (_with("sex", b"{}"), "record 1, field 'sex': expected a string category, got object"),
        (_with("credit_limit", b"-500"), "record 1, field 'credit_limit': -500 is below 0"),
        (_with("age", b"14"), "record 1, field 'age': 14 is below 15"),
        (_with("age", b"121"), "record 1, field 'age': 121 is above 120"),
        (_with("payment_amount_2", b"-0.5"), "record 1, field 'payment_amount_2': -0.5 is below 0"),
        (_with("repayment_status_4", b'"delay_12_months"'), "record 1, field 'repayment_status_4': 'delay_12_mon"),
        (_with("age", b'33, "\\udc00x": 1'), "record 1, field '\\udc00x': unknown column, and not valid Unicode"),
        (b'{"data": [], "data": [1]}', "field 'data' appears more than once"),
        (b"[" * 100_000, "the request body: nested 100000 levels deep"),
        (b'{"data": [{"age": tru}]}', "record 0, field 'age': not valid JSON"),
        (b'{"data": [{"age": 1}', "record 0: not valid JSON"),
        (b"\xff\xfe\x00", "the request body is not valid utf-16"),
    ],
)
def test_each_kind_of_bad_input_is_named_where_it_is(tripwire: None, body: bytes, expected: str) -> None:
    assert _refused(body).startswith(expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(unusual_records(), min_size=1, max_size=5))
def test_possible_values_are_scored_and_counted(loaded: None, capsys: pytest.CaptureFixture, records: list) -> None:
    capsys.readouterr()
    status, doc = score.handle(json.dumps({"data": records}).encode(), {"x-request-id": "req-unusual"})
    assert status == 200, doc
    assert len(doc["predictions"]) == len(records)
    assert all(math.isfinite(p) and 0 <= p <= 1 for p in doc["predictions"])
    assembler = RequestAssembler()
    assembler.add_all(line for line in capsys.readouterr().out.splitlines() if is_inference_line(line))
    (logged,), rejected = assembler.finish()
    assert rejected == []
    clean = [fs.validate_record(i, r) for i, r in enumerate(records)]
    assert logged.values_outside_training_range == sum(map(fs.values_outside_training_range, clean))
    assert logged.unknown_categories == sum(map(fs.unknown_categories, clean))


def test_unusual_values_are_counted_per_record(loaded: None) -> None:
    records = [
        {**SAMPLE_RECORDS[0], "age": 95, "credit_limit": 250_000},
        {**SAMPLE_RECORDS[1], "bill_amount_2": -40.5, "education": "doctorate"},
    ]
    parsed = request_parsing.parse_request(json.dumps({"data": records}).encode(), max_records=5)
    assert parsed.values_outside_training_range == [2, 0]
    assert parsed.unknown_categories == [0, 1]
    assert parsed.rows[0][fs.FEATURES.index("credit_limit")] == 250_000.0


def test_integer_literals_too_long_for_any_value_are_read_as_floats() -> None:
    assert len(str(int(fs.MAX_AMOUNT))) < request_parsing.MAX_INTEGER_DIGITS
    assert request_parsing.decode_body(b"[" + b"9" * 100_000 + b"]") == [math.inf]
    assert request_parsing.decode_body(b"[12345678901234567890]") == [12345678901234567890]
