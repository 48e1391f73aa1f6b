"""Evidently's statistical tests computed from exact counts, and the choice of test Evidently would make.

How each test runs on counts
----------------------------
Each test mirrors ``evidently.legacy.calculations.stattests.<module>`` on the summaries of
:mod:`.column_counts`, and gives the same number as on the raw rows:

* Wasserstein (normed) runs scipy's algorithm (``_cdf_distance``: the integral of |F_ref − F_cur| between
  consecutive merged values) on the distinct values: both empirical CDFs are the same integer counts over the
  same n at every point, and runs of equal values only add zero-width intervals;
* the histogram-based tests (Jensen-Shannon, PSI, KL on numbers) bin the distinct values weighted by their
  counts into the same Sturges edges (which depend only on min, max, size and dtype of the combined data);
* K-S runs scipy's ``ks_2samp`` on the exact multiset.

Test selection replicates ``evidently.legacy.calculations.stattests.registry._get_default_stattest``: for a
reference of more than 1,000 rows, categorical → Jensen-Shannon, numeric → Wasserstein (normed), or
Jensen-Shannon when the column has at most 5 distinct values; for a smaller reference, categorical (and
numeric with ≤ 5 values) → chi-square (> 2 values) or Z-test, numeric → K-S. Thresholds and directions
(p-value: drift when below; distance: drift when at or above) are Evidently's.

Each test is a linear pass over the distinct values. The default tests (Wasserstein, Jensen-Shannon) are
numpy only; neither scipy.stats (~1.5 s to import) nor Evidently (~8 s) is imported on that path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from .column_counts import CATEGORICAL, NUMERICAL, Counts

SMALL_REFERENCE_ROWS: Final = 1000  # Evidently: reference.shape[0] <= 1000 → "small data" tests


@dataclass(frozen=True)
class StatTestSpec:
    """What Evidently's registry says about a test (checked against it by a unit test)."""

    name: str
    display_name: str
    default_threshold: float
    kinds: tuple[str, ...]  # column types the test accepts
    p_value: bool  # True: drift when score < threshold (K-S: <=); False: drift when score >= threshold


STATTESTS: Final[dict[str, StatTestSpec]] = {
    s.name: s
    for s in (
        StatTestSpec("wasserstein", "Wasserstein distance (normed)", 0.1, (NUMERICAL,), False),
        StatTestSpec("jensenshannon", "Jensen-Shannon distance", 0.1, (CATEGORICAL, NUMERICAL), False),
        StatTestSpec("psi", "PSI", 0.1, (CATEGORICAL, NUMERICAL), False),
        StatTestSpec("kl_div", "Kullback-Leibler divergence", 0.1, (CATEGORICAL, NUMERICAL), False),
        StatTestSpec("chisquare", "chi-square p_value", 0.05, (CATEGORICAL,), True),
        StatTestSpec("z", "Z-test p_value", 0.05, (CATEGORICAL,), True),
        StatTestSpec("ks", "K-S p_value", 0.05, (NUMERICAL,), True),
        StatTestSpec("anderson", "Anderson-Darling", 0.1, (NUMERICAL,), True),
        StatTestSpec("cramer_von_mises", "Cramer-von Mises", 0.1, (NUMERICAL,), True),
    )
}
# Computed here from the counts; the others go to Evidently's own implementation.
FAST_TESTS: Final = frozenset({"wasserstein", "jensenshannon", "psi", "kl_div", "chisquare", "z", "ks"})


def detected(spec: StatTestSpec, score: float, threshold: float) -> bool:
    if spec.p_value:
        return bool(score <= threshold) if spec.name == "ks" else bool(score < threshold)
    return bool(score >= threshold)


# --- test selection ------------------------------------------------------------------------------


def n_distinct(reference: Counts, current: Counts) -> int:
    """``pd.concat([reference, current]).nunique()`` from the summaries."""
    if reference.kind == NUMERICAL:
        a, b = reference.values.astype(np.float64), current.values.astype(np.float64)
        if a.size > b.size:
            a, b = b, a
        positions = np.searchsorted(b, a)
        inside = positions < b.size
        shared = int(np.count_nonzero(b[positions[inside]] == a[inside]))
        return int(a.size + b.size - shared)
    return len(set(reference.values.tolist()) | set(current.values.tolist()))


