"""The training-data quality gate in-process on generated data: each check with its defect injected, the report's
schema, prepare refusing data the gate failed, and the registered model carrying the gate's figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from demo.scenario import DEFAULT_SHIFT, with_new_default_pattern
from ml_assets.src.contracts.feature_schema import FEATURES, TARGET
from ml_assets.src.stores.local_registry import LocalModelRegistry, registry_root
from ml_assets.src.training import data_quality, prepare, register, synthetic
from ml_assets.src.training.data_quality_report import (
    ISSUE_KEYS,
    QUALITY_HTML,
    QUALITY_JSON,
    REPORT_KEYS,
    SCHEMA,
    ReportError,
    read_report,
)

ROWS = 1000


def _write(folder: Path, frame: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "part.csv", index=False)
    return folder


def _gate(tmp_path: Path, frame: pd.DataFrame, *extra: str, previous: pd.DataFrame | None = None) -> tuple[int, dict]:
    data = _write(tmp_path / "data", frame)
    argv = ["--training_data", str(data), "--quality_report", str(tmp_path / "report"), *extra]
    if previous is not None:
        argv += ["--previous_training_data", str(_write(tmp_path / "previous", previous))]
    code = data_quality.main(data_quality.parse_args(argv))
    return code, read_report(tmp_path / "report")


def _clean(seed: int = 3) -> pd.DataFrame:
    return synthetic.generate(ROWS, seed=seed)


def _failure(report: dict, check: str) -> dict:
    (failure,) = [f for f in report["failures"] if f["check"] == check]
    return failure


def test_generated_data_passes_with_nothing_to_report(tmp_path, capsys):
    code, report = _gate(tmp_path, _clean())
    assert code == 0 and report["status"] == "passed"
    assert report["failures"] == [] and report["findings"] == []
    assert report["checks"]["drift"] is None
    assert "data_quality: passed: 0 finding(s) in 1,000 rows (no previous training data)" in capsys.readouterr().out


def test_the_demos_drifted_retraining_data_passes_the_defaults_with_drift_reported(tmp_path):
    previous = synthetic.generate(4000, seed=7)
    drifted = with_new_default_pattern(synthetic.generate(4000, seed=10, shift=DEFAULT_SHIFT), seed=7)
    code, report = _gate(tmp_path, drifted, previous=previous)
    assert code == 0 and report["status"] == "passed"
    drift = report["checks"]["drift"]
    drifted_columns = {name for name, c in drift["columns"].items() if c["drifted"]}
    assert set(DEFAULT_SHIFT) <= drifted_columns
    assert {f["column"] for f in report["findings"] if f["check"] == "drift"} == drifted_columns
    assert drift["drifted_columns_share"] == len(drifted_columns) / len(FEATURES)


def test_a_missing_value_fails_naming_the_column_and_the_share(tmp_path, capsys):
    frame = _clean()
    frame["bill_amount_2"] = frame["bill_amount_2"].astype(object)
    frame.loc[[5, 9], "bill_amount_2"] = ["", "n/a"]
    frame.loc[7, "education"] = ""
    code, report = _gate(tmp_path, frame)
    assert code == 1 and report["status"] == "failed"
    assert report["checks"]["missing"]["bill_amount_2"] == 0.002
    failures = {f["column"]: f for f in report["failures"] if f["check"] == "missing"}
    assert set(failures) == {"bill_amount_2", "education"}
    assert "2 of 1,000 rows (0.20%) missing or not a value (first: row 6" in failures["bill_amount_2"]["message"]
    assert "data quality failed: education: 1 of 1,000 rows (0.10%) missing" in capsys.readouterr().err


def test_an_impossible_value_fails_by_default_and_within_a_raised_limit_is_a_finding(tmp_path, capsys):
    frame = _clean()
    frame.loc[4, "age"] = 200
    frame.loc[8, "payment_amount_3"] = -5.0
    frame.loc[2, "repayment_status_4"] = "delay_10_months"
    code, report = _gate(tmp_path, frame)
    assert code == 1
    failures = {f["column"]: f["message"] for f in report["failures"]}
    assert set(failures) == {"age", "payment_amount_3", "repayment_status_4"}
    assert "1 of 1,000 rows (0.10%) impossible (e.g. 200 is above 120" in failures["age"]
    assert "an amount paid is never negative" in failures["payment_amount_3"]
    assert "not a repayment status ('delay_10_months')" in failures["repayment_status_4"]
    assert "(limit max_impossible_share 0)" in capsys.readouterr().err
    code, report = _gate(tmp_path / "raised", frame, "--max_impossible_share", "0.01")
    assert code == 0
    assert {f["column"] for f in report["findings"] if f["check"] == "impossible"} == set(failures)


def test_unknown_open_categories_and_unusual_values_are_reported_not_failed(tmp_path):
    frame = _clean()
    frame.loc[[1, 2, 3], "education"] = "phd"
    frame.loc[6, "age"] = 95  # possible, beyond the training range
    code, report = _gate(tmp_path, frame)
    assert code == 0
    assert report["checks"]["unknown_categories"] == {"education": {"count": 3, "values": ["phd"]}}
    assert report["checks"]["outside_training_range"]["age"] == 1
    assert {(f["check"], f["column"]) for f in report["findings"]} == {
        ("unknown_category", "education"),
        ("outside_training_range", "age"),
    }


def test_duplicate_rows_above_the_limit_fail(tmp_path):
    frame = _clean()
    with_copies = pd.concat([frame, frame.iloc[:30]], ignore_index=True)
    code, report = _gate(tmp_path, with_copies)
    assert code == 1
    failure = _failure(report, "duplicates")
    assert failure["column"] is None and failure["figure"] == pytest.approx(30 / 1030)
    assert "30 of 1,030 rows (2.91%) repeat an earlier row (first: row 1001)" in failure["message"]
    code, report = _gate(tmp_path / "few", pd.concat([frame, frame.iloc[:5]], ignore_index=True))
    assert code == 0 and [f["check"] for f in report["findings"]] == ["duplicates"]


def test_rows_without_a_label_fail(tmp_path):
    frame = _clean()
    frame[TARGET] = frame[TARGET].astype(object)
    frame.loc[[0, 1, 2], TARGET] = ""
    code, report = _gate(tmp_path, frame)
    assert code == 1
    assert "default_payment_next_month: 3 of 1,000 rows (0.30%) without a label" in _failure(report, "label")["message"]
    frame[TARGET] = ""
    code, report = _gate(tmp_path / "none", frame)
    assert code == 1 and report["checks"]["label"] == {"missing": ROWS, "positives": 0, "positive_share": 0.0}


@pytest.mark.parametrize("label", [False, True])
def test_one_class_only_fails_the_balance(tmp_path, label):
    frame = _clean()
    frame[TARGET] = label
    code, report = _gate(tmp_path, frame)
    assert code == 1
    failure = _failure(report, "label_balance")
    assert failure["figure"] == float(label)
    assert f"{float(label):.2%} positives" in failure["message"] and "min_positive_share 0.02" in failure["message"]


def test_strong_drift_fails_under_a_tighter_limit(tmp_path):
    previous = _clean(seed=4)
    shifted = synthetic.generate(ROWS, seed=5, shift={"age": "+25", "credit_limit": "*3", "marriage": "single:0.9"})
    code, report = _gate(tmp_path, shifted, "--max_drifted_columns_share", "0.1", previous=previous)
    assert code == 1
    failure = _failure(report, "drift")
    assert failure["figure"] == report["checks"]["drift"]["drifted_columns_share"] > 0.1
    assert "columns drifted from the previous training data" in failure["message"]
    assert "age" in failure["message"] and "(limit max_drifted_columns_share 0.1)" in failure["message"]
    # The same data against itself: no column drifts.
    code, report = _gate(tmp_path / "same", previous, "--max_drifted_columns_share", "0", previous=previous)
    assert code == 0 and report["checks"]["drift"]["drifted_columns_share"] == 0.0


def test_unusable_thresholds_and_unreadable_data_are_clear_errors(tmp_path, capsys):
    code = data_quality.main(
        data_quality.parse_args(
            ["--training_data", str(tmp_path), "--quality_report", str(tmp_path / "r"), "--min_positive_share", "2"]
        )
    )
    assert code == 2 and "min_positive_share 2.0 is not in [0, 1]" in capsys.readouterr().err
    _write(tmp_path / "data", _clean().drop(columns=["sex"]))
    args = data_quality.parse_args(["--training_data", str(tmp_path / "data"), "--quality_report", str(tmp_path / "r")])
    assert data_quality.main(args) == 1
    assert "column 'sex' is missing" in capsys.readouterr().err


def test_the_report_follows_its_schema_in_json_and_html(tmp_path):
    frame = _clean()
    frame.loc[4, "age"] = 200
    frame.loc[1, "sex"] = "unknown"
    _gate(tmp_path, frame, previous=_clean(seed=9))
    doc = json.loads((tmp_path / "report" / QUALITY_JSON).read_text())
    assert tuple(doc) == REPORT_KEYS and doc["schema"] == SCHEMA and doc["status"] == "failed"
    assert doc["rows"] == ROWS and set(doc["thresholds"]) == {
        "max_impossible_share",
        "max_duplicate_share",
        "min_positive_share",
        "max_positive_share",
        "max_drifted_columns_share",
    }
    for issue in doc["failures"] + doc["findings"]:
        assert tuple(issue) == ISSUE_KEYS and isinstance(issue["message"], str)
    assert set(doc["checks"]) == {
        "missing",
        "impossible",
        "outside_training_range",
        "unknown_categories",
        "duplicates",
        "label",
        "drift",
    }
    assert set(doc["checks"]["missing"]) == set(FEATURES)
    assert doc["checks"]["impossible"]["age"]["count"] == 1
    assert set(doc["checks"]["drift"]["columns"]) == set(FEATURES)
    html = (tmp_path / "report" / QUALITY_HTML).read_text()
    assert "Training data quality: <span class='failed'>failed</span>" in html
    assert "age: 1 of 1,000 rows (0.10%) impossible" in html
    (tmp_path / "report" / QUALITY_JSON).write_text('{"schema": "something else"}')
    with pytest.raises(ReportError, match="not a data-quality report"):
        read_report(tmp_path / "report")


def test_prepare_refuses_data_the_gate_failed(tmp_path, capsys):
    frame = _clean()
    frame.loc[4, "age"] = 200
    assert _gate(tmp_path, frame)[0] == 1
    args = prepare.parse_args(
        [
            "--training_data", str(tmp_path / "data"),
            "--quality_report", str(tmp_path / "report"),
            "--train_data", str(tmp_path / "train"),
            "--test_data", str(tmp_path / "test"),
        ]
    )  # fmt: skip
    assert prepare.main(args) == 1
    assert "the data-quality gate failed" in capsys.readouterr().err
    assert not (tmp_path / "train").exists()


def test_the_registered_model_carries_the_gates_figures(tmp_path, monkeypatch):
    from ml_assets.src.training import evaluate, train

    monkeypatch.setenv("MLOPS_MODE", "local")
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path / "state"))
    frame = _clean()
    frame.loc[[1, 2], "marriage"] = "divorced"
    assert _gate(tmp_path, frame, previous=_clean(seed=8))[0] == 0
    steps = [
        (prepare, ["--training_data", str(tmp_path / "data"), "--quality_report", str(tmp_path / "report"),
                   "--train_data", str(tmp_path / "train"), "--test_data", str(tmp_path / "test")]),
        (train, ["--train_data", str(tmp_path / "train"), "--max_iter", "10", "--model_output", str(tmp_path / "m")]),
        (evaluate, ["--model_input", str(tmp_path / "m"), "--test_data", str(tmp_path / "test"),
                    "--model_name", "credit-default", "--evaluation", str(tmp_path / "e")]),
        (register, ["--model_input", str(tmp_path / "m"), "--evaluation", str(tmp_path / "e"),
                    "--model_name", "credit-default", "--data_quality", str(tmp_path / "report"),
                    "--registration", str(tmp_path / "r")]),
    ]  # fmt: skip
    for step, argv in steps:
        assert step.main(step.parse_args(argv)) == 0, step.__name__
    model = LocalModelRegistry(registry_root(tmp_path / "state")).latest("credit-default")
    report = read_report(tmp_path / "report")
    assert model.tags["data_quality"] == "passed"
    assert model.tags["data_quality_findings"] == str(len(report["findings"])) != "0"
    assert model.tags["data_quality_rows"] == str(ROWS)
    assert model.tags["data_quality_positive_share"] == f"{report['checks']['label']['positive_share']:.6f}"
    assert model.tags["data_quality_drifted_columns_share"] == "0.000000"
    attached = json.loads(model.properties["data_quality"])
    assert attached["schema"] == SCHEMA and attached["status"] == "passed"
    assert attached["findings"] == [f["message"] for f in report["findings"]]
    assert any("marriage: 2 of 1,000 rows (0.20%) unknown ('divorced')" in m for m in attached["findings"])


def test_the_models_property_stays_within_its_limit_and_valid_json():
    from ml_assets.src.training.data_quality_report import PROPERTY_LIMIT, model_property

    finding = {"check": "unknown_category", "column": "sex", "figure": 0.1, "limit": None, "message": "x" * 90}
    doc = {
        "schema": SCHEMA,
        "status": "passed",
        "rows": 10,
        "thresholds": {},
        "failures": [],
        "findings": [finding] * 50,
    }
    summary = json.loads(text := model_property(doc))
    assert len(text) <= PROPERTY_LIMIT < len(json.dumps(doc))
    assert 0 < len(summary["findings"]) < 50 and summary["findings_left_out"] == 50 - len(summary["findings"])
