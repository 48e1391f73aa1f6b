"""Benchmark of the drift component: speed, and verdicts against a full-data Evidently run.

    .venv/bin/python bench/drift.py [--reference CSV] [--current-rows 1000000]

Data:
- reference: ``--reference-rows`` (24,000) rows — of ``--reference CSV`` when given (a random sample), else
  generated with ``ml_assets/src/training/synthetic.py``;
- current: ``--current-rows`` rows of the same distribution — resampled (with replacement) from the CSV rows
  *not* in the reference, or generated with another seed — with a couple of features shifted (``--shift``,
  default ``age=+2 credit_limit=*1.15``), written as exported Parquet (the export layout, one file per
  hour of a 24-hour window, with a ``prediction`` column);
- reference scores: the same stand-in score of the reference rows, as the register step stores them in the model
  folder (``prediction_reference.json``): prediction drift and data quality run as in production.

Then:
1. runs the component (``python -m src.drift.component`` in a fresh process, as Azure ML does), with the local
   telemetry file; ``seconds`` = wall time from process start until the telemetry (the verdicts) is written:
   interpreter start, imports, reading 1M rows, all verdicts, metrics.json, telemetry. The HTML report is
   rendered after that (Evidently on samples): ``total_seconds`` includes it;
2. runs Evidently's ``Report([DataDriftPreset(...)])`` on the full data (the same DataFrames), and counts
   the features (and the prediction column against the reference scores) whose verdict differs from the
   component's (``verdicts_differing``; goal 0).

Last line: ``rows=N seconds=… verdicts_differing=… total_seconds=… evidently_seconds=…``.
Goal on 2 cores: ``seconds`` ≤ 10 at 1,000,000 current rows; ``verdicts_differing=0``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from ml_assets.src.contracts import prediction_reference  # noqa: E402
from ml_assets.src.contracts.feature_schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES  # noqa: E402
from ml_assets.src.drift.stattests import preset_kwargs  # noqa: E402
from ml_assets.src.drift.verdicts import evidently_verdicts  # noqa: E402
from ml_assets.src.training.synthetic import apply_shift, generate  # noqa: E402

MODEL, VERSION = "credit-default", "1"
WINDOW_START = datetime(2026, 11, 23, tzinfo=UTC)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, help="curated CSV (default: generated data)")
    parser.add_argument("--reference-rows", type=int, default=24_000)
    parser.add_argument("--current-rows", type=int, default=1_000_000)
    parser.add_argument("--shift", nargs="*", default=["age=+2", "credit_limit=*1.15"], metavar="FEATURE=SPEC")
    parser.add_argument("--skip-evidently", action="store_true", help="skip the full-data Evidently run")
    parser.add_argument("--workdir", type=Path, help="keep the data and outputs here")
    return parser.parse_args()


def make_data(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    shift = dict(item.split("=", 1) for item in args.shift)
    if args.reference:
        full = pd.read_csv(args.reference)
        rng = np.random.default_rng(42)
        picked = rng.choice(len(full), size=min(args.reference_rows, len(full)), replace=False)
        reference = full.iloc[np.sort(picked)].reset_index(drop=True)
        rest = full.drop(index=picked).reset_index(drop=True)
        if rest.empty:
            rest = full
        current = rest.iloc[rng.integers(0, len(rest), size=args.current_rows)].reset_index(drop=True)
        current = apply_shift(current[list(FEATURES)], shift, seed=7)
    else:
        reference = generate(args.reference_rows, seed=1)
        current = generate(args.current_rows, seed=2, shift=shift, with_target=False)
    return reference, current[list(FEATURES)]


def stand_in_score(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """A probability of default that depends on the repayment status (what a model's scores look like)."""
    rng = np.random.default_rng(seed)
    logit = -1.3 + 0.9 * (frame["repayment_status_1"].astype(str).str.startswith("delay")).to_numpy()
    return 1 / (1 + np.exp(-(logit + rng.normal(0, 0.5, len(frame)))))


def write_export(current: pd.DataFrame, root: Path) -> Path:
    """``current`` as exported Parquet under root/inference/model=…/version=…/date=…/hour=…/ (24 hours)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / "inference" / f"model={MODEL}" / f"version={VERSION}"
    n = len(current)
    hours = np.minimum((np.arange(n) * 24) // max(n, 1), 23)
    prediction = stand_in_score(current, seed=5)
    for hour in range(24):
        rows = np.flatnonzero(hours == hour)
        if rows.size == 0:
            continue
        start = WINDOW_START + timedelta(hours=hour)
        part = current.iloc[rows].reset_index(drop=True)
        table = pa.table(
            {
                "request_id": pa.array([f"r{hour}-{i // 10}" for i in range(rows.size)]),
                "record_index": pa.array(np.arange(rows.size) % 10, pa.int32()),
                "time": pa.array(
                    [start + timedelta(seconds=int(s)) for s in np.linspace(0, 3599, rows.size)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "deployment": pa.array(["blue"] * rows.size),
                "model_name": pa.array([MODEL] * rows.size),
                "model_version": pa.array([VERSION] * rows.size),
                **{c: pa.array(part[c].to_numpy()) for c in FEATURES},
                "prediction": pa.array(prediction[rows]),
            }
        )
        out = folder / f"date={start.date().isoformat()}" / f"hour={start.hour:02d}"
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / "part-0.parquet", compression="zstd")
    return folder


def run_component(reference_csv: Path, target: Path, work: Path, model: Path) -> tuple[float, float, dict]:
    telemetry = work / "telemetry.jsonl"
    telemetry.unlink(missing_ok=True)
    env = {**os.environ, "LOCAL_TELEMETRY_FILE": str(telemetry), "APPLICATIONINSIGHTS_CONNECTION_STRING": ""}
    command = [
        sys.executable, "-m", "src.drift.component",
        "--reference_data", str(reference_csv),
        "--target_data", str(target),
        "--model_name", MODEL, "--model_version", VERSION,
        "--window_start", WINDOW_START.isoformat(),
        "--window_end", (WINDOW_START + timedelta(days=1)).isoformat(),
        "--report", str(work / "report"), "--metrics", str(work / "metrics"),
        "--prediction_reference", str(model),
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT_ROOT / "ml_assets", env=env, stdout=subprocess.PIPE, text=True)
    verdicts_at = None
    while process.poll() is None:
        if verdicts_at is None and telemetry.exists() and telemetry.stat().st_size > 0:
            verdicts_at = time.perf_counter() - started
        time.sleep(0.01)
    total = time.perf_counter() - started
    output = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        print(output)
        raise SystemExit(f"the component failed with exit code {process.returncode}")
    if verdicts_at is None:
        verdicts_at = total
    metrics = json.loads((work / "metrics" / "metrics.json").read_text())
    return verdicts_at, total, metrics


def evidently_full(
    reference: pd.DataFrame, current: pd.DataFrame, reference_scores: np.ndarray, scores: np.ndarray
) -> tuple[dict[str, tuple[float, bool]], float]:
    """Evidently's verdicts on the full data: the features (DataDriftPreset) and the prediction (ValueDrift)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=list(NUMERIC_FEATURES), categorical_columns=list(CATEGORICAL_FEATURES)
    )
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset(**preset_kwargs(None, None, 0.5))], include_tests=True).run(
        current_data=Dataset.from_pandas(current[list(FEATURES)], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[list(FEATURES)], data_definition=definition),
    )
    verdicts = evidently_verdicts(snapshot.dict(), list(FEATURES))
    scored = DataDefinition(numerical_columns=["prediction"])
    prediction = Report([ValueDrift(column="prediction")], include_tests=True).run(
        current_data=Dataset.from_pandas(pd.DataFrame({"prediction": scores}), data_definition=scored),
        reference_data=Dataset.from_pandas(pd.DataFrame({"prediction": reference_scores}), data_definition=scored),
    )
    verdicts |= evidently_verdicts(prediction.dict(), ["prediction"])
    return verdicts, time.perf_counter() - started


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        reference, current = make_data(args)
        reference_csv = work / "reference.csv"
        reference.to_csv(reference_csv, index=False)
        target = write_export(current, work)
        reference_scores = stand_in_score(reference, seed=6)
        model = work / "model"
        prediction_reference.write_reference(model, reference_scores, source="bench reference rows")
        print(f"data: {len(reference)} reference rows, {len(current)} current rows ({time.perf_counter() - t:.1f} s)")

        seconds, total, metrics = run_component(reference_csv, target, work, model)
        ours = {f["feature_name"]: f for f in metrics["features"]}
        ours["prediction"] = metrics["prediction_drift"]
        quality = metrics["data_quality"]
        print(
            f"component: verdicts and telemetry after {seconds:.2f} s (in-process: load "
            f"{metrics['timings']['load_s']} s, verdicts at {metrics['timings']['drift_s']} s), "
            f"total with the HTML report {total:.2f} s"
        )
        print(f"component: drifted {metrics['drifted_features']} share={metrics['share_drifted_features']:.3f}")
        print(
            f"component: prediction drift {ours['prediction']['drift_score']:.4f} "
            f"(detected {ours['prediction']['drift_detected']}); data quality: outside the training range up to "
            f"{quality['max_outside_range_share']:.4f}, unknown categories up to "
            f"{quality['max_unknown_category_share']}"
        )

        differing: int | str = "n/a"
        evidently_seconds = float("nan")
        if not args.skip_evidently:
            # Evidently on exactly what the component read (the Parquet round trip keeps the values).
            import pyarrow.parquet as pq

            files = sorted(target.rglob("*.parquet"))
            columns = [*FEATURES, "prediction"]
            full_current = pd.concat([pq.read_table(f, columns=columns).to_pandas() for f in files])
            full_current = full_current.reset_index(drop=True)
            verdicts, evidently_seconds = evidently_full(
                pd.read_csv(reference_csv), full_current, reference_scores, full_current["prediction"].to_numpy()
            )
            diffs = [c for c in columns if verdicts[c][1] != ours[c]["drift_detected"]]
            worst = max(abs(verdicts[c][0] - ours[c]["drift_score"]) / max(abs(verdicts[c][0]), 1e-12) for c in columns)
            differing = len(diffs)
            print(
                f"evidently (full data): {evidently_seconds:.1f} s; verdicts differing: {diffs or 'none'}; "
                f"largest relative score difference {worst:.1e}"
            )
    print(
        f"rows={args.current_rows} seconds={seconds:.2f} verdicts_differing={differing} "
        f"total_seconds={total:.2f} evidently_seconds={evidently_seconds:.1f}"
    )


if __name__ == "__main__":
    main()
