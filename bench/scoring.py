"""Model quality and scoring latency of the credit-default model, trained as the pipeline trains it.

Data: the project's own generated data (default, 30,000 rows) or ``--data CSV`` (e.g. the real UCI data,
``../shared/data/credit-card-default/curated.csv``). Split 80/20 stratified with seed 42 (the prepare step),
default hyperparameters (the train step), then ``predict_proba`` timed as the deployment runs it (one OpenMP
thread, set before numpy loads): one record at a time (p50/p99 of 1,000 calls) and 1,000 records at once
(median of 20 calls). Goals: ROC AUC >= 0.78 on the real data, p50 <= 3 ms, 1,000 records <= 20 ms.

Last line: ``auc=… p50_ms=… p99_ms=… batch1000_ms=…``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_latency import measure  # noqa: E402 - bench/, the script's own folder


def main() -> None:
    import numpy as np
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from ml_assets.src.contracts.feature_schema import FEATURES, TARGET
    from ml_assets.src.training.curated_data import read_curated_folder
    from ml_assets.src.training.model import Hyperparameters, build_pipeline, load_model, save_model
    from ml_assets.src.training.synthetic import generate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="CSV/Parquet file or folder in the curated schema (default: generated data)")
    parser.add_argument("--rows", type=int, default=30_000, help="rows of generated data when --data is not given")
    args = parser.parse_args()

    if args.data:
        frame = read_curated_folder(args.data)
        source = args.data
    else:
        with tempfile.TemporaryDirectory() as tmp:
            generate(args.rows, seed=0).to_csv(Path(tmp) / "d.csv", index=False)
            frame = read_curated_folder(tmp)
        source = f"generated ({args.rows} rows, seed 0)"
    train, test = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame[TARGET])
    params = Hyperparameters()
    started = time.perf_counter()
    pipeline = build_pipeline(params).fit(train[list(FEATURES)], train[TARGET])
    fit_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:  # score the model as saved and loaded through MLflow
        save_model(pipeline, Path(tmp) / "model", train[list(FEATURES)])
        model = load_model(Path(tmp) / "model")
    x_test = test[list(FEATURES)].reset_index(drop=True)
    auc = roc_auc_score(test[TARGET], model.predict_proba(x_test)[:, 1])

    latency = measure(model, x_test)
    p50 = latency.p50_ms
    p99 = float(np.percentile(latency.single_ms, 99))
    b1000 = latency.batch1000_ms
    print(f"data: {source}: train {len(train)} rows, test {len(test)} rows; fit {fit_s:.1f}s")
    print(
        f"hyperparameters: {params.as_dict()}; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; cpus={os.cpu_count()}"
    )
    print(f"ROC AUC {auc:.4f} (goal >= 0.78 on the real data)")
    print(f"one record: p50 {p50:.3f} ms, p99 {p99:.3f} ms (goal p50 <= 3 ms)")
    print(f"1,000 records: {b1000:.2f} ms (goal <= 20 ms)")
    print(f"auc={auc:.4f} p50_ms={p50:.3f} p99_ms={p99:.3f} batch1000_ms={b1000:.2f}")


if __name__ == "__main__":
    main()
