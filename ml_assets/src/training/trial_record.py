"""What a training trial records, for the sweep that picks it and the registry that keeps it.

The train step logs ``VALIDATION_METRIC`` to MLflow (an Azure ML sweep reads its primary metric from there; the
pipeline YAML names the same metric) and writes the trial record into the MLflow model's metadata: the
hyperparameters, the validation score and the rows it was fitted and scored on. The sweep's best trial is the model
that goes on, so the register step reads the record from the model it registers and tags it (``hp_<name>``,
``validation_roc_auc``, ``validation_rows``): the same on Azure ML and locally, without asking the platform about
the sweep.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

VALIDATION_METRIC = "validation_roc_auc"
TRIAL_METADATA_KEY = "trial"


def trial_record(
    hyperparameters: Mapping[str, Any],
    *,
    validation_score: float,
    fit_rows: int,
    validation_rows: int,
    fold_scores: list[float] | None = None,
) -> dict[str, Any]:
    """``fit_rows``: the rows the saved model was fitted on; ``validation_rows``: the rows scored out of sample
    (every row once with cross-validation); ``fold_scores``: each fold's score, when cross-validated."""
    record: dict[str, Any] = {
        "hyperparameters": dict(hyperparameters),
        VALIDATION_METRIC: validation_score,
        "fit_rows": fit_rows,
        "validation_rows": validation_rows,
    }
    if fold_scores is not None:
        record["validation_folds"] = len(fold_scores)
        record["validation_fold_scores"] = list(fold_scores)
    return record


def log_validation_metric(score: float, env: Mapping[str, str] | None = None) -> bool:
    """Log the score to MLflow when the job has a tracking destination (Azure ML sets one; the local runner sets a
    file store per sweep trial). Without one, MLflow would pick a default store in the working folder: not logged."""
    env = os.environ if env is None else env
    if not env.get("MLFLOW_TRACKING_URI"):
        return False
    import mlflow

    started_here = mlflow.active_run() is None  # on Azure ML: the job's run (MLFLOW_RUN_ID), resumed
    mlflow.log_metric(VALIDATION_METRIC, score)
    if started_here:
        mlflow.end_run()
    return True


def trial_tags(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """The model tags of the trial record in an MLflow model's metadata (none for a model without one)."""
    record = (metadata or {}).get(TRIAL_METADATA_KEY)
    if not isinstance(record, Mapping):
        return {}
    tags = {f"hp_{name}": str(value) for name, value in sorted((record.get("hyperparameters") or {}).items())}
    score = record.get(VALIDATION_METRIC)
    if isinstance(score, int | float):
        tags[VALIDATION_METRIC] = f"{score:.6f}"
    if isinstance(record.get("validation_rows"), int):
        tags["validation_rows"] = str(record["validation_rows"])
    if isinstance(record.get("validation_folds"), int):
        tags["validation_folds"] = str(record["validation_folds"])
    return tags
