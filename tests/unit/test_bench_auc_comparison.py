"""The statistics the sweep benchmark states its figures with: the AUC against scikit-learn's, the paired
bootstrap's interval, the summary over splits and the rank."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

_PATH = Path(__file__).resolve().parents[2] / "bench" / "auc_comparison.py"
_SPEC = importlib.util.spec_from_file_location("auc_comparison", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
auc_comparison = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("auc_comparison", auc_comparison)
_SPEC.loader.exec_module(auc_comparison)


@pytest.mark.parametrize("seed", range(6))
def test_roc_auc_equals_scikit_learns_with_and_without_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.random(500) < 0.22
    scores = rng.normal(size=500) + labels * 0.8
    tied = np.round(scores, 1)  # many ties
    for values in (scores, tied):
        assert auc_comparison.roc_auc(labels, values) == pytest.approx(roc_auc_score(labels, values), abs=1e-12)


def test_roc_auc_refuses_one_class() -> None:
    with pytest.raises(ValueError, match="both classes"):
        auc_comparison.roc_auc(np.zeros(10), np.arange(10.0))


def test_same_model_twice_differs_by_nothing() -> None:
    rng = np.random.default_rng(1)
    labels = rng.random(300) < 0.3
    scores = rng.random(300)
    paired = auc_comparison.paired_bootstrap(labels, scores, scores, resamples=200)
    assert (paired.difference, paired.low, paired.high, paired.first_wins) == (0.0, 0.0, 0.0, 0.0)


def test_a_clearly_better_model_has_an_interval_above_zero_and_a_noisy_one_straddles_it() -> None:
    rng = np.random.default_rng(2)
    labels = rng.random(2000) < 0.22
    signal = labels * 1.0
    good = signal + rng.normal(scale=0.8, size=2000)
    weak = signal + rng.normal(scale=2.0, size=2000)
    better = auc_comparison.paired_bootstrap(labels, good, weak, resamples=300)
    assert better.difference == pytest.approx(roc_auc_score(labels, good) - roc_auc_score(labels, weak))
    assert 0 < better.low < better.difference < better.high
    assert better.first_wins == 1.0
    # the same model with a little noise of its own: the difference is within its interval, which holds zero
    twin = good + rng.normal(scale=0.05, size=2000)
    close = auc_comparison.paired_bootstrap(labels, twin, good, resamples=300)
    assert close.low < 0 < close.high
    assert 0 < close.first_wins < 1


def test_paired_bootstrap_is_seeded_and_checks_its_input() -> None:
    rng = np.random.default_rng(3)
    labels = rng.random(400) < 0.3
    a, b = rng.random(400), rng.random(400)
    assert auc_comparison.paired_bootstrap(labels, a, b, seed=7) == auc_comparison.paired_bootstrap(
        labels, a, b, seed=7
    )
    with pytest.raises(ValueError, match="same length"):
        auc_comparison.paired_bootstrap(labels, a[:-1], b)
    with pytest.raises(ValueError, match="resamples"):
        auc_comparison.paired_bootstrap(labels, a, b, resamples=0)


def test_across_splits() -> None:
    summary = auc_comparison.across_splits([0.002, -0.001, 0.003, 0.001])
    assert summary.mean == pytest.approx(0.00125)
    assert summary.standard_error == pytest.approx(np.std([0.002, -0.001, 0.003, 0.001], ddof=1) / 2)
    assert (summary.wins, summary.splits) == (3, 4)
    assert math.isnan(auc_comparison.across_splits([0.01]).standard_error)
    with pytest.raises(ValueError):
        auc_comparison.across_splits([])


def test_rank_of() -> None:
    assert auc_comparison.rank_of(0.9, [0.1, 0.5]) == 1
    assert auc_comparison.rank_of(0.3, [0.1, 0.5, 0.7]) == 3
    assert auc_comparison.rank_of(0.5, [0.5, 0.4]) == 1  # a tie shares the better rank
