"""The performance figures against scikit-learn's, and the labels-and-predictions join against a brute-force
computation of the contract's rules (duplicated, revised, late, missing and invalid labels)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sklearn import metrics

from ml_assets.src.contracts.record_identity import record_key
from ml_assets.src.drift.target_files import Window
from ml_assets.src.performance import component
from ml_assets.src.performance.figures import performance, roc_auc
from ml_assets.src.performance.ground_truth_join import join_window
from ml_assets.src.performance.labels_files import LabelsError, read_labels

START = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_figure_equals_scikit_learns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5000
    y = (rng.random(n) < 0.25).astype(np.int8)
    # rounded scores: many ties, which ROC AUC must count half
    scores = np.round(np.clip(0.3 + 0.2 * y + rng.normal(0, 0.2, n), 0, 1), 2)
    figures = performance(scores, y, threshold=0.5, n_predictions=n * 2, training_roc_auc=0.8)
    predicted = (scores >= 0.5).astype(int)
    assert figures.roc_auc == pytest.approx(metrics.roc_auc_score(y, scores), abs=1e-12)
    assert figures.precision == pytest.approx(metrics.precision_score(y, predicted, zero_division=0), abs=1e-12)
    assert figures.recall == pytest.approx(metrics.recall_score(y, predicted, zero_division=0), abs=1e-12)
    assert figures.f1 == pytest.approx(metrics.f1_score(y, predicted, zero_division=0), abs=1e-12)
    assert figures.brier_score == pytest.approx(metrics.brier_score_loss(y, scores), abs=1e-12)
    assert figures.label_positive_rate == pytest.approx(y.mean())
    assert figures.predicted_positive_rate == pytest.approx(predicted.mean())
    assert figures.label_coverage == pytest.approx(0.5)
    assert (figures.n_labelled, figures.n_predictions, figures.training_roc_auc) == (n, 2 * n, 0.8)


def test_undefined_figures_are_what_scikit_learn_gives_with_zero_division_0() -> None:
    y = np.array([1, 1, 0, 0], dtype=np.int8)
    scores = np.array([0.1, 0.2, 0.3, 0.4])  # nothing predicted positive: precision undefined -> 0
    figures = performance(scores, y, threshold=0.5, n_predictions=4, training_roc_auc=None)
    assert (figures.precision, figures.recall, figures.f1) == (0.0, 0.0, 0.0)
    assert figures.roc_auc == metrics.roc_auc_score(y, scores) == 0.0
    assert math.isnan(roc_auc(scores, np.ones(4, dtype=np.int8)))  # one class: undefined


# --- the join -------------------------------------------------------------------------------------


def write_predictions(root: Path, rows: list[tuple[str, int, str | None, datetime, float]], with_ids: bool) -> None:
    """Exported files in the layout, one per hour; rows: (request_id, record_index, record_id, time, prediction)."""
    by_hour: dict[datetime, list[tuple[str, int, str | None, datetime, float]]] = {}
    for row in rows:
        by_hour.setdefault(row[3].replace(minute=0, second=0, microsecond=0), []).append(row)
    for start, part in by_hour.items():
        folder = root / f"date={start:%Y-%m-%d}" / f"hour={start:%H}"
        folder.mkdir(parents=True, exist_ok=True)
        columns = {
            "request_id": pa.array([r[0] for r in part]),
            "record_index": pa.array([r[1] for r in part], pa.int32()),
            "time": pa.array([r[3] for r in part], pa.timestamp("us", tz="UTC")),
            "prediction": pa.array([r[4] for r in part]),
        }
        if with_ids:  # files written before the record_id column existed have none
            columns["record_id"] = pa.array([r[2] for r in part], pa.string())
        pq.write_table(pa.table(columns), folder / "part-0.parquet")


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def scenario(seed: int, tmp_path: Path) -> tuple[Path, Path, datetime, dict[str, tuple[float, int]], int]:
    """Predictions and label batches with every complication; returns the folders, labels_as_of, the brute-force
    expectation (key -> (prediction, label) of the labelled predictions in the window) and the window's size."""
    rnd = random.Random(seed)
    predictions = tmp_path / "predictions"
    labels_dir = tmp_path / "labels"
    labels_dir.mkdir()
    rows = []
    for request in range(60):
        moment = START + timedelta(minutes=rnd.randrange(0, 300))
        for index in range(rnd.randrange(1, 6)):
            own = f"app-{request}-{index}" if rnd.random() < 0.5 else None
            rows.append((f"req-{request}", index, own, moment, round(rnd.random(), 3)))
    split = len(rows) // 2
    write_predictions(predictions / "a", rows[:split], with_ids=True)
    write_predictions(predictions / "b", rows[split:], with_ids=False)
    keys = [record_key(r[2], r[0], r[1]) for r in rows[:split]] + [record_key(None, r[0], r[1]) for r in rows[split:]]
    as_of = START + timedelta(days=40)
    window = (START + timedelta(minutes=30), START + timedelta(minutes=270))

    # every label row written: (file, row, key, label text, time text)
    written: list[tuple[str, int, str, str, str]] = []
    files: dict[str, list[tuple[str, str, str]]] = {}
    for number in range(5):
        name = f"batch-{number}.{'csv' if number % 2 == 0 else 'parquet'}"
        if number == 4:
            name = f"late/sub/{name}"
        batch = []
        for key in rnd.sample(keys, len(keys) // 3):
            known = START + timedelta(days=rnd.choice([10, 20, 30, 30, 45]))  # 45: after as_of (late)
            batch.append((key, rnd.choice(["1", "0", "True", "false", " 1 "]), stamp(known)))
        batch.append(("unknown-record", "1", stamp(START)))  # names no prediction
        batch.append(("req-0/0", "maybe", stamp(START)))  # not a label
        batch.append(("req-0/0", "1", "soon"))  # not a time
        batch.append(("", "1", stamp(START)))  # no id
        files[name] = batch
    for name, batch in files.items():
        for row, (key, label, known) in enumerate(batch):
            written.append((name, row, key, label, known))
        path = labels_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table({"id": [b[0] for b in batch], "label": [b[1] for b in batch],
                          "label_time": [b[2] for b in batch]})  # fmt: skip
        if name.endswith(".csv"):
            pacsv.write_csv(table, path)
        else:
            pq.write_table(table, path)

    # brute force: the contract's rules, row by row
    def label_of(text: str) -> int | None:
        return {"1": 1, "true": 1, "0": 0, "false": 0}.get(text.strip().lower())

    best: dict[str, tuple[tuple[datetime, str, int], int]] = {}
    for name, row, key, text, known in written:
        try:
            moment = datetime.fromisoformat(known.replace("Z", "+00:00"))
        except ValueError:
            continue
        label = label_of(text)
        if not key or label is None or moment > as_of:
            continue
        order = (moment, name, row)
        if key not in best or order > best[key][0]:
            best[key] = (order, label)
    expected = {}
    in_window = 0
    for key, row in zip(keys, rows, strict=True):
        if window[0] <= row[3] < window[1]:
            in_window += 1
            if key in best:
                expected[key] = (row[4], best[key][1])
    return predictions, labels_dir, as_of, expected, in_window


@pytest.mark.parametrize("seed", range(6))
def test_the_join_equals_a_brute_force_of_the_contracts_rules(seed: int, tmp_path: Path) -> None:
    predictions, labels_dir, as_of, expected, in_window = scenario(seed, tmp_path)
    window = Window(START + timedelta(minutes=30), START + timedelta(minutes=270))

    labels = read_labels(labels_dir, as_of)
    joined = join_window(predictions, "credit-default", "1", window, labels)

    assert len(joined.labels) == in_window
    labelled = joined.labels >= 0
    got = sorted(zip(joined.predictions[labelled].tolist(), joined.labels[labelled].tolist(), strict=True))
    assert got == sorted(expected.values())
    assert labels.invalid_rows == 3 * 5 and labels.files == 5
    assert labels.late_rows > 0 and labels.superseded_rows > 0


def test_a_revision_wins_over_the_earlier_label_and_a_tie_goes_to_the_file_sorting_last(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,label,label_time\nx,0,2026-12-01T00:00:00Z\ny,0,2026-12-05T00:00:00Z\n")
    (tmp_path / "b.csv").write_text("id,label,label_time\nx,1,2026-12-02T00:00:00+01:00\ny,1,2026-12-05T00:00:00Z\n")
    (tmp_path / "c.csv").write_text("id,label,label_time\ny,0,2026-12-05T00:00:00Z\ny,1,2026-12-05T00:00:00Z\n")
    read = read_labels(tmp_path, None)
    winners = dict(zip(read.table.column("label_id").to_pylist(), read.table.column("label_value").to_pylist(),
                       strict=True))  # fmt: skip
    assert winners == {"x": 1, "y": 1}  # y: same time in a, b, c -> c (sorts last), its last row
    assert read.superseded_rows == 4


def test_a_labels_file_without_its_columns_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("record,defaulted\nx,1\n")
    with pytest.raises(LabelsError, match="label_time"):
        read_labels(tmp_path, None)


# --- the component --------------------------------------------------------------------------------


def run_component(tmp_path: Path, predictions: Path, labels: Path, *extra: str) -> tuple[int, dict, Path]:
    telemetry = tmp_path / "telemetry.jsonl"
    args = component.parse_args(
        ["--predictions", str(predictions), "--labels", str(labels), "--model_name", "credit-default",
         "--model_version", "1", "--window_start", stamp(START + timedelta(minutes=30)),
         "--window_end", stamp(START + timedelta(minutes=270)),
         "--metrics", str(tmp_path / "metrics"), *extra]
    )  # fmt: skip
    import os

    before = os.environ.get("LOCAL_TELEMETRY_FILE")
    os.environ["LOCAL_TELEMETRY_FILE"] = str(telemetry)
    try:
        code = component.main(args)
    finally:
        if before is None:
            os.environ.pop("LOCAL_TELEMETRY_FILE")
        else:
            os.environ["LOCAL_TELEMETRY_FILE"] = before
    return code, json.loads((tmp_path / "metrics" / "metrics.json").read_text()), telemetry


def test_the_component_sends_the_figures_and_skips_with_too_little_coverage(tmp_path: Path) -> None:
    from ml_assets.src.contracts.drift_telemetry import read_local
    from ml_assets.src.contracts.performance_telemetry import performance_messages

    predictions, labels_dir, as_of, expected, _ = scenario(3, tmp_path)
    code, doc, telemetry = run_component(tmp_path, predictions, labels_dir, "--labels_as_of", stamp(as_of),
                                         "--min_labelled", "5", "--training_roc_auc", "0.8")  # fmt: skip
    assert code == 0 and doc["status"] == "completed", doc
    assert doc["performance"]["n_labelled"] == len(expected)
    ((_, message),) = performance_messages(read_local(telemetry))
    assert message.data.n_labelled == len(expected) and message.data.training_roc_auc == 0.8
    y = np.array([label for _, label in expected.values()])
    scores = np.array([p for p, _ in expected.values()])
    assert message.data.roc_auc == pytest.approx(metrics.roc_auc_score(y, scores))

    code, doc, telemetry2 = run_component(tmp_path / "again", predictions, labels_dir, "--min_coverage", "0.99")
    assert code == 0 and doc["status"] == "skipped" and "coverage" in doc["reason"]
    assert not telemetry2.exists()  # nothing sent


def test_the_component_fails_clearly_on_an_unreadable_labels_file(tmp_path: Path) -> None:
    predictions, labels_dir, *_ = scenario(1, tmp_path)
    (labels_dir / "broken.parquet").write_bytes(b"not parquet")
    code, doc, _ = run_component(tmp_path, predictions, labels_dir)
    assert code == component.EXIT_BAD_INPUT and "broken.parquet" in doc["error"]
