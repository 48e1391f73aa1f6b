"""Pipeline step ``train``: fit the credit-default pipeline on the train split and save it as an MLflow model.

1. Hold out ``validation_size`` of the train split (stratified, seeded): the test split stays for evaluate's gate.
2. Fit on the rest, score ROC AUC on the held-out part and log it to MLflow (``validation_roc_auc``: the metric
   the pipeline's sweep maximises, ``trial_record.py``).
3. Save the fitted model (sklearn flavour, pyfunc returns probabilities, with signature and input example), which
   takes a DataFrame in the curated schema, with the trial record in its metadata.

Hyperparameters come from the component inputs (the sweep's sampled values for a trial).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ..contracts.feature_schema import FEATURES, TARGET, parse_target
from .curated_data import DataError, list_data_files
from .model import Hyperparameters, build_pipeline, predict_default_probability, save_model
from .trial_record import TRIAL_METADATA_KEY, VALIDATION_METRIC, log_validation_metric, trial_record


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Hyperparameters()
    parser = argparse.ArgumentParser(prog="python -m src.training.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--train_data", required=True, help="folder with the train split (Parquet)")
    parser.add_argument("--model_output", required=True, help="folder for the MLflow model")
    parser.add_argument("--learning_rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--max_iter", type=int, default=defaults.max_iter)
    parser.add_argument("--max_leaf_nodes", type=int, default=defaults.max_leaf_nodes)
    parser.add_argument("--max_depth", type=int, default=defaults.max_depth, help="0: no limit")
    parser.add_argument("--min_samples_leaf", type=int, default=defaults.min_samples_leaf)
    parser.add_argument("--l2_regularization", type=float, default=defaults.l2_regularization)
    parser.add_argument("--max_bins", type=int, default=defaults.max_bins)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--validation_size", type=float, default=0.2, help="share of the train split held out for the score"
    )
    return parser.parse_args(argv)


def hyperparameters(args: argparse.Namespace) -> Hyperparameters:
    return Hyperparameters(
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        max_leaf_nodes=args.max_leaf_nodes,
        max_depth=args.max_depth,
        min_samples_leaf=args.min_samples_leaf,
        l2_regularization=args.l2_regularization,
        max_bins=args.max_bins,
        seed=args.seed,
    )


def read_split(folder: str | Path) -> tuple[pd.DataFrame, pd.Series]:
    """A split written by ``prepare`` (Parquet): features in the curated order, target as 0/1."""
    files = [f for f in list_data_files(folder) if f.suffix.lower() in (".parquet", ".pq")]
    if not files:
        raise DataError(f"{folder}: no Parquet files (expected the output of the prepare step)")
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    missing = [c for c in (*FEATURES, TARGET) if c not in frame.columns]
    if missing:
        raise DataError(f"{folder}: column {missing[0]!r} is missing")
    target = frame[TARGET].map(parse_target).astype("int64")
    return frame.loc[:, list(FEATURES)], target


def check_validation_size(target: pd.Series, size: float) -> None:
    """Raises ValueError for a size outside (0, 0.5] or a target without two rows of each class."""
    if not 0 < size <= 0.5:
        raise ValueError(f"validation_size {size} is not in (0, 0.5]")
    if target.nunique() < 2 or target.value_counts().min() < 2:
        raise ValueError("the train split needs at least two rows of each class to hold out a validation part")


def validation_split(
    features: pd.DataFrame, target: pd.Series, size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """(fit features, validation features, fit target, validation target): stratified, seeded. Raises ValueError
    as :func:`check_validation_size` does, or for a split that leaves either part without both classes."""
    from sklearn.model_selection import train_test_split

    check_validation_size(target, size)
    try:
        parts = train_test_split(features, target, test_size=size, stratify=target, random_state=seed)
    except ValueError as exc:
        raise ValueError(f"cannot hold out validation_size {size} of {len(features)} rows: {exc}") from None
    return parts[0], parts[1], parts[2], parts[3]


def fit_and_validate(
    features: pd.DataFrame, target: pd.Series, params: Hyperparameters, validation_size: float
) -> tuple[Any, dict[str, Any]]:
    """The pipeline fitted on the train split minus its validation part, and the trial record (with the score)."""
    from sklearn.metrics import roc_auc_score

    fit_x, val_x, fit_y, val_y = validation_split(features, target, validation_size, params.seed)
    pipeline = build_pipeline(params).fit(fit_x, fit_y)
    score = float(roc_auc_score(val_y, predict_default_probability(pipeline, val_x)))
    record = trial_record(params.as_dict(), validation_score=score, fit_rows=len(fit_x), validation_rows=len(val_x))
    return pipeline, record


def main(args: argparse.Namespace) -> int:
    try:
        params = hyperparameters(args)
        params.validate()
        features, target = read_split(args.train_data)
        check_validation_size(target, args.validation_size)
    except (DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if not isinstance(exc, DataError) else 1
    started = time.monotonic()
    pipeline, record = fit_and_validate(features, target, params, args.validation_size)
    seconds = time.monotonic() - started
    score = record[VALIDATION_METRIC]
    logged = log_validation_metric(score)
    metadata = {
        "hyperparameters": params.as_dict(),
        "training_rows": record["fit_rows"],
        "fit_seconds": round(seconds, 2),
        TRIAL_METADATA_KEY: record,
    }
    save_model(pipeline, args.model_output, features, metadata)
    print(
        f"train: fitted on {record['fit_rows']} rows in {seconds:.1f}s with {params.as_dict()}; "
        f"{VALIDATION_METRIC} {score:.4f} on {record['validation_rows']} held-out rows"
        f"{' (logged to MLflow)' if logged else ''}; saved to {args.model_output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