def default_stattest(reference: Counts, current: Counts, kind: str, n_values: int | None = None) -> str:
    """Evidently 0.7's default test for a column (``_get_default_stattest``)."""
    n_values = n_distinct(reference, current) if n_values is None else n_values
    if reference.n <= SMALL_REFERENCE_ROWS:
        if kind == NUMERICAL and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if kind == NUMERICAL:
        return "jensenshannon" if n_values <= 5 else "wasserstein"
    return "jensenshannon"


def stattest_for(kind: str, chosen: str | None, reference: Counts, current: Counts, n_values: int | None = None) -> str:
    """The per-run test when it applies to ``kind``, else Evidently's default (see :func:`preset_kwargs`)."""
    if chosen is not None:
        spec = STATTESTS.get(chosen)
        if spec is None:
            raise ValueError(f"unknown stattest {chosen!r}; one of {', '.join(sorted(STATTESTS))}")
        if kind in spec.kinds:
            return chosen
    return default_stattest(reference, current, kind, n_values)


def preset_kwargs(stattest: str | None, threshold: float | None, drift_share: float) -> dict[str, Any]:
    """``DataDriftPreset`` arguments with the same meaning as the component's settings.

    A chosen test applies to the column types it supports (``method`` when both, else ``num_method`` or
    ``cat_method``); the other columns keep Evidently's default. ``threshold`` applies to every column.
    """
    kwargs: dict[str, Any] = {"drift_share": drift_share}
    if stattest is not None:
        spec = STATTESTS[stattest]
        if set(spec.kinds) == {NUMERICAL, CATEGORICAL}:
            kwargs["method"] = stattest
        elif spec.kinds == (NUMERICAL,):
            kwargs["num_method"] = stattest
        else:
            kwargs["cat_method"] = stattest
    if threshold is not None:
        kwargs["threshold"] = threshold
    return kwargs


# --- the tests on counts (each mirrors evidently.legacy.calculations.stattests.<module>) --------


