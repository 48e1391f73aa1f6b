"""Prediction drift: the served scores of each model version in the window against that version's reference scores.

The reference is the distribution of the model's scores on its test split, stored with the registered model
(:mod:`..contracts.prediction_reference`; the run gets the folder of its own version's model). The exported rows
carry the version that scored them, so the predictions are counted per version (:mod:`.target_summary`) and
each version is compared with its own reference only: a version without one (registered before references
existed, or not the run's version, whose model folder the run was not given) is skipped with the reason, and
so is a version with fewer than ``min_rows`` scores. The test is the features' (:func:`.verdicts.column_drift`:
Evidently's choice of test for a numeric column, computed exactly from counts, Evidently's own test near the
threshold), so a prediction verdict is Evidently's on all rows.

Training data that carries a ``prediction`` column (a scored reference) stays a reference for the run's version
when no model reference is given.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from ..contracts.export_layout import PREDICTION
from ..contracts.prediction_reference import FILE_NAME, ReferenceError, read_reference
from .column_counts import NUMERICAL, Counts, numeric_counts
from .verdicts import ColumnDrift, column_drift

log = logging.getLogger(__name__)


class PredictionStatus(StrEnum):
    COMPUTED = "computed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ReferenceScores:
    """The run's reference scores (for its own model version) and where they came from."""

    counts: Counts
    source: str
    in_reference_data: bool = False  # the training data's own prediction column (one data set with the features)


@dataclass(frozen=True)
class VersionPrediction:
    """What became of one model version's predictions in the window."""

    model_version: str
    rows: int
    status: PredictionStatus
    drift: ColumnDrift | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "rows": self.rows,
            "status": self.status,
            "reason": self.reason or None,
            "drift": self.drift.as_dict() if self.drift else None,
        }


def load_reference_scores(path: Path) -> ReferenceScores:
    """The scores of a model folder's (or a file's) prediction reference; ``ReferenceError`` when unreadable."""
    reference = read_reference(path)
    array = np.asarray(reference.predictions, dtype=np.float64)
    counts = numeric_counts(array, keep_raw=True, column=PREDICTION)
    return ReferenceScores(counts, f"{FILE_NAME} ({reference.source}, {reference.rows} scores)")


def scored_training_reference(reference_counts: Mapping[str, Counts]) -> ReferenceScores | None:
    """The training data's own ``prediction`` column as a reference, when it has one."""
    counts = reference_counts.get(PREDICTION)
    if counts is None or counts.n == 0:
        return None
    return ReferenceScores(counts, "the reference data's prediction column", in_reference_data=True)


def run_reference_scores(
    model: str, path: Path | None, reference_counts: Mapping[str, Counts]
) -> tuple[ReferenceScores | None, str]:
    """The run's version's reference scores (the model folder's, else the training data's prediction column), or
    why there are none: prediction drift is then skipped with that reason, the rest of the run goes on."""
    if path is not None:
        try:
            return load_reference_scores(path), ""
        except (ReferenceError, OSError) as exc:
            log.error("prediction drift will be skipped: %s", exc)
            return None, f"the reference scores of {model} could not be read ({exc})"
    scored = scored_training_reference(reference_counts)
    if scored is not None:
        return scored, ""
    return None, (
        f"model {model} has no reference scores (no prediction_reference given; a model registered before the "
        "training pipeline stored them has none: retrain it) and the reference data has no 'prediction' column"
    )


def prediction_drift(
    run_version: str,
    reference: ReferenceScores | None,
    no_reference_reason: str,
    predictions_by_version: Mapping[str, Counts],
    *,
    min_rows: int,
    stattest: str | None,
    threshold: float | None,
) -> list[VersionPrediction]:
    """One result per model version among the window's rows (the run's version first), computed or skipped."""
    order = sorted(predictions_by_version, key=lambda v: (v != run_version, v))
    out = []
    for version in order:
        current = predictions_by_version[version]
        rows = current.n
        if version != run_version:
            reason = f"no reference scores for version {version}: this run has version {run_version}'s model only"
            out.append(VersionPrediction(version, rows, PredictionStatus.SKIPPED, reason=reason))
        elif reference is None:
            out.append(VersionPrediction(version, rows, PredictionStatus.SKIPPED, reason=no_reference_reason))
        elif rows < min_rows:
            reason = f"only {rows} predictions of version {version} in the window, fewer than min_rows={min_rows}"
            out.append(VersionPrediction(version, rows, PredictionStatus.SKIPPED, reason=reason))
        else:
            drift = column_drift(
                PREDICTION, NUMERICAL, reference.counts, current, stattest=stattest, threshold=threshold
            )
            out.append(VersionPrediction(version, rows, PredictionStatus.COMPUTED, drift=drift))
    return out
