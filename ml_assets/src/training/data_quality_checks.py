"""The checks of the training-data quality gate, on the data as delivered (before ``prepare`` parses it).

Each check measures one thing per column and compares it with its limit in :class:`Thresholds`: above the limit it
is a failure (the pipeline stops, the message names the column and the figure); a figure that is not zero but
within the limit, and what is possible but unusual, is a finding (reported, not failed).

- missing values (an empty cell, or text that is not a number in a numeric column): any fails, since ``prepare``
  and the model take complete rows only;
- impossible values (:data:`feature_schema.VALUE_RULES`' facts of the domain, a closed category outside its code
  set): a share above ``max_impossible_share`` fails (0 by default: any impossible value fails);
- unknown values of the open categories and values outside the training range: counted, findings only (the
  feature schema allows them, the model encodes an unknown category as missing);
- duplicate rows (every feature and the label equal to an earlier row's): a share above ``max_duplicate_share``;
- the label: a missing or unreadable label fails; the share of positives outside
  ``min_positive_share``..``max_positive_share`` fails (one class only is always outside);
- drift from the previous training set, when one is given: per column the PSI (the Population Stability Index,
  Evidently's binning and its 0.1 threshold, computed exactly from value counts by :mod:`..drift.stattests`); a
  share of drifted columns above ``max_drifted_columns_share`` fails, each drifted column is a finding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..contracts.feature_schema import (
    CATEGORIES,
    CLOSED_CATEGORIES,
    FEATURES,
    NUMERIC,
    NUMERIC_FEATURES,
    TARGET,
    VALUE_RULES,
    parse_target,
    show_value,
)

PSI = "psi"
EXAMPLES = 5  # distinct values shown per finding


@dataclass(frozen=True)
class Thresholds:
    """The limits above which a figure fails the gate (shares of rows, or of columns for drift)."""

    max_impossible_share: float = 0.0
    max_duplicate_share: float = 0.01
    min_positive_share: float = 0.02
    max_positive_share: float = 0.9
    max_drifted_columns_share: float = 1.0

    def problems(self) -> list[str]:
        """Why these thresholds cannot be used (each a share in [0, 1], the positive range not empty)."""
        out = [f"{name} {value!r} is not in [0, 1]" for name, value in asdict(self).items() if not 0 <= value <= 1]
        if not out and self.min_positive_share > self.max_positive_share:
            out.append(
                f"min_positive_share {self.min_positive_share} is above max_positive_share {self.max_positive_share}"
            )
        return out


@dataclass(frozen=True)
class Issue:
    """One failure or finding: which check, which column (None: the whole data set), the figure, the limit."""

    check: str
    column: str | None
    figure: float
    limit: float | None
    message: str


@dataclass
class QualityResult:
    rows: int
    thresholds: Thresholds
    failures: list[Issue] = field(default_factory=list)
    findings: list[Issue] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    def judge(self, check: str, column: str | None, figure: float, limit: float, message: str) -> None:
        """A figure above ``limit`` fails; a figure above zero within it is a finding."""
        if figure > limit:
            self.failures.append(
                Issue(check, column, figure, limit, f"{message} (limit {check_limit_name(check)} {limit:g})")
            )
        elif figure > 0:
            self.findings.append(Issue(check, column, figure, limit, message))


_LIMIT_NAMES = {
    "impossible": "max_impossible_share",
    "duplicates": "max_duplicate_share",
    "drift": "max_drifted_columns_share",
}


def check_limit_name(check: str) -> str:
    return _LIMIT_NAMES.get(check, check)


def share_text(count: int, rows: int) -> str:
    return f"{count:,} of {rows:,} rows ({count / rows:.2%})" if rows else f"{count:,} rows"


def check_data(frame: pd.DataFrame, thresholds: Thresholds, previous: pd.DataFrame | None = None) -> QualityResult:
    """Every check on ``frame`` (the raw columns as read: text or numbers), against ``previous`` when given."""
    result = QualityResult(rows=len(frame), thresholds=thresholds)
    numbers = {name: _as_numbers(frame[name]) for name in NUMERIC_FEATURES}
    categories = {name: _as_text(frame[name]) for name in CATEGORIES}
    _check_missing(result, frame, numbers, categories)
    _check_numbers(result, numbers)
    _check_categories(result, categories)
    labels = pd.Series([_label(v) for v in frame[TARGET].tolist()], index=frame.index, dtype=object)
    _check_duplicates(result, numbers, categories, labels)
    _check_label(result, labels)
    result.checks["drift"] = None
    if previous is not None:
        previous_numbers = {name: _as_numbers(previous[name]) for name in NUMERIC_FEATURES}
        previous_categories = {name: _as_text(previous[name]) for name in CATEGORIES}
        _check_drift(result, (numbers, categories), (previous_numbers, previous_categories), len(previous))
    return result


def _as_numbers(column: pd.Series) -> pd.Series:
    """Numbers as float64; empty cells and text that is not a number become NaN (counted as missing)."""
    if pd.api.types.is_bool_dtype(column):
        return pd.Series(np.nan, index=column.index, dtype=np.float64)
    if pd.api.types.is_numeric_dtype(column):
        values = column.astype(np.float64)
    else:
        values = pd.to_numeric(column.astype(str).str.strip(), errors="coerce").astype(np.float64)
    return values.where(np.isfinite(values.to_numpy()), np.nan)


def _as_text(column: pd.Series) -> pd.Series:
    """Categories as stripped text; empty cells become None (counted as missing)."""
    text = column.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip())
    return text.where(text != "", None)


def _check_missing(
    result: QualityResult, frame: pd.DataFrame, numbers: Mapping[str, pd.Series], categories: Mapping[str, pd.Series]
) -> None:
    rows = result.rows
    shares: dict[str, float] = {}
    for name in FEATURES:
        missing = int((numbers[name].isna() if name in NUMERIC else categories[name].isna()).sum())
        shares[name] = missing / rows if rows else 0.0
        if missing:
            first = int(np.flatnonzero((numbers[name] if name in NUMERIC else categories[name]).isna().to_numpy())[0])
            raw = frame[name].iloc[first]
            first_text = f"first: row {first + 1}, {show_value(raw)}"
            message = f"{name}: {share_text(missing, rows)} missing or not a value ({first_text})"
            result.failures.append(Issue("missing", name, shares[name], 0.0, message))
    result.checks["missing"] = shares


def _check_numbers(result: QualityResult, numbers: Mapping[str, pd.Series]) -> None:
    impossible: dict[str, dict[str, Any]] = {}
    outside: dict[str, int] = {}
    for name, values in numbers.items():
        rule = VALUE_RULES[name]
        array = values.to_numpy()
        present = ~np.isnan(array)
        low, high = rule.possible
        bad = present & ((array < low) | (array > high))
        if rule.whole:
            bad |= present & (array != np.round(array))
        count = int(bad.sum())
        if count:
            example = float(array[np.flatnonzero(bad)[0]])
            reason = rule.problem(int(example) if example.is_integer() and rule.whole else example) or "impossible"
            impossible[name] = {"count": count, "share": count / result.rows, "example": reason}
            result.judge(
                "impossible",
                name,
                count / result.rows,
                result.thresholds.max_impossible_share,
                f"{name}: {share_text(count, result.rows)} impossible (e.g. {reason})",
            )
        train_low, train_high = rule.training
        unusual = int((present & ~bad & ((array < train_low) | (array > train_high))).sum())
        outside[name] = unusual
        if unusual:
            result.findings.append(
                Issue(
                    "outside_training_range",
                    name,
                    unusual / result.rows,
                    None,
                    f"{name}: {share_text(unusual, result.rows)} outside the training range "
                    f"{train_low:g}..{train_high:g}",
                )
            )
    result.checks["impossible"] = impossible
    result.checks["outside_training_range"] = outside


def _check_categories(result: QualityResult, categories: Mapping[str, pd.Series]) -> None:
    unknown: dict[str, dict[str, Any]] = {}
    for name, text in categories.items():
        outside = text.notna() & ~text.isin(CATEGORIES[name])
        count = int(outside.sum())
        if not count:
            continue
        values = sorted({str(v) for v in text[outside].unique()})[:EXAMPLES]
        shown = ", ".join(show_value(v) for v in values)
        if name in CLOSED_CATEGORIES:
            result.checks["impossible"][name] = {"count": count, "share": count / result.rows, "example": shown}
            result.judge(
                "impossible",
                name,
                count / result.rows,
                result.thresholds.max_impossible_share,
                f"{name}: {share_text(count, result.rows)} not a repayment status ({shown})",
            )
        else:
            unknown[name] = {"count": count, "values": values}
            result.findings.append(
                Issue(
                    "unknown_category",
                    name,
                    count / result.rows,
                    None,
                    f"{name}: {share_text(count, result.rows)} unknown ({shown})",
                )
            )
    result.checks["unknown_categories"] = unknown


def _check_duplicates(
    result: QualityResult, numbers: Mapping[str, pd.Series], categories: Mapping[str, pd.Series], labels: pd.Series
) -> None:
    columns = {name: numbers[name] if name in NUMERIC else categories[name] for name in FEATURES}
    table = pd.DataFrame({**columns, TARGET: labels})
    duplicated = table.duplicated(keep="first")
    count = int(duplicated.sum())
    share = count / result.rows if result.rows else 0.0
    result.checks["duplicates"] = {"count": count, "share": share}
    if count:
        first = int(np.flatnonzero(duplicated.to_numpy())[0])
        result.judge(
            "duplicates",
            None,
            share,
            result.thresholds.max_duplicate_share,
            f"{share_text(count, result.rows)} repeat an earlier row (first: row {first + 1})",
        )


def _label(value: Any) -> int | None:
    """The label as 0/1, or None when it is missing or not a label (``True``/``False``, a boolean, 0/1)."""
    try:
        return parse_target(value)
    except ValueError:
        return None


def _check_label(result: QualityResult, labels: pd.Series) -> None:
    values = labels.tolist()
    missing = sum(1 for v in values if v is None)
    positives = sum(1 for v in values if v == 1)
    present = len(values) - missing
    share = positives / present if present else 0.0
    result.checks["label"] = {"missing": missing, "positives": positives, "positive_share": share}
    t = result.thresholds
    if missing:
        result.failures.append(
            Issue(
                "label",
                TARGET,
                missing / result.rows,
                0.0,
                f"{TARGET}: {share_text(missing, result.rows)} without a label",
            )
        )
    if present and not t.min_positive_share <= share <= t.max_positive_share:
        result.failures.append(
            Issue(
                "label_balance",
                TARGET,
                share,
                t.min_positive_share if share < t.min_positive_share else t.max_positive_share,
                f"{TARGET}: {share:.2%} positives ({positives:,} of {present:,} labelled rows), outside "
                f"min_positive_share {t.min_positive_share:g} .. max_positive_share {t.max_positive_share:g}",
            )
        )


def _check_drift(
    result: QualityResult,
    current: tuple[Mapping[str, pd.Series], Mapping[str, pd.Series]],
    previous: tuple[Mapping[str, pd.Series], Mapping[str, pd.Series]],
    previous_rows: int,
) -> None:
    from ..drift.column_counts import categorical_counts, numeric_counts
    from ..drift.stattests import SCORES_FROM_COUNTS, STATTESTS, detected

    spec = STATTESTS[PSI]
    columns: dict[str, dict[str, Any]] = {}
    for name in FEATURES:
        kind_numeric = name in NUMERIC
        source, old = (current[0], previous[0]) if kind_numeric else (current[1], previous[1])
        counts = numeric_counts if kind_numeric else categorical_counts
        now, before = counts(source[name].to_numpy(), column=name), counts(old[name].to_numpy(), column=name)
        if now.n == 0 or before.n == 0:
            continue  # a column with no value is the missing-value check's failure
        score = SCORES_FROM_COUNTS[PSI](before, now, now.kind)
        columns[name] = {"psi": score, "drifted": detected(spec, score, spec.default_threshold)}
    drifted = [name for name, c in columns.items() if c["drifted"]]
    share = len(drifted) / len(columns) if columns else 0.0
    result.checks["drift"] = {
        "stattest": PSI,
        "threshold": spec.default_threshold,
        "previous_rows": previous_rows,
        "drifted_columns_share": share,
        "columns": columns,
    }
    for name in drifted:
        result.findings.append(
            Issue(
                "drift",
                name,
                columns[name]["psi"],
                spec.default_threshold,
                f"{name}: PSI {columns[name]['psi']:.3f} against the previous training data",
            )
        )
    limit = result.thresholds.max_drifted_columns_share
    if share > limit:
        result.failures.append(
            Issue(
                "drift",
                None,
                share,
                limit,
                f"{len(drifted)} of {len(columns)} columns drifted from the previous training data ({share:.0%}: "
                f"{', '.join(drifted[:EXAMPLES])}{'…' if len(drifted) > EXAMPLES else ''}) "
                f"(limit max_drifted_columns_share {limit:g})",
            )
        )
