"""The data-quality and prediction-drift contracts (writer and readers agree), the data-quality alert rule, the
prediction reference file, the quarantine layout (the export writes what the drift component reads), and the
exact counting of data quality and per-version predictions against brute force."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_assets.src.contracts import alert_rules as rules
from ml_assets.src.contracts import data_quality_telemetry as q
from ml_assets.src.contracts import drift_telemetry as t
from ml_assets.src.contracts import prediction_reference as pr
from ml_assets.src.contracts.export_layout import parse_quarantine_path, quarantine_path
from ml_assets.src.contracts.feature_schema import FEATURES
from ml_assets.src.drift.column_counts import CATEGORICAL, Counts, categorical_counts, numeric_counts
from ml_assets.src.drift.data_quality import Gaps, column_gaps, outside_range, unknown_categories
from ml_assets.src.drift.prediction_drift import PredictionStatus, load_reference_scores, prediction_drift
from ml_assets.src.drift.quarantine_files import count_quarantine
from ml_assets.src.drift.target_files import Window
from ml_assets.src.drift.telemetry_batch import quality_batch, telemetry_batch
from ml_assets.src.drift.verdicts import DatasetDrift, evidently_column_drift

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def _quality(
    missing: int = 0, outside: int = 0, unknown: int = 0, quarantined: int = 0, rows: int = 100
) -> q.DataQuality:
    return q.DataQuality(
        rows=rows,
        features=(
            q.FeatureQuality("age", missing, rows - missing, outside_range=outside),
            q.FeatureQuality("education", 0, rows, unknown_categories=unknown),
        ),
        quarantined_lines=quarantined,
        quarantine_entries=1 if quarantined else 0,
    )


# --- the DataQualityMetrics contract -------------------------------------------------------------


def test_the_data_quality_message_has_exactly_the_contract_shape_and_reads_back():
    message = q.data_quality_message("credit-default", "3", _quality(missing=10, outside=9, unknown=2, quarantined=4))
    document = json.loads(message.text())
    assert document["type"] == "DataQualityMetrics" and document["model_version"] == "3"
    assert list(document["data"]) == list(q.SUMMARY_KEYS)
    age, education = document["data"]["features"]
    assert age == {
        "feature_name": "age",
        "missing": 10,
        "missing_share": 0.1,
        "outside_range": 9,
        "outside_range_share": 0.1,  # of the 90 values present
        "unknown_categories": None,
        "unknown_category_share": None,
    }
    assert education["unknown_category_share"] == 0.02 and education["outside_range"] is None
    assert document["data"]["max_missing_share"] == 0.1 and document["data"]["quarantined_lines"] == 4

    parsed = t.parse_message(message.text())
    assert parsed == message


def test_a_window_without_rows_has_no_shares_not_zero_shares():
    data = q.DataQuality(rows=0, features=(q.FeatureQuality("age", 0, 0, outside_range=0),), quarantined_lines=3)
    assert (data.max_missing_share, data.max_outside_range_share, data.max_unknown_category_share) == (None,) * 3
    assert t.parse_message(q.data_quality_message("m", "1", data).text()).data == data


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("rows"), "missing rows"),
        (lambda d: d.update(rows=-1), "rows"),
        (lambda d: d.update(rows=True), "rows"),
        (lambda d: d.update(features={}), "features"),
        (lambda d: d["features"][0].pop("missing"), "missing missing"),
        (lambda d: d["features"][0].update(missing=101), "missing"),
        (lambda d: d["features"][0].update(outside_range=1.5), "outside_range"),
        (lambda d: d.update(max_missing_share=0.5), "max_missing_share"),  # disagrees with the counts
        (lambda d: d.update(quarantined_lines="3"), "quarantined_lines"),
    ],
)
def test_a_malformed_data_quality_message_names_the_field(change, field):
    document = json.loads(q.data_quality_message("m", "1", _quality(missing=10)).text())
    change(document["data"])
    with pytest.raises(t.TelemetryContractError, match=field):
        t.parse_message(json.dumps(document))


def test_the_run_batch_carries_prediction_drift_per_computed_version_and_the_data_quality(tmp_path: Path):
    from ml_assets.src.drift.prediction_drift import VersionPrediction
    from ml_assets.src.drift.verdicts import ColumnDrift

    drift = ColumnDrift("prediction", "num", "wasserstein", "Wasserstein distance (normed)", 0.4, 0.1, True,
                        "counts", 500, 300, 250)  # fmt: skip
    predictions = [
        VersionPrediction("3", 300, PredictionStatus.COMPUTED, drift=drift),
        VersionPrediction("2", 50, PredictionStatus.SKIPPED, reason="no reference scores for version 2"),
    ]
    quality = _quality(outside=7)
    batch = telemetry_batch("m", "3", DatasetDrift([], 0.5), predictions, quality=quality, context={"run_id": "r"})
    path = tmp_path / "drift.jsonl"
    t.write_local(path, batch)

    # Written and read back through the contract
    messages = [m for _, m in t.drift_messages(t.read_local(path))]
    assert [(m.type, m.model_version) for m in messages] == [
        (t.OVERALL, "3"),
        (t.FEATURE, "3"),
        (t.PREDICTION, "3"),
        (t.DATA_QUALITY, "3"),
    ]
    assert messages[2].data == t.FeatureDrift("prediction", 0.4, True, "Wasserstein distance (normed)", 0.1)
    assert messages[3].data == quality
    metrics = {(r["name"], r["customDimensions"].get("feature")): r["value"] for r in t.read_local(path)
               if r["itemType"] == "customMetric"}  # fmt: skip
    assert metrics[(t.METRIC_PREDICTION_SCORE, None)] == 0.4
    assert metrics[(q.METRIC_OUTSIDE_RANGE_SHARE, "age")] == pytest.approx(0.07)
    assert metrics[(q.METRIC_UNKNOWN_CATEGORY_SHARE, "education")] == 0.0
    assert metrics[(q.METRIC_QUARANTINED_LINES, None)] == 0.0
    assert (q.METRIC_OUTSIDE_RANGE_SHARE, "education") not in metrics  # does not apply: not sent

    only = quality_batch("m", "3", quality, {"run_id": "r"})
    assert [m.type for m in only.messages] == [t.DATA_QUALITY]


# --- the alert rule ------------------------------------------------------------------------------


def _at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def test_the_data_quality_rule_fires_on_the_latest_run_per_version_that_breaches_any_limit():
    rule = rules.DataQualityAlertRule()
    message = q.data_quality_message
    messages = [
        (_at(-30), message("m", "1", _quality(missing=50))),  # outside the window
        (_at(-5), message("m", "2", _quality(missing=50))),
        (_at(-1), message("m", "2", _quality())),  # version 2's latest run is clean
        (_at(-2), message("m", "3", _quality(outside=5))),  # 5 of 100: at the limit, fires
        (_at(-2), message("m", "4", _quality(unknown=1))),  # 1 % unknown: fires
        (_at(-2), message("m", "5", _quality(quarantined=1))),
        (_at(-2), message("m", "6", _quality(outside=4))),  # below every limit
        (_at(-2), t.overall_message("m", "7", t.OverallDrift(23, 23, 1.0, True))),  # not a data-quality message
    ]
    breaches = rule.evaluate(messages, now=NOW)
    assert [b.model_version for b in breaches] == ["3", "4", "5"]
    assert breaches[0].reasons == ("values outside the training range: share 0.05 >= 0.05",)
    assert breaches[2].reasons == ("quarantined lines: 1 >= 1",)
    assert rule.evaluate([(_at(-1), message("m", "1", q.DataQuality(0, ())))], now=NOW) == []  # no rows, no shares


def test_the_data_quality_rule_is_declared_like_the_drift_rule_and_its_query_reads_the_contract():
    rule = rules.DEFAULT_DATA_QUALITY_RULE
    for attribute in ("name", "window", "frequency", "severity", "description"):
        assert hasattr(rules.DEFAULT_RULE, attribute) and hasattr(rule, attribute)
    assert rule.name == "data-quality" and rule.name != rules.DEFAULT_RULE.name
    kql = rules.DataQualityAlertRule(missing_share=0.2).kql("credit-default")
    assert 'message has "DataQualityMetrics"' in kql and 'tostring(m.type) == "DataQualityMetrics"' in kql
    for key in ("max_missing_share", "max_outside_range_share", "max_unknown_category_share", "quarantined_lines"):
        assert f"m.data.{key}" in kql and key in q.SUMMARY_KEYS
    assert "max_missing_share >= 0.2 or" in kql and "quarantined_lines >= 1" in kql
    assert 'model_name == "credit-default"' in kql
    assert "arg_max(timestamp" in kql


# --- the prediction reference file ---------------------------------------------------------------


def test_the_reference_scores_read_back_bit_for_bit(tmp_path: Path):
    scores = np.random.default_rng(0).uniform(0, 1, 1000)
    pr.write_reference(tmp_path / "model", scores, source="test split", positive_rate=0.22)
    nested = tmp_path / "mounted"
    (tmp_path / "model").rename(nested)
    reference = pr.read_reference(tmp_path)  # found below the folder, as a mounted model wraps it
    assert reference.predictions == tuple(scores.tolist()) and reference.rows == 1000
    assert (reference.source, reference.positive_rate) == ("test split", 0.22)
    assert pr.model_tags(reference) == {"prediction_reference": pr.FILE_NAME, "prediction_reference_rows": "1000"}
    assert pr.has_reference(pr.model_tags(reference)) and not pr.has_reference({})


@pytest.mark.parametrize("bad", [[], [0.5, float("nan")], [1.5], [-0.1]])
def test_the_reference_refuses_what_is_not_a_probability(tmp_path: Path, bad):
    with pytest.raises(ValueError, match="prediction reference"):
        pr.write_reference(tmp_path, bad, source="x")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "cannot read"),
        ('{"schema": "other"}', "not a prediction reference"),
        (json.dumps({"schema": pr.SCHEMA, "rows": 1, "predictions": []}), "non-empty"),
        (json.dumps({"schema": pr.SCHEMA, "rows": 1, "predictions": ["0.5"]}), "finite number"),
        (json.dumps({"schema": pr.SCHEMA, "rows": 2, "predictions": [0.5]}), "'rows' is 2"),
    ],
)
def test_a_malformed_reference_file_is_refused_naming_the_file(tmp_path: Path, text, match):
    (tmp_path / pr.FILE_NAME).write_text(text)
    with pytest.raises(pr.ReferenceError, match=match):
        pr.read_reference(tmp_path)


def test_a_model_folder_without_reference_scores_is_refused_naming_it(tmp_path: Path):
    assert pr.find_reference(tmp_path) is None
    with pytest.raises(pr.ReferenceError, match=r"no prediction_reference\.json"):
        pr.read_reference(tmp_path)


# --- the quarantine layout: what the export writes, the drift component reads --------------------


def test_the_exports_quarantine_files_are_counted_by_the_drift_component(tmp_path: Path):
    from shared.ports import LogRow
    from shared.services.export_batch import WindowBatch, assemble_window
    from shared.services.export_files import window_files
    from shared.services.export_windows import Window as ExportWindow

    windows = [ExportWindow(NOW + timedelta(hours=h), NOW + timedelta(hours=h + 1)) for h in (-1, 0, 1)]
    for number, window in enumerate(windows):
        rows = [
            LogRow(time=window.start + timedelta(seconds=s), message="MLOPS_INFERENCE_V1 {broken", deployment="blue")
            for s in (1, 2)
        ]
        batch: WindowBatch = assemble_window(window, rows[: number + 1], model="m", margin=timedelta(seconds=5))
        files = window_files(window, batch, model="m", prefix="inference", quarantine_prefix="quarantine")
        for path, render in files.files:
            assert parse_quarantine_path(path) == ("quarantine", window.start)
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_bytes(render())

    counted = count_quarantine(tmp_path / "quarantine", Window(NOW, NOW + timedelta(hours=2)))
    assert (counted.entries, counted.lines, counted.files, counted.unreadable) == (4, 4, 2, 0)
    assert count_quarantine(None, Window()).lines == 0
    assert quarantine_path("q", NOW, "x") == "q/date=2026-11-24/hour=12/part-x.jsonl"


# --- exact counting against brute force ----------------------------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)
values = st.lists(st.one_of(finite, st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.none()), max_size=60)


@settings(max_examples=150, deadline=None)
@given(reference=st.lists(finite, min_size=1, max_size=40), current=values)
def test_missing_and_outside_range_equal_a_brute_force_count(reference, current):
    column = pa.chunked_array([pa.array(current[: len(current) // 2], pa.float64()),
                               pa.array(current[len(current) // 2:], pa.float64())])  # fmt: skip
    gaps = column_gaps(pa.table({"x": column}), ["x"])["x"]
    ref_counts = numeric_counts(np.array(reference))
    cur_counts = numeric_counts(column)

    missing = sum(1 for v in current if v is None or math.isnan(v))
    outside = sum(
        1 for v in current if v is not None and not math.isnan(v) and not min(reference) <= v <= max(reference)
    )
    assert gaps.missing == missing
    assert outside_range(ref_counts, cur_counts) + gaps.infinite == outside


@settings(max_examples=100, deadline=None)
@given(
    reference=st.lists(st.sampled_from("abcd"), min_size=1, max_size=30),
    current=st.lists(st.one_of(st.sampled_from("abcdefg"), st.none()), max_size=40),
)
def test_unknown_categories_equal_a_brute_force_count(reference, current):
    array = pa.array(current, pa.string()).dictionary_encode()
    gaps = column_gaps(pa.table({"c": array}), ["c"])["c"]
    counted = unknown_categories(categorical_counts(pa.array(reference)), categorical_counts(array))
    assert counted == sum(1 for v in current if v is not None and v not in set(reference))
    assert gaps == Gaps(missing=sum(1 for v in current if v is None))


def test_an_empty_reference_has_no_range():
    assert outside_range(Counts("num", np.array([]), np.array([], np.int64)), numeric_counts(np.array([1.0]))) is None
    assert CATEGORICAL == "cat" and len(FEATURES) == 23


def test_prediction_drift_compares_only_the_runs_version_with_its_reference_and_agrees_with_evidently(tmp_path):
    rng = np.random.default_rng(4)
    pr.write_reference(tmp_path, rng.beta(2, 5, 2000), source="test split")
    reference = load_reference_scores(tmp_path)
    shifted = numeric_counts(rng.beta(2, 4, 3000))
    results = prediction_drift(
        "3",
        reference,
        "",
        {"2": numeric_counts(rng.beta(2, 5, 500)), "3": shifted, "4": numeric_counts(rng.beta(2, 5, 20))},
        min_rows=100,
        stattest=None,
        threshold=None,
    )
    assert [(r.model_version, r.status) for r in results] == [
        ("3", PredictionStatus.COMPUTED),
        ("2", PredictionStatus.SKIPPED),
        ("4", PredictionStatus.SKIPPED),
    ]
    assert all("no reference scores for version" in r.reason for r in results[1:])
    own = results[0].drift
    assert own is not None and own.method == "counts" and own.reference_rows == 2000
    score, detected, _ = evidently_column_drift(reference.counts, shifted, "num", own.stattest, own.threshold)
    assert own.drift_score == pytest.approx(score, rel=1e-9) and own.drift_detected == detected

    without = prediction_drift("3", None, "model m:3 has no reference scores", {"3": shifted}, min_rows=1,
                               stattest=None, threshold=None)  # fmt: skip
    assert without[0].status == PredictionStatus.SKIPPED and without[0].reason == "model m:3 has no reference scores"


def test_the_docs_show_the_rules_own_query():
    root = Path(__file__).resolve().parents[2] / "docs"
    kql = rules.DEFAULT_DATA_QUALITY_RULE.kql()
    assert kql in (root / "drift.md").read_text() and kql in (root / "contracts.md").read_text()
