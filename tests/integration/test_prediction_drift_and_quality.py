"""The drift component's prediction drift (per model version, against the version's own reference scores) and
data quality (per feature and the window's quarantine), each against a brute-force computation on the raw rows
and, for prediction drift, against Evidently's own test on the full data.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml_assets.src.contracts import drift_telemetry as t
from ml_assets.src.contracts import prediction_reference as pr
from ml_assets.src.contracts.data_quality_telemetry import DataQuality
from ml_assets.src.contracts.export_layout import quarantine_path
from ml_assets.src.contracts.feature_schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from ml_assets.src.drift import component as drift
from ml_assets.src.training.synthetic import generate
from tests.integration.test_drift_component import DAY, MODEL, _args, _metrics, write_export


@pytest.fixture
def telemetry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "telemetry" / "drift.jsonl"
    monkeypatch.setenv("LOCAL_TELEMETRY_FILE", str(path))
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    return path


def model_folder(root: Path, scores: np.ndarray) -> Path:
    """A registered model's folder as the drift job mounts it: MLmodel and the reference scores, nested once."""
    folder = root / "model" / "credit-default-3"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    pr.write_reference(folder, scores, source="test split")
    return root / "model"


def messages_of(path: Path) -> list[t.DriftMessage]:
    return [m for _, m in t.drift_messages(t.read_local(path))]


@pytest.mark.slow
def test_prediction_drift_of_each_version_against_its_own_reference_is_evidentlys(tmp_path, telemetry_file):
    # Given version 3's reference scores, and a window whose rows mix version 3 (drifted scores) and version 2
    reference = tmp_path / "reference.csv"
    generate(1500, seed=1).to_csv(reference, index=False)
    reference_scores = np.random.default_rng(1).beta(2, 5, 3000)
    current = generate(4000, seed=2, with_target=False)
    current["prediction"] = np.random.default_rng(2).beta(2, 3, len(current))
    target = write_export(current, tmp_path)
    other = generate(300, seed=3, with_target=False)
    other["prediction"] = np.random.default_rng(3).beta(2, 5, len(other))
    mix_in(target, other, tmp_path, "2")

    # When the component runs with version 3's model folder
    args = [
        *_args(tmp_path, reference, target),
        "--prediction_reference",
        str(model_folder(tmp_path, reference_scores)),
    ]
    assert drift.main(drift.parse_args(args)) == 0

    # Then version 3 is compared with its reference, and version 2 is skipped with the reason
    metrics = _metrics(tmp_path)
    by_version = {p["model_version"]: p for p in metrics["prediction_drift_by_version"]}
    assert by_version["3"]["status"] == "computed" and by_version["3"]["rows"] == 4000
    assert by_version["2"]["status"] == "skipped" and by_version["2"]["rows"] == 300
    assert "no reference scores for version 2" in by_version["2"]["reason"]
    own = by_version["3"]["drift"]
    assert metrics["prediction_drift"] == own and own["stattest"] == "wasserstein"

    # And the score and verdict are Evidently's own on the full data (a ValueDrift report over the raw rows)
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    from ml_assets.src.drift.verdicts import evidently_verdicts

    definition = DataDefinition(numerical_columns=["prediction"])
    snapshot = Report([ValueDrift(column="prediction")], include_tests=True).run(
        current_data=Dataset.from_pandas(current[["prediction"]], data_definition=definition),
        reference_data=Dataset.from_pandas(pd.DataFrame({"prediction": reference_scores}), data_definition=definition),
    )
    score, drifted = evidently_verdicts(snapshot.dict(), ["prediction"])["prediction"]
    assert own["drift_score"] == pytest.approx(score, rel=1e-9, abs=1e-12)
    assert own["drift_detected"] is drifted is True

    # And one PredictionDriftMetrics is sent, for version 3 (the version that scored those rows)
    predictions = [m for m in messages_of(telemetry_file) if m.type == t.PREDICTION]
    assert [(m.model_version, m.data.feature_name) for m in predictions] == [("3", "prediction")]
    assert predictions[0].data.drift_score == pytest.approx(own["drift_score"], rel=1e-12)
    metric_records = [r for r in t.read_local(telemetry_file) if r.get("name") == t.METRIC_PREDICTION_SCORE]
    assert [r["customDimensions"]["model_version"] for r in metric_records] == ["3"]

    # And the prediction drift has a report of its own (its reference is the test split, not the training data)
    html = (tmp_path / "out" / "report" / "prediction_drift_report.html").read_text()
    assert "test split" in html and "report_error" not in _metrics(tmp_path)


