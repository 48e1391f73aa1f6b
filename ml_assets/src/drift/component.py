"""Drift component: compares the exported inference data of a model version with its training data and its
reference scores, and measures the window's data quality.

    python -m src.drift.component --reference_data DIR --target_data DIR --model_name NAME --model_version V \
        [--window_start ISO] [--window_end ISO] [--stattest NAME] [--threshold X] [--drift_share 0.5] \
        [--min_rows N] [--report_sample_rows 10000] [--prediction_reference DIR] [--quarantine_data DIR] \
        --report DIR --metrics DIR

Steps:

1. read the reference (``reference``: curated CSV/Parquet, the model's training data), the model version's
   reference scores (``prediction_drift``: the model folder's ``prediction_reference.json``), the export's
   quarantine of the window (``quarantine_files``) and, file by file, the exported Parquet of the window
   (``target_files`` picks the files), reduced to exact per-column counts, gaps, predictions per model version
   and a uniform sample (``target_summary``); a missing or mistyped column fails the run (exit 2) naming it;
2. data quality of the window (``data_quality``: missing values, values outside the reference's range, unknown
   categories, quarantined lines), from the same counts, on every run that got this far;
3. fewer than ``min_rows`` current rows (default: the ``DRIFT_MIN_ROWS`` setting, else 100): drift is skipped
   with a clear message, exit 0, ``metrics.json`` saying ``"status": "skipped"`` and why; only the data
   quality is sent;
4. per-feature verdicts equal to Evidently's ``DataDriftPreset`` on the full data (``verdicts``: exact
   counts instead of rows; see there why that is faithful), the dataset verdict (share of drifted features
   ``>= drift_share``), and prediction drift of each model version among the rows against its own reference
   scores (``prediction_drift``; a version without a reference or with too few rows is skipped with the reason);
5. ``metrics/metrics.json``; telemetry (``telemetry_batch``: traces + custom metrics, sent by ``telemetry`` to
   Application Insights, or the local telemetry file without a connection string), flushed before exit;
6. ``report/drift_report.html``: Evidently's report on samples showing the full-data results (``report``).

Exit codes: 0 done or skipped, 2 bad input (schema, arguments, no reference), 3 telemetry not delivered.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..contracts import drift_telemetry as telemetry
from ..contracts.data_quality_telemetry import DataQuality
from ..contracts.export_layout import PREDICTION
from ..contracts.feature_schema import CATEGORICAL_FEATURES, FEATURES
from . import arguments
from .column_counts import CATEGORICAL, NUMERICAL, Counts, DriftInputError, summarize_columns
from .data_quality import data_quality
from .feature_tables import SchemaError
from .metrics_file import RunStatus, metrics_document, run_identity, write_metrics
from .prediction_drift import (
    ReferenceScores,
    VersionPrediction,
    prediction_drift,
    run_reference_scores,
)
from .quarantine_files import QuarantineCount, count_quarantine
from .reference import load_reference
from .target_files import Selection, Window, parse_time, select_target_files
from .target_summary import TargetSummary, summarize_target
from .telemetry import emit
from .telemetry_batch import quality_batch, telemetry_batch
from .verdicts import ColumnDrift, DatasetDrift, dataset_drift

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("drift")

EXIT_OK: Final = 0
EXIT_BAD_INPUT: Final = 2
EXIT_TELEMETRY: Final = 3


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return arguments.parse_args(argv, description=__doc__.split("\n\n")[0])


def _fail(args: argparse.Namespace, window: Window, message: str, **extra: Any) -> int:
    log.error("%s", message)
    write_metrics(args.metrics, {**run_identity(args, window), "status": RunStatus.FAILED, "error": message, **extra})
    from .report import write_placeholder

    write_placeholder(args.report, "Drift run failed", [message])
    return EXIT_BAD_INPUT


def _skip(args: argparse.Namespace, window: Window, reason: str, inputs: RunInputs, quality: DataQuality) -> int:
    """Drift skipped (too few rows): ``metrics.json`` says why; the window's data quality is still sent."""
    log.warning("drift skipped, only the data quality is sent: %s", reason)
    metrics = {
        **run_identity(args, window),
        "status": RunStatus.SKIPPED,
        "reason": reason,
        "current_rows": inputs.target.rows,
        "min_rows": args.min_rows,
        "data_quality": _quality_document(inputs, quality),
    }
    write_metrics(args.metrics, metrics)
    exit_code = _deliver(
        args, metrics, lambda: quality_batch(args.model_name, args.model_version, quality, _run_context(args, window))
    )
    write_metrics(args.metrics, metrics)
    from .report import write_placeholder

    write_placeholder(args.report, "Drift run skipped", [reason, "Only the data-quality metrics were sent."])
    return exit_code


