"""The table printed at the end of a run: one row per stage (name, time, result, outcome; a long outcome wraps
onto the next lines under its column, whole words), then the run's outcome and where its artefacts are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from demo.text_width import wrap

OUTCOME_WIDTH = 100


def summary_lines(record: Mapping[str, Any], latest: str | None = None) -> list[str]:
    rows = [(s["name"], f"{s['seconds']:.1f}s", "ok" if s["ok"] else "FAILED", s["outcome"]) for s in record["stages"]]
    width = max((len(r[0]) for r in rows), default=10)
    indent = " " * (width + 2 + 7 + 2 + 6 + 2)
    lines = ["", f"{'stage':<{width}}  {'time':>7}  result  outcome", f"{'-' * width}  {'-' * 7}  ------  -------"]
    for name, seconds, ok, outcome in rows:
        first, *rest = wrap(outcome, OUTCOME_WIDTH)
        lines.append(f"{name:<{width}}  {seconds:>7}  {ok:<6}  {first}")
        lines += [indent + line for line in rest]
    traffic = record["traffic"]
    where = record["artefacts"]["folder"] + "/" + (f" ({latest})" if latest else "")
    lines.append(
        f"\n{record['status'].upper()} in {record['total_seconds']:.0f}s: {traffic['requests']} requests "
        f"({traffic['records']:,} records) served by {traffic['by_deployment']}; artefacts in {where}"
    )
    return lines


def print_summary(record: Mapping[str, Any], stream: TextIO, latest: str | None = None) -> None:
    """The table of ``record`` (``run.json``'s document); ``latest``: the pointer that names this run's folder."""
    for line in summary_lines(record, latest):
        print(line, file=stream)