def mix_in(target: Path, frame: pd.DataFrame, root: Path, version: str) -> None:
    """Rows of another version inside ``target`` (a version folder): a window whose rows mix versions."""
    other = write_export(frame, root / f"mixed-{version}", version=version, hours=1)
    for file in other.rglob("*.parquet"):
        destination = target / file.relative_to(other).with_name(f"v{version}-{file.name}")
        destination.parent.mkdir(parents=True, exist_ok=True)
        file.rename(destination)


def test_too_few_predictions_of_the_version_skip_its_prediction_drift_only(tmp_path, telemetry_file):
    # Given 80 rows of version 3 and 300 of version 2 in the window, and min_rows 100
    reference = tmp_path / "reference.csv"
    generate(1500, seed=1).to_csv(reference, index=False)
    target = write_export(generate(80, seed=2, with_target=False), tmp_path, hours=1)
    mix_in(target, generate(300, seed=3, with_target=False), tmp_path, "2")
    folder = model_folder(tmp_path, np.random.default_rng(1).uniform(0, 1, 500))

    args = [*_args(tmp_path, reference, target), "--min_rows", "100", "--prediction_reference", str(folder)]
    assert drift.main(drift.parse_args(args)) == 0

    # Then feature drift runs on the 380 rows, and version 3's prediction drift is skipped for its 80
    metrics = _metrics(tmp_path)
    assert metrics["status"] == "completed" and metrics["current_rows"] == 380
    assert metrics["prediction_drift"] is None
    assert "only 80 predictions of version 3" in metrics["prediction_note"]
    assert [m.type for m in messages_of(telemetry_file)].count(t.PREDICTION) == 0


def test_an_unreadable_reference_skips_prediction_drift_with_the_reason_and_keeps_the_rest(tmp_path, telemetry_file):
    reference = tmp_path / "reference.csv"
    generate(1500, seed=1).to_csv(reference, index=False)
    target = write_export(generate(400, seed=2, with_target=False), tmp_path)
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / pr.FILE_NAME).write_text('{"schema": "something else"}')

    args = [*_args(tmp_path, reference, target), "--prediction_reference", str(broken)]
    assert drift.main(drift.parse_args(args)) == 0

    metrics = _metrics(tmp_path)
    assert metrics["status"] == "completed" and metrics["prediction_drift"] is None
    assert (
        "could not be read" in metrics["prediction_note"] and "not a prediction reference" in metrics["prediction_note"]
    )
    assert {m.type for m in messages_of(telemetry_file)} == {t.OVERALL, t.FEATURE, t.DATA_QUALITY}


def _hostile_export(frame: pd.DataFrame, root: Path) -> Path:
    """``frame`` as one exported file whose columns may hold nulls (what other writers of the layout may do)."""
    folder = root / "inference" / f"model={MODEL}" / "version=3" / f"date={DAY.date().isoformat()}" / "hour=05"
    folder.mkdir(parents=True)
    moment = DAY + timedelta(hours=5)
    columns = {
        "time": pa.array([moment] * len(frame), pa.timestamp("us", tz="UTC")),
        "model_version": pa.array(["3"] * len(frame)),
        **{
            c: pa.array(frame[c].tolist(), pa.string() if c in CATEGORICAL_FEATURES else pa.float64()) for c in FEATURES
        },
        "prediction": pa.array(np.linspace(0, 1, len(frame))),
    }
    pq.write_table(pa.table(columns), folder / "part.parquet")
    return root / "inference" / f"model={MODEL}" / "version=3"


