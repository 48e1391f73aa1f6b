"""Drift component: compares the exported inference data of a model version with its training data.

    python -m src.drift.component --reference_data DIR --target_data DIR --model_name NAME --model_version V \
        [--window_start ISO] [--window_end ISO] [--stattest NAME] [--threshold X] [--drift_share 0.5] \
        [--min_rows N] [--report_sample_rows 10000] --report DIR --metrics DIR

Steps:

1. read the reference (``reference``: curated CSV/Parquet, the model's training data) and, file by file, the
   exported Parquet of the window (``target_files`` picks the files), reduced to exact per-column counts and a
   uniform sample (``target_summary``); a missing or mistyped column fails the run (exit 2) naming the column;
2. fewer than ``min_rows`` current rows (default: the ``DRIFT_MIN_ROWS`` setting, else 100): the run ends
   with a clear message, exit 0, ``metrics.json`` saying ``"status": "skipped"`` and why, no telemetry;
3. per-feature verdicts equal to Evidently's ``DataDriftPreset`` on the full data (``verdicts``: exact
   counts instead of rows; see there why that is faithful), the dataset verdict (share of drifted features
   ``>= drift_share``), and drift of the ``prediction`` column when both the exported data and the
   reference have one (the training data normally has no predictions: then it is skipped with a note);
4. ``metrics/metrics.json``; telemetry (``telemetry_batch``: traces + custom metrics, sent by ``telemetry`` to
   Application Insights, or the local telemetry file without a connection string), flushed before exit;
5. ``report/drift_report.html``: Evidently's report on samples showing the full-data results (``report``).

Exit codes: 0 done or skipped, 2 bad input (schema, arguments, no reference), 3 telemetry not delivered.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..contracts import drift_telemetry as telemetry
from ..contracts.export_layout import PREDICTION
from ..contracts.feature_schema import CATEGORICAL_FEATURES, FEATURES
from .column_counts import CATEGORICAL, NUMERICAL, DriftInputError, summarize_columns
from .feature_tables import SchemaError
from .metrics_file import RunStatus, metrics_document, run_identity, write_metrics
from .reference import load_reference
from .stattests import STATTESTS
from .target_files import Selection, Window, parse_time, select_target_files
from .target_summary import TargetSummary, summarize_target
from .telemetry import emit
from .telemetry_batch import telemetry_batch
from .verdicts import ColumnDrift, DatasetDrift, column_drift, dataset_drift

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("drift")

DEFAULT_MIN_ROWS: Final = 100
EXIT_OK: Final = 0
EXIT_BAD_INPUT: Final = 2
EXIT_TELEMETRY: Final = 3


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def _threshold(text: str) -> float | None:
    """In (0, 1); empty, "none" or 0 mean "the test's default" (a pipeline input cannot be left empty)."""
    if _optional(text) is None:
        return None
    value = float(text)
    if value == 0.0:
        return None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1)")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _default_min_rows() -> int:
    raw = os.environ.get("DRIFT_MIN_ROWS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MIN_ROWS


def _optional(text: str | None) -> str | None:
    """None for an unset value: empty, or "none" (a pipeline input cannot be left empty)."""
    return None if text is None or text.strip().lower() in ("", "none") else text.strip()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="src.drift.component", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference_data", type=Path, required=True, help="curated CSV/Parquet (file or folder)")
    parser.add_argument("--target_data", type=Path, required=True, help="folder of exported Parquet")
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model_version", required=True)
    parser.add_argument("--window_start", type=_optional, default=None, help="ISO-8601, inclusive")
    parser.add_argument("--window_end", type=_optional, default=None, help="ISO-8601, exclusive")
    parser.add_argument("--stattest", type=_optional, default=None, help=f"one of {', '.join(sorted(STATTESTS))}")
    parser.add_argument(
        "--threshold", type=_threshold, default=None, help="per-feature threshold in (0, 1); 0: default"
    )
    parser.add_argument("--drift_share", type=_fraction, default=0.5, help="share of drifted features, in (0, 1]")
    parser.add_argument("--min_rows", type=_positive_int, default=None, help="default: DRIFT_MIN_ROWS or 100")
    parser.add_argument("--report_sample_rows", type=_positive_int, default=10_000)
    parser.add_argument(
        "--appinsights_connection_string",
        type=_optional,
        default=None,
        help=f"default: the {telemetry.CONNECTION_STRING_ENV} environment variable",
    )
    parser.add_argument("--report", type=Path, required=True, help="output folder of the HTML report")
    parser.add_argument("--metrics", type=Path, required=True, help="output folder of metrics.json")
    args = parser.parse_args(argv)
    if args.stattest is not None and args.stattest not in STATTESTS:
        parser.error(f"--stattest: unknown test {args.stattest!r}; one of {', '.join(sorted(STATTESTS))}")
    if args.min_rows is None:
        args.min_rows = _default_min_rows()
    return args


def _telemetry_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if getattr(args, "appinsights_connection_string", None):
        env[telemetry.CONNECTION_STRING_ENV] = args.appinsights_connection_string
    return env


def _fail(args: argparse.Namespace, window: Window, message: str, **extra: Any) -> int:
    log.error("%s", message)
    write_metrics(args.metrics, {**run_identity(args, window), "status": RunStatus.FAILED, "error": message, **extra})
    from .report import write_placeholder

    write_placeholder(args.report, "Drift run failed", [message])
    return EXIT_BAD_INPUT


def _skip(args: argparse.Namespace, window: Window, reason: str, rows: int) -> int:
    log.warning("skipped, no metrics sent: %s", reason)
    write_metrics(
        args.metrics,
        {
            **run_identity(args, window),
            "status": RunStatus.SKIPPED,
            "reason": reason,
            "current_rows": rows,
            "min_rows": args.min_rows,
        },
    )
    from .report import write_placeholder

    write_placeholder(args.report, "Drift run skipped", [reason, "No metrics were computed or sent."])
    return EXIT_OK


def _run_context(args: argparse.Namespace, window: Window) -> dict[str, str]:
    """The run id and window that are set, as telemetry context."""
    base = run_identity(args, window)
    return {k: str(base[k]) for k in ("run_id", "window_start", "window_end") if base[k]}


@dataclass(frozen=True)
class RunInputs:
    """The reference in full (training data: small) and the window's exported data, reduced to counts."""

    reference: pa.Table
    selection: Selection
    target: TargetSummary


