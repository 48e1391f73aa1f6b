"""The drift component (``ml_assets/src/drift/component.py``) on generated data in the export layout.

Reference: curated CSV from ``ml_assets/src/training/synthetic.py``. Current: exported Parquet written like the export
writes it (``<prefix>/model=<m>/version=<v>/date=…/hour=…/*.parquet`` with request id, time, …, the 23
features and ``prediction``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml_assets.src.contracts import drift_telemetry as t
from ml_assets.src.contracts.feature_schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from ml_assets.src.drift import component as drift
from ml_assets.src.drift.column_counts import CATEGORICAL, NUMERICAL, categorical_counts, numeric_counts
from ml_assets.src.drift.feature_tables import SchemaError
from ml_assets.src.drift.reference import load_reference
from ml_assets.src.drift.stattests import preset_kwargs
from ml_assets.src.drift.target_files import Window, select_target_files
from ml_assets.src.drift.target_summary import load_target, summarize_target
from ml_assets.src.drift.verdicts import evidently_verdicts
from ml_assets.src.training.synthetic import generate
from tests.conftest import PROJECT_ROOT

MODEL = "credit-default"
DAY = datetime(2026, 11, 23, tzinfo=UTC)


def write_export(frame: pd.DataFrame, root: Path, *, version: str = "3", start: datetime = DAY, hours: int = 4) -> Path:
    """``frame`` as exported Parquet spread over ``hours`` hourly partitions; returns the version folder."""
    folder = root / "inference" / f"model={MODEL}" / f"version={version}"
    rng = np.random.default_rng(0)
    prediction = frame["prediction"].to_numpy() if "prediction" in frame else rng.uniform(0, 1, len(frame))
    for hour, rows in enumerate(np.array_split(np.arange(len(frame)), hours)):
        moment = start + timedelta(hours=hour)
        part = frame.iloc[rows]
        times = [moment + timedelta(seconds=int(s)) for s in np.linspace(0, 3599, len(rows))]
        table = pa.table(
            {
                "request_id": pa.array([f"req-{hour}-{i}" for i in range(len(rows))]),
                "record_index": pa.array([0] * len(rows), pa.int32()),
                "time": pa.array(times, pa.timestamp("us", tz="UTC")),
                "deployment": pa.array(["blue"] * len(rows)),
                "model_name": pa.array([MODEL] * len(rows)),
                "model_version": pa.array([version] * len(rows)),
                **{c: pa.array(part[c].to_numpy()) for c in FEATURES},
                "prediction": pa.array(prediction[rows], pa.float64()),
            }
        )
        out = folder / f"date={moment.date().isoformat()}" / f"hour={moment.hour:02d}"
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / f"{moment:%Y%m%dT%H%M}.parquet")
    return folder


def _args(tmp: Path, reference: Path, target: Path, *extra: str) -> list[str]:
    return [
        "--reference_data",
        str(reference),
        "--target_data",
        str(target),
        "--model_name",
        MODEL,
        "--model_version",
        "3",
        "--window_start",
        DAY.isoformat(),
        "--window_end",
        (DAY + timedelta(days=1)).isoformat(),
        "--report",
        str(tmp / "out" / "report"),
        "--metrics",
        str(tmp / "out" / "metrics"),
        "--report_sample_rows",
        "2000",
        *extra,
    ]


def _metrics(tmp: Path) -> dict:
    return json.loads((tmp / "out" / "metrics" / "metrics.json").read_text())


@pytest.fixture
def telemetry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "telemetry" / "drift.jsonl"
    monkeypatch.setenv("LOCAL_TELEMETRY_FILE", str(path))
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    return path


@pytest.mark.slow
def test_two_samples_of_one_distribution_show_no_drift(tmp_path: Path):
    # Given reference and current data drawn from the same distribution (different seeds)
    reference = tmp_path / "reference" / "train.csv"
    reference.parent.mkdir()
    generate(3000, seed=1).to_csv(reference, index=False)
    target = write_export(generate(6000, seed=2, with_target=False), tmp_path)
    telemetry = tmp_path / "telemetry.jsonl"

    # When the component runs as Azure ML runs it: `python -m src.drift.component` in the ml_assets folder
    env = {**os.environ, "LOCAL_TELEMETRY_FILE": str(telemetry), "APPLICATIONINSIGHTS_CONNECTION_STRING": ""}
    result = subprocess.run(
        [sys.executable, "-m", "src.drift.component", *_args(tmp_path, reference.parent, target)],
        cwd=PROJECT_ROOT / "ml_assets",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then no feature and no dataset drift
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = _metrics(tmp_path)
    assert metrics["status"] == "completed"
    assert (metrics["n_features"], metrics["n_drifted_features"], metrics["dataset_drift"]) == (23, 0, False)
    assert metrics["current_rows"] == 6000 and metrics["reference_rows"] == 3000
    assert {f["stattest"] for f in metrics["features"]} == {"wasserstein", "jensenshannon"}

    # And the local telemetry file holds the contract's records: two traces and 1 + 23 custom metrics
    records = t.read_local(telemetry)
    messages = {m.type: m for _, m in t.drift_messages(records)}
    # (no model reference scores and no predictions in the training data: no prediction drift; data quality always)
    assert set(messages) == {t.OVERALL, t.FEATURE, t.DATA_QUALITY}
    overall = messages[t.OVERALL]
    assert (overall.model_name, overall.model_version) == (MODEL, "3")
    assert overall.data == t.OverallDrift(23, 0, 0.0, False)
    assert [f.feature_name for f in messages[t.FEATURE].data] == list(FEATURES)
    metric_names = [r["name"] for r in records if r["itemType"] == "customMetric"]
    assert metric_names.count(t.METRIC_SHARE) == 1 and metric_names.count(t.METRIC_FEATURE_SCORE) == 23
    assert "skipped" in metrics["prediction_note"] and "no reference scores" in metrics["prediction_note"]

    # And the HTML report was rendered
    html = (tmp_path / "out" / "report" / "drift_report.html").read_text()
    assert "(full data)" in html and "random samples" in html
    assert "report_error" not in metrics


@pytest.mark.slow
def test_two_shifted_features_are_exactly_the_ones_flagged_as_evidently_would(tmp_path: Path, telemetry_file: Path):
    # Given a scored reference (with predictions) and current data with age and education shifted
    reference_frame = generate(3000, seed=1)
    reference_frame["prediction"] = np.random.default_rng(1).beta(2, 5, len(reference_frame))
    reference = tmp_path / "reference.csv"
    reference_frame.to_csv(reference, index=False)
    current = generate(6000, seed=2, with_target=False, shift={"age": "+8", "education": "high_school:0.4"})
    current["prediction"] = np.random.default_rng(2).beta(2, 3, len(current))  # predictions drifted too
    target = write_export(current, tmp_path)

    # When the component runs
    code = drift.main(drift.parse_args(_args(tmp_path, reference, target)))

    # Then exactly the two shifted features are flagged, and the dataset is not drifted (2/23 < 0.5)
    assert code == 0
    metrics = _metrics(tmp_path)
    assert metrics["drifted_features"] == ["education", "age"]
    assert metrics["n_drifted_features"] == 2 and metrics["dataset_drift"] is False
    assert metrics["prediction_drift"]["drift_detected"] is True

    # And every verdict and score is Evidently's own on the full data
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=list(NUMERIC_FEATURES), categorical_columns=list(CATEGORICAL_FEATURES)
    )
    snapshot = Report([DataDriftPreset(**preset_kwargs(None, None, 0.5))], include_tests=True).run(
        current_data=Dataset.from_pandas(current[list(FEATURES)], data_definition=definition),
        reference_data=Dataset.from_pandas(pd.read_csv(reference)[list(FEATURES)], data_definition=definition),
    )
    evidently = evidently_verdicts(snapshot.dict(), list(FEATURES))
    for feature in metrics["features"]:
        score, drifted = evidently[feature["feature_name"]]
        assert feature["drift_detected"] == drifted, feature["feature_name"]
        assert feature["drift_score"] == pytest.approx(score, rel=1e-9, abs=1e-12), feature["feature_name"]

    # And the telemetry carries the same verdicts, plus the prediction drift trace
    messages = {m.type: m for _, m in t.drift_messages(t.read_local(telemetry_file))}
    assert [f.feature_name for f in messages[t.FEATURE].data if f.drift_detected] == ["education", "age"]
    assert messages[t.PREDICTION].data.feature_name == "prediction"
    assert messages[t.OVERALL].data.n_drifted_features == 2

    # And the report shows the full-data verdicts (charts from samples)
    html = (tmp_path / "out" / "report" / "drift_report.html").read_text()
    assert "Wasserstein distance (normed) (full data)" in html
    assert "report_error" not in _metrics(tmp_path)
    assert _metrics(tmp_path)["report_sample_rows"] == {"reference": 2000, "current": 2000}


def test_too_few_rows_skip_drift_with_a_message_and_send_only_the_data_quality(tmp_path: Path, telemetry_file: Path):
    reference = tmp_path / "reference.csv"
    generate(1500, seed=1).to_csv(reference, index=False)
    target = write_export(generate(60, seed=2, with_target=False), tmp_path)

    code = drift.main(drift.parse_args([*_args(tmp_path, reference, target), "--min_rows", "100"]))

    assert code == 0
    metrics = _metrics(tmp_path)
    assert metrics["status"] == "skipped"
    assert "only 60 inference rows" in metrics["reason"] and "min_rows=100" in metrics["reason"]
    assert "features" not in metrics
    # no drift sent; the window's data quality is (it needs no minimum: the counts are exact)
    assert [m.type for _, m in t.drift_messages(t.read_local(telemetry_file))] == [t.DATA_QUALITY]
    assert metrics["data_quality"]["rows"] == 60
    assert "skipped" in (tmp_path / "out" / "report" / "drift_report.html").read_text()


def test_no_data_in_the_window_is_skipped_too(tmp_path: Path, telemetry_file: Path):
    reference = tmp_path / "reference.csv"
    generate(1500, seed=1).to_csv(reference, index=False)
    target = write_export(generate(500, seed=2, with_target=False), tmp_path, start=DAY - timedelta(days=2))

    assert drift.main(drift.parse_args(_args(tmp_path, reference, target))) == 0
    metrics = _metrics(tmp_path)
    assert metrics["status"] == "skipped" and "no exported inference data" in metrics["reason"]
    (message,) = [m for _, m in t.drift_messages(t.read_local(telemetry_file))]
    assert message.type == t.DATA_QUALITY and message.data.rows == 0  # a window without rows still reports
    assert message.data.max_missing_share is None  # nothing to divide by: no share, never a fake 0


def test_min_rows_defaults_to_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DRIFT_MIN_ROWS", "250")
    assert drift.parse_args(_args(tmp_path, tmp_path, tmp_path)).min_rows == 250
    monkeypatch.delenv("DRIFT_MIN_ROWS")
    assert drift.parse_args(_args(tmp_path, tmp_path, tmp_path)).min_rows == 100
    # "none" and 0 are the pipeline's "not set"
    args = drift.parse_args([*_args(tmp_path, tmp_path, tmp_path), "--stattest", "none", "--threshold", "0"])
    assert (args.stattest, args.threshold) == (None, None)


def test_a_target_file_without_a_feature_fails_naming_the_column(tmp_path: Path, telemetry_file: Path):
    reference = tmp_path / "reference.csv"
    generate(1500, seed=1).to_csv(reference, index=False)
    target = write_export(generate(500, seed=2, with_target=False), tmp_path)
    broken = next(target.rglob("*.parquet"))
    pq.write_table(pq.read_table(broken).drop_columns(["age"]), broken)

    code = drift.main(drift.parse_args(_args(tmp_path, reference, target)))

    assert code == drift.EXIT_BAD_INPUT
    metrics = _metrics(tmp_path)
    assert metrics["status"] == "failed" and metrics["column"] == "age"
    assert "'age'" in metrics["error"] and broken.name in metrics["error"]
    assert not telemetry_file.exists()


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("bill_amount_3", "lots", "bill_amount_3"),  # text in a numeric column
        ("sex", None, "sex"),  # codes instead of labels
    ],
)
def test_a_reference_that_does_not_fit_the_schema_names_the_column(tmp_path: Path, column, value, expected):
    frame = generate(1200, seed=1)
    if value is None:
        frame[column] = np.where(frame[column] == "male", "1", "2")
    else:
        frame[column] = frame[column].astype(object)
        frame.loc[700, column] = value
    reference = tmp_path / "reference.csv"
    frame.to_csv(reference, index=False)
    with pytest.raises(SchemaError) as raised:
        load_reference(reference)
    assert raised.value.column == expected


def test_a_reference_without_a_feature_names_it(tmp_path: Path):
    reference = tmp_path / "reference.csv"
    generate(200, seed=1).drop(columns=["marriage"]).to_csv(reference, index=False)
    target = write_export(generate(200, seed=2, with_target=False), tmp_path)
    assert drift.main(drift.parse_args(_args(tmp_path, reference, target))) == drift.EXIT_BAD_INPUT
    assert _metrics(tmp_path)["column"] == "marriage"


def test_only_the_windows_partitions_and_rows_of_the_model_version_are_read(tmp_path: Path):
    frame = generate(800, seed=3, with_target=False)
    root = tmp_path / "export"
    write_export(frame.iloc[:400], root, version="3", start=DAY, hours=4)  # 100 rows/hour, 00:00-04:00
    write_export(frame.iloc[400:], root, version="2", start=DAY, hours=4)  # another version
    prefix = root / "inference"

    # A window from 01:30 to 03:00: the hour partitions 01 and 02, and rows from 01:30 on
    window = Window(DAY + timedelta(hours=1, minutes=30), DAY + timedelta(hours=3))
    selection = select_target_files(prefix, MODEL, "3", window)
    assert [p.parent.name for p in selection.files] == ["hour=01", "hour=02"]
    assert selection.skipped_other_model == 4 and selection.skipped_outside_window == 2
    table = load_target(selection.files, window)
    assert table.num_rows == 150  # half of hour 01, all of hour 02
    assert table.column_names == [*FEATURES, "prediction"]


def test_file_by_file_counts_equal_the_counts_of_all_rows(tmp_path: Path):
    # Given a window whose files differ in numeric dtype (age int64 in one, float64 in another)
    frame = generate(900, seed=4, with_target=False)
    folder = write_export(frame, tmp_path, hours=3)
    odd = sorted(folder.rglob("*.parquet"))[1]
    table = pq.read_table(odd)
    pq.write_table(table.set_column(table.schema.get_field_index("age"), "age", table["age"].cast(pa.float64())), odd)
    window = Window(DAY + timedelta(minutes=30), DAY + timedelta(hours=3))
    files = select_target_files(folder, MODEL, "3", window).files

    # When the component reduces them file by file
    summary = summarize_target(files, window, sample_rows=200)

    # Then the merged counts are exactly those of all the window's rows at once
    everything = load_target(files, window)
    assert summary.rows == everything.num_rows == 750
    for column in [*FEATURES, "prediction"]:
        kind = CATEGORICAL if column in CATEGORICAL_FEATURES else NUMERICAL
        whole = (
            categorical_counts(everything.column(column))
            if kind == CATEGORICAL
            else numeric_counts(everything.column(column))
        )
        assert summary.counts[column].as_dict() == whole.as_dict(), column
    # And the report sample is a deterministic sample of those rows
    assert summary.sample.num_rows == 200
    again = summarize_target(files, window, sample_rows=200)
    assert again.sample.equals(summary.sample)
    assert set(summary.sample.column("prediction").to_pylist()) <= set(everything.column("prediction").to_pylist())
