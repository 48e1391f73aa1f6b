"""score.py under a real azmlinfsrv process on a free loopback port, called over HTTP: the sample request, every
kind of bad input (400 naming the field, never a 500 or a dropped connection, generated bodies included), unusual
values scored and counted, and the console-log lines read back with the export's RequestAssembler."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings

from ml_assets.src.contracts.console_log import RequestAssembler, is_inference_line
from ml_assets.src.contracts.feature_schema import FEATURES
from ml_assets.src.stores.local_registry import LocalModelRegistry
from ml_assets.src.training import prepare, synthetic, train
from shared.local.serve import ScoringServer
from tests.hostile_requests import HostileBody, hostile_bodies

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "ml_assets" / "endpoints" / "sample-request.json"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("score")
    synthetic.generate(1200, seed=5).to_csv(root / "d.csv", index=False)
    assert (
        prepare.main(
            prepare.parse_args(
                [
                    "--training_data",
                    str(root / "d.csv"),
                    "--train_data",
                    str(root / "tr"),
                    "--test_data",
                    str(root / "te"),
                ]
            )
        )
        == 0
    )
    assert train.main(train.parse_args(["--train_data", str(root / "tr"), "--model_output", str(root / "m")])) == 0
    registered = LocalModelRegistry(root / "registry").register("credit-default", root / "m")
    with ScoringServer(registered.path.parent, env={"DEPLOYMENT_NAME": "blue", "MAX_RECORDS_PER_REQUEST": "200"}) as s:
        yield s


def _post(server: ScoringServer, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        server.scoring_url, data=body, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def _requests_logged(server: ScoringServer, expected: str | None = None, timeout: float = 15.0):
    """The requests re-assembled from the server's output so far. The output is read by a thread, so it may lag
    behind the HTTP response: with ``expected``, wait until that request's lines are all there."""
    deadline = time.monotonic() + timeout
    while True:
        assembler = RequestAssembler()
        assembler.add_all(line for line in server.output() if is_inference_line(line))
        complete, rejected = assembler.finish()
        logged = {r.request_id: r for r in complete}
        if expected is None or expected in logged or time.monotonic() >= deadline:
            assert rejected == []
            return logged
        time.sleep(0.05)


def test_sample_request_is_scored_and_logged(server):
    body = SAMPLE.read_bytes()
    status, doc, headers = _post(server, body, {"x-request-id": "req-sample-1"})
    assert status == 200
    predictions = doc["predictions"]
    assert len(predictions) == 2 and all(0.0 < p < 1.0 for p in predictions)
    assert headers.get("x-request-id") == "req-sample-1"
    logged = _requests_logged(server, "req-sample-1")["req-sample-1"]
    assert logged.model_name == "credit-default" and logged.model_version == "1"
    assert logged.deployment == "blue"
    assert logged.columns == FEATURES
    records = json.loads(body)["data"]
    assert logged.rows == [[r[f] for f in FEATURES] for r in records]
    assert logged.predictions == predictions
    assert logged.unknown_categories == 0 and logged.values_outside_training_range == 0


def test_large_request_is_split_over_several_lines_and_reassembled(server):
    records = synthetic.generate(150, seed=9, with_target=False).to_dict(orient="records")
    records[3]["education"] = "doctorate"  # unknown category: scored and counted
    status, doc, _ = _post(server, json.dumps({"data": records}).encode(), {"x-request-id": "req-big"})
    assert status == 200 and len(doc["predictions"]) == 150
    logged = _requests_logged(server, "req-big")["req-big"]
    lines = [line for line in server.output() if is_inference_line(line) and '"req-big"' in line]
    assert len(lines) > 1
    assert logged.rows == [[r[f] for f in FEATURES] for r in records]
    assert logged.predictions == doc["predictions"]
    assert logged.unknown_categories == 1


def test_request_without_an_id_gets_the_servers_id(server):
    status, _, headers = _post(server, SAMPLE.read_bytes())
    assert status == 200
    assert headers["x-request-id"] in _requests_logged(server, headers["x-request-id"])


def _record() -> dict:
    return json.loads(SAMPLE.read_text())["data"][0]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"inputs": []}', "'data' is missing"),
        (b'{"data": []}', "empty list"),
        (
            json.dumps({"data": [_record(), {k: v for k, v in _record().items() if k != "bill_amount_2"}]}).encode(),
            "record 1, field 'bill_amount_2': missing",
        ),
        (
            json.dumps({"data": [{**_record(), "credit_limit": "18000"}]}).encode(),
            "record 0, field 'credit_limit': expected a number",
        ),
        (json.dumps({"data": [{**_record(), "sex": 1}]}).encode(), "record 0, field 'sex': expected a string"),
        (json.dumps({"data": [{**_record(), "customer_id": 7}]}).encode(), "field 'customer_id': unknown column"),
        (json.dumps({"data": [_record()] * 201}).encode(), "at most 200"),
    ],
)
def test_bad_input_gets_400_naming_the_field(server, body, expected):
    status, doc, _ = _post(server, body, {"x-request-id": "req-bad"})
    assert status == 400
    assert expected in doc["error"]
    assert "Traceback" not in json.dumps(doc)
    assert "req-bad" not in _requests_logged(server)


def _with(raw: bytes, field: str = "age") -> bytes:
    return json.dumps({"data": [_record(), {**_record(), field: "@@"}]}).encode().replace(b'"@@"', raw)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_with(b'"\\ud800"', "sex"), "record 1, field 'sex': not valid Unicode"),
        (_with(b'"ma\xffle"', "sex"), "record 1, field 'sex': not valid Unicode"),
        (_with(b"[" * 20_000 + b"]" * 20_000), "record 1, field 'age': nested 20003 levels deep"),
        (_with(str(10**400).encode()), "record 1, field 'age': an integer of about 401 digits is above 120"),
        (_with(b"1" * 5000, "credit_limit"), "record 1, field 'credit_limit': expected a finite number"),
        (_with(b"1e400", "bill_amount_1"), "record 1, field 'bill_amount_1': expected a finite number"),
        (_with(b'33, "age": 34'), "record 1, field 'age': appears more than once"),
        (_with(b"-3", "payment_amount_1"), "record 1, field 'payment_amount_1': -3 is below 0"),
        (_with(b"130"), "record 1, field 'age': 130 is above 120"),
    ],
)
def test_hostile_input_gets_400_naming_the_record_and_field(server, body, expected):
    status, doc, _ = _post(server, body, {"x-request-id": "req-hostile"})
    assert status == 400
    assert doc["error"].startswith(expected)
    assert "req-hostile" not in _requests_logged(server)


@settings(max_examples=15, deadline=None)
@given(hostile=hostile_bodies())
def test_generated_hostile_bodies_get_400_with_a_json_body(server, hostile: HostileBody):
    status, doc, _ = _post(server, hostile.body, {"x-request-id": "req-generated"})
    assert status == 400, doc
    assert doc["error"].startswith(hostile.expected), (hostile.kind, doc["error"])


def test_unusual_values_are_scored_and_counted(server):
    records = [{**_record(), "age": 95, "credit_limit": 250_000}, {**_record(), "bill_amount_2": -20_000}]
    status, doc, _ = _post(server, json.dumps({"data": records}).encode(), {"x-request-id": "req-unusual"})
    assert status == 200 and len(doc["predictions"]) == 2
    logged = _requests_logged(server, "req-unusual")["req-unusual"]
    assert logged.values_outside_training_range == 3
    assert logged.unknown_categories == 0