def _quarantine(root: Path) -> tuple[Path, int, int]:
    """A quarantine folder with entries inside and outside the window; returns it and the expected counts."""
    folder = root / "quarantine"
    inside = [(DAY + timedelta(hours=2), 3), (DAY + timedelta(hours=2), 1), (DAY + timedelta(hours=20), 2)]
    outside = [(DAY - timedelta(hours=1), 5), (DAY + timedelta(days=1), 4)]
    for number, (start, lines) in enumerate(inside + outside):
        path = folder / quarantine_path("", start, f"w{number}").lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "reason": "malformed line",
            "request_id": None,
            "window": {"start": start.isoformat().replace("+00:00", "Z"), "end": "x"},
            "lines": [{"time": "t", "deployment": "blue", "message": "m"}] * lines,
        }
        with path.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
    (folder / "date=2026-11-23" / "hour=02" / "part-w0.jsonl").open("a").write("not an entry\n")
    return folder, len(inside), sum(lines for _, lines in inside)


def test_data_quality_is_counted_exactly_as_a_brute_force_count_of_the_rows(tmp_path, telemetry_file):
    # Given a reference and a window with missing values, values beyond the reference's range (±inf too),
    # categories the reference never holds, and quarantined lines in and around the window
    reference_frame = generate(1500, seed=1)
    reference = tmp_path / "reference.csv"
    reference_frame.to_csv(reference, index=False)
    current = generate(600, seed=2, with_target=False).astype({c: float for c in NUMERIC_FEATURES})
    rng = np.random.default_rng(7)
    current.loc[rng.choice(600, 40, replace=False), "age"] = np.nan
    current.loc[rng.choice(600, 25, replace=False), "credit_limit"] = reference_frame["credit_limit"].max() * 3
    current.loc[rng.choice(600, 3, replace=False), "bill_amount_1"] = np.inf
    current.loc[rng.choice(600, 2, replace=False), "bill_amount_2"] = -np.inf
    current.loc[rng.choice(600, 30, replace=False), "education"] = "postdoc"
    current.loc[rng.choice(600, 10, replace=False), "sex"] = None
    target = _hostile_export(current, tmp_path)
    quarantine, entries, lines = _quarantine(tmp_path)

    # When the component runs
    args = [*_args(tmp_path, reference, target), "--quarantine_data", str(quarantine)]
    assert drift.main(drift.parse_args(args)) == 0

    # Then every figure equals a brute-force count over the raw rows
    quality = _metrics(tmp_path)["data_quality"]
    features = {f["feature_name"]: f for f in quality["features"]}
    assert quality["rows"] == 600
    for name in FEATURES:
        column, ref = current[name], reference_frame[name]
        missing = int(column.isna().sum())
        present = 600 - missing
        got = features[name]
        assert got["missing"] == missing and got["missing_share"] == pytest.approx(missing / 600), name
        if name in CATEGORICAL_FEATURES:
            unknown = int((~column.dropna().isin(set(ref.dropna()))).sum())
            assert got["unknown_categories"] == unknown, name
            assert got["unknown_category_share"] == pytest.approx(unknown / present), name
            assert got["outside_range"] is None
        else:
            values = column.dropna()
            outside = int(((values < ref.min()) | (values > ref.max())).sum())
            assert got["outside_range"] == outside, name
            assert got["outside_range_share"] == pytest.approx(outside / present), name
            assert got["unknown_categories"] is None
    assert features["credit_limit"]["outside_range"] >= 25 and features["bill_amount_1"]["outside_range"] >= 3
    assert features["education"]["unknown_categories"] == 30 and features["sex"]["missing"] == 10
    assert quality["reference_ranges"]["age"] == [reference_frame["age"].min(), reference_frame["age"].max()]

    # And the window's quarantine: the entries of export windows starting in it, their lines; a bad line named
    assert (quality["quarantine_entries"], quality["quarantined_lines"]) == (entries, lines)
    assert quality["quarantine"]["unreadable"] == 1

    # And the DataQualityMetrics trace carries the same figures, read back through the contract
    (message,) = [m for m in messages_of(telemetry_file) if m.type == t.DATA_QUALITY]
    assert isinstance(message.data, DataQuality) and (message.model_name, message.model_version) == (MODEL, "3")
    assert message.data.as_dict() == {k: v for k, v in quality.items() if k not in ("reference_ranges", "quarantine")}
    assert message.data.max_missing_share == pytest.approx(40 / 600)