@dataclass(frozen=True)
class Verdicts:
    """The run's full-data verdicts, and what became of prediction drift."""

    result: DatasetDrift
    prediction: ColumnDrift | None  # None when the reference or the exported data has no prediction
    prediction_note: str


def load_inputs(args: argparse.Namespace, window: Window) -> RunInputs:
    """Step 1: the reference, and the window's exported data file by file, reduced to exact per-column counts
    and a uniform sample for the report (memory stays bounded)."""
    reference = load_reference(args.reference_data)
    selection = select_target_files(args.target_data, args.model_name, str(args.model_version), window)
    target = summarize_target(selection.files, window, sample_rows=args.report_sample_rows)
    log.info(
        "%s:%s window [%s, %s): %d reference rows, %d current rows from %d file(s) "
        "(%d outside the window, %d of other models/versions)",
        args.model_name,
        args.model_version,
        args.window_start or "-",
        args.window_end or "-",
        reference.num_rows,
        target.rows,
        len(selection.files),
        selection.skipped_outside_window,
        selection.skipped_other_model,
    )
    return RunInputs(reference, selection, target)


def too_little_data(args: argparse.Namespace, rows: int) -> str | None:
    """Step 2: why the run is skipped (no or fewer than ``min_rows`` current rows), or None."""
    if rows == 0:
        return f"no exported inference data for {args.model_name}:{args.model_version} in the window"
    if rows < args.min_rows:
        return f"only {rows} inference rows in the window, fewer than min_rows={args.min_rows}"
    return None


def compute_verdicts(args: argparse.Namespace, inputs: RunInputs) -> Verdicts:
    """Step 3: per-feature and dataset verdicts, and prediction drift when both data sets have predictions."""
    reference, target = inputs.reference, inputs.target
    kinds = {f: (CATEGORICAL if f in CATEGORICAL_FEATURES else NUMERICAL) for f in FEATURES}
    has_prediction = target.has_prediction and PREDICTION in reference.column_names
    columns = [*FEATURES, *([PREDICTION] if has_prediction else [])]
    kinds_all = {**kinds, **({PREDICTION: NUMERICAL} if has_prediction else {})}
    reference_counts = summarize_columns({c: (kinds_all[c], reference.column(c)) for c in columns}, keep_raw=True)
    result = dataset_drift(
        kinds,
        reference_counts,
        target.counts,
        stattest=args.stattest,
        threshold=args.threshold,
        drift_share=args.drift_share,
    )
    prediction = (
        column_drift(
            PREDICTION,
            NUMERICAL,
            reference_counts[PREDICTION],
            target.counts[PREDICTION],
            stattest=args.stattest,
            threshold=args.threshold,
        )
        if has_prediction
        else None
    )
    if has_prediction:
        prediction_note = "prediction drift against the reference's prediction column"
    elif target.has_prediction:
        prediction_note = (
            "skipped: the reference data has no 'prediction' column (training data carries labels, not the "
            "model's predictions); pass a scored reference to get prediction drift"
        )
    else:
        prediction_note = "skipped: the exported data has no 'prediction' column"
    log.info(
        "%d of %d features drifted (share %.3f, dataset drift %s, drift_share %.3g): %s",
        result.n_drifted,
        result.n_features,
        result.share_drifted,
        result.dataset_drift,
        result.drift_share,
        ", ".join(result.drifted_columns) or "none",
    )
    return Verdicts(result, prediction, prediction_note)


