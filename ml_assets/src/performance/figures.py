"""The performance figures of labelled predictions, computed exactly with numpy (no sampling, no scikit-learn in
the job's environment): ROC AUC as the Mann-Whitney statistic with ties counted half (what
``sklearn.metrics.roc_auc_score`` gives), precision, recall and F1 of ``prediction >= threshold`` (0 where
undefined, as scikit-learn's ``zero_division=0``), the Brier score, the share of positive labels, the share of
positive predictions, and the label coverage."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..contracts.performance_telemetry import ModelPerformance

if TYPE_CHECKING:
    import numpy as np


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties: half); NaN with one class."""
    import numpy as np

    positives = int(np.count_nonzero(labels))
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    # average ranks (1-based), ties sharing the mean of their positions
    order = np.argsort(scores, kind="stable")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    rank_sum = float(ranks[labels.astype(bool)].sum(dtype=np.float64))
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def performance(
    scores: np.ndarray, labels: np.ndarray, *, threshold: float, n_predictions: int, training_roc_auc: float | None
) -> ModelPerformance:
    """The figures of the labelled predictions ``scores``/``labels`` (0/1) out of ``n_predictions``."""
    import numpy as np

    y = labels.astype(np.int8)
    predicted = scores >= threshold
    positive = y == 1
    tp = int(np.count_nonzero(predicted & positive))
    fp = int(np.count_nonzero(predicted & ~positive))
    fn = int(np.count_nonzero(~predicted & positive))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    n = len(y)
    return ModelPerformance(
        roc_auc=roc_auc(scores, y),
        precision=precision,
        recall=recall,
        f1=f1,
        brier_score=float(np.mean((scores - y) ** 2)) if n else math.nan,
        label_positive_rate=_ratio(int(positive.sum()), n),
        predicted_positive_rate=_ratio(int(predicted.sum()), n),
        label_coverage=_ratio(n, n_predictions),
        n_predictions=n_predictions,
        n_labelled=n,
        threshold=threshold,
        training_roc_auc=training_roc_auc,
    )
