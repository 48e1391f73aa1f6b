"""The fast drift computation gives Evidently's own results, column by column, on the full data.

Each case runs Evidently 0.7's registered stat test (``get_stattest`` + call, exactly what ``ValueDrift``
does) on the raw columns and our computation on their counts, and compares the test chosen, the score and the
verdict. Cases cover every branch Evidently has: small/large reference, few/many distinct values, the
histogram and the per-value binning, zero-filled bins, values only in one data set, NaN and ±inf, ints.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_assets.src.drift.column_counts import (
    CATEGORICAL,
    NUMERICAL,
    Counts,
    DriftInputError,
    categorical_counts,
    numeric_counts,
)
from ml_assets.src.drift.stattests import (
    FAST_TESTS,
    STATTESTS,
    _jensenshannon,
    _wasserstein,
    default_stattest,
    preset_kwargs,
    stattest_for,
)
from ml_assets.src.drift.verdicts import ColumnDrift, DatasetDrift, column_drift


def _evidently(reference: pd.Series, current: pd.Series, kind: str, stattest: str | None, threshold: float | None):
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == NUMERICAL else ColumnType.Categorical
    # What get_one_column_drift does before the test: inf → NaN, drop NaN.
    ref = reference.replace([-np.inf, np.inf], np.nan).dropna()
    cur = current.replace([-np.inf, np.inf], np.nan).dropna()
    test = get_stattest(ref, cur, column_type, stattest)
    result = test(ref, cur, column_type, threshold)
    return test.name, float(result.drift_score), bool(result.drifted)


def _ours(reference: pd.Series, current: pd.Series, kind: str, stattest: str | None, threshold: float | None):
    if kind == NUMERICAL:
        ref, cur = numeric_counts(reference, keep_raw=True), numeric_counts(current)
    else:
        ref, cur = categorical_counts(reference), categorical_counts(current)
    return column_drift("x", kind, ref, cur, stattest=stattest, threshold=threshold)


def _cases() -> list[Any]:
    rng = np.random.default_rng(11)
    cases: list[Any] = []

    def add(name: str, ref: Any, cur: Any, kind: str, stattest: str | None = None, threshold: float | None = None):  # noqa: PLR0917
        cases.append(pytest.param(pd.Series(ref), pd.Series(cur), kind, stattest, threshold, id=name))

    # Large reference (> 1000 rows): Evidently's defaults for big data.
    add("wasserstein-float", rng.normal(0, 1, 3000), rng.normal(0.05, 1.1, 20000), NUMERICAL)
    add("wasserstein-drift", rng.normal(0, 1, 3000), rng.normal(0.5, 1, 20000), NUMERICAL)
    add("wasserstein-int", rng.integers(20, 70, 3000), rng.integers(22, 75, 9000), NUMERICAL)
    add(
        "wasserstein-rounded",
        np.round(rng.lognormal(8, 1, 2500), 2),
        np.round(rng.lognormal(8, 1, 8000), 2),
        NUMERICAL,
    )
    with_gaps = rng.normal(0, 1, 4000)
    with_gaps[::97] = np.nan
    with_gaps[5] = np.inf
    add("wasserstein-nan-inf", with_gaps, np.append(rng.normal(0, 1, 5000), [np.nan, -np.inf]), NUMERICAL)
    add("wasserstein-constant", np.full(2000, 3.0), np.full(3000, 3.0), NUMERICAL)
    add("js-numeric-5-values", rng.integers(0, 5, 2000), rng.integers(0, 4, 5000), NUMERICAL)
    add(
        "js-categorical",
        rng.choice(list("abcd"), 3000, p=[0.4, 0.3, 0.2, 0.1]),
        rng.choice(list("abcde"), 9000),
        CATEGORICAL,
    )
    add("js-categorical-same", rng.choice(["x", "y"], 3000), rng.choice(["x", "y"], 5000), CATEGORICAL)
    # Small reference (<= 1000 rows).
    add("ks", rng.normal(0, 1, 800), rng.normal(0.1, 1, 5000), NUMERICAL)
    add("chisquare-categorical", rng.choice(list("abc"), 500), rng.choice(list("abcd"), 4000), CATEGORICAL)
    add("chisquare-numeric-few-values", rng.integers(0, 4, 600), rng.integers(0, 4, 3000), NUMERICAL)
    add("z-binary", rng.choice(["m", "f"], 700, p=[0.4, 0.6]), rng.choice(["m", "f"], 3000), CATEGORICAL)
    add("z-single-same", ["m"] * 300, ["m"] * 500, CATEGORICAL)
    add("z-numeric-binary", rng.integers(0, 2, 400), rng.integers(0, 2, 900), NUMERICAL)
    # Chosen tests, both binning paths, zero-filled bins.
    add("psi-hist", rng.normal(0, 1, 3000), rng.normal(0.2, 1, 10000), NUMERICAL, "psi")
    add("psi-values", rng.integers(0, 12, 3000), rng.integers(2, 15, 10000), NUMERICAL, "psi")
    add("psi-categorical-zero", rng.choice(list("abc"), 3000), rng.choice(list("ab"), 10000), CATEGORICAL, "psi")
    add("kl-hist", rng.exponential(1, 2000), rng.exponential(1.3, 8000), NUMERICAL, "kl_div", 0.05)
    add("kl-categorical", rng.choice(list("abcd"), 2000), rng.choice(list("abcd"), 8000), CATEGORICAL, "kl_div")
    add("js-hist", rng.normal(0, 1, 3000), rng.normal(0, 1.2, 10000), NUMERICAL, "jensenshannon")
    add("js-hist-int", rng.integers(0, 500, 3000), rng.integers(0, 700, 6000), NUMERICAL, "jensenshannon")
    add("chisquare-chosen", rng.choice(list("abc"), 3000), rng.choice(list("abc"), 6000), CATEGORICAL, "chisquare")
    add("ks-chosen", rng.normal(0, 1, 3000), rng.normal(0, 1, 6000), NUMERICAL, "ks", 0.01)
    add("wasserstein-threshold", rng.normal(0, 1, 3000), rng.normal(0.15, 1, 6000), NUMERICAL, None, 0.2)
    # Outside the fast set: Evidently's own implementation, on the counts' exact multiset.
    add("anderson", rng.normal(0, 1, 1500), rng.normal(0.1, 1, 2000), NUMERICAL, "anderson")
    return cases


@pytest.mark.slow
@pytest.mark.parametrize(("reference", "current", "kind", "stattest", "threshold"), _cases())
def test_each_column_verdict_equals_evidentlys_on_the_raw_data(reference, current, kind, stattest, threshold):
    # Given one column of reference and current data
    # When both Evidently (raw rows) and the component (counts) decide drift
    name, score, drifted = _evidently(reference, current, kind, stattest, threshold)
    ours = _ours(reference, current, kind, stattest, threshold)
    # Then they chose the same test, reached the same score and the same verdict
    assert ours.stattest == name
    if math.isnan(score):
        assert math.isnan(ours.drift_score)
    else:
        assert ours.drift_score == pytest.approx(score, rel=1e-9, abs=1e-12)
    assert ours.drift_detected == drifted
    assert ours.method == ("evidently" if name not in FAST_TESTS else "counts")


@pytest.mark.slow
def test_a_score_at_the_threshold_is_decided_by_evidently_itself():
    rng = np.random.default_rng(3)
    reference, current = pd.Series(rng.normal(0, 1, 3000)), pd.Series(rng.normal(0.1, 1, 5000))
    fast = _ours(reference, current, NUMERICAL, None, None)
    # Given a threshold equal to the score (Evidently: drift when score >= threshold)
    at = _ours(reference, current, NUMERICAL, None, fast.drift_score)
    # Then the fast path defers to Evidently's test on the full column, and agrees with it
    assert at.method == "evidently"
    assert at.stattest_name == "Wasserstein distance (normed)"
    _, score, drifted = _evidently(reference, current, NUMERICAL, None, fast.drift_score)
    assert (at.drift_score, at.drift_detected) == (score, drifted)


@pytest.mark.slow
def test_stattest_metadata_matches_evidentlys_registry():
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    types = {NUMERICAL: ColumnType.Numerical, CATEGORICAL: ColumnType.Categorical}
    for spec in STATTESTS.values():
        for kind, column_type in types.items():
            if kind in spec.kinds:
                registered = get_registered_stattest(spec.name, column_type)
                assert registered.display_name == spec.display_name
                assert registered.default_threshold == spec.default_threshold
            else:
                with pytest.raises(ValueError):
                    get_registered_stattest(spec.name, column_type)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-50, 50), min_size=1, max_size=60),
    st.lists(st.integers(-50, 50), min_size=1, max_size=200),
    st.sampled_from([1.0, 0.5, 0.01]),
)
def test_wasserstein_from_counts_equals_scipy_on_rows(ref, cur, scale):
    from scipy import stats

    reference, current = np.array(ref) * scale, np.array(cur) * scale
    expected = stats.wasserstein_distance(reference, current) / max(float(np.std(reference)), 0.001)
    got = _wasserstein(numeric_counts(reference, keep_raw=True), numeric_counts(current), NUMERICAL)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from("abcdef"), min_size=1, max_size=80),
    st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=200),
)
def test_jensenshannon_from_counts_equals_scipy(ref, cur):
    from scipy.spatial import distance

    reference, current = categorical_counts(pd.Series(ref)), categorical_counts(pd.Series(cur))
    keys = sorted(set(ref) | set(cur))
    p = np.array([ref.count(k) / len(ref) for k in keys])
    q = np.array([cur.count(k) / len(cur) for k in keys])
    assert _jensenshannon(reference, current, CATEGORICAL) == pytest.approx(
        float(distance.jensenshannon(p, q)), rel=1e-9, abs=1e-12
    )


def test_default_test_follows_evidentlys_rules():
    def counts(values: list[Any], kind: str) -> Counts:
        series = pd.Series(values)
        return numeric_counts(series) if kind == NUMERICAL else categorical_counts(series)

    big = list(range(10)) * 120  # 1,200 rows, 10 values
    assert default_stattest(counts(big, NUMERICAL), counts([1, 2], NUMERICAL), NUMERICAL) == "wasserstein"
    few = [0, 1, 2] * 400
    assert default_stattest(counts(few, NUMERICAL), counts([4, 4], NUMERICAL), NUMERICAL) == "jensenshannon"
    cats = ["a", "b"] * 600
    assert default_stattest(counts(cats, CATEGORICAL), counts(["c"], CATEGORICAL), CATEGORICAL) == ("jensenshannon")
    small = list(range(10)) * 100  # exactly 1,000 rows: "small" for Evidently
    assert default_stattest(counts(small, NUMERICAL), counts([1], NUMERICAL), NUMERICAL) == "ks"
    assert default_stattest(counts(["a", "b"] * 10, CATEGORICAL), counts(["c"], CATEGORICAL), CATEGORICAL) == (
        "chisquare"
    )
    assert default_stattest(counts(["a"] * 10, CATEGORICAL), counts(["b"], CATEGORICAL), CATEGORICAL) == "z"


def test_a_chosen_test_applies_only_to_the_column_types_it_supports():
    ref = categorical_counts(pd.Series(["a", "b"] * 800))
    cur = categorical_counts(pd.Series(["a", "b", "b"] * 100))
    assert stattest_for(CATEGORICAL, "wasserstein", ref, cur) == "jensenshannon"  # numeric-only test
    assert stattest_for(CATEGORICAL, "psi", ref, cur) == "psi"
    assert preset_kwargs("wasserstein", None, 0.5) == {"drift_share": 0.5, "num_method": "wasserstein"}
    assert preset_kwargs("chisquare", 0.01, 0.3) == {
        "drift_share": 0.3,
        "cat_method": "chisquare",
        "threshold": 0.01,
    }
    assert preset_kwargs("psi", None, 0.5) == {"drift_share": 0.5, "method": "psi"}


def test_dataset_drift_uses_evidentlys_share_rule():
    def column(name: str, drifted: bool) -> ColumnDrift:
        return ColumnDrift(name, NUMERICAL, "wasserstein", "W", 0.2, 0.1, drifted, "counts", 10, 10, 5)

    result = DatasetDrift([column("a", True), column("b", False)], drift_share=0.5)
    assert (result.n_drifted, result.share_drifted, result.dataset_drift) == (1, 0.5, True)  # share >= drift_share
    assert DatasetDrift([column("a", True), column("b", False)], drift_share=0.51).dataset_drift is False
    assert result.drifted_columns == ["a"]


def test_an_empty_column_is_named():
    empty = numeric_counts(pd.Series([np.nan, np.inf]))
    full = numeric_counts(pd.Series([1.0, 2.0]))
    with pytest.raises(DriftInputError, match=r"'age'.*current"):
        column_drift("age", NUMERICAL, full, empty)
