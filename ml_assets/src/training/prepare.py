"""Pipeline step ``prepare``: validate the training data and write a deterministic train/test split as Parquet.

Input: a folder of CSV or Parquet files in the curated schema (a bad file fails the step with a message naming
the file and the column) and, in the pipeline, the data-quality gate's report (prepare runs after the gate and
refuses data it failed). Output: ``train_data/train.parquet`` and ``test_data/test.parquet`` (features typed,
target as 0/1), each with a ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sklearn.model_selection import train_test_split

from ..contracts.feature_schema import TARGET
from .curated_data import DataError, list_data_files, read_curated_folder
from .data_quality_report import PASSED, ReportError, read_report

MIN_ROWS = 50


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m src.training.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--training_data", required=True, help="folder (or file) of CSV/Parquet in the curated schema")
    parser.add_argument("--quality_report", default="", help="the data-quality gate's report folder (quality.json)")
    parser.add_argument("--test_size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train_data", required=True, help="output folder for train.parquet")
    parser.add_argument("--test_data", required=True, help="output folder for test.parquet")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    if not 0 < args.test_size < 1:
        print(f"error: --test_size {args.test_size} is not in (0, 1)", file=sys.stderr)
        return 2
    if args.quality_report:
        try:
            report = read_report(args.quality_report)
        except ReportError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if report["status"] != PASSED:
            print(f"error: the data-quality gate failed on {args.training_data}: not preparing it", file=sys.stderr)
            return 1
    try:
        files = list_data_files(args.training_data)
        frame = read_curated_folder(args.training_data)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    classes = frame[TARGET].value_counts()
    if len(frame) < MIN_ROWS or len(classes) < 2 or classes.min() < 2:
        print(
            f"error: {args.training_data}: {len(frame)} rows with target counts {classes.to_dict()}; need at least "
            f"{MIN_ROWS} rows and both classes",
            file=sys.stderr,
        )
        return 1
    train, test = train_test_split(frame, test_size=args.test_size, random_state=args.seed, stratify=frame[TARGET])
    for unordered, folder, part in ((train, args.train_data, "train"), (test, args.test_data, "test")):
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        split = unordered.sort_index().reset_index(drop=True)
        split.to_parquet(out / f"{part}.parquet", index=False)
        summary = {
            "rows": len(split),
            "default_rate": round(float(split[TARGET].mean()), 6),
            "source_files": [str(f) for f in files],
            "test_size": args.test_size,
            "seed": args.seed,
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"prepare: {len(frame)} rows from {len(files)} file(s) → train {len(train)}, test {len(test)} "
        f"(default rate {frame[TARGET].mean():.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
