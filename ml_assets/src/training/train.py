"""Pipeline step ``train``: fit the credit-default pipeline on the train split and save it as an MLflow model.

The model (sklearn flavour, pyfunc returns probabilities, with signature and input example) takes a DataFrame in
the curated schema. Hyperparameters come from the component inputs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from ..contracts.feature_schema import FEATURES, TARGET, parse_target
from .curated_data import DataError, list_data_files
from .model import Hyperparameters, build_pipeline, save_model


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


def main(args: argparse.Namespace) -> int:
    try:
        params = hyperparameters(args)
        params.validate()
        features, target = read_split(args.train_data)
    except (DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if not isinstance(exc, DataError) else 1
    started = time.monotonic()
    pipeline = build_pipeline(params).fit(features, target)
    seconds = time.monotonic() - started
    metadata = {"hyperparameters": params.as_dict(), "training_rows": len(features), "fit_seconds": round(seconds, 2)}
    save_model(pipeline, args.model_output, features, metadata)
    print(
        f"train: fitted on {len(features)} rows in {seconds:.1f}s with {params.as_dict()}; saved to {args.model_output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
