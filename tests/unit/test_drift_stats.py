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

from ml_assets.src.drift import stats as ds


def _evidently(reference: pd.Series, current: pd.Series, kind: str, stattest: str | None, threshold: float | None):
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == ds.NUMERICAL else ColumnType.Categorical
    # What get_one_column_drift does before the test: inf → NaN, drop NaN.
    ref = reference.replace([-np.inf, np.inf], np.nan).dropna()
    cur = current.replace([-np.inf, np.inf], np.nan).dropna()
    test = get_stattest(ref, cur, column_type, stattest)
    result = test(ref, cur, column_type, threshold)
    return test.name, float(result.drift_score), bool(result.drifted)


def _ours(reference: pd.Series, current: pd.Series, kind: str, stattest: str | None, threshold: float | None):
    if kind == ds.NUMERICAL:
        ref, cur = ds.numeric_counts(reference, keep_raw=True), ds.numeric_counts(current)
    else:
        ref, cur = ds.categorical_counts(reference), ds.categorical_counts(current)
    return ds.column_drift("x", kind, ref, cur, stattest=stattest, threshold=threshold)


def _cases() -> list[Any]:
    rng = np.random.default_rng(11)
    cases: list[Any] = []

    def add(name: str, ref: Any, cur: Any, kind: str, stattest: str | None = None, threshold: float | None = None):  # noqa: PLR0917
        cases.append(pytest.param(pd.Series(ref), pd.Series(cur), kind, stattest, threshold, id=name))

    # Large reference (> 1000 rows): Evidently's defaults for big data.
    add("wasserstein-float", rng.normal(0, 1, 3000), rng.normal(0.05, 1.1, 20000), ds.NUMERICAL)
    add("wasserstein-drift", rng.normal(0, 1, 3000), rng.normal(0.5, 1, 20000), ds.NUMERICAL)
    add("wasserstein-int", rng.integers(20, 70, 3000), rng.integers(22, 75, 9000), ds.NUMERICAL)
    add(
        "wasserstein-rounded",
        np.round(rng.lognormal(8, 1, 2500), 2),
        np.round(rng.lognormal(8, 1, 8000), 2),
        ds.NUMERICAL,
    )
    with_gaps = rng.normal(0, 1, 4000)
    with_gaps[::97] = np.nan
    with_gaps[5] = np.inf
    add("wasserstein-nan-inf", with_gaps, np.append(rng.normal(0, 1, 5000), [np.nan, -np.inf]), ds.NUMERICAL)
    add("wasserstein-constant", np.full(2000, 3.0), np.full(3000, 3.0), ds.NUMERICAL)
    add("js-numeric-5-values", rng.integers(0, 5, 2000), rng.integers(0, 4, 5000), ds.NUMERICAL)
    add(
        "js-categorical",
        rng.choice(list("abcd"), 3000, p=[0.4, 0.3, 0.2, 0.1]),
        rng.choice(list("abcde"), 9000),
        ds.CATEGORICAL,
    )
    add("js-categorical-same", rng.choice(["x", "y"], 3000), rng.choice(["x", "y"], 5000), ds.CATEGORICAL)
    # Small reference (<= 1000 rows).
    add("ks", rng.normal(0, 1, 800), rng.normal(0.1, 1, 5000), ds.NUMERICAL)
    add("chisquare-categorical", rng.choice(list("abc"), 500), rng.choice(list("abcd"), 4000), ds.CATEGORICAL)
    add("chisquare-numeric-few-values", rng.integers(0, 4, 600), rng.integers(0, 4, 3000), ds.NUMERICAL)
    add("z-binary", rng.choice(["m", "f"], 700, p=[0.4, 0.6]), rng.choice(["m", "f"], 3000), ds.CATEGORICAL)
    add("z-single-same", ["m"] * 300, ["m"] * 500, ds.CATEGORICAL)
    add("z-numeric-binary", rng.integers(0, 2, 400), rng.integers(0, 2, 900), ds.NUMERICAL)
    # Chosen tests, both binning paths, zero-filled bins.
    add("psi-hist", rng.normal(0, 1, 3000), rng.normal(0.2, 1, 10000), ds.NUMERICAL, "psi")
    add("psi-values", rng.integers(0, 12, 3000), rng.integers(2, 15, 10000), ds.NUMERICAL, "psi")
    add("psi-categorical-zero", rng.choice(list("abc"), 3000), rng.choice(list("ab"), 10000), ds.CATEGORICAL, "psi")
    add("kl-hist", rng.exponential(1, 2000), rng.exponential(1.3, 8000), ds.NUMERICAL, "kl_div", 0.05)
    add("kl-categorical", rng.choice(list("abcd"), 2000), rng.choice(list("abcd"), 8000), ds.CATEGORICAL, "kl_div")
    add("js-hist", rng.normal(0, 1, 3000), rng.normal(0, 1.2, 10000), ds.NUMERICAL, "jensenshannon")
    add("js-hist-int", rng.integers(0, 500, 3000), rng.integers(0, 700, 6000), ds.NUMERICAL, "jensenshannon")
    add("chisquare-chosen", rng.choice(list("abc"), 3000), rng.choice(list("abc"), 6000), ds.CATEGORICAL, "chisquare")
    add("ks-chosen", rng.normal(0, 1, 3000), rng.normal(0, 1, 6000), ds.NUMERICAL, "ks", 0.01)
    add("wasserstein-threshold", rng.normal(0, 1, 3000), rng.normal(0.15, 1, 6000), ds.NUMERICAL, None, 0.2)
    # Outside the fast set: Evidently's own implementation, on the counts' exact multiset.
    add("anderson", rng.normal(0, 1, 1500), rng.normal(0.1, 1, 2000), ds.NUMERICAL, "anderson")
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
    assert ours.method == ("evidently" if name not in ds.FAST_TESTS else "counts")


