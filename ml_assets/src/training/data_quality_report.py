"""The data-quality report: ``quality.json`` (written by the ``data_quality`` step, read by ``register``) and
``quality.html`` (the same, for a person).

``quality.json``::

    {"schema": "credit-default-data-quality/1", "status": "passed" | "failed", "rows": int,
     "thresholds": {<name>: share, ...},
     "failures": [{"check", "column", "figure", "limit", "message"}, ...],
     "findings": [{"check", "column", "figure", "limit", "message"}, ...],
     "checks": {"missing": {<feature>: share}, "impossible": {<feature>: {"count", "share", "example"}},
                "outside_training_range": {<feature>: count}, "unknown_categories": {<feature>: {"count", "values"}},
                "duplicates": {"count", "share"}, "label": {"missing", "positives", "positive_share"},
                "drift": null | {"stattest", "threshold", "previous_rows", "drifted_columns_share",
                                 "columns": {<feature>: {"psi", "drifted"}}}}}

``column`` is null for a check of the whole data set; ``limit`` is null for a finding that has none (counted only).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from .data_quality_checks import Issue, QualityResult

SCHEMA: Final = "credit-default-data-quality/1"
QUALITY_JSON: Final = "quality.json"
QUALITY_HTML: Final = "quality.html"
PASSED: Final = "passed"
FAILED: Final = "failed"
REPORT_KEYS: Final = ("schema", "status", "rows", "thresholds", "failures", "findings", "checks")
ISSUE_KEYS: Final = ("check", "column", "figure", "limit", "message")


class ReportError(ValueError):
    """A ``quality.json`` that cannot be read or does not follow the schema."""


def report_document(result: QualityResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "status": PASSED if result.passed else FAILED,
        "rows": result.rows,
        "thresholds": asdict(result.thresholds),
        "failures": [_issue(i) for i in result.failures],
        "findings": [_issue(i) for i in result.findings],
        "checks": _finite(result.checks),
    }


def write_report(result: QualityResult, folder: str | Path) -> dict[str, Any]:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    doc = report_document(result)
    (out / QUALITY_JSON).write_text(json.dumps(doc, indent=2, allow_nan=False))
    (out / QUALITY_HTML).write_text(render_html(doc))
    return doc


def read_report(folder: str | Path) -> dict[str, Any]:
    """``<folder>/quality.json``, checked against the schema. Raises ReportError naming the file."""
    path = Path(folder) / QUALITY_JSON
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read the data-quality report ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ReportError(f"{path}: not a data-quality report of schema {SCHEMA}")
    missing = [k for k in REPORT_KEYS if k not in doc]
    if missing or doc["status"] not in (PASSED, FAILED) or not isinstance(doc["findings"], list):
        raise ReportError(f"{path}: malformed data-quality report (missing {missing or 'a valid status or findings'})")
    return doc


def _issue(issue: Issue) -> dict[str, Any]:
    return {k: _finite(v) for k, v in asdict(issue).items()}


def _finite(value: Any) -> Any:
    """JSON values only: a float that is not finite (a PSI of an empty bin) becomes null."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    number = float(value)
    return number if math.isfinite(number) else None


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}"
    "table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
    ".failed{color:#a00}.passed{color:#070}"
)


def render_html(doc: dict[str, Any]) -> str:
    status = str(doc["status"])
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Training data quality: {status}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Training data quality: <span class='{status}'>{status}</span></h1>",
        f"<p>{doc['rows']:,} rows; {len(doc['failures'])} failure(s), {len(doc['findings'])} finding(s).</p>",
        _issue_table("Failures (the pipeline stops)", doc["failures"]),
        _issue_table("Findings (reported, not failed)", doc["findings"]),
        _pairs_table("Thresholds", doc["thresholds"]),
        _pairs_table("Label", doc["checks"]["label"]),
        _pairs_table("Duplicate rows", doc["checks"]["duplicates"]),
    ]
    drift = doc["checks"].get("drift")
    if drift:
        rows = {
            name: f"PSI {c['psi']}" + (" (drifted)" if c["drifted"] else "") for name, c in drift["columns"].items()
        }
        parts.append(_pairs_table(f"Drift from the previous training data ({drift['previous_rows']:,} rows)", rows))
    else:
        parts.append("<h2>Drift from the previous training data</h2><p>No previous training data given.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _issue_table(title: str, issues: list[dict[str, Any]]) -> str:
    if not issues:
        return f"<h2>{html.escape(title)}</h2><p>None.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(str(i['check']))}</td><td>{html.escape(str(i['column'] or '(all)'))}</td>"
        f"<td>{html.escape(str(i['message']))}</td></tr>"
        for i in issues
    )
    return f"<h2>{html.escape(title)}</h2><table><tr><th>check</th><th>column</th><th>what</th></tr>{rows}</table>"


def _pairs_table(title: str, pairs: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in pairs.items())
    return f"<h2>{html.escape(title)}</h2><table>{rows}</table>"


# --- what the registered model carries ------------------------------------------------------------------

REGISTRY_PROPERTY: Final = "data_quality"
PROPERTY_LIMIT: Final = 2000  # characters: the property stays short enough to read in the studio


def model_tags(doc: dict[str, Any]) -> dict[str, str]:
    """The headline figures as model tags: the verdict, the number of findings, the share of positives, the
    share of duplicate rows and, when there was previous data, the share of drifted columns."""
    checks = doc["checks"]
    drift = checks.get("drift")
    return {
        "data_quality": str(doc["status"]),
        "data_quality_findings": str(len(doc["findings"])),
        "data_quality_rows": str(doc["rows"]),
        "data_quality_positive_share": f"{checks['label']['positive_share']:.6f}",
        "data_quality_duplicate_share": f"{checks['duplicates']['share']:.6f}",
        "data_quality_drifted_columns_share": f"{drift['drifted_columns_share']:.6f}" if drift else "none",
    }


def model_property(doc: dict[str, Any]) -> str:
    """The report without the per-column figures, as compact JSON of at most :data:`PROPERTY_LIMIT` characters
    (findings beyond it are left out, and ``findings_left_out`` says how many): always valid JSON."""
    summary: dict[str, Any] = {k: doc[k] for k in ("schema", "status", "rows", "thresholds", "failures")}
    messages = [str(f["message"]) for f in doc["findings"]]
    for shown in range(len(messages), -1, -1):
        summary["findings"] = messages[:shown]
        summary["findings_left_out"] = len(messages) - shown
        text = json.dumps(summary, separators=(",", ":"), ensure_ascii=False)
        if len(text) <= PROPERTY_LIMIT:
            return text
    return text