def send_telemetry(args: argparse.Namespace, window: Window, verdicts: Verdicts, metrics: dict[str, Any]) -> int:
    """Step 4b: deliver the telemetry; ``metrics`` records where it went or why it did not. The exit code."""
    try:
        batch = telemetry_batch(
            args.model_name, args.model_version, verdicts.result, verdicts.prediction, _run_context(args, window)
        )
        destination = emit(batch, _telemetry_env(args))
    except Exception as exc:  # the metrics are written; the run must still show it failed to deliver them
        log.exception("telemetry was not delivered")
        metrics["telemetry_error"] = f"{type(exc).__name__}: {exc}"
        return EXIT_TELEMETRY
    log.info("telemetry sent to %s", destination)
    metrics["telemetry"] = destination
    return EXIT_OK


def write_html_report(args: argparse.Namespace, inputs: RunInputs, verdicts: Verdicts, metrics: dict[str, Any]) -> None:
    """Step 5: the HTML report (on samples; the numbers are the full-data ones); ``metrics`` records how it went."""
    from .report import table_sample, write_placeholder, write_report

    try:
        reference_sample = table_sample(inputs.reference, args.report_sample_rows)
        current_sample = table_sample(inputs.target.sample, args.report_sample_rows)
        write_report(
            args.report,
            reference_sample=reference_sample,
            current_sample=current_sample,
            result=verdicts.result,
            prediction=verdicts.prediction,
            reference_rows=inputs.reference.num_rows,
            current_rows=inputs.target.rows,
            title=f"Data drift of {args.model_name}:{args.model_version}",
        )
        metrics["report_sample_rows"] = {"reference": len(reference_sample), "current": len(current_sample)}
    except Exception as exc:  # the report is for people; the metrics and telemetry above are the contract
        log.exception("the HTML report could not be rendered")
        metrics["report_error"] = f"{type(exc).__name__}: {exc}"
        write_placeholder(args.report, "Drift report not rendered", [metrics["report_error"]])


def main(args: argparse.Namespace) -> int:
    """The run: the five steps of the module docstring, each ending it early when it must. The exit code."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        window = Window(parse_time(args.window_start, "window_start"), parse_time(args.window_end, "window_end"))
    except ValueError as exc:
        return _fail(args, Window(), str(exc))
    if window.start and window.end and window.end <= window.start:
        return _fail(args, window, "window_end must be after window_start")

    try:
        inputs = load_inputs(args, window)
    except (SchemaError, DriftInputError) as exc:
        return _fail(args, window, f"schema mismatch: {exc}", column=exc.column)
    except FileNotFoundError as exc:
        return _fail(args, window, str(exc))
    timings["load_s"] = time.perf_counter() - started

    skip_reason = too_little_data(args, inputs.target.rows)
    if skip_reason is not None:
        return _skip(args, window, skip_reason, inputs.target.rows)

    try:
        verdicts = compute_verdicts(args, inputs)
    except DriftInputError as exc:
        return _fail(args, window, str(exc), column=exc.column)
    timings["drift_s"] = time.perf_counter() - started

    metrics = metrics_document(args, window, inputs, verdicts, timings)
    write_metrics(args.metrics, metrics)
    exit_code = send_telemetry(args, window, verdicts, metrics)
    timings["telemetry_s"] = time.perf_counter() - started

    write_html_report(args, inputs, verdicts, metrics)
    timings["total_s"] = time.perf_counter() - started
    metrics["timings"] = {k: round(v, 3) for k, v in timings.items()}
    write_metrics(args.metrics, metrics)
    log.info("done in %.1f s (verdicts after %.1f s)", timings["total_s"], timings["drift_s"])
    return exit_code


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    sys.exit(main(parse_args()))
