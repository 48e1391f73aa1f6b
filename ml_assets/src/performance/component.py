"""Model-performance component: the exported predictions of one model version in a window, joined with the
ground-truth labels known so far, scored.

    python -m src.performance.component --predictions DIR --labels DIR --model_name NAME --model_version V \
        [--window_start ISO] [--window_end ISO] [--labels_as_of ISO] [--threshold 0.5] [--min_coverage 0.2] \
        [--min_labelled 100] [--training_roc_auc X] --metrics DIR

Steps:

1. read the labels (``labels_files``: every CSV/Parquet file under ``--labels``; the one label per record that
   counts as of ``labels_as_of``, by the contract's rules, ``contracts/labels.py``);
2. join them with the window's predictions (``ground_truth_join``: by the record's key, ``record_id`` or
   ``<request_id>/<record_index>``);
3. too little ground truth (label coverage below ``min_coverage``, fewer than ``min_labelled`` labelled
   predictions, or only one class among the labels, where ROC AUC is undefined): ``metrics.json`` says
   ``"status": "skipped"`` and why, exit 0, nothing sent;
4. the figures (``figures``): ROC AUC, precision, recall, F1, Brier score, positive rates, coverage;
   ``metrics/metrics.json``; the ``ModelPerformanceMetrics`` trace and custom metrics
   (``contracts/performance_telemetry.py``) to Application Insights, or the local telemetry file without a
   connection string (``drift.telemetry.emit``: one delivery for all monitoring telemetry).

Exit codes: 0 done or skipped, 2 bad input (an unreadable labels file, a missing column, bad arguments),
3 telemetry not delivered.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from ..contracts import drift_telemetry
from ..contracts import performance_telemetry as telemetry
from ..contracts.telemetry_target import TELEMETRY_RESOURCE_INPUT
from ..drift.arguments import telemetry_resource_argument
from ..drift.feature_tables import SchemaError
from ..drift.metrics_file import RunStatus, run_identity, write_metrics
from ..drift.target_files import Window, parse_time
from ..drift.telemetry import emit
from .figures import performance
from .ground_truth_join import Joined, join_window
from .labels_files import LabelsError, LabelsRead, read_labels

log = logging.getLogger("performance")

EXIT_OK: Final = 0
EXIT_BAD_INPUT: Final = 2
EXIT_TELEMETRY: Final = 3


def _optional(text: str | None) -> str | None:
    return None if text is None or text.strip().lower() in ("", "none") else text.strip()


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1]")
    return value


def _threshold(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1)")
    return value


def _auc(text: str) -> float | None:
    if _optional(text) is None:
        return None
    value = float(text)
    if value == 0.0:
        return None  # the pipeline's "not set"
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a ROC AUC in (0, 1]")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="src.performance.component", description=__doc__.split("\n\n")[0])
    parser.add_argument("--predictions", type=Path, required=True, help="folder of exported Parquet")
    parser.add_argument("--labels", type=Path, required=True, help="folder (or file) of labels CSV/Parquet")
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model_version", required=True)
    parser.add_argument("--window_start", type=_optional, default=None, help="ISO-8601, inclusive")
    parser.add_argument("--window_end", type=_optional, default=None, help="ISO-8601, exclusive")
    parser.add_argument("--labels_as_of", type=_optional, default=None, help="ISO-8601; labels known later wait")
    parser.add_argument("--threshold", type=_threshold, default=0.5, help="decision threshold of the precision")
    parser.add_argument("--min_coverage", type=_fraction, default=0.2, help="least share of labelled predictions")
    parser.add_argument("--min_labelled", type=_non_negative_int, default=100, help="least labelled predictions")
    parser.add_argument("--training_roc_auc", type=_auc, default=None, help="the model's test AUC; 0: unknown")
    parser.add_argument(
        f"--{TELEMETRY_RESOURCE_INPUT}",
        type=telemetry_resource_argument,
        default=None,
        help="the Application Insights resource ID to send to; none: the workspace's",
    )
    parser.add_argument("--metrics", type=Path, required=True, help="output folder of metrics.json")
    return parser.parse_args(argv)


def _fail(args: argparse.Namespace, window: Window, message: str, **extra: Any) -> int:
    log.error("%s", message)
    write_metrics(args.metrics, {**run_identity(args, window), "status": RunStatus.FAILED, "error": message, **extra})
    return EXIT_BAD_INPUT


def too_little_ground_truth(args: argparse.Namespace, joined: Joined) -> str | None:
    """Why the figures would not be worth sending; None when they are."""
    total = len(joined.labels)
    labelled = joined.labels[joined.labels >= 0]
    if total == 0:
        return "no exported predictions in the window"
    coverage = len(labelled) / total
    if coverage < args.min_coverage:
        return f"label coverage {coverage:.3f} ({len(labelled)} of {total} predictions) is below {args.min_coverage:g}"
    if len(labelled) < args.min_labelled:
        return f"{len(labelled)} labelled predictions, fewer than {args.min_labelled}"
    if int(labelled.max()) == int(labelled.min()):
        return f"every label is {int(labelled[0])}: ROC AUC is undefined with one class"
    return None


def _reading(labels: LabelsRead, joined: Joined) -> dict[str, Any]:
    return {
        "labels": {
            "files": labels.files,
            "rows": labels.rows,
            "invalid_rows": labels.invalid_rows,
            "invalid_examples": labels.invalid_examples,
            "late_rows": labels.late_rows,
            "superseded_rows": labels.superseded_rows,
            "records_labelled": labels.table.num_rows,
            "unmatched_labels": joined.unmatched_labels,
        },
        "predictions": {
            "files": len(joined.selection.files),
            "rows": len(joined.labels),
            "duplicate_keys": joined.duplicate_keys,
        },
    }


def main(args: argparse.Namespace) -> int:
    """The run: the four steps of the module docstring. The exit code."""
    started = time.perf_counter()
    try:
        window = Window(parse_time(args.window_start, "window_start"), parse_time(args.window_end, "window_end"))
        as_of = parse_time(args.labels_as_of, "labels_as_of") or datetime.now(UTC)
    except ValueError as exc:
        return _fail(args, Window(), str(exc))
    if window.start and window.end and window.end <= window.start:
        return _fail(args, window, "window_end must be after window_start")
    identity = {**run_identity(args, window), "labels_as_of": as_of.isoformat()}

    try:
        labels = read_labels(args.labels, as_of)
        joined = join_window(args.predictions, args.model_name, str(args.model_version), window, labels)
    except (LabelsError, FileNotFoundError) as exc:
        return _fail(args, window, str(exc))
    except SchemaError as exc:
        return _fail(args, window, f"schema mismatch: {exc}", column=exc.column)
    reading = _reading(labels, joined)

    reason = too_little_ground_truth(args, joined)
    settings = {"min_coverage": args.min_coverage, "min_labelled": args.min_labelled, "threshold": args.threshold}
    if reason is not None:
        log.warning("skipped, no metrics sent: %s", reason)
        write_metrics(
            args.metrics, {**identity, "status": RunStatus.SKIPPED, "reason": reason, **reading, "settings": settings}
        )
        return EXIT_OK

    mask = joined.labels >= 0
    figures = performance(
        joined.predictions[mask],
        joined.labels[mask],
        threshold=args.threshold,
        n_predictions=len(joined.labels),
        training_roc_auc=args.training_roc_auc,
    )
    document = {
        **identity,
        "status": RunStatus.COMPLETED,
        "performance": figures.as_dict(),
        **reading,
        "settings": settings,
    }
    context = {k: str(identity[k]) for k in ("run_id", "window_start", "window_end", "labels_as_of") if identity[k]}
    batch = drift_telemetry.TelemetryBatch(
        messages=[telemetry.performance_message(args.model_name, str(args.model_version), figures)],  # type: ignore[list-item]
        metrics=telemetry.metric_points(args.model_name, str(args.model_version), figures),
        context=context,
    )
    exit_code = EXIT_OK
    try:
        document["telemetry"] = emit(batch, resource_id=args.telemetry_resource)
    except Exception as exc:  # metrics.json says what was computed and why it was not sent
        log.exception("telemetry not delivered")
        document["telemetry_error"] = f"{type(exc).__name__}: {exc}"
        exit_code = EXIT_TELEMETRY
    document["seconds"] = round(time.perf_counter() - started, 3)
    write_metrics(args.metrics, document)
    auc = figures.roc_auc
    log.info(
        "done in %.1f s: roc_auc %s on %d of %d predictions (coverage %.3f)",
        document["seconds"],
        f"{auc:.4f}" if math.isfinite(auc) else "n/a",
        figures.n_labelled,
        figures.n_predictions,
        figures.label_coverage,
    )
    return exit_code


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    sys.exit(main(parse_args()))