def _run_context(args: argparse.Namespace, window: Window) -> dict[str, str]:
    """The run id and window that are set, as telemetry context."""
    base = run_identity(args, window)
    return {k: str(base[k]) for k in ("run_id", "window_start", "window_end") if base[k]}


@dataclass(frozen=True)
class RunInputs:
    """The reference in full (training data: small) and its counts, the window's exported data reduced to counts,
    the model version's reference scores (or why there are none) and the window's quarantine."""

    reference: pa.Table
    reference_counts: dict[str, Counts]
    selection: Selection
    target: TargetSummary
    scores: ReferenceScores | None
    no_scores_reason: str
    quarantine: QuarantineCount


@dataclass(frozen=True)
class Verdicts:
    """The run's full-data verdicts, what became of each version's prediction drift, and the data quality."""

    result: DatasetDrift
    predictions: list[VersionPrediction]
    quality: DataQuality
    run_version: str

    @property
    def prediction(self) -> ColumnDrift | None:
        """The run's own version's prediction drift (None when skipped)."""
        own = (p.drift for p in self.predictions if p.model_version == self.run_version)
        return next((d for d in own if d is not None), None)

    @property
    def prediction_note(self) -> str:
        """What became of the run's own version's prediction drift, in words."""
        own = next((p for p in self.predictions if p.model_version == self.run_version), None)
        if own is not None:
            if own.drift is not None:
                return f"prediction drift of version {own.model_version} against its reference scores"
            return f"skipped: {own.reason}"
        if self.predictions:
            others = ", ".join(p.model_version for p in self.predictions)
            return f"skipped: no prediction of version {self.run_version} in the window (only of {others})"
        return "skipped: the exported data has no 'prediction' column"


def load_inputs(args: argparse.Namespace, window: Window) -> RunInputs:
    """Step 1: the reference and its counts, the reference scores, the quarantine, and the window's exported data
    file by file, reduced to exact per-column counts and a uniform sample for the report (memory stays bounded)."""
    reference = load_reference(args.reference_data)
    columns = [*FEATURES, *([PREDICTION] if PREDICTION in reference.column_names else [])]
    kinds = {c: (CATEGORICAL if c in CATEGORICAL_FEATURES else NUMERICAL) for c in columns}
    reference_counts = summarize_columns({c: (kinds[c], reference.column(c)) for c in columns}, keep_raw=True)
    model = f"{args.model_name}:{args.model_version}"
    scores, no_scores_reason = run_reference_scores(model, args.prediction_reference, reference_counts)
    quarantine = count_quarantine(args.quarantine_data, window)
    selection = select_target_files(args.target_data, args.model_name, str(args.model_version), window)
    target = summarize_target(
        selection.files, window, sample_rows=args.report_sample_rows, default_version=str(args.model_version)
    )
    log.info(
        "%s:%s window [%s, %s): %d reference rows, %d current rows from %d file(s) "
        "(%d outside the window, %d of other models/versions), %d quarantined line(s)",
        args.model_name,
        args.model_version,
        args.window_start or "-",
        args.window_end or "-",
        reference.num_rows,
        target.rows,
        len(selection.files),
        selection.skipped_outside_window,
        selection.skipped_other_model,
        quarantine.lines,
    )
    return RunInputs(reference, reference_counts, selection, target, scores, no_scores_reason, quarantine)


def measure_quality(inputs: RunInputs) -> DataQuality:
    """Step 2: the window's data quality, from the counts."""
    target = inputs.target
    return data_quality(inputs.reference_counts, target.counts, target.gaps, target.rows, inputs.quarantine)


def _quality_document(inputs: RunInputs, quality: DataQuality) -> dict[str, Any]:
    from .data_quality import reference_ranges

    return {
        **quality.as_dict(),
        "reference_ranges": reference_ranges(inputs.reference_counts),
        "quarantine": inputs.quarantine.as_dict(),
    }


def too_little_data(args: argparse.Namespace, rows: int) -> str | None:
    """Step 3: why drift is skipped (no or fewer than ``min_rows`` current rows), or None."""
    if rows == 0:
        return f"no exported inference data for {args.model_name}:{args.model_version} in the window"
    if rows < args.min_rows:
        return f"only {rows} inference rows in the window, fewer than min_rows={args.min_rows}"
    return None


