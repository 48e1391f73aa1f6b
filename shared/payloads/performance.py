"""The body of ``POST /api/performance/jobs``: the drift body's fields and rules (``payloads/drift.py``), read
with the same parser, so both routes refuse the same input the same way::

    {"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-02T00:00:00Z", "model_version": "3"}

Every field is optional: no window means the scheduled one (the last ``PERFORMANCE_WINDOW`` up to the current
whole hour), no ``model_version`` the latest registered version.
"""

from __future__ import annotations

from shared.payloads.drift import DriftJobRequest, parse_drift_request

PerformanceJobRequest = DriftJobRequest


def parse_performance_request(body: bytes | None) -> PerformanceJobRequest:
    """The request of ``body`` (empty: all defaults). Raises PayloadError naming the field."""
    return parse_drift_request(body)
