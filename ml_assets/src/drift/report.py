"""The Evidently HTML report of a drift run.

Evidently's ``Report`` costs seconds per column on large data (plotly figures, three passes over every
column), so the report is rendered on random samples of the reference and current rows (``sample_rows``
each), while every score and verdict it shows is the full-data one computed by :mod:`.verdicts`: each
column gets a registered Evidently stat test that returns that precomputed result (display name "<test>
(full data)"). Distribution charts therefore come from the samples, the numbers and the dataset verdict from
all rows, and the report agrees with the metrics JSON and the telemetry. A banner at the top of the page says
so.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .column_counts import NUMERICAL
from .verdicts import ColumnDrift, DatasetDrift

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)

REPORT_FILE: Final = "drift_report.html"
PREDICTION_REPORT_FILE: Final = "prediction_drift_report.html"
_PREFIX: Final = "mlops_full_data__"


def _register_full_data_test(column: ColumnDrift) -> str:
    """A stat test named after the column that answers the full-data result (re-registered per run)."""
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if column.kind == NUMERICAL else ColumnType.Categorical
    name = f"{_PREFIX}{column.column}"
    test = StatTest(
        name=name,
        display_name=f"{column.stattest_name} (full data)",
        allowed_feature_types=[column_type],
        default_threshold=column.threshold,
    )
    score, verdict = column.drift_score, column.drift_detected

    def precomputed(reference: Any, current: Any, feature_type: Any, threshold: float) -> tuple[float, bool]:
        return score, verdict

    register_stattest(test, precomputed)
    return name


def table_sample(table: pa.Table, rows: int, seed: int = 0) -> pd.DataFrame:
    """A random sample of ``rows`` rows of an Arrow table (all of it when smaller) as pandas, categories as
    plain strings (what Evidently expects of categorical columns)."""
    import numpy as np
    import pandas as pd

    if table.num_rows > rows:
        indices = np.sort(np.random.default_rng(seed).choice(table.num_rows, size=rows, replace=False))
        table = table.take(indices)
    frame = table.to_pandas()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(object)
    return frame


def write_report(
    folder: Path,
    *,
    reference_sample: pd.DataFrame,
    current_sample: pd.DataFrame,
    result: DatasetDrift,
    prediction: ColumnDrift | None,
    reference_rows: int,
    current_rows: int,
    title: str,
) -> Path:
    """Render the report into ``folder``/drift_report.html and return its path."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    features = [c.column for c in result.columns]
    numeric = [c.column for c in result.columns if c.kind == NUMERICAL]
    categorical = [c.column for c in result.columns if c.kind != NUMERICAL]
    methods = {c.column: _register_full_data_test(c) for c in result.columns}
    thresholds = {c.column: c.threshold for c in result.columns}
    metrics: list[Any] = [
        DataDriftPreset(
            columns=features,
            drift_share=result.drift_share,
            per_column_method=methods,
            per_column_threshold=thresholds,
        )
    ]
    if prediction is not None:
        numeric = [*numeric, prediction.column]
        metrics.append(
            ValueDrift(
                column=prediction.column,
                method=_register_full_data_test(prediction),
                threshold=prediction.threshold,
            )
        )
    columns = [*features, *([prediction.column] if prediction is not None else [])]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report(metrics).run(
        current_data=Dataset.from_pandas(current_sample[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference_sample[columns], data_definition=definition),
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_FILE
    snapshot.save_html(str(path))
    _add_banner(
        path,
        f"{title}. Drift scores and verdicts: computed on all rows ({reference_rows:,} reference, "
        f"{current_rows:,} current) with Evidently's tests; they match metrics.json and the telemetry. "
        f"Charts: drawn from random samples of {len(reference_sample):,} reference and "
        f"{len(current_sample):,} current rows.",
    )
    return path


def write_prediction_report(
    folder: Path,
    *,
    reference_scores: Any,
    current_scores: Any,
    prediction: ColumnDrift,
    title: str,
    sample_rows: int,
) -> Path:
    """The prediction drift against the model's reference scores, in a report of its own (its reference is
    another data set than the features': the model's test split, not its training data)."""
    import numpy as np
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    rng = np.random.default_rng(0)

    def sample(values: Any) -> pd.DataFrame:
        array = np.asarray(values, dtype=np.float64)
        if array.size > sample_rows:
            array = array[np.sort(rng.choice(array.size, size=sample_rows, replace=False))]
        return pd.DataFrame({prediction.column: array})

    reference, current = sample(reference_scores), sample(current_scores)
    definition = DataDefinition(numerical_columns=[prediction.column])
    metric = ValueDrift(
        column=prediction.column, method=_register_full_data_test(prediction), threshold=prediction.threshold
    )
    snapshot = Report([metric]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PREDICTION_REPORT_FILE
    snapshot.save_html(str(path))
    _add_banner(
        path,
        f"{title}. Score and verdict: computed on all {prediction.reference_rows:,} reference scores (the model's "
        f"test split) and {prediction.current_rows:,} served predictions with Evidently's test; they match "
        f"metrics.json and the telemetry. Charts: drawn from random samples of {len(reference):,} and "
        f"{len(current):,}.",
    )
    return path


def _add_banner(path: Path, text: str) -> None:
    banner = (
        '<div style="font-family:sans-serif;padding:10px 16px;background:#fff8e1;border-bottom:1px solid #e0c060">'
        f"{html.escape(text)}</div>"
    )
    content = path.read_text(encoding="utf-8")
    index = content.find("<body")
    if index >= 0:
        close = content.find(">", index) + 1
        content = content[:close] + banner + content[close:]
    else:
        content = banner + content
    path.write_text(content, encoding="utf-8")


def write_placeholder(folder: Path, title: str, lines: Sequence[str]) -> Path:
    """A small HTML page instead of the report (run skipped, or the report could not be rendered)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_FILE
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        encoding="utf-8",
    )
    return path