def compute_verdicts(args: argparse.Namespace, inputs: RunInputs, quality: DataQuality) -> Verdicts:
    """Step 4: per-feature and dataset verdicts, and each model version's prediction drift."""
    target = inputs.target
    kinds = {f: (CATEGORICAL if f in CATEGORICAL_FEATURES else NUMERICAL) for f in FEATURES}
    result = dataset_drift(
        kinds,
        inputs.reference_counts,
        target.counts,
        stattest=args.stattest,
        threshold=args.threshold,
        drift_share=args.drift_share,
    )
    predictions = prediction_drift(
        str(args.model_version),
        inputs.scores,
        inputs.no_scores_reason,
        target.predictions_by_version,
        min_rows=args.min_rows,
        stattest=args.stattest,
        threshold=args.threshold,
    )
    log.info(
        "%d of %d features drifted (share %.3f, dataset drift %s, drift_share %.3g): %s",
        result.n_drifted,
        result.n_features,
        result.share_drifted,
        result.dataset_drift,
        result.drift_share,
        ", ".join(result.drifted_columns) or "none",
    )
    for item in predictions:
        if item.drift is not None:
            log.info(
                "prediction drift of version %s: %s %.4g (threshold %g, drift %s)",
                item.model_version,
                item.drift.stattest,
                item.drift.drift_score,
                item.drift.threshold,
                item.drift.drift_detected,
            )
        else:
            log.warning("prediction drift of version %s skipped: %s", item.model_version, item.reason)
    return Verdicts(result, predictions, quality, str(args.model_version))


def _deliver(args: argparse.Namespace, metrics: dict[str, Any], build: Callable[[], telemetry.TelemetryBatch]) -> int:
    """Build the batch and send it; ``metrics`` records where it went or why it did not. The exit code."""
    try:
        destination = emit(build(), resource_id=args.telemetry_resource)
    except Exception as exc:  # the metrics are written; the run must still show it failed to deliver them
        log.exception("telemetry was not delivered")
        metrics["telemetry_error"] = f"{type(exc).__name__}: {exc}"
        return EXIT_TELEMETRY
    log.info("telemetry sent to %s", destination)
    metrics["telemetry"] = destination
    return EXIT_OK


def send_telemetry(args: argparse.Namespace, window: Window, verdicts: Verdicts, metrics: dict[str, Any]) -> int:
    """Step 5b: deliver the telemetry; ``metrics`` records where it went or why it did not. The exit code."""
    return _deliver(
        args,
        metrics,
        lambda: telemetry_batch(
            args.model_name,
            args.model_version,
            verdicts.result,
            verdicts.predictions,
            quality=verdicts.quality,
            context=_run_context(args, window),
        ),
    )


def write_html_report(args: argparse.Namespace, inputs: RunInputs, verdicts: Verdicts, metrics: dict[str, Any]) -> None:
    """Step 6: the HTML report (on samples; the numbers are the full-data ones), and the prediction drift's
    against the model's reference scores in a report of its own; ``metrics`` records how it went."""
    from .report import table_sample, write_placeholder, write_prediction_report, write_report

    scored_reference = inputs.scores is not None and inputs.scores.in_reference_data
    title = f"{args.model_name}:{args.model_version}"
    try:
        reference_sample = table_sample(inputs.reference, args.report_sample_rows)
        current_sample = table_sample(inputs.target.sample, args.report_sample_rows)
        write_report(
            args.report,
            reference_sample=reference_sample,
            current_sample=current_sample,
            result=verdicts.result,
            prediction=verdicts.prediction if scored_reference else None,
            reference_rows=inputs.reference.num_rows,
            current_rows=inputs.target.rows,
            title=f"Data drift of {title}",
        )
        metrics["report_sample_rows"] = {"reference": len(reference_sample), "current": len(current_sample)}
        own = inputs.target.predictions_by_version.get(str(args.model_version))
        if verdicts.prediction is not None and not scored_reference and inputs.scores is not None and own:
            write_prediction_report(
                args.report,
                reference_scores=inputs.scores.counts.raw,
                current_scores=own.expand(),
                prediction=verdicts.prediction,
                title=f"Prediction drift of {title}",
                sample_rows=args.report_sample_rows,
            )
    except Exception as exc:  # the report is for people; the metrics and telemetry above are the contract
        log.exception("the HTML report could not be rendered")
        metrics["report_error"] = f"{type(exc).__name__}: {exc}"
        write_placeholder(args.report, "Drift report not rendered", [metrics["report_error"]])


def main(args: argparse.Namespace) -> int:
    """The run: the six steps of the module docstring, each ending it early when it must. The exit code."""
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
    quality = measure_quality(inputs)

    skip_reason = too_little_data(args, inputs.target.rows)
    if skip_reason is not None:
        return _skip(args, window, skip_reason, inputs, quality)

    try:
        verdicts = compute_verdicts(args, inputs, quality)
    except DriftInputError as exc:
        return _fail(args, window, str(exc), column=exc.column)
    timings["drift_s"] = time.perf_counter() - started

    metrics = metrics_document(args, window, inputs, verdicts, timings)
    metrics["data_quality"] = _quality_document(inputs, quality)
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
