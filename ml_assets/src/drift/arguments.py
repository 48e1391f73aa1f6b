"""The drift component's arguments: names, defaults, and the checks a pipeline input cannot make itself.

A pipeline input cannot be left empty, so "none" (or empty) means "not set" for the optional text and path
inputs, and 0 means "the test's default" for the threshold.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from ..contracts.telemetry_target import TELEMETRY_RESOURCE_INPUT, parse_resource_id
from .stattests import STATTESTS

DEFAULT_MIN_ROWS: Final = 100


def _optional_path(text: str | None) -> Path | None:
    value = _optional(text)
    return None if value is None else Path(value)


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


def telemetry_resource_argument(text: str) -> str | None:
    """``--telemetry_resource`` of a monitoring component (the drift and the performance one)."""
    try:
        return parse_resource_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: Sequence[str] | None = None, *, description: str = "") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="src.drift.component", description=description)
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
        "--prediction_reference",
        type=_optional_path,
        default=None,
        help="the model version's folder (or its prediction_reference.json): the reference scores",
    )
    parser.add_argument(
        "--quarantine_data",
        type=_optional_path,
        default=None,
        help="the export's quarantine folder (date=/hour=/*.jsonl): the window's quarantined lines",
    )
    parser.add_argument(
        f"--{TELEMETRY_RESOURCE_INPUT}",
        type=telemetry_resource_argument,
        default=None,
        help="the Application Insights resource ID to send to; none: the workspace's",
    )
    parser.add_argument("--report", type=Path, required=True, help="output folder of the HTML report")
    parser.add_argument("--metrics", type=Path, required=True, help="output folder of metrics.json")
    args = parser.parse_args(argv)
    if args.stattest is not None and args.stattest not in STATTESTS:
        parser.error(f"--stattest: unknown test {args.stattest!r}; one of {', '.join(sorted(STATTESTS))}")
    if args.min_rows is None:
        args.min_rows = _default_min_rows()
    return args
