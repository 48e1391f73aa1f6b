"""The drift run's result document, ``metrics/metrics.json``: what the run came to (completed, skipped with the
reason, failed with the error and the column), who ran it on which window, and for a completed run every
verdict, each model version's prediction drift (or why it was skipped), the data quality, the settings they
were computed with and the run's timings. People and pipelines read it; the figures
agree with the telemetry and the HTML report.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import argparse

    from .component import RunInputs, Verdicts
    from .target_files import Window

METRICS_FILE: Final = "metrics.json"


class RunStatus(StrEnum):
    """``metrics.json``'s ``status``: what the run came to."""

    COMPLETED = "completed"
    SKIPPED = "skipped"  # too few rows in the window: no drift computed; only the data quality sent
    FAILED = "failed"  # bad input: the run exits 2


def write_metrics(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / METRICS_FILE
    path.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")
    return path


def run_identity(args: argparse.Namespace, window: Window) -> dict[str, Any]:
    return {
        "model_name": args.model_name,
        "model_version": str(args.model_version),
        "window_start": window.start.isoformat() if window.start else None,
        "window_end": window.end.isoformat() if window.end else None,
        "run_id": os.environ.get("AZUREML_RUN_ID") or os.environ.get("MLOPS_RUN_ID") or "",
        "computed_at": datetime.now(UTC).isoformat(),
    }


def metrics_document(
    args: argparse.Namespace, window: Window, inputs: RunInputs, verdicts: Verdicts, timings: dict[str, float]
) -> dict[str, Any]:
    """Step 4a: the content of ``metrics.json`` for a completed run."""
    result, prediction = verdicts.result, verdicts.prediction
    return {
        **run_identity(args, window),
        "status": RunStatus.COMPLETED,
        "reference_rows": inputs.reference.num_rows,
        "current_rows": inputs.target.rows,
        "files": len(inputs.selection.files),
        "settings": {
            "stattest": args.stattest,
            "threshold": args.threshold,
            "drift_share": args.drift_share,
            "min_rows": args.min_rows,
        },
        "n_features": result.n_features,
        "n_drifted_features": result.n_drifted,
        "share_drifted_features": result.share_drifted,
        "dataset_drift": result.dataset_drift,
        "drifted_features": result.drifted_columns,
        "features": [c.as_dict() for c in result.columns],
        "prediction_drift": prediction.as_dict() if prediction else None,
        "prediction_note": verdicts.prediction_note,
        "prediction_drift_by_version": [p.as_dict() for p in verdicts.predictions],
        "prediction_reference": inputs.scores.source if inputs.scores else None,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
