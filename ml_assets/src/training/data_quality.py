"""Pipeline step ``data_quality``: check the training data before anything is trained on it, and stop the
pipeline when a check fails.

It runs first, on the data as delivered: ``prepare`` refuses a file at its first missing value, so after it the
missing-value figures would never be seen, and duplicates and the share of positives are figures of the whole
data set, not of a split. The checks and their limits are :mod:`.data_quality_checks`'; the report
(``quality.json``, ``quality.html``) is :mod:`.data_quality_report`'s, written whether the gate passes or not.
A failed gate exits 1 with one line per failure on stderr, each naming the column and the figure.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from .curated_data import DataError, read_raw_folder
from .data_quality_checks import Thresholds, check_data
from .data_quality_report import write_report

NO_PREVIOUS = ("", "none")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m src.training.data_quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--training_data", required=True, help="folder (or file) of CSV/Parquet in the curated schema")
    parser.add_argument(
        "--previous_training_data", default="", help="the previous version of the training data, for the drift check"
    )
    defaults = Thresholds()
    for spec in fields(Thresholds):
        parser.add_argument(f"--{spec.name}", type=float, default=getattr(defaults, spec.name))
    parser.add_argument("--quality_report", required=True, help="output folder for quality.json and quality.html")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    thresholds = Thresholds(**{spec.name: getattr(args, spec.name) for spec in fields(Thresholds)})
    problems = thresholds.problems()
    if problems:
        print(f"error: {'; '.join(problems)}", file=sys.stderr)
        return 2
    try:
        frame = read_raw_folder(args.training_data)
        previous_path = str(args.previous_training_data or "").strip()
        previous = None if previous_path.lower() in NO_PREVIOUS else read_raw_folder(previous_path)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result = check_data(frame, thresholds, previous)
    write_report(result, args.quality_report)
    drift = "no previous training data" if previous is None else f"against {len(previous):,} previous rows"
    if not result.passed:
        for failure in result.failures:
            print(f"data quality failed: {failure.message}", file=sys.stderr)
        print(
            f"data_quality: failed: {len(result.failures)} failure(s), {len(result.findings)} finding(s) in "
            f"{result.rows:,} rows ({drift})"
        )
        return 1
    for finding in result.findings:
        print(f"data_quality: finding: {finding.message}")
    print(f"data_quality: passed: {len(result.findings)} finding(s) in {result.rows:,} rows ({drift})")
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