def _binned(reference: Counts, current: Counts, kind: str, feel_zeroes: bool) -> tuple[np.ndarray, np.ndarray]:
    """``stattests.utils.get_binned_data`` from the summaries."""
    if kind == NUMERICAL and reference.values.size > 20:
        dtype = np.result_type(reference.values.dtype, current.values.dtype)
        low = min(reference.values[0], current.values[0])
        high = max(reference.values[-1], current.values[-1])
        # np.histogram_bin_edges(combined, "sturges") depends on min, max, size and dtype only: a stand-in
        # array with the same four gives the very same edges.
        stand_in = np.full(reference.n + current.n, low, dtype=dtype)
        stand_in[0] = high
        bins = np.histogram_bin_edges(stand_in, bins="sturges")
        reference_percents = np.histogram(reference.values, bins, weights=reference.counts)[0] / reference.n
        current_percents = np.histogram(current.values, bins, weights=current.counts)[0] / current.n
    else:
        ref, cur = reference.as_dict(), current.as_dict()
        keys = list(dict.fromkeys([*ref, *cur]))
        reference_percents = np.array([ref.get(k, 0) / reference.n for k in keys])
        current_percents = np.array([cur.get(k, 0) / current.n for k in keys])
    if feel_zeroes:
        for percents in (reference_percents, current_percents):
            smallest = min(percents[percents != 0])
            np.place(percents, percents == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return reference_percents, current_percents


def _rel_entr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``scipy.special.rel_entr``: x·log(x/y) for x, y > 0; 0 for x = 0, y >= 0; inf otherwise."""
    out = np.full(x.shape, np.inf)
    positive = (x > 0) & (y > 0)
    out[positive] = x[positive] * np.log(x[positive] / y[positive])
    out[(x == 0) & (y >= 0)] = 0.0
    return out


def _jensenshannon(reference: Counts, current: Counts, kind: str) -> float:
    """``scipy.spatial.distance.jensenshannon(p, q)`` (natural log) of the binned percents, in numpy."""
    ref_p, cur_p = _binned(reference, current, kind, False)
    p = ref_p / np.sum(ref_p)
    q = cur_p / np.sum(cur_p)
    m = (p + q) / 2.0
    js = np.sum(_rel_entr(p, m)) + np.sum(_rel_entr(q, m))
    return float(np.sqrt(js / 2.0))


def _psi(reference: Counts, current: Counts, kind: str) -> float:
    ref_p, cur_p = _binned(reference, current, kind, True)
    return float(np.sum((ref_p - cur_p) * np.log(ref_p / cur_p)))


def _kl_div(reference: Counts, current: Counts, kind: str) -> float:
    from scipy import stats

    ref_p, cur_p = _binned(reference, current, kind, True)
    return float(stats.entropy(ref_p, cur_p))


def _chisquare(reference: Counts, current: Counts, kind: str) -> float:
    from scipy.stats import chisquare

    ref, cur = reference.as_dict(), current.as_dict()
    keys = list(dict.fromkeys([*ref, *cur]))
    k_norm = current.n / reference.n
    f_exp = [ref.get(k, 0) * k_norm for k in keys]
    f_obs = [cur.get(k, 0) for k in keys]
    return float(chisquare(f_obs, f_exp)[1])


def _z(reference: Counts, current: Counts, kind: str) -> float:
    from scipy.stats import norm

    if reference.values.size == 1 and current.values.size == 1 and reference.values[0] == current.values[0]:
        return 1.0
    keys = sorted(set(reference.values.tolist()) | set(current.values.tolist()))
    first = keys[0]
    n1, n2 = reference.n, current.n
    p1 = float(n1 - reference.as_dict().get(first, 0)) / n1
    p2 = float(n2 - current.as_dict().get(first, 0)) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_stat = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - norm.cdf(np.abs(z_stat))))


def _wasserstein(reference: Counts, current: Counts, kind: str) -> float:
    """``scipy.stats.wasserstein_distance(reference, current) / max(std(reference), 0.001)`` from the counts.

    The same algorithm as scipy's ``_cdf_distance(1, …)`` — the integral of |F_ref − F_cur| over the merged
    sorted values — on distinct values: runs of equal values only add zero-width intervals, so the sum is the
    same, and the CDF at each point is the same integer count over the same n.
    """
    raw = reference.raw if reference.raw is not None else reference.expand()
    norm = max(float(np.std(raw)), 0.001)
    points = _merge_sorted_distinct(reference.values.astype(np.float64), current.values.astype(np.float64))
    if points.size < 2:
        return 0.0
    ref_cum = np.concatenate(([0], np.cumsum(reference.counts)))
    cur_cum = np.concatenate(([0], np.cumsum(current.counts)))
    ref_cdf = ref_cum[np.searchsorted(reference.values, points[:-1], "right")] / reference.n
    cur_cdf = cur_cum[np.searchsorted(current.values, points[:-1], "right")] / current.n
    distance = np.sum(np.multiply(np.abs(ref_cdf - cur_cdf), np.diff(points)))
    return float(distance / norm)


def _merge_sorted_distinct(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sorted union of two sorted arrays of distinct values (linear: inserts the few new ones of ``a``)."""
    if a.size > b.size:
        a, b = b, a
    positions = np.searchsorted(b, a)
    inside = positions < b.size
    present = np.zeros(a.size, dtype=bool)
    present[inside] = b[positions[inside]] == a[inside]
    return np.insert(b, positions[~present], a[~present])


def _ks(reference: Counts, current: Counts, kind: str) -> float:
    from scipy.stats import ks_2samp

    raw = reference.raw if reference.raw is not None else reference.expand()
    return float(ks_2samp(raw, current.expand())[1])


SCORES_FROM_COUNTS: Final[dict[str, Callable[[Counts, Counts, str], float]]] = {
    "wasserstein": _wasserstein,
    "jensenshannon": _jensenshannon,
    "psi": _psi,
    "kl_div": _kl_div,
    "chisquare": _chisquare,
    "z": _z,
    "ks": _ks,
}
