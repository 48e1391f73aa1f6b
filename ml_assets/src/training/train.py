"""Pipeline step ``train``: score a set of hyperparameters on the train split, then fit the credit-default pipeline
on the whole train split and save it as an MLflow model.

1. Score (the test split stays for evaluate's gate): with ``cv_folds`` ≥ 2, stratified, seeded k-fold cross-validation
   over the train split, the mean of the folds' ROC AUC; with ``cv_folds`` 1, one stratified, seeded held-out part of
   ``validation_size``. The score is logged to MLflow (``validation_roc_auc``: the metric the pipeline's sweep
   maximises, ``trial_record.py``). Cross-validation is the default because one held-out part of a 24,000-row split
   ranks trials by noise as much as by merit (measured in docs/benchmarks.md).
2. Refit on the whole train split: the model that goes on to evaluate has seen every training row, not 80 % of them.
3. Save it (sklearn flavour, pyfunc returns probabilities, with signature and input example), which takes a
   DataFrame in the curated schema, with the trial record in its metadata.

Hyperparameters come from the component inputs (the sweep's sampled values for a trial).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
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
    parser.add_argument("--max_features", type=float, default=defaults.max_features)
    parser.add_argument("--max_bins", type=int, default=defaults.max_bins)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--cv_folds", type=int, default=5, help="folds of the cross-validated score; 1: one held-out part instead"
    )
    parser.add_argument(
        "--validation_size", type=float, default=0.2, help="with --cv_folds 1: share of the train split held out"
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
        max_features=args.max_features,
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


MAX_CV_FOLDS = 20


def check_validation(target: pd.Series, size: float, cv_folds: int = 1) -> None:
    """Raises ValueError for a fold count outside 1..20, a size outside (0, 0.5] (one held-out part), or a target
    with too few rows of a class for the folds or the part."""
    if not 1 <= cv_folds <= MAX_CV_FOLDS:
        raise ValueError(f"cv_folds {cv_folds} is not in 1..{MAX_CV_FOLDS}")
    if cv_folds == 1 and not 0 < size <= 0.5:
        raise ValueError(f"validation_size {size} is not in (0, 0.5]")
    least = max(cv_folds, 2)
    if target.nunique() < 2 or target.value_counts().min() < least:
        raise ValueError(
            f"the train split needs at least {least} rows of each class to score "
            + (f"{cv_folds} folds" if cv_folds > 1 else "a held-out part")
        )


def validation_split(
    features: pd.DataFrame, target: pd.Series, size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """(fit features, validation features, fit target, validation target): stratified, seeded. Raises ValueError
    as :func:`check_validation` does, or for a split that leaves either part without both classes."""
    from sklearn.model_selection import train_test_split

    check_validation(target, size)
    try:
        parts = train_test_split(features, target, test_size=size, stratify=target, random_state=seed)
    except ValueError as exc:
        raise ValueError(f"cannot hold out validation_size {size} of {len(features)} rows: {exc}") from None
    return parts[0], parts[1], parts[2], parts[3]


def validation_folds(target: pd.Series, cv_folds: int, seed: int) -> list[tuple[Any, Any]]:
    """The (fit positions, scored positions) of each fold: stratified, shuffled with ``seed``."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(target)), target))


def validation_scores(
    features: pd.DataFrame, target: pd.Series, params: Hyperparameters, validation_size: float, cv_folds: int
) -> tuple[list[float], int]:
    """ROC AUC of each fold (one score for a held-out part) and the number of rows scored."""
    from sklearn.metrics import roc_auc_score

    if cv_folds == 1:
        fit_x, val_x, fit_y, val_y = validation_split(features, target, validation_size, params.seed)
        model = build_pipeline(params).fit(fit_x, fit_y)
        return [float(roc_auc_score(val_y, predict_default_probability(model, val_x)))], len(val_x)
    check_validation(target, validation_size, cv_folds)
    scores = []
    for fit_at, scored_at in validation_folds(target, cv_folds, params.seed):
        model = build_pipeline(params).fit(features.iloc[fit_at], target.iloc[fit_at])
        probabilities = predict_default_probability(model, features.iloc[scored_at])
        scores.append(float(roc_auc_score(target.iloc[scored_at], probabilities)))
    return scores, len(target)


def fit_and_validate(
    features: pd.DataFrame,
    target: pd.Series,
    params: Hyperparameters,
    validation_size: float,
    cv_folds: int = 1,
) -> tuple[Any, dict[str, Any]]:
    """The trial record (with its score) and the pipeline refitted on the whole train split."""
    scores, scored_rows = validation_scores(features, target, params, validation_size, cv_folds)
    pipeline = build_pipeline(params).fit(features, target)
    record = trial_record(
        params.as_dict(),
        validation_score=float(np.mean(scores)),
        fit_rows=len(features),
        validation_rows=scored_rows,
        fold_scores=scores if cv_folds > 1 else None,
    )
    return pipeline, record


def main(args: argparse.Namespace) -> int:
    try:
        params = hyperparameters(args)
        params.validate()
        features, target = read_split(args.train_data)
        check_validation(target, args.validation_size, args.cv_folds)
    except (DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if not isinstance(exc, DataError) else 1
    started = time.monotonic()
    pipeline, record = fit_and_validate(features, target, params, args.validation_size, args.cv_folds)
    seconds = time.monotonic() - started
    score = record[VALIDATION_METRIC]
    scheme = f"{args.cv_folds}-fold" if args.cv_folds > 1 else f"held-out {args.validation_size:g}"
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
        f"{VALIDATION_METRIC} {score:.4f} ({scheme}, {record['validation_rows']} rows scored)"
        f"{' (logged to MLflow)' if logged else ''}; saved to {args.model_output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
