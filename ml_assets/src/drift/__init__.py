"""The data-drift component (``python -m src.drift.component``): its inputs (reference and exported data), the
exact Evidently-equivalent statistics, the HTML report and the delivery of its telemetry."""