@pytest.mark.slow
def test_a_score_at_the_threshold_is_decided_by_evidently_itself():
    rng = np.random.default_rng(3)
    reference, current = pd.Series(rng.normal(0, 1, 3000)), pd.Series(rng.normal(0.1, 1, 5000))
    fast = _ours(reference, current, ds.NUMERICAL, None, None)
    # Given a threshold equal to the score (Evidently: drift when score >= threshold)
    at = _ours(reference, current, ds.NUMERICAL, None, fast.drift_score)
    # Then the fast path defers to Evidently's test on the full column, and agrees with it
    assert at.method == "evidently"
    assert at.stattest_name == "Wasserstein distance (normed)"
    _, score, drifted = _evidently(reference, current, ds.NUMERICAL, None, fast.drift_score)
    assert (at.drift_score, at.drift_detected) == (score, drifted)


@pytest.mark.slow
def test_stattest_metadata_matches_evidentlys_registry():
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    types = {ds.NUMERICAL: ColumnType.Numerical, ds.CATEGORICAL: ColumnType.Categorical}
    for spec in ds.STATTESTS.values():
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
    got = ds._wasserstein(ds.numeric_counts(reference, keep_raw=True), ds.numeric_counts(current), ds.NUMERICAL)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from("abcdef"), min_size=1, max_size=80),
    st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=200),
)
def test_jensenshannon_from_counts_equals_scipy(ref, cur):
    from scipy.spatial import distance

    reference, current = ds.categorical_counts(pd.Series(ref)), ds.categorical_counts(pd.Series(cur))
    keys = sorted(set(ref) | set(cur))
    p = np.array([ref.count(k) / len(ref) for k in keys])
    q = np.array([cur.count(k) / len(cur) for k in keys])
    assert ds._jensenshannon(reference, current, ds.CATEGORICAL) == pytest.approx(
        float(distance.jensenshannon(p, q)), rel=1e-9, abs=1e-12
    )


def test_default_test_follows_evidentlys_rules():
    def counts(values: list[Any], kind: str) -> ds.Counts:
        series = pd.Series(values)
        return ds.numeric_counts(series) if kind == ds.NUMERICAL else ds.categorical_counts(series)

    big = list(range(10)) * 120  # 1,200 rows, 10 values
    assert ds.default_stattest(counts(big, ds.NUMERICAL), counts([1, 2], ds.NUMERICAL), ds.NUMERICAL) == "wasserstein"
    few = [0, 1, 2] * 400
    assert ds.default_stattest(counts(few, ds.NUMERICAL), counts([4, 4], ds.NUMERICAL), ds.NUMERICAL) == "jensenshannon"
    cats = ["a", "b"] * 600
    assert ds.default_stattest(counts(cats, ds.CATEGORICAL), counts(["c"], ds.CATEGORICAL), ds.CATEGORICAL) == (
        "jensenshannon"
    )
    small = list(range(10)) * 100  # exactly 1,000 rows: "small" for Evidently
    assert ds.default_stattest(counts(small, ds.NUMERICAL), counts([1], ds.NUMERICAL), ds.NUMERICAL) == "ks"
    assert ds.default_stattest(
        counts(["a", "b"] * 10, ds.CATEGORICAL), counts(["c"], ds.CATEGORICAL), ds.CATEGORICAL
    ) == ("chisquare")
    assert ds.default_stattest(counts(["a"] * 10, ds.CATEGORICAL), counts(["b"], ds.CATEGORICAL), ds.CATEGORICAL) == "z"


def test_a_chosen_test_applies_only_to_the_column_types_it_supports():
    ref = ds.categorical_counts(pd.Series(["a", "b"] * 800))
    cur = ds.categorical_counts(pd.Series(["a", "b", "b"] * 100))
    assert ds.stattest_for(ds.CATEGORICAL, "wasserstein", ref, cur) == "jensenshannon"  # numeric-only test
    assert ds.stattest_for(ds.CATEGORICAL, "psi", ref, cur) == "psi"
    assert ds.preset_kwargs("wasserstein", None, 0.5) == {"drift_share": 0.5, "num_method": "wasserstein"}
    assert ds.preset_kwargs("chisquare", 0.01, 0.3) == {
        "drift_share": 0.3,
        "cat_method": "chisquare",
        "threshold": 0.01,
    }
    assert ds.preset_kwargs("psi", None, 0.5) == {"drift_share": 0.5, "method": "psi"}


def test_dataset_drift_uses_evidentlys_share_rule():
    def column(name: str, drifted: bool) -> ds.ColumnDrift:
        return ds.ColumnDrift(name, ds.NUMERICAL, "wasserstein", "W", 0.2, 0.1, drifted, "counts", 10, 10, 5)

    result = ds.DatasetDrift([column("a", True), column("b", False)], drift_share=0.5)
    assert (result.n_drifted, result.share_drifted, result.dataset_drift) == (1, 0.5, True)  # share >= drift_share
    assert ds.DatasetDrift([column("a", True), column("b", False)], drift_share=0.51).dataset_drift is False
    assert result.drifted_columns == ["a"]


def test_an_empty_column_is_named():
    empty = ds.numeric_counts(pd.Series([np.nan, np.inf]))
    full = ds.numeric_counts(pd.Series([1.0, 2.0]))
    with pytest.raises(ds.DriftInputError, match=r"'age'.*current"):
        ds.column_drift("age", ds.NUMERICAL, full, empty)
