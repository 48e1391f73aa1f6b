"""Benchmark of the model-performance component: a million exported predictions joined with their labels, scored.

    .venv/bin/python bench/performance.py [--rows 1000000] [--label-share 0.8]

Data (generated, not timed): ``--rows`` exported predictions of one model version over a 24-hour window, in the
export layout (one Parquet file per hour; the columns the component reads: ``request_id``, ``record_index``,
``record_id`` for half of the records, ``time``, ``prediction``), and labels for ``--label-share`` of them in
four batches (two CSV, two Parquet), with 10 % of the labels repeated in a later batch (half duplicates, half
revisions with a later ``label_time``) and 2 % known only after ``labels_as_of`` (late).

Then runs the component (``python -m src.performance.component`` in a fresh process, as Azure ML does, with the
local telemetry file) and reads its resources from ``getrusage(RUSAGE_CHILDREN)``: ``seconds`` is its wall time
(interpreter start, imports, reading, the join, the figures, metrics.json, telemetry), ``cpu_seconds`` its user +
system CPU, ``peak_rss_mb`` its peak resident memory.

Last line: ``rows=N seconds=… cpu_seconds=… peak_rss_mb=… roc_auc=… coverage=…``.
Goal on 2 cores: ``seconds`` ≤ 5 at 1,000,000 rows, memory bounded (well under 1 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 24, tzinfo=UTC)


def write_predictions(root: Path, rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The exported files; returns each record's key and its true label."""
    records_per_request = 20
    requests = np.arange(rows) // records_per_request
    index = np.arange(rows) % records_per_request
    truth = (rng.random(rows) < 0.22).astype(np.int8)
    # a model that separates the classes (AUC ≈ 0.75)
    prediction = np.clip(0.2 + 0.18 * truth + rng.normal(0, 0.15, rows), 0.001, 0.999)
    own_id = rng.random(rows) < 0.5
    request_id = np.char.add("req-", requests.astype(str))
    record_id = np.where(own_id, np.char.add("app-", np.arange(rows).astype(str)), "")
    keys = np.where(own_id, record_id, np.char.add(np.char.add(request_id, "/"), index.astype(str)))
    seconds = np.sort(rng.random(rows) * 86_400)
    times = (START.timestamp() + seconds) * 1_000_000
    hours = (seconds // 3600).astype(int)
    for hour in range(24):
        sel = hours == hour
        folder = root / "model=credit-default" / "version=1" / f"date={START:%Y-%m-%d}" / f"hour={hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.table(
            {
                "request_id": pa.array(request_id[sel]),
                "record_index": pa.array(index[sel].astype(np.int32)),
                "record_id": pa.array(np.where(own_id[sel], record_id[sel], None), pa.string()),
                "time": pa.array(times[sel].astype(np.int64), pa.timestamp("us", tz="UTC")),
                "prediction": pa.array(prediction[sel]),
            }
        )
        pq.write_table(table, folder / "part-bench.parquet", compression="zstd")
    return keys, truth


def write_labels(root: Path, keys: np.ndarray, truth: np.ndarray, share: float, rng: np.random.Generator) -> None:
    n = len(keys)
    labelled = np.flatnonzero(rng.random(n) < share)
    batches = np.array_split(rng.permutation(labelled), 4)
    as_of = START + timedelta(days=60)
    for number, batch in enumerate(batches):
        known = START + timedelta(days=30 + number * 5)
        label_times = np.full(len(batch), known.isoformat().replace("+00:00", "Z"), dtype=object)
        late = rng.random(len(batch)) < 0.02
        label_times[late] = (as_of + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        ids, labels, times = list(keys[batch]), list(truth[batch].astype(str)), list(label_times)
        if number > 0:  # repeats of the previous batch: duplicates and revisions
            again = batches[number - 1][: len(batches[number - 1]) // 10]
            ids += list(keys[again])
            labels += list(np.where(rng.random(len(again)) < 0.5, truth[again], 1 - truth[again]).astype(str))
            times += [known.isoformat().replace("+00:00", "Z")] * len(again)
        table = pa.table({"id": ids, "label": labels, "label_time": times})
        if number % 2:
            pq.write_table(table, root / f"batch-{number}.parquet")
        else:
            pacsv.write_csv(table, root / f"batch-{number}.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--label-share", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-performance-") as tmp:
        root = Path(tmp)
        (root / "predictions").mkdir()
        (root / "labels").mkdir()
        keys, truth = write_predictions(root / "predictions", args.rows, rng)
        write_labels(root / "labels", keys, truth, args.label_share, rng)
        del keys, truth
        env = {**os.environ, "LOCAL_TELEMETRY_FILE": str(root / "telemetry.jsonl"), "PYTHONPATH": ""}
        env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
        command = [
            sys.executable, "-m", "src.performance.component",
            "--predictions", str(root / "predictions" / "model=credit-default" / "version=1"),
            "--labels", str(root / "labels"),
            "--model_name", "credit-default", "--model_version", "1",
            "--window_start", START.isoformat(), "--window_end", (START + timedelta(days=1)).isoformat(),
            "--labels_as_of", (START + timedelta(days=60)).isoformat(),
            "--training_roc_auc", "0.78",
            "--metrics", str(root / "metrics"),
        ]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, cwd=PROJECT_ROOT / "ml_assets", env=env, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        doc = json.loads((root / "metrics" / "metrics.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    figures = doc.get("performance", {})
    print(json.dumps({"labels": doc.get("labels"), "predictions": doc.get("predictions")}))
    print(
        f"rows={args.rows} seconds={seconds:.2f} cpu_seconds={cpu:.2f} peak_rss_mb={after.ru_maxrss / 1024:.0f} "
        f"roc_auc={figures.get('roc_auc', float('nan')):.4f} coverage={figures.get('label_coverage', float('nan')):.3f}"
    )


if __name__ == "__main__":
    main()
